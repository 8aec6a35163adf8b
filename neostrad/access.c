/* SPDX-License-Identifier: MIT */
/* The revocation bound; see access.h. */
#include <time.h>

#include "access.h"

static int64_t real_now(void) {
        return (int64_t) time(NULL);
}

/* Read and set on the loop's thread only; a test sets it before the daemon starts. */
static int64_t (*clock_now)(void) = real_now;

int64_t access_now(void) {
        return clock_now();
}

void access_test_clock(int64_t (*now)(void)) {
        clock_now = now ? now : real_now;
}

static int64_t max_age_sec(const struct neostra_config *c) {
        return (int64_t) (c->account_max_age_ms / 1000u);
}

enum access_state access_state(const struct neostra_config *c, const struct user_record *u, int64_t now) {
        switch (u->access_end) {
        case ACCESS_END_NONE:
                break;
        case ACCESS_END_REVOKED:
                return ACCESS_REVOKED;
        case ACCESS_END_DEPROVISIONED:
        default:
                /* An unknown reason (a newer daemon's cache) still ends it. */
                return ACCESS_DEPROVISIONED;
        }
        if (u->invalidated)
                return ACCESS_INVALIDATED;
        /* A proof from the future (the clock went back) counts from now. */
        if (u->last_online_proof <= 0 || now - u->last_online_proof >= max_age_sec(c))
                return ACCESS_EXPIRED;
        return ACCESS_VALID;
}

int64_t access_until(const struct neostra_config *c, const struct user_record *u) {
        if (u->access_end != ACCESS_END_NONE || u->invalidated || u->last_online_proof <= 0)
                return 0;
        return u->last_online_proof + max_age_sec(c);
}

const char *access_state_name(enum access_state s) {
        static const char *const names[_ACCESS_STATE_MAX] = {
                [ACCESS_VALID] = "valid",
                [ACCESS_EXPIRED] = "expired",
                [ACCESS_INVALIDATED] = "invalidated",
                [ACCESS_REVOKED] = "revoked",
                [ACCESS_DEPROVISIONED] = "deprovisioned",
        };

        return s < _ACCESS_STATE_MAX ? names[s] : "invalid";
}

const char *access_refusal(enum access_state s) {
        switch (s) {
        case ACCESS_VALID:
                return "the last Neostra sign-in is recent enough";
        case ACCESS_EXPIRED:
                return "your last Neostra sign-in on this host is too old (account_max_age); "
                       "log in with your password";
        case ACCESS_INVALIDATED:
                return "an administrator asked for a new Neostra sign-in; log in with your password";
        case ACCESS_REVOKED:
                return "Neostra refused to renew your session; log in with your password";
        case ACCESS_DEPROVISIONED:
        default:
                return "Neostra no longer knows this account (it was removed)";
        }
}
