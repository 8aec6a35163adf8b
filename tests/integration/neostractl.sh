#!/bin/sh
# neostractl.sh BUILDDIR: every neostractl command against a real neostrad
# (issue 3, "neostractl"), with the exit codes `neostractl --help`
# documents (0 ok/allowed, 1 denied or failed, 2 usage, 3 daemon
# unreachable or unavailable, 4 permission denied):
#   status (human: state and cache lines; --json parses), auth USER (the
#   password on stdin; allowed, wrong password, role not allowed, unknown,
#   API down without and with a verifier), user USER (verifier present and
#   its age, never the token the mock issued nor a "$y$" verifier),
#   invalidate [USER], clear [USER] (rows gone, also after a restart),
#   token (root: token USER; refreshed first near expiry; the test
#   account: its own token, another's → 4), and the admin commands from the test account → 4 "permission
#   denied", enforced by the daemon: the same methods called directly over
#   the socket as that uid (bypassing the CLI) get PermissionDenied and
#   change nothing.
# The non-root caller is "ntuser" (uid 4321), a local account that exists
# only inside a private mount namespace (tests/lib.sh nt_private_ns +
# nt_add_test_user) and a Neostra user of the mock; it logs in once itself
# (neostractl auth as that uid).  Its processes run through setpriv.
# Ends with "neostractl: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts neostractl

TUID=4321
TUSER=ntuser

if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: every case (a second local account and setpriv need root)"
        NT_SKIPPED=1
        nt_finish
fi
command -v setpriv >/dev/null 2>&1 || { echo "skipped: setpriv is missing"; NT_SKIPPED=1; nt_finish; }
nt_private_ns "$@" || { echo "skipped: unshare is missing"; NT_SKIPPED=1; nt_finish; }
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink "/proc/$PPID/ns/mnt")" ]; then
        nt_fail "not in a mount namespace of our own; not mounting anything"
        nt_finish
fi
nt_tmpdir
nt_trap

ctl_bin=$NT_BUILD/neostractl
for p in "$ctl_bin" "$NT_BUILD/neostrad"; do
        [ -x "$p" ] || { nt_fail "$p is missing (make tests-build)"; nt_finish; }
done

umask 077
pw=$(nt_canary_new) || { nt_fail "canary"; nt_finish; }
# Every account's password is the canary.
{
        printf '{"users": {\n'
        for u in alice:admin bob:admin guest:guest other:admin "$TUSER:admin"; do
                printf '  "%s@example.com": {"password": "%s", "roles": ["%s"]},\n' "${u%%:*}" "$pw" "${u#*:}"
        done
        # Tokens of "short" expire in 30 s, inside GetToken's refresh margin.
        printf '  "short@example.com": {"password": "%s", "roles": ["admin"], "expires_in": 30},\n' "$pw"
        printf '  "nobody-else@example.com": {"password": "x", "roles": []}\n}}\n'
} >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
mock=http://127.0.0.1:$NT_MOCK_HTTP_PORT

nt_add_test_user "$TUSER" "$TUID" || { nt_fail "adding the test account"; nt_finish; }
[ "$(id -u "$TUSER" 2>/dev/null)" = "$TUID" ] || { nt_fail "test account not visible"; nt_finish; }
# The test account reaches the socket by name, and nothing else here:
# search permission only; every file in $NT_TMP is 0600 or 0700.
chmod 0711 "$NT_TMP"

conf=$NT_TMP/ctl.conf
sock=$(nt_socket_path ctl)
{
        printf '[api]\nurl = %s\ntimeout = 2s\nconnect_timeout = 1s\nrefresh_path = /api/v1/auth/refresh\n\n' "$mock"
        # The test account is a local account opted in: it signs itself in.
        printf '[users]\nemail_template = %%u@example.com\nlocal_accounts = %s\n\n' "$TUSER"
        printf '[access]\nallow_roles = admin\n\n'
        printf '[groups]\nadmin = adm\n\n'
        nt_daemon_config ctl
} >"$conf"
nt_daemon_start ctl || { nt_fail "neostrad start"; nt_finish; }
daemon_pid=$NT_LAST_PID

out=$NT_TMP/out
err=$NT_TMP/err
ctl() { "$ctl_bin" -s "$sock" "$@"; }
as_user() { setpriv --reuid="$TUID" --regid="$TUID" --clear-groups -- "$@"; }
vcall() { "$NT_PYTHON" "$here/varlink.py" call "$sock" "io.neostra.Auth.$1" "${2:-{\}}"; }
json_get() { # KEY: a value of the "parameters" of the reply on stdin
        "$NT_PYTHON" -c 'import json, sys
m = json.load(sys.stdin)
v = m.get("parameters", {}).get(sys.argv[1]) if sys.argv[1] != "error" else m.get("error")
print(json.dumps(v) if not isinstance(v, str) else v)' "$1"
}

