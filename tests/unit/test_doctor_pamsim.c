/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor's PAM simulator (neostrad/doctor-pamsim.c) against
 * libpam itself.  Thousands of random stacks (keyword controls and
 * [value=action] with jumps, reset, done and die; substacks and @include)
 * are run both ways for random module answers: through the simulator,
 * and through the real libpam (pam_start_confdir on a private directory)
 * with pam_debug.so standing in for pam_unix, pam_neostra and any other
 * module and answering what the case says, and the real pam_permit and
 * pam_deny.  Both must give the same result, for authentication, account
 * management, pam_setcred with no authentication before it (sshd after a
 * key login) and opening a session.  The seed is fixed: a failure names
 * the case and shows the stack.
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

#include <security/pam_appl.h>

#include "doctor-pamsim.h"

#define CASES 3000

enum { M_UNIX, M_NEOSTRA, M_PERMIT, M_DENY, M_OTHER, M_SUBSTACK, M_INCLUDE, N_MODULES };

static uint64_t rng = 0x6e656f73747261ull;

static unsigned rnd(unsigned n) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (unsigned) (rng % n);
}

/* The answers a case gives pam_unix and pam_neostra. */
static const int answers[] = {
        PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_USER_UNKNOWN, PAM_IGNORE, PAM_PERM_DENIED,
};
#define N_ANSWERS (sizeof(answers) / sizeof(answers[0]))

static void random_control(char *buf, size_t size, unsigned lines_left) {
        static const char *const keywords[] = { "required", "requisite", "sufficient", "optional" };
        static const char *const values[] = { "success", "auth_err", "authinfo_unavail", "user_unknown",
                                              "ignore", "perm_denied", "default" };
        static const char *const actions[] = { "ok", "done", "bad", "die", "ignore", "reset" };
        size_t len;
        unsigned i, n;

        if (rnd(3) == 0) {
                snprintf(buf, size, "%s", keywords[rnd(4)]);
                return;
        }
        len = (size_t) snprintf(buf, size, "[");
        n = 1 + rnd(4);
        for (i = 0; i < n && len < size; i++) {
                const char *v = values[rnd(7)];

                /* A jump stays inside the stack, as libpam requires. */
                if (rnd(4) == 0 && lines_left > 0)
                        len += (size_t) snprintf(buf + len, size - len, "%s%s=%u", i ? " " : "", v,
                                                 1 + rnd(lines_left));
                else
                        len += (size_t) snprintf(buf + len, size - len, "%s%s=%s", i ? " " : "", v,
                                                 actions[rnd(6)]);
        }
        snprintf(buf + len, size - len, "]");
}

/* Append a random stack of type to sim (our module names) and real
 * (pam_debug answering the case's values); nested files get names
 * sub<depth>. */
static void random_stack(const char *dir, const char *name, const char *type, const char *arg, int unix_ret,
                         int neostra_ret, int depth) {
        char sim_path[256], real_path[256], control[256];
        FILE *sim, *real;
        unsigned n = 1 + rnd(6), i;

        snprintf(sim_path, sizeof(sim_path), "%s/sim/%s", dir, name);
        snprintf(real_path, sizeof(real_path), "%s/real/%s", dir, name);
        sim = fopen(sim_path, "w");
        real = fopen(real_path, "w");
        assert_non_null(sim);
        assert_non_null(real);
        for (i = 0; i < n; i++) {
                unsigned m = rnd(depth < 2 ? N_MODULES : M_SUBSTACK);
                char sub[32];

                random_control(control, sizeof(control), n - 1 - i);
                switch (m) {
                case M_UNIX:
                        fprintf(sim, "%s %s pam_unix.so\n", type, control);
                        fprintf(real, "%s %s pam_debug.so %s=%s\n", type, control, arg,
                                pamsim_ret_names[unix_ret]);
                        break;
                case M_NEOSTRA:
                        fprintf(sim, "%s %s pam_neostra.so\n", type, control);
                        fprintf(real, "%s %s pam_debug.so %s=%s\n", type, control, arg,
                                pamsim_ret_names[neostra_ret]);
                        break;
                case M_PERMIT:
                case M_DENY:
                        fprintf(sim, "%s %s %s\n", type, control, m == M_PERMIT ? "pam_permit.so" : "pam_deny.so");
                        fprintf(real, "%s %s %s\n", type, control, m == M_PERMIT ? "pam_permit.so" : "pam_deny.so");
                        break;
                case M_OTHER:
                        fprintf(sim, "%s %s pam_other.so\n", type, control);
                        /* What the simulator takes any other module to say. */
                        fprintf(real, "%s %s pam_debug.so %s=%s\n", type, control, arg,
                                strcmp(arg, "open_session") == 0 ? "success" : "ignore");
                        break;
                case M_SUBSTACK:
                case M_INCLUDE:
                        snprintf(sub, sizeof(sub), "%s-%u", name, i);
                        random_stack(dir, sub, type, arg, unix_ret, neostra_ret, depth + 1);
                        /* libpam looks relative names up in /etc/pam.d even
                         * under pam_start_confdir: absolute ones here. */
                        if (m == M_SUBSTACK) {
                                fprintf(sim, "%s substack %s/sim/%s\n", type, dir, sub);
                                fprintf(real, "%s substack %s/real/%s\n", type, dir, sub);
                        } else {
                                fprintf(sim, "@include %s/sim/%s\n", dir, sub);
                                fprintf(real, "@include %s/real/%s\n", dir, sub);
                        }
                        break;
                }
        }
        assert_int_equal(fclose(sim), 0);
        assert_int_equal(fclose(real), 0);
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        return PAM_CONV_ERR;    /* nothing here asks */
}

