/* SPDX-License-Identifier: MIT */
/*
 * The checks of `neostrad --test-config` beyond the syntax (conf-check.h).
 * Every check looks at this host as the daemon would meet it: as the user
 * it runs as (without supplementary groups: it drops them), inside the
 * sandbox of the installed neostrad.service, with the sockets of the
 * installed neostrad.socket.
 */
#include "neostra/conf-check.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "neostra/unit-file.h"

/* The account the daemon's files must suit. */
struct who {
        char name[64];
        uid_t uid;
        gid_t gid;
};

struct ctx {
        const struct neostra_config *c;
        FILE *out;
        struct conf_check_result res;
        struct who who;
        bool who_known;
        struct unit_file service;
        bool have_service;
};

__attribute__((format(printf, 6, 7)))
static void finding(struct ctx *x, const char *warning, const char *section, const char *key,
                    const char *fix, const char *fmt, ...)
{
        const char *file = x->c->path;
        unsigned line = 0;
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (section && key)
                (void) neostra_config_origin(x->c, section, key, &file, &line);
        if (line > 0)
                fprintf(x->out, "%s:%u: ", file, line);
        else
                fprintf(x->out, "%s: ", file);
        if (warning) {
                fprintf(x->out, "warning [%s]: ", warning);
                x->res.warnings++;
        } else {
                fputs("error: ", x->out);
                x->res.errors++;
        }
        fprintf(x->out, "%s%s%s\n", msg, fix ? "; " : "", fix ? fix : "");
}

#define error(x, sec, key, fix, ...) finding((x), NULL, (sec), (key), (fix), __VA_ARGS__)
#define warning(x, name, sec, key, fix, ...) finding((x), (name), (sec), (key), (fix), __VA_ARGS__)

/* ---- access as the daemon's user ------------------------------------------ */

/* bits: 4 read, 2 write, 1 search/execute, as in the mode's triplets. */
static bool may(const struct who *w, const struct stat *st, unsigned bits)
{
        unsigned m = st->st_mode;

        if (w->uid == 0)
                return true;
        if (st->st_uid == w->uid)
                return ((m >> 6) & bits) == bits;
        if (st->st_gid == w->gid)
                return ((m >> 3) & bits) == bits;
        return (m & bits) == bits;
}

/* Every directory above PATH can be searched by w. */
static bool reachable(const struct who *w, const char *path)
{
        char buf[PATH_MAX];
        size_t n = strlen(path);
        struct stat st;

        if (n >= sizeof(buf))
                return false;
        memcpy(buf, path, n + 1);
        for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode) && !may(w, &st, 1))
                        return false;
                *s = '/';
        }
        return stat("/", &st) != 0 || may(w, &st, 1);
}

static bool readable(const struct who *w, const char *path, const struct stat *st)
{
        return reachable(w, path) && may(w, st, 4);
}

/* ---- the checks ----------------------------------------------------------- */

static void check_module_view(struct ctx *x)
{
        struct neostra_config *strict = NULL;
        char err[512];

        if (neostra_config_load(x->c->path, true, &strict, err, sizeof(err)) >= 0) {
                neostra_config_free(strict);
                return;
        }
        fprintf(x->out, "%s\n", err);
        error(x, NULL, NULL, "make every config file owned by root and not writable by group or others "
              "(chown root FILE; chmod go-w FILE)",
              "the PAM module refuses this configuration (above) and uses its built-in defaults: "
              "local_accounts, domains, exclude and minimum_uid from here do not apply to it");
}

static void check_user(struct ctx *x)
{
        const char *user = x->c->user;
        struct passwd pw, *res = NULL;
        char buf[4096];

        /* Under systemd the unit's User= starts it; by hand [daemon] user. */
        if (x->have_service && x->service.user)
                user = x->service.user;
        if (!user || !*user || strcmp(user, "root") == 0) {
                x->who = (struct who) { .name = "root" };
                x->who_known = true;
                return;
        }
        if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res) {
                if (user == x->c->user)
                        error(x, "daemon", "user", "create it (systemd-sysusers; the packages do) or set user = root",
                              "[daemon] user '%s' does not exist: the daemon stops at start "
                              "(cannot drop privileges)", user);
                else
                        error(x, NULL, NULL, "create it (systemd-sysusers; the packages do)",
                              "%s runs the daemon as User=%s, which does not exist: it cannot start",
                              x->service.path, user);
                return;
        }
        snprintf(x->who.name, sizeof(x->who.name), "%s", user);
        x->who.uid = pw.pw_uid;
        x->who.gid = pw.pw_gid;
        x->who_known = true;
}

