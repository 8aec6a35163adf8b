/* SPDX-License-Identifier: MIT */
/*
 * The Varlink server layer (see varlink-server.h for the contract): one
 * listening socket per VarlinkServer, connections with explicit states and
 * references, dispatch through the registered method tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log-ids.h"
#include "log.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"
#include "varlink-server.h"

#define INTERFACES_MAX 4u

enum conn_state {
        CONN_IDLE,
        CONN_CALL,
        CONN_PENDING,
        CONN_STREAMING,
        CONN_DEAD,
};

struct registered {
        const struct varlink_interface *iface;
        void *userdata;
};

struct VarlinkServer {
        sd_event *event;
        struct varlink_server_config config;
        struct registered ifaces[INTERFACES_MAX];
        size_t n_ifaces;
        sd_event_source *listen;
        VarlinkConn *conns;
        unsigned n_conns;
        uint64_t accepted;
        uint64_t refused;
        uint64_t refused_unlogged;      /* since the last refusal line */
        uint64_t refusal_logged_usec;   /* CLOCK_MONOTONIC of that line, 0 never */
        bool stopping;
        void (*on_empty)(void *userdata);
        void *on_empty_userdata;
        sd_event_source *empty_defer;
};

struct VarlinkConn {
        unsigned refs;
        enum conn_state state;
        VarlinkServer *server;
        int fd;
        uid_t uid;
        pid_t pid;                      /* SO_PEERCRED's, at connect() */
        uint64_t created_usec;
        sd_event_source *io;
        sd_event_source *timer;
        sd_event_source *defer;         /* the next step, always from the loop */
        struct varlink_reader in;
        struct vbuf out;
        bool eof;                       /* the client will send nothing more */
        bool close_when_idle;           /* after the current answer: lifetime, shutdown, bad input */

        /* The current call. */
        json_t *call;                   /* kept until the final answer (parameters borrow from it) */
        void *params;
        const struct varlink_method *method;
        const struct varlink_interface *iface;  /* kept after the call: for a reply too large */
        void *userdata;                 /* the interface's */
        bool more, oneway;
        bool redispatch;
        unsigned marks;
        void (*cancel)(void *userdata);
        void *cancel_userdata;
        varlink_stream_next stream_next;
        void *stream_state;
        void (*stream_free)(void *state);

        VarlinkConn *prev, *next;
};

static uint64_t now_usec(const VarlinkServer *s) {
        uint64_t now = 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        return now;
}

/* ---- lifetime ------------------------------------------------------------------ */

static void conn_disconnect(VarlinkConn *c);

VarlinkConn *varlink_conn_ref(VarlinkConn *c) {
        if (c)
                c->refs++;
        return c;
}

static void call_done(VarlinkConn *c) {
        bool secret = c->method && (c->method->flags & VARLINK_METHOD_SECRET);

        if (c->stream_free)
                c->stream_free(c->stream_state);
        c->stream_next = NULL;
        c->stream_free = NULL;
        c->stream_state = NULL;
        c->cancel = NULL;
        c->cancel_userdata = NULL;
        if (c->params) {
                /* Pointers into the message only; the strings go with it. */
                if (secret)
                        explicit_bzero(c->params, c->method->params_size);
                free(c->params);
                c->params = NULL;
        }
        json_decref_wipe(c->call);
        c->call = NULL;
        c->method = NULL;
        c->redispatch = false;
        c->marks = 0;
}

VarlinkConn *varlink_conn_unref(VarlinkConn *c) {
        if (!c)
                return NULL;
        if (--c->refs > 0)
                return NULL;
        call_done(c);
        varlink_reader_done(&c->in);
        vbuf_done(&c->out);
        free(c);
        return NULL;
}

bool varlink_conn_alive(const VarlinkConn *c) {
        return c && c->state != CONN_DEAD;
}

uid_t varlink_conn_uid(const VarlinkConn *c) {
        return c->uid;
}

