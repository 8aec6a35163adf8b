/* SPDX-License-Identifier: MIT */
/*
 * The trust contract, in-process: a whole Manager (its sockets and cache
 * in a private directory, userdb on) with the sign-in call, the token
 * refresh and the wall clock replaced (login_test_env, revalidate_test_env,
 * access_test_clock), as in test_login.c.
 *
 *  - Revocation bound: CheckAccount allows, with the groups, only while the
 *    last online proof is younger than [access] account_max_age; past it
 *    the answer is allowed false with a reason that asks for the password,
 *    no groups, and userdb keeps the passwd record but publishes no
 *    memberships.  An offline login rests on the same proof.  neostractl
 *    invalidate voids it.  A new sign-in brings everything back.
 *  - Deprovisioned: a 404 to a sign-in wipes the secrets, refuses
 *    CheckAccount and unpublishes the userdb record at once; the uid stays
 *    reserved, and the next successful sign-in brings the same uid back.
 *  - uids are never reused: ten users in a thirty-uid range, cleared and
 *    signed in again in reverse order (after a restart too), keep theirs.
 *  - ListUsers (neostractl users) shows each user's uid, access and times
 *    as GetUser does, sorted by name, from after a cursor, no email, and
 *    the first 16 roles with how many more there are.
 *  - Background re-validation: a refresh is due before the token expires;
 *    one that brings the user is an online proof and changes the roles and
 *    groups at once, one without is not, a 401 ends the access; at most
 *    REVALIDATE_IN_FLIGHT_MAX run at once; a sign-in overtakes a refresh.
 *  - Secrets leave the disk: after a drop the -wal file (and the database)
 *    hold no copy of the token.
 */
#include <errno.h>
#include <ftw.h>
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
#include "revalidate.h"

#define USER     "nt-acc-alice"
#define PASSWORD "correct horse"
#define T0       1700000000
#define DAY      86400
#define MAX_AGE  (7 * DAY)
#define UID_MIN  3100000
#define UDB      "io.systemd.UserDatabase."

/* ---- the fake API and clock ------------------------------------------------ */

#define REFRESHES_MAX 16

struct fake_refresh {
        bool pending;
        api_signin_callback_t cb;
        void *userdata;
        char email[128], token[128];
};

static struct {
        int64_t now;
        unsigned signins, refreshes;
        bool pending;                   /* a sign-in waits for the test's answer */
        api_signin_callback_t cb;
        void *userdata;
        char email[128];
        char role[32];                  /* of the next allow */
        unsigned extra_roles;           /* more roles of the next allow: r0, r1, ... */
        char token[64];                 /* of the next allow */
        unsigned serial;
        struct fake_refresh r[REFRESHES_MAX];
} fake;

static char fake_request;

static int fake_signin(Api *api, const struct neostra_config *config, const char *email,
                       const char *password, api_signin_callback_t cb, void *userdata, ApiRequest **ret) {
        assert_false(fake.pending);
        fake.signins++;
        fake.pending = true;
        fake.cb = cb;
        fake.userdata = userdata;
        snprintf(fake.email, sizeof(fake.email), "%s", email);
        *ret = (ApiRequest *) &fake_request;
        return 0;
}

static void fake_cancel(ApiRequest *req) {
        if (!req)
                return;
        if (req == (ApiRequest *) &fake_request) {
                fake.pending = false;
                return;
        }
        for (size_t i = 0; i < REFRESHES_MAX; i++)
                if (req == (ApiRequest *) &fake.r[i])
                        fake.r[i].pending = false;
}

static int fake_refresh(Api *api, const struct neostra_config *config, const char *email,
                        const char *refresh_token, api_signin_callback_t cb, void *userdata, ApiRequest **ret) {
        for (size_t i = 0; i < REFRESHES_MAX; i++)
                if (!fake.r[i].pending) {
                        fake.r[i] = (struct fake_refresh) { .pending = true, .cb = cb, .userdata = userdata };
                        snprintf(fake.r[i].email, sizeof(fake.r[i].email), "%s", email);
                        snprintf(fake.r[i].token, sizeof(fake.r[i].token), "%s", refresh_token);
                        fake.refreshes++;
                        *ret = (ApiRequest *) &fake.r[i];
                        return 0;
                }
        fail_msg("too many refreshes in flight");
        return -EBUSY;
}

static int64_t fake_now(void) {
        return fake.now;
}

static unsigned refreshes_pending(void) {
        unsigned n = 0;

        for (size_t i = 0; i < REFRESHES_MAX; i++)
                n += fake.r[i].pending;
        return n;
}

/* An answer as api.c makes it: an allow with a token, a refresh token and
 * (with_user) the user and one role. */
