#!/bin/sh
# No API token left in the running daemon's memory: the token, refresh
# token and verifier of a user live in the SQLite cache only and are read
# from it when used (users.h).  Log in twice (two tokens, the second
# replacing the first), hand the token out with GetToken, let the
# verifier be made, then take a core image of neostrad with gcore and
# search it for both tokens; over HTTP and over HTTPS.  As controls, the
# image holds the user's email, and the cache file holds the current token.
# (Checked by hand: the build before OpenSSL's allocator wiped its blocks
# fails the HTTPS half.)
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
nt_gen_certs "$NT_TMP/certs" || { nt_fail "certificates"; nt_finish; }
printf '{"users":{"tina@example.com":{"password":"tina-password","roles":["dev"]}}}\n' >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" "$NT_TMP/certs" || { nt_fail "mock API start"; nt_finish; }

# scheme D URL: one daemon (tm-D) against the mock at URL, two logins, the
# core image searched.
scheme() {
        _d=$1
        {
                printf '[api]\nurl = %s\nca_file = %s\n\n' "$2" "$NT_TMP/certs/ca.pem"
                printf '[users]\nemail_template = %%u@example.com\n\n'
                nt_daemon_config "tm-$_d"
        } >"$NT_TMP/tm-$_d.conf"
        nt_daemon_start "tm-$_d" || { nt_fail "$_d: neostrad start"; return; }
        _pid=$NT_LAST_PID

        # Two logins and a GetToken after each; the tokens go to files
        # (0600), never on a command line.
        if NEOSTRA_SOCK="$(nt_socket_path "tm-$_d")" "$NT_PYTHON" - "$NT_TMP/$_d" "$top/tests/integration" <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[2])
import itest
for n in (1, 2):
    reply = itest.authenticate("tina", "tina-password")
    itest.expect("error" not in reply, "login %d: %r" % (n, reply))
    token = itest.call("GetToken", {"user": "tina"})["parameters"]["token"]
    with open(sys.argv[1] + "-token%d" % n, "w") as f:
        f.write(token + "\n")
    itest.poll(lambda: itest.call("GetUser", {"user": "tina"})["parameters"]["hasVerifier"], 20,
               what="the verifier of login %d" % n)
itest.wait_idle()
# Secrets written stay in SQLite's memory about a second (writeback.c SCRUB_DELAY_USEC).
time.sleep(2)
EOF
        then
                nt_pass "$_d: two logins, GetToken after each, verifiers made"
        else
                nt_fail "$_d: logins or GetToken failed"
        fi
        if [ -s "$NT_TMP/$_d-token1" ] && [ -s "$NT_TMP/$_d-token2" ] &&
           ! cmp -s "$NT_TMP/$_d-token1" "$NT_TMP/$_d-token2"; then
                nt_pass "$_d: each login brought its own token"
        else
                nt_fail "$_d: no two distinct tokens to look for"
        fi

        _core=$NT_TMP/core-$_d
        gcore -o "$_core" "$_pid" >>"$NT_LOGS/gcore.log" 2>&1
        _core=$_core.$_pid
        if [ -s "$_core" ]; then nt_pass "$_d: gcore took a core image of neostrad"; else nt_fail "$_d: gcore: no image"; fi
        if grep -qaF tina@example.com "$_core"; then
                nt_pass "$_d: the image holds the user's email (control: it is searchable)"
        else
                nt_fail "$_d: the user's email is not in the image"
        fi
        for _n in 1 2; do
                "$NT_PYTHON" "$top/tests/integration/core_search.py" "$_core" <"$NT_TMP/$_d-token$_n" \
                        >>"$NT_LOGS/core-search.log" 2>&1
                case $? in
                0) nt_pass "$_d: token of login $_n nowhere in neostrad's memory" ;;
                1) nt_fail "$_d: token of login $_n found in neostrad's memory ($(tail -n 1 "$NT_LOGS/core-search.log"))" ;;
                *) nt_fail "$_d: core_search.py could not search for token $_n" ;;
                esac
        done
        [ "${NT_KEEP:-0}" = 1 ] || rm -f "$_core"
}

scheme http "http://127.0.0.1:$NT_MOCK_HTTP_PORT"
# Over TLS the answer is decrypted in OpenSSL's record buffers (alloc.c).
scheme https "https://localhost:$NT_MOCK_HTTPS_PORT"

nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "daemons and mock exit 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0"; fi
# Stopped: the files may be read now.  The current token is where it lives.
for d in http https; do
        if grep -qaF "$(cat "$NT_TMP/$d-token2")" "$NT_TMP/cache-tm-$d/neostrad.db" \
                "$NT_TMP/cache-tm-$d/neostrad.db-wal" 2>/dev/null; then
                nt_pass "$d: the cache holds the current token (control)"
        else
                nt_fail "$d: the current token is not in the cache"
        fi
done
nt_finish
