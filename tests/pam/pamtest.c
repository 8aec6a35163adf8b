/* SPDX-License-Identifier: MIT */
/*
 * PAM tests: the built pam_neostra.so, loaded by libpam from service files
 * under pam_wrapper, talking to real neostrad instances that talk to the
 * mock sign-in API.  tests/pam/run-pamtest.sh starts all of that and runs
 * this binary; it also checks afterwards that the canary password (every
 * API user's password, NEOSTRA_CANARY) leaked nowhere.
 *
 * Services (see run-pamtest.sh) and the daemons behind them:
 *   nt-main            neostrad "main": http mock, [api] timeout 2s,
 *                      allow_roles admin dev, [groups] admin=adm dev=users
 *                      music=audio, exclude svc-backup
 *   nt-main-probe      the same through a probe stack: pam_neostra's
 *                      PAM_IGNORE falls through to pam_permit and so shows
 *                      as PAM_SUCCESS (PROBE_IGNORED); any other result
 *                      ends the stack with itself, a success as
 *                      PAM_PERM_DENIED (PROBE_NOT_IGNORED)
 *   nt-unknown-probe   probe with ignore_unknown_user
 *   nt-narrow          module argument allow_roles=admin
 *   nt-use-first-pass, nt-try-first-pass   pam_set_items ($PAM_AUTHTOK)
 *                      stacked before pam_neostra
 *   nt-nodaemon(-probe)   socket= a path where nothing listens
 *   nt-nodaemon-strict-probe   the same probe without ignore_authinfo_unavail
 *   nt-apidown         daemon whose API URL is a closed loopback port
 *   nt-slow            daemon with [api] timeout 8s
 *   nt-https-ca, -wrongca, -wrongpin, -pin   https with ca_file / pins
 *   nt-star(-probe)    neostrad "star": like main, but local_accounts = *
 *                      and domains = partner.example
 * Every daemon but star lists neostra-peer in [users] local_accounts.
 *
 * Local accounts (run-pamtest.sh adds them in its mount namespace):
 * neostra-peer (uid 4242, listed in local_accounts) and neostra-local
 * (uid 4244, listed nowhere).
 *
 * Mock users (all with the canary as password): alice (admin, dev), bob
 * (dev), carol (guest), ghost (404), slow (5 s delay), broken (500), inner
 * (200 with status 401 inside), garbage (malformed JSON), imposter (answers
 * with another email).  Unknown emails get 401.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "neostra/client.h"
#include "neostra/protocol.h"
#include "pamtest-util.h"

#define PROBE_IGNORED     PAM_SUCCESS
#define PROBE_NOT_IGNORED PAM_PERM_DENIED

/* An ordinary local account that run-pamtest.sh adds inside its private
 * mount namespace (65534 "nobody" is a system account: never ours). */
#define PEER_UID ((uid_t) 4242)
#define PEER_NAME "neostra-peer"
/* A local account at or above minimum_uid that no local_accounts lists
 * (but star's "*"). */
#define LOCAL_NAME "neostra-local"

static const char *not_ready;

/* Every test starts here: without the environment it says why it skips. */
#define BEGIN() do { \
                if (not_ready) { \
                        print_message("skipped: %s\n", not_ready); \
                        skip(); \
                } \
        } while (0)

/* Fails the test at the caller's file and line, saying which operation
 * returned what. */
static void check_run(const char *service, const char *user, struct conv_log *cl,
                      struct pam_testcase *cases, size_t n, const char *file, int line) {
        enum pamtest_err e = pt_run(service, user, cl, cases, n);
        const struct pam_testcase *f;

        if (e == PAMTEST_ERR_OK)
                return;
        f = e == PAMTEST_ERR_CASE ? _pamtest_failed_case(cases, n) : NULL;
        if (f)
                print_error("%s for %s on %s: expected %s, got %s\n", pt_op_name(f->pam_operation),
                            user, service, pt_pam_name(f->expected_rv), pt_pam_name(f->op_rv));
        else
                print_error("libpamtest failed for %s on %s: %s\n", user, service, pamtest_strerror(e));
        _fail(file, line);
}

/* EXPECT(service, user, conv_log, pam_test(op, expected), ...) */
#define EXPECT(service, user, cl, ...) do { \
                struct pam_testcase cases_[] = { __VA_ARGS__ }; \
                check_run(service, user, cl, cases_, ELEMENTS(cases_), __FILE__, __LINE__); \
        } while (0)

#define AUTH(rv)     pam_test(PAMTEST_AUTHENTICATE, rv)
#define ACCOUNT(rv)  pam_test(PAMTEST_ACCOUNT, rv)
#define CHAUTHTOK(rv) pam_test(PAMTEST_CHAUTHTOK, rv)

static long signins(void) {
        long n = pt_mock_signins();

        assert_true(n >= 0);
        return n;
}

static long requests_for(const char *email) {
        long n = pt_mock_requests_for(email, NULL);

        assert_true(n >= 0);
        return n;
}

