/* SPDX-License-Identifier: MIT */
/*
 * relay-floor: the floor under the "ours" rows of make bench.  It stands
 * where neostrad stands (the module connects to it and sends its call) and
 * does only what this design cannot do without: for every call it sends
 * one sign-in POST to the API over a kept-alive HTTP/1.1 connection,
 * reads the answer (Content-Length bodies only) and gives the module a
 * fixed successful Authenticate answer, allowed, no groups.  No JSON
 * parsing, no policy, no cache, no log.  pam_neostra → relay-floor → the
 * fixed nginx is what the architecture costs on this machine; the
 * difference to pam_neostra → neostrad is the daemon's own.
 *
 *   relay-floor SOCKET PORT USER EMAIL   (runs until SIGTERM/SIGINT)
 *
 * One epoll thread, like the daemon; API connections to 127.0.0.1:PORT are
 * opened as needed and kept (one per call in flight).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor-server.h"

#define BUF_MAX 16384

struct api;

struct tag;

struct client {
        int fd;
        size_t len;
        bool eof;               /* half-closed by the module: free once answered */
        struct api *api;        /* the API connection its call is on */
        struct tag *tag;
        char buf[BUF_MAX];
};

struct api {
        int fd;
        size_t len;
        struct client *client;  /* NULL: idle */
        struct api *next_idle;
        struct tag *tag;
        char buf[BUF_MAX];
};

/* epoll's data.ptr: what a ready fd is. */
enum kind { LISTENER, SIGNALS, CLIENT, API };
struct tag {
        enum kind kind;
        void *p;
};

static int ep;
static struct sockaddr_in api_addr;
static char request[1024], reply[1024];
static size_t request_len, reply_len;
static struct api *idle;

static void watch(int fd, struct tag *t, int op) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = t };

        epoll_ctl(ep, op, fd, &ev);
}

static void client_free(struct client *c) {
        if (!c->eof)
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        if (c->api)
                c->api->client = NULL;  /* its answer is read and dropped */
        free(c->tag);
        free(c);
}

static struct api *api_get(void) {
        struct api *a = idle;
        struct tag *t;
        int one = 1;

        if (a) {
                idle = a->next_idle;
                return a;
        }
        a = calloc(1, sizeof(*a));
        t = calloc(1, sizeof(*t));
        if (!a || !t)
                goto fail;
        a->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (a->fd < 0 || connect(a->fd, (struct sockaddr *) &api_addr, sizeof(api_addr)) < 0)
                goto fail;
        setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        *t = (struct tag) { API, a };
        a->tag = t;
        watch(a->fd, t, EPOLL_CTL_ADD);
        return a;
fail:
        perror("relay-floor: API connection");
        if (a && a->fd >= 0)
                close(a->fd);
        free(a);
        free(t);
        return NULL;
}

/* A whole HTTP answer in a->buf: its length, or 0 while incomplete. */
static size_t http_complete(const struct api *a) {
        const char *end, *cl;
        size_t head;

        end = memmem(a->buf, a->len, "\r\n\r\n", 4);
        if (!end)
                return 0;
        head = (size_t) (end - a->buf) + 4;
        cl = memmem(a->buf, head, "\r\nContent-Length:", 17);
        if (!cl)
                cl = memmem(a->buf, head, "\r\ncontent-length:", 17);
        if (!cl)
                return head;
        head += strtoul(cl + 17, NULL, 10);
        return a->len >= head ? head : 0;
}

static void on_api(struct api *a, struct tag *t) {
        ssize_t n = recv(a->fd, a->buf + a->len, sizeof(a->buf) - a->len, 0);
        size_t whole;

        if (n <= 0) {
                fprintf(stderr, "relay-floor: the API closed a connection\n");
                exit(1);
        }
        a->len += (size_t) n;
        whole = http_complete(a);
        if (!whole)
                return;
        memmove(a->buf, a->buf + whole, a->len - whole);
        a->len -= whole;
        if (a->client) {
                struct client *c = a->client;

                (void) !send(c->fd, reply, reply_len, MSG_NOSIGNAL);
                c->api = NULL;
                a->client = NULL;
                if (c->eof)
                        client_free(c);
        }
        a->next_idle = idle;
        idle = a;
        (void) t;
}

/* At exit: the kept API connections (all idle once the load has stopped). */
static void apis_free(void) {
        while (idle) {
                struct api *a = idle;

                idle = a->next_idle;
                close(a->fd);
                free(a->tag);
                free(a);
        }
}

static void on_client(struct client *c) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

        if (n == 0 && c->api) {
                /* The module half-closes after its call: answer, then close. */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                c->eof = true;
                return;
        }
        if (n <= 0) {
                client_free(c);
                return;
        }
        c->len += (size_t) n;
        if (c->api || !memchr(c->buf, 0, c->len))
                return;         /* one call per connection, as the module makes */
        c->len = 0;
        c->api = api_get();
        if (!c->api) {
                client_free(c);
                return;
        }
        c->api->client = c;
        (void) !send(c->api->fd, request, request_len, MSG_NOSIGNAL);
}

int main(int argc, char **argv) {
        static struct tag listener = { LISTENER, NULL }, signals = { SIGNALS, NULL };
        char body[512];
        int lfd, sfd, body_len;

        if (argc != 5) {
                fprintf(stderr, "usage: relay-floor SOCKET PORT USER EMAIL\n");
                return 2;
        }
        api_addr = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(argv[2])),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        /* What neostrad sends and answers, give or take the password. */
        body_len = snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", argv[4],
                            "0123456789abcdef0123456789abcdef");
        request_len = (size_t) snprintf(request, sizeof(request),
                                        "POST /api/v1/auth/signin HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n"
                                        "User-Agent: relay-floor\r\nContent-Type: application/json\r\n"
                                        "Accept: application/json\r\nContent-Length: %d\r\n\r\n%s",
                                        argv[2], body_len, body);
        reply_len = (size_t) snprintf(reply, sizeof(reply),
                                      "{\"parameters\":{\"user\":\"%s\",\"email\":\"%s\",\"roles\":[\"dev\"],"
                                      "\"groups\":[],\"offline\":false,\"allowed\":true,"
                                      "\"reason\":\"relay-floor\"}}", argv[3], argv[4]) + 1;

        lfd = floor_listen("relay-floor", argv[1], &sfd);
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (lfd < 0 || ep < 0)
                return 1;
        watch(lfd, &listener, EPOLL_CTL_ADD);
        watch(sfd, &signals, EPOLL_CTL_ADD);
        for (;;) {
                struct epoll_event evs[64];
                int n = epoll_wait(ep, evs, 64, -1);

                for (int i = 0; i < n; i++) {
                        struct tag *t = evs[i].data.ptr;

                        switch (t->kind) {
                        case SIGNALS:
                                unlink(argv[1]);
                                apis_free();
                                return 0;
                        case LISTENER: {
                                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                                struct client *c = cfd >= 0 ? calloc(1, sizeof(*c)) : NULL;
                                struct tag *ct = c ? calloc(1, sizeof(*ct)) : NULL;

                                if (!ct) {
                                        if (cfd >= 0)
                                                close(cfd);
                                        free(c);
                                        break;
                                }
                                c->fd = cfd;
                                c->tag = ct;
                                *ct = (struct tag) { CLIENT, c };
                                watch(cfd, ct, EPOLL_CTL_ADD);
                                break;
                        }
                        case CLIENT:
                                on_client(t->p);
                                break;
                        case API:
                                on_api(t->p, t);
                                break;
                        }
                }
        }
}
