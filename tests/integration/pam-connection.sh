#!/bin/sh
# pam-connection.sh BUILDDIR: a PAM transaction's Authenticate and
# CheckAccount share one connection to neostrad (one connect and accept
# less per login); a forked child (sshd may fork between the steps) and a
# daemon restarted between them each get a fresh connection, and the login
# still succeeds.  Counted with GetStatus connectionsAccepted.
# Ends with "pam-connection: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
nt_counts pam-connection
nt_tmpdir
nt_trap

pamcheck=$NT_BUILD/tests/pamcheck
[ -x "$pamcheck" ] || { nt_fail "$pamcheck is missing (make tests-build)"; nt_finish; }
pw=$(nt_canary_new) || { nt_fail "canary"; nt_finish; }
printf '{"users": {"conn@example.com": {"password": "%s", "roles": ["dev"]}}}\n' "$pw" >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
{
        printf '[api]\nurl = http://127.0.0.1:%s\n\n' "$NT_MOCK_HTTP_PORT"
        printf '[users]\nemail_template = %%u@example.com\n\n'
        nt_daemon_config conn
} >"$NT_TMP/conn.conf"
chmod 0600 "$NT_TMP/conn.conf"
sock=$(nt_socket_path conn)
mkdir -p "$NT_TMP/pam.d"
mod="$NT_BUILD/pam_neostra.so socket=$sock config=$NT_TMP/conn.conf"
printf 'auth required %s\naccount required %s\n' "$mod" "$mod" >"$NT_TMP/pam.d/conn"

accepted() { # connections the daemon accepted so far, this call's own included
        "$NT_BUILD/neostractl" --socket "$sock" --json status |
                "$NT_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["connectionsAccepted"])'
}
login() { # PAMCHECK_ARGS...: one transaction as user conn, output in $NT_LOGS/login.out
        PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" "$@" conn conn >"$NT_LOGS/login.out" 2>&1
}
# check WHAT WANT_CONNECTIONS PAMCHECK_ARGS...
check() {
        _what=$1 _want=$2
        shift 2
        _before=$(accepted)
        if login "$@"; then
                _got=$(($(accepted) - _before - 1))
                if [ "$_got" -eq "$_want" ]; then
                        nt_pass "$_what: the login succeeds over $_got connection(s)"
                else
                        nt_fail "$_what: the login took $_got connection(s), not $_want"
                fi
        else
                nt_fail "$_what: the login failed:"
                sed 's/^/  | /' "$NT_LOGS/login.out"
        fi
}

nt_daemon_start conn || { nt_fail "neostrad start"; nt_finish; }
check "auth then account" 1
check "again, with a verifier now" 1
check "account in a forked child" 2 -f

# The daemon goes away between auth and account: the kept connection is
# dead, account opens a fresh one to the new daemon.
rm -f "$NT_TMP/go"
PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" -w "$NT_TMP/go" conn conn >"$NT_LOGS/restart.out" 2>&1 &
_nt_track $! pamcheck-restart
pcpid=$!
authed() { grep -q 'pam_authenticate(conn): Success' "$NT_LOGS/restart.out"; }
if nt_wait_until 15 "pamcheck to authenticate" authed; then
        dpid=$(printf ' %s ' "$NT_PIDS" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):neostrad-conn$/\1/p' | tail -n1)
        nt_stop "$dpid" neostrad-conn
        nt_daemon_start conn || { nt_fail "neostrad restart"; nt_finish; }
        : >"$NT_TMP/go"
        if nt_wait "$pcpid" && grep -q 'pam_acct_mgmt(conn): *Success' "$NT_LOGS/restart.out"; then
                nt_pass "daemon restarted between auth and account: account succeeds on a fresh connection"
        else
                nt_fail "daemon restarted between auth and account: the login failed:"
                sed 's/^/  | /' "$NT_LOGS/restart.out"
        fi
else
        nt_fail "pamcheck did not authenticate:"
        sed 's/^/  | /' "$NT_LOGS/restart.out"
fi

nt_end_checks
nt_finish
