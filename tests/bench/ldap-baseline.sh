#!/bin/sh
# ldap-baseline.sh BUILDDIR -- CMD [ARGS...]: the pam_ldap -> nslcd -> slapd
# baseline of `make bench` (issue 6), from Debian's own packages (slapd,
# nslcd, libpam-ldapd, libnss-ldapd; packaging/bench-deps.txt), set up and
# torn down around one command.
#
# Nothing on the host changes.  The script runs itself again in a private
# mount namespace (as tests/lib.sh nt_private_ns does: unshare --mount,
# propagation private) and, there only, bind-mounts files of its temporary directory
# ($NT_TMP, removed at the end) over:
#   /etc/nslcd.conf     nslcd has no option for another configuration file
#   /etc/nsswitch.conf  the host's, with "passwd/group/shadow: files ldap"
#                       (see below why; BENCH_LDAP_NSS="files systemd ldap"
#                       gives other sources, as tests/integration/ldap-coexist.sh
#                       needs)
#   /run                a private directory holding only nslcd/ (nslcd's
#                       socket and pid file: pam_ldap and libnss_ldap have
#                       /run/nslcd/socket compiled in) and lock/; the host
#                       has no /run/nslcd to mount over, and a private /run
#                       also keeps nscd's socket, should one run, out of it
# slapd and nslcd are started by this script and stopped by their PIDs (on
# every way out: tests/lib.sh nt_stop_all from the EXIT trap); they listen
# on 127.0.0.1 and on sockets inside $NT_TMP only.
#
# The directory, as a small Debian deployment has it:
#   slapd   slapd.conf-style config (-f), back_mdb, suffix dc=bench,dc=example,
#           rootdn cn=admin,dc=bench,dc=example with an {SSHA} rootpw,
#           Debian's default indexes (objectClass; cn,uid; uidNumber,gidNumber;
#           member,memberUid) and ACLs (userPassword: self write, anonymous
#           auth), slapd's default 16 threads, loglevel none; listening on
#           ldap://127.0.0.1:PORT (a free port) and ldapi://$NT_TMP/ldapi;
#           run as root in the foreground (-d 0), output in $NT_LOGS/slapd.log.
#   users   benchuser, uidNumber 10000, gidNumber 10000 (group benchusers),
#           posixAccount + shadowAccount + inetOrgPerson, userPassword
#           {SSHA} (slappasswd's and Debian's default scheme; slapd checks it
#           itself, no crypt(3)).  The password is a fresh canary
#           (nt_canary_new) and reaches slappasswd and ldapwhoami by file
#           only, never a command line.
#   nslcd   uri ldap://127.0.0.1:PORT/, base dc=bench,dc=example, anonymous
#           lookups, ssl off (loopback), threads 5 (nslcd's default; set
#           BENCH_LDAP_NSLCD_THREADS to change it), uid/gid nslcd as
#           Debian's default config has it, log to $NT_LOGS/nslcd.log at
#           level info (the default level).  Run with -n (no fork, no debug
#           output), tracked by PID.
#   PAM     a service file in $NT_TMP/pam.d (for pam_start_confdir):
#             auth    required pam_ldap.so minimum_uid=1000
#             account required pam_ldap.so minimum_uid=1000
#           minimum_uid=1000 as Debian's pam-auth-update profile
#           (/usr/share/pam-configs/ldap) sets it.  With it pam_ldap looks
#           the user up with getpwnam() in both steps, and nslcd only checks
#           shadow attributes at acct_mgmt when nsswitch.conf says "shadow:
#           ... ldap": that is why nsswitch.conf lists ldap, as installing
#           libnss-ldapd on a real machine does.
#
# CMD runs in the namespace, with stdin kept, and these in its environment:
#   BENCH_LDAP_CONFDIR         the directory holding the PAM service file
#   BENCH_LDAP_SERVICE         the service's name (ldap-bench)
#   BENCH_LDAP_USER            benchuser
#   BENCH_LDAP_PASSWORD_FILE   its password, one line without a newline, 0600
#   BENCH_LDAP_URI             ldap://127.0.0.1:PORT/ (for information)
#   BENCH_LDAP_ADMIN_URI, BENCH_LDAP_ROOTDN, BENCH_LDAP_ROOTPW_FILE
#                              ldapi:// socket, rootdn and its password file,
#                              for ldapadd/ldapmodify -x -D ... -y ...
#   BENCH_LDAP_SUFFIX          dc=bench,dc=example
#   BENCH_LDAP_SLAPD_PID, BENCH_LDAP_NSLCD_PID   the daemons (to watch
#                              their CPU time or RSS; stopping them is ours)
#   BENCH_LDAP_TMP             the temporary directory, removed at the end
# The exit status is CMD's; 125 when the set-up failed (the reason on
# stderr, with the tails of slapd's and nslcd's logs), 77 when the baseline
# cannot run here at all (not root, a package or unshare missing).
# Set-up takes well under a second when the machine is idle.
# shellcheck disable=SC2317 # functions called from the trap and nt_wait_until
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

