/* SPDX-License-Identifier: MIT */
/*
 * The API's online/offline state (neostrad/online.c), in-process: a fake
 * probe the test answers, a wall clock the test sets, the jitter's random
 * bits the test picks, and the real sd-event probe timer on a loop the
 * test drives (made due at once instead of waited for).
 *
 * ONLINE_FAILURES_MAX transport failures in a row make the API offline,
 * fewer do not, and quick HTTP answers neither count nor break the run
 * silently; any answer brings it back online and stops probing (a probe
 * in flight is cancelled); a 503 with Retry-After makes it offline at
 * once and no probe comes before it, capped at ONLINE_BACKOFF_MAX_USEC; a
 * 429 holds back only its user until its Retry-After (capped, and at most
 * ONLINE_HELD_USERS_MAX users), and 429s of ONLINE_BUSY_USERS different
 * users in a row make the API offline; each failed probe doubles the backoff up to the cap, with a jitter
 * within ±20%; a successful probe brings it back; without a url nothing is
 * probed and nothing changes the state "unconfigured", and a reload with a
 * url makes it "unknown" with the failures before forgotten; a probe that
 * cannot start is tried again later.  A probe asked for now
 * (online_probe_now()) answers every waiter with the state after it, is
 * joined by a second ask, counts as a sign-in's transport failure when it
 * fails online, leaves the scheduled probes alone when it fails offline,
 * is cancelled by a reload without a url, and never calls a waiter that
 * cancelled.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <cmocka.h>

#include "online.h"

#define SEC 1000000ull
/* The loop's clock moves while a test runs: how far the armed timer may
 * be short of the delay online.c asked for. */
#define TIMER_SLACK_USEC 100000u

/* The fake API and clock.  One Online at a time, so one static state. */
static struct {
        uint64_t now;
        uint32_t random;
        bool real_random;
        int probe_fails;                /* < 0: the next probes fail to start */
        unsigned probes, cancels;
        bool in_flight;
        api_signin_callback_t cb;
        void *userdata;
        const struct neostra_config *config;    /* what the last probe was made with */
} fake;

/* Only its address is used: the handle of the probe in flight. */
static char fake_request;

static int fake_probe(Api *api, const struct neostra_config *config, api_signin_callback_t cb,
                      void *userdata, ApiRequest **ret) {
        assert_false(fake.in_flight);
        if (fake.probe_fails < 0)
                return fake.probe_fails;
        fake.probes++;
        fake.in_flight = true;
        fake.cb = cb;
        fake.userdata = userdata;
        fake.config = config;
        *ret = (ApiRequest *) &fake_request;
        return 0;
}

static void fake_cancel(ApiRequest *req) {
        if (!req)
                return;
        assert_ptr_equal(req, &fake_request);
        assert_true(fake.in_flight);
        fake.in_flight = false;
        fake.cancels++;
}

static uint64_t fake_now(void) {
        return fake.now;
}

static uint32_t fake_random(void) {
        uint32_t r;

        if (!fake.real_random)
                return fake.random;
        assert_int_equal(getrandom(&r, sizeof(r), 0), sizeof(r));
        return r;
}

static const struct online_env fake_env = {
        .probe = fake_probe, .cancel = fake_cancel, .now = fake_now, .random = fake_random,
};