/* Sum of the daemon's login counters (GetStatus), or -1. */
static long daemon_decisions(const char *daemon) {
        char path[PATH_MAX], *error = NULL;
        json_t *reply = NULL, *logins, *v;
        const char *k;
        long n = -1;
        int r;

        r = neostra_client_call_once(pt_socket(daemon, path, sizeof(path)), NEOSTRA_METHOD_GET_STATUS,
                                     NULL, false, neostra_deadline_ms(5000), &error, &reply);
        if (r == 0 && !error) {
                logins = json_object_get(reply, "logins");
                if (json_is_object(logins)) {
                        n = 0;
                        json_object_foreach(logins, k, v)
                                n += (long) json_integer_value(v);
                }
        }
        free(error);
        json_decref(reply);
        return n;
}

static bool any_message_contains(char msgs[][CONV_MSG_LEN], unsigned n, const char *needle) {
        for (unsigned i = 0; i < n; i++)
                if (strstr(msgs[i], needle))
                        return true;
        return false;
}

static int unset_authtok(void **state) {
        unsetenv("PAM_AUTHTOK");
        return 0;
}

/* ---- authentication ------------------------------------------------------- */

static void test_success_then_account(void **state) {
        struct conv_log cl = { .password = pt.canary };
        json_t *last = NULL;
        long before, after;
        bool password_ok;
        json_int_t password_len;

        BEGIN();
        before = requests_for("alice@example.com");
        EXPECT("nt-main", "alice", &cl, AUTH(PAM_SUCCESS), ACCOUNT(PAM_SUCCESS));
        assert_int_equal(cl.prompts, 1);
        assert_int_equal(cl.n_errors, 0);

        /* The password the mock compared was the canary, whole. */
        after = pt_mock_requests_for("alice@example.com", &last);
        assert_non_null(last);
        password_ok = json_is_true(json_object_get(last, "password_ok"));
        password_len = json_integer_value(json_object_get(last, "password_len"));
        json_decref(last);
        assert_int_equal(after, before + 1);
        assert_true(password_ok);
        assert_int_equal(password_len, (json_int_t) strlen(pt.canary));
}

static void test_wrong_password(void **state) {
        struct conv_log cl = { .password = "not-the-password" };

        BEGIN();
        EXPECT("nt-main", "alice", &cl, AUTH(PAM_AUTH_ERR));
}

static void test_empty_password_not_sent(void **state) {
        struct conv_log cl = { .password = "" };
        long before;

        BEGIN();
        before = signins();
        EXPECT("nt-main", "alice", &cl, AUTH(PAM_AUTH_ERR));
        assert_int_equal(cl.prompts, 1);
        assert_int_equal(signins(), before);
}

static void test_unknown_email_refused(void **state) {
        struct conv_log cl = { .password = pt.canary };
        long before;

        BEGIN();
        before = requests_for("nosuchuser@example.com");
        EXPECT("nt-main", "nosuchuser", &cl, AUTH(PAM_AUTH_ERR));
        assert_int_equal(requests_for("nosuchuser@example.com"), before + 1);
}

static void test_api_404_user_unknown(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        EXPECT("nt-main", "ghost", &cl, AUTH(PAM_USER_UNKNOWN));
}

/* The probe itself: only pam_neostra's PAM_IGNORE reads as PROBE_IGNORED. */
static void test_probe_control(void **state) {
        struct conv_log cl = { .password = pt.canary };
        struct conv_log wrong = { .password = "not-the-password" };

        BEGIN();
        EXPECT("nt-main-probe", "alice", &cl, AUTH(PROBE_NOT_IGNORED));
        EXPECT("nt-main-probe", "alice", &wrong, AUTH(PAM_AUTH_ERR));
        EXPECT("nt-unknown-probe", "nosuchuser", &wrong, AUTH(PAM_AUTH_ERR));
}

static void test_api_404_ignored(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        EXPECT("nt-unknown-probe", "ghost", &cl, AUTH(PROBE_IGNORED));
}

/* A local account below minimum_uid: no prompt, no daemon, no API. */
static void check_not_ours(const char *user) {
        struct conv_log cl = { .password = NULL };
        long before = signins(), decisions = daemon_decisions("main");

        assert_true(decisions >= 0);
        EXPECT("nt-main-probe", user, &cl, AUTH(PROBE_IGNORED), ACCOUNT(PROBE_IGNORED));
        assert_int_equal(cl.prompts, 0);
        assert_int_equal(signins(), before);
        assert_int_equal(daemon_decisions("main"), decisions);
}

static void test_root_ignored(void **state) {
        BEGIN();
        check_not_ours("root");
}

static void test_system_user_ignored(void **state) {
        struct passwd *pw;

        BEGIN();
        pw = getpwnam("daemon");
        if (!pw || pw->pw_uid >= 1000) {
                print_message("skipped: no local system account 'daemon' below uid 1000\n");
                skip();
        }
        check_not_ours("daemon");
}

static void test_excluded_name_ignored(void **state) {
        BEGIN();
        assert_null(getpwnam("svc-backup"));    /* excluded by config, not by uid */
        check_not_ours("svc-backup");
}

/* ---- local accounts and domains ---------------------------------------------- */

#define SETCRED(rv)  pam_test_flags(PAMTEST_SETCRED, rv, PAM_ESTABLISH_CRED)
#define OPEN_SESSION(rv)  pam_test(PAMTEST_OPEN_SESSION, rv)
#define CLOSE_SESSION(rv) pam_test(PAMTEST_CLOSE_SESSION, rv)

/* PAM_IGNORE in every step through a probe service, no prompt, nothing
 * sent to the API and (with a daemon) nothing decided by it. */
