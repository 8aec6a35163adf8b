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

/* ---- in-memory password MACs (verifier.h) ------------------------------- */

static unsigned char mac_key[32];
static bool mac_key_set;
static EVP_MAC *mac_hmac;       /* fetched once: the lookup costs more than the MAC */

int verifier_mac_init(void) {
        size_t got = 0;

        while (got < sizeof(mac_key)) {
                ssize_t n = getrandom(mac_key + got, sizeof(mac_key) - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (!mac_hmac) {
                explicit_bzero(mac_key, sizeof(mac_key));
                return -ENOSYS;
        }
        mac_key_set = true;
        return 0;
}

void verifier_mac_done(void) {
        explicit_bzero(mac_key, sizeof(mac_key));
        mac_key_set = false;
        EVP_MAC_free(mac_hmac);
        mac_hmac = NULL;
}

int verifier_mac(const char *user, const char *password, unsigned char out[VERIFIER_MAC_SIZE]) {
        static const unsigned char separator = 0;
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_end(),
        };
        EVP_MAC_CTX *ctx;
        size_t len = 0;
        int r = -EIO;

        memset(out, 0, VERIFIER_MAC_SIZE);
        if (!mac_key_set)
                return -ENOKEY;
        ctx = EVP_MAC_CTX_new(mac_hmac);
        /* The user name is part of the input: equal passwords of two users
         * have unrelated MACs.  The NUL keeps ("ab","c") from ("a","bc"). */
        if (ctx && EVP_MAC_init(ctx, mac_key, sizeof(mac_key), params) == 1 &&
            EVP_MAC_update(ctx, (const unsigned char *) user, strlen(user)) == 1 &&
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
