/* SPDX-License-Identifier: MIT */
/*
 * The module's own Varlink JSON codec, so that pam_neostra.so does not load
 * libjansson into every sshd, sudo and su (about half of the module's
 * dlopen cost, at every pam_start).  The daemon and neostractl keep jansson
 * (varlink.h); tests/fuzz/fuzz_wire.c holds this parser to varlink_decode().
 *
 * Writing: one call builds a whole request,
 *     {"method":"...","parameters":{"key":"value","flag":true}}\0
 * sized exactly before it is written, so the buffer that carries a password
 * is never reallocated; wire_buf_done() wipes it.
 *
 * Reading: wire_parse() turns one message body into a small read-only tree
 * allocated from an arena that wire_doc_done() wipes and frees.  It is
 * strict JSON (RFC 8259) plus what varlink_decode() refuses too:
 *   - the top level must be an object; nothing may follow it but whitespace;
 *   - duplicate member names in one object are refused (as jansson's
 *     JSON_REJECT_DUPLICATES), so a checked key and a used key never differ;
 *   - strings must be valid UTF-8 (no overlong forms, surrogates or code
 *     points above U+10FFFF), escapes included; \u0000 is refused;
 *   - integers are int64; one that does not fit is refused.
 * And, unlike jansson, hard limits on nesting, members, elements and values
 * (below), answered with -E2BIG.  Numbers with a fraction or an exponent are
 * accepted as WIRE_REAL without a value: the module reads none, and jansson
 * refusing one that overflows a double is a deliberate difference.
 *
 * Nothing here logs, keeps global state or touches signals: it runs inside
 * the process that loaded the module.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_DEPTH_MAX     8u           /* nested arrays and objects */
#define WIRE_MEMBERS_MAX   128u         /* members of one object */
#define WIRE_ELEMENTS_MAX  2048u        /* elements of one array */
#define WIRE_VALUES_MAX    8192u        /* values in one message */

/* ---- writing ------------------------------------------------------------ */

/* A finished message, NUL terminator included in len. */
struct wire_buf {
        char *data;
        size_t len;
};

enum wire_param_type {
        WIRE_PARAM_STRING,
        WIRE_PARAM_BOOL,
};

struct wire_param {
        const char *key;
        enum wire_param_type type;
        const char *string;     /* WIRE_PARAM_STRING: valid UTF-8 */
        bool boolean;           /* WIRE_PARAM_BOOL */
};

/*
 * Build a Varlink call of method with n parameters.  Returns 0 and *ret, or
 * -EINVAL (a string that is not valid UTF-8), -EMSGSIZE (over
 * NEOSTRA_MESSAGE_MAX), -ENOMEM.
 */
int wire_request_new(const char *method, const struct wire_param *params, size_t n,
                     struct wire_buf *ret);

/* Wipe and free; accepts an empty buffer and leaves one behind. */
void wire_buf_done(struct wire_buf *b);

/* Whether s[0..len) is valid UTF-8 as JSON strings need it (common/text.c
 * decides); any character passes, control characters and NUL included. */
bool wire_utf8_valid(const char *s, size_t len);

/* ---- reading ------------------------------------------------------------ */

enum wire_type {
        WIRE_NULL,
        WIRE_BOOL,
        WIRE_INTEGER,
        WIRE_REAL,
        WIRE_STRING,
        WIRE_ARRAY,
        WIRE_OBJECT,
};

struct wire_value {
        enum wire_type type;
        bool boolean;                   /* WIRE_BOOL */
        int64_t integer;                /* WIRE_INTEGER */
        const char *string;             /* WIRE_STRING: NUL-terminated, no NUL inside */
        size_t length;                  /* bytes of string, or members/elements */
        const struct wire_value *first; /* WIRE_ARRAY, WIRE_OBJECT: first child */
        const struct wire_value *next;  /* next sibling in the parent */
        const char *key;                /* member name inside an object */
};

struct wire_block;

/* A parsed message: the tree and the arena it lives in. */
struct wire_doc {
        const struct wire_value *root;
        struct wire_block *blocks;
};

/*
 * Parse one message body of len bytes (its NUL not included).  Returns 0
 * and *ret, -EMSGSIZE (over NEOSTRA_MESSAGE_MAX), -E2BIG (a limit above),
 * -EBADMSG (not JSON, or refused as described above), -ENOMEM.  On failure
 * *ret is left empty; wire_doc_done() on it is harmless.
 */
int wire_parse(const char *data, size_t len, struct wire_doc *ret);

/* Wipe and free the arena; accepts an empty doc and leaves one behind. */
void wire_doc_done(struct wire_doc *doc);

/* The member key of object, or NULL when absent or object is no object. */
const struct wire_value *wire_get(const struct wire_value *object, const char *key);

/* ---- Varlink replies ---------------------------------------------------- */

struct wire_reply {
        struct wire_doc doc;
        const char *error;                      /* NULL for a successful reply */
        const struct wire_value *params;        /* always an object */
};

/*
 * Parse and check a reply the way common/client.c does for neostractl:
 * an optional "error" naming an error ("iface.Name"), no "method",
 * "continues" absent or false (we never ask for more), "parameters" absent
 * (read as empty) or an object.  Returns 0, or what wire_parse() returns,
 * -EBADMSG for a reply that breaks these rules.
 */
int wire_reply_parse(const char *data, size_t len, struct wire_reply *ret);
void wire_reply_done(struct wire_reply *reply);

/*
 * Typed parameters, as varlink_param_string()/_bool(): 0 and *ret, -ENOENT
 * when absent or null, -EINVAL when of the wrong type or (strings) longer
 * than max or holding a control character.
 */
int wire_param_string(const struct wire_value *params, const char *key, size_t max,
                      const char **ret);
int wire_param_bool(const struct wire_value *params, const char *key, bool *ret);
