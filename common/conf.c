/* SPDX-License-Identifier: MIT */
/*
 * neostrad.conf: defaults, the INI reader, per-key validation and the
 * checks that need more than one key.
 *
 * Reading order is the main file, then <file>.d/<name>.conf in strcmp() order.
 * Within one file a key may be set only once (a second assignment is almost
 * always an editing mistake, and silently taking the last one hides it);
 * across files a later assignment replaces the earlier one, lists and
 * [groups] entries included, which is what drop-ins are for.  The first
 * error stops the load; it is reported as one line "file:line: message" and
 * the caller gets nothing.
 *
 * Values are taken literally: there are no quotes, no inline comments (a
 * certificate pin may contain '#'-free base64 but URLs and templates are
 * easier to reason about when nothing is ever stripped from the middle of a
 * line) and no escapes except %u and %% in templates.
 *
 * What a login name, an email address or a role may be is common/names.c's
 * to say, and which characters any value may hold is common/text.c's.
 */
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define streq(a, b) (strcmp((a), (b)) == 0)
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Durations end up as microseconds on the sd-event loop; keep that
 * conversion overflow-free for every value we accept. */
#define DURATION_MAX_MS (UINT64_MAX / 1000u)

/* Longest URL we accept: far beyond any real API base URL. */
#define URL_MAX 2048u
/* Uids systemd and the kernel treat specially: nobody and (uid_t) 65535. */
#define UID_NOBODY 65534u
#define UID_INVALID16 65535u

/* ---- small helpers ------------------------------------------------------ */

static bool is_blank(char ch)
{
        return ch == ' ' || ch == '\t';
}

static char *trim(char *s)
{
        size_t n;

        while (is_blank(*s))
                s++;
        n = strlen(s);
        while (n > 0 && is_blank(s[n - 1]))
                s[--n] = '\0';
        return s;
}

static void strv_clear(struct neostra_strv *s)
{
        size_t i;

        if (!s)
                return;
        if (s->v)
                for (i = 0; i < s->n; i++)
                        free(s->v[i]);
        free(s->v);
        s->v = NULL;
        s->n = 0;
}

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

