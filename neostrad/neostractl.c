/* SPDX-License-Identifier: MIT */
/*
 * neostractl: asks neostrad what it knows, over the socket pam_neostra.so
 * uses and with the same client (common/client.c), so what it shows is what
 * a login would get.  `auth` runs the module's two questions, Authenticate
 * and CheckAccount, and never opens a session.  status and probe are in
 * neostractl-status.c, users in neostractl-users.c, metrics in
 * neostractl-metrics.c; `doctor` (doctor.c) checks the whole set-up, the
 * daemon being one part of it.
 *
 * Exit codes (also in --help; neostractl.h names them):
 *   0  success; for auth: the login would be allowed
 *   1  denied or failed: wrong password, account not allowed, unknown user,
 *      a failed doctor check,
 *      or an error answer such as a method this daemon does not have
 *   2  usage error
 *   3  daemon unreachable or unavailable: no socket, refused, timed out,
 *      untrusted socket, invalid reply, ServiceUnavailable
 *   4  permission denied: PermissionDenied from the daemon (admin methods
 *      are root-only; others may only ask about their own account), or the
 *      socket's permissions do not let us connect
 *   5  the daemon is not configured (no [api] url)
 *   6  status: the API is offline; probe: the API did not answer
 *   7  status: the last reload failed (the daemon kept the configuration
 *      before it)
 *   8  auth: not a Neostra user (root, a system or local account the
 *      module passes on): PAM goes on to the next module
 * status reports the first of 5, 6, 7 that holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "neostra/client.h"
#include "neostra/conf.h"
#include "neostra/protocol.h"
#include "neostra/secure.h"
#include "neostra/text.h"
#include "neostra/varlink.h"
#include "neostractl-metrics.h"

#include "doctor.h"
#include "neostractl.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: neostractl [OPTIONS] COMMAND [ARG]\n"
                "\n"
                "Ask neostrad, the Neostra login daemon, what it knows.\n"
                "\n"
                "Commands:\n"
                "  status              daemon and API state, API url, last reload,\n"
                "                      logins (the figures: root; --json: all of them)\n"
                "  auth USER           check USER's password and account as a login\n"
                "                      would (no session is opened); the password is\n"
                "                      read from the terminal, or one line of stdin\n"
                "  user USER           what the daemon remembers about USER: uid,\n"
                "                      roles, groups, online proof, verifier, token\n"
                "  users               the cached users: uid, access, roles, ages (root)\n"
                "  probe               ask the API now whether it answers (root)\n"
                "  invalidate [USER]   make the next login of USER (or everybody) go to\n"
                "                      the API and the account step ask for a password;\n"
                "                      offline credentials are kept (root)\n"
                "  clear [USER]        drop everything cached for USER, or for\n"
                "                      everybody, offline credentials included (root)\n"
                "  token [USER]        the API token the daemon holds for you (root:\n"
                "                      for USER)\n"
                "  metrics [--textfile DIR]\n"
                "                      the daemon's figures in the Prometheus text\n"
                "                      format, or written to DIR/neostra.prom (root)\n"
                "  doctor              check config, daemon, sockets, API, NSS, PAM\n"
                "                      stacks and cache; one line per check with the\n"
                "                      fix; exit 0 only when nothing is wrong (root)\n"
                "\n"
                "Options (before or after the command):\n"
                "  -s, --socket PATH   daemon socket (default %s)\n"
                "  -c, --config FILE   for doctor: the daemon's config file\n"
                "                      (default %s)\n"
                "  -t, --timeout TIME  deadline per call, e.g. 30, 5s, 500ms (default %us)\n"
                "  -j, --json          print the daemon's answer as JSON\n"
                "  -V, --version       print the version and exit\n"
                "  -h, --help          show this help\n"
                "\n"
                "Exit status:\n"
                "  0  success; for auth: the login would be allowed\n"
                "  1  denied or failed (wrong password, not allowed, unknown user,\n"
                "     method not supported by this daemon; doctor: a check failed)\n"
                "  2  usage error\n"
                "  3  daemon unreachable or unavailable\n"
                "  4  permission denied (admin commands need root; other users may\n"
                "     only ask about their own account)\n"
                "  5  the daemon is not configured ([api] url is not set)\n"
                "  6  status: the API is offline; probe: the API did not answer\n"
                "  7  status: the last reload failed (the old configuration runs)\n"
                "  8  auth: not a Neostra user; PAM goes on to the next module\n"
                "  status exits with the first of 5, 6, 7 that holds.\n",
                NEOSTRA_DEFAULT_SOCKET, NEOSTRA_DEFAULT_CONFIG, NEOSTRA_CLIENT_TIMEOUT_MS / 1000u);
}

/* ---- printing ------------------------------------------------------------ */

