#!/usr/bin/python3
"""daemon-populate.py DB SEED PREFIX COUNT UID_MIN UID_MAX

Fill neostrad's cache (DB: its neostrad.db, the daemon stopped) with COUNT
users PREFIX0 .. PREFIX<COUNT-1>, each a copy of the row the daemon itself
wrote for user SEED after a real online sign-in (so every column has the
shape and size production has: roles, a JWT-sized token, a refresh token,
a yescrypt verifier), with its own name, email (<name>@example.com), a
token and refresh token of the same length made distinct, and the uid
neostrad would have assigned (ids.c: FNV-1a 64 of the lowercased email
into [UID_MIN, UID_MAX], linear probing past ids in use by a stored user
or group or a local account or group).  Uses the daemon's own schema (the
file the daemon created); writes nothing else.  Prints the seconds taken.
"""
import grp
import os
import pwd
import sqlite3
import sys
import time

FNV_OFFSET = 1469598103934665603
FNV_PRIME = 1099511628211
MASK = (1 << 64) - 1


def fnv1a_lower(key):
    h = FNV_OFFSET
    for ch in key.encode():
        if 65 <= ch <= 90:
            ch += 32
        h ^= ch
        h = (h * FNV_PRIME) & MASK
    return h


def local_id_taken(i):
    try:
        pwd.getpwuid(i)
        return True
    except KeyError:
        pass
    try:
        grp.getgrgid(i)
        return True
    except KeyError:
        return False


def vary(s, i):
    """s with its last 8 characters replaced by i in hex (same length)."""
    if s is None or len(s) < 8:
        return s
    return s[:-8] + "%08x" % i


def main():
    db, seed, prefix, count, uid_min, uid_max = sys.argv[1:7]
    count, uid_min, uid_max = int(count), int(uid_min), int(uid_max)
    started = time.monotonic()
    os.umask(0o077)  # the daemon refuses cache files others can read
    con = sqlite3.connect(db, isolation_level=None)
    version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if not version or version[0] != "3":
        sys.exit("daemon-populate: %s: schema version %r, expected 3" % (db, version))
    cols = [r[1] for r in con.execute("PRAGMA table_info(users)")]
    row = con.execute("SELECT * FROM users WHERE name = ?", (seed,)).fetchone()
    if row is None:
        sys.exit("daemon-populate: no row for the seed user %s" % seed)
    seed_row = dict(zip(cols, row))
    if not seed_row.get("verifier") or not seed_row.get("token") or not seed_row.get("uid"):
        sys.exit("daemon-populate: the seed row lacks a verifier, token or uid: %r"
                 % sorted(k for k, v in seed_row.items() if v))
    taken = {r[0] for r in con.execute("SELECT uid FROM users WHERE uid > 0")}
    taken |= {r[0] for r in con.execute("SELECT uid FROM uids")}
    taken |= {r[0] for r in con.execute("SELECT gid FROM groups")}
    span = uid_max - uid_min + 1
    rows = []
    for i in range(count):
        name = "%s%d" % (prefix, i)
        email = name + "@example.com"
        start = fnv1a_lower(email) % span
        for k in range(span):
            uid = uid_min + (start + k) % span
            if uid not in taken and not local_id_taken(uid):
                break
        else:
            sys.exit("daemon-populate: no free uid")
        taken.add(uid)
        r = dict(seed_row)
        r.update(name=name, email=email, uid=uid, token=vary(seed_row["token"], i),
                 refresh_token=vary(seed_row["refresh_token"], i))
        rows.append(tuple(r[c] for c in cols))
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT INTO users (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols))), rows)
    # Each uid is kept for its email, as the daemon does (schema version 3).
    con.executemany("INSERT INTO uids (email, uid) VALUES (?, ?)",
                    [(r[cols.index("email")], r[cols.index("uid")]) for r in rows])
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print("%.1f" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
