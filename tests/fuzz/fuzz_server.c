/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the daemon's two Varlink servers (io.neostra.Auth on the auth
 * socket, io.systemd.UserDatabase on the userdb socket), driven through
 * their real sockets by clients that split, pipeline, half-close and hang
 * up wherever the input says.  Everything behind the dispatch is the
 * daemon's own code (manager.c wires it as neostrad does), except two
 * seams: the API answers from memory (api_set_stub(), outcomes by the
 * email's local part, see stub_api()) and NSS from a small table
 * (localnames_set_lookup(), see stub_nss()), both from deferred events on
 * the loop, so a run does not depend on a network or on this host's
 * accounts.  Only the yescrypt verifiers of allowed sign-ins run on
 * threads, as in the daemon, at the cheapest cost (verifier_set_cost()).
 *
 * One Manager serves input after input (built at the first, in a private
 * temporary directory; an input that stops it starts another on the same
 * cache).  Each input is a little program, one
 * opcode byte (taken modulo OP_COUNT) and its argument bytes at a time:
 *
 *   OP_OPEN_AUTH u      connect to the auth socket as peer u (u % 5:
 *   OP_OPEN_USERDB u    root, uid 1001 "alice", 1002 "bob", 1003 with no
 *                       name, 1004 whose name NSS cannot tell); at most
 *                       CONNS_MAX connections per input
 *   OP_WRITE k lo hi    write the next lo + 256 * hi input bytes (fewer
 *                       at the end) on connection k
 *   OP_CALL k t         write canned call t (calls[], each with its NUL)
 *   OP_FILL k lo hi b   write lo + 256 * hi bytes b: a long message from
 *                       a short input (longer inputs run slower)
 *   OP_SHUT_WR k        shutdown(SHUT_WR): the client says nothing more
 *   OP_SHUT_RD k        shutdown(SHUT_RD): the daemon's writes fail
 *   OP_CLOSE k          the client hangs up
 *   OP_RUN m            sd_event_run(timeout 0), up to m + 1 times
 *   OP_READ k           read what is readable and check the frames
 *   OP_STOP s x         when s is 'S': stop both servers as SIGTERM does;
 *                       at the end the daemon exits, once its connections
 *                       are gone or (x odd) at once, as when its drain
 *                       times out, and another starts on the same cache
 *                       (a start costs as much as a thousand calls: hence
 *                       the 'S', which keeps most inputs from stopping)
 *
 * k picks among the connections opened so far (k % their number); an
 * operation on a closed one does nothing.  At the end every client hangs
 * up and the loop runs until the daemon holds no connection, no login and
 * no verifier job (abort() otherwise: a connection or login that outlives
 * its client is a leak).  What the daemon sends must be NUL-terminated JSON objects within
 * the socket's message bound.  Per input, the NSS answers kept, the
 * Authenticate budget and the API's online state start afresh; the users
 * the daemon learnt stay (a bounded set: only stub_api()'s few names sign
 * in), in memory or, after a stop, in the cache the next daemon loads.
 *
 * NEOSTRA_FUZZ_LOG=1 in the environment keeps the daemon's log (quiet
 * otherwise) and shows what the clients read.
 * tests/fuzz/gen-server-corpus.py writes the seeds in
 * tests/fuzz/corpus/server/.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "api.h"
#include "localnames.h"
#include "log.h"
#include "manager.h"
#include "neostra/protocol.h"
#include "online.h"
#include "ratelimit.h"
#include "userdb.h"
#include "varlink-server.h"
#include "verifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONNS_MAX 48u           /* over VARLINK_SERVER_PEER_MAX: a uid's budget is reached */
#define DRAIN_USEC (5u * 1000000ull)    /* verifier jobs queued at the end take far less */

enum {
        OP_OPEN_AUTH,
        OP_OPEN_USERDB,
        OP_WRITE,
        OP_CALL,
        OP_SHUT_WR,
        OP_SHUT_RD,
        OP_CLOSE,
        OP_RUN,
        OP_READ,
        OP_STOP,
        OP_FILL,
        OP_COUNT,
};

static const uid_t peers[] = { 0, 1001, 1002, 1003, 1004 };

