/* SPDX-License-Identifier: MIT */
/* Counting and logging login decisions; see decisions.h. */
#include <errno.h>
#include <stdlib.h>

#include "decisions.h"
#include "log.h"

static const char *const result_names[_RESULT_MAX] = {
        [RESULT_SUCCESS] = "success",
        [RESULT_OFFLINE_SUCCESS] = "offlineSuccess",
        [RESULT_CACHED_SUCCESS] = "cachedSuccess",
        [RESULT_FAILURE] = "failure",
        [RESULT_UNKNOWN] = "unknown",
        [RESULT_UNAVAILABLE] = "unavailable",
        [RESULT_NOT_OURS] = "notOurs",
        [RESULT_RATE_LIMITED] = "rateLimited",
        [RESULT_DENIED_ROLE] = "deniedRole",
        [RESULT_DENIED_ACCESS] = "deniedAccess",
};

struct Decisions {
        uint64_t counts[_RESULT_MAX];
        void (*changed)(void *userdata);
        void *userdata;
};

int decisions_new(void (*changed)(void *userdata), void *userdata, Decisions **ret) {
        Decisions *d = calloc(1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        d->changed = changed;
        d->userdata = userdata;
        *ret = d;
        return 0;
}

Decisions *decisions_free(Decisions *d) {
        free(d);
        return NULL;
}

void decisions_count(Decisions *d, enum login_result r) {
        d->counts[r]++;
        if (d->changed)
                d->changed(d->userdata);
}

uint64_t decisions_get(const Decisions *d, enum login_result r) {
        return d->counts[r];
}

const char *decisions_result_name(enum login_result r) {
        return result_names[r];
}

void decisions_log(Decisions *d, uid_t peer_uid, const char *method, const char *user, const char *service,
                   const char *rhost, const char *tty, enum login_result result, const char *reason,
                   long http_status, int64_t latency_ms) {
        struct auth_event ev = {
                .method = method, .user = user, .service = service, .rhost = rhost, .tty = tty,
                .peer_uid = peer_uid, .result = result_names[result], .reason = reason,
                .http_status = http_status, .latency_ms = latency_ms,
        };

        log_auth_event(result == RESULT_SUCCESS || result == RESULT_OFFLINE_SUCCESS ||
                       result == RESULT_CACHED_SUCCESS ? LOG_INFO :
                       result == RESULT_UNAVAILABLE ? LOG_WARNING : LOG_NOTICE, &ev);
}
