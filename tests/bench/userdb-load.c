/* SPDX-License-Identifier: MIT */
/*
 * userdb-load: load on neostrad's io.systemd.UserDatabase socket, as
 * nss-systemd would make it, with per-request latencies.
 *
 *   userdb-load -s SOCKET -u PREFIX -n NUSERS [-c CONNS] [-d SECONDS]
 *               [-r RATE] [-k SAMPLE] [-m METHODS] [-F]
 *
 * The users PREFIX0 .. PREFIX<NUSERS-1> must be published by the daemon.
 * SAMPLE of them (default min(NUSERS, 1000), spread evenly) are looked up
 * once by name first, to learn their uids.  Then CONNS connections (default
 * 100) are opened and kept open, and for SECONDS (default 10) each issues
 * requests one after the other, cycling through METHODS (default
 * "name,uid,memb"):
 *   name  GetUserRecord {userName, service}
 *   uid   GetUserRecord {uid, service}
 *   memb  GetMemberships {userName, service} with "more" (nss-systemd's
 *         initgroups); the latency runs until the last reply
 * for a random user of the sample.  RATE 0 (default) is a closed loop:
 * every connection sends its next request as soon as the answer is in
 * (saturation: latency = outstanding requests / throughput).  RATE > 0 is
 * the aggregate requests per second of all connections together; each
 * connection waits an exponentially distributed time (mean CONNS/RATE)
 * between requests, so requests arrive as from independent clients.
 * Latency is measured from the send to the last byte of the answer.
 * Every answer is checked (no error, the right userName); a wrong one is
 * counted and makes the exit status 1.  -F: against userdb-floor (an echo
 * server): no uids are looked up, uid i is 1000000 + i.
 *
 * Output, one line per method (and "all"):
 *   method=NAME n=N errors=N rps=X p50=MS p90=MS p99=MS p999=MS max=MS late=N
 * (late: paced sends that went out more than 1 ms after their time
 * because the previous answer had not come yet.)
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon-client.h"

#define REPLY_MAX (256 * 1024)

enum method { M_NAME, M_UID, M_MEMB, _M_MAX };
static const char *const method_names[_M_MAX] = {
        [M_NAME] = "GetUserRecord(userName)",
        [M_UID] = "GetUserRecord(uid)",
        [M_MEMB] = "GetMemberships(userName)",
};

struct lat {
        double *v;
        size_t n, cap;
        unsigned long errors, late;
};

struct conn {
        int fd;
        bool busy;
        enum method method;
        size_t user;
        double sent, due;
        unsigned cycle;
        size_t len;
        char buf[REPLY_MAX];
};

static const char *prefix;
static long *uids;
static size_t *sample;
static size_t n_sample;
static enum method methods[_M_MAX];
static size_t n_methods;
static struct lat lats[_M_MAX];
static unsigned long bad_printed;

static void die(const char *what) {
        fprintf(stderr, "userdb-load: %s: %s\n", what, strerror(errno));
        exit(2);
}

static void lat_add(struct lat *l, double v) {
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 65536;
                l->v = realloc(l->v, l->cap * sizeof(double));
                if (!l->v)
                        die("realloc");
        }
        l->v[l->n++] = v;
}

static double pct(const struct lat *l, double p) {
        size_t i;

        if (l->n == 0)
                return 0;
        i = (size_t) ceil(p / 100.0 * (double) l->n);
        if (i > 0)
                i--;
        if (i >= l->n)
                i = l->n - 1;
        return l->v[i];
}

static void report(const char *name, struct lat *l, double secs) {
        qsort(l->v, l->n, sizeof(double), cmp_double);
        printf("method=%s n=%zu errors=%lu rps=%.0f p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f late=%lu\n",
               name, l->n, l->errors, (double) l->n / secs, pct(l, 50) * 1e3, pct(l, 90) * 1e3,
               pct(l, 99) * 1e3, pct(l, 99.9) * 1e3, l->n ? l->v[l->n - 1] * 1e3 : 0.0, l->late);
}

static int request(char *out, size_t outsz, enum method m, size_t user) {
        switch (m) {
        case M_NAME:
                return snprintf(out, outsz, "{\"method\":\"io.systemd.UserDatabase.GetUserRecord\","
                                "\"parameters\":{\"userName\":\"%s%zu\",\"service\":\"io.neostra\"}}",
                                prefix, user);
        case M_UID:
                return snprintf(out, outsz, "{\"method\":\"io.systemd.UserDatabase.GetUserRecord\","
                                "\"parameters\":{\"uid\":%ld,\"service\":\"io.neostra\"}}", uids[user]);
        default:
                return snprintf(out, outsz, "{\"method\":\"io.systemd.UserDatabase.GetMemberships\","
                                "\"parameters\":{\"userName\":\"%s%zu\",\"service\":\"io.neostra\"},"
                                "\"more\":true}", prefix, user);
        }
}

/* Send all of a request, NUL included (blocking socket). */
static void send_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t r = send(fd, p, n, MSG_NOSIGNAL);

                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        die("send");
                }
                p += r;
                n -= (size_t) r;
        }
}

