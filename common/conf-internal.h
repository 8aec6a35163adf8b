/* SPDX-License-Identifier: MIT */
/*
 * What the files of the config reader share and nothing else sees:
 * conf.c (the config as an object), conf-keys.c (the key table and the
 * parser of each value), conf-load.c (reading the files, and the checks
 * after it) and unit-file.c (the few settings of the systemd units that
 * --test-config reads).
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "neostra/conf.h"

#define streq(a, b) (strcmp((a), (b)) == 0)
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Durations end up as microseconds on the sd-event loop; keep that
 * conversion overflow-free for every value we accept. */
#define DURATION_MAX_MS (UINT64_MAX / 1000u)

static inline void strv_clear(struct neostra_strv *s)
{
        size_t i;

        if (!s)
                return;
        if (s->v)
                for (i = 0; i < s->n; i++)
                        free(s->v[i]);
        free(s->v);
        s->v = NULL;
        s->n = 0;
}

/* s without the blanks (spaces, tabs) at either end, in place. */
static inline char *conf_trim(char *s)
{
        size_t n;

        while (*s == ' ' || *s == '\t')
                s++;
        n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
        return s;
}

static inline int replace_string(char **field, const char *value)
{
        char *copy = NULL;

        if (value) {
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

/* ---- the key table (conf-keys.c) ----------------------------------------- */

/*
 * A parser checks one value and stores it in the field at k->offset.  On a
 * bad value it returns a negative errno and leaves the field alone, with a
 * human explanation in msg (the caller adds file, line, section and key).
 */
struct key_def;
typedef int (*value_parser)(const struct key_def *k, const char *value, void *field,
                            char *msg, size_t msglen);

struct key_def {
        int section;
        const char *name;
        value_parser parse;
        size_t offset;
        unsigned long long min, max;    /* numbers and durations */
};

enum {
        SECTION_API,
        SECTION_USERS,
        SECTION_ACCESS,
        SECTION_GROUPS,
        SECTION_IDENTITIES,
        SECTION_CACHE,
        SECTION_DAEMON,
        N_SECTIONS,
};

/* Indexes into conf_keys[] that the cross-key checks need to point at. */
enum {
        K_URL,
        K_CONNECT_TIMEOUT,
        K_TIMEOUT,
        K_MINIMUM_UID,
        K_UID_MIN,
        K_UID_MAX,
        K_SOCKET,
        K_USERDB_SOCKET,
        K_OTHER,
};

/* The number of entries in conf_keys[]: the reader keeps, per key, where it
 * was set.  conf-keys.c checks at compile time that the table has exactly
 * this many, so a new key also changes this number. */
#define N_KEYS 29

/* Where a setting came from: files[file], line; line 0 = the default. */
struct conf_loc {
        unsigned file;
        unsigned line;
};

/* What neostra_config_load() keeps of the reading (conf.h's origin). */
struct neostra_config_origin {
        char **files;
        unsigned n_files;
        struct conf_loc key_loc[N_KEYS];
        struct conf_loc *group_loc;     /* parallel to the config's groups */
};

void conf_origin_free(struct neostra_config_origin *o);

extern const struct key_def conf_keys[];
extern const char *const conf_section_names[N_SECTIONS];

/*
 * Split a list value on blanks and commas into a new strv, checking every
 * entry with valid().  An empty value is an empty list.
 */
int conf_split_list(const char *value, bool (*valid)(const char *), const char *what,
                    struct neostra_strv *ret, char *msg, size_t msglen);
