/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor: checks the whole chain a login goes through (config,
 * daemon and its sockets, API, NSS, PAM stacks, cache) and prints one line
 * per check with what it found and the fix.  Never sends a password.
 */
#pragma once

#include <stdbool.h>

struct doctor_options {
        const char *config_path;        /* NULL: NEOSTRA_DEFAULT_CONFIG */
        const char *socket_path;        /* NULL: [daemon] socket of the config */
        bool json;
};

/* Runs every check and prints the report.  Returns the exit code: 0 when
 * nothing is wrong, 1 when a check failed, 4 when not run as root. */
int doctor_run(const struct doctor_options *o);
