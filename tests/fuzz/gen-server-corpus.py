#!/usr/bin/env python3
"""Write the seeds of tests/fuzz/fuzz_server.c into tests/fuzz/corpus/server/.

Each seed is a program for the target (its opcodes are described at the
top of fuzz_server.c); the names say what it does.  Run it again after
changing the opcodes, and commit the files it writes.
"""
import json
import os
import struct

OPEN_AUTH, OPEN_USERDB, WRITE, CALL, SHUT_WR, SHUT_RD, CLOSE, RUN, READ, STOP, FILL = range(11)
ROOT, ALICE, BOB, NONAME, NSSERR = range(5)
# fuzz_server.c calls[], by index.
C_ALICE_OK, C_ALICE_WRONG, C_EXCLUDED, C_EMPTY_PW, C_SLOW, C_DOWN, C_ODD, C_STATUS, \
    C_CHECK, C_GETUSER, C_TOKEN, C_INVALIDATE, C_CLEAR_BOB, C_GETINFO, C_STATUS_ONEWAY, \
    C_UDB_ALICE, C_UDB_USERS, C_UDB_GROUPS, C_UDB_MEMBERSHIPS, C_UDB_NEWBIE, C_UDB_DEVELOPERS, \
    C_UDB_UID, C_GHOST, C_BUSY, C_CAROL, C_BOB_OK, C_CHECK_LOCAL, C_UDB_MEMBER, \
    C_LIST, C_LIST_AFTER, C_PROBE = range(31)


def call(method, params=None, **flags):
    msg = {"method": method}
    if params is not None:
        msg["parameters"] = params
    msg.update(flags)
    return json.dumps(msg, separators=(",", ":")).encode() + b"\0"


def auth(method, params=None, **flags):
    return call("io.neostra.Auth." + method, params, **flags)


def userdb(method, params, **flags):
    params = dict(params, service="io.neostra")
    return call("io.systemd.UserDatabase." + method, params, **flags)


def op_open(peer=ROOT, sock=OPEN_AUTH):
    return bytes([sock, peer])


def op_write(k, data):
    assert len(data) < 65536
    return bytes([WRITE, k]) + struct.pack("<H", len(data)) + data


def op_call(k, t):
    return bytes([CALL, k, t])


def op_fill(k, n, byte):
    return bytes([FILL, k]) + struct.pack("<H", n) + bytes([byte])


def op(code, arg):
    return bytes([code, arg])


def stop(exit_now=False):
    return bytes([STOP, ord("S"), 1 if exit_now else 0])


def run(n=255):
    return op(RUN, n)


def settle(k=0):
    """Run the loop long enough for the calls so far, then read."""
    return run() + run() + op(READ, k)


EXCLUDED = auth("Authenticate", {"user": "excluded", "password": "x"})
EMPTY_PW = auth("Authenticate", {"user": "bob", "password": ""})
STATUS = auth("GetStatus", {})