# expect RC DESC CMD...: run CMD (stdin from /dev/null unless a caller
# redirects), stdout in $out, stderr in $err; pass if it exits RC.
expect() {
        _want=$1 _desc=$2
        shift 2
        "$@" >"$out" 2>"$err"
        _rc=$?
        if [ "$_rc" -eq "$_want" ]; then
                nt_pass "$_desc (exit $_rc)"
                return 0
        fi
        nt_fail "$_desc: exit $_rc, expected $_want; stdout: $(head -c 400 "$out"); stderr: $(head -c 400 "$err")"
        return 1
}
# has DESC PATTERN FILE: an extended regular expression matches a line.
has() {
        if grep -qE -- "$2" "$3"; then nt_pass "$1"
        else nt_fail "$1: no /$2/ in: $(head -c 600 "$3")"; fi
}
hasnt_fixed() { # DESC STRING FILE...
        _d=$1 _s=$2
        shift 2
        if printf '%s\n' "$_s" | grep -qF -f - -- "$@"; then nt_fail "$_d"
        else nt_pass "$_d"; fi
}
auth() { # USER PASSWORD [neostractl options...]: the password on stdin
        _u=$1 _p=$2
        shift 2
        printf '%s\n' "$_p" | ctl "$@" auth "$_u"
}
auth_as_user() {
        _u=$1 _p=$2
        shift 2
        printf '%s\n' "$_p" | as_user "$ctl_bin" -s "$sock" "$@" auth "$_u"
}

# ---- usage (2) -----------------------------------------------------------------

expect 0 "--help" ctl --help
has "--help documents exit codes 0-4" '^  4  permission denied' "$out"
for c in "5  the daemon is not configured" "6  status: the API is offline" "7  status: the last reload failed" \
         "8  auth: not a Neostra user"; do
        has "--help documents exit code ${c%% *}" "^  $c" "$out"
done
expect 0 "--version" ctl --version
has "--version: 'neostractl VERSION'" '^neostractl [0-9]+\.[0-9]+\.[0-9]+$' "$out"
expect 0 "-V" ctl -V
expect 2 "users with an argument" ctl users alice
expect 2 "probe with an argument" ctl probe now
expect 2 "no command" ctl
expect 2 "unknown command" ctl frobnicate
expect 2 "user without a name" ctl user
expect 2 "auth with two names" ctl auth alice bob
expect 2 "an invalid user name" ctl user 'a b/c'
expect 2 "an invalid timeout" ctl -t soon status

# ---- auth (0 / 1 / 3) ------------------------------------------------------------

expect 0 "auth alice, right password" auth alice "$pw"
has "auth: 'allowed' with roles and groups" '^allowed: roles admin; groups adm\(4\)$' "$out"
expect 1 "auth alice, wrong password" auth alice wrong-password
has "auth: the denial says why" '^denied: AuthenticationFailed: .+' "$out"
expect 1 "auth guest (role not in allow_roles)" auth guest "$pw"
has "auth: the role denial says why" '^denied: none of the user.s roles \(guest\) may log in here' "$out"
expect 1 "auth for an account the API does not know" auth nosuchuser "$pw"
expect 1 "auth with an empty password" auth alice ""
has "auth: empty password says so" '^denied: empty password' "$out"
expect 0 "auth --json" auth alice "$pw" --json
if "$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["allowed"] is True and d["offline"] is False and d["roles"] == ["admin"] else 1)' "$out"; then
        nt_pass "auth --json parses: allowed, online, roles"
else
        nt_fail "auth --json: $(cat "$out")"
fi
expect 0 "auth bob (a second user for the commands below)" auth bob "$pw"
expect 1 "auth --json, wrong password" auth alice wrong-password --json
if "$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["allowed"] is False and d["error"].endswith("AuthenticationFailed") and d["reason"] else 1)' "$out"; then
        nt_pass "auth --json denial parses: allowed false, error, reason"
else
        nt_fail "auth --json denial: $(cat "$out")"
