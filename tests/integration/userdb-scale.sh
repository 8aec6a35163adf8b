#!/bin/sh
# userdb-scale.sh BUILDDIR: neostrad's io.systemd.UserDatabase with a big
# cache: 100,000 users, 10,000 of whom have the role staff, which [groups]
# maps to neo-staff, a group the daemon publishes.  Answers over one 64 KiB
# message and "more" streams longer than any socket buffer: GetGroupRecord
# neo-staff with every member, GetMemberships neo-staff, and the passwd
# enumeration read slowly by a client of ours (every record, the daemon's
# VmRSS bounded, others answered meanwhile); then, through nss-systemd in
# this script's private mount namespace (the daemon's socket at
# /run/systemd/userdb/io.neostra): getent group neo-staff, id -Gn and
# id -G for members and others, getent passwd.  Under ASan (a BUILDDIR
# whose name has "asan") 20,000 users, 10,000 of them staff, and no VmRSS
# bound (ASan's quarantine keeps freed memory).  The cache is written
# straight into the daemon's own schema (userdb_scale.py populate).
# Ends with "userdb-scale: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1

nt_counts userdb-scale "$here/userdb_scale.py"

# /etc/nsswitch.conf and /run/systemd are replaced in this namespace only.
nt_private_ns "$@" || { echo "userdb-scale: skipped: unshare is missing"; echo "userdb-scale: 0 passed, 0 failed, 1 skipped"; exit 0; }
nt_tmpdir
nt_trap
started=$(nt_now_cs)

export NEOSTRA_ASAN=0
case $NT_BUILD in
*asan*) users=20000 every=2 NEOSTRA_ASAN=1
        echo "# ASan build: $users users, $((users / every)) of them staff (100,000 / 10,000 in the plain build)" ;;
*)      users=100000 every=10 ;;
esac
uid_min=2000000 uid_max=2999999

if [ ! -d /run/systemd ] || ! mount -t tmpfs -o mode=0755 neostra-test /run/systemd; then
        echo "SKIP - nss-systemd: cannot mount a private /run/systemd in this namespace"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
fi
mkdir -p /run/systemd/userdb "$NT_TMP/userdb"
ln -s "$NT_TMP/userdb/io.neostra" /run/systemd/userdb/io.neostra
# While the daemon loads, NSS is local files only: it looks up each
# cached name (is it local?), and through nss-systemd that is ~25 s for
# 100,000 names; what getent and id see later is nss-systemd's.
printf 'passwd: files\ngroup: files\nshadow: files\n' >"$NT_TMP/nsswitch.files"
printf 'passwd: files systemd\ngroup: files systemd\nshadow: files\n' >"$NT_TMP/nsswitch.systemd"
mount --bind "$NT_TMP/nsswitch.files" /etc/nsswitch.conf || { nt_fail "mounting nsswitch.conf"; nt_finish; }

{
        printf '[api]\nurl = http://127.0.0.1:%s\n\n' "$(nt_free_port)"
        printf '[users]\nemail_template = %%u@example.com\n\n'
        printf '[groups]\nstaff = %s\n\n' neo-staff
        nt_daemon_config big | sed "s/^userdb = no\$/userdb = yes\nuid_min = $uid_min\nuid_max = $uid_max/"
} >"$NT_TMP/big.conf"
sed -i "s|^userdb_socket = .*|userdb_socket = $NT_TMP/userdb/io.neostra|" "$NT_TMP/big.conf"
sock=$(nt_socket_path big)

status_users() {
        "$NT_PYTHON" "$here/varlink.py" call "$sock" io.neostra.Auth.GetStatus --timeout 5 |
                "$NT_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["parameters"]["users"])'
}
daemon_pid() {
        echo "$NT_PIDS" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):neostrad-big$/\1/p' | tail -n1
}

# The daemon makes its schema and the group's gid; the users go in while
# it is stopped.
nt_daemon_start big && "$NT_PYTHON" "$here/varlink.py" wait "$sock" --timeout 30 ||
        { nt_fail "neostrad start on an empty cache"; nt_finish; }
nt_stop "$(daemon_pid)" neostrad-big
t0=$(nt_now_cs)
pop=$("$NT_PYTHON" "$here/userdb_scale.py" populate "$NT_TMP/cache-big/neostrad.db" "$users" "$every" "$uid_min") ||
        { nt_fail "populating the cache"; nt_finish; }
nt_daemon_start big && "$NT_PYTHON" "$here/varlink.py" wait "$sock" --timeout 120 ||
        { nt_fail "neostrad did not answer with $users cached users within 120 s"; nt_finish; }
loaded=$(status_users)
if [ "$loaded" = "$users" ]; then
        nt_pass "neostrad loaded $users cached users (written in ${pop% *} s, $(( ($(nt_now_cs) - t0) / 100 )) s in all)"
else
        nt_fail "neostrad has $loaded users, not $users"
        nt_finish
fi
# Not stacked on the first: that would make its file a mount point.
umount /etc/nsswitch.conf && mount --bind "$NT_TMP/nsswitch.systemd" /etc/nsswitch.conf ||
        { nt_fail "mounting nsswitch.conf"; nt_finish; }

export NEOSTRA_SOCK="$sock" NEOSTRA_USERDB_SOCK="$NT_TMP/userdb/io.neostra" NEOSTRA_DAEMON_LOG="$NT_LOGS/big.log"
NEOSTRA_DAEMON_PID=$(daemon_pid)
export NEOSTRA_DAEMON_PID NEOSTRA_USERS=$users NEOSTRA_EVERY=$every
export NEOSTRA_UID_MIN=$uid_min NEOSTRA_UID_MAX=$uid_max NEOSTRA_GROUP_GID="${pop#* }"

nt_run_cases group_record memberships_stream slow_reader
if [ -e /lib/x86_64-linux-gnu/libnss_systemd.so.2 ] || [ -e /usr/lib/x86_64-linux-gnu/libnss_systemd.so.2 ] ||
   [ -e /lib64/libnss_systemd.so.2 ]; then
        nt_run_cases getent_group id_groups getent_passwd
else
        echo "SKIP - getent and id through nss-systemd: libnss_systemd.so.2 is not installed (Debian: libnss-systemd)"
        NT_SKIPPED=$((NT_SKIPPED + 1))
fi

if "$NT_PYTHON" "$here/varlink.py" call "$NEOSTRA_USERDB_SOCK" org.varlink.service.GetInfo >/dev/null; then
        nt_pass "the daemon answers after the big answers"
else
        nt_fail "the daemon does not answer after the big answers"
fi
echo "# userdb-scale ran $(( ($(nt_now_cs) - started) / 100 )) s"
nt_end_checks
nt_finish
