/* SPDX-License-Identifier: MIT */
/*
 * Background re-validation (README, "Access ends when it should"): with
 * [api] refresh_path set, each recently seen user's token is refreshed
 * before it expires, and a refresh is how the API tells the daemon, without
 * a password, that a user still exists and which roles it has now.
 *
 *  - Recently seen: access.h says the user's access is valid (an online
 *    proof younger than account_max_age, nothing ended it), and a refresh
 *    token is held.
 *  - When: a user is due in the last quarter of what is left of its token
 *    (at most REVALIDATE_MARGIN_MAX_SEC before it expires; tokens of unknown
 *    life are taken to live REVALIDATE_UNKNOWN_LIFE_SEC) or of its proof's
 *    account_max_age, whichever ends first, moved later by a per-user
 *    jitter of up to half that margin (a hash of the name under a key drawn
 *    at start), and never sooner than REVALIDATE_RETRY_SEC after its last
 *    refresh.  One timer wakes when the first user is due, at least every
 *    REVALIDATE_SCAN_MAX_USEC, and never while the API is known to be away.
 *  - Bounded: at most REVALIDATE_IN_FLIGHT_MAX background refreshes at
 *    once; the due users wait in a queue of REVALIDATE_QUEUE_MAX names.
 *  - The answer: an API_ALLOW replaces the tokens and their expiry; when it
 *    carried data.user (api.h has_user) it is also an online proof and its
 *    roles replace the user's at once (and with them the groups userdb
 *    publishes).  A 401/403 ends the user's access (users.h
 *    ACCESS_END_REVOKED): the account step refuses it, its role groups are
 *    unpublished, its tokens and verifier are wiped.  Anything else changes
 *    nothing.  An answer that a sign-in of the user overtook (or that comes
 *    after its access ended) is dropped: the sign-in's tokens are newer.
 *
 * GetToken's refresh (auth-methods.c) goes through here too, so one user
 * never has two refreshes in flight (refresh tokens may work only once).
 */
#pragma once

#include <systemd/sd-event.h>

#include "api.h"
#include "neostra/conf.h"
#include "online.h"
#include "users.h"
#include "writeback.h"

#define REVALIDATE_IN_FLIGHT_MAX     4u
#define REVALIDATE_QUEUE_MAX         1024u
#define REVALIDATE_MARGIN_MAX_SEC    300
#define REVALIDATE_UNKNOWN_LIFE_SEC  3600
#define REVALIDATE_RETRY_SEC         60
#define REVALIDATE_SCAN_MAX_USEC     (60u * 1000000ull)

typedef struct Revalidator Revalidator;

/* What re-validation works with (borrowed; they outlive it). */
struct revalidate_deps {
        sd_event *event;
        struct neostra_config *const *config;   /* the manager's: a reload replaces it */
        struct user_table *users;
        WriteBack *writeback;
        Api *api;
        Online *online;
};

struct revalidate_stats {
        uint64_t refreshes;     /* refreshes the API answered with a token */
        uint64_t proofs;        /* of those, how many carried the user: online proofs */
        uint64_t revoked;       /* users whose access a refused refresh ended */
        uint64_t failed;        /* no answer, or not a usable one */
        unsigned in_flight;
};

int revalidate_new(const struct revalidate_deps *deps, Revalidator **ret);
/* Cancels the refreshes in flight (their waiters are not called). */
Revalidator *revalidate_free(Revalidator *rv);

/* Arm the timer (refresh_path set) or stop it; after every (re)load of the
 * config. */
void revalidate_configure(Revalidator *rv);

void revalidate_stats(const Revalidator *rv, struct revalidate_stats *ret);

typedef struct RevalidateWait RevalidateWait;

/*
 * Refresh user's token now, whatever the bound on refreshes in flight (a
 * caller waits), or join the refresh already in flight for it; done runs
 * once the answer has been applied (never inside this call).  0 and *ret
 * (to cancel the wait with revalidate_wait_cancel()), or a negative errno:
 * -ENOENT the user has no refresh token, -EINVAL no refresh_path, ...
 */
int revalidate_refresh(Revalidator *rv, const char *user, void (*done)(void *userdata), void *userdata,
                       RevalidateWait **ret);
/* done will not run; the refresh goes on.  Accepts NULL. */
void revalidate_wait_cancel(RevalidateWait *w);

/*
 * Tests: the refresh call and its cancel, the most the timer sleeps, and
 * the jitter key, for every Revalidator made from now on; NULL (or a zero
 * member) is the real one.  The wall clock is access.h's.
 */
struct revalidate_env {
        int (*refresh)(Api *api, const struct neostra_config *config, const char *email,
                       const char *refresh_token, api_signin_callback_t cb, void *userdata, ApiRequest **ret);
        void (*cancel)(ApiRequest *req);
        uint64_t scan_max_usec;
        uint64_t jitter_key;            /* 0: random */
};
void revalidate_test_env(const struct revalidate_env *env);
