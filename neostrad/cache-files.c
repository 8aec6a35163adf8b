/* SPDX-License-Identifier: MIT */
/*
 * The cache's files on disk, before SQLite opens any of them (steps 1 and
 * 2 of cache.c's opening): the directory must be ours and private, every
 * file of the database set a regular file of ours that nobody else can
 * read; a set that is not is renamed aside, and the database file is
 * created 0600 by us.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache-internal.h"
#include "log.h"

const char *const cache_file_suffix[_FILE_MAX] = {
        [FILE_DB] = "",
        [FILE_WAL] = "-wal",
        [FILE_SHM] = "-shm",
        [FILE_JOURNAL] = "-journal",
};

/* ---- directory and file checks ------------------------------------------ */

int cache_check_directory(const char *directory, int *ret_fd) {
        __attribute__((cleanup(closep))) int fd = -1;
        struct stat lst, st;

        if (mkdir(directory, 0700) == 0)
                log_msg(LOG_INFO, "cache: created %s", directory);
        else if (errno != EEXIST) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot create %s: %s", directory, strerror(-r));
                return r;
        }

        if (lstat(directory, &lst) < 0) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot examine %s: %s", directory, strerror(-r));
                return r;
        }
        if (S_ISLNK(lst.st_mode)) {
                log_msg(LOG_ERR, "cache: %s is a symlink, not a directory; refusing it", directory);
                return -ELOOP;
        }
        if (!S_ISDIR(lst.st_mode)) {
                log_msg(LOG_ERR, "cache: %s is not a directory; refusing it", directory);
                return -ENOTDIR;
        }

        /* From here on the descriptor, not the name, is what we judge and
         * change, so a rename between the checks cannot fool us. */
        fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot open %s: %s", directory, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != lst.st_dev || st.st_ino != lst.st_ino) {
                log_msg(LOG_ERR, "cache: %s changed while it was being checked", directory);
                return -EAGAIN;
        }
        if (st.st_uid != geteuid()) {
                log_msg(LOG_ERR, "cache: %s is owned by uid %u, not by us (uid %u); refusing it",
                        directory, (unsigned) st.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        if ((st.st_mode & 07777) != 0700) {
                if (fchmod(fd, 0700) < 0) {
                        int r = -errno;

                        log_msg(LOG_ERR, "cache: cannot chmod %s to 0700: %s", directory, strerror(-r));
                        return r;
                }
                log_msg(LOG_WARNING, "cache: %s had mode %04o; changed it to 0700",
                        directory, (unsigned) (st.st_mode & 07777));
        }

        *ret_fd = fd;
        fd = -1;
        return 0;
}

/*
 * SQLITE_OPEN_NOFOLLOW refuses a symlink anywhere in the path, not only in
 * the last component, and a /var/lib reached through a symlink is a
 * legitimate setup.  The directory itself was refused above if it is a
 * symlink; SQLite gets the path with the ancestors resolved, checked to
 * still name the directory we judged.
 */
int cache_canonical_directory(const char *directory, int dirfd, char **ret) {
        struct stat st, real_st;
        char *real;

        real = realpath(directory, NULL);
        if (!real) {
                int r = -errno;

                log_msg(LOG_ERR, "cache: cannot resolve %s: %s", directory, strerror(-r));
                return r;
        }
        if (fstat(dirfd, &st) < 0 || stat(real, &real_st) < 0 ||
            st.st_dev != real_st.st_dev || st.st_ino != real_st.st_ino) {
                log_msg(LOG_ERR, "cache: %s changed while it was being checked", directory);
                free(real);
                return -EAGAIN;
        }
        *ret = real;
        return 0;
}

static void file_name(int which, char *buf, size_t size) {
        snprintf(buf, size, "%s%s", CACHE_FILE_NAME, cache_file_suffix[which]);
}

/* NULL when the file is absent or fit to use; otherwise why it is not. */
static const char *file_distrust(int dirfd, const char *name, char *buf, size_t size) {
        struct stat st;

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return NULL;
                snprintf(buf, size, "cannot be examined (%s)", strerror(errno));
                return buf;
        }
        if (S_ISLNK(st.st_mode))
                return "is a symlink";
        if (!S_ISREG(st.st_mode))
                return "is not a regular file";
        if (st.st_uid != geteuid()) {
                snprintf(buf, size, "is owned by uid %u, not by us (uid %u)",
                         (unsigned) st.st_uid, (unsigned) geteuid());
                return buf;
        }
        if (st.st_mode & 077) {
                snprintf(buf, size, "is accessible to group or others (mode %04o)",
                         (unsigned) (st.st_mode & 07777));
                return buf;
        }
        return NULL;
}

/* Rename every file of the set that exists to "<file>.broken-<time>",
 * never over an existing name. */
