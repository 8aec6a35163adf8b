/* SPDX-License-Identifier: MIT */
/*
 * io.neostra.Auth server.  Every connection is non-blocking, bounded in
 * size and time, and carries the peer's credentials from SO_PEERCRED; every
 * method is listed once in the dispatch table below together with who may
 * call it (the shape of OpenSSH's monitor.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "api.h"
#include "log.h"
#include "login.h"
#include "manager.h"
#include "online.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"
#include "userdb.h"
#include "verifier.h"
#include "users.h"

#define CONNECTIONS_MAX        256u
#define IDLE_TIMEOUT_USEC      (10u * 1000000ull)  /* a client that says nothing */
#define API_GRACE_USEC         (2u * 1000000ull)   /* on top of [api] timeout */
#define NAMES_WAIT_USEC        (5u * 1000000ull)   /* a call waiting for NSS answers, with none kept */
#define RATE_BURST             5.0                 /* Authenticate calls per non-root uid */
#define RATE_REFILL_SEC        10.0                /* one more every this many seconds */
#define SCRUB_DELAY_USEC       (1u * 1000000ull)   /* secrets written stay in SQLite's memory this long */
#define SAVE_QUEUE_MAX         256u                /* users written in one transaction at most */
#define SAVE_DELAY_MAX_USEC    (100u * 1000ull)    /* a queued write waits this long at most */

static const char *const result_names[_RESULT_MAX] = {
        [RESULT_SUCCESS] = "success",
        [RESULT_OFFLINE_SUCCESS] = "offlineSuccess",
        [RESULT_CACHED_SUCCESS] = "cachedSuccess",
        [RESULT_FAILURE] = "failure",
        [RESULT_UNKNOWN] = "unknown",
        [RESULT_UNAVAILABLE] = "unavailable",
        [RESULT_NOT_OURS] = "notOurs",
        [RESULT_RATE_LIMITED] = "rateLimited",
        [RESULT_DENIED_ROLE] = "deniedRole",
};

struct Connection {
        Manager *manager;
        /* The socket it came in on decides its methods: io.neostra.Auth or
         * io.systemd.UserDatabase.  Framing, limits and deadlines are
         * the same for both. */
        int (*dispatch)(Connection *c, json_t *msg);
        int fd;
        struct ucred cred;
        sd_event_source *io;
        sd_event_source *timer;
        struct varlink_reader in;
        struct vbuf out;
        struct login *login;            /* an Authenticate waiting for its answer */
        ApiRequest *refresh;            /* a GetToken waiting for a token refresh */
        char *refresh_user;
        /* A call waiting for NSS answers (localnames.h): the message is
         * kept, and dispatched again once they are in. */
        json_t *current;                /* the message being dispatched */
        json_t *parked;
        LocalNamesWait *names_wait;
        struct localnames_key *names_keys; /* what the parked call waits for (own copy) */
        size_t n_names_keys;
        uint64_t parked_usec;           /* CLOCK_MONOTONIC when it was parked */
        unsigned names_ready;           /* the NAMES_* stages of current whose answers are in */
        unsigned names_parked;          /* the stage parked */
        bool close_after_write;
        Connection *prev, *next;
};

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static int safe_close(int fd) {
        if (fd >= 0)
                close(fd);
        return -1;
}

int64_t now_wall(void) {
        return (int64_t) time(NULL);
}

static double now_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void update_status(Manager *m) {
        (void) sd_notifyf(false,
                          "STATUS=%s; API %s; logins: %llu ok, %llu refused, %llu unavailable",
                          m->stopping ? "Stopping" : "Serving", online_state_name(m->api_state),
                          (unsigned long long) (m->logins[RESULT_SUCCESS] + m->logins[RESULT_OFFLINE_SUCCESS] +
                                                m->logins[RESULT_CACHED_SUCCESS]),
                          (unsigned long long) (m->logins[RESULT_FAILURE] + m->logins[RESULT_UNKNOWN] +
                                                m->logins[RESULT_DENIED_ROLE]),
                          (unsigned long long) m->logins[RESULT_UNAVAILABLE]);
}

/* ---- local accounts ------------------------------------------------------ */

/*
 * 1 when the name is never ours (excluded, or a local system account), 0
 * when it is, <0 when local accounts cannot be looked up.  NSS here sees
 * local sources only: main() set SYSTEMD_BYPASS_USERDB=io.neostra, so a
 * lookup never reaches our own userdb socket (DESIGN.md decision 9).
 */
static int not_ours(Manager *m, const char *user) {
        uid_t uid;
        int r;

        if (neostra_user_excluded(m->config, user))
                return 1;
        /* neostra_local_system_account(), answered off the loop
         * (dispatch() prefetched it). */
        r = localnames_user(m->localnames, user, &uid);
        if (r <= 0)
                return r;
        return neostra_system_uid(uid, m->config->minimum_uid);
}

static bool peer_is(const Connection *c, const char *user) {
        const char *name;

        return localnames_uid_name(c->manager->localnames, c->cred.uid, &name) > 0 && strcmp(name, user) == 0;
}

/* Token bucket per non-root uid, so a screen locker cannot be turned into
 * a password-guessing oracle.  With take = false only tells whether a call
 * would be allowed now. */
static bool rate_check(Manager *m, uid_t uid, bool take) {
        struct rate_bucket *b = NULL, *oldest = &m->rate[0];
        double now = now_mono();

        for (size_t i = 0; i < RATE_SLOTS; i++) {
                if (m->rate[i].used && m->rate[i].uid == uid) {
                        b = &m->rate[i];
                        break;
                }
                if (!m->rate[i].used || m->rate[i].updated < oldest->updated)
                        oldest = &m->rate[i];
        }
        if (!b) {
                b = oldest;
                *b = (struct rate_bucket) { .uid = uid, .tokens = RATE_BURST, .updated = now, .used = true };
        }
        b->tokens += (now - b->updated) / RATE_REFILL_SEC;
        if (b->tokens > RATE_BURST)
                b->tokens = RATE_BURST;
        b->updated = now;
        if (b->tokens < 1.0)
                return false;
        if (take)
                b->tokens -= 1.0;
        return true;
}

static bool rate_allow(Manager *m, uid_t uid) {
        return rate_check(m, uid, true);
}

/* ---- replies ------------------------------------------------------------ */

static void connection_free(Connection *c);
static void connection_process(Connection *c);

static void connection_update_events(Connection *c) {
        uint32_t events = 0;

        if (c->out.len > 0)
                events |= EPOLLOUT;
        else if (!c->login && !c->refresh && !c->parked && !c->close_after_write)
                events |= EPOLLIN;
        (void) sd_event_source_set_io_events(c->io, events);
}

