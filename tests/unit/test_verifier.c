/* SPDX-License-Identifier: MIT */
/* yescrypt verifiers and the worker pool that computes them off the loop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "verifier.h"
#include "worker.h"

static void test_make_and_check(void **state) {
        char *hash = NULL, *again = NULL;

        assert_int_equal(verifier_make("correct horse", &hash), 0);
        assert_non_null(hash);
        assert_memory_equal(hash, "$y$", 3);
        /* The verifier is not the password, and a fresh salt each time. */
        assert_null(strstr(hash, "correct horse"));
        assert_int_equal(verifier_make("correct horse", &again), 0);
        assert_string_not_equal(hash, again);

        assert_int_equal(verifier_check(hash, "correct horse"), 1);
        assert_int_equal(verifier_check(again, "correct horse"), 1);
        assert_int_equal(verifier_check(hash, "correct horsE"), 0);
        assert_int_equal(verifier_check(hash, ""), 0);
        free(hash);
        free(again);
}

static void test_bad_hashes(void **state) {
        assert_true(verifier_check(NULL, "x") < 0);
        assert_true(verifier_check("", "x") < 0);
        /* Only yescrypt is accepted: a weaker scheme in a tampered cache
         * must not be honoured. */
        assert_true(verifier_check("$1$abcdefgh$abcdefghijklmnopqrstuv", "x") < 0);
        assert_true(verifier_check("plain", "plain") < 0);
        assert_true(verifier_check("$y$", "x") <= 0);
}

struct job {
        const char *password;
        char *hash;
        int made;
        pthread_t worker_thread;
        pthread_t done_thread;
        int *remaining;
        sd_event *event;
};

static void work(void *data) {
        struct job *j = data;

        j->worker_thread = pthread_self();
        j->made = verifier_make(j->password, &j->hash);
}

static void done(void *data) {
        struct job *j = data;

        j->done_thread = pthread_self();
        if (--*j->remaining == 0)
                sd_event_exit(j->event, 0);
}

static void test_workers(void **state) {
        sd_event *e = NULL;
        Workers *w = NULL;
        struct job jobs[4];
        int remaining = 4;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(workers_new(e, 2, &w), 0);
        for (int i = 0; i < 4; i++) {
                jobs[i] = (struct job) { .password = i % 2 ? "odd" : "even", .remaining = &remaining,
                                         .event = e };
                assert_int_equal(workers_submit(w, work, done, &jobs[i]), 0);
        }
        assert_int_equal(workers_queued(w), 4);
        assert_int_equal(sd_event_loop(e), 0);
        assert_int_equal(workers_queued(w), 0);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(jobs[i].made, 0);
                /* Hashing ran on a worker, the completion on the loop. */
                assert_false(pthread_equal(jobs[i].worker_thread, pthread_self()));
                assert_true(pthread_equal(jobs[i].done_thread, pthread_self()));
                assert_int_equal(verifier_check(jobs[i].hash, jobs[i].password), 1);
                free(jobs[i].hash);
        }
        workers_free(w);
        sd_event_unref(e);
}

static void count_done(void *data) {
        (*(int *) data)++;
}

static void never(void *data) {
        (void) data;
}

static void test_free_with_queued_jobs(void **state) {
        sd_event *e = NULL;
        Workers *w = NULL;
        int dones = 0;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(workers_new(e, 1, &w), 0);
        for (int i = 0; i < 20; i++)
                assert_int_equal(workers_submit(w, never, count_done, &dones), 0);
        /* Every owner hears back, run or not. */
        workers_free(w);
        assert_int_equal(dones, 20);
        sd_event_unref(e);
}

struct ordered {
        unsigned *next;
        unsigned ran;           /* its turn: 1 first */
        int *dones;
};

static void take_turn(void *data) {
        struct ordered *o = data;

        o->ran = ++*o->next;
}

static void turn_done(void *data) {
        struct ordered *o = data;

        (*o->dones)++;
}

