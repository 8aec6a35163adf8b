#!/usr/bin/python3
"""fixed-api.py: a fixed-answer sign-in API with a delay, for `make bench`.

    fixed-api.py --port-file F [--delay-ms N] [--cert F --key F]

Python 3 standard library only (asyncio: one thread, so 64 requests
sleeping 50 ms at once cost nothing and never wait for each other, unlike
tests/mock_api.py's thread per connection).  Listens on 127.0.0.1 only,
HTTP and (with --cert/--key) HTTPS on ephemeral ports; --port-file gets
{"http": N, "https": N|null} once both accept.

Every POST to /api/v1/auth/signin whose JSON body has string "email" and
"password" is answered, after --delay-ms, with a valid success document for
that email (roles ["dev"]); the password is not looked at, never stored and
never logged.  Anything else: 404/405/400.  Keep-alive (HTTP/1.1,
Content-Length bodies only).  GET /_control/stats gives {"signins": N,
"connections": N} (connections counted at accept), POST /_control/reset
zeroes them, as tests/mock_api.py does.  Stops on SIGTERM/SIGINT.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

SIGNIN = b"/api/v1/auth/signin"
MAX_BODY = 64 * 1024
TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LWJlbmNoIn0."
         "YmVuY2gtc2lnbmF0dXJlLW5vdC1jaGVja2Vk")


class Stats:
    signins = 0
    connections = 0


def answer(code, body, close=False):
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
              411: b"Length Required", 413: b"Payload Too Large"}.get(code, b"Error")
    head = [b"HTTP/1.1 %d %s" % (code, reason), b"Content-Type: application/json",
            b"Content-Length: %d" % len(body)]
    if close:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def success(email):
    return json.dumps({
        "status": 200, "message": "Success",
        "data": {"token": TOKEN, "refreshToken": "bench-refresh-token", "expiresIn": 3600,
                 "user": {"id": "u-bench", "email": email, "name": email.split("@")[0],
                          "roles": ["dev"]}},
        "errors": []}, separators=(",", ":")).encode()


def error(code, text):
    return json.dumps({"error": text, "message": text, "code": code}).encode()


async def handle(reader, writer, delay):
    Stats.connections += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            parts = lines[0].split()
            if len(parts) != 3:
                writer.write(answer(400, error(400, "Bad Request"), close=True))
                return
            method, target = parts[0], parts[1].split(b"?", 1)[0]
            length = None
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        length = -1
                elif name == b"transfer-encoding":
                    length = -1
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length is not None and (length < 0 or length > MAX_BODY):
                writer.write(answer(413 if length > MAX_BODY else 411, error(400, "bad body"), close=True))
                return
            body = await reader.readexactly(length) if length else b""
            if target == b"/_control/stats" and method == b"GET":
                out = answer(200, json.dumps({"signins": Stats.signins,
                                              "connections": Stats.connections}).encode())
            elif target == b"/_control/reset" and method == b"POST":
                Stats.signins = Stats.connections = 0
                out = answer(200, b'{"ok":true}')
            elif target != SIGNIN:
                out = answer(404, error(404, "Not Found"))
            elif method == b"GET":
                # The daemon's probe: the API answers.
                out = answer(405, error(405, "Method Not Allowed"))
            elif method != b"POST":
                out = answer(405, error(405, "Method Not Allowed"))
            else:
                try:
                    req = json.loads(body)
                    email = req["email"]
                    ok = isinstance(email, str) and isinstance(req["password"], str)
                except (ValueError, KeyError, TypeError):
                    ok = False
                req = body = None
                if not ok:
                    out = answer(400, error(400, "Bad Request"))
                else:
                    Stats.signins += 1
                    if delay:
                        await asyncio.sleep(delay)
                    out = answer(200, success(email))
            writer.write(out)
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        return
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport
            pass


async def main_async(args):
    delay = args.delay_ms / 1000.0
    servers = []

    def handler(r, w):
        return handle(r, w, delay)

    http = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=512)
    servers.append(http)
    https_port = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.load_cert_chain(args.cert, args.key)
        https = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx, backlog=512)
        servers.append(https)
        https_port = https.sockets[0].getsockname()[1]
    ports = {"http": http.sockets[0].getsockname()[1], "https": https_port}
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(ports) + "\n")
    os.replace(tmp, args.port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    try:
        os.unlink(args.port_file)
    except OSError:
        pass


def main(argv):
    p = argparse.ArgumentParser(description="fixed-answer sign-in API with a delay (127.0.0.1)")
    p.add_argument("--port-file", required=True)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--cert")
    p.add_argument("--key")
    args = p.parse_args(argv)
    if bool(args.cert) != bool(args.key) or args.delay_ms < 0:
        p.error("--cert and --key go together; --delay-ms >= 0")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
