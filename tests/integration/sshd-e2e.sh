#!/bin/sh
# sshd-e2e.sh BUILDDIR: end to end through OpenSSH's real sshd.
#
# /usr/sbin/sshd runs in the foreground (-D -e), started by this script and
# stopped by its PID, on 127.0.0.1 and a free high port, with a private
# sshd_config and a host key generated here.  Everything it reads that is
# not ours to change is replaced inside a private mount namespace only
# (nt_private_ns), by bind mounts that vanish with it:
#   /etc/pam.d/sshd    the README's common-auth + common-account +
#                      common-session examples, rewritten exactly as
#                      pam-stacks.sh does (pam_neostra.so -> the built module
#                      with socket= and config= for this test's daemon)
#   /etc/passwd, /etc/group, /etc/shadow   copies with the test users
#   /home              an empty private directory: pam_mkhomedir must make
#                      the homes, so their existence proves it ran
#   /run               a private directory holding /run/sshd (privilege
#                      separation; Debian's sshd refuses to start without it)
#                      and /run/systemd/userdb, where neostrad binds its
#                      userdb socket for nss-systemd
#   /etc/nsswitch.conf only when the host's does not ask systemd for passwd,
#                      group and shadow
#   /var/log/{wtmp,btmp,lastlog}   empty copies, so no login is recorded
#                      on the host
# Nothing is contacted but 127.0.0.1: the mock API, neostrad's socket and
# sshd.
#
# Users: alice (roles admin, ops) and carol (role guest) exist at the mock
# API and locally with a locked password "!" (local accounts pre-created
# for Neostra users, so listed in [users] local_accounts: local wins, they
# are never published); localuser has a local password and is listed
# nowhere (not ours: never sent); dave is a local account with a local
# password whose name the mock API knows too, with another password (the
# API's dave@example.com must not log in as the local dave); olga is a
# local account listed in local_accounts that keeps a local password.
# erin (roles admin, dev)
# exists only at the mock API, in none of the passwd, group or shadow copies:
# sshd, id and getent see her through nss-systemd, which finds neostrad's
# userdb socket at /run/systemd/userdb/io.neostra (the daemon binds it
# there itself, in the private /run, so it is the live socket after a
# restart too) and gets a provisional record before her first login
# ([identities] first_login, on by default).  [access] allow_roles = admin
# ops dev and [groups] admin = adm, ops = neo-ops, dev = neo-dev: adm and
# neo-ops exist locally, neo-dev does not, so neostrad publishes it.
# allow_roles has a second role besides "admin" so that a user who loses
# one role upstream still logs in and `id` can show that its group is gone
# (alice loses admin and adm, erin dev and neo-dev; with one role alone
# they would simply be refused).
#
# sshd logs at DEBUG3, the only level at which it names pam_acct_mgmt's
# result (the final scan proves no password reaches that log either).
#
# localuser logs in with the daemon running and stopped, through the
# README's stack and through one that asks pam_neostra first
# ("[success=done authinfo_unavail=ignore ignore=ignore user_unknown=ignore
# default=die] pam_neostra.so", then pam_unix; the README's account lines
# with the Debian package's control for pam_neostra, which ignores an
# unavailable daemon, and the README's session lines): sshd calls
# pam_setcred and the session hooks in another process than
# authentication, and none of them may fail a user pam_neostra did not
# authenticate: with the daemon stopped, olga (ours by local_accounts, so
# not decided locally) logs in with her local password through the
# second stack too.
#
# Logins are `sshpass -e ssh ... USER@127.0.0.1 id`; the password is in
# SSHPASS only, never on a command line.  Under an ASan build the module
# needs the ASan runtime in sshd: libasan is preloaded into sshd (which
# re-executes itself per connection with the same environment) with
# detect_leaks=0, as sshd leaks by design.
# Ends with "sshd-e2e: N passed, N failed[, N skipped]".
# shellcheck disable=SC2317 # functions called from the trap and nt_wait_until
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"
# shellcheck source=tests/lib-sshd.sh
. "$here/../lib-sshd.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts sshd-e2e

examples=$NT_TOP/packaging/pam

