#!/bin/sh
# smoke.sh BUILDDIR: a seconds-long smoke of `make bench`'s load driver
# ($BUILDDIR/bench/neostra-bench, built beforehand: make bench-driver), for
# `make check`.  No timing is checked, only that the driver works:
#   - ~1 s against pam_permit (2 workers): its JSON parses, logins > 0,
#     0 failures, exit 0; --logins N does exactly N logins;
#   - pam_deny, and our stack with a wrong password: failures are counted
#     and named (the first PAM error), exit status nonzero;
#   - ~1.5 s against our stack (build/pam_neostra.so -> build/neostrad ->
#     tests/mock_api.py over HTTP, 2 workers): logins > 0, 0 failures, and
#     the mock saw at least as many sign-ins;
#   - the floors of `make bench` (built with the tests): the same module
#     and driver against relay-floor relaying to the mock (logins > 0, 0
#     failures, each a sign-in at the mock), userdb-floor under userdb-load
#     (0 errors), and memory-floor (signs in at the mock, says ready, has a
#     VmRSS, exits 0 at SIGTERM);
#   - the daemon and the floors exit 0 at SIGTERM, no sanitizer report, and
#     the password (a canary) is in no log.
# Uses only packages of packaging/debian-deps.txt (no nginx, no wrk).
# Our stack's cases need root (the daemon rate-limits other peers) and are
# skipped otherwise.  Ends with "bench-smoke: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
. "$here/lib-bench.sh"
nt_init "$here/../.." "${1:?usage: smoke.sh BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts bench-smoke
nt_tmpdir
nt_trap

driver=$NT_BUILD/bench/neostra-bench
if [ ! -x "$driver" ]; then
        nt_fail "$driver is missing (make bench-driver)"
        nt_finish
fi

# jcheck FILE PYEXPR: the driver's JSON in FILE parses and PYEXPR (over d)
# holds; prints the document when it does not.
jcheck() {
        "$NT_PYTHON" - "$1" "$2" <<'PY'
import json, sys
path, expr = sys.argv[1:3]
try:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    d = json.loads(text)
except (OSError, ValueError) as e:
    print("  not JSON: %s" % e)
    sys.exit(1)
if not isinstance(d, dict):
    sys.exit(1)
ok = eval(expr, {}, {"d": d})
if not ok:
    print("  got: %s" % text.strip())
sys.exit(0 if ok else 1)
PY
}

# run NAME ARGS...: the driver with --json; output in $NT_TMP/NAME.json,
# stderr in $NT_LOGS/NAME.log, exit status in $rc.  Tracked by PID, so an
# interrupted smoke stops it.
run() {
        _name=$1
        shift
        nt_spawn "driver-$_name" "$driver" --json "$@" >"$NT_TMP/$_name.json" 2>"$NT_LOGS/$_name.log"
        nt_wait "$NT_LAST_PID"
        rc=$?
}

pw=$NT_TMP/password
bench_password "$pw" canary || nt_die "cannot make a password"
printf 'not-the-password' >"$NT_TMP/wrong-password"
chmod 0600 "$NT_TMP/wrong-password"
conf=$NT_TMP/pam.d
bench_permit_service "$conf" || nt_die "cannot write the service files"
printf 'auth required pam_deny.so\naccount required pam_permit.so\n' >"$conf/deny"

# ---- pam_permit --------------------------------------------------------------
run permit --confdir "$conf" --service permit --user "$BENCH_USER" --password-file "$pw" \
        --workers 2 --warmup 0.2 --duration 1
if [ "$rc" -eq 0 ] && jcheck "$NT_TMP/permit.json" \
        'd["logins"] > 0 and d["failures"] == 0 and d["workers"] == 2 and d["logins_per_s"] > 0 and 0 < d["p50_ms"] <= d["p90_ms"] <= d["p99_ms"] <= d["max_ms"] and d["first_error"] is None'; then
        nt_pass "pam_permit, 2 workers, 1 s: logins counted, 0 failures, percentiles ordered, exit 0"
else
        nt_fail "pam_permit, 2 workers, 1 s (exit $rc; $(head -c 300 "$NT_LOGS/permit.log"))"
fi

run permit-n --confdir "$conf" --service permit --user "$BENCH_USER" --password-file "$pw" \
        --workers 3 --logins 100
