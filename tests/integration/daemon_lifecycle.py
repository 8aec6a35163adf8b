#!/usr/bin/python3
"""Cases of daemon-lifecycle.sh: start, reload, stop, sockets, secrets.

    daemon_lifecycle.py users      print the mock's users file
    NEOSTRA_TMP=DIR NEOSTRA_MOCK_URL=... NEOSTRA_NEOSTRAD=... \
    [NEOSTRA_PIDS=FILE] [NEOSTRA_TOP=... NEOSTRA_BUILD=...] \
        daemon_lifecycle.py CASE...

Every case starts its own neostrad (itest.Daemon), in a directory of its
own under NEOSTRA_TMP, and stops it before it returns.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402
from itest import expect, expect_error  # noqa: E402

AUTH = "io.neostra.Auth."


def canary():
    """The canary password (tests/lib.sh nt_canary_new), read from the file
    $NEOSTRA_CANARY_FILE: it never goes on a command line or into an
    environment."""
    path = os.environ.get("NEOSTRA_CANARY_FILE")
    if not path:
        return "NEOSTRA-CANARY-0000notarealcanary0000"
    with open(path) as f:
        return f.read().strip()


def users():
    return {"users": {
        "alice@example.com": {"password": "alice-pw", "roles": ["dev", "admin"]},
        "bob@example.com": {"password": "bob-pw", "roles": ["dev"]},
        "canary@example.com": {"password": canary(), "roles": ["dev"]},
    }}


def workdir(name):
    d = os.path.join(itest.env("NEOSTRA_TMP"), name)
    os.makedirs(d, exist_ok=True)
    return d


def start(name, args=(), env=None, wrapper=(), **sections):
    """Config and daemon in workdir(name); waits until it answers."""
    d = workdir(name)
    sock = os.path.join(d, "auth.sock")
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), sock, **sections)
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"), args=args, environ=env,
                          wrapper=wrapper)
    daemon.sock = sock
    daemon.dir = d
    try:
        varlink.wait_ready(sock, 10.0)
    except Exception:
        daemon.kill()
        raise AssertionError("neostrad did not come up; log:\n" + daemon.text()[-2000:])
    return daemon


def login(daemon, user, password, timeout=10.0):
    return itest.authenticate(user, password, timeout=timeout, path=daemon.sock)


def check_account(daemon, user):
    return itest.call("CheckAccount", {"user": user}, path=daemon.sock)


def run_test_config(conf):
    return subprocess.run([itest.env("NEOSTRA_NEOSTRAD"), "--test-config", "-c", conf],
                          capture_output=True, text=True, timeout=10, env=itest.daemon_env())


class NotifyListener:
    """The NOTIFY_SOCKET end systemd would hold: an AF_UNIX datagram
    socket owned by this process, read by a thread."""

    def __init__(self, path):
        self.path = path
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.extend(m for m in data.decode(errors="replace").split("\n") if m)

    def all(self):
        with self.lock:
            return list(self.messages)

    def wait_for(self, prefix, count=1, timeout=5.0):
        return itest.poll(lambda: len([m for m in self.all() if m.startswith(prefix)]) >= count,
                          timeout, what="%d× %r from sd_notify (got %r)" % (count, prefix, self.all()))

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


# ---- cases ------------------------------------------------------------------------

def case_test_config():
    d = workdir("test-config")
    good = itest.write_config(os.path.join(d, "good.conf"), os.path.join(d, "a.sock"))
    r = run_test_config(good)
    expect(r.returncode == 0, "--test-config refused a good config: %s" % r.stderr)
    expect("ok" in r.stdout, "--test-config says %r" % r.stdout)

    bad = [
        # (text, line the message must name)
        ("[api]\nurl = http://127.0.0.1:1\nbogus_key = 1\n", 3),
        ("[api]\nurl = http://127.0.0.1:1\n[nosuchsection]\nx = 1\n", 3),
        ("[api]\nurl = http://127.0.0.1:1\ntimeout = soon\n", 3),
        ("[api]\nurl = http://127.0.0.1:1\ntimeout = 60s\n", 3),
        ("# comment\n[api]\nurl = http://127.0.0.1:1\nurl = http://127.0.0.1:2\n", 4),
        ("[api]\nurl = http://127.0.0.1:1\n[users]\nminimum_uid = -5\n", 4),
        ("[api]\nurl = http://127.0.0.1:1\nthis line has no equals sign\n", 3),
    ]
    for text, line in bad:
        conf = os.path.join(d, "bad.conf")
        with open(conf, "w") as f:
            f.write(text)
        r = run_test_config(conf)
        expect(r.returncode != 0, "--test-config accepted:\n%s" % text)
        expect("%s:%d:" % (conf, line) in r.stderr,
               "message does not name %s:%d for:\n%s\ngot: %r" % (conf, line, text, r.stderr))
    # A bad drop-in is named too.
    os.makedirs(good + ".d", exist_ok=True)
    dropin = os.path.join(good + ".d", "50-bad.conf")
    with open(dropin, "w") as f:
        f.write("[access]\n\nallow_roles = admin\nfrobnicate = yes\n")
    try:
        r = run_test_config(good)
        expect(r.returncode != 0 and "%s:4:" % dropin in r.stderr,
               "bad drop-in: rc %d, %r" % (r.returncode, r.stderr))
    finally:
        os.unlink(dropin)
    # No url at all is valid but "not configured" (the shipped config is
    # like that); a file that does not exist is an error.
    conf = os.path.join(d, "empty.conf")
    open(conf, "w").close()
    r = run_test_config(conf)
    # Its only findings: not configured yet (a warning) and, on a host
    # without the packages' user, the default [daemon] user (an error).
    try:
        pwd.getpwnam("neostra")
        want_rc = 0
    except KeyError:
        want_rc = 1
        expect("error: [daemon] user 'neostra' does not exist" in r.stderr,
               "empty config, no user neostra: %r" % r.stderr)
    expect(r.returncode == want_rc and "warning [unconfigured]: not configured yet" in r.stderr
           and r.stderr.count("error:") == want_rc,
           "empty config: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    r = run_test_config(os.path.join(d, "missing.conf"))
    expect(r.returncode != 0 and "missing.conf" in r.stderr,
           "missing config: %d %r" % (r.returncode, r.stderr))


def case_unconfigured():
    """No [api] url: the daemon starts, says "unconfigured", answers every
    login "unavailable" at once without any request (not even from a
    verifier an earlier configuration left), and a reload with a url brings
    it into service."""
    daemon = start("unconfigured")
    try:
        expect(login(daemon, "alice", "alice-pw").get("error") is None, "alice's first login failed")
        text = open(daemon.config).read()
        with open(daemon.config, "w") as f:
            f.write(re.sub(r"(?m)^url = .*\n", "", text))
        daemon.signal(signal.SIGHUP)
        itest.wait_log("configuration reloaded", path=daemon.log)
        st = itest.status(daemon.sock)
        expect(st["state"] == "unconfigured", "state: %r" % st)
        before = itest.mock_stats()["signins"]
        started = time.monotonic()
        reply = login(daemon, "alice", "alice-pw")
        expect(reply.get("error") == AUTH + "ServiceUnavailable", "unconfigured login: %r" % reply)
        expect("not configured" in json.dumps(reply), "the reason does not say why: %r" % reply)
        expect(time.monotonic() - started < 1.0, "the answer was not immediate")
        expect(itest.mock_stats()["signins"] == before, "the API was asked while unconfigured")
        itest.wait_log("[api] url is not set", path=daemon.log)
        # alice's roles are cached from before: still nothing is decided.
        reply = check_account(daemon, "alice")
        expect(reply.get("error") == AUTH + "ServiceUnavailable", "unconfigured CheckAccount: %r" % reply)

        with open(daemon.config, "w") as f:
            f.write(text)
        daemon.signal(signal.SIGHUP)
        itest.wait_log("configuration reloaded", count=2, path=daemon.log)
        expect(itest.status(daemon.sock)["state"] != "unconfigured", "still unconfigured")
        expect(login(daemon, "alice", "alice-pw").get("error") is None, "login after the url came back")
        daemon.stop_clean()
    finally:
        daemon.kill()


def case_not_dumpable():
    """The daemon refuses core dumps and ptrace by other processes of its
    user (PR_SET_DUMPABLE 0): started as an unprivileged user (nobody),
    its /proc/PID/status is owned by root, where a plain process of that user
    owns its own.  Started by hand, with its own sockets, it serves."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise itest.Skip("setpriv (util-linux) is not installed")
    # The suite's own directory is 0700: nobody needs a path it may walk.
    d = tempfile.mkdtemp(prefix="neostra-test-dumpable-")
    os.chmod(d, 0o755)
    run = os.path.join(d, "run")
    os.makedirs(run, exist_ok=True)
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), os.path.join(run, "auth.sock"))
    for path in (run, os.path.join(run, "cache")):
        os.chown(path, 65534, 65534)
    os.chmod(conf, 0o644)
    drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"), wrapper=drop)
    plain = subprocess.Popen(drop + ["sleep", "30"])
    try:
        varlink.wait_ready(os.path.join(run, "auth.sock"), 10.0)
        expect(os.stat("/proc/%d/status" % plain.pid).st_uid == 65534,
               "a plain process of nobody does not own its /proc/PID/status; the check proves nothing")
        expect(os.stat("/proc/%d/status" % daemon.pid).st_uid == 0,
               "neostrad's /proc entry is owned by uid %d: it is dumpable" % os.stat("/proc/%d/status" % daemon.pid).st_uid)
        st = itest.status(os.path.join(run, "auth.sock"))
        expect(st["state"] in ("unknown", "online"), "the daemon run by hand does not serve: %r" % st)
        daemon.stop_clean()
    finally:
        plain.kill()
        plain.wait()
        daemon.kill()
        shutil.rmtree(d, ignore_errors=True)


