/* SPDX-License-Identifier: MIT */
/*
 * Loading neostrad.conf: the INI reader, the drop-ins, and the checks that
 * need more than one key.
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
 */
#include "conf-internal.h"
#include "neostra/protocol.h"
#include "neostra/text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Uids systemd and the kernel treat specially: nobody and (uid_t) 65535. */
#define UID_NOBODY 65534u
#define UID_INVALID16 65535u

/* ---- the reader ---------------------------------------------------------- */

struct parser {
        struct neostra_config *c;
        char *files[1 + NEOSTRA_CONF_DROPINS_MAX];
        unsigned n_files;
        struct conf_loc key_loc[N_KEYS];
        struct conf_loc *group_loc;          /* parallel to c->groups */
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

        r = conf_split_list(value, neostra_valid_unix_name, "group name", &l, msg, sizeof(msg));
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
                        struct conf_loc *nl;

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
        p->group_loc[i] = (struct conf_loc) { file, line };
        return 0;
}

static int parse_line(struct parser *p, unsigned file, unsigned line, char *text, int *section)
{
        char msg[1536] = "";
        const struct key_def *k = NULL;
        char *s, *eq, *key, *value;
        size_t i, n;
        int r;

        s = conf_trim(text);
        if (*s == '\0' || *s == '#' || *s == ';')
                return 0;

        if (*s == '[') {
                n = strlen(s);
                if (s[n - 1] != ']')
                        return fail_line(p, file, line, -EINVAL, "invalid section header '%s'", s);
                s[n - 1] = '\0';
                s = conf_trim(s + 1);
                for (i = 0; i < N_SECTIONS; i++)
                        if (streq(s, conf_section_names[i])) {
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
        key = conf_trim(s);
        value = conf_trim(eq + 1);
        if (*key == '\0')
                return fail_line(p, file, line, -EINVAL, "missing key before '='");
        if (*section < 0)
                return fail_line(p, file, line, -EINVAL, "key '%s' outside of any section", key);

        if (*section == SECTION_GROUPS)
                return set_group(p, file, line, key, value);

        for (i = 0; i < N_KEYS; i++)
                if (conf_keys[i].section == *section && streq(conf_keys[i].name, key)) {
                        k = &conf_keys[i];
                        break;
                }
        if (!k)
                return fail_line(p, file, line, -EINVAL, "unknown key '%s' in [%s]", key,
                                 conf_section_names[*section]);

        if (p->key_loc[i].line > 0 && p->key_loc[i].file == file)
                return fail_line(p, file, line, -EINVAL,
                                 "duplicate key '%s' in [%s] (first set on line %u)",
                                 key, conf_section_names[*section], p->key_loc[i].line);

        r = k->parse(k, value, (char *) p->c + k->offset, msg, sizeof(msg));
        if (r == -ENOMEM)
                return fail_errno(p, file, r);
        if (r < 0)
                return fail_line(p, file, line, r, "[%s] %s: %s", conf_section_names[*section], key, msg);

        p->key_loc[i] = (struct conf_loc) { file, line };
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

/* ---- checks that need more than one key --------------------------------- */

/* The later of two settings, which is the one to blame for a conflict. */
static struct conf_loc later(struct conf_loc a, struct conf_loc b)
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
        struct conf_loc l;

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

static int keep_origin(struct parser *p);

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

        r = keep_origin(&p);
        if (r < 0) {
                fail_errno_at(&p, path, r);
                goto done;
        }
        *ret = p.c;
        p.c = NULL;

done:
        neostra_config_free(p.c);
        for (i = 0; i < p.n_files; i++)
                free(p.files[i]);
        free(p.group_loc);
        return r;
}

/* ---- where the values came from ----------------------------------------- */

/* Move the file names and locations from the parser into the config. */
static int keep_origin(struct parser *p)
{
        struct neostra_config_origin *o;

        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->files = calloc(p->n_files ? p->n_files : 1, sizeof(char *));
        if (!o->files) {
                free(o);
                return -ENOMEM;
        }
        memcpy(o->files, p->files, p->n_files * sizeof(char *));
        o->n_files = p->n_files;
        p->n_files = 0;
        memcpy(o->key_loc, p->key_loc, sizeof(o->key_loc));
        o->group_loc = p->group_loc;
        p->group_loc = NULL;
        p->c->origin = o;
        return 0;
}

void conf_origin_free(struct neostra_config_origin *o)
{
        unsigned i;

        if (!o)
                return;
        for (i = 0; i < o->n_files; i++)
                free(o->files[i]);
        free(o->files);
        free(o->group_loc);
        free(o);
}

static bool found(const struct neostra_config_origin *o, struct conf_loc l,
                  const char **ret_file, unsigned *ret_line)
{
        if (l.line == 0 || l.file >= o->n_files)
                return false;
        if (ret_file)
                *ret_file = o->files[l.file];
        if (ret_line)
                *ret_line = l.line;
        return true;
}

bool neostra_config_origin(const struct neostra_config *c, const char *section, const char *key,
                           const char **ret_file, unsigned *ret_line)
{
        const struct neostra_config_origin *o;
        size_t i;

        if (!c || !c->origin || !section || !key)
                return false;
        o = c->origin;
        if (streq(section, conf_section_names[SECTION_GROUPS])) {
                for (i = 0; i < c->n_groups; i++)
                        if (streq(c->groups[i].role, key))
                                return o->group_loc && found(o, o->group_loc[i], ret_file, ret_line);
                return false;
        }
        for (i = 0; i < N_KEYS; i++)
                if (streq(conf_section_names[conf_keys[i].section], section) &&
                    streq(conf_keys[i].name, key))
                        return found(o, o->key_loc[i], ret_file, ret_line);
        return false;
}

size_t neostra_config_files(const struct neostra_config *c, const char *const **ret)
{
        if (!c || !c->origin) {
                if (ret)
                        *ret = NULL;
                return 0;
        }
        if (ret)
                *ret = (const char *const *) c->origin->files;
        return c->origin->n_files;
}
