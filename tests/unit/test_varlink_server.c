/* SPDX-License-Identifier: MIT */
/*
 * The Varlink server layer (neostrad/varlink-server.c) in-process: a test
 * interface on a listening socket in a private directory, clients that
 * write raw bytes, and the loop turned by hand.  Checks what the layer
 * promises every interface: validation before any handler, the standard
 * errors, one answer per call, deferred dispatch of pipelined calls, the
 * per-message output bound (a reply and a streamed record over it become
 * an error), oneway calls, and handlers that fail without answering.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "neostra/protocol.h"
#include "varlink-server.h"

#define IFACE "io.neostra.Test"
#define MAX_REPLY 1024u

struct echo_params {
        const char *text;
        const char *name;
        const char *secret;
        bool flag;
        struct varlink_id id;
};

static unsigned handler_runs;

static int method_echo(VarlinkConn *c, void *params, void *userdata) {
        struct echo_params *p = params;

        handler_runs++;
        return varlink_conn_reply(c, json_pack("{s:s, s:b}", "text", p->text, "flag", p->flag));
}

/* A reply of n bytes of 'x' (params: the count in id). */
static int method_big(VarlinkConn *c, void *params, void *userdata) {
        struct echo_params *p = params;
        size_t n = p->id.set ? p->id.id : 10;
        char *s = malloc(n + 1);
        int r;

        memset(s, 'x', n);
        s[n] = 0;
        r = varlink_conn_reply(c, json_pack("{s:s}", "data", s));
        free(s);
        return r;
}

static int method_fail(VarlinkConn *c, void *params, void *userdata) {
        struct echo_params *p = params;

        return p->flag ? -EPERM : -EIO;
}

static int method_silent(VarlinkConn *c, void *params, void *userdata) {
        return 0;       /* a bug: neither answered nor held */
}

/* Three records, the second of id bytes: the stream must end in an error
 * when it is over the bound. */
struct stream {
        unsigned at;
        size_t big;
};

static void stream_next(VarlinkConn *c, void *state) {
        struct stream *s = state;
        char *data;

        if (s->at == 1) {
                data = calloc(1, s->big + 1);
                memset(data, 'y', s->big);
        } else
                data = strdup("small");
        s->at++;
        if (s->at < 3)
                (void) varlink_conn_notify(c, json_pack("{s:s}", "data", data));
        else
                (void) varlink_conn_reply(c, json_pack("{s:s}", "data", data));
        free(data);
}

static int method_stream(VarlinkConn *c, void *params, void *userdata) {
        struct echo_params *p = params;
        struct stream *s = calloc(1, sizeof(*s));

        s->big = p->id.set ? p->id.id : 10;
        return varlink_conn_stream(c, stream_next, s, free);
}

static const struct varlink_param echo_params[] = {
        { "text", VARLINK_STRING, VARLINK_PARAM_REQUIRED, 16, offsetof(struct echo_params, text) },
        { "name", VARLINK_NAME, 0, NEOSTRA_USER_MAX, offsetof(struct echo_params, name) },
        { "secret", VARLINK_SECRET, 0, 8, offsetof(struct echo_params, secret) },
        { "flag", VARLINK_BOOL, 0, 0, offsetof(struct echo_params, flag) },
        { "id", VARLINK_ID, 0, 0, offsetof(struct echo_params, id) },
        { NULL }
};

static const struct varlink_param opt_params[] = {
        { "flag", VARLINK_BOOL, 0, 0, offsetof(struct echo_params, flag) },
        { "id", VARLINK_ID, 0, 0, offsetof(struct echo_params, id) },
        { NULL }
};

static const struct varlink_method methods[] = {
        { "Echo", method_echo, 0, echo_params, sizeof(struct echo_params) },
        { "RootEcho", method_echo, VARLINK_METHOD_ROOT, echo_params, sizeof(struct echo_params) },
        { "Big", method_big, 0, opt_params, sizeof(struct echo_params) },
        { "Fail", method_fail, 0, opt_params, sizeof(struct echo_params) },
        { "Silent", method_silent, 0, NULL, 0 },
        { "Stream", method_stream, VARLINK_METHOD_MORE, opt_params, sizeof(struct echo_params) },
        { NULL }
};

static const struct varlink_interface iface = {
        .name = IFACE,
        .methods = methods,
        .error_permission = IFACE ".PermissionDenied",
        .error_unavailable = IFACE ".Unavailable",
};

