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

#include "userdb-ids.h"
#include "varlink-server.h"

#define USERDB_SERVICE              "io.neostra"
#define USERDB_INTERFACE            "io.systemd.UserDatabase"
#define USERDB_ERROR_NO_RECORD      USERDB_INTERFACE ".NoRecordFound"
#define USERDB_ERROR_BAD_SERVICE    USERDB_INTERFACE ".BadService"
#define USERDB_ERROR_CONFLICT       USERDB_INTERFACE ".ConflictingRecordFound"
#define USERDB_ERROR_SERVICE_NOT_AVAILABLE USERDB_INTERFACE ".ServiceNotAvailable"
#define VARLINK_ERROR_EXPECTED_MORE "org.varlink.service.ExpectedMore"

/* The largest userdb reply: a group record lists its members in one
 * message, about 10 to 20 bytes each. */
#define USERDB_REPLY_MAX            (4u * 1024u * 1024u)

/* Whether userdb serves u's record and, while its access is valid, its
 * memberships (nss-systemd then shows its role groups to initgroups, id
 * and sudo); false for a local account, a user without a uid, a
 * deprovisioned one, and with [identities] userdb = no. */
bool userdb_publishes_user(UserDb *db, const struct user_record *u);

/* io.systemd.UserDatabase, registered with the UserDb as userdata. */
extern const struct varlink_interface userdb_interface;

/* The calls it has had, answered or refused. */
struct userdb_stats {
        uint64_t user_records;          /* GetUserRecord */
        uint64_t group_records;         /* GetGroupRecord */
        uint64_t memberships;           /* GetMemberships */
};
void userdb_stats(const UserDb *db, struct userdb_stats *ret);

