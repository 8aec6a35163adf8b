/* SPDX-License-Identifier: MIT */
/*
 * libcurl multi-socket on sd-event, after the pattern of systemd's
 * curl-util.c: libcurl tells us which sockets to watch and when to wake it,
 * we tell it what happened.  Nothing here ever blocks the loop; a slow API
 * only delays the logins waiting on it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api.h"
#include "api-transport.h"

#define API_IDLE_CONNECTIONS_MAX 256
#include "log.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/text.h"
#include "neostra/varlink.h"

#define USER_AGENT "neostrad/" NEOSTRA_VERSION

struct Api {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *kick;          /* "act now" (timeout 0) without a timerfd */
        unsigned pending;
        api_stub_fn stub;               /* api_set_stub(), tests only */
        void *stub_userdata;
        struct histogram latency[_API_REQUEST_KIND_MAX];        /* of every answer, by kind */
};

struct ApiRequest {
        Api *api;
        CURL *easy;
        struct curl_slist *headers;
        struct vbuf body;             /* the JSON we send: holds the password */
        struct vbuf answer;           /* what comes back: holds the token */
        char *email;
        uint64_t started_usec;
        uint64_t retry_after_sec;
        bool body_too_large;
        enum api_request_kind kind;
        sd_event_source *stub_answer;   /* api_set_stub(): delivers the answer */
        bool stubbed;                   /* counted in pending without an easy handle */
        long stub_status;
        api_signin_callback_t cb;
        void *userdata;
};

