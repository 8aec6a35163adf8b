/* SPDX-License-Identifier: MIT */
/*
 * neostractl metrics: GetStatus's JSON (metrics.h says what root gets) in
 * the Prometheus text exposition format, version 0.0.4.  Every metric is
 * written from the members listed below; one the daemon does not send (an
 * older daemon) is left out, never made up.  Names follow Prometheus's
 * conventions: a neostra_ prefix, _total for counters, base units
 * (seconds, bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "neostra/protocol.h"
#include "neostra/transport.h"
#include "neostractl-metrics.h"
#include "neostractl.h"


/* ---- the text format --------------------------------------------------------- */

static void header(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped as the format
 * says; other control characters (none of ours has any) become '?'. */
static void label_value(FILE *f, const char *s) {
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;

                if (ch == '\\' || ch == '"')
                        fprintf(f, "\\%c", ch);
                else if (ch == '\n')
                        fputs("\\n", f);
                else
                        fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, f);
        }
}

/* name{k1="v1",k2="v2"} (labels: NULL-terminated pairs; none: no braces). */
static void series(FILE *f, const char *name, const char *const *labels) {
        fputs(name, f);
        if (!labels || !labels[0])
                return;
        fputc('{', f);
        for (size_t i = 0; labels[i]; i += 2) {
                fprintf(f, "%s%s=\"", i > 0 ? "," : "", labels[i]);
                label_value(f, labels[i + 1]);
                fputc('"', f);
        }
        fputc('}', f);
}

static void sample(FILE *f, const char *name, const char *const *labels, json_int_t value) {
        series(f, name, labels);
        fprintf(f, " %" JSON_INTEGER_FORMAT "\n", value);
}

/* ---- reading the answer ------------------------------------------------------- */

