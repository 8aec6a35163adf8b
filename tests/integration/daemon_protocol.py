#!/usr/bin/python3
"""Cases of daemon-protocol.sh: the Varlink server of neostrad.

    NEOSTRA_SOCK=... NEOSTRA_MOCK_URL=... NEOSTRA_DAEMON_LOG=... \
        daemon_protocol.py CASE...

Limits mirrored from the sources (a change there must show up here):
include/neostra/protocol.h NEOSTRA_MESSAGE_MAX, neostrad/varlink-server.h
VARLINK_SERVER_CONNECTIONS_MAX and VARLINK_SERVER_IDLE_USEC.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402
from itest import AUTH, expect, expect_error  # noqa: E402

MESSAGE_MAX = 64 * 1024
CONNECTIONS_MAX = int(os.environ.get("NEOSTRA_CONNECTIONS_MAX", "256"))
IDLE_TIMEOUT = float(os.environ.get("NEOSTRA_IDLE_TIMEOUT", "10"))

PROTOCOL_ERROR = "org.varlink.service.ProtocolError"
METHOD_NOT_FOUND = "org.varlink.service.MethodNotFound"
INVALID_PARAMETER = "org.varlink.service.InvalidParameter"

USER, PASSWORD = "alice", "alice-pw"


def connect(timeout=5.0):
    return varlink.Connection(itest.sock(), timeout)


def still_usable(c, what):
    """The connection answers the next call."""
    reply = c.call(AUTH + "GetStatus")
    expect("error" not in reply and "version" in reply["parameters"],
           "%s: connection not usable afterwards: %r" % (what, reply))


def expect_protocol_error_and_close(data, what, need_reply=True):
    """Send raw bytes; expect a ProtocolError reply (or at least a close)
    and then the connection closed by the daemon.  Returns the reply or
    None when the daemon closed without one."""
    with connect() as c:
        try:
            c.send_raw(data)
        except varlink.Closed:
            pass
        reply = None
        try:
            reply = c.receive(timeout=3.0)
        except varlink.Closed:
            pass
        if need_reply:
            expect(reply is not None, "%s: closed without a ProtocolError reply" % what)
        if reply is not None:
            expect_error(reply, PROTOCOL_ERROR, what)
            expect(isinstance(reply["parameters"].get("reason"), str),
                   "%s: ProtocolError without a reason: %r" % (what, reply))
        expect(c.wait_closed(3.0), "%s: connection still open after a ProtocolError" % what)
    return reply


# ---- cases ------------------------------------------------------------------------

def case_unknown_method():
    with connect() as c:
        reply = c.call("io.neostra.Auth.NoSuchMethod", {})
        expect_error(reply, METHOD_NOT_FOUND, "unknown method")
        expect(reply["parameters"].get("method") == "io.neostra.Auth.NoSuchMethod",
               "MethodNotFound does not name the method: %r" % reply)
        # An unknown interface too, and the connection keeps working.
        expect_error(c.call("org.example.Other.Thing"), METHOD_NOT_FOUND, "unknown interface")
        still_usable(c, "after MethodNotFound")


def case_pipelined_calls():
    """Two calls in one write are answered in order."""
    with connect() as c:
        c.send_raw(b'{"method":"io.neostra.Auth.GetStatus"}\0'
                   b'{"method":"org.varlink.service.GetInfo"}\0')
        first, second = c.receive(), c.receive()
        expect("state" in first["parameters"], "first answer is not GetStatus: %r" % first)
        expect("interfaces" in second["parameters"], "second answer is not GetInfo: %r" % second)
        # A call behind one that waits on the API waits its turn, and sees
        # what the sign-in cached (the daemon answers a sign-in before its
        # cache write, and goes on to the next call only after it): with
        # nothing cached before, GetUser and GetToken show this sign-in's.
        expect("error" not in c.call(AUTH + "ClearCache", {"user": USER}), "ClearCache failed")
        itest.mock_config(delay_ms=300)
        try:
            c.send_raw(json.dumps({"method": AUTH + "Authenticate",
                                   "parameters": {"user": USER, "password": PASSWORD}}).encode()
                       + b'\0{"method":"io.neostra.Auth.GetUser","parameters":{"user":"alice"}}\0'
                       + b'{"method":"io.neostra.Auth.GetToken","parameters":{"user":"alice"}}\0')
            first, second, third = c.receive(5.0), c.receive(5.0), c.receive(5.0)
        finally:
            itest.mock_config(delay_ms=None)
        expect("error" not in first and first["parameters"].get("email") == "alice@example.com",
               "first answer is not the login: %r" % first)
        expect("error" not in second and second["parameters"].get("hasToken") is True,
               "second answer is not GetUser with the new token: %r" % second)
        token = third.get("parameters", {}).get("token")
        expect("error" not in third and isinstance(token, str) and token,
               "third answer is not GetToken with the new token: %r" % {
                   k: v for k, v in third.items() if k != "parameters"})


def case_malformed_json():
    expect_protocol_error_and_close(b'{"method":"io.neostra.Auth.GetStatus",\0', "truncated JSON")
    expect_protocol_error_and_close(b'not json at all\0', "garbage")
    expect_protocol_error_and_close(b'{"method":"io.neostra.Auth.GetStatus"} {}\0', "trailing data")
    expect_protocol_error_and_close(b'\0', "empty message")


def case_non_object():
    for raw in (b'[1,2]', b'"io.neostra.Auth.GetStatus"', b'42', b'null', b'true'):
        expect_protocol_error_and_close(raw + b"\0", "non-object %s" % raw.decode())


def case_malformed_call():
    """Valid JSON objects that are not calls."""
    for raw in (b'{}',
                b'{"parameters":{}}',
                b'{"method":42}',
                b'{"method":"GetStatus"}',
                b'{"method":"io.neostra.Auth.GetStatus","parameters":[]}',
                b'{"method":"io.neostra.Auth.GetStatus","extra":1}',
                b'{"method":"io.neostra.Auth.GetStatus","upgrade":true}',
                b'{"method":"io.neostra.Auth.GetStatus","oneway":"yes"}'):
        expect_protocol_error_and_close(raw + b"\0", "malformed call %s" % raw.decode())


def case_duplicate_keys():
    expect_protocol_error_and_close(
        b'{"method":"io.neostra.Auth.GetStatus","method":"io.neostra.Auth.GetStatus"}\0',
        "duplicate top-level key")
    # The checked "user" and the used "user" must never differ.
    expect_protocol_error_and_close(
        b'{"method":"io.neostra.Auth.Authenticate","parameters":'
        b'{"user":"alice","user":"root","password":"x"}}\0',
        "duplicate parameter key")


def case_oversize_message():
    # 64 KiB + 2 bytes and no NUL: the daemon reads all of it (so its close
    # cannot turn into a reset) and then must refuse it.
    expect_protocol_error_and_close(b"{" + b" " * (MESSAGE_MAX + 1), "64 KiB + 2 bytes, no NUL")
    # Far more than that, still without a NUL: at least a close.
    expect_protocol_error_and_close(b"{" + b"A" * (4 * MESSAGE_MAX), "256 KiB, no NUL",
                                    need_reply=False)
    # One byte over the limit with its NUL.
    msg = b'{"method":"io.neostra.Auth.GetStatus"}'
    expect_protocol_error_and_close(msg + b" " * (MESSAGE_MAX + 1 - len(msg)) + b"\0",
                                    "64 KiB + 1 byte message")


def case_message_at_limit():
    """Exactly NEOSTRA_MESSAGE_MAX bytes plus the NUL is a valid message."""
    msg = b'{"method":"io.neostra.Auth.GetStatus"}'
    with connect() as c:
        c.send_raw(msg + b" " * (MESSAGE_MAX - len(msg)) + b"\0")
        reply = c.receive()
        expect("error" not in reply, "a 64 KiB message was refused: %r" % reply)
        still_usable(c, "after a 64 KiB message")


def case_invalid_parameter():
    cases = [
        ("Authenticate", {"password": PASSWORD}, "user"),
        ("Authenticate", {"user": 42, "password": PASSWORD}, "user"),
        ("Authenticate", {"user": None, "password": PASSWORD}, "user"),
        ("Authenticate", {"user": ["alice"], "password": PASSWORD}, "user"),
        ("Authenticate", {"user": "", "password": PASSWORD}, "user"),
        ("Authenticate", {"user": "al\nice", "password": PASSWORD}, "user"),
        ("Authenticate", {"user": "a" * 300, "password": PASSWORD}, "user"),
        ("Authenticate", {"user": USER}, "password"),
        ("Authenticate", {"user": USER, "password": 1234}, "password"),
        ("Authenticate", {"user": USER, "password": None}, "password"),
        ("Authenticate", {"user": USER, "password": "p" * 1025}, "password"),
        ("Authenticate", {"user": USER, "password": PASSWORD, "service": 7}, "service"),
        ("CheckAccount", {}, "user"),
        ("CheckAccount", {"user": True}, "user"),
        ("GetUser", {}, "user"),
        ("GetUser", {"user": {"name": "alice"}}, "user"),
    ]
    with connect() as c:
        for method, params, name in cases:
            what = "%s %s" % (method, json.dumps(params)[:60])
            reply = expect_error(c.call(AUTH + method, params), INVALID_PARAMETER, what)
            expect(reply["parameters"].get("parameter") == name,
                   "%s: InvalidParameter names %r, expected %r" % (what, reply["parameters"], name))
        # No parameters object at all counts as empty.
        c.send_raw(b'{"method":"io.neostra.Auth.Authenticate"}\0')
        expect_error(c.receive(), INVALID_PARAMETER, "Authenticate without parameters")
        still_usable(c, "after InvalidParameter replies")
    st = itest.status()
    expect(st["pendingApiRequests"] == 0, "an invalid call reached the API: %r" % st)


def case_embedded_nul():
    """\u0000 inside a string: jansson refuses it while parsing (a
    ProtocolError and a close), or the daemon's own check refuses the
    parameter; either way it never reaches the API."""
    signins = itest.mock_stats()["signins"]
    for params in ({"user": USER, "password": "x\u0000y"}, {"user": "ali\u0000ce", "password": "x"}):
        with connect() as c:
            reply = c.call(AUTH + "Authenticate", params)
            expect(reply.get("error") in (PROTOCOL_ERROR, INVALID_PARAMETER),
                   "embedded NUL in %r: got %r" % (params, reply))
    expect(itest.mock_stats()["signins"] == signins, "an embedded NUL reached the API")


def case_get_status():
    with connect() as c:
        p = c.call(AUTH + "GetStatus")["parameters"]
    types = {"version": str, "protocol": int, "state": str, "since": int, "started": int,
             "users": int, "connections": int, "connectionsAccepted": int, "pendingApiRequests": int,
             "lastApiLatencyMs": int, "logins": dict, "configFile": str, "verifiers": dict,
             "cacheWrites": dict}
    for key, t in types.items():
        expect(key in p, "GetStatus lacks %r: %r" % (key, p))
        expect(isinstance(p[key], t) and not isinstance(p[key], bool),
               "GetStatus %r is not %s: %r" % (key, t.__name__, p[key]))
    expect(p["protocol"] == 1, "protocol version %r" % p["protocol"])
    expect(p["state"] in ("unknown", "online", "offline"), "state %r" % p["state"])
    expect(p["connections"] >= 1, "connections counts not even this one: %r" % p)
    for key in ("success", "failure", "unknown", "unavailable"):
        expect(isinstance(p["logins"].get(key), int), "logins.%s missing: %r" % (key, p["logins"]))
    expect(p["configFile"] == os.environ.get("NEOSTRA_CONFIG", p["configFile"]),
           "configFile %r" % p["configFile"])
    # After one login the counters move.
    before = p["logins"]["success"]
    expect("error" not in itest.authenticate(USER, PASSWORD), "login failed")
    after = itest.status()
    expect(after["logins"]["success"] == before + 1, "logins.success did not count: %r" % after)
    expect(after["state"] == "online" and after["lastApiLatencyMs"] >= 0, "API state: %r" % after)


def case_get_info():
    with connect() as c:
        reply = c.call("org.varlink.service.GetInfo")
        expect("error" not in reply, "GetInfo failed: %r" % reply)
        p = reply["parameters"]
        for key in ("vendor", "product", "version", "url"):
            expect(isinstance(p.get(key), str), "GetInfo lacks %r: %r" % (key, p))
        expect(isinstance(p.get("interfaces"), list) and "io.neostra.Auth" in p["interfaces"],
               "GetInfo interfaces: %r" % p.get("interfaces"))
        expect(p["version"] == itest.status()["version"], "GetInfo and GetStatus versions differ")
        still_usable(c, "after GetInfo")


def case_idle_timeout():
    """A connection that says nothing is closed after IDLE_TIMEOUT_USEC,
    and a connection sending a partial message is not kept alive by it."""
    results = {}

    def watch(name, c):
        started = time.monotonic()
        closed = c.wait_closed(IDLE_TIMEOUT + 5)
        results[name] = (closed, time.monotonic() - started)

    silent = connect()
    partial = connect()
    partial.send_raw(b'{"method":"io.neostra.Auth.GetS')
    threads = [threading.Thread(target=watch, args=("silent", silent)),
               threading.Thread(target=watch, args=("partial", partial))]
    # Byte by byte, once a second: a slow-loris must not extend the deadline.
    for t in threads:
        t.start()
    for ch in b'tatus"':
        time.sleep(1.0)
        if "partial" in results:
            break
        try:
            partial.send_raw(bytes([ch]))
        except varlink.Closed:
            break
    for t in threads:
        t.join()
    silent.close()
    partial.close()
    for name, (closed, took) in results.items():
        expect(closed, "%s connection not closed within %.0f s" % (name, IDLE_TIMEOUT + 5))
        expect(IDLE_TIMEOUT - 1.0 <= took <= IDLE_TIMEOUT + 2.0,
               "%s connection closed after %.1f s, deadline is %.0f s" % (name, took, IDLE_TIMEOUT))
    itest.wait_log("ran past its deadline", count=2)


def case_connection_cap():
    """CONNECTIONS_MAX + 10 connections: the extra ones are closed at once,
    the earlier ones keep working."""
    base = itest.status()["connections"] - 1  # others open besides the probe
    expect(base == 0, "connections already open before the test: %d" % base)
    conns = []
    try:
        for i in range(CONNECTIONS_MAX + 10):
            conns.append(connect())
            # Accept order is connect order only if the daemon keeps up;
            # wait for it to have taken the connection before the next.
            if i == CONNECTIONS_MAX - 1:
                itest.poll(lambda: any_status_on(conns[0])["connections"] == CONNECTIONS_MAX,
                           5.0, what="%d connections accepted" % CONNECTIONS_MAX)
        extra = conns[CONNECTIONS_MAX:]
        started = time.monotonic()
        for i, c in enumerate(extra):
            expect(c.wait_closed(2.0), "extra connection %d not closed" % i)
        expect(time.monotonic() - started < 2.0,
               "extra connections took %.1f s to close" % (time.monotonic() - started))
        # Every earlier connection still answers.
        for i, c in enumerate(conns[:CONNECTIONS_MAX]):
            reply = c.call(AUTH + "GetStatus")
            expect("error" not in reply, "connection %d: %r" % (i, reply))
            expect(reply["parameters"]["connections"] == CONNECTIONS_MAX,
                   "connection %d: daemon counts %d connections"
                   % (i, reply["parameters"]["connections"]))
        # A login still works on one of them while at the cap.
        conns[CONNECTIONS_MAX - 1].send(AUTH + "Authenticate", {"user": USER, "password": PASSWORD})
        reply = conns[CONNECTIONS_MAX - 1].receive(10.0)
        expect("error" not in reply, "login at the cap failed: %r" % reply)
    finally:
        for c in conns:
            c.close()
    # Closing them frees the slots.
    itest.poll(lambda: itest.status()["connections"] == 1, 5.0, what="connections back to 1")
    # Counted each; logged once per period, so a flood cannot flood the log.
    refused = itest.status()["connectionsRefused"]
    expect(refused >= 10, "%d connections counted as refused" % refused)
    itest.wait_log("refusing a connection", count=1)


def any_status_on(c):
    return c.call(AUTH + "GetStatus")["parameters"]


def case_client_gone_while_pending():
    """A client that disconnects while its sign-in waits on the API neither
    crashes nor stalls the daemon."""
    itest.fresh_mock()
    itest.mock_config(delay_ms=1500)
    try:
        for how in ("close", "shutdown-rdwr", "reset"):
            c = connect()
            c.send(AUTH + "Authenticate", {"user": USER, "password": PASSWORD})
            itest.poll(lambda: itest.status()["pendingApiRequests"] == 1, 3.0,
                       what="the sign-in to be pending (%s)" % how)
            if how == "shutdown-rdwr":
                c.sock.shutdown(socket.SHUT_RDWR)
            elif how == "reset":
                # SO_LINGER 0 is how a killed client looks on TCP; on a Unix
                # socket it is a plain close.
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            c.close()
            # The request is cancelled at once, not after the mock's delay.
            itest.poll(lambda: itest.status()["pendingApiRequests"] == 0, 1.0,
                       what="pendingApiRequests back to 0 after %s" % how)
    finally:
        itest.mock_config(delay_ms=None)
    started = time.monotonic()
    reply = itest.authenticate(USER, PASSWORD)
    expect("error" not in reply, "next login failed: %r" % reply)
    expect(time.monotonic() - started < 2.0, "next login took %.1f s" % (time.monotonic() - started))
    st = itest.status()
    expect(st["pendingApiRequests"] == 0 and st["connections"] == 1, "daemon state: %r" % st)


def case_half_closed_client_gets_answer():
    """A client that shuts down only its sending side still gets its answer."""
    itest.fresh_mock()
    itest.mock_config(delay_ms=300)
    try:
        with connect() as c:
            c.send(AUTH + "Authenticate", {"user": USER, "password": PASSWORD})
            c.sock.shutdown(socket.SHUT_WR)
            reply = c.receive(5.0)
            expect("error" not in reply, "half-closed client got %r" % reply)
    finally:
        itest.mock_config(delay_ms=None)


def case_concurrent_logins():
    """A slow sign-in does not hold up the others (one loop, nothing blocks)."""
    itest.fresh_mock()
    slow = connect(10.0)
    slow.send(AUTH + "Authenticate", {"user": "slow", "password": "slow-pw"})
    itest.poll(lambda: itest.status()["pendingApiRequests"] == 1, 3.0, what="slow sign-in pending")
    started = time.monotonic()
    for _ in range(5):
        expect("error" not in itest.authenticate(USER, PASSWORD), "fast login failed")
    fast = time.monotonic() - started
    reply = slow.receive(10.0)
    slow.close()
    expect("error" not in reply, "slow login failed: %r" % reply)
    expect(fast < 1.0, "5 logins took %.1f s next to a slow one" % fast)


# Calls made by another uid: a child process that drops to that uid before
# it connects (SO_PEERCRED is taken at connect()).  The child gets its
# code on the command line, so it needs to read nothing of ours.
PEER_CHILD = r"""
import json, socket, sys
sock, calls = sys.argv[1], json.loads(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sock)
out, buf = [], b""
for method, params in calls:
    s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
    while b"\0" not in buf:
        data = s.recv(65536)
        if not data:
            raise SystemExit("closed")
        buf += data
    msg, buf = buf.split(b"\0", 1)
    out.append(json.loads(msg))
