/* SPDX-License-Identifier: MIT */
/* Local users and groups, looked up off the loop and kept; see localnames.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"
#include "localnames.h"
#include "log.h"
#include "neostra/conf.h"
#include "worker.h"

#define BUCKETS 1024u           /* a power of two */

struct wait_link {
        LocalNamesWait *wait;
        struct wait_link *next;
};

struct LocalNamesWait {
        localnames_ready_fn ready;
        void *userdata;
        unsigned n_pending;     /* lookups it still waits for */
        bool cancelled;
};

struct entry {
        struct entry *hnext;            /* hash chain */
        struct entry *older, *newer;    /* the age list: answered, no lookup out */
        struct wait_link *waits;
        uint64_t fetched_usec;          /* when the lookup that gave the answer started */
        int result;                     /* 1 found, 0 not found, <0 cannot tell */
        uint32_t value;                 /* uid or gid */
        char *value_name;               /* UID_NAME */
        bool answered;
        bool pending;                   /* a lookup is out */
        bool listed;
        uint32_t hash;
        enum localnames_kind kind;
        uint32_t id;
        char name[];
};

struct job {
        LocalNames *l;
        struct entry *e;
        uint64_t started_usec;
        bool ran;
        int result;
        uint32_t value;
        char *value_name;
        enum localnames_kind kind;
        uint32_t id;
        char name[];
};

struct LocalNames {
        sd_event *event;
        Workers *workers;
        localnames_lookup_fn lookup;    /* localnames_set_lookup(), tests only */
        void *lookup_userdata;
        struct entry *buckets[BUCKETS];
        struct entry *oldest, *newest;
        size_t n_entries;
        unsigned n_pending;
        uint64_t off_loop, on_loop, failed;
        struct histogram latency;       /* of every lookup, on the loop or off it */
        uint64_t clock_offset;          /* localnames_test_advance() */
        bool closing;
        LocalNames *next_abandoned;
};

static uint64_t now_usec(const LocalNames *l) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u + l->clock_offset;
}

/* An answer a call may go on with (a later step of a call under way, or a
 * call whose lookup is slow or failing). */
static bool usable(const struct entry *e, uint64_t now) {
        return e && e->answered && e->result >= 0 && now - e->fetched_usec < LOCALNAMES_HOLD_USEC;
}

static bool by_name(enum localnames_kind kind) {
        return kind == LOCALNAMES_USER || kind == LOCALNAMES_GROUP;
}

static uint32_t key_hash(const struct localnames_key *k) {
        uint32_t h = 2166136261u;       /* FNV-1a */

        h = (h ^ (uint32_t) k->kind) * 16777619u;
        if (by_name(k->kind)) {
                for (const unsigned char *p = (const unsigned char *) k->name; *p; p++)
                        h = (h ^ *p) * 16777619u;
        } else
                for (unsigned i = 0; i < 4; i++)
                        h = (h ^ ((k->id >> (8 * i)) & 0xffu)) * 16777619u;
        return h;
}

static bool key_is(const struct entry *e, const struct localnames_key *k, uint32_t hash) {
        if (e->hash != hash || e->kind != k->kind)
                return false;
        return by_name(k->kind) ? strcmp(e->name, k->name) == 0 : e->id == k->id;
}

static struct entry *find(LocalNames *l, const struct localnames_key *k, uint32_t hash) {
        for (struct entry *e = l->buckets[hash & (BUCKETS - 1)]; e; e = e->hnext)
                if (key_is(e, k, hash))
                        return e;
        return NULL;
}

/* ---- the age list and eviction --------------------------------------------- */

static void unlist(LocalNames *l, struct entry *e) {
        if (!e->listed)
                return;
        if (e->older)
                e->older->newer = e->newer;
        else
                l->oldest = e->newer;
        if (e->newer)
                e->newer->older = e->older;
        else
                l->newest = e->older;
        e->older = e->newer = NULL;
        e->listed = false;
}

static void list_newest(LocalNames *l, struct entry *e) {
        unlist(l, e);
        e->older = l->newest;
        if (l->newest)
                l->newest->newer = e;
        else
                l->oldest = e;
        l->newest = e;
        e->listed = true;
}

/* Only an entry with no lookup out (its job points at it) and nobody
 * waiting on it. */
