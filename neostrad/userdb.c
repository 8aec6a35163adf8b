/* SPDX-License-Identifier: MIT */
/*
 * io.systemd.UserDatabase for the identities neostrad publishes (see
 * userdb.h), as systemd's USER_GROUP_API, USER_RECORD and GROUP_RECORD
 * documents define it:
 *   - GetUserRecord / GetGroupRecord by uid/gid, by name, both (they must
 *     name the same record, else ConflictingRecordFound), or neither: an
 *     enumeration, which needs "more" (else ExpectedMore) and answers each
 *     record but the last with "continues": true;
 *   - GetMemberships with userName and/or groupName, pairs of names;
 *   - "service" must be "io.neostra" (BadService otherwise), nothing
 *     matching is NoRecordFound, unknown parameters are ignored.
 * Every record says "service": nss-systemd on a host without systemd as
 * PID 1 queries the socket directly and needs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "ids.h"
#include "log.h"
#include "nss-park.h"
#include "neostra/protocol.h"
#include "neostra/varlink.h"
#include "userdb.h"

struct UserDb {
        struct neostra_config *const *config;   /* the manager's: a reload replaces it */
        struct user_table *users;
        LocalNames *localnames;
        NamesPark *park;
        Cache *const *cache;                    /* NULL inside: running without one */
        struct group_id *group_ids;     /* published groups' gids, as stored */
        size_t n_group_ids;
        struct mapped_group *mapped;    /* [groups] names as they resolve here */
        size_t n_mapped;
        struct provisional *provisional; /* first_login reservations, USERDB_PROVISIONAL_MAX slots */
        uint64_t provisional_seq;
};

static const struct neostra_config *cfg(const UserDb *db) {
        return *db->config;
}

int userdb_new(const struct userdb_deps *deps, UserDb **ret) {
        UserDb *db = calloc(1, sizeof(*db));

        if (!db)
                return -ENOMEM;
        *db = (UserDb) { .config = deps->config, .users = deps->users, .localnames = deps->localnames,
                         .park = deps->park, .cache = deps->cache };
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
};

