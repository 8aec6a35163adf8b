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
 * file is closed.  This file therefore never opens a database file while
 * SQLite has it open; cache_size() uses stat() on the paths only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cache.h"
#include "log.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

/* The daemon is the only writer, so a lock held longer than this is
 * someone poking at the file by hand; failing fast beats stalling the
 * event loop. */
#define CACHE_BUSY_TIMEOUT_MS 100

/* libxcrypt's CRYPT_OUTPUT_SIZE: no yescrypt hash is longer. */
#define CACHE_VERIFIER_MAX 384u

/* A JSON array of NEOSTRA_ROLES_MAX roles of NEOSTRA_ROLE_MAX bytes each,
 * every byte escaped as \uXXXX at worst, fits well below this. */
#define CACHE_ROLES_JSON_MAX (NEOSTRA_ROLES_MAX * (NEOSTRA_ROLE_MAX * 6u + 3u) + 2u)

/* No value we store comes near this; a file that claims bigger values is
 * refused by SQLite with SQLITE_TOOBIG instead of making us allocate. */
#define CACHE_SQLITE_LENGTH_MAX (1024 * 1024)

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

static const char *const file_suffix[_FILE_MAX] = {
        [FILE_DB] = "",
        [FILE_WAL] = "-wal",
        [FILE_SHM] = "-shm",
        [FILE_JOURNAL] = "-journal",
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
        "verifier, verifier_time, offline_failures, invalidated, uid"

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
        COL_SECRET_MASK,        /* STMT_PUT only: which secret columns it writes */
};

static const char *const stmt_sql[_STMT_MAX] = {
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        /* An upsert rather than INSERT OR REPLACE: REPLACE deletes the old
         * row first, which a later schema's ON DELETE CASCADE (uid
         * assignments, say) would follow. */
        [STMT_PUT] = "INSERT INTO users (" USER_COLUMNS ") "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                     "ON CONFLICT (name) DO UPDATE SET "
                     "email = excluded.email, roles = excluded.roles, "
                     /* The secrets only when the caller has them (?13,
                      * SECRET_*): the record in memory does not. */
                     "token = CASE WHEN ?13 & 1 THEN excluded.token ELSE users.token END, "
                     "refresh_token = CASE WHEN ?13 & 2 THEN excluded.refresh_token "
                     "ELSE users.refresh_token END, "
                     "token_expires = excluded.token_expires, "
                     "last_online_success = excluded.last_online_success, "
                     "verifier = CASE WHEN ?13 & 4 THEN excluded.verifier ELSE users.verifier END, "
                     "verifier_time = excluded.verifier_time, "
                     "offline_failures = excluded.offline_failures, "
                     "invalidated = excluded.invalidated, "
                     /* A uid, once assigned, is never changed or taken back. */
                     "uid = CASE WHEN users.uid > 0 THEN users.uid ELSE excluded.uid END",
        [STMT_DELETE] = "DELETE FROM users WHERE name = ?1",
        [STMT_DELETE_ALL] = "DELETE FROM users",
        [STMT_LOAD] = "SELECT rowid, " USER_COLUMNS " FROM users",
        [STMT_PUT_GROUP] = ("INSERT INTO groups (name, gid) VALUES (?1, ?2) "
                            "ON CONFLICT (name) DO UPDATE SET gid = excluded.gid"),
        [STMT_LOAD_GROUPS] = "SELECT name, gid FROM groups",
        /* One column each: SQLite never reads a secret the caller did not ask for. */
        [STMT_GET_TOKEN] = "SELECT token FROM users WHERE name = ?1",
        [STMT_GET_REFRESH_TOKEN] = "SELECT refresh_token FROM users WHERE name = ?1",
        [STMT_GET_VERIFIER] = "SELECT verifier FROM users WHERE name = ?1",
        /* Never committed: see cache_scrub(). */
        [STMT_SCRUB] = "INSERT INTO meta (key, value) VALUES ('', zeroblob(?1))",
};

/*
 * Schema version 1.  roles is a JSON array of strings: jansson is already
 * the daemon's codec, the sqlite3 shell shows it readably, and unlike a
 * separator character it can hold any role the API may send.  No STRICT
 * tables: RHEL 9 ships SQLite 3.34, which cannot open them; the types are
 * checked in C on every load instead.
 */
