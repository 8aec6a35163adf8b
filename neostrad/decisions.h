/* SPDX-License-Identifier: MIT */
/*
 * Every login decision: counted by result (GetStatus "logins", the
 * service's STATUS= line) and logged as one structured entry (log.h).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

enum login_result {
        RESULT_SUCCESS,          /* the API said yes */
        RESULT_OFFLINE_SUCCESS,  /* the cached verifier said yes while the API could not */
        RESULT_CACHED_SUCCESS,   /* cached_auth_timeout: the verifier said yes, no API call */
        RESULT_FAILURE,
        RESULT_UNKNOWN,
        RESULT_UNAVAILABLE,
        RESULT_NOT_OURS,
        RESULT_RATE_LIMITED,
        RESULT_DENIED_ROLE,
        RESULT_DENIED_ACCESS,    /* CheckAccount: no online proof within account_max_age (access.h) */
        _RESULT_MAX,
};

typedef struct Decisions Decisions;

/* changed(userdata) runs after every count (the service status). */
int decisions_new(void (*changed)(void *userdata), void *userdata, Decisions **ret);
Decisions *decisions_free(Decisions *d);

void decisions_count(Decisions *d, enum login_result r);
uint64_t decisions_get(const Decisions *d, enum login_result r);
/* "success", "offlineSuccess", ... as GetStatus names them. */
const char *decisions_result_name(enum login_result r);

/* One decision line (never a password or a token). */
void decisions_log(Decisions *d, uid_t peer_uid, const char *method, const char *user, const char *service,
                   const char *rhost, const char *tty, enum login_result result, const char *reason,
                   long http_status, int64_t latency_ms);
