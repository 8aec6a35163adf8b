/* SPDX-License-Identifier: MIT */
/*
 * The persistent cache: round trips, the trust rules for the directory and
 * the files, corrupt and foreign databases set aside, bad rows skipped,
 * failed writes that leave the old row alone, and secure_delete; the uid
 * assignments that deleting users leaves alone, the access fields, the
 * checkpoint that takes dropped secrets out of the WAL, and set-aside
 * files removed once old enough.  The
 * secrets (token, refresh token, verifier) are written next to a record
 * and read back one at a time; a load says only which exist.
 *
 * A real full disk (a tiny tmpfs) is left to the integration tests, which
 * can mount one; here a write failure is made with RLIMIT_FSIZE instead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "cache.h"
#include "users.h"

#define VERIFIER "$y$j9T$Zx0N5hYl0eMWKyCZTlx3n/$kR7Ld3Z8RmZrYpY9x8d0rQhQfG0cQm4a7uVn3dM1Gg5"

struct fixture {
        char tmp[64];   /* mkdtemp'd, removed afterwards */
        char dir[128];  /* tmp/cache: the cache directory (created by cache_open) */
        char db[160];   /* dir/neostrad.db */
};

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        return remove(path);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->tmp, "/tmp/test_cache.XXXXXX");
        assert_non_null(mkdtemp(f->tmp));
        snprintf(f->dir, sizeof(f->dir), "%s/cache", f->tmp);
        snprintf(f->db, sizeof(f->db), "%s/%s", f->dir, CACHE_FILE_NAME);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *xstrdup(const char *s) {
        char *p;

        if (!s)
                return NULL;
        p = strdup(s);
        assert_non_null(p);
        return p;
}

/* A record and the secrets that go with it into the cache. */
struct rec {
        struct user_record *u;
        struct user_secrets s;
};

static struct rec rec_new(const char *name, const char *token) {
        struct user_record *u = calloc(1, sizeof(*u));

        assert_non_null(u);
        u->name = xstrdup(name);
        u->email = xstrdup("someone@example.com");
        return (struct rec) { .u = u, .s = { .mask = SECRET_ALL, .token = xstrdup(token) } };
}

static void rec_free(struct rec *r) {
        user_record_free(r->u);
        user_secrets_clear(&r->s);
}

static int rec_put(Cache *c, const struct rec *r) {
        return cache_put_secrets(c, r->u, &r->s);
}

static void rec_set_roles(struct rec *r, size_t n, ...) {
        char *v[8];
        va_list ap;

        assert_true(n <= 8);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                v[i] = va_arg(ap, char *);
        va_end(ap);
        role_set_unref(r->u->roles);
        assert_int_equal(role_set_intern(v, n, &r->u->roles), 0);
}

/* What cache_load handed out, as a list through ->next. */
struct loaded {
        struct user_record *head;
        size_t n;
};

static int collect(struct user_record *u, void *userdata) {
        struct loaded *l = userdata;

        u->next = l->head;
        l->head = u;
        l->n++;
        return 0;
}

static void loaded_free(struct loaded *l) {
        while (l->head) {
                struct user_record *u = l->head;

                l->head = u->next;
                user_record_free(u);
        }
        l->n = 0;
}

static struct user_record *loaded_find(struct loaded *l, const char *name) {
        for (struct user_record *u = l->head; u; u = u->next)
                if (strcmp(u->name, name) == 0)
                        return u;
        return NULL;
}

static void load(Cache *c, struct loaded *l) {
        memset(l, 0, sizeof(*l));
        assert_int_equal(cache_load(c, collect, l), 0);
}

static Cache *open_ok(const struct fixture *f) {
        Cache *c = NULL;

        assert_int_equal(cache_open(f->dir, &c), 0);
        assert_non_null(c);
        return c;
}

static void put_ok(Cache *c, const char *name, const char *token) {
        struct rec r = rec_new(name, token);

        assert_int_equal(rec_put(c, &r), 0);
        rec_free(&r);
}

static size_t count_loaded(Cache *c) {
        struct loaded l;
        size_t n;

        load(c, &l);
        n = l.n;
        loaded_free(&l);
        return n;
}

/* A cache holding alice, closed again. */
static void make_cache_with_alice(const struct fixture *f) {
        Cache *c = open_ok(f);

        put_ok(c, "alice", "alice-token");
        cache_close(c);
}

/* Entries of dir whose name starts with prefix. */
static unsigned count_prefix(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(d);
        return n;
}

static unsigned count_aside(const struct fixture *f) {
        return count_prefix(f->dir, CACHE_FILE_NAME ".broken-");
}

static void write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        close(fd);
}

static char *read_file(const char *path, size_t *len) {
        FILE *fp = fopen(path, "rb");
        char *buf = NULL;
        size_t size = 0, n;
        char chunk[4096];

        if (!fp) {
                *len = 0;
                return NULL;
        }
        while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
                buf = realloc(buf, size + n);
                assert_non_null(buf);
                memcpy(buf + size, chunk, n);
                size += n;
        }
        fclose(fp);
        *len = size;
        return buf;
}

/* Whether needle occurs in any file of dir (call with the cache closed:
 * opening a database file SQLite holds would drop its POSIX locks). */
static bool dir_contains(const char *dir, const char *needle) {
        DIR *d = opendir(dir);
        struct dirent *e;
        bool found = false;

        assert_non_null(d);
        while (!found && (e = readdir(d))) {
                char path[512];
                size_t len;
                char *data;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                data = read_file(path, &len);
                found = data && memmem(data, len, needle, strlen(needle));
                free(data);
        }
        closedir(d);
        return found;
}