/* An id is free when no local account or group has it and none of ours. */
static bool id_taken(uid_t id, void *userdata) {
        struct taken_ctx *ctx = userdata;

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

static const struct mapped_group *find_mapped(UserDb *db, const char *name);

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
static const struct provisional *provisional_by_uid(UserDb *db, uid_t uid) {
        if (!cfg(db)->first_login || uid == 0)
                return NULL;
        for (size_t i = 0; db->provisional && i < USERDB_PROVISIONAL_MAX; i++) {
                const struct provisional *p = &db->provisional[i];

                if (p->name && !p->local && p->uid == uid)
                        return p;
        }
        return NULL;
}

static bool provisional_eligible(UserDb *db, const char *name) {
        return cfg(db)->first_login && !user_table_get(db->users, name) && neostra_valid_login_name(name) &&
               !neostra_user_excluded(cfg(db), name) && !find_mapped(db, name);
}

/* provisional_lookup() of name would look at local names now. */
static bool provisional_check_due(UserDb *db, const char *name) {
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
static const struct provisional *provisional_lookup(UserDb *db, const char *name) {
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
        if (neostra_email_for_user(cfg(db), name, &email) < 0)
                return NULL;

        local = name_is_local(db, name);
        if (!local && !(p && p->uid != 0)) {
                struct taken_ctx ctx = { db, NULL, name };

                r = ids_assign(email, cfg(db)->uid_min, cfg(db)->uid_max, id_taken, &ctx, &uid);
                if (r < 0) {
                        log_msg(LOG_ERR, "no free uid in [%u, %u] for a first login of %s: %s",
                                (unsigned) cfg(db)->uid_min, (unsigned) cfg(db)->uid_max, name,
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
        uid_t min = cfg(db)->uid_min, max = cfg(db)->uid_max;
        char *email = NULL;
        size_t n = 0;

        keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_USER, .name = name };
        keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_GROUP, .name = name };
        if (u && u->uid != 0)
                return n;
        /* The first id ids_assign() would try; probing past it (a
         * collision) looks up on the loop. */
        if (p && !p->local && p->uid != 0)
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN, .id = p->uid };
        else if (u && u->email && *u->email)
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN,
                                                      .id = ids_candidate(u->email, min, max) };
        else if (neostra_email_for_user(cfg(db), name, &email) >= 0) {
                keys[n++] = (struct localnames_key) { .kind = LOCALNAMES_ID_TAKEN,
                                                      .id = ids_candidate(email, min, max) };
                free(email);
        }
        return n;
}

int userdb_prepare_user(UserDb *db, struct user_record *u) {
        struct taken_ctx ctx = { db, u, u->name };
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

        if (u->uid != 0 || !u->email || !*u->email)
                return 0;
        /* The uid a first-login lookup promised, unless meanwhile someone
         * else has it (a local account made since). */
        if (reserved != 0 && !id_taken(reserved, &ctx)) {
                user_table_set_uid(db->users, u, reserved);
                log_msg(LOG_INFO, "assigned uid %u to %s (as reserved at its first lookup)",
                        (unsigned) reserved, u->name);
                return 0;
        }
        r = ids_assign(u->email, cfg(db)->uid_min, cfg(db)->uid_max, id_taken, &ctx, &uid);
        if (r < 0) {
                log_msg(LOG_ERR, "no free uid in [%u, %u] for %s: %s", (unsigned) cfg(db)->uid_min,
                        (unsigned) cfg(db)->uid_max, u->name, strerror(-r));
                return r;
        }
        user_table_set_uid(db->users, u, uid);
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
        struct taken_ctx ctx = { db, NULL, NULL };
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

        r = ids_assign(name, cfg(db)->uid_min, cfg(db)->uid_max, id_taken, &ctx, &gid);
        if (r < 0) {
                log_msg(LOG_ERR, "no free gid in [%u, %u] for group %s: %s", (unsigned) cfg(db)->uid_min,
                        (unsigned) cfg(db)->uid_max, name, strerror(-r));
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
        for (size_t i = 0; r >= 0 && i < cfg(db)->n_groups; i++)
                for (size_t j = 0; r >= 0 && j < cfg(db)->groups[i].groups.n; j++)
                        r = resolve_group(db, cfg(db)->groups[i].groups.v[j]);
        return r;
}

/* ---- records (memory only) ----------------------------------------------- */

static bool published_user(const struct user_record *u) {
        return u->uid != 0 && !u->local_conflict;
}

static const struct mapped_group *find_mapped(UserDb *db, const char *name) {
        for (size_t i = 0; i < db->n_mapped; i++)
                if (strcmp(db->mapped[i].name, name) == 0)
                        return &db->mapped[i];
        return NULL;
}

bool userdb_published_gid(UserDb *db, const char *name, gid_t *ret) {
        const struct mapped_group *g = find_mapped(db, name);

        if (!g || !g->published)
                return false;
        *ret = g->gid;
        return true;
}

/* The names of the groups u's roles map to that resolve on this host. */
static json_t *member_of(UserDb *db, const struct user_record *u) {
        struct neostra_strv names = {};
        json_t *a = json_array();

        if (!a || neostra_groups_for_roles(cfg(db), (const char *const *) user_roles(u), user_n_roles(u),
                                           &names) < 0) {
                json_decref(a);
                return NULL;
        }
        for (size_t i = 0; i < names.n; i++)
                if (find_mapped(db, names.v[i]))
                        json_array_append_new(a, json_string(names.v[i]));
        free(names.v);
        return a;
}

static bool is_member(UserDb *db, const struct user_record *u, const char *group) {
        struct neostra_strv names = {};
        bool found = false;

        if (neostra_groups_for_roles(cfg(db), (const char *const *) user_roles(u), user_n_roles(u),
                                     &names) < 0)
                return false;
        for (size_t i = 0; i < names.n && !found; i++)
                found = strcmp(names.v[i], group) == 0;
        free(names.v);
        return found;
}

static json_t *user_json(UserDb *db, const struct user_record *u) {
        char *home = NULL;
        json_t *rec;

        if (neostra_home_for_user(cfg(db), u->name, &home) < 0)
                return NULL;
        /* No password fields at all: the password is checked by PAM. */
        rec = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:o}",
                        "userName", u->name,
                        "uid", (json_int_t) u->uid,
                        "gid", (json_int_t) u->uid,
                        "realName", u->name,
                        "homeDirectory", home,
                        "shell", cfg(db)->shell,
                        "disposition", "regular",
                        "service", USERDB_SERVICE,
                        "memberOf", member_of(db, u));
        free(home);
        return rec;
}

