/* SPDX-License-Identifier: MIT */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "verifier.h"

/* libcrypt's default cost for yescrypt (as in /etc/login.defs). */
#define YESCRYPT_PREFIX "$y$"

int verifier_make(const char *password, char **ret) {
        struct crypt_data *cd;
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        char *hash, *copy = NULL;

        /* 0: libcrypt's default cost; NULL random bytes: it reads the
         * kernel's random source itself. */
        if (!crypt_gensalt_rn(YESCRYPT_PREFIX, 0, NULL, 0, salt, sizeof(salt)))
                return -errno ? -errno : -EINVAL;
        cd = calloc(1, sizeof(*cd));
        if (!cd)
                return -ENOMEM;
        hash = crypt_rn(password, salt, cd, sizeof(*cd));
        if (hash && hash[0] == '$')
                copy = strdup(hash);
        /* crypt_data holds intermediate state derived from the password. */
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
        if (!copy)
                return -EINVAL;
        *ret = copy;
        return 0;
}

int verifier_check(const char *hash, const char *password) {
        struct crypt_data *cd;
        const char *out;
        size_t n;
        int r;

        if (!hash || strncmp(hash, YESCRYPT_PREFIX, strlen(YESCRYPT_PREFIX)) != 0)
                return -EINVAL;
        cd = calloc(1, sizeof(*cd));
        if (!cd)
                return -ENOMEM;
        out = crypt_rn(password, hash, cd, sizeof(*cd));
        if (!out || out[0] != '$') {
                r = -EINVAL;
                goto done;
        }
        n = strlen(hash);
        if (strlen(out) != n) {
                r = 0;
                goto done;
        }
        /* Compare without an early exit. */
        {
                unsigned char diff = 0;
                for (size_t i = 0; i < n; i++)
                        diff |= (unsigned char) (out[i] ^ hash[i]);
                r = diff == 0;
        }
done:
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
        return r;
}
