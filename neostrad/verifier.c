/* SPDX-License-Identifier: MIT */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "verifier.h"

/* libcrypt's default cost for yescrypt (as in /etc/login.defs). */
#define YESCRYPT_PREFIX "$y$"

/* 0: libcrypt's default; only tests change it (verifier_set_cost()). */
static unsigned long yescrypt_cost;

void verifier_set_cost(unsigned long cost) {
        yescrypt_cost = cost;
}

int verifier_make(const char *password, char **ret) {
        struct crypt_data *cd;
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        char *hash, *copy = NULL;

        /* NULL random bytes: libcrypt reads the kernel's random source
         * itself. */
        if (!crypt_gensalt_rn(YESCRYPT_PREFIX, yescrypt_cost, NULL, 0, salt, sizeof(salt)))
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

/* ---- in-memory password MACs (verifier.h) ------------------------------- */

/* The key only ever lives in mac_keyed: an HMAC-SHA256 context set up
 * once with it, which every MAC copies (EVP_MAC_CTX_dup) instead of
 * fetching HMAC and SHA-256 and keying a new context per login. */
static EVP_MAC_CTX *mac_keyed;

int verifier_mac_init(void) {
        unsigned char key[32];
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_end(),
        };
        EVP_MAC *hmac = NULL;
        size_t got = 0;
        int r = 0;

        while (got < sizeof(key)) {
                ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto done;
                }
                got += (size_t) n;
        }
        hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        mac_keyed = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        if (!mac_keyed || EVP_MAC_init(mac_keyed, key, sizeof(key), params) != 1) {
                EVP_MAC_CTX_free(mac_keyed);
                mac_keyed = NULL;
                r = -ENOSYS;
        }
done:
        EVP_MAC_free(hmac);     /* the context keeps its own reference */
        explicit_bzero(key, sizeof(key));
        return r;
}

void verifier_mac_done(void) {
        /* OpenSSL cleanses the keyed state when the context is freed. */
        EVP_MAC_CTX_free(mac_keyed);
        mac_keyed = NULL;
}

int verifier_mac(const char *user, const char *password, unsigned char out[VERIFIER_MAC_SIZE]) {
        static const unsigned char separator = 0;
        EVP_MAC_CTX *ctx;
        size_t len = 0;
        int r = -EIO;

        memset(out, 0, VERIFIER_MAC_SIZE);
        if (!mac_keyed)
                return -ENOKEY;
        ctx = EVP_MAC_CTX_dup(mac_keyed);
        /* The user name is part of the input: equal passwords of two users
         * have unrelated MACs.  The NUL keeps ("ab","c") from ("a","bc"). */
        if (ctx && EVP_MAC_update(ctx, (const unsigned char *) user, strlen(user)) == 1 &&
            EVP_MAC_update(ctx, &separator, 1) == 1 &&
            EVP_MAC_update(ctx, (const unsigned char *) password, strlen(password)) == 1 &&
            EVP_MAC_final(ctx, out, &len, VERIFIER_MAC_SIZE) == 1 && len == VERIFIER_MAC_SIZE)
                r = 0;
        else
                memset(out, 0, VERIFIER_MAC_SIZE);
        /* OpenSSL cleanses the digest state (which held password bytes)
         * when the context is freed. */
        EVP_MAC_CTX_free(ctx);
        return r;
}

bool verifier_mac_equal(const unsigned char a[VERIFIER_MAC_SIZE], const unsigned char b[VERIFIER_MAC_SIZE]) {
        return CRYPTO_memcmp(a, b, VERIFIER_MAC_SIZE) == 0;
}
