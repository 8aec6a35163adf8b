/* SPDX-License-Identifier: MIT */
/*
 * The module's JSON codec for Varlink messages; see include/neostra/wire.h
 * for what it accepts and why it exists.  The rules it mirrors are those of
 * common/varlink.c (jansson with JSON_REJECT_DUPLICATES) and the reply
 * checks of common/client.c; tests/fuzz/fuzz_wire.c compares the two.
 */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/wire.h"

/* ---- UTF-8 -------------------------------------------------------------- */

/* Only the encoding: the writer escapes every control character, and
 * which characters a parameter may hold is wire_param_string()'s business.
 * The callers here measure with strlen(), so no NUL reaches the writer. */
bool wire_utf8_valid(const char *s, size_t len) {
        return neostra_text_valid(s, len, NEOSTRA_TEXT_CONTROLS);
}

/* ---- writing ------------------------------------------------------------ */

/*
 * Requests are written twice: once without a buffer to learn their exact
 * size, once into a buffer of that size.  So the buffer that holds the
 * password is allocated once and never moved.
 */
struct writer {
        char *data;     /* NULL while measuring */
        size_t len;
};

static void put(struct writer *w, const char *s, size_t n) {
        if (w->data)
                memcpy(w->data + w->len, s, n);
        w->len += n;
}

/* A JSON string as jansson's compact encoder writes it: quotes, backslash
 * and control characters escaped, everything else (valid UTF-8) as is.
 * Escapes are copied from constants, so no byte of the string is staged on
 * the stack on its way into the buffer. */
static void put_string(struct writer *w, const char *s) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p;

        put(w, "\"", 1);
        for (p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':  put(w, "\\\"", 2); break;
                case '\\': put(w, "\\\\", 2); break;
                case '\b': put(w, "\\b", 2); break;
                case '\f': put(w, "\\f", 2); break;
                case '\n': put(w, "\\n", 2); break;
                case '\r': put(w, "\\r", 2); break;
                case '\t': put(w, "\\t", 2); break;
                default:
                        if (*p < 0x20) {
                                put(w, "\\u00", 4);
                                put(w, &hex[*p >> 4], 1);
                                put(w, &hex[*p & 0xfu], 1);
                        } else
                                put(w, (const char *) p, 1);
                }
        }
        put(w, "\"", 1);
}

static void put_request(struct writer *w, const char *method, const struct wire_param *params,
                        size_t n) {
        size_t i;

        put(w, "{\"method\":", 10);
        put_string(w, method);
        put(w, ",\"parameters\":{", 15);
        for (i = 0; i < n; i++) {
                if (i > 0)
                        put(w, ",", 1);
                put_string(w, params[i].key);
                put(w, ":", 1);
                if (params[i].type == WIRE_PARAM_BOOL)
                        put(w, params[i].boolean ? "true" : "false", params[i].boolean ? 4 : 5);
                else
                        put_string(w, params[i].string);
        }
        put(w, "}}", 3);        /* the terminating NUL included */
}

static bool string_valid(const char *s) {
        return s && wire_utf8_valid(s, strlen(s));
}

int wire_request_new(const char *method, const struct wire_param *params, size_t n,
                     struct wire_buf *ret) {
        struct writer w = {};
        size_t i;

        if (!string_valid(method))
                return -EINVAL;
        for (i = 0; i < n; i++)
                if (!string_valid(params[i].key) ||
                    (params[i].type == WIRE_PARAM_STRING && !string_valid(params[i].string)))
                        return -EINVAL;

        put_request(&w, method, params, n);
        if (w.len - 1 > NEOSTRA_MESSAGE_MAX)
                return -EMSGSIZE;
        w.data = malloc(w.len);
        if (!w.data)
                return -ENOMEM;
        *ret = (struct wire_buf) { .data = w.data, .len = w.len };
        w.len = 0;
        put_request(&w, method, params, n);
        return 0;
}

void wire_buf_done(struct wire_buf *b) {
        if (b->data) {
                explicit_bzero(b->data, b->len);
                free(b->data);
        }
        *b = (struct wire_buf) {};
}

