#!/usr/bin/python3
"""Cases of server-core.sh: neostrad's Varlink server core under abuse.

    NEOSTRA_TMP=... NEOSTRA_PIDS=... NEOSTRA_NEOSTRAD=... NEOSTRA_MOCK_URL=... \
    NEOSTRA_SOCK=... NEOSTRA_USERDB_SOCK=... NEOSTRA_DAEMON_LOG=... \
        server_core.py CASE...

Two groups of cases.

Pipelined input (pipelined_*).  A call the daemon answers inside its own
handler at once, with more bytes already buffered behind it in the same
write: garbage, a frame that is not a call object, an over-long message,
another valid call, or the same call 50 times, each followed by garbage;
and clients that read everything, that shut down their sending side right
after the write (then read, or close), or that close at once.  The replies must arrive whole and
in order, then one org.varlink.service.ProtocolError, then the close; the
daemon must still answer afterwards, exit 0 at SIGTERM and have no
sanitizer report in its log.  Each of these cases runs its own daemon
(itest.Daemon), so a crash fails that case only.

Connection limits (flood, root_reserve, lifetime), against the daemon
server-core.sh started ($NEOSTRA_SOCK, $NEOSTRA_USERDB_SOCK, the mock API):
ordinary uids that open hundreds of connections keep at most
VARLINK_SERVER_PEER_MAX per socket, root still logs in through the real PAM
module (build/tests/pamcheck, a PAM service in a private directory) within
a second, another uid is still served on both sockets, the refusals are
logged a handful of times and not once each, slots kept for root on the
auth socket, and a non-root connection closed at
VARLINK_SERVER_LIFETIME_USEC even while it keeps making calls.  The
limits come from neostrad/varlink-server.h through the environment
(server-core.sh reads them; defaults when the header does not have them).
"""

import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402
from itest import AUTH, expect  # noqa: E402

UDB = "io.systemd.UserDatabase."
PROTOCOL_ERROR = "org.varlink.service.ProtocolError"
MESSAGE_MAX = 64 * 1024

CONNECTIONS_MAX = int(os.environ.get("NEOSTRA_CONNECTIONS_MAX", "256"))
PEER_MAX = int(os.environ.get("NEOSTRA_PEER_MAX", "32"))
ROOT_RESERVED = int(os.environ.get("NEOSTRA_ROOT_RESERVED", "32"))
IDLE_SEC = float(os.environ.get("NEOSTRA_IDLE_SEC", "10"))
LIFETIME_SEC = float(os.environ.get("NEOSTRA_LIFETIME_SEC", "30"))
ASAN = "asan" in os.environ.get("NEOSTRA_BUILD", "")

# The ordinary local accounts server-core.sh adds in its mount namespace.
PEER_UID = int(os.environ.get("NEOSTRA_PEER_UID", "4242"))
PEER2_UID = int(os.environ.get("NEOSTRA_PEER2_UID", "4243"))
# Uids without an account for the root-reserve case (the daemon counts by
# SO_PEERCRED uid; nothing it does for GetStatus needs a name).
RESERVE_UID_BASE = 4300

FLOOD = 600             # connections per socket from one ordinary uid
LOGIN_MAX_SEC = 1.0     # root's login next to a flood
LOG_LINES_MAX = 5       # "refusing a connection" lines for ~1,000 refusals


def frame(method, params=None, **extra):
    msg = {"method": method}
    if params is not None:
        msg["parameters"] = params
    msg.update(extra)
    return json.dumps(msg, separators=(",", ":")).encode() + b"\0"


