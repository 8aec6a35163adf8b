#!/bin/sh
# bench.sh BUILDDIR: `make bench` (issue 6).  In one go, on this machine,
# every stack through the same load driver ($BUILDDIR/bench/neostra-bench,
# tests/bench/driver.c: full PAM transactions from a private service
# directory), at 1 and 8 workers, medians of BENCH_RUNS runs:
#
#   pam_permit (auth + account)                 the floor of PAM itself
#   ours: pam_neostra.so -> neostrad -> API, the API being
#     a fixed-answer nginx on 127.0.0.1         HTTP and HTTPS
#     tests/mock_api.py answering at once       HTTP and HTTPS
#     tests/mock_api.py answering in 50 ms      HTTP and HTTPS, also 64 workers
#     tests/bench/fixed-api.py (asyncio) answering in 50 ms: 1, 8, 64 workers
#     tests/bench/daemon-fakeapi.c (C, epoll) answering in 50 ms, HTTP:
#       1, 8, 64 workers (an API whose own CPU is next to nothing)
#   pam_exec + curl (tests/bench/pam-exec-curl.sh) -> the fixed nginx, HTTP
#   pam_ldap -> nslcd -> slapd                  tests/bench/ldap-baseline.sh
#   the raw API limit: wrk, keep-alive, POST to the fixed nginx, 1 and 8
#     connections, HTTP and HTTPS (no PAM); and wrk with 64 connections
#     against the mock answering in 50 ms (the floor of the 64 x 50 ms
#     target: what the mock itself manages), and so against fixed-api.py
#     and daemon-fakeapi
#
# then one Markdown table and the targets' ratios from the same run's
# figures (tests/bench/report.py), the daemon measurements of
# tests/bench/daemon-bench.sh when it exists, and writes all of it with
# the machine and the command to $BUILDDIR/bench/results.md; last, the same
# figures as SVG charts in $BUILDDIR/bench/charts/ (tests/bench/charts.py,
# gnuplot: logins/s by worker count, latency percentiles per worker count).
#
# Environment: BENCH_RUNS (3), BENCH_DURATION (5 s measured per run),
# BENCH_WARMUP (1 s), BENCH_WORKERS ("1 8"), BENCH_ONLY (row ids to run,
# e.g. "permit ours-nginx-http"; default all: permit ours-nginx-http
# relay-nginx-http ours-nginx-https pamexec wrk ours-mock0-http ours-mock0-https
# ours-mock50-http ours-mock50-https wrk-mock50 wrk-mock50-https ours-fixed50-http
# ours-fixed50-https wrk-fixed50 ours-cfixed50-http wrk-cfixed50 ldap
# daemon), BENCH_KEEP_DAEMON_DEBUG=1
# starts neostrad with --debug (tests/lib.sh nt_daemon_start) instead of
# without it, BENCH_DAEMON_NICE=N runs it at nice N instead of the unit's
# Nice=.
#
# Root is needed (the daemon's rate limits spare root only; pam_ldap and
# nslcd run in a private mount namespace).  Everything listens on 127.0.0.1
# only, lives in one temporary directory and is stopped by PID on any exit
# (tests/lib.sh nt_trap).  Nothing in /etc is touched.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib.sh"
. "$here/lib-bench.sh"
nt_init "$top" "${1:?usage: bench.sh BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
[ "$(id -u)" -eq 0 ] || nt_die "make bench needs root (the daemon rate-limits other peers; nslcd/slapd need a mount namespace)"

BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_DURATION=${BENCH_DURATION:-5}
BENCH_WARMUP=${BENCH_WARMUP:-1}
BENCH_WORKERS=${BENCH_WORKERS:-1 8}
BENCH_ONLY=${BENCH_ONLY:-}
export BENCH_RUNS BENCH_DURATION BENCH_WARMUP
driver=$NT_BUILD/bench/neostra-bench
[ -x "$driver" ] || nt_die "$driver is missing (make bench-driver)"
command_line="make bench BENCH_RUNS=$BENCH_RUNS BENCH_DURATION=$BENCH_DURATION BENCH_WARMUP=$BENCH_WARMUP${BENCH_ONLY:+ BENCH_ONLY=\"$BENCH_ONLY\"}"