static void check_ignored_everywhere(const char *service, const char *daemon, const char *user) {
        struct conv_log cl = { .password = pt.canary };
        long before = signins(), decisions = daemon ? daemon_decisions(daemon) : 0;

        assert_true(decisions >= 0);
        EXPECT(service, user, &cl, AUTH(PROBE_IGNORED), ACCOUNT(PROBE_IGNORED), SETCRED(PROBE_IGNORED),
               OPEN_SESSION(PROBE_IGNORED), CLOSE_SESSION(PROBE_IGNORED));
        assert_int_equal(cl.prompts, 0);
        assert_int_equal(signins(), before);
        if (daemon)
                assert_int_equal(daemon_decisions(daemon), decisions);
}

/* A direct call to a daemon as root: the short error name, "" for a reply. */
static void daemon_call(const char *daemon, const char *method, json_t *params, bool secret,
                        char *error_name, size_t n) {
        char path[PATH_MAX], *error = NULL;
        json_t *reply = NULL;
        int r;

        r = neostra_client_call_once(pt_socket(daemon, path, sizeof(path)), method, params, secret,
                                     neostra_deadline_ms(10000), &error, &reply);
        assert_int_equal(r, 0);
        snprintf(error_name, n, "%s", error ? neostra_error_short(error) : "");
        free(error);
        json_decref(reply);
}

/* A local account (in /etc/passwd, uid >= minimum_uid) that local_accounts
 * does not list: decided in the module, its password never leaves it. */
static void test_local_account_ignored(void **state) {
        BEGIN();
        assert_non_null(getpwnam(LOCAL_NAME));
        check_ignored_everywhere("nt-main-probe", "main", LOCAL_NAME);
        /* The same with the daemon down: decided without it. */
        check_ignored_everywhere("nt-nodaemon-strict-probe", NULL, LOCAL_NAME);
}

/* The daemon refuses it too when asked directly (defence in depth). */
static void test_local_account_daemon_refuses(void **state) {
        char error[128];
        long before;

        BEGIN();
        before = requests_for(LOCAL_NAME "@example.com");
        daemon_call("main", NEOSTRA_METHOD_AUTHENTICATE,
                    json_pack("{s:s, s:s}", "user", LOCAL_NAME, "password", pt.canary), true,
                    error, sizeof(error));
        assert_string_equal(error, "NotOurUser");
        daemon_call("main", NEOSTRA_METHOD_CHECK_ACCOUNT, json_pack("{s:s}", "user", LOCAL_NAME), false,
                    error, sizeof(error));
        assert_string_equal(error, "NotOurUser");
        assert_int_equal(requests_for(LOCAL_NAME "@example.com"), before);
}

/* local_accounts = NAME opts that local account in: it is sent. */
static void test_local_account_listed_sent(void **state) {
        struct conv_log cl = { .password = pt.canary };
        long before;

        BEGIN();
        before = requests_for(PEER_NAME "@example.com");
        /* The mock does not know it: 401. */
        EXPECT("nt-main", PEER_NAME, &cl, AUTH(PAM_AUTH_ERR));
        assert_int_equal(cl.prompts, 1);
        assert_int_equal(requests_for(PEER_NAME "@example.com"), before + 1);
}

/* local_accounts = *: every local account, but never root or a system
 * account. */
static void test_local_accounts_star(void **state) {
        struct conv_log cl = { .password = pt.canary };
        struct passwd *pw;
        long before;

        BEGIN();
        before = requests_for(LOCAL_NAME "@example.com");
        EXPECT("nt-star", LOCAL_NAME, &cl, AUTH(PAM_AUTH_ERR));
        assert_int_equal(requests_for(LOCAL_NAME "@example.com"), before + 1);
        check_ignored_everywhere("nt-star-probe", "star", "root");
        pw = getpwnam("daemon");
        if (pw && pw->pw_uid < 1000)
                check_ignored_everywhere("nt-star-probe", "star", "daemon");
}

/* A name with '@' outside [users] domains (main: the template's
 * example.com): PAM_USER_UNKNOWN in auth, PAM_IGNORE elsewhere, never
 * sent, no prompt. */
static void test_foreign_domain_refused(void **state) {
        struct conv_log cl = { .password = pt.canary };
        struct conv_log probe = { .password = pt.canary };
        struct conv_log iuu = { .password = pt.canary };
        long before, decisions;

        BEGIN();
        before = signins();
        decisions = daemon_decisions("main");
        assert_true(decisions >= 0);
        EXPECT("nt-main", "mallory@elsewhere.example", &cl, AUTH(PAM_USER_UNKNOWN));
        assert_int_equal(cl.prompts, 0);
        EXPECT("nt-main-probe", "mallory@elsewhere.example", &probe, ACCOUNT(PROBE_IGNORED),
               SETCRED(PROBE_IGNORED), OPEN_SESSION(PROBE_IGNORED), CLOSE_SESSION(PROBE_IGNORED));
        EXPECT("nt-unknown-probe", "mallory@elsewhere.example", &iuu, AUTH(PROBE_IGNORED));
        /* A subdomain is another domain. */
        EXPECT("nt-main", "mallory@evil.example.com", &cl, AUTH(PAM_USER_UNKNOWN));
        assert_int_equal(cl.prompts, 0);
        assert_int_equal(signins(), before);
        assert_int_equal(requests_for("mallory@elsewhere.example"), 0);
        assert_int_equal(daemon_decisions("main"), decisions);
}

