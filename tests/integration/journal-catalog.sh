#!/bin/sh
# journal-catalog.sh BUILDDIR: neostrad's MESSAGE_IDs, its journal catalog
# (packaging/systemd/neostra.catalog), and its entries in a real journal.
#
#  1. The ids of neostrad/log-ids.h and the catalog's entries are the same
#     set, each entry complete (journal_catalog.py check).
#  2. journalctl parses the catalog: `journalctl --root=DIR --update-catalog`
#     on a temporary root holding only it, then --list-catalog names every
#     id and --dump-catalog prints each.
#  3. A real systemd-journald, in a private mount namespace (a private /run,
#     and private copies of /usr/lib/systemd/catalog and
#     /var/lib/systemd/catalog; the host's journal, catalog and /run are
#     never touched).  neostrad runs with JOURNAL_STREAM naming its stderr
#     file (journal.sh explains why), so it sends structured entries to that
#     journald.  Logins through Varlink: a right password, a wrong one, a
#     user whose roles (chosen by the API) hold quotes and terminal
#     controls, and user names and rhosts with quotes, backslashes, spaces,
#     a C1 control and a bidi override.  Checked with journalctl:
#     `journalctl MESSAGE_ID=... NEOSTRA_USER=alice` finds the decision
#     with every NEOSTRA_* field, `journalctl -x` shows the catalog's
#     explanation with the entry's fields filled in, no hostile value
#     forges a field, a line or a result, and the API going offline and
#     coming back, start, reload and stop carry their ids.
# Ends with "journal-catalog: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1
nt_counts journal-catalog
# As root, the whole script runs in a mount namespace of its own (part 3
# mounts); as anyone else parts 1 and 2 run and part 3 is skipped.
if [ "$(id -u)" -eq 0 ]; then
        nt_private_ns "$@" || echo "note: unshare is missing; part 3 will be skipped"
fi
nt_tmpdir
mounted=
# shellcheck disable=SC2154 # _st is assigned inside the trap
trap '_st=$?; trap - EXIT; nt_cleanup_all; exit $_st' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
nt_cleanup_all() {
        nt_stop_all
        for m in $mounted; do umount "$m" 2>/dev/null; done
        nt_cleanup
}

top=$NT_TOP
catalog=$top/packaging/systemd/neostra.catalog
jcat() { "$NT_PYTHON" "$here/journal_catalog.py" "$@"; }
jc() { "$NT_PYTHON" "$here/journal_capture.py" "$@"; }

# ---- 1. ids against the catalog ---------------------------------------------------

jcat check "$top" >"$NT_TMP/check.out" 2>&1
st=$?
while IFS= read -r l; do
        case $l in
        "ok "*) nt_pass "${l#ok }" ;;
        "problem "*) nt_fail "${l#problem }" ;;
        *) nt_fail "journal_catalog.py: $l" ;;
        esac
done <"$NT_TMP/check.out"
[ "$st" -eq 0 ] || nt_fail "journal_catalog.py check exited $st"
ids=$(jcat ids "$top")
id_of() { echo "$ids" | awk -v n="$1" '$1 == n { print $2 }'; }

# ---- 2. journalctl parses it ---------------------------------------------------

if ! command -v journalctl >/dev/null 2>&1; then
        echo "skipped: journalctl is missing (Debian's systemd package)"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
fi
root=$NT_TMP/root
mkdir -p "$root/usr/lib/systemd/catalog" "$root/var/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/neostra.catalog"
if journalctl --root="$root" --update-catalog >"$NT_TMP/update.out" 2>&1 &&
   [ -s "$root/var/lib/systemd/catalog/database" ] && ! grep -qi 'fail\|error\|invalid' "$NT_TMP/update.out"; then
        nt_pass "journalctl --update-catalog reads the catalog without a complaint"
else
        nt_fail "journalctl --update-catalog failed or complained:"
        sed 's/^/  | /' "$NT_TMP/update.out"
