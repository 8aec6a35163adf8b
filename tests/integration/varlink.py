#!/usr/bin/python3
"""A small Varlink client for the integration tests (Python 3 stdlib only).

The wire (include/neostra/protocol.h): one JSON object per message, each
terminated by a NUL byte, over an AF_UNIX stream socket; calls on one
connection are answered strictly in order.

As a library:

    import varlink
    with varlink.Connection("/tmp/x/auth.sock") as c:
        reply = c.call("io.neostra.Auth.GetStatus")
        reply["parameters"]["state"]

Every read has a deadline: a test must fail, never hang, when the daemon
does not answer.  Closed is raised when the daemon closes the connection
(EOF or reset), TimeoutError when nothing arrives in time.

As a command (for shell scripts):

    varlink.py call SOCKET METHOD [PARAMS-JSON] [--timeout S]
        prints the reply message as one line of JSON; exit 0 when a reply
        (or an error reply) arrived, 1 when the connection failed or closed
    varlink.py wait SOCKET [--timeout S]
        polls io.neostra.Auth.GetStatus until it is answered; exit 0 / 1
"""

import argparse
import json
import socket
import sys
import time

DEFAULT_TIMEOUT = 5.0


class Closed(Exception):
    """The peer closed the connection (EOF, reset or broken pipe)."""


class Connection:
    def __init__(self, path, timeout=DEFAULT_TIMEOUT):
        self.path = path
        self.timeout = timeout
        self.buf = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def fileno(self):
        return self.sock.fileno()

    # --- sending --------------------------------------------------------------

    def send_raw(self, data):
        """Send bytes as they are (no NUL added).  Raises Closed when the
        daemon has already closed its end."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def send(self, method, parameters=None, **extra):
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        msg.update(extra)
        self.send_raw(json.dumps(msg, separators=(",", ":")).encode() + b"\0")

    # --- receiving ------------------------------------------------------------

    def _recv_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from %s in time" % self.path)
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no answer from %s in time" % self.path)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))
        if not data:
            raise Closed("EOF")
        self.buf += data

    def receive_raw(self, timeout=None):
        """The next message as bytes, without its NUL."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\0" not in self.buf:
            self._recv_some(deadline)
        msg, self.buf = self.buf.split(b"\0", 1)
        return msg

    def receive(self, timeout=None):
        """The next message, parsed.  ValueError if it is not a JSON object."""
        raw = self.receive_raw(timeout)
        msg = json.loads(raw)
        if not isinstance(msg, dict):
            raise ValueError("reply is not a JSON object: %r" % raw[:200])
        return msg

    def call(self, method, parameters=None, timeout=None, **extra):
        """Send a call and return the whole reply message (a dict with
        "parameters" and, for an error, "error")."""
        self.send(method, parameters, **extra)
        return self.receive(timeout)

    def wait_closed(self, timeout):
        """True when the daemon closes the connection within timeout;
        anything it sends meanwhile is kept in self.buf."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._recv_some(deadline)
        except Closed:
            return True
        except TimeoutError:
            return False


def call(path, method, parameters=None, timeout=DEFAULT_TIMEOUT, **extra):
    """One call on a fresh connection; returns the reply message."""
    with Connection(path, timeout) as c:
        return c.call(method, parameters, **extra)


def error_of(reply):
    """The error name of a reply, or None for a successful one."""
    return reply.get("error")


def wait_ready(path, timeout=10.0):
    """Poll GetStatus until the daemon answers; returns the reply or raises."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            return call(path, "io.neostra.Auth.GetStatus", timeout=1.0)
        except (OSError, Closed, TimeoutError, ValueError) as e:
            last = e
            time.sleep(0.05)
    raise TimeoutError("daemon on %s not answering: %s" % (path, last))


def main(argv):
    p = argparse.ArgumentParser(description="Varlink client for the integration tests.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call")
    c.add_argument("socket")
    c.add_argument("method")
    c.add_argument("parameters", nargs="?", default=None)
    c.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    w = sub.add_parser("wait")
    w.add_argument("socket")
    w.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)

    try:
        if args.cmd == "call":
            params = json.loads(args.parameters) if args.parameters is not None else None
            print(json.dumps(call(args.socket, args.method, params, args.timeout)))
        else:
            wait_ready(args.socket, args.timeout)
    except (OSError, Closed, TimeoutError, ValueError) as e:
        print("varlink.py: %s: %s" % (args.cmd, e or e.__class__.__name__), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
