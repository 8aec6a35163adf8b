/* SPDX-License-Identifier: MIT */
/*
 * The Authenticate decisions of neostrad/login.c, in-process: a whole
 * Manager (manager_new, its socket and cache in a private directory), a
 * client on its socket, and login.c's sign-in call and wall clock replaced
 * (login_test_env): the test answers each sign-in, at once or later, and
 * sets the time.  The loop runs here, with sd_event_run().
 *
 * An API yes is a success and leaves a verifier; an API refusal is a
 * failure, and drops the verifier (from the cache too) and the token only
 * when it refuses the verifier's own password, also after a restart (a
 * guesser's wrong password leaves them); API
 * unavailable with a fresh verifier and the right password is an offline
 * success (offlineUntil from the fake clock), with the wrong one a failure
 * that counts an offline failure; at max_failures the verifier is no
 * longer consulted; a verifier older than offline_max_age is not either;
 * an API offline (online.c) is not asked for a user with a fresh verifier,
 * but is for one the cache cannot answer (the probe); a slow API past
 * offline_after lets the right password in before it answers, never the
 * wrong one.  Offline checks in flight count towards max_failures, and a
 * check in flight when the API refuses its password does not let it in.
 * A verifier still being made counts: an offline login right after a
 * success, and the offline_after race, wait for it.  The verifier checks
 * and makes run behind a gate the test closes, as on a busy machine.
 *
 * Each case is a whole Authenticate through the daemon's socket, so the
 * Varlink layer and the cache are in every one of them; login.c has no
 * interface of its own below the Manager yet.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "inproc-client.h"

#include "access.h"
#include "login.h"
#include "manager.h"
#include "neostra/protocol.h"
#include "neostra/varlink.h"
#include "verifier.h"

#define USER     "nt-login-alice"
#define EMAIL    USER "@example.com"
#define BOB      "nt-login-bob"
#define CAROL    "nt-login-carol"
#define DAVE     "nt-login-dave"
#define ERIN     "nt-login-erin"
#define PASSWORD "correct horse"
#define WRONG    "wrong horse"
#define T0       1700000000
#define MAX_AGE  (7 * 86400)

/* ---- the fake API and clock ------------------------------------------------ */

static struct {
        int64_t now;
        unsigned signins, cancels;
        bool pending;                   /* a sign-in waits for the test's answer */
        api_signin_callback_t cb;
        void *userdata;
        char email[128], password[128];
} fake;

/* Only its address is used: the handle of the sign-in in flight. */
static char fake_request;

static int fake_signin(Api *api, const struct neostra_config *config, const char *email,
                       const char *password, api_signin_callback_t cb, void *userdata, ApiRequest **ret) {
        assert_false(fake.pending);
        fake.signins++;
        fake.pending = true;
        fake.cb = cb;
        fake.userdata = userdata;
        snprintf(fake.email, sizeof(fake.email), "%s", email);
        snprintf(fake.password, sizeof(fake.password), "%s", password);
        *ret = (ApiRequest *) &fake_request;
        return 0;
}

static void fake_cancel(ApiRequest *req) {
        if (!req)
                return;
        assert_ptr_equal(req, &fake_request);
        fake.pending = false;
        fake.cancels++;
}

static int64_t fake_now(void) {
        return fake.now;
}

/* A gate the verifier checks pass on their worker thread: closed, they
 * wait there (a slow or busy machine), so a test can act while they are in
 * flight. */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool closed;
        unsigned passes;                /* closed: how many may still go through */
        unsigned checks;                /* checks that reached the gate */
        unsigned makes;                 /* verifiers being made that reached it */
        char made[8][32];               /* the passwords of the first makes, in that order */
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void gate_pass(unsigned *count, const char *password) {
        pthread_mutex_lock(&gate.lock);
        if (count == &gate.makes && gate.makes < 8)
                snprintf(gate.made[gate.makes], sizeof(gate.made[0]), "%s", password);
        (*count)++;
        while (gate.closed && gate.passes == 0)
                pthread_cond_wait(&gate.cond, &gate.lock);
        if (gate.closed)
                gate.passes--;
        pthread_mutex_unlock(&gate.lock);
}

static int gated_check(const char *hash, const char *password) {
        gate_pass(&gate.checks, password);
        return verifier_check(hash, password);
}

static int gated_make(const char *password, char **ret) {
        gate_pass(&gate.makes, password);
        return verifier_make(password, ret);
}

