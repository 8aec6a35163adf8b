/* SPDX-License-Identifier: MIT */
/*
 * What is left of the daemon when its parts are in their own files: start
 * (sockets, privileges, cache, identities), reload, stop, and the figures
 * GetStatus and the service status show.  The parts:
 *   varlink-server.c  connections, framing, dispatch, budgets
 *   auth-methods.c    io.neostra.Auth          userdb.c   io.systemd.UserDatabase
 *   login.c           one Authenticate         online.c   is the API there
 *   account.c         the account verdict      ratelimit.c  per-uid Authenticate budget
 *   writeback.c       cache writes             nss-park.c   calls waiting on NSS
 *   revalidate.c      background token refreshes (access.c: the bound they keep)
 *   uids.c            the uids handed out, for good
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
#include "auth-methods.h"
#include "decisions.h"
#include "log-ids.h"
#include "log.h"
#include "login.h"
#include "manager.h"
#include "metrics.h"
#include "nss-park.h"
#include "online.h"
#include "neostra/protocol.h"
#include "ratelimit.h"
#include "revalidate.h"
#include "uids.h"
#include "userdb.h"
#include "varlink-server.h"
#include "verifier.h"
#include "users.h"
#include "writeback.h"

#define API_GRACE_USEC (2u * 1000000ull)       /* on top of [api] timeout */
/* How often set-aside cache files are looked at (cache_remove_set_aside()). */
#define HOUSEKEEPING_USEC (3600u * 1000000ull)
#define NEOSTRA_URL    "https://neostra.example/pam_neostra"


struct Manager {
        sd_event *event;
        char *config_path;
        struct neostra_config *config;  /* the modules read it through &config: a reload replaces it */
        Api *api;
        Workers *workers;
        LocalNames *localnames;         /* NSS answers about local names, kept briefly */
        NamesPark *park;                /* calls waiting for them */
        RateLimit *ratelimit;           /* Authenticate budget of non-root callers */
        Cache *cache;                   /* NULL: running without persistence */
        WriteBack *writeback;           /* the users' rows on their way to the cache */
        struct user_table *users;
        UidTable *uids;                 /* every uid handed out */
        Online *online;                 /* is the API there */
        Revalidator *revalidator;       /* background token refreshes */
        Decisions *decisions;
        UserDb *userdb;
        Logins *logins;
        AuthMethods *auth;

        /* The two sockets, each with its own server and budget. */
        int auth_fd;
        char *auth_path_bound;          /* set when we bound (and so unlink) it */
        VarlinkServer *auth_server;
        int userdb_fd;
        char *userdb_path_bound;
        VarlinkServer *userdb_server;

