/* SPDX-License-Identifier: MIT */
/*
 * The user table (neostrad/users.c) and its uid index, the interned role
 * sets and the in-memory password MACs (neostrad/verifier.c): lookups by
 * name and by uid stay right through growth, replacement, forgetting one
 * user and everyone; records hold no secrets and share their roles; MACs
 * separate users and passwords.  The revocation bound (neostrad/access.c):
 * an online proof younger than account_max_age, and nothing since that
 * ended the access; a success brings it back, a refresh with the user
 * moves the proof and the roles.  The uids handed out (neostrad/uids.c):
 * one per email for good, case-insensitively, indexed both ways.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "access.h"
#include "uids.h"
#include "users.h"
#include "verifier.h"

static struct user_record *record(const char *name, uid_t uid) {
        struct user_record *u = calloc(1, sizeof(*u));

        assert_non_null(u);
        u->name = strdup(name);
        assert_non_null(u->name);
        u->uid = uid;
        return u;
}

static void test_table_grows_and_indexes(void **state) {
        struct user_table *t = NULL;
        char name[32];

        assert_int_equal(user_table_new(&t), 0);
        /* Well past the first buckets: the table grows several times. */
        for (unsigned i = 0; i < 5000; i++) {
                snprintf(name, sizeof(name), "user%u", i);
                assert_int_equal(user_table_insert(t, record(name, i % 2 ? 200000 + i : 0)), 0);
        }
        assert_int_equal(user_table_size(t), 5000);
        for (unsigned i = 0; i < 5000; i++) {
                struct user_record *u;

                snprintf(name, sizeof(name), "user%u", i);
                u = user_table_get(t, name);
                assert_non_null(u);
                assert_string_equal(u->name, name);
                if (i % 2) {
                        assert_ptr_equal(user_table_get_by_uid(t, 200000 + i), u);
                        assert_true(user_table_uid_used(t, 200000 + i, NULL));
                        assert_false(user_table_uid_used(t, 200000 + i, u));
                } else
                        assert_null(user_table_get_by_uid(t, 200000 + i));
        }
        assert_null(user_table_get_by_uid(t, 0));
        assert_null(user_table_get(t, "nobody-here"));

        /* Give one a uid through the table: the index follows. */
        user_table_set_uid(t, user_table_get(t, "user10"), 250010);
        assert_string_equal(user_table_get_by_uid(t, 250010)->name, "user10");

        /* Replacing a record drops the old one from both indexes. */
        assert_int_equal(user_table_insert(t, record("user11", 260011)), 0);
        assert_int_equal(user_table_size(t), 5000);
        assert_null(user_table_get_by_uid(t, 200011));
        assert_string_equal(user_table_get_by_uid(t, 260011)->name, "user11");

        /* Forgetting one leaves the others. */
        user_table_forget(t, "user13");
        assert_null(user_table_get(t, "user13"));
        assert_null(user_table_get_by_uid(t, 200013));
        assert_non_null(user_table_get(t, "user15"));
        assert_non_null(user_table_get_by_uid(t, 200015));
        assert_int_equal(user_table_size(t), 4999);

        /* And everyone. */
        user_table_forget(t, NULL);
        assert_int_equal(user_table_size(t), 0);
        assert_null(user_table_get_by_uid(t, 200015));
        user_table_free(t);
}

static void test_password_macs(void **state) {
        unsigned char a[VERIFIER_MAC_SIZE], b[VERIFIER_MAC_SIZE], c[VERIFIER_MAC_SIZE], d[VERIFIER_MAC_SIZE];
        static const unsigned char zero[VERIFIER_MAC_SIZE];

        /* No key, no MAC. */
        assert_int_equal(verifier_mac("alice", "pw", a), -ENOKEY);
        assert_memory_equal(a, zero, sizeof(a));

        assert_int_equal(verifier_mac_init(), 0);
        assert_int_equal(verifier_mac("alice", "correct horse", a), 0);
        assert_int_equal(verifier_mac("alice", "correct horse", b), 0);
        assert_true(verifier_mac_equal(a, b));
        assert_memory_not_equal(a, zero, sizeof(a));
        /* Another password, another user, a shifted boundary: all differ. */
        assert_int_equal(verifier_mac("alice", "correct horsE", c), 0);
        assert_false(verifier_mac_equal(a, c));
        assert_int_equal(verifier_mac("bob", "correct horse", c), 0);
        assert_false(verifier_mac_equal(a, c));
        assert_int_equal(verifier_mac("alicec", "orrect horse", d), 0);
        assert_false(verifier_mac_equal(a, d));
        verifier_mac_done();

        /* A new key (a restart): the same input gives another MAC. */
        assert_int_equal(verifier_mac_init(), 0);
        assert_int_equal(verifier_mac("alice", "correct horse", c), 0);
        assert_false(verifier_mac_equal(a, c));
        verifier_mac_done();

        /* The keyed context is gone with the key. */
        assert_int_equal(verifier_mac("alice", "correct horse", c), -ENOKEY);
        assert_memory_equal(c, zero, sizeof(c));
}

