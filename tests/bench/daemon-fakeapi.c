/* SPDX-License-Identifier: MIT */
/*
 * daemon-fakeapi: a fast stand-in for the Neostra sign-in API, for the
 * daemon's memory benchmark (tests/bench/daemon-bench.sh), where the Python
 * mock (tests/mock_api.py, ~1-2k sign-ins/s) would be the bottleneck.
 *
 *   daemon-fakeapi PORTFILE
 *
 * Listens on 127.0.0.1, an ephemeral port written to PORTFILE.  HTTP/1.1
 * with keep-alive, one epoll thread.  Every POST is a successful sign-in
 * of the email in its JSON body (any password), answered with the
 * documented success document: a JWT-sized token, a refresh token,
 * expiresIn 3600, roles ["dev"].  The password is never looked at beyond
 * being skipped; the request buffer is wiped.  Counts requests and
 * connections; prints them on stderr at SIGTERM/SIGINT.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_MAX 65536

struct conn {
        int fd;
        size_t len;
        char buf[BUF_MAX];
};

static unsigned long n_requests, n_connections;

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

static void answer(struct conn *c, const char *body, size_t blen) {
        static const char token_tail[] =
                "eyJzdWIiOiJ1LTAxMjM0NTY3ODlhYiIsImVtYWlsIjoiYmVuY2hAZXhhbXBsZS5jb20iLCJyb2xlcyI6WyJkZXYi"
                "XSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2ln"
                "bmF0dXJlc2lnbmF0dXJl";
        char email[256], doc[2048], out[4096];
        int dn, on;

        if (find_email(body, blen, email, sizeof(email)) < 0) {
                static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                          "Content-Length: 2\r\n\r\n{}";
                (void) !write(c->fd, bad, sizeof(bad) - 1);
                return;
        }
        /* Token and refresh token differ per request, as the real API's do
         * (the daemon stores both). */
        dn = snprintf(doc, sizeof(doc),
                      "{\"status\":200,\"message\":\"Success\",\"data\":{"
                      "\"token\":\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s%08lx\","
                      "\"refreshToken\":\"rt-%08lx-0123456789abcdefghijklmnopqrstu\","
                      "\"expiresIn\":3600,"
                      "\"user\":{\"id\":\"u-0123456789ab\",\"email\":\"%s\",\"name\":\"bench\","
                      "\"roles\":[\"dev\"]}},\"errors\":[]}",
                      token_tail, n_requests, n_requests, email);
        on = snprintf(out, sizeof(out),
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      dn, doc);
        if (on > 0 && (size_t) on < sizeof(out))
                (void) !write(c->fd, out, (size_t) on);
}

/* Handle every complete request in the buffer; -1 closes. */
static int process(struct conn *c) {
        for (;;) {
                char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
                size_t hlen, blen = 0, total;

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
                n_requests++;
                answer(c, c->buf + hlen, blen);
                explicit_bzero(c->buf, total);
                memmove(c->buf, c->buf + total, c->len - total);
                c->len -= total;
        }
}

int main(int argc, char **argv) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sa);
        struct epoll_event ev, evs[64];
        sigset_t mask;
        int lfd, ep, sfd, one = 1;
        FILE *f;

        if (argc != 2) {
                fprintf(stderr, "usage: %s PORTFILE\n", argv[0]);
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lfd < 0 || sfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
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

        f = fopen(argv[1], "w");
        if (!f || fprintf(f, "%u\n", (unsigned) ntohs(sa.sin_port)) < 0 || fclose(f) != 0) {
                perror("daemon-fakeapi: port file");
                return 1;
        }
        for (;;) {
                int n = epoll_wait(ep, evs, 64, -1);

                if (n < 0 && errno == EINTR)
                        continue;
                for (int i = 0; i < n; i++) {
                        struct conn *c = evs[i].data.ptr;

                        if (evs[i].data.ptr == &sfd) {
                                fprintf(stderr, "daemon-fakeapi: %lu requests, %lu connections\n",
                                        n_requests, n_connections);
                                return 0;
                        }
                        if (!c) {
                                int cfd;

                                while ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                                        c = calloc(1, sizeof(*c));
                                        if (!c) {
                                                close(cfd);
                                                continue;
                                        }
                                        c->fd = cfd;
                                        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                                        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = c };
                                        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                                        n_connections++;
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
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                explicit_bzero(c->buf, c->len);
                                free(c);
                        }
                }
        }
}
