#!/usr/bin/python3
"""Mock of the Neostra sign-in API, for pam_neostra's tests and demo.

    mock_api.py --users FILE [--http-port N] [--https-port N --cert F --key F]
                [--port-file F] [--pid-file F] [--signin-path P] [--io-timeout S]

Python 3 standard library only.  Listens on 127.0.0.1 only; port 0 means
ephemeral, and --port-file receives {"http": port, "https": port|null} once both
listeners accept connections.  One log line per request goes to stderr; nothing
goes to stdout.

The one rule that matters more than fidelity: a password received is used for
exactly one comparison and is never printed, logged, recorded or echoed back.
Tests sign in with a canary password and grep every output for it.

Sign-in (POST /api/v1/auth/signin, or --signin-path):
  known email + right password -> 200 + the documented success document
  wrong password / unknown email -> 401 + the documented refusal document
  body not JSON, email/password not strings -> 400
  no Content-Length (or chunked) -> 411, body over 64 KiB -> 413, body too slow -> 408
  other methods -> 405, other paths -> 404

Token refresh (POST /api/v1/auth/refresh, or --refresh-path): Neostra does
not document it, so the mock answers in the sign-in answer's shape.
  {"refreshToken": <one a sign-in or refresh issued>} -> 200 + the success
      document (a new token and refresh token, data.user with the user's
      current roles); each refresh token works once
  anything else, or a user no longer in the users file -> 401
  the user's refresh_status (below) -> that status with an error document

Users file: {"users": {"alice@example.com": {"password": "...", "roles": [...],
"name": "...", "id": "...", <overrides>, <extra fields>}}}.  It is re-read
whenever its mtime, size or inode changes; a broken rewrite keeps the previous
users (and is retried on the next request).  Per-user overrides:
  delay_ms     sleep before answering (right or wrong password)
  status       HTTP status to send instead of 200/401 (right or wrong password)
  retry_after  integer seconds sent as a Retry-After header (ditto)
  body         raw string sent verbatim instead of the normal document (ditto)
  answer_email any JSON value put in data.user.email instead of the email asked
  inner_status any JSON value put in the top-level "status" of a success
  expires_in   data.expiresIn of a success (sign-in and refresh; default 3600)
  refresh_status  HTTP status to answer a refresh of this user's token with
                  (an error document, no token)
Any other key of a user (besides password/roles/name/id) is copied into
data.user, so tests can add fields or send ill-typed ones ("roles": "admin").

Control (same listeners, never affected by the settings below):
  POST /_control/config   {"delay_ms":int, "status":int, "body":str,
                           "retry_after":int, "mode":"normal"|"close"|"hang"};
                           merged into the
                           current settings (a null value removes a key); the
                           settings apply to every sign-in and win over
                           per-user overrides until reset
  POST /_control/reset    clear settings, recorded requests and counters
  GET  /_control/requests {"requests": [...]}: every non-control request
  GET  /_control/stats    {"signins": N, "connections": N,
                           "listeners": {"http": N, "https": N}}
  GET  /_control/health   {"ok": true}
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_SIGNIN_PATH = "/api/v1/auth/signin"
MAX_BODY = 64 * 1024
# A long demo must not grow without bound; tests look at recent requests only.
MAX_RECORDED = 10000
MODES = ("normal", "close", "hang")
# How often a held ("hang") connection or a delay looks at the stop flag.
POLL_SECONDS = 0.25

# Keys of a user entry that are not copied into data.user.
USER_RESERVED = ("password", "delay_ms", "status", "body", "retry_after", "answer_email", "inner_status",
                 "expires_in", "refresh_status")
DEFAULT_REFRESH_PATH = "/api/v1/auth/refresh"

_log_lock = threading.Lock()


def log(message):
    """One line on stderr; the lock keeps lines from concurrent threads whole."""
    line = "%s mock_api: %s\n" % (time.strftime("%H:%M:%S"), message)
    with _log_lock:
        sys.stderr.write(line)
        sys.stderr.flush()


def printable(value, limit=120):
    """Client-supplied text made safe for a log line (no control characters)."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def is_int(value):
    # bool is an int subclass; "delay_ms": true is a mistake, not 1 ms.
    return isinstance(value, int) and not isinstance(value, bool)


