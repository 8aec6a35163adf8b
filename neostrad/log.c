/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"
#include "neostra/text.h"

static bool use_journal;
static bool debug_enabled;
static int max_priority = LOG_DEBUG;    /* log_set_max_priority() */

/* systemd puts "dev:ino" of the journal stream in JOURNAL_STREAM; if our
 * stderr is that stream, structured entries are worth sending directly. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(bool debug) {
        debug_enabled = debug;
        use_journal = stderr_is_journal();
}

void log_set_max_priority(int priority) {
        max_priority = priority;
}

static const char *prio_name(int p) {
        static const char *const names[] = {
                "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
        };
        return names[p & 7];
}

/* ---- escaping ------------------------------------------------------------------ */

/* Characters that are valid UTF-8 and still must not reach a log as they
 * are: the C1 controls (terminals act on them: U+009B is a CSI), the line
 * and paragraph separators (a new line to some viewers), and the
 * bidirectional embeddings, overrides, isolates and marks, which reorder
 * what a reader sees. */
static bool char_is_hidden(uint32_t c) {
        return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
               (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e ||
               c == 0x200f || c == 0x061c;
}

/* The escaped form of the character (or invalid byte) at s[i]: its length
 * in piece (at most 16 bytes), and in *ret_len how many bytes of s it
 * stands for. */
static size_t escape_piece(const char *s, size_t len, size_t i, unsigned flags, char piece[static 16],
                           size_t *ret_len) {
        static const char hex[] = "0123456789abcdef";
        size_t n = 0, clen;
        uint32_t c = 0;

        clen = neostra_utf8_decode(s + i, len - i, &c);
        if (clen == 0 || c < 0x20 || c == 0x7f || char_is_hidden(c) ||
            (c == ' ' && (flags & LOG_ESCAPE_SPACE)) || (c == '"' && (flags & LOG_ESCAPE_QUOTE))) {
                /* Byte by byte; where the bytes are not valid UTF-8,
                 * only the first, and on from the next. */
                if (clen == 0)
                        clen = 1;
                for (size_t k = 0; k < clen; k++) {
                        unsigned char b = (unsigned char) s[i + k];

                        piece[n++] = '\\';
                        piece[n++] = 'x';
                        piece[n++] = hex[b >> 4];
                        piece[n++] = hex[b & 15];
                }
        } else if (c == '\\') {
                piece[n++] = '\\';
                piece[n++] = '\\';
        } else {
                memcpy(piece, s + i, clen);
                n = clen;
        }
        *ret_len = clen;
        return n;
}

const char *log_escape(const char *s, unsigned flags, char *buf, size_t size) {
        char piece[16];
        size_t len, i, o = 0, total = 0, n, clen;

        if (size < 4) {
                if (size)
                        buf[0] = 0;
                return buf;
        }
        if (!s) {
                memcpy(buf, "-", 2);
                return buf;
        }
        len = strlen(s);
        for (i = 0; i < len; i += clen)
                total += escape_piece(s, len, i, flags, piece, &clen);
        for (i = 0; i < len; i += clen) {
                n = escape_piece(s, len, i, flags, piece, &clen);
                /* All of it fits, or this piece and "..." after it. */
                if (total >= size && o + n + 3 >= size) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                memcpy(buf + o, piece, n);
                o += n;
        }
        buf[o] = 0;
        return buf;
}

/* ---- sending ------------------------------------------------------------------- */

#define FIELDS_MAX 16

/* One entry's fields, in one buffer on the stack: a decision's escaped
 * values (five of at most 1 KiB, a reason of 2 KiB) and its MESSAGE,
 * which repeats them, fit. */
struct fields {
        struct iovec iov[FIELDS_MAX];
        size_t n, used;
        char buf[16384];
};

/* Add NAME=value (value already escaped, or our own text).  Out of room,
 * the field is left out: the entry still goes. */
static void field_add(struct fields *f, const char *name, const char *value) {
        size_t nl = strlen(name), vl = strlen(value);
        char *p = f->buf + f->used;

        if (f->n >= FIELDS_MAX || nl + 1 + vl > sizeof(f->buf) - f->used)
                return;
        memcpy(p, name, nl);
        p[nl] = '=';
        memcpy(p + nl + 1, value, vl);
        f->iov[f->n].iov_base = p;
        f->iov[f->n].iov_len = nl + 1 + vl;
        f->used += nl + 1 + vl;
        f->n++;
}

/* sd_journal_sendv() writes each field with its length whenever a value
 * holds a newline, so no value can start a field of its own even if one
 * slipped past log_escape(). */
static void fields_send(struct fields *f) {
        if (f->n)
                (void) sd_journal_sendv(f->iov, (int) f->n);
}

static void log_text(int priority, const char *message_id, const char *user, const char *fmt, va_list ap) {
        char raw[1024], text[4096], user_esc[1025], prio[4];
        int saved = errno;

        if ((priority == LOG_DEBUG && !debug_enabled) || priority > max_priority)
                return;
        vsnprintf(raw, sizeof(raw), fmt, ap);
        log_escape(raw, 0, text, sizeof(text));

        if (use_journal) {
                struct fields f;

                f.n = f.used = 0;
                snprintf(prio, sizeof(prio), "%d", priority & 7);
                field_add(&f, "MESSAGE", text);
                field_add(&f, "PRIORITY", prio);
                field_add(&f, "SYSLOG_IDENTIFIER", "neostrad");
                if (message_id)
                        field_add(&f, "MESSAGE_ID", message_id);
                if (user)
                        field_add(&f, "NEOSTRA_USER", log_escape(user, LOG_ESCAPE_SPACE | LOG_ESCAPE_QUOTE,
                                                                 user_esc, sizeof(user_esc)));
                fields_send(&f);
        } else
                fprintf(stderr, "neostrad[%d]: <%s> %s\n", (int) getpid(), prio_name(priority), text);
        errno = saved;
}

void log_msg(int priority, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_text(priority, NULL, NULL, fmt, ap);
        va_end(ap);
}

void log_event(int priority, const char *message_id, const char *user, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_text(priority, message_id, user, fmt, ap);
        va_end(ap);
}

void log_auth_event(int priority, const struct auth_event *ev) {
        /* Each value is at most NEOSTRA_USER_MAX or NEOSTRA_FIELD_MAX
         * (256) bytes, a reason at most 512: four times that fits. */
        char user[1025], service[1025], rhost[1025], tty[1025], reason[2049];
        char latency[32] = "-", status[32], uid[16], prio[4];
        const unsigned word = LOG_ESCAPE_SPACE | LOG_ESCAPE_QUOTE;
        int saved = errno;

        if (priority > max_priority)
                return;
        log_escape(ev->user, word, user, sizeof(user));
        log_escape(ev->service, word, service, sizeof(service));
        log_escape(ev->rhost, word, rhost, sizeof(rhost));
        log_escape(ev->tty, word, tty, sizeof(tty));
        log_escape(ev->reason, LOG_ESCAPE_QUOTE, reason, sizeof(reason));
        if (ev->latency_ms >= 0)
                snprintf(latency, sizeof(latency), "%lld", (long long) ev->latency_ms);
        snprintf(status, sizeof(status), "%ld", ev->http_status);
        snprintf(uid, sizeof(uid), "%u", ev->peer_uid);

        if (use_journal) {
                struct fields f;
                char message[6144];

                f.n = f.used = 0;
                snprintf(message, sizeof(message), "%s %s: user=%s service=%s rhost=%s reason=%s", ev->method,
                         ev->result, user, service, rhost, reason);
                field_add(&f, "MESSAGE", message);
                snprintf(prio, sizeof(prio), "%d", priority & 7);
                field_add(&f, "PRIORITY", prio);
                field_add(&f, "SYSLOG_IDENTIFIER", "neostrad");
                if (ev->message_id)
                        field_add(&f, "MESSAGE_ID", ev->message_id);
                field_add(&f, "NEOSTRA_METHOD", ev->method);
                field_add(&f, "NEOSTRA_USER", user);
                field_add(&f, "NEOSTRA_SERVICE", service);
                field_add(&f, "NEOSTRA_RHOST", rhost);
                field_add(&f, "NEOSTRA_TTY", tty);
                field_add(&f, "NEOSTRA_PEER_UID", uid);
                field_add(&f, "NEOSTRA_RESULT", ev->result);
                field_add(&f, "NEOSTRA_REASON", reason);
                field_add(&f, "NEOSTRA_HTTP_STATUS", status);
                field_add(&f, "NEOSTRA_API_LATENCY_MS", latency);
                fields_send(&f);
        } else
                fprintf(stderr, "neostrad[%d]: <%s> %s %s; user=%s service=%s rhost=%s tty=%s "
                        "peer_uid=%s http_status=%s api_latency_ms=%s reason=\"%s\"\n",
                        (int) getpid(), prio_name(priority), ev->method, ev->result, user, service, rhost, tty,
                        uid, status, latency, reason);
        errno = saved;
}
