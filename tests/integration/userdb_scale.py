#!/usr/bin/python3
"""Cases of userdb-scale.sh: neostrad's io.systemd.UserDatabase with a big
cache, through nss-systemd (getent, id) and through a Varlink client of
our own that reads slowly.

    userdb_scale.py populate DB USERS EVERY UID_MIN
        add USERS users user00000 .. to neostrad's cache DB (the daemon
        stopped, the schema its own); every EVERY-th one (user00000 first)
        has the role "staff", the others "dev"; uids from UID_MIN up,
        skipping the gids the daemon stored for its groups.  Prints the
        seconds taken and the gid of neo-staff.

    NEOSTRA_USERDB_SOCK=... NEOSTRA_DAEMON_PID=... NEOSTRA_USERS=N \
    NEOSTRA_EVERY=K NEOSTRA_UID_MIN=... NEOSTRA_UID_MAX=... \
        userdb_scale.py CASE...

The daemon's [groups] maps staff to neo-staff, a group it publishes.  The
answers are bigger than one 64 KiB message and the enumerations longer
than any socket buffer: the group record with every member, the
memberships and passwd enumerations, each with "more".
"""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402
from itest import expect  # noqa: E402

UDB = "io.systemd.UserDatabase."
SERVICE = "io.neostra"
GROUP = "neo-staff"
RSS_GROWTH_MAX_KB = 64 * 1024


def name(i):
    return "user%05d" % i


