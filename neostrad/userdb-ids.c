/* SPDX-License-Identifier: MIT */
/*
 * The identities the userdb service publishes get their ids here (see
 * userdb.h): each user's stable uid (kept for good by its email, uids.h),
 * whether a local name shadows it, the provisional records of first_login,
 * and the [groups] names resolved to local groups or to published ones
 * with stable gids.  The NSS lookups this needs happen when a user is
 * loaded or signs in and when the config is (re)loaded, never while
 * answering a query for a known name (userdb.c).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "ids.h"
#include "log.h"
#include "userdb-ids-internal.h"

int userdb_new(const struct userdb_deps *deps, UserDb **ret) {
        UserDb *db = calloc(1, sizeof(*db));

        if (!db)
                return -ENOMEM;
        *db = (UserDb) { .config = deps->config, .users = deps->users, .localnames = deps->localnames,
                         .park = deps->park, .cache = deps->cache, .uids = deps->uids };
        *ret = db;
        return 0;
}

/* ---- identities: ids and local names (NSS; never while answering) ------- */

static bool name_is_local(UserDb *db, const char *name) {
        uid_t uid;
        gid_t gid;

        return localnames_user(db->localnames, name, &uid) > 0 ||
               localnames_group(db->localnames, name, &gid) > 0;
}

struct taken_ctx {
        UserDb *db;
        const struct user_record *self;
        const char *self_name;          /* its own reservation does not count */
        const char *self_email;         /* nor its own assignment */
};

/* An id is free when no local account or group has it and none of ours,
 * not even one given to a user forgotten since (uids.h). */
static bool id_taken(uid_t id, void *userdata) {
        struct taken_ctx *ctx = userdata;

        if (uid_table_taken(ctx->db->uids, id, ctx->self_email))
                return true;

        for (size_t i = 0; i < ctx->db->n_group_ids; i++)
                if (ctx->db->group_ids[i].gid == id)
                        return true;
        for (size_t i = 0; ctx->db->provisional && i < USERDB_PROVISIONAL_MAX; i++) {
                const struct provisional *p = &ctx->db->provisional[i];

                if (p->name && p->uid == id && !(ctx->self_name && strcmp(p->name, ctx->self_name) == 0))
                        return true;
        }
        return user_table_uid_used(ctx->db->users, id, ctx->self) || localnames_id_taken(ctx->db->localnames, id);
}

/* The uid email was given before (uids.h), when no other record of ours
 * has it now (self: u, or NULL); else 0. */
static uid_t assigned_uid(UserDb *db, const char *email, const struct user_record *self) {
        uid_t uid = email && *email ? uid_table_get(db->uids, email) : 0;

        return uid != 0 && !user_table_uid_used(db->users, uid, self) ? uid : 0;
}

/* An assignment is for good: in memory and, at once, in the cache. */
static void remember_uid(UserDb *db, const char *email, uid_t uid) {
        int r;

        if (!email || !*email || uid_table_get(db->uids, email) == uid)
                return;
        r = uid_table_add(db->uids, email, uid);
        if (r == 0 && *db->cache)
                r = cache_put_uid(*db->cache, email, uid);
        if (r < 0 && r != -EEXIST)
                log_msg(LOG_ERR, "cannot keep the assignment of uid %u: %s", (unsigned) uid, strerror(-r));
}

/* ---- first_login: provisional records ------------------------------------- */

static uint64_t now_mono_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static struct provisional *provisional_find(UserDb *db, const char *name) {
        for (size_t i = 0; db->provisional && i < USERDB_PROVISIONAL_MAX; i++)
                if (db->provisional[i].name && strcmp(db->provisional[i].name, name) == 0)
                        return &db->provisional[i];
        return NULL;
}

static void provisional_drop(struct provisional *p) {
        free(p->name);
        *p = (struct provisional) {};
}

static void provisional_clear(UserDb *db) {
        for (size_t i = 0; db->provisional && i < USERDB_PROVISIONAL_MAX; i++)
                provisional_drop(&db->provisional[i]);
}

/* A free slot, or the oldest entry's (dropped). */
static struct provisional *provisional_slot(UserDb *db) {
        struct provisional *oldest = NULL;

