/* SPDX-License-Identifier: MIT */
/*
 * The account verdict: whether the user's access still rests on an online
 * proof (access.h) and [access] allow_roles lets a user with these roles
 * log in, and the groups [groups] maps the roles to on this host.
 * CheckAccount answers it, and a successful Authenticate carries it too
 * (protocol.h), so the PAM module's account step needs no second call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "localnames.h"
#include "neostra/conf.h"
#include "userdb.h"
#include "users.h"

/* Whether u may log in, with why in reason (n bytes): its access must be
 * valid (access.h: an online proof younger than account_max_age, judged
 * at access_now()) and its roles allowed by [access] allow_roles. */
bool account_verdict(const struct neostra_config *config, const struct user_record *u, char *reason, size_t n);

/* ["role", ...] */
json_t *account_roles_json(char *const *roles, size_t n);

/* [{"name": "docker", "gid": 999}, ...] for the roles, through [groups]:
 * groups neostrad publishes with their stable gids, local ones as NSS
 * knows them.  Groups that do not exist are skipped with a warning; the
 * root group is never handed out. */
json_t *account_groups_json(const struct neostra_config *config, UserDb *db, LocalNames *localnames,
                            char *const *roles, size_t n_roles);
