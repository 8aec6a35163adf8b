/* SPDX-License-Identifier: MIT */
/*
 * The persistent cache (see cache.h): one SQLite database in WAL mode.
 *
 * Opening goes in three steps, each of which can only make us trust less:
 *   1. the directory must be ours and private (we tighten its mode, but we
 *      cannot fix its owner, so a foreign directory means no cache at all);
 *   2. every file of the database set (neostrad.db, -wal, -shm, and a
 *      -journal should one ever appear) must be a regular file of ours that
 *      nobody else can read; otherwise the whole set is renamed aside;
 *   3. SQLite must find a database that passes quick_check and whose
 *      schema version this build knows; otherwise the whole set is renamed
 *      aside and an empty database is created in its place.
 * Every row is validated again when it is loaded, with the same rules
 * cache_put applies before it writes, so nothing the daemon stored is
 * refused later and nothing it would refuse is ever handed out.
 *
 * The POSIX lock trap: SQLite locks the database with fcntl() locks, which
 * belong to the process and are all dropped when *any* descriptor of the
 * file is closed.  The cache's code therefore never opens a database file
 * while SQLite has it open; cache_size() uses stat() on the paths only.
 *
 * This file opens and closes the database (step 3 and the order of all
 * three); the checks of the directory and of the files on disk (steps 1
 * and 2) are in cache-files.c, the tables and their SQL in cache-schema.c,
 * the user rows in cache-users.c and the gids of the published groups in
 * cache-groups.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cache-internal.h"
#include "log.h"
#include "neostra/text.h"

/* The daemon is the only writer, so a lock held longer than this is
 * someone poking at the file by hand; failing fast beats stalling the
 * event loop. */
#define CACHE_BUSY_TIMEOUT_MS 100

/* No value we store comes near this; a file that claims bigger values is
 * refused by SQLite with SQLITE_TOOBIG instead of making us allocate. */
#define CACHE_SQLITE_LENGTH_MAX (1024 * 1024)

/* A positive return inside this file: the database is not to be trusted
 * (and c->why says why); it is set aside and replaced by an empty one. */
#define UNTRUSTED 1

static int errno_or(int fallback) {
        return errno > 0 ? -errno : -fallback;
}

/* The errno closest to what SQLite reported; -EIO when nothing fits. */
int sqlite_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_IOERR:
                return rc == SQLITE_IOERR_NOMEM ? -ENOMEM : -EIO;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return rc == SQLITE_CANTOPEN_SYMLINK ? -ELOOP : -EACCES;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
                return -EINVAL;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_NOLFS:
                return -EFBIG;
        default:
                return -EIO;
        }
}

int cache_load_pairs(Cache *c, int which, bool (*valid)(const char *name, size_t bytes, int64_t id),
                     const char *what, int (*cb)(const char *name, uint32_t id, void *userdata), void *userdata) {
        sqlite3_stmt *s = c->stmt[which];
        int rc, r = 0;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *name = sqlite3_column_type(s, 0) == SQLITE_TEXT ?
                                   (const char *) sqlite3_column_text(s, 0) : NULL;
                int64_t id = sqlite3_column_type(s, 1) == SQLITE_INTEGER ? sqlite3_column_int64(s, 1) : -1;

                if (!name || !valid(name, (size_t) sqlite3_column_bytes(s, 0), id)) {
                        log_msg(LOG_WARNING, "cache: skipping an invalid stored %s assignment", what);
                        continue;
                }
                r = cb(name, (uint32_t) id, userdata);
                if (r < 0)
                        break;
        }
        if (r == 0 && rc != SQLITE_DONE) {
                log_msg(LOG_ERR, "cache: reading %s: %s", c->path[FILE_DB], sqlite3_errmsg(c->db));
                r = sqlite_errno(rc);
        }
        sqlite3_reset(s);
        return r;
}

