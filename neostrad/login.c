/* SPDX-License-Identifier: MIT */
/* The Authenticate flow; see login.h for the rules. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "decisions.h"
#include "log.h"
#include "login.h"
#include "userdb.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"
#include "online.h"
#include "verifier.h"
#include "writeback.h"

struct Logins {
        struct login_deps d;
        struct login *pending;          /* every login not yet freed */
        struct login_stats stats;
};

static const struct neostra_config *config_of(const Logins *ls) {
        return *ls->d.config;
}

int logins_new(const struct login_deps *deps, Logins **ret) {
        Logins *ls = calloc(1, sizeof(*ls));

        if (!ls)
                return -ENOMEM;
        ls->d = *deps;
        ls->stats.last_api_latency_ms = -1;
        *ret = ls;
        return 0;
}

Logins *logins_free(Logins *ls) {
        if (ls)
                logins_cancel_all(ls);
        free(ls);
        return NULL;
}

void logins_stats(const Logins *ls, struct login_stats *ret) {
        *ret = ls->stats;
}

enum check_mode {
        CHECK_CACHED,     /* cached_auth_timeout: no API call unless it fails */
        CHECK_OFFLINE,    /* the API cannot be asked: the verifier decides */
        CHECK_SLOW,       /* offline_after passed: let in if it matches, else keep waiting */
};

struct login {
        Logins *ls;
        VarlinkConn *conn;              /* held; NULL once answered or the client left */
        char *user, *email, *service, *rhost, *tty;
        char *password;                 /* secret: wiped when the login is freed */
        uid_t peer_uid;
        ApiRequest *request;            /* the online attempt */
        sd_event_source *offline_timer; /* offline_after */
        unsigned jobs;                  /* worker jobs still holding this login */
        bool checking;                  /* a verifier check is on a worker */
        bool online_failed;             /* the API answered "unavailable" */
        bool answered;
        struct login *prev, *next;      /* Manager.logins_pending */
};

struct job {
        struct login *login;
        enum check_mode mode;
        char *hash;                     /* in: verifier to check; out: verifier made */
        int result;
};

/*
 * Making a verifier (one yescrypt, ~13 ms and 16 MiB, after the answer)
 * is a job of its own that holds a copy of the password, not the login:
 * at most one job per user waits, and a later success of the same user
 * while it waits hands it the newer password instead of queueing another.
 * So the queue is bounded by the users signing in, not by the sign-ins
 * (a busy user at 100 logins/s used to queue 100 jobs a second for two
 * threads that make ~150 a second, each holding its login and password
 * until its turn, without end).  VERIFIER_QUEUE_MAX bounds it further.
 */
#define VERIFIER_QUEUE_MAX 65536u

struct make_job {
        Logins *ls;
        char *user;
        char *password;                 /* secret; replaced while !started */
        uint64_t generation;            /* the user's successes it is for */
        bool started;                   /* a worker took it: the loop leaves it alone */
        unsigned char mac[VERIFIER_MAC_SIZE];   /* loop only: verifier_mac() of password */
        bool mac_set;
        char *hash;
        int result;
};

/* Guards make_job.password and .started between the loop and a worker. */
static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;

/* Read and set on the loop's thread only; a test sets it before any login starts. */
static struct login_env env = {
        .signin = api_signin, .cancel = api_request_cancel, .now = now_wall,
};

void login_test_env(const struct login_env *e) {
        env = (struct login_env) {
                .signin = e && e->signin ? e->signin : api_signin,
                .cancel = e && e->cancel ? e->cancel : api_request_cancel,
                .now = e && e->now ? e->now : now_wall,
        };
}

static void login_maybe_free(struct login *l) {
        Logins *ls = l->ls;

        if (!l->answered || l->conn || l->request || l->jobs > 0)
                return;
        if (l->prev)
                l->prev->next = l->next;
        else
                ls->pending = l->next;
        if (l->next)
                l->next->prev = l->prev;
        sd_event_source_disable_unref(l->offline_timer);
        secure_free_string(l->password);
        free(l->user);
        free(l->email);
        free(l->service);
        free(l->rhost);
        free(l->tty);
        free(l);
}

