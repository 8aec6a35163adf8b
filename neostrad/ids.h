/* SPDX-License-Identifier: MIT */
/*
 * Stable numeric ids for the identities neostrad publishes through userdb
 * (userdb-ids.c).  A user's uid is derived from its email, a published role
 * group's gid from the group's name: FNV-1a (64 bit) of the lowercased key,
 * reduced into [uid_min, uid_max].  An id already in use (by a local
 * account or group, or by another identity of ours) is skipped by linear
 * probing, wrapping around at uid_max.  The caller persists the result
 * (cache-users.c, cache-groups.c), so a later change of the local accounts
 * or of the probing order never moves an id that was handed out: a uid
 * owns files on disk.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* true when id must not be handed out. */
typedef bool (*ids_taken_fn)(uid_t id, void *userdata);

/* FNV-1a over the ASCII-lowercased key. */
uint64_t ids_hash(const char *key);

/* The first candidate for key in [min, max] (no probing). */
uid_t ids_candidate(const char *key, uid_t min, uid_t max);

/*
 * The first id from ids_candidate() on that taken() does not claim.
 * Returns 0 and *ret, -EINVAL for an empty range or key, or -ENOSPC when
 * every id in the range is taken.
 */
int ids_assign(const char *key, uid_t min, uid_t max, ids_taken_fn taken, void *userdata, uid_t *ret);

/* true when a local user has uid id or a local group has gid id (NSS;
 * the daemon's NSS never reaches its own userdb socket: neostrad.c sets
 * SYSTEMD_BYPASS_USERDB).  A failed lookup counts as taken: never hand out an id we
 * could not check. */
bool ids_local_id_taken(uid_t id);