def write_atomically(path, text):
    """A test polling for the file must never read it half-written."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(subject, email, roles):
    """A JWT-shaped token; the signature is random bytes (nobody verifies it)."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": subject, "email": email, "roles": roles, "iat": now, "exp": now + 3600}
    return ".".join((b64url(json.dumps(header).encode()),
                     b64url(json.dumps(claims).encode()),
                     b64url(secrets.token_bytes(32))))


def to_bytes(text):
    # Lone surrogates are legal in JSON strings ("\ud800") but not in UTF-8.
    return text.encode("utf-8", "surrogatepass")


class UserError(ValueError):
    pass


def validate_users(doc):
    """Check the users file shape; messages name emails, never passwords."""
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), dict):
        raise UserError('top level must be {"users": {...}}')
    for email, user in doc["users"].items():
        if not isinstance(user, dict):
            raise UserError("%s: entry must be an object" % email)
        if not isinstance(user.get("password"), str):
            raise UserError("%s: password must be a string" % email)
        if "delay_ms" in user and not (is_int(user["delay_ms"]) and user["delay_ms"] >= 0):
            raise UserError("%s: delay_ms must be an integer >= 0" % email)
        if "status" in user and not (is_int(user["status"]) and 200 <= user["status"] <= 599):
            raise UserError("%s: status must be an integer in 200..599" % email)
        if "body" in user and not isinstance(user["body"], str):
            raise UserError("%s: body must be a string" % email)
        if "retry_after" in user and not (is_int(user["retry_after"]) and user["retry_after"] >= 0):
            raise UserError("%s: retry_after must be an integer >= 0" % email)
        if "refresh_status" in user and not (is_int(user["refresh_status"])
                                             and 200 <= user["refresh_status"] <= 599):
            raise UserError("%s: refresh_status must be an integer in 200..599" % email)
    return doc["users"]


class UsersFile:
    """The users file, re-read when it changes on disk."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp = None
        self._users = {}
        # At start-up a broken file is fatal: better than a mock that refuses everyone.
        self._stamp, self._users = self._read()

    def _read(self):
        st = os.stat(self.path)
        with open(self.path, "rb") as f:
            users = validate_users(json.load(f))
        # mtime alone misses two writes within the clock's granularity.
        return (st.st_mtime_ns, st.st_size, st.st_ino), users

    def current(self):
        with self._lock:
            try:
                st = os.stat(self.path)
                if (st.st_mtime_ns, st.st_size, st.st_ino) != self._stamp:
                    self._stamp, self._users = self._read()
                    log("reloaded users file (%d users)" % len(self._users))
            except (OSError, ValueError) as e:
                # Probably caught mid-write: keep serving the previous users and,
                # as the stamp is unchanged, try again on the next request.
                log("users file not reloaded, keeping previous users: %s" % e)
            return self._users


class State:
    """Everything the control endpoints read or change, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.reset()

    def reset(self):
        with self.lock:
            self.config = {}
            self.requests = []
            self.signins = 0
            self.refreshes = 0
            self.connections = {"http": 0, "https": 0}
            # refresh token -> email; each is good for one refresh.
            self.refresh_tokens = {}

    def issue_refresh_token(self, email):
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.refresh_tokens[token] = email
        return token

    def redeem_refresh_token(self, token):
        with self.lock:
            self.refreshes += 1
            return self.refresh_tokens.pop(token, None)

    def count_connection(self, listener):
        with self.lock:
            self.connections[listener] += 1

    def settings(self):
        with self.lock:
            return dict(self.config)

    def record(self, entry, signin):
        with self.lock:
            if signin:
                self.signins += 1
            self.requests.append(entry)
            del self.requests[:-MAX_RECORDED]

    def update_record(self, entry, **fields):
        # Entries are shared with /_control/requests, which serializes under the lock.
        with self.lock:
            entry.update(fields)

    def snapshot_requests(self):
        with self.lock:
            return json.dumps({"requests": self.requests})

    def stats(self):
        with self.lock:
            return {"signins": self.signins, "refreshes": self.refreshes,
                    "connections": sum(self.connections.values()),
                    "listeners": dict(self.connections)}