        int64_t started;
        struct {
                int64_t time;           /* unix seconds of the last SIGHUP, 0: none yet */
                bool failed;            /* the running configuration was kept */
                char *error;            /* why (NULL when it worked, or out of memory) */
        } reload;
        sd_event_source *housekeeping;  /* set-aside cache files past offline_max_age */
        bool stopping;
        unsigned servers_draining;      /* servers still finishing their connections */
        sd_event_source *drain_timer;
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

static void update_status(Manager *m) {
        uint64_t n[_RESULT_MAX];

        for (int i = 0; i < _RESULT_MAX; i++)
                n[i] = decisions_get(m->decisions, i);
        (void) sd_notifyf(false,
                          "STATUS=%s; API %s; logins: %llu ok, %llu refused, %llu unavailable",
                          m->stopping ? "Stopping" : "Serving", online_state_name(online_state(m->online)),
                          (unsigned long long) (n[RESULT_SUCCESS] + n[RESULT_OFFLINE_SUCCESS] +
                                                n[RESULT_CACHED_SUCCESS]),
                          (unsigned long long) (n[RESULT_FAILURE] + n[RESULT_UNKNOWN] +
                                                n[RESULT_DENIED_ROLE] + n[RESULT_DENIED_ACCESS]),
                          (unsigned long long) n[RESULT_UNAVAILABLE]);
}

static json_t *status_json(void *userdata, bool full) {
        return manager_status_json(userdata, full);
}

static void on_decision(void *userdata) {
        update_status(userdata);
}

/* {signin, refresh?}: the full urls each kind of request goes to; empty
 * without [api] url. */
static json_t *api_urls_json(const struct neostra_config *c) {
        json_t *urls = json_object();
        char buf[4096];

        if (!urls || !c->api_url)
                return urls;
        if ((size_t) snprintf(buf, sizeof(buf), "%s%s", c->api_url, c->signin_path) < sizeof(buf))
                json_object_set_new(urls, "signin", json_string(buf));
        if (c->refresh_path &&
            (size_t) snprintf(buf, sizeof(buf), "%s%s", c->api_url, c->refresh_path) < sizeof(buf))
                json_object_set_new(urls, "refresh", json_string(buf));
        return urls;
}

json_t *manager_status_json(Manager *m, bool full) {
        struct login_stats ls;
        json_t *logins;
        struct localnames_stats names;
        struct writeback_stats writes;
        struct revalidate_stats refreshes;
        struct varlink_server_stats auth, userdb;
        json_t *status;
        size_t queued;

        if (!full)
                return json_pack("{s:s, s:i, s:s}", "version", NEOSTRA_VERSION,
                                 "protocol", NEOSTRA_PROTOCOL_VERSION,
                                 "state", online_state_name(online_state(m->online)));
        /* The queue as the call found it; then what the other calls show
         * or change is on disk first. */
        writeback_stats(m->writeback, &writes);
        queued = writes.queued;
        writeback_flush(m->writeback);
        logins = json_object();
        revalidate_stats(m->revalidator, &refreshes);
        localnames_stats(m->localnames, &names);
        logins_stats(m->logins, &ls);
        writeback_stats(m->writeback, &writes);
        varlink_server_stats(m->auth_server, &auth);
        varlink_server_stats(m->userdb_server, &userdb);
        for (int i = 0; logins && i < _RESULT_MAX; i++)
                json_object_set_new(logins, decisions_result_name(i), json_integer((json_int_t) decisions_get(m->decisions, i)));

        status = json_pack(
                "{s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:b, s:I, "
                "s:{s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
                "version", NEOSTRA_VERSION,
                "protocol", NEOSTRA_PROTOCOL_VERSION,
                "state", online_state_name(online_state(m->online)),
                "since", (json_int_t) (online_since(m->online) / 1000000u),
                /* Rounded up: the probe is never earlier than it says. */
                "nextProbe", (json_int_t) ((online_next_probe(m->online) + 999999u) / 1000000u),
                "started", (json_int_t) m->started,
                "users", (json_int_t) user_table_size(m->users),
                "connections", (json_int_t) (auth.connections + userdb.connections),
                "connectionsAccepted", (json_int_t) (auth.accepted + userdb.accepted),
                "connectionsRefused", (json_int_t) (auth.refused + userdb.refused),
                "pendingApiRequests", (json_int_t) api_pending(m->api),
                "lastApiLatencyMs", (json_int_t) ls.last_api_latency_ms,
                "logins", logins,
                "configFile", m->config_path,
                "cache", m->cache != NULL,
                "cacheBytes", (json_int_t) (m->cache ? cache_size(m->cache) : 0),
                "connectionsBySocket",
                "auth", (json_int_t) auth.connections,
                "userdb", (json_int_t) userdb.connections,
                "verifiers",
                "made", (json_int_t) ls.verifiers_made,
                "kept", (json_int_t) ls.verifiers_kept,
                "queued", (json_int_t) workers_queued(m->workers),
                "cacheWrites",
                "rows", (json_int_t) writes.rows,
                "transactions", (json_int_t) writes.transactions,
                "failed", (json_int_t) writes.failed,
                "localLookups",
                "offLoop", (json_int_t) names.off_loop,
                "onLoop", (json_int_t) names.on_loop,
                "failed", (json_int_t) names.failed,
                "staleCalls", (json_int_t) names_park_stale_calls(m->park),
                "pending", (json_int_t) names.pending,
                "kept", (json_int_t) names.kept);
        /* The urls the API is asked at; lastReload: a failed reload keeps
         * the running configuration, which is easy to miss. */
        if (status)
                json_object_update_new(status, json_pack(
                        "{s:s?, s:o, s:{s:I, s:b, s:s?}}",
                        "apiUrl", m->config->api_url,
                        "apiUrls", api_urls_json(m->config),
                        "lastReload",
                        "time", (json_int_t) m->reload.time,
                        "ok", !m->reload.failed,
                        "error", m->reload.error));
        if (status)
                json_object_set_new(status, "revalidation", json_pack(
                        "{s:I, s:I, s:I, s:I, s:I}",
                        "inFlight", (json_int_t) refreshes.in_flight,
                        "refreshes", (json_int_t) refreshes.refreshes,
                        "proofs", (json_int_t) refreshes.proofs,
                        "revoked", (json_int_t) refreshes.revoked,
                        "failed", (json_int_t) refreshes.failed));
        if (status && (metrics_add_json(status, &(struct metrics_parts) {
                                .config = m->config, .api = m->api, .localnames = m->localnames,
                                .userdb = m->userdb, .decisions = m->decisions, .users = m->users,
                                .auth_server = m->auth_server, .userdb_server = m->userdb_server,
                        }) < 0 ||
                       json_object_set_new(status, "writeQueue", json_pack(
                                "{s:I, s:I}", "depth", (json_int_t) queued,
                                "depthMax", (json_int_t) writes.queued_max)) < 0)) {
                json_decref(status);
                return NULL;
        }
        return status;
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
                        log_event(LOG_ERR, MESSAGE_ID_START_FAILED, NULL, "cannot listen on %s: %s",
                                  m->config->socket_path, strerror(-r));
                        return r;
                }
                m->auth_fd = r;
        } else
                (void) fcntl(m->auth_fd, F_SETFL, fcntl(m->auth_fd, F_GETFL) | O_NONBLOCK);

        r = varlink_server_listen_fd(m->auth_server, m->auth_fd);
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
        r = varlink_server_listen_fd(m->userdb_server, m->userdb_fd);
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
                log_event(LOG_ERR, MESSAGE_ID_START_FAILED, NULL, "[daemon] user '%s' does not exist; create it "
                          "(the packages do) or set user = root to keep running as root", user);
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
        struct varlink_server_stats auth, userdb;

        varlink_server_stats(m->auth_server, &auth);
        varlink_server_stats(m->userdb_server, &userdb);
        log_msg(LOG_WARNING, "shutting down with %u connection(s) still open",
                auth.connections + userdb.connections);
        return sd_event_exit(m->event, 0);
}

