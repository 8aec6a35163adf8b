#!/bin/sh
# sudo-role.sh BUILDDIR: sudo by Neostra role, with Debian's real sudo.
#
# First (root or not): packaging/sudoers.d/neostra parses with `visudo -cf`
# as shipped (its rule commented out: it grants nothing) and with the rule
# uncommented, and README.md's /etc/pam.d/sudo block is exactly
# packaging/pam/sudo.example.
#
# Then /usr/bin/sudo (setuid root, run as the test users with setpriv) in a
# private mount namespace (nt_private_ns), where bind mounts that vanish
# with it replace what sudo reads:
#   /etc/sudoers        root's rule, a log file in the test directory, and
#                       @includedir /etc/sudoers.d
#   /etc/sudoers.d      a private directory holding packaging/sudoers.d/
#                       neostra with its rule uncommented (%neo-admin)
#   /etc/sudo.conf      "Set group_source dynamic" (and, for one case, the
#                       default instead)
#   /etc/pam.d          a copy of the host's, where sudo is
#                       packaging/pam/sudo.example and common-auth and
#                       common-account are packaging/pam/common-*.example,
#                       verbatim but for the module paths (pam_neostra.so
#                       gets socket= and config= for this test's daemon;
#                       tests/lib.sh nt_pam_rewrite, as pam-stacks.sh does)
#   /etc/nsswitch.conf  passwd, group and shadow from files and systemd,
#                       hosts from files only
#   /etc/passwd, /etc/group, /etc/shadow   copies with the local account
#                       alice (locked password)
#   /run                a private directory: neostrad binds its userdb
#                       socket at /run/systemd/userdb/io.neostra, where
#                       nss-systemd finds it, and sudo keeps its timestamps
#                       in /run/sudo
# erin (roles admin, dev) and frank (role dev) exist only at the mock API:
# sudo, id and getent see them through nss-systemd once they have signed in
# (neostractl auth, as root).  [groups] admin = neo-admin, dev = neo-dev:
# neither exists locally, so neostrad publishes both.
#
# A "session" is the list of supplementary groups `id -G USER` gives at its
# start (what initgroups gives a login); every sudo of that session runs
# with exactly those groups (setpriv --groups), as in a shell that was
# logged in then.  Passwords reach sudo on its stdin (sudo -S), never on a
# command line.
#
# The cases: root gets sudo; erin gets sudo with her password, not with a
# wrong one; frank is refused (by sudoers and by the account step);
# neostractl user shows what sudo will see.  alice (a local account listed
# in local_accounts) logs in through the README's stack and gets her role
# groups from pam_setcred: sudo lets her in with sudo.conf's default
# group_source, not with dynamic (NSS does not list them for her), and her
# role removed, the example's account step refuses her next sudo.  erin's
# role admin removed at the mock, her old session (whose groups still list
# neo-admin) is refused at once: her sudo's own sign-in brings the roles
# and the account step (allow_roles=admin) refuses; then each fence alone
# and both: group_source default without allow_roles= lets her in (the
# trap the README warns about), dynamic refuses by sudoers, allow_roles=
# refuses with either.  The role back, the first sudo is still refused
# (sudoers decides before the sign-in) and the next one works; removed
# again and erin signed in elsewhere (neostractl auth), the first sudo is
# refused; back and signed in, the first sudo works; all in the same
# session, with the same daemon.  sudo's timestamp spares the password, yet
# past account_max_age (a reload with a short one) the account step
# refuses.  With the daemon stopped, root keeps sudo, and erin (who then
# does not exist) and alice (whose password cannot be checked) are refused
# at once.  No password is left in any file (sudo's log included).
# Under an ASan build the module's runtime comes in with the module (sudo is
# setuid: no LD_PRELOAD), with verify_asan_link_order=0.
# Ends with "sudo-role: N passed, N failed[, N skipped]".
# shellcheck disable=SC2317 # functions called from the trap and nt_wait_until
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts sudo-role

SUDO=/usr/bin/sudo
shipped=$NT_TOP/packaging/sudoers.d/neostra
example=$NT_TOP/packaging/pam/sudo.example
readme=$NT_TOP/README.md
# The rule the shipped file has commented out.
RULE='%neo-admin ALL=(ALL:ALL) ALL'

# As root, the whole script runs again in a private mount namespace at once
# (nt_private_ns), so the checks below run once.
if [ "$(id -u)" -eq 0 ] && [ -u "$SUDO" ]; then
        nt_private_ns "$@"
fi

# ---- the shipped files ---------------------------------------------------------

# Lines that are not comments or blank, whitespace squeezed.
stack_lines() { # FILE
        grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" |
                sed 's/[[:space:]][[:space:]]*/ /g; s/^ //; s/ $//'
}

if [ ! -s "$shipped" ]; then
        nt_fail "$shipped is missing or empty"
elif grep -v -e '^#' -e '^[[:space:]]*$' "$shipped" | grep -q .; then
        nt_fail "packaging/sudoers.d/neostra has a line that is not a comment: $(grep -v -e '^#' -e '^[[:space:]]*$' "$shipped" | head -n1)"
