/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor's PAM checks (neostrad/doctor-pam.c) on stacks written
 * to a private directory: the README's stacks pass, and each way of
 * getting a stack wrong fails the check that names it, whatever syntax
 * says it (keywords, [value=action], jumps, @include, include, substack).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "doctor-internal.h"

struct fixture {
        char dir[64];
        char stacks[96];
        char profiles[96];
        json_t *checks;         /* the last run's checks, by "check" */
};

static void put(const struct fixture *f, const char *sub, const char *name, const char *text) {
        char path[256];
        FILE *fp;

        snprintf(path, sizeof(path), "%s/%s", sub, name);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fputs(text, fp);
        assert_int_equal(fclose(fp), 0);
}

static void clear(const struct fixture *f) {
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "rm -f %s/* %s/*", f->stacks, f->profiles);
        assert_int_equal(system(cmd), 0);
}

/* Run the checks; the verdicts land in f->checks. */
static void run(struct fixture *f) {
        struct doctor_ctx d = { .section = "pam" };
        char buf[65536];
        size_t len = 0;
        ssize_t k;
        int p[2];
        char *line, *save = NULL;

        assert_int_equal(pipe(p), 0);
        d.out_fd = p[1];
        doctor_check_pam_in(&d, f->stacks, f->profiles);
        close(p[1]);
        while ((k = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t) k;
        close(p[0]);
        buf[len] = '\0';
        json_decref(f->checks);
        f->checks = json_object();
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_t *j = json_loads(line, 0, NULL);

                assert_non_null(j);
                json_object_set_new(f->checks, json_string_value(json_object_get(j, "check")), j);
        }
}

static const char *status(const struct fixture *f, const char *check) {
        json_t *c = json_object_get(f->checks, check);

        return c ? json_string_value(json_object_get(c, "status")) : "missing";
}

static const char *found(const struct fixture *f, const char *check) {
        json_t *c = json_object_get(f->checks, check);

        return c ? json_string_value(json_object_get(c, "found")) : "";
}

/* Only the checks named fail (NULL-terminated), every other one passes
 * or does not apply. */
static void expect_failed(const struct fixture *f, ...) {
        const char *key;
        json_t *c;
        va_list ap;
        size_t want = 0, got = 0;

        va_start(ap, f);
        for (const char *name; (name = va_arg(ap, const char *)); want++)
                if (strcmp(status(f, name), "fail") != 0) {
                        print_error("%s is %s, expected fail\n", name, status(f, name));
                        fail();
                }
        va_end(ap);
        json_object_foreach(f->checks, key, c)
                if (strcmp(json_string_value(json_object_get(c, "status")), "fail") == 0) {
                        got++;
                        print_message("failed: %s: %.300s\n", key, json_string_value(json_object_get(c, "found")));
                }
        if (got != want) {
                print_error("%zu checks failed, expected %zu\n", got, want);
                fail();
        }
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-doctor-pam-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->stacks, sizeof(f->stacks), "%s/pam.d", f->dir);
        snprintf(f->profiles, sizeof(f->profiles), "%s/pam-configs", f->dir);
        assert_int_equal(mkdir(f->stacks, 0700), 0);
        assert_int_equal(mkdir(f->profiles, 0700), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
        json_decref(f->checks);
        free(f);
        return 0;
}

/* The README's Debian stacks (the common-*.example files in packaging/pam). */
static const char common_auth[] =
        "# comment\n"
        "auth    [success=2 default=ignore]                                      pam_unix.so nullok\n"
        "auth    [success=1 authinfo_unavail=ignore ignore=ignore default=die]   pam_neostra.so use_first_pass\n"
        "auth    requisite                                                       pam_deny.so\n"
        "auth    required                                                        pam_permit.so\n"
        "auth    optional                                                        pam_neostra.so setcred_only\n";
static const char common_account[] =
        "account [success=1 new_authtok_reqd=done default=ignore]   pam_unix.so\n"
        "account requisite                                          pam_deny.so\n"
        "account required                                           pam_permit.so\n"
        "account [success=ok ignore=ignore default=bad]             pam_neostra.so\n";
static const char sshd_debian[] =
        "@include common-auth\n"
        "account    required     pam_nologin.so\n"
        "@include common-account\n"
        "session [success=ok ignore=ignore module_unknown=ignore default=bad] pam_selinux.so close\n"
        "session optional pam_neostra.so\n";
