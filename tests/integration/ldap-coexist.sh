#!/bin/sh
# ldap-coexist.sh BUILDDIR: pam_neostra beside another remote source of
# accounts, LDAP through Debian's own slapd, nslcd, libnss-ldapd and
# libpam-ldapd, logging in through OpenSSH's real sshd.
#
# The PAM stack is the one a Debian host gets when both packages are
# installed: Debian's real pam-auth-update, run here (in a private mount
# namespace, over copies of /etc/pam.d, /usr/share/pam-configs, /var/lib/pam
# and debconf's database), with our two profiles
# (packaging/debian/pam-configs) beside the system's, ldap among them.  It
# puts pam_neostra before pam_ldap (same priority, names sorted in reverse)
# with default=die: an LDAP user's password must never be judged by
# Neostra, or the refusal would end the stack.  The only changes to what
# pam-auth-update wrote are pam_neostra.so's path and its socket=/config=
# for this test's daemon (tests/lib.sh nt_pam_rewrite's rule); /etc/pam.d/sshd
# is Debian's own, including the common-* files.
#
# tests/bench/ldap-baseline.sh sets up slapd and nslcd and runs this script
# again inside its namespace (BENCH_LDAP_TMP set), with "files systemd
# ldap" for passwd, group and shadow, as installing libnss-systemd and
# libnss-ldapd gives.  benchuser (uid 10000) lives in LDAP only; the mock
# API knows benchuser@example.com too, with another password: LDAP's
# benchuser must log in with the LDAP password only, and nothing about
# benchuser may reach the API.  nina exists only at the API and logs in
# through pam_neostra (nss-systemd finds her through neostrad's userdb).
#
# Ends with "ldap-coexist: N passed, N failed[, N skipped]".
# shellcheck disable=SC2317 # functions called from the trap and nt_wait_until
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
# shellcheck source=tests/lib-sshd.sh
. "$here/../lib-sshd.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts ldap-coexist

skip_all() {
        echo "skipped: LDAP coexistence: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
}

if [ -z "${BENCH_LDAP_TMP:-}" ]; then
        [ "$(id -u)" -eq 0 ] || skip_all "it needs root (slapd, nslcd, sshd, bind mounts)"
        [ -x "$NT_SSHD" ] || skip_all "$NT_SSHD is missing (install openssh-server)"
        for p in ssh ssh-keygen sshpass timeout unshare pam-auth-update ldapmodify; do
                command -v "$p" >/dev/null 2>&1 || skip_all "$p is missing"
        done
        for f in /usr/share/pam-configs/ldap /usr/share/pam-configs/unix /etc/pam.d/sshd /var/cache/debconf; do
                [ -e "$f" ] || skip_all "$f is missing (libpam-ldapd, libpam-runtime, openssh-server)"
        done
        # slapd and nslcd, then this script again in their namespace.
        BENCH_LDAP_NSS="files systemd ldap" sh "$NT_TOP/tests/bench/ldap-baseline.sh" "$NT_BUILD" -- \
                sh "$0" "$NT_BUILD"
        rc=$?
        case $rc in
        77) skip_all "tests/bench/ldap-baseline.sh cannot run here (see above)" ;;
        125) nt_fail "tests/bench/ldap-baseline.sh could not set up slapd and nslcd (see above)"
             nt_finish ;;
        esac
        exit "$rc"
fi

# ---- inside ldap-baseline.sh's namespace: slapd and nslcd are running --------

[ "${NT_IN_PRIVATE_NS:-}" = 1 ] || { nt_fail "not in a private mount namespace"; nt_finish; }
nt_tmpdir
nt_trap
setup() { # DESC COMMAND...: a set-up step that must work
        _d=$1
        shift
        "$@" || { nt_fail "set-up: $_d"; nt_finish; }
}

