/* SPDX-License-Identifier: MIT */
/* Calls parked on NSS answers; see nss-park.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "nss-park.h"

/* A call mark of its own: the stage's answers did not come in time. */
#define NAMES_FAILED 0x100u

struct NamesPark {
        sd_event *event;
        LocalNames *names;
        uint64_t stale_calls;
        uint64_t stale_logged_usec;     /* CLOCK_MONOTONIC of the last warning, 0 never */
};

struct parked {
        NamesPark *park;
        VarlinkConn *conn;              /* held */
        LocalNamesWait *wait;
        sd_event_source *timer;
        struct localnames_key *keys;    /* own copy: one block, the names behind the keys */
        size_t n_keys;
        unsigned stage;
        uint64_t since_usec;
};

int names_park_new(sd_event *event, LocalNames *names, NamesPark **ret) {
        NamesPark *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->event = event;
        p->names = names;
        *ret = p;
        return 0;
}

NamesPark *names_park_free(NamesPark *p) {
        free(p);
        return NULL;
}

uint64_t names_park_stale_calls(const NamesPark *p) {
        return p->stale_calls;
}

static struct localnames_key *keys_copy(const struct localnames_key *keys, size_t n) {
        size_t size = n * sizeof(*keys);
        struct localnames_key *copy;
        char *s;

        for (size_t i = 0; i < n; i++)
                if (keys[i].name)
                        size += strlen(keys[i].name) + 1;
        copy = malloc(size ? size : 1);
        if (!copy)
                return NULL;
        s = (char *) (copy + n);
        for (size_t i = 0; i < n; i++) {
                copy[i] = keys[i];
                if (keys[i].name) {
                        copy[i].name = strcpy(s, keys[i].name);
                        s += strlen(s) + 1;
                }
        }
        return copy;
}

static void parked_free(struct parked *w) {
        localnames_wait_cancel(w->wait);
        sd_event_source_disable_unref(w->timer);
        varlink_conn_unref(w->conn);
        free(w->keys);
        free(w);
}

/* Run the call again with marks added: its answers are in, or it fails. */
static void resume(struct parked *w, unsigned marks) {
        *varlink_conn_call_marks(w->conn) |= marks;
        varlink_conn_redispatch(w->conn);
        parked_free(w);
}

static void on_ready(void *userdata) {
        struct parked *w = userdata;

        w->wait = NULL;         /* freed by localnames */
        resume(w, w->stage);
}

/* The connection went away first. */
static void on_cancel(void *userdata) {
        parked_free(userdata);
}

static uint64_t now_usec(sd_event *event) {
        uint64_t now = 0;

        (void) sd_event_now(event, CLOCK_MONOTONIC, &now);
        return now;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct parked *w = userdata;
        NamesPark *p = w->park;
        uint64_t now = now_usec(p->event);

        if (w->keys && localnames_usable(p->names, w->keys, w->n_keys)) {
                p->stale_calls++;
                /* Once a minute at most: an outage would log every login. */
                if (p->stale_logged_usec == 0 || now - p->stale_logged_usec >= 60u * 1000000u) {
                        log_msg(LOG_WARNING, "local account lookups (NSS) are slow; going on with the "
                                "answers they gave before (%llu call(s) so far)",
                                (unsigned long long) p->stale_calls);
                        p->stale_logged_usec = now;
                }
                resume(w, w->stage);
                return 0;
        }
        if (now - w->since_usec + 1000u < NAMES_PARK_WAIT_USEC) {
                (void) sd_event_source_set_time(s, w->since_usec + NAMES_PARK_WAIT_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        /* The lookups go on and are kept for the next call; this one fails
         * closed. */
        log_msg(LOG_WARNING, "local account lookups (NSS) did not answer within %u s; failing a call "
                "from uid %u", (unsigned) (NAMES_PARK_WAIT_USEC / 1000000u), (unsigned) varlink_conn_uid(w->conn));
        resume(w, w->stage | NAMES_FAILED);
        return 0;
}

int names_park_need(NamesPark *p, VarlinkConn *c, unsigned stage, const struct localnames_key *keys, size_t n) {
        unsigned *marks = varlink_conn_call_marks(c);
        struct parked *w;
        uint64_t first;
        int r;

        if (*marks & NAMES_FAILED)
                return -ETIMEDOUT;
        if ((*marks & stage) || n == 0)
                return 1;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        r = localnames_prefetch(p->names, keys, n, on_ready, w, &w->wait);
        if (r != 0) {
                free(w);
                return r;       /* 1: fresh answers; <0 */
        }
        *w = (struct parked) { .park = p, .wait = w->wait, .stage = stage, .since_usec = now_usec(p->event),
                               .keys = keys_copy(keys, n) };
        w->n_keys = w->keys ? n : 0;
        /* With answers kept from before, a slow source holds the call only
         * briefly (localnames.h). */
        first = w->keys && localnames_usable(p->names, keys, n) ? LOCALNAMES_STALE_AFTER_USEC
                                                                 : NAMES_PARK_WAIT_USEC;
        r = sd_event_add_time(p->event, &w->timer, CLOCK_MONOTONIC, w->since_usec + first, 0, on_timer, w);
        if (r < 0) {
                localnames_wait_cancel(w->wait);
                free(w->keys);
                free(w);
                return r;
        }
        /* The connection's own deadline is a backstop behind ours. */
        w->conn = varlink_conn_hold(c, NAMES_PARK_WAIT_USEC + 1000000u, on_cancel, w);
        return 0;
}
