/* SPDX-License-Identifier: MIT */
/*
 * daemon-authload: io.neostra.Auth.Authenticate calls straight at the
 * daemon's socket (no PAM), several in flight, to sign users in fast and
 * to watch the daemon's memory across many logins.
 *
 *   daemon-authload -s SOCKET -u PREFIX -N NUSERS -n COUNT [-c CONNS]
 *                   [-o FIRST] [-P PID] [-S EVERY] [-w PASSWORD_FILE]
 *
 * COUNT logins in all, of the users PREFIX<(FIRST + i) % NUSERS> in turn
 * (FIRST default 0), over CONNS connections (default 8), each with one
 * call in flight.  Run it as root: the daemon rate-limits other peers.
 * The password is read from PASSWORD_FILE (first line), default
 * "bench-password".  Every answer must be a success; failures are
 * counted (the first few printed) and make the exit status 1.
 * With -P PID and -S EVERY, the VmRSS and RssAnon of PID are read from
 * /proc/PID/status before the first call and after every EVERY answers
 * (kind=busy: at that moment, logins in flight, verifiers being made).
 * With -I SECS too, the load then pauses: the calls in flight are
 * answered, the daemon is given up to SECS to fall quiet (no CPU used for
 * 0.3 s: every queued verifier made), and it is sampled again (kind=idle,
 * settle=seconds waited, -1 if it never fell quiet); pauses are not
 * counted in the rate; the connections are opened afresh after each (the
 * daemon closes connections idle for 10 s).
 *   sample done=N kind=busy|idle rss_kb=K anon_kb=K secs=S settle=S
 * At the end:
 *   logins n=N errors=N secs=S rate=R p50=MS p99=MS max=MS
 */
#include <errno.h>
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

struct conn {
        int fd;
        bool busy;
        double sent;
        size_t len;
        char buf[16384];
};

static void die(const char *what) {
        fprintf(stderr, "daemon-authload: %s: %s\n", what, strerror(errno));
        exit(2);
}

/* VmRSS and RssAnon of pid, in kB (-1 unknown). */
static void rss_kb(long pid, long *rss, long *anon) {
        char path[64], line[256];
        FILE *f;

        *rss = *anon = -1;
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        f = fopen(path, "r");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "VmRSS:", 6) == 0)
                        *rss = strtol(line + 6, NULL, 10);
                else if (strncmp(line, "RssAnon:", 8) == 0)
                        *anon = strtol(line + 8, NULL, 10);
        fclose(f);
}

/* utime + stime of pid in clock ticks, -1 when unknown. */
static long cpu_ticks(long pid) {
        char path[64], buf[1024], *p;
        unsigned long ut, st;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        p = strrchr(buf, ')');
        /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
                return -1;
        return (long) (ut + st);
}

/* Wait until pid uses no CPU for 0.3 s (its worker threads have made every
 * queued verifier), at most max_secs.  Returns the seconds waited, or -1
 * when it did not settle in time. */
static double settle(long pid, double max_secs) {
        double t0 = now();
        long last = cpu_ticks(pid);
        int quiet = 0;

        while (now() - t0 < max_secs) {
                long t;

                usleep(100000);
                t = cpu_ticks(pid);
                quiet = t == last ? quiet + 1 : 0;
                last = t;
                if (quiet >= 3)
                        return now() - t0;
        }
        return -1;
}

static void sample(long pid, size_t done, double secs, const char *kind, double settled) {
        long rss, anon;

        rss_kb(pid, &rss, &anon);
        printf("sample done=%zu kind=%s rss_kb=%ld anon_kb=%ld secs=%.1f settle=%.1f\n", done, kind, rss, anon,
               secs, settled);
        fflush(stdout);
}

