/* SPDX-License-Identifier: MIT */
/*
 * The Varlink codec shared by neostrad, pam_neostra.so and neostractl.
 * See include/neostra/protocol.h for the wire and include/neostra/varlink.h
 * for the contract of each function.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/varlink.h"

/* Grow geometrically, but never leave the old block behind unwiped: a
 * request in here may carry a password, and realloc() would free the old
 * block with the password still in it. */
static int vbuf_reserve(struct vbuf *b, size_t need) {
        size_t cap;
        char *p;

        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 256;
        while (cap < need) {
                if (cap > SIZE_MAX / 2)
                        return -ENOMEM;
                cap *= 2;
        }
        p = malloc(cap);
        if (!p)
                return -ENOMEM;
        if (b->len)
                memcpy(p, b->data, b->len);
        if (b->data) {
                explicit_bzero(b->data, b->cap);
                free(b->data);
        }
        b->data = p;
        b->cap = cap;
        return 0;
}

int vbuf_append(struct vbuf *b, const void *p, size_t n, size_t max) {
        int r;

        if (n > max || b->len > max - n)
                return -EMSGSIZE;
        if (n == 0)
                return 0;       /* nothing to copy, and data may still be NULL */
        r = vbuf_reserve(b, b->len + n);
        if (r < 0)
                return r;
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

void vbuf_consume(struct vbuf *b, size_t n) {
        if (n >= b->len) {
                if (b->data)
                        explicit_bzero(b->data, b->len);
                b->len = 0;
                return;
        }
        memmove(b->data, b->data + n, b->len - n);
        /* The tail that moved forward still holds its old copy. */
        explicit_bzero(b->data + b->len - n, n);
        b->len -= n;
}

void vbuf_done(struct vbuf *b) {
        if (b->data) {
                explicit_bzero(b->data, b->cap);
                free(b->data);
        }
        *b = (struct vbuf) {};
}

int varlink_decode(const char *data, size_t len, json_t **ret) {
        json_error_t error;
        json_t *json;

        if (len > NEOSTRA_MESSAGE_MAX)
                return -EMSGSIZE;
        if (memchr(data, 0, len))
                return -EBADMSG;

        /* Duplicate keys are refused: two "user" keys must never let the
         * checked one and the used one differ.  Trailing data is refused
         * too (jansson checks for EOF unless told otherwise). */
        json = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
        if (!json)
                return -EBADMSG;
        if (!json_is_object(json)) {
                json_decref(json);
                return -EBADMSG;
        }
        *ret = json;
        return 0;
}

struct encode_ctx {
        struct vbuf *out;
        size_t start;
        size_t max;
        int error;
};

static int encode_chunk(const char *buffer, size_t size, void *userdata) {
        struct encode_ctx *ctx = userdata;
        int r;

        /* Chunks are appended straight into the wiped buffer, so jansson
         * never builds a private copy of the message (and its password). */
        if (ctx->max < SIZE_MAX && ctx->out->len - ctx->start + size > ctx->max) {
                ctx->error = -EMSGSIZE;
                return -1;
        }
        r = vbuf_append(ctx->out, buffer, size, SIZE_MAX - 1);
        if (r < 0) {
                ctx->error = r;
                return -1;
        }
        return 0;
}

int varlink_encode(const json_t *msg, struct vbuf *out) {
        return varlink_encode_max(msg, out, NEOSTRA_MESSAGE_MAX);
}

int varlink_encode_max(const json_t *msg, struct vbuf *out, size_t max) {
        struct encode_ctx ctx = { .out = out, .start = out->len, .max = max };
        size_t start = out->len;
        int r;

        r = json_dump_callback(msg, encode_chunk, &ctx, JSON_COMPACT);
        if (r < 0 || ctx.error < 0) {
                r = ctx.error < 0 ? ctx.error : -ENOMEM;
                goto fail;
        }
        if (out->len - start > max) {
                r = -EMSGSIZE;
                goto fail;
        }
        r = vbuf_append(out, "", 1, SIZE_MAX);
        if (r < 0)
                goto fail;
        return 0;

fail:
        /* Leave out as it was, minus the (wiped) partial message. */
        explicit_bzero(out->data + start, out->len - start);
        out->len = start;
        return r;
}

int varlink_reader_feed(struct varlink_reader *r, const void *p, size_t n) {
        /* One complete message plus its NUL is the most we ever hold: the
         * peer must wait for an answer before it sends the next call. */
        return vbuf_append(&r->buf, p, n, NEOSTRA_MESSAGE_MAX + 1);
}

int varlink_reader_pop(struct varlink_reader *r, json_t **ret) {
        const char *nul;
        size_t len;
        int k;

        if (r->buf.len == 0)
                return 0;
        nul = memchr(r->buf.data, 0, r->buf.len);
        if (!nul)
                return r->buf.len > NEOSTRA_MESSAGE_MAX ? -EMSGSIZE : 0;

        len = (size_t) (nul - r->buf.data);
        k = varlink_decode(r->buf.data, len, ret);
        vbuf_consume(&r->buf, len + 1);
        return k < 0 ? k : 1;
}

bool varlink_reader_pending(const struct varlink_reader *r) {
        return r->buf.len > 0;
}

bool varlink_reader_complete(const struct varlink_reader *r) {
        return r->buf.len > 0 && memchr(r->buf.data, 0, r->buf.len);
}

void varlink_reader_done(struct varlink_reader *r) {
        vbuf_done(&r->buf);
}

static json_t *message_new(const char *key, const char *value, json_t *params) {
        json_t *msg = json_object();

        if (!msg)
                goto fail;
        if (key && json_object_set_new(msg, key, json_string(value)) < 0)
                goto fail;
        if (json_object_set_new(msg, "parameters", params ? params : json_object()) < 0) {
                params = NULL; /* set_new consumed it even on failure */
                goto fail;
        }
        return msg;

fail:
        json_decref(params);
        json_decref(msg);
        return NULL;
}

json_t *varlink_call_new(const char *method, json_t *params) {
        return message_new("method", method, params);
}

json_t *varlink_reply_new(json_t *params) {
        return message_new(NULL, NULL, params);
}

json_t *varlink_error_new(const char *error, json_t *params) {
        return message_new("error", error, params);
}

json_t *varlink_error_reason(const char *error, const char *reason) {
        return varlink_error_new(error, json_pack("{s:s}", "reason", reason));
}

/* "io.neostra.Auth.Authenticate": dotted name of interface plus method,
 * letters, digits and dots only, bounded. */
static bool valid_method_name(const char *s) {
        size_t n = 0;
        bool dot = false;

        for (; s[n]; n++) {
                char c = s[n];
                if (n >= 255)
                        return false;
                if (c == '.')
                        dot = true;
                else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9')))
                        return false;
        }
        return n > 0 && dot && s[0] != '.' && s[n - 1] != '.';
}

static int optional_bool(json_t *msg, const char *key, bool *ret) {
        json_t *v = json_object_get(msg, key);

        if (!v) {
                if (ret)
                        *ret = false;
                return 0;
        }
        if (!json_is_boolean(v))
                return -EBADMSG;
        if (ret)
                *ret = json_is_true(v);
        return 0;
}

static int parameters_of(json_t *msg, json_t **ret) {
        json_t *params = json_object_get(msg, "parameters");

        if (!params) {
                /* Absent parameters mean an empty object; keep one inside
                 * msg so the borrowed pointer lives as long as msg. */
                params = json_object();
                if (!params || json_object_set_new(msg, "parameters", params) < 0)
                        return -ENOMEM;
        } else if (!json_is_object(params))
                return -EBADMSG;
        *ret = params;
        return 0;
}

int varlink_call_parse(json_t *msg, const char **ret_method, json_t **ret_params,
                       bool *ret_oneway, bool *ret_more) {
        json_t *method, *params;
        const char *key;
        json_t *value;
        int r;

        json_object_foreach(msg, key, value)
                if (strcmp(key, "method") && strcmp(key, "parameters") &&
                    strcmp(key, "oneway") && strcmp(key, "more") && strcmp(key, "upgrade"))
                        return -EBADMSG;

        method = json_object_get(msg, "method");
        if (!json_is_string(method) || !valid_method_name(json_string_value(method)))
                return -EBADMSG;
        if (json_object_get(msg, "upgrade") && !json_is_false(json_object_get(msg, "upgrade")))
                return -EBADMSG; /* we never upgrade a connection */
        if (optional_bool(msg, "oneway", ret_oneway) < 0 ||
            optional_bool(msg, "more", ret_more) < 0)
                return -EBADMSG;
        r = parameters_of(msg, &params);
        if (r < 0)
                return r;

        *ret_method = json_string_value(method);
        *ret_params = params;
        return 0;
}

int varlink_reply_parse(json_t *msg, const char **ret_error, json_t **ret_params,
                        bool *ret_continues) {
        json_t *error, *params;
        int r;

        error = json_object_get(msg, "error");
        if (error && (!json_is_string(error) || !valid_method_name(json_string_value(error))))
                return -EBADMSG;
        if (json_object_get(msg, "method"))
                return -EBADMSG;
        if (optional_bool(msg, "continues", ret_continues) < 0)
                return -EBADMSG;
        r = parameters_of(msg, &params);
        if (r < 0)
                return r;

        *ret_error = error ? json_string_value(error) : NULL;
        *ret_params = params;
        return 0;
}

int varlink_param_string(json_t *params, const char *key, size_t max, const char **ret) {
        json_t *v = json_object_get(params, key);
        const char *s;
        size_t len;

        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_string(v))
                return -EINVAL;
        s = json_string_value(v);
        len = json_string_length(v);
        /* The whole length, not strlen(): an embedded NUL (\u0000) fails. */
        if (len > max || !neostra_text_valid(s, len, 0))
                return -EINVAL;
        *ret = s;
        return 0;
}

int varlink_param_bool(json_t *params, const char *key, bool *ret) {
        json_t *v = json_object_get(params, key);

        if (!v || json_is_null(v))
                return -ENOENT;
        if (!json_is_boolean(v))
                return -EINVAL;
        *ret = json_is_true(v);
        return 0;
}
