/* SPDX-License-Identifier: MIT */
/* The Varlink codec: framing, limits, strict decoding, wiping buffers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"

static void test_roundtrip(void **state) {
        struct vbuf out = {};
        struct varlink_reader r = {};
        json_t *call, *msg = NULL, *params;
        const char *method, *user;
        bool oneway, more;

        call = varlink_call_new(NEOSTRA_METHOD_AUTHENTICATE,
                                json_pack("{s:s, s:s}", "user", "alice", "password", "p\"w\\d\n"));
        assert_non_null(call);
        assert_int_equal(varlink_encode(call, &out), 0);
        json_decref(call);
        assert_int_equal(out.data[out.len - 1], 0);
        assert_null(memchr(out.data, 0, out.len - 1));

        /* Fed one byte at a time, it comes out once, whole. */
        for (size_t i = 0; i < out.len - 1; i++) {
                assert_int_equal(varlink_reader_feed(&r, out.data + i, 1), 0);
                assert_int_equal(varlink_reader_pop(&r, &msg), 0);
        }
        assert_int_equal(varlink_reader_feed(&r, out.data + out.len - 1, 1), 0);
        assert_int_equal(varlink_reader_pop(&r, &msg), 1);
        assert_false(varlink_reader_pending(&r));

        assert_int_equal(varlink_call_parse(msg, &method, &params, &oneway, &more), 0);
        assert_string_equal(method, NEOSTRA_METHOD_AUTHENTICATE);
        assert_false(oneway);
        assert_false(more);
        assert_int_equal(varlink_param_string(params, "user", NEOSTRA_USER_MAX, &user), 0);
        assert_string_equal(user, "alice");
        /* The password has a control character: a bounded "clean" string
         * refuses it, the raw value is intact. */
        assert_int_equal(varlink_param_string(params, "password", 100, &user), -EINVAL);
        assert_string_equal(json_string_value(json_object_get(params, "password")), "p\"w\\d\n");
        json_decref_wipe(msg);
        varlink_reader_done(&r);
        vbuf_done(&out);
        assert_null(out.data);
}

static void test_two_messages_in_one_read(void **state) {
        static const char wire[] = "{\"method\":\"a.B\"}\0{\"method\":\"c.D\",\"parameters\":{}}";
        struct varlink_reader r = {};
        json_t *msg, *params;
        const char *method;

        assert_int_equal(varlink_reader_feed(&r, wire, sizeof(wire)), 0);
        assert_int_equal(varlink_reader_pop(&r, &msg), 1);
        assert_int_equal(varlink_call_parse(msg, &method, &params, NULL, NULL), 0);
        assert_string_equal(method, "a.B");
        assert_true(json_is_object(params));
        json_decref(msg);
        assert_int_equal(varlink_reader_pop(&r, &msg), 1);
        assert_int_equal(varlink_call_parse(msg, &method, &params, NULL, NULL), 0);
        assert_string_equal(method, "c.D");
        json_decref(msg);
        assert_int_equal(varlink_reader_pop(&r, &msg), 0);
        varlink_reader_done(&r);
}

static void test_size_cap(void **state) {
        struct varlink_reader r = {};
        char *big = malloc(NEOSTRA_MESSAGE_MAX + 2);
        json_t *msg;

        memset(big, ' ', NEOSTRA_MESSAGE_MAX + 2);
        /* Exactly at the cap without a NUL: still waiting. */
        assert_int_equal(varlink_reader_feed(&r, big, NEOSTRA_MESSAGE_MAX), 0);
        assert_int_equal(varlink_reader_pop(&r, &msg), 0);
        /* One more byte and the peer is over the limit. */
        assert_int_equal(varlink_reader_feed(&r, big, 1), 0);
        assert_int_equal(varlink_reader_pop(&r, &msg), -EMSGSIZE);
        assert_int_equal(varlink_reader_feed(&r, big, 1), -EMSGSIZE);
        varlink_reader_done(&r);
        assert_int_equal(varlink_decode(big, NEOSTRA_MESSAGE_MAX + 1, &msg), -EMSGSIZE);
        free(big);
}

static void test_encode_cap(void **state) {
        struct vbuf out = {};
        char *s = malloc(NEOSTRA_MESSAGE_MAX);
        json_t *msg;

        memset(s, 'x', NEOSTRA_MESSAGE_MAX - 1);
        s[NEOSTRA_MESSAGE_MAX - 1] = 0;
        msg = varlink_call_new("a.B", json_pack("{s:s}", "x", s));
        assert_int_equal(varlink_encode(msg, &out), -EMSGSIZE);
        assert_int_equal(out.len, 0);
        json_decref(msg);
        vbuf_done(&out);
        free(s);
}

static void test_decode_rejects(void **state) {
        static const char *const bad[] = {
                "", "[]", "\"x\"", "42", "null", "{", "{}x", "{} {}",
                "{\"a\":1,\"a\":2}",                       /* duplicate key */
                "{\"method\":\"a.B\"}garbage",
        };
        json_t *msg;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(varlink_decode(bad[i], strlen(bad[i]), &msg), -EBADMSG);
        /* An embedded NUL is never part of a message. */
        assert_int_equal(varlink_decode("{}\0", 3, &msg), -EBADMSG);
}