def case_version():
    r = subprocess.run([itest.env("NEOSTRA_NEOSTRAD"), "--version"], capture_output=True,
                       text=True, timeout=10, env=itest.daemon_env())
    expect(r.returncode == 0, "--version exited %d" % r.returncode)
    expect(re.fullmatch(r"neostrad \d+\.\d+(\.\d+)?\S*\n", r.stdout), "--version says %r" % r.stdout)
    r = subprocess.run([itest.env("NEOSTRA_NEOSTRAD"), "--no-such-option"], capture_output=True,
                       text=True, timeout=10, env=itest.daemon_env())
    expect(r.returncode != 0, "an unknown option was accepted")


def case_sd_notify():
    d = workdir("notify")
    listener = NotifyListener(os.path.join(d, "notify.sock"))
    daemon = None
    try:
        daemon = start("notify", env={"NOTIFY_SOCKET": listener.path})
        listener.wait_for("READY=1")
        listener.wait_for("STATUS=")
        expect(login(daemon, "bob", "bob-pw").get("error") is None, "login failed")
        # STATUS follows the counters.
        listener.wait_for("STATUS=", count=2)
        n_ready = len([m for m in listener.all() if m == "READY=1"])
        daemon.signal(signal.SIGHUP)
        listener.wait_for("RELOADING=1")
        listener.wait_for("READY=1", count=n_ready + 1)
        msgs = listener.all()
        expect(msgs.index("RELOADING=1") < len(msgs) - 1 - msgs[::-1].index("READY=1"),
               "READY=1 did not follow RELOADING=1: %r" % msgs)
        daemon.signal(signal.SIGTERM)
        listener.wait_for("STOPPING=1")
        rc = daemon.wait(5.0)
        expect(rc == 0, "exit status %d" % rc)
        daemon.check_sanitizers()
        status = [m for m in listener.all() if m.startswith("STATUS=")]
        expect(any("Stopping" in m for m in status), "no STATUS while stopping: %r" % status)
        expect(not any("bob-pw" in m for m in listener.all()), "password in sd_notify")
    finally:
        listener.close()
        if daemon:
            daemon.kill()


