/* SPDX-License-Identifier: MIT */
/*
 * Stable ids (neostrad/ids.c): the same key always gives the same id,
 * case-insensitively; ids stay in [min, max]; taken ids are skipped by
 * linear probing with wrap-around; a full range is an error.  And the
 * assignments survive the cache: a user's uid and a published group's gid
 * round-trip, a stored uid is never overwritten, a version 1 database is
 * migrated with its rows kept, and a version 2 one has its uids moved
 * into the uids table (which clearing the users leaves alone) and its
 * online proofs started at the last online success.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "cache.h"
#include "ids.h"
#include "users.h"

/* ---- derivation and probing ---------------------------------------------- */

static void test_deterministic(void **state) {
        uid_t a = 0, b = 0;

        assert_int_equal(ids_candidate("alice@example.com", 200000, 299999),
                         ids_candidate("alice@example.com", 200000, 299999));
        /* Emails compare case-insensitively. */
        assert_int_equal(ids_candidate("Alice@Example.COM", 200000, 299999),
                         ids_candidate("alice@example.com", 200000, 299999));
        assert_int_equal(ids_hash("ABC"), ids_hash("abc"));
        assert_int_not_equal(ids_hash("alice@example.com"), ids_hash("bob@example.com"));
        assert_int_equal(ids_assign("alice@example.com", 200000, 299999, NULL, NULL, &a), 0);
        assert_int_equal(ids_assign("alice@example.com", 200000, 299999, NULL, NULL, &b), 0);
        assert_int_equal(a, b);
        assert_int_equal(a, ids_candidate("alice@example.com", 200000, 299999));
}

static void test_range(void **state) {
        char key[64];
        uid_t id;

        for (int i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "user%d@example.com", i);
                id = ids_candidate(key, 200000, 200099);
                assert_true(id >= 200000 && id <= 200099);
                assert_int_equal(ids_assign(key, 4000000000u, 4294967294u, NULL, NULL, &id), 0);
                assert_true(id >= 4000000000u && id <= 4294967294u);
        }
        /* A range of one id. */
        assert_int_equal(ids_assign("x", 300000, 300000, NULL, NULL, &id), 0);
        assert_int_equal(id, 300000);
        assert_int_equal(ids_assign("x", 300001, 300000, NULL, NULL, &id), -EINVAL);
        assert_int_equal(ids_assign("", 1000, 2000, NULL, NULL, &id), -EINVAL);
}

struct taken_set {
        uid_t ids[8];
        size_t n;
        unsigned calls;
};

static bool in_set(uid_t id, void *userdata) {
        struct taken_set *s = userdata;

        s->calls++;
        for (size_t i = 0; i < s->n; i++)
                if (s->ids[i] == id)
                        return true;
        return false;
}

static void test_probing(void **state) {
        uid_t first = ids_candidate("alice@example.com", 1000, 1009), id = 0;
        struct taken_set s = { .ids = { first, first == 1009 ? 1000 : first + 1 }, .n = 2 };

        assert_int_equal(ids_assign("alice@example.com", 1000, 1009, in_set, &s, &id), 0);
        assert_int_equal(id, first + 2 > 1009 ? first + 2 - 10 : first + 2);
        assert_int_equal(s.calls, 3);
}

static bool all_but_1003(uid_t id, void *userdata) {
        return id != 1003;
}

static bool everything(uid_t id, void *userdata) {
        return true;
}

static void test_wrap_and_full(void **state) {
        uid_t id = 0;

        /* Whatever the candidate, probing wraps around to the one free id. */
        assert_int_equal(ids_assign("bob@example.com", 1000, 1009, all_but_1003, NULL, &id), 0);
        assert_int_equal(id, 1003);
        assert_int_equal(ids_assign("carol@example.com", 1000, 1009, all_but_1003, NULL, &id), 0);
        assert_int_equal(id, 1003);
        id = 77;
        assert_int_equal(ids_assign("bob@example.com", 1000, 1009, everything, NULL, &id), -ENOSPC);
        assert_int_equal(id, 77);
}

static void test_local_ids(void **state) {
        /* root exists on every host; an id far up in the range does not. */
        assert_true(ids_local_id_taken(0));
        assert_false(ids_local_id_taken(4294967000u));
}

/* ---- persistence through the cache ---------------------------------------- */

struct fixture {
        char tmp[64];
        char dir[128];
        char db[160];
};

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test_ids.XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        snprintf(f->dir, sizeof(f->dir), "%s/cache", f->tmp);
        snprintf(f->db, sizeof(f->db), "%s/%s", f->dir, CACHE_FILE_NAME);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

static struct user_record *rec(const char *name, uid_t uid) {
        struct user_record *u = calloc(1, sizeof(*u));

        assert_non_null(u);
        u->name = strdup(name);
        u->email = strdup("someone@example.com");
        assert_non_null(u->name);
        assert_non_null(u->email);
        u->uid = uid;
        return u;
}