/* A name in the template's domain passes through as before. */
static void test_template_domain_accepted(void **state) {
        struct conv_log cl = { .password = pt.canary };
        long before;

        BEGIN();
        before = requests_for("bob@example.com");
        EXPECT("nt-main", "bob@example.com", &cl, AUTH(PAM_SUCCESS), ACCOUNT(PAM_SUCCESS));
        assert_int_equal(requests_for("bob@example.com"), before + 1);
}

/* [users] domains replaces the template's domain. */
static void test_domains_listed(void **state) {
        struct conv_log cl = { .password = pt.canary };
        long before;

        BEGIN();
        before = signins();
        EXPECT("nt-star", "bob@example.com", &cl, AUTH(PAM_USER_UNKNOWN));
        assert_int_equal(signins(), before);
        EXPECT("nt-star", "erin@partner.example", &cl, AUTH(PAM_AUTH_ERR));
        assert_int_equal(requests_for("erin@partner.example"), 1);
}

/* The daemon refuses a foreign domain itself: UserUnknown from
 * Authenticate, NotOurUser from CheckAccount, nothing sent. */
static void test_foreign_domain_daemon_refuses(void **state) {
        char error[128];
        long before;

        BEGIN();
        before = signins();
        daemon_call("main", NEOSTRA_METHOD_AUTHENTICATE,
                    json_pack("{s:s, s:s}", "user", "mallory@elsewhere.example", "password", pt.canary),
                    true, error, sizeof(error));
        assert_string_equal(error, "UserUnknown");
        daemon_call("main", NEOSTRA_METHOD_CHECK_ACCOUNT, json_pack("{s:s}", "user", "mallory@elsewhere.example"),
                    false, error, sizeof(error));
        assert_string_equal(error, "NotOurUser");
        assert_int_equal(signins(), before);
        assert_int_equal(requests_for("mallory@elsewhere.example"), 0);
}

/* ---- use_first_pass / try_first_pass --------------------------------------- */

static void test_use_first_pass_uses_stacked_token(void **state) {
        struct conv_log cl = { .password = NULL };
        struct conv_log wrong = { .password = NULL };

        BEGIN();
        assert_int_equal(setenv("PAM_AUTHTOK", pt.canary, 1), 0);
        EXPECT("nt-use-first-pass", "alice", &cl, AUTH(PAM_SUCCESS));
        assert_int_equal(cl.prompts, 0);

        assert_int_equal(setenv("PAM_AUTHTOK", "not-the-password", 1), 0);
        EXPECT("nt-use-first-pass", "alice", &wrong, AUTH(PAM_AUTH_ERR));
        assert_int_equal(wrong.prompts, 0);
}

static void test_use_first_pass_without_token(void **state) {
        struct conv_log cl = { .password = pt.canary };
        long before;

        BEGIN();
        unsetenv("PAM_AUTHTOK");
        before = signins();
        EXPECT("nt-use-first-pass", "alice", &cl, AUTH(PAM_AUTH_ERR));
        assert_int_equal(cl.prompts, 0);
        assert_int_equal(signins(), before);
}

static void test_try_first_pass_uses_stacked_token(void **state) {
        struct conv_log cl = { .password = NULL };

        BEGIN();
        assert_int_equal(setenv("PAM_AUTHTOK", pt.canary, 1), 0);
        EXPECT("nt-try-first-pass", "alice", &cl, AUTH(PAM_SUCCESS));
        assert_int_equal(cl.prompts, 0);
}

static void test_try_first_pass_prompts_without_token(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        unsetenv("PAM_AUTHTOK");
        EXPECT("nt-try-first-pass", "alice", &cl, AUTH(PAM_SUCCESS));
        assert_int_equal(cl.prompts, 1);
}

/* ---- daemon and API failures -------------------------------------------------- */

static uint64_t timed(const char *service, const char *user, int expected) {
        struct conv_log cl = { .password = pt.canary };
        uint64_t t0 = pt_now_ms(), ms;

        EXPECT(service, user, &cl, AUTH(expected));
        ms = pt_now_ms() - t0;
        print_message("    %s for %s on %s after %llu ms\n", pt_pam_name(expected), user, service,
                      (unsigned long long) ms);
        return ms;
}

static void test_daemon_down(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        assert_true(timed("nt-nodaemon", "alice", PAM_AUTHINFO_UNAVAIL) < 1000);
        EXPECT("nt-nodaemon", "alice", &cl, ACCOUNT(PAM_AUTHINFO_UNAVAIL));
}

/* setcred and the session hooks never fail a user they cannot ask about:
 * the daemon is down, so alice (no local account) cannot be checked. */
static void test_setcred_session_daemon_down(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        EXPECT("nt-nodaemon-strict-probe", "alice", &cl, SETCRED(PROBE_IGNORED), OPEN_SESSION(PROBE_IGNORED),
               CLOSE_SESSION(PROBE_IGNORED));
        EXPECT("nt-nodaemon-strict-probe", "alice", &cl, AUTH(PAM_AUTHINFO_UNAVAIL));
        EXPECT("nt-nodaemon-strict-probe", "alice", &cl, ACCOUNT(PAM_AUTHINFO_UNAVAIL));
}

