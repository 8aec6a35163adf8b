/* SPDX-License-Identifier: MIT */
/*
 * What the two files of the userdb service share and nothing else sees:
 * the UserDb object.  userdb-ids.c gives the identities their ids (NSS,
 * never while answering a query): uids and gids, local names, the
 * provisional records of first_login and the [groups] names as they
 * resolve here; userdb.c answers io.systemd.UserDatabase from memory.
 * userdb.h stays the one public header.
 */
#pragma once

#include "userdb.h"

struct UserDb {
        struct neostra_config *const *config;   /* the manager's: a reload replaces it */
        struct user_table *users;
        LocalNames *localnames;
        NamesPark *park;
        Cache *const *cache;                    /* NULL inside: running without one */
        UidTable *uids;                         /* every uid handed out, for good */
        struct group_id *group_ids;     /* published groups' gids, as stored */
        size_t n_group_ids;
        struct mapped_group *mapped;    /* [groups] names as they resolve here */
        size_t n_mapped;
        struct provisional *provisional; /* first_login reservations, USERDB_PROVISIONAL_MAX slots */
        uint64_t provisional_seq;
        struct userdb_stats stats;
};

static inline const struct neostra_config *userdb_cfg(const UserDb *db) {
        return *db->config;
}

/* The [groups] name as it resolves here, NULL when [groups] has none. */
const struct mapped_group *userdb_find_mapped(UserDb *db, const char *name);

/* first_login (userdb-ids.c): the provisional record for a name the daemon
 * has not seen, or NULL; the one reserved for a uid; whether a lookup of
 * name would look at local names now (then it parks first). */
const struct provisional *userdb_provisional_lookup(UserDb *db, const char *name);
const struct provisional *userdb_provisional_by_uid(UserDb *db, uid_t uid);
bool userdb_provisional_check_due(UserDb *db, const char *name);