static void gate_set(bool closed) {
        pthread_mutex_lock(&gate.lock);
        gate.closed = closed;
        gate.passes = 0;
        pthread_cond_broadcast(&gate.cond);
        pthread_mutex_unlock(&gate.lock);
}

/* Closed, let one job through. */
static void gate_let_one(void) {
        pthread_mutex_lock(&gate.lock);
        gate.passes++;
        pthread_cond_broadcast(&gate.cond);
        pthread_mutex_unlock(&gate.lock);
}

static unsigned gate_count(const unsigned *count) {
        unsigned n;

        pthread_mutex_lock(&gate.lock);
        n = *count;
        pthread_mutex_unlock(&gate.lock);
        return n;
}

/* Answer the sign-in in flight as api.c would, then free the answer as
 * api.c does after the callback. */
static void api_answer_retry(enum api_outcome outcome, long http_status, uint64_t retry_after_sec) {
        struct api_signin_result res = {
                .outcome = outcome, .http_status = http_status, .reason = "fake API",
                .expires_in = -1, .latency_usec = 1000, .retry_after_sec = retry_after_sec,
        };

        assert_true(fake.pending);
        fake.pending = false;
        if (outcome == API_ALLOW) {
                res.token = strdup("token");
                res.user_id = strdup("id-1");
                res.name = strdup("Alice");
                res.email = strdup(fake.email);
                res.roles = calloc(1, sizeof(char *));
                assert_non_null(res.roles);
                res.roles[0] = strdup("staff");
                res.n_roles = 1;
                res.expires_in = 3600;
                assert_true(res.token && res.user_id && res.name && res.email && res.roles[0]);
        }
        fake.cb(&res, fake.userdata);
        api_signin_result_clear(&res);
}

static void api_answer(enum api_outcome outcome, long http_status) {
        api_answer_retry(outcome, http_status, 0);
}

/* ---- the daemon and a client ------------------------------------------------- */

struct fixture {
        char tmp[64];
        char sock[128];
        Manager *m;
        sd_event *event;
};

static void set_string(char **p, const char *v) {
        free(*p);
        *p = strdup(v);
        assert_non_null(*p);
}

struct options {
        uint64_t offline_after_ms;      /* 0: never */
        unsigned max_failures;          /* 0: the default */
        uint64_t api_timeout_ms;        /* 0: the default */
        uint64_t account_max_age_ms;    /* 0: the default */
};

static void start(struct fixture *f, const struct options *o) {
        struct neostra_config *c = NULL;
        char path[192];

        assert_int_equal(neostra_config_new_default(&c), 0);
        set_string(&c->api_url, "http://127.0.0.1:9");
        set_string(&c->email_template, "%u@example.com");
        set_string(&c->socket_path, f->sock);
        snprintf(path, sizeof(path), "%s/userdb.sock", f->tmp);
        set_string(&c->userdb_socket_path, path);
        snprintf(path, sizeof(path), "%s/cache", f->tmp);
        set_string(&c->cache_directory, path);
        c->userdb = false;
        c->offline_max_age_ms = MAX_AGE * 1000ull;
        c->offline_after_ms = o->offline_after_ms;
        if (o->max_failures)
                c->max_failures = o->max_failures;
        if (o->api_timeout_ms)
                c->timeout_ms = o->api_timeout_ms;
        if (o->account_max_age_ms)
                c->account_max_age_ms = o->account_max_age_ms;

        assert_int_equal(manager_new("test_login.conf", c, &f->m), 0);
        assert_int_equal(manager_listen(f->m), 0);
        assert_int_equal(manager_open_cache(f->m), 0);
        /* The manager's loop is the thread's default one. */
        assert_int_equal(sd_event_default(&f->event), 0);
}

