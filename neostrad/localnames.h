/* SPDX-License-Identifier: MIT */
/*
 * Local users and groups (NSS), as the daemon asks about them on every
 * login: is the name a local (system) account, is it a local user or group
 * (local names win over published ones), which gid has a mapped group.
 * A login asks up to four times, and on Debian every lookup walks
 * nss-systemd's drop-in directories and re-reads /etc/passwd or /etc/group:
 * about a quarter of the daemon's CPU per login (make bench, perf).
 *
 * Answers are kept per name for LOCALNAMES_TTL_USEC, in a small table
 * (direct-mapped: a collision evicts), and dropped at reload, invalidate
 * and clear.  A local account made meanwhile is seen within that time;
 * the PAM module, which decides before any password leaves the login
 * process, asks NSS itself every time.  Failures are never kept.
 * Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LOCALNAMES_TTL_USEC (2u * 1000000u)

typedef struct LocalNames LocalNames;

int localnames_new(LocalNames **ret);
LocalNames *localnames_free(LocalNames *l);

/* Forget every answer. */
void localnames_flush(LocalNames *l);

/* getpwnam: 1 found (*ret_uid), 0 not found, <0 cannot tell. */
int localnames_user(LocalNames *l, const char *name, uid_t *ret_uid);

/* getgrnam: 1 found (*ret_gid), 0 not found, <0 cannot tell. */
int localnames_group(LocalNames *l, const char *name, gid_t *ret_gid);
