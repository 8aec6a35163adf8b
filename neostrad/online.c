/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log-ids.h"
#include "log.h"
#include "online.h"

struct Online {
        sd_event *event;                /* borrowed */
        Api *api;                       /* borrowed */
        const struct neostra_config *config;    /* borrowed, see online_configure() */
        struct online_env env;

        enum api_state state;
        uint64_t since;
        unsigned transport_failures;    /* in a row */
        uint64_t backoff_usec;
        uint64_t next_probe;            /* 0: none scheduled */
        sd_event_source *probe_timer;
        ApiRequest *probe;
        ApiRequest *asked;              /* online_probe_now()'s, in flight */
        OnlineProbeWait *waiters;       /* for it */

        struct {
                char *user;             /* NULL: a free slot */
                uint64_t until;
        } held[ONLINE_HELD_USERS_MAX];
        char *busy[ONLINE_BUSY_USERS];  /* the different users of the 429s in a row so far */
        unsigned n_busy;
        uint64_t busy_retry_after_sec;  /* the longest Retry-After among them */
};

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static uint32_t random_u32(void) {
        uint32_t r = 0;

        /* A jitter that falls back to the low bound is still a valid delay. */
        (void) !getrandom(&r, sizeof(r), GRND_NONBLOCK);
        return r;
}

int online_new(sd_event *event, Api *api, const struct online_env *env, Online **ret) {
        Online *o = calloc(1, sizeof(*o));

        if (!o)
                return -ENOMEM;
        o->event = event;
        o->api = api;
        if (env)
                o->env = *env;
        if (!o->env.probe)
                o->env.probe = api_probe;
        if (!o->env.cancel)
                o->env.cancel = api_request_cancel;
        if (!o->env.now)
                o->env.now = realtime_usec;
        if (!o->env.random)
                o->env.random = random_u32;
        o->state = API_STATE_UNKNOWN;
        o->since = o->env.now();
        *ret = o;
        return 0;
}

static void stop_probing(Online *o) {
        o->env.cancel(o->probe);
        o->probe = NULL;
        o->next_probe = 0;
        if (o->probe_timer)
                (void) sd_event_source_set_enabled(o->probe_timer, SD_EVENT_OFF);
}

static void busy_clear(Online *o) {
        for (unsigned i = 0; i < o->n_busy; i++) {
                free(o->busy[i]);
                o->busy[i] = NULL;
        }
        o->n_busy = 0;
        o->busy_retry_after_sec = 0;
}

struct OnlineProbeWait {
        Online *o;
        online_probe_callback_t cb;
        void *userdata;
        OnlineProbeWait *next;
};

Online *online_free(Online *o) {
        if (!o)
                return NULL;
        stop_probing(o);
        o->env.cancel(o->asked);
        /* Their owners are gone before us (the manager frees the servers
         * first): nobody is told. */
        while (o->waiters) {
                OnlineProbeWait *w = o->waiters;

                o->waiters = w->next;
                free(w);
        }
        sd_event_source_disable_unref(o->probe_timer);
        busy_clear(o);
        for (unsigned i = 0; i < ONLINE_HELD_USERS_MAX; i++)
                free(o->held[i].user);
        free(o);
        return NULL;
}

const char *online_state_name(enum api_state s) {
        switch (s) {
        case API_STATE_UNKNOWN: return "unknown";
        case API_STATE_ONLINE: return "online";
        case API_STATE_OFFLINE: return "offline";
        case API_STATE_UNCONFIGURED: return "unconfigured";
        }
        return "invalid";
}

enum api_state online_state(const Online *o) {
        return o->state;
}

uint64_t online_since(const Online *o) {
        return o->since;
}

uint64_t online_next_probe(const Online *o) {
        return o->next_probe;
}

bool online_usable(const Online *o) {
        return o->state != API_STATE_OFFLINE && o->state != API_STATE_UNCONFIGURED;
}

