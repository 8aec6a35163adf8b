/* SPDX-License-Identifier: MIT */
/*
 * The io.neostra.Auth methods (protocol.h), on the auth socket.  Every
 * method is listed once in the table at the bottom with who may call it and
 * its parameters; the server layer (varlink-server.h) has checked both
 * before a handler here runs.  Methods that take a "user" admit root for
 * anyone and any other uid for its own account only (screen lockers).
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "account.h"
#include "auth-admin.h"
#include "auth-methods.h"
#include "decisions.h"
#include "log.h"
#include "login.h"
#include "nss-park.h"
#include "online.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "ratelimit.h"
#include "userdb.h"
#include "writeback.h"

struct AuthMethods {
        struct auth_deps d;
};

int auth_methods_new(const struct auth_deps *deps, AuthMethods **ret) {
        AuthMethods *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->d = *deps;
        *ret = m;
        return 0;
}

AuthMethods *auth_methods_free(AuthMethods *m) {
        free(m);
        return NULL;
}

static const struct neostra_config *config_of(const AuthMethods *m) {
        return *m->d.config;
}

#define API_GRACE_USEC (2u * 1000000ull)       /* on top of [api] timeout */
#define TOKEN_REFRESH_MARGIN_SEC 60

static int reply_error(VarlinkConn *c, const char *error, const char *reason) {
        (void) varlink_conn_error_reason(c, error, reason);
        return 0;
}

static uint64_t api_deadline_usec(const AuthMethods *m) {
        return config_of(m)->timeout_ms * 1000u + API_GRACE_USEC;
}

/* ---- who asks, about whom ---------------------------------------------------- */

/* Why a name is not ours (not_ours()); 0 when it is. */
enum {
        NOT_OURS_SYSTEM = 1,    /* excluded, or a local system account */
        NOT_OURS_LOCAL,         /* a local account [users] local_accounts does not list */
        NOT_OURS_DOMAIN,        /* a name with '@' in a domain [users] domains does not accept */
};

/*
 * Whether the name is never ours, and why (above), 0 when it is, <0 when
 * local accounts cannot be looked up (never "not ours" then: the module
 * would let the step pass).  NSS here sees local sources only: main() set
 * SYSTEMD_BYPASS_USERDB=io.neostra, so a lookup never reaches our own
 * userdb socket (doc/architecture.md, "How neostrad is built"), and any account it finds
 * (files, LDAP, SSSD) is one neostrad did not publish.
 */
static int not_ours(AuthMethods *m, const char *user) {
        uid_t uid;
        int r;

        if (neostra_user_excluded(config_of(m), user))
                return NOT_OURS_SYSTEM;
        if (!neostra_domain_accepted(config_of(m), user))
                return NOT_OURS_DOMAIN;
        /* getpwnam_r, answered off the loop (need_names() prefetched it). */
        r = localnames_user(m->d.localnames, user, &uid);
        if (r <= 0)
                return r;
        switch (neostra_local_account_class(config_of(m), user, uid, config_of(m)->minimum_uid)) {
        case NEOSTRA_LOCAL_SYSTEM:
                return NOT_OURS_SYSTEM;
        case NEOSTRA_LOCAL_UNLISTED:
                return NOT_OURS_LOCAL;
        case NEOSTRA_LOCAL_LISTED:
        default:
                return 0;
        }
}

static enum decision_outcome not_ours_outcome(int why, bool auth) {
        switch (why) {
        case NOT_OURS_LOCAL:
                return auth ? OUTCOME_AUTH_NOT_OURS_LOCAL : OUTCOME_ACCOUNT_NOT_OURS_LOCAL;
        case NOT_OURS_DOMAIN:
                return auth ? OUTCOME_AUTH_NOT_OURS_DOMAIN : OUTCOME_ACCOUNT_NOT_OURS_DOMAIN;
        case NOT_OURS_SYSTEM:
        default:
                return auth ? OUTCOME_AUTH_NOT_OURS_SYSTEM : OUTCOME_ACCOUNT_NOT_OURS_SYSTEM;
        }
}

