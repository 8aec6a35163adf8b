/* SPDX-License-Identifier: MIT */
/*
 * The daemon's NSS answers (neostrad/localnames.c): answers as NSS gives
 * them; prefetched keys are looked up on the pool, not by the caller, and
 * wake the caller once all are in; fresh answers start nothing; a flush
 * forgets; a cancelled wait is never woken; too many lookups at once are
 * refused without starting any; answers go stale after LOCALNAMES_TTL_USEC
 * and serve no call after LOCALNAMES_HOLD_USEC; freeing with lookups out
 * wakes nobody and leaks nothing (ASan run).  A failing NSS source
 * (the kept answer stands) is tested in tests/integration/nss-offloop.sh.
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

struct fixture {
        sd_event *event;
        LocalNames *l;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(localnames_new(f->event, &f->l), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        localnames_free(f->l);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static struct localnames_stats stats(LocalNames *l) {
        struct localnames_stats s;

        localnames_stats(l, &s);
        return s;
}

static void on_ready(void *userdata) {
        (*(unsigned *) userdata)++;
}

/* Run the loop until no lookup is out (at most 10 s). */
static void settle(struct fixture *f) {
        for (int i = 0; i < 1000 && stats(f->l).pending > 0; i++)
                assert_true(sd_event_run(f->event, 10000) >= 0);
        assert_int_equal(stats(f->l).pending, 0);
}

static const struct localnames_key known[] = {
        { .kind = LOCALNAMES_USER, .name = "root" },
        { .kind = LOCALNAMES_GROUP, .name = "root" },
        { .kind = LOCALNAMES_UID_NAME, .id = 0 },
        { .kind = LOCALNAMES_ID_TAKEN, .id = 0 },
        { .kind = LOCALNAMES_USER, .name = "no-such-user-neostra-test" },
        { .kind = LOCALNAMES_GROUP, .name = "no-such-group-neostra-test" },
        { .kind = LOCALNAMES_UID_NAME, .id = 4294967000u },
        { .kind = LOCALNAMES_ID_TAKEN, .id = 4294967000u },
};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

static void check_known_answers(LocalNames *l) {
        const char *name = NULL;
        uid_t uid = 1;
        gid_t gid = 1;

        assert_int_equal(localnames_user(l, "root", &uid), 1);
        assert_int_equal(uid, 0);
        assert_int_equal(localnames_group(l, "root", &gid), 1);
        assert_int_equal(gid, 0);
        assert_int_equal(localnames_uid_name(l, 0, &name), 1);
        assert_string_equal(name, "root");
        assert_true(localnames_id_taken(l, 0));
        assert_int_equal(localnames_user(l, "no-such-user-neostra-test", &uid), 0);
        assert_int_equal(localnames_group(l, "no-such-group-neostra-test", &gid), 0);
        assert_int_equal(localnames_uid_name(l, 4294967000u, &name), 0);
        assert_false(localnames_id_taken(l, 4294967000u));
}

static void test_answers_on_the_calling_thread(void **state) {
        struct fixture *f = *state;
        char longname[400];
        uid_t uid;

        check_known_answers(f->l);
        assert_int_equal(stats(f->l).on_loop, N_KNOWN);
        check_known_answers(f->l);      /* kept */
        assert_int_equal(stats(f->l).on_loop, N_KNOWN);
        localnames_flush(f->l);
        assert_int_equal(stats(f->l).kept, 0);
        check_known_answers(f->l);      /* asked again */
        assert_int_equal(stats(f->l).on_loop, 2 * N_KNOWN);

        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        assert_int_equal(localnames_user(f->l, longname, &uid), 0);
        assert_int_equal(localnames_user(f->l, longname, &uid), 0);
        assert_int_equal(stats(f->l).on_loop, 2 * N_KNOWN + 1);
        assert_int_equal(stats(f->l).off_loop, 0);
}

