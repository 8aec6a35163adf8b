#!/usr/bin/python3
"""Cases of nss-offloop.sh: neostrad's NSS lookups run off its event loop.

    NEOSTRA_TMP=... NEOSTRA_MOCK_URL=... NEOSTRA_NEOSTRAD=... \
        NEOSTRA_SLOWNSS=.../slownss.so nss_offloop.py CASE...

Each case starts its own daemon with tests/slownss.c preloaded, whose rules
file makes the lookups of some names slow, hung or failing, as an LDAP or
SSSD source does when its server is slow or down.  Nothing here measures
speed: every check is an order of events (who answered while whose lookup
was still out) or a deadline the daemon promises (NAMES_WAIT_USEC).
"""

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402

# The first_login queries here stand for sshd's: a provisional record goes
# only to sshd, login and su asking as root (neostrad reads the caller's
# /proc/PID/comm), so this process names itself sshd.
ctypes.CDLL(None).prctl(15, b"sshd", 0, 0, 0)  # PR_SET_NAME
from itest import expect, expect_error  # noqa: E402

UDB = "io.systemd.UserDatabase."
UNAVAILABLE = itest.AUTH + "ServiceUnavailable"
UDB_UNAVAILABLE = UDB + "ServiceNotAvailable"
SLOW_MS = 3000          # a slow lookup: long against everything else here
NAMES_WAIT = float(os.environ.get("NEOSTRA_NAMES_WAIT", "5"))   # neostrad/nss-park.h NAMES_PARK_WAIT_USEC
UID_MIN, UID_MAX = 310000, 319999


def tmp():
    return itest.env("NEOSTRA_TMP")


@contextlib.contextmanager
def daemon(name, rules=""):
    """A daemon with userdb and first_login on and slownss.so preloaded;
    yields (daemon, rules file, auth socket, userdb socket)."""
    sock = os.path.join(tmp(), name + ".sock")
    usock = os.path.join(tmp(), name + "-userdb.sock")
    cache = os.path.join(tmp(), "cache-" + name)
    os.makedirs(cache, mode=0o700, exist_ok=True)
    conf = os.path.join(tmp(), name + ".conf")
    rules_file = os.path.join(tmp(), name + ".rules")
    with open(rules_file, "w") as f:
        f.write(rules)
    with open(conf, "w") as f:
        f.write("[api]\nurl = %s\ntimeout = 10s\n\n" % itest.mock_url()
                + "[users]\nemail_template = %u@example.com\n\n"
                + "[groups]\ndev = developers adm\n\n"
                + "[identities]\nuserdb = yes\nfirst_login = yes\nuid_min = %d\nuid_max = %d\n\n"
                % (UID_MIN, UID_MAX)
                + "[cache]\ndirectory = %s\n\n" % cache
                + "[daemon]\nuser = root\nsocket = %s\nuserdb_socket = %s\n" % (sock, usock))
    d = itest.Daemon(conf, os.path.join(tmp(), name + ".log"), args=["--debug"],
                     environ={"LD_PRELOAD": itest.env("NEOSTRA_SLOWNSS"), "SLOWNSS_RULES": rules_file})
    try:
        itest.poll(lambda: os.path.exists(usock) and status(sock), 10, what="neostrad to listen")
        d.on_loop_at_start = lookups(sock)["onLoop"]
        yield d, rules_file, sock, usock
        if d.alive():
            # What the case started has finished (stop_while_a_lookup_hangs
            # is about the other way).
            itest.poll(lambda: lookups(sock)["pending"] == 0, 15, what="no NSS lookup out")
            d.stop_clean()
    finally:
        d.kill()


def status(sock):
    try:
        return itest.status(sock)
    except OSError:
        return None


def lookups(sock):
    return itest.status(sock)["localLookups"]


def none_on_loop(d, sock):
    """No lookup on the loop since start-up (which may look up on it: the
    ids of [groups] groups it publishes)."""
    n = lookups(sock)
    on_loop = [l for l in d.text().splitlines() if "on the event loop" in l]
    expect(n["onLoop"] == d.on_loop_at_start, "lookups on the event loop: %s, %d at start-up\n%s"
           % (n, d.on_loop_at_start, "\n".join(on_loop)))
    return n


def login_ok(sock, user):
    r = itest.authenticate(user, user + "-pw", path=sock)
    expect("error" not in r, "%s signs in: %s" % (user, json.dumps(r)[:300]))
    return r


