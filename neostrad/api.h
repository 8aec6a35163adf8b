/* SPDX-License-Identifier: MIT */
/*
 * The sign-in client: POST {url}{signin_path} through libcurl's multi-socket
 * API driven by the daemon's sd-event loop, and strict validation of the
 * answer (doc/protocol.md, "What the API answer must be").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "metrics.h"
#include "neostra/conf.h"

enum api_outcome {
        API_ALLOW,         /* HTTP 200, status 200, typed data.user for our email, string token */
        API_DENY,          /* 401/403 or another definite refusal */
        API_USER_UNKNOWN,  /* 404: the API does not know the account */
        API_UNAVAILABLE,   /* transport error, timeout, 5xx, 429, anything malformed */
};

const char *api_outcome_to_string(enum api_outcome o);

struct api_signin_result {
        enum api_outcome outcome;
        long http_status;             /* 0 when no HTTP answer arrived */
        const char *reason;           /* static text, safe to log */
        char *token;
        char *refresh_token;
        int64_t expires_in;           /* seconds, -1 when absent */
        char *user_id;
        char *name;
        char *email;
        char **roles;
        size_t n_roles;
        bool has_user;                /* data.user was there and valid: email, roles (and user_id,
                                       * name when sent) are filled; every API_ALLOW of a sign-in */
        uint64_t latency_usec;
        uint64_t retry_after_sec;     /* Retry-After on 429/503, 0 when absent */
};

/* Wipe and free everything the result owns (the token included). */
void api_signin_result_clear(struct api_signin_result *r);

/*
 * Judge one answer.  Never fails: *ret always gets an outcome and a
 * reason, and only a fully valid answer is API_ALLOW.  expected_email is
 * compared case-insensitively (email domains are), exactly otherwise.
 */
void api_parse_signin_response(long http_status, const char *body, size_t len,
                               const char *expected_email, struct api_signin_result *ret);

/*
 * Judge a token refresh answer: HTTP 200 with data.token a string (and a
 * "status", when present, of 200) is API_ALLOW with token, refresh_token
 * (when sent) and expires_in; 401/403 API_DENY; anything else (a 404
 * too) API_UNAVAILABLE.  The refresh endpoint is not documented; an
 * answer of the sign-in answer's shape also carries data.user, which is
 * then checked as a sign-in's is against expected_email (any failure
 * makes the answer API_UNAVAILABLE) and handed out with has_user set.
 * expected_email NULL: data.user is not read.
 */
void api_parse_refresh_response(long http_status, const char *body, size_t len, const char *expected_email,
                                struct api_signin_result *ret);

typedef struct Api Api;
typedef struct ApiRequest ApiRequest;

/* Called exactly once per request unless it was cancelled first; the
 * request is freed after the callback returns.  res is borrowed: take
 * ownership of fields by stealing them (set them to NULL). */
typedef void (*api_signin_callback_t)(struct api_signin_result *res, void *userdata);

int api_new(sd_event *event, Api **ret);
Api *api_free(Api *api);

/* Connections alive in libcurl's pool, and how many it has opened in all. */
unsigned api_pending(const Api *api);

/*
 * Start a sign-in.  The password is copied into a request body that is
 * wiped as soon as libcurl is done with it.  Returns 0, or a negative errno
 * (nothing started, no callback).
 */
int api_signin(Api *api, const struct neostra_config *config, const char *email,
               const char *password, api_signin_callback_t cb, void *userdata,
               ApiRequest **ret);

/*
 * Ask whether the API answers at all: a GET of the sign-in path, with no
 * credentials.  The callback's outcome is API_ALLOW for any HTTP answer
 * below 500 (other than 408 and 429), API_UNAVAILABLE otherwise; its
 * retry_after_sec carries a Retry-After.
 */
int api_probe(Api *api, const struct neostra_config *config, api_signin_callback_t cb,
              void *userdata, ApiRequest **ret);

/* POST {"refreshToken": …} to [api] refresh_path (-EINVAL when unset);
 * email (may be NULL) is whom a data.user in the answer must be about. */
int api_refresh(Api *api, const struct neostra_config *config, const char *email, const char *refresh_token,
                api_signin_callback_t cb, void *userdata, ApiRequest **ret);

/* Abort a request; its callback will not run.  Accepts NULL. */
void api_request_cancel(ApiRequest *req);

enum api_request_kind {
        API_REQUEST_SIGNIN,
        API_REQUEST_PROBE,
        API_REQUEST_REFRESH,
        _API_REQUEST_KIND_MAX,
};

/* How long the answers of that kind took, from the request's start to
 * its callback (a transport error's too; a cancelled request is not
 * counted). */
const struct histogram *api_latency(const Api *api, enum api_request_kind kind);

/* ---- tests: an API in memory ------------------------------------------------- */

/* What the API in memory answers to one request. */
struct api_stub_answer {
        long http_status;               /* 0: no HTTP answer (as if the API could not be reached) */
        char *body;                     /* malloc'd or NULL; taken (wiped and freed) */
        uint64_t retry_after_sec;       /* a Retry-After header, 0 none */
        bool never;                     /* no answer at all: the request waits until cancelled */
};

/*
 * Tests: answer every request from memory instead of over HTTP, so a test
 * can drive the whole login flow without a network.  When a request
 * starts, stub(kind, email (sign-ins and refreshes), secret (the password, or the
 * refresh token; NULL for a probe), ret, userdata) fills *ret (zeroed
 * before) and returns 0, or returns a negative errno and the request does
 * not start (the caller gets that errno, as when libcurl refuses).  The
 * answer then comes from a deferred event on the loop and is judged
 * exactly as one over HTTP (api_parse_signin_response() and the rest); the
 * callback never runs inside api_signin() and friends.  NULL goes back to
 * HTTP for the requests started afterwards.  The daemon never calls it.
 */
typedef int (*api_stub_fn)(enum api_request_kind kind, const char *email, const char *secret,
                           struct api_stub_answer *ret, void *userdata);
void api_set_stub(Api *api, api_stub_fn stub, void *userdata);
