/* SPDX-License-Identifier: MIT */
/*
 * The persistent cache: one SQLite database (WAL) in [cache] directory,
 * one row per user with everything struct user_record holds (roles,
 * expiry, last online success and proof, offline failure counter, uid, why
 * its access ended) and the user's secrets (token, refresh token, yescrypt
 * verifier), the uid of every email that was ever given one (a table of
 * its own, which deleting users leaves alone), and the gids of the groups
 * neostrad publishes (schema version 3).  The in-memory user
 * table is what the daemon reads on every call; the secrets are only here
 * (users.h), read one at a time when they are used; the whole file is what
 * survives a restart.
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
#define CACHE_SCHEMA_VERSION  3

typedef struct Cache Cache;

/*
 * Open (creating when missing) the cache in directory.  The directory is
 * created 0700 when missing.  Returns 0, or a negative errno when no cache
 * can be had at all (e.g. the directory is not ours): the daemon then runs
 * without persistence and says so.
 */
int cache_open(const char *directory, Cache **ret);
void cache_close(Cache *c);

/* Hand every stored user to cb, which takes ownership of the record.  The
 * secrets are checked but not loaded: the record says which exist. */
int cache_load(Cache *c, int (*cb)(struct user_record *u, void *userdata), void *userdata);

/*
 * Write one user's row (insert or replace) in its own transaction, with
 * the secrets in s->mask set to those of s (NULL: dropped); the others
 * stay as stored (none in a new row).  s may be NULL.  On any failure
 * (full disk, I/O error) the previous row stays as it was and a negative
 * errno comes back; the caller logs and keeps what it could not write.
 */
int cache_put_secrets(Cache *c, const struct user_record *u, const struct user_secrets *s);

/*
 * cache_put_secrets() for n users in one transaction (secrets[i] may be
 * NULL, and so may secrets).  A record that breaks the rules is skipped
 * with results[i] = -EINVAL; the others get 0.  Returns 0, or a negative
 * errno when the transaction failed: then no row changed.
 */
int cache_put_batch(Cache *c, size_t n, const struct user_record *const *users,
                    const struct user_secrets *const *secrets, int *results);

/* cache_put_secrets() without secrets. */
int cache_put(Cache *c, const struct user_record *u);

/*
 * One stored secret of user name (which: one SECRET_*), checked as
 * cache_load checks it, in a malloc'd copy the caller wipes
 * (secure_free_string), or NULL when the row has none.  Returns 0,
 * -ENOENT (no such row), -EBADMSG (a value that breaks the rules) or
 * another negative errno; nothing is logged but the SQLite error, never
 * a value.  SQLite's page cache is emptied (wiped) afterwards, so no copy
 * of the secret stays in it (a read builds no rows: cache_scrub() is not
 * needed).
 */
int cache_get_secret(Cache *c, const char *name, unsigned which, char **ret);

/*
 * Wipe what SQLite keeps in memory of the rows it wrote (its page cache,
 * and the scratch buffer it builds rows in): cache_put_secrets() leaves
 * the secrets there, and doing this after every write would make each
 * login pay for it.  The daemon calls it shortly after writes with
 * secrets (writeback.c).  Failures are ignored: the next call tries again.
 */
void cache_scrub(Cache *c);

/* Delete one user's row, or every row with name NULL.  The uids stay
 * assigned (cache_load_uids()). */
int cache_delete(Cache *c, const char *name);

/*
 * Move what the WAL holds into the database and truncate the WAL to
 * nothing (wal_checkpoint(TRUNCATE)): after a write that dropped a secret,
 * so the old page images that still hold it leave the disk (the database's
 * own pages are overwritten by secure_delete).  Returns 0 or a negative
 * errno (-EBUSY: a reader held it back; the next one tries again).
 */
int cache_checkpoint(Cache *c);

/*
 * Remove the files cache_open() set aside ("<file>.broken-<unix time>")
 * that were set aside max_age_sec or longer before now: they may hold
 * tokens and verifiers, which must not stay on the disk for good.
 * Returns how many were removed, or a negative errno.
 */
int cache_remove_set_aside(Cache *c, int64_t max_age_sec, int64_t now);

/* Hand every stored group assignment (name, gid) to cb. */
int cache_load_groups(Cache *c, int (*cb)(const char *name, gid_t gid, void *userdata), void *userdata);

/* Store a published group's gid (insert or replace). */
int cache_put_group(Cache *c, const char *name, gid_t gid);

/* Hand every stored uid assignment (email, lowercased; uid) to cb. */
int cache_load_uids(Cache *c, int (*cb)(const char *email, uid_t uid, void *userdata), void *userdata);

/* Store the uid given to email, for good: -EEXIST when the email or the
 * uid has one already (the stored one stays). */
int cache_put_uid(Cache *c, const char *email, uid_t uid);

/* Bytes on disk (database plus WAL), for neostractl status. */
int64_t cache_size(Cache *c);
