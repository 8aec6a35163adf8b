/* SPDX-License-Identifier: MIT */
/*
 * The daemon's figures for monitoring (README, "Metrics"): latency
 * histograms its parts keep, and the members GetStatus adds for root.
 * The daemon speaks no Prometheus: it hands out JSON with integers only
 * (microseconds, counts), and `neostractl metrics` writes the text
 * exposition format from it (neostractl-metrics.c).
 *
 * A histogram has the fixed bucket bounds of METRICS_BOUNDS_USEC, the same
 * for every histogram, so that its JSON is self-describing and the CLI
 * needs no table of its own.  Loop thread only.
 */
#pragma once

#include <stdint.h>
#include <jansson.h>

#define METRICS_BOUNDS 14u      /* finite bucket bounds; the last bucket is +Inf */

struct histogram {
        uint64_t buckets[METRICS_BOUNDS + 1];   /* per bucket, not cumulative; [METRICS_BOUNDS]: above all */
        uint64_t count;
        uint64_t sum_usec;
};

/* Count one observation of usec microseconds. */
void histogram_observe(struct histogram *h, uint64_t usec);

/*
 * {"boundsUsec": [...], "cumulative": [...], "count": n, "sumUsec": n}:
 * cumulative[i] counts the observations <= boundsUsec[i] (Prometheus's
 * "le"), count all of them (the +Inf bucket).  NULL on ENOMEM.
 */
json_t *histogram_json(const struct histogram *h);

/* The parts the figures come from (borrowed). */
struct Api;
struct LocalNames;
struct UserDb;
struct Decisions;
struct VarlinkServer;
struct user_table;
struct neostra_config;

struct metrics_parts {
        const struct neostra_config *config;
        struct Api *api;
        struct LocalNames *localnames;
        struct UserDb *userdb;
        struct Decisions *decisions;
        struct user_table *users;
        struct VarlinkServer *auth_server, *userdb_server;
};

/*
 * Add the figures only root sees to status (GetStatus's reply):
 * "decisions", "apiLatency", "usersByAccess", "verifiersHeld", "sockets",
 * "userdbLookups", "nssLookups" (the manager adds "writeQueue": it reads
 * the queue before GetStatus flushes it).  -ENOMEM (status then holds
 * some of them).
 */
int metrics_add_json(json_t *status, const struct metrics_parts *p);
