/* SPDX-License-Identifier: MIT */
/*
 * One call to neostrad: the request's parameters (an informational PAM
 * item only when it is printable), the request encoded by the module's own
 * codec (common/wire.c), one connection per call with every wait bounded
 * by the timeout= deadline, and a secret request wiped as soon as it is
 * sent.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"
#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/transport.h"
#include "neostra/wire.h"

/* ---- talking to the daemon ---------------------------------------------- */

/* Non-empty, at most NEOSTRA_FIELD_MAX bytes, no control characters;
 * valid UTF-8 too unless flags has NEOSTRA_TEXT_BYTES. */
bool printable(const char *s, unsigned flags) {
        size_t n = strnlen(s, NEOSTRA_FIELD_MAX + 1);

        return n > 0 && n <= NEOSTRA_FIELD_MAX && neostra_text_valid(s, n, flags);
}

void add_string(struct request *req, const char *key, const char *value) {
        if (req->n < REQUEST_PARAMS_MAX)
                req->params[req->n++] = (struct wire_param) {
                        .key = key, .type = WIRE_PARAM_STRING, .string = value,
                };
}

/* A string parameter only when it is valid UTF-8, short and printable:
 * informational fields must never turn a login into InvalidParameter. */
void set_optional_item(struct ctx *c, struct request *req, const char *key, int item) {
        const void *v = NULL;

        if (pam_get_item(c->pamh, item, &v) != PAM_SUCCESS || !v)
                return;
        if (!printable(v, 0)) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "not sending %s: unusable value; user=%s", key, c->user);
                return;
        }
        add_string(req, key, v);
}

const char *reason_of(const struct wire_value *params) {
        const char *s = NULL;

        if (wire_param_string(params, "reason", REASON_MAX, &s) < 0 || !*s)
                return NULL;
        return s;
}

/*
 * Send req on fd and read the reply.  A secret request is wiped as soon as
 * it is sent: it need not wait in memory while the daemon asks the API.
 */
static int exchange(int fd, struct wire_buf *req, bool secret, uint64_t deadline,
                    struct wire_reply *ret) {
        struct neostra_message m = {};
        int r;

        r = neostra_client_send(fd, req->data, req->len, deadline);
        if (secret)
                wire_buf_done(req);
        if (r < 0)
                return r;
        /* One call per connection, and the daemon hears it: it closes its
         * end right after the answer instead of being woken once more by
         * our close (a cross-CPU wake-up per login). */
        (void) shutdown(fd, SHUT_WR);
        r = neostra_client_receive(fd, deadline, &m);
        if (r < 0)
                return r;
        r = wire_reply_parse(m.data, m.len, ret);
        neostra_message_done(&m);
        return r;
}

/* One call on a connection of its own. */
static int call_on(struct ctx *c, struct wire_buf *req, bool secret, uint64_t deadline,
                   struct wire_reply *ret) {
        int fd, r;

        r = neostra_client_open(c->args.socket_path, deadline, &fd);
        if (r < 0)
                return r;
        r = exchange(fd, req, secret, deadline, ret);
        close(fd);
        return r;
}

/*
 * One call of method to the daemon; req is wiped and freed.  Returns 0 with
 * the reply (or an error name) in *ret, or a negative errno after logging
 * why the daemon could not answer.
 */
int call_daemon(struct ctx *c, const char *method, struct wire_buf *req, bool secret,
                struct wire_reply *ret) {
        uint64_t start = neostra_now_usec();
        int r;

        r = call_on(c, req, secret, neostra_deadline_ms(c->args.timeout_ms), ret);
        wire_buf_done(req);
        if (r < 0) {
                const char *why = neostra_client_strerror(r);

                pam_syslog(c->pamh, LOG_ERR, "neostrad unreachable at %s: %s; user=%s",
                           c->args.socket_path, why, c->user);
                return r;
        }
        if (c->args.debug)
                pam_syslog(c->pamh, LOG_DEBUG, "%s answered %s in %llu ms; user=%s",
                           neostra_error_short(method),
                           ret->error ? neostra_error_short(ret->error) : "ok",
                           (unsigned long long) ((neostra_now_usec() - start) / 1000u), c->user);
        return 0;
}

void user_params(struct ctx *c, struct request *req) {
        *req = (struct request) {};
        add_string(req, "user", c->user);
        set_optional_item(c, req, "service", PAM_SERVICE);
}

/* The request for method with req's parameters, or a logged failure. */
int build_request(struct ctx *c, const char *method, const struct request *req,
                  struct wire_buf *ret) {
        int r = wire_request_new(method, req->params, req->n, ret);

        if (r == -ENOMEM)
                pam_syslog(c->pamh, LOG_ERR, "out of memory; user=%s", c->user);
        else if (r < 0)
                pam_syslog(c->pamh, LOG_ERR, "cannot encode request: %s; user=%s", strerror(-r), c->user);
        return r;
}

bool streq_error(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}
