/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, Cache: the directory and the database are the
 * daemon's user's and nobody else's (neostrad sets aside a database it
 * does not own, and with it every offline credential); the database
 * passes SQLite's quick_check; how many users are past account_max_age
 * (they must log in with their password again); and the clock skew
 * against the "iat" of the last token the API issued, compared with when
 * the daemon received it.
 *
 * The database is opened read-only as the directory's owner, in this
 * section's own process: whatever SQLite creates beside it (-shm) is then
 * the daemon's, never root's.  Only the middle part of the token (its
 * claims) ever leaves SQLite: the signature stays in the database.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "doctor-internal.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"

#define CACHE_DB_NAME "neostrad.db"

static int b64url_value(char ch) {
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '-' || ch == '+')
                return 62;
        if (ch == '_' || ch == '/')
                return 63;
        return -1;
}

/* base64url without padding into out (NUL-terminated); false if invalid. */
static bool b64url_decode(const char *in, size_t n, char *out, size_t size) {
        unsigned acc = 0, bits = 0;
        size_t len = 0, i;

        for (i = 0; i < n && in[i] != '='; i++) {
                int v = b64url_value(in[i]);

                if (v < 0)
                        return false;
                acc = (acc << 6) | (unsigned) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (len + 1 >= size)
                                return false;
                        out[len++] = (char) ((acc >> bits) & 0xff);
                }
        }
        out[len] = '\0';
        return true;
}

/* The directory is the daemon's user's, 0700; the database 0600 and its. */
static bool check_ownership(struct doctor_ctx *d, const char *dir, const char *db, uid_t want, bool *ret_db) {
        char who[128], want_name[128], fix[512];
        struct stat st;

        *ret_db = false;
        if (lstat(dir, &st) < 0) {
                doctor_report(d, "directory", errno == ENOENT ? DOCTOR_SKIP : DOCTOR_FAIL,
                              "see why it cannot be read", "%s: %s%s", dir, strerror(errno),
                              errno == ENOENT ? " (neostrad creates it at its first start)" : "");
                return false;
        }
        doctor_uid_name(want, want_name, sizeof(want_name));
        if (!S_ISDIR(st.st_mode) || st.st_uid != want || (st.st_mode & 07777) != 0700) {
                snprintf(fix, sizeof(fix), "chown %s %s && chmod 0700 %s (neostrad keeps no cache it does "
                         "not own)", want_name, dir, dir);
                doctor_report(d, "directory", DOCTOR_FAIL, fix, "%s is %s owned by %s, mode %04o; it must be a "
                              "directory owned by %s, mode 0700", dir, S_ISDIR(st.st_mode) ? "a directory" :
                              "not a directory", doctor_uid_name(st.st_uid, who, sizeof(who)),
                              (unsigned) (st.st_mode & 07777), want_name);
                return false;
        }
        doctor_report(d, "directory", DOCTOR_OK, NULL, "%s: owned by %s, mode 0700", dir, want_name);

        if (lstat(db, &st) < 0) {
                doctor_report(d, "database", DOCTOR_SKIP, NULL, "no %s yet (neostrad creates it)", db);
                return false;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != want || (st.st_mode & 077)) {
                doctor_report(d, "database", DOCTOR_FAIL, "neostrad sets such a file aside at its next start; "
                              "chown and chmod 0600 it to keep what it holds", "%s is owned by %s, mode %04o: "
                              "not a private file of %s", db, doctor_uid_name(st.st_uid, who, sizeof(who)),
                              (unsigned) (st.st_mode & 07777), want_name);
                return false;
        }
        *ret_db = true;
        return true;
}

