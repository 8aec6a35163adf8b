#!/bin/sh
# pam-connection.sh BUILDDIR: one connection to neostrad per login.  A
# successful Authenticate answers for the account too, and the transaction's
# account step decides on that answer (no CheckAccount round trip): in the
# same process, in a forked child (sshd may fork between the steps), and
# after the daemon restarted between them.  The answer's verdict is the
# daemon's: a user none of whose roles is in [access] allow_roles is still
# denied at the account step.  The answer is used once, only for the user
# it was given for, and only within 60 s (a CLOCK_MONOTONIC shifted by
# tests/clockshift.so): otherwise the account step asks the daemon, as one
# without an Authenticate before it (an SSH key login) does.  Connections are counted
# with GetStatus connectionsAccepted.
# Local accounts: the module reads /etc/passwd only before it calls, so its
# system accounts never reach the daemon; an account that only another
# NSS source knows (tests/slownss.so's "user" rule stands for LDAP), a
# system account or any other that [users] local_accounts does not list,
# is refused by the daemon (NotOurUser, nothing sent to the API) and gets
# PAM_IGNORE; one it lists is sent.  With the daemon down the module asks
# NSS itself: such an account still gets PAM_IGNORE, while a Neostra user,
# an account in the uid range neostrad publishes (it may be neostrad's own,
# seen through nss-systemd) and a name whose lookup fails get
# PAM_AUTHINFO_UNAVAIL.
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
printf '{"users": {"conn@example.com": {"password": "%s", "roles": ["dev"]},
           "other@example.com": {"password": "%s", "roles": ["sales"]}}}\n' "$pw" "$pw" >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
{
        printf '[api]\nurl = http://127.0.0.1:%s\n\n' "$NT_MOCK_HTTP_PORT"
        printf '[users]\nemail_template = %%u@example.com\nlocal_accounts = ldapopt\n\n'
        printf '[access]\nallow_roles = dev\n\n'
        nt_daemon_config conn
} >"$NT_TMP/conn.conf"
chmod 0600 "$NT_TMP/conn.conf"
sock=$(nt_socket_path conn)
mkdir -p "$NT_TMP/pam.d"
mod="$NT_BUILD/pam_neostra.so socket=$sock config=$NT_TMP/conn.conf"
printf 'auth required %s\naccount required %s\n' "$mod" "$mod" >"$NT_TMP/pam.d/conn"
# An SSH key login: no password step of ours, only account management.
printf 'auth required pam_permit.so\naccount required %s\n' "$mod" >"$NT_TMP/pam.d/keyonly"

accepted() { # connections the daemon accepted so far, this call's own included
        "$NT_BUILD/neostractl" --socket "$sock" --json status |
                "$NT_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["connectionsAccepted"])'
}
login() { # PAMCHECK_ARGS... SERVICE USER: one transaction, output in $NT_LOGS/login.out
        PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" "$@" >"$NT_LOGS/login.out" 2>&1
}
# connections WHAT WANT BEFORE: the login since accepted() said BEFORE took
# WANT connections (the accepted() call here is its own one more).
connections() {
        _got=$(($(accepted) - $3 - 1))
        if [ "$_got" -eq "$2" ]; then
                nt_pass "$1: the login succeeds over $_got connection(s)"
        else
                nt_fail "$1: the login took $_got connection(s), not $2"
        fi
}
# check WHAT WANT_CONNECTIONS PAMCHECK_ARGS... SERVICE USER
check() {
        _what=$1 _want=$2
        shift 2
        _before=$(accepted)
        if login "$@"; then
                connections "$_what" "$_want" "$_before"
        else
                nt_fail "$_what: the login failed:"
                sed 's/^/  | /' "$NT_LOGS/login.out"
        fi
}

nt_daemon_start conn || { nt_fail "neostrad start"; nt_finish; }
check "auth then account" 1 conn conn
check "again, with a verifier now" 1 conn conn
check "account in a forked child" 1 -f conn conn
check "account without our auth step (SSH key)" 1 keyonly conn
check "account twice: the second one asks the daemon" 2 -A conn conn

# The daemon's allow_roles verdict travels in the Authenticate answer.
_before=$(accepted)
if login conn other; then
        nt_fail "a user without an allowed role logged in"
        sed 's/^/  | /' "$NT_LOGS/login.out"