struct loaded {
        char names[4][32];
        uid_t uids[4];
        size_t n;
};

static int load_cb(struct user_record *u, void *userdata) {
        struct loaded *l = userdata;

        assert_true(l->n < 4);
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", u->name);
        l->uids[l->n++] = u->uid;
        user_record_free(u);
        return 0;
}

static uid_t uid_of(struct loaded *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->names[i], name) == 0)
                        return l->uids[i];
        fail_msg("%s not loaded", name);
        return 0;
}

static int group_cb(const char *name, gid_t gid, void *userdata) {
        struct loaded *l = userdata;

        assert_true(l->n < 4);
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
        l->uids[l->n++] = gid;
        return 0;
}

static void test_cache_round_trip(void **state) {
        struct fixture *f = *state;
        struct loaded users = {}, groups = {};
        struct user_record *u;
        Cache *c;

        assert_int_equal(cache_open(f->dir, &c), 0);
        u = rec("alice", 201234);
        assert_int_equal(cache_put(c, u), 0);
        /* A later write with no uid (or another one) keeps the stored uid. */
        u->uid = 0;
        assert_int_equal(cache_put(c, u), 0);
        u->uid = 209999;
        assert_int_equal(cache_put(c, u), 0);
        user_record_free(u);
        u = rec("bob", 0);
        assert_int_equal(cache_put(c, u), 0);
        user_record_free(u);
        assert_int_equal(cache_put_group(c, "developers", 250000), 0);
        assert_int_equal(cache_put_group(c, "developers", 250001), 0);
        assert_int_equal(cache_put_group(c, "bad name", 250002), -EINVAL);
        assert_int_equal(cache_put_group(c, "ops", 0), -EINVAL);
        cache_close(c);

        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load(c, load_cb, &users), 0);
        assert_int_equal(users.n, 2);
        assert_int_equal(uid_of(&users, "alice"), 201234);
        assert_int_equal(uid_of(&users, "bob"), 0);
        assert_int_equal(cache_load_groups(c, group_cb, &groups), 0);
        assert_int_equal(groups.n, 1);
        assert_string_equal(groups.names[0], "developers");
        assert_int_equal(groups.uids[0], 250001);
        cache_close(c);
}

static void sql(const char *path, const char *text) {
        sqlite3 *db;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static void test_migration_from_v1(void **state) {
        struct fixture *f = *state;
        struct loaded users = {}, groups = {};
        struct user_record *u;
        sqlite3 *db;
        sqlite3_stmt *s;
        Cache *c;

        /* A database exactly as schema version 1 made it, with a user. */
        assert_int_equal(mkdir(f->dir, 0700), 0);
        sql(f->db,
            "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
            "CREATE TABLE users (name TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL,"
            "  roles TEXT NOT NULL, token TEXT, refresh_token TEXT,"
            "  token_expires INTEGER NOT NULL DEFAULT 0, last_online_success INTEGER NOT NULL DEFAULT 0,"
            "  verifier TEXT, verifier_time INTEGER NOT NULL DEFAULT 0,"
            "  offline_failures INTEGER NOT NULL DEFAULT 0, invalidated INTEGER NOT NULL DEFAULT 0);"
            "INSERT INTO meta VALUES ('schema_version', '1');"
            "INSERT INTO users (name, email, roles, token, last_online_success) "
            "  VALUES ('carol', 'carol@example.com', '[\"dev\"]', 'tok', 1700000000);");
        assert_int_equal(chmod(f->db, 0600), 0);

        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load(c, load_cb, &users), 0);
        assert_int_equal(users.n, 1);
        assert_string_equal(users.names[0], "carol");
        assert_int_equal(users.uids[0], 0);
        assert_int_equal(cache_load_groups(c, group_cb, &groups), 0);
        assert_int_equal(groups.n, 0);
        /* The migrated row takes a uid like any other. */
        u = rec("carol", 204242);
        assert_int_equal(cache_put(c, u), 0);
        user_record_free(u);
        assert_int_equal(cache_put_group(c, "ops", 250000), 0);
        cache_close(c);

        /* Not set aside: the same file, now at the current version. */
        assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
                                            -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(atoi((const char *) sqlite3_column_text(s, 0)), CACHE_SCHEMA_VERSION);
        sqlite3_finalize(s);
        sqlite3_close(db);

        users.n = 0;
        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load(c, load_cb, &users), 0);
        assert_int_equal(uid_of(&users, "carol"), 204242);
        cache_close(c);
}

static int uids_cb(const char *email, uid_t uid, void *userdata) {
        struct loaded *l = userdata;

        assert_true(l->n < 4);
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", email);
        l->uids[l->n++] = uid;
        return 0;
}

