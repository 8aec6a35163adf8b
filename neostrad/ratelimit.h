/* SPDX-License-Identifier: MIT */
/*
 * A token bucket per non-root peer uid for Authenticate, so that a screen
 * locker (which runs as the user and may check the user's own password)
 * cannot be turned into a password-guessing oracle: RATELIMIT_BURST calls,
 * then one more every RATELIMIT_REFILL_SEC seconds.  RATELIMIT_SLOTS uids
 * are tracked; the least recently seen one is forgotten first.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define RATELIMIT_SLOTS      64u
#define RATELIMIT_BURST      5.0
#define RATELIMIT_REFILL_SEC 10.0

typedef struct RateLimit RateLimit;

int ratelimit_new(RateLimit **ret);
RateLimit *ratelimit_free(RateLimit *r);

/* Whether uid may make a call now; take: and spend a token on it. */
bool ratelimit_check(RateLimit *r, uid_t uid, bool take);

/* Every uid's budget full again (tests). */
void ratelimit_reset(RateLimit *r);
