#!/bin/sh
# journal.sh BUILDDIR: neostrad's structured journal entries, and its
# stderr lines when stderr is not the journal.
#
# In a private mount namespace (nt_private_ns) a private directory is
# bind-mounted over /run/systemd/journal (over the nearest existing parent
# when that does not exist), and journal_capture.py owns the
# "socket" there: a datagram socket speaking journald's native protocol,
# recording each entry.  neostrad runs with stderr on a file whose
# "dev:ino" is in JOURNAL_STREAM, which is how systemd tells a service that
# its stderr is the journal (neostrad/log.c stderr_is_journal), so it sends
# structured entries with sd_journal_send.  A second neostrad with the
# ordinary lib.sh log (stderr a plain file) shows the fallback lines.
#
# Logins through pam_neostra.so and tests/pamcheck: right password, wrong
# password, a local system account (never sent by the module; sent anyway
# through a service with minimum_uid=0 so the daemon's own "notOurs"
# decision shows), and the API down.  Checked: the fields of every
# decision (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, NEOSTRA_USER,
# NEOSTRA_SERVICE, NEOSTRA_RESULT, NEOSTRA_REASON, NEOSTRA_HTTP_STATUS,
# NEOSTRA_API_LATENCY_MS, ...), the MESSAGE_ID of each kind of decision
# (neostrad/log-ids.h), the number of entries, and that no
# datagram holds a password (canaries).  And log.c's own sending path with
# newlines and would-be fields in every value (tests/unit/test_log.c
# test_journal_entry, which needs this capture): each arrives escaped, in
# its own field, and forges none.  The capture itself is checked
# first with entries in every shape the protocol has (plain, binary
# length-prefixed, memfd), sent by Python and by libsystemd (logger).
# Ends with "journal: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts journal

skip_all() {
        echo "skipped: $*"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
}
[ "$(id -u)" -eq 0 ] || skip_all "needs root (bind mounts in a private mount namespace)"
nt_private_ns "$@" || skip_all "unshare is missing (a private mount namespace is needed)"
# Never mount anything in the namespace we were started in.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink "/proc/$PPID/ns/mnt")" ]; then
        nt_fail "not in a mount namespace of our own; not mounting anything"
        nt_finish
fi
nt_tmpdir
run_mounted=
# shellcheck disable=SC2154 # _st is assigned inside the trap
trap '_st=$?; trap - EXIT; [ -n "$run_mounted" ] && umount "$run_mounted" 2>/dev/null; nt_cleanup; exit $_st' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

jc() { "$NT_PYTHON" "$here/journal_capture.py" "$@"; }
cap=$NT_TMP/capture
mkdir -m 0700 "$cap"

# ---- a private /run/systemd/journal ----------------------------------------

# Bind a private directory over the deepest existing one of
# /run/systemd/journal, /run/systemd, /run, recreating the missing rest
# inside it (a mount point must exist, and the host's /run is not ours to
# add to).
for d in /run/systemd/journal /run/systemd /run; do
        [ -d "$d" ] || continue
        priv=$NT_TMP/mnt$d
        mkdir -p "$priv" "$NT_TMP/mnt/run/systemd/journal"
        chmod 0755 "$NT_TMP/mnt" "$NT_TMP/mnt/run" "$NT_TMP/mnt/run/systemd" "$NT_TMP/mnt/run/systemd/journal"
        if mount --bind "$priv" "$d"; then
                run_mounted=$d
        fi
        break
done
jsock=/run/systemd/journal/socket
if [ -n "$run_mounted" ] && [ -d /run/systemd/journal ] && [ ! -e "$jsock" ]; then
        nt_pass "a private /run/systemd/journal (mounted over $run_mounted)"
else
        nt_fail "cannot set up a private /run/systemd/journal"
        nt_finish
fi

nt_spawn journal-capture "$NT_PYTHON" "$here/journal_capture.py" capture "$jsock" "$cap" "$NT_TMP/capture.ready" \
        >>"$NT_LOGS/capture.log" 2>&1
cpid=$NT_LAST_PID
cap_ready() { [ -e "$NT_TMP/capture.ready" ] || _nt_gone "$cpid"; }
if nt_wait_until 10 "the journal socket" cap_ready && _nt_alive "$cpid" && [ -S "$jsock" ]; then
        nt_pass "the stand-in journal socket listens at $jsock"
