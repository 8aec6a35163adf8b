/* SPDX-License-Identifier: MIT */
/*
 * What the cache database holds: the tables of schema version 1, the
 * migrations from each version to the next, and the SQL of every statement
 * prepared against the current version.  cache.c reads a database's
 * version and runs the migrations it needs; a new version adds its step to
 * cache_migrations[] and raises CACHE_SCHEMA_VERSION in cache.h.
 */
#include <errno.h>
#include <sqlite3.h>

#include "cache-internal.h"

const char *const cache_stmt_sql[_STMT_MAX] = {
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        /* An upsert rather than INSERT OR REPLACE: REPLACE deletes the old
         * row first, which a later schema's ON DELETE CASCADE (uid
         * assignments, say) would follow. */
        [STMT_PUT] = "INSERT INTO users (" USER_COLUMNS ") "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
                     "ON CONFLICT (name) DO UPDATE SET "
                     "email = excluded.email, roles = excluded.roles, "
                     /* The secrets only when the caller has them (?15,
                      * SECRET_*): the record in memory does not. */
                     "token = CASE WHEN ?15 & 1 THEN excluded.token ELSE users.token END, "
                     "refresh_token = CASE WHEN ?15 & 2 THEN excluded.refresh_token "
                     "ELSE users.refresh_token END, "
                     "token_expires = excluded.token_expires, "
                     "last_online_success = excluded.last_online_success, "
                     "verifier = CASE WHEN ?15 & 4 THEN excluded.verifier ELSE users.verifier END, "
                     "verifier_time = excluded.verifier_time, "
                     "offline_failures = excluded.offline_failures, "
                     "invalidated = excluded.invalidated, "
                     /* A uid, once assigned, is never changed or taken back. */
                     "uid = CASE WHEN users.uid > 0 THEN users.uid ELSE excluded.uid END, "
                     "last_online_proof = excluded.last_online_proof, "
                     "access_end = excluded.access_end",
        [STMT_DELETE] = "DELETE FROM users WHERE name = ?1",
        [STMT_DELETE_ALL] = "DELETE FROM users",
        [STMT_LOAD] = "SELECT rowid, " USER_COLUMNS " FROM users",
        [STMT_PUT_GROUP] = ("INSERT INTO groups (name, gid) VALUES (?1, ?2) "
                            "ON CONFLICT (name) DO UPDATE SET gid = excluded.gid"),
        [STMT_LOAD_GROUPS] = "SELECT name, gid FROM groups",
        /* An assignment is never changed: a second one for the same email
         * or uid is refused (SQLITE_CONSTRAINT), the first one stays. */
        [STMT_PUT_UID] = "INSERT INTO uids (email, uid) VALUES (lower(?1), ?2)",
        [STMT_LOAD_UIDS] = "SELECT email, uid FROM uids",
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
const char cache_schema_v1[] =
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
 * Version 3:
 *  - the uids handed out get a table of their own, keyed by the email
 *    (lowercased, as ids.c hashes it), which neither neostractl clear nor
 *    invalidate touches: a user signed in again after a clear, or after
 *    a 404 took it away, gets the uid it had, and no one else ever gets
 *    it.  The existing assignments move there (users.uid stays, as the
 *    uid of the row; SQLite 3.34 of RHEL 9 cannot drop a column);
 *  - the time of the last online proof (access.h), which until now was
 *    the last online success, so that is where it starts;
 *  - why a user's access ended (users.h enum user_access_end).
 */
static int migrate_v2_to_v3(sqlite3 *db) {
        int rc = sqlite3_exec(db,
                "CREATE TABLE uids ("
                "  email TEXT PRIMARY KEY NOT NULL,"
                "  uid INTEGER NOT NULL UNIQUE"
                ");"
                "INSERT OR IGNORE INTO uids (email, uid) "
                "  SELECT lower(email), uid FROM users WHERE uid > 0 AND email <> '' ORDER BY rowid;"
                "ALTER TABLE users ADD COLUMN last_online_proof INTEGER NOT NULL DEFAULT 0;"
                "UPDATE users SET last_online_proof = last_online_success;"
                "ALTER TABLE users ADD COLUMN access_end INTEGER NOT NULL DEFAULT 0;",
                NULL, NULL, NULL);

        /* SQLITE_ERROR: the tables are not those of version 2 (a column
         * missing), whatever the version said. */
        return rc == SQLITE_OK ? 0 : (rc & 0xff) == SQLITE_ERROR ? -EBADMSG : sqlite_errno(rc);
}

/*
 * Migrations: cache_migrations[N] turns a version N database into version
 * N + 1 inside the open transaction and returns 0 or a negative errno,
 * -EBADMSG when the tables are not those of version N (the file is then
 * set aside); the caller (create_or_migrate() in cache.c) then records the
 * new version.  A new database gets
 * cache_schema_v1 and then every step, so there is one path to the
 * current schema.  A NULL step means the old version cannot be migrated
 * and the file is set aside.
 */
const migration_fn cache_migrations[CACHE_SCHEMA_VERSION] = {
        [0] = NULL, /* version 0 is "empty": it gets cache_schema_v1, not a migration */
        [1] = migrate_v1_to_v2,
        [2] = migrate_v2_to_v3,
};