def first_lines(text, marks, n=6):
    """The sanitizer report's first lines (or the log's tail) for a message."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in marks):
            return "\n".join(lines[i:i + n])
    return "\n".join(lines[-n:])


# ---- pipelined input: a daemon per case ----------------------------------------------

class CaseDaemon:
    """A neostrad of this case's own, its sockets and cache under
    $NEOSTRA_TMP/CASE; the [api] url is the mock or a dead port."""

    def __init__(self, name, api_url):
        self.dir = os.path.join(itest.env("NEOSTRA_TMP"), name)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        cache = os.path.join(self.dir, "cache")
        os.makedirs(cache, mode=0o700, exist_ok=True)
        self.sock = os.path.join(self.dir, "auth.sock")
        self.usock = os.path.join(self.dir, "userdb.sock")
        self.log = os.path.join(self.dir, "neostrad.log")
        conf = os.path.join(self.dir, "neostrad.conf")
        with open(conf, "w") as f:
            f.write("[api]\nurl = %s\ntimeout = 2s\nconnect_timeout = 1s\n\n"
                    "[users]\nemail_template = %%u@example.com\nexclude = excluded\n"
                    "local_accounts = neostra-peer neostra-peer2\n\n"
                    "[identities]\nuserdb = yes\nuid_min = 300000\nuid_max = 309999\n"
                    "first_login = no\n\n"
                    "[cache]\ndirectory = %s\n\n"
                    "[daemon]\nuser = root\nsocket = %s\nuserdb_socket = %s\n"
                    % (api_url, cache, self.sock, self.usock))
        environ = {}
        if not ASAN:
            # The plain build has no ASan to see a freed connection being
            # used: glibc fills freed blocks with a pattern instead (no
            # per-thread cache, which would keep a block's old contents),
            # so such a use is likely to crash rather than pass unseen.
            environ = {"MALLOC_PERTURB_": "165", "GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}
        self.daemon = itest.Daemon(conf, self.log, args=("--debug",), environ=environ)
        try:
            varlink.wait_ready(self.sock, 15.0)
        except TimeoutError:
            self.daemon.kill()
            raise AssertionError("neostrad did not start:\n%s" % self.daemon.text()[-1500:])

    def path(self, which):
        return self.sock if which == "auth" else self.usock

    def alive(self, what):
        """The daemon still answers on both sockets."""
        if not self.daemon.alive():
            raise AssertionError("%s: neostrad died (exit %s):\n%s"
                                 % (what, self.daemon.proc.poll(),
                                    first_lines(self.daemon.text(), itest.SANITIZER_MARKS, 12)))
        try:
            st = varlink.call(self.sock, AUTH + "GetStatus", timeout=5.0)
            info = varlink.call(self.usock, "org.varlink.service.GetInfo", timeout=5.0)
        except (OSError, varlink.Closed, TimeoutError, ValueError) as e:
            # Dying, most likely: say how it ended.
            try:
                rc = "exit status %s" % self.daemon.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                rc = "still running"
            raise AssertionError("%s: neostrad does not answer (%s: %s; %s):\n%s"
                                 % (what, e.__class__.__name__, e, rc,
                                    first_lines(self.daemon.text(), itest.SANITIZER_MARKS, 12)))
        expect("error" not in st and "error" not in info, "%s: GetStatus %r, GetInfo %r" % (what, st, info))

    def finish(self):
        """Exit 0 at SIGTERM and no sanitizer report in the log."""
        rc = self.daemon.stop(15.0)
        text = self.daemon.text()
        for mark in itest.SANITIZER_MARKS:
            expect(mark not in text, "sanitizer report in %s:\n%s"
                   % (self.log, first_lines(text, itest.SANITIZER_MARKS, 12)))
        expect(rc == 0, "neostrad exited %s at SIGTERM:\n%s" % (rc, text[-1500:]))

    def kill(self):
        self.daemon.kill()


def is_error(name):
    def check(reply):
        return reply.get("error") == name
    check.what = name
    return check


def is_info(reply):
    return "error" not in reply and isinstance(reply.get("parameters", {}).get("interfaces"), list)


is_info.what = "a GetInfo reply"

GARBAGE = b"garbage\0"
# The valid call put between the immediate one and the garbage: both
# sockets have it.
INFO = frame("org.varlink.service.GetInfo")


def trailers():
    """(name, the bytes behind the call(s), how many times the call is
    sent, checks of the replies due after the call's own and before the
    ProtocolError)."""
    long_msg = b'{"method":"' + b"x" * (MESSAGE_MAX + 16) + b'"}\0'
    return [
        ("garbage", GARBAGE, 1, []),
        ("a frame that is not an object ([1])", b"[1]\0", 1, []),
        ("a call object without a method", b'{"parameters":{}}\0', 1, []),
        ("an over-long message", long_msg, 1, []),
        ("a valid call, then garbage", INFO + GARBAGE, 1, [is_info]),
        ("the call 50 times, then garbage", GARBAGE, 50, []),
    ]


def read_replies(c, n, what):
    out = []
    for i in range(n):
        try:
            out.append(c.receive(5.0))
        except varlink.Closed:
            raise AssertionError("%s: the connection closed after %d of %d replies" % (what, i, n))
        except TimeoutError:
            raise AssertionError("%s: reply %d of %d did not come within 5 s" % (what, i + 1, n))
        except ValueError as e:
            raise AssertionError("%s: reply %d is not a JSON object: %s" % (what, i + 1, e))
    return out


def one_variant(d, which, call, check, trailer, mode):
    """One connection: the call (`count` times) and the trailer in ONE
    write; then read everything (mode "read"), shut down the sending side
    and read everything ("shut_wr"), close at once ("close"), or shut down
    the sending side and close at once ("shut_wr_close")."""
    tname, tail, count, after = trailer
    what = "%s + %s (%s)" % (check.what, tname, mode)
    c = varlink.Connection(d.path(which), 5.0)
    try:
        try:
            c.send_raw(call * count + tail)     # one sendall
        except varlink.Closed:
            if mode.endswith("close") or tname == "an over-long message":
                pass    # the daemon may close before taking the rest
            else:
                raise AssertionError("%s: closed while sending" % what)
        if mode.startswith("shut_wr"):
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass    # already reset by the daemon
        if mode.endswith("close"):
            return
        checks = [check] * count + after
        replies = read_replies(c, len(checks) + 1, what)
        for i, (reply, ok) in enumerate(zip(replies, checks)):
            expect(ok(reply), "%s: reply %d is not %s: %s" % (what, i + 1, ok.what, json.dumps(reply)[:300]))
        last = replies[-1]
        expect(last.get("error") == PROTOCOL_ERROR,
               "%s: expected %s after the replies, got %s" % (what, PROTOCOL_ERROR, json.dumps(last)[:300]))
        expect(c.wait_closed(3.0), "%s: the connection is still open 3 s after the ProtocolError" % what)
        expect(c.buf == b"", "%s: bytes after the ProtocolError: %r" % (what, c.buf[:200]))
    finally:
        c.close()


def pipelined(name, which, call, error, api_url=None, setup=None):
    d = CaseDaemon(name, api_url or itest.mock_url())
    try:
        if setup:
            setup(d)
        check = is_error(error)
        # The immediate answer alone first: the case tests what it means to.
        with varlink.Connection(d.path(which), 5.0) as c:
            c.send_raw(call)
            reply = c.receive(5.0)
            expect(check(reply), "%s alone: expected %s, got %s" % (name, error, json.dumps(reply)[:300]))
        for trailer in trailers():
            for mode in ("read", "shut_wr", "close", "shut_wr_close"):
                one_variant(d, which, call, check, trailer, mode)
                d.alive("after %s + %s (%s)" % (error, trailer[0], mode))
        d.finish()
    except BaseException:
        d.kill()
        raise


def auth_call(user, password):
    return frame(AUTH + "Authenticate", {"user": user, "password": password})


def case_pipelined_excluded():
    """[users] exclude: NotOurUser, decided before any lookup."""
    pipelined("excluded", "auth", auth_call("excluded", "some-password"), AUTH + "NotOurUser")


def case_pipelined_local_account():
    """A local system account: NotOurUser once the NSS answers are in."""
    pipelined("local-account", "auth", auth_call("daemon", "some-password"), AUTH + "NotOurUser")


def case_pipelined_empty_password():
    pipelined("empty-password", "auth", auth_call("alice", ""), AUTH + "AuthenticationFailed")


def case_pipelined_no_email():
    """A name that maps to no valid email (two @): UserUnknown."""
    pipelined("no-email", "auth", auth_call("bad@@name", "some-password"), AUTH + "UserUnknown")


def case_pipelined_user_held():
    """The API asked to leave the user alone (a 429 with Retry-After for
    them) and no verifier can answer: the login is answered
    ServiceUnavailable from inside login_start(), at once."""
    def hold(d):
        itest.mock_config(status=429, retry_after=600)
        try:
            reply = varlink.call(d.sock, AUTH + "Authenticate", {"user": "alice", "password": "pw"}, timeout=5.0)
        finally:
            itest.mock_config(status=None, retry_after=None)
        expect(reply.get("error") == AUTH + "ServiceUnavailable", "the 429: %r" % reply)
    pipelined("user-held", "auth", auth_call("alice", "some-password"), AUTH + "ServiceUnavailable",
              setup=hold)


def case_pipelined_userdb_unknown_name():
    pipelined("userdb-name", "userdb",
              frame(UDB + "GetUserRecord", {"userName": "nobody-here", "service": "io.neostra"}),
              UDB + "NoRecordFound")


def case_pipelined_userdb_unknown_uid():
    pipelined("userdb-uid", "userdb",
              frame(UDB + "GetUserRecord", {"uid": 4123456, "service": "io.neostra"}),
              UDB + "NoRecordFound")


def case_pipelined_userdb_memberships():
    """GetMemberships with "more" of a name nobody has: NoRecordFound."""
    pipelined("userdb-memberships", "userdb",
              frame(UDB + "GetMemberships", {"userName": "nobody-here", "service": "io.neostra"}, more=True),
              UDB + "NoRecordFound")


# ---- connection limits: the shell's daemon --------------------------------------------

# A child that runs as an ordinary uid (SO_PEERCRED is taken at connect)
# and holds connections.  Its code is given on the command line, so it
# reads nothing of ours.  Commands on stdin, one answer line each:
#   open PATH N   -> "opened K"     N blocking connects (K succeeded)
#   count         -> JSON {PATH: {"open": n, "closed": n, "data": n}}
#                    (closed: EOF, reset; data: bytes came, no reply is due)
#   exit          -> closes everything and exits 0
HOLDER = r"""
import json, os, select, socket, sys
conns = []
def answer(x):
    sys.stdout.write(x + "\n")
    sys.stdout.flush()
