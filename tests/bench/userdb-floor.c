/* SPDX-License-Identifier: MIT */
/*
 * userdb-floor: the floor under the userdb figures.  A one-threaded epoll
 * server on a Unix socket that answers every NUL-terminated message with
 * the message itself (so userdb-load's checks pass) and does nothing
 * else: what the same load costs in the kernel, the scheduler and the
 * client alone, with no JSON, no lookup, no daemon.
 *
 *   userdb-floor SOCKET      (runs until SIGTERM/SIGINT)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor-server.h"

struct conn {
        int fd;
        size_t len;
        char buf[65536];
};

int main(int argc, char **argv) {
        struct epoll_event ev, evs[64];
        int lfd, ep, sfd;

        if (argc != 2) {
                fprintf(stderr, "usage: userdb-floor SOCKET\n");
                return 2;
        }
        lfd = floor_listen("userdb-floor", argv[1], &sfd);
        if (lfd < 0)
                return 1;
        ep = epoll_create1(EPOLL_CLOEXEC);
        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = NULL };
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = &sfd };
        epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
        for (;;) {
                int n = epoll_wait(ep, evs, 64, -1);

                for (int i = 0; i < n; i++) {
                        struct conn *c = evs[i].data.ptr;
                        ssize_t r;
                        char *p, *z;

                        if (evs[i].data.ptr == &sfd) {
                                unlink(argv[1]);
                                return 0;
                        }
                        if (!c) {
                                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                                if (cfd < 0 || !(c = calloc(1, sizeof(*c)))) {
                                        if (cfd >= 0)
                                                close(cfd);
                                        continue;
                                }
                                c->fd = cfd;
                                ev = (struct epoll_event) { .events = EPOLLIN, .data.ptr = c };
                                epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                                continue;
                        }
                        r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
                        if (r <= 0) {
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                free(c);
                                continue;
                        }
                        c->len += (size_t) r;
                        p = c->buf;
                        while ((z = memchr(p, 0, c->len - (size_t) (p - c->buf)))) {
                                (void) !send(c->fd, p, (size_t) (z - p) + 1, MSG_NOSIGNAL);
                                p = z + 1;
                        }
                        memmove(c->buf, p, c->len - (size_t) (p - c->buf));
                        c->len -= (size_t) (p - c->buf);
                }
        }
}