static struct api_signin_result make_answer(enum api_outcome outcome, long http_status, const char *email,
                                            bool with_user) {
        struct api_signin_result res = {
                .outcome = outcome, .http_status = http_status, .reason = "fake API",
                .expires_in = -1, .latency_usec = 1000,
        };
        char buf[96];

        if (outcome != API_ALLOW)
                return res;
        fake.serial++;
        if (fake.token[0])
                snprintf(buf, sizeof(buf), "%s", fake.token);
        else
                snprintf(buf, sizeof(buf), "token-%u", fake.serial);
        res.token = strdup(buf);
        snprintf(buf, sizeof(buf), "refresh-%u", fake.serial);
        res.refresh_token = strdup(buf);
        res.expires_in = 3600;
        assert_true(res.token && res.refresh_token);
        if (with_user) {
                res.has_user = true;
                res.email = strdup(email);
                res.roles = calloc(2 + fake.extra_roles, sizeof(char *));
                assert_non_null(res.roles);
                res.roles[0] = strdup(fake.role);
                res.n_roles = 1;
                assert_true(res.email && res.roles[0]);
                for (unsigned i = 0; i < fake.extra_roles; i++) {
                        snprintf(buf, sizeof(buf), "r%u", i);
                        res.roles[res.n_roles] = strdup(buf);
                        assert_non_null(res.roles[res.n_roles++]);
                }
        }
        return res;
}

static void api_answer(enum api_outcome outcome, long http_status) {
        struct api_signin_result res = make_answer(outcome, http_status, fake.email, true);

        assert_true(fake.pending);
        fake.pending = false;
        fake.cb(&res, fake.userdata);
        api_signin_result_clear(&res);
}

static struct fake_refresh *refresh_for(const char *email) {
        for (size_t i = 0; i < REFRESHES_MAX; i++)
                if (fake.r[i].pending && (!email || strcmp(fake.r[i].email, email) == 0))
                        return &fake.r[i];
        return NULL;
}

static void refresh_answer(struct fake_refresh *r, enum api_outcome outcome, long http_status, bool with_user) {
        struct api_signin_result res = make_answer(outcome, http_status, r->email, with_user);

        assert_true(r->pending);
        r->pending = false;
        r->cb(&res, r->userdata);
        api_signin_result_clear(&res);
}

/* ---- the daemon and a client ------------------------------------------------- */

struct fixture {
        char tmp[64];
        char sock[128], usock[128], cache[128];
        Manager *m;
        sd_event *event;
};

struct options {
        uint64_t account_max_age_sec;   /* 0: MAX_AGE */
        uint64_t offline_max_age_sec;   /* 0: MAX_AGE */
        uid_t uid_range;                /* 0: 1000 */
};

static void set_string(char **p, const char *v) {
        free(*p);
        *p = strdup(v);
        assert_non_null(*p);
}

