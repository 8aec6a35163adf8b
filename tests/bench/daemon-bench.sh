#!/bin/sh
# daemon-bench.sh BUILDDIR: neostrad's own figures for `make bench`
# (issue 6): userdb latency under load (also while a sign-in hangs at the
# API), memory (idle, 100,000 cached users, across many logins) and the
# socket-activated cold start.  Prints Markdown on stdout (bench.sh
# includes it verbatim); progress goes to stderr.  Needs root (the
# daemon's auth socket rate-limits other peers) and the programs of
# `make daemon-bench-build` in BUILDDIR/bench.
#
# Environment:
#   DBENCH_QUICK=1        every part briefly (development)
#   DBENCH_LOGINS=N       logins of the RSS-flatness run (default 1000000;
#                         quick 20000); RSS is sampled every N/10
#   DBENCH_CACHED=N       cached users of the big-cache run (default 100000;
#                         quick 20000)
#   DBENCH_USERDB_SECS=S  seconds per userdb run (default 10; quick 2)
#   DBENCH_USERDB_RATE=R  aggregate req/s of the paced userdb runs (default 2000)
#   DBENCH_SETTLE=S       at each RSS sample, wait at most S s for the daemon
#                         to fall quiet (default 20; quick 5)
#   DBENCH_COLD_RUNS=N    cold starts (default 7; quick 3)
#   DBENCH_PARTS="userdb memory churn coldstart"   which parts run
#
# Everything runs on loopback and in a private temp dir (tests/lib.sh);
# every process is ours and stopped by PID; the temp dir is removed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
. "$here/lib-bench.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
BIN=$NT_BUILD/bench
for p in userdb-load userdb-floor daemon-authload daemon-fakeapi memory-floor; do
        [ -x "$BIN/$p" ] || nt_die "$BIN/$p is missing: make daemon-bench-build"
done
[ "$(id -u)" = 0 ] || nt_die "daemon-bench.sh must run as root"

