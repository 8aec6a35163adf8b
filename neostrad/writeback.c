/* SPDX-License-Identifier: MIT */
/* The write-back queue to the cache; see writeback.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "neostra/secure.h"
#include "writeback.h"

#define SCRUB_DELAY_USEC (1u * 1000000ull)      /* secrets written stay in SQLite's memory this long */

struct WriteBack {
        sd_event *event;
        Cache *cache;                   /* NULL: running without persistence */
        struct user_table *users;
        sd_event_source *scrub_timer;   /* cache_scrub() after writes with secrets */
        sd_event_source *idle;          /* when the loop has nothing else to do */
        sd_event_source *timer;         /* or this soon at the latest */
        char **queue;                   /* names of the users to write */
        size_t n_queue;
        bool checkpoint_due;            /* a secret held on disk was dropped: checkpoint once written */
        struct writeback_stats stats;
};

int writeback_new(sd_event *event, struct user_table *users, WriteBack **ret) {
        WriteBack *w = calloc(1, sizeof(*w));

        if (!w)
                return -ENOMEM;
        w->event = event;
        w->users = users;
        *ret = w;
        return 0;
}

void writeback_set_cache(WriteBack *w, Cache *cache) {
        w->cache = cache;
}

void writeback_stats(const WriteBack *w, struct writeback_stats *ret) {
        *ret = w->stats;
        ret->queued = w->n_queue;
}

/* Move the fields of from that are in its mask into to (wiping what they
 * replace); from is left empty. */
static void secrets_move(struct user_secrets *to, struct user_secrets *from) {
        char **field[][2] = {
                { &to->token, &from->token },
                { &to->refresh_token, &from->refresh_token },
                { &to->verifier, &from->verifier },
        };
        const unsigned bit[] = { SECRET_TOKEN, SECRET_REFRESH_TOKEN, SECRET_VERIFIER };

        for (size_t i = 0; i < 3; i++)
                if (from->mask & bit[i]) {
                        secure_free_string(*field[i][0]);
                        *field[i][0] = *field[i][1];
                        *field[i][1] = NULL;
                }
        to->mask |= from->mask;
        user_secrets_clear(from);
}

static int on_scrub(sd_event_source *s, uint64_t usec, void *userdata) {
        WriteBack *w = userdata;

        cache_scrub(w->cache);
        return 0;
}

/* cache_scrub() a moment from now: once for all the writes until then,
 * so a busy login path does not pay for it per login. */
