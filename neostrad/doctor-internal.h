/* SPDX-License-Identifier: MIT */
/*
 * What the files of neostractl doctor share.  doctor.c runs each section
 * (doctor_sections[]) in a child process of its own, with a deadline: a
 * section that hangs (a hung NSS source, an API that never answers, a
 * stopped daemon) is killed and reported, and the others still finish.
 * A section reports each check with doctor_report() as soon as it knows
 * the verdict, so what it found before it hung is kept.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "neostra/conf.h"

enum doctor_status {
        DOCTOR_OK,
        DOCTOR_FAIL,
        DOCTOR_SKIP,            /* not applicable here; the text says why */
};

struct doctor_ctx {
        const char *config_path;
        /* NULL when the config does not load; config_error says why. */
        const struct neostra_config *config;
        const char *config_error;
        const char *socket_path;        /* the auth socket to ask */
        const char *section;            /* the running section's name */
        int out_fd;                     /* the pipe to doctor.c's parent */
};

/*
 * One check's verdict: check is a short stable name ("user", "socket"),
 * fix what to do about a failure (NULL: nothing to say), and the rest a
 * printf format for what was found.  Text is reduced to printable ASCII:
 * it quotes files and answers that are not ours.
 */
void doctor_report(struct doctor_ctx *d, const char *check, enum doctor_status s, const char *fix,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The daemon's user from the config: 1 and its ids when it exists (root
 * when [daemon] user is empty or "root"), 0 when it does not, <0 when NSS
 * cannot tell. */
int doctor_service_user(const struct doctor_ctx *d, uid_t *ret_uid, gid_t *ret_gid);

/* "name" or "uid N" for messages, into buf. */
const char *doctor_uid_name(uid_t uid, char *buf, size_t size);

/*
 * Run argv (no shell) with stdout into out (NUL-terminated, truncated to
 * size) and stderr dropped, for at most timeout_ms.  Returns the exit
 * status, or a negative errno (-ETIMEDOUT, the child killed).
 */
int doctor_run_command(char *const argv[], char *out, size_t size, unsigned timeout_ms);

/* The sections, each in doctor-<name>.c. */
void doctor_check_config(struct doctor_ctx *d);
void doctor_check_daemon(struct doctor_ctx *d);
void doctor_check_api(struct doctor_ctx *d);
void doctor_check_nss(struct doctor_ctx *d);
void doctor_check_pam(struct doctor_ctx *d);
void doctor_check_cache(struct doctor_ctx *d);

/* doctor_check_nss() on another file than /etc/nsswitch.conf (tests/unit). */
void doctor_check_nss_in(struct doctor_ctx *d, const char *path);
/* doctor_check_pam() with the stacks read from stacks_dir instead of
 * /etc/pam.d and the profiles from profiles_dir (for tests/unit). */
void doctor_check_pam_in(struct doctor_ctx *d, const char *stacks_dir, const char *profiles_dir);

/* Clock skew beyond this many seconds is a failure: TLS certificates,
 * token lifetimes and account_max_age are all judged by this host's
 * clock. */
#define DOCTOR_CLOCK_SKEW_MAX_SEC 60
