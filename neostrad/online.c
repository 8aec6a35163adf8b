/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "online.h"

const char *online_state_name(enum api_state s) {
        switch (s) {
        case API_STATE_UNKNOWN: return "unknown";
        case API_STATE_ONLINE: return "online";
        case API_STATE_OFFLINE: return "offline";
        case API_STATE_UNCONFIGURED: return "unconfigured";
        }
        return "invalid";
}

bool online_usable(const Manager *m) {
        return m->api_state != API_STATE_OFFLINE && m->api_state != API_STATE_UNCONFIGURED;
}

static void set_state(Manager *m, enum api_state s) {
        if (m->api_state == s)
                return;
        m->api_state = s;
        m->api_state_since = now_wall();
        log_msg(s == API_STATE_OFFLINE ? LOG_WARNING : LOG_NOTICE, "API is %s", online_state_name(s));
}

/* What makes logins wait: no HTTP answer at all (refused, unresolvable,
 * timed out, TLS failure), or the API itself asking for a pause with
 * Retry-After.  A quick 5xx does not make anyone wait, so it does not
 * count here (login.c still treats it as "unavailable"). */
static bool transport_failure(const struct api_signin_result *res) {
        return res->http_status == 0 ||
               ((res->http_status == 429 || res->http_status == 503) && res->retry_after_sec > 0);
}

/* ±20% so a fleet of hosts does not probe in step. */
static uint64_t jitter(uint64_t usec) {
        uint32_t r = 0;

        (void) !getrandom(&r, sizeof(r), GRND_NONBLOCK);
        return usec - usec / 5 + (uint64_t) ((double) (usec / 5 * 2) * ((double) r / UINT32_MAX));
}

static void on_probe_done(struct api_signin_result *res, void *userdata);

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r;

        if (m->probe)
                return 0;
        r = api_probe(m->api, m->config, on_probe_done, m, &m->probe);
        if (r < 0)
                log_msg(LOG_ERR, "cannot start an API probe: %s", strerror(-r));
        return 0;
}

static void schedule_probe(Manager *m, uint64_t retry_after_sec) {
        uint64_t delay = jitter(m->backoff_usec);
        int r;

        /* Honour Retry-After, but never sit offline longer than the
         * backoff cap because an API said so. */
        if (retry_after_sec > ONLINE_BACKOFF_MAX_USEC / 1000000u)
                retry_after_sec = ONLINE_BACKOFF_MAX_USEC / 1000000u;
        if (delay < retry_after_sec * 1000000u)
                delay = retry_after_sec * 1000000u;
        {
                /* Rounded up: the probe is never earlier than it says. */
                struct timespec ts;
                uint64_t at;

                clock_gettime(CLOCK_REALTIME, &ts);
                at = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u + delay;
                m->next_probe = (int64_t) ((at + 999999u) / 1000000u);
        }
        if (m->probe_timer)
                r = sd_event_source_set_time_relative(m->probe_timer, delay) < 0 ? -1 :
                    sd_event_source_set_enabled(m->probe_timer, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_time_relative(m->event, &m->probe_timer, CLOCK_MONOTONIC, delay,
                                               10000, on_probe_timer, m);
        if (r < 0)
                log_msg(LOG_ERR, "cannot schedule an API probe");
        log_msg(LOG_INFO, "next API probe in %llu ms", (unsigned long long) (delay / 1000u));
}

/* Back online, whoever noticed: no more probing. */
static void back_online(Manager *m) {
        m->transport_failures = 0;
        m->next_probe = 0;
        api_request_cancel(m->probe);
        m->probe = NULL;
        if (m->probe_timer)
                (void) sd_event_source_set_enabled(m->probe_timer, SD_EVENT_OFF);
        set_state(m, API_STATE_ONLINE);
}

static void on_probe_done(struct api_signin_result *res, void *userdata) {
        Manager *m = userdata;

        m->probe = NULL;
        if (res->outcome == API_ALLOW) {
                back_online(m);
                return;
        }
        m->backoff_usec *= 2;
        if (m->backoff_usec > ONLINE_BACKOFF_MAX_USEC)
                m->backoff_usec = ONLINE_BACKOFF_MAX_USEC;
        log_msg(LOG_INFO, "API probe: %s", res->reason);
        schedule_probe(m, res->retry_after_sec);
}

void online_note(Manager *m, const struct api_signin_result *res) {
        if (m->api_state == API_STATE_UNCONFIGURED)
                return;         /* a sign-in from before a reload took the url away */
        if (!transport_failure(res)) {
                back_online(m);
                return;
        }
        m->transport_failures++;
        /* A Retry-After is the API itself asking for a pause. */
        if (m->api_state == API_STATE_OFFLINE ||
            (m->transport_failures < ONLINE_FAILURES_MAX && res->retry_after_sec == 0))
                return;
        set_state(m, API_STATE_OFFLINE);
        m->backoff_usec = ONLINE_BACKOFF_MIN_USEC;
        schedule_probe(m, res->retry_after_sec);
}

void online_stop(Manager *m) {
        api_request_cancel(m->probe);
        m->probe = NULL;
        m->probe_timer = sd_event_source_disable_unref(m->probe_timer);
}

void online_configure(Manager *m) {
        if (!m->config->api_url) {
                online_stop(m);
                set_state(m, API_STATE_UNCONFIGURED);
                log_msg(LOG_WARNING, "[api] url is not set in %s: every login is answered "
                        "\"unavailable\" and goes on to the next PAM module", m->config_path);
        } else if (m->api_state == API_STATE_UNCONFIGURED)
                set_state(m, API_STATE_UNKNOWN);
}