static void connection_set_deadline(Connection *c, uint64_t usec) {
        uint64_t now;

        if (sd_event_now(c->manager->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        (void) sd_event_source_set_time(c->timer, now + usec);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

/* Returns 0, or -1 when the connection is gone. */
static int connection_flush(Connection *c) {
        while (c->out.len > 0) {
                ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        connection_free(c);
                        return -1;
                }
                vbuf_consume(&c->out, (size_t) n);
        }
        if (c->out.len == 0 && c->close_after_write) {
                connection_free(c);
                return -1;
        }
        connection_update_events(c);
        return 0;
}

/* Queue msg (consumed) and try to send it at once. */
static int connection_reply(Connection *c, json_t *msg) {
        int r;

        if (!msg) {
                connection_free(c);
                return -1;
        }
        r = varlink_encode(msg, &c->out);
        json_decref_wipe(msg);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot encode a reply: %s", strerror(-r));
                connection_free(c);
                return -1;
        }
        if (c->manager->stopping && !c->login)
                c->close_after_write = true;
        /* The idle deadline counts from the last answer. */
        if (!c->login)
                connection_set_deadline(c, IDLE_TIMEOUT_USEC);
        return connection_flush(c);
}

int connection_send(Connection *c, json_t *msg) {
        return connection_reply(c, msg);
}

void connection_close_after_write(Connection *c) {
        c->close_after_write = true;
}

Manager *connection_manager(Connection *c) {
        return c->manager;
}

static int reply_error(Connection *c, const char *error, const char *reason) {
        return connection_reply(c, varlink_error_reason(error, reason));
}

static int reply_invalid_parameter(Connection *c, const char *name) {
        return connection_reply(c, varlink_error_new(VARLINK_ERROR_INVALID_PARAMETER,
                                                     json_pack("{s:s}", "parameter", name)));
}

/* [{"name": "docker", "gid": 999}, ...] for the roles, through [groups].
 * Groups that do not exist locally are skipped with a warning; the root
 * group is never handed out. */
json_t *manager_groups_for_roles(Manager *m, char *const *roles, size_t n_roles) {
        struct neostra_strv names = {};
        json_t *array = json_array();

        if (!array)
                return NULL;
        if (neostra_groups_for_roles(m->config, (const char *const *) roles, n_roles, &names) < 0) {
                json_decref(array);
                return NULL;
        }
        for (size_t i = 0; i < names.n; i++) {
                gid_t gid, published;

                /* A group neostrad publishes itself (userdb.c) has its
                 * stable gid; only with userdb on does it exist at all. */
                if (m->config->userdb && userdb_published_gid(m, names.v[i], &published)) {
                        json_array_append_new(array, json_pack("{s:s, s:I}", "name", names.v[i],
                                                               "gid", (json_int_t) published));
                        continue;
                }
                if (localnames_group(m->localnames, names.v[i], &gid) <= 0) {
                        log_msg(LOG_WARNING, "[groups] names group '%s', which does not exist on this host",
                                names.v[i]);
                        continue;
                }
                if (gid == 0) {
                        log_msg(LOG_WARNING, "[groups] maps a role to group '%s' (gid 0); refusing to grant it",
                                names.v[i]);
                        continue;
                }
                json_array_append_new(array, json_pack("{s:s, s:I}", "name", names.v[i],
                                                       "gid", (json_int_t) gid));
        }
        free(names.v);
        return array;
}

json_t *manager_roles_array(char *const *roles, size_t n) {
        json_t *array = json_array();

        for (size_t i = 0; array && i < n; i++)
                json_array_append_new(array, json_string(roles[i]));
        return array;
}

/* ---- methods ------------------------------------------------------------- */

const char *login_result_name(enum login_result r) {
        return result_names[r];
}

void manager_count(Manager *m, enum login_result r) {
        m->logins[r]++;
        update_status(m);
}

void manager_log_decision(Manager *m, uid_t peer_uid, const char *method, const char *user,
                          const char *service, const char *rhost, const char *tty,
                          enum login_result result, const char *reason, long http_status,
                          int64_t latency_ms) {
        struct auth_event ev = {
                .method = method, .user = user, .service = service, .rhost = rhost, .tty = tty,
                .peer_uid = peer_uid, .result = result_names[result], .reason = reason,
                .http_status = http_status, .latency_ms = latency_ms,
        };

        log_auth_event(result == RESULT_SUCCESS || result == RESULT_OFFLINE_SUCCESS ||
                       result == RESULT_CACHED_SUCCESS ? LOG_INFO :
                       result == RESULT_UNAVAILABLE ? LOG_WARNING : LOG_NOTICE, &ev);
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
        Manager *m = userdata;

        cache_scrub(m->cache);
        return 0;
}

/* cache_scrub() a moment from now: once for all the writes until then,
 * so a busy login path does not pay for it per login. */
static void schedule_scrub(Manager *m) {
        int enabled = SD_EVENT_OFF;
        int r;

        if (m->scrub_timer && sd_event_source_get_enabled(m->scrub_timer, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return;
        if (m->scrub_timer)
                r = sd_event_source_set_time_relative(m->scrub_timer, SCRUB_DELAY_USEC) < 0 ? -1 :
                    sd_event_source_set_enabled(m->scrub_timer, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_time_relative(m->event, &m->scrub_timer, CLOCK_MONOTONIC,
                                               SCRUB_DELAY_USEC, 100000, on_scrub, m);
        if (r < 0) {
                /* No timer: scrub now rather than never. */
                log_msg(LOG_DEBUG, "cannot schedule a cache scrub; scrubbing at once");
                cache_scrub(m->cache);
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

static void log_write_failed(const char *name, int r) {
        log_msg(LOG_ERR, "cannot write %s to the cache (the previous entry stays): %s", name, strerror(-r));
}

/* Write u now, on its own, with the secrets in all (consumed; what waited
 * in u->live too): the way when the queue cannot take u. */
static void save_now(Manager *m, struct user_record *u, struct user_secrets *all) {
        struct user_secrets waited = {};
        int r;

        if (u->live) {
                /* all is newer than what waited. */
                secrets_move(&waited, &u->live->unsaved);
                secrets_move(&waited, all);
                all = &waited;
        }
        r = cache_put_secrets(m->cache, u, all);
        m->cache_transactions++;
        if (r < 0) {
                m->cache_failed++;
                log_write_failed(u->name, r);
                keep_unsaved(u, all);
                return;
        }
        m->cache_rows++;
        if (all->mask)
                schedule_scrub(m);
        user_secrets_clear(all);
}

static void save_queue_clear(Manager *m) {
        for (size_t i = 0; i < m->n_save_queue; i++)
                free(m->save_queue[i]);
        m->n_save_queue = 0;
        (void) sd_event_source_set_enabled(m->save_idle, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(m->save_timer, SD_EVENT_OFF);
}

/*
 * Write every queued user in one transaction: their rows as the records
 * are now, with the secrets kept in memory meanwhile (user_live.unsaved).
 * A user forgotten since (ClearCache) is skipped.  On a failure every one
 * of them keeps its secrets in memory, as after a failed write of one.
 */
void manager_flush_saves(Manager *m) {
        const struct user_record **users = NULL;
        const struct user_secrets **secrets = NULL;
        int *results = NULL;
        size_t n = 0;
        bool any_secret = false;
        int r = 0;

        if (m->n_save_queue == 0)
                return;
        users = calloc(m->n_save_queue, sizeof(*users));
        secrets = calloc(m->n_save_queue, sizeof(*secrets));
        results = calloc(m->n_save_queue, sizeof(*results));
        if (!users || !secrets || !results) {
                /* One at a time then. */
                for (size_t i = 0; i < m->n_save_queue; i++) {
                        struct user_record *u = user_table_get(m->users, m->save_queue[i]);

                        if (u && u->live && u->live->save_queued) {
                                u->live->save_queued = false;
                                save_now(m, u, &(struct user_secrets) {});
                        }
                }
                goto done;
        }
        for (size_t i = 0; i < m->n_save_queue; i++) {
                struct user_record *u = user_table_get(m->users, m->save_queue[i]);

                if (!u || !u->live || !u->live->save_queued)
                        continue;
                u->live->save_queued = false;
                users[n] = u;
                secrets[n] = &u->live->unsaved;
                any_secret |= u->live->unsaved.mask != 0;
                n++;
        }
        r = cache_put_batch(m->cache, n, users, secrets, results);
        m->cache_transactions += n > 0;
        if (r < 0 && n == 1)
                log_write_failed(users[0]->name, r);
        else if (r < 0)
                log_msg(LOG_ERR, "cannot write %zu users (%s, ...) to the cache (the previous entries stay): %s",
                        n, users[0]->name, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                struct user_record *u = (struct user_record *) users[i];

                if (r < 0 || results[i] < 0) {
                        m->cache_failed++;
                        if (r == 0)
                                log_write_failed(u->name, results[i]);
                        continue;       /* its secrets stay in memory */
                }
                m->cache_rows++;
                user_secrets_clear(&u->live->unsaved);
        }
        if (any_secret)
                schedule_scrub(m);
done:
        save_queue_clear(m);
        free(users);
        free(secrets);
        free(results);
}

static int on_save(sd_event_source *s, void *userdata) {
        manager_flush_saves(userdata);
        return 0;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_flush_saves(userdata);
        return 0;
}

/* Queue u for the next flush; false when it cannot be queued. */
static bool save_queue_add(Manager *m, struct user_record *u) {
        char **q, *name;
        int enabled = SD_EVENT_OFF;

        if (!m->save_idle &&
            (sd_event_add_defer(m->event, &m->save_idle, on_save, m) < 0 ||
             sd_event_source_set_priority(m->save_idle, SD_EVENT_PRIORITY_IDLE) < 0 ||
             sd_event_add_time_relative(m->event, &m->save_timer, CLOCK_MONOTONIC, SAVE_DELAY_MAX_USEC,
                                        10000, on_save_timer, m) < 0)) {
                m->save_idle = sd_event_source_disable_unref(m->save_idle);
                m->save_timer = sd_event_source_disable_unref(m->save_timer);
                return false;
        }
        if (u->live->save_queued)
                return true;
        q = reallocarray(m->save_queue, m->n_save_queue + 1, sizeof(*q));
        if (!q)
                return false;
        m->save_queue = q;
        name = strdup(u->name);
        if (!name)
                return false;
        q[m->n_save_queue++] = name;
        u->live->save_queued = true;
        if (m->n_save_queue == 1) {
                (void) sd_event_source_set_enabled(m->save_idle, SD_EVENT_ONESHOT);
                if (sd_event_source_get_enabled(m->save_timer, &enabled) < 0 || enabled == SD_EVENT_OFF)
                        (void) (sd_event_source_set_time_relative(m->save_timer, SAVE_DELAY_MAX_USEC) < 0 ||
                                sd_event_source_set_enabled(m->save_timer, SD_EVENT_ONESHOT) < 0);
        }
        if (m->n_save_queue >= SAVE_QUEUE_MAX)
                manager_flush_saves(m);
        return true;
}

/*
 * Write u to the cache, with the secrets in s (consumed; NULL: none).  The
 * record's flags change at once and the secrets wait in memory
 * (user_live.unsaved, which manager_read_secret() reads first): the write
 * itself goes out with the others queued when the loop has nothing else
 * to do, at most SAVE_DELAY_MAX_USEC later, so a burst of sign-ins makes
 * one transaction and no answer waits for one.  Calls that show the
 * cache (GetUser, GetStatus, ...) flush first.  A write that drops a
 * secret (a refused password, a verifier the API has outdated) goes out at
 * once: a crash must not bring the old one back.
 */
void manager_save_user(Manager *m, struct user_record *u, struct user_secrets *s) {
        struct user_secrets all = {};
        bool drops = s && (((s->mask & SECRET_TOKEN) && !s->token) ||
                           ((s->mask & SECRET_REFRESH_TOKEN) && !s->refresh_token) ||
                           ((s->mask & SECRET_VERIFIER) && !s->verifier));

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
                if (m->cache)
                        save_now(m, u, &all);
                else
                        keep_unsaved(u, &all);
                return;
        }
        /* s is newer than what waits from before (before the queue, which
         * may write at once). */
        secrets_move(&u->live->unsaved, &all);
        if (!m->cache)
                return;
        if (!save_queue_add(m, u))
                save_now(m, u, &all);
        else if (drops)
                manager_flush_saves(m);
}

void manager_save_user_now(Manager *m, struct user_record *u, struct user_secrets *s) {
        manager_save_user(m, u, s);
        manager_flush_saves(m);
}

int manager_read_secret(Manager *m, const struct user_record *u, unsigned which, char **ret) {
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
        } else if (!m->cache)
                r = -ENOENT;
        else {
                r = cache_get_secret(m->cache, u->name, which, &v);
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

static void count(Manager *m, enum login_result r) {
        manager_count(m, r);
}

static void log_decision(Connection *c, const char *method, const char *user, const char *service,
                         const char *rhost, const char *tty, enum login_result result,
                         const char *reason, long http_status, int64_t latency_ms) {
        manager_log_decision(c->manager, c->cred.uid, method, user, service, rhost, tty, result,
                             reason, http_status, latency_ms);
}

void connection_answer(Connection *c, json_t *reply) {
        connection_go_on(connection_answer_hold(c, reply));
}

Connection *connection_answer_hold(Connection *c, json_t *reply) {
        c->login = NULL;
        return connection_reply(c, reply) < 0 ? NULL : c;
}

void connection_go_on(Connection *c) {
        if (c)
                connection_process(c);
}

/* Optional bounded string parameter; -1 after replying InvalidParameter. */
static int optional_field(Connection *c, json_t *params, const char *key, const char **ret) {
        int r = varlink_param_string(params, key, NEOSTRA_FIELD_MAX, ret);

        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0) {
                reply_invalid_parameter(c, key);
                return -1;
        }
        return 0;
}

/* No [api] url: the daemon decides nothing about Neostra users, not even
 * from what an earlier configuration cached.  "Unavailable" lets the PAM
 * stack go on (pam-auth-update's profile ignores it). */
static int reply_unconfigured(Connection *c, const char *method, const char *user, const char *service,
                              const char *rhost, const char *tty) {
        static const char reason[] = "not configured: [api] url is not set";

        count(c->manager, RESULT_UNAVAILABLE);
        log_decision(c, method, user, service, rhost, tty, RESULT_UNAVAILABLE, reason, 0, -1);
        return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, reason);
}

static int method_authenticate(Connection *c, json_t *params, const char *user) {
        Manager *m = c->manager;
        const char *password, *service, *rhost, *tty;
        char *email = NULL;
        json_t *pw;
        int r;

        /* A password may hold any character but NUL. */
        pw = json_object_get(params, "password");
        if (!json_is_string(pw) || json_string_length(pw) > NEOSTRA_PASSWORD_MAX ||
            strlen(json_string_value(pw)) != json_string_length(pw))
                return reply_invalid_parameter(c, "password");
        password = json_string_value(pw);

        if (optional_field(c, params, "service", &service) < 0 ||
            optional_field(c, params, "rhost", &rhost) < 0 ||
            optional_field(c, params, "tty", &tty) < 0)
                return -1;

        if (c->cred.uid != 0 && !rate_allow(m, c->cred.uid)) {
                count(m, RESULT_RATE_LIMITED);
                log_decision(c, "Authenticate", user, service, rhost, tty, RESULT_RATE_LIMITED,
                             "too many attempts from this uid", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_RATE_LIMITED, "too many attempts; try again later");
        }
        r = not_ours(m, user);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot look up local accounts: %s", strerror(-r));
                count(m, RESULT_UNAVAILABLE);
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot look up local accounts");
        }
        if (r > 0) {
                count(m, RESULT_NOT_OURS);
                log_decision(c, "Authenticate", user, service, rhost, tty, RESULT_NOT_OURS,
                             "local system account or excluded name", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_NOT_OUR_USER,
                                   "local system account or excluded name; not sent to the API");
        }
        if (!m->config->api_url)
                return reply_unconfigured(c, "Authenticate", user, service, rhost, tty);
        if (password[0] == 0) {
                count(m, RESULT_FAILURE);
                log_decision(c, "Authenticate", user, service, rhost, tty, RESULT_FAILURE,
                             "empty password", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_AUTHENTICATION_FAILED, "empty password");
        }
        r = neostra_email_for_user(m->config, user, &email);
        if (r < 0) {
                count(m, RESULT_UNKNOWN);
                log_decision(c, "Authenticate", user, service, rhost, tty, RESULT_UNKNOWN,
                             "name does not map to a valid email", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN, "name does not map to a valid email");
        }

        r = login_start(m, c, &(struct login_params) {
                                .user = user, .password = password, .service = service,
                                .rhost = rhost, .tty = tty, .peer_uid = c->cred.uid,
                        }, email, &c->login);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot start a login: %s", strerror(-r));
                count(m, RESULT_UNAVAILABLE);
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot start the login");
        }
        /* The answer may already be out (a check failed to start). */
        if (c->login) {
                connection_set_deadline(c, m->config->timeout_ms * 1000u + API_GRACE_USEC);
                connection_update_events(c);
        }
        return 0;
}

bool manager_account_verdict(Manager *m, const struct user_record *u, char *reason, size_t n) {
        bool allowed = neostra_roles_allowed(&m->config->allow_roles, (const char *const *) user_roles(u),
                                             user_n_roles(u));

        if (m->config->allow_roles.n == 0)
                snprintf(reason, n, "any Neostra user may log in");
        else if (allowed)
                snprintf(reason, n, "a role of the user is in allow_roles");
        else {
                /* Say which roles the user has: that is what an admin needs
                 * to fix the table, and the user sees nothing secret. */
                size_t off = (size_t) snprintf(reason, n, "none of the user's roles (");

                for (size_t i = 0; i < user_n_roles(u) && off < n; i++)
                        off += (size_t) snprintf(reason + off, n - off, "%s%s", i ? ", " : "",
                                                 user_roles(u)[i]);
                if (off < n)
                        snprintf(reason + off, n - off, ") may log in here");
        }
        return allowed;
}

static int method_check_account(Connection *c, json_t *params, const char *user) {
        Manager *m = c->manager;
        const char *service;
        struct user_record *u;
        char reason[512];
        bool allowed;

        if (optional_field(c, params, "service", &service) < 0)
                return -1;

        if (not_ours(m, user) != 0)
                return reply_error(c, NEOSTRA_ERROR_NOT_OUR_USER,
                                   "local system account or excluded name");
        if (!m->config->api_url)
                return reply_unconfigured(c, "CheckAccount", user, service, NULL, NULL);

        u = user_table_get(m->users, user);
        if (!u) {
                log_decision(c, "CheckAccount", user, service, NULL, NULL, RESULT_UNKNOWN,
                             "no sign-in seen for this user", 0, -1);
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN,
                                   "no Neostra sign-in seen for this user on this host; "
                                   "log in with the password once");
        }

        allowed = manager_account_verdict(m, u, reason, sizeof(reason));
        if (!allowed)
                count(m, RESULT_DENIED_ROLE);
        log_decision(c, "CheckAccount", user, service, NULL, NULL,
                     allowed ? RESULT_SUCCESS : RESULT_DENIED_ROLE, reason, 0, -1);

        return connection_reply(c, varlink_reply_new(json_pack(
                "{s:b, s:s, s:o, s:o}", "allowed", allowed, "reason", reason,
                "roles", manager_roles_array(user_roles(u), user_n_roles(u)),
                "groups", manager_groups_for_roles(m, user_roles(u), user_n_roles(u)))));
}

static int method_get_status(Connection *c, json_t *params, const char *user) {
        Manager *m = c->manager;
        json_t *logins = json_object();
        struct localnames_stats names;

        localnames_stats(m->localnames, &names);
        for (int i = 0; logins && i < _RESULT_MAX; i++)
                json_object_set_new(logins, result_names[i], json_integer((json_int_t) m->logins[i]));

        return connection_reply(c, varlink_reply_new(json_pack(
                "{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:b, s:I, s:{s:I, s:I, s:I}, "
                "s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
                "version", NEOSTRA_VERSION,
                "protocol", NEOSTRA_PROTOCOL_VERSION,
                "state", online_state_name(m->api_state),
                "since", (json_int_t) m->api_state_since,
                "nextProbe", (json_int_t) m->next_probe,
                "started", (json_int_t) m->started,
                "users", (json_int_t) user_table_size(m->users),
                "connections", (json_int_t) m->n_connections,
                "connectionsAccepted", (json_int_t) m->connections_accepted,
                "pendingApiRequests", (json_int_t) api_pending(m->api),
                "lastApiLatencyMs", (json_int_t) m->last_api_latency_ms,
                "logins", logins,
                "configFile", m->config_path,
                "cache", m->cache != NULL,
                "cacheBytes", (json_int_t) (m->cache ? cache_size(m->cache) : 0),
                "verifiers",
                "made", (json_int_t) m->verifiers_made,
                "kept", (json_int_t) m->verifiers_kept,
                "queued", (json_int_t) workers_queued(m->workers),
                "cacheWrites",
                "rows", (json_int_t) m->cache_rows,
                "transactions", (json_int_t) m->cache_transactions,
                "failed", (json_int_t) m->cache_failed,
                "localLookups",
                "offLoop", (json_int_t) names.off_loop,
                "onLoop", (json_int_t) names.on_loop,
                "failed", (json_int_t) names.failed,
                "staleCalls", (json_int_t) m->names_stale_calls,
                "pending", (json_int_t) names.pending,
                "kept", (json_int_t) names.kept)));
}

static int method_get_user(Connection *c, json_t *params, const char *user) {
        Manager *m = c->manager;
        struct user_record *u = user_table_get(m->users, user);

        if (!u)
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN, "no sign-in seen for this user");
        /* Never the token or the verifier: only whether they are held. */
        return connection_reply(c, varlink_reply_new(json_pack(
                "{s:s, s:s, s:o, s:o, s:I, s:b, s:I, s:b, s:I, s:i, s:b}",
                "user", u->name, "email", u->email,
                "roles", manager_roles_array(user_roles(u), user_n_roles(u)),
                "groups", manager_groups_for_roles(m, user_roles(u), user_n_roles(u)),
                "lastOnlineSuccess", (json_int_t) u->last_online_success,
                "hasToken", u->has_token,
                "tokenExpires", (json_int_t) u->token_expires,
                "hasVerifier", u->has_verifier,
                "verifierTime", (json_int_t) u->verifier_time,
                "offlineFailures", (int) u->offline_failures,
                "invalidated", u->invalidated)));
}

/* The optional "user" of the admin methods: -1 after replying. */
static int optional_user(Connection *c, json_t *params, const char **ret) {
        int r = varlink_param_string(params, "user", NEOSTRA_USER_MAX, ret);

        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0 || !neostra_valid_login_name(*ret)) {
                reply_invalid_parameter(c, "user");
                return -1;
        }
        return 0;
}

