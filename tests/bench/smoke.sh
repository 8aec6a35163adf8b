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

# ---- the charts ----------------------------------------------------------------
# A results table as report.py writes it, with what the charts must leave
# out: a wrk row (no PAM), a row not measured, a row with failures.
cat >"$NT_TMP/results.md" <<'EOF'
## make bench: results

| stack | API | workers | logins/s | p50 ms | p90 ms | p99 ms | max ms | failures | new API conns / 100 logins | neostrad busy after (s) |
|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|
| pam_permit | – | 1 | 25561 | 0.036 | 0.039 | 0.074 | 1.946 | 0 | – | – |
| pam_permit | – | 8 | 47409 | 0.039 | 0.043 | 6.611 | 28.382 | 0 | – | – |
| pam_neostra → neostrad | fixed nginx, HTTP | 1 | 5104 | 0.184 | 0.216 | 0.478 | 2.829 | 0 | – | 0.0 |
| pam_neostra → neostrad | fixed nginx, HTTP | 8 | 10691 | 0.724 | 1.006 | 1.471 | 4.036 | 0 | – | 0.0 |
| wrk (keep-alive, no PAM) | fixed nginx, HTTP | 1 conn | 15973 | 0.067 | 0.079 | 0.303 | 2.500 | 0 | – | – |
| pam_exec + curl | fixed nginx, HTTP | 1, 8 | not measured (curl missing) | | | | | | | |
| pam_neostra → neostrad | mock 50 ms, HTTP | 1 | 19 | 51.834 | 52.240 | 52.531 | 52.531 | 0 | 0.00 | 0.0 |
| pam_neostra → neostrad | mock 50 ms, HTTP | 8 | 153 | 51.778 | 52.813 | 53.983 | 55.699 | 0 | 0.00 | 0.0 |
| pam_neostra → neostrad | mock 50 ms, HTTP | 64 | 1228 | 51.142 | 52.638 | 56.234 | 62.695 | **3** [1] | 0.00 | 0.0 |
| pam_ldap → nslcd → slapd | LDAP (loopback) | 1 | 815 | 1.191 | 1.342 | 2.253 | 11.520 | 0 | – | – |
EOF
svg_ok() { # FILE TEXT...: well-formed SVG whose text holds each TEXT
        "$NT_PYTHON" - "$@" <<'PY'
import sys
import xml.etree.ElementTree as ET
path, wanted = sys.argv[1], sys.argv[2:]
root = ET.parse(path).getroot()
if root.tag != "{http://www.w3.org/2000/svg}svg":
    sys.exit("%s: the root is %s, not svg" % (path, root.tag))
text = " ".join(root.itertext())
missing = [w for w in wanted if w not in text]
if missing:
    sys.exit("%s: no %s in its text" % (path, ", ".join(missing)))
PY
}
if ! command -v gnuplot >/dev/null 2>&1; then
        echo "skipped: gnuplot is missing (Debian's gnuplot-nox, in packaging/debian-deps.txt): no chart checks"
        NT_SKIPPED=$((NT_SKIPPED + 1))
else
        charts=$NT_TMP/charts
        if "$NT_PYTHON" "$here/charts.py" "$NT_TMP/results.md" "$charts" >"$NT_TMP/charts.out" 2>&1 &&
           [ "$(grep -c '\.svg$' "$NT_TMP/charts.out")" -eq 4 ]; then
                nt_pass "charts.py draws 4 charts from a results table (logins/s twice, latency at 1 and 8 workers)"
        else
                nt_fail "charts.py: $(head -c 500 "$NT_TMP/charts.out")"
        fi
        for c in "logins|pam_permit|pam_neostra, fixed nginx, HTTP|pam_ldap" \
                 "logins-50ms|pam_neostra, mock 50 ms, HTTP|the limit: workers" \
                 "latency-w1|pam_permit|pam_ldap → nslcd → slapd|p50|p90|p99" \
                 "latency-w8|pam_permit|pam_neostra, fixed nginx, HTTP|latency (ms)"; do
                name=${c%%|*}
                old_ifs=$IFS
                IFS='|'
                # shellcheck disable=SC2086 # split on | into the texts to find
                set -- ${c#*|}
                IFS=$old_ifs
                if err=$(svg_ok "$charts/$name.svg" "$@" 2>&1); then
                        nt_pass "$name.svg is SVG and names what it shows"
                else
                        nt_fail "$name.svg: $err"
                fi
        done
        # Left out: the wrk row, the row not measured, the row with failures.
        if grep -q '^8 10691$' "$charts/logins.dat" && ! grep -q 'wrk\|pam_exec' "$charts"/*.dat &&
           grep -q '^8 153$' "$charts/logins-50ms.dat" && ! grep -q '^64 ' "$charts/logins-50ms.dat" &&
           [ ! -e "$charts/latency-w64.svg" ]; then
                nt_pass "charts leave out wrk rows, rows not measured and rows with failures"
        else
                nt_fail "charts show a wrk row, a row not measured or one with failures"
        fi
        printf '# no table here\n' >"$NT_TMP/empty.md"
        if "$NT_PYTHON" "$here/charts.py" "$NT_TMP/empty.md" "$NT_TMP/charts-empty" >/dev/null 2>&1; then
                nt_fail "charts.py accepts a file without a results table"
        else
                nt_pass "charts.py refuses a file without a results table"
        fi
        shown=$(sed -n 's/.*](\(tests\/bench\/charts\/[a-z0-9-]*\.svg\)).*/\1/p' "$NT_TOP/BENCHMARKS.md")
        bad=
        for f in $shown; do
                svg_ok "$NT_TOP/$f" >/dev/null 2>&1 || bad="$bad $f"
        done
        n=$(echo "$shown" | grep -c .)
        if [ "$n" -ge 3 ] && [ -z "$bad" ]; then
                nt_pass "BENCHMARKS.md shows $n committed charts, each well-formed SVG"
        else
                nt_fail "BENCHMARKS.md charts: $n shown; missing or malformed:$bad"
        fi
fi

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
