/* SPDX-License-Identifier: MIT */
/*
 * The daemon's state: config, one sd-event loop, the io.neostra.Auth
 * Varlink server, the sign-in client and what we remember about users.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "neostra/conf.h"

typedef struct Manager Manager;

/* Takes ownership of config. */
int manager_new(const char *config_path, struct neostra_config *config, Manager **ret);
Manager *manager_free(Manager *m);

/* Take the listening socket from systemd (sd_listen_fds) or bind our own. */
int manager_listen(Manager *m);

/* Drop to [daemon] user when started as root (after manager_listen). */
int manager_drop_privileges(Manager *m);

/* Run the loop until SIGTERM/SIGINT has drained the connections. */
int manager_run(Manager *m);

static inline void manager_freep(Manager **m) { manager_free(*m); }