const char *api_outcome_to_string(enum api_outcome o) {
        switch (o) {
        case API_ALLOW: return "allow";
        case API_DENY: return "deny";
        case API_USER_UNKNOWN: return "unknown";
        case API_UNAVAILABLE: return "unavailable";
        }
        return "invalid";
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void free_strv(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void api_signin_result_clear(struct api_signin_result *r) {
        secure_free_string(r->token);
        secure_free_string(r->refresh_token);
        free(r->user_id);
        free(r->name);
        free(r->email);
        free_strv(r->roles, r->n_roles);
        *r = (struct api_signin_result) { .expires_in = -1 };
}

/* ---- validation ----------------------------------------------------------- */

static bool clean_string(const json_t *v, size_t max) {
        const char *s;
        size_t len;

        if (!json_is_string(v))
                return false;
        s = json_string_value(v);
        len = json_string_length(v);
        /* The whole length, not strlen(): an embedded NUL (\u0000) fails. */
        return len > 0 && len <= max && neostra_text_valid(s, len, 0);
}

static void set_outcome(struct api_signin_result *ret, enum api_outcome o, const char *reason) {
        ret->outcome = o;
        ret->reason = reason;
}

/*
 * data.user as a sign-in answer carries it: an object whose email is the
 * one we asked for (case-insensitively) with an array of roles, each a
 * clean string; id and name optional, well-typed when present.  NULL when
 * it is all that, else why not.
 */
static const char *check_user(const json_t *user, const char *expected_email) {
        const json_t *v, *roles, *role;
        size_t i;

        if (!json_is_object(user))
                return "API answer has no data.user object";
        v = json_object_get(user, "email");
        if (!clean_string(v, NEOSTRA_USER_MAX))
                return "API answer has no valid data.user.email";
        if (strcasecmp(json_string_value(v), expected_email) != 0)
                return "API answer is for another account";
        roles = json_object_get(user, "roles");
        if (!json_is_array(roles) || json_array_size(roles) > NEOSTRA_ROLES_MAX)
                return "API answer has no valid data.user.roles";
        json_array_foreach(roles, i, role)
                if (!clean_string(role, NEOSTRA_ROLE_MAX))
                        return "API answer has an invalid role";
        v = json_object_get(user, "id");
        if (v && !json_is_null(v) && !clean_string(v, NEOSTRA_FIELD_MAX))
                return "API answer has an invalid data.user.id";
        v = json_object_get(user, "name");
        if (v && !json_is_null(v) && !json_is_string(v))
                return "API answer has an invalid data.user.name";
        return NULL;
}

/* Copy a user check_user() passed into ret: 0 or -ENOMEM. */
static int copy_user(const json_t *user, const char *expected_email, struct api_signin_result *ret) {
        const json_t *roles = json_object_get(user, "roles"), *role, *v;
        size_t i;

        ret->roles = calloc(json_array_size(roles) + 1, sizeof(char *));
        ret->email = strdup(expected_email);
        if (!ret->roles || !ret->email)
                return -ENOMEM;
        json_array_foreach(roles, i, role) {
                ret->roles[i] = strdup(json_string_value(role));
                if (!ret->roles[i])
                        return -ENOMEM;
                ret->n_roles = i + 1;
        }
        if (json_is_string(v = json_object_get(user, "id")) &&
            !(ret->user_id = strdup(json_string_value(v))))
                return -ENOMEM;
        if (json_is_string(v = json_object_get(user, "name")) &&
            !(ret->name = strndup(json_string_value(v), NEOSTRA_FIELD_MAX)))
                return -ENOMEM;
        ret->has_user = true;
        return 0;
}

/* data.refreshToken and data.expiresIn: absent is fine, present must be
 * well-typed.  NULL, or why not. */
static const char *check_token_extras(const json_t *data) {
        const json_t *v = json_object_get(data, "refreshToken");

        if (v && !json_is_null(v) && !clean_string(v, NEOSTRA_TOKEN_MAX))
                return "API answer has an invalid data.refreshToken";
        v = json_object_get(data, "expiresIn");
        if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
                return "API answer has an invalid data.expiresIn";
        return NULL;
}

/* Copy data.token and the extras check_token_extras() passed: 0 or -ENOMEM. */
static int copy_token(const json_t *data, struct api_signin_result *ret) {
        const json_t *v;

        ret->token = strdup(json_string_value(json_object_get(data, "token")));
        if (!ret->token)
                return -ENOMEM;
        if (json_is_string(v = json_object_get(data, "refreshToken")) &&
            !(ret->refresh_token = strdup(json_string_value(v))))
                return -ENOMEM;
        if (json_is_integer(v = json_object_get(data, "expiresIn")))
                ret->expires_in = json_integer_value(v);
        return 0;
}

/* Out of memory half way through a copy: nothing handed out. */
static void set_oom(struct api_signin_result *ret) {
        long status_code = ret->http_status;

        api_signin_result_clear(ret);
        ret->http_status = status_code;
        set_outcome(ret, API_UNAVAILABLE, "out of memory");
}

/* Only called for HTTP 200: every field the decision rests on must be
 * present and of the documented type, or the answer is not an allow. */
static void parse_success(const char *body, size_t len, const char *expected_email,
                          struct api_signin_result *ret) {
        json_t *root, *status, *data, *user;
        json_error_t error;
        const char *why;

        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
        if (!root || !json_is_object(root)) {
                set_outcome(ret, API_UNAVAILABLE, "API answer is not a JSON object");
                goto done;
        }

        status = json_object_get(root, "status");
        if (!json_is_integer(status)) {
                set_outcome(ret, API_UNAVAILABLE, "API answer has no integer status");
                goto done;
        }
        if (json_integer_value(status) == 401 || json_integer_value(status) == 403) {
                /* HTTP 200 wrapping a refusal: the API said no. */
                set_outcome(ret, API_DENY, "API refused the password (status inside a 200)");
                goto done;
        }
        if (json_integer_value(status) != 200) {
                set_outcome(ret, API_UNAVAILABLE, "API answer status is not 200");
                goto done;
        }

        data = json_object_get(root, "data");
        if (!json_is_object(data)) {
                set_outcome(ret, API_UNAVAILABLE, "API answer has no data object");
                goto done;
        }
        user = json_object_get(data, "user");
        why = check_user(user, expected_email);
        if (!why && !clean_string(json_object_get(data, "token"), NEOSTRA_TOKEN_MAX))
                why = "API answer has no valid data.token";
        if (!why)
                why = check_token_extras(data);
        if (why) {
                set_outcome(ret, API_UNAVAILABLE, why);
                goto done;
        }

        /* Everything checked: copy out. */
        if (copy_user(user, expected_email, ret) < 0 || copy_token(data, ret) < 0) {
                set_oom(ret);
                goto done;
        }
        set_outcome(ret, API_ALLOW, "API accepted the password");
done:
        /* The parsed tree holds the token; scrub it before jansson frees. */
        json_decref_wipe(root);
}

void api_parse_signin_response(long http_status, const char *body, size_t len,
                               const char *expected_email, struct api_signin_result *ret) {
        *ret = (struct api_signin_result) { .expires_in = -1, .http_status = http_status };

        if (http_status == 200) {
                if (!body || len == 0 || len > NEOSTRA_API_BODY_MAX)
                        set_outcome(ret, API_UNAVAILABLE, "API answer body missing or too large");
                else
                        parse_success(body, len, expected_email, ret);
        } else if (http_status == 401 || http_status == 403)
                set_outcome(ret, API_DENY, "API refused the password");
        else if (http_status == 404)
                set_outcome(ret, API_USER_UNKNOWN, "API does not know the account");
        else if (http_status == 408 || http_status == 429)
                set_outcome(ret, API_UNAVAILABLE, "API is busy");
        else if (http_status >= 400 && http_status < 500)
                set_outcome(ret, API_DENY, "API rejected the request");
        else if (http_status >= 500 && http_status < 600)
                set_outcome(ret, API_UNAVAILABLE, "API server error");
        else
                set_outcome(ret, API_UNAVAILABLE, "unexpected HTTP status from API");
}

void api_parse_refresh_response(long http_status, const char *body, size_t len, const char *expected_email,
                                struct api_signin_result *ret) {
        json_t *root = NULL, *data, *user, *v;
        json_error_t error;
        const char *why;

        *ret = (struct api_signin_result) { .expires_in = -1, .http_status = http_status };
        if (http_status == 401 || http_status == 403) {
                set_outcome(ret, API_DENY, "API refused the refresh token");
                return;
        }
        /* Anything else, a 404 included (a refresh_path the API does not
         * have), ends nobody's access. */
        if (http_status != 200 || !body || len == 0 || len > NEOSTRA_API_BODY_MAX) {
                set_outcome(ret, API_UNAVAILABLE, "API did not refresh the token");
                return;
        }
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
        v = json_object_get(root, "status");
        data = json_object_get(root, "data");
        if (!json_is_object(root) || (v && !(json_is_integer(v) && json_integer_value(v) == 200)) ||
            !json_is_object(data) || !clean_string(json_object_get(data, "token"), NEOSTRA_TOKEN_MAX)) {
                set_outcome(ret, API_UNAVAILABLE, "API refresh answer is not valid");
                goto done;
        }
        why = check_token_extras(data);
        /* The refresh endpoint is not documented: an answer of the sign-in
         * answer's shape carries the user, and then it must pass the same
         * checks (an ill-typed user is no answer at all).  Without an
         * email to expect, the user is not read. */
        user = json_object_get(data, "user");
        if (!why && user && !json_is_null(user) && expected_email)
                why = check_user(user, expected_email);
        if (why) {
                set_outcome(ret, API_UNAVAILABLE, why);
                goto done;
        }
        if (copy_token(data, ret) < 0 ||
            (user && !json_is_null(user) && expected_email && copy_user(user, expected_email, ret) < 0)) {
                set_oom(ret);
                goto done;
        }
        set_outcome(ret, API_ALLOW, ret->has_user ? "API refreshed the token and confirmed the user"
                                                  : "API refreshed the token");
done:
        json_decref_wipe(root);
}

/* ---- libcurl on sd-event ------------------------------------------------- */

static void api_process(Api *api);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Api *api = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLPRI))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;

        if (curl_multi_socket_action(api->multi, fd, action, &running) != CURLM_OK)
                log_msg(LOG_ERR, "libcurl failed to process socket events");
        api_process(api);
        /* libcurl just sent a request body with a password in it. */
        secure_burn_stack(SECURE_BURN_STACK_BYTES);
        return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        Api *api = userp;
        sd_event_source *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        sd_event_source_disable_unref(io);
                        curl_multi_assign(api->multi, fd, NULL);
                }
                return 0;
        }

        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (io) {
                r = sd_event_source_set_io_events(io, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(io, SD_EVENT_ON);
        } else {
                r = sd_event_add_io(api->event, &io, fd, events, on_io, api);
                if (r >= 0) {
                        (void) sd_event_source_set_description(io, "curl-io");
                        if (curl_multi_assign(api->multi, fd, io) != CURLM_OK) {
                                sd_event_source_disable_unref(io);
                                r = -ENOMEM;
                        }
                }
        }
        if (r < 0) {
                log_msg(LOG_ERR, "cannot watch an API socket: %s", strerror(-r));
                return -1;
        }
        return 0;
}

