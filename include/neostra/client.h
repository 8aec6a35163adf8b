/* SPDX-License-Identifier: MIT */
/*
 * A blocking Varlink client with deadlines, used by pam_neostra.so and
 * neostractl.  Every function takes one absolute CLOCK_MONOTONIC deadline
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

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

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
 * One call on a connection from neostra_client_open().  params is stolen
 * (NULL sends no parameters).  With params_secret, every string in params
 * is wiped once it has been serialized; the serialized request is always
 * wiped.  The reply must be a single message that does not ask to continue.
 *
 * Returns 0 when a reply arrived: *ret_error is NULL for a successful reply,
 * or the malloc'd error name ("io.neostra.Auth.AuthenticationFailed") for an
 * error reply; *ret_params is a new reference to the reply's parameters
 * (always an object, possibly empty) in both cases.  Either out pointer may
 * be NULL when the caller does not care.  The connection stays usable.
 *
 * Returns a negative errno when no reply could be had: -ETIMEDOUT,
 * -ECONNRESET (the daemon closed the connection), -EPIPE, -EBADMSG (not a
 * valid Varlink reply), -EMSGSIZE (reply or request too large), -ENOMEM, or
 * an errno from send()/recv().  Out pointers are untouched then and the
 * connection must be closed.
 */
int neostra_client_call(int fd, const char *method, json_t *params, bool params_secret,
                        uint64_t deadline_usec, char **ret_error, json_t **ret_params);

/*
 * neostra_client_open() + neostra_client_call() + close(), for callers
 * that make one call per connection.  params is stolen in every case,
 * including when connecting fails (and wiped first when params_secret).
 */
int neostra_client_call_once(const char *path, const char *method, json_t *params,
                             bool params_secret, uint64_t deadline_usec,
                             char **ret_error, json_t **ret_params);

/*
 * The last dot-separated component of a Varlink error name, for messages:
 * "io.neostra.Auth.UserUnknown" → "UserUnknown".  Borrows from error.
 */
const char *neostra_error_short(const char *error);

/* What a negative return of neostra_client_open()/_call() means, for a
 * log line or the terminal (static text or strerror()). */
const char *neostra_client_strerror(int r);
