/* SPDX-License-Identifier: MIT */
/*
 * pam_neostra.so: hands login name and password to neostrad over
 * /run/neostra/io.neostra.Auth and turns its answer into a PAM result.
 *
 * The rules this file keeps, in order of importance:
 *  - never PAM_SUCCESS except on a well-formed success reply;
 *  - root, excluded names and the system accounts of /etc/passwd are
 *    decided here, without a round trip, so their passwords never leave the
 *    process; a system account only another NSS source knows (LDAP, SSSD)
 *    is refused by the daemon, which never sends it to the API, and gets
 *    PAM_IGNORE here all the same, also while the daemon cannot be reached;
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
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/transport.h"
#include "neostra/wire.h"

#define PAM_NEOSTRA_EXPORT __attribute__((visibility("default")))

#define DATA_CONFIG "pam_neostra_config"
#define DATA_LOCAL  "pam_neostra_local"
#define DATA_ACCOUNT "pam_neostra_account"
#define DATA_GROUPS "pam_neostra_groups"

#define DEFAULT_MINIMUM_UID 1000u
#define GROUPS_MAX 1024u                /* supplementary groups in one reply */
#define REASON_MAX 512u                 /* bytes of a "reason" we show */
#define TIMEOUT_MIN_MS 100u
#define TIMEOUT_MAX_MS (10u * 60u * 1000u)

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

/* Where the module looks a name up before it calls the daemon. */
enum lookup {
        LOOKUP_FILES,   /* /etc/passwd: the daemon asks NSS again */
        LOOKUP_NSS,     /* every NSS source: nothing asks after us */
};

/* ---- arguments ---------------------------------------------------------- */