static int on_timeout(Api *api) {
        int running;

        if (curl_multi_socket_action(api->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_msg(LOG_ERR, "libcurl failed to process a timeout");
        api_process(api);
        secure_burn_stack(SECURE_BURN_STACK_BYTES);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        return on_timeout(userdata);
}

static int on_kick(sd_event_source *s, void *userdata) {
        return on_timeout(userdata);
}

/* libcurl asks for "act now" (0) several times per request: a defer
 * source does that on the next loop iteration without re-arming the
 * timerfd each time (timerfd_settime was an eighth of the daemon's CPU per
 * login); real timeouts use the timer, 1 ms accurate. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
        Api *api = userp;
        uint64_t when;
        int r;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(api->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        if (timeout_ms == 0)
                return sd_event_source_set_enabled(api->kick, SD_EVENT_ONESHOT) < 0 ? -1 : 0;

        r = sd_event_now(api->event, CLOCK_MONOTONIC, &when);
        if (r < 0)
                return -1;
        when += (uint64_t) timeout_ms * 1000u;
        if (sd_event_source_set_time(api->timer, when) < 0 ||
            sd_event_source_set_enabled(api->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static void request_free(ApiRequest *req) {
        if (!req)
                return;
        if (req->easy) {
                curl_multi_remove_handle(req->api->multi, req->easy);
                curl_easy_cleanup(req->easy);
                req->api->pending--;
        }
        if (req->stubbed)
                req->api->pending--;
        sd_event_source_disable_unref(req->stub_answer);
        curl_slist_free_all(req->headers);
        vbuf_done(&req->body);
        vbuf_done(&req->answer);
        free(req->email);
        free(req);
}

/* status: the HTTP status, also of an answer cut short (too large, say). */
static void finish(ApiRequest *req, CURLcode code, long status) {
        struct api_signin_result res;

        if (code == CURLE_OK && req->kind == API_REQUEST_REFRESH) {
                api_parse_refresh_response(status, req->answer.data, req->answer.len, req->email, &res);
        } else if (code == CURLE_OK && req->kind == API_REQUEST_PROBE) {
                res = (struct api_signin_result) { .expires_in = -1, .http_status = status };
                if (status > 0 && status < 500 && status != 408 && status != 429)
                        set_outcome(&res, API_ALLOW, "API answers");
                else
                        set_outcome(&res, API_UNAVAILABLE, "API answers with an error");
        } else if (code == CURLE_OK) {
                api_parse_signin_response(status, req->answer.data, req->answer.len, req->email, &res);
        } else {
                res = (struct api_signin_result) { .expires_in = -1, .http_status = status };
                set_outcome(&res, API_UNAVAILABLE,
                            code == CURLE_OPERATION_TIMEDOUT ? "API timed out" :
                            code == CURLE_COULDNT_CONNECT ? "cannot connect to the API" :
                            code == CURLE_COULDNT_RESOLVE_HOST ? "cannot resolve the API host" :
                            code == CURLE_PEER_FAILED_VERIFICATION ? "API certificate verification failed" :
                            code == CURLE_SSL_PINNEDPUBKEYNOTMATCH ? "API public key does not match the pin" :
                            code == CURLE_SSL_CONNECT_ERROR ? "TLS handshake with the API failed" :
                            code == CURLE_WRITE_ERROR && req->body_too_large ? "API answer too large" :
                            code == CURLE_GOT_NOTHING ? "API closed the connection without an answer" :
                            "transport error talking to the API");
        }
        res.latency_usec = now_usec() - req->started_usec;
        res.retry_after_sec = req->retry_after_sec;
        histogram_observe(&req->api->latency[req->kind], res.latency_usec);

        /* The password has done its job. */
        vbuf_done(&req->body);

        req->cb(&res, req->userdata);
        api_signin_result_clear(&res);
        request_free(req);
}

static void api_process(Api *api) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(api->multi, &left))) {
                ApiRequest *req = NULL;
                long status = 0;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
                if (req)
                        finish(req, msg->data.result, status);
        }
}