def validate_config(doc):
    """Return an error message for a bad /_control/config body, or None."""
    if not isinstance(doc, dict):
        return "config must be a JSON object"
    for key, value in doc.items():
        if value is None:
            continue
        if key in ("delay_ms", "retry_after"):
            ok = is_int(value) and value >= 0
        elif key == "status":
            ok = is_int(value) and 200 <= value <= 599
        elif key == "body":
            ok = isinstance(value, str)
        elif key == "mode":
            ok = value in MODES
        else:
            # A typo ("delay": 500) silently ignored would make a test lie.
            return "unknown key %r" % key
        if not ok:
            return "bad value for %r" % key
    return None


def json_bytes(doc):
    return json.dumps(doc).encode("utf-8")


def error_doc(code, reason, message):
    # The same shape as the API's documented 401, for every error we produce.
    return json_bytes({"error": reason, "message": message, "code": code})


class BodyError(Exception):
    """The request body could not be read; carries the answer to send."""

    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "NeostraMock/1.0"
    # Headers and body go out in two writes; without this, Nagle plus delayed
    # ACK adds ~40 ms to every keep-alive answer.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def setup(self):
        # StreamRequestHandler applies this per connection: an idle keep-alive
        # connection or a short body can hold a thread for at most this long.
        self.timeout = self.server.io_timeout
        super().setup()

    def __getattr__(self, name):
        # The stdlib answers 501 to any method without a do_X; route them all
        # through _dispatch so unsupported methods get 405 (or 404) like an API.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # --- logging: our own one line per request, nothing from the request body --

    def log_request(self, code="-", size="-"):
        pass  # _dispatch logs each request once it is over

    def log_message(self, format, *args):
        log("%s:%d %s" % (self.client_address[0], self.client_address[1], format % args))

    def send_error(self, code, message=None, explain=None):
        # The stdlib passes the raw request line as message, and would echo it
        # in the log and the answer; keep only the standard reason phrase.
        super().send_error(code)

    # --- answering ------------------------------------------------------------

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)

    def _send(self, code, body, close=False, headers=()):
        if code in (204, 304):
            body = b""  # these may not carry a body
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, doc, code=200):
        self._send(code, json_bytes(doc))

    def _send_error_doc(self, code, reason, message, close=False, headers=()):
        self._send(code, error_doc(code, reason, message), close=close, headers=headers)

    # --- request body -----------------------------------------------------------

    def _read_body(self, length_required):
        """Read the whole body within io_timeout, or raise BodyError.

        Any request may carry a body (it must be consumed to keep the connection
        usable).  A POST to the API without Content-Length is refused rather
        than guessed; control POSTs may omit it, as `curl -X POST` does.
        """
        if "Transfer-Encoding" in self.headers:
            raise BodyError(411, "Length Required", "chunked bodies are not supported")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            if length_required:
                raise BodyError(411, "Length Required", "Content-Length is required")
            return b""
        if len(set(lengths)) != 1 or not lengths[0].strip().isdigit():
            raise BodyError(400, "Bad Request", "invalid Content-Length")
        length = int(lengths[0])
        if length > MAX_BODY:
            raise BodyError(413, "Payload Too Large", "body larger than %d bytes" % MAX_BODY)
        # A per-recv timeout alone lets a client trickle one byte at a time for
        # ever; bound the whole body instead.
        deadline = time.monotonic() + self.server.io_timeout
        chunks, got = [], 0
        while got < length:
            if time.monotonic() >= deadline:
                raise BodyError(408, "Request Timeout", "body not received in time")
            try:
                chunk = self.rfile.read1(length - got)
            except TimeoutError:
                raise BodyError(408, "Request Timeout", "body not received in time")
            if not chunk:
                raise BodyError(400, "Bad Request", "connection closed inside the body")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    # --- dispatch ---------------------------------------------------------------

    def _dispatch(self):
        started = time.monotonic()
        self._status = None
        self._email = None
        self._note = ""
        path = self.path.split("?", 1)[0]
        control = CONTROL_ROUTES.get(path)
        entry = None
        if control is None:
            # Every request a client under test sends to the "API" is recorded,
            # so tests can also see requests to a wrong path or with a wrong method.
            entry = self._new_record(path)
            self.server.state.record(entry, signin=self._is_signin(path))
        try:
            try:
                body = self._read_body(length_required=control is None and self.command == "POST")
            except BodyError as e:
                # The stream position is unknown after a failed body: close.
                self._send_error_doc(e.code, e.reason, e.message, close=True)
                return
            if control is not None:
                method, action = control
                if self.command != method:
                    self._method_not_allowed(method)
                else:
                    action(self, body)
            elif path == self.server.refresh_path and self.command == "POST":
                self._refresh(body, entry)
            elif path != self.server.signin_path:
                self._send_error_doc(404, "Not Found", "no such endpoint")
            elif self.command != "POST":
                self._method_not_allowed("POST")
            else:
                self._signin(body, entry)
        except OSError as e:
            # The client went away (or TLS broke) while we answered.
            self.close_connection = True
            self._note = "client gone: %s" % e.__class__.__name__
        finally:
            if entry is not None:
                self.server.state.update_record(entry, status=self._status)
            self._log_line(path, started)

    def _is_signin(self, path):
        return path == self.server.signin_path and self.command == "POST"

    def _new_record(self, path):
        return {
            "method": self.command,
            "path": printable(path, 200),
            "email": None,
            "password_ok": False,
            "password_len": 0,
            "content_type": self.headers.get("Content-Type"),
            "user_agent": self.headers.get("User-Agent"),
            "tls": self.server.tls,
            "time": time.time(),
            "status": None,
        }

    def _method_not_allowed(self, allowed):
        self._send_error_doc(405, "Method Not Allowed", "use %s" % allowed,
                             headers=[("Allow", allowed)])

    def _log_line(self, path, started):
        outcome = self._status if self._status is not None else "no answer"
        parts = ["https" if self.server.tls else "http", self.command, printable(path)]
        if self._email is not None:
            parts.append("email=%s" % printable(self._email))
        parts.append("-> %s (%d ms)" % (outcome, (time.monotonic() - started) * 1000))
        if self._note:
            parts.append("[%s]" % self._note)
        self.log_message("%s", " ".join(parts))

    # --- sign-in ------------------------------------------------------------------

    def _signin(self, body, entry):
        state = self.server.state
        settings = state.settings()
        try:
            request = json.loads(body)
        except ValueError:  # includes UnicodeDecodeError
            request = None
        if (not isinstance(request, dict) or not isinstance(request.get("email"), str)
                or not isinstance(request.get("password"), str)):
            self._send_error_doc(400, "Bad Request", "email and password are required strings")
            return
        email = request["email"]
        self._email = email
        user = self.server.users.current().get(email)
        # The password lives only in `request` and this comparison; only its
        # length and the verdict leave this block.
        password = to_bytes(request.pop("password"))
        password_ok = user is not None and hmac.compare_digest(password, to_bytes(user["password"]))
        password_len = len(password)
        del password, request
        state.update_record(entry, email=email, password_ok=password_ok, password_len=password_len)

        # Global settings win over the user's own overrides.
        def setting(key):
            if key in settings:
                return settings[key]
            return user.get(key) if user is not None else None

        delay_ms = setting("delay_ms")
        if delay_ms and state.stop.wait(delay_ms / 1000.0):
            self.close_connection = True
            self._note = "stopping"
            return

        mode = settings.get("mode", "normal")
        if mode == "close":
            # No status line at all: the client sees the connection end.
            self.close_connection = True
            self._note = "closed without answer"
            return
        if mode == "hang":
            self._hang()
            return

        if password_ok:
            code, answer = 200, self._success_doc(email, user)
        else:
            code = 401
            answer = error_doc(401, "Unauthorized", "Invalid email or password")
        if setting("status") is not None:
            code = setting("status")
        if setting("body") is not None:
            answer = to_bytes(setting("body"))
        headers = []
        if setting("retry_after") is not None:
            headers.append(("Retry-After", str(setting("retry_after"))))
        self._send(code, answer, headers=headers)

    def _refresh(self, body, entry):
        """POST {"refreshToken": ...}: a new token (and refresh token) for
        a refresh token a sign-in issued, in the sign-in answer's shape
        (data.user with the user's roles now); each works once; else 401."""
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        token = request.get("refreshToken") if isinstance(request, dict) else None
        email = self.server.state.redeem_refresh_token(token) if isinstance(token, str) else None
        user = self.server.users.current().get(email) if email else None
        if email:
            self._email = email
            self.server.state.update_record(entry, email=email)
        if user is None:
            self._send(401, error_doc(401, "Unauthorized", "Invalid refresh token"))
            return
        if user.get("refresh_status") is not None:
            code = user["refresh_status"]
            self._send(code, error_doc(code, "Refused", "refresh refused (refresh_status)"))
            return
        self._send(200, self._success_doc(email, user))

    def _success_doc(self, email, user):
        # A stable default id, so repeated sign-ins look like the same account.
        default_id = "u-" + hashlib.sha256(to_bytes(email)).hexdigest()[:12]
        profile = {
            "id": user.get("id", default_id),
            "email": user["answer_email"] if "answer_email" in user else email,
            "name": user.get("name", email.split("@", 1)[0]),
            "roles": user.get("roles", []),
        }
        for key, value in user.items():
            if key not in USER_RESERVED and key not in profile:
                profile[key] = value
        return json_bytes({
            "status": user["inner_status"] if "inner_status" in user else 200,
            "message": "Success",
            "data": {
                "token": make_token(profile["id"], profile["email"], profile["roles"]),
                "refreshToken": self.server.state.issue_refresh_token(email),
                "expiresIn": user.get("expires_in", 3600),
                "user": profile,
            },
            "errors": [],
        })

    def _hang(self):
        """Hold the connection unanswered until the client leaves or we stop.

        Whatever the client sends meanwhile is read and dropped, which is also
        how its leaving is seen (EOF); a plain sleep would keep the socket.
        """
        self.close_connection = True
        self._note = "held without answer"
        sock = self.connection
        sock.settimeout(POLL_SECONDS)
        while not self.server.state.stop.is_set():
            try:
                if not sock.recv(4096):
                    self._note += ", client left"
                    return
            except TimeoutError:
                continue
            except OSError:
                self._note += ", client left"
                return
        self._note += ", server stopping"

    # --- control endpoints ------------------------------------------------------

    def _control_health(self, body):
        self._send_json({"ok": True})

    def _control_stats(self, body):
        self._send_json(self.server.state.stats())

    def _control_requests(self, body):
        self._send(200, self.server.state.snapshot_requests().encode("utf-8"))

    def _control_reset(self, body):
        self.server.state.reset()
        self._send_json({"ok": True})

    def _control_config(self, body):
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        problem = validate_config(doc) if doc is not None else "body is not JSON"
        if problem:
            self._send_error_doc(400, "Bad Request", problem)
            return
        state = self.server.state
        with state.lock:
            for key, value in doc.items():
                if value is None:
                    state.config.pop(key, None)
                else:
                    state.config[key] = value
            current = dict(state.config)
        self._send_json({"ok": True, "config": current})


