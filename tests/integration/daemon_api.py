#!/usr/bin/python3
"""Cases of daemon-api.sh: neostrad against the (mock) sign-in API.

    daemon_api.py users            print the mock's users file
    NEOSTRA_SOCK=... NEOSTRA_MOCK_URL=... NEOSTRA_DAEMON_LOG=... \
    [NEOSTRA_SOCK2=... NEOSTRA_FAKE_URL=...] [NEOSTRA_NEOSTRAD=...] \
        daemon_api.py CASE...

The daemon under NEOSTRA_SOCK talks to tests/mock_api.py with
[api] timeout = 2s; the one under NEOSTRA_SOCK2 talks to itest.py's
fake-api, which can send headers the mock cannot (Location, Retry-After).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
from itest import expect, expect_error  # noqa: E402

AUTH = "io.neostra.Auth."
FAILED = AUTH + "AuthenticationFailed"
UNAVAILABLE = AUTH + "ServiceUnavailable"
UNKNOWN = AUTH + "UserUnknown"
BODY_MAX = 64 * 1024
API_TIMEOUT = 2.0


def success_body(email, size=None):
    """The documented success document, padded to exactly `size` bytes."""
    doc = {"status": 200, "message": "Success",
           "data": {"token": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "refreshToken": "r-1",
                    "expiresIn": 3600,
                    "user": {"id": "u-9", "email": email, "name": "Padded", "roles": ["dev"],
                             "pad": ""}},
           "errors": []}
    text = json.dumps(doc, separators=(",", ":"))
    if size is not None:
        doc["data"]["user"]["pad"] = "x" * (size - len(text))
        text = json.dumps(doc, separators=(",", ":"))
        assert len(text) == size
    return text


def users():
    u = {
        "alice@example.com": {"password": "alice-pw", "roles": ["dev", "admin"], "name": "Alice"},
        "bob@example.com": {"password": "bob-pw", "roles": ["dev"]},
        "inner401@example.com": {"password": "pw", "roles": ["dev"], "inner_status": 401},
        "inner403@example.com": {"password": "pw", "roles": ["dev"], "inner_status": 403},
        "inner500@example.com": {"password": "pw", "roles": ["dev"], "inner_status": 500},
        "innerstr@example.com": {"password": "pw", "roles": ["dev"], "inner_status": "200"},
        "otheremail@example.com": {"password": "pw", "roles": ["dev"],
                                   "answer_email": "mallory@example.com"},
        "nullemail@example.com": {"password": "pw", "roles": ["dev"], "answer_email": None},
        "badroles@example.com": {"password": "pw", "roles": "admin"},
        "badrole@example.com": {"password": "pw", "roles": ["dev", 7]},
        "notoken@example.com": {"password": "pw", "body": json.dumps(
            {"status": 200, "message": "Success",
             "data": {"user": {"email": "notoken@example.com", "roles": []}}})},
        "big@example.com": {"password": "pw", "body": success_body("big@example.com", 100 * 1024)},
        "exact@example.com": {"password": "pw", "body": success_body("exact@example.com", BODY_MAX)},
        "over@example.com": {"password": "pw", "body": success_body("over@example.com", BODY_MAX + 1)},
        "gone@example.com": {"password": "pw", "status": 404},
    }
    return {"users": u}


def login(user, password, path=None, timeout=10.0):
    started = time.monotonic()
    reply = itest.authenticate(user, password, timeout=timeout, path=path)
    return reply, time.monotonic() - started


def expect_login(user, password, error, what=None, path=None):
    reply, took = login(user, password, path)
    expect_error(reply, error, what or "%s/%s" % (user, password))
    return reply, took


def signins():
    return itest.mock_stats()["signins"]


# ---- cases ------------------------------------------------------------------------

def case_request_shape():
    """What the daemon sends: one POST of JSON to the sign-in path."""
    itest.fresh_mock()
    expect_login("alice", "alice-pw", None)
    reqs = itest.mock_requests()
    expect(len(reqs) == 1, "expected one request, the mock saw %r" % reqs)
    r = reqs[0]
    expect(r["method"] == "POST" and r["path"] == "/api/v1/auth/signin", "request %r" % r)
    expect((r["content_type"] or "").startswith("application/json"), "Content-Type %r" % r)
    expect((r["user_agent"] or "").startswith("neostrad/"), "User-Agent %r" % r)
    expect(r["email"] == "alice@example.com" and r["password_ok"] and r["password_len"] == 8,
           "email/password as sent: %r" % r)


def case_keepalive():
    """10 sequential logins reuse one HTTP connection."""
    # Start without a pooled connection: one the mock closes is dropped.
    itest.fresh_mock()
    itest.mock_config(mode="close")
    expect_login("alice", "alice-pw", UNAVAILABLE, "closed connection")
    itest.mock_reset()
    before = itest.mock_stats()["connections"]  # the stats request itself
    for i in range(10):
        expect_login("alice" if i % 2 else "bob", "alice-pw" if i % 2 else "bob-pw", None)
    st = itest.mock_stats()
    # Each control request opens (and counts) a connection of its own;
    # the rest are the daemon's.
    daemon_conns = st["connections"] - before - 1
    expect(st["signins"] == 10, "mock saw %d sign-ins" % st["signins"])
    expect(daemon_conns == 1, "10 logins used %d HTTP connections" % daemon_conns)


def case_redirect_status():
    """A 302 is not followed (mock: normal body, status 302)."""
    itest.fresh_mock()
    itest.mock_config(status=302)
    try:
        expect_login("alice", "alice-pw", UNAVAILABLE)
        time.sleep(0.2)  # a follow-up request, if any, would be on its way by now
        reqs = itest.mock_requests()
        expect(len(reqs) == 1, "a 302 led to %d requests: %r" % (len(reqs), reqs))
    finally:
        itest.mock_config(status=None)


def case_redirect_location():
    """301/302/303/307/308 with a Location to the mock: never followed, the
    password never reaches the redirect target."""
    fake = itest.env("NEOSTRA_FAKE_URL")
    sock2 = itest.env("NEOSTRA_SOCK2")
    itest.fresh_mock()
    target = itest.mock_url() + "/api/v1/auth/signin"
    for code in (301, 302, 303, 307, 308):
        itest.fake_config(fake, code, ["Location: " + target], success_body("alice@example.com"))
        expect_login("alice", "alice-pw", UNAVAILABLE, "redirect %d" % code, path=sock2)
        expect(itest.fake_count(fake) == 1, "redirect %d: fake API saw %d requests"
               % (code, itest.fake_count(fake)))
    time.sleep(0.2)
    expect(signins() == 0, "a redirect reached the mock: %r" % itest.mock_requests())


def case_retry_after():
    """429 (with or without Retry-After), 408 and 503 mean unavailable.
    (A 429 holds back its user: each kind goes to a user of its own.)"""
    fake = itest.env("NEOSTRA_FAKE_URL")
    sock2 = itest.env("NEOSTRA_SOCK2")
    body = json.dumps({"error": "Too Many Requests", "message": "slow down", "code": 429})
    for i, headers in enumerate((["Retry-After: 30"], ["Retry-After: Wed, 21 Oct 2065 07:28:00 GMT"],
                                 ["Retry-After: 99999999999999999999999"], [])):
        itest.fake_config(fake, 429, headers, body)
        expect_login("busy%d" % i, "pw", UNAVAILABLE, "429 %r" % headers, path=sock2)
    for code in (408, 503):
        itest.fake_config(fake, code, ["Retry-After: 5"], body)
        expect_login("alice", "alice-pw", UNAVAILABLE, "%d" % code, path=sock2)
    # And through the mock's control endpoint (for a user no other case
    # signs in: its 429 holds it back a few seconds).
    itest.fresh_mock()
    itest.mock_config(status=429)
    try:
        expect_login("toomany", "pw", UNAVAILABLE, "mock 429")
    finally:
        itest.mock_config(status=None)


def case_status_codes():
    itest.fresh_mock()
    cases = [(500, UNAVAILABLE), (502, UNAVAILABLE), (503, UNAVAILABLE), (404, UNKNOWN),
             (401, FAILED), (403, FAILED), (201, UNAVAILABLE), (204, UNAVAILABLE)]
    try:
        for code, error in cases:
            itest.mock_config(status=code)
            expect_login("alice", "alice-pw", error, "status %d" % code)
    finally:
        itest.mock_config(status=None)
    expect_login("alice", "wrong-pw", FAILED, "wrong password")
    expect_login("nosuchuser", "pw", FAILED, "unknown email (the API says 401)")
    expect_login("gone", "pw", UNKNOWN, "user answered 404")
    expect_login("alice", "alice-pw", None, "right password after all that")


def case_body_cap():
    itest.fresh_mock()
    _, took = expect_login("big", "pw", UNAVAILABLE, "100 KiB answer")
    expect_login("over", "pw", UNAVAILABLE, "64 KiB + 1 answer")
    expect_login("exact", "pw", None, "exactly 64 KiB answer")
    # (The control endpoint takes at most 64 KiB itself, so the big bodies
    # are per-user overrides in the users file.)
    expect_login("alice", "alice-pw", None, "normal answer afterwards")


def case_mode_close():
    itest.fresh_mock()
    itest.mock_config(mode="close")
    try:
        reply, took = expect_login("alice", "alice-pw", UNAVAILABLE, "connection closed")
        expect(took < 1.5, "close took %.1f s" % took)
    finally:
        itest.mock_config(mode=None)
    expect_login("alice", "alice-pw", None, "after close")


def case_mode_hang():
    itest.fresh_mock()
    itest.mock_config(mode="hang")
    try:
        reply, took = expect_login("alice", "alice-pw", UNAVAILABLE, "API hangs")
        expect(API_TIMEOUT - 0.2 <= took <= API_TIMEOUT + 1.5,
               "hang answered after %.2f s, [api] timeout is %.0f s" % (took, API_TIMEOUT))
        expect("time" in reply["parameters"].get("reason", ""), "reason %r" % reply["parameters"])
    finally:
        itest.mock_config(mode=None)
    itest.wait_idle()
    expect_login("alice", "alice-pw", None, "after hang")


def case_slow_but_in_time():
    itest.fresh_mock()
    itest.mock_config(delay_ms=1200)
    try:
        _, took = expect_login("alice", "alice-pw", None, "1.2 s answer within a 2 s timeout")
        expect(took >= 1.1, "answered in %.2f s, before the mock's delay" % took)
    finally:
        itest.mock_config(delay_ms=None)


def case_inner_status():
    itest.fresh_mock()
    expect_login("inner401", "pw", FAILED, "200 with 401 inside")
    expect_login("inner403", "pw", FAILED, "200 with 403 inside")
    expect_login("inner500", "pw", UNAVAILABLE, "200 with 500 inside")
    expect_login("innerstr", "pw", UNAVAILABLE, 'status "200" as a string')


def case_ill_typed_answers():
    itest.fresh_mock()
    for user in ("otheremail", "nullemail", "badroles", "badrole", "notoken"):
        expect_login(user, "pw", UNAVAILABLE, user)
    for body in ("", "not json", "[]", '{"status":200}', '{"status":200,"data":{}}'):
        itest.mock_config(body=body)
        try:
            expect_login("alice", "alice-pw", UNAVAILABLE, "body %r" % body)
        finally:
            itest.mock_config(body=None)
    # Nothing of that was remembered as a user.
    for user in ("otheremail", "badroles", "notoken"):
        expect_error(itest.call("GetUser", {"user": user}), UNKNOWN, "GetUser " + user)


def case_roles_recorded():
    itest.fresh_mock()
    expect_login("alice", "alice-pw", None)
    reply = itest.call("GetUser", {"user": "alice"})
    expect("error" not in reply, "GetUser: %r" % reply)
    p = reply["parameters"]
    expect(p["roles"] == ["dev", "admin"], "roles %r" % p["roles"])
    expect(p["email"] == "alice@example.com" and p["user"] == "alice", "names %r" % p)
    expect(p["hasToken"] is True, "hasToken %r" % p.get("hasToken"))
    expect(p["tokenExpires"] > time.time() + 3000, "tokenExpires %r" % p.get("tokenExpires"))
    expect(abs(p["lastOnlineSuccess"] - time.time()) < 60, "lastOnlineSuccess %r" % p)
    text = json.dumps(reply)
    for key in ("token", "refreshToken"):
        expect(key not in p, "GetUser shows %r" % key)
    # Every JWT starts with base64url('{"') = "eyJ"; no value may hold one.
    expect("eyJ" not in text, "GetUser shows a token: %s" % text)
    reply = itest.call("CheckAccount", {"user": "alice"})
    expect(reply["parameters"]["roles"] == ["dev", "admin"] and reply["parameters"]["allowed"],
           "CheckAccount %r" % reply)
    expect("eyJ" not in json.dumps(reply) + json.dumps(itest.status()),
           "a token shows in CheckAccount or GetStatus")
    # Roles follow the API: the last success wins.
    expect_login("exact", "pw", None)
    expect(itest.call("GetUser", {"user": "exact"})["parameters"]["roles"] == ["dev"], "exact roles")


def case_refusal_drops_token():
    """A refusal online (401) of the password the daemon holds for the user
    (it changed upstream) drops the token held for the user; a wrong
    password's 401 does not."""
    itest.fresh_mock()
    expect_login("bob", "bob-pw", None)
    expect(itest.call("GetUser", {"user": "bob"})["parameters"]["hasToken"] is True, "no token")
    expect_login("bob", "wrong", FAILED)
    expect(itest.call("GetUser", {"user": "bob"})["parameters"]["hasToken"] is True,
           "a wrong password's 401 dropped the token")
    itest.mock_config(status=401)
    try:
        expect_login("bob", "bob-pw", FAILED)
    finally:
        itest.mock_config(status=None)
    p = itest.call("GetUser", {"user": "bob"})["parameters"]
    expect(p["hasToken"] is False and p["tokenExpires"] == 0, "token kept after a 401: %r" % p)
    expect_login("bob", "bob-pw", None)
    expect(itest.call("GetUser", {"user": "bob"})["parameters"]["hasToken"] is True, "no new token")
    # An unavailable API does not count as a refusal.
    itest.mock_config(status=503)
    try:
        expect_login("bob", "bob-pw", UNAVAILABLE)
    finally:
        itest.mock_config(status=None)
    expect(itest.call("GetUser", {"user": "bob"})["parameters"]["hasToken"] is True,
           "token dropped by a 503")


