/* SPDX-License-Identifier: MIT */
/*
 * The keys of neostrad.conf, section by section, and the parser that checks
 * each one's value: numbers, durations, booleans, paths, URLs, key pins,
 * templates and lists.  A parser refuses a bad value with a message; the
 * reader (conf-load.c) adds file, line, section and key to it.
 *
 * What a login name, an email address or a role may be is common/names.c's
 * to say, and which characters any value may hold is common/text.c's.
 */
#include "conf-internal.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

/* Longest URL we accept: far beyond any real API base URL. */
#define URL_MAX 2048u

/* Unsigned decimal, digits only, within [min, max]. */
static int parse_ull(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *ret)
{
        unsigned long long v;
        char *end;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* ---- per-key parsers ----------------------------------------------------- */

/*
 * The line was checked as UTF-8 already (check_line_bytes() in
 * conf-load.c); to the kernel a path is bytes, so here only the bytes that
 * would break it as a value are refused: blanks and control characters.
 */
static bool is_absolute_path(const char *s)
{
        size_t n = strnlen(s, PATH_MAX);

        return s[0] == '/' && n < PATH_MAX &&
               neostra_text_valid(s, n, NEOSTRA_TEXT_BYTES | NEOSTRA_TEXT_NO_SPACE);
}

static int parse_duration_field(const struct key_def *k, const char *value, void *field,
                                char *msg, size_t msglen)
{
        uint64_t ms;
        int r;

        r = neostra_parse_duration_ms(value, &ms);
        if (r == -ERANGE) {
                snprintf(msg, msglen, "duration '%s' is out of range", value);
                return -ERANGE;
        }
        if (r < 0) {
                snprintf(msg, msglen, "'%s' is not a duration (use e.g. 10, 10s, 250ms, 5m, 2h or 7d)",
                         value);
                return -EINVAL;
        }
        if (ms < k->min) {
                snprintf(msg, msglen, "must be greater than 0");
                return -ERANGE;
        }
        if (ms > k->max) {
                /* Only [api] timeouts have an upper bound; say why it exists. */
                snprintf(msg, msglen,
                         "'%s' is too long: the PAM module gives up after %u s, so the API "
                         "timeout must be at most %llu ms",
                         value, NEOSTRA_CLIENT_TIMEOUT_MS / 1000u, k->max);
                return -ERANGE;
        }
        *(uint64_t *) field = ms;
        return 0;
}

static int parse_bool_field(const struct key_def *k, const char *value, void *field,
                            char *msg, size_t msglen)
{
        if (neostra_parse_bool(value, (bool *) field) < 0) {
                snprintf(msg, msglen, "'%s' is not a boolean (use yes or no)", value);
                return -EINVAL;
        }
        return 0;
}

static int parse_number(const struct key_def *k, const char *value,
                        unsigned long long *ret, char *msg, size_t msglen)
{
        int r;

        r = parse_ull(value, k->min, k->max, ret);
        if (r == -ERANGE)
                snprintf(msg, msglen, "'%s' is out of range (%llu..%llu)", value, k->min, k->max);
        else if (r < 0)
                snprintf(msg, msglen, "'%s' is not an unsigned decimal number", value);
        return r;
}

static int parse_uid_field(const struct key_def *k, const char *value, void *field,
                           char *msg, size_t msglen)
{
        unsigned long long v;
        int r;

        r = parse_number(k, value, &v, msg, msglen);
        if (r < 0)
                return r;
        *(uid_t *) field = (uid_t) v;
        return 0;
}

static int parse_unsigned_field(const struct key_def *k, const char *value, void *field,
                                char *msg, size_t msglen)
{
        unsigned long long v;
        int r;

        r = parse_number(k, value, &v, msg, msglen);
        if (r < 0)
                return r;
        *(unsigned *) field = (unsigned) v;
        return 0;
}

/* Optional absolute path: empty resets to "unset". */
static int parse_optional_path(const struct key_def *k, const char *value, void *field,
                               char *msg, size_t msglen)
{
        if (*value == '\0')
                return replace_string(field, NULL);
        if (!is_absolute_path(value)) {
                snprintf(msg, msglen, "'%s' is not an absolute path", value);
                return -EINVAL;
        }
        return replace_string(field, value);
}

static int parse_path(const struct key_def *k, const char *value, void *field,
                      char *msg, size_t msglen)
{
        if (!is_absolute_path(value)) {
                snprintf(msg, msglen, "'%s' is not an absolute path", value);
                return -EINVAL;
        }
        return replace_string(field, value);
}

static int parse_socket_path(const struct key_def *k, const char *value, void *field,
                             char *msg, size_t msglen)
{
        struct sockaddr_un sa;

        if (!is_absolute_path(value)) {
                snprintf(msg, msglen, "'%s' is not an absolute path", value);
                return -EINVAL;
        }
        if (strlen(value) >= sizeof(sa.sun_path)) {
                snprintf(msg, msglen, "socket path is longer than %zu bytes",
                         sizeof(sa.sun_path) - 1);
                return -ENAMETOOLONG;
        }
        return replace_string(field, value);
}

static int parse_home(const struct key_def *k, const char *value, void *field,
                      char *msg, size_t msglen)
{
        unsigned count;

        if (!is_absolute_path(value)) {
                snprintf(msg, msglen, "'%s' is not an absolute path", value);
                return -EINVAL;
        }
        if (neostra_template_check(value, &count) < 0) {
                snprintf(msg, msglen, "'%s' may only use %%u (login name) and %%%% escapes", value);
                return -EINVAL;
        }
        return replace_string(field, value);
}

static int parse_signin_path(const struct key_def *k, const char *value, void *field,
                             char *msg, size_t msglen)
{
        if (value[0] != '/' || strlen(value) > URL_MAX || strchr(value, '#') ||
            !neostra_text_valid(value, strlen(value), NEOSTRA_TEXT_NO_C1 | NEOSTRA_TEXT_NO_SPACE)) {
                snprintf(msg, msglen,
                         "'%s' must be a URL path starting with '/', without spaces or '#'", value);
                return -EINVAL;
        }
        return replace_string(field, value);
}

/* Like signin_path, but empty means "not set". */
static int parse_optional_url_path(const struct key_def *k, const char *value, void *field,
                                   char *msg, size_t msglen)
{
        char **p = field;

        if (value[0] == '\0') {
                free(*p);
                *p = NULL;
                return 0;
        }
        return parse_signin_path(k, value, field, msg, msglen);
}

static int parse_email_template(const struct key_def *k, const char *value, void *field,
                                char *msg, size_t msglen)
{
        char *sample = NULL;
        unsigned count;
        int r;

        if (neostra_template_check(value, &count) < 0) {
                snprintf(msg, msglen, "'%s' may only use %%u (login name) and %%%% escapes", value);
                return -EINVAL;
        }
        if (count != 1) {
                snprintf(msg, msglen, "'%s' must contain %%u exactly once", value);
                return -EINVAL;
        }
        /* "%u" alone means every login name is already an email.  Anything
         * else must turn a plain name into an address, or no name without
         * '@' could ever sign in and the setting would be silently useless. */
        if (!streq(value, "%u")) {
                r = neostra_template_expand(value, "u", NEOSTRA_USER_MAX, &sample);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || !neostra_valid_email(sample)) {
                        free(sample);
                        snprintf(msg, msglen,
                                 "'%s' does not produce an email address (e.g. %%u@example.com)",
                                 value);
                        return -EINVAL;
                }
                free(sample);
        }
        return replace_string(field, value);
}