CONTROL_ROUTES = {
    "/_control/config": ("POST", Handler._control_config),
    "/_control/reset": ("POST", Handler._control_reset),
    "/_control/requests": ("GET", Handler._control_requests),
    "/_control/stats": ("GET", Handler._control_stats),
    "/_control/health": ("GET", Handler._control_health),
}


class MockServer(ThreadingHTTPServer):
    # Handler threads never keep the process alive: stopping must not wait
    # for a client that keeps a connection open.
    daemon_threads = True
    # socketserver's default listen backlog of 5 drops the SYNs of a burst of
    # parallel sign-ins, which then wait ~1 s for the client's retransmit.
    request_queue_size = 128

    def __init__(self, port, listener, state, users, signin_path, io_timeout, tls_context=None):
        self.listener = listener
        self.state = state
        self.users = users
        self.signin_path = signin_path
        self.refresh_path = DEFAULT_REFRESH_PATH
        self.io_timeout = io_timeout
        self.tls_context = tls_context
        self.tls = tls_context is not None
        super().__init__(("127.0.0.1", port), Handler)

    def get_request(self):
        # Counted at accept (before any TLS handshake): this is the number
        # keep-alive tests compare.
        conn, addr = super().get_request()
        self.state.count_connection(self.listener)
        return conn, addr

    def finish_request(self, request, client_address):
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in the connection's own thread, and not on
        # the listening socket: a client that connects and says nothing (or
        # rejects our certificate) must not stall the accept loop.
        request.settimeout(self.io_timeout)
        try:
            tls_sock = self.tls_context.wrap_socket(request, server_side=True)
        except OSError as e:
            log("%s:%d TLS handshake failed: %s" % (client_address[0], client_address[1],
                                                    getattr(e, "reason", None) or e))
            return
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            # process_request_thread only closes the (now detached) plain socket.
            self.shutdown_request(tls_sock)

    def handle_error(self, request, client_address):
        # The default prints a whole traceback; one line keeps stderr greppable.
        log("%s:%d error: %s" % (client_address[0], client_address[1], sys.exc_info()[1]))