#define AUTH(method, params) \
        "{\"method\":\"io.neostra.Auth." method "\",\"parameters\":" params "}"
#define USERDB(method, params) \
        "{\"method\":\"io.systemd.UserDatabase." method "\",\"parameters\":" params "}"
#define USERDB_MORE(method, params) \
        "{\"method\":\"io.systemd.UserDatabase." method "\",\"parameters\":" params ",\"more\":true}"
#define SVC "\"service\":\"io.neostra\""

/* Calls that get far into the daemon, for the fuzzer to combine with its
 * own bytes (the order is the seeds' too: append only). */
static const char *const calls[] = {
        AUTH("Authenticate", "{\"user\":\"alice\",\"password\":\"secret\",\"service\":\"sshd\","
                             "\"rhost\":\"h\",\"tty\":\"pts/0\"}"),
        AUTH("Authenticate", "{\"user\":\"alice\",\"password\":\"wrong\"}"),
        AUTH("Authenticate", "{\"user\":\"excluded\",\"password\":\"x\"}"),
        AUTH("Authenticate", "{\"user\":\"bob\",\"password\":\"\"}"),
        AUTH("Authenticate", "{\"user\":\"slow\",\"password\":\"x\"}"),
        AUTH("Authenticate", "{\"user\":\"down\",\"password\":\"x\"}"),
        AUTH("Authenticate", "{\"user\":\"odd\",\"password\":\"{\\\"status\\\":200}\"}"),
        AUTH("GetStatus", "{}"),
        AUTH("CheckAccount", "{\"user\":\"alice\",\"service\":\"sshd\"}"),
        AUTH("GetUser", "{\"user\":\"alice\"}"),
        AUTH("GetToken", "{\"user\":\"alice\"}"),
        AUTH("InvalidateCache", "{}"),
        AUTH("ClearCache", "{\"user\":\"bob\"}"),
        "{\"method\":\"org.varlink.service.GetInfo\"}",
        "{\"method\":\"io.neostra.Auth.GetStatus\",\"oneway\":true}",
        USERDB("GetUserRecord", "{\"userName\":\"alice\"," SVC "}"),
        USERDB_MORE("GetUserRecord", "{" SVC "}"),
        USERDB_MORE("GetGroupRecord", "{" SVC "}"),
        USERDB_MORE("GetMemberships", "{" SVC "}"),
        USERDB("GetUserRecord", "{\"userName\":\"newbie\"," SVC "}"),
        USERDB("GetGroupRecord", "{\"groupName\":\"developers\"," SVC "}"),
        USERDB("GetUserRecord", "{\"uid\":200123," SVC "}"),
        AUTH("Authenticate", "{\"user\":\"ghost\",\"password\":\"x\"}"),
        AUTH("Authenticate", "{\"user\":\"busy\",\"password\":\"x\"}"),
        AUTH("Authenticate", "{\"user\":\"carol\",\"password\":\"secret\"}"),
        AUTH("Authenticate", "{\"user\":\"bob\",\"password\":\"secret\"}"),
        AUTH("CheckAccount", "{\"user\":\"localuser\"}"),
        USERDB("GetMemberships", "{\"userName\":\"alice\",\"groupName\":\"developers\"," SVC "}"),
        AUTH("ListUsers", "{}"),
        AUTH("ListUsers", "{\"after\":\"alice\"}"),
        AUTH("Probe", "{}"),
};

/* ---- the API in memory --------------------------------------------------- */

struct api_user {
        const char *name;       /* the email's local part; the password is "secret" */
        const char *roles;
        const char *extra;      /* more "data" fields */
};

static const struct api_user api_users[] = {
        { "alice", "[\"dev\",\"admin\"]", ",\"refreshToken\":\"ref-alice\",\"expiresIn\":30" },
        { "bob", "[\"dev\"]", "" },
        { "carol", "[\"guest\"]", ",\"expiresIn\":3600" },
};

static char *signin_body(const char *name, const char *email, const char *roles, const char *extra) {
        char *body = NULL;

        if (asprintf(&body, "{\"status\":200,\"data\":{\"token\":\"tok-%s\",\"user\":{\"email\":\"%s\","
                     "\"id\":\"id-%s\",\"name\":\"%s\",\"roles\":%s}%s}}", name, email, name, name, roles,
                     extra) < 0)
                return NULL;
        return body;
}