        if (!db->provisional) {
                db->provisional = calloc(USERDB_PROVISIONAL_MAX, sizeof(*db->provisional));
                if (!db->provisional)
                        return NULL;
        }
        for (size_t i = 0; i < USERDB_PROVISIONAL_MAX; i++) {
                struct provisional *p = &db->provisional[i];

                if (!p->name)
                        return p;
                if (!oldest || p->seq < oldest->seq)
                        oldest = p;
        }
        provisional_drop(oldest);
        return oldest;
}

/* The reserved uid for a provisional name (a reservation not yet used). */
const struct provisional *userdb_provisional_by_uid(UserDb *db, uid_t uid) {
        if (!userdb_cfg(db)->first_login || uid == 0)
                return NULL;
        for (size_t i = 0; db->provisional && i < USERDB_PROVISIONAL_MAX; i++) {
                const struct provisional *p = &db->provisional[i];

                if (p->name && !p->local && p->uid == uid)
                        return p;
        }
        return NULL;
}

static bool provisional_eligible(UserDb *db, const char *name) {
        return userdb_cfg(db)->first_login && !user_table_get(db->users, name) && neostra_valid_login_name(name) &&
               !neostra_user_excluded(userdb_cfg(db), name) && !userdb_find_mapped(db, name);
}

/* userdb_provisional_lookup() of name would look at local names now. */
bool userdb_provisional_check_due(UserDb *db, const char *name) {
        const struct provisional *p;

        if (!provisional_eligible(db, name))
                return false;
        p = provisional_find(db, name);
        return !(p && now_mono_usec() - p->checked_usec < USERDB_LOCAL_CHECK_USEC);
}

/*
 * The provisional record for a name the daemon has not seen, or NULL when
 * there is none: first_login off, a known user (its own record answers),
 * not a name we would send to the API (invalid, excluded, no email), a
 * [groups] name, or a local user or group name.  Everything but the local
 * check is memory only; that check (NSS, local sources only: the daemon
 * never asks its own socket; looked up off the loop before the query gets here, see
 * method_lookup()) and the uid probing run once per name and are
 * remembered for USERDB_LOCAL_CHECK_USEC; the uid, once reserved, never
 * changes while the entry lives.
 */
const struct provisional *userdb_provisional_lookup(UserDb *db, const char *name) {
        struct provisional *p;
        uint64_t now = now_mono_usec();
        char *email = NULL, *copy = NULL;
        uid_t uid = 0;
        bool local;
        int r;

        if (!provisional_eligible(db, name))
                return NULL;
        p = provisional_find(db, name);
        if (p && now - p->checked_usec < USERDB_LOCAL_CHECK_USEC)
                return p->local ? NULL : p;
        if (neostra_email_for_user(userdb_cfg(db), name, &email) < 0)
                return NULL;

        local = name_is_local(db, name);
        if (!local && !(p && p->uid != 0) && (uid = assigned_uid(db, email, NULL)) == 0) {
                struct taken_ctx ctx = { db, NULL, name, email };

                r = ids_assign(email, userdb_cfg(db)->uid_min, userdb_cfg(db)->uid_max, id_taken, &ctx, &uid);
                if (r < 0) {
                        log_msg(LOG_ERR, "no free uid in [%u, %u] for a first login of %s: %s",
                                (unsigned) userdb_cfg(db)->uid_min, (unsigned) userdb_cfg(db)->uid_max, name,
                                strerror(-r));
                        free(email);
                        return NULL;
                }
        }
        free(email);
        if (!p) {
                copy = strdup(name);
                p = copy ? provisional_slot(db) : NULL;
                if (!p) {
                        free(copy);
                        return NULL;
                }
                *p = (struct provisional) { .name = copy, .seq = ++db->provisional_seq };
        }
        if (uid != 0)
                p->uid = uid;
        p->local = local;
        p->checked_usec = now;
        return p->local ? NULL : p;
}

