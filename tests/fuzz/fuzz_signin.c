/* SPDX-License-Identifier: MIT */
/* libFuzzer: the sign-in and token refresh answer validators.  The first
 * two bytes choose the HTTP status, the rest is the body.  Whatever it is,
 * the outcome must be one of the four and an allow must carry a token (and
 * for a sign-in, or a refresh that brought the user, our email). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const long statuses[] = { 200, 200, 200, 401, 403, 404, 429, 500, 302, 0 };
        struct api_signin_result r;
        long status;

        if (size < 1)
                return 0;
        status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
        api_parse_signin_response(status, (const char *) data + 1, size - 1, "alice@example.com", &r);
        if (r.outcome == API_ALLOW && (status != 200 || !r.token || !r.email ||
                                       strcmp(r.email, "alice@example.com") != 0))
                abort();
        if (r.outcome != API_ALLOW && (r.token || r.roles))
                abort();
        api_signin_result_clear(&r);
        /* The refresh answer's parser reads the same shape (data.user
         * included): a user only for our email, nothing without an allow. */
        api_parse_refresh_response(status, (const char *) data + 1, size - 1, "alice@example.com", &r);
        if (r.outcome == API_ALLOW && (status != 200 || !r.token ||
                                       (r.has_user && (!r.email || strcmp(r.email, "alice@example.com") != 0))))
                abort();
        if (r.outcome != API_ALLOW && (r.token || r.roles || r.has_user))
                abort();
        api_signin_result_clear(&r);
        return 0;
}
