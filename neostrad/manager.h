/* SPDX-License-Identifier: MIT */
/*
 * The daemon's state: config, one sd-event loop, the io.neostra.Auth
 * Varlink server (manager.c), the login flow (login.c), the API's
 * online/offline state (online.c), the sign-in client (api.c), the worker
 * threads (worker.c), what we remember about users (users.c) and the
 * persistent cache (cache.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "api.h"
#include "cache.h"
#include "neostra/conf.h"
#include "users.h"
#include "localnames.h"
#include "worker.h"

typedef struct Manager Manager;
typedef struct Connection Connection;
struct login;
struct mapped_group;
struct group_id;
struct provisional;

enum login_result {
        RESULT_SUCCESS,          /* the API said yes */
        RESULT_OFFLINE_SUCCESS,  /* the cached verifier said yes while the API could not */
        RESULT_CACHED_SUCCESS,   /* cached_auth_timeout: the verifier said yes, no API call */
        RESULT_FAILURE,
        RESULT_UNKNOWN,
        RESULT_UNAVAILABLE,
        RESULT_NOT_OURS,
        RESULT_RATE_LIMITED,
        RESULT_DENIED_ROLE,
        _RESULT_MAX,
};

enum api_state {
        API_STATE_UNKNOWN,
        API_STATE_ONLINE,
        API_STATE_OFFLINE,       /* repeated transport failures: logins do not wait on it */
        API_STATE_UNCONFIGURED,  /* no [api] url: every login is answered "unavailable" */
};

#define RATE_SLOTS 64u

struct rate_bucket {
        uid_t uid;
        double tokens;
        double updated;
        bool used;
};

struct Manager {
        sd_event *event;
        char *config_path;
        struct neostra_config *config;
        Api *api;
        Workers *workers;
        LocalNames *localnames;         /* NSS answers about local names, kept briefly */
        Cache *cache;                   /* NULL: running without persistence */
        sd_event_source *scrub_timer;   /* cache_scrub() after writes with secrets */
        /* Cache writes wait here to go out together (manager_save_user). */
        sd_event_source *save_idle;     /* when the loop has nothing else to do */
        sd_event_source *save_timer;    /* or this soon at the latest */
        char **save_queue;              /* names of the users to write */
        size_t n_save_queue;
        struct user_table *users;

        int auth_fd;
        char *auth_path_bound;          /* set when we bound (and so unlink) it */
        sd_event_source *auth_source;

        /* userdb.c: io.systemd.UserDatabase, when [identities] userdb = yes */
        int userdb_fd;
        char *userdb_path_bound;
        sd_event_source *userdb_source;
        struct group_id *group_ids;     /* published groups' gids, as stored */
        size_t n_group_ids;
        struct mapped_group *mapped;    /* [groups] names as they resolve here */
        size_t n_mapped;
        struct provisional *provisional; /* first_login reservations, USERDB_PROVISIONAL_MAX slots */
        uint64_t provisional_seq;

        Connection *connections;
        unsigned n_connections;
        struct login *logins_pending;   /* every login not yet freed */

        struct rate_bucket rate[RATE_SLOTS];

        uint64_t logins[_RESULT_MAX];
        int64_t last_api_latency_ms;
        uint64_t verifiers_made;        /* yescrypt verifiers installed (login.c) */
        uint64_t verifiers_kept;        /* online successes whose password the verifier already had */
        uint64_t cache_rows;            /* user rows written to the cache */
        uint64_t cache_transactions;    /* in this many transactions */
        uint64_t cache_failed;          /* rows a write could not store */
        uint64_t connections_accepted;  /* since start, both sockets */
        uint64_t names_stale_calls;     /* calls that went on with kept NSS answers (slow NSS) */
        uint64_t names_stale_logged_usec; /* CLOCK_MONOTONIC of the last such warning */
        int64_t started;

        /* online.c */
        enum api_state api_state;
        int64_t api_state_since;
        unsigned transport_failures;    /* in a row */
        uint64_t backoff_usec;
        int64_t next_probe;             /* unix seconds, 0 none */
        sd_event_source *probe_timer;
        ApiRequest *probe;

        bool stopping;
        sd_event_source *drain_timer;
};

/* Takes ownership of config. */
int manager_new(const char *config_path, struct neostra_config *config, Manager **ret);
Manager *manager_free(Manager *m);

