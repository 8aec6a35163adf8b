#!/usr/bin/python3
"""Helpers shared by the integration test cases (Python 3 stdlib only).

Library: polling with deadlines, the mock API's control endpoints, reading
the daemon's log, and the environment the shell scripts hand over.

Command (run in the background by daemon-api.sh, stopped by PID):

    itest.py fake-api --port-file F
        a scripted HTTP/1.1 server on 127.0.0.1 that answers every request
        with one status, headers and body set through POST /_fake/config
        {"status": N, "headers": ["K: V", ...], "body": "..."} (for what
        tests/mock_api.py cannot send: Location, Retry-After); GET
        /_fake/count answers the number of other requests since then
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import varlink

AUTH = "io.neostra.Auth."


# ---- environment handed over by the shell scripts -------------------------

def env(name):
    value = os.environ.get(name)
    if value is None:
        raise SystemExit("itest.py: %s is not set" % name)
    return value


def sock():
    return env("NEOSTRA_SOCK")


def mock_url():
    return env("NEOSTRA_MOCK_URL")


def daemon_log():
    return env("NEOSTRA_DAEMON_LOG")


# ---- polling ---------------------------------------------------------------

def poll(fn, timeout, interval=0.05, what="condition"):
    """Call fn until it returns something truthy; return that, or raise
    AssertionError naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except (OSError, varlink.Closed, TimeoutError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s%s"
                                 % (timeout, what, " (last error: %s)" % last if last else ""))
        time.sleep(interval)


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


# ---- the daemon --------------------------------------------------------------

def call(method, params=None, timeout=5.0, path=None):
    return varlink.call(path or sock(), method if "." in method else AUTH + method, params, timeout)


def authenticate(user, password, timeout=10.0, path=None, **extra):
    params = {"user": user, "password": password}
    params.update(extra)
    return call("Authenticate", params, timeout, path)


def status(path=None):
    return call("GetStatus", path=path)["parameters"]


def expect_error(reply, error, what):
    got = reply.get("error")
    expect(got == error, "%s: expected %s, got %s" % (what, error or "a reply", json.dumps(reply)[:400]))
    return reply


def wait_idle(timeout=5.0, path=None):
    """Wait until the daemon has no API request pending."""
    return poll(lambda: status(path)["pendingApiRequests"] == 0, timeout,
                what="pendingApiRequests == 0")


def log_text(path=None):
    with open(path or daemon_log(), "r", errors="replace") as f:
        return f.read()


def wait_log(pattern, timeout=5.0, count=1, path=None):
    """Wait until `pattern` occurs at least `count` times in the daemon log."""
    return poll(lambda: log_text(path).count(pattern) >= count, timeout,
                what="%d× %r in the daemon log" % (count, pattern))


# ---- daemons started by a case ----------------------------------------------------

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "ERROR: UndefinedBehaviorSanitizer")