else
        nt_fail "the stand-in journal socket did not start"
        sed 's/^/  | /' "$NT_LOGS/capture.log"
        nt_finish
fi

# expect DESC SELECTOR... [-- CHECK...]: journal_capture.py expect, counted.
expect() {
        _d=$1
        shift
        if jc expect "$cap" 10 "$@" >"$NT_TMP/jc.out" 2>&1; then
                nt_pass "$_d"
        else
                nt_fail "$_d"
                sed 's/^/  | /' "$NT_TMP/jc.out"
        fi
}
jcount() { # DESC N SELECTOR...
        _d=$1
        shift
        if jc count "$cap" "$@" >"$NT_TMP/jc.out" 2>&1; then
                nt_pass "$_d"
        else
                nt_fail "$_d"
                sed 's/^/  | /' "$NT_TMP/jc.out"
        fi
}

# ---- the capture understands the protocol ----------------------------------

jc selftest "$jsock" || nt_fail "selftest entries could not be sent"
expect "capture: a plain entry" SELFTEST=plain -- MESSAGE="plain entry" PRIORITY=6
expect "capture: a binary (length-prefixed) field" SELFTEST=binary -- "MESSAGE=two
lines"
expect "capture: an entry in a memfd (SCM_RIGHTS)" SELFTEST=memfd -- "MESSAGE=from a memfd" "BIG~^x{262144}\$"
# The same through libsystemd's own sender (util-linux logger --journald
# calls sd_journal_sendv): a multi-line value, and an entry too large for
# one datagram, which libsystemd moves into a memfd.
if command -v logger >/dev/null 2>&1 && ldd "$(command -v logger)" 2>/dev/null | grep -q libsystemd; then
        printf 'MESSAGE=from logger\nSELFTEST=logger\n' | logger --journald
        expect "capture: an entry from libsystemd (logger --journald)" SELFTEST=logger -- "MESSAGE=from logger"
        { printf 'MESSAGE=large entry from logger\nSELFTEST=logger-large\nBIG='
          head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' y
          printf '\n'; } >"$NT_TMP/large.entry"
        logger --journald="$NT_TMP/large.entry"
        expect "capture: a 9 MiB entry from libsystemd arrives whole" SELFTEST=logger-large -- \
                "MESSAGE=large entry from logger" "BIG=<large: 9437184 bytes of 'y'>"
        if grep -q '"SELFTEST": "logger-large".*"via": "memfd"' "$cap/entries.jsonl" ||
           grep -q '"via": "memfd".*"SELFTEST": "logger-large"' "$cap/entries.jsonl"; then
                nt_pass "capture: libsystemd sent the large entry as a memfd"
        else
                nt_fail "capture: the large entry did not come as a memfd"
        fi
        rm -f "$NT_TMP/large.entry"
else
        echo "skipped: logger with libsystemd is missing; the Python-sent shapes are checked above"
        NT_SKIPPED=$((NT_SKIPPED + 1))
fi

# ---- values that would forge fields, sent the daemon's way -------------------------
# tests/unit/test_log.c test_journal_entry, run with its stderr as the
# "journal stream": log.c's own sending path with newlines in values, which
# the protocol never lets a peer send (so no login can show it).
if [ -x "$NT_BUILD/tests/test_log" ]; then
        : >"$NT_TMP/test_log.err"
        TEST_LOG_JOURNAL_STREAM=$(stat -c '%d:%i' "$NT_TMP/test_log.err") \
                "$NT_BUILD/tests/test_log" >"$NT_TMP/test_log.out" 2>>"$NT_TMP/test_log.err"
        if grep -q 'OK.*test_journal_entry' "$NT_TMP/test_log.out"; then
                nt_pass "test_log: the journal entries of test_journal_entry were sent"
        else
                nt_fail "test_log test_journal_entry did not run"
                sed 's/^/  | /' "$NT_TMP/test_log.out" "$NT_TMP/test_log.err"
        fi
        expect "a newline in a value forges no field (decision)" NEOSTRA_USER=unit-test-eve NEOSTRA_METHOD -- \
                'NEOSTRA_SERVICE=unit-test\x0aNEOSTRA_RESULT=success' NEOSTRA_RESULT=failure \
                'NEOSTRA_RHOST=a\x0aNEOSTRA_USER=root\x0aMESSAGE_ID=00000000000000000000000000000001' \
                'NEOSTRA_TTY=\x0d\x1b[1A' 'NEOSTRA_REASON=wrong\x0a\x22password\x22' \
                MESSAGE_ID=00000000000000000000000000000002 'MESSAGE~^[^\n\r\x1b]+$'
        expect "a newline in a value forges no field (message)" MESSAGE_ID=00000000000000000000000000000003 -- \
                'NEOSTRA_USER=unit-test-eve\x0aNEOSTRA_USER=root' PRIORITY=5 \
                'MESSAGE=token refresh for unit-test-eve\x0aPRIORITY=0: done'
        jcount "no entry for root, and one MESSAGE_ID each (nothing forged)" 0 NEOSTRA_USER=root
        jcount "the forged MESSAGE_ID is in no entry" 0 MESSAGE_ID=00000000000000000000000000000001
        # cmocka's summary goes to stderr; a log line must not.
        if grep -q 'neostrad\[' "$NT_TMP/test_log.err"; then
                nt_fail "test_log logged to stderr instead of the journal:"
                sed 's/^/  | /' "$NT_TMP/test_log.err"
        fi
