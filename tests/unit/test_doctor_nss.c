/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor's NSS checks (neostrad/doctor-nss.c) on nsswitch.conf
 * files of its own: systemd listed for passwd, group and shadow, and what
 * before it shadows it (a criterion that ends the lookup on NOTFOUND or
 * UNAVAIL, in every spelling glibc accepts) and what does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "doctor-internal.h"

static char path[] = "/tmp/test-doctor-nss-XXXXXX";

/* The status of each check after running on text, as "passwd=ok ...". */
static void run(const char *text, char *out, size_t size) {
        struct doctor_ctx d = { .section = "nss" };
        char buf[16384], *line, *save = NULL;
        size_t len = 0, o = 0;
        ssize_t k;
        FILE *f;
        int p[2];

        f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(pipe(p), 0);
        d.out_fd = p[1];
        doctor_check_nss_in(&d, path);
        close(p[1]);
        while ((k = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t) k;
        close(p[0]);
        buf[len] = '\0';
        out[0] = '\0';
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_t *j = json_loads(line, 0, NULL);
                const char *check, *status;

                assert_non_null(j);
                check = json_string_value(json_object_get(j, "check"));
                status = json_string_value(json_object_get(j, "status"));
                /* Whether this host has nss-systemd or a slow source is not
                 * the file's doing. */
                if (strcmp(check, "nss-systemd") != 0 && strcmp(check, "speed") != 0)
                        o += (size_t) snprintf(out + o, size - o, "%s%s=%s", o ? " " : "", check, status);
                json_decref(j);
        }
}

static void expect(const char *text, const char *want) {
        char got[512];

        run(text, got, sizeof(got));
        if (strcmp(got, want) != 0) {
                print_error("for:\n%swant: %s\ngot:  %s\n", text, want, got);
                fail();
        }
}

static void test_listed(void **state) {
        expect("passwd: files systemd\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=ok group=ok shadow=ok");
        /* Comments, tabs, case of criteria, merge, systemd first. */
        expect("# comment\npasswd:\tsystemd files\ngroup:   files [SUCCESS=merge] systemd # tail\n"
               "shadow: files [notfound=continue] systemd\n",
               "passwd=ok group=ok shadow=ok");
        /* A source after systemd may do what it likes. */
        expect("passwd: files systemd [NOTFOUND=return] ldap\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=ok group=ok shadow=ok");
}

static void test_missing(void **state) {
        expect("passwd: files\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=fail group=ok shadow=ok");
        expect("passwd: files systemd\ngroup: files systemd\n", "passwd=ok group=ok shadow=fail");
        /* "systemd-foo" or "mysystemd" is not systemd. */
        expect("passwd: files mysystemd\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=fail group=ok shadow=ok");
        /* A commented-out line does not count. */
        expect("#passwd: files systemd\npasswd: files\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=fail group=ok shadow=ok");
}

static void test_shadowed(void **state) {
        expect("passwd: files [NOTFOUND=return] systemd\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=fail group=ok shadow=ok");
        /* !SUCCESS includes NOTFOUND; !UNAVAIL too. */
        expect("passwd: files systemd\ngroup: sss [!SUCCESS=return] systemd\nshadow: files systemd\n",
               "passwd=ok group=fail shadow=ok");
        expect("passwd: files systemd\ngroup: files systemd\nshadow: ldap [!UNAVAIL=return] systemd\n",
               "passwd=ok group=ok shadow=fail");
        /* A source that is down ends the lookup. */
        expect("passwd: files sss [UNAVAIL=return] systemd\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=fail group=ok shadow=ok");
        /* [!NOTFOUND=return]: every status but NOTFOUND returns, UNAVAIL
         * among them. */
        expect("passwd: files [!NOTFOUND=return] systemd\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=fail group=ok shadow=ok");
        /* Set, then set back. */
        expect("passwd: files [NOTFOUND=return NOTFOUND=continue] systemd\ngroup: files systemd\n"
               "shadow: files systemd\n", "passwd=ok group=ok shadow=ok");
        /* TRYAGAIN=return alone is not shadowing here. */
        expect("passwd: files [TRYAGAIN=return] systemd\ngroup: files systemd\nshadow: files systemd\n",
               "passwd=ok group=ok shadow=ok");
}

static void test_userdb_off(void **state) {
        struct neostra_config *c = NULL;
        struct doctor_ctx d = { .section = "nss" };
        char buf[4096];
        ssize_t k;
        int p[2];

        assert_int_equal(neostra_config_new_default(&c), 0);
        c->userdb = false;
        d.config = c;
        assert_int_equal(pipe(p), 0);
        d.out_fd = p[1];
        doctor_check_nss_in(&d, "/nonexistent/nsswitch.conf");
        close(p[1]);
        k = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        assert_true(k > 0);
        buf[k] = '\0';
        assert_non_null(strstr(buf, "\"check\":\"userdb\",\"status\":\"skip\""));
        assert_null(strstr(buf, "\"fail\""));
        neostra_config_free(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_listed),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_shadowed),
                cmocka_unit_test(test_userdb_off),
        };
        int fd = mkstemp(path), r;

        if (fd < 0)
                return 1;
        close(fd);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        unlink(path);
        return r;
}