elif ! grep -qxF "# $RULE" "$shipped"; then
        nt_fail "packaging/sudoers.d/neostra does not have the rule '# $RULE'"
else
        nt_pass "packaging/sudoers.d/neostra: comments only, with the rule '# $RULE' commented out"
fi
if grep -q '^#include' "$shipped"; then
        # sudoers reads "#include" and "#includedir" as directives.
        nt_fail "packaging/sudoers.d/neostra has a comment sudoers reads as #include"
fi

VISUDO=$(command -v visudo 2>/dev/null || echo /usr/sbin/visudo)
if [ -x "$VISUDO" ]; then
        nt_tmpdir
        nt_trap
        if out=$("$VISUDO" -cf "$shipped" 2>&1); then
                nt_pass "visudo -cf packaging/sudoers.d/neostra: $out"
        else
                nt_fail "visudo -cf packaging/sudoers.d/neostra: $out"
        fi
        sed "s/^# $RULE\$/$RULE/" "$shipped" >"$NT_TMP/neostra.active"
        if grep -qxF "$RULE" "$NT_TMP/neostra.active" && out=$("$VISUDO" -cf "$NT_TMP/neostra.active" 2>&1); then
                nt_pass "visudo -cf of it with the rule uncommented: $out"
        else
                nt_fail "visudo -cf of it with the rule uncommented: $out"
        fi
        nt_cleanup
        trap - EXIT HUP INT TERM
else
        echo "SKIP - visudo -cf: visudo is not installed (Debian: sudo)"
        NT_SKIPPED=$((NT_SKIPPED + 1))
fi