/* A member that is a count or a time: an integer >= 0. */
static bool get_count(json_t *obj, const char *key, json_int_t *ret) {
        json_t *v = json_object_get(obj, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        *ret = json_integer_value(v);
        return true;
}

/* One metric of one value, when the member is there. */
static void single(FILE *f, json_t *obj, const char *key, const char *name, const char *type, const char *help) {
        json_int_t v;

        if (!get_count(obj, key, &v))
                return;
        header(f, name, type, help);
        sample(f, name, NULL, v);
}

/* One metric with one label, a series per member of obj named in keys
 * (JSON member, label value pairs, NULL-terminated). */
static void by_label(FILE *f, json_t *obj, const char *name, const char *type, const char *help,
                     const char *label, const char *const *keys) {
        bool any = false;

        if (!json_is_object(obj))
                return;
        for (size_t i = 0; keys[i]; i += 2) {
                json_int_t v;

                if (!get_count(obj, keys[i], &v))
                        continue;
                if (!any)
                        header(f, name, type, help);
                any = true;
                sample(f, name, (const char *const[]) { label, keys[i + 1], NULL }, v);
        }
}

/* Microseconds as seconds, exactly: "0.0025", "30", "1.000001". */
static void seconds(FILE *f, json_int_t usec) {
        json_int_t frac = usec % 1000000;
        char digits[8];
        int n;

        fprintf(f, "%" JSON_INTEGER_FORMAT, usec / 1000000);
        if (frac == 0)
                return;
        n = snprintf(digits, sizeof(digits), "%06" JSON_INTEGER_FORMAT, frac);
        while (n > 0 && digits[n - 1] == '0')
                digits[--n] = 0;
        fprintf(f, ".%s", digits);
}

/* A histogram's JSON is well formed: bounds and cumulative counts of the
 * same length, rising, and none above count. */
static bool histogram_ok(json_t *h) {
        json_t *bounds = json_object_get(h, "boundsUsec"), *cum = json_object_get(h, "cumulative");
        json_int_t count, sum, prev_bound = -1, prev = 0;
        size_t n = json_array_size(bounds);

        if (!json_is_array(bounds) || !json_is_array(cum) || json_array_size(cum) != n || n == 0 || n > 64 ||
            !get_count(h, "count", &count) || !get_count(h, "sumUsec", &sum))
                return false;
        for (size_t i = 0; i < n; i++) {
                json_t *b = json_array_get(bounds, i), *c = json_array_get(cum, i);

                if (!json_is_integer(b) || !json_is_integer(c) || json_integer_value(b) <= prev_bound ||
                    json_integer_value(c) < prev || json_integer_value(c) > count)
                        return false;
                prev_bound = json_integer_value(b);
                prev = json_integer_value(c);
        }
        return true;
}

/* name_bucket{label="value",le="..."} for each bound and +Inf, _sum, _count. */
static void histogram_series(FILE *f, const char *name, const char *label, const char *value, json_t *h) {
        json_t *bounds = json_object_get(h, "boundsUsec"), *cum = json_object_get(h, "cumulative");
        char bucket[128], sum[128], count[128], le[64];
        json_int_t total = json_integer_value(json_object_get(h, "count"));
        size_t i;

        snprintf(bucket, sizeof(bucket), "%s_bucket", name);
        snprintf(sum, sizeof(sum), "%s_sum", name);
        snprintf(count, sizeof(count), "%s_count", name);
        for (i = 0; i < json_array_size(bounds); i++) {
                FILE *m = fmemopen(le, sizeof(le), "w");

                if (!m)
                        continue;
                seconds(m, json_integer_value(json_array_get(bounds, i)));
                fclose(m);
                sample(f, bucket, label ? (const char *const[]) { label, value, "le", le, NULL }
                                        : (const char *const[]) { "le", le, NULL },
                       json_integer_value(json_array_get(cum, i)));
        }
        sample(f, bucket, label ? (const char *const[]) { label, value, "le", "+Inf", NULL }
                                : (const char *const[]) { "le", "+Inf", NULL }, total);
        series(f, sum, (const char *const[]) { label, value, NULL });
        fputc(' ', f);
        seconds(f, json_integer_value(json_object_get(h, "sumUsec")));
        fputc('\n', f);
        sample(f, count, (const char *const[]) { label, value, NULL }, total);
}

/* A histogram per member of obj named in keys (as by_label()); label
 * NULL: one histogram, without a label. */
static void histograms(FILE *f, json_t *obj, const char *name, const char *help, const char *label,
                       const char *const *keys) {
        bool any = false;

        for (size_t i = 0; json_is_object(obj) && keys[i]; i += 2) {
                json_t *h = json_object_get(obj, keys[i]);

                if (!histogram_ok(h))
                        continue;
                if (!any)
                        header(f, name, "histogram", help);
                any = true;
                histogram_series(f, name, label, keys[i + 1], h);
        }
}

static void decisions(FILE *f, json_t *a) {
        static const char name[] = "neostra_decisions_total";
        json_t *d;
        size_t i;
        bool any = false;

        json_array_foreach(a, i, d) {
                json_t *method = json_object_get(d, "method"), *result = json_object_get(d, "result"),
                       *cause = json_object_get(d, "cause");
                json_int_t n;

                if (!json_is_string(method) || !json_is_string(result) || !json_is_string(cause) ||
                    !get_count(d, "count", &n))
                        continue;
                if (!any)
                        header(f, name, "counter", "Login decisions by method (authenticate, account), "
                               "result and cause.");
                any = true;
                sample(f, name, (const char *const[]) {
                                "method", json_string_value(method), "result", json_string_value(result),
                                "cause", json_string_value(cause), NULL }, n);
        }
}

static void api_state(FILE *f, json_t *st) {
        static const char *const states[] = { "unknown", "online", "offline", "unconfigured" };
        static const char name[] = "neostra_api_state";
        const char *state = json_string_value(json_object_get(st, "state"));
        bool known = false;

        if (!state)
                return;
        header(f, name, "gauge", "1 for the state the daemon sees the API in, 0 for the others.");
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                known |= strcmp(state, states[i]) == 0;
                sample(f, name, (const char *const[]) { "state", states[i], NULL }, strcmp(state, states[i]) == 0);
        }
        if (!known)
                sample(f, name, (const char *const[]) { "state", state, NULL }, 1);
}

