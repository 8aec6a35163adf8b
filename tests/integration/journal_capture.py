#!/usr/bin/python3
"""A stand-in for journald's native socket, for tests/integration/journal.sh.

    journal_capture.py capture SOCKET OUTDIR READYFILE
        Bind a SOCK_DGRAM socket at SOCKET (what /run/systemd/journal/socket
        is) and record every entry until SIGTERM: OUTDIR/entries.jsonl gets
        one JSON object per entry ({"fields": {NAME: value},
        "via": "datagram"|"memfd", "errors": [...]}), OUTDIR/raw.bin every
        payload as received (so the caller can search it for secrets).
        READYFILE is created once the socket is bound.
    journal_capture.py selftest SOCKET
        Send three entries in the three shapes libsystemd uses: plain
        "NAME=value" lines, a value with a newline (binary: NAME, newline,
        64-bit little-endian length, value, newline), and an entry in a
        sealed memfd passed with SCM_RIGHTS (what sd_journal_sendv does when
        a datagram would be too large).  Each carries SELFTEST=<shape>.
    journal_capture.py expect OUTDIR SECONDS SELECTOR... [-- CHECK...]
        Wait up to SECONDS for an entry matching every SELECTOR, then check
        every matching entry against every CHECK.  Exit 0 when all hold.
    journal_capture.py count OUTDIR N SELECTOR...
        Exactly N entries match (no waiting: call after a barrier).
    journal_capture.py all OUTDIR SELECTOR... [-- CHECK...]
        Every entry matching the selectors passes the checks (and there is
        at least one).

    journal_capture.py from-journalctl OUTDIR < JSON-LINES
        Write OUTDIR/entries.jsonl from `journalctl -o json` (one entry a
        line), so that expect, count and all read a real journal's entries
        too (tests/integration/journal-catalog.sh).  A value journalctl
        gives as an array of bytes (not valid UTF-8, or with controls)
        becomes text with its bytes as they are, decoded with
        replacement, and the entry records an error: neostrad escapes
        what it logs, so none of its fields should need that.

SELECTOR and CHECK: NAME=value (exact), NAME~regex (re.search), NAME
(present), !NAME (absent).

The native protocol, from systemd's journal-send.c and journald-native.c:
a datagram is a list of fields, each either "NAME=value\\n" or
"NAME\\n" + le64 length + value + "\\n"; an empty datagram with one file
descriptor (a memfd) carries the same list in the file instead.  NAMEs
are [A-Z0-9_], not starting with a digit; a leading "_" is journald's own
(trusted) namespace, which clients cannot set.
"""

import json
import os
import re
import signal
import socket
import struct
import sys
import time

MAX_DATAGRAM = 16 * 1024 * 1024
LARGE_VALUE = 1024 * 1024
NAME_RE = re.compile(rb"^[A-Z_][A-Z0-9_]*$")


def parse_entry(data):
    """Return (fields, errors): fields maps NAME to value (str); a NAME
    given twice is an error (neostrad never repeats a field)."""
    fields, errors = {}, []
    i, n = 0, len(data)
    while i < n:
        nl = data.find(b"\n", i)
        if nl < 0:
            errors.append("unterminated field at byte %d" % i)
            break
        line = data[i:nl]
        eq = line.find(b"=")
        if eq >= 0:
            name, value = line[:eq], line[eq + 1:]
            i = nl + 1
        else:
            name = line
            if nl + 9 > n:
                errors.append("binary field %r without a length" % name)
                break
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            start = nl + 9
            if start + size + 1 > n or data[start + size:start + size + 1] != b"\n":
                errors.append("binary field %r with a bad length %d" % (name, size))
                break
            value = data[start:start + size]
            i = start + size + 1
        if not NAME_RE.match(name) or name.startswith(b"_"):
            errors.append("invalid field name %r" % name)
        key = name.decode("ascii", "replace")
        if key in fields:
            errors.append("field %s given twice" % key)
        if len(value) > LARGE_VALUE:
            # Kept as a summary: every check would otherwise re-read it.
            uniform = value.count(value[:1]) == len(value)
            fields[key] = "<large: %d bytes%s>" % (
                len(value), " of %r" % value[:1].decode("latin-1") if uniform else "")
        else:
            fields[key] = value.decode("utf-8", "replace")
    return fields, errors


