#!/bin/sh
# userdb.sh BUILDDIR: neostrad's io.systemd.UserDatabase service.  Two
# users sign in through io.neostra.Auth; then the userdb socket (in the
# test's temp dir) is queried directly: by name, by id, enumeration with
# more/continues, memberships, NoRecordFound, BadService, the records'
# fields; answers stay fast while a sign-in hangs at the API; uids and
# gids are the same after a restart; first_login: provisional records for
# names never seen (their fields, the uid they get at the first login, not
# enumerated, refused names, fast, first_login = no); a 404 unpublishes a
# user at once and its next sign-in brings back its uid; ten users in a
# thirty-uid range, cleared and signed in again in reverse order, keep
# their uids.  Then, inside this script's private
# mount namespace only (a tmpfs over /run/systemd), the socket is put at
# /run/systemd/userdb/io.neostra and userdbctl, getent and id (through
# the host's nss-systemd) show the records.  The cases are in userdb.py.
# Ends with "userdb: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1

nt_counts userdb "$here/userdb.py"

# The /run/systemd mount below exists in this script's namespace only.
nt_private_ns "$@" || { echo "userdb: skipped: unshare is missing"; echo "userdb: 0 passed, 0 failed, 1 skipped"; exit 0; }
nt_tmpdir
nt_trap

"$NT_PYTHON" - >"$NT_TMP/users.json" <<'EOF2'
import json
users = {"ten%d@example.com" % i: {"password": "ten%d-pw" % i, "roles": ["dev"]} for i in range(10)}
print(json.dumps({"users": dict(users, **{
    "alice@example.com": {"password": "alice-pw", "roles": ["dev", "admin"]},
    "bob@example.com": {"password": "bob-pw", "roles": ["dev"]},
    "slow@example.com": {"password": "slow-pw", "roles": ["dev"], "delay_ms": 1500},
    "carol@example.com": {"password": "carol-pw", "roles": ["dev"]},
    "dave@example.com": {"password": "dave-pw", "roles": ["admin"]},
    "erin@example.com": {"password": "erin-pw", "roles": ["admin"]},
    "twin148@example.com": {"password": "twin148-pw", "roles": ["dev"]},
})}))
EOF2
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }
# carol is a Neostra user and, in this namespace, a local account too:
# local wins, she is never published.
nt_add_test_user carol 4343 || { nt_fail "adding the local account carol"; nt_finish; }
# provisional_callers connects as carol: she must reach the socket (search
# only; the logs stay 0700).
chmod 0711 "$NT_TMP"

uid_min=300000 uid_max=309999
{
        printf '[api]\nurl = http://127.0.0.1:%s\ntimeout = 5s\n\n' "$NT_MOCK_HTTP_PORT"
        # carol: a local account pre-created for a Neostra user.
        printf '[users]\nemail_template = %%u@example.com\nexclude = mallory\nlocal_accounts = carol\n\n'
        printf '[groups]\ndev = developers sudo\nadmin = ops\n\n'
        # userdb on, its socket in our temp dir.
        nt_daemon_config udb | sed "s/^userdb = no$/userdb = yes\nuid_min = $uid_min\nuid_max = $uid_max/"
} >"$NT_TMP/udb.conf"
mkdir -p "$NT_TMP/userdb"
sed -i "s|^userdb_socket = .*|userdb_socket = $NT_TMP/userdb/io.neostra|" "$NT_TMP/udb.conf"
nt_daemon_start udb || { nt_fail "neostrad start"; nt_finish; }

export NEOSTRA_SOCK="$(nt_socket_path udb)"
export NEOSTRA_USERDB_SOCK="$NT_TMP/userdb/io.neostra"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_DAEMON_LOG="$NT_LOGS/udb.log"
export NEOSTRA_UID_MIN=$uid_min NEOSTRA_UID_MAX=$uid_max
export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids" NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad"

if [ "$(stat -c %a "$NEOSTRA_USERDB_SOCK" 2>/dev/null)" = 666 ]; then
        nt_pass "the userdb socket is world-connectable (0666)"
else
        nt_fail "the userdb socket mode is $(stat -c %a "$NEOSTRA_USERDB_SOCK" 2>&1), not 0666"
fi

nt_run_cases login user_by_name user_by_uid no_record bad_service unknown_parameters \
        enumerate_users groups memberships provisional provisional_policy provisional_callers provisional_fast \
        fast_while_api_hangs local_wins socket_activation socket_activation_one_unit socket_activation_userdb_off first_login_off \
        provisional_reserved deprovisioned uids_never_reused

# ---- the same ids after a restart ----------------------------------------------
"$NT_PYTHON" "$here/userdb.py" dump >"$NT_TMP/ids-before" 2>&1
nt_stop "$(echo "$NT_PIDS" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):neostrad-udb$/\1/p' | tail -n1)" neostrad-udb
nt_daemon_start udb || { nt_fail "neostrad restart"; nt_finish; }
"$NT_PYTHON" "$here/userdb.py" dump >"$NT_TMP/ids-after" 2>&1
if [ -s "$NT_TMP/ids-before" ] && grep -q '^alice=' "$NT_TMP/ids-before" &&
   [ "$(sort "$NT_TMP/ids-before")" = "$(sort "$NT_TMP/ids-after")" ]; then
        nt_pass "uids and gids are the same after a restart ($(sort "$NT_TMP/ids-after" | tr '\n' ' '))"
else
        nt_fail "ids changed across a restart: before: $(cat "$NT_TMP/ids-before") after: $(cat "$NT_TMP/ids-after")"