/* Take the listening socket from systemd (sd_listen_fds) or bind our own. */
int manager_listen(Manager *m);

/* Drop to [daemon] user when started as root (after manager_listen). */
int manager_drop_privileges(Manager *m);

/* Open the persistent cache and load it (after dropping privileges). */
int manager_open_cache(Manager *m);

/* Stable ids and local-name conflicts for the loaded users, and the
 * [groups] names resolved (after manager_open_cache). */
int manager_prepare_identities(Manager *m);

/* Run the loop until SIGTERM/SIGINT has drained the connections. */
int manager_run(Manager *m);

static inline void manager_freep(Manager **m) { manager_free(*m); }

/* ---- shared inside the daemon ------------------------------------------------ */

int64_t now_wall(void);
void manager_count(Manager *m, enum login_result r);
const char *login_result_name(enum login_result r);
void manager_log_decision(Manager *m, uid_t peer_uid, const char *method, const char *user,
                          const char *service, const char *rhost, const char *tty,
                          enum login_result result, const char *reason, long http_status,
                          int64_t latency_ms);
/*
 * Write a user's row to the cache, with the secrets in s (NULL: none
 * change), which it takes (s is left empty) and wipes once written.  u's
 * has_token, has_refresh_token and has_verifier follow s at once; the
 * write goes out shortly after, in one transaction with the others queued
 * (manager_flush_saves() writes them now), and the secrets wait in u->live
 * meanwhile.  A failure is logged and otherwise ignored: memory stays
 * right (the secrets not written stay in u->live until a later write
 * takes them), the disk keeps the previous row.
 */
void manager_save_user(Manager *m, struct user_record *u, struct user_secrets *s);
/* manager_save_user() written at once: what a crash must not undo (an
 * offline failure counted). */
void manager_save_user_now(Manager *m, struct user_record *u, struct user_secrets *s);
void manager_flush_saves(Manager *m);

/*
 * One of u's secrets (which: one SECRET_*), from the cache or from what
 * waits to be written, in a copy the caller wipes (secure_free_string);
 * *ret is NULL when u has none (no read then).  A negative errno when it
 * has one that cannot be read: logged (never the value), and the caller
 * fails closed.
 */
int manager_read_secret(Manager *m, const struct user_record *u, unsigned which, char **ret);
json_t *manager_groups_for_roles(Manager *m, char *const *roles, size_t n_roles);

/*
 * The account verdict for u: whether [access] allow_roles lets it log in,
 * with why in reason (n bytes).  CheckAccount answers it, and a successful
 * Authenticate carries it too (protocol.h), so the PAM module's account
 * step needs no second call.
 */
bool manager_account_verdict(Manager *m, const struct user_record *u, char *reason, size_t n);
json_t *manager_roles_array(char *const *roles, size_t n);

/* Queue one message (consumed; NULL closes the connection) and send what
 * can be sent.  Returns 0, or -1 when the connection is gone. */
int connection_send(Connection *c, json_t *msg);
/* For a dispatch function about to read NSS answers (localnames.h): 1 when
 * every key has a fresh answer (go on), 0 when the call is parked (return 0
 * and answer nothing: the same message is dispatched again once they are
 * in, and then this returns 1 for that stage, whatever the answers), <0
 * when they cannot be had now.  A call may wait in two stages, each once:
 * the caller's own name, then what the call itself needs. */
#define NAMES_PEER 1u
#define NAMES_CALL 2u
int connection_need_names(Connection *c, unsigned stage, const struct localnames_key *keys, size_t n);
/* Close once everything queued is out (after a protocol error). */
void connection_close_after_write(Connection *c);
Manager *connection_manager(Connection *c);

/* Answer the call a connection is waiting on and go on with its next one.
 * Consumes reply.  The connection may be gone afterwards. */
void connection_answer(Connection *c, json_t *reply);
/* connection_answer() in two halves: the reply goes out at once, and the
 * connection goes on to its next call only at connection_go_on(c), with
 * what connection_answer_hold() returned (NULL: the connection is gone).
 * Between them the caller finishes what the reply did not wait for (the
 * cache write of a sign-in), so a next call on the connection sees it done. */
Connection *connection_answer_hold(Connection *c, json_t *reply);
void connection_go_on(Connection *c);