static const char *not_ours_reason(int why) {
        switch (why) {
        case NOT_OURS_LOCAL:
                return "local account not in [users] local_accounts";
        case NOT_OURS_DOMAIN:
                return "domain not in [users] domains";
        case NOT_OURS_SYSTEM:
        default:
                return "local system account or excluded name";
        }
}

static int reply_no_names(VarlinkConn *c, AuthMethods *m, const char *method, int r) {
        log_msg(LOG_ERR, "cannot look up local accounts for a %s call: %s", method, strerror(-r));
        if (strcmp(method, "Authenticate") == 0)
                decisions_count(m->d.decisions, OUTCOME_AUTH_UNAVAILABLE_LOOKUP);
        else if (strcmp(method, "CheckAccount") == 0)
                decisions_count(m->d.decisions, OUTCOME_ACCOUNT_UNAVAILABLE_LOOKUP);
        return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot look up local accounts now");
}

/*
 * Root may ask about anyone, another uid about its own account only: its
 * name is looked up first, so nothing else is looked up for a name it may
 * not ask about.  1: go on; 0: answered or parked (the handler returns 0).
 */
static int peer_may_ask(VarlinkConn *c, AuthMethods *m, const char *method, const char *user) {
        uid_t uid = varlink_conn_uid(c);
        const char *name;
        int r;

        if (uid == 0)
                return 1;
        r = names_park_need(m->d.park, c, NAMES_PEER, &(struct localnames_key) {
                .kind = LOCALNAMES_UID_NAME, .id = uid }, 1);
        if (r <= 0)
                return r == 0 ? 0 : reply_no_names(c, m, method, r);
        r = localnames_uid_name(m->d.localnames, uid, &name);
        if (r < 0)
                return reply_no_names(c, m, method, r);
        if (r == 0 && uid >= config_of(m)->uid_min && uid <= config_of(m)->uid_max) {
                /* No local account has the uid: in our range it is one of
                 * the users we publish (a userdb-only user's screen locker
                 * or neostractl token).  NSS here never sees our own
                 * records (SYSTEMD_BYPASS_USERDB), so our table answers. */
                const struct user_record *u = user_table_get_by_uid(m->d.users, uid);

                name = u ? u->name : NULL;
                r = name != NULL;
        }
        if (r > 0 && strcmp(name, user) == 0)
                return 1;
        return reply_error(c, NEOSTRA_ERROR_PERMISSION_DENIED, "only root may ask about another user");
}

/*
 * The NSS answers a login or account call will read (localnames.h), so that
 * none of them is looked up on the loop: the name's local user and group,
 * the uid it would get and the gids of [groups].  Not for a caller over
 * its Authenticate budget: it is refused before any lookup.
 * 1: go on; 0: answered or parked.
 */
static int need_names(VarlinkConn *c, AuthMethods *m, const char *method, const char *user, bool auth) {
        const struct neostra_config *cfg = config_of(m);
        uid_t uid = varlink_conn_uid(c);
        struct localnames_key *keys;
        size_t n = 0, max = USERDB_IDENTITY_KEYS_MAX;
        int r;

        if (neostra_user_excluded(cfg, user) || !neostra_domain_accepted(cfg, user) ||
            (auth && uid != 0 && !ratelimit_check(m->d.ratelimit, uid, false)))
                return 1;
        for (size_t i = 0; i < cfg->n_groups; i++)
                max += cfg->groups[i].groups.n;
        keys = calloc(max, sizeof(*keys));
        if (!keys)
                return reply_no_names(c, m, method, -ENOMEM);
        if (auth)
                n = userdb_identity_keys(m->d.userdb, user, keys);
        else
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_USER, .name = user };
        for (size_t i = 0; i < cfg->n_groups; i++)
                for (size_t j = 0; j < cfg->groups[i].groups.n; j++) {
                        const char *group = cfg->groups[i].groups.v[j];
                        gid_t gid;

                        if (!(cfg->userdb && userdb_published_gid(m->d.userdb, group, &gid)))
                                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_GROUP, .name = group };
                }
        r = names_park_need(m->d.park, c, NAMES_CALL, keys, n);
        free(keys);
        return r < 0 ? reply_no_names(c, m, method, r) : r;
}