/* Stop the daemon and start it again on the same cache. */
static void restart(struct fixture *f, const struct options *o) {
        f->m = manager_free(f->m);
        f->event = sd_event_unref(f->event);
        start(f, o);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        memset(&fake, 0, sizeof(fake));
        fake.now = T0;
        gate_set(false);
        gate.checks = gate.makes = 0;
        login_test_env(&(struct login_env) { .signin = fake_signin, .cancel = fake_cancel, .now = fake_now,
                                             .verifier_check = gated_check, .verifier_make = gated_make });
        /* The verdict's clock (access.h) is the fake one too. */
        access_test_clock(fake_now);
        /* As neostrad.c: our NSS lookups never reach a userdb socket. */
        assert_int_equal(setenv("SYSTEMD_BYPASS_USERDB", "io.neostra", 1), 0);
        strcpy(f->tmp, "/tmp/test_login.XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        snprintf(f->sock, sizeof(f->sock), "%s/auth.sock", f->tmp);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        /* A failed test may leave checks at the gate: the workers must end. */
        gate_set(false);
        manager_free(f->m);
        sd_event_unref(f->event);
        /* Nothing left in flight with the fake API. */
        assert_false(fake.pending);
        login_test_env(NULL);
        access_test_clock(NULL);
        nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

static bool signin_pending(void *userdata) {
        return fake.pending;
}

/* The final answer on c: error NULL for a reply.  The caller decrefs *ret_msg. */
static json_t *wait_answer(struct fixture *f, struct client *c, const char **ret_error) {
        struct answer a = { .c = c };
        json_t *params = NULL;
        bool continues = false;

        loop_until(f->event, answered, &a);
        assert_int_equal(varlink_reply_parse(a.msg, ret_error, &params, &continues), 0);
        assert_false(continues);
        return a.msg;
}

static void authenticate_as(struct fixture *f, struct client *c, const char *user, const char *password) {
        client_send(f->sock, c, NEOSTRA_METHOD_AUTHENTICATE,
                    json_pack("{s:s, s:s, s:s}", "user", user, "password", password, "service", "test"));
}

static void authenticate_start(struct fixture *f, struct client *c, const char *password) {
        authenticate_as(f, c, USER, password);
}

/* GetUser's field key, as a number (booleans 0 or 1). */
static json_int_t user_field(struct fixture *f, const char *key) {
        const char *error = NULL;
        struct client c;
        json_t *msg, *v;
        json_int_t n;

        client_send(f->sock, &c, NEOSTRA_METHOD_GET_USER, json_pack("{s:s}", "user", USER));
        msg = wait_answer(f, &c, &error);
        client_close(&c);
        assert_null(error);
        v = json_object_get(json_object_get(msg, "parameters"), key);
        assert_non_null(v);
        n = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
        json_decref(msg);
        return n;
}

static bool daemon_offline(struct fixture *f) {
        json_t *st = manager_status_json(f->m, true);
        bool offline;

        assert_non_null(st);
        offline = strcmp(json_string_value(json_object_get(st, "state")), "offline") == 0;
        json_decref(st);
        return offline;
}

static json_int_t logins(struct fixture *f, const char *result) {
        json_t *st = manager_status_json(f->m, true);
        json_int_t n;

        assert_non_null(st);
        n = json_integer_value(json_object_get(json_object_get(st, "logins"), result));
        json_decref(st);
        return n;
}

/* neostra_decisions_total{method, result, cause} (GetStatus "decisions"). */
static json_int_t decided(struct fixture *f, const char *method, const char *result, const char *cause) {
        json_t *st = manager_status_json(f->m, true), *d;
        json_int_t n = -1;
        size_t i;

        assert_non_null(st);
        json_array_foreach(json_object_get(st, "decisions"), i, d)
                if (strcmp(json_string_value(json_object_get(d, "method")), method) == 0 &&
                    strcmp(json_string_value(json_object_get(d, "result")), result) == 0 &&
                    strcmp(json_string_value(json_object_get(d, "cause")), cause) == 0)
                        n = json_integer_value(json_object_get(d, "count"));
        json_decref(st);
        assert_true(n >= 0);
        return n;
}

static json_int_t verifiers_made(struct fixture *f) {
        json_t *st = manager_status_json(f->m, true);
        json_int_t n;

        assert_non_null(st);
        n = json_integer_value(json_object_get(json_object_get(st, "verifiers"), "made"));
        json_decref(st);
        return n;
}

/* Jobs on the workers (verifiers made or checked), queued or running. */
static json_int_t jobs_queued(struct fixture *f) {
        json_t *st = manager_status_json(f->m, true);
        json_int_t n;

        assert_non_null(st);
        n = json_integer_value(json_object_get(json_object_get(st, "verifiers"), "queued"));
        json_decref(st);
        return n;
}

static bool workers_idle(void *userdata) {
        return jobs_queued(userdata) == 0;
}

struct at_gate {
        const unsigned *count;
        unsigned want;
};

static bool reached_gate(void *userdata) {
        struct at_gate *g = userdata;

        return gate_count(g->count) >= g->want;
}

/* Turn the loop until n more checks wait at the (closed) gate. */
static void wait_checks_at_gate(struct fixture *f, unsigned before, unsigned n) {
        struct at_gate g = { .count = &gate.checks, .want = before + n };

        loop_until(f->event, reached_gate, &g);
}

struct made {
        struct fixture *f;
        json_int_t want;
};

static bool made_enough(void *userdata) {
        struct made *m = userdata;

        return verifiers_made(m->f) >= m->want;
}

/* One Authenticate the API answers: the answer's error (NULL: success) and
 * its "offline" parameter. */
struct outcome {
        char error[160];
        char reason[256];
        bool offline;
        bool allowed;
        json_int_t offline_until;
};

static struct outcome finish(struct fixture *f, struct client *c) {
        struct outcome o = {};
        const char *error = NULL;
        json_t *msg = wait_answer(f, c, &error);
        json_t *p = json_object_get(msg, "parameters");

        snprintf(o.error, sizeof(o.error), "%s", error ? error : "");
        snprintf(o.reason, sizeof(o.reason), "%s", json_string_value(json_object_get(p, "reason")) ?: "");
        o.offline = json_is_true(json_object_get(p, "offline"));
        o.allowed = json_is_true(json_object_get(p, "allowed"));
        o.offline_until = json_integer_value(json_object_get(p, "offlineUntil"));
        json_decref(msg);
        client_close(c);
        return o;
}

/* Start an Authenticate and answer its sign-in; the answer is the caller's
 * to wait for (finish()). */
static void login_started(struct fixture *f, struct client *c, const char *password, enum api_outcome api,
                          long http_status) {
        unsigned before = fake.signins;

        authenticate_start(f, c, password);
        loop_until(f->event, signin_pending, NULL);
        assert_int_equal(fake.signins, before + 1);
        assert_string_equal(fake.email, EMAIL);
        assert_string_equal(fake.password, password);
        api_answer(api, http_status);
}

/* One Authenticate of user that the API answers, with a Retry-After. */
static struct outcome login_as(struct fixture *f, const char *user, const char *password, enum api_outcome api,
                               long http_status, uint64_t retry_after_sec) {
        struct client c;
        unsigned before = fake.signins;
        char email[128];

        authenticate_as(f, &c, user, password);
        loop_until(f->event, signin_pending, NULL);
        assert_int_equal(fake.signins, before + 1);
        snprintf(email, sizeof(email), "%s@example.com", user);
        assert_string_equal(fake.email, email);
        api_answer_retry(api, http_status, retry_after_sec);
        return finish(f, &c);
}

/* One Authenticate answered without the API. */
static struct outcome login_not_asked(struct fixture *f, const char *user, const char *password) {
        struct client c;
        unsigned before = fake.signins;
        struct outcome o;

        authenticate_as(f, &c, user, password);
        o = finish(f, &c);
        assert_int_equal(fake.signins, before);
        assert_false(fake.pending);
        return o;
}

static struct outcome login_answered(struct fixture *f, const char *password, enum api_outcome api,
                                     long http_status) {
        struct client c;

        login_started(f, &c, password, api, http_status);
        return finish(f, &c);
}

/* An online success, and the verifier it leaves behind. */
static void sign_in_online(struct fixture *f) {
        struct made want = { .f = f, .want = verifiers_made(f) + 1 };
        struct outcome o = login_answered(f, PASSWORD, API_ALLOW, 200);

        assert_string_equal(o.error, "");
        assert_false(o.offline);
        loop_until(f->event, made_enough, &want);
        assert_true(user_field(f, "hasVerifier"));
        assert_int_equal(user_field(f, "verifierTime"), fake.now);
}

/* ---- the decisions ------------------------------------------------------------- */

static void test_online_success(void **state) {
        struct fixture *f = *state;

        start(f, &(struct options) {});
        sign_in_online(f);
        assert_int_equal(logins(f, "success"), 1);
        assert_int_equal(decided(f, "authenticate", "success", "online"), 1);
        assert_int_equal(user_field(f, "lastOnlineSuccess"), T0);
        assert_int_equal(user_field(f, "offlineFailures"), 0);
}

static void test_api_refusal(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        assert_true(user_field(f, "hasToken"));
        assert_int_equal(user_field(f, "tokenExpires"), T0 + 3600);
        o = login_answered(f, PASSWORD, API_DENY, 401);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        assert_int_equal(logins(f, "failure"), 1);
        assert_int_equal(decided(f, "authenticate", "refused", "api"), 1);
        /* The refused password's verifier is gone: nothing to fall back on;
         * so is the token. */
        assert_false(user_field(f, "hasVerifier"));
        assert_false(user_field(f, "hasToken"));
        assert_int_equal(user_field(f, "tokenExpires"), 0);
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_int_equal(logins(f, "offlineSuccess"), 0);
        assert_int_equal(decided(f, "authenticate", "unavailable", "api"), 1);
        /* Nor in the cache: a restart does not bring it back. */
        restart(f, &(struct options) {});
        assert_false(user_field(f, "hasVerifier"));
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
}

static void test_unavailable_fresh_verifier(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        fake.now += 3600;
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        /* The verifier dates from the online success, by the fake clock. */
        assert_int_equal(o.offline_until, T0 + MAX_AGE);
        assert_int_equal(logins(f, "offlineSuccess"), 1);
        assert_int_equal(decided(f, "authenticate", "success", "offline"), 1);
        assert_int_equal(decided(f, "authenticate", "success", "deadline_race"), 0);
        assert_int_equal(user_field(f, "offlineFailures"), 0);
}

static void test_unavailable_wrong_password(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        o = login_answered(f, WRONG, API_UNAVAILABLE, 502);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        assert_string_equal(o.reason, "wrong password (checked against cached credentials)");
        assert_int_equal(user_field(f, "offlineFailures"), 1);
        assert_int_equal(logins(f, "failure"), 1);
        assert_int_equal(decided(f, "authenticate", "refused", "cache"), 1);
        assert_int_equal(decided(f, "authenticate", "refused", "api"), 0);
        assert_int_equal(logins(f, "offlineSuccess"), 0);
        /* Not a refusal: the verifier stays for the right password. */
        assert_true(user_field(f, "hasVerifier"));
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 502);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
}

static void test_lockout(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) { .max_failures = 2 });
        /* Quick 503s: unavailable, but the API stays online (online.c). */
        sign_in_online(f);
        for (unsigned i = 0; i < 2; i++) {
                o = login_answered(f, WRONG, API_UNAVAILABLE, 503);
                assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        }
        assert_int_equal(user_field(f, "offlineFailures"), 2);
        /* At max_failures even the right password is not checked. */
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 503);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_string_equal(o.reason, "API unavailable; offline logins locked after too many wrong passwords");
        assert_int_equal(decided(f, "authenticate", "lockout", "max_failures"), 1);
        assert_int_equal(user_field(f, "offlineFailures"), 2);
        assert_int_equal(logins(f, "offlineSuccess"), 0);
        /* An online success unlocks. */
        o = login_answered(f, PASSWORD, API_ALLOW, 200);
        assert_string_equal(o.error, "");
        assert_int_equal(user_field(f, "offlineFailures"), 0);
}

