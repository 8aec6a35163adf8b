# tests/bench/lib-bench.sh: helpers shared by tests/bench/bench.sh and
# tests/bench/smoke.sh.  Source tests/lib.sh first, call nt_init and
# nt_tmpdir, then these.  POSIX sh.
#
#   bench_password FILE [canary]   a fresh random password in FILE (0600);
#                                  "canary": a canary (nt_canary_new)
#   bench_users_json PWFILE OUT SLOWNAMES   the mock's users file: "bench"
#                                  (roles dev) and slow01..slow64 (delay_ms
#                                  50); the slow names, one a line, in SLOWNAMES
#   bench_permit_service CONFDIR   service "permit": pam_permit auth + account
#   bench_ours NAME URL [CA_FILE]  neostrad config $NT_TMP/NAME.conf and the
#                                  service CONFDIR/NAME through the built
#                                  module (CONFDIR is $NT_TMP/pam.d)
#   bench_body EMAIL               a valid sign-in answer for EMAIL (one line)
#   bench_nice                     the nice value neostrad runs at: the unit's
#                                  Nice= (packaging/systemd/neostrad.service.in),
#                                  or $BENCH_DAEMON_NICE
#   bench_unit_env                 the unit's Environment= settings, K=V words
#                                  for env(1)
#
# tests/bench/daemon-bench.sh sources this too (bench_nice, bench_unit_env).
# The bench user is "bench" (bench@example.com, email_template
# %u@example.com); [access] allow_roles = dev.

BENCH_USER=bench
BENCH_DOMAIN=example.com
BENCH_SIGNIN_PATH=/api/v1/auth/signin

bench_password() { # FILE [canary]
        _b_old=$(umask)
        umask 077
        if [ "${2:-}" = canary ]; then
                nt_canary_new >"$1.tmp" || { umask "$_b_old"; return 1; }
        else
                od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$1.tmp" || { umask "$_b_old"; return 1; }
        fi
        umask "$_b_old"
        # One line, no newline: what the driver and ldap-baseline.sh read.
        tr -d '\n' <"$1.tmp" >"$1" && rm -f "$1.tmp"
        chmod 0600 "$1"
        [ -s "$1" ]
}

bench_users_json() { # PWFILE OUT SLOWNAMES
        "$NT_PYTHON" - "$1" "$2" "$3" "$BENCH_USER" "$BENCH_DOMAIN" <<'PY'
import json, os, sys
pwfile, out, slow, user, domain = sys.argv[1:6]
with open(pwfile, encoding="utf-8") as f:
    password = f.read().strip()
users = {"%s@%s" % (user, domain): {"password": password, "id": "u-bench",
                                     "name": "Bench User", "roles": ["dev"]}}
names = ["slow%02d" % i for i in range(1, 65)]
for n in names:
    users["%s@%s" % (n, domain)] = {"password": password, "id": "u-" + n,
                                     "name": n, "roles": ["dev"], "delay_ms": 50}
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w", encoding="utf-8") as f:
    json.dump({"users": users}, f)
with open(slow, "w", encoding="utf-8") as f:
    f.write("\n".join(names) + "\n")
PY
}

bench_permit_service() { # CONFDIR
        mkdir -p "$1" &&
                printf 'auth required pam_permit.so\naccount required pam_permit.so\n' >"$1/permit"
}

bench_ours() { # NAME URL [CA_FILE]
        mkdir -p "$NT_TMP/pam.d" || return 1
        {
                echo "[api]"
                echo "url = $2"
                echo "timeout = 10s"
                [ -n "${3:-}" ] && echo "ca_file = $3"
                echo
                echo "[users]"
                echo "email_template = %u@$BENCH_DOMAIN"
                echo
                echo "[access]"
                echo "allow_roles = dev"
                echo
                nt_daemon_config "$1"
        } >"$NT_TMP/$1.conf" || return 1
        # The module reads [users] from it: root's, not group/world-writable.
        chmod 0600 "$NT_TMP/$1.conf"
        _b_mod="$NT_BUILD/pam_neostra.so socket=$(nt_socket_path "$1") config=$NT_TMP/$1.conf"
        printf 'auth required %s\naccount required %s\n' "$_b_mod" "$_b_mod" >"$NT_TMP/pam.d/$1"
}

bench_body() { # EMAIL: a success document as the API sends it (no newline)
        printf '{"status":200,"message":"Success","data":{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LWJlbmNoIn0.YmVuY2gtc2lnbmF0dXJlLW5vdC1jaGVja2Vk","refreshToken":"bench-refresh-token","expiresIn":3600,"user":{"id":"u-bench","email":"%s","name":"Bench User","roles":["dev"]}},"errors":[]}' "$1"
}

bench_nice() {
        if [ -n "${BENCH_DAEMON_NICE:-}" ]; then
                echo "$BENCH_DAEMON_NICE"
                return
        fi
        _bn=$(sed -n 's/^Nice=\(-*[0-9]*\)$/\1/p' "$NT_TOP/packaging/systemd/neostrad.service.in")
        echo "${_bn:-0}"
}

bench_unit_env() {
        sed -n 's/^Environment=\([A-Za-z_][A-Za-z0-9_]*=[^ ]*\)$/\1/p' \
                "$NT_TOP/packaging/systemd/neostrad.service.in"
}
