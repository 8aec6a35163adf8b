/* SPDX-License-Identifier: MIT */
/*
 * Which names are ours, decided in the module without a round trip where it
 * can be: root, the names [users] exclude lists, names with '@' in a
 * domain [users] domains does not accept, and the accounts of /etc/passwd
 * (system accounts always; the others unless [users] local_accounts lists
 * them) are never sent to the daemon.  A name /etc/passwd does not have
 * may still be an account of another NSS source (LDAP, SSSD) or one
 * neostrad publishes itself, and NSS here sees both alike (nss-systemd
 * asks neostrad), so the daemon decides those: it looks them up without
 * its own records and answers NotOurUser for another source's account.
 * The daemon's config and each lookup's result are kept in the PAM handle,
 * so the steps of one transaction read and look up once.
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

/* Where the module looks a name up. */
enum lookup {
        LOOKUP_FILES,   /* /etc/passwd alone */
        LOOKUP_NSS,     /* every NSS source, neostrad's records included */
};

/* ---- the daemon's config ------------------------------------------------- */

struct config_data {
        char *path;
        struct neostra_config *config;  /* the built-in defaults when !known */
        bool known;                     /* the file was read */
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
 * built-in defaults: minimum_uid 1000 and root excluded.  *ret_known says
 * whether the file itself was read: without it, what only the file can say
 * (local_accounts, domains) is left to the daemon, which has its own copy
 * and applies the same rules before anything reaches the API.
 */
static const struct neostra_config *get_config(struct ctx *c, bool *ret_known) {
        const void *p = NULL;
        struct config_data *d;
        char err[512];
        int r;

        *ret_known = false;
        if (pam_get_data(c->pamh, DATA_CONFIG, &p) == PAM_SUCCESS && p) {
                const struct config_data *old = p;

                if (strcmp(old->path, c->args.config_path) == 0) {
                        *ret_known = old->known;
                        return old->config;
                }
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
        if (r >= 0)
                d->known = true;
        else {
                /* A locker running as the user cannot read the 0640 config;
                 * the daemon applies the same policy again, so that case is
                 * expected and only worth a debug line. */
                if (r == -EACCES && geteuid() != 0) {
                        if (c->args.debug)
                                pam_syslog(c->pamh, LOG_DEBUG, "cannot read %s, using default policy: %s",
                                           d->path, err[0] ? err : strerror(-r));
                } else
                        pam_syslog(c->pamh, LOG_ERR,
                                   "cannot use %s, using default policy (minimum_uid %u, root excluded; "
                                   "neostrad decides the rest): %s",
                                   d->path, DEFAULT_MINIMUM_UID, err[0] ? err : strerror(-r));
                d->config = NULL;
                (void) neostra_config_new_default(&d->config);
        }

        if (pam_set_data(c->pamh, DATA_CONFIG, d, config_data_free) != PAM_SUCCESS) {
                /* Nowhere to keep it: fall back to the built-in defaults. */
                config_data_free(c->pamh, d, 0);
                return NULL;
        }
        *ret_known = d->known;
        return d->config;
}

/* ---- looking a name up ----------------------------------------------------- */

/* At most one lookup of each kind per transaction: the steps ask about the
 * same name. */
#define LOCAL_UNKNOWN INT_MIN

struct local_data {
        char *user;
        int result[2];          /* by enum lookup: 1 found, 0 not, or LOCAL_UNKNOWN */
        uid_t uid[2];
};

static void local_data_free(pam_handle_t *pamh, void *data, int error_status) {
        struct local_data *d = data;

        if (!d)
                return;
        free(d->user);
        free(d);
}

/* 1 when c->user is found that way (*ret_uid set), 0 when not, <0 when the
 * lookup failed. */
static int local_lookup(struct ctx *c, enum lookup how, uid_t *ret_uid) {
        const void *p = NULL;
        struct local_data *d = NULL;
        uid_t uid = 0;
        int r;

        if (pam_get_data(c->pamh, DATA_LOCAL, &p) == PAM_SUCCESS && p) {
                struct local_data *old = (struct local_data *) p;

                if (strcmp(old->user, c->user) == 0) {
                        if (old->result[how] != LOCAL_UNKNOWN) {
                                *ret_uid = old->uid[how];
                                return old->result[how];
                        }
                        d = old;
                }
        }
        if (how == LOOKUP_FILES)
                r = neostra_passwd_file_lookup(NEOSTRA_PASSWD_FILE, c->user, &uid);
        else
                r = neostra_local_lookup(c->user, &uid);
        if (r < 0)
                return r;       /* a failure is asked again next time */
        *ret_uid = uid;
        if (d) {
                d->result[how] = r;
                d->uid[how] = uid;
                return r;
        }
        d = calloc(1, sizeof(*d));
        if (d && (d->user = strdup(c->user))) {
                d->result[LOOKUP_FILES] = d->result[LOOKUP_NSS] = LOCAL_UNKNOWN;
                d->result[how] = r;
                d->uid[how] = uid;
                if (pam_set_data(c->pamh, DATA_LOCAL, d, local_data_free) == PAM_SUCCESS)
                        return r;
        }
        local_data_free(c->pamh, d, 0);
        return r;
}

/* Whether neostrad could have published an account with this uid: only
 * in [identities] uid_min..uid_max, and only with userdb on. */
static bool may_be_published(const struct neostra_config *conf, uid_t uid) {
        return conf->userdb && uid >= conf->uid_min && uid <= conf->uid_max;
}

/* ---- which names are ours ------------------------------------------------- */

static enum user_class local_account(struct ctx *c, const struct neostra_config *conf, bool known,
                                     uid_t uid, const char *where) {
        switch (neostra_local_account_class(conf, c->user, uid, c->minimum_uid)) {
        case NEOSTRA_LOCAL_SYSTEM:
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "local system account (%s, below minimum_uid %u); user=%s",
                                   where, (unsigned) c->minimum_uid, c->user);
                return USER_NOT_OURS;
        case NEOSTRA_LOCAL_UNLISTED:
                /* Without the config the daemon decides: it has its own
                 * copy of local_accounts and never sends an account it
                 * does not list to the API. */
                if (!known)
                        return USER_OURS;
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "local account (%s) not in [users] local_accounts; user=%s",
                                   where, c->user);
                return USER_NOT_OURS;
        case NEOSTRA_LOCAL_LISTED:
        default:
                return USER_OURS;
        }
}

