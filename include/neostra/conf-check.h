/* SPDX-License-Identifier: MIT */
/*
 * `neostrad --test-config`: what in a config that loads would still stop
 * or cripple the daemon or the PAM module on this host (its users, files,
 * directories, and the installed systemd units).  One line per finding:
 *
 *   FILE[:LINE]: error: MESSAGE; FIX
 *   FILE[:LINE]: warning [NAME]: MESSAGE; FIX
 *
 * LINE is where the key was set; without one the value is the default.
 * Errors are what makes the daemon stop, ignore a setting or refuse every
 * login; warnings (named, so a script can allow some) what works, but not
 * as the admin most likely meant.
 */
#pragma once

#include <stdio.h>

#include "neostra/conf.h"

struct conf_check_result {
        unsigned errors;
        unsigned warnings;
};

void neostra_conf_check(const struct neostra_config *c, FILE *out, struct conf_check_result *ret);
