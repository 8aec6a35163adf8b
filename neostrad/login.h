/* SPDX-License-Identifier: MIT */
/*
 * One Authenticate call, from the request to the answer, deciding between
 * the API, the cached verifier and both (README, "When the API is down or slow"):
 *
 *  - cached_auth_timeout: a password that matches the verifier within that
 *    many seconds of an online success is answered without the API;
 *  - API known offline (online.c): a fresh verifier answers at once; a
 *    login the cache cannot answer goes to the API anyway (it would fail
 *    otherwise): it is the probe, its answer brings the API back online;
 *  - the API asked to leave the user alone (a 429, online.c): the cache
 *    answers, or nothing, without the API;
 *  - otherwise the API is asked; if it has not answered after offline_after
 *    and a fresh verifier matches, the user is let in and the online call
 *    finishes in the background and updates the cache;
 *  - a verifier still being made (queued or running after a success)
 *    counts: the deadline race and the offline path wait for it, at most
 *    LOGIN_WAIT_MAX_USEC, and it jumps the worker queue meanwhile;
 *  - API unavailable: a fresh verifier decides; a wrong password counts
 *    towards max_failures, and so does each offline check still in flight,
 *    so concurrent wrong passwords never get past it (a login whose
 *    attempts left are all in flight waits for one to end, at most
 *    LOGIN_WAIT_MAX_USEC);
 *  - a check decides only if the verifier it checked still stands when it
 *    ends: not dropped nor replaced meanwhile, and its password not refused
 *    by the API meanwhile;
 *  - API refusal (401/403): the token and the verifier are dropped only
 *    when the refused password is the one the cache holds (it changed
 *    upstream).  The in-memory MACs tell (verifier.h); a verifier this
 *    process has not matched yet (read from the cache) is checked against
 *    the refused password on a worker, before the answer, and dropped if
 *    it matches or cannot be checked.  Any other refused password was only
 *    a wrong one (a typo, a guesser): nothing is dropped, nothing counts;
 *  - unknown account (404): the token and the verifier are dropped.
 *
 * "Fresh" = younger than offline_max_age, fewer than max_failures offline
 * failures since the last online success, and [cache] offline = yes.
 * Verifiers are made and checked on worker threads only.
 */
#pragma once

#include "api.h"
#include "decisions.h"
#include "localnames.h"
#include "neostra/conf.h"
#include "online.h"
#include "userdb.h"
#include "users.h"
#include "varlink-server.h"
#include "worker.h"
#include "writeback.h"

typedef struct Logins Logins;

/* What logins work with (borrowed; they outlive the Logins). */
struct login_deps {
        sd_event *event;
        struct neostra_config *const *config;   /* the manager's: a reload replaces it */
        struct user_table *users;
        WriteBack *writeback;
        Workers *workers;                       /* yescrypt, off the loop */
        Api *api;
        Online *online;
        UserDb *userdb;                         /* a first success gets its uid */
        LocalNames *localnames;                 /* the groups of the answer */
        Decisions *decisions;
};

struct login_stats {
        int64_t last_api_latency_ms;    /* -1: none yet */
        uint64_t verifiers_made;        /* yescrypt verifiers installed */
        uint64_t verifiers_kept;        /* online successes whose password the verifier already had */
};

int logins_new(const struct login_deps *deps, Logins **ret);
/* Cancels what is under way first (logins_cancel_all()). */
Logins *logins_free(Logins *ls);
void logins_stats(const Logins *ls, struct login_stats *ret);
/* Whether a login is not freed yet (answered or not). */
bool logins_pending(const Logins *ls);

struct login_params {
        const char *user;
        const char *password;
        const char *service;     /* may be NULL */
        const char *rhost;
        const char *tty;
        uid_t peer_uid;
};

/*
 * Start a login answered on connection c (held until then, at most
 * deadline_usec; a client that leaves cancels it).  email is stolen.
 * Returns 0 (the answer may already be out), or a negative errno (nothing
 * started; the caller answers).
 */
int login_start(Logins *ls, VarlinkConn *c, const struct login_params *p, char *email, uint64_t deadline_usec);

/* How long a login waits for its user's verifier work (a verifier being
 * made, the offline checks in flight that hold every attempt left) before
 * it goes on without it; never past its connection's deadline. */
#define LOGIN_WAIT_MAX_USEC (5u * 1000000ull)

/* Shut down: cancel every login's API call and timer; a verifier job
 * still queued finishes (or is dropped) with the workers. */
void logins_cancel_all(Logins *ls);

/*
 * What login.c uses of the world: the sign-in call, the wall clock
 * (verifier freshness, cached_auth_timeout, the time of a success) and
 * yescrypt.
 * Tests: replace them, for every login from now on; NULL, or a NULL
 * member, is the real one.
 */
struct login_env {
        int (*signin)(Api *api, const struct neostra_config *config, const char *email,
                      const char *password, api_signin_callback_t cb, void *userdata, ApiRequest **ret);
        void (*cancel)(ApiRequest *req);
        int64_t (*now)(void);           /* unix seconds */
        /* verifier_check() and verifier_make(): they run on a worker thread. */
        int (*verifier_check)(const char *hash, const char *password);
        int (*verifier_make)(const char *password, char **ret);
};
void login_test_env(const struct login_env *env);
