/* SPDX-License-Identifier: MIT */
/*
 * The start shared by the bench's stand-in servers on a Unix socket
 * (userdb-floor.c, relay-floor.c): SIGTERM and SIGINT blocked and read from
 * a signalfd, SIGPIPE ignored, and the listening socket bound at path
 * (whatever was there unlinked first).
 */
#ifndef FLOOR_SERVER_H
#define FLOOR_SERVER_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The listening socket (non-blocking), *ret_sfd the signalfd; -1 after a
 * message on stderr naming prog. */
static inline int floor_listen(const char *prog, const char *path, int *ret_sfd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sigset_t mask;
        int lfd, sfd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "%s: socket path too long\n", prog);
                return -1;
        }
        strcpy(sa.sun_path, path);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        unlink(path);
        if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0) {
                perror(prog);
                if (sfd >= 0)
                        close(sfd);
                if (lfd >= 0)
                        close(lfd);
                return -1;
        }
        *ret_sfd = sfd;
        return lfd;
}

#endif
