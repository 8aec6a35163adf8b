/* SPDX-License-Identifier: MIT */
/*
 * What the daemon remembers about each user from the last successful
 * sign-in, in memory: what logins, CheckAccount and userdb read on every
 * call.
 *
 * A user's secrets (API token, refresh token, yescrypt verifier) are not in
 * the record: they live in the persistent cache (cache.h) and are read from
 * it only where they are used (GetToken, an offline or cached check, a token
 * refresh), then wiped.  So a daemon with 100,000 cached users holds none of
 * their secrets, and each record is a fraction of the size.  The record keeps
 * whether each secret exists and when the token expires, which is all the
 * decisions before such a read need.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "api.h"
#include "verifier.h"

struct make_job;

/* Unix seconds: the times records keep. */
static inline int64_t now_wall(void) {
        return (int64_t) time(NULL);
}

/*
 * The roles of one or more users, interned: the many users with the same
 * roles (a fleet has a handful of role sets) share one copy.  Read-only;
 * v holds n strings.
 */
struct role_set {
        unsigned refs;
        size_t n;
        uint64_t hash;
        struct role_set *next;          /* users.c: chain of the intern table */
        char *v[];                      /* n pointers, then the strings themselves */
};

/* The interned set of these n roles (copied); one more reference to it.
 * No roles give NULL.  0 or -ENOMEM. */
int role_set_intern(char *const *roles, size_t n, struct role_set **ret);
void role_set_unref(struct role_set *s);

/* Which secrets a struct user_secrets carries. */
enum {
        SECRET_TOKEN = 1u << 0,
        SECRET_REFRESH_TOKEN = 1u << 1,
        SECRET_VERIFIER = 1u << 2,
        SECRET_ALL = SECRET_TOKEN | SECRET_REFRESH_TOKEN | SECRET_VERIFIER,
};

/* Some of a user's secrets, on their way to or from the cache.  A field in
 * mask that is NULL means "none" (a secret dropped). */
struct user_secrets {
        unsigned mask;
        char *token;
        char *refresh_token;
        char *verifier;                 /* yescrypt hash of the last password the API accepted */
};

/* Wipe and free the strings; the mask becomes 0. */
void user_secrets_clear(struct user_secrets *s);

/*
 * Memory only: what this process learnt from the user's logins since it
 * started.  Allocated at the first (user_record_live()): most cached users
 * do not log in between two restarts.
 */
struct user_live {
        uint64_t id;                    /* unique in the process: a job that counts in this
                                         * live part finds it again by name and this */
        uint64_t successes;             /* number of its latest online success (unique in the
                                         * process): a verifier made for an older one is not
                                         * installed */
        uint64_t verifier_gen;          /* unique in the process, new whenever the verifier is
                                         * dropped or replaced (user_record_verifier_changed):
                                         * a check that ends sees whether it checked the
                                         * verifier that still stands */
        struct make_job *pending_make;  /* login-verifier.c: the verifier job queued for this user */
        unsigned offline_checks;        /* login.c: offline checks on a worker; each may yet be
                                         * a failure, so they count towards max_failures */
        int64_t refresh_tried;          /* revalidate.c: unix seconds of its last token refresh, 0 none */
        /* Secrets the cache could not take (no cache at all, a full disk):
         * they stand for the stored ones until a write of the row succeeds. */
        struct user_secrets unsaved;
        unsigned char verifier_mac[VERIFIER_MAC_SIZE]; /* verifier_mac() of the verifier's password */
        unsigned char success_mac[VERIFIER_MAC_SIZE];  /* that of the last online success */
        bool save_queued;               /* writeback.c: in the write queue */
        bool verifier_mac_set;          /* false: unknown (e.g. the verifier came from the cache) */
        bool success_mac_set;
};

/* Why a user's access ended before account_max_age ran out (access.h);
 * only an online sign-in brings it back. */
enum user_access_end {
        ACCESS_END_NONE = 0,
        ACCESS_END_REVOKED = 1,         /* the API refused a refresh of its token (401/403) */
        ACCESS_END_DEPROVISIONED = 2,   /* the API does not know the account any more (404) */
        _ACCESS_END_MAX,
};

