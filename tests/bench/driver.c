/* SPDX-License-Identifier: MIT */
/*
 * neostra-bench: a PAM login load driver for `make bench`.
 *
 * N forked workers each run full PAM transactions in a loop:
 *   pam_start_confdir(service, user, conv, confdir) -> pam_authenticate
 *   -> pam_acct_mgmt -> pam_end
 * against a service file in a private directory (never /etc/pam.d).  The
 * conversation answers every prompt with the password, read once from
 * --password-file or the environment variable BENCH_PASSWORD (never from
 * the command line).
 *
 *   neostra-bench --confdir DIR --service NAME (--user NAME | --users-file F)
 *                 [--workers N] [--warmup S] (--duration S | --logins N)
 *                 [--password-file F] [--deadline S] [--max-samples N] [--json]
 *
 * Logins that start during the warm-up are not counted.  Each counted
 * login's latency (CLOCK_MONOTONIC, pam_start to pam_end) goes into a
 * per-worker array preallocated in shared memory; the parent merges them and
 * prints p50/p90/p99/max (ms), logins/s and failures (one line, or one
 * JSON object with --json).  A login is a failure unless both
 * pam_authenticate and pam_acct_mgmt return PAM_SUCCESS; the first failure's
 * PAM error text is reported and the exit status is 1 when there was any.
 * Percentiles are over successful logins; logins/s counts successful
 * logins over the measured window (end of warm-up to the last counted
 * login's end).  The parent SIGKILLs its workers (by PID, each with its
 * process group; orphans of theirs, such as pam_exec's children, come to it
 * as a subreaper and are killed by PID too) when they overrun the
 * deadline (warm-up + duration + 30 s by default) or it gets SIGINT/SIGTERM.
 *
 * Exit: 0 no failures, 1 failures (or a worker died / overran), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <security/pam_appl.h>

#define ERR_MAX 256
#define MAX_WORKERS 1024
#define DEFAULT_MAX_SAMPLES (1u << 21)

struct worker_shared {
        uint64_t ok;                    /* counted successful logins */
        uint64_t failed;                /* counted failures */
        uint64_t warmup;                /* logins during the warm-up */
        uint64_t dropped;               /* successes beyond the sample array */
        uint64_t first_fail_ns;         /* monotonic time of the first failure */
        uint64_t last_end_ns;           /* end of the last counted login */
        int done;                       /* the worker finished normally */
        char first_error[ERR_MAX];
};

struct shared_hdr {
        _Atomic int go;                 /* the parent's start signal */
        _Atomic unsigned ready;         /* workers with their samples paged in */
        uint64_t start_ns;              /* warm-up starts */
        uint64_t measure_ns;            /* counting starts */
        uint64_t end_ns;                /* no login starts after this (duration mode) */
};

static struct {
        const char *confdir, *service, *user, *users_file, *password_file;
        unsigned workers;
        double duration, warmup, deadline;
        uint64_t logins;
        uint64_t max_samples;
        bool json;
} opt = { .workers = 1, .duration = 0, .warmup = 0, .deadline = 0 };

static char *password;
static char **users;
static size_t n_users;
static char last_msg[ERR_MAX];  /* the last error message a module sent */

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void usage(FILE *f) {
        fprintf(f,
                "usage: neostra-bench --confdir DIR --service NAME (--user NAME | --users-file F)\n"
                "                     [--workers N] [--warmup S] (--duration S | --logins N)\n"
                "                     [--password-file F] [--deadline S] [--max-samples N] [--json]\n"
                "The password is the first line of --password-file, else $BENCH_PASSWORD.\n");
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct pam_response *r;

        (void) data;
        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        r = calloc((size_t) n, sizeof(*r));
        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++)
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                case PAM_PROMPT_ECHO_ON:
                        r[i].resp = strdup(password);
                        if (!r[i].resp) {
                                for (int j = 0; j < i; j++)
                                        free(r[j].resp);
                                free(r);
                                return PAM_BUF_ERR;
                        }
                        break;
                case PAM_ERROR_MSG:
                        snprintf(last_msg, sizeof(last_msg), "%s", msg[i]->msg ? msg[i]->msg : "");
                        break;
                default:
                        break;
                }
        *resp = r;
        return PAM_SUCCESS;
}

/* Truncation of an error text is fine. */
__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t len, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
}

/* A PAM step that failed: say which, with the module's last message, and
 * end the transaction. */
