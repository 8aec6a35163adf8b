#!/bin/sh
# cache-files.sh BUILDDIR: neostrad started on a cache directory prepared
# in each bad way (issue 3, "Persistent cache"; neostrad/cache.h): garbage
# bytes in neostrad.db, a good database with a damaged page, one of a newer
# schema version, neostrad.db a symlink (its target untouched),
# neostrad.db owned by uid 4242, neostrad.db mode 0666, neostrad.db-wal a
# symlink, a cache directory owned by another user (the daemon runs
# without a cache and says so), a cache directory with mode 0755 (made
# 0700, its files still trusted), and a full disk: a tiny tmpfs mounted as
# the cache directory inside a private mount namespace (tests/lib.sh
# nt_private_ns; the mount vanishes with it), filled up with dd after a
# first login was persisted, and one too small for an empty database
# (the daemon runs without a cache).  Each time: the daemon starts, logs what it
# set aside, renames it (neostrad.db.broken-<time>), starts empty, a
# login succeeds and is persisted, and the daemon exits 0 at SIGTERM.
# Secrets leave the disk: after a refused password drops a token, neither
# the -wal file nor the database holds a copy of it; set-aside files older
# than offline_max_age are removed at start.
# The cases are in cache_files.py.
# Ends with "cache-files: N passed, N failed[, N skipped]".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
nt_init "$here/../.." "${1:?usage: $0 BUILDDIR}"
export PYTHONDONTWRITEBYTECODE=1

nt_counts cache-files "$here/cache_files.py"

# The full-disk case needs root and a mount namespace of our own; the
# other cases run anyway (chown needs root too: without it, skip them all).
if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: every case (they chown files to another uid and mount a tmpfs: root only)"
        NT_SKIPPED=1
        nt_finish
fi
nt_private_ns "$@"
private_ns=0
if [ "${NT_IN_PRIVATE_NS:-}" = 1 ] &&
   [ "$(readlink /proc/self/ns/mnt)" != "$(readlink "/proc/$PPID/ns/mnt")" ]; then
        private_ns=1
fi

# A tmpfs a dead case left behind (the namespace drops it anyway).
umount_tmpfs() {
        [ -n "$NT_TMP" ] && [ "$private_ns" = 1 ] || return 0
        for _d in disk small; do
                while grep -qs " $NT_TMP/$_d/cache tmpfs " /proc/self/mounts; do
                        umount "$NT_TMP/$_d/cache" || break
                done
        done
}

nt_tmpdir
NT_CLEANUP_HOOK=umount_tmpfs
nt_trap

umask 077
nt_canary_new >"$NT_TMP/canary" || { nt_fail "canary"; nt_finish; }
export NEOSTRA_CANARY_FILE="$NT_TMP/canary"
"$NT_PYTHON" "$here/cache_files.py" users >"$NT_TMP/users.json" || { nt_fail "users file"; nt_finish; }
nt_mock_start "$NT_TMP/users.json" || { nt_fail "mock API start"; nt_finish; }

export NEOSTRA_TMP="$NT_TMP" NEOSTRA_PIDS="$NT_TMP/case-pids" NEOSTRA_PRIVATE_NS="$private_ns"
export NEOSTRA_USERS_FILE="$NT_TMP/users.json"
export NEOSTRA_MOCK_URL="http://127.0.0.1:$NT_MOCK_HTTP_PORT"
export NEOSTRA_NEOSTRAD="$NT_BUILD/neostrad"

nt_run_cases good_cache garbage damaged_page newer_schema symlink foreign_owner mode_0666 wal_symlink foreign_directory \
      directory_mode full_disk disk_too_small dropped_token_leaves_the_wal old_set_aside_removed

leaks=$(nt_find_canary "$(cat "$NT_TMP/canary")" "$NT_TMP" |
        grep -v -x -e "$NT_TMP/canary" -e "$NT_TMP/users.json")
if [ -z "$leaks" ]; then nt_pass "canary password in no file under the test directory"
else nt_fail "canary password found in: $leaks"; fi

nt_end_checks
nt_finish
