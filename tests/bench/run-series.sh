#!/bin/sh
# run-series.sh DRIVER OUTDIR ID "WORKERS..." [DRIVER ARGS...]: one row
# group of `make bench`: BENCH_RUNS runs (default 3) of the load driver
# (tests/bench/driver.c) per worker count, each BENCH_WARMUP s of warm-up
# (default 1) then BENCH_DURATION s measured (default 5).  Runs are the
# outer loop, worker counts the inner one, so drift hits all alike.
#
# Each run's JSON goes to OUTDIR/ID-wN.rR.json (stderr to ….err).  With
# BENCH_MOCK_PORT set (the mock API's plain HTTP port), the mock's counters
# are reset before each run and its /_control/stats saved after it to
# OUTDIR/ID-wN.rR.stats.json (new API connections per sign-in).  The reset
# is done BENCH_WARMUP s after the driver starts, i.e. about when its
# warm-up ends, so the counts are of the measured part only.
# With BENCH_SETTLE_PID set (neostrad's PID), after each run we wait until
# that process is idle again (at most 2 ticks of CPU in 0.5 s; at most
# BENCH_SETTLE_MAX s, default 120), so no run pays for work the previous
# one queued (the daemon makes a yescrypt verifier per online success, off
# its event loop); the seconds waited go to OUTDIR/ID-wN.rR.settle.
# With --ldap-env first among the driver args, --confdir/--service/--user/
# --password-file come from BENCH_LDAP_* (tests/bench/ldap-baseline.sh runs
# this script inside its namespace).
#
# Exit status: 0, or 1 when any run had failures (they are in the JSON).
set -u
here=$(cd "$(dirname "$0")" && pwd)
driver=${1:?usage: run-series.sh DRIVER OUTDIR ID WORKERS [ARGS...]}
outdir=${2:?}
id=${3:?}
workers=${4:?}
shift 4
if [ "${1:-}" = --ldap-env ]; then
        shift
        set -- --confdir "${BENCH_LDAP_CONFDIR:?}" --service "${BENCH_LDAP_SERVICE:?}" \
                --user "${BENCH_LDAP_USER:?}" --password-file "${BENCH_LDAP_PASSWORD_FILE:?}" "$@"
fi
runs=${BENCH_RUNS:-3}
duration=${BENCH_DURATION:-5}
warmup=${BENCH_WARMUP:-1}

# The driver is stopped (by its PID; it stops its own workers) when we are.
dpid=
trap '[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null; exit 143' TERM
trap '[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null; exit 130' INT
trap '[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null; exit 129' HUP

cpu_ticks() { # PID: utime + stime
        sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}
uptime_cs() {
        awk '{ printf "%d\n", $1 * 100 }' /proc/uptime
}
settle() { # PID: prints the seconds until PID was idle
        _s0=$(uptime_cs)
        _t=$(cpu_ticks "$1")
        while [ -n "$_t" ]; do
                sleep 0.5
                _t1=$(cpu_ticks "$1")
                [ -n "$_t1" ] || break
                [ $((_t1 - _t)) -le 2 ] && break
                [ $(($(uptime_cs) - _s0)) -ge $((${BENCH_SETTLE_MAX:-120} * 100)) ] && break
                _t=$_t1
        done
        awk -v a="$_s0" -v b="$(uptime_cs)" 'BEGIN { printf "%.1f\n", (b - a) / 100 - 0.5 }'
}

mock() { # METHOD PATH: the mock's control endpoint, body on stdout
        /usr/bin/python3 - "$1" "$BENCH_MOCK_PORT" "$2" <<'PY'
import sys, urllib.request
method, port, path = sys.argv[1:4]
req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path),
                             data=b"{}" if method == "POST" else None, method=method)
with urllib.request.urlopen(req, timeout=10) as r:
    sys.stdout.write(r.read().decode())
PY
}

status=0
r=1
while [ "$r" -le "$runs" ]; do
        for w in $workers; do
                base=$outdir/$id-w$w.r$r
                "$driver" --json --workers "$w" --warmup "$warmup" --duration "$duration" "$@" \
                        >"$base.json" 2>"$base.err" &
                dpid=$!
                if [ -n "${BENCH_MOCK_PORT:-}" ]; then
                        # Counted from the end of the warm-up: the steady state,
                        # not the daemon's first connections.
                        sleep "$warmup"
                        mock POST /_control/reset >/dev/null || echo "run-series: cannot reset the mock" >&2
                fi
                wait "$dpid"
                rc=$?
                dpid=
                [ "$rc" -eq 0 ] || status=1
                if [ -n "${BENCH_MOCK_PORT:-}" ]; then
                        mock GET /_control/stats >"$base.stats.json" || rm -f "$base.stats.json"
                fi
                if [ -n "${BENCH_SETTLE_PID:-}" ]; then
                        settle "$BENCH_SETTLE_PID" >"$base.settle"
                fi
                field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$base.json" | head -n1; }
                msg="$(field logins_per_s) logins/s, p50 $(field p50_ms) ms, p99 $(field p99_ms) ms, failures $(field failures)"
                [ -s "$base.settle" ] && msg="$msg; daemon busy $(cat "$base.settle") s after"
                [ "$rc" -eq 0 ] || msg="$msg (exit $rc: $(field first_error)$(head -c 300 "$base.err"))"
                printf '  %-22s %3s workers, run %s/%s: %s\n' "$id" "$w" "$r" "$runs" "$msg" >&2
        done
        r=$((r + 1))
done
exit $status
