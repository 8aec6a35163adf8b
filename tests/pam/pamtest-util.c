/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pamtest-util.h"

struct pt_env pt;

int pt_env_load(const char **why) {
        const char *port;
        char *end;
        long p;

        pt.canary = getenv("NEOSTRA_CANARY");
        pt.dir = getenv("NEOSTRA_TEST_DIR");
        port = getenv("NEOSTRA_MOCK_PORT");
        if (!pt.canary || !*pt.canary || !pt.dir || !*pt.dir || !port) {
                *why = "run through tests/pam/run-pamtest.sh BUILDDIR, which starts the "
                       "daemons and the mock API and sets NEOSTRA_CANARY, NEOSTRA_TEST_DIR "
                       "and NEOSTRA_MOCK_PORT";
                return -1;
        }
        errno = 0;
        p = strtol(port, &end, 10);
        if (errno || *end || p <= 0 || p > 65535) {
                *why = "NEOSTRA_MOCK_PORT is not a port number";
                return -1;
        }
        pt.mock_port = (int) p;
        if (!getenv("PAM_WRAPPER")) {
                *why = "not running under pam_wrapper (LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1)";
                return -1;
        }
        return 0;
}

uint64_t pt_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

const char *pt_pam_name(int rv) {
        static const struct { int rv; const char *name; } names[] = {
#define N(x) { x, #x }
                N(PAM_SUCCESS), N(PAM_OPEN_ERR), N(PAM_SYMBOL_ERR), N(PAM_SERVICE_ERR),
                N(PAM_SYSTEM_ERR), N(PAM_BUF_ERR), N(PAM_PERM_DENIED), N(PAM_AUTH_ERR),
                N(PAM_CRED_INSUFFICIENT), N(PAM_AUTHINFO_UNAVAIL), N(PAM_USER_UNKNOWN),
                N(PAM_MAXTRIES), N(PAM_NEW_AUTHTOK_REQD), N(PAM_ACCT_EXPIRED),
                N(PAM_SESSION_ERR), N(PAM_CRED_UNAVAIL), N(PAM_CRED_EXPIRED), N(PAM_CRED_ERR),
                N(PAM_NO_MODULE_DATA), N(PAM_CONV_ERR), N(PAM_AUTHTOK_ERR),
                N(PAM_AUTHTOK_RECOVERY_ERR), N(PAM_AUTHTOK_LOCK_BUSY),
                N(PAM_AUTHTOK_DISABLE_AGING), N(PAM_TRY_AGAIN), N(PAM_IGNORE), N(PAM_ABORT),
                N(PAM_AUTHTOK_EXPIRED), N(PAM_MODULE_UNKNOWN), N(PAM_BAD_ITEM),
                N(PAM_CONV_AGAIN), N(PAM_INCOMPLETE),
#undef N
        };

        for (size_t i = 0; i < ELEMENTS(names); i++)
                if (names[i].rv == rv)
                        return names[i].name;
        return "PAM_(unknown)";
}

const char *pt_op_name(enum pamtest_ops op) {
        switch (op) {
        case PAMTEST_AUTHENTICATE: return "pam_authenticate";
        case PAMTEST_SETCRED: return "pam_setcred";
        case PAMTEST_ACCOUNT: return "pam_acct_mgmt";
        case PAMTEST_OPEN_SESSION: return "pam_open_session";
        case PAMTEST_CLOSE_SESSION: return "pam_close_session";
        case PAMTEST_CHAUTHTOK: return "pam_chauthtok";
        default: return "pamtest op";
        }
}

static void keep(char store[][CONV_MSG_LEN], unsigned *n, const char *msg) {
        if (*n >= CONV_MSGS_MAX)
                return;
        snprintf(store[*n], CONV_MSG_LEN, "%s", msg ? msg : "");
        (*n)++;
}

/* Answers echo-off prompts with log->password; records every message. */
static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct conv_log *log = data;
        struct pam_response *r;

        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        r = calloc((size_t) n, sizeof(*r));
        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++) {
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                case PAM_PROMPT_ECHO_ON:
                        if (log)
                                log->prompts++;
                        if (!log || !log->password || msg[i]->msg_style != PAM_PROMPT_ECHO_OFF)
                                goto refuse;
                        r[i].resp = strdup(log->password);
                        if (!r[i].resp)
                                goto refuse;
                        break;
                case PAM_ERROR_MSG:
                        if (log)
                                keep(log->errors, &log->n_errors, msg[i]->msg);
                        break;
                case PAM_TEXT_INFO:
                        if (log)
                                keep(log->infos, &log->n_infos, msg[i]->msg);
                        break;
                default:
                        goto refuse;
                }
        }
        *resp = r;
        return PAM_SUCCESS;

