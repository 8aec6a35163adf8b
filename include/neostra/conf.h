/* SPDX-License-Identifier: MIT */
/*
 * /etc/neostra/neostrad.conf: INI ([section], key = value, '#' or ';'
 * comments, one setting per line) plus drop-ins <file>.d/<name>.conf read in
 * lexical order after the main file; a later file's value replaces an
 * earlier one, lists and [groups] entries included, while a key set twice in
 * the same file is an error.  Unknown sections and keys are errors.  Every
 * error names file:line.  The daemon uses all of it; the PAM module reads only [users]
 * to decide, without a round trip, which names are never ours.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Whoever reads the config also checks names against it (exclude,
 * local_accounts, domains, email_template, home), so the name rules come
 * with this header. */
#include "neostra/names.h"

#define NEOSTRA_CONF_LINE_MAX   4096u   /* bytes in one line */
#define NEOSTRA_CONF_FILE_MAX   (1024u * 1024u)
#define NEOSTRA_CONF_DROPINS_MAX 128u
#define NEOSTRA_CONF_LIST_MAX   256u    /* entries in one list value */

struct neostra_strv {
        char **v;
        size_t n;
};

struct neostra_group_map {
        char *role;
        struct neostra_strv groups;     /* local group names, in order */
};

struct neostra_config {
        char *path;                       /* main file as given */

        /* [api] */
        char *api_url;                    /* https://, or http:// to loopback only; NULL: not configured */
        char *signin_path;                /* "/api/v1/auth/signin" */
        uint64_t connect_timeout_ms;      /* 3000 */
        uint64_t timeout_ms;              /* 10000; <= NEOSTRA_API_TIMEOUT_MAX_MS */
        char *ca_file;                    /* NULL: system store */
        char *pinned_public_key;          /* NULL, or "sha256//..." (curl syntax) */
        char *refresh_path;               /* NULL: tokens are not refreshed */

        /* [users] */
        char *email_template;             /* "%u"; %u exactly once, "%%" a percent sign (see conf-keys.c) */
        uid_t minimum_uid;                /* 1000 */
        struct neostra_strv exclude;      /* names never sent; root always implied */
        struct neostra_strv local_accounts; /* local accounts the API may sign in; "*": every one */
        struct neostra_strv domains;      /* accepted domains of names with '@'; v == NULL (never
                                           * set): the domain of email_template, or none */

        /* [access] */
        struct neostra_strv allow_roles;  /* empty: any API user */
        uint64_t account_max_age_ms;      /* 7 days: oldest online proof an answer may rest on */

        /* [groups] */
        struct neostra_group_map *groups;
        size_t n_groups;

        /* [identities] */
        bool userdb;                      /* true */
        uid_t uid_min, uid_max;           /* 200000, 299999 */
        char *home;                       /* "/home/%u" */
        char *shell;                      /* "/bin/bash" */
        bool first_login;                 /* true */

        /* [cache] */
        char *cache_directory;            /* "/var/lib/neostra" */
        bool offline;                     /* true */
        uint64_t offline_max_age_ms;      /* 7 days */
        uint64_t offline_after_ms;        /* 5000 */
        uint64_t cached_auth_timeout_ms;  /* 0 = off */
        unsigned max_failures;            /* 5 */

        /* [daemon] */
        char *socket_path;                /* NEOSTRA_DEFAULT_SOCKET */
        char *userdb_socket_path;         /* NEOSTRA_DEFAULT_USERDB_SOCKET */
        char *user;                       /* "neostra"; "root" or empty: keep the starting user */

        /* Where each value came from (neostra_config_origin); NULL for a
         * config that was not read from files. */
        struct neostra_config_origin *origin;
};

/* A config with every default filled in and no api_url. */
int neostra_config_new_default(struct neostra_config **ret);

/*
 * Load path (NULL: NEOSTRA_DEFAULT_CONFIG) and its drop-ins on top of the
 * defaults and validate the result.  On error returns a negative errno,
 * leaves *ret alone and writes one line "file:line: message" (or "file:
 * message") into err (which may be NULL).  When require_safe_owner is set,
 * a file (or drop-in directory) that is not owned by root or is
 * group/world-writable is refused (-EPERM), as the PAM module must not take
 * policy from a file a user could have written.
 */
int neostra_config_load(const char *path, bool require_safe_owner,
                        struct neostra_config **ret, char *err, size_t errlen);