static void drop(LocalNames *l, struct entry *e) {
        struct entry **p = &l->buckets[e->hash & (BUCKETS - 1)];

        while (*p != e)
                p = &(*p)->hnext;
        *p = e->hnext;
        unlist(l, e);
        free(e->value_name);
        free(e);
        l->n_entries--;
}

/* Out with answers too old for anyone, and the oldest beyond the limit. */
static void trim(LocalNames *l, uint64_t now) {
        while (l->oldest && (l->n_entries > LOCALNAMES_MAX || now - l->oldest->fetched_usec >= LOCALNAMES_HOLD_USEC))
                drop(l, l->oldest);
}

static struct entry *entry_new(LocalNames *l, const struct localnames_key *k, uint32_t hash) {
        size_t len = by_name(k->kind) ? strlen(k->name) : 0;
        struct entry *e = calloc(1, sizeof(*e) + len + 1);

        if (!e)
                return NULL;
        e->hash = hash;
        e->kind = k->kind;
        e->id = k->id;
        if (len)
                memcpy(e->name, k->name, len);
        e->hnext = l->buckets[hash & (BUCKETS - 1)];
        l->buckets[hash & (BUCKETS - 1)] = e;
        l->n_entries++;
        return e;
}

/* ---- the lookups (any thread) ------------------------------------------------ */

static void look_up(const LocalNames *l, enum localnames_kind kind, const char *name, uint32_t id,
                    int *ret_result, uint32_t *ret_value, char **ret_name) {
        uid_t uid = 0;
        gid_t gid = 0;

        *ret_value = 0;
        *ret_name = NULL;
        if (l->lookup) {
                *ret_result = l->lookup(kind, name, id, ret_value, ret_name, l->lookup_userdata);
                if (*ret_result <= 0) {
                        free(*ret_name);
                        *ret_name = NULL;
                }
                return;
        }
        switch (kind) {
        case LOCALNAMES_USER:
                *ret_result = neostra_local_lookup(name, &uid);
                *ret_value = uid;
                break;
        case LOCALNAMES_GROUP:
                *ret_result = neostra_local_group_lookup(name, &gid);
                *ret_value = gid;
                break;
        case LOCALNAMES_UID_NAME:
                *ret_result = neostra_local_user_name(id, ret_name);
                break;
        default:
                *ret_result = ids_local_id_taken(id);
                break;
        }
}

static void store(LocalNames *l, struct entry *e, uint64_t fetched, int result, uint32_t value, char *value_name) {
        free(e->value_name);
        e->value_name = value_name;
        e->result = result;
        e->value = value;
        e->fetched_usec = fetched;
        e->answered = true;
        list_newest(l, e);
}

/* ---- lookups on the pool -------------------------------------------------- */

static void job_run(void *data) {
        struct job *j = data;

        look_up(j->l, j->kind, j->name, j->id, &j->result, &j->value, &j->value_name);
        j->ran = true;
}

static void job_done(void *data) {
        struct job *j = data;
        LocalNames *l = j->l;
        struct entry *e = j->e;
        struct wait_link *links;

        l->n_pending--;
        e->pending = false;
        if (j->ran) {
                l->off_loop++;
                l->failed += j->result < 0;
                /* Its time in the queue too: what the waiting call saw. */
                histogram_observe(&l->latency, now_usec(l) - j->started_usec);
                if (j->result < 0 && usable(e, now_usec(l))) {
                        /* The source failed: the last answer it gave
                         * stands, as for a lookup that is slow
                         * (localnames.h). */
                        if (by_name(e->kind))
                                log_msg(LOG_DEBUG, "NSS: looking up %s %s failed (%s); keeping the answer of "
                                        "%llu s ago", e->kind == LOCALNAMES_USER ? "user" : "group", e->name,
                                        strerror(-j->result),
                                        (unsigned long long) ((now_usec(l) - e->fetched_usec) / 1000000u));
                        free(j->value_name);
                        list_newest(l, e);
                } else
                        store(l, e, j->started_usec, j->result, j->value, j->value_name);
        } else if (e->answered)
                list_newest(l, e);      /* not run (shutting down): the old answer stays */
        links = e->waits;
        e->waits = NULL;
        if (!e->answered)
                drop(l, e);
        free(j);

        /* The entry may go from here on (a resumed call may flush). */
        while (links) {
                struct wait_link *link = links;
                LocalNamesWait *w = link->wait;

                links = link->next;
                free(link);
                if (--w->n_pending > 0)
                        continue;
                if (!w->cancelled && !l->closing)
                        w->ready(w->userdata);
                free(w);
        }
        trim(l, now_usec(l));
}

