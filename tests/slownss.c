/* SPDX-License-Identifier: MIT */
/*
 * slownss.so: an LD_PRELOAD shim for tests that makes NSS lookups slow or
 * fail, as an LDAP or SSSD source does when its server is slow or down.
 * It wraps getpwnam_r, getgrnam_r, getpwuid_r and getgrgid_r.  The rules
 * are read from the file named by $SLOWNSS_RULES at every call (no file:
 * every lookup as usual), one per line:
 *
 *     name PREFIX MS      a by-name lookup of a name starting with PREFIX
 *     id MIN MAX MS       a by-id lookup of an id in [MIN, MAX]
 *     user NAME UID       getpwnam_r of exactly NAME finds an account with
 *                         that uid (and gid), as an LDAP source would: it
 *                         is in no file (after the delay rules above)
 *
 * MS is a delay in milliseconds before the real lookup, or "fail": the
 * lookup fails with EIO without being made.  The first matching rule wins.
 */
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

/* 0: go on at once, >0 go on after that many ms, <0: fail. */
static long rule_for(const char *name, unsigned long id) {
        const char *path = getenv("SLOWNSS_RULES");
        char line[512], prefix[256], ms[32];
        unsigned long min, max;
        long result = 0;
        FILE *f;

        if (!path || !(f = fopen(path, "re")))
                return 0;
        while (fgets(line, sizeof(line), f)) {
                bool match = false;

                if (name && sscanf(line, "name %255s %31s", prefix, ms) == 2)
                        match = strncmp(name, prefix, strlen(prefix)) == 0;
                else if (!name && sscanf(line, "id %lu %lu %31s", &min, &max, ms) == 3)
                        match = id >= min && id <= max;
                if (match) {
                        result = strcmp(ms, "fail") == 0 ? -1 : strtol(ms, NULL, 10);
                        break;
                }
        }
        fclose(f);
        return result;
}

/* Returns 0 to go on with the real lookup, or the error to return. */
static int apply(const char *name, unsigned long id) {
        long r = rule_for(name, id);

        if (r < 0)
                return EIO;
        if (r > 0) {
                struct timespec ts = { .tv_sec = r / 1000, .tv_nsec = (r % 1000) * 1000000L };

                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }
        return 0;
}

/* A "user NAME UID" rule for name: 1 and *uid, or 0. */
static int user_rule(const char *name, unsigned long *uid) {
        const char *path = getenv("SLOWNSS_RULES");
        char line[512], rname[256];
        int found = 0;
        FILE *f;

        if (!path || !(f = fopen(path, "re")))
                return 0;
        while (!found && fgets(line, sizeof(line), f))
                found = sscanf(line, "user %255s %lu", rname, uid) == 2 && strcmp(rname, name) == 0;
        fclose(f);
        return found;
}

/* The account of a "user" rule in buf: name, "*", uid, gid, "", "/", nologin. */
static int fake_user(const char *name, unsigned long uid, struct passwd *pw, char *buf, size_t n,
                     struct passwd **res) {
        static const char *const rest[] = { "*", "", "/", "/usr/sbin/nologin" };
        char **fields[] = { &pw->pw_passwd, &pw->pw_gecos, &pw->pw_dir, &pw->pw_shell };
        size_t need = strlen(name) + 1, at;

        for (size_t i = 0; i < 4; i++)
                need += strlen(rest[i]) + 1;
        if (need > n)
                return ERANGE;
        pw->pw_name = strcpy(buf, name);
        at = strlen(name) + 1;
        for (size_t i = 0; i < 4; i++) {
                *fields[i] = strcpy(buf + at, rest[i]);
                at += strlen(rest[i]) + 1;
        }
        pw->pw_uid = (uid_t) uid;
        pw->pw_gid = (gid_t) uid;
        *res = pw;
        return 0;
}

#define NEXT(type, sym) ((type) dlsym(RTLD_NEXT, sym))

EXPORT int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t n, struct passwd **res);
int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t n, struct passwd **res) {
        int r = apply(name, 0);
        unsigned long uid;

        *res = NULL;
        if (r)
                return r;
        if (user_rule(name, &uid))
                return fake_user(name, uid, pw, buf, n, res);
        return NEXT(int (*)(const char *, struct passwd *, char *, size_t, struct passwd **),
                    "getpwnam_r")(name, pw, buf, n, res);
}

EXPORT int getgrnam_r(const char *name, struct group *gr, char *buf, size_t n, struct group **res);
int getgrnam_r(const char *name, struct group *gr, char *buf, size_t n, struct group **res) {
        int r = apply(name, 0);

        *res = NULL;
        if (r)
                return r;
        return NEXT(int (*)(const char *, struct group *, char *, size_t, struct group **),
                    "getgrnam_r")(name, gr, buf, n, res);
}

EXPORT int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t n, struct passwd **res);
int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t n, struct passwd **res) {
        int r = apply(NULL, uid);

        *res = NULL;
        if (r)
                return r;
        return NEXT(int (*)(uid_t, struct passwd *, char *, size_t, struct passwd **),
                    "getpwuid_r")(uid, pw, buf, n, res);
}

EXPORT int getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t n, struct group **res);
int getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t n, struct group **res) {
        int r = apply(NULL, gid);

        *res = NULL;
        if (r)
                return r;
        return NEXT(int (*)(gid_t, struct group *, char *, size_t, struct group **),
                    "getgrgid_r")(gid, gr, buf, n, res);
}