struct fixture {
        sd_event *event;
        struct neostra_config *config;
        Online *o;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        memset(&fake, 0, sizeof(fake));
        fake.now = 1700000000 * SEC;
        /* Half way: the jitter neither adds nor takes much. */
        fake.random = UINT32_MAX / 2;
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(neostra_config_new_default(&f->config), 0);
        f->config->api_url = strdup("http://127.0.0.1:9");
        assert_non_null(f->config->api_url);
        assert_int_equal(online_new(f->event, NULL, &fake_env, &f->o), 0);
        online_configure(f->o, f->config);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        online_free(f->o);
        /* Nothing outlives Online: no probe left in flight. */
        assert_false(fake.in_flight);
        neostra_config_free(f->config);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

/* A sign-in's outcome as api.c would judge it, for user (NULL: nobody's). */
static void note_user(struct fixture *f, long http_status, uint64_t retry_after_sec, const char *user) {
        struct api_signin_result res = {
                .outcome = http_status == 0 || http_status >= 500 || http_status == 429 ? API_UNAVAILABLE :
                           http_status == 200 ? API_ALLOW : API_DENY,
                .http_status = http_status,
                .reason = "test",
                .retry_after_sec = retry_after_sec,
        };

        online_note(f->o, &res, user);
}

static void note(struct fixture *f, long http_status, uint64_t retry_after_sec) {
        note_user(f, http_status, retry_after_sec, NULL);
}

static void go_offline(struct fixture *f) {
        for (unsigned i = 0; i < ONLINE_FAILURES_MAX; i++)
                note(f, 0, 0);
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
}

static bool probe_armed(struct fixture *f) {
        uint64_t in;

        return online_test_probe_in(f->o, &in) == 0;
}

/* The next probe's delay, as reported (fake wall clock) and as armed on
 * the loop (real monotonic clock): the two must agree. */
static uint64_t probe_delay(struct fixture *f) {
        uint64_t delay, in;

        assert_int_equal(online_test_probe_in(f->o, &in), 0);
        assert_true(online_next_probe(f->o) > fake.now);
        delay = online_next_probe(f->o) - fake.now;
        assert_true(in <= delay);
        assert_true(in + TIMER_SLACK_USEC >= delay);
        return delay;
}

/* Let the probe timer fire through the loop: a probe starts. */
static void fire(struct fixture *f) {
        unsigned before = fake.probes;

        assert_int_equal(online_test_probe_now(f->o), 0);
        assert_true(sd_event_run(f->event, 0) > 0);
        assert_int_equal(fake.probes, before + 1);
        assert_true(fake.in_flight);
        /* A oneshot: nothing is armed while the probe is out. */
        assert_false(probe_armed(f));
}

/* Answer the probe in flight as api_probe() would. */
static void answer_probe(enum api_outcome outcome, long http_status, uint64_t retry_after_sec) {
        struct api_signin_result res = {
                .outcome = outcome, .http_status = http_status, .reason = "test probe",
                .retry_after_sec = retry_after_sec,
        };

        assert_true(fake.in_flight);
        fake.in_flight = false;
        fake.cb(&res, fake.userdata);
}

static void assert_not_probing(struct fixture *f) {
        assert_false(probe_armed(f));
        assert_int_equal(online_test_probe_now(f->o), -ENOENT);
        assert_int_equal(online_next_probe(f->o), 0);
        assert_false(fake.in_flight);
}

static void test_fresh_state(void **state) {
        struct fixture *f = *state;

        assert_int_equal(online_state(f->o), API_STATE_UNKNOWN);
        assert_string_equal(online_state_name(online_state(f->o)), "unknown");
        assert_true(online_usable(f->o));
        assert_int_equal(online_since(f->o), fake.now);
        assert_not_probing(f);
}

static void test_failures_below_max_stay_usable(void **state) {
        struct fixture *f = *state;
        uint64_t t0 = fake.now;

        for (unsigned i = 0; i + 1 < ONLINE_FAILURES_MAX; i++)
                note(f, 0, 0);
        assert_int_equal(online_state(f->o), API_STATE_UNKNOWN);
        assert_true(online_usable(f->o));
        assert_not_probing(f);
        assert_int_equal(fake.probes, 0);

        /* The last one in the row: offline, since now, a probe armed. */
        fake.now += 5 * SEC;
        note(f, 0, 0);
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_string_equal(online_state_name(online_state(f->o)), "offline");
        assert_false(online_usable(f->o));
        assert_int_equal(online_since(f->o), t0 + 5 * SEC);
        assert_true(probe_armed(f));
        assert_int_equal(fake.probes, 0);
}

static void test_failures_must_be_in_a_row(void **state) {
        struct fixture *f = *state;

        for (unsigned i = 0; i + 1 < ONLINE_FAILURES_MAX; i++)
                note(f, 0, 0);
        /* An answer in between starts the count again. */
        note(f, 401, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        for (unsigned i = 0; i + 1 < ONLINE_FAILURES_MAX; i++)
                note(f, 0, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        assert_true(online_usable(f->o));
        assert_not_probing(f);
}

static void test_quick_errors_do_not_count(void **state) {
        struct fixture *f = *state;

        /* A quick 5xx, a 503 without Retry-After and one user's 429s make
         * nobody else wait. */
        for (unsigned i = 0; i < 2 * ONLINE_FAILURES_MAX; i++) {
                note(f, 500, 0);
                note(f, 503, 0);
                note_user(f, 429, 0, "alice");
                note_user(f, 429, 30, "alice");
                note(f, 502, 30);       /* Retry-After counts on 503 only */
        }
        assert_true(online_usable(f->o));
        assert_not_probing(f);
}

static void test_answer_brings_back_online(void **state) {
        static const long answers[] = { 200, 401, 403, 404 };
        struct fixture *f = *state;

        for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
                go_offline(f);
                assert_true(probe_armed(f));
                fake.now += SEC;
                note(f, answers[i], 0);
                assert_int_equal(online_state(f->o), API_STATE_ONLINE);
                assert_true(online_usable(f->o));
                assert_int_equal(online_since(f->o), fake.now);
                assert_not_probing(f);
        }
        assert_int_equal(fake.probes, 0);

        /* A sign-in answered while a probe is out: the probe is dropped. */
        go_offline(f);
        fire(f);
        note(f, 401, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        assert_int_equal(fake.cancels, 1);
        assert_not_probing(f);
        /* The loop has nothing left to run for Online. */
        assert_int_equal(sd_event_run(f->event, 0), 0);
        assert_int_equal(fake.probes, 1);
}

static void test_failures_while_offline_change_nothing(void **state) {
        struct fixture *f = *state;
        uint64_t since, next;

        go_offline(f);
        since = online_since(f->o);
        next = online_next_probe(f->o);
        fake.now += SEC;
        note(f, 0, 0);
        note(f, 503, 200);
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_int_equal(online_since(f->o), since);
        assert_int_equal(online_next_probe(f->o), next);
}

static void test_retry_after(void **state) {
        struct fixture *f = *state;

        fake.random = UINT32_MAX;       /* the longest jitter: 1.2 s */
        note(f, 200, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        /* One 503 is enough: the service itself asks for a pause.  (A
         * 429 is about one user: test_user_429_holds_that_user.) */
        note_user(f, 503, 10, "alice");
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_false(online_usable(f->o));
        assert_int_equal(probe_delay(f), 10 * SEC);
        assert_int_equal(online_user_held(f->o, "alice"), 0);

        /* Never longer than the cap, whatever the API says. */
        note(f, 200, 0);
        note(f, 503, 86400);
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_int_equal(probe_delay(f), ONLINE_BACKOFF_MAX_USEC);

        /* A probe's Retry-After holds off the next probe too. */
        note(f, 200, 0);
        go_offline(f);
        fire(f);
        answer_probe(API_UNAVAILABLE, 503, 60);
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_int_equal(probe_delay(f), 60 * SEC);

        /* A Retry-After shorter than the backoff does not shorten it. */
        fake.random = 0;
        fire(f);
        answer_probe(API_UNAVAILABLE, 429, 1);
        assert_int_equal(probe_delay(f), 4 * SEC * 8 / 10);
}

/* A 429 holds back that user, until its Retry-After, and nobody else. */
static void test_user_429_holds_that_user(void **state) {
        struct fixture *f = *state;
        uint64_t t0 = fake.now;

        note(f, 200, 0);
        note_user(f, 429, 30, "alice");
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        assert_true(online_usable(f->o));
        assert_not_probing(f);
        assert_int_equal(online_user_held(f->o, "alice"), t0 + 30 * SEC);
        assert_int_equal(online_user_held(f->o, "bob"), 0);
        fake.now += 30 * SEC - 1;
        assert_int_equal(online_user_held(f->o, "alice"), t0 + 30 * SEC);
        fake.now += 1;
        assert_int_equal(online_user_held(f->o, "alice"), 0);

        /* Without Retry-After: a short default; never longer than the cap. */
        note_user(f, 429, 0, "bob");
        assert_int_equal(online_user_held(f->o, "bob"), fake.now + ONLINE_HOLD_DEFAULT_SEC * SEC);
        note_user(f, 429, 86400, "alice");
        assert_int_equal(online_user_held(f->o, "alice"), fake.now + ONLINE_BACKOFF_MAX_USEC);
        /* The last 429 of a user says how long. */
        note_user(f, 429, 7, "alice");
        assert_int_equal(online_user_held(f->o, "alice"), fake.now + 7 * SEC);
        /* The same user again and again is not the API as a whole. */
        for (unsigned i = 0; i < 3 * ONLINE_BUSY_USERS; i++)
                note_user(f, 429, 1, "alice");
        assert_true(online_usable(f->o));
        assert_not_probing(f);
        /* A wall clock set back: no hold lasts longer than the cap. */
        note_user(f, 429, 60, "carol");
        fake.now -= ONLINE_BACKOFF_MAX_USEC;
        assert_int_equal(online_user_held(f->o, "carol"), 0);
}

/* 429s of ONLINE_BUSY_USERS different users in a row: the API as a whole
 * is busy (offline, probed no sooner than their longest Retry-After); any
 * other answer between breaks the row. */
static void test_busy_users_in_a_row(void **state) {
        struct fixture *f = *state;

        assert_int_equal(ONLINE_BUSY_USERS, 3);
        fake.random = 0;
        note_user(f, 429, 10, "alice");
        note_user(f, 429, 0, "bob");
        note_user(f, 401, 0, "dave");
        note_user(f, 429, 0, "carol");
        note_user(f, 429, 20, "alice");
        note_user(f, 429, 0, "alice");
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        assert_not_probing(f);
        note_user(f, 429, 0, "erin");
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_false(online_usable(f->o));
        assert_int_equal(probe_delay(f), 20 * SEC);
        assert_true(online_user_held(f->o, "erin") > 0);

        /* Back online (the probe answers): a new row starts from nothing. */
        fire(f);
        answer_probe(API_ALLOW, 405, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        note_user(f, 429, 0, "alice");
        note_user(f, 429, 0, "bob");
        assert_true(online_usable(f->o));
        /* A quick 5xx between breaks it too. */
        note(f, 502, 0);
        note_user(f, 429, 0, "carol");
        assert_true(online_usable(f->o));
}

/* At most ONLINE_HELD_USERS_MAX holds: the one that ends first gives way. */
static void test_held_users_bounded(void **state) {
        struct fixture *f = *state;
        const unsigned n = ONLINE_HELD_USERS_MAX + 36;
        char name[32];

        for (unsigned i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "user%u", i);
                note_user(f, 429, 60 + i, name);
        }
        for (unsigned i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "user%u", i);
                if (i < n - ONLINE_HELD_USERS_MAX)
                        assert_int_equal(online_user_held(f->o, name), 0);
                else
                        assert_int_equal(online_user_held(f->o, name), fake.now + (60 + i) * SEC);
        }
}

static void test_backoff_doubles_to_cap(void **state) {
        struct fixture *f = *state;
        uint64_t backoff = ONLINE_BACKOFF_MIN_USEC;

        /* The lowest jitter, so each delay is exactly 0.8 × the backoff. */
        fake.random = 0;
        go_offline(f);
        assert_int_equal(probe_delay(f), backoff * 8 / 10);
        for (unsigned i = 0; i < 12; i++) {
                fire(f);
                fake.now += SEC;
                answer_probe(API_UNAVAILABLE, 0, 0);
                assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
                backoff = backoff * 2 > ONLINE_BACKOFF_MAX_USEC ? ONLINE_BACKOFF_MAX_USEC : backoff * 2;
                assert_int_equal(probe_delay(f), backoff * 8 / 10);
        }
        assert_int_equal(backoff, ONLINE_BACKOFF_MAX_USEC);

        /* The highest jitter on the capped backoff: 1.2 × the cap. */
        fake.random = UINT32_MAX;
        fire(f);
        answer_probe(API_UNAVAILABLE, 0, 0);
        assert_int_equal(probe_delay(f), ONLINE_BACKOFF_MAX_USEC * 12 / 10);

        /* Offline again later: the backoff starts from the bottom. */
        fire(f);
        answer_probe(API_ALLOW, 404, 0);
        go_offline(f);
        assert_int_equal(probe_delay(f), ONLINE_BACKOFF_MIN_USEC * 12 / 10);
}

static void test_jitter_within_bounds(void **state) {
        struct fixture *f = *state;
        uint64_t lo = UINT64_MAX, hi = 0;

        /* The real random bits: every delay within ±20% of the backoff,
         * and not always the same one. */
        fake.real_random = true;
        for (unsigned i = 0; i < 500; i++) {
                uint64_t d;

                go_offline(f);
                d = probe_delay(f);
                assert_true(d >= ONLINE_BACKOFF_MIN_USEC * 8 / 10);
                assert_true(d <= ONLINE_BACKOFF_MIN_USEC * 12 / 10);
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
                note(f, 200, 0);
        }
        /* 500 draws all within 10% of a 40% wide range: p < 1e-100. */
        assert_true(hi - lo > ONLINE_BACKOFF_MIN_USEC / 10);
}

static void test_probe_success(void **state) {
        struct fixture *f = *state;

        go_offline(f);
        fire(f);
        /* The probe is made with the configuration online_configure() gave. */
        assert_ptr_equal(fake.config, f->config);
        fake.now += 3 * SEC;
        /* api_probe() says API_ALLOW for any answer below 500 (here a 405). */
        answer_probe(API_ALLOW, 405, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        assert_true(online_usable(f->o));
        assert_int_equal(online_since(f->o), fake.now);
        assert_not_probing(f);
        assert_int_equal(fake.cancels, 0);
        assert_int_equal(sd_event_run(f->event, 0), 0);
        assert_int_equal(fake.probes, 1);
}

static void test_unconfigured(void **state) {
        struct fixture *f = *state;
        char *url = f->config->api_url;

        f->config->api_url = NULL;
        fake.now += SEC;
        online_configure(f->o, f->config);
        assert_int_equal(online_state(f->o), API_STATE_UNCONFIGURED);
        assert_string_equal(online_state_name(online_state(f->o)), "unconfigured");
        assert_false(online_usable(f->o));
        assert_int_equal(online_since(f->o), fake.now);

        /* Sign-ins from before the reload change nothing, and nothing is probed. */
        for (unsigned i = 0; i < 2 * ONLINE_FAILURES_MAX; i++)
                note(f, 0, 0);
        note(f, 503, 10);
        note(f, 200, 0);
        assert_int_equal(online_state(f->o), API_STATE_UNCONFIGURED);
        assert_not_probing(f);
        assert_int_equal(sd_event_run(f->event, 0), 0);
        assert_int_equal(fake.probes, 0);

        /* A reload with a url. */
        f->config->api_url = url;
        fake.now += SEC;
        online_configure(f->o, f->config);
        assert_int_equal(online_state(f->o), API_STATE_UNKNOWN);
        assert_true(online_usable(f->o));
        assert_int_equal(online_since(f->o), fake.now);
        /* A reload that keeps the url keeps the state. */
        note(f, 200, 0);
        online_configure(f->o, f->config);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
}

static void test_failures_before_unconfigured_forgotten(void **state) {
        struct fixture *f = *state;
        char *url = f->config->api_url;

        for (unsigned i = 0; i + 1 < ONLINE_FAILURES_MAX; i++)
                note(f, 0, 0);
        f->config->api_url = NULL;
        online_configure(f->o, f->config);
        f->config->api_url = url;
        online_configure(f->o, f->config);
        note(f, 0, 0);
        assert_int_equal(online_state(f->o), API_STATE_UNKNOWN);
        assert_true(online_usable(f->o));
}

static void test_probe_that_cannot_start_is_retried(void **state) {
        struct fixture *f = *state;

        fake.random = 0;
        go_offline(f);
        fake.probe_fails = -ENOMEM;
        assert_int_equal(online_test_probe_now(f->o), 0);
        assert_true(sd_event_run(f->event, 0) > 0);
        assert_int_equal(fake.probes, 0);
        /* Not left offline for good: another probe, backed off. */
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_int_equal(probe_delay(f), 2 * SEC * 8 / 10);
        fake.probe_fails = 0;
        fire(f);
        answer_probe(API_ALLOW, 200, 0);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
}

static void test_unconfigured_while_probing(void **state) {
        struct fixture *f = *state;
        char *url = f->config->api_url;

        go_offline(f);
        fire(f);
        f->config->api_url = NULL;
        online_configure(f->o, f->config);
        assert_int_equal(online_state(f->o), API_STATE_UNCONFIGURED);
        assert_int_equal(fake.cancels, 1);
        assert_not_probing(f);
        f->config->api_url = url;
}

/* ---- a probe asked for now (neostractl probe) ---------------------------- */

struct asked {
        unsigned calls;
        struct online_probe_result res;
};

static void on_asked(const struct online_probe_result *res, void *userdata) {
        struct asked *a = userdata;

        a->calls++;
        a->res = *res;
}

static void answer_asked(enum api_outcome outcome, long http_status, uint64_t latency_usec) {
        struct api_signin_result res = {
                .outcome = outcome, .http_status = http_status, .reason = "asked probe",
                .latency_usec = latency_usec,
        };

        assert_true(fake.in_flight);
        fake.in_flight = false;
        fake.cb(&res, fake.userdata);
}

static void test_probe_now_answers_every_waiter(void **state) {
        struct fixture *f = *state;
        struct asked a = {}, b = {};
        OnlineProbeWait *wa, *wb;

        assert_int_equal(online_probe_now(f->o, on_asked, &a, &wa), 0);
        assert_int_equal(fake.probes, 1);
        /* A second ask joins the probe in flight: no second request. */
        assert_int_equal(online_probe_now(f->o, on_asked, &b, &wb), 0);
        assert_int_equal(fake.probes, 1);
        /* Never answered inside the call, nor by the loop alone. */
        assert_int_equal(a.calls + b.calls, 0);
        answer_asked(API_ALLOW, 405, 12000);
        assert_int_equal(a.calls, 1);
        assert_int_equal(b.calls, 1);
        assert_int_equal(a.res.state, API_STATE_ONLINE);
        assert_true(a.res.answered);
        assert_int_equal(a.res.http_status, 405);
        assert_int_equal(a.res.latency_usec, 12000);
        assert_string_equal(a.res.reason, "asked probe");
        assert_int_equal(b.res.state, API_STATE_ONLINE);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
        assert_not_probing(f);
}

/* Online, a failed probe counts as a sign-in's transport failure: the
 * ONLINE_FAILURES_MAX-th in a row makes the API offline. */
static void test_probe_now_failures_count(void **state) {
        struct fixture *f = *state;
        struct asked a = {};
        OnlineProbeWait *w;

        note(f, 200, 0);
        for (unsigned i = 1; i <= ONLINE_FAILURES_MAX; i++) {
                assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), 0);
                answer_asked(API_UNAVAILABLE, 0, 1000);
                assert_int_equal(a.calls, i);
                assert_false(a.res.answered);
                assert_int_equal(a.res.http_status, 0);
                assert_int_equal(a.res.state, i < ONLINE_FAILURES_MAX ? API_STATE_ONLINE : API_STATE_OFFLINE);
        }
        assert_int_equal(online_state(f->o), API_STATE_OFFLINE);
        assert_true(probe_armed(f));
}

/* Offline: a failure leaves the scheduled probes as they were; a success
 * brings the API back and stops them. */
static void test_probe_now_while_offline(void **state) {
        struct fixture *f = *state;
        struct asked a = {};
        OnlineProbeWait *w;
        uint64_t next;

        go_offline(f);
        next = online_next_probe(f->o);
        assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), 0);
        answer_asked(API_UNAVAILABLE, 0, 0);
        assert_int_equal(a.res.state, API_STATE_OFFLINE);
        assert_int_equal(online_next_probe(f->o), next);
        assert_true(probe_armed(f));
        assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), 0);
        answer_asked(API_ALLOW, 200, 0);
        assert_int_equal(a.calls, 2);
        assert_int_equal(a.res.state, API_STATE_ONLINE);
        assert_not_probing(f);
}