static void start(struct fixture *f, const struct options *o) {
        struct neostra_config *c = NULL;
        static const char *const roles[] = { "staff", "ops" };
        static const char *const groups[] = { "nt-acc-staff", "nt-acc-ops" };

        assert_int_equal(neostra_config_new_default(&c), 0);
        set_string(&c->api_url, "http://127.0.0.1:9");
        set_string(&c->refresh_path, "/api/v1/auth/refresh");
        set_string(&c->email_template, "%u@example.com");
        set_string(&c->socket_path, f->sock);
        set_string(&c->userdb_socket_path, f->usock);
        set_string(&c->cache_directory, f->cache);
        c->userdb = true;
        c->first_login = false;
        c->uid_min = UID_MIN;
        c->uid_max = UID_MIN + (o->uid_range ? o->uid_range : 1000) - 1;
        c->offline_max_age_ms = (o->offline_max_age_sec ? o->offline_max_age_sec : MAX_AGE) * 1000ull;
        c->account_max_age_ms = (o->account_max_age_sec ? o->account_max_age_sec : MAX_AGE) * 1000ull;
        /* staff -> nt-acc-staff, ops -> nt-acc-ops: groups neostrad publishes. */
        c->groups = calloc(2, sizeof(*c->groups));
        assert_non_null(c->groups);
        for (size_t i = 0; i < 2; i++) {
                c->groups[i].role = strdup(roles[i]);
                c->groups[i].groups.v = calloc(2, sizeof(char *));
                assert_non_null(c->groups[i].groups.v);
                c->groups[i].groups.v[0] = strdup(groups[i]);
                c->groups[i].groups.n = 1;
                assert_true(c->groups[i].role && c->groups[i].groups.v[0]);
        }
        c->n_groups = 2;

        assert_int_equal(manager_new("test_access.conf", c, &f->m), 0);
        assert_int_equal(manager_listen(f->m), 0);
        assert_int_equal(manager_open_cache(f->m), 0);
        assert_int_equal(manager_prepare_identities(f->m), 0);
        assert_int_equal(sd_event_default(&f->event), 0);
}

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
        snprintf(fake.role, sizeof(fake.role), "staff");
        login_test_env(&(struct login_env) { .signin = fake_signin, .cancel = fake_cancel, .now = fake_now });
        revalidate_test_env(&(struct revalidate_env) {
                .refresh = fake_refresh, .cancel = fake_cancel, .scan_max_usec = 20000, .jitter_key = 42,
        });
        access_test_clock(fake_now);
        assert_int_equal(setenv("SYSTEMD_BYPASS_USERDB", "io.neostra", 1), 0);
        strcpy(f->tmp, "/tmp/test_access.XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        snprintf(f->sock, sizeof(f->sock), "%s/auth.sock", f->tmp);
        snprintf(f->usock, sizeof(f->usock), "%s/io.neostra", f->tmp);
        snprintf(f->cache, sizeof(f->cache), "%s/cache", f->tmp);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        manager_free(f->m);
        sd_event_unref(f->event);
        assert_false(fake.pending);
        assert_int_equal(refreshes_pending(), 0);
        login_test_env(NULL);
        revalidate_test_env(NULL);
        access_test_clock(NULL);
        nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

static bool signin_pending(void *userdata) {
        return fake.pending;
}

static bool refresh_pending_for(void *userdata) {
        return refresh_for(userdata) != NULL;
}

/* One call on path and its answer: the error (NULL: a reply) and the
 * parameters, owned by *ret_msg. */
static json_t *call(struct fixture *f, const char *path, const char *method, json_t *params,
                    const char **ret_error, json_t **ret_params) {
        struct client c;
        struct answer a = { .c = &c };
        bool continues = false;

        client_send(path, &c, method, params);
        loop_until(f->event, answered, &a);
        client_close(&c);
        assert_int_equal(varlink_reply_parse(a.msg, ret_error, ret_params, &continues), 0);
        return a.msg;
}

/* Sign in as user; the API answers with outcome.  The answer's error,
 * "" for a success. */
static void sign_in_as(struct fixture *f, const char *user, enum api_outcome outcome, long http_status,
                       char *error, size_t n) {
        const char *e = NULL;
        struct client c;
        struct answer a = { .c = &c };
        json_t *params;
        bool continues;

        client_send(f->sock, &c, NEOSTRA_METHOD_AUTHENTICATE,
                    json_pack("{s:s, s:s, s:s}", "user", user, "password", PASSWORD, "service", "test"));
        loop_until(f->event, signin_pending, NULL);
        api_answer(outcome, http_status);
        loop_until(f->event, answered, &a);
        client_close(&c);
        assert_int_equal(varlink_reply_parse(a.msg, &e, &params, &continues), 0);
        snprintf(error, n, "%s", e ? e : "");
        json_decref(a.msg);
}

static void sign_in_ok(struct fixture *f, const char *user) {
        char error[160];

        sign_in_as(f, user, API_ALLOW, 200, error, sizeof(error));
        assert_string_equal(error, "");
}

struct verdict {
        char error[160];
        bool allowed;
        char reason[512];
        size_t n_groups;
        char group[64];                 /* the first */
};

static struct verdict check_account(struct fixture *f, const char *user) {
        struct verdict v = {};
        const char *error = NULL;
        json_t *p = NULL;
        json_t *msg = call(f, f->sock, NEOSTRA_METHOD_CHECK_ACCOUNT, json_pack("{s:s}", "user", user), &error, &p);
        json_t *groups = json_object_get(p, "groups");

        snprintf(v.error, sizeof(v.error), "%s", error ? error : "");
        v.allowed = json_is_true(json_object_get(p, "allowed"));
        snprintf(v.reason, sizeof(v.reason), "%s", json_string_value(json_object_get(p, "reason")) ?: "");
        v.n_groups = json_array_size(groups);
        snprintf(v.group, sizeof(v.group), "%s",
                 json_string_value(json_object_get(json_array_get(groups, 0), "name")) ?: "");
        json_decref(msg);
        return v;
}

/* GetUser's field key, as a number (booleans 0 or 1). */
static json_int_t user_field(struct fixture *f, const char *user, const char *key) {
        const char *error = NULL;
        json_t *p = NULL, *v;
        json_t *msg = call(f, f->sock, NEOSTRA_METHOD_GET_USER, json_pack("{s:s}", "user", user), &error, &p);
        json_int_t n;

        assert_null(error);
        v = json_object_get(p, key);
        assert_non_null(v);
        n = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
        json_decref(msg);
        return n;
}

static bool user_string_is(struct fixture *f, const char *user, const char *key, const char *want) {
        const char *error = NULL;
        json_t *p = NULL;
        json_t *msg = call(f, f->sock, NEOSTRA_METHOD_GET_USER, json_pack("{s:s}", "user", user), &error, &p);
        bool same;

        assert_null(error);
        same = strcmp(json_string_value(json_object_get(p, key)) ?: "", want) == 0;
        if (!same)
                print_message("GetUser %s: %s is %s, not %s\n", user, key,
                              json_string_value(json_object_get(p, key)) ?: "(none)", want);
        json_decref(msg);
        return same;
}

/* The userdb record of user: its memberOf as "a,b", or NULL when there is
 * no record. */
static char *userdb_member_of(struct fixture *f, const char *user) {
        const char *error = NULL;
        json_t *p = NULL, *groups, *g;
        json_t *msg = call(f, f->usock, UDB "GetUserRecord",
                           json_pack("{s:s, s:s}", "userName", user, "service", "io.neostra"), &error, &p);
        char buf[256] = "";
        size_t i;

        if (error) {
                assert_string_equal(error, UDB "NoRecordFound");
                json_decref(msg);
                return NULL;
        }
        groups = json_object_get(json_object_get(p, "record"), "memberOf");
        json_array_foreach(groups, i, g)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "", json_string_value(g));
        json_decref(msg);
        return strdup(buf);
}