skip_all() {
        echo "skipped: sshd end to end: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
}
[ "$(id -u)" -eq 0 ] || skip_all "it needs root (sshd, pam_unix reading /etc/shadow, bind mounts)"
[ -x "$NT_SSHD" ] || skip_all "$NT_SSHD is missing (install openssh-server)"
for p in ssh ssh-keygen sshpass openssl timeout unshare; do
        command -v "$p" >/dev/null 2>&1 || skip_all "$p is missing"
done
[ -f /etc/pam.d/sshd ] || skip_all "/etc/pam.d/sshd is missing (nothing to bind-mount over)"
if [ ! -d /home ] || [ ! -d /run ]; then
        skip_all "/home or /run is missing (nothing to bind-mount over)"
fi
nt_private_ns "$@" || skip_all "unshare is missing (a private mount namespace is needed)"
[ "${NT_IN_PRIVATE_NS:-}" = 1 ] || skip_all "not in a private mount namespace"
nt_own_ns

nt_tmpdir
nt_trap

for p in "$NT_BUILD/neostrad" "$NT_BUILD/pam_neostra.so"; do
        [ -e "$p" ] || { nt_fail "$p is missing"; nt_finish; }
done
moddir=$(nt_sshd_moddir) || { nt_fail "no system PAM module directory with pam_unix.so"; nt_finish; }
# The ASan module cannot be loaded into an sshd without the ASan runtime.
nt_sshd_asan_env || skip_all "the module is built with ASan but its runtime $asan_rt is missing"

# ---- users, only inside this mount namespace ------------------------------

umask 077
if ! { pw_localuser=$(nt_canary_new) && pw_alice=$(nt_canary_new) && pw_carol=$(nt_canary_new) &&
        pw_erin=$(nt_canary_new) && pw_dave=$(nt_canary_new) && pw_dave_api=$(nt_canary_new) && pw_olga=$(nt_canary_new) &&
        wrong=$(nt_canary_new); }; then
        nt_fail "canaries"
        nt_finish
fi

nt_add_test_user localuser 4300 || { nt_fail "adding localuser"; nt_finish; }
# Appended to the mounted copies in place (cp cannot copy a bind-mounted
# file onto itself): the bind mounts see the additions.
echo "alice:x:4301:4301:pam_neostra test user:/nonexistent:/bin/sh" >>"$NT_TMP/passwd"
echo "carol:x:4302:4302:pam_neostra test user:/nonexistent:/bin/sh" >>"$NT_TMP/passwd"
echo "dave:x:4303:4303:pam_neostra test user:/nonexistent:/bin/sh" >>"$NT_TMP/passwd"
echo "olga:x:4304:4304:pam_neostra test user:/nonexistent:/bin/sh" >>"$NT_TMP/passwd"
printf 'alice:x:4301:\ncarol:x:4302:\ndave:x:4303:\nolga:x:4304:\nneo-ops:x:4390:\n' >>"$NT_TMP/group"
# Homes under /home (a private directory below), a shell that runs `id`.
sed "s#^\(localuser\|alice\|carol\|dave\|olga\):\(x:[0-9]*:[0-9]*:[^:]*\):[^:]*:[^:]*\$#\1:\2:/home/\1:/bin/sh#" \
        "$NT_TMP/passwd" >"$NT_TMP/passwd.new" && cat "$NT_TMP/passwd.new" >"$NT_TMP/passwd"
chmod 0644 "$NT_TMP/passwd" "$NT_TMP/group"
for u in localuser alice carol dave olga; do
        e=$(getent passwd "$u" | cut -d: -f6-)
        [ "$e" = "/home/$u:/bin/sh" ] || { nt_fail "test user $u is not set up ('$e')"; nt_finish; }
done
getent group neo-ops >/dev/null || { nt_fail "group neo-ops is not set up"; nt_finish; }
getent group adm >/dev/null || { nt_fail "this system has no group adm"; nt_finish; }
if grep -q '^neo-dev:' /etc/group; then nt_fail "group neo-dev exists locally"; nt_finish; fi

