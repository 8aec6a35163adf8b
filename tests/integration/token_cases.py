#!/usr/bin/python3
"""Cases for token.sh: GetToken and the token refresh ([api] refresh_path),
in the foreground (GetToken) and in the background (revalidate.c): a
refresh that carries the user is an online proof, a refused one ends the
user's access.

With refresh_path set the daemon also refreshes tokens by itself, so a case
counts the refreshes of its own user (the mock records each refresh's
email), never the mock's total."""
import os
import sys
import time

import itest
from itest import AUTH, expect, expect_error

TOKEN = AUTH + "GetToken"


def login(user, password):
    reply = itest.authenticate(user, password)
    expect("error" not in reply, "login of %s failed: %r" % (user, reply))


def get_token(user):
    return itest.call("GetToken", {"user": user})


def refreshes(user):
    """How many refreshes of user's tokens the mock has seen since its last
    reset (None: of refresh tokens it did not know, which name nobody)."""
    email = user + "@example.com" if user else None
    return sum(1 for r in itest.mock_requests()
               if r["path"] == "/api/v1/auth/refresh" and r["email"] == email)


def get_user(user, path=None):
    return itest.call("GetUser", {"user": user}, path=path)["parameters"]


def check_account(user, path=None):
    return itest.call("CheckAccount", {"user": user}, path=path)["parameters"]


def case_fresh_token_not_refreshed():
    """A token with an hour to go is handed out as it is."""
    itest.fresh_mock()
    login("long", "long-pw")
    first = get_token("long")["parameters"]
    again = get_token("long")["parameters"]
    expect(first["token"] == again["token"], "token changed without need")
    expect(first["expires"] > time.time() + 3000, "expiry %r" % first["expires"])
    expect(refreshes("long") == 0, "a refresh was made")


def case_near_expiry_refreshed():
    """A token expiring within a minute is refreshed first, and the new one
    (and its expiry) is kept."""
    itest.fresh_mock()
    login("short", "short-pw")
    old = itest.call("GetUser", {"user": "short"})["parameters"]
    expect(old["hasToken"], "no token after login")
    reply = get_token("short")["parameters"]
    expect(refreshes("short") == 1, "refreshes: %r" % refreshes("short"))
    second = get_token("short")["parameters"]
    # The mock's tokens carry no nonce, so compare through a second
    # refresh: each GetToken of a 30 s token refreshes again with the
    # rotated refresh token, which only works if the new one was kept.
    expect(refreshes("short") == 2, "rotated refresh token not kept: %r" % refreshes("short"))
    expect(reply["expires"] <= time.time() + 31 and second["expires"] <= time.time() + 31,
           "expiry %r / %r" % (reply["expires"], second["expires"]))


def case_refresh_confirms_user():
    """The mock answers a refresh in the sign-in answer's shape: with the
    user, that is an online proof (lastOnlineProof moves, the last online
    success does not)."""
    itest.fresh_mock()
    login("short", "short-pw")
    before = get_user("short")
    expect(before["lastOnlineProof"] == before["lastOnlineSuccess"], "proof %r" % before)
    time.sleep(1.1)             # the times are in seconds
    reply = get_token("short")
    expect("error" not in reply, "GetToken: %r" % reply)
    after = get_user("short")
    expect(refreshes("short") == 1, "refreshes: %r" % refreshes("short"))
    expect(after["lastOnlineProof"] > before["lastOnlineProof"], "proof did not move: %r" % after)
    expect(after["lastOnlineSuccess"] == before["lastOnlineSuccess"], "success moved: %r" % after)
    expect(after["accessUntil"] == after["lastOnlineProof"] + 7 * 86400, "accessUntil %r" % after)
    expect(after["access"] == "valid", "access %r" % after)


def case_refused_refresh_ends_access():
    """A refresh the API refuses (its refresh tokens were forgotten) ends
    the user's access: the tokens are wiped, the account step refuses
    (asking for the password), until the next sign-in."""
    itest.fresh_mock()
    login("short", "short-pw")
    expect(check_account("short")["allowed"], "allowed before")
    itest.mock_reset()          # forgets the refresh tokens it issued
    reply = get_token("short")
    expect_error(reply, AUTH + "UserUnknown", "GetToken after a refused refresh")
    expect("log in again" in reply["parameters"]["reason"], "reason %r" % reply["parameters"])
    expect(refreshes(None) == 1, "refreshes: %r" % refreshes(None))
    user = get_user("short")
    expect(not user["hasToken"] and user["access"] == "revoked", "user %r" % user)
    verdict = check_account("short")
    expect(not verdict["allowed"] and "log in with your password" in verdict["reason"]
           and verdict["groups"] == [], "CheckAccount %r" % verdict)
    # No refresh token any more: the next call does not even try.
    get_token("short")
    expect(refreshes(None) == 1 and refreshes("short") == 0, "tried again without a refresh token")
    login("short", "short-pw")
    expect(check_account("short")["allowed"], "a sign-in brings the access back")


def case_expired_token():
    """An expired token is never handed out: refreshed when possible,
    else an error telling the user to log in again.  (The user's tokens
    live 1 s.)"""
    itest.fresh_mock()
    login("expired", "expired-pw")
    time.sleep(1.2)             # waiting out the token's configured life
    reply = get_token("expired")
    expect("error" not in reply, "refresh of an expired token failed: %r" % reply)
    expect(refreshes("expired") == 1, "refreshes: %r" % refreshes("expired"))
    login("expired", "expired-pw")
    itest.mock_reset()          # the new refresh token is forgotten
    time.sleep(1.2)
    reply = get_token("expired")
    expect_error(reply, AUTH + "UserUnknown", "expired token, refresh refused")
    expect("log in again" in reply["parameters"]["reason"], "reason %r" % reply["parameters"])


