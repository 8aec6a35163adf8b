/* SPDX-License-Identifier: MIT */
/*
 * The daemon as a whole: it makes every part (manager.c lists them), wires
 * them together, and runs them.  Only neostrad.c and tests use it; no part
 * sees the Manager, each gets the parts it works with when it is made.
 */
#pragma once

#include <jansson.h>

#include "neostra/conf.h"

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

/* GetStatus's reply parameters: the daemon's figures. */
json_t *manager_status_json(Manager *m);