hash() { # PASSWORD: a SHA-512 crypt hash; the password goes through stdin
        printf '%s\n' "$1" | openssl passwd -6 -stdin
}
today=$(( $(date +%s) / 86400 ))
{
        cat /etc/shadow
        printf 'localuser:%s:%s:0:99999:7:::\n' "$(hash "$pw_localuser")" "$today"
        printf 'dave:%s:%s:0:99999:7:::\n' "$(hash "$pw_dave")" "$today"
        printf 'olga:%s:%s:0:99999:7:::\n' "$(hash "$pw_olga")" "$today"
        printf 'alice:!:%s:0:99999:7:::\n' "$today"
        printf 'carol:!:%s:0:99999:7:::\n' "$today"
} >"$NT_TMP/shadow" || { nt_fail "writing the shadow copy"; nt_finish; }
chmod 0640 "$NT_TMP/shadow"
nt_bind "$NT_TMP/shadow" /etc/shadow || { nt_fail "bind-mounting the shadow copy"; nt_finish; }

# /home: empty, so the homes pam_mkhomedir makes are new.
if ! { mkdir -m 0755 "$NT_TMP/home" && nt_bind "$NT_TMP/home" /home; }; then
        nt_fail "bind-mounting a private /home"
        nt_finish
fi
# /run: private, with the privilege separation directory sshd chroots to
# (root-owned, not group or world writable, as sshd insists).
if ! { mkdir -m 0755 "$NT_TMP/run" "$NT_TMP/run/sshd" && mkdir -m 0755 "$NT_TMP/run/systemd" "$NT_TMP/run/systemd/userdb" &&
        nt_bind "$NT_TMP/run" /run; }; then
        nt_fail "bind-mounting a private /run"
        nt_finish
fi
# Login records go to private empty files, not the host's.
for f in /var/log/wtmp /var/log/btmp /var/log/lastlog; do
        [ -f "$f" ] || continue
        b=$NT_TMP/$(basename "$f")
        if ! { : >"$b" && chmod 0600 "$b" && nt_bind "$b" "$f"; }; then
                nt_fail "bind-mounting $f"
                nt_finish
        fi
done
if [ -z "$(ls -A /home)" ] && [ -d /run/sshd ] && getent shadow localuser >/dev/null; then
        nt_pass "namespace: private /etc/shadow, /etc/passwd, /etc/group, /home (empty), /run/sshd"
else
        nt_fail "namespace: the private files are not in place"
        nt_finish
fi

# ---- mock API, daemon -------------------------------------------------------

erin_roles='["admin", "dev"]'
users_json() { # ALICE_ROLES [ERIN_ROLES] (JSON lists): rewrite the mock's users file
        erin_roles=${2:-$erin_roles}
        {
                printf '{"users": {"alice@example.com": {"password": "%s", "roles": %s},\n' "$pw_alice" "$1"
                printf '           "erin@example.com": {"password": "%s", "roles": %s},\n' "$pw_erin" "$erin_roles"
                printf '           "dave@example.com": {"password": "%s", "roles": ["admin"]},\n' "$pw_dave_api"
                printf '           "carol@example.com": {"password": "%s", "roles": ["guest"]}}}\n' "$pw_carol"
        } >"$NT_TMP/users.json.new" && mv "$NT_TMP/users.json.new" "$NT_TMP/users.json"
}
users_json '["admin", "ops"]'
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

conf=$NT_TMP/e2e.conf
sock=$(nt_socket_path e2e)
{
        cat <<EOF
[api]
url = http://127.0.0.1:$NT_MOCK_HTTP_PORT
timeout = 3s

[users]
email_template = %u@example.com
local_accounts = alice carol olga

[access]
allow_roles = admin ops dev

[groups]
admin = adm
ops = neo-ops
dev = neo-dev

EOF
        # userdb on, its socket where nss-systemd looks (in the private /run).
        nt_daemon_config e2e | sed -e 's/^userdb = no$/userdb = yes/' \
                -e 's|^userdb_socket = .*|userdb_socket = /run/systemd/userdb/io.neostra|'
        printf '\n[cache]\noffline = no\n'
} >"$conf"
# nss-systemd must be asked for users, groups and shadow entries (in this
# namespace only): pam_unix's account step refuses a user whose passwd
# entry says "x" when no shadow entry is found.
if ! grep -qE '^passwd:.*systemd' /etc/nsswitch.conf || ! grep -qE '^group:.*systemd' /etc/nsswitch.conf ||
   ! grep -qE '^shadow:.*systemd' /etc/nsswitch.conf; then
        printf 'passwd: files systemd\ngroup: files systemd\nshadow: files systemd\n' >"$NT_TMP/nsswitch.conf"
        chmod 0644 "$NT_TMP/nsswitch.conf"
        nt_bind "$NT_TMP/nsswitch.conf" /etc/nsswitch.conf || { nt_fail "bind-mounting nsswitch.conf"; nt_finish; }
