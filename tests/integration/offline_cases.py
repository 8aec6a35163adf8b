#!/usr/bin/python3
"""Cases of offline.sh: offline logins from cached verifiers, the slow-API
answer at offline_after, the online/offline state (backoff, Retry-After),
restart persistence and cached_auth_timeout, through the real daemon over
its socket and, for what the user sees, through pam_neostra.so (pamcheck).

    offline_cases.py users          print the mock's users file
    NEOSTRA_TMP=DIR NEOSTRA_PIDS=FILE NEOSTRA_CANARY_FILE=FILE \
    NEOSTRA_USERS_FILE=FILE NEOSTRA_MOCK_URL=... NEOSTRA_FAKE_URL=... \
    NEOSTRA_NEOSTRAD=... NEOSTRA_TOP=... NEOSTRA_BUILD=... \
        offline_cases.py CASE...

Every case starts its own neostrad (itest.Daemon) with its own cache
directory under NEOSTRA_TMP/<case>, and stops it (expecting exit 0) before
it returns.  The daemons' PIDs, and those of the mock APIs a case starts
itself, are kept in $NEOSTRA_PIDS until reaped, so the shell's cleanup can
stop them by PID should a case die.

The password of every account is the canary (tests/lib.sh nt_canary_new),
read from $NEOSTRA_CANARY_FILE: never on a command line, never in an
environment; wrong passwords are plain words.

Durations (the brief's "short" daemon): [api] timeout 2s, connect_timeout
1s; [cache] offline_max_age 3s (10 s for its own case), offline_after 1s, max_failures 2.  The
slow-API case uses [api] timeout 8s; the cached_auth_timeout case adds
cached_auth_timeout 5s.  offline_max_age is compared in whole seconds
(login.c verifier_fresh), so a verifier made at T is usable until
floor(T) + 3: at least 2 s, which every case needing one stays well within.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402
from itest import expect, expect_error  # noqa: E402

AUTH = "io.neostra.Auth."
FAILED = AUTH + "AuthenticationFailed"
UNAVAILABLE = AUTH + "ServiceUnavailable"
UNKNOWN = AUTH + "UserUnknown"

WRONG = "not-the-password-1"
WRONG2 = "not-the-password-2"

API_SHORT = "timeout = 2s\nconnect_timeout = 1s"
CACHE_SHORT = "offline_max_age = %ds\noffline_after = 1s\nmax_failures = 2"
SHORT_AGE = 3
# offline_max_age's own case: long enough for its steps before the bound
# on a loaded machine (two ASan pamcheck runs and three logins), short
# enough to wait out.
MAX_AGE = 10

# Accounts of the mock, one (or two) per case so no case sees another's state.
ACCOUNTS = {
    "basic": ["dev", "admin"],
    "lock": ["dev"],
    "refuse": ["dev"],
    "guess": ["dev"],
    "slow": ["dev"],
    "back": ["dev"],
    "nover": ["dev"],
    "ra": ["dev"],
    "busy": ["dev"],
    "calm": ["dev"],
    "heldnew": ["dev"],
    "persist": ["dev", "ops"],
    "cached": ["dev"],
    "change": ["dev"],
    "kept": ["dev"],
    "unread": ["dev"],
}
BATCH = ["batch%d" % i for i in range(1, 9)]
ACCOUNTS.update({n: ["dev"] for n in BATCH})
# First sign-ins that fill the verifier queue (verifier_queued).
QUEUE = ["queue%d" % i for i in range(1, 121)]
ACCOUNTS.update({n: ["dev"] for n in QUEUE})
ACCOUNTS["late"] = ["dev"]


def canary():
    path = os.environ.get("NEOSTRA_CANARY_FILE")
    if not path:
        return "NEOSTRA-CANARY-0000notarealcanary0000"
    with open(path) as f:
        return f.read().strip()


def users(overrides=None):
    pw = canary()
    doc = {"users": {}}
    for name, roles in ACCOUNTS.items():
        entry = {"password": pw, "roles": roles}
        entry.update((overrides or {}).get(name, {}))
        doc["users"]["%s@example.com" % name] = entry
    return doc


def write_users(overrides=None):
    """Rewrite the mock's users file (it re-reads it on the next request:
    a new inode)."""
    path = itest.env("NEOSTRA_USERS_FILE")
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(users(overrides), f)
    os.replace(tmp, path)


# ---- processes a case starts --------------------------------------------------------

class Mock:
    """tests/mock_api.py of our own (to stop it by PID and start it again
    on the same port)."""

    def __init__(self, d, port=0):
        self.dir = d
        self.port_file = os.path.join(d, "mock.port")
        try:
            os.unlink(self.port_file)
        except FileNotFoundError:
            pass
        log = open(os.path.join(d, "mock.log"), "ab")
        env = {k: v for k, v in os.environ.items() if k != "NEOSTRA_CANARY_FILE"}
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(itest.env("NEOSTRA_TOP"), "tests", "mock_api.py"),
             "--users", itest.env("NEOSTRA_USERS_FILE"), "--http-port", str(port),
             "--port-file", self.port_file],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        itest.record_pid(self.proc.pid, True)
        itest.poll(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None, 10,
                   what="the mock's port file")
        expect(self.proc.poll() is None, "the mock exited at start (port %d busy?)" % port)
        with open(self.port_file) as f:
            self.port = json.load(f)["http"]
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        itest.record_pid(self.proc.pid, False)
        return rc


def workdir(name):
    d = os.path.join(itest.env("NEOSTRA_TMP"), name)
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def start(name, url=None, api=API_SHORT, cache="", max_age=SHORT_AGE, **sections):
    """neostrad in workdir(name): [api] lines `api` (the short timeouts by
    default), [cache] the short durations (offline_max_age `max_age`
    seconds) plus `cache`."""
    d = workdir(name)
    sock = os.path.join(d, "auth.sock")
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), sock, url=url, api=api,
                              cache=CACHE_SHORT % max_age + ("\n" + cache if cache else ""), **sections)
    return restart(d, conf, sock)


def restart(d, conf, sock):
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"))
    daemon.sock, daemon.dir, daemon.conf = sock, d, conf
    try:
        varlink.wait_ready(sock, 10.0)
    except Exception:
        daemon.kill()
        raise AssertionError("neostrad did not come up; log:\n" + daemon.text()[-2000:])
    return daemon


def login(daemon, user, password=None, timeout=15.0):
    """(reply, seconds taken)."""
    started = time.monotonic()
    reply = itest.authenticate(user, canary() if password is None else password,
                               timeout=timeout, path=daemon.sock)
    return reply, time.monotonic() - started


def expect_login(daemon, user, error, password=None, what=None, offline=None):
    reply, took = login(daemon, user, password)
    expect_error(reply, error, what or user)
    if error is None and offline is not None:
        got = reply["parameters"].get("offline")
        expect(got is offline, "%s: offline is %r, expected %r: %r" % (what or user, got, offline, reply))
    return reply, took


def get_user(daemon, user):
    reply = itest.call("GetUser", {"user": user}, path=daemon.sock)
    if reply.get("error"):
        return None
    return reply["parameters"]


def status(daemon):
    return itest.status(daemon.sock)


def wait_verifier(daemon, user, newer_than=0, timeout=10.0):
    """Poll GetUser until a verifier made after `newer_than` is held (it is
    made on a worker thread after the answer went out)."""
    def ready():
        u = get_user(daemon, user)
        return u if u and u["hasVerifier"] and u["verifierTime"] > newer_than else None
    return itest.poll(ready, timeout, what="a verifier for %s (GetUser hasVerifier)" % user)


def reason(reply):
    return (reply.get("parameters") or {}).get("reason", "")


def signins(url=None):
    return itest.mock_stats(url)["signins"]


def pam_service(daemon):
    """A PAM service file for pamcheck in the case's directory."""
    d = os.path.join(daemon.dir, "pam.d")
    os.makedirs(d, exist_ok=True)
    mod = os.path.join(itest.env("NEOSTRA_BUILD"), "pam_neostra.so")
    with open(os.path.join(d, "neostra-offline"), "w") as f:
        for t in ("auth", "account"):
            f.write("%s required %s socket=%s config=%s\n" % (t, mod, daemon.sock, daemon.conf))
    return d