static const char *arg_value(const char *arg, const char *key) {
        size_t n = strlen(key);

        return strncmp(arg, key, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct module_args *a) {
        int i;

        *a = (struct module_args) {
                .socket_path = NEOSTRA_DEFAULT_SOCKET,
                .config_path = NEOSTRA_DEFAULT_CONFIG,
                .timeout_ms = NEOSTRA_CLIENT_TIMEOUT_MS,
        };

        for (i = 0; i < argc; i++) {
                const char *arg = argv[i], *v;

                if (!arg)
                        continue;
                if (strcmp(arg, "debug") == 0)
                        a->debug = true;
                else if (strcmp(arg, "ignore_unknown_user") == 0)
                        a->ignore_unknown_user = true;
                else if (strcmp(arg, "ignore_authinfo_unavail") == 0)
                        a->ignore_authinfo_unavail = true;
                else if (strcmp(arg, "setcred_only") == 0)
                        ;       /* pam_sm_authenticate() looks at it first */
                else if (strcmp(arg, "use_first_pass") == 0 || strcmp(arg, "try_first_pass") == 0 ||
                         strcmp(arg, "use_authtok") == 0)
                        ;       /* pam_get_authtok() reads these from argv itself */
                else if ((v = arg_value(arg, "socket"))) {
                        if (*v == '/')
                                a->socket_path = v;
                        else
                                pam_syslog(pamh, LOG_ERR, "socket= needs an absolute path, ignored: %s", v);
                } else if ((v = arg_value(arg, "config"))) {
                        if (*v == '/')
                                a->config_path = v;
                        else
                                pam_syslog(pamh, LOG_ERR, "config= needs an absolute path, ignored: %s", v);
                } else if ((v = arg_value(arg, "allow_roles"))) {
                        /* An empty list means "no restriction" in [access]
                         * too; say so, as it may well be a typo. */
                        if (strspn(v, ", ") == strlen(v))
                                pam_syslog(pamh, LOG_ERR, "allow_roles= is empty, ignored");
                        else
                                a->allow_roles = v;
                } else if ((v = arg_value(arg, "minimum_uid"))) {
                        unsigned long long n;
                        char *end;

                        errno = 0;
                        n = (*v >= '0' && *v <= '9') ? strtoull(v, &end, 10) : ULLONG_MAX;
                        if (n == ULLONG_MAX || errno != 0 || *end != '\0' || n >= UINT32_MAX)
                                pam_syslog(pamh, LOG_ERR, "invalid minimum_uid=%s, ignored", v);
                        else {
                                a->minimum_uid = (uid_t) n;
                                a->have_minimum_uid = true;
                        }
                } else if ((v = arg_value(arg, "timeout"))) {
                        uint64_t ms;

                        if (neostra_parse_duration_ms(v, &ms) < 0 ||
                            ms < TIMEOUT_MIN_MS || ms > TIMEOUT_MAX_MS)
                                pam_syslog(pamh, LOG_ERR, "invalid timeout=%s, ignored", v);
                        else
                                a->timeout_ms = ms;
                } else
                        pam_syslog(pamh, LOG_ERR, "unknown option, ignored: %s", arg);
        }
}

/* ---- policy: which names are ours --------------------------------------- */

struct config_data {
        char *path;
        struct neostra_config *config;  /* NULL: built-in defaults */
};

static void config_data_free(pam_handle_t *pamh, void *data, int error_status) {
        struct config_data *d = data;

        if (!d)
                return;
        neostra_config_free(d->config);
        free(d->path);
        free(d);
}

/*
 * The daemon's [users] policy, read once per PAM handle (so a broken config
 * is logged once per login, not once per stack line).  NULL means the
 * built-in defaults: minimum_uid 1000 and root excluded.
 */
static const struct neostra_config *get_config(struct ctx *c) {
        const void *p = NULL;
        struct config_data *d;
        char err[512];
        int r;

        if (pam_get_data(c->pamh, DATA_CONFIG, &p) == PAM_SUCCESS && p) {
                const struct config_data *old = p;

                if (strcmp(old->path, c->args.config_path) == 0)
                        return old->config;
        }

        d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        d->path = strdup(c->args.config_path);
        if (!d->path) {
                free(d);
                return NULL;
        }

        r = neostra_config_load(d->path, true, &d->config, err, sizeof(err));
        if (r < 0) {
                /* A locker running as the user cannot read the 0640 config;
                 * the daemon applies the same policy again, so that case is
                 * expected and only worth a debug line. */
                if (r == -EACCES && geteuid() != 0) {
                        if (c->args.debug)
                                pam_syslog(c->pamh, LOG_DEBUG, "cannot read %s, using default policy: %s",
                                           d->path, err[0] ? err : strerror(-r));
                } else
                        pam_syslog(c->pamh, LOG_ERR,
                                   "cannot use %s, using default policy (minimum_uid %u, root excluded): %s",
                                   d->path, DEFAULT_MINIMUM_UID, err[0] ? err : strerror(-r));
                d->config = NULL;
                (void) neostra_config_new_default(&d->config);
        }

        if (pam_set_data(c->pamh, DATA_CONFIG, d, config_data_free) != PAM_SUCCESS) {
                /* Nowhere to keep it: fall back to the built-in defaults. */
                config_data_free(c->pamh, d, 0);
                return NULL;
        }
        return d->config;
}

/* At most one lookup of each kind per transaction: auth and account ask
 * about the same name. */
#define LOCAL_UNKNOWN INT_MIN

struct local_data {
        char *user;
        uid_t minimum_uid;
        int result[2];          /* by enum lookup: 0 or 1, or LOCAL_UNKNOWN */
};

static void local_data_free(pam_handle_t *pamh, void *data, int error_status) {
        struct local_data *d = data;

        if (!d)
                return;
        free(d->user);
        free(d);
}

/* 1 when c->user is a system account by that lookup, 0 when not (or not
 * there), <0 when the lookup failed. */
static int local_system_account(struct ctx *c, enum lookup how) {
        const void *p = NULL;
        struct local_data *d = NULL;
        uid_t uid;
        int r;

        if (pam_get_data(c->pamh, DATA_LOCAL, &p) == PAM_SUCCESS && p) {
                struct local_data *old = (struct local_data *) p;

                if (old->minimum_uid == c->minimum_uid && strcmp(old->user, c->user) == 0) {
                        if (old->result[how] != LOCAL_UNKNOWN)
                                return old->result[how];
                        d = old;
                }
        }
        if (how == LOOKUP_FILES) {
                r = neostra_passwd_file_lookup(NEOSTRA_PASSWD_FILE, c->user, &uid);
                if (r > 0)
                        r = neostra_system_uid(uid, c->minimum_uid);
        } else
                r = neostra_local_system_account(c->user, c->minimum_uid);
        if (r < 0)
                return r;       /* a failure is asked again next time */
        if (d) {
                d->result[how] = r;
                return r;
        }
        d = calloc(1, sizeof(*d));
        if (d && (d->user = strdup(c->user))) {
                d->minimum_uid = c->minimum_uid;
                d->result[LOOKUP_FILES] = d->result[LOOKUP_NSS] = LOCAL_UNKNOWN;
                d->result[how] = r;
                if (pam_set_data(c->pamh, DATA_LOCAL, d, local_data_free) == PAM_SUCCESS)
                        return r;
        }
        local_data_free(c->pamh, d, 0);
        return r;
}

enum user_class {
        USER_OURS,
        USER_NOT_OURS,
        USER_LOOKUP_FAILED,
};

/* Excluded names and local system accounts are never ours. */
static enum user_class classify_user(struct ctx *c, enum lookup how) {
        const struct neostra_config *conf = get_config(c);
        int r;

        if (strcmp(c->user, "root") == 0 || neostra_user_excluded(conf, c->user)) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "excluded by policy; user=%s", c->user);
                return USER_NOT_OURS;
        }

        c->minimum_uid = c->args.have_minimum_uid ? c->args.minimum_uid
                         : conf ? conf->minimum_uid : DEFAULT_MINIMUM_UID;
        r = local_system_account(c, how);
        if (r < 0 && how == LOOKUP_FILES) {
                /* An unreadable /etc/passwd: NSS may still know. */
                pam_syslog(c->pamh, LOG_WARNING, "cannot read %s: %s; asking NSS; user=%s",
                           NEOSTRA_PASSWD_FILE, strerror(-r), c->user);
                r = local_system_account(c, LOOKUP_NSS);
        }
        if (r < 0) {
                pam_syslog(c->pamh, LOG_ERR, "cannot look up local account: %s; user=%s",
                           strerror(-r), c->user);
                return USER_LOOKUP_FAILED;
        }
        if (r > 0) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "local system account (below minimum_uid %u); user=%s",
                                   (unsigned) c->minimum_uid, c->user);
                return USER_NOT_OURS;
        }
        return USER_OURS;
}

