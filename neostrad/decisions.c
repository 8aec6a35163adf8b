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

/* The labels of neostra_decisions_total (README, "Metrics"), and the
 * result each outcome is logged with; "logins" counts it as that result
 * unless uncounted (the account step's answers it never counted). */
static const struct {
        const char *method, *result, *cause;
        enum login_result login_result;
        bool uncounted;
} outcomes[_OUTCOME_MAX] = {
        [OUTCOME_AUTH_ONLINE] = { "authenticate", "success", "online", RESULT_SUCCESS },
        [OUTCOME_AUTH_OFFLINE] = { "authenticate", "success", "offline", RESULT_OFFLINE_SUCCESS },
        [OUTCOME_AUTH_RACE] = { "authenticate", "success", "deadline_race", RESULT_OFFLINE_SUCCESS },
        [OUTCOME_AUTH_CACHED] = { "authenticate", "success", "cached", RESULT_CACHED_SUCCESS },
        [OUTCOME_AUTH_REFUSED_API] = { "authenticate", "refused", "api", RESULT_FAILURE },
        [OUTCOME_AUTH_UNKNOWN_API] = { "authenticate", "refused", "api_unknown_user", RESULT_UNKNOWN },
        [OUTCOME_AUTH_REFUSED_CACHE] = { "authenticate", "refused", "cache", RESULT_FAILURE },
        [OUTCOME_AUTH_EMPTY_PASSWORD] = { "authenticate", "refused", "empty_password", RESULT_FAILURE },
        [OUTCOME_AUTH_INVALID_NAME] = { "authenticate", "refused", "invalid_name", RESULT_UNKNOWN },
        [OUTCOME_AUTH_LOCKOUT] = { "authenticate", "lockout", "max_failures", RESULT_UNAVAILABLE },
        [OUTCOME_AUTH_RATE_LIMITED] = { "authenticate", "lockout", "rate_limit", RESULT_RATE_LIMITED },
        [OUTCOME_AUTH_UNAVAILABLE_API] = { "authenticate", "unavailable", "api", RESULT_UNAVAILABLE },
        [OUTCOME_AUTH_UNAVAILABLE_BUSY] = { "authenticate", "unavailable", "api_busy", RESULT_UNAVAILABLE },
        [OUTCOME_AUTH_UNAVAILABLE_UNCONFIGURED] = { "authenticate", "unavailable", "unconfigured",
                                                    RESULT_UNAVAILABLE },
        [OUTCOME_AUTH_UNAVAILABLE_LOOKUP] = { "authenticate", "unavailable", "nss", RESULT_UNAVAILABLE },
        [OUTCOME_AUTH_UNAVAILABLE_INTERNAL] = { "authenticate", "unavailable", "internal", RESULT_UNAVAILABLE },
        [OUTCOME_AUTH_NOT_OURS_SYSTEM] = { "authenticate", "not_ours", "system", RESULT_NOT_OURS },
        [OUTCOME_AUTH_NOT_OURS_LOCAL] = { "authenticate", "not_ours", "local", RESULT_NOT_OURS },
        /* Refused as unknown: the module refuses these names itself. */
        [OUTCOME_AUTH_NOT_OURS_DOMAIN] = { "authenticate", "not_ours", "domain", RESULT_UNKNOWN },
        [OUTCOME_ACCOUNT_ALLOWED] = { "account", "success", "online_proof", RESULT_SUCCESS, true },
        [OUTCOME_ACCOUNT_ROLE] = { "account", "refused", "role", RESULT_DENIED_ROLE },
        [OUTCOME_ACCOUNT_ACCESS_ENDED] = { "account", "refused", "access_ended", RESULT_DENIED_ACCESS },
        [OUTCOME_ACCOUNT_UNKNOWN] = { "account", "refused", "no_signin", RESULT_UNKNOWN, true },
        [OUTCOME_ACCOUNT_UNAVAILABLE_UNCONFIGURED] = { "account", "unavailable", "unconfigured",
                                                       RESULT_UNAVAILABLE },
        [OUTCOME_ACCOUNT_UNAVAILABLE_LOOKUP] = { "account", "unavailable", "nss", RESULT_UNAVAILABLE, true },
        [OUTCOME_ACCOUNT_NOT_OURS_SYSTEM] = { "account", "not_ours", "system", RESULT_NOT_OURS, true },
        [OUTCOME_ACCOUNT_NOT_OURS_LOCAL] = { "account", "not_ours", "local", RESULT_NOT_OURS, true },
        [OUTCOME_ACCOUNT_NOT_OURS_DOMAIN] = { "account", "not_ours", "domain", RESULT_NOT_OURS, true },
};

struct Decisions {
        uint64_t counts[_RESULT_MAX];
        uint64_t outcomes[_OUTCOME_MAX];
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

void decisions_count(Decisions *d, enum decision_outcome o) {
        d->outcomes[o]++;
        if (outcomes[o].uncounted)
                return;
        d->counts[outcomes[o].login_result]++;
        if (d->changed)
                d->changed(d->userdata);
}

enum login_result decisions_outcome_result(enum decision_outcome o) {
        return outcomes[o].login_result;
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

json_t *decisions_json(const Decisions *d) {
        json_t *a = json_array();

        for (int o = 0; a && o < _OUTCOME_MAX; o++)
                if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "method", outcomes[o].method,
                                                       "result", outcomes[o].result, "cause", outcomes[o].cause,
                                                       "count", (json_int_t) d->outcomes[o])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
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
