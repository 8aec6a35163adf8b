/* SPDX-License-Identifier: MIT */
/*
 * Local users and groups (NSS), as the daemon asks about them: is a login
 * name a local (system) account, is a name a local user or group (local
 * names win over published ones), which gid has a [groups] group, which
 * name has a caller's uid, is an id in use.  On Debian every lookup walks
 * nss-systemd's drop-in directories and re-reads /etc/passwd or /etc/group
 * (~50 syscalls); with LDAP or SSSD in nsswitch.conf one may take seconds.
 *
 * So the lookups a call needs run on a small pool of NSS threads, never on
 * the event loop (doc/architecture.md, "Local names (NSS), off the event
 * loop"): before a call starts, its
 * dispatcher asks localnames_prefetch() for every key the call will read.
 * When each answer is younger than LOCALNAMES_TTL_USEC the call goes on at
 * once; otherwise the lookups start and the call is parked until they are
 * in (nss-park.h: names_park_need()).  A slow lookup delays only the
 * calls that need its answer, never a userdb answer for a cached user or a
 * login whose answers are kept.
 *
 * The accessors then read kept answers of any age below
 * LOCALNAMES_HOLD_USEC: a call's later steps (the groups of a login the API
 * answered after seconds) use the answers fetched when it started.  An
 * accessor that finds nothing (the answer was evicted or flushed, or a path
 * that is allowed to block: start-up, reload) looks up on the calling
 * thread and counts it (localnames_stats: on_loop).
 *
 * A source that is down (LDAP or SSSD unreachable) must not stop the logins
 * of users it answered for minutes ago, as the API being down does not: a
 * lookup that fails leaves the previous answer in place (if younger than
 * LOCALNAMES_HOLD_USEC), and a call whose lookups take longer than
 * LOCALNAMES_STALE_AFTER_USEC goes on with such answers (nss-park.c;
 * localnames_usable()).  Without one, a failure is handed to the calls
 * that waited for it, never to a later call, and a hung lookup fails its
 * call after nss-park.h's NAMES_PARK_WAIT_USEC.
 *
 * Answers are kept for at most LOCALNAMES_MAX keys, oldest out first.  A
 * local account made meanwhile is seen within LOCALNAMES_TTL_USEC while
 * NSS answers; the PAM module, which decides before any password leaves
 * the login process, asks NSS itself every time.
 * Loop thread only; the lookups themselves run on the pool.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "metrics.h"

#define LOCALNAMES_TTL_USEC  (2u * 1000000u)         /* fresh enough to start a call on */
#define LOCALNAMES_HOLD_USEC (300u * 1000000ull)     /* read by a call under way, or when NSS fails */
#define LOCALNAMES_STALE_AFTER_USEC (1u * 1000000u)  /* a slower lookup: a kept answer serves */
#define LOCALNAMES_MAX       4096u                   /* answers kept */
#define LOCALNAMES_PENDING_MAX 256u                  /* lookups out at once */
#define LOCALNAMES_THREADS   8u                      /* a hung source holds one each */

enum localnames_kind {
        LOCALNAMES_USER,        /* getpwnam(name): found, uid */
        LOCALNAMES_GROUP,       /* getgrnam(name): found, gid */
        LOCALNAMES_UID_NAME,    /* getpwuid(id): found, login name */
        LOCALNAMES_ID_TAKEN,    /* getpwuid(id) or getgrgid(id) found; a failure counts as taken */
};

struct localnames_key {
        enum localnames_kind kind;
        const char *name;       /* USER, GROUP */
        uint32_t id;            /* UID_NAME, ID_TAKEN */
};

struct localnames_stats {
        uint64_t off_loop;      /* lookups done on the NSS threads */
        uint64_t on_loop;       /* lookups an accessor had to do itself */
        uint64_t failed;        /* lookups NSS failed (off the loop) */
        unsigned pending;       /* lookups out now */
        size_t kept;            /* answers kept */
        struct histogram latency;       /* every lookup's, from its start to its answer */
};

typedef struct LocalNames LocalNames;
typedef struct LocalNamesWait LocalNamesWait;
typedef void (*localnames_ready_fn)(void *userdata);

int localnames_new(sd_event *event, LocalNames **ret);
/* At exit: waiting calls are not resumed; with lookups still running (a
 * hung NSS source) it does not wait for them and leaves the table to the
 * process's end. */
LocalNames *localnames_free(LocalNames *l);

/* Forget every answer (reload, invalidate, clear).  Lookups under way
 * finish and are kept. */
void localnames_flush(LocalNames *l);

/*
 * 1: every key has a fresh answer, read them now.  0: lookups started;
 * ready(userdata) runs on the loop once every one is in, unless
 * localnames_wait_cancel(*ret_wait) came first.  -EBUSY: too many lookups
 * out (LOCALNAMES_PENDING_MAX), nothing started; -ENOMEM.
 */
int localnames_prefetch(LocalNames *l, const struct localnames_key *keys, size_t n, localnames_ready_fn ready,
                        void *userdata, LocalNamesWait **ret_wait);
void localnames_wait_cancel(LocalNamesWait *w);

/* getpwnam: 1 found (*ret_uid), 0 not found, <0 cannot tell. */
int localnames_user(LocalNames *l, const char *name, uid_t *ret_uid);

/* getgrnam: 1 found (*ret_gid), 0 not found, <0 cannot tell. */
int localnames_group(LocalNames *l, const char *name, gid_t *ret_gid);

/* getpwuid: 1 found (*ret_name, valid until the next call here), 0 not
 * found, <0 cannot tell. */
int localnames_uid_name(LocalNames *l, uid_t uid, const char **ret_name);

/* A local user or group has this id (or we cannot tell). */
bool localnames_id_taken(LocalNames *l, uid_t id);

/* Every key has an answer a call may go on with: not a failure, younger
 * than LOCALNAMES_HOLD_USEC (fresh or not). */
bool localnames_usable(LocalNames *l, const struct localnames_key *keys, size_t n);

void localnames_stats(const LocalNames *l, struct localnames_stats *ret);

/* Tests: move this table's clock forward. */
void localnames_test_advance(LocalNames *l, uint64_t usec);

/*
 * Tests: answer every lookup with fn instead of NSS.  fn answers as the
 * accessors above do: 1 found (a USER or GROUP key's uid or gid in
 * *ret_value; a UID_NAME key's name, malloc'd, in *ret_name), 0 not found
 * (an ID_TAKEN key: the id is free), a negative errno when it cannot tell.
 * The lookups then run on the loop, each from a deferred event as an NSS
 * thread's answer would come, so a test that drives the daemon sees the
 * same order of events on every run.  Only while no lookup is out:
 * -EBUSY; -ENOMEM.  The daemon never calls it.
 */
typedef int (*localnames_lookup_fn)(enum localnames_kind kind, const char *name, uint32_t id,
                                    uint32_t *ret_value, char **ret_name, void *userdata);
int localnames_set_lookup(LocalNames *l, localnames_lookup_fn fn, void *userdata);
