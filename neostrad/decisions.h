/* SPDX-License-Identifier: MIT */
/*
 * Every login decision: counted by result (GetStatus "logins", the
 * service's STATUS= line), by outcome (GetStatus "decisions", the metric
 * neostra_decisions_total) and logged as one structured entry (log.h).
 */
#pragma once

#include <stdint.h>
#include <jansson.h>
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

/*
 * What a decision was, finer than its result: the method that made it, and
 * why (README, "Metrics").  Each outcome has one login_result (the one it
 * is logged with) and counts in "logins" as that result, or not at all
 * (the account step's answers that were never counted there).
 */
enum decision_outcome {
        OUTCOME_AUTH_ONLINE,            /* the API said yes */
        OUTCOME_AUTH_OFFLINE,           /* the API is unavailable; the verifier said yes */
        OUTCOME_AUTH_RACE,              /* the API slower than offline_after; the verifier said yes */
        OUTCOME_AUTH_CACHED,            /* cached_auth_timeout: the verifier said yes, no API call */
        OUTCOME_AUTH_REFUSED_API,       /* the API refused the password */
        OUTCOME_AUTH_UNKNOWN_API,       /* the API does not know the account (404) */
        OUTCOME_AUTH_REFUSED_CACHE,     /* the API unavailable; the verifier said no */
        OUTCOME_AUTH_EMPTY_PASSWORD,
        OUTCOME_AUTH_INVALID_NAME,      /* no valid email for the name */
        OUTCOME_AUTH_LOCKOUT,           /* offline logins locked after max_failures */
        OUTCOME_AUTH_RATE_LIMITED,      /* the caller's uid over its budget */
        OUTCOME_AUTH_UNAVAILABLE_API,   /* the API did not answer usably, no verifier could */
        OUTCOME_AUTH_UNAVAILABLE_BUSY,  /* the API said 429 for the user */
        OUTCOME_AUTH_UNAVAILABLE_UNCONFIGURED,
        OUTCOME_AUTH_UNAVAILABLE_LOOKUP,        /* NSS could not tell whether the name is local */
        OUTCOME_AUTH_UNAVAILABLE_INTERNAL,      /* out of memory, a request that cannot start */
        OUTCOME_AUTH_NOT_OURS_SYSTEM,   /* excluded, or a local system account */
        OUTCOME_AUTH_NOT_OURS_LOCAL,    /* a local account [users] local_accounts does not list */
        OUTCOME_AUTH_NOT_OURS_DOMAIN,   /* a domain [users] domains does not accept */
        OUTCOME_ACCOUNT_ALLOWED,        /* CheckAccount: a valid online proof, roles allowed */
        OUTCOME_ACCOUNT_ROLE,           /* roles not allowed (CheckAccount, or the verdict of a login) */
        OUTCOME_ACCOUNT_ACCESS_ENDED,   /* no valid online proof: past account_max_age, invalidated, revoked, deprovisioned */
        OUTCOME_ACCOUNT_UNKNOWN,        /* no sign-in seen for the user */
        OUTCOME_ACCOUNT_UNAVAILABLE_UNCONFIGURED,
        OUTCOME_ACCOUNT_UNAVAILABLE_LOOKUP,
        OUTCOME_ACCOUNT_NOT_OURS_SYSTEM,
        OUTCOME_ACCOUNT_NOT_OURS_LOCAL,
        OUTCOME_ACCOUNT_NOT_OURS_DOMAIN,
        _OUTCOME_MAX,
};

typedef struct Decisions Decisions;

/* changed(userdata) runs after every count (the service status). */
int decisions_new(void (*changed)(void *userdata), void *userdata, Decisions **ret);
Decisions *decisions_free(Decisions *d);

/* Count one decision (its outcome, and its result in "logins"). */
void decisions_count(Decisions *d, enum decision_outcome o);
/* The result an outcome is logged with. */
enum login_result decisions_outcome_result(enum decision_outcome o);
uint64_t decisions_get(const Decisions *d, enum login_result r);
/* "success", "offlineSuccess", ... as GetStatus names them. */
const char *decisions_result_name(enum login_result r);

/* GetStatus "decisions": [{"method", "result", "cause", "count"}], one
 * member per outcome, zeros included; NULL on ENOMEM. */
json_t *decisions_json(const Decisions *d);

/* One decision line (never a password or a token). */
void decisions_log(Decisions *d, uid_t peer_uid, const char *method, const char *user, const char *service,
                   const char *rhost, const char *tty, enum login_result result, const char *reason,
                   long http_status, int64_t latency_ms);