static bool verifier_fresh(Logins *ls, const struct user_record *u) {
        const struct neostra_config *c = config_of(ls);

        return c->offline && u && u->has_verifier &&
               env.now() - u->verifier_time < (int64_t) (c->offline_max_age_ms / 1000u) &&
               u->offline_failures < c->max_failures;
}

/* The answer: error NULL for a reply with params, else an error with a
 * "reason" (params unused).  The next call on the connection runs only
 * after the caller of this has returned (varlink-server.h), so what it does
 * after answering (the cache write of a sign-in) is done by then. */
static void answer(struct login *l, enum login_result result, const char *error, json_t *params,
                   const char *reason, long http_status, int64_t latency_ms) {
        VarlinkConn *c = l->conn;

        decisions_count(l->ls->d.decisions, result);
        decisions_log(l->ls->d.decisions, l->peer_uid, "Authenticate", l->user, l->service, l->rhost, l->tty,
                             result, reason, http_status, latency_ms);
        l->answered = true;
        l->conn = NULL;
        l->offline_timer = sd_event_source_disable_unref(l->offline_timer);
        if (!c)
                json_decref(params);
        else if (error) {
                json_decref(params);
                (void) varlink_conn_error_reason(c, error, reason);
        } else
                (void) varlink_conn_reply(c, params);
        varlink_conn_unref(c);
}

static void answer_error(struct login *l, enum login_result result, const char *error,
                         const char *reason, long http_status, int64_t latency_ms) {
        answer(l, result, error, NULL, reason, http_status, latency_ms);
}

static void answer_success(struct login *l, enum login_result result, const struct user_record *u,
                           const char *reason, long http_status, int64_t latency_ms) {
        bool offline = result == RESULT_OFFLINE_SUCCESS;
        char verdict[512];
        bool allowed = account_verdict(config_of(l->ls), u, verdict, sizeof(verdict));
        json_t *params;

        /* The account step will refuse on this verdict without asking
         * again: count and log the refusal here, as CheckAccount would. */
        if (!allowed) {
                decisions_count(l->ls->d.decisions, RESULT_DENIED_ROLE);
                decisions_log(l->ls->d.decisions, l->peer_uid, "CheckAccount", l->user, l->service, NULL, NULL,
                                     RESULT_DENIED_ROLE, verdict, 0, -1);
        }
        params = json_pack("{s:s, s:s, s:o, s:o, s:b, s:b, s:s}",
                           "user", l->user, "email", u->email,
                           "roles", account_roles_json(user_roles(u), user_n_roles(u)),
                           "groups", account_groups_json(config_of(l->ls), l->ls->d.userdb, l->ls->d.localnames, user_roles(u), user_n_roles(u)),
                           "offline", offline, "allowed", allowed, "reason", verdict);
        if (params && offline)
                json_object_set_new(params, "offlineUntil",
                                    json_integer(u->verifier_time +
                                                 (json_int_t) (config_of(l->ls)->offline_max_age_ms / 1000u)));
        answer(l, result, NULL, params, reason, http_status, latency_ms);
}

/* ---- worker jobs ----------------------------------------------------------- */

static void job_check(void *data) {
        struct job *j = data;

        j->result = verifier_check(j->hash, j->login->password);
}

static void job_make(void *data) {
        struct make_job *j = data;
        char *hash = NULL;

        pthread_mutex_lock(&make_lock);
        j->started = true;
        pthread_mutex_unlock(&make_lock);
        /* From here on only this thread touches the password. */
        j->result = verifier_make(j->password, &hash);
        j->hash = hash;
}

static void start_online(struct login *l);
static void online_unavailable(struct login *l, const char *reason, long http_status,
                               int64_t latency_ms);

