/* SPDX-License-Identifier: MIT */
/*
 * neostrad.conf as an object: its defaults, freeing it, the two value
 * parsers callers share, and what callers ask of a loaded config (excluded
 * users, the groups of roles, allowed roles).
 *
 * Loading it is conf-load.c's (the INI reader, drop-ins, the checks that
 * need more than one key); what each key may hold is conf-keys.c's.
 */
#include "conf-internal.h"
#include "neostra/protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ------------------------------------------------------ */

void neostra_strv_free(struct neostra_strv *s)
{
        strv_clear(s);
}

static bool strv_contains(const struct neostra_strv *s, const char *x)
{
        size_t i;

        if (!s || !s->v)
                return false;
        for (i = 0; i < s->n; i++)
                if (streq(s->v[i], x))
                        return true;
        return false;
}

/* ---- value parsers shared with callers ---------------------------------- */

int neostra_parse_duration_ms(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t ms;
        } units[] = {
                { "",   1000u },
                { "s",  1000u },
                { "ms", 1u },
                { "m",  60u * 1000u },
                { "h",  60u * 60u * 1000u },
                { "d",  24u * 60u * 60u * 1000u },
        };
        unsigned long long v;
        char *end;
        size_t i;

        /* strtoull() would accept leading blanks, '+' and '-' (negating
         * silently); only a plain digit may start a duration. */
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s)
                return -EINVAL;

        for (i = 0; i < ELEMENTSOF(units); i++) {
                if (!streq(end, units[i].suffix))
                        continue;
                if (v > DURATION_MAX_MS / units[i].ms)
                        return -ERANGE;
                if (ret)
                        *ret = (uint64_t) v * units[i].ms;
                return 0;
        }
        return -EINVAL;
}

int neostra_parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };
        size_t i;

        if (!s)
                return -EINVAL;
        for (i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        if (ret)
                                *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        if (ret)
                                *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* ---- users, roles, groups ----------------------------------------------- */

bool neostra_user_excluded(const struct neostra_config *c, const char *name)
{
        if (!name)
                return true;
        if (streq(name, "root"))
                return true;
        return c && strv_contains(&c->exclude, name);
}

static bool roles_contain(const char *const *roles, size_t n_roles, const char *role)
{
        size_t i;

        for (i = 0; i < n_roles; i++)
                if (roles[i] && streq(roles[i], role))
                        return true;
        return false;
}

int neostra_groups_for_roles(const struct neostra_config *c, const char *const *roles,
                             size_t n_roles, struct neostra_strv *ret)
{
        struct neostra_strv out = {};
        size_t i, j, k, total = 0;

        if (!c || !ret || (n_roles > 0 && !roles))
                return -EINVAL;

        for (i = 0; i < c->n_groups; i++)
                if (roles_contain(roles, n_roles, c->groups[i].role))
                        total += c->groups[i].groups.n;

        /* Always hand back a NULL-terminated vector, even an empty one, so
         * callers can iterate without checking for NULL. */
        out.v = calloc(total + 1, sizeof(char *));
        if (!out.v)
                return -ENOMEM;

        for (i = 0; i < c->n_groups; i++) {
                const struct neostra_group_map *m = &c->groups[i];

                if (!roles_contain(roles, n_roles, m->role))
                        continue;
                for (j = 0; j < m->groups.n; j++) {
                        bool dup = false;

                        for (k = 0; k < out.n && !dup; k++)
                                dup = streq(out.v[k], m->groups.v[j]);
                        if (!dup)
                                out.v[out.n++] = m->groups.v[j];
                }
        }

        *ret = out;
        return 0;
}

bool neostra_roles_allowed(const struct neostra_strv *allow_roles,
                           const char *const *roles, size_t n_roles)
{
        size_t i;

        if (!allow_roles || allow_roles->n == 0)
                return true;
        for (i = 0; i < n_roles; i++)
                if (roles && roles[i] && strv_contains(allow_roles, roles[i]))
                        return true;
        return false;
}

/* ---- defaults and freeing ----------------------------------------------- */

void neostra_config_free(struct neostra_config *c)
{
        size_t i;

        if (!c)
                return;
        free(c->path);
        free(c->api_url);
        free(c->signin_path);
        free(c->ca_file);
        free(c->pinned_public_key);
        free(c->refresh_path);
        free(c->email_template);
        strv_clear(&c->exclude);
        strv_clear(&c->local_accounts);
        strv_clear(&c->domains);
        strv_clear(&c->allow_roles);
        for (i = 0; i < c->n_groups; i++) {
                free(c->groups[i].role);
                strv_clear(&c->groups[i].groups);
        }
        free(c->groups);
        free(c->home);
        free(c->shell);
        free(c->cache_directory);
        free(c->socket_path);
        free(c->userdb_socket_path);
        free(c->user);
        conf_origin_free(c->origin);
        free(c);
}

int neostra_config_new_default(struct neostra_config **ret)
{
        struct neostra_config *c;

        if (!ret)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        c->connect_timeout_ms = 3000;
        c->timeout_ms = 10000;
        c->minimum_uid = 1000;
        c->userdb = true;
        c->uid_min = 200000;
        c->uid_max = 299999;
        c->first_login = true;
        c->offline = true;
        c->offline_max_age_ms = 7ull * 24 * 60 * 60 * 1000;
        c->account_max_age_ms = 7ull * 24 * 60 * 60 * 1000;
        c->offline_after_ms = 5000;
        c->cached_auth_timeout_ms = 0;
        c->max_failures = 5;

        c->path = strdup(NEOSTRA_DEFAULT_CONFIG);
        c->signin_path = strdup("/api/v1/auth/signin");
        c->email_template = strdup("%u");
        c->home = strdup("/home/%u");
        c->shell = strdup("/bin/bash");
        c->cache_directory = strdup("/var/lib/neostra");
        c->socket_path = strdup(NEOSTRA_DEFAULT_SOCKET);
        c->userdb_socket_path = strdup(NEOSTRA_DEFAULT_USERDB_SOCKET);
        c->user = strdup("neostra");
        if (!c->path || !c->signin_path || !c->email_template || !c->home || !c->shell ||
            !c->cache_directory || !c->socket_path || !c->userdb_socket_path || !c->user) {
                neostra_config_free(c);
                return -ENOMEM;
        }

        *ret = c;
        return 0;
}