size_t userdb_identity_keys(UserDb *db, const char *name, struct localnames_key *keys) {
        const struct user_record *u = user_table_get(db->users, name);
        const struct provisional *p = provisional_find(db, name);
        uid_t min = userdb_cfg(db)->uid_min, max = userdb_cfg(db)->uid_max;
        char *email = NULL;
        size_t n = 0;

        keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_USER, .name = name };
        keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_GROUP, .name = name };
        if (u && u->uid != 0)
                return n;
        if (!(u && u->email && *u->email) && neostra_email_for_user(userdb_cfg(db), name, &email) < 0)
                email = NULL;
        /* The first id ids_assign() would try; probing past it (a
         * collision) looks up on the loop.  A uid given before is not
         * looked up at all: it is the user's. */
        if (assigned_uid(db, u && u->email && *u->email ? u->email : email, u) != 0)
                ;
        else if (p && !p->local && p->uid != 0)
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN, .id = p->uid };
        else if (u && u->email && *u->email)
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN,
                                                      .id = ids_candidate(u->email, min, max) };
        else if (email)
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN,
                                                      .id = ids_candidate(email, min, max) };
        free(email);
        return n;
}

int userdb_prepare_user(UserDb *db, struct user_record *u) {
        struct taken_ctx ctx = { db, u, u->name, u->email };
        struct provisional *p = provisional_find(db, u->name);
        uid_t reserved = p && !p->local ? p->uid : 0;
        bool local;
        uid_t uid;
        int r;

        /* The record answers for the name from now on; the reservation,
         * if any, is used below or not at all. */
        if (p)
                provisional_drop(p);

        local = name_is_local(db, u->name);
        if (local && !u->local_conflict)
                log_msg(LOG_WARNING, "Neostra user %s has the name of a local user or group; "
                        "the local one wins and %s is not published through userdb", u->name, u->name);
        u->local_conflict = local;

        if (!u->email || !*u->email)
                return 0;
        if (u->uid != 0) {
                /* A row written before the uids table, or whose
                 * assignment was not stored: it is stored now. */
                remember_uid(db, u->email, u->uid);
                return 0;
        }
        /* The uid the email had before (a user forgotten by neostractl
         * clear, signing in again): its files are still its own. */
        uid = assigned_uid(db, u->email, u);
        if (uid != 0) {
                user_table_set_uid(db->users, u, uid);
                log_msg(LOG_INFO, "assigned uid %u to %s (its uid from before)", (unsigned) uid, u->name);
                return 0;
        }
        /* The uid a first-login lookup promised, unless meanwhile someone
         * else has it (a local account made since). */
        if (reserved != 0 && !id_taken(reserved, &ctx)) {
                user_table_set_uid(db->users, u, reserved);
                remember_uid(db, u->email, reserved);
                log_msg(LOG_INFO, "assigned uid %u to %s (as reserved at its first lookup)",
                        (unsigned) reserved, u->name);
                return 0;
        }
        r = ids_assign(u->email, userdb_cfg(db)->uid_min, userdb_cfg(db)->uid_max, id_taken, &ctx, &uid);
        if (r < 0) {
                log_msg(LOG_ERR, "no free uid in [%u, %u] for %s: %s", (unsigned) userdb_cfg(db)->uid_min,
                        (unsigned) userdb_cfg(db)->uid_max, u->name, strerror(-r));
                return r;
        }
        user_table_set_uid(db->users, u, uid);
        remember_uid(db, u->email, uid);
        log_msg(LOG_INFO, "assigned uid %u to %s", (unsigned) uid, u->name);
        return 0;
}

static struct group_id *find_group_id(UserDb *db, const char *name) {
        for (size_t i = 0; i < db->n_group_ids; i++)
                if (strcmp(db->group_ids[i].name, name) == 0)
                        return &db->group_ids[i];
        return NULL;
}

int userdb_load_group(const char *name, gid_t gid, void *userdata) {
        UserDb *db = userdata;
        struct group_id *a;
        char *copy;

        if (find_group_id(db, name))
                return 0;
        copy = strdup(name);
        a = copy ? realloc(db->group_ids, (db->n_group_ids + 1) * sizeof(*a)) : NULL;
        if (!a) {
                free(copy);
                return -ENOMEM;
        }
        db->group_ids = a;
        db->group_ids[db->n_group_ids++] = (struct group_id) { .name = copy, .gid = gid };
        return 0;
}