static void schedule_scrub(WriteBack *w) {
        int enabled = SD_EVENT_OFF;
        int r;

        if (w->scrub_timer && sd_event_source_get_enabled(w->scrub_timer, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return;
        if (w->scrub_timer)
                r = sd_event_source_set_time_relative(w->scrub_timer, SCRUB_DELAY_USEC) < 0 ? -1 :
                    sd_event_source_set_enabled(w->scrub_timer, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_time_relative(w->event, &w->scrub_timer, CLOCK_MONOTONIC,
                                               SCRUB_DELAY_USEC, 100000, on_scrub, w);
        if (r < 0) {
                /* No timer: scrub now rather than never. */
                log_msg(LOG_DEBUG, "cannot schedule a cache scrub; scrubbing at once");
                cache_scrub(w->cache);
        }
}

/*
 * Keep what a write could not store (or has not stored yet): memory stands
 * for the cache, as the flags say, until a write succeeds (without a cache,
 * for good).  all is consumed.
 */
static void keep_unsaved(struct user_record *u, struct user_secrets *all) {
        if (all->mask == 0) {
                user_secrets_clear(all);
                return;
        }
        if (user_record_live(u)) {
                secrets_move(&u->live->unsaved, all);
                return;
        }
        /* Out of memory as well: a secret that is nowhere is one it has not,
         * so an older one on disk is never used in its place. */
        if (all->token)
                u->has_token = false;
        if (all->refresh_token)
                u->has_refresh_token = false;
        if (all->verifier)
                u->has_verifier = false;
        user_secrets_clear(all);
        log_msg(LOG_ERR, "out of memory: the new secrets of %s are lost", u->name);
}

/* After a write that succeeded: a dropped secret still sits in the page
 * images of the WAL (secure_delete clears only the database's own pages),
 * so the WAL is checkpointed into the database and truncated at once.  A
 * checkpoint held back (busy) is tried again after the next write. */
static void written(WriteBack *w) {
        if (w->checkpoint_due && cache_checkpoint(w->cache) == 0)
                w->checkpoint_due = false;
}

static void log_write_failed(const char *name, int r) {
        log_msg(LOG_ERR, "cannot write %s to the cache (the previous entry stays): %s", name, strerror(-r));
}

/* Write u now, on its own, with the secrets in all (consumed; what waited
 * in u->live too): the way when the queue cannot take u. */
static void save_now(WriteBack *w, struct user_record *u, struct user_secrets *all) {
        struct user_secrets waited = {};
        int r;

        if (u->live) {
                /* all is newer than what waited. */
                secrets_move(&waited, &u->live->unsaved);
                secrets_move(&waited, all);
                all = &waited;
        }
        r = cache_put_secrets(w->cache, u, all);
        w->stats.transactions++;
        if (r < 0) {
                w->stats.failed++;
                log_write_failed(u->name, r);
                keep_unsaved(u, all);
                return;
        }
        w->stats.rows++;
        if (all->mask)
                schedule_scrub(w);
        user_secrets_clear(all);
        written(w);
}

static void save_queue_clear(WriteBack *w) {
        for (size_t i = 0; i < w->n_queue; i++)
                free(w->queue[i]);
        w->n_queue = 0;
        (void) sd_event_source_set_enabled(w->idle, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
}

/*
 * Write every queued user in one transaction: their rows as the records
 * are now, with the secrets kept in memory meanwhile (user_live.unsaved).
 * A user forgotten since (ClearCache) is skipped.  On a failure every one
 * of them keeps its secrets in memory, as after a failed write of one.
 */
void writeback_flush(WriteBack *w) {
        const struct user_record **users = NULL;
        const struct user_secrets **secrets = NULL;
        int *results = NULL;
        size_t n = 0;
        bool any_secret = false;
        int r = 0;

        if (w->n_queue == 0)
                return;
        users = calloc(w->n_queue, sizeof(*users));
        secrets = calloc(w->n_queue, sizeof(*secrets));
        results = calloc(w->n_queue, sizeof(*results));
        if (!users || !secrets || !results) {
                /* One at a time then. */
                for (size_t i = 0; i < w->n_queue; i++) {
                        struct user_record *u = user_table_get(w->users, w->queue[i]);

                        if (u && u->live && u->live->save_queued) {
                                u->live->save_queued = false;
                                save_now(w, u, &(struct user_secrets) {});
                        }
                }
                goto done;
        }
        for (size_t i = 0; i < w->n_queue; i++) {
                struct user_record *u = user_table_get(w->users, w->queue[i]);

                if (!u || !u->live || !u->live->save_queued)
                        continue;
                u->live->save_queued = false;
                users[n] = u;
                secrets[n] = &u->live->unsaved;
                any_secret |= u->live->unsaved.mask != 0;
                n++;
        }
        r = cache_put_batch(w->cache, n, users, secrets, results);
        w->stats.transactions += n > 0;
        if (r < 0 && n == 1)
                log_write_failed(users[0]->name, r);
        else if (r < 0)
                log_msg(LOG_ERR, "cannot write %zu users (%s, ...) to the cache (the previous entries stay): %s",
                        n, users[0]->name, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                struct user_record *u = (struct user_record *) users[i];

                if (r < 0 || results[i] < 0) {
                        w->stats.failed++;
                        if (r == 0)
                                log_write_failed(u->name, results[i]);
                        continue;       /* its secrets stay in memory */
                }
                w->stats.rows++;
                user_secrets_clear(&u->live->unsaved);
        }
        if (any_secret)
                schedule_scrub(w);
        if (r == 0)
                written(w);
done:
        save_queue_clear(w);
        free(users);
        free(secrets);
        free(results);
}

static int on_save(sd_event_source *s, void *userdata) {
        writeback_flush(userdata);
        return 0;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        writeback_flush(userdata);
        return 0;
}

/* Queue u for the next flush; false when it cannot be queued. */
static bool save_queue_add(WriteBack *w, struct user_record *u) {
        char **q, *name;
        int enabled = SD_EVENT_OFF;

        if (!w->idle &&
            (sd_event_add_defer(w->event, &w->idle, on_save, w) < 0 ||
             sd_event_source_set_priority(w->idle, SD_EVENT_PRIORITY_IDLE) < 0 ||
             sd_event_add_time_relative(w->event, &w->timer, CLOCK_MONOTONIC, WRITEBACK_DELAY_MAX_USEC,
                                        10000, on_save_timer, w) < 0)) {
                w->idle = sd_event_source_disable_unref(w->idle);
                w->timer = sd_event_source_disable_unref(w->timer);
                return false;
        }
        if (u->live->save_queued)
                return true;
        q = reallocarray(w->queue, w->n_queue + 1, sizeof(*q));
        if (!q)
                return false;
        w->queue = q;
        name = strdup(u->name);
        if (!name)
                return false;
        q[w->n_queue++] = name;
        if (w->n_queue > w->stats.queued_max)
                w->stats.queued_max = w->n_queue;
        u->live->save_queued = true;
        if (w->n_queue == 1) {
                (void) sd_event_source_set_enabled(w->idle, SD_EVENT_ONESHOT);
                if (sd_event_source_get_enabled(w->timer, &enabled) < 0 || enabled == SD_EVENT_OFF)
                        (void) (sd_event_source_set_time_relative(w->timer, WRITEBACK_DELAY_MAX_USEC) < 0 ||
                                sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT) < 0);
        }
        if (w->n_queue >= WRITEBACK_QUEUE_MAX)
                writeback_flush(w);
        return true;
}

/*
 * Write u to the cache, with the secrets in s (consumed; NULL: none).  The
 * record's flags change at once and the secrets wait in memory
 * (user_live.unsaved, which writeback_read_secret() reads first): the write
 * itself goes out with the others queued when the loop has nothing else
 * to do, at most WRITEBACK_DELAY_MAX_USEC later, so a burst of sign-ins makes
 * one transaction and no answer waits for one.  Calls that show the
 * cache (GetUser, GetStatus, ...) flush first.  A write that drops a
 * secret (a refused password, a verifier the API has outdated) goes out at
 * once: a crash must not bring the old one back.
 */
void writeback_save(WriteBack *w, struct user_record *u, struct user_secrets *s) {
        struct user_secrets all = {};
        bool drops = s && (((s->mask & SECRET_TOKEN) && !s->token) ||
                           ((s->mask & SECRET_REFRESH_TOKEN) && !s->refresh_token) ||
                           ((s->mask & SECRET_VERIFIER) && !s->verifier));

        /* Only a secret the user had can be on the disk (or on its way);
         * the record says so when users.c dropped it before this call. */
        if (u->secret_dropped ||
            (s && (((s->mask & SECRET_TOKEN) && !s->token && u->has_token) ||
                   ((s->mask & SECRET_REFRESH_TOKEN) && !s->refresh_token && u->has_refresh_token) ||
                   ((s->mask & SECRET_VERIFIER) && !s->verifier && u->has_verifier)))) {
                w->checkpoint_due = true;
                u->secret_dropped = false;
        }
        if (s) {
                if (s->mask & SECRET_TOKEN)
                        u->has_token = s->token != NULL;
                if (s->mask & SECRET_REFRESH_TOKEN)
                        u->has_refresh_token = s->refresh_token != NULL;
                if (s->mask & SECRET_VERIFIER)
                        u->has_verifier = s->verifier != NULL;
                secrets_move(&all, s);
        }
        if (!user_record_live(u)) {
                /* No memory to keep them in while they wait: now or never. */
                if (w->cache)
                        save_now(w, u, &all);
                else
                        keep_unsaved(u, &all);
                return;
        }
        /* s is newer than what waits from before (before the queue, which
         * may write at once). */
        secrets_move(&u->live->unsaved, &all);
        if (!w->cache)
                return;
        if (!save_queue_add(w, u))
                save_now(w, u, &all);
        else if (drops)
                writeback_flush(w);
}

void writeback_save_now(WriteBack *w, struct user_record *u, struct user_secrets *s) {
        writeback_save(w, u, s);
        writeback_flush(w);
}

int writeback_read_secret(WriteBack *w, const struct user_record *u, unsigned which, char **ret) {
        const struct user_secrets *unsaved = u->live ? &u->live->unsaved : NULL;
        const char *what = which == SECRET_VERIFIER ? "verifier" :
                           which == SECRET_TOKEN ? "token" : "refresh token";
        char *v = NULL;
        int r;

        if (!user_record_has(u, which)) {
                *ret = NULL;
                return 0;
        }
        if (unsaved && (unsaved->mask & which)) {
                const char *p = which == SECRET_VERIFIER ? unsaved->verifier :
                                which == SECRET_TOKEN ? unsaved->token : unsaved->refresh_token;

                if (p && !(v = strdup(p)))
                        return -ENOMEM;
                r = v ? 0 : -ENOENT;
        } else if (!w->cache)
                r = -ENOENT;
        else {
                r = cache_get_secret(w->cache, u->name, which, &v);
                if (r == 0 && !v)
                        r = -ENOENT;
        }
        if (r < 0) {
                /* The flag says it exists: a row that lost it (or cannot be
                 * read) means "none", never a guess.  The value is not logged. */
                log_msg(LOG_ERR, "cannot read the %s of %s from the cache: %s", what, u->name,
                        r == -ENOENT ? "it is not there" : strerror(-r));
                return r;
        }
        *ret = v;
        return 0;
}


WriteBack *writeback_free(WriteBack *w) {
        if (!w)
                return NULL;
        writeback_flush(w);
        free(w->queue);
        sd_event_source_disable_unref(w->idle);
        sd_event_source_disable_unref(w->timer);
        sd_event_source_disable_unref(w->scrub_timer);
        free(w);
        return NULL;
}
