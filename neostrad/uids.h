/* SPDX-License-Identifier: MIT */
/*
 * The uids neostrad has handed out, for good: email (ASCII-lowercased, as
 * ids.c hashes it) to uid, in memory with an index both ways, loaded from
 * the cache's uids table (cache.h) and written there by userdb-ids.c the
 * moment one is given.  Forgetting a user (neostractl clear), invalidating
 * it or a 404 that deprovisions it leave its assignment here: the uid is
 * never given to anyone else, and the user gets it back at its next
 * sign-in.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef struct UidTable UidTable;

int uid_table_new(UidTable **ret);
UidTable *uid_table_free(UidTable *t);

/*
 * Remember that email has uid.  0; -EEXIST when email already has a uid or
 * uid already belongs to another email (the first assignment stays);
 * -EINVAL, -ENOMEM.  Also cache_load_uids()'s callback (userdata: the
 * table), which skips the clashes of a damaged table.
 */
int uid_table_add(UidTable *t, const char *email, uid_t uid);
int uid_table_load(const char *email, uid_t uid, void *userdata);

/* The uid of email, 0 when it has none. */
uid_t uid_table_get(const UidTable *t, const char *email);

/* true when uid is assigned to an email other than except (NULL: any). */
bool uid_table_taken(const UidTable *t, uid_t uid, const char *except);

size_t uid_table_size(const UidTable *t);
