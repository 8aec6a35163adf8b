#!/usr/bin/python3
"""Cases of cache-files.sh: neostrad started on a cache directory prepared
in each bad way (issue 3, "Persistent cache"; neostrad/cache.h).

    cache_files.py users            print the mock's users file
    NEOSTRA_TMP=DIR NEOSTRA_PIDS=FILE NEOSTRA_CANARY_FILE=FILE \
    NEOSTRA_USERS_FILE=FILE NEOSTRA_MOCK_URL=... NEOSTRA_NEOSTRAD=... \
        cache_files.py CASE...

Every case starts its own neostrad (itest.Daemon) on a cache directory of
its own under NEOSTRA_TMP/<case>/cache, checks what the daemon did with
the files it found (set aside as neostrad.db*.broken-<time>, logged, an
empty cache, a login that succeeds and is still there after a restart),
and stops it expecting exit status 0 and no sanitizer report.

A bad file is, where it matters, a copy of a good cache that holds the
user "ghost": the daemon must not load ghost from it (trust comes from
ownership and mode, not from the content looking right).

The full-disk case mounts a tmpfs and must run inside the private mount
namespace cache-files.sh sets up (tests/lib.sh nt_private_ns);
NEOSTRA_PRIVATE_NS=1 says it does.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itest  # noqa: E402
import varlink  # noqa: E402
from itest import expect, expect_error  # noqa: E402

AUTH = "io.neostra.Auth."
UNKNOWN = AUTH + "UserUnknown"
DB = "neostrad.db"
FOREIGN_UID = 4242


def canary():
    path = os.environ.get("NEOSTRA_CANARY_FILE")
    if not path:
        return "NEOSTRA-CANARY-0000notarealcanary0000"
    with open(path) as f:
        return f.read().strip()


ACCOUNTS = ("ghost", "garbage", "symlink", "owner", "mode", "walsym", "dirowner", "dirmode", "disk",
            "small", "damaged", "schema", "dropped")


def users(roles=None):
    pw = canary()
    return {"users": {"%s@example.com" % n: {"password": pw, "roles": (roles or {}).get(n, ["dev"])}
                      for n in ACCOUNTS}}


def write_users(roles=None):
    path = itest.env("NEOSTRA_USERS_FILE")
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(users(roles), f)
    os.replace(path + ".new", path)


# ---- daemons -------------------------------------------------------------------

def workdir(name):
    d = os.path.join(itest.env("NEOSTRA_TMP"), name)
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def cache_dir(name, create=True):
    c = os.path.join(workdir(name), "cache")
    if create:
        os.makedirs(c, mode=0o700, exist_ok=True)
    return c


def start(name):
    """neostrad with its cache in workdir(name)/cache (as prepared)."""
    d = workdir(name)
    sock = os.path.join(d, "auth.sock")
    conf = os.path.join(d, "neostrad.conf")
    if not os.path.exists(conf):
        # write_config creates the cache directory when it is missing: the
        # case has prepared it already (and chown/chmod must stay).
        itest.write_config(conf, sock, api="timeout = 2s\nconnect_timeout = 1s")
    daemon = itest.Daemon(conf, os.path.join(d, "neostrad.log"))
    daemon.sock, daemon.dir, daemon.conf = sock, d, conf
    try:
        varlink.wait_ready(sock, 10.0)
    except Exception:
        daemon.kill()
        raise AssertionError("neostrad did not come up; log:\n" + daemon.text()[-2000:])
    expect(daemon.alive(), "neostrad exited")
    return daemon


def restart(daemon):
    stop(daemon)
    log_len = len(daemon.text())
    d = itest.Daemon(daemon.conf, daemon.log)
    d.sock, d.dir, d.conf = daemon.sock, daemon.dir, daemon.conf
    try:
        varlink.wait_ready(d.sock, 10.0)
    except Exception:
        d.kill()
        raise AssertionError("neostrad did not come up again; log:\n" + d.text()[-2000:])
    d.log_from = log_len
    return d


def stop(daemon):
    rc = daemon.stop(15)
    expect(rc == 0, "neostrad exited %s at SIGTERM (crash?); log:\n%s" % (rc, daemon.text()[-2000:]))
    daemon.check_sanitizers()


def new_log(daemon):
    return daemon.text()[getattr(daemon, "log_from", 0):]


def login(daemon, user):
    reply = itest.authenticate(user, canary(), path=daemon.sock)
    expect_error(reply, None, "login of %s" % user)
    return reply["parameters"]


def get_user(daemon, user):
    reply = itest.call("GetUser", {"user": user}, path=daemon.sock)
    if reply.get("error"):
        expect(reply["error"] == UNKNOWN, "GetUser %s: %r" % (user, reply))
        return None
    return reply["parameters"]


def wait_verifier(daemon, user):
    return itest.poll(lambda: (get_user(daemon, user) or {}).get("hasVerifier") and get_user(daemon, user),
                      10, what="a verifier for %s" % user)


def status(daemon):
    return itest.status(daemon.sock)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def broken(cache, name=DB):
    """The files set aside: name.broken-<time>[.n]."""
    return sorted(f for f in os.listdir(cache) if f.startswith(name + ".broken-"))


def seed_db():
    """A good cache file holding "ghost" (made once, by a daemon of its own)."""
    seed = os.path.join(itest.env("NEOSTRA_TMP"), "seed", "cache", DB)
    if os.path.exists(seed):
        return seed
    daemon = start("seed")
    try:
        login(daemon, "ghost")
        wait_verifier(daemon, "ghost")
    finally:
        stop(daemon)
    expect(os.path.exists(seed), "the seed daemon left no %s" % seed)
    return seed


def put_seed(cache):
    """A copy of the good cache (database, and its WAL if any) in cache."""
    seed = seed_db()
    for suffix in ("", "-wal"):
        if os.path.exists(seed + suffix):
            shutil.copyfile(seed + suffix, os.path.join(cache, DB + suffix))
            os.chmod(os.path.join(cache, DB + suffix), 0o600)
    return os.path.join(cache, DB)


def expect_set_aside(daemon, cache, why, names=(DB,)):
    """The log says why and that the files were moved aside; a fresh,
    empty, trusted database is in use."""
    text = new_log(daemon)
    expect(why in text, "the log does not say %r:\n%s" % (why, text[-1500:]))
    expect("setting the cache aside and starting empty" in text, "no 'setting aside' in the log:\n%s" % text[-1500:])
    for n in names:
        expect("moved %s/%s aside to %s.broken-" % (cache, n, n) in text,
               "the log does not name %s moved aside:\n%s" % (n, text[-1500:]))
        expect(len(broken(cache, n)) == 1, "%s set aside: %r" % (n, os.listdir(cache)))
    st = status(daemon)
    expect(st["cache"] is True and st["users"] == 0, "GetStatus after setting aside: %r" % st)
    expect(get_user(daemon, "ghost") is None, "ghost was loaded from an untrusted cache")
    db = os.path.join(cache, DB)
    s = os.lstat(db)
    expect(s.st_uid == os.geteuid() and (s.st_mode & 0o7777) == 0o600 and not os.path.islink(db),
           "new %s: uid %d mode %o" % (db, s.st_uid, s.st_mode & 0o7777))


def expect_persisted(daemon, user):
    """A login succeeds, and is there after a restart."""
    login(daemon, user)
    wait_verifier(daemon, user)
    daemon = restart(daemon)
    u = get_user(daemon, user)
    expect(u is not None and u["hasVerifier"], "%s not persisted across a restart: %r" % (user, u))
    expect("setting the cache aside" not in new_log(daemon), "the new cache was set aside on restart")
    return daemon


# ---- cases ------------------------------------------------------------------------

def case_good_cache():
    """Control: a good copy of the seed is trusted (ghost is loaded), so the
    cases below fail for the reason they name."""
    cache = cache_dir("good")
    put_seed(cache)
    daemon = start("good")
    try:
        expect(get_user(daemon, "ghost") is not None, "ghost not loaded from a good cache")
        expect(not broken(cache), "a good cache was set aside: %r" % os.listdir(cache))
    finally:
        stop(daemon)


def case_garbage():
    """neostrad.db full of random bytes."""
    cache = cache_dir("garbage")
    db = os.path.join(cache, DB)
    fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(16384))
    os.close(fd)
    before = digest(db)
    daemon = start("garbage")
    try:
        expect_set_aside(daemon, cache, "is not a usable database")
        expect(digest(os.path.join(cache, broken(cache)[0])) == before, "the garbage file was changed")
        daemon = expect_persisted(daemon, "garbage")
    finally:
        stop(daemon)


def case_symlink():
    """neostrad.db a symlink to another (good) cache file: set aside, the
    target untouched."""
    cache = cache_dir("symlink")
    other = os.path.join(workdir("symlink"), "elsewhere")
    os.makedirs(other, mode=0o700, exist_ok=True)
    target = os.path.join(other, "target.db")
    shutil.copyfile(seed_db(), target)
    os.chmod(target, 0o600)
    os.utime(target, (1000000000, 1000000000))
    st0, d0 = os.stat(target), digest(target)
    os.symlink(target, os.path.join(cache, DB))
    daemon = start("symlink")
    try:
        expect_set_aside(daemon, cache, "is a symlink")
        aside = os.path.join(cache, broken(cache)[0])
        expect(os.path.islink(aside) and os.readlink(aside) == target, "the symlink was not moved as it is")
        st1 = os.stat(target)
        expect(digest(target) == d0 and st1.st_mtime == st0.st_mtime and st1.st_mode == st0.st_mode
               and st1.st_uid == st0.st_uid and st1.st_ino == st0.st_ino, "the symlink's target was touched")
        expect(sorted(os.listdir(other)) == ["target.db"], "files appeared next to the target: %r"
               % os.listdir(other))
        daemon = expect_persisted(daemon, "symlink")
        expect(digest(target) == d0, "the target changed after logins")
    finally:
        stop(daemon)


def case_foreign_owner():
    """neostrad.db owned by another uid (4242)."""
    cache = cache_dir("owner")
    db = put_seed(cache)
    os.chown(db, FOREIGN_UID, FOREIGN_UID)
    daemon = start("owner")
    try:
        expect_set_aside(daemon, cache, "is owned by uid %d" % FOREIGN_UID)
        aside = os.path.join(cache, broken(cache)[0])
        expect(os.stat(aside).st_uid == FOREIGN_UID, "the foreign file was chowned")
        daemon = expect_persisted(daemon, "owner")
    finally:
        stop(daemon)


def case_mode_0666():
    """neostrad.db readable and writable by everyone."""
    cache = cache_dir("mode")
    db = put_seed(cache)
    os.chmod(db, 0o666)
    daemon = start("mode")
    try:
        expect_set_aside(daemon, cache, "is accessible to group or others (mode 0666)")
        daemon = expect_persisted(daemon, "mode")
    finally:
        stop(daemon)


def case_damaged_page():
    """A good cache with its second page overwritten: the header still says
    SQLite, the content does not hold up (quick_check or the schema)."""
    cache = cache_dir("damaged")
    db = put_seed(cache)
    expect(os.path.getsize(db) >= 8192, "seed database too small to damage")
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(4096))
    before = digest(db)
    daemon = start("damaged")
    try:
        text = new_log(daemon)
        expect("failed quick_check" in text or "is not a usable database" in text,
               "the log does not say the database is damaged:\n%s" % text[-1500:])
        expect_set_aside(daemon, cache, "setting the cache aside")
        expect(digest(os.path.join(cache, broken(cache)[0])) == before, "the damaged file was changed")
        daemon = expect_persisted(daemon, "damaged")
    finally:
        stop(daemon)


def case_newer_schema():
    """A well-formed cache of a newer schema version (99): not trusted."""
    import sqlite3
    cache = cache_dir("schema")
    db = put_seed(cache)
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    for suffix in ("-wal", "-shm"):
        expect(not os.path.exists(db + suffix), "sqlite3 left %s behind" % (db + suffix))
    os.chmod(db, 0o600)
    daemon = start("schema")
    try:
        expect_set_aside(daemon, cache, "has schema version 99, newer than this build's")
        daemon = expect_persisted(daemon, "schema")
    finally:
        stop(daemon)


def case_wal_symlink():
    """neostrad.db-wal a symlink: the whole set is set aside (a WAL
    belongs to its database), the target untouched."""
    cache = cache_dir("walsym")
    put_seed(cache)
    target = os.path.join(workdir("walsym"), "target")
    with open(target, "wb") as f:
        f.write(b"not a WAL\n")
    d0 = digest(target)
    try:
        os.unlink(os.path.join(cache, DB + "-wal"))
    except FileNotFoundError:
        pass
    os.symlink(target, os.path.join(cache, DB + "-wal"))
    daemon = start("walsym")
    try:
        expect_set_aside(daemon, cache, "neostrad.db-wal is a symlink", names=(DB, DB + "-wal"))
        expect(digest(target) == d0, "the WAL symlink's target was touched")
        daemon = expect_persisted(daemon, "walsym")
    finally:
        stop(daemon)


def case_foreign_directory():
    """The cache directory owned by another user: the daemon runs without
    a cache, says so, leaves the directory alone, and logins work."""
    cache = cache_dir("dirowner")
    put_seed(cache)
    os.chown(cache, FOREIGN_UID, FOREIGN_UID)
    before = {f: digest(os.path.join(cache, f)) for f in os.listdir(cache)}
    daemon = start("dirowner")
    try:
        text = new_log(daemon)
        expect("is owned by uid %d, not by us" % FOREIGN_UID in text, "log:\n%s" % text[-1500:])
        expect("running without one" in text, "the log does not say it runs without a cache:\n%s"
               % text[-1500:])
        st = status(daemon)
        expect(st["cache"] is False and st["cacheBytes"] == 0, "GetStatus %r" % st)
        expect(get_user(daemon, "ghost") is None, "ghost loaded from a foreign directory")
        login(daemon, "dirowner")
        wait_verifier(daemon, "dirowner")
        expect(get_user(daemon, "dirowner") is not None, "no user in memory")
        after = {f: digest(os.path.join(cache, f)) for f in os.listdir(cache)}
        s = os.stat(cache)
        expect(after == before and s.st_uid == FOREIGN_UID and (s.st_mode & 0o7777) == 0o700,
               "the foreign directory was changed: %r → %r" % (before, after))
        # Nothing persisted, and the next start says the same again.
        daemon = restart(daemon)
        expect(get_user(daemon, "dirowner") is None, "a user persisted without a cache?")
        expect("running without one" in new_log(daemon), "second start: no 'running without one'")
        login(daemon, "dirowner")
    finally:
        stop(daemon)


def case_directory_mode():
    """A group/world-accessible cache directory of ours is made 0700 (with
    a warning); its files are ours and 0600, so they stay trusted."""
    cache = cache_dir("dirmode")
    put_seed(cache)
    os.chmod(cache, 0o755)
    daemon = start("dirmode")
    try:
        text = new_log(daemon)
        expect("had mode 0755; changed it to 0700" in text, "log:\n%s" % text[-1500:])
        expect((os.stat(cache).st_mode & 0o7777) == 0o700, "mode %o" % os.stat(cache).st_mode)
        expect(get_user(daemon, "ghost") is not None, "ghost not loaded")
        daemon = expect_persisted(daemon, "dirmode")
    finally:
        stop(daemon)


def tmpfs_used(path):
    s = os.statvfs(path)
    return (s.f_blocks - s.f_bfree) * s.f_frsize, s.f_bavail * s.f_frsize


def case_full_disk():
    """The cache directory is a tiny tmpfs (private mount namespace): a
    first login is persisted; the disk is filled; a second login still
    works (from memory), the log says the write failed, and after a
    restart the earlier row is still there.  The daemon never crashes."""
    if os.environ.get("NEOSTRA_PRIVATE_NS") != "1":
        raise itest.Skip("needs the private mount namespace (root and unshare)")
    cache = cache_dir("disk")
    # 128 KiB: an empty cache takes 60 KiB on tmpfs (database, 32 KiB of
    # -shm, the WAL of the schema), the first login and its verifier
    # another ~20; dd takes the rest.  (At 64 KiB the first login's write
    # fails already; below ~48 KiB the database cannot even be created,
    # case disk_too_small.)
    size = "128k"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700,nosuid,nodev,noexec" % size,
                    "neostra-test-cache", cache], check=True)
    daemon = None
    try:
        daemon = start("disk")
        expect(status(daemon)["cache"] is True, "no cache on the tmpfs")
        used0, free0 = tmpfs_used(cache)
        p = login(daemon, "disk")
        expect(p["roles"] == ["dev"], "roles %r" % p["roles"])
        first = wait_verifier(daemon, "disk")
        expect("cannot write" not in daemon.text(), "a write failed before the disk was full:\n%s"
               % daemon.text()[-1500:])
        # Fill the file system up.
        r = subprocess.run(["dd", "if=/dev/zero", "of=%s/fill" % cache, "bs=4096"],
                           capture_output=True, text=True)
        expect(r.returncode != 0 and "No space left" in r.stderr, "dd did not fill the disk: %r" % r.stderr)
        used1, free1 = tmpfs_used(cache)
        expect(free1 == 0, "still %d bytes free" % free1)
        print("    (tmpfs size=%s: %d bytes used by the cache, %d free before dd)" % (size, used0, free0))

        # The API now gives the user another role: a write is due.
        write_users({"disk": ["dev", "ops"]})
        n_err = daemon.text().count("cannot write disk to the cache")
        p = login(daemon, "disk")
        expect(p["roles"] == ["dev", "ops"], "second login: roles %r" % p["roles"])
        itest.wait_log("cannot write disk to the cache (the previous entry stays)", 5, count=n_err + 1,
                       path=daemon.log)
        u = get_user(daemon, "disk")
        expect(u["roles"] == ["dev", "ops"], "memory roles %r" % u["roles"])
        expect(u["lastOnlineSuccess"] >= first["lastOnlineSuccess"], "lastOnlineSuccess went back")
        # Logins keep working with the disk full (online, and offline from
        # the verifier kept in memory).
        login(daemon, "disk")
        # Each online success replaces the verifier (made on a worker).
        itest.poll(lambda: get_user(daemon, "disk")["hasVerifier"], 10, what="the new verifier")
        itest.mock_config(status=503)
        try:
            reply = itest.authenticate("disk", canary(), path=daemon.sock)
            expect_error(reply, None, "offline login with a full disk")
            expect(reply["parameters"]["offline"] is True, "not offline: %r" % reply)
        finally:
            itest.mock_config(status=None)

        # Restart with the disk still full: the earlier row is there.
        daemon = restart(daemon)
        text = new_log(daemon)
        expect("setting the cache aside" not in text, "a full disk made the daemon set the cache aside:\n%s"
               % text[-2000:])
        u = get_user(daemon, "disk")
        expect(u is not None, "the earlier row is gone after a restart on a full disk; log:\n%s" % text[-2000:])
        expect(u["roles"] == ["dev"] and u["hasVerifier"], "after the restart: %r" % u)
        expect(u["lastOnlineSuccess"] == first["lastOnlineSuccess"], "row %r, first %r" % (u, first))

        # Space again: the next login is written.
        os.unlink(os.path.join(cache, "fill"))
        login(daemon, "disk")
        wait_verifier(daemon, "disk")
        daemon = restart(daemon)
        u = get_user(daemon, "disk")
        expect(u is not None and u["roles"] == ["dev", "ops"], "not written once space was back: %r" % u)
    finally:
        write_users()
        if daemon:
            stop(daemon)
        subprocess.run(["umount", cache])


def case_disk_too_small():
    """A tmpfs too small for even an empty database (16 KiB): the daemon
    runs without a cache, says so, and logins work."""
    if os.environ.get("NEOSTRA_PRIVATE_NS") != "1":
        raise itest.Skip("needs the private mount namespace (root and unshare)")
    cache = cache_dir("small")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0700,nosuid,nodev,noexec",
                    "neostra-test-cache", cache], check=True)
    daemon = None
    try:
        daemon = start("small")
        text = new_log(daemon)
        expect("running without one" in text, "the log does not say it runs without a cache:\n%s"
               % text[-1500:])
        expect("setting the cache aside" not in text, "a full disk made the daemon set files aside")
        expect(status(daemon)["cache"] is False, "GetStatus %r" % status(daemon))
        login(daemon, "small")
        wait_verifier(daemon, "small")
    finally:
        if daemon:
            stop(daemon)
        subprocess.run(["umount", cache])


def file_holds(path, secret):
    try:
        with open(path, "rb") as f:
            return secret.encode() in f.read()
    except FileNotFoundError:
        return False


def case_dropped_token_leaves_the_wal():
    """After a write that drops a token (a refused password), the WAL is
    checkpointed and truncated at once: neither the -wal file nor the
    database holds a copy of the token any more (searched byte by byte
    while the daemon runs)."""
    daemon = start("dropped")
    cache = os.path.join(daemon.dir, "cache")
    wal, db = os.path.join(cache, DB + "-wal"), os.path.join(cache, DB)
    try:
        login(daemon, "dropped")
        wait_verifier(daemon, "dropped")
        token = itest.call("GetToken", {"user": "dropped"}, path=daemon.sock)["parameters"]["token"]
        expect(file_holds(wal, token) or file_holds(db, token), "the token is not in the cache files at all")
        itest.mock_config(status=401)
        try:
            reply = itest.authenticate("dropped", canary(), path=daemon.sock)
        finally:
            itest.mock_config(status=None)
        expect_error(reply, AUTH + "AuthenticationFailed", "the refused login")
        expect(not get_user(daemon, "dropped")["hasToken"], "the token was not dropped")
        expect(not file_holds(wal, token), "the -wal file still holds the dropped token")
        expect(not file_holds(db, token), "the database still holds the dropped token")
    finally:
        stop(daemon)


def case_old_set_aside_removed():
    """Files set aside longer ago than offline_max_age (they may hold
    tokens and verifiers) are removed at start; younger ones stay."""
    cache = cache_dir("aside")
    now = int(time.time())
    old = ["%s.broken-%d" % (DB, now - 8 * 86400), "%s-wal.broken-%d.1" % (DB, now - 8 * 86400)]
    young = ["%s.broken-%d" % (DB, now - 86400), "notes.broken-%d" % (now - 8 * 86400)]
    for name in old + young:
        fd = os.open(os.path.join(cache, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"a set-aside file")
        os.close(fd)
    daemon = start("aside")
    try:
        left = os.listdir(cache)
        expect(not any(n in left for n in old), "old set-aside files were kept: %r" % left)
        expect(all(n in left for n in young), "younger (or foreign) files were removed: %r" % left)
        expect("removed %s/%s" % (cache, old[0]) in daemon.text(), "no log line for the removal")
    finally:
        stop(daemon)


if __name__ == "__main__":
    if sys.argv[1:] == ["users"]:
        print(json.dumps(users(), indent=1))
        sys.exit(0)
    sys.exit(itest.run_cases(globals(), sys.argv[1:]))