/* Everything the answer holds, in the text format. */
static void write_metrics(FILE *f, json_t *st) {
        const char *version = json_string_value(json_object_get(st, "version"));
        json_t *sockets = json_object_get(st, "sockets");
        json_t *nss = json_object_get(st, "nssLookups");
        json_t *writes = json_object_get(st, "cacheWrites");
        json_int_t v;

        header(f, "neostra_up", "gauge", "1 when neostrad answered the scrape.");
        sample(f, "neostra_up", NULL, 1);
        if (version) {
                char protocol[32] = "";

                if (get_count(st, "protocol", &v))
                        snprintf(protocol, sizeof(protocol), "%" JSON_INTEGER_FORMAT, v);
                header(f, "neostra_build_info", "gauge", "The version of the running neostrad (always 1).");
                sample(f, "neostra_build_info", (const char *const[]) { "version", version, "protocol", protocol,
                                                                       NULL }, 1);
        }
        single(f, st, "started", "neostra_start_time_seconds", "gauge",
               "When neostrad started, in seconds since the epoch.");
        api_state(f, st);
        single(f, st, "since", "neostra_api_state_change_time_seconds", "gauge",
               "When the API state last changed, in seconds since the epoch.");
        decisions(f, json_object_get(st, "decisions"));
        histograms(f, json_object_get(st, "apiLatency"), "neostra_api_request_duration_seconds",
                   "Time from the start of an API request to its answer (a transport error's too).", "request",
                   (const char *const[]) { "signin", "signin", "probe", "probe", "refresh", "refresh", NULL });
        single(f, st, "users", "neostra_users_cached", "gauge", "Users the daemon holds (memory and cache).");
        by_label(f, json_object_get(st, "usersByAccess"), "neostra_users_access", "gauge",
                 "Users by the state of their access (valid, expired, invalidated, revoked, deprovisioned).", "access",
                 (const char *const[]) { "valid", "valid", "expired", "expired", "invalidated", "invalidated",
                                         "revoked", "revoked", "deprovisioned", "deprovisioned", NULL });
        single(f, json_object_get(st, "usersByAccess"), "expired", "neostra_users_past_account_max_age", "gauge",
               "Users whose last online proof is older than account_max_age, or who have none.");
        single(f, st, "verifiersHeld", "neostra_verifiers", "gauge",
               "Users holding an offline verifier of their last good password.");
        by_label(f, json_object_get(st, "connectionsBySocket"), "neostra_connections", "gauge",
                 "Connections open now, by socket.", "socket",
                 (const char *const[]) { "auth", "auth", "userdb", "userdb", NULL });
        if (json_is_object(sockets)) {
                json_t *auth = json_object_get(sockets, "auth"), *udb = json_object_get(sockets, "userdb");
                json_t *accepted = json_pack("{s:O?, s:O?}", "auth", json_object_get(auth, "accepted"),
                                             "userdb", json_object_get(udb, "accepted"));
                json_t *refused = json_pack("{s:O?, s:O?}", "auth", json_object_get(auth, "refused"),
                                            "userdb", json_object_get(udb, "refused"));
                static const char *const names[] = { "auth", "auth", "userdb", "userdb", NULL };

                by_label(f, accepted, "neostra_connections_accepted_total", "counter",
                         "Connections accepted, by socket.", "socket", names);
                by_label(f, refused, "neostra_connections_refused_total", "counter",
                         "Connections refused over a budget (per uid, or the socket's), by socket.", "socket",
                         names);
                json_decref(accepted);
                json_decref(refused);
        }
        by_label(f, json_object_get(st, "userdbLookups"), "neostra_userdb_lookups_total", "counter",
                 "io.systemd.UserDatabase calls, by method.", "method",
                 (const char *const[]) { "user", "GetUserRecord", "group", "GetGroupRecord",
                                         "memberships", "GetMemberships", NULL });
        by_label(f, nss, "neostra_nss_lookups_total", "counter",
                 "Local NSS lookups, on the NSS threads (worker) or on the event loop (loop).", "thread",
                 (const char *const[]) { "offLoop", "worker", "onLoop", "loop", NULL });
        single(f, nss, "failed", "neostra_nss_lookup_failures_total", "counter",
               "Local NSS lookups that failed (the source could not tell).");
        histograms(f, nss, "neostra_nss_lookup_duration_seconds",
                   "Time from the start of a local NSS lookup to its answer, queueing included.", NULL,
                   (const char *const[]) { "latency", NULL, NULL });
        single(f, json_object_get(st, "writeQueue"), "depth", "neostra_writeback_queue_depth", "gauge",
               "Users waiting to be written to the cache when the scrape came.");
        single(f, json_object_get(st, "writeQueue"), "depthMax", "neostra_writeback_queue_depth_max", "gauge",
               "The most users that ever waited to be written at once.");
        single(f, writes, "rows", "neostra_cache_rows_written_total", "counter", "User rows written to the cache.");
        single(f, writes, "failed", "neostra_cache_write_failures_total", "counter",
               "User rows a cache write could not store.");
        single(f, st, "cacheBytes", "neostra_cache_bytes", "gauge", "Size of the cache files on disk.");
}

/* ---- where it goes ------------------------------------------------------------ */