static const char profile[] =
        "Name: Neostra accounts\n"
        "Default: yes\n"
        "Priority: 128\n"
        "Auth-Type: Primary\n"
        "Auth-Initial:\n"
        "\t[success=end authinfo_unavail=ignore ignore=ignore default=die]\tpam_neostra.so\n"
        "Auth:\n"
        "\t[success=end authinfo_unavail=ignore ignore=ignore default=die]\tpam_neostra.so use_first_pass\n"
        "Account-Type: Additional\n"
        "Account:\n"
        "\t[success=ok ignore=ignore user_unknown=ignore authinfo_unavail=ignore default=bad]\tpam_neostra.so\n";

static void debian(struct fixture *f, const char *auth, const char *account) {
        clear(f);
        put(f, f->stacks, "common-auth", auth);
        put(f, f->stacks, "common-account", account);
        put(f, f->stacks, "sshd", sshd_debian);
        put(f, f->profiles, "neostra", profile);
}

static void test_readme_stacks_pass(void **state) {
        struct fixture *f = *state;

        debian(f, common_auth, common_account);
        run(f);
        expect_failed(f, NULL);
        assert_string_equal(status(f, "present"), "ok");
        assert_string_equal(status(f, "setcred"), "ok");
        assert_string_equal(status(f, "profile"), "ok");
        assert_non_null(strstr(found(f, "present"), "common-auth, common-account, sshd"));
}

/* The himmelblau trap, in the stack and in the profile. */
static void test_account_default_ignore(void **state) {
        struct fixture *f = *state;
        char bad_profile[sizeof(profile) + 16], *p;

        debian(f, common_auth, "account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\n"
                               "account requisite pam_deny.so\n"
                               "account required pam_permit.so\n"
                               "account [success=ok default=ignore] pam_neostra.so\n");
        run(f);
        expect_failed(f, "account-final", NULL);
        assert_non_null(strstr(found(f, "account-final"), "common-account:4"));
        assert_non_null(strstr(found(f, "account-final"), "perm_denied to ignore"));

        /* "optional" says the same in a keyword. */
        debian(f, common_auth, "account required pam_unix.so\naccount optional pam_neostra.so\n");
        run(f);
        expect_failed(f, "account-final", NULL);

        snprintf(bad_profile, sizeof(bad_profile), "%s", profile);
        p = strstr(bad_profile, "default=bad");
        assert_non_null(p);
        memcpy(p, "default=ok ", 11);
        debian(f, common_auth, common_account);
        put(f, f->profiles, "neostra", bad_profile);
        run(f);
        expect_failed(f, "profile", NULL);
}

static void test_local_users_locked_out(void **state) {
        struct fixture *f = *state;

        /* pam_neostra first, and a dead daemon ends the stack. */
        debian(f, "auth [success=done ignore=ignore default=die] pam_neostra.so\n"
                  "auth required pam_unix.so try_first_pass\n", common_account);
        run(f);
        expect_failed(f, "local-safe", NULL);
        assert_non_null(strstr(found(f, "local-safe"), "authinfo_unavail to die"));

        /* The README's variant of it is fine. */
        debian(f, "auth [success=done authinfo_unavail=ignore ignore=ignore user_unknown=ignore default=die] "
                  "pam_neostra.so\n"
                  "auth [success=1 default=ignore] pam_unix.so try_first_pass\n"
                  "auth requisite pam_deny.so\n"
                  "auth required pam_permit.so\n", common_account);
        run(f);
        expect_failed(f, NULL);

        /* An account line that refuses what it ignores. */
        debian(f, common_auth, "account required pam_unix.so\n"
                               "account [success=ok default=bad] pam_neostra.so\n");
        run(f);
        expect_failed(f, "local-safe", NULL);
}

static void test_fail_open(void **state) {
        struct fixture *f = *state;

        /* sufficient pam_neostra, then nothing that refuses. */
        debian(f, "auth sufficient pam_unix.so\n"
                  "auth sufficient pam_neostra.so use_first_pass\n"
                  "auth optional pam_permit.so\n"
                  "auth optional pam_neostra.so setcred_only\n", common_account);
        run(f);
        /* And a key login's setcred ends at the sufficient pam_unix. */
        expect_failed(f, "fail-closed", "setcred", NULL);
}

