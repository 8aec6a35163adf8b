/* SPDX-License-Identifier: MIT */
/*
 * The module's own JSON codec (common/wire.c): requests the daemon's
 * jansson codec reads back exactly, strict parsing (escapes, surrogates,
 * UTF-8, integers, duplicates, trailing data), the limits, the Varlink reply
 * rules, and that nothing it frees still holds a secret.
 *
 * The Makefile links this test with -Wl,--wrap=free, so every free() in
 * common/wire.c comes through __wrap_free() below first.
 */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"
#include "neostra/wire.h"

/* ---- free() that looks for a secret ------------------------------------- */

void __real_free(void *p);
void __wrap_free(void *p);

/* volatile: the compiler takes free() for the builtin that touches none of
 * these, and would otherwise drop or reorder accesses around it. */
static const char *volatile watched_secret;     /* NULL: not looking */
static volatile size_t frees_seen, secrets_freed;

void __wrap_free(void *p) {
        if (p && watched_secret) {
                size_t n = malloc_usable_size(p);

                frees_seen++;
                if (memmem(p, n, watched_secret, strlen(watched_secret)))
                        secrets_freed++;
        }
        __real_free(p);
}

/* Start looking for secret in what is freed (counting from zero), or stop
 * with NULL (the counts stay). */
static void watch(const char *secret) {
        if (secret)
                frees_seen = secrets_freed = 0;
        watched_secret = secret;
}

/* ---- helpers ------------------------------------------------------------ */

static int parse(const char *s, struct wire_doc *doc) {
        return wire_parse(s, strlen(s), doc);
}

/* 0 when s parses (the doc is released), else the error. */
static int parses(const char *s) {
        struct wire_doc doc;
        int r = parse(s, &doc);

        wire_doc_done(&doc);
        return r;
}

/* The string value of "s" in {"s":<json>}, or NULL when it does not parse. */
static char *string_of(const char *json, size_t *ret_len) {
        char msg[256];
        struct wire_doc doc;
        const struct wire_value *v;
        char *copy = NULL;

        snprintf(msg, sizeof(msg), "{\"s\":%s}", json);
        if (parse(msg, &doc) < 0)
                return NULL;
        v = wire_get(doc.root, "s");
        assert_non_null(v);
        assert_int_equal(v->type, WIRE_STRING);
        assert_int_equal(strlen(v->string), v->length);
        copy = strdup(v->string);
        *ret_len = v->length;
        wire_doc_done(&doc);
        return copy;
}

static void assert_string_decodes(const char *json, const char *expect) {
        size_t len = 0;
        char *s = string_of(json, &len);

        if (!s)
                fail_msg("%s did not parse", json);
        assert_int_equal(len, strlen(expect));
        assert_memory_equal(s, expect, len);
        free(s);
}

static void assert_string_refused(const char *json) {
        size_t len;
        char *s = string_of(json, &len);

        if (s)
                fail_msg("%s parsed", json);
}

/* A string of n copies of unit, wrapped in head and tail. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
        char *s = malloc(hl + ul * n + tl + 1), *p = s;

        assert_non_null(s);
        memcpy(p, head, hl);
        p += hl;
        for (size_t i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        memcpy(p, tail, tl + 1);
        return s;
}

/* An object holding depth - 1 nested arrays: {"a":[[...]]}. */
static char *nested(size_t depth) {
        char *s = malloc(2 * depth + 8), *p = s;

        assert_non_null(s);
        p += sprintf(p, "{\"a\":");
        for (size_t i = 1; i < depth; i++)
                *p++ = '[';
        for (size_t i = 1; i < depth; i++)
                *p++ = ']';
        strcpy(p, "}");
        return s;
}

/* ---- writing ------------------------------------------------------------ */

static void test_request_format(void **state) {
        const struct wire_param p[] = {
                { .key = "user", .type = WIRE_PARAM_STRING, .string = "alice" },
                { .key = "flag", .type = WIRE_PARAM_BOOL, .boolean = true },
                { .key = "off", .type = WIRE_PARAM_BOOL, .boolean = false },
        };
        static const char expect[] =
                "{\"method\":\"io.neostra.Auth.CheckAccount\",\"parameters\":"
                "{\"user\":\"alice\",\"flag\":true,\"off\":false}}";
        struct wire_buf b = {};

        assert_int_equal(wire_request_new(NEOSTRA_METHOD_CHECK_ACCOUNT, p, 3, &b), 0);
        assert_int_equal(b.len, sizeof(expect));        /* the NUL is part of it */
        assert_memory_equal(b.data, expect, sizeof(expect));
        wire_buf_done(&b);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        wire_buf_done(&b);      /* twice is harmless */

        assert_int_equal(wire_request_new("a.B", NULL, 0, &b), 0);
        assert_string_equal(b.data, "{\"method\":\"a.B\",\"parameters\":{}}");
        wire_buf_done(&b);
}

