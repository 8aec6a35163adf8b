/* SPDX-License-Identifier: MIT */
/* libFuzzer: the Varlink framing reader, decoder and call/reply splitters. */
#include <stddef.h>
#include <stdint.h>

#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct varlink_reader r = {};
        json_t *msg;
        int k;

        if (size > NEOSTRA_MESSAGE_MAX * 2)
                return 0;
        /* Feed in two uneven pieces, as a socket would deliver them. */
        if (varlink_reader_feed(&r, data, size / 3) < 0 ||
            varlink_reader_feed(&r, data + size / 3, size - size / 3) < 0)
                goto done;

        while ((k = varlink_reader_pop(&r, &msg)) > 0) {
                const char *method, *error, *s;
                json_t *params;
                bool a, b;
                struct vbuf out = {};

                if (varlink_call_parse(msg, &method, &params, &a, &b) == 0) {
                        (void) varlink_param_string(params, "user", NEOSTRA_USER_MAX, &s);
                        (void) varlink_param_bool(params, "offline", &a);
                }
                if (varlink_reply_parse(msg, &error, &params, &a) == 0)
                        (void) varlink_param_string(params, "reason", 512, &s);
                /* Whatever decoded must encode again within the cap. */
                (void) varlink_encode(msg, &out);
                vbuf_done(&out);
                json_decref_wipe(msg);
        }
done:
        varlink_reader_done(&r);
        return 0;
}
