/* SPDX-License-Identifier: MIT */
/*
 * The one Varlink server layer of neostrad: listening sockets, connections,
 * framing, method dispatch by table, parameter validation and budgets.  Both
 * interfaces the daemon serves (io.neostra.Auth on the auth socket,
 * io.systemd.UserDatabase on the userdb socket) sit on it; a handler only
 * ever sees a call that is well-formed, for a method it registered, from a
 * peer the method admits, with every parameter of the right type and size.
 *
 * Connections.  Each is a reference-counted object in one of these states:
 *
 *   IDLE       waiting for the next call (reads are on);
 *   CALL       a handler is running for the current call (on the stack);
 *   PENDING    the handler returned without the final answer: someone holds
 *              a reference (varlink_conn_hold()) and answers later;
 *   STREAMING  an answer with "more" is being produced one record at a
 *              time, the next only once the client has read the last;
 *   DEAD       disconnected: every call on it is a harmless no-op, and the
 *              memory goes when the last reference does.
 *
 * A final answer moves CALL/PENDING/STREAMING to IDLE; the next buffered
 * call is then dispatched from a deferred event, never from inside the
 * answer, so no handler runs inside another and a connection freed by a bad
 * second message can never be touched by the first one's handler.  A handler
 * returns 0 or a negative errno, nothing else: after -errno without an answer
 * the layer answers with the interface's "unavailable" error (PermissionDenied
 * for -EPERM), so nothing is ever left unanswered.
 *
 * Output is bounded per message (the server's message_max; a reply over it
 * becomes an error reply and is logged), and at most one message is queued:
 * the next call is read, and the next streamed record built, only after the
 * last answer has left.  A client that reads nothing is closed by the
 * deadline, having cost one message of memory.
 *
 * Budgets (per listening socket, SO_PEERCRED's uid): at most
 * VARLINK_SERVER_CONNECTIONS_MAX connections; a non-root uid at most
 * VARLINK_SERVER_PEER_MAX of them; root_reserved of them only root may
 * take; a connection that says nothing for VARLINK_SERVER_IDLE_USEC is
 * closed; a non-root one older than VARLINK_SERVER_LIFETIME_USEC is closed
 * once its current call is answered.  A connection over budget is accepted
 * and closed at once; the reason is logged, once per
 * VARLINK_SERVER_REFUSAL_LOG_USEC per socket with the number refused.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#define VARLINK_SERVER_CONNECTIONS_MAX 256u
#define VARLINK_SERVER_PEER_MAX        32u
#define VARLINK_SERVER_ROOT_RESERVED   32u
#define VARLINK_SERVER_IDLE_USEC       (10u * 1000000ull)
#define VARLINK_SERVER_LIFETIME_USEC   (30u * 1000000ull)
#define VARLINK_SERVER_REFUSAL_LOG_USEC (10u * 1000000ull)

#define VARLINK_SERVICE_INTERFACE       "org.varlink.service"

typedef struct VarlinkServer VarlinkServer;
typedef struct VarlinkConn VarlinkConn;

/* ---- method tables ---------------------------------------------------------- */

enum varlink_type {
        VARLINK_STRING,         /* const char *: bounded by max, no control character */
        VARLINK_SECRET,         /* const char *: bounded by max, anything but NUL (passwords) */
        VARLINK_NAME,           /* const char *: a valid login name (neostra_valid_login_name) */
        VARLINK_BOOL,           /* bool */
        VARLINK_ID,             /* struct varlink_id: a uid or gid below UINT32_MAX */
};

/* An optional uid or gid. */
struct varlink_id {
        bool set;
        uint32_t id;
};

enum {
        VARLINK_PARAM_REQUIRED = 1u << 0,       /* absent or null: InvalidParameter */
};

/*
 * One parameter: its key, type, bound and where it goes in the method's
 * parameter struct.  Absent and null leave the field zero (NULL, false,
 * unset).  Keys not in the table are ignored, as Varlink allows.
 */
struct varlink_param {
        const char *key;
        enum varlink_type type;
        unsigned flags;
        size_t max;             /* strings: bytes */
        size_t offset;
};

enum {
        VARLINK_METHOD_ROOT = 1u << 0,          /* uid 0 only */
        VARLINK_METHOD_SECRET = 1u << 1,        /* carries a secret: the message is wiped, the stack burnt */
        VARLINK_METHOD_MORE = 1u << 2,          /* may answer with several records ("more") */
};

/* params points to the filled parameter struct (params_size bytes): it
 * and the strings in it live until the call's final answer. */