fi
chmod 0600 "$conf"
if ! "$NT_BUILD/neostrad" -c "$conf" --test-config >"$NT_LOGS/test-config.log" 2>&1; then
        nt_fail "neostrad --test-config: $(cat "$NT_LOGS/test-config.log")"
        nt_finish
fi
nt_daemon_start e2e "$conf" || { nt_fail "neostrad start"; nt_finish; }
dpid=$NT_LAST_PID

# ---- /etc/pam.d/sshd ------------------------------------------------------------

# As in pam-stacks.sh (lib.sh nt_pam_rewrite).
rewrite() {
        nt_pam_rewrite "socket=$sock config=$conf" "$moddir"
}
for f in auth account session; do
        rewrite <"$examples/common-$f.example"
done >"$NT_TMP/pam.sshd"
chmod 0644 "$NT_TMP/pam.sshd"
cp "$NT_TMP/pam.sshd" "$NT_TMP/pam.sshd.readme"
# The other stack: pam_neostra first, then pam_unix; the README's account
# lines with the package's control for pam_neostra
# (packaging/debian/pam-configs/neostra), and its session lines.
{
        printf 'auth [success=done authinfo_unavail=ignore ignore=ignore user_unknown=ignore default=die] pam_neostra.so\n'
        printf 'auth required pam_unix.so nullok try_first_pass\n'
} | rewrite >"$NT_TMP/pam.sshd.first"
rewrite <"$examples/common-account.example" |
        sed 's/^account \[success=ok ignore=ignore default=bad\]\( *\)\(.*pam_neostra\.so\)/account [success=ok ignore=ignore user_unknown=ignore authinfo_unavail=ignore default=bad]\1\2/' \
        >>"$NT_TMP/pam.sshd.first"
rewrite <"$examples/common-session.example" >>"$NT_TMP/pam.sshd.first"
if grep -q 'authinfo_unavail=ignore default=bad\].*pam_neostra\.so' "$NT_TMP/pam.sshd.first"; then
        nt_pass "the pam_neostra-first stack is written (package's account control)"
else
        nt_fail "the pam_neostra-first stack has no package account line:"
        sed 's/^/  | /' "$NT_TMP/pam.sshd.first"
fi
nt_bind "$NT_TMP/pam.sshd" /etc/pam.d/sshd || { nt_fail "bind-mounting /etc/pam.d/sshd"; nt_finish; }
# Undo the rewriting: what is left must be the example lines, verbatim.
sed -e "s# socket=$sock config=$conf##" -e "s#$NT_BUILD/pam_neostra\.so#pam_neostra.so#" \
    -e "s#$moddir/##" /etc/pam.d/sshd >"$NT_TMP/pam.sshd.undone"
for f in auth account session; do
        grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$examples/common-$f.example"
done >"$NT_TMP/pam.sshd.expected"
bad_mods=$(sed -n 's#.*[[:space:]]\(/[^[:space:]]*\.so\)\([[:space:]].*\)*$#\1#p' /etc/pam.d/sshd |
        while read -r mod; do [ -f "$mod" ] || echo "$mod"; done)
if grep -q pam_mkhomedir /etc/pam.d/sshd && [ -z "$bad_mods" ] &&
   cmp -s "$NT_TMP/pam.sshd.undone" "$NT_TMP/pam.sshd.expected"; then
        nt_pass "/etc/pam.d/sshd (here only) = README's common-auth, -account, -session verbatim, module paths resolved"
else
        nt_fail "/etc/pam.d/sshd is not the examples verbatim (or a module is missing: $bad_mods)"
        diff "$NT_TMP/pam.sshd.expected" "$NT_TMP/pam.sshd.undone" | sed 's/^/  | /'
fi
sed 's/^/  | /' /etc/pam.d/sshd "$NT_TMP/pam.sshd.first" >"$NT_LOGS/pam.sshd.log"

# ---- sshd ------------------------------------------------------------------

if ! nt_sshd_start alice carol localuser erin dave olga; then
        nt_fail "sshd did not start"
        nt_finish
