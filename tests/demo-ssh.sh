#!/bin/sh
# tests/demo-ssh.sh BUILDDIR: the SSH part of `make demo`.  A user who
# exists only in the mock API (erin) logs in through OpenSSH's real sshd
# and runs `id`.  As in tests/integration/sshd-e2e.sh (a compact copy of
# its set-up): as root only, in a private mount namespace (this script
# re-executes itself under unshare), where /etc/pam.d/sshd (the README's
# common-* examples), /home, /run (sshd's privilege separation directory
# and /run/systemd/userdb for neostrad's userdb socket), the login records
# and, if needed, /etc/nsswitch.conf are bind-mounted over; the mounts
# vanish with the namespace, nothing on the host changes.  sshd listens on
# 127.0.0.1 only and is stopped by its PID with the rest.  Skips (exit 0,
# saying why) without root, openssh-server, ssh, sshpass or unshare.
# shellcheck disable=SC2317 # functions called from the trap and nt_wait_until
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
nt_init "$top" "${1:?usage: demo-ssh.sh BUILDDIR}"
SSHD=/usr/sbin/sshd

skip() { echo "(skipped: $*)"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "this part needs root (sshd, bind mounts in a private namespace)"
[ -x "$SSHD" ] || skip "$SSHD is missing (install openssh-server)"
for p in ssh ssh-keygen sshpass unshare; do
        case $p in sshpass) pkg=sshpass ;; unshare) pkg=util-linux ;; *) pkg=openssh-client ;; esac
        command -v "$p" >/dev/null 2>&1 || skip "$p is missing (install $pkg)"
done
{ [ -f /etc/pam.d/sshd ] && [ -d /home ] && [ -d /run ]; } || skip "/etc/pam.d/sshd, /home or /run is missing"
nt_private_ns "$@" || skip "unshare is missing"
if [ "${NT_IN_PRIVATE_NS:-}" != 1 ] ||
   [ "$(readlink /proc/self/ns/mnt)" = "$(readlink "/proc/$PPID/ns/mnt")" ]; then
        skip "no private mount namespace; not mounting anything"
fi
moddir=
for d in /usr/lib/x86_64-linux-gnu/security /lib/x86_64-linux-gnu/security \
         /usr/lib64/security /lib64/security /usr/lib/security /lib/security; do
        if [ -f "$d/pam_unix.so" ]; then moddir=$d; break; fi
done
[ -n "$moddir" ] || skip "no system PAM module directory with pam_unix.so"

nt_tmpdir
nt_trap
show() { printf '$ %s\n' "$*"; }

# The ASan module needs the ASan runtime in sshd.
sshd_env=
asan_rt=$(ldd "$NT_BUILD/pam_neostra.so" 2>/dev/null | awk '/libasan/ { print $3 }')
[ -z "$asan_rt" ] ||
        sshd_env="LD_PRELOAD=$asan_rt ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=0"

mkdir -m 0755 "$NT_TMP/home" "$NT_TMP/run" "$NT_TMP/run/sshd" "$NT_TMP/run/systemd" \
        "$NT_TMP/run/systemd/userdb" || nt_die "mkdir"
{ nt_bind "$NT_TMP/home" /home && nt_bind "$NT_TMP/run" /run; } || nt_die "bind-mounting /home and /run"
for f in /var/log/wtmp /var/log/btmp /var/log/lastlog; do
        [ -f "$f" ] || continue
        b=$NT_TMP/$(basename "$f")
        { : >"$b" && chmod 0600 "$b" && nt_bind "$b" "$f"; } || nt_die "bind-mounting $f"
done
if ! grep -qE '^passwd:.*systemd' /etc/nsswitch.conf || ! grep -qE '^group:.*systemd' /etc/nsswitch.conf ||
   ! grep -qE '^shadow:.*systemd' /etc/nsswitch.conf; then
        printf 'passwd: files systemd\ngroup: files systemd\nshadow: files systemd\n' >"$NT_TMP/nsswitch.conf"
        chmod 0644 "$NT_TMP/nsswitch.conf"
        nt_bind "$NT_TMP/nsswitch.conf" /etc/nsswitch.conf || nt_die "bind-mounting nsswitch.conf"
fi

