#!/bin/sh
# daemon-api.sh BUILDDIR: neostrad against the sign-in API: HTTP keep-alive,
# redirects never followed, the answer size cap, an API that hangs up or
# hangs ([api] timeout = 2s), 429/Retry-After, the decision on every kind
# of answer (status codes, 200 with a refusal inside, ill-typed bodies),
# roles recorded without the token, http:// only to loopback.
# Daemon "api" talks to tests/mock_api.py; daemon "fake" to itest.py's
# fake-api, which sends the headers the mock cannot (Location,
# Retry-After).  The cases are in daemon_api.py.  Ends with
# "daemon-api: N passed, N failed[, N skipped]".
set -u
name=daemon-api
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
# No __pycache__ in the source tree from importing varlink.py / itest.py.
export PYTHONDONTWRITEBYTECODE=1

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
        s=
        [ "$skipped" -gt 0 ] && s=", $skipped skipped"
        echo "$name: $passed passed, $failed failed$s"
        [ "$failed" -eq 0 ]
        exit
}
# run_cases NAME...: one Python case each; 0 passed, 77 skipped, else failed.
run_cases() {
        for c in "$@"; do
                "$NT_PYTHON" "$here/daemon_api.py" "$c"
                case $? in
                0) passed=$((passed + 1)) ;;
                77) skipped=$((skipped + 1)) ;;
                *) failed=$((failed + 1)) ;;
                esac
        done
}

nt_tmpdir
nt_trap

"$NT_PYTHON" "$here/daemon_api.py" users >"$NT_TMP/users.json" || { fail "users file"; finish; }
nt_mock_start "$NT_TMP/users.json" || { fail "mock API start"; finish; }

# The fake API (stopped by PID with everything else).
"$NT_PYTHON" "$here/itest.py" fake-api --port-file "$NT_TMP/fake.port" >>"$NT_LOGS/fake-api.log" 2>&1 &
_nt_track $! fake-api
nt_wait_until 10 "the fake API's port file" test -s "$NT_TMP/fake.port" || { fail "fake API start"; finish; }
fake_port=$(cat "$NT_TMP/fake.port")

daemon_conf() { # NAME PORT
        {
                printf '[api]\nurl = http://127.0.0.1:%s\ntimeout = 2s\nconnect_timeout = 1s\n\n' "$2"
                printf '[users]\nemail_template = %%u@example.com\n\n'
                nt_daemon_config "$1"
        } >"$NT_TMP/$1.conf"
}
daemon_conf api "$NT_MOCK_HTTP_PORT"
daemon_conf fake "$fake_port"
nt_daemon_start api || { fail "neostrad (api) start"; finish; }
nt_daemon_start fake || { fail "neostrad (fake) start"; finish; }
fake_daemon_pid=$NT_LAST_PID

export NEOSTRA_SOCK="$(nt_socket_path api)" NEOSTRA_SOCK2="$(nt_socket_path fake)"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_FAKE_URL="http://127.0.0.1:$fake_port"
export NEOSTRA_DAEMON_LOG="$NT_LOGS/api.log" NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad"

run_cases keepalive request_shape redirect_status redirect_location retry_after \
      status_codes body_cap mode_close mode_hang slow_but_in_time inner_status \
      ill_typed_answers roles_recorded refusal_drops_token test_config_urls

# An API nobody listens on: point the "fake" daemon at a free port (SIGHUP).
daemon_conf fake "$(nt_free_port)"
kill -HUP "$fake_daemon_pid"
reloaded() { grep -q "configuration reloaded" "$NT_LOGS/fake.log"; }
if nt_wait_until 5 "the fake daemon to reload" reloaded; then
        run_cases unreachable
else
        fail "reload of the fake daemon"
fi

# Every process exits 0 at SIGTERM (under ASan: the leak check passed) and
# no daemon log has a sanitizer report.
nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then pass "daemons, mock and fake API exit 0 at SIGTERM"
else fail "$NT_STOP_FAILED process(es) did not exit 0 at SIGTERM"; fi
if grep -E 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$NT_LOGS/api.log" "$NT_LOGS/fake.log"; then
        fail "sanitizer report in a daemon log"
else
        pass "no sanitizer report"
fi
if [ "$failed" -ne 0 ]; then
        for l in api fake; do echo "---- $NT_LOGS/$l.log (tail)"; tail -n 25 "$NT_LOGS/$l.log"; done
fi
finish
