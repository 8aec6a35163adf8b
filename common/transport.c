/* SPDX-License-Identifier: MIT */
/*
 * The JSON-free Varlink transport (include/neostra/transport.h).  Modelled
 * on how SSSD's sss_client/common.c talks to its responders: non-blocking
 * socket, every read and write preceded by poll() with what is left of the
 * deadline, MSG_NOSIGNAL so a dead daemon never raises SIGPIPE inside sshd.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "neostra/protocol.h"
#include "neostra/transport.h"

uint64_t neostra_now_usec(void) {
        struct timespec ts;

        /* CLOCK_MONOTONIC cannot fail on Linux; a zero would only make
         * every deadline look already expired, which fails closed. */
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t neostra_deadline_ms(uint64_t timeout_ms) {
        uint64_t now = neostra_now_usec();

        if (timeout_ms > (UINT64_MAX - now) / 1000u)
                return UINT64_MAX;
        return now + timeout_ms * 1000u;
}

const char *neostra_client_strerror(int r) {
        switch (r) {
        case -ENOENT:
                return "no socket there (is neostrad running?)";
        case -ECONNREFUSED:
                return "connection refused (is neostrad running?)";
        case -EPERM:
        case -ENOTSOCK:
                return "refusing untrusted socket (not a socket owned by root or a system account)";
        case -ETIMEDOUT:
                return "timed out";
        case -EBADMSG:
        case -EMSGSIZE:
                return "invalid reply";
        case -ECONNRESET:
                return "connection closed by neostrad";
        default:
                return strerror(-r);
        }
}

const char *neostra_error_short(const char *error) {
        const char *dot;

        if (!error)
                return "";
        dot = strrchr(error, '.');
        return dot && dot[1] ? dot + 1 : error;
}

/*
 * Wait until fd is ready for events or the deadline passes.  Returns 0 when
 * the caller should try its I/O (errors and hang-ups surface there), or
 * -ETIMEDOUT.  Signals restart the wait with the time that is left.
 */
static int wait_fd(int fd, short events, uint64_t deadline_usec) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                uint64_t now = neostra_now_usec(), left_ms;
                int r;

                if (now >= deadline_usec)
                        return -ETIMEDOUT;
                left_ms = (deadline_usec - now + 999u) / 1000u;
                r = poll(&p, 1, left_ms > INT_MAX ? INT_MAX : (int) left_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        continue;       /* the loop head decides whether time is up */
                if (p.revents & POLLNVAL)
                        return -EBADF;
                return 0;
        }
}

/* A socket owned by root or a system account; anything else is refused. */
static int check_socket_file(const char *path, uid_t *ret_owner) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        if (st.st_uid != 0 && st.st_uid > NEOSTRA_CLIENT_SYSTEM_UID_MAX)
                return -EPERM;
        *ret_owner = st.st_uid;
        return 0;
}

/*
 * The listening process must be root (systemd socket activation makes pid 1
 * the listener) or the owner of the socket file.  This also defeats a swap of
 * the path between lstat() and connect(): whoever swapped it is neither.
 */
static int check_peer(int fd, uid_t owner) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (len != sizeof(cred))
                return -EPERM;
        if (cred.uid != 0 && cred.uid != owner)
                return -EPERM;
        return 0;
}

static int connect_deadline(int fd, const struct sockaddr_un *sa, socklen_t salen,
                            uint64_t deadline_usec) {
        for (;;) {
                int r, err = 0;
                socklen_t len = sizeof(err);

                if (neostra_now_usec() >= deadline_usec)
                        return -ETIMEDOUT;
                if (connect(fd, (const struct sockaddr *) sa, salen) == 0)
                        return 0;

                if (errno == EAGAIN) {
                        /* A Unix socket's backlog is full: nothing is pending
                         * on our side, so wait a little and try again; the
                         * loop head stops at the deadline. */
                        uint64_t now = neostra_now_usec();
                        uint64_t left = deadline_usec > now ? deadline_usec - now : 0;

                        (void) poll(NULL, 0, left >= 10000u ? 10 : (int) ((left + 999u) / 1000u));
                        continue;
                }
                if (errno != EINPROGRESS && errno != EINTR)
                        return -errno;

                /* The connection completes asynchronously. */
                r = wait_fd(fd, POLLOUT, deadline_usec);
                if (r < 0)
                        return r;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        return -errno;
                return err ? -err : 0;
        }
}

int neostra_client_open(const char *path, uint64_t deadline_usec, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n;
        uid_t owner = 0;        /* Were it never set, only a root peer would pass. */
        int fd = -1, r;

        if (!path || !ret_fd)
                return -EINVAL;
        n = strlen(path);
        if (n == 0)
                return -EINVAL;
        if (n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, n);

        r = check_socket_file(path, &owner);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        r = connect_deadline(fd, &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1),
                             deadline_usec);
        if (r < 0)
                goto fail;

        r = check_peer(fd, owner);
        if (r < 0)
                goto fail;

        *ret_fd = fd;
        return 0;

fail:
        close(fd);
        return r;
}

int neostra_client_send(int fd, const void *data, size_t n, uint64_t deadline_usec) {
        const char *p = data;

        while (n > 0) {
                ssize_t k;
                int r;

                if (neostra_now_usec() >= deadline_usec)
                        return -ETIMEDOUT;
                k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k >= 0) {
                        p += k;
                        n -= (size_t) k;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                r = wait_fd(fd, POLLOUT, deadline_usec);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A reply is read straight into one buffer of the largest size it may
 * have, so no part of it is ever copied or moved. */
int neostra_client_receive(int fd, uint64_t deadline_usec, struct neostra_message *ret) {
        const size_t cap = NEOSTRA_MESSAGE_MAX + 1;     /* the NUL included */
        struct neostra_message m = {};
        const char *nul = NULL;
        int r;

        m.data = malloc(cap);
        if (!m.data)
                return -ENOMEM;

        while (!nul) {
                ssize_t k;

                if (m.len == cap) {
                        r = -EMSGSIZE;
                        goto fail;
                }
                if (neostra_now_usec() >= deadline_usec) {
                        r = -ETIMEDOUT;
                        goto fail;
                }
                k = recv(fd, m.data + m.len, cap - m.len, MSG_DONTWAIT);
                if (k > 0) {
                        nul = memchr(m.data + m.len, 0, (size_t) k);
                        m.len += (size_t) k;
                        continue;
                }
                if (k == 0) {
                        r = -ECONNRESET;
                        goto fail;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                        r = -errno;
                        goto fail;
                }
                r = wait_fd(fd, POLLIN, deadline_usec);
                if (r < 0)
                        goto fail;
        }

        if (nul != m.data + m.len - 1) {
                r = -EBADMSG;   /* something after the reply */
                goto fail;
        }
        m.len--;
        *ret = m;
        return 0;

fail:
        explicit_bzero(m.data, m.len);
        free(m.data);
        return r;
}

void neostra_message_done(struct neostra_message *m) {
        if (m->data) {
                explicit_bzero(m->data, m->len);
                free(m->data);
        }
        *m = (struct neostra_message) {};
}