static void test_daemon_down_ignored(void **state) {
        BEGIN();
        assert_true(timed("nt-nodaemon-probe", "alice", PROBE_IGNORED) < 1000);
}

static void test_api_down(void **state) {
        BEGIN();
        assert_true(timed("nt-apidown", "alice", PAM_AUTHINFO_UNAVAIL) < 1000);
}

static void test_api_slow_past_timeout(void **state) {
        uint64_t ms;

        BEGIN();
        /* slow answers after 5 s; main's [api] timeout is 2 s. */
        ms = timed("nt-main", "slow", PAM_AUTHINFO_UNAVAIL);
        assert_true(ms >= 1800);
        assert_true(ms < 4000);
}

static void test_api_500(void **state) {
        BEGIN();
        timed("nt-main", "broken", PAM_AUTHINFO_UNAVAIL);
}

static void test_api_inner_401(void **state) {
        BEGIN();
        timed("nt-main", "inner", PAM_AUTH_ERR);
}

static void test_api_malformed_json(void **state) {
        BEGIN();
        timed("nt-main", "garbage", PAM_AUTHINFO_UNAVAIL);
}

static void test_api_wrong_email(void **state) {
        BEGIN();
        timed("nt-main", "imposter", PAM_AUTHINFO_UNAVAIL);
}

static void test_https_right_ca(void **state) {
        BEGIN();
        timed("nt-https-ca", "alice", PAM_SUCCESS);
}

static void test_https_wrong_ca(void **state) {
        BEGIN();
        timed("nt-https-wrongca", "alice", PAM_AUTHINFO_UNAVAIL);
}

static void test_https_wrong_pin(void **state) {
        BEGIN();
        timed("nt-https-wrongpin", "alice", PAM_AUTHINFO_UNAVAIL);
}

static void test_https_right_pin(void **state) {
        BEGIN();
        timed("nt-https-pin", "alice", PAM_SUCCESS);
}

/* ---- account management ------------------------------------------------------ */

static void test_role_not_allowed(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        EXPECT("nt-main", "carol", &cl, AUTH(PAM_SUCCESS), ACCOUNT(PAM_PERM_DENIED));
        assert_true(cl.n_errors >= 1);
        print_message("    told carol: \"%s\"\n", cl.errors[0]);
        /* The reason names the role that is not allowed. */
        assert_true(any_message_contains(cl.errors, cl.n_errors, "guest"));
}

static void test_module_allow_roles_narrows(void **state) {
        struct conv_log bob = { .password = pt.canary };
        struct conv_log alice = { .password = pt.canary };

        BEGIN();
        /* bob's dev is allowed by the daemon, not by this service. */
        EXPECT("nt-narrow", "bob", &bob, AUTH(PAM_SUCCESS), ACCOUNT(PAM_PERM_DENIED));
        assert_true(bob.n_errors >= 1);
        print_message("    told bob: \"%s\"\n", bob.errors[0]);
        EXPECT("nt-narrow", "alice", &alice, AUTH(PAM_SUCCESS), ACCOUNT(PAM_SUCCESS));
        assert_int_equal(alice.n_errors, 0);
}

static void test_account_never_seen(void **state) {
        struct conv_log cl = { .password = NULL };

        BEGIN();
        EXPECT("nt-main", "neverseen", &cl, ACCOUNT(PAM_USER_UNKNOWN));
}

/* ---- setcred ------------------------------------------------------------------ */

#define GROUPS_MAX 256

struct setcred_result {
        int err;
        int rv[3];
        int n;
        gid_t gids[GROUPS_MAX];
};

/* What a handle has done before setcred. */
enum setcred_mode {
        SETCRED_AFTER_ACCOUNT,  /* auth and account management */
        SETCRED_AFTER_AUTH,     /* auth only, as a screen locker does */
        SETCRED_ALONE,          /* nothing: sshd calls setcred in another process than auth */
};

/* In a child, so that the test process keeps its own groups; arg points
 * to an enum setcred_mode. */
static void setcred_child(void *arg, int fd) {
        struct conv_log cl = { .password = pt.canary };
        struct pam_testcase with_account[] = {
                AUTH(PAM_SUCCESS),
                ACCOUNT(PAM_SUCCESS),
                pam_test_flags(PAMTEST_SETCRED, PAM_SUCCESS, PAM_ESTABLISH_CRED),
        };
        struct pam_testcase without_account[] = {
                AUTH(PAM_SUCCESS),
                pam_test_flags(PAMTEST_SETCRED, PAM_SUCCESS, PAM_ESTABLISH_CRED),
        };
        struct pam_testcase alone[] = {
                pam_test_flags(PAMTEST_SETCRED, PAM_SUCCESS, PAM_ESTABLISH_CRED),
        };
        enum setcred_mode mode = *(const enum setcred_mode *) arg;
        struct pam_testcase *cases = mode == SETCRED_AFTER_ACCOUNT ? with_account
                                     : mode == SETCRED_AFTER_AUTH ? without_account : alone;
        size_t n = mode == SETCRED_AFTER_ACCOUNT ? ELEMENTS(with_account)
                   : mode == SETCRED_AFTER_AUTH ? ELEMENTS(without_account) : ELEMENTS(alone);
        struct setcred_result res = { .n = -1 };

        res.err = pt_run("nt-main", "alice", &cl, cases, n);
        for (size_t i = 0; i < n; i++)
                res.rv[i] = cases[i].op_rv;
        res.n = getgroups(GROUPS_MAX, res.gids);
        (void) pt_write_all(fd, &res, sizeof(res));
}

