#!/bin/sh
# doctor.sh BUILDDIR: `neostractl doctor` gives the right verdict on a
# healthy set-up and on broken ones (issue 16, "neostractl doctor").
#
# Everything the doctor reads that is not ours is replaced inside a private
# mount namespace only (nt_private_ns), by bind mounts that vanish with it:
# /etc/pam.d (sshd, login and su @including the common-* files made from
# packaging/pam/*.example verbatim, and sudo as packaging/pam/sudo.example),
# /usr/share/pam-configs (the package's profiles), /etc/nsswitch.conf, and
# /etc/passwd and /etc/group
# (the daemon's user "ntdaemon" and another account "ntother").  neostrad
# runs as ntdaemon with its sockets and cache in $NT_TMP, against the mock
# API over TLS (our CA, the server's pin); alice has signed in once, so
# the cache holds a token.
#
# Healthy: exit 0, no line marked ✗, a ✓ from every section, the drop-in
# listed with its keys, alice counted in the cache (and past
# account_max_age once it is 1 s), --json parses and says ok; the API saw
# only GET probes from the doctor (never a password).  Then each broken
# set-up must exit 1 and fail the check that names it:
#   a pam-auth-update profile with default=ignore on the account line
#   (pam.profile), the same in common-account (pam.account-final), an auth
#   line that locks out local users when the daemon is down
#   (pam.local-safe), nsswitch.conf without systemd (nss.passwd) and with a
#   source that shadows it (nss.group), the auth socket owned by the wrong
#   user (daemon.auth-socket), an API that accepts and never answers while
#   [api] timeout is 20 s (api.probe; the doctor still ends within a few
#   seconds), a bad pin (api.pin), a missing service user
#   (config.test-config, as neostrad --test-config says),
#   a stopped (SIGSTOP) daemon (daemon.running, within a few seconds), a
#   hung NSS source (tests/slownss.c: the sections that look names up are
#   killed at the deadline and said to hang, the others still report), and
#   a config that does not load (config.load, naming file:line), an API
#   whose Date header is an hour ahead (api.clock) and a cache whose last
#   token arrived an hour after its iat (cache.token-clock); run as
#   another user, the doctor exits 4.
# DOCTOR_SHOW=1 prints the doctor's output of the healthy and the bad-pin
# runs.  Ends with "doctor: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts doctor

skip_all() {
        echo "skipped: every case ($*)"
        NT_SKIPPED=1
        nt_finish
}

[ "$(id -u)" -eq 0 ] || skip_all "it needs root (the doctor runs as root; bind mounts)"
for f in /etc/pam.d /usr/share/pam-configs /etc/nsswitch.conf; do
        [ -e "$f" ] || skip_all "$f is missing (nothing to bind-mount over)"
done
nt_private_ns "$@" || skip_all "unshare is missing (a private mount namespace is needed)"
[ "${NT_IN_PRIVATE_NS:-}" = 1 ] || skip_all "not in a private mount namespace"
nt_own_ns
nt_tmpdir
nt_trap

ctl=$NT_BUILD/neostractl
helper=$here/doctor_json.py
for p in "$ctl" "$NT_BUILD/neostrad"; do
        [ -x "$p" ] || { nt_fail "$p is missing (make tests-build)"; nt_finish; }
done

# The daemon's user must be a system account (uid below 1000: clients
# trust no other owner of the socket); the first free one from 990 down.
DUSER=ntdaemon DUID=
for u in 990 989 988 987 986 985 984 983 982 981 980; do
        if ! getent passwd "$u" >/dev/null && ! getent group "$u" >/dev/null; then DUID=$u; break; fi
done
[ -n "$DUID" ] || skip_all "no free system uid between 980 and 990"
OUSER=ntother OUID=4321
nt_add_test_user "$DUSER" "$DUID" && nt_add_test_user "$OUSER" "$OUID" ||
        { nt_fail "adding the test accounts"; nt_finish; }