static void test_stale_verifier(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        fake.now = T0 + MAX_AGE - 1;
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_true(o.offline);
        fake.now = T0 + MAX_AGE;
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_int_equal(logins(f, "offlineSuccess"), 1);
}

/* An offline success past account_max_age (but within offline_max_age):
 * the password is right, the account step refuses, and the refusal is
 * counted as access that ended, not as a role refusal. */
static void test_offline_past_account_max_age(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) { .account_max_age_ms = 3600 * 1000ull });
        sign_in_online(f);
        fake.now = T0 + 1800;
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_true(o.offline);
        assert_true(o.allowed);
        assert_int_equal(logins(f, "deniedAccess") + logins(f, "deniedRole"), 0);
        fake.now = T0 + 7200;
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        assert_false(o.allowed);
        assert_int_equal(logins(f, "deniedAccess"), 1);
        assert_int_equal(logins(f, "deniedRole"), 0);
}

static void test_api_offline_not_asked(void **state) {
        struct fixture *f = *state;
        struct client c;
        struct outcome o;
        unsigned signins;

        start(f, &(struct options) {});
        sign_in_online(f);
        /* Three transport failures (online.c): the API is offline. */
        for (unsigned i = 0; i < 3; i++)
                (void) login_answered(f, WRONG, API_UNAVAILABLE, 0);
        assert_int_equal(user_field(f, "offlineFailures"), 3);
        signins = fake.signins;
        authenticate_start(f, &c, PASSWORD);
        o = finish(f, &c);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        assert_int_equal(fake.signins, signins);
}