static bool sqlite_says_untrusted(int rc) {
        return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* ---- opening ------------------------------------------------------------ */

static int untrusted(Cache *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int untrusted(Cache *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(c->why, sizeof(c->why), fmt, ap);
        va_end(ap);
        /* SQLite's messages (quick_check's above all) span lines. */
        for (char *p = c->why; *p; p++)
                if (!neostra_text_char_ok((unsigned char) *p, 0))
                        *p = ' ';
        return UNTRUSTED;
}

/* A failed SQLite call while opening: corruption means "set aside",
 * anything else (busy, full, I/O) is an error that leaves the file alone. */
static int open_failure(Cache *c, int rc, const char *what) {
        if (sqlite_says_untrusted(rc))
                return untrusted(c, "is not a usable database (%s, during %s)", sqlite3_errstr(rc), what);
        log_msg(LOG_ERR, "cache: %s: %s: %s", c->path[FILE_DB], what, sqlite3_errmsg(c->db));
        /* A step that ended early (SQLITE_DONE where a row was due) is
         * still a failure. */
        return sqlite_errno(rc) ?: -EIO;
}

static int exec(Cache *c, const char *sql, const char *what) {
        int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : open_failure(c, rc, what);
}

static int quick_check(Cache *c) {
        sqlite3_stmt *s = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check", -1, &s, NULL);
        if (rc != SQLITE_OK)
                return open_failure(c, rc, "quick_check");
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                const char *v = (const char *) sqlite3_column_text(s, 0);

                if (!v || strcmp(v, "ok") != 0)
                        r = untrusted(c, "failed quick_check (%.120s)", v ? v : "no answer");
                else if ((rc = sqlite3_step(s)) != SQLITE_DONE)
                        r = rc == SQLITE_ROW ? untrusted(c, "failed quick_check")
                                             : open_failure(c, rc, "quick_check");
        } else
                r = rc == SQLITE_DONE ? untrusted(c, "failed quick_check (no answer)")
                                      : open_failure(c, rc, "quick_check");
        sqlite3_finalize(s);
        return r;
}

/* 0 for a database with no tables at all, or the version it says it has. */
static int read_schema_version(Cache *c, int *ret) {
        sqlite3_stmt *s = NULL;
        const char *v;
        bool empty;
        int rc, r;

        rc = sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master", -1, &s, NULL);
        if (rc != SQLITE_OK)
                return open_failure(c, rc, "reading the schema");
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
                r = open_failure(c, rc, "reading the schema");
                sqlite3_finalize(s);
                return r;
        }
        empty = sqlite3_column_int64(s, 0) == 0;
        sqlite3_finalize(s);
        if (empty) {
                *ret = 0;
                return 0;
        }

        rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'schema_version'",
                                -1, &s, NULL);
        if (rc != SQLITE_OK)
                return (rc & 0xff) == SQLITE_ERROR ? untrusted(c, "has no meta table")
                                                   : open_failure(c, rc, "reading the schema version");
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
                r = rc == SQLITE_DONE ? untrusted(c, "has no schema version")
                                      : open_failure(c, rc, "reading the schema version");
                sqlite3_finalize(s);
                return r;
        }
        v = sqlite3_column_type(s, 0) == SQLITE_TEXT ? (const char *) sqlite3_column_text(s, 0) : NULL;
        if (!v || v[0] < '1' || v[0] > '9' || strlen(v) > 9 || strspn(v, "0123456789") != strlen(v))
                r = untrusted(c, "has an unknown schema version");
        else {
                *ret = atoi(v);
                r = 0;
        }
        sqlite3_finalize(s);
        return r;
}

static int create_or_migrate(Cache *c, int version) {
        bool fresh = version == 0;
        char sql[96];
        int r;

        r = exec(c, "BEGIN IMMEDIATE", "starting the schema transaction");
        if (r != 0)
                return r;
        if (version == 0) {
                r = exec(c, cache_schema_v1, "creating the schema");
                version = 1;
        }
        for (; r == 0 && version > 0 && version < CACHE_SCHEMA_VERSION; version++) {
                if (!cache_migrations[version]) {
                        r = untrusted(c, "has schema version %d, which this build cannot migrate", version);
                        break;
                }
                if (!fresh)
                        log_msg(LOG_NOTICE, "cache: migrating %s from schema version %d to %d",
                                c->path[FILE_DB], version, version + 1);
                r = cache_migrations[version](c->db);
                if (r == -EBADMSG)
                        r = untrusted(c, "does not match schema version %d (%.120s)", version,
                                      sqlite3_errmsg(c->db));
                else if (r < 0)
                        log_msg(LOG_ERR, "cache: migration from schema version %d failed: %s",
                                version, strerror(-r));
        }
        if (r == 0) {
                snprintf(sql, sizeof(sql),
                         "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '%d')",
                         CACHE_SCHEMA_VERSION);
                r = exec(c, sql, "recording the schema version");
        }
        if (r == 0)
                r = exec(c, "COMMIT", "committing the schema");
        if (r != 0 && !sqlite3_get_autocommit(c->db))
                sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
}