typedef int (*varlink_handler)(VarlinkConn *c, void *params, void *userdata);

struct varlink_method {
        const char *name;                       /* without the interface */
        varlink_handler handler;
        unsigned flags;
        const struct varlink_param *params;     /* ends with { NULL } */
        size_t params_size;
};

struct varlink_interface {
        const char *name;
        const struct varlink_method *methods;   /* ends with { NULL } */
        const char *error_permission;           /* a VARLINK_METHOD_ROOT method called by another uid */
        const char *error_unavailable;          /* a handler failed without answering */
};

/* ---- servers ------------------------------------------------------------------ */

struct varlink_server_config {
        const char *description;        /* for the log: "auth", "userdb" */
        size_t message_max;             /* one reply, bytes */
        unsigned root_reserved;         /* connections only root may take */
        bool secret;                    /* calls may carry passwords: wipe what was read */
        const char *vendor, *product, *version, *url;   /* org.varlink.service.GetInfo */
};

struct varlink_server_stats {
        unsigned connections;
        uint64_t accepted;
        uint64_t refused;               /* over a budget */
};

int varlink_server_new(sd_event *event, const struct varlink_server_config *config, VarlinkServer **ret);
VarlinkServer *varlink_server_free(VarlinkServer *s);
static inline void varlink_server_freep(VarlinkServer **s) { varlink_server_free(*s); }

/* Serve iface's methods with userdata handed to each handler.  The table
 * must outlive the server.  -EEXIST, -ENOMEM. */
int varlink_server_add_interface(VarlinkServer *s, const struct varlink_interface *iface, void *userdata);

/* Accept on this listening socket (not taken: the caller closes it after
 * the server is freed). */
int varlink_server_listen_fd(VarlinkServer *s, int fd);

/* Stop accepting, close idle connections now and the others once answered;
 * on_empty(userdata) runs (from the loop) when the last one is gone. */
void varlink_server_stop(VarlinkServer *s, void (*on_empty)(void *userdata), void *userdata);

void varlink_server_stats(const VarlinkServer *s, struct varlink_server_stats *ret);

/* ---- connections, for handlers ---------------------------------------------- */

VarlinkConn *varlink_conn_ref(VarlinkConn *c);
VarlinkConn *varlink_conn_unref(VarlinkConn *c);
static inline void varlink_conn_unrefp(VarlinkConn **c) { varlink_conn_unref(*c); }

/* false once the connection is gone (client left, deadline, shutdown). */
bool varlink_conn_alive(const VarlinkConn *c);
uid_t varlink_conn_uid(const VarlinkConn *c);
/* The peer's pid when it connected (SO_PEERCRED). */
pid_t varlink_conn_pid(const VarlinkConn *c);
/* The call asked for "more" (several records). */
bool varlink_conn_more(const VarlinkConn *c);

/*
 * The handler will answer later: it gets a reference it must drop after
 * the answer, and cancel(userdata) runs if the connection goes away first
 * (the client left, the deadline passed, shutdown); after cancel the
 * answer is a no-op.  The call's deadline: usec from now (0: the idle
 * deadline).
 */
VarlinkConn *varlink_conn_hold(VarlinkConn *c, uint64_t usec, void (*cancel)(void *userdata), void *userdata);

/* Run the current call's handler again, with the same parameters, from the
 * loop (a held call whose inputs are now in: NSS answers). */
void varlink_conn_redispatch(VarlinkConn *c);

/* A word of state for the current call, zero at each new call and kept
 * across varlink_conn_redispatch(). */
unsigned *varlink_conn_call_marks(VarlinkConn *c);

/* The answers: each consumes params (NULL: empty).  0; -ENOTCONN when the
 * connection is gone; -ESTALE when no call waits for an answer. */
int varlink_conn_reply(VarlinkConn *c, json_t *params);
int varlink_conn_error(VarlinkConn *c, const char *error, json_t *params);
int varlink_conn_error_reason(VarlinkConn *c, const char *error, const char *reason);
int varlink_conn_error_invalid_parameter(VarlinkConn *c, const char *key);

/*
 * An answer of several records: next(c, state) runs from the loop each time
 * the previous record has been read by the client and must answer with
 * varlink_conn_notify() (a record, more to come) or a final answer.
 * free_state(state) runs when the stream ends or the connection goes.
 */
typedef void (*varlink_stream_next)(VarlinkConn *c, void *state);
int varlink_conn_stream(VarlinkConn *c, varlink_stream_next next, void *state, void (*free_state)(void *state));
int varlink_conn_notify(VarlinkConn *c, json_t *params);