pid_t varlink_conn_pid(const VarlinkConn *c) {
        return c->pid;
}

bool varlink_conn_more(const VarlinkConn *c) {
        return c->more;
}

unsigned *varlink_conn_call_marks(VarlinkConn *c) {
        return &c->marks;
}

static int on_empty(sd_event_source *source, void *userdata) {
        VarlinkServer *s = userdata;

        if (s->on_empty)
                s->on_empty(s->on_empty_userdata);
        return 0;
}

/* Gone for good: the socket is closed and the connection leaves the server
 * at once; the memory stays while someone holds a reference. */
static void conn_disconnect(VarlinkConn *c) {
        VarlinkServer *s = c->server;
        void (*cancel)(void *) = c->cancel;

        if (c->state == CONN_DEAD)
                return;
        c->state = CONN_DEAD;
        /* Whoever meant to answer learns first, then nobody is called again. */
        c->cancel = NULL;
        if (cancel)
                cancel(c->cancel_userdata);
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->defer = sd_event_source_disable_unref(c->defer);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        s->n_conns--;
        if (s->stopping && s->n_conns == 0 && s->empty_defer)
                (void) sd_event_source_set_enabled(s->empty_defer, SD_EVENT_ONESHOT);
        varlink_conn_unref(c);  /* the server's */
}

/* ---- output --------------------------------------------------------------------- */

/* Read only between calls, and only until a whole call is buffered: what
 * the client pipelines waits in the socket, not in our memory. */
static bool conn_wants_input(const VarlinkConn *c) {
        return c->state == CONN_IDLE && c->out.len == 0 && !c->eof && !c->close_when_idle &&
               !varlink_reader_complete(&c->in);
}

static void conn_update_events(VarlinkConn *c) {
        uint32_t events = 0;

        if (c->state == CONN_DEAD)
                return;
        if (c->out.len > 0)
                events |= EPOLLOUT;
        else if (conn_wants_input(c))
                events |= EPOLLIN;
        (void) sd_event_source_set_io_events(c->io, events);
}

