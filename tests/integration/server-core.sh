#!/bin/sh
# server-core.sh BUILDDIR: neostrad's Varlink server core under abuse.
#
# Pipelined input: a call answered inside its own handler at once
# (Authenticate of an excluded name or a local system account, an empty
# password, a name that maps to no email, a user the API asked to leave
# alone (429);
# userdb lookups of unknown names and ids) with garbage, a bad frame, an
# over-long message, another call, or itself 50 times behind it in the
# same write, and clients that hang up right after writing: the replies
# in order, one ProtocolError, the close, and a daemon that lives on,
# exits 0 and has no sanitizer report (each such case has its own daemon).
#
# Connection limits (the daemon started here, the mock API, two ordinary
# local accounts in this script's mount namespace): one uid holding 600
# connections on each socket keeps at most VARLINK_SERVER_PEER_MAX per
# socket, root still logs in through the real PAM module within a second,
# another uid is still answered on both sockets, the refusals are logged a
# handful of times; slots on the auth socket kept for root; a busy
# non-root connection closed at VARLINK_SERVER_LIFETIME_USEC, root's not.
# The limits are read from neostrad/varlink-server.h (defaults when it does
# not define them).  The cases are in server_core.py.
# Ends with "server-core: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1

nt_counts server-core "$here/server_core.py"

# The ordinary accounts exist only in this script's own mount namespace.
nt_private_ns "$@" || { echo "server-core: skipped: unshare is missing"; echo "server-core: 0 passed, 0 failed, 1 skipped"; exit 0; }
nt_tmpdir
nt_trap
nt_add_test_user neostra-peer 4242 && nt_add_test_user neostra-peer2 4243 ||
        { nt_fail "adding the test accounts"; nt_finish; }

pamcheck=$NT_BUILD/tests/pamcheck
[ -x "$pamcheck" ] || { nt_fail "$pamcheck is missing (make tests-build)"; nt_finish; }
pw=$(nt_canary_new) || { nt_fail "canary"; nt_finish; }
printf '{"users": {"conn@example.com": {"password": "%s", "roles": ["dev"]}}}\n' "$pw" >"$NT_TMP/users.json"
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

# ---- the limits, from the sources ------------------------------------------------
hdr=$NT_TOP/neostrad/varlink-server.h
# hdr_int NAME DEFAULT: "#define NAME 256u" or "(256u)"
hdr_int() {
        _v=$(sed -n "s/^#define[[:space:]]*$1[[:space:]][[:space:]]*(\{0,1\}[[:space:]]*\([0-9][0-9]*\)[uUlL]*[[:space:]]*)\{0,1\}[[:space:]]*\(\/[*/].*\)\{0,1\}\$/\1/p" "$hdr" 2>/dev/null | head -n1)
        echo "${_v:-$2}"
}
# hdr_sec NAME DEFAULT: "(10u * 1000000ull)", "(10 * USEC_PER_SEC)" or
# "10000000ull", in seconds
hdr_sec() {
        _v=$(sed -n "s/^#define[[:space:]]*$1[[:space:]][[:space:]]*(\{0,1\}[[:space:]]*\([0-9][0-9]*\)[uUlL]*[[:space:]]*\*[[:space:]]*\(1000000[uUlL]*\|USEC_PER_SEC\)[[:space:]]*).*/\1/p" "$hdr" 2>/dev/null | head -n1)
        if [ -z "$_v" ]; then
                _v=$(hdr_int "$1" "")
                [ -n "$_v" ] && _v=$((_v / 1000000))
        fi
        echo "${_v:-$2}"
}
NEOSTRA_CONNECTIONS_MAX=$(hdr_int VARLINK_SERVER_CONNECTIONS_MAX 256)
NEOSTRA_PEER_MAX=$(hdr_int VARLINK_SERVER_PEER_MAX 32)
NEOSTRA_ROOT_RESERVED=$(hdr_int VARLINK_SERVER_ROOT_RESERVED 32)
NEOSTRA_IDLE_SEC=$(hdr_sec VARLINK_SERVER_IDLE_USEC 10)
NEOSTRA_LIFETIME_SEC=$(hdr_sec VARLINK_SERVER_LIFETIME_USEC 30)
export NEOSTRA_CONNECTIONS_MAX NEOSTRA_PEER_MAX NEOSTRA_ROOT_RESERVED NEOSTRA_IDLE_SEC NEOSTRA_LIFETIME_SEC
src="from $hdr"
[ -f "$hdr" ] || src="defaults: $hdr does not exist"
echo "# CONNECTIONS_MAX=$NEOSTRA_CONNECTIONS_MAX PEER_MAX=$NEOSTRA_PEER_MAX ROOT_RESERVED=$NEOSTRA_ROOT_RESERVED" \
        "IDLE=${NEOSTRA_IDLE_SEC}s LIFETIME=${NEOSTRA_LIFETIME_SEC}s ($src)"

# ---- the daemon of the connection-limit cases ------------------------------------------
{
        printf '[api]\nurl = http://127.0.0.1:%s\n\n' "$NT_MOCK_HTTP_PORT"
        printf '[users]\nemail_template = %%u@example.com\nexclude = excluded\n'
        printf 'local_accounts = neostra-peer neostra-peer2\n\n'
        nt_daemon_config srv | sed 's/^userdb = no$/userdb = yes\nuid_min = 300000\nuid_max = 309999/'
} >"$NT_TMP/srv.conf"
chmod 0600 "$NT_TMP/srv.conf"
# 1,200 held client sockets and the daemon's own need more than a tight
# limit (children inherit it).
[ "$(ulimit -n)" -ge 8192 ] 2>/dev/null || ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
nt_daemon_start srv || { nt_fail "neostrad start"; nt_finish; }

# Root's logins go through the real module with a service file of ours.
mkdir -p "$NT_TMP/pam.d"
mod="$NT_BUILD/pam_neostra.so socket=$(nt_socket_path srv) config=$NT_TMP/srv.conf"
printf 'auth required %s\naccount required %s\n' "$mod" "$mod" >"$NT_TMP/pam.d/srv"

NEOSTRA_SOCK=$(nt_socket_path srv)
export NEOSTRA_SOCK NEOSTRA_USERDB_SOCK="$NT_TMP/srv-userdb.sock"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT" NEOSTRA_DAEMON_LOG="$NT_LOGS/srv.log"
export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids" NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad"
export NEOSTRA_BUILD="$NT_BUILD" NEOSTRA_PAMCHECK="$pamcheck" NEOSTRA_PAM_DIR="$NT_TMP/pam.d"
export NEOSTRA_LOGIN_USER=conn NEOSTRA_LOGIN_PASSWORD="$pw"
# The ordinary uids connect to sockets in here (search only; the logs and
# the config stay 0700 / 0600).
chmod 0711 "$NT_TMP"

nt_run_cases pipelined_excluded pipelined_local_account pipelined_empty_password pipelined_no_email \
        pipelined_user_held pipelined_userdb_unknown_name pipelined_userdb_unknown_uid \
        pipelined_userdb_memberships flood root_reserve lifetime

if "$NT_PYTHON" "$here/varlink.py" call "$NEOSTRA_SOCK" io.neostra.Auth.GetStatus >/dev/null &&
   "$NT_PYTHON" "$here/varlink.py" call "$NEOSTRA_USERDB_SOCK" org.varlink.service.GetInfo >/dev/null; then
        nt_pass "the daemon answers on both sockets after the limit cases"
else
        nt_fail "the daemon does not answer after the limit cases"
fi

nt_end_checks
nt_finish