fi
# The 401s above dropped alice's verifier: log in again, and wait until the
# new one exists (made on a worker after the answer).
expect 0 "auth alice, right password again" auth alice "$pw"
verifier_ready() { vcall GetUser '{"user":"alice"}' | json_get hasVerifier | grep -qx true; }
nt_wait_until 10 "alice's verifier" verifier_ready || nt_fail "no verifier for alice"
# The API down (503): no verifier → unavailable (3); a verifier → offline (0).
nt_http POST "$NT_MOCK_HTTP_PORT" /_control/config '{"status": 503}' >/dev/null
expect 3 "auth other with the API down and no verifier" auth other "$pw"
has "auth: unavailable says why" '^unavailable: ServiceUnavailable: .+' "$out"
expect 0 "auth alice with the API down (offline, verifier)" auth alice "$pw"
has "auth: the offline login is marked" '^allowed: .*\(offline: password checked against cached credentials\)' "$out"
nt_http POST "$NT_MOCK_HTTP_PORT" /_control/config '{"status": null}' >/dev/null
expect 0 "auth alice online again" auth alice "$pw"

# ---- status ------------------------------------------------------------------------

expect 0 "status" ctl status
cp "$out" "$NT_TMP/status-human"
has "status: daemon line" '^neostrad: +[0-9]+\.[0-9]+\.[0-9]+ \(protocol [0-9]+\)$' "$out"
has "status: state online, since when" '^state: +online, since [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} .* ago\)$' "$out"
has "status: the API url" "^API: +$mock\$" "$out"
has "status: config file in use" "^config: +$conf\$" "$out"
has "status: no reload yet" '^last reload: +none since the start$' "$out"
has "status: next probe (none online)" '^next probe: +none scheduled$' "$out"
has "status: last API latency" '^last latency: +[0-9]+ ms$' "$out"
has "status: login counters" '^logins: +[0-9]+ ok \(1 offline, 0 cached\), [0-9]+ refused, 1 unavailable, 0 not ours$' "$out"
has "status: users and cache" '^users: +[0-9]+ cached \(cache [1-9][0-9]* bytes\)$' "$out"
if awk '{ if (match($0, /^[a-z][a-z ]*: +/) && RLENGTH != 14) bad = 1 } END { exit bad }' "$out"; then
        nt_pass "status: the values are aligned (column 15)"
else
        nt_fail "status: not aligned: $(cat "$out")"
fi
expect 0 "status --json (the option after the command)" ctl status --json
if "$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["state"] == "online" and d["cache"] is True and d["users"] >= 2 and d["logins"]["success"] >= 3 and d["apiUrl"] == sys.argv[2] and d["apiUrls"] == {"signin": sys.argv[2] + "/api/v1/auth/signin", "refresh": sys.argv[2] + "/api/v1/auth/refresh"} and d["lastReload"] == {"time": 0, "ok": True, "error": None} else 1)' "$out" "$mock"; then
        nt_pass "status --json parses (state, cache, users, logins, apiUrl, apiUrls, lastReload)"
else
        nt_fail "status --json: $(cat "$out")"
fi
expect 0 "--json status (the option before the command)" ctl --json status
"$NT_PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$out" && nt_pass "--json status parses" || nt_fail "--json status: $(cat "$out")"

# ---- user ---------------------------------------------------------------------------

token=$(vcall GetToken '{"user":"alice"}' | json_get token)
case $token in
eyJ*.*.*) nt_pass "GetToken as root: the token the mock issued" ;;
*) nt_fail "GetToken as root: '$token'" ;;
esac
expect 0 "user alice" ctl user alice
cp "$out" "$NT_TMP/user-human"
has "user: verifier present" '^hasVerifier: +yes$' "$out"
has "user: verifier age" '^verifierTime: +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} .* \([0-9]+ s ago\)$' "$out"
has "user: last online success" '^lastOnlineSuccess: [0-9]{4}-.* s ago\)$' "$out"
has "user: roles" '^roles: +admin$' "$out"
has "user: mapped groups (a local group)" '^groups: +adm\(4, local\)$' "$out"
has "user: account_max_age" '^accountMaxAge: +604800 \(7 d 0 h\)$' "$out"
has "user: has a token (yes/no only)" '^hasToken: +yes$' "$out"
has "user: the uid" '^uid: +[0-9]+$' "$out"
if awk 'match($0, /^[a-zA-Z]+: +/) { if (col && RLENGTH != col) bad = 1; col = RLENGTH } END { exit bad || !col }' "$out"; then
        nt_pass "user: the values are aligned"
else
        nt_fail "user: not aligned: $(cat "$out")"
fi
expect 0 "user alice --json" ctl --json user alice
cp "$out" "$NT_TMP/user-json"
if "$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["hasVerifier"] is True and d["verifierTime"] > 0 and "token" not in d and "verifier" not in d else 1)' "$out"; then
        nt_pass "user --json parses (hasVerifier, verifierTime; no token or verifier key)"
else
        nt_fail "user --json: $(cat "$out")"