def pamcheck(confdir, user, password):
    """(exit status, output) of one PAM transaction; the password goes
    through stdin."""
    env = {k: v for k, v in os.environ.items() if k not in ("PAMCHECK_PASSWORD", "NEOSTRA_CANARY_FILE")}
    r = subprocess.run([os.path.join(itest.env("NEOSTRA_BUILD"), "tests", "pamcheck"), "-d", confdir,
                        "neostra-offline", user], input=password + "\n", capture_output=True,
                       text=True, timeout=40, env=env)
    return r.returncode, r.stdout + r.stderr


def finish(daemon):
    daemon.stop_clean()


def mock_down(**settings):
    itest.mock_config(**settings)


def mock_up():
    itest.mock_config(mode=None, status=None, delay_ms=None, body=None)


# ---- cases ------------------------------------------------------------------------

def case_offline_max_age():
    """Online first (a verifier is made); API down (mock closes every
    sign-in) → the same password logs in offline, with offlineUntil, and
    the module tells the user until when; past offline_max_age → no
    offline login (ServiceUnavailable; PAM_AUTHINFO_UNAVAIL)."""
    itest.fresh_mock_only()
    daemon = start("max-age", max_age=MAX_AGE)
    try:
        confdir = pam_service(daemon)
        reply, _ = expect_login(daemon, "basic", None, offline=False, what="online login")
        expect("offlineUntil" not in reply["parameters"], "offlineUntil on an online login: %r" % reply)
        u = wait_verifier(daemon, "basic")
        expect(abs(u["verifierTime"] - time.time()) < 5 and u["verifierTime"] == u["lastOnlineSuccess"],
               "verifierTime %r / lastOnlineSuccess %r" % (u["verifierTime"], u["lastOnlineSuccess"]))
        until = u["verifierTime"] + MAX_AGE

        mock_down(mode="close")
        try:
            reply, took = expect_login(daemon, "basic", None, offline=True, what="offline login")
            p = reply["parameters"]
            expect(p.get("offlineUntil") == until, "offlineUntil %r, expected verifierTime + %d = %d"
                   % (p.get("offlineUntil"), MAX_AGE, until))
            expect(p["roles"] == ["dev", "admin"], "cached roles %r" % p["roles"])
            expect(took < 2.0, "offline login took %.2f s" % took)

            rc, out = pamcheck(confdir, "basic", canary())
            expect(rc == 0, "pamcheck offline login exit %d:\n%s" % (rc, out))
            want = time.strftime("%Y-%m-%d %H:%M", time.localtime(until))
            info = [l for l in out.splitlines() if "module says (info)" in l]
            expect(len(info) == 1 and "cached credentials" in info[0] and "until " + want in info[0],
                   "module's offline info message (until %s) missing: %r" % (want, out))

            # Wrong password offline: refused (and not in a PAM message).
            rc, out = pamcheck(confdir, "basic", WRONG)
            expect(rc == 1 and "Authentication failure" in out, "wrong password offline: %d %r" % (rc, out))

            # Past offline_max_age: nothing offline any more.
            while time.time() < until + 0.05:
                time.sleep(min(0.1, max(0.0, until + 0.05 - time.time())))
            reply, _ = expect_login(daemon, "basic", UNAVAILABLE, what="past offline_max_age")
            rc, out = pamcheck(confdir, "basic", canary())
            expect(rc == 1 and "cannot retrieve authentication info" in out
                   and "module says (info)" not in out,
                   "pamcheck past offline_max_age: %d %r" % (rc, out))
            st = status(daemon)["logins"]
            expect(st["offlineSuccess"] == 2, "GetStatus logins %r" % st)
        finally:
            mock_up()
        # Back online: the online login brings a fresh verifier and no message.
        itest.poll(lambda: status(daemon)["state"] != "offline", 10, what="state != offline")
        rc, out = pamcheck(confdir, "basic", canary())
        expect(rc == 0 and "module says" not in out, "online pamcheck: %d %r" % (rc, out))
    finally:
        finish(daemon)


