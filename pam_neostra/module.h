/* SPDX-License-Identifier: MIT */
/*
 * What the files of pam_neostra.so share.  Nothing here is exported: the
 * module is built with -fvisibility=hidden and pam_neostra.map lets out
 * only the pam_sm_* entry points (pam_neostra.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <security/pam_modules.h>

#include "neostra/wire.h"

/* The names of what the module keeps in the PAM handle (pam_set_data). */
#define DATA_CONFIG "pam_neostra_config"
#define DATA_LOCAL  "pam_neostra_local"
#define DATA_ACCOUNT "pam_neostra_account"
#define DATA_GROUPS "pam_neostra_groups"

#define REASON_MAX 512u                 /* bytes of a "reason" we show */

struct module_args {
        const char *socket_path;
        const char *config_path;
        const char *allow_roles;        /* comma separated; NULL: no restriction */
        uint64_t timeout_ms;
        uid_t minimum_uid;
        bool have_minimum_uid;
        bool debug;
        bool ignore_unknown_user;
        bool ignore_authinfo_unavail;
};

struct ctx {
        pam_handle_t *pamh;
        struct module_args args;
        const char *user;
        uid_t minimum_uid;
        int flags;
};

/* ---- arguments (args.c) -------------------------------------------------- */

void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct module_args *a);

/* ---- policy: which names are ours (policy.c) ----------------------------- */

enum user_class {
        USER_OURS,              /* or the daemon decides */
        USER_NOT_OURS,          /* root, excluded, a system account, a local account not listed */
        USER_FOREIGN_DOMAIN,    /* a name with '@' in a domain [users] domains does not accept */
        USER_LOOKUP_FAILED,
};

enum user_class classify_user(struct ctx *c);
bool not_ours_by_nss(struct ctx *c);

/* ---- talking to the daemon (call.c) -------------------------------------- */

/* The parameters of one call.  The strings are borrowed (from PAM's items
 * and the handle) until the request is built.  Authenticate sends the most:
 * user, service, password, rhost, tty. */
#define REQUEST_PARAMS_MAX 6u

struct request {
        struct wire_param params[REQUEST_PARAMS_MAX];
        size_t n;
};

bool printable(const char *s, unsigned flags);
void add_string(struct request *req, const char *key, const char *value);
void set_optional_item(struct ctx *c, struct request *req, const char *key, int item);
void user_params(struct ctx *c, struct request *req);
int build_request(struct ctx *c, const char *method, const struct request *req,
                  struct wire_buf *ret);
int call_daemon(struct ctx *c, const char *method, struct wire_buf *req, bool secret,
                struct wire_reply *ret);
const char *reason_of(const struct wire_value *params);
bool streq_error(const char *a, const char *b);

/* ---- account management and groups (account.c) --------------------------- */

enum account_outcome {
        ACCOUNT_ALLOWED,
        ACCOUNT_DENIED,         /* the daemon said allowed: false */
        ACCOUNT_ROLE_DENIED,    /* the module's allow_roles= said no */
        ACCOUNT_REFUSED,        /* PermissionDenied, RateLimited */
        ACCOUNT_UNKNOWN,        /* UserUnknown */
        ACCOUNT_NOT_OURS,       /* NotOurUser */
        ACCOUNT_UNAVAILABLE,    /* unreachable, bad reply, ServiceUnavailable, anything else */
};

struct account {
        char reason[REASON_MAX + 1];
        char roles[256];        /* for the log: "dev, admin" (truncated) */
        gid_t *gids;
        size_t n_gids;
};

struct groups_data {
        char *user;
        size_t n;
        gid_t gids[];
};

void forget_account_answer(struct ctx *c);
void remember_account_answer(struct ctx *c, struct wire_reply *reply);
enum account_outcome check_account(struct ctx *c, struct account *a);
void account_done(struct account *a);
void remember_groups(struct ctx *c, const struct account *a);