fi
expect 0 "status (for the token check)" ctl --json status
cp "$out" "$NT_TMP/status-json"
hasnt_fixed "user/status output holds no token" "$token" "$NT_TMP/user-human" "$NT_TMP/user-json" "$NT_TMP/status-json"
hasnt_fixed "user/status output holds no token prefix (eyJ)" "eyJ" "$NT_TMP/user-human" "$NT_TMP/user-json" "$NT_TMP/status-json"
hasnt_fixed "user output holds no yescrypt verifier (\$y\$)" '$y$' "$NT_TMP/user-human" "$NT_TMP/user-json"
# (The verifier is yescrypt, and it is in the cache file, for the check above to mean something.)
if grep -qaF '$y$' "$NT_TMP/cache-ctl/neostrad.db" "$NT_TMP/cache-ctl/neostrad.db-wal" 2>/dev/null; then
        nt_pass "the cache holds a \$y\$ (yescrypt) verifier"
else
        nt_fail "no \$y\$ verifier in the cache files"
fi
expect 1 "user for a name never seen" ctl user nosuchuser
has "user: unknown says why" 'UserUnknown' "$err"

# ---- token (root) ----------------------------------------------------------------------

expect 0 "token alice (root)" ctl token alice
if [ "$(cat "$out")" = "$token" ]; then nt_pass "token alice prints exactly the token"
else nt_fail "token alice printed '$(head -c 100 "$out")'"; fi
expect 1 "token for a user without one" ctl token nosuchuser
# A token about to expire is refreshed first ([api] refresh_path).
refreshes() { nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats | "$NT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["refreshes"])'; }
expect 0 "auth short (a token that expires in 30 s)" auth short "$pw"
r0=$(refreshes)
expect 0 "token short (near expiry: refreshed first)" ctl token short
t1=$(cat "$out")
expect 0 "token short again" ctl token short
t2=$(cat "$out")
r2=$(refreshes)
case $t1 in
eyJ*.*.*) if [ "$t1" != "$t2" ] && [ "$r2" -eq $((r0 + 2)) ]; then
                  nt_pass "token: a token near expiry is refreshed before it is handed out"
          else nt_fail "token refresh: refreshes $r0 → $r2, tokens differ: $([ "$t1" != "$t2" ] && echo yes)"; fi ;;
*) nt_fail "token short printed '$(printf %s "$t1" | head -c 80)'" ;;
esac
expect 0 "token alice (far from expiry)" ctl token alice
if [ "$(refreshes)" -eq "$r2" ] && [ "$(cat "$out")" = "$token" ]; then nt_pass "token: no refresh when far from expiry"
else nt_fail "token alice: refreshed or changed"; fi

# ---- the test account (uid 4321) ---------------------------------------------------------

expect 0 "test account: auth itself (its first login)" auth_as_user "$TUSER" "$pw"
has "test account: allowed" '^allowed: roles admin' "$out"
utoken=$(vcall GetToken "{\"user\":\"$TUSER\"}" | json_get token)
expect 0 "test account: token (its own)" as_user "$ctl_bin" -s "$sock" token
if [ -n "$utoken" ] && [ "$(cat "$out")" = "$utoken" ]; then nt_pass "test account: token prints its own token"
else nt_fail "test account: token printed '$(head -c 100 "$out")', GetToken as root says '$utoken'"; fi
expect 0 "test account: token $TUSER (its own, by name)" as_user "$ctl_bin" -s "$sock" token "$TUSER"
expect 4 "test account: token alice (another user's)" as_user "$ctl_bin" -s "$sock" token alice
has "test account: token alice says permission denied" 'PermissionDenied' "$err"
hasnt_fixed "test account: no token of alice's in the output" "$token" "$out" "$err"
expect 0 "test account: status" as_user "$ctl_bin" -s "$sock" status
expect 0 "test account: user (itself)" as_user "$ctl_bin" -s "$sock" user "$TUSER"
expect 4 "test account: user alice" as_user "$ctl_bin" -s "$sock" user alice
expect 4 "test account: auth alice" auth_as_user alice "$pw"
for c in invalidate "invalidate alice" "invalidate $TUSER" clear "clear alice" "clear $TUSER"; do
        # shellcheck disable=SC2086 # word splitting wanted
        expect 4 "test account: $c" as_user "$ctl_bin" -s "$sock" $c
        has "test account: $c says permission denied" 'PermissionDenied: only root may call this' "$err"
done
# A socket the test account may not reach (in a 0700 directory) → 4.
expect 4 "test account: a socket it has no permission for" as_user "$ctl_bin" -s "$NT_LOGS/none.sock" status