static const char schema_v1[] =
        "CREATE TABLE meta ("
        "  key TEXT PRIMARY KEY NOT NULL,"
        "  value TEXT NOT NULL"
        ");"
        "CREATE TABLE users ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  email TEXT NOT NULL,"
        "  roles TEXT NOT NULL,"
        "  token TEXT,"
        "  refresh_token TEXT,"
        "  token_expires INTEGER NOT NULL DEFAULT 0,"
        "  last_online_success INTEGER NOT NULL DEFAULT 0,"
        "  verifier TEXT,"
        "  verifier_time INTEGER NOT NULL DEFAULT 0,"
        "  offline_failures INTEGER NOT NULL DEFAULT 0,"
        "  invalidated INTEGER NOT NULL DEFAULT 0"
        ");";

/*
 * Version 2: the uid assigned to each user (0 = none yet) and the gids of
 * the groups neostrad publishes (ids.c).  Both are kept when a user's
 * other data changes, so an id once handed out stays.
 */
static int sqlite_errno(int rc);

static int migrate_v1_to_v2(sqlite3 *db) {
        int rc = sqlite3_exec(db,
                "ALTER TABLE users ADD COLUMN uid INTEGER NOT NULL DEFAULT 0;"
                "CREATE TABLE groups ("
                "  name TEXT PRIMARY KEY NOT NULL,"
                "  gid INTEGER NOT NULL"
                ");", NULL, NULL, NULL);

        return rc == SQLITE_OK ? 0 : sqlite_errno(rc);
}

/*
 * Migrations: migrations[N] turns a version N database into version N + 1
 * inside the open transaction; the caller then records the new version.
 * A new database gets schema_v1 and then every step, so there is one
 * path to the current schema.  A NULL step means the old version cannot
 * be migrated and the file is set aside.
 */
typedef int (*migration_fn)(sqlite3 *db);
static const migration_fn migrations[CACHE_SCHEMA_VERSION] = {
        [0] = NULL, /* version 0 is "empty": it gets schema_v1, not a migration */
        [1] = migrate_v1_to_v2,
};

/* A positive return inside this file: the database is not to be trusted
 * (and c->why says why); it is set aside and replaced by an empty one. */
#define UNTRUSTED 1

struct Cache {
        sqlite3 *db;
        char *directory;        /* resolved: no symlinks, see canonical_directory() */
        char *path[_FILE_MAX];
        sqlite3_stmt *stmt[_STMT_MAX];
        int scrub_bytes;        /* cache_scrub(): a row whose cell fills a page's local space */
        char why[256];
};

static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

static int errno_or(int fallback) {
        return errno > 0 ? -errno : -fallback;
}