static bool userdb_uid_answers(struct fixture *f, json_int_t uid) {
        const char *error = NULL;
        json_t *p = NULL;
        json_t *msg = call(f, f->usock, UDB "GetUserRecord", json_pack("{s:I, s:s}", "uid", uid, "service", "io.neostra"),
                           &error, &p);
        bool found = error == NULL;

        json_decref(msg);
        return found;
}

/* The members of a published group, as "a,b". */
static char *userdb_members(struct fixture *f, const char *group) {
        const char *error = NULL;
        json_t *p = NULL, *members, *m;
        json_t *msg = call(f, f->usock, UDB "GetGroupRecord",
                           json_pack("{s:s, s:s}", "groupName", group, "service", "io.neostra"), &error, &p);
        char buf[256] = "";
        size_t i;

        assert_null(error);
        members = json_object_get(json_object_get(p, "record"), "members");
        json_array_foreach(members, i, m)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "", json_string_value(m));
        json_decref(msg);
        return strdup(buf);
}

static void assert_member_of(struct fixture *f, const char *user, const char *want) {
        char *got = userdb_member_of(f, user);

        if (!want)
                assert_null(got);
        else {
                assert_non_null(got);
                assert_string_equal(got, want);
        }
        free(got);
}

static void assert_members(struct fixture *f, const char *group, const char *want) {
        char *got = userdb_members(f, group);

        assert_string_equal(got, want);
        free(got);
}

static json_int_t status_field(struct fixture *f, const char *object, const char *key) {
        json_t *st = manager_status_json(f->m, true);
        json_int_t n;

        assert_non_null(st);
        n = json_integer_value(json_object_get(json_object_get(st, object), key));
        json_decref(st);
        return n;
}

struct made {
        struct fixture *f;
        json_int_t want;
};

static bool made_enough(void *userdata) {
        struct made *m = userdata;

        return status_field(m->f, "verifiers", "made") >= m->want;
}

/* Wait for the verifiers of n sign-ins in all. */
static void wait_verifiers(struct fixture *f, json_int_t n) {
        struct made m = { f, n };

        loop_until(f->event, made_enough, &m);
}

static bool is_root(void) {
        if (geteuid() == 0)
                return true;
        print_message("skipped: InvalidateCache and ClearCache are root's\n");
        return false;
}

/* ---- the revocation bound ------------------------------------------------------ */

static void test_bound(void **state) {
        struct fixture *f = *state;
        struct verdict v;

        start(f, &(struct options) {});
        sign_in_ok(f, USER);
        v = check_account(f, USER);
        assert_true(v.allowed);
        assert_int_equal(v.n_groups, 1);
        assert_string_equal(v.group, "nt-acc-staff");
        assert_int_equal(user_field(f, USER, "lastOnlineProof"), T0);
        assert_int_equal(user_field(f, USER, "accessUntil"), T0 + MAX_AGE);
        assert_true(user_string_is(f, USER, "access", "valid"));
        assert_member_of(f, USER, "nt-acc-staff");
        assert_members(f, "nt-acc-staff", USER);

        /* The last second of account_max_age. */
        fake.now = T0 + MAX_AGE - 1;
        assert_true(check_account(f, USER).allowed);

        /* Past it: refused, told to use the password, no groups; userdb
         * keeps the passwd record without memberships. */
        fake.now = T0 + MAX_AGE;
        v = check_account(f, USER);
        assert_string_equal(v.error, "");
        assert_false(v.allowed);
        assert_non_null(strstr(v.reason, "log in with your password"));
        assert_int_equal(v.n_groups, 0);
        assert_true(user_string_is(f, USER, "access", "expired"));
        assert_int_equal(status_field(f, "logins", "deniedAccess"), 1);
        assert_member_of(f, USER, "");
        assert_members(f, "nt-acc-staff", "");

        /* A password sign-in is a new proof. */
        sign_in_ok(f, USER);
        assert_true(check_account(f, USER).allowed);
        assert_int_equal(user_field(f, USER, "accessUntil"), T0 + 2 * MAX_AGE);
        assert_member_of(f, USER, "nt-acc-staff");

        /* It survives a restart (the proof is in the cache). */
        restart(f, &(struct options) {});
        assert_true(check_account(f, USER).allowed);
        fake.now = T0 + 2 * MAX_AGE;
        assert_false(check_account(f, USER).allowed);
}

