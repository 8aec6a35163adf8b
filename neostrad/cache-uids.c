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

static bool valid_uid_row(const char *email, size_t bytes, int64_t uid) {
        return valid_email(email) && bytes == strlen(email) && valid_uid(uid);
}

int cache_load_uids(Cache *c, int (*cb)(const char *email, uid_t uid, void *userdata), void *userdata) {
        if (!c || !cb)
                return -EINVAL;
        return cache_load_pairs(c, STMT_LOAD_UIDS, valid_uid_row, "uid", cb, userdata);
}
