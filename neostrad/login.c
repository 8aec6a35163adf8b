/* SPDX-License-Identifier: MIT */
/* The Authenticate flow; see login.h for the rules. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "account.h"
#include "decisions.h"
#include "log-ids.h"
#include "log.h"
#include "login.h"
#include "login-internal.h"
#include "userdb.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"
#include "online.h"
#include "verifier.h"
#include "writeback.h"


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

bool logins_pending(const Logins *ls) {
        return ls->pending != NULL;
}

enum check_mode {
        CHECK_CACHED,     /* cached_auth_timeout: no API call unless it fails */
        CHECK_OFFLINE,    /* the API cannot be asked: the verifier decides */
        CHECK_SLOW,       /* offline_after passed: let in if it matches, else keep waiting */
        CHECK_REFUSED,    /* the API refused the password: is it the verifier's? */
};

/* What a login waits for, besides the API (at most LOGIN_WAIT_MAX_USEC). */
enum login_wait {
        WAIT_NONE,
        WAIT_CHECK,       /* the user's offline attempts left are all in flight: one to end */
        WAIT_VERIFIER,    /* the user's verifier is being made (queued or running) */
};

struct login {
        Logins *ls;
        VarlinkConn *conn;              /* held; NULL once answered or the client left */
        char *user, *email, *service, *rhost, *tty;
        char *password;                 /* secret: wiped when the login is freed */
        uid_t peer_uid;
        ApiRequest *request;            /* the online attempt */
        sd_event_source *offline_timer; /* offline_after */
        sd_event_source *wait_timer;    /* bounds a wait (waiting) */
        uint64_t deadline;              /* CLOCK_MONOTONIC usec the connection gives up; 0: none */
        unsigned jobs;                  /* worker jobs still holding this login */
        enum login_wait waiting;
        bool checking;                  /* a verifier check is on a worker */
        bool online_failed;             /* the API answered "unavailable" */
        bool answered;
        bool refusing;                  /* a CHECK_REFUSED job checks refused_mac's password */
        bool probe;                     /* API offline: if the cache cannot answer, ask it anyway */
        const char *api_reason;         /* the API's answer (static text), for a later reply */
        enum decision_outcome unavailable;      /* why the API could not answer (metrics) */
        long api_status;
        int64_t api_latency_ms;
        unsigned char refused_mac[VERIFIER_MAC_SIZE];   /* verifier_mac() of the refused password */
        struct login *prev, *next;      /* Logins.pending */
};

struct job {
        struct login *login;
        enum check_mode mode;
        int (*check)(const char *hash, const char *password);  /* verifier_check(), or the test's */
        char *hash;                     /* the verifier to check */
        uint64_t live_id;               /* counts in that user_live's offline_checks; 0: in none */
        uint64_t verifier_gen;          /* user_live.verifier_gen of the verifier checked */
        int result;                     /* -ECANCELED until it has run */
};

/* A wait (login.h, LOGIN_WAIT_MAX_USEC) ends this long before the
 * connection's deadline, to answer in time. */
#define LOGIN_WAIT_MARGIN_USEC (200u * 1000ull)

/* Read and set on the loop's thread only; a test sets it before any login
 * starts.  Worker jobs take the functions they run with them. */
static struct login_env env = {
        .signin = api_signin, .cancel = api_request_cancel, .now = now_wall,
        .verifier_check = verifier_check, .verifier_make = verifier_make,
};

void login_test_env(const struct login_env *e) {
        env = (struct login_env) {
                .signin = e && e->signin ? e->signin : api_signin,
                .cancel = e && e->cancel ? e->cancel : api_request_cancel,
                .now = e && e->now ? e->now : now_wall,
                .verifier_check = e && e->verifier_check ? e->verifier_check : verifier_check,
                .verifier_make = e && e->verifier_make ? e->verifier_make : verifier_make,
        };
}

static void stop_waiting(struct login *l) {
        if (l->waiting != WAIT_NONE) {
                l->waiting = WAIT_NONE;
                l->ls->waiting--;
        }
        l->wait_timer = sd_event_source_disable_unref(l->wait_timer);
}

