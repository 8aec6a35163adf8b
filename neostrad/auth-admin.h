/* SPDX-License-Identifier: MIT */
/*
 * Two root-only io.neostra.Auth methods (auth-methods.c lists them in its
 * table, which checked the caller and the parameters): ListUsers, the
 * cached users a page at a time, and Probe, the API asked now.
 */
#pragma once

#include "auth-methods.h"

/* Users per ListUsers page at most; each page is also bounded in bytes
 * (below NEOSTRA_MESSAGE_MAX). */
#define AUTH_LIST_PAGE_MAX   256u
/* Roles shown per user in a listing (GetUser shows them all). */
#define AUTH_LIST_ROLES_MAX  16u

/* The users whose names sort (bytewise) after after (NULL: from the
 * first), in order; "next" when more follow. */
int auth_admin_list_users(VarlinkConn *c, const struct auth_deps *d, const char *after);

/* Probe the API now and answer with what came of it (online.h). */
int auth_admin_probe(VarlinkConn *c, const struct auth_deps *d);