/* Strings come from the API via the daemon: never let one drive the
 * terminal. */
void print_safe(FILE *f, const char *s) {
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;

                fputc(neostra_text_char_ok(ch, 0) ? ch : '?', f);
        }
}

static void print_scalar(FILE *f, json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                print_safe(f, json_string_value(v));
                break;
        case JSON_INTEGER:
                fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                fprintf(f, "%g", json_real_value(v));
                break;
        case JSON_TRUE:
                fputs("yes", f);
                break;
        case JSON_FALSE:
                fputs("no", f);
                break;
        case JSON_NULL:
                fputs("-", f);
                break;
        default:
                break;
        }
}

/* A group as "name(gid)", or "name(gid, published)" / "name(gid, local)"
 * when the answer says whether neostrad publishes it (GetUser); false if
 * v is not shaped like a group. */
static bool print_group(FILE *f, json_t *v) {
        json_t *name = json_object_get(v, "name"), *gid = json_object_get(v, "gid");
        json_t *published = json_object_get(v, "published");

        if (!json_is_object(v) || !json_is_string(name))
                return false;
        print_safe(f, json_string_value(name));
        if (json_is_integer(gid))
                fprintf(f, "(%" JSON_INTEGER_FORMAT "%s)", json_integer_value(gid),
                        !json_is_boolean(published) ? "" : json_is_true(published) ? ", published" : ", local");
        return true;
}

/* Scalars and groups joined with ", "; false when the array holds anything
 * else (then it is printed as a nested listing). */
static bool print_flat_array(FILE *f, json_t *a) {
        json_t *v;
        size_t i;

        json_array_foreach(a, i, v)
                if (json_is_array(v) || (json_is_object(v) && !json_is_string(json_object_get(v, "name"))))
                        return false;
        if (json_array_size(a) == 0) {
                fputs("(none)", f);
                return true;
        }
        json_array_foreach(a, i, v) {
                if (i > 0)
                        fputs(", ", f);
                if (!print_group(f, v))
                        print_scalar(f, v);
        }
        return true;
}

static void print_object(FILE *f, json_t *obj, int indent);

/* A number of seconds for people: "42 s", "5 min 3 s", "2 h 10 min",
 * "6 d 23 h" (the two largest units). */