moddir=$(nt_sshd_moddir) || { nt_fail "no system PAM module directory with pam_unix.so"; nt_finish; }
[ -f "$moddir/pam_ldap.so" ] || { nt_fail "$moddir/pam_ldap.so is missing"; nt_finish; }
nt_sshd_asan_env || skip_all "the module is built with ASan but its runtime $asan_rt is missing"

buser=$BENCH_LDAP_USER
pw_ldap=$(cat "$BENCH_LDAP_PASSWORD_FILE") || { nt_fail "reading the LDAP password"; nt_finish; }
umask 077
if ! { pw_bench_api=$(nt_canary_new) && pw_nina=$(nt_canary_new) && wrong=$(nt_canary_new); }; then
        nt_fail "canaries"
        nt_finish
fi

# benchuser gets a shell that runs `id` and a home pam_mkhomedir can make.
printf 'dn: uid=%s,ou=people,%s\nchangetype: modify\nreplace: loginShell\nloginShell: /bin/sh\n-\nreplace: homeDirectory\nhomeDirectory: /home/%s\n' \
        "$buser" "$BENCH_LDAP_SUFFIX" "$buser" >"$NT_TMP/modify.ldif"
setup "ldapmodify $buser" ldapmodify -x -H "$BENCH_LDAP_ADMIN_URI" -D "$BENCH_LDAP_ROOTDN" \
        -y "$BENCH_LDAP_ROOTPW_FILE" -f "$NT_TMP/modify.ldif" >"$NT_LOGS/ldapmodify.log" 2>&1
buid=$(getent passwd "$buser" | cut -d: -f3)
entry=$(getent passwd "$buser" | cut -d: -f6-)
if [ "$entry" = "/home/$buser:/bin/sh" ] && ! grep -q "^$buser:" /etc/passwd; then
        nt_pass "$buser (uid $buid) comes from LDAP only (nslcd), with a shell and a home"
else
        nt_fail "$buser is not set up in LDAP ('$entry')"
        nt_finish
fi

# /home, /run/sshd, /run/systemd/userdb (ldap-baseline.sh's /run is private
# already), the login records.
setup "a private /home" mkdir -m 0755 "$NT_TMP/home"
setup "bind-mounting /home" nt_bind "$NT_TMP/home" /home
setup "/run/sshd" mkdir -m 0755 /run/sshd
setup "/run/systemd/userdb" mkdir -m 0755 /run/systemd /run/systemd/userdb
for f in /var/log/wtmp /var/log/btmp /var/log/lastlog; do
        [ -f "$f" ] || continue
        b=$NT_TMP/$(basename "$f")
        setup "an empty $b" touch "$b"
        setup "chmod $b" chmod 0600 "$b"
        setup "bind-mounting $f" nt_bind "$b" "$f"
done

# ---- the mock API and neostrad --------------------------------------------------

{
        printf '{"users": {"%s@example.com": {"password": "%s", "roles": ["admin"]},\n' "$buser" "$pw_bench_api"
        printf '           "nina@example.com": {"password": "%s", "roles": ["admin"]}}}\n' "$pw_nina"
} >"$NT_TMP/users.json"
setup "mock API start" nt_mock_start "$NT_TMP/users.json"
conf=$NT_TMP/coexist.conf
sock=$(nt_socket_path coexist)
{
        cat <<EOF
[api]
url = http://127.0.0.1:$NT_MOCK_HTTP_PORT
timeout = 3s

[users]
email_template = %u@example.com

EOF
        # userdb on, its socket where nss-systemd looks (in the private /run).
        nt_daemon_config coexist | sed -e 's/^userdb = no$/userdb = yes/' \
                -e 's|^userdb_socket = .*|userdb_socket = /run/systemd/userdb/io.neostra|'
} >"$conf"
chmod 0600 "$conf"
setup "neostrad --test-config" "$NT_BUILD/neostrad" -c "$conf" --test-config >"$NT_LOGS/test-config.log" 2>&1
setup "neostrad start" nt_daemon_start coexist "$conf"
dpid=$NT_LAST_PID