static void check_token_clock(struct doctor_ctx *d, sqlite3 *db) {
        static const char sql[] =
                "SELECT substr(token, instr(token, '.') + 1, "
                "              instr(substr(token, instr(token, '.') + 1), '.') - 1), last_online_success "
                "FROM users WHERE token IS NOT NULL AND instr(token, '.') > 0 "
                "  AND last_online_success > 0 AND last_online_success >= last_online_proof "
                "ORDER BY last_online_success DESC LIMIT 1";
        char claims[NEOSTRA_TOKEN_MAX];
        sqlite3_stmt *st = NULL;
        json_t *j = NULL, *iat;
        long long skew, received;
        const char *payload;

        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
                doctor_report(d, "token-clock", DOCTOR_SKIP, NULL, "no token in the cache to compare the "
                              "clock with");
                goto done;
        }
        payload = (const char *) sqlite3_column_text(st, 0);
        received = sqlite3_column_int64(st, 1);
        if (!payload || !b64url_decode(payload, strlen(payload), claims, sizeof(claims)) ||
            !(j = json_loads(claims, 0, NULL)) || !json_is_integer(iat = json_object_get(j, "iat"))) {
                doctor_report(d, "token-clock", DOCTOR_SKIP, NULL, "the last token has no readable \"iat\": "
                              "not compared");
                goto done;
        }
        skew = received - (long long) json_integer_value(iat);
        if (skew > DOCTOR_CLOCK_SKEW_MAX_SEC || skew < -DOCTOR_CLOCK_SKEW_MAX_SEC)
                doctor_report(d, "token-clock", DOCTOR_FAIL, "synchronise the clock (systemd-timesyncd, chrony)",
                              "the last token was received %lld s %s the API says it was issued (iat): the "
                              "clocks disagree", skew < 0 ? -skew : skew, skew < 0 ? "before" : "after");
        else
                doctor_report(d, "token-clock", DOCTOR_OK, NULL, "the last token was received within %lld s of "
                              "its issue time (iat)", skew < 0 ? -skew : skew);
done:
        json_decref(j);
        explicit_bzero(claims, sizeof(claims));
        sqlite3_finalize(st);
}

static void check_database(struct doctor_ctx *d, const char *path) {
        int64_t max_age = d->config ? (int64_t) (d->config->account_max_age_ms / 1000u) : 7 * 86400;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        char uri[4200];
        const char *answer;
        int rc;

        snprintf(uri, sizeof(uri), "file:%s?mode=ro", path);
        rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(db, 1000);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
            (answer = (const char *) sqlite3_column_text(st, 0)) && strcmp(answer, "ok") == 0)
                doctor_report(d, "integrity", DOCTOR_OK, NULL, "%s passes SQLite's quick_check", path);
        else
                doctor_report(d, "integrity", DOCTOR_FAIL, "stop neostrad and move the file aside: it starts "
                              "with an empty cache (offline credentials are lost, uids are kept only in a "
                              "good file)", "%s fails SQLite's quick_check: %s", path,
                              db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_finalize(st);
        st = NULL;

        if (sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(last_online_proof + ?1 <= ?2), 0) FROM users",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_bind_int64(st, 1, max_age) == SQLITE_OK &&
            sqlite3_bind_int64(st, 2, (sqlite3_int64) time(NULL)) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
                doctor_report(d, "max-age", DOCTOR_OK, NULL, "%lld user(s) cached, %lld past account_max_age "
                              "(%lld s): those log in with their password again",
                              (long long) sqlite3_column_int64(st, 0), (long long) sqlite3_column_int64(st, 1),
                              (long long) max_age);
        else
                doctor_report(d, "max-age", DOCTOR_SKIP, NULL, "cannot count the users: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);

        check_token_clock(d, db);
        sqlite3_close(db);
}

void doctor_check_cache(struct doctor_ctx *d) {
        const char *dir = d->config ? d->config->cache_directory : "/var/lib/neostra";
        char db[4096];
        uid_t uid;
        gid_t gid;
        bool have_db;
        int r;

        r = doctor_service_user(d, &uid, &gid);
        if (r <= 0) {
                doctor_report(d, "directory", DOCTOR_SKIP, NULL, "the daemon's user is unknown (see Config): "
                              "cannot tell who should own %s", dir);
                return;
        }
        snprintf(db, sizeof(db), "%s/" CACHE_DB_NAME, dir);
        if (!check_ownership(d, dir, db, uid, &have_db) || !have_db)
                return;
        /* From here on as the daemon's user: nothing SQLite makes is root's. */
        if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)) {
                doctor_report(d, "integrity", DOCTOR_FAIL, NULL, "cannot become uid %u to open the "
                              "database: %s", (unsigned) uid, strerror(errno));
                return;
        }
        check_database(d, db);
}
