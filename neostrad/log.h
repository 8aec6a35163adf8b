/* SPDX-License-Identifier: MIT */
/*
 * Logging: structured journal entries when stderr is connected to the
 * journal (systemd sets JOURNAL_STREAM), plain lines on stderr otherwise.
 * Nothing here ever receives a password or a token.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#ifndef NEOSTRA_VERSION
#define NEOSTRA_VERSION "0.1.0"
#endif

void log_setup(bool debug);

/* Drop every message less important than priority (LOG_ERR keeps errors
 * and worse).  For a test that drives the daemon thousands of times a
 * second and would otherwise spend its time writing lines nobody reads;
 * the daemon never calls it. */
void log_set_max_priority(int priority);

void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One login decision, as a structured entry (NEOSTRA_* journal fields). */
struct auth_event {
        const char *method;      /* "Authenticate", "CheckAccount" */
        const char *user;
        const char *service;
        const char *rhost;
        const char *tty;
        unsigned peer_uid;
        const char *result;      /* "success", "failure", "unknown", "unavailable", ... */
        const char *reason;
        long http_status;        /* 0: none */
        int64_t latency_ms;      /* -1: no API call */
};
void log_auth_event(int priority, const struct auth_event *ev);