/* A waiter whose client left is never called; the probe still counts. */
static void test_probe_now_cancelled_waiter(void **state) {
        struct fixture *f = *state;
        struct asked a = {}, b = {};
        OnlineProbeWait *wa, *wb;

        assert_int_equal(online_probe_now(f->o, on_asked, &a, &wa), 0);
        assert_int_equal(online_probe_now(f->o, on_asked, &b, &wb), 0);
        online_probe_wait_cancel(wa);
        online_probe_wait_cancel(NULL);
        answer_asked(API_ALLOW, 200, 0);
        assert_int_equal(a.calls, 0);
        assert_int_equal(b.calls, 1);
        assert_int_equal(online_state(f->o), API_STATE_ONLINE);
}

static void test_probe_now_unconfigured(void **state) {
        struct fixture *f = *state;
        char *url = f->config->api_url;
        struct asked a = {};
        OnlineProbeWait *w = NULL;

        /* A reload takes the url away with a probe in flight: cancelled,
         * and the waiter told the new state. */
        assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), 0);
        f->config->api_url = NULL;
        online_configure(f->o, f->config);
        assert_int_equal(fake.cancels, 1);
        assert_false(fake.in_flight);
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.res.state, API_STATE_UNCONFIGURED);
        assert_false(a.res.answered);
        /* Without a url nothing is probed. */
        assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), -ENOTCONN);
        assert_int_equal(fake.probes, 1);
        f->config->api_url = url;
}

