/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "neostra/secure.h"
#include "users.h"

/* Chained hash table keyed by login name (FNV-1a); grows at load 1. */
struct user_table {
        struct user_record **buckets;
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

int user_table_new(struct user_table **ret) {
        struct user_table *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->n_buckets = 64;
        t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
        if (!t->buckets) {
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
        for (size_t b = 0; b < t->n_buckets; b++) {
                struct user_record **p = &t->buckets[b];

                while (*p) {
                        struct user_record *u = *p;

                        if (name && strcmp(u->name, name) != 0) {
                                p = &u->next;
                                continue;
                        }
                        *p = u->next;
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

static void grow(struct user_table *t) {
        size_t n = t->n_buckets * 2;
        struct user_record **b = calloc(n, sizeof(*b));

        if (!b)
                return; /* a longer chain is still correct */
        for (size_t i = 0; i < t->n_buckets; i++)
                while (t->buckets[i]) {
                        struct user_record *u = t->buckets[i];

                        t->buckets[i] = u->next;
                        u->next = b[hash_name(u->name) % n];
                        b[hash_name(u->name) % n] = u;
                }
        free(t->buckets);
        t->buckets = b;
        t->n_buckets = n;
}

static void link_record(struct user_table *t, struct user_record *u) {
        size_t b;

        if (t->n >= t->n_buckets)
                grow(t);
        b = hash_name(u->name) % t->n_buckets;
        u->next = t->buckets[b];
        t->buckets[b] = u;
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