/* A server has finished its last connection. */
static void on_server_drained(void *userdata) {
        Manager *m = userdata;

        if (m->servers_draining > 0 && --m->servers_draining == 0)
                (void) sd_event_exit(m->event, 0);
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->stopping)
                return 0;
        m->stopping = true;
        (void) sd_notify(false, "STOPPING=1");
        update_status(m);
        log_msg(LOG_INFO, "stopping: finishing the calls under way");

        /* Stop taking new clients; let answers in flight go out (a call
         * waiting for NSS answers is under way too: it gets them, or its
         * NAMES_PARK_WAIT_USEC answer).  A socket we bound ourselves goes
         * away now, so new clients are refused at once (and a successor
         * may bind it) instead of waiting on a backlog nobody will accept;
         * systemd's socket stays, its queue is for the next instance. */
        m->servers_draining = 2;
        varlink_server_stop(m->auth_server, on_server_drained, m);
        varlink_server_stop(m->userdb_server, on_server_drained, m);
        if (m->auth_path_bound) {
                (void) unlink(m->auth_path_bound);
                m->auth_path_bound = mfree(m->auth_path_bound);
                m->auth_fd = safe_close(m->auth_fd);
        }
        if (m->userdb_path_bound) {
                (void) unlink(m->userdb_path_bound);
                m->userdb_path_bound = mfree(m->userdb_path_bound);
                m->userdb_fd = safe_close(m->userdb_fd);
        }
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
        m->reload.time = now_wall();
        m->reload.error = mfree(m->reload.error);
        m->reload.failed = r < 0;
        if (r < 0) {
                log_event(LOG_ERR, MESSAGE_ID_RELOAD_FAILED, NULL, "reload failed, keeping the running "
                          "configuration: %s", err);
                m->reload.error = strdup(err);
        } else {
                if (strcmp(config->socket_path, m->config->socket_path) != 0)
                        log_msg(LOG_WARNING, "[daemon] socket changed; it takes effect on restart");
                if (strcmp(config->userdb_socket_path, m->config->userdb_socket_path) != 0 ||
                    config->userdb != m->config->userdb)
                        log_msg(LOG_WARNING, "[identities] userdb or [daemon] userdb_socket changed; "
                                "it takes effect on restart");
                neostra_config_free(m->config);
                m->config = config;
                localnames_flush(m->localnames);
                online_configure(m->online, m->config);
                revalidate_configure(m->revalidator);
                (void) userdb_refresh_groups(m->userdb);
                log_event(LOG_NOTICE, MESSAGE_ID_DAEMON_RELOADED, NULL, "configuration reloaded from %s",
                          m->config_path);
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
        m->started = now_wall();
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
        r = online_new(m->event, m->api, NULL, &m->online);
        if (r < 0)
                goto fail;
        online_configure(m->online, m->config);
        r = user_table_new(&m->users);
        if (r < 0)
                goto fail;
        r = uid_table_new(&m->uids);
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
        r = names_park_new(m->event, m->localnames, &m->park);
        if (r < 0)
                goto fail;
        r = ratelimit_new(&m->ratelimit);
        if (r < 0)
                goto fail;
        r = writeback_new(m->event, m->users, &m->writeback);
        if (r < 0)
                goto fail;
        r = decisions_new(on_decision, m, &m->decisions);
        if (r < 0)
                goto fail;
        r = userdb_new(&(struct userdb_deps) {
                        .config = &m->config, .users = m->users, .localnames = m->localnames,
                        .park = m->park, .cache = &m->cache, .uids = m->uids,
                }, &m->userdb);
        if (r < 0)
                goto fail;
        r = logins_new(&(struct login_deps) {
                        .event = m->event, .config = &m->config, .users = m->users,
                        .writeback = m->writeback, .workers = m->workers, .api = m->api,
                        .online = m->online, .userdb = m->userdb, .localnames = m->localnames,
                        .decisions = m->decisions,
                }, &m->logins);
        if (r < 0)
                goto fail;
        r = revalidate_new(&(struct revalidate_deps) {
                        .event = m->event, .config = &m->config, .users = m->users,
                        .writeback = m->writeback, .api = m->api, .online = m->online,
                }, &m->revalidator);
        if (r < 0)
                goto fail;
        revalidate_configure(m->revalidator);
        r = auth_methods_new(&(struct auth_deps) {
                        .config = &m->config, .users = m->users, .cache = &m->cache,
                        .writeback = m->writeback, .online = m->online,
                        .logins = m->logins, .userdb = m->userdb, .localnames = m->localnames,
                        .park = m->park, .ratelimit = m->ratelimit, .decisions = m->decisions,
                        .revalidator = m->revalidator, .status = status_json, .status_userdata = m,
                }, &m->auth);
        if (r < 0)
                goto fail;
        /* Each socket its own server, so each has its own budget. */
        r = varlink_server_new(m->event, &(struct varlink_server_config) {
                        .description = "auth", .message_max = NEOSTRA_MESSAGE_MAX,
                        .root_reserved = VARLINK_SERVER_ROOT_RESERVED, .secret = true,
                        .vendor = "Neostra", .product = "neostrad", .version = NEOSTRA_VERSION,
                        .url = NEOSTRA_URL,
                }, &m->auth_server);
        if (r >= 0)
                r = varlink_server_add_interface(m->auth_server, &auth_interface, m->auth);
        if (r >= 0)
                r = varlink_server_new(m->event, &(struct varlink_server_config) {
                                .description = "userdb", .message_max = USERDB_REPLY_MAX,
                                /* sshd and su look names up as root before
                                 * PAM runs: ordinary users together cannot
                                 * take every slot either. */
                                .root_reserved = VARLINK_SERVER_ROOT_RESERVED,
                                .vendor = "Neostra", .product = "neostrad", .version = NEOSTRA_VERSION,
                                .url = NEOSTRA_URL,
                        }, &m->userdb_server);
        if (r >= 0)
                r = varlink_server_add_interface(m->userdb_server, &userdb_interface, m->userdb);
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
        m->auth_server = varlink_server_free(m->auth_server);
        m->userdb_server = varlink_server_free(m->userdb_server);
        logins_cancel_all(m->logins);
        /* Its refreshes' waiters went with the connections. */
        revalidate_free(m->revalidator);
        /* Runs the done callbacks of queued jobs: logins, users and cache
         * still here. */
        workers_free(m->workers);
        online_free(m->online);
        api_free(m->api);
        auth_methods_free(m->auth);
        logins_free(m->logins);
        writeback_free(m->writeback);
        cache_close(m->cache);
        userdb_free(m->userdb);
        user_table_free(m->users);
        uid_table_free(m->uids);
        decisions_free(m->decisions);
        verifier_mac_done();
        names_park_free(m->park);
        localnames_free(m->localnames);
        ratelimit_free(m->ratelimit);
        sd_event_source_disable_unref(m->drain_timer);
        sd_event_source_disable_unref(m->housekeeping);
        if (m->auth_fd >= 0)
                close(m->auth_fd);
        if (m->auth_path_bound) {
                (void) unlink(m->auth_path_bound);
                free(m->auth_path_bound);
        }
        if (m->userdb_fd >= 0)
                close(m->userdb_fd);
        if (m->userdb_path_bound) {
                (void) unlink(m->userdb_path_bound);
                free(m->userdb_path_bound);
        }
        neostra_config_free(m->config);
        free(m->config_path);
        free(m->reload.error);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static int load_user(struct user_record *u, void *userdata) {
        Manager *m = userdata;

        return user_table_insert(m->users, u);
}

/* Set-aside cache files (cache.h) older than offline_max_age go: at
 * start and every HOUSEKEEPING_USEC. */
static int on_housekeeping(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->cache)
                (void) cache_remove_set_aside(m->cache, (int64_t) (m->config->offline_max_age_ms / 1000u),
                                              now_wall());
        if (s && (sd_event_source_set_time_relative(s, HOUSEKEEPING_USEC) < 0 ||
                  sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0))
                log_msg(LOG_WARNING, "cannot schedule the removal of old set-aside cache files");
        return 0;
}