static void test_slow_api(void **state) {
        struct fixture *f = *state;
        struct client c;
        struct outcome o;

        start(f, &(struct options) { .offline_after_ms = 50 });
        sign_in_online(f);

        /* The right password: in from the verifier while the API thinks. */
        authenticate_start(f, &c, PASSWORD);
        loop_until(f->event, signin_pending, NULL);
        o = finish(f, &c);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        assert_true(fake.pending);
        assert_int_equal(logins(f, "offlineSuccess"), 1);
        assert_int_equal(decided(f, "authenticate", "success", "deadline_race"), 1);
        assert_int_equal(decided(f, "authenticate", "success", "offline"), 0);
        /* Its late yes answers nobody again and counts no second login. */
        api_answer(API_ALLOW, 200);
        assert_int_equal(logins(f, "success"), 1);

        /* The wrong one: no answer until the API gives one. */
        authenticate_start(f, &c, WRONG);
        loop_until(f->event, signin_pending, NULL);
        loop_for(f->event, 300000);
        assert_null(client_poll(&c));
        api_answer(API_DENY, 401);
        o = finish(f, &c);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        assert_int_equal(logins(f, "offlineSuccess"), 1);
}

/* A guesser's wrong password refused online (401) is no revocation: the
 * verifier and the token stay, and the right password still logs in
 * offline.  (The verifier's own password refused drops both:
 * test_api_refusal.) */
