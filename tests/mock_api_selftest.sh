#!/bin/sh
# mock_api_selftest.sh: checks tests/mock_api.py (and gen-certs.sh) with curl.
#
# Starts the mock on ephemeral ports with throw-away certs and users, exercises
# every documented behaviour, stops it by PID, and ends with the line
# "N passed, N failed" (non-zero exit if anything failed).  All files live in
# one mktemp -d directory, removed on exit.
set -u

here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
tmp=$(mktemp -d)
pid=

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
check() { # check DESCRIPTION COMMAND...: one test, counted by COMMAND's status
    desc=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok   - $desc"
    else
        failed=$((failed + 1))
        echo "FAIL - $desc"
    fi
}

# --- helpers -------------------------------------------------------------------

# req NAME CURL-ARGS...: body in $tmp/NAME.body, "code seconds" in $tmp/NAME.meta,
# curl's own exit status in $tmp/NAME.rc.
req() {
    name=$1
    shift
    curl -sS -o "$tmp/$name.body" -w '%{http_code} %{time_total}' "$@" \
        >"$tmp/$name.meta" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.rc"
}

# signin NAME BASE-URL EMAIL PASSWORD [CURL-ARGS...]
signin() {
    name=$1 base=$2 email=$3 pw=$4
    shift 4
    req "$name" -H 'Content-Type: application/json' \
        --data-binary "{\"email\":\"$email\",\"password\":\"$pw\"}" "$@" "$base/api/v1/auth/signin"
}

