/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor's PAM simulator (doctor-pamsim.h).  Reading follows
 * libpam: "type control module args" lines, "-" before the type, "@include
 * FILE" (all types), "include" and "substack" controls, the keyword controls
 * and the [value=action ...] syntax (a value not named takes default,
 * which is bad when not given), backslash continuation lines, '#'
 * comments.  Running follows libpam's dispatch: an impression (undefined,
 * positive, negative) and a status; ok and done take a positive answer
 * while nothing failed, bad and die make it negative (die and done end
 * the level they are on), a jump skips lines, ignore and an "ignore"
 * answer change nothing, and a stack that ends undefined fails.  A
 * substack's lines work on the same impression and status as its parent;
 * it counts as one line for the parent's jumps and confines its own jumps,
 * done, die and reset (back to the state it was entered with).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "doctor-pamsim.h"

#define PAM_FILE_MAX (256u * 1024u)
#define PAM_LINE_MAX 2048u
#define INCLUDE_DEPTH_MAX 8

static const char *const type_names[PAMSIM_N_TYPES] = { "auth", "account", "session", "password" };

/* libpam's names of the return values in [value=action]. */
const char *const pamsim_ret_names[PAMSIM_N_RET] = {
        "success", "open_err", "symbol_err", "service_err", "system_err", "buf_err", "perm_denied",
        "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown", "maxtries",
        "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail", "cred_expired", "cred_err",
        "no_module_data", "conv_err", "authtok_err", "authtok_recover_err", "authtok_lock_busy",
        "authtok_disable_aging", "try_again", "ignore", "abort", "authtok_expired", "module_unknown",
        "bad_item", "conv_again", "incomplete",
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
bool pamsim_parse_control(const char *control, bool bracket, bool profile, int actions[PAMSIM_N_RET]) {
        char copy[PAM_LINE_MAX], *tok, *save = NULL;
        bool set[PAMSIM_N_RET];
        int i;

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
                for (i = 0; i < PAMSIM_N_RET; i++)
                        actions[i] = other;
                actions[PAM_SUCCESS] = actions[PAM_NEW_AUTHTOK_REQD] = success;
                if (other != ACT_IGNORE)
                        actions[PAM_IGNORE] = ACT_IGNORE;
                return true;
        }
        /* As libpam reads it: a value takes its action, "default" fills
         * the values not given so far (so the first default counts), and
         * whatever is left at the end is bad. */
        snprintf(copy, sizeof(copy), "%s", control);
        for (i = 0; i < PAMSIM_N_RET; i++)
                set[i] = false;
        for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                char *eq = strchr(tok, '=');
                int act;

                if (!eq)
                        continue;
                *eq = '\0';
                act = parse_action(eq + 1, profile);
                for (i = 0; i < PAMSIM_N_RET; i++)
                        if (strcasecmp(tok, "default") == 0 ? !set[i] : strcasecmp(tok, pamsim_ret_names[i]) == 0) {
                                actions[i] = act;
                                set[i] = true;
                        }
        }
        for (i = 0; i < PAMSIM_N_RET; i++)
                if (!set[i])
                        actions[i] = ACT_BAD;
        return true;
}

/* The file's logical lines (continuations joined, comments cut). */
char *pamsim_read_file(const char *path) {
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

void pamsim_free(struct pamsim_stack *s) {
        size_t i;

        if (!s)
                return;
        for (i = 0; i < s->n; i++)
                pamsim_free(s->lines[i].sub);
        free(s->lines);
        free(s);
}

static int stack_append(struct pamsim_stack *s, const struct pamsim_line *l) {
        struct pamsim_line *nl;

        if (s->n >= PAMSIM_LINES_MAX)
                return -E2BIG;
        nl = realloc(s->lines, (s->n + 1) * sizeof(*nl));
        if (!nl)
                return -ENOMEM;
        s->lines = nl;
        s->lines[s->n++] = *l;
        return 0;
}

/* Where relative names are looked up, for the pamsim_read() under way. */
static const char *pam_dir;

static void path_of(const char *name, char *buf, size_t size) {
        if (name[0] == '/')
                snprintf(buf, size, "%s", name);
        else
                snprintf(buf, size, "%s/%s", pam_dir, name);
}

static int add_file(struct pamsim_stack *s, const char *path, int type, int depth, char *err, size_t errlen);

/* One logical line of a service file, appended to s when it is of type. */
static int add_line(struct pamsim_stack *s, char *line, const char *file, unsigned lineno, int type, int depth,
                    char *err, size_t errlen) {
        struct pamsim_line l = {};
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
        for (t = 0; t < PAMSIM_N_TYPES; t++)
                if (strcasecmp(word, type_names[t]) == 0)
                        break;
        if (t == PAMSIM_N_TYPES) {
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
                        pamsim_free(l.sub);
                        return r;
                }
                /* libpam's substack is "requisite"-like inside, required outside. */
                pamsim_parse_control("required", false, false, l.actions);
        } else if (!pamsim_parse_control(control, bracket, false, l.actions)) {
                snprintf(err, errlen, "%s: unknown control '%s'", l.where, control);
                return -EINVAL;
        }
        snprintf(l.module, sizeof(l.module), "%s", strrchr(module, '/') ? strrchr(module, '/') + 1 : module);
        p[strcspn(p, "\n")] = '\0';
        snprintf(l.args, sizeof(l.args), "%s", p);
        r = stack_append(s, &l);
        if (r < 0)
                pamsim_free(l.sub);
        return r;
}

