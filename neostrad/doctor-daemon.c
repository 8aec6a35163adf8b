/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, Daemon: neostrad answers GetStatus on the auth
 * socket; under systemd, neostrad.socket is enabled and listening; both
 * sockets are sockets owned by root or the daemon's user (what
 * pam_neostra.so and nss-systemd trust), everyone may connect, and their
 * directories are not writable by others (who could swap them); the
 * userdb socket answers a lookup at once (a hung userdb service stalls
 * every user lookup on the host).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "doctor-internal.h"
#include "neostra/client.h"
#include "neostra/protocol.h"
#include "neostra/transport.h"

#define DOCTOR_CALL_TIMEOUT_MS 1500u
#define USERDB_PROBE_NAME "neostra-doctor-no-such-user"

static void check_running(struct doctor_ctx *d) {
        json_t *reply = NULL;
        char *error = NULL;
        uint64_t start = neostra_now_usec();
        int r;

        r = neostra_client_call_once(d->socket_path, NEOSTRA_METHOD_GET_STATUS, NULL, false,
                                     neostra_deadline_ms(DOCTOR_CALL_TIMEOUT_MS), &error, &reply);
        if (r < 0) {
                doctor_report(d, "running", DOCTOR_FAIL, r == -ENOENT || r == -ECONNREFUSED ?
                              "start it: systemctl start neostrad.socket (or run neostrad); see "
                              "journalctl -u neostrad" : "see the Daemon socket line below",
                              "neostrad does not answer on %s: %s", d->socket_path, neostra_client_strerror(r));
        } else if (error) {
                doctor_report(d, "running", DOCTOR_FAIL, "see journalctl -u neostrad",
                              "neostrad on %s answers GetStatus with %s", d->socket_path,
                              neostra_error_short(error));
        } else {
                const char *version = json_string_value(json_object_get(reply, "version"));
                const char *state = json_string_value(json_object_get(reply, "state"));

                doctor_report(d, "running", DOCTOR_OK, NULL, "neostrad %s answers on %s in %llu ms; API "
                              "state %s", version ? version : "?", d->socket_path,
                              (unsigned long long) ((neostra_now_usec() - start) / 1000u),
                              state ? state : "?");
        }
        free(error);
        json_decref(reply);
}

static void check_activation(struct doctor_ctx *d) {
        char *enabled_argv[] = { "systemctl", "is-enabled", "neostrad.socket", NULL };
        char *active_argv[] = { "systemctl", "is-active", "neostrad.socket", NULL };
        char enabled[128], active[128];
        int r1, r2;

        if (access("/run/systemd/system", F_OK) < 0) {
                doctor_report(d, "activation", DOCTOR_SKIP, NULL, "systemd is not PID 1: no socket "
                              "activation; neostrad binds its own sockets when started");
                return;
        }
        r1 = doctor_run_command(enabled_argv, enabled, sizeof(enabled), 1500);
        r2 = doctor_run_command(active_argv, active, sizeof(active), 1500);
        enabled[strcspn(enabled, "\n")] = '\0';
        active[strcspn(active, "\n")] = '\0';
        if (r1 == 0 && r2 == 0)
                doctor_report(d, "activation", DOCTOR_OK, NULL, "neostrad.socket is %s and %s", enabled, active);
        else
                doctor_report(d, "activation", DOCTOR_FAIL, "systemctl enable --now neostrad.socket",
                              "neostrad.socket is %s and %s", r1 == -ETIMEDOUT ? "(systemctl timed out)" :
                              enabled[0] ? enabled : "not installed", r2 == -ETIMEDOUT ? "(timed out)" :
                              active[0] ? active : "not active");
}