int manager_open_cache(Manager *m) {
        int r;

        r = cache_open(m->config->cache_directory, &m->cache);
        if (r < 0) {
                log_event(LOG_ERR, MESSAGE_ID_CACHE_UNUSABLE, NULL, "cannot use the cache in %s (%s): running "
                          "without one; offline logins and restarts lose what was learnt",
                          m->config->cache_directory, strerror(-r));
                m->cache = NULL;
                return 0;
        }
        writeback_set_cache(m->writeback, m->cache);
        /* The uids first: no user may be given one that is taken. */
        r = cache_load_uids(m->cache, uid_table_load, m->uids);
        if (r < 0)
                log_msg(LOG_ERR, "cannot read the uid assignments from the cache: %s", strerror(-r));
        r = cache_load(m->cache, load_user, m);
        if (r < 0)
                log_msg(LOG_ERR, "cannot read the cache: %s", strerror(-r));
        r = cache_load_groups(m->cache, userdb_load_group, m->userdb);
        if (r < 0)
                log_msg(LOG_ERR, "cannot read the group ids from the cache: %s", strerror(-r));
        log_msg(LOG_INFO, "cache %s/%s: %zu user(s), %zu uid(s) assigned", m->config->cache_directory,
                CACHE_FILE_NAME, user_table_size(m->users), uid_table_size(m->uids));
        (void) on_housekeeping(NULL, 0, m);
        if (sd_event_add_time_relative(m->event, &m->housekeeping, CLOCK_MONOTONIC, HOUSEKEEPING_USEC,
                                       60u * 1000000u, on_housekeeping, m) < 0)
                log_msg(LOG_WARNING, "cannot schedule the removal of old set-aside cache files");
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
        if (userdb_prepare_user(m->userdb, u) == 0 && u->uid != before)
                writeback_save(m->writeback, u, NULL);
}

