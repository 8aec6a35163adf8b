#!/usr/bin/python3
"""Cases of metrics.sh: `neostractl metrics` against a daemon and the mock
API (Python 3 stdlib only).

    metrics.py CASE...

Environment (metrics.sh sets it): NEOSTRA_SOCK, NEOSTRA_MOCK_URL,
NEOSTRA_TMP, NEOSTRA_CTL (neostractl), NEOSTRA_NEOSTRAD, NEOSTRA_PIDS.
The series are read from the text neostractl prints, as Prometheus would
read them.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading

import itest
from itest import expect

NOBODY = 65534
SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample; AssertionError
    on a line that is neither a sample nor a comment, or a sample twice."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES.match(line)
        expect(m, "not a sample line: %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        expect(key not in samples, "sample twice: %r" % line)
        samples[key] = float(m.group(3))
    return samples


def ctl(*args, user=None, timeout=20):
    argv = [itest.env("NEOSTRA_CTL"), "-s", itest.sock()] + list(args)
    if user is not None:
        argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", "--"] + argv
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def metrics():
    r = ctl("metrics")
    expect(r.returncode == 0, "neostractl metrics exited %d: %s" % (r.returncode, r.stderr.strip()))
    return r.stdout


def decisions(samples):
    return {dict(l)["method"] + "/" + dict(l)["result"] + "/" + dict(l)["cause"]: v
            for (name, l), v in samples.items() if name == "neostra_decisions_total"}


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    expect(key in samples, "no sample %s%r" % (name, labels))
    return samples[key]


def moved(before, after):
    """The decisions series that changed, and by how much."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)
            if after.get(k, 0) != before.get(k, 0)}


def verifiers():
    return value(parse(metrics()), "neostra_verifiers")


# ---- cases --------------------------------------------------------------------------