struct user_record {
        char *name;                     /* login name */
        char *email;
        struct role_set *roles;         /* interned; NULL: none */
        int64_t token_expires;          /* unix seconds, 0 unknown */
        int64_t last_online_success;    /* unix seconds, 0 never: the API accepted a password */
        int64_t last_online_proof;      /* unix seconds, 0 never: that, or a refresh that
                                         * brought the user's roles (access.h) */
        int64_t verifier_time;          /* unix seconds the verifier was made */
        struct user_live *live;         /* NULL until its first login in this process */
        struct user_record *next;
        struct user_record *next_uid;   /* users.c: chain of the uid index */
        uid_t uid;                      /* ids.c: 0 = not assigned yet; once set, never changed */
        unsigned offline_failures;      /* wrong passwords checked offline since the last online success */
        uint8_t access_end;             /* enum user_access_end */
        bool has_token : 1;             /* the cache holds an API token for it */
        bool has_refresh_token : 1;
        bool has_verifier : 1;
        bool invalidated : 1;           /* neostractl invalidate: next login must go online, and
                                         * nothing rests on the last online proof (access.h) */
        bool local_conflict : 1;        /* the name (or its private group) is a local one: not published */
        bool secret_dropped : 1;        /* a secret it had was dropped here and its row not written
                                         * since (writeback.c checkpoints the WAL after writing it) */
};

static inline char *const *user_roles(const struct user_record *u) {
        return u->roles ? u->roles->v : NULL;
}

static inline size_t user_n_roles(const struct user_record *u) {
        return u->roles ? u->roles->n : 0;
}

/* Whether u has each secret in mask (SECRET_*). */
bool user_record_has(const struct user_record *u, unsigned mask);

/* u->live, allocated when missing; NULL when out of memory. */
struct user_live *user_record_live(struct user_record *u);

struct user_table;

/* Insert a record as it is (from the persistent cache); the table takes
 * ownership of u.  Replaces a record of the same name. */
int user_table_insert(struct user_table *t, struct user_record *u);

/* Visit every record (in no particular order). */
void user_table_foreach(struct user_table *t, void (*cb)(struct user_record *u, void *userdata),
                        void *userdata);

void user_record_free(struct user_record *u);

int user_table_new(struct user_table **ret);
void user_table_free(struct user_table *t);
size_t user_table_size(const struct user_table *t);

/* Drop u's verifier and what is known of its password (wiped); the caller
 * writes the row with SECRET_VERIFIER dropped. */
void user_record_drop_verifier(struct user_record *u);

/* u's verifier was dropped or replaced: a new live->verifier_gen. */
void user_record_verifier_changed(struct user_record *u);

struct user_record *user_table_get(struct user_table *t, const char *name);

/* The record with this uid (0: none), from an index kept next to the
 * names, so userdb lookups and uid checks never walk the table. */
struct user_record *user_table_get_by_uid(struct user_table *t, uid_t uid);

/* true when a record other than except has this uid. */
bool user_table_uid_used(struct user_table *t, uid_t uid, const struct user_record *except);

/* Give u (a record in t) its uid: use this, never u->uid = ..., so the
 * uid index stays right. */
void user_table_set_uid(struct user_table *t, struct user_record *u, uid_t uid);

/*
 * Record an online success: email, roles and token expiry replace what was
 * there (the token itself is the caller's to write to the cache).  res is
 * left as it was.
 */
int user_table_record_success(struct user_table *t, const char *name,
                              const struct api_signin_result *res, int64_t now,
                              struct user_record **ret);

/* A definite refusal: the token and the verifier are dropped, roles stay
 * for reporting; the caller writes the row with SECRET_ALL dropped. */
void user_table_record_refusal(struct user_table *t, const char *name);

/* End u's access (how: ACCESS_END_REVOKED or _DEPROVISIONED) until its
 * next online success: user_table_record_refusal() and the reason kept.
 * The caller writes the row with SECRET_ALL dropped. */
void user_table_end_access(struct user_table *t, struct user_record *u, enum user_access_end how);

/*
 * A refresh whose answer carried the user (api.h, has_user): an online
 * proof at now, and the roles of the answer replace u's.  The token's
 * expiry is the caller's (it writes the new tokens).  0 or -ENOMEM (u as
 * it was).
 */
int user_record_refresh_proof(struct user_record *u, const struct api_signin_result *res, int64_t now);

/* Forget one user, or everyone with name NULL. */
void user_table_forget(struct user_table *t, const char *name);
