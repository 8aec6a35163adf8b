/* SPDX-License-Identifier: MIT */
/*
 * ListUsers and Probe (auth-admin.h): what `neostractl users` and
 * `neostractl probe` ask.  Both are root's only, as the table says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "account.h"
#include "auth-admin.h"
#include "log.h"
#include "neostra/protocol.h"

#define API_GRACE_USEC (2u * 1000000ull)       /* on top of [api] timeout, as auth-methods.c */
/* Room left in a page for the envelope ({"parameters":{"users":[...],"next":NAME}}). */
#define LIST_PAGE_BYTES (NEOSTRA_MESSAGE_MAX - 2u * NEOSTRA_USER_MAX - 1024u)

/* ---- ListUsers ------------------------------------------------------------------ */

/* The AUTH_LIST_PAGE_MAX + 1 smallest names after a cursor, kept sorted:
 * one more than a page, to tell whether another page follows.  A page
 * walks the whole table once and keeps no state between calls, so users
 * that come or go between two pages cannot make a listing skip or repeat
 * any other.  A whole listing of N users costs about N / 250 walks of
 * the table, one per call, so the loop is never held longer than one walk:
 * with 50,000 users about 15 ms a page, 3 s for the whole listing
 * (neostractl users, measured on a 2-core VM). */
struct page_pick {
        const char *after;
        struct user_record *v[AUTH_LIST_PAGE_MAX + 1];
        size_t n;
};

static void pick_one(struct user_record *u, void *userdata) {
        struct page_pick *p = userdata;
        size_t lo = 0, hi = p->n;

        if (p->after && strcmp(u->name, p->after) <= 0)
                return;
        if (p->n == AUTH_LIST_PAGE_MAX + 1 && strcmp(u->name, p->v[p->n - 1]->name) >= 0)
                return;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (strcmp(p->v[mid]->name, u->name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (p->n == AUTH_LIST_PAGE_MAX + 1)
                p->n--;         /* the largest gives way */
        memmove(&p->v[lo + 1], &p->v[lo], (p->n - lo) * sizeof(p->v[0]));
        p->v[lo] = u;
        p->n++;
}

/* One user as a listing shows it: no email, no secret, the first
 * AUTH_LIST_ROLES_MAX roles. */
static json_t *list_entry(const struct neostra_config *config, const struct user_record *u, int64_t now) {
        size_t n = user_n_roles(u) < AUTH_LIST_ROLES_MAX ? user_n_roles(u) : AUTH_LIST_ROLES_MAX;
        json_t *e;

        e = json_pack("{s:s, s:I, s:o, s:s, s:I, s:I, s:b, s:I, s:I}",
                      "user", u->name, "uid", (json_int_t) u->uid,
                      "roles", account_roles_json(user_roles(u), n),
                      "access", access_state_name(access_state(config, u, now)),
                      "lastOnlineProof", (json_int_t) u->last_online_proof,
                      "lastOnlineSuccess", (json_int_t) u->last_online_success,
                      "hasVerifier", u->has_verifier,
                      "verifierTime", (json_int_t) (u->has_verifier ? u->verifier_time : 0),
                      "accessUntil", (json_int_t) access_until(config, u));
        if (e && n < user_n_roles(u) &&
            json_object_set_new(e, "rolesOmitted", json_integer((json_int_t) (user_n_roles(u) - n))) < 0)
                e = (json_decref(e), NULL);
        return e;
}

int auth_admin_list_users(VarlinkConn *c, const struct auth_deps *d, const char *after) {
        const struct neostra_config *config = *d->config;
        struct page_pick *pick;
        json_t *users = NULL, *reply = NULL;
        int64_t now = access_now();
        size_t bytes = 0, i;
        int r = -ENOMEM;

        pick = calloc(1, sizeof(*pick));
        if (!pick)
                return -ENOMEM;
        pick->after = after;
        user_table_foreach(d->users, pick_one, pick);
        users = json_array();
        if (!users)
                goto done;
        for (i = 0; i < pick->n && i < AUTH_LIST_PAGE_MAX; i++) {
                json_t *e = list_entry(config, pick->v[i], now);
                size_t len;

                if (!e)
                        goto done;
                /* Its size as the reply will carry it; the first always
                 * fits (a name and AUTH_LIST_ROLES_MAX roles are far
                 * below the page). */
                len = json_dumpb(e, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII) + 1;
                if (i > 0 && bytes + len > LIST_PAGE_BYTES) {
                        json_decref(e);
                        break;
                }
                bytes += len;
                if (json_array_append_new(users, e) < 0)
                        goto done;
        }
        reply = json_pack("{s:O}", "users", users);
        /* More follow: the next page starts after the last name here. */
        if (reply && i < pick->n &&
            json_object_set_new(reply, "next", json_string(pick->v[i - 1]->name)) < 0)
                goto done;
        if (reply) {
                (void) varlink_conn_reply(c, reply);
                reply = NULL;
                r = 0;
        }
done:
        json_decref(reply);
        json_decref(users);
        free(pick);
        return r;
}

/* ---- Probe ------------------------------------------------------------------------ */

struct probe_wait {
        VarlinkConn *conn;      /* held */
        OnlineProbeWait *wait;
};

static void probe_wait_free(struct probe_wait *p) {
        varlink_conn_unref(p->conn);
        free(p);
}

/* The client left (or the deadline passed) first. */
static void on_probe_gone(void *userdata) {
        struct probe_wait *p = userdata;

        online_probe_wait_cancel(p->wait);
        probe_wait_free(p);
}

static void on_probe_result(const struct online_probe_result *res, void *userdata) {
        struct probe_wait *p = userdata;

        (void) varlink_conn_reply(p->conn, json_pack("{s:s, s:b, s:I, s:I, s:s}",
                                                     "state", online_state_name(res->state),
                                                     "answered", res->answered,
                                                     "httpStatus", (json_int_t) res->http_status,
                                                     "latencyMs", (json_int_t) (res->latency_usec / 1000u),
                                                     "reason", res->reason ? res->reason : ""));
        probe_wait_free(p);
}

int auth_admin_probe(VarlinkConn *c, const struct auth_deps *d) {
        const struct neostra_config *config = *d->config;
        struct probe_wait *p;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        r = online_probe_now(d->online, on_probe_result, p, &p->wait);
        if (r < 0) {
                free(p);
                log_msg(LOG_ERR, "cannot start an API probe: %s", strerror(-r));
                (void) varlink_conn_error_reason(c, NEOSTRA_ERROR_SERVICE_UNAVAILABLE,
                                                 r == -ENOTCONN ? NEOSTRA_REASON_UNCONFIGURED
                                                                : "cannot start an API probe");
                return 0;
        }
        log_msg(LOG_INFO, "API probe asked for by uid %u", (unsigned) varlink_conn_uid(c));
        p->conn = varlink_conn_hold(c, config->timeout_ms * 1000u + API_GRACE_USEC, on_probe_gone, p);
        return 0;
}
