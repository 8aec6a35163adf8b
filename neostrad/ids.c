/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>

#include "ids.h"

uint64_t ids_hash(const char *key) {
        uint64_t h = 1469598103934665603ull;

        for (; *key; key++) {
                unsigned char ch = (unsigned char) *key;

                /* Emails compare case-insensitively (api.c does so too), so
                 * "Alice@Example.com" and "alice@example.com" are one uid. */
                if (ch >= 'A' && ch <= 'Z')
                        ch = (unsigned char) (ch - 'A' + 'a');
                h ^= ch;
                h *= 1099511628211ull;
        }
        return h;
}

uid_t ids_candidate(const char *key, uid_t min, uid_t max) {
        uint64_t range = (uint64_t) max - min + 1;

        return (uid_t) (min + ids_hash(key) % range);
}

int ids_assign(const char *key, uid_t min, uid_t max, ids_taken_fn taken, void *userdata, uid_t *ret) {
        uint64_t range, start;

        if (!key || !*key || min > max || !ret)
                return -EINVAL;
        range = (uint64_t) max - min + 1;
        start = ids_hash(key) % range;
        for (uint64_t i = 0; i < range; i++) {
                uid_t id = (uid_t) (min + (start + i) % range);

                if (!taken || !taken(id, userdata)) {
                        *ret = id;
                        return 0;
                }
        }
        return -ENOSPC;
}

bool ids_local_id_taken(uid_t id) {
        struct passwd pw, *pwr = NULL;
        struct group gr, *grr = NULL;
        char buf[16384];
        int r;

        r = getpwuid_r(id, &pw, buf, sizeof(buf), &pwr);
        if (r != 0 && r != ENOENT && r != ESRCH)
                return true;
        if (pwr)
                return true;
        r = getgrgid_r((gid_t) id, &gr, buf, sizeof(buf), &grr);
        if (r != 0 && r != ENOENT && r != ESRCH)
                return true;
        return grr != NULL;
}