static void sql(const char *db_path, const char *statements) {
        sqlite3 *db = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                         SQLITE_OK);
        if (sqlite3_exec(db, statements, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("sql: %s", err);
        sqlite3_close(db);
}

static mode_t mode_of(const char *path) {
        struct stat st;

        assert_int_equal(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

static void assert_str_or_null(const char *a, const char *b) {
        if (!b)
                assert_null(a);
        else {
                assert_non_null(a);
                assert_string_equal(a, b);
        }
}

static void assert_secret(Cache *c, const char *name, unsigned which, const char *expected) {
        char *v = (char *) "untouched";

        assert_int_equal(cache_get_secret(c, name, which, &v), 0);
        assert_str_or_null(v, expected);
        free(v);
}

/* a as loaded, b as written (with its secrets). */
static void assert_same_record(Cache *c, const struct user_record *a, const struct rec *b) {
        assert_string_equal(a->name, b->u->name);
        assert_string_equal(a->email, b->u->email);
        assert_int_equal(user_n_roles(a), user_n_roles(b->u));
        for (size_t i = 0; i < user_n_roles(a); i++)
                assert_string_equal(user_roles(a)[i], user_roles(b->u)[i]);
        /* The same roles are the same interned set. */
        assert_ptr_equal(a->roles, b->u->roles);
        assert_int_equal(a->has_token, b->s.token != NULL);
        assert_int_equal(a->has_refresh_token, b->s.refresh_token != NULL);
        assert_int_equal(a->has_verifier, b->s.verifier != NULL);
        assert_secret(c, a->name, SECRET_TOKEN, b->s.token);
        assert_secret(c, a->name, SECRET_REFRESH_TOKEN, b->s.refresh_token);
        assert_secret(c, a->name, SECRET_VERIFIER, b->s.verifier);
        assert_int_equal(a->token_expires, b->u->token_expires);
        assert_int_equal(a->last_online_success, b->u->last_online_success);
        assert_int_equal(a->verifier_time, b->u->verifier_time);
        assert_int_equal(a->offline_failures, b->u->offline_failures);
        assert_int_equal(a->invalidated, b->u->invalidated);
        assert_null(a->live);
}

static bool is_root(void) {
        if (geteuid() == 0)
                return true;
        print_message("skipped: needs root to chown files to another uid\n");
        return false;
}

/* ---- round trips -------------------------------------------------------- */

static struct rec full_record(void) {
        struct rec r = rec_new("alice", "eyJhbGciOi.full.token");

        free(r.u->email);
        r.u->email = xstrdup("alice@example.com");
        rec_set_roles(&r, 3, "dev", "admin", "r\xc3\xb4le with \"quotes\" and \\");
        r.s.refresh_token = xstrdup("refresh-1");
        r.u->token_expires = 1700003600;
        r.u->last_online_success = 1700000000;
        r.s.verifier = xstrdup(VERIFIER);
        r.u->verifier_time = 1699999999;
        r.u->offline_failures = 4;
        r.u->invalidated = true;
        return r;
}

/* Every nullable field NULL, every number zero, no roles, empty email. */
static struct rec sparse_record(void) {
        struct rec r = rec_new("bob@example.com", NULL);

        free(r.u->email);
        r.u->email = xstrdup("");
        return r;
}

static void test_round_trip(void **state) {
        struct fixture *f = *state;
        struct rec a = full_record(), b = sparse_record();
        struct loaded l;
        Cache *c = open_ok(f);

        assert_int_equal(rec_put(c, &a), 0);
        assert_int_equal(rec_put(c, &b), 0);
        load(c, &l);
        assert_int_equal(l.n, 2);
        assert_same_record(c, loaded_find(&l, "alice"), &a);
        assert_same_record(c, loaded_find(&l, "bob@example.com"), &b);
        loaded_free(&l);
        assert_true(cache_size(c) > 0);
        cache_close(c);
        rec_free(&a);
        rec_free(&b);
}

static void test_replace(void **state) {
        struct fixture *f = *state;
        struct rec a = full_record(), b = full_record();
        struct loaded l;
        Cache *c = open_ok(f);

        assert_int_equal(rec_put(c, &a), 0);
        free(b.s.token);
        b.s.token = NULL;
        free(b.s.verifier);
        b.s.verifier = NULL;
        b.u->offline_failures = 0;
        b.u->invalidated = false;
        b.u->token_expires = 42;
        assert_int_equal(rec_put(c, &b), 0);

        load(c, &l);
        assert_int_equal(l.n, 1);
        assert_same_record(c, l.head, &b);
        loaded_free(&l);
        cache_close(c);
        rec_free(&a);
        rec_free(&b);
}

/* A write without a secret in its mask leaves the stored one alone; one
 * with it in the mask replaces or drops it; a new row gets none. */
static void test_secret_mask(void **state) {
        struct fixture *f = *state;
        struct rec a = full_record();
        struct user_secrets s;
        struct loaded l;
        char *v = NULL;
        Cache *c = open_ok(f);

        assert_int_equal(rec_put(c, &a), 0);
        a.u->offline_failures = 7;
        assert_int_equal(cache_put(c, a.u), 0);
        assert_secret(c, "alice", SECRET_TOKEN, a.s.token);
        assert_secret(c, "alice", SECRET_REFRESH_TOKEN, "refresh-1");
        assert_secret(c, "alice", SECRET_VERIFIER, VERIFIER);

        /* A refresh: a new token, the rest as it was. */
        s = (struct user_secrets) { .mask = SECRET_TOKEN, .token = xstrdup("token-2") };
        assert_int_equal(cache_put_secrets(c, a.u, &s), 0);
        user_secrets_clear(&s);
        assert_secret(c, "alice", SECRET_TOKEN, "token-2");
        assert_secret(c, "alice", SECRET_VERIFIER, VERIFIER);

        /* A refusal: everything dropped. */
        s = (struct user_secrets) { .mask = SECRET_ALL };
        assert_int_equal(cache_put_secrets(c, a.u, &s), 0);
        assert_secret(c, "alice", SECRET_TOKEN, NULL);
        assert_secret(c, "alice", SECRET_REFRESH_TOKEN, NULL);
        assert_secret(c, "alice", SECRET_VERIFIER, NULL);
        load(c, &l);
        assert_int_equal(l.n, 1);
        assert_false(l.head->has_token || l.head->has_refresh_token || l.head->has_verifier);
        assert_int_equal(l.head->offline_failures, 7);
        loaded_free(&l);

        /* A new row written without secrets has none. */
        {
                struct rec b = rec_new("bob", "never-written");

                assert_int_equal(cache_put(c, b.u), 0);
                assert_secret(c, "bob", SECRET_TOKEN, NULL);
                rec_free(&b);
        }
        /* No row, an unknown secret, a bad mask. */
        assert_int_equal(cache_get_secret(c, "nobody", SECRET_TOKEN, &v), -ENOENT);
        assert_int_equal(cache_get_secret(c, "alice", SECRET_ALL, &v), -EINVAL);
        assert_null(v);
        s = (struct user_secrets) { .mask = 8 };
        assert_int_equal(cache_put_secrets(c, a.u, &s), -EINVAL);
        cache_close(c);
        rec_free(&a);
}

/* cache_scrub() builds its row of zeros in a transaction it rolls back:
 * nothing of it reaches the file, the rows stay as they were, and the
 * cache goes on working. */
static void test_scrub_writes_nothing(void **state) {
        struct fixture *f = *state;
        struct rec a = full_record();
        struct loaded l;
        sqlite3 *other = NULL;
        sqlite3_stmt *s = NULL;
        Cache *c = open_ok(f);

        assert_int_equal(rec_put(c, &a), 0);
        cache_scrub(c);
        cache_scrub(c);
        assert_secret(c, "alice", SECRET_TOKEN, a.s.token);
        load(c, &l);
        assert_int_equal(l.n, 1);
        loaded_free(&l);
        put_ok(c, "bob", "t");

        assert_int_equal(sqlite3_open_v2(f->db, &other, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(other, "SELECT count(*) FROM meta WHERE key = ''", -1, &s, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(s, 0), 0);
        sqlite3_finalize(s);
        sqlite3_close(other);
        /* Held by another writer: skipped, nothing breaks. */
        assert_int_equal(sqlite3_open_v2(f->db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        cache_scrub(c);
        assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        assert_int_equal(count_loaded(c), 2);
        cache_close(c);
        rec_free(&a);
}

/* A secret changed behind the daemon's back into something it would never
 * write, or a table it cannot read: an error, never a value. */
static void test_get_secret_fails_closed(void **state) {
        struct fixture *f = *state;
        struct rec a = full_record();
        char *v = NULL;
        Cache *c = open_ok(f);

        assert_int_equal(rec_put(c, &a), 0);
        sql(f->db, "UPDATE users SET verifier = 'hunter2', token = x'00' WHERE name = 'alice'");
        assert_int_equal(cache_get_secret(c, "alice", SECRET_VERIFIER, &v), -EBADMSG);
        assert_int_equal(cache_get_secret(c, "alice", SECRET_TOKEN, &v), -EBADMSG);
        assert_null(v);
        sql(f->db, "ALTER TABLE users RENAME TO users_elsewhere");
        assert_true(cache_get_secret(c, "alice", SECRET_VERIFIER, &v) < 0);
        assert_null(v);
        sql(f->db, "ALTER TABLE users_elsewhere RENAME TO users");
        cache_close(c);
        rec_free(&a);
}

static void test_delete(void **state) {
        struct fixture *f = *state;
        struct loaded l;
        Cache *c = open_ok(f);

        put_ok(c, "alice", "t1");
        put_ok(c, "bob", "t2");
        put_ok(c, "carol", "t3");

        assert_int_equal(cache_delete(c, "bob"), 0);
        assert_int_equal(cache_delete(c, "nobody-here"), 0);
        load(c, &l);
        assert_int_equal(l.n, 2);
        assert_non_null(loaded_find(&l, "alice"));
        assert_non_null(loaded_find(&l, "carol"));
        assert_null(loaded_find(&l, "bob"));
        loaded_free(&l);

        assert_int_equal(cache_delete(c, NULL), 0);
        assert_int_equal(count_loaded(c), 0);
        /* Still usable after a delete. */
        put_ok(c, "dave", "t4");
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);
}

static void test_persistence(void **state) {
        struct fixture *f = *state;
        struct rec a = full_record(), b = sparse_record();
        struct loaded l;
        Cache *c = open_ok(f);

        assert_int_equal(rec_put(c, &a), 0);
        assert_int_equal(rec_put(c, &b), 0);
        cache_close(c);

        c = open_ok(f);
        load(c, &l);
        assert_int_equal(l.n, 2);
        assert_same_record(c, loaded_find(&l, "alice"), &a);
        assert_same_record(c, loaded_find(&l, "bob@example.com"), &b);
        loaded_free(&l);
        assert_int_equal(count_aside(f), 0);
        cache_close(c);
        rec_free(&a);
        rec_free(&b);
}

static void test_put_refuses_invalid_records(void **state) {
        struct fixture *f = *state;
        struct rec r;
        Cache *c = open_ok(f);

        r = rec_new("bad name", "t");
        assert_int_equal(rec_put(c, &r), -EINVAL);
        rec_free(&r);

        r = rec_new("alice", "t");
        r.s.verifier = xstrdup("plaintext-password");
        assert_int_equal(rec_put(c, &r), -EINVAL);
        rec_free(&r);

        r = rec_new("alice", "tok\nen");
        assert_int_equal(rec_put(c, &r), -EINVAL);
        rec_free(&r);

        r = rec_new("alice", "t");
        rec_set_roles(&r, 1, "");
        assert_int_equal(rec_put(c, &r), -EINVAL);
        rec_free(&r);

        r = rec_new("alice", "t");
        rec_set_roles(&r, 1, "\xff\xfe not utf-8");
        assert_int_equal(rec_put(c, &r), -EINVAL);
        rec_free(&r);

        r = rec_new("alice", "t");
        r.u->token_expires = -1;
        assert_int_equal(rec_put(c, &r), -EINVAL);
        rec_free(&r);

        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
}

/* ---- directory and file trust ------------------------------------------- */

static void test_modes(void **state) {
        struct fixture *f = *state;
        char path[256];
        Cache *c;

        /* The directory does not exist yet: cache_open creates it 0700. */
        c = open_ok(f);
        put_ok(c, "alice", "t");
        assert_int_equal(mode_of(f->dir), 0700);
        assert_int_equal(mode_of(f->db), 0600);
        snprintf(path, sizeof(path), "%s-wal", f->db);
        assert_int_equal(mode_of(path), 0600);
        snprintf(path, sizeof(path), "%s-shm", f->db);
        assert_int_equal(mode_of(path), 0600);
        cache_close(c);

        /* A directory of ours with group/world bits is tightened. */
        assert_int_equal(chmod(f->dir, 0755), 0);
        c = open_ok(f);
        assert_int_equal(mode_of(f->dir), 0700);
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);
}

static void test_directory_not_usable(void **state) {
        struct fixture *f = *state;
        char link[256], file[256];
        Cache *c = NULL;

        /* A symlink to a good directory is still refused. */
        assert_int_equal(mkdir(f->dir, 0700), 0);
        snprintf(link, sizeof(link), "%s/link", f->tmp);
        assert_int_equal(symlink(f->dir, link), 0);
        assert_int_equal(cache_open(link, &c), -ELOOP);
        assert_null(c);

        snprintf(file, sizeof(file), "%s/file", f->tmp);
        write_file(file, "x", 1);
        assert_int_equal(cache_open(file, &c), -ENOTDIR);
        assert_null(c);

        if (!is_root()) {
                skip();
                return;
        }
        assert_int_equal(chown(f->dir, 1, 1), 0);
        assert_int_equal(cache_open(f->dir, &c), -EPERM);
        assert_null(c);
        /* Not ours: we must not have touched it. */
        assert_int_equal(mode_of(f->dir), 0700);
}

/* Only the cache directory itself must not be a symlink: /var/lib (or any
 * other ancestor) may be one. */
static void test_symlinked_parent(void **state) {
        struct fixture *f = *state;
        char real[256], link[256], dir[300];
        Cache *c = NULL;

        snprintf(real, sizeof(real), "%s/real", f->tmp);
        snprintf(link, sizeof(link), "%s/link", f->tmp);
        snprintf(dir, sizeof(dir), "%s/cache", link);
        assert_int_equal(mkdir(real, 0755), 0);
        assert_int_equal(symlink(real, link), 0);

        assert_int_equal(cache_open(dir, &c), 0);
        put_ok(c, "alice", "t");
        cache_close(c);
        c = NULL;
        assert_int_equal(cache_open(dir, &c), 0);
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);
}

static void test_symlinked_db_set_aside(void **state) {
        struct fixture *f = *state;
        char target[256], aside[512], *data;
        struct dirent *e;
        size_t len;
        DIR *d;
        Cache *c;

        make_cache_with_alice(f);
        /* The database replaced by a symlink to a file elsewhere. */
        snprintf(target, sizeof(target), "%s/precious", f->tmp);
        write_file(target, "precious bytes", 14);
        assert_int_equal(unlink(f->db), 0);
        assert_int_equal(symlink(target, f->db), 0);

        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        assert_int_equal(count_aside(f), 1);
        put_ok(c, "bob", "t");
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);

        /* The link was moved, not followed; its target is untouched. */
        data = read_file(target, &len);
        assert_int_equal(len, 14);
        assert_memory_equal(data, "precious bytes", 14);
        free(data);
        d = opendir(f->dir);
        assert_non_null(d);
        aside[0] = 0;
        while ((e = readdir(d)))
                if (strncmp(e->d_name, CACHE_FILE_NAME ".broken-", strlen(CACHE_FILE_NAME ".broken-")) == 0)
                        snprintf(aside, sizeof(aside), "%s/%s", f->dir, e->d_name);
        closedir(d);
        {
                struct stat st;

                assert_int_equal(lstat(aside, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
                assert_int_equal(lstat(f->db, &st), 0);
                assert_true(S_ISREG(st.st_mode));
        }
}

static void test_symlinked_wal_sets_aside_the_set(void **state) {
        struct fixture *f = *state;
        char target[256], wal[256];
        Cache *c;

        make_cache_with_alice(f);
        snprintf(target, sizeof(target), "%s/elsewhere", f->tmp);
        write_file(target, "", 0);
        snprintf(wal, sizeof(wal), "%s-wal", f->db);
        assert_int_equal(symlink(target, wal), 0);

        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
        assert_int_equal(count_aside(f), 1);
        assert_int_equal(count_prefix(f->dir, CACHE_FILE_NAME "-wal.broken-"), 1);
}

static void test_foreign_owner_set_aside(void **state) {
        struct fixture *f = *state;
        Cache *c;

        if (!is_root()) {
                skip();
                return;
        }
        make_cache_with_alice(f);
        assert_int_equal(chown(f->db, 1, 1), 0);
        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
        assert_int_equal(count_aside(f), 1);
}

static void test_group_writable_set_aside(void **state) {
        struct fixture *f = *state;
        Cache *c;

        make_cache_with_alice(f);
        assert_int_equal(chmod(f->db, 0620), 0);
        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
        assert_int_equal(count_aside(f), 1);
        assert_int_equal(mode_of(f->db), 0600);

        /* World-readable is just as bad: the file holds tokens. */
        make_cache_with_alice(f);
        assert_int_equal(chmod(f->db, 0604), 0);
        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
        assert_int_equal(count_aside(f), 2);
}

/* ---- contents that cannot be trusted ------------------------------------ */

static void test_garbage_set_aside(void **state) {
        struct fixture *f = *state;
        char garbage[8192];
        Cache *c;

        for (size_t i = 0; i < sizeof(garbage); i++)
                garbage[i] = (char) (i * 7 + 3);
        assert_int_equal(mkdir(f->dir, 0700), 0);
        write_file(f->db, garbage, sizeof(garbage));

        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        put_ok(c, "alice", "t");
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);
        assert_int_equal(count_aside(f), 1);

        /* And the new one survives a restart. */
        c = open_ok(f);
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);
        assert_int_equal(count_aside(f), 1);
}

static void test_corrupt_page_set_aside(void **state) {
        struct fixture *f = *state;
        char *data, page[4096];
        size_t len;
        Cache *c;

        c = open_ok(f);
        for (int i = 0; i < 50; i++) {
                char name[32];

                snprintf(name, sizeof(name), "user%d", i);
                put_ok(c, name, "a-token-long-enough-to-need-a-few-pages-of-data-in-the-users-table");
        }
        cache_close(c);

        /* The header stays valid (so SQLite opens it), a b-tree page does not. */
        data = read_file(f->db, &len);
        assert_true(len >= 3 * 4096);
        free(data);
        memset(page, 0x5a, sizeof(page));
        {
                int fd = open(f->db, O_WRONLY | O_CLOEXEC);

                assert_true(fd >= 0);
                assert_int_equal(pwrite(fd, page, sizeof(page), (off_t) len - 4096), 4096);
                close(fd);
        }

        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
        assert_int_equal(count_aside(f), 1);
}

static void test_schema_version_set_aside(void **state) {
        struct fixture *f = *state;
        static const char *const bad[] = {
                /* newer than this build */
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                "INSERT INTO meta VALUES ('schema_version', '999');"
                "CREATE TABLE users (name TEXT PRIMARY KEY);",
                /* not a version at all */
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                "INSERT INTO meta VALUES ('schema_version', 'one');",
                /* no version */
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
                /* someone else's database */
                "CREATE TABLE t (x);",
                /* claims version 1 but has other tables */
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                "INSERT INTO meta VALUES ('schema_version', '1');"
                "CREATE TABLE users (name TEXT PRIMARY KEY, email TEXT);",
        };
        Cache *c;

        assert_int_equal(mkdir(f->dir, 0700), 0);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sql(f->db, bad[i]);
                assert_int_equal(chmod(f->db, 0600), 0);
                c = open_ok(f);
                assert_int_equal(count_loaded(c), 0);
                put_ok(c, "alice", "t");
                cache_close(c);
                assert_int_equal(count_aside(f), i + 1);
                assert_int_equal(unlink(f->db), 0);
        }
}

static void test_bad_rows_skipped(void **state) {
        struct fixture *f = *state;
        struct loaded l;
        Cache *c;

        make_cache_with_alice(f);
        sql(f->db,
            "INSERT INTO users (name, email, roles) VALUES ('carol', 'c@example.com', '[\"dev\"]');"
            /* invalid names */
            "INSERT INTO users (name, email, roles) VALUES ('bad/name', '', '[]');"
            "INSERT INTO users (name, email, roles) VALUES ('-rf', '', '[]');"
            "INSERT INTO users (name, email, roles) VALUES ('', '', '[]');"
            "INSERT INTO users (name, email, roles) VALUES (CAST('ab' || char(10) || 'c' AS TEXT), '', '[]');"
            "INSERT INTO users (name, email, roles) VALUES (x'616263', '', '[]');"
            "INSERT INTO users (name, email, roles) VALUES (printf('%.300c', 'x'), '', '[]');"
            /* a verifier that is not a yescrypt hash */
            "INSERT INTO users (name, email, roles, verifier) VALUES ('eve', '', '[]', 'hunter2');"
            "INSERT INTO users (name, email, roles, verifier) VALUES ('eve2', '', '[]', '$6$salt$sha512');"
            "INSERT INTO users (name, email, roles, verifier) VALUES ('eve3', '', '[]', 42);"
            /* roles that are not an array of clean strings */
            "INSERT INTO users (name, email, roles) VALUES ('mallory', '', 'not json');"
            "INSERT INTO users (name, email, roles) VALUES ('mallory2', '', '{\"a\":1}');"
            "INSERT INTO users (name, email, roles) VALUES ('mallory3', '', '[1]');"
            "INSERT INTO users (name, email, roles) VALUES ('mallory4', '', '[\"a\\u0000b\"]');"
            /* wrong types and ranges */
            "INSERT INTO users (name, email, roles, token_expires) VALUES ('trent', '', '[]', 'soon');"
            "INSERT INTO users (name, email, roles, token_expires) VALUES ('trent2', '', '[]', -5);"
            "INSERT INTO users (name, email, roles, invalidated) VALUES ('trent3', '', '[]', 2);"
            "INSERT INTO users (name, email, roles, offline_failures) VALUES ('trent4', '', '[]', 1.5);"
            "INSERT INTO users (name, email, roles, token) VALUES ('trent5', '', '[]', x'00');"
            "INSERT INTO users (name, email, roles, token) VALUES ('trent6', '', '[]', '');"
            "INSERT INTO users (name, email, roles, token) VALUES ('trent7', '', '[]', printf('%.20000c', 't'));"
            "INSERT INTO users (name, email, roles) VALUES ('trent8', char(7), '[]');");

        c = open_ok(f);
        load(c, &l);
        assert_int_equal(l.n, 2);
        assert_non_null(loaded_find(&l, "alice"));
        assert_non_null(loaded_find(&l, "carol"));
        assert_int_equal(user_n_roles(loaded_find(&l, "carol")), 1);
        assert_string_equal(user_roles(loaded_find(&l, "carol"))[0], "dev");
        assert_true(loaded_find(&l, "alice")->has_token);
        assert_false(loaded_find(&l, "carol")->has_token);
        loaded_free(&l);
        /* A bad row does not poison the database: it stays usable. */
        put_ok(c, "eve", "t");
        assert_int_equal(count_loaded(c), 3);
        cache_close(c);
        assert_int_equal(count_aside(f), 0);
}

static int stop_at_first(struct user_record *u, void *userdata) {
        user_record_free(u);
        return -ECANCELED;
}

static void test_callback_error_stops_load(void **state) {
        struct fixture *f = *state;
        Cache *c = open_ok(f);

        put_ok(c, "alice", "t");
        put_ok(c, "bob", "t");
        assert_int_equal(cache_load(c, stop_at_first, NULL), -ECANCELED);
        /* The statement was reset: loading again works. */
        assert_int_equal(count_loaded(c), 2);
        cache_close(c);
}

/* ---- failed writes ------------------------------------------------------ */

static void assert_token(Cache *c, const char *name, const char *token) {
        assert_secret(c, name, SECRET_TOKEN, token);
}

static void test_busy_write_keeps_old_row(void **state) {
        struct fixture *f = *state;
        sqlite3 *other = NULL;
        Cache *c = open_ok(f);

        put_ok(c, "alice", "old-token");

        /* Another connection holds the write lock past the busy timeout. */
        assert_int_equal(sqlite3_open_v2(f->db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        {
                struct rec r = rec_new("alice", "new-token");

                assert_int_equal(rec_put(c, &r), -EBUSY);
                assert_int_equal(cache_delete(c, "alice"), -EBUSY);
                rec_free(&r);
        }
        assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);

        assert_token(c, "alice", "old-token");
        put_ok(c, "alice", "new-token");
        assert_token(c, "alice", "new-token");
        cache_close(c);
}

/* Several users in one transaction: each row as cache_put_secrets() would
 * write it, a record that breaks the rules skipped on its own, and a
 * transaction that cannot start changes no row. */
static void test_put_batch(void **state) {
        struct fixture *f = *state;
        struct rec a = rec_new("alice", "token-a"), b = rec_new("bob", "token-b"),
                   bad = rec_new("carol", "token-c");
        struct user_secrets only_token = { .mask = SECRET_TOKEN };
        const struct user_record *users[3];
        const struct user_secrets *secrets[3];
        int results[3] = { 1, 1, 1 };
        sqlite3 *other;
        Cache *c = open_ok(f);

        put_ok(c, "bob", "old-b");
        bad.u->token_expires = -1;
        only_token.token = xstrdup("token-b");
        users[0] = a.u, users[1] = bad.u, users[2] = b.u;
        secrets[0] = &a.s, secrets[1] = &bad.s, secrets[2] = &only_token;
        assert_int_equal(cache_put_batch(c, 3, users, secrets, results), 0);
        assert_int_equal(results[0], 0);
        assert_int_equal(results[1], -EINVAL);
        assert_int_equal(results[2], 0);
        assert_token(c, "alice", "token-a");
        assert_token(c, "bob", "token-b");
        assert_int_equal(cache_get_secret(c, "carol", SECRET_TOKEN, &(char *) { NULL }), -ENOENT);

        /* No secrets at all (NULL) for a user: its row, secrets as stored. */
        a.u->offline_failures = 3;
        assert_int_equal(cache_put_batch(c, 1, users, NULL, results), 0);
        assert_token(c, "alice", "token-a");

        /* Nothing valid: nothing to do, no transaction. */
        assert_int_equal(cache_put_batch(c, 1, &users[1], &secrets[1], results), 0);
        assert_int_equal(results[0], -EINVAL);
        assert_int_equal(cache_put_batch(c, 0, NULL, NULL, NULL), 0);

        /* Another writer holds the database: the batch fails whole. */
        assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
        assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
        secrets[0] = &(struct user_secrets) { .mask = SECRET_TOKEN, .token = (char *) "token-a2" };
        assert_int_equal(cache_put_batch(c, 3, users, secrets, results), -EBUSY);
        assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(other);
        assert_token(c, "alice", "token-a");
        assert_token(c, "bob", "token-b");

        cache_close(c);
        user_secrets_clear(&only_token);
        rec_free(&a);
        rec_free(&b);
        rec_free(&bad);
}

static void test_failed_write_keeps_old_row(void **state) {
        struct fixture *f = *state;
        struct rlimit old, lim;
        struct rec u;
        char wal[256], *big;
        struct stat st;
        void (*old_handler)(int);
        int r;
        Cache *c = open_ok(f);

        put_ok(c, "alice", "old-token");
        snprintf(wal, sizeof(wal), "%s-wal", f->db);
        assert_int_equal(stat(wal, &st), 0);

        /* A row several pages long, and a file size limit just past the
         * current end of the WAL: the commit's write fails half way, as on
         * a disk that fills up (SQLite sees EFBIG rather than ENOSPC, so
         * this checks the rollback, not the -ENOSPC mapping). */
        big = malloc(12001);
        assert_non_null(big);
        memset(big, 'N', 12000);
        big[12000] = 0;
        u = rec_new("alice", big);
        rec_set_roles(&u, 1, "dev");

        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t) st.st_size + 100;
        old_handler = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        r = rec_put(c, &u);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, old_handler);

        print_message("cache_put under RLIMIT_FSIZE: %d (%s)\n", r, strerror(-r));
        assert_true(r < 0);
        assert_token(c, "alice", "old-token");
        cache_close(c);

        /* And on disk, after a restart. */
        c = open_ok(f);
        assert_token(c, "alice", "old-token");
        assert_int_equal(rec_put(c, &u), 0);
        assert_token(c, "alice", big);
        cache_close(c);
        assert_int_equal(count_aside(f), 0);
        rec_free(&u);
        free(big);
}

/* ---- uids for good -------------------------------------------------------- */

struct uid_list {
        char emails[8][64];
        uid_t uids[8];
        size_t n;
};

static int uid_cb(const char *email, uid_t uid, void *userdata) {
        struct uid_list *l = userdata;

        assert_true(l->n < 8);
        snprintf(l->emails[l->n], sizeof(l->emails[0]), "%s", email);
        l->uids[l->n++] = uid;
        return 0;
}

static uid_t stored_uid(struct uid_list *l, const char *email) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->emails[i], email) == 0)
                        return l->uids[i];
        return 0;
}