[ "$(id -u "$DUSER" 2>/dev/null)" = "$DUID" ] || { nt_fail "test account not visible"; nt_finish; }
# The daemon's user reaches its cache and the CA by name, nothing else.
chmod 0711 "$NT_TMP"

# ---- the mock API over TLS ----------------------------------------------------------

umask 077
pw=$(nt_canary_new) || { nt_fail "canary"; nt_finish; }
printf '{"users": {"alice@example.com": {"password": "%s", "roles": ["admin"]}}}\n' "$pw" >"$NT_TMP/users.json"
nt_gen_certs "$NT_TMP/certs" || { nt_fail "test certificates"; nt_finish; }
chmod 0755 "$NT_TMP/certs"
chmod 0644 "$NT_TMP/certs/ca.pem"
nt_mock_start "$NT_TMP/users.json" "$NT_TMP/certs" || { nt_fail "mock API start"; nt_finish; }
api=https://127.0.0.1:$NT_MOCK_HTTPS_PORT
pin=$(cat "$NT_TMP/certs/server.pin")

# ---- the config, the cache, the daemon ------------------------------------------------

cache=$NT_TMP/cache
mkdir -m 0700 "$cache" && chown "$DUID:$DUID" "$cache" || { nt_fail "cache directory"; nt_finish; }
sock=$NT_TMP/doc.sock
usock=$NT_TMP/doc-userdb.sock
# write_conf FILE URL PIN USER: a whole config, root's and readable by the
# daemon's group, as the packages install it (it reads it at every reload).
write_conf() {
        {
                printf '[api]\nurl = %s\nconnect_timeout = 1s\ntimeout = 20s\nca_file = %s\n' "$2" "$NT_TMP/certs/ca.pem"
                [ -n "$3" ] && printf 'pinned_public_key = %s\n' "$3"
                printf '\n[users]\nemail_template = %%u@example.com\n\n[access]\nallow_roles = admin\n\n'
                printf '[identities]\nuserdb = yes\n\n[cache]\ndirectory = %s\n\n' "$cache"
                printf '[daemon]\nuser = %s\nsocket = %s\nuserdb_socket = %s\n' "$4" "$sock" "$usock"
        } >"$1"
        chgrp "$DUID" "$1" && chmod 0640 "$1"
}
conf=$NT_TMP/doc.conf
write_conf "$conf" "$api" "$pin" "$DUSER"
# A drop-in, which the doctor lists with the keys it sets.
mkdir -m 0755 "$conf.d"
printf '[access]\naccount_max_age = 7d\n\n[groups]\nadmin = adm\n' >"$conf.d/50-test.conf"
chgrp "$DUID" "$conf.d/50-test.conf" && chmod 0640 "$conf.d/50-test.conf"
nt_daemon_start doc "$conf" || { nt_fail "neostrad start"; nt_finish; }
daemon_pid=$NT_LAST_PID

printf '%s\n' "$pw" | "$ctl" -s "$sock" auth alice >"$NT_TMP/auth.out" 2>&1 ||
        { nt_fail "alice's sign-in: $(cat "$NT_TMP/auth.out")"; nt_finish; }
# GetUser writes the cache back first: the token is in the database now.
"$ctl" -s "$sock" user alice >/dev/null 2>&1 || { nt_fail "neostractl user alice"; nt_finish; }

# ---- PAM stacks, profiles and nsswitch.conf, in this namespace only ---------------------

pamd=$NT_TMP/pam.d
mkdir -m 0755 "$pamd"
for t in auth account session; do
        cp "$NT_TOP/packaging/pam/common-$t.example" "$pamd/common-$t"
done
cat >"$pamd/common-password" <<'EOF'
password [success=1 default=ignore] pam_unix.so obscure yescrypt
password requisite pam_deny.so
password required pam_permit.so
EOF
cp "$pamd/common-session" "$pamd/common-session-noninteractive"
# sudo: the package's example verbatim.
cp "$NT_TOP/packaging/pam/sudo.example" "$pamd/sudo"
for s in sshd login su; do
        cat >"$pamd/$s" <<'EOF'