/* Ask the API, unless it is known to be away: then do not make the user
 * wait on it. */
static void ask_api(struct login *l) {
        if (online_usable(l->ls->d.online))
                start_online(l);
        else
                online_unavailable(l, "API offline; waiting for it to come back", 0, -1);
}

static void on_check_done(void *data) {
        struct job *j = data;
        struct login *l = j->login;
        Logins *ls = l->ls;
        struct user_record *u;

        l->jobs--;
        l->checking = false;
        u = user_table_get(ls->d.users, l->user);
        /* The password matches the verifier: remember its MAC, so the next
         * online success need not make a new one.  Only while it is still
         * the same verifier (read again: rare, once per user and process). */
        if (j->result > 0 && u && u->has_verifier && !(u->live && u->live->verifier_mac_set)) {
                char *now = NULL;

                if (writeback_read_secret(ls->d.writeback, u, SECRET_VERIFIER, &now) == 0 && now &&
                    strcmp(now, j->hash) == 0 && user_record_live(u))
                        u->live->verifier_mac_set = verifier_mac(l->user, l->password,
                                                                 u->live->verifier_mac) == 0;
                secure_free_string(now);
        }
        secure_free_string(j->hash);

        if (l->answered || !u) {
                /* Answered meanwhile (or the user was cleared): nothing to decide. */
                if (!l->answered)
                        answer_error(l, RESULT_UNAVAILABLE, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                                     "cached credentials were removed", 0, -1);
        } else if (j->result > 0) {
                if (j->mode == CHECK_CACHED)
                        answer_success(l, RESULT_CACHED_SUCCESS, u, "password matches the recent sign-in",
                                       0, -1);
                else
                        answer_success(l, RESULT_OFFLINE_SUCCESS, u,
                                       j->mode == CHECK_SLOW ? "API slow; cached credentials match"
                                                             : "API unavailable; cached credentials match",
                                       0, -1);
        } else if (j->mode == CHECK_CACHED)
                /* Perhaps the password changed upstream: ask the API. */
                ask_api(l);
        else if (j->mode == CHECK_OFFLINE || l->online_failed) {
                u->offline_failures++;
                writeback_save_now(ls->d.writeback, u, NULL);
                answer_error(l, RESULT_FAILURE, NEOSTRA_ERROR_AUTHENTICATION_FAILED,
                             j->result < 0 ? "cached verifier unusable"
                                           : "wrong password (checked against cached credentials)",
                             0, -1);
        }
        /* else CHECK_SLOW mismatch while the API is still thinking: wait for it. */

        free(j);
        login_maybe_free(l);
}

/* The verifier is read from the cache here, on the loop (one indexed
 * row of a local file); a read that fails starts nothing, and the callers
 * go on as without a verifier: online, or "unavailable". */
static int start_check(struct login *l, const struct user_record *u, enum check_mode mode) {
        struct job *j = calloc(1, sizeof(*j));
        int r;

        if (!j)
                return -ENOMEM;
        j->login = l;
        j->mode = mode;
        r = writeback_read_secret(l->ls->d.writeback, u, SECRET_VERIFIER, &j->hash);
        if (r == 0 && !j->hash)
                r = -ENOENT;
        if (r < 0) {
                free(j);
                return r;
        }
        r = workers_submit(l->ls->d.workers, job_check, on_check_done, j);
        if (r < 0) {
                secure_free_string(j->hash);
                free(j);
                return r;
        }
        l->jobs++;
        l->checking = true;
        return 0;
}

static void make_job_free(struct make_job *j) {
        explicit_bzero(j->mac, sizeof(j->mac));
        secure_free_string(j->password);
        secure_free_string(j->hash);
        free(j->user);
        free(j);
}