/* buf into dir/neostra.prom, atomically: a temporary file in dir (a name
 * the collector ignores: not *.prom), mode 0644, synced, then renamed. */
static int write_textfile(const char *dir, const char *buf, size_t len) {
        char tmp[PATH_MAX], path[PATH_MAX];
        size_t done = 0;
        int fd, r = 0;

        if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, NEOSTRACTL_METRICS_FILE) >= sizeof(path) ||
            (size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, NEOSTRACTL_METRICS_FILE) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0)
                r = -errno;
        while (r == 0 && done < len) {
                ssize_t k = write(fd, buf + done, len - done);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        r = -errno;
                else
                        done += (size_t) k;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static int output(const char *textfile, const char *buf, size_t len) {
        int r;

        if (!textfile) {
                if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
                        fprintf(stderr, "neostractl: cannot write the metrics: %s\n", strerror(errno));
                        return EXIT_DENIED;
                }
                return EXIT_OK;
        }
        r = write_textfile(textfile, buf, len);
        if (r < 0) {
                fprintf(stderr, "neostractl: cannot write %s/%s: %s\n", textfile, NEOSTRACTL_METRICS_FILE,
                        strerror(-r));
                return EXIT_DENIED;
        }
        return EXIT_OK;
}

/* With --textfile, a daemon that does not answer is said in the file
 * (neostra_up 0), not left to stale figures. */
static void write_down(const char *textfile) {
        static const char down[] = "# HELP neostra_up 1 when neostrad answered the scrape.\n"
                                   "# TYPE neostra_up gauge\n"
                                   "neostra_up 0\n";

        if (textfile)
                (void) output(textfile, down, sizeof(down) - 1);
}

int neostractl_metrics(const struct options *o, int n_args, char **args) {
        const char *textfile = NULL;
        json_t *reply = NULL;
        char *error = NULL, *buf = NULL;
        size_t len = 0;
        struct stat st;
        FILE *f;
        int r, ret;

        if (n_args == 2 && strcmp(args[0], "--textfile") == 0)
                textfile = args[1];
        else if (n_args == 1 && strncmp(args[0], "--textfile=", 11) == 0)
                textfile = args[0] + 11;
        else if (n_args != 0) {
                fprintf(stderr, "neostractl: metrics takes only --textfile DIR\n");
                return EXIT_USAGE;
        }
        if (textfile && (!*textfile || stat(textfile, &st) < 0 || !S_ISDIR(st.st_mode))) {
                fprintf(stderr, "neostractl: --textfile: %s is not a directory\n", textfile);
                return EXIT_USAGE;
        }

        r = simple_call(o, NEOSTRA_METHOD_GET_STATUS, NULL, &error, &reply);
        if (r != 0) {
                write_down(textfile);
                return r;
        }
        if (error) {
                fprintf(stderr, "neostractl: GetStatus: %s\n", neostra_error_short(error));
                write_down(textfile);
                ret = strcmp(error, NEOSTRA_ERROR_PERMISSION_DENIED) == 0 ? EXIT_PERMISSION : EXIT_UNAVAILABLE;
                goto done;
        }
        /* Only root gets the figures (auth-methods.c, GetStatus). */
        if (!json_is_array(json_object_get(reply, "decisions"))) {
                if (geteuid() != 0) {
                        fprintf(stderr, "neostractl: metrics: neostrad gives its figures to root only\n");
                        ret = EXIT_PERMISSION;
                } else {
                        fprintf(stderr, "neostractl: metrics: this neostrad gives no figures (too old?)\n");
                        ret = EXIT_DENIED;
                }
                goto done;
        }
        if (o->json && !textfile) {
                char *s = json_dumps(reply, JSON_INDENT(2) | JSON_ENSURE_ASCII);

                ret = s && puts(s) >= 0 && fflush(stdout) == 0 ? EXIT_OK : EXIT_DENIED;
                free(s);
                goto done;
        }
        f = open_memstream(&buf, &len);
        if (!f) {
                fprintf(stderr, "neostractl: out of memory\n");
                ret = EXIT_DENIED;
                goto done;
        }
        write_metrics(f, reply);
        if (fclose(f) != 0 || !buf) {
                fprintf(stderr, "neostractl: out of memory\n");
                ret = EXIT_DENIED;
                goto done;
        }
        ret = output(textfile, buf, len);

done:
        free(buf);
        free(error);
        json_decref(reply);
        return ret;
}
