/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, PAM: reads the stacks of the services that matter the
 * way libpam does and runs them, without loading a single module
 * (doctor-pamsim.c), for the logins that must come out right:
 *
 *   - a Neostra user with the right password: pam_unix fails, pam_neostra
 *     says success; the stack must let the user in through a pam_neostra
 *     line (which is then also where pam_setcred goes: libpam replays the
 *     path authentication took);
 *   - a wrong password or a dead daemon: pam_neostra says auth_err or
 *     authinfo_unavail, pam_unix fails; the stack must refuse;
 *   - root or a local account: pam_unix succeeds, pam_neostra says ignore,
 *     or authinfo_unavail in authentication (the daemon is down); the
 *     stack must let them in: pam_neostra can never lock them out;
 *   - the account step refuses (perm_denied: a role not allowed, past
 *     account_max_age, deprovisioned); the stack must refuse.  A
 *     default=ignore on pam_neostra's account line throws the refusal away
 *     and lets anyone with a Neostra account in: the himmelblau trap;
 *   - sshd's key logins: pam_setcred runs the auth stack with nothing
 *     frozen, so after pam_unix's success=N jump it must still reach a
 *     pam_neostra line (the setcred_only one) to add the role groups.
 * Modules other than pam_unix, pam_neostra, pam_deny and pam_permit are
 * taken to answer "ignore" in auth and account, which every keyword
 * control passes over, and "success" in session and password.
 * Whether pam_neostra's use_first_pass/try_first_pass agree with the
 * modules that asked for the password before it on the same path is
 * checked too, and so is the package's pam-auth-update profile, whose
 * lines become common-auth and common-account at the next pam-auth-update.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor-internal.h"
#include "doctor-pamsim.h"

#define PAM_DIR "/etc/pam.d"
#define PAM_CONFIGS_DIR "/usr/share/pam-configs"
#define PROBLEMS_MAX 1536u

/* ---- the checks --------------------------------------------------------------- */

/* What one check found wrong over all services, in one line. */
#define PROBLEMS_KEPT 16u

/* What one check found wrong over all services.  The same problem found
 * through several services (sshd, login, su and sudo all @include
 * common-auth) is said once, with their names. */
struct verdict {
        struct {
                char services[128];
                char msg[384];
        } problems[PROBLEMS_KEPT];
        size_t n;
        char checked[256];
        size_t checked_len;
};

