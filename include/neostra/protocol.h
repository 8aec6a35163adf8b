/* SPDX-License-Identifier: MIT */
/*
 * The wire between pam_neostra.so, neostractl and neostrad.
 *
 * Every socket speaks Varlink: a message is one JSON object terminated by a
 * single NUL byte.  A call is
 *
 *     {"method":"io.neostra.Auth.Authenticate","parameters":{...}}\0
 *
 * and the answer is either a reply {"parameters":{...}}\0 or an error
 * {"error":"io.neostra.Auth.AuthenticationFailed","parameters":{...}}\0.
 * One connection carries any number of calls, strictly one after the other.
 * Messages larger than NEOSTRA_MESSAGE_MAX are a protocol error and close
 * the connection; so does anything that is not a JSON object.
 *
 * io.neostra.Auth methods (parameters → reply):
 *
 *   Authenticate  user, password, service?, rhost?, tty?
 *                 → user, email, roles[], groups[{name,gid}], offline,
 *                   offlineUntil? (unix seconds; only when offline is true),
 *                   allowed, reason: CheckAccount's verdict at this moment,
 *                   so a success is also a CheckAccount reply and the PAM
 *                   module's account step needs no second call
 *                 errors: AuthenticationFailed, UserUnknown, NotOurUser,
 *                         ServiceUnavailable, PermissionDenied, RateLimited
 *   CheckAccount  user, service?
 *                 → allowed, reason, roles[], groups[{name,gid}]: allowed
 *                   false (reason: why, and to log in with the password) and
 *                   no groups once the user's last online proof is older than
 *                   [access] account_max_age or its access ended
 *                   (neostrad/access.h)
 *                 errors: UserUnknown, NotOurUser, PermissionDenied, RateLimited,
 *                         ServiceUnavailable (never NotOurUser when NSS fails)
 *   GetStatus     (none) → version, protocol, state ("unknown", "online",
 *                 "offline", "unconfigured"): all a non-root caller gets (a
 *                 count that moves tells when somebody logs in; the url is
 *                 root's too, to keep it minimal).  Root also gets: apiUrl
 *                 (null: not configured), apiUrls{signin, refresh?} (the
 *                 full urls asked), lastReload{time (0: no SIGHUP yet), ok,
 *                 error (null, or why the running configuration was kept)},
 *                 since, nextProbe, started, users, connections,
 *                 connectionsAccepted, pendingApiRequests, lastApiLatencyMs,
 *                 logins{success, offlineSuccess, cachedSuccess, failure,
 *                 unknown, unavailable, notOurs, rateLimited, deniedRole,
 *                 deniedAccess},
 *                 configFile, cache, cacheBytes, verifiers{made, kept,
 *                 queued}, cacheWrites{rows, transactions, failed},
 *                 localLookups{offLoop, onLoop, failed, staleCalls,
 *                 pending, kept}, revalidation{inFlight, refreshes,
 *                 proofs, revoked, failed}
 *   GetUser       user → user, email, uid (0: none yet), roles[], groups[] (those the
 *                 user gets now: none unless access is "valid"; each {name, gid,
 *                 published}: published by neostrad, not a local group),
 *                 published (userdb serves the user and its memberships),
 *                 lastOnlineSuccess, hasToken, tokenExpires, hasVerifier,
 *                 verifierTime, offlineFailures, invalidated, lastOnlineProof,
 *                 accessUntil (0: none), accountMaxAge (seconds), access
 *                 ("valid", "expired", "invalidated", "revoked",
 *                 "deprovisioned") (root, or the caller's own)
 *   InvalidateCache  user? → (empty)   root only: the next login of user (or
 *                 everyone) goes to the API, and the account step asks for
 *                 a password until then; offline credentials stay
 *   ClearCache    user? → (empty)   root only: drop everything cached but
 *                 the uids handed out
 *   GetToken      user → token, expires   (root, or the caller's own)
 *   ListUsers     after? → users[{user, uid, roles[] (the first 16),
 *                 rolesOmitted? (how many more), access, lastOnlineProof,
 *                 lastOnlineSuccess, hasVerifier, verifierTime,
 *                 accessUntil}], next?   root only: the cached users
 *                 whose names sort (bytewise) after "after", in order, a
 *                 page bounded in count and bytes; "next" when more follow
 *                 (call again with after = next)
 *   Probe         (none) → state (after the probe), answered (the API
 *                 gave an HTTP answer below 500, not 408/429), httpStatus
 *                 (0: none), latencyMs, reason   root only: ask the API now
 *                 (a GET of the sign-in path: never a password); its answer
 *                 counts as a sign-in's does for the API's state (online.h)
 *                 errors: ServiceUnavailable (no [api] url)
 *
 * Times are unix seconds; 0 means never.
 * Every error reply carries a human readable "reason" parameter.  Unknown
 * methods get org.varlink.service.MethodNotFound, bad parameters
 * org.varlink.service.InvalidParameter {"parameter": name}.
 */
#pragma once