# erin exists only at the mock API (no local account, no local group).
getent passwd erin >/dev/null && skip "a local user erin exists"
pw=erin-demo-password
printf '{"users": {"erin@example.com": {"password": "%s", "roles": ["admin", "dev"]}}}\n' "$pw" \
        >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || nt_die "the mock API did not start"
conf=$NT_TMP/ssh.conf
sock=$(nt_socket_path ssh)
cat >"$conf" <<EOC
[api]
url = http://127.0.0.1:$NT_MOCK_HTTP_PORT
timeout = 3s

[users]
email_template = %u@example.com

[access]
allow_roles = admin dev

[groups]
admin = adm
dev = neo-dev

EOC
echo "neostrad: the demo's [api], [users], [access], [groups] as above but [groups] dev = neo-dev"
echo "(no such local group: neostrad publishes it), and [identities] userdb = yes with its socket"
echo "at /run/systemd/userdb/io.neostra, where nss-systemd looks"
nt_daemon_config ssh | sed -e 's/^userdb = no$/userdb = yes/' \
        -e 's|^userdb_socket = .*|userdb_socket = /run/systemd/userdb/io.neostra|' >>"$conf"
chmod 0600 "$conf"
nt_daemon_start ssh "$conf" || nt_die "neostrad did not start"

# /etc/pam.d/sshd = the README's common-auth, -account, -session examples.
for f in auth account session; do
        nt_pam_rewrite "socket=$sock config=$conf" "$moddir" <"$top/packaging/pam/common-$f.example"
done >"$NT_TMP/pam.sshd"
chmod 0644 "$NT_TMP/pam.sshd"
nt_bind "$NT_TMP/pam.sshd" /etc/pam.d/sshd || nt_die "bind-mounting /etc/pam.d/sshd"
echo "/etc/pam.d/sshd (in this namespace only): packaging/pam/common-{auth,account,session}.example"

ssh-keygen -q -t ed25519 -N '' -C demo -f "$NT_TMP/hostkey" </dev/null || nt_die "ssh-keygen"
port=$(nt_free_port)
cat >"$NT_TMP/sshd_config" <<EOC
ListenAddress 127.0.0.1:$port
HostKey $NT_TMP/hostkey
PidFile none
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication yes
PubkeyAuthentication no
AuthorizedKeysFile none
PermitRootLogin no
AllowUsers erin
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
LogLevel INFO
EOC
sshd_log=$NT_LOGS/sshd.log
# As in sshd-e2e.sh: a child subreaper collects the orphans of sshd's
# connections, so nothing outlives the demo.
# shellcheck disable=SC2086 # sshd_env is empty or a list of assignments
nt_spawn sshd "$NT_PYTHON" -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
os.execv(sys.argv[1], sys.argv[1:])' \
        /usr/bin/env $sshd_env "$SSHD" -D -e -f "$NT_TMP/sshd_config" >>"$sshd_log" 2>&1 </dev/null
spid=$NT_LAST_PID
listening() { grep -q "Server listening on 127.0.0.1 port $port" "$sshd_log" || _nt_gone "$spid"; }
if ! nt_wait_until 10 "sshd to listen" listening || _nt_gone "$spid"; then
        sed 's/^/  | /' "$sshd_log"
        nt_die "sshd did not start"
fi
echo "sshd (pid $spid) listens on 127.0.0.1:$port"

show "getent passwd erin      # nothing yet: a name never seen is published to sshd, login and su only"
getent passwd erin || echo "-> exit $?"
show "export SSHPASS=$pw"
show "sshpass -e ssh -p $port erin@127.0.0.1 id"
SSHPASS=$pw timeout 30 sshpass -e ssh -F /dev/null -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
        -o PubkeyAuthentication=no -o LogLevel=ERROR -p "$port" erin@127.0.0.1 id </dev/null
rc=$?
echo "-> exit $rc"
show "getent passwd erin      # signed in once: published by neostrad through userdb"
getent passwd erin
show "ls -ld /home/erin       # made by pam_mkhomedir"
ls -ld /home/erin
show "getent group neo-dev    # published by neostrad"
getent group neo-dev

no_children() { [ -z "$(pgrep -P "$spid")" ]; }
nt_wait_until 10 "sshd's connection children to exit" no_children
nt_stop_all
echo "sshd, neostrad and the mock API stopped; the namespace's mounts go with it"
exit "$rc"
