/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the module's codec (common/wire.c) against the daemon's
 * (common/varlink.c, jansson with JSON_REJECT_DUPLICATES).  On every input:
 *
 *  - wire_parse() and varlink_decode() must agree on accepting it, and on
 *    the value when both do;
 *  - wire_reply_parse() must agree with varlink_reply_parse() plus the
 *    checks common/client.c adds ("continues" refused), and the typed
 *    parameter getters with varlink_param_*();
 *  - a request built from the input's strings must decode, through
 *    jansson, to exactly those strings.
 *
 * The deliberate differences (include/neostra/wire.h) are allowed: our
 * limits (-E2BIG), and reals, whose values we never read, so a real that
 * overflows a double is accepted here and refused by jansson.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"
#include "neostra/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct wire_value *w, json_t *j);

static bool same_children(const struct wire_value *w, json_t *j) {
        const struct wire_value *c;
        size_t i = 0;

        if (w->type == WIRE_ARRAY) {
                if (!json_is_array(j) || json_array_size(j) != w->length)
                        return false;
                for (c = w->first; c; c = c->next)
                        if (!same(c, json_array_get(j, i++)))
                                return false;
                return i == w->length;
        }
        if (!json_is_object(j) || json_object_size(j) != w->length)
                return false;
        for (c = w->first; c; c = c->next, i++) {
                json_t *v = json_object_get(j, c->key);

                if (!v || !same(c, v))
                        return false;
        }
        return i == w->length;
}

static bool same(const struct wire_value *w, json_t *j) {
        switch (w->type) {
        case WIRE_NULL:
                return json_is_null(j);
        case WIRE_BOOL:
                return json_is_boolean(j) && json_is_true(j) == w->boolean;
        case WIRE_INTEGER:
                return json_is_integer(j) && json_integer_value(j) == w->integer;
        case WIRE_REAL:
                return json_is_real(j);
        case WIRE_STRING:
                return json_is_string(j) && json_string_length(j) == w->length &&
                       strlen(w->string) == w->length &&
                       memcmp(json_string_value(j), w->string, w->length) == 0;
        case WIRE_ARRAY:
        case WIRE_OBJECT:
                return same_children(w, j);
        }
        return false;
}

/* Whether jansson refuses data only for a real that overflows a double. */
static bool jansson_real_overflow(const uint8_t *data, size_t size) {
        json_error_t error;
        json_t *j = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &error);

        json_decref(j);
        return !j && strstr(error.text, "real number overflow");
}

/* The reply rules, both ways; json is varlink_decode()'s (and altered). */
static void compare_replies(const uint8_t *data, size_t size, json_t *json) {
        struct wire_reply mine;
        const char *error = NULL, *s1 = NULL, *s2 = NULL;
        json_t *params = NULL;
        bool continues = false, b1 = false, b2 = false;
        int r, k;

        r = wire_reply_parse((const char *) data, size, &mine);
        k = varlink_reply_parse(json, &error, &params, &continues);
        if (k == 0 && continues)
                k = -EBADMSG;           /* common/client.c refuses it */
        if ((r == 0) != (k == 0))
                abort();
        if (r < 0)
                return;
        if ((mine.error == NULL) != (error == NULL) || (error && strcmp(error, mine.error) != 0))
                abort();
        if (!same(mine.params, params))
                abort();
        if (wire_param_string(mine.params, "reason", 512, &s1) !=
            varlink_param_string(params, "reason", 512, &s2) || (s1 && strcmp(s1, s2) != 0))
                abort();
        if (wire_param_bool(mine.params, "offline", &b1) != varlink_param_bool(params, "offline", &b2) ||
            b1 != b2)
                abort();
        wire_reply_done(&mine);
}

/* The first few string members of the top level, sent as a request, must
 * come back through the daemon's decoder unchanged. */
static void compare_request(const struct wire_value *root) {
        struct wire_param p[8];
        const struct wire_value *m;
        struct wire_buf req = {};
        json_t *msg = NULL, *params;
        const char *method;
        bool oneway, more;
        size_t n = 0, i;

        for (m = root->first; m && n < 8; m = m->next)
                if (m->type == WIRE_STRING)
                        p[n++] = (struct wire_param) { .key = m->key, .type = WIRE_PARAM_STRING,
                                                       .string = m->string };
        if (wire_request_new("io.neostra.Fuzz.Call", p, n, &req) < 0)
                return;         /* over the cap, or -ENOMEM */
        if (varlink_decode(req.data, req.len - 1, &msg) < 0 ||
            varlink_call_parse(msg, &method, &params, &oneway, &more) < 0 ||
            strcmp(method, "io.neostra.Fuzz.Call") != 0 || json_object_size(params) != n)
                abort();
        for (i = 0; i < n; i++) {
                json_t *v = json_object_get(params, p[i].key);

                if (!json_is_string(v) || strcmp(json_string_value(v), p[i].string) != 0)
                        abort();
        }
        json_decref_wipe(msg);
        wire_buf_done(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct wire_doc doc;
        json_t *json = NULL;
        int mine, theirs;

        mine = wire_parse((const char *) data, size, &doc);
        theirs = varlink_decode((const char *) data, size, &json);

        if (mine == -ENOMEM)
                goto done;
        if ((mine == -EMSGSIZE) != (theirs == -EMSGSIZE))
                abort();
        if (mine == 0 && theirs < 0 && !jansson_real_overflow(data, size))
                abort();
        if (mine == -EBADMSG && theirs == 0)
                abort();
        if (mine == 0 && theirs == 0) {
                if (!same(doc.root, json))
                        abort();
                compare_request(doc.root);
                compare_replies(data, size, json);
        }
done:
        wire_doc_done(&doc);
        json_decref(json);
        return 0;
}