int api_new(sd_event *event, Api **ret) {
        Api *api;
        int r;

        api = calloc(1, sizeof(*api));
        if (!api)
                return -ENOMEM;
        api->event = sd_event_ref(event);
        api->multi = curl_multi_init();
        if (!api->multi) {
                r = -ENOMEM;
                goto fail;
        }
        r = sd_event_add_time(event, &api->timer, CLOCK_MONOTONIC, UINT64_MAX,
                              1000 /* µs: an accuracy of 0 would mean sd-event's default 250 ms */,
                              on_timer, api);
        if (r < 0)
                goto fail;
        r = sd_event_add_defer(event, &api->kick, on_kick, api);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(api->kick, "curl-kick");
        (void) sd_event_source_set_enabled(api->kick, SD_EVENT_OFF);
        (void) sd_event_source_set_description(api->timer, "curl-timer");
        (void) sd_event_source_set_enabled(api->timer, SD_EVENT_OFF);

        if (curl_multi_setopt(api->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
            curl_multi_setopt(api->multi, CURLMOPT_SOCKETDATA, api) != CURLM_OK ||
            curl_multi_setopt(api->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
            curl_multi_setopt(api->multi, CURLMOPT_TIMERDATA, api) != CURLM_OK ||
            /* Reuse connections (HTTP/2 multiplexing where the API offers it). */
            curl_multi_setopt(api->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX) != CURLM_OK ||
            /* Keep as many idle connections as sign-ins can be in flight
             * (one per client connection at most): after a burst of 64
             * concurrent logins over HTTP/1.1, the next burst finds 64
             * open connections instead of opening (and TLS-handshaking)
             * most of them again.  make bench reports new connections
             * per 100 logins. */
            curl_multi_setopt(api->multi, CURLMOPT_MAXCONNECTS, (long) API_IDLE_CONNECTIONS_MAX) != CURLM_OK) {
                r = -EINVAL;
                goto fail;
        }
        *ret = api;
        return 0;

fail:
        api_free(api);
        return r;
}

Api *api_free(Api *api) {
        if (!api)
                return NULL;
        /* Requests are owned by their callers and cancelled by them first. */
        if (api->multi)
                curl_multi_cleanup(api->multi);
        sd_event_source_disable_unref(api->timer);
        sd_event_source_disable_unref(api->kick);
        sd_event_unref(api->event);
        free(api);
        return NULL;
}

unsigned api_pending(const Api *api) {
        return api->pending;
}

#define API_RECV_BUFFER 4096L
#define API_SEND_BUFFER 16384L  /* libcurl's minimum */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        ApiRequest *req = userdata;
        size_t n = size * nmemb;

        if (vbuf_append(&req->answer, ptr, n, NEOSTRA_API_BODY_MAX) < 0) {
                req->body_too_large = true;
                return 0; /* libcurl aborts the transfer */
        }
        return n;
}

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata) {
        ApiRequest *req = userdata;
        size_t n = size * nitems;
        static const char name[] = "retry-after:";

        if (n > sizeof(name) - 1 && n < 64 && strncasecmp(buffer, name, sizeof(name) - 1) == 0) {
                char value[64], *end;
                unsigned long long secs;

                memcpy(value, buffer + sizeof(name) - 1, n - (sizeof(name) - 1));
                value[n - (sizeof(name) - 1)] = 0;
                errno = 0;
                secs = strtoull(value, &end, 10);
                while (*end == ' ' || *end == '\r' || *end == '\n')
                        end++;
                /* Seconds only; an HTTP date is ignored.  Capped at a day. */
                if (errno == 0 && *end == 0 && end != value)
                        req->retry_after_sec = secs > 86400 ? 86400 : secs;
        }
        return n;
}

