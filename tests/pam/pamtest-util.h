/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the PAM tests (tests/pam/pamtest.c): a recording conversation,
 * one libpamtest run, clocks, children that report over a pipe, and a tiny
 * HTTP/1.0 client for the mock API's control endpoints.  Nothing here uses
 * cmocka, so it is safe in forked children and in threads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <security/pam_appl.h>
#include <libpamtest.h>

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#define CONV_MSGS_MAX 8u
#define CONV_MSG_LEN  512u

/* What the conversation answered and saw. */
struct conv_log {
        const char *password;           /* answer to echo-off prompts; NULL: refuse */
        unsigned prompts;               /* echo-off and echo-on prompts seen */
        unsigned n_errors, n_infos;
        char errors[CONV_MSGS_MAX][CONV_MSG_LEN];
        char infos[CONV_MSGS_MAX][CONV_MSG_LEN];
};

/* The environment run-pamtest.sh sets up. */
struct pt_env {
        const char *canary;             /* NEOSTRA_CANARY: every API user's password */
        const char *dir;                /* NEOSTRA_TEST_DIR: sockets and configs */
        int mock_port;                  /* NEOSTRA_MOCK_PORT: the mock API's http port */
};

extern struct pt_env pt;

/* 0, or -1 (with *why set) when the tests cannot run. */
int pt_env_load(const char **why);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t pt_now_ms(void);

/* "PAM_AUTH_ERR" for PAM_AUTH_ERR. */
const char *pt_pam_name(int rv);
const char *pt_op_name(enum pamtest_ops op);

/* One pam_start() .. pam_end() with the recording conversation; log may be
 * NULL (then every prompt is refused). */
enum pamtest_err pt_run(const char *service, const char *user, struct conv_log *log,
                        struct pam_testcase *cases, size_t n_cases);

/* $NEOSTRA_TEST_DIR/<name>.sock into buf. */
const char *pt_socket(const char *name, char *buf, size_t size);

/*
 * GET path from the mock API (HTTP/1.0 on 127.0.0.1:mock_port, 5 s
 * deadline).  Returns 0 and the parsed JSON body of a 200 answer, or -1.
 */
int pt_mock_get(const char *path, json_t **ret);

/* Sign-ins the mock has counted, or -1. */
long pt_mock_signins(void);

/*
 * Requests the mock recorded for email (any path or method), or -1.  With
 * ret_last, a new reference to the last such record (NULL when none).
 */
long pt_mock_requests_for(const char *email, json_t **ret_last);

/*
 * Children: fork, run fn(arg, fd) in the child with the write end of a
 * pipe, _exit(0) after it (never exit(): pam_wrapper's destructor would
 * remove the parent's service directory).  The parent gets the pid and the
 * read end.
 */
int pt_spawn(void (*fn)(void *arg, int fd), void *arg, pid_t *ret_pid, int *ret_fd);

/* Read exactly size bytes from fd before deadline_ms (pt_now_ms() time).
 * 0, or -1 on EOF, error or timeout. */
int pt_read_all(int fd, void *buf, size_t size, uint64_t deadline_ms);

/* Write all of buf; 0 or -1. */
int pt_write_all(int fd, const void *buf, size_t size);

/* waitpid() with a deadline; SIGKILL and reap when it passes.  Returns
 * the wait status, or -1 when the child had to be killed. */
int pt_reap(pid_t pid, uint64_t deadline_ms);