def daemon_env(extra=None):
    """The environment of a daemon under test: none of the caller's systemd
    variables (logs must go to our file, not the journal), sanitizer options
    that report leaks at exit."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
                      "LISTEN_FDNAMES", "INVOCATION_ID")}
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:verify_asan_link_order=0")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.update(extra or {})
    return e


def record_pid(pid, add):
    """Keep $NEOSTRA_PIDS listing exactly the processes a case started and
    has not reaped yet, so the shell's cleanup (lib.sh nt_stop_case_pids)
    can stop them by PID if the case dies."""
    path = os.environ.get("NEOSTRA_PIDS")
    if not path:
        return
    try:
        with open(path) as f:
            pids = [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        pids = []
    pids = [p for p in pids if p != str(pid)] + ([str(pid)] if add else [])
    with open(path + ".tmp", "w") as f:
        f.write("".join(p + "\n" for p in pids))
    os.replace(path + ".tmp", path)


class Daemon:
    """One neostrad process owned by a case.  Its PID goes to
    $NEOSTRA_PIDS (when set) so the shell's cleanup trap can end it by PID
    should this Python process die first."""

    def __init__(self, config, log, args=(), environ=None, wrapper=(), binary=None):
        self.binary = binary or env("NEOSTRA_NEOSTRAD")
        self.config, self.log = config, log
        argv = list(wrapper) + [self.binary, "-c", config] + list(args)
        with open(log, "ab") as f:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, env=daemon_env(environ))
        self.pid = self.proc.pid
        self._record_pid(True)

    def _record_pid(self, add):
        record_pid(self.pid, add)

    def _reaped(self):
        self._record_pid(False)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """The exit status; AssertionError when it does not exit in time."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("neostrad (pid %d) did not exit within %.1f s" % (self.pid, timeout))
        self._reaped()
        return rc

    def stop(self, timeout=10.0):
        """SIGTERM, and the exit status (SIGKILL if it does not go)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("neostrad (pid %d) ignored SIGTERM for %.0f s" % (self.pid, timeout))
        self._reaped()
        return rc

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self._reaped()

    def text(self):
        return log_text(self.log)

    def check_sanitizers(self):
        text = self.text()
        for mark in SANITIZER_MARKS:
            expect(mark not in text, "sanitizer report in %s:\n%s" % (self.log, text[-3000:]))

    def stop_clean(self, timeout=10.0):
        """SIGTERM; expect exit status 0 and no sanitizer report."""
        rc = self.stop(timeout)
        expect(rc == 0, "neostrad exited %s at SIGTERM; log:\n%s" % (rc, self.text()[-2000:]))
        self.check_sanitizers()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def write_config(path, socket_path, url=None, **sections):
    """A daemon configuration for tests, like tests/lib.sh nt_daemon_config:
    [daemon] user = root and our own sockets, the cache next to the socket,
    no userdb, [api] url = the mock; `sections` add lines, e.g.
    access="allow_roles = admin" or api="timeout = 2s\nconnect_timeout = 1s"."""
    cache = os.path.join(os.path.dirname(socket_path), "cache")
    os.makedirs(cache, mode=0o700, exist_ok=True)
    sec = {"api": "url = %s" % (url or mock_url()),
           "users": "email_template = %u@example.com",
           "identities": "userdb = no",
           "cache": "directory = %s" % cache,
           "daemon": "user = root\nsocket = %s\nuserdb_socket = %s-userdb.sock"
                     % (socket_path, socket_path[:-5] if socket_path.endswith(".sock") else socket_path)}
    for name, lines in sections.items():
        sec[name] = sec[name] + "\n" + lines if name in sec else lines
    text = "".join("[%s]\n%s\n" % (k, v) for k, v in sec.items())
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


# ---- the mock API ----------------------------------------------------------------

def _http(method, url, body=None, timeout=5.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def mock_config(url=None, **settings):
    """POST /_control/config: settings merged in, None removes a key."""
    return _http("POST", (url or mock_url()) + "/_control/config", settings)


def mock_reset(url=None):
    return _http("POST", (url or mock_url()) + "/_control/reset", {})


def mock_stats(url=None):
    return _http("GET", (url or mock_url()) + "/_control/stats")


def mock_requests(url=None):
    return _http("GET", (url or mock_url()) + "/_control/requests")["requests"]


def fresh_mock_only():
    """Clear the mock's settings and counters (no daemon to wait for)."""
    mock_reset()


def fresh_mock():
    """Clear the mock's settings and counters and wait until the daemon has
    nothing in flight, so a case starts from a known state."""
    wait_idle()
    mock_reset()


# ---- running cases -----------------------------------------------------------------

def run_cases(module_globals, argv):
    """`prog CASE...`: run the functions case_<CASE>; print "ok - CASE" or
    "FAIL - CASE: why"; exit 0 when all passed, 1 when one failed, 77 when
    none failed but one was skipped (a case raises Skip("reason"))."""
    # A SIGTERM from the shell's cleanup must still run the cases' finally
    # blocks, which stop the daemons they started.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    failed = skipped = 0
    for name in argv:
        fn = module_globals.get("case_" + name.replace("-", "_"))
        if fn is None:
            print("FAIL - %s: no such case" % name)
            failed += 1
            continue
        started = time.monotonic()
        try:
            fn()
        except Skip as e:
            print("SKIP - %s: %s" % (name, e))
            skipped += 1
        except Exception as e:  # any exception is a failed case, with its reason
            print("FAIL - %s: %s: %s" % (name, e.__class__.__name__, e))
            failed += 1
        else:
            print("ok - %s (%.1f s)" % (name, time.monotonic() - started))
        sys.stdout.flush()
    if failed:
        return 1
    return 77 if skipped else 0


class Skip(Exception):
    pass


# ---- fake-api ----------------------------------------------------------------------------

def fake_api(port_file):
    state = {"status": 200, "headers": [], "body": "{}", "requests": 0}
    lock = threading.Lock()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("fake-api: %s\n" % (fmt % args))

        def _any(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            if self.path == "/_fake/config":
                with lock:
                    state.update(json.loads(data))
                    state["requests"] = 0
                answer, code, extra = b'{"ok":true}', 200, []
            elif self.path == "/_fake/count":
                with lock:
                    answer = json.dumps({"requests": state["requests"]}).encode()
                code, extra = 200, []
            else:
                with lock:
                    state["requests"] += 1
                    answer = state["body"].encode()
                    code, extra = state["status"], list(state["headers"])
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            for h in extra:
                k, v = h.split(":", 1)
                self.send_header(k.strip(), v.strip())
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = _any

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, port_file)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


def fake_config(url, status, headers=(), body="{}"):
    """Every later request to the fake API gets this answer; resets its count."""
    return _http("POST", url + "/_fake/config",
                 {"status": status, "headers": list(headers), "body": body})


def fake_count(url):
    return _http("GET", url + "/_fake/count")["requests"]


def main(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fake-api")
    f.add_argument("--port-file", required=True)
    args = p.parse_args(argv)
    fake_api(args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