# The daemon enforces it: the methods called directly as uid 4321.
as_call() { as_user "$NT_PYTHON" "$here/varlink.py" call "$sock" "io.neostra.Auth.$1" "$2"; }
for m in 'InvalidateCache {}' 'InvalidateCache {"user":"alice"}' "InvalidateCache {\"user\":\"$TUSER\"}" \
         'ClearCache {}' 'ClearCache {"user":"alice"}' "ClearCache {\"user\":\"$TUSER\"}" \
         'GetToken {"user":"alice"}' 'GetUser {"user":"alice"}'; do
        e=$(as_call "${m%% *}" "${m#* }" | json_get error)
        if [ "$e" = io.neostra.Auth.PermissionDenied ]; then nt_pass "uid $TUID calling $m directly: PermissionDenied"
        else nt_fail "uid $TUID calling $m directly: '$e'"; fi
done
e=$(as_call GetToken "{\"user\":\"$TUSER\"}" | json_get token)
if [ "$e" = "$utoken" ]; then nt_pass "uid $TUID calling GetToken for itself directly: its token"
else nt_fail "uid $TUID calling GetToken for itself: '$e'"; fi
st=$(vcall GetStatus | json_get users)
a=$(vcall GetUser '{"user":"alice"}' | json_get invalidated)
if [ "$st" = 5 ] && [ "$a" = false ]; then nt_pass "nothing was invalidated or cleared by uid $TUID"
else nt_fail "after uid $TUID's calls: users $st, alice invalidated $a"; fi

# ---- users, probe, status exit codes, auth of names PAM passes on ---------------------

expect 0 "users (root)" ctl users
cp "$out" "$NT_TMP/users-human"
has "users: an aligned header" '^USER +UID +ACCESS +ONLINE PROOF +VERIFIER +ACCESS UNTIL +ROLES$' "$out"
has "users: alice's row (access, proof and verifier ages, until, roles)" \
        '^alice +[0-9]+ +valid +[0-9]+ (s|min [0-9]+ s) ago +[0-9]+ (s|min [0-9]+ s) ago +in 6 d 23 h +admin$' "$out"
if awk 'NR == 1 { p = index($0, "ACCESS UNTIL") } NR > 1 && substr($0, p - 2, 2) != "  " { bad = 1 } END { exit bad }' "$out"; then
        nt_pass "users: the columns line up"
else
        nt_fail "users: columns: $(cat "$out")"
fi
expect 0 "users --json" ctl users --json
cp "$out" "$NT_TMP/users-json"
n_users=$(vcall GetStatus | json_get users)
alice_uid=$(vcall GetUser '{"user":"alice"}' | json_get uid)
if "$NT_PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))["users"]
names = [u["user"] for u in d]
a = [u for u in d if u["user"] == "alice"][0]
ok = (len(d) == int(sys.argv[2]) and names == sorted(names) and a["uid"] == int(sys.argv[3])
      and a["roles"] == ["admin"] and a["access"] == "valid" and a["hasVerifier"] is True
      and a["lastOnlineProof"] > 0 and a["accessUntil"] == a["lastOnlineProof"] + 604800
      and not any(k in u for u in d for k in ("email", "token", "verifier")))
sys.exit(0 if ok else 1)' "$out" "$n_users" "$alice_uid"; then
        nt_pass "users --json: every cached user ($n_users), sorted, with uid, roles, access and times; no email or secret"
else
        nt_fail "users --json ($n_users users, alice uid $alice_uid): $(head -c 800 "$out")"
fi
hasnt_fixed "users output holds no token" "$token" "$NT_TMP/users-human" "$NT_TMP/users-json"
expect 4 "test account: users" as_user "$ctl_bin" -s "$sock" users
expect 4 "test account: probe" as_user "$ctl_bin" -s "$sock" probe
e=$(as_call ListUsers '{}' | json_get error)
[ "$e" = io.neostra.Auth.PermissionDenied ] && nt_pass "uid $TUID calling ListUsers directly: PermissionDenied" ||
        nt_fail "uid $TUID calling ListUsers directly: '$e'"
e=$(as_call Probe '{}' | json_get error)
[ "$e" = io.neostra.Auth.PermissionDenied ] && nt_pass "uid $TUID calling Probe directly: PermissionDenied" ||
        nt_fail "uid $TUID calling Probe directly: '$e'"

