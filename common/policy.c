/* SPDX-License-Identifier: MIT */
/* Which names are never ours: shared by the module and the daemon, so the
 * two sides draw the line in the same place.  Names with '@' in a domain
 * [users] domains does not accept are common/names.c's
 * (neostra_domain_accepted). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "neostra/conf.h"

#define OVERFLOW_UID 65534u     /* "nobody": a system account whatever its number says */

bool neostra_nss_not_found(int r) {
        return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

bool neostra_system_uid(uid_t uid, uid_t minimum_uid) {
        return uid == 0 || uid < minimum_uid || uid == OVERFLOW_UID;
}

bool neostra_local_account_listed(const struct neostra_config *c, const char *name) {
        if (!c || !name)
                return false;
        for (size_t i = 0; i < c->local_accounts.n; i++)
                if (strcmp(c->local_accounts.v[i], "*") == 0 || strcmp(c->local_accounts.v[i], name) == 0)
                        return true;
        return false;
}

enum neostra_local_class neostra_local_account_class(const struct neostra_config *c, const char *name,
                                                     uid_t uid, uid_t minimum_uid) {
        /* Root and the system accounts stay out even under "*": a local
         * root password must never be sent anywhere. */
        if (neostra_system_uid(uid, minimum_uid))
                return NEOSTRA_LOCAL_SYSTEM;
        return neostra_local_account_listed(c, name) ? NEOSTRA_LOCAL_LISTED : NEOSTRA_LOCAL_UNLISTED;
}

/*
 * One getpwnam_r-style call through lookup(), with a buffer grown while it
 * says ERANGE (up to 1 MiB).  lookup() copies what it needs out of buf
 * before it is freed and sets *found.  Returns 1 found, 0 not found, <0
 * when the lookup failed: anything but "not found" means we cannot tell,
 * and the caller must not send a password it cannot classify.
 */
static int nss_call(int (*lookup)(void *ctx, char *buf, size_t size, bool *found), void *ctx) {
        long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = hint > 0 && hint < 65536 ? (size_t) hint : 4096u;
        bool found = false;
        char *buf = NULL;
        int r;

        for (;;) {
                char *nbuf = realloc(buf, size);

                if (!nbuf) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = nbuf;
                r = lookup(ctx, buf, size, &found);
                if (r != ERANGE || size >= 1024u * 1024u)
                        break;
                size *= 2;
        }
        free(buf);
        if (r == ENOMEM)
                return -ENOMEM;
        if (r != 0 && !neostra_nss_not_found(r))
                return -r;
        return r == 0 && found;
}

struct nss_query {
        const char *name;
        uid_t id;
        uid_t uid;
        gid_t gid;
        char *user_name;
};

static int user_by_name(void *ctx, char *buf, size_t size, bool *found) {
        struct nss_query *q = ctx;
        struct passwd pw, *res = NULL;
        int r = getpwnam_r(q->name, &pw, buf, size, &res);

        if (r == 0 && res) {
                q->uid = res->pw_uid;
                *found = true;
        }
        return r;
}

static int group_by_name(void *ctx, char *buf, size_t size, bool *found) {
        struct nss_query *q = ctx;
        struct group gr, *res = NULL;
        int r = getgrnam_r(q->name, &gr, buf, size, &res);

        if (r == 0 && res) {
                q->gid = res->gr_gid;
                *found = true;
        }
        return r;
}

static int user_by_uid(void *ctx, char *buf, size_t size, bool *found) {
        struct nss_query *q = ctx;
        struct passwd pw, *res = NULL;
        int r = getpwuid_r(q->id, &pw, buf, size, &res);

        if (r == 0 && res) {
                q->user_name = strdup(res->pw_name);
                if (!q->user_name)
                        return ENOMEM;
                *found = true;
        }
        return r;
}

int neostra_local_lookup(const char *name, uid_t *ret_uid) {
        struct nss_query q = { .name = name };
        int r = nss_call(user_by_name, &q);

        if (r > 0)
                *ret_uid = q.uid;
        return r;
}

int neostra_local_group_lookup(const char *name, gid_t *ret_gid) {
        struct nss_query q = { .name = name };
        int r = nss_call(group_by_name, &q);

        if (r > 0)
                *ret_gid = q.gid;
        return r;
}

int neostra_local_user_name(uid_t uid, char **ret_name) {
        struct nss_query q = { .id = uid };
        int r = nss_call(user_by_uid, &q);

        if (r > 0)
                *ret_name = q.user_name;
        return r;
}

/*
 * The passwd(5) file alone, as nss_files reads it, through nss_call()'s
 * growing buffer: fgetpwent_r skips lines it cannot parse, says ENOENT at
 * the end (not found), and ERANGE with the stream put back at the start of
 * the line when buf is too small (read again with more room).
 */
struct passwd_scan {
        FILE *f;
        const char *name;
        uid_t uid;
};

static int passwd_file_scan(void *ctx, char *buf, size_t size, bool *found) {
        struct passwd_scan *q = ctx;

        for (;;) {
                struct passwd pw, *res = NULL;
                int r = fgetpwent_r(q->f, &pw, buf, size, &res);

                if (r != 0)
                        return r;
                if (!res)
                        return EIO;
                if (strcmp(res->pw_name, q->name) == 0) {
                        q->uid = res->pw_uid;
                        *found = true;
                        return 0;
                }
        }
}

int neostra_passwd_file_lookup(const char *path, const char *name, uid_t *ret_uid) {
        struct passwd_scan q = { .name = name };
        int r;

        q.f = fopen(path, "re");
        if (!q.f)
                return -errno;
        /* fgetpwent_r asks the stream's position before every line (to put
         * a line back on ERANGE); a stream that has not seeked yet does not
         * know it and asks the kernel each time (an lseek per line, half of
         * the lookup).  One seek now and the position is kept. */
        if (fseeko(q.f, 0, SEEK_SET) < 0) {
                r = -errno;
                fclose(q.f);
                return r;
        }
        r = nss_call(passwd_file_scan, &q);
        fclose(q.f);
        if (r > 0)
                *ret_uid = q.uid;
        return r;
}