int manager_prepare_identities(Manager *m) {
        int r;

        user_table_foreach(m->users, prepare_loaded_user, m);
        r = userdb_refresh_groups(m->userdb);
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
        log_event(LOG_INFO, MESSAGE_ID_DAEMON_READY, NULL, "neostrad %s ready; API %s", NEOSTRA_VERSION,
                  m->config->api_url ? m->config->api_url : "not configured");

        r = sd_event_loop(m->event);
        log_event(LOG_INFO, MESSAGE_ID_DAEMON_STOPPED, NULL, "neostrad stopped");
        return r;
}

void manager_test_parts(Manager *m, struct manager_test_parts *ret) {
        *ret = (struct manager_test_parts) {
                .event = m->event, .api = m->api, .localnames = m->localnames, .workers = m->workers,
                .auth_fd = m->auth_fd, .userdb_fd = m->userdb_fd,
        };
}

unsigned manager_test_connections(Manager *m) {
        struct varlink_server_stats auth, userdb;

        varlink_server_stats(m->auth_server, &auth);
        varlink_server_stats(m->userdb_server, &userdb);
        return auth.connections + userdb.connections;
}

bool manager_test_logins_pending(Manager *m) {
        return logins_pending(m->logins);
}

void manager_test_reset(Manager *m) {
        localnames_flush(m->localnames);
        ratelimit_reset(m->ratelimit);
        online_test_reset(m->online);
}

void manager_test_stop(Manager *m, void (*on_drained)(void *userdata), void *userdata) {
        varlink_server_stop(m->auth_server, on_drained, userdata);
        varlink_server_stop(m->userdb_server, on_drained, userdata);
}