fi
journalctl --root="$root" --list-catalog >"$NT_TMP/list.out" 2>&1
missing= undumped=
for id in $(echo "$ids" | awk '{ print $2 }'); do
        grep -q "^$id pam_neostra: ." "$NT_TMP/list.out" || missing="$missing $id"
        journalctl --root="$root" --dump-catalog "$id" >"$NT_TMP/dump.out" 2>&1
        { grep -q "^-- $id\$" "$NT_TMP/dump.out" && grep -q '^Defined-By: pam_neostra$' "$NT_TMP/dump.out" &&
          [ "$(grep -c . "$NT_TMP/dump.out")" -ge 6 ]; } || undumped="$undumped $id"
done
n_list=$(grep -c ' pam_neostra: ' "$NT_TMP/list.out")
n_ids=$(echo "$ids" | grep -c .)
if [ -z "$missing" ] && [ "$n_list" -eq "$n_ids" ]; then
        nt_pass "journalctl --list-catalog lists the $n_ids ids, each with its subject"
else
        nt_fail "journalctl --list-catalog: $n_list entries of pam_neostra for $n_ids ids; missing:$missing"
fi
if [ -z "$undumped" ]; then
        nt_pass "journalctl --dump-catalog prints each entry whole"
else
        nt_fail "journalctl --dump-catalog does not print:$undumped"
fi

# ---- 3. a real journald ------------------------------------------------------------

journald=
for p in /lib/systemd/systemd-journald /usr/lib/systemd/systemd-journald; do
        [ -x "$p" ] && journald=$p && break
done
if [ "$(id -u)" -ne 0 ] || [ -z "$journald" ] || [ ! -d /usr/lib/systemd/catalog ] || ! command -v mount >/dev/null; then
        echo "skipped: a real journal needs root and systemd-journald (Debian's systemd package)"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
fi
if [ "${NT_IN_PRIVATE_NS:-}" != 1 ] ||
   [ "$(readlink /proc/self/ns/mnt)" = "$(readlink "/proc/$PPID/ns/mnt")" ]; then
        echo "skipped: not in a mount namespace of our own; not mounting anything"
        NT_SKIPPED=$((NT_SKIPPED + 1))
        nt_finish
fi
priv_mount() { # SRC DEST
        if mount --bind "$1" "$2"; then
                mounted="$2 $mounted"
                return 0
        fi
        nt_fail "cannot bind $1 over $2"
        nt_finish
}

