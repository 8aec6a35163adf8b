/* SPDX-License-Identifier: MIT */
/*
 * What login.c and login-verifier.c share: the Logins object and the
 * verifier jobs.  Private to those two files.
 */
#pragma once

#include "login.h"

struct Logins {
        struct login_deps d;
        struct login *pending;          /* every login not yet freed */
        struct login_stats stats;
        unsigned waiting;               /* logins in pending that wait (login.waiting) */
        unsigned refusing;              /* logins in pending whose refused password is checked */
};

/*
 * Make user's verifier of password (copied) on a worker with make(), after
 * an online success: u has its live part (user_table_record_success made
 * it).  mac: verifier_mac() of password, NULL when unknown.  A job still
 * waiting for a worker takes the newer password instead of a second job.
 * done(ls, user) runs when the job has ended, made or not (those waiting
 * for the verifier decide then).
 */
void login_make_verifier(Logins *ls, struct user_record *u, const char *user, const char *password,
                         const unsigned char *mac, int (*make)(const char *password, char **ret),
                         void (*done)(Logins *ls, const char *user));

/* The MAC of the password a verifier job makes, NULL when unknown. */
struct make_job;
const unsigned char *login_make_job_mac(const struct make_job *j);