def case_offline_lock():
    """API unavailable (mock answers 503): a wrong password offline is
    AuthenticationFailed and counted; after max_failures (2) even the right
    password gets no offline login (locked) until the next online success,
    after which offline works again."""
    itest.fresh_mock_only()
    daemon = start("lock")
    try:
        expect_login(daemon, "lock", None, offline=False, what="online login")
        first = wait_verifier(daemon, "lock")
        expect(first["offlineFailures"] == 0, "offlineFailures %r" % first)
        mock_down(status=503)
        try:
            for n in (1, 2):
                reply, _ = expect_login(daemon, "lock", FAILED, WRONG, "offline wrong password %d" % n)
                expect("cached" in reason(reply), "reason %r" % reason(reply))
                u = get_user(daemon, "lock")
                expect(u["offlineFailures"] == n, "after %d wrong: offlineFailures %r" % (n, u["offlineFailures"]))
                expect(u["hasVerifier"], "a wrong password offline dropped the verifier")
            reply, _ = expect_login(daemon, "lock", UNAVAILABLE, what="right password, locked")
            expect("locked" in reason(reply), "reason does not say locked: %r" % reason(reply))
            # Still locked, and the right password did not count.
            expect_login(daemon, "lock", UNAVAILABLE, what="right password, still locked")
            expect(get_user(daemon, "lock")["offlineFailures"] == 2, "right password counted")
        finally:
            mock_up()
        # The next online success unlocks.
        reply, _ = expect_login(daemon, "lock", None, offline=False, what="online after the lock")
        u = get_user(daemon, "lock")
        expect(u["offlineFailures"] == 0, "offlineFailures after an online success: %r" % u)
        wait_verifier(daemon, "lock", newer_than=first["verifierTime"] - 1)
        mock_down(status=503)
        try:
            expect_login(daemon, "lock", None, offline=True, what="offline again after the unlock")
        finally:
            mock_up()
    finally:
        finish(daemon)


def case_refusal_drops_verifier():
    """A 401 to the password the verifier holds (it changed upstream)
    removes the verifier and the token at once: the old password then gets
    no offline login."""
    itest.fresh_mock_only()
    daemon = start("refuse")
    try:
        expect_login(daemon, "refuse", None, offline=False)
        wait_verifier(daemon, "refuse")
        write_users({"refuse": {"password": "refuse-changed-upstream"}})
        try:
            expect_login(daemon, "refuse", FAILED, what="the old password online (401)")
        finally:
            write_users()
        u = get_user(daemon, "refuse")
        expect(u["hasVerifier"] is False and u["verifierTime"] == 0,
               "verifier kept after a 401 to its own password: %r" % u)
        expect(u["hasToken"] is False, "token kept after a 401 to the password: %r" % u)
        mock_down(mode="close")
        try:
            reply, _ = expect_login(daemon, "refuse", UNAVAILABLE, what="old password offline after a 401")
            expect("locked" not in reason(reply), "reason %r" % reason(reply))
        finally:
            mock_up()
        # A later online success makes a new verifier (the user is not
        # shut out for good).
        expect_login(daemon, "refuse", None, offline=False)
        wait_verifier(daemon, "refuse")
    finally:
        finish(daemon)


def case_guesser_keeps_verifier():
    """A wrong password refused online (a guesser's 401) is no revocation:
    the verifier and the token stay, no offline failure counts, and the
    right password logs in offline afterwards.  After a restart (the
    verifier read from the cache, its password not seen by this process)
    the refused password is checked against the verifier on a worker: a
    wrong one leaves it, the verifier's own (changed upstream) drops it."""
    itest.fresh_mock_only()
    daemon = start("guess")
    try:
        expect_login(daemon, "guess", None, offline=False, what="online login")
        before = wait_verifier(daemon, "guess")
        for i in range(3):
            expect_login(daemon, "guess", FAILED, "guess-%d" % i, "a guesser's wrong password %d" % i)
        u = get_user(daemon, "guess")
        expect(u["hasVerifier"] and u["verifierTime"] == before["verifierTime"] and u["hasToken"],
               "a wrong password's 401 took the cached credentials: %r" % u)
        expect(u["offlineFailures"] == 0, "a 401 online counted as an offline failure: %r" % u)
        mock_down(mode="close")
        try:
            expect_login(daemon, "guess", None, offline=True, what="the right password offline after the 401s")
        finally:
            mock_up()

        rc = daemon.stop()
        expect(rc == 0, "exit %d at SIGTERM" % rc)
        daemon = restart(daemon.dir, daemon.conf, daemon.sock)
        expect_login(daemon, "guess", FAILED, WRONG, "a wrong password after the restart")
        itest.poll(lambda: status(daemon)["verifiers"]["queued"] == 0, 10, what="the refusal check")
        expect(get_user(daemon, "guess")["hasVerifier"], "a wrong password's 401 dropped the verifier "
               "read from the cache")
        mock_down(mode="close")
        try:
            expect_login(daemon, "guess", None, offline=True, what="offline after the restart and the 401")
        finally:
            mock_up()

        rc = daemon.stop()
        expect(rc == 0, "exit %d at SIGTERM" % rc)
        daemon = restart(daemon.dir, daemon.conf, daemon.sock)
        write_users({"guess": {"password": "guess-changed-upstream"}})
        try:
            expect_login(daemon, "guess", FAILED, what="the old password after the restart (401)")
            itest.poll(lambda: status(daemon)["verifiers"]["queued"] == 0, 10, what="the refusal check")
            u = get_user(daemon, "guess")
            expect(not u["hasVerifier"] and not u["hasToken"],
                   "the verifier of a password the API refused was kept: %r" % u)
        finally:
            write_users()
    finally:
        finish(daemon)