static int on_stub_answer(sd_event_source *s, void *userdata) {
        ApiRequest *req = userdata;

        finish(req, req->stub_status == 0 ? CURLE_COULDNT_CONNECT :
                    req->body_too_large ? CURLE_WRITE_ERROR : CURLE_OK, req->stub_status);
        return 0;
}

/* api_set_stub(): the answer comes from memory, from the loop. */
static int stub_start(ApiRequest *req, const char *secret, ApiRequest **ret) {
        Api *api = req->api;
        struct api_stub_answer a = {};
        int r;

        r = api->stub(req->kind, req->email, secret, &a, api->stub_userdata);
        if (r >= 0 && a.body && vbuf_append(&req->answer, a.body, strlen(a.body), NEOSTRA_API_BODY_MAX) < 0)
                req->body_too_large = true;
        /* It may hold a token. */
        secure_free_string(a.body);
        if (r >= 0 && !a.never)
                r = sd_event_add_defer(api->event, &req->stub_answer, on_stub_answer, req);
        if (r < 0) {
                request_free(req);
                return r;
        }
        req->stub_status = a.http_status;
        req->retry_after_sec = a.retry_after_sec;
        req->started_usec = now_usec();
        req->stubbed = true;
        api->pending++;
        if (ret)
                *ret = req;
        return 0;
}

