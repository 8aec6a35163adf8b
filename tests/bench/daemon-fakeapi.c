/* SPDX-License-Identifier: MIT */
/*
 * daemon-fakeapi: a fast stand-in for the Neostra sign-in API, for the
 * daemon's memory benchmark (tests/bench/daemon-bench.sh), where the Python
 * mock (tests/mock_api.py, ~1-2k sign-ins/s) would be the bottleneck, and
 * for `make bench`'s "fixed 50 ms (C)" rows (tests/bench/bench.sh), where
 * the Python APIs' own CPU would compete with the daemon's.
 *
 *   daemon-fakeapi [--delay-ms N] PORTFILE
 *
 * Listens on 127.0.0.1, an ephemeral port written to PORTFILE.  HTTP/1.1
 * with keep-alive (plain HTTP only), one epoll thread.  Every POST is a
 * successful sign-in of the email in its JSON body (any password),
 * answered with the documented success document: a JWT-sized token, a
 * refresh token, expiresIn 3600, roles ["dev"].  The password is never
 * looked at beyond being skipped; the request buffer is wiped.
 *
 * With --delay-ms N (0..60000; default 0), each sign-in is answered N ms
 * after the request was fully read, without blocking the thread: the
 * answers wait in a queue in arrival order (the delay is the same for all,
 * so that is also the order they fall due in) and one timerfd is armed for
 * the first of them.  Answers on one connection leave in request order
 * (at most PENDING_MAX waiting per connection, QUEUE_MAX in all; beyond
 * that the connection is closed).  Other answers (400, the control
 * requests below) are not delayed, but still wait for earlier answers on
 * their connection.
 *
 * GET /_control/stats gives {"signins": N, "connections": N} (connections
 * counted at accept), POST /_control/reset zeroes them, as tests/mock_api.py
 * and tests/bench/fixed-api.py do (tests/bench/run-series.sh reads them
 * through BENCH_MOCK_PORT).  Counts all requests and connections; prints
 * them on stderr at SIGTERM/SIGINT.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX 65536
#define ANSWER_MAX 2048
#define PENDING_MAX 8      /* answers waiting, per connection */
#define QUEUE_MAX 65536    /* delayed answers waiting, in all */

struct answer {
        uint64_t due; /* CLOCK_MONOTONIC ns; 0: as soon as the ones before it are sent */
        size_t len;
        char data[ANSWER_MAX];
};

struct conn {
        int fd;        /* -1 once closed; freed when refs is 0 too */
        unsigned refs; /* entries of the delay queue that name it */
        unsigned head, count;
        struct answer pending[PENDING_MAX]; /* ring: head, count */
        size_t len;
        char buf[BUF_MAX];
};

/* The delay queue: one entry per delayed answer, in arrival order. */
static struct {
        struct conn *c;
        uint64_t due;
} queue[QUEUE_MAX];
static unsigned q_head, q_count;