# ---- PAM: what pam-auth-update writes with both profiles -------------------------

# Copies of everything pam-auth-update reads or writes, so the host's stay
# as they are: /etc/pam.d, the profiles, its saved state and debconf's
# database (it records the chosen profiles there).
setup "copying /etc/pam.d" cp -a /etc/pam.d "$NT_TMP/pam.d"
setup "copying the profiles" cp -a /usr/share/pam-configs "$NT_TMP/pam-configs"
setup "adding ours" cp "$NT_TOP/packaging/debian/pam-configs/neostra" \
        "$NT_TOP/packaging/debian/pam-configs/neostra-groups" "$NT_TMP/pam-configs/"
setup "copying debconf's database" cp -a /var/cache/debconf "$NT_TMP/debconf"
setup "an empty /var/lib/pam" mkdir -m 0755 "$NT_TMP/var-lib-pam"
setup "bind-mounting /etc/pam.d" nt_bind "$NT_TMP/pam.d" /etc/pam.d
setup "bind-mounting /usr/share/pam-configs" nt_bind "$NT_TMP/pam-configs" /usr/share/pam-configs
setup "bind-mounting /var/lib/pam" nt_bind "$NT_TMP/var-lib-pam" /var/lib/pam
setup "bind-mounting /var/cache/debconf" nt_bind "$NT_TMP/debconf" /var/cache/debconf
# A fresh state (nothing seen yet): every profile that is on by default, as
# on a host that installs both packages.  --force: the copied common-*
# files may carry local changes.
if DEBIAN_FRONTEND=noninteractive pam-auth-update --package --force >"$NT_LOGS/pam-auth-update.log" 2>&1; then
        nt_pass "pam-auth-update wrote common-* with the profiles: $(tr '\n' ' ' </var/lib/pam/seen)"
else
        nt_fail "pam-auth-update: $(cat "$NT_LOGS/pam-auth-update.log")"
        nt_finish
fi
for f in auth account session password; do
        grep -v '^#' "/etc/pam.d/common-$f" | grep . | sed "s/^/common-$f: /"
done >"$NT_LOGS/pam-auth-update.stack"
neo_line=$(grep -n 'pam_neostra\.so use_first_pass' /etc/pam.d/common-auth | cut -d: -f1)
ldap_line=$(grep -n 'pam_ldap\.so' /etc/pam.d/common-auth | cut -d: -f1)
if [ -n "$neo_line" ] && [ -n "$ldap_line" ] && [ "$neo_line" -lt "$ldap_line" ] &&
   grep -q 'default=die\].*pam_neostra\.so use_first_pass' /etc/pam.d/common-auth &&
   grep -q 'pam_ldap\.so' /etc/pam.d/common-account; then
        nt_pass "common-auth asks pam_neostra (default=die) before pam_ldap; both have an account line"
else
        nt_fail "the generated stack is not the one this test is about:"
        sed 's/^/  | /' "$NT_LOGS/pam-auth-update.stack"
fi
# pam_neostra.so: the built module, with this test's socket and config.
for f in /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-session; do
        sed -i "s#\([[:space:]]\)pam_neostra\.so\([[:space:]]\|\$\)#\1$NT_BUILD/pam_neostra.so socket=$sock config=$conf\2#" "$f" ||
                { nt_fail "rewriting $f"; nt_finish; }
done
sed 's/^/  | /' "$NT_LOGS/pam-auth-update.stack"

setup "sshd start" nt_sshd_start "$buser" nina
nt_pass "sshd (pid $spid) listens on 127.0.0.1:$port${asan_rt:+ (ASan runtime preloaded)}, /etc/pam.d/sshd is Debian's"

# ---- logins ---------------------------------------------------------------------