static void test_prefetch_looks_up_off_the_loop(void **state) {
        struct fixture *f = *state;
        LocalNamesWait *w = NULL;
        unsigned woken = 0;

        assert_int_equal(localnames_prefetch(f->l, known, N_KNOWN, on_ready, &woken, &w), 0);
        assert_non_null(w);
        assert_int_equal(stats(f->l).pending, N_KNOWN);
        assert_int_equal(woken, 0);
        settle(f);
        assert_int_equal(woken, 1);
        assert_int_equal(stats(f->l).off_loop, N_KNOWN);

        /* Read without a lookup of our own, and fresh for the next call. */
        check_known_answers(f->l);
        assert_int_equal(stats(f->l).on_loop, 0);
        w = NULL;
        assert_int_equal(localnames_prefetch(f->l, known, N_KNOWN, on_ready, &woken, &w), 1);
        assert_null(w);
        assert_int_equal(stats(f->l).pending, 0);

        /* Stale after the TTL: the next call waits for new answers, the
         * kept ones still serve a call under way, and one whose lookups
         * are slow (localnames_usable). */
        localnames_test_advance(f->l, LOCALNAMES_TTL_USEC);
        assert_true(localnames_usable(f->l, known, N_KNOWN));
        assert_int_equal(localnames_prefetch(f->l, known, 2, on_ready, &woken, &w), 0);
        settle(f);
        assert_int_equal(woken, 2);
        assert_int_equal(stats(f->l).off_loop, N_KNOWN + 2);
        check_known_answers(f->l);
        assert_int_equal(stats(f->l).on_loop, 0);

        /* Past LOCALNAMES_HOLD_USEC nothing kept serves: those two were
         * asked again above, the others are looked up by the accessors. */
        localnames_test_advance(f->l, LOCALNAMES_HOLD_USEC - LOCALNAMES_TTL_USEC / 2);
        assert_true(localnames_usable(f->l, known, 2));
        assert_false(localnames_usable(f->l, known, N_KNOWN));
        check_known_answers(f->l);
        assert_int_equal(stats(f->l).on_loop, N_KNOWN - 2);
        assert_int_equal(stats(f->l).failed, 0);
}

static void test_waiters_share_lookups(void **state) {
        struct fixture *f = *state;
        LocalNamesWait *a = NULL, *b = NULL;
        unsigned woken_a = 0, woken_b = 0;
        const struct localnames_key twice[] = { known[0], known[0], known[1] };

        assert_int_equal(localnames_prefetch(f->l, twice, 3, on_ready, &woken_a, &a), 0);
        assert_int_equal(localnames_prefetch(f->l, known, 1, on_ready, &woken_b, &b), 0);
        assert_int_equal(stats(f->l).pending, 2);       /* one lookup per key */
        settle(f);
        assert_int_equal(woken_a, 1);
        assert_int_equal(woken_b, 1);
        assert_int_equal(stats(f->l).off_loop, 2);
}

static void test_cancel_and_flush(void **state) {
        struct fixture *f = *state;
        LocalNamesWait *w = NULL, *v = NULL;
        unsigned woken = 0, woken_v = 0;

        assert_int_equal(localnames_prefetch(f->l, known, N_KNOWN, on_ready, &woken, &w), 0);
        localnames_wait_cancel(w);
        settle(f);
        assert_int_equal(woken, 0);
        assert_int_equal(stats(f->l).kept, N_KNOWN);    /* the answers are still kept */

        /* A flush forgets every answer; a lookup under way finishes, wakes
         * its waiter and is kept. */
        assert_int_equal(localnames_prefetch(f->l, (struct localnames_key[]) {
                                 { .kind = LOCALNAMES_USER, .name = "nobody" } }, 1, on_ready, &woken_v, &v), 0);
        localnames_flush(f->l);
        assert_int_equal(stats(f->l).kept, 1);
        settle(f);
        assert_int_equal(woken_v, 1);
        assert_int_equal(localnames_prefetch(f->l, known, 1, on_ready, &woken, &w), 0);
        settle(f);
        assert_int_equal(woken, 1);
}

static void test_too_many_lookups_refused(void **state) {
        struct fixture *f = *state;
        struct localnames_key keys[LOCALNAMES_PENDING_MAX + 1];
        LocalNamesWait *w = NULL;
        unsigned woken = 0;

        for (unsigned i = 0; i < LOCALNAMES_PENDING_MAX + 1; i++)
                keys[i] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN, .id = 4000000000u + i };
        assert_int_equal(localnames_prefetch(f->l, keys, LOCALNAMES_PENDING_MAX + 1, on_ready, &woken, &w),
                         -EBUSY);
        assert_int_equal(stats(f->l).pending, 0);
        assert_int_equal(stats(f->l).kept, 0);
        assert_int_equal(localnames_prefetch(f->l, keys, LOCALNAMES_PENDING_MAX, on_ready, &woken, &w), 0);
        settle(f);
        assert_int_equal(woken, 1);
}

static void test_free_with_lookups_out(void **state) {
        struct fixture *f = *state;
        LocalNamesWait *w = NULL;
        unsigned woken = 0;

        assert_int_equal(localnames_prefetch(f->l, known, N_KNOWN, on_ready, &woken, &w), 0);
        f->l = localnames_free(f->l);
        assert_int_equal(woken, 0);
        assert_int_equal(localnames_new(f->event, &f->l), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_answers_on_the_calling_thread, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prefetch_looks_up_off_the_loop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_waiters_share_lookups, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_and_flush, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many_lookups_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_with_lookups_out, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
