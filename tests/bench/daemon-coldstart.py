#!/usr/bin/python3
"""daemon-coldstart.py SOCKET [USERDB_USER]

One timed call on a socket that systemd-socket-activate holds (neostrad
not running yet): the clock starts right before connect(), which makes
systemd-socket-activate start the daemon, and stops at the answer's
terminating NUL.  Without USERDB_USER the call is io.neostra.Auth.GetStatus;
with it, io.systemd.UserDatabase.GetUserRecord of that user (SOCKET is
then the userdb socket).  Prints the milliseconds, or fails (exit 1) on an
error answer or after 30 s.
"""
import json
import socket
import sys
import time


def main():
    path = sys.argv[1]
    if len(sys.argv) > 2:
        call = {"method": "io.systemd.UserDatabase.GetUserRecord",
                "parameters": {"userName": sys.argv[2], "service": "io.neostra"}}
    else:
        call = {"method": "io.neostra.Auth.GetStatus", "parameters": {}}
    msg = json.dumps(call).encode() + b"\0"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    t0 = time.perf_counter()
    s.connect(path)
    s.sendall(msg)
    buf = b""
    while b"\0" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("daemon-coldstart: connection closed without an answer")
        buf += chunk
    ms = (time.perf_counter() - t0) * 1000.0
    s.close()
    reply = json.loads(buf.split(b"\0", 1)[0])
    if "error" in reply:
        sys.exit("daemon-coldstart: error answer: %r" % reply)
    print("%.2f" % ms)


if __name__ == "__main__":
    main()
