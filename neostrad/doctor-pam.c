/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, PAM: reads the stacks of the services that matter the
 * way libpam does (/etc/pam.d/SERVICE, "@include", include and substack,
 * "-" before the type, the keyword controls and the [value=action ...]
 * syntax, backslash continuation lines) and then runs them, without
 * loading a single module, for the logins that must come out right:
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
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <security/_pam_types.h>

#include "doctor-internal.h"

#define PAM_DIR "/etc/pam.d"
#define PAM_CONFIGS_DIR "/usr/share/pam-configs"
#define PAM_FILE_MAX (256u * 1024u)
#define PAM_LINE_MAX 2048u
#define STACK_LINES_MAX 256u
#define INCLUDE_DEPTH_MAX 8
#define N_RET (PAM_INCOMPLETE + 1)
#define PROBLEMS_MAX 1536u

enum { T_AUTH, T_ACCOUNT, T_SESSION, T_PASSWORD, N_TYPES };
static const char *const type_names[N_TYPES] = { "auth", "account", "session", "password" };

enum {
        ACT_IGNORE = 0,
        ACT_OK = -1,
        ACT_DONE = -2,
        ACT_BAD = -3,
        ACT_DIE = -4,
        ACT_RESET = -5,
        ACT_END = -6,           /* pam-auth-update's placeholder, profiles only */
};

/* libpam's names of the return values in [value=action]. */
static const char *const ret_names[N_RET] = {
        "success", "open_err", "symbol_err", "service_err", "system_err", "buf_err", "perm_denied",
        "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown", "maxtries",
        "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail", "cred_expired", "cred_err",
        "no_module_data", "conv_err", "authtok_err", "authtok_recover_err", "authtok_lock_busy",
        "authtok_disable_aging", "try_again", "ignore", "abort", "authtok_expired", "module_unknown",
        "bad_item", "conv_again", "incomplete",
};

struct stack;

struct pam_line {
        char module[64];                /* the module's file name, no directory */
        char args[256];
        char control[192];              /* as written, for messages */
        char where[96];                 /* file:line */
        int actions[N_RET];
        struct stack *sub;              /* a substack; module is then its file */
};

struct stack {
        struct pam_line *lines;
        size_t n;
};

/* ---- reading ---------------------------------------------------------------- */

static int parse_action(const char *s, bool profile) {
        char *end;
        long n;

        if (strcmp(s, "ignore") == 0)
                return ACT_IGNORE;
        if (strcmp(s, "ok") == 0)
                return ACT_OK;
        if (strcmp(s, "done") == 0)
                return ACT_DONE;
        if (strcmp(s, "bad") == 0)
                return ACT_BAD;
        if (strcmp(s, "die") == 0)
                return ACT_DIE;
        if (strcmp(s, "reset") == 0)
                return ACT_RESET;
        if (profile && strcmp(s, "end") == 0)
                return ACT_END;
        n = strtol(s, &end, 10);
        if (*s && !*end && n > 0 && n < 1000)
                return (int) n;
        return ACT_BAD;         /* what libpam does with a word it does not know */
}

/* Fill actions from a control: a keyword or "[value=action ...]" (the
 * brackets stripped).  Returns false for an unknown keyword. */
static bool parse_control(const char *control, bool bracket, bool profile, int actions[N_RET]) {
        char copy[PAM_LINE_MAX], *tok, *save = NULL;
        int dflt = ACT_BAD, i;
        bool set[N_RET] = {};

        if (!bracket) {
                int success, other;

                if (strcmp(control, "required") == 0)
                        success = ACT_OK, other = ACT_BAD;
                else if (strcmp(control, "requisite") == 0)
                        success = ACT_OK, other = ACT_DIE;
                else if (strcmp(control, "sufficient") == 0)
                        success = ACT_DONE, other = ACT_IGNORE;
                else if (strcmp(control, "optional") == 0)
                        success = ACT_OK, other = ACT_IGNORE;
                else
                        return false;
                for (i = 0; i < N_RET; i++)
                        actions[i] = other;
                actions[PAM_SUCCESS] = actions[PAM_NEW_AUTHTOK_REQD] = success;
                if (other != ACT_IGNORE)
                        actions[PAM_IGNORE] = ACT_IGNORE;
                return true;
        }
        snprintf(copy, sizeof(copy), "%s", control);
        for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                char *eq = strchr(tok, '=');

                if (!eq)
                        continue;
                *eq = '\0';
                if (strcasecmp(tok, "default") == 0) {
                        dflt = parse_action(eq + 1, profile);
                        continue;
                }
                for (i = 0; i < N_RET; i++)
                        if (strcasecmp(tok, ret_names[i]) == 0) {
                                actions[i] = parse_action(eq + 1, profile);
                                set[i] = true;
                        }
        }
        for (i = 0; i < N_RET; i++)
                if (!set[i])
                        actions[i] = dflt;
        return true;
}

