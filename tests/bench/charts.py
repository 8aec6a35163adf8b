#!/usr/bin/python3
"""charts.py RESULTS.md OUTDIR: the SVG charts of `make bench`, drawn with
gnuplot (Debian's gnuplot-nox) from the Markdown table report.py writes.

RESULTS.md is $BUILDDIR/bench/results.md after `make bench`, or any file
holding that table (BENCHMARKS.md's "latest table" is a copy of it, which
is how the charts committed in tests/bench/charts/ were drawn).  The first
table whose header starts "| stack | API | workers | logins/s |" is read;
wrk rows (no PAM) and rows not measured, or with failures, are left out.

Written to OUTDIR:
    logins.svg          logins/s by worker count, one line per system
                        (the APIs that answer at once)
    logins-50ms.svg     the same for the APIs that answer in 50 ms
    latency-wN.svg      p50, p90 and p99 per system at N workers (one chart
                        per worker count measured)
and, beside each, the .dat file gnuplot read and the .gp script it ran.
Prints the SVGs' names.  Exit 0 when every chart was drawn; 1 when gnuplot
failed or the table is missing; 77 when gnuplot is not installed.

Python 3 standard library only.
"""

import math
import os
import re
import shutil
import subprocess
import sys

HEADER = re.compile(r"^\|\s*stack\s*\|\s*API\s*\|\s*workers\s*\|\s*logins/s\s*\|")


def number(text):
    text = text.strip().strip("*")
    try:
        return float(text)
    except ValueError:
        return None


def read_table(path):
    """[{system, api, workers, rate, p50, p90, p99}] of the PAM rows."""
    rows, columns, inside = [], None, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not inside:
                if HEADER.match(line):
                    columns = [c.strip() for c in line.strip().strip("|").split("|")]
                    inside = True
                continue
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue            # the |---| line
            cell = dict(zip(columns, cells))
            stack, workers = cell.get("stack", ""), cell.get("workers", "")
            if stack.startswith("wrk") or not re.fullmatch(r"\d+", workers):
                continue
            if cell.get("failures", "0") not in ("0", ""):
                continue
            rate = number(cell.get("logins/s", ""))
            if rate is None:
                continue
            rows.append({
                "system": stack, "api": cell.get("API", ""), "workers": int(workers), "rate": rate,
                "p50": number(cell.get("p50 ms", "")), "p90": number(cell.get("p90 ms", "")),
                "p99": number(cell.get("p99 ms", "")),
            })
    if columns is None:
        raise ValueError("%s holds no results table (a header \"| stack | API | workers | "
                         "logins/s | ...\")" % path)
    return rows


def label(row):
    """A short name for a system: the stack, and the API when there is one."""
    stack = row["system"].replace("pam_neostra → neostrad", "pam_neostra")
    stack = re.sub(r"\s*\(the design's floor\)", " (floor)", stack)
    api = row["api"]
    if api in ("", "–", "-") or stack.startswith("pam_ldap"):
        return stack
    return "%s, %s" % (stack, api)


def slow(row):
    return "50 ms" in row["api"]


def quote(s):
    """A gnuplot string literal (double quotes; backslash and quote escaped)."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def series(rows):
    """{label: [rows by workers]}, in the table's order."""
    out = {}
    for r in rows:
        out.setdefault(label(r), []).append(r)
    return out


COMMON = """set encoding utf8
set terminal svg size {w},{h} fixed noenhanced font "sans,11" background rgb "white"
set output {out}
set title {title}
set grid ytics mytics lc rgb "#dddddd"
set border 3
set tics nomirror
"""


def chart_logins(rows, outdir, name, title, ideal_ms=None):
    by = series(rows)
    if not by:
        return None
    dat = os.path.join(outdir, name + ".dat")
    with open(dat, "w", encoding="utf-8") as f:
        for lab, rs in by.items():
            f.write("# %s\n" % lab)
            for r in sorted(rs, key=lambda r: r["workers"]):
                f.write("%d %g\n" % (r["workers"], r["rate"]))
            f.write("\n\n")
    workers = sorted({r["workers"] for r in rows})
    script = COMMON.format(w=900, h=520, out=quote(name + ".svg"), title=quote(title))
    script += """set xlabel "workers (concurrent PAM transactions)"
set ylabel "logins/s (log scale)"
set logscale xy
set xtics ({xtics})
set xrange [{xmin}:{xmax}]
set key outside right center vertical Left reverse samplen 2
plot {plots}
""".format(xtics=", ".join("%s %d" % (quote(str(w)), w) for w in workers),
           xmin=workers[0] / 1.5, xmax=workers[-1] * 1.5,
           plots=", \\\n     ".join(["%s index %d using 1:2 with linespoints lw 2 pt 7 ps 0.8 title %s"
                                      % (quote(os.path.basename(dat)), i, quote(lab)) for i, lab in enumerate(by)] +
                                     # What the API's delay allows: each worker one login per delay.
                                     (["%g * x with lines dt 2 lc rgb \"#888888\" title %s"
                                       % (1000.0 / ideal_ms, quote("the limit: workers ÷ %g ms" % ideal_ms))]
                                      if ideal_ms else [])))
    return name, script


