/* SPDX-License-Identifier: MIT */
/*
 * neostractl's Varlink calls: jansson messages (common/varlink.c) over the
 * shared transport (common/transport.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "neostra/client.h"
#include "neostra/secure.h"
#include "neostra/varlink.h"

/* Exactly one message, decoded; the transport refuses anything after it. */
static int read_message(int fd, uint64_t deadline_usec, json_t **ret) {
        struct neostra_message m = {};
        int r;

        r = neostra_client_receive(fd, deadline_usec, &m);
        if (r < 0)
                return r;
        r = varlink_decode(m.data, m.len, ret);
        /* Replies can carry tokens (GetToken); leave no copy behind. */
        neostra_message_done(&m);
        return r;
}

int neostra_client_call(int fd, const char *method, json_t *params, bool params_secret,
                        uint64_t deadline_usec, char **ret_error, json_t **ret_params) {
        struct vbuf out = { NULL, 0, 0 };
        json_t *keep = NULL, *call = NULL, *reply = NULL, *rparams = NULL;
        const char *error = NULL;
        char *error_copy = NULL;
        bool continues = false;
        int r;

        if (fd < 0 || !method) {
                r = -EINVAL;
                goto done;
        }

        /* Hold our own reference so the secret can be wiped whatever
         * varlink_call_new() does with the one it steals. */
        keep = params ? json_incref(params) : NULL;
        call = varlink_call_new(method, params);
        params = NULL;
        if (!call) {
                r = -ENOMEM;
                goto done;
        }

        r = varlink_encode(call, &out);
        if (params_secret && keep)
                json_wipe_strings(keep);
        if (r < 0)
                goto done;

        r = neostra_client_send(fd, out.data, out.len, deadline_usec);
        vbuf_done(&out);
        if (r < 0)
                goto done;

        r = read_message(fd, deadline_usec, &reply);
        if (r < 0)
                goto done;

        r = varlink_reply_parse(reply, &error, &rparams, &continues);
        if (r < 0)
                goto done;
        if (continues) {
                r = -EBADMSG;
                goto done;
        }
        if (rparams && !json_is_object(rparams)) {
                r = -EBADMSG;
                goto done;
        }

        if (ret_error && error) {
                error_copy = strdup(error);
                if (!error_copy) {
                        r = -ENOMEM;
                        goto done;
                }
        }
        if (ret_params) {
                json_t *p = rparams ? json_incref(rparams) : json_object();

                if (!p) {
                        free(error_copy);
                        r = -ENOMEM;
                        goto done;
                }
                *ret_params = p;
        }
        if (ret_error)
                *ret_error = error_copy;
        r = 0;

done:
        vbuf_done(&out);
        if (params_secret && keep)
                json_wipe_strings(keep);
        if (keep)
                json_decref(keep);
        if (call) {
                if (params_secret)
                        json_decref_wipe(call);
                else
                        json_decref(call);
        }
        if (params) {
                if (params_secret)
                        json_decref_wipe(params);
                else
                        json_decref(params);
        }
        /* Whatever in the reply might be secret (a token) now belongs to
         * the caller through *ret_params; wipe only what nobody else holds. */
        if (reply) {
                if (ret_params && r == 0)
                        json_decref(reply);
                else
                        json_decref_wipe(reply);
        }
        return r;
}

int neostra_client_call_once(const char *path, const char *method, json_t *params,
                             bool params_secret, uint64_t deadline_usec,
                             char **ret_error, json_t **ret_params) {
        int fd = -1, r;

        r = neostra_client_open(path, deadline_usec, &fd);
        if (r < 0) {
                if (params_secret)
                        json_decref_wipe(params);
                else if (params)
                        json_decref(params);
                return r;
        }
        r = neostra_client_call(fd, method, params, params_secret, deadline_usec,
                                ret_error, ret_params);
        close(fd);
        return r;
}
