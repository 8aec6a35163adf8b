#!/bin/sh
# tests/pam/run-pamtest.sh BUILDDIR: the PAM tests.  Drives the built
# pam_neostra.so through libpamtest under pam_wrapper against real neostrad
# instances and the mock sign-in API, then checks that the canary password
# leaked nowhere and that every process we started exited cleanly.
#
# Output: the pamtest binary's cmocka report, the shell-level checks as
# "pamtest-shell: N passed, N failed", and last a combined cmocka-style
# summary (cmocka's counts plus the shell checks), which is what
# tests/run-tests.sh counts.  The exit status is the result.
#
# NEOSTRA_CANARY (optional): the canary password to use; see tests/lib.sh.
set -u

[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
nt_init "$top" "$1"

binary=$NT_BUILD/tests/pamtest
module=$NT_BUILD/pam_neostra.so

skip() {
        echo "pamtest: skipped: $*"
        echo "pamtest: 0 passed, 0 failed, 1 skipped"
        exit 0
}
for f in "$binary" "$module" "$NT_BUILD/neostrad"; do
        [ -e "$f" ] || nt_die "$f is missing; run make BUILDDIR=... tests-build"
done
nt_have_pam_wrapper || skip "libpam_wrapper.so is not installed (apt-get install libpam-wrapper)"
[ "$(id -u)" -eq 0 ] || skip "needs root: setcred calls setgroups(), the peer test setuid()s to a test user"
# The peer test needs an ordinary local account; it exists only in this
# script's own mount namespace.
nt_private_ns "$@" || skip "unshare is missing: the peer test needs a private mount namespace"
pwrap_modules=$(pkg-config --variable=modules pam_wrapper 2>/dev/null)
[ -n "$pwrap_modules" ] || pwrap_modules=/usr/lib/x86_64-linux-gnu/pam_wrapper
set_items=$pwrap_modules/pam_set_items.so
[ -e "$set_items" ] || skip "pam_wrapper's pam_set_items.so not found in $pwrap_modules"
pam_dir=$(pkg-config --variable=libdir pam 2>/dev/null)/security
[ -e "$pam_dir/pam_permit.so" ] || pam_dir=/lib/x86_64-linux-gnu/security
for m in pam_permit.so pam_deny.so; do
        [ -e "$pam_dir/$m" ] || skip "$m not found in $pam_dir"
done

nt_tmpdir
nt_trap
nt_add_test_user neostra-peer 4242 || nt_die "cannot add the test account"
# A local account no [users] local_accounts lists (on main): never ours.
nt_add_test_user neostra-local 4244 || nt_die "cannot add the test account"
# Sockets must be reachable by the peer test's unprivileged child: let
# everyone traverse, but not list, the directory.  Files in it stay 0600
# where they hold anything secret.
chmod 0711 "$NT_TMP"

canary=$(nt_canary_new) || exit 1
nt_gen_certs "$NT_TMP/certs" || exit 1

# ---- the mock API's users ------------------------------------------------------
# Every user's password is the canary, so it flows through every path: the
# successes, the refusals and each way the API can misbehave.
(umask 077; cat >"$NT_TMP/users.json" <<EOF
{"users": {
  "alice@example.com":    {"password": "$canary", "roles": ["admin", "dev"], "name": "Alice"},
  "bob@example.com":      {"password": "$canary", "roles": ["dev"], "name": "Bob"},
  "carol@example.com":    {"password": "$canary", "roles": ["guest"], "name": "Carol"},
  "ghost@example.com":    {"password": "$canary", "roles": ["dev"], "status": 404},
  "slow@example.com":     {"password": "$canary", "roles": ["dev"], "delay_ms": 5000},
  "broken@example.com":   {"password": "$canary", "roles": ["dev"], "status": 500},
  "inner@example.com":    {"password": "$canary", "roles": ["dev"], "inner_status": 401},
  "garbage@example.com":  {"password": "$canary", "roles": ["dev"], "body": "{\"status\": 200, \"data\": {"},
  "imposter@example.com": {"password": "$canary", "roles": ["admin"], "answer_email": "mallory@example.com"}
}}
EOF
) || exit 1

nt_mock_start "$NT_TMP/users.json" "$NT_TMP/certs" || exit 1
closed_port=$(nt_free_port) || exit 1
http_url=http://127.0.0.1:$NT_MOCK_HTTP_PORT
https_url=https://127.0.0.1:$NT_MOCK_HTTPS_PORT
right_pin=$(cat "$NT_TMP/certs/server.pin")
# A well-formed pin of no key we use: the unrelated CA's.
wrong_pin=sha256//$(openssl x509 -in "$NT_TMP/certs/other-ca.pem" -noout -pubkey |
        openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64 -w0)