/* The file's logical lines (continuations joined, comments cut). */
static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        size_t n;

        if (!f)
                return NULL;
        buf = malloc(PAM_FILE_MAX + 1);
        if (!buf) {
                fclose(f);
                return NULL;
        }
        n = fread(buf, 1, PAM_FILE_MAX, f);
        fclose(f);
        buf[n] = '\0';
        for (char *p = buf; (p = strstr(p, "\\\n")); )
                p[0] = p[1] = ' ';
        return buf;
}

static void stack_free(struct stack *s) {
        size_t i;

        if (!s)
                return;
        for (i = 0; i < s->n; i++)
                stack_free(s->lines[i].sub);
        free(s->lines);
        free(s);
}

static int stack_append(struct stack *s, const struct pam_line *l) {
        struct pam_line *nl;

        if (s->n >= STACK_LINES_MAX)
                return -E2BIG;
        nl = realloc(s->lines, (s->n + 1) * sizeof(*nl));
        if (!nl)
                return -ENOMEM;
        s->lines = nl;
        s->lines[s->n++] = *l;
        return 0;
}

/* Where relative names are looked up: PAM_DIR but in the unit test. */
static const char *pam_dir = PAM_DIR;

static void path_of(const char *name, char *buf, size_t size) {
        if (name[0] == '/')
                snprintf(buf, size, "%s", name);
        else
                snprintf(buf, size, "%s/%s", pam_dir, name);
}

static int add_file(struct stack *s, const char *path, int type, int depth, char *err, size_t errlen);

/* One logical line of a service file, appended to s when it is of type. */
static int add_line(struct stack *s, char *line, const char *file, unsigned lineno, int type, int depth,
                    char *err, size_t errlen) {
        struct pam_line l = {};
        char *p = line + strspn(line, " \t"), *word, *control, *module;
        char include[PAM_LINE_MAX];
        bool bracket = false;
        int t, r;

        p[strcspn(p, "#")] = '\0';
        if (!*p)
                return 0;
        snprintf(l.where, sizeof(l.where), "%s:%u", file, lineno);
        if (strncmp(p, "@include", 8) == 0 && (p[8] == ' ' || p[8] == '\t')) {
                p += 8 + strspn(p + 8, " \t");
                p[strcspn(p, " \t\n")] = '\0';
                path_of(p, include, sizeof(include));
                return add_file(s, include, type, depth + 1, err, errlen);
        }
        word = p;
        p += strcspn(p, " \t");
        if (*p)
                *p++ = '\0';
        if (*word == '-')
                word++;
        for (t = 0; t < N_TYPES; t++)
                if (strcasecmp(word, type_names[t]) == 0)
                        break;
        if (t == N_TYPES) {
                snprintf(err, errlen, "%s: unknown type '%s'", l.where, word);
                return -EINVAL;
        }
        p += strspn(p, " \t");
        if (*p == '[') {
                control = p + 1;
                p = strchr(p, ']');
                if (!p) {
                        snprintf(err, errlen, "%s: '[' without ']'", l.where);
                        return -EINVAL;
                }
                *p++ = '\0';
                bracket = true;
        } else {
                control = p;
                p += strcspn(p, " \t");
                if (*p)
                        *p++ = '\0';
        }
        p += strspn(p, " \t");
        module = p;
        p += strcspn(p, " \t\n");
        if (*p)
                *p++ = '\0';
        if (!*module) {
                snprintf(err, errlen, "%s: no module", l.where);
                return -EINVAL;
        }
        if (t != type)
                return 0;
        snprintf(l.control, sizeof(l.control), bracket ? "[%s]" : "%s", control);
        if (!bracket && (strcmp(control, "include") == 0 || strcmp(control, "substack") == 0)) {
                path_of(module, include, sizeof(include));
                if (strcmp(control, "include") == 0)
                        return add_file(s, include, type, depth + 1, err, errlen);
                l.sub = calloc(1, sizeof(*l.sub));
                if (!l.sub)
                        return -ENOMEM;
                r = add_file(l.sub, include, type, depth + 1, err, errlen);
                if (r < 0) {
                        stack_free(l.sub);
                        return r;
                }
                /* libpam's substack is "requisite"-like inside, required outside. */
                parse_control("required", false, false, l.actions);
        } else if (!parse_control(control, bracket, false, l.actions)) {
                snprintf(err, errlen, "%s: unknown control '%s'", l.where, control);
                return -EINVAL;
        }
        snprintf(l.module, sizeof(l.module), "%s", strrchr(module, '/') ? strrchr(module, '/') + 1 : module);
        p[strcspn(p, "\n")] = '\0';
        snprintf(l.args, sizeof(l.args), "%s", p);
        r = stack_append(s, &l);
        if (r < 0)
                stack_free(l.sub);
        return r;
}

