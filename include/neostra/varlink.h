/* SPDX-License-Identifier: MIT */
/*
 * The one Varlink codec: framing (NUL-terminated JSON), decoding with hard
 * limits, and encoding into buffers that are wiped whenever they move or die,
 * because requests carry passwords.  Used by the daemon, the module and the CLI.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* A growable byte buffer that never leaves a copy of its contents behind. */
struct vbuf {
        char *data;
        size_t len;
        size_t cap;
};

/* Append; fails with -EMSGSIZE when len would exceed max, -ENOMEM. */
int vbuf_append(struct vbuf *b, const void *p, size_t n, size_t max);
/* Drop the first n bytes (wiping what moves). */
void vbuf_consume(struct vbuf *b, size_t n);
/* Wipe and release; the struct is left empty and reusable. */
void vbuf_done(struct vbuf *b);

/*
 * Decode one message body (without its NUL).  Rejects embedded NULs,
 * non-objects, duplicate keys, trailing data, bodies over
 * NEOSTRA_MESSAGE_MAX.  Returns 0 and a new reference, or -EBADMSG /
 * -EMSGSIZE.
 */
int varlink_decode(const char *data, size_t len, json_t **ret);

/*
 * Encode msg compactly plus the terminating NUL, appended to out.
 * Returns 0, -EMSGSIZE (message over NEOSTRA_MESSAGE_MAX) or -ENOMEM.
 */
int varlink_encode(const json_t *msg, struct vbuf *out);
/* The same with another bound on the message (a userdb record may be
 * larger than any call). */
int varlink_encode_max(const json_t *msg, struct vbuf *out, size_t max);

/*
 * Framing reader: bytes go in with varlink_reader_feed(); complete messages
 * come out with varlink_reader_pop().  The buffer is capped at
 * NEOSTRA_MESSAGE_MAX + 1, so a peer that never sends a NUL gets -EMSGSIZE.
 */
struct varlink_reader {
        struct vbuf buf;
};
int varlink_reader_feed(struct varlink_reader *r, const void *p, size_t n);
/* 1 and a message, 0 when no complete message yet, or -EBADMSG/-EMSGSIZE. */
int varlink_reader_pop(struct varlink_reader *r, json_t **ret);
/* true while a partial message is buffered. */
bool varlink_reader_pending(const struct varlink_reader *r);
/* true while at least one whole message is buffered. */
bool varlink_reader_complete(const struct varlink_reader *r);
void varlink_reader_done(struct varlink_reader *r);

/* Message builders; they steal the reference to params (which may be NULL). */
json_t *varlink_call_new(const char *method, json_t *params);
json_t *varlink_reply_new(json_t *params);
json_t *varlink_error_new(const char *error, json_t *params);
/* An error with a single "reason" string parameter. */
json_t *varlink_error_reason(const char *error, const char *reason);

/*
 * Split a decoded call.  method must be a string naming a method
 * ("iface.Method", bounded); parameters, when present, an object (an empty
 * one is supplied when absent); oneway/more booleans.  The returned pointers
 * borrow from msg.  Returns 0 or -EBADMSG.
 */
int varlink_call_parse(json_t *msg, const char **ret_method, json_t **ret_params,
                       bool *ret_oneway, bool *ret_more);

/*
 * Split a decoded reply.  *ret_error is NULL for a successful reply.
 * Returns 0 or -EBADMSG.
 */
int varlink_reply_parse(json_t *msg, const char **ret_error, json_t **ret_params,
                        bool *ret_continues);

/*
 * Typed parameter access with bounds.  Each returns 0 and fills *ret, -ENOENT
 * when the key is absent (ret untouched), or -EINVAL when present but of the
 * wrong type, too long, or containing control characters (strings).
 */
int varlink_param_string(json_t *params, const char *key, size_t max, const char **ret);
int varlink_param_bool(json_t *params, const char *key, bool *ret);