elif grep -q 'pam_authenticate(other): Success' "$NT_LOGS/login.out" &&
     grep -q 'pam_acct_mgmt(other): *Permission denied' "$NT_LOGS/login.out" &&
     [ $(($(accepted) - _before - 1)) -eq 1 ]; then
        nt_pass "a user without an allowed role: authenticated, denied at the account step, one connection"
        if grep -q 'CheckAccount deniedRole; user=other .*reason="none of the user.s roles (sales) may log in here"' \
                "$NT_LOGS/conn.log"; then
                nt_pass "the daemon logged the refusal (CheckAccount deniedRole, with the user's roles)"
        else
                nt_fail "no CheckAccount deniedRole line for other in the daemon's log"
        fi
else
        nt_fail "a user without an allowed role: not the expected results:"
        sed 's/^/  | /' "$NT_LOGS/login.out"
fi

# PAM_USER changed after authentication: conn's answer is not other's.
_before=$(accepted)
if login -u other conn conn; then
        nt_fail "account for other passed on conn's answer"
        sed 's/^/  | /' "$NT_LOGS/login.out"
elif grep -q 'pam_acct_mgmt(other): *Permission denied' "$NT_LOGS/login.out" &&
     [ $(($(accepted) - _before - 1)) -eq 2 ]; then
        nt_pass "PAM_USER changed between the steps: the account step asks about the new user (denied)"
else
        nt_fail "PAM_USER changed between the steps: not the expected results:"
        sed 's/^/  | /' "$NT_LOGS/login.out"
fi

# clock_check SECONDS WANT_CONNECTIONS: authenticate, let SECONDS pass on
# CLOCK_MONOTONIC, then account management.
clock_check() {
        rm -f "$NT_TMP/go-clock"
        echo 0 >"$NT_TMP/shift"
        # Gone before the background pamcheck starts: the shell truncates
        # it in the child, so a loaded machine could let clock_authed read
        # the previous run's "Success" and shift the clock before this
        # run's authentication.
        rm -f "$NT_LOGS/clock.out"
        _before=$(accepted)
        LD_PRELOAD=$NT_BUILD/tests/clockshift.so CLOCKSHIFT_FILE=$NT_TMP/shift PAMCHECK_PASSWORD=$pw \
                "$pamcheck" -d "$NT_TMP/pam.d" -w "$NT_TMP/go-clock" conn conn >"$NT_LOGS/clock.out" 2>&1 &
        _nt_track $! pamcheck-clock
        _pid=$!
        if ! nt_wait_until 15 "pamcheck to authenticate" clock_authed; then
                nt_fail "$1 s later: pamcheck did not authenticate:"
                sed 's/^/  | /' "$NT_LOGS/clock.out"
                return
        fi
        echo "$1" >"$NT_TMP/shift"
        : >"$NT_TMP/go-clock"
        if nt_wait "$_pid" && grep -q 'pam_acct_mgmt(conn): *Success' "$NT_LOGS/clock.out"; then
                connections "account management $1 s after authentication" "$2" "$_before"
        else
                nt_fail "account management $1 s after authentication: the login failed:"
                sed 's/^/  | /' "$NT_LOGS/clock.out"
        fi
}
clock_authed() { grep -q 'pam_authenticate(conn): Success' "$NT_LOGS/clock.out" 2>/dev/null; }
clock_check 50 1
clock_check 70 2

# The daemon goes away between auth and account: the account step decides
# on the answer it has and needs no connection.
rm -f "$NT_TMP/go"
PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" -w "$NT_TMP/go" conn conn >"$NT_LOGS/restart.out" 2>&1 &
_nt_track $! pamcheck-restart
pcpid=$!
authed() { grep -q 'pam_authenticate(conn): Success' "$NT_LOGS/restart.out" 2>/dev/null; }
if nt_wait_until 15 "pamcheck to authenticate" authed; then
        dpid=$(printf ' %s ' "$NT_PIDS" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):neostrad-conn$/\1/p' | tail -n1)
        nt_stop "$dpid" neostrad-conn
        nt_daemon_start conn || { nt_fail "neostrad restart"; nt_finish; }
        : >"$NT_TMP/go"
        if nt_wait "$pcpid" && grep -q 'pam_acct_mgmt(conn): *Success' "$NT_LOGS/restart.out"; then
                nt_pass "daemon restarted between auth and account: account succeeds on the Authenticate answer"
        else
                nt_fail "daemon restarted between auth and account: the login failed:"
                sed 's/^/  | /' "$NT_LOGS/restart.out"
        fi
else
        nt_fail "pamcheck did not authenticate:"
        sed 's/^/  | /' "$NT_LOGS/restart.out"
fi