/* Escaped as jansson escapes, and read back by the daemon's codec exactly. */
static void test_request_escapes(void **state) {
        static const char pw[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xf0\x9f\x98\x80";
        static const char escaped[] =
                "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f \xc3\xa9\xf0\x9f\x98\x80\"";
        const struct wire_param p[] = {
                { .key = "user", .type = WIRE_PARAM_STRING, .string = "alice" },
                { .key = "password", .type = WIRE_PARAM_STRING, .string = pw },
        };
        struct wire_buf b = {};
        json_t *msg = NULL, *params;
        const char *method, *user;
        bool oneway, more;

        assert_int_equal(wire_request_new(NEOSTRA_METHOD_AUTHENTICATE, p, 2, &b), 0);
        assert_non_null(strstr(b.data, escaped));
        assert_null(memchr(b.data, 0, b.len - 1));

        assert_int_equal(varlink_decode(b.data, b.len - 1, &msg), 0);
        assert_int_equal(varlink_call_parse(msg, &method, &params, &oneway, &more), 0);
        assert_string_equal(method, NEOSTRA_METHOD_AUTHENTICATE);
        assert_int_equal(varlink_param_string(params, "user", NEOSTRA_USER_MAX, &user), 0);
        assert_string_equal(user, "alice");
        assert_int_equal(json_string_length(json_object_get(params, "password")), sizeof(pw) - 1);
        assert_memory_equal(json_string_value(json_object_get(params, "password")), pw, sizeof(pw) - 1);
        json_decref_wipe(msg);
        wire_buf_done(&b);
}

static void test_request_refuses(void **state) {
        struct wire_param p = { .key = "password", .type = WIRE_PARAM_STRING };
        struct wire_buf b = {};
        char *big;

        /* Not UTF-8: an overlong '/', a lone continuation byte, a surrogate. */
        p.string = "\xc0\xaf";
        assert_int_equal(wire_request_new("a.B", &p, 1, &b), -EINVAL);
        p.string = "ok\x80";
        assert_int_equal(wire_request_new("a.B", &p, 1, &b), -EINVAL);
        p.string = "\xed\xa0\x80";
        assert_int_equal(wire_request_new("a.B", &p, 1, &b), -EINVAL);
        assert_null(b.data);

        /* 11000 control characters become 66000 bytes: over the cap. */
        big = repeat("", "\x01", 11000, "");
        p.string = big;
        assert_int_equal(wire_request_new("a.B", &p, 1, &b), -EMSGSIZE);
        assert_null(b.data);
        free(big);
}

/* The check below would notice a secret left behind. */
static void test_watch_sees_secrets(void **state) {
        char *copy = strdup("canary-Zq7-password");

        assert_non_null(copy);
        /* Keep the compiler from dropping the copy as a dead store. */
        __asm__ volatile("" : : "r"(copy) : "memory");
        watch("canary-Zq7-password");
        free(copy);
        watch(NULL);
        assert_int_equal(frees_seen, 1);
        assert_int_equal(secrets_freed, 1);
}

static void test_request_wiped(void **state) {
        const struct wire_param p[] = {
                { .key = "user", .type = WIRE_PARAM_STRING, .string = "alice" },
                { .key = "password", .type = WIRE_PARAM_STRING, .string = "canary-Zq7-password" },
        };
        struct wire_buf b = {};

        assert_int_equal(wire_request_new(NEOSTRA_METHOD_AUTHENTICATE, p, 2, &b), 0);
        assert_non_null(strstr(b.data, "canary-Zq7-password"));
        watch("canary-Zq7-password");
        wire_buf_done(&b);
        watch(NULL);
        assert_int_equal(frees_seen, 1);
        assert_int_equal(secrets_freed, 0);
}

static void test_doc_wiped(void **state) {
        static const char reply[] = "{\"parameters\":{\"token\":\"canary-Zq7-token\",\"pad\":[1,2,3]}}";
        struct wire_doc doc;

        assert_int_equal(parse(reply, &doc), 0);
        assert_string_equal(wire_get(wire_get(doc.root, "parameters"), "token")->string, "canary-Zq7-token");
        watch("canary-Zq7-token");
        wire_doc_done(&doc);
        watch(NULL);
        assert_true(frees_seen >= 1);
        assert_int_equal(secrets_freed, 0);
        assert_null(doc.blocks);
}

static void test_utf8_valid(void **state) {
        assert_true(wire_utf8_valid("", 0));
        assert_true(wire_utf8_valid("a\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 20));
        assert_false(wire_utf8_valid("\xc1\xbf", 2));           /* overlong */
        assert_false(wire_utf8_valid("\xe0\x9f\xbf", 3));       /* overlong */
        assert_false(wire_utf8_valid("\xf0\x8f\xbf\xbf", 4));   /* overlong */
        assert_false(wire_utf8_valid("\xed\xbf\xbf", 3));       /* surrogate */
        assert_false(wire_utf8_valid("\xf4\x90\x80\x80", 4));   /* past U+10FFFF */
        assert_false(wire_utf8_valid("\xf5\x80\x80\x80", 4));
        assert_false(wire_utf8_valid("\xe2\x82", 2));           /* truncated */
        assert_false(wire_utf8_valid("\xe2\x28\xa1", 3));       /* bad continuation */
        assert_false(wire_utf8_valid("\xff", 1));
}

/* ---- reading ------------------------------------------------------------ */

static void test_parse_values(void **state) {
        static const char msg[] =
                " {\"s\":\"x\", \"t\":true,\"f\":false ,\"n\":null,\"i\":-42,\"r\":1.5e3,"
                "\"a\":[1,\"two\",[],{}],\"o\":{\"k\":0}}\r\n\t";
        struct wire_doc doc;
        const struct wire_value *root, *a, *v;

        assert_int_equal(parse(msg, &doc), 0);
        root = doc.root;
        assert_int_equal(root->type, WIRE_OBJECT);
        assert_int_equal(root->length, 8);
        assert_string_equal(wire_get(root, "s")->string, "x");
        assert_int_equal(wire_get(root, "t")->type, WIRE_BOOL);
        assert_true(wire_get(root, "t")->boolean);
        assert_false(wire_get(root, "f")->boolean);
        assert_int_equal(wire_get(root, "n")->type, WIRE_NULL);
        assert_int_equal(wire_get(root, "i")->type, WIRE_INTEGER);
        assert_int_equal(wire_get(root, "i")->integer, -42);
        assert_int_equal(wire_get(root, "r")->type, WIRE_REAL);
        assert_null(wire_get(root, "missing"));
        assert_null(wire_get(wire_get(root, "s"), "s"));        /* not an object */
        assert_null(wire_get(NULL, "s"));

        a = wire_get(root, "a");
        assert_int_equal(a->type, WIRE_ARRAY);
        assert_int_equal(a->length, 4);
        v = a->first;
        assert_int_equal(v->integer, 1);
        v = v->next;
        assert_string_equal(v->string, "two");
        v = v->next;
        assert_int_equal(v->type, WIRE_ARRAY);
        assert_int_equal(v->length, 0);
        assert_null(v->first);
        v = v->next;
        assert_int_equal(v->type, WIRE_OBJECT);
        assert_null(v->next);
        assert_int_equal(wire_get(wire_get(root, "o"), "k")->integer, 0);
        wire_doc_done(&doc);
        assert_null(doc.root);
}

static void test_parse_integers(void **state) {
        struct wire_doc doc;

        assert_int_equal(parse("{\"a\":9223372036854775807,\"b\":-9223372036854775808,\"c\":-0}", &doc), 0);
        assert_true(wire_get(doc.root, "a")->integer == INT64_MAX);
        assert_true(wire_get(doc.root, "b")->integer == INT64_MIN);
        assert_int_equal(wire_get(doc.root, "c")->integer, 0);
        wire_doc_done(&doc);

        assert_int_equal(parses("{\"a\":9223372036854775808}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":-9223372036854775809}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":99999999999999999999999}"), -EBADMSG);
        /* Reals are not integers, whatever their size; nobody reads them. */
        assert_int_equal(parses("{\"a\":99999999999999999999999.0}"), 0);
        assert_int_equal(parses("{\"a\":1e400,\"b\":-0.0,\"c\":1E+2,\"d\":1e-2}"), 0);

        assert_int_equal(parses("{\"a\":01}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":+1}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1.}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":.5}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":-}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1e}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1e+}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":0x10}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":Infinity}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":NaN}"), -EBADMSG);
}

