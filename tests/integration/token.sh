#!/bin/sh
# token.sh BUILDDIR: GetToken and the token refresh through [api]
# refresh_path against the mock API, which issues one-time refresh tokens
# and answers refreshes in the sign-in answer's shape; the background
# re-validation (a refresh with the user is an online proof, a refused one
# ends the access).  The cases are in token_cases.py.  Ends with
# "token: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts token "$here/token_cases.py"
nt_tmpdir
nt_trap

cat >"$NT_TMP/users.json" <<'JSON'
{"users": {
  "long@example.com":    {"password": "long-pw", "roles": ["dev"]},
  "short@example.com":   {"password": "short-pw", "roles": ["dev"], "expires_in": 30},
  "expired@example.com": {"password": "expired-pw", "roles": ["dev"], "expires_in": 1},
  "bg@example.com":      {"password": "bg-pw", "roles": ["dev"], "expires_in": 4},
  "bgrevoked@example.com": {"password": "bgrevoked-pw", "roles": ["dev"], "expires_in": 4,
                            "refresh_status": 401}
}}
JSON
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
{
        printf '[api]\nurl = http://127.0.0.1:%s\ntimeout = 2s\nconnect_timeout = 1s\n' "$NT_MOCK_HTTP_PORT"
        printf 'refresh_path = /api/v1/auth/refresh\n\n'
        printf '[users]\nemail_template = %%u@example.com\n\n'
        nt_daemon_config tok
} >"$NT_TMP/tok.conf"
nt_daemon_start tok || { nt_fail "neostrad start"; nt_finish; }

export NEOSTRA_SOCK="$(nt_socket_path tok)" NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_DAEMON_LOG="$NT_LOGS/tok.log"
# token_from_the_cache starts (and restarts) a daemon of its own; its PID
# is kept in $NT_TMP/case-pids until reaped.
export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad" NEOSTRA_TOP="$NT_TOP" NEOSTRA_BUILD="$NT_BUILD"
nt_run_cases fresh_token_not_refreshed near_expiry_refreshed refresh_confirms_user refused_refresh_ends_access \
        expired_token api_down_during_refresh token_from_the_cache background_revalidation unknown_user

if grep -qE "eyJ|AddressSanitizer|runtime error" "$NT_LOGS/tok.log"; then
        nt_fail "a token or a sanitizer report in the daemon log"
else
        nt_pass "no token and no sanitizer report in the daemon log"
fi
nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "daemon and mock exit 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0"; fi
nt_finish