/* What is wrong with the socket at path, or NULL; *ok_owner says whom. */
static const char *socket_problem(const char *path, uid_t service_uid, char *buf, size_t size) {
        char dir[4096], who[128];
        struct stat st, dst;

        if (lstat(path, &st) < 0) {
                snprintf(buf, size, "%s: %s", path, strerror(errno));
                return buf;
        }
        if (!S_ISSOCK(st.st_mode)) {
                snprintf(buf, size, "%s is not a socket: clients refuse it", path);
                return buf;
        }
        if ((st.st_uid != 0 && st.st_uid != service_uid) || st.st_uid > NEOSTRA_CLIENT_SYSTEM_UID_MAX) {
                snprintf(buf, size, "%s is owned by %s, neither root nor the daemon's (system) user: "
                         "pam_neostra.so and neostractl refuse it", path,
                         doctor_uid_name(st.st_uid, who, sizeof(who)));
                return buf;
        }
        if ((st.st_mode & 0222) != 0222) {
                snprintf(buf, size, "%s has mode %04o: not everyone can connect (screen lockers, "
                         "nss-systemd in every process need to)", path, (unsigned) (st.st_mode & 07777));
                return buf;
        }
        snprintf(dir, sizeof(dir), "%s", path);
        if (stat(dirname(dir), &dst) == 0 && ((dst.st_mode & 0022) && !(dst.st_mode & S_ISVTX))) {
                snprintf(buf, size, "%.400s is in %.400s, which others may write to: anyone could replace it",
                         path, dir);
                return buf;
        }
        return NULL;
}

static void check_socket(struct doctor_ctx *d, const char *check, const char *what, const char *path,
                         uid_t service_uid, bool have_user) {
        char buf[1024], fix[512], who[128];
        const char *problem = socket_problem(path, service_uid, buf, sizeof(buf));

        if (!problem) {
                struct stat st;

                (void) lstat(path, &st);
                doctor_report(d, check, DOCTOR_OK, NULL, "%s socket %s: owned by %s, mode %04o", what, path,
                              doctor_uid_name(st.st_uid, who, sizeof(who)), (unsigned) (st.st_mode & 07777));
                return;
        }
        if (access(path, F_OK) < 0)
                snprintf(fix, sizeof(fix), "start neostrad (systemctl start neostrad.socket): it makes the "
                         "socket; check that [daemon] %s matches the unit's ListenStream=",
                         strcmp(check, "auth-socket") == 0 ? "socket" : "userdb_socket");
        else if (!have_user)
                snprintf(fix, sizeof(fix), "restart neostrad once its [daemon] user exists");
        else
                snprintf(fix, sizeof(fix), "remove it and restart neostrad.socket (systemd makes it root's, "
                         "0666) or neostrad (it makes its own 0666 and %s's)",
                         doctor_uid_name(service_uid, who, sizeof(who)));
        doctor_report(d, check, DOCTOR_FAIL, fix, "%s socket %s", what, problem);
}

/* A lookup of a name nobody has: NoRecordFound, at once. */
static void check_userdb_answers(struct doctor_ctx *d, const char *path) {
        json_t *params = json_pack("{s:s, s:s}", "userName", USERDB_PROBE_NAME, "service", "io.neostra");
        json_t *reply = NULL;
        char *error = NULL;
        uint64_t start = neostra_now_usec();
        int r;

        r = neostra_client_call_once(path, "io.systemd.UserDatabase.GetUserRecord", params, false,
                                     neostra_deadline_ms(DOCTOR_CALL_TIMEOUT_MS), &error, &reply);
        if (r < 0)
                doctor_report(d, "userdb-answers", DOCTOR_FAIL, "restart neostrad; until it answers, user "
                              "lookups on this host may stall", "the userdb socket %s does not answer: %s",
                              path, neostra_client_strerror(r));
        else
                doctor_report(d, "userdb-answers", DOCTOR_OK, NULL, "the userdb socket answers a lookup in "
                              "%llu ms (%s)", (unsigned long long) ((neostra_now_usec() - start) / 1000u),
                              error ? neostra_error_short(error) : "a record");
        free(error);
        json_decref(reply);
}

void doctor_check_daemon(struct doctor_ctx *d) {
        const char *userdb_path = d->config ? d->config->userdb_socket_path : NEOSTRA_DEFAULT_USERDB_SOCKET;
        bool userdb = d->config ? d->config->userdb : true;
        uid_t uid = 0;
        gid_t gid;
        bool have_user;
        struct stat st;

        check_running(d);
        check_activation(d);
        have_user = doctor_service_user(d, &uid, &gid) > 0;
        check_socket(d, "auth-socket", "auth", d->socket_path, uid, have_user);
        if (!userdb && lstat(userdb_path, &st) < 0) {
                doctor_report(d, "userdb-socket", DOCTOR_SKIP, NULL, "[identities] userdb = no: no userdb "
                              "socket needed (none at %s)", userdb_path);
                return;
        }
        check_socket(d, "userdb-socket", "userdb", userdb_path, uid, have_user);
        check_userdb_answers(d, userdb_path);
}