if [ "$rc" -eq 0 ] && jcheck "$NT_TMP/permit-n.json" 'd["logins"] == 100 and d["failures"] == 0 and d["samples"] == 100'; then
        nt_pass "--logins 100 over 3 workers: exactly 100 logins, all sampled"
else
        nt_fail "--logins 100 over 3 workers (exit $rc)"
fi

# The password never on the command line: without a file or the
# environment the driver refuses to start.
"$driver" --confdir "$conf" --service permit --user "$BENCH_USER" --logins 1 >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 2 ]; then
        nt_pass "no --password-file and no BENCH_PASSWORD: usage error (exit 2)"
else
        nt_fail "no --password-file and no BENCH_PASSWORD: exit $rc, expected 2"
fi

run deny --confdir "$conf" --service deny --user "$BENCH_USER" --password-file "$pw" --logins 20 --workers 2
if [ "$rc" -eq 1 ] && jcheck "$NT_TMP/deny.json" \
        'd["failures"] == 20 and d["logins"] == 0 and "pam_authenticate" in (d["first_error"] or "")'; then
        nt_pass "pam_deny: 20 failures counted, the first PAM error named, exit 1"
else
        nt_fail "pam_deny: exit $rc, expected 1 with 20 failures"
fi

# ---- our stack, against the mock API ------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: our stack's cases (they need root: the daemon rate-limits other peers)"
        NT_SKIPPED=$((NT_SKIPPED + 6))
        nt_finish
fi
bench_users_json "$pw" "$NT_TMP/users.json" "$NT_TMP/slow-users" || nt_die "cannot write the users file"
if ! nt_mock_start "$NT_TMP/users.json"; then
        nt_fail "the mock API did not start"
        nt_finish
fi
bench_ours smoke "http://127.0.0.1:$NT_MOCK_HTTP_PORT" || nt_die "cannot write the config"
if ! nt_daemon_start smoke; then
        nt_fail "neostrad did not start"
        nt_end_checks
        nt_finish
fi
nt_http POST "$NT_MOCK_HTTP_PORT" /_control/reset '{}' >/dev/null

run ours --confdir "$NT_TMP/pam.d" --service smoke --user "$BENCH_USER" --password-file "$pw" \
        --workers 2 --warmup 0.2 --duration 1.5
stats=$(nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats)
signins=$(echo "$stats" | sed -n 's/.*"signins": *\([0-9]*\).*/\1/p')
if [ "$rc" -eq 0 ] && jcheck "$NT_TMP/ours.json" \
        "d['logins'] > 0 and d['failures'] == 0 and d['logins'] + d['warmup_logins'] <= ${signins:-0}"; then
        nt_pass "our stack (mock, HTTP), 2 workers, 1.5 s: logins counted, 0 failures, every one a sign-in at the mock"
else
        nt_fail "our stack (mock, HTTP), 2 workers: exit $rc; mock stats: $stats; $(head -c 300 "$NT_LOGS/ours.log")"
fi

run wrong --confdir "$NT_TMP/pam.d" --service smoke --user "$BENCH_USER" \
        --password-file "$NT_TMP/wrong-password" --logins 3
if [ "$rc" -eq 1 ] && jcheck "$NT_TMP/wrong.json" \
        'd["failures"] == 3 and d["logins"] == 0 and "pam_authenticate" in (d["first_error"] or "")'; then
        nt_pass "our stack, wrong password: 3 failures, the first PAM error named, exit 1"
else
        nt_fail "our stack, wrong password: exit $rc, expected 1 with 3 failures"
fi

# ---- the floors of make bench --------------------------------------------------
# relay-floor in neostrad's place, relaying each call to the mock.
signins_now() {
        nt_http GET "$NT_MOCK_HTTP_PORT" /_control/stats | sed -n 's/.*"signins": *\([0-9]*\).*/\1/p'
}
rsock=$NT_TMP/relay.sock
nt_spawn relay-floor "$NT_BUILD/bench/relay-floor" "$rsock" "$NT_MOCK_HTTP_PORT" "$BENCH_USER" \
        "$BENCH_USER@$BENCH_DOMAIN" 2>>"$NT_LOGS/relay-floor.log"