/* ---- the arena ---------------------------------------------------------- */

#define BLOCK_MIN 4096u

struct wire_block {
        struct wire_block *next;
        size_t size, used;
        alignas(max_align_t) unsigned char data[];
};

/* n bytes, aligned for a wire_value, from the newest block or a new one
 * twice as large as the last: few allocations for any message. */
static void *arena_alloc(struct wire_doc *doc, size_t n) {
        struct wire_block *b = doc->blocks;
        size_t size;
        void *p;

        n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
        if (!b || b->size - b->used < n) {
                size = b ? b->size * 2 : BLOCK_MIN;
                if (size < n)
                        size = n;
                b = malloc(sizeof(*b) + size);
                if (!b)
                        return NULL;
                *b = (struct wire_block) { .next = doc->blocks, .size = size };
                doc->blocks = b;
        }
        p = b->data + b->used;
        b->used += n;
        return p;
}

void wire_doc_done(struct wire_doc *doc) {
        struct wire_block *b = doc->blocks;

        /* Replies can carry tokens (GetToken): leave no copy behind. */
        while (b) {
                struct wire_block *next = b->next;

                explicit_bzero(b->data, b->used);
                free(b);
                b = next;
        }
        *doc = (struct wire_doc) {};
}

/* ---- reading ------------------------------------------------------------ */

struct parser {
        const unsigned char *p, *end;
        struct wire_doc *doc;
        size_t values;
};

static int parse_value(struct parser *ps, unsigned depth, struct wire_value **ret);