static int parse_pins(const struct key_def *k, const char *value, void *field,
                      char *msg, size_t msglen)
{
        const char *p = value;

        if (*value == '\0')
                return replace_string(field, NULL);
        if (strlen(value) > URL_MAX)
                goto bad;

        /* curl syntax: sha256//<base64>[;sha256//<base64>...].  A file name
         * is what curl would take otherwise; we only accept hashes. */
        for (;;) {
                size_t n;

                if (strncmp(p, "sha256//", 8) != 0)
                        goto bad;
                p += 8;
                n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
                if (n == 0)
                        goto bad;
                p += n;
                if (*p == '\0')
                        break;
                if (*p != ';')
                        goto bad;
                p++;
        }
        return replace_string(field, value);

bad:
        snprintf(msg, msglen,
                 "'%s' is not a public key pin (expected sha256//<base64>[;sha256//<base64>...])",
                 value);
        return -EINVAL;
}

static int parse_daemon_user(const struct key_def *k, const char *value, void *field,
                             char *msg, size_t msglen)
{
        if (*value != '\0' && !neostra_valid_unix_name(value)) {
                snprintf(msg, msglen, "'%s' is not a valid user name", value);
                return -EINVAL;
        }
        return replace_string(field, value);
}

static bool is_loopback_host(const char *host, bool bracketed)
{
        struct in6_addr a6;
        struct in_addr a4;

        if (bracketed) {
                if (inet_pton(AF_INET6, host, &a6) != 1)
                        return false;
                if (IN6_IS_ADDR_LOOPBACK(&a6))
                        return true;
                return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
        }
        if (strcasecmp(host, "localhost") == 0)
                return true;
        /* inet_pton() takes dotted quads only, so "127.1", octal and hex
         * spellings (which resolvers may read differently) are not
         * loopback here and get refused. */
        return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/*
 * Split the authority [start, end) of a URL into host (without brackets)
 * and port.  Returns false when the host is empty or has characters a host
 * name or IPv6 literal cannot have (percent-encoding and zone ids included,
 * so nothing can dress up a remote name as a loopback one).
 */
static bool url_host(const char *start, const char *end, char *host, size_t hostlen,
                     bool *ret_bracketed, const char **ret_port)
{
        const char *h, *port = NULL, *close, *colon;
        bool bracketed = *start == '[';
        struct in6_addr a6;
        size_t n;

        if (bracketed) {
                close = memchr(start, ']', (size_t) (end - start));
                if (!close)
                        return false;
                h = start + 1;
                n = (size_t) (close - h);
                if (close + 1 < end) {
                        if (close[1] != ':')
                                return false;
                        port = close + 2;
                }
        } else {
                colon = memchr(start, ':', (size_t) (end - start));
                h = start;
                n = (size_t) ((colon ? colon : end) - h);
                if (colon)
                        port = colon + 1;
        }
        if (n == 0 || n >= hostlen)
                return false;
        memcpy(host, h, n);
        host[n] = '\0';

        if (bracketed) {
                if (inet_pton(AF_INET6, host, &a6) != 1)
                        return false;
        } else if (strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") != n)
                return false;

        *ret_bracketed = bracketed;
        *ret_port = port;
        return true;
}

/* A port [port, end): 1..65535 in plain decimal. */
static bool url_port(const char *port, const char *end)
{
        size_t n = (size_t) (end - port), i;
        unsigned long v = 0;

        if (n == 0 || n > 5)
                return false;
        for (i = 0; i < n; i++) {
                if (port[i] < '0' || port[i] > '9')
                        return false;
                v = v * 10 + (unsigned long) (port[i] - '0');
        }
        return v >= 1 && v <= 65535;
}

static int parse_url(const struct key_def *k, const char *value, void *field,
                     char *msg, size_t msglen)
{
        char host[URL_MAX + 1];
        const char *authority, *end, *port = NULL;
        size_t n = strlen(value);
        bool https, bracketed = false;
        char *copy;

        if (n == 0) {
                snprintf(msg, msglen, "must not be empty");
                return -EINVAL;
        }
        if (n > URL_MAX) {
                snprintf(msg, msglen, "URL is longer than %u bytes", URL_MAX);
                return -EINVAL;
        }
        /* Plain printable ASCII only: an IDN must be given in punycode,
         * and '\\' is refused because some URL parsers treat it as '/'. */
        if (!neostra_text_valid(value, n, NEOSTRA_TEXT_ASCII | NEOSTRA_TEXT_NO_SPACE) ||
            strchr(value, '\\')) {
                snprintf(msg, msglen, "'%s' contains a space, control or non-ASCII character", value);
                return -EINVAL;
        }
        /* The sign-in path is appended to the URL, so a query or fragment
         * here would swallow it. */
        if (strchr(value, '#') || strchr(value, '?')) {
                snprintf(msg, msglen,
                         "'%s' must not contain a query or fragment ('?' or '#')", value);
                return -EINVAL;
        }

        if (strncasecmp(value, "https://", 8) == 0)
                https = true, authority = value + 8;
        else if (strncasecmp(value, "http://", 7) == 0)
                https = false, authority = value + 7;
        else {
                snprintf(msg, msglen, "'%s' must start with https:// (or http:// to a loopback address)",
                         value);
                return -EINVAL;
        }

        end = authority + strcspn(authority, "/");
        if (memchr(authority, '@', (size_t) (end - authority))) {
                snprintf(msg, msglen, "'%s' must not contain user credentials (user@host)", value);
                return -EINVAL;
        }
        if (!url_host(authority, end, host, sizeof(host), &bracketed, &port)) {
                snprintf(msg, msglen, "'%s' has no valid host name", value);
                return -EINVAL;
        }
        if (port && !url_port(port, end)) {
                snprintf(msg, msglen, "'%s' has an invalid port", value);
                return -EINVAL;
        }
        if (!https && !is_loopback_host(host, bracketed)) {
                snprintf(msg, msglen,
                         "'%s': http:// is only allowed to a loopback address (127.0.0.0/8, [::1], "
                         "localhost); use https://", value);
                return -EINVAL;
        }

        /* The sign-in path is appended as it is, so drop trailing slashes
         * rather than sending "//api/v1/...". */
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        while (n > (size_t) (end - value) && copy[n - 1] == '/')
                copy[--n] = '\0';
        free(*(char **) field);
        *(char **) field = copy;
        return 0;
}

/*
 * Split a list value on blanks and commas into a new strv, checking every
 * entry with valid().  An empty value is an empty list.
 */
int conf_split_list(const char *value, bool (*valid)(const char *), const char *what,
                    struct neostra_strv *ret, char *msg, size_t msglen)
{
        struct neostra_strv l = {};
        const char *p = value;
        int r = 0;

        l.v = calloc(1, sizeof(char *));
        if (!l.v)
                return -ENOMEM;

        for (;;) {
                size_t n;
                char *entry, **nv;

                p += strspn(p, " \t,");
                if (*p == '\0')
                        break;
                n = strcspn(p, " \t,");
                if (l.n >= NEOSTRA_CONF_LIST_MAX) {
                        snprintf(msg, msglen, "too many entries (more than %u)", NEOSTRA_CONF_LIST_MAX);
                        r = -E2BIG;
                        goto fail;
                }
                entry = strndup(p, n);
                if (!entry) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (!valid(entry)) {
                        snprintf(msg, msglen, "'%s' is not a valid %s", entry, what);
                        free(entry);
                        r = -EINVAL;
                        goto fail;
                }
                nv = realloc(l.v, (l.n + 2) * sizeof(char *));
                if (!nv) {
                        free(entry);
                        r = -ENOMEM;
                        goto fail;
                }
                l.v = nv;
                l.v[l.n++] = entry;
                l.v[l.n] = NULL;
                p += n;
        }

        *ret = l;
        return 0;

fail:
        strv_clear(&l);
        return r;
}

static int parse_list(const struct key_def *k, const char *value, void *field,
                      bool (*valid)(const char *), const char *what, char *msg, size_t msglen)
{
        struct neostra_strv l;
        int r;

        r = conf_split_list(value, valid, what, &l, msg, msglen);
        if (r < 0)
                return r;
        strv_clear(field);
        *(struct neostra_strv *) field = l;
        return 0;
}

static int parse_login_list(const struct key_def *k, const char *value, void *field,
                            char *msg, size_t msglen)
{
        return parse_list(k, value, field, neostra_valid_login_name, "login name", msg, msglen);
}

/* Local accounts the API may sign in: login names, or "*" alone for every
 * one (a name next to "*" would say nothing; it is more likely a mistake). */
static int parse_local_accounts(const struct key_def *k, const char *value, void *field,
                                char *msg, size_t msglen)
{
        struct neostra_strv l;
        size_t i;
        int r;

        r = conf_split_list(value, neostra_valid_login_name, "login name", &l, msg, msglen);
        if (r < 0)
                return r;
        for (i = 0; l.n > 1 && i < l.n; i++)
                if (streq(l.v[i], "*")) {
                        snprintf(msg, msglen, "'*' (every local account) must be the only entry");
                        strv_clear(&l);
                        return -EINVAL;
                }
        strv_clear(field);
        *(struct neostra_strv *) field = l;
        return 0;
}

/* Set, even to an empty list, it replaces the default (the domain of
 * email_template): conf_split_list() always leaves v non-NULL. */
static int parse_domain_list(const struct key_def *k, const char *value, void *field,
                             char *msg, size_t msglen)
{
        return parse_list(k, value, field, neostra_valid_domain, "domain name", msg, msglen);
}

static int parse_role_list(const struct key_def *k, const char *value, void *field,
                           char *msg, size_t msglen)
{
        return parse_list(k, value, field, neostra_valid_role, "role", msg, msglen);
}

/* ---- the key table -------------------------------------------------------- */

const char *const conf_section_names[N_SECTIONS] = {
        [SECTION_API] = "api",
        [SECTION_USERS] = "users",
        [SECTION_ACCESS] = "access",
        [SECTION_GROUPS] = "groups",
        [SECTION_IDENTITIES] = "identities",
        [SECTION_CACHE] = "cache",
        [SECTION_DAEMON] = "daemon",
};

#define F(field) offsetof(struct neostra_config, field)

const struct key_def conf_keys[] = {
        [K_URL]             = { SECTION_API, "url", parse_url, F(api_url), 0, 0 },
        [K_CONNECT_TIMEOUT] = { SECTION_API, "connect_timeout", parse_duration_field,
                                F(connect_timeout_ms), 1, NEOSTRA_API_TIMEOUT_MAX_MS },
        [K_TIMEOUT]         = { SECTION_API, "timeout", parse_duration_field,
                                F(timeout_ms), 1, NEOSTRA_API_TIMEOUT_MAX_MS },
        [K_MINIMUM_UID]     = { SECTION_USERS, "minimum_uid", parse_uid_field,
                                F(minimum_uid), 0, UINT32_MAX - 1 },
        /* uid_min >= 1000 keeps clear of system users; uid_max stays below
         * 2^31-1 because many tools still store uids in a signed int. */
        [K_UID_MIN]         = { SECTION_IDENTITIES, "uid_min", parse_uid_field,
                                F(uid_min), 1000, INT32_MAX - 1 },
        [K_UID_MAX]         = { SECTION_IDENTITIES, "uid_max", parse_uid_field,
                                F(uid_max), 1000, INT32_MAX - 1 },
        [K_SOCKET]          = { SECTION_DAEMON, "socket", parse_socket_path, F(socket_path), 0, 0 },
        [K_USERDB_SOCKET]   = { SECTION_DAEMON, "userdb_socket", parse_socket_path,
                                F(userdb_socket_path), 0, 0 },

        { SECTION_API, "signin_path", parse_signin_path, F(signin_path), 0, 0 },
        { SECTION_API, "ca_file", parse_optional_path, F(ca_file), 0, 0 },
        { SECTION_API, "pinned_public_key", parse_pins, F(pinned_public_key), 0, 0 },
        { SECTION_API, "refresh_path", parse_optional_url_path, F(refresh_path), 0, 0 },

        { SECTION_USERS, "email_template", parse_email_template, F(email_template), 0, 0 },
        { SECTION_USERS, "exclude", parse_login_list, F(exclude), 0, 0 },
        { SECTION_USERS, "local_accounts", parse_local_accounts, F(local_accounts), 0, 0 },
        { SECTION_USERS, "domains", parse_domain_list, F(domains), 0, 0 },

        { SECTION_ACCESS, "allow_roles", parse_role_list, F(allow_roles), 0, 0 },
        /* Zero would refuse every answer that is not a password sign-in
         * (SSH keys, sudo, setcred) and publish no role groups at all. */
        { SECTION_ACCESS, "account_max_age", parse_duration_field, F(account_max_age_ms),
          1, DURATION_MAX_MS },

        { SECTION_IDENTITIES, "userdb", parse_bool_field, F(userdb), 0, 0 },
        { SECTION_IDENTITIES, "home", parse_home, F(home), 0, 0 },
        { SECTION_IDENTITIES, "shell", parse_path, F(shell), 0, 0 },
        { SECTION_IDENTITIES, "first_login", parse_bool_field, F(first_login), 0, 0 },

        { SECTION_CACHE, "directory", parse_path, F(cache_directory), 0, 0 },
        { SECTION_CACHE, "offline", parse_bool_field, F(offline), 0, 0 },
        /* Zero would make offline = yes do nothing; say offline = no instead. */
        { SECTION_CACHE, "offline_max_age", parse_duration_field, F(offline_max_age_ms),
          1, DURATION_MAX_MS },
        /* Zero would answer from the verifier before the API had any
         * chance to say no, so a disabled account could still log in. */
        { SECTION_CACHE, "offline_after", parse_duration_field, F(offline_after_ms),
          1, DURATION_MAX_MS },
        { SECTION_CACHE, "cached_auth_timeout", parse_duration_field, F(cached_auth_timeout_ms),
          0, DURATION_MAX_MS },
        { SECTION_CACHE, "max_failures", parse_unsigned_field, F(max_failures), 1, UINT_MAX },

        { SECTION_DAEMON, "user", parse_daemon_user, F(user), 0, 0 },
};

#undef F

_Static_assert(ELEMENTSOF(conf_keys) == N_KEYS, "N_KEYS in conf-internal.h must count conf_keys[]");