/* Is the reply msg (one NUL-terminated message) right for the request?
 * Sets *more when a "continues": true says another message follows. */
static bool reply_ok(const char *msg, enum method m, size_t user, bool *more) {
        char want[128];

        *more = strstr(msg, "\"continues\":true") != NULL;
        if (strncmp(msg, "{\"error\"", 8) == 0 || strstr(msg, "\"error\":"))
                return false;
        if (m == M_MEMB)
                snprintf(want, sizeof(want), "\"userName\":\"%s%zu\"", prefix, user);
        else if (m == M_NAME)
                snprintf(want, sizeof(want), "\"userName\":\"%s%zu\"", prefix, user);
        else
                snprintf(want, sizeof(want), "\"uid\":%ld", uids[user]);
        return strstr(msg, want) != NULL;
}

static void resolve_uids(const char *path) {
        char req[512], buf[REPLY_MAX];
        int fd = connect_to(path);

        if (fd < 0)
                die(path);
        for (size_t i = 0; i < n_sample; i++) {
                size_t user = sample[i], len = 0;
                int n = request(req, sizeof(req) - 1, M_NAME, user);
                char *p;

                send_all(fd, req, (size_t) n + 1);
                for (;;) {
                        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);

                        if (r <= 0)
                                die("recv (resolving uids)");
                        len += (size_t) r;
                        if (memchr(buf, 0, len))
                                break;
                }
                p = strstr(buf, "\"uid\":");
                if (!p || strstr(buf, "\"error\"")) {
                        fprintf(stderr, "userdb-load: %s%zu is not published: %.300s\n", prefix, user, buf);
                        exit(1);
                }
                uids[user] = strtol(p + 6, NULL, 10);
        }
        close(fd);
}

