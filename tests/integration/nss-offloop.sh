#!/bin/sh
# nss-offloop.sh BUILDDIR: neostrad never looks up local users and groups
# (NSS) on its event loop.  With tests/slownss.so preloaded into the
# daemon, lookups of some names are made slow, hung or failing (an LDAP or
# SSSD source whose server is slow or down): a login or a first_login
# userdb query of such a name waits for its own lookups while other logins
# and userdb answers go on; a hung lookup fails its call closed
# (ServiceUnavailable) after neostrad's NAMES_WAIT_USEC; a failure is not
# kept; a user NSS answered for before still logs in while NSS fails or
# hangs (the previous answer stands); SIGTERM while a lookup hangs stops
# the daemon at once; GetStatus localLookups.onLoop stays 0.  The cases are in
# nss_offloop.py.  Ends with "nss-offloop: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1

nt_counts nss-offloop "$here/nss_offloop.py"
nt_tmpdir
nt_trap

[ -f "$NT_BUILD/tests/slownss.so" ] || { nt_fail "$NT_BUILD/tests/slownss.so is missing (make tests-build)"; nt_finish; }
"$NT_PYTHON" - >"$NT_TMP/users.json" <<'EOF2'
import json
print(json.dumps({"users": {u + "@example.com": {"password": u + "-pw", "roles": ["dev"]}
                            for u in ("alice", "bob", "slowpoke", "stuck1", "nssfail1")}}))
EOF2
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

export NEOSTRA_TMP="$NT_TMP"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad"
export NEOSTRA_SLOWNSS="$NT_BUILD/tests/slownss.so"
export NEOSTRA_PIDS="$NT_TMP/case-pids"
# The wait neostrad gives NSS, read from the source so a change there shows here.
_w=$(sed -n 's/^#define NAMES_PARK_WAIT_USEC *(\([0-9]*\)u* *\* *1000000ull).*/\1/p' "$NT_TOP/neostrad/nss-park.h")
export NEOSTRA_NAMES_WAIT="${_w:-5}"
echo "# NAMES_WAIT_USEC = $NEOSTRA_NAMES_WAIT s"

nt_run_cases slow_lookup_holds_only_its_login slow_first_login_query hung_lookup_fails_closed \
        failed_lookup_not_reused failed_lookup_checkaccount_unavailable kept_answers_during_nss_outage \
        stop_while_a_lookup_hangs
nt_end_checks
nt_finish
