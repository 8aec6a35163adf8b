/* SPDX-License-Identifier: MIT */
/* Latency histograms and root's GetStatus figures; see metrics.h. */
#include <errno.h>

#include "access.h"
#include "api.h"
#include "decisions.h"
#include "localnames.h"
#include "metrics.h"
#include "userdb.h"
#include "users.h"
#include "varlink-server.h"

/* From a fast local NSS lookup (a millisecond) to an API near its
 * timeout (seconds); the same for every histogram. */
static const uint64_t bounds_usec[METRICS_BOUNDS] = {
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
        1000000, 2500000, 5000000, 10000000, 30000000,
};

void histogram_observe(struct histogram *h, uint64_t usec) {
        size_t i = 0;

        while (i < METRICS_BOUNDS && usec > bounds_usec[i])
                i++;
        h->buckets[i]++;
        h->count++;
        h->sum_usec += usec;
}

json_t *histogram_json(const struct histogram *h) {
        json_t *bounds = json_array(), *cumulative = json_array();
        uint64_t n = 0;

        for (size_t i = 0; bounds && cumulative && i < METRICS_BOUNDS; i++) {
                n += h->buckets[i];
                if (json_array_append_new(bounds, json_integer((json_int_t) bounds_usec[i])) < 0 ||
                    json_array_append_new(cumulative, json_integer((json_int_t) n)) < 0)
                        break;
        }
        if (!bounds || !cumulative || json_array_size(cumulative) != METRICS_BOUNDS) {
                json_decref(bounds);
                json_decref(cumulative);
                return NULL;
        }
        return json_pack("{s:o, s:o, s:I, s:I}", "boundsUsec", bounds, "cumulative", cumulative,
                         "count", (json_int_t) h->count, "sumUsec", (json_int_t) h->sum_usec);
}

struct user_counts {
        const struct neostra_config *config;
        int64_t now;
        uint64_t by_access[_ACCESS_STATE_MAX];
        uint64_t verifiers;
};

static void count_user(struct user_record *u, void *userdata) {
        struct user_counts *c = userdata;

        c->by_access[access_state(c->config, u, c->now)]++;
        c->verifiers += u->has_verifier;
}

static json_t *users_json(const struct metrics_parts *p, uint64_t *ret_verifiers) {
        struct user_counts c = { .config = p->config, .now = access_now() };
        json_t *o = json_object();

        /* One pass over the table per call: root's, and rare (a scrape). */
        user_table_foreach(p->users, count_user, &c);
        for (int s = 0; o && s < _ACCESS_STATE_MAX; s++)
                if (json_object_set_new(o, access_state_name(s), json_integer((json_int_t) c.by_access[s])) < 0) {
                        json_decref(o);
                        return NULL;
                }
        *ret_verifiers = c.verifiers;
        return o;
}

static json_t *socket_json(const VarlinkServer *s) {
        struct varlink_server_stats st;

        varlink_server_stats(s, &st);
        return json_pack("{s:I, s:I, s:I}", "open", (json_int_t) st.connections,
                         "accepted", (json_int_t) st.accepted, "refused", (json_int_t) st.refused);
}

int metrics_add_json(json_t *status, const struct metrics_parts *p) {
        struct localnames_stats names;
        struct userdb_stats lookups;
        uint64_t verifiers = 0;
        json_t *users = users_json(p, &verifiers);

        localnames_stats(p->localnames, &names);
        userdb_stats(p->userdb, &lookups);
        if (!users ||
            json_object_set_new(status, "usersByAccess", users) < 0 ||
            json_object_set_new(status, "verifiersHeld", json_integer((json_int_t) verifiers)) < 0 ||
            json_object_set_new(status, "decisions", decisions_json(p->decisions)) < 0 ||
            json_object_set_new(status, "apiLatency", json_pack(
                    "{s:o, s:o, s:o}",
                    "signin", histogram_json(api_latency(p->api, API_REQUEST_SIGNIN)),
                    "probe", histogram_json(api_latency(p->api, API_REQUEST_PROBE)),
                    "refresh", histogram_json(api_latency(p->api, API_REQUEST_REFRESH)))) < 0 ||
            json_object_set_new(status, "sockets", json_pack(
                    "{s:o, s:o}", "auth", socket_json(p->auth_server),
                    "userdb", socket_json(p->userdb_server))) < 0 ||
            json_object_set_new(status, "userdbLookups", json_pack(
                    "{s:I, s:I, s:I}", "user", (json_int_t) lookups.user_records,
                    "group", (json_int_t) lookups.group_records,
                    "memberships", (json_int_t) lookups.memberships)) < 0 ||
            json_object_set_new(status, "nssLookups", json_pack(
                    "{s:I, s:I, s:I, s:o}", "offLoop", (json_int_t) names.off_loop,
                    "onLoop", (json_int_t) names.on_loop, "failed", (json_int_t) names.failed,
                    "latency", histogram_json(&names.latency))) < 0)
                return -ENOMEM;
        return 0;
}