static int add_file(struct stack *s, const char *path, int type, int depth, char *err, size_t errlen) {
        const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char *buf, *line, *save = NULL;
        unsigned lineno = 0;
        int r = 0;

        if (depth > INCLUDE_DEPTH_MAX) {
                snprintf(err, errlen, "%s: includes nested deeper than %d", path, INCLUDE_DEPTH_MAX);
                return -ELOOP;
        }
        buf = read_file(path);
        if (!buf) {
                snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
                return -errno;
        }
        /* Line numbers count physical lines; a joined continuation keeps
         * the number of its first line. */
        for (char *p = buf; p; ) {
                char *nl = strchr(p, '\n');

                lineno++;
                if (nl)
                        *nl = '\0';
                line = p;
                p = nl ? nl + 1 : NULL;
                r = add_line(s, line, file, lineno, type, depth, err, errlen);
                if (r < 0)
                        break;
        }
        (void) save;
        free(buf);
        return r;
}

/* ---- running a stack ---------------------------------------------------------- */

enum step { STEP_AUTH, STEP_ACCOUNT, STEP_SESSION, STEP_PASSWORD, STEP_SETCRED };

struct scenario {
        enum step step;
        int unix_ret;                   /* pam_unix */
        int neostra_ret;                /* pam_neostra (and setcred_only in setcred) */
};

struct trace {
        const struct pam_line *neostra;         /* the first pam_neostra line that ran */
        const struct pam_line *ran[STACK_LINES_MAX];
        size_t n_ran;
};

static bool has_arg(const struct pam_line *l, const char *arg) {
        size_t n = strlen(arg);

        for (const char *p = l->args; (p = strstr(p, arg)); p += n)
                if ((p == l->args || p[-1] == ' ' || p[-1] == '\t') && (p[n] == '\0' || p[n] == ' ' ||
                    p[n] == '\t'))
                        return true;
        return false;
}

static bool is_neostra(const struct pam_line *l) {
        return strcmp(l->module, "pam_neostra.so") == 0;
}

static bool setcred_only(const struct pam_line *l) {
        return is_neostra(l) && has_arg(l, "setcred_only");
}

static int module_result(const struct pam_line *l, const struct scenario *sc) {
        if (is_neostra(l)) {
                if (setcred_only(l) && sc->step == STEP_AUTH)
                        return PAM_IGNORE;
                return sc->neostra_ret;
        }
        if (strcmp(l->module, "pam_unix.so") == 0)
                return sc->unix_ret;
        if (strcmp(l->module, "pam_permit.so") == 0)
                return PAM_SUCCESS;
        if (strcmp(l->module, "pam_deny.so") == 0)
                return sc->step == STEP_SETCRED ? PAM_CRED_ERR : sc->step == STEP_PASSWORD ?
                       PAM_AUTHTOK_ERR : sc->step == STEP_SESSION ? PAM_SESSION_ERR : PAM_AUTH_ERR;
        /* What else is in session and password stacks (pam_mkhomedir,
         * pam_systemd, pam_limits, pam_pwquality) succeeds for a local user. */
        return sc->step == STEP_SESSION || sc->step == STEP_PASSWORD ? PAM_SUCCESS : PAM_IGNORE;
}

enum { UNDEF, POSITIVE, NEGATIVE };

