/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "neostra/secure.h"
#include "users.h"

/* Chained hash table keyed by login name (FNV-1a); grows at load 1. */
struct user_table {
        struct user_record **buckets;
        struct user_record **uid_buckets;   /* same size; records with a uid */
        size_t n_buckets;
        size_t n;
};

static uint64_t hash_name(const char *s) {
        uint64_t h = 1469598103934665603ull;

        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= 1099511628211ull;
        }
        return h;
}

static size_t uid_slot(const struct user_table *t, uid_t uid) {
        return (size_t) (((uint64_t) uid * 11400714819323198485ull) >> 17) % t->n_buckets;
}

static void uid_link(struct user_table *t, struct user_record *u) {
        size_t b;

        u->next_uid = NULL;
        if (u->uid == 0)
                return;
        b = uid_slot(t, u->uid);
        u->next_uid = t->uid_buckets[b];
        t->uid_buckets[b] = u;
}

static void uid_unlink(struct user_table *t, struct user_record *u) {
        if (u->uid == 0)
                return;
        for (struct user_record **p = &t->uid_buckets[uid_slot(t, u->uid)]; *p; p = &(*p)->next_uid)
                if (*p == u) {
                        *p = u->next_uid;
                        break;
                }
        u->next_uid = NULL;
}

int user_table_new(struct user_table **ret) {
        struct user_table *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->n_buckets = 64;
        t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
        t->uid_buckets = calloc(t->n_buckets, sizeof(*t->uid_buckets));
        if (!t->buckets || !t->uid_buckets) {
                free(t->buckets);
                free(t->uid_buckets);
                free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

void user_record_free(struct user_record *u) {
        if (!u)
                return;
        free(u->name);
        free(u->email);
        for (size_t i = 0; i < u->n_roles; i++)
                free(u->roles[i]);
        free(u->roles);
        secure_free_string(u->token);
        secure_free_string(u->refresh_token);
        secure_free_string(u->verifier);
        explicit_bzero(u->verifier_mac, sizeof(u->verifier_mac));
        explicit_bzero(u->success_mac, sizeof(u->success_mac));
        free(u);
}

void user_record_drop_verifier(struct user_record *u) {
        secure_free_string(u->verifier);
        u->verifier = NULL;
        u->verifier_time = 0;
        explicit_bzero(u->verifier_mac, sizeof(u->verifier_mac));
        u->verifier_mac_set = false;
        explicit_bzero(u->success_mac, sizeof(u->success_mac));
        u->success_mac_set = false;
}

void user_table_forget(struct user_table *t, const char *name) {
        size_t first = 0, last = t->n_buckets;

        /* A name can only be in its own bucket: forgetting one user (and
         * so every user_table_insert, once per row when the cache loads)
         * must not walk the whole table. */
        if (name) {
                first = hash_name(name) % t->n_buckets;
                last = first + 1;
        }
        for (size_t b = first; b < last; b++) {
                struct user_record **p = &t->buckets[b];

                while (*p) {
                        struct user_record *u = *p;

                        if (name && strcmp(u->name, name) != 0) {
                                p = &u->next;
                                continue;
                        }
                        *p = u->next;
                        uid_unlink(t, u);
                        user_record_free(u);
                        t->n--;
                }
        }
}

void user_table_free(struct user_table *t) {
        if (!t)
                return;
        user_table_forget(t, NULL);
        free(t->buckets);
        free(t->uid_buckets);
        free(t);
}

size_t user_table_size(const struct user_table *t) {
        return t->n;
}

struct user_record *user_table_get(struct user_table *t, const char *name) {
        struct user_record *u;

        for (u = t->buckets[hash_name(name) % t->n_buckets]; u; u = u->next)
                if (strcmp(u->name, name) == 0)
                        return u;
        return NULL;
}

struct user_record *user_table_get_by_uid(struct user_table *t, uid_t uid) {
        if (uid == 0)
                return NULL;
        for (struct user_record *u = t->uid_buckets[uid_slot(t, uid)]; u; u = u->next_uid)
                if (u->uid == uid)
                        return u;
        return NULL;
}

bool user_table_uid_used(struct user_table *t, uid_t uid, const struct user_record *except) {
        if (uid == 0)
                return false;
        for (struct user_record *u = t->uid_buckets[uid_slot(t, uid)]; u; u = u->next_uid)
                if (u->uid == uid && u != except)
                        return true;
        return false;
}

void user_table_set_uid(struct user_table *t, struct user_record *u, uid_t uid) {
        uid_unlink(t, u);
        u->uid = uid;
        uid_link(t, u);
}

static void grow(struct user_table *t) {
        size_t n = t->n_buckets * 2;
        struct user_record **b = calloc(n, sizeof(*b));
        struct user_record **ub = calloc(n, sizeof(*ub));

        if (!b || !ub) {
                free(b);
                free(ub);
                return; /* a longer chain is still correct */
        }
        for (size_t i = 0; i < t->n_buckets; i++)
                while (t->buckets[i]) {
                        struct user_record *u = t->buckets[i];

                        t->buckets[i] = u->next;
                        u->next = b[hash_name(u->name) % n];
                        b[hash_name(u->name) % n] = u;
                }
        free(t->buckets);
        t->buckets = b;
        free(t->uid_buckets);
        t->uid_buckets = ub;
        t->n_buckets = n;
        for (size_t i = 0; i < n; i++)
                for (struct user_record *u = b[i]; u; u = u->next)
                        uid_link(t, u);
}

static void link_record(struct user_table *t, struct user_record *u) {
        size_t b;

        if (t->n >= t->n_buckets)
                grow(t);
        b = hash_name(u->name) % t->n_buckets;
        u->next = t->buckets[b];
        t->buckets[b] = u;
        uid_link(t, u);
        t->n++;
}

int user_table_insert(struct user_table *t, struct user_record *u) {
        user_table_forget(t, u->name);
        link_record(t, u);
        return 0;
}

void user_table_foreach(struct user_table *t, void (*cb)(struct user_record *u, void *userdata),
                        void *userdata) {
        for (size_t b = 0; b < t->n_buckets; b++)
                for (struct user_record *u = t->buckets[b], *next; u; u = next) {
                        next = u->next;
                        cb(u, userdata);
                }
}

/* Numbers every online success (the daemon is one thread): unique even
 * across a forgotten and re-created record of the same name. */
static uint64_t success_seq;

int user_table_record_success(struct user_table *t, const char *name,
                              struct api_signin_result *res, int64_t now,
                              struct user_record **ret) {
        struct user_record *u = user_table_get(t, name);
        char *email;

        email = strdup(res->email ? res->email : "");
        if (!email)
                return -ENOMEM;

        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u || !(u->name = strdup(name))) {
                        free(u);
                        free(email);
                        return -ENOMEM;
                }
                link_record(t, u);
        }

        free(u->email);
        u->email = email;
        for (size_t i = 0; i < u->n_roles; i++)
                free(u->roles[i]);
        free(u->roles);
        u->roles = res->roles;
        u->n_roles = res->n_roles;
        res->roles = NULL;
        res->n_roles = 0;

        secure_free_string(u->token);
        u->token = res->token;
        res->token = NULL;
        secure_free_string(u->refresh_token);
        u->refresh_token = res->refresh_token;
        res->refresh_token = NULL;

        u->token_expires = res->expires_in >= 0 ? now + res->expires_in : 0;
        u->last_online_success = now;
        u->successes = ++success_seq;
        u->offline_failures = 0;
        u->invalidated = false;
        if (ret)
                *ret = u;
        return 0;
}

void user_table_record_refusal(struct user_table *t, const char *name) {
        struct user_record *u = user_table_get(t, name);

        if (!u)
                return;
        secure_free_string(u->token);
        secure_free_string(u->refresh_token);
        u->token = u->refresh_token = NULL;
        u->token_expires = 0;
        /* The password changed upstream (or was never right): the old one
         * must stop working offline at once. */
        user_record_drop_verifier(u);
}