/* The errno closest to what SQLite reported; -EIO when nothing fits. */
static int sqlite_errno(int rc) {
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

static bool sqlite_says_untrusted(int rc) {
        return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* ---- validation shared by cache_put and cache_load ---------------------- */

/* The rule api.c applies to every string it accepts: no control bytes
 * (which also rules out an embedded NUL), bounded length.  Only that:
 * api.c's strings are UTF-8 because jansson saw to it, and text in the
 * cache file that is not UTF-8 is read as it always was, byte by byte. */
static bool clean_bytes(const char *s, size_t len, size_t min, size_t max) {
        return len >= min && len <= max && neostra_text_valid(s, len, NEOSTRA_TEXT_BYTES);
}

static bool clean_string(const char *s, size_t min, size_t max) {
        return s && clean_bytes(s, strnlen(s, max + 1), min, max);
}

/* A yescrypt hash as libcrypt writes it: "$y$", then crypt's base-64
 * alphabet and '$' separators. */
static bool valid_verifier(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, CACHE_VERIFIER_MAX + 1);
        if (n > CACHE_VERIFIER_MAX || strncmp(s, "$y$", 3) != 0)
                return false;
        return strspn(s, "$./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == n;
}

static const char *invalid_record_field(const struct user_record *u) {
        if (!neostra_valid_login_name(u->name))
                return "name";
        if (!clean_string(u->email, 0, NEOSTRA_USER_MAX))
                return "email";
        if (user_n_roles(u) > NEOSTRA_ROLES_MAX)
                return "roles";
        for (size_t i = 0; i < user_n_roles(u); i++)
                if (!clean_string(user_roles(u)[i], 1, NEOSTRA_ROLE_MAX))
                        return "roles";
        if (u->token_expires < 0)
                return "token_expires";
        if (u->last_online_success < 0)
                return "last_online_success";
        if (u->verifier_time < 0)
                return "verifier_time";
        return NULL;
}

static bool valid_token(const char *s) {
        return clean_string(s, 1, NEOSTRA_TOKEN_MAX);
}

static const char *invalid_secrets_field(const struct user_secrets *s) {
        if (!s)
                return NULL;
        if (s->mask & ~(unsigned) SECRET_ALL)
                return "secrets";
        if ((s->mask & SECRET_TOKEN) && s->token && !valid_token(s->token))
                return "token";
        if ((s->mask & SECRET_REFRESH_TOKEN) && s->refresh_token && !valid_token(s->refresh_token))
                return "refresh_token";
        if ((s->mask & SECRET_VERIFIER) && s->verifier && !valid_verifier(s->verifier))
                return "verifier";
        return NULL;
}

/* ---- directory and file checks ------------------------------------------ */

static int check_directory(const char *directory, int *ret_fd) {
        __attribute__((cleanup(closep))) int fd = -1;
        struct stat lst, st;

        if (mkdir(directory, 0700) == 0)
                log_msg(LOG_INFO, "cache: created %s", directory);
        else if (errno != EEXIST) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot create %s: %s", directory, strerror(-r));
                return r;
        }

        if (lstat(directory, &lst) < 0) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot examine %s: %s", directory, strerror(-r));
                return r;
        }
        if (S_ISLNK(lst.st_mode)) {
                log_msg(LOG_ERR, "cache: %s is a symlink, not a directory; refusing it", directory);
                return -ELOOP;
        }
        if (!S_ISDIR(lst.st_mode)) {
                log_msg(LOG_ERR, "cache: %s is not a directory; refusing it", directory);
                return -ENOTDIR;
        }

        /* From here on the descriptor, not the name, is what we judge and
         * change, so a rename between the checks cannot fool us. */
        fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot open %s: %s", directory, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != lst.st_dev || st.st_ino != lst.st_ino) {
                log_msg(LOG_ERR, "cache: %s changed while it was being checked", directory);
                return -EAGAIN;
        }
        if (st.st_uid != geteuid()) {
                log_msg(LOG_ERR, "cache: %s is owned by uid %u, not by us (uid %u); refusing it",
                        directory, (unsigned) st.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        if ((st.st_mode & 07777) != 0700) {
                if (fchmod(fd, 0700) < 0) {
                        int r = -errno;

                        log_msg(LOG_ERR, "cache: cannot chmod %s to 0700: %s", directory, strerror(-r));
                        return r;
                }
                log_msg(LOG_WARNING, "cache: %s had mode %04o; changed it to 0700",
                        directory, (unsigned) (st.st_mode & 07777));
        }

        *ret_fd = fd;
        fd = -1;
        return 0;
}

/*
 * SQLITE_OPEN_NOFOLLOW refuses a symlink anywhere in the path, not only in
 * the last component, and a /var/lib reached through a symlink is a
 * legitimate setup.  The directory itself was refused above if it is a
 * symlink; SQLite gets the path with the ancestors resolved, checked to
 * still name the directory we judged.
 */
static int canonical_directory(const char *directory, int dirfd, char **ret) {
        struct stat st, real_st;
        char *real;

        real = realpath(directory, NULL);
        if (!real) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot resolve %s: %s", directory, strerror(-r));
                return r;
        }
        if (fstat(dirfd, &st) < 0 || stat(real, &real_st) < 0 ||
            st.st_dev != real_st.st_dev || st.st_ino != real_st.st_ino) {
                log_msg(LOG_ERR, "cache: %s changed while it was being checked", directory);
                free(real);
                return -EAGAIN;
        }
        *ret = real;
        return 0;
}

static void file_name(int which, char *buf, size_t size) {
        snprintf(buf, size, "%s%s", CACHE_FILE_NAME, file_suffix[which]);
}

/* NULL when the file is absent or fit to use; otherwise why it is not. */
static const char *file_distrust(int dirfd, const char *name, char *buf, size_t size) {
        struct stat st;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return NULL;
                snprintf(buf, size, "cannot be examined (%s)", strerror(errno));
                return buf;
        }
        if (S_ISLNK(st.st_mode))
                return "is a symlink";
        if (!S_ISREG(st.st_mode))
                return "is not a regular file";
        if (st.st_uid != geteuid()) {
                snprintf(buf, size, "is owned by uid %u, not by us (uid %u)",
                         (unsigned) st.st_uid, (unsigned) geteuid());
                return buf;
        }
        if (st.st_mode & 077) {
                snprintf(buf, size, "is accessible to group or others (mode %04o)",
                         (unsigned) (st.st_mode & 07777));
                return buf;
        }
        return NULL;
}