static void conn_schedule(VarlinkConn *c) {
        if (c->state != CONN_DEAD)
                (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static void conn_set_deadline(VarlinkConn *c, uint64_t usec) {
        uint64_t at = now_usec(c->server) + usec;

        if (c->state == CONN_DEAD)
                return;
        /* An ordinary user's connection does not outlive its lifetime
         * while idle. */
        if (c->uid != 0 && c->state == CONN_IDLE && at > c->created_usec + VARLINK_SERVER_LIFETIME_USEC)
                at = c->created_usec + VARLINK_SERVER_LIFETIME_USEC;
        (void) sd_event_source_set_time(c->timer, at);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

/* Send what is queued.  The connection may be dead afterwards. */
static void conn_flush(VarlinkConn *c) {
        while (c->out.len > 0) {
                ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        conn_disconnect(c);
                        return;
                }
                vbuf_consume(&c->out, (size_t) n);
        }
        if (c->out.len == 0) {
                /* The next step (a call, a record) now that the client has
                 * read the last answer. */
                if (c->state == CONN_STREAMING || (c->state == CONN_IDLE && (c->close_when_idle || c->eof ||
                                                                             varlink_reader_pending(&c->in))))
                        conn_schedule(c);
        }
        conn_update_events(c);
}

/* Encode msg (consumed) behind what is queued and try to send it. */
static int conn_queue(VarlinkConn *c, json_t *msg) {
        int r;

        if (!msg) {
                log_msg(LOG_ERR, "%s: out of memory building a reply; closing the connection",
                        c->server->config.description);
                conn_disconnect(c);
                return -ENOMEM;
        }
        r = varlink_encode_max(msg, &c->out, c->server->config.message_max);
        json_decref_wipe(msg);
        if (r == -EMSGSIZE) {
                /* One answer too large for the client to take: it gets an
                 * error it can act on, not a dropped connection. */
                log_msg(LOG_ERR, "%s: a reply to uid %u is over %zu bytes; answering with an error instead",
                        c->server->config.description, (unsigned) c->uid, c->server->config.message_max);
                msg = varlink_error_reason(c->iface ? c->iface->error_unavailable : VARLINK_ERROR_PROTOCOL,
                                           "reply too large");
                /* An error ends the call: a stream stops here. */
                if (c->state == CONN_STREAMING) {
                        c->state = CONN_IDLE;
                        call_done(c);
                        conn_set_deadline(c, VARLINK_SERVER_IDLE_USEC);
                }
                r = msg ? varlink_encode_max(msg, &c->out, c->server->config.message_max) : -ENOMEM;
                json_decref(msg);
        }
        if (r < 0) {
                log_msg(LOG_ERR, "%s: cannot encode a reply: %s", c->server->config.description, strerror(-r));
                conn_disconnect(c);
                return r;
        }
        conn_flush(c);
        return 0;
}

/* ---- answers ------------------------------------------------------------------- */

static bool answering(const VarlinkConn *c) {
        return c->state == CONN_CALL || c->state == CONN_PENDING || c->state == CONN_STREAMING;
}

/* The final answer (msg consumed): the call is over. */
static int conn_answer(VarlinkConn *c, json_t *msg) {
        bool oneway;

        if (c->state == CONN_DEAD) {
                json_decref_wipe(msg);
                return -ENOTCONN;
        }
        if (!answering(c)) {
                json_decref_wipe(msg);
                return -ESTALE;
        }
        oneway = c->oneway;
        c->state = CONN_IDLE;
        call_done(c);
        /* The idle deadline counts from the last answer. */
        conn_set_deadline(c, VARLINK_SERVER_IDLE_USEC);
        if (c->uid != 0 && now_usec(c->server) - c->created_usec >= VARLINK_SERVER_LIFETIME_USEC)
                c->close_when_idle = true;
        if (oneway) {
                json_decref_wipe(msg);
                conn_flush(c);
                return 0;
        }
        return conn_queue(c, msg);
}

int varlink_conn_reply(VarlinkConn *c, json_t *params) {
        return conn_answer(c, varlink_reply_new(params));
}

int varlink_conn_error(VarlinkConn *c, const char *error, json_t *params) {
        return conn_answer(c, varlink_error_new(error, params));
}

int varlink_conn_error_reason(VarlinkConn *c, const char *error, const char *reason) {
        return conn_answer(c, varlink_error_reason(error, reason));
}

int varlink_conn_error_invalid_parameter(VarlinkConn *c, const char *key) {
        return varlink_conn_error(c, VARLINK_ERROR_INVALID_PARAMETER, json_pack("{s:s}", "parameter", key));
}

int varlink_conn_notify(VarlinkConn *c, json_t *params) {
        json_t *msg;

        if (c->state == CONN_DEAD) {
                json_decref(params);
                return -ENOTCONN;
        }
        if (c->state != CONN_STREAMING || !c->more) {
                json_decref(params);
                return -ESTALE;
        }
        msg = varlink_reply_new(params);
        if (msg && json_object_set_new(msg, "continues", json_true()) < 0) {
                json_decref(msg);
                msg = NULL;
        }
        /* The client is reading: the idle deadline counts from here. */
        conn_set_deadline(c, VARLINK_SERVER_IDLE_USEC);
        if (c->oneway) {
                json_decref(msg);
                conn_schedule(c);
                return 0;
        }
        return conn_queue(c, msg);
}

int varlink_conn_stream(VarlinkConn *c, varlink_stream_next next, void *state, void (*free_state)(void *state)) {
        if (c->state == CONN_DEAD || !answering(c) || c->stream_next) {
                if (free_state)
                        free_state(state);
                return c->state == CONN_DEAD ? -ENOTCONN : -ESTALE;
        }
        c->state = CONN_STREAMING;
        c->stream_next = next;
        c->stream_state = state;
        c->stream_free = free_state;
        conn_set_deadline(c, VARLINK_SERVER_IDLE_USEC);
        conn_schedule(c);
        return 0;
}

VarlinkConn *varlink_conn_hold(VarlinkConn *c, uint64_t usec, void (*cancel)(void *userdata), void *userdata) {
        if (!answering(c))
                return NULL;
        c->state = CONN_PENDING;
        c->cancel = cancel;
        c->cancel_userdata = userdata;
        conn_set_deadline(c, usec ? usec : VARLINK_SERVER_IDLE_USEC);
        conn_update_events(c);
        return varlink_conn_ref(c);
}

void varlink_conn_redispatch(VarlinkConn *c) {
        if (c->state != CONN_PENDING)
                return;
        c->cancel = NULL;
        c->cancel_userdata = NULL;
        c->redispatch = true;
        conn_schedule(c);
}

/* ---- dispatch ------------------------------------------------------------------- */

static int fill_param(const struct varlink_param *p, json_t *params, void *out) {
        json_t *v = json_object_get(params, p->key);
        char *field = (char *) out + p->offset;
        const char *s;

        if (!v || json_is_null(v))
                return (p->flags & VARLINK_PARAM_REQUIRED) ? -EINVAL : 0;
        switch (p->type) {
        case VARLINK_STRING:
                if (varlink_param_string(params, p->key, p->max, &s) < 0)
                        return -EINVAL;
                memcpy(field, &s, sizeof(s));
                return 0;
        case VARLINK_NAME:
                if (varlink_param_string(params, p->key, p->max, &s) < 0 || !neostra_valid_login_name(s))
                        return -EINVAL;
                memcpy(field, &s, sizeof(s));
                return 0;
        case VARLINK_SECRET:
                /* Any character but NUL: a password is what the user typed. */
                if (!json_is_string(v) || json_string_length(v) > p->max ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return -EINVAL;
                s = json_string_value(v);
                memcpy(field, &s, sizeof(s));
                return 0;
        case VARLINK_BOOL: {
                bool b;

                if (!json_is_boolean(v))
                        return -EINVAL;
                b = json_is_true(v);
                memcpy(field, &b, sizeof(b));
                return 0;
        }
        case VARLINK_ID: {
                struct varlink_id id;

                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) >= (json_int_t) UINT32_MAX)
                        return -EINVAL;
                id = (struct varlink_id) { .set = true, .id = (uint32_t) json_integer_value(v) };
                memcpy(field, &id, sizeof(id));
                return 0;
        }
        }
        return -EINVAL;
}

static const struct varlink_method *find_method(VarlinkServer *s, const char *name, void **ret_userdata,
                                                const struct varlink_interface **ret_iface) {
        for (size_t i = 0; i < s->n_ifaces; i++) {
                const struct varlink_interface *iface = s->ifaces[i].iface;
                size_t n = strlen(iface->name);

                if (strncmp(name, iface->name, n) != 0 || name[n] != '.')
                        continue;
                for (const struct varlink_method *m = iface->methods; m->name; m++)
                        if (strcmp(name + n + 1, m->name) == 0) {
                                *ret_userdata = s->ifaces[i].userdata;
                                *ret_iface = iface;
                                return m;
                        }
        }
        return NULL;
}

/* Run the handler of the current call and see that it is answered. */
static void conn_run_handler(VarlinkConn *c) {
        const struct varlink_interface *iface = c->iface;
        bool secret = c->method->flags & VARLINK_METHOD_SECRET;
        int r;

        c->state = CONN_CALL;
        /* The handler may end the connection; the memory stays until we
         * are done with it here. */
        varlink_conn_ref(c);
        r = c->method->handler(c, c->params, c->userdata);
        if (c->state == CONN_CALL) {
                if (r >= 0) {
                        log_msg(LOG_ERR, "%s: %s returned without an answer; failing the call",
                                c->server->config.description, c->method->name);
                        r = -EIO;
                }
                (void) varlink_conn_error_reason(c, r == -EPERM ? iface->error_permission : iface->error_unavailable,
                                                 r == -EPERM ? "permission denied" : "the call failed");
        }
        varlink_conn_unref(c);
        if (secret)
                secure_burn_stack(SECURE_BURN_STACK_BYTES);
}

/* A protocol error: answered, then the connection closes. */
static void conn_protocol_error(VarlinkConn *c, const char *reason) {
        json_t *msg = varlink_error_reason(VARLINK_ERROR_PROTOCOL, reason);

        c->close_when_idle = true;
        c->eof = true;          /* read nothing more */
        (void) conn_queue(c, msg);
}

/* Take the next buffered call and dispatch it (IDLE, nothing queued). */
static void conn_dispatch_next(VarlinkConn *c) {
        const struct varlink_interface *iface = NULL;
        const char *name;
        json_t *msg = NULL, *params;
        int r;

        /* Nothing after a protocol error, the end of the lifetime or a
         * shutdown: the answer has left, the connection goes. */
        if (c->close_when_idle) {
                conn_disconnect(c);
                return;
        }
        r = varlink_reader_pop(&c->in, &msg);
        if (r == 0) {
                if (c->eof)
                        conn_disconnect(c);
                else
                        conn_update_events(c);
                return;
        }
        if (r < 0) {
                conn_protocol_error(c, r == -EMSGSIZE ? "message too large" : "message is not a JSON object");
                return;
        }
        if (varlink_call_parse(msg, &name, &params, &c->oneway, &c->more) < 0) {
                json_decref_wipe(msg);
                conn_protocol_error(c, "malformed call");
                return;
        }
        c->call = msg;
        c->state = CONN_CALL;
        c->method = find_method(c->server, name, &c->userdata, &iface);
        if (!c->method) {
                (void) varlink_conn_error(c, VARLINK_ERROR_METHOD_NOT_FOUND, json_pack("{s:s}", "method", name));
                return;
        }
        c->iface = iface;
        if ((c->method->flags & VARLINK_METHOD_ROOT) && c->uid != 0) {
                (void) varlink_conn_error_reason(c, iface->error_permission, "only root may call this");
                return;
        }
        c->params = calloc(1, c->method->params_size ? c->method->params_size : 1);
        if (!c->params) {
                (void) varlink_conn_error_reason(c, iface->error_unavailable, "out of memory");
                return;
        }
        for (const struct varlink_param *p = c->method->params; p && p->key; p++)
                if (fill_param(p, params, c->params) < 0) {
                        (void) varlink_conn_error_invalid_parameter(c, p->key);
                        return;
                }
        conn_run_handler(c);
}

/* The deferred step: a redispatch, the next record of a stream, or the
 * next buffered call.  One step per loop iteration and connection. */
static int on_defer(sd_event_source *source, void *userdata) {
        VarlinkConn *c = varlink_conn_ref(userdata);

        if (c->state == CONN_PENDING && c->redispatch) {
                c->redispatch = false;
                conn_run_handler(c);
        } else if (c->state == CONN_STREAMING && c->out.len == 0)
                c->stream_next(c, c->stream_state);
        else if (c->state == CONN_IDLE && c->out.len == 0)
                conn_dispatch_next(c);
        varlink_conn_unref(c);
        return 0;
}

/* ---- events -------------------------------------------------------------------- */

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        VarlinkConn *c = varlink_conn_ref(userdata);

        if (revents & EPOLLOUT)
                conn_flush(c);
        if (conn_wants_input(c) && (revents & EPOLLIN)) {
                char buf[4096];
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n > 0) {
                        if (varlink_reader_feed(&c->in, buf, (size_t) n) < 0)
                                conn_protocol_error(c, "message too large");
                        else
                                /* Only read here: the call runs from the loop. */
                                conn_schedule(c);
                        explicit_bzero(buf, (size_t) n);
                        /* recv() and the copies below us saw the password. */
                        if (c->server->config.secret)
                                secure_burn_stack(SECURE_BURN_STACK_BYTES);
                } else if (n == 0) {
                        c->eof = true;
                        conn_schedule(c);
                } else if (errno != EAGAIN && errno != EINTR)
                        conn_disconnect(c);
                conn_update_events(c);
        } else if (revents & (EPOLLHUP | EPOLLERR))
                /* Hang-up or error while we were not reading (e.g. the
                 * client gave up during a slow sign-in): drop it,
                 * cancelling the call. */
                conn_disconnect(c);
        varlink_conn_unref(c);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        VarlinkConn *c = userdata;

        if (c->state == CONN_IDLE && c->out.len == 0 && c->uid != 0 &&
            now_usec(c->server) - c->created_usec >= VARLINK_SERVER_LIFETIME_USEC)
                log_msg(LOG_INFO, "%s: closing a connection from uid %u at the end of its lifetime",
                        c->server->config.description, (unsigned) c->uid);
        else
                log_msg(LOG_INFO, "%s: closing a connection from uid %u that ran past its deadline",
                        c->server->config.description, (unsigned) c->uid);
        conn_disconnect(c);
        return 0;
}

