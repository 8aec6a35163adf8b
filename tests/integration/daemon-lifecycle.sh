#!/bin/sh
# daemon-lifecycle.sh BUILDDIR: how neostrad starts, reloads and stops:
# --test-config and --version, sd_notify (READY, STATUS, RELOADING,
# STOPPING) to a datagram socket we own, SIGHUP with a good and a bad
# configuration, SIGTERM with a sign-in in flight, socket activation
# (systemd-socket-activate), a stale socket file, a second daemon on the
# same socket, no password or token in any log, and `make install`.
# Each case in daemon_lifecycle.py starts its own daemon (its PID is kept
# in $NEOSTRA_PIDS until reaped, so the cleanup here can stop it by PID).
# Ends with "daemon-lifecycle: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
# No __pycache__ in the source tree from importing varlink.py / itest.py.
export PYTHONDONTWRITEBYTECODE=1

nt_counts daemon-lifecycle "$here/daemon_lifecycle.py"

# Daemons the Python cases started and did not reap (the cases died):
# SIGTERM, then SIGKILL, by PID, and only if the PID is still a neostrad.
stop_case_daemons() {
        [ -n "$NT_TMP" ] && [ -s "$NT_TMP/case-pids" ] || return 0
        for p in $(cat "$NT_TMP/case-pids"); do
                grep -qs neostrad "/proc/$p/cmdline" || continue
                kill -TERM "$p" 2>/dev/null
                gone() { ! grep -qs neostrad "/proc/$1/cmdline"; }
                nt_wait_until 10 "neostrad (pid $p) to stop" gone "$p" || kill -KILL "$p" 2>/dev/null
        done
}

nt_tmpdir
# tests/lib.sh nt_trap, with the case daemons stopped first.
trap '_st=$?; trap - EXIT; stop_case_daemons; nt_cleanup; exit $_st' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The canary password goes to the cases in a file, never on a command
# line or in an environment.
(umask 077 && nt_canary_new >"$NT_TMP/canary") || { nt_fail "canary"; nt_finish; }
export NEOSTRA_CANARY_FILE="$NT_TMP/canary"
"$NT_PYTHON" "$here/daemon_lifecycle.py" users >"$NT_TMP/users.json" || { nt_fail "users file"; nt_finish; }
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad" NEOSTRA_TOP="$NT_TOP" NEOSTRA_BUILD="$NT_BUILD"

nt_run_cases test_config version sd_notify reload reload_while_inflight sigterm_inflight late_connect_while_stopping \
      socket_activation stale_socket not_a_socket second_daemon no_secrets_in_logs install

# The canary is nowhere but in the users file the mock reads (and the
# file that carries it): not in a daemon log, not in the mock's log.
leaks=$(nt_find_canary "$(cat "$NT_TMP/canary")" "$NT_TMP" |
        grep -v -x -e "$NT_TMP/canary" -e "$NT_TMP/users.json")
if [ -z "$leaks" ]; then nt_pass "canary password in no file under the test directory"
else nt_fail "canary password found in: $leaks"; fi

nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "mock API exits 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0 at SIGTERM"; fi
# Every daemon log the cases left: no sanitizer report.
if grep -rE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$NT_TMP" --include='*.log'; then
        nt_fail "sanitizer report in a daemon log"
else
        nt_pass "no sanitizer report in any daemon log"
fi
nt_finish