refuse:
        for (int i = 0; i < n; i++)
                if (r[i].resp) {
                        explicit_bzero(r[i].resp, strlen(r[i].resp));
                        free(r[i].resp);
                }
        free(r);
        return PAM_CONV_ERR;
}

enum pamtest_err pt_run(const char *service, const char *user, struct conv_log *log,
                        struct pam_testcase *cases, size_t n_cases) {
        return _pamtest_conv(service, user, conv, log, cases, n_cases, NULL);
}

const char *pt_socket(const char *name, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.sock", pt.dir, name);
        return buf;
}

/* ---- HTTP to the mock ------------------------------------------------------ */

#define HTTP_MAX (8u * 1024u * 1024u)

int pt_mock_get(const char *path, json_t **ret) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) pt.mock_port) };
        struct timeval tv = { .tv_sec = 5 };
        char req[512], *buf = NULL, *body;
        size_t len = 0, cap = 0;
        uint64_t deadline = pt_now_ms() + 5000u;
        int fd, status = 0, r = -1;
        json_t *doc;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t) strlen(req))
                goto done;

        for (;;) {
                ssize_t k;

                if (pt_now_ms() > deadline)
                        goto done;
                if (cap - len < 4096) {
                        char *nb;

                        if (cap >= HTTP_MAX)
                                goto done;
                        cap = cap ? cap * 2 : 16384;
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                goto done;
                        buf = nb;
                }
                k = recv(fd, buf + len, cap - len, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        goto done;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (!buf)
                goto done;
        buf[len] = 0;
        if (sscanf(buf, "HTTP/%*u.%*u %d", &status) != 1 || status != 200)
                goto done;
        body = strstr(buf, "\r\n\r\n");
        if (!body)
                goto done;
        body += 4;
        doc = json_loadb(body, len - (size_t) (body - buf), 0, NULL);
        if (!doc)
                goto done;
        *ret = doc;
        r = 0;
done:
        close(fd);
        free(buf);
        return r;
}

long pt_mock_signins(void) {
        json_t *doc = NULL, *v;
        long n = -1;

        if (pt_mock_get("/_control/stats", &doc) < 0)
                return -1;
        v = json_object_get(doc, "signins");
        if (json_is_integer(v))
                n = (long) json_integer_value(v);
        json_decref(doc);
        return n;
}

long pt_mock_requests_for(const char *email, json_t **ret_last) {
        json_t *doc = NULL, *list, *entry, *last = NULL;
        long n = 0;
        size_t i;

        if (ret_last)
                *ret_last = NULL;
        if (pt_mock_get("/_control/requests", &doc) < 0)
                return -1;
        list = json_object_get(doc, "requests");
        if (!json_is_array(list)) {
                json_decref(doc);
                return -1;
        }
        json_array_foreach(list, i, entry) {
                const char *e = json_string_value(json_object_get(entry, "email"));

                if (e && strcmp(e, email) == 0) {
                        n++;
                        last = entry;
                }
        }
        if (ret_last && last)
                *ret_last = json_incref(last);
        json_decref(doc);
        return n;
}

/* ---- children ---------------------------------------------------------------- */

int pt_spawn(void (*fn)(void *arg, int fd), void *arg, pid_t *ret_pid, int *ret_fd) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return -1;
        }
        if (pid == 0) {
                close(p[0]);
                fn(arg, p[1]);
                close(p[1]);
                _exit(0);
        }
        close(p[1]);
        *ret_pid = pid;
        *ret_fd = p[0];
        return 0;
}

int pt_read_all(int fd, void *buf, size_t size, uint64_t deadline_ms) {
        size_t got = 0;

        while (got < size) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                uint64_t now = pt_now_ms();
                ssize_t k;
                int r;

                if (now >= deadline_ms)
                        return -1;
                r = poll(&pfd, 1, (int) (deadline_ms - now));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return -1;
                k = read(fd, (char *) buf + got, size - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1;
                got += (size_t) k;
        }
        return 0;
}

int pt_write_all(int fd, const void *buf, size_t size) {
        size_t done = 0;

        while (done < size) {
                ssize_t k = write(fd, (const char *) buf + done, size - done);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1;
                done += (size_t) k;
        }
        return 0;
}

int pt_reap(pid_t pid, uint64_t deadline_ms) {
        int status;

        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        return status;
                if (r < 0 && errno != EINTR)
                        return -1;
                if (pt_now_ms() >= deadline_ms) {
                        kill(pid, SIGKILL);
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        return -1;
                }
                /* A child has no descriptor to poll for its exit; a short
                 * bounded wait between checks. */
                poll(NULL, 0, 10);
        }
}