static void test_uids_outlive_users(void **state) {
        struct fixture *f = *state;
        struct uid_list l = {};
        Cache *c = open_ok(f);

        put_ok(c, "alice", "t1");
        assert_int_equal(cache_put_uid(c, "Alice@Example.com", 200001), 0);
        assert_int_equal(cache_put_uid(c, "bob@example.com", 200002), 0);
        /* Never changed, never given twice. */
        assert_int_equal(cache_put_uid(c, "alice@example.com", 200003), -EEXIST);
        assert_int_equal(cache_put_uid(c, "carol@example.com", 200002), -EEXIST);
        assert_int_equal(cache_put_uid(c, "carol@example.com", 0), -EINVAL);
        assert_int_equal(cache_put_uid(c, "bad\nemail", 200004), -EINVAL);

        /* neostractl clear deletes the users, not what they were given. */
        assert_int_equal(cache_delete(c, "alice"), 0);
        assert_int_equal(cache_delete(c, NULL), 0);
        cache_close(c);
        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        assert_int_equal(cache_load_uids(c, uid_cb, &l), 0);
        assert_int_equal(l.n, 2);
        /* Stored lowercased, as ids.c hashes emails. */
        assert_int_equal(stored_uid(&l, "alice@example.com"), 200001);
        assert_int_equal(stored_uid(&l, "bob@example.com"), 200002);
        cache_close(c);
}