static unsigned long n_requests, n_connections;
static unsigned long stat_signins, stat_connections; /* /_control/stats */
static uint64_t delay_ns;
static int ep, tfd = -1;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void arm(uint64_t due) {
        struct itimerspec its = { .it_value = { .tv_sec = (time_t) (due / 1000000000u),
                                                .tv_nsec = (long) (due % 1000000000u) } };

        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* The email of {"email":"...", ...}; plain characters only (the bench
 * sends simple names). */
static int find_email(const char *body, size_t len, char *out, size_t outsz) {
        const char *p = memmem(body, len, "\"email\"", 7), *end = body + len;
        size_t n = 0;

        if (!p)
                return -1;
        p += 7;
        while (p < end && (*p == ' ' || *p == ':'))
                p++;
        if (p >= end || *p != '"')
                return -1;
        for (p++; p < end && *p != '"' && *p != '\\'; p++) {
                if (n + 1 >= outsz)
                        return -1;
                out[n++] = *p;
        }
        if (p >= end || *p != '"')
                return -1;
        out[n] = 0;
        return 0;
}

/* A whole HTTP answer in a->data; -1 when it does not fit. */
static int http_answer(struct answer *a, const char *status, const char *doc, int dn) {
        int on;

        if (dn < 0)
                return -1;
        on = snprintf(a->data, sizeof(a->data),
                      "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      status, dn, doc);
        if (on < 0 || (size_t) on >= sizeof(a->data))
                return -1;
        a->len = (size_t) on;
        return 0;
}

static int signin_answer(struct answer *a, const char *email) {
        static const char token_tail[] =
                "eyJzdWIiOiJ1LTAxMjM0NTY3ODlhYiIsImVtYWlsIjoiYmVuY2hAZXhhbXBsZS5jb20iLCJyb2xlcyI6WyJkZXYi"
                "XSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2ln"
                "bmF0dXJlc2lnbmF0dXJl";
        char doc[ANSWER_MAX];

        /* Token and refresh token differ per request, as the real API's do
         * (the daemon stores both). */
        return http_answer(a, "200 OK", doc,
                           snprintf(doc, sizeof(doc),
                                    "{\"status\":200,\"message\":\"Success\",\"data\":{"
                                    "\"token\":\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s%08lx\","
                                    "\"refreshToken\":\"rt-%08lx-0123456789abcdefghijklmnopqrstu\","
                                    "\"expiresIn\":3600,"
                                    "\"user\":{\"id\":\"u-0123456789ab\",\"email\":\"%s\",\"name\":\"bench\","
                                    "\"roles\":[\"dev\"]}},\"errors\":[]}",
                                    token_tail, n_requests, n_requests, email));
}

static int send_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t w = write(fd, p, len);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                len -= (size_t) w;
        }
        return 0;
}

/* Send the connection's waiting answers that are due, in order. */
static int flush(struct conn *c, uint64_t now) {
        while (c->count > 0 && c->pending[c->head].due <= now) {
                struct answer *a = &c->pending[c->head];

                if (send_all(c->fd, a->data, a->len) < 0)
                        return -1;
                c->head = (c->head + 1) % PENDING_MAX;
                c->count--;
        }
        return 0;
}

/* The next slot of c's ring, or NULL when it is full. */
static struct answer *slot(struct conn *c) {
        return c->count < PENDING_MAX ? &c->pending[(c->head + c->count) % PENDING_MAX] : NULL;
}

/* Queue the answer just built in slot(c), due at DUE (0: now); -1 closes. */
static int deliver(struct conn *c, struct answer *a, uint64_t due) {
        if (due == 0 && c->count == 0)
                return send_all(c->fd, a->data, a->len);
        if (due != 0) {
                if (q_count == QUEUE_MAX)
                        return -1;
                queue[(q_head + q_count) % QUEUE_MAX].c = c;
                queue[(q_head + q_count) % QUEUE_MAX].due = due;
                if (q_count++ == 0)
                        arm(due);
                c->refs++;
        }
        a->due = due;
        c->count++;
        return 0;
}

static void close_conn(struct conn *c) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        explicit_bzero(c->buf, c->len);
        c->len = 0;
        c->count = 0;
        if (c->refs == 0)
                free(c);
}

/* The delay queue's entries that are due; the timer re-armed. */
static void run_due(void) {
        uint64_t now = now_ns();

        while (q_count > 0 && queue[q_head].due <= now) {
                struct conn *c = queue[q_head].c;

                q_head = (q_head + 1) % QUEUE_MAX;
                q_count--;
                c->refs--;
                if (c->fd < 0) {
                        if (c->refs == 0)
                                free(c);
                        continue;
                }
                if (flush(c, now) < 0)
                        close_conn(c);
        }
        if (q_count > 0)
                arm(queue[q_head].due);
}