/* Outcomes by the email's local part: alice, bob and carol sign in with
 * "secret" (any other password is refused), ghost is unknown, down cannot
 * be reached, busy and limit are overloaded, slow never answers, odd
 * answers its password as the body, twin answers for someone else,
 * nostart cannot even start; anyone else is refused.  An email outside
 * example.test is unknown: the users who can sign in, and so the user
 * table, stay few (alice and alice@example.test, and so on). */
static int stub_api(enum api_request_kind kind, const char *email, const char *secret,
                    struct api_stub_answer *ret, void *userdata) {
        char local[NEOSTRA_USER_MAX + 1];
        size_t n;

        if (kind == API_REQUEST_PROBE) {
                ret->http_status = 200;
                return 0;
        }
        if (kind == API_REQUEST_REFRESH) {
                ret->http_status = strcmp(secret, "ref-alice") == 0 ? 200 : 401;
                ret->body = strdup("{\"status\":200,\"data\":{\"token\":\"tok-alice-2\","
                                   "\"refreshToken\":\"ref-alice\",\"expiresIn\":30}}");
                return 0;
        }
        n = strcspn(email, "@");
        if (n >= sizeof(local) || strcmp(email + n, "@example.test") != 0) {
                ret->http_status = 404;
                return 0;
        }
        memcpy(local, email, n);
        local[n] = 0;
        for (size_t i = 0; i < sizeof(api_users) / sizeof(api_users[0]); i++)
                if (strcmp(local, api_users[i].name) == 0) {
                        if (strcmp(secret, "secret") != 0) {
                                ret->http_status = 401;
                                return 0;
                        }
                        ret->http_status = 200;
                        ret->body = signin_body(local, email, api_users[i].roles, api_users[i].extra);
                        return 0;
                }
        if (strcmp(local, "ghost") == 0)
                ret->http_status = 404;
        else if (strcmp(local, "down") == 0)
                ret->http_status = 0;
        else if (strcmp(local, "busy") == 0) {
                ret->http_status = 503;
                ret->retry_after_sec = 2;
        } else if (strcmp(local, "limit") == 0)
                ret->http_status = 429;
        else if (strcmp(local, "slow") == 0)
                ret->never = true;
        else if (strcmp(local, "odd") == 0) {
                ret->http_status = 200;
                ret->body = strdup(secret);
        } else if (strcmp(local, "twin") == 0) {
                ret->http_status = 200;
                ret->body = signin_body("twin", "someone@example.test", "[]", "");
        } else if (strcmp(local, "nostart") == 0)
                return -ENOMEM;
        else
                ret->http_status = 401;
        return 0;
}

/* ---- NSS in memory -------------------------------------------------------- */

struct nss_name {
        const char *name;
        int result;             /* 1 found, <0 cannot tell */
        uint32_t id;
};

static const struct nss_name nss_users[] = {
        { "root", 1, 0 }, { "daemon", 1, 1 }, { "localuser", 1, 1000 }, { "nobody", 1, 65534 },
        { "nsserr", -EIO, 0 },
};

static const struct nss_name nss_groups[] = {
        { "root", 1, 0 }, { "adm", 1, 4 }, { "sudo", 1, 27 }, { "localuser", 1, 1000 },
        { "localgroup", 1, 1500 }, { "nsserr", -EIO, 0 },
};

static int nss_find(const struct nss_name *t, size_t n, const char *name, uint32_t *ret) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(t[i].name, name) == 0) {
                        *ret = t[i].id;
                        return t[i].result;
                }
        return 0;
}

/* The peers' names: alice and bob as the API knows them, 1003 has none,
 * NSS fails for 1004.  Ids in the daemon's range are taken one in five
 * (collisions for ids_assign) and cannot be told one in 97. */