struct invalidate_ctx {
        Manager *m;
        const char *name;
};

static void invalidate_one(struct user_record *u, void *userdata) {
        struct invalidate_ctx *ctx = userdata;

        if (ctx->name && strcmp(ctx->name, u->name) != 0)
                return;
        u->invalidated = true;
        manager_save_user(ctx->m, u, NULL);
}

/* Force the next login online; the offline data stays. */
static int method_invalidate(Connection *c, json_t *params, const char *user) {
        struct invalidate_ctx ctx = { .m = c->manager };

        if (optional_user(c, params, &ctx.name) < 0)
                return -1;
        if (ctx.name && !user_table_get(c->manager->users, ctx.name))
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN, "no sign-in seen for this user");
        user_table_foreach(c->manager->users, invalidate_one, &ctx);
        /* On disk before the answer: a restart must not undo it. */
        manager_flush_saves(c->manager);
        localnames_flush(c->manager->localnames);
        log_msg(LOG_NOTICE, "cache invalidated for %s by uid %u", ctx.name ? ctx.name : "all users",
                (unsigned) c->cred.uid);
        return connection_reply(c, varlink_reply_new(NULL));
}

/* Drop cached data: memory and disk. */
static int method_clear(Connection *c, json_t *params, const char *user) {
        Manager *m = c->manager;
        const char *name;
        int r;

        if (optional_user(c, params, &name) < 0)
                return -1;
        user_table_forget(m->users, name);
        localnames_flush(m->localnames);
        if (!name)
                malloc_trim(0);     /* every record gone: give their pages back */
        if (m->cache && (r = cache_delete(m->cache, name)) < 0) {
                log_msg(LOG_ERR, "cannot clear the cache: %s", strerror(-r));
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot clear the cache on disk");
        }
        log_msg(LOG_NOTICE, "cache cleared for %s by uid %u", name ? name : "all users",
                (unsigned) c->cred.uid);
        return connection_reply(c, varlink_reply_new(NULL));
}