static int start_lookup(LocalNames *l, struct entry *e, uint64_t now) {
        size_t len = by_name(e->kind) ? strlen(e->name) : 0;
        struct job *j = calloc(1, sizeof(*j) + len + 1);
        int r;

        if (!j)
                return -ENOMEM;
        *j = (struct job) { .l = l, .e = e, .started_usec = now, .kind = e->kind, .id = e->id };
        memcpy(j->name, e->name, len);
        r = workers_submit(l->workers, job_run, job_done, j);
        if (r < 0) {
                free(j);
                return r;
        }
        /* Off the age list while out: nothing evicts what a job points at. */
        unlist(l, e);
        e->pending = true;
        l->n_pending++;
        return 0;
}

static bool fresh(const struct entry *e, uint64_t now) {
        return e && e->answered && !e->pending && e->result >= 0 && now - e->fetched_usec < LOCALNAMES_TTL_USEC;
}

int localnames_prefetch(LocalNames *l, const struct localnames_key *keys, size_t n, localnames_ready_fn ready,
                        void *userdata, LocalNamesWait **ret_wait) {
        uint64_t now = now_usec(l);
        LocalNamesWait *w = NULL;
        size_t to_start = 0, stale = 0;
        int r = 0;

        for (size_t i = 0; i < n; i++) {
                struct entry *e = find(l, &keys[i], key_hash(&keys[i]));

                if (fresh(e, now))
                        continue;
                stale++;
                if (!e || !e->pending)
                        to_start++;
        }
        if (stale == 0)
                return 1;
        if (l->n_pending + to_start > LOCALNAMES_PENDING_MAX)
                return -EBUSY;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (LocalNamesWait) { .ready = ready, .userdata = userdata };
        for (size_t i = 0; i < n && r >= 0; i++) {
                uint32_t hash = key_hash(&keys[i]);
                struct entry *e = find(l, &keys[i], hash);
                struct wait_link *link;

                if (fresh(e, now))
                        continue;
                if (!e && !(e = entry_new(l, &keys[i], hash))) {
                        r = -ENOMEM;
                        break;
                }
                link = malloc(sizeof(*link));
                if (!link) {
                        r = -ENOMEM;
                        break;
                }
                if (!e->pending && (r = start_lookup(l, e, now)) < 0) {
                        free(link);
                        break;
                }
                *link = (struct wait_link) { .wait = w, .next = e->waits };
                e->waits = link;
                w->n_pending++;
        }
        if (r < 0) {
                /* The lookups started still finish and are kept. */
                for (size_t i = 0; i < BUCKETS; i++)
                        for (struct entry *e = l->buckets[i], *next; e; e = next) {
                                next = e->hnext;
                                if (!e->answered && !e->pending && !e->waits)
                                        drop(l, e);
                        }
                localnames_wait_cancel(w);
                return r;
        }
        *ret_wait = w;
        return 0;
}

void localnames_wait_cancel(LocalNamesWait *w) {
        if (!w)
                return;
        if (w->n_pending == 0)
                free(w);
        else
                w->cancelled = true;    /* freed by the last lookup it waits for */
}

/* ---- reading answers --------------------------------------------------------- */

/* The kept answer (any age below LOCALNAMES_HOLD_USEC), or one looked up
 * here and now. */
static const struct entry *answer(LocalNames *l, const struct localnames_key *k) {
        uint64_t now = now_usec(l);
        uint32_t hash = key_hash(k);
        struct entry *e;
        int result;
        uint32_t value;
        char *value_name;

        /* First: nothing evicts the entry returned below. */
        trim(l, now);
        e = find(l, k, hash);
        if (e && e->answered && now - e->fetched_usec < LOCALNAMES_HOLD_USEC)
                return e;       /* a failure too: a call that waited for it gets it */
        look_up(l, k->kind, k->name, k->id, &result, &value, &value_name);
        l->on_loop++;
        histogram_observe(&l->latency, now_usec(l) - now);
        if (by_name(k->kind))
                log_msg(LOG_DEBUG, "NSS: looked up %s %s on the event loop",
                        k->kind == LOCALNAMES_USER ? "user" : "group", k->name);
        else
                log_msg(LOG_DEBUG, "NSS: looked up %s %u on the event loop",
                        k->kind == LOCALNAMES_UID_NAME ? "uid" : "id", (unsigned) k->id);
        if (!e && !(e = entry_new(l, k, hash))) {
                free(value_name);
                return NULL;
        }
        store(l, e, now, result, value, value_name);
        if (e->pending)
                unlist(l, e);   /* its job still points at it */
        return e;
}