struct fixture {
        sd_event *event;
        VarlinkServer *server;
        char dir[64];
        char path[128];
        int listen_fd;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        strcpy(f->dir, "/tmp/test_varlink_server.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
        strcpy(sa.sun_path, f->path);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(f->listen_fd >= 0);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listen_fd, 64), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(varlink_server_new(f->event, &(struct varlink_server_config) {
                                 .description = "test", .message_max = MAX_REPLY, .secret = true,
                                 .vendor = "v", .product = "p", .version = "1", .url = "u",
                         }, &f->server), 0);
        assert_int_equal(varlink_server_add_interface(f->server, &iface, NULL), 0);
        assert_int_equal(varlink_server_add_interface(f->server, &iface, NULL), -EEXIST);
        assert_int_equal(varlink_server_listen_fd(f->server, f->listen_fd), 0);
        handler_runs = 0;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        varlink_server_free(f->server);
        sd_event_unref(f->event);
        close(f->listen_fd);
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static void pump(struct fixture *f, unsigned turns) {
        for (unsigned i = 0; i < turns; i++)
                (void) sd_event_run(f->event, 1000);
}

static int client(struct fixture *f) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        strcpy(sa.sun_path, f->path);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

static void send_raw(int fd, const char *data, size_t n) {
        assert_int_equal(send(fd, data, n, MSG_NOSIGNAL), (ssize_t) n);
}

static void send_call(int fd, const char *json) {
        send_raw(fd, json, strlen(json) + 1);
}

/* The next message on fd (the loop turned meanwhile), or NULL at EOF. */
static json_t *receive(struct fixture *f, int fd, char *buf, size_t *have) {
        for (unsigned i = 0; i < 2000; i++) {
                char *nul = memchr(buf, 0, *have);
                ssize_t n;

                if (nul) {
                        json_t *msg = json_loadb(buf, (size_t) (nul - buf), 0, NULL);
                        size_t len = (size_t) (nul - buf) + 1;

                        memmove(buf, buf + len, *have - len);
                        *have -= len;
                        assert_non_null(msg);
                        return msg;
                }
                pump(f, 1);
                n = recv(fd, buf + *have, 65536 - *have, MSG_DONTWAIT);
                if (n == 0)
                        return NULL;
                if (n > 0)
                        *have += (size_t) n;
        }
        fail_msg("no message and no EOF");
        return NULL;
}

static const char *error_of(json_t *msg) {
        return json_string_value(json_object_get(msg, "error"));
}

/* One call, its one answer's error name (NULL: a reply). */
static char *call_error(struct fixture *f, const char *json) {
        static char buf[65536];
        size_t have = 0;
        int fd = client(f);
        json_t *msg;
        char *e;

        send_call(fd, json);
        msg = receive(f, fd, buf, &have);
        assert_non_null(msg);
        e = error_of(msg) ? strdup(error_of(msg)) : NULL;
        json_decref(msg);
        close(fd);
        pump(f, 5);
        return e;
}

static void expect_error(struct fixture *f, const char *json, const char *want) {
        char *e = call_error(f, json);

        if (!want)
                assert_null(e);
        else {
                assert_non_null(e);
                assert_string_equal(e, want);
        }
        free(e);
}

static void test_validation(void **state) {
        struct fixture *f = *state;

        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"hi\"}}", NULL);
        expect_error(f, "{\"method\":\"" IFACE ".Nope\"}", VARLINK_ERROR_METHOD_NOT_FOUND);
        expect_error(f, "{\"method\":\"io.other.Echo\"}", VARLINK_ERROR_METHOD_NOT_FOUND);
        /* Missing, ill-typed, too long, a control character, a bad name,
         * a secret too long, a bool that is a string, a negative id: each
         * InvalidParameter, and the handler never ran. */
        expect_error(f, "{\"method\":\"" IFACE ".Echo\"}", VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":1}}", VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"0123456789abcdefX\"}}",
                     VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"a\\u0001\"}}",
                     VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"a\",\"name\":\"-x\"}}",
                     VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"a\",\"secret\":\"123456789\"}}",
                     VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"a\",\"flag\":\"yes\"}}",
                     VARLINK_ERROR_INVALID_PARAMETER);
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"a\",\"id\":-1}}",
                     VARLINK_ERROR_INVALID_PARAMETER);
        assert_int_equal(handler_runs, 1);
        /* A secret may hold what a string may not; null and unknown keys
         * are as absent. */
        expect_error(f, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"a\",\"secret\":\"\\u0001x\","
                        "\"name\":null,\"other\":[1]}}", NULL);
        /* GetInfo is the layer's. */
        expect_error(f, "{\"method\":\"org.varlink.service.GetInfo\"}", NULL);
}

static void test_handler_failures(void **state) {
        struct fixture *f = *state;

        expect_error(f, "{\"method\":\"" IFACE ".Fail\"}", IFACE ".Unavailable");
        expect_error(f, "{\"method\":\"" IFACE ".Fail\",\"parameters\":{\"flag\":true}}", IFACE ".PermissionDenied");
        expect_error(f, "{\"method\":\"" IFACE ".Silent\"}", IFACE ".Unavailable");
        /* Root-only: the test runs as root, so it passes; the refusal of
         * other uids is tested through the daemon (daemon-protocol.sh). */
        if (geteuid() == 0)
                expect_error(f, "{\"method\":\"" IFACE ".RootEcho\",\"parameters\":{\"text\":\"r\"}}", NULL);
}

