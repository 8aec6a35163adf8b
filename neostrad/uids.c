/* SPDX-License-Identifier: MIT */
/* The uids handed out; see uids.h. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "uids.h"

struct assignment {
        char *email;                    /* lowercased */
        uid_t uid;
        struct assignment *next_email, *next_uid;
};

/* Two chained hash tables over the same entries; they grow at load 1. */
struct UidTable {
        struct assignment **by_email, **by_uid;
        size_t n_buckets, n;
};

int uid_table_new(UidTable **ret) {
        UidTable *t = calloc(1, sizeof(*t));

        if (!t)
                return -ENOMEM;
        t->n_buckets = 64;
        t->by_email = calloc(t->n_buckets, sizeof(*t->by_email));
        t->by_uid = calloc(t->n_buckets, sizeof(*t->by_uid));
        if (!t->by_email || !t->by_uid) {
                uid_table_free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

UidTable *uid_table_free(UidTable *t) {
        if (!t)
                return NULL;
        for (size_t b = 0; t->by_email && b < t->n_buckets; b++)
                for (struct assignment *a = t->by_email[b], *next; a; a = next) {
                        next = a->next_email;
                        free(a->email);
                        free(a);
                }
        free(t->by_email);
        free(t->by_uid);
        free(t);
        return NULL;
}

static size_t email_slot(const UidTable *t, const char *email) {
        /* ids_hash() lowercases as it goes. */
        return (size_t) (ids_hash(email) % t->n_buckets);
}

static size_t uid_slot(const UidTable *t, uid_t uid) {
        return (size_t) (((uint64_t) uid * 11400714819323198485ull) >> 17) % t->n_buckets;
}

static bool same_email(const char *lowered, const char *email) {
        for (; *lowered && *email; lowered++, email++) {
                unsigned char ch = (unsigned char) *email;

                if (ch >= 'A' && ch <= 'Z')
                        ch = (unsigned char) (ch - 'A' + 'a');
                if ((unsigned char) *lowered != ch)
                        return false;
        }
        return *lowered == *email;
}

static struct assignment *find_email(const UidTable *t, const char *email) {
        for (struct assignment *a = t->by_email[email_slot(t, email)]; a; a = a->next_email)
                if (same_email(a->email, email))
                        return a;
        return NULL;
}

static struct assignment *find_uid(const UidTable *t, uid_t uid) {
        for (struct assignment *a = t->by_uid[uid_slot(t, uid)]; a; a = a->next_uid)
                if (a->uid == uid)
                        return a;
        return NULL;
}

static void link_entry(UidTable *t, struct assignment *a) {
        size_t e = email_slot(t, a->email), u = uid_slot(t, a->uid);

        a->next_email = t->by_email[e];
        t->by_email[e] = a;
        a->next_uid = t->by_uid[u];
        t->by_uid[u] = a;
}

static void grow(UidTable *t) {
        struct assignment **old = t->by_email, **e, **u;
        size_t old_n = t->n_buckets, n = old_n * 2;

        e = calloc(n, sizeof(*e));
        u = calloc(n, sizeof(*u));
        if (!e || !u) {
                free(e);
                free(u);
                return; /* a longer chain is still correct */
        }
        free(t->by_uid);
        t->by_email = e;
        t->by_uid = u;
        t->n_buckets = n;
        for (size_t b = 0; b < old_n; b++)
                for (struct assignment *a = old[b], *next; a; a = next) {
                        next = a->next_email;
                        link_entry(t, a);
                }
        free(old);
}

int uid_table_add(UidTable *t, const char *email, uid_t uid) {
        struct assignment *a;

        if (!email || !*email || uid == 0 || uid == (uid_t) -1)
                return -EINVAL;
        if (find_email(t, email) || find_uid(t, uid))
                return -EEXIST;
        a = calloc(1, sizeof(*a));
        if (!a || !(a->email = strdup(email))) {
                free(a);
                return -ENOMEM;
        }
        for (char *p = a->email; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        a->uid = uid;
        if (t->n >= t->n_buckets)
                grow(t);
        link_entry(t, a);
        t->n++;
        return 0;
}

int uid_table_load(const char *email, uid_t uid, void *userdata) {
        int r = uid_table_add(userdata, email, uid);

        if (r == -EEXIST || r == -EINVAL) {
                log_msg(LOG_WARNING, "cache: skipping a stored assignment of uid %u that clashes with another",
                        (unsigned) uid);
                return 0;
        }
        return r;
}

uid_t uid_table_get(const UidTable *t, const char *email) {
        const struct assignment *a = email && *email ? find_email(t, email) : NULL;

        return a ? a->uid : 0;
}

bool uid_table_taken(const UidTable *t, uid_t uid, const char *except) {
        const struct assignment *a = find_uid(t, uid);

        return a && !(except && same_email(a->email, except));
}

size_t uid_table_size(const UidTable *t) {
        return t->n;
}
