/* SPDX-License-Identifier: MIT */
/*
 * A blocking Varlink client with deadlines for neostractl and the tests,
 * speaking jansson (varlink.h) over the JSON-free transport (transport.h,
 * whose deadline and server checks apply to every call here).
 * pam_neostra.so does not use this file: it pairs the transport with its
 * own codec (wire.h) so that it does not load libjansson.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "neostra/transport.h"

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
