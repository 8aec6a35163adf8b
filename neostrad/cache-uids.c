/* SPDX-License-Identifier: MIT */
/*
 * The uids table of the cache: the uid each email was given (ids.c), kept
 * for good.  Deleting users (neostractl clear) and invalidating them leave
 * it alone, so a uid, which owns files on disk, is never handed to anyone
 * else and comes back to its user.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "cache-internal.h"
#include "log.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

static bool valid_email(const char *email) {
        size_t n = email ? strnlen(email, NEOSTRA_USER_MAX + 1) : 0;

        return n > 0 && n <= NEOSTRA_USER_MAX && neostra_text_valid(email, n, NEOSTRA_TEXT_BYTES);
}

static bool valid_uid(int64_t uid) {
        return uid > 0 && uid < (int64_t) UINT32_MAX;
}

int cache_put_uid(Cache *c, const char *email, uid_t uid) {
        sqlite3_stmt *s;
        int rc;

        if (!c || !valid_email(email) || !valid_uid((int64_t) uid))
                return -EINVAL;
        s = c->stmt[STMT_PUT_UID];
        if ((rc = bind_text(s, 1, email)) == SQLITE_OK &&
            (rc = sqlite3_bind_int64(s, 2, (int64_t) uid)) == SQLITE_OK)
                rc = step_done(c, STMT_PUT_UID);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_CONSTRAINT)
                log_msg(LOG_DEBUG, "cache: storing uid %u failed: %s", (unsigned) uid, sqlite3_errmsg(c->db));
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST : sqlite_errno(rc);
}

int cache_load_uids(Cache *c, int (*cb)(const char *email, uid_t uid, void *userdata), void *userdata) {
        sqlite3_stmt *s;
        int rc, r = 0;

        if (!c || !cb)
                return -EINVAL;
        s = c->stmt[STMT_LOAD_UIDS];
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                const char *email = sqlite3_column_type(s, 0) == SQLITE_TEXT ?
                                    (const char *) sqlite3_column_text(s, 0) : NULL;
                int64_t uid = sqlite3_column_type(s, 1) == SQLITE_INTEGER ? sqlite3_column_int64(s, 1) : -1;

                if (!valid_email(email) || (size_t) sqlite3_column_bytes(s, 0) != strlen(email) ||
                    !valid_uid(uid)) {
                        log_msg(LOG_WARNING, "cache: skipping an invalid stored uid assignment");
                        continue;
                }
                r = cb(email, (uid_t) uid, userdata);
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