# ---- daemons ---------------------------------------------------------------------
# daemon_config NAME URL TIMEOUT [extra [api] lines; "users:LINE" for [users]]
# Every daemon's [users] lists neostra-peer in local_accounts (the peer
# test's own account, a local account opted in) unless a users: line
# sets local_accounts itself.
daemon_config() {
        name=$1 url=$2 timeout=$3
        shift 3
        {
                echo "[api]"
                echo "url = $url"
                echo "connect_timeout = 1s"
                echo "timeout = $timeout"
                for line in "$@"; do
                        case $line in users:*) ;; *) echo "$line" ;; esac
                done
                cat <<EOF

[users]
email_template = %u@example.com
minimum_uid = 1000
exclude = svc-backup
EOF
                _local="local_accounts = neostra-peer"
                for line in "$@"; do
                        case $line in
                        users:local_accounts*) _local=${line#users:} ;;
                        users:*) echo "${line#users:}" ;;
                        esac
                done
                echo "$_local"
                cat <<EOF

[access]
allow_roles = admin dev

[groups]
admin = adm
dev = users
music = audio

EOF
                nt_daemon_config "$name"
        } >"$NT_TMP/$name.conf"
}

daemon_config main "$http_url" 2s
daemon_config apidown "http://127.0.0.1:$closed_port" 2s
daemon_config slow "$http_url" 8s
daemon_config https-ca "$https_url" 2s "ca_file = $NT_TMP/certs/ca.pem"
daemon_config https-wrongca "$https_url" 2s "ca_file = $NT_TMP/certs/other-ca.pem"
daemon_config https-wrongpin "$https_url" 2s "ca_file = $NT_TMP/certs/ca.pem" \
        "pinned_public_key = $wrong_pin"
daemon_config https-pin "$https_url" 2s "ca_file = $NT_TMP/certs/ca.pem" \
        "pinned_public_key = $right_pin"
# Every local account opted in, and one domain listed in place of the
# template's.
daemon_config star "$http_url" 2s "users:local_accounts = *" "users:domains = partner.example"

for d in main apidown slow https-ca https-wrongca https-wrongpin https-pin star; do
        nt_daemon_start "$d" || exit 1
done

# ---- PAM services ------------------------------------------------------------------
svc=$NT_TMP/services
mkdir "$svc"

# service NAME DAEMON [module arguments]: every module type through pam_neostra.
# The module reads its [users] policy from the daemon's config (main's for
# a daemon that does not exist).
module_args() { # DAEMON [arguments]
        conf=$NT_TMP/$1.conf
        [ -e "$conf" ] || conf=$NT_TMP/main.conf
        echo "socket=$(nt_socket_path "$1") config=$conf debug${2:+ $2}"
}

service() {
        name=$1
        args=$(module_args "$2" "${3:-}")
        for type in auth account password session; do
                printf '%-8s required %s %s\n' "$type" "$module" "$args"
        done >"$svc/$name"
}

# probe NAME DAEMON [arguments]: PAM never returns PAM_IGNORE from a stack,
# so a probe makes it visible: pam_neostra's PAM_IGNORE falls through to
# pam_permit (PAM_SUCCESS); any other result ends the stack with itself, a
# success with PAM_PERM_DENIED.
probe() {
        name=$1
        args=$(module_args "$2" "${3:-}")
        for type in auth account password session; do
                printf '%-8s [ignore=ignore default=die] %s %s\n' "$type" "$module" "$args"
                printf '%-8s required %s\n' "$type" "$pam_dir/pam_permit.so"
        done >"$svc/$name"
}

# first_pass NAME ARG: pam_set_items puts $PAM_AUTHTOK (when set) into the
# stack before pam_neostra runs with ARG.
first_pass() {
        {
                echo "auth required $set_items"
                echo "auth required $module $(module_args main "$2")"
        } >"$svc/$1"
}

service nt-main main
probe nt-main-probe main
probe nt-unknown-probe main ignore_unknown_user
service nt-narrow main allow_roles=admin
first_pass nt-use-first-pass use_first_pass
first_pass nt-try-first-pass try_first_pass
service nt-nodaemon nodaemon
probe nt-nodaemon-probe nodaemon ignore_authinfo_unavail
probe nt-nodaemon-strict-probe nodaemon
service nt-apidown apidown
service nt-slow slow
service nt-https-ca https-ca
service nt-https-wrongca https-wrongca
service nt-https-wrongpin https-wrongpin
service nt-https-pin https-pin
service nt-star star
probe nt-star-probe star
# Without it libpam complains about a missing default on every pam_start.
for type in auth account password session; do
        echo "$type required $pam_dir/pam_deny.so"
done >"$svc/other"

