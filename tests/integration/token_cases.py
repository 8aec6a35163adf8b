#!/usr/bin/python3
"""Cases for token.sh: GetToken and the token refresh ([api] refresh_path)."""
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


def case_fresh_token_not_refreshed():
    """A token with an hour to go is handed out as it is."""
    itest.fresh_mock()
    login("long", "long-pw")
    first = get_token("long")["parameters"]
    again = get_token("long")["parameters"]
    expect(first["token"] == again["token"], "token changed without need")
    expect(first["expires"] > time.time() + 3000, "expiry %r" % first["expires"])
    expect(itest.mock_stats()["refreshes"] == 0, "a refresh was made")


def case_near_expiry_refreshed():
    """A token expiring within a minute is refreshed first, and the new one
    (and its expiry) is kept."""
    itest.fresh_mock()
    login("short", "short-pw")
    old = itest.call("GetUser", {"user": "short"})["parameters"]
    expect(old["hasToken"], "no token after login")
    reply = get_token("short")["parameters"]
    expect(itest.mock_stats()["refreshes"] == 1, "refreshes: %r" % itest.mock_stats())
    second = get_token("short")["parameters"]
    # The mock's tokens carry no nonce, so compare through a second
    # refresh: each GetToken of a 30 s token refreshes again with the
    # rotated refresh token, which only works if the new one was kept.
    expect(itest.mock_stats()["refreshes"] == 2, "rotated refresh token not kept: %r" % itest.mock_stats())
    expect(reply["expires"] <= time.time() + 31 and second["expires"] <= time.time() + 31,
           "expiry %r / %r" % (reply["expires"], second["expires"]))


def case_refused_refresh_keeps_valid_token():
    """A refresh the API refuses (its refresh tokens were forgotten) drops
    the refresh token; the old token is still handed out while valid."""
    itest.fresh_mock()
    login("short", "short-pw")
    itest.mock_reset()          # forgets the refresh tokens it issued
    reply = get_token("short")
    expect("error" not in reply, "valid token not handed out: %r" % reply)
    expect(itest.mock_stats()["refreshes"] == 1, "stats %r" % itest.mock_stats())
    # No refresh token any more: the next call does not even try.
    get_token("short")
    expect(itest.mock_stats()["refreshes"] == 1, "tried again without a refresh token")


def case_expired_token():
    """An expired token is never handed out: refreshed when possible,
    else an error telling the user to log in again.  (The user's tokens
    live 1 s.)"""
    itest.fresh_mock()
    login("expired", "expired-pw")
    time.sleep(1.2)             # waiting out the token's configured life
    reply = get_token("expired")
    expect("error" not in reply, "refresh of an expired token failed: %r" % reply)
    expect(itest.mock_stats()["refreshes"] == 1, "stats %r" % itest.mock_stats())
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
        expect(itest.mock_stats()["refreshes"] == 0, "a refresh was made")

        time.sleep(1.1)         # the mock's tokens differ per second (iat) and signature
        reply = itest.authenticate("long", "long-pw", path=sock)
        expect("error" not in reply, "second login: %r" % reply)
        second = itest.call("GetToken", {"user": "long"}, path=sock)["parameters"]
        expect(second["token"] != first["token"], "the old token after a new login")
        expect(second["expires"] >= first["expires"], "expiry went back: %r / %r" % (second, first))
        expect(first["token"] not in daemon.text(), "a token in the daemon log")
    finally:
        daemon.stop_clean()


def case_unknown_user():
    expect_error(get_token("nobody-here"), AUTH + "UserUnknown", "GetToken of a stranger")


if __name__ == "__main__":
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