/* No [api] url: the daemon decides nothing about Neostra users, not even
 * from what an earlier configuration cached.  "Unavailable" lets the PAM
 * stack go on (pam-auth-update's profile ignores it). */
static int reply_unconfigured(VarlinkConn *c, AuthMethods *m, const char *method, const char *user,
                              const char *service, const char *rhost, const char *tty) {
        static const char reason[] = NEOSTRA_REASON_UNCONFIGURED;

        decisions_count(m->d.decisions, strcmp(method, "Authenticate") == 0 ? OUTCOME_AUTH_UNAVAILABLE_UNCONFIGURED
                                                                             : OUTCOME_ACCOUNT_UNAVAILABLE_UNCONFIGURED);
        decisions_log(m->d.decisions, varlink_conn_uid(c), method, user, service, rhost, tty, RESULT_UNAVAILABLE,
                             reason, 0, -1);
        return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, reason);
}

/* ---- Authenticate -------------------------------------------------------------- */

struct authenticate_params {
        const char *user, *password, *service, *rhost, *tty;
};

static int method_authenticate(VarlinkConn *c, void *params, void *userdata) {
        struct authenticate_params *p = params;
        AuthMethods *m = userdata;
        uid_t uid = varlink_conn_uid(c);
        char *email = NULL;
        int r;

        r = peer_may_ask(c, m, "Authenticate", p->user);
        if (r <= 0)
                return 0;
        r = need_names(c, m, "Authenticate", p->user, true);
        if (r <= 0)
                return 0;

        if (uid != 0 && !ratelimit_check(m->d.ratelimit, uid, true)) {
                decisions_count(m->d.decisions, OUTCOME_AUTH_RATE_LIMITED);
                decisions_log(m->d.decisions, uid, "Authenticate", p->user, p->service, p->rhost, p->tty,
                                     RESULT_RATE_LIMITED, "too many attempts from this uid", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_RATE_LIMITED, "too many attempts; try again later");
        }
        r = not_ours(m, p->user);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot look up local accounts: %s", strerror(-r));
                decisions_count(m->d.decisions, OUTCOME_AUTH_UNAVAILABLE_LOOKUP);
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot look up local accounts");
        }
        if (r == NOT_OURS_DOMAIN) {
                /* The module refuses these itself; a direct caller is
                 * refused here all the same, before anything is sent. */
                decisions_count(m->d.decisions, OUTCOME_AUTH_NOT_OURS_DOMAIN);
                decisions_log(m->d.decisions, uid, "Authenticate", p->user, p->service, p->rhost, p->tty,
                                     RESULT_UNKNOWN, not_ours_reason(r), 0, -1);
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN,
                                   "domain not in [users] domains; not sent to the API");
        }
        if (r > 0) {
                decisions_count(m->d.decisions, not_ours_outcome(r, true));
                decisions_log(m->d.decisions, uid, "Authenticate", p->user, p->service, p->rhost, p->tty,
                                     RESULT_NOT_OURS, not_ours_reason(r), 0, -1);
                return reply_error(c, NEOSTRA_ERROR_NOT_OUR_USER, not_ours_reason(r));
        }
        if (!config_of(m)->api_url)
                return reply_unconfigured(c, m, "Authenticate", p->user, p->service, p->rhost, p->tty);
        if (p->password[0] == 0) {
                decisions_count(m->d.decisions, OUTCOME_AUTH_EMPTY_PASSWORD);
                decisions_log(m->d.decisions, uid, "Authenticate", p->user, p->service, p->rhost, p->tty,
                                     RESULT_FAILURE, "empty password", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_AUTHENTICATION_FAILED, "empty password");
        }
        r = neostra_email_for_user(config_of(m), p->user, &email);
        if (r < 0) {
                decisions_count(m->d.decisions, OUTCOME_AUTH_INVALID_NAME);
                decisions_log(m->d.decisions, uid, "Authenticate", p->user, p->service, p->rhost, p->tty,
                                     RESULT_UNKNOWN, "name does not map to a valid email", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN, "name does not map to a valid email");
        }
        /* The login holds the connection and answers on it, perhaps before
         * login_start() returns. */
        r = login_start(m->d.logins, c, &(struct login_params) {
                                .user = p->user, .password = p->password, .service = p->service,
                                .rhost = p->rhost, .tty = p->tty, .peer_uid = uid,
                        }, email, api_deadline_usec(m));
        if (r < 0) {
                log_msg(LOG_ERR, "cannot start a login: %s", strerror(-r));
                decisions_count(m->d.decisions, OUTCOME_AUTH_UNAVAILABLE_INTERNAL);
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot start the login");
        }
        return 0;
}