quick=${DBENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
        logins=${DBENCH_LOGINS:-20000} cached=${DBENCH_CACHED:-20000}
        usecs=${DBENCH_USERDB_SECS:-2} cold_runs=${DBENCH_COLD_RUNS:-3}
else
        logins=${DBENCH_LOGINS:-1000000} cached=${DBENCH_CACHED:-100000}
        usecs=${DBENCH_USERDB_SECS:-10} cold_runs=${DBENCH_COLD_RUNS:-7}
fi
urate=${DBENCH_USERDB_RATE:-2000}
parts=${DBENCH_PARTS:-userdb memory churn coldstart}
UID_MIN=2000000 UID_MAX=2999999

nt_tmpdir
nt_trap
bench_started=$(nt_now_cs)

say() { printf '%s\n' "daemon-bench: $*" >&2; }
has_part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }
# field NAME LINE: the value of NAME=... in a key=value line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null; }
# mem_cols PID: "VmRSS MB | RssAnon MB | RssFile MB | Pss MB" of a live process
mem_cols() {
        awk '/^(VmRSS|RssAnon|RssFile):/ { v[$1] = $2 }
             END { printf "%.1f MB | %.1f MB | %.1f MB", v["VmRSS:"] / 1024, v["RssAnon:"] / 1024, v["RssFile:"] / 1024 }' \
                "/proc/$1/status"
        awk '/^Pss:/ { printf " | %.1f MB", $2 / 1024 }' "/proc/$1/smaps_rollup"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# le A B: A <= B (decimals)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
verdict() { if le "$1" "$2"; then echo met; else echo "**missed**"; fi; }
elapsed_s() { awk -v a="$1" -v b="$(nt_now_cs)" 'BEGIN { printf "%.1f", (b - a) / 100 }'; }

# write_conf NAME URL: a daemon config: userdb on (uids in a 1M range, so
# 100,000 users fit), the dev role maps to a group neostrad publishes
# (developers) and a local one (staff).
write_conf() {
        {
                printf '[api]\nurl = %s\ntimeout = 25s\n\n' "$2"
                printf '[users]\nemail_template = %%u@example.com\n\n'
                printf '[access]\nallow_roles = dev\n\n'
                printf '[groups]\ndev = developers staff\n\n'
                nt_daemon_config "$1" |
                        sed "s/^userdb = no\$/userdb = yes\nuid_min = $UID_MIN\nuid_max = $UID_MAX/"
        } >"$NT_TMP/$1.conf"
}

# daemon_start NAME: neostrad as in production (no --debug, the unit's
# Nice= and Environment=), log in $NT_LOGS/NAME.log; sets DPID.  Waits until GetStatus
# answers (loading a big cache happens before the first answer), at most
# $2 s (default 30).
daemon_start() {
        # shellcheck disable=SC2046 # K=V words
        env -u NEOSTRA_CANARY -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID $(bench_unit_env) \
                nice -n "$(bench_nice)" \
                "$NT_BUILD/neostrad" -c "$NT_TMP/$1.conf" >>"$NT_LOGS/$1.log" 2>&1 &
        _nt_track $! "neostrad-$1"
        DPID=$!
        nt_wait_until "${2:-30}" "neostrad $1 to answer" status_ok "$1" || {
                tail -n 20 "$NT_LOGS/$1.log" >&2
                return 1
        }
}
status_ok() {
        _nt_alive "$DPID" || return 1
        "$NT_BUILD/neostractl" --socket "$NT_TMP/$1.sock" --json status >/dev/null 2>&1
}
status_field() { # NAME KEY
        "$NT_BUILD/neostractl" --socket "$NT_TMP/$1.sock" --json status 2>/dev/null |
                "$NT_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# has_verifier NAME USER: the daemon has made USER's verifier (the
# yescrypt of a login runs on a worker after the answer).
has_verifier() {
        "$NT_BUILD/neostractl" --socket "$NT_TMP/$1.sock" --json user "$2" 2>/dev/null |
                grep -q '"hasVerifier": *true'
}
daemon_stop() { nt_stop "$DPID" "neostrad-$1"; }

mock_users() { # PREFIX COUNT [NAME...]: the mock's users PREFIX0.. and NAMEs, all with role dev
        "$NT_PYTHON" - "$@" >"$NT_TMP/users.json" <<'EOF'
import json, sys
prefix, n = sys.argv[1], int(sys.argv[2])
names = ["%s%d" % (prefix, i) for i in range(n)] + sys.argv[3:]
print(json.dumps({"users": {"%s@example.com" % u: {"password": "bench-password", "roles": ["dev"]}
                            for u in names}}))
EOF
}

fakeapi_start() {
        rm -f "$NT_TMP/fakeapi.port"
        nt_spawn fakeapi "$BIN/daemon-fakeapi" "$NT_TMP/fakeapi.port" 2>>"$NT_LOGS/fakeapi.log"
        FAKEAPI_PID=$NT_LAST_PID
        nt_wait_until 10 "the fake API's port file" test -s "$NT_TMP/fakeapi.port" || return 1
        FAKEAPI_URL=http://127.0.0.1:$(cat "$NT_TMP/fakeapi.port")
}

# userdb_table TITLE OUTPUT-FILE: Markdown rows of one userdb-load run
userdb_rows() { # LABEL FILE
        while read -r line; do
                case $line in method=*) ;; *) continue ;; esac
                m=$(field method "$line")
                [ "$m" = all ] && continue
                p99=$(field p99 "$line")
                printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$m" \
                        "$(field n "$line")" "$(field rps "$line")" "$(field p50 "$line")" \
                        "$(field p90 "$line")" "$p99" "$(field max "$line")" "$(field errors "$line")" \
                        "$(verdict "$p99" 0.2)"
        done <"$2"
}
userdb_header() {
        echo "| run | method | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | p99 ≤ 0.2 ms |"
        echo "|---|---|---|---|---|---|---|---|---|---|"
}
# run_userdb LABEL SOCKET PREFIX NUSERS RATE [CONNS [-F]]: one userdb-load run, rows appended to $NT_TMP/udb.rows
run_userdb() {
        _out=$NT_TMP/udb-$(echo "$1" | tr -c 'a-zA-Z0-9\n' '_').out
        "$BIN/userdb-load" -s "$2" -u "$3" -n "$4" -c "${6:-100}" -d "$usecs" -r "$5" ${7:-} >"$_out" 2>>"$NT_LOGS/userdb-load.log" ||
                { say "userdb-load failed ($1): $(tail -n 3 "$NT_LOGS/userdb-load.log")"; FAILED=$((FAILED + 1)); }
        userdb_rows "$1" "$_out" >>"$NT_TMP/udb.rows"
}

