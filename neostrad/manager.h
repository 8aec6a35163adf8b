/* SPDX-License-Identifier: MIT */
/*
 * The daemon as a whole: it makes every part (manager.c lists them), wires
 * them together, and runs them.  Only neostrad.c and tests use it; no part
 * sees the Manager, each gets the parts it works with when it is made.
 */
#pragma once

#include <jansson.h>

#include "neostra/conf.h"
#include "api.h"
#include "localnames.h"
#include "worker.h"

typedef struct Manager Manager;

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

/* GetStatus's reply parameters: the daemon's figures; full: all of them
 * (root's), else only what tells nothing about anybody's logins. */
json_t *manager_status_json(Manager *m, bool full);

/* ---- tests that drive the daemon in-process (tests/fuzz/fuzz_server.c) ---- */

struct manager_test_parts {
        sd_event *event;
        Api *api;                       /* api_set_stub() */
        LocalNames *localnames;         /* localnames_set_lookup() */
        Workers *workers;
        int auth_fd, userdb_fd;         /* the listening sockets */
};
void manager_test_parts(Manager *m, struct manager_test_parts *ret);
/* Connections open on both sockets. */
unsigned manager_test_connections(Manager *m);
bool manager_test_logins_pending(Manager *m);
/* As after start: NSS answers forgotten, every uid's Authenticate budget
 * full, the API's state unknown with nothing probed. */
void manager_test_reset(Manager *m);
/* Stop both servers as SIGTERM does: on_drained(userdata) runs once per
 * server when its last connection is gone. */
void manager_test_stop(Manager *m, void (*on_drained)(void *userdata), void *userdata);
