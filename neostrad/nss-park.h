/* SPDX-License-Identifier: MIT */
/*
 * A call parked while the NSS answers it needs are looked up off the loop
 * (localnames.h).  A handler asks names_park_need() for the keys it will
 * read; when one is not fresh, the call is held on its connection
 * (varlink_conn_hold()) and its handler runs again, with the same
 * parameters, once the answers are in.  A call may wait in two stages, each
 * once: the caller's own name (NAMES_PEER), then what the call itself needs
 * (NAMES_CALL); a stage whose answers are in counts as done for the rest of
 * the call, whatever the answers said.
 *
 * With answers kept from before, a slow source holds the call only
 * LOCALNAMES_STALE_AFTER_USEC and it goes on with those; without any, it
 * waits up to NAMES_PARK_WAIT_USEC and then fails closed: the handler runs
 * again and names_park_need() says -ETIMEDOUT, for it to answer
 * "unavailable".  A slow NSS source delays only the calls that need it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "localnames.h"
#include "varlink-server.h"

#define NAMES_PEER 1u
#define NAMES_CALL 2u
#define NAMES_PARK_WAIT_USEC (5u * 1000000ull)

typedef struct NamesPark NamesPark;

int names_park_new(sd_event *event, LocalNames *names, NamesPark **ret);
NamesPark *names_park_free(NamesPark *p);

/*
 * 1: every key has an answer to read (go on); 0: the call is parked (the
 * handler returns 0 at once and answers nothing); <0: they cannot be had
 * now (-ETIMEDOUT after waiting, -EBUSY, -ENOMEM): the handler answers
 * "unavailable".
 */
int names_park_need(NamesPark *p, VarlinkConn *c, unsigned stage, const struct localnames_key *keys, size_t n);

/* Calls that went on with kept answers because NSS was slow. */
uint64_t names_park_stale_calls(const NamesPark *p);
