#!/usr/bin/python3
"""Helpers of tests/integration/doctor.sh.

    doctor_json.py status FILE SECTION CHECK   the status of one check in
                                               `neostractl doctor --json`
                                               output ("missing" if absent)
    doctor_json.py healthy FILE                exit 0 when the output parses,
                                               says ok and has no failed
                                               check; else print why, exit 1
    doctor_json.py failed FILE                 the failed checks, one
                                               "section.check" a line
    doctor_json.py hang PORTFILE               a TCP server on 127.0.0.1 that
                                               accepts and never answers (an
                                               API that hangs); writes its
                                               port to PORTFILE; runs until
                                               SIGTERM
    doctor_json.py skewed PORTFILE SECONDS     an HTTP server on 127.0.0.1 that
                                               answers every request 405 with a
                                               Date header SECONDS off; writes
                                               its port to PORTFILE; runs until
                                               SIGTERM
    doctor_json.py backdate DB SECONDS         move the times of the last
                                               sign-in in neostrad's cache
                                               SECONDS back (the token's iat
                                               stays)
    doctor_json.py probes PORT                 the mock API's requests from the
                                               doctor (User-Agent
                                               neostractl-doctor): exit 0 when
                                               there is one or more and none
                                               carried a body or a password
"""

import json
import os
import signal
import socket
import sys
import threading
import urllib.request


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cmd_status(path, section, check):
    doc = load(path)
    for c in doc.get("checks", []):
        if c.get("section") == section and c.get("check") == check:
            print(c.get("status"))
            return 0
    print("missing")
    return 0


def cmd_healthy(path):
    try:
        doc = load(path)
    except (OSError, ValueError) as e:
        print("doctor --json output does not parse: %s" % e)
        return 1
    bad = [c for c in doc.get("checks", []) if c.get("status") not in ("ok", "skip")]
    for c in doc.get("checks", []):
        for key in ("section", "check", "status", "found"):
            if not isinstance(c.get(key), str):
                print("a check without a string %r: %r" % (key, c))
                return 1
    if doc.get("ok") is not True or bad or not doc.get("checks"):
        print("not healthy: ok=%r, failed: %s" % (doc.get("ok"), json.dumps(bad)))
        return 1
    return 0


def cmd_failed(path):
    for c in load(path).get("checks", []):
        if c.get("status") == "fail":
            print("%s.%s" % (c.get("section"), c.get("check")))
    return 0


def cmd_hang(portfile):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(portfile + ".tmp", "w", encoding="ascii") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    srv.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        held.append(conn)      # read nothing, answer nothing
    for c in held:
        c.close()
    srv.close()
    return 0


def cmd_skewed(portfile, seconds):
    import email.utils
    import http.server
    import time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response_only(405)
            self.send_header("Date", email.utils.formatdate(time.time() + int(seconds), usegmt=True))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    srv.timeout = 0.2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(portfile + ".tmp", "w", encoding="ascii") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    while not stop.is_set():
        srv.handle_request()
    srv.server_close()
    return 0


def cmd_backdate(db, seconds):
    import sqlite3
    con = sqlite3.connect(db, timeout=10)
    with con:
        con.execute("UPDATE users SET last_online_success = last_online_success - ?, "
                    "last_online_proof = last_online_proof - ? WHERE token IS NOT NULL",
                    (int(seconds), int(seconds)))
    con.close()
    return 0


def cmd_probes(port):
    url = "http://127.0.0.1:%s/_control/requests" % port
    with urllib.request.urlopen(url, timeout=10) as r:
        reqs = json.load(r)["requests"]
    ours = [q for q in reqs if q.get("user_agent") == "neostractl-doctor"]
    if not ours:
        print("the mock saw no request from the doctor")
        return 1
    for q in ours:
        if q.get("method") != "GET" or q.get("password_len") or q.get("email") is not None:
            print("the doctor sent more than a probe: %r" % q)
            return 1
    return 0


def main(argv):
    cmds = {"status": cmd_status, "healthy": cmd_healthy, "failed": cmd_failed, "hang": cmd_hang,
            "skewed": cmd_skewed, "backdate": cmd_backdate, "probes": cmd_probes}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
