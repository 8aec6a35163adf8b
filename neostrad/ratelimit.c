/* SPDX-License-Identifier: MIT */
/* Token buckets per uid; see ratelimit.h. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "ratelimit.h"

struct bucket {
        uid_t uid;
        double tokens;
        double updated;
        bool used;
};

struct RateLimit {
        struct bucket slots[RATELIMIT_SLOTS];
};

static double now_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int ratelimit_new(RateLimit **ret) {
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : -ENOMEM;
}

RateLimit *ratelimit_free(RateLimit *r) {
        free(r);
        return NULL;
}

bool ratelimit_check(RateLimit *r, uid_t uid, bool take) {
        struct bucket *b = NULL, *oldest = &r->slots[0];
        double now = now_mono();

        for (size_t i = 0; i < RATELIMIT_SLOTS; i++) {
                if (r->slots[i].used && r->slots[i].uid == uid) {
                        b = &r->slots[i];
                        break;
                }
                if (!r->slots[i].used || r->slots[i].updated < oldest->updated)
                        oldest = &r->slots[i];
        }
        if (!b) {
                b = oldest;
                *b = (struct bucket) { .uid = uid, .tokens = RATELIMIT_BURST, .updated = now, .used = true };
        }
        b->tokens += (now - b->updated) / RATELIMIT_REFILL_SEC;
        if (b->tokens > RATELIMIT_BURST)
                b->tokens = RATELIMIT_BURST;
        b->updated = now;
        if (b->tokens < 1.0)
                return false;
        if (take)
                b->tokens -= 1.0;
        return true;
}

void ratelimit_reset(RateLimit *r) {
        *r = (RateLimit) {};
}
