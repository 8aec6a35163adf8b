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
has "status: state line" '^state: (online|offline|unknown)$' "$out"
has "status: state is online" '^state: online$' "$out"
has "status: since line" '^since: [0-9]{4}-[0-9]{2}-[0-9]{2} ' "$out"
has "status: cache line" '^cache: yes$' "$out"
has "status: cache size line" '^cacheBytes: [1-9][0-9]*$' "$out"
has "status: config file in use" "^configFile: $conf\$" "$out"
has "status: last API latency" '^lastApiLatencyMs: [0-9]+$' "$out"
has "status: login counters" '^  offlineSuccess: 1$' "$out"
expect 0 "status --json" ctl --json status
if "$NT_PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["state"] == "online" and d["cache"] is True and d["users"] >= 2 and d["logins"]["success"] >= 3 else 1)' "$out"; then
        nt_pass "status --json parses (state, cache, users, logins)"
else
        nt_fail "status --json: $(cat "$out")"
fi

# ---- user ---------------------------------------------------------------------------

token=$(vcall GetToken '{"user":"alice"}' | json_get token)
case $token in
eyJ*.*.*) nt_pass "GetToken as root: the token the mock issued" ;;
*) nt_fail "GetToken as root: '$token'" ;;
esac
expect 0 "user alice" ctl user alice
cp "$out" "$NT_TMP/user-human"
has "user: verifier present" '^hasVerifier: yes$' "$out"
has "user: verifier age" '^verifierTime: [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} .* \([0-9]+ s ago\)$' "$out"
has "user: last online success" '^lastOnlineSuccess: [0-9]{4}-.* s ago\)$' "$out"
has "user: roles" '^roles: admin$' "$out"
has "user: mapped groups (a local group)" '^groups: adm\(4, local\)$' "$out"
has "user: account_max_age" '^accountMaxAge: 604800 \(7 d 0 h\)$' "$out"
has "user: has a token (yes/no only)" '^hasToken: yes$' "$out"
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

# ---- invalidate (root) ------------------------------------------------------------------

signins() { nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats | "$NT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["signins"])'; }
expect 0 "invalidate alice" ctl invalidate alice
has "invalidate: says so" '^cache invalidated for alice$' "$out"
inv() { vcall GetUser "{\"user\":\"$1\"}" | json_get invalidated; }
if [ "$(inv alice)" = true ] && [ "$(inv bob)" = false ]; then nt_pass "invalidate alice: alice only"
else nt_fail "invalidate alice: alice $(inv alice), bob $(inv bob)"; fi
expect 0 "user alice after invalidate" ctl user alice
has "user: invalidated shown, verifier kept" '^invalidated: yes$' "$out"
has "user: the verifier stays after invalidate" '^hasVerifier: yes$' "$out"
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