/* ---- CheckAccount ---------------------------------------------------------------- */

struct check_account_params {
        const char *user, *service;
};

static int method_check_account(VarlinkConn *c, void *params, void *userdata) {
        struct check_account_params *p = params;
        AuthMethods *m = userdata;
        uid_t uid = varlink_conn_uid(c);
        struct user_record *u;
        enum decision_outcome outcome;
        enum login_result result;
        char reason[512];
        bool allowed, valid;
        int r;

        if (peer_may_ask(c, m, "CheckAccount", p->user) <= 0 || need_names(c, m, "CheckAccount", p->user, false) <= 0)
                return 0;
        r = not_ours(m, p->user);
        if (r < 0) {
                /* Never "not ours" on a failed lookup: the module would let
                 * the account step pass. */
                log_msg(LOG_ERR, "cannot look up local accounts: %s", strerror(-r));
                decisions_count(m->d.decisions, OUTCOME_ACCOUNT_UNAVAILABLE_LOOKUP);
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot look up local accounts");
        }
        if (r > 0) {
                decisions_count(m->d.decisions, not_ours_outcome(r, false));
                return reply_error(c, NEOSTRA_ERROR_NOT_OUR_USER, not_ours_reason(r));
        }
        if (!config_of(m)->api_url)
                return reply_unconfigured(c, m, "CheckAccount", p->user, p->service, NULL, NULL);

        u = user_table_get(m->d.users, p->user);
        if (!u) {
                decisions_count(m->d.decisions, OUTCOME_ACCOUNT_UNKNOWN);
                decisions_log(m->d.decisions, uid, "CheckAccount", p->user, p->service, NULL, NULL, RESULT_UNKNOWN,
                                     "no sign-in seen for this user", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN,
                                   "no Neostra sign-in seen for this user on this host; "
                                   "log in with the password once");
        }
        /* Nothing a password backs here: the answer rests on the last
         * online proof (access.h), and without one it is a refusal with
         * no groups (setcred adds none). */
        valid = access_valid(config_of(m), u, access_now());
        allowed = account_verdict(config_of(m), u, reason, sizeof(reason));
        outcome = allowed ? OUTCOME_ACCOUNT_ALLOWED : valid ? OUTCOME_ACCOUNT_ROLE : OUTCOME_ACCOUNT_ACCESS_ENDED;
        result = decisions_outcome_result(outcome);
        decisions_count(m->d.decisions, outcome);
        decisions_log(m->d.decisions, uid, "CheckAccount", p->user, p->service, NULL, NULL, result, reason, 0, -1);
        (void) varlink_conn_reply(c, json_pack("{s:b, s:s, s:o, s:o}", "allowed", allowed, "reason", reason,
                                               "roles", account_roles_json(user_roles(u), user_n_roles(u)),
                                               "groups", valid ? account_groups_json(config_of(m), m->d.userdb,
                                                                                     m->d.localnames, user_roles(u),
                                                                                     user_n_roles(u))
                                                               : json_array()));
        return 0;
}

/* ---- what the cache shows ------------------------------------------------------ */

