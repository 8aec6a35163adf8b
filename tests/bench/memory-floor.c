/* SPDX-License-Identifier: MIT */
/*
 * memory-floor: the floor under neostrad's idle-RSS figure.  A process
 * that links exactly the daemon's libraries (libsystemd, libcurl, jansson,
 * SQLite, libcrypt, libcrypto) and does once what the design cannot do
 * without before it idles: initialise libcurl (and with it OpenSSL), make
 * an sd-event loop, open an SQLite file and write one row, send one
 * sign-in POST with libcurl and parse the answer with jansson, make one
 * yescrypt verifier on a second thread (the design's worker pool), and
 * look the user's name up through NSS (the daemon checks every name
 * against the local accounts; the name is in no file, so every source of
 * the passwd line is asked).  No config, no policy, no userdb, no
 * varlink, no cache of users.  Its VmRSS after that is what the chosen
 * libraries cost on this machine; the difference to neostrad's is the
 * daemon's own.
 *
 *   memory-floor DIR URL EMAIL PASSWORD_FILE
 *
 * The password is the first line of PASSWORD_FILE (never on the command
 * line).
 *
 * Prints "ready" on stdout when done, then sleeps until SIGTERM/SIGINT.
 */
#include <crypt.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <unistd.h>

struct body {
        char buf[16384];
        size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        struct body *b = userdata;
        size_t len = size * n;

        if (len > sizeof(b->buf) - 1 - b->len)
                return 0;
        memcpy(b->buf + b->len, p, len);
        b->len += len;
        b->buf[b->len] = '\0';
        return len;
}

static int sign_in(const char *url, const char *email, const char *password) {
        struct curl_slist *headers = NULL;
        struct body b = {};
        json_t *req, *answer;
        char *payload, *endpoint;
        long status = 0;
        CURLcode cr;
        CURL *c;

        req = json_pack("{s:s, s:s}", "email", email, "password", password);
        payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
        if (!payload || asprintf(&endpoint, "%s/api/v1/auth/signin", url) < 0)
                return -1;
        c = curl_easy_init();
        if (!c)
                return -1;
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_URL, endpoint);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        cr = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        free(endpoint);
        /* The password, as the daemon treats it: wiped before it is freed. */
        explicit_bzero(payload, strlen(payload));
        free(payload);
        {
                json_t *pw = json_object_get(req, "password");

                explicit_bzero((char *) json_string_value(pw), json_string_length(pw));
        }
        json_decref(req);
        if (cr != CURLE_OK) {
                fprintf(stderr, "memory-floor: sign-in: %s\n", curl_easy_strerror(cr));
                return -1;
        }
        answer = json_loads(b.buf, 0, NULL);
        if (!answer || status != 200) {
                fprintf(stderr, "memory-floor: sign-in answered %ld\n", status);
                json_decref(answer);
                return -1;
        }
        json_decref(answer);
        return 0;
}

static sqlite3 *db;

static int write_row(const char *dir) {
        char *path, *err = NULL;
        int r;

        if (asprintf(&path, "%s/memory-floor.db", dir) < 0)
                return -1;
        r = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        free(path);
        if (r == SQLITE_OK)
                r = sqlite3_exec(db, "PRAGMA journal_mode=WAL;"
                                 "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, token TEXT, verifier TEXT);"
                                 "INSERT OR REPLACE INTO users VALUES ('floor', 'token', 'verifier');",
                                 NULL, NULL, &err);
        if (r != SQLITE_OK)
                fprintf(stderr, "memory-floor: sqlite: %s\n", err ? err : sqlite3_errstr(r));
        sqlite3_free(err);
        /* Kept open, as the daemon keeps its cache. */
        return r == SQLITE_OK ? 0 : -1;
}

static struct crypt_data verifier_data;

static void *make_verifier(void *password) {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];

        if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
                return NULL;
        return crypt_rn(password, salt, &verifier_data, sizeof(verifier_data));
}

/* The email's local part, as the daemon's users are named in the bench. */
static bool name_unknown_locally(const char *email) {
        char name[256];
        size_t n = strcspn(email, "@");

        if (n == 0 || n >= sizeof(name))
                return false;
        memcpy(name, email, n);
        name[n] = '\0';
        return getpwnam(name) == NULL;
}

static int read_password(const char *path, char *buf, size_t size) {
        FILE *f = fopen(path, "re");
        bool ok = f && fgets(buf, (int) size, f);

        if (f)
                fclose(f);
        if (!ok) {
                fprintf(stderr, "memory-floor: cannot read a password from %s\n", path);
                return -1;
        }
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

int main(int argc, char **argv) {
        static char password[1024];
        sd_event *loop = NULL;
        pthread_t worker;
        void *verifier = NULL;
        sigset_t mask;
        int sig;

        if (argc != 5) {
                fprintf(stderr, "usage: memory-floor DIR URL EMAIL PASSWORD_FILE\n");
                return 2;
        }
        if (read_password(argv[4], password, sizeof(password)) < 0)
                return 1;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sd_event_default(&loop) < 0 ||
            write_row(argv[1]) < 0 || sign_in(argv[2], argv[3], password) < 0 || !name_unknown_locally(argv[3]))
                return 1;
        if (pthread_create(&worker, NULL, make_verifier, password) != 0 ||
            pthread_join(worker, &verifier) != 0 || !verifier) {
                fprintf(stderr, "memory-floor: no verifier\n");
                return 1;
        }
        explicit_bzero(password, sizeof(password));
        explicit_bzero(&verifier_data, sizeof(verifier_data));
        printf("ready\n");
        fflush(stdout);
        sigwait(&mask, &sig);
        sqlite3_close(db);
        sd_event_unref(loop);
        curl_global_cleanup();
        return 0;
}