else
        nt_fail "$NT_BUILD/tests/test_log is missing (make tests-build)"
fi

# ---- mock API, two daemons, services -----------------------------------------

umask 077
if ! { right=$(nt_canary_new) && wrong=$(nt_canary_new) && sys_pw=$(nt_canary_new); }; then
        nt_fail "canaries"
        nt_finish
fi
printf '{"users": {"alice@example.com": {"password": "%s", "roles": ["admin"]}}}\n' "$right" >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

mkdir -p "$NT_TMP/pam.d"
for d in journal plain; do
        {
                cat <<EOF
[api]
url = http://127.0.0.1:$NT_MOCK_HTTP_PORT
timeout = 3s

[users]
email_template = %u@example.com
local_accounts = *

[access]
allow_roles = admin

[groups]
admin = adm

EOF
                # One API-down login must be "unavailable", not an offline
                # login from the verifier the first login left.
                nt_daemon_config $d | sed 's/^directory = .*/&\noffline = no/'
        } >"$NT_TMP/$d.conf"
        for t in auth account; do
                echo "$t required $NT_BUILD/pam_neostra.so socket=$(nt_socket_path $d) config=$NT_TMP/$d.conf"
        done >"$NT_TMP/pam.d/$d-test"
        # The module itself keeps system accounts from the daemon; with
        # minimum_uid=0 (and local_accounts = *, so that a local account
        # is sent at all) it sends them, and the daemon's own check decides.
        for t in auth account; do
                echo "$t required $NT_BUILD/pam_neostra.so socket=$(nt_socket_path $d) config=$NT_TMP/$d.conf minimum_uid=0"
        done >"$NT_TMP/pam.d/$d-sys"
        # An SSH key login: account management only, so a CheckAccount call
        # (a password login's account step decides on the Authenticate answer).
        printf 'auth required pam_permit.so\naccount required %s socket=%s config=%s\n' \
                "$NT_BUILD/pam_neostra.so" "$(nt_socket_path $d)" "$NT_TMP/$d.conf" >"$NT_TMP/pam.d/$d-key"
done

# The journal daemon: its stderr is $NT_LOGS/journal.log (lib.sh opens it
# with >>, same inode), and JOURNAL_STREAM names that file.
: >"$NT_LOGS/journal.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$NT_LOGS/journal.log")
export JOURNAL_STREAM
nt_daemon_start journal || { nt_fail "neostrad (journal) start"; nt_finish; }
unset JOURNAL_STREAM
nt_daemon_start plain || { nt_fail "neostrad (plain) start"; nt_finish; }

pc() { # SERVICE USER PASSWORD EXPECTED-EXIT DESC
        PAMCHECK_PASSWORD=$3 "$NT_BUILD/tests/pamcheck" -d "$NT_TMP/pam.d" "$1" "$2" >"$NT_TMP/pc.out" 2>&1
        _rc=$?
        { echo "== $1 $2 -> $_rc"; cat "$NT_TMP/pc.out"; } >>"$NT_LOGS/pamcheck.log"
        if [ "$_rc" -eq "$4" ] && ! grep -q Sanitizer "$NT_TMP/pc.out"; then
                nt_pass "$5 ($1: exit $_rc)"
        else
                nt_fail "$5 ($1: exit $_rc, expected $4)"
                sed 's/^/  | /' "$NT_TMP/pc.out"
        fi
}

