/* SPDX-License-Identifier: MIT */
/* The io.neostra.Auth methods on the auth socket (auth-methods.c). */
#pragma once

#include <jansson.h>

#include "api.h"
#include "cache.h"
#include "decisions.h"
#include "localnames.h"
#include "login.h"
#include "neostra/conf.h"
#include "nss-park.h"
#include "online.h"
#include "ratelimit.h"
#include "revalidate.h"
#include "userdb.h"
#include "users.h"
#include "varlink-server.h"
#include "writeback.h"

typedef struct AuthMethods AuthMethods;

/* What the methods answer from and act on (borrowed; they outlive it). */
struct auth_deps {
        struct neostra_config *const *config;   /* the manager's: a reload replaces it */
        struct user_table *users;
        Cache *const *cache;                    /* NULL inside: running without one */
        WriteBack *writeback;
        Online *online;
        Logins *logins;
        UserDb *userdb;
        LocalNames *localnames;
        NamesPark *park;
        RateLimit *ratelimit;
        Decisions *decisions;
        Revalidator *revalidator;               /* token refreshes */
        /* GetStatus's reply parameters: the daemon's figures (full: all of
         * them, for root; else the API state and the version only). */
        json_t *(*status)(void *userdata, bool full);
        void *status_userdata;
};

int auth_methods_new(const struct auth_deps *deps, AuthMethods **ret);
AuthMethods *auth_methods_free(AuthMethods *m);

/* Registered with an AuthMethods as userdata. */
extern const struct varlink_interface auth_interface;
