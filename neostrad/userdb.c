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
 * PID 1 queries the socket directly and needs it.  The answers come from
 * memory only; the ids they show are given in userdb-ids.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "nss-park.h"
#include "neostra/protocol.h"
#include "neostra/varlink.h"
#include "userdb-ids-internal.h"
#include "userdb.h"

/* ---- records (memory only) ----------------------------------------------- */

/* A user the API answered 404 for is not published at all (its uid stays
 * its own, uids.h); one whose access ended otherwise keeps its record. */
static bool published_user(const struct user_record *u) {
        return u->uid != 0 && !u->local_conflict && u->access_end != ACCESS_END_DEPROVISIONED;
}

/* The groups of u's roles are published only while an online proof
 * backs them (access.h); names are NULL then. */
static int role_groups(UserDb *db, const struct user_record *u, struct neostra_strv *ret) {
        if (!access_valid(userdb_cfg(db), u, access_now())) {
                *ret = (struct neostra_strv) {};
                return 0;
        }
        return neostra_groups_for_roles(userdb_cfg(db), (const char *const *) user_roles(u), user_n_roles(u), ret);
}

/* The names of the groups u's roles map to that resolve on this host. */
static json_t *member_of(UserDb *db, const struct user_record *u) {
        struct neostra_strv names = {};
        json_t *a = json_array();

        if (!a || role_groups(db, u, &names) < 0) {
                json_decref(a);
                return NULL;
        }
        for (size_t i = 0; i < names.n; i++)
                if (userdb_find_mapped(db, names.v[i]))
                        json_array_append_new(a, json_string(names.v[i]));
        free(names.v);
        return a;
}

static bool is_member(UserDb *db, const struct user_record *u, const char *group) {
        struct neostra_strv names = {};
        bool found = false;

        if (role_groups(db, u, &names) < 0)
                return false;
        for (size_t i = 0; i < names.n && !found; i++)
                found = strcmp(names.v[i], group) == 0;
        free(names.v);
        return found;
}

bool userdb_publishes_user(UserDb *db, const struct user_record *u) {
        return db && userdb_cfg(db)->userdb && published_user(u);
}

static json_t *user_json(UserDb *db, const struct user_record *u) {
        char *home = NULL;
        json_t *rec;

        if (neostra_home_for_user(userdb_cfg(db), u->name, &home) < 0)
                return NULL;
        /* No password fields at all: the password is checked by PAM. */
        rec = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:o}",
                        "userName", u->name,
                        "uid", (json_int_t) u->uid,
                        "gid", (json_int_t) u->uid,
                        "realName", u->name,
                        "homeDirectory", home,
                        "shell", userdb_cfg(db)->shell,
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
        if (!published_user(u) || userdb_find_mapped(q->db, u->name) || !query_matches(q, u->uid, u->name))
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
        p = q->name ? userdb_provisional_lookup(q->db, q->name) : userdb_provisional_by_uid(q->db, q->id);
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
        if (role_groups(q->db, u, &names) < 0)
                return;
        for (size_t i = 0; i < names.n; i++) {
                if (!userdb_find_mapped(q->db, names.v[i]) || (q->other && strcmp(names.v[i], q->other) != 0))
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

        (*(what == LOOKUP_USER ? &db->stats.user_records : what == LOOKUP_GROUP ? &db->stats.group_records
                                                                              : &db->stats.memberships))++;
        if (!p->service || strcmp(p->service, USERDB_SERVICE) != 0)
                return varlink_conn_error(c, USERDB_ERROR_BAD_SERVICE, NULL), 0;
        enumeration = what == LOOKUP_MEMBERSHIPS ? !p->name || !p->other : !p->id.set && !p->name;
        if (enumeration && !more)
                return varlink_conn_error(c, VARLINK_ERROR_EXPECTED_MORE, NULL), 0;
        /* userdb = no (a socket from systemd, or a reload): publish nothing,
         * but answer at once. */
        if (!userdb_cfg(db)->userdb)
                return varlink_conn_error(c, USERDB_ERROR_NO_RECORD, NULL), 0;
        /* A name not seen yet (first_login): its local-name checks run off
         * the loop while this query alone waits. */
        first_login = !enumeration && what != LOOKUP_MEMBERSHIPS && userdb_cfg(db)->first_login &&
                      first_login_caller(c);
        if (first_login && p->name && userdb_provisional_check_due(db, p->name)) {
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

void userdb_stats(const UserDb *db, struct userdb_stats *ret) {
        *ret = db->stats;
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