enum user_class classify_user(struct ctx *c) {
        const struct neostra_config *conf;
        bool known;
        uid_t uid = 0;
        int r;

        conf = get_config(c, &known);
        if (strcmp(c->user, "root") == 0 || neostra_user_excluded(conf, c->user)) {
                if (c->args.debug)
                        pam_syslog(c->pamh, LOG_DEBUG, "excluded by policy; user=%s", c->user);
                return USER_NOT_OURS;
        }
        c->minimum_uid = c->args.have_minimum_uid ? c->args.minimum_uid
                         : conf ? conf->minimum_uid : DEFAULT_MINIMUM_UID;

        if (known && !neostra_domain_accepted(conf, c->user))
                return USER_FOREIGN_DOMAIN;

        r = local_lookup(c, LOOKUP_FILES, &uid);
        if (r > 0)
                return local_account(c, conf, known, uid, NEOSTRA_PASSWD_FILE);
        if (r == 0)
                return USER_OURS;       /* the daemon decides what only NSS knows */

        /* An unreadable /etc/passwd: NSS may still know.  It sees
         * neostrad's own records too, so an account in the range neostrad
         * publishes is left to the daemon. */
        pam_syslog(c->pamh, LOG_WARNING, "cannot read %s: %s; asking NSS; user=%s",
                   NEOSTRA_PASSWD_FILE, strerror(-r), c->user);
        r = local_lookup(c, LOOKUP_NSS, &uid);
        if (r < 0) {
                pam_syslog(c->pamh, LOG_ERR, "cannot look up local account: %s; user=%s",
                           strerror(-r), c->user);
                return USER_LOOKUP_FAILED;
        }
        if (r == 0 || (conf && may_be_published(conf, uid) && !neostra_system_uid(uid, c->minimum_uid)))
                return USER_OURS;
        return local_account(c, conf, known, uid, "NSS");
}

/*
 * For when the daemon cannot be reached: only /etc/passwd was read before
 * the call, so ask NSS whether another source (LDAP, SSSD) has the name,
 * which the daemon would have answered NotOurUser for: a system account,
 * or an account neostrad cannot have published (a uid outside
 * [identities] uid_min..uid_max) that local_accounts does not list.  Not
 * a name NSS does not find, nor one whose lookup fails, nor one in
 * neostrad's range (NSS here sees neostrad's records too): those may be
 * ours.  And not for an answer of the daemon's, ServiceUnavailable
 * included: it either looked the name up and found it ours (the API is
 * away), or its own NSS lookups failed, which ours would repeat.
 */
bool not_ours_by_nss(struct ctx *c) {
        const struct neostra_config *conf;
        bool known;
        uid_t uid = 0;

        if (local_lookup(c, LOOKUP_NSS, &uid) <= 0)
                return false;
        conf = get_config(c, &known);
        if (!conf)
                return neostra_system_uid(uid, c->minimum_uid);
        if (!neostra_system_uid(uid, c->minimum_uid) && may_be_published(conf, uid))
                return false;
        /* An unreadable config lists no local account: such an account is
         * then left to the rest of the stack, which grants nothing. */
        return local_account(c, conf, true, uid, "NSS") == USER_NOT_OURS;
}