void format_duration(long long s, char *buf, size_t n) {
        if (s < 60)
                snprintf(buf, n, "%lld s", s);
        else if (s < 3600)
                snprintf(buf, n, "%lld min %lld s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(buf, n, "%lld h %lld min", s / 3600, s % 3600 / 60);
        else
                snprintf(buf, n, "%lld d %lld h", s / 86400, s % 86400 / 3600);
}

void format_age(long long t, char *buf, size_t n) {
        long long d = t - (long long) time(NULL);
        char span[64];

        if (t <= 0) {
                snprintf(buf, n, "never");
                return;
        }
        format_duration(d < 0 ? -d : d, span, sizeof(span));
        snprintf(buf, n, "%s%s%s", d > 0 ? "in " : "", span, d > 0 ? "" : " ago");
}

/* Members that are durations in seconds are shown for people too. */
static bool print_duration(FILE *f, const char *key, json_t *v) {
        char buf[64];

        if (strcmp(key, "accountMaxAge") != 0 || !json_is_integer(v) || json_integer_value(v) < 0)
                return false;
        format_duration((long long) json_integer_value(v), buf, sizeof(buf));
        fprintf(f, "%" JSON_INTEGER_FORMAT " (%s)", json_integer_value(v), buf);
        return true;
}

/* Members that are unix times are shown as local time and age. */
static bool print_time(FILE *f, const char *key, json_t *v) {
        static const char *const keys[] = {
                "since", "started", "nextProbe", "lastOnlineSuccess", "tokenExpires", "verifierTime",
                "expires", "offlineUntil", "lastOnlineProof", "accessUntil",
        };
        char buf[64], age[96];
        struct tm tm;
        time_t t;
        size_t i;

        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (strcmp(key, keys[i]) == 0)
                        break;
        if (i == sizeof(keys) / sizeof(keys[0]) || !json_is_integer(v))
                return false;
        if (json_integer_value(v) <= 0) {
                fputs("never", f);
                return true;
        }
        t = (time_t) json_integer_value(v);
        if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return false;
        format_age((long long) t, age, sizeof(age));
        fprintf(f, "%s (%s)", buf, age);
        return true;
}

/* "key:" and the value, the values of one object aligned: width is its
 * longest key. */
static void print_member(FILE *f, const char *key, json_t *v, int indent, size_t width) {
        int pad = (int) (width > strlen(key) ? width - strlen(key) : 0) + 1;

        fprintf(f, "%*s", indent, "");
        print_safe(f, key);
        fputc(':', f);
        if (json_is_object(v)) {
                fputc('\n', f);
                print_object(f, v, indent + 2);
                return;
        }
        if (json_is_array(v)) {
                json_t *e;
                size_t i;

                fprintf(f, "%*s", pad, "");
                if (print_flat_array(f, v)) {
                        fputc('\n', f);
                        return;
                }
                fputc('\n', f);
                json_array_foreach(v, i, e) {
                        char idx[32];

                        snprintf(idx, sizeof(idx), "[%zu]", i);
                        print_member(f, idx, e, indent + 2, 0);
                }
                return;
        }
        fprintf(f, "%*s", pad, "");
        if (!print_time(f, key, v) && !print_duration(f, key, v))
                print_scalar(f, v);
        fputc('\n', f);
}

static void print_object(FILE *f, json_t *obj, int indent) {
        const char *key;
        size_t width = 0;
        json_t *v;

        json_object_foreach(obj, key, v)
                if (strlen(key) > width)
                        width = strlen(key);
        json_object_foreach(obj, key, v)
                print_member(f, key, v, indent, width);
}

void print_json(json_t *v) {
        char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENSURE_ASCII);

        if (s) {
                puts(s);
                secure_free_string(s);
        }
}

static const char *reason_of(json_t *params) {
        const char *s = NULL;

        if (!params || varlink_param_string(params, "reason", 1024, &s) < 0 || !*s)
                return NULL;
        return s;
}

/* ---- calls --------------------------------------------------------------- */

static int exit_for_errno(int r) {
        return r == -EACCES ? EXIT_PERMISSION : EXIT_UNAVAILABLE;
}

static void print_transport_error(const struct options *o, int r) {
        fprintf(stderr, "neostractl: neostrad at %s: %s\n", o->socket_path, neostra_client_strerror(r));
}

/* The exit code an error answer stands for. */
static int exit_for_error(const char *error, json_t *params) {
        const char *reason = reason_of(params);

        if (strcmp(error, NEOSTRA_ERROR_PERMISSION_DENIED) == 0)
                return EXIT_PERMISSION;
        if (strcmp(error, NEOSTRA_ERROR_SERVICE_UNAVAILABLE) == 0)
                return reason && strcmp(reason, NEOSTRA_REASON_UNCONFIGURED) == 0 ? EXIT_UNCONFIGURED
                                                                                 : EXIT_UNAVAILABLE;
        if (strcmp(error, NEOSTRA_ERROR_NOT_OUR_USER) == 0)
                return EXIT_NOT_OURS;
        return EXIT_DENIED;
}

int print_error_answer(const char *method, const char *error, json_t *params) {
        const char *reason = reason_of(params);

        if (strcmp(error, VARLINK_ERROR_METHOD_NOT_FOUND) == 0) {
                fprintf(stderr, "neostractl: this neostrad does not support %s (MethodNotFound)\n",
                        neostra_error_short(method));
                return EXIT_DENIED;
        }
        fprintf(stderr, "neostractl: %s: %s", neostra_error_short(method), neostra_error_short(error));
        if (reason) {
                fputs(": ", stderr);
                print_safe(stderr, reason);
        }
        fputc('\n', stderr);
        return exit_for_error(error, params);
}