static void on_make_done(void *data) {
        struct make_job *j = data;
        struct user_record *u = user_table_get(j->ls->d.users, j->user);

        if (u && u->live && u->live->pending_make == j)
                u->live->pending_make = NULL;
        /* Only if nothing refused the user since the API said yes, and the
         * password is still that of the latest success: the same MAC (a
         * steady stream of logins with one password must not discard
         * every job), or, MACs unknown, no later success at all.  (A
         * record with a success has its live part.) */
        if (j->result == 0 && j->hash && u && u->live && u->last_online_success > 0 &&
            u->has_token &&
            (j->mac_set && u->live->success_mac_set ? verifier_mac_equal(j->mac, u->live->success_mac)
                                                       : u->live->successes == j->generation)) {
                struct user_secrets s = { .mask = SECRET_VERIFIER, .verifier = j->hash };

                j->hash = NULL;
                u->verifier_time = u->last_online_success;
                memcpy(u->live->verifier_mac, j->mac, sizeof(u->live->verifier_mac));
                u->live->verifier_mac_set = j->mac_set;
                j->ls->stats.verifiers_made++;
                writeback_save(j->ls->d.writeback, u, &s);
        } else if (j->result < 0 && j->result != -ECANCELED)
                log_msg(LOG_ERR, "cannot make a verifier for %s: %s", j->user, strerror(-j->result));
        make_job_free(j);
}

/* u has its live part (user_table_record_success made it). */
static void start_make(struct login *l, struct user_record *u, const unsigned char *mac) {
        struct make_job *j = u->live->pending_make;
        bool handed = false;

        /* Waiting or running for this very password: it will do. */
        if (j && mac && j->mac_set && verifier_mac_equal(j->mac, mac)) {
                j->generation = u->live->successes;
                return;
        }

        pthread_mutex_lock(&make_lock);
        if (j && !j->started) {
                /* Still waiting: let it make this (the latest) password's verifier. */
                char *pw = strdup(l->password);

                if (pw) {
                        secure_free_string(j->password);
                        j->password = pw;
                        j->generation = u->live->successes;
                        handed = true;
                        j->mac_set = mac != NULL;
                        if (mac)
                                memcpy(j->mac, mac, sizeof(j->mac));
                }
        }
        pthread_mutex_unlock(&make_lock);
        if (handed)
                return;
        if (workers_queued(l->ls->d.workers) >= VERIFIER_QUEUE_MAX) {
                log_msg(LOG_WARNING, "verifier queue full: no offline verifier for %s from this sign-in", l->user);
                return;
        }
        j = calloc(1, sizeof(*j));
        if (j) {
                /* Filled in before a worker can see it; a job the workers
                 * drop at shutdown is never run and installs nothing. */
                *j = (struct make_job) { .ls = l->ls, .user = strdup(l->user), .password = strdup(l->password),
                                         .generation = u->live->successes, .result = -ECANCELED,
                                         .mac_set = mac != NULL };
                if (mac)
                        memcpy(j->mac, mac, sizeof(j->mac));
                if (j->user && j->password && workers_submit(l->ls->d.workers, job_make, on_make_done, j) == 0) {
                        u->live->pending_make = j;
                        return;
                }
                make_job_free(j);
        }
        log_msg(LOG_ERR, "cannot queue a verifier for %s", l->user);
}

/* ---- the online attempt ------------------------------------------------------- */

static void online_unavailable(struct login *l, const char *reason, long http_status,
                               int64_t latency_ms) {
        struct user_record *u = user_table_get(l->ls->d.users, l->user);

        l->online_failed = true;
        if (l->answered || l->checking)
                return;          /* a running check decides */
        if (verifier_fresh(l->ls, u) && start_check(l, u, CHECK_OFFLINE) == 0)
                return;
        answer_error(l, RESULT_UNAVAILABLE, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                     u && u->has_verifier && u->offline_failures >= config_of(l->ls)->max_failures
                             ? "API unavailable; offline logins locked after too many wrong passwords"
                             : reason,
                     http_status, latency_ms);
}

