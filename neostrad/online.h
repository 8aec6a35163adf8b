/* SPDX-License-Identifier: MIT */
/*
 * Is the API there?  After ONLINE_FAILURES_MAX transport failures in a row
 * (no HTTP answer at all), or at once when the API sends Retry-After, the
 * daemon calls the API offline: logins
 * stop waiting on it and are answered from the cache, and a probe (a GET
 * of the sign-in path: it never carries a password) retries with
 * exponential backoff plus jitter, capped, and never sooner than a
 * Retry-After the API gave.  Any HTTP answer below 500 brings it back.
 */
#pragma once

#include "manager.h"

#define ONLINE_FAILURES_MAX   3u
#define ONLINE_BACKOFF_MIN_USEC  (1u * 1000000ull)
#define ONLINE_BACKOFF_MAX_USEC  (300u * 1000000ull)

/* Feed the outcome of every sign-in. */
void online_note(Manager *m, const struct api_signin_result *res);

/* false while the API is offline: do not make a login wait on it. */
bool online_usable(const Manager *m);

const char *online_state_name(enum api_state s);

/* At start and after a reload: no [api] url makes the daemon
 * "unconfigured" (logins answered unavailable, nothing probed); a url
 * brings it back to "unknown". */
void online_configure(Manager *m);

/* Stop probing (manager_free). */
void online_stop(Manager *m);
