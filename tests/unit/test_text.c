/* SPDX-License-Identifier: MIT */
/*
 * The shared text validator (common/text.c): UTF-8 decoding, the character
 * classes and every flag.  The callers' own rules (names, config lines,
 * Varlink parameters) are tested with their callers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "neostra/text.h"

/* A string literal with its exact length, embedded NULs included. */
#define VALID(lit, flags) neostra_text_valid((lit), sizeof(lit) - 1, (flags))
#define SPAN(lit, flags) neostra_text_span((lit), sizeof(lit) - 1, (flags))

/* Every flag that does not change how bytes are read. */
static const unsigned char_flags[] = {
        0,
        NEOSTRA_TEXT_NO_C1,
        NEOSTRA_TEXT_NO_SPACE,
        NEOSTRA_TEXT_TAB,
        NEOSTRA_TEXT_CONTROLS,
        NEOSTRA_TEXT_NO_C1 | NEOSTRA_TEXT_NO_SPACE | NEOSTRA_TEXT_TAB,
};
#define N_CHAR_FLAGS (sizeof(char_flags) / sizeof(char_flags[0]))

/* The encoder of RFC 3629, to build test input without relying on the
 * code under test. */
static size_t encode(uint32_t c, char *out) {
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | (c >> 6));
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | (c >> 12));
                out[1] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | (c >> 18));
        out[1] = (char) (0x80 | ((c >> 12) & 0x3f));
        out[2] = (char) (0x80 | ((c >> 6) & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/* Bytes that are not UTF-8 fail under every flag that reads UTF-8. */
static void assert_not_utf8(const char *s, size_t len) {
        for (size_t i = 0; i < N_CHAR_FLAGS; i++)
                assert_false(neostra_text_valid(s, len, char_flags[i]));
}

static void test_valid_utf8(void **state) {
        assert_true(VALID("", 0));
        assert_true(neostra_text_valid(NULL, 0, 0));
        assert_false(neostra_text_valid(NULL, 1, 0));
        assert_true(VALID("plain ASCII, with punctuation: ~!@#$%^&*()", 0));
        /* The first and last scalar value of each length, and either side
         * of the surrogate block. */
        assert_true(VALID("\xc2\xa0", 0));                      /* U+00A0 */
        assert_true(VALID("\xdf\xbf", 0));                      /* U+07FF */
        assert_true(VALID("\xe0\xa0\x80", 0));                  /* U+0800 */
        assert_true(VALID("\xed\x9f\xbf", 0));                  /* U+D7FF */
        assert_true(VALID("\xee\x80\x80", 0));                  /* U+E000 */
        assert_true(VALID("\xef\xbf\xbf", 0));                  /* U+FFFF */
        assert_true(VALID("\xf0\x90\x80\x80", 0));              /* U+10000 */
        assert_true(VALID("\xf4\x8f\xbf\xbf", 0));              /* U+10FFFF */
        /* Words people type. */
        assert_true(VALID("J\xc3\xbcrgen", NEOSTRA_TEXT_NO_C1 | NEOSTRA_TEXT_NO_SPACE));
        assert_true(VALID("\xe5\xb1\xb1\xe7\x94\xb0", NEOSTRA_TEXT_NO_C1));
        assert_true(VALID("\xf0\x9f\x94\x91 key", NEOSTRA_TEXT_NO_C1));
}

static void test_every_scalar_value(void **state) {
        char buf[4];

        for (uint32_t c = 0; c <= 0x10ffff; c++) {
                size_t n = encode(c, buf);
                uint32_t got = 0xffffffffu;

                if (c >= 0xd800 && c <= 0xdfff) {
                        assert_int_equal(neostra_utf8_decode(buf, n, &got), 0);
                        assert_int_equal(got, 0xffffffffu);
                        continue;
                }
                assert_int_equal(neostra_utf8_decode(buf, n, &got), n);
                assert_int_equal(got, c);
                assert_true(neostra_text_valid(buf, n, NEOSTRA_TEXT_CONTROLS));
                /* One byte short is never a character. */
                if (n > 1)
                        assert_int_equal(neostra_utf8_decode(buf, n - 1, NULL), 0);
        }
}

static void test_overlong(void **state) {
        assert_not_utf8("\xc0\x80", 2);                 /* NUL in two bytes */
        assert_not_utf8("\xc0\xaf", 2);                 /* '/' */
        assert_not_utf8("\xc1\xbf", 2);
        assert_not_utf8("\xe0\x80\x80", 3);
        assert_not_utf8("\xe0\x80\xaf", 3);
        assert_not_utf8("\xe0\x9f\xbf", 3);             /* U+07FF in three */
        assert_not_utf8("\xf0\x80\x80\x80", 4);
        assert_not_utf8("\xf0\x80\x80\xaf", 4);
        assert_not_utf8("\xf0\x8f\xbf\xbf", 4);         /* U+FFFF in four */
}

static void test_surrogates(void **state) {
        assert_not_utf8("\xed\xa0\x80", 3);             /* U+D800 */
        assert_not_utf8("\xed\xaf\xbf", 3);
        assert_not_utf8("\xed\xb0\x80", 3);
        assert_not_utf8("\xed\xbf\xbf", 3);             /* U+DFFF */
        assert_not_utf8("\xed\xa0\xbd\xed\xb2\xa9", 6); /* a pair, CESU-8 style */
}

static void test_above_max(void **state) {
        assert_not_utf8("\xf4\x90\x80\x80", 4);         /* U+110000 */
        assert_not_utf8("\xf4\xbf\xbf\xbf", 4);
        assert_not_utf8("\xf5\x80\x80\x80", 4);
        assert_not_utf8("\xf7\xbf\xbf\xbf", 4);
        assert_not_utf8("\xf8\x88\x80\x80\x80", 5);     /* old five-byte form */
        assert_not_utf8("\xfc\x84\x80\x80\x80\x80", 6); /* old six-byte form */
        assert_not_utf8("\xfe", 1);
        assert_not_utf8("\xff", 1);
}

static void test_truncated(void **state) {
        assert_not_utf8("\xc3", 1);
        assert_not_utf8("\xe2\x82", 2);
        assert_not_utf8("\xf0\x9f\x94", 3);
        /* Cut short by something else than the end. */
        assert_not_utf8("\xc3" "a", 2);
        assert_not_utf8("\xe2\x82" "a", 3);
        assert_not_utf8("\xe2\x28\xa1", 3);
        assert_not_utf8("\xf0\x9f\x94" " ", 4);
        /* Continuation bytes with nothing to continue. */
        assert_not_utf8("\x80", 1);
        assert_not_utf8("\xbf", 1);
        assert_not_utf8("a\x80", 2);
        assert_not_utf8("\xc3\xa9\xa9", 3);
        /* len cuts a valid sequence: judged on the bytes given, only. */
        assert_false(neostra_text_valid("\xc3\xa9", 1, 0));
        assert_false(neostra_text_valid("\xf0\x9f\x94\x91", 3, 0));
        assert_int_equal(neostra_utf8_decode("\xc3\xa9", 0, NULL), 0);
}

static void test_nul(void **state) {
        for (size_t i = 0; i < N_CHAR_FLAGS; i++) {
                bool allowed = char_flags[i] & NEOSTRA_TEXT_CONTROLS;

                assert_int_equal(VALID("a\0b", char_flags[i]), allowed);
                assert_int_equal(VALID("\0", char_flags[i]), allowed);
                assert_int_equal(VALID("ab\0", char_flags[i]), allowed);
                assert_int_equal(neostra_text_char_ok(0, char_flags[i]), allowed);
        }
        assert_false(VALID("a\0b", NEOSTRA_TEXT_BYTES));
        /* Only what len covers counts. */
        assert_true(neostra_text_valid("a\0b", 1, 0));
        assert_int_equal(SPAN("ab\0cd", 0), 2);
        assert_int_equal(neostra_utf8_decode("\0", 1, NULL), 1);
}

static void test_c0_and_del(void **state) {
        char s[3] = { 'a', 0, 'b' };

        for (unsigned c = 1; c < 0x20; c++) {
                s[1] = (char) c;
                assert_false(neostra_text_valid(s, 3, 0));
                assert_false(neostra_text_valid(s, 3, NEOSTRA_TEXT_NO_C1));
                assert_false(neostra_text_valid(s, 3, NEOSTRA_TEXT_BYTES));
                assert_int_equal(neostra_text_valid(s, 3, NEOSTRA_TEXT_TAB), c == '\t');
                assert_true(neostra_text_valid(s, 3, NEOSTRA_TEXT_CONTROLS));
                assert_false(neostra_text_char_ok(c, 0));
        }
        assert_false(VALID("a\x7f" "b", 0));
        assert_false(VALID("a\x7f" "b", NEOSTRA_TEXT_TAB));
        assert_false(VALID("a\x7f" "b", NEOSTRA_TEXT_BYTES));
        assert_true(VALID("a\x7f" "b", NEOSTRA_TEXT_CONTROLS));
        /* The neighbours of the classes are ordinary characters. */
        assert_true(VALID(" ~", 0));
        assert_true(neostra_text_char_ok(0x20, 0));
        assert_true(neostra_text_char_ok(0x7e, 0));
}

static void test_c1(void **state) {
        char buf[2];

        for (uint32_t c = 0x80; c <= 0x9f; c++) {
                assert_int_equal(encode(c, buf), 2);
                assert_true(neostra_text_valid(buf, 2, 0));
                assert_true(neostra_text_valid(buf, 2, NEOSTRA_TEXT_CONTROLS));
                assert_false(neostra_text_valid(buf, 2, NEOSTRA_TEXT_NO_C1));
                assert_false(neostra_text_valid(buf, 2, NEOSTRA_TEXT_NO_C1 | NEOSTRA_TEXT_TAB));
                assert_false(neostra_text_char_ok(c, NEOSTRA_TEXT_NO_C1));
        }
        assert_true(VALID("\xc2\xa0", NEOSTRA_TEXT_NO_C1));     /* U+00A0 is a space, not C1 */
        assert_true(VALID("\xc3\xa9", NEOSTRA_TEXT_NO_C1));
        /* A raw byte 0x85 is no character at all: not UTF-8, but fine as a byte. */
        assert_false(VALID("\x85", 0));
        assert_true(VALID("\x85", NEOSTRA_TEXT_BYTES));
}

static void test_space(void **state) {
        assert_true(VALID("a b", 0));
        assert_false(VALID("a b", NEOSTRA_TEXT_NO_SPACE));
        assert_false(VALID(" ", NEOSTRA_TEXT_NO_SPACE | NEOSTRA_TEXT_BYTES));
        assert_false(VALID("a\tb", NEOSTRA_TEXT_NO_SPACE));
        assert_true(VALID("a\tb", NEOSTRA_TEXT_NO_SPACE | NEOSTRA_TEXT_TAB));
        /* Only U+0020: other spaces are characters like any other. */
        assert_true(VALID("a\xc2\xa0" "b", NEOSTRA_TEXT_NO_SPACE));
        assert_true(VALID("a\xe3\x80\x80" "b", NEOSTRA_TEXT_NO_SPACE));
}

static void test_ascii(void **state) {
        assert_true(VALID("https://example.com:8443/api~x", NEOSTRA_TEXT_ASCII));
        assert_true(VALID("a b", NEOSTRA_TEXT_ASCII));
        assert_false(VALID("a b", NEOSTRA_TEXT_ASCII | NEOSTRA_TEXT_NO_SPACE));
        assert_false(VALID("caf\xc3\xa9", NEOSTRA_TEXT_ASCII));
        assert_false(VALID("\xc2\xa0", NEOSTRA_TEXT_ASCII));
        assert_false(VALID("\xff", NEOSTRA_TEXT_ASCII | NEOSTRA_TEXT_BYTES));
        assert_false(VALID("a\x7f", NEOSTRA_TEXT_ASCII));
        assert_false(VALID("a\x01", NEOSTRA_TEXT_ASCII));
        for (uint32_t c = 0x80; c < 0x100; c++)
                assert_false(neostra_text_char_ok(c, NEOSTRA_TEXT_ASCII));
}

static void test_bytes(void **state) {
        /* Nothing from 0x80 up is decoded, so nothing there can fail... */
        assert_true(VALID("\xff\xfe\xc0\xaf\xed\xa0\x80\xe2\x82", NEOSTRA_TEXT_BYTES));
        assert_true(VALID("/srv/caf\xe9", NEOSTRA_TEXT_BYTES | NEOSTRA_TEXT_NO_SPACE));
        /* ...but the ASCII rules hold as ever. */
        assert_false(VALID("\xff\n", NEOSTRA_TEXT_BYTES));
        assert_false(VALID("/srv/a b", NEOSTRA_TEXT_BYTES | NEOSTRA_TEXT_NO_SPACE));
        assert_true(VALID("a\tb", NEOSTRA_TEXT_BYTES | NEOSTRA_TEXT_TAB));
        /* Bytes walked one at a time agree with the whole-string answer. */
        for (unsigned c = 1; c < 0x100; c++) {
                char s[1] = { (char) c };

                assert_int_equal(neostra_text_char_ok(c, 0), neostra_text_valid(s, 1, NEOSTRA_TEXT_BYTES));
                assert_int_equal(neostra_text_char_ok(c, NEOSTRA_TEXT_NO_SPACE),
                                 neostra_text_valid(s, 1, NEOSTRA_TEXT_BYTES | NEOSTRA_TEXT_NO_SPACE));
        }
}

static void test_span(void **state) {
        assert_int_equal(SPAN("", 0), 0);
        assert_int_equal(SPAN("abc", 0), 3);
        /* Always at a character boundary. */
        assert_int_equal(SPAN("ab\xc3\xa9\x01z", 0), 4);
        assert_int_equal(SPAN("ab\xe2\x82", 0), 2);
        assert_int_equal(SPAN("\xf0\x9f\x94\x91\xff", 0), 4);
        assert_int_equal(SPAN("a\tb\x01", NEOSTRA_TEXT_TAB), 3);
        assert_int_equal(SPAN("ab\xc2\x85", NEOSTRA_TEXT_NO_C1), 2);
        assert_int_equal(SPAN("ab\xc2\x85", 0), 4);
        assert_int_equal(SPAN("a b", NEOSTRA_TEXT_NO_SPACE), 1);
        assert_int_equal(SPAN("ab\xff", NEOSTRA_TEXT_BYTES), 3);
        assert_int_equal(neostra_text_span(NULL, 5, 0), 0);
}

static void test_decode(void **state) {
        uint32_t c = 42;

        assert_int_equal(neostra_utf8_decode("A", 1, &c), 1);
        assert_int_equal(c, 'A');
        assert_int_equal(neostra_utf8_decode("\xc3\xa9xyz", 5, &c), 2);
        assert_int_equal(c, 0xe9);
        assert_int_equal(neostra_utf8_decode("\xe2\x82\xac", 3, &c), 3);
        assert_int_equal(c, 0x20ac);
        assert_int_equal(neostra_utf8_decode("\xf0\x9f\x94\x91", 4, &c), 4);
        assert_int_equal(c, 0x1f511);
        /* A failure leaves *ret_c alone. */
        c = 42;
        assert_int_equal(neostra_utf8_decode("\xc0\xaf", 2, &c), 0);
        assert_int_equal(neostra_utf8_decode("", 0, &c), 0);
        assert_int_equal(c, 42);
        assert_int_equal(neostra_utf8_decode("\xe2\x82\xac", 3, NULL), 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_utf8),
                cmocka_unit_test(test_every_scalar_value),
                cmocka_unit_test(test_overlong),
                cmocka_unit_test(test_surrogates),
                cmocka_unit_test(test_above_max),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_nul),
                cmocka_unit_test(test_c0_and_del),
                cmocka_unit_test(test_c1),
                cmocka_unit_test(test_space),
                cmocka_unit_test(test_ascii),
                cmocka_unit_test(test_bytes),
                cmocka_unit_test(test_span),
                cmocka_unit_test(test_decode),
        };

        return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