#define NEOSTRA_PROTOCOL_VERSION 1

/* What neostrad (GetStatus, the journal) and neostractl --version report;
 * the packages carry the same. */
#ifndef NEOSTRA_VERSION
#define NEOSTRA_VERSION "0.1.0"
#endif

#define NEOSTRA_AUTH_INTERFACE            "io.neostra.Auth"
#define NEOSTRA_METHOD_AUTHENTICATE       NEOSTRA_AUTH_INTERFACE ".Authenticate"
#define NEOSTRA_METHOD_CHECK_ACCOUNT      NEOSTRA_AUTH_INTERFACE ".CheckAccount"
#define NEOSTRA_METHOD_GET_STATUS         NEOSTRA_AUTH_INTERFACE ".GetStatus"
#define NEOSTRA_METHOD_GET_USER           NEOSTRA_AUTH_INTERFACE ".GetUser"
#define NEOSTRA_METHOD_INVALIDATE_CACHE   NEOSTRA_AUTH_INTERFACE ".InvalidateCache"
#define NEOSTRA_METHOD_CLEAR_CACHE        NEOSTRA_AUTH_INTERFACE ".ClearCache"
#define NEOSTRA_METHOD_GET_TOKEN          NEOSTRA_AUTH_INTERFACE ".GetToken"
#define NEOSTRA_METHOD_LIST_USERS         NEOSTRA_AUTH_INTERFACE ".ListUsers"
#define NEOSTRA_METHOD_PROBE              NEOSTRA_AUTH_INTERFACE ".Probe"

/* The API said no: wrong password (401/403, or a 200 that says 401 inside). */
#define NEOSTRA_ERROR_AUTHENTICATION_FAILED NEOSTRA_AUTH_INTERFACE ".AuthenticationFailed"
/* The API does not know the user (404), or the name maps to no valid email
 * (Authenticate: a name with '@' in a domain [users] domains does not
 * accept), or (CheckAccount) the daemon has never seen the user sign in. */
#define NEOSTRA_ERROR_USER_UNKNOWN          NEOSTRA_AUTH_INTERFACE ".UserUnknown"
/* An excluded name, a local system account, a local account [users]
 * local_accounts does not list (any account NSS knows that neostrad did not
 * publish), or (CheckAccount) a name in a domain [users] domains does not
 * accept: never sent to the API. */
#define NEOSTRA_ERROR_NOT_OUR_USER          NEOSTRA_AUTH_INTERFACE ".NotOurUser"
/* API down, slow, 5xx, TLS failure, unparsable or ill-typed answer; or no
 * [api] url, with exactly NEOSTRA_REASON_UNCONFIGURED as the reason. */
#define NEOSTRA_ERROR_SERVICE_UNAVAILABLE   NEOSTRA_AUTH_INTERFACE ".ServiceUnavailable"
/* The peer (SO_PEERCRED) may not ask this. */
#define NEOSTRA_ERROR_PERMISSION_DENIED     NEOSTRA_AUTH_INTERFACE ".PermissionDenied"
#define NEOSTRA_ERROR_RATE_LIMITED          NEOSTRA_AUTH_INTERFACE ".RateLimited"

#define NEOSTRA_REASON_UNCONFIGURED "not configured: [api] url is not set"

#define VARLINK_ERROR_METHOD_NOT_FOUND      "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_INVALID_PARAMETER     "org.varlink.service.InvalidParameter"
#define VARLINK_ERROR_PROTOCOL              "org.varlink.service.ProtocolError"

/* Limits: every field is bounded before anything else looks at it. */
#define NEOSTRA_MESSAGE_MAX        (64u * 1024u)   /* one Varlink message, NUL excluded */
#define NEOSTRA_USER_MAX           256u            /* login name or email, bytes */
#define NEOSTRA_PASSWORD_MAX       1024u           /* bytes */
#define NEOSTRA_FIELD_MAX          256u            /* service, rhost, tty */
#define NEOSTRA_API_BODY_MAX       (64u * 1024u)   /* sign-in response body */
#define NEOSTRA_ROLES_MAX          256u            /* roles in one answer */
#define NEOSTRA_ROLE_MAX           128u            /* bytes of one role */
#define NEOSTRA_TOKEN_MAX          (16u * 1024u)   /* token / refresh token bytes */

/* Defaults both sides agree on. */
#define NEOSTRA_DEFAULT_CONFIG     "/etc/neostra/neostrad.conf"
#define NEOSTRA_DEFAULT_SOCKET     "/run/neostra/io.neostra.Auth"
#define NEOSTRA_DEFAULT_USERDB_SOCKET "/run/systemd/userdb/io.neostra"

/*
 * The module's deadline for one whole call.  The daemon refuses an
 * [api] timeout that does not leave room below it (see common/conf-keys.c),
 * so the daemon always answers first and says why.
 */
#define NEOSTRA_CLIENT_TIMEOUT_MS  30000u
#define NEOSTRA_API_TIMEOUT_MAX_MS 25000u