def case_counters():
    """Each login moves its own series by one, and nothing else."""
    itest.mock_reset()
    before = parse(metrics())
    signins = value(before, "neostra_api_request_duration_seconds_count", request="signin")
    steps = [
        ("alice, right password", "alice", "alice-pw", None, None, "authenticate/success/online"),
        ("alice, wrong password", "alice", "not-alice-pw", None,
         itest.AUTH + "AuthenticationFailed", "authenticate/refused/api"),
        ("root", "root", "whatever", None, itest.AUTH + "NotOurUser", "authenticate/not_ours/system"),
        ("carol, the API answering 503", "carol", "carol-pw", 503,
         itest.AUTH + "ServiceUnavailable", "authenticate/unavailable/api"),
        ("alice, the API answering 503", "alice", "alice-pw", 503, None, "authenticate/success/offline"),
    ]
    api_calls = 0
    for what, user, password, status, error, series in steps:
        if series.endswith("/offline"):
            # Her verifier is made off the loop after her first success.
            itest.poll(lambda: verifiers() >= 1, 20, what="alice's verifier")
        itest.mock_config(status=status)
        was = decisions(parse(metrics()))
        reply = itest.authenticate(user, password, service="metrics-test")
        itest.expect_error(reply, error, what)
        if series.endswith("/offline"):
            expect(reply["parameters"].get("offline") is True, "%s: not offline: %r" % (what, reply))
        now = decisions(parse(metrics()))
        expect(moved(was, now) == {series: 1},
               "%s: expected %s to move by 1, the series moved: %r" % (what, series, moved(was, now)))
        api_calls += user != "root"
    itest.mock_reset()
    # Both steps, as a login runs them: the account step counts too.
    was = decisions(parse(metrics()))
    r = subprocess.run([itest.env("NEOSTRA_CTL"), "-s", itest.sock(), "auth", "alice"], input="alice-pw\n",
                       capture_output=True, text=True, timeout=20)
    expect(r.returncode == 0, "neostractl auth alice: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
    api_calls += 1
    now = decisions(parse(metrics()))
    expect(moved(was, now) == {"authenticate/success/online": 1, "account/success/online_proof": 1},
           "neostractl auth alice moved %r" % moved(was, now))
    after = parse(metrics())
    timed = value(after, "neostra_api_request_duration_seconds_count", request="signin") - signins
    expect(timed == api_calls, "the sign-in latency histogram counted %d answers, %d calls were made"
           % (timed, api_calls))
    expect(value(after, "neostra_api_request_duration_seconds_bucket", request="signin", le="+Inf")
           == value(after, "neostra_api_request_duration_seconds_count", request="signin"),
           "the +Inf bucket is not the count")
    expect(value(after, "neostra_api_request_duration_seconds_sum", request="signin") > 0,
           "the sign-in latencies sum to nothing")
    # Published figures move with the logins too.
    expect(value(after, "neostra_users_cached") == 1, "neostra_users_cached is not 1 (alice)")
    expect(value(after, "neostra_nss_lookups_total", thread="worker") > 0, "no NSS lookup counted")
    expect(value(after, "neostra_nss_lookup_duration_seconds_count")
           >= value(after, "neostra_nss_lookups_total", thread="worker"),
           "the NSS latency histogram counts fewer lookups than were made")
    expect(value(after, "neostra_api_state", state="online") == 1, "the API is not shown online")
    version = subprocess.run([itest.env("NEOSTRA_NEOSTRAD"), "--version"], capture_output=True,
                             text=True, timeout=10).stdout.split()
    build = [dict(l) for (n, l), v in after.items() if n == "neostra_build_info" and v == 1]
    expect(len(build) == 1 and build[0]["version"] in version,
           "neostra_build_info %r is not the version of neostrad --version %r" % (build, version))


def case_promtool():
    """The output passes promtool's parser and linter."""
    promtool = shutil.which("promtool")
    if not promtool:
        raise itest.Skip("promtool is not installed (Debian: the prometheus package)")
    text = metrics()
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    expect(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
           "promtool check metrics exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
    for name, kind in (("neostra_decisions_total", "counter"),
                       ("neostra_api_request_duration_seconds", "histogram"),
                       ("neostra_nss_lookup_duration_seconds", "histogram"),
                       ("neostra_connections_refused_total", "counter"),
                       ("neostra_userdb_lookups_total", "counter"),
                       ("neostra_writeback_queue_depth", "gauge"),
                       ("neostra_users_past_account_max_age", "gauge"),
                       ("neostra_api_state_change_time_seconds", "gauge"),
                       ("neostra_start_time_seconds", "gauge"),
                       ("neostra_build_info", "gauge")):
        expect("# TYPE %s %s\n" % (name, kind) in text, "no %s %s in:\n%s" % (kind, name, text[:2000]))


def case_textfile():
    """--textfile writes DIR/neostra.prom, 0644, atomically."""
    d = os.path.join(itest.env("NEOSTRA_TMP"), "textfile")
    os.makedirs(d, mode=0o755, exist_ok=True)
    path = os.path.join(d, "neostra.prom")
    # A leftover of another mode is replaced, not written into.
    with open(path, "w") as f:
        f.write("stale\n")
    os.chmod(path, 0o600)
    old_inode = os.stat(path).st_ino
    r = ctl("metrics", "--textfile", d)
    expect(r.returncode == 0 and r.stdout == "", "metrics --textfile: exit %d, out %r, err %r"
           % (r.returncode, r.stdout, r.stderr))
    st = os.stat(path)
    expect(stat.S_IMODE(st.st_mode) == 0o644, "neostra.prom has mode %o" % stat.S_IMODE(st.st_mode))
    expect(st.st_ino != old_inode, "neostra.prom was written in place, not renamed over")
    expect(os.listdir(d) == ["neostra.prom"], "files left in the directory: %r" % os.listdir(d))
    with open(path) as f:
        written = parse(f.read())
    shown = parse(metrics())
    expect(set(written) == set(shown), "the file's series differ from stdout's: %r"
           % (set(written) ^ set(shown)))
    expect(value(written, "neostra_up") == 1, "neostra_up is not 1")

    # A reader never sees half a file while it is rewritten.
    stop = threading.Event()
    torn = []
    reads = [0]

    def reader():
        while not stop.is_set():
            with open(path) as f:
                text = f.read()
            reads[0] += 1
            lines = text.splitlines()
            if not text.endswith("\n") or not lines or not lines[-1].startswith("neostra_cache_bytes "):
                torn.append(text[-200:])
    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(20):
            r = ctl("metrics", "--textfile", d)
            expect(r.returncode == 0, "metrics --textfile exited %d: %s" % (r.returncode, r.stderr))
    finally:
        stop.set()
        t.join()
    expect(not torn, "a reader saw %d partial files, e.g. ...%r" % (len(torn), torn[:1]))
    expect(reads[0] > 0, "the reader read nothing")
    expect(os.listdir(d) == ["neostra.prom"], "files left in the directory: %r" % os.listdir(d))

    r = ctl("metrics", "--textfile", os.path.join(d, "neostra.prom"))
    expect(r.returncode == 2, "--textfile with a file, not a directory: exit %d" % r.returncode)
    r = ctl("metrics", "--textfile")
    expect(r.returncode == 2, "--textfile without DIR: exit %d" % r.returncode)


def case_textfile_down():
    """No daemon: the file says neostra_up 0, and the exit status is 3."""
    d = os.path.join(itest.env("NEOSTRA_TMP"), "textfile-down")
    os.makedirs(d, mode=0o755, exist_ok=True)
    r = subprocess.run([itest.env("NEOSTRA_CTL"), "-s", os.path.join(d, "no.sock"), "metrics",
                        "--textfile", d], capture_output=True, text=True, timeout=20)
    expect(r.returncode == 3, "exit %d with no daemon (%s)" % (r.returncode, r.stderr.strip()))
    with open(os.path.join(d, "neostra.prom")) as f:
        samples = parse(f.read())
    expect(samples == {("neostra_up", ()): 0.0}, "the file holds %r" % samples)
    r = subprocess.run([itest.env("NEOSTRA_CTL"), "-s", os.path.join(d, "no.sock"), "metrics"],
                       capture_output=True, text=True, timeout=20)
    expect(r.returncode == 3 and r.stdout == "", "stdout with no daemon: exit %d, %r" % (r.returncode, r.stdout))


def case_non_root():
    """Another uid sees the version and the API state of GetStatus only."""
    if not shutil.which("setpriv"):
        raise itest.Skip("setpriv is missing")
    full = itest.status()
    expect("decisions" in full and "logins" in full and "users" in full,
           "root's GetStatus lacks the figures: %r" % sorted(full))
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups", "--",
                        sys.executable, os.path.join(here, "varlink.py"), "call", itest.sock(),
                        itest.AUTH + "GetStatus"], capture_output=True, text=True, timeout=20)
    expect(r.returncode == 0, "GetStatus as uid %d: %s" % (NOBODY, r.stderr.strip()))
    reply = json.loads(r.stdout)
    params = reply.get("parameters", {})
    expect("error" not in reply and sorted(params) == ["protocol", "state", "version"],
           "uid %d's GetStatus: %r" % (NOBODY, reply))
    expect(params["version"] == full["version"] and params["state"] == full["state"],
           "uid %d's GetStatus differs from root's: %r" % (NOBODY, params))
    r = ctl("metrics", user=NOBODY)
    expect(r.returncode == 4 and r.stdout == "" and "root" in r.stderr,
           "neostractl metrics as uid %d: exit %d, out %r, err %r" % (NOBODY, r.returncode, r.stdout, r.stderr))
    r = ctl("status", user=NOBODY)
    expect(r.returncode == 0 and "state:" in r.stdout and "logins" not in r.stdout,
           "neostractl status as uid %d: exit %d, %r" % (NOBODY, r.returncode, r.stdout))


