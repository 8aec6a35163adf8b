#!/bin/sh
# make demo: real PAM logins through the built pam_neostra.so and neostrad
# against the bundled mock API, all in a temporary directory; nothing on
# the host (/etc/pam.d, users, services) is touched.  Stops what it started.
# Then, as root, an SSH login through the real sshd of a user who exists
# only in the API (tests/demo-ssh.sh, in a private mount namespace).
#
#   tests/demo.sh BUILDDIR
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
nt_init "$top" "${1:?usage: demo.sh BUILDDIR}"
nt_tmpdir
nt_trap

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; }

step "The mock Neostra API (tests/mock_api.py) and its users"
sed -n 's/^ *"\([a-z]*@example.com\)".*/\1/p' "$top/tests/users.example.json" | tr '\n' ' '
echo
cp "$top/tests/users.example.json" "$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || nt_die "the mock API did not start"
echo "listening on http://127.0.0.1:$NT_MOCK_HTTP_PORT"

step "neostrad with this configuration"
cat >"$NT_TMP/demo.conf" <<EOF
[api]
url = http://127.0.0.1:$NT_MOCK_HTTP_PORT
timeout = 3s

[users]
email_template = %u@example.com

[access]
allow_roles = admin dev

[groups]
admin = adm
dev = users

EOF
cat "$NT_TMP/demo.conf"
nt_daemon_config demo >>"$NT_TMP/demo.conf"
nt_daemon_start demo || nt_die "neostrad did not start"
sock=$(nt_socket_path demo)

# One PAM service file, in a private directory (pam_start_confdir).
mkdir -p "$NT_TMP/pam.d"
for t in auth account session; do
        echo "$t required $NT_BUILD/pam_neostra.so socket=$sock config=$NT_TMP/demo.conf"
done >"$NT_TMP/pam.d/demo"
step "The PAM service file (in a private directory, not /etc/pam.d)"
cat "$NT_TMP/pam.d/demo"

login() { # description user password
        step "$1"
        show "pamcheck -a demo $2   (password: $3)"
        PAMCHECK_PASSWORD=$3 "$NT_BUILD/tests/pamcheck" -a -d "$NT_TMP/pam.d" demo "$2"
        echo "-> exit $?"
}

login "alice (roles dev, admin), right password: allowed, role groups added" alice alice-demo-password
login "alice, wrong password: the API refuses" alice not-her-password
login "carol (role guest), right password: refused at account time" carol carol-demo-password
login "root: a local system account, never sent (the module ignores it, this stack then denies)" root anything

step "What the daemon says"
show "neostractl status"
"$NT_BUILD/neostractl" --socket "$sock" status
show "neostractl user alice"
"$NT_BUILD/neostractl" --socket "$sock" user alice

step "The API goes away"
nt_stop "$NT_MOCK_PID" mock_api
echo "mock API stopped"
login "bob (role dev) while the API is down: authinfo unavailable, at once" bob bob-demo-password

step "The daemon's decisions (its log; the journal when systemd runs it)"
grep -E 'Authenticate|CheckAccount' "$NT_LOGS/demo.log" | sed 's/^neostrad\[[0-9]*\]: //'

step "Stopping everything"
nt_stop_all
echo "done; $NT_TMP is removed"

# The SSH part runs in a mount namespace of its own (tests/demo-ssh.sh
# re-executes itself under unshare); it skips, saying why, without root,
# openssh-server or sshpass.  Its failure is shown, not fatal to the demo.
step "SSH: erin exists only in the API; sshd sees her through neostrad's userdb (tests/demo-ssh.sh)"
sh "$top/tests/demo-ssh.sh" "$NT_BUILD" || echo "(the SSH part failed: exit $?)"