usage() {
        echo "usage: $0 BUILDDIR -- CMD [ARGS...]" >&2
        exit 2
}
if [ $# -lt 3 ] || [ "$2" != "--" ]; then
        usage
fi
nt_init "$here/../.." "$1"

SUFFIX=dc=bench,dc=example
ROOTDN=cn=admin,$SUFFIX
PEOPLE=ou=people,$SUFFIX
BUSER=benchuser
BUID=10000
SERVICE=ldap-bench
THREADS=${BENCH_LDAP_NSLCD_THREADS:-5}
NSS_SOURCES=${BENCH_LDAP_NSS:-files ldap}
SLAPD=/usr/sbin/slapd
NSLCD=/usr/sbin/nslcd

skip() {
        echo "ldap-baseline: skipped: $*" >&2
        exit 77
}
setup_failed() {
        echo "ldap-baseline: set-up failed: $*" >&2
        for l in "$NT_LOGS/slapd.log" "$NT_LOGS/nslcd.log"; do
                [ -s "$l" ] || continue
                echo "---- $l (tail)" >&2
                tail -n 15 "$l" >&2
        done
        exit 125
}

[ "$(id -u)" -eq 0 ] || skip "it needs root (bind mounts, slapd, nslcd)"
for p in "$SLAPD" "$NSLCD" /usr/sbin/slapadd /usr/sbin/slappasswd; do
        [ -x "$p" ] || skip "$p is missing (make bench-deps)"
done
for p in ldapsearch ldapwhoami getent unshare mount umount; do
        command -v "$p" >/dev/null 2>&1 || skip "$p is missing (make bench-deps)"
done
moddir=
for d in /usr/lib/x86_64-linux-gnu/security /lib/x86_64-linux-gnu/security \
         /usr/lib64/security /lib64/security /usr/lib/security /lib/security; do
        if [ -f "$d/pam_ldap.so" ]; then moddir=$d; break; fi
done
[ -n "$moddir" ] || skip "pam_ldap.so is missing (libpam-ldapd; make bench-deps)"
[ -f /etc/nslcd.conf ] || skip "/etc/nslcd.conf is missing (nslcd; nothing to bind-mount over)"
getent passwd nslcd >/dev/null || skip "there is no user nslcd (nslcd)"
case $THREADS in
""|*[!0-9]*) setup_failed "BENCH_LDAP_NSLCD_THREADS must be a number" ;;
esac
case $NSS_SOURCES in
*[!a-z\ ]*|"") setup_failed "BENCH_LDAP_NSS must be NSS source names (letters and spaces)" ;;
esac

# tests/lib.sh nt_private_ns, but keyed to our own PID (unshare execs, so
# the PID stays): a caller that is itself in a private namespace (and
# exports NT_IN_PRIVATE_NS=1) still gets a fresh namespace for us.
if [ "${BENCH_LDAP_NS:-}" != "$$" ]; then
        command -v unshare >/dev/null 2>&1 || skip "unshare is missing (a private mount namespace is needed)"
        BENCH_LDAP_NS=$$ NT_IN_PRIVATE_NS=1 exec unshare --mount --propagation private sh "$0" "$@"
fi
unset BENCH_LDAP_NS
# Never mount anything in the namespace we were started in.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink "/proc/$PPID/ns/mnt")" ]; then
        echo "ldap-baseline: not in a mount namespace of our own; not mounting anything" >&2
        exit 125
fi
# unshare --propagation private did this already; nothing we mount may
# propagate back to the host, whatever unshare's defaults are.
mount --make-rprivate / || setup_failed "mount --make-rprivate /"

shift 2 # BUILDDIR --: what is left is CMD

nt_tmpdir
# nt_bind's mounts are undone by nt_cleanup once everything that uses them
# has stopped (the namespace drops them anyway when we end).
nt_trap