nt_tmpdir
nt_trap
out=$NT_TMP/out
mkdir -p "$out" "$NT_BUILD/bench" || nt_die "cannot create $out"
rows=$out/rows.tsv
: >"$rows"

say() { printf '%s\n' "bench: $*" >&2; }
wanted() { # ID
        [ -z "$BENCH_ONLY" ] && return 0
        case " $BENCH_ONLY " in
        *" $1 "*) return 0 ;;
        esac
        return 1
}
row() { # ID KIND STACK API WORKERS [NOTE]
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >>"$rows"
}
# series ID WORKERS DRIVER_ARGS...: BENCH_RUNS runs per worker count
# (tests/bench/run-series.sh), tracked by PID.
series() {
        _id=$1
        _w=$2
        shift 2
        nt_spawn "series-$_id" sh "$here/run-series.sh" "$driver" "$out" "$_id" "$_w" "$@"
        nt_wait "$NT_LAST_PID"
}

# wrk64 ID LUA BASE_URL LABEL: the BENCH_RUNS wrk runs of row ID (64
# keep-alive connections, no PAM) against a 50 ms API at BASE_URL, the
# request from the wrk script LUA; each run's output in $out/ID-c64.rN.wrk.
wrk64() {
        _w=1
        while [ "$_w" -le "$BENCH_RUNS" ]; do
                _wf=$out/$1-c64.r$_w.wrk
                nt_spawn wrk wrk -t2 -c64 -d"${BENCH_DURATION}s" --latency -s "$2" \
                        "$3$BENCH_SIGNIN_PATH" >"$_wf" 2>&1
                nt_wait "$NT_LAST_PID"
                say "  wrk $4, 64 connections, run $_w/$BENCH_RUNS: $(sed -n 's/^Requests\/sec: *//p' "$_wf") req/s, p99 $(sed -n 's/^ *99% *//p' "$_wf")"
                _w=$((_w + 1))
        done
}

# The daemon: without --debug unless asked (one log line per decision is
# what a production daemon writes too), with the unit's Nice= and
# Environment= as systemd starts it (bench_nice, bench_unit_env).  Same as
# tests/lib.sh nt_daemon_start otherwise (tracked by PID, ready when the
# socket accepts).
daemon_start() { # NAME
        if [ "${BENCH_KEEP_DAEMON_DEBUG:-0}" = 1 ]; then
                nt_daemon_start "$1"
                return
        fi
        # shellcheck disable=SC2046 # K=V words
        env -u NEOSTRA_CANARY -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID $(bench_unit_env) \
                nice -n "$(bench_nice)" \
                "$NT_BUILD/neostrad" -c "$NT_TMP/$1.conf" >>"$NT_LOGS/$1.log" 2>&1 &
        _nt_track $! "neostrad-$1"
        _b_dpid=$!
        nt_wait_until 10 "neostrad $1 to listen" _nt_socket_accepts "$(nt_socket_path "$1")" "$_b_dpid" ||
                return 1
        _nt_alive "$_b_dpid"
}
daemon_stop() { # NAME PID
        nt_stop "$2" "neostrad-$1"
        _rc=$?
        [ "$_rc" -eq 0 ] || say "neostrad $1 exited with status $_rc (log: see below)"
        if [ "$_rc" -ne 0 ] || grep -qiE 'error|crit|alert|emerg' "$NT_LOGS/$1.log"; then
                say "neostrad $1: $(grep -ciE 'error|crit' "$NT_LOGS/$1.log") error lines; last:"
                grep -iE 'error|crit' "$NT_LOGS/$1.log" | tail -n 3 >&2
        fi
}