static void test_drop_verifier(void **state) {
        struct user_record *u = record("carol", 0);
        struct user_live *l = user_record_live(u);
        uint64_t gen;

        assert_non_null(l);
        assert_ptr_equal(user_record_live(u), l);
        u->has_verifier = true;
        u->verifier_time = 1234;
        memset(l->verifier_mac, 0xAA, sizeof(l->verifier_mac));
        l->verifier_mac_set = true;
        memset(l->success_mac, 0xBB, sizeof(l->success_mac));
        l->success_mac_set = true;
        gen = l->verifier_gen;
        user_record_drop_verifier(u);
        /* A check of the dropped verifier that ends later sees it is gone. */
        assert_true(l->verifier_gen != gen);
        assert_true(l->id != 0 && l->id != l->verifier_gen);
        assert_false(u->has_verifier);
        assert_false(user_record_has(u, SECRET_VERIFIER));
        assert_int_equal(u->verifier_time, 0);
        assert_false(l->verifier_mac_set);
        assert_false(l->success_mac_set);
        for (size_t i = 0; i < sizeof(l->verifier_mac); i++) {
                assert_int_equal(l->verifier_mac[i], 0);
                assert_int_equal(l->success_mac[i], 0);
        }
        user_record_free(u);

        /* A record that never logged in has no live part to drop from. */
        u = record("dave", 0);
        u->has_verifier = true;
        user_record_drop_verifier(u);
        assert_false(u->has_verifier);
        assert_null(u->live);
        user_record_free(u);
}

/*
 * The record holds no secret: the token, the refresh token and the
 * verifier are in the cache only, and the record says which exist.  Its
 * size guards that (with the secrets, two MACs and per-user role strings
 * it was 216 bytes plus ~500 more in separate blocks); users.h is where a
 * secret field would have to come back.
 */
static void test_record_holds_no_secrets(void **state) {
        struct api_signin_result res = {
                .token = (char *) "eyJ.token", .refresh_token = (char *) "refresh",
                .expires_in = 3600, .email = (char *) "erin@example.com",
                .roles = (char *[]) { "dev", "ops" }, .n_roles = 2,
        };
        struct user_table *t = NULL;
        struct user_record *u = NULL;

        assert_true(sizeof(struct user_record) <= 96);
        assert_int_equal(user_table_new(&t), 0);
        assert_int_equal(user_table_record_success(t, "erin", &res, 1000, &u), 0);
        assert_non_null(u->live);
        assert_int_equal(u->token_expires, 4600);
        assert_int_equal(u->last_online_success, 1000);
        /* The secrets are the caller's to write (manager_save_user), left in res. */
        assert_false(user_record_has(u, SECRET_TOKEN) || user_record_has(u, SECRET_REFRESH_TOKEN));
        assert_string_equal(res.token, "eyJ.token");
        assert_int_equal(u->live->unsaved.mask, 0);
        assert_int_equal(user_n_roles(u), 2);
        assert_string_equal(user_roles(u)[1], "ops");
        u->has_token = u->has_refresh_token = u->has_verifier = true;
        user_table_record_refusal(t, "erin");
        assert_false(user_record_has(u, SECRET_TOKEN) || user_record_has(u, SECRET_REFRESH_TOKEN) ||
                     user_record_has(u, SECRET_VERIFIER));
        assert_int_equal(u->token_expires, 0);
        assert_int_equal(user_n_roles(u), 2);
        user_table_free(t);
}

/* Users with the same roles share one interned copy; the last user gone
 * takes it away. */
