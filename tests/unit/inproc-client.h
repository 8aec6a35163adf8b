/* SPDX-License-Identifier: MIT */
/*
 * A Varlink client for unit tests that run a real Manager in-process
 * (test_login.c, test_access.c): calls over the daemon's own socket, the
 * loop turned by the test between them.  Include after cmocka.h.
 */
#pragma once

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "neostra/varlink.h"

struct client {
        int fd;
        struct varlink_reader r;
};

static inline uint64_t monotonic_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* One call on a new connection to path (params consumed). */
static inline void client_send(const char *path, struct client *c, const char *method, json_t *params) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct vbuf out = {};
        json_t *call = varlink_call_new(method, params);

        assert_non_null(call);
        *c = (struct client) { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) };
        assert_true(c->fd >= 0);
        assert_true(strlen(path) < sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        assert_int_equal(connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(varlink_encode(call, &out), 0);
        json_decref(call);
        /* A few hundred bytes: the socket buffer takes them at once. */
        assert_int_equal(write(c->fd, out.data, out.len), (ssize_t) out.len);
        vbuf_done(&out);
}

/* The answer, if it is in; never blocks. */
static inline json_t *client_poll(struct client *c) {
        char buf[4096];
        json_t *msg = NULL;
        ssize_t n;

        while ((n = read(c->fd, buf, sizeof(buf))) > 0)
                assert_int_equal(varlink_reader_feed(&c->r, buf, (size_t) n), 0);
        assert_true(n < 0 && errno == EAGAIN);
        assert_true(varlink_reader_pop(&c->r, &msg) >= 0);
        return msg;
}

static inline void client_close(struct client *c) {
        varlink_reader_done(&c->r);
        close(c->fd);
}

/* Turn the loop until cond() holds, at most 10 s. */
static inline void loop_until(sd_event *event, bool (*cond)(void *), void *userdata) {
        uint64_t end = monotonic_usec() + 10000000u;

        while (!cond(userdata)) {
                assert_true(monotonic_usec() < end);
                assert_true(sd_event_run(event, 10000) >= 0);
        }
}

/* Turn the loop for usec. */
static inline void loop_for(sd_event *event, uint64_t usec) {
        uint64_t end = monotonic_usec() + usec;

        while (monotonic_usec() < end)
                assert_true(sd_event_run(event, 10000) >= 0);
}

/* For loop_until(): the answer on c is in (kept in msg). */
struct answer {
        struct client *c;
        json_t *msg;
};

static inline bool answered(void *userdata) {
        struct answer *a = userdata;

        if (!a->msg)
                a->msg = client_poll(a->c);
        return a->msg != NULL;
}

/* nftw() callback: remove a test's private directory. */
static inline int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}