/*
 * For when the daemon cannot be reached: only /etc/passwd was read before
 * the call, so ask NSS whether another source (LDAP, SSSD) knows the name
 * as a system account, which the daemon would have answered NotOurUser
 * for.  Not for an answer of the daemon's, ServiceUnavailable included:
 * it either looked the name up and found it ours (the API is away), or
 * its own NSS lookups failed, which ours would repeat.
 */
static bool system_account_by_nss(struct ctx *c) {
        if (local_system_account(c, LOOKUP_NSS) <= 0)
                return false;
        if (c->args.debug)
                pam_syslog(c->pamh, LOG_DEBUG, "local system account (NSS, below minimum_uid %u); user=%s",
                           (unsigned) c->minimum_uid, c->user);
        return true;
}

/* The result when no answer can be had: code, or PAM_IGNORE with
 * ignore_authinfo_unavail. */
static int unavailable(const struct ctx *c, int code) {
        return c->args.ignore_authinfo_unavail ? PAM_IGNORE : code;
}

/* The result when the daemon cannot be reached: unavailable(), or
 * PAM_IGNORE for a system account. */
static int unreachable(struct ctx *c, int code) {
        if (system_account_by_nss(c))
                return PAM_IGNORE;
        return unavailable(c, code);
}

/*
 * Common start of every pam_sm_*: arguments, user name, policy.  Returns
 * PAM_SUCCESS when the caller should go on with c->user, or the result the
 * caller must return.  invalid_result is what a name we cannot handle gets;
 * how is where local accounts are looked up: LOOKUP_FILES where the daemon
 * is asked next (it looks through NSS itself), LOOKUP_NSS where it is not.
 */
static int begin(struct ctx *c, pam_handle_t *pamh, int flags, int argc, const char **argv,
                 int invalid_result, enum lookup how) {
        const char *user = NULL;
        int r;

        *c = (struct ctx) { .pamh = pamh, .flags = flags };
        parse_args(pamh, argc, argv, &c->args);

        r = pam_get_user(pamh, &user, NULL);
        if (r == PAM_CONV_AGAIN)
                return PAM_INCOMPLETE;
        if (r != PAM_SUCCESS) {
                pam_syslog(pamh, LOG_ERR, "cannot get user name: %s", pam_strerror(pamh, r));
                return r;
        }
        if (!neostra_valid_login_name(user)) {
                /* The name itself is not logged: it could hold anything.
                 * Where the answer is "not ours" anyway, say it only with
                 * debug, as such a name may be a legitimate local account. */
                if (invalid_result != PAM_IGNORE)
                        pam_syslog(pamh, LOG_NOTICE, "invalid user name");
                else if (c->args.debug)
                        pam_syslog(pamh, LOG_DEBUG, "user name not handled by Neostra");
                if (invalid_result == PAM_USER_UNKNOWN && c->args.ignore_unknown_user)
                        return PAM_IGNORE;
                return invalid_result;
        }
        c->user = user;

        switch (classify_user(c, how)) {
        case USER_OURS:
                return PAM_SUCCESS;
        case USER_NOT_OURS:
                return PAM_IGNORE;
        case USER_LOOKUP_FAILED:
        default:
                return unavailable(c, PAM_AUTHINFO_UNAVAIL);
        }
}