seeds = {
    # The pipelined call behind an immediate answer: the second message
    # waits in the buffer while the first is answered at once.
    "excluded-then-garbage": op_open() + op_write(0, EXCLUDED + b"garbage\0") + settle(),
    "excluded-then-bad-frame": op_open() + op_write(0, EXCLUDED + b"[1]\0") + settle(),
    "excluded-then-call-then-garbage": op_open() + op_write(0, EXCLUDED + STATUS + b"garbage\0") + settle(),
    "empty-password-then-garbage": op_open() + op_write(0, EMPTY_PW + b"garbage\0") + settle(),
    # An excluded name is never published, not even provisionally: the
    # answer comes at once.  A name never seen gets a provisional record
    # once its NSS lookups are in (first_login).
    "userdb-unknown-then-garbage":
        op_open(sock=OPEN_USERDB) + op_write(0, userdb("GetUserRecord", {"userName": "excluded"}) + b"garbage\0")
        + settle(),
    "userdb-provisional-then-garbage":
        op_open(sock=OPEN_USERDB) + op_write(0, userdb("GetUserRecord", {"userName": "nosuchuser"}) + b"garbage\0")
        + settle(),
    "userdb-enumeration-closed-mid-stream":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_BOB_OK) + settle()
        + op_open(sock=OPEN_USERDB) + op_write(1, userdb("GetUserRecord", {}, more=True))
        + run(3) + op(READ, 1) + run(2) + op(CLOSE, 1) + run(),
    "userdb-group-enumeration-closed-mid-stream":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_CAROL) + settle()
        + op_open(sock=OPEN_USERDB) + op_call(1, C_UDB_GROUPS) + run(4) + op(READ, 1) + op(CLOSE, 1) + run(),
    "half-close-after-call": op_open() + op_write(0, STATUS) + op(SHUT_WR, 0) + settle(),
    "half-close-after-login": op_open() + op_call(0, C_ALICE_OK) + op(SHUT_WR, 0) + settle(),
    "status-pipelined-20": op_open() + op_write(0, STATUS * 20) + settle() + settle(),
    "status-pipelined-20-unread": op_open() + op_write(0, STATUS * 20) + run(40) + op(CLOSE, 0) + run(),
    "split-byte-by-byte":
        op_open() + b"".join(op_write(0, bytes([b])) + run(1) for b in EXCLUDED) + settle(),
    "slow-login-hang-up": op_open() + op_call(0, C_SLOW) + run(20) + op(CLOSE, 0) + run(),
    "slow-login-half-close": op_open() + op_call(0, C_SLOW) + op(SHUT_WR, 0) + run(20) + op(READ, 0),
    "login-shut-rd": op_open() + op_call(0, C_ALICE_OK) + op(SHUT_RD, 0) + settle(),
    "logins-every-outcome":
        op_open() + b"".join(op_call(0, t) for t in (C_ALICE_OK, C_ALICE_WRONG, C_GHOST, C_DOWN, C_ODD,
                                                      C_CAROL, C_BOB_OK, C_BUSY, C_ALICE_OK))
        + settle() + settle() + settle(),
    "offline-after-down":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_DOWN) + op_call(0, C_DOWN) + op_call(0, C_DOWN)
        + op_call(0, C_ALICE_OK) + op_call(0, C_STATUS) + settle() + settle() + settle(),
    "token-refresh":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_TOKEN) + op_call(0, C_GETUSER) + op_call(0, C_CHECK)
        + settle() + settle(),
    "admin-calls":
        op_open() + op_call(0, C_BOB_OK) + op_call(0, C_INVALIDATE) + op_call(0, C_CLEAR_BOB)
        + op_call(0, C_GETINFO) + op_call(0, C_STATUS_ONEWAY) + op_call(0, C_STATUS) + settle() + settle(),
    "peer-alice":
        op_open(ALICE) + op_call(0, C_ALICE_OK) + op_call(0, C_GETUSER) + op_call(0, C_CHECK)
        + op_call(0, C_EXCLUDED) + op_call(0, C_INVALIDATE) + settle() + settle(),
    "peer-others":
        op_open(BOB) + op_open(NONAME) + op_open(NSSERR) + op_call(0, C_ALICE_OK) + op_call(1, C_ALICE_OK)
        + op_call(2, C_ALICE_OK) + settle(0) + op(READ, 1) + op(READ, 2),
    "peer-rate-limited": op_open(ALICE) + op_write(0, auth("Authenticate", {"user": "alice", "password": "no"}) * 8)
        + settle() + settle(),
    "peer-budget": op_open(BOB) * 34 + run() + run() + op_call(33, C_STATUS) + settle(33),
    "userdb-lookups":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_BOB_OK) + settle()
        + op_open(NONAME, OPEN_USERDB)
        + b"".join(op_call(1, t) for t in (C_UDB_ALICE, C_UDB_NEWBIE, C_UDB_DEVELOPERS, C_UDB_UID,
                                            C_UDB_MEMBERSHIPS, C_UDB_MEMBER, C_UDB_USERS))
        + settle(1) + settle(1) + settle(1),
    "userdb-errors":
        op_open(sock=OPEN_USERDB)
        + op_write(0, call("io.systemd.UserDatabase.GetUserRecord", {"service": "other"})
                   + userdb("GetUserRecord", {})
                   + userdb("GetUserRecord", {"uid": 200001, "userName": "alice"})
                   + userdb("GetGroupRecord", {"gid": -1})
                   + auth("GetStatus", {}))
        + settle() + settle(),
    "protocol-errors":
        op_open() + op_write(0, b'{"method":"io.neostra.Auth.Nope"}\0{"method":7}\0') + settle()
        + op_open() + op_write(1, b'{"method":"io.neostra.Auth.Authenticate","parameters":{"user":"-x","password":"p"}}\0')
        + settle(1) + op_open() + op_write(2, b"{" * 1000) + settle(2),
    "oneway-login": op_open() + op_write(0, auth("Authenticate", {"user": "alice", "password": "secret"}, oneway=True)
                                         + STATUS) + settle(),
    # A login answered before login_start() returned (the API offline, or
    # its request not even started) was never freed: it stayed on the
    # manager's list with its password until exit.
    "login-answered-at-once-offline": op_open() + op_call(0, C_BUSY) + op_call(0, C_GHOST) + settle(),
    "login-answered-at-once-no-request":
        op_open() + op_write(0, auth("Authenticate", {"user": "nostart", "password": "x"})) + settle(),
    # Wrong types and sizes for every kind of parameter.
    "parameter-types":
        op_open() + op_write(0, auth("Authenticate", {"user": 5, "password": "x"})
                             + auth("Authenticate", {"user": "alice", "password": True})
                             + auth("Authenticate", {"user": "alice", "password": "x", "service": 7})
                             + auth("Authenticate", {"user": "alice", "password": "x", "tty": "a\u0001b"})
                             + auth("Authenticate", {"user": "alice", "password": "p" * 1025})
                             + auth("GetUser", {"user": None}) + auth("InvalidateCache", {"user": []}))
        + settle() + settle()
        + op_open(sock=OPEN_USERDB)
        + op_write(1, userdb("GetUserRecord", {"uid": "0"}) + userdb("GetUserRecord", {"uid": 4294967295})
                   + userdb("GetGroupRecord", {"groupName": 1}) + userdb("GetMemberships", {"userName": False})
                   + call("io.systemd.UserDatabase.GetUserRecord", {"service": 3}))
        + settle(1) + settle(1),
    # An enumeration asked for with "oneway": nothing to send, every record
    # built all the same.
    "userdb-enumeration-oneway":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_BOB_OK) + settle()
        + op_open(sock=OPEN_USERDB) + op_write(1, userdb("GetUserRecord", {}, more=True, oneway=True)
                                               + userdb("GetGroupRecord", {}, more=True, oneway=True)
                                               + userdb("GetUserRecord", {"userName": "alice"}))
        + settle(1) + settle(1),
    # A message that never ends within the bound (64 KiB without a NUL).
    "oversized-message":
        op_open() + op_write(0, b'{"method":"io.neostra.Auth.GetStatus","parameters":{"x":"')
        + op_fill(0, 65000, ord("a")) + run() + op_fill(0, 1000, ord("a")) + settle(),
    # The same on the userdb socket, then a long but valid one.
    "long-messages":
        op_open(sock=OPEN_USERDB) + op_fill(0, 65535, ord(" ")) + op_fill(0, 2000, ord(" ")) + settle()
        + op_open() + op_write(1, b'{"method":"io.neostra.Auth.GetStatus","parameters":{"x":"')
        + op_fill(1, 60000, ord("b")) + op_write(1, b'"}}\0') + settle(1),
    "more-on-auth": op_open() + op_write(0, auth("GetStatus", {}, more=True)) + settle(),
    # ListUsers a page after another, and from another uid; Probe answered
    # later, the client gone before it, and a second one joining the first.
    "list-users":
        op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_BOB_OK) + op_call(0, C_CAROL) + settle()
        + op_call(0, C_LIST) + op_call(0, C_LIST_AFTER)
        + op_write(0, auth("ListUsers", {"after": "zzz"}) + auth("ListUsers", {"after": 5})) + settle() + settle()
        + op_open(ALICE) + op_call(1, C_LIST) + settle(1),
    "probe": op_open() + op_call(0, C_PROBE) + op_open() + op_call(1, C_PROBE) + settle() + settle(1)
        + op_open(ALICE) + op_call(2, C_PROBE) + settle(2),
    "probe-hang-up": op_open() + op_call(0, C_PROBE) + run(1) + op(CLOSE, 0) + run() + op_open() + op_call(1, C_STATUS)
        + settle(1),
    "probe-offline": op_open() + op_call(0, C_DOWN) + op_call(0, C_DOWN) + op_call(0, C_DOWN) + settle()
        + op_call(0, C_PROBE) + op_call(0, C_STATUS) + settle() + settle(),
}

