/* SPDX-License-Identifier: MIT */
/*
 * What the installed systemd units say about neostrad's sandbox and
 * sockets, read the way systemd reads them: the first NAME found in the
 * unit directories, then NAME.d/ *.conf drop-ins of every directory in
 * lexical order of their names.  For `neostrad --test-config` and
 * `neostractl doctor`, never for running the daemon.
 *
 * The directories are $SYSTEMD_UNIT_PATH (colon-separated) when set, as
 * for systemd itself, else /etc/systemd/system, /run/systemd/system,
 * /usr/local/lib/systemd/system, /usr/lib/systemd/system and
 * /lib/systemd/system.
 */
#pragma once

#include <stdbool.h>

#include "neostra/conf.h"

enum unit_protect_system { PROTECT_SYSTEM_NO, PROTECT_SYSTEM_YES, PROTECT_SYSTEM_FULL, PROTECT_SYSTEM_STRICT };
enum unit_protect_home { PROTECT_HOME_NO, PROTECT_HOME_YES, PROTECT_HOME_READ_ONLY, PROTECT_HOME_TMPFS };

struct unit_file {
        char *path;                     /* the main file found */
        /* [Service] */
        enum unit_protect_system protect_system;
        enum unit_protect_home protect_home;
        bool private_tmp;
        struct neostra_strv read_write_paths;   /* absolute, "-"/"+" prefixes removed */
        struct neostra_strv inaccessible_paths;
        struct neostra_strv writable_dirs;      /* State/Cache/Logs/RuntimeDirectory=, made absolute */
        char *user;
        /* [Socket] */
        struct neostra_strv listen_stream;
};

/* 1 and *ret filled when NAME is installed, 0 when it is not, -errno on
 * an unreadable file. */
int unit_file_load(const char *name, struct unit_file *ret);
void unit_file_clear(struct unit_file *u);

/* Whether the service's sandbox hides PATH (ProtectHome=, PrivateTmp=,
 * InaccessiblePaths=): the daemon would see an empty directory or
 * nothing.  The setting to blame goes to *ret_why. */
bool unit_hides(const struct unit_file *u, const char *path, const char **ret_why);

/* Whether the daemon may write below PATH under the service's
 * ProtectSystem= and ProtectHome=. */
bool unit_writable(const struct unit_file *u, const char *path);