static void test_wrong_password_keeps_verifier(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        for (unsigned i = 0; i < 3; i++) {
                o = login_answered(f, WRONG, API_DENY, 401);
                assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        }
        assert_true(user_field(f, "hasVerifier"));
        assert_true(user_field(f, "hasToken"));
        assert_int_equal(user_field(f, "verifierTime"), T0);
        /* Refusals online are no offline failures. */
        assert_int_equal(user_field(f, "offlineFailures"), 0);
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
}

/* After a restart the verifier's password is unknown to this process (no
 * MAC): a refused password is checked against the verifier on a worker
 * before the answer, and only a match drops it. */
static void test_refusal_after_restart(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        restart(f, &(struct options) {});
        o = login_answered(f, WRONG, API_DENY, 401);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        assert_true(user_field(f, "hasVerifier"));
        assert_true(user_field(f, "hasToken"));
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, "");
        assert_true(o.offline);

        /* Again from the cache alone, and now the verifier's own password
         * is refused (changed upstream): it goes, from the cache too. */
        restart(f, &(struct options) {});
        o = login_answered(f, PASSWORD, API_DENY, 401);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        /* The answer waited for the check: the drop is there already. */
        assert_false(user_field(f, "hasVerifier"));
        assert_false(user_field(f, "hasToken"));
        restart(f, &(struct options) {});
        assert_false(user_field(f, "hasVerifier"));
        o = login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
}

/* max_failures counts the offline checks in flight: with max_failures 1,
 * two wrong passwords checked at once count one failure, and the right
 * password that comes next is not let in either. */
static void test_concurrent_offline_failures(void **state) {
        struct fixture *f = *state;
        struct client c[3];
        struct outcome o;
        unsigned at_gate;

        start(f, &(struct options) { .max_failures = 1 });
        sign_in_online(f);
        gate_set(true);
        at_gate = gate_count(&gate.checks);
        login_started(f, &c[0], WRONG, API_UNAVAILABLE, 503);
        wait_checks_at_gate(f, at_gate, 1);
        login_started(f, &c[1], WRONG, API_UNAVAILABLE, 503);
        login_started(f, &c[2], PASSWORD, API_UNAVAILABLE, 503);
        /* The only attempt left is in flight: no other check starts. */
        loop_for(f->event, 100000);
        assert_int_equal(gate_count(&gate.checks), at_gate + 1);
        assert_null(client_poll(&c[1]));
        assert_null(client_poll(&c[2]));
        gate_set(false);

        o = finish(f, &c[0]);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        for (unsigned i = 1; i < 3; i++) {
                o = finish(f, &c[i]);
                assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
                assert_string_equal(o.reason,
                                    "API unavailable; offline logins locked after too many wrong passwords");
        }
        assert_int_equal(user_field(f, "offlineFailures"), 1);
        assert_int_equal(logins(f, "offlineSuccess"), 0);
        assert_int_equal(gate_count(&gate.checks), at_gate + 1);
}

/* A check in flight when the API refuses that very password (another
 * login's 401) does not let it in: at its end the verifier no longer
 * stands.  Both with the verifier's MAC known (made by this process) and
 * after a restart (checked on a worker). */