# A client that hangs up after each number of loop turns: at accept, with
# the call read, parked on NSS, waiting for the API, answered.
for n in range(1, 9):
    seeds["hang-up-after-%d-turns-login" % n] = op_open() + op_call(0, C_ALICE_OK) + run(0) * n + op(CLOSE, 0) + run()
    seeds["hang-up-after-%d-turns-peer" % n] = op_open(ALICE) + op_call(0, C_ALICE_OK) + run(0) * n + op(CLOSE, 0) + run()
    seeds["hang-up-after-%d-turns-userdb" % n] = (op_open(sock=OPEN_USERDB) + op_call(0, C_UDB_NEWBIE) + run(0) * n
                                                  + op(CLOSE, 0) + run())
    seeds["hang-up-after-%d-turns-token" % n] = (op_open() + op_call(0, C_ALICE_OK) + settle() + op_call(0, C_TOKEN)
                                                 + run(0) * n + op(CLOSE, 0) + run())

# The daemon stops (SIGTERM) with calls under way: it answers them, then
# exits; or it exits at once, as when its drain times out.
seeds.update({
    "stop-idle": op_open() + op_open(sock=OPEN_USERDB) + run() + stop() + run() + op_open() + run(),
    "stop-with-login-under-way": op_open() + op_call(0, C_ALICE_OK) + run(2) + stop() + settle(),
    "stop-with-slow-login": op_open() + op_call(0, C_SLOW) + op_open() + run() + stop() + run() + op(READ, 0),
    "stop-with-pipelined-calls": op_open() + op_write(0, STATUS * 5) + run(1) + stop() + settle(),
    "stop-with-stream": op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_BOB_OK) + settle()
        + op_open(sock=OPEN_USERDB) + op_call(1, C_UDB_USERS) + run(4) + stop() + run(3) + op(READ, 1),
    "exit-with-slow-login": op_open() + op_call(0, C_SLOW) + run() + stop(True),
    "exit-with-parked-calls": op_open(ALICE) + op_call(0, C_ALICE_OK) + op_open(sock=OPEN_USERDB)
        + op_call(1, C_UDB_NEWBIE) + run(3) + stop(True),
    "exit-with-token-refresh": op_open() + op_call(0, C_ALICE_OK) + settle() + op_call(0, C_TOKEN) + run(3)
        + stop(True),
    "exit-with-verifier-queued": op_open() + op_call(0, C_ALICE_OK) + op_call(0, C_ALICE_WRONG)
        + op_call(0, C_ALICE_OK) + op_call(0, C_BOB_OK) + settle() + stop(True),
})

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "server")
os.makedirs(here, exist_ok=True)
for name, program in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(program)
print("%d seeds in %s" % (len(seeds), here))