const struct histogram *api_latency(const Api *api, enum api_request_kind kind) {
        return &api->latency[kind];
}

void api_set_stub(Api *api, api_stub_fn stub, void *userdata) {
        api->stub = stub;
        api->stub_userdata = userdata;
}

/* A sign-in (POST email and password to signin_path), a probe (a GET of
 * signin_path that only asks whether the API answers) or a token refresh
 * (POST the refresh token to refresh_path).  body is encoded and wiped;
 * email is what a sign-in answer must be about; secret (the password or
 * the refresh token) is for api_set_stub()'s stub only. */
static int request_start(Api *api, const struct neostra_config *config, enum api_request_kind kind,
                         json_t *body, const char *email, const char *secret, api_signin_callback_t cb,
                         void *userdata, ApiRequest **ret) {
        const char *path = kind == API_REQUEST_REFRESH ? config->refresh_path : config->signin_path;
        char url[2048];
        ApiRequest *req;
        bool https;
        int r;

        if (!path || !config->api_url)
                return -EINVAL;
        if ((size_t) snprintf(url, sizeof(url), "%s%s", config->api_url, path) >= sizeof(url))
                return -ENAMETOOLONG;
        https = strncasecmp(url, "https://", 8) == 0;

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->api = api;
        req->cb = cb;
        req->userdata = userdata;
        req->kind = kind;
        if (email && !(req->email = strdup(email))) {
                r = -ENOMEM;
                goto fail;
        }
        if (api->stub)
                return stub_start(req, secret, ret);
        if (body) {
                /* The Varlink encoder writes compact JSON into a wiped
                 * buffer; its trailing NUL is not sent. */
                r = varlink_encode(body, &req->body);
                if (r < 0)
                        goto fail;
        }

        req->headers = curl_slist_append(NULL, "Content-Type: application/json");
        if (req->headers)
                req->headers = curl_slist_append(req->headers, "Accept: application/json");
        /* No "Expect: 100-continue" round trip. */
        if (req->headers)
                req->headers = curl_slist_append(req->headers, "Expect:");
        if (!req->headers) {
                r = -ENOMEM;
                goto fail;
        }

        req->easy = curl_easy_init();
        if (!req->easy) {
                r = -ENOMEM;
                goto fail;
        }
        api->pending++;

#define SET(opt, val) do { if (curl_easy_setopt(req->easy, opt, val) != CURLE_OK) { r = -EINVAL; goto fail; } } while (0)
        SET(CURLOPT_URL, url);
        SET(CURLOPT_PRIVATE, req);
        SET(CURLOPT_NOSIGNAL, 1L);
        if (req->kind != API_REQUEST_PROBE) {
                SET(CURLOPT_POST, 1L);
                /* libcurl sends from our buffer; COPYPOSTFIELDS would leave
                 * an unwiped copy of the password inside libcurl. */
                SET(CURLOPT_POSTFIELDS, req->body.data);
                SET(CURLOPT_POSTFIELDSIZE, (long) (req->body.len - 1));
        }
        SET(CURLOPT_HTTPHEADER, req->headers);
        SET(CURLOPT_USERAGENT, USER_AGENT);
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, req);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, req);
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long) config->connect_timeout_ms);
        SET(CURLOPT_TIMEOUT_MS, (long) config->timeout_ms);
        if (api_transport_setopt(req->easy, config, https) != CURLE_OK) {
                r = -EINVAL;
                goto fail;
        }
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_TCP_NODELAY, 1L);
        SET(CURLOPT_MAXFILESIZE, (long) NEOSTRA_API_BODY_MAX);
        /* Every request allocates libcurl's buffers, and the wiping
         * allocator (alloc.c) clears each when it is freed: answers are a
         * few hundred bytes and a sign-in under 2 KiB, so a 4 KiB receive
         * buffer instead of 16 KiB, and the smallest send buffer libcurl
         * takes (16 KiB) instead of the 64 KiB it allocates for every
         * request over TLS: 41 instead of 88 KiB allocated and wiped per
         * HTTPS sign-in. */
        SET(CURLOPT_BUFFERSIZE, API_RECV_BUFFER);
        SET(CURLOPT_UPLOAD_BUFFERSIZE, API_SEND_BUFFER);
