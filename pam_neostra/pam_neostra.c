/* SPDX-License-Identifier: MIT */
/*
 * pam_neostra.so: hands login name and password to neostrad over
 * /run/neostra/io.neostra.Auth and turns its answer into a PAM result.
 *
 * The rules the module keeps, in order of importance:
 *  - never PAM_SUCCESS except on a well-formed success reply;
 *  - root, excluded names, names in a domain [users] domains does not
 *    accept and the accounts of /etc/passwd (local_accounts opts some of
 *    those in) are decided here, without a round trip, so their passwords
 *    never leave the process; an account only another NSS source knows
 *    (LDAP, SSSD) is refused by the daemon, which never sends it to the
 *    API, and gets PAM_IGNORE here all the same, also while the daemon
 *    cannot be reached (policy.c);
 *  - setcred and the session hooks never fail a user they cannot tell is
 *    ours, and never rely on what authentication kept in the handle: sshd
 *    runs them in another process;
 *  - every wait is bounded by one deadline (timeout=), nothing here exits,
 *    aborts, raises SIGPIPE or installs a signal handler;
 *  - the password is only ever in PAM's own item and in the request, and
 *    the request is wiped once sent (common/wire.c).
 *
 * JSON goes through the module's own small codec (common/wire.c), not
 * jansson: libpam loads this module at every pam_start, and loading
 * libjansson with it would cost more than the module itself.
 *
 * The only state kept between calls lives in the PAM handle (pam_set_data):
 * the [users] policy read from the daemon's config, the account verdict a
 * successful Authenticate brought (so account management needs no second
 * call), and the supplementary groups account management learnt, for
 * setcred.
 *
 * This file holds the entry points (pam_sm_*) and how each turns the
 * daemon's answer into a PAM result and a message; args.c parses the
 * arguments, policy.c decides which names are ours, call.c makes one call
 * to the daemon and account.c decides account management on its answer.
 */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/transport.h"
#include "neostra/wire.h"

#define PAM_NEOSTRA_EXPORT __attribute__((visibility("default")))

/* ---- the start of every entry point ------------------------------------- */

/* The result when no answer can be had: code, or PAM_IGNORE with
 * ignore_authinfo_unavail. */
static int unavailable(const struct ctx *c, int code) {
        return c->args.ignore_authinfo_unavail ? PAM_IGNORE : code;
}

/* The result when the daemon cannot be reached: unavailable(), or
 * PAM_IGNORE for an account another NSS source has (not_ours_by_nss()). */
static int unreachable(struct ctx *c, int code) {
        if (not_ours_by_nss(c))
                return PAM_IGNORE;
        return unavailable(c, code);
}

/* Which entry point begin() starts. */
enum step {
        STEP_AUTH,
        STEP_ACCOUNT,
        STEP_CRED,
        STEP_SESSION,
        STEP_PASSWORD,
};

/* setcred, the session hooks and chauthtok never fail a user they cannot
 * tell is ours: PAM_IGNORE lets the rest of the stack decide. */
static bool lenient(enum step step) {
        return step != STEP_AUTH && step != STEP_ACCOUNT;
}

/* PAM_USER_UNKNOWN, or PAM_IGNORE with ignore_unknown_user. */
static int user_unknown(const struct ctx *c) {
        return c->args.ignore_unknown_user ? PAM_IGNORE : PAM_USER_UNKNOWN;
}

/*
 * Common start of every pam_sm_*: arguments, user name, policy.  Returns
 * PAM_SUCCESS when the caller should go on with c->user (ours, or for the
 * daemon to decide), or the result the caller must return: PAM_IGNORE for
 * a name that is not ours; for one we cannot handle (invalid, or with '@'
 * in a domain [users] domains does not accept), PAM_USER_UNKNOWN in auth
 * (and for an invalid name in account management) and PAM_IGNORE
 * elsewhere; a lookup that failed is "unavailable" in auth and account
 * management and PAM_IGNORE in the lenient steps.  Those never prompt
 * for a user name either: they read PAM_USER.
 */