# ---- local accounts ----------------------------------------------------------
# PAM_IGNORE at both steps is the only way through this stack.
printf '%s [ignore=1 default=die] %s\n%s requisite pam_deny.so\n%s required pam_permit.so\n' \
        auth "$mod" auth auth account "$mod" account account >"$NT_TMP/pam.d/ignored"
# ignored_check WHAT USER WANT_CONNECTIONS [ENV...]
ignored_check() {
        _what=$1 _user=$2 _want=$3
        shift 3
        _before=$(accepted)
        if env "$@" PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" ignored "$_user" \
                >"$NT_LOGS/ignored.out" 2>&1; then
                connections "$_what: PAM_IGNORE at auth and account" "$_want" "$_before"
        else
                nt_fail "$_what: not PAM_IGNORE at both steps:"
                sed 's/^/  | /' "$NT_LOGS/ignored.out"
        fi
}
if awk -F: '$1 == "daemon" && $3 < 1000 { f = 1 } END { exit !f }' /etc/passwd; then
        ignored_check "daemon (a system account in /etc/passwd)" daemon 0
else
        nt_pass "skipped: no system account 'daemon' in /etc/passwd"
fi

signins() {
        nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats 2>/dev/null |
                sed -n 's/.*"signins": *\([0-9][0-9]*\).*/\1/p'
}

# From "NSS" only, for the module and the daemon alike: ldapsys (uid 500,
# a system account), ldapuser (uid 5000), ldapopt (uid 5001, in
# local_accounts), ldapneo (uid 250000, in [identities]' default range).
rules=$NT_TMP/nss-rules
all_rules='user ldapsys 500
user ldapuser 5000
user ldapopt 5001
user ldapneo 250000'
echo "$all_rules" >"$rules"
nss_env="LD_PRELOAD=$NT_BUILD/tests/slownss.so SLOWNSS_RULES=$rules"
dpid=$(printf ' %s ' "$NT_PIDS" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):neostrad-conn$/\1/p' | tail -n1)
nt_stop "$dpid" neostrad-conn
export LD_PRELOAD="$NT_BUILD/tests/slownss.so" SLOWNSS_RULES="$rules"
nt_daemon_start conn || { unset LD_PRELOAD; nt_fail "neostrad restart with slownss.so"; nt_finish; }
unset LD_PRELOAD SLOWNSS_RULES
# Authenticate and CheckAccount each ask, and each hear NotOurUser.
ignored_check "ldapsys (a system account only NSS knows)" ldapsys 2 $nss_env
if grep -q 'Authenticate notOurs; user=ldapsys .*api_latency_ms=- reason="local system account or excluded name"' \
        "$NT_LOGS/conn.log"; then
        nt_pass "ldapsys: the daemon refused it as a system account, without the API"
else
        nt_fail "ldapsys: no 'Authenticate notOurs; user=ldapsys' line in the daemon's log"
fi
# An account above minimum_uid that only "LDAP" knows: not ours either.
n0=$(signins)
ignored_check "ldapuser (uid 5000, only NSS knows it)" ldapuser 2 $nss_env
if grep -q 'Authenticate notOurs; user=ldapuser .*api_latency_ms=- reason="local account not in \[users\] local_accounts"' \
        "$NT_LOGS/conn.log" && [ -n "$n0" ] && [ "$(signins)" = "$n0" ]; then
        nt_pass "ldapuser: the daemon refused it as a local account it does not list; no sign-in at the API"
else
        nt_fail "ldapuser: no 'Authenticate notOurs; user=ldapuser' line, or a sign-in reached the API"
fi
# One local_accounts lists is sent (the mock does not know it: 401).
_before=$(nt_http GET "$NT_MOCK_HTTP_PORT" /_control/requests | grep -c '"email": *"ldapopt@example.com"')
if env $nss_env PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" ignored ldapopt >"$NT_LOGS/ignored.out" 2>&1; then
        nt_fail "ldapopt (in local_accounts): PAM_IGNORE"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
elif grep -q 'pam_authenticate(ldapopt): Authentication failure' "$NT_LOGS/ignored.out" &&
     [ "$(nt_http GET "$NT_MOCK_HTTP_PORT" /_control/requests | grep -c '"email": *"ldapopt@example.com"')" -gt "$_before" ]; then
        nt_pass "ldapopt (in local_accounts): sent to the API (refused there)"
else
        nt_fail "ldapopt (in local_accounts): not sent to the API:"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
fi