/* Rename every file of the set that exists to "<file>.broken-<time>",
 * never over an existing name. */
static int set_aside(const char *directory, int dirfd) {
        time_t now = time(NULL);

        for (int i = 0; i < _FILE_MAX; i++) {
                char name[64], aside[128];
                struct stat st;
                int r = -EEXIST;

                file_name(i, name, sizeof(name));
                if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                for (unsigned n = 0; n < 100 && r == -EEXIST; n++) {
                        if (n == 0)
                                snprintf(aside, sizeof(aside), "%s.broken-%jd", name, (intmax_t) now);
                        else
                                snprintf(aside, sizeof(aside), "%s.broken-%jd.%u", name,
                                         (intmax_t) now, n);
                        r = renameat2(dirfd, name, dirfd, aside, RENAME_NOREPLACE) < 0 ? -errno : 0;
                        if (r == -EINVAL) {
                                /* A file system without RENAME_NOREPLACE: the
                                 * directory is ours alone, so look, then leap. */
                                if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0)
                                        r = -EEXIST;
                                else
                                        r = renameat(dirfd, name, dirfd, aside) < 0 ? -errno : 0;
                        }
                }
                if (r < 0) {
                        log_msg(LOG_ERR, "cache: cannot move %s/%s aside: %s",
                                directory, name, strerror(-r));
                        return r;
                }
                log_msg(LOG_WARNING, "cache: moved %s/%s aside to %s", directory, name, aside);
        }
        return 0;
}

static int check_files(const char *directory, int dirfd) {
        bool bad = false;

        for (int i = 0; i < _FILE_MAX; i++) {
                char name[64], buf[128];
                const char *why;

                file_name(i, name, sizeof(name));
                why = file_distrust(dirfd, name, buf, sizeof(buf));
                if (why) {
                        log_msg(LOG_WARNING, "cache: %s/%s %s; setting the cache aside and starting empty",
                                directory, name, why);
                        bad = true;
                }
        }
        /* One untrusted member taints the set: a WAL belongs to its
         * database, and a database mid-checkpoint needs its WAL. */
        return bad ? set_aside(directory, dirfd) : 0;
}

/* Create the database file 0600 ourselves (SQLite would use 0644 & ~umask)
 * and make sure every existing member of the set is 0600: SQLite creates
 * -wal and -shm with the database file's mode.  Nothing of SQLite's is open
 * yet, so opening the files here cannot drop its locks. */
