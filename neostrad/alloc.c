/* SPDX-License-Identifier: MIT */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "alloc.h"

static void wipe_free(void *p) {
        if (!p)
                return;
        /* malloc_usable_size() covers the whole block, slack included. */
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
}

static void *wipe_realloc(void *p, size_t n) {
        size_t old;
        void *q;

        if (!p)
                return malloc(n);
        if (n == 0) {
                wipe_free(p);
                return NULL;
        }
        old = malloc_usable_size(p);
        if (n <= old)
                return p;
        /* Never let realloc() free the old block with its contents. */
        q = malloc(n);
        if (!q)
                return NULL;
        memcpy(q, p, old);
        wipe_free(p);
        return q;
}

static void *plain_malloc(size_t n) {
        return malloc(n);
}

static void *plain_calloc(size_t n, size_t size) {
        return calloc(n, size);
}

static char *plain_strdup(const char *s) {
        return strdup(s);
}

/* SQLite keeps cached rows (tokens, verifiers) in its page cache. */
static void *sqlite_malloc(int n) {
        return n > 0 ? malloc((size_t) n) : NULL;
}

static void *sqlite_realloc(void *p, int n) {
        return wipe_realloc(p, n > 0 ? (size_t) n : 0);
}

static int sqlite_size(void *p) {
        return p ? (int) malloc_usable_size(p) : 0;
}

static int sqlite_roundup(int n) {
        return (n + 7) & ~7;
}

/* OpenSSL decrypts the API's answers (tokens among them) in place in its
 * record buffers, which libcurl has it release while a kept connection is
 * idle: wiped when freed, like everything else. */
static void *ossl_malloc(size_t n, const char *file, int line) {
        return malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line) {
        return wipe_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line) {
        wipe_free(p);
}

static int sqlite_init(void *unused) {
        return SQLITE_OK;
}

static void sqlite_shutdown(void *unused) {
}

int secure_alloc_install(void) {
        static const sqlite3_mem_methods sqlite_mem = {
                .xMalloc = sqlite_malloc,
                .xFree = wipe_free,
                .xRealloc = sqlite_realloc,
                .xSize = sqlite_size,
                .xRoundup = sqlite_roundup,
                .xInit = sqlite_init,
                .xShutdown = sqlite_shutdown,
        };

        /* Every block of SQLite's through the functions above, so each is
         * wiped when freed: no lookaside slots (small buffers, row values
         * among them, reused without a free) and no bulk page-cache block
         * (pages kept on a private list when the cache lets them go). */
        if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sqlite_mem) != SQLITE_OK ||
            sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK ||
            sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0) != SQLITE_OK)
                return -1;
        json_set_alloc_funcs(plain_malloc, wipe_free);
        /* Only possible before OpenSSL has allocated anything. */
        if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free))
                return -1;
        return curl_global_init_mem(CURL_GLOBAL_DEFAULT, plain_malloc, wipe_free,
                                    wipe_realloc, plain_strdup, plain_calloc) == CURLE_OK ? 0 : -1;
}
