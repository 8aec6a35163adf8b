/* SPDX-License-Identifier: MIT */
/*
 * Making offline verifiers after online successes (login.c's other half):
 * one yescrypt job per user at most, off the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "login-internal.h"
#include "neostra/secure.h"
#include "verifier.h"
#include "writeback.h"

/*
 * Making a verifier (one yescrypt, ~13 ms and 16 MiB, after the answer)
 * is a job of its own that holds a copy of the password, not the login:
 * at most one job per user waits, and a later success of the same user
 * while it waits hands it the newer password instead of queueing another.
 * So the queue is bounded by the users signing in, not by the sign-ins
 * (a busy user at 100 logins/s used to queue 100 jobs a second for two
 * threads that make ~150 a second, each holding its login and password
 * until its turn, without end).  VERIFIER_QUEUE_MAX bounds it further.
 */
#define VERIFIER_QUEUE_MAX 65536u

struct make_job {
        Logins *ls;
        int (*make)(const char *password, char **ret);         /* verifier_make(), or the test's */
        void (*done)(Logins *ls, const char *user);            /* on the loop, once it has ended */
        char *user;
        char *password;                 /* secret; replaced while !started */
        uint64_t generation;            /* the user's successes it is for */
        bool started;                   /* a worker took it: the loop leaves it alone */
        unsigned char mac[VERIFIER_MAC_SIZE];   /* loop only: verifier_mac() of password */
        bool mac_set;
        char *hash;
        int result;
};

/* Guards make_job.password and .started between the loop and a worker. */
static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;

static void job_make(void *data) {
        struct make_job *j = data;
        char *hash = NULL;

        pthread_mutex_lock(&make_lock);
        j->started = true;
        pthread_mutex_unlock(&make_lock);
        /* From here on only this thread touches the password. */
        j->result = j->make(j->password, &hash);
        j->hash = hash;
}

const unsigned char *login_make_job_mac(const struct make_job *j) {
        return j->mac_set ? j->mac : NULL;
}

static void make_job_free(struct make_job *j) {
        explicit_bzero(j->mac, sizeof(j->mac));
        secure_free_string(j->password);
        secure_free_string(j->hash);
        free(j->user);
        free(j);
}

static void on_make_done(void *data) {
        struct make_job *j = data;
        struct user_record *u = user_table_get(j->ls->d.users, j->user);

        if (u && u->live && u->live->pending_make == j)
                u->live->pending_make = NULL;
        /* Only if nothing refused the user since the API said yes, and the
         * password is still that of the latest success: the same MAC (a
         * steady stream of logins with one password must not discard
         * every job), or, MACs unknown, no later success at all.  (A
         * record with a success has its live part.) */
        if (j->result == 0 && j->hash && u && u->live && u->last_online_success > 0 &&
            u->has_token &&
            (j->mac_set && u->live->success_mac_set ? verifier_mac_equal(j->mac, u->live->success_mac)
                                                       : u->live->successes == j->generation)) {
                struct user_secrets s = { .mask = SECRET_VERIFIER, .verifier = j->hash };

                j->hash = NULL;
                u->verifier_time = u->last_online_success;
                user_record_verifier_changed(u);
                memcpy(u->live->verifier_mac, j->mac, sizeof(u->live->verifier_mac));
                u->live->verifier_mac_set = j->mac_set;
                j->ls->stats.verifiers_made++;
                writeback_save(j->ls->d.writeback, u, &s);
        } else if (j->result < 0 && j->result != -ECANCELED)
                log_msg(LOG_ERR, "cannot make a verifier for %s: %s", j->user, strerror(-j->result));
        /* Made or not, those waiting for it decide now. */
        j->done(j->ls, j->user);
        make_job_free(j);
}

void login_make_verifier(Logins *ls, struct user_record *u, const char *user, const char *password,
                         const unsigned char *mac, int (*make)(const char *password, char **ret),
                         void (*done)(Logins *ls, const char *user)) {
        struct make_job *j = u->live->pending_make;
        bool handed = false;

        /* Waiting or running for this very password: it will do. */
        if (j && mac && j->mac_set && verifier_mac_equal(j->mac, mac)) {
                j->generation = u->live->successes;
                return;
        }

        pthread_mutex_lock(&make_lock);
        if (j && !j->started) {
                /* Still waiting: let it make this (the latest) password's verifier. */
                char *pw = strdup(password);

                if (pw) {
                        secure_free_string(j->password);
                        j->password = pw;
                        j->generation = u->live->successes;
                        handed = true;
                        j->mac_set = mac != NULL;
                        if (mac)
                                memcpy(j->mac, mac, sizeof(j->mac));
                }
        }
        pthread_mutex_unlock(&make_lock);
        if (handed)
                return;
        if (workers_queued(ls->d.workers) >= VERIFIER_QUEUE_MAX) {
                log_msg(LOG_WARNING, "verifier queue full: no offline verifier for %s from this sign-in", user);
                return;
        }
        j = calloc(1, sizeof(*j));
        if (j) {
                /* Filled in before a worker can see it; a job the workers
                 * drop at shutdown is never run and installs nothing. */
                *j = (struct make_job) { .ls = ls, .make = make, .done = done,
                                         .user = strdup(user), .password = strdup(password),
                                         .generation = u->live->successes, .result = -ECANCELED,
                                         .mac_set = mac != NULL };
                if (mac)
                        memcpy(j->mac, mac, sizeof(j->mac));
                if (j->user && j->password && workers_submit(ls->d.workers, job_make, on_make_done, j) == 0) {
                        u->live->pending_make = j;
                        return;
                }
                make_job_free(j);
        }
        log_msg(LOG_ERR, "cannot queue a verifier for %s", user);
}