for line in sys.stdin:
    cmd = line.split()
    if not cmd:
        continue
    if cmd[0] == "open":
        path, n, k = cmd[1], int(cmd[2]), 0
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
            except OSError:
                s.close()
                continue
            conns.append((path, s))
            k += 1
        answer("opened %d" % k)
    elif cmd[0] == "count":
        out = {}
        for path, s in conns:
            o = out.setdefault(path, {"open": 0, "closed": 0, "data": 0})
            # poll, not select: these fds are far above FD_SETSIZE.
            p = select.poll()
            p.register(s, select.POLLIN)
            if not p.poll(0):
                o["open"] += 1
                continue
            try:
                d = s.recv(65536, socket.MSG_DONTWAIT)
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            except BlockingIOError:
                o["open"] += 1
                continue
            o["closed" if not d else "data"] += 1
        answer(json.dumps(out))
    elif cmd[0] == "exit":
        break
for _, s in conns:
    s.close()
answer("bye")
"""


class Holder:
    """The HOLDER child as uid; every answer has a deadline."""

    def __init__(self, uid):
        self.uid = uid
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER], user=uid, group=uid, extra_groups=[],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd="/", text=True, bufsize=1)

    def ask(self, line, timeout=60.0):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        expect(r, "the uid %d client did not answer %r within %.0f s" % (self.uid, line, timeout))
        out = self.proc.stdout.readline().strip()
        if not out:
            try:
                self.proc.wait(5.0)
                why = self.proc.stderr.read()[-500:]
            except subprocess.TimeoutExpired:
                why = "(no output, still running)"
            raise AssertionError("the uid %d client gave no answer to %r: %s" % (self.uid, line, why))
        return out

    def open(self, path, n):
        return int(self.ask("open %s %d" % (path, n)).split()[1])

    def count(self):
        return json.loads(self.ask("count"))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.ask("exit", 20.0)
            except (AssertionError, OSError):
                pass
        try:
            self.proc.wait(10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def sync_accepts(path):
    """A call from root on a new connection to path: once it is answered
    (or closed), the daemon has accepted, in order, every connection made
    before it (the listen queue is FIFO and a refusal closes at once).
    Returns the reply, or None when the daemon closed this one too."""
    method = AUTH + "GetStatus" if path == itest.sock() else "org.varlink.service.GetInfo"
    try:
        return varlink.call(path, method, timeout=15.0)
    except varlink.Closed:
        return None


def log_size():
    return os.path.getsize(itest.daemon_log())


def log_since(offset):
    with open(itest.daemon_log(), "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def pam_login():
    """Root's login through the real module (pamcheck, the PAM service
    server-core.sh wrote): (ok, seconds, output)."""
    env = dict(os.environ, PAMCHECK_PASSWORD=itest.env("NEOSTRA_LOGIN_PASSWORD"))
    started = time.monotonic()
    r = subprocess.run([itest.env("NEOSTRA_PAMCHECK"), "-d", itest.env("NEOSTRA_PAM_DIR"),
                        "srv", itest.env("NEOSTRA_LOGIN_USER")],
                       env=env, capture_output=True, text=True, timeout=30, cwd="/")
    took = time.monotonic() - started
    return r.returncode == 0, took, (r.stdout + r.stderr).strip()


# Calls as another ordinary uid, each on a fresh connection: the replies
# or what went wrong, as JSON.
PEER_CALLS = r"""
import json, socket, sys
out = []
for path, method, params in json.loads(sys.argv[1]):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
        buf = b""
        while b"\0" not in buf:
            d = s.recv(65536)
            if not d:
                raise ConnectionResetError("closed without a reply")
            buf += d
        out.append(json.loads(buf.split(b"\0", 1)[0]))
    except (OSError, ValueError) as e:
        out.append({"failed": "%s: %s" % (e.__class__.__name__, e)})
    finally:
        s.close()
