/* SPDX-License-Identifier: MIT */
/*
 * The revocation bound (README, "Access ends when it should"): every answer
 * that is not backed by a password the API accepted just now (the account
 * step after an SSH key, sudo and su account checks, a screen locker,
 * pam_sm_setcred, the role groups userdb publishes, an offline or cached
 * login) rests on the user's last online proof, users.h last_online_proof:
 * a sign-in the API accepted, or a token refresh whose answer carried the
 * user with its roles (revalidate.h).  That proof must be younger than
 * [access] account_max_age, and nothing may have ended the user's access
 * since: neostractl invalidate, a refresh the API refused, a 404 to a
 * sign-in.  Only an online sign-in starts a new proof after those.
 *
 * Judged from memory only (userdb answers with it); the wall clock it is
 * judged by is access_now(), which tests replace.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "neostra/conf.h"
#include "users.h"

enum access_state {
        ACCESS_VALID,           /* an online proof younger than account_max_age */
        ACCESS_EXPIRED,         /* the proof is older, or there was never one */
        ACCESS_INVALIDATED,     /* neostractl invalidate */
        ACCESS_REVOKED,         /* the API refused a refresh */
        ACCESS_DEPROVISIONED,   /* the API answered a sign-in with 404 */
        _ACCESS_STATE_MAX,
};

/* Unix seconds; time(NULL) unless a test replaced it. */
int64_t access_now(void);
/* Tests: the clock from now on; NULL is the real one. */
void access_test_clock(int64_t (*now)(void));

enum access_state access_state(const struct neostra_config *c, const struct user_record *u, int64_t now);

static inline bool access_valid(const struct neostra_config *c, const struct user_record *u, int64_t now) {
        return access_state(c, u, now) == ACCESS_VALID;
}

/* When account_max_age runs out for u (unix seconds): the proof plus
 * account_max_age; 0 when there is no proof or the access has ended. */
int64_t access_until(const struct neostra_config *c, const struct user_record *u);

/* "valid", "expired", "invalidated", "revoked", "deprovisioned" (GetUser). */
const char *access_state_name(enum access_state s);

/* What the account step tells the user when the state is not
 * ACCESS_VALID: why, and what to do. */
const char *access_refusal(enum access_state s);
