/* SPDX-License-Identifier: MIT */
/*
 * Logging: structured journal entries when stderr is connected to the
 * journal (systemd sets JOURNAL_STREAM), plain lines on stderr otherwise.
 * Nothing here ever receives a password or a token.
 *
 * Every text that reaches a log passes log_escape() first, so that nothing
 * a peer or the API chose (a user name, an rhost, a role) can end a line,
 * start a new field, move the terminal's cursor or pass for a value of its
 * own: in the journal, on stderr, in MESSAGE and in the NEOSTRA_* fields.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "neostra/protocol.h"   /* NEOSTRA_VERSION */

void log_setup(bool debug);

/* Drop every message less important than priority (LOG_ERR keeps errors
 * and worse).  For a test that drives the daemon thousands of times a
 * second and would otherwise spend its time writing lines nobody reads;
 * the daemon never calls it. */
void log_set_max_priority(int priority);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_msg() with a MESSAGE_ID (log-ids.h), and NEOSTRA_USER=user when user
 * is not NULL (on stderr the line is the same as log_msg()'s). */
void log_event(int priority, const char *message_id, const char *user, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* One login decision, as a structured entry (NEOSTRA_* journal fields). */
struct auth_event {
        const char *message_id;  /* log-ids.h */
        const char *method;      /* "Authenticate", "CheckAccount" */
        const char *user;
        const char *service;
        const char *rhost;
        const char *tty;
        unsigned peer_uid;
        const char *result;      /* "success", "failure", "unknown", "unavailable", ... */
        const char *reason;
        long http_status;        /* 0: none */
        int64_t latency_ms;      /* -1: no API call */
};
void log_auth_event(int priority, const struct auth_event *ev);

enum {
        /* Escape U+0020 too: for a value that stands as one word in a
         * "key=value key=value" line. */
        LOG_ESCAPE_SPACE = 1u << 0,
        /* Escape '"' too: for a value written between quotes. */
        LOG_ESCAPE_QUOTE = 1u << 1,
};

/*
 * Copy s into buf (size bytes, at least 4), escaped: a backslash becomes
 * "\\"; every byte of a C0 control (tab, newline, carriage return, ESC ...),
 * of DEL, of a C1 control (U+0080..U+009F), of a Unicode line or paragraph
 * separator or bidirectional control, and every byte that is not part of
 * valid UTF-8 becomes "\xNN"; so do ' ' and '"' under the flags above.
 * Everything else, other UTF-8 text included, is copied as it is.  What
 * does not fit is cut at a whole character or escape and marked with
 * "..." (4 * strlen(s) + 1 bytes always fit).  s NULL gives "-".
 * Returns buf.
 */
const char *log_escape(const char *s, unsigned flags, char *buf, size_t size);