static void set_state(Online *o, enum api_state s) {
        if (o->state == s)
                return;
        o->state = s;
        o->since = o->env.now();
        log_event(s == API_STATE_OFFLINE ? LOG_WARNING : LOG_NOTICE,
                  s == API_STATE_OFFLINE ? MESSAGE_ID_API_OFFLINE : s == API_STATE_ONLINE ? MESSAGE_ID_API_ONLINE : NULL,
                  NULL, "API is %s", online_state_name(s));
}

/* What makes logins wait: no HTTP answer at all (refused, unresolvable,
 * timed out, TLS failure), or the service as a whole asking for a pause
 * with a 503 and Retry-After.  A quick 5xx does not make anyone wait, so
 * it does not count here (login.c still treats it as "unavailable"); a
 * 429 is about one user (user_busy()). */
static bool transport_failure(const struct api_signin_result *res) {
        return res->http_status == 0 || (res->http_status == 503 && res->retry_after_sec > 0);
}

/* ±20% so a fleet of hosts does not probe in step. */
static uint64_t jitter(Online *o, uint64_t usec) {
        uint32_t r = o->env.random();

        return usec - usec / 5 + (uint64_t) ((double) (usec / 5 * 2) * ((double) r / UINT32_MAX));
}

static void schedule_probe(Online *o, uint64_t retry_after_sec);

static void probe_failed(Online *o, uint64_t retry_after_sec) {
        o->backoff_usec *= 2;
        if (o->backoff_usec > ONLINE_BACKOFF_MAX_USEC)
                o->backoff_usec = ONLINE_BACKOFF_MAX_USEC;
        schedule_probe(o, retry_after_sec);
}

static void on_probe_done(struct api_signin_result *res, void *userdata);

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Online *o = userdata;
        int r;

        if (o->probe)
                return 0;
        r = o->env.probe(o->api, o->config, on_probe_done, o, &o->probe);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot start an API probe: %s", strerror(-r));
                /* Offline, only a probe brings the API back (logins no
                 * longer ask it): try again later, as after a failed one. */
                probe_failed(o, 0);
        }
        return 0;
}

