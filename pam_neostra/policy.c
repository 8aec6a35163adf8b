/* SPDX-License-Identifier: MIT */
/*
 * Which names are ours, decided in the module without a round trip: root,
 * the names [users] exclude lists, and the local system accounts below
 * minimum_uid are never sent to the daemon.  The daemon's config and each
 * lookup's result are kept in the PAM handle, so auth and account, which
 * ask about the same name, read and look up once.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "module.h"
#include "neostra/conf.h"

#define DEFAULT_MINIMUM_UID 1000u

/* ---- policy: which names are ours --------------------------------------- */

struct config_data {
        char *path;
        struct neostra_config *config;  /* NULL: built-in defaults */
};

static void config_data_free(pam_handle_t *pamh, void *data, int error_status) {
        struct config_data *d = data;

        if (!d)
                return;
        neostra_config_free(d->config);
        free(d->path);
        free(d);
}

/*
 * The daemon's [users] policy, read once per PAM handle (so a broken config
 * is logged once per login, not once per stack line).  NULL means the
 * built-in defaults: minimum_uid 1000 and root excluded.
 */
static const struct neostra_config *get_config(struct ctx *c) {
        const void *p = NULL;
        struct config_data *d;
        char err[512];
        int r;

        if (pam_get_data(c->pamh, DATA_CONFIG, &p) == PAM_SUCCESS && p) {
                const struct config_data *old = p;

                if (strcmp(old->path, c->args.config_path) == 0)
                        return old->config;
        }

        d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        d->path = strdup(c->args.config_path);
        if (!d->path) {
                free(d);
                return NULL;
        }

        r = neostra_config_load(d->path, true, &d->config, err, sizeof(err));
        if (r < 0) {
                /* A locker running as the user cannot read the 0640 config;
                 * the daemon applies the same policy again, so that case is
                 * expected and only worth a debug line. */
                if (r == -EACCES && geteuid() != 0) {
                        if (c->args.debug)
                                pam_syslog(c->pamh, LOG_DEBUG, "cannot read %s, using default policy: %s",
                                           d->path, err[0] ? err : strerror(-r));
                } else
                        pam_syslog(c->pamh, LOG_ERR,
                                   "cannot use %s, using default policy (minimum_uid %u, root excluded): %s",
                                   d->path, DEFAULT_MINIMUM_UID, err[0] ? err : strerror(-r));
                d->config = NULL;
                (void) neostra_config_new_default(&d->config);
        }

        if (pam_set_data(c->pamh, DATA_CONFIG, d, config_data_free) != PAM_SUCCESS) {
                /* Nowhere to keep it: fall back to the built-in defaults. */
                config_data_free(c->pamh, d, 0);
                return NULL;
        }
        return d->config;
}

/* At most one lookup of each kind per transaction: auth and account ask
 * about the same name. */
#define LOCAL_UNKNOWN INT_MIN

struct local_data {
        char *user;
        uid_t minimum_uid;
        int result[2];          /* by enum lookup: 0 or 1, or LOCAL_UNKNOWN */
};

static void local_data_free(pam_handle_t *pamh, void *data, int error_status) {
        struct local_data *d = data;

        if (!d)
                return;
        free(d->user);
        free(d);
}

/* 1 when c->user is a system account by that lookup, 0 when not (or not
 * there), <0 when the lookup failed. */
static int local_system_account(struct ctx *c, enum lookup how) {
        const void *p = NULL;
        struct local_data *d = NULL;
        uid_t uid;
        int r;

        if (pam_get_data(c->pamh, DATA_LOCAL, &p) == PAM_SUCCESS && p) {
                struct local_data *old = (struct local_data *) p;

                if (old->minimum_uid == c->minimum_uid && strcmp(old->user, c->user) == 0) {
                        if (old->result[how] != LOCAL_UNKNOWN)
                                return old->result[how];
                        d = old;
                }
        }
        if (how == LOOKUP_FILES) {
                r = neostra_passwd_file_lookup(NEOSTRA_PASSWD_FILE, c->user, &uid);
                if (r > 0)
                        r = neostra_system_uid(uid, c->minimum_uid);
        } else
                r = neostra_local_system_account(c->user, c->minimum_uid);
        if (r < 0)
                return r;       /* a failure is asked again next time */
        if (d) {
                d->result[how] = r;
                return r;
        }
        d = calloc(1, sizeof(*d));
        if (d && (d->user = strdup(c->user))) {
                d->minimum_uid = c->minimum_uid;
                d->result[LOOKUP_FILES] = d->result[LOOKUP_NSS] = LOCAL_UNKNOWN;
                d->result[how] = r;
                if (pam_set_data(c->pamh, DATA_LOCAL, d, local_data_free) == PAM_SUCCESS)
                        return r;
        }
        local_data_free(c->pamh, d, 0);
        return r;
}

/* Excluded names and local system accounts are never ours. */
enum user_class classify_user(struct ctx *c, enum lookup how) {
        const struct neostra_config *conf = get_config(c);
        int r;

        if (strcmp(c->user, "root") == 0 || neostra_user_excluded(conf, c->user)) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "excluded by policy; user=%s", c->user);
                return USER_NOT_OURS;
        }

        c->minimum_uid = c->args.have_minimum_uid ? c->args.minimum_uid
                         : conf ? conf->minimum_uid : DEFAULT_MINIMUM_UID;
        r = local_system_account(c, how);
        if (r < 0 && how == LOOKUP_FILES) {
                /* An unreadable /etc/passwd: NSS may still know. */
                pam_syslog(c->pamh, LOG_WARNING, "cannot read %s: %s; asking NSS; user=%s",
                           NEOSTRA_PASSWD_FILE, strerror(-r), c->user);
                r = local_system_account(c, LOOKUP_NSS);
        }
        if (r < 0) {
                pam_syslog(c->pamh, LOG_ERR, "cannot look up local account: %s; user=%s",
                           strerror(-r), c->user);
                return USER_LOOKUP_FAILED;
        }
        if (r > 0) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "local system account (below minimum_uid %u); user=%s",
                                   (unsigned) c->minimum_uid, c->user);
                return USER_NOT_OURS;
        }
        return USER_OURS;
}

/*
 * For when the daemon cannot be reached: only /etc/passwd was read before
 * the call, so ask NSS whether another source (LDAP, SSSD) knows the name
 * as a system account, which the daemon would have answered NotOurUser
 * for.  Not for an answer of the daemon's, ServiceUnavailable included:
 * it either looked the name up and found it ours (the API is away), or
 * its own NSS lookups failed, which ours would repeat.
 */
bool system_account_by_nss(struct ctx *c) {
        if (local_system_account(c, LOOKUP_NSS) <= 0)
                return false;
        if (c->args.debug)
                pam_syslog(c->pamh, LOG_DEBUG, "local system account (NSS, below minimum_uid %u); user=%s",
                           (unsigned) c->minimum_uid, c->user);
        return true;
}