def chart_latency(rows, outdir, n):
    at = [r for r in rows if r["workers"] == n and None not in (r["p50"], r["p90"], r["p99"])]
    if not at:
        return None
    name = "latency-w%d" % n
    # The axis starts a decade (rounded down) below the fastest p50.
    xmin = 10 ** math.floor(math.log10(min(r["p50"] for r in at)) - 0.0001)
    dat = os.path.join(outdir, name + ".dat")
    with open(dat, "w", encoding="utf-8") as f:
        f.write("# system p50 p90 p99 (ms)\n")
        for r in at:
            f.write("%s %g %g %g\n" % (quote(label(r)), r["p50"], r["p90"], r["p99"]))
    title = "Login latency at %d worker%s (ms, log scale), make bench" % (n, "" if n == 1 else "s")
    height = max(320, 110 + 34 * len(at))
    script = COMMON.format(w=900, h=height, out=quote(name + ".svg"), title=quote(title))
    # Horizontal bars: one row per system (its name on the y axis), three
    # boxes in it (boxxyerror: x, y, xlow, xhigh, ylow, yhigh), each from
    # the left edge of the log-scaled axis to the percentile.
    script += """set xlabel "latency (ms)"
set logscale x
set xrange [{xmin}:*]
set yrange [{ymax}:-0.7]
set ytics scale 0
set key inside right bottom vertical opaque box lc rgb "#bbbbbb"
set style fill solid 0.85 noborder
h = 0.26
x0 = {xmin}
plot {dat} using (x0):($0):(x0):2:($0-h*1.5):($0-h*0.5):ytic(1) with boxxyerror lc rgb "#2b8cbe" title "p50", \\
     {dat} using (x0):($0):(x0):3:($0-h*0.5):($0+h*0.5) with boxxyerror lc rgb "#f0a030" title "p90", \\
     {dat} using (x0):($0):(x0):4:($0+h*0.5):($0+h*1.5) with boxxyerror lc rgb "#d7301f" title "p99"
""".format(ymax=len(at) - 0.3, dat=quote(os.path.basename(dat)), xmin=xmin)
    return name, script


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, outdir = argv[1], argv[2]
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        sys.stderr.write("charts.py: gnuplot is not installed (Debian: gnuplot-nox); no charts\n")
        return 77
    try:
        rows = read_table(src)
    except (OSError, ValueError) as e:
        sys.stderr.write("charts.py: %s\n" % e)
        return 1
    os.makedirs(outdir, exist_ok=True)
    charts = [
        chart_logins([r for r in rows if not slow(r)], outdir, "logins",
                     "Logins/s by worker count, API answering at once (make bench)"),
        chart_logins([r for r in rows if slow(r)], outdir, "logins-50ms",
                     "Logins/s by worker count, API answering in 50 ms (make bench)", ideal_ms=50),
    ]
    charts += [chart_latency(rows, outdir, n) for n in sorted({r["workers"] for r in rows})]
    status = 0
    for chart in charts:
        if chart is None:
            continue
        name, script = chart
        gp = os.path.join(outdir, name + ".gp")
        with open(gp, "w", encoding="utf-8") as f:
            f.write(script)
        # In OUTDIR: the scripts name their files without a directory.
        p = subprocess.run([gnuplot, os.path.basename(gp)], cwd=outdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, check=False)
        svg = os.path.join(outdir, name + ".svg")
        if p.returncode != 0 or not os.path.exists(svg) or os.path.getsize(svg) == 0:
            sys.stderr.write("charts.py: gnuplot failed on %s:\n%s" % (gp, p.stdout.decode(errors="replace")))
            status = 1
            continue
        print(svg)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