def capture(path, outdir, ready):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    s.settimeout(0.2)  # to notice SIGTERM between datagrams
    entries = open(os.path.join(outdir, "entries.jsonl"), "a")
    raw = open(os.path.join(outdir, "raw.bin"), "ab")
    open(ready, "w").close()
    fd_space = socket.CMSG_SPACE(16 * 4)
    while not stop:
        try:
            data, anc, flags, _ = s.recvmsg(MAX_DATAGRAM, fd_space)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        fds = []
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(cdata) - len(cdata) % 4
                fds.extend(struct.unpack("%di" % (usable // 4), cdata[:usable]))
        errors, via = [], "datagram"
        if flags & socket.MSG_TRUNC:
            errors.append("datagram truncated")
        if flags & socket.MSG_CTRUNC:
            errors.append("control data truncated")
        if fds:
            via = "memfd"
            if data:
                errors.append("a datagram with both a payload and a file descriptor")
            if len(fds) != 1:
                errors.append("%d file descriptors in one datagram" % len(fds))
            chunks = []
            try:
                os.lseek(fds[0], 0, os.SEEK_SET)
                while True:
                    b = os.read(fds[0], 1 << 20)
                    if not b:
                        break
                    chunks.append(b)
            except OSError as e:
                errors.append("cannot read the passed file: %s" % e)
            data = b"".join(chunks)
            for fd in fds:
                os.close(fd)
        fields, perr = parse_entry(data)
        errors.extend(perr)
        raw.write(struct.pack("<Q", len(data)) + data)
        raw.flush()
        entries.write(json.dumps({"fields": fields, "via": via, "size": len(data),
                                  "errors": errors}) + "\n")
        entries.flush()
    s.close()
    os.unlink(path)
    return 0


def selftest(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"MESSAGE=plain entry\nPRIORITY=6\nSELFTEST=plain\n", path)
    value = b"two\nlines"
    s.sendto(b"MESSAGE\n" + struct.pack("<Q", len(value)) + value + b"\nSELFTEST=binary\n", path)
    fd = os.memfd_create("journal-selftest", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    big = b"x" * (256 * 1024)
    os.write(fd, b"MESSAGE=from a memfd\nSELFTEST=memfd\nBIG=" + big + b"\n")
    import fcntl
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    # No payload, one descriptor, as journal-send.c does.
    s.connect(path)
    s.sendmsg([], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
    os.close(fd)
    s.close()
    return 0


def load(outdir):
    out = []
    try:
        with open(os.path.join(outdir, "entries.jsonl")) as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def split_args(args):
    if "--" in args:
        k = args.index("--")
        return args[:k], args[k + 1:]
    return args, []


def holds(fields, cond):
    """(ok, why) for one selector/check."""
    if cond.startswith("!"):
        name = cond[1:]
        return name not in fields, "%s is present (%r)" % (name, fields.get(name))
    m = re.match(r"^([A-Za-z0-9_]+)([=~])(.*)$", cond, re.S)
    if not m:
        return cond in fields, "%s is missing" % cond
    name, op, want = m.groups()
    if name not in fields:
        return False, "%s is missing" % name
    have = fields[name]
    if op == "=":
        return have == want, "%s=%r, expected %r" % (name, have, want)
    return re.search(want, have) is not None, "%s=%r does not match /%s/" % (name, have, want)


def matching(entries, selectors):
    return [e for e in entries if all(holds(e["fields"], c)[0] for c in selectors)]


def check(entries, checks):
    bad = []
    for e in entries:
        for c in checks:
            ok, why = holds(e["fields"], c)
            if not ok:
                bad.append(why)
        bad.extend(e.get("errors", []))
    return bad


def show(e):
    return json.dumps(e["fields"], sort_keys=True)[:600]


def from_journalctl(outdir):
    with open(os.path.join(outdir, "entries.jsonl"), "w") as out:
        for line in sys.stdin:
            if not line.strip():
                continue
            e = json.loads(line)
            fields, errors = {}, []
            for k, v in e.items():
                if isinstance(v, list):
                    if v and all(isinstance(b, int) for b in v):
                        v = bytes(v).decode("utf-8", "replace")
                        errors.append("%s is binary in the journal" % k)
                    else:
                        errors.append("%s is given %d times" % (k, len(v)))
                        v = str(v)
                elif v is None:
                    v = "<large>"
                fields[k] = v
            out.write(json.dumps({"fields": fields, "via": "journald", "errors": errors}) + "\n")
    return 0


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "capture" and len(argv) == 5:
        return capture(argv[2], argv[3], argv[4])
    if cmd == "from-journalctl" and len(argv) == 3:
        return from_journalctl(argv[2])
    if cmd == "selftest" and len(argv) == 3:
        return selftest(argv[2])
    if cmd == "expect" and len(argv) >= 5:
        outdir, seconds = argv[2], float(argv[3])
        selectors, checks = split_args(argv[4:])
        deadline = time.monotonic() + seconds
        while True:
            found = matching(load(outdir), selectors)
            if found or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if not found:
            print("    no entry with %s within %gs" % (" ".join(selectors), seconds))
            return 1
        bad = check(found, checks)
        for why in bad:
            print("    %s" % why)
        if bad:
            for e in found:
                print("    entry: %s" % show(e))
        return 1 if bad else 0
    if cmd == "count" and len(argv) >= 4:
        found = matching(load(argv[2]), argv[4:])
        if len(found) != int(argv[3]):
            print("    %d entries with %s, expected %s" % (len(found), " ".join(argv[4:]), argv[3]))
            for e in found:
                print("    entry: %s" % show(e))
            return 1
        return 0
    if cmd == "all" and len(argv) >= 3:
        selectors, checks = split_args(argv[3:])
        found = matching(load(argv[2]), selectors)
        if not found:
            print("    no entries with %s" % " ".join(selectors))
            return 1
        bad = check(found, checks)
        for why in sorted(set(bad)):
            print("    %s" % why)
        return 1 if bad else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