static json_t *group_json(const char *name, gid_t gid, json_t *members) {
        json_t *rec = json_pack("{s:s, s:I, s:s, s:s}", "groupName", name, "gid", (json_int_t) gid,
                                "disposition", "regular", "service", USERDB_SERVICE);

        if (rec && members)
                json_object_set_new(rec, "members", members);
        else
                json_decref(members);
        return rec;
}

/* ---- queries --------------------------------------------------------------- */

/*
 * One lookup, and for an enumeration where it has got to.  Records are
 * built as the client reads them: results holds those of the current step
 * (a by-name or by-id lookup has one step), then each user of the uid
 * snapshot taken when the enumeration began adds its own, so a 100,000-user
 * enumeration never holds more than one user's records in memory.
 */
struct query {
        UserDb *db;
        bool has_id;
        uid_t id;
        const char *name;       /* userName / groupName (the call's: valid until its answer) */
        const char *other;      /* GetMemberships: groupName */
        json_t *results;        /* array of reply parameters, from next */
        size_t next;
        bool conflict;
        /* enumeration */
        void (*per_user)(struct user_record *u, void *userdata);
        uid_t *uids;            /* the users to visit */
        size_t n_uids, at;
        json_t *ahead;          /* the record after the one being sent */
        bool first_login;       /* the caller is one a first login asks through */
};

static void add_result(struct query *q, json_t *params) {
        if (params)
                json_array_append_new(q->results, params);
}

/* Does the record (id, name) answer the query?  A query by id and name
 * together that names two different records is a conflict, remembered
 * in q and answered as ConflictingRecordFound. */
static bool query_matches(struct query *q, uid_t id, const char *name) {
        bool by_id = q->has_id && id == q->id;
        bool by_name = q->name && strcmp(name, q->name) == 0;

        if (q->has_id && q->name && by_id != by_name) {
                q->conflict = true;
                return false;
        }
        return (!q->has_id || by_id) && (!q->name || by_name);
}

static void collect_user(struct user_record *u, void *userdata) {
        struct query *q = userdata;

        if (!published_user(u) || !query_matches(q, u->uid, u->name))
                return;
        add_result(q, json_pack("{s:o, s:b}", "record", user_json(q->db, u), "incomplete", false));
}

static void collect_private_group(struct user_record *u, void *userdata) {
        struct query *q = userdata;

        /* A [groups] name we publish wins over a user's private group. */
        if (!published_user(u) || find_mapped(q->db, u->name) || !query_matches(q, u->uid, u->name))
                return;
        add_result(q, json_pack("{s:o, s:b}", "record", group_json(u->name, u->uid, NULL),
                                "incomplete", false));
}

/* first_login: a by-name or by-id lookup nothing else answered may be a
 * provisional user or its private group (never enumerated, no
 * memberships: no roles are known before the first login). */
static void collect_provisional(struct query *q, bool user) {
        const struct provisional *p;
        json_t *rec;

        if (!q->first_login || json_array_size(q->results) > 0 || q->conflict)
                return;
        p = q->name ? provisional_lookup(q->db, q->name) : provisional_by_uid(q->db, q->id);
        if (!p || !query_matches(q, p->uid, p->name))
                return;
        if (user) {
                struct user_record tmp = { .name = p->name, .uid = p->uid };

                rec = user_json(q->db, &tmp);
                if (rec)
                        json_object_del(rec, "memberOf");
        } else
                rec = group_json(p->name, p->uid, NULL);
        if (rec)
                add_result(q, json_pack("{s:o, s:b}", "record", rec, "incomplete", false));
}

