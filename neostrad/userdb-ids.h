/* SPDX-License-Identifier: MIT */
/*
 * The identities neostrad publishes (userdb-ids.c): the UserDb object, the
 * stable uids and gids, which names are local, the [groups] names as they
 * resolve here, and first-login (provisional) records.  userdb.c answers
 * io.systemd.UserDatabase from them; the other parts of the daemon use
 * this header's functions through userdb.h.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "localnames.h"
#include "nss-park.h"
#include "uids.h"
#include "users.h"

/* One [groups] name as it resolves on this host. */
struct mapped_group {
        char *name;
        gid_t gid;
        bool published;         /* ours (stable gid), not a local group */
};

/* A published group's gid as the cache remembers it. */
struct group_id {
        char *name;
        gid_t gid;
};

/* How many provisional names (first_login) are remembered at most; the
 * oldest is forgotten first.  A forgotten reservation only costs its uid
 * being worked out again (the same hash, so almost always the same uid). */
#define USERDB_PROVISIONAL_MAX      1024u
/* How long a by-name lookup trusts its local-name check (microseconds). */
#define USERDB_LOCAL_CHECK_USEC     (30u * 1000000u)

/*
 * A name asked for by GetUserRecord/GetGroupRecord that the daemon has not
 * seen (first_login): the uid it is promised, or that it is local.  Never
 * stored on disk; userdb_prepare_user() hands the reserved uid to the user
 * at the first online success and forgets the entry.
 */
struct provisional {
        char *name;             /* NULL: free slot */
        uid_t uid;              /* reserved uid (= gid of the private group); 0 when local */
        bool local;             /* a local user or group has the name: never published */
        uint64_t checked_usec;  /* CLOCK_MONOTONIC of the local-name check */
        uint64_t seq;           /* creation order, for eviction */
};

typedef struct UserDb UserDb;

/* What the published identities are made of (borrowed; they outlive it). */
struct userdb_deps {
        struct neostra_config *const *config;   /* the manager's: a reload replaces it */
        struct user_table *users;
        LocalNames *localnames;
        NamesPark *park;
        Cache *const *cache;                    /* opened after the UserDb is made */
        UidTable *uids;                         /* the uids handed out (the cache's, loaded) */
};

int userdb_new(const struct userdb_deps *deps, UserDb **ret);
/* Also forgets the provisional reservations. */
UserDb *userdb_free(UserDb *db);

/* Remember a stored group assignment (cache_load_groups callback). */
int userdb_load_group(const char *name, gid_t gid, void *userdata);

/* Resolve every [groups] name: local, or published with a stable gid
 * (assigned and stored when new).  After the cache is loaded and on
 * every reload. */
int userdb_refresh_groups(UserDb *db);

/* Give u its stable uid if it has none yet (storing nothing: the caller
 * saves the user), and note whether a local name shadows it.  Returns 0
 * or a negative errno (no free id: the user is then not published). */
int userdb_prepare_user(UserDb *db, struct user_record *u);

/* The NSS answers userdb_prepare_user() will read for name (at most
 * USERDB_IDENTITY_KEYS_MAX, written to keys): its local user and group,
 * and the id it would be given.  Returns how many. */
#define USERDB_IDENTITY_KEYS_MAX 3u
size_t userdb_identity_keys(UserDb *db, const char *name, struct localnames_key *keys);

/* true and the gid when name is a [groups] group neostrad publishes. */
bool userdb_published_gid(UserDb *db, const char *name, gid_t *ret);