static void submit_ordered(Workers *w, struct ordered *o, unsigned *next, int *dones, bool urgent) {
        *o = (struct ordered) { .next = next, .dones = dones };
        if (urgent)
                assert_int_equal(workers_submit_urgent(w, take_turn, turn_done, o), 0);
        else
                assert_int_equal(workers_submit(w, take_turn, turn_done, o), 0);
}

/* Jobs someone waits for go first: urgent ones in their order, ahead of
 * the others; a queued job hurried becomes the last urgent one; one not
 * queued is not found.  (A pool of 0 threads runs the queue in order on
 * the loop.) */
static void test_urgent_and_hurry(void **state) {
        sd_event *e = NULL;
        Workers *w = NULL;
        unsigned next = 0;
        struct ordered jobs[6];
        int dones = 0;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(workers_new(e, 0, &w), 0);
        for (int i = 0; i < 4; i++)
                submit_ordered(w, &jobs[i], &next, &dones, false);
        assert_int_equal(workers_hurry(w, &jobs[2]), 0);      /* 2 | 0 1 3 */
        assert_int_equal(workers_hurry(w, &jobs[0]), 0);      /* 2 0 | 1 3 */
        assert_int_equal(workers_hurry(w, &jobs[2]), 0);      /* urgent already: stays */
        assert_int_equal(workers_hurry(w, &dones), -ENOENT);
        assert_int_equal(workers_hurry(w, &jobs[3]), 0);      /* the tail: 2 0 3 | 1 */
        submit_ordered(w, &jobs[4], &next, &dones, false);    /* 2 0 3 | 1 4 */
        assert_int_equal(sd_event_run(e, 0), 1);
        assert_int_equal(jobs[2].ran, 1);
        assert_int_equal(jobs[0].ran, 2);
        assert_int_equal(jobs[3].ran, 3);
        assert_int_equal(jobs[1].ran, 4);
        assert_int_equal(jobs[4].ran, 5);
        assert_int_equal(workers_hurry(w, &jobs[1]), -ENOENT);
        assert_int_equal(dones, 5);

        next = 0;
        submit_ordered(w, &jobs[0], &next, &dones, false);
        submit_ordered(w, &jobs[1], &next, &dones, false);
        submit_ordered(w, &jobs[2], &next, &dones, true);     /* 2 | 0 1 */
        assert_int_equal(workers_hurry(w, &jobs[1]), 0);      /* 2 1 | 0 */
        submit_ordered(w, &jobs[3], &next, &dones, true);     /* 2 1 3 | 0 */
        submit_ordered(w, &jobs[4], &next, &dones, false);    /* 2 1 3 | 0 4 */
        assert_int_equal(workers_hurry(w, &jobs[4]), 0);      /* 2 1 3 4 | 0 */
        submit_ordered(w, &jobs[5], &next, &dones, false);    /* 2 1 3 4 | 0 5 */
        assert_int_equal(sd_event_run(e, 0), 1);
        assert_int_equal(jobs[2].ran, 1);
        assert_int_equal(jobs[1].ran, 2);
        assert_int_equal(jobs[3].ran, 3);
        assert_int_equal(jobs[4].ran, 4);
        assert_int_equal(jobs[0].ran, 5);
        assert_int_equal(jobs[5].ran, 6);
        assert_int_equal(dones, 11);

        /* Urgent jobs into an empty queue, then a plain one. */
        next = 0;
        submit_ordered(w, &jobs[0], &next, &dones, true);
        submit_ordered(w, &jobs[1], &next, &dones, false);
        submit_ordered(w, &jobs[2], &next, &dones, true);
        assert_int_equal(sd_event_run(e, 0), 1);
        assert_int_equal(jobs[0].ran, 1);
        assert_int_equal(jobs[2].ran, 2);
        assert_int_equal(jobs[1].ran, 3);
        workers_free(w);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_make_and_check),
                cmocka_unit_test(test_bad_hashes),
                cmocka_unit_test(test_workers),
                cmocka_unit_test(test_free_with_queued_jobs),
                cmocka_unit_test(test_urgent_and_hurry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