/* The access fields round-trip; an unknown reason is not loaded. */
static void test_access_fields(void **state) {
        struct fixture *f = *state;
        struct rec r = rec_new("alice", "t");
        struct loaded l;
        Cache *c = open_ok(f);

        r.u->last_online_success = 1700000000;
        r.u->last_online_proof = 1700003000;
        r.u->access_end = ACCESS_END_REVOKED;
        assert_int_equal(rec_put(c, &r), 0);
        load(c, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.head->last_online_proof, 1700003000);
        assert_int_equal(l.head->access_end, ACCESS_END_REVOKED);
        loaded_free(&l);
        r.u->access_end = _ACCESS_END_MAX;
        assert_int_equal(rec_put(c, &r), -EINVAL);
        cache_close(c);

        sql(f->db, "UPDATE users SET access_end = 7 WHERE name = 'alice';");
        c = open_ok(f);
        assert_int_equal(count_loaded(c), 0);
        cache_close(c);
        rec_free(&r);
}

/* ---- secrets leave the disk ----------------------------------------------- */

static bool file_contains(const char *path, const char *needle) {
        size_t len;
        char *data = read_file(path, &len);
        bool found = data && memmem(data, len, needle, strlen(needle));

        free(data);
        return found;
}

static void test_checkpoint_empties_wal(void **state) {
        struct fixture *f = *state;
        char wal[200];
        struct rec r = rec_new("alice", "DROPPED-TOKEN-4c1d9e");
        Cache *c = open_ok(f);

        snprintf(wal, sizeof(wal), "%s-wal", f->db);
        assert_int_equal(rec_put(c, &r), 0);
        /* The write sits in the WAL (reading the -wal file takes no lock
         * of SQLite's: its locks are on the database and -shm files). */
        assert_true(file_contains(wal, "DROPPED-TOKEN-4c1d9e"));
        /* Dropped: the new row is in the WAL, the old page image too. */
        user_secrets_clear(&r.s);
        r.s.mask = SECRET_ALL;
        assert_int_equal(rec_put(c, &r), 0);
        assert_true(file_contains(wal, "DROPPED-TOKEN-4c1d9e"));
        assert_int_equal(cache_checkpoint(c), 0);
        assert_false(file_contains(wal, "DROPPED-TOKEN-4c1d9e"));
        assert_false(file_contains(f->db, "DROPPED-TOKEN-4c1d9e"));
        assert_int_equal(count_loaded(c), 1);
        cache_close(c);
        assert_int_equal(cache_checkpoint(NULL), -EINVAL);
        rec_free(&r);
}

