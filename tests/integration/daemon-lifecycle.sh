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

nt_tmpdir
nt_trap

# The canary password goes to the cases in a file, never on a command
# line or in an environment.
(umask 077 && nt_canary_new >"$NT_TMP/canary") || { nt_fail "canary"; nt_finish; }
export NEOSTRA_CANARY_FILE="$NT_TMP/canary"
"$NT_PYTHON" "$here/daemon_lifecycle.py" users >"$NT_TMP/users.json" || { nt_fail "users file"; nt_finish; }
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad" NEOSTRA_TOP="$NT_TOP" NEOSTRA_BUILD="$NT_BUILD"

nt_run_cases test_config unconfigured not_dumpable version sd_notify watchdog thread_priorities reload reload_while_inflight sigterm_inflight late_connect_while_stopping \
      socket_activation stale_socket not_a_socket second_daemon no_secrets_in_logs install

# The canary is nowhere but in the users file the mock reads (and the
# file that carries it): not in a daemon log, not in the mock's log.
leaks=$(nt_find_canary "$(cat "$NT_TMP/canary")" "$NT_TMP" |
        grep -v -x -e "$NT_TMP/canary" -e "$NT_TMP/users.json")
if [ -z "$leaks" ]; then nt_pass "canary password in no file under the test directory"
else nt_fail "canary password found in: $leaks"; fi

nt_end_checks
nt_finish
