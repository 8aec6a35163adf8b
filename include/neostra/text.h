/* SPDX-License-Identifier: MIT */
/*
 * What text the module, the daemon and neostractl accept, decided in one
 * place (common/text.c).
 *
 * A string passes when it is valid UTF-8 and every character in it is
 * allowed.  Valid UTF-8 is the shortest encoding of a Unicode scalar value:
 * overlong forms, surrogates (U+D800..U+DFFF), values above U+10FFFF and
 * truncated sequences are refused, as jansson refuses them.  NUL is
 * refused as a control character (unless NEOSTRA_TEXT_CONTROLS): most
 * strings here end up as C strings, where a NUL would silently cut them
 * short.
 *
 * With no flags, the C0 controls (U+0000..U+001F, tab included) and DEL
 * (U+007F) are refused and everything else is allowed.  That is the rule
 * of the protocol: common/varlink.c, common/wire.c, neostrad/api.c and the
 * cache all apply it, and tests/fuzz/fuzz_wire.c holds the two codecs to
 * the same answer, so it is the default.  The flags tighten or loosen it
 * for the callers that draw the line elsewhere.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
        /* Refuse the C1 controls U+0080..U+009F as well, as the config
         * reader and the name rules do: they are control characters that
         * terminals act on, but the protocol has always passed them. */
        NEOSTRA_TEXT_NO_C1    = 1u << 0,
        /* Refuse U+0020 (only that one: other spaces are left alone). */
        NEOSTRA_TEXT_NO_SPACE = 1u << 1,
        /* Refuse everything from U+0080 up: printable ASCII only. */
        NEOSTRA_TEXT_ASCII    = 1u << 2,
        /* Allow the tab, which a config line may hold between key and value. */
        NEOSTRA_TEXT_TAB      = 1u << 3,
        /* Allow every C0 control, NUL included, and DEL: alone, it checks
         * the encoding and nothing else.  For a password, which is the
         * user's to choose (the module has cut it at its NUL already), and
         * for wire_utf8_valid(), which judges a buffer of any bytes. */
        NEOSTRA_TEXT_CONTROLS = 1u << 4,
        /* Do not decode: a byte from 0x80 up is allowed as it is (unless
         * NEOSTRA_TEXT_ASCII), whether or not it is part of valid UTF-8.
         * For bytes that were never promised to be UTF-8 (a path, a stored
         * record, a log line); never combine it with NEOSTRA_TEXT_NO_C1,
         * which would then refuse UTF-8 continuation bytes. */
        NEOSTRA_TEXT_BYTES    = 1u << 5,
};

/*
 * Whether s[0..len) passes the rule above under flags.  len counts bytes;
 * the string need not be NUL-terminated, and a NUL inside len fails but
 * with NEOSTRA_TEXT_CONTROLS.  s may be NULL only with len 0, which passes.
 */
bool neostra_text_valid(const char *s, size_t len, unsigned flags);

/*
 * How many bytes at the start of s[0..len) pass, always a whole number of
 * characters: len when all of it does.  For a caller that must say what is
 * wrong, and where; neostra_text_valid() is this compared with len.
 */
size_t neostra_text_span(const char *s, size_t len, unsigned flags);

/*
 * Whether the single character c is allowed under flags.
 * A caller that walks bytes rather than characters, to replace the ones a
 * log line must not carry, may pass each byte as c: below 0x80 a byte is
 * the character, and from 0x80 up it is allowed unless NEOSTRA_TEXT_ASCII
 * is set (NEOSTRA_TEXT_NO_C1 makes no sense there, see above).
 */
bool neostra_text_char_ok(uint32_t c, unsigned flags);

/*
 * Decode the UTF-8 sequence at the start of s[0..n): returns its length
 * (1 to 4) and the scalar value in *ret_c, or 0, leaving *ret_c alone, when
 * n is 0 or the bytes are not valid UTF-8 as described above.  A NUL byte
 * decodes to 0 with length 1: as encoding it is fine, as a character it is
 * neostra_text_char_ok()'s to judge.  ret_c may be NULL.
 */
size_t neostra_utf8_decode(const char *s, size_t n, uint32_t *ret_c);