static void in_flight_refused(struct fixture *f) {
        struct client c, refused;
        struct outcome o;
        unsigned at_gate = gate_count(&gate.checks);

        gate_set(true);
        login_started(f, &c, PASSWORD, API_UNAVAILABLE, 503);
        wait_checks_at_gate(f, at_gate, 1);
        /* (After a restart its answer waits for the check of the refused
         * password, behind the same gate.) */
        login_started(f, &refused, PASSWORD, API_DENY, 401);
        loop_for(f->event, 50000);
        gate_set(false);
        o = finish(f, &refused);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        o = finish(f, &c);
        assert_string_not_equal(o.error, "");
        assert_false(o.offline);
        loop_until(f->event, workers_idle, f);
        assert_false(user_field(f, "hasVerifier"));
        assert_int_equal(logins(f, "offlineSuccess"), 0);
}

static void test_check_in_flight_refused(void **state) {
        struct fixture *f = *state;

        start(f, &(struct options) {});
        sign_in_online(f);
        in_flight_refused(f);
}

static void test_check_in_flight_refused_after_restart(void **state) {
        struct fixture *f = *state;

        start(f, &(struct options) {});
        sign_in_online(f);
        restart(f, &(struct options) {});
        in_flight_refused(f);
}

/* A 429 with Retry-After for one user holds back that user, not the
 * daemon: the others still go to the API; that user's next logins are
 * answered from their verifier or refused at once, without the API.  Only
 * 429s of three different users in a row make the API offline. */
static void test_user_backoff(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        o = login_as(f, USER, PASSWORD, API_UNAVAILABLE, 429, 60);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        assert_false(daemon_offline(f));
        o = login_as(f, BOB, "bob's password", API_ALLOW, 200, 0);
        assert_string_equal(o.error, "");
        assert_false(o.offline);

        o = login_not_asked(f, USER, PASSWORD);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        o = login_not_asked(f, USER, WRONG);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        assert_int_equal(user_field(f, "offlineFailures"), 1);

        /* Without a verifier: refused at once. */
        o = login_as(f, CAROL, "carol's password", API_UNAVAILABLE, 429, 60);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        o = login_not_asked(f, CAROL, "carol's password");
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_string_equal(o.reason, "API busy for this user; waiting for its Retry-After");
        assert_int_equal(decided(f, "authenticate", "unavailable", "api_busy"), 2);

        /* Bob's success broke the row: Carol's is its first 429, Dave's
         * the second, Erin's the third. */
        o = login_as(f, DAVE, "dave's password", API_UNAVAILABLE, 429, 0);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_false(daemon_offline(f));
        o = login_as(f, ERIN, "erin's password", API_UNAVAILABLE, 429, 0);
        assert_true(daemon_offline(f));
}

/* While the API is offline, a login the cache cannot answer goes to the API
 * anyway (it is the probe): failing, it changes nothing; answered, it
 * succeeds and brings the daemon back online.  A user with a fresh
 * verifier is still answered from it at once, without the API. */
static void test_offline_login_is_the_probe(void **state) {
        struct fixture *f = *state;
        struct outcome o;

        start(f, &(struct options) {});
        sign_in_online(f);
        for (unsigned i = 0; i < 3; i++)
                (void) login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_true(daemon_offline(f));

        o = login_not_asked(f, USER, PASSWORD);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        o = login_not_asked(f, USER, WRONG);
        assert_string_equal(o.error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);

        o = login_as(f, BOB, "bob's password", API_UNAVAILABLE, 0, 0);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_true(daemon_offline(f));
        /* The API is back: the first login after it succeeds. */
        o = login_as(f, BOB, "bob's password", API_ALLOW, 200, 0);
        assert_string_equal(o.error, "");
        assert_false(o.offline);
        assert_false(daemon_offline(f));

        /* A locked user is one the cache cannot answer either. */
        for (unsigned i = 0; i < 3; i++)
                (void) login_answered(f, PASSWORD, API_UNAVAILABLE, 0);
        assert_true(daemon_offline(f));
        for (unsigned i = 1; i < 5; i++)
                (void) login_not_asked(f, USER, WRONG);
        assert_int_equal(user_field(f, "offlineFailures"), 5);
        o = login_as(f, USER, PASSWORD, API_ALLOW, 200, 0);
        assert_string_equal(o.error, "");
        assert_false(daemon_offline(f));
        assert_int_equal(user_field(f, "offlineFailures"), 0);
}

/* An offline login right after an online success, its verifier still on
 * the worker queue behind other users' (a busy machine): it waits for it
 * and gets in, instead of "unavailable". */