# A private /run (journald's sockets and its volatile journal), the
# catalog sources with ours added, an empty catalog database, and an empty
# /var/log/journal when the host has one (journald would write there).
mkdir -p "$NT_TMP/run" "$NT_TMP/catsrc" "$NT_TMP/catdb" "$NT_TMP/varjournal"
chmod 0755 "$NT_TMP/run"
cp -p /usr/lib/systemd/catalog/* "$NT_TMP/catsrc/" 2>/dev/null
cp "$catalog" "$NT_TMP/catsrc/neostra.catalog"
priv_mount "$NT_TMP/run" /run
priv_mount "$NT_TMP/catsrc" /usr/lib/systemd/catalog
mkdir -p /run/systemd/journal /run/log/journal
if [ -d /var/lib/systemd/catalog ]; then
        priv_mount "$NT_TMP/catdb" /var/lib/systemd/catalog
else
        nt_fail "/var/lib/systemd/catalog is missing: journalctl -x has no database to read"
fi
[ -d /var/log/journal ] && priv_mount "$NT_TMP/varjournal" /var/log/journal
if journalctl --update-catalog >"$NT_TMP/update.out" 2>&1; then
        nt_pass "journalctl --update-catalog with the catalog in /usr/lib/systemd/catalog (private copy)"
else
        nt_fail "journalctl --update-catalog failed"
        sed 's/^/  | /' "$NT_TMP/update.out"
fi

nt_spawn journald "$journald" >>"$NT_LOGS/journald.log" 2>&1
jpid=$NT_LAST_PID
jd_ready() { [ -S /run/systemd/journal/socket ] || _nt_gone "$jpid"; }
if nt_wait_until 10 "journald's socket" jd_ready && _nt_alive "$jpid"; then
        nt_pass "systemd-journald runs with a private /run"
else
        nt_fail "systemd-journald did not start"
        sed 's/^/  | /' "$NT_LOGS/journald.log"
        nt_finish
fi

umask 077
if ! { right=$(nt_canary_new) && wrong=$(nt_canary_new); }; then
        nt_fail "canaries"
        nt_finish
fi
# mallory's roles are the API's to choose: quotes, a would-be field, an
# ESC sequence (JSON \u001b: the API check refuses C0 controls, so this
# role makes the answer invalid) is left out; a C1 CSI (U+009B) and a bidi
# override (U+202E) pass the API check and must be escaped in the log.
cat >"$NT_TMP/users.json" <<EOF
{"users": {
  "alice@example.com": {"password": "$right", "roles": ["admin"]},
  "mallory@example.com": {"password": "$right",
     "roles": ["x\\") may log in here\\" NEOSTRA_RESULT=success reason=\\"", "\\u009b31mred", "\\u202egnp.exe"]}
}}
EOF
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
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

EOF
        nt_daemon_config jd
} >"$NT_TMP/jd.conf"
: >"$NT_LOGS/jd.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$NT_LOGS/jd.log")
export JOURNAL_STREAM
nt_daemon_start jd || { nt_fail "neostrad start"; nt_finish; }
unset JOURNAL_STREAM
dpid=$_nt_dpid
sock=$(nt_socket_path jd)

auth() { # USER PASSWORD RHOST SERVICE: the reply, one JSON line
        "$NT_PYTHON" "$here/varlink.py" call "$sock" io.neostra.Auth.Authenticate \
                "$("$NT_PYTHON" -c 'import json, sys
print(json.dumps({"user": sys.argv[1], "password": sys.argv[2], "rhost": sys.argv[3],
                  "service": sys.argv[4], "tty": "pts/1"}))' "$@")"
}
auth alice "$right" 192.0.2.10 journal-test >>"$NT_LOGS/calls.log" 2>&1
auth alice "$wrong" 192.0.2.11 journal-test >>"$NT_LOGS/calls.log" 2>&1
auth mallory "$right" 192.0.2.12 journal-test >>"$NT_LOGS/calls.log" 2>&1
# Names and rhosts a peer may send (the protocol refuses C0 controls and
# the name rules whitespace, so these are the worst that can arrive).
hostile_user='eve"service=\x'
hostile_rhost="h\" NEOSTRA_RESULT=success user=root $(printf '\302\233')2J$(printf '\342\200\256')"
auth "$hostile_user" "$wrong" "$hostile_rhost" 'sshd" rhost="x' >>"$NT_LOGS/calls.log" 2>&1
# The API goes away: three sign-ins in a row that reach nobody (carol has
# no verifier, so each one asks the API) make it offline; back on the same
# port, the daemon's next probe finds it online again.
port=$NT_MOCK_HTTP_PORT
nt_stop "$NT_MOCK_PID" mock_api
for i in 1 2 3; do
        auth carol "$wrong" 192.0.2.13 journal-test >>"$NT_LOGS/calls.log" 2>&1
done
jd_has() { journalctl -D /run/log/journal -o cat MESSAGE_ID="$1" 2>/dev/null | grep -q .; }
if nt_wait_until 10 "the API offline entry" jd_has "$(id_of API_OFFLINE)"; then
        nt_pass "journal: the API going offline carries its MESSAGE_ID"
else
        nt_fail "journal: no entry with the API offline MESSAGE_ID"
fi
env -u NEOSTRA_CANARY "$NT_PYTHON" "$top/tests/mock_api.py" --users "$NT_TMP/users.json" --http-port "$port" \
        >>"$NT_LOGS/mock.log" 2>&1 &
_nt_track $! mock_api
if nt_wait_until 30 "the API online entry" jd_has "$(id_of API_ONLINE)"; then
        nt_pass "journal: the API coming back online carries its MESSAGE_ID"
else
        nt_fail "journal: no entry with the API online MESSAGE_ID"
fi
kill -HUP "$dpid" 2>/dev/null
sleep 1
nt_stop "$dpid" neostrad-jd

# The entries, from journald's own files, in the form journal_capture.py reads.
journalctl -D /run/log/journal --sync >/dev/null 2>&1 || sleep 1
jfetch() { journalctl -D /run/log/journal -o json --no-pager "$@" 2>>"$NT_LOGS/journalctl.log"; }
mkdir -p "$NT_TMP/all"
jfetch SYSLOG_IDENTIFIER=neostrad | jc from-journalctl "$NT_TMP/all"
expect() { # DESC SELECTOR... [-- CHECK...]
        _d=$1
        shift
        if jc expect "$NT_TMP/all" 5 "$@" >"$NT_TMP/jc.out" 2>&1; then
                nt_pass "$_d"
        else
                nt_fail "$_d"
                sed 's/^/  | /' "$NT_TMP/jc.out"
        fi
}
jcount() { # DESC N SELECTOR...
        _d=$1
        shift
        if jc count "$NT_TMP/all" "$@" >"$NT_TMP/jc.out" 2>&1; then
                nt_pass "$_d"
        else
                nt_fail "$_d"
                sed 's/^/  | /' "$NT_TMP/jc.out"
        fi
}

SUCCESS=$(id_of LOGIN_SUCCESS)
FAILURE=$(id_of LOGIN_FAILURE)
DENIED=$(id_of ACCOUNT_DENIED_ROLE)
UNKNOWN=$(id_of LOGIN_UNKNOWN)

# `journalctl MESSAGE_ID=... NEOSTRA_USER=alice`, as the README shows it.
mkdir -p "$NT_TMP/q"
jfetch MESSAGE_ID="$SUCCESS" NEOSTRA_USER=alice | jc from-journalctl "$NT_TMP/q"
if jc count "$NT_TMP/q" 1 NEOSTRA_RESULT=success >"$NT_TMP/jc.out" 2>&1 &&
   jc all "$NT_TMP/q" MESSAGE_ID="$SUCCESS" -- NEOSTRA_USER=alice NEOSTRA_SERVICE=journal-test \
        NEOSTRA_RHOST=192.0.2.10 NEOSTRA_TTY=pts/1 NEOSTRA_PEER_UID=0 NEOSTRA_METHOD=Authenticate \
        NEOSTRA_HTTP_STATUS=200 'NEOSTRA_API_LATENCY_MS~^[0-9]+$' 'NEOSTRA_REASON~.' PRIORITY=6 \
        _TRANSPORT=journal >>"$NT_TMP/jc.out" 2>&1; then
        nt_pass "journalctl MESSAGE_ID=<login success> NEOSTRA_USER=alice: the one success, with every NEOSTRA_* field"
else
        nt_fail "journalctl MESSAGE_ID=<login success> NEOSTRA_USER=alice"
        sed 's/^/  | /' "$NT_TMP/jc.out"
fi
expect "journal: the wrong password is a failure with its own MESSAGE_ID" MESSAGE_ID="$FAILURE" NEOSTRA_USER=alice -- \
        NEOSTRA_RESULT=failure NEOSTRA_HTTP_STATUS=401 NEOSTRA_RHOST=192.0.2.11 PRIORITY=5
# journalctl -x: the catalog's text, with the entry's fields filled in.
journalctl -D /run/log/journal -x --no-pager MESSAGE_ID="$SUCCESS" NEOSTRA_USER=alice >"$NT_TMP/x.out" 2>&1
if grep -q 'Subject: Neostra login: the API accepted the password of alice' "$NT_TMP/x.out" &&
   grep -q 'alice logged in through journal-test (from 192.0.2.10)' "$NT_TMP/x.out" &&
   grep -q 'Defined-By: pam_neostra' "$NT_TMP/x.out"; then
        nt_pass "journalctl -x explains the entry from the catalog, with its user, service and rhost"
else
        nt_fail "journalctl -x does not show the catalog's explanation:"
        sed 's/^/  | /' "$NT_TMP/x.out"
fi

# API-chosen roles in the reason: quoted, escaped, one field each.
expect "journal: roles the API chose arrive escaped in the refusal's reason" MESSAGE_ID="$DENIED" NEOSTRA_USER=mallory -- \
        NEOSTRA_RESULT=deniedRole 'NEOSTRA_REASON~^none of the user.s roles \(x\\x22\) may log in here\\x22 NEOSTRA_RESULT=success reason=\\x22, \\xc2\\x9b31mred, \\xe2\\x80\\xaegnp\.exe\) may log in here$'
# A hostile name and rhost (a failure: the API does not know eve).
expect "journal: a hostile user name, service and rhost arrive escaped, as one field each" \
        'NEOSTRA_USER=eve\x22service=\\x' -- 'NEOSTRA_SERVICE=sshd\x22\x20rhost=\x22x' \
        'NEOSTRA_RHOST=h\x22\x20NEOSTRA_RESULT=success\x20user=root\x20\xc2\x9b2J\xe2\x80\xae' \
        'NEOSTRA_RESULT~^(unknown|failure)$' 'MESSAGE~^Authenticate (unknown|failure): user=eve\\x22service=\\\\x service=sshd\\x22\\x20rhost=\\x22x rhost=h\\x22\\x20'
jcount "journal: no success but alice's and mallory's (whose roles then fail the account step): no forged result" \
        0 NEOSTRA_RESULT=success 'NEOSTRA_USER~^(?!alice$|mallory$)'
jcount "journal: one success each for alice and mallory" 2 NEOSTRA_RESULT=success
jcount "journal: no entry for root (no forged user)" 0 NEOSTRA_USER=root
# Nothing below U+0020, no DEL, no C1 and no bidi override in any field of
# any neostrad entry; no field journalctl had to give as bytes.
if jc all "$NT_TMP/all" SYSLOG_IDENTIFIER=neostrad -- \
        'MESSAGE~^[^\x00-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]*$' >"$NT_TMP/jc.out" 2>&1 &&
   jc all "$NT_TMP/all" SYSLOG_IDENTIFIER=neostrad NEOSTRA_RESULT -- \
        'NEOSTRA_USER~^[^\x00-\x20\x7f-\x9f"]*$' 'NEOSTRA_RHOST~^[^\x00-\x20\x7f-\x9f"\u202e]*$' \
        'NEOSTRA_REASON~^[^\x00-\x1f\x7f-\x9f"\u202e]*$' >>"$NT_TMP/jc.out" 2>&1; then
        nt_pass "journal: no control, C1 or bidi character and no quote in any neostrad field"
else
        nt_fail "journal: a raw control character or quote reached a field"
        sed 's/^/  | /' "$NT_TMP/jc.out"
fi

# Start, reload and stop.
expect "journal: start carries its MESSAGE_ID" MESSAGE_ID="$(id_of DAEMON_READY)" -- 'MESSAGE~^neostrad .* ready; API '
expect "journal: reload carries its MESSAGE_ID" MESSAGE_ID="$(id_of DAEMON_RELOADED)" -- 'MESSAGE~^configuration reloaded from '
expect "journal: stop carries its MESSAGE_ID" MESSAGE_ID="$(id_of DAEMON_STOPPED)" -- 'MESSAGE=neostrad stopped'
unknown_id=$(jfetch SYSLOG_IDENTIFIER=neostrad | "$NT_PYTHON" -c 'import json, sys
known = set(sys.argv[1].split())
for line in sys.stdin:
    e = json.loads(line)
    if "MESSAGE_ID" in e and e["MESSAGE_ID"] not in known:
        print(e["MESSAGE_ID"])' "$(echo "$ids" | awk '{ print $2 }')")
if [ -z "$unknown_id" ]; then
        nt_pass "journal: every MESSAGE_ID neostrad sent is one of log-ids.h"
else
        nt_fail "journal: MESSAGE_IDs not in log-ids.h: $unknown_id"
fi
if [ -z "$(nt_find_canary "$right" /run/log/journal "$NT_LOGS")" ] &&
   [ -z "$(nt_find_canary "$wrong" /run/log/journal "$NT_LOGS")" ]; then
        nt_pass "no password in the journal's files or the logs"
else
        nt_fail "a password reached the journal or a log"
fi

nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then
        nt_pass "journald, neostrad and the mock exited cleanly"
else
        nt_fail "$NT_STOP_FAILED process(es) did not exit cleanly"
fi
nt_finish