#define TOKEN_REFRESH_MARGIN_SEC 60

static int reply_token(Connection *c, const char *user) {
        Manager *m = c->manager;
        struct user_record *u = user_table_get(m->users, user);
        __attribute__((cleanup(secure_free_stringp))) char *token = NULL;
        json_t *reply;

        if (!u || !u->has_token || (u->token_expires > 0 && u->token_expires <= now_wall()))
                return reply_error(c, NEOSTRA_ERROR_USER_UNKNOWN,
                                   "no valid API token held for this user; log in again");
        if (manager_read_secret(m, u, SECRET_TOKEN, &token) < 0)
                return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                                   "cannot read the API token from the cache");
        log_msg(LOG_INFO, "API token of %s handed to uid %u", user, (unsigned) c->cred.uid);
        reply = varlink_reply_new(json_pack("{s:s, s:I}", "token", token,
                                            "expires", (json_int_t) u->token_expires));
        /* connection_reply() wipes the reply's strings with it. */
        return connection_reply(c, reply);
}

static void on_refresh_done(struct api_signin_result *res, void *userdata) {
        Connection *c = userdata;
        Manager *m = c->manager;
        char *name = c->refresh_user;
        struct user_record *u = user_table_get(m->users, name);

        c->refresh = NULL;
        c->refresh_user = NULL;
        online_note(m, res);
        if (u && res->outcome == API_ALLOW) {
                struct user_secrets s = { .mask = SECRET_TOKEN, .token = res->token };

                res->token = NULL;
                if (res->refresh_token) {
                        s.mask |= SECRET_REFRESH_TOKEN;
                        s.refresh_token = res->refresh_token;
                        res->refresh_token = NULL;
                }
                u->token_expires = res->expires_in >= 0 ? now_wall() + res->expires_in : 0;
                manager_save_user(m, u, &s);
        } else if (u && res->outcome == API_DENY)
                /* The API will not refresh with it again. */
                manager_save_user(m, u, &(struct user_secrets) { .mask = SECRET_REFRESH_TOKEN });
        log_msg(res->outcome == API_ALLOW ? LOG_INFO : LOG_WARNING, "token refresh for %s: %s",
                name, res->reason);
        if (reply_token(c, name) >= 0)
                connection_process(c);
        free(name);
}