struct members_ctx {
        UserDb *db;
        const char *group;
        json_t *members;
};

static void collect_member(struct user_record *u, void *userdata) {
        struct members_ctx *ctx = userdata;

        if (published_user(u) && is_member(ctx->db, u, ctx->group))
                json_array_append_new(ctx->members, json_string(u->name));
}

static void collect_role_groups(struct query *q) {
        for (size_t i = 0; i < q->db->n_mapped; i++) {
                const struct mapped_group *g = &q->db->mapped[i];
                struct members_ctx ctx = { q->db, g->name, NULL };

                if (!g->published || !query_matches(q, g->gid, g->name))
                        continue;
                ctx.members = json_array();
                if (!ctx.members)
                        continue;
                user_table_foreach(q->db->users, collect_member, &ctx);
                add_result(q, json_pack("{s:o, s:b}", "record", group_json(g->name, g->gid, ctx.members),
                                        "incomplete", false));
        }
}

static void collect_memberships(struct user_record *u, void *userdata) {
        struct query *q = userdata;
        struct neostra_strv names = {};

        if (!published_user(u) || (q->name && strcmp(u->name, q->name) != 0))
                return;
        if (neostra_groups_for_roles(cfg(q->db), (const char *const *) user_roles(u), user_n_roles(u),
                                     &names) < 0)
                return;
        for (size_t i = 0; i < names.n; i++) {
                if (!find_mapped(q->db, names.v[i]) || (q->other && strcmp(names.v[i], q->other) != 0))
                        continue;
                add_result(q, json_pack("{s:s, s:s}", "userName", u->name, "groupName", names.v[i]));
        }
        free(names.v);
}

/* Visit the records a user or private-group query can match by name
 * and/or by id through the indexes (both when both are given, so a pair
 * naming two records is still seen as a conflict). */
static void users_matching(struct query *q, void (*cb)(struct user_record *u, void *userdata)) {
        struct user_record *by_name = q->name ? user_table_get(q->db->users, q->name) : NULL;
        struct user_record *by_id = q->has_id ? user_table_get_by_uid(q->db->users, q->id) : NULL;

        if (by_name)
                cb(by_name, q);
        if (by_id && by_id != by_name)
                cb(by_id, q);
}

struct uids_ctx {
        uid_t *v;
        size_t n, max;
};

static void snapshot_uid(struct user_record *u, void *userdata) {
        struct uids_ctx *ctx = userdata;

        if (published_user(u) && ctx->n < ctx->max)
                ctx->v[ctx->n++] = u->uid;
}

/* An enumeration visits the users published now, by uid: one added later
 * is not seen, one forgotten meanwhile is skipped. */
static int query_enumerate(struct query *q, void (*per_user)(struct user_record *u, void *userdata)) {
        struct uids_ctx ctx = { .max = user_table_size(q->db->users) };

        ctx.v = calloc(ctx.max ? ctx.max : 1, sizeof(*ctx.v));
        if (!ctx.v)
                return -ENOMEM;
        user_table_foreach(q->db->users, snapshot_uid, &ctx);
        q->uids = ctx.v;
        q->n_uids = ctx.n;
        q->per_user = per_user;
        return 0;
}

/* The next record's parameters (a new reference), NULL when there are no
 * more. */
static json_t *query_next(struct query *q) {
        for (;;) {
                if (q->next < json_array_size(q->results))
                        return json_incref(json_array_get(q->results, q->next++));
                if (!q->per_user || q->at >= q->n_uids)
                        return NULL;
                json_array_clear(q->results);
                q->next = 0;
                while (q->at < q->n_uids && json_array_size(q->results) == 0) {
                        struct user_record *u = user_table_get_by_uid(q->db->users, q->uids[q->at++]);

                        if (u)
                                q->per_user(u, q);
                }
        }
}

static void query_free(void *state) {
        struct query *q = state;

        json_decref(q->results);
        json_decref(q->ahead);
        free(q->uids);
        free(q);
}

