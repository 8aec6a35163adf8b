/* SPDX-License-Identifier: MIT */
/* Local users and groups, cached briefly; see localnames.h. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "localnames.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"

#define SLOTS 512u

struct answer {
        char name[NEOSTRA_USER_MAX + 1];
        uint64_t expires_usec;          /* 0: empty */
        bool found;
        uint32_t id;
};

struct LocalNames {
        struct answer users[SLOTS];
        struct answer groups[SLOTS];
};

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static struct answer *slot(struct answer *table, const char *name) {
        uint32_t h = 2166136261u;       /* FNV-1a */

        for (const unsigned char *p = (const unsigned char *) name; *p; p++)
                h = (h ^ *p) * 16777619u;
        return &table[h % SLOTS];
}

int localnames_new(LocalNames **ret) {
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : -ENOMEM;
}

LocalNames *localnames_free(LocalNames *l) {
        free(l);
        return NULL;
}

void localnames_flush(LocalNames *l) {
        if (l)
                memset(l, 0, sizeof(*l));
}

/* The kept answer for name, or NULL; *fresh_slot is where a new one goes. */
static const struct answer *find(struct answer *table, const char *name, uint64_t now,
                                 struct answer **fresh_slot) {
        struct answer *a = slot(table, name);

        *fresh_slot = strlen(name) < sizeof(a->name) ? a : NULL;
        if (a->expires_usec > now && strcmp(a->name, name) == 0)
                return a;
        return NULL;
}

static void keep(struct answer *a, const char *name, uint64_t now, bool found, uint32_t id) {
        if (!a)
                return;
        strcpy(a->name, name);  /* length checked in find() */
        a->expires_usec = now + LOCALNAMES_TTL_USEC;
        a->found = found;
        a->id = id;
}

int localnames_user(LocalNames *l, const char *name, uid_t *ret_uid) {
        uint64_t now = now_usec();
        struct answer *fresh = NULL;
        const struct answer *a = l ? find(l->users, name, now, &fresh) : NULL;
        uid_t uid = 0;
        int r;

        if (a) {
                *ret_uid = a->id;
                return a->found;
        }
        r = neostra_local_lookup(name, &uid);
        if (r < 0)
                return r;
        if (l)
                keep(fresh, name, now, r > 0, uid);
        *ret_uid = uid;
        return r;
}

int localnames_group(LocalNames *l, const char *name, gid_t *ret_gid) {
        uint64_t now = now_usec();
        struct answer *fresh = NULL;
        const struct answer *a = l ? find(l->groups, name, now, &fresh) : NULL;
        struct group gr, *grr = NULL;
        char buf[16384];
        int r;

        if (a) {
                *ret_gid = a->id;
                return a->found;
        }
        r = getgrnam_r(name, &gr, buf, sizeof(buf), &grr);
        if (r != 0 && !neostra_nss_not_found(r))
                return -r;
        if (l)
                keep(fresh, name, now, r == 0 && grr, grr ? grr->gr_gid : 0);
        *ret_gid = grr ? grr->gr_gid : 0;
        return r == 0 && grr;
}