/* The caller's own token (root: anyone's), refreshed first when
 * [api] refresh_path is set and it is about to expire. */
static int method_get_token(Connection *c, json_t *params, const char *user) {
        Manager *m = c->manager;
        struct user_record *u = user_table_get(m->users, user);
        int r;

        /* Never make the caller wait on an API known to be away. */
        if (u && m->config->refresh_path && u->has_refresh_token && online_usable(m) &&
            (!u->has_token ||
             (u->token_expires > 0 && u->token_expires - now_wall() < TOKEN_REFRESH_MARGIN_SEC))) {
                __attribute__((cleanup(secure_free_stringp))) char *refresh_token = NULL;

                c->refresh_user = strdup(user);
                r = !c->refresh_user ? -ENOMEM :
                    manager_read_secret(m, u, SECRET_REFRESH_TOKEN, &refresh_token);
                /* api_refresh() copies it into the request body, which is
                 * wiped when libcurl is done. */
                if (r == 0)
                        r = api_refresh(m->api, m->config, refresh_token, on_refresh_done, c, &c->refresh);
                if (r == 0) {
                        connection_set_deadline(c, m->config->timeout_ms * 1000u + API_GRACE_USEC);
                        connection_update_events(c);
                        return 0;
                }
                c->refresh_user = mfree(c->refresh_user);
                log_msg(LOG_ERR, "cannot start a token refresh: %s", strerror(-r));
        }
        return reply_token(c, user);
}

static int method_get_info(Connection *c, json_t *params, const char *user) {
        return connection_reply(c, varlink_reply_new(json_pack(
                "{s:s, s:s, s:s, s:s, s:[s]}",
                "vendor", "Neostra", "product", "neostrad", "version", NEOSTRA_VERSION,
                "url", "https://neostra.example/pam_neostra",
                "interfaces", NEOSTRA_AUTH_INTERFACE)));
}

enum access {
        ACCESS_ANYONE,
        ACCESS_SELF_OR_ROOT,    /* requires "user"; non-root peers only for themselves */
        ACCESS_ROOT,
};

static const struct method {
        const char *name;
        enum access access;
        int (*handler)(Connection *c, json_t *params, const char *user);
} methods[] = {
        { NEOSTRA_METHOD_AUTHENTICATE,     ACCESS_SELF_OR_ROOT, method_authenticate },
        { NEOSTRA_METHOD_CHECK_ACCOUNT,    ACCESS_SELF_OR_ROOT, method_check_account },
        { NEOSTRA_METHOD_GET_STATUS,       ACCESS_ANYONE,       method_get_status },
        { NEOSTRA_METHOD_GET_USER,         ACCESS_SELF_OR_ROOT, method_get_user },
        { NEOSTRA_METHOD_INVALIDATE_CACHE, ACCESS_ROOT,         method_invalidate },
        { NEOSTRA_METHOD_CLEAR_CACHE,      ACCESS_ROOT,         method_clear },
        { NEOSTRA_METHOD_GET_TOKEN,        ACCESS_SELF_OR_ROOT, method_get_token },
        { "org.varlink.service.GetInfo",   ACCESS_ANYONE,       method_get_info },
};

/*
 * The NSS answers a login or account call will read (localnames.h), so that
 * none of them is looked up on the loop: the name's local user and group,
 * the uid it would get and the gids of [groups].  Not for a caller over
 * its Authenticate budget: it is refused before any lookup.
 * 1: go on, 0: parked, <0: cannot be had now.
 */
static int need_call_names(Connection *c, const struct method *method, const char *user) {
        Manager *m = c->manager;
        const struct neostra_config *cfg = m->config;
        bool auth = method->handler == method_authenticate, account = method->handler == method_check_account;
        struct localnames_key *keys;
        size_t n = 0, max = USERDB_IDENTITY_KEYS_MAX;
        int r;

        if (!(auth || account) || neostra_user_excluded(cfg, user) ||
            (auth && c->cred.uid != 0 && !rate_check(m, c->cred.uid, false)))
                return 1;
        for (size_t i = 0; i < cfg->n_groups; i++)
                max += cfg->groups[i].groups.n;
        keys = calloc(max, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        if (auth)
                n = userdb_identity_keys(m, user, keys);
        else
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_USER, .name = user };
        for (size_t i = 0; i < cfg->n_groups; i++)
                for (size_t j = 0; j < cfg->groups[i].groups.n; j++) {
                        const char *group = cfg->groups[i].groups.v[j];
                        gid_t gid;

                        if (!(cfg->userdb && userdb_published_gid(m, group, &gid)))
                                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_GROUP, .name = group };
                }
        r = connection_need_names(c, NAMES_CALL, keys, n);
        free(keys);
        return r;
}

static int reply_no_names(Connection *c, const char *method, int r) {
        log_msg(LOG_ERR, "cannot look up local accounts for a %s call: %s", method, strerror(-r));
        if (strcmp(method, NEOSTRA_METHOD_AUTHENTICATE) == 0)
                count(c->manager, RESULT_UNAVAILABLE);
        return reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE, "cannot look up local accounts now");
}

static int dispatch(Connection *c, json_t *msg) {
        const struct method *method = NULL;
        const char *name, *user = NULL;
        bool oneway, more;
        json_t *params;
        int r;

        if (varlink_call_parse(msg, &name, &params, &oneway, &more) < 0) {
                c->close_after_write = true;
                return reply_error(c, VARLINK_ERROR_PROTOCOL, "malformed call");
        }
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
                if (strcmp(methods[i].name, name) == 0)
                        method = &methods[i];
        if (!method)
                return connection_reply(c, varlink_error_new(VARLINK_ERROR_METHOD_NOT_FOUND,
                                                             json_pack("{s:s}", "method", name)));

        if (method->access == ACCESS_ROOT && c->cred.uid != 0)
                return reply_error(c, NEOSTRA_ERROR_PERMISSION_DENIED, "only root may call this");

        if (method->access == ACCESS_SELF_OR_ROOT) {
                r = varlink_param_string(params, "user", NEOSTRA_USER_MAX, &user);
                if (r < 0 || !neostra_valid_login_name(user))
                        return reply_invalid_parameter(c, "user");
                /* The caller's own name first: nothing is looked up for
                 * a name it may not ask about. */
                if (c->cred.uid != 0) {
                        r = connection_need_names(c, NAMES_PEER, &(struct localnames_key) {
                                .kind = LOCALNAMES_UID_NAME, .id = c->cred.uid }, 1);
                        if (r <= 0)
                                return r == 0 ? 0 : reply_no_names(c, name, r);
                        if (!peer_is(c, user))
                                return reply_error(c, NEOSTRA_ERROR_PERMISSION_DENIED,
                                                   "only root may ask about another user");
                }
        }
        r = need_call_names(c, method, user);
        if (r <= 0)
                return r == 0 ? 0 : reply_no_names(c, name, r);        /* 0: parked */
        /* What the other calls show or change is on disk first. */
        if (method->handler != method_authenticate && method->handler != method_check_account)
                manager_flush_saves(c->manager);
        return method->handler(c, params, user);
}