/*
 * One call on a fresh connection.  Returns 0 with the answer, or the exit
 * code after saying why there is none.
 */
int simple_call(const struct options *o, const char *method, json_t *params,
                       char **ret_error, json_t **ret_params) {
        int r;

        r = neostra_client_call_once(o->socket_path, method, params, false,
                                     neostra_deadline_ms(o->timeout_ms), ret_error, ret_params);
        if (r < 0) {
                print_transport_error(o, r);
                return exit_for_errno(r);
        }
        return 0;
}

/* user, invalidate, clear, token: one call, answer printed. */
static int run_simple(const struct options *o, const char *method, const char *user,
                      bool secret_reply, const char *done_message) {
        json_t *params = NULL, *reply = NULL;
        char *error = NULL;
        int ret;

        if (user) {
                params = json_pack("{s:s}", "user", user);
                if (!params) {
                        fprintf(stderr, "neostractl: out of memory\n");
                        return EXIT_DENIED;
                }
        }
        ret = simple_call(o, method, params, &error, &reply);
        if (ret != 0)
                return ret;

        if (error) {
                ret = print_error_answer(method, error, reply);
                goto done;
        }

        if (o->json)
                print_json(reply);
        else if (strcmp(method, NEOSTRA_METHOD_GET_TOKEN) == 0 &&
                 json_is_string(json_object_get(reply, "token"))) {
                /* Only the token, so that $(neostractl token) works. */
                print_safe(stdout, json_string_value(json_object_get(reply, "token")));
                fputc('\n', stdout);
        } else if (done_message && json_object_size(reply) == 0)
                puts(done_message);
        else
                print_object(stdout, reply, 0);
        ret = EXIT_OK;

done:
        fflush(stdout);
        if (secret_reply)
                json_decref_wipe(reply);
        else
                json_decref(reply);
        free(error);
        return ret;
}

/* ---- password entry ------------------------------------------------------ */

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig) {
        caught_signal = sig;
}

/*
 * One line from fd into buf (NUL-terminated, newline dropped).  Returns the
 * length, -E2BIG when it did not fit (the rest of the line is consumed),
 * -ENODATA on EOF before anything, -EINTR when a signal arrived.
 */
static ssize_t read_line(int fd, char *buf, size_t size) {
        size_t n = 0;
        bool overflow = false;

        for (;;) {
                char ch;
                ssize_t k = read(fd, &ch, 1);

                if (k < 0) {
                        if (errno == EINTR && !caught_signal)
                                continue;
                        return -errno;
                }
                if (k == 0) {
                        if (n == 0 && !overflow)
                                return -ENODATA;
                        break;
                }
                if (ch == '\n')
                        break;
                if (n + 1 >= size)
                        overflow = true;
                else
                        buf[n++] = ch;
                ch = 0;
        }
        buf[n] = '\0';
        if (overflow) {
                explicit_bzero(buf, size);
                return -E2BIG;
        }
        return (ssize_t) n;
}

/* The password from the terminal without echo, or one line of stdin when
 * it is not a terminal.  Signals that would kill us first restore the
 * terminal, then are delivered again. */
static ssize_t read_password(const char *user, char *buf, size_t size) {
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
        struct sigaction sa = { .sa_handler = on_signal }, old[4];
        struct termios saved, noecho;
        bool restore = false;
        ssize_t r;
        int fd = STDIN_FILENO, out = STDERR_FILENO;
        size_t i;

        if (!isatty(STDIN_FILENO))
                return read_line(STDIN_FILENO, buf, size);

        fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0)
                out = fd;
        else
                fd = STDIN_FILENO;

        sigemptyset(&sa.sa_mask);       /* no SA_RESTART: read() must return */
        caught_signal = 0;
        for (i = 0; i < 4; i++)
                sigaction(sigs[i], &sa, &old[i]);

        if (tcgetattr(fd, &saved) == 0) {
                noecho = saved;
                noecho.c_lflag &= ~(tcflag_t) (ECHO | ECHOE | ECHOK | ECHONL);
                if (tcsetattr(fd, TCSAFLUSH, &noecho) == 0)
                        restore = true;
        }
        dprintf(out, "Password for %s: ", user);
        r = read_line(fd, buf, size);
        dprintf(out, "\n");

        if (restore)
                (void) tcsetattr(fd, TCSAFLUSH, &saved);
        for (i = 0; i < 4; i++)
                sigaction(sigs[i], &old[i], NULL);
        if (fd != STDIN_FILENO)
                close(fd);
        if (caught_signal) {
                explicit_bzero(buf, size);
                raise(caught_signal);
                return -EINTR;
        }
        return r;
}