/* What each step is called in a service file, in pam_debug's arguments,
 * and for the simulator. */
static const struct {
        const char *type, *arg, *name;
        enum pamsim_step step;
        int pamsim_type;
} steps[] = {
        { "auth", "auth", "authenticate", STEP_AUTH, PAMSIM_AUTH },
        { "account", "acct", "acct_mgmt", STEP_ACCOUNT, PAMSIM_ACCOUNT },
        { "auth", "cred", "setcred", STEP_SETCRED, PAMSIM_AUTH },
        { "session", "open_session", "open_session", STEP_SESSION, PAMSIM_SESSION },
};

static int libpam_result(const char *confdir, enum pamsim_step step) {
        struct pam_conv c = { .conv = conv };
        pam_handle_t *h = NULL;
        int r;

        assert_int_equal(pam_start_confdir("case", "nobody", &c, confdir, &h), PAM_SUCCESS);
        switch (step) {
        case STEP_AUTH:
                r = pam_authenticate(h, PAM_SILENT);
                break;
        case STEP_ACCOUNT:
                r = pam_acct_mgmt(h, PAM_SILENT);
                break;
        case STEP_SETCRED:
                r = pam_setcred(h, PAM_ESTABLISH_CRED | PAM_SILENT);
                break;
        default:
                r = pam_open_session(h, PAM_SILENT);
                break;
        }
        pam_end(h, r);
        return r;
}

static void show(const char *path) {
        char line[512];
        FILE *f = fopen(path, "r");

        while (f && fgets(line, sizeof(line), f))
                print_message("  | %s", line);
        if (f)
                fclose(f);
}

static void test_same_as_libpam(void **state) {
        char dir[] = "/tmp/test-pamsim-XXXXXX", sub[128], path[160], err[512], cmd[256];
        unsigned c, agreed = 0;

        assert_non_null(mkdtemp(dir));
        snprintf(sub, sizeof(sub), "%s/sim", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        snprintf(sub, sizeof(sub), "%s/real", dir);
        assert_int_equal(mkdir(sub, 0700), 0);

        for (c = 0; c < CASES; c++) {
                unsigned k = rnd(sizeof(steps) / sizeof(steps[0]));
                int unix_ret = answers[rnd(N_ANSWERS)], neostra_ret = answers[rnd(N_ANSWERS)];
                struct pamsim_stack *s = NULL;
                struct pamsim_trace t;
                int want, got;

                /* Files of an earlier case stay, but nothing names them. */
                random_stack(dir, "case", steps[k].type, steps[k].arg, unix_ret, neostra_ret, 0);
                snprintf(path, sizeof(path), "%s/sim/case", dir);
                snprintf(sub, sizeof(sub), "%s/sim", dir);
                if (pamsim_read(sub, path, steps[k].pamsim_type, &s, err, sizeof(err)) < 0)
                        fail_msg("case %u: the simulator cannot read it: %s", c, err);
                got = pamsim_run(s, steps[k].step, unix_ret, neostra_ret, &t);
                pamsim_free(s);
                snprintf(sub, sizeof(sub), "%s/real", dir);
                want = libpam_result(sub, steps[k].step);
                if (got != want) {
                        print_message("case %u (%s; pam_unix %s, pam_neostra %s): libpam says %s, the "
                                      "simulator %s\n", c, steps[k].name,
                                      pamsim_ret_names[unix_ret], pamsim_ret_names[neostra_ret],
                                      pamsim_ret_names[want], pamsim_ret_names[got]);
                        snprintf(path, sizeof(path), "%s/sim/case", dir);
                        show(path);
                        snprintf(cmd, sizeof(cmd), "for f in %s/sim/case-*; do [ -e \"$f\" ] && "
                                 "{ echo \"  -- $f\"; cat \"$f\"; }; done", dir);
                        if (system(cmd) < 0)
                                print_message("cannot show the nested files\n");
                        fail();
                }
                agreed++;
        }
        print_message("%u random stacks: the simulator and libpam agree on every one\n", agreed);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_as_libpam),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
