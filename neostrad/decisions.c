/* SPDX-License-Identifier: MIT */
/* Counting and logging login decisions; see decisions.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "decisions.h"
#include "log-ids.h"
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

/* The MESSAGE_ID of a decision: one per result, and the account step's
 * own for its success and its "never seen".  No default: a new result
 * does not build until it has an id (and a catalog entry). */
static const char *message_id(const char *method, enum login_result r) {
        bool account = strcmp(method, "CheckAccount") == 0;

        switch (r) {
        case RESULT_SUCCESS:
                return account ? MESSAGE_ID_ACCOUNT_ALLOWED : MESSAGE_ID_LOGIN_SUCCESS;
        case RESULT_OFFLINE_SUCCESS:
                return MESSAGE_ID_LOGIN_OFFLINE_SUCCESS;
        case RESULT_CACHED_SUCCESS:
                return MESSAGE_ID_LOGIN_CACHED_SUCCESS;
        case RESULT_FAILURE:
                return MESSAGE_ID_LOGIN_FAILURE;
        case RESULT_UNKNOWN:
                return account ? MESSAGE_ID_ACCOUNT_UNKNOWN : MESSAGE_ID_LOGIN_UNKNOWN;
        case RESULT_UNAVAILABLE:
                return MESSAGE_ID_UNAVAILABLE;
        case RESULT_NOT_OURS:
                return MESSAGE_ID_NOT_OURS;
        case RESULT_RATE_LIMITED:
                return MESSAGE_ID_RATE_LIMITED;
        case RESULT_DENIED_ROLE:
                return MESSAGE_ID_ACCOUNT_DENIED_ROLE;
        case RESULT_DENIED_ACCESS:
                return MESSAGE_ID_ACCOUNT_DENIED_ACCESS;
        case _RESULT_MAX:
                break;
        }
        return NULL;
}

void decisions_log(Decisions *d, uid_t peer_uid, const char *method, const char *user, const char *service,
                   const char *rhost, const char *tty, enum login_result result, const char *reason,
                   long http_status, int64_t latency_ms) {
        struct auth_event ev = {
                .message_id = message_id(method, result), .method = method, .user = user, .service = service, .rhost = rhost, .tty = tty,
                .peer_uid = peer_uid, .result = result_names[result], .reason = reason,
                .http_status = http_status, .latency_ms = latency_ms,
        };

        log_auth_event(result == RESULT_SUCCESS || result == RESULT_OFFLINE_SUCCESS ||
                       result == RESULT_CACHED_SUCCESS ? LOG_INFO :
                       result == RESULT_UNAVAILABLE ? LOG_WARNING : LOG_NOTICE, &ev);
}
