/* SPDX-License-Identifier: MIT */
/* Which names are never ours: shared by the module and the daemon, so the
 * two sides draw the line in the same place. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "neostra/conf.h"

#define OVERFLOW_UID 65534u     /* "nobody": a system account whatever its number says */

int neostra_local_system_account(const char *name, uid_t minimum_uid) {
        uid_t uid;
        int r = neostra_local_lookup(name, &uid);

        if (r <= 0)
                return r;
        return neostra_system_uid(uid, minimum_uid);
}

bool neostra_nss_not_found(int r) {
        return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

bool neostra_system_uid(uid_t uid, uid_t minimum_uid) {
        return uid == 0 || uid < minimum_uid || uid == OVERFLOW_UID;
}

int neostra_local_lookup(const char *name, uid_t *ret_uid) {
        struct passwd pw, *res = NULL;
        long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = hint > 0 && hint < 65536 ? (size_t) hint : 4096u;
        char *buf = NULL;
        int r;

        for (;;) {
                char *nbuf = realloc(buf, size);

                if (!nbuf) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = nbuf;
                r = getpwnam_r(name, &pw, buf, size, &res);
                if (r != ERANGE || size >= 1024u * 1024u)
                        break;
                size *= 2;
        }
        free(buf);

        /* Anything but "not found" means we cannot tell, and the caller
         * must not send a password it cannot classify. */
        if (r != 0 && !neostra_nss_not_found(r))
                return -r;
        if (r != 0 || !res)
                return 0;
        *ret_uid = res->pw_uid;
        return 1;
}
