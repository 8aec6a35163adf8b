/* SPDX-License-Identifier: MIT */
/*
 * neostractl status and probe: the daemon's and the API's state, short and
 * aligned for people, whole as JSON for scripts, and an exit code a
 * monitoring check can use (neostractl.h): 5 unconfigured, 6 API offline,
 * 7 last reload failed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "neostra/protocol.h"
#include "neostractl.h"

#define LABEL_WIDTH 14

static void label(const char *name) {
        printf("%-*s", LABEL_WIDTH, name);
}

static const char *str_of(json_t *obj, const char *key) {
        return json_string_value(json_object_get(obj, key));
}

static long long int_of(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);

        return json_is_integer(v) ? (long long) json_integer_value(v) : 0;
}

/* "2026-12-07 01:02:03 UTC (5 min ago)", or "never". */
static void print_when(long long t) {
        char date[64], age[96];
        time_t tt = (time_t) t;
        struct tm tm;

        format_age(t, age, sizeof(age));
        if (t <= 0 || !localtime_r(&tt, &tm) || strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", &tm) == 0) {
                fputs(age, stdout);
                return;
        }
        printf("%s (%s)", date, age);
}

/* The exit code the reply stands for: the first of 5, 6, 7 that holds. */
static int status_exit(json_t *reply) {
        const char *state = str_of(reply, "state");
        json_t *reload = json_object_get(reply, "lastReload");

        if (state && strcmp(state, "unconfigured") == 0)
                return EXIT_UNCONFIGURED;
        if (state && strcmp(state, "offline") == 0)
                return EXIT_API_OFFLINE;
        if (json_is_false(json_object_get(reload, "ok")))
                return EXIT_RELOAD_FAILED;
        return EXIT_OK;
}

static void print_state(json_t *reply, bool full) {
        const char *state = str_of(reply, "state");

        label("state:");
        print_safe(stdout, state);
        if (strcmp(state, "unconfigured") == 0)
                fputs(": [api] url is not set; every login goes on to the next PAM module", stdout);
        else if (strcmp(state, "unknown") == 0)
                fputs(" (no API answer yet; `neostractl probe` asks now)", stdout);
        if (full) {
                fputs(", since ", stdout);
                print_when(int_of(reply, "since"));
        }
        fputc('\n', stdout);
}

/* Root's reply: the rest. */
static void print_full(json_t *reply) {
        json_t *reload = json_object_get(reply, "lastReload"), *logins = json_object_get(reply, "logins");
        const char *url = str_of(reply, "apiUrl"), *error = str_of(reload, "error");

        label("config:");
        print_safe(stdout, str_of(reply, "configFile") ? str_of(reply, "configFile") : "?");
        fputc('\n', stdout);
        label("last reload:");
        if (!json_is_object(reload))
                fputs("(not reported by this neostrad)", stdout);
        else if (int_of(reload, "time") <= 0)
                fputs("none since the start", stdout);
        else {
                fputs(json_is_false(json_object_get(reload, "ok")) ? "FAILED " : "ok, ", stdout);
                print_when(int_of(reload, "time"));
                if (json_is_false(json_object_get(reload, "ok"))) {
                        fputs(": ", stdout);
                        print_safe(stdout, error ? error : "?");
                        fputs("; the configuration before it still runs", stdout);
                }
        }
        fputc('\n', stdout);
        label("API:");
        print_safe(stdout, url ? url : json_object_get(reply, "apiUrl") ? "not configured"
                                                                          : "(not reported by this neostrad)");
        fputc('\n', stdout);
        print_state(reply, true);
        label("next probe:");
        if (int_of(reply, "nextProbe") > 0)
                print_when(int_of(reply, "nextProbe"));
        else
                fputs("none scheduled", stdout);
        fputc('\n', stdout);
        label("last latency:");
        printf("%lld ms\n", int_of(reply, "lastApiLatencyMs"));
        label("users:");
        printf("%lld cached", int_of(reply, "users"));
        if (json_is_true(json_object_get(reply, "cache")))
                printf(" (cache %lld bytes)\n", int_of(reply, "cacheBytes"));
        else
                fputs(" (no cache on disk: offline logins and restarts lose them)\n", stdout);
        label("logins:");
        printf("%lld ok (%lld offline, %lld cached), %lld refused, %lld unavailable, %lld not ours\n",
               int_of(logins, "success") + int_of(logins, "offlineSuccess") + int_of(logins, "cachedSuccess"),
               int_of(logins, "offlineSuccess"), int_of(logins, "cachedSuccess"),
               int_of(logins, "failure") + int_of(logins, "unknown") + int_of(logins, "deniedRole") +
                       int_of(logins, "deniedAccess") + int_of(logins, "rateLimited"),
               int_of(logins, "unavailable"), int_of(logins, "notOurs"));
        label("started:");
        print_when(int_of(reply, "started"));
        fputc('\n', stdout);
}

int neostractl_status(const struct options *o) {
        json_t *reply = NULL;
        char *error = NULL;
        bool full;
        int ret;

        ret = simple_call(o, NEOSTRA_METHOD_GET_STATUS, NULL, &error, &reply);
        if (ret != 0)
                return ret;
        if (error) {
                ret = print_error_answer(NEOSTRA_METHOD_GET_STATUS, error, reply);
                goto done;
        }
        if (!str_of(reply, "state") || !str_of(reply, "version")) {
                fprintf(stderr, "neostractl: invalid reply to GetStatus (state, version)\n");
                ret = EXIT_UNAVAILABLE;
                goto done;
        }
        /* Root gets the figures; anyone else the state and the version. */
        full = json_is_object(json_object_get(reply, "logins"));
        ret = status_exit(reply);
        if (o->json) {
                print_json(reply);
                goto done;
        }
        label("neostrad:");
        print_safe(stdout, str_of(reply, "version"));
        printf(" (protocol %lld)\n", int_of(reply, "protocol"));
        if (full)
                print_full(reply);
        else {
                print_state(reply, false);
                puts("(the rest is shown to root only)");
        }
done:
        fflush(stdout);
        json_decref(reply);
        free(error);
        return ret;
}

int neostractl_probe(const struct options *o) {
        json_t *reply = NULL;
        char *error = NULL;
        const char *state, *reason;
        bool answered;
        int ret;

        ret = simple_call(o, NEOSTRA_METHOD_PROBE, NULL, &error, &reply);
        if (ret != 0)
                return ret;
        if (error) {
                ret = print_error_answer(NEOSTRA_METHOD_PROBE, error, reply);
                goto done;
        }
        state = str_of(reply, "state");
        reason = str_of(reply, "reason");
        if (!state || !reason || !json_is_boolean(json_object_get(reply, "answered"))) {
                fprintf(stderr, "neostractl: invalid reply to Probe (state, answered, reason)\n");
                ret = EXIT_UNAVAILABLE;
                goto done;
        }
        answered = json_is_true(json_object_get(reply, "answered"));
        ret = answered ? EXIT_OK : EXIT_API_OFFLINE;
        if (o->json) {
                print_json(reply);
                goto done;
        }
        fputs(answered ? "API probe ok: " : "API probe failed: ", stdout);
        if (int_of(reply, "httpStatus") > 0)
                printf("HTTP %lld, ", int_of(reply, "httpStatus"));
        print_safe(stdout, reason);
        printf(", after %lld ms; state now ", int_of(reply, "latencyMs"));
        print_safe(stdout, state);
        fputc('\n', stdout);
done:
        fflush(stdout);
        json_decref(reply);
        free(error);
        return ret;
}
