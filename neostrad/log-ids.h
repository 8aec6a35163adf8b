/* SPDX-License-Identifier: MIT */
/*
 * The journal's MESSAGE_ID of every kind of event neostrad logs, so that
 * `journalctl MESSAGE_ID=<id>` finds all of one kind, and `journalctl -x`
 * shows what the event means and what to do (the catalog,
 * packaging/systemd/neostra.catalog, explains each id below; the test
 * tests/integration/journal-catalog.sh holds the two to the same list).
 *
 * Each id was made once with `systemd-id128 new` and never changes: sysadmins
 * keep them in their searches and alerts.  A new kind of event gets a new id
 * (and a catalog entry); an id is never reused for another meaning.
 */
#pragma once

/* ---- login decisions (decisions.c; the NEOSTRA_* fields say who and why) ---- */

/* Authenticate: the API accepted the password just now. */
#define MESSAGE_ID_LOGIN_SUCCESS          "c318dec0074e4ac1af6b6ca58b6a6951"
/* Authenticate: the cached verifier accepted the password because the API
 * could not answer, or not within offline_after. */
#define MESSAGE_ID_LOGIN_OFFLINE_SUCCESS  "a5172619cb9c4fc88296991fcad0cbe8"
/* Authenticate: cached_auth_timeout: a recent sign-in, no API call. */
#define MESSAGE_ID_LOGIN_CACHED_SUCCESS   "0a74a6808c474864a25d48b4c185ec8f"
/* Authenticate: the password was refused (by the API, or offline). */
#define MESSAGE_ID_LOGIN_FAILURE          "06622cf597f9486e8f206348312cc007"
/* Authenticate: the API does not know the account, or the name cannot be one. */
#define MESSAGE_ID_LOGIN_UNKNOWN          "5e8a4b005ef44617bb199de4f47633ba"
/* Authenticate or CheckAccount: no answer could be given (API down, not
 * configured, no usable verifier). */
#define MESSAGE_ID_UNAVAILABLE            "b3b3356c5eb74ec6a595d431dbe8c27e"
/* Authenticate: a local or excluded account, never sent to the API. */
#define MESSAGE_ID_NOT_OURS               "7b272fa28b2a4cd98bc7b297b3456b2b"
/* Authenticate: too many attempts from one non-root uid (a screen locker). */
#define MESSAGE_ID_RATE_LIMITED           "4ccc7e4a6e09406ca3d8fa533d596da2"
/* CheckAccount: the account step lets the user in. */
#define MESSAGE_ID_ACCOUNT_ALLOWED        "82633af880274cc28bab86654240d0d3"
/* CheckAccount: none of the user's roles is in allow_roles. */
#define MESSAGE_ID_ACCOUNT_DENIED_ROLE    "e76de49f204b4d5e9a2b9d032a7a8d51"
/* CheckAccount: no online proof within account_max_age, or access ended
 * (deprovisioned, refresh refused). */
#define MESSAGE_ID_ACCOUNT_DENIED_ACCESS  "bddc8a31f3cc45cbba120ae815109de0"
/* CheckAccount: the daemon has never seen this user sign in. */
#define MESSAGE_ID_ACCOUNT_UNKNOWN        "46c894e688fa45e395ece9af649cac0c"

/* ---- the API (online.c) ------------------------------------------------------ */

#define MESSAGE_ID_API_OFFLINE            "f5a81e437c1d40dcbc4dfd38869fc5d4"
#define MESSAGE_ID_API_ONLINE             "3b872f622f59481a8541096b6b96391e"
/* [api] url is not set: every login is answered "unavailable". */
#define MESSAGE_ID_API_UNCONFIGURED       "cc523994e3be4dfe83e467a76b8c74ab"
/* A 429 for one user: its logins do not ask the API for a while. */
#define MESSAGE_ID_API_USER_BUSY          "a1fc714392da4b9c843d8ee2b7d42f33"

/* ---- users' access (login.c, revalidate.c) ---------------------------------- */

/* The API answered 404 for a known user: its access ended at once. */
#define MESSAGE_ID_USER_DEPROVISIONED     "61ad7d5c6c124f4f81bfcdf219a255ba"
/* The API refused a background token refresh: the user's access ended. */
#define MESSAGE_ID_ACCESS_REVOKED         "fac9eab943c7449896b9716bc3234fc0"
/* The API refused the password the cached verifier holds: it is removed. */
#define MESSAGE_ID_CREDENTIALS_REVOKED    "a5de15011fc348fd930875380b5a5137"

/* ---- the daemon (neostrad.c, manager.c, varlink-server.c) ------------------- */

#define MESSAGE_ID_DAEMON_READY           "f4e0bfe6ad774c6b99dcfa0eaa895553"
#define MESSAGE_ID_DAEMON_STOPPED         "ae44756162d14fe3b2304f8ccc530e41"
#define MESSAGE_ID_DAEMON_RELOADED        "d3fb7e7e3f9549edacadb3e5a2382594"
/* SIGHUP with a configuration that does not load: the old one stays. */
#define MESSAGE_ID_RELOAD_FAILED          "a1a0f8c42ca8453c87a78f0fe09ccd6a"
/* The configuration does not load at start: the daemon exits. */
#define MESSAGE_ID_CONFIG_ERROR           "cff6d10ba8284476842e6c3b6cd4e58f"
/* Anything else that stops the daemon from starting (sockets, user). */
#define MESSAGE_ID_START_FAILED           "ff18dcb7c6cb4aab9866b5a07b0af433"
/* The cache cannot be used: the daemon runs without one. */
#define MESSAGE_ID_CACHE_UNUSABLE         "0dde77e7f57c43d8b96db8bd6296ee79"
/* A connection refused by the per-uid or overall connection budget. */
#define MESSAGE_ID_CONNECTION_REFUSED     "45a6074fa04145879018d726d9c81b35"