static void test_bound_is_configurable(void **state) {
        struct fixture *f = *state;

        start(f, &(struct options) { .account_max_age_sec = 3600 });
        sign_in_ok(f, USER);
        fake.now = T0 + 3599;
        assert_true(check_account(f, USER).allowed);
        fake.now = T0 + 3600;
        assert_false(check_account(f, USER).allowed);
}

/* An offline success is not an online proof, and it rests on the last one
 * like every answer that no API accepted just now. */
static void test_offline_login_rests_on_the_proof(void **state) {
        struct fixture *f = *state;
        const char *error = NULL;
        json_t *p = NULL, *msg;
        struct client c;
        struct answer a = { .c = &c };
        bool continues;

        /* A verifier good for 7 days, an online proof good for 1. */
        start(f, &(struct options) { .account_max_age_sec = DAY });
        sign_in_ok(f, USER);
        wait_verifiers(f, 1);

        for (int i = 0; i < 2; i++) {
                fake.now = i == 0 ? T0 + DAY - 10 : T0 + 2 * DAY;
                client_send(f->sock, &c, NEOSTRA_METHOD_AUTHENTICATE,
                            json_pack("{s:s, s:s}", "user", USER, "password", PASSWORD));
                loop_until(f->event, signin_pending, NULL);
                api_answer(API_UNAVAILABLE, 503);
                a.msg = NULL;
                loop_until(f->event, answered, &a);
                client_close(&c);
                msg = a.msg;
                assert_int_equal(varlink_reply_parse(msg, &error, &p, &continues), 0);
                assert_null(error);
                assert_true(json_is_true(json_object_get(p, "offline")));
                if (i == 0)
                        assert_true(json_is_true(json_object_get(p, "allowed")));
                else {
                        assert_false(json_is_true(json_object_get(p, "allowed")));
                        assert_non_null(strstr(json_string_value(json_object_get(p, "reason")),
                                               "log in with your password"));
                }
                json_decref(msg);
                /* Not a proof: it did not move. */
                assert_int_equal(user_field(f, USER, "lastOnlineProof"), T0);
        }
}

static void test_invalidate_asks_for_the_password(void **state) {
        struct fixture *f = *state;
        const char *error = NULL;
        json_t *p = NULL;
        struct verdict v;

        if (!is_root())
                return;
        start(f, &(struct options) {});
        sign_in_ok(f, USER);
        assert_true(check_account(f, USER).allowed);
        json_decref(call(f, f->sock, NEOSTRA_METHOD_INVALIDATE_CACHE, json_pack("{s:s}", "user", USER), &error, &p));
        assert_null(error);
        v = check_account(f, USER);
        assert_false(v.allowed);
        assert_non_null(strstr(v.reason, "log in with your password"));
        assert_int_equal(v.n_groups, 0);
        assert_true(user_string_is(f, USER, "access", "invalidated"));
        assert_int_equal(user_field(f, USER, "accessUntil"), 0);
        assert_member_of(f, USER, "");
        /* So it stays after a restart. */
        restart(f, &(struct options) {});
        assert_false(check_account(f, USER).allowed);
        sign_in_ok(f, USER);
        assert_true(check_account(f, USER).allowed);
        assert_member_of(f, USER, "nt-acc-staff");
}

/* ---- deprovisioned -------------------------------------------------------------- */

static void test_404_deprovisions(void **state) {
        struct fixture *f = *state;
        char error[160];
        json_int_t uid;
        struct verdict v;

        start(f, &(struct options) {});
        sign_in_ok(f, USER);
        sign_in_ok(f, "nt-acc-bob");
        wait_verifiers(f, 2);
        uid = user_field(f, USER, "uid");
        assert_true(uid >= UID_MIN);
        assert_true(user_field(f, USER, "hasVerifier"));
        assert_member_of(f, USER, "nt-acc-staff");

        sign_in_as(f, USER, API_USER_UNKNOWN, 404, error, sizeof(error));
        assert_string_equal(error, NEOSTRA_ERROR_USER_UNKNOWN);
        /* Refused at once, secrets gone... */
        v = check_account(f, USER);
        assert_string_equal(v.error, "");
        assert_false(v.allowed);
        assert_non_null(strstr(v.reason, "no longer knows this account"));
        assert_int_equal(v.n_groups, 0);
        assert_false(user_field(f, USER, "hasToken"));
        assert_false(user_field(f, USER, "hasVerifier"));
        assert_true(user_string_is(f, USER, "access", "deprovisioned"));
        /* ...and unpublished: by name, by uid, as a member. */
        assert_member_of(f, USER, NULL);
        assert_false(userdb_uid_answers(f, uid));
        assert_members(f, "nt-acc-staff", "nt-acc-bob");
        /* The uid stays its own. */
        assert_int_equal(user_field(f, USER, "uid"), uid);
        /* A restart does not bring it back. */
        restart(f, &(struct options) {});
        assert_false(check_account(f, USER).allowed);
        assert_member_of(f, USER, NULL);

        /* A later successful sign-in does, with the same uid. */
        sign_in_ok(f, USER);
        assert_true(check_account(f, USER).allowed);
        assert_int_equal(user_field(f, USER, "uid"), uid);
        assert_true(userdb_uid_answers(f, uid));
        assert_member_of(f, USER, "nt-acc-staff");
}