static void on_signin_done(struct api_signin_result *res, void *userdata) {
        struct login *l = userdata;
        Logins *ls = l->ls;
        int64_t latency_ms = (int64_t) (res->latency_usec / 1000u);
        unsigned char mac[VERIFIER_MAC_SIZE];
        bool have_mac, new_verifier = true;
        struct user_secrets secrets;
        struct user_record *u;

        l->request = NULL;
        ls->stats.last_api_latency_ms = latency_ms;
        online_note(ls->d.online, res);

        switch (res->outcome) {
        case API_ALLOW:
                if (user_table_record_success(ls->d.users, l->user, res, env.now(), &u) < 0) {
                        if (!l->answered)
                                answer_error(l, RESULT_UNAVAILABLE, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                                             "out of memory", res->http_status, latency_ms);
                        break;
                }
                /* The new token goes to the cache, not into the record. */
                secrets = (struct user_secrets) {
                        .mask = SECRET_TOKEN | SECRET_REFRESH_TOKEN,
                        .token = res->token, .refresh_token = res->refresh_token,
                };
                res->token = res->refresh_token = NULL;
                have_mac = verifier_mac(l->user, l->password, mac) == 0;
                if (have_mac && u->has_verifier && u->live->verifier_mac_set &&
                    verifier_mac_equal(mac, u->live->verifier_mac)) {
                        /* The password the verifier was made of: it stays,
                         * as fresh as this success, and no yescrypt runs. */
                        u->verifier_time = u->last_online_success;
                        ls->stats.verifiers_kept++;
                        new_verifier = false;
                } else {
                        /* The previous password's verifier must not outlive
                         * this success, not even until the new one is made:
                         * the password may just have changed upstream. */
                        user_record_drop_verifier(u);
                        secrets.mask |= SECRET_VERIFIER;
                }
                memcpy(u->live->success_mac, mac, sizeof(u->live->success_mac));
                u->live->success_mac_set = have_mac;
                /* The stable uid, once (userdb.c); a failure only keeps
                 * the user out of userdb, the login goes on. */
                (void) userdb_prepare_user(ls->d.userdb, u);
                /* The answer does not wait for the cache write (an SQLite
                 * transaction, a tenth of the daemon's time per login) nor
                 * for the verifier, made off the loop; the connection's
                 * next call, if any, waits for both. */
                if (!l->answered)
                        answer_success(l, RESULT_SUCCESS, u, res->reason, res->http_status, latency_ms);
                writeback_save(ls->d.writeback, u, &secrets);
                if (new_verifier)
                        start_make(l, u, have_mac ? mac : NULL);
                explicit_bzero(mac, sizeof(mac));
                break;
        case API_DENY:
        case API_USER_UNKNOWN:
                /* Whatever the cache says, this password no longer works;
                 * a 404 means the account is gone: its access ends and
                 * userdb stops publishing it (its uid stays its own). */
                u = user_table_get(ls->d.users, l->user);
                if (u) {
                        if (res->outcome == API_USER_UNKNOWN)
                                user_table_end_access(ls->d.users, u, ACCESS_END_DEPROVISIONED);
                        else
                                user_table_record_refusal(ls->d.users, l->user);
                        writeback_save(ls->d.writeback, u, &(struct user_secrets) { .mask = SECRET_ALL });
                }
                if (l->answered)
                        log_msg(LOG_WARNING, "%s was let in from the cache, but the API has since refused "
                                "the password; its cached credentials are removed", l->user);
                else if (res->outcome == API_DENY)
                        answer_error(l, RESULT_FAILURE, NEOSTRA_ERROR_AUTHENTICATION_FAILED, res->reason,
                                     res->http_status, latency_ms);
                else
                        answer_error(l, RESULT_UNKNOWN, NEOSTRA_ERROR_USER_UNKNOWN, res->reason,
                                     res->http_status, latency_ms);
                break;
        case API_UNAVAILABLE:
        default:
                online_unavailable(l, res->reason, res->http_status, latency_ms);
                break;
        }
        login_maybe_free(l);
}