/* libpam's walk of one stack (_pam_dispatch_aux, chain not frozen). */
static int run_stack(const struct stack *s, const struct scenario *sc, struct trace *t) {
        int status = PAM_PERM_DENIED, impression = UNDEF;
        size_t i;

        for (i = 0; i < s->n; i++) {
                const struct pam_line *l = &s->lines[i];
                int ret, act;

                if (l->sub)
                        ret = run_stack(l->sub, sc, t);
                else {
                        ret = module_result(l, sc);
                        if (t->n_ran < STACK_LINES_MAX)
                                t->ran[t->n_ran++] = l;
                        if (is_neostra(l) && !t->neostra && !(sc->step == STEP_AUTH && setcred_only(l)))
                                t->neostra = l;
                }
                act = l->actions[ret];
                switch (act) {
                case ACT_RESET:
                        impression = UNDEF;
                        status = PAM_PERM_DENIED;
                        break;
                case ACT_OK:
                case ACT_DONE:
                        if ((impression == UNDEF || (impression == POSITIVE && status == PAM_SUCCESS)) &&
                            ret != PAM_IGNORE) {
                                impression = POSITIVE;
                                status = ret;
                        }
                        if (impression != NEGATIVE && act == ACT_DONE)
                                return status;
                        break;
                case ACT_BAD:
                case ACT_DIE:
                        if (impression != NEGATIVE) {
                                impression = NEGATIVE;
                                status = ret == PAM_SUCCESS ? PAM_PERM_DENIED : ret;
                        }
                        if (act == ACT_DIE)
                                return status;
                        break;
                case ACT_IGNORE:
                case ACT_END:
                        break;
                default:
                        i += (size_t) act;      /* skip the next act lines */
                        break;
                }
        }
        return status;
}

static int simulate(const struct stack *s, enum step step, int unix_ret, int neostra_ret, struct trace *t) {
        struct scenario sc = { .step = step, .unix_ret = unix_ret, .neostra_ret = neostra_ret };

        memset(t, 0, sizeof(*t));
        return run_stack(s, &sc, t);
}

static const struct pam_line *find_neostra(const struct stack *s, bool main_only) {
        for (size_t i = 0; i < s->n; i++) {
                const struct pam_line *l = &s->lines[i], *r;

                if (l->sub && (r = find_neostra(l->sub, main_only)))
                        return r;
                if (!l->sub && is_neostra(l) && !(main_only && setcred_only(l)))
                        return l;
        }
        return NULL;
}

static const char *action_name(int act, char *buf, size_t size) {
        static const char *const names[] = { "ignore", "ok", "done", "bad", "die", "reset", "end" };

        if (act > 0)
                snprintf(buf, size, "a jump over %d line(s)", act);
        else
                snprintf(buf, size, "%s", names[-act]);
        return buf;
}

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
        { "common-password", false }, { "system-auth", true }, { "password-auth", true },
        { "sshd", true }, { "login", false }, { "su", false }, { "sudo", false },
};

static bool prompts(const struct pam_line *l) {
        static const char *const prompters[] = { "pam_unix.so", "pam_neostra.so", "pam_sss.so", "pam_ldap.so",
                                                 "pam_krb5.so", "pam_winbind.so" };

        for (size_t i = 0; i < sizeof(prompters) / sizeof(prompters[0]); i++)
                if (strcmp(l->module, prompters[i]) == 0)
                        return !setcred_only(l) && !has_arg(l, "use_first_pass") && !has_arg(l, "use_authtok");
        return false;
}

