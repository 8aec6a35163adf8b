/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor: the sections run side by side, each in a child
 * process in a process group of its own, and report their checks as JSON
 * lines over a pipe.  The parent waits for all of them until one overall
 * deadline: a section still running then is killed with its group (a
 * systemctl it started included) and reported as hanging, so the whole
 * run takes a few seconds at most whatever hangs.  Then it prints one
 * line per check, in section order, or the same as JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "doctor.h"
#include "doctor-internal.h"
#include "neostra/protocol.h"
#include "neostra/text.h"
#include "neostra/transport.h"

/* Every section must be done by then; each one's own waits (a probe, a
 * call, a command) are shorter, so a killed section is one that hung
 * where nothing of ours sets a deadline (NSS, a stopped process). */
#define DOCTOR_DEADLINE_MS 5000u
/* What one section may say: a few dozen lines. */
#define DOCTOR_SECTION_OUTPUT_MAX (256u * 1024u)
#define DOCTOR_TEXT_MAX 1024u

struct section {
        const char *name;               /* in the JSON */
        const char *title;              /* on the terminal */
        void (*run)(struct doctor_ctx *d);
        /* in the parent: */
        pid_t pid;
        int fd;
        char *buf;
        size_t len;
        bool done;
        bool timed_out;
        int status;
};

static struct section sections[] = {
        { .name = "config", .title = "Config", .run = doctor_check_config },
        { .name = "daemon", .title = "Daemon", .run = doctor_check_daemon },
        { .name = "api", .title = "API", .run = doctor_check_api },
        { .name = "nss", .title = "NSS", .run = doctor_check_nss },
        { .name = "pam", .title = "PAM", .run = doctor_check_pam },
        { .name = "cache", .title = "Cache", .run = doctor_check_cache },
};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

/* ---- what the sections use ------------------------------------------------- */

/* Printable ASCII only: the text quotes files and answers. */
static void sanitize(char *s) {
        for (; *s; s++)
                if (!neostra_text_char_ok((unsigned char) *s, NEOSTRA_TEXT_ASCII))
                        *s = '?';
}

static void write_all(int fd, const char *s, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, s, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                s += k;
                n -= (size_t) k;
        }
}

void doctor_report(struct doctor_ctx *d, const char *check, enum doctor_status s, const char *fix,
                   const char *fmt, ...) {
        static const char *const names[] = { "ok", "fail", "skip" };
        char found[DOCTOR_TEXT_MAX], fixbuf[DOCTOR_TEXT_MAX];
        json_t *j;
        char *line;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(found, sizeof(found), fmt, ap);
        va_end(ap);
        sanitize(found);
        if (fix) {
                snprintf(fixbuf, sizeof(fixbuf), "%s", fix);
                sanitize(fixbuf);
        }
        j = json_pack("{s:s, s:s, s:s, s:s?}", "check", check, "status", names[s], "found", found,
                      "fix", fix && s == DOCTOR_FAIL ? fixbuf : NULL);
        line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!line)
                return;
        write_all(d->out_fd, line, strlen(line));
        write_all(d->out_fd, "\n", 1);
        free(line);
}

int doctor_service_user(const struct doctor_ctx *d, uid_t *ret_uid, gid_t *ret_gid) {
        const char *user = d->config ? d->config->user : "neostra";
        struct passwd pw, *res = NULL;
        char buf[4096];
        int r;

        if (!user || !*user || strcmp(user, "root") == 0) {
                *ret_uid = 0;
                *ret_gid = 0;
                return 1;
        }
        r = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
        if (r == 0 && res) {
                *ret_uid = pw.pw_uid;
                *ret_gid = pw.pw_gid;
                return 1;
        }
        return neostra_nss_not_found(r) ? 0 : -(r > 0 ? r : EIO);
}

const char *doctor_uid_name(uid_t uid, char *buf, size_t size) {
        struct passwd pw, *res = NULL;
        char pwbuf[4096];

        if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
                snprintf(buf, size, "%s (uid %u)", pw.pw_name, (unsigned) uid);
        else
                snprintf(buf, size, "uid %u", (unsigned) uid);
        return buf;
}