/* Handle every complete message buffered, one at a time: a call that waits
 * on the API holds the rest until its answer is out. */
static void connection_process(Connection *c) {
        while (!c->login && !c->refresh && !c->parked && c->out.len == 0 && !c->close_after_write) {
                json_t *msg = NULL;
                int r = varlink_reader_pop(&c->in, &msg);

                if (r == 0)
                        return;
                if (r < 0) {
                        c->close_after_write = true;
                        reply_error(c, VARLINK_ERROR_PROTOCOL,
                                    r == -EMSGSIZE ? "message too large" : "message is not a JSON object");
                        return;
                }
                c->current = msg;
                c->names_ready = 0;
                r = c->dispatch(c, msg);
                /* The call may have carried a password (a parked call
                 * holds its own reference). */
                json_decref_wipe(msg);
                if (r < 0)
                        return; /* connection gone */
                c->current = NULL;
        }
}

/* The parked call's message (the caller's now), and nothing parked left. */
static json_t *unpark(Connection *c) {
        json_t *msg = c->parked;

        localnames_wait_cancel(c->names_wait);
        c->names_wait = NULL;
        free(c->names_keys);
        c->names_keys = NULL;
        c->n_names_keys = 0;
        c->parked = NULL;
        return msg;
}

/* Dispatch the parked call again, its answers in (or kept ones standing in). */
static void resume_parked(Connection *c) {
        bool secret = c->dispatch == dispatch;
        json_t *msg = unpark(c);
        int r;

        c->names_ready |= c->names_parked;
        c->current = msg;
        r = c->dispatch(c, msg);
        json_decref_wipe(msg);
        if (r >= 0 && !c->parked) {
                c->current = NULL;
                connection_update_events(c);
                connection_process(c);
        }
        if (secret)
                secure_burn_stack(SECURE_BURN_STACK_BYTES);
}

static void on_names_ready(void *userdata) {
        Connection *c = userdata;

        c->names_wait = NULL;   /* freed by localnames */
        resume_parked(c);
}

/* One block: the keys, then their names. */
static struct localnames_key *keys_copy(const struct localnames_key *keys, size_t n) {
        size_t size = n * sizeof(*keys);
        struct localnames_key *copy;
        char *p;

        for (size_t i = 0; i < n; i++)
                if (keys[i].name)
                        size += strlen(keys[i].name) + 1;
        copy = malloc(size ? size : 1);
        if (!copy)
                return NULL;
        p = (char *) (copy + n);
        for (size_t i = 0; i < n; i++) {
                copy[i] = keys[i];
                if (keys[i].name) {
                        copy[i].name = strcpy(p, keys[i].name);
                        p += strlen(p) + 1;
                }
        }
        return copy;
}

int connection_need_names(Connection *c, unsigned stage, const struct localnames_key *keys, size_t n) {
        int r;

        if ((c->names_ready & stage) || n == 0)
                return 1;
        r = localnames_prefetch(c->manager->localnames, keys, n, on_names_ready, c, &c->names_wait);
        if (r != 0)
                return r;
        c->names_keys = keys_copy(keys, n);
        c->n_names_keys = c->names_keys ? n : 0;
        c->names_parked = stage;
        c->parked = json_incref(c->current);
        (void) sd_event_now(c->manager->event, CLOCK_MONOTONIC, &c->parked_usec);
        /* With answers kept from before, a slow source holds the call only
         * briefly (localnames.h). */
        connection_set_deadline(c, c->names_keys && localnames_usable(c->manager->localnames, keys, n)
                                           ? LOCALNAMES_STALE_AFTER_USEC : NAMES_WAIT_USEC);
        connection_update_events(c);
        return 0;
}

/* The NSS answers did not come in time: the call fails closed, the lookups
 * go on and are kept for the next one. */
static void unpark_timed_out(Connection *c) {
        int r;

        json_decref_wipe(unpark(c));
        log_msg(LOG_WARNING, "local account lookups (NSS) did not answer within %u s; "
                "failing a call from uid %u", (unsigned) (NAMES_WAIT_USEC / 1000000u), (unsigned) c->cred.uid);
        if (c->dispatch == dispatch) {
                count(c->manager, RESULT_UNAVAILABLE);
                r = reply_error(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                                "local account lookups (NSS) did not answer in time");
        } else
                r = connection_reply(c, varlink_error_new(USERDB_ERROR_SERVICE_NOT_AVAILABLE, NULL));
        if (r >= 0)
                connection_process(c);
}

/* The parked call's deadline: go on with kept answers if there are, wait
 * on until NAMES_WAIT_USEC, or fail closed. */
static void parked_deadline(Connection *c) {
        Manager *m = c->manager;
        uint64_t now = c->parked_usec;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (c->names_keys && localnames_usable(m->localnames, c->names_keys, c->n_names_keys)) {
                m->names_stale_calls++;
                /* Once a minute at most: an outage would log every login. */
                if (m->names_stale_logged_usec == 0 || now - m->names_stale_logged_usec >= 60u * 1000000u) {
                        log_msg(LOG_WARNING, "local account lookups (NSS) are slow; going on with the "
                                "answers they gave before (%llu call(s) so far)",
                                (unsigned long long) m->names_stale_calls);
                        m->names_stale_logged_usec = now;
                }
                resume_parked(c);
                return;
        }
        if (now - c->parked_usec + 1000u < NAMES_WAIT_USEC) {
                connection_set_deadline(c, NAMES_WAIT_USEC - (now - c->parked_usec));
                return;
        }
        unpark_timed_out(c);
}

/* ---- connections ----------------------------------------------------------- */

static void connection_free(Connection *c) {
        Manager *m;

        if (!c)
                return;
        m = c->manager;
        login_detach(c->login);
        json_decref_wipe(unpark(c));
        api_request_cancel(c->refresh);
        free(c->refresh_user);
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        varlink_reader_done(&c->in);
        vbuf_done(&c->out);
        if (c->prev)
                c->prev->next = c->next;
        else
                m->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        m->n_connections--;
        free(c);

        if (m->stopping && m->n_connections == 0)
                (void) sd_event_exit(m->event, 0);
}

static int on_connection_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Connection *c = userdata;

        if (revents & EPOLLOUT && connection_flush(c) < 0)
                return 0;

        if (revents & EPOLLIN) {
                /* Passwords come only in io.neostra.Auth calls; userdb
                 * lookups (nss-systemd, every process on the host) carry
                 * none and need no burning.  Decided before processing:
                 * the connection may be gone afterwards. */
                bool secret = c->dispatch == dispatch;
                char buf[4096];
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n <= 0) {
                        connection_free(c);
                        return 0;
                }
                if (varlink_reader_feed(&c->in, buf, (size_t) n) < 0) {
                        explicit_bzero(buf, sizeof(buf));
                        c->close_after_write = true;
                        reply_error(c, VARLINK_ERROR_PROTOCOL, "message too large");
                        return 0;
                }
                explicit_bzero(buf, (size_t) n);
                connection_process(c);
                /* The parser and the request builder ran below us with the
                 * password; leave nothing of it on the stack. */
                if (secret)
                        secure_burn_stack(SECURE_BURN_STACK_BYTES);
                return 0;
        }

        /* Hang-up or error while we were not reading (e.g. the client gave
         * up during a slow sign-in): drop it, cancelling the request. */
        if (revents & (EPOLLHUP | EPOLLERR))
                connection_free(c);
        return 0;
}

