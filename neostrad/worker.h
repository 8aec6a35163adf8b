/* SPDX-License-Identifier: MIT */
/*
 * A small pool of threads for CPU-heavy work (yescrypt), so the event loop
 * never hashes.  Jobs go in from the loop; their completion callbacks run on
 * the loop, woken through an eventfd.
 *
 * A pool of 0 threads runs each job on the loop itself, from a deferred
 * event, and then its completion callback: the order of events is then
 * the same on every run, which a test that drives the daemon needs
 * (localnames_set_lookup() answers NSS lookups so, for
 * tests/fuzz/fuzz_server.c).  The daemon never makes one.
 */
#pragma once

#include <systemd/sd-event.h>

typedef struct Workers Workers;

/* Runs on a worker thread: must touch only its own data. */
typedef void (*work_fn_t)(void *data);
/* Runs on the event loop once the work is done. */
typedef void (*done_fn_t)(void *data);

/* n_threads: 1 to 8, or 0 (on the loop, see above). */
int workers_new(sd_event *event, unsigned n_threads, Workers **ret);
/* Waits for running jobs, drops queued ones (their done callbacks run with
 * the work skipped), joins the threads. */
Workers *workers_free(Workers *w);

/* Queue a job.  Returns 0 or -ENOMEM (nothing queued, no callback). */
int workers_submit(Workers *w, work_fn_t work, done_fn_t done, void *data);

/* Queue a job someone waits for (a login's verifier check): ahead of every
 * job of workers_submit(), behind the urgent ones queued before it. */
int workers_submit_urgent(Workers *w, work_fn_t work, done_fn_t done, void *data);

/* Make the queued job of data (as given to a submit) urgent, now that
 * someone waits for it: it moves behind the urgent ones.  0, or -ENOENT
 * when it is not waiting for a thread (running, done, or never queued). */
int workers_hurry(Workers *w, const void *data);

unsigned workers_queued(const Workers *w);
/* Jobs a thread is running now. */
unsigned workers_running(Workers *w);