static void test_never_reached(void **state) {
        struct fixture *f = *state;

        /* pam_deny ends the stack before pam_neostra is asked. */
        debian(f, "auth [success=1 default=ignore] pam_unix.so\n"
                  "auth requisite pam_deny.so\n"
                  "auth required pam_permit.so\n"
                  "auth [success=done authinfo_unavail=ignore ignore=ignore default=die] pam_neostra.so use_first_pass\n",
               common_account);
        run(f);
        expect_failed(f, "present", NULL);
        assert_non_null(strstr(found(f, "present"), "never reached"));

        /* Not in account at all. */
        debian(f, common_auth, "account required pam_unix.so\n");
        run(f);
        expect_failed(f, "present", NULL);
}

static void test_setcred_for_key_logins(void **state) {
        struct fixture *f = *state;
        char auth[sizeof(common_auth)], *p;

        /* Without the setcred_only line, pam_unix's success=2 jumps past
         * pam_neostra when sshd calls pam_setcred after a key login. */
        snprintf(auth, sizeof(auth), "%s", common_auth);
        p = strstr(auth, "auth    optional");
        assert_non_null(p);
        *p = '\0';
        debian(f, auth, common_account);
        run(f);
        expect_failed(f, "setcred", NULL);
        assert_non_null(strstr(found(f, "setcred"), "sshd"));
}

static void test_first_pass(void **state) {
        struct fixture *f = *state;

        /* A second prompt after pam_unix. */
        debian(f, "auth [success=2 default=ignore] pam_unix.so\n"
                  "auth [success=1 authinfo_unavail=ignore ignore=ignore default=die] pam_neostra.so\n"
                  "auth requisite pam_deny.so\n"
                  "auth required pam_permit.so\n"
                  "auth optional pam_neostra.so setcred_only\n", common_account);
        run(f);
        expect_failed(f, "first-pass", NULL);
        assert_non_null(strstr(found(f, "first-pass"), "second time"));

        /* use_first_pass with nothing before it. */
        debian(f, "auth [success=done authinfo_unavail=ignore ignore=ignore user_unknown=ignore default=die] "
                  "pam_neostra.so use_first_pass\n"
                  "auth required pam_unix.so try_first_pass\n", common_account);
        run(f);
        expect_failed(f, "first-pass", NULL);
}

/* RHEL's layout: substack and include, continuation lines, "-" types. */
static void test_rhel_substack(void **state) {
        struct fixture *f = *state;

        clear(f);
        put(f, f->stacks, "password-auth",
            "auth        required      pam_env.so\n"
            "-auth       optional      pam_faildelay.so \\\n"
            "                          delay=2000000\n"
            "auth        sufficient    pam_unix.so try_first_pass nullok\n"
            "auth        [success=done authinfo_unavail=ignore ignore=ignore default=die] pam_neostra.so use_first_pass\n"
            "auth        required      pam_deny.so\n"
            "account     required      pam_unix.so\n"
            "account     [success=ok ignore=ignore default=bad] pam_neostra.so\n");
        put(f, f->stacks, "sshd",
            "auth       substack     password-auth\n"
            "account    include      password-auth\n");
        run(f);
        /* A key login's setcred: pam_unix is sufficient and ends it first. */
        expect_failed(f, "setcred", NULL);
        assert_string_equal(status(f, "account-final"), "ok");
        assert_string_equal(status(f, "local-safe"), "ok");
        assert_non_null(strstr(found(f, "present"), "password-auth, sshd"));
}

static void test_broken_files(void **state) {
        struct fixture *f = *state;

        debian(f, common_auth, common_account);
        put(f, f->stacks, "sshd", "@include common-missing\n");
        run(f);
        assert_string_equal(status(f, "sshd"), "fail");
        assert_non_null(strstr(found(f, "sshd"), "common-missing"));

        /* An include loop ends at the depth limit. */
        put(f, f->stacks, "sshd", "@include sshd\n");
        run(f);
        assert_string_equal(status(f, "sshd"), "fail");

        debian(f, common_auth, common_account);
        put(f, f->stacks, "sshd", "auth [success=1 default=ignore pam_unix.so\n");
        run(f);
        assert_string_equal(status(f, "sshd"), "fail");

        clear(f);
        put(f, f->stacks, "common-auth", "auth required pam_unix.so\n");
        run(f);
        expect_failed(f, "present", NULL);
        assert_string_equal(status(f, "profile"), "skip");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_readme_stacks_pass, setup, teardown),
                cmocka_unit_test_setup_teardown(test_account_default_ignore, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_users_locked_out, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fail_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_never_reached, setup, teardown),
                cmocka_unit_test_setup_teardown(test_setcred_for_key_logins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_first_pass, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rhel_substack, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broken_files, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