# The daemon's own NSS lookup of ldapfail fails (ServiceUnavailable): the
# module does not ask NSS in its place (its rules make it a system account
# here), it says unavailable.  Only an unreachable daemon gets the fallback.
echo "name ldapfail fail" >"$rules"
echo "user ldapfail 500" >"$NT_TMP/module-rules"
if env LD_PRELOAD="$NT_BUILD/tests/slownss.so" SLOWNSS_RULES="$NT_TMP/module-rules" PAMCHECK_PASSWORD=$pw \
        "$pamcheck" -d "$NT_TMP/pam.d" ignored ldapfail >"$NT_LOGS/ignored.out" 2>&1; then
        nt_fail "the daemon's NSS failing: the module answered PAM_IGNORE on its own lookup"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
elif grep -q 'pam_authenticate(ldapfail): Authentication service cannot retrieve authentication info' \
        "$NT_LOGS/ignored.out"; then
        nt_pass "the daemon's NSS failing: PAM_AUTHINFO_UNAVAIL, no lookup of the module's in its place"
else
        nt_fail "the daemon's NSS failing: not PAM_AUTHINFO_UNAVAIL:"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
fi
echo "$all_rules" >"$rules"

dpid=$(printf ' %s ' "$NT_PIDS" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):neostrad-conn$/\1/p' | tail -n1)
nt_stop "$dpid" neostrad-conn
if env $nss_env PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" ignored ldapsys \
        >"$NT_LOGS/ignored.out" 2>&1; then
        nt_pass "daemon down: ldapsys still gets PAM_IGNORE at auth and account (the module asked NSS)"
else
        nt_fail "daemon down: ldapsys did not get PAM_IGNORE:"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
fi
# The same config with [identities] userdb on (the test daemons run with
# it off), read by the module only: neostrad may then have published uids
# in uid_min..uid_max, and NSS here would show them.
sed 's/^userdb = no$/userdb = yes/' "$NT_TMP/conn.conf" >"$NT_TMP/conn-userdb.conf"
chmod 0600 "$NT_TMP/conn-userdb.conf"
sed "s#config=$NT_TMP/conn.conf#config=$NT_TMP/conn-userdb.conf#" "$NT_TMP/pam.d/ignored" >"$NT_TMP/pam.d/ignored-userdb"
if env $nss_env PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" ignored-userdb ldapuser \
        >"$NT_LOGS/ignored.out" 2>&1; then
        nt_pass "daemon down, userdb on: ldapuser (uid 5000, outside neostrad's range) still gets PAM_IGNORE"
else
        nt_fail "daemon down, userdb on: ldapuser did not get PAM_IGNORE:"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
fi
if env $nss_env PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" ignored ldapneo \
        >"$NT_LOGS/ignored.out" 2>&1; then
        nt_pass "daemon down, userdb off: ldapneo (uid 250000) gets PAM_IGNORE (neostrad publishes no one)"
else
        nt_fail "daemon down, userdb off: ldapneo did not get PAM_IGNORE:"
        sed 's/^/  | /' "$NT_LOGS/ignored.out"
fi
# unavailable_check WHAT USER [ENV...]: PAM_AUTHINFO_UNAVAIL at auth, not
# PAM_IGNORE (the stack with userdb on).
unavailable_check() {
        _what=$1 _user=$2
        shift 2
        if env "$@" PAMCHECK_PASSWORD=$pw "$pamcheck" -d "$NT_TMP/pam.d" ignored-userdb "$_user" \
                >"$NT_LOGS/ignored.out" 2>&1; then
                nt_fail "daemon down: $_what got through the ignore-only stack"
                sed 's/^/  | /' "$NT_LOGS/ignored.out"
        elif grep -q "pam_authenticate($_user): Authentication service cannot retrieve authentication info" \
                "$NT_LOGS/ignored.out"; then
                nt_pass "daemon down: $_what gets PAM_AUTHINFO_UNAVAIL"
        else
                nt_fail "daemon down: $_what: not PAM_AUTHINFO_UNAVAIL:"
                sed 's/^/  | /' "$NT_LOGS/ignored.out"
        fi
}
unavailable_check "a Neostra user" conn $nss_env
unavailable_check "userdb on: ldapneo (uid 250000, in neostrad's range: may be its own)" ldapneo $nss_env
unavailable_check "ldapopt (in local_accounts)" ldapopt $nss_env
# The module's own NSS lookup fails: never turned into PAM_IGNORE.
echo "name conn fail" >"$NT_TMP/module-rules"
unavailable_check "a Neostra user whose NSS lookup fails" conn \
        LD_PRELOAD="$NT_BUILD/tests/slownss.so" SLOWNSS_RULES="$NT_TMP/module-rules"

nt_end_checks
nt_finish