FAILED=0
echo "### neostrad: userdb, memory, cold start (tests/bench/daemon-bench.sh)"
echo
echo "$(nproc) CPUs, $(uname -r); $( [ "$quick" = 1 ] && echo 'DBENCH_QUICK=1 (short runs)' || echo 'full runs')."
echo "Daemon as in production (no --debug, log to a file), root, sockets in a private temp dir."
echo

# ---- 1. userdb ---------------------------------------------------------------
if has_part userdb; then
        say "userdb: 100 users sign in through the mock API"
        # hang0 never signs in before: its held sign-in has no cached
        # verifier to be answered from (offline_after), so the client waits.
        mock_users bu 100 hang0
        nt_mock_start "$NT_TMP/users.json" || nt_die "mock API start"
        write_conf udb "http://127.0.0.1:$NT_MOCK_HTTP_PORT"
        daemon_start udb || nt_die "neostrad (udb) start"
        out=$("$BIN/daemon-authload" -s "$NT_TMP/udb.sock" -u bu -N 100 -n 100 -c 8 2>&1) ||
                nt_die "signing in the 100 userdb users failed: $out"
        # The 100 yescrypt verifiers (two worker threads) must be done first,
        # or they compete with the event loop for the two CPUs.
        nt_wait_until 60 "the verifiers of the 100 users" has_verifier udb bu99 || true
        sleep 1
        usock=$NT_TMP/udb-userdb.sock
        : >"$NT_TMP/udb.rows"
        say "userdb: paced ${urate} req/s and closed loop, 100 connections, ${usecs}s each"
        # The floor: the same load against an echo server (userdb-floor).
        # At the daemon's priority, so that the floor is that of the same setting.
        nt_spawn userdb-floor nice -n "$(bench_nice)" "$BIN/userdb-floor" "$NT_TMP/floor.sock" \
                2>>"$NT_LOGS/floor.log"
        floor_pid=$NT_LAST_PID
        if nt_wait_until 10 "userdb-floor" test -S "$NT_TMP/floor.sock"; then
                run_userdb "floor (echo server), paced $urate/s" "$NT_TMP/floor.sock" bu 100 "$urate" 100 -F
                run_userdb "floor (echo server), closed loop" "$NT_TMP/floor.sock" bu 100 0 100 -F
        fi
        nt_stop "$floor_pid" userdb-floor
        run_userdb "idle API, paced $urate/s" "$usock" bu 100 "$urate"
        run_userdb "idle API, closed loop" "$usock" bu 100 0
        run_userdb "idle API, 1 connection, closed loop" "$usock" bu 100 0 1

        # A sign-in held at the API: the mock holds every sign-in from now on;
        # one is started before each run and must still be in flight after it.
        nt_http POST "$NT_MOCK_HTTP_PORT" /_control/config '{"mode":"hang"}' >/dev/null
        pending_ok() { [ "$(status_field udb pendingApiRequests)" -ge 1 ] 2>/dev/null; }
        hang_note="A sign-in (of hang0, who has no cached verifier, so its client waits) was held at the API (mock \"hang\") during each of these runs: started before, still in flight and its client still waiting after (GetStatus pendingApiRequests ≥ 1)."
        for mode in paced closed; do
                nt_spawn hang-login "$BIN/daemon-authload" -s "$NT_TMP/udb.sock" -u hang -N 1 -n 1 -c 1 \
                        >/dev/null 2>&1
                hang_pid=$NT_LAST_PID
                if ! nt_wait_until 10 "the held sign-in to reach the API" pending_ok; then
                        hang_note="**A sign-in could not be held at the API; a hanging run was skipped.**"
                        FAILED=$((FAILED + 1))
                elif [ "$mode" = paced ]; then
                        run_userdb "sign-in hanging, paced $urate/s" "$usock" bu 100 "$urate"
                else
                        run_userdb "sign-in hanging, closed loop" "$usock" bu 100 0
                fi
                if ! pending_ok || ! _nt_alive "$hang_pid"; then
                        hang_note="**The held sign-in ended before a run did: that row is not under a hanging sign-in.**"
                        FAILED=$((FAILED + 1))
                fi
                nt_stop "$hang_pid" hang-login
        done
        nt_http POST "$NT_MOCK_HTTP_PORT" /_control/reset '' >/dev/null
        daemon_stop udb
        nt_stop "$NT_MOCK_PID" mock_api

        echo "#### userdb latency at the socket (target: p99 ≤ 0.2 ms under 100 concurrent clients, also while a sign-in hangs)"
        echo
        echo "100 users signed in; 100 connections kept open by \`userdb-load\`, each request for a random user;"
        echo "GetMemberships is nss-systemd's initgroups call (userName only, \"more\"; latency to the last reply)."
        echo "*Paced*: the 100 connections together send ${urate} req/s at random (exponential) intervals,"
        echo "so requests overlap as from independent clients.  *Closed loop*: each sends its next request"
        echo "the moment its answer is in (100 always outstanding: latency ≈ 100 / throughput of the one-threaded"
        echo "daemon, a saturation figure, not a per-request latency).  The verdict column is the target's."
        echo "*Floor*: the same load against \`userdb-floor\`, an echo server on a Unix socket (no JSON, no lookup):"
        echo "what the kernel, the scheduler of this VM and the client cost by themselves."
        echo
        userdb_header
        cat "$NT_TMP/udb.rows"
        echo
        echo "$hang_note"
        echo