/* Root gets every figure; any other uid the API state and the version
 * only: a count that moves tells when somebody else logs in. */
static int method_get_status(VarlinkConn *c, void *params, void *userdata) {
        AuthMethods *m = userdata;

        (void) varlink_conn_reply(c, m->d.status(m->d.status_userdata, varlink_conn_uid(c) == 0));
        return 0;
}

struct user_params {
        const char *user;
};

/* GetUser's groups: each marked "published" when neostrad publishes the
 * group itself (userdb), not when it is a local group (sudo, docker). */
static json_t *groups_with_origin(AuthMethods *m, json_t *groups) {
        json_t *g;
        size_t i;

        json_array_foreach(groups, i, g) {
                const char *name = json_string_value(json_object_get(g, "name"));
                gid_t gid;

                json_object_set_new(g, "published", json_boolean(name && config_of(m)->userdb &&
                                                                 userdb_published_gid(m->d.userdb, name, &gid)));
        }
        return groups;
}

static int method_get_user(VarlinkConn *c, void *params, void *userdata) {
        struct user_params *p = params;
        AuthMethods *m = userdata;
        enum access_state state;
        struct user_record *u;

        if (peer_may_ask(c, m, "GetUser", p->user) <= 0)
                return 0;
        writeback_flush(m->d.writeback);
        u = user_table_get(m->d.users, p->user);
        if (!u)
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN, "no sign-in seen for this user");
        state = access_state(config_of(m), u, access_now());
        /* Never the token or the verifier: only whether they are held.
         * The groups are those the user gets now: none without a valid
         * online proof.  "published": userdb serves the user's record and
         * memberships, so its groups reach NSS (sudo's group_source
         * dynamic) and not only pam_setcred at login. */
        (void) varlink_conn_reply(c, json_pack(
                "{s:s, s:s, s:I, s:o, s:o, s:b, s:I, s:b, s:I, s:b, s:I, s:i, s:b, s:I, s:I, s:I, s:s}",
                "user", u->name, "email", u->email, "uid", (json_int_t) u->uid,
                "roles", account_roles_json(user_roles(u), user_n_roles(u)),
                "groups", state == ACCESS_VALID
                        ? groups_with_origin(m, account_groups_json(config_of(m), m->d.userdb, m->d.localnames,
                                                                    user_roles(u), user_n_roles(u)))
                        : json_array(),
                "published", userdb_publishes_user(m->d.userdb, u),
                "lastOnlineSuccess", (json_int_t) u->last_online_success,
                "hasToken", u->has_token,
                "tokenExpires", (json_int_t) u->token_expires,
                "hasVerifier", u->has_verifier,
                "verifierTime", (json_int_t) u->verifier_time,
                "offlineFailures", (int) u->offline_failures,
                "invalidated", u->invalidated,
                "lastOnlineProof", (json_int_t) u->last_online_proof,
                "accessUntil", (json_int_t) access_until(config_of(m), u),
                "accountMaxAge", (json_int_t) (config_of(m)->account_max_age_ms / 1000u),
                "access", access_state_name(state)));
        return 0;
}

/* ---- admin --------------------------------------------------------------------- */

struct invalidate_ctx {
        AuthMethods *m;
        const char *name;
};

static void invalidate_one(struct user_record *u, void *userdata) {
        struct invalidate_ctx *ctx = userdata;

        if (ctx->name && strcmp(ctx->name, u->name) != 0)
                return;
        u->invalidated = true;
        writeback_save(ctx->m->d.writeback, u, NULL);
}

/* Force the next login online, and void the last online proof: the
 * account step asks for a password again (access.h).  The offline data
 * stays. */
static int method_invalidate(VarlinkConn *c, void *params, void *userdata) {
        struct user_params *p = params;
        AuthMethods *m = userdata;
        struct invalidate_ctx ctx = { .m = m, .name = p->user };

        writeback_flush(m->d.writeback);
        if (p->user && !user_table_get(m->d.users, p->user))
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN, "no sign-in seen for this user");
        user_table_foreach(m->d.users, invalidate_one, &ctx);
        /* On disk before the answer: a restart must not undo it. */
        writeback_flush(m->d.writeback);
        localnames_flush(m->d.localnames);
        log_msg(LOG_NOTICE, "cache invalidated for %s by uid %u", p->user ? p->user : "all users",
                (unsigned) varlink_conn_uid(c));
        (void) varlink_conn_reply(c, NULL);
        return 0;
}