def case_watchdog():
    """With WATCHDOG_USEC set (WatchdogSec= in the unit) the loop sends
    WATCHDOG=1 at least every half interval, also while idle."""
    d = workdir("watchdog")
    listener = NotifyListener(os.path.join(d, "notify.sock"))
    daemon = None
    try:
        daemon = start("watchdog", env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"})
        listener.wait_for("READY=1")
        started = time.monotonic()
        listener.wait_for("WATCHDOG=1", count=4)
        took = time.monotonic() - started
        expect(took < 3.0, "4 WATCHDOG=1 took %.1f s with a 0.4 s watchdog" % took)
        daemon.signal(signal.SIGTERM)
        expect(daemon.wait(5.0) == 0, "exit status")
        daemon.check_sanitizers()
    finally:
        listener.close()
        if daemon:
            daemon.kill()


def unit_nice():
    """The Nice= of packaging/systemd/neostrad.service.in."""
    with open(os.path.join(itest.env("NEOSTRA_TOP"), "packaging/systemd/neostrad.service.in")) as f:
        for line in f:
            if line.startswith("Nice="):
                return int(line.split("=", 1)[1])
    raise AssertionError("neostrad.service.in has no Nice=")


def thread_nice(pid):
    """{tid: nice} of every thread of pid (field 19 of /proc/PID/task/TID/stat)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(tid)] = int(fields[16])
    return out


def case_thread_priorities():
    """Started at the unit's Nice= (as systemd starts it), the event loop
    keeps that priority and every worker thread (yescrypt, NSS lookups)
    runs at nice 10: heavy work never competes with the loop or the
    logins it serves."""
    nice = unit_nice()
    expect(nice < 0, "the unit's Nice= is %d, not a boost" % nice)
    daemon = start("priorities", wrapper=["nice", "-n", str(nice)])
    try:
        threads = thread_nice(daemon.pid)
        expect(threads.get(daemon.pid) == nice, "the loop thread's nice: %r" % threads)
        workers = {t: n for t, n in threads.items() if t != daemon.pid}
        # 2 yescrypt + 8 NSS threads (neostrad/manager.c, localnames.h);
        # an ASan build may add a thread of its own at the default nice.
        expect(sum(1 for n in workers.values() if n == 10) >= 10, "worker threads' nice: %r" % workers)
        expect(all(n in (10, nice) for n in workers.values()), "threads' nice: %r" % threads)
        daemon.stop_clean()
    finally:
        daemon.kill()


def case_reload():
    daemon = start("reload")
    try:
        for user, pw in (("alice", "alice-pw"), ("bob", "bob-pw")):
            expect(login(daemon, user, pw).get("error") is None, "login %s failed" % user)
        expect(check_account(daemon, "bob")["parameters"]["allowed"] is True, "bob not allowed at first")

        # A valid change takes effect.
        itest.write_config(daemon.config, daemon.sock, access="allow_roles = admin")
        daemon.signal(signal.SIGHUP)
        itest.wait_log("configuration reloaded", path=daemon.log)
        reply = check_account(daemon, "bob")
        expect(reply["parameters"]["allowed"] is False, "bob still allowed: %r" % reply)
        expect("dev" in reply["parameters"]["reason"], "reason does not name bob's roles: %r" % reply)
        expect(check_account(daemon, "alice")["parameters"]["allowed"] is True, "alice refused")

        # A drop-in counts on reload too.
        os.makedirs(daemon.config + ".d", exist_ok=True)
        with open(daemon.config + ".d/50-dev.conf", "w") as f:
            f.write("[access]\nallow_roles = dev\n")
        daemon.signal(signal.SIGHUP)
        itest.wait_log("configuration reloaded", count=2, path=daemon.log)
        expect(check_account(daemon, "bob")["parameters"]["allowed"] is True, "drop-in ignored")
        os.unlink(daemon.config + ".d/50-dev.conf")

        # An invalid one keeps the running configuration.
        itest.write_config(daemon.config, daemon.sock, access="allow_roles = admin")
        daemon.signal(signal.SIGHUP)
        itest.wait_log("configuration reloaded", count=3, path=daemon.log)
        with open(daemon.config, "a") as f:
            f.write("[api]\ntimeout = whenever\n")
        daemon.signal(signal.SIGHUP)
        itest.wait_log("keeping the running configuration", path=daemon.log)
        line = [l for l in daemon.text().splitlines() if "keeping the running configuration" in l][0]
        expect(re.search(re.escape(daemon.config) + r":\d+:", line), "reload error lacks file:line: %r" % line)
        expect(daemon.alive(), "daemon died on a bad reload")
        expect(login(daemon, "alice", "alice-pw").get("error") is None, "login after a bad reload")
        expect(check_account(daemon, "bob")["parameters"]["allowed"] is False,
               "the kept configuration is not the last good one")
        # A deleted file is just as bad.
        os.rename(daemon.config, daemon.config + ".away")
        daemon.signal(signal.SIGHUP)
        itest.wait_log("keeping the running configuration", count=2, path=daemon.log)
        os.rename(daemon.config + ".away", daemon.config)
        expect(login(daemon, "bob", "bob-pw").get("error") is None, "login after a missing config")
        daemon.stop_clean()
    finally:
        daemon.kill()


def case_reload_while_inflight():
    """SIGHUP while sign-ins wait on the API: they finish with what they
    started with, later ones use the new configuration."""
    itest.fresh_mock_only()
    daemon = start("reload-inflight")
    try:
        itest.mock_config(delay_ms=600)
        conns = [varlink.Connection(daemon.sock, 10.0) for _ in range(3)]
        for c in conns:
            c.send(AUTH + "Authenticate", {"user": "alice", "password": "alice-pw"})
        itest.poll(lambda: itest.status(daemon.sock)["pendingApiRequests"] == 3, 3.0,
                   what="three pending sign-ins")
        itest.write_config(daemon.config, daemon.sock, access="allow_roles = nobody-has-this",
                           api="timeout = 5s")
        daemon.signal(signal.SIGHUP)
        itest.wait_log("configuration reloaded", path=daemon.log)
        for c in conns:
            reply = c.receive(5.0)
            expect(reply.get("error") is None, "in-flight login across a reload: %r" % reply)
            c.close()
        expect(check_account(daemon, "alice")["parameters"]["allowed"] is False,
               "the new allow_roles is not in effect")
        daemon.stop_clean()
    finally:
        itest.mock_config(delay_ms=None)
        daemon.kill()


def case_sigterm_inflight():
    itest.fresh_mock_only()
    daemon = start("sigterm")
    try:
        itest.mock_config(delay_ms=1000)
        idle = varlink.Connection(daemon.sock)
        busy = varlink.Connection(daemon.sock, 10.0)
        busy.send(AUTH + "Authenticate", {"user": "alice", "password": "alice-pw"})
        itest.poll(lambda: itest.status(daemon.sock)["pendingApiRequests"] == 1, 3.0,
                   what="a pending sign-in")
        t0 = time.monotonic()
        daemon.signal(signal.SIGTERM)
        itest.wait_log("stopping:", path=daemon.log)
        # An idle connection is let go at once.
        expect(idle.wait_closed(1.0), "an idle connection stayed open while stopping")
        # New clients are not served any more.
        try:
            with varlink.Connection(daemon.sock, 3.0) as late:
                late.send(AUTH + "GetStatus")
                try:
                    reply = late.receive(3.0)
                    raise AssertionError("a new connection was served while stopping: %r" % reply)
                except (varlink.Closed, TimeoutError):
                    pass
        except (ConnectionRefusedError, FileNotFoundError):
            pass
        # The login in flight still gets its answer.
        reply = busy.receive(5.0)
        expect(reply.get("error") is None, "in-flight login answered %r" % reply)
        expect(busy.wait_closed(2.0), "connection not closed after the last answer")
        rc = daemon.wait(3.0)
        took = time.monotonic() - t0
        expect(rc == 0, "exit status %d" % rc)
        expect(took < 3.0, "exit %.1f s after SIGTERM (sign-in took 1 s)" % took)
        expect(not os.path.exists(daemon.sock), "socket it bound left behind")
        daemon.check_sanitizers()
        idle.close()
        busy.close()
    finally:
        itest.mock_config(delay_ms=None)
        daemon.kill()


def case_late_connect_while_stopping():
    """How fast a client that connects during the drain learns that the
    daemon is going (ideally at once: ECONNREFUSED)."""
    itest.fresh_mock_only()
    daemon = start("late")
    try:
        itest.mock_config(delay_ms=2000)
        busy = varlink.Connection(daemon.sock, 10.0)
        busy.send(AUTH + "Authenticate", {"user": "alice", "password": "alice-pw"})
        itest.poll(lambda: itest.status(daemon.sock)["pendingApiRequests"] == 1, 3.0,
                   what="a pending sign-in")
        daemon.signal(signal.SIGTERM)
        itest.wait_log("stopping:", path=daemon.log)
        t0 = time.monotonic()
        outcome = "served"
        try:
            with varlink.Connection(daemon.sock, 5.0) as late:
                late.send(AUTH + "GetStatus")
                try:
                    late.receive(5.0)
                except (varlink.Closed, TimeoutError) as e:
                    outcome = e.__class__.__name__
        except OSError as e:
            outcome = "refused (%s)" % e.__class__.__name__
        took = time.monotonic() - t0
        busy.receive(5.0)
        busy.close()
        expect(daemon.wait(5.0) == 0, "exit status")
        expect(outcome != "served", "served a new client while stopping")
        expect(took < 0.5, "a client connecting while the daemon drains waited %.1f s (%s) "
               "instead of being refused at once" % (took, outcome))
    finally:
        itest.mock_config(delay_ms=None)
        daemon.kill()


def case_socket_activation():
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        raise itest.Skip("systemd-socket-activate is not installed")
    d = workdir("activate")
    sock = os.path.join(d, "auth.sock")
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), sock)
    wrapper = [tool, "--fdname=auth", "-l", sock, "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS"]
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"), wrapper=wrapper)
    daemon.sock = sock
    try:
        itest.poll(lambda: os.path.exists(sock), 5.0, what="systemd-socket-activate listening")
        # The first connection starts neostrad (systemd-socket-activate
        # execs it in its own process, so the PID stays ours).
        varlink.wait_ready(sock, 10.0)
        expect(login(daemon, "alice", "alice-pw").get("error") is None, "login failed")
        itest.wait_log("socket from systemd", path=daemon.log)
        ino = os.stat(sock).st_ino
        daemon.stop_clean()
        expect(os.path.exists(sock) and os.stat(sock).st_ino == ino,
               "neostrad removed or replaced the socket systemd passed it")
    finally:
        daemon.kill()


def case_stale_socket():
    d = workdir("stale")
    sock = os.path.join(d, "auth.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)
    s.close()  # the file stays: what a crash leaves
    daemon = start("stale")
    try:
        expect(login(daemon, "bob", "bob-pw").get("error") is None, "login on a replaced socket")
        expect(oct(os.stat(sock).st_mode & 0o777) == "0o666", "socket mode %o" % os.stat(sock).st_mode)
        daemon.stop_clean()
    finally:
        daemon.kill()


def case_not_a_socket():
    d = workdir("notsock")
    sock = os.path.join(d, "auth.sock")
    with open(sock, "w") as f:
        f.write("precious\n")
    conf = itest.write_config(os.path.join(d, "neostrad.conf"), sock)
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"))
    try:
        rc = daemon.wait(5.0)
        expect(rc != 0, "started on top of a regular file")
        expect("not a socket" in daemon.text(), "log: %r" % daemon.text()[-500:])
        with open(sock) as f:
            expect(f.read() == "precious\n", "the regular file was touched")
        daemon.check_sanitizers()
    finally:
        daemon.kill()


def case_second_daemon():
    first = start("second")
    try:
        d2 = workdir("second-2")
        second = itest.Daemon(first.config, os.path.join(d2, "neostrad.log"))
        try:
            rc = second.wait(5.0)
            expect(rc != 0, "a second daemon started on the same socket")
            expect("another daemon is listening" in second.text(), "log: %r" % second.text()[-500:])
            second.check_sanitizers()
        finally:
            second.kill()
        expect(os.path.exists(first.sock), "the second daemon removed the socket")
        expect(login(first, "alice", "alice-pw").get("error") is None, "first daemon stopped serving")
        first.stop_clean()
    finally:
        first.kill()


def case_no_secrets_in_logs():
    CANARY = canary()
    d = workdir("secrets")
    listener = NotifyListener(os.path.join(d, "notify.sock"))
    daemon = start("secrets", args=["--debug"], env={"NOTIFY_SOCKET": listener.path})
    try:
        sock = daemon.sock
        for _ in range(3):
            expect(login(daemon, "canary", CANARY).get("error") is None, "canary login failed")
        user = itest.call("GetUser", {"user": "canary"}, path=sock)
        expect(user["parameters"].get("hasToken") is True, "no token held: %r" % user)
        for pw in (CANARY + "-wrong", "x" + CANARY):
            expect_error(login(daemon, "canary", pw), AUTH + "AuthenticationFailed", "wrong canary")
        # The password in places where the daemon refuses the call.
        for raw in (
                json.dumps({"method": AUTH + "Authenticate",
                            "parameters": {"user": "no such\nuser", "password": CANARY}}),
                json.dumps({"method": AUTH + "Authenticate",
                            "parameters": {"user": "canary", "password": CANARY, "tty": 5}}),
                json.dumps({"method": AUTH + "NoSuchMethod", "parameters": {"password": CANARY}}),
                '{"method":"%sAuthenticate","parameters":{"user":"canary","password":"%s"' % (AUTH, CANARY)):
            with varlink.Connection(sock) as c:
                c.send_raw(raw.encode() + b"\0")
                try:
                    c.receive(3.0)
                except varlink.Closed:
                    pass
        # Slow API and an API that hangs up: error paths log too.  (For a
        # name with nothing cached: canary's verifier would answer.)
        itest.mock_config(mode="close")
        try:
            expect_error(login(daemon, "canary-uncached", CANARY), AUTH + "ServiceUnavailable", "close")
        finally:
            itest.mock_config(mode=None)
        daemon.stop_clean()
        text = daemon.text()
        expect("Authenticate success" in text, "the log has no auth events at all")
        leaks = [l for l in text.splitlines() if CANARY in l or "CANARY" in l]
        expect(not leaks, "password in the daemon log: %r" % leaks[:3])
        tokens = [l for l in text.splitlines() if "eyJ" in l]
        expect(not tokens, "token in the daemon log: %r" % tokens[:3])
        expect(not any(CANARY in m or "eyJ" in m for m in listener.all()), "secret in sd_notify")
    finally:
        listener.close()
        daemon.kill()


def case_install():
    top, build = itest.env("NEOSTRA_TOP"), itest.env("NEOSTRA_BUILD")
    dest = workdir("destdir")
    libdir = subprocess.run(["pkg-config", "--variable=libdir", "pam"], capture_output=True,
                            text=True).stdout.strip()
    if not libdir:
        raise itest.Skip("pkg-config knows no pam libdir")
    unitdir = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                             capture_output=True, text=True).stdout.strip() or "/lib/systemd/system"
    # -o: never rebuild here (another build type may own these objects);
    # install exactly what this run tested.
    targets = [os.path.join(build, n) for n in ("pam_neostra.so", "neostrad", "neostractl")]
    argv = ["make", "--no-print-directory", "-C", top, "BUILDDIR=" + build, "DESTDIR=" + dest,
            "PREFIX=/usr"] + [a for t in targets for a in ("-o", t)] + ["install"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    expect(r.returncode == 0, "make install failed:\n%s%s" % (r.stdout, r.stderr))
    want = {
        libdir + "/security/pam_neostra.so": 0o644,
        "/usr/sbin/neostrad": 0o755,
        "/usr/bin/neostractl": 0o755,
        unitdir + "/neostrad.service": None,
        unitdir + "/neostrad.socket": 0o644,
        "/etc/neostra/neostrad.conf": 0o640,
        "/usr/lib/sysusers.d/neostrad.conf": 0o644,
        "/usr/lib/tmpfiles.d/neostrad.conf": 0o644,
        "/usr/share/man/man8/pam_neostra.8": 0o644,
        "/usr/share/man/man8/neostrad.8": 0o644,
        "/usr/share/man/man5/neostrad.conf.5": 0o644,
        "/usr/share/man/man1/neostractl.1": 0o644,
        "/etc/sudoers.d/neostra": 0o440,
    }
    for path, mode in want.items():
        full = dest + path
        expect(os.path.isfile(full), "make install did not create %s" % path)
        if mode is not None:
            expect(os.stat(full).st_mode & 0o777 == mode,
                   "%s has mode %o, expected %o" % (path, os.stat(full).st_mode & 0o777, mode))
    expect(not os.path.exists(dest + libdir + "/security/libpam_neostra.so"), "lib prefix")
    with open(dest + unitdir + "/neostrad.service") as f:
        unit = f.read()
    expect("@SBINDIR@" not in unit and "/usr/sbin/neostrad" in unit,
           "neostrad.service does not point at /usr/sbin/neostrad")
    for sub, name in (("usr/sbin", "neostrad"), ("usr/bin", "neostractl"), (libdir[1:] + "/security", "pam_neostra.so")):
        with open(os.path.join(build, name), "rb") as a, open(os.path.join(dest, sub, name), "rb") as b:
            expect(a.read() == b.read(), "installed %s is not the tested build" % name)
    # make uninstall refuses while a PAM file still names the module (a
    # commented-out line does not count), and says which; FORCE=1 goes on.
    pamd = os.path.join(dest, "etc/pam.d")
    os.makedirs(pamd)
    with open(os.path.join(pamd, "common-auth"), "w") as f:
        f.write("# auth sufficient pam_neostra.so\nauth required pam_unix.so\n")
    with open(os.path.join(pamd, "sshd"), "w") as f:
        f.write("@include common-auth\n"
                "auth [success=done authinfo_unavail=ignore default=die] pam_neostra.so\n")
    r = subprocess.run(argv[:-1] + ["uninstall"], capture_output=True, text=True, timeout=120)
    expect(r.returncode != 0, "make uninstall removed the module while /etc/pam.d/sshd names it")
    expect("refusing to remove pam_neostra.so" in r.stderr and pamd + "/sshd:2:" in r.stderr
           and "common-auth" not in r.stderr and "FORCE=1" in r.stderr,
           "make uninstall's refusal does not name the line: %r" % r.stderr)
    expect(os.path.isfile(dest + libdir + "/security/pam_neostra.so"), "the refused uninstall removed the module")
    # make uninstall FORCE=1 takes back every file but the configuration.
    r = subprocess.run(argv[:-1] + ["uninstall", "FORCE=1"], capture_output=True, text=True, timeout=120)
    expect(r.returncode == 0, "make uninstall FORCE=1 failed:\n%s%s" % (r.stdout, r.stderr))
    expect("warning" in r.stderr and pamd + "/sshd:2:" in r.stderr, "FORCE=1 did not warn: %r" % r.stderr)
    shutil.rmtree(pamd)
    left = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, files in os.walk(dest) for f in files)
    expect(left == ["etc/neostra/neostrad.conf"], "make uninstall left: %r" % left)


if __name__ == "__main__":
    if sys.argv[1:] == ["users"]:
        print(json.dumps(users(), indent=1))
        sys.exit(0)
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
