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
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
# No __pycache__ in the source tree from importing varlink.py / itest.py.
export PYTHONDONTWRITEBYTECODE=1

nt_counts daemon-api "$here/daemon_api.py"

nt_tmpdir
nt_trap

"$NT_PYTHON" "$here/daemon_api.py" users >"$NT_TMP/users.json" || { nt_fail "users file"; nt_finish; }
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

# The fake API (stopped by PID with everything else).
"$NT_PYTHON" "$here/itest.py" fake-api --port-file "$NT_TMP/fake.port" >>"$NT_LOGS/fake-api.log" 2>&1 &
_nt_track $! fake-api
nt_wait_until 10 "the fake API's port file" test -s "$NT_TMP/fake.port" || { nt_fail "fake API start"; nt_finish; }
fake_port=$(cat "$NT_TMP/fake.port")

daemon_conf() { # NAME PORT
        {
                printf '[api]\nurl = http://127.0.0.1:%s\ntimeout = 2s\nconnect_timeout = 1s\n\n' "$2"
                printf '[users]\nemail_template = %%u@example.com\n\n'
                # These cases are about the API's answers, not offline
                # logins from cached credentials (tests/integration/offline.sh).
                nt_daemon_config "$1" | sed 's/^directory = .*/&\noffline = no/'
        } >"$NT_TMP/$1.conf"
}
daemon_conf api "$NT_MOCK_HTTP_PORT"
daemon_conf fake "$fake_port"
nt_daemon_start api || { nt_fail "neostrad (api) start"; nt_finish; }
nt_daemon_start fake || { nt_fail "neostrad (fake) start"; nt_finish; }
fake_daemon_pid=$NT_LAST_PID

export NEOSTRA_SOCK="$(nt_socket_path api)" NEOSTRA_SOCK2="$(nt_socket_path fake)"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_FAKE_URL="http://127.0.0.1:$fake_port"
export NEOSTRA_DAEMON_LOG="$NT_LOGS/api.log" NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad"

nt_run_cases keepalive request_shape redirect_status redirect_location retry_after \
      status_codes body_cap mode_close mode_hang slow_but_in_time inner_status \
      ill_typed_answers roles_recorded refusal_drops_token test_config_urls

# An API nobody listens on: point the "fake" daemon at a free port (SIGHUP).
daemon_conf fake "$(nt_free_port)"
kill -HUP "$fake_daemon_pid"
reloaded() { grep -q "configuration reloaded" "$NT_LOGS/fake.log"; }
if nt_wait_until 5 "the fake daemon to reload" reloaded; then
        nt_run_cases unreachable
else
        nt_fail "reload of the fake daemon"
fi

# Every process exits 0 at SIGTERM (under ASan: the leak check passed) and
# no daemon log has a sanitizer report.
nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "daemons, mock and fake API exit 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0 at SIGTERM"; fi
if grep -E 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$NT_LOGS/api.log" "$NT_LOGS/fake.log"; then
        nt_fail "sanitizer report in a daemon log"
else
        nt_pass "no sanitizer report"
fi
if [ "$NT_FAILED" -ne 0 ]; then
        for l in api fake; do echo "---- $NT_LOGS/$l.log (tail)"; tail -n 25 "$NT_LOGS/$l.log"; done
fi
nt_finish