static int on_connection_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Connection *c = userdata;

        if (c->parked) {
                parked_deadline(c);
                return 0;
        }
        log_msg(LOG_INFO, "closing a connection from uid %u that ran past its deadline",
                (unsigned) c->cred.uid);
        connection_free(c);
        return 0;
}

static int accept_connection(Manager *m, int fd, int (*dispatch_fn)(Connection *c, json_t *msg)) {
        socklen_t len = sizeof(struct ucred);
        Connection *c;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;

        if (m->n_connections >= CONNECTIONS_MAX || m->stopping) {
                log_msg(LOG_WARNING, "refusing a connection: %u open", m->n_connections);
                close(cfd);
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c) {
                close(cfd);
                return 0;
        }
        m->connections_accepted++;
        c->manager = m;
        c->dispatch = dispatch_fn;
        c->fd = cfd;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
                close(cfd);
                free(c);
                return 0;
        }
        c->next = m->connections;
        if (c->next)
                c->next->prev = c;
        m->connections = c;
        m->n_connections++;

        r = sd_event_add_io(m->event, &c->io, cfd, EPOLLIN, on_connection_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &c->timer, CLOCK_MONOTONIC,
                                               IDLE_TIMEOUT_USEC, 0, on_connection_timeout, c);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot watch a connection: %s", strerror(-r));
                connection_free(c);
        }
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return accept_connection(userdata, fd, dispatch);
}

static int on_accept_userdb(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        return accept_connection(userdata, fd, userdb_dispatch);
}

/* ---- sockets, signals, lifecycle ------------------------------------------ */

static int bind_socket(const char *path, char **ret_bound) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        char *dir, *slash;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));

        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                        r = -errno;
                        free(dir);
                        return r;
                }
        }
        free(dir);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        close(fd);
                        log_msg(LOG_ERR, "%s exists and is not a socket", path);
                        return -EEXIST;
                }
                /* A stale socket from a crash is replaced; a live one means
                 * another neostrad is serving it. */
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        close(fd);
                        log_msg(LOG_ERR, "another daemon is listening on %s", path);
                        return -EADDRINUSE;
                }
                close(fd);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                (void) unlink(path);
        }

        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            /* Screen lockers run as the user: everyone may connect, the
             * daemon decides per peer what it answers. */
            chmod(path, 0666) < 0 ||
            listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_bound = strdup(path);
        return fd;
}

enum { FD_NONE, FD_AUTH, FD_USERDB };

/* Which of our two sockets a passed descriptor is.  neostrad.socket hands
 * both over under one name (the unit's), so the path decides; a name of
 * "auth" or "userdb" (systemd-socket-activate --fdname, or a unit of one's
 * own per socket) wins over the path. */
static int classify_listen_fd(const Manager *m, int fd, const char *name) {
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
                return FD_NONE;
        if (name && strcmp(name, "userdb") == 0)
                return FD_USERDB;
        if (name && strcmp(name, "auth") == 0)
                return FD_AUTH;
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, m->config->userdb_socket_path, 0) > 0)
                return FD_USERDB;
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, m->config->socket_path, 0) > 0)
                return FD_AUTH;
        /* One unnamed socket at another path: what a hand-made activation
         * (systemd-socket-activate -l PATH) passes. */
        if (!name || strcmp(name, "neostrad.socket") == 0 || strcmp(name, "unknown") == 0)
                return FD_AUTH;
        return FD_NONE;
}

int manager_listen(Manager *m) {
        char **names = NULL;
        int n, r;

        n = sd_listen_fds_with_names(true, &names);
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                switch (classify_listen_fd(m, fd, names ? names[i] : NULL)) {
                case FD_USERDB:
                        /* Kept even with userdb = no: systemd goes on
                         * listening on it, and a socket nobody accepts on
                         * would stall every lookup on the host; userdb.c
                         * answers NoRecordFound then. */
                        if (m->userdb_fd < 0) {
                                m->userdb_fd = fd;
                                continue;
                        }
                        break;
                case FD_AUTH:
                        if (m->auth_fd < 0) {
                                m->auth_fd = fd;
                                continue;
                        }
                        break;
                }
                log_msg(LOG_WARNING, "ignoring passed socket %d (%s): not one of %s, %s", fd,
                        names ? names[i] : "unnamed", m->config->socket_path, m->config->userdb_socket_path);
                close(fd);
        }
        if (names)
                for (int i = 0; i < n; i++)
                        free(names[i]);
        free(names);

        if (m->auth_fd < 0) {
                r = bind_socket(m->config->socket_path, &m->auth_path_bound);
                if (r < 0) {
                        log_msg(LOG_ERR, "cannot listen on %s: %s", m->config->socket_path, strerror(-r));
                        return r;
                }
                m->auth_fd = r;
        } else
                (void) fcntl(m->auth_fd, F_SETFL, fcntl(m->auth_fd, F_GETFL) | O_NONBLOCK);

        r = sd_event_add_io(m->event, &m->auth_source, m->auth_fd, EPOLLIN, on_accept, m);
        if (r < 0)
                return r;
        log_msg(LOG_INFO, "listening on %s%s", m->config->socket_path,
                m->auth_path_bound ? "" : " (socket from systemd)");

        if (m->userdb_fd < 0 && !m->config->userdb)
                return 0;
        if (m->userdb_fd < 0) {
                /* Mode 0666 (bind_socket): nss-systemd connects as every
                 * user.  Without it logins still work (setcred adds the
                 * groups), so a failure here does not stop the daemon. */
                r = bind_socket(m->config->userdb_socket_path, &m->userdb_path_bound);
                if (r < 0) {
                        log_msg(LOG_ERR, "cannot listen on %s (%s): users and role groups are not "
                                "published through userdb", m->config->userdb_socket_path, strerror(-r));
                        return 0;
                }
                m->userdb_fd = r;
        } else
                (void) fcntl(m->userdb_fd, F_SETFL, fcntl(m->userdb_fd, F_GETFL) | O_NONBLOCK);
        r = sd_event_add_io(m->event, &m->userdb_source, m->userdb_fd, EPOLLIN, on_accept_userdb, m);
        if (r < 0)
                return r;
        log_msg(LOG_INFO, "serving io.systemd.UserDatabase on %s%s", m->config->userdb_socket_path,
                m->userdb_path_bound ? "" : " (socket from systemd)");
        return 0;
}