def ucall(usock, method, params, timeout=10.0):
    p = {"service": "io.neostra"}
    p.update(params)
    with varlink.Connection(usock, timeout) as c:
        return c.call(UDB + method, p)


class Background(threading.Thread):
    """fn() in a thread; .result, .error, .took once done."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error, self.took = fn, None, None, None
        self.start()

    def run(self):
        started = time.monotonic()
        try:
            self.result = self.fn()
        except Exception as e:  # reported by the case
            self.error = e
        self.took = time.monotonic() - started

    def outcome(self, timeout):
        self.join(timeout)
        expect(not self.is_alive(), "the background call did not end within %.0f s" % timeout)
        if self.error:
            raise self.error
        return self.result


def wait_out(sock, n=1):
    itest.poll(lambda: lookups(sock)["pending"] >= n, 5, what="%d NSS lookup(s) out" % n)


def case_slow_lookup_holds_only_its_login():
    """A login whose name NSS answers slowly waits for it; meanwhile another
    login, a userdb answer and GetStatus are not held up by it, and no
    lookup of a call ran on the loop."""
    with daemon("slowlogin", "name slow %d\n" % SLOW_MS) as (d, rules, sock, usock):
        login_ok(sock, "alice")                 # cached, with a uid
        slow = Background(lambda: itest.authenticate("slowpoke", "slowpoke-pw", timeout=20, path=sock))
        wait_out(sock)
        login_ok(sock, "alice")
        r = ucall(usock, "GetUserRecord", {"userName": "alice"})
        expect("error" not in r, "alice's userdb record: %s" % json.dumps(r)[:300])
        login_ok(sock, "bob")                   # a first login: its own lookups, not slow
        expect(slow.is_alive(), "slowpoke's login ended before the others were answered "
                                "(the slow lookup took %s s)" % slow.took)
        r = slow.outcome(20)
        expect("error" not in r, "slowpoke signs in once NSS answers: %s" % json.dumps(r)[:300])
        expect(slow.took >= SLOW_MS / 1000.0 * 0.9, "slowpoke was answered after %.2f s, before NSS" % slow.took)
        n = none_on_loop(d, sock)
        expect(n["offLoop"] >= 6, "lookups off the loop: %s" % n)
        # Kept: the next login of slowpoke (within the TTL or not) does not
        # make the loop wait either.
        login_ok(sock, "slowpoke")
        none_on_loop(d, sock)


def case_slow_first_login_query():
    """A first_login userdb query of a name not seen yet waits for its own
    local-name checks; queries for known names and other new names do
    not, and the slow one gets its provisional record."""
    with daemon("slowquery", "name slowq %d\n" % SLOW_MS) as (d, rules, sock, usock):
        login_ok(sock, "alice")
        slow = Background(lambda: ucall(usock, "GetUserRecord", {"userName": "slowquery"}, timeout=20))
        wait_out(sock)
        r = ucall(usock, "GetUserRecord", {"userName": "alice"})
        expect("error" not in r, "alice's record: %s" % json.dumps(r)[:300])
        r = ucall(usock, "GetUserRecord", {"userName": "newname"})
        expect("error" not in r, "a provisional record for newname: %s" % json.dumps(r)[:300])
        expect(slow.is_alive(), "the slow query ended before the others were answered")
        r = slow.outcome(20)
        expect("error" not in r and r["parameters"]["record"]["userName"] == "slowquery",
               "the slow query's provisional record: %s" % json.dumps(r)[:300])
        none_on_loop(d, sock)


def case_hung_lookup_fails_closed():
    """NSS that does not answer within NAMES_WAIT: the login is refused as
    unavailable (never let in, never left hanging), a userdb query says
    ServiceNotAvailable, and others go on meanwhile."""
    hang_ms = int((NAMES_WAIT + 1.5) * 1000)
    with daemon("hung", "name stuck %d\n" % hang_ms) as (d, rules, sock, usock):
        before = itest.status(sock)["logins"]["unavailable"]
        auth = Background(lambda: itest.authenticate("stuck1", "stuck1-pw", timeout=20, path=sock))
        query = Background(lambda: ucall(usock, "GetUserRecord", {"userName": "stuckq"}, timeout=20))
        wait_out(sock, 2)
        login_ok(sock, "alice")
        expect(auth.is_alive() and query.is_alive(), "a hung lookup's call ended before alice's login")
        r = auth.outcome(NAMES_WAIT + 10)
        expect_error(r, UNAVAILABLE, "a login whose NSS lookup hangs")
        expect(NAMES_WAIT * 0.9 <= auth.took <= NAMES_WAIT + 3,
               "refused after %.1f s, not after about %.0f s" % (auth.took, NAMES_WAIT))
        expect_error(query.outcome(NAMES_WAIT + 10), UDB_UNAVAILABLE, "a userdb query whose NSS lookup hangs")
        expect(itest.status(sock)["logins"]["unavailable"] == before + 1,
               "logins.unavailable: %s" % itest.status(sock)["logins"])
        itest.wait_log("did not answer within", path=d.log)


def case_failed_lookup_not_reused():
    """NSS failing ("cannot tell"): the login is refused as unavailable;
    the failure is not kept, so once NSS works again the next login asks
    again and succeeds."""
    with daemon("failing", "name nssfail fail\n") as (d, rules, sock, usock):
        for attempt in range(2):
            before = lookups(sock)["offLoop"]
            r = itest.authenticate("nssfail1", "nssfail1-pw", path=sock)
            expect_error(r, UNAVAILABLE, "a login whose NSS lookup fails (attempt %d)" % (attempt + 1))
            expect(lookups(sock)["offLoop"] > before, "attempt %d did not ask NSS again" % (attempt + 1))
        with open(rules, "w") as f:
            f.write("")
        login_ok(sock, "nssfail1")


def case_failed_lookup_checkaccount_unavailable():
    """NSS failing for the name of a CheckAccount (an SSH key's account
    step): "unavailable", never NotOurUser, which the module would turn
    into PAM_IGNORE and so let the account step pass."""
    with daemon("failacct", "name nssfail3 fail\n") as (d, rules, sock, usock):
        r = itest.call(itest.AUTH + "CheckAccount", {"user": "nssfail3"}, path=sock)
        expect_error(r, UNAVAILABLE, "CheckAccount whose NSS lookup fails")
        with open(rules, "w") as f:
            f.write("")
        r = itest.call(itest.AUTH + "CheckAccount", {"user": "nssfail3"}, path=sock)
        expect_error(r, itest.AUTH + "UserUnknown", "CheckAccount once NSS answers (never signed in)")


def case_stop_while_a_lookup_hangs():
    """SIGTERM while an NSS lookup hangs (a directory that never answers):
    the daemon answers the waiting login (fails it closed) and exits at
    once, clean, instead of waiting for the lookup until systemd kills it."""
    with daemon("stophung", "name forever 60000\n") as (d, rules, sock, usock):
        auth = Background(lambda: itest.authenticate("forever1", "forever1-pw", timeout=20, path=sock))
        wait_out(sock)
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(NAMES_WAIT + 5)
        took = time.monotonic() - started
        expect(rc == 0, "exit status %s at SIGTERM" % rc)
        expect(took < NAMES_WAIT + 3, "took %.1f s to stop" % took)
        d.check_sanitizers()
        r = auth.outcome(5)
        expect(r.get("error") is not None, "the waiting login was let in: %r" % r)
        itest.wait_log("still running; not waiting for them", path=d.log)
        print("# stopped %.1f s after SIGTERM; the login got %s" % (took, r.get("error")))


def set_rules(path, text):
    with open(path, "w") as f:
        f.write(text)


def case_kept_answers_during_nss_outage():
    """NSS failing or hanging for a user it answered for before (an LDAP or
    SSSD server down): the previous answer stands (at most
    LOCALNAMES_HOLD_USEC old), so the user still logs in, after at most
    LOCALNAMES_STALE_AFTER_USEC when the lookup hangs.  A user NSS never
    answered for is still refused (fail closed)."""
    ttl = 2.2   # neostrad/localnames.h LOCALNAMES_TTL_USEC, and a margin
    with daemon("outage") as (d, rules, sock, usock):
        login_ok(sock, "alice")
        set_rules(rules, "name alice fail\nname bob fail\n")
        time.sleep(ttl)
        login_ok(sock, "alice")
        n = lookups(sock)
        expect(n["failed"] >= 1, "no failed lookup counted: %s" % n)
        expect_error(itest.authenticate("bob", "bob-pw", path=sock), UNAVAILABLE, "bob, never looked up")

        set_rules(rules, "name alice %d\n" % (SLOW_MS + 2000))
        time.sleep(ttl)
        login_ok(sock, "alice")
        n = lookups(sock)
        expect(n["pending"] >= 1, "alice's login waited for the hung lookup: %s" % n)
        expect(n["staleCalls"] == 1, "staleCalls: %s" % n)
        itest.wait_log("going on with the answers they gave before", path=d.log)
        none_on_loop(d, sock)


if __name__ == "__main__":
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
