/* SPDX-License-Identifier: MIT */
/*
 * What a login name, an email address, a role and a Unix user or group name
 * may be, and how a login name becomes an email address or a home directory
 * through the %u templates of neostrad.conf.  Shared by the module, the
 * daemon and neostractl (common/names.c); the characters themselves are
 * judged by common/text.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct neostra_config;

/* A login name we are willing to handle: 1..NEOSTRA_USER_MAX bytes, no
 * control characters, whitespace, '/', ':' or leading '-'.  Names with '@'
 * are allowed (they pass through email_template unchanged, when
 * neostra_domain_accepted() says so). */
bool neostra_valid_login_name(const char *name);

/* What an email address must look like: 1..NEOSTRA_USER_MAX bytes of UTF-8
 * without spaces or control characters, with exactly one '@' and something
 * on each side of it. */
bool neostra_valid_email(const char *s);

/* A domain name as [users] domains lists them: dot-separated labels of
 * ASCII letters, digits and '-' (not at either end of a label), 1..63
 * bytes each, at most 253 in all; IDNs in punycode. */
bool neostra_valid_domain(const char *s);

/*
 * Whether the API may be asked about a login name as far as its domain
 * goes: a name without '@' always (email_template makes its email); a name
 * with '@' only when what follows the '@' is one of [users] domains
 * (case-insensitively), or, with domains never set, the domain of
 * email_template ("corp.example" for "%u@corp.example"; none for "%u").
 * Anyone may own user@elsewhere at the API; only the domains the host
 * trusts may log in here.
 */
bool neostra_domain_accepted(const struct neostra_config *c, const char *name);

/*
 * Build the email for a login name from email_template: "%u" is the name,
 * "%%" a percent sign; a name that contains '@' is used as it is when its
 * domain is accepted (neostra_domain_accepted()).  The result must pass
 * neostra_valid_email().
 * Returns 0 and a malloc'd string, or -EINVAL (-ENOMEM when out of memory).
 */
int neostra_email_for_user(const struct neostra_config *c, const char *name, char **ret);

/* A role as [groups] and [access] name it: 1..NEOSTRA_ROLE_MAX bytes of
 * UTF-8 without control characters. */
bool neostra_valid_role(const char *role);

/* A Unix user or group name: [A-Za-z0-9_.][A-Za-z0-9_.-]*, at most 32
 * bytes, not all digits (it would read as a numeric id), not "." or "..". */
bool neostra_valid_unix_name(const char *name);

/* [identities] home with %u replaced by name (a valid login name).
 * Returns 0 and a malloc'd string, or -EINVAL / -ENOMEM. */
int neostra_home_for_user(const struct neostra_config *c, const char *name, char **ret);

/*
 * Templates know two escapes: "%u" (the login name) and "%%" (a percent
 * sign).  neostra_template_check() returns 0 and the number of %u in
 * *ret_count, or -EINVAL for any other '%' sequence.
 * neostra_template_expand() returns 0 and a malloc'd expansion of at most
 * max bytes, -EINVAL for a bad escape or a longer result, or -ENOMEM.
 */
int neostra_template_check(const char *tmpl, unsigned *ret_count);
int neostra_template_expand(const char *tmpl, const char *name, size_t max, char **ret);
