/* SPDX-License-Identifier: MIT */
/*
 * What reaches a log (neostrad/log.c): log_escape() on every kind of
 * hostile text, and the stderr lines of log_msg() and log_auth_event()
 * when a peer picks the values.  tests/integration/journal.sh sees the same
 * values arrive in the journal's fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static const char *esc(const char *s, unsigned flags) {
        static char buf[1024];

        return log_escape(s, flags, buf, sizeof(buf));
}

static void test_plain_text_unchanged(void **state) {
        assert_string_equal(esc("alice", 0), "alice");
        assert_string_equal(esc("alice@example.com", LOG_ESCAPE_SPACE | LOG_ESCAPE_QUOTE), "alice@example.com");
        assert_string_equal(esc("a role of the user", 0), "a role of the user");
        /* UTF-8 text is text: names and roles may be in any script. */
        assert_string_equal(esc("j\xc3\xbcrgen \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x94\x91", 0),
                            "j\xc3\xbcrgen \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x94\x91");
        assert_string_equal(esc("", 0), "");
        assert_string_equal(esc(NULL, 0), "-");
}

static void test_controls(void **state) {
        assert_string_equal(esc("a\nNEOSTRA_RESULT=success", 0), "a\\x0aNEOSTRA_RESULT=success");
        assert_string_equal(esc("a\r\tb", 0), "a\\x0d\\x09b");
        assert_string_equal(esc("\x1b[2J\x1b]0;x\x07", 0), "\\x1b[2J\\x1b]0;x\\x07");
        assert_string_equal(esc("del\x7f", 0), "del\\x7f");
        /* C1 controls as UTF-8 (U+0085 NEL, U+009B CSI): both bytes. */
        assert_string_equal(esc("a\xc2\x85" "b\xc2\x9b" "1m", 0), "a\\xc2\\x85b\\xc2\\x9b1m");
        /* Line and paragraph separators, bidirectional overrides. */
        assert_string_equal(esc("x\xe2\x80\xa8y", 0), "x\\xe2\\x80\\xa8y");
        assert_string_equal(esc("x\xe2\x80\xaey", 0), "x\\xe2\\x80\\xaey");
        assert_string_equal(esc("x\xe2\x81\xa6y", 0), "x\\xe2\\x81\\xa6y");
}

static void test_invalid_utf8(void **state) {
        /* A stray continuation byte, a truncated sequence, an overlong
         * '/', a surrogate, and a byte that never appears in UTF-8: each
         * byte alone, the valid text around them kept. */
        assert_string_equal(esc("a\x80z", 0), "a\\x80z");
        assert_string_equal(esc("a\xe2\x82", 0), "a\\xe2\\x82");
        assert_string_equal(esc("\xc0\xaf", 0), "\\xc0\\xaf");
        assert_string_equal(esc("\xed\xa0\x80", 0), "\\xed\\xa0\\x80");
        assert_string_equal(esc("\xff\xc3\xa9", 0), "\\xff\xc3\xa9");
}

static void test_backslash_quote_space(void **state) {
        /* A backslash is doubled, so "\x0a" typed by a user never reads
         * as an escaped newline. */
        assert_string_equal(esc("a\\x0ab", 0), "a\\\\x0ab");
        assert_string_equal(esc("say \"hi\"", 0), "say \"hi\"");
        assert_string_equal(esc("say \"hi\"", LOG_ESCAPE_QUOTE), "say \\x22hi\\x22");
        assert_string_equal(esc("a b", LOG_ESCAPE_SPACE), "a\\x20b");
        assert_string_equal(esc("x service=sshd", LOG_ESCAPE_SPACE | LOG_ESCAPE_QUOTE), "x\\x20service=sshd");
}

static void test_truncation(void **state) {
        char buf[8];

        assert_string_equal(log_escape("abcdefg", 0, buf, sizeof(buf)), "abcdefg");
        assert_string_equal(log_escape("abcdefgh", 0, buf, sizeof(buf)), "abcd...");
        /* Never half an escape, nor half a character. */
        assert_string_equal(log_escape("ab\ncdefgh", 0, buf, sizeof(buf)), "ab...");
        assert_string_equal(log_escape("abc\xe6\x9d\xb1\xe4\xba\xac", 0, buf, sizeof(buf)), "abc...");
        assert_string_equal(log_escape("\n", 0, buf, 4), "...");
        assert_string_equal(log_escape("abc", 0, buf, 4), "abc");
}

static void test_worst_case_fits(void **state) {
        char in[257], out[4 * 256 + 1];

        memset(in, '\n', 256);
        in[256] = 0;
        log_escape(in, 0, out, sizeof(out));
        assert_int_equal(strlen(out), 4 * 256);
        assert_null(strstr(out, "..."));
}

/* Run fn with stderr on a temporary file; return what it wrote. */
static char *capture_stderr(void (*fn)(void)) {
        FILE *f = tmpfile();
        int saved = dup(STDERR_FILENO);
        static char out[16384];
        size_t n;

        assert_non_null(f);
        assert_true(saved >= 0);
        fflush(stderr);
        assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
        fn();
        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        rewind(f);
        n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = 0;
        fclose(f);
        return out;
}