print(json.dumps(out))
"""


def calls_as(uid, calls):
    r = subprocess.run([sys.executable, "-c", PEER_CALLS, json.dumps(calls)], user=uid, group=uid,
                       extra_groups=[], capture_output=True, text=True, timeout=60, cwd="/")
    expect(r.returncode == 0, "client as uid %d failed: %s" % (uid, r.stderr.strip()[-500:]))
    return json.loads(r.stdout)


def wait_drained():
    """The daemon has seen every held connection go (GetStatus counts
    only the asking one), so the next case starts from none."""
    def drained():
        n = itest.status().get("connections")
        return not isinstance(n, int) or n <= 1
    itest.poll(drained, 10.0, what="the held connections to be gone")


def case_flood():
    """One ordinary uid opens FLOOD connections on each socket and holds
    them: it keeps at most PEER_MAX per socket, the rest are closed at once
    without a reply; root still logs in through PAM within a second;
    another uid is still answered on both sockets; the refusals are logged
    with the uid, a handful of times at most."""
    sock, usock = itest.sock(), itest.env("NEOSTRA_USERDB_SOCK")
    offset = log_size()
    holder = Holder(PEER_UID)
    try:
        started = time.monotonic()
        for path in (sock, usock):
            k = holder.open(path, FLOOD)
            expect(k == FLOOD, "uid %d connected only %d of %d times to %s" % (PEER_UID, k, FLOOD, path))
        opened = time.monotonic() - started
        for path in (sock, usock):
            sync_accepts(path)
        counts = holder.count()
        print("# uid %d, %d connections per socket opened in %.1f s: auth %s, userdb %s"
              % (PEER_UID, FLOOD, opened, counts.get(sock), counts.get(usock)))
        # What follows must happen while the held ones are still open
        # (well inside the idle deadline).
        ok, took, out = pam_login()
        other = calls_as(PEER2_UID, [[sock, AUTH + "GetStatus", {}],
                                     [usock, UDB + "GetUserRecord",
                                      {"userName": itest.env("NEOSTRA_LOGIN_USER"), "service": "io.neostra"}]])
        held_for = time.monotonic() - started
        still = holder.count()
    finally:
        holder.close()
    problems = []
    for label, path in (("auth", sock), ("userdb", usock)):
        c = counts.get(path, {})
        if not 1 <= c.get("open", 0) <= PEER_MAX:
            problems.append("%s socket: uid %d holds %d connections (1..%d expected)"
                            % (label, PEER_UID, c.get("open", 0), PEER_MAX))
        if c.get("data"):
            problems.append("%s socket: %d refused connections got bytes (no reply is due)" % (label, c["data"]))
    if not ok:
        problems.append("root's PAM login failed next to the flood:\n  | %s" % out.replace("\n", "\n  | "))
    elif took > LOGIN_MAX_SEC:
        problems.append("root's PAM login took %.2f s next to the flood (%.1f s allowed)" % (took, LOGIN_MAX_SEC))
    st, rec = other
    if "error" in st or "failed" in st:
        problems.append("uid %d GetStatus next to the flood: %s" % (PEER2_UID, json.dumps(st)[:300]))
    if "failed" in rec or rec.get("error") not in (None, UDB + "NoRecordFound"):
        problems.append("uid %d userdb GetUserRecord next to the flood: %s" % (PEER2_UID, json.dumps(rec)[:300]))
    elif ok and "error" in rec:
        problems.append("uid %d: the user root just signed in is not in userdb: %s"
                        % (PEER2_UID, json.dumps(rec)[:300]))
    # The held connections really were held while all that happened
    # (else the login above proves nothing).
    for label, path in (("auth", sock), ("userdb", usock)):
        before, after = counts.get(path, {}).get("open", 0), still.get(path, {}).get("open", 0)
        if after != before:
            problems.append("%s socket: %d of the %d held connections were closed within %.1f s "
                            "(the idle deadline is %.0f s)" % (label, before - after, before, held_for, IDLE_SEC))
    lines = [l for l in log_since(offset).splitlines() if "refusing a connection" in l]
    if not 1 <= len(lines) <= LOG_LINES_MAX:
        problems.append("%d 'refusing a connection' lines in the log for ~%d refusals (1..%d expected)%s"
                        % (len(lines), 2 * FLOOD - 2 * PEER_MAX, LOG_LINES_MAX,
                           "; first: " + lines[0] if lines else ""))
    # The message, not the "neostrad[PID]: <level>" in front of it.
    if not any(re.search(r"\b%d\b" % PEER_UID, l.split("> ", 1)[-1]) for l in lines):
        problems.append("no 'refusing a connection' line names uid %d%s"
                        % (PEER_UID, ": " + lines[0] if lines else ""))
    expect(not problems, "\n".join(problems))
    print("# root's PAM login next to the flood: %.2f s; uid %d answered on both sockets; %d log line(s): %s"
          % (took, PEER2_UID, len(lines), lines[0].split("> ", 1)[-1] if lines else ""))
    wait_drained()


def case_root_reserve():
    """Enough ordinary uids to fill every slot of each socket, each up to
    PEER_MAX: together they get no more than CONNECTIONS_MAX -
    ROOT_RESERVED on either, root still logs in, and root's userdb lookups
    (sshd's, before PAM runs) are still answered."""
    sock, usock = itest.sock(), itest.env("NEOSTRA_USERDB_SOCK")
    n_uids = (CONNECTIONS_MAX + PEER_MAX - 1) // PEER_MAX + 1
    holders = []
    kept = {}
    try:
        for i in range(n_uids):
            h = Holder(RESERVE_UID_BASE + i)
            holders.append(h)
            h.open(sock, PEER_MAX + 4)
            h.open(usock, PEER_MAX + 4)
        sync_accepts(sock)
        sync_accepts(usock)
        counts = [h.count() for h in holders]
        kept = {path: [c.get(path, {}).get("open", 0) for c in counts] for path in (sock, usock)}
        ok, took, out = pam_login()
        st = sync_accepts(sock)
        try:
            rec = varlink.call(usock, UDB + "GetUserRecord", {"userName": "nobody-here", "service": "io.neostra"},
                               timeout=5.0)
        except (OSError, varlink.Closed) as e:
            rec = {"exception": repr(e)}
    finally:
        for h in holders:
            h.close()
    problems = []
    for path, name in ((sock, "auth"), (usock, "userdb")):
        total = sum(kept.get(path, [0]))
        print("# %s socket: %d uids × %d connections: kept %s (%d in all)"
              % (name, n_uids, PEER_MAX + 4, kept.get(path), total))
        if max(kept.get(path, [0])) > PEER_MAX:
            problems.append("a uid holds %d connections on the %s socket (at most %d)"
                            % (max(kept[path]), name, PEER_MAX))
        if total > CONNECTIONS_MAX - ROOT_RESERVED:
            problems.append("ordinary uids hold %d of the %s socket's %d slots (at most %d: %d are root's)"
                            % (total, name, CONNECTIONS_MAX, CONNECTIONS_MAX - ROOT_RESERVED, ROOT_RESERVED))
    if not ok:
        problems.append("root's PAM login failed with the ordinary slots full:\n  | %s"
                        % out.replace("\n", "\n  | "))
    elif took > LOGIN_MAX_SEC:
        problems.append("root's PAM login took %.2f s with the ordinary slots full" % took)
    if st is None or "error" in st:
        problems.append("root's GetStatus with the ordinary slots full: %r" % (st,))
    # Answered: a record (first_login's provisional one) or NoRecordFound.
    if "exception" in rec or rec.get("error", UDB + "NoRecordFound") != UDB + "NoRecordFound":
        problems.append("root's userdb lookup with the ordinary slots full: %r" % (rec,))
    expect(not problems, "\n".join(problems))
    wait_drained()


# An ordinary uid's connection kept busy: a call every 2 s until the
# daemon closes it or `limit` seconds pass; prints {"closed_after": s or
# null, "calls": n, "error": ...}.
BUSY = r"""
import json, select, socket, sys, time
path, method, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(path)
started = time.monotonic()
calls, closed, error = 0, None, None
try:
    while time.monotonic() - started < limit:
        s.sendall(json.dumps({"method": method}).encode() + b"\0")
        buf = b""
        while b"\0" not in buf:
            d = s.recv(65536)
            if not d:
                raise ConnectionResetError("EOF")
            buf += d
        calls += 1
        # Wait 2 s between calls, but notice a close at once.
        r, _, _ = select.select([s], [], [], 2.0)
        if r and not s.recv(1, socket.MSG_PEEK):
            raise ConnectionResetError("EOF")
except (ConnectionResetError, BrokenPipeError) as e:
    closed = time.monotonic() - started
except OSError as e:
    error = "%s: %s" % (e.__class__.__name__, e)
print(json.dumps({"closed_after": closed, "calls": calls, "error": error}))
"""


def case_lifetime():
    """A non-root connection that makes a call every 2 s is closed once it
    is LIFETIME_SEC old (on both sockets); root's, doing the same, is not."""
    limit = LIFETIME_SEC + 8.0
    sock, usock = itest.sock(), itest.env("NEOSTRA_USERDB_SOCK")
    results = {}

    def busy_as(label, path, method):
        r = subprocess.run([sys.executable, "-c", BUSY, path, method, str(limit)], user=PEER_UID,
                           group=PEER_UID, extra_groups=[], capture_output=True, text=True,
                           timeout=limit + 30, cwd="/")
        try:
            results[label] = json.loads(r.stdout)
        except ValueError:
            results[label] = {"error": "client failed: %s" % r.stderr.strip()[-300:]}

    def busy_root():
        calls, error = 0, None
        started = time.monotonic()
        try:
            with varlink.Connection(sock, 5.0) as c:
                while time.monotonic() - started < LIFETIME_SEC + 3.0:
                    reply = c.call(AUTH + "GetStatus")
                    if "error" in reply:
                        raise ValueError(json.dumps(reply)[:200])
                    calls += 1
                    if c.wait_closed(2.0):
                        raise varlink.Closed("EOF")
        except (OSError, varlink.Closed, TimeoutError, ValueError) as e:
            error = "after %.1f s: %s: %s" % (time.monotonic() - started, e.__class__.__name__, e)
        results["root"] = {"calls": calls, "error": error}

    threads = [threading.Thread(target=busy_as, args=("auth", sock, AUTH + "GetStatus")),
               threading.Thread(target=busy_as, args=("userdb", usock, "org.varlink.service.GetInfo")),
               threading.Thread(target=busy_root)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(limit + 40)
    print("# lifetime %.0f s: %s" % (LIFETIME_SEC, json.dumps(results, sort_keys=True)))
    problems = []
    for label in ("auth", "userdb"):
        r = results.get(label, {})
        after = r.get("closed_after")
        if r.get("error"):
            problems.append("uid %d on the %s socket: %s" % (PEER_UID, label, r["error"]))
        elif after is None:
            problems.append("uid %d's busy connection on the %s socket still open after %.0f s (%d calls); "
                            "the lifetime is %.0f s" % (PEER_UID, label, limit, r.get("calls", 0), LIFETIME_SEC))
        elif not LIFETIME_SEC - 1.0 <= after <= LIFETIME_SEC + 5.0:
            problems.append("uid %d's busy connection on the %s socket closed after %.1f s; the lifetime is %.0f s"
                            % (PEER_UID, label, after, LIFETIME_SEC))
    r = results.get("root", {})
    if r.get("error"):
        problems.append("root's busy connection: %s" % r["error"])
    expect(not problems, "\n".join(problems))


if __name__ == "__main__":
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
