#!/bin/sh
# offline.sh BUILDDIR: logins through an API outage (README, "When the API
# is down or slow"), through the real daemon over its socket and, for what
# the user sees, through pam_neostra.so with tests/pamcheck:
#   - offline within and past offline_max_age (the module's info message
#     says the login was checked offline, and until when);
#   - offline wrong passwords counted, the max_failures lock, unlocked by
#     the next online success;
#   - a 401 online to the verifier's own password removes it at once; a
#     guesser's wrong password (401) leaves it, also after a restart;
#   - a slow API answered from the verifier at offline_after, the online
#     call finishing in the background; a wrong password waits for the API;
#   - backoff: connection refused three times → offline, logins with a
#     verifier no longer wait, logins without one are sent anyway (the
#     probe): the first one after the API returns succeeds and brings the
#     daemon back online; without logins the probes do;
#   - a 503 with Retry-After → offline at once, no probe before it; a 429
#     with Retry-After holds back its user only (answered from the cache
#     or refused, without the API), 429s of 3 different users → offline;
#   - restart persistence (roles, verifier, failure counter);
#   - an offline login right after an online success whose verifier is
#     still queued behind 120 others waits for it and gets in;
#   - a verifier that cannot be read from the cache: no offline login;
#   - cached_auth_timeout, and neostractl invalidate forcing the next login
#     online; the old password not taken from the cache right after a
#     change upstream;
#   - the canary password (every account's) in no file under the test
#     directory, the SQLite cache files included.
# Short durations: [api] timeout 2s, connect_timeout 1s; [cache]
# offline_max_age 3s, offline_after 1s, max_failures 2 (the slow-API case:
# timeout 8s; the cached case: cached_auth_timeout 5s).  Each case in
# offline_cases.py starts its own neostrad (and, for the backoff case, its
# own mock API); their PIDs are kept in $NT_TMP/case-pids until reaped.
# Ends with "offline: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
# No __pycache__ in the source tree from importing varlink.py / itest.py.
export PYTHONDONTWRITEBYTECODE=1

nt_counts offline "$here/offline_cases.py"

nt_tmpdir
nt_trap

for p in "$NT_BUILD/neostrad" "$NT_BUILD/neostractl" "$NT_BUILD/pam_neostra.so" "$NT_BUILD/tests/pamcheck"; do
        [ -e "$p" ] || { nt_fail "$p is missing (make tests-build)"; nt_finish; }
done

# The canary password goes to the cases in a file, never on a command
# line or in an environment.
umask 077
nt_canary_new >"$NT_TMP/canary" || { nt_fail "canary"; nt_finish; }
export NEOSTRA_CANARY_FILE="$NT_TMP/canary"
"$NT_PYTHON" "$here/offline_cases.py" users >"$NT_TMP/users.json" || { nt_fail "users file"; nt_finish; }
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

# The fake API of itest.py: it sends Retry-After (the mock cannot).
"$NT_PYTHON" "$here/itest.py" fake-api --port-file "$NT_TMP/fake.port" >>"$NT_LOGS/fake-api.log" 2>&1 &
_nt_track $! fake-api
nt_wait_until 10 "the fake API's port file" test -s "$NT_TMP/fake.port" || { nt_fail "fake API start"; nt_finish; }

export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids"
export NEOSTRA_USERS_FILE="$NT_TMP/users.json"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_FAKE_URL="http://127.0.0.1:$(cat "$NT_TMP/fake.port")"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad" NEOSTRA_TOP="$NT_TOP" NEOSTRA_BUILD="$NT_BUILD"

nt_run_cases offline_max_age offline_lock refusal_drops_verifier guesser_keeps_verifier slow_api backoff retry_after user_backoff \
      restart_persistence cached_auth password_change verifier_kept verifier_unreadable verifier_queued \
      cache_write_batch

# ---- the canary -------------------------------------------------------------

# The scan must have had cache files to look at, with something in them.
dbs=$(find "$NT_TMP" -name neostrad.db -type f | wc -l)
if [ "$dbs" -ge 9 ] && grep -rlqa --include='neostrad.db*' 'basic@example.com' "$NT_TMP"; then
        nt_pass "the cache files are there to be scanned ($dbs neostrad.db, the users' emails in them)"
else
        nt_fail "expected a neostrad.db per case holding the emails (found $dbs)"
fi
leaks=$(nt_find_canary "$(cat "$NT_TMP/canary")" "$NT_TMP" |
        grep -v -x -e "$NT_TMP/canary" -e "$NT_TMP/users.json")
if [ -z "$leaks" ]; then
        nt_pass "canary password in no file under the test directory (cache files, logs included)"
else
        nt_fail "canary password found in: $leaks"
fi

nt_end_checks
nt_finish