static void test_role_sets_interned(void **state) {
        char *dev_ops[] = { "dev", "ops" }, *ops_dev[] = { "ops", "dev" }, *split[] = { "de", "vops" };
        char copy[2][8] = { "dev", "ops" };
        char *dev_ops_copy[] = { copy[0], copy[1] };
        struct role_set *a, *b, *c, *d, *none = (struct role_set *) 1;

        assert_int_equal(role_set_intern(dev_ops, 2, &a), 0);
        assert_int_equal(role_set_intern(dev_ops_copy, 2, &b), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(a->refs, 2);
        /* Its own copy: the caller's strings may go. */
        memset(copy, 'x', sizeof(copy));
        assert_string_equal(a->v[0], "dev");
        assert_string_equal(a->v[1], "ops");
        /* Order and boundaries count. */
        assert_int_equal(role_set_intern(ops_dev, 2, &c), 0);
        assert_int_equal(role_set_intern(split, 2, &d), 0);
        assert_ptr_not_equal(a, c);
        assert_ptr_not_equal(a, d);
        assert_ptr_not_equal(c, d);
        assert_int_equal(role_set_intern(NULL, 0, &none), 0);
        assert_null(none);
        role_set_unref(none);

        /* Many sets: the table grows and finds each again. */
        {
                struct role_set *many[300];
                char name[16], *v[1] = { name };

                for (int i = 0; i < 300; i++) {
                        snprintf(name, sizeof(name), "role%d", i);
                        assert_int_equal(role_set_intern(v, 1, &many[i]), 0);
                }
                for (int i = 0; i < 300; i++) {
                        struct role_set *again;

                        snprintf(name, sizeof(name), "role%d", i);
                        assert_int_equal(role_set_intern(v, 1, &again), 0);
                        assert_ptr_equal(again, many[i]);
                        role_set_unref(again);
                        role_set_unref(many[i]);
                }
        }
        role_set_unref(a);
        assert_int_equal(b->refs, 1);
        role_set_unref(b);
        role_set_unref(c);
        role_set_unref(d);
}

/* ---- the revocation bound ---------------------------------------------------- */

#define T0 1700000000
#define DAY 86400

static struct api_signin_result answer_with_roles(const char *role) {
        struct api_signin_result res = { .outcome = API_ALLOW, .expires_in = 3600, .has_user = true };

        res.email = strdup("alice@example.com");
        res.roles = calloc(2, sizeof(char *));
        assert_non_null(res.roles);
        res.roles[0] = strdup(role);
        res.n_roles = 1;
        assert_true(res.email && res.roles[0]);
        return res;
}

static void test_access_bound(void **state) {
        struct neostra_config *c = NULL;
        struct user_table *t = NULL;
        struct api_signin_result res = answer_with_roles("dev");
        struct user_record *u = NULL;

        assert_int_equal(neostra_config_new_default(&c), 0);
        /* The default: seven days, like offline_max_age. */
        assert_int_equal(c->account_max_age_ms, 7ull * DAY * 1000);
        assert_int_equal(user_table_new(&t), 0);

        /* Never proven: expired, and no time it runs out. */
        assert_int_equal(user_table_insert(t, record("alice", 0)), 0);
        u = user_table_get(t, "alice");
        assert_int_equal(access_state(c, u, T0), ACCESS_EXPIRED);
        assert_int_equal(access_until(c, u), 0);

        /* A sign-in is a proof, valid for account_max_age and not a
         * second longer. */
        assert_int_equal(user_table_record_success(t, "alice", &res, T0, &u), 0);
        assert_int_equal(u->last_online_proof, T0);
        assert_int_equal(access_until(c, u), T0 + 7 * DAY);
        assert_true(access_valid(c, u, T0));
        assert_true(access_valid(c, u, T0 + 7 * DAY - 1));
        assert_int_equal(access_state(c, u, T0 + 7 * DAY), ACCESS_EXPIRED);
        c->account_max_age_ms = 3600 * 1000;
        assert_int_equal(access_state(c, u, T0 + 3600), ACCESS_EXPIRED);
        assert_true(access_valid(c, u, T0 + 3599));

        /* A refresh that brought the user moves the proof (not the last
         * online success) and replaces the roles. */
        api_signin_result_clear(&res);
        res = answer_with_roles("ops");
        assert_int_equal(user_record_refresh_proof(u, &res, T0 + 3000), 0);
        assert_int_equal(u->last_online_proof, T0 + 3000);
        assert_int_equal(u->last_online_success, T0);
        assert_int_equal(user_n_roles(u), 1);
        assert_string_equal(user_roles(u)[0], "ops");
        assert_true(access_valid(c, u, T0 + 6000));

        /* Invalidated: nothing rests on the proof, whatever its age. */
        u->invalidated = true;
        assert_int_equal(access_state(c, u, T0 + 3001), ACCESS_INVALIDATED);
        assert_int_equal(access_until(c, u), 0);

        /* A refused refresh, then a 404: the access ends, the secrets go,
         * and each says why. */
        u->invalidated = false;
        u->has_token = u->has_refresh_token = u->has_verifier = true;
        user_table_end_access(t, u, ACCESS_END_REVOKED);
        assert_int_equal(access_state(c, u, T0 + 3001), ACCESS_REVOKED);
        assert_false(u->has_token || u->has_refresh_token || u->has_verifier);
        assert_true(u->secret_dropped);
        user_table_end_access(t, u, ACCESS_END_DEPROVISIONED);
        assert_int_equal(access_state(c, u, T0 + 3001), ACCESS_DEPROVISIONED);
        assert_string_equal(access_state_name(ACCESS_DEPROVISIONED), "deprovisioned");
        assert_non_null(strstr(access_refusal(ACCESS_EXPIRED), "log in with your password"));

        /* Only a sign-in brings it back. */
        assert_int_equal(user_record_refresh_proof(u, &res, T0 + 4000), 0);
        assert_int_equal(access_state(c, u, T0 + 4000), ACCESS_DEPROVISIONED);
        assert_int_equal(user_table_record_success(t, "alice", &res, T0 + 5000, &u), 0);
        assert_int_equal(access_state(c, u, T0 + 5000), ACCESS_VALID);
        assert_int_equal(u->access_end, ACCESS_END_NONE);

        api_signin_result_clear(&res);
        user_table_free(t);
        neostra_config_free(c);
}

static void test_uid_table(void **state) {
        UidTable *t = NULL;
        char email[64];

        assert_int_equal(uid_table_new(&t), 0);
        assert_int_equal(uid_table_add(t, "Alice@Example.com", 200001), 0);
        /* One uid per email, one email per uid, for good. */
        assert_int_equal(uid_table_add(t, "alice@example.com", 200002), -EEXIST);
        assert_int_equal(uid_table_add(t, "bob@example.com", 200001), -EEXIST);
        assert_int_equal(uid_table_add(t, "bob@example.com", 0), -EINVAL);
        assert_int_equal(uid_table_add(t, "", 200003), -EINVAL);
        assert_int_equal(uid_table_get(t, "ALICE@example.COM"), 200001);
        assert_int_equal(uid_table_get(t, "bob@example.com"), 0);
        assert_true(uid_table_taken(t, 200001, NULL));
        assert_true(uid_table_taken(t, 200001, "bob@example.com"));
        assert_false(uid_table_taken(t, 200001, "alice@EXAMPLE.com"));
        assert_false(uid_table_taken(t, 200002, NULL));
        /* A damaged table's clashes are skipped when it loads. */
        assert_int_equal(uid_table_load("carol@example.com", 200001, t), 0);
        assert_int_equal(uid_table_get(t, "carol@example.com"), 0);

        /* Through growth, both ways. */
        for (unsigned i = 0; i < 5000; i++) {
                snprintf(email, sizeof(email), "user%u@example.com", i);
                assert_int_equal(uid_table_add(t, email, 300000 + i), 0);
        }
        assert_int_equal(uid_table_size(t), 5001);
        for (unsigned i = 0; i < 5000; i++) {
                snprintf(email, sizeof(email), "USER%u@example.com", i);
                assert_int_equal(uid_table_get(t, email), 300000 + i);
                assert_true(uid_table_taken(t, 300000 + i, NULL));
        }
        uid_table_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_grows_and_indexes),
                cmocka_unit_test(test_password_macs),
                cmocka_unit_test(test_drop_verifier),
                cmocka_unit_test(test_record_holds_no_secrets),
                cmocka_unit_test(test_role_sets_interned),
                cmocka_unit_test(test_access_bound),
                cmocka_unit_test(test_uid_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