print(json.dumps(out))
"""


def calls_as(uid, calls):
    r = subprocess.run([sys.executable, "-c", PEER_CHILD, itest.sock(), json.dumps(calls)],
                       user=uid, group=uid, extra_groups=[], capture_output=True, text=True,
                       timeout=30, cwd="/")
    expect(r.returncode == 0, "client as uid %d failed: %s" % (uid, r.stderr.strip()[-500:]))
    return json.loads(r.stdout)


def case_peer_policy():
    """SO_PEERCRED: a non-root peer may ask only about itself, admin methods
    are root-only, and its Authenticate calls are rate-limited."""
    if os.geteuid() != 0:
        raise itest.Skip("needs root to connect as another uid")
    # An ordinary local account, added by daemon-protocol.sh in its own
    # mount namespace ("nobody" is a system account: never ours).
    peer, peer_name = 4242, "neostra-peer"
    denied = AUTH + "PermissionDenied"
    itest.fresh_mock()
    lookups = itest.status()["localLookups"]
    replies = calls_as(peer, [
        [AUTH + "GetStatus", {}],
        ["org.varlink.service.GetInfo", {}],
        [AUTH + "InvalidateCache", {}],
        [AUTH + "Authenticate", {"user": USER, "password": PASSWORD}],
        [AUTH + "CheckAccount", {"user": USER}],
        [AUTH + "GetUser", {"user": USER}],
    ])
    expect("error" not in replies[0] and "error" not in replies[1], "GetStatus/GetInfo: %r" % replies[:2])
    for r, what in zip(replies[2:], ("InvalidateCache", "Authenticate alice", "CheckAccount alice",
                                     "GetUser alice")):
        expect_error(r, denied, "%s as %s" % (what, peer_name))
    expect(itest.mock_stats()["signins"] == 0, "a denied call reached the API")
    # Nothing was looked up about alice for it: only its own uid's name
    # (if not kept from before), and nothing on the event loop.
    after = itest.status()["localLookups"]
    expect(after["offLoop"] - lookups["offLoop"] <= 1 and after["onLoop"] == lookups["onLoop"],
           "NSS lookups for calls about another user: %r, then %r" % (lookups, after))
    # Its own account: a burst of 5, then RateLimited.
    replies = calls_as(peer, [[AUTH + "Authenticate", {"user": peer_name, "password": "guess%d" % i}]
                                for i in range(7)])
    errors = [r.get("error") for r in replies]
    expect(errors[:5] == [AUTH + "AuthenticationFailed"] * 5, "first five: %r" % errors)
    expect(errors[5:] == [AUTH + "RateLimited"] * 2, "after the burst: %r" % errors)
    expect(itest.mock_stats()["signins"] == 5, "rate-limited calls reached the API")
    # Still limited once the burst's NSS answers are stale (2 s): refused
    # before anything is looked up for it.
    time.sleep(2.2)
    lookups = itest.status()["localLookups"]
    replies = calls_as(peer, [[AUTH + "Authenticate", {"user": peer_name, "password": "again"}]])
    expect_error(replies[0], AUTH + "RateLimited", "after the burst, 2 s on")
    after = itest.status()["localLookups"]
    expect(after["offLoop"] - lookups["offLoop"] <= 1 and after["onLoop"] == lookups["onLoop"],
           "NSS lookups for a rate-limited call: %r, then %r" % (lookups, after))
    # Root is not rate-limited.
    for _ in range(7):
        expect("error" not in itest.authenticate(USER, PASSWORD), "root login failed")


def case_own_account_userdb_only():
    """A user who exists only through neostrad (no local account: its uid
    is one neostrad assigned) may check its own password and read its own
    token, as a screen locker and neostractl token do, and nobody else's."""
    if os.geteuid() != 0:
        raise itest.Skip("needs root to connect as another uid")
    itest.fresh_mock()
    expect("error" not in itest.authenticate(USER, PASSWORD), "root signs alice in")
    uid = itest.call("GetUser", {"user": USER})["parameters"]["uid"]
    expect(uid >= 60000, "alice's uid is one neostrad assigned: %d" % uid)
    replies = calls_as(uid, [
        [AUTH + "Authenticate", {"user": USER, "password": PASSWORD}],
        [AUTH + "GetToken", {"user": USER}],
        [AUTH + "Authenticate", {"user": USER, "password": "wrong"}],
        [AUTH + "GetUser", {"user": USER}],
        [AUTH + "GetToken", {"user": "neostra-peer"}],
        [AUTH + "Authenticate", {"user": "neostra-peer", "password": "x"}],
    ])
    expect("error" not in replies[0], "alice's own password as alice's uid: %r" % replies[0])
    expect("error" not in replies[1] and replies[1]["parameters"].get("token"),
           "alice's own token as alice's uid: %r" % {k: v for k, v in replies[1].items() if k != "parameters"})
    expect_error(replies[2], AUTH + "AuthenticationFailed", "alice's wrong password as alice's uid")
    expect("error" not in replies[3], "alice's own record as alice's uid: %r" % replies[3])
    for r, what in zip(replies[4:], ("another user's token", "another user's password")):
        expect_error(r, AUTH + "PermissionDenied", what + " as alice's uid")
    # A uid in the range that is nobody's: denied.
    replies = calls_as(uid + 1, [[AUTH + "GetToken", {"user": USER}]])
    expect_error(replies[0], AUTH + "PermissionDenied", "alice's token as an unassigned uid")


def case_not_our_users():
    """Local system accounts and excluded names never reach the API."""
    itest.fresh_mock()
    for user in ("root", "daemon", "nobody", "excluded"):
        reply = itest.authenticate(user, "some-password")
        expect_error(reply, AUTH + "NotOurUser", "Authenticate " + user)
        expect_error(itest.call("CheckAccount", {"user": user}), AUTH + "NotOurUser",
                     "CheckAccount " + user)
    expect(itest.mock_stats()["signins"] == 0, "a local account reached the API: %r"
           % itest.mock_requests())
    st = itest.status()
    expect(st["logins"]["notOurs"] >= 3, "notOurs not counted: %r" % st["logins"])


if __name__ == "__main__":
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