static int open_db(Cache *c) {
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
                          SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
        sqlite3_stmt *s = NULL;
        int version = 0, rc, r;

        rc = sqlite3_open_v2(c->path[FILE_DB], &c->db, flags, NULL);
        if (rc != SQLITE_OK) {
                int sys = c->db ? sqlite3_system_errno(c->db) : 0;

                log_msg(LOG_ERR, "cache: cannot open %s: %s", c->path[FILE_DB],
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
                return sys > 0 ? -sys : sqlite_errno(rc);
        }
        sqlite3_extended_result_codes(c->db, 1);
        /* The file is ours, but a damaged one must not be able to run SQL
         * functions from its schema or be "repaired" by writing to it. */
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
        sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, CACHE_SQLITE_LENGTH_MAX);
        sqlite3_busy_timeout(c->db, CACHE_BUSY_TIMEOUT_MS);

        /* secure_delete: deleted rows and freed pages are overwritten with
         * zeros, so a replaced token or verifier does not stay readable in
         * the file.  None of these touch the file yet. */
        r = exec(c, "PRAGMA secure_delete = ON;"
                    "PRAGMA foreign_keys = ON;"
                    "PRAGMA cell_size_check = ON;", "setting pragmas");
        if (r != 0)
                return r;

        /* Judge the file as we found it, before anything writes to it, so
         * a file set aside is still what the admin will want to look at. */
        r = quick_check(c);
        if (r != 0)
                return r;
        r = read_schema_version(c, &version);
        if (r != 0)
                return r;
        if (version > CACHE_SCHEMA_VERSION)
                return untrusted(c, "has schema version %d, newer than this build's %d",
                                 version, CACHE_SCHEMA_VERSION);

        rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
                r = open_failure(c, rc, "switching to WAL");
                sqlite3_finalize(s);
                return r;
        }
        if (strcmp((const char *) sqlite3_column_text(s, 0) ?: "", "wal") != 0) {
                /* Our trust checks and 0600 handling assume the WAL file
                 * set; a file system without shared memory cannot give it. */
                log_msg(LOG_ERR, "cache: %s cannot use WAL mode (journal_mode is %s)",
                        c->path[FILE_DB], (const char *) sqlite3_column_text(s, 0) ?: "unknown");
                sqlite3_finalize(s);
                return -EOPNOTSUPP;
        }
        sqlite3_finalize(s);

        /*
         * synchronous = NORMAL: in WAL mode a commit then needs no fsync (only
         * checkpoints do), so a login never waits on the disk on the event
         * loop.  The price: commits not yet flushed by the kernel or a
         * checkpoint may be lost on power failure or a kernel crash (never
         * on a crash of the daemon), and the database stays consistent.  A
         * lost row mostly means the next login goes online; a lost
         * refusal, though, brings back the verifier it had cleared.
         * journal_size_limit = 0: each time the WAL starts over it is cut to
         * the first transaction, so page images from long ago (old tokens
         * among them) do not stay behind at its tail.
         */
        r = exec(c, "PRAGMA synchronous = NORMAL;"
                    "PRAGMA journal_size_limit = 0;", "setting pragmas");
        if (r != 0)
                return r;

        if (version < CACHE_SCHEMA_VERSION) {
                r = create_or_migrate(c, version);
                if (r != 0)
                        return r;
        }

        for (int i = 0; i < _STMT_MAX; i++) {
                rc = sqlite3_prepare_v3(c->db, cache_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &c->stmt[i], NULL);
                if (rc != SQLITE_OK) {
                        /* The version said 1 but the tables do not match. */
                        if ((rc & 0xff) == SQLITE_ERROR)
                                return untrusted(c, "does not match schema version %d (%.120s)",
                                                 CACHE_SCHEMA_VERSION, sqlite3_errmsg(c->db));
                        return open_failure(c, rc, "preparing statements");
                }
        }

        /* A table page keeps at most usable - 35 bytes of a row in the
         * row's cell, the rest on overflow pages; a row of
         * (usable - 35) + (usable - 4) bytes keeps exactly that many: the
         * largest cell there is (SQLite's file format, "B-tree Page
         * Format").  No bytes are reserved in our pages, so usable is the
         * page size; the row of cache_scrub() has a 4-byte header. */
        rc = sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &s, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
                c->scrub_bytes = 2 * sqlite3_column_int(s, 0) - 39 - 4;
                rc = SQLITE_OK;
        }
        sqlite3_finalize(s);
        return rc == SQLITE_OK ? 0 : open_failure(c, rc, "reading the page size");
}