static void test_probe_now_cannot_start(void **state) {
        struct fixture *f = *state;
        struct asked a = {};
        OnlineProbeWait *w = NULL;

        fake.probe_fails = -ENOMEM;
        assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), -ENOMEM);
        assert_null(w);
        fake.probe_fails = 0;
        assert_int_equal(online_probe_now(f->o, on_asked, &a, &w), 0);
        answer_asked(API_ALLOW, 200, 0);
        assert_int_equal(a.calls, 1);
}

/* Freed with a probe asked for in flight: cancelled (teardown checks). */
static void test_probe_now_freed_in_flight(void **state) {
        struct asked a = {};
        OnlineProbeWait *w;

        assert_int_equal(online_probe_now(((struct fixture *) *state)->o, on_asked, &a, &w), 0);
        assert_true(fake.in_flight);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fresh_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failures_below_max_stay_usable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failures_must_be_in_a_row, setup, teardown),
                cmocka_unit_test_setup_teardown(test_quick_errors_do_not_count, setup, teardown),
                cmocka_unit_test_setup_teardown(test_answer_brings_back_online, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failures_while_offline_change_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
                cmocka_unit_test_setup_teardown(test_user_429_holds_that_user, setup, teardown),
                cmocka_unit_test_setup_teardown(test_busy_users_in_a_row, setup, teardown),
                cmocka_unit_test_setup_teardown(test_held_users_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_backoff_doubles_to_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_jitter_within_bounds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_success, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unconfigured, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unconfigured_while_probing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failures_before_unconfigured_forgotten, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_that_cannot_start_is_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_answers_every_waiter, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_failures_count, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_while_offline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_cancelled_waiter, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_unconfigured, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_cannot_start, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_now_freed_in_flight, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