static void free_mapped(UserDb *db) {
        for (size_t i = 0; i < db->n_mapped; i++)
                free(db->mapped[i].name);
        free(db->mapped);
        db->mapped = NULL;
        db->n_mapped = 0;
}

UserDb *userdb_free(UserDb *db) {
        if (!db)
                return NULL;
        provisional_clear(db);
        free(db->provisional);
        db->provisional = NULL;
        free_mapped(db);
        for (size_t i = 0; i < db->n_group_ids; i++)
                free(db->group_ids[i].name);
        free(db->group_ids);
        free(db);
        return NULL;
}

static int add_mapped(UserDb *db, const char *name, gid_t gid, bool published) {
        struct mapped_group *a;
        char *copy;

        for (size_t i = 0; i < db->n_mapped; i++)
                if (strcmp(db->mapped[i].name, name) == 0)
                        return 0;
        copy = strdup(name);
        a = copy ? realloc(db->mapped, (db->n_mapped + 1) * sizeof(*a)) : NULL;
        if (!a) {
                free(copy);
                return -ENOMEM;
        }
        db->mapped = a;
        db->mapped[db->n_mapped++] = (struct mapped_group) { .name = copy, .gid = gid, .published = published };
        return 0;
}

static int resolve_group(UserDb *db, const char *name) {
        struct taken_ctx ctx = { db, NULL, NULL, NULL };
        struct group gr, *grr = NULL;
        struct group_id *a;
        char buf[16384];
        gid_t gid;
        int r;

        if (getgrnam_r(name, &gr, buf, sizeof(buf), &grr) == 0 && grr) {
                /* Local wins; the root group is never handed out. */
                if (grr->gr_gid == 0)
                        return 0;
                return add_mapped(db, name, grr->gr_gid, false);
        }
        if (!neostra_valid_unix_name(name)) {
                log_msg(LOG_WARNING, "[groups] names '%s', which is not a valid group name; not published", name);
                return 0;
        }
        a = find_group_id(db, name);
        if (a)
                return add_mapped(db, name, a->gid, true);

        r = ids_assign(name, userdb_cfg(db)->uid_min, userdb_cfg(db)->uid_max, id_taken, &ctx, &gid);
        if (r < 0) {
                log_msg(LOG_ERR, "no free gid in [%u, %u] for group %s: %s", (unsigned) userdb_cfg(db)->uid_min,
                        (unsigned) userdb_cfg(db)->uid_max, name, strerror(-r));
                return 0;
        }
        r = userdb_load_group(name, gid, db);
        if (r < 0)
                return r;
        if ((*db->cache) && (r = cache_put_group((*db->cache), name, gid)) < 0)
                log_msg(LOG_ERR, "cannot store the gid of group %s: %s", name, strerror(-r));
        log_msg(LOG_INFO, "assigned gid %u to group %s", (unsigned) gid, name);
        return add_mapped(db, name, gid, true);
}

int userdb_refresh_groups(UserDb *db) {
        int r = 0;

        /* A reload may change the uid range, [groups] or the policy: a
         * reservation is only ever a promise made under the current one. */
        provisional_clear(db);
        free_mapped(db);
        for (size_t i = 0; r >= 0 && i < userdb_cfg(db)->n_groups; i++)
                for (size_t j = 0; r >= 0 && j < userdb_cfg(db)->groups[i].groups.n; j++)
                        r = resolve_group(db, userdb_cfg(db)->groups[i].groups.v[j]);
        return r;
}

const struct mapped_group *userdb_find_mapped(UserDb *db, const char *name) {
        for (size_t i = 0; i < db->n_mapped; i++)
                if (strcmp(db->mapped[i].name, name) == 0)
                        return &db->mapped[i];
        return NULL;
}

bool userdb_published_gid(UserDb *db, const char *name, gid_t *ret) {
        const struct mapped_group *g = userdb_find_mapped(db, name);

        if (!g || !g->published)
                return false;
        *ret = g->gid;
        return true;
}