static void test_parse_escapes(void **state) {
        assert_string_decodes("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
        assert_string_decodes("\"\\u0041\\u00e9\\u00E9\\u20ac\"", "A\xc3\xa9\xc3\xa9\xe2\x82\xac");
        assert_string_decodes("\"\\u0001\\u001f\\u007f\"", "\x01\x1f\x7f");
        /* Surrogate pairs make one 4-byte character. */
        assert_string_decodes("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
        assert_string_decodes("\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
        assert_string_decodes("\"raw \xf0\x9f\x98\x80 \x7f\"", "raw \xf0\x9f\x98\x80 \x7f");
        assert_string_decodes("\"\"", "");

        assert_string_refused("\"\\u0000\"");                   /* NUL */
        assert_string_refused("\"a\\u0000b\"");
        assert_string_refused("\"\\ud83d\"");                   /* high alone */
        assert_string_refused("\"\\ud83dx\"");
        assert_string_refused("\"\\ud83d\\u0041\"");            /* high + not low */
        assert_string_refused("\"\\ud83d\\ud83d\"");
        assert_string_refused("\"\\ude00\"");                   /* low alone */
        assert_string_refused("\"\\ude00\\ud83d\"");            /* reversed */
        assert_string_refused("\"\\u12G4\"");
        assert_string_refused("\"\\u12\"");
        assert_string_refused("\"\\x41\"");
        assert_string_refused("\"\\U0041\"");
        assert_string_refused("\"\\'\"");
        assert_string_refused("\"tab\there\"");                 /* raw control characters */
        assert_string_refused("\"nl\nhere\"");
        assert_string_refused("\"\x01\"");
        assert_string_refused("\"unterminated");
        assert_string_refused("\"ends in a backslash\\");
}

static void test_parse_invalid_utf8(void **state) {
        assert_string_refused("\"\xc0\x80\"");          /* overlong NUL */
        assert_string_refused("\"\xc1\xbf\"");
        assert_string_refused("\"\xe0\x80\xaf\"");
        assert_string_refused("\"\xed\xa0\x80\"");      /* surrogate, encoded raw */
        assert_string_refused("\"\xf4\x90\x80\x80\"");  /* past U+10FFFF */
        assert_string_refused("\"\x80\"");              /* lone continuation */
        assert_string_refused("\"\xe2\x82\"");          /* truncated by the quote */
        assert_string_refused("\"\xf8\x88\x80\x80\x80\"");
        assert_string_refused("\"\xfe\"");
        /* In a key too, and outside strings. */
        assert_int_equal(parses("{\"\xff\":1}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1}\xc3\xa9"), -EBADMSG);
        assert_int_equal(parses("\xef\xbb\xbf{}"), -EBADMSG);   /* a BOM */
}

static void test_parse_structure(void **state) {
        static const char with_nul[] = "{\"a\":1}\0";

        assert_int_equal(parses("{}"), 0);
        assert_int_equal(parses(" {\"a\" : [ 1 , 2 ] } "), 0);

        /* Only an object, and nothing after it. */
        assert_int_equal(parses(""), -EBADMSG);
        assert_int_equal(parses("  "), -EBADMSG);
        assert_int_equal(parses("[]"), -EBADMSG);
        assert_int_equal(parses("\"s\""), -EBADMSG);
        assert_int_equal(parses("1"), -EBADMSG);
        assert_int_equal(parses("null"), -EBADMSG);
        assert_int_equal(parses("{} x"), -EBADMSG);
        assert_int_equal(parses("{}{}"), -EBADMSG);
        assert_int_equal(parses("{},"), -EBADMSG);
        assert_int_equal(wire_parse(with_nul, sizeof(with_nul) - 1, &(struct wire_doc) {}), -EBADMSG);

        assert_int_equal(parses("{"), -EBADMSG);
        assert_int_equal(parses("{\"a\""), -EBADMSG);
        assert_int_equal(parses("{\"a\":"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1"), -EBADMSG);
        assert_int_equal(parses("{\"a\" 1}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1 \"b\":2}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1,}"), -EBADMSG);
        assert_int_equal(parses("{,}"), -EBADMSG);
        assert_int_equal(parses("{a:1}"), -EBADMSG);
        assert_int_equal(parses("{'a':1}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":[1,]}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":[,1]}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":[1}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":{]}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":tru}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":truex}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":nul}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":False}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1}\v"), -EBADMSG);      /* not JSON whitespace */
}

/* Refused, as jansson's JSON_REJECT_DUPLICATES does: otherwise the module
 * and a checker might read different values for one key. */
static void test_parse_duplicates(void **state) {
        assert_int_equal(parses("{\"a\":1,\"a\":1}"), -EBADMSG);
        assert_int_equal(parses("{\"a\":1,\"b\":2,\"a\":3}"), -EBADMSG);
        assert_int_equal(parses("{\"p\":{\"x\":1,\"x\":2}}"), -EBADMSG);
        assert_int_equal(parses("{\"p\":[{\"x\":1,\"x\":2}]}"), -EBADMSG);
        /* The same name after decoding is the same name. */
        assert_int_equal(parses("{\"a\":1,\"\\u0061\":2}"), -EBADMSG);
        /* The same name in different objects is fine. */
        assert_int_equal(parses("{\"x\":{\"x\":1},\"y\":[{\"x\":1},{\"x\":2}]}"), 0);
}

static void test_parse_limits(void **state) {
        char *s;

        /* Depth: WIRE_DEPTH_MAX containers, the top object included. */
        s = nested(WIRE_DEPTH_MAX);
        assert_int_equal(parses(s), 0);
        free(s);
        s = nested(WIRE_DEPTH_MAX + 1);
        assert_int_equal(parses(s), -E2BIG);
        free(s);

        /* Members of one object. */
        {
                char *o = malloc(WIRE_MEMBERS_MAX * 16 + 16), *p = o;
                size_t i;

                assert_non_null(o);
                p += sprintf(p, "{");
                for (i = 0; i < WIRE_MEMBERS_MAX; i++)
                        p += sprintf(p, "%s\"k%zu\":0", i ? "," : "", i);
                strcpy(p, "}");
                assert_int_equal(parses(o), 0);
                sprintf(p, ",\"k%zu\":0}", i);
                assert_int_equal(parses(o), -E2BIG);
                free(o);
        }

        /* Elements of one array. */
        s = repeat("{\"a\":[0", ",0", WIRE_ELEMENTS_MAX - 1, "]}");
        assert_int_equal(parses(s), 0);
        free(s);
        s = repeat("{\"a\":[0", ",0", WIRE_ELEMENTS_MAX, "]}");
        assert_int_equal(parses(s), -E2BIG);
        free(s);

        /* Values in one message: five arrays of 2000 elements. */
        {
                char *arr = repeat("[0", ",0", 1999, "]");
                size_t al = strlen(arr);
                char *o = malloc(al * 5 + 32), *p = o;

                assert_non_null(o);
                p += sprintf(p, "{\"a\":[");
                for (int i = 0; i < 5; i++)
                        p += sprintf(p, "%s%s", i ? "," : "", arr);
                strcpy(p, "]}");
                assert_int_equal(parses(o), -E2BIG);
                free(o);
                free(arr);
        }

        /* Size: the same cap as the daemon's codec. */
        s = repeat("{\"a\":\"", "x", NEOSTRA_MESSAGE_MAX - 8, "\"}");
        assert_int_equal(strlen(s), NEOSTRA_MESSAGE_MAX);
        assert_int_equal(parses(s), 0);
        free(s);
        s = repeat("{\"a\":\"", "x", NEOSTRA_MESSAGE_MAX - 7, "\"}");
        assert_int_equal(parses(s), -EMSGSIZE);
        free(s);
}

/* ---- Varlink replies ---------------------------------------------------- */

static int reply_of(const char *s, struct wire_reply *reply) {
        return wire_reply_parse(s, strlen(s), reply);
}

static void test_reply_parse(void **state) {
        struct wire_reply r;

        assert_int_equal(reply_of("{\"parameters\":{\"user\":\"alice\"}}", &r), 0);
        assert_null(r.error);
        assert_string_equal(wire_get(r.params, "user")->string, "alice");
        wire_reply_done(&r);

        assert_int_equal(reply_of("{\"error\":\"io.neostra.Auth.UserUnknown\","
                                  "\"parameters\":{\"reason\":\"no\"},\"continues\":false}", &r), 0);
        assert_string_equal(r.error, NEOSTRA_ERROR_USER_UNKNOWN);
        wire_reply_done(&r);

        /* No parameters read as an empty object; unknown keys are ignored. */
        assert_int_equal(reply_of("{\"error\":\"a.B\",\"other\":[1]}", &r), 0);
        assert_string_equal(r.error, "a.B");
        assert_int_equal(r.params->type, WIRE_OBJECT);
        assert_int_equal(r.params->length, 0);
        wire_reply_done(&r);
        assert_null(r.params);

        assert_int_equal(reply_of("{\"error\":1}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"error\":null}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"error\":\"NoDot\"}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"error\":\".a.B\"}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"error\":\"a.B.\"}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"error\":\"a.B-c\"}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"error\":\"\"}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"method\":\"a.B\"}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"continues\":true}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"continues\":1}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"parameters\":[]}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"parameters\":null}", &r), -EBADMSG);
        assert_int_equal(reply_of("{\"parameters\":{}} {}", &r), -EBADMSG);
        assert_null(r.doc.blocks);
}

/* Error names as long as common/varlink.c allows them, and no longer. */
static void test_reply_error_name_length(void **state) {
        struct wire_reply r;
        char *s;

        s = repeat("{\"error\":\"a.", "b", 253, "\"}");
        assert_int_equal(reply_of(s, &r), 0);
        wire_reply_done(&r);
        free(s);
        s = repeat("{\"error\":\"a.", "b", 254, "\"}");
        assert_int_equal(reply_of(s, &r), -EBADMSG);
        free(s);
}

static void test_param_accessors(void **state) {
        static const char msg[] = "{\"parameters\":{\"s\":\"ok\",\"n\":null,\"i\":1,\"b\":true,"
                                  "\"c\":\"a\\tb\",\"d\":\"del\x7f\",\"long\":\"0123456789\"}}";
        struct wire_reply r;
        const char *s = NULL;
        bool b = false;

        assert_int_equal(reply_of(msg, &r), 0);
        assert_int_equal(wire_param_string(r.params, "s", 10, &s), 0);
        assert_string_equal(s, "ok");
        assert_int_equal(wire_param_string(r.params, "absent", 10, &s), -ENOENT);
        assert_int_equal(wire_param_string(r.params, "n", 10, &s), -ENOENT);
        assert_int_equal(wire_param_string(r.params, "i", 10, &s), -EINVAL);
        assert_int_equal(wire_param_string(r.params, "c", 10, &s), -EINVAL);
        assert_int_equal(wire_param_string(r.params, "d", 10, &s), -EINVAL);
        assert_int_equal(wire_param_string(r.params, "long", 10, &s), 0);
        assert_int_equal(wire_param_string(r.params, "long", 9, &s), -EINVAL);

        assert_int_equal(wire_param_bool(r.params, "b", &b), 0);
        assert_true(b);
        assert_int_equal(wire_param_bool(r.params, "absent", &b), -ENOENT);
        assert_int_equal(wire_param_bool(r.params, "n", &b), -ENOENT);
        assert_int_equal(wire_param_bool(r.params, "s", &b), -EINVAL);
        wire_reply_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_format),
                cmocka_unit_test(test_request_escapes),
                cmocka_unit_test(test_request_refuses),
                cmocka_unit_test(test_watch_sees_secrets),
                cmocka_unit_test(test_request_wiped),
                cmocka_unit_test(test_doc_wiped),
                cmocka_unit_test(test_utf8_valid),
                cmocka_unit_test(test_parse_values),
                cmocka_unit_test(test_parse_integers),
                cmocka_unit_test(test_parse_escapes),
                cmocka_unit_test(test_parse_invalid_utf8),
                cmocka_unit_test(test_parse_structure),
                cmocka_unit_test(test_parse_duplicates),
                cmocka_unit_test(test_parse_limits),
                cmocka_unit_test(test_reply_parse),
                cmocka_unit_test(test_reply_error_name_length),
                cmocka_unit_test(test_param_accessors),
        };

        return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
