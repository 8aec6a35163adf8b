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

        /* "Not found" comes back as any of these, depending on the NSS
         * module; anything else means we cannot tell, and the caller must
         * not send a password it cannot classify. */
        if (r != 0 && r != ENOENT && r != ESRCH && r != EBADF && r != EPERM)
                return -r;
        if (r != 0 || !res)
                return 0;
        return res->pw_uid == 0 || res->pw_uid < minimum_uid || res->pw_uid == OVERFLOW_UID;
}