int cache_set_aside(const char *directory, int dirfd) {
        time_t now = time(NULL);

        for (int i = 0; i < _FILE_MAX; i++) {
                char name[64], aside[128];
                struct stat st;
                int r = -EEXIST;

                file_name(i, name, sizeof(name));
                if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                for (unsigned n = 0; n < 100 && r == -EEXIST; n++) {
                        if (n == 0)
                                snprintf(aside, sizeof(aside), "%s.broken-%jd", name, (intmax_t) now);
                        else
                                snprintf(aside, sizeof(aside), "%s.broken-%jd.%u", name,
                                         (intmax_t) now, n);
                        r = renameat2(dirfd, name, dirfd, aside, RENAME_NOREPLACE) < 0 ? -errno : 0;
                        if (r == -EINVAL) {
                                /* A file system without RENAME_NOREPLACE: the
                                 * directory is ours alone, so look, then leap. */
                                if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0)
                                        r = -EEXIST;
                                else
                                        r = renameat(dirfd, name, dirfd, aside) < 0 ? -errno : 0;
                        }
                }
                if (r < 0) {
                        log_msg(LOG_ERR, "cache: cannot move %s/%s aside: %s",
                                directory, name, strerror(-r));
                        return r;
                }
                log_msg(LOG_WARNING, "cache: moved %s/%s aside to %s", directory, name, aside);
        }
        return 0;
}

/* The time a name cache_set_aside() gave says the file was set aside
 * ("<member>.broken-<time>" or "<member>.broken-<time>.<n>"), or -1 for
 * any other name. */
static int64_t set_aside_time(const char *name) {
        for (int i = 0; i < _FILE_MAX; i++) {
                char prefix[96];
                const char *p;
                char *end;
                long long t;

                snprintf(prefix, sizeof(prefix), "%s%s.broken-", CACHE_FILE_NAME, cache_file_suffix[i]);
                if (strncmp(name, prefix, strlen(prefix)) != 0)
                        continue;
                p = name + strlen(prefix);
                if (*p < '0' || *p > '9')
                        return -1;
                errno = 0;
                t = strtoll(p, &end, 10);
                if (errno != 0 || t < 0)
                        return -1;
                if (*end == '.') {
                        p = end + 1;
                        if (*p < '0' || *p > '9' || strspn(p, "0123456789") != strlen(p))
                                return -1;
                } else if (*end != 0)
                        return -1;
                return (int64_t) t;
        }
        return -1;
}

int cache_remove_set_aside(Cache *c, int64_t max_age_sec, int64_t now) {
        int fd, removed = 0;
        struct dirent *e;
        DIR *d;

        if (!c || max_age_sec < 0)
                return -EINVAL;
        fd = open(c->directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                int r = -errno;

                close(fd);
                return r;
        }
        while ((e = readdir(d))) {
                int64_t t = set_aside_time(e->d_name);

                /* A time in the future (a clock set back) waits for it. */
                if (t < 0 || now - t < max_age_sec)
                        continue;
                /* Never the database the cache uses: the pattern keeps it
                 * out, and unlinkat() does not follow a symlink. */
                if (unlinkat(fd, e->d_name, 0) < 0) {
                        log_msg(LOG_WARNING, "cache: cannot remove %s/%s: %s", c->directory, e->d_name,
                                strerror(errno));
                        continue;
                }
                log_msg(LOG_NOTICE, "cache: removed %s/%s, set aside longer ago than offline_max_age",
                        c->directory, e->d_name);
                removed++;
        }
        closedir(d);
        return removed;
}

int cache_check_files(const char *directory, int dirfd) {
        bool bad = false;

        for (int i = 0; i < _FILE_MAX; i++) {
                char name[64], buf[128];
                const char *why;

                file_name(i, name, sizeof(name));
                why = file_distrust(dirfd, name, buf, sizeof(buf));
                if (why) {
                        log_msg(LOG_WARNING, "cache: %s/%s %s; setting the cache aside and starting empty",
                                directory, name, why);
                        bad = true;
                }
        }
        /* One untrusted member taints the set: a WAL belongs to its
         * database, and a database mid-checkpoint needs its WAL. */
        return bad ? cache_set_aside(directory, dirfd) : 0;
}

/* Create the database file 0600 ourselves (SQLite would use 0644 & ~umask)
 * and make sure every existing member of the set is 0600: SQLite creates
 * -wal and -shm with the database file's mode.  Nothing of SQLite's is open
 * yet, so opening the files here cannot drop its locks. */
int cache_prepare_files(int dirfd) {
        for (int i = 0; i < _FILE_MAX; i++) {
                __attribute__((cleanup(closep))) int fd = -1;
                char name[64];
                struct stat st;
                int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;

                file_name(i, name, sizeof(name));
                if (i == FILE_DB)
                        flags |= O_CREAT;
                fd = openat(dirfd, name, flags, 0600);
                if (fd < 0) {
                        if (errno == ENOENT && i != FILE_DB)
                                continue;
                        return -errno;
                }
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
                        return -EPERM;
                if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
                        return -errno;
        }
        return 0;
}