/* ---- auth ---------------------------------------------------------------- */

static void print_roles_groups(FILE *f, json_t *reply) {
        json_t *roles = json_object_get(reply, "roles"), *groups = json_object_get(reply, "groups");

        fputs("roles ", f);
        if (!json_is_array(roles) || !print_flat_array(f, roles))
                fputs("(none)", f);
        fputs("; groups ", f);
        if (!json_is_array(groups) || !print_flat_array(f, groups))
                fputs("(none)", f);
}

/* "denied: AuthenticationFailed: wrong password" and its exit code. */
static int auth_error(const struct options *o, const char *user, const char *error, json_t *params) {
        const char *reason = reason_of(params);
        int ret = exit_for_error(error, params);

        if (strcmp(error, VARLINK_ERROR_METHOD_NOT_FOUND) == 0)
                ret = EXIT_DENIED;
        if (o->json) {
                json_t *j = json_pack("{s:s, s:b, s:b, s:s, s:s?}", "user", user, "allowed", 0,
                                      "notOurs", ret == EXIT_NOT_OURS, "error", error, "reason", reason);
                if (j) {
                        print_json(j);
                        json_decref(j);
                }
                return ret;
        }
        if (ret == EXIT_NOT_OURS) {
                /* The module answers PAM_IGNORE for these: not a refusal. */
                fputs("not a Neostra user: PAM goes on to the next module", stdout);
                if (reason) {
                        fputs(" (", stdout);
                        print_safe(stdout, reason);
                        fputc(')', stdout);
                }
                fputc('\n', stdout);
                return ret;
        }
        printf("%s: %s", ret == EXIT_UNAVAILABLE || ret == EXIT_UNCONFIGURED ? "unavailable" : "denied",
               neostra_error_short(error));
        if (reason) {
                fputs(": ", stdout);
                print_safe(stdout, reason);
        }
        fputc('\n', stdout);
        return ret;
}