static void answer_none(VarlinkConn *c, bool conflict) {
        (void) varlink_conn_error(c, conflict ? USERDB_ERROR_CONFLICT : USERDB_ERROR_NO_RECORD, NULL);
}

/* One record per turn, each but the last with "continues": the next is
 * built only once the client has read this one (varlink-server.h). */
static void stream_next(VarlinkConn *c, void *state) {
        struct query *q = state;
        json_t *record = q->ahead ? q->ahead : query_next(q);

        q->ahead = NULL;
        if (!record) {
                answer_none(c, q->conflict);
                return;
        }
        q->ahead = query_next(q);
        if (q->ahead)
                (void) varlink_conn_notify(c, record);
        else
                (void) varlink_conn_reply(c, record);
}

struct lookup_params {
        struct varlink_id id;   /* uid / gid */
        const char *name;       /* userName / groupName */
        const char *other;      /* GetMemberships: groupName */
        const char *service;
};

enum lookup { LOOKUP_USER, LOOKUP_GROUP, LOOKUP_MEMBERSHIPS };

/* The programs a first login looks its name up through, before PAM runs:
 * sshd (its privileged monitor; sshd-session and sshd-auth since OpenSSH
 * 9.8), login and su.  They run as root (su setuid), so an ordinary user
 * cannot pass for one by naming a process of its own. */
static const char *const first_login_programs[] = { "sshd", "sshd-session", "sshd-auth", "login", "su" };

/*
 * Whether the caller is one of those: a provisional record (a name not
 * seen yet) goes to them only, so `getent passwd oracle` from a shell, a
 * package script or an audit tool sees no user that exists nowhere.  The
 * program is told by /proc/PID/comm of SO_PEERCRED's pid (readable by the
 * daemon's unprivileged user; /proc/PID/exe of a root process is not).
 */
static bool first_login_caller(VarlinkConn *c) {
        char path[64], comm[32] = "";
        ssize_t n;
        int fd;

        if (varlink_conn_uid(c) != 0)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/comm", (int) varlink_conn_pid(c));
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return false;
        n = read(fd, comm, sizeof(comm) - 1);
        close(fd);
        if (n <= 0)
                return false;
        comm[strcspn(comm, "\n")] = 0;
        for (size_t i = 0; i < sizeof(first_login_programs) / sizeof(first_login_programs[0]); i++)
                if (strcmp(comm, first_login_programs[i]) == 0)
                        return true;
        return false;
}

static int method_lookup(VarlinkConn *c, struct lookup_params *p, UserDb *db, enum lookup what) {
        bool more = varlink_conn_more(c);
        struct query *q;
        bool enumeration, first_login;
        int r;

        if (!p->service || strcmp(p->service, USERDB_SERVICE) != 0)
                return varlink_conn_error(c, USERDB_ERROR_BAD_SERVICE, NULL), 0;
        enumeration = what == LOOKUP_MEMBERSHIPS ? !p->name || !p->other : !p->id.set && !p->name;
        if (enumeration && !more)
                return varlink_conn_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL), 0;
        /* userdb = no (a socket from systemd, or a reload): publish nothing,
         * but answer at once. */
        if (!cfg(db)->userdb)
                return varlink_conn_error(c, USERDB_ERROR_NO_RECORD, NULL), 0;
        /* A name not seen yet (first_login): its local-name checks run off
         * the loop while this query alone waits. */
        first_login = !enumeration && what != LOOKUP_MEMBERSHIPS && cfg(db)->first_login &&
                      first_login_caller(c);
        if (first_login && p->name && provisional_check_due(db, p->name)) {
                struct localnames_key keys[USERDB_IDENTITY_KEYS_MAX];
                struct localnames_stats st;

                /* Anyone may ask for any name: such lookups get at most
                 * half of what may be out, logins keep the rest. */
                localnames_stats(db->localnames, &st);
                r = st.pending < LOCALNAMES_PENDING_MAX / 2
                            ? names_park_need(db->park, c, NAMES_CALL, keys, userdb_identity_keys(db, p->name, keys))
                            : -EBUSY;
                if (r == 0)
                        return 0;
                if (r < 0)
                        return varlink_conn_error(c, USERDB_ERROR_SERVICE_NOT_AVAILABLE, NULL), 0;
        }

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (struct query) { .db = db, .has_id = p->id.set, .id = p->id.id, .name = p->name, .other = p->other,
                              .first_login = first_login,
                              .results = json_array() };
        if (!q->results) {
                query_free(q);
                return -ENOMEM;
        }
        r = 0;
        switch (what) {
        case LOOKUP_USER:
                if (enumeration)
                        r = query_enumerate(q, collect_user);
                else {
                        users_matching(q, collect_user);
                        collect_provisional(q, true);
                }
                break;
        case LOOKUP_GROUP:
                collect_role_groups(q);
                if (enumeration)
                        r = query_enumerate(q, collect_private_group);
                else {
                        users_matching(q, collect_private_group);
                        collect_provisional(q, false);
                }
                break;
        default:
                /* By user: that user's record only; by group alone: everyone. */
                if (q->name) {
                        struct user_record *u = user_table_get(db->users, q->name);

                        if (u)
                                collect_memberships(u, q);
                } else
                        r = query_enumerate(q, collect_memberships);
                break;
        }
        if (r < 0) {
                query_free(q);
                return r;
        }
        if (!more) {
                json_t *record = query_next(q);

                if (record)
                        (void) varlink_conn_reply(c, record);
                else
                        answer_none(c, q->conflict);
                query_free(q);
                return 0;
        }
        return varlink_conn_stream(c, stream_next, q, query_free);
}

