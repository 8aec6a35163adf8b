/* SPDX-License-Identifier: MIT */
/*
 * The groups table of the cache: the gid each group neostrad publishes
 * was given (ids.c), kept so that a gid once handed out stays.
 */
#include <errno.h>
#include <stdint.h>

#include <sqlite3.h>

#include "cache-internal.h"
#include "log.h"
#include "neostra/conf.h"

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
