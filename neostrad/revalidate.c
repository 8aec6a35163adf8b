/* SPDX-License-Identifier: MIT */
/* Background re-validation through token refreshes; see revalidate.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "access.h"
#include "ids.h"
#include "log-ids.h"
#include "log.h"
#include "neostra/secure.h"
#include "revalidate.h"

struct RevalidateWait {
        struct refresh *refresh;
        void (*done)(void *userdata);
        void *userdata;
        RevalidateWait *next;
};

/* One refresh in flight. */
struct refresh {
        Revalidator *rv;
        char *user;
        uint64_t generation;            /* the user's online successes when it started */
        ApiRequest *request;
        RevalidateWait *waiters;
        bool background;                /* counts against REVALIDATE_IN_FLIGHT_MAX */
        struct refresh *prev, *next;
};

struct Revalidator {
        sd_event *event;
        struct neostra_config *const *config;
        struct user_table *users;
        WriteBack *writeback;
        Api *api;
        Online *online;
        sd_event_source *timer;
        struct refresh *flights;
        unsigned n_flights, n_background;
        char **queue;                   /* names of the users due, oldest first */
        size_t n_queue, queue_at;
        bool backlog;                   /* more were due than the queue took */
        uint64_t key;                   /* of the jitter */
        struct revalidate_stats stats;
};

/* Read on the loop's thread only; a test sets it before the daemon starts. */
static struct revalidate_env env = {
        .refresh = api_refresh, .cancel = api_request_cancel,
};

void revalidate_test_env(const struct revalidate_env *e) {
        env = (struct revalidate_env) {
                .refresh = e && e->refresh ? e->refresh : api_refresh,
                .cancel = e && e->cancel ? e->cancel : api_request_cancel,
                .scan_max_usec = e ? e->scan_max_usec : 0,
                .jitter_key = e ? e->jitter_key : 0,
        };
}

static const struct neostra_config *cfg(const Revalidator *rv) {
        return *rv->config;
}

static bool enabled(const Revalidator *rv) {
        return cfg(rv)->refresh_path && cfg(rv)->api_url;
}

static uint64_t scan_max_usec(void) {
        return env.scan_max_usec ? env.scan_max_usec : REVALIDATE_SCAN_MAX_USEC;
}

int revalidate_new(const struct revalidate_deps *deps, Revalidator **ret) {
        Revalidator *rv = calloc(1, sizeof(*rv));

        if (!rv)
                return -ENOMEM;
        *rv = (Revalidator) {
                .event = deps->event, .config = deps->config, .users = deps->users,
                .writeback = deps->writeback, .api = deps->api, .online = deps->online,
                .key = env.jitter_key,
        };
        /* The jitter spreads the users of one host; it need not be secret,
         * only not the same on every host. */
        if (!rv->key && getrandom(&rv->key, sizeof(rv->key), GRND_NONBLOCK) != sizeof(rv->key))
                rv->key = (uint64_t) (uintptr_t) rv ^ (uint64_t) access_now();
        *ret = rv;
        return 0;
}

static void queue_clear(Revalidator *rv) {
        for (size_t i = rv->queue_at; i < rv->n_queue; i++)
                free(rv->queue[i]);
        rv->n_queue = rv->queue_at = 0;
        rv->backlog = false;
}

static void refresh_free(struct refresh *f) {
        Revalidator *rv = f->rv;

        if (f->prev)
                f->prev->next = f->next;
        else
                rv->flights = f->next;
        if (f->next)
                f->next->prev = f->prev;
        rv->n_flights--;
        if (f->background)
                rv->n_background--;
        while (f->waiters) {
                RevalidateWait *w = f->waiters;

                f->waiters = w->next;
                free(w);
        }
        free(f->user);
        free(f);
}

Revalidator *revalidate_free(Revalidator *rv) {
        if (!rv)
                return NULL;
        while (rv->flights) {
                env.cancel(rv->flights->request);
                rv->flights->request = NULL;
                refresh_free(rv->flights);
        }
        queue_clear(rv);
        free(rv->queue);
        sd_event_source_disable_unref(rv->timer);
        free(rv);
        return NULL;
}

void revalidate_stats(const Revalidator *rv, struct revalidate_stats *ret) {
        *ret = rv->stats;
        ret->in_flight = rv->n_flights;
}

static struct refresh *find_flight(const Revalidator *rv, const char *user) {
        for (struct refresh *f = rv->flights; f; f = f->next)
                if (strcmp(f->user, user) == 0)
                        return f;
        return NULL;
}

/* ---- when a user is due ------------------------------------------------------- */

static bool candidate(const Revalidator *rv, const struct user_record *u, int64_t now) {
        return u->has_refresh_token && u->email && *u->email && access_valid(cfg(rv), u, now);
}

