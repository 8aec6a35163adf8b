/* SPDX-License-Identifier: MIT */
/*
 * The one text validator: UTF-8 decoding and the question "is this
 * character allowed".  See include/neostra/text.h for the rule and the
 * flags.  It is linked into the PAM module, so it logs nothing, allocates
 * nothing and keeps no state.
 */
#include "neostra/text.h"

size_t neostra_utf8_decode(const char *s, size_t n, uint32_t *ret_c) {
        const unsigned char *u = (const unsigned char *) s;
        size_t len, i;
        uint32_t c;

        if (n == 0)
                return 0;
        if (u[0] < 0x80) {
                c = u[0];
                len = 1;
                goto done;
        }
        /* 0x80..0xbf only ever continue a sequence; 0xc0 and 0xc1 could
         * only start an overlong form of an ASCII character; 0xf5 and up
         * would start a value above U+10FFFF. */
        if (u[0] < 0xc2 || u[0] > 0xf4)
                return 0;
        if (u[0] < 0xe0) {
                len = 2;
                c = u[0] & 0x1fu;
        } else if (u[0] < 0xf0) {
                len = 3;
                c = u[0] & 0x0fu;
        } else {
                len = 4;
                c = u[0] & 0x07u;
        }
        if (n < len)
                return 0;
        for (i = 1; i < len; i++) {
                if ((u[i] & 0xc0u) != 0x80u)
                        return 0;
                c = (c << 6) | (u[i] & 0x3fu);
        }
        /* The shortest form only: two bytes always carry at least U+0080
         * given the lead bytes allowed above, three must carry U+0800 and
         * four U+10000.  Surrogates are halves of UTF-16 pairs, not
         * characters. */
        if ((len == 3 && c < 0x800u) || (len == 4 && c < 0x10000u) ||
            (c >= 0xd800u && c <= 0xdfffu) || c > 0x10ffffu)
                return 0;

done:
        if (ret_c)
                *ret_c = c;
        return len;
}

bool neostra_text_char_ok(uint32_t c, unsigned flags) {
        if (c < 0x20 || c == 0x7f) {
                if (flags & NEOSTRA_TEXT_CONTROLS)
                        return true;
                return c == '\t' && (flags & NEOSTRA_TEXT_TAB);
        }
        if (c == ' ')
                return !(flags & NEOSTRA_TEXT_NO_SPACE);
        if (c >= 0x80 && (flags & NEOSTRA_TEXT_ASCII))
                return false;
        if (c >= 0x80 && c <= 0x9f && (flags & NEOSTRA_TEXT_NO_C1))
                return false;
        return true;
}

size_t neostra_text_span(const char *s, size_t len, unsigned flags) {
        size_t i = 0;

        if (!s)
                return 0;
        while (i < len) {
                uint32_t c = (unsigned char) s[i];
                size_t k = 1;

                if (!(flags & NEOSTRA_TEXT_BYTES) && c >= 0x80) {
                        k = neostra_utf8_decode(s + i, len - i, &c);
                        if (k == 0)
                                break;
                }
                if (!neostra_text_char_ok(c, flags))
                        break;
                i += k;
        }
        return i;
}

bool neostra_text_valid(const char *s, size_t len, unsigned flags) {
        return neostra_text_span(s, len, flags) == len;
}
