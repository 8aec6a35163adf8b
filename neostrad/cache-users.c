/* SPDX-License-Identifier: MIT */
/*
 * The user rows of the cache: the rules every row must pass (checked
 * before it is written and again when it is loaded), loading them, writing
 * one or a batch in a transaction with or without secrets, reading one
 * secret back, wiping what SQLite keeps in memory of the rows it wrote, and
 * deleting.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cache-internal.h"
#include "log.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

/* libxcrypt's CRYPT_OUTPUT_SIZE: no yescrypt hash is longer. */
#define CACHE_VERIFIER_MAX 384u

/* A JSON array of NEOSTRA_ROLES_MAX roles of NEOSTRA_ROLE_MAX bytes each,
 * every byte escaped as \uXXXX at worst, fits well below this. */
#define CACHE_ROLES_JSON_MAX (NEOSTRA_ROLES_MAX * (NEOSTRA_ROLE_MAX * 6u + 3u) + 2u)

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
        if (u->last_online_proof < 0)
                return "last_online_proof";
        if (u->access_end >= _ACCESS_END_MAX)
                return "access_end";
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
        FIELD("last_online_proof", column_int(s, COL_LAST_ONLINE_PROOF, 0, INT64_MAX, &u->last_online_proof));
        FIELD("access_end", column_int(s, COL_ACCESS_END, 0, _ACCESS_END_MAX - 1, &v));
        u->access_end = (uint8_t) v;
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
            (rc = sqlite3_bind_int64(s, COL_LAST_ONLINE_PROOF, u->last_online_proof)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(s, COL_ACCESS_END, (int) u->access_end)) != SQLITE_OK ||
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