static bool step_failed(pam_handle_t *pamh, int r, const char *step, const char *user, char *err,
                        size_t errlen) {
        set_err(err, errlen, "%s(%s): %s%s%s", step, user, pam_strerror(pamh, r),
                last_msg[0] ? "; module says: " : "", last_msg);
        pam_end(pamh, r);
        return false;
}

/* One full transaction.  Returns true on success; on failure err says why. */
static bool one_login(const char *user, char *err, size_t errlen) {
        struct pam_conv pc = { conv, NULL };
        pam_handle_t *pamh = NULL;
        int r;

        last_msg[0] = 0;
        r = pam_start_confdir(opt.service, user, &pc, opt.confdir, &pamh);
        if (r != PAM_SUCCESS) {
                set_err(err, errlen, "pam_start_confdir(%s): %s", user, pam_strerror(pamh, r));
                if (pamh)
                        pam_end(pamh, r);
                return false;
        }
        r = pam_authenticate(pamh, 0);
        if (r != PAM_SUCCESS)
                return step_failed(pamh, r, "pam_authenticate", user, err, errlen);
        r = pam_acct_mgmt(pamh, 0);
        if (r != PAM_SUCCESS)
                return step_failed(pamh, r, "pam_acct_mgmt", user, err, errlen);
        r = pam_end(pamh, PAM_SUCCESS);
        if (r != PAM_SUCCESS) {
                set_err(err, errlen, "pam_end(%s): %s", user, pam_strerror(NULL, r));
                return false;
        }
        return true;
}

static void worker_run(unsigned idx, volatile struct shared_hdr *hdr, struct worker_shared *ws,
                       uint64_t *samples, uint64_t cap, uint64_t quota) {
        char err[ERR_MAX];
        uint64_t k = idx;

        /* Page the sample array in now, not during the measured logins. */
        memset(samples, 0, cap * sizeof(*samples));
        atomic_fetch_add(&hdr->ready, 1);
        while (!atomic_load(&hdr->go))
                usleep(100);

        for (;;) {
                uint64_t t0 = now_ns(), t1;
                const char *user = users ? users[k % n_users] : opt.user;
                bool counted, ok;

                if (opt.logins) {
                        if (t0 >= hdr->measure_ns && ws->ok + ws->failed >= quota)
                                break;
                } else if (t0 >= hdr->end_ns)
                        break;
                counted = t0 >= hdr->measure_ns;
                ok = one_login(user, err, sizeof(err));
                t1 = now_ns();
                k += opt.workers;
                if (!counted) {
                        ws->warmup++;
                        continue;
                }
                ws->last_end_ns = t1;
                if (ok) {
                        if (ws->ok < cap)
                                samples[ws->ok] = t1 - t0;
                        else
                                ws->dropped++;
                        ws->ok++;
                } else {
                        if (ws->failed == 0) {
                                ws->first_fail_ns = t1;
                                memcpy(ws->first_error, err, sizeof(ws->first_error));
                        }
                        ws->failed++;
                }
        }
        ws->done = 1;
}

/* Orphans of killed workers (pam_exec's children run in a session of
 * their own) come to us as the subreaper: SIGKILL them by PID and reap. */
static void kill_orphans(void) {
        for (int round = 0; round < 10; round++) {
                char path[64], buf[4096];
                bool any = false;
                FILE *f;

                snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int) getpid());
                f = fopen(path, "re");
                if (!f)
                        return;
                while (fscanf(f, "%4095s", buf) == 1) {
                        long pid = strtol(buf, NULL, 10);

                        if (pid > 0) {
                                kill((pid_t) pid, SIGKILL);
                                any = true;
                        }
                }
                fclose(f);
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                if (!any)
                        return;
                usleep(10000);
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, uint64_t n, double p) {
        uint64_t rank;

        if (n == 0)
                return 0;
        rank = (uint64_t) ceil(p / 100.0 * (double) n);
        if (rank < 1)
                rank = 1;
        return (double) v[rank - 1] / 1e6;
}

static void json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static char *read_first_line(const char *path) {
        char buf[4096];
        FILE *f = fopen(path, "re");
        size_t len;

        if (!f)
                return NULL;
        if (!fgets(buf, sizeof(buf), f)) {
                fclose(f);
                errno = EINVAL;
                return NULL;
        }
        fclose(f);
        len = strcspn(buf, "\r\n");
        buf[len] = 0;
        return strdup(buf);
}