static int run_auth(const struct options *o, const char *user) {
        char password[NEOSTRA_PASSWORD_MAX + 2];
        json_t *params = NULL, *auth = NULL, *acct = NULL, *pw;
        char *error = NULL;
        bool offline = false, allowed = false;
        ssize_t len;
        int fd = -1, r, ret;

        if (strcmp(user, "root") == 0) {
                /* The module passes root on without a prompt or a call
                 * (pam_neostra.c): so do we. */
                json_t *why = json_pack("{s:s}", "reason", "root is never a Neostra user");

                ret = auth_error(o, user, NEOSTRA_ERROR_NOT_OUR_USER, why);
                json_decref(why);
                goto done;
        }
        len = read_password(user, password, sizeof(password));
        if (len == -E2BIG) {
                fprintf(stderr, "neostractl: password longer than %u bytes\n", NEOSTRA_PASSWORD_MAX);
                ret = EXIT_DENIED;
                goto done;
        }
        if (len < 0 && len != -ENODATA) {
                fprintf(stderr, "neostractl: cannot read password: %s\n", strerror((int) -len));
                ret = EXIT_DENIED;
                goto done;
        }
        if (len <= 0) {
                /* The module refuses an empty password without asking. */
                printf("denied: empty password\n");
                ret = EXIT_DENIED;
                goto done;
        }
        if ((size_t) len > NEOSTRA_PASSWORD_MAX) {
                fprintf(stderr, "neostractl: password longer than %u bytes\n", NEOSTRA_PASSWORD_MAX);
                ret = EXIT_DENIED;
                goto done;
        }

        params = json_pack("{s:s, s:s}", "user", user, "service", "neostractl");
        pw = params ? json_stringn(password, (size_t) len) : NULL;
        explicit_bzero(password, sizeof(password));
        if (!pw) {
                fprintf(stderr, "neostractl: %s\n", params ? "password is not valid UTF-8" : "out of memory");
                ret = EXIT_DENIED;
                goto done;
        }
        if (json_object_set(params, "password", pw) < 0) {
                json_decref_wipe(pw);
                fprintf(stderr, "neostractl: out of memory\n");
                ret = EXIT_DENIED;
                goto done;
        }
        json_decref(pw);

        r = neostra_client_open(o->socket_path, neostra_deadline_ms(o->timeout_ms), &fd);
        if (r < 0) {
                print_transport_error(o, r);
                ret = exit_for_errno(r);
                goto done;
        }
        r = neostra_client_call(fd, NEOSTRA_METHOD_AUTHENTICATE, params, true,
                                neostra_deadline_ms(o->timeout_ms), &error, &auth);
        params = NULL;          /* stolen, and wiped */
        if (r < 0) {
                print_transport_error(o, r);
                ret = exit_for_errno(r);
                goto done;
        }
        if (error) {
                ret = auth_error(o, user, error, auth);
                goto done;
        }
        if (varlink_param_bool(auth, "offline", &offline) == -EINVAL) {
                fprintf(stderr, "neostractl: invalid reply to Authenticate (offline)\n");
                ret = EXIT_UNAVAILABLE;
                goto done;
        }

        /* The password was right; now the question account management asks. */
        params = json_pack("{s:s, s:s}", "user", user, "service", "neostractl");
        if (!params) {
                fprintf(stderr, "neostractl: out of memory\n");
                ret = EXIT_DENIED;
                goto done;
        }
        r = neostra_client_call(fd, NEOSTRA_METHOD_CHECK_ACCOUNT, params, false,
                                neostra_deadline_ms(o->timeout_ms), &error, &acct);
        params = NULL;
        if (r < 0) {
                print_transport_error(o, r);
                ret = exit_for_errno(r);
                goto done;
        }
        if (error) {
                ret = auth_error(o, user, error, acct);
                goto done;
        }
        if (varlink_param_bool(acct, "allowed", &allowed) < 0) {
                fprintf(stderr, "neostractl: invalid reply to CheckAccount (allowed)\n");
                ret = EXIT_UNAVAILABLE;
                goto done;
        }

        ret = allowed ? EXIT_OK : EXIT_DENIED;
        if (o->json) {
                json_t *j = json_pack("{s:s, s:b, s:b, s:s?, s:O?, s:O?}", "user", user,
                                      "allowed", allowed, "offline", offline,
                                      "reason", reason_of(acct),
                                      "roles", json_object_get(acct, "roles"),
                                      "groups", json_object_get(acct, "groups"));
                if (j) {
                        print_json(j);
                        json_decref(j);
                }
        } else if (allowed) {
                fputs("allowed: ", stdout);
                print_roles_groups(stdout, acct);
                if (offline)
                        fputs(" (offline: password checked against cached credentials)", stdout);
                fputc('\n', stdout);
        } else {
                const char *reason = reason_of(acct);

                fputs("denied: ", stdout);
                print_safe(stdout, reason ? reason : "account not allowed");
                fputc('\n', stdout);
        }

done:
        fflush(stdout);
        explicit_bzero(password, sizeof(password));
        json_decref_wipe(params);
        json_decref(auth);
        json_decref(acct);
        free(error);
        if (fd >= 0)
                close(fd);
        return ret;
}

/* ---- main ---------------------------------------------------------------- */

/*
 * The options in argv[1..argc-1]; with stop_at_command, up to the first
 * non-option (the command), else anywhere (the command's own arguments are
 * what is left, from optind).  -1 to go on, or the exit code.
 */