for d in journal plain; do
        pc $d-test alice "$right" 0 "alice, right password"
        pc $d-key alice "" 0 "alice by key (account management only)"
        pc $d-test alice "$wrong" 1 "alice, wrong password"
        pc $d-test daemon "$sys_pw" 1 "daemon (uid 1), a local system account: not sent"
        pc $d-sys daemon "$sys_pw" 1 "daemon (uid 1) sent anyway (minimum_uid=0): the daemon refuses it"
done
nt_stop "$NT_MOCK_PID" mock_api
for d in journal plain; do
        pc $d-test alice "$right" 1 "alice while the API is down"
done

# ---- the journal entries --------------------------------------------------------

# The MESSAGE_IDs, by their names in neostrad/log-ids.h.
ids=$("$NT_PYTHON" "$here/journal_catalog.py" ids "$NT_TOP")
id_of() { echo "$ids" | awk -v n="$1" '$1 == n { print "MESSAGE_ID=" $2 }'; }
A="NEOSTRA_METHOD=Authenticate"
C="NEOSTRA_METHOD=CheckAccount"
S=NEOSTRA_SERVICE=journal-test
# expect_decision DESC SELECTOR... -- CHECK...: expect, plus what every
# decision entry carries.
expect_decision() {
        expect "$@" SYSLOG_IDENTIFIER=neostrad NEOSTRA_RHOST NEOSTRA_TTY NEOSTRA_PEER_UID=0 \
                'NEOSTRA_REASON~^[^\x00-\x1f]+$' 'MESSAGE~ user=[^ ]+ service=[^ ]+ rhost=[^ ]+ reason=.'
}
expect_decision "journal: success (Authenticate)" $A NEOSTRA_USER=alice $S NEOSTRA_RESULT=success -- \
        PRIORITY=6 NEOSTRA_HTTP_STATUS=200 'NEOSTRA_API_LATENCY_MS~^[0-9]+$' "$(id_of LOGIN_SUCCESS)" \
        'MESSAGE~^Authenticate success: user=alice service=journal-test '
expect_decision "journal: success (CheckAccount: role allowed)" $C NEOSTRA_USER=alice NEOSTRA_SERVICE=journal-key NEOSTRA_RESULT=success -- \
        PRIORITY=6 NEOSTRA_HTTP_STATUS=0 NEOSTRA_API_LATENCY_MS=- "$(id_of ACCOUNT_ALLOWED)" \
        "NEOSTRA_REASON=a role of the user is in allow_roles" 'MESSAGE~^CheckAccount success: user=alice '
expect_decision "journal: wrong password (failure, HTTP 401)" $A NEOSTRA_USER=alice $S NEOSTRA_RESULT=failure -- \
        PRIORITY=5 NEOSTRA_HTTP_STATUS=401 'NEOSTRA_API_LATENCY_MS~^[0-9]+$' "$(id_of LOGIN_FAILURE)" \
        'MESSAGE~^Authenticate failure: user=alice service=journal-test '
expect_decision "journal: local system account sent anyway (notOurs, no API call)" $A NEOSTRA_USER=daemon \
        NEOSTRA_SERVICE=journal-sys -- NEOSTRA_RESULT=notOurs PRIORITY=5 NEOSTRA_HTTP_STATUS=0 \
        NEOSTRA_API_LATENCY_MS=- "NEOSTRA_REASON=local system account or excluded name" "$(id_of NOT_OURS)"
expect_decision "journal: API down (unavailable, no HTTP status)" $A NEOSTRA_USER=alice $S \
        NEOSTRA_RESULT=unavailable -- PRIORITY=4 NEOSTRA_HTTP_STATUS=0 'NEOSTRA_API_LATENCY_MS~^[0-9]+$' \
        "$(id_of UNAVAILABLE)" \
        'MESSAGE~^Authenticate unavailable: user=alice service=journal-test '
# All entries are in (the last one above came last): now the counts.
jcount "journal: the system account through the normal module sent nothing" 0 NEOSTRA_USER=daemon $S
jcount "journal: exactly 3 Authenticate entries for journal-test" 3 $A $S
jcount "journal: exactly 1 CheckAccount entry (the key login's; password logins decide on the Authenticate answer)" 1 $C
jcount "journal: no entry from the plain daemon's logins" 0 NEOSTRA_SERVICE~^plain-
if jc all "$cap" '!SELFTEST' -- SYSLOG_IDENTIFIER=neostrad "PRIORITY~^[0-7]\$" "MESSAGE~." >"$NT_TMP/jc.out" 2>&1; then
        nt_pass "journal: every entry of neostrad has MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=neostrad and well-formed fields"