static int count(const char *s, const char *what) {
        int n = 0;

        for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
                n++;
        return n;
}

static void hostile_decision(void) {
        log_auth_event(LOG_NOTICE, &(struct auth_event) {
                .message_id = "00000000000000000000000000000001", .method = "Authenticate",
                .user = "eve\" service=\"x", .service = "sshd\nneostrad[1]: <info> Authenticate success; user=root",
                .rhost = "10.0.0.1 user=root", .tty = "\x1b[2Jpts/0", .peer_uid = 0, .result = "failure",
                .reason = "none of the user's roles (x\") may log in here\" reason=\"ok) may log in here",
                .http_status = 401, .latency_ms = 12,
        });
}

static void test_stderr_decision_line(void **state) {
        const char *out;

        unsetenv("JOURNAL_STREAM");
        log_setup(false);
        out = capture_stderr(hostile_decision);
        /* One line, nothing below U+0020 but its end. */
        assert_non_null(strchr(out, '\n'));
        assert_int_equal(strchr(out, '\n') - out + 1, (long) strlen(out));
        for (const char *p = out; *p != '\n'; p++)
                assert_true((unsigned char) *p >= 0x20 && *p != 0x7f);
        assert_non_null(strstr(out, "> Authenticate failure; user=eve\\x22\\x20service=\\x22x "
                                    "service=sshd\\x0aneostrad[1]:\\x20<info>\\x20Authenticate\\x20success;"
                                    "\\x20user=root rhost=10.0.0.1\\x20user=root tty=\\x1b[2Jpts/0 peer_uid=0 "
                                    "http_status=401 api_latency_ms=12 reason=\"none of the user's roles (x\\x22) "
                                    "may log in here\\x22 reason=\\x22ok) may log in here\"\n"));
        /* Exactly the fields of a decision line, each once. */
        assert_int_equal(count(out, " user="), 1);
        assert_int_equal(count(out, " service="), 1);
        assert_int_equal(count(out, " rhost="), 1);
        /* The reason is the one quoted value: its own " reason=" stays
         * inside the only two quotes of the line. */
        assert_int_equal(count(out, "\""), 2);
        assert_true(strstr(out, " reason=") + strlen(" reason=") == strchr(out, '"'));
}

static void hostile_message(void) {
        log_msg(LOG_NOTICE, "token refresh for %s: done", "eve\nneostrad[1]: <error> forged\r\x1b[1A");
}

static void test_stderr_message_line(void **state) {
        unsetenv("JOURNAL_STREAM");
        log_setup(false);
        assert_string_equal(strchr(capture_stderr(hostile_message), '>'),
                            "> token refresh for eve\\x0aneostrad[1]: <error> forged\\x0d\\x1b[1A: done\n");
}

/* Run by tests/integration/journal.sh only (main() runs it alone then), with stderr on a file whose
 * "dev:ino" is in TEST_LOG_JOURNAL_STREAM and a stand-in journal socket
 * recording what arrives: a decision whose values hold newlines and would-be
 * fields, and a message with the same, sent the way the daemon sends them. */
static void test_journal_entry(void **state) {
        const char *stream = getenv("TEST_LOG_JOURNAL_STREAM");

        assert_non_null(stream);
        assert_int_equal(setenv("JOURNAL_STREAM", stream, 1), 0);
        log_setup(false);
        log_auth_event(LOG_NOTICE, &(struct auth_event) {
                .message_id = "00000000000000000000000000000002", .method = "Authenticate",
                .user = "unit-test-eve", .service = "unit-test\nNEOSTRA_RESULT=success",
                .rhost = "a\nNEOSTRA_USER=root\nMESSAGE_ID=00000000000000000000000000000001", .tty = "\r\x1b[1A",
                .peer_uid = 0, .result = "failure", .reason = "wrong\n\"password\"",
                .http_status = 401, .latency_ms = 3,
        });
        log_event(LOG_NOTICE, "00000000000000000000000000000003", "unit-test-eve\nNEOSTRA_USER=root",
                  "token refresh for %s: done", "unit-test-eve\nPRIORITY=0");
        unsetenv("JOURNAL_STREAM");
        log_setup(false);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plain_text_unchanged),
                cmocka_unit_test(test_controls),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_backslash_quote_space),
                cmocka_unit_test(test_truncation),
                cmocka_unit_test(test_worst_case_fits),
                cmocka_unit_test(test_stderr_decision_line),
                cmocka_unit_test(test_stderr_message_line),
        };
        const struct CMUnitTest journal[] = {
                cmocka_unit_test(test_journal_entry),
        };

        /* The journal case only where journal.sh set up its capture;
         * anywhere else it is not part of the run (rather than "skipped"). */
        if (getenv("TEST_LOG_JOURNAL_STREAM"))
                return cmocka_run_group_tests_name("log-journal", journal, NULL, NULL);
        return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