static void login_maybe_free(struct login *l) {
        Logins *ls = l->ls;

        if (!l->answered || l->conn || l->request || l->jobs > 0)
                return;
        stop_waiting(l);
        if (l->prev)
                l->prev->next = l->next;
        else
                ls->pending = l->next;
        if (l->next)
                l->next->prev = l->prev;
        sd_event_source_disable_unref(l->offline_timer);
        explicit_bzero(l->refused_mac, sizeof(l->refused_mac));
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

/* u's verifier is being made (a success's job, queued or running): it is
 * one the cache will have, not one it has not. */
static bool verifier_coming(Logins *ls, const struct user_record *u) {
        return config_of(ls)->offline && u && u->live && u->live->pending_make &&
               u->offline_failures < config_of(ls)->max_failures;
}

/* May another offline check of u start?  Each check in flight may yet be
 * a failure: max_failures counts them, so concurrent wrong passwords never
 * get past it. */
static bool offline_attempt_left(Logins *ls, const struct user_record *u) {
        uint64_t used = (uint64_t) u->offline_failures + (u->live ? u->live->offline_checks : 0);

        return used < config_of(ls)->max_failures;
}

/* The answer: error NULL for a reply with params, else an error with a
 * "reason" (params unused).  The next call on the connection runs only
 * after the caller of this has returned (varlink-server.h), so what it does
 * after answering (the cache write of a sign-in) is done by then. */
static void answer(struct login *l, enum decision_outcome outcome, const char *error, json_t *params,
                   const char *reason, long http_status, int64_t latency_ms) {
        VarlinkConn *c = l->conn;

        decisions_count(l->ls->d.decisions, outcome);
        decisions_log(l->ls->d.decisions, l->peer_uid, "Authenticate", l->user, l->service, l->rhost, l->tty,
                             decisions_outcome_result(outcome), reason, http_status, latency_ms);
        l->answered = true;
        l->conn = NULL;
        l->offline_timer = sd_event_source_disable_unref(l->offline_timer);
        stop_waiting(l);
        if (!c)
                json_decref(params);
        else if (error) {
                json_decref(params);
                (void) varlink_conn_error_reason(c, error, reason);
        } else
                (void) varlink_conn_reply(c, params);
        varlink_conn_unref(c);
}

static void answer_error(struct login *l, enum decision_outcome outcome, const char *error,
                         const char *reason, long http_status, int64_t latency_ms) {
        answer(l, outcome, error, NULL, reason, http_status, latency_ms);
}

static void answer_success(struct login *l, enum decision_outcome outcome, const struct user_record *u,
                           const char *reason, long http_status, int64_t latency_ms) {
        bool offline = decisions_outcome_result(outcome) == RESULT_OFFLINE_SUCCESS;
        char verdict[512];
        bool allowed = account_verdict(config_of(l->ls), u, verdict, sizeof(verdict));
        json_t *params;

        /* The account step will refuse on this verdict without asking
         * again: count and log the refusal here, as CheckAccount would. */
        if (!allowed) {
                enum decision_outcome refusal = access_valid(config_of(l->ls), u, access_now())
                                                ? OUTCOME_ACCOUNT_ROLE : OUTCOME_ACCOUNT_ACCESS_ENDED;

                decisions_count(l->ls->d.decisions, refusal);
                decisions_log(l->ls->d.decisions, l->peer_uid, "CheckAccount", l->user, l->service, NULL, NULL,
                              decisions_outcome_result(refusal), verdict, 0, -1);
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
        answer(l, outcome, NULL, params, reason, http_status, latency_ms);
}

/* ---- worker jobs ----------------------------------------------------------- */

static void job_check(void *data) {
        struct job *j = data;

        j->result = j->check(j->hash, j->login->password);
}

static void start_online(struct login *l);
static void online_unavailable(struct login *l, enum decision_outcome outcome, const char *reason,
                               long http_status, int64_t latency_ms);
static bool try_cache(struct login *l, enum check_mode mode);
static void cache_cannot_answer(struct login *l);

/*
 * Ask the API, unless it asked to leave this user alone (a 429): then the
 * cache answers, or nothing.  While the API is offline a fresh verifier
 * answers at once, without making the user wait on it; a login the cache
 * cannot answer would fail otherwise, so it goes to the API anyway: it is
 * the probe, and its answer brings the daemon back online (online.c).
 */
static void ask_api(struct login *l) {
        Online *o = l->ls->d.online;

        if (online_user_held(o, l->user) > 0)
                online_unavailable(l, OUTCOME_AUTH_UNAVAILABLE_BUSY,
                                   "API busy for this user; waiting for its Retry-After", 429, -1);
        else if (online_usable(o))
                start_online(l);
        else if (online_state(o) == API_STATE_UNCONFIGURED)
                online_unavailable(l, OUTCOME_AUTH_UNAVAILABLE_UNCONFIGURED, "no API to ask: [api] url is not set",
                                   0, -1);
        else {
                l->probe = true;
                if (!try_cache(l, CHECK_OFFLINE))
                        cache_cannot_answer(l);
        }
}

/* Neither the API nor the cache can say yes (any more): "unavailable", once
 * the API has failed too.  While it may still answer, it decides; while
 * it is offline and not asked yet, it is asked (ask_api()). */
static void cache_cannot_answer(struct login *l) {
        struct user_record *u = user_table_get(l->ls->d.users, l->user);
        bool locked;

        if (l->answered || (l->request && !l->online_failed))
                return;
        if (l->probe && !l->online_failed) {
                l->probe = false;
                start_online(l);
                return;
        }
        locked = u && u->has_verifier && u->offline_failures >= config_of(l->ls)->max_failures;
        answer_error(l, locked ? OUTCOME_AUTH_LOCKOUT : l->unavailable, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                     locked ? "API unavailable; offline logins locked after too many wrong passwords"
                            : l->api_reason ? l->api_reason : "API unavailable",
                     l->api_status, l->api_latency_ms);
}

/* A wait is over: decide from the cache again, as before it. */
static void retry_cache(struct login *l) {
        if (l->answered)
                return;
        if (l->request && !l->online_failed)
                (void) try_cache(l, CHECK_SLOW);        /* else the API decides */
        else if (!try_cache(l, CHECK_OFFLINE))
                cache_cannot_answer(l);
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct login *l = userdata;

        log_msg(LOG_WARNING, "%s waited too long for its cached credentials; going on without them",
                l->user);
        stop_waiting(l);
        cache_cannot_answer(l);
        login_maybe_free(l);
        return 0;
}

/* Wait, at most LOGIN_WAIT_MAX_USEC, and never past the connection's
 * deadline: the client hears "unavailable" rather than nothing. */
static bool wait_for(struct login *l, enum login_wait what) {
        uint64_t now, usec = LOGIN_WAIT_MAX_USEC;
        int r;

        if (l->deadline > 0 && sd_event_now(l->ls->d.event, CLOCK_MONOTONIC, &now) >= 0) {
                if (l->deadline < now + LOGIN_WAIT_MARGIN_USEC)
                        return false;
                if (l->deadline - now - LOGIN_WAIT_MARGIN_USEC < usec)
                        usec = l->deadline - now - LOGIN_WAIT_MARGIN_USEC;
        }
        l->wait_timer = sd_event_source_disable_unref(l->wait_timer);
        r = sd_event_add_time_relative(l->ls->d.event, &l->wait_timer, CLOCK_MONOTONIC, usec,
                                       1000, on_wait_timeout, l);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot arm a timer for %s: %s", l->user, strerror(-r));
                return false;
        }
        if (l->waiting == WAIT_NONE)
                l->ls->waiting++;
        l->waiting = what;
        return true;
}

/* Something changed for user (a check ended, a verifier came or went):
 * the logins that wait on it decide again.  user must outlive the call;
 * a login freed here is only ever the one just woken. */
static void logins_wake_waiters(Logins *ls, const char *user) {
        if (ls->waiting == 0)
                return;
        for (struct login *l = ls->pending, *next; l; l = next) {
                next = l->next;
                if (l->waiting == WAIT_NONE || strcmp(l->user, user) != 0)
                        continue;
                stop_waiting(l);
                retry_cache(l);
                login_maybe_free(l);
        }
}

/* The API refused what the cache holds for u (its password, or the
 * account): the token and the verifier go, on disk at once. */
static void revoke_cached(Logins *ls, struct user_record *u) {
        user_table_record_refusal(ls->d.users, u->name);
        writeback_save(ls->d.writeback, u, &(struct user_secrets) { .mask = SECRET_ALL });
        logins_wake_waiters(ls, u->name);
}

/* Is a refusal of this password of user still being checked? */
static bool refusal_pending(Logins *ls, const char *user, const unsigned char *mac) {
        if (ls->refusing == 0)
                return false;
        for (struct login *l = ls->pending; l; l = l->next)
                if (l->refusing && strcmp(l->user, user) == 0 && verifier_mac_equal(l->refused_mac, mac))
                        return true;
        return false;
}

static void refusal_checked(struct login *l, struct user_record *u, const struct job *j) {
        Logins *ls = l->ls;

        l->refusing = false;
        ls->refusing--;
        explicit_bzero(l->refused_mac, sizeof(l->refused_mac));
        /* Dropped or replaced meanwhile, nothing of the refused password is
         * left; a mismatch is only a wrong password. */
        if (u && u->has_verifier && u->live && u->live->verifier_gen == j->verifier_gen && j->result != 0) {
                if (j->result > 0)
                        log_event(LOG_NOTICE, MESSAGE_ID_CREDENTIALS_REVOKED, l->user, "the API refused the "
                                  "password %s's cached credentials hold (changed upstream?): they are removed",
                                  l->user);
                else
                        /* Not checked (unusable, or the daemon stops first):
                         * it may have been that password, so it goes. */
                        log_event(LOG_WARNING, MESSAGE_ID_CREDENTIALS_REVOKED, l->user, "cannot tell whether "
                                  "the API refused the password %s's cached credentials hold: they are removed",
                                  l->user);
                revoke_cached(ls, u);
        }
        /* The refusal is answered once the cache is settled (and on disk). */
        if (!l->answered)
                answer_error(l, OUTCOME_AUTH_REFUSED_API, NEOSTRA_ERROR_AUTHENTICATION_FAILED, l->api_reason,
                             l->api_status, l->api_latency_ms);
}

static void on_check_done(void *data) {
        struct job *j = data;
        struct login *l = j->login;
        Logins *ls = l->ls;
        struct user_record *u = user_table_get(ls->d.users, l->user);
        bool stands, refused = false;

        l->jobs--;
        if (j->mode == CHECK_REFUSED) {
                refusal_checked(l, u, j);
                goto done;
        }
        l->checking = false;
        if (j->live_id != 0 && u && u->live && u->live->id == j->live_id && u->live->offline_checks > 0)
                u->live->offline_checks--;
        /* Only the verifier that still stands decides: one dropped or
         * replaced while it was checked says nothing any more. */
        stands = j->result != -ECANCELED && u && u->has_verifier && u->live &&
                 u->live->verifier_gen == j->verifier_gen;
        if (stands && j->result > 0) {
                unsigned char mac[VERIFIER_MAC_SIZE];

                if (verifier_mac(l->user, l->password, mac) == 0) {
                        /* Remember its MAC, so the next online success need not
                         * make a new verifier, nor a refusal check one. */
                        if (!u->live->verifier_mac_set) {
                                memcpy(u->live->verifier_mac, mac, sizeof(mac));
                                u->live->verifier_mac_set = true;
                        }
                        /* The API has just refused this password, and its
                         * check is still queued: it is the verifier's. */
                        if (refusal_pending(ls, l->user, mac)) {
                                log_msg(LOG_NOTICE, "the API refused the password %s's cached credentials "
                                        "hold (changed upstream?): they are removed", l->user);
                                revoke_cached(ls, u);
                                refused = true;
                        }
                }
                explicit_bzero(mac, sizeof(mac));
        }

        if (l->answered)
                ;       /* answered meanwhile: nothing to decide */
        else if (refused) {
                if (!l->request || l->online_failed)
                        answer_error(l, OUTCOME_AUTH_REFUSED_API, NEOSTRA_ERROR_AUTHENTICATION_FAILED,
                                     "the API has refused this password", 0, -1);
        } else if (!stands) {
                if (j->mode == CHECK_CACHED)
                        ask_api(l);
                else
                        retry_cache(l);
        } else if (j->result > 0) {
                if (j->mode == CHECK_CACHED)
                        answer_success(l, OUTCOME_AUTH_CACHED, u, "password matches the recent sign-in",
                                       0, -1);
                else
                        answer_success(l, j->mode == CHECK_SLOW ? OUTCOME_AUTH_RACE : OUTCOME_AUTH_OFFLINE, u,
                                       j->mode == CHECK_SLOW ? "API slow; cached credentials match"
                                                             : "API unavailable; cached credentials match",
                                       0, -1);
        } else if (j->mode == CHECK_CACHED)
                /* Perhaps the password changed upstream: ask the API. */
                ask_api(l);
        else if (j->mode == CHECK_OFFLINE || l->online_failed) {
                u->offline_failures++;
                writeback_save_now(ls->d.writeback, u, NULL);
                answer_error(l, OUTCOME_AUTH_REFUSED_CACHE, NEOSTRA_ERROR_AUTHENTICATION_FAILED,
                             j->result < 0 ? "cached verifier unusable"
                                           : "wrong password (checked against cached credentials)",
                             0, -1);
        }
        /* else CHECK_SLOW mismatch while the API is still thinking: wait for it. */

done:
        secure_free_string(j->hash);
        free(j);
        /* A check in flight ended: those waiting for one decide again. */
        logins_wake_waiters(ls, l->user);
        login_maybe_free(l);
}

/* The verifier is read from the cache here, on the loop (one indexed
 * row of a local file); a read that fails starts nothing, and the callers
 * go on as without a verifier: online, or "unavailable".  An offline or
 * slow check counts in u's offline_checks until it ends. */
static int start_check(struct login *l, struct user_record *u, enum check_mode mode) {
        struct user_live *live = user_record_live(u);
        struct job *j;
        int r;

        if (!live)
                return -ENOMEM;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (struct job) { .login = l, .mode = mode, .check = env.verifier_check,
                            .verifier_gen = live->verifier_gen, .result = -ECANCELED };
        r = writeback_read_secret(l->ls->d.writeback, u, SECRET_VERIFIER, &j->hash);
        if (r == 0 && !j->hash)
                r = -ENOENT;
        if (r < 0) {
                free(j);
                return r;
        }
        /* A login waits for it: ahead of the verifiers being made. */
        r = workers_submit_urgent(l->ls->d.workers, job_check, on_check_done, j);
        if (r < 0) {
                secure_free_string(j->hash);
                free(j);
                return r;
        }
        l->jobs++;
        if (mode == CHECK_REFUSED) {
                l->refusing = true;
                l->ls->refusing++;
        } else
                l->checking = true;
        if (mode == CHECK_OFFLINE || mode == CHECK_SLOW) {
                live->offline_checks++;
                j->live_id = live->id;
        }
        return 0;
}

/* Check l's password against u's verifier in this mode (CHECK_OFFLINE or
 * CHECK_SLOW), now, or once the verifier being made is there, or once one
 * of its checks in flight has ended.  false: the cache cannot answer it. */
static bool try_cache(struct login *l, enum check_mode mode) {
        struct user_record *u = user_table_get(l->ls->d.users, l->user);

        if (!verifier_fresh(l->ls, u)) {
                if (!verifier_coming(l->ls, u) || !wait_for(l, WAIT_VERIFIER))
                        return false;
                /* Right after a success on a busy machine it may wait
                 * behind other users' jobs: this one is waited for. */
                (void) workers_hurry(l->ls->d.workers, u->live->pending_make);
                return true;
        }
        if (offline_attempt_left(l->ls, u))
                return start_check(l, u, mode) == 0;
        /* Its attempts left are all in flight: the next one to end says
         * whether another may start (a match) or not (max_failures). */
        return wait_for(l, WAIT_CHECK);
}

/*
 * The API refused l's password: is it the one the cache holds for u (the
 * password changed upstream)?  Then the token and the verifier go.  Any
 * other password is only a wrong one (a guesser's, a typo): nothing goes.
 * The in-memory MACs tell (verifier.h); a verifier this process has not
 * matched yet (read from the cache) is checked against the refused
 * password on a worker, and goes if it matches, or if that cannot be
 * checked; the answer waits for that check (refusal_checked()), so what
 * it drops is on disk before the answer, as any other refusal's.
 */
enum refusal {
        REFUSAL_WRONG,          /* not the password held: a wrong one */
        REFUSAL_REVOKED,        /* the password held: dropped */
        REFUSAL_CHECKING,       /* on a worker: refusal_checked() answers */
};

static enum refusal judge_refusal(struct login *l, struct user_record *u) {
        struct user_live *live = u->live;
        struct make_job *mj = live ? live->pending_make : NULL;
        const unsigned char *mj_mac = mj ? login_make_job_mac(mj) : NULL;
        unsigned char mac[VERIFIER_MAC_SIZE];
        bool have_mac = verifier_mac(l->user, l->password, mac) == 0;
        enum refusal r = REFUSAL_REVOKED;

        if (have_mac && ((live && live->success_mac_set && verifier_mac_equal(mac, live->success_mac)) ||
                         (mj_mac && verifier_mac_equal(mac, mj_mac)) ||
                         (u->has_verifier && live && live->verifier_mac_set &&
                          verifier_mac_equal(mac, live->verifier_mac))))
                revoke_cached(l->ls, u);               /* the password of the last success or of the verifier */
        else if (mj && !(have_mac && mj_mac))
                revoke_cached(l->ls, u);               /* a verifier in the making, of a password we cannot tell */
        else if (!u->has_verifier || (have_mac && live && live->verifier_mac_set))
                r = REFUSAL_WRONG;
        else if (have_mac && refusal_pending(l->ls, l->user, mac))
                r = REFUSAL_WRONG;              /* the same password is checked already: that one decides */
        else if (have_mac && (memcpy(l->refused_mac, mac, sizeof(mac)),
                              start_check(l, u, CHECK_REFUSED) == 0))
                r = REFUSAL_CHECKING;
        else {
                log_msg(LOG_WARNING, "cannot check the password the API refused for %s against its "
                        "cached credentials: they are removed", l->user);
                revoke_cached(l->ls, u);
        }
        explicit_bzero(mac, sizeof(mac));
        return r;
}

/* ---- the online attempt ------------------------------------------------------- */

static void online_unavailable(struct login *l, enum decision_outcome outcome, const char *reason,
                               long http_status, int64_t latency_ms) {
        l->online_failed = true;
        l->unavailable = outcome;
        l->api_reason = reason;
        l->api_status = http_status;
        l->api_latency_ms = latency_ms;
        /* The API has answered: nothing left to race. */
        l->offline_timer = sd_event_source_disable_unref(l->offline_timer);
        if (l->answered || l->checking || l->waiting != WAIT_NONE)
                return;          /* a running check or wait decides */
        if (!try_cache(l, CHECK_OFFLINE))
                cache_cannot_answer(l);
}

static void on_signin_done(struct api_signin_result *res, void *userdata) {
        struct login *l = userdata;
        Logins *ls = l->ls;
        int64_t latency_ms = (int64_t) (res->latency_usec / 1000u);
        unsigned char mac[VERIFIER_MAC_SIZE];
        bool have_mac, new_verifier = true;
        enum refusal refusal;
        struct user_secrets secrets;
        struct user_record *u;

        l->request = NULL;
        ls->stats.last_api_latency_ms = latency_ms;
        online_note(ls->d.online, res, l->user);

        switch (res->outcome) {
        case API_ALLOW:
                if (user_table_record_success(ls->d.users, l->user, res, env.now(), &u) < 0) {
                        if (!l->answered)
                                answer_error(l, OUTCOME_AUTH_UNAVAILABLE_INTERNAL, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
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
                        answer_success(l, OUTCOME_AUTH_ONLINE, u, res->reason, res->http_status, latency_ms);
                writeback_save(ls->d.writeback, u, &secrets);
                if (new_verifier)
                        login_make_verifier(l->ls, u, l->user, l->password, have_mac ? mac : NULL, env.verifier_make, logins_wake_waiters);
                explicit_bzero(mac, sizeof(mac));
                break;
        case API_DENY:
        case API_USER_UNKNOWN:
                /* A refused password goes from the cache only if it is the
                 * one the cache holds; an unknown account goes whole. */
                u = user_table_get(ls->d.users, l->user);
                refusal = REFUSAL_WRONG;
                l->api_reason = res->reason;
                l->api_status = res->http_status;
                l->api_latency_ms = latency_ms;
                if (u && res->outcome == API_USER_UNKNOWN) {
                        /* The account is gone: its access ends and userdb
                         * stops publishing it (its uid stays its own). */
                        user_table_end_access(ls->d.users, u, ACCESS_END_DEPROVISIONED);
                        log_event(LOG_NOTICE, MESSAGE_ID_USER_DEPROVISIONED, l->user, "the API does not know %s "
                                  "any more (HTTP %ld): its access ended, its cached credentials are removed "
                                  "and userdb no longer publishes it", l->user, res->http_status);
                        revoke_cached(ls, u);
                        refusal = REFUSAL_REVOKED;
                } else if (u)
                        refusal = judge_refusal(l, u);
                if (l->answered) {
                        if (refusal == REFUSAL_REVOKED)
                                log_event(LOG_WARNING, MESSAGE_ID_CREDENTIALS_REVOKED, l->user, "%s was let in from "
                                          "the cache, but the API has since refused the password; its cached "
                                          "credentials are removed", l->user);
                } else if (refusal == REFUSAL_CHECKING)
                        ;       /* refusal_checked() answers */
                else if (res->outcome == API_DENY)
                        answer_error(l, OUTCOME_AUTH_REFUSED_API, NEOSTRA_ERROR_AUTHENTICATION_FAILED, res->reason,
                                     res->http_status, latency_ms);
                else
                        answer_error(l, OUTCOME_AUTH_UNKNOWN_API, NEOSTRA_ERROR_USER_UNKNOWN, res->reason,
                                     res->http_status, latency_ms);
                break;
        case API_UNAVAILABLE:
        default:
                online_unavailable(l, res->http_status == 429 ? OUTCOME_AUTH_UNAVAILABLE_BUSY
                                                              : OUTCOME_AUTH_UNAVAILABLE_API,
                                   res->reason, res->http_status, latency_ms);
                break;
        }
        login_maybe_free(l);
}

static int on_offline_after(sd_event_source *s, uint64_t usec, void *userdata) {
        struct login *l = userdata;
        struct user_record *u = user_table_get(l->ls->d.users, l->user);

        if (!l->answered && !l->checking && l->waiting == WAIT_NONE && (verifier_fresh(l->ls, u) ||
                                                                         verifier_coming(l->ls, u)))
                (void) try_cache(l, CHECK_SLOW);
        return 0;
}

static void start_online(struct login *l) {
        Logins *ls = l->ls;
        struct user_record *u = user_table_get(ls->d.users, l->user);
        int r;

        r = env.signin(ls->d.api, config_of(ls), l->email, l->password, on_signin_done, l, &l->request);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot start a sign-in request: %s", strerror(-r));
                online_unavailable(l, OUTCOME_AUTH_UNAVAILABLE_INTERNAL, "cannot start the API request", 0, -1);
                return;
        }
        if ((verifier_fresh(ls, u) || verifier_coming(ls, u)) && config_of(ls)->offline_after_ms > 0 &&
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
                .unavailable = OUTCOME_AUTH_UNAVAILABLE_API,
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
        if (deadline_usec > 0 && sd_event_now(ls->d.event, CLOCK_MONOTONIC, &l->deadline) >= 0)
                l->deadline += deadline_usec;
        else
                l->deadline = 0;

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
                /* Nobody to answer: drop the API call and the timers. */
                l->answered = true;
                env.cancel(l->request);
                l->request = NULL;
                l->offline_timer = sd_event_source_disable_unref(l->offline_timer);
                stop_waiting(l);
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
                stop_waiting(l);
                login_maybe_free(l);
        }
}