static bool has_gid(const struct setcred_result *r, gid_t g) {
        for (int i = 0; i < r->n; i++)
                if (r->gids[i] == g)
                        return true;
        return false;
}

static gid_t gid_of(const char *name) {
        struct group *gr = getgrnam(name);

        if (!gr)
                fail_msg("local group %s is missing", name);
        return gr->gr_gid;
}

static void check_setcred_groups(enum setcred_mode mode) {
        static enum setcred_mode modes[] = { SETCRED_AFTER_ACCOUNT, SETCRED_AFTER_AUTH, SETCRED_ALONE };
        struct setcred_result res;
        gid_t before[GROUPS_MAX], after[GROUPS_MAX];
        int n_before, n_after, fd, r, status;
        pid_t pid;

        n_before = getgroups(GROUPS_MAX, before);
        assert_true(n_before >= 0);
        assert_int_equal(pt_spawn(setcred_child, &modes[mode], &pid, &fd), 0);
        r = pt_read_all(fd, &res, sizeof(res), pt_now_ms() + 15000);
        close(fd);
        status = pt_reap(pid, pt_now_ms() + 5000);
        assert_int_equal(r, 0);
        assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        if (res.err != PAMTEST_ERR_OK)
                fail_msg("in the child: %s; results: %s, %s, %s", pamtest_strerror(res.err),
                         pt_pam_name(res.rv[0]), mode != SETCRED_ALONE ? pt_pam_name(res.rv[1]) : "-",
                         mode == SETCRED_AFTER_ACCOUNT ? pt_pam_name(res.rv[2]) : "-");
        assert_true(res.n >= 0);
        print_message("    groups after setcred:");
        for (int i = 0; i < res.n; i++)
                print_message(" %u", (unsigned) res.gids[i]);
        print_message("\n");
        /* alice has admin and dev: adm and users; music (audio) is not hers,
         * video is mapped from no role. */
        assert_true(has_gid(&res, gid_of("adm")));
        assert_true(has_gid(&res, gid_of("users")));
        assert_false(has_gid(&res, gid_of("audio")));
        assert_false(has_gid(&res, gid_of("video")));

        /* The test process itself kept its groups. */
        n_after = getgroups(GROUPS_MAX, after);
        assert_int_equal(n_after, n_before);
        assert_memory_equal(after, before, (size_t) n_before * sizeof(gid_t));
}

static void test_setcred_groups(void **state) {
        BEGIN();
        check_setcred_groups(SETCRED_AFTER_ACCOUNT);
}

/* No account management in the handle (a screen locker): setcred asks. */
static void test_setcred_groups_without_account(void **state) {
        BEGIN();
        check_setcred_groups(SETCRED_AFTER_AUTH);
}

/* Nothing in the handle (sshd's setcred runs in another process than its
 * auth): setcred asks, and alice, who signed in before, gets her groups. */
static void test_setcred_groups_alone(void **state) {
        BEGIN();
        check_setcred_groups(SETCRED_ALONE);
}

/* ---- sessions and passwords ----------------------------------------------------- */

static void test_session_open_close(void **state) {
        struct conv_log cl = { .password = NULL };

        BEGIN();
        EXPECT("nt-main", "alice", &cl, pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),
               pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS));
}

static void test_chauthtok_api_user(void **state) {
        struct conv_log cl = { .password = pt.canary };

        BEGIN();
        EXPECT("nt-main", "alice", &cl, AUTH(PAM_SUCCESS), CHAUTHTOK(PAM_AUTHTOK_ERR));
        assert_true(cl.n_errors >= 1);
        print_message("    told alice: \"%s\"\n", cl.errors[0]);
        assert_true(any_message_contains(cl.errors, cl.n_errors, "Neostra"));
}

static void test_chauthtok_local_user_ignored(void **state) {
        struct conv_log cl = { .password = NULL };

        BEGIN();
        EXPECT("nt-main-probe", "root", &cl, CHAUTHTOK(PROBE_IGNORED));
        assert_int_equal(cl.prompts, 0);
}

/* ---- the daemon does not block ---------------------------------------------------- */

#define PARALLEL_LOGINS 20

struct slow_result {
        int err, rv;
        uint64_t ms;
};

static void slow_child(void *arg, int fd) {
        struct conv_log cl = { .password = pt.canary };
        struct pam_testcase cases[] = { AUTH(PAM_SUCCESS) };
        struct slow_result res;
        uint64_t t0 = pt_now_ms();

        res.err = pt_run("nt-slow", "slow", &cl, cases, ELEMENTS(cases));
        res.rv = cases[0].op_rv;
        res.ms = pt_now_ms() - t0;
        (void) pt_write_all(fd, &res, sizeof(res));
}

struct login_thread {
        pthread_t thread;
        int err, rv;
};

static void *login_thread(void *arg) {
        struct login_thread *t = arg;
        struct conv_log cl = { .password = pt.canary };
        struct pam_testcase cases[] = { AUTH(PAM_SUCCESS) };

        t->err = pt_run("nt-slow", "alice", &cl, cases, ELEMENTS(cases));
        t->rv = cases[0].op_rv;
        return NULL;
}