/* Over which budget a new connection from uid would be, or NULL. */
static const char *over_budget(const VarlinkServer *s, uid_t uid) {
        unsigned mine = 0;

        if (s->stopping)
                return "the daemon is stopping";
        if (s->n_conns >= VARLINK_SERVER_CONNECTIONS_MAX)
                return "every connection slot is taken";
        if (uid == 0)
                return NULL;
        if (s->n_conns >= VARLINK_SERVER_CONNECTIONS_MAX - s->config.root_reserved)
                return "the slots left are kept for root";
        for (const VarlinkConn *c = s->conns; c; c = c->next)
                mine += c->uid == uid;
        return mine >= VARLINK_SERVER_PEER_MAX ? "this uid holds its share of connections" : NULL;
}

static void log_refusal(VarlinkServer *s, uid_t uid, const char *why) {
        uint64_t now = now_usec(s);

        s->refused++;
        s->refused_unlogged++;
        /* Once per period at most, or a flood would flood the journal too. */
        if (s->refusal_logged_usec != 0 && now - s->refusal_logged_usec < VARLINK_SERVER_REFUSAL_LOG_USEC)
                return;
        log_event(LOG_WARNING, MESSAGE_ID_CONNECTION_REFUSED, NULL, "%s: refusing a connection from uid %u: %s "
                  "(%u open; %llu refused since the last such line)", s->config.description, (unsigned) uid,
                  why, s->n_conns, (unsigned long long) s->refused_unlogged);
        s->refused_unlogged = 0;
        s->refusal_logged_usec = now ? now : 1;
}