int manager_drop_privileges(Manager *m) {
        struct passwd pw, *result = NULL;
        char buf[4096];
        const char *user = m->config->user;

        if (geteuid() != 0 || !user || !*user || strcmp(user, "root") == 0)
                return 0;
        if (getpwnam_r(user, &pw, buf, sizeof(buf), &result) != 0 || !result) {
                log_msg(LOG_ERR, "[daemon] user '%s' does not exist; create it (the packages do) "
                        "or set user = root to keep running as root", user);
                return -ESRCH;
        }
        /* The socket must stay ours to the PAM module: it trusts a socket
         * owned by root or by the account that serves it. */
        if (m->auth_path_bound && chown(m->auth_path_bound, pw.pw_uid, pw.pw_gid) < 0)
                return -errno;
        if (m->userdb_path_bound && chown(m->userdb_path_bound, pw.pw_uid, pw.pw_gid) < 0)
                return -errno;
        if (setgroups(0, NULL) < 0 || setgid(pw.pw_gid) < 0 || setuid(pw.pw_uid) < 0)
                return -errno;
        log_msg(LOG_INFO, "running as %s (uid %u)", user, (unsigned) pw.pw_uid);
        return 0;
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        log_msg(LOG_WARNING, "shutting down with %u connection(s) still open", m->n_connections);
        return sd_event_exit(m->event, 0);
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        Connection *c, *next;

        if (m->stopping)
                return 0;
        m->stopping = true;
        (void) sd_notify(false, "STOPPING=1");
        update_status(m);
        log_msg(LOG_INFO, "stopping: finishing %u open connection(s)", m->n_connections);

        /* Stop taking new clients; let answers in flight go out.  A socket
         * we bound ourselves goes away now, so new clients are refused at
         * once (and a successor may bind it) instead of waiting on a
         * backlog nobody will accept; systemd's socket stays, its queue
         * is for the next instance. */
        m->auth_source = sd_event_source_disable_unref(m->auth_source);
        if (m->auth_path_bound) {
                (void) unlink(m->auth_path_bound);
                m->auth_path_bound = mfree(m->auth_path_bound);
                m->auth_fd = safe_close(m->auth_fd);
        }
        m->userdb_source = sd_event_source_disable_unref(m->userdb_source);
        if (m->userdb_path_bound) {
                (void) unlink(m->userdb_path_bound);
                m->userdb_path_bound = mfree(m->userdb_path_bound);
                m->userdb_fd = safe_close(m->userdb_fd);
        }
        for (c = m->connections; c; c = next) {
                next = c->next;
                /* A call waiting for NSS answers is under way too: it
                 * gets them, or its NAMES_WAIT_USEC answer. */
                if (!c->login && !c->parked && c->out.len == 0)
                        connection_free(c);
                else
                        c->close_after_write = !c->login;
        }
        if (m->n_connections == 0)
                return sd_event_exit(m->event, 0);
        return sd_event_add_time_relative(m->event, &m->drain_timer, CLOCK_MONOTONIC,
                                          m->config->timeout_ms * 1000u + API_GRACE_USEC, 0,
                                          on_drain_timeout, m);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        struct neostra_config *config = NULL;
        char err[512];
        int r;

        (void) sd_notify(false, "RELOADING=1");
        r = neostra_config_load(m->config_path, false, &config, err, sizeof(err));
        if (r < 0)
                log_msg(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        else {
                if (strcmp(config->socket_path, m->config->socket_path) != 0)
                        log_msg(LOG_WARNING, "[daemon] socket changed; it takes effect on restart");
                if (strcmp(config->userdb_socket_path, m->config->userdb_socket_path) != 0 ||
                    config->userdb != m->config->userdb)
                        log_msg(LOG_WARNING, "[identities] userdb or [daemon] userdb_socket changed; "
                                "it takes effect on restart");
                neostra_config_free(m->config);
                m->config = config;
                localnames_flush(m->localnames);
                online_configure(m);
                (void) userdb_refresh_groups(m);
                log_msg(LOG_NOTICE, "configuration reloaded from %s", m->config_path);
        }
        (void) sd_notify(false, "READY=1");
        update_status(m);
        return 0;
}

int manager_new(const char *config_path, struct neostra_config *config, Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->auth_fd = -1;
        m->userdb_fd = -1;
        m->config = config;
        m->api_state = API_STATE_UNKNOWN;
        m->started = m->api_state_since = now_wall();
        m->last_api_latency_ms = -1;
        m->config_path = strdup(config_path);
        if (!m->config_path) {
                r = -ENOMEM;
                goto fail;
        }
        r = sd_event_default(&m->event);
        if (r < 0)
                goto fail;
        r = api_new(m->event, &m->api);
        if (r < 0)
                goto fail;
        r = user_table_new(&m->users);
        if (r < 0)
                goto fail;
        /* The signals sd-event handles must be blocked in every thread, so
         * block them before the workers start (they inherit the mask). */
        {
                sigset_t mask;

                sigemptyset(&mask);
                sigaddset(&mask, SIGTERM);
                sigaddset(&mask, SIGINT);
                sigaddset(&mask, SIGHUP);
                sigprocmask(SIG_BLOCK, &mask, NULL);
        }
        /* Two threads: yescrypt of one login never waits on another's. */
        r = workers_new(m->event, 2, &m->workers);
        if (r < 0)
                goto fail;
        r = verifier_mac_init();
        if (r < 0)
                goto fail;
        r = localnames_new(m->event, &m->localnames);
        if (r < 0)
                goto fail;
        *ret = m;
        return 0;

fail:
        manager_free(m);
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Connections first: they cancel their API requests. */
        m->stopping = false;
        while (m->connections)
                connection_free(m->connections);
        login_cancel_all(m);
        online_stop(m);
        /* Runs the done callbacks of queued jobs: users and cache still here. */
        workers_free(m->workers);
        api_free(m->api);
        manager_flush_saves(m);
        free(m->save_queue);
        sd_event_source_disable_unref(m->save_idle);
        sd_event_source_disable_unref(m->save_timer);
        sd_event_source_disable_unref(m->scrub_timer);
        cache_close(m->cache);
        user_table_free(m->users);
        verifier_mac_done();
        localnames_free(m->localnames);
        sd_event_source_disable_unref(m->auth_source);
        sd_event_source_disable_unref(m->drain_timer);
        if (m->auth_fd >= 0)
                close(m->auth_fd);
        if (m->auth_path_bound) {
                (void) unlink(m->auth_path_bound);
                free(m->auth_path_bound);
        }
        sd_event_source_disable_unref(m->userdb_source);
        if (m->userdb_fd >= 0)
                close(m->userdb_fd);
        if (m->userdb_path_bound) {
                (void) unlink(m->userdb_path_bound);
                free(m->userdb_path_bound);
        }
        userdb_free_groups(m);
        neostra_config_free(m->config);
        free(m->config_path);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static int load_user(struct user_record *u, void *userdata) {
        Manager *m = userdata;

        return user_table_insert(m->users, u);
}

int manager_open_cache(Manager *m) {
        int r;

        r = cache_open(m->config->cache_directory, &m->cache);
        if (r < 0) {
                log_msg(LOG_ERR, "cannot use the cache in %s (%s): running without one; "
                        "offline logins and restarts lose what was learnt",
                        m->config->cache_directory, strerror(-r));
                m->cache = NULL;
                return 0;
        }
        r = cache_load(m->cache, load_user, m);
        if (r < 0)
                log_msg(LOG_ERR, "cannot read the cache: %s", strerror(-r));
        r = cache_load_groups(m->cache, userdb_load_group, m);
        if (r < 0)
                log_msg(LOG_ERR, "cannot read the group ids from the cache: %s", strerror(-r));
        log_msg(LOG_INFO, "cache %s/%s: %zu user(s)", m->config->cache_directory, CACHE_FILE_NAME,
                user_table_size(m->users));
        return 0;
}

static void prepare_loaded_user(struct user_record *u, void *userdata) {
        Manager *m = userdata;
        uid_t before = u->uid;

        /* Users stored before uids existed (schema version 1) had an
         * online success already: they get theirs now.  Only after the
         * whole table is loaded, so no stored uid is handed out twice. */
        if (u->uid == 0 && u->last_online_success == 0)
                return;
        if (userdb_prepare_user(m, u) == 0 && u->uid != before)
                manager_save_user(m, u, NULL);
}

int manager_prepare_identities(Manager *m) {
        int r;

        user_table_foreach(m->users, prepare_loaded_user, m);
        r = userdb_refresh_groups(m);
        /* Loading a big cache leaves the heap with free blocks between
         * the records (SQLite's rows, the roles' JSON, NSS answers): hand
         * the free pages back (~2 MB with 100,000 users). */
        malloc_trim(0);
        return r;
}

int manager_run(Manager *m) {
        int r;

        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_terminate, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_terminate, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m)) < 0)
                return r;

        /* With WatchdogSec= in the unit, sd-event sends WATCHDOG=1 from the
         * loop itself: a loop that stops turning gets restarted. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_msg(LOG_WARNING, "cannot set up the watchdog: %s", strerror(-r));

        (void) sd_notify(false, "READY=1");
        update_status(m);
        online_configure(m);
        log_msg(LOG_INFO, "neostrad %s ready; API %s", NEOSTRA_VERSION,
                m->config->api_url ? m->config->api_url : "not configured");

        r = sd_event_loop(m->event);
        log_msg(LOG_INFO, "neostrad stopped");
        return r;
}
