/* SPDX-License-Identifier: MIT */
/*
 * systemd's io.systemd.UserDatabase on [daemon] userdb_socket (when
 * [identities] userdb = yes): the users the daemon knows (with a uid
 * assigned), their user-private groups, the role groups [groups] names
 * that do not exist locally, and the memberships the roles map to (local
 * groups such as sudo included).  Every answer comes from memory: a slow
 * userdb service stalls every lookup on the host (README, "Identities through userdb").
 * The NSS lookups needed to keep local names winning and to pick free ids
 * happen when a user is loaded or signs in and when the config is
 * (re)loaded, never while answering a query for a known name.  The one
 * exception is [identities] first_login: a by-name lookup of a name not
 * seen yet needs to know whether the name (and the uid it would get) is
 * local; those lookups run off the loop (localnames.h) while only that
 * query waits, and the result is kept in a bounded table (see struct
 * provisional), so a repeated lookup is answered from memory.
 */
#pragma once

#include <jansson.h>

#include "cache.h"
#include "localnames.h"
#include "nss-park.h"
#include "uids.h"
#include "users.h"
#include "varlink-server.h"

#define USERDB_SERVICE              "io.neostra"
#define USERDB_INTERFACE            "io.systemd.UserDatabase"
#define USERDB_ERROR_NO_RECORD      USERDB_INTERFACE ".NoRecordFound"
#define USERDB_ERROR_BAD_SERVICE    USERDB_INTERFACE ".BadService"
#define USERDB_ERROR_CONFLICT       USERDB_INTERFACE ".ConflictingRecordFound"
#define USERDB_ERROR_SERVICE_NOT_AVAILABLE USERDB_INTERFACE ".ServiceNotAvailable"
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"

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

/* The largest userdb reply: a group record lists its members in one
 * message, about 10 to 20 bytes each. */
#define USERDB_REPLY_MAX            (4u * 1024u * 1024u)

/* io.systemd.UserDatabase, registered with the UserDb as userdata. */
extern const struct varlink_interface userdb_interface;

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