static bool slow_request_seen(long before) {
        return pt_mock_requests_for("slow@example.com", NULL) > before;
}

static void test_daemon_does_not_block(void **state) {
        struct login_thread threads[PARALLEL_LOGINS];
        struct slow_result res;
        struct pollfd pfd;
        uint64_t deadline, t0, ms;
        long before, alice_before;
        int fd, r, status, ok = 0;
        bool pending;
        pid_t pid;

        BEGIN();
        alice_before = requests_for("alice@example.com");
        before = requests_for("slow@example.com");
        assert_int_equal(pt_spawn(slow_child, NULL, &pid, &fd), 0);

        /* The slow login is in flight once the mock has its request. */
        deadline = pt_now_ms() + 5000;
        while (!slow_request_seen(before) && pt_now_ms() < deadline)
                poll(NULL, 0, 10);
        if (!slow_request_seen(before)) {
                close(fd);
                pt_reap(pid, pt_now_ms());
                fail_msg("the slow login never reached the mock API");
        }

        t0 = pt_now_ms();
        for (int i = 0; i < PARALLEL_LOGINS; i++)
                assert_int_equal(pthread_create(&threads[i].thread, NULL, login_thread, &threads[i]), 0);
        for (int i = 0; i < PARALLEL_LOGINS; i++)
                pthread_join(threads[i].thread, NULL);
        ms = pt_now_ms() - t0;

        pfd = (struct pollfd) { .fd = fd, .events = POLLIN };
        pending = waitpid(pid, &status, WNOHANG) == 0 && poll(&pfd, 1, 0) == 0;

        for (int i = 0; i < PARALLEL_LOGINS; i++)
                ok += threads[i].err == PAMTEST_ERR_OK && threads[i].rv == PAM_SUCCESS;
        print_message("    %d parallel logins: %d succeeded in %llu ms in total; slow login %s\n",
                      PARALLEL_LOGINS, ok, (unsigned long long) ms,
                      pending ? "still pending" : "already over");

        r = pt_read_all(fd, &res, sizeof(res), pt_now_ms() + 15000);
        close(fd);
        status = pt_reap(pid, pt_now_ms() + 5000);

        assert_int_equal(ok, PARALLEL_LOGINS);
        /* Each of them went all the way to the API. */
        assert_int_equal(requests_for("alice@example.com"), alice_before + PARALLEL_LOGINS);
        assert_true(ms < 1500);
        assert_true(pending);
        assert_int_equal(r, 0);
        assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        print_message("    slow login: %s after %llu ms\n", pt_pam_name(res.rv), (unsigned long long) res.ms);
        assert_int_equal(res.err, PAMTEST_ERR_OK);
        assert_int_equal(res.rv, PAM_SUCCESS);
        assert_true(res.ms >= 4500);
}

/* ---- who may ask the daemon ------------------------------------------------------ */

#define PEER_CALLS 8

struct peer_result {
        int setup;                      /* 0, or the errno of dropping privileges */
        int r[PEER_CALLS];              /* neostra_client_call_once() */
        char error[PEER_CALLS][128];    /* short error name, "" for a reply */
};

static void peer_call(struct peer_result *res, int i, const char *method, json_t *params) {
        char path[PATH_MAX], *error = NULL;
        json_t *reply = NULL;

        res->r[i] = neostra_client_call_once(pt_socket("main", path, sizeof(path)), method, params,
                                             true, neostra_deadline_ms(10000), &error, &reply);
        snprintf(res->error[i], sizeof(res->error[i]), "%s", error ? neostra_error_short(error) : "");
        free(error);
        json_decref(reply);
}

static void peer_child(void *arg, int fd) {
        struct peer_result res = {};

        if (setgroups(0, NULL) < 0 || setgid(PEER_UID) < 0 || setuid(PEER_UID) < 0 ||
            getuid() != PEER_UID || geteuid() != PEER_UID) {
                res.setup = errno ? errno : EPERM;
                (void) pt_write_all(fd, &res, sizeof(res));
                return;
        }
        /* Someone else's account: refused before any rate limiting. */
        peer_call(&res, 0, NEOSTRA_METHOD_AUTHENTICATE,
                  json_pack("{s:s, s:s}", "user", "alice", "password", "not-the-password"));
        peer_call(&res, 1, NEOSTRA_METHOD_CHECK_ACCOUNT, json_pack("{s:s}", "user", "alice"));
        /* Its own account: five attempts, then rate limited. */
        for (int i = 2; i < PEER_CALLS; i++)
                peer_call(&res, i, NEOSTRA_METHOD_AUTHENTICATE,
                          json_pack("{s:s, s:s}", "user", PEER_NAME, "password", "not-the-password"));
        (void) pt_write_all(fd, &res, sizeof(res));
}