/* ---- talking to the daemon ---------------------------------------------- */

/* Non-empty, at most NEOSTRA_FIELD_MAX bytes, no control characters;
 * valid UTF-8 too unless flags has NEOSTRA_TEXT_BYTES. */
static bool printable(const char *s, unsigned flags) {
        size_t n = strnlen(s, NEOSTRA_FIELD_MAX + 1);

        return n > 0 && n <= NEOSTRA_FIELD_MAX && neostra_text_valid(s, n, flags);
}

/* The parameters of one call.  The strings are borrowed (from PAM's items
 * and the handle) until the request is built.  Authenticate sends the most:
 * user, service, password, rhost, tty. */
#define REQUEST_PARAMS_MAX 6u

struct request {
        struct wire_param params[REQUEST_PARAMS_MAX];
        size_t n;
};

static void add_string(struct request *req, const char *key, const char *value) {
        if (req->n < REQUEST_PARAMS_MAX)
                req->params[req->n++] = (struct wire_param) {
                        .key = key, .type = WIRE_PARAM_STRING, .string = value,
                };
}

/* A string parameter only when it is valid UTF-8, short and printable:
 * informational fields must never turn a login into InvalidParameter. */
static void set_optional_item(struct ctx *c, struct request *req, const char *key, int item) {
        const void *v = NULL;

        if (pam_get_item(c->pamh, item, &v) != PAM_SUCCESS || !v)
                return;
        if (!printable(v, 0)) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "not sending %s: unusable value; user=%s", key, c->user);
                return;
        }
        add_string(req, key, v);
}

static const char *reason_of(const struct wire_value *params) {
        const char *s = NULL;

        if (wire_param_string(params, "reason", REASON_MAX, &s) < 0 || !*s)
                return NULL;
        return s;
}

/*
 * Send req on fd and read the reply.  A secret request is wiped as soon as
 * it is sent: it need not wait in memory while the daemon asks the API.
 */
static int exchange(int fd, struct wire_buf *req, bool secret, uint64_t deadline,
                    struct wire_reply *ret) {
        struct neostra_message m = {};
        int r;

        r = neostra_client_send(fd, req->data, req->len, deadline);
        if (secret)
                wire_buf_done(req);
        if (r < 0)
                return r;
        /* One call per connection, and the daemon hears it: it closes its
         * end right after the answer instead of being woken once more by
         * our close (a cross-CPU wake-up per login). */
        (void) shutdown(fd, SHUT_WR);
        r = neostra_client_receive(fd, deadline, &m);
        if (r < 0)
                return r;
        r = wire_reply_parse(m.data, m.len, ret);
        neostra_message_done(&m);
        return r;
}

/* One call on a connection of its own. */
static int call_on(struct ctx *c, struct wire_buf *req, bool secret, uint64_t deadline,
                   struct wire_reply *ret) {
        int fd, r;

        r = neostra_client_open(c->args.socket_path, deadline, &fd);
        if (r < 0)
                return r;
        r = exchange(fd, req, secret, deadline, ret);
        close(fd);
        return r;
}

/*
 * One call of method to the daemon; req is wiped and freed.  Returns 0 with
 * the reply (or an error name) in *ret, or a negative errno after logging
 * why the daemon could not answer.
 */
static int call_daemon(struct ctx *c, const char *method, struct wire_buf *req, bool secret,
                       struct wire_reply *ret) {
        uint64_t start = neostra_now_usec();
        int r;

        r = call_on(c, req, secret, neostra_deadline_ms(c->args.timeout_ms), ret);
        wire_buf_done(req);
        if (r < 0) {
                const char *why = neostra_client_strerror(r);

                pam_syslog(c->pamh, LOG_ERR, "neostrad unreachable at %s: %s; user=%s",
                           c->args.socket_path, why, c->user);
                return r;
        }
        if (c->args.debug)
                pam_syslog(c->pamh, LOG_DEBUG, "%s answered %s in %llu ms; user=%s",
                           neostra_error_short(method),
                           ret->error ? neostra_error_short(ret->error) : "ok",
                           (unsigned long long) ((neostra_now_usec() - start) / 1000u), c->user);
        return 0;
}