/* ---- uids are never reused -------------------------------------------------------- */

static void sign_in_ten(struct fixture *f, json_int_t uids[10], bool reverse) {
        char name[32];

        for (int k = 0; k < 10; k++) {
                int i = reverse ? 9 - k : k;

                snprintf(name, sizeof(name), "nt-acc-u%d", i);
                sign_in_ok(f, name);
                uids[i] = user_field(f, name, "uid");
                assert_true(uids[i] >= UID_MIN && uids[i] < UID_MIN + 30);
        }
}

static void clear_all(struct fixture *f) {
        const char *error = NULL;
        json_t *p = NULL;

        json_decref(call(f, f->sock, NEOSTRA_METHOD_CLEAR_CACHE, json_object(), &error, &p));
        assert_null(error);
}

static void test_uids_never_reused(void **state) {
        struct fixture *f = *state;
        json_int_t first[10], again[10];

        if (!is_root())
                return;
        start(f, &(struct options) { .uid_range = 30 });
        sign_in_ten(f, first, false);
        for (int i = 0; i < 10; i++)
                for (int j = 0; j < i; j++)
                        assert_int_not_equal(first[i], first[j]);

        clear_all(f);
        sign_in_ten(f, again, true);
        for (int i = 0; i < 10; i++)
                assert_int_equal(again[i], first[i]);

        /* From the cache too, after a restart. */
        clear_all(f);
        restart(f, &(struct options) { .uid_range = 30 });
        sign_in_ten(f, again, true);
        for (int i = 0; i < 10; i++)
                assert_int_equal(again[i], first[i]);
}

/* ---- ListUsers -------------------------------------------------------------------- */

/* The users of a ListUsers page (its "next" must be absent). */
static json_t *list_users(struct fixture *f, const char *after, json_t **ret_msg) {
        const char *error = NULL;
        json_t *p = NULL;

        *ret_msg = call(f, f->sock, NEOSTRA_METHOD_LIST_USERS,
                        after ? json_pack("{s:s}", "after", after) : json_object(), &error, &p);
        assert_null(error);
        assert_null(json_object_get(p, "next"));
        assert_true(json_is_array(json_object_get(p, "users")));
        return json_object_get(p, "users");
}

static void test_list_users(void **state) {
        struct fixture *f = *state;
        json_int_t uids[10];
        const char *error = NULL;
        json_t *msg, *users, *u, *p = NULL;
        char name[32];
        size_t i;

        if (!is_root())
                return;
        start(f, &(struct options) { .uid_range = 30 });
        sign_in_ten(f, uids, true);
        json_decref(call(f, f->sock, NEOSTRA_METHOD_INVALIDATE_CACHE, json_pack("{s:s}", "user", "nt-acc-u3"),
                         &error, &p));
        assert_null(error);

        users = list_users(f, NULL, &msg);
        assert_int_equal(json_array_size(users), 10);
        json_array_foreach(users, i, u) {
                snprintf(name, sizeof(name), "nt-acc-u%zu", i);
                /* Sorted by name, though signed in in reverse. */
                assert_string_equal(json_string_value(json_object_get(u, "user")), name);
                assert_int_equal(json_integer_value(json_object_get(u, "uid")), uids[i]);
                assert_true(user_string_is(f, name, "access", json_string_value(json_object_get(u, "access"))));
                assert_int_equal(json_integer_value(json_object_get(u, "accessUntil")),
                                 user_field(f, name, "accessUntil"));
                assert_int_equal(json_integer_value(json_object_get(u, "lastOnlineProof")),
                                 user_field(f, name, "lastOnlineProof"));
                assert_true(json_is_array(json_object_get(u, "roles")));
                assert_null(json_object_get(u, "email"));
                assert_null(json_object_get(u, "rolesOmitted"));
        }
        assert_string_equal(json_string_value(json_object_get(json_array_get(users, 3), "access")), "invalidated");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(users, 3), "accessUntil")), 0);
        assert_string_equal(json_string_value(json_object_get(json_array_get(users, 4), "access")), "valid");
        json_decref(msg);

        /* From after a cursor: the names that sort after it. */
        users = list_users(f, "nt-acc-u4", &msg);
        assert_int_equal(json_array_size(users), 5);
        assert_string_equal(json_string_value(json_object_get(json_array_get(users, 0), "user")), "nt-acc-u5");
        json_decref(msg);
        users = list_users(f, "nt-acc-u9", &msg);
        assert_int_equal(json_array_size(users), 0);
        json_decref(msg);
        users = list_users(f, "a", &msg);
        assert_int_equal(json_array_size(users), 10);
        json_decref(msg);

        /* A long list of roles is cut, and says by how many. */
        fake.extra_roles = 19;
        sign_in_ok(f, "nt-acc-z");
        fake.extra_roles = 0;
        users = list_users(f, "nt-acc-u9", &msg);
        assert_int_equal(json_array_size(users), 1);
        u = json_array_get(users, 0);
        assert_string_equal(json_string_value(json_object_get(u, "user")), "nt-acc-z");
        assert_int_equal(json_array_size(json_object_get(u, "roles")), 16);
        assert_int_equal(json_integer_value(json_object_get(u, "rolesOmitted")), 4);
        json_decref(msg);
}