int localnames_user(LocalNames *l, const char *name, uid_t *ret_uid) {
        const struct entry *e = answer(l, &(struct localnames_key) { .kind = LOCALNAMES_USER, .name = name });

        if (!e)
                return -ENOMEM;
        if (e->result > 0)
                *ret_uid = e->value;
        return e->result;
}

int localnames_group(LocalNames *l, const char *name, gid_t *ret_gid) {
        const struct entry *e = answer(l, &(struct localnames_key) { .kind = LOCALNAMES_GROUP, .name = name });

        if (!e)
                return -ENOMEM;
        if (e->result > 0)
                *ret_gid = e->value;
        return e->result;
}

int localnames_uid_name(LocalNames *l, uid_t uid, const char **ret_name) {
        const struct entry *e = answer(l, &(struct localnames_key) { .kind = LOCALNAMES_UID_NAME, .id = uid });

        if (!e)
                return -ENOMEM;
        if (e->result > 0)
                *ret_name = e->value_name;
        return e->result;
}

bool localnames_id_taken(LocalNames *l, uid_t id) {
        const struct entry *e = answer(l, &(struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN, .id = id });

        return !e || e->result != 0;
}

/* ---- the rest -------------------------------------------------------------- */

int localnames_new(sd_event *event, LocalNames **ret) {
        LocalNames *l = calloc(1, sizeof(*l));
        int r;

        if (!l)
                return -ENOMEM;
        l->event = event;
        r = workers_new(event, LOCALNAMES_THREADS, &l->workers);
        if (r < 0) {
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void drop_all(LocalNames *l, bool keep_pending) {
        for (size_t i = 0; i < BUCKETS; i++)
                for (struct entry *e = l->buckets[i], *next; e; e = next) {
                        next = e->hnext;
                        if (keep_pending && e->pending)
                                e->answered = false;    /* the job's answer is kept */
                        else
                                drop(l, e);
                }
}

/* A table whose lookups were still running at exit (localnames_free). */
static LocalNames *abandoned;

LocalNames *localnames_free(LocalNames *l) {
        unsigned running;

        if (!l)
                return NULL;
        l->closing = true;
        /* A hung NSS source (LDAP down, no timeout) must not hold up the
         * daemon's exit until systemd kills it: its threads are left to
         * the process's end, the table with them (still reachable). */
        running = workers_running(l->workers);
        if (running > 0) {
                log_msg(LOG_WARNING, "%u local account lookup(s) (NSS) still running; not waiting for them",
                        running);
                l->next_abandoned = abandoned;
                abandoned = l;
                return NULL;
        }
        /* Every lookup's done callback runs in here: no waits are left. */
        workers_free(l->workers);
        drop_all(l, false);
        free(l);
        return NULL;
}

void localnames_flush(LocalNames *l) {
        if (l)
                drop_all(l, true);
}

bool localnames_usable(LocalNames *l, const struct localnames_key *keys, size_t n) {
        uint64_t now = now_usec(l);

        for (size_t i = 0; i < n; i++)
                if (!usable(find(l, &keys[i], key_hash(&keys[i])), now))
                        return false;
        return true;
}

void localnames_stats(const LocalNames *l, struct localnames_stats *ret) {
        *ret = (struct localnames_stats) {
                .off_loop = l->off_loop, .on_loop = l->on_loop, .failed = l->failed,
                .pending = l->n_pending, .kept = l->n_entries, .latency = l->latency,
        };
}

void localnames_test_advance(LocalNames *l, uint64_t usec) {
        l->clock_offset += usec;
}

int localnames_set_lookup(LocalNames *l, localnames_lookup_fn fn, void *userdata) {
        Workers *on_loop;
        int r;

        if (l->n_pending > 0)
                return -EBUSY;
        /* No thread then: a pool of 0 runs each lookup on the loop. */
        r = workers_new(l->event, 0, &on_loop);
        if (r < 0)
                return r;
        workers_free(l->workers);
        l->workers = on_loop;
        l->lookup = fn;
        l->lookup_userdata = userdata;
        return 0;
}