static int stub_nss(enum localnames_kind kind, const char *name, uint32_t id, uint32_t *ret_value,
                    char **ret_name, void *userdata) {
        static const char *const uid_names[] = { [0] = "root", [1] = "daemon" };
        const char *found = NULL;

        switch (kind) {
        case LOCALNAMES_USER:
                return nss_find(nss_users, sizeof(nss_users) / sizeof(nss_users[0]), name, ret_value);
        case LOCALNAMES_GROUP:
                return nss_find(nss_groups, sizeof(nss_groups) / sizeof(nss_groups[0]), name, ret_value);
        case LOCALNAMES_UID_NAME:
                if (id < sizeof(uid_names) / sizeof(uid_names[0]))
                        found = uid_names[id];
                else if (id == 1000)
                        found = "localuser";
                else if (id == 1001)
                        found = "alice";
                else if (id == 1002)
                        found = "bob";
                else if (id == 1004)
                        return -EIO;
                if (!found)
                        return 0;
                *ret_name = strdup(found);
                return *ret_name ? 1 : -ENOMEM;
        case LOCALNAMES_ID_TAKEN:
                if (id < 200000u)
                        return id <= 1 || id == 4 || id == 27 || id == 1000 || id == 1500 || id == 65534;
                if (id % 97u == 3u)
                        return -EIO;
                return id % 5u == 0u;
        }
        return -EINVAL;
}

/* ---- the daemon ------------------------------------------------------------------ */

static Manager *manager;
static struct manager_test_parts parts;   /* of manager */
static bool verbose;            /* NEOSTRA_FUZZ_LOG */
static char dir[] = "/tmp/neostra-fuzz-server-XXXXXX";
static char config_path[128], auth_path[128], userdb_path[128];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

static void teardown(void) {
        manager = manager_free(manager);
        (void) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A finding: the report goes out, the temporary directory goes. */
static void die(const char *what) {
        fprintf(stderr, "fuzz_server: %s\n", what);
        (void) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        abort();
}

/* Starting the daemon failed: nothing of ours is left behind. */
static void setup_failed(const char *what) {
        teardown();
        die(what);
}

static void setup(void) {
        FILE *f;

        if (!mkdtemp(dir))
                die("cannot make a temporary directory");
        atexit(teardown);
        /* Peers of other uids connect through it. */
        (void) chmod(dir, 0755);
        snprintf(auth_path, sizeof(auth_path), "%s/auth.sock", dir);
        snprintf(userdb_path, sizeof(userdb_path), "%s/userdb.sock", dir);
        snprintf(config_path, sizeof(config_path), "%s/neostrad.conf", dir);
        f = fopen(config_path, "we");
        if (!f)
                setup_failed("cannot write the configuration");
        fprintf(f,
                "[api]\nurl = http://127.0.0.1:9\nrefresh_path = /api/v1/auth/refresh\n"
                "timeout = 2s\nconnect_timeout = 1s\n"
                "[users]\nemail_template = %%u@example.test\nexclude = excluded\n"
                "[access]\nallow_roles = dev admin\n"
                "[groups]\ndev = developers adm\nadmin = ops sudo\n"
                "[identities]\nuserdb = yes\nfirst_login = yes\nuid_min = 200000\nuid_max = 200999\n"
                "[cache]\ndirectory = %s/cache\n"
                "[daemon]\nuser = root\nsocket = %s\nuserdb_socket = %s\n",
                dir, auth_path, userdb_path);
        if (fclose(f) != 0)
                setup_failed("cannot write the configuration");
        verbose = getenv("NEOSTRA_FUZZ_LOG");
        if (!verbose)
                log_set_max_priority(LOG_CRIT);
        /* Sign-ins are thousands a second here: the cheapest yescrypt. */
        verifier_set_cost(1);
}

/* The daemon as neostrad starts it (user = root: no privileges to drop),
 * again after an input stopped it; the cache in dir carries the users
 * over. */
static void start(void) {
        struct neostra_config *config = NULL;
        char err[512];

        if (neostra_config_load(config_path, false, &config, err, sizeof(err)) < 0)
                setup_failed(err);
        if (manager_new(config_path, config, &manager) < 0)
                setup_failed("cannot make the manager");
        manager_test_parts(manager, &parts);
        api_set_stub(parts.api, stub_api, NULL);
        if (localnames_set_lookup(parts.localnames, stub_nss, NULL) < 0 ||
            manager_listen(manager) < 0 || manager_open_cache(manager) < 0 ||
            manager_prepare_identities(manager) < 0)
                setup_failed("cannot start the daemon");
        /* The listening sockets are known now. */
        manager_test_parts(manager, &parts);
}

/* ---- the clients ------------------------------------------------------------- */

struct client {
        int fd;
        size_t max;             /* the socket's message bound */
        char *in;               /* a frame being read */
        size_t in_len;
};

static struct client clients[CONNS_MAX];
static size_t n_clients;

static void client_open(const char *path, size_t max, uint8_t u) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uid_t uid = peers[u % (sizeof(peers) / sizeof(peers[0]))];
        struct client *c;
        bool switched;
        int fd;

        if (n_clients >= CONNS_MAX)
                return;
        c = &clients[n_clients++];
        *c = (struct client) { .fd = -1, .max = max };
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return;
        memcpy(sa.sun_path, path, strlen(path));
        /* SO_PEERCRED records the effective uid at connect(): this thread's
         * alone (the raw system call, not glibc's process-wide setresuid).
         * Not as root, every peer is the caller. */
        switched = uid != 0 && geteuid() == 0 && syscall(SYS_setresuid, -1, uid, -1) == 0;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                fd = -1;
        }
        if (switched && syscall(SYS_setresuid, -1, 0, -1) < 0)
                die("cannot become root again");
        c->fd = fd;
}