control() { # control NAME METHOD PATH [JSON]: a control request over plain HTTP
    if [ $# -ge 4 ]; then
        req "$1" -X "$2" -H 'Content-Type: application/json' --data-binary "$4" "$HTTP/_control/$3"
    else
        req "$1" -X "$2" "$HTTP/_control/$3"
    fi
}

code_is() { [ "$(cut -d' ' -f1 "$tmp/$1.meta" 2>/dev/null)" = "$2" ]; }
rc_is() { [ "$(cat "$tmp/$1.rc" 2>/dev/null)" = "$2" ]; }
took_at_least() { awk -v t="$(cut -d' ' -f2 "$tmp/$1.meta")" -v m="$2" 'BEGIN { exit !(t >= m) }'; }
took_less_than() { awk -v t="$(cut -d' ' -f2 "$tmp/$1.meta")" -v m="$2" 'BEGIN { exit !(t < m) }'; }
body_is() { [ "$(cat "$tmp/$1.body")" = "$2" ]; }

# json NAME EXPR: EXPR (Python, the parsed body of NAME is `d`) is true.
json() {
    "$PY" -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(1)
# Parenthesized so that an expression may span lines.
sys.exit(0 if eval("(%s\n)" % sys.argv[2], {"d": d}) else 1)
' "$tmp/$1.body" "$2"
}

value() { # value NAME EXPR: print EXPR of the parsed body of NAME
    "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' \
        "$tmp/$1.body" "$2"
}

# --- set-up ----------------------------------------------------------------------

# A password that cannot occur by chance: it must never show up anywhere but
# in the users file.
CANARY="canary$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')pw"
USERS=$tmp/users.json

write_users() { # write_users ALICE-ROLES-JSON
    cat >"$USERS.new" <<EOF
{"users": {
  "alice@example.com": {"password": "$CANARY", "roles": $1, "name": "Alice", "id": "u-1"},
  "slow@example.com": {"password": "$CANARY", "delay_ms": 700},
  "down@example.com": {"password": "$CANARY", "status": 503},
  "busy@example.com": {"password": "$CANARY", "status": 429, "retry_after": 30},
  "raw@example.com": {"password": "$CANARY", "body": "this is not json"},
  "liar@example.com": {"password": "$CANARY", "answer_email": "mallory@example.com"},
  "odd@example.com": {"password": "$CANARY", "inner_status": 500},
  "gone@example.com": {"password": "$CANARY", "refresh_status": 401}
}}
EOF
    mv "$USERS.new" "$USERS"
}
write_users '["dev", "admin"]'

check "gen-certs.sh succeeds silently" \
    sh -c '[ -z "$("$1" "$2" 2>&1)" ]' sh "$here/gen-certs.sh" "$tmp/certs"
CA=$tmp/certs/ca.pem

"$PY" "$here/mock_api.py" --users "$USERS" --http-port 0 --https-port 0 \
    --cert "$tmp/certs/server.pem" --key "$tmp/certs/server.key" \
    --port-file "$tmp/ports.json" --pid-file "$tmp/mock.pid" --io-timeout 2 \
    2>"$tmp/mock.log" &
pid=$!

i=0
while [ ! -s "$tmp/ports.json" ] && [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
if [ ! -s "$tmp/ports.json" ]; then
    echo "mock did not start:" >&2
    cat "$tmp/mock.log" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
port() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$tmp/ports.json" "$1"; }
HTTP=http://127.0.0.1:$(port http)
HTTPS=https://localhost:$(port https)

check "pid file holds the mock's PID" [ "$(cat "$tmp/mock.pid")" = "$pid" ]

# --- health and TLS ----------------------------------------------------------------

control health GET health
check "health over http" json health 'd == {"ok": True}'
req health_tls --cacert "$CA" "$HTTPS/_control/health"
check "health over https with the test CA" json health_tls 'd == {"ok": True}'
req health_ip --cacert "$CA" "https://127.0.0.1:$(port https)/_control/health"
check "certificate valid for 127.0.0.1" code_is health_ip 200
req wrong_ca --cacert "$tmp/certs/other-ca.pem" "$HTTPS/_control/health"
check "unrelated CA is refused (curl 60)" rc_is wrong_ca 60
req pinned --cacert "$CA" --pinnedpubkey "$(cat "$tmp/certs/server.pin")" "$HTTPS/_control/health"
check "server.pin matches the server key" code_is pinned 200
control health_post POST health '{}'
check "wrong method on a control path: 405" code_is health_post 405

# --- sign-in ------------------------------------------------------------------------

signin ok "$HTTPS" alice@example.com "$CANARY" --cacert "$CA"
check "right password: 200" code_is ok 200
check "success document shape" json ok '
d["status"] == 200 and d["message"] == "Success" and d["errors"] == []
and isinstance(d["data"]["token"], str) and d["data"]["token"].count(".") == 2
and isinstance(d["data"]["refreshToken"], str) and d["data"]["refreshToken"]
and d["data"]["expiresIn"] == 3600
and d["data"]["user"] == {"id": "u-1", "email": "alice@example.com",
                          "name": "Alice", "roles": ["dev", "admin"]}'

signin bad "$HTTP" alice@example.com "not-$CANARY"
check "wrong password: 401" code_is bad 401
check "refusal document shape" json bad \
    'd == {"error": "Unauthorized", "message": "Invalid email or password", "code": 401}'
signin unknown "$HTTP" nobody@example.com "$CANARY"
check "unknown email: 401" code_is unknown 401

req notjson -H 'Content-Type: application/json' --data-binary 'email=alice' "$HTTP/api/v1/auth/signin"
check "body not JSON: 400" code_is notjson 400
req nopw -H 'Content-Type: application/json' --data-binary '{"email":"alice@example.com"}' \
    "$HTTP/api/v1/auth/signin"
check "password missing: 400" code_is nopw 400
req numpw -H 'Content-Type: application/json' --data-binary '{"email":"alice@example.com","password":1}' \
    "$HTTP/api/v1/auth/signin"
check "password not a string: 400" code_is numpw 400
req chunked -H 'Transfer-Encoding: chunked' --data-binary '{}' "$HTTP/api/v1/auth/signin"
check "no Content-Length (chunked): 411" code_is chunked 411
head -c 70000 /dev/zero | tr '\0' 'x' >"$tmp/big"
req big --data-binary "@$tmp/big" "$HTTP/api/v1/auth/signin"
check "body over 64 KiB: 413" code_is big 413
req get_signin "$HTTP/api/v1/auth/signin"
check "GET on the sign-in path: 405" code_is get_signin 405
req other_path --data-binary '{}' "$HTTP/api/v2/login"
check "other path: 404" code_is other_path 404

# A client that announces more body than it sends must not hold a thread for
# ever: with --io-timeout 2 the mock answers 408 and closes.
"$PY" - "$(port http)" >"$tmp/short.out" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/v1/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"em")
s.settimeout(6)
start, data = time.monotonic(), b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("%s %.1f" % (data.split(b" ")[1].decode() if data else "none", time.monotonic() - start))
EOF
check "short body: 408 and close within the I/O timeout" \
    awk '$1 == 408 && $2 < 5 { ok = 1 } END { exit !ok }' "$tmp/short.out"

# --- per-user overrides --------------------------------------------------------------

signin slow "$HTTP" slow@example.com "$CANARY"
check "delay_ms: answer after >= 0.7 s" took_at_least slow 0.7
check "delay_ms: still a normal 200" code_is slow 200
signin fast "$HTTP" alice@example.com "$CANARY"
check "no delay for other users" took_less_than fast 0.5
signin down "$HTTP" down@example.com "$CANARY" -D "$tmp/down.headers"
check "status override: 503" code_is down 503
check "status override keeps the normal body" json down 'd["status"] == 200'
signin busy "$HTTP" busy@example.com "$CANARY" -D "$tmp/busy.headers"
check "retry_after: 429 with Retry-After: 30" \
    sh -c 'code_ok=$1; grep -qi "^Retry-After: 30" "$2" && [ "$code_ok" = 429 ]' - \
    "$(cut -d' ' -f1 "$tmp/busy.meta")" "$tmp/busy.headers"
check "no Retry-After without retry_after" sh -c '[ -s "$1" ] && ! grep -qi "^Retry-After" "$1"' - "$tmp/down.headers"
signin raw "$HTTP" raw@example.com "$CANARY"
check "body override: sent verbatim" body_is raw "this is not json"
signin raw_bad "$HTTP" raw@example.com "wrong"
check "body override applies to a wrong password too" body_is raw_bad "this is not json"
signin liar "$HTTP" liar@example.com "$CANARY"
check "answer_email replaces data.user.email" json liar 'd["data"]["user"]["email"] == "mallory@example.com"'
signin odd "$HTTP" odd@example.com "$CANARY"
check "inner_status replaces the top-level status" json odd 'd["status"] == 500'
check "inner_status keeps HTTP 200" code_is odd 200

# The users file is re-read when it changes.
write_users '["ops"]'
signin reloaded "$HTTP" alice@example.com "$CANARY"
check "edited roles show on the next sign-in" json reloaded 'd["data"]["user"]["roles"] == ["ops"]'
echo '{"users": {' >"$USERS"
signin broken "$HTTP" alice@example.com "$CANARY"
check "a broken users file keeps the previous users" json broken 'd["data"]["user"]["roles"] == ["ops"]'
write_users '["dev", "admin"]'

# --- token refresh ----------------------------------------------------------------------

# refresh NAME REFRESH-TOKEN
refresh() {
    req "$1" -H 'Content-Type: application/json' --data-binary "{\"refreshToken\":\"$2\"}" \
        "$HTTP/api/v1/auth/refresh"
}
signin forrefresh "$HTTP" alice@example.com "$CANARY"
rt=$(value forrefresh 'd["data"]["refreshToken"]')
write_users '["ops"]'
refresh r1 "$rt"
check "refresh: 200 in the sign-in answer's shape, with the roles as they are now" json r1 '
d["status"] == 200 and isinstance(d["data"]["token"], str) and d["data"]["refreshToken"]
and d["data"]["expiresIn"] == 3600
and d["data"]["user"] == {"id": "u-1", "email": "alice@example.com", "name": "Alice", "roles": ["ops"]}'
refresh r1again "$rt"
check "a refresh token works once" code_is r1again 401
refresh r2 "$(value r1 'd["data"]["refreshToken"]')"
check "the refresh token a refresh issued works" code_is r2 200
refresh rbad "no-such-token"
check "an unknown refresh token: 401" code_is rbad 401
signin gone "$HTTP" gone@example.com "$CANARY"
refresh rgone "$(value gone 'd["data"]["refreshToken"]')"
check "refresh_status: that status" code_is rgone 401
check "refresh_status: no token" json rgone '"data" not in d'
write_users '["dev", "admin"]'

# --- requests log ----------------------------------------------------------------------

control requests GET requests
check "requests log never holds the password" sh -c '! grep -qF "$1" "$2"' sh "$CANARY" "$tmp/requests.body"
check "requests log records the attempt" json requests "
any(r['email'] == 'alice@example.com' and r['password_ok'] is True
    and r['password_len'] == ${#CANARY} and r['tls'] is True
    and r['content_type'] == 'application/json' and r['user_agent'].startswith('curl/')
    and r['path'] == '/api/v1/auth/signin' and r['status'] == 200
    and isinstance(r['time'], float) for r in d['requests'])"
check "requests log records a wrong password" json requests "
any(r['email'] == 'alice@example.com' and r['password_ok'] is False
    and r['password_len'] == ${#CANARY} + 4 and r['tls'] is False for r in d['requests'])"

# --- global control ----------------------------------------------------------------------

control reset POST reset
check "reset (POST without a body)" json reset 'd == {"ok": True}'
control requests GET requests
check "reset empties the requests log" json requests 'd == {"requests": []}'

control cfg POST config '{"delay_ms": 600}'
check "config accepted" json cfg 'd["config"] == {"delay_ms": 600}'
signin gdelay "$HTTP" alice@example.com "$CANARY"
check "global delay applies to every user" took_at_least gdelay 0.6
control cfg POST config '{"delay_ms": null, "status": 502}'
check "config merges, null removes a key" json cfg 'd["config"] == {"status": 502}'
signin gstatus "$HTTP" alice@example.com "$CANARY"
check "global status override" code_is gstatus 502
control cfg POST config '{"status": null, "body": "{\"status\":200}"}'
signin gbody "$HTTP" alice@example.com "$CANARY"
check "global body override" body_is gbody '{"status":200}'
control cfg_bad POST config '{"delay": 5}'
check "unknown config key: 400" code_is cfg_bad 400
control cfg_bad2 POST config '{"mode": "explode"}'
check "bad mode: 400" code_is cfg_bad2 400

control reset POST reset
control cfg POST config '{"mode": "close"}'
signin closed "$HTTP" alice@example.com "$CANARY"
check "close mode: connection closed without answer (curl 52)" rc_is closed 52

control cfg POST config '{"mode": "hang"}'
signin hung "$HTTPS" alice@example.com "$CANARY" --cacert "$CA" -m 1
check "hang mode: no answer (curl 28 after -m 1)" rc_is hung 28
control health_hang GET health
check "control endpoints still answer in hang mode" code_is health_hang 200
sleep 0.5
check "hang mode lets go when the client leaves" grep -q "held without answer, client left" "$tmp/mock.log"

control requests GET requests
check "close and hang attempts are recorded without status" json requests \
    'len(d["requests"]) == 2 and all(r["status"] is None for r in d["requests"])'

control reset POST reset
signin after "$HTTP" alice@example.com "$CANARY"
check "reset restores normal answers" code_is after 200

# --- stats and keep-alive ------------------------------------------------------------------

control reset POST reset
signin s1 "$HTTP" alice@example.com "$CANARY"
signin s2 "$HTTP" alice@example.com wrong
req s3 --data-binary 'x' "$HTTP/api/v1/auth/signin"
control st GET stats
check "stats counts sign-in attempts" [ "$(value st 'd["signins"]')" = 3 ]

# Each stats query is itself a new connection on the http listener, counted
# before it answers.
control st0 GET stats
# Two sign-ins (POST bodies and all) in one curl invocation share a connection.
signin twice "$HTTPS" alice@example.com "$CANARY" --cacert "$CA" "$HTTPS/api/v1/auth/signin"
check "two requests in one curl both succeed" code_is twice 200
control st1 GET stats
check "keep-alive: two requests, one https connection" \
    [ $(($(value st1 'd["listeners"]["https"]') - $(value st0 'd["listeners"]["https"]'))) -eq 1 ]
check "connections is the total of all listeners (+1 https, +1 stats query)" \
    [ $(($(value st1 'd["connections"]') - $(value st0 'd["connections"]'))) -eq 2 ]
req sep1 --cacert "$CA" "$HTTPS/_control/health"
req sep2 --cacert "$CA" "$HTTPS/_control/health"
control st2 GET stats
check "separate curl runs: one connection each" \
    [ $(($(value st2 'd["listeners"]["https"]') - $(value st1 'd["listeners"]["https"]'))) -eq 2 ]

# --- stop ----------------------------------------------------------------------------------

kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
    check "SIGTERM stops the mock" false
else
    wait "$pid"
    status=$?
    pid=
    check "SIGTERM stops the mock with status 0" [ "$status" -eq 0 ]
fi
check "pid and port files removed on exit" sh -c '[ ! -e "$1/mock.pid" ] && [ ! -e "$1/ports.json" ]' sh "$tmp"
check "one log line per request, no traceback" sh -c '! grep -q Traceback "$1"' sh "$tmp/mock.log"

# Last, so that it covers every answer, log line and file written above.
check "the password appears nowhere but in the users file" \
    sh -c '! grep -rlF --exclude="users.json*" "$1" "$2"' sh "$CANARY" "$tmp"

if [ "$failed" -ne 0 ]; then
    echo "--- mock log ---"
    cat "$tmp/mock.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