static void test_peer_credentials(void **state) {
        struct peer_result res;
        char path[PATH_MAX], *error = NULL;
        json_t *reply = NULL;
        int fd, r, status;
        pid_t pid;
        struct passwd *pw;

        BEGIN();
        pw = getpwuid(PEER_UID);
        assert_non_null(pw);
        assert_string_equal(pw->pw_name, PEER_NAME);
        assert_int_equal(pt_spawn(peer_child, NULL, &pid, &fd), 0);
        r = pt_read_all(fd, &res, sizeof(res), pt_now_ms() + 30000);
        close(fd);
        status = pt_reap(pid, pt_now_ms() + 5000);
        assert_int_equal(r, 0);
        assert_true(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(res.setup, 0);

        for (int i = 0; i < PEER_CALLS; i++)
                print_message("    as " PEER_NAME ", call %d: %s\n", i,
                              res.r[i] < 0 ? strerror(-res.r[i]) : res.error[i][0] ? res.error[i] : "reply");
        for (int i = 0; i < PEER_CALLS; i++)
                assert_int_equal(res.r[i], 0);
        assert_string_equal(res.error[0], "PermissionDenied");
        assert_string_equal(res.error[1], "PermissionDenied");
        for (int i = 2; i < 7; i++)
                assert_string_equal(res.error[i], "AuthenticationFailed");
        assert_string_equal(res.error[7], "RateLimited");

        /* Root may ask about anyone, and is never rate limited. */
        for (int i = 0; i < 7; i++) {
                r = neostra_client_call_once(pt_socket("main", path, sizeof(path)), NEOSTRA_METHOD_AUTHENTICATE,
                                             json_pack("{s:s, s:s}", "user", "bob", "password", "not-the-password"),
                                             true, neostra_deadline_ms(10000), &error, &reply);
                json_decref(reply);
                reply = NULL;
                assert_int_equal(r, 0);
                assert_non_null(error);
                assert_string_equal(neostra_error_short(error), "AuthenticationFailed");
                free(error);
                error = NULL;
        }
        r = neostra_client_call_once(pt_socket("main", path, sizeof(path)), NEOSTRA_METHOD_AUTHENTICATE,
                                     json_pack("{s:s, s:s}", "user", "bob", "password", pt.canary),
                                     true, neostra_deadline_ms(10000), &error, &reply);
        assert_int_equal(r, 0);
        assert_null(error);
        json_decref(reply);
        reply = NULL;
        r = neostra_client_call_once(pt_socket("main", path, sizeof(path)), NEOSTRA_METHOD_CHECK_ACCOUNT,
                                     json_pack("{s:s}", "user", "bob"), false, neostra_deadline_ms(10000),
                                     &error, &reply);
        assert_int_equal(r, 0);
        assert_null(error);
        assert_true(json_is_true(json_object_get(reply, "allowed")));
        json_decref(reply);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success_then_account),
                cmocka_unit_test(test_wrong_password),
                cmocka_unit_test(test_empty_password_not_sent),
                cmocka_unit_test(test_unknown_email_refused),
                cmocka_unit_test(test_api_404_user_unknown),
                cmocka_unit_test(test_probe_control),
                cmocka_unit_test(test_api_404_ignored),
                cmocka_unit_test(test_root_ignored),
                cmocka_unit_test(test_system_user_ignored),
                cmocka_unit_test(test_excluded_name_ignored),
                cmocka_unit_test(test_local_account_ignored),
                cmocka_unit_test(test_local_account_daemon_refuses),
                cmocka_unit_test(test_local_account_listed_sent),
                cmocka_unit_test(test_local_accounts_star),
                cmocka_unit_test(test_foreign_domain_refused),
                cmocka_unit_test(test_template_domain_accepted),
                cmocka_unit_test(test_domains_listed),
                cmocka_unit_test(test_foreign_domain_daemon_refuses),
                cmocka_unit_test_teardown(test_use_first_pass_uses_stacked_token, unset_authtok),
                cmocka_unit_test_teardown(test_use_first_pass_without_token, unset_authtok),
                cmocka_unit_test_teardown(test_try_first_pass_uses_stacked_token, unset_authtok),
                cmocka_unit_test_teardown(test_try_first_pass_prompts_without_token, unset_authtok),
                cmocka_unit_test(test_daemon_down),
                cmocka_unit_test(test_daemon_down_ignored),
                cmocka_unit_test(test_setcred_session_daemon_down),
                cmocka_unit_test(test_api_down),
                cmocka_unit_test(test_api_slow_past_timeout),
                cmocka_unit_test(test_api_500),
                cmocka_unit_test(test_api_inner_401),
                cmocka_unit_test(test_api_malformed_json),
                cmocka_unit_test(test_api_wrong_email),
                cmocka_unit_test(test_https_right_ca),
                cmocka_unit_test(test_https_wrong_ca),
                cmocka_unit_test(test_https_wrong_pin),
                cmocka_unit_test(test_https_right_pin),
                cmocka_unit_test(test_role_not_allowed),
                cmocka_unit_test(test_module_allow_roles_narrows),
                cmocka_unit_test(test_account_never_seen),
                cmocka_unit_test(test_setcred_groups),
                cmocka_unit_test(test_setcred_groups_without_account),
                cmocka_unit_test(test_setcred_groups_alone),
                cmocka_unit_test(test_session_open_close),
                cmocka_unit_test(test_chauthtok_api_user),
                cmocka_unit_test(test_chauthtok_local_user_ignored),
                cmocka_unit_test(test_daemon_does_not_block),
                cmocka_unit_test(test_peer_credentials),
        };

        if (pt_env_load(&not_ready) == 0)
                not_ready = NULL;
        /* Children report over pipes; a reader that went away must not
         * kill a child with SIGPIPE before it exits cleanly. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests_name("pam_neostra", tests, NULL, NULL);
}