static int begin(struct ctx *c, pam_handle_t *pamh, int flags, int argc, const char **argv, enum step step) {
        const void *item = NULL;
        const char *user = NULL;
        int r;

        *c = (struct ctx) { .pamh = pamh, .flags = flags };
        parse_args(pamh, argc, argv, &c->args);

        if (lenient(step)) {
                r = pam_get_item(pamh, PAM_USER, &item);
                user = item;
                if (r != PAM_SUCCESS || !user) {
                        if (c->args.debug)
                                pam_syslog(pamh, LOG_DEBUG, "no user name: nothing to do");
                        return PAM_IGNORE;
                }
        } else {
                r = pam_get_user(pamh, &user, NULL);
                if (r == PAM_CONV_AGAIN)
                        return PAM_INCOMPLETE;
                if (r != PAM_SUCCESS) {
                        pam_syslog(pamh, LOG_ERR, "cannot get user name: %s", pam_strerror(pamh, r));
                        return r;
                }
        }
        if (!neostra_valid_login_name(user)) {
                /* The name itself is not logged: it could hold anything.
                 * Where the answer is "not ours" anyway, say it only with
                 * debug, as such a name may be a legitimate local account. */
                if (!lenient(step)) {
                        pam_syslog(pamh, LOG_NOTICE, "invalid user name");
                        return user_unknown(c);
                }
                if (c->args.debug)
                        pam_syslog(pamh, LOG_DEBUG, "user name not handled by Neostra");
                return PAM_IGNORE;
        }
        c->user = user;

        switch (classify_user(c)) {
        case USER_OURS:
                return PAM_SUCCESS;
        case USER_NOT_OURS:
                return PAM_IGNORE;
        case USER_FOREIGN_DOMAIN:
                /* Never sent anywhere: anyone may own user@elsewhere at
                 * the API. */
                if (step == STEP_AUTH) {
                        pam_syslog(pamh, LOG_NOTICE, "user name in a domain not in [users] domains, "
                                   "not sent; user=%s", c->user);
                        return user_unknown(c);
                }
                if (c->args.debug)
                        pam_syslog(pamh, LOG_DEBUG, "domain not in [users] domains; user=%s", c->user);
                return PAM_IGNORE;
        case USER_LOOKUP_FAILED:
        default:
                return lenient(step) ? PAM_IGNORE : unavailable(c, PAM_AUTHINFO_UNAVAIL);
        }
}

/* ---- authentication ----------------------------------------------------- */

/* "offlineUntil": unix seconds (protocol.h) until which cached
 * credentials last. */
static bool format_offline_until(const struct wire_value *params, char *buf, size_t n) {
        const struct wire_value *v = wire_get(params, "offlineUntil");
        struct tm tm;
        time_t secs;

        if (!v || v->type != WIRE_INTEGER || v->integer <= 0)
                return false;
        secs = (time_t) v->integer;
        return localtime_r(&secs, &tm) && strftime(buf, n, "%Y-%m-%d %H:%M %Z", &tm) > 0;
}

static int authenticate_reply(struct ctx *c, const struct wire_value *reply) {
        const struct wire_value *user = wire_get(reply, "user");
        bool offline = false;
        int r;

        r = wire_param_bool(reply, "offline", &offline);
        if (r < 0 && r != -ENOENT) {
                pam_syslog(c->pamh, LOG_ERR, "invalid reply from neostrad (offline); user=%s", c->user);
                return unavailable(c, PAM_AUTHINFO_UNAVAIL);
        }
        if (user && user->type != WIRE_STRING) {
                pam_syslog(c->pamh, LOG_ERR, "invalid reply from neostrad (user); user=%s", c->user);
                return unavailable(c, PAM_AUTHINFO_UNAVAIL);
        }

        if (offline) {
                char until[96];
                bool have_until = format_offline_until(reply, until, sizeof(until));

                pam_syslog(c->pamh, LOG_NOTICE, "authentication succeeded offline (cached credentials); user=%s",
                           c->user);
                if (!(c->flags & PAM_SILENT)) {
                        if (have_until)
                                (void) pam_info(c->pamh,
                                                "Neostra did not answer in time: your password was checked "
                                                "against cached credentials, usable until %s.", until);
                        else
                                (void) pam_info(c->pamh,
                                                "Neostra did not answer in time: your password was checked "
                                                "against cached credentials.");
                }
        } else
                pam_syslog(c->pamh, LOG_INFO, "authentication succeeded; user=%s", c->user);
        return PAM_SUCCESS;
}

