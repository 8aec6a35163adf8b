#!/usr/bin/python3
"""The MESSAGE_IDs of neostrad against its journal catalog, for
tests/integration/journal-catalog.sh.

    journal_catalog.py check TOP
        neostrad/log-ids.h defines each id once, as MESSAGE_ID_<NAME>
        "<32 lowercase hex digits>"; every <NAME> is used by some
        neostrad/*.c, no .c file writes an id of its own; and
        packaging/systemd/neostra.catalog has exactly one entry per id and
        none other, each with Subject, Defined-By: pam_neostra, Support,
        Documentation and a body.  Prints one line per problem ("ok ..."
        lines for what holds); exit 0 when nothing is wrong.
    journal_catalog.py ids TOP
        The ids, one per line, as "NAME ID".
"""

import os
import re
import sys

ID_RE = re.compile(r'^#define\s+MESSAGE_ID_([A-Z0-9_]+)\s+"([^"]*)"\s*$')
HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def header_ids(top):
    """[(name, id)] in the order log-ids.h gives them."""
    out = []
    with open(os.path.join(top, "neostrad", "log-ids.h")) as f:
        for line in f:
            m = ID_RE.match(line)
            if m:
                out.append(m.groups())
    return out


def catalog_entries(top):
    """{id: (headers dict, body text)}, plus a list of problems."""
    entries, problems, order = {}, [], []
    cur = None
    with open(os.path.join(top, "packaging", "systemd", "neostra.catalog")) as f:
        lines = f.read().split("\n")
    for line in lines:
        if line.startswith("-- "):
            cur = line[3:].strip()
            order.append(cur)
            if cur in entries:
                problems.append("catalog: entry %s given twice" % cur)
            entries[cur] = ({}, [])
            in_body = False
            continue
        if cur is None:
            if line and not line.startswith("#"):
                problems.append("catalog: text before the first entry: %r" % line)
            continue
        headers, body = entries[cur]
        if not in_body:
            if line == "":
                in_body = True
                continue
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if not m:
                problems.append("catalog: %s: not a header: %r" % (cur, line))
                continue
            headers[m.group(1)] = m.group(2)
        else:
            body.append(line)
    return {k: (h, "\n".join(b).strip()) for k, (h, b) in entries.items()}, problems


def check(top):
    problems, oks = [], []
    ids = header_ids(top)
    names = [n for n, _ in ids]
    values = [v for _, v in ids]
    if not ids:
        problems.append("log-ids.h defines no MESSAGE_ID_*")
    for n, v in ids:
        if not HEX_ID.match(v):
            problems.append("MESSAGE_ID_%s is %r, not 32 lowercase hex digits" % (n, v))
    for dup in sorted({v for v in values if values.count(v) > 1}):
        problems.append("id %s is defined twice" % dup)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append("MESSAGE_ID_%s is defined twice" % dup)

    sources = {}
    ndir = os.path.join(top, "neostrad")
    for fn in sorted(os.listdir(ndir)):
        if fn.endswith(".c"):
            with open(os.path.join(ndir, fn)) as f:
                sources[fn] = f.read()
    for n in names:
        users = [fn for fn, text in sources.items() if re.search(r"\bMESSAGE_ID_%s\b" % n, text)]
        if not users:
            problems.append("MESSAGE_ID_%s is used by no neostrad/*.c" % n)
    for fn, text in sources.items():
        for m in re.finditer(r"\bMESSAGE_ID_([A-Z0-9_]+)\b", text):
            if m.group(1) not in names:
                problems.append("%s uses MESSAGE_ID_%s, which log-ids.h does not define" % (fn, m.group(1)))
        for m in re.finditer(r'"([0-9a-fA-F]{32})"', text):
            problems.append("%s writes an id of its own (%s): ids belong in log-ids.h" % (fn, m.group(1)))
    if not problems:
        oks.append("log-ids.h: %d ids, each 32 hex digits, unique, each used by the daemon" % len(ids))

    entries, cproblems = catalog_entries(top)
    problems.extend(cproblems)
    missing = [(n, v) for n, v in ids if v not in entries]
    extra = [k for k in entries if k not in values]
    for n, v in missing:
        problems.append("MESSAGE_ID_%s (%s) has no catalog entry" % (n, v))
    for k in extra:
        problems.append("catalog entry %s has no MESSAGE_ID in log-ids.h" % k)
    if not missing and not extra:
        oks.append("the catalog has exactly the %d ids of log-ids.h" % len(ids))
    bad = 0
    for k, (headers, body) in entries.items():
        for h in ("Subject", "Support", "Documentation"):
            if not headers.get(h):
                problems.append("catalog entry %s has no %s" % (k, h))
                bad += 1
        if headers.get("Defined-By") != "pam_neostra":
            problems.append("catalog entry %s: Defined-By is %r, not pam_neostra" % (k, headers.get("Defined-By")))
            bad += 1
        if len(body) < 40:
            problems.append("catalog entry %s has no body (what happened, what to do)" % k)
            bad += 1
        if not HEX_ID.match(k):
            problems.append("catalog entry %r is not 32 lowercase hex digits" % k)
            bad += 1
    if not bad and entries:
        oks.append("every catalog entry has Subject, Defined-By: pam_neostra, Support, Documentation and a body")
    for o in oks:
        print("ok %s" % o)
    for p in problems:
        print("problem %s" % p)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        return check(argv[2])
    if len(argv) == 3 and argv[1] == "ids":
        for n, v in header_ids(argv[2]):
            print(n, v)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
