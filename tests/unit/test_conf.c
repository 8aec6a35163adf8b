/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the config parser (common/conf.c, conf-keys.c and
 * conf-load.c).  Every test works in its own mkdtemp() directory, removed
 * again in teardown.  The ownership tests need root to chown files; without
 * it they report themselves skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "neostra/conf.h"
#include "neostra/protocol.h"

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Tests that expect a failure check that *ret was left alone. */
static struct neostra_config sentinel;

struct fixture {
        char dir[64];
        char main[128];
        char dropins[128];
        char err[1024];
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        strcpy(f->dir, "/tmp/test_conf.XXXXXX");
        if (!mkdtemp(f->dir)) {
                free(f);
                return -1;
        }
        snprintf(f->main, sizeof(f->main), "%s/neostrad.conf", f->dir);
        snprintf(f->dropins, sizeof(f->dropins), "%s/neostrad.conf.d", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* Files are created root-owned 0644 so require_safe_owner accepts them. */
static void write_bytes(const char *path, const char *data, size_t len, mode_t mode)
{
        int fd;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
}

static void write_main(struct fixture *f, const char *text)
{
        write_bytes(f->main, text, strlen(text), 0644);
}

static void write_dropin(struct fixture *f, const char *name, const char *text)
{
        char path[PATH_MAX];

        mkdir(f->dropins, 0755);
        snprintf(path, sizeof(path), "%s/%s", f->dropins, name);
        write_bytes(path, text, strlen(text), 0644);
}

/* Owner checks only make sense (and only pass) when we can own as root. */
static bool safe(void)
{
        return geteuid() == 0;
}

static struct neostra_config *load_ok(struct fixture *f)
{
        struct neostra_config *c = NULL;
        int r;

        r = neostra_config_load(f->main, safe(), &c, f->err, sizeof(f->err));
        if (r != 0)
                print_error("unexpected error %d: %s\n", r, f->err);
        assert_int_equal(r, 0);
        assert_non_null(c);
        assert_string_equal(f->err, "");
        return c;
}

/* Load, expect r, and compare the message with "<main>:<suffix>". */
static void load_fail(struct fixture *f, int expect_r, const char *suffix)
{
        struct neostra_config *c = &sentinel;
        char want[2048];
        int r;

        r = neostra_config_load(f->main, safe(), &c, f->err, sizeof(f->err));
        if (r != expect_r)
                print_error("expected %d, got %d: %s\n", expect_r, r, f->err);
        assert_int_equal(r, expect_r);
        assert_ptr_equal(c, &sentinel);
        snprintf(want, sizeof(want), "%s%s", f->main, suffix);
        assert_string_equal(f->err, want);
}

#define URL "[api]\nurl = https://api.neostra.example\n"

/* ---- defaults and full parse ------------------------------------------- */

static void check_defaults(const struct neostra_config *c)
{
        assert_string_equal(c->signin_path, "/api/v1/auth/signin");
        assert_int_equal(c->connect_timeout_ms, 3000);
        assert_int_equal(c->timeout_ms, 10000);
        assert_null(c->ca_file);
        assert_null(c->pinned_public_key);
        assert_null(c->refresh_path);
        assert_string_equal(c->email_template, "%u");
        assert_int_equal(c->minimum_uid, 1000);
        assert_int_equal(c->exclude.n, 0);
        assert_int_equal(c->local_accounts.n, 0);
        /* Unset, or shown empty as the shipped file does: no name with
         * '@' is accepted with email_template = %u either way. */
        assert_int_equal(c->domains.n, 0);
        assert_false(neostra_domain_accepted(c, "alice@example.com"));
        assert_int_equal(c->allow_roles.n, 0);
        assert_int_equal(c->account_max_age_ms, 7ull * 24 * 3600 * 1000);
        assert_int_equal(c->n_groups, 0);
        assert_true(c->userdb);
        assert_int_equal(c->uid_min, 200000);
        assert_int_equal(c->uid_max, 299999);
        assert_string_equal(c->home, "/home/%u");
        assert_string_equal(c->shell, "/bin/bash");
        assert_true(c->first_login);
        assert_string_equal(c->cache_directory, "/var/lib/neostra");
        assert_true(c->offline);
        assert_int_equal(c->offline_max_age_ms, 7ull * 24 * 3600 * 1000);
        assert_int_equal(c->offline_after_ms, 5000);
        assert_int_equal(c->cached_auth_timeout_ms, 0);
        assert_int_equal(c->max_failures, 5);
        assert_string_equal(c->socket_path, NEOSTRA_DEFAULT_SOCKET);
        assert_string_equal(c->userdb_socket_path, NEOSTRA_DEFAULT_USERDB_SOCKET);
        assert_string_equal(c->user, "neostra");
}

static void test_defaults(void **state)
{
        struct neostra_config *c = NULL;

        assert_int_equal(neostra_config_new_default(&c), 0);
        assert_null(c->api_url);
        assert_string_equal(c->path, NEOSTRA_DEFAULT_CONFIG);
        check_defaults(c);
        neostra_config_free(c);
        neostra_config_free(NULL);
}

static void test_minimal(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        write_main(f, URL);
        c = load_ok(f);
        assert_string_equal(c->api_url, "https://api.neostra.example");
        assert_string_equal(c->path, f->main);
        check_defaults(c);
        neostra_config_free(c);
}

static void test_every_key(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        write_main(f,
                   "# full config\n"
                   "[api]\n"
                   "url = https://api.neostra.example:8443/base/\n"
                   "signin_path = /v2/signin\n"
                   "connect_timeout = 1500ms\n"
                   "timeout = 20s\n"
                   "ca_file = /etc/ssl/neostra.pem\n"
                   "pinned_public_key = sha256//AAAA+/b=;sha256//BBBB\n"
                   "refresh_path = /v2/refresh\n"
                   "[users]\n"
                   "email_template = %u@corp.example\n"
                   "minimum_uid = 500\n"
                   "exclude = alice, bob\tcarol,,dave\n"
                   "local_accounts = ubuntu, deploy\n"
                   "domains = corp.example Sub-1.Corp.Example\n"
                   "[access]\n"
                   "allow_roles = ADMIN,dev ops\n"
                   "account_max_age = 12h\n"
                   "[groups]\n"
                   "ADMIN = sudo adm\n"
                   "Site Reliability = docker, sudo\n"
                   "[identities]\n"
                   "userdb = no\n"
                   "uid_min = 100000\n"
                   "uid_max = 100999\n"
                   "home = /srv/home/%u\n"
                   "shell = /bin/zsh\n"
                   "first_login = off\n"
                   "[cache]\n"
                   "directory = /var/cache/neostra\n"
                   "offline = FALSE\n"
                   "offline_max_age = 2d\n"
                   "offline_after = 2500ms\n"
                   "cached_auth_timeout = 5m\n"
                   "max_failures = 10\n"
                   "[daemon]\n"
                   "socket = /run/n/auth\n"
                   "userdb_socket = /run/systemd/userdb/io.neostra.test\n"
                   "user = _neostra\n");
        c = load_ok(f);

        assert_string_equal(c->api_url, "https://api.neostra.example:8443/base");
        assert_string_equal(c->signin_path, "/v2/signin");
        assert_int_equal(c->connect_timeout_ms, 1500);
        assert_int_equal(c->timeout_ms, 20000);
        assert_string_equal(c->ca_file, "/etc/ssl/neostra.pem");
        assert_string_equal(c->pinned_public_key, "sha256//AAAA+/b=;sha256//BBBB");
        assert_string_equal(c->refresh_path, "/v2/refresh");
        assert_string_equal(c->email_template, "%u@corp.example");
        assert_int_equal(c->minimum_uid, 500);
        assert_int_equal(c->exclude.n, 4);
        assert_string_equal(c->exclude.v[0], "alice");
        assert_string_equal(c->exclude.v[1], "bob");
        assert_string_equal(c->exclude.v[2], "carol");
        assert_string_equal(c->exclude.v[3], "dave");
        assert_null(c->exclude.v[4]);
        assert_int_equal(c->local_accounts.n, 2);
        assert_string_equal(c->local_accounts.v[0], "ubuntu");
        assert_string_equal(c->local_accounts.v[1], "deploy");
        assert_int_equal(c->domains.n, 2);
        assert_string_equal(c->domains.v[0], "corp.example");
        assert_string_equal(c->domains.v[1], "Sub-1.Corp.Example");
        assert_int_equal(c->allow_roles.n, 3);
        assert_string_equal(c->allow_roles.v[0], "ADMIN");
        assert_string_equal(c->allow_roles.v[1], "dev");
        assert_string_equal(c->allow_roles.v[2], "ops");
        assert_int_equal(c->account_max_age_ms, 12ull * 3600 * 1000);
        assert_int_equal(c->n_groups, 2);
        assert_string_equal(c->groups[0].role, "ADMIN");
        assert_int_equal(c->groups[0].groups.n, 2);
        assert_string_equal(c->groups[0].groups.v[0], "sudo");
        assert_string_equal(c->groups[0].groups.v[1], "adm");
        assert_string_equal(c->groups[1].role, "Site Reliability");
        assert_string_equal(c->groups[1].groups.v[0], "docker");
        assert_string_equal(c->groups[1].groups.v[1], "sudo");
        assert_false(c->userdb);
        assert_int_equal(c->uid_min, 100000);
        assert_int_equal(c->uid_max, 100999);
        assert_string_equal(c->home, "/srv/home/%u");
        assert_string_equal(c->shell, "/bin/zsh");
        assert_false(c->first_login);
        assert_string_equal(c->cache_directory, "/var/cache/neostra");
        assert_false(c->offline);
        assert_int_equal(c->offline_max_age_ms, 2ull * 86400 * 1000);
        assert_int_equal(c->offline_after_ms, 2500);
        assert_int_equal(c->cached_auth_timeout_ms, 300000);
        assert_int_equal(c->max_failures, 10);
        assert_string_equal(c->socket_path, "/run/n/auth");
        assert_string_equal(c->userdb_socket_path, "/run/systemd/userdb/io.neostra.test");
        assert_string_equal(c->user, "_neostra");
        neostra_config_free(c);
}

static void test_syntax_tolerated(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        /* BOM, CRLF, blank and indented comment lines, spaces in headers,
         * '#' and ';' inside values, a section opened twice, no final
         * newline, empty values resetting optional settings. */
        write_main(f,
                   "\xef\xbb\xbf"
                   "  # comment\r\n"
                   "\t; another comment\r\n"
                   "\r\n"
                   "[ api ]\r\n"
                   "\turl\t=\thttps://api.neostra.example/   \r\n"
                   "pinned_public_key = sha256//x;sha256//y\n"
                   "ca_file =\n"
                   "[users]\n"
                   "email_template = %u@example.com\n"
                   "exclude =\n"
                   "[api]\n"
                   "signin_path = /a#b\n"
                   "[daemon]\n"
                   "user =");
        /* '#' in a path is refused by its own validation, not swallowed as a
         * comment: prove the value reached the parser. */
        load_fail(f, -EINVAL, ":12: [api] signin_path: '/a#b' must be a URL path starting with "
                              "'/', without spaces or '#'");

        write_main(f,
                   "\xef\xbb\xbf"
                   "  # comment\r\n"
                   "\t; another comment\r\n"
                   "\r\n"
                   "[ api ]\r\n"
                   "\turl\t=\thttps://api.neostra.example/   \r\n"
                   "pinned_public_key = sha256//x;sha256//y\n"
                   "ca_file =\n"
                   "[users]\n"
                   "email_template = %u@example.com\n"
                   "exclude =\n"
                   "[api]\n"
                   "signin_path = /a;b?c=%41\n"
                   "[daemon]\n"
                   "user =");
        c = load_ok(f);
        assert_string_equal(c->api_url, "https://api.neostra.example");
        assert_string_equal(c->pinned_public_key, "sha256//x;sha256//y");
        assert_null(c->ca_file);
        assert_int_equal(c->exclude.n, 0);
        assert_non_null(c->exclude.v);
        assert_string_equal(c->signin_path, "/a;b?c=%41");
        assert_string_equal(c->user, "");
        neostra_config_free(c);
}

/* ---- errors --------------------------------------------------------------- */

struct bad_case {
        const char *text;
        int r;
        const char *suffix;     /* after the file name */
};

static const struct bad_case bad_cases[] = {
        /* structure */
        { URL "timeoutt = 3\n", -EINVAL, ":3: unknown key 'timeoutt' in [api]" },
        { URL "[api2]\n", -EINVAL, ":3: unknown section [api2]" },
        { URL "[Api]\n", -EINVAL, ":3: unknown section [Api]" },
        { URL "[api\n", -EINVAL, ":3: invalid section header '[api'" },
        { URL "[api] x\n", -EINVAL, ":3: invalid section header '[api] x'" },
        { "url = https://a.example\n", -EINVAL, ":1: key 'url' outside of any section" },
        { URL "just words\n", -EINVAL, ":3: expected 'key = value' or '[section]', got 'just words'" },
        { URL " = 3\n", -EINVAL, ":3: missing key before '='" },
        { URL "[users]\nTimeout = 3\n", -EINVAL, ":4: unknown key 'Timeout' in [users]" },
        { URL "timeout = 4s\n[users]\n[api]\ntimeout = 5s\n", -EINVAL,
          ":6: duplicate key 'timeout' in [api] (first set on line 3)" },
        { URL "[groups]\nadmin = sudo\nadmin = adm\n", -EINVAL,
          ":5: duplicate key 'admin' in [groups] (first set on line 4)" },
        { URL "x\x01y = 1\n", -EINVAL, ":3: control character in line" },
        { URL "signin_path = /\xff\n", -EINVAL, ":3: invalid UTF-8 in line" },
        { URL "signin_path = /\xc0\xaf\n", -EINVAL, ":3: invalid UTF-8 in line" },
        { URL "signin_path = /\xed\xa0\x80\n", -EINVAL, ":3: invalid UTF-8 in line" },
        { URL "signin_path = /\xc2\x85\n", -EINVAL, ":3: control character in line" },
        { URL "signin_path = /a\rb\n", -EINVAL, ":3: control character in line" },

        /* [api] */
        { "[api]\nurl =\n", -EINVAL, ":2: [api] url: must not be empty" },
        { "[api]\nurl = ftp://a.example\n", -EINVAL,
          ":2: [api] url: 'ftp://a.example' must start with https:// (or http:// to a loopback address)" },
        { "[api]\nurl = api.neostra.example\n", -EINVAL,
          ":2: [api] url: 'api.neostra.example' must start with https:// (or http:// to a loopback "
          "address)" },
        { "[api]\nurl = http://example.com\n", -EINVAL,
          ":2: [api] url: 'http://example.com': http:// is only allowed to a loopback address "
          "(127.0.0.0/8, [::1], localhost); use https://" },
        { "[api]\nurl = https://a.example/#x\n", -EINVAL,
          ":2: [api] url: 'https://a.example/#x' must not contain a query or fragment ('?' or '#')" },
        { "[api]\nurl = https://user@a.example\n", -EINVAL,
          ":2: [api] url: 'https://user@a.example' must not contain user credentials (user@host)" },
        { "[api]\nurl = https://a.example:0\n", -EINVAL,
          ":2: [api] url: 'https://a.example:0' has an invalid port" },
        { "[api]\nurl = https://a.example:65536\n", -EINVAL,
          ":2: [api] url: 'https://a.example:65536' has an invalid port" },
        { "[api]\nurl = https://a.example:\n", -EINVAL,
          ":2: [api] url: 'https://a.example:' has an invalid port" },
        { "[api]\nurl = https:///x\n", -EINVAL, ":2: [api] url: 'https:///x' has no valid host name" },
        { "[api]\nurl = https://[::1\n", -EINVAL, ":2: [api] url: 'https://[::1' has no valid host name" },
        { "[api]\nurl = https://a%2e.example\n", -EINVAL,
          ":2: [api] url: 'https://a%2e.example' has no valid host name" },
        { "[api]\nurl = https://a.example\\@b\n", -EINVAL,
          ":2: [api] url: 'https://a.example\\@b' contains a space, control or non-ASCII character" },
        { "[api]\nurl = https://a b\n", -EINVAL,
          ":2: [api] url: 'https://a b' contains a space, control or non-ASCII character" },
        { URL "signin_path = api/signin\n", -EINVAL,
          ":3: [api] signin_path: 'api/signin' must be a URL path starting with '/', without spaces "
          "or '#'" },
        { URL "signin_path =\n", -EINVAL,
          ":3: [api] signin_path: '' must be a URL path starting with '/', without spaces or '#'" },
        { URL "connect_timeout = 0\n", -ERANGE, ":3: [api] connect_timeout: must be greater than 0" },
        { URL "timeout = 0ms\n", -ERANGE, ":3: [api] timeout: must be greater than 0" },
        { URL "timeout = 26s\n", -ERANGE,
          ":3: [api] timeout: '26s' is too long: the PAM module gives up after 30 s, so the API "
          "timeout must be at most 25000 ms" },
        { URL "timeout = 1m\n", -ERANGE,
          ":3: [api] timeout: '1m' is too long: the PAM module gives up after 30 s, so the API "
          "timeout must be at most 25000 ms" },
        { URL "timeout = ten\n", -EINVAL,
          ":3: [api] timeout: 'ten' is not a duration (use e.g. 10, 10s, 250ms, 5m, 2h or 7d)" },
        { URL "timeout = 2s\nconnect_timeout = 3s\n", -EINVAL,
          ":4: [api] timeout (2000 ms) is shorter than connect_timeout (3000 ms)" },
        { URL "timeout = 2s\n", -EINVAL,
          ":3: [api] timeout (2000 ms) is shorter than connect_timeout (3000 ms)" },
        { URL "ca_file = certs/ca.pem\n", -EINVAL, ":3: [api] ca_file: 'certs/ca.pem' is not an absolute path" },
        { URL "pinned_public_key = /etc/key.pem\n", -EINVAL,
          ":3: [api] pinned_public_key: '/etc/key.pem' is not a public key pin (expected "
          "sha256//<base64>[;sha256//<base64>...])" },
        { URL "pinned_public_key = sha256//abc;\n", -EINVAL,
          ":3: [api] pinned_public_key: 'sha256//abc;' is not a public key pin (expected "
          "sha256//<base64>[;sha256//<base64>...])" },
        { URL "pinned_public_key = sha256//\n", -EINVAL,
          ":3: [api] pinned_public_key: 'sha256//' is not a public key pin (expected "
          "sha256//<base64>[;sha256//<base64>...])" },

        /* [users] */
        { URL "[users]\nemail_template = user@example.com\n", -EINVAL,
          ":4: [users] email_template: 'user@example.com' must contain %u exactly once" },
        { URL "[users]\nemail_template = %u.%u@example.com\n", -EINVAL,
          ":4: [users] email_template: '%u.%u@example.com' must contain %u exactly once" },
        { URL "[users]\nemail_template = %u@%d\n", -EINVAL,
          ":4: [users] email_template: '%u@%d' may only use %u (login name) and %% escapes" },
        { URL "[users]\nemail_template = %u@example.com%\n", -EINVAL,
          ":4: [users] email_template: '%u@example.com%' may only use %u (login name) and %% escapes" },
        { URL "[users]\nemail_template = %u.corp\n", -EINVAL,
          ":4: [users] email_template: '%u.corp' does not produce an email address (e.g. "
          "%u@example.com)" },
        { URL "[users]\nemail_template = %u@a@b\n", -EINVAL,
          ":4: [users] email_template: '%u@a@b' does not produce an email address (e.g. "
          "%u@example.com)" },
        { URL "[users]\nminimum_uid = -1\n", -EINVAL,
          ":4: [users] minimum_uid: '-1' is not an unsigned decimal number" },
        { URL "[users]\nminimum_uid = 1000x\n", -EINVAL,
          ":4: [users] minimum_uid: '1000x' is not an unsigned decimal number" },
        { URL "[users]\nminimum_uid = +5\n", -EINVAL,
          ":4: [users] minimum_uid: '+5' is not an unsigned decimal number" },
        { URL "[users]\nminimum_uid = 4294967295\n", -ERANGE,
          ":4: [users] minimum_uid: '4294967295' is out of range (0..4294967294)" },
        { URL "[users]\nminimum_uid = 99999999999999999999999\n", -ERANGE,
          ":4: [users] minimum_uid: '99999999999999999999999' is out of range (0..4294967294)" },
        { URL "[users]\nexclude = ok -bad\n", -EINVAL,
          ":4: [users] exclude: '-bad' is not a valid login name" },
        { URL "[users]\nexclude = a/b\n", -EINVAL,
          ":4: [users] exclude: 'a/b' is not a valid login name" },
        { URL "[users]\nlocal_accounts = ubuntu -bad\n", -EINVAL,
          ":4: [users] local_accounts: '-bad' is not a valid login name" },
        { URL "[users]\nlocal_accounts = ubuntu *\n", -EINVAL,
          ":4: [users] local_accounts: '*' (every local account) must be the only entry" },
        { URL "[users]\nlocal_accounts = *, *\n", -EINVAL,
          ":4: [users] local_accounts: '*' (every local account) must be the only entry" },
        { URL "[users]\ndomains = corp.example under_score.example\n", -EINVAL,
          ":4: [users] domains: 'under_score.example' is not a valid domain name" },
        { URL "[users]\ndomains = @corp.example\n", -EINVAL,
          ":4: [users] domains: '@corp.example' is not a valid domain name" },
        { URL "[users]\ndomains = corp.example.\n", -EINVAL,
          ":4: [users] domains: 'corp.example.' is not a valid domain name" },
        { URL "[users]\ndomains = -corp.example\n", -EINVAL,
          ":4: [users] domains: '-corp.example' is not a valid domain name" },
        { URL "[users]\ndomains = *.corp.example\n", -EINVAL,
          ":4: [users] domains: '*.corp.example' is not a valid domain name" },

        /* [access] and [groups] */
        { URL "[groups]\nadmin =\n", -EINVAL, ":4: [groups] admin: needs at least one group name" },
        { URL "[groups]\nadmin = sudo bad/name\n", -EINVAL,
          ":4: [groups] admin: 'bad/name' is not a valid group name" },
        { URL "[groups]\nadmin = -sudo\n", -EINVAL, ":4: [groups] admin: '-sudo' is not a valid group name" },
        { URL "[groups]\nadmin = 1234\n", -EINVAL, ":4: [groups] admin: '1234' is not a valid group name" },
        { URL "[groups]\nadmin = abcdefghijklmnopqrstuvwxyz0123456\n", -EINVAL,
          ":4: [groups] admin: 'abcdefghijklmnopqrstuvwxyz0123456' is not a valid group name" },

        /* [identities] */
        { URL "[identities]\nuid_min = 999\n", -ERANGE,
          ":4: [identities] uid_min: '999' is out of range (1000..2147483646)" },
        { URL "[identities]\nuid_max = 2147483647\n", -ERANGE,
          ":4: [identities] uid_max: '2147483647' is out of range (1000..2147483646)" },
        { URL "[identities]\nuid_min = 300000\n", -EINVAL,
          ":4: [identities] uid_min (300000) is greater than uid_max (299999)" },
        { URL "[identities]\nuid_min = 60000\nuid_max = 70000\n", -EINVAL,
          ":5: [identities] uid range 60000..70000 includes 65534 (nobody) or 65535" },
        { URL "[identities]\nuid_min = 65535\nuid_max = 65535\n", -EINVAL,
          ":5: [identities] uid range 65535..65535 includes 65534 (nobody) or 65535" },
        { URL "[identities]\nuid_min = 2000\nuid_max = 3000\n[users]\nminimum_uid = 5000\n", -EINVAL,
          ":7: [identities] uid_min (2000) is below [users] minimum_uid (5000)" },
        { URL "[identities]\nhome = home/%u\n", -EINVAL,
          ":4: [identities] home: 'home/%u' is not an absolute path" },
        { URL "[identities]\nhome = /home/%n\n", -EINVAL,
          ":4: [identities] home: '/home/%n' may only use %u (login name) and %% escapes" },
        { URL "[identities]\nshell = bash\n", -EINVAL, ":4: [identities] shell: 'bash' is not an absolute path" },
        { URL "[identities]\nuserdb = maybe\n", -EINVAL,
          ":4: [identities] userdb: 'maybe' is not a boolean (use yes or no)" },
        { URL "[identities]\nfirst_login =\n", -EINVAL,
          ":4: [identities] first_login: '' is not a boolean (use yes or no)" },

        /* [cache] */
        { URL "[cache]\ndirectory = var/lib\n", -EINVAL, ":4: [cache] directory: 'var/lib' is not an absolute path" },
        { URL "[cache]\noffline = y\n", -EINVAL, ":4: [cache] offline: 'y' is not a boolean (use yes or no)" },
        { URL "[cache]\noffline_max_age = 0\n", -ERANGE, ":4: [cache] offline_max_age: must be greater than 0" },
        { URL "[access]\naccount_max_age = 0\n", -ERANGE, ":4: [access] account_max_age: must be greater than 0" },
        { URL "[access]\naccount_max_age = a week\n", -EINVAL,
          ":4: [access] account_max_age: 'a week' is not a duration (use e.g. 10, 10s, 250ms, 5m, 2h or 7d)" },
        { URL "[cache]\noffline_after = 0s\n", -ERANGE, ":4: [cache] offline_after: must be greater than 0" },
        { URL "[cache]\noffline_max_age = -1d\n", -EINVAL,
          ":4: [cache] offline_max_age: '-1d' is not a duration (use e.g. 10, 10s, 250ms, 5m, 2h or 7d)" },
        { URL "[cache]\ncached_auth_timeout = 99999999999999999999d\n", -ERANGE,
          ":4: [cache] cached_auth_timeout: duration '99999999999999999999d' is out of range" },
        { URL "[cache]\nmax_failures = 0\n", -ERANGE,
          ":4: [cache] max_failures: '0' is out of range (1..4294967295)" },

        /* [daemon] */
        { URL "[daemon]\nsocket = run/x\n", -EINVAL, ":4: [daemon] socket: 'run/x' is not an absolute path" },
        { URL "[daemon]\nuserdb_socket = /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", -ENAMETOOLONG,
          ":4: [daemon] userdb_socket: socket path is longer than 107 bytes" },
        { URL "[daemon]\nsocket = /run/x\nuserdb_socket = /run/x\n", -EINVAL,
          ":5: [daemon] socket and userdb_socket are the same path" },
        { URL "[daemon]\nuser = bad user\n", -EINVAL, ":4: [daemon] user: 'bad user' is not a valid user name" },
};

static void test_bad_values(void **state)
{
        struct fixture *f = *state;
        size_t i;

        for (i = 0; i < ELEMENTSOF(bad_cases); i++) {
                write_main(f, bad_cases[i].text);
                load_fail(f, bad_cases[i].r, bad_cases[i].suffix);
        }
}

static void test_nul_byte(void **state)
{
        struct fixture *f = *state;
        static const char text[] = URL "signin_path = /a\0b\n";

        write_bytes(f->main, text, sizeof(text) - 1, 0644);
        load_fail(f, -EINVAL, ":3: NUL byte in line");
}

static void test_role_limits(void **state)
{
        struct fixture *f = *state;
        char text[1024], role[NEOSTRA_ROLE_MAX + 2], want[1024];
        struct neostra_config *c;

        memset(role, 'r', NEOSTRA_ROLE_MAX);
        role[NEOSTRA_ROLE_MAX] = '\0';
        snprintf(text, sizeof(text), URL "[groups]\n%s = sudo\n[access]\nallow_roles = %s\n", role, role);
        write_main(f, text);
        c = load_ok(f);
        assert_string_equal(c->groups[0].role, role);
        assert_string_equal(c->allow_roles.v[0], role);
        neostra_config_free(c);

        strcat(role, "r");
        snprintf(text, sizeof(text), URL "[groups]\n%s = sudo\n", role);
        write_main(f, text);
        snprintf(want, sizeof(want), ":4: [groups] role '%s' is not valid (1..128 bytes, no control "
                 "characters)", role);
        load_fail(f, -EINVAL, want);

        snprintf(text, sizeof(text), URL "[access]\nallow_roles = a %s\n", role);
        write_main(f, text);
        snprintf(want, sizeof(want), ":4: [access] allow_roles: '%s' is not a valid role", role);
        load_fail(f, -EINVAL, want);
}

static void test_list_limit(void **state)
{
        struct fixture *f = *state;
        char *text, *p;
        struct neostra_config *c;
        unsigned i;

        text = malloc(NEOSTRA_CONF_LINE_MAX);
        assert_non_null(text);

        p = text + sprintf(text, URL "[users]\nexclude =");
        for (i = 0; i < NEOSTRA_CONF_LIST_MAX; i++)
                p += sprintf(p, " u%u", i);
        strcpy(p, "\n");
        write_main(f, text);
        c = load_ok(f);
        assert_int_equal(c->exclude.n, NEOSTRA_CONF_LIST_MAX);
        assert_string_equal(c->exclude.v[255], "u255");
        neostra_config_free(c);

        strcpy(p, " x\n");
        write_main(f, text);
        load_fail(f, -E2BIG, ":4: [users] exclude: too many entries (more than 256)");
        free(text);
}

static void test_line_limit(void **state)
{
        struct fixture *f = *state;
        char *text;
        size_t prefix;
        struct neostra_config *c;

        text = malloc(2 * NEOSTRA_CONF_LINE_MAX);
        assert_non_null(text);

        /* A line of exactly NEOSTRA_CONF_LINE_MAX bytes is fine. */
        prefix = (size_t) sprintf(text, URL "#");
        memset(text + prefix, 'x', NEOSTRA_CONF_LINE_MAX - 1);
        strcpy(text + prefix + NEOSTRA_CONF_LINE_MAX - 1, "\n");
        write_main(f, text);
        c = load_ok(f);
        neostra_config_free(c);

        strcpy(text + prefix + NEOSTRA_CONF_LINE_MAX - 1, "x\n");
        write_main(f, text);
        load_fail(f, -EINVAL, ":3: line too long (more than 4096 bytes)");
        free(text);
}

static void test_file_limit(void **state)
{
        struct fixture *f = *state;
        size_t len = NEOSTRA_CONF_FILE_MAX + 1;
        struct neostra_config *c;
        char *text;

        text = malloc(len + 1);
        assert_non_null(text);
        memset(text, '\n', len);
        memcpy(text, URL, strlen(URL));

        write_bytes(f->main, text, len - 1, 0644);
        c = load_ok(f);
        neostra_config_free(c);

        write_bytes(f->main, text, len, 0644);
        load_fail(f, -EFBIG, ": file too large (more than 1048576 bytes)");
        free(text);
}

static void test_missing_and_odd_files(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c = &sentinel;
        char want[PATH_MAX + 64];

        load_fail(f, -ENOENT, ": No such file or directory");

        assert_int_equal(mkdir(f->main, 0755), 0);
        load_fail(f, -EISDIR, ": not a regular file");
        assert_int_equal(rmdir(f->main), 0);

        /* err may be NULL; the result is still reported by the return value. */
        assert_int_equal(neostra_config_load(f->main, false, &c, NULL, 0), -ENOENT);
        assert_ptr_equal(c, &sentinel);
        assert_int_equal(neostra_config_load(f->main, false, NULL, f->err, sizeof(f->err)), -EINVAL);

        /* A truncated err buffer is still a terminated string. */
        assert_int_equal(neostra_config_load(f->main, false, &c, f->err, 8), -ENOENT);
        assert_int_equal(strlen(f->err), 7);

        /* <path>.d that is not a directory is an error, not ignored. */
        write_main(f, URL);
        write_bytes(f->dropins, "x", 1, 0644);
        snprintf(want, sizeof(want), "%s.d: Not a directory", f->main);
        assert_int_equal(neostra_config_load(f->main, false, &c, f->err, sizeof(f->err)), -ENOTDIR);
        assert_string_equal(f->err, want);
        assert_ptr_equal(c, &sentinel);
}

/* ---- drop-ins -------------------------------------------------------------- */

static void test_dropins(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;
        char path[PATH_MAX];

        write_main(f,
                   URL
                   "timeout = 4s\n"
                   "[users]\n"
                   "exclude = a b\n"
                   "[groups]\n"
                   "admin = sudo\n"
                   "dev = docker\n");

        /* Missing drop-in directory is fine. */
        c = load_ok(f);
        assert_int_equal(c->timeout_ms, 4000);
        neostra_config_free(c);

        write_dropin(f, "20-b.conf", "[api]\ntimeout = 6s\n[groups]\nadmin = wheel adm\n");
        write_dropin(f, "10-a.conf", "[api]\ntimeout = 5s\nconnect_timeout = 2s\n[users]\nexclude = c\n");
        write_dropin(f, "README", "not a config\n");
        write_dropin(f, "30-c.conf.disabled", "garbage\n");
        write_dropin(f, ".40-hidden.conf", "garbage\n");
        write_dropin(f, "99-Z.conf", "[cache]\nmax_failures = 7\n");
        write_dropin(f, "99-a.conf", "[cache]\nmax_failures = 8\n");
        snprintf(path, sizeof(path), "%s/50-dir.conf", f->dropins);
        assert_int_equal(mkdir(path, 0755), 0);
        /* A link to /dev/null masks a drop-in, as with systemd units. */
        snprintf(path, sizeof(path), "%s/60-masked.conf", f->dropins);
        assert_int_equal(symlink("/dev/null", path), 0);

        c = load_ok(f);
        assert_int_equal(c->timeout_ms, 6000);
        assert_int_equal(c->connect_timeout_ms, 2000);
        assert_int_equal(c->exclude.n, 1);
        assert_string_equal(c->exclude.v[0], "c");
        /* strcmp order: "99-Z" sorts before "99-a". */
        assert_int_equal(c->max_failures, 8);
        /* admin was replaced in place: the table keeps its order. */
        assert_int_equal(c->n_groups, 2);
        assert_string_equal(c->groups[0].role, "admin");
        assert_int_equal(c->groups[0].groups.n, 2);
        assert_string_equal(c->groups[0].groups.v[0], "wheel");
        assert_string_equal(c->groups[1].role, "dev");
        neostra_config_free(c);

        /* Errors in a drop-in name the drop-in. */
        write_dropin(f, "70-bad.conf", "[api]\n\ntimeout = 1 s\n");
        snprintf(path, sizeof(path), "%s/70-bad.conf:3: [api] timeout: '1 s' is not a duration (use "
                 "e.g. 10, 10s, 250ms, 5m, 2h or 7d)", f->dropins);
        {
                struct neostra_config *x = &sentinel;

                assert_int_equal(neostra_config_load(f->main, safe(), &x, f->err, sizeof(f->err)),
                                 -EINVAL);
                assert_string_equal(f->err, path);
                assert_ptr_equal(x, &sentinel);
        }
        snprintf(path, sizeof(path), "%s/70-bad.conf", f->dropins);
        assert_int_equal(unlink(path), 0);

        /* A drop-in may repeat what the main file set, but not itself. */
        write_dropin(f, "70-dup.conf", "[groups]\ndev = adm\n[groups]\ndev = sudo\n");
        snprintf(path, sizeof(path), "%s/70-dup.conf:4: duplicate key 'dev' in [groups] (first set "
                 "on line 2)", f->dropins);
        {
                struct neostra_config *x = &sentinel;

                assert_int_equal(neostra_config_load(f->main, safe(), &x, f->err, sizeof(f->err)),
                                 -EINVAL);
                assert_string_equal(f->err, path);
        }
        snprintf(path, sizeof(path), "%s/70-dup.conf", f->dropins);
        assert_int_equal(unlink(path), 0);

        /* A cross-key conflict blames the later setting: here the drop-in. */
        write_dropin(f, "80-conflict.conf", "[api]\nconnect_timeout = 7s\n");
        snprintf(path, sizeof(path), "%s/80-conflict.conf:2: [api] timeout (6000 ms) is shorter than "
                 "connect_timeout (7000 ms)", f->dropins);
        {
                struct neostra_config *x = &sentinel;

                assert_int_equal(neostra_config_load(f->main, safe(), &x, f->err, sizeof(f->err)),
                                 -EINVAL);
                assert_string_equal(f->err, path);
        }
}

static void test_dropin_url_only(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        /* url is required after all files are read, not in the main file. */
        write_main(f, "[users]\nminimum_uid = 1000\n");
        write_dropin(f, "url.conf", "[api]\nurl = http://localhost:8080/\n");
        c = load_ok(f);
        assert_string_equal(c->api_url, "http://localhost:8080");
        neostra_config_free(c);
}

static void test_dropin_limit(void **state)
{
        struct fixture *f = *state;
        char name[64], want[PATH_MAX + 64];
        struct neostra_config *c;
        unsigned i;

        write_main(f, URL);
        for (i = 0; i < NEOSTRA_CONF_DROPINS_MAX; i++) {
                snprintf(name, sizeof(name), "%03u.conf", i);
                write_dropin(f, name, "# nothing\n");
        }
        /* Files that are not drop-ins do not count. */
        write_dropin(f, "extra.txt", "x");
        c = load_ok(f);
        neostra_config_free(c);

        write_dropin(f, "999.conf", "# one too many\n");
        snprintf(want, sizeof(want), "%s: too many drop-ins (more than 128)", f->dropins);
        c = &sentinel;
        assert_int_equal(neostra_config_load(f->main, safe(), &c, f->err, sizeof(f->err)), -E2BIG);
        assert_string_equal(f->err, want);
        assert_ptr_equal(c, &sentinel);
}

/* ---- ownership --------------------------------------------------------------- */

static void expect_eperm(struct fixture *f, const char *want)
{
        struct neostra_config *c = &sentinel;

        assert_int_equal(neostra_config_load(f->main, true, &c, f->err, sizeof(f->err)), -EPERM);
        assert_string_equal(f->err, want);
        assert_ptr_equal(c, &sentinel);

        /* Without the check the same files load. */
        c = NULL;
        assert_int_equal(neostra_config_load(f->main, false, &c, f->err, sizeof(f->err)), 0);
        neostra_config_free(c);
}

static void test_safe_owner(void **state)
{
        struct fixture *f = *state;
        char want[PATH_MAX + 256], dropin[PATH_MAX], link[PATH_MAX];
        struct neostra_config *c;

        if (geteuid() != 0) {
                print_message("skipped: chown needs root\n");
                skip();
        }

        write_main(f, URL);
        c = load_ok(f);
        neostra_config_free(c);

        assert_int_equal(chown(f->main, 1, 0), 0);
        snprintf(want, sizeof(want), "%s: file is not owned by root (uid 1), refusing to use it", f->main);
        expect_eperm(f, want);
        assert_int_equal(chown(f->main, 0, 0), 0);

        assert_int_equal(chmod(f->main, 0666), 0);
        snprintf(want, sizeof(want), "%s: file is writable by group or others (mode 0666), refusing "
                 "to use it", f->main);
        expect_eperm(f, want);

        assert_int_equal(chmod(f->main, 0664), 0);
        snprintf(want, sizeof(want), "%s: file is writable by group or others (mode 0664), refusing "
                 "to use it", f->main);
        expect_eperm(f, want);
        assert_int_equal(chmod(f->main, 0640), 0);

        /* A symlinked main file is judged by what it points to. */
        snprintf(link, sizeof(link), "%s/link.conf", f->dir);
        assert_int_equal(symlink(f->main, link), 0);
        c = NULL;
        assert_int_equal(neostra_config_load(link, true, &c, f->err, sizeof(f->err)), 0);
        neostra_config_free(c);
        assert_int_equal(lchown(link, 1, 1), 0);
        c = NULL;
        assert_int_equal(neostra_config_load(link, true, &c, f->err, sizeof(f->err)), 0);
        neostra_config_free(c);
        assert_int_equal(chown(f->main, 1, 0), 0);
        c = &sentinel;
        assert_int_equal(neostra_config_load(link, true, &c, f->err, sizeof(f->err)), -EPERM);
        assert_ptr_equal(c, &sentinel);
        assert_int_equal(chown(f->main, 0, 0), 0);

        /* The drop-in directory and each drop-in. */
        write_dropin(f, "10.conf", "[cache]\nmax_failures = 3\n");
        c = load_ok(f);
        assert_int_equal(c->max_failures, 3);
        neostra_config_free(c);

        assert_int_equal(chmod(f->dropins, 0777), 0);
        snprintf(want, sizeof(want), "%s: drop-in directory is not owned by root or is writable by "
                 "group or others (uid 0, mode 0777), refusing to use it", f->dropins);
        expect_eperm(f, want);
        assert_int_equal(chmod(f->dropins, 0755), 0);

        assert_int_equal(chown(f->dropins, 1, 1), 0);
        snprintf(want, sizeof(want), "%s: drop-in directory is not owned by root or is writable by "
                 "group or others (uid 1, mode 0755), refusing to use it", f->dropins);
        expect_eperm(f, want);
        assert_int_equal(chown(f->dropins, 0, 0), 0);

        snprintf(dropin, sizeof(dropin), "%s/10.conf", f->dropins);
        assert_int_equal(chown(dropin, 1, 0), 0);
        snprintf(want, sizeof(want), "%s: file is not owned by root (uid 1), refusing to use it", dropin);
        expect_eperm(f, want);
        assert_int_equal(chown(dropin, 0, 0), 0);

        assert_int_equal(chmod(dropin, 0646), 0);
        snprintf(want, sizeof(want), "%s: file is writable by group or others (mode 0646), refusing "
                 "to use it", dropin);
        expect_eperm(f, want);
        assert_int_equal(chmod(dropin, 0644), 0);

        c = load_ok(f);
        neostra_config_free(c);
}

/* ---- value parsers ------------------------------------------------------------- */

static void test_duration(void **state)
{
        static const struct {
                const char *s;
                int r;
                uint64_t ms;
        } cases[] = {
                { "0", 0, 0 },
                { "10", 0, 10000 },
                { "10s", 0, 10000 },
                { "250ms", 0, 250 },
                { "5m", 0, 300000 },
                { "2h", 0, 7200000 },
                { "7d", 0, 604800000 },
                { "007s", 0, 7000 },
                { "18446744073709551ms", 0, 18446744073709551ull },
                { "18446744073709552ms", -ERANGE, 0 },
                { "18446744073709551", -ERANGE, 0 },
                { "213503982335d", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 s", -EINVAL, 0 },
                { "1s ", -EINVAL, 0 },
                { "1.5s", -EINVAL, 0 },
                { "1S", -EINVAL, 0 },
                { "1sec", -EINVAL, 0 },
                { "1w", -EINVAL, 0 },
                { "1h30m", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "ms", -EINVAL, 0 },
        };
        size_t i;

        for (i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t ms = 12345;
                int r = neostra_parse_duration_ms(cases[i].s, &ms);

                if (r != cases[i].r)
                        print_error("duration '%s': %d\n", cases[i].s, r);
                assert_int_equal(r, cases[i].r);
                assert_int_equal(ms, r == 0 ? cases[i].ms : 12345);
        }
        assert_int_equal(neostra_parse_duration_ms(NULL, NULL), -EINVAL);
}

static void test_bool(void **state)
{
        static const char *const yes[] = { "yes", "YES", "Yes", "true", "True", "on", "ON", "1" };
        static const char *const no[] = { "no", "NO", "false", "FALSE", "off", "Off", "0" };
        static const char *const bad[] = { "", "y", "n", "2", "yes ", " no", "enable", "00", "truee" };
        size_t i;
        bool b;

        for (i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                assert_int_equal(neostra_parse_bool(yes[i], &b), 0);
                assert_true(b);
        }
        for (i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                assert_int_equal(neostra_parse_bool(no[i], &b), 0);
                assert_false(b);
        }
        for (i = 0; i < ELEMENTSOF(bad); i++) {
                b = true;
                assert_int_equal(neostra_parse_bool(bad[i], &b), -EINVAL);
                assert_true(b);
        }
        assert_int_equal(neostra_parse_bool(NULL, &b), -EINVAL);
}

static void test_url(void **state)
{
        static const struct {
                const char *url;
                const char *want;       /* NULL: refused */
        } cases[] = {
                { "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
                { "http://127.0.0.1:8080/", "http://127.0.0.1:8080" },
                { "http://127.1.2.3", "http://127.1.2.3" },
                { "http://localhost", "http://localhost" },
                { "http://LOCALHOST:1/api//", "http://LOCALHOST:1/api" },
                { "http://[::1]:1", "http://[::1]:1" },
                { "http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]" },
                { "https://example.com", "https://example.com" },
                { "HTTPS://example.com/", "HTTPS://example.com" },
                { "https://example.com:443/base/path/", "https://example.com:443/base/path" },
                { "https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443" },
                { "https://a-b_c.example", "https://a-b_c.example" },
                { "http://example.com", NULL },
                { "http://127.0.0.1.evil.com", NULL },
                { "http://127.0.0.1.evil.com:80/", NULL },
                { "http://localhost.evil.com", NULL },
                { "http://evil.com/127.0.0.1", NULL },
                { "http://user@127.0.0.1", NULL },
                { "http://user:pw@127.0.0.1/", NULL },
                { "http://evil.com#@127.0.0.1", NULL },
                { "http://127.1", NULL },
                { "http://0x7f.0.0.1", NULL },
                { "http://0177.0.0.1", NULL },
                { "http://2130706433", NULL },
                { "http://128.0.0.1", NULL },
                { "http://[::2]", NULL },
                { "http://[::1", NULL },
                { "http://[::1]x", NULL },
                { "http://", NULL },
                { "https://", NULL },
                { "https://example.com?x=1", NULL },
                { "https://example.com/#frag", NULL },
                { "https://exa mple.com", NULL },
                { "https://ex\xc3\xa4mple.com", NULL },
                { "https://example.com:99999", NULL },
                { "https://example.com:-1", NULL },
                { "https://example.com:80a", NULL },
                { "ftp://127.0.0.1", NULL },
                { "//example.com", NULL },
                { "file:///etc/passwd", NULL },
        };
        char dir[] = "/tmp/test_conf_url.XXXXXX", path[PATH_MAX], text[512], err[1024];
        size_t i;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/neostrad.conf", dir);
        for (i = 0; i < ELEMENTSOF(cases); i++) {
                struct neostra_config *c = &sentinel;
                int r;

                snprintf(text, sizeof(text), "[api]\nurl = %s\n", cases[i].url);
                write_bytes(path, text, strlen(text), 0644);
                r = neostra_config_load(path, false, &c, err, sizeof(err));
                if ((r == 0) != !!cases[i].want)
                        print_error("url '%s': %d %s\n", cases[i].url, r, err);
                if (cases[i].want) {
                        assert_int_equal(r, 0);
                        assert_string_equal(c->api_url, cases[i].want);
                        neostra_config_free(c);
                } else {
                        assert_int_equal(r, -EINVAL);
                        assert_ptr_equal(c, &sentinel);
                        assert_non_null(strstr(err, ":2: [api] url: "));
                }
        }
        unlink(path);
        rmdir(dir);
}

/* ---- names and helpers ---------------------------------------------------------- */

static void test_login_names(void **state)
{
        static const char *const good[] = {
                "alice", "a", "alice@example.com", "Alice.Smith", "a-b_c", "user$", "j\xc3\xbcrgen",
                "x.", "..x", "1000",
        };
        static const char *const bad[] = {
                "", "-alice", "a b", "a\tb", "a/b", "a:b", "a\nb", "a\x7f", ".", "..",
                "\xff", "a\xc3", "\xc2\x80", "a\xc2\x9f",
        };
        char big[NEOSTRA_USER_MAX + 2];
        size_t i;

        for (i = 0; i < ELEMENTSOF(good); i++) {
                if (!neostra_valid_login_name(good[i]))
                        print_error("refused '%s'\n", good[i]);
                assert_true(neostra_valid_login_name(good[i]));
        }
        for (i = 0; i < ELEMENTSOF(bad); i++) {
                if (neostra_valid_login_name(bad[i]))
                        print_error("accepted bad name #%zu\n", i);
                assert_false(neostra_valid_login_name(bad[i]));
        }
        assert_false(neostra_valid_login_name(NULL));

        memset(big, 'a', NEOSTRA_USER_MAX);
        big[NEOSTRA_USER_MAX] = '\0';
        assert_true(neostra_valid_login_name(big));
        big[NEOSTRA_USER_MAX] = 'a';
        big[NEOSTRA_USER_MAX + 1] = '\0';
        assert_false(neostra_valid_login_name(big));
}

static void test_unix_and_role_names(void **state)
{
        assert_true(neostra_valid_unix_name("sudo"));
        assert_true(neostra_valid_unix_name("_apt"));
        assert_true(neostra_valid_unix_name(".hidden"));
        assert_true(neostra_valid_unix_name("a-b.c_d"));
        assert_true(neostra_valid_unix_name("1abc"));
        assert_true(neostra_valid_unix_name("abcdefghijklmnopqrstuvwxyz012345"));
        assert_false(neostra_valid_unix_name("abcdefghijklmnopqrstuvwxyz0123456"));
        assert_false(neostra_valid_unix_name(""));
        assert_false(neostra_valid_unix_name(NULL));
        assert_false(neostra_valid_unix_name("-x"));
        assert_false(neostra_valid_unix_name("123"));
        assert_false(neostra_valid_unix_name("."));
        assert_false(neostra_valid_unix_name(".."));
        assert_false(neostra_valid_unix_name("a b"));
        assert_false(neostra_valid_unix_name("a$"));
        assert_false(neostra_valid_unix_name("j\xc3\xbcrgen"));

        assert_true(neostra_valid_role("admin"));
        assert_true(neostra_valid_role("Site Reliability"));
        assert_true(neostra_valid_role("r\xc3\xb4le"));
        assert_false(neostra_valid_role(""));
        assert_false(neostra_valid_role(NULL));
        assert_false(neostra_valid_role("a\tb"));
        assert_false(neostra_valid_role("a\x1b"));
        assert_false(neostra_valid_role("\xff"));
}

static void test_email(void **state)
{
        struct neostra_config *c = NULL;
        char *e = NULL;

        assert_int_equal(neostra_config_new_default(&c), 0);

        /* The default "%u": only names that already are emails could
         * work, and only in a domain [users] domains lists: "%u" gives
         * none by itself. */
        assert_int_equal(neostra_email_for_user(c, "alice@example.com", &e), -EINVAL);
        assert_null(e);
        assert_int_equal(neostra_email_for_user(c, "alice", &e), -EINVAL);
        assert_null(e);
        {
                char domain[] = "example.com", *domains[] = { domain, NULL };

                c->domains = (struct neostra_strv) { .v = domains, .n = 1 };
                assert_int_equal(neostra_email_for_user(c, "alice@example.com", &e), 0);
                assert_string_equal(e, "alice@example.com");
                free(e);
                e = NULL;
                c->domains = (struct neostra_strv) {};  /* not ours to free */
        }

        free(c->email_template);
        c->email_template = strdup("%u@corp.example");
        assert_int_equal(neostra_email_for_user(c, "alice", &e), 0);
        assert_string_equal(e, "alice@corp.example");
        free(e);
        /* A name with '@' in the template's domain passes through
         * untouched; one in another domain is no email of ours. */
        assert_int_equal(neostra_email_for_user(c, "bob@Corp.Example", &e), 0);
        assert_string_equal(e, "bob@Corp.Example");
        free(e);
        e = NULL;
        assert_int_equal(neostra_email_for_user(c, "mallory@elsewhere.example", &e), -EINVAL);
        assert_null(e);

        free(c->email_template);
        c->email_template = strdup("%%%u%%@corp.example");
        assert_int_equal(neostra_email_for_user(c, "alice", &e), 0);
        assert_string_equal(e, "%alice%@corp.example");
        free(e);
        e = NULL;

        /* Invalid names never become emails. */
        assert_int_equal(neostra_email_for_user(c, "", &e), -EINVAL);
        assert_int_equal(neostra_email_for_user(c, "-alice", &e), -EINVAL);
        assert_int_equal(neostra_email_for_user(c, "a b", &e), -EINVAL);
        assert_int_equal(neostra_email_for_user(c, "a/b", &e), -EINVAL);
        assert_int_equal(neostra_email_for_user(c, NULL, &e), -EINVAL);
        /* Names with '@' must still look like one email address. */
        assert_int_equal(neostra_email_for_user(c, "@example.com", &e), -EINVAL);
        assert_int_equal(neostra_email_for_user(c, "alice@", &e), -EINVAL);
        assert_int_equal(neostra_email_for_user(c, "a@b@c", &e), -EINVAL);
        assert_null(e);

        /* The result is bounded by NEOSTRA_USER_MAX. */
        {
                size_t fixed = strlen("%%@corp.example");
                char name[NEOSTRA_USER_MAX + 1];

                memset(name, 'a', NEOSTRA_USER_MAX);
                name[NEOSTRA_USER_MAX] = '\0';
                assert_int_equal(neostra_email_for_user(c, name, &e), -EINVAL);
                name[NEOSTRA_USER_MAX - fixed + 1] = '\0';
                assert_int_equal(neostra_email_for_user(c, name, &e), -EINVAL);
                name[NEOSTRA_USER_MAX - fixed] = '\0';
                assert_int_equal(neostra_email_for_user(c, name, &e), 0);
                assert_int_equal(strlen(e), NEOSTRA_USER_MAX);
                free(e);
        }

        neostra_config_free(c);
}

static void test_email_template_loaded(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;
        char *e = NULL;

        write_main(f, URL "[users]\nemail_template = first.%u+login@corp.example\n");
        c = load_ok(f);
        assert_int_equal(neostra_email_for_user(c, "jo", &e), 0);
        assert_string_equal(e, "first.jo+login@corp.example");
        free(e);
        neostra_config_free(c);
}

static void test_home(void **state)
{
        struct neostra_config *c = NULL;
        char *h = NULL;

        assert_int_equal(neostra_config_new_default(&c), 0);
        assert_int_equal(neostra_home_for_user(c, "alice", &h), 0);
        assert_string_equal(h, "/home/alice");
        free(h);
        assert_int_equal(neostra_home_for_user(c, "bob@example.com", &h), 0);
        assert_string_equal(h, "/home/bob@example.com");
        free(h);
        h = NULL;
        assert_int_equal(neostra_home_for_user(c, "..", &h), -EINVAL);
        assert_int_equal(neostra_home_for_user(c, "a/b", &h), -EINVAL);
        assert_null(h);
        neostra_config_free(c);
}

static void test_excluded(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        write_main(f, URL "[users]\nexclude = admin, backup\n");
        c = load_ok(f);
        assert_true(neostra_user_excluded(c, "root"));
        assert_true(neostra_user_excluded(c, "admin"));
        assert_true(neostra_user_excluded(c, "backup"));
        assert_false(neostra_user_excluded(c, "Admin"));
        assert_false(neostra_user_excluded(c, "alice"));
        assert_false(neostra_user_excluded(c, "roo"));
        assert_true(neostra_user_excluded(c, NULL));
        assert_true(neostra_user_excluded(NULL, "root"));
        assert_false(neostra_user_excluded(NULL, "alice"));
        neostra_config_free(c);

        /* root stays excluded even when exclude is emptied. */
        write_main(f, URL "[users]\nexclude =\n");
        c = load_ok(f);
        assert_true(neostra_user_excluded(c, "root"));
        neostra_config_free(c);
}

/* [users] domains: which names with '@' may be sent, by default the
 * domain of email_template. */
static void test_domains(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        assert_true(neostra_valid_domain("corp.example"));
        assert_true(neostra_valid_domain("localhost"));
        assert_true(neostra_valid_domain("xn--bcher-kva.example"));
        assert_true(neostra_valid_domain("a-b.c9.example"));
        assert_false(neostra_valid_domain(""));
        assert_false(neostra_valid_domain(NULL));
        assert_false(neostra_valid_domain(".corp.example"));
        assert_false(neostra_valid_domain("corp..example"));
        assert_false(neostra_valid_domain("corp-.example"));
        assert_false(neostra_valid_domain("b\xc3\xbc" "cher.example"));
        {
                char label[80], name[400];

                memset(label, 'a', 63);
                label[63] = '\0';
                snprintf(name, sizeof(name), "%s.example", label);
                assert_true(neostra_valid_domain(name));
                memset(label, 'a', 64);
                label[64] = '\0';
                snprintf(name, sizeof(name), "%s.example", label);
                assert_false(neostra_valid_domain(name));
                /* 4 x 63 + 3 dots = 255 > 253 */
                memset(label, 'a', 63);
                label[63] = '\0';
                snprintf(name, sizeof(name), "%s.%s.%s.%s", label, label, label, label);
                assert_false(neostra_valid_domain(name));
        }

        /* Default: the template's domain. */
        write_main(f, URL "[users]\nemail_template = %u@corp.example\n");
        c = load_ok(f);
        assert_null(c->domains.v);
        assert_true(neostra_domain_accepted(c, "bob"));
        assert_true(neostra_domain_accepted(c, "bob@corp.example"));
        assert_true(neostra_domain_accepted(c, "bob@CORP.example"));
        assert_false(neostra_domain_accepted(c, "mallory@elsewhere.example"));
        assert_false(neostra_domain_accepted(c, "mallory@sub.corp.example"));
        assert_false(neostra_domain_accepted(c, "mallory@corp.example.evil"));
        assert_false(neostra_domain_accepted(c, "a@b@corp.example"));
        assert_false(neostra_domain_accepted(c, NULL));
        assert_false(neostra_domain_accepted(NULL, "bob@corp.example"));
        assert_true(neostra_domain_accepted(NULL, "bob"));
        neostra_config_free(c);

        /* A template whose domain holds an escape gives none. */
        write_main(f, URL "[users]\nemail_template = a@%u.corp.example\n");
        c = load_ok(f);
        assert_false(neostra_domain_accepted(c, "a@bob.corp.example"));
        assert_true(neostra_domain_accepted(c, "bob"));
        neostra_config_free(c);

        /* Listed: those and no other, the template's included. */
        write_main(f, URL "[users]\nemail_template = %u@corp.example\ndomains = partner.example, Other.Example\n");
        c = load_ok(f);
        assert_true(neostra_domain_accepted(c, "bob@partner.example"));
        assert_true(neostra_domain_accepted(c, "bob@other.example"));
        assert_false(neostra_domain_accepted(c, "bob@corp.example"));
        assert_true(neostra_domain_accepted(c, "bob"));
        neostra_config_free(c);

        /* Set empty: no name with '@' at all. */
        write_main(f, URL "[users]\nemail_template = %u@corp.example\ndomains =\n");
        c = load_ok(f);
        assert_non_null(c->domains.v);
        assert_false(neostra_domain_accepted(c, "bob@corp.example"));
        assert_true(neostra_domain_accepted(c, "bob"));
        neostra_config_free(c);

        /* A drop-in that changes only the template moves the default. */
        write_main(f, URL "[users]\nemail_template = %u@corp.example\n");
        write_dropin(f, "50-template.conf", "[users]\nemail_template = %u@new.example\n");
        c = load_ok(f);
        assert_true(neostra_domain_accepted(c, "bob@new.example"));
        assert_false(neostra_domain_accepted(c, "bob@corp.example"));
        neostra_config_free(c);
}

/* [users] local_accounts and what a local account is to Neostra. */
static void test_local_accounts(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;

        write_main(f, URL "[users]\nlocal_accounts = ubuntu deploy\nminimum_uid = 1000\n");
        c = load_ok(f);
        assert_true(neostra_local_account_listed(c, "ubuntu"));
        assert_true(neostra_local_account_listed(c, "deploy"));
        assert_false(neostra_local_account_listed(c, "Ubuntu"));
        assert_false(neostra_local_account_listed(c, "alice"));
        assert_false(neostra_local_account_listed(NULL, "ubuntu"));
        assert_int_equal(neostra_local_account_class(c, "ubuntu", 1000, 1000), NEOSTRA_LOCAL_LISTED);
        assert_int_equal(neostra_local_account_class(c, "alice", 1000, 1000), NEOSTRA_LOCAL_UNLISTED);
        assert_int_equal(neostra_local_account_class(c, "ubuntu", 999, 1000), NEOSTRA_LOCAL_SYSTEM);
        assert_int_equal(neostra_local_account_class(c, "ubuntu", 0, 0), NEOSTRA_LOCAL_SYSTEM);
        assert_int_equal(neostra_local_account_class(c, "ubuntu", 65534, 1000), NEOSTRA_LOCAL_SYSTEM);
        neostra_config_free(c);

        /* "*": every local account, never root or a system account. */
        write_main(f, URL "[users]\nlocal_accounts = *\n");
        c = load_ok(f);
        assert_int_equal(neostra_local_account_class(c, "anyone", 5000, 1000), NEOSTRA_LOCAL_LISTED);
        assert_int_equal(neostra_local_account_class(c, "root", 0, 1000), NEOSTRA_LOCAL_SYSTEM);
        assert_int_equal(neostra_local_account_class(c, "daemon", 1, 1000), NEOSTRA_LOCAL_SYSTEM);
        neostra_config_free(c);

        /* None by default. */
        write_main(f, URL);
        c = load_ok(f);
        assert_int_equal(neostra_local_account_class(c, "anyone", 5000, 1000), NEOSTRA_LOCAL_UNLISTED);
        neostra_config_free(c);
}

/* The module's look at /etc/passwd before a call: the file alone, a
 * line longer than the first buffer, lines fgetpwent_r cannot parse. */
static void test_passwd_file_lookup(void **state)
{
        struct fixture *f = *state;
        char path[160], text[8192], gecos[5000];
        uid_t uid = 12345;

        memset(gecos, 'g', sizeof(gecos) - 1);
        gecos[sizeof(gecos) - 1] = 0;
        snprintf(text, sizeof(text),
                 "root:x:0:0:root:/root:/bin/bash\n"
                 "this line is not a passwd entry\n"
                 "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                 "long:x:999:999:%s:/home/long:/bin/sh\n"
                 "\n"
                 "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                 "last:x:1001:1001::/home/last:/bin/sh", gecos);
        snprintf(path, sizeof(path), "%s/passwd", f->dir);
        write_bytes(path, text, strlen(text), 0644);

        assert_int_equal(neostra_passwd_file_lookup(path, "root", &uid), 1);
        assert_int_equal(uid, 0);
        assert_int_equal(neostra_passwd_file_lookup(path, "daemon", &uid), 1);
        assert_int_equal(uid, 1);
        assert_true(neostra_system_uid(uid, 1000));
        /* Past a 5,000-byte line: the buffer grows and the line is read again. */
        assert_int_equal(neostra_passwd_file_lookup(path, "long", &uid), 1);
        assert_int_equal(uid, 999);
        assert_int_equal(neostra_passwd_file_lookup(path, "alice", &uid), 1);
        assert_int_equal(uid, 1000);
        assert_false(neostra_system_uid(uid, 1000));
        assert_int_equal(neostra_passwd_file_lookup(path, "nobody", &uid), 1);
        assert_true(neostra_system_uid(uid, 1000));
        /* The last line has no newline. */
        assert_int_equal(neostra_passwd_file_lookup(path, "last", &uid), 1);
        assert_int_equal(uid, 1001);

        /* Not there: 0, and *ret_uid untouched. */
        uid = 12345;
        assert_int_equal(neostra_passwd_file_lookup(path, "bob", &uid), 0);
        assert_int_equal(neostra_passwd_file_lookup(path, "alic", &uid), 0);
        assert_int_equal(neostra_passwd_file_lookup(path, "alice2", &uid), 0);
        assert_int_equal(uid, 12345);

        /* Many buffers' worth of lines, long ones among them: each read
         * again from where it started (the stream keeps its position
         * across refills). */
        {
                FILE *w;

                snprintf(path, sizeof(path), "%s/passwd-big", f->dir);
                w = fopen(path, "we");
                assert_non_null(w);
                for (int i = 0; i < 600; i++) {
                        fprintf(w, "user%d:x:%d:%d:User %d:/home/user%d:/bin/sh\n", i, 2000 + i, 2000 + i, i, i);
                        if (i % 150 == 7)
                                fprintf(w, "long%d:x:%d:1:%s:/home/long:/bin/sh\n", i, 500 + i, gecos);
                }
                assert_int_equal(fclose(w), 0);
        }
        assert_int_equal(neostra_passwd_file_lookup(path, "user0", &uid), 1);
        assert_int_equal(uid, 2000);
        assert_int_equal(neostra_passwd_file_lookup(path, "long457", &uid), 1);
        assert_int_equal(uid, 957);
        assert_int_equal(neostra_passwd_file_lookup(path, "user458", &uid), 1);
        assert_int_equal(uid, 2458);
        assert_int_equal(neostra_passwd_file_lookup(path, "user599", &uid), 1);
        assert_int_equal(uid, 2599);
        assert_int_equal(neostra_passwd_file_lookup(path, "user600", &uid), 0);

        /* No file: the error, never "not a system account". */
        snprintf(path, sizeof(path), "%s/no-such-passwd", f->dir);
        assert_int_equal(neostra_passwd_file_lookup(path, "root", &uid), -ENOENT);
}

static void test_groups_for_roles(void **state)
{
        struct fixture *f = *state;
        struct neostra_config *c;
        struct neostra_strv g = {};

        write_main(f, URL
                   "[groups]\n"
                   "dev = docker git\n"
                   "admin = sudo docker adm\n"
                   "ops = adm, systemd-journal\n"
                   "Admin = wheel\n");
        c = load_ok(f);

        {
                /* Roles in any order; groups come out in table order, once. */
                const char *roles[] = { "ops", "unknown", "admin", "dev" };

                assert_int_equal(neostra_groups_for_roles(c, roles, 4, &g), 0);
                assert_int_equal(g.n, 5);
                assert_string_equal(g.v[0], "docker");
                assert_string_equal(g.v[1], "git");
                assert_string_equal(g.v[2], "sudo");
                assert_string_equal(g.v[3], "adm");
                assert_string_equal(g.v[4], "systemd-journal");
                assert_null(g.v[5]);
                /* The strings are borrowed from the config. */
                assert_ptr_equal(g.v[0], c->groups[0].groups.v[0]);
                free(g.v);
        }
        {
                /* Roles are compared exactly: "ADMIN" maps to nothing. */
                const char *roles[] = { "ADMIN", "Admin" };

                assert_int_equal(neostra_groups_for_roles(c, roles, 2, &g), 0);
                assert_int_equal(g.n, 1);
                assert_string_equal(g.v[0], "wheel");
                free(g.v);
        }
        {
                const char *roles[] = { "nobody" };

                assert_int_equal(neostra_groups_for_roles(c, roles, 1, &g), 0);
                assert_int_equal(g.n, 0);
                assert_non_null(g.v);
                assert_null(g.v[0]);
                free(g.v);

                assert_int_equal(neostra_groups_for_roles(c, NULL, 0, &g), 0);
                assert_int_equal(g.n, 0);
                free(g.v);
        }
        neostra_config_free(c);
}

static void test_roles_allowed(void **state)
{
        struct neostra_strv empty = {};
        char *v[] = { "admin", "dev", NULL };
        struct neostra_strv allow = { .v = v, .n = 2 };
        const char *r1[] = { "guest", "dev" };
        const char *r2[] = { "guest", "Admin", "ADMIN" };

        assert_true(neostra_roles_allowed(&empty, NULL, 0));
        assert_true(neostra_roles_allowed(&empty, r1, 2));
        assert_true(neostra_roles_allowed(NULL, r1, 2));
        assert_true(neostra_roles_allowed(&allow, r1, 2));
        assert_false(neostra_roles_allowed(&allow, r2, 3));
        assert_false(neostra_roles_allowed(&allow, r1, 1));
        assert_false(neostra_roles_allowed(&allow, NULL, 0));
}

static void test_strv_free(void **state)
{
        struct neostra_strv s = {};

        s.v = calloc(3, sizeof(char *));
        assert_non_null(s.v);
        s.v[0] = strdup("a");
        s.v[1] = strdup("b");
        s.n = 2;
        neostra_strv_free(&s);
        assert_null(s.v);
        assert_int_equal(s.n, 0);
        neostra_strv_free(&s);
        neostra_strv_free(NULL);
}

/*
 * The shipped packaging/neostrad.conf shows every key at its default ("#key
 * = value"), and url, which has none, as "# Example: url = ...": with
 * everything but the [groups] example uncommented it must load to exactly
 * the built-in defaults, and as shipped it must parse up to the missing url.
 */
static void test_shipped_config(void **state)
{
        struct fixture *f = *state;
        char line[1024];
        bool in_groups = false;
        struct neostra_config *c;
        FILE *in, *out;
        unsigned keys = 0;

        in = fopen("packaging/neostrad.conf", "re");
        if (!in)
                in = fopen("../../packaging/neostrad.conf", "re");
        if (!in) {
                print_message("skipped: packaging/neostrad.conf not found from %s\n", getcwd(line, sizeof(line)));
                skip();
        }

        out = fopen(f->main, "we");
        assert_non_null(out);
        while (fgets(line, sizeof(line), in)) {
                static const char example[] = "# Example: ";

                if (line[0] == '[')
                        in_groups = strncmp(line, "[groups]", 8) == 0;
                if (!in_groups && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
                    strstr(line, " =")) {
                        fputs(line + 1, out);
                        keys++;
                } else if (!in_groups && strncmp(line, example, sizeof(example) - 1) == 0) {
                        fputs(line + sizeof(example) - 1, out);
                        keys++;
                } else
                        fputs(line, out);
        }
        fclose(in);
        assert_int_equal(fclose(out), 0);
        assert_int_equal(chmod(f->main, 0644), 0);
        /* 29 keys outside [groups]. */
        assert_int_equal(keys, 29);

        c = load_ok(f);
        assert_string_equal(c->api_url, "https://api.neostra.example");
        check_defaults(c);
        neostra_config_free(c);

        in = fopen("packaging/neostrad.conf", "re");
        if (!in)
                in = fopen("../../packaging/neostrad.conf", "re");
        assert_non_null(in);
        out = fopen(f->main, "we");
        assert_non_null(out);
        while (fgets(line, sizeof(line), in))
                fputs(line, out);
        fclose(in);
        assert_int_equal(fclose(out), 0);
        /* As shipped (every key commented out) it loads, with every default
         * and no url: the daemon starts "unconfigured" and answers every
         * login "unavailable" until [api] url is set. */
        c = load_ok(f);
        assert_null(c->api_url);
        check_defaults(c);
        neostra_config_free(c);
}

/* No [api] url (an empty file, an empty [api]): not an error but "not
 * configured", with every default. */
static void test_unconfigured(void **state)
{
        struct fixture *f = *state;
        static const char *const texts[] = { "", "[api]\n", "# nothing yet\n[users]\n" };
        struct neostra_config *c;

        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                write_main(f, texts[i]);
                c = load_ok(f);
                assert_null(c->api_url);
                check_defaults(c);
                neostra_config_free(c);
        }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_defaults),
                T(test_minimal),
                T(test_every_key),
                T(test_syntax_tolerated),
                T(test_bad_values),
                T(test_nul_byte),
                T(test_role_limits),
                T(test_list_limit),
                T(test_line_limit),
                T(test_file_limit),
                T(test_missing_and_odd_files),
                T(test_dropins),
                T(test_dropin_url_only),
                T(test_dropin_limit),
                T(test_safe_owner),
                T(test_duration),
                T(test_bool),
                T(test_url),
                T(test_login_names),
                T(test_unix_and_role_names),
                T(test_email),
                T(test_email_template_loaded),
                T(test_home),
                T(test_excluded),
                T(test_domains),
                T(test_local_accounts),
        T(test_passwd_file_lookup),
                T(test_groups_for_roles),
                T(test_roles_allowed),
                T(test_strv_free),
                T(test_shipped_config),
                T(test_unconfigured),
        };

        return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
