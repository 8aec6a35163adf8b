#!/bin/sh
# daemon-protocol.sh BUILDDIR: neostrad's Varlink server, driven over its
# Unix socket by tests/integration/varlink.py against the mock API:
# unknown methods, malformed / non-object / duplicate-key / oversized
# messages, InvalidParameter, GetStatus, GetInfo, the per-connection
# deadline, the connection cap, clients that leave mid sign-in.
# The cases are in daemon_protocol.py; this script starts and stops the
# processes (tests/lib.sh) and counts.  Ends with
# "daemon-protocol: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
# No __pycache__ in the source tree from importing varlink.py / itest.py.
export PYTHONDONTWRITEBYTECODE=1

nt_counts daemon-protocol "$here/daemon_protocol.py"

# peer_policy needs an ordinary local account, which exists only in this
# script's own mount namespace.
nt_private_ns "$@" || { echo "daemon-protocol: skipped: unshare is missing"; echo "daemon-protocol: 0 passed, 0 failed, 1 skipped"; exit 0; }
nt_tmpdir
nt_trap
nt_add_test_user neostra-peer 4242 || { nt_fail "adding the test account"; nt_finish; }

"$NT_PYTHON" - >"$NT_TMP/users.json" <<'EOF'
import json
print(json.dumps({"users": {
    "alice@example.com": {"password": "alice-pw", "roles": ["dev", "admin"]},
    "slow@example.com": {"password": "slow-pw", "roles": ["dev"], "delay_ms": 2000},
}}))
EOF
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

{
        printf '[api]\nurl = http://127.0.0.1:%s\n\n' "$NT_MOCK_HTTP_PORT"
        # neostra-peer: a local account opted in (the peer policy cases
        # sign it in as itself).
        printf '[users]\nemail_template = %%u@example.com\nexclude = excluded\nlocal_accounts = neostra-peer\n\n'
        nt_daemon_config proto
} >"$NT_TMP/proto.conf"
nt_daemon_start proto || { nt_fail "neostrad start"; nt_finish; }

export NEOSTRA_SOCK="$(nt_socket_path proto)"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_DAEMON_LOG="$NT_LOGS/proto.log"
export NEOSTRA_CONFIG="$NT_TMP/proto.conf"
# The limits this file tests, read from the sources so a change there is
# followed here (and seen in the output).
NEOSTRA_CONNECTIONS_MAX=$(sed -n 's/^#define VARLINK_SERVER_CONNECTIONS_MAX *\([0-9]*\)u*.*/\1/p' "$NT_TOP/neostrad/varlink-server.h")
NEOSTRA_IDLE_TIMEOUT=$(sed -n 's/^#define VARLINK_SERVER_IDLE_USEC *(\([0-9]*\)u* *\* *1000000ull).*/\1/p' "$NT_TOP/neostrad/varlink-server.h")
export NEOSTRA_CONNECTIONS_MAX="${NEOSTRA_CONNECTIONS_MAX:-256}" NEOSTRA_IDLE_TIMEOUT="${NEOSTRA_IDLE_TIMEOUT:-10}"
echo "# CONNECTIONS_MAX=$NEOSTRA_CONNECTIONS_MAX IDLE_TIMEOUT=${NEOSTRA_IDLE_TIMEOUT}s"
# 266 client sockets and the daemon's 256 need more than a tight limit.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
# peer_policy connects as uid 4242: it must be able to reach the socket
# (search only; nothing in here is secret, the logs stay 0700).
chmod 0711 "$NT_TMP"

nt_run_cases unknown_method pipelined_calls malformed_json non_object malformed_call \
      duplicate_keys oversize_message message_at_limit embedded_nul invalid_parameter \
      get_status get_info client_gone_while_pending half_closed_client_gets_answer \
      concurrent_logins peer_policy own_account_userdb_only not_our_users connection_cap idle_timeout

# The daemon is still there and answering after all of that.
if "$NT_PYTHON" "$here/varlink.py" call "$NEOSTRA_SOCK" io.neostra.Auth.GetStatus >/dev/null; then
        nt_pass "daemon alive after the protocol cases"
else
        nt_fail "daemon alive after the protocol cases"
fi

# SIGTERM: every process exits 0 (under ASan: leak check passed), and no
# sanitizer report.
nt_stop_all
if [ "$NT_STOP_FAILED" -eq 0 ]; then nt_pass "neostrad and the mock exit 0 at SIGTERM"
else nt_fail "$NT_STOP_FAILED process(es) did not exit 0 at SIGTERM"; fi
if grep -E 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$NEOSTRA_DAEMON_LOG"; then
        nt_fail "sanitizer report in the daemon log"
else
        nt_pass "no sanitizer report"
fi
[ "$NT_FAILED" -eq 0 ] || { echo "---- $NEOSTRA_DAEMON_LOG (tail)"; tail -n 30 "$NEOSTRA_DAEMON_LOG"; }
nt_finish
