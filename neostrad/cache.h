/* SPDX-License-Identifier: MIT */
/*
 * The persistent cache: one SQLite database (WAL) in [cache] directory,
 * one row per user with everything struct user_record holds (roles, token,
 * expiry, refresh token, yescrypt verifier, last online success, offline
 * failure counter, uid), and the gids of the groups neostrad publishes
 * (schema version 2).  The in-memory user table stays the one the daemon
 * reads; this file is what survives a restart.
 *
 * Trust: the database and its -wal/-shm files must be regular files (not
 * symlinks) owned by the daemon's user with no group/world access, in a
 * directory owned by that user with mode 0700.  Anything else, a corrupt
 * file, or a schema this build cannot migrate is renamed aside
 * ("<file>.broken-<unix time>"), logged, and the cache starts empty: it is
 * never trusted and never crashes the daemon.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "users.h"

#define CACHE_FILE_NAME       "neostrad.db"
#define CACHE_SCHEMA_VERSION  2

typedef struct Cache Cache;

/*
 * Open (creating when missing) the cache in directory.  The directory is
 * created 0700 when missing.  Returns 0, or a negative errno when no cache
 * can be had at all (e.g. the directory is not ours): the daemon then runs
 * without persistence and says so.
 */
int cache_open(const char *directory, Cache **ret);
void cache_close(Cache *c);

/* Hand every stored user to cb, which takes ownership of the record. */
int cache_load(Cache *c, int (*cb)(struct user_record *u, void *userdata), void *userdata);

/*
 * Write one user's row (insert or replace) in its own transaction.  On any
 * failure (full disk, I/O error) the previous row stays as it was and a
 * negative errno comes back; the caller logs and goes on from memory.
 */
int cache_put(Cache *c, const struct user_record *u);

/* Delete one user's row, or every row with name NULL. */
int cache_delete(Cache *c, const char *name);

/* Hand every stored group assignment (name, gid) to cb. */
int cache_load_groups(Cache *c, int (*cb)(const char *name, gid_t gid, void *userdata), void *userdata);

/* Store a published group's gid (insert or replace). */
int cache_put_group(Cache *c, const char *name, gid_t gid);

/* Bytes on disk (database plus WAL), for neostractl status. */
int64_t cache_size(Cache *c);