static int on_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        VarlinkServer *s = userdata;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        const char *why;
        VarlinkConn *c;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                close(cfd);
                return 0;
        }
        why = over_budget(s, cred.uid);
        if (why) {
                log_refusal(s, cred.uid, why);
                close(cfd);
                return 0;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(cfd);
                return 0;
        }
        *c = (VarlinkConn) { .refs = 1, .state = CONN_IDLE, .server = s, .fd = cfd, .uid = cred.uid, .pid = cred.pid,
                             .created_usec = now_usec(s) };
        c->next = s->conns;
        if (c->next)
                c->next->prev = c;
        s->conns = c;
        s->n_conns++;
        s->accepted++;
        r = sd_event_add_io(s->event, &c->io, cfd, EPOLLIN, on_io, c);
        if (r >= 0)
                r = sd_event_add_time(s->event, &c->timer, CLOCK_MONOTONIC, 0, 0, on_timer, c);
        if (r >= 0)
                r = sd_event_add_defer(s->event, &c->defer, on_defer, c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        if (r < 0) {
                log_msg(LOG_ERR, "%s: cannot watch a connection: %s", s->config.description, strerror(-r));
                conn_disconnect(c);
                return 0;
        }
        conn_set_deadline(c, VARLINK_SERVER_IDLE_USEC);
        return 0;
}

