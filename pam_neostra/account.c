/* SPDX-License-Identifier: MIT */
/*
 * Account management's decision: CheckAccount's answer, or the one a
 * successful Authenticate of this transaction brought along, checked
 * against the module's allow_roles=; and the supplementary groups an
 * allowed account gets, kept in the PAM handle for pam_sm_setcred().
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"
#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/transport.h"
#include "neostra/wire.h"

#define GROUPS_MAX 1024u                /* supplementary groups in one reply */

/* ---- the account answer of Authenticate --------------------------------- */

/*
 * A successful Authenticate carries what CheckAccount would answer at that
 * moment ("allowed", "reason", "roles", "groups": protocol.h), so its
 * parameters are a CheckAccount reply.  The transaction's account step, which
 * follows at once in every stack, decides on it instead of asking the
 * daemon again: one connection and round trip per login instead of two.
 * Only for the same user and socket, only once, and only within
 * ACCOUNT_ANSWER_MAX_AGE_USEC of the answer; otherwise the step asks.  A
 * forked child (sshd may fork between the steps) has its own copy.
 */
#define ACCOUNT_ANSWER_MAX_AGE_USEC (60u * 1000000u)

struct account_answer {
        char *user;
        char *socket_path;
        uint64_t at;                            /* neostra_now_usec() of the answer */
        struct wire_doc doc;                    /* the whole reply: owns params */
        const struct wire_value *params;        /* its parameters */
};

static void account_answer_free(pam_handle_t *pamh, void *data, int error_status) {
        struct account_answer *d = data;

        (void) pamh;
        (void) error_status;
        if (!d)
                return;
        free(d->user);
        free(d->socket_path);
        wire_doc_done(&d->doc);
        free(d);
}

void forget_account_answer(struct ctx *c) {
        (void) pam_set_data(c->pamh, DATA_ACCOUNT, NULL, NULL);     /* frees the old one */
}

/* Keep a successful Authenticate reply that has the verdict; takes the
 * reply's tree.  A daemon that sends none leaves the account step to ask. */
void remember_account_answer(struct ctx *c, struct wire_reply *reply) {
        const struct wire_value *allowed = wire_get(reply->params, "allowed");
        struct account_answer *d;

        if (!allowed || allowed->type != WIRE_BOOL)
                return;
        d = calloc(1, sizeof(*d));
        if (!d)
                return;
        d->user = strdup(c->user);
        d->socket_path = strdup(c->args.socket_path);
        if (!d->user || !d->socket_path) {
                account_answer_free(c->pamh, d, 0);
                return;
        }
        d->at = neostra_now_usec();
        d->doc = reply->doc;
        d->params = reply->params;
        reply->doc = (struct wire_doc) {};
        reply->params = NULL;
        if (pam_set_data(c->pamh, DATA_ACCOUNT, d, account_answer_free) != PAM_SUCCESS)
                account_answer_free(c->pamh, d, 0);
}

/* The kept answer if it is for this user and socket and fresh, else NULL
 * (and one that is not is dropped). */
static const struct account_answer *kept_account_answer(struct ctx *c) {
        const void *p = NULL;
        const struct account_answer *d;

        if (pam_get_data(c->pamh, DATA_ACCOUNT, &p) != PAM_SUCCESS || !p)
                return NULL;
        d = p;
        if (strcmp(d->user, c->user) == 0 && strcmp(d->socket_path, c->args.socket_path) == 0 &&
            neostra_now_usec() - d->at <= ACCOUNT_ANSWER_MAX_AGE_USEC)
                return d;
        forget_account_answer(c);
        return NULL;
}

/* ---- account management and groups -------------------------------------- */

static void groups_data_free(pam_handle_t *pamh, void *data, int error_status) {
        struct groups_data *d = data;

        if (!d)
                return;
        free(d->user);
        free(d);
}

static bool role_in_list(const char *list, const char *role) {
        size_t rn = strlen(role);
        const char *p = list;

        while (*p) {
                const char *end;
                size_t n;

                p += strspn(p, ", ");
                end = p + strcspn(p, ",");
                n = (size_t) (end - p);
                while (n > 0 && p[n - 1] == ' ')
                        n--;
                if (n > 0 && n == rn && memcmp(p, role, n) == 0)
                        return true;
                p = end;
        }
        return false;
}

/* Fills a->roles for the log; decides the module's allow_roles=.  Returns
 * 1 allowed, 0 not allowed, -EBADMSG when roles is ill-typed. */
static int check_roles(struct ctx *c, const struct wire_value *reply, struct account *a) {
        const struct wire_value *roles = wire_get(reply, "roles"), *v;
        bool match = false;
        size_t i, off = 0;

        if (roles && roles->type != WIRE_ARRAY)
                return -EBADMSG;
        if (roles && roles->length > NEOSTRA_ROLES_MAX)
                return -EBADMSG;
        for (v = roles ? roles->first : NULL; v; v = v->next) {
                const char *s;
                int k;

                if (v->type != WIRE_STRING)
                        return -EBADMSG;
                s = v->string;  /* wire strings hold no NUL: s is the whole role */
                if (c->args.allow_roles && role_in_list(c->args.allow_roles, s))
                        match = true;
                if (off < sizeof(a->roles)) {
                        k = snprintf(a->roles + off, sizeof(a->roles) - off, "%s%s", off ? ", " : "", s);
                        if (k > 0)
                                off += (size_t) k;
                }
        }
        /* Printable roles only in the log. */
        for (i = 0; a->roles[i]; i++)
                if (!neostra_text_char_ok((unsigned char) a->roles[i], 0))
                        a->roles[i] = '?';
        return !c->args.allow_roles || match ? 1 : 0;
}