static void skip_space(struct parser *ps) {
        while (ps->p < ps->end &&
               (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
                ps->p++;
}

static struct wire_value *value_new(struct parser *ps, enum wire_type type) {
        struct wire_value *v = arena_alloc(ps->doc, sizeof(*v));

        if (v)
                *v = (struct wire_value) { .type = type };
        return v;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *ret) {
        uint32_t v = 0;
        int i;

        if (end - p < 4)
                return -EBADMSG;
        for (i = 0; i < 4; i++) {
                unsigned char c = p[i];

                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                        v |= c - 'a' + 10u;
                else if (c >= 'A' && c <= 'F')
                        v |= c - 'A' + 10u;
                else
                        return -EBADMSG;
        }
        *ret = v;
        return 0;
}

/* \uXXXX at p (after the backslash and 'u'), a surrogate pair as one code
 * point; advances *p past what it read. */
static int unicode_escape(const unsigned char **p, const unsigned char *end, uint32_t *ret) {
        uint32_t cp, low;

        if (hex4(*p, end, &cp) < 0)
                return -EBADMSG;
        *p += 4;
        if (cp >= 0xdc00u && cp <= 0xdfffu)
                return -EBADMSG;        /* a low surrogate alone */
        if (cp >= 0xd800u && cp <= 0xdbffu) {
                if (end - *p < 6 || (*p)[0] != '\\' || (*p)[1] != 'u' ||
                    hex4(*p + 2, end, &low) < 0 || low < 0xdc00u || low > 0xdfffu)
                        return -EBADMSG;
                *p += 6;
                cp = 0x10000u + ((cp - 0xd800u) << 10) + (low - 0xdc00u);
        }
        if (cp == 0)
                return -EBADMSG;        /* C strings cannot carry it; jansson refuses it too */
        *ret = cp;
        return 0;
}

static size_t utf8_encode(uint32_t cp, char *out) {
        if (cp < 0x80u) {
                out[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800u) {
                out[0] = (char) (0xc0u | (cp >> 6));
                out[1] = (char) (0x80u | (cp & 0x3fu));
                return 2;
        }
        if (cp < 0x10000u) {
                out[0] = (char) (0xe0u | (cp >> 12));
                out[1] = (char) (0x80u | ((cp >> 6) & 0x3fu));
                out[2] = (char) (0x80u | (cp & 0x3fu));
                return 3;
        }
        out[0] = (char) (0xf0u | (cp >> 18));
        out[1] = (char) (0x80u | ((cp >> 12) & 0x3fu));
        out[2] = (char) (0x80u | ((cp >> 6) & 0x3fu));
        out[3] = (char) (0x80u | (cp & 0x3fu));
        return 4;
}

/* Decode [p, end) (the inside of the quotes) into out, which has room for
 * end - p bytes: no escape or byte decodes to more than it takes up. */
static int decode_string(const unsigned char *p, const unsigned char *end, char *out,
                         size_t *ret_len) {
        size_t n = 0, k;
        uint32_t cp;

        while (p < end) {
                /* JSON's grammar, not a text rule: inside a string a control
                 * character must be escaped, and may be once it is. */
                if (*p < 0x20)
                        return -EBADMSG;
                if (*p >= 0x80) {
                        k = neostra_utf8_decode((const char *) p, (size_t) (end - p), NULL);
                        if (k == 0)
                                return -EBADMSG;
                        memcpy(out + n, p, k);
                        n += k;
                        p += k;
                        continue;
                }
                if (*p != '\\') {
                        out[n++] = (char) *p++;
                        continue;
                }
                if (end - p < 2)
                        return -EBADMSG;
                p += 2;
                switch (p[-1]) {
                case '"':  out[n++] = '"'; break;
                case '\\': out[n++] = '\\'; break;
                case '/':  out[n++] = '/'; break;
                case 'b':  out[n++] = '\b'; break;
                case 'f':  out[n++] = '\f'; break;
                case 'n':  out[n++] = '\n'; break;
                case 'r':  out[n++] = '\r'; break;
                case 't':  out[n++] = '\t'; break;
                case 'u':
                        if (unicode_escape(&p, end, &cp) < 0)
                                return -EBADMSG;
                        n += utf8_encode(cp, out + n);
                        break;
                default:
                        return -EBADMSG;
                }
        }
        out[n] = '\0';
        *ret_len = n;
        return 0;
}

/* A string at ps->p (its opening quote); the decoded copy lives in the
 * arena. */
static int parse_string(struct parser *ps, const char **ret, size_t *ret_len) {
        const unsigned char *start = ps->p + 1, *q = start;
        char *out;
        int r;

        /* Find the closing quote first: the decoded string is never longer
         * than what lies between the quotes. */
        while (q < ps->end && *q != '"') {
                if (*q == '\\' && ps->end - q < 2)
                        return -EBADMSG;
                q += *q == '\\' ? 2 : 1;
        }
        if (q >= ps->end)
                return -EBADMSG;

        out = arena_alloc(ps->doc, (size_t) (q - start) + 1);
        if (!out)
                return -ENOMEM;
        r = decode_string(start, q, out, ret_len);
        if (r < 0)
                return r;
        ps->p = q + 1;
        *ret = out;
        return 0;
}

/* An int64, or (with a fraction or exponent) a real whose value nobody
 * here reads.  The grammar is RFC 8259's: no leading zeros, no '+'. */
static int parse_number(struct parser *ps, struct wire_value *v) {
        const unsigned char *p = ps->p;
        bool negative = *p == '-', real = false;
        uint64_t mag = 0, limit = negative ? (uint64_t) INT64_MAX + 1u : (uint64_t) INT64_MAX;
        bool overflow = false;

        if (negative)
                p++;
        if (p >= ps->end || *p < '0' || *p > '9')
                return -EBADMSG;
        if (*p == '0')
                p++;
        else
                for (; p < ps->end && *p >= '0' && *p <= '9'; p++) {
                        unsigned d = *p - '0';

                        if (mag > (limit - d) / 10u)
                                overflow = true;
                        else
                                mag = mag * 10u + d;
                }
        if (p < ps->end && *p == '.') {
                real = true;
                if (++p >= ps->end || *p < '0' || *p > '9')
                        return -EBADMSG;
                while (p < ps->end && *p >= '0' && *p <= '9')
                        p++;
        }
        if (p < ps->end && (*p == 'e' || *p == 'E')) {
                real = true;
                if (++p < ps->end && (*p == '+' || *p == '-'))
                        p++;
                if (p >= ps->end || *p < '0' || *p > '9')
                        return -EBADMSG;
                while (p < ps->end && *p >= '0' && *p <= '9')
                        p++;
        }
        ps->p = p;
        if (real) {
                v->type = WIRE_REAL;
                return 0;
        }
        if (overflow)
                return -EBADMSG;        /* jansson: "too big integer" */
        v->type = WIRE_INTEGER;
        v->integer = negative ? (int64_t) (0u - mag) : (int64_t) mag;
        return 0;
}

static int parse_literal(struct parser *ps, const char *word, struct wire_value *v) {
        size_t n = strlen(word);

        if ((size_t) (ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
                return -EBADMSG;
        ps->p += n;
        if (word[0] == 'n')
                v->type = WIRE_NULL;
        else {
                v->type = WIRE_BOOL;
                v->boolean = word[0] == 't';
        }
        return 0;
}

static bool has_member(const struct wire_value *object, const char *key) {
        const struct wire_value *m;

        for (m = object->first; m; m = m->next)
                if (strcmp(m->key, key) == 0)
                        return true;
        return false;
}

/* The members or elements of the container v, from just after its opening
 * bracket through its closing one. */
static int parse_container(struct parser *ps, unsigned depth, struct wire_value *v) {
        bool object = v->type == WIRE_OBJECT;
        char close = object ? '}' : ']';
        size_t max = object ? WIRE_MEMBERS_MAX : WIRE_ELEMENTS_MAX;
        const struct wire_value **tail = &v->first;
        int r;

        if (depth > WIRE_DEPTH_MAX)
                return -E2BIG;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return 0;
        }
        for (;;) {
                struct wire_value *child;
                const char *key = NULL;
                size_t key_len;

                if (v->length == max)
                        return -E2BIG;
                if (object) {
                        if (ps->p >= ps->end || *ps->p != '"')
                                return -EBADMSG;
                        r = parse_string(ps, &key, &key_len);
                        if (r < 0)
                                return r;
                        if (has_member(v, key))
                                return -EBADMSG;
                        skip_space(ps);
                        if (ps->p >= ps->end || *ps->p != ':')
                                return -EBADMSG;
                        ps->p++;
                        skip_space(ps);
                }
                r = parse_value(ps, depth, &child);
                if (r < 0)
                        return r;
                child->key = key;
                *tail = child;
                tail = &child->next;
                v->length++;

                skip_space(ps);
                if (ps->p >= ps->end)
                        return -EBADMSG;
                if (*ps->p == close) {
                        ps->p++;
                        return 0;
                }
                if (*ps->p != ',')
                        return -EBADMSG;
                ps->p++;
                skip_space(ps);
        }
}

/* One value at ps->p; depth is that of the container it sits in. */
static int parse_value(struct parser *ps, unsigned depth, struct wire_value **ret) {
        struct wire_value *v;
        int r;

        if (ps->p >= ps->end)
                return -EBADMSG;
        if (++ps->values > WIRE_VALUES_MAX)
                return -E2BIG;
        v = value_new(ps, WIRE_NULL);
        if (!v)
                return -ENOMEM;

        switch (*ps->p) {
        case '{':
        case '[':
                v->type = *ps->p == '{' ? WIRE_OBJECT : WIRE_ARRAY;
                ps->p++;
                r = parse_container(ps, depth + 1, v);
                break;
        case '"':
                v->type = WIRE_STRING;
                r = parse_string(ps, &v->string, &v->length);
                break;
        case 't':
                r = parse_literal(ps, "true", v);
                break;
        case 'f':
                r = parse_literal(ps, "false", v);
                break;
        case 'n':
                r = parse_literal(ps, "null", v);
                break;
        default:
                r = parse_number(ps, v);
        }
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int wire_parse(const char *data, size_t len, struct wire_doc *ret) {
        struct wire_doc doc = {};
        struct parser ps = { (const unsigned char *) data, (const unsigned char *) data + len, &doc, 0 };
        struct wire_value *root;
        int r;

        *ret = (struct wire_doc) {};
        if (len > NEOSTRA_MESSAGE_MAX)
                return -EMSGSIZE;

        skip_space(&ps);
        if (ps.p >= ps.end || *ps.p != '{') {
                r = -EBADMSG;   /* a Varlink message is an object */
                goto fail;
        }
        r = parse_value(&ps, 0, &root);
        if (r < 0)
                goto fail;
        skip_space(&ps);
        if (ps.p != ps.end) {
                r = -EBADMSG;
                goto fail;
        }
        doc.root = root;
        *ret = doc;
        return 0;

fail:
        wire_doc_done(&doc);
        return r;
}

const struct wire_value *wire_get(const struct wire_value *object, const char *key) {
        const struct wire_value *m;

        if (!object || object->type != WIRE_OBJECT)
                return NULL;
        for (m = object->first; m; m = m->next)
                if (strcmp(m->key, key) == 0)
                        return m;
        return NULL;
}

/* ---- Varlink replies ---------------------------------------------------- */

/* As common/varlink.c's valid_method_name(): "iface.Name", letters, digits
 * and dots, at most 255 bytes, neither starting nor ending with a dot. */
static bool valid_error_name(const char *s, size_t n) {
        bool dot = false;
        size_t i;

        if (n == 0 || n > 255 || s[0] == '.' || s[n - 1] == '.')
                return false;
        for (i = 0; i < n; i++) {
                char c = s[i];

                if (c == '.')
                        dot = true;
                else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9')))
                        return false;
        }
        return dot;
}

int wire_reply_parse(const char *data, size_t len, struct wire_reply *ret) {
        const struct wire_value *root, *error, *continues, *params;
        struct wire_reply reply = {};
        int r;

        *ret = (struct wire_reply) {};
        r = wire_parse(data, len, &reply.doc);
        if (r < 0)
                return r;
        root = reply.doc.root;

        error = wire_get(root, "error");
        if (error && (error->type != WIRE_STRING || !valid_error_name(error->string, error->length)))
                goto bad;
        if (wire_get(root, "method"))
                goto bad;
        /* We never ask for more than one reply. */
        continues = wire_get(root, "continues");
        if (continues && (continues->type != WIRE_BOOL || continues->boolean))
                goto bad;
        params = wire_get(root, "parameters");
        if (!params) {
                struct wire_value *empty = arena_alloc(&reply.doc, sizeof(*empty));

                if (!empty) {
                        wire_doc_done(&reply.doc);
                        return -ENOMEM;
                }
                *empty = (struct wire_value) { .type = WIRE_OBJECT };
                params = empty;
        } else if (params->type != WIRE_OBJECT)
                goto bad;

        reply.error = error ? error->string : NULL;
        reply.params = params;
        *ret = reply;
        return 0;

bad:
        wire_doc_done(&reply.doc);
        return -EBADMSG;
}

void wire_reply_done(struct wire_reply *reply) {
        wire_doc_done(&reply->doc);
        *reply = (struct wire_reply) {};
}

int wire_param_string(const struct wire_value *params, const char *key, size_t max,
                      const char **ret) {
        const struct wire_value *v = wire_get(params, key);

        if (!v || v->type == WIRE_NULL)
                return -ENOENT;
        /* The rule of varlink_param_string(), which the fuzzer holds this to. */
        if (v->type != WIRE_STRING || v->length > max || !neostra_text_valid(v->string, v->length, 0))
                return -EINVAL;
        *ret = v->string;
        return 0;
}

int wire_param_bool(const struct wire_value *params, const char *key, bool *ret) {
        const struct wire_value *v = wire_get(params, key);

        if (!v || v->type == WIRE_NULL)
                return -ENOENT;
        if (v->type != WIRE_BOOL)
                return -EINVAL;
        *ret = v->boolean;
        return 0;
}