def case_slow_api():
    """The API answers after 5 s ([api] timeout 8s, offline_after 1s): the
    right password is let in offline after ~1 s and the online call still
    updates the cache in the background; a wrong password is not let in
    offline and waits for the API's answer (401)."""
    itest.fresh_mock_only()
    daemon = start("slow", api="timeout = 8s\nconnect_timeout = 1s")
    try:
        expect_login(daemon, "slow", None, offline=False, what="fast online login")
        u0 = wait_verifier(daemon, "slow")
        write_users({"slow": {"delay_ms": 5000}})
        try:
            t0 = time.monotonic()
            reply, took = expect_login(daemon, "slow", None, offline=True, what="slow API, right password")
            expect(0.8 < took < 3.0, "answered after %.2f s (offline_after is 1 s)" % took)
            expect(get_user(daemon, "slow")["lastOnlineSuccess"] == u0["lastOnlineSuccess"],
                   "lastOnlineSuccess moved before the API answered")
            expect(status(daemon)["pendingApiRequests"] == 1, "the online call is not pending any more")

            def advanced():
                u = get_user(daemon, "slow")
                return u if u["lastOnlineSuccess"] > u0["lastOnlineSuccess"] else None
            u1 = itest.poll(advanced, 9, what="lastOnlineSuccess to advance (background sign-in)")
            bg = time.monotonic() - t0
            expect(bg >= 4.5, "the cache was updated after %.1f s, before the API's 5 s answer" % bg)
            itest.wait_idle(5, daemon.sock)
            expect(signins() == 2, "mock saw %d sign-ins" % signins())
            # And the background success leaves a verifier of its own.
            wait_verifier(daemon, "slow", newer_than=u0["verifierTime"])

            reply, took = expect_login(daemon, "slow", FAILED, WRONG, "slow API, wrong password")
            expect(took >= 4.5, "wrong password answered after %.2f s, before the API" % took)
            expect(status(daemon)["logins"]["offlineSuccess"] == 1, "logins %r" % status(daemon)["logins"])
        finally:
            write_users()
    finally:
        finish(daemon)


def case_backoff():
    """3 transport failures (connection refused: our mock stopped by PID)
    → state offline, nextProbe set; a user with a verifier is answered from
    it at once, without the API; a login the cache cannot answer still goes
    to the API (it would fail otherwise: it is the probe).  The mock
    started again on the same port → the first login after it succeeds
    and brings the daemon back online; without logins, the probes do."""
    d = workdir("backoff")
    mock = Mock(d)
    port = mock.port
    daemon = None
    try:
        daemon = start("backoff", url=mock.url)
        expect_login(daemon, "back", None, offline=False)
        wait_verifier(daemon, "back")
        expect(status(daemon)["state"] == "online", "state %r" % status(daemon)["state"])
        expect(mock.stop() == 0, "mock did not exit 0")

        for i in range(3):
            expect_login(daemon, "nover", UNAVAILABLE, what="refused %d" % i)
        st = status(daemon)
        now = time.time()
        expect(st["state"] == "offline", "after 3 refused connections: state %r" % st["state"])
        expect(now - 2 <= st["since"] <= now + 1, "since %r" % st["since"])
        expect(now - 1 <= st["nextProbe"] <= now + 3, "nextProbe %r (now %d)" % (st["nextProbe"], now))

        # Offline: a verifier answers at once; no verifier, the API is
        # asked anyway (nobody listens: refused at once).
        reply, took = expect_login(daemon, "back", None, offline=True, what="offline, verifier")
        expect(took < 1.5, "offline verifier answer took %.2f s" % took)
        reply, took = expect_login(daemon, "nover", UNAVAILABLE, what="offline, no verifier")
        expect("offline" not in reason(reply), "not sent to the API: %r" % reason(reply))
        expect(took < 1.5, "offline answer took %.2f s" % took)
        expect(status(daemon)["state"] == "offline", "a failed login changed the state")

        # A probe fails (nobody listens); the next one comes at least
        # 0.8 × 2 s later: start the mock again in between.
        itest.wait_log("API probe:", 8, path=daemon.log)
        mock = Mock(d, port)
        expect(mock.port == port, "mock on port %d, not %d" % (mock.port, port))
        expect(status(daemon)["state"] == "offline", "online before the mock was asked")
        expect_login(daemon, "nover", None, offline=False, what="the first login after the API returns")
        st = status(daemon)
        expect(st["state"] == "online" and st["nextProbe"] == 0, "after that login: %r" % st)
        expect(signins(mock.url) == 1, "mock saw %d sign-ins" % signins(mock.url))
        reqs = itest.mock_requests(mock.url)
        expect(all(r["email"] is None for r in reqs if r["method"] == "GET"),
               "a probe carried a sign-in: %r" % reqs)
        expect_login(daemon, "back", None, offline=False, what="online again")

        # Without a login, the probes bring it back.
        expect(mock.stop() == 0, "mock did not exit 0")
        for i in range(3):
            # (nover has a verifier now: another name the mock never saw.)
            expect_login(daemon, "nover2", UNAVAILABLE, what="refused again %d" % i)
        expect(status(daemon)["state"] == "offline", "state %r" % status(daemon)["state"])
        mock = Mock(d, port)
        t0 = time.monotonic()
        itest.poll(lambda: status(daemon)["state"] == "online", 10, what="state online again")
        back = time.monotonic() - t0
        reqs = itest.mock_requests(mock.url)
        expect(reqs and all(r["method"] == "GET" and r["email"] is None for r in reqs),
               "not brought back by a probe: %r" % reqs)
        print("    (back online %.1f s after the mock restarted, by a probe)" % back)
    finally:
        if daemon:
            finish(daemon)
        mock.stop()