# ours ID STACK_API URL [CA] -- WORKERS DRIVER_ARGS...: a daemon for URL,
# the series, the daemon stopped.
ours() {
        _oid=$1 _oapi=$2 _ourl=$3 _oca=$4 _ow=$5
        shift 5
        wanted "$_oid" || return 0
        row "$_oid" pam "pam_neostra → neostrad" "$_oapi" "$_ow"
        bench_ours "$_oid" "$_ourl" "$_oca" || nt_die "cannot write the config for $_oid"
        if ! daemon_start "$_oid"; then
                say "neostrad $_oid did not start:"
                tail -n 5 "$NT_LOGS/$_oid.log" >&2
                return 0
        fi
        _opid=$NT_LAST_PID
        say "ours, $_oapi ($_ourl)"
        # run-series.sh waits for the daemon to be idle after each run.
        BENCH_SETTLE_PID=$_opid
        export BENCH_SETTLE_PID
        series "$_oid" "$_ow" --confdir "$NT_TMP/pam.d" --service "$_oid" "$@" --password-file "$pw"
        unset BENCH_SETTLE_PID
        daemon_stop "$_oid" "$_opid"
}

# ---- common set-up -------------------------------------------------------------
pw=$NT_TMP/password
bench_password "$pw" || nt_die "cannot make a password"
certs=$NT_TMP/certs
nt_gen_certs "$certs" || nt_die "cannot make test certificates"
bench_users_json "$pw" "$NT_TMP/users.json" "$NT_TMP/slow-users" || nt_die "cannot write the users file"
bench_permit_service "$NT_TMP/pam.d" || nt_die "cannot write the service files"
signin_body=$(bench_body "$BENCH_USER@$BENCH_DOMAIN")
# wrk's request: a POST with a sign-in body, as the daemon sends it (keep-alive).
cat >"$NT_TMP/wrk-post.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"email":"$BENCH_USER@$BENCH_DOMAIN","password":"not-a-real-password"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
EOF
say "$BENCH_RUNS runs x ${BENCH_DURATION}s (after ${BENCH_WARMUP}s warm-up) per measurement; workers $BENCH_WORKERS"

# ---- pam_permit --------------------------------------------------------------------
if wanted permit; then
        row permit pam "pam_permit" "–" "$BENCH_WORKERS"
        say "pam_permit"
        series permit "$BENCH_WORKERS" --confdir "$NT_TMP/pam.d" --service permit --user "$BENCH_USER" \
                --password-file "$pw"
fi

