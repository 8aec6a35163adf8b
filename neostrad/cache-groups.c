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

static bool valid_group_row(const char *name, size_t bytes, int64_t gid) {
        return neostra_valid_unix_name(name) && gid > 0 && gid < (int64_t) UINT32_MAX;
}

int cache_load_groups(Cache *c, int (*cb)(const char *name, gid_t gid, void *userdata), void *userdata) {
        if (!c || !cb)
                return -EINVAL;
        return cache_load_pairs(c, STMT_LOAD_GROUPS, valid_group_row, "group", cb, userdata);
}