def _retry_after_once(daemon, fake, code):
    body = json.dumps({"error": "busy", "message": "come back later", "code": code})
    itest.fake_config(fake, code, ["Retry-After: 2"], body)
    expect(status(daemon)["state"] != "offline", "offline before the %d" % code)
    t0 = time.monotonic()
    reply, took = expect_login(daemon, "ra", UNAVAILABLE, what="%d with Retry-After" % code)
    st = status(daemon)
    now = time.time()
    expect(st["state"] == "offline", "%d + Retry-After: state %r at once" % (code, st["state"]))
    expect(st["nextProbe"] >= now + 1, "%d: nextProbe %r, now %.1f" % (code, st["nextProbe"], now))
    # Offline: a login the cache cannot answer still goes to the API (it
    # would fail otherwise); its 503 changes nothing.
    expect_login(daemon, "ra", UNAVAILABLE, what="%d: while offline" % code)
    expect(itest.fake_count(fake) == 2, "%d: the login while offline did not reach the API" % code)
    expect(status(daemon)["nextProbe"] == st["nextProbe"], "%d: the login moved the probe" % code)
    # No probe before ~2 s; the probe comes (and is answered 503 again).
    itest.poll(lambda: itest.fake_count(fake) >= 3, 6, interval=0.02, what="the probe")
    probe_at = time.monotonic() - t0
    expect(probe_at >= 1.8, "%d: probed %.2f s after Retry-After: 2" % (code, probe_at))
    # The API recovers: back online by itself.
    itest.fake_config(fake, 200, [], "{}")
    itest.poll(lambda: status(daemon)["state"] == "online", 10, what="%d: online again" % code)
    return probe_at


def _busy_users(daemon, fake):
    """429 with Retry-After: 2 for everyone: one user's leaves the daemon
    online and holds that user back; the third different user's in a row
    makes it offline, with no probe before ~2 s."""
    body = json.dumps({"error": "busy", "message": "come back later", "code": 429})
    itest.fake_config(fake, 429, ["Retry-After: 2"], body)
    expect_login(daemon, "ra1", UNAVAILABLE, what="429 for ra1")
    expect(status(daemon)["state"] == "online", "one user's 429 made the daemon %r" % status(daemon)["state"])
    _, took = expect_login(daemon, "ra1", UNAVAILABLE, what="ra1 again within its Retry-After")
    expect(itest.fake_count(fake) == 1, "ra1's second login reached the API within its Retry-After")
    expect(took < 0.5, "ra1's second login took %.2f s" % took)
    expect_login(daemon, "ra2", UNAVAILABLE, what="429 for ra2")
    expect(status(daemon)["state"] == "online", "two users' 429s made the daemon %r" % status(daemon)["state"])
    t0 = time.monotonic()
    expect_login(daemon, "ra3", UNAVAILABLE, what="429 for ra3")
    st = status(daemon)
    now = time.time()
    expect(st["state"] == "offline", "three different users' 429s in a row: state %r" % st["state"])
    expect(st["nextProbe"] >= now + 1, "429s: nextProbe %r, now %.1f" % (st["nextProbe"], now))
    count = itest.fake_count(fake)
    itest.poll(lambda: itest.fake_count(fake) > count, 6, interval=0.02, what="the probe")
    probe_at = time.monotonic() - t0
    expect(probe_at >= 1.8, "429s: probed %.2f s after Retry-After: 2" % probe_at)
    itest.fake_config(fake, 200, [], "{}")
    itest.poll(lambda: status(daemon)["state"] == "online", 10, what="429s: online again")
    return probe_at


def case_retry_after():
    """503 with Retry-After: 2 → offline at once, no probe before ~2 s,
    back online when the API answers again.  429 with Retry-After is about
    one user; three different users' in a row → offline, the same way."""
    fake = itest.env("NEOSTRA_FAKE_URL")
    daemon = start("retry-after", url=fake)
    try:
        itest.fake_config(fake, 200, [], "{}")
        # An answer below 500 (here an unparsable 200) makes the state online.
        expect_login(daemon, "ra", UNAVAILABLE, what="fake API, 200 {}")
        expect(status(daemon)["state"] == "online", "state %r" % status(daemon)["state"])
        a = _retry_after_once(daemon, fake, 503)
        b = _busy_users(daemon, fake)
        print("    (first probe %.2f s / %.2f s after the answer)" % (a, b))
    finally:
        finish(daemon)


def case_user_backoff():
    """A 429 with Retry-After for one user (the mock's per-user override)
    holds back that user only: the daemon stays online and another user
    signs in online; the held user's next logins within the Retry-After are
    answered from their verifier, right or wrong, or refused when there is
    none, at once and without a sign-in at the API."""
    itest.fresh_mock_only()
    daemon = start("user-backoff")
    try:
        expect_login(daemon, "busy", None, offline=False, what="busy's first login")
        wait_verifier(daemon, "busy")
        write_users({"busy": {"status": 429, "retry_after": 30},
                     "heldnew": {"status": 429, "retry_after": 30}})
        try:
            expect_login(daemon, "busy", None, offline=True, what="busy: 429, answered from its verifier")
            n = signins()
            expect(status(daemon)["state"] == "online", "one user's 429: state %r" % status(daemon)["state"])
            expect_login(daemon, "calm", None, offline=False, what="another user within busy's Retry-After")
            expect(signins() == n + 1, "calm did not reach the API (signins %d)" % signins())
            _, took = expect_login(daemon, "busy", None, offline=True, what="busy again within its Retry-After")
            expect(took < 1.0, "busy's held login took %.2f s" % took)
            expect_login(daemon, "busy", FAILED, WRONG, "busy's wrong password within its Retry-After")
            expect(get_user(daemon, "busy")["offlineFailures"] == 1, "the wrong password was not counted")
            expect(signins() == n + 1, "busy's logins reached the API within its Retry-After")

            expect_login(daemon, "heldnew", UNAVAILABLE, what="429 for a user without a verifier")
            reply, took = expect_login(daemon, "heldnew", UNAVAILABLE, what="that user again")
            expect(took < 0.5 and "Retry-After" in reason(reply), "held user without a verifier: %.2f s, %r"
                   % (took, reason(reply)))
            expect(signins() == n + 2, "a held user's login reached the API (signins %d)" % signins())
            expect(status(daemon)["state"] == "online", "state %r" % status(daemon)["state"])
        finally:
            write_users()
    finally:
        finish(daemon)