static void add_problem(struct verdict *v, const char *svc, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void add_problem(struct verdict *v, const char *svc, const char *fmt, ...) {
        char msg[sizeof(v->problems[0].msg)];
        va_list ap;
        size_t i, len;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (i = 0; i < v->n; i++)
                if (strcmp(v->problems[i].msg, msg) == 0) {
                        len = strlen(v->problems[i].services);
                        snprintf(v->problems[i].services + len, sizeof(v->problems[i].services) - len,
                                 ", %s", svc);
                        return;
                }
        if (v->n == PROBLEMS_KEPT)
                return;
        snprintf(v->problems[v->n].services, sizeof(v->problems[0].services), "%s", svc);
        memcpy(v->problems[v->n].msg, msg, sizeof(msg));
        v->n++;
}

/* "sshd, login: problem; common-auth: other problem" into buf. */
static const char *problems_text(const struct verdict *v, char *buf, size_t size) {
        size_t len = 0, i;

        buf[0] = '\0';
        for (i = 0; i < v->n && len + 1 < size; i++) {
                int k = snprintf(buf + len, size - len, "%s%s: %s", i ? "; " : "", v->problems[i].services,
                                 v->problems[i].msg);

                if (k < 0)
                        break;
                len += (size_t) k < size - len ? (size_t) k : size - len - 1;
        }
        return buf;
}

static void add_checked(struct verdict *v, const char *service) {
        int k;

        size_t n = strlen(service);

        /* Already named: a whole item of the ", " separated list. */
        for (const char *p = v->checked; (p = strstr(p, service)); p += n)
                if ((p == v->checked || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
                        return;
        k = snprintf(v->checked + v->checked_len, sizeof(v->checked) - v->checked_len, "%s%s",
                     v->checked_len ? ", " : "", service);
        if (k > 0 && (size_t) k < sizeof(v->checked) - v->checked_len)
                v->checked_len += (size_t) k;
}

enum { V_PRESENT, V_FAIL_CLOSED, V_ACCOUNT_FINAL, V_LOCAL_SAFE, V_SETCRED, V_FIRST_PASS, N_VERDICTS };

struct service {
        const char *name;
        bool required;          /* pam_neostra must be in it (else: may be left out) */
};

/* The services that matter; the RHEL ones are read when they exist. */
static const struct service services[] = {
        { "common-auth", true }, { "common-account", true }, { "common-session", false },
        { "common-session-noninteractive", false }, { "common-password", false },
        { "system-auth", true }, { "password-auth", true },
        { "sshd", true }, { "login", false }, { "su", false }, { "sudo", false },
};

static bool prompts(const struct pamsim_line *l) {
        static const char *const prompters[] = { "pam_unix.so", "pam_neostra.so", "pam_sss.so", "pam_ldap.so",
                                                 "pam_krb5.so", "pam_winbind.so" };

        for (size_t i = 0; i < sizeof(prompters) / sizeof(prompters[0]); i++)
                if (strcmp(l->module, prompters[i]) == 0)
                        return !pamsim_setcred_only(l) && !pamsim_has_arg(l, "use_first_pass") &&
                               !pamsim_has_arg(l, "use_authtok");
        return false;
}

static void check_first_pass(struct verdict *v, const char *svc, const struct pamsim_trace *t) {
        const struct pamsim_line *before = NULL;

        for (size_t i = 0; i < t->n_ran; i++) {
                const struct pamsim_line *l = t->ran[i];
                bool use = pamsim_has_arg(l, "use_first_pass"), try = pamsim_has_arg(l, "try_first_pass");

                if (l != t->neostra) {
                        if (!before && prompts(l))
                                before = l;
                        continue;
                }
                if (use && try)
                        add_problem(v, svc, "%s has both use_first_pass and try_first_pass", l->where);
                else if (use && !before)
                        add_problem(v, svc, "%s has use_first_pass but no module before it asks for the "
                                    "password (remove use_first_pass)", l->where);
                else if (!use && !try && before)
                        add_problem(v, svc, "%s asks for the password a second time after %s (%s): add "
                                    "use_first_pass", l->where, before->module, before->where);
                return;
        }
}

static void check_auth(struct verdict *v, const char *svc, bool required, const struct pamsim_stack *s) {
        struct pamsim_trace t;
        int r;

        if (!pamsim_find_neostra(s, true)) {
                if (required)
                        add_problem(&v[V_PRESENT], svc, "no pam_neostra.so in auth");
                return;
        }
        add_checked(&v[V_PRESENT], svc);
        r = pamsim_run(s, STEP_AUTH, PAM_AUTH_ERR, PAM_SUCCESS, &t);
        if (!t.neostra)
                add_problem(&v[V_PRESENT], svc, "pam_neostra.so (%s) is never reached in auth for a Neostra "
                            "user", pamsim_find_neostra(s, true)->where);
        else if (r != PAM_SUCCESS)
                add_problem(&v[V_PRESENT], svc, "a Neostra user with the right password is refused in auth "
                            "(%s)", pamsim_ret_names[r]);
        else {
                add_checked(&v[V_SETCRED], svc);
                add_checked(&v[V_FIRST_PASS], svc);
                check_first_pass(&v[V_FIRST_PASS], svc, &t);
        }

        add_checked(&v[V_FAIL_CLOSED], svc);
        if (pamsim_run(s, STEP_AUTH, PAM_AUTH_ERR, PAM_AUTH_ERR, &t) == PAM_SUCCESS)
                add_problem(&v[V_FAIL_CLOSED], svc, "a wrong password is accepted");
        if (pamsim_run(s, STEP_AUTH, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, &t) == PAM_SUCCESS)
                add_problem(&v[V_FAIL_CLOSED], svc, "with neostrad down a Neostra user is let in");

        add_checked(&v[V_LOCAL_SAFE], svc);
        if ((r = pamsim_run(s, STEP_AUTH, PAM_SUCCESS, PAM_IGNORE, &t)) != PAM_SUCCESS)
                add_problem(&v[V_LOCAL_SAFE], svc, "root and local users are refused in auth when "
                            "pam_neostra ignores them (%s)", pamsim_ret_names[r]);
        if ((r = pamsim_run(s, STEP_AUTH, PAM_SUCCESS, PAM_AUTHINFO_UNAVAIL, &t)) != PAM_SUCCESS) {
                char a[48];

                if (t.neostra)
                        add_problem(&v[V_LOCAL_SAFE], svc, "with neostrad down, root and local users are refused "
                                    "in auth (%s maps authinfo_unavail to %s)", t.neostra->where,
                                    pamsim_action_name(t.neostra->actions[PAM_AUTHINFO_UNAVAIL], a, sizeof(a)));
                else
                        add_problem(&v[V_LOCAL_SAFE], svc, "with neostrad down, root and local users are refused "
                                    "in auth (%s)", pamsim_ret_names[r]);
        }

        /* sshd's key logins: setcred with nothing frozen. */
        if (strcmp(svc, "sshd") == 0) {
                pamsim_run(s, STEP_SETCRED, PAM_SUCCESS, PAM_SUCCESS, &t);
                if (!t.neostra)
                        add_problem(&v[V_SETCRED], svc, "for an SSH-key login pam_setcred never reaches "
                                    "pam_neostra (add \"auth optional pam_neostra.so setcred_only\" at the end "
                                    "of auth)");
        }
}

static void check_account(struct verdict *v, const char *svc, bool required, const struct pamsim_stack *s) {
        const struct pamsim_line *l = pamsim_find_neostra(s, true);
        struct pamsim_trace t;
        int r;

        if (!l) {
                if (required)
                        add_problem(&v[V_PRESENT], svc, "no pam_neostra.so in account");
                return;
        }
        add_checked(&v[V_PRESENT], svc);
        pamsim_run(s, STEP_ACCOUNT, PAM_SUCCESS, PAM_SUCCESS, &t);
        if (!t.neostra)
                add_problem(&v[V_PRESENT], svc, "pam_neostra.so (%s) is never reached in account", l->where);

        add_checked(&v[V_ACCOUNT_FINAL], svc);
        if (pamsim_run(s, STEP_ACCOUNT, PAM_SUCCESS, PAM_PERM_DENIED, &t) == PAM_SUCCESS) {
                char a[48];

                l = t.neostra ? t.neostra : l;
                add_problem(&v[V_ACCOUNT_FINAL], svc, "pam_neostra's refusal is thrown away: %s \"%s\" maps "
                            "perm_denied to %s, so anyone with a Neostra account logs in", l->where,
                            l->control, pamsim_action_name(l->actions[PAM_PERM_DENIED], a, sizeof(a)));
        }
        add_checked(&v[V_LOCAL_SAFE], svc);
        if ((r = pamsim_run(s, STEP_ACCOUNT, PAM_SUCCESS, PAM_IGNORE, &t)) != PAM_SUCCESS)
                add_problem(&v[V_LOCAL_SAFE], svc, "root and local users are refused in account when "
                            "pam_neostra ignores them (%s)", pamsim_ret_names[r]);
}

/* Session and password: a local user must not notice pam_neostra. */
static void check_other(struct verdict *v, const char *svc, enum pamsim_step step, const struct pamsim_stack *s) {
        struct pamsim_trace t;
        int r;

        if (!pamsim_find_neostra(s, false))
                return;
        add_checked(&v[V_LOCAL_SAFE], svc);
        if ((r = pamsim_run(s, step, PAM_SUCCESS, PAM_IGNORE, &t)) != PAM_SUCCESS)
                add_problem(&v[V_LOCAL_SAFE], svc, "%s fails for root and local users when pam_neostra "
                            "ignores them (%s)", step == STEP_SESSION ? "session" : "password", pamsim_ret_names[r]);
}

static void check_service(struct doctor_ctx *d, const char *dir, struct verdict *v, const struct service *svc,
                          bool *any) {
        static const enum pamsim_step steps[PAMSIM_N_TYPES] = {
                STEP_AUTH, STEP_ACCOUNT, STEP_SESSION, STEP_PASSWORD,
        };
        char path[512], err[512];
        int type;

        snprintf(path, sizeof(path), "%s/%s", dir, svc->name);
        if (access(path, F_OK) < 0)
                return;
        for (type = 0; type < PAMSIM_N_TYPES; type++) {
                struct pamsim_stack *s = NULL;

                err[0] = '\0';
                if (pamsim_read(dir, path, type, &s, err, sizeof(err)) < 0) {
                        char fix[640];

                        snprintf(fix, sizeof(fix), "correct %s: libpam refuses the whole stack", path);
                        doctor_report(d, svc->name, DOCTOR_FAIL, fix, "%s", err);
                        return;
                }
                if (s->n > 0 && pamsim_find_neostra(s, false))
                        *any = true;
                if (s->n == 0)
                        ;
                else if (type == PAMSIM_AUTH)
                        check_auth(v, svc->name, svc->required, s);
                else if (type == PAMSIM_ACCOUNT)
                        check_account(v, svc->name, svc->required, s);
                else
                        check_other(v, svc->name, steps[type], s);
                pamsim_free(s);
        }
}

/* ---- the pam-auth-update profile ---------------------------------------------- */

/* One "control module args" line of a profile field. */
static void check_profile_line(const char *file, const char *field, char *line, struct verdict *v) {
        bool account = strncmp(field, "Account", 7) == 0, auth = strncmp(field, "Auth", 4) == 0;
        bool initial = strstr(field, "-Initial") != NULL, bracket = false;
        struct pamsim_line l = {};
        char *p = line + strspn(line, " \t"), *control, a[48];

        if (!strstr(p, "pam_neostra.so") || (!account && !auth))
                return;
        if (*p == '[') {
                control = p + 1;
                if (!(p = strchr(p, ']')))
                        return;
                bracket = true;
        } else {
                control = p;
                p += strcspn(p, " \t");
        }
        if (*p)
                *p++ = '\0';
        if (!pamsim_parse_control(control, bracket, true, l.actions)) {
                add_problem(v, file, "%s: unknown control '%s'", field, control);
                return;
        }
        p += strspn(p, " \t");
        snprintf(l.module, sizeof(l.module), "pam_neostra.so");
        snprintf(l.args, sizeof(l.args), "%s", p + strcspn(p, " \t") + (p[strcspn(p, " \t")] ? 1 : 0));
        if (account && l.actions[PAM_PERM_DENIED] != ACT_BAD && l.actions[PAM_PERM_DENIED] != ACT_DIE)
                add_problem(v, file, "%s: perm_denied goes to %s, so pam_neostra's refusal is thrown away and "
                            "anyone with a Neostra account logs in (make it default=bad)", field,
                            pamsim_action_name(l.actions[PAM_PERM_DENIED], a, sizeof(a)));
        if (auth && !pamsim_setcred_only(&l)) {
                if (l.actions[PAM_AUTHINFO_UNAVAIL] != ACT_IGNORE || l.actions[PAM_IGNORE] != ACT_IGNORE)
                        add_problem(v, file, "%s: authinfo_unavail and ignore must be ignore, or a dead "
                                    "daemon locks out local users", field);
                if (l.actions[PAM_AUTH_ERR] != ACT_BAD && l.actions[PAM_AUTH_ERR] != ACT_DIE)
                        add_problem(v, file, "%s: auth_err goes to %s: a wrong password must end in a refusal",
                                    field, pamsim_action_name(l.actions[PAM_AUTH_ERR], a, sizeof(a)));
                if (initial && pamsim_has_arg(&l, "use_first_pass"))
                        add_problem(v, file, "%s: use_first_pass, but nothing before it asks for the password",
                                    field);
                if (!initial && !pamsim_has_arg(&l, "use_first_pass") && !pamsim_has_arg(&l, "try_first_pass"))
                        add_problem(v, file, "%s: no use_first_pass: a second password prompt", field);
        }
}

static void check_profile(const char *dir, const char *name, struct verdict *v) {
        char path[512], field[64] = "", *buf, *line, *save = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        buf = pamsim_read_file(path);
        if (!buf || !strstr(buf, "pam_neostra.so")) {
                free(buf);
                return;
        }
        add_checked(v, name);
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (line[0] == '#')
                        continue;
                if (line[0] != ' ' && line[0] != '\t') {
                        char *colon = strchr(line, ':');

                        field[0] = '\0';
                        if (!colon || (size_t) (colon - line) >= sizeof(field))
                                continue;
                        snprintf(field, sizeof(field), "%.*s", (int) (colon - line), line);
                        line = colon + 1;
                        if (!*(line + strspn(line, " \t")))
                                continue;
                }
                if (field[0])
                        check_profile_line(name, field, line, v);
        }
        free(buf);
}

static void check_profiles(struct doctor_ctx *d, const char *profiles_dir) {
        char text[PROBLEMS_MAX];
        struct verdict v = {};
        struct dirent *de;
        DIR *dir = opendir(profiles_dir);

        while (dir && (de = readdir(dir)))
                if (de->d_name[0] != '.')
                        check_profile(profiles_dir, de->d_name, &v);
        if (dir)
                closedir(dir);
        if (!v.checked_len)
                doctor_report(d, "profile", DOCTOR_SKIP, NULL, "no pam-auth-update profile in %s names "
                              "pam_neostra.so", profiles_dir);
        else if (v.n)
                doctor_report(d, "profile", DOCTOR_FAIL, "correct the profile, then run pam-auth-update",
                              "pam-auth-update profile %s", problems_text(&v, text, sizeof(text)));
        else
                doctor_report(d, "profile", DOCTOR_OK, NULL, "pam-auth-update profile(s) %s: the account "
                              "refusal is final, local users pass a dead daemon", v.checked);
}

void doctor_check_pam(struct doctor_ctx *d) {
        doctor_check_pam_in(d, PAM_DIR, PAM_CONFIGS_DIR);
}

void doctor_check_pam_in(struct doctor_ctx *d, const char *stacks_dir, const char *profiles_dir) {
        static const struct {
                const char *check, *ok, *fix;
        } texts[N_VERDICTS] = {
                [V_PRESENT] = { "present", "pam_neostra.so is in auth and account and reached for Neostra users",
                                "add pam_neostra.so to auth and account (README, \"PAM stacks that keep root "
                                "working\"; Debian: pam-auth-update --enable neostra)" },
                [V_FAIL_CLOSED] = { "fail-closed", "a wrong password or a dead daemon refuses Neostra users",
                                    "end the auth stack in pam_deny for what pam_neostra refuses "
                                    "(default=die)" },
                [V_ACCOUNT_FINAL] = { "account-final", "pam_neostra's account refusal is final (no "
                                      "default=ignore on its line)",
                                      "make pam_neostra's account line [success=ok ignore=ignore "
                                      "default=bad] (or required)" },
                [V_LOCAL_SAFE] = { "local-safe", "root and local accounts cannot be locked out by pam_neostra "
                                   "(ignore and authinfo_unavail pass on to pam_unix)",
                                   "map ignore and authinfo_unavail to ignore on pam_neostra's lines, and let "
                                   "pam_unix decide for local users" },
                [V_SETCRED] = { "setcred", "pam_setcred reaches pam_neostra for Neostra users (role groups)",
                                "add \"auth optional pam_neostra.so setcred_only\" as the last auth line" },
                [V_FIRST_PASS] = { "first-pass", "use_first_pass/try_first_pass agree with the modules that "
                                   "ask first", "see the lines named" },
        };
        struct verdict v[N_VERDICTS] = {};
        char text[PROBLEMS_MAX];
        bool any = false;
        size_t i;

        for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
                check_service(d, stacks_dir, v, &services[i], &any);
        if (!any)
                doctor_report(d, "present", DOCTOR_FAIL, texts[V_PRESENT].fix, "no PAM stack in %s uses "
                              "pam_neostra.so: nobody logs in with a Neostra account", stacks_dir);
        else
                for (i = 0; i < N_VERDICTS; i++) {
                        if (v[i].n)
                                doctor_report(d, texts[i].check, DOCTOR_FAIL, texts[i].fix, "%s",
                                              problems_text(&v[i], text, sizeof(text)));
                        else if (v[i].checked_len)
                                doctor_report(d, texts[i].check, DOCTOR_OK, NULL, "%s: %s", texts[i].ok,
                                              v[i].checked);
                }
        check_profiles(d, profiles_dir);
}