static void schedule_probe(Online *o, uint64_t retry_after_sec) {
        uint64_t delay = jitter(o, o->backoff_usec);
        int r;

        /* Honour Retry-After, but never sit offline longer than the
         * backoff cap because an API said so. */
        if (retry_after_sec > ONLINE_BACKOFF_MAX_USEC / 1000000u)
                retry_after_sec = ONLINE_BACKOFF_MAX_USEC / 1000000u;
        if (delay < retry_after_sec * 1000000u)
                delay = retry_after_sec * 1000000u;
        o->next_probe = o->env.now() + delay;
        if (o->probe_timer)
                r = sd_event_source_set_time_relative(o->probe_timer, delay) < 0 ? -1 :
                    sd_event_source_set_enabled(o->probe_timer, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_time_relative(o->event, &o->probe_timer, CLOCK_MONOTONIC, delay,
                                               10000, on_probe_timer, o);
        if (r < 0)
                log_msg(LOG_ERR, "cannot schedule an API probe");
        log_msg(LOG_INFO, "next API probe in %llu ms", (unsigned long long) (delay / 1000u));
}

/* Back online, whoever noticed: no more probing. */
static void back_online(Online *o) {
        o->transport_failures = 0;
        busy_clear(o);
        stop_probing(o);
        set_state(o, API_STATE_ONLINE);
}

static void go_offline(Online *o, uint64_t retry_after_sec) {
        set_state(o, API_STATE_OFFLINE);
        o->backoff_usec = ONLINE_BACKOFF_MIN_USEC;
        schedule_probe(o, retry_after_sec);
}

/* A hold past the cap (the wall clock went back) is over. */
static bool hold_current(const Online *o, unsigned i, uint64_t now) {
        return o->held[i].user && o->held[i].until > now &&
               o->held[i].until - now <= ONLINE_BACKOFF_MAX_USEC;
}

uint64_t online_user_held(const Online *o, const char *user) {
        uint64_t now = o->env.now();

        for (unsigned i = 0; i < ONLINE_HELD_USERS_MAX; i++)
                if (o->held[i].user && strcmp(o->held[i].user, user) == 0)
                        return hold_current(o, i, now) ? o->held[i].until : 0;
        return 0;
}

static void hold(Online *o, const char *user, uint64_t until) {
        uint64_t now = o->env.now();
        unsigned slot = 0;
        char *copy;

        /* Its own slot, else a free or ended one, else the hold that ends first. */
        for (unsigned i = 0; i < ONLINE_HELD_USERS_MAX; i++) {
                if (o->held[i].user && strcmp(o->held[i].user, user) == 0) {
                        o->held[i].until = until;
                        return;
                }
                if (hold_current(o, slot, now) &&
                    (!hold_current(o, i, now) || o->held[i].until < o->held[slot].until))
                        slot = i;
        }
        copy = strdup(user);
        if (!copy) {
                log_msg(LOG_ERR, "out of memory: %s is not held back after its 429", user);
                return;
        }
        free(o->held[slot].user);
        o->held[slot].user = copy;
        o->held[slot].until = until;
}

/* A 429 for user: hold that user back; the ONLINE_BUSY_USERS-th different
 * user in a row makes the API offline. */
static void user_busy(Online *o, const char *user, uint64_t retry_after_sec) {
        uint64_t sec = retry_after_sec > 0 ? retry_after_sec : ONLINE_HOLD_DEFAULT_SEC;

        if (!user)
                return;
        if (sec > ONLINE_BACKOFF_MAX_USEC / 1000000u)
                sec = ONLINE_BACKOFF_MAX_USEC / 1000000u;
        hold(o, user, o->env.now() + sec * 1000000u);
        log_event(LOG_NOTICE, MESSAGE_ID_API_USER_BUSY, user, "API busy for %s: its logins do not ask it for %llu s",
                  user, (unsigned long long) sec);
        /* An HTTP answer: the transport works. */
        o->transport_failures = 0;
        if (o->state == API_STATE_OFFLINE)
                return;
        if (retry_after_sec > o->busy_retry_after_sec)
                o->busy_retry_after_sec = retry_after_sec;
        for (unsigned i = 0; i < o->n_busy; i++)
                if (strcmp(o->busy[i], user) == 0)
                        return;
        if (o->n_busy + 1 < ONLINE_BUSY_USERS) {
                char *copy = strdup(user);

                if (copy)
                        o->busy[o->n_busy++] = copy;
                return;
        }
        retry_after_sec = o->busy_retry_after_sec;
        busy_clear(o);
        log_msg(LOG_WARNING, "API busy for %u different users in a row", ONLINE_BUSY_USERS);
        go_offline(o, retry_after_sec);
}

static void on_probe_done(struct api_signin_result *res, void *userdata) {
        Online *o = userdata;

        o->probe = NULL;
        if (res->outcome == API_ALLOW) {
                back_online(o);
                return;
        }
        log_msg(LOG_INFO, "API probe: %s", res->reason);
        probe_failed(o, res->retry_after_sec);
}

void online_note(Online *o, const struct api_signin_result *res, const char *user) {
        if (o->state == API_STATE_UNCONFIGURED)
                return;         /* a sign-in from before a reload took the url away */
        if (res->http_status == 429) {
                user_busy(o, user, res->retry_after_sec);
                return;
        }
        if (!transport_failure(res)) {
                back_online(o);
                return;
        }
        o->transport_failures++;
        /* A 503's Retry-After is the service itself asking for a pause. */
        if (o->state == API_STATE_OFFLINE ||
            (o->transport_failures < ONLINE_FAILURES_MAX && res->retry_after_sec == 0))
                return;
        go_offline(o, res->retry_after_sec);
}

/* Every waiter gets res; a waiter added by a callback waits for the next. */
static void answer_waiters(Online *o, const struct online_probe_result *res) {
        OnlineProbeWait *w = o->waiters;

        o->waiters = NULL;
        while (w) {
                OnlineProbeWait *next = w->next;

                w->cb(res, w->userdata);
                free(w);
                w = next;
        }
}

static void on_asked_done(struct api_signin_result *res, void *userdata) {
        Online *o = userdata;
        bool answered = res->outcome == API_ALLOW;

        o->asked = NULL;
        log_msg(LOG_INFO, "API probe asked for: %s (HTTP %ld, %llu ms)", res->reason, res->http_status,
                (unsigned long long) (res->latency_usec / 1000u));
        /* Offline, only a success changes anything: the scheduled probes
         * go on with their backoff. */
        if (answered)
                back_online(o);
        else if (o->state != API_STATE_OFFLINE)
                online_note(o, res, NULL);
        answer_waiters(o, &(struct online_probe_result) {
                .state = o->state, .answered = answered, .http_status = res->http_status,
                .latency_usec = res->latency_usec, .reason = res->reason,
        });
}

int online_probe_now(Online *o, online_probe_callback_t cb, void *userdata, OnlineProbeWait **ret) {
        OnlineProbeWait *w;
        int r;

        if (o->state == API_STATE_UNCONFIGURED || !o->config || !o->config->api_url)
                return -ENOTCONN;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (!o->asked) {
                r = o->env.probe(o->api, o->config, on_asked_done, o, &o->asked);
                if (r < 0) {
                        o->asked = NULL;
                        free(w);
                        return r;
                }
        }
        *w = (OnlineProbeWait) { .o = o, .cb = cb, .userdata = userdata, .next = o->waiters };
        o->waiters = w;
        *ret = w;
        return 0;
}

void online_probe_wait_cancel(OnlineProbeWait *w) {
        OnlineProbeWait **p;

        if (!w)
                return;
        for (p = &w->o->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        /* The probe itself goes on: its answer still counts. */
        free(w);
}

void online_configure(Online *o, const struct neostra_config *c) {
        o->config = c;
        if (!c->api_url) {
                /* Whatever failed before was another url's failure: a url
                 * given again starts from a clean count. */
                o->transport_failures = 0;
                busy_clear(o);
                stop_probing(o);
                o->env.cancel(o->asked);
                o->asked = NULL;
                set_state(o, API_STATE_UNCONFIGURED);
                answer_waiters(o, &(struct online_probe_result) {
                        .state = o->state, .reason = "[api] url removed by a reload",
                });
                log_event(LOG_WARNING, MESSAGE_ID_API_UNCONFIGURED, NULL, "[api] url is not set in %s: every "
                          "login is answered \"unavailable\" and goes on to the next PAM module", c->path);
        } else if (o->state == API_STATE_UNCONFIGURED)
                set_state(o, API_STATE_UNKNOWN);
}

int online_test_probe_in(const Online *o, uint64_t *ret_usec) {
        uint64_t due, now;
        int enabled, r;

        if (!o->probe_timer || sd_event_source_get_enabled(o->probe_timer, &enabled) < 0 ||
            enabled == SD_EVENT_OFF)
                return -ENOENT;
        r = sd_event_source_get_time(o->probe_timer, &due);
        if (r < 0)
                return r;
        r = sd_event_now(o->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        *ret_usec = due > now ? due - now : 0;
        return 0;
}

int online_test_probe_now(Online *o) {
        uint64_t now;
        int enabled, r;

        if (!o->probe_timer || sd_event_source_get_enabled(o->probe_timer, &enabled) < 0 ||
            enabled == SD_EVENT_OFF)
                return -ENOENT;
        r = sd_event_now(o->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        return sd_event_source_set_time(o->probe_timer, now);
}

void online_test_reset(Online *o) {
        stop_probing(o);
        o->transport_failures = 0;
        o->backoff_usec = 0;
        o->state = o->config && o->config->api_url ? API_STATE_UNKNOWN : API_STATE_UNCONFIGURED;
}