static int prepare_files(int dirfd) {
        for (int i = 0; i < _FILE_MAX; i++) {
                __attribute__((cleanup(closep))) int fd = -1;
                char name[64];
                struct stat st;
                int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;

                file_name(i, name, sizeof(name));
                if (i == FILE_DB)
                        flags |= O_CREAT;
                fd = openat(dirfd, name, flags, 0600);
                if (fd < 0) {
                        if (errno == ENOENT && i != FILE_DB)
                                continue;
                        return -errno;
                }
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
                        return -EPERM;
                if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
                        return -errno;
        }
        return 0;
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
                r = exec(c, schema_v1, "creating the schema");
                version = 1;
        }
        for (; r == 0 && version > 0 && version < CACHE_SCHEMA_VERSION; version++) {
                if (!migrations[version]) {
                        r = untrusted(c, "has schema version %d, which this build cannot migrate", version);
                        break;
                }
                if (!fresh)
                        log_msg(LOG_NOTICE, "cache: migrating %s from schema version %d to %d",
                                c->path[FILE_DB], version, version + 1);
                r = migrations[version](c->db);
                if (r < 0)
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
                rc = sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
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

        r = check_directory(directory, &dirfd);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = canonical_directory(directory, dirfd, &c->directory);
        if (r < 0)
                goto fail;
        for (int i = 0; i < _FILE_MAX; i++)
                if (asprintf(&c->path[i], "%s/%s%s", c->directory, CACHE_FILE_NAME, file_suffix[i]) < 0) {
                        c->path[i] = NULL;
                        r = -ENOMEM;
                        goto fail;
                }

        r = check_files(directory, dirfd);
        if (r < 0)
                goto fail;

        for (int attempt = 0;; attempt++) {
                r = prepare_files(dirfd);
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
                r = set_aside(directory, dirfd);
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

/* ---- loading ------------------------------------------------------------ */

/* A TEXT column (NULL allowed when nullable) that passes clean_bytes, in
 * SQLite's buffer (good until the statement steps or is reset).  Returns
 * 0, -EINVAL for a value that breaks the rules, or -ENOMEM. */
static int column_text(sqlite3_stmt *s, int col, bool nullable, size_t min, size_t max,
                       const char **ret) {
        const char *p;

        switch (sqlite3_column_type(s, col)) {
        case SQLITE_NULL:
                if (!nullable)
                        return -EINVAL;
                *ret = NULL;
                return 0;
        case SQLITE_TEXT:
                break;
        default:
                return -EINVAL;
        }
        p = (const char *) sqlite3_column_text(s, col);
        if (!p)
                return -ENOMEM;
        if (!clean_bytes(p, (size_t) sqlite3_column_bytes(s, col), min, max))
                return -EINVAL;
        *ret = p;
        return 0;
}

/* column_text() in a malloc'd copy (NULL for NULL). */
static int column_string(sqlite3_stmt *s, int col, bool nullable, size_t min, size_t max,
                         char **ret) {
        const char *p;
        int r;

        r = column_text(s, col, nullable, min, max, &p);
        if (r < 0)
                return r;
        if (!p) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(p);
        return *ret ? 0 : -ENOMEM;
}

/* A secret column, checked and not kept: whether the row has one. */
static int column_secret(sqlite3_stmt *s, int col, bool *ret) {
        const char *p;
        int r;

        if (col == COL_VERIFIER) {
                r = column_text(s, col, true, 3, CACHE_VERIFIER_MAX, &p);
                if (r == 0 && p && !valid_verifier(p))
                        r = -EINVAL;
        } else
                r = column_text(s, col, true, 1, NEOSTRA_TOKEN_MAX, &p);
        if (r < 0)
                return r;
        *ret = p != NULL;
        return 0;
}

static int column_int(sqlite3_stmt *s, int col, int64_t min, int64_t max, int64_t *ret) {
        int64_t v;

        if (sqlite3_column_type(s, col) != SQLITE_INTEGER)
                return -EINVAL;
        v = sqlite3_column_int64(s, col);
        if (v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_roles(const char *text, struct user_record *u) {
        char *v[NEOSTRA_ROLES_MAX];
        json_t *a, *e;
        size_t i;
        int r;

        a = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_array(a) || json_array_size(a) > NEOSTRA_ROLES_MAX) {
                json_decref(a);
                return -EINVAL;
        }
        json_array_foreach(a, i, e) {
                if (!json_is_string(e) ||
                    !clean_bytes(json_string_value(e), json_string_length(e), 1, NEOSTRA_ROLE_MAX)) {
                        json_decref(a);
                        return -EINVAL;
                }
                v[i] = (char *) json_string_value(e);
        }
        /* Copied (or found) by the intern table: a's strings go with it. */
        r = role_set_intern(v, json_array_size(a), &u->roles);
        json_decref(a);
        return r;
}

/* Build a record from the current row.  Returns 0, -EINVAL with *ret_field
 * naming the first bad column, or -ENOMEM. */
static int row_to_record(sqlite3_stmt *s, struct user_record **ret, const char **ret_field) {
        struct user_record *u;
        const char *roles;
        int64_t v;
        bool has;
        int r;

        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;

#define FIELD(field, expr)                      \
        do {                                    \
                r = (expr);                     \
                if (r < 0) {                    \
                        *ret_field = (field);   \
                        goto fail;              \
                }                               \
        } while (0)

        FIELD("name", column_string(s, COL_NAME, false, 1, NEOSTRA_USER_MAX, &u->name));
        FIELD("name", neostra_valid_login_name(u->name) ? 0 : -EINVAL);
        FIELD("email", column_string(s, COL_EMAIL, false, 0, NEOSTRA_USER_MAX, &u->email));
        FIELD("roles", column_text(s, COL_ROLES, false, 2, CACHE_ROLES_JSON_MAX, &roles));
        FIELD("roles", parse_roles(roles, u));
        FIELD("token", column_secret(s, COL_TOKEN, &has));
        u->has_token = has;
        FIELD("refresh_token", column_secret(s, COL_REFRESH_TOKEN, &has));
        u->has_refresh_token = has;
        FIELD("token_expires", column_int(s, COL_TOKEN_EXPIRES, 0, INT64_MAX, &u->token_expires));
        FIELD("last_online_success", column_int(s, COL_LAST_ONLINE_SUCCESS, 0, INT64_MAX,
                                                &u->last_online_success));
        FIELD("verifier", column_secret(s, COL_VERIFIER, &has));
        u->has_verifier = has;
        FIELD("verifier_time", column_int(s, COL_VERIFIER_TIME, 0, INT64_MAX, &u->verifier_time));
        FIELD("offline_failures", column_int(s, COL_OFFLINE_FAILURES, 0, UINT_MAX, &v));
        u->offline_failures = (unsigned) v;
        FIELD("invalidated", column_int(s, COL_INVALIDATED, 0, 1, &v));
        u->invalidated = v != 0;
        /* uid 0 means "none yet"; anything else must be an ordinary id. */
        FIELD("uid", column_int(s, COL_UID, 0, (int64_t) UINT32_MAX - 1, &v));
        u->uid = (uid_t) v;
#undef FIELD

        *ret = u;
        return 0;

fail:
        user_record_free(u);
        return r;
}

int cache_load(Cache *c, int (*cb)(struct user_record *u, void *userdata), void *userdata) {
        sqlite3_stmt *s;
        unsigned loaded = 0, skipped = 0;
        int rc, r = 0;

        if (!c || !cb)
                return -EINVAL;
        s = c->stmt[STMT_LOAD];

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                struct user_record *u = NULL;
                const char *field = NULL;

                r = row_to_record(s, &u, &field);
                if (r == -EINVAL) {
                        /* Name the row by its name only when that name is
                         * itself valid (and so printable); never a value. */
                        const char *name = (const char *) sqlite3_column_text(s, COL_NAME);

                        if (field && strcmp(field, "name") != 0 && name && neostra_valid_login_name(name))
                                log_msg(LOG_WARNING, "cache: skipping stored user %s: invalid %s",
                                        name, field);
                        else
                                log_msg(LOG_WARNING, "cache: skipping stored row %" PRId64 ": invalid %s",
                                        (int64_t) sqlite3_column_int64(s, 0), field ? field : "row");
                        skipped++;
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                /* cb owns u from here on, whatever it returns. */
                r = cb(u, userdata);
                if (r < 0)
                        break;
                loaded++;
        }
        if (r == 0 && rc != SQLITE_DONE) {
                log_msg(LOG_ERR, "cache: reading %s: %s", c->path[FILE_DB], sqlite3_errmsg(c->db));
                r = sqlite_errno(rc);
        }
        sqlite3_reset(s);
        /* The scan went through every secret: leave none in the page cache. */
        sqlite3_db_release_memory(c->db);
        /* Each skipped row was logged; the caller reports the total. */
        if (r == 0)
                log_msg(LOG_DEBUG, "cache: loaded %u users, skipped %u", loaded, skipped);
        return r;
}

/* ---- writing ------------------------------------------------------------ */

/* Step a statement that returns no rows and reset it. */
static int step_done(Cache *c, int which) {
        int rc = sqlite3_step(c->stmt[which]);

        sqlite3_reset(c->stmt[which]);
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int roles_json(const struct user_record *u, char **ret) {
        json_t *a = json_array();
        size_t n;
        char *buf;

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < user_n_roles(u); i++) {
                json_t *v = json_string(user_roles(u)[i]);

                /* json_string() refuses invalid UTF-8 too. */
                if (!v || json_array_append_new(a, v) < 0) {
                        json_decref(a);
                        return -EINVAL;
                }
        }
        /* json_dumpb into our own buffer, so whatever allocator jansson
         * was given never frees memory of ours or vice versa. */
        n = json_dumpb(a, NULL, 0, JSON_COMPACT);
        buf = n > 0 ? malloc(n + 1) : NULL;
        if (buf && json_dumpb(a, buf, n, JSON_COMPACT) == n)
                buf[n] = 0;
        else {
                free(buf);
                buf = NULL;
        }
        json_decref(a);
        if (!buf)
                return -ENOMEM;
        *ret = buf;
        return 0;
}

static int bind_text(sqlite3_stmt *s, int i, const char *v) {
        /* SQLITE_STATIC: the caller's string outlives the statement's use
         * of it (we reset and clear the bindings before returning), so
         * SQLite never makes a copy of a secret of its own. */
        return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* One row in the open transaction: SQLITE_OK, or the failing code. */
static int put_row(Cache *c, const struct user_record *u, const struct user_secrets *secrets,
                   const char *roles) {
        sqlite3_stmt *s = c->stmt[STMT_PUT];
        int rc;

        if ((rc = bind_text(s, COL_NAME, u->name)) != SQLITE_OK ||
            (rc = bind_text(s, COL_EMAIL, u->email)) != SQLITE_OK ||
            (rc = bind_text(s, COL_ROLES, roles)) != SQLITE_OK ||
            (rc = bind_text(s, COL_TOKEN,
                            secrets->mask & SECRET_TOKEN ? secrets->token : NULL)) != SQLITE_OK ||
            (rc = bind_text(s, COL_REFRESH_TOKEN, secrets->mask & SECRET_REFRESH_TOKEN ?
                                                  secrets->refresh_token : NULL)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(s, COL_TOKEN_EXPIRES, u->token_expires)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(s, COL_LAST_ONLINE_SUCCESS, u->last_online_success)) != SQLITE_OK ||
            (rc = bind_text(s, COL_VERIFIER,
                            secrets->mask & SECRET_VERIFIER ? secrets->verifier : NULL)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(s, COL_VERIFIER_TIME, u->verifier_time)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(s, COL_OFFLINE_FAILURES, u->offline_failures)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(s, COL_INVALIDATED, u->invalidated)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(s, COL_UID, (int64_t) u->uid)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(s, COL_SECRET_MASK, (int) secrets->mask)) == SQLITE_OK)
                rc = step_done(c, STMT_PUT);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        if (rc != SQLITE_OK)
                log_msg(LOG_DEBUG, "cache: storing %s failed: %s", u->name, sqlite3_errmsg(c->db));
        return rc;
}

int cache_put_batch(Cache *c, size_t n, const struct user_record *const *users,
                    const struct user_secrets *const *secrets, int *results) {
        static const struct user_secrets none = {};
        size_t valid = 0;
        int rc = SQLITE_OK;

        if (!c || (n > 0 && (!users || !results)))
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                const struct user_secrets *s = secrets && secrets[i] ? secrets[i] : &none;
                const char *field = !users[i] ? "record" :
                                    invalid_record_field(users[i]) ?: invalid_secrets_field(s);

                results[i] = 0;
                if (field) {
                        log_msg(LOG_DEBUG, "cache: not storing a record with an invalid %s", field);
                        results[i] = -EINVAL;
                } else
                        valid++;
        }
        if (valid == 0)
                return 0;

        rc = step_done(c, STMT_BEGIN);
        for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
                char *roles = NULL;
                int r;

                if (results[i] < 0)
                        continue;
                r = roles_json(users[i], &roles);
                if (r == -EINVAL) {
                        results[i] = r;
                        continue;
                }
                if (r < 0) {
                        rc = SQLITE_NOMEM;
                        break;
                }
                rc = put_row(c, users[i], secrets && secrets[i] ? secrets[i] : &none, roles);
                free(roles);
        }
        if (rc == SQLITE_OK)
                rc = step_done(c, STMT_COMMIT);
        if (rc != SQLITE_OK)
                log_msg(LOG_DEBUG, "cache: storing %zu users failed: %s", valid, sqlite3_errmsg(c->db));
        /* A failed COMMIT (busy, full, I/O) leaves the transaction open,
         * and some errors end it by themselves: roll back whatever is left,
         * so every previous row stays as it was. */
        if (!sqlite3_get_autocommit(c->db))
                step_done(c, STMT_ROLLBACK);
        return sqlite_errno(rc);
}

int cache_put_secrets(Cache *c, const struct user_record *u, const struct user_secrets *secrets) {
        int result, r;

        if (!c || !u)
                return -EINVAL;
        r = cache_put_batch(c, 1, &u, &secrets, &result);
        return r < 0 ? r : result;
}

int cache_put(Cache *c, const struct user_record *u) {
        return cache_put_secrets(c, u, NULL);
}

void cache_scrub(Cache *c) {
        int rc;

        if (!c)
                return;
        /* SQLite builds every new row in a page-sized buffer of the
         * connection's that it keeps (and does not clear) until the
         * connection is closed: the last row written with a secret would
         * stay there.  A row of zeros that fills the largest cell there
         * can be is built in its place, in a transaction rolled back (no
         * write reaches the file). */
        rc = step_done(c, STMT_BEGIN);
        if (rc == SQLITE_OK) {
                rc = sqlite3_bind_int(c->stmt[STMT_SCRUB], 1, c->scrub_bytes);
                if (rc == SQLITE_OK)
                        rc = step_done(c, STMT_SCRUB);
                sqlite3_clear_bindings(c->stmt[STMT_SCRUB]);
        }
        if (!sqlite3_get_autocommit(c->db))
                step_done(c, STMT_ROLLBACK);
        if (rc != SQLITE_OK)
                log_msg(LOG_DEBUG, "cache: scrubbing SQLite's scratch row failed: %s", sqlite3_errstr(rc));
        /* And the pages of the rows written: freed, so wiped (alloc.c). */
        sqlite3_db_release_memory(c->db);
}

int cache_get_secret(Cache *c, const char *name, unsigned which, char **ret) {
        sqlite3_stmt *s;
        const char *p = NULL;
        int rc, r;

        if (!c || !name || !ret)
                return -EINVAL;
        switch (which) {
        case SECRET_TOKEN:
                s = c->stmt[STMT_GET_TOKEN];
                break;
        case SECRET_REFRESH_TOKEN:
                s = c->stmt[STMT_GET_REFRESH_TOKEN];
                break;
        case SECRET_VERIFIER:
                s = c->stmt[STMT_GET_VERIFIER];
                break;
        default:
                return -EINVAL;
        }
        rc = bind_text(s, 1, name);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                r = which == SECRET_VERIFIER ? column_text(s, 0, true, 3, CACHE_VERIFIER_MAX, &p)
                                             : column_text(s, 0, true, 1, NEOSTRA_TOKEN_MAX, &p);
                if (r == 0 && p && which == SECRET_VERIFIER && !valid_verifier(p))
                        r = -EINVAL;
                if (r == -EINVAL)
                        r = -EBADMSG;
                if (r == 0 && p && !(*ret = strdup(p)))
                        r = -ENOMEM;
                if (r == 0 && !p)
                        *ret = NULL;
        } else if (rc == SQLITE_DONE)
                r = -ENOENT;
        else {
                log_msg(LOG_ERR, "cache: reading %s: %s", c->path[FILE_DB], sqlite3_errmsg(c->db));
                r = sqlite_errno(rc) ?: -EIO;
        }
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        /* The page cache now holds a copy of the secret: SQLite frees it
         * through the wiping allocator (alloc.c).  The next read comes from
         * the kernel's page cache, a few microseconds. */
        sqlite3_db_release_memory(c->db);
        return r;
}

int cache_put_group(Cache *c, const char *name, gid_t gid) {
        sqlite3_stmt *s;
        int rc;

        if (!c || !neostra_valid_unix_name(name) || gid == 0 || gid == (gid_t) -1)
                return -EINVAL;
        s = c->stmt[STMT_PUT_GROUP];
        if ((rc = bind_text(s, 1, name)) == SQLITE_OK &&
            (rc = sqlite3_bind_int64(s, 2, (int64_t) gid)) == SQLITE_OK)
                rc = step_done(c, STMT_PUT_GROUP);
        if (rc != SQLITE_OK)
                log_msg(LOG_DEBUG, "cache: storing group %s failed: %s", name, sqlite3_errmsg(c->db));
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return sqlite_errno(rc);
}

int cache_load_groups(Cache *c, int (*cb)(const char *name, gid_t gid, void *userdata), void *userdata) {
        sqlite3_stmt *s;
        int rc, r = 0;

        if (!c || !cb)
                return -EINVAL;
        s = c->stmt[STMT_LOAD_GROUPS];
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *name = sqlite3_column_type(s, 0) == SQLITE_TEXT ?
                                   (const char *) sqlite3_column_text(s, 0) : NULL;
                int64_t gid = sqlite3_column_type(s, 1) == SQLITE_INTEGER ? sqlite3_column_int64(s, 1) : -1;

                if (!name || !neostra_valid_unix_name(name) || gid <= 0 || gid >= (int64_t) UINT32_MAX) {
                        log_msg(LOG_WARNING, "cache: skipping an invalid stored group assignment");
                        continue;
                }
                r = cb(name, (gid_t) gid, userdata);
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

int cache_delete(Cache *c, const char *name) {
        int which = name ? STMT_DELETE : STMT_DELETE_ALL;
        int rc;

        if (!c)
                return -EINVAL;
        if (name && (rc = bind_text(c->stmt[which], 1, name)) != SQLITE_OK)
                return sqlite_errno(rc);
        rc = step_done(c, which);
        sqlite3_clear_bindings(c->stmt[which]);
        if (rc != SQLITE_OK) {
                log_msg(LOG_DEBUG, "cache: deleting failed: %s", sqlite3_errmsg(c->db));
                return sqlite_errno(rc);
        }
        /* A delete is an admin's request to forget: move the zeroed pages
         * into the database now and empty the WAL, which still holds the
         * old page images.  A busy checkpoint only delays that. */
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc != SQLITE_OK)
                log_msg(LOG_DEBUG, "cache: checkpoint after delete: %s", sqlite3_errmsg(c->db));
        return 0;
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