def parse_args(argv):
    p = argparse.ArgumentParser(description="Mock Neostra sign-in API (127.0.0.1 only).")
    p.add_argument("--users", required=True, help="users JSON file (re-read when it changes)")
    p.add_argument("--http-port", type=int, default=0, help="plain HTTP port (default 0: ephemeral)")
    p.add_argument("--https-port", type=int, help="also listen with TLS on this port (0: ephemeral)")
    p.add_argument("--cert", help="server certificate chain (PEM) for --https-port")
    p.add_argument("--key", help="server private key (PEM) for --https-port")
    p.add_argument("--port-file", help='write {"http": N, "https": N|null} here once listening')
    p.add_argument("--pid-file", help="write our PID here; removed on exit")
    p.add_argument("--signin-path", default=DEFAULT_SIGNIN_PATH, help="sign-in path (default %(default)s)")
    p.add_argument("--refresh-path", default=DEFAULT_REFRESH_PATH,
                   help="token refresh path (default %(default)s)")
    p.add_argument("--io-timeout", type=float, default=10.0,
                   help="seconds allowed for a request body, a TLS handshake or an idle keep-alive (default 10)")
    args = p.parse_args(argv)
    if args.https_port is not None and not (args.cert and args.key):
        p.error("--https-port needs --cert and --key")
    if (args.cert or args.key) and args.https_port is None:
        p.error("--cert/--key only make sense with --https-port")
    for name in ("http_port", "https_port"):
        port = getattr(args, name)
        if port is not None and not 0 <= port <= 65535:
            p.error("--%s must be 0..65535" % name.replace("_", "-"))
    if args.io_timeout <= 0:
        p.error("--io-timeout must be positive")
    return args