fi

# ---- 2. memory -----------------------------------------------------------------
if has_part memory; then
        say "memory: idle RSS after start and one login"
        mock_users seed 1
        nt_mock_start "$NT_TMP/users.json" || nt_die "mock API start"
        write_conf big "http://127.0.0.1:$NT_MOCK_HTTP_PORT"
        daemon_start big || nt_die "neostrad (big) start"
        rss_start=$(rss_kb "$DPID") cols_start=$(mem_cols "$DPID")
        out=$("$BIN/daemon-authload" -s "$NT_TMP/big.sock" -u seed -N 1 -n 1 -c 1 2>&1) ||
                nt_die "the seed login failed: $out"
        nt_wait_until 20 "seed0's verifier" has_verifier big seed0 || nt_die "no verifier for seed0"
        sleep 1
        rss_idle=$(rss_kb "$DPID") cols_idle=$(mem_cols "$DPID")
        daemon_stop big

        # The floor: the same libraries, each used once as the design must
        # (memory-floor.c), against the same mock, in the unit's environment
        # (GNUTLS_NO_IMPLICIT_INIT) as the daemon.
        say "memory: the floor (neostrad's libraries, each used once)"
        mkdir -p "$NT_TMP/floor"
        (umask 077 && printf 'bench-password\n' >"$NT_TMP/floor/password")
        # shellcheck disable=SC2046 # K=V words
        nt_spawn memory-floor env $(bench_unit_env) "$BIN/memory-floor" "$NT_TMP/floor" \
                "http://127.0.0.1:$NT_MOCK_HTTP_PORT" seed0@example.com "$NT_TMP/floor/password" \
                >"$NT_TMP/floor.out" 2>>"$NT_LOGS/memory-floor.log"
        FPID=$NT_LAST_PID
        nt_wait_until 30 "memory-floor to be ready" grep -q ready "$NT_TMP/floor.out" ||
                nt_die "memory-floor failed: $(cat "$NT_LOGS/memory-floor.log")"
        sleep 1
        rss_floor=$(rss_kb "$FPID") cols_floor=$(mem_cols "$FPID")
        nt_stop "$FPID" memory-floor

        say "memory: $cached cached users (rows cloned from seed0's, uids as ids.c assigns them)"
        pop_secs=$("$NT_PYTHON" "$here/daemon-populate.py" "$NT_TMP/cache-big/neostrad.db" seed0 cu "$cached" \
                "$UID_MIN" "$UID_MAX") || nt_die "populating the cache failed"
        t0=$(nt_now_cs)
        daemon_start big 900 || nt_die "neostrad with $cached cached users did not answer within 900 s"
        load_secs=$(elapsed_s "$t0")
        n_loaded=$(status_field big users)
        rss_loaded=$(rss_kb "$DPID") cols_loaded=$(mem_cols "$DPID")
        # Every user published: a lookup of the last one by name answers.
        : >"$NT_TMP/udb.rows"
        say "memory: userdb with $cached users (paced ${urate} req/s, 100 connections)"
        run_userdb "$cached users, paced $urate/s" "$NT_TMP/big-userdb.sock" cu "$cached" "$urate"
        # One login more, as production sees them.
        "$BIN/daemon-authload" -s "$NT_TMP/big.sock" -u seed -N 1 -n 1 -c 1 >"$NT_TMP/big-login.out" 2>&1 ||
                { say "a login with $cached users failed: $(cat "$NT_TMP/big-login.out")"; FAILED=$((FAILED + 1)); }
        nt_wait_until 30 "seed0's new verifier" has_verifier big seed0 || true
        sleep 1
        rss_big=$(rss_kb "$DPID") cols_big=$(mem_cols "$DPID")
        daemon_stop big
        nt_stop "$NT_MOCK_PID" mock_api

        echo "#### Memory (VmRSS of neostrad)"
        echo
        echo "| measurement | VmRSS | RssAnon | RssFile (libraries) | Pss | target (VmRSS) | |"
        echo "|---|---|---|---|---|---|---|"
        echo "| just started, empty cache | $cols_start | | |"
        echo "| idle after start + one login (verifier made) | $cols_idle | ≤ 8 MB | $(verdict "$(mb "$rss_idle")" 8) |"
        echo "| *the floor*: neostrad's libraries, each used once (\`memory-floor\`) | $cols_floor | | $(awk -v a="$rss_idle" -v b="$rss_floor" 'BEGIN { printf "ours %.2f×", a / b }') |"
        echo "| $n_loaded cached users, after loading and the userdb run | $cols_loaded | | |"
        echo "| $n_loaded cached users + one login | $cols_big | ≤ 64 MB | $(verdict "$(mb "$rss_big")" 64) |"
        echo
        echo "RssFile is the pages of shared libraries the daemon has touched (libcrypto, libc, SQLite, libcurl's"
        echo "dependencies); they are shared with every other process using them.  Pss divides shared pages by"
        echo "their users.  *The floor* is \`tests/bench/memory-floor.c\`: a process linking exactly the daemon's"
        echo "libraries that initialises libcurl (and OpenSSL), makes an sd-event loop, writes one SQLite row,"
        echo "sends one sign-in to the same mock and parses the answer with jansson, makes one yescrypt verifier"
        echo "on a second thread and looks the user's name up through NSS, then idles: what any daemon built on these"
        echo "libraries holds; the difference to neostrad's VmRSS is the daemon's own."
        echo "Per cached user: $(awk -v a="$rss_loaded" -v b="$rss_idle" -v n="$n_loaded" 'BEGIN { if (n > 1) printf "%.0f", (a - b) * 1024 / (n - 1) }') bytes of VmRSS."
        echo
        echo "The $cached users are not signed in one by one (at the API's pace plus one yescrypt each on two"
        echo "worker threads, ~13 ms, that would take well over 10 minutes): the daemon signs in one user"
        echo "(\`seed0\`) through the mock API and writes its row; that row is cloned $cached times into the"
        echo "daemon's own cache file and schema (\`daemon-populate.py\`: own name, email, token and refresh"
        echo "token of the same length, the uid ids.c would assign; same roles and a yescrypt verifier of the"
        echo "same size) in ${pop_secs} s; then the daemon is started and loads and publishes them as after a"
        echo "restart.  It answered its first GetStatus ${load_secs} s after it was started, with $n_loaded users."
        echo
        echo "userdb with $n_loaded users (same load as above, random users of a 1,000-user sample):"
        echo
        userdb_header
        cat "$NT_TMP/udb.rows"
        echo
