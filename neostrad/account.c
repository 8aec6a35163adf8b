/* SPDX-License-Identifier: MIT */
/* The account verdict and the groups of a user's roles; see account.h. */
#include <stdio.h>
#include <stdlib.h>

#include "access.h"
#include "account.h"
#include "log.h"
#include "userdb.h"

bool account_verdict(const struct neostra_config *config, const struct user_record *u, char *reason, size_t n) {
        enum access_state state = access_state(config, u, access_now());
        bool allowed;

        /* Roles the API has not confirmed within account_max_age (or at
         * all, since the access ended) decide nothing. */
        if (state != ACCESS_VALID) {
                snprintf(reason, n, "%s", access_refusal(state));
                return false;
        }
        allowed = neostra_roles_allowed(&config->allow_roles, (const char *const *) user_roles(u),
                                        user_n_roles(u));
        if (config->allow_roles.n == 0)
                snprintf(reason, n, "any Neostra user may log in");
        else if (allowed)
                snprintf(reason, n, "a role of the user is in allow_roles");
        else {
                /* Say which roles the user has: that is what an admin needs
                 * to fix the table, and the user sees nothing secret. */
                size_t off = (size_t) snprintf(reason, n, "none of the user's roles (");

                for (size_t i = 0; i < user_n_roles(u) && off < n; i++)
                        off += (size_t) snprintf(reason + off, n - off, "%s%s", i ? ", " : "",
                                                 user_roles(u)[i]);
                if (off < n)
                        snprintf(reason + off, n - off, ") may log in here");
        }
        return allowed;
}

json_t *account_roles_json(char *const *roles, size_t n) {
        json_t *array = json_array();

        for (size_t i = 0; array && i < n; i++)
                json_array_append_new(array, json_string(roles[i]));
        return array;
}

json_t *account_groups_json(const struct neostra_config *config, UserDb *db, LocalNames *localnames,
                            char *const *roles, size_t n_roles) {
        struct neostra_strv names = {};
        json_t *array = json_array();

        if (!array)
                return NULL;
        if (neostra_groups_for_roles(config, (const char *const *) roles, n_roles, &names) < 0) {
                json_decref(array);
                return NULL;
        }
        for (size_t i = 0; i < names.n; i++) {
                gid_t gid, published;

                /* A group neostrad publishes itself (userdb.c) has its
                 * stable gid; only with userdb on does it exist at all. */
                if (config->userdb && userdb_published_gid(db, names.v[i], &published)) {
                        json_array_append_new(array, json_pack("{s:s, s:I}", "name", names.v[i],
                                                               "gid", (json_int_t) published));
                        continue;
                }
                if (localnames_group(localnames, names.v[i], &gid) <= 0) {
                        log_msg(LOG_WARNING, "[groups] names group '%s', which does not exist on this host",
                                names.v[i]);
                        continue;
                }
                if (gid == 0) {
                        log_msg(LOG_WARNING, "[groups] maps a role to group '%s' (gid 0); refusing to grant it",
                                names.v[i]);
                        continue;
                }
                json_array_append_new(array, json_pack("{s:s, s:I}", "name", names.v[i],
                                                       "gid", (json_int_t) gid));
        }
        free(names.v);
        return array;
}