fi
nt_pass "sshd (pid $spid) listens on 127.0.0.1:$port${asan_rt:+ (ASan runtime preloaded)}"

# ---- helpers -----------------------------------------------------------------


signins() {
        nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats 2>/dev/null |
                sed -n 's/.*"signins": *\([0-9][0-9]*\).*/\1/p'
}
# use_stack readme|first: /etc/pam.d/sshd's content (the bind-mounted file,
# rewritten in place; sshd reads it at every connection).
use_stack() {
        cat "$NT_TMP/pam.sshd.$1" >"$NT_TMP/pam.sshd"
}
# local_logins WHEN: localuser, listed nowhere, logs in over SSH with her
# local password through both stacks; `id` runs in the session; sshd logs
# no pam_setcred failure; nothing reaches the API.
local_logins() {
        for _stack in readme first; do
                use_stack "$_stack"
                _m=$(log_mark)
                _n0=$(signins)
                if expect_session localuser "$pw_localuser" "$1, $_stack stack: localuser (local password)"; then
                        if has_group adm || has_group neo-ops; then
                                nt_fail "$1, $_stack stack: localuser has a Neostra group: $(id_line)"
                        fi
                        within 5 "$1, $_stack stack: localuser's login"
                fi
                if log_since "$_m" | grep -q 'pam_setcred()\|pam_open_session()'; then
                        nt_fail "$1, $_stack stack: sshd logged a setcred or session failure:"
                        log_since "$_m" | grep 'pam_setcred()\|pam_open_session()' | sed 's/^/  | /'
                fi
                _n1=$(signins)
                if [ -n "$_n0" ] && [ "$_n0" = "$_n1" ]; then
                        nt_pass "$1, $_stack stack: localuser: nothing sent to the API"
                else
                        nt_fail "$1, $_stack stack: localuser: sign-ins went from $_n0 to $_n1"
                fi
        done
        use_stack readme
}

# ---- daemon and API up -------------------------------------------------------

echo "# daemon and API up"
n0=$(signins)
if [ -e /home/alice ]; then
        nt_fail "/home/alice exists before the first login"
fi
if expect_session alice "$pw_alice" "alice (admin, ops), first login, right password"; then
        if has_group adm && has_group neo-ops; then
                nt_pass "alice: id shows the mapped groups adm and neo-ops"
        else
                nt_fail "alice: id does not show adm and neo-ops: $(id_line)"
        fi
        if grep -q 'Could not chdir' "$NT_TMP/ssh.out"; then
                nt_fail "alice: the session could not enter her home"; show_out
        fi
fi
if [ -d /home/alice ] && [ "$(stat -c '%U %a' /home/alice)" = "alice 700" ]; then
        nt_pass "alice: pam_mkhomedir made /home/alice, owner alice, mode 700"
else
        nt_fail "alice: /home/alice: $(stat -c '%U %a' /home/alice 2>&1)"
fi
n1=$(signins)
if [ -n "$n0" ] && [ "$n1" = $((n0 + 1)) ]; then
        nt_pass "alice: exactly one sign-in reached the API"
else
        nt_fail "alice: sign-ins at the API went from $n0 to $n1 (expected one more)"
fi

expect_refused alice "$wrong" "alice, wrong password" password

if expect_refused carol "$pw_carol" "carol (guest), right password" account; then
        if [ ! -e /home/carol ]; then
                nt_pass "carol: no home was made for her"
        else
                nt_fail "carol: /home/carol was made"
        fi
fi

local_logins "daemon running"

# A local account whose name the API also knows: the API's password does
# not open it, and neither password is sent.
n0=$(signins)
expect_refused dave "$pw_dave_api" "dave (local account), the API's dave@example.com password" password
if expect_session dave "$pw_dave" "dave, his local password"; then
        if has_group adm; then
                nt_fail "dave: id shows the API user's group adm: $(id_line)"
        else
                nt_pass "dave: no group of the API's dave"
        fi
fi
n1=$(signins)
if [ -n "$n0" ] && [ "$n0" = "$n1" ]; then
        nt_pass "dave: nothing sent to the API"
else
        nt_fail "dave: sign-ins went from $n0 to $n1"
fi