static int authenticate_error(struct ctx *c, const char *error, const struct wire_value *params,
                              const char *rhost) {
        const char *reason = reason_of(params);
        const char *why = c->args.debug && reason ? reason : "";
        const char *sep = *why ? ": " : "";

        if (streq_error(error, NEOSTRA_ERROR_AUTHENTICATION_FAILED)) {
                pam_syslog(c->pamh, LOG_NOTICE, "authentication failure%s%s; user=%s rhost=%s",
                           sep, why, c->user, rhost);
                return PAM_AUTH_ERR;
        }
        if (streq_error(error, NEOSTRA_ERROR_USER_UNKNOWN)) {
                pam_syslog(c->pamh, LOG_NOTICE, "user unknown to Neostra%s%s; user=%s rhost=%s",
                           sep, why, c->user, rhost);
                return c->args.ignore_unknown_user ? PAM_IGNORE : PAM_USER_UNKNOWN;
        }
        if (streq_error(error, NEOSTRA_ERROR_NOT_OUR_USER)) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "neostrad says not a Neostra user%s%s; user=%s",
                                   sep, why, c->user);
                return PAM_IGNORE;
        }
        if (streq_error(error, NEOSTRA_ERROR_PERMISSION_DENIED)) {
                pam_syslog(c->pamh, LOG_NOTICE, "neostrad refused the request (permission denied)%s%s; user=%s",
                           sep, why, c->user);
                return PAM_AUTH_ERR;
        }
        if (streq_error(error, NEOSTRA_ERROR_RATE_LIMITED)) {
                pam_syslog(c->pamh, LOG_NOTICE, "authentication rate limited%s%s; user=%s rhost=%s",
                           sep, why, c->user, rhost);
                return PAM_AUTH_ERR;
        }

        /* ServiceUnavailable, and every error this module does not know:
         * never a success, never blamed on the user. */
        pam_syslog(c->pamh, LOG_ERR, "authentication unavailable: %s%s%s; user=%s rhost=%s",
                   neostra_error_short(error), reason ? ": " : "", reason ? reason : "", c->user, rhost);
        return unavailable(c, PAM_AUTHINFO_UNAVAIL);
}