# ---- the fixed-answer nginx ------------------------------------------------------------
nginx_up=0
if wanted ours-nginx-http || wanted relay-nginx-http || wanted ours-nginx-https || wanted pamexec || wanted wrk; then
        ngx=$NT_TMP/nginx
        mkdir -p "$ngx"
        ngx_http=$(nt_free_port)
        ngx_https=$(nt_free_port)
        while [ "$ngx_https" = "$ngx_http" ]; do ngx_https=$(nt_free_port); done
        # The body goes through sed: escape what is special in its replacement.
        body_sed=$(printf '%s' "$signin_body" | sed 's/[\\&|]/\\&/g')
        sed -e "s|@DIR@|$ngx|g" -e "s|@HTTP_PORT@|$ngx_http|g" -e "s|@HTTPS_PORT@|$ngx_https|g" \
                -e "s|@CERT@|$certs/server.pem|g" -e "s|@KEY@|$certs/server.key|g" \
                -e "s|@SIGNIN_PATH@|$BENCH_SIGNIN_PATH|g" -e "s|@BODY@|$body_sed|g" \
                "$here/nginx-fixed.conf.in" >"$ngx/nginx.conf"
        if ! command -v nginx >/dev/null 2>&1; then
                say "nginx is missing (make bench-deps)"
        else
                nt_spawn nginx nginx -e "$ngx/error.log" -p "$ngx" -c "$ngx/nginx.conf" -g 'daemon off;' \
                        >>"$NT_LOGS/nginx.log" 2>&1
                ngx_pid=$NT_LAST_PID
                ngx_ready() {
                        _nt_gone "$ngx_pid" && return 0
                        [ "$(curl -s -o /dev/null -w '%{http_code}' \
                                "http://127.0.0.1:$ngx_http$BENCH_SIGNIN_PATH" 2>/dev/null)" = 200 ]
                }
                if nt_wait_until 10 "nginx to answer" ngx_ready && _nt_alive "$ngx_pid"; then
                        got=$(curl -s --cacert "$certs/ca.pem" -H 'Content-Type: application/json' \
                                --data-binary '{"email":"x","password":"y"}' \
                                "https://127.0.0.1:$ngx_https$BENCH_SIGNIN_PATH")
                        if [ "$got" = "$signin_body" ]; then
                                nginx_up=1
                        else
                                say "nginx's HTTPS answer is not the sign-in document: $got"
                        fi
                else
                        say "nginx did not start:"
                        tail -n 5 "$ngx/error.log" "$NT_LOGS/nginx.log" >&2
                fi
        fi
fi
nginx_note="nginx did not start; see above"

if [ "$nginx_up" = 1 ]; then
        ours ours-nginx-http "fixed nginx, HTTP" "http://127.0.0.1:$ngx_http" "" "$BENCH_WORKERS" \
                --user "$BENCH_USER"
        # The floor of this design: the same module and PAM stack against
        # tests/bench/relay-floor.c, which only relays each call to nginx
        # over a kept-alive connection and answers success.
        if wanted relay-nginx-http; then
                row relay-nginx-http pam "pam_neostra → relay-floor (the design's floor)" \
                        "fixed nginx, HTTP" "$BENCH_WORKERS"
                _rsock=$NT_TMP/relay.sock
                nt_spawn relay-floor nice -n "$(bench_nice)" "$NT_BUILD/bench/relay-floor" "$_rsock" \
                        "$ngx_http" "$BENCH_USER" "$BENCH_USER@$BENCH_DOMAIN" 2>>"$NT_LOGS/relay.log"
                _rpid=$NT_LAST_PID
                bench_ours relay-nginx-http "http://127.0.0.1:$ngx_http" "" ||
                        nt_die "cannot write the config for relay-nginx-http"
                sed -i "s|socket=[^ ]*|socket=$_rsock|g" "$NT_TMP/pam.d/relay-nginx-http"
                if nt_wait_until 10 "relay-floor to listen" _nt_socket_accepts "$_rsock" "$_rpid"; then
                        say "the design's floor: pam_neostra → relay-floor → fixed nginx, HTTP"
                        series relay-nginx-http "$BENCH_WORKERS" --confdir "$NT_TMP/pam.d" \
                                --service relay-nginx-http --user "$BENCH_USER" --password-file "$pw"
                else
                        say "relay-floor did not start"
                fi
                nt_stop "$_rpid" relay-floor
        fi
        ours ours-nginx-https "fixed nginx, HTTPS" "https://127.0.0.1:$ngx_https" "$certs/ca.pem" \
                "$BENCH_WORKERS" --user "$BENCH_USER"
else
        for id in ours-nginx-http relay-nginx-http ours-nginx-https; do
                wanted "$id" && row "$id" skip "pam_neostra → neostrad" "fixed nginx" "$BENCH_WORKERS" "$nginx_note"
        done
fi

# ---- pam_exec + curl ----------------------------------------------------------------
if wanted pamexec; then
        if [ "$nginx_up" = 1 ]; then
                row pamexec pam "pam_exec + curl" "fixed nginx, HTTP" "$BENCH_WORKERS"
                # sh runs the script, so its mode in the checkout does not matter.
                printf 'auth required pam_exec.so expose_authtok quiet /bin/sh %s %s %s\naccount required pam_permit.so\n' \
                        "$here/pam-exec-curl.sh" "http://127.0.0.1:$ngx_http$BENCH_SIGNIN_PATH" "$BENCH_DOMAIN" \
                        >"$NT_TMP/pam.d/pamexec"
                say "pam_exec + curl"
                series pamexec "$BENCH_WORKERS" --confdir "$NT_TMP/pam.d" --service pamexec \
                        --user "$BENCH_USER" --password-file "$pw"
        else
                row pamexec skip "pam_exec + curl" "fixed nginx, HTTP" "$BENCH_WORKERS" "$nginx_note"
        fi
fi

# ---- the raw API limit: wrk ----------------------------------------------------------------
if wanted wrk; then
        wrk_conns=
        for w in $BENCH_WORKERS; do wrk_conns="$wrk_conns $w"; done
        if [ "$nginx_up" = 1 ] && command -v wrk >/dev/null 2>&1; then
                row wrk-http wrk "wrk (keep-alive, no PAM)" "fixed nginx, HTTP" "$wrk_conns"
                row wrk-https wrk "wrk (keep-alive, no PAM)" "fixed nginx, HTTPS" "$wrk_conns"
                say "wrk against nginx"
                r=1
                while [ "$r" -le "$BENCH_RUNS" ]; do
                        for c in $wrk_conns; do
                                for p in http https; do
                                        [ $p = http ] && port=$ngx_http || port=$ngx_https
                                        f=$out/wrk-$p-c$c.r$r.wrk
                                        nt_spawn wrk wrk -t1 -c"$c" -d"${BENCH_DURATION}s" --latency \
                                                -s "$NT_TMP/wrk-post.lua" "$p://127.0.0.1:$port$BENCH_SIGNIN_PATH" \
                                                >"$f" 2>&1
                                        nt_wait "$NT_LAST_PID"
                                        say "  wrk $p, $c connection(s), run $r/$BENCH_RUNS: $(sed -n 's/^Requests\/sec: *//p' "$f") req/s"
                                done
                        done
                        r=$((r + 1))
                done
        else
                row wrk skip "wrk (keep-alive, no PAM)" "fixed nginx" "$wrk_conns" \
                        "$( [ "$nginx_up" = 1 ] && echo "wrk is missing (make bench-deps)" || echo "$nginx_note")"
        fi
fi
if [ -n "${ngx_pid:-}" ]; then
        nt_stop "$ngx_pid" nginx
        ngx_pid=
fi

# ---- the mock API --------------------------------------------------------------------------
mock_ids="ours-mock0-http ours-mock0-https ours-mock50-http ours-mock50-https wrk-mock50 wrk-mock50-https"
mock_wanted=0
for id in $mock_ids; do wanted "$id" && mock_wanted=1; done
if [ "$mock_wanted" = 1 ]; then
        if nt_mock_start "$NT_TMP/users.json" "$certs"; then
                # run-series.sh resets the mock's counters before each run and
                # keeps its stats (connections, sign-ins) after it.
                export BENCH_MOCK_PORT="$NT_MOCK_HTTP_PORT"
                http=http://127.0.0.1:$NT_MOCK_HTTP_PORT
                https=https://127.0.0.1:$NT_MOCK_HTTPS_PORT
                ours ours-mock0-http "mock 0 ms, HTTP" "$http" "" "$BENCH_WORKERS" --user "$BENCH_USER"
                ours ours-mock0-https "mock 0 ms, HTTPS" "$https" "$certs/ca.pem" "$BENCH_WORKERS" \
                        --user "$BENCH_USER"
                # 64 different users (slow01..slow64, each answered in 50 ms):
                # 64 workers are 64 concurrent logins.
                ours ours-mock50-http "mock 50 ms, HTTP" "$http" "" "$BENCH_WORKERS 64" \
                        --users-file "$NT_TMP/slow-users"
                ours ours-mock50-https "mock 50 ms, HTTPS" "$https" "$certs/ca.pem" "$BENCH_WORKERS 64" \
                        --users-file "$NT_TMP/slow-users"
                unset BENCH_MOCK_PORT
                # The floor of the 64 x 50 ms target: the mock itself under 64
                # keep-alive connections (wrk, no PAM, no daemon), right
                # password (from a 0600 file in $NT_TMP, never argv).
                if { wanted wrk-mock50 || wanted wrk-mock50-https; } && command -v wrk >/dev/null 2>&1; then
                        {
                                echo 'wrk.method = "POST"'
                                printf "wrk.body = '{\"email\":\"slow01@%s\",\"password\":\"%s\"}'\n" \
                                        "$BENCH_DOMAIN" "$(cat "$pw")"
                                echo 'wrk.headers["Content-Type"] = "application/json"'
                        } >"$NT_TMP/wrk-slow.lua"
                        if wanted wrk-mock50; then
                                row wrk-mock50 wrk "wrk (keep-alive, no PAM)" "mock 50 ms, HTTP" 64
                                say "wrk against the mock, 50 ms, 64 connections"
                                wrk64 wrk-mock50 "$NT_TMP/wrk-slow.lua" "$http" "mock 50 ms"
                        fi
                        # The same over TLS (wrk does not check the certificate).
                        if wanted wrk-mock50-https; then
                                row wrk-mock50-https wrk "wrk (keep-alive, no PAM)" "mock 50 ms, HTTPS" 64
                                say "wrk against the mock, 50 ms, HTTPS, 64 connections"
                                wrk64 wrk-mock50-https "$NT_TMP/wrk-slow.lua" "$https" "mock 50 ms, HTTPS"
                        fi
                fi
                nt_stop "$NT_MOCK_PID" mock_api
        else
                for id in $mock_ids; do
                        wanted "$id" && row "$id" skip "pam_neostra → neostrad" "mock" "$BENCH_WORKERS" \
                                "the mock API did not start"
                done
        fi
fi

# ---- a fixed answer in 50 ms (tests/bench/fixed-api.py, asyncio) -------------------------------
# The 64 x 50 ms target once more, against an API that answers every request
# in 50 ms whatever the concurrency (the mock's thread per connection does
# not quite: see the wrk-mock50 row).
fixed_ids="ours-fixed50-http ours-fixed50-https wrk-fixed50"
fixed_wanted=0
for id in $fixed_ids; do wanted "$id" && fixed_wanted=1; done
if [ "$fixed_wanted" = 1 ]; then
        fpf=$NT_TMP/fixed-api.ports
        nt_spawn fixed-api "$NT_PYTHON" "$here/fixed-api.py" --port-file "$fpf" --delay-ms 50 \
                --cert "$certs/server.pem" --key "$certs/server.key" >>"$NT_LOGS/fixed-api.log" 2>&1
        fpid=$NT_LAST_PID
        if nt_wait_until 10 "fixed-api.py's port file" _nt_port_file_ready "$fpf" "$fpid" && _nt_alive "$fpid"; then
                f_http=$(sed -n 's/.*"http": *\([0-9][0-9]*\).*/\1/p' "$fpf")
                f_https=$(sed -n 's/.*"https": *\([0-9][0-9]*\).*/\1/p' "$fpf")
                export BENCH_MOCK_PORT="$f_http"
                ours ours-fixed50-http "fixed 50 ms (asyncio), HTTP" "http://127.0.0.1:$f_http" "" \
                        "$BENCH_WORKERS 64" --users-file "$NT_TMP/slow-users"
                ours ours-fixed50-https "fixed 50 ms (asyncio), HTTPS" "https://127.0.0.1:$f_https" \
                        "$certs/ca.pem" "$BENCH_WORKERS 64" --users-file "$NT_TMP/slow-users"
                unset BENCH_MOCK_PORT
                if wanted wrk-fixed50 && command -v wrk >/dev/null 2>&1; then
                        row wrk-fixed50 wrk "wrk (keep-alive, no PAM)" "fixed 50 ms (asyncio), HTTP" 64
                        wrk64 wrk-fixed50 "$NT_TMP/wrk-post.lua" "http://127.0.0.1:$f_http" "fixed 50 ms"
                fi
        else
                say "fixed-api.py did not start:"
                tail -n 5 "$NT_LOGS/fixed-api.log" >&2
                for id in $fixed_ids; do
                        wanted "$id" && row "$id" skip "pam_neostra → neostrad" "fixed 50 ms (asyncio)" \
                                "$BENCH_WORKERS 64" "fixed-api.py did not start"
                done
        fi
        nt_stop "$fpid" fixed-api
fi

# ---- a fixed answer in 50 ms from C (tests/bench/daemon-fakeapi.c, epoll) ----------------------
# The same target against an API that costs next to no CPU: on this 2-CPU
# machine the Python APIs' own CPU competes with the daemon and the 64 PAM
# processes; what is left here is ours.  HTTP only (daemon-fakeapi has no
# TLS).  It answers /_control/stats and /_control/reset like the mock, so
# the row has its new API connections too.
cfixed_ids="ours-cfixed50-http wrk-cfixed50"
cfixed_wanted=0
for id in $cfixed_ids; do wanted "$id" && cfixed_wanted=1; done
if [ "$cfixed_wanted" = 1 ]; then
        cfapi=$NT_BUILD/bench/daemon-fakeapi
        cfpf=$NT_TMP/daemon-fakeapi.port
        cfpid=
        if [ ! -x "$cfapi" ]; then
                cf_note="$cfapi is missing (make daemon-bench-build)"
        else
                cf_note="daemon-fakeapi did not start"
                nt_spawn daemon-fakeapi "$cfapi" --delay-ms 50 "$cfpf" >>"$NT_LOGS/daemon-fakeapi.log" 2>&1
                cfpid=$NT_LAST_PID
        fi
        if [ -n "$cfpid" ] && nt_wait_until 10 "daemon-fakeapi's port file" _nt_port_file_ready "$cfpf" "$cfpid" &&
                _nt_alive "$cfpid"; then
                cf_http=$(cat "$cfpf")
                export BENCH_MOCK_PORT="$cf_http"
                ours ours-cfixed50-http "fixed 50 ms (C), HTTP" "http://127.0.0.1:$cf_http" "" \
                        "$BENCH_WORKERS 64" --users-file "$NT_TMP/slow-users"
                unset BENCH_MOCK_PORT
                if wanted wrk-cfixed50 && command -v wrk >/dev/null 2>&1; then
                        row wrk-cfixed50 wrk "wrk (keep-alive, no PAM)" "fixed 50 ms (C), HTTP" 64
                        wrk64 wrk-cfixed50 "$NT_TMP/wrk-post.lua" "http://127.0.0.1:$cf_http" "fixed 50 ms (C)"
                fi
        else
                if [ -n "$cfpid" ]; then
                        say "daemon-fakeapi did not start:"
                        tail -n 5 "$NT_LOGS/daemon-fakeapi.log" >&2
                else
                        say "$cf_note"
                fi
                wanted ours-cfixed50-http && row ours-cfixed50-http skip "pam_neostra → neostrad" \
                        "fixed 50 ms (C), HTTP" "$BENCH_WORKERS 64" "$cf_note"
                wanted wrk-cfixed50 && row wrk-cfixed50 skip "wrk (keep-alive, no PAM)" \
                        "fixed 50 ms (C), HTTP" 64 "$cf_note"
        fi
        [ -n "$cfpid" ] && nt_stop "$cfpid" daemon-fakeapi
fi

# ---- pam_ldap -> nslcd -> slapd ----------------------------------------------------------------
if wanted ldap; then
        ldap_script=$here/ldap-baseline.sh
        if [ -f "$ldap_script" ]; then
                row ldap pam "pam_ldap → nslcd → slapd" "LDAP (loopback)" "$BENCH_WORKERS"
                say "pam_ldap -> nslcd -> slapd (tests/bench/ldap-baseline.sh)"
                nt_spawn ldap-baseline sh "$ldap_script" "$NT_BUILD" -- \
                        sh "$here/run-series.sh" "$driver" "$out" ldap "$BENCH_WORKERS" --ldap-env
                nt_wait "$NT_LAST_PID"
                rc=$?
                case $rc in
                0|1) ;;
                77) row ldap skip "pam_ldap → nslcd → slapd" "LDAP (loopback)" "$BENCH_WORKERS" \
                        "ldap-baseline.sh skipped it; see above" ;;
                *) row ldap skip "pam_ldap → nslcd → slapd" "LDAP (loopback)" "$BENCH_WORKERS" \
                        "ldap-baseline.sh failed with status $rc; see above" ;;
                esac
        else
                row ldap skip "pam_ldap → nslcd → slapd" "LDAP (loopback)" "$BENCH_WORKERS" \
                        "tests/bench/ldap-baseline.sh missing"
        fi