static struct client *client_pick(uint8_t k) {
        struct client *c;

        if (n_clients == 0)
                return NULL;
        c = &clients[k % n_clients];
        return c->fd >= 0 ? c : NULL;
}

/* One frame the daemon sent: a JSON object within the bound. */
static void check_frame(const char *frame, size_t len) {
        json_error_t error;
        json_t *msg = json_loadb(frame, len, JSON_REJECT_DUPLICATES, &error);

        if (!json_is_object(msg)) {
                fprintf(stderr, "fuzz_server: the daemon sent %zu bytes that are no JSON object: %.200s\n",
                        len, frame);
                die("a malformed message");
        }
        json_decref(msg);
        if (verbose)
                fprintf(stderr, "fuzz_server: read %.*s\n", (int) (len < 300 ? len : 300), frame);
}

static void client_read(struct client *c) {
        char buf[16384];
        ssize_t n;

        while ((n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                for (ssize_t i = 0, start = 0; i < n; i++) {
                        char *p;

                        if (buf[i] != 0 && i + 1 < n)
                                continue;
                        /* The frame so far, then this piece of it. */
                        p = realloc(c->in, c->in_len + (size_t) (i + 1 - start) + 1);
                        if (!p)
                                die("out of memory");
                        c->in = p;
                        memcpy(c->in + c->in_len, buf + start, (size_t) (i + 1 - start));
                        c->in_len += (size_t) (i + 1 - start);
                        if (c->in_len - (buf[i] == 0) > c->max) {
                                fprintf(stderr, "fuzz_server: the daemon sent a message over %zu bytes\n",
                                        c->max);
                                die("a message over the bound");
                        }
                        if (buf[i] == 0) {
                                check_frame(c->in, c->in_len - 1);
                                c->in_len = 0;
                        }
                        start = i + 1;
                }
}

static void client_close(struct client *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
}

/* ---- the loop ------------------------------------------------------------------ */

static void run(unsigned times) {
        for (unsigned i = 0; i < times; i++)
                if (sd_event_run(parts.event, 0) <= 0)
                        break;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static bool backlog_empty(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        return fd < 0 || poll(&p, 1, 0) == 0;
}

static unsigned connections(void) {
        return manager_test_connections(manager);
}

/* Every client has hung up: the daemon must let go of every connection
 * and, once its verifier checks are done, of every login.  A stopped
 * daemon accepts nothing more: what waits in its backlog stays there.
 * The verifiers being made are waited for too: LeakSanitizer's check
 * between inputs cannot see the blocks a running thread holds only in
 * its registers, and would call them leaked. */
static void drain(bool stopped) {
        uint64_t until = now_usec() + DRAIN_USEC;

        while (connections() > 0 || manager_test_logins_pending(manager) || workers_queued(parts.workers) > 0 ||
               (!stopped && (!backlog_empty(parts.auth_fd) || !backlog_empty(parts.userdb_fd)))) {
                if (now_usec() > until) {
                        fprintf(stderr, "fuzz_server: %u connection(s), %s login(s) and %u verifier job(s) "
                                "outlived their clients\n", connections(), manager_test_logins_pending(manager) ? "some" : "no",
                                workers_queued(parts.workers));
                        die("a leak");
                }
                /* Blocks only while nothing is ready: a verifier on a
                 * worker thread. */
                (void) sd_event_run(parts.event, 1000);
        }
        /* What the calls left queued (lookups whose calls are gone). */
        run(1000);
}

/* Per input: NSS answers are looked up again, every uid has its full
 * Authenticate budget, and the API is as after start. */
static void reset(void) {
        manager_test_reset(manager);
}

static void on_drained(void *userdata) {
        (*(unsigned *) userdata)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned drained = 0;
        bool stopped = false, exit_now = false;
        size_t i = 0;

        if (!config_path[0])
                setup();
        if (!manager)
                start();
        n_clients = 0;

#define ARG() (i < size ? data[i++] : 0)
        while (i < size) {
                uint8_t op = data[i++] % OP_COUNT;
                struct client *c;

                switch (op) {
                case OP_OPEN_AUTH:
                        client_open(auth_path, NEOSTRA_MESSAGE_MAX, ARG());
                        break;
                case OP_OPEN_USERDB:
                        client_open(userdb_path, USERDB_REPLY_MAX, ARG());
                        break;
                case OP_WRITE: {
                        size_t n;

                        c = client_pick(ARG());
                        n = ARG();
                        n += 256u * ARG();
                        if (n > size - i)
                                n = size - i;
                        /* A full socket takes what it can; the rest is lost. */
                        if (c)
                                (void) !send(c->fd, data + i, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        i += n;
                        break;
                }
                case OP_CALL: {
                        const char *call;

                        c = client_pick(ARG());
                        call = calls[ARG() % (sizeof(calls) / sizeof(calls[0]))];
                        if (c)
                                (void) !send(c->fd, call, strlen(call) + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
                        break;
                }
                case OP_FILL: {
                        static char fill[65536];
                        size_t n;

                        c = client_pick(ARG());
                        n = ARG();
                        n += 256u * ARG();
                        memset(fill, ARG(), n);
                        if (c)
                                (void) !send(c->fd, fill, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        break;
                }
                case OP_SHUT_WR:
                        if ((c = client_pick(ARG())))
                                (void) shutdown(c->fd, SHUT_WR);
                        break;
                case OP_SHUT_RD:
                        if ((c = client_pick(ARG())))
                                (void) shutdown(c->fd, SHUT_RD);
                        break;
                case OP_CLOSE:
                        if ((c = client_pick(ARG())))
                                client_close(c);
                        break;
                case OP_RUN:
                        run(ARG() + 1u);
                        break;
                case OP_READ:
                        if ((c = client_pick(ARG())))
                                client_read(c);
                        break;
                case OP_STOP:
                        if (ARG() != 'S')
                                break;
                        /* As SIGTERM does (manager.c): no new clients,
                         * the calls under way are answered. */
                        exit_now = ARG() & 1;
                        if (!stopped) {
                                manager_test_stop(manager, on_drained, &drained);
                                stopped = true;
                        }
                        break;
                }
        }
#undef ARG

        if (stopped && exit_now) {
                /* The drain timeout: the daemon exits with calls in flight
                 * and clients still connected. */
                manager = manager_free(manager);
                for (size_t k = 0; k < n_clients; k++)
                        client_close(&clients[k]);
        } else {
                for (size_t k = 0; k < n_clients; k++)
                        client_close(&clients[k]);
                drain(stopped);
                if (stopped && drained != 2)
                        die("a stopped server that lost its last connection did not say so");
                if (stopped)
                        manager = manager_free(manager);
                else
                        reset();
        }
        /* The next daemon now, not in the next input: libFuzzer looks for
         * leaks in an input that allocates more than it frees. */
        if (!manager)
                start();
        return 0;
}