PAM_NEOSTRA_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        const char *password = NULL, *rhost = "";
        const void *item = NULL;
        struct request req;
        struct wire_buf buf = {};
        struct wire_reply reply = {};
        size_t len;
        int r, ret;

        /* "auth optional pam_neostra.so setcred_only" at the end of an auth
         * stack (where pam_group goes) only adds the role groups at
         * pam_setcred time; it never asks for or sends a password, so a
         * local user whose password an earlier module accepted is safe. */
        for (int i = 0; i < argc; i++)
                if (argv[i] && strcmp(argv[i], "setcred_only") == 0)
                        return PAM_IGNORE;

        ret = begin(&c, pamh, flags, argc, argv, STEP_AUTH);
        if (ret != PAM_SUCCESS)
                return ret;

        /* For the log only, and only when it cannot forge a log line;
         * bytes that are not UTF-8 cannot, so they are not checked. */
        if (pam_get_item(pamh, PAM_RHOST, &item) == PAM_SUCCESS && item &&
            printable(item, NEOSTRA_TEXT_BYTES))
                rhost = item;

        r = pam_get_authtok(pamh, PAM_AUTHTOK, &password, NULL);
        if (r != PAM_SUCCESS) {
                if (r == PAM_CONV_AGAIN)
                        return PAM_INCOMPLETE;
                pam_syslog(pamh, LOG_ERR, "cannot get password: %s; user=%s", pam_strerror(pamh, r), c.user);
                return r;
        }
        if (!password || password[0] == '\0') {
                pam_syslog(pamh, LOG_NOTICE, "authentication failure: empty password; user=%s rhost=%s",
                           c.user, rhost);
                return PAM_AUTH_ERR;
        }
        len = strnlen(password, NEOSTRA_PASSWORD_MAX + 1);
        if (len > NEOSTRA_PASSWORD_MAX) {
                pam_syslog(pamh, LOG_NOTICE, "authentication failure: password longer than %u bytes; user=%s rhost=%s",
                           NEOSTRA_PASSWORD_MAX, c.user, rhost);
                return PAM_AUTH_ERR;
        }

        /* Only the encoding: a password may hold any character. */
        if (!neostra_text_valid(password, len, NEOSTRA_TEXT_CONTROLS)) {
                /* JSON carries UTF-8 only; the API could never accept it. */
                pam_syslog(pamh, LOG_NOTICE, "authentication failure: password is not valid UTF-8; user=%s rhost=%s",
                           c.user, rhost);
                return PAM_AUTH_ERR;
        }

        user_params(&c, &req);
        add_string(&req, "password", password);
        set_optional_item(&c, &req, "rhost", PAM_RHOST);
        set_optional_item(&c, &req, "tty", PAM_TTY);
        if (build_request(&c, NEOSTRA_METHOD_AUTHENTICATE, &req, &buf) < 0)
                return PAM_BUF_ERR;

        forget_account_answer(&c);     /* of an earlier attempt in this transaction */
        r = call_daemon(&c, NEOSTRA_METHOD_AUTHENTICATE, &buf, true, &reply);
        if (r < 0)
                return unreachable(&c, PAM_AUTHINFO_UNAVAIL);

        if (reply.error)
                ret = authenticate_error(&c, reply.error, reply.params, rhost);
        else {
                ret = authenticate_reply(&c, reply.params);
                if (ret == PAM_SUCCESS)
                        remember_account_answer(&c, &reply);
        }
        wire_reply_done(&reply);
        return ret;
}

PAM_NEOSTRA_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        struct account a;
        int ret;

        ret = begin(&c, pamh, flags, argc, argv, STEP_ACCOUNT);
        if (ret != PAM_SUCCESS)
                return ret;

        switch (check_account(&c, &a)) {
        case ACCOUNT_ALLOWED:
                pam_syslog(pamh, LOG_INFO, "account allowed%s%s; user=%s",
                           a.roles[0] ? ": roles " : "", a.roles, c.user);
                remember_groups(&c, &a);
                ret = PAM_SUCCESS;
                break;
        case ACCOUNT_DENIED:
                pam_syslog(pamh, LOG_NOTICE, "account denied by neostrad%s%s; user=%s",
                           a.reason[0] ? ": " : "", a.reason, c.user);
                if (!(flags & PAM_SILENT))
                        (void) pam_error(pamh, "%s", a.reason[0] ? a.reason
                                         : "Your Neostra account may not log in here.");
                ret = PAM_PERM_DENIED;
                break;
        case ACCOUNT_ROLE_DENIED:
                pam_syslog(pamh, LOG_NOTICE, "account denied: no role in allow_roles=%s (roles: %s); user=%s",
                           c.args.allow_roles, a.roles[0] ? a.roles : "none", c.user);
                if (!(flags & PAM_SILENT))
                        (void) pam_error(pamh, "Your Neostra roles do not allow logins to this service.");
                ret = PAM_PERM_DENIED;
                break;
        case ACCOUNT_REFUSED:
                ret = PAM_PERM_DENIED;
                break;
        case ACCOUNT_UNKNOWN:
                pam_syslog(pamh, LOG_NOTICE, "user unknown to neostrad; user=%s", c.user);
                ret = c.args.ignore_unknown_user ? PAM_IGNORE : PAM_USER_UNKNOWN;
                break;
        case ACCOUNT_NOT_OURS:
                if (c.args.debug)
                        pam_syslog(pamh, LOG_DEBUG, "neostrad says not a Neostra user; user=%s", c.user);
                ret = PAM_IGNORE;
                break;
        case ACCOUNT_UNAVAILABLE:
        default:
                ret = unavailable(&c, PAM_AUTHINFO_UNAVAIL);
                break;
        }
        account_done(&a);
        return ret;
}