# ---- the tests ---------------------------------------------------------------------
out=$NT_TMP/pamtest.out
# The canary goes through the environment, never a command line (which
# every user can read in /proc).  PAM_WRAPPER_DEBUGLEVEL=2 puts the
# module's syslog lines in the output, so the leak check reads them too.
# pam_set_items turns any PAM_<ITEM> variable into an item: only the tests
# set one (PAM_AUTHTOK).
export NEOSTRA_CANARY="$canary"
# shellcheck disable=SC2046 # word splitting of the env assignments is meant
nt_spawn pamtest timeout -k 10 240 env -u PAM_SERVICE -u PAM_USER -u PAM_USER_PROMPT \
        -u PAM_TTY -u PAM_RUSER -u PAM_RHOST -u PAM_AUTHTOK -u PAM_OLDAUTHTOK -u PAM_XDISPLAY \
        -u PAM_AUTHTOK_TYPE NEOSTRA_TEST_DIR="$NT_TMP" \
        NEOSTRA_MOCK_PORT="$NT_MOCK_HTTP_PORT" PAM_WRAPPER_DEBUGLEVEL=2 \
        $(nt_pam_wrapper_env "$svc") "$binary" >"$out" 2>&1
unset NEOSTRA_CANARY
nt_wait "$NT_LAST_PID"
binary_status=$?
nt_pam_wrapper_cleanup

# ---- shell-level checks --------------------------------------------------------------
nt_stop_all 2>"$NT_LOGS/stop.txt"
stop_failed=$NT_STOP_FAILED

# The users file is the only place the canary may be: not in the test
# output, not in any daemon or mock log, nowhere else under $NT_TMP.
leaks=$(nt_find_canary "$canary" "$NT_TMP" | grep -vxF "$NT_TMP/users.json")
pw_leaks=$(for d in /tmp/pam.?; do [ -d "$d" ] && nt_find_canary "$canary" "$d"; done)

# Redacted, so that a leak shows where it is without spreading further.
redact() {
        printf '%s\n' "$canary" | "$NT_PYTHON" -c '
import sys
canary = sys.stdin.readline().rstrip("\n").encode()
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        sys.stdout.buffer.write(f.read().replace(canary, b"<CANARY>"))
sys.stdout.flush()' "$@"
}

# On failure the logs come first: run-tests.sh shows the last lines of
# this output, which should be the test report.
if [ "$stop_failed" -ne 0 ] || [ -n "$leaks$pw_leaks" ] || [ "$binary_status" -ne 0 ]; then
        for log in "$NT_LOGS"/*.log; do
                echo "---- $(basename "$log") (last 40 lines) ----"
                tail -n 40 "$log" >"$NT_TMP/tail.txt"
                redact "$NT_TMP/tail.txt" | sed 's/^/  | /'
        done
        echo "---- end of logs ----"
fi
redact "$out"
cat "$NT_LOGS/stop.txt"

shell_passed=0 shell_failed=0
check() { # RESULT(0 = pass) DESCRIPTION
        if [ "$1" -eq 0 ]; then
                shell_passed=$((shell_passed + 1))
                echo "pamtest-shell: ok: $2"
        else
                shell_failed=$((shell_failed + 1))
                echo "pamtest-shell: FAILED: $2"
        fi
}
check "$stop_failed" "every daemon and the mock API exited cleanly (status 0) on SIGTERM"
if [ -n "$leaks$pw_leaks" ]; then
        # shellcheck disable=SC2086 # one line of paths
        check 1 "canary found outside the users file, in: $(printf '%s ' $leaks $pw_leaks)"
else
        check 0 "canary absent from the test output, every daemon and mock log and every other file"
fi

# ---- one summary for tests/run-tests.sh ---------------------------------------------
cm_passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$out" | tail -n1)
cm_failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$out" | tail -n1)
if [ -z "$cm_passed$cm_failed" ]; then
        echo "pamtest: no cmocka summary (exit status $binary_status): the binary crashed or hung"
        cm_failed=1
fi
cm_passed=${cm_passed:-0} cm_failed=${cm_failed:-0}
if [ "$binary_status" -ne 0 ] && [ "$cm_failed" -eq 0 ]; then
        echo "pamtest: exited with status $binary_status without a failed test"
        cm_failed=1
fi

echo "pamtest-shell: $shell_passed passed, $shell_failed failed"
total_p=$((cm_passed + shell_passed))
total_f=$((cm_failed + shell_failed))
echo "[==========] pamtest: cmocka $cm_passed passed, $cm_failed failed; shell $shell_passed passed, $shell_failed failed"
echo "[  PASSED  ] $total_p test(s)."
if [ "$total_f" -gt 0 ]; then
        echo "[  FAILED  ] $total_f test(s) in total"
        exit 1
fi
exit 0