def populate(db, n, every, uid_min):
    started = time.monotonic()
    os.umask(0o077)     # the daemon refuses cache files others can read
    con = sqlite3.connect(db, isolation_level=None)
    version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if not version or version[0] != "3":
        sys.exit("userdb_scale: %s: schema version %r, expected 3" % (db, version))
    taken = {r[0] for r in con.execute("SELECT gid FROM groups")}
    now = int(time.time())
    rows, uid = [], uid_min
    for i in range(n):
        while uid in taken:
            uid += 1
        rows.append((name(i), name(i) + "@example.com", '["staff"]' if i % every == 0 else '["dev"]',
                     now, now, uid))
        uid += 1
    con.execute("BEGIN IMMEDIATE")
    # A recent online proof (the role groups are published only with one)
    # and each uid in the uids table, as the daemon keeps them.
    con.executemany("INSERT INTO users (name, email, roles, last_online_success, last_online_proof, uid) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.executemany("INSERT INTO uids (email, uid) VALUES (?, ?)", [(r[1], r[5]) for r in rows])
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    gid = con.execute("SELECT gid FROM groups WHERE name = ?", (GROUP,)).fetchone()
    con.close()
    if not gid:
        sys.exit("userdb_scale: %s: the daemon stored no gid for %s" % (db, GROUP))
    print("%.1f %d" % (time.monotonic() - started, gid[0]))


# ---- what the cases expect -------------------------------------------------------------

def n_users():
    return int(itest.env("NEOSTRA_USERS"))


def every():
    return int(itest.env("NEOSTRA_EVERY"))


def members():
    return {name(i) for i in range(0, n_users(), every())}


def sample_members():
    """The first, the middle and the last member; and 20 spread between."""
    m = sorted(members())
    ends = [m[0], m[len(m) // 2], m[-1]]
    spread = sorted({m[len(m) * k // 21] for k in range(1, 21)} - set(ends))
    return ends, spread


def sample_others():
    others = [i for i in (1, every() - 1, n_users() // 2 + 1, n_users() - 1) if i % every() != 0]
    return sorted({name(i) for i in others})


def usock():
    return itest.env("NEOSTRA_USERDB_SOCK")


def run(argv, timeout=60):
    started = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s did not finish within %d s" % (" ".join(argv), timeout))
    return r, time.monotonic() - started


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


# ---- straight to the socket ------------------------------------------------------------------

def case_group_record():
    """GetGroupRecord neo-staff: one reply (well over 64 KiB) with every member."""
    with varlink.Connection(usock(), 30.0) as c:
        try:
            reply = c.call(UDB + "GetGroupRecord", {"groupName": GROUP, "service": SERVICE})
        except varlink.Closed as e:
            raise AssertionError("GetGroupRecord %s: the daemon closed the connection without a reply (%s)"
                                 % (GROUP, e))
    expect("error" not in reply, "GetGroupRecord %s: %s" % (GROUP, json.dumps(reply)[:300]))
    got = reply["parameters"]["record"].get("members", [])
    want = members()
    expect(set(got) == want and len(got) == len(want),
           "GetGroupRecord %s: %d members, %d expected (missing e.g. %s)"
           % (GROUP, len(got), len(want), sorted(want - set(got))[:3]))
    print("# GetGroupRecord %s: %d members in one %d-byte reply"
          % (GROUP, len(got), len(json.dumps(reply, separators=(",", ":")))))


def read_stream(c, what, timeout=60.0, pause=None):
    """Every reply of a "more" call already sent on c.  pause(i) is called
    before reply i is read (to read slowly)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        if pause:
            pause(len(out))
        try:
            msg = c.receive(max(0.1, deadline - time.monotonic()))
        except varlink.Closed:
            raise AssertionError("%s: the daemon closed the connection after %d replies" % (what, len(out)))
        except TimeoutError:
            raise AssertionError("%s: only %d replies within %.0f s" % (what, len(out), timeout))
        if "error" in msg:
            raise AssertionError("%s: error after %d replies: %s" % (what, len(out), json.dumps(msg)[:300]))
        out.append(msg)
        if not msg.get("continues"):
            return out


def case_memberships_stream():
    """GetMemberships of neo-staff with "more", read only after a second
    (far more than a socket buffer is due by then): every member, once."""
    with varlink.Connection(usock(), 30.0) as c:
        c.send(UDB + "GetMemberships", {"groupName": GROUP, "service": SERVICE}, more=True)
        time.sleep(1.0)
        msgs = read_stream(c, "GetMemberships %s" % GROUP)
    got = [m["parameters"]["userName"] for m in msgs]
    want = members()
    expect(set(got) == want and len(got) == len(want),
           "GetMemberships %s: %d replies, %d members expected" % (GROUP, len(got), len(want)))


def case_slow_reader():
    """The passwd enumeration with "more", read slowly (1 ms every 100
    replies, and not at all for 3 s after the 100th): every record
    arrives, the daemon's VmRSS does not grow by more than 64 MB (what it
    holds for one client is bounded; plain build only), and another client
    is answered within a second meanwhile."""
    pid = int(itest.env("NEOSTRA_DAEMON_PID"))
    base = rss_kb(pid)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], rss_kb(pid))
            except (OSError, AssertionError):
                return
            stop.wait(0.05)

    others = {}

    def pause(i):
        if i and i % 100 == 0:
            time.sleep(0.001)
        if i == 100:
            # Not reading at all for 3 s; meanwhile another client asks.
            started = time.monotonic()
            try:
                with varlink.Connection(usock(), 5.0) as o:
                    r = o.call(UDB + "GetUserRecord", {"userName": name(n_users() - 1), "service": SERVICE})
                others["reply"] = r
            except (OSError, varlink.Closed, TimeoutError, ValueError) as e:
                others["reply"] = {"failed": str(e)}
            others["ms"] = (time.monotonic() - started) * 1000
            time.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
            peak[0] = max(peak[0], rss_kb(pid))

    t = threading.Thread(target=sample)
    t.start()
    started = time.monotonic()
    try:
        with varlink.Connection(usock(), 30.0) as c:
            c.send(UDB + "GetUserRecord", {"service": SERVICE}, more=True)
            msgs = read_stream(c, "slow enumeration", timeout=120.0, pause=pause)
    finally:
        stop.set()
        t.join(5)
    took = time.monotonic() - started
    names = [m["parameters"]["record"]["userName"] for m in msgs]
    want = {name(i) for i in range(n_users())}
    growth = peak[0] - base
    print("# slow enumeration: %d records in %.1f s; VmRSS %d kB before, %d kB at most (+%d kB); "
          "another lookup meanwhile: %.0f ms" % (len(names), took, base, peak[0], growth, others.get("ms", -1)))
    expect(set(names) == want and len(names) == len(want),
           "slow enumeration: %d records (%d distinct), %d expected" % (len(names), len(set(names)), len(want)))
    if os.environ.get("NEOSTRA_ASAN") == "1":
        # ASan keeps freed blocks in its quarantine (256 MB by default), so
        # VmRSS follows what was ever allocated, not what is held.
        print("# VmRSS bound not checked under ASan (its quarantine keeps what was freed)")
    else:
        expect(growth <= RSS_GROWTH_MAX_KB, "VmRSS grew by %d kB during the slow read (at most %d kB)"
               % (growth, RSS_GROWTH_MAX_KB))
    r = others.get("reply", {})
    expect("error" not in r and "failed" not in r and others.get("ms", 1e9) < 1000,
           "a lookup while the slow reader paused: %s after %.0f ms" % (json.dumps(r)[:200], others.get("ms", -1)))


# ---- through nss-systemd ----------------------------------------------------------------------

def case_getent_group():
    """getent group neo-staff lists every member."""
    r, took = run(["getent", "group", GROUP])
    line = r.stdout.strip()
    expect(r.returncode == 0 and line.startswith(GROUP + ":"),
           "getent group %s: exit %d, output %r" % (GROUP, r.returncode, line[:200]))
    got = line.split(":", 3)[3].split(",") if line.count(":") >= 3 else []
    got = [g for g in got if g]
    want = members()
    expect(set(got) == want and len(got) == len(want),
           "getent group %s: %d members, %d expected (missing e.g. %s)"
           % (GROUP, len(got), len(want), sorted(want - set(got))[:3]))
    print("# getent group %s: %d members in %.1f s" % (GROUP, len(got), took))


def case_id_groups():
    """id -Gn shows neo-staff for members (the first, the middle, the last)
    and not for others; id -G shows its gid for 20 members spread across
    and not for others.  (By name costs nss-systemd ~5 s a user here: it
    merges the group record's members with the GetMemberships stream, both
    10,000 long; by number it never asks for the group.)"""
    gid = itest.env("NEOSTRA_GROUP_GID")
    ends, spread = sample_members()
    others = sample_others()
    checks = ([("-Gn", u, GROUP, True) for u in ends] + [("-Gn", u, GROUP, False) for u in others] +
              [("-G", u, gid, True) for u in spread] + [("-G", u, gid, False) for u in others])
    bad = []
    started = time.monotonic()
    for flag, user, want, member in checks:
        r, took = run(["id", flag, user], timeout=60)
        if r.returncode != 0 or (want in r.stdout.split()) != member:
            bad.append("id %s %s (%s): exit %d, %r %s (%.1f s)"
                       % (flag, user, "member" if member else "not a member", r.returncode,
                          r.stdout.strip()[:100], r.stderr.strip()[:100], took))
    expect(not bad, "\n".join(bad))
    print("# id: %d members by name, %d by number, %d others both ways right in %.1f s"
          % (len(ends), len(spread), len(others), time.monotonic() - started))


def case_getent_passwd():
    """getent passwd enumerates every user (uids in the daemon's range)."""
    lo, hi = int(itest.env("NEOSTRA_UID_MIN")), int(itest.env("NEOSTRA_UID_MAX"))
    r, took = run(["getent", "passwd"], timeout=120)
    ours = set()
    for line in r.stdout.splitlines():
        f = line.split(":")
        if len(f) >= 3 and f[2].isdigit() and lo <= int(f[2]) <= hi:
            ours.add(f[0])
    want = {name(i) for i in range(n_users())}
    expect(ours == want, "getent passwd: %d of our %d users (exit %d; missing e.g. %s)"
           % (len(ours), len(want), r.returncode, sorted(want - ours)[:3]))
    print("# getent passwd: %d users in %.1f s" % (len(ours), took))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "populate":
        populate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