t0=$(nt_now_cs)
umask 077
password=$(nt_canary_new) || setup_failed "no canary password"
pwfile=$NT_TMP/password
printf '%s' "$password" >"$pwfile" || setup_failed "writing $pwfile"
chmod 0600 "$pwfile"

# ---- slapd ------------------------------------------------------------------

sdir=$NT_TMP/slapd
mkdir -m 0700 "$sdir" "$sdir/db" || setup_failed "mkdir $sdir"
# -T: the password from a file, never on a command line.  The root
# password is another random one nobody needs to know.
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$sdir/rootpw"
userhash=$(slappasswd -h '{SSHA}' -T "$pwfile") || setup_failed "slappasswd"
roothash=$(slappasswd -h '{SSHA}' -T "$sdir/rootpw") || setup_failed "slappasswd"
port=$(nt_free_port) || setup_failed "no free port"
ldapi_path=$NT_TMP/ldapi
ldapi=ldapi://$(printf '%s' "$ldapi_path" | sed 's#/#%2F#g')
uri=ldap://127.0.0.1:$port/

cat >"$sdir/slapd.conf" <<EOF
# slapd for the pam_ldap baseline of make bench (tests/bench/ldap-baseline.sh)
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $sdir/slapd.pid
argsfile $sdir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
loglevel none

database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "$ROOTDN"
rootpw $roothash
directory $sdir/db
index objectClass eq
index cn,uid eq
index uidNumber,gidNumber eq
index member,memberUid eq
access to attrs=userPassword
        by self write
        by anonymous auth
        by * none
access to attrs=shadowLastChange
        by self write
        by * read
access to *
        by * read
EOF

today=$(( $(date +%s) / 86400 ))
cat >"$sdir/data.ldif" <<EOF
dn: $SUFFIX
objectClass: top
objectClass: dcObject
objectClass: organization
o: neostra bench
dc: bench

dn: $PEOPLE
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: cn=benchusers,ou=groups,$SUFFIX
objectClass: posixGroup
cn: benchusers
gidNumber: $BUID
memberUid: $BUSER

dn: uid=$BUSER,$PEOPLE
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: shadowAccount
uid: $BUSER
cn: Bench User
sn: User
uidNumber: $BUID
gidNumber: $BUID
homeDirectory: /nonexistent
loginShell: /usr/sbin/nologin
shadowLastChange: $today
shadowMax: 99999
shadowWarning: 7
userPassword: $userhash
EOF

slapadd -q -f "$sdir/slapd.conf" -l "$sdir/data.ldif" >"$NT_LOGS/slapadd.log" 2>&1 ||
        { cat "$NT_LOGS/slapadd.log" >&2; setup_failed "slapadd"; }

# -d 0: stay in the foreground (our child, stopped by PID), no debug output
# (BENCH_LDAP_SLAPD_DEBUG=stats shows each connection and operation instead).
nt_spawn slapd "$SLAPD" -d "${BENCH_LDAP_SLAPD_DEBUG:-0}" -f "$sdir/slapd.conf" -h "$uri $ldapi" \
        </dev/null >>"$NT_LOGS/slapd.log" 2>&1
slapd_pid=$NT_LAST_PID

slapd_answers() {
        _nt_gone "$slapd_pid" && return 0 # noticed below
        ldapsearch -x -LLL -o nettimeout=2 -H "$uri" -b "$SUFFIX" -s base dn >/dev/null 2>&1
}
nt_wait_until 15 "slapd to answer on $uri" slapd_answers || setup_failed "slapd does not answer"
_nt_gone "$slapd_pid" && setup_failed "slapd exited at start"
# The user's password works by a simple bind (the file is read whole, no newline).
ldapwhoami -x -H "$uri" -D "uid=$BUSER,$PEOPLE" -y "$pwfile" >/dev/null 2>&1 ||
        setup_failed "slapd refuses benchuser's password"
ldapwhoami -x -H "$ldapi" -D "$ROOTDN" -y "$sdir/rootpw" >/dev/null 2>&1 ||
        setup_failed "slapd refuses the rootdn on $ldapi"

# ---- the namespace's /etc/nslcd.conf, /etc/nsswitch.conf, /run --------------

umask 022
cat >"$NT_TMP/nslcd.conf" <<EOF
# nslcd for the pam_ldap baseline of make bench (tests/bench/ldap-baseline.sh)
uid nslcd
gid nslcd
uri $uri
base $SUFFIX
# loopback: no TLS
ssl off
threads $THREADS
log $NT_LOGS/nslcd.log info
EOF
chmod 0640 "$NT_TMP/nslcd.conf"
sed -E "s/^(passwd|group|shadow):.*/\\1:         $NSS_SOURCES/" /etc/nsswitch.conf >"$NT_TMP/nsswitch.conf" ||
        setup_failed "writing nsswitch.conf"