def case_restart_persistence():
    """Log in, SIGTERM, start again on the same cache: GetUser shows roles
    and verifier, and an offline login works at once with the API down."""
    itest.fresh_mock_only()
    daemon = start("persist")
    try:
        expect_login(daemon, "persist", None, offline=False)
        before = wait_verifier(daemon, "persist")
        rc = daemon.stop()
        expect(rc == 0, "exit %d at SIGTERM" % rc)
        daemon.check_sanitizers()
        mock_down(mode="close")
        try:
            daemon = restart(daemon.dir, daemon.conf, daemon.sock)
            after = get_user(daemon, "persist")
            expect(after is not None, "user forgotten across the restart")
            for k in ("roles", "email", "lastOnlineSuccess", "hasVerifier", "verifierTime", "hasToken",
                      "tokenExpires", "offlineFailures"):
                expect(after[k] == before[k], "%s: %r before the restart, %r after" % (k, before[k], after[k]))
            expect(after["roles"] == ["dev", "ops"] and after["hasVerifier"], "after restart: %r" % after)
            expect(status(daemon)["users"] == 1 and status(daemon)["cache"] is True, "GetStatus %r" % status(daemon))
            reply, _ = expect_login(daemon, "persist", None, offline=True, what="offline after the restart")
            expect(reply["parameters"]["roles"] == ["dev", "ops"], "roles %r" % reply["parameters"])
            expect_login(daemon, "persist", FAILED, WRONG, "wrong password offline after the restart")
            expect(get_user(daemon, "persist")["offlineFailures"] == 1, "failure not counted")
        finally:
            mock_up()
        # The counter survives a restart too.
        rc = daemon.stop()
        expect(rc == 0, "exit %d at SIGTERM" % rc)
        daemon = restart(daemon.dir, daemon.conf, daemon.sock)
        expect(get_user(daemon, "persist")["offlineFailures"] == 1, "offlineFailures lost in a restart")
    finally:
        finish(daemon)