static int add_file(struct pamsim_stack *s, const char *path, int type, int depth, char *err, size_t errlen) {
        const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        char *buf, *line;
        unsigned lineno = 0;
        int r = 0;

        if (depth > INCLUDE_DEPTH_MAX) {
                snprintf(err, errlen, "%s: includes nested deeper than %d", path, INCLUDE_DEPTH_MAX);
                return -ELOOP;
        }
        buf = pamsim_read_file(path);
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
        free(buf);
        return r;
}

/* ---- running a stack ---------------------------------------------------------- */

struct scenario {
        enum pamsim_step step;
        int unix_ret;                   /* pam_unix */
        int neostra_ret;                /* pam_neostra (and setcred_only in setcred) */
};

bool pamsim_has_arg(const struct pamsim_line *l, const char *arg) {
        size_t n = strlen(arg);

        for (const char *p = l->args; (p = strstr(p, arg)); p += n)
                if ((p == l->args || p[-1] == ' ' || p[-1] == '\t') && (p[n] == '\0' || p[n] == ' ' ||
                    p[n] == '\t'))
                        return true;
        return false;
}

static bool is_neostra(const struct pamsim_line *l) {
        return strcmp(l->module, "pam_neostra.so") == 0;
}

bool pamsim_setcred_only(const struct pamsim_line *l) {
        return is_neostra(l) && pamsim_has_arg(l, "setcred_only");
}

static int module_result(const struct pamsim_line *l, const struct scenario *sc) {
        if (is_neostra(l)) {
                if (pamsim_setcred_only(l) && sc->step == STEP_AUTH)
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

/* What libpam carries from line to line: the impression and the status. */
struct state {
        int impression;
        int status;
};

/*
 * libpam's walk (_pam_dispatch_aux, chain not frozen) over the lines of one
 * level.  A substack's lines work on the same state as its parent's (the
 * substack line's own control is never used); what ends early, done and
 * die, ends only the level it is on, a jump cannot leave its level (one
 * past the end is a failure), and reset goes back to the state the level
 * was entered with.
 */
static void run_level(const struct pamsim_stack *s, const struct scenario *sc, struct pamsim_trace *t,
                      struct state *st) {
        const struct state entry = *st;
        size_t i;

        for (i = 0; i < s->n; i++) {
                const struct pamsim_line *l = &s->lines[i];
                int ret, act;

                if (l->sub) {
                        run_level(l->sub, sc, t, st);
                        continue;
                }
                ret = module_result(l, sc);
                if (t->n_ran < PAMSIM_LINES_MAX)
                        t->ran[t->n_ran++] = l;
                if (is_neostra(l) && !t->neostra && !(sc->step == STEP_AUTH && pamsim_setcred_only(l)))
                        t->neostra = l;
                act = l->actions[ret];
                switch (act) {
                case ACT_RESET:
                        *st = entry;
                        break;
                case ACT_OK:
                case ACT_DONE:
                        /* Whatever the answer, "ignore" included: a line
                         * that says ignore=ok makes "ignore" the result. */
                        if (st->impression == UNDEF || (st->impression == POSITIVE && st->status == PAM_SUCCESS)) {
                                st->impression = POSITIVE;
                                st->status = ret;
                        }
                        if (st->impression == POSITIVE && act == ACT_DONE)
                                return;
                        break;
                case ACT_BAD:
                case ACT_DIE:
                        /* "ignore" never becomes the result; a success
                         * here is turned into a failure at the end. */
                        if (st->impression != NEGATIVE) {
                                st->impression = NEGATIVE;
                                st->status = ret == PAM_IGNORE ? PAM_PERM_DENIED : ret;
                        }
                        if (act == ACT_DIE)
                                return;
                        break;
                case ACT_IGNORE:
                case ACT_END:
                        break;
                default:
                        if (i + (size_t) act >= s->n) {
                                st->impression = NEGATIVE;
                                st->status = PAM_PERM_DENIED;
                                return;
                        }
                        i += (size_t) act;      /* skip the next act lines */
                        break;
                }
        }
}

static int run_stack(const struct pamsim_stack *s, const struct scenario *sc, struct pamsim_trace *t) {
        struct state st = { .impression = UNDEF, .status = PAM_PERM_DENIED };

        run_level(s, sc, t, &st);
        /* libpam's last check: no success without a positive impression. */
        if (st.status == PAM_SUCCESS && st.impression != POSITIVE)
                return PAM_PERM_DENIED;
        return st.status;
}

int pamsim_run(const struct pamsim_stack *s, enum pamsim_step step, int unix_ret, int neostra_ret,
               struct pamsim_trace *t) {
        struct scenario sc = { .step = step, .unix_ret = unix_ret, .neostra_ret = neostra_ret };

        memset(t, 0, sizeof(*t));
        return run_stack(s, &sc, t);
}

const struct pamsim_line *pamsim_find_neostra(const struct pamsim_stack *s, bool main_only) {
        for (size_t i = 0; i < s->n; i++) {
                const struct pamsim_line *l = &s->lines[i], *r;

                if (l->sub && (r = pamsim_find_neostra(l->sub, main_only)))
                        return r;
                if (!l->sub && is_neostra(l) && !(main_only && pamsim_setcred_only(l)))
                        return l;
        }
        return NULL;
}

const char *pamsim_action_name(int act, char *buf, size_t size) {
        static const char *const names[] = { "ignore", "ok", "done", "bad", "die", "reset", "end" };

        if (act > 0)
                snprintf(buf, size, "a jump over %d line(s)", act);
        else
                snprintf(buf, size, "%s", names[-act]);
        return buf;
}


int pamsim_read(const char *dir, const char *path, int type, struct pamsim_stack **ret, char *err,
                size_t errlen) {
        struct pamsim_stack *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        pam_dir = dir;
        r = add_file(s, path, type, 0, err, errlen);
        pam_dir = NULL;
        if (r < 0) {
                pamsim_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

