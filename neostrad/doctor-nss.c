/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, NSS: with [identities] userdb = yes, Neostra users
 * and role groups reach getent, id, sshd and sudo only through
 * nss-systemd, so passwd, group and shadow in /etc/nsswitch.conf must all
 * list "systemd" (pam_unix's account step refuses a passwd entry without
 * a shadow entry), and no source before it may shadow it.
 *
 * "Shadow" means: a source listed before systemd whose criteria make a
 * NOTFOUND answer end the lookup ([NOTFOUND=return], or [!STATUS=return]
 * for any STATUS but NOTFOUND, which includes NOTFOUND), or make an
 * UNAVAIL answer end it (a source that is not running would then hide
 * every Neostra user).  glibc's defaults (SUCCESS=return, everything else
 * continue) never shadow.  A source that hangs also hides the rest: a
 * lookup of a name nobody has is timed, and must come back at once.
 */
#include <dlfcn.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "doctor-internal.h"
#include "neostra/transport.h"

#define NSSWITCH_PATH "/etc/nsswitch.conf"
#define NSS_LINE_MAX 1024
#define NSS_SLOW_MS 1000u
#define NSS_PROBE_NAME "neostra-doctor-no-such-user"

enum { ST_SUCCESS, ST_NOTFOUND, ST_UNAVAIL, ST_TRYAGAIN, N_ST };

/* Whether the criteria "[...]" (without brackets) make NOTFOUND or
 * UNAVAIL return; *why gets the item that does. */
static bool criteria_shadow(const char *crit, char *why, size_t size) {
        static const char *const names[N_ST] = { "success", "notfound", "unavail", "tryagain" };
        char copy[NSS_LINE_MAX], *tok, *save = NULL;
        bool returns[N_ST] = { true, false, false, false };
        int i;

        snprintf(copy, sizeof(copy), "%s", crit);
        for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                bool negate = tok[0] == '!';
                char *eq = strchr(tok, '=');
                bool ret;

                if (!eq)
                        continue;
                *eq = '\0';
                ret = strcasecmp(eq + 1, "return") == 0;
                for (i = 0; i < N_ST; i++) {
                        bool match = strcasecmp(tok + negate, names[i]) == 0;

                        if (match != negate)
                                returns[i] = ret;
                }
                *eq = '=';
                if ((returns[ST_NOTFOUND] || returns[ST_UNAVAIL]) && why[0] == '\0')
                        snprintf(why, size, "[%s]", tok);
        }
        return returns[ST_NOTFOUND] || returns[ST_UNAVAIL];
}

/*
 * The sources of database db: *has_systemd, and in shadow the source
 * (with the criterion) that hides systemd, or "".  Returns false when the
 * file has no line for db.
 */
static bool parse_database(FILE *f, const char *db, bool *has_systemd, char *shadow, size_t size,
                           char *line_out, size_t line_size) {
        char line[NSS_LINE_MAX];
        size_t dblen = strlen(db);

        *has_systemd = false;
        shadow[0] = '\0';
        rewind(f);
        while (fgets(line, sizeof(line), f)) {
                char *s = line + strspn(line, " \t"), *p, source[128] = "";

                s[strcspn(s, "#\n")] = '\0';
                if (strncmp(s, db, dblen) != 0 || s[dblen] != ':')
                        continue;
                /* For messages: one space between the words. */
                {
                        size_t o = 0;

                        for (const char *q = s; *q && o + 1 < line_size; q++)
                                if (!(*q == ' ' || *q == '\t') || (o > 0 && line_out[o - 1] != ' '))
                                        line_out[o++] = *q == '\t' ? ' ' : *q;
                        while (o > 0 && line_out[o - 1] == ' ')
                                o--;
                        line_out[o] = '\0';
                }
                p = s + dblen + 1;
                while (*p) {
                        p += strspn(p, " \t");
                        if (!*p)
                                break;
                        if (*p == '[') {
                                char *end = strchr(p, ']'), why[128] = "";

                                if (!end)
                                        break;
                                *end = '\0';
                                if (!*has_systemd && source[0] && !shadow[0] &&
                                    criteria_shadow(p + 1, why, sizeof(why)))
                                        snprintf(shadow, size, "%s %s", source, why);
                                p = end + 1;
                                continue;
                        }
                        size_t n = strcspn(p, " \t[");
                        snprintf(source, sizeof(source), "%.*s", (int) n, p);
                        if (strcmp(source, "systemd") == 0)
                                *has_systemd = true;
                        p += n;
                }
                return true;
        }
        return false;
}