static void test_output_bound(void **state) {
        struct fixture *f = *state;
        char json[128], buf[65536];
        size_t have = 0;
        json_t *msg;
        int fd;

        snprintf(json, sizeof(json), "{\"method\":\"" IFACE ".Big\",\"parameters\":{\"id\":%u}}", MAX_REPLY - 64);
        expect_error(f, json, NULL);
        snprintf(json, sizeof(json), "{\"method\":\"" IFACE ".Big\",\"parameters\":{\"id\":%u}}", MAX_REPLY);
        expect_error(f, json, IFACE ".Unavailable");

        /* A stream whose second record is too large ends with the error,
         * and the connection goes on serving. */
        fd = client(f);
        snprintf(json, sizeof(json), "{\"method\":\"" IFACE ".Stream\",\"more\":true,\"parameters\":{\"id\":%u}}",
                 MAX_REPLY);
        send_call(fd, json);
        msg = receive(f, fd, buf, &have);
        assert_null(error_of(msg));
        assert_true(json_is_true(json_object_get(msg, "continues")));
        json_decref(msg);
        msg = receive(f, fd, buf, &have);
        assert_string_equal(error_of(msg), IFACE ".Unavailable");
        json_decref(msg);
        send_call(fd, "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"after\"}}");
        msg = receive(f, fd, buf, &have);
        assert_null(error_of(msg));
        assert_string_equal(json_string_value(json_object_get(json_object_get(msg, "parameters"), "text")), "after");
        json_decref(msg);
        close(fd);

        /* A stream within the bound: three records, the last without
         * "continues". */
        fd = client(f);
        send_call(fd, "{\"method\":\"" IFACE ".Stream\",\"more\":true,\"parameters\":{\"id\":100}}");
        for (int i = 0; i < 3; i++) {
                msg = receive(f, fd, buf, &have);
                assert_null(error_of(msg));
                assert_int_equal(json_is_true(json_object_get(msg, "continues")), i < 2);
                json_decref(msg);
        }
        close(fd);
        pump(f, 5);
}

static void test_pipelined(void **state) {
        struct fixture *f = *state;
        const char *calls =
                "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"1\"}}\0"
                "{\"method\":\"" IFACE ".Fail\"}\0"
                "{\"method\":\"" IFACE ".Echo\",\"oneway\":true,\"parameters\":{\"text\":\"quiet\"}}\0"
                "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"2\"}}\0"
                "garbage\0"
                "{\"method\":\"" IFACE ".Echo\",\"parameters\":{\"text\":\"never\"}}";
        size_t len = 0, have = 0;
        char buf[65536];
        json_t *msg;
        int fd = client(f);

        /* The length of the whole block, NULs included. */
        for (const char *p = calls; len < 4096; p = calls + len) {
                len += strlen(p) + 1;
                if (strstr(p, "never"))
                        break;
        }
        send_raw(fd, calls, len);
        shutdown(fd, SHUT_WR);
        msg = receive(f, fd, buf, &have);
        assert_string_equal(json_string_value(json_object_get(json_object_get(msg, "parameters"), "text")), "1");
        json_decref(msg);
        msg = receive(f, fd, buf, &have);
        assert_string_equal(error_of(msg), IFACE ".Unavailable");
        json_decref(msg);
        /* The oneway call ran but answered nothing. */
        msg = receive(f, fd, buf, &have);
        assert_string_equal(json_string_value(json_object_get(json_object_get(msg, "parameters"), "text")), "2");
        json_decref(msg);
        msg = receive(f, fd, buf, &have);
        assert_string_equal(error_of(msg), VARLINK_ERROR_PROTOCOL);
        json_decref(msg);
        /* Nothing after the protocol error: the connection is closed. */
        assert_null(receive(f, fd, buf, &have));
        assert_int_equal(handler_runs, 3);
        close(fd);
}

static void test_stop_drains(void **state) {
        struct fixture *f = *state;
        struct varlink_server_stats st;
        int fds[3];

        for (int i = 0; i < 3; i++)
                fds[i] = client(f);
        pump(f, 10);
        varlink_server_stats(f->server, &st);
        assert_int_equal(st.connections, 3);
        assert_int_equal(st.accepted, 3);
        varlink_server_stop(f->server, NULL, NULL);
        pump(f, 3);
        varlink_server_stats(f->server, &st);
        assert_int_equal(st.connections, 0);
        for (int i = 0; i < 3; i++)
                close(fds[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handler_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_output_bound, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_drains, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