int doctor_run_command(char *const argv[], char *out, size_t size, unsigned timeout_ms) {
        uint64_t deadline = neostra_deadline_ms(timeout_ms);
        size_t len = 0;
        int p[2], status = 0;
        pid_t pid;

        if (size == 0 || pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return -errno;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(p[1], STDOUT_FILENO) < 0 ||
                    dup2(null, STDERR_FILENO) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        out[0] = '\0';
        for (;;) {
                uint64_t now = neostra_now_usec();
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                ssize_t k;
                char discard[512];

                if (now >= deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        close(p[0]);
                        return -ETIMEDOUT;
                }
                if (poll(&pfd, 1, (int) ((deadline - now) / 1000u) + 1) <= 0)
                        continue;
                if (len + 1 < size)
                        k = read(p[0], out + len, size - 1 - len);
                else
                        k = read(p[0], discard, sizeof(discard));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (len + 1 < size) {
                        len += (size_t) k;
                        out[len] = '\0';
                }
        }
        close(p[0]);
        /* The output is closed; the exit follows at once, but still bounded. */
        while (waitpid(pid, &status, WNOHANG) == 0) {
                if (neostra_now_usec() >= deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return -ETIMEDOUT;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

/* ---- running the sections -------------------------------------------------- */

static int start_section(struct section *s, struct doctor_ctx *base) {
        int p[2];
        size_t i;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        s->pid = fork();
        if (s->pid < 0) {
                close(p[0]);
                close(p[1]);
                return -errno;
        }
        if (s->pid == 0) {
                struct doctor_ctx d = *base;

                /* Its own group: the parent kills it with whatever it started. */
                (void) setpgid(0, 0);
                close(p[0]);
                for (i = 0; i < N_SECTIONS; i++)
                        if (&sections[i] != s && sections[i].fd >= 0)
                                close(sections[i].fd);
                d.section = s->name;
                d.out_fd = p[1];
                s->run(&d);
                _exit(0);
        }
        /* Also here, so the kill below never misses a group not yet made. */
        (void) setpgid(s->pid, s->pid);
        close(p[1]);
        s->fd = p[0];
        return 0;
}

/* Reap a section: at once when kill_it, else once it exits, but never
 * after the deadline (then it is killed and said to hang). */
static void finish_section(struct section *s, bool kill_it, uint64_t deadline) {
        if (s->done)
                return;
        while (!kill_it) {
                pid_t r = waitpid(s->pid, &s->status, WNOHANG);

                if (r == s->pid || (r < 0 && errno != EINTR))
                        goto reaped;
                if (neostra_now_usec() >= deadline)
                        kill_it = true;
                else
                        nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
        s->timed_out = true;
        (void) kill(-s->pid, SIGKILL);
        (void) kill(s->pid, SIGKILL);
        while (waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR)
                ;
reaped:
        close(s->fd);
        s->fd = -1;
        s->done = true;
}

static void collect(void) {
        uint64_t deadline = neostra_deadline_ms(DOCTOR_DEADLINE_MS);
        size_t i, open_sections = 0;

        for (i = 0; i < N_SECTIONS; i++)
                open_sections += !sections[i].done;

        while (open_sections > 0) {
                struct pollfd pfd[N_SECTIONS];
                struct section *which[N_SECTIONS];
                uint64_t now = neostra_now_usec();
                size_t n = 0;
                int r;

                if (now >= deadline)
                        break;
                for (i = 0; i < N_SECTIONS; i++)
                        if (!sections[i].done) {
                                pfd[n] = (struct pollfd) { .fd = sections[i].fd, .events = POLLIN };
                                which[n++] = &sections[i];
                        }
                r = poll(pfd, n, (int) ((deadline - now) / 1000u) + 1);
                if (r < 0 && errno != EINTR)
                        break;
                for (i = 0; r > 0 && i < n; i++) {
                        struct section *s = which[i];
                        char chunk[4096];
                        ssize_t k;

                        if (!pfd[i].revents)
                                continue;
                        k = read(s->fd, chunk, sizeof(chunk));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                /* The end of its output (or a broken pipe):
                                 * it is exiting. */
                                finish_section(s, false, deadline);
                                open_sections--;
                                continue;
                        }
                        if (s->len + (size_t) k > DOCTOR_SECTION_OUTPUT_MAX)
                                continue;       /* keep what fits, drop the rest */
                        char *nb = realloc(s->buf, s->len + (size_t) k + 1);
                        if (!nb)
                                continue;
                        s->buf = nb;
                        memcpy(s->buf + s->len, chunk, (size_t) k);
                        s->len += (size_t) k;
                        s->buf[s->len] = '\0';
                }
        }
        for (i = 0; i < N_SECTIONS; i++)
                finish_section(&sections[i], true, deadline);
}

/* The section's checks as a JSON array, plus one for a hang or a crash. */
static json_t *section_results(struct section *s, bool *failed) {
        json_t *a = json_array(), *j;
        char *line, *save = NULL;
        const char *last = NULL;

        if (!a)
                return NULL;
        for (line = s->buf ? strtok_r(s->buf, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                j = json_loads(line, 0, NULL);
                if (!json_is_object(j) || !json_is_string(json_object_get(j, "status"))) {
                        json_decref(j);
                        continue;
                }
                if (strcmp(json_string_value(json_object_get(j, "status")), "fail") == 0)
                        *failed = true;
                last = json_string_value(json_object_get(j, "check"));
                json_array_append_new(a, j);
        }
        if (s->timed_out || !WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0) {
                char found[512];

                if (s->timed_out)
                        snprintf(found, sizeof(found),
                                 "no answer within %u s (stopped after the check '%s'): something this "
                                 "section asks hangs", DOCTOR_DEADLINE_MS / 1000u, last ? last : "(none)");
                else
                        snprintf(found, sizeof(found), "the checks of this section crashed (after '%s')",
                                 last ? last : "(none)");
                j = json_pack("{s:s, s:s, s:s, s:s}", "check", "deadline", "status", "fail", "found", found,
                              "fix", s->timed_out ? "a hung NSS source (nsswitch.conf), an unanswered "
                              "socket or a stopped process: see the NSS and Daemon lines" :
                              "report it, with this output");
                if (j)
                        json_array_append_new(a, j);
                *failed = true;
        }
        return a;
}

static void print_line(const char *title, json_t *c) {
        const char *status = json_string_value(json_object_get(c, "status"));
        const char *found = json_string_value(json_object_get(c, "found"));
        const char *fix = json_string_value(json_object_get(c, "fix"));
        const char *mark = strcmp(status, "ok") == 0 ? "\u2713" : strcmp(status, "fail") == 0 ? "\u2717" : "-";

        printf("%s %s: %s", mark, title, found ? found : "");
        if (fix)
                printf(" \u2192 fix: %s", fix);
        putchar('\n');
}

int doctor_run(const struct doctor_options *o) {
        struct neostra_config *config = NULL;
        char err[512] = "";
        struct doctor_ctx base = {};
        json_t *all = NULL, *checks;
        bool failed = false;
        size_t i;

        if (geteuid() != 0) {
                fprintf(stderr, "neostractl: doctor must run as root: it reads the cache, the sockets' "
                        "owners and every PAM stack\n");
                return 4;
        }
        base.config_path = o->config_path ? o->config_path : NEOSTRA_DEFAULT_CONFIG;
        if (neostra_config_load(base.config_path, false, &config, err, sizeof(err)) < 0)
                base.config_error = err;
        base.config = config;
        base.socket_path = o->socket_path ? o->socket_path
                : config ? config->socket_path : NEOSTRA_DEFAULT_SOCKET;

        fflush(NULL);
        for (i = 0; i < N_SECTIONS; i++)
                sections[i].fd = -1;
        for (i = 0; i < N_SECTIONS; i++)
                if (start_section(&sections[i], &base) < 0) {
                        /* Reported below as a crash of that section. */
                        sections[i].done = true;
                        sections[i].status = 1 << 8;
                }
        collect();

        all = json_object();
        checks = json_array();
        for (i = 0; i < N_SECTIONS; i++) {
                json_t *a = section_results(&sections[i], &failed), *c;
                size_t k;

                json_array_foreach(a, k, c) {
                        json_object_set_new(c, "section", json_string(sections[i].name));
                        if (!o->json)
                                print_line(sections[i].title, c);
                        json_array_append(checks, c);
                }
                json_decref(a);
                free(sections[i].buf);
                sections[i].buf = NULL;
        }
        if (o->json) {
                char *s;

                json_object_set_new(all, "ok", json_boolean(!failed));
                json_object_set(all, "checks", checks);
                s = json_dumps(all, JSON_INDENT(2) | JSON_ENSURE_ASCII);
                if (s)
                        puts(s);
                free(s);
        } else
                printf("%s\n", failed ? "Something is wrong: see the lines marked \u2717."
                                      : "Nothing wrong found.");
        fflush(stdout);
        json_decref(checks);
        json_decref(all);
        neostra_config_free(config);
        return failed ? 1 : 0;
}