/* Version 2 kept each uid in its user's row only, so clearing a user gave
 * the uid away; version 3 moves the assignments into a table of their own
 * and starts the online proof at the last online success. */
static void test_migration_from_v2(void **state) {
        struct fixture *f = *state;
        struct loaded users = {}, uids = {};
        struct user_record *u;
        sqlite3 *db;
        sqlite3_stmt *s;
        Cache *c;

        assert_int_equal(mkdir(f->dir, 0700), 0);
        sql(f->db,
            "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
            "CREATE TABLE users (name TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL,"
            "  roles TEXT NOT NULL, token TEXT, refresh_token TEXT,"
            "  token_expires INTEGER NOT NULL DEFAULT 0, last_online_success INTEGER NOT NULL DEFAULT 0,"
            "  verifier TEXT, verifier_time INTEGER NOT NULL DEFAULT 0,"
            "  offline_failures INTEGER NOT NULL DEFAULT 0, invalidated INTEGER NOT NULL DEFAULT 0,"
            "  uid INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE groups (name TEXT PRIMARY KEY NOT NULL, gid INTEGER NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '2');"
            "INSERT INTO users (name, email, roles, last_online_success, uid) "
            "  VALUES ('carol', 'Carol@Example.com', '[\"dev\"]', 1700000000, 204242);"
            "INSERT INTO users (name, email, roles, uid) VALUES ('dave', 'dave@example.com', '[]', 0);"
            "INSERT INTO groups VALUES ('ops', 250000);");
        assert_int_equal(chmod(f->db, 0600), 0);

        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load_uids(c, uids_cb, &uids), 0);
        assert_int_equal(uids.n, 1);
        assert_string_equal(uids.names[0], "carol@example.com");
        assert_int_equal(uids.uids[0], 204242);
        /* Clearing every user keeps carol's uid assigned to her email. */
        assert_int_equal(cache_delete(c, NULL), 0);
        u = rec("dave", 0);
        assert_int_equal(cache_put(c, u), 0);
        user_record_free(u);
        cache_close(c);

        assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
                                            -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(atoi((const char *) sqlite3_column_text(s, 0)), CACHE_SCHEMA_VERSION);
        sqlite3_finalize(s);
        sqlite3_close(db);

        uids.n = 0;
        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load_uids(c, uids_cb, &uids), 0);
        assert_int_equal(uids.n, 1);
        assert_int_equal(uids.uids[0], 204242);
        assert_int_equal(cache_load(c, load_cb, &users), 0);
        assert_int_equal(users.n, 1);
        cache_close(c);
}

/* The proof starts where the last online success was. */
static int proof_cb(struct user_record *u, void *userdata) {
        int64_t *proof = userdata;

        *proof = u->last_online_proof;
        assert_int_equal(u->access_end, ACCESS_END_NONE);
        user_record_free(u);
        return 0;
}

static void test_migration_starts_the_proof(void **state) {
        struct fixture *f = *state;
        int64_t proof = -1;
        Cache *c;

        assert_int_equal(mkdir(f->dir, 0700), 0);
        sql(f->db,
            "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
            "CREATE TABLE users (name TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL,"
            "  roles TEXT NOT NULL, token TEXT, refresh_token TEXT,"
            "  token_expires INTEGER NOT NULL DEFAULT 0, last_online_success INTEGER NOT NULL DEFAULT 0,"
            "  verifier TEXT, verifier_time INTEGER NOT NULL DEFAULT 0,"
            "  offline_failures INTEGER NOT NULL DEFAULT 0, invalidated INTEGER NOT NULL DEFAULT 0);"
            "INSERT INTO meta VALUES ('schema_version', '1');"
            "INSERT INTO users (name, email, roles, last_online_success) "
            "  VALUES ('erin', 'erin@example.com', '[]', 1700000123);");
        assert_int_equal(chmod(f->db, 0600), 0);
        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load(c, proof_cb, &proof), 0);
        assert_int_equal(proof, 1700000123);
        cache_close(c);
}

static void test_bad_uid_row_skipped(void **state) {
        struct fixture *f = *state;
        struct loaded users = {};
        struct user_record *u;
        Cache *c;

        assert_int_equal(cache_open(f->dir, &c), 0);
        u = rec("dave", 201000);
        assert_int_equal(cache_put(c, u), 0);
        user_record_free(u);
        cache_close(c);
        sql(f->db, "UPDATE users SET uid = -5 WHERE name = 'dave';");
        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_int_equal(cache_load(c, load_cb, &users), 0);
        assert_int_equal(users.n, 0);
        cache_close(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_deterministic),
                cmocka_unit_test(test_range),
                cmocka_unit_test(test_probing),
                cmocka_unit_test(test_wrap_and_full),
                cmocka_unit_test(test_local_ids),
                cmocka_unit_test_setup_teardown(test_cache_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migration_from_v2, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migration_starts_the_proof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_uid_row_skipped, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