static int replace_string(char **field, const char *value)
{
        char *copy = NULL;

        if (value) {
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
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

/* ---- per-key parsers ----------------------------------------------------- */

/*
 * A parser checks one value and stores it in the field at k->offset.  On a
 * bad value it returns a negative errno and leaves the field alone, with a
 * human explanation in msg (the caller adds file, line, section and key).
 */
struct key_def;
typedef int (*value_parser)(const struct key_def *k, const char *value, void *field,
                            char *msg, size_t msglen);

struct key_def {
        int section;
        const char *name;
        value_parser parse;
        size_t offset;
        unsigned long long min, max;    /* numbers and durations */
};

/*
 * The line was checked as UTF-8 already (check_line_bytes()); to the
 * kernel a path is bytes, so here only the bytes that would break it as a
 * value are refused: blanks and control characters.
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
static int split_list(const char *value, bool (*valid)(const char *), const char *what,
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

        r = split_list(value, valid, what, &l, msg, msglen);
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

static int parse_role_list(const struct key_def *k, const char *value, void *field,
                           char *msg, size_t msglen)
{
        return parse_list(k, value, field, neostra_valid_role, "role", msg, msglen);
}

/* ---- the key table -------------------------------------------------------- */

enum {
        SECTION_API,
        SECTION_USERS,
        SECTION_ACCESS,
        SECTION_GROUPS,
        SECTION_IDENTITIES,
        SECTION_CACHE,
        SECTION_DAEMON,
        N_SECTIONS,
};

static const char *const section_names[N_SECTIONS] = {
        [SECTION_API] = "api",
        [SECTION_USERS] = "users",
        [SECTION_ACCESS] = "access",
        [SECTION_GROUPS] = "groups",
        [SECTION_IDENTITIES] = "identities",
        [SECTION_CACHE] = "cache",
        [SECTION_DAEMON] = "daemon",
};

/* Indexes into keys[] that the cross-key checks need to point at. */
enum {
        K_URL,
        K_CONNECT_TIMEOUT,
        K_TIMEOUT,
        K_MINIMUM_UID,
        K_UID_MIN,
        K_UID_MAX,
        K_SOCKET,
        K_USERDB_SOCKET,
        K_OTHER,
};

#define F(field) offsetof(struct neostra_config, field)

static const struct key_def keys[] = {
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

        { SECTION_ACCESS, "allow_roles", parse_role_list, F(allow_roles), 0, 0 },

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

#define N_KEYS ELEMENTSOF(keys)

/* ---- the reader ---------------------------------------------------------- */

/* Where a setting came from: files[file], line; line 0 = the default. */
struct loc {
        unsigned file;
        unsigned line;
};

struct parser {
        struct neostra_config *c;
        char *files[1 + NEOSTRA_CONF_DROPINS_MAX];
        unsigned n_files;
        struct loc key_loc[N_KEYS];
        struct loc *group_loc;          /* parallel to c->groups */
        size_t groups_cap;
        char *err;
        size_t errlen;
};

/*
 * Record the error as "path:line: message" ("path: message" when line is
 * 0) and return r, so call sites read "return fail_at(...)".
 */
__attribute__((format(printf, 5, 6)))
static int fail_at(struct parser *p, const char *path, unsigned line, int r, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        if (!p->err || p->errlen == 0)
                return r;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (line > 0)
                snprintf(p->err, p->errlen, "%s:%u: %s", path, line, msg);
        else
                snprintf(p->err, p->errlen, "%s: %s", path, msg);
        return r;
}

#define fail_line(p, file, line, r, ...) fail_at((p), (p)->files[(file)], (line), (r), __VA_ARGS__)

static int fail_errno_at(struct parser *p, const char *path, int r)
{
        char buf[128];

        return fail_at(p, path, 0, r, "%s", strerror_r(-r, buf, sizeof(buf)));
}

#define fail_errno(p, file, r) fail_errno_at((p), (p)->files[(file)], (r))

static int set_group(struct parser *p, unsigned file, unsigned line, const char *role,
                     const char *value)
{
        struct neostra_config *c = p->c;
        struct neostra_strv l;
        char msg[512] = "";
        size_t i;
        int r;

        if (!neostra_valid_role(role))
                return fail_line(p, file, line, -EINVAL,
                                 "[groups] role '%s' is not valid (1..%u bytes, no control characters)",
                                 role, NEOSTRA_ROLE_MAX);

        for (i = 0; i < c->n_groups; i++)
                if (streq(c->groups[i].role, role))
                        break;
        if (i < c->n_groups && p->group_loc[i].file == file)
                return fail_line(p, file, line, -EINVAL,
                                 "duplicate key '%s' in [groups] (first set on line %u)",
                                 role, p->group_loc[i].line);

        r = split_list(value, neostra_valid_unix_name, "group name", &l, msg, sizeof(msg));
        if (r == -ENOMEM)
                return fail_errno(p, file, r);
        if (r < 0)
                return fail_line(p, file, line, r, "[groups] %s: %s", role, msg);
        if (l.n == 0) {
                strv_clear(&l);
                return fail_line(p, file, line, -EINVAL, "[groups] %s: needs at least one group name",
                                 role);
        }

        if (i < c->n_groups) {
                /* A drop-in replaces the mapping but keeps its place in the
                 * table, so the order groups come out in stays stable. */
                strv_clear(&c->groups[i].groups);
                c->groups[i].groups = l;
        } else {
                if (c->n_groups == p->groups_cap) {
                        size_t cap = p->groups_cap ? p->groups_cap * 2 : 8;
                        struct neostra_group_map *ng;
                        struct loc *nl;

                        ng = realloc(c->groups, cap * sizeof(*ng));
                        if (ng)
                                c->groups = ng;
                        nl = ng ? realloc(p->group_loc, cap * sizeof(*nl)) : NULL;
                        if (nl)
                                p->group_loc = nl;
                        if (!ng || !nl) {
                                strv_clear(&l);
                                return fail_errno(p, file, -ENOMEM);
                        }
                        p->groups_cap = cap;
                }
                c->groups[i].role = strdup(role);
                if (!c->groups[i].role) {
                        strv_clear(&l);
                        return fail_errno(p, file, -ENOMEM);
                }
                c->groups[i].groups = l;
                c->n_groups++;
        }
        p->group_loc[i] = (struct loc) { file, line };
        return 0;
}

static int parse_line(struct parser *p, unsigned file, unsigned line, char *text, int *section)
{
        char msg[1536] = "";
        const struct key_def *k = NULL;
        char *s, *eq, *key, *value;
        size_t i, n;
        int r;

        s = trim(text);
        if (*s == '\0' || *s == '#' || *s == ';')
                return 0;

        if (*s == '[') {
                n = strlen(s);
                if (s[n - 1] != ']')
                        return fail_line(p, file, line, -EINVAL, "invalid section header '%s'", s);
                s[n - 1] = '\0';
                s = trim(s + 1);
                for (i = 0; i < N_SECTIONS; i++)
                        if (streq(s, section_names[i])) {
                                *section = (int) i;
                                return 0;
                        }
                return fail_line(p, file, line, -EINVAL, "unknown section [%s]", s);
        }

        eq = strchr(s, '=');
        if (!eq)
                return fail_line(p, file, line, -EINVAL,
                                 "expected 'key = value' or '[section]', got '%s'", s);
        *eq = '\0';
        key = trim(s);
        value = trim(eq + 1);
        if (*key == '\0')
                return fail_line(p, file, line, -EINVAL, "missing key before '='");
        if (*section < 0)
                return fail_line(p, file, line, -EINVAL, "key '%s' outside of any section", key);

        if (*section == SECTION_GROUPS)
                return set_group(p, file, line, key, value);

        for (i = 0; i < N_KEYS; i++)
                if (keys[i].section == *section && streq(keys[i].name, key)) {
                        k = &keys[i];
                        break;
                }
        if (!k)
                return fail_line(p, file, line, -EINVAL, "unknown key '%s' in [%s]", key,
                                 section_names[*section]);

        if (p->key_loc[i].line > 0 && p->key_loc[i].file == file)
                return fail_line(p, file, line, -EINVAL,
                                 "duplicate key '%s' in [%s] (first set on line %u)",
                                 key, section_names[*section], p->key_loc[i].line);

        r = k->parse(k, value, (char *) p->c + k->offset, msg, sizeof(msg));
        if (r == -ENOMEM)
                return fail_errno(p, file, r);
        if (r < 0)
                return fail_line(p, file, line, r, "[%s] %s: %s", section_names[*section], key, msg);

        p->key_loc[i] = (struct loc) { file, line };
        return 0;
}

/*
 * Why a line is unacceptable before we look at its meaning, or NULL: the
 * first thing wrong in it decides.  A tab is a blank here (it indents,
 * separates key from value and list entries); no other control character
 * has a place in a config file, C1 included.
 */
static const char *check_line_bytes(const char *s, size_t n)
{
        size_t i = neostra_text_span(s, n, NEOSTRA_TEXT_TAB | NEOSTRA_TEXT_NO_C1);

        if (i == n)
                return NULL;
        if (s[i] == '\0')
                return "NUL byte";
        if (neostra_utf8_decode(s + i, n - i, NULL) == 0)
                return "invalid UTF-8";
        return "control character";
}

static int parse_buffer(struct parser *p, unsigned file, const char *buf, size_t len)
{
        char line[NEOSTRA_CONF_LINE_MAX + 1];
        int section = -1;
        unsigned line_no = 0;
        size_t pos = 0;
        int r;

        /* Tolerate the byte order mark some editors write. */
        if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
                pos = 3;

        while (pos < len) {
                const char *start = buf + pos, *nl, *why;
                size_t n;

                line_no++;
                nl = memchr(start, '\n', len - pos);
                n = nl ? (size_t) (nl - start) : len - pos;
                pos += n + (nl ? 1 : 0);
                if (n > 0 && start[n - 1] == '\r')
                        n--;

                if (n > NEOSTRA_CONF_LINE_MAX)
                        return fail_line(p, file, line_no, -EINVAL, "line too long (more than %u bytes)",
                                         NEOSTRA_CONF_LINE_MAX);
                why = check_line_bytes(start, n);
                if (why)
                        return fail_line(p, file, line_no, -EINVAL, "%s in line", why);

                memcpy(line, start, n);
                line[n] = '\0';
                r = parse_line(p, file, line_no, line, &section);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_all(int fd, char **ret, size_t *ret_len)
{
        size_t len = 0, cap = 4096;
        char *buf, *nb;

        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (len == cap) {
                        if (cap > NEOSTRA_CONF_FILE_MAX) {
                                free(buf);
                                return -EFBIG;
                        }
                        cap = cap * 2 > NEOSTRA_CONF_FILE_MAX + 1 ? NEOSTRA_CONF_FILE_MAX + 1 : cap * 2;
                        nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                k = read(fd, buf + len, cap - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        k = -errno;
                        free(buf);
                        return (int) k;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > NEOSTRA_CONF_FILE_MAX) {
                free(buf);
                return -EFBIG;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int check_owner(struct parser *p, unsigned file, const struct stat *st, const char *what)
{
        if (st->st_uid != 0)
                return fail_line(p, file, 0, -EPERM, "%s is not owned by root (uid %u), refusing to use it",
                                 what, (unsigned) st->st_uid);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return fail_line(p, file, 0, -EPERM,
                                 "%s is writable by group or others (mode %04o), refusing to use it",
                                 what, (unsigned) (st->st_mode & 07777));
        return 0;
}

static int add_file_name(struct parser *p, const char *dir, const char *name, unsigned *ret)
{
        char *s;

        if (dir) {
                if (asprintf(&s, "%s/%s", dir, name) < 0)
                        return -ENOMEM;
        } else {
                s = strdup(name);
                if (!s)
                        return -ENOMEM;
        }
        p->files[p->n_files] = s;
        *ret = p->n_files++;
        return 0;
}

/*
 * Read and parse one file.  The main file (dirfd == AT_FDCWD) must exist
 * and be a regular file; symlinks are followed because hosts commonly link
 * the config from a managed location, and the ownership checks look at
 * what was actually opened.  A drop-in that is not a regular file (a
 * directory, or a link to /dev/null masking it) is skipped.
 */
static int load_file(struct parser *p, int dirfd, const char *dir, const char *name, bool safe)
{
        bool dropin = dirfd != AT_FDCWD;
        char *buf = NULL;
        struct stat st;
        unsigned file;
        size_t len = 0;
        int fd = -1, r;

        r = add_file_name(p, dir, name, &file);
        if (r < 0)
                return fail_errno_at(p, name, r);

        if (dropin) {
                /* Look before opening, so a FIFO never blocks us. */
                if (fstatat(dirfd, name, &st, 0) < 0) {
                        r = fail_errno(p, file, -errno);
                        goto done;
                }
                if (!S_ISREG(st.st_mode)) {
                        r = 0;
                        goto done;
                }
        }

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = fail_errno(p, file, -errno);
                goto done;
        }
        if (fstat(fd, &st) < 0) {
                r = fail_errno(p, file, -errno);
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                r = dropin ? 0 : fail_line(p, file, 0, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
                                           "not a regular file");
                goto done;
        }
        if (safe) {
                r = check_owner(p, file, &st, "file");
                if (r < 0)
                        goto done;
        }

        r = read_all(fd, &buf, &len);
        if (r == -EFBIG) {
                r = fail_line(p, file, 0, r, "file too large (more than %u bytes)", NEOSTRA_CONF_FILE_MAX);
                goto done;
        }
        if (r < 0) {
                r = fail_errno(p, file, r);
                goto done;
        }

        r = parse_buffer(p, file, buf, len);

done:
        free(buf);
        if (fd >= 0)
                close(fd);
        return r;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool dropin_name(const char *name)
{
        size_t n = strlen(name);

        /* Hidden files are editor and package-manager leftovers. */
        return name[0] != '.' && n > 5 && streq(name + n - 5, ".conf");
}

static int load_dropins(struct parser *p, const char *path, bool safe)
{
        char **names = NULL, *dir = NULL;
        size_t n_names = 0, i;
        struct dirent *de;
        struct stat st;
        DIR *d = NULL;
        int fd, r;

        if (asprintf(&dir, "%s.d", path) < 0)
                return fail_errno_at(p, path, -ENOMEM);

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                r = errno == ENOENT ? 0 : fail_errno_at(p, dir, -errno);
                goto done;
        }
        d = fdopendir(fd);
        if (!d) {
                r = fail_errno_at(p, dir, -errno);
                close(fd);
                goto done;
        }
        if (safe) {
                if (fstat(fd, &st) < 0) {
                        r = fail_errno_at(p, dir, -errno);
                        goto done;
                }
                if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
                        r = fail_at(p, dir, 0, -EPERM,
                                    "drop-in directory is not owned by root or is writable by "
                                    "group or others (uid %u, mode %04o), refusing to use it",
                                    (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
                        goto done;
                }
        }

        names = calloc(NEOSTRA_CONF_DROPINS_MAX, sizeof(char *));
        if (!names) {
                r = fail_errno_at(p, dir, -ENOMEM);
                goto done;
        }
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                r = fail_errno_at(p, dir, -errno);
                                goto done;
                        }
                        break;
                }
                if (!dropin_name(de->d_name))
                        continue;
                if (n_names >= NEOSTRA_CONF_DROPINS_MAX) {
                        r = fail_at(p, dir, 0, -E2BIG, "too many drop-ins (more than %u)",
                                    NEOSTRA_CONF_DROPINS_MAX);
                        goto done;
                }
                names[n_names] = strdup(de->d_name);
                if (!names[n_names]) {
                        r = fail_errno_at(p, dir, -ENOMEM);
                        goto done;
                }
                n_names++;
        }
        qsort(names, n_names, sizeof(char *), cmp_names);

        for (i = 0; i < n_names; i++) {
                r = load_file(p, dirfd(d), dir, names[i], safe);
                if (r < 0)
                        goto done;
        }
        r = 0;

done:
        if (names)
                for (i = 0; i < n_names; i++)
                        free(names[i]);
        free(names);
        if (d)
                closedir(d);
        free(dir);
        return r;
}

/* The later of two settings, which is the one to blame for a conflict. */
static struct loc later(struct loc a, struct loc b)
{
        if (a.line == 0)
                return b;
        if (b.line == 0)
                return a;
        if (a.file != b.file)
                return a.file > b.file ? a : b;
        return a.line > b.line ? a : b;
}

static int validate(struct parser *p)
{
        const struct neostra_config *c = p->c;
        struct loc l;

        if (c->timeout_ms < c->connect_timeout_ms) {
                l = later(p->key_loc[K_TIMEOUT], p->key_loc[K_CONNECT_TIMEOUT]);
                return fail_line(p, l.file, l.line, -EINVAL,
                                 "[api] timeout (%llu ms) is shorter than connect_timeout (%llu ms)",
                                 (unsigned long long) c->timeout_ms,
                                 (unsigned long long) c->connect_timeout_ms);
        }

        if (c->uid_min > c->uid_max) {
                l = later(p->key_loc[K_UID_MIN], p->key_loc[K_UID_MAX]);
                return fail_line(p, l.file, l.line, -EINVAL,
                                 "[identities] uid_min (%u) is greater than uid_max (%u)",
                                 (unsigned) c->uid_min, (unsigned) c->uid_max);
        }
        if (c->uid_min <= UID_INVALID16 && c->uid_max >= UID_NOBODY) {
                l = later(p->key_loc[K_UID_MIN], p->key_loc[K_UID_MAX]);
                return fail_line(p, l.file, l.line, -EINVAL,
                                 "[identities] uid range %u..%u includes 65534 (nobody) or 65535",
                                 (unsigned) c->uid_min, (unsigned) c->uid_max);
        }
        /* Otherwise our own users would look like system accounts to the
         * PAM module, which never sends those to the API. */
        if (c->uid_min < c->minimum_uid) {
                l = later(p->key_loc[K_UID_MIN], p->key_loc[K_MINIMUM_UID]);
                return fail_line(p, l.file, l.line, -EINVAL,
                                 "[identities] uid_min (%u) is below [users] minimum_uid (%u)",
                                 (unsigned) c->uid_min, (unsigned) c->minimum_uid);
        }

        if (streq(c->socket_path, c->userdb_socket_path)) {
                l = later(p->key_loc[K_SOCKET], p->key_loc[K_USERDB_SOCKET]);
                return fail_line(p, l.file, l.line, -EINVAL,
                                 "[daemon] socket and userdb_socket are the same path");
        }
        return 0;
}

int neostra_config_load(const char *path, bool require_safe_owner,
                        struct neostra_config **ret, char *err, size_t errlen)
{
        struct parser p = { .err = err, .errlen = errlen };
        size_t i;
        int r;

        if (err && errlen > 0)
                err[0] = '\0';
        if (!ret)
                return -EINVAL;
        if (!path)
                path = NEOSTRA_DEFAULT_CONFIG;
        if (*path == '\0' || strnlen(path, PATH_MAX) + 2 >= PATH_MAX) {
                if (err && errlen > 0)
                        snprintf(err, errlen, "invalid configuration file name");
                return -EINVAL;
        }

        r = neostra_config_new_default(&p.c);
        if (r >= 0)
                r = replace_string(&p.c->path, path);
        if (r < 0) {
                fail_errno_at(&p, path, r);
                goto done;
        }

        r = load_file(&p, AT_FDCWD, NULL, path, require_safe_owner);
        if (r < 0)
                goto done;
        r = load_dropins(&p, path, require_safe_owner);
        if (r < 0)
                goto done;
        r = validate(&p);
        if (r < 0)
                goto done;

        *ret = p.c;
        p.c = NULL;

done:
        neostra_config_free(p.c);
        for (i = 0; i < p.n_files; i++)
                free(p.files[i]);
        free(p.group_loc);
        return r;
}