static int parse_options(int argc, char *argv[], bool stop_at_command, struct options *o) {
        static const struct option longopts[] = {
                { "socket",  required_argument, NULL, 's' },
                { "config",  required_argument, NULL, 'c' },
                { "timeout", required_argument, NULL, 't' },
                { "json",    no_argument,       NULL, 'j' },
                { "version", no_argument,       NULL, 'V' },
                { "help",    no_argument,       NULL, 'h' },
                {}
        };
        int c;

        optind = 0;             /* glibc: start over, from argv[1] */
        while ((c = getopt_long(argc, argv, stop_at_command ? "+s:c:t:jVh" : "s:c:t:jVh", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        o->socket_path = optarg;
                        o->socket_given = true;
                        break;
                case 'c':
                        o->config_path = optarg;
                        break;
                case 't':
                        if (neostra_parse_duration_ms(optarg, &o->timeout_ms) < 0 || o->timeout_ms == 0) {
                                fprintf(stderr, "neostractl: invalid timeout: %s\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'V':
                        printf("neostractl %s\n", NEOSTRA_VERSION);
                        return EXIT_OK;
                case 'h':
                        usage(stdout);
                        return EXIT_OK;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        return -1;
}

int main(int argc, char *argv[]) {
        struct options o = {
                .socket_path = NEOSTRA_DEFAULT_SOCKET,
                .timeout_ms = NEOSTRA_CLIENT_TIMEOUT_MS,
        };
        const char *cmd, *arg;
        char **args;
        int r, nargs;

        /* A daemon that dies mid-write must not kill us either. */
        signal(SIGPIPE, SIG_IGN);

        r = parse_options(argc, argv, true, &o);
        if (r >= 0)
                return r;
        if (optind >= argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        cmd = argv[optind];
        args = argv + optind;   /* args[0] is the command */
        nargs = argc - optind;
        /* Options after the command too ("status --json"); metrics reads
         * its own. */
        if (strcmp(cmd, "metrics") != 0) {
                r = parse_options(nargs, args, false, &o);
                if (r >= 0)
                        return r;
                args += optind;
                nargs -= optind;
        } else {
                args++;
                nargs--;
        }
        arg = nargs > 0 ? args[0] : NULL;

        if (strcmp(cmd, "metrics") == 0)
                return neostractl_metrics(&o, nargs, args);
        if (arg && !neostra_valid_login_name(arg)) {
                fprintf(stderr, "neostractl: invalid user name\n");
                return EXIT_USAGE;
        }

        if (strcmp(cmd, "doctor") == 0 && nargs == 0)
                return doctor_run(&(struct doctor_options) {
                        .config_path = o.config_path,
                        .socket_path = o.socket_given ? o.socket_path : NULL,
                        .json = o.json,
                });
        if (strcmp(cmd, "status") == 0 && nargs == 0)
                return neostractl_status(&o);
        if (strcmp(cmd, "users") == 0 && nargs == 0)
                return neostractl_users(&o);
        if (strcmp(cmd, "probe") == 0 && nargs == 0)
                return neostractl_probe(&o);
        if (strcmp(cmd, "auth") == 0 && nargs == 1)
                return run_auth(&o, arg);
        if (strcmp(cmd, "user") == 0 && nargs == 1)
                return run_simple(&o, NEOSTRA_METHOD_GET_USER, arg, false, NULL);
        if (strcmp(cmd, "invalidate") == 0 && nargs <= 1) {
                char msg[64 + NEOSTRA_USER_MAX];

                snprintf(msg, sizeof(msg), "cache invalidated for %s", arg ? arg : "all users");
                return run_simple(&o, NEOSTRA_METHOD_INVALIDATE_CACHE, arg, false, msg);
        }
        if (strcmp(cmd, "clear") == 0 && nargs <= 1) {
                char msg[64 + NEOSTRA_USER_MAX];

                snprintf(msg, sizeof(msg), "cached data dropped for %s", arg ? arg : "all users");
                return run_simple(&o, NEOSTRA_METHOD_CLEAR_CACHE, arg, false, msg);
        }
        if (strcmp(cmd, "token") == 0 && nargs <= 1) {
                /* Without a name: the caller's own token. */
                struct passwd *pw = arg ? NULL : getpwuid(getuid());

                if (!arg && !pw) {
                        fprintf(stderr, "neostractl: cannot tell who you are (uid %u)\n", (unsigned) getuid());
                        return EXIT_USAGE;
                }
                return run_simple(&o, NEOSTRA_METHOD_GET_TOKEN, arg ? arg : pw->pw_name, true, NULL);
        }

        fprintf(stderr, "neostractl: unknown command or wrong arguments: %s\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
}