void neostra_config_free(struct neostra_config *c);

/*
 * Where the value of KEY in [SECTION] came from ([groups]: KEY is the
 * role): the file (one of those neostra_config_files() lists) and line.
 * False when the key has its default.
 */
bool neostra_config_origin(const struct neostra_config *c, const char *section, const char *key,
                           const char **ret_file, unsigned *ret_line);

/* The files read, in order: the main one, then the drop-ins. */
size_t neostra_config_files(const struct neostra_config *c, const char *const **ret);

/* Parse a duration: "10", "10s", "250ms", "5m", "2h", "7d" → milliseconds. */
int neostra_parse_duration_ms(const char *s, uint64_t *ret);
/* Parse yes/no/true/false/on/off/1/0. */
int neostra_parse_bool(const char *s, bool *ret);

/* true when name is in [users] exclude, or is "root". */
bool neostra_user_excluded(const struct neostra_config *c, const char *name);

/* getpwnam_r of name through NSS: 1 found (*ret_uid set), 0 not found, <0
 * cannot tell (common/policy.c).  In the daemon NSS never sees neostrad's
 * own records (SYSTEMD_BYPASS_USERDB), so "found" there means a local
 * source: files, LDAP, SSSD. */
int neostra_local_lookup(const char *name, uid_t *ret_uid);
/* The same for getgrnam_r (*ret_gid) and getpwuid_r (*ret_name, to free). */
int neostra_local_group_lookup(const char *name, gid_t *ret_gid);
int neostra_local_user_name(uid_t uid, char **ret_name);

/*
 * What a local account (one a source other than neostrad knows: files,
 * LDAP, SSSD) is to Neostra, by its uid and [users] local_accounts:
 *   SYSTEM    uid 0, below minimum_uid, or 65534 ("nobody"): never ours,
 *             whatever local_accounts says;
 *   UNLISTED  any other local account: not ours, so its password never
 *             reaches the API (whoever owns name@domain there must not
 *             log in as the local account);
 *   LISTED    named in local_accounts (or local_accounts = *): a host that
 *             pre-created accounts for Neostra users; the API may sign it in.
 * The module and the daemon both decide with it, so they draw the line in
 * the same place.
 */
enum neostra_local_class {
        NEOSTRA_LOCAL_SYSTEM,
        NEOSTRA_LOCAL_UNLISTED,
        NEOSTRA_LOCAL_LISTED,
};
enum neostra_local_class neostra_local_account_class(const struct neostra_config *c, const char *name,
                                                     uid_t uid, uid_t minimum_uid);
/* name is in [users] local_accounts, or local_accounts is "*". */
bool neostra_local_account_listed(const struct neostra_config *c, const char *name);

/*
 * name looked up in a passwd(5) file only (NEOSTRA_PASSWD_FILE), not
 * through NSS: 1 found (*ret_uid set), 0 not there, <0 the file cannot be
 * read.  The module's check before a call: root, daemons and the other
 * system accounts live there, and it costs one small file read where NSS
 * may walk drop-in directories or ask a userdb service (our own daemon for
 * a Neostra user).
 */
#define NEOSTRA_PASSWD_FILE "/etc/passwd"
int neostra_passwd_file_lookup(const char *path, const char *name, uid_t *ret_uid);

/* Whether a getpwnam_r/getgrnam_r result means "no such entry": NSS
 * modules say so with any of 0 (and no entry), ENOENT, ESRCH, EBADF or
 * EPERM; anything else means the lookup itself failed. */
bool neostra_nss_not_found(int r);
/* uid 0, a uid below minimum_uid, or the overflow uid 65534 ("nobody"). */
bool neostra_system_uid(uid_t uid, uid_t minimum_uid);

/*
 * The group names the roles map to through [groups], deduplicated, in table
 * order.  Roles the table does not name map to nothing.  Returns 0 and a
 * NULL-terminated strv (possibly empty, never v == NULL) whose strings
 * borrow from c (free only ret->v), or -ENOMEM.
 */
int neostra_groups_for_roles(const struct neostra_config *c, const char *const *roles,
                             size_t n_roles, struct neostra_strv *ret);

/* true when allow_roles is empty or one of roles is in it. */
bool neostra_roles_allowed(const struct neostra_strv *allow_roles,
                           const char *const *roles, size_t n_roles);

/* Free every string and the vector, leave *s empty; accepts NULL. */
void neostra_strv_free(struct neostra_strv *s);
