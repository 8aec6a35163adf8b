/* SPDX-License-Identifier: MIT */
/*
 * A reader for the few settings of neostrad.service and neostrad.socket
 * that decide whether a configured path works under the unit (unit-file.h).
 * It understands systemd's syntax as far as these keys need: sections,
 * comments, an empty assignment resetting a list, "-" and "+" path
 * prefixes, booleans.  Line continuations and specifiers are not
 * expanded; a path that uses them is taken literally.
 */
#include "neostra/unit-file.h"
#include "conf-internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define UNIT_LINE_MAX 4096
#define UNIT_DROPINS_MAX 64

static const char *const default_dirs[] = {
        "/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
        "/usr/lib/systemd/system", "/lib/systemd/system",
};

static int strv_add(struct neostra_strv *s, const char *x) {
        char **v, *copy;

        if (s->n >= NEOSTRA_CONF_LIST_MAX)
                return -E2BIG;
        copy = strdup(x);
        if (!copy)
                return -ENOMEM;
        v = realloc(s->v, (s->n + 1) * sizeof(char *));
        if (!v) {
                free(copy);
                return -ENOMEM;
        }
        v[s->n++] = copy;
        s->v = v;
        return 0;
}

static bool parse_yes(const char *v) {
        bool b = false;

        return neostra_parse_bool(v, &b) >= 0 && b;
}

/* Space-separated paths; an empty value resets the list.  prefix makes
 * relative names absolute (StateDirectory=neostra -> /var/lib/neostra). */
