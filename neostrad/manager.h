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
struct login;
struct mapped_group;
struct group_id;
struct provisional;
struct NamesPark;
struct Online;
struct RateLimit;
struct WriteBack;
struct VarlinkServer;

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

struct Manager {
        sd_event *event;
        char *config_path;
        struct neostra_config *config;
        Api *api;
        Workers *workers;
        LocalNames *localnames;         /* NSS answers about local names, kept briefly */
        struct NamesPark *park;         /* calls waiting for them (nss-park.h) */
        struct RateLimit *ratelimit;    /* Authenticate budget of non-root callers */
        Cache *cache;                   /* NULL: running without persistence */
        struct WriteBack *writeback;    /* the users' rows on their way to the cache */
        struct user_table *users;

        /* The two sockets, each with its own server and budget. */
        int auth_fd;
        char *auth_path_bound;          /* set when we bound (and so unlink) it */
        struct VarlinkServer *auth_server;
        int userdb_fd;
        char *userdb_path_bound;
        struct VarlinkServer *userdb_server;

        /* userdb.c: io.systemd.UserDatabase, when [identities] userdb = yes */
        struct group_id *group_ids;     /* published groups' gids, as stored */
        size_t n_group_ids;
        struct mapped_group *mapped;    /* [groups] names as they resolve here */
        size_t n_mapped;
        struct provisional *provisional; /* first_login reservations, USERDB_PROVISIONAL_MAX slots */
        uint64_t provisional_seq;

        struct login *logins_pending;   /* every login not yet freed */

        uint64_t logins[_RESULT_MAX];
        int64_t last_api_latency_ms;
        uint64_t verifiers_made;        /* yescrypt verifiers installed (login.c) */
        uint64_t verifiers_kept;        /* online successes whose password the verifier already had */
        int64_t started;

        struct Online *online;          /* is the API there (online.h) */

        bool stopping;
        unsigned servers_draining;      /* servers still finishing their connections */
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
void manager_log_decision(Manager *m, uid_t peer_uid, const char *method, const char *user,
                          const char *service, const char *rhost, const char *tty,
                          enum login_result result, const char *reason, long http_status,
                          int64_t latency_ms);
/* GetStatus's reply parameters. */
json_t *manager_status_json(Manager *m);