/* ---- org.varlink.service -------------------------------------------------------- */

static int method_get_info(VarlinkConn *c, void *params, void *userdata) {
        VarlinkServer *s = userdata;
        json_t *ifaces = json_array();

        for (size_t i = 0; ifaces && i < s->n_ifaces; i++)
                if (strcmp(s->ifaces[i].iface->name, VARLINK_SERVICE_INTERFACE) != 0)
                        json_array_append_new(ifaces, json_string(s->ifaces[i].iface->name));
        return varlink_conn_reply(c, json_pack("{s:s, s:s, s:s, s:s, s:o}", "vendor", s->config.vendor,
                                               "product", s->config.product, "version", s->config.version,
                                               "url", s->config.url, "interfaces", ifaces));
}

static const struct varlink_method service_methods[] = {
        { "GetInfo", method_get_info, 0, NULL, 0 },
        { NULL }
};

static const struct varlink_interface service_interface = {
        .name = VARLINK_SERVICE_INTERFACE,
        .methods = service_methods,
        .error_permission = VARLINK_ERROR_PROTOCOL,
        .error_unavailable = VARLINK_ERROR_PROTOCOL,
};

/* ---- servers --------------------------------------------------------------------- */

int varlink_server_new(sd_event *event, const struct varlink_server_config *config, VarlinkServer **ret) {
        VarlinkServer *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->config = *config;
        r = varlink_server_add_interface(s, &service_interface, s);
        if (r < 0) {
                varlink_server_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

VarlinkServer *varlink_server_free(VarlinkServer *s) {
        if (!s)
                return NULL;
        s->stopping = false;
        while (s->conns)
                conn_disconnect(s->conns);
        s->listen = sd_event_source_disable_unref(s->listen);
        s->empty_defer = sd_event_source_disable_unref(s->empty_defer);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

int varlink_server_add_interface(VarlinkServer *s, const struct varlink_interface *iface, void *userdata) {
        for (size_t i = 0; i < s->n_ifaces; i++)
                if (strcmp(s->ifaces[i].iface->name, iface->name) == 0)
                        return -EEXIST;
        if (s->n_ifaces >= INTERFACES_MAX)
                return -ENOMEM;
        s->ifaces[s->n_ifaces++] = (struct registered) { iface, userdata };
        return 0;
}

int varlink_server_listen_fd(VarlinkServer *s, int fd) {
        if (s->listen)
                return -EBUSY;
        return sd_event_add_io(s->event, &s->listen, fd, EPOLLIN, on_accept, s);
}

void varlink_server_stop(VarlinkServer *s, void (*empty)(void *userdata), void *userdata) {
        VarlinkConn *c, *next;

        s->stopping = true;
        s->on_empty = empty;
        s->on_empty_userdata = userdata;
        s->listen = sd_event_source_disable_unref(s->listen);
        if (!s->empty_defer && sd_event_add_defer(s->event, &s->empty_defer, on_empty, s) >= 0)
                (void) sd_event_source_set_enabled(s->empty_defer, SD_EVENT_OFF);
        for (c = s->conns; c; c = next) {
                next = c->next;
                /* A call under way (or a parked one) gets its answer. */
                if (c->state == CONN_IDLE && c->out.len == 0 && !varlink_reader_pending(&c->in))
                        conn_disconnect(c);
                else
                        c->close_when_idle = true;
        }
        if (s->n_conns == 0 && s->empty_defer)
                (void) sd_event_source_set_enabled(s->empty_defer, SD_EVENT_ONESHOT);
}

void varlink_server_stats(const VarlinkServer *s, struct varlink_server_stats *ret) {
        *ret = (struct varlink_server_stats) {
                .connections = s ? s->n_conns : 0,
                .accepted = s ? s->accepted : 0,
                .refused = s ? s->refused : 0,
        };
}
