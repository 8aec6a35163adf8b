/* SPDX-License-Identifier: MIT */
/*
 * What the files of the cache share and nothing else sees: the Cache
 * object, the files one database consists of, the prepared statements and
 * their columns.  cache-files.c checks the files on disk, cache.c opens the
 * database, cache-schema.c holds its tables and SQL, cache-users.c and
 * cache-groups.c read and write its rows.  cache.h stays the one public
 * header.
 */
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include "cache.h"

/* The set of files one SQLite database consists of.  The -journal file
 * never exists in WAL mode, but a hot journal would be replayed into the
 * database, so it is held to the same rules. */
enum {
        FILE_DB,
        FILE_WAL,
        FILE_SHM,
        FILE_JOURNAL,
        _FILE_MAX,
};

enum {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_PUT,
        STMT_DELETE,
        STMT_DELETE_ALL,
        STMT_LOAD,
        STMT_PUT_GROUP,
        STMT_LOAD_GROUPS,
        STMT_PUT_UID,
        STMT_LOAD_UIDS,
        STMT_GET_TOKEN,
        STMT_GET_REFRESH_TOKEN,
        STMT_GET_VERIFIER,
        STMT_SCRUB,
        _STMT_MAX,
};

/* Column order of STMT_PUT's parameters and STMT_LOAD's result (after the
 * rowid, which STMT_LOAD returns first so a bad row can be named). */
#define USER_COLUMNS \
        "name, email, roles, token, refresh_token, token_expires, last_online_success, " \
        "verifier, verifier_time, offline_failures, invalidated, uid, last_online_proof, access_end"

enum {
        COL_NAME = 1,
        COL_EMAIL,
        COL_ROLES,
        COL_TOKEN,
        COL_REFRESH_TOKEN,
        COL_TOKEN_EXPIRES,
        COL_LAST_ONLINE_SUCCESS,
        COL_VERIFIER,
        COL_VERIFIER_TIME,
        COL_OFFLINE_FAILURES,
        COL_INVALIDATED,
        COL_UID,
        COL_LAST_ONLINE_PROOF,
        COL_ACCESS_END,
        COL_SECRET_MASK,        /* STMT_PUT only: which secret columns it writes */
};

/* The SQL of each statement, prepared once when the cache is opened
 * (cache-schema.c). */
extern const char *const cache_stmt_sql[_STMT_MAX];

/* The tables of schema version 1, and the steps from each version to the
 * next (cache-schema.c). */
extern const char cache_schema_v1[];
typedef int (*migration_fn)(sqlite3 *db);
extern const migration_fn cache_migrations[CACHE_SCHEMA_VERSION];

struct Cache {
        sqlite3 *db;
        char *directory;        /* resolved: no symlinks, see cache_canonical_directory() */
        char *path[_FILE_MAX];
        sqlite3_stmt *stmt[_STMT_MAX];
        int scrub_bytes;        /* cache_scrub(): a row whose cell fills a page's local space */
        char why[256];
};

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

/* ---- the files on disk (cache-files.c) ---------------------------------- */

/* "", "-wal", "-shm", "-journal": CACHE_FILE_NAME and these name the set. */
extern const char *const cache_file_suffix[_FILE_MAX];

/* Step 1: create directory 0700 when missing, refuse it unless it is a
 * directory of ours (tightening its mode to 0700), and return it open. */
int cache_check_directory(const char *directory, int *ret_fd);
/* The directory with its ancestors resolved, checked to still be dirfd's. */
int cache_canonical_directory(const char *directory, int dirfd, char **ret);
/* Step 2: set the whole set aside when one file of it is not to be trusted. */
int cache_check_files(const char *directory, int dirfd);
/* Rename every file of the set that exists to "<file>.broken-<time>". */
int cache_set_aside(const char *directory, int dirfd);
/* Create the database file 0600 and make every member of the set 0600. */
int cache_prepare_files(int dirfd);

/* ---- talking to SQLite -------------------------------------------------- */

/* The errno closest to what SQLite reported; -EIO when nothing fits
 * (cache.c). */
int sqlite_errno(int rc);

/*
 * Step the rows of a (name, id) table (the group and the uid assignments):
 * each valid(name, its byte length, id) row goes to cb, the others are
 * skipped with a warning naming what.  cb < 0 stops; 0 or the first
 * negative errno (cache.c).
 */
int cache_load_pairs(Cache *c, int which, bool (*valid)(const char *name, size_t bytes, int64_t id),
                     const char *what, int (*cb)(const char *name, uint32_t id, void *userdata), void *userdata);

/* Step a statement that returns no rows and reset it. */
static inline int step_done(Cache *c, int which) {
        int rc = sqlite3_step(c->stmt[which]);

        sqlite3_reset(c->stmt[which]);
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static inline int bind_text(sqlite3_stmt *s, int i, const char *v) {
        /* SQLITE_STATIC: the caller's string outlives the statement's use
         * of it (we reset and clear the bindings before returning), so
         * SQLite never makes a copy of a secret of its own. */
        return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}
