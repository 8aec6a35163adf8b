/* SPDX-License-Identifier: MIT */
/*
 * What the daemon remembers about each user from the last successful
 * sign-in, in memory.  (The persistent SQLite cache comes on top of this.)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api.h"
#include "verifier.h"

struct make_job;

struct user_record {
        char *name;                 /* login name */
        char *email;
        char **roles;
        size_t n_roles;
        char *token;                /* secret: wiped on free, never logged */
        char *refresh_token;        /* secret */
        int64_t token_expires;      /* unix seconds, 0 unknown */
        int64_t last_online_success;/* unix seconds, 0 never */
        char *verifier;             /* yescrypt hash of the last password the API accepted, or NULL */
        int64_t verifier_time;      /* unix seconds the verifier was made */
        unsigned char verifier_mac[VERIFIER_MAC_SIZE]; /* memory only: verifier_mac() of its password (verifier.h) */
        bool verifier_mac_set;      /* false: unknown (e.g. loaded from the cache) */
        unsigned char success_mac[VERIFIER_MAC_SIZE]; /* memory only: that of the last online success */
        bool success_mac_set;
        uint64_t successes;         /* number of its latest online success (memory only, unique
                                     * in the process): a verifier made for an older one is
                                     * not installed */
        struct make_job *pending_make;  /* login.c: the verifier job queued for this user */
        unsigned offline_failures;  /* wrong passwords checked offline since the last online success */
        bool invalidated;           /* neostractl invalidate: next login must go online */
        uid_t uid;                  /* ids.c: 0 = not assigned yet; once set, never changed */
        bool local_conflict;        /* the name (or its private group) is a local one: not published */
        struct user_record *next;
        struct user_record *next_uid;   /* users.c: chain of the uid index */
};

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

/* Drop u's verifier (and what is known of its password); wiped. */
void user_record_drop_verifier(struct user_record *u);

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
 * Record an online success: roles, token and expiry replace what was
 * there.  Steals roles, token and refresh token from res (leaving NULLs).
 */
int user_table_record_success(struct user_table *t, const char *name,
                              struct api_signin_result *res, int64_t now,
                              struct user_record **ret);

/* A definite refusal: the token is dropped, roles stay for reporting. */
void user_table_record_refusal(struct user_table *t, const char *name);

/* Forget one user, or everyone with name NULL. */
void user_table_forget(struct user_table *t, const char *name);
