/* SPDX-License-Identifier: MIT */
/*
 * Login names, email addresses, roles and Unix names, and the %u templates
 * that turn a login name into an email address or a home directory; see
 * include/neostra/names.h.  Which characters count as control characters
 * and what valid UTF-8 is, common/text.c decides.
 */
#include "neostra/names.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define streq(a, b) (strcmp((a), (b)) == 0)

/* Unix user and group names, as useradd and groupadd accept them. */
#define UNIX_NAME_MAX 32u

/* DNS names (RFC 1035 2.3.4): a label, and the whole name without the
 * final dot. */
#define DOMAIN_LABEL_MAX 63u
#define DOMAIN_MAX 253u

/* ---- names -------------------------------------------------------------- */

bool neostra_valid_login_name(const char *name)
{
        size_t n;

        if (!name)
                return false;
        n = strnlen(name, NEOSTRA_USER_MAX + 1);
        if (n == 0 || n > NEOSTRA_USER_MAX)
                return false;
        if (name[0] == '-')
                return false;
        /* "." and ".." would make home = /home/%u point somewhere else. */
        if (streq(name, ".") || streq(name, ".."))
                return false;
        /* '/' would reach into another directory through home = /home/%u
         * and ':' would split a passwd(5) line. */
        if (!neostra_text_valid(name, n, NEOSTRA_TEXT_NO_C1 | NEOSTRA_TEXT_NO_SPACE))
                return false;
        return !strpbrk(name, "/:");
}

bool neostra_valid_role(const char *role)
{
        size_t n;

        if (!role)
                return false;
        n = strnlen(role, NEOSTRA_ROLE_MAX + 1);
        if (n == 0 || n > NEOSTRA_ROLE_MAX)
                return false;
        /* Roles may hold spaces ("Site Reliability"); they end up in log
         * lines and group tables, so no control character of any kind. */
        return neostra_text_valid(role, n, NEOSTRA_TEXT_NO_C1);
}

bool neostra_valid_unix_name(const char *name)
{
        size_t n, i;
        bool all_digits = true;

        if (!name)
                return false;
        n = strnlen(name, UNIX_NAME_MAX + 1);
        if (n == 0 || n > UNIX_NAME_MAX)
                return false;
        /* A name made of digits reads as a gid to chgrp, sudoers and
         * friends; "." and ".." are path components, not names. */
        if (streq(name, ".") || streq(name, ".."))
                return false;
        for (i = 0; i < n; i++) {
                char ch = name[i];

                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '.')
                        all_digits = false;
                else if (ch == '-' && i > 0)
                        all_digits = false;
                else if (!(ch >= '0' && ch <= '9'))
                        return false;
        }
        return !all_digits;
}

bool neostra_valid_domain(const char *s)
{
        size_t n, i, label = 0;

        if (!s)
                return false;
        n = strnlen(s, DOMAIN_MAX + 1);
        if (n == 0 || n > DOMAIN_MAX)
                return false;
        for (i = 0; i <= n; i++) {
                char ch = s[i];

                if (ch == '.' || ch == '\0') {
                        /* No empty label ("a..b", ".a", "a."), none
                         * ending in '-'. */
                        if (label == 0 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      (ch == '-' && label > 0)))
                        return false;
                if (++label > DOMAIN_LABEL_MAX)
                        return false;
        }
        return true;
}

/* ---- templates ---------------------------------------------------------- */

int neostra_template_check(const char *tmpl, unsigned *ret_count)
{
        unsigned count = 0;
        const char *p;

        for (p = tmpl; *p; p++) {
                if (*p != '%')
                        continue;
                p++;
                if (*p == 'u')
                        count++;
                else if (*p != '%')
                        return -EINVAL;
        }
        *ret_count = count;
        return 0;
}

int neostra_template_expand(const char *tmpl, const char *name, size_t max, char **ret)
{
        size_t len = 0, name_len = strlen(name);
        const char *p;
        char *out, *o;

        for (p = tmpl; *p; p++) {
                if (*p == '%') {
                        p++;
                        if (*p == 'u')
                                len += name_len;
                        else if (*p == '%')
                                len++;
                        else
                                return -EINVAL;
                } else
                        len++;
                if (len > max)
                        return -EINVAL;
        }

        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (p = tmpl, o = out; *p; p++) {
                if (*p == '%') {
                        p++;
                        if (*p == 'u') {
                                memcpy(o, name, name_len);
                                o += name_len;
                        } else
                                *o++ = '%';
                } else
                        *o++ = *p;
        }
        *o = '\0';
        *ret = out;
        return 0;
}

/* ---- what a login name becomes ------------------------------------------ */

bool neostra_valid_email(const char *s)
{
        const char *at;
        size_t n;

        n = strnlen(s, NEOSTRA_USER_MAX + 1);
        if (n == 0 || n > NEOSTRA_USER_MAX)
                return false;
        if (!neostra_text_valid(s, n, NEOSTRA_TEXT_NO_C1 | NEOSTRA_TEXT_NO_SPACE))
                return false;
        at = strchr(s, '@');
        if (!at || at == s || at[1] == '\0' || strchr(at + 1, '@'))
                return false;
        return true;
}

/* The domain email_template gives every plain name: what follows its last
 * '@', when that holds no escape; NULL for "%u" and the like. */
static const char *template_domain(const struct neostra_config *c)
{
        const char *t = c->email_template ? c->email_template : "%u";
        const char *at = strrchr(t, '@');

        if (!at || at[1] == '\0' || strchr(at + 1, '%'))
                return NULL;
        return at + 1;
}

bool neostra_domain_accepted(const struct neostra_config *c, const char *name)
{
        const char *at, *domain;
        size_t i;

        if (!name)
                return false;
        at = strchr(name, '@');
        if (!at)
                return true;
        if (!c)
                return false;
        /* Everything after the first '@': "a@b@corp.example" is not in
         * corp.example (and is no email address either). */
        domain = at + 1;
        if (!c->domains.v) {
                const char *d = template_domain(c);

                return d && strcasecmp(domain, d) == 0;
        }
        for (i = 0; i < c->domains.n; i++)
                if (strcasecmp(domain, c->domains.v[i]) == 0)
                        return true;
        return false;
}

int neostra_email_for_user(const struct neostra_config *c, const char *name, char **ret)
{
        char *email = NULL;
        int r;

        if (!c || !ret || !neostra_valid_login_name(name))
                return -EINVAL;

        if (strchr(name, '@')) {
                if (!neostra_domain_accepted(c, name))
                        return -EINVAL;
                email = strdup(name);
                if (!email)
                        return -ENOMEM;
        } else {
                r = neostra_template_expand(c->email_template ? c->email_template : "%u", name,
                                            NEOSTRA_USER_MAX, &email);
                if (r < 0)
                        return r;
        }

        if (!neostra_valid_email(email)) {
                free(email);
                return -EINVAL;
        }
        *ret = email;
        return 0;
}

int neostra_home_for_user(const struct neostra_config *c, const char *name, char **ret)
{
        if (!c || !c->home || !ret || !neostra_valid_login_name(name))
                return -EINVAL;
        return neostra_template_expand(c->home, name, PATH_MAX - 1, ret);
}