static void close_db(Cache *c, bool checkpoint) {
        for (int i = 0; i < _STMT_MAX; i++) {
                sqlite3_finalize(c->stmt[i]);
                c->stmt[i] = NULL;
        }
        if (!c->db)
                return;
        /* A database we are about to set aside must be left as it was:
         * no checkpoint, and its WAL not deleted. */
        if (!checkpoint)
                sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_close_v2(c->db);
        c->db = NULL;
}

void cache_close(Cache *c) {
        if (!c)
                return;
        close_db(c, true);
        for (int i = 0; i < _FILE_MAX; i++)
                free(c->path[i]);
        free(c->directory);
        free(c);
}

int cache_open(const char *directory, Cache **ret) {
        __attribute__((cleanup(closep))) int dirfd = -1;
        Cache *c;
        int r;

        if (!directory || !*directory || !ret)
                return -EINVAL;

        r = cache_check_directory(directory, &dirfd);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = cache_canonical_directory(directory, dirfd, &c->directory);
        if (r < 0)
                goto fail;
        for (int i = 0; i < _FILE_MAX; i++)
                if (asprintf(&c->path[i], "%s/%s%s", c->directory, CACHE_FILE_NAME, cache_file_suffix[i]) < 0) {
                        c->path[i] = NULL;
                        r = -ENOMEM;
                        goto fail;
                }

        r = cache_check_files(directory, dirfd);
        if (r < 0)
                goto fail;

        for (int attempt = 0;; attempt++) {
                r = cache_prepare_files(dirfd);
                if (r < 0) {
                        log_msg(LOG_ERR, "cache: cannot prepare %s: %s", c->path[FILE_DB], strerror(-r));
                        goto fail;
                }
                r = open_db(c);
                if (r != UNTRUSTED)
                        break;
                close_db(c, false);
                if (attempt > 0) {
                        /* Not even a fresh file works: give up rather than loop. */
                        log_msg(LOG_ERR, "cache: a new %s %s; running without it",
                                c->path[FILE_DB], c->why);
                        r = -EBADMSG;
                        goto fail;
                }
                log_msg(LOG_WARNING, "cache: %s %s; setting the cache aside and starting empty",
                        c->path[FILE_DB], c->why);
                r = cache_set_aside(directory, dirfd);
                if (r < 0)
                        goto fail;
        }
        if (r < 0)
                goto fail;

        log_msg(LOG_DEBUG, "cache: opened %s", c->path[FILE_DB]);
        *ret = c;
        return 0;

fail:
        cache_close(c);
        return r;
}

int cache_checkpoint(Cache *c) {
        int busy = 0, rc;

        if (!c)
                return -EINVAL;
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc == SQLITE_OK)
                return 0;
        busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
        log_msg(busy ? LOG_DEBUG : LOG_WARNING, "cache: checkpoint of %s: %s", c->path[FILE_DB],
                sqlite3_errmsg(c->db));
        return sqlite_errno(rc);
}

int64_t cache_size(Cache *c) {
        struct stat st;
        int64_t total;

        if (!c)
                return -EINVAL;
        if (stat(c->path[FILE_DB], &st) < 0)
                return errno_or(EIO);
        total = st.st_size;
        if (stat(c->path[FILE_WAL], &st) == 0)
                total += st.st_size;
        else if (errno != ENOENT)
                return errno_or(EIO);
        return total;
}
