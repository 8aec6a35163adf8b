/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

void log_msg(int priority, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int saved = errno;

        if ((priority == LOG_DEBUG && !debug_enabled) || priority > max_priority)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (use_journal)
                sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", priority,
                                "SYSLOG_IDENTIFIER=neostrad", NULL);
        else
                fprintf(stderr, "neostrad[%d]: <%s> %s\n", (int) getpid(), prio_name(priority), buf);
        errno = saved;
}

/* Values come from peers; keep the line greppable (no spaces inside a
 * value) and one line long.  Byte by byte: what is not UTF-8 cannot break
 * a line and is passed on as it is. */
static const char *printable(const char *s, char *buf, size_t size) {
        size_t i;

        if (!s)
                return "-";
        for (i = 0; s[i] && i + 1 < size; i++)
                buf[i] = neostra_text_char_ok((unsigned char) s[i], NEOSTRA_TEXT_NO_SPACE) ? s[i] : '?';
        buf[i] = 0;
        return buf;
}

void log_auth_event(int priority, const struct auth_event *ev) {
        char user[257], service[65], rhost[257], tty[65];
        char latency[32] = "-";
        const char *u, *s, *h, *t;

        if (priority > max_priority)
                return;
        u = printable(ev->user, user, sizeof(user));
        s = printable(ev->service, service, sizeof(service));
        h = printable(ev->rhost, rhost, sizeof(rhost));
        t = printable(ev->tty, tty, sizeof(tty));
        if (ev->latency_ms >= 0)
                snprintf(latency, sizeof(latency), "%lld", (long long) ev->latency_ms);

        if (use_journal) {
                sd_journal_send("MESSAGE=%s %s: user=%s service=%s rhost=%s reason=%s",
                                        ev->method, ev->result, u, s, h, ev->reason,
                                "PRIORITY=%i", priority,
                                "SYSLOG_IDENTIFIER=neostrad",
                                "NEOSTRA_METHOD=%s", ev->method,
                                "NEOSTRA_USER=%s", u,
                                "NEOSTRA_SERVICE=%s", s,
                                "NEOSTRA_RHOST=%s", h,
                                "NEOSTRA_TTY=%s", t,
                                "NEOSTRA_PEER_UID=%u", ev->peer_uid,
                                "NEOSTRA_RESULT=%s", ev->result,
                                "NEOSTRA_REASON=%s", ev->reason,
                                "NEOSTRA_HTTP_STATUS=%ld", ev->http_status,
                                "NEOSTRA_API_LATENCY_MS=%s", latency,
                                NULL);
                return;
        }
        fprintf(stderr, "neostrad[%d]: <%s> %s %s; user=%s service=%s rhost=%s tty=%s "
                "peer_uid=%u http_status=%ld api_latency_ms=%s reason=\"%s\"\n",
                (int) getpid(), prio_name(priority), ev->method, ev->result, u, s, h, t, ev->peer_uid, ev->http_status, latency, ev->reason);
}