fi

# ---- 3. RSS across many logins --------------------------------------------------
if has_part churn; then
        every=$((logins / 10))
        settle_max=${DBENCH_SETTLE:-$( [ "$quick" = 1 ] && echo 5 || echo 20)}
        [ "$every" -ge 1 ] || every=1
        say "churn: $logins logins (Authenticate over the auth socket, 16 in flight, 1,000 users, fast fixed-answer API)"
        fakeapi_start || nt_die "fake API start"
        write_conf churn "$FAKEAPI_URL"
        daemon_start churn || nt_die "neostrad (churn) start"
        "$BIN/daemon-authload" -s "$NT_TMP/churn.sock" -u lu -N 1000 -n "$logins" -c 16 -P "$DPID" -S "$every" -I "$settle_max" \
                >"$NT_TMP/churn.out" 2>>"$NT_LOGS/churn-load.log" ||
                { say "churn load failed: $(tail -n 3 "$NT_LOGS/churn-load.log")"; FAILED=$((FAILED + 1)); }
        rss_end=$(rss_kb "$DPID")
        # The verifiers still queued (one yescrypt per online success).
        t0=$(nt_now_cs)
        daemon_stop churn
        stop_secs=$(elapsed_s "$t0")
        nt_stop "$FAKEAPI_PID" fakeapi

        summary=$(grep '^logins ' "$NT_TMP/churn.out")
        # Flatness: the idle (settled) samples from the first tenth on, against the first of them.
        flat=$(awk '
                /^sample / {
                        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                        if (v["kind"] != "idle" || v["done"] == 0) next
                        if (v["settle"] < 0) unsettled++
                        if (base == "") base = v["rss_kb"]
                        d = (v["rss_kb"] - base) * 100 / base
                        if (d > maxd) maxd = d
                        if (d < mind) mind = d
                }
                END { printf "%+.1f %+.1f %d", mind, maxd, unsettled }' "$NT_TMP/churn.out")
        set -- $flat
        flat_min=$1 flat_max=$2 unsettled=$3
        if [ "$unsettled" = 0 ] && le "${flat_max#+}" 5 && le "-5" "$flat_min"; then flat_v=met; else flat_v="**missed**"; fi

        echo "#### RSS across $logins logins (target: flat, ±5 %)"
        echo
        echo "\`daemon-authload\`: io.neostra.Auth.Authenticate as root straight at the auth socket (no PAM),"
        echo "16 calls in flight, users lu0..lu999 in turn, against \`daemon-fakeapi\` (a C fixed-answer API on"
        echo "loopback that accepts every sign-in; the Python mock would be the bottleneck).  Each success is a"
        echo "full online login in the daemon: API call, cache write, uid check, answer, and a yescrypt verifier"
        echo "(16 MiB of scratch memory while it runs, on one of two worker threads) made after the answer."
        echo "Every $every logins RSS is read twice: *busy*, at once (logins in flight, verifiers being made), and"
        echo "*idle*, after the load pauses and the daemon has used no CPU for 0.3 s (every queued verifier made;"
        echo "at most ${settle_max} s, else \"not quiet\").  Flatness is judged on the idle figures."
        echo
        echo "| logins done | seconds | VmRSS busy | VmRSS idle | RssAnon idle | idle vs. first idle | went quiet after |"
        echo "|---|---|---|---|---|---|---|"
        awk '/^sample / {
                for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                if (v["kind"] == "busy") { busy[v["done"]] = v["rss_kb"]; next }
                if (base == "" && v["done"] > 0) base = v["rss_kb"]
                printf "| %d | %s | %s | %.1f MB | %.1f MB | %s | %s |\n", v["done"], v["secs"],
                        v["done"] in busy ? sprintf("%.1f MB", busy[v["done"]] / 1024) : "",
                        v["rss_kb"] / 1024, v["anon_kb"] / 1024,
                        base == "" ? "" : sprintf("%+.1f %%", (v["rss_kb"] - base) * 100 / base),
                        v["done"] == 0 ? "" : v["settle"] < 0 ? "**not quiet**" : v["settle"] " s"
        }' "$NT_TMP/churn.out"
        echo
        echo "| logins | errors | seconds (pauses excluded) | logins/s | p50 ms | p99 ms | max ms | idle RSS spread | ±5 % |"
        echo "|---|---|---|---|---|---|---|---|---|"
        echo "| $(field n "$summary") | $(field errors "$summary") | $(field secs "$summary") | $(field rate "$summary") | $(field p50 "$summary") | $(field p99 "$summary") | $(field max "$summary") | $flat_min % … $flat_max %$( [ "$unsettled" != 0 ] && echo ", $unsettled sample(s) not quiet") | $flat_v |"
        echo
        echo "RSS at the end: $(mb "${rss_end:-0}") MB; the daemon took ${stop_secs} s to stop at SIGTERM."
        echo
