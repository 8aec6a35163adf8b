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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct conn {
        int fd;
        size_t len;
        char buf[65536];
};

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct epoll_event ev, evs[64];
        sigset_t mask;
        int lfd, ep, sfd;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: userdb-floor SOCKET\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        unlink(argv[1]);
        if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0) {
                perror("userdb-floor");
                return 1;
        }
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