def case_unreachable():
    """Nothing listening on the API port: unavailable at once; after a few
    such failures the daemon calls the API offline (online.c)."""
    sock2 = itest.env("NEOSTRA_SOCK2")
    for i in range(3):
        reply, took = expect_login("alice", "alice-pw", UNAVAILABLE, "closed port %d" % i, path=sock2)
        expect(took < 1.5, "connection refused took %.1f s" % took)
    st = itest.status(sock2)
    expect(st["state"] == "offline", "state %r" % st["state"])
    expect(st["nextProbe"] > 0, "no probe scheduled: %r" % st)


def case_test_config_urls():
    neostrad = itest.env("NEOSTRA_NEOSTRAD")
    refused = ["http://192.0.2.1:8080", "http://api.neostra.example", "http://127.1",
               "http://0x7f000001", "http://2130706433", "http://[::ffff:192.0.2.1]",
               "http://127.0.0.1.nip.io", "http://user@127.0.0.1", "ftp://127.0.0.1",
               "http://127.0.0.1/?x=1", "http://127.0.0.1:0", "http://127.0.0.1:99999"]
    accepted = ["http://127.0.0.1:1", "http://127.8.9.10", "http://localhost:8080",
                "http://[::1]:8080", "https://api.neostra.example", "https://192.0.2.1:8443/"]
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "neostrad.conf")
        for url in refused + accepted:
            with open(conf, "w") as f:
                f.write("[api]\nurl = %s\n[users]\nemail_template = %%u@example.com\n"
                        "[daemon]\nuser = root\nsocket = %s/a.sock\n" % (url, d))
            r = subprocess.run([neostrad, "--test-config", "-c", conf], capture_output=True,
                               text=True, timeout=10)
            if url in refused:
                expect(r.returncode != 0, "--test-config accepted %s" % url)
                expect("%s:2:" % conf in r.stderr, "%s: message lacks file:line: %r" % (url, r.stderr))
            else:
                expect(r.returncode == 0, "--test-config refused %s: %s" % (url, r.stderr.strip()))


if __name__ == "__main__":
    if sys.argv[1:] == ["users"]:
        print(json.dumps(users(), indent=1))
        sys.exit(0)
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