# README.md's block after the line naming `/etc/pam.d/sudo` is the example.
readme_block=$(awk '
        state == 0 && index($0, "`/etc/pam.d/sudo`") == 1 { state = 1; next }
        state == 1 && /^```/ { state = 2; next }
        state == 2 && /^```/ { exit }
        state == 2 { print }' "$readme" |
        grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' | sed 's/[[:space:]][[:space:]]*/ /g; s/^ //; s/ $//')
if [ ! -s "$example" ]; then
        nt_fail "$example is missing or empty"
elif [ -n "$readme_block" ] && [ "$readme_block" = "$(stack_lines "$example")" ]; then
        nt_pass "README.md's /etc/pam.d/sudo block is exactly packaging/pam/sudo.example"
else
        nt_fail "README.md's /etc/pam.d/sudo block differs from packaging/pam/sudo.example:" \
                "README: $(echo "$readme_block" | tr '\n' '|') example: $(stack_lines "$example" | tr '\n' '|')"
fi
if stack_lines "$example" | grep -qx 'account required pam_neostra.so allow_roles=admin'; then
        nt_pass "packaging/pam/sudo.example runs pam_neostra's account step with allow_roles=admin"
else
        nt_fail "packaging/pam/sudo.example has no 'account required pam_neostra.so allow_roles=admin' line"
fi

# ---- real sudo, in a private mount namespace --------------------------------------

skip_rest() {
        echo "skipped: real sudo: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
}
[ "$(id -u)" -eq 0 ] || skip_rest "it needs root (bind mounts, setpriv)"
[ -u "$SUDO" ] || skip_rest "$SUDO is missing or not setuid (install Debian's sudo)"
for p in setpriv unshare timeout getent id; do
        command -v "$p" >/dev/null 2>&1 || skip_rest "$p is missing"
done
for f in /etc/sudoers /etc/sudo.conf /etc/pam.d/sudo /etc/nsswitch.conf; do
        [ -f "$f" ] || skip_rest "$f is missing (nothing to bind-mount over)"
done
{ [ -d /etc/sudoers.d ] && [ -d /run ]; } || skip_rest "/etc/sudoers.d or /run is missing (nothing to bind-mount over)"
# sudo is setuid, so the dynamic loader ignores LD_PRELOAD in it: the ASan
# runtime of a module built with ASan comes in with the module (dlopen),
# and ASan must be told not to insist on coming first.  The module's own
# code is still checked; sudo leaks by design (detect_leaks=0).
sudo_env=LANG=C
if ldd "$NT_BUILD/pam_neostra.so" 2>/dev/null | grep -q libasan; then
        sudo_env="LANG=C ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=0"
fi
nt_private_ns "$@" || skip_rest "unshare is missing (a private mount namespace is needed)"
[ "${NT_IN_PRIVATE_NS:-}" = 1 ] || skip_rest "not in a private mount namespace"
nt_own_ns

nt_tmpdir
nt_trap
# The users reach nothing in the test directory but what sudo itself opens
# as root; the directory stays searchable for the module's config path.
chmod 0711 "$NT_TMP"

for p in "$NT_BUILD/neostrad" "$NT_BUILD/neostractl" "$NT_BUILD/pam_neostra.so"; do
        [ -e "$p" ] || { nt_fail "$p is missing"; nt_finish; }
done
moddir=
for d in "$(pkg-config --variable=libdir pam 2>/dev/null)/security" \
         /usr/lib/x86_64-linux-gnu/security /lib/x86_64-linux-gnu/security \
         /usr/lib64/security /lib64/security /usr/lib/security /lib/security; do
        if [ -f "$d/pam_unix.so" ]; then moddir=$d; break; fi
done
[ -n "$moddir" ] || { nt_fail "no system PAM module directory with pam_unix.so"; nt_finish; }

umask 077
if ! { pw_erin=$(nt_canary_new) && pw_frank=$(nt_canary_new) && pw_alice=$(nt_canary_new) &&
        wrong=$(nt_canary_new); }; then
        nt_fail "canaries"
        nt_finish
fi

# ---- mock API and daemon -----------------------------------------------------------

users_json() { # ERIN_ROLES ALICE_ROLES (JSON lists): rewrite the mock's users file
        {
                printf '{"users": {"erin@example.com": {"password": "%s", "roles": %s},\n' "$pw_erin" "$1"
                printf '           "alice@example.com": {"password": "%s", "roles": %s},\n' "$pw_alice" "$2"
                printf '           "frank@example.com": {"password": "%s", "roles": ["dev"]}}}\n' "$pw_frank"
        } >"$NT_TMP/users.json.new" && mv "$NT_TMP/users.json.new" "$NT_TMP/users.json"
}
users_json '["admin", "dev"]' '["admin", "dev"]'
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

mkdir -m 0755 "$NT_TMP/run" "$NT_TMP/run/systemd" "$NT_TMP/run/systemd/userdb" ||
        { nt_fail "making the private /run"; nt_finish; }
nt_bind "$NT_TMP/run" /run || { nt_fail "bind-mounting a private /run"; nt_finish; }

# alice: a local account made for a Neostra user (locked password, listed
# in [users] local_accounts), so neostrad never publishes her: her role
# groups reach her only through pam_setcred at login.
nt_add_test_user alice 4301 || { nt_fail "adding the local account alice"; nt_finish; }
if ! { { cat /etc/shadow; printf 'alice:!:%s:0:99999:7:::\n' "$(( $(date +%s) / 86400 ))"; } >"$NT_TMP/shadow" &&
        chmod 0640 "$NT_TMP/shadow" && nt_bind "$NT_TMP/shadow" /etc/shadow; }; then
        nt_fail "bind-mounting a shadow copy"
        nt_finish
fi

conf=$NT_TMP/sudo.conf.neostrad
sock=$(nt_socket_path sudo)
# write_conf MAX_AGE: the daemon's config, account_max_age included.
write_conf() {
        {
                printf '[api]\nurl = http://127.0.0.1:%s\ntimeout = 3s\n\n' "$NT_MOCK_HTTP_PORT"
                printf '[users]\nemail_template = %%u@example.com\nlocal_accounts = alice\n\n'
                printf '[access]\nallow_roles = admin dev\naccount_max_age = %s\n\n' "$1"
                printf '[groups]\nadmin = neo-admin\ndev = neo-dev\n\n'
                nt_daemon_config sudo | sed -e 's/^userdb = no$/userdb = yes/' \
                        -e 's|^userdb_socket = .*|userdb_socket = /run/systemd/userdb/io.neostra|'
                printf '\n[cache]\noffline = no\n'
        } >"$conf.new" && chmod 0600 "$conf.new" && mv "$conf.new" "$conf"
}
write_conf 1h
if ! "$NT_BUILD/neostrad" -c "$conf" --test-config >"$NT_LOGS/test-config.log" 2>&1; then
        nt_fail "neostrad --test-config: $(cat "$NT_LOGS/test-config.log")"
        nt_finish
fi

# ---- what sudo reads, in this namespace only ------------------------------------------

printf 'passwd: files systemd\ngroup: files systemd\nshadow: files systemd\ngshadow: files systemd\nhosts: files\nsudoers: files\n' \
        >"$NT_TMP/nsswitch.conf"
chmod 0644 "$NT_TMP/nsswitch.conf"
nt_bind "$NT_TMP/nsswitch.conf" /etc/nsswitch.conf || { nt_fail "bind-mounting nsswitch.conf"; nt_finish; }

sudo_log=$NT_LOGS/sudoers.log
cat >"$NT_TMP/sudoers" <<EOF
Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults !fqdn, !mail_no_user, !mail_badpass, !lecture
Defaults logfile=$sudo_log, !syslog
# One timestamp per user, whatever the parent process (no terminal here).
Defaults timestamp_type=global
root ALL=(ALL:ALL) ALL
@includedir /etc/sudoers.d
EOF
mkdir -m 0750 "$NT_TMP/sudoers.d"
sed "s/^# $RULE\$/$RULE/" "$shipped" >"$NT_TMP/sudoers.d/neostra"
chmod 0440 "$NT_TMP/sudoers" "$NT_TMP/sudoers.d/neostra"
if ! { nt_bind "$NT_TMP/sudoers" /etc/sudoers && nt_bind "$NT_TMP/sudoers.d" /etc/sudoers.d; }; then
        nt_fail "bind-mounting sudoers"
        nt_finish
fi
if grep -qxF "$RULE" /etc/sudoers.d/neostra && out=$("$VISUDO" -c 2>&1); then
        nt_pass "namespace: sudoers with the shipped file's rule uncommented; visudo -c: $(echo "$out" | tr '\n' ' ')"
else
        nt_fail "namespace: sudoers: $out"
        nt_finish
fi

# sudo.conf: GROUP_SOURCE is "dynamic" or "default" (sudo's own default).
sudo_conf() {
        if [ "$1" = dynamic ]; then
                printf 'Set group_source dynamic\n'
        else
                printf '# group_source: the default\n'
        fi >"$NT_TMP/sudo.conf"
}
sudo_conf dynamic
chmod 0644 "$NT_TMP/sudo.conf"
nt_bind "$NT_TMP/sudo.conf" /etc/sudo.conf || { nt_fail "bind-mounting sudo.conf"; nt_finish; }

# /etc/pam.d: the host's files, with sudo, common-auth and common-account
# from packaging/pam, rewritten as pam-stacks.sh does.
cp -a /etc/pam.d "$NT_TMP/pam.d" || { nt_fail "copying /etc/pam.d"; nt_finish; }
rewrite() {
        nt_pam_rewrite "socket=$sock config=$conf" "$moddir"
}
rewrite <"$example" >"$NT_TMP/pam.d/sudo"
rewrite <"$NT_TOP/packaging/pam/common-auth.example" >"$NT_TMP/pam.d/common-auth"
rewrite <"$NT_TOP/packaging/pam/common-account.example" >"$NT_TMP/pam.d/common-account"
# The example without allow_roles=: sudoers (the groups) decides alone.
grep -v 'pam_neostra\.so.* allow_roles=' "$NT_TMP/pam.d/sudo" >"$NT_TMP/pam.sudo.groups-only"
cp "$NT_TMP/pam.d/sudo" "$NT_TMP/pam.sudo.example"
chmod 0644 "$NT_TMP/pam.d/sudo" "$NT_TMP/pam.d/common-auth" "$NT_TMP/pam.d/common-account" \
        "$NT_TMP/pam.sudo.groups-only" "$NT_TMP/pam.sudo.example"
nt_bind "$NT_TMP/pam.d" /etc/pam.d || { nt_fail "bind-mounting /etc/pam.d"; nt_finish; }
# Undo the rewriting: what is left must be the example's lines, verbatim.
undo() {
        sed -e "s# socket=$sock config=$conf##" -e "s#$NT_BUILD/pam_neostra\.so#pam_neostra.so#" -e "s#$moddir/##" "$1"
}
bad_mods=$(sed -n 's#.*[[:space:]]\(/[^[:space:]]*\.so\)\([[:space:]].*\)*$#\1#p' /etc/pam.d/sudo |
        while read -r mod; do [ -f "$mod" ] || echo "$mod"; done)
if [ -z "$bad_mods" ] && [ "$(undo /etc/pam.d/sudo)" = "$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$example")" ] &&
   [ "$(undo /etc/pam.d/common-auth)" = "$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$NT_TOP/packaging/pam/common-auth.example")" ]; then
        nt_pass "namespace: /etc/pam.d/sudo = packaging/pam/sudo.example verbatim (and common-auth, common-account), module paths resolved"
else
        nt_fail "namespace: /etc/pam.d/sudo is not the example verbatim (or a module is missing: $bad_mods)"
        sed 's/^/  | /' /etc/pam.d/sudo
fi
# A login stack for pamcheck (pam_start_confdir, in a directory of its own):
# common-auth and common-account, rewritten the same way.
mkdir -m 0755 "$NT_TMP/pam.login"
rewrite <"$NT_TOP/packaging/pam/common-auth.example" >"$NT_TMP/pam.login/login-test"
rewrite <"$NT_TOP/packaging/pam/common-account.example" >>"$NT_TMP/pam.login/login-test"
chmod 0644 "$NT_TMP/pam.login/login-test"
# use_stack example|groups-only: /etc/pam.d/sudo (rewritten in place).
use_stack() {
        cat "$NT_TMP/pam.sudo.$1" >"$NT_TMP/pam.d/sudo"
}

nt_daemon_start sudo "$conf" || { nt_fail "neostrad start"; nt_finish; }
dpid=$NT_LAST_PID
if [ -S /run/systemd/userdb/io.neostra ]; then
        nt_pass "namespace: neostrad (pid $dpid) serves userdb at /run/systemd/userdb/io.neostra"
else
        nt_fail "no userdb socket at /run/systemd/userdb/io.neostra"
        nt_finish
fi

# ---- helpers ---------------------------------------------------------------------

# signin USER PASSWORD: one more online sign-in, as root (neostractl auth).
signin() {
        printf '%s\n' "$2" | "$NT_BUILD/neostractl" -s "$sock" auth "$1" >"$NT_TMP/signin.out" 2>&1
        _rc=$?
        { echo "== neostractl auth $1 -> $_rc"; cat "$NT_TMP/signin.out"; } >>"$NT_LOGS/signin.log"
        return $_rc
}
# login USER: a session starts: its groups are those initgroups gives now.
# Sets SESSION_<USER> (uid:gid:groups) and prints nothing.
login() {
        _uid=$(id -u "$1" 2>/dev/null) && _gid=$(id -g "$1") && _groups=$(id -G "$1" | tr ' ' ',') || return 1
        eval "SESSION_$1=\$_uid:\$_gid:\$_groups"
}
session_of() { eval "echo \"\${SESSION_$1:-}\""; }
# login_setcred USER PASSWORD: a login through the README's stack
# (tests/pamcheck -a: authenticate, acct_mgmt, then pam_setcred in a child
# that prints its groups): the session's groups are initgroups' plus the
# ones pam_setcred added (those of pamcheck's child that root does not
# have).  Sets SESSION_<USER> like login.
login_setcred() {
        PAMCHECK_PASSWORD=$2 "$NT_BUILD/tests/pamcheck" -a -d "$NT_TMP/pam.login" login-test "$1" \
                >"$NT_TMP/pamcheck.out" 2>&1
        _rc=$?
        { echo "== pamcheck -a login-test $1 -> $_rc"; cat "$NT_TMP/pamcheck.out"; } >>"$NT_LOGS/pamcheck.log"
        [ "$_rc" -eq 0 ] || return 1
        _added=$(sed -n 's/^ *supplementary groups after setcred://p' "$NT_TMP/pamcheck.out" |
                tr ' ' '\n' | sed -n 's/^.*(\([0-9][0-9]*\))$/\1/p' | while read -r _g; do
                        id -G | tr ' ' '\n' | grep -qx "$_g" || echo "$_g"
                done | tr '\n' ',')
        login "$1" || return 1
        eval "SESSION_$1=\${SESSION_$1},\${_added%,}"
}
# as_session USER COMMAND...: COMMAND as USER with exactly the session's groups.
as_session() {
        _s=$(session_of "$1")
        shift
        _u=${_s%%:*} _r=${_s#*:}
        _g=${_r%%:*} _gs=${_r#*:}
        setpriv --reuid="$_u" --regid="$_g" --groups="$_gs" -- "$@"
}
# run_sudo USER PASSWORD|- SUDO_ARGS...: sudo in USER's session (root: as
# root), the password on stdin ("-": none); sudo's output in
# $NT_TMP/sudo.out, what it logged (its sudoers logfile) in
# $NT_TMP/sudo.logged, status in $rc, time in $cs (centiseconds).
# shellcheck disable=SC2086 # sudo_env is a list of assignments
run_sudo() {
        _who=$1 _pw=$2
        shift 2
        _mark=$({ wc -l <"$sudo_log"; } 2>/dev/null || echo 0)
        _t0=$(nt_now_cs)
        if [ "$_who" = root ]; then
                (cd / && env -i PATH=/usr/bin:/bin $sudo_env timeout 60 "$SUDO" "$@") </dev/null >"$NT_TMP/sudo.out" 2>&1
        elif [ "$_pw" = - ]; then
                (cd / && as_session "$_who" env -i PATH=/usr/bin:/bin $sudo_env timeout 60 "$SUDO" "$@") \
                        </dev/null >"$NT_TMP/sudo.out" 2>&1
        else
                printf '%s\n' "$_pw" | (cd / && as_session "$_who" env -i PATH=/usr/bin:/bin $sudo_env \
                        timeout 60 "$SUDO" -S -p '' "$@") >"$NT_TMP/sudo.out" 2>&1
        fi
        rc=$?
        cs=$(( $(nt_now_cs) - _t0 ))
        tail -n +"$((_mark + 1))" "$sudo_log" 2>/dev/null | tr '\n' ' ' | sed 's/   */ /g' >"$NT_TMP/sudo.logged"
        { echo "== sudo as $_who: $* -> $rc ($((cs * 10)) ms)"; cat "$NT_TMP/sudo.out";
          echo "-- logged: $(cat "$NT_TMP/sudo.logged")"; } >>"$NT_LOGS/sudo-runs.log"
}
show_out() {
        sed 's/^/  | /' "$NT_TMP/sudo.out"
        echo "  | sudo logged: $(cat "$NT_TMP/sudo.logged")"
}
ms() { echo "$((cs * 10)) ms"; }
# expect_root DESC USER PASSWORD|- [SUDO_ARGS...]: sudo ran `id -u` as root.
expect_root() {
        _d=$1
        shift
        run_sudo "$@" id -u
        if [ "$rc" -eq 0 ] && [ "$(tail -n1 "$NT_TMP/sudo.out")" = 0 ]; then
                nt_pass "$_d: sudo id -u printed 0 ($(ms))"
                return 0
        fi
        nt_fail "$_d: sudo exited $rc after $(ms)"
        show_out
        return 1
}
# expect_refused DESC WHY USER PASSWORD|- [SUDO_ARGS...]: sudo refused, and
# its output or its log says WHY (a fixed string); with $NOT_WHY set, they
# must not say that.
expect_refused() {
        _d=$1 _why=$2
        shift 2
        run_sudo "$@" id -u
        if [ "$rc" -eq 0 ] || grep -qx 0 "$NT_TMP/sudo.out"; then
                nt_fail "$_d: not refused (exit $rc)"
        elif ! cat "$NT_TMP/sudo.out" "$NT_TMP/sudo.logged" | grep -qF -- "$_why"; then
                nt_fail "$_d: refused (exit $rc), but not with '$_why'"
        elif [ -n "${NOT_WHY:-}" ] && cat "$NT_TMP/sudo.out" "$NT_TMP/sudo.logged" | grep -qF -- "$NOT_WHY"; then
                nt_fail "$_d: refused (exit $rc), but with '$NOT_WHY' too"
        else
                nt_pass "$_d: refused (exit $rc, $(ms)): $_why"
                return 0
        fi
        show_out
        return 1
}
has_gid() { # GID LIST(comma-separated)
        case ",$2," in *",$1,"*) return 0 ;; esac
        return 1
}
# user_json USER KEY: a member of `neostractl --json user USER`.
user_json() {
        "$NT_BUILD/neostractl" -s "$sock" --json user "$1" 2>/dev/null | "$NT_PYTHON" -c 'import json, sys
v = json.load(sys.stdin).get(sys.argv[1])
print(" ".join(g["name"] if isinstance(g, dict) else str(g) for g in v) if isinstance(v, list) else v)' "$2"
}
ACCOUNT_REFUSED="PAM account management error: Permission denied"
NOT_IN_SUDOERS="user NOT in sudoers"

echo "# signed in, the daemon up"
for u in erin frank; do
        eval "_pw=\$pw_$u"
        if signin "$u" "$_pw"; then
                nt_pass "$u signs in (neostractl auth): $(cat "$NT_TMP/signin.out")"
        else
                nt_fail "$u: neostractl auth: $(cat "$NT_TMP/signin.out")"
        fi
done
admin_gid=$(getent group neo-admin | cut -d: -f3)
dev_gid=$(getent group neo-dev | cut -d: -f3)
if [ -z "$admin_gid" ] || [ -z "$dev_gid" ]; then
        nt_fail "neo-admin or neo-dev is not published"
        nt_finish
fi
if ! { login erin && login frank; }; then
        nt_fail "erin or frank does not resolve through nss-systemd"
        nt_finish
fi
erin_session0=$(session_of erin)
if has_gid "$admin_gid" "$(session_of erin | cut -d: -f3)" && ! has_gid "$admin_gid" "$(session_of frank | cut -d: -f3)"; then
        nt_pass "erin's session has neo-admin ($admin_gid), frank's does not: $(id erin); $(id frank)"
else
        nt_fail "sessions: erin $(id erin 2>&1); frank $(id frank 2>&1)"
fi

# neostractl user: what sudo will see.
"$NT_BUILD/neostractl" -s "$sock" user erin >"$NT_TMP/user-erin" 2>&1
sed 's/^/  | /' "$NT_TMP/user-erin" >>"$NT_LOGS/neostractl-user.log"
if grep -qxE 'roles: +admin, dev' "$NT_TMP/user-erin" &&
   grep -qxE "groups: +neo-admin\\($admin_gid, published\\), neo-dev\\($dev_gid, published\\)" "$NT_TMP/user-erin" &&
   grep -qxE 'published: +yes' "$NT_TMP/user-erin" &&
   grep -qxE "uid: +$(id -u erin)" "$NT_TMP/user-erin" &&
   grep -qE '^lastOnlineProof: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} .* \(([0-9]+ s|[0-9] min [0-9]+ s) ago\)$' "$NT_TMP/user-erin" &&
   grep -qE '^accessUntil: +[0-9]{4}-.* \(in (5[0-9] min [0-9]+ s|1 h 0 min)\)$' "$NT_TMP/user-erin" &&
   grep -qxE 'accountMaxAge: +3600 \(1 h 0 min\)' "$NT_TMP/user-erin" && grep -qxE 'access: +valid' "$NT_TMP/user-erin"; then
        nt_pass "neostractl user erin: roles, published groups, uid, the proof's age, when account_max_age runs out"
else
        nt_fail "neostractl user erin:"
        sed 's/^/  | /' "$NT_TMP/user-erin"
fi
if "$NT_BUILD/neostractl" -s "$sock" --json user erin | "$NT_PYTHON" -c 'import json, sys, time
u = json.load(sys.stdin)
now = time.time()
ok = (u["roles"] == ["admin", "dev"] and u["published"] is True and u["uid"] == int(sys.argv[1])
      and [(g["name"], g["published"]) for g in u["groups"]] == [("neo-admin", True), ("neo-dev", True)]
      and u["accountMaxAge"] == 3600 and 0 <= now - u["lastOnlineProof"] < 600
      and u["accessUntil"] == u["lastOnlineProof"] + 3600 and u["access"] == "valid")
sys.exit(0 if ok else 1)' "$(id -u erin)"; then
        nt_pass "neostractl --json user erin: the same (published, groups[].published, accountMaxAge, lastOnlineProof, accessUntil)"
else
        nt_fail "neostractl --json user erin: $("$NT_BUILD/neostractl" -s "$sock" --json user erin 2>&1 | tr '\n' ' ')"
fi

expect_root "root" root - -n
expect_root "erin (admin), her password" erin "$pw_erin" -k
expect_refused "erin, a wrong password" "incorrect password" erin "$wrong" -k
expect_refused "frank (dev, not admin)" "$NOT_IN_SUDOERS" frank "$pw_frank" -k
if grep -qF "$ACCOUNT_REFUSED" "$NT_TMP/sudo.logged"; then
        nt_pass "frank: the account step (allow_roles=admin) refused him as well"
else
        nt_fail "frank: the account step did not refuse him: $(cat "$NT_TMP/sudo.logged")"
fi

# ---- a local account: groups from pam_setcred only ---------------------------------

echo "# alice: a local account (local_accounts), groups from pam_setcred"
if login_setcred alice "$pw_alice"; then
        nt_pass "alice logs in (README's stack, pam_setcred): session groups $(session_of alice | cut -d: -f3)"
else
        nt_fail "alice's login:"
        sed 's/^/  | /' "$NT_TMP/pamcheck.out"
fi
"$NT_BUILD/neostractl" -s "$sock" user alice >"$NT_TMP/user-alice" 2>&1
if grep -qxE 'published: +no' "$NT_TMP/user-alice" && grep -qE "^groups: +neo-admin\\($admin_gid, published\\)" "$NT_TMP/user-alice"; then
        nt_pass "neostractl user alice: published: no (a local account: her groups come from pam_setcred only)"
else
        nt_fail "neostractl user alice:"
        sed 's/^/  | /' "$NT_TMP/user-alice"
fi
if has_gid "$admin_gid" "$(session_of alice | cut -d: -f3)" && ! id -G alice | tr ' ' '\n' | grep -qx "$admin_gid"; then
        nt_pass "alice: pam_setcred gave her session neo-admin; NSS does not list it (not published for a local account): $(id alice)"
else
        nt_fail "alice: session $(session_of alice); NSS: $(id alice)"
fi
sudo_conf default
expect_root "alice, group_source default: sudo sees her session's groups" alice "$pw_alice" -k
sudo_conf dynamic
expect_refused "alice, group_source dynamic: sudo asks NSS, which does not list neo-admin for her" \
        "$NOT_IN_SUDOERS" alice "$pw_alice" -k
users_json '["admin", "dev"]' '["dev"]'
sudo_conf default
NOT_WHY=$NOT_IN_SUDOERS expect_refused "alice's admin removed, group_source default: the example's account step refuses her next sudo" \
        "$ACCOUNT_REFUSED" alice "$pw_alice" -k
NOT_WHY=
sudo_conf dynamic

# ---- the role removed upstream ---------------------------------------------------

echo "# erin's role admin removed at the API"
users_json '["dev"]' '["dev"]'
# Her first sudo since: sudoers still sees neo-admin (neostrad has not
# heard yet), but this sudo's own sign-in brings the roles, and the account
# step's allow_roles=admin refuses.
NOT_WHY=$NOT_IN_SUDOERS expect_refused "erin's next sudo, same session: its own sign-in brings the news" \
        "$ACCOUNT_REFUSED" erin "$pw_erin" -k
if [ "$(user_json erin roles)" = dev ] && [ "$(user_json erin groups)" = neo-dev ]; then
        nt_pass "neostractl user erin: roles dev, groups neo-dev"
else
        nt_fail "neostractl user erin: roles '$(user_json erin roles)', groups '$(user_json erin groups)'"
fi
old=$(as_session erin id -G | tr ' ' ',')
if has_gid "$admin_gid" "$old" && ! id -G erin | tr ' ' '\n' | grep -qx "$admin_gid"; then
        nt_pass "erin's session still has neo-admin ($old); NSS no longer lists it ($(id erin))"
else
        nt_fail "erin's session groups '$old', NSS: $(id erin)"
fi
# The two fences, each alone and both: sudoers' group (group_source
# dynamic) and the account step's allow_roles=admin.
use_stack groups-only
sudo_conf default
expect_root "group_source default, no allow_roles=: the old session's groups still let her in (the trap)" \
        erin "$pw_erin" -k
sudo_conf dynamic
expect_refused "group_source dynamic, no allow_roles=: sudoers refuses her" "$NOT_IN_SUDOERS" erin "$pw_erin" -k
use_stack example
sudo_conf default
NOT_WHY=$NOT_IN_SUDOERS expect_refused "group_source default, the example's allow_roles=admin: the account step refuses her" \
        "$ACCOUNT_REFUSED" erin "$pw_erin" -k
sudo_conf dynamic
expect_refused "group_source dynamic and the example (as shipped): refused" "$NOT_IN_SUDOERS" erin "$pw_erin" -k
NOT_WHY=

echo "# the role back"
users_json '["admin", "dev"]' '["dev"]'
# sudo looks at the groups before it asks for the password: this sudo's own
# sign-in brings the role back, for the next one.
expect_refused "erin's first sudo after the role came back: sudoers decided before its sign-in" \
        "$NOT_IN_SUDOERS" erin "$pw_erin" -k
expect_root "erin's next sudo, same old session: sudo again" erin "$pw_erin" -k

echo "# the role removed again; erin signs in elsewhere"
users_json '["dev"]' '["dev"]'
if signin erin "$pw_erin" && grep -q 'roles dev;' "$NT_TMP/signin.out"; then
        nt_pass "erin signs in once more (neostractl auth): $(cat "$NT_TMP/signin.out")"
else
        nt_fail "erin's sign-in: $(cat "$NT_TMP/signin.out")"
fi
expect_refused "erin's old session, after that sign-in: refused by sudoers at once" "$NOT_IN_SUDOERS" erin "$pw_erin" -k
users_json '["admin", "dev"]' '["dev"]'
if signin erin "$pw_erin" && grep -q 'roles admin, dev' "$NT_TMP/signin.out"; then
        nt_pass "the role back, erin signs in once more: $(cat "$NT_TMP/signin.out")"
else
        nt_fail "erin's sign-in: $(cat "$NT_TMP/signin.out")"
fi
expect_root "erin's same old session gets sudo again, at its first sudo" erin "$pw_erin" -k
if [ "$(_nt_alive "$dpid" && echo up)" = up ] && [ "$(session_of erin)" = "$erin_session0" ]; then
        nt_pass "all in one session (the same groups since the first login) and one daemon (pid $dpid)"
else
        nt_fail "the session or the daemon changed: $(session_of erin) vs $erin_session0, pid $dpid"
fi

# ---- account_max_age -----------------------------------------------------------------

echo "# account_max_age"
expect_root "erin's sudo with her password, remembered in sudo's timestamp" erin "$pw_erin"
expect_root "erin's next sudo: no password (sudo's timestamp)" erin - -n
write_conf 2s
kill -HUP "$dpid"
expired() { [ "$(user_json erin access)" = expired ]; }
reloaded() { grep -q 'configuration reloaded' "$NT_LOGS/sudo.log"; }
if nt_wait_until 15 "the reload" reloaded && nt_wait_until 15 "erin's access to expire" expired; then
        nt_pass "reloaded with account_max_age = 2s; erin's access: expired (neostractl user)"
else
        nt_fail "erin's access did not expire: $(user_json erin access)"
fi
use_stack groups-only
sudo_conf default
NOT_WHY=$NOT_IN_SUDOERS expect_refused "past account_max_age, sudo's timestamp, the old groups: the account step refuses" \
        "$ACCOUNT_REFUSED" erin - -n
use_stack example
sudo_conf dynamic
NOT_WHY='' expect_refused "past account_max_age, as shipped: refused" "$NOT_IN_SUDOERS" erin - -n

# ---- the daemon stopped ---------------------------------------------------------------

echo "# the daemon stopped"
nt_stop "$dpid" neostrad-sudo
st=$?
if [ "$st" -eq 0 ]; then nt_pass "neostrad stopped cleanly"; else nt_fail "neostrad exited with $st"; fi
if expect_root "daemon stopped: root" root - -n; then
        if [ "$cs" -lt 500 ]; then nt_pass "daemon stopped: root's sudo took $(ms) (< 5 s)"
        else nt_fail "daemon stopped: root's sudo took $(ms)"; fi
fi
# erin exists only through neostrad: NSS does not know her now.
if expect_refused "daemon stopped: erin" "you do not exist in the passwd database" erin "$pw_erin" -k; then
        if [ "$cs" -lt 1000 ]; then nt_pass "daemon stopped: erin's refusal took $(ms) (< 10 s)"
        else nt_fail "daemon stopped: erin's refusal took $(ms)"; fi
fi
# alice still exists (a local account): her password goes through the
# stack, and pam_neostra cannot reach the daemon.
if expect_refused "daemon stopped: alice" "incorrect password" alice "$pw_alice" -k; then
        if [ "$cs" -lt 1000 ]; then nt_pass "daemon stopped: alice's refusal took $(ms) (< 10 s; the module's deadline is 30 s)"
        else nt_fail "daemon stopped: alice's refusal took $(ms)"; fi
fi

nt_end_checks
leaks=
for pw in "$pw_erin" "$pw_frank" "$pw_alice" "$wrong"; do
        l=$(nt_find_canary "$pw" "$NT_TMP" | grep -v -x -e "$NT_TMP/users.json")
        [ -z "$l" ] || leaks="$leaks $l"
done
if [ -z "$leaks" ]; then
        nt_pass "no password in any file under the test directory (sudo's log included)"
else
        nt_fail "passwords found in:$leaks"
fi
nt_finish
