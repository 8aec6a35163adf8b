/* SPDX-License-Identifier: MIT */
/*
 * The write-back queue between the users in memory (users.h) and the
 * persistent cache (cache.h).  A write changes the record's flags at once
 * and keeps the new secrets in memory (user_live.unsaved, which
 * writeback_read_secret() reads first); the rows themselves go out
 * together, in one transaction, when the loop has nothing else to do, and
 * at most WRITEBACK_DELAY_MAX_USEC later, so a burst of sign-ins makes one
 * transaction and no answer waits for one.  What a crash must not undo (a
 * dropped secret, an offline failure counted, an invalidation) is written
 * at once.  Without a cache the secrets stay in memory for good.
 *
 * A write that stores secrets is followed, SCRUB_DELAY_USEC later, by
 * cache_scrub(): SQLite's memory then holds no copy of them.  A write that
 * drops a secret the user had is followed at once by cache_checkpoint():
 * the WAL's old page images holding it leave the disk.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "cache.h"
#include "users.h"

#define WRITEBACK_QUEUE_MAX       256u               /* users written in one transaction at most */
#define WRITEBACK_DELAY_MAX_USEC  (100u * 1000ull)   /* a queued write waits this long at most */

typedef struct WriteBack WriteBack;

struct writeback_stats {
        uint64_t rows;                  /* user rows written */
        uint64_t transactions;          /* in this many transactions */
        uint64_t failed;                /* rows a write could not store */
        size_t queued;                  /* users waiting to be written now */
        size_t queued_max;              /* the most that ever waited at once */
};

/* users is borrowed and must outlive the queue. */
int writeback_new(sd_event *event, struct user_table *users, WriteBack **ret);
/* Writes what waits first. */
WriteBack *writeback_free(WriteBack *w);

/* The cache to write to (borrowed); NULL: none. */
void writeback_set_cache(WriteBack *w, Cache *cache);

/*
 * Write u's row, with the secrets in s (NULL: none change), which it takes
 * (s is left empty) and wipes once written.  A failure is logged and
 * otherwise ignored: memory stays right (the secrets not written stay in
 * u->live until a later write takes them), the disk keeps the previous
 * row.
 */
void writeback_save(WriteBack *w, struct user_record *u, struct user_secrets *s);
/* writeback_save() written at once: what a crash must not undo. */
void writeback_save_now(WriteBack *w, struct user_record *u, struct user_secrets *s);
/* Write everything queued now (before a call that shows the cache). */
void writeback_flush(WriteBack *w);

/*
 * One of u's secrets (which: one SECRET_*), from what waits to be written
 * or from the cache, in a copy the caller wipes (secure_free_string);
 * *ret is NULL when u has none.  A negative errno when it has one that
 * cannot be read: logged (never the value), and the caller fails closed.
 */
int writeback_read_secret(WriteBack *w, const struct user_record *u, unsigned which, char **ret);

void writeback_stats(const WriteBack *w, struct writeback_stats *ret);