int main(int argc, char **argv) {
        const char *path = NULL, *prefix = NULL, *pwfile = NULL;
        char password[256] = "bench-password";
        size_t n_users = 0, count = 0, n_conns = 8, first = 0, every = 0, issued = 0, done = 0;
        unsigned long errors = 0;
        long pid = 0;
        double start, *lat, settle_max = 0, paused = 0;
        bool pausing = false;
        size_t pause_at = 0;
        struct conn *conns;
        int ep, opt;

        while ((opt = getopt(argc, argv, "s:u:N:n:c:o:P:S:I:w:")) >= 0)
                switch (opt) {
                case 's': path = optarg; break;
                case 'u': prefix = optarg; break;
                case 'N': n_users = strtoul(optarg, NULL, 10); break;
                case 'n': count = strtoul(optarg, NULL, 10); break;
                case 'c': n_conns = strtoul(optarg, NULL, 10); break;
                case 'o': first = strtoul(optarg, NULL, 10); break;
                case 'P': pid = strtol(optarg, NULL, 10); break;
                case 'S': every = strtoul(optarg, NULL, 10); break;
                case 'I': settle_max = strtod(optarg, NULL); break;
                case 'w': pwfile = optarg; break;
                default:
                        fprintf(stderr, "usage: daemon-authload -s SOCKET -u PREFIX -N NUSERS -n COUNT "
                                "[-c CONNS] [-o FIRST] [-P PID] [-S EVERY [-I SECS]] [-w PASSWORD_FILE]\n");
                        return 2;
                }
        if (!path || !prefix || n_users == 0 || count == 0 || n_conns == 0) {
                fprintf(stderr, "daemon-authload: -s, -u, -N and -n are required\n");
                return 2;
        }
        if (pwfile) {
                FILE *f = fopen(pwfile, "r");

                if (!f || !fgets(password, sizeof(password), f))
                        die(pwfile);
                fclose(f);
                password[strcspn(password, "\r\n")] = 0;
        }
        if (n_conns > count)
                n_conns = count;
        conns = calloc(n_conns, sizeof(*conns));
        lat = calloc(count, sizeof(*lat));
        if (!conns || !lat)
                die("calloc");
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                die("epoll_create1");
        for (size_t i = 0; i < n_conns; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };

                conns[i].fd = connect_to(path);
                if (conns[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
                        die(path);
        }

        start = now();
        if (pid > 0 && every > 0)
                sample(pid, 0, 0.0, "idle", 0.0);
        while (done < count || pausing) {
                struct epoll_event evs[64];
                int n;

                if (pausing) {
                        size_t busy = 0;

                        for (size_t i = 0; i < n_conns; i++)
                                busy += conns[i].busy;
                        if (busy == 0) {
                                double t0 = now(), w = settle(pid, settle_max);

                                sample(pid, pause_at, t0 - start - paused, "idle", w);
                                /* The daemon closes connections idle for 10 s: start afresh. */
                                for (size_t i = 0; i < n_conns; i++) {
                                        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };

                                        close(conns[i].fd);
                                        conns[i].fd = connect_to(path);
                                        if (conns[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
                                                die(path);
                                }
                                paused += now() - t0;
                                pausing = false;
                        }
                }
                for (size_t i = 0; i < n_conns && issued < count && !pausing; i++) {
                        struct conn *c = &conns[i];
                        char req[1024];
                        const char *p;
                        int len;

                        if (c->busy)
                                continue;
                        len = snprintf(req, sizeof(req),
                                       "{\"method\":\"io.neostra.Auth.Authenticate\",\"parameters\":"
                                       "{\"user\":\"%s%zu\",\"password\":\"%s\",\"service\":\"bench\"}}",
                                       prefix, (first + issued) % n_users, password);
                        issued++;
                        c->busy = true;
                        c->len = 0;
                        c->sent = now();
                        for (p = req, len++; len > 0;) {
                                ssize_t r = send(c->fd, p, (size_t) len, MSG_NOSIGNAL);

                                if (r < 0 && errno == EINTR)
                                        continue;
                                if (r < 0)
                                        die("send");
                                p += r;
                                len -= (int) r;
                        }
                        explicit_bzero(req, sizeof(req));
                }
                if (done >= count && !pausing)
                        break;
                n = epoll_wait(ep, evs, 64, 60000);
                if (n < 0 && errno != EINTR)
                        die("epoll_wait");
                if (n == 0) {
                        fprintf(stderr, "daemon-authload: no answer for 60 s\n");
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        struct conn *c = evs[i].data.ptr;
                        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);

                        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (r <= 0) {
                                fprintf(stderr, "daemon-authload: the daemon closed a connection\n");
                                return 1;
                        }
                        c->len += (size_t) r;
                        if (!memchr(c->buf, 0, c->len))
                                continue;
                        if (strstr(c->buf, "\"error\"")) {
                                if (errors++ < 3)
                                        fprintf(stderr, "daemon-authload: login failed: %.300s\n", c->buf);
                        }
                        lat[done++] = now() - c->sent;
                        c->busy = false;
                        if (pid > 0 && every > 0 && done % every == 0) {
                                sample(pid, done, now() - start, "busy", 0.0);
                                if (settle_max > 0) {
                                        pausing = true;
                                        pause_at = done;
                                }
                        }
                }
        }
        {
                double secs = now() - start - paused;

                qsort(lat, count, sizeof(double), cmp_double);
                printf("logins n=%zu errors=%lu secs=%.2f rate=%.0f p50=%.3f p99=%.3f max=%.3f\n", count, errors,
                       secs, (double) count / secs, lat[count / 2] * 1e3,
                       lat[(size_t) ((double) count * 0.99)] * 1e3, lat[count - 1] * 1e3);
        }
        return errors ? 1 : 0;
}