auth required pam_env.so
@include common-auth
account required pam_nologin.so
@include common-account
@include common-session
@include common-password
EOF
done
chmod 0644 "$pamd"/*
nt_bind "$pamd" /etc/pam.d || { nt_fail "bind-mounting /etc/pam.d"; nt_finish; }

profiles=$NT_TMP/pam-configs
mkdir -m 0755 "$profiles"
cp "$NT_TOP"/packaging/debian/pam-configs/* "$profiles/"
nt_bind "$profiles" /usr/share/pam-configs || { nt_fail "bind-mounting /usr/share/pam-configs"; nt_finish; }

nsswitch=$NT_TMP/nsswitch.conf
healthy_nss() {
        printf 'passwd: files systemd\ngroup: files [SUCCESS=merge] systemd\nshadow: files systemd\n' >"$nsswitch"
        printf 'hosts: files\n' >>"$nsswitch"
}
healthy_nss
chmod 0644 "$nsswitch"
nt_bind "$nsswitch" /etc/nsswitch.conf || { nt_fail "bind-mounting nsswitch.conf"; nt_finish; }

# ---- running the doctor -------------------------------------------------------------------

out=$NT_TMP/out
json=$NT_TMP/out.json
# doctor [CONFIG]: text in $out and JSON in $json; sets rc, jrc, and secs
# (the text run's wall time, whole seconds).
doctor() {
        _c=${1:-$conf}
        _t0=$(nt_now_cs)
        "$ctl" -c "$_c" doctor >"$out" 2>&1
        rc=$?
        secs=$(( ($(nt_now_cs) - _t0) / 100 ))
        "$ctl" -c "$_c" --json doctor >"$json" 2>"$NT_TMP/json.err"
        jrc=$?
        # Under ASan a sections' child or the parent would report here.
        if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$out" "$NT_TMP/json.err"; then
                nt_fail "a sanitizer report from neostractl doctor:"
                cat "$out" "$NT_TMP/json.err" | sed 's/^/  | /'
        fi
}
status_of() { # SECTION CHECK
        "$NT_PYTHON" "$helper" status "$json" "$1" "$2"
}
# expect_broken DESC SECTION CHECK: exit 1 both ways, that check failed,
# and its line is marked in the text.
expect_broken() {
        _st=$(status_of "$2" "$3")
        if [ "$rc" -eq 1 ] && [ "$jrc" -eq 1 ] && [ "$_st" = fail ] && grep -q '^✗ ' "$out"; then
                nt_pass "$1: exit 1, $2.$3 fails"
        else
                nt_fail "$1: exit $rc/$jrc, $2.$3 is $_st; failed: $("$NT_PYTHON" "$helper" failed "$json" | tr '\n' ' ')"
                sed 's/^/  | /' "$out"
        fi
}
# expect_only DESC SECTION.CHECK...: nothing else failed.
expect_only() {
        _d=$1
        shift
        _got=$("$NT_PYTHON" "$helper" failed "$json" | sort | tr '\n' ' ')
        _want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
        if [ "$_got" = "$_want" ]; then
                nt_pass "$_d: nothing else fails"
        else
                nt_fail "$_d: failed checks are [$_got], expected [$_want]"
        fi
}
# The doctor's own deadline is 5 s; 15 s leaves room for a loaded machine
# and is still far below what hangs here (a 20 s API timeout, 30 s lookups).
within() { # DESC SECONDS
        if [ "$secs" -le "$2" ]; then nt_pass "$1: done in ${secs}s (at most $2)"
        else nt_fail "$1: took ${secs}s (more than $2)"; fi
}

# ---- healthy --------------------------------------------------------------------------------

doctor
[ -n "${DOCTOR_SHOW:-}" ] && cat "$out"
if [ "$rc" -eq 0 ] && ! grep -q '^✗' "$out"; then
        nt_pass "healthy: exit 0, no line marked ✗"
else
        nt_fail "healthy: exit $rc"
        sed 's/^/  | /' "$out"
fi
for s in Config Daemon API NSS PAM Cache; do
        if grep -q "^✓ $s: " "$out"; then nt_pass "healthy: a ✓ line from $s"
        else nt_fail "healthy: no ✓ line from $s"; fi
done
dropin_line="✓ Config: 1 drop-in(s) in $conf.d override the main file, in this order:"
dropin_line="$dropin_line 50-test.conf ([access] account_max_age; [groups] admin)"
if grep -qF "$dropin_line" "$out"; then
        nt_pass "healthy: the drop-in is listed with the keys it overrides"
else
        nt_fail "healthy: the drop-in line: $(grep 'drop-in' "$out")"
fi
if grep -q '^Nothing wrong found\.$' "$out"; then nt_pass "healthy: says nothing is wrong"
else nt_fail "healthy: no closing verdict"; fi
if [ "$jrc" -eq 0 ] && "$NT_PYTHON" "$helper" healthy "$json"; then
        nt_pass "healthy: --json parses, ok is true, no check failed"
else
        nt_fail "healthy: --json (exit $jrc): $(head -c 600 "$json") $(head -c 300 "$NT_TMP/json.err")"
fi
for c in config.load config.test-config config.user daemon.running daemon.auth-socket daemon.userdb-socket daemon.userdb-answers \
         api.probe api.tls api.pin api.clock nss.passwd nss.group nss.shadow pam.present \
         pam.account-final pam.local-safe pam.setcred pam.first-pass pam.fail-closed pam.profile \
         cache.directory cache.integrity cache.max-age cache.token-clock; do
        st=$(status_of "${c%%.*}" "${c#*.}")
        if [ "$st" = ok ]; then nt_pass "healthy: $c ok"
        else nt_fail "healthy: $c is $st"; fi
done
if grep -q '^✓ Cache: 1 user(s) cached, 0 past account_max_age' "$out"; then
        nt_pass "healthy: alice is cached, not past account_max_age"
else
        nt_fail "healthy: the cache line does not count alice: $(grep '^. Cache' "$out")"
fi
sed 's/^allow_roles = admin$/allow_roles = admin\naccount_max_age = 1s/' "$conf" >"$NT_TMP/maxage.conf"
chgrp "$DUID" "$NT_TMP/maxage.conf" && chmod 0640 "$NT_TMP/maxage.conf"
sleep 2
doctor "$NT_TMP/maxage.conf"
if grep -q '^✓ Cache: 1 user(s) cached, 1 past account_max_age (1 s)' "$out"; then
        nt_pass "with account_max_age = 1s, alice is past it two seconds later"
else
        nt_fail "account_max_age = 1s: $(grep '^. Cache' "$out")"
fi
if "$NT_PYTHON" "$helper" probes "$NT_MOCK_HTTP_PORT"; then
        nt_pass "the API saw only GET probes from the doctor, never a password"
else
        nt_fail "the doctor's requests to the API"
fi
if nt_find_canary "$pw" "$out" "$json" | grep -q .; then nt_fail "the password is in the doctor's output"
else nt_pass "the password is in none of the doctor's output"; fi

# ---- PAM: the himmelblau trap, in the profile and in common-account ---------------------------

cp "$profiles/neostra" "$NT_TMP/profile.good"
sed 's/default=bad\]\([[:space:]]*pam_neostra.so\)/default=ignore]\1/' "$NT_TMP/profile.good" >"$profiles/neostra"
grep -q 'default=ignore\][[:space:]]*pam_neostra.so$' "$profiles/neostra" || nt_fail "could not break the profile"
doctor
expect_broken "profile with default=ignore on the account line" pam profile
expect_only "profile with default=ignore" pam.profile
cp "$NT_TMP/profile.good" "$profiles/neostra"

cp "$pamd/common-account" "$NT_TMP/account.good"
sed 's/\[success=ok ignore=ignore default=bad\]\([[:space:]]*pam_neostra.so\)/[success=ok default=ignore]\1/' \
        "$NT_TMP/account.good" >"$pamd/common-account"
doctor
expect_broken "common-account with default=ignore on pam_neostra's line" pam account-final
cp "$NT_TMP/account.good" "$pamd/common-account"

cp "$pamd/common-auth" "$NT_TMP/auth.good"
sed 's/authinfo_unavail=ignore //' "$NT_TMP/auth.good" >"$pamd/common-auth"
# pam_neostra first, so a dead daemon (authinfo_unavail → die) stops root too.
{ grep pam_neostra.so "$pamd/common-auth" | grep -v setcred_only | sed 's/use_first_pass//; s/success=1/success=3/'
  grep -v pam_neostra.so "$pamd/common-auth"; } >"$NT_TMP/auth.bad"
cp "$NT_TMP/auth.bad" "$pamd/common-auth"
doctor
expect_broken "pam_neostra first, authinfo_unavail=die" pam local-safe
cp "$NT_TMP/auth.good" "$pamd/common-auth"

# ---- NSS ----------------------------------------------------------------------------------------

printf 'passwd: files\ngroup: files systemd\nshadow: files systemd\n' >"$nsswitch"
doctor
expect_broken "nsswitch.conf without systemd for passwd" nss passwd
expect_only "nsswitch.conf without systemd" nss.passwd
printf 'passwd: files systemd\ngroup: files [NOTFOUND=return] systemd\nshadow: files systemd\n' >"$nsswitch"
doctor
expect_broken "a source before systemd with [NOTFOUND=return]" nss group
healthy_nss

# ---- the socket's owner -------------------------------------------------------------------------

chown "$OUID" "$sock"
doctor
expect_broken "auth socket owned by $OUSER" daemon auth-socket
chown "$DUID:$DUID" "$sock"

# ---- the API --------------------------------------------------------------------------------------

nt_spawn hang-server "$NT_PYTHON" "$helper" hang "$NT_TMP/hang.port" >>"$NT_LOGS/hang.log" 2>&1
nt_wait_until 10 "the hanging server's port" test -s "$NT_TMP/hang.port" || { nt_fail "hang server"; nt_finish; }
write_conf "$NT_TMP/hang.conf" "http://127.0.0.1:$(cat "$NT_TMP/hang.port")" "" "$DUSER"
doctor "$NT_TMP/hang.conf"
expect_broken "an API that accepts and never answers ([api] timeout = 20s)" api probe
within "an API that hangs" 15
expect_only "an API that hangs" api.probe

# An API whose clock is an hour ahead (its Date header).
nt_spawn skewed-api "$NT_PYTHON" "$helper" skewed "$NT_TMP/skewed.port" 3600 >>"$NT_LOGS/skewed.log" 2>&1
nt_wait_until 10 "the skewed server's port" test -s "$NT_TMP/skewed.port" || { nt_fail "skewed server"; nt_finish; }
write_conf "$NT_TMP/skewed.conf" "http://127.0.0.1:$(cat "$NT_TMP/skewed.port")" "" "$DUSER"
doctor "$NT_TMP/skewed.conf"
expect_broken "an API whose Date header is an hour ahead" api clock
expect_only "an API an hour ahead" api.clock

write_conf "$NT_TMP/pin.conf" "$api" "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" "$DUSER"
doctor "$NT_TMP/pin.conf"
[ -n "${DOCTOR_SHOW:-}" ] && cat "$out"
expect_broken "a pin that does not match the API's key" api pin
expect_only "a bad pin" api.pin

# ---- the service user --------------------------------------------------------------------------------

write_conf "$NT_TMP/nouser.conf" "$api" "$pin" ntnosuchuser
doctor "$NT_TMP/nouser.conf"
expect_broken "[daemon] user that does not exist" config test-config
if grep -qF "user 'ntnosuchuser' does not exist" "$out" && grep -q '^✗ Config: .*ntnosuchuser.* → fix: ' "$out"; then
        nt_pass "the missing user's line names it, and the fix"
else
        nt_fail "no line names the missing user: $(grep Config "$out")"
fi
# The doctor's Config lines are neostrad --test-config's findings.
if ! "$NT_BUILD/neostrad" --test-config -c "$NT_TMP/nouser.conf" >"$NT_TMP/tc.out" 2>&1 &&
   grep -qF "user 'ntnosuchuser' does not exist" "$NT_TMP/tc.out"; then
        nt_pass "neostrad --test-config refuses the same config for the same reason"
else
        nt_fail "neostrad --test-config and the doctor disagree: $(cat "$NT_TMP/tc.out")"
fi

# ---- a daemon that does not answer ----------------------------------------------------------------------

kill -STOP "$daemon_pid"
doctor
kill -CONT "$daemon_pid"
expect_broken "a stopped daemon" daemon running
within "a stopped daemon" 15

# ---- a hung NSS source ----------------------------------------------------------------------------------

# tests/slownss.c makes every lookup of a name starting with "n" (the
# daemon's user, the made-up name the NSS section looks up) take 30 s:
# the sections that ask are killed at the deadline and said to hang, and
# the others still report.
if [ -e "$NT_BUILD/tests/slownss.so" ]; then
        printf 'name n 30000\n' >"$NT_TMP/slownss.rules"
        _t0=$(nt_now_cs)
        SLOWNSS_RULES=$NT_TMP/slownss.rules LD_PRELOAD=$NT_BUILD/tests/slownss.so \
                ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:verify_asan_link_order=0 \
                "$ctl" -c "$conf" --json doctor >"$json" 2>"$NT_TMP/json.err"
        jrc=$?
        secs=$(( ($(nt_now_cs) - _t0) / 100 ))
        rc=$jrc
        : >"$out"
        if [ "$jrc" -eq 1 ] && [ "$(status_of nss deadline)" = fail ] && [ "$(status_of config deadline)" = fail ] &&
           [ "$(status_of api probe)" = ok ] && [ "$(status_of pam account-final)" = ok ]; then
                nt_pass "a hung NSS source: the sections that ask are reported hanging, the others report"
        else
                nt_fail "a hung NSS source: exit $jrc; failed: $("$NT_PYTHON" "$helper" failed "$json" | tr '\n' ' ')"
        fi
        within "a hung NSS source" 15
else
        NT_SKIPPED=$((NT_SKIPPED + 1))
        echo "skipped - a hung NSS source ($NT_BUILD/tests/slownss.so is missing: make tests-build)"
fi

# ---- not root, and a config that does not load ---------------------------------------------------------------

if command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$OUID" --regid="$OUID" --clear-groups -- "$ctl" -c "$conf" doctor >"$out" 2>&1
        rc=$?
        if [ "$rc" -eq 4 ] && grep -q 'must run as root' "$out"; then
                nt_pass "as another user: exit 4, must run as root"
        else
                nt_fail "as another user: exit $rc: $(cat "$out")"
        fi
fi
printf '[api]\nurl = https://127.0.0.1:1\nbogus = 1\n' >"$NT_TMP/bad.conf"
doctor "$NT_TMP/bad.conf"
expect_broken "a config with an unknown key" config load
if grep -qF "$NT_TMP/bad.conf:3:" "$out"; then nt_pass "the config error names file:line"
else nt_fail "the config error does not name file:line: $(grep Config "$out")"; fi

# And all is well again.
doctor
if [ "$rc" -eq 0 ]; then nt_pass "healthy again after the broken cases"
else nt_fail "not healthy again: $(grep '^✗' "$out")"; fi

# ---- the clock against the last token's iat ---------------------------------------------------------------

# The cache says alice's token came an hour after the API issued it (as
# the daemon's user, so that nothing in the cache becomes root's).
if setpriv --reuid="$DUID" --regid="$DUID" --clear-groups -- \
        "$NT_PYTHON" "$helper" backdate "$cache/neostrad.db" -3600 2>"$NT_TMP/backdate.err"; then
        doctor
        expect_broken "the last token received an hour after its iat" cache token-clock
        expect_only "a token an hour off" cache.token-clock
else
        nt_fail "moving the cache's times: $(cat "$NT_TMP/backdate.err")"
fi

nt_end_checks
nt_finish