# The API's record of every request about EMAIL (the mock keeps them all).
api_requests_about() { # EMAIL
        nt_http GET "$NT_MOCK_HTTP_PORT" /_control/requests | "$NT_PYTHON" -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin)["requests"] if r.get("email") == sys.argv[1]))' "$1"
}
not_ours_lines() {
        grep -c " notOurs; user=$buser " "$NT_LOGS/coexist.log"
}

echo "# daemon running"
if expect_session "$buser" "$pw_ldap" "$buser, LDAP password (pam_ldap)"; then
        has_group benchusers && nt_pass "$buser: LDAP group benchusers in the session"
        [ -d "/home/$buser" ] && nt_pass "$buser: pam_mkhomedir made /home/$buser (the session stack ran)"
fi
expect_refused "$buser" "$pw_bench_api" "$buser with the API's password for $buser@example.com" password
expect_refused "$buser" "$wrong" "$buser, wrong password" password
expect_session nina "$pw_nina" "nina, Neostra password (pam_neostra)"
expect_refused nina "$wrong" "nina, wrong password" password
expect_refused nina "$pw_ldap" "nina with benchuser's LDAP password" password

n=$(api_requests_about "$buser@example.com")
if [ "$n" = 0 ]; then
        nt_pass "the API got no request about $buser@example.com"
else
        nt_fail "the API got $n request(s) about $buser@example.com"
fi
n=$(api_requests_about nina@example.com)
if [ "${n:-0}" -ge 2 ]; then
        nt_pass "nina's logins went to the API ($n sign-ins)"
else
        nt_fail "the API saw '$n' sign-ins for nina (expected at least 2)"
fi
if [ "$(not_ours_lines)" -ge 1 ]; then
        nt_pass "neostrad answered NotOurUser for $buser (an account of another NSS source)"
else
        nt_fail "no notOurs decision for $buser in neostrad's log"
fi
if getent passwd "$buser" | grep -q "^$buser:x:$buid:"; then
        nt_pass "getent passwd $buser is still LDAP's entry (uid $buid): neostrad published nothing for it"
else
        nt_fail "getent passwd $buser: $(getent passwd "$buser")"
fi

echo "# daemon stopped"
nt_stop "$dpid" neostrad-coexist
st=$?
if [ "$st" -eq 0 ]; then nt_pass "neostrad stopped cleanly"; else nt_fail "neostrad exited with $st"; fi
if expect_session "$buser" "$pw_ldap" "daemon down: $buser, LDAP password"; then
        within 10 "daemon down: $buser's login"
fi
expect_refused "$buser" "$wrong" "daemon down: $buser, wrong password" password
expect_refused nina "$pw_nina" "daemon down: nina (no cache, no daemon)" password
n=$(api_requests_about "$buser@example.com")
[ "$n" = 0 ] && nt_pass "still no request about $buser@example.com at the API"
[ "$n" = 0 ] || nt_fail "the API got $n request(s) about $buser@example.com"

# ---- the end ----------------------------------------------------------------

nt_sshd_no_children
nt_end_checks
grep -q 'Sanitizer' "$sshd_log" && nt_fail "sanitizer output in sshd's log"
leaks=
for pw in "$pw_ldap" "$pw_bench_api" "$pw_nina" "$wrong"; do
        l=$(nt_find_canary "$pw" "$NT_TMP" "$BENCH_LDAP_TMP" |
                grep -v -x -e "$NT_TMP/users.json" -e "$BENCH_LDAP_PASSWORD_FILE")
        [ -z "$l" ] || leaks="$leaks $l"
done
if [ -z "$leaks" ]; then
        nt_pass "no password in any file of the test (logs of slapd, nslcd, sshd, neostrad, the mock)"
else
        nt_fail "passwords found in:$leaks"
fi
if [ "$NT_FAILED" -ne 0 ]; then
        echo "---- $sshd_log (tail)"
        tail -n 40 "$sshd_log"
        echo "---- neostrad (tail)"
        tail -n 20 "$NT_LOGS/coexist.log"
fi
nt_finish
