/* SPDX-License-Identifier: MIT */
/*
 * The module's arguments (pam_neostra.8 lists them), parsed into struct
 * module_args by every pam_sm_* call.  A bad or unknown argument is logged
 * at LOG_ERR and ignored, so the rest of the line still applies.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"

#define TIMEOUT_MIN_MS 100u
#define TIMEOUT_MAX_MS (10u * 60u * 1000u)

/* ---- arguments ---------------------------------------------------------- */

static const char *arg_value(const char *arg, const char *key) {
        size_t n = strlen(key);

        return strncmp(arg, key, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct module_args *a) {
        int i;

        *a = (struct module_args) {
                .socket_path = NEOSTRA_DEFAULT_SOCKET,
                .config_path = NEOSTRA_DEFAULT_CONFIG,
                .timeout_ms = NEOSTRA_CLIENT_TIMEOUT_MS,
        };

        for (i = 0; i < argc; i++) {
                const char *arg = argv[i], *v;

                if (!arg)
                        continue;
                if (strcmp(arg, "debug") == 0)
                        a->debug = true;
                else if (strcmp(arg, "ignore_unknown_user") == 0)
                        a->ignore_unknown_user = true;
                else if (strcmp(arg, "ignore_authinfo_unavail") == 0)
                        a->ignore_authinfo_unavail = true;
                else if (strcmp(arg, "setcred_only") == 0)
                        ;       /* pam_sm_authenticate() looks at it first */
                else if (strcmp(arg, "use_first_pass") == 0 || strcmp(arg, "try_first_pass") == 0 ||
                         strcmp(arg, "use_authtok") == 0)
                        ;       /* pam_get_authtok() reads these from argv itself */
                else if ((v = arg_value(arg, "socket"))) {
                        if (*v == '/')
                                a->socket_path = v;
                        else
                                pam_syslog(pamh, LOG_ERR, "socket= needs an absolute path, ignored: %s", v);
                } else if ((v = arg_value(arg, "config"))) {
                        if (*v == '/')
                                a->config_path = v;
                        else
                                pam_syslog(pamh, LOG_ERR, "config= needs an absolute path, ignored: %s", v);
                } else if ((v = arg_value(arg, "allow_roles"))) {
                        /* An empty list means "no restriction" in [access]
                         * too; say so, as it may well be a typo. */
                        if (strspn(v, ", ") == strlen(v))
                                pam_syslog(pamh, LOG_ERR, "allow_roles= is empty, ignored");
                        else
                                a->allow_roles = v;
                } else if ((v = arg_value(arg, "minimum_uid"))) {
                        unsigned long long n;
                        char *end;

                        errno = 0;
                        n = (*v >= '0' && *v <= '9') ? strtoull(v, &end, 10) : ULLONG_MAX;
                        if (n == ULLONG_MAX || errno != 0 || *end != '\0' || n >= UINT32_MAX)
                                pam_syslog(pamh, LOG_ERR, "invalid minimum_uid=%s, ignored", v);
                        else {
                                a->minimum_uid = (uid_t) n;
                                a->have_minimum_uid = true;
                        }
                } else if ((v = arg_value(arg, "timeout"))) {
                        uint64_t ms;

                        if (neostra_parse_duration_ms(v, &ms) < 0 ||
                            ms < TIMEOUT_MIN_MS || ms > TIMEOUT_MAX_MS)
                                pam_syslog(pamh, LOG_ERR, "invalid timeout=%s, ignored", v);
                        else
                                a->timeout_ms = ms;
                } else
                        pam_syslog(pamh, LOG_ERR, "unknown option, ignored: %s", arg);
        }
}