static int on_offline_after(sd_event_source *s, uint64_t usec, void *userdata) {
        struct login *l = userdata;
        struct user_record *u = user_table_get(l->ls->d.users, l->user);

        if (!l->answered && !l->checking && verifier_fresh(l->ls, u))
                (void) start_check(l, u, CHECK_SLOW);
        return 0;
}

static void start_online(struct login *l) {
        Logins *ls = l->ls;
        struct user_record *u = user_table_get(ls->d.users, l->user);
        int r;

        r = env.signin(ls->d.api, config_of(ls), l->email, l->password, on_signin_done, l, &l->request);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot start a sign-in request: %s", strerror(-r));
                online_unavailable(l, "cannot start the API request", 0, -1);
                return;
        }
        if (verifier_fresh(ls, u) && config_of(ls)->offline_after_ms > 0 &&
            sd_event_add_time_relative(ls->d.event, &l->offline_timer, CLOCK_MONOTONIC,
                                       config_of(ls)->offline_after_ms * 1000u, 1000,
                                       on_offline_after, l) < 0)
                log_msg(LOG_WARNING, "cannot arm offline_after for %s", l->user);
}

/* ---- entry points ------------------------------------------------------------- */

static void on_conn_gone(void *userdata);

int login_start(Logins *ls, VarlinkConn *c, const struct login_params *p, char *email, uint64_t deadline_usec) {
        const struct neostra_config *conf = config_of(ls);
        struct user_record *u = user_table_get(ls->d.users, p->user);
        struct login *l;

        l = calloc(1, sizeof(*l));
        if (!l) {
                free(email);
                return -ENOMEM;
        }
        *l = (struct login) {
                .ls = ls, .email = email, .peer_uid = p->peer_uid,
                .user = strdup(p->user), .password = strdup(p->password),
                .service = p->service ? strdup(p->service) : NULL,
                .rhost = p->rhost ? strdup(p->rhost) : NULL,
                .tty = p->tty ? strdup(p->tty) : NULL,
        };
        l->next = ls->pending;
        if (l->next)
                l->next->prev = l;
        ls->pending = l;
        if (!l->user || !l->password || (p->service && !l->service) || (p->rhost && !l->rhost) ||
            (p->tty && !l->tty)) {
                l->answered = true;
                login_maybe_free(l);
                return -ENOMEM;
        }
        /* The login answers on the connection, now or later; if the client
         * leaves first, on_conn_gone() drops the work. */
        l->conn = varlink_conn_hold(c, deadline_usec, on_conn_gone, l);

        /* A recent online success with this very password: no API call. */
        if (conf->cached_auth_timeout_ms > 0 && u && u->has_verifier && !u->invalidated &&
            u->offline_failures == 0 &&
            env.now() - u->last_online_success < (int64_t) (conf->cached_auth_timeout_ms / 1000u) &&
            start_check(l, u, CHECK_CACHED) == 0)
                return 0;

        ask_api(l);
        /* Answered already (the API offline, or its request not even
         * started): nothing else will free it, since the answer took the
         * connection's cancel callback with it. */
        login_maybe_free(l);
        return 0;
}

static void on_conn_gone(void *userdata) {
        struct login *l = userdata;

        varlink_conn_unref(l->conn);
        l->conn = NULL;
        if (!l->answered) {
                /* Nobody to answer: drop the API call and the timer. */
                l->answered = true;
                env.cancel(l->request);
                l->request = NULL;
                l->offline_timer = sd_event_source_disable_unref(l->offline_timer);
        }
        login_maybe_free(l);
}

void logins_cancel_all(Logins *ls) {
        for (struct login *l = ls->pending, *next; l; l = next) {
                next = l->next;
                l->conn = varlink_conn_unref(l->conn);
                l->answered = true;
                env.cancel(l->request);
                l->request = NULL;
                login_maybe_free(l);
        }
}
