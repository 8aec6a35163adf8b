/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
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

/* ---- interned role sets ----------------------------------------------------- */

/* Every live role set once, keyed by its contents; grows at load 1.  The
 * daemon's records are only touched on its one event loop. */
static struct {
        struct role_set **buckets;
        size_t n_buckets;
        size_t n;
} interned;

static uint64_t hash_roles(char *const *roles, size_t n) {
        uint64_t h = 1469598103934665603ull;

        for (size_t i = 0; i < n; i++) {
                /* The NUL too, so {"ab", "c"} and {"a", "bc"} differ. */
                for (const char *s = roles[i];; s++) {
                        h ^= (unsigned char) *s;
                        h *= 1099511628211ull;
                        if (!*s)
                                break;
                }
        }
        return h;
}

static bool same_roles(const struct role_set *s, char *const *roles, size_t n) {
        if (s->n != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(s->v[i], roles[i]) != 0)
                        return false;
        return true;
}

static void interned_grow(void) {
        size_t n = interned.n_buckets ? interned.n_buckets * 2 : 16;
        struct role_set **b = calloc(n, sizeof(*b));

        if (!b)
                return; /* a longer chain is still correct */
        for (size_t i = 0; i < interned.n_buckets; i++)
                while (interned.buckets[i]) {
                        struct role_set *s = interned.buckets[i];

                        interned.buckets[i] = s->next;
                        s->next = b[s->hash % n];
                        b[s->hash % n] = s;
                }
        free(interned.buckets);
        interned.buckets = b;
        interned.n_buckets = n;
}

int role_set_intern(char *const *roles, size_t n, struct role_set **ret) {
        uint64_t h;
        size_t bytes = 0;
        struct role_set *s;
        char *p;

        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        h = hash_roles(roles, n);
        if (interned.n_buckets > 0)
                for (s = interned.buckets[h % interned.n_buckets]; s; s = s->next)
                        if (s->hash == h && same_roles(s, roles, n)) {
                                s->refs++;
                                *ret = s;
                                return 0;
                        }

        for (size_t i = 0; i < n; i++)
                bytes += strlen(roles[i]) + 1;
        /* One block: the header, the pointers, then the strings. */
        s = malloc(sizeof(*s) + n * sizeof(s->v[0]) + bytes);
        if (!s)
                return -ENOMEM;
        *s = (struct role_set) { .refs = 1, .n = n, .hash = h };
        p = (char *) &s->v[n];
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(roles[i]) + 1;

                memcpy(p, roles[i], len);
                s->v[i] = p;
                p += len;
        }
        if (interned.n >= interned.n_buckets)
                interned_grow();
        if (interned.n_buckets == 0) {
                free(s);
                return -ENOMEM;
        }
        s->next = interned.buckets[h % interned.n_buckets];
        interned.buckets[h % interned.n_buckets] = s;
        interned.n++;
        *ret = s;
        return 0;
}

void role_set_unref(struct role_set *s) {
        if (!s || --s->refs > 0)
                return;
        for (struct role_set **p = &interned.buckets[s->hash % interned.n_buckets]; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        interned.n--;
        free(s);
        if (interned.n == 0) {
                /* The last one gone (a cleared cache, a test): nothing left behind. */
                free(interned.buckets);
                interned.buckets = NULL;
                interned.n_buckets = 0;
        }
}

/* ---- records ------------------------------------------------------------------ */

void user_secrets_clear(struct user_secrets *s) {
        secure_free_string(s->token);
        secure_free_string(s->refresh_token);
        secure_free_string(s->verifier);
        *s = (struct user_secrets) {};
}

bool user_record_has(const struct user_record *u, unsigned mask) {
        return (!(mask & SECRET_TOKEN) || u->has_token) &&
               (!(mask & SECRET_REFRESH_TOKEN) || u->has_refresh_token) &&
               (!(mask & SECRET_VERIFIER) || u->has_verifier);
}

/* Numbers live parts and verifier generations (the daemon is one thread). */
static uint64_t live_seq;

struct user_live *user_record_live(struct user_record *u) {
        if (!u->live) {
                u->live = calloc(1, sizeof(*u->live));
                if (u->live) {
                        u->live->id = ++live_seq;
                        u->live->verifier_gen = ++live_seq;
                }
        }
        return u->live;
}

void user_record_verifier_changed(struct user_record *u) {
        if (u->live)
                u->live->verifier_gen = ++live_seq;
}

static void live_free(struct user_live *l) {
        if (!l)
                return;
        user_secrets_clear(&l->unsaved);
        explicit_bzero(l, sizeof(*l));
        free(l);
}

void user_record_free(struct user_record *u) {
        if (!u)
                return;
        free(u->name);
        free(u->email);
        role_set_unref(u->roles);
        live_free(u->live);
        free(u);
}

void user_record_drop_verifier(struct user_record *u) {
        if (u->has_verifier)
                u->secret_dropped = true;
        u->has_verifier = false;
        u->verifier_time = 0;
        user_record_verifier_changed(u);
        if (u->live) {
                explicit_bzero(u->live->verifier_mac, sizeof(u->live->verifier_mac));
                u->live->verifier_mac_set = false;
                explicit_bzero(u->live->success_mac, sizeof(u->live->success_mac));
                u->live->success_mac_set = false;
        }
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
                              const struct api_signin_result *res, int64_t now,
                              struct user_record **ret) {
        struct user_record *u = user_table_get(t, name);
        struct role_set *roles = NULL;
        char *email;
        int r;

        email = strdup(res->email ? res->email : "");
        if (!email)
                return -ENOMEM;
        r = role_set_intern(res->roles, res->n_roles, &roles);
        if (r < 0) {
                free(email);
                return r;
        }

        if (!u) {
                u = calloc(1, sizeof(*u));
                if (!u || !(u->name = strdup(name)) || !user_record_live(u)) {
                        user_record_free(u);
                        role_set_unref(roles);
                        free(email);
                        return -ENOMEM;
                }
                link_record(t, u);
        } else if (!user_record_live(u)) {
                role_set_unref(roles);
                free(email);
                return -ENOMEM;
        }

        free(u->email);
        u->email = email;
        role_set_unref(u->roles);
        u->roles = roles;

        u->token_expires = res->expires_in >= 0 ? now + res->expires_in : 0;
        u->last_online_success = now;
        /* The API accepted the password: the best proof there is, and it
         * brings back an account whose access had ended. */
        u->last_online_proof = now;
        u->access_end = ACCESS_END_NONE;
        u->live->successes = ++success_seq;
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
        if (u->has_token || u->has_refresh_token)
                u->secret_dropped = true;
        u->has_token = u->has_refresh_token = false;
        u->token_expires = 0;
        /* The password changed upstream (or was never right): the old one
         * must stop working offline at once. */
        user_record_drop_verifier(u);
}

void user_table_end_access(struct user_table *t, struct user_record *u, enum user_access_end how) {
        user_table_record_refusal(t, u->name);
        u->access_end = (uint8_t) how;
}

int user_record_refresh_proof(struct user_record *u, const struct api_signin_result *res, int64_t now) {
        struct role_set *roles = NULL;
        int r;

        r = role_set_intern(res->roles, res->n_roles, &roles);
        if (r < 0)
                return r;
        role_set_unref(u->roles);
        u->roles = roles;
        u->last_online_proof = now;
        return 0;
}