static void check_first_pass(struct verdict *v, const char *svc, const struct trace *t) {
        const struct pam_line *before = NULL;

        for (size_t i = 0; i < t->n_ran; i++) {
                const struct pam_line *l = t->ran[i];
                bool use = has_arg(l, "use_first_pass"), try = has_arg(l, "try_first_pass");

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

static void check_auth(struct verdict *v, const char *svc, bool required, const struct stack *s) {
        struct trace t;
        int r;

        if (!find_neostra(s, true)) {
                if (required)
                        add_problem(&v[V_PRESENT], svc, "no pam_neostra.so in auth");
                return;
        }
        add_checked(&v[V_PRESENT], svc);
        r = simulate(s, STEP_AUTH, PAM_AUTH_ERR, PAM_SUCCESS, &t);
        if (!t.neostra)
                add_problem(&v[V_PRESENT], svc, "pam_neostra.so (%s) is never reached in auth for a Neostra "
                            "user", find_neostra(s, true)->where);
        else if (r != PAM_SUCCESS)
                add_problem(&v[V_PRESENT], svc, "a Neostra user with the right password is refused in auth "
                            "(%s)", ret_names[r]);
        else {
                add_checked(&v[V_SETCRED], svc);
                add_checked(&v[V_FIRST_PASS], svc);
                check_first_pass(&v[V_FIRST_PASS], svc, &t);
        }

        add_checked(&v[V_FAIL_CLOSED], svc);
        if (simulate(s, STEP_AUTH, PAM_AUTH_ERR, PAM_AUTH_ERR, &t) == PAM_SUCCESS)
                add_problem(&v[V_FAIL_CLOSED], svc, "a wrong password is accepted");
        if (simulate(s, STEP_AUTH, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, &t) == PAM_SUCCESS)
                add_problem(&v[V_FAIL_CLOSED], svc, "with neostrad down a Neostra user is let in");

        add_checked(&v[V_LOCAL_SAFE], svc);
        if ((r = simulate(s, STEP_AUTH, PAM_SUCCESS, PAM_IGNORE, &t)) != PAM_SUCCESS)
                add_problem(&v[V_LOCAL_SAFE], svc, "root and local users are refused in auth when "
                            "pam_neostra ignores them (%s)", ret_names[r]);
        if ((r = simulate(s, STEP_AUTH, PAM_SUCCESS, PAM_AUTHINFO_UNAVAIL, &t)) != PAM_SUCCESS) {
                char a[48];

                if (t.neostra)
                        add_problem(&v[V_LOCAL_SAFE], svc, "with neostrad down, root and local users are refused "
                                    "in auth (%s maps authinfo_unavail to %s)", t.neostra->where,
                                    action_name(t.neostra->actions[PAM_AUTHINFO_UNAVAIL], a, sizeof(a)));
                else
                        add_problem(&v[V_LOCAL_SAFE], svc, "with neostrad down, root and local users are refused "
                                    "in auth (%s)", ret_names[r]);
        }

        /* sshd's key logins: setcred with nothing frozen. */
        if (strcmp(svc, "sshd") == 0) {
                simulate(s, STEP_SETCRED, PAM_SUCCESS, PAM_SUCCESS, &t);
                if (!t.neostra)
                        add_problem(&v[V_SETCRED], svc, "for an SSH-key login pam_setcred never reaches "
                                    "pam_neostra (add \"auth optional pam_neostra.so setcred_only\" at the end "
                                    "of auth)");
        }
}

static void check_account(struct verdict *v, const char *svc, bool required, const struct stack *s) {
        const struct pam_line *l = find_neostra(s, true);
        struct trace t;
        int r;

        if (!l) {
                if (required)
                        add_problem(&v[V_PRESENT], svc, "no pam_neostra.so in account");
                return;
        }
        add_checked(&v[V_PRESENT], svc);
        simulate(s, STEP_ACCOUNT, PAM_SUCCESS, PAM_SUCCESS, &t);
        if (!t.neostra)
                add_problem(&v[V_PRESENT], svc, "pam_neostra.so (%s) is never reached in account", l->where);

        add_checked(&v[V_ACCOUNT_FINAL], svc);
        if (simulate(s, STEP_ACCOUNT, PAM_SUCCESS, PAM_PERM_DENIED, &t) == PAM_SUCCESS) {
                char a[48];

                l = t.neostra ? t.neostra : l;
                add_problem(&v[V_ACCOUNT_FINAL], svc, "pam_neostra's refusal is thrown away: %s \"%s\" maps "
                            "perm_denied to %s, so anyone with a Neostra account logs in", l->where,
                            l->control, action_name(l->actions[PAM_PERM_DENIED], a, sizeof(a)));
        }
        add_checked(&v[V_LOCAL_SAFE], svc);
        if ((r = simulate(s, STEP_ACCOUNT, PAM_SUCCESS, PAM_IGNORE, &t)) != PAM_SUCCESS)
                add_problem(&v[V_LOCAL_SAFE], svc, "root and local users are refused in account when "
                            "pam_neostra ignores them (%s)", ret_names[r]);
}

/* Session and password: a local user must not notice pam_neostra. */
static void check_other(struct verdict *v, const char *svc, enum step step, const struct stack *s) {
        struct trace t;
        int r;

        if (!find_neostra(s, false))
                return;
        add_checked(&v[V_LOCAL_SAFE], svc);
        if ((r = simulate(s, step, PAM_SUCCESS, PAM_IGNORE, &t)) != PAM_SUCCESS)
                add_problem(&v[V_LOCAL_SAFE], svc, "%s fails for root and local users when pam_neostra "
                            "ignores them (%s)", step == STEP_SESSION ? "session" : "password", ret_names[r]);
}

static void check_service(struct doctor_ctx *d, struct verdict *v, const struct service *svc, bool *any) {
        static const enum step steps[N_TYPES] = { STEP_AUTH, STEP_ACCOUNT, STEP_SESSION, STEP_PASSWORD };
        char path[256], err[512];
        int type;

        path_of(svc->name, path, sizeof(path));
        if (access(path, F_OK) < 0)
                return;
        for (type = 0; type < N_TYPES; type++) {
                struct stack *s = calloc(1, sizeof(*s));
                int r;

                if (!s)
                        return;
                err[0] = '\0';
                r = add_file(s, path, type, 0, err, sizeof(err));
                if (r < 0) {
                        char fix[320];

                        snprintf(fix, sizeof(fix), "correct %s: libpam refuses the whole stack", path);
                        doctor_report(d, svc->name, DOCTOR_FAIL, fix, "%s", err);
                        stack_free(s);
                        return;
                }
                if (s->n > 0 && find_neostra(s, false))
                        *any = true;
                if (s->n == 0)
                        ;
                else if (type == T_AUTH)
                        check_auth(v, svc->name, svc->required, s);
                else if (type == T_ACCOUNT)
                        check_account(v, svc->name, svc->required, s);
                else
                        check_other(v, svc->name, steps[type], s);
                stack_free(s);
        }
}

/* ---- the pam-auth-update profile ---------------------------------------------- */

/* One "control module args" line of a profile field. */
static void check_profile_line(const char *file, const char *field, char *line, struct verdict *v) {
        bool account = strncmp(field, "Account", 7) == 0, auth = strncmp(field, "Auth", 4) == 0;
        bool initial = strstr(field, "-Initial") != NULL, bracket = false;
        struct pam_line l = {};
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
        if (!parse_control(control, bracket, true, l.actions)) {
                add_problem(v, file, "%s: unknown control '%s'", field, control);
                return;
        }
        p += strspn(p, " \t");
        snprintf(l.module, sizeof(l.module), "pam_neostra.so");
        snprintf(l.args, sizeof(l.args), "%s", p + strcspn(p, " \t") + (p[strcspn(p, " \t")] ? 1 : 0));
        if (account && l.actions[PAM_PERM_DENIED] != ACT_BAD && l.actions[PAM_PERM_DENIED] != ACT_DIE)
                add_problem(v, file, "%s: perm_denied goes to %s, so pam_neostra's refusal is thrown away and "
                            "anyone with a Neostra account logs in (make it default=bad)", field,
                            action_name(l.actions[PAM_PERM_DENIED], a, sizeof(a)));
        if (auth && !setcred_only(&l)) {
                if (l.actions[PAM_AUTHINFO_UNAVAIL] != ACT_IGNORE || l.actions[PAM_IGNORE] != ACT_IGNORE)
                        add_problem(v, file, "%s: authinfo_unavail and ignore must be ignore, or a dead "
                                    "daemon locks out local users", field);
                if (l.actions[PAM_AUTH_ERR] != ACT_BAD && l.actions[PAM_AUTH_ERR] != ACT_DIE)
                        add_problem(v, file, "%s: auth_err goes to %s: a wrong password must end in a refusal",
                                    field, action_name(l.actions[PAM_AUTH_ERR], a, sizeof(a)));
                if (initial && has_arg(&l, "use_first_pass"))
                        add_problem(v, file, "%s: use_first_pass, but nothing before it asks for the password",
                                    field);
                if (!initial && !has_arg(&l, "use_first_pass") && !has_arg(&l, "try_first_pass"))
                        add_problem(v, file, "%s: no use_first_pass: a second password prompt", field);
        }
}

static void check_profile(const char *dir, const char *name, struct verdict *v) {
        char path[512], field[64] = "", *buf, *line, *save = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        buf = read_file(path);
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

        pam_dir = stacks_dir;
        for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
                check_service(d, v, &services[i], &any);
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
        pam_dir = PAM_DIR;
}