fi

# ---- 4. cold start -----------------------------------------------------------------
if has_part coldstart; then
        tool=$(command -v systemd-socket-activate || true)
        echo "#### Cold start, socket-activated (target: first answer ≤ 50 ms after the first connection)"
        echo
        if [ -z "$tool" ]; then
                echo "skipped: systemd-socket-activate is not installed"
                echo
        else
                say "coldstart: $cold_runs runs"
                mock_users cs 1
                nt_mock_start "$NT_TMP/users.json" || nt_die "mock API start"
                write_conf cold "http://127.0.0.1:$NT_MOCK_HTTP_PORT"
                # The cache holds one user (a restart, not a first install).
                : >"$NT_TMP/cold.times"
                : >"$NT_TMP/cold-udb.times"
                run=0
                while [ "$run" -lt "$cold_runs" ]; do
                        for kind in status userdb; do
                                rm -f "$NT_TMP/cold.sock" "$NT_TMP/cold-userdb.sock"
                                nt_spawn "socket-activate" env -u NOTIFY_SOCKET -u LISTEN_FDS -u LISTEN_PID \
                                        "$tool" --fdname=auth:userdb -l "$NT_TMP/cold.sock" -l "$NT_TMP/cold-userdb.sock" \
                                        "$NT_BUILD/neostrad" -c "$NT_TMP/cold.conf" >>"$NT_LOGS/cold.log" 2>&1
                                apid=$NT_LAST_PID
                                nt_wait_until 10 "systemd-socket-activate to listen" \
                                        test -S "$NT_TMP/cold-userdb.sock" || nt_die "systemd-socket-activate"
                                sleep 0.2
                                if [ "$kind" = status ]; then
                                        ms=$("$NT_PYTHON" "$here/daemon-coldstart.py" "$NT_TMP/cold.sock" 2>>"$NT_LOGS/cold.log")
                                else
                                        ms=$("$NT_PYTHON" "$here/daemon-coldstart.py" "$NT_TMP/cold-userdb.sock" cs0 \
                                                2>>"$NT_LOGS/cold.log")
                                fi
                                if [ -n "$ms" ]; then
                                        echo "$ms" >>"$NT_TMP/cold$( [ "$kind" = userdb ] && echo -udb).times"
                                else
                                        FAILED=$((FAILED + 1))
                                fi
                                # The first run signs cs0 in, so the userdb runs find a published user.
                                if [ "$run" = 0 ] && [ "$kind" = status ]; then
                                        "$BIN/daemon-authload" -s "$NT_TMP/cold.sock" -u cs -N 1 -n 1 -c 1 >/dev/null 2>&1 ||
                                                say "coldstart: signing cs0 in failed"
                                        nt_wait_until 20 "cs0's verifier" has_verifier cold cs0 || true
                                fi
                                nt_stop "$apid" socket-activate
                        done
                        run=$((run + 1))
                done
                nt_stop "$NT_MOCK_PID" mock_api
                med() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
                all() { sort -n "$1" | tr '\n' ' '; }
                m1=$(med "$NT_TMP/cold.times") m2=$(med "$NT_TMP/cold-udb.times")
                echo "\`systemd-socket-activate --fdname=auth:userdb -l auth -l userdb neostrad\`; each run a fresh"
                echo "daemon (its cache holds one user); the clock runs from connect() to the answer's last byte."
                echo
                echo "| first call | runs | median ms | all runs, ms | ≤ 50 ms |"
                echo "|---|---|---|---|---|"
                echo "| io.neostra.Auth.GetStatus | $(wc -l <"$NT_TMP/cold.times") | ${m1:-–} | $(all "$NT_TMP/cold.times")| $( [ -n "$m1" ] && verdict "$m1" 50 || echo '–') |"
                echo "| userdb GetUserRecord(cs0) | $(wc -l <"$NT_TMP/cold-udb.times") | ${m2:-–} | $(all "$NT_TMP/cold-udb.times")| $( [ -n "$m2" ] && verdict "$m2" 50 || echo '–') |"
                echo
        fi
fi

echo "daemon-bench: $(elapsed_s "$bench_started") s in all$( [ "$FAILED" -gt 0 ] && echo "; **$FAILED harness problem(s), see above and stderr**")."
[ "$FAILED" -eq 0 ]