int main(int argc, char **argv) {
        const char *path = NULL, *mlist = "name,uid,memb";
        size_t n_users = 0, n_conns = 100, want_sample = 1000;
        double seconds = 10, rate = 0, start, end, t;
        struct conn *conns;
        struct lat all = {};
        int ep, opt;
        bool failed = false, floor = false;

        while ((opt = getopt(argc, argv, "s:u:n:c:d:r:k:m:F")) >= 0)
                switch (opt) {
                case 's': path = optarg; break;
                case 'u': prefix = optarg; break;
                case 'n': n_users = strtoul(optarg, NULL, 10); break;
                case 'c': n_conns = strtoul(optarg, NULL, 10); break;
                case 'd': seconds = strtod(optarg, NULL); break;
                case 'r': rate = strtod(optarg, NULL); break;
                case 'k': want_sample = strtoul(optarg, NULL, 10); break;
                case 'm': mlist = optarg; break;
                case 'F': floor = true; break;
                default:
                        fprintf(stderr, "usage: userdb-load -s SOCKET -u PREFIX -n NUSERS [-c CONNS] "
                                "[-d SECONDS] [-r RATE] [-k SAMPLE] [-m name,uid,memb]\n");
                        return 2;
                }
        if (!path || !prefix || n_users == 0 || n_conns == 0 || seconds <= 0) {
                fprintf(stderr, "userdb-load: -s, -u and -n are required\n");
                return 2;
        }
        if (strstr(mlist, "name"))
                methods[n_methods++] = M_NAME;
        if (strstr(mlist, "uid"))
                methods[n_methods++] = M_UID;
        if (strstr(mlist, "memb"))
                methods[n_methods++] = M_MEMB;
        if (n_methods == 0) {
                fprintf(stderr, "userdb-load: no method in -m %s\n", mlist);
                return 2;
        }

        n_sample = want_sample < n_users ? want_sample : n_users;
        sample = calloc(n_sample, sizeof(*sample));
        uids = calloc(n_users, sizeof(*uids));
        conns = calloc(n_conns, sizeof(*conns));
        if (!sample || !uids || !conns)
                die("calloc");
        for (size_t i = 0; i < n_sample; i++)
                sample[i] = i * n_users / n_sample;
        srand48((long) getpid());
        if (floor)
                for (size_t i = 0; i < n_users; i++)
                        uids[i] = 1000000 + (long) i;
        else
                resolve_uids(path);

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                die("epoll_create1");
        for (size_t i = 0; i < n_conns; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };

                conns[i].fd = connect_to(path);
                if (conns[i].fd < 0)
                        die("connect");
                conns[i].cycle = (unsigned) i;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
                        die("epoll_ctl");
        }

        start = now();
        end = start + seconds;
        for (size_t i = 0; i < n_conns; i++)
                conns[i].due = rate > 0 ? start + drand48() * (double) n_conns / rate : start;

        for (t = start; t < end; t = now()) {
                struct epoll_event evs[256];
                double next = end;
                int n, timeout_ms;

                /* Send every request that is due. */
                for (size_t i = 0; i < n_conns; i++) {
                        struct conn *c = &conns[i];
                        char req[512];
                        int len;

                        if (c->busy)
                                continue;
                        if (c->due > t) {
                                if (c->due < next)
                                        next = c->due;
                                continue;
                        }
                        c->method = methods[c->cycle++ % n_methods];
                        c->user = sample[(size_t) (drand48() * (double) n_sample) % n_sample];
                        len = request(req, sizeof(req) - 1, c->method, c->user);
                        if (rate > 0 && t - c->due > 1e-3)
                                lats[c->method].late++;
                        c->sent = now();
                        c->busy = true;
                        c->len = 0;
                        send_all(c->fd, req, (size_t) len + 1);
                }
                timeout_ms = (int) ((next - now()) * 1000.0);
                if (timeout_ms < 0)
                        timeout_ms = 0;
                n = epoll_wait(ep, evs, 256, timeout_ms);
                if (n < 0 && errno != EINTR)
                        die("epoll_wait");
                for (int i = 0; i < n; i++) {
                        struct conn *c = evs[i].data.ptr;
                        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
                        char *msg = c->buf, *z;

                        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (r <= 0) {
                                fprintf(stderr, "userdb-load: the daemon closed a connection\n");
                                return 1;
                        }
                        c->len += (size_t) r;
                        while (c->busy && (z = memchr(msg, 0, c->len - (size_t) (msg - c->buf)))) {
                                bool more = false;

                                if (!reply_ok(msg, c->method, c->user, &more)) {
                                        lats[c->method].errors++;
                                        failed = true;
                                        if (bad_printed++ < 3)
                                                fprintf(stderr, "userdb-load: bad answer to %s for %s%zu: %.300s\n",
                                                        method_names[c->method], prefix, c->user, msg);
                                }
                                msg = z + 1;
                                if (!more) {
                                        double done = now();

                                        /* Requests still out at the end are not counted. */
                                        lat_add(&lats[c->method], done - c->sent);
                                        lat_add(&all, done - c->sent);
                                        c->busy = false;
                                        c->due = rate > 0 ? c->due - log(1.0 - drand48()) * (double) n_conns / rate
                                                          : done;
                                        if (c->due < done - 1.0)
                                                c->due = done; /* far behind: do not burst */
                                }
                        }
                        memmove(c->buf, msg, c->len - (size_t) (msg - c->buf));
                        c->len -= (size_t) (msg - c->buf);
                        if (!c->busy && c->len > 0) {
                                fprintf(stderr, "userdb-load: unexpected data after an answer\n");
                                return 1;
                        }
                }
        }
        t = now() - start;
        for (size_t i = 0; i < n_methods; i++) {
                all.errors += lats[methods[i]].errors;
                all.late += lats[methods[i]].late;
                report(method_names[methods[i]], &lats[methods[i]], t);
        }
        report("all", &all, t);
        for (size_t i = 0; i < n_conns; i++)
                close(conns[i].fd);
        for (size_t i = 0; i < _M_MAX; i++)
                free(lats[i].v);
        free(all.v);
        free(conns);
        free(uids);
        free(sample);
        return failed ? 1 : 0;
}
