/* SPDX-License-Identifier: MIT */
/*
 * One Authenticate call, from the request to the answer, deciding between
 * the API, the cached verifier and both (DESIGN.md decision 6):
 *
 *  - cached_auth_timeout: a password that matches the verifier within that
 *    many seconds of an online success is answered without the API;
 *  - API known offline (online.c): a fresh verifier answers at once;
 *  - otherwise the API is asked; if it has not answered after offline_after
 *    and a fresh verifier matches, the user is let in and the online call
 *    finishes in the background and updates the cache;
 *  - API unavailable: a fresh verifier decides; a wrong password counts
 *    towards max_failures;
 *  - API refusal (401/403) or unknown account: the verifier is dropped.
 *
 * "Fresh" = younger than offline_max_age, fewer than max_failures offline
 * failures since the last online success, and [cache] offline = yes.
 * Verifiers are made and checked on worker threads only.
 */
#pragma once

#include "manager.h"
#include "varlink-server.h"

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
int login_start(Manager *m, VarlinkConn *c, const struct login_params *p, char *email, uint64_t deadline_usec);

/* Shut down: cancel every login's API call and timer (manager_free). */
void login_cancel_all(Manager *m);

/*
 * What login.c uses of the world: the sign-in call and the wall clock
 * (verifier freshness, cached_auth_timeout, the time of a success).
 * Tests: replace them, for every login from now on; NULL, or a NULL
 * member, is the real one.
 */
struct login_env {
        int (*signin)(Api *api, const struct neostra_config *config, const char *email,
                      const char *password, api_signin_callback_t cb, void *userdata, ApiRequest **ret);
        void (*cancel)(ApiRequest *req);
        int64_t (*now)(void);           /* unix seconds */
};
void login_test_env(const struct login_env *env);