static void test_call_parse_rejects(void **state) {
        static const char *const bad[] = {
                "{}",                                           /* no method */
                "{\"method\":42}",
                "{\"method\":\"nodot\"}",
                "{\"method\":\".a\"}",
                "{\"method\":\"a.\"}",
                "{\"method\":\"a.b c\"}",
                "{\"method\":\"a.B\",\"parameters\":[]}",
                "{\"method\":\"a.B\",\"oneway\":\"yes\"}",
                "{\"method\":\"a.B\",\"upgrade\":true}",
                "{\"method\":\"a.B\",\"extra\":1}",
        };
        const char *method;
        json_t *msg, *params;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(varlink_decode(bad[i], strlen(bad[i]), &msg), 0);
                assert_int_equal(varlink_call_parse(msg, &method, &params, NULL, NULL), -EBADMSG);
                json_decref(msg);
        }
}

static void test_reply_parse(void **state) {
        const char *error;
        json_t *msg, *params;
        bool continues;
        const char *ok = "{\"parameters\":{\"allowed\":true}}";
        const char *err = "{\"error\":\"io.neostra.Auth.UserUnknown\",\"parameters\":{\"reason\":\"x\"}}";
        const char *bad = "{\"error\":17}";
        bool b;

        assert_int_equal(varlink_decode(ok, strlen(ok), &msg), 0);
        assert_int_equal(varlink_reply_parse(msg, &error, &params, &continues), 0);
        assert_null(error);
        assert_int_equal(varlink_param_bool(params, "allowed", &b), 0);
        assert_true(b);
        assert_int_equal(varlink_param_bool(params, "missing", &b), -ENOENT);
        json_decref(msg);

        assert_int_equal(varlink_decode(err, strlen(err), &msg), 0);
        assert_int_equal(varlink_reply_parse(msg, &error, &params, &continues), 0);
        assert_string_equal(error, NEOSTRA_ERROR_USER_UNKNOWN);
        assert_int_equal(varlink_param_bool(params, "reason", &b), -EINVAL);
        json_decref(msg);

        assert_int_equal(varlink_decode(bad, strlen(bad), &msg), 0);
        assert_int_equal(varlink_reply_parse(msg, &error, &params, &continues), -EBADMSG);
        json_decref(msg);
}

static void test_param_string_bounds(void **state) {
        json_t *p = json_pack("{s:s, s:s, s:i, s:s#}", "ok", "abc", "long", "abcdef", "num", 3,
                              "nul", "a\0b", (size_t) 3);
        const char *s;

        assert_int_equal(varlink_param_string(p, "ok", 3, &s), 0);
        assert_int_equal(varlink_param_string(p, "long", 5, &s), -EINVAL);
        assert_int_equal(varlink_param_string(p, "num", 5, &s), -EINVAL);
        assert_int_equal(varlink_param_string(p, "nul", 5, &s), -EINVAL);
        assert_int_equal(varlink_param_string(p, "absent", 5, &s), -ENOENT);
        json_decref(p);
}

static void test_vbuf_consume_wipes(void **state) {
        struct vbuf b = {};

        assert_int_equal(vbuf_append(&b, "SECRETsecret", 12, 100), 0);
        vbuf_consume(&b, 6);
        assert_int_equal(b.len, 6);
        assert_memory_equal(b.data, "secret", 6);
        /* The bytes that moved forward are not left behind. */
        for (size_t i = 6; i < 12; i++)
                assert_int_equal(b.data[i], 0);
        assert_int_equal(vbuf_append(&b, "x", 1, 6), -EMSGSIZE);
        vbuf_done(&b);
}

static void test_vbuf_empty_append(void **state) {
        struct vbuf b = {};

        /* Nothing to add to a buffer that has nothing yet (found by the
         * fuzzer under UBSan: memcpy to NULL + 0). */
        assert_int_equal(vbuf_append(&b, "", 0, 10), 0);
        assert_int_equal(b.len, 0);
        vbuf_done(&b);
}

static void test_json_wipe(void **state) {
        json_t *j = json_pack("{s:s, s:[s, {s:s}]}", "password", "hunter2", "nested", "a", "b", "tok");
        const char *pw = json_string_value(json_object_get(j, "password"));

        json_wipe_strings(j);
        assert_int_equal(pw[0], 0);
        assert_int_equal(pw[6], 0);
        json_decref(j);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_two_messages_in_one_read),
                cmocka_unit_test(test_size_cap),
                cmocka_unit_test(test_encode_cap),
                cmocka_unit_test(test_decode_rejects),
                cmocka_unit_test(test_call_parse_rejects),
                cmocka_unit_test(test_reply_parse),
                cmocka_unit_test(test_param_string_bounds),
                cmocka_unit_test(test_vbuf_consume_wipes),
                cmocka_unit_test(test_vbuf_empty_append),
                cmocka_unit_test(test_json_wipe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