static int add_paths(struct neostra_strv *s, char *value, const char *prefix) {
        char *save = NULL, *w;
        int r;

        if (*value == '\0') {
                strv_clear(s);
                return 0;
        }
        for (w = strtok_r(value, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
                char buf[PATH_MAX];

                while (*w == '-' || *w == '+')
                        w++;
                /* Directory=name:mode and the like: only the name. */
                if (prefix)
                        w[strcspn(w, ":")] = '\0';
                if (*w == '\0')
                        continue;
                if (prefix && w[0] != '/') {
                        if (snprintf(buf, sizeof(buf), "%s/%s", prefix, w) >= (int) sizeof(buf))
                                continue;
                        w = buf;
                }
                r = strv_add(s, w);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply(struct unit_file *u, const char *section, const char *key, char *value) {
        if (streq(section, "Socket"))
                return streq(key, "ListenStream") ? add_paths(&u->listen_stream, value, NULL) : 0;
        if (!streq(section, "Service"))
                return 0;
        if (streq(key, "ProtectSystem"))
                u->protect_system = streq(value, "strict") ? PROTECT_SYSTEM_STRICT
                                    : streq(value, "full") ? PROTECT_SYSTEM_FULL
                                    : parse_yes(value) ? PROTECT_SYSTEM_YES : PROTECT_SYSTEM_NO;
        else if (streq(key, "ProtectHome"))
                u->protect_home = streq(value, "read-only") ? PROTECT_HOME_READ_ONLY
                                  : streq(value, "tmpfs") ? PROTECT_HOME_TMPFS
                                  : parse_yes(value) ? PROTECT_HOME_YES : PROTECT_HOME_NO;
        else if (streq(key, "PrivateTmp"))
                u->private_tmp = parse_yes(value);
        else if (streq(key, "ReadWritePaths"))
                return add_paths(&u->read_write_paths, value, NULL);
        else if (streq(key, "InaccessiblePaths"))
                return add_paths(&u->inaccessible_paths, value, NULL);
        else if (streq(key, "StateDirectory"))
                return add_paths(&u->writable_dirs, value, "/var/lib");
        else if (streq(key, "CacheDirectory"))
                return add_paths(&u->writable_dirs, value, "/var/cache");
        else if (streq(key, "LogsDirectory"))
                return add_paths(&u->writable_dirs, value, "/var/log");
        else if (streq(key, "RuntimeDirectory"))
                return add_paths(&u->writable_dirs, value, "/run");
        else if (streq(key, "User"))
                return replace_string(&u->user, *value ? value : NULL);
        return 0;
}

static int read_unit(struct unit_file *u, const char *path) {
        char line[UNIT_LINE_MAX + 1], section[64] = "";
        FILE *f;
        int r = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                char *s, *eq;

                line[strcspn(line, "\r\n")] = '\0';
                s = conf_trim(line);

                if (*s == '\0' || *s == '#' || *s == ';')
                        continue;
                if (*s == '[') {
                        size_t n = strlen(s);

                        if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(section))
                                continue;
                        memcpy(section, s + 1, n - 2);
                        section[n - 2] = '\0';
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                r = apply(u, section, conf_trim(s), conf_trim(eq + 1));
                if (r < 0)
                        break;
        }
        if (r >= 0 && ferror(f))
                r = -EIO;
        fclose(f);
        return r;
}

/* The drop-ins of every directory, by file name (the first directory
 * wins for a name that is in several, as in systemd). */
static int read_dropins(struct unit_file *u, char **dirs, size_t n_dirs, const char *name) {
        char *paths[UNIT_DROPINS_MAX];
        size_t n = 0, i, j;
        int r = 0;

        for (i = 0; i < n_dirs && n < UNIT_DROPINS_MAX; i++) {
                char dir[PATH_MAX];
                struct dirent *de;
                DIR *d;

                if (snprintf(dir, sizeof(dir), "%s/%s.d", dirs[i], name) >= (int) sizeof(dir))
                        continue;
                d = opendir(dir);
                if (!d)
                        continue;
                while ((de = readdir(d)) && n < UNIT_DROPINS_MAX) {
                        size_t len = strlen(de->d_name);
                        bool dup = false;
                        char *p;

                        if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".conf"))
                                continue;
                        for (j = 0; j < n; j++)
                                if (streq(strrchr(paths[j], '/') + 1, de->d_name))
                                        dup = true;
                        if (dup || asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                                continue;
                        paths[n++] = p;
                }
                closedir(d);
        }
        /* Sorted by file name, whatever the directory. */
        for (i = 1; i < n; i++)
                for (j = i; j > 0 && strcmp(strrchr(paths[j - 1], '/'), strrchr(paths[j], '/')) > 0; j--) {
                        char *t = paths[j];

                        paths[j] = paths[j - 1];
                        paths[j - 1] = t;
                }
        for (i = 0; i < n; i++) {
                if (r >= 0)
                        r = read_unit(u, paths[i]);
                free(paths[i]);
        }
        return r;
}

static int unit_dirs(char ***ret, size_t *ret_n) {
        const char *env = getenv("SYSTEMD_UNIT_PATH");
        char **v = NULL, *copy, *save = NULL, *w;
        size_t n = 0, i;

        if (!env || !*env) {
                v = calloc(ELEMENTSOF(default_dirs), sizeof(char *));
                if (!v)
                        return -ENOMEM;
                for (i = 0; i < ELEMENTSOF(default_dirs); i++)
                        if ((v[n] = strdup(default_dirs[i])))
                                n++;
                *ret = v;
                *ret_n = n;
                return 0;
        }
        copy = strdup(env);
        if (!copy)
                return -ENOMEM;
        for (w = strtok_r(copy, ":", &save); w && n < 32; w = strtok_r(NULL, ":", &save)) {
                char **nv = realloc(v, (n + 1) * sizeof(char *));

                if (!nv)
                        break;
                v = nv;
                if ((v[n] = strdup(w)))
                        n++;
        }
        free(copy);
        *ret = v;
        *ret_n = n;
        return 0;
}

int unit_file_load(const char *name, struct unit_file *ret) {
        char **dirs = NULL;
        size_t n_dirs = 0, i;
        struct unit_file u = {};
        int r;

        r = unit_dirs(&dirs, &n_dirs);
        if (r < 0)
                return r;
        for (i = 0; i < n_dirs && !u.path; i++) {
                char path[PATH_MAX];
                struct stat st;

                if (snprintf(path, sizeof(path), "%s/%s", dirs[i], name) >= (int) sizeof(path))
                        continue;
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !(u.path = strdup(path))) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (!u.path) {
                r = 0;
                goto out;
        }
        r = read_unit(&u, u.path);
        if (r >= 0)
                r = read_dropins(&u, dirs, n_dirs, name);
        if (r >= 0) {
                *ret = u;
                u = (struct unit_file) {};
                r = 1;
        }
out:
        unit_file_clear(&u);
        for (i = 0; i < n_dirs; i++)
                free(dirs[i]);
        free(dirs);
        return r;
}

void unit_file_clear(struct unit_file *u) {
        if (!u)
                return;
        free(u->path);
        free(u->user);
        strv_clear(&u->read_write_paths);
        strv_clear(&u->inaccessible_paths);
        strv_clear(&u->writable_dirs);
        strv_clear(&u->listen_stream);
        *u = (struct unit_file) {};
}

/* PATH is DIR or below it. */
static bool below(const char *path, const char *dir) {
        size_t n = strlen(dir);

        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n == 1 && dir[0] == '/')
                return path[0] == '/';
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool below_any(const char *path, const struct neostra_strv *dirs) {
        for (size_t i = 0; i < dirs->n; i++)
                if (below(path, dirs->v[i]))
                        return true;
        return false;
}

static bool in_home(const char *path) {
        return below(path, "/home") || below(path, "/root") || below(path, "/run/user");
}

bool unit_hides(const struct unit_file *u, const char *path, const char **ret_why) {
        const char *why = NULL;

        if (below_any(path, &u->inaccessible_paths))
                why = "InaccessiblePaths=";
        else if ((u->protect_home == PROTECT_HOME_YES || u->protect_home == PROTECT_HOME_TMPFS) && in_home(path))
                why = u->protect_home == PROTECT_HOME_YES ? "ProtectHome=yes" : "ProtectHome=tmpfs";
        else if (u->private_tmp && (below(path, "/tmp") || below(path, "/var/tmp")))
                why = "PrivateTmp=yes";
        if (ret_why)
                *ret_why = why;
        return why != NULL;
}

bool unit_writable(const struct unit_file *u, const char *path) {
        if (unit_hides(u, path, NULL))
                return false;
        if (below_any(path, &u->read_write_paths) || below_any(path, &u->writable_dirs))
                return true;
        if (u->protect_home == PROTECT_HOME_READ_ONLY && in_home(path))
                return false;
        switch (u->protect_system) {
        case PROTECT_SYSTEM_STRICT:
                return false;
        case PROTECT_SYSTEM_FULL:
                if (below(path, "/etc"))
                        return false;
                /* fall through */
        case PROTECT_SYSTEM_YES:
                return !(below(path, "/usr") || below(path, "/boot") || below(path, "/efi"));
        default:
                return true;
        }
}