/* Drop cached data: memory and disk. */
static int method_clear(VarlinkConn *c, void *params, void *userdata) {
        struct user_params *p = params;
        AuthMethods *m = userdata;
        int r;

        writeback_flush(m->d.writeback);
        user_table_forget(m->d.users, p->user);
        localnames_flush(m->d.localnames);
        if (!p->user)
                malloc_trim(0);     /* every record gone: give their pages back */
        if (*m->d.cache && (r = cache_delete(*m->d.cache, p->user)) < 0) {
                log_msg(LOG_ERR, "cannot clear the cache: %s", strerror(-r));
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot clear the cache on disk");
        }
        log_msg(LOG_NOTICE, "cache cleared for %s by uid %u", p->user ? p->user : "all users",
                (unsigned) varlink_conn_uid(c));
        (void) varlink_conn_reply(c, NULL);
        return 0;
}

/* ListUsers and Probe: auth-admin.c. */

struct list_params {
        const char *after;
};

static int method_list_users(VarlinkConn *c, void *params, void *userdata) {
        struct list_params *p = params;
        AuthMethods *m = userdata;

        return auth_admin_list_users(c, &m->d, p->after);
}

static int method_probe(VarlinkConn *c, void *params, void *userdata) {
        AuthMethods *m = userdata;

        return auth_admin_probe(c, &m->d);
}

/* ---- GetToken -------------------------------------------------------------------- */

static int reply_token(VarlinkConn *c, AuthMethods *m, const char *user) {
        struct user_record *u = user_table_get(m->d.users, user);
        __attribute__((cleanup(secure_free_stringp))) char *token = NULL;

        if (!u || !u->has_token || (u->token_expires > 0 && u->token_expires <= now_wall()))
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN,
                                   "no valid API token held for this user; log in again");
        if (writeback_read_secret(m->d.writeback, u, SECRET_TOKEN, &token) < 0)
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot read the API token from the cache");
        log_msg(LOG_INFO, "API token of %s handed to uid %u", user, (unsigned) varlink_conn_uid(c));
        /* The layer wipes the reply's strings with it. */
        (void) varlink_conn_reply(c, json_pack("{s:s, s:I}", "token", token,
                                               "expires", (json_int_t) u->token_expires));
        return 0;
}

/* A GetToken waiting for its token refresh. */
struct token_wait {
        AuthMethods *m;
        VarlinkConn *conn;      /* held */
        RevalidateWait *wait;
        char *user;
};

static void token_wait_free(struct token_wait *t) {
        revalidate_wait_cancel(t->wait);
        varlink_conn_unref(t->conn);
        free(t->user);
        free(t);
}

/* The client left first. */
static void on_token_wait_gone(void *userdata) {
        token_wait_free(userdata);
}

/* The refresh is over and its answer applied (revalidate.c): a new
 * token, or none left when the API refused it. */
static void on_token_refreshed(void *userdata) {
        struct token_wait *t = userdata;

        t->wait = NULL;
        (void) reply_token(t->conn, t->m, t->user);
        token_wait_free(t);
}

/* The caller's own token (root: anyone's), refreshed first when
 * [api] refresh_path is set and it is about to expire. */