static void check_database(struct doctor_ctx *d, FILE *f, const char *path, const char *db, bool *any_systemd) {
        char shadow[256], line[NSS_LINE_MAX] = "", check[32], fix[512];
        bool has_systemd;

        snprintf(check, sizeof(check), "%s", db);
        if (!parse_database(f, db, &has_systemd, shadow, sizeof(shadow), line, sizeof(line))) {
                snprintf(fix, sizeof(fix), "add \"%s: files systemd\" to %s", db, path);
                doctor_report(d, check, DOCTOR_FAIL, fix, "%s has no %s: line, so it does not "
                              "list systemd: Neostra users are invisible to %s lookups", path, db, db);
                return;
        }
        if (!has_systemd) {
                snprintf(fix, sizeof(fix), "add systemd to the %s: line, after files (Debian: apt install "
                         "libnss-systemd does it)", db);
                doctor_report(d, check, DOCTOR_FAIL, fix, "\"%s\" does not list systemd: Neostra users "
                              "and role groups are invisible to it", line);
                return;
        }
        *any_systemd = true;
        if (shadow[0]) {
                snprintf(fix, sizeof(fix), "remove the criterion, or put systemd before that source in the "
                         "%s: line", db);
                doctor_report(d, check, DOCTOR_FAIL, fix, "\"%s\": %s before systemd ends the lookup of a "
                              "name it does not have, so systemd is never asked", line, shadow);
                return;
        }
        doctor_report(d, check, DOCTOR_OK, NULL, "\"%s\"", line);
}

static void check_module(struct doctor_ctx *d) {
        void *h = dlopen("libnss_systemd.so.2", RTLD_LAZY | RTLD_LOCAL);

        if (!h) {
                doctor_report(d, "nss-systemd", DOCTOR_FAIL, "install it (Debian: apt install libnss-systemd)",
                              "nsswitch.conf lists systemd but libnss_systemd.so.2 is not installed");
                return;
        }
        dlclose(h);
        doctor_report(d, "nss-systemd", DOCTOR_OK, NULL, "libnss_systemd.so.2 is installed");
}

/* A name nobody has goes through every source: it must come back at once. */
static void check_speed(struct doctor_ctx *d) {
        struct passwd pw, *pres = NULL;
        struct group gr, *gres = NULL;
        char buf[8192];
        uint64_t start = neostra_now_usec(), ms;

        (void) getpwnam_r(NSS_PROBE_NAME, &pw, buf, sizeof(buf), &pres);
        (void) getgrnam_r(NSS_PROBE_NAME, &gr, buf, sizeof(buf), &gres);
        ms = (neostra_now_usec() - start) / 1000u;
        if (ms >= NSS_SLOW_MS)
                doctor_report(d, "speed", DOCTOR_FAIL, "find the slow source in nsswitch.conf (an LDAP or "
                              "SSSD server that does not answer) and fix or remove it",
                              "looking up a name nobody has took %llu ms: a source is slow or hangs, and "
                              "every login waits for it", (unsigned long long) ms);
        else
                doctor_report(d, "speed", DOCTOR_OK, NULL, "a lookup of a name nobody has takes %llu ms",
                              (unsigned long long) ms);
}

void doctor_check_nss(struct doctor_ctx *d) {
        doctor_check_nss_in(d, NSSWITCH_PATH);
}

void doctor_check_nss_in(struct doctor_ctx *d, const char *path) {
        bool userdb = d->config ? d->config->userdb : true, any_systemd = false;
        FILE *f;

        if (!userdb) {
                doctor_report(d, "userdb", DOCTOR_SKIP, NULL, "[identities] userdb = no: Neostra users are "
                              "not published, NSS is not asked about them");
                check_speed(d);
                return;
        }
        f = fopen(path, "re");
        if (!f) {
                doctor_report(d, "passwd", DOCTOR_FAIL, "restore it", "cannot read %s: %m", path);
                return;
        }
        check_database(d, f, path, "passwd", &any_systemd);
        check_database(d, f, path, "group", &any_systemd);
        check_database(d, f, path, "shadow", &any_systemd);
        fclose(f);
        if (any_systemd)
                check_module(d);
        check_speed(d);
}