else
        nt_fail "journal: malformed entries"
        sed 's/^/  | /' "$NT_TMP/jc.out"
fi
expect "journal: the start carries its MESSAGE_ID" "$(id_of DAEMON_READY)" -- 'MESSAGE~^neostrad .* ready; API http://127\.0\.0\.1:'
if jc all "$cap" NEOSTRA_RESULT -- 'MESSAGE_ID~^[0-9a-f]{32}$' >"$NT_TMP/jc.out" 2>&1; then
        nt_pass "journal: every decision entry carries a MESSAGE_ID"
else
        nt_fail "journal: a decision entry without a MESSAGE_ID"
        sed 's/^/  | /' "$NT_TMP/jc.out"
fi
if grep -q -E '(Authenticate|CheckAccount) [a-zA-Z]+; user=' "$NT_LOGS/journal.log"; then
        nt_fail "journal: decisions were also written to stderr"
else
        nt_pass "journal: decisions went to the journal only, not also to stderr"
fi
# Secrets: no password in any datagram (the raw payloads as received,
# memfd contents included), nor in the daemons' stderr.
leaks=
leak_check() { # NAME PASSWORD
        _l=$(nt_find_canary "$2" "$cap" "$NT_LOGS")
        [ -z "$_l" ] || leaks="$leaks $1:$_l"
}
leak_check right "$right"
leak_check wrong "$wrong"
leak_check system-account "$sys_pw"
if [ -z "$leaks" ]; then
        nt_pass "no password in any captured datagram or daemon log"
else
        nt_fail "password found in:$leaks"
fi
if grep -q 'eyJ' "$cap/raw.bin" "$NT_LOGS/journal.log" "$NT_LOGS/plain.log"; then
        nt_fail "something that looks like a JWT (the token) is in the journal or a log"
else
        nt_pass "no token (JWT) in any captured datagram or daemon log"
fi

# ---- the stderr fallback (the plain daemon) ----------------------------------------

plain=$NT_LOGS/plain.log
grep -E '^neostrad\[[0-9]+\]: <[a-z]+> (Authenticate|CheckAccount) ' "$plain" >"$NT_TMP/decisions" || true
n=$(wc -l <"$NT_TMP/decisions")
n=$((n + 0))
if [ "$n" -eq 5 ]; then
        nt_pass "stderr: 5 decision lines (success, account, failure, notOurs, unavailable)"
else
        nt_fail "stderr: $n decision lines, expected 5"
        sed 's/^/  | /' "$NT_TMP/decisions"
fi
bad=$(grep -v -E '; user=[^ ]+ service=[^ ]+ rhost=[^ ]+ tty=[^ ]+ peer_uid=[0-9]+ http_status=[0-9]+ api_latency_ms=([0-9]+|-) reason="[^"]+"$' \
        "$NT_TMP/decisions")
if [ "$n" -gt 0 ] && [ -z "$bad" ]; then
        nt_pass "stderr: every decision line has user=, service=, reason= (and rhost, tty, peer_uid, http_status, latency)"
else
        nt_fail "stderr: decision lines without user=/service=/reason=: $bad"
fi
line() { # DESC ERE
        if grep -q -E "$2" "$NT_TMP/decisions"; then nt_pass "stderr: $1"; else nt_fail "stderr: $1 (no line matching $2)"; fi
}
line "success" '<info> Authenticate success; user=alice service=plain-test .* http_status=200 api_latency_ms=[0-9]+ reason='
line "account allowed" '<info> CheckAccount success; user=alice service=plain-key .* reason="a role of the user is in allow_roles"'
line "wrong password" '<notice> Authenticate failure; user=alice service=plain-test .* http_status=401 api_latency_ms=[0-9]+ reason='
line "system account (daemon's own check)" '<notice> Authenticate notOurs; user=daemon service=plain-sys .* api_latency_ms=- reason="local system account or excluded name"'
line "API down" '<warning> Authenticate unavailable; user=alice service=plain-test .* http_status=0 api_latency_ms=[0-9]+ reason='

nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then
        nt_pass "daemons, mock and capture exited cleanly"
else
        nt_fail "$NT_STOP_FAILED process(es) did not exit cleanly"
fi
nt_finish