def main(argv):
    args = parse_args(argv)

    # Signals are taken synchronously by the main thread (sigwait below).
    # Blocking them before any thread exists means every thread inherits the
    # mask; SIGINT is reset to default because a shell starts background jobs
    # with it ignored, and an ignored signal never reaches sigwait.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    for sig in stop_signals:
        signal.signal(sig, signal.SIG_DFL)

    try:
        users = UsersFile(args.users)
    except (OSError, ValueError) as e:
        log("cannot load users file %s: %s" % (args.users, e))
        return 2

    state = State()
    servers = []
    try:
        servers.append(MockServer(args.http_port, "http", state, users,
                                  args.signin_path, args.io_timeout))
        if args.https_port is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            # libcurl built with nghttp2 offers h2 first; we only speak HTTP/1.1.
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.load_cert_chain(args.cert, args.key)
            servers.append(MockServer(args.https_port, "https", state, users,
                                      args.signin_path, args.io_timeout, tls_context=ctx))
    except (OSError, ssl.SSLError) as e:
        log("cannot listen: %s" % e)
        for s in servers:
            s.server_close()
        return 2

    for server in servers:
        server.refresh_path = args.refresh_path
    ports = {"http": servers[0].server_address[1],
             "https": servers[1].server_address[1] if len(servers) > 1 else None}
    threads = [threading.Thread(target=s.serve_forever, name=s.listener, daemon=True) for s in servers]
    for t in threads:
        t.start()

    written, status = [], 0
    try:
        if args.pid_file:
            write_atomically(args.pid_file, "%d\n" % os.getpid())
            written.append(args.pid_file)
        # Last: its appearance tells a test that everything is up.
        if args.port_file:
            write_atomically(args.port_file, json.dumps(ports) + "\n")
            written.append(args.port_file)
    except OSError as e:
        log("cannot write pid/port file: %s" % e)
        status = 2
    else:
        log("listening on 127.0.0.1: http %s, https %s; users from %s"
            % (ports["http"], ports["https"], args.users))
        sig = signal.sigwait(stop_signals)
        log("got %s, stopping" % signal.Signals(sig).name)

    # Wake held connections and delays first, then stop accepting.
    state.stop.set()
    for s in servers:
        s.shutdown()
        s.server_close()
    # Stale files would let the next test read a dead mock's ports.
    for path in written:
        try:
            os.unlink(path)
        except OSError:
            pass
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