/* Add gids to the supplementary groups, like pam_group: keep what is there,
 * add what is missing, and do not call setgroups() when nothing is. */
static int add_groups(struct ctx *c, const gid_t *gids, size_t n) {
        gid_t *list = NULL;
        size_t total, i, j;
        long max = sysconf(_SC_NGROUPS_MAX);
        bool added = false;
        int cur, ret;

        if (n == 0)
                return PAM_SUCCESS;

        for (;;) {
                cur = getgroups(0, NULL);
                if (cur < 0)
                        goto fail_errno;
                free(list);
                list = calloc((size_t) cur + n + 1, sizeof(gid_t));
                if (!list) {
                        pam_syslog(c->pamh, LOG_ERR, "out of memory; user=%s", c->user);
                        return PAM_BUF_ERR;
                }
                cur = getgroups(cur, list);
                if (cur >= 0)
                        break;
                if (errno != EINVAL)    /* EINVAL: the list grew meanwhile */
                        goto fail_errno;
        }

        total = (size_t) cur;
        for (i = 0; i < n; i++) {
                for (j = 0; j < total; j++)
                        if (list[j] == gids[i])
                                break;
                if (j < total)
                        continue;
                list[total++] = gids[i];
                added = true;
        }
        if (!added) {
                ret = PAM_SUCCESS;
                goto done;
        }
        if (max > 0 && total > (size_t) max) {
                pam_syslog(c->pamh, LOG_ERR, "too many supplementary groups (%zu > %ld); user=%s",
                           total, max, c->user);
                ret = PAM_CRED_ERR;
                goto done;
        }
        if (setgroups(total, list) < 0) {
                pam_syslog(c->pamh, LOG_ERR, "cannot add Neostra groups: setgroups: %m; user=%s", c->user);
                ret = PAM_CRED_ERR;
                goto done;
        }
        if (c->args.debug)
                pam_syslog(c->pamh, LOG_DEBUG, "added %zu supplementary groups; user=%s",
                           total - (size_t) cur, c->user);
        ret = PAM_SUCCESS;
        goto done;

fail_errno:
        pam_syslog(c->pamh, LOG_ERR, "getgroups: %m; user=%s", c->user);
        ret = PAM_CRED_ERR;
done:
        free(list);
        return ret;
}

/*
 * The groups of an allowed account, like pam_group.  sshd calls this (and
 * the session hooks) in another process than pam_authenticate, so nothing
 * authentication kept in the handle is there: the account step's groups
 * are used when this process has them, the daemon is asked otherwise.  A
 * user it cannot add groups for (not ours, unknown, refused, or the daemon
 * cannot be asked) gets PAM_IGNORE, never an error: the password was
 * checked already, perhaps by another module, and a failing setcred would
 * end the login.
 */