rpid=$NT_LAST_PID
bench_ours relay "http://127.0.0.1:$NT_MOCK_HTTP_PORT" || nt_die "cannot write the config"
sed -i "s|socket=[^ ]*|socket=$rsock|g" "$NT_TMP/pam.d/relay"
before=$(signins_now)
if nt_wait_until 10 "relay-floor to listen" _nt_socket_accepts "$rsock" "$rpid" && ! _nt_gone "$rpid"; then
        run relay --confdir "$NT_TMP/pam.d" --service relay --user "$BENCH_USER" --password-file "$pw" \
                --workers 2 --logins 50
        after=$(signins_now)
        if [ "$rc" -eq 0 ] && jcheck "$NT_TMP/relay.json" 'd["logins"] == 50 and d["failures"] == 0' &&
                [ "$((${after:-0} - ${before:-0}))" -ge 50 ]; then
                nt_pass "relay-floor: 50 logins through the module, 0 failures, each a sign-in at the mock"
        else
                nt_fail "relay-floor: exit $rc, sign-ins ${before:-?} -> ${after:-?}; $(head -c 300 "$NT_LOGS/relay.log")"
        fi
else
        nt_fail "relay-floor did not listen: $(head -c 300 "$NT_LOGS/relay-floor.log")"
fi

# userdb-floor (an echo server) under userdb-load, as daemon-bench.sh runs them.
usock=$NT_TMP/userdb-floor.sock
nt_spawn userdb-floor "$NT_BUILD/bench/userdb-floor" "$usock" 2>>"$NT_LOGS/userdb-floor.log"
upid=$NT_LAST_PID
if nt_wait_until 10 "userdb-floor to listen" _nt_socket_accepts "$usock" "$upid" && ! _nt_gone "$upid"; then
        nt_spawn userdb-load "$NT_BUILD/bench/userdb-load" -s "$usock" -u bu -n 10 -c 4 -d 0.5 -F \
                >"$NT_TMP/userdb-load.out" 2>>"$NT_LOGS/userdb-load.log"
        nt_wait "$NT_LAST_PID"
        rc=$?
        if [ "$rc" -eq 0 ] && grep -q '^method=all n=[1-9][0-9]* errors=0 ' "$NT_TMP/userdb-load.out"; then
                nt_pass "userdb-floor under userdb-load (4 connections, 0.5 s): answers counted, 0 errors"
        else
                nt_fail "userdb-floor under userdb-load: exit $rc; $(head -c 300 "$NT_TMP/userdb-load.out") $(tail -n 3 "$NT_LOGS/userdb-load.log")"
        fi
else
        nt_fail "userdb-floor did not listen: $(head -c 300 "$NT_LOGS/userdb-floor.log")"
fi

# memory-floor: the daemon's libraries, each used once, then idle.
mkdir -p "$NT_TMP/floor"
before=$(signins_now)
nt_spawn memory-floor "$NT_BUILD/bench/memory-floor" "$NT_TMP/floor" "http://127.0.0.1:$NT_MOCK_HTTP_PORT" \
        "$BENCH_USER@$BENCH_DOMAIN" "$pw" >"$NT_TMP/floor.out" 2>>"$NT_LOGS/memory-floor.log"
fpid=$NT_LAST_PID
if nt_wait_until 30 "memory-floor to be ready" grep -q '^ready$' "$NT_TMP/floor.out" &&
        grep -q '^VmRSS:.*[1-9][0-9]* kB' "/proc/$fpid/status" && [ "$(signins_now)" -gt "${before:-0}" ]; then
        kill -TERM "$fpid"
        nt_wait "$fpid"
        frc=$?
        if [ "$frc" -eq 0 ]; then
                nt_pass "memory-floor: signed in at the mock, ready, a VmRSS to read, exit 0 at SIGTERM"
        else
                nt_fail "memory-floor: exit $frc at SIGTERM; $(head -c 300 "$NT_LOGS/memory-floor.log")"
        fi
else
        nt_fail "memory-floor: not ready or no sign-in; $(head -c 300 "$NT_LOGS/memory-floor.log")"
fi

nt_end_checks
found=$(nt_find_canary "$(cat "$pw")" "$NT_LOGS" "$NT_TMP"/permit*.json "$NT_TMP"/deny.json \
        "$NT_TMP"/ours.json "$NT_TMP"/wrong.json "$NT_TMP"/relay.json "$NT_TMP"/floor.out)
if [ -z "$found" ]; then
        nt_pass "the password is in no log or result"
else
        nt_fail "the password is in: $found"
fi
nt_finish
