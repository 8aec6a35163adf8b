/* SPDX-License-Identifier: MIT */
/*
 * What neostractl's files share: the exit codes (documented in --help,
 * neostractl.1 and the README), the options, and the helpers for calls and
 * printing (neostractl.c).  The commands that need more than one call and
 * printing of their own live in neostractl-*.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum {
        EXIT_OK = 0,
        EXIT_DENIED = 1,
        EXIT_USAGE = 2,
        EXIT_UNAVAILABLE = 3,
        EXIT_PERMISSION = 4,
        EXIT_UNCONFIGURED = 5,          /* the daemon has no [api] url */
        EXIT_API_OFFLINE = 6,           /* status: the API is offline; probe: it did not answer */
        EXIT_RELOAD_FAILED = 7,         /* status: the last reload failed (old configuration kept) */
        EXIT_NOT_OURS = 8,              /* auth: not a Neostra user, PAM goes on to the next module */
};

struct options {
        const char *socket_path;
        const char *config_path;        /* doctor: NULL for the default */
        bool socket_given;
        uint64_t timeout_ms;
        bool json;
};

/* Strings from the daemon, with anything that could drive the terminal
 * replaced by '?'. */
void print_safe(FILE *f, const char *s);
void print_json(json_t *v);
/* "42 s", "5 min 3 s", "2 h 10 min", "6 d 23 h". */
void format_duration(long long s, char *buf, size_t n);
/* A unix time as "in 5 min 3 s" / "2 h 10 min ago" / "never" (t <= 0). */
void format_age(long long t, char *buf, size_t n);

/* One call on a fresh connection: 0 with the answer, or the exit code
 * after saying on stderr why there is none. */
int simple_call(const struct options *o, const char *method, json_t *params, char **ret_error, json_t **ret_params);
/* Says what an error answer means on stderr; returns its exit code. */
int print_error_answer(const char *method, const char *error, json_t *params);

/* neostractl-status.c */
int neostractl_status(const struct options *o);
int neostractl_probe(const struct options *o);

/* neostractl-users.c */
int neostractl_users(const struct options *o);