static int method_get_user_record(VarlinkConn *c, void *params, void *userdata) {
        return method_lookup(c, params, userdata, LOOKUP_USER);
}

static int method_get_group_record(VarlinkConn *c, void *params, void *userdata) {
        return method_lookup(c, params, userdata, LOOKUP_GROUP);
}

static int method_get_memberships(VarlinkConn *c, void *params, void *userdata) {
        return method_lookup(c, params, userdata, LOOKUP_MEMBERSHIPS);
}

#define SERVICE_PARAM \
        { "service", VARLINK_STRING, 0, NEOSTRA_USER_MAX, offsetof(struct lookup_params, service) }

static const struct varlink_param user_params[] = {
        { "uid", VARLINK_ID, 0, 0, offsetof(struct lookup_params, id) },
        { "userName", VARLINK_STRING, 0, NEOSTRA_USER_MAX, offsetof(struct lookup_params, name) },
        SERVICE_PARAM,
        { NULL }
};

static const struct varlink_param group_params[] = {
        { "gid", VARLINK_ID, 0, 0, offsetof(struct lookup_params, id) },
        { "groupName", VARLINK_STRING, 0, NEOSTRA_USER_MAX, offsetof(struct lookup_params, name) },
        SERVICE_PARAM,
        { NULL }
};

static const struct varlink_param membership_params[] = {
        { "userName", VARLINK_STRING, 0, NEOSTRA_USER_MAX, offsetof(struct lookup_params, name) },
        { "groupName", VARLINK_STRING, 0, NEOSTRA_USER_MAX, offsetof(struct lookup_params, other) },
        SERVICE_PARAM,
        { NULL }
};

/* Everyone may ask: nss-systemd runs in every process, as every user, and
 * the records say no more than getent would. */
static const struct varlink_method userdb_methods[] = {
        { "GetUserRecord", method_get_user_record, VARLINK_METHOD_MORE, user_params, sizeof(struct lookup_params) },
        { "GetGroupRecord", method_get_group_record, VARLINK_METHOD_MORE, group_params,
          sizeof(struct lookup_params) },
        { "GetMemberships", method_get_memberships, VARLINK_METHOD_MORE, membership_params,
          sizeof(struct lookup_params) },
        { NULL }
};

const struct varlink_interface userdb_interface = {
        .name = USERDB_INTERFACE,
        .methods = userdb_methods,
        .error_permission = USERDB_ERROR_SERVICE_NOT_AVAILABLE,
        .error_unavailable = USERDB_ERROR_SERVICE_NOT_AVAILABLE,
};