fi

# ---- report ------------------------------------------------------------------------------------
table=$out/table.md
"$NT_PYTHON" "$here/report.py" "$out" >"$table" || nt_die "report.py failed"

daemon_md=
if wanted daemon; then
        if [ -f "$here/daemon-bench.sh" ]; then
                say "tests/bench/daemon-bench.sh"
                nt_spawn daemon-bench sh "$here/daemon-bench.sh" "$NT_BUILD" >"$out/daemon.md" 2>"$NT_LOGS/daemon-bench.log"
                nt_wait "$NT_LAST_PID"
                rc=$?
                daemon_md=$out/daemon.md
                [ "$rc" -eq 0 ] || {
                        say "daemon-bench.sh exited with status $rc; its stderr:"
                        tail -n 20 "$NT_LOGS/daemon-bench.log" >&2
                        printf '\n(tests/bench/daemon-bench.sh exited with status %s)\n' "$rc" >>"$daemon_md"
                }
        else
                printf 'userdb, memory and cold start: not measured (tests/bench/daemon-bench.sh missing)\n' \
                        >"$out/daemon.md"
                daemon_md=$out/daemon.md
        fi
fi

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1)
results=$NT_BUILD/bench/results.md
{
        echo "## make bench: results"
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}; kernel $(uname -r); Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
        echo "- command: \`$command_line\` (tests/bench/bench.sh $1)"
        echo "- each figure: median of $BENCH_RUNS runs of ${BENCH_DURATION} s after ${BENCH_WARMUP} s of warm-up;" \
                "a login = pam_start_confdir → pam_authenticate → pam_acct_mgmt → pam_end; latencies in ms;" \
                "logins/s counts successful logins; wrk rows are HTTP requests/s without PAM"
        echo
        cat "$table"
        if [ -n "$daemon_md" ]; then
                echo
                cat "$daemon_md"
        fi
} >"$results.tmp" && mv "$results.tmp" "$results"
cat "$results"
say "written to $results"

# The same figures as SVG charts (gnuplot, packaging/bench-deps.txt):
# BENCHMARKS.md shows them from tests/bench/charts/, copied from here.
"$NT_PYTHON" "$here/charts.py" "$results" "$NT_BUILD/bench/charts" >"$out/charts.out" 2>&1
rc=$?
case $rc in
0) say "charts: $(tr '\n' ' ' <"$out/charts.out")" ;;
77) say "charts: not drawn: gnuplot is missing (make bench-deps installs gnuplot-nox)" ;;
*) say "charts: charts.py failed with status $rc:"; cat "$out/charts.out" >&2; exit 1 ;;
esac
