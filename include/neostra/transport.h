/* SPDX-License-Identifier: MIT */
/*
 * The Varlink transport of pam_neostra.so and neostractl, without any JSON:
 * connect to neostrad and verify it, send one message, receive one message.
 * The module pairs it with its own codec (wire.h), neostractl with jansson
 * (client.h).  Every function takes one absolute CLOCK_MONOTONIC deadline
 * (see neostra_now_usec()) that bounds all of its work: connecting, writing
 * and reading never wait past it, whatever the peer does.  Nothing here
 * logs, raises SIGPIPE, installs signal handlers or keeps global state, so
 * it is safe inside sshd, su, sudo and screen lockers.
 *
 * Before anything is sent the server is verified: the socket path must be
 * a socket (lstat, symlinks are not followed) owned by root or by a system
 * account (uid <= NEOSTRA_CLIENT_SYSTEM_UID_MAX), and the peer's
 * SO_PEERCRED uid must be 0 or the socket file's owner.  A socket a user
 * planted never receives a password.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Highest uid we accept as a "system account" owning the daemon's socket. */
#define NEOSTRA_CLIENT_SYSTEM_UID_MAX 999u

/* Now on CLOCK_MONOTONIC, in microseconds. */
uint64_t neostra_now_usec(void);

/* neostra_now_usec() + timeout_ms, saturating. */
uint64_t neostra_deadline_ms(uint64_t timeout_ms);

/*
 * Connect to the Unix socket at path and verify the server (see above).
 * Returns 0 and a connected, non-blocking, close-on-exec fd in *ret_fd, or
 * a negative errno:
 *   -ENOENT        nothing at path
 *   -ENOTSOCK      path exists but is not a socket (refused)
 *   -EPERM         socket or peer not owned by root/a system account (refused)
 *   -ECONNREFUSED  nobody listens (stale socket)
 *   -EACCES        the socket's permissions do not let us connect
 *   -ETIMEDOUT     the deadline passed
 *   -ENAMETOOLONG  path does not fit in sockaddr_un
 * or another errno from socket()/connect().
 */
int neostra_client_open(const char *path, uint64_t deadline_usec, int *ret_fd);

/*
 * Send n bytes (a whole message, its NUL included).  Returns 0, -ETIMEDOUT,
 * -EPIPE/-ECONNRESET (the daemon closed the connection) or another errno
 * from send().
 */
int neostra_client_send(int fd, const void *data, size_t n, uint64_t deadline_usec);

/* One received message: len bytes of JSON, NUL-terminated at data[len]. */
struct neostra_message {
        char *data;
        size_t len;
};

/*
 * Receive exactly one message; bytes after its NUL are a protocol error,
 * because we never ask for more than one reply.  Returns 0 and *ret, or
 * -ETIMEDOUT, -ECONNRESET (closed before a whole message came), -EMSGSIZE
 * (over NEOSTRA_MESSAGE_MAX), -EBADMSG, -ENOMEM or an errno from recv().
 */
int neostra_client_receive(int fd, uint64_t deadline_usec, struct neostra_message *ret);

/* Wipe and free (replies can carry tokens); accepts an empty message. */
void neostra_message_done(struct neostra_message *m);

/*
 * The last dot-separated component of a Varlink error name, for messages:
 * "io.neostra.Auth.UserUnknown" → "UserUnknown".  Borrows from error.
 */
const char *neostra_error_short(const char *error);

/* What a negative return of neostra_client_open()/_send()/_receive() (and
 * of the calls built on them) means, for a log line or the terminal
 * (static text or strerror()). */
const char *neostra_client_strerror(int r);
