#!/bin/sh
# No API token left in the running daemon's memory: the token, refresh
# token and verifier of a user live in the SQLite cache only and are read
# from it when used (users.h).  Log in twice (two tokens, the second
# replacing the first), hand the token out with GetToken, let the
# verifier be made, then take a core image of neostrad with gcore and
# search it for both tokens.  As controls, the image holds the user's
# email, and the cache file holds the current token.
#
# The mock's tokens are JWT-shaped, ~250 bytes with 32 random bytes at the
# end: long enough for core_search.py's windows past the first 16 bytes.
# (Checked by hand: the build before this test, which kept the token in
# the user's record, fails it.)
#
#   tests/integration/token-memory.sh BUILDDIR
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
nt_init "$top" "${1:?usage: token-memory.sh BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts token-memory
nt_tmpdir
nt_trap

# Under AddressSanitizer gcore cannot image the daemon (see memory-canary.sh).
if ldd "$NT_BUILD/neostrad" 2>/dev/null | grep -q libasan; then
        echo "skipped: the ASan build cannot be imaged by gcore; the plain build runs this test"
        NT_SKIPPED=1
        nt_finish
fi
command -v gcore >/dev/null 2>&1 || { nt_fail "gcore (gdb) is missing: run make deps"; nt_finish; }

umask 077
printf '{"users":{"tina@example.com":{"password":"tina-password","roles":["dev"]}}}\n' >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
{
        printf '[api]\nurl = http://127.0.0.1:%s\n\n' "$NT_MOCK_HTTP_PORT"
        printf '[users]\nemail_template = %%u@example.com\n\n'
        nt_daemon_config tm
} >"$NT_TMP/tm.conf"
nt_daemon_start tm || { nt_fail "neostrad start"; nt_finish; }
pid=$NT_LAST_PID

# Two logins and a GetToken after each; the tokens go to files (0600),
# never on a command line.
if NEOSTRA_SOCK="$(nt_socket_path tm)" "$NT_PYTHON" - "$NT_TMP" "$top/tests/integration" <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[2])
import itest
for n in (1, 2):
    reply = itest.authenticate("tina", "tina-password")
    itest.expect("error" not in reply, "login %d: %r" % (n, reply))
    token = itest.call("GetToken", {"user": "tina"})["parameters"]["token"]
    with open(os.path.join(sys.argv[1], "token%d" % n), "w") as f:
        f.write(token + "\n")
    itest.poll(lambda: itest.call("GetUser", {"user": "tina"})["parameters"]["hasVerifier"], 20,
               what="the verifier of login %d" % n)
itest.wait_idle()
# Secrets written stay in SQLite's memory about a second (manager.c SCRUB_DELAY_USEC).
time.sleep(2)
EOF
then
        nt_pass "two logins, GetToken after each, verifiers made"
else
        nt_fail "logins or GetToken failed"
fi
if [ -s "$NT_TMP/token1" ] && [ -s "$NT_TMP/token2" ] && ! cmp -s "$NT_TMP/token1" "$NT_TMP/token2"; then
        nt_pass "each login brought its own token"
else
        nt_fail "no two distinct tokens to look for"
fi

core=$NT_TMP/core
gcore -o "$core" "$pid" >>"$NT_LOGS/gcore.log" 2>&1
core=$core.$pid
if [ -s "$core" ]; then nt_pass "gcore took a core image of neostrad"; else nt_fail "gcore: no image"; fi
if grep -qaF tina@example.com "$core"; then
        nt_pass "the image holds the user's email (control: it is searchable)"
else
        nt_fail "the user's email is not in the image"
fi
for n in 1 2; do
        "$NT_PYTHON" "$top/tests/integration/core_search.py" "$core" <"$NT_TMP/token$n" >>"$NT_LOGS/core-search.log" 2>&1
        case $? in
        0) nt_pass "token of login $n nowhere in neostrad's memory" ;;
        1) nt_fail "token of login $n found in neostrad's memory ($(tail -n 1 "$NT_LOGS/core-search.log"))" ;;
        *) nt_fail "core_search.py could not search for token $n" ;;
        esac
done
[ "${NT_KEEP:-0}" = 1 ] || rm -f "$core"

nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "daemon and mock exit 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0"; fi
# Stopped: the file may be read now.  The current token is where it lives.
if grep -qaF "$(cat "$NT_TMP/token2")" "$NT_TMP/cache-tm/neostrad.db" "$NT_TMP/cache-tm/neostrad.db-wal" 2>/dev/null; then
        nt_pass "the cache holds the current token (control)"
else
        nt_fail "the current token is not in the cache"
fi
nt_finish