static void user_params(struct ctx *c, struct request *req) {
        *req = (struct request) {};
        add_string(req, "user", c->user);
        set_optional_item(c, req, "service", PAM_SERVICE);
}

/* The request for method with req's parameters, or a logged failure. */
static int build_request(struct ctx *c, const char *method, const struct request *req,
                         struct wire_buf *ret) {
        int r = wire_request_new(method, req->params, req->n, ret);

        if (r == -ENOMEM)
                pam_syslog(c->pamh, LOG_ERR, "out of memory; user=%s", c->user);
        else if (r < 0)
                pam_syslog(c->pamh, LOG_ERR, "cannot encode request: %s; user=%s", strerror(-r), c->user);
        return r;
}

static bool streq_error(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
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

static void forget_account_answer(struct ctx *c) {
        (void) pam_set_data(c->pamh, DATA_ACCOUNT, NULL, NULL);     /* frees the old one */
}

/* Keep a successful Authenticate reply that has the verdict; takes the
 * reply's tree.  A daemon that sends none leaves the account step to ask. */
static void remember_account_answer(struct ctx *c, struct wire_reply *reply) {
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

        ret = begin(&c, pamh, flags, argc, argv, PAM_USER_UNKNOWN, LOOKUP_FILES);
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

/* ---- account management and groups -------------------------------------- */

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

static void account_done(struct account *a) {
        free(a->gids);
        a->gids = NULL;
        a->n_gids = 0;
}

/* CheckAccount (or the account answer of this transaction's Authenticate),
 * decided: the daemon's verdict and the module's allow_roles= must both
 * pass. */
static enum account_outcome check_account(struct ctx *c, struct account *a) {
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
                        return system_account_by_nss(c) ? ACCOUNT_NOT_OURS : ACCOUNT_UNAVAILABLE;
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

static void remember_groups(struct ctx *c, const struct account *a) {
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

PAM_NEOSTRA_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        struct account a;
        int ret;

        ret = begin(&c, pamh, flags, argc, argv, PAM_USER_UNKNOWN, LOOKUP_FILES);
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

PAM_NEOSTRA_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        struct account a = {};
        const void *p = NULL;
        int op = flags & ~PAM_SILENT, ret;

        ret = begin(&c, pamh, flags, argc, argv, PAM_IGNORE, LOOKUP_FILES);
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

        /* No account management in this handle (a screen locker, or a stack
         * without our account line): ask now. */
        switch (check_account(&c, &a)) {
        case ACCOUNT_ALLOWED:
                ret = add_groups(&c, a.gids, a.n_gids);
                break;
        case ACCOUNT_UNKNOWN:
        case ACCOUNT_NOT_OURS:
                /* Not a user we could give groups to: nothing to do. */
                ret = PAM_IGNORE;
                break;
        case ACCOUNT_DENIED:
        case ACCOUNT_ROLE_DENIED:
        case ACCOUNT_REFUSED:
                pam_syslog(pamh, LOG_NOTICE, "not adding groups: account not allowed; user=%s", c.user);
                ret = PAM_CRED_ERR;
                break;
        case ACCOUNT_UNAVAILABLE:
        default:
                ret = unavailable(&c, PAM_CRED_UNAVAIL);
                break;
        }
        account_done(&a);
        return ret;
}

/* ---- sessions and passwords --------------------------------------------- */

PAM_NEOSTRA_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        int ret;

        ret = begin(&c, pamh, flags, argc, argv, PAM_IGNORE, LOOKUP_NSS);
        if (ret != PAM_SUCCESS)
                return ret;
        pam_syslog(pamh, LOG_INFO, "session opened; user=%s", c.user);
        return PAM_SUCCESS;
}

PAM_NEOSTRA_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        struct ctx c;
        int ret;

        ret = begin(&c, pamh, flags, argc, argv, PAM_IGNORE, LOOKUP_NSS);
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

        ret = begin(&c, pamh, flags, argc, argv, PAM_IGNORE, LOOKUP_FILES);
        if (ret != PAM_SUCCESS)
                return ret == PAM_AUTHINFO_UNAVAIL ? PAM_IGNORE : ret;

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