probes() { nt_http GET "$NT_MOCK_HTTP_PORT" /_control/requests | "$NT_PYTHON" -c 'import json, sys
print(sum(1 for r in json.load(sys.stdin)["requests"] if r.get("method") == "GET"))'; }
p0=$(probes)
expect 0 "probe (root)" ctl probe
has "probe: the API answered, with the HTTP status and the state" '^API probe ok: HTTP [0-9]{3}, API answers, after [0-9]+ ms; state now online$' "$out"
if [ "$(probes)" -eq $((p0 + 1)) ]; then nt_pass "probe: one GET reached the API"
else nt_fail "probe: GETs at the API $p0 → $(probes)"; fi
expect 0 "probe --json" ctl probe --json
"$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["answered"] is True and d["state"] == "online" and 100 <= d["httpStatus"] < 500 and d["latencyMs"] >= 0 else 1)' "$out" &&
        nt_pass "probe --json: answered, state, httpStatus, latencyMs" || nt_fail "probe --json: $(cat "$out")"

# The API offline (a 503 with Retry-After, at once): status 6, for anyone.
nt_http POST "$NT_MOCK_HTTP_PORT" /_control/config '{"status": 503, "retry_after": 30}' >/dev/null
auth alice "$pw" >/dev/null 2>&1
expect 6 "status with the API offline" ctl status
has "status: state offline" '^state: +offline, since ' "$out"
has "status: the next probe, in the future" '^next probe: +[0-9]{4}-.* \(in [0-9]+ (s|min [0-9]+ s)\)$' "$out"
expect 6 "status --json with the API offline (same exit code)" ctl status --json
expect 6 "test account: status with the API offline" as_user "$ctl_bin" -s "$sock" status
has "test account: status shows the state only" '^state: +offline$' "$out"
nt_http POST "$NT_MOCK_HTTP_PORT" /_control/config '{"status": null, "retry_after": null}' >/dev/null
expect 0 "probe with the API back" ctl probe
has "probe: the API is online again at once" 'state now online$' "$out"
expect 0 "status with the API back" ctl status

# A reload that fails: 7, and why; a good one: 0 again.
cp "$conf" "$NT_TMP/ctl.conf.good"
printf '[api]\nno such key = 1\n' >>"$conf"
kill -HUP "$daemon_pid"
status_rc() { ctl status >/dev/null 2>&1; [ $? -eq "$1" ]; }
nt_wait_until 10 "status to exit 7" status_rc 7 || nt_fail "status never exited 7 after a bad reload"
expect 7 "status after a failed reload" ctl status
has "status: the failed reload, when and why" "^last reload: +FAILED [0-9]{4}-.* ago\\): .*$conf.*; the configuration before it still runs\$" "$out"
expect 7 "status --json after a failed reload" ctl status --json
"$NT_PYTHON" -c 'import json, sys, time; r = json.load(open(sys.argv[1]))["lastReload"]; sys.exit(0 if r["ok"] is False and sys.argv[2] in r["error"] and 0 <= time.time() - r["time"] < 120 else 1)' "$out" "$conf" &&
        nt_pass "status --json: lastReload {time, ok false, error with the file}" || nt_fail "lastReload: $(cat "$out")"
cp "$NT_TMP/ctl.conf.good" "$conf"
kill -HUP "$daemon_pid"
nt_wait_until 10 "status to exit 0" status_rc 0 || nt_fail "status never exited 0 after a good reload"
expect 0 "status after a good reload" ctl status
has "status: the good reload" '^last reload: +ok, [0-9]{4}-.* ago\)$' "$out"

# An API that does not answer (a closed port): each probe fails (6) and
# counts as a sign-in's transport failure would; the third in a row makes
# the API offline.
sed "s|^url = .*|url = http://127.0.0.1:1|" "$NT_TMP/ctl.conf.good" >"$conf"
kill -HUP "$daemon_pid"
dead_url() { vcall GetStatus | json_get apiUrl | grep -qx 'http://127.0.0.1:1'; }
nt_wait_until 10 "the reload to the dead url" dead_url || nt_fail "the daemon never took the dead url"
expect 6 "probe, no API there (1)" ctl probe
has "probe: the failure says why, still online" '^API probe failed: cannot connect to the API, after [0-9]+ ms; state now online$' "$out"
expect 6 "probe, no API there (2)" ctl probe
expect 6 "probe, no API there (3)" ctl probe --json
"$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["answered"] is False and d["httpStatus"] == 0 and d["state"] == "offline" else 1)' "$out" &&
        nt_pass "probe --json: the third failure in a row: not answered, no HTTP status, offline" || nt_fail "probe --json (3): $(cat "$out")"
expect 6 "status after three failed probes" ctl status
cp "$NT_TMP/ctl.conf.good" "$conf"
kill -HUP "$daemon_pid"
good_url() { vcall GetStatus | json_get apiUrl | grep -qx "$mock"; }
nt_wait_until 10 "the reload to the mock's url" good_url || nt_fail "the daemon never took the mock's url back"
expect 0 "probe with the API there again" ctl probe
has "probe: back online" 'state now online$' "$out"

# No [api] url: 5 for status, probe and auth.
grep -v '^url = ' "$NT_TMP/ctl.conf.good" >"$conf"
kill -HUP "$daemon_pid"
nt_wait_until 10 "status to exit 5" status_rc 5 || nt_fail "status never exited 5 without a url"
expect 5 "status, unconfigured" ctl status
has "status: unconfigured says what it means" '^state: +unconfigured: \[api\] url is not set; every login goes on to the next PAM module, since ' "$out"
has "status: no API url" '^API: +not configured$' "$out"
expect 5 "probe, unconfigured" ctl probe
expect 5 "auth alice, unconfigured" auth alice "$pw"
has "auth unconfigured: unavailable and why" '^unavailable: ServiceUnavailable: not configured' "$out"
cp "$NT_TMP/ctl.conf.good" "$conf"
kill -HUP "$daemon_pid"
nt_wait_until 10 "status to exit 0" status_rc 0 || nt_fail "status never exited 0 with the url back"
expect 0 "probe with the url back" ctl probe

# Names the module passes on: 8, never "denied", and root's password is not even read.
expect 8 "auth root" ctl auth root
has "auth root: not a Neostra user" '^not a Neostra user: PAM goes on to the next module \(root is never a Neostra user\)$' "$out"
hasnt_fixed "auth root: no password prompt" "Password" "$out" "$err"
expect 8 "auth root --json" ctl auth root --json
"$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["notOurs"] is True and d["allowed"] is False and d["error"].endswith("NotOurUser") else 1)' "$out" &&
        nt_pass "auth root --json: notOurs" || nt_fail "auth root --json: $(cat "$out")"
sysacct=$(getent passwd | awk -F: '$3 > 0 && $3 < 1000 { print $1; exit }')
if [ -n "$sysacct" ]; then
        expect 8 "auth $sysacct (a system account: the daemon says NotOurUser)" auth "$sysacct" "$pw"
        has "auth $sysacct: not a Neostra user, and why" '^not a Neostra user: PAM goes on to the next module \(local system account' "$out"
else
        nt_fail "no system account in /etc/passwd to try"
fi

# ---- invalidate (root) ------------------------------------------------------------------

signins() { nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats | "$NT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["signins"])'; }
expect 0 "invalidate alice" ctl invalidate alice
has "invalidate: says so" '^cache invalidated for alice$' "$out"
inv() { vcall GetUser "{\"user\":\"$1\"}" | json_get invalidated; }
if [ "$(inv alice)" = true ] && [ "$(inv bob)" = false ]; then nt_pass "invalidate alice: alice only"
else nt_fail "invalidate alice: alice $(inv alice), bob $(inv bob)"; fi
expect 0 "user alice after invalidate" ctl user alice
has "user: invalidated shown, verifier kept" '^invalidated: +yes$' "$out"
has "user: the verifier stays after invalidate" '^hasVerifier: +yes$' "$out"
expect 0 "invalidate (everybody)" ctl invalidate
has "invalidate: all users" '^cache invalidated for all users$' "$out"
if [ "$(inv bob)" = true ] && [ "$(inv "$TUSER")" = true ]; then nt_pass "invalidate: every user invalidated"
else nt_fail "invalidate: bob $(inv bob), $TUSER $(inv "$TUSER")"; fi
expect 1 "invalidate a user never seen" ctl invalidate nosuchuser
s0=$(signins)
expect 0 "auth alice after invalidate" auth alice "$pw"
if [ "$(signins)" -eq $((s0 + 1)) ] && [ "$(inv alice)" = false ]; then nt_pass "the login after invalidate went online"
else nt_fail "after invalidate: signins $s0 → $(signins), invalidated $(inv alice)"; fi

# ---- clear (root) -------------------------------------------------------------------------

expect 0 "clear alice" ctl clear alice
has "clear: says so" '^cached data dropped for alice$' "$out"
expect 1 "user alice after clear" ctl user alice
has "user alice after clear: unknown" 'UserUnknown' "$err"
expect 0 "user bob after clear alice (kept)" ctl user bob
expect 1 "token alice after clear" ctl token alice

restart() {
        nt_stop "$daemon_pid" neostrad-ctl
        _rc=$?
        if [ "$_rc" -eq 0 ]; then nt_pass "neostrad exits 0 at SIGTERM ($1)"
        else nt_fail "neostrad exited $_rc at SIGTERM ($1)"; fi
        nt_daemon_start ctl || { nt_fail "neostrad restart"; nt_finish; }
        daemon_pid=$NT_LAST_PID
}
restart "after clear alice"
expect 1 "user alice after a restart: still gone" ctl user alice
expect 0 "user bob after a restart: still there" ctl user bob
if [ "$(inv bob)" = true ]; then nt_pass "invalidate survives a restart (bob still invalidated)"
else nt_fail "bob's invalidated flag after a restart: $(inv bob)"; fi
# ListUsers a page at a time: 700 more users in the cache (the daemon stopped).
nt_stop "$daemon_pid" neostrad-ctl
if "$NT_PYTHON" "$here/../bench/daemon-populate.py" "$NT_TMP/cache-ctl/neostrad.db" bob many 700 200000 299999 >/dev/null; then
        nt_pass "700 users added to the cache"
else
        nt_fail "could not add 700 users to the cache"
fi
nt_daemon_start ctl || { nt_fail "neostrad restart"; nt_finish; }
daemon_pid=$NT_LAST_PID
n_users=$(vcall GetStatus | json_get users)
pages=$(vcall ListUsers '{}' | "$NT_PYTHON" -c 'import json, sys; p = json.load(sys.stdin)["parameters"]; print(len(p["users"]), p.get("next", ""))')
case $pages in
*" many"*) nt_pass "ListUsers: one page holds part of the $n_users users and says where the next starts ($pages)" ;;
*) nt_fail "ListUsers first page: '$pages'" ;;
esac
expect 0 "users --json with $n_users users (several pages)" ctl users --json
"$NT_PYTHON" -c 'import json, sys
names = [u["user"] for u in json.load(open(sys.argv[1]))["users"]]
want = {"many%d" % i for i in range(700)}
sys.exit(0 if len(names) == int(sys.argv[2]) and names == sorted(set(names)) and want <= set(names) else 1)' "$out" "$n_users" &&
        nt_pass "users --json: all $n_users users, once each, in order" || nt_fail "users --json: $(head -c 300 "$out")"
