#!/usr/bin/python3
"""report.py OUTDIR: the Markdown table and target ratios of `make bench`.

OUTDIR/rows.tsv lists the rows in order, tab-separated:
    id  kind  stack  api  workers  note
kind "pam": the load driver's JSON runs OUTDIR/<id>-w<N>.r<R>.json (and,
for rows against the mock, <...>.stats.json with its connection counters);
kind "wrk": wrk's output OUTDIR/<id>-c<N>.r<R>.wrk; kind "skip": the row
is printed as "not measured (note)".  Every figure is the median over the
runs (each column on its own); failures are summed over the runs, and the
first error of each failing row is listed under the table.

Python 3 standard library only.
"""

import glob
import json
import os
import re
import statistics
import sys


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * WRK_UNITS[m.group(2)] if m else None


def parse_wrk(path):
    """req/s, p50, p90, p99, max (ms) and errors from `wrk --latency`."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    out = {"failures": 0}
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    out["rate"] = float(m.group(1)) if m else None
    m = re.search(r"^\s*Latency\s+\S+\s+\S+\s+(\S+)", text, re.M)
    out["max"] = wrk_ms(m.group(1)) if m else None
    for p in ("50", "90", "99"):
        m = re.search(r"^\s*%s%%\s+(\S+)" % p, text, re.M)
        out["p" + p] = wrk_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        out["failures"] += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["failures"] += sum(int(x) for x in m.groups())
    if out["rate"] is None:
        out["failures"] += 1
        out["error"] = "no result from wrk: " + " ".join(text.split())[:200]
    return out


def fmt(v, digits=3):
    if v is None:
        return "–"
    return "%.*f" % (digits, v)


def fmt_rate(v):
    return "–" if v is None else "%.0f" % v


class Row:
    def __init__(self, rid, kind, stack, api, workers, note):
        self.id, self.kind, self.stack, self.api, self.note = rid, kind, stack, api, note
        self.workers = workers


def read_rows(outdir):
    rows = []
    with open(os.path.join(outdir, "rows.tsv"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 5:
                continue
            parts += [""] * (6 - len(parts))
            rows.append(Row(*parts[:6]))
    return rows


def measure(outdir, row, n):
    """The medians of one (row, worker count); None when nothing ran."""
    if row.kind == "pam":
        runs = sorted(glob.glob(os.path.join(outdir, "%s-w%s.r*.json" % (row.id, n))))
        docs = []
        errors = []
        for path in runs:
            doc = load_json(path)
            if doc is None:
                # The driver died or printed nothing: a failed run, shown.
                err = path[:-5] + ".err"
                text = ""
                try:
                    with open(err, encoding="utf-8", errors="replace") as f:
                        text = " ".join(f.read().split())[:200]
                except OSError:
                    pass
                errors.append("no result from the driver" + (": " + text if text else ""))
                docs.append({"failures": 1})
                continue
            docs.append(doc)
            if doc.get("first_error"):
                errors.append(doc["first_error"])
        if not docs:
            return None
        conns = []
        for path in runs:
            st = load_json(path[:-5] + ".stats.json")
            if st and st.get("signins"):
                # The GET /_control/stats that read them came on a
                # connection of its own, counted at accept: not the daemon's.
                conns.append(100.0 * max(0, st["connections"] - 1) / st["signins"])
        settle = []
        for path in runs:
            try:
                with open(path[:-5] + ".settle", encoding="utf-8") as f:
                    settle.append(float(f.read().strip()))
            except (OSError, ValueError):
                pass
        return {
            "settle": median(settle) if settle else None,
            "rate": median(d.get("logins_per_s") for d in docs),
            "p50": median(d.get("p50_ms") for d in docs),
            "p90": median(d.get("p90_ms") for d in docs),
            "p99": median(d.get("p99_ms") for d in docs),
            "max": median(d.get("max_ms") for d in docs),
            "failures": sum(int(d.get("failures") or 0) for d in docs),
            "logins": sum(int(d.get("logins") or 0) for d in docs),
            "conns": median(conns) if conns else None,
            "runs": len(docs),
            "error": errors[0] if errors else None,
        }
    if row.kind == "wrk":
        runs = sorted(glob.glob(os.path.join(outdir, "%s-c%s.r*.wrk" % (row.id, n))))
        docs = [d for d in (parse_wrk(p) for p in runs) if d is not None]
        if not docs:
            return None
        return {
            "rate": median(d["rate"] for d in docs),
            "p50": median(d["p50"] for d in docs),
            "p90": median(d["p90"] for d in docs),
            "p99": median(d["p99"] for d in docs),
            "max": median(d["max"] for d in docs),
            "failures": sum(d["failures"] for d in docs),
            "conns": None,
            "settle": None,
            "runs": len(docs),
            "error": next((d["error"] for d in docs if d.get("error")), None),
        }
    return None


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: report.py OUTDIR\n")
        return 2
    outdir = argv[1]
    rows = read_rows(outdir)
    results = {}
    lines = []
    notes = []
    lines.append("| stack | API | workers | logins/s | p50 ms | p90 ms | p99 ms | max ms | failures "
                 "| new API conns / 100 logins | neostrad busy after (s) |")
    lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        if row.kind == "skip":
            lines.append("| %s | %s | %s | not measured (%s) | | | | | | | |"
                         % (row.stack, row.api, row.workers.replace(" ", ", "), row.note))
            continue
        for n in row.workers.split():
            m = measure(outdir, row, n)
            wlabel = ("%s conn%s" % (n, "" if n == "1" else "s")) if row.kind == "wrk" else n
            if m is None:
                lines.append("| %s | %s | %s | not measured (no run finished%s) | | | | | | | |"
                             % (row.stack, row.api, wlabel, "; " + row.note if row.note else ""))
                continue
            results[(row.id, n)] = m
            fails = str(m["failures"])
            if m["failures"]:
                notes.append("%s, %s, %s workers: %d failures; first: %s"
                             % (row.stack, row.api, n, m["failures"], m["error"]))
                fails = "**%d** [%d]" % (m["failures"], len(notes))
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                row.stack, row.api, wlabel, fmt_rate(m["rate"]), fmt(m["p50"]), fmt(m["p90"]),
                fmt(m["p99"]), fmt(m["max"]), fails, fmt(m["conns"], 2), fmt(m["settle"], 1)))
    out = ["\n".join(lines), "",
           "*new API conns / 100 logins*: connections the API (mock, fixed-api.py or daemon-fakeapi) "
           "accepted per 100 "
           "sign-ins it answered, counted from the end of the warm-up (the stats request's own "
           "connection not counted).  *neostrad busy after*: seconds until the daemon "
           "was idle again after the measured load (work it queued, e.g. the yescrypt verifier of "
           "each online success); the next run starts only then.", ""]
    if notes:
        out.append("Failures:\n")
        out.extend("%d. %s" % (i + 1, n) for i, n in enumerate(notes))
        out.append("")

    # ---- targets, from this run's figures ------------------------------------
    asked = set()

    def get(rid, n, key):
        asked.add((rid, n))
        m = results.get((rid, n))
        if m is None or m.get(key) is None:
            return None
        # A row with failures does not count as a measurement of the target.
        if m["failures"]:
            return None
        return m[key]

    targets = []
    failed_rows = {k for k, m in results.items() if m["failures"]}

    def missing(label):
        # Say why: a row with failures is not a measurement of the target.
        targets.append("- %s: not measured%s" % (label, " (a row it needs has failures: **missed**)"
                                                  if failed_rows & asked else ""))
        asked.clear()

    def ratio(label, num, den, op, limit, unit="×"):
        if num is None or den is None or den == 0:
            missing(label)
            return
        r = num / den
        ok = r <= limit if op == "<=" else r >= limit
        targets.append("- %s: %.2f%s (target %s %g%s): **%s**"
                       % (label, r, unit, "≤" if op == "<=" else "≥", limit, unit,
                          "met" if ok else "missed"))
        asked.clear()

    def absolute(label, value, limit, unit):
        if value is None:
            missing(label)
            return
        ok = value <= limit
        u = " " + unit if unit else ""
        targets.append("- %s: %.2f%s (target ≤ %g%s): **%s**"
                       % (label, value, u, limit, u, "met" if ok else "missed"))
        asked.clear()

    ours = "ours-nginx-http"
    ratio("p50 ours (fixed nginx, HTTP, 1 worker) / pam_permit p50 (1 worker)",
          get(ours, "1", "p50"), get("permit", "1", "p50"), "<=", 4)
    # The same ratio for the design's floor (relay-floor: the module and one
    # relayed keep-alive request, nothing else), and what the daemon adds.
    floor, permit, mine = (results.get((r, "1"), {}).get("p50")
                           for r in ("relay-nginx-http", "permit", ours))
    if floor and permit and mine:
        targets.append("- (for reference: the design's floor, pam_neostra → relay-floor → nginx, "
                       "1 worker: p50 %.3f ms = %.2f× pam_permit; ours is %.2f× that floor, "
                       "+%.0f µs)" % (floor, floor / permit, mine / floor, (mine - floor) * 1000))
    for n, lim in (("1", 3), ("8", 2)):
        ratio("logins/s ours (fixed nginx, HTTP, %s worker%s) / pam_ldap+nslcd" % (n, "s" * (n != "1")),
              get(ours, n, "rate"), get("ldap", n, "rate"), ">=", lim)
    for n in ("1", "8"):
        ratio("logins/s ours (fixed nginx, HTTP, %s worker%s) / pam_exec+curl" % (n, "s" * (n != "1")),
              get(ours, n, "rate"), get("pamexec", n, "rate"), ">=", 30)
    for n in ("1", "8"):
        ratio("logins/s ours HTTP / HTTPS (fixed nginx, %s worker%s)" % (n, "s" * (n != "1")),
              get(ours, n, "rate"), get("ours-nginx-https", n, "rate"), "<=", 1.3)
        ratio("p50 ours HTTPS / HTTP (fixed nginx, %s worker%s)" % (n, "s" * (n != "1")),
              get("ours-nginx-https", n, "p50"), get(ours, n, "p50"), "<=", 1.3)
    for rid, label in (("ours-mock0-https", "mock 0 ms"), ("ours-mock50-https", "mock 50 ms"),
                       ("ours-fixed50-https", "fixed-api.py 50 ms")):
        for n in ("1", "8", "64"):
            m = results.get((rid, n))
            if m is None:
                continue
            absolute("new API connections per 100 logins, ours, HTTPS, %s, %s workers" % (label, n),
                     m["conns"], 1, "")
    present = {row.id for row in rows if row.kind != "skip"}
    for rid, label in (("ours-mock50-http", "mock, HTTP"), ("ours-mock50-https", "mock, HTTPS"),
                       ("ours-fixed50-http", "fixed-api.py, HTTP"),
                       ("ours-fixed50-https", "fixed-api.py, HTTPS"),
                       ("ours-cfixed50-http", "daemon-fakeapi (C), HTTP")):
        if rid in present or rid.startswith("ours-mock"):
            absolute("p99 of 64 concurrent logins, API answering in 50 ms (%s)" % label,
                     get(rid, "64", "p99"), 65, "ms")
    for rid, label in (("wrk-mock50", "the mock"), ("wrk-mock50-https", "the mock over HTTPS"),
                       ("wrk-fixed50", "fixed-api.py"),
                       ("wrk-cfixed50", "daemon-fakeapi (C)")):
        floor = get(rid, "64", "p99")
        if floor is not None:
            targets.append("- (for reference: %s alone answering in 50 ms, 64 keep-alive connections "
                           "with wrk, no PAM: p99 %.2f ms; above 65 ms there, the API itself misses)"
                           % (label, floor))
    out.append("Targets (issue 6), from the figures above:\n")
    out.extend(targets)
    out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