# A role removed upstream: the next login has lost its group.
users_json '["ops"]'
if expect_session alice "$pw_alice" "alice after her admin role was removed upstream"; then
        if ! has_group adm && has_group neo-ops; then
                nt_pass "alice: id no longer shows adm (still neo-ops): $(id_line)"
        else
                nt_fail "alice: expected neo-ops without adm: $(id_line)"
        fi
fi
users_json '[]'
expect_refused alice "$pw_alice" "alice with no role left upstream" account

# ---- erin: only in the API, published through userdb ----------------------

echo "# erin: userdb only"
# Before her first login erin's provisional record goes only to the programs
# a first login asks through (sshd, login, su, as root): getent and id
# copied under those names ask as they would; plain getent and id see no
# such user.
mkdir -p "$NT_TMP/as-sshd" "$NT_TMP/as-login"
cp "$(command -v getent)" "$NT_TMP/as-sshd/sshd"
cp "$(command -v id)" "$NT_TMP/as-login/login"
GETENT=getent ID=id
erin_pw() { $GETENT passwd erin | cut -d: -f3; }
# erin_ids WHEN: getent passwd erin, getent group erin and `id erin` (run
# here, outside any SSH session) agree on uid = gid = her private group's
# gid; sets ids to "UID NEO_DEV_GID" (getent group neo-dev; "-" while
# neo-dev is not published) for the comparisons across time.
erin_ids() {
        _pw=$($GETENT passwd erin | cut -d: -f3,4)
        _gr=$($GETENT group erin | cut -d: -f3)
        _dev=$($GETENT group neo-dev | cut -d: -f3)
        _id=$($ID erin 2>&1)
        _idu=$(printf '%s\n' "$_id" | sed -n 's/^uid=\([0-9]*\)(erin) gid=\([0-9]*\)(erin) .*/\1:\2/p')
        ids="${_gr:-none} ${_dev:--}"
        if [ -n "$_gr" ] && [ "$_pw" = "$_gr:$_gr" ] && [ "$_idu" = "$_gr:$_gr" ]; then
                nt_pass "erin $1: getent passwd/group erin and id erin agree: uid = gid = $_gr; getent group neo-dev: ${_dev:-none}; $_id"
        else
                nt_fail "erin $1: getent passwd erin '$_pw', getent group erin '$_gr', id erin '$_id'"
        fi
}
# same_ids WHEN: ids as they were before her first login.
same_ids() {
        _was=$ids_before
        erin_ids "$1"
        if [ "$ids" = "$_was" ]; then
                nt_pass "erin $1: the same uid/gid and neo-dev gid as before her first login ($ids)"
        else
                nt_fail "erin $1: uid/gid and neo-dev gid '$ids', before her first login '$_was'"
        fi
}
if grep -q '^erin:' /etc/passwd /etc/shadow /etc/group; then
        nt_fail "erin is in a local file"
fi
if [ -z "$(getent passwd erin)" ] && [ -z "$(getent group erin)" ] && ! id erin >/dev/null 2>&1; then
        nt_pass "erin before any login: getent and id from a shell find no such user"
else
        nt_fail "erin before any login: getent passwd erin '$(getent passwd erin)', id erin '$(id erin 2>&1)'"
fi
GETENT=$NT_TMP/as-sshd/sshd ID=$NT_TMP/as-login/login
erin_before=$(erin_pw)
if [ -n "$erin_before" ] && [ ! -e /home/erin ]; then
        nt_pass "erin before any login, asked as sshd: $($GETENT passwd erin) (provisional, from userdb)"
else
        nt_fail "erin before any login, asked as sshd: '$($GETENT passwd erin)'"
fi
erin_ids "before her first login (asked as sshd and login)"
ids_before=$ids
GETENT=getent ID=id
if expect_session erin "$pw_erin" "erin (admin, dev; userdb only), first login, right password"; then
        if has_group adm && has_group neo-dev && id_line | grep -q "gid=$erin_before(erin)"; then
                nt_pass "erin: id shows adm, the published neo-dev and her private group: $(id_line)"
        else
                nt_fail "erin: id lacks adm, neo-dev or her private group $erin_before: $(id_line)"
        fi
fi
if [ -d /home/erin ] && [ "$(stat -c '%u %a' /home/erin)" = "$erin_before 700" ]; then
        nt_pass "erin: pam_mkhomedir made /home/erin, owner uid $erin_before, mode 700"