fi

# ---- [identities] userdb = no: no socket at all ------------------------------------
sed -e 's/^userdb = yes$/userdb = no/' -e "s|cache-udb|cache-noudb|" \
    -e "s|^socket = .*|socket = $(nt_socket_path noudb)|" \
    -e "s|^userdb_socket = .*|userdb_socket = $NT_TMP/userdb-off/io.neostra|" "$NT_TMP/udb.conf" >"$NT_TMP/noudb.conf"
mkdir -p -m 0700 "$NT_TMP/cache-noudb"
if nt_daemon_start noudb; then
        if [ ! -e "$NT_TMP/userdb-off/io.neostra" ] && ! grep -q UserDatabase "$NT_LOGS/noudb.log"; then
                nt_pass "userdb = no: no userdb socket"
        else
                nt_fail "userdb = no, yet $NT_TMP/userdb-off/io.neostra exists or is served"
        fi
else
        nt_fail "neostrad with userdb = no did not start"
fi

# ---- through nss-systemd, in this namespace only ----------------------------------
nss_ok=1
if ! grep -qE '^passwd:.*systemd' /etc/nsswitch.conf || ! grep -qE '^group:.*systemd' /etc/nsswitch.conf; then
        printf 'passwd: files systemd\ngroup: files systemd\nshadow: files\n' >"$NT_TMP/nsswitch.conf"
        mount --bind "$NT_TMP/nsswitch.conf" /etc/nsswitch.conf || nss_ok=0
fi
if [ "$nss_ok" = 1 ] && [ -d /run/systemd ] && mount -t tmpfs -o mode=0755 neostra-test /run/systemd &&
   mkdir -p /run/systemd/userdb && ln -s "$NEOSTRA_USERDB_SOCK" /run/systemd/userdb/io.neostra; then
        alice_uid=$(sed -n 's/^alice=//p' "$NT_TMP/ids-after")
        dev_gid=$(sed -n 's/^group:developers=//p' "$NT_TMP/ids-after")
        # Debian 12 ships userdbctl in systemd-userdbd (a test dependency,
        # packaging/debian-deps.txt); without it this one check says skipped.
        if ! command -v userdbctl >/dev/null 2>&1; then
                echo "SKIP - userdbctl user alice -j: userdbctl is not installed (Debian: systemd-userdbd)"
                NT_SKIPPED=$((NT_SKIPPED + 1))
        elif out=$(timeout 10 userdbctl user alice -j 2>&1) && echo "$out" | "$NT_PYTHON" -c 'import json, sys
r = json.load(sys.stdin)
sys.exit(0 if r.get("userName") == "alice" and r.get("uid") == int(sys.argv[1]) and r.get("service") == "io.neostra" else 1)' "$alice_uid"; then
                nt_pass "userdbctl user alice -j shows our record"
        else
                nt_fail "userdbctl user alice -j: $out"
        fi
        out=$(timeout 10 getent passwd alice 2>&1)
        if [ "$out" = "alice:x:$alice_uid:$alice_uid:alice:/home/alice:/bin/bash" ]; then
                nt_pass "getent passwd alice: $out"
        else
                nt_fail "getent passwd alice: '$out' (uid $alice_uid expected)"
        fi
        out=$(timeout 10 getent group developers 2>&1)
        case $out in
        "developers:x:$dev_gid:"*alice*) nt_pass "getent group developers: $out" ;;
        *) nt_fail "getent group developers: '$out' (gid $dev_gid expected)" ;;
        esac
        out=$(timeout 10 id alice 2>&1)
        case $out in
        *"uid=$alice_uid(alice)"*"$dev_gid(developers)"*) case $out in
                *"(sudo)"*"(ops)"*|*"(ops)"*"(sudo)"*) nt_pass "id alice: $out" ;;
                *) nt_fail "id alice lacks sudo or ops: $out" ;;
                esac ;;
        *) nt_fail "id alice: '$out'" ;;
        esac
        # No self-wait (README, "Identities through userdb"): with our socket now where
        # nss-systemd looks, a first sign-in makes the daemon look up local
        # names and ids; its NSS must not ask itself (that would hang).
        start=$(date +%s%N)
        out=$("$NT_PYTHON" "$here/varlink.py" call "$NEOSTRA_SOCK" io.neostra.Auth.Authenticate \
                '{"user": "dave", "password": "dave-pw"}' --timeout 20 2>&1)
        took=$(( ($(date +%s%N) - start) / 1000000 ))
        dave=$(timeout 10 getent passwd dave 2>&1)
        case $out in
        *'"error"'*) nt_fail "dave's first sign-in with the socket in place: $out" ;;
        *) if [ "$took" -lt 3000 ] && [ -n "$dave" ]; then
                   nt_pass "a first sign-in with our own socket in place takes ${took} ms (no self-wait); $dave"
           else
                   nt_fail "a first sign-in with our own socket in place took ${took} ms; getent: '$dave'"
           fi ;;
        esac
        start=$(date +%s%N)
        timeout 10 getent passwd no-such-user-anywhere >/dev/null 2>&1
        took=$(( ($(date +%s%N) - start) / 1000000 ))
        if [ "$took" -lt 1000 ]; then nt_pass "an unknown name is answered at once (${took} ms)"
        else nt_fail "an unknown name took ${took} ms"; fi
else
        echo "SKIP - nss-systemd checks: cannot mount a private /run/systemd in this namespace"
        NT_SKIPPED=$((NT_SKIPPED + 1))
fi

nt_end_checks
nt_finish