for m in passwd group shadow; do
        grep -q "^$m: *$NSS_SOURCES\$" "$NT_TMP/nsswitch.conf" || echo "$m:         $NSS_SOURCES" >>"$NT_TMP/nsswitch.conf"
done
chmod 0644 "$NT_TMP/nsswitch.conf"
if ! { mkdir -m 0755 "$NT_TMP/run" "$NT_TMP/run/nslcd" && mkdir -m 1777 "$NT_TMP/run/lock" &&
        chown nslcd:nslcd "$NT_TMP/run/nslcd"; }; then
        setup_failed "making a private /run"
fi
# The log is opened while nslcd is still root; keep it ours.
: >"$NT_LOGS/nslcd.log"

nt_bind "$NT_TMP/nslcd.conf" /etc/nslcd.conf || setup_failed "bind-mounting /etc/nslcd.conf"
nt_bind "$NT_TMP/nsswitch.conf" /etc/nsswitch.conf || setup_failed "bind-mounting /etc/nsswitch.conf"
nt_bind "$NT_TMP/run" /run || setup_failed "bind-mounting a private /run"
if [ ! -d /run/nslcd ] || [ -e /run/nslcd/socket ]; then
        setup_failed "the private /run is not in place"
fi

# ---- nslcd --------------------------------------------------------------------

# -n: no fork and, unlike -d, no debug output.
nt_spawn nslcd "$NSLCD" -n </dev/null >>"$NT_LOGS/nslcd.out" 2>&1
nslcd_pid=$NT_LAST_PID
nslcd_ready() {
        _nt_gone "$nslcd_pid" && return 0 # noticed below
        [ -S /run/nslcd/socket ] && getent passwd "$BUSER" >/dev/null
}
nt_wait_until 15 "nslcd to resolve $BUSER" nslcd_ready || setup_failed "nslcd does not answer"
if _nt_gone "$nslcd_pid"; then
        cat "$NT_LOGS/nslcd.out" >&2
        setup_failed "nslcd exited at start"
fi
entry=$(getent passwd "$BUSER")
[ "$entry" = "$BUSER:x:$BUID:$BUID:Bench User:/nonexistent:/usr/sbin/nologin" ] ||
        setup_failed "getent passwd $BUSER says '$entry'"

# ---- PAM ------------------------------------------------------------------------

mkdir -m 0755 "$NT_TMP/pam.d" || setup_failed "mkdir $NT_TMP/pam.d"
cat >"$NT_TMP/pam.d/$SERVICE" <<EOF
# pam_ldap -> nslcd -> slapd, arguments as Debian's pam-auth-update profile
auth    required $moddir/pam_ldap.so minimum_uid=1000
account required $moddir/pam_ldap.so minimum_uid=1000
EOF
chmod 0644 "$NT_TMP/pam.d/$SERVICE"

t1=$(nt_now_cs)
echo "ldap-baseline: slapd (pid $slapd_pid) on $uri, nslcd (pid $nslcd_pid, $THREADS threads); set-up took $(( (t1 - t0) * 10 )) ms" >&2

# ---- the command ----------------------------------------------------------------

export BENCH_LDAP_CONFDIR="$NT_TMP/pam.d"
export BENCH_LDAP_SERVICE="$SERVICE"
export BENCH_LDAP_USER="$BUSER"
export BENCH_LDAP_PASSWORD_FILE="$pwfile"
export BENCH_LDAP_URI="$uri"
export BENCH_LDAP_ADMIN_URI="$ldapi" BENCH_LDAP_ROOTDN="$ROOTDN" BENCH_LDAP_ROOTPW_FILE="$sdir/rootpw"
export BENCH_LDAP_SUFFIX="$SUFFIX"
export BENCH_LDAP_SLAPD_PID="$slapd_pid" BENCH_LDAP_NSLCD_PID="$nslcd_pid"
export BENCH_LDAP_TMP="$NT_TMP"
# Tracked like the daemons, so a signal stops it too; stdin is kept (an
# asynchronous command would get /dev/null otherwise).
exec 3<&0
"$@" 0<&3 3<&- &
_nt_track $! "$1"
exec 3<&-
nt_wait "$NT_LAST_PID"
rc=$?
exit "$rc"