def case_verifier_unreadable():
    """The verifier is read from the SQLite cache for each offline check:
    when that read fails (the value changed behind the daemon's back into
    something it never writes, the row gone, the table unreadable) the
    login is ServiceUnavailable, never let in, and the log says why
    without the value; with the row as it was, offline works again.  (The
    offline login after a restart, from a verifier read from SQLite, is
    restart_persistence.)"""
    import sqlite3
    itest.fresh_mock_only()
    daemon = start("unreadable")
    db = os.path.join(daemon.dir, "cache", "neostrad.db")

    def sql(statement, *args):
        con = sqlite3.connect(db, timeout=5)
        try:
            rows = con.execute(statement, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    try:
        expect_login(daemon, "unread", None, offline=False, what="online login")
        wait_verifier(daemon, "unread")
        (verifier,), = sql("SELECT verifier FROM users WHERE name = 'unread'")
        expect(verifier.startswith("$y$"), "no verifier stored")
        mock_down(mode="close")
        try:
            expect_login(daemon, "unread", None, offline=True, what="offline, verifier as stored")
            breakages = (
                ("a verifier that is no yescrypt hash",
                 "UPDATE users SET verifier = 'plain-words' WHERE name = 'unread'",
                 "UPDATE users SET verifier = ? WHERE name = 'unread'", (verifier,)),
                ("an unreadable table",
                 "ALTER TABLE users RENAME TO users_elsewhere",
                 "ALTER TABLE users_elsewhere RENAME TO users", ()),
            )
            for what, breaking, mending, args in breakages:
                n_err = daemon.text().count("cannot read the verifier of unread")
                sql(breaking)
                reply, _ = expect_login(daemon, "unread", UNAVAILABLE, what="offline, " + what)
                expect(n_err < daemon.text().count("cannot read the verifier of unread"),
                       "%s: the log does not say so:\n%s" % (what, daemon.text()[-1500:]))
                sql(mending, *args)
                expect_login(daemon, "unread", None, offline=True, what="offline, mended after " + what)
            # The row gone: the same.
            sql("DELETE FROM users WHERE name = 'unread'")
            expect_login(daemon, "unread", UNAVAILABLE, what="offline, row deleted")
            expect(get_user(daemon, "unread")["offlineFailures"] == 0, "a failed read counted as a wrong password")
            text = daemon.text()
            expect(verifier not in text and "plain-words" not in text, "a verifier in the log")
            expect(status(daemon)["logins"]["offlineSuccess"] == 3, "logins %r" % status(daemon)["logins"])
        finally:
            mock_up()
    finally:
        finish(daemon)


def neostractl(daemon, *args):
    return subprocess.run([os.path.join(itest.env("NEOSTRA_BUILD"), "neostractl"), "-s", daemon.sock]
                          + list(args), capture_output=True, text=True, timeout=30)


def case_cached_auth():
    """cached_auth_timeout 5s: a second login within 5 s makes no API call;
    a wrong password is not taken from the cache (API → 401); neostractl
    invalidate forces the next login online; past the window, online."""
    itest.fresh_mock_only()
    daemon = start("cached", cache="cached_auth_timeout = 5s")
    try:
        expect_login(daemon, "cached", None, offline=False, what="first login")
        u = wait_verifier(daemon, "cached")
        expect(signins() == 1, "signins %d" % signins())
        reply, took = expect_login(daemon, "cached", None, offline=False, what="within 5 s")
        expect(signins() == 1, "a login within cached_auth_timeout reached the API")
        expect(status(daemon)["logins"]["cachedSuccess"] == 1, "logins %r" % status(daemon)["logins"])
        expect(reply["parameters"]["roles"] == ["dev"], "roles %r" % reply["parameters"])

        # neostractl invalidate: the next login goes online.
        r = neostractl(daemon, "invalidate", "cached")
        expect(r.returncode == 0, "neostractl invalidate: %d %s %s" % (r.returncode, r.stdout, r.stderr))
        expect(get_user(daemon, "cached")["invalidated"] is True, "not invalidated")
        expect_login(daemon, "cached", None, offline=False, what="after invalidate")
        expect(signins() == 2, "login after invalidate did not reach the API (signins %d)" % signins())
        u2 = get_user(daemon, "cached")
        expect(u2["invalidated"] is False, "still invalidated after an online success")
        wait_verifier(daemon, "cached", newer_than=u["verifierTime"] - 1)
        expect_login(daemon, "cached", None, offline=False, what="cached again")
        expect(signins() == 2, "signins %d" % signins())

        # A wrong password is not answered from the cache: the API says
        # 401.  That is no revocation: the right password still is.
        expect_login(daemon, "cached", FAILED, WRONG, "wrong password within the window")
        expect(signins() == 3, "a wrong password did not reach the API (signins %d)" % signins())
        expect(get_user(daemon, "cached")["hasVerifier"] is True, "a wrong password's 401 dropped the verifier")
        expect_login(daemon, "cached", None, offline=False, what="after the 401")
        expect(signins() == 3, "the right password after a wrong one's 401 reached the API (signins %d)"
               % signins())
        expect(status(daemon)["logins"]["cachedSuccess"] == 3, "logins %r" % status(daemon)["logins"])
        last = get_user(daemon, "cached")["lastOnlineSuccess"]

        # Past the window: online again.
        while time.time() < last + 5 + 0.05:
            time.sleep(0.1)
        expect_login(daemon, "cached", None, offline=False, what="past cached_auth_timeout")
        expect(signins() == 4, "a login past the window did not reach the API (signins %d)" % signins())
        expect(status(daemon)["logins"]["cachedSuccess"] == 3, "logins %r" % status(daemon)["logins"])
    finally:
        finish(daemon)


def case_password_change():
    """cached_auth_timeout 5s, and the password changes upstream: right
    after the online success with the new password, the old one must not
    be answered from the cache (it is not the last password the API
    accepted): login.c drops the previous verifier as soon as the API says
    yes, before the new one is made on a worker."""
    itest.fresh_mock_only()
    daemon = start("change", cache="cached_auth_timeout = 5s")
    new_pw = "the-new-password-upstream"
    try:
        expect_login(daemon, "change", None, offline=False, what="first login")
        wait_verifier(daemon, "change")
        write_users({"change": {"password": new_pw}})
        with varlink.Connection(daemon.sock, 10) as c1, varlink.Connection(daemon.sock, 10) as c2:
            r1 = c1.call(AUTH + "Authenticate", {"user": "change", "password": new_pw})
            expect_error(r1, None, "the new password online")
            r2 = c2.call(AUTH + "Authenticate", {"user": "change", "password": canary()})
        expect_error(r2, FAILED, "the old password right after the change")
        expect(signins() == 3, "the old password did not reach the API (signins %d)" % signins())
    finally:
        write_users()
        finish(daemon)


def burst(daemon, user, n, password=None):
    """n sign-ins of one user at once, all expected to succeed."""
    conns = [varlink.Connection(daemon.sock, 10) for _ in range(n)]
    try:
        for c in conns:
            c.send(AUTH + "Authenticate", {"user": user, "password": password or canary()})
        for c in conns:
            expect_error(c.receive(10), None, "a burst of sign-ins")
    finally:
        for c in conns:
            c.close()


def case_verifier_queued():
    """A busy machine: 120 first sign-ins in quick waves queue 120 verifiers
    (about a second of yescrypt on two workers); one more user signs in
    online, its verifier queued behind them, and the API goes down at once.
    That user's offline login waits for the verifier (which jumps the
    queue) and gets in, instead of being refused for having none yet."""
    itest.fresh_mock_only()
    daemon = start("queued")
    try:
        # In waves of 30: each new name costs the daemon NSS lookups, of
        # which only so many may be out at once.
        for wave in range(0, len(QUEUE), 30):
            names = QUEUE[wave:wave + 30]
            conns = [varlink.Connection(daemon.sock, 15) for _ in names]
            try:
                for c, n in zip(conns, names):
                    c.send(AUTH + "Authenticate", {"user": n, "password": canary()})
                for c in conns:
                    expect_error(c.receive(15), None, "a first sign-in of the burst")
            finally:
                for c in conns:
                    c.close()
        expect_login(daemon, "late", None, offline=False, what="the online success")
        queued = status(daemon)["verifiers"]["queued"]
        if get_user(daemon, "late")["hasVerifier"]:
            raise itest.Skip("the workers made %d verifiers before the next login (too fast a "
                             "machine for this case)" % len(QUEUE))
        mock_down(mode="close")
        try:
            reply, took = expect_login(daemon, "late", None, offline=True,
                                       what="offline right after the online success")
            left = status(daemon)["verifiers"]["queued"]
        finally:
            mock_up()
        expect(left > 0, "the queue was empty when the offline login was answered: nothing waited")
        print("    (%d verifier jobs queued; answered after %.2f s, %d still queued)" % (queued, took, left))
        itest.poll(lambda: status(daemon)["verifiers"]["queued"] == 0, 20, what="the queue to drain")
    finally:
        finish(daemon)


def case_cache_write_batch():
    """A sign-in's cache row is written after its answer, together with the
    rows waiting then, in one transaction: eight answers of the API that
    reach the daemon at once (it was stopped while the API answered) make
    eight rows in one transaction.  GetStatus cacheWrites counts rows,
    transactions and rows that failed, and flushes what waits first.  What
    waits is written at SIGTERM; a write that drops a secret (the cached
    password refused) goes out at once, before a SIGKILL could lose it."""
    itest.fresh_mock_only()
    daemon = start("batch")
    try:
        for n in BATCH:
            expect_login(daemon, n, None, offline=False, what="first sign-in of " + n)
        # Their verifiers made (a later success of the same password keeps
        # them: no more writes than the sign-ins' own).
        itest.poll(lambda: status(daemon)["verifiers"]["queued"] == 0 and
                   all(get_user(daemon, n)["hasVerifier"] for n in BATCH), 20, what="the verifiers")
        before = status(daemon)["cacheWrites"]
        expect(before["failed"] == 0 and before["rows"] >= 2 * len(BATCH) and
               before["transactions"] <= before["rows"], "after the first sign-ins: %r" % before)

        # One at a time: GetStatus flushes, so each sign-in is its own.
        expect_login(daemon, BATCH[0], None, offline=False)
        one = status(daemon)["cacheWrites"]
        expect(one["rows"] == before["rows"] + 1 and one["transactions"] == before["transactions"] + 1,
               "one sign-in: %r, before %r" % (one, before))

        signins = itest.mock_stats()["signins"]
        itest.mock_config(delay_ms=300)
        conns = [varlink.Connection(daemon.sock, 15) for _ in BATCH]
        try:
            for c, n in zip(conns, BATCH):
                c.send(AUTH + "Authenticate", {"user": n, "password": canary()})
            itest.poll(lambda: itest.mock_stats()["signins"] == signins + len(BATCH), 10,
                       what="the sign-ins at the API")
            os.kill(daemon.pid, signal.SIGSTOP)
            try:
                time.sleep(1.0)         # the API answers meanwhile
            finally:
                os.kill(daemon.pid, signal.SIGCONT)
            for c in conns:
                expect_error(c.receive(15), None, "a sign-in of the batch")
        finally:
            for c in conns:
                c.close()
            itest.mock_config(delay_ms=None)
        after = status(daemon)["cacheWrites"]
        expect(after["rows"] == one["rows"] + len(BATCH) and after["failed"] == 0,
               "eight sign-ins wrote %r rows: %r" % (after["rows"] - one["rows"], after))
        expect(after["transactions"] == one["transactions"] + 1,
               "eight answers at once took %d transactions"
               % (after["transactions"] - one["transactions"]))

        # A sign-in whose answer and SIGTERM reach the daemon together: it
        # is answered, and its row (the time of this success) is on disk
        # after the exit, written by the exit itself.
        before = get_user(daemon, BATCH[1])["lastOnlineSuccess"]
        signins = itest.mock_stats()["signins"]
        itest.mock_config(delay_ms=300)
        c = varlink.Connection(daemon.sock, 15)
        try:
            time.sleep(1.0)     # lastOnlineSuccess counts whole seconds
            c.send(AUTH + "Authenticate", {"user": BATCH[1], "password": canary()})
            itest.poll(lambda: itest.mock_stats()["signins"] == signins + 1, 10, what="the sign-in at the API")
            os.kill(daemon.pid, signal.SIGSTOP)
            os.kill(daemon.pid, signal.SIGTERM)
            time.sleep(1.0)
            os.kill(daemon.pid, signal.SIGCONT)
            expect_error(c.receive(15), None, "the sign-in in flight at SIGTERM")
        finally:
            c.close()
            itest.mock_config(delay_ms=None)
        rc = daemon.stop()
        expect(rc == 0, "exit %d at SIGTERM" % rc)
        daemon = restart(daemon.dir, daemon.conf, daemon.sock)
        after = get_user(daemon, BATCH[1])["lastOnlineSuccess"]
        expect(after > before, "the success in flight at SIGTERM was not written (%d, before %d)" % (after, before))

        # What drops a secret is written at once: the password the cache
        # holds refused online (changed upstream: every secret dropped),
        # then SIGKILL, no chance to flush.
        write_users({BATCH[2]: {"password": "batch-changed-upstream"}})
        try:
            expect_login(daemon, BATCH[2], FAILED, what="the cached password refused online")
        finally:
            write_users()
        daemon.kill()
        daemon = restart(daemon.dir, daemon.conf, daemon.sock)
        refused, kept = get_user(daemon, BATCH[2]), get_user(daemon, BATCH[3])
        expect(not refused["hasToken"] and not refused["hasVerifier"],
               "the refusal before SIGKILL was not on disk: %r" % refused)
        expect(kept["hasToken"] and kept["hasVerifier"], "%s lost its row: %r" % (BATCH[3], kept))
    finally:
        finish(daemon)


def case_verifier_kept():
    """A burst of first sign-ins makes one verifier, not one each (a job
    waiting or running for the same password does); an online success with
    the password the verifier was made of keeps it (no new yescrypt; its
    time moves with the success); a new password upstream makes a new one
    and the old password stops working offline."""
    itest.fresh_mock_only()
    daemon = start("kept")
    new_pw = "kept-the-new-password"
    try:
        burst(daemon, "kept", 10)
        itest.poll(lambda: status(daemon)["verifiers"]["queued"] == 0 and
                   get_user(daemon, "kept")["hasVerifier"], 10, what="the first verifier")
        v = status(daemon)["verifiers"]
        expect(v["made"] == 1, "a burst of 10 first sign-ins made %r verifiers" % v)
        kept = v["kept"]

        expect_login(daemon, "kept", None, offline=False, what="the same password again")
        v, u = status(daemon)["verifiers"], get_user(daemon, "kept")
        expect(v["made"] == 1 and v["kept"] == kept + 1, "the same password made a verifier again: %r" % v)
        expect(u["hasVerifier"] and u["verifierTime"] == u["lastOnlineSuccess"],
               "the kept verifier is not as fresh as the success: %r" % u)

        burst(daemon, "kept", 20)
        v = status(daemon)["verifiers"]
        expect(v["made"] == 1 and v["kept"] == kept + 21 and v["queued"] == 0, "after the burst: %r" % v)

        write_users({"kept": {"password": new_pw}})
        expect_login(daemon, "kept", None, password=new_pw, offline=False, what="the new password online")
        itest.poll(lambda: status(daemon)["verifiers"]["made"] == 2, 10, what="a verifier of the new password")
        expect(get_user(daemon, "kept")["hasVerifier"], "no verifier after the change")

        mock_down(mode="close")
        expect_login(daemon, "kept", FAILED, what="the old password offline")
        expect_login(daemon, "kept", None, password=new_pw, offline=True, what="the new password offline")
    finally:
        mock_up()
        write_users()
        finish(daemon)


if __name__ == "__main__":
    if sys.argv[1:] == ["users"]:
        print(json.dumps(users(), indent=1))
        sys.exit(0)
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