/* Handle every complete request in the buffer; -1 closes. */
static int process(struct conn *c) {
        for (;;) {
                char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl, email[256];
                size_t hlen, blen = 0, total;
                struct answer *a;
                uint64_t due = 0;
                int r;

                if (!hend)
                        return c->len >= BUF_MAX ? -1 : 0;
                hlen = (size_t) (hend - c->buf) + 4;
                *hend = 0;
                cl = strcasestr(c->buf, "\r\nContent-Length:");
                if (cl)
                        blen = strtoul(cl + 17, NULL, 10);
                *hend = '\r';
                if (blen > BUF_MAX - hlen)
                        return -1;
                total = hlen + blen;
                if (c->len < total)
                        return 0;
                a = slot(c);
                if (!a)
                        return -1; /* more than PENDING_MAX requests in flight */
                n_requests++;
                if (hlen >= 20 && memcmp(c->buf, "GET /_control/stats ", 20) == 0) {
                        char doc[128];

                        r = http_answer(a, "200 OK", doc,
                                        snprintf(doc, sizeof(doc), "{\"signins\":%lu,\"connections\":%lu}",
                                                 stat_signins, stat_connections));
                } else if (hlen >= 21 && memcmp(c->buf, "POST /_control/reset ", 21) == 0) {
                        stat_signins = stat_connections = 0;
                        r = http_answer(a, "200 OK", "{\"ok\":true}", 11);
                } else if (find_email(c->buf + hlen, blen, email, sizeof(email)) == 0) {
                        stat_signins++;
                        r = signin_answer(a, email);
                        if (delay_ns)
                                due = now_ns() + delay_ns;
                } else {
                        r = http_answer(a, "400 Bad Request", "{}", 2);
                }
                explicit_bzero(c->buf, total);
                memmove(c->buf, c->buf + total, c->len - total);
                c->len -= total;
                if (r < 0 || deliver(c, a, due) < 0)
                        return -1;
        }
}

static int usage(const char *argv0) {
        fprintf(stderr, "usage: %s [--delay-ms N] PORTFILE\n", argv0);
        return 2;
}

int main(int argc, char **argv) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sa);
        struct epoll_event ev, evs[64];
        sigset_t mask;
        int lfd, sfd, one = 1, ai = 1;
        FILE *f;

        if (argc == 4 && strcmp(argv[1], "--delay-ms") == 0) {
                char *end;
                unsigned long ms;

                errno = 0;
                ms = strtoul(argv[2], &end, 10);
                if (errno || end == argv[2] || *end || argv[2][0] == '-' || ms > 60000)
                        return usage(argv[0]);
                delay_ns = (uint64_t) ms * 1000000u;
                ai = 3;
        } else if (argc != 2 || argv[1][0] == '-') {
                return usage(argv[0]);
        }
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0 || sfd < 0 || tfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &slen) < 0) {
                perror("daemon-fakeapi: listen");
                return 1;
        }
        ep = epoll_create1(EPOLL_CLOEXEC);
        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = NULL };
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = &sfd };
        epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = &tfd };
        epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

        f = fopen(argv[ai], "w");
        if (!f || fprintf(f, "%u\n", (unsigned) ntohs(sa.sin_port)) < 0 || fclose(f) != 0) {
                perror("daemon-fakeapi: port file");
                return 1;
        }
        for (;;) {
                int n = epoll_wait(ep, evs, 64, -1), timer = 0;

                if (n < 0 && errno == EINTR)
                        continue;
                for (int i = 0; i < n; i++) {
                        struct conn *c = evs[i].data.ptr;

                        if (evs[i].data.ptr == &sfd) {
                                fprintf(stderr, "daemon-fakeapi: %lu requests, %lu connections\n",
                                        n_requests, n_connections);
                                return 0;
                        }
                        if (evs[i].data.ptr == &tfd) {
                                /* After the other events: run_due() may free a
                                 * connection that one of them names. */
                                timer = 1;
                                continue;
                        }
                        if (!c) {
                                int cfd;

                                while ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                                        c = malloc(sizeof(*c));
                                        if (!c) {
                                                close(cfd);
                                                continue;
                                        }
                                        c->fd = cfd;
                                        c->refs = c->head = c->count = 0;
                                        c->len = 0;
                                        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                                        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = c };
                                        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                                        n_connections++;
                                        stat_connections++;
                                        /* blocking socket: one accept per wakeup */
                                        break;
                                }
                                continue;
                        }
                        {
                                ssize_t r = read(c->fd, c->buf + c->len, BUF_MAX - c->len);

                                if (r > 0) {
                                        c->len += (size_t) r;
                                        if (process(c) == 0)
                                                continue;
                                }
                                close_conn(c);
                        }
                }
                if (timer) {
                        uint64_t expirations;

                        (void) !read(tfd, &expirations, sizeof(expirations));
                        run_due();
                }
        }
}