static void test_remove_set_aside(void **state) {
        struct fixture *f = *state;
        static const char *const old_names[] = {
                CACHE_FILE_NAME ".broken-1000", CACHE_FILE_NAME "-wal.broken-1000",
                CACHE_FILE_NAME "-shm.broken-1000.2", CACHE_FILE_NAME "-journal.broken-500",
        };
        static const char *const kept[] = {
                /* younger than max_age */
                CACHE_FILE_NAME ".broken-9500", CACHE_FILE_NAME "-wal.broken-9500.1",
                /* from the future: a clock set back */
                CACHE_FILE_NAME ".broken-99999",
                /* not ours to remove */
                CACHE_FILE_NAME ".broken-", CACHE_FILE_NAME ".broken-12x", CACHE_FILE_NAME ".broken-1000.",
                CACHE_FILE_NAME ".broken-1000.x", "other.broken-1000", CACHE_FILE_NAME "x.broken-1000",
        };
        char path[256];
        Cache *c = open_ok(f);

        put_ok(c, "alice", "t");
        for (size_t i = 0; i < sizeof(old_names) / sizeof(old_names[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->dir, old_names[i]);
                write_file(path, "x", 1);
        }
        for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->dir, kept[i]);
                write_file(path, "x", 1);
        }
        /* now = 10000, max_age = 1000: set aside at 9000 or before goes. */
        assert_int_equal(cache_remove_set_aside(c, 1000, 10000), 4);
        for (size_t i = 0; i < sizeof(old_names) / sizeof(old_names[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->dir, old_names[i]);
                assert_int_equal(access(path, F_OK), -1);
        }
        for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->dir, kept[i]);
                assert_int_equal(access(path, F_OK), 0);
        }
        assert_int_equal(access(f->db, F_OK), 0);
        assert_int_equal(count_loaded(c), 1);
        assert_int_equal(cache_remove_set_aside(c, 1000, 10000), 0);
        cache_close(c);
}