/* ---- background re-validation ----------------------------------------------------- */

#define EMAIL USER "@example.com"

static void test_revalidation(void **state) {
        struct fixture *f = *state;
        struct fake_refresh *r;
        char error[160];
        struct verdict v;
        const char *e = NULL;
        json_t *p = NULL, *msg;

        start(f, &(struct options) {});
        sign_in_ok(f, USER);    /* token-1, refresh-1, an hour to live */

        /* Not due yet: the token has more than 5 minutes. */
        fake.now = T0 + 3000;
        loop_for(f->event, 100000);
        assert_int_equal(fake.refreshes, 0);

        /* Due within its last 5 minutes (jitter up to 2.5 of them). */
        fake.now = T0 + 3460;
        loop_until(f->event, refresh_pending_for, EMAIL);
        r = refresh_for(EMAIL);
        assert_string_equal(r->token, "refresh-1");
        /* The answer carries the user, now with role ops: an online proof,
         * and the roles and groups change at once. */
        snprintf(fake.role, sizeof(fake.role), "ops");
        refresh_answer(r, API_ALLOW, 200, true);
        assert_int_equal(user_field(f, USER, "lastOnlineProof"), T0 + 3460);
        assert_int_equal(user_field(f, USER, "lastOnlineSuccess"), T0);
        assert_int_equal(user_field(f, USER, "tokenExpires"), T0 + 3460 + 3600);
        v = check_account(f, USER);
        assert_true(v.allowed);
        assert_string_equal(v.group, "nt-acc-ops");
        assert_member_of(f, USER, "nt-acc-ops");
        assert_int_equal(status_field(f, "revalidation", "proofs"), 1);

        /* Past the sign-in's account_max_age, within the refresh's. */
        fake.now = T0 + MAX_AGE + 10;
        /* (the next refresh is long due: answer it without the user, a new
         * token but no proof) */
        loop_until(f->event, refresh_pending_for, EMAIL);
        r = refresh_for(EMAIL);
        assert_string_equal(r->token, "refresh-2");
        refresh_answer(r, API_ALLOW, 200, false);
        assert_int_equal(user_field(f, USER, "lastOnlineProof"), T0 + 3460);
        assert_int_equal(user_field(f, USER, "tokenExpires"), T0 + MAX_AGE + 10 + 3600);
        assert_true(check_account(f, USER).allowed);
        /* Not again within a minute of the last one. */
        loop_for(f->event, 100000);
        assert_null(refresh_for(EMAIL));

        /* A refused refresh ends the access: refused, groups unpublished,
         * tokens wiped. */
        fake.now = T0 + MAX_AGE + 3400;
        loop_until(f->event, refresh_pending_for, EMAIL);
        r = refresh_for(EMAIL);
        assert_string_equal(r->token, "refresh-3");
        refresh_answer(r, API_DENY, 401, false);
        v = check_account(f, USER);
        assert_false(v.allowed);
        assert_non_null(strstr(v.reason, "log in with your password"));
        assert_int_equal(v.n_groups, 0);
        assert_true(user_string_is(f, USER, "access", "revoked"));
        assert_false(user_field(f, USER, "hasToken"));
        assert_member_of(f, USER, "");
        assert_int_equal(status_field(f, "revalidation", "revoked"), 1);
        msg = call(f, f->sock, NEOSTRA_METHOD_GET_TOKEN, json_pack("{s:s}", "user", USER), &e, &p);
        assert_string_equal(e, NEOSTRA_ERROR_USER_UNKNOWN);
        json_decref(msg);
        /* No refresh token: never refreshed again. */
        fake.now += 3 * 3600;
        loop_for(f->event, 100000);
        assert_null(refresh_for(EMAIL));

        /* A sign-in brings it back. */
        sign_in_as(f, USER, API_ALLOW, 200, error, sizeof(error));
        assert_string_equal(error, "");
        assert_true(check_account(f, USER).allowed);
        assert_true(user_string_is(f, USER, "access", "valid"));
}