else
        nt_fail "erin: /home/erin: $(stat -c '%u %a' /home/erin 2>&1) (uid $erin_before expected)"
fi
erin_after=$(erin_pw)
if [ -n "$erin_before" ] && [ "$erin_after" = "$erin_before" ]; then
        nt_pass "erin: the same uid after her first login ($erin_after)"
else
        nt_fail "erin: uid $erin_before before her first login, '$erin_after' after"
fi
same_ids "after her first login"
if id erin | grep -q '[=,][0-9]*(neo-dev)'; then
        nt_pass "erin: id erin (outside the session) lists neo-dev"
else
        nt_fail "erin: id erin (outside the session) lacks neo-dev: $(id erin 2>&1)"
fi
expect_refused erin "$wrong" "erin, wrong password" password

# Her dev role removed upstream: the next login has lost neo-dev.
users_json '["admin", "ops"]' '["admin"]'
if expect_session erin "$pw_erin" "erin after her dev role was removed upstream"; then
        if ! has_group neo-dev && has_group adm; then
                nt_pass "erin: id no longer shows neo-dev (still adm): $(id_line)"
        else
                nt_fail "erin: expected adm without neo-dev: $(id_line)"
        fi
fi

# ---- daemon stopped -------------------------------------------------------

echo "# daemon stopped"
nt_stop "$dpid" neostrad-e2e
st=$?
if [ "$st" -eq 0 ]; then nt_pass "neostrad stopped cleanly"; else nt_fail "neostrad exited with $st"; fi
users_json '["admin", "ops"]'
local_logins "daemon stopped"
# olga is ours (local_accounts), so pam_neostra cannot decide her locally
# and cannot ask: auth and account say "unavailable" (ignored by this
# stack), pam_unix takes her password, and setcred and the session must
# not fail her.
use_stack first
_m=$(log_mark)
if expect_session olga "$pw_olga" "daemon stopped, first stack: olga (in local_accounts, local password)"; then
        within 5 "daemon stopped, first stack: olga's login"
fi
if log_since "$_m" | grep -q 'pam_setcred()\|pam_open_session()'; then
        nt_fail "daemon stopped, first stack: olga: sshd logged a setcred or session failure:"
        log_since "$_m" | grep 'pam_setcred()\|pam_open_session()' | sed 's/^/  | /'
fi
use_stack readme
if expect_refused alice "$pw_alice" "daemon down: alice (right password)" password; then
        within 5 "daemon down: alice's refusal"
fi

# ---- daemon restarted: erin keeps her uid -----------------------------------

echo "# daemon restarted"
if nt_daemon_start e2e "$conf"; then
        erin_restart=$(erin_pw)
        if [ -n "$erin_before" ] && [ "$erin_restart" = "$erin_before" ]; then
                nt_pass "erin: the same uid after a daemon restart ($erin_restart)"
        else
                nt_fail "erin: uid $erin_before before, '$erin_restart' after a daemon restart"
        fi
        same_ids "after a daemon restart"
else
        nt_fail "neostrad restart"
fi

# ---- the end ---------------------------------------------------------------

# sshd -D forks a child per connection; they end with their connections.
# Wait for them (and the orphans the subreaper collects), then stop the
# listener by its PID (nt_end_checks).
nt_sshd_no_children
nt_end_checks
if grep -q 'Sanitizer' "$sshd_log"; then
        nt_fail "sanitizer output in sshd's log"
fi

# No password anywhere: only the mock's users file holds Neostra passwords
# and the shadow copy a hash of localuser's.
leaks=
for pw in "$pw_localuser" "$pw_alice" "$pw_carol" "$pw_erin" "$pw_dave" "$pw_dave_api" "$pw_olga" "$wrong"; do
        l=$(nt_find_canary "$pw" "$NT_TMP" | grep -v -x -e "$NT_TMP/users.json")
        [ -z "$l" ] || leaks="$leaks $l"
done
if [ -z "$leaks" ]; then
        nt_pass "no password (right or wrong) in any file under the test directory"
else
        nt_fail "passwords found in:$leaks"
fi
if [ "$NT_FAILED" -ne 0 ]; then
        echo "---- $sshd_log (tail)"
        tail -n 40 "$sshd_log"
fi

nt_finish