def case_api_down_during_refresh():
    """The API down while refreshing: the still-valid token is handed out,
    within the API timeout."""
    itest.fresh_mock()
    login("short", "short-pw")
    itest.mock_config(mode="close")
    try:
        started = time.monotonic()
        reply = get_token("short")
        expect("error" not in reply, "valid token not handed out: %r" % reply)
        expect(time.monotonic() - started < 3, "took %.1f s" % (time.monotonic() - started))
    finally:
        itest.mock_config(mode=None)


def case_token_from_the_cache():
    """The token lives in the SQLite cache, not in the daemon's memory:
    GetToken hands out the same token after a restart, and after the next
    login the new one (and never the old one again)."""
    import os
    d = os.path.join(itest.env("NEOSTRA_TMP"), "restart")
    os.makedirs(d, mode=0o700, exist_ok=True)
    sock = os.path.join(d, "auth.sock")
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), sock)
    itest.fresh_mock()
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"))
    try:
        itest.poll(lambda: itest.status(sock), 10, what="neostrad (restart) up")
        reply = itest.authenticate("long", "long-pw", path=sock)
        expect("error" not in reply, "login: %r" % reply)
        first = itest.call("GetToken", {"user": "long"}, path=sock)["parameters"]
        expect(first["token"].startswith("eyJ"), "not a token: %r" % first)
        expect(daemon.stop() == 0, "exit status at SIGTERM")
        daemon.check_sanitizers()

        daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"))
        itest.poll(lambda: itest.status(sock), 10, what="neostrad (restart) up again")
        after = itest.call("GetToken", {"user": "long"}, path=sock)["parameters"]
        expect(after == first, "GetToken after a restart: %r, before: %r" % (after, first))
        expect(refreshes("long") == 0, "a refresh was made")

        time.sleep(1.1)         # the mock's tokens differ per second (iat) and signature
        reply = itest.authenticate("long", "long-pw", path=sock)
        expect("error" not in reply, "second login: %r" % reply)
        second = itest.call("GetToken", {"user": "long"}, path=sock)["parameters"]
        expect(second["token"] != first["token"], "the old token after a new login")
        expect(second["expires"] >= first["expires"], "expiry went back: %r / %r" % (second, first))
        expect(first["token"] not in daemon.text(), "a token in the daemon log")
    finally:
        daemon.stop_clean()


def case_background_revalidation():
    """With refresh_path set the daemon refreshes each recently seen user's
    token before it expires (these tokens live 4 s): one whose refresh
    carries the user gets a new online proof; one whose refresh the API
    refuses loses its access (account step refused, token wiped).  The
    daemon is restarted after the sign-ins, so its first look at the users
    (at start) finds them."""
    d = os.path.join(itest.env("NEOSTRA_TMP"), "background")
    os.makedirs(d, mode=0o700, exist_ok=True)
    sock = os.path.join(d, "auth.sock")
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), sock, api="refresh_path = /api/v1/auth/refresh")
    log = os.path.join(d, "neostrad.log")
    itest.fresh_mock()
    daemon = itest.Daemon(conf, log)
    try:
        itest.poll(lambda: itest.status(sock), 10, what="neostrad (background) up")
        for user in ("bg", "bgrevoked"):
            reply = itest.authenticate(user, user + "-pw", path=sock)
            expect("error" not in reply, "login of %s: %r" % (user, reply))
        before = get_user("bg", sock)
        expect(check_account("bgrevoked", sock)["allowed"], "bgrevoked allowed before")
        expect(daemon.stop() == 0, "exit status at SIGTERM")
        daemon.check_sanitizers()
        time.sleep(1.1)         # the proof's time is in seconds

        daemon = itest.Daemon(conf, log)
        itest.poll(lambda: itest.status(sock), 10, what="neostrad (background) up again")
        itest.poll(lambda: refreshes("bg") >= 1 and refreshes("bgrevoked") >= 1, 15,
                   what="a background refresh of each user")
        itest.poll(lambda: get_user("bg", sock)["lastOnlineProof"] > before["lastOnlineProof"], 5,
                   what="bg's online proof to move")
        expect(check_account("bg", sock)["allowed"], "bg still allowed")
        itest.poll(lambda: get_user("bgrevoked", sock)["access"] == "revoked", 5,
                   what="bgrevoked's access to end")
        user = get_user("bgrevoked", sock)
        verdict = check_account("bgrevoked", sock)
        expect(not user["hasToken"] and not verdict["allowed"] and verdict["groups"] == [],
               "bgrevoked: %r / %r" % (user, verdict))
        revalidation = itest.status(sock)["revalidation"]
        expect(revalidation["proofs"] >= 1 and revalidation["revoked"] == 1, "GetStatus %r" % revalidation)
        expect("access of bgrevoked ended" in daemon.text(), "no log line for bgrevoked")
    finally:
        daemon.stop_clean()


def case_unknown_user():
    expect_error(get_token("nobody-here"), AUTH + "UserUnknown", "GetToken of a stranger")


if __name__ == "__main__":
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