static void test_revalidation_bounded(void **state) {
        struct fixture *f = *state;
        char name[32];

        start(f, &(struct options) {});
        for (int i = 0; i < 6; i++) {
                snprintf(name, sizeof(name), "nt-acc-b%d", i);
                sign_in_ok(f, name);
        }
        fake.now = T0 + 3599;
        loop_until(f->event, refresh_pending_for, NULL);
        loop_for(f->event, 100000);
        assert_int_equal(refreshes_pending(), REVALIDATE_IN_FLIGHT_MAX);
        assert_int_equal(status_field(f, "revalidation", "inFlight"), REVALIDATE_IN_FLIGHT_MAX);
        /* An answer frees a slot for the next. */
        refresh_answer(refresh_for(NULL), API_ALLOW, 200, true);
        loop_for(f->event, 50000);
        assert_int_equal(refreshes_pending(), REVALIDATE_IN_FLIGHT_MAX);
        while (refresh_for(NULL)) {
                refresh_answer(refresh_for(NULL), API_UNAVAILABLE, 503, false);
                loop_for(f->event, 20000);
        }
        assert_int_equal(fake.refreshes, 6);
        assert_int_equal(status_field(f, "revalidation", "refreshes"), 1);
        assert_int_equal(status_field(f, "revalidation", "failed"), 5);
        /* A failed refresh does not end anything. */
        for (int i = 0; i < 6; i++) {
                snprintf(name, sizeof(name), "nt-acc-b%d", i);
                assert_true(check_account(f, name).allowed);
        }
}

/* A refusal that a sign-in overtook ends nothing: the sign-in's tokens are
 * newer than the refresh token the API refused. */
static void test_signin_overtakes_refresh(void **state) {
        struct fixture *f = *state;
        struct fake_refresh *r;

        start(f, &(struct options) {});
        sign_in_ok(f, USER);
        fake.now = T0 + 3599;
        loop_until(f->event, refresh_pending_for, EMAIL);
        r = refresh_for(EMAIL);
        sign_in_ok(f, USER);
        refresh_answer(r, API_DENY, 401, false);
        assert_true(check_account(f, USER).allowed);
        assert_true(user_field(f, USER, "hasToken"));
        assert_int_equal(status_field(f, "revalidation", "revoked"), 0);
}

/* ---- secrets leave the disk -------------------------------------------------------- */

static bool file_contains(const char *path, const char *needle) {
        FILE *fp = fopen(path, "rb");
        char *buf = NULL;
        size_t size = 0, n;
        char chunk[4096];
        bool found;

        if (!fp)
                return false;
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
                buf = realloc(buf, size + n);
                assert_non_null(buf);
                memcpy(buf + size, chunk, n);
                size += n;
        }
        fclose(fp);
        found = buf && memmem(buf, size, needle, strlen(needle));
        free(buf);
        return found;
}

static void test_dropped_token_leaves_the_wal(void **state) {
        struct fixture *f = *state;
        char wal[200], db[200], error[160];

        start(f, &(struct options) {});
        snprintf(wal, sizeof(wal), "%s/neostrad.db-wal", f->cache);
        snprintf(db, sizeof(db), "%s/neostrad.db", f->cache);
        snprintf(fake.token, sizeof(fake.token), "NT-ACCESS-TOKEN-7f3a9c");
        sign_in_ok(f, USER);
        /* Written (GetUser flushes first), so in the WAL. */
        assert_true(user_field(f, USER, "hasToken"));
        assert_true(file_contains(wal, fake.token));

        sign_in_as(f, USER, API_DENY, 401, error, sizeof(error));
        assert_string_equal(error, NEOSTRA_ERROR_AUTHENTICATION_FAILED);
        assert_false(user_field(f, USER, "hasToken"));
        /* Checkpointed at once: the -wal file holds no copy, nor (by
         * secure_delete) the database. */
        assert_false(file_contains(wal, fake.token));
        assert_false(file_contains(db, fake.token));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bound_is_configurable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_offline_login_rests_on_the_proof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalidate_asks_for_the_password, setup, teardown),
                cmocka_unit_test_setup_teardown(test_404_deprovisions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_uids_never_reused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_users, setup, teardown),
                cmocka_unit_test_setup_teardown(test_revalidation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_revalidation_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signin_overtakes_refresh, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropped_token_leaves_the_wal, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