expect 0 "users with $n_users users" ctl users
[ "$(wc -l <"$out")" -eq $((n_users + 1)) ] && nt_pass "users: a header and one line per user" ||
        nt_fail "users: $(wc -l <"$out") lines for $n_users users"
expect 0 "clear (everybody)" ctl clear
has "clear: all users" '^cached data dropped for all users$' "$out"
users_now() { vcall GetStatus | json_get users; }
if [ "$(users_now)" = 0 ]; then nt_pass "clear: no user left"; else nt_fail "clear: $(users_now) users left"; fi
restart "after clear"
if [ "$(users_now)" = 0 ]; then nt_pass "clear: no user after a restart"; else nt_fail "clear: $(users_now) users after a restart"; fi
expect 1 "user bob after clear + restart" ctl user bob
expect 0 "clear of a user never seen (nothing to do)" ctl clear nosuchuser

# ---- daemon unreachable (3) ------------------------------------------------------------------

nt_stop "$daemon_pid" neostrad-ctl
_rc=$?
if [ "$_rc" -eq 0 ]; then nt_pass "neostrad exits 0 at SIGTERM (end)"; else nt_fail "neostrad exited $_rc at SIGTERM"; fi
expect 3 "status with the daemon stopped" ctl status
has "status: says the daemon is unreachable" "neostractl: neostrad at $sock: " "$err"
expect 3 "auth with the daemon stopped" auth alice "$pw"
expect 3 "status, no such socket" "$ctl_bin" -s "$NT_TMP/none.sock" status

# ---- secrets ------------------------------------------------------------------------------------

if grep -rE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$NT_LOGS"; then
        nt_fail "sanitizer report in a log"
else
        nt_pass "no sanitizer report in the daemon log"
fi
n=0
for t in "$token" "$utoken" "$t1" "$t2"; do
        n=$((n + 1))
        hasnt_fixed "no token (#$n of those handed out) in any log" "$t" "$NT_LOGS"/*.log
done
leaks=$(nt_find_canary "$pw" "$NT_TMP" | grep -v -x -e "$NT_TMP/users.json")
if [ -z "$leaks" ]; then nt_pass "canary password in no file under the test directory (cache files included)"
else nt_fail "canary password found in: $leaks"; fi
nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "mock API exits 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0 at SIGTERM"; fi
if [ "$NT_FAILED" -ne 0 ]; then
        echo "---- $NT_LOGS/ctl.log (tail)"
        tail -n 30 "$NT_LOGS/ctl.log"
fi
nt_finish