/* The gids to add.  A group we must never add (gid 0, or out of range) is
 * dropped with a log line; an ill-typed list makes the reply invalid. */
static int parse_groups(struct ctx *c, const struct wire_value *reply, struct account *a) {
        const struct wire_value *groups = wire_get(reply, "groups"), *v;

        if (!groups)
                return 0;
        if (groups->type != WIRE_ARRAY || groups->length > GROUPS_MAX)
                return -EBADMSG;
        if (groups->length == 0)
                return 0;
        a->gids = calloc(groups->length, sizeof(gid_t));
        if (!a->gids)
                return -ENOMEM;

        for (v = groups->first; v; v = v->next) {
                const struct wire_value *gid = wire_get(v, "gid");      /* NULL unless v is an object */
                int64_t g;

                if (!gid || gid->type != WIRE_INTEGER)
                        return -EBADMSG;
                g = gid->integer;
                if (g <= 0 || g >= (int64_t) INT32_MAX) {
                        pam_syslog(c->pamh, LOG_ERR, "refusing group with gid %lld from neostrad; user=%s",
                                   (long long) g, c->user);
                        continue;
                }
                a->gids[a->n_gids++] = (gid_t) g;
        }
        return 0;
}

void account_done(struct account *a) {
        free(a->gids);
        a->gids = NULL;
        a->n_gids = 0;
}

/* CheckAccount (or the account answer of this transaction's Authenticate),
 * decided: the daemon's verdict and the module's allow_roles= must both
 * pass. */
enum account_outcome check_account(struct ctx *c, struct account *a) {
        struct request req;
        struct wire_buf buf = {};
        struct wire_reply answer = {};
        const struct account_answer *kept;
        const struct wire_value *reply;
        const char *error, *reason;
        bool allowed = false;
        enum account_outcome o;
        int r;

        *a = (struct account) {};

        kept = kept_account_answer(c);
        if (kept) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "account: the answer of Authenticate; user=%s",
                                   c->user);
                reply = kept->params;
                error = NULL;
        } else {
                user_params(c, &req);
                if (build_request(c, NEOSTRA_METHOD_CHECK_ACCOUNT, &req, &buf) < 0)
                        return ACCOUNT_UNAVAILABLE;
                if (call_daemon(c, NEOSTRA_METHOD_CHECK_ACCOUNT, &buf, false, &answer) < 0)
                        return not_ours_by_nss(c) ? ACCOUNT_NOT_OURS : ACCOUNT_UNAVAILABLE;
                reply = answer.params;
                error = answer.error;
        }

        reason = reason_of(reply);
        if (reason)
                snprintf(a->reason, sizeof(a->reason), "%s", reason);

        if (error) {
                if (streq_error(error, NEOSTRA_ERROR_USER_UNKNOWN))
                        o = ACCOUNT_UNKNOWN;
                else if (streq_error(error, NEOSTRA_ERROR_NOT_OUR_USER))
                        o = ACCOUNT_NOT_OURS;
                else if (streq_error(error, NEOSTRA_ERROR_PERMISSION_DENIED) ||
                         streq_error(error, NEOSTRA_ERROR_RATE_LIMITED))
                        o = ACCOUNT_REFUSED;
                else {
                        pam_syslog(c->pamh, LOG_ERR, "account check unavailable: %s%s%s; user=%s",
                                   neostra_error_short(error), reason ? ": " : "", reason ? reason : "",
                                   c->user);
                        o = ACCOUNT_UNAVAILABLE;
                }
                if (o == ACCOUNT_REFUSED)
                        pam_syslog(c->pamh, LOG_NOTICE, "account check refused by neostrad: %s%s%s; user=%s",
                                   neostra_error_short(error), reason ? ": " : "", reason ? reason : "",
                                   c->user);
                goto done;
        }

        r = wire_param_bool(reply, "allowed", &allowed);
        if (r < 0) {
                pam_syslog(c->pamh, LOG_ERR, "invalid reply from neostrad (allowed); user=%s", c->user);
                o = ACCOUNT_UNAVAILABLE;
                goto done;
        }
        if (!allowed) {
                o = ACCOUNT_DENIED;
                goto done;
        }
        r = check_roles(c, reply, a);
        if (r < 0) {
                pam_syslog(c->pamh, LOG_ERR, "invalid reply from neostrad (roles); user=%s", c->user);
                o = ACCOUNT_UNAVAILABLE;
                goto done;
        }
        if (r == 0) {
                o = ACCOUNT_ROLE_DENIED;
                goto done;
        }
        r = parse_groups(c, reply, a);
        if (r < 0) {
                pam_syslog(c->pamh, LOG_ERR, "invalid reply from neostrad (groups); user=%s", c->user);
                account_done(a);
                o = ACCOUNT_UNAVAILABLE;
                goto done;
        }
        o = ACCOUNT_ALLOWED;

done:
        wire_reply_done(&answer);
        if (kept)
                forget_account_answer(c);
        return o;
}

void remember_groups(struct ctx *c, const struct account *a) {
        struct groups_data *d;

        d = calloc(1, sizeof(*d) + a->n_gids * sizeof(gid_t));
        if (!d)
                return;
        d->user = strdup(c->user);
        if (!d->user) {
                free(d);
                return;
        }
        d->n = a->n_gids;
        if (a->n_gids)
                memcpy(d->gids, a->gids, a->n_gids * sizeof(gid_t));
        if (pam_set_data(c->pamh, DATA_GROUPS, d, groups_data_free) != PAM_SUCCESS)
                groups_data_free(c->pamh, d, 0);
}