def fake_daemon(path, params):
    """A one-shot Varlink server on path answering any call with params;
    returns the thread (joined by the caller)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(20)

    def serve():
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(20)
                data = b""
                while b"\0" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(json.dumps({"parameters": params}).encode() + b"\0")
        finally:
            srv.close()
    t = threading.Thread(target=serve)
    t.start()
    return t


def case_hostile_answer():
    """What the daemon says cannot break the format: label values are
    escaped, ill-formed members are left out, the rest still parses."""
    d = os.path.join(itest.env("NEOSTRA_TMP"), "fake")
    os.makedirs(d, mode=0o755, exist_ok=True)
    path = os.path.join(d, "fake.sock")
    good = {"boundsUsec": [1000, 5000], "cumulative": [1, 2], "count": 3, "sumUsec": 7000500}
    params = {
        "version": 'v1"\\\n# TYPE x counter', "protocol": 1, "state": 'odd"state', "started": 1,
        "decisions": [
            {"method": "authenticate", "result": "success", "cause": "online", "count": 5},
            {"method": 7, "result": "success", "cause": "online", "count": 1},
            {"method": "authenticate", "result": "refused", "cause": "api", "count": -1},
            {"method": 'a"b', "result": "x\ny", "cause": "c\\d", "count": 2},
        ],
        "apiLatency": {"signin": {"boundsUsec": [5000, 1000], "cumulative": [1, 2], "count": 2, "sumUsec": 1},
                       "probe": good, "refresh": "nonsense"},
        "users": "many", "usersByAccess": {"valid": 2, "expired": -3},
    }
    t = fake_daemon(path, params)
    try:
        r = subprocess.run([itest.env("NEOSTRA_CTL"), "-s", path, "metrics"], capture_output=True, text=True,
                           timeout=30)
    finally:
        t.join(30)
    expect(r.returncode == 0, "metrics from the fake daemon: exit %d: %s" % (r.returncode, r.stderr))
    text = r.stdout
    samples = parse(text)
    expect(('neostra_build_info{version="v1\\"\\\\\\n# TYPE x counter",protocol="1"} 1') in text,
           "the version is not escaped:\n%s" % text[:600])
    expect(value(samples, "neostra_api_state", state='odd\\"state') == 1, "the odd state is not shown")
    dec = {k: v for (n, k), v in samples.items() if n == "neostra_decisions_total"}
    expect(len(dec) == 2, "ill-formed decisions were written: %r" % dec)
    expect(not any(n.startswith("neostra_api_request_duration_seconds") and dict(l).get("request") != "probe"
                   for n, l in samples), "an ill-formed histogram was written")
    expect(value(samples, "neostra_api_request_duration_seconds_bucket", request="probe", le="0.005") == 2 and
           value(samples, "neostra_api_request_duration_seconds_bucket", request="probe", le="+Inf") == 3 and
           value(samples, "neostra_api_request_duration_seconds_sum", request="probe") == 7.0005,
           "the probe histogram is wrong:\n%s" % text)
    expect(("neostra_users_cached", ()) not in samples, "a string count was written")
    expect(value(samples, "neostra_users_access", access="valid") == 2 and
           ("neostra_users_access", (("access", "expired"),)) not in samples, "a negative gauge was written")
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        expect(p.returncode == 0, "promtool check metrics:\n%s%s" % (p.stdout, p.stderr))


if __name__ == "__main__":
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