static void check_config_files(struct ctx *x)
{
        const char *const *files;
        size_t n = neostra_config_files(x->c, &files);
        struct stat st;

        if (!x->who_known)
                return;
        for (size_t i = 0; i < n; i++) {
                if (stat(files[i], &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (readable(&x->who, files[i], &st))
                        continue;
                fprintf(x->out, "%s: error: not readable by the daemon's user %s (owner uid %u, group gid %u, "
                        "mode %04o): it reads the configuration again at every reload, and under systemd at "
                        "start; chgrp %s %s; chmod 0640 %s\n", files[i], x->who.name, (unsigned) st.st_uid,
                        (unsigned) st.st_gid, (unsigned) (st.st_mode & 07777), x->who.name, files[i], files[i]);
                x->res.errors++;
        }
}

static void check_ca_file(struct ctx *x)
{
        const char *path = x->c->ca_file, *why;
        struct stat st;

        if (!path)
                return;
        if (x->have_service && unit_hides(&x->service, path, &why))
                error(x, "api", "ca_file", "move it, e.g. to /etc/neostra/",
                      "[api] ca_file %s is hidden from the daemon by %s in %s", path, why, x->service.path);
        if (stat(path, &st) < 0) {
                error(x, "api", "ca_file", "install the CA bundle there, or remove ca_file to use the system store",
                      "[api] ca_file %s: %s: every TLS connection to the API would fail", path, strerror(errno));
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                error(x, "api", "ca_file", "point it at a PEM file", "[api] ca_file %s is not a regular file", path);
                return;
        }
        if (x->who_known && !readable(&x->who, path, &st))
                error(x, "api", "ca_file", "make it readable (chmod 0644, it is public)",
                      "[api] ca_file %s is not readable by the daemon's user %s", path, x->who.name);
}

static void check_cache_directory(struct ctx *x)
{
        const char *dir = x->c->cache_directory;
        struct stat st;

        if (!dir)
                return;
        if (x->have_service && !unit_writable(&x->service, dir))
                error(x, "cache", "directory",
                      "use /var/lib/neostra, or add ReadWritePaths= for it (systemctl edit neostrad)",
                      "[cache] directory %s is not writable inside the sandbox of %s: the daemon would run "
                      "without a cache (no offline logins, no stable uids)", dir, x->service.path);
        if (lstat(dir, &st) < 0) {
                char parent[PATH_MAX];
                struct stat pst;
                char *slash;

                if (errno != ENOENT) {
                        error(x, "cache", "directory", NULL, "[cache] directory %s: %s", dir, strerror(errno));
                        return;
                }
                /* systemd makes a StateDirectory= before the start. */
                if (x->have_service && unit_writable(&x->service, dir)) {
                        for (size_t i = 0; i < x->service.writable_dirs.n; i++)
                                if (strcmp(x->service.writable_dirs.v[i], dir) == 0)
                                        return;
                }
                snprintf(parent, sizeof(parent), "%s", dir);
                slash = strrchr(parent, '/');
                if (slash && slash != parent)
                        *slash = '\0';
                else if (slash)
                        slash[1] = '\0';
                if (stat(parent, &pst) == 0 && S_ISDIR(pst.st_mode) && x->who_known &&
                    reachable(&x->who, parent) && may(&x->who, &pst, 3))
                        return;         /* the daemon makes it, mode 0700 */
                if (x->who_known)
                        error(x, "cache", "directory", NULL,
                              "[cache] directory %s does not exist and the daemon (user %s) cannot create it: "
                              "it would run without a cache (no offline logins, no stable uids); "
                              "install -d -m 0700 -o %s %s", dir, x->who.name, x->who.name, dir);
                return;
        }
        if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
                error(x, "cache", "directory", "point it at a real directory",
                      "[cache] directory %s is %s: the daemon refuses it and runs without a cache", dir,
                      S_ISLNK(st.st_mode) ? "a symlink" : "not a directory");
                return;
        }
        if (x->who_known && st.st_uid != x->who.uid) {
                error(x, "cache", "directory", NULL,
                      "[cache] directory %s is owned by uid %u, not by the daemon's user %s (uid %u): the daemon "
                      "refuses it and runs without a cache; chown -R %s %s", dir, (unsigned) st.st_uid,
                      x->who.name, (unsigned) x->who.uid, x->who.name, dir);
                return;
        }
        if ((st.st_mode & 07777) != 0700)
                warning(x, "cache-mode", "cache", "directory", NULL,
                        "[cache] directory %s has mode %04o (it holds password verifiers and tokens): the daemon "
                        "changes it to 0700 at start; chmod 0700 %s", dir, (unsigned) (st.st_mode & 07777), dir);
}

static void check_email_template(struct ctx *x)
{
        const struct neostra_config *c = x->c;

        if (!c->api_url) {
                warning(x, "unconfigured", "api", "url", "set url = https://api.neostra.example (your API)",
                        "not configured yet: [api] url is not set; until it is, every login is answered "
                        "\"unavailable\" and goes on to the next PAM module");
                return;
        }
        if (!c->email_template || strchr(c->email_template, '@'))
                return;
        if (!c->domains.v || c->domains.n == 0)
                error(x, "users", "email_template", "e.g. email_template = %u@example.com",
                      "[users] email_template = %s makes no email (no '@') and no [users] domains are "
                      "accepted: every login would be refused by the API", c->email_template);
        else
                warning(x, "email-template", "users", "email_template", "e.g. email_template = %u@example.com",
                        "[users] email_template = %s makes no email (no '@'): only names written "
                        "user@domain (with a domain of [users] domains) can log in", c->email_template);
}

static void check_groups(struct ctx *x)
{
        const struct neostra_config *c = x->c;

        for (size_t i = 0; i < c->n_groups; i++)
                for (size_t j = 0; j < c->groups[i].groups.n; j++) {
                        const char *g = c->groups[i].groups.v[j];
                        gid_t gid = 1;
                        int r = neostra_local_group_lookup(g, &gid);

                        if (r > 0 && gid == 0)
                                error(x, "groups", c->groups[i].role, "map the role to another group",
                                      "[groups] %s maps to group '%s' (gid 0), which neostrad never grants",
                                      c->groups[i].role, g);
                        /* With userdb on neostrad publishes a group that
                         * does not exist; without it, nobody gets it. */
                        else if (r == 0 && !c->userdb)
                                warning(x, "group-missing", "groups", c->groups[i].role,
                                        "create it (groupadd), or turn [identities] userdb on so neostrad "
                                        "publishes it",
                                        "[groups] %s maps to group '%s', which does not exist on this host: "
                                        "members get nothing from it", c->groups[i].role, g);
                        else if (r < 0)
                                warning(x, "group-missing", "groups", c->groups[i].role, NULL,
                                        "[groups] %s: cannot look up group '%s': %s", c->groups[i].role, g,
                                        strerror(-r));
                }
}

static void check_sockets(struct ctx *x)
{
        struct unit_file sock = {};
        const char *want[2] = { x->c->socket_path, x->c->userdb_socket_path };
        const char *key[2] = { "socket", "userdb_socket" };
        int r = unit_file_load("neostrad.socket", &sock);

        if (r <= 0)
                return;
        for (int i = 0; i < 2; i++) {
                bool listed = false;

                if (i == 1 && !x->c->userdb)
                        break;
                for (size_t j = 0; j < sock.listen_stream.n; j++)
                        if (strcmp(sock.listen_stream.v[j], want[i]) == 0)
                                listed = true;
                if (!listed)
                        error(x, "daemon", key[i], "use the same path in both (systemctl edit neostrad.socket)",
                              "[daemon] %s = %s, but %s does not listen there (ListenStream=%s%s): %s",
                              key[i], want[i], sock.path, sock.listen_stream.n ? sock.listen_stream.v[0] : "",
                              sock.listen_stream.n > 1 ? " ..." : "",
                              i == 0 ? "PAM modules connect to a path nothing listens on under socket activation"
                                     : "nss-systemd never asks the daemon");
        }
        unit_file_clear(&sock);
}

void neostra_conf_check(const struct neostra_config *c, FILE *out, struct conf_check_result *ret)
{
        struct ctx x = { .c = c, .out = out };
        int r;

        r = unit_file_load("neostrad.service", &x.service);
        x.have_service = r > 0;
        if (r < 0) {
                fprintf(out, "%s: warning [unit]: cannot read neostrad.service: %s; its sandbox was not "
                        "checked\n", c->path, strerror(-r));
                x.res.warnings++;
        }
        check_module_view(&x);
        check_user(&x);
        check_config_files(&x);
        check_ca_file(&x);
        check_cache_directory(&x);
        check_email_template(&x);
        check_groups(&x);
        check_sockets(&x);
        unit_file_clear(&x.service);
        *ret = x.res;
}