#undef SET

        req->started_usec = now_usec();
        if (curl_multi_add_handle(api->multi, req->easy) != CURLM_OK) {
                r = -ENOMEM;
                goto fail;
        }
        if (ret)
                *ret = req;
        return 0;

fail:
        request_free(req);
        return r;
}

int api_signin(Api *api, const struct neostra_config *config, const char *email,
               const char *password, api_signin_callback_t cb, void *userdata,
               ApiRequest **ret) {
        json_t *body;
        int r;

        if (!email || !password)
                return -EINVAL;
        body = json_pack("{s:s, s:s}", "email", email, "password", password);
        if (!body)
                return -ENOMEM;
        r = request_start(api, config, API_REQUEST_SIGNIN, body, email, password, cb, userdata, ret);
        json_decref_wipe(body);
        return r;
}

int api_probe(Api *api, const struct neostra_config *config, api_signin_callback_t cb,
              void *userdata, ApiRequest **ret) {
        return request_start(api, config, API_REQUEST_PROBE, NULL, NULL, NULL, cb, userdata, ret);
}

int api_refresh(Api *api, const struct neostra_config *config, const char *email, const char *refresh_token,
                api_signin_callback_t cb, void *userdata, ApiRequest **ret) {
        json_t *body;
        int r;

        body = json_pack("{s:s}", "refreshToken", refresh_token);
        if (!body)
                return -ENOMEM;
        r = request_start(api, config, API_REQUEST_REFRESH, body, email, refresh_token, cb, userdata, ret);
        json_decref_wipe(body);
        return r;
}

void api_request_cancel(ApiRequest *req) {
        request_free(req);
}
