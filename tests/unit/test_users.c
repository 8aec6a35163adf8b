/* SPDX-License-Identifier: MIT */
/*
 * The user table (neostrad/users.c) and its uid index, the in-memory
 * password MACs (neostrad/verifier.c) and the short-lived NSS answers
 * (neostrad/localnames.c): lookups by name and by uid stay right through
 * growth, replacement, forgetting one user and everyone; MACs separate
 * users and passwords; local names answer as NSS does.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "localnames.h"
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
}

static void test_drop_verifier(void **state) {
        struct user_record *u = record("carol", 0);

        u->verifier = strdup("$y$j9T$salt$hash");
        u->verifier_time = 1234;
        memset(u->verifier_mac, 0xAA, sizeof(u->verifier_mac));
        u->verifier_mac_set = true;
        memset(u->success_mac, 0xBB, sizeof(u->success_mac));
        u->success_mac_set = true;
        user_record_drop_verifier(u);
        assert_null(u->verifier);
        assert_int_equal(u->verifier_time, 0);
        assert_false(u->verifier_mac_set);
        assert_false(u->success_mac_set);
        for (size_t i = 0; i < sizeof(u->verifier_mac); i++) {
                assert_int_equal(u->verifier_mac[i], 0);
                assert_int_equal(u->success_mac[i], 0);
        }
        user_record_free(u);
}

static void test_localnames(void **state) {
        LocalNames *l = NULL;
        char longname[400];
        uid_t uid = 1;
        gid_t gid = 1;

        assert_int_equal(localnames_new(&l), 0);
        for (int round = 0; round < 3; round++) {   /* asked, kept, asked again after a flush */
                assert_int_equal(localnames_user(l, "root", &uid), 1);
                assert_int_equal(uid, 0);
                assert_int_equal(localnames_group(l, "root", &gid), 1);
                assert_int_equal(gid, 0);
                assert_int_equal(localnames_user(l, "no-such-user-neostra-test", &uid), 0);
                assert_int_equal(localnames_group(l, "no-such-group-neostra-test", &gid), 0);
                if (round == 1)
                        localnames_flush(l);
        }
        /* Too long to keep: still answered. */
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        assert_int_equal(localnames_user(l, longname, &uid), 0);
        assert_int_equal(localnames_user(l, longname, &uid), 0);
        /* Without a table (out of memory at start): every call asks NSS. */
        assert_int_equal(localnames_user(NULL, "root", &uid), 1);
        assert_int_equal(uid, 0);
        localnames_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table_grows_and_indexes),
                cmocka_unit_test(test_password_macs),
                cmocka_unit_test(test_drop_verifier),
                cmocka_unit_test(test_localnames),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