static int load_users(const char *path) {
        char line[1024];
        FILE *f = fopen(path, "re");
        size_t cap = 0;

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\r\n")] = 0;
                if (!line[0] || line[0] == '#')
                        continue;
                if (n_users == cap) {
                        char **n;

                        cap = cap ? 2 * cap : 16;
                        n = realloc(users, cap * sizeof(*users));
                        if (!n) {
                                fclose(f);
                                return -1;
                        }
                        users = n;
                }
                if (!(users[n_users++] = strdup(line))) {
                        fclose(f);
                        return -1;
                }
        }
        fclose(f);
        return n_users ? 0 : -1;
}

static bool parse_double(const char *s, double *ret) {
        char *end;

        errno = 0;
        *ret = strtod(s, &end);
        return errno == 0 && end != s && *end == 0 && *ret >= 0 && isfinite(*ret);
}

static bool parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (*s == '-')
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        *ret = v;
        return errno == 0 && end != s && *end == 0;
}

int main(int argc, char *argv[]) {
        static const struct option longopts[] = {
                { "confdir", required_argument, NULL, 'c' },
                { "service", required_argument, NULL, 's' },
                { "user", required_argument, NULL, 'u' },
                { "users-file", required_argument, NULL, 'U' },
                { "password-file", required_argument, NULL, 'p' },
                { "workers", required_argument, NULL, 'w' },
                { "duration", required_argument, NULL, 'd' },
                { "warmup", required_argument, NULL, 'W' },
                { "logins", required_argument, NULL, 'n' },
                { "deadline", required_argument, NULL, 'D' },
                { "max-samples", required_argument, NULL, 'm' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct shared_hdr *hdr;
        struct worker_shared *ws;
        uint64_t *samples, *merged, total_ok = 0, total_failed = 0, total_warmup = 0, dropped = 0,
                 n_merged = 0, last_end = 0, first_fail = UINT64_MAX, deadline_ns;
        pid_t *pids;
        unsigned alive = 0, died = 0;
        bool overran = false, interrupted = false;
        const char *first_error = NULL;
        size_t hdr_len, ws_len, samples_len;
        sigset_t mask, old;
        double elapsed, rate, mean = 0;
        int c;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
                uint64_t v;

                switch (c) {
                case 'c': opt.confdir = optarg; break;
                case 's': opt.service = optarg; break;
                case 'u': opt.user = optarg; break;
                case 'U': opt.users_file = optarg; break;
                case 'p': opt.password_file = optarg; break;
                case 'j': opt.json = true; break;
                case 'w':
                        if (!parse_u64(optarg, &v) || v < 1 || v > MAX_WORKERS) {
                                fprintf(stderr, "neostra-bench: --workers must be 1..%d\n", MAX_WORKERS);
                                return 2;
                        }
                        opt.workers = (unsigned) v;
                        break;
                case 'd':
                        if (!parse_double(optarg, &opt.duration)) {
                                fprintf(stderr, "neostra-bench: bad --duration\n");
                                return 2;
                        }
                        break;
                case 'W':
                        if (!parse_double(optarg, &opt.warmup)) {
                                fprintf(stderr, "neostra-bench: bad --warmup\n");
                                return 2;
                        }
                        break;
                case 'D':
                        if (!parse_double(optarg, &opt.deadline) || opt.deadline <= 0) {
                                fprintf(stderr, "neostra-bench: bad --deadline\n");
                                return 2;
                        }
                        break;
                case 'n':
                        if (!parse_u64(optarg, &opt.logins) || opt.logins < 1) {
                                fprintf(stderr, "neostra-bench: bad --logins\n");
                                return 2;
                        }
                        break;
                case 'm':
                        if (!parse_u64(optarg, &opt.max_samples) || opt.max_samples < 1 ||
                            opt.max_samples > (UINT64_C(1) << 28)) {
                                fprintf(stderr, "neostra-bench: bad --max-samples\n");
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc || !opt.service || !!opt.user == !!opt.users_file ||
            (opt.duration > 0) == (opt.logins > 0)) {
                usage(stderr);
                return 2;
        }
        if (opt.users_file && load_users(opt.users_file) < 0) {
                fprintf(stderr, "neostra-bench: cannot read user names from %s\n", opt.users_file);
                return 2;
        }
        if (opt.password_file) {
                password = read_first_line(opt.password_file);
                if (!password) {
                        fprintf(stderr, "neostra-bench: cannot read %s: %m\n", opt.password_file);
                        return 2;
                }
        } else {
                const char *e = getenv("BENCH_PASSWORD");

                if (!e) {
                        fprintf(stderr, "neostra-bench: no password: --password-file F or $BENCH_PASSWORD\n");
                        return 2;
                }
                password = strdup(e);
                if (!password)
                        return 2;
        }
        /* Not inherited by anything the PAM stack runs. */
        unsetenv("BENCH_PASSWORD");

        if (!opt.max_samples) {
                opt.max_samples = DEFAULT_MAX_SAMPLES;
                if (opt.logins && opt.logins < opt.max_samples)
                        opt.max_samples = opt.logins;
                /* Far above what one worker can do per second. */
                if (!opt.logins && (opt.duration + 1) * 50000 < (double) opt.max_samples)
                        opt.max_samples = (uint64_t) ((opt.duration + 1) * 50000);
        }
        if (opt.deadline <= 0)
                opt.deadline = opt.warmup + (opt.logins ? 300 : opt.duration) + 30;

        hdr_len = sizeof(*hdr);
        ws_len = sizeof(*ws) * opt.workers;
        samples_len = sizeof(uint64_t) * opt.max_samples * opt.workers;
        hdr = mmap(NULL, hdr_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ws = mmap(NULL, ws_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        samples = mmap(NULL, samples_len, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        pids = calloc(opt.workers, sizeof(*pids));
        if (hdr == MAP_FAILED || ws == MAP_FAILED || samples == MAP_FAILED || !pids) {
                fprintf(stderr, "neostra-bench: out of memory\n");
                return 2;
        }
        memset(ws, 0, ws_len);
        atomic_store(&hdr->go, 0);
        atomic_store(&hdr->ready, 0);

        /* The parent takes these synchronously (sigtimedwait); workers get
         * the default dispositions back. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, &old);
        fflush(NULL);
        prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);

        for (unsigned i = 0; i < opt.workers; i++) {
                pid_t pid = fork();

                if (pid < 0) {
                        fprintf(stderr, "neostra-bench: fork: %m\n");
                        for (unsigned j = 0; j < i; j++)
                                kill(pids[j], SIGKILL);
                        for (unsigned j = 0; j < i; j++)
                                waitpid(pids[j], NULL, 0);
                        return 2;
                }
                if (pid == 0) {
                        /* A group of its own: a kill at the deadline also
                         * reaches what the PAM stack runs (pam_exec). */
                        setpgid(0, 0);
                        sigprocmask(SIG_SETMASK, &old, NULL);
                        worker_run(i, hdr, &ws[i], samples + (uint64_t) i * opt.max_samples, opt.max_samples,
                                   opt.logins ? opt.logins / opt.workers + (i < opt.logins % opt.workers) : 0);
                        _exit(0);
                }
                setpgid(pid, pid);
                pids[i] = pid;
                alive++;
        }

        /* Every worker ready (or 30 s) before the clock starts. */
        for (int i = 0; i < 30000 && atomic_load(&hdr->ready) < opt.workers; i++)
                usleep(1000);
        hdr->start_ns = now_ns();
        hdr->measure_ns = hdr->start_ns + (uint64_t) (opt.warmup * 1e9);
        hdr->end_ns = hdr->measure_ns + (uint64_t) (opt.duration * 1e9);
        deadline_ns = hdr->start_ns + (uint64_t) (opt.deadline * 1e9);
        atomic_store(&hdr->go, 1);

        while (alive > 0) {
                uint64_t now = now_ns();
                struct timespec ts;
                siginfo_t si;
                int sig, status;
                pid_t p;

                if (now >= deadline_ns) {
                        overran = true;
                        break;
                }
                ts.tv_sec = (time_t) ((deadline_ns - now) / 1000000000u);
                ts.tv_nsec = (long) ((deadline_ns - now) % 1000000000u);
                if (ts.tv_sec > 1) {
                        ts.tv_sec = 1;
                        ts.tv_nsec = 0;
                }
                sig = sigtimedwait(&mask, &si, &ts);
                if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
                        interrupted = true;
                        break;
                }
                while ((p = waitpid(-1, &status, WNOHANG)) > 0)
                        for (unsigned i = 0; i < opt.workers; i++)
                                if (pids[i] == p) {
                                        pids[i] = 0;
                                        alive--;
                                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !ws[i].done)
                                                died++;
                                }
        }
        if (alive > 0) {
                /* By PID: each worker's process group (the worker and
                 * whatever it started), then the worker itself. */
                for (unsigned i = 0; i < opt.workers; i++)
                        if (pids[i] > 0) {
                                kill(-pids[i], SIGKILL);
                                kill(pids[i], SIGKILL);
                        }
                for (unsigned i = 0; i < opt.workers; i++)
                        if (pids[i] > 0) {
                                waitpid(pids[i], NULL, 0);
                                pids[i] = 0;
                        }
                kill_orphans();
                if (overran)
                        fprintf(stderr, "neostra-bench: workers overran the %.0f s deadline; killed %u\n",
                                opt.deadline, alive);
                else
                        fprintf(stderr, "neostra-bench: interrupted; killed %u workers\n", alive);
        }

        for (unsigned i = 0; i < opt.workers; i++) {
                total_ok += ws[i].ok;
                total_failed += ws[i].failed;
                total_warmup += ws[i].warmup;
                dropped += ws[i].dropped;
                if (ws[i].last_end_ns > last_end)
                        last_end = ws[i].last_end_ns;
                if (ws[i].failed && ws[i].first_fail_ns < first_fail) {
                        first_fail = ws[i].first_fail_ns;
                        first_error = ws[i].first_error;
                }
        }
        merged = malloc(sizeof(uint64_t) * (total_ok ? total_ok : 1));
        if (!merged) {
                fprintf(stderr, "neostra-bench: out of memory\n");
                return 2;
        }
        for (unsigned i = 0; i < opt.workers; i++) {
                uint64_t n = ws[i].ok < opt.max_samples ? ws[i].ok : opt.max_samples;

                memcpy(merged + n_merged, samples + (uint64_t) i * opt.max_samples, n * sizeof(uint64_t));
                n_merged += n;
        }
        qsort(merged, n_merged, sizeof(uint64_t), cmp_u64);
        for (uint64_t i = 0; i < n_merged; i++)
                mean += (double) merged[i];
        if (n_merged)
                mean /= (double) n_merged * 1e6;
        elapsed = last_end > hdr->measure_ns ? (double) (last_end - hdr->measure_ns) / 1e9 : 0;
        rate = elapsed > 0 ? (double) total_ok / elapsed : 0;
        if (!first_error && (died || overran || interrupted))
                first_error = overran ? "workers overran the deadline and were killed"
                              : interrupted ? "interrupted" : "a worker died";

        if (opt.json) {
                printf("{\"workers\":%u,\"logins\":%" PRIu64 ",\"failures\":%" PRIu64
                       ",\"warmup_logins\":%" PRIu64 ",\"elapsed_s\":%.3f,\"logins_per_s\":%.1f"
                       ",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f"
                       ",\"samples\":%" PRIu64 ",\"dropped_samples\":%" PRIu64
                       ",\"workers_died\":%u,\"overran\":%s,\"first_error\":",
                       opt.workers, total_ok, total_failed, total_warmup, elapsed, rate,
                       pct_ms(merged, n_merged, 50), pct_ms(merged, n_merged, 90),
                       pct_ms(merged, n_merged, 99), n_merged ? (double) merged[n_merged - 1] / 1e6 : 0,
                       mean, n_merged, dropped, died, overran ? "true" : "false");
                if (first_error)
                        json_string(first_error);
                else
                        fputs("null", stdout);
                puts("}");
        } else {
                printf("workers %u  logins %" PRIu64 "  failures %" PRIu64 "  elapsed %.3f s  "
                       "logins/s %.1f  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n",
                       opt.workers, total_ok, total_failed, elapsed, rate,
                       pct_ms(merged, n_merged, 50), pct_ms(merged, n_merged, 90),
                       pct_ms(merged, n_merged, 99), n_merged ? (double) merged[n_merged - 1] / 1e6 : 0);
                if (dropped)
                        printf("(latency samples beyond %" PRIu64 " per worker not kept: %" PRIu64 ")\n",
                               opt.max_samples, dropped);
                if (first_error)
                        printf("first failure: %s\n", first_error);
        }
        fflush(stdout);
        if (password) {
                explicit_bzero(password, strlen(password));
                free(password);
        }
        free(merged);
        free(pids);
        for (size_t i = 0; i < n_users; i++)
                free(users[i]);
        free(users);
        munmap(samples, samples_len);
        munmap(ws, ws_len);
        munmap(hdr, hdr_len);
        return total_failed || died || overran || interrupted ? 1 : 0;
}