static void test_offline_waits_for_verifier(void **state) {
        struct fixture *f = *state;
        struct client c;
        struct outcome o;
        struct at_gate both = { .count = &gate.makes, .want = 2 };
        char third[sizeof(gate.made[0])];

        start(f, &(struct options) {});
        gate_set(true);
        /* Other users' verifiers take both workers and queue... */
        assert_string_equal(login_as(f, BOB, "bob's password", API_ALLOW, 200, 0).error, "");
        assert_string_equal(login_as(f, CAROL, "carol's password", API_ALLOW, 200, 0).error, "");
        loop_until(f->event, reached_gate, &both);
        assert_string_equal(login_as(f, DAVE, "dave's password", API_ALLOW, 200, 0).error, "");
        assert_string_equal(login_as(f, ERIN, "erin's password", API_ALLOW, 200, 0).error, "");
        /* ...and this one's waits behind them. */
        o = login_answered(f, PASSWORD, API_ALLOW, 200);
        assert_string_equal(o.error, "");
        assert_int_equal(jobs_queued(f), 5);
        assert_false(user_field(f, "hasVerifier"));

        login_started(f, &c, PASSWORD, API_UNAVAILABLE, 503);
        loop_for(f->event, 100000);
        assert_null(client_poll(&c));
        /* One worker free: the next job it takes is this one, ahead of
         * Dave's and Erin's. */
        gate_let_one();
        loop_until(f->event, reached_gate, &(struct at_gate) { .count = &gate.makes, .want = 3 });
        pthread_mutex_lock(&gate.lock);
        memcpy(third, gate.made[2], sizeof(third));
        pthread_mutex_unlock(&gate.lock);
        assert_string_equal(third, PASSWORD);
        gate_set(false);
        o = finish(f, &c);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        assert_int_equal(logins(f, "offlineSuccess"), 1);
}

/* Right after a refusal of the old password (changed upstream) and a
 * success with the new one, a slow login with the new one: at
 * offline_after its verifier is still being made; the race waits for it
 * rather than for the API's whole timeout. */
static void test_slow_waits_for_verifier(void **state) {
        struct fixture *f = *state;
        struct client c;
        struct outcome o;
        unsigned at_gate;

        start(f, &(struct options) { .offline_after_ms = 50 });
        sign_in_online(f);
        o = login_answered(f, PASSWORD, API_DENY, 401);
        assert_false(user_field(f, "hasVerifier"));
        gate_set(true);
        at_gate = gate_count(&gate.makes);
        o = login_answered(f, WRONG, API_ALLOW, 200);
        assert_string_equal(o.error, "");

        authenticate_start(f, &c, WRONG);
        loop_until(f->event, signin_pending, NULL);
        loop_for(f->event, 200000);
        assert_null(client_poll(&c));
        assert_true(gate_count(&gate.makes) >= at_gate + 1);
        gate_set(false);
        o = finish(f, &c);
        assert_string_equal(o.error, "");
        assert_true(o.offline);
        assert_true(fake.pending);
        api_answer(API_ALLOW, 200);
        assert_int_equal(logins(f, "offlineSuccess"), 1);
}

/* A wait for a verifier that does not come is bounded, and never outlasts
 * the connection's deadline ([api] timeout + 2 s): the client hears
 * "unavailable" in time, not a closed connection. */
static void test_wait_bounded(void **state) {
        struct fixture *f = *state;
        struct client c;
        struct outcome o;
        uint64_t t0;

        start(f, &(struct options) { .api_timeout_ms = 1000 });
        gate_set(true);
        o = login_answered(f, PASSWORD, API_ALLOW, 200);
        assert_string_equal(o.error, "");
        t0 = monotonic_usec();
        login_started(f, &c, PASSWORD, API_UNAVAILABLE, 503);
        o = finish(f, &c);
        assert_string_equal(o.error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE);
        assert_string_equal(o.reason, "fake API");
        assert_true(monotonic_usec() - t0 >= 2000000u);
        assert_true(monotonic_usec() - t0 < 3000000u);
        gate_set(false);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_online_success, setup, teardown),
                cmocka_unit_test_setup_teardown(test_api_refusal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unavailable_fresh_verifier, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unavailable_wrong_password, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale_verifier, setup, teardown),
                cmocka_unit_test_setup_teardown(test_api_offline_not_asked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_api, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_password_keeps_verifier, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refusal_after_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_offline_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_in_flight_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_in_flight_refused_after_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_user_backoff, setup, teardown),
                cmocka_unit_test_setup_teardown(test_offline_login_is_the_probe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_offline_waits_for_verifier, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_waits_for_verifier, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wait_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_offline_past_account_max_age, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
