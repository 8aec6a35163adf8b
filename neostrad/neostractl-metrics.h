/* SPDX-License-Identifier: MIT */
/*
 * neostractl metrics [--textfile DIR]: root's GetStatus figures in the
 * Prometheus text exposition format (README, "Metrics"), on stdout or
 * written atomically to DIR/neostra.prom for node_exporter's textfile
 * collector.  The daemon hands out JSON only; the format is made here.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The file --textfile writes in DIR. */
#define NEOSTRACTL_METRICS_FILE "neostra.prom"

/*
 * args are the command's arguments after "metrics".  Returns neostractl's
 * exit code (neostractl.c): 0, 1 (a daemon without figures), 2 (usage),
 * 3 (daemon unreachable; with --textfile the file then says
 * neostra_up 0), 4 (not root, or no permission for the socket).
 */
struct options;
int neostractl_metrics(const struct options *o, int n_args, char **args);