/* ---- secure_delete ------------------------------------------------------ */

static void test_secure_delete(void **state) {
        struct fixture *f = *state;
        char old_token[12001], bob_token[9001];
        const char *old_verifier = "$y$j9T$OLDVERIFIERsaltOLDVERIFIERsalt$OLDVERIFIERhashOLDVERIFIERhash";
        struct rec u;
        sqlite3 *other = NULL;
        Cache *c = open_ok(f);

        /* Long enough to spill onto overflow pages, which are freed (not
         * reused) when the row shrinks. */
        for (size_t i = 0; i < sizeof(old_token) - 1; i++)
                old_token[i] = "OLDTOKEN-"[i % 9];
        old_token[sizeof(old_token) - 1] = 0;
        for (size_t i = 0; i < sizeof(bob_token) - 1; i++)
                bob_token[i] = "BOBTOKEN-"[i % 9];
        bob_token[sizeof(bob_token) - 1] = 0;

        u = rec_new("alice", old_token);
        u.s.verifier = xstrdup(old_verifier);
        assert_int_equal(rec_put(c, &u), 0);
        rec_free(&u);
        put_ok(c, "bob", bob_token);

        /* Replace alice's row with one without those secrets, delete bob. */
        u = rec_new("alice", "NEWTOKEN-short");
        assert_int_equal(rec_put(c, &u), 0);
        rec_free(&u);
        assert_int_equal(cache_delete(c, "bob"), 0);

        /* Checkpoint from a second connection, as SQLite itself would. */
        assert_int_equal(sqlite3_open_v2(f->db, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_wal_checkpoint_v2(other, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(other);
        cache_close(c);

        assert_true(dir_contains(f->dir, "NEWTOKEN-short"));
        assert_false(dir_contains(f->dir, "OLDTOKEN-OLDTOKEN-"));
        assert_false(dir_contains(f->dir, "OLDVERIFIER"));
        assert_false(dir_contains(f->dir, "BOBTOKEN-BOBTOKEN-"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secret_mask, setup, teardown),
                cmocka_unit_test_setup_teardown(test_get_secret_fails_closed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_scrub_writes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_put_refuses_invalid_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_directory_not_usable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_parent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_db_set_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinked_wal_sets_aside_the_set, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_owner_set_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_writable_set_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage_set_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_page_set_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_schema_version_set_aside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_rows_skipped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_callback_error_stops_load, setup, teardown),
                cmocka_unit_test_setup_teardown(test_busy_write_keeps_old_row, setup, teardown),
                cmocka_unit_test_setup_teardown(test_put_batch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failed_write_keeps_old_row, setup, teardown),
                cmocka_unit_test_setup_teardown(test_secure_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_uids_outlive_users, setup, teardown),
                cmocka_unit_test_setup_teardown(test_access_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoint_empties_wal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_set_aside, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