PAM_NEOSTRA_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        struct account a = {};
        const void *p = NULL;
        int op = flags & ~PAM_SILENT, ret;

        ret = begin(&c, pamh, flags, argc, argv, STEP_CRED);
        if (ret != PAM_SUCCESS)
                return ret;

        if (op & PAM_DELETE_CRED)
                return PAM_SUCCESS;
        if (!(op & (PAM_ESTABLISH_CRED | PAM_REINITIALIZE_CRED | PAM_REFRESH_CRED)))
                return PAM_SUCCESS;

        if (pam_get_data(pamh, DATA_GROUPS, &p) == PAM_SUCCESS && p &&
            strcmp(((const struct groups_data *) p)->user, c.user) == 0) {
                const struct groups_data *d = p;

                return add_groups(&c, d->gids, d->n);
        }

        /* No account management in this process (sshd's, or a screen
         * locker's, or a stack without our account line): ask now. */
        switch (check_account(&c, &a)) {
        case ACCOUNT_ALLOWED:
                ret = add_groups(&c, a.gids, a.n_gids);
                break;
        case ACCOUNT_DENIED:
        case ACCOUNT_ROLE_DENIED:
        case ACCOUNT_REFUSED:
                /* Account management refuses the login; groups are not
                 * ours to refuse. */
                pam_syslog(pamh, LOG_NOTICE, "not adding groups: account not allowed; user=%s", c.user);
                ret = PAM_IGNORE;
                break;
        case ACCOUNT_UNAVAILABLE:
                pam_syslog(pamh, LOG_NOTICE, "not adding groups: neostrad cannot be asked; user=%s", c.user);
                ret = PAM_IGNORE;
                break;
        case ACCOUNT_UNKNOWN:
        case ACCOUNT_NOT_OURS:
        default:
                /* Not a user we could give groups to: nothing to do. */
                ret = PAM_IGNORE;
                break;
        }
        account_done(&a);
        return ret;
}

/* ---- sessions and passwords --------------------------------------------- */

/*
 * Whether the session is a Neostra user's: one this process's account step
 * allowed, or else one the daemon allows now.  Anyone else, and everyone
 * while the daemon cannot be asked, gets PAM_IGNORE: the session hooks only
 * log, and never fail a session.
 */
static int session_begin(struct ctx *c, pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct account a;
        const void *p = NULL;
        enum account_outcome o;
        int ret;

        ret = begin(c, pamh, flags, argc, argv, STEP_SESSION);
        if (ret != PAM_SUCCESS)
                return ret;
        if (pam_get_data(pamh, DATA_GROUPS, &p) == PAM_SUCCESS && p &&
            strcmp(((const struct groups_data *) p)->user, c->user) == 0)
                return PAM_SUCCESS;
        o = check_account(c, &a);
        account_done(&a);
        if (o != ACCOUNT_ALLOWED) {
                if (c->args.debug)
                        pam_syslog(pamh, LOG_DEBUG, "session: not an allowed Neostra user; user=%s", c->user);
                return PAM_IGNORE;
        }
        return PAM_SUCCESS;
}

PAM_NEOSTRA_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        int ret;

        ret = session_begin(&c, pamh, flags, argc, argv);
        if (ret != PAM_SUCCESS)
                return ret;
        pam_syslog(pamh, LOG_INFO, "session opened; user=%s", c.user);
        return PAM_SUCCESS;
}

PAM_NEOSTRA_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        int ret;

        ret = session_begin(&c, pamh, flags, argc, argv);
        if (ret != PAM_SUCCESS)
                return ret;
        pam_syslog(pamh, LOG_INFO, "session closed; user=%s", c.user);
        return PAM_SUCCESS;
}

/*
 * Passwords live at Neostra; we can change none.  A user the daemon does not
 * know (a local account above minimum_uid) is left to the other modules,
 * and so is everybody when the daemon cannot tell: pam_unix then fails for
 * a Neostra user on its own, as there is no local password to change.
 */
PAM_NEOSTRA_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        struct account a;
        enum account_outcome o;
        int ret;

        ret = begin(&c, pamh, flags, argc, argv, STEP_PASSWORD);
        if (ret != PAM_SUCCESS)
                return ret;

        o = check_account(&c, &a);
        account_done(&a);
        if (o == ACCOUNT_UNKNOWN || o == ACCOUNT_NOT_OURS || o == ACCOUNT_UNAVAILABLE)
                return PAM_IGNORE;

        pam_syslog(pamh, LOG_NOTICE, "password change refused: managed by Neostra; user=%s", c.user);
        if (!(flags & PAM_SILENT))
                (void) pam_error(pamh, "Your password is managed by Neostra: "
                                 "change it on the Neostra web site.");
        return PAM_AUTHTOK_ERR;
}