static int method_get_token(VarlinkConn *c, void *params, void *userdata) {
        struct user_params *p = params;
        AuthMethods *m = userdata;
        struct user_record *u;
        struct token_wait *t;
        int r;

        if (peer_may_ask(c, m, "GetToken", p->user) <= 0)
                return 0;
        writeback_flush(m->d.writeback);
        u = user_table_get(m->d.users, p->user);
        /* Never make the caller wait on an API known to be away. */
        if (u && config_of(m)->refresh_path && u->has_refresh_token && online_usable(m->d.online) &&
            (!u->has_token ||
             (u->token_expires > 0 && u->token_expires - now_wall() < TOKEN_REFRESH_MARGIN_SEC))) {
                t = calloc(1, sizeof(*t));
                r = !t ? -ENOMEM : !(t->user = strdup(p->user)) ? -ENOMEM :
                    revalidate_refresh(m->d.revalidator, p->user, on_token_refreshed, t, &t->wait);
                if (r == 0) {
                        t->m = m;
                        t->conn = varlink_conn_hold(c, api_deadline_usec(m), on_token_wait_gone, t);
                        return 0;
                }
                if (t)
                        token_wait_free(t);
                log_msg(LOG_ERR, "cannot start a token refresh: %s", strerror(-r));
        }
        return reply_token(c, m, p->user);
}

/* ---- the table ----------------------------------------------------------------- */

#define USER_PARAM(flags) \
        { "user", VARLINK_NAME, flags, NEOSTRA_USER_MAX, offsetof(struct user_params, user) }

static const struct varlink_param authenticate_params[] = {
        { "user", VARLINK_NAME, VARLINK_PARAM_REQUIRED, NEOSTRA_USER_MAX,
          offsetof(struct authenticate_params, user) },
        { "password", VARLINK_SECRET, VARLINK_PARAM_REQUIRED, NEOSTRA_PASSWORD_MAX,
          offsetof(struct authenticate_params, password) },
        { "service", VARLINK_STRING, 0, NEOSTRA_FIELD_MAX, offsetof(struct authenticate_params, service) },
        { "rhost", VARLINK_STRING, 0, NEOSTRA_FIELD_MAX, offsetof(struct authenticate_params, rhost) },
        { "tty", VARLINK_STRING, 0, NEOSTRA_FIELD_MAX, offsetof(struct authenticate_params, tty) },
        { NULL }
};

static const struct varlink_param check_account_params[] = {
        { "user", VARLINK_NAME, VARLINK_PARAM_REQUIRED, NEOSTRA_USER_MAX,
          offsetof(struct check_account_params, user) },
        { "service", VARLINK_STRING, 0, NEOSTRA_FIELD_MAX, offsetof(struct check_account_params, service) },
        { NULL }
};

static const struct varlink_param list_params[] = {
        { "after", VARLINK_NAME, 0, NEOSTRA_USER_MAX, offsetof(struct list_params, after) },
        { NULL }
};

static const struct varlink_param user_required[] = { USER_PARAM(VARLINK_PARAM_REQUIRED), { NULL } };
static const struct varlink_param user_optional[] = { USER_PARAM(0), { NULL } };

static const struct varlink_method auth_methods[] = {
        { "Authenticate", method_authenticate, VARLINK_METHOD_SECRET, authenticate_params,
          sizeof(struct authenticate_params) },
        { "CheckAccount", method_check_account, 0, check_account_params, sizeof(struct check_account_params) },
        { "GetStatus", method_get_status, 0, NULL, 0 },
        { "GetUser", method_get_user, 0, user_required, sizeof(struct user_params) },
        { "InvalidateCache", method_invalidate, VARLINK_METHOD_ROOT, user_optional, sizeof(struct user_params) },
        { "ClearCache", method_clear, VARLINK_METHOD_ROOT, user_optional, sizeof(struct user_params) },
        { "GetToken", method_get_token, VARLINK_METHOD_SECRET, user_required, sizeof(struct user_params) },
        { "ListUsers", method_list_users, VARLINK_METHOD_ROOT, list_params, sizeof(struct list_params) },
        { "Probe", method_probe, VARLINK_METHOD_ROOT, NULL, 0 },
        { NULL }
};

const struct varlink_interface auth_interface = {
        .name = NEOSTRA_AUTH_INTERFACE,
        .methods = auth_methods,
        .error_permission = NEOSTRA_ERROR_PERMISSION_DENIED,
        .error_unavailable = NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
};
