/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "neostra/secure.h"

void secure_free(void *p, size_t len) {
        if (!p)
                return;
        explicit_bzero(p, len);
        free(p);
}

void secure_free_string(char *s) {
        if (s)
                secure_free(s, strlen(s));
}

#define BURN_CHUNK 4096u

void __attribute__((noinline)) secure_burn_stack(size_t bytes) {
        char buf[BURN_CHUNK];

        explicit_bzero(buf, sizeof(buf));
        /* Recurse rather than use one large array: a frame of a few KiB
         * stays within the guard page and under -fstack-clash-protection's
         * probing, and the depth is what reaches far down. */
        if (bytes > BURN_CHUNK)
                secure_burn_stack(bytes - BURN_CHUNK);
        __asm__ volatile("" : : "r"(buf) : "memory");
}

void json_wipe_strings(json_t *json) {
        const char *key;
        json_t *value;
        size_t i;

        if (!json)
                return;

        switch (json_typeof(json)) {
        case JSON_STRING:
                /* jansson owns the bytes and offers no wiping setter; the
                 * buffer is ours to scrub right before it is released. */
                explicit_bzero((char *) json_string_value(json), json_string_length(json));
                break;
        case JSON_OBJECT:
                json_object_foreach(json, key, value)
                        json_wipe_strings(value);
                break;
        case JSON_ARRAY:
                json_array_foreach(json, i, value)
                        json_wipe_strings(value);
                break;
        default:
                break;
        }
}

void json_decref_wipe(json_t *json) {
        if (!json)
                return;
        /* Only scrub when this is the last reference: another holder may
         * still be reading the value. */
        if (json->refcount == 1)
                json_wipe_strings(json);
        json_decref(json);
}