/* splitmix64's finaliser over the name's hash and the key. */
static uint64_t jitter_hash(const Revalidator *rv, const char *name) {
        uint64_t z = ids_hash(name) ^ rv->key;

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

/* Unix seconds at which u is due for a refresh (revalidate.h, "When"). */
static int64_t due_time(const Revalidator *rv, const struct user_record *u) {
        int64_t proof = u->last_online_proof;
        int64_t deadline = u->token_expires > 0 ? u->token_expires : proof + REVALIDATE_UNKNOWN_LIFE_SEC;
        int64_t bound = proof + (int64_t) (cfg(rv)->account_max_age_ms / 1000u);
        int64_t margin, due;

        if (bound < deadline)
                deadline = bound;
        margin = deadline > proof ? (deadline - proof) / 4 : 0;
        if (margin > REVALIDATE_MARGIN_MAX_SEC)
                margin = REVALIDATE_MARGIN_MAX_SEC;
        due = deadline - margin;
        if (margin >= 2)
                due += (int64_t) (jitter_hash(rv, u->name) % (uint64_t) (margin / 2 + 1));
        if (u->live && u->live->refresh_tried > 0 && due < u->live->refresh_tried + REVALIDATE_RETRY_SEC)
                due = u->live->refresh_tried + REVALIDATE_RETRY_SEC;
        return due;
}

/* ---- the answer ------------------------------------------------------------------ */

static void apply(Revalidator *rv, struct refresh *f, struct api_signin_result *res) {
        struct user_record *u = user_table_get(rv->users, f->user);
        int64_t now = access_now();
        struct user_secrets s;

        if (!u || !u->live || u->live->successes != f->generation || u->access_end != ACCESS_END_NONE) {
                /* A sign-in overtook it (its tokens are newer), the user was
                 * cleared, or its access ended meanwhile: nothing to learn. */
                log_msg(LOG_DEBUG, "token refresh for %s: answer dropped, the user changed meanwhile", f->user);
                return;
        }
        switch (res->outcome) {
        case API_ALLOW:
                s = (struct user_secrets) { .mask = SECRET_TOKEN, .token = res->token };
                res->token = NULL;
                if (res->refresh_token) {
                        s.mask |= SECRET_REFRESH_TOKEN;
                        s.refresh_token = res->refresh_token;
                        res->refresh_token = NULL;
                }
                u->token_expires = res->expires_in >= 0 ? now + res->expires_in : 0;
                rv->stats.refreshes++;
                if (res->has_user && user_record_refresh_proof(u, res, now) == 0) {
                        rv->stats.proofs++;
                        log_msg(LOG_INFO, "token refresh for %s: the API confirmed the user and its roles",
                                f->user);
                } else
                        log_msg(LOG_INFO, "token refresh for %s: %s", f->user, res->reason);
                writeback_save(rv->writeback, u, &s);
                break;
        case API_DENY:
                user_table_end_access(rv->users, u, ACCESS_END_REVOKED);
                /* Dropped secrets are written (and checkpointed) at once. */
                writeback_save(rv->writeback, u, &(struct user_secrets) { .mask = SECRET_ALL });
                rv->stats.revoked++;
                log_event(LOG_NOTICE, MESSAGE_ID_ACCESS_REVOKED, f->user, "access of %s ended: the API refused "
                          "to refresh its token (HTTP %ld); its account step is refused and its role groups "
                          "unpublished until it signs in with its password", f->user, res->http_status);
                break;
        default:
                rv->stats.failed++;
                log_msg(LOG_INFO, "token refresh for %s: %s", f->user, res->reason);
                break;
        }
}

static void start_more(Revalidator *rv);
static void arm(Revalidator *rv, uint64_t usec);

static void on_refresh_done(struct api_signin_result *res, void *userdata) {
        struct refresh *f = userdata;
        Revalidator *rv = f->rv;

        f->request = NULL;
        online_note(rv->online, res, f->user);
        apply(rv, f, res);
        /* The waiters answer from what apply() left. */
        while (f->waiters) {
                RevalidateWait *w = f->waiters;

                f->waiters = w->next;
                w->done(w->userdata);
                free(w);
        }
        refresh_free(f);
        start_more(rv);
}

/* Start a refresh of u.  0 and *ret, or a negative errno. */
static int start(Revalidator *rv, struct user_record *u, bool background, struct refresh **ret) {
        __attribute__((cleanup(secure_free_stringp))) char *refresh_token = NULL;
        struct user_live *live = user_record_live(u);
        struct refresh *f;
        int r;

        if (!live)
                return -ENOMEM;
        live->refresh_tried = access_now();
        r = writeback_read_secret(rv->writeback, u, SECRET_REFRESH_TOKEN, &refresh_token);
        if (r < 0)
                return r;
        if (!refresh_token)
                return -ENOENT;
        f = calloc(1, sizeof(*f));
        if (!f || !(f->user = strdup(u->name))) {
                free(f);
                return -ENOMEM;
        }
        *f = (struct refresh) { .rv = rv, .user = f->user, .generation = live->successes,
                                .background = background };
        /* api_refresh() copies the refresh token into the request body,
         * which is wiped when libcurl is done. */
        r = env.refresh(rv->api, cfg(rv), u->email, refresh_token, on_refresh_done, f, &f->request);
        if (r < 0) {
                free(f->user);
                free(f);
                return r;
        }
        f->next = rv->flights;
        if (f->next)
                f->next->prev = f;
        rv->flights = f;
        rv->n_flights++;
        if (background)
                rv->n_background++;
        if (ret)
                *ret = f;
        return 0;
}

/* ---- the timer and the queue ---------------------------------------------------- */

static void start_more(Revalidator *rv) {
        int64_t now = access_now();

        while (rv->n_background < REVALIDATE_IN_FLIGHT_MAX && rv->queue_at < rv->n_queue &&
               online_usable(rv->online)) {
                char *name = rv->queue[rv->queue_at++];
                struct user_record *u = user_table_get(rv->users, name);
                int r;

                /* Still due: a sign-in or a GetToken may have come first. */
                if (u && candidate(rv, u, now) && !find_flight(rv, name) && due_time(rv, u) <= now) {
                        r = start(rv, u, true, NULL);
                        if (r < 0)
                                log_msg(LOG_WARNING, "cannot start a token refresh for %s: %s", name, strerror(-r));
                }
                free(name);
        }
        if (rv->queue_at >= rv->n_queue) {
                rv->n_queue = rv->queue_at = 0;
                /* More were due than the queue took: look again now. */
                if (rv->backlog) {
                        rv->backlog = false;
                        arm(rv, 0);
                }
        }
}

struct scan {
        Revalidator *rv;
        int64_t now, next;
};

static void scan_user(struct user_record *u, void *userdata) {
        struct scan *s = userdata;
        Revalidator *rv = s->rv;
        int64_t due;
        char *name, **q;

        if (!candidate(rv, u, s->now) || find_flight(rv, u->name))
                return;
        due = due_time(rv, u);
        if (due > s->now) {
                if (due < s->next)
                        s->next = due;
                return;
        }
        if (rv->n_queue >= REVALIDATE_QUEUE_MAX) {
                rv->backlog = true;
                return;
        }
        q = rv->queue ? rv->queue : calloc(REVALIDATE_QUEUE_MAX, sizeof(*q));
        name = q ? strdup(u->name) : NULL;
        rv->queue = q;
        if (!name) {
                rv->backlog = true;
                return;
        }
        q[rv->n_queue++] = name;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Revalidator *rv = userdata;
        struct scan s = { .rv = rv, .now = access_now(), .next = INT64_MAX };
        uint64_t sleep = scan_max_usec();
        int on = SD_EVENT_OFF;

        if (!enabled(rv))
                return 0;
        /* Never while the API is known to be away: online.c probes it. */
        if (online_usable(rv->online)) {
                queue_clear(rv);
                user_table_foreach(rv->users, scan_user, &s);
                start_more(rv);
                if (s.next != INT64_MAX && (uint64_t) (s.next - s.now) < sleep / 1000000u)
                        sleep = (uint64_t) (s.next - s.now) * 1000000u;
        }
        /* A queue still waiting for slots is served as refreshes finish;
         * start_more() armed the timer again already if it ran dry with
         * more due. */
        if (sd_event_source_get_enabled(source, &on) < 0 || on == SD_EVENT_OFF)
                arm(rv, sleep);
        return 0;
}

static void arm(Revalidator *rv, uint64_t usec) {
        uint64_t accuracy = usec >= 10000000u ? 1000000u : 1000u;
        int r;

        if (!rv->timer)
                r = sd_event_add_time_relative(rv->event, &rv->timer, CLOCK_MONOTONIC, usec, accuracy,
                                               on_timer, rv);
        else {
                r = sd_event_source_set_time_relative(rv->timer, usec);
                if (r >= 0)
                        r = sd_event_source_set_time_accuracy(rv->timer, accuracy);
                if (r >= 0)
                        r = sd_event_source_set_enabled(rv->timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_msg(LOG_ERR, "cannot arm the token refresh timer: %s", strerror(-r));
}

void revalidate_configure(Revalidator *rv) {
        if (enabled(rv)) {
                arm(rv, 0);
                return;
        }
        queue_clear(rv);
        if (rv->timer)
                (void) sd_event_source_set_enabled(rv->timer, SD_EVENT_OFF);
}

/* ---- GetToken -------------------------------------------------------------------- */

int revalidate_refresh(Revalidator *rv, const char *user, void (*done)(void *userdata), void *userdata,
                       RevalidateWait **ret) {
        struct refresh *f = find_flight(rv, user);
        RevalidateWait *w;
        int r;

        if (!enabled(rv))
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        if (!f) {
                struct user_record *u = user_table_get(rv->users, user);

                r = !u ? -ENOENT : !u->has_refresh_token ? -ENOENT : start(rv, u, false, &f);
                if (r < 0) {
                        free(w);
                        return r;
                }
        }
        *w = (RevalidateWait) { .refresh = f, .done = done, .userdata = userdata, .next = f->waiters };
        f->waiters = w;
        *ret = w;
        return 0;
}

void revalidate_wait_cancel(RevalidateWait *w) {
        if (!w)
                return;
        for (RevalidateWait **p = &w->refresh->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        free(w);
}
