/* SPDX-License-Identifier: MIT */
/*
 * Is the API there, and for whom?
 *
 * Only answers about the API as a whole make the daemon call it offline:
 * ONLINE_FAILURES_MAX transport failures in a row (no HTTP answer at all),
 * a 503 with Retry-After (at once), or 429s for ONLINE_BUSY_USERS
 * different users in a row (no other answer between).  Offline, logins
 * the cache can answer stop waiting on it (the others still ask it: their
 * answer is the probe, login.c), and a probe (a GET of the sign-in path:
 * it never carries a password) retries with exponential backoff plus jitter,
 * capped, and never sooner than a Retry-After the API gave, the probe's
 * own included.  Any other HTTP answer below 500 brings it back, and so
 * does a quick 5xx (it makes nobody wait).
 *
 * A 429 for one user is about that user: it holds that user back until
 * its Retry-After has passed (ONLINE_HOLD_DEFAULT_SEC without one, at most
 * the backoff cap), and nobody else.  ONLINE_HELD_USERS_MAX users are held
 * at once at most; beyond, the hold that ends first gives way (that user's
 * next login asks the API again, which says 429 again).
 *
 * Online owns that state; the manager makes one, configures it at start
 * and after each reload, feeds it every sign-in's outcome and asks it
 * whether a login may wait on the API.  Times are CLOCK_REALTIME
 * microseconds, 0 for "none".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "api.h"
#include "neostra/conf.h"

#define ONLINE_FAILURES_MAX   3u
#define ONLINE_BACKOFF_MIN_USEC  (1u * 1000000ull)
#define ONLINE_BACKOFF_MAX_USEC  (300u * 1000000ull)
#define ONLINE_BUSY_USERS        3u     /* 429s of this many different users in a row: offline */
#define ONLINE_HELD_USERS_MAX    64u
#define ONLINE_HOLD_DEFAULT_SEC  5u     /* a user's 429 without Retry-After */

enum api_state {
        API_STATE_UNKNOWN,
        API_STATE_ONLINE,
        API_STATE_OFFLINE,       /* the API as a whole failed (see above): logins do not wait on it */
        API_STATE_UNCONFIGURED,  /* no [api] url: every login is answered "unavailable" */
};

typedef struct Online Online;

/*
 * What Online uses of the world.  The daemon passes NULL and gets the real
 * ones; a test passes its own, and any member left NULL is the real one.
 * The probe timer is always an sd-event timer on the loop given to
 * online_new(): a test drives that loop itself.
 */
struct online_env {
        /* api_probe() and api_request_cancel(). */
        int (*probe)(Api *api, const struct neostra_config *config, api_signin_callback_t cb,
                     void *userdata, ApiRequest **ret);
        void (*cancel)(ApiRequest *req);
        /* CLOCK_REALTIME in microseconds: what online_since() and
         * online_next_probe() report. */
        uint64_t (*now)(void);
        /* Uniform 32 random bits for the jitter. */
        uint32_t (*random)(void);
};

/*
 * A new Online in state "unknown", probing nothing until online_configure().
 * event and api are borrowed and must outlive it; env is copied.  Returns 0,
 * or -ENOMEM.
 */
int online_new(sd_event *event, Api *api, const struct online_env *env, Online **ret);

/* Cancels a probe in flight and the probe timer.  Accepts NULL. */
Online *online_free(Online *o);

/*
 * At start and after each reload.  c is borrowed until the next call or
 * online_free() (probes are made with it).  No [api] url makes the state
 * "unconfigured" (logins answered unavailable, nothing probed); a url
 * brings an unconfigured state back to "unknown".
 */
void online_configure(Online *o, const struct neostra_config *c);

/* Feed the outcome of every sign-in and token refresh, and whose it was
 * (user NULL: nobody's; a 429 then holds nobody and counts for no one). */
void online_note(Online *o, const struct api_signin_result *res, const char *user);

/* Until when the API asked to leave user alone (a 429 for them); 0: not held. */
uint64_t online_user_held(const Online *o, const char *user);

/* false while the API is offline or unconfigured: do not make a login the
 * cache can answer wait on it. */
bool online_usable(const Online *o);

enum api_state online_state(const Online *o);
const char *online_state_name(enum api_state s);

/*
 * A probe asked for now (neostractl probe), beside the scheduled ones.  A
 * success (api_probe()'s API_ALLOW) brings the API online at once.  Any
 * other outcome, while not offline, is fed to online_note() as a sign-in's
 * would be (no HTTP answer counts towards ONLINE_FAILURES_MAX, a quick 5xx
 * brings it online); while offline it changes nothing and the scheduled
 * probes go on with their backoff.  Every waiter gets the state after it
 * and the probe's own figures; a second ask while one is in flight waits
 * for that one.
 */
struct online_probe_result {
        enum api_state state;           /* after the probe */
        bool answered;                  /* the API answered (the probe's API_ALLOW) */
        long http_status;               /* 0: no HTTP answer */
        uint64_t latency_usec;
        const char *reason;             /* static text, safe to show */
};
typedef void (*online_probe_callback_t)(const struct online_probe_result *res, void *userdata);
typedef struct OnlineProbeWait OnlineProbeWait;

/*
 * Start a probe now, or join the one asked for that is in flight.  cb runs
 * once, from the loop, never inside this call; *ret is the waiter until
 * then (online_probe_wait_cancel() before, never after).  Returns 0,
 * -ENOTCONN when there is no [api] url (nothing is probed), -ENOMEM, or
 * what starting the probe returned.
 */
int online_probe_now(Online *o, online_probe_callback_t cb, void *userdata, OnlineProbeWait **ret);

/* The waiter no longer wants the answer (its client left): cb never runs. */
void online_probe_wait_cancel(OnlineProbeWait *w);

/* When the state last changed. */
uint64_t online_since(const Online *o);

/* When the next probe is due; 0 while none is scheduled. */
uint64_t online_next_probe(const Online *o);

/*
 * Tests: how long until the probe timer fires (-ENOENT: not armed), and
 * make it due now, so that the next sd_event_run() on the loop dispatches
 * it (-ENOENT: not armed, nothing changed).
 */
int online_test_probe_in(const Online *o, uint64_t *ret_usec);
int online_test_probe_now(Online *o);
/* Tests: back to the state after start (nothing failed, nothing probed). */
void online_test_reset(Online *o);
