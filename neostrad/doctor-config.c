/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, Config: the daemon's own loader and the host checks
 * of neostrad --test-config (conf-check.h: the daemon's user, files it
 * cannot read, ca_file, the cache directory, the units, what the PAM
 * module would refuse), each finding a line; the drop-ins that override
 * the main file and what each sets; and that the daemon's user is a
 * system account, the only owner of a socket clients trust.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor-internal.h"
#include "neostra/conf-check.h"
#include "neostra/transport.h"

#define DROPIN_KEYS_MAX 512u

static bool dropin_name(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0;
}

static int filter_dropin(const struct dirent *de) {
        return dropin_name(de);
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* "[api] url, timeout; [groups] admin" of one drop-in, into out. */
static void dropin_keys(const char *path, char *out, size_t size) {
        char line[512], section[64] = "";
        size_t len = 0;
        FILE *f = fopen(path, "re");
        bool first_in_section = true;

        out[0] = '\0';
        if (!f) {
                snprintf(out, size, "unreadable: %s", strerror(errno));
                return;
        }
        while (fgets(line, sizeof(line), f) && len + 1 < size) {
                char *s = line + strspn(line, " \t"), *eq;
                int k = 0;

                if (*s == '#' || *s == ';' || *s == '\n' || !*s)
                        continue;
                if (*s == '[') {
                        char *end = strchr(s, ']');

                        if (end && (size_t) (end - s) < sizeof(section)) {
                                memcpy(section, s, (size_t) (end - s) + 1);
                                section[end - s + 1] = '\0';
                                first_in_section = true;
                        }
                        continue;
                }
                eq = strchr(s, '=');
                if (!eq)
                        continue;
                while (eq > s && (eq[-1] == ' ' || eq[-1] == '\t'))
                        eq--;
                if (first_in_section)
                        k = snprintf(out + len, size - len, "%s%s %.*s", len ? "; " : "",
                                     section[0] ? section : "[?]", (int) (eq - s), s);
                else
                        k = snprintf(out + len, size - len, ", %.*s", (int) (eq - s), s);
                first_in_section = false;
                if (k < 0 || (size_t) k >= size - len)
                        break;
                len += (size_t) k;
        }
        fclose(f);
        if (!out[0])
                snprintf(out, size, "sets nothing");
}

static void check_dropins(struct doctor_ctx *d) {
        char dir[4096], list[3072] = "";
        struct dirent **names = NULL;
        size_t len = 0;
        int n, i;

        snprintf(dir, sizeof(dir), "%s.d", d->config_path);
        n = scandir(dir, &names, filter_dropin, compare_names);
        if (n < 0) {
                doctor_report(d, "dropins", DOCTOR_OK, NULL, "no drop-in directory %s: the main file is "
                              "all there is", dir);
                return;
        }
        for (i = 0; i < n; i++) {
                char path[8192], keys[DROPIN_KEYS_MAX];
                int k;

                snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
                dropin_keys(path, keys, sizeof(keys));
                if (len + 1 < sizeof(list)) {
                        k = snprintf(list + len, sizeof(list) - len, "%s%s (%s)", i ? ", " : "",
                                     names[i]->d_name, keys);
                        if (k > 0)
                                len += (size_t) k < sizeof(list) - len ? (size_t) k : sizeof(list) - len - 1;
                }
                free(names[i]);
        }
        free(names);
        if (n == 0)
                doctor_report(d, "dropins", DOCTOR_OK, NULL, "no drop-ins in %s", dir);
        else
                doctor_report(d, "dropins", DOCTOR_OK, NULL, "%d drop-in(s) in %s override the main file, "
                              "in this order: %s", n, dir, list);
}

/*
 * What `neostrad --test-config` finds on this host beyond the syntax
 * (conf-check.h), one line per finding: "FILE[:LINE]: error: MESSAGE;
 * FIX" or "... warning [NAME]: ...".  A line without either (the PAM
 * module's own complaint) is the context of the finding after it.
 */
static void check_host(struct doctor_ctx *d) {
        struct conf_check_result res = {};
        char *text = NULL, *line, *save = NULL, context[512] = "";
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f) {
                doctor_report(d, "test-config", DOCTOR_FAIL, NULL, "cannot run the checks of neostrad "
                              "--test-config: %m");
                return;
        }
        neostra_conf_check(d->config, f, &res);
        if (fclose(f) != 0 || !text) {
                free(text);
                doctor_report(d, "test-config", DOCTOR_FAIL, NULL, "cannot run the checks of neostrad "
                              "--test-config");
                return;
        }
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *err = strstr(line, ": error: "), *warn = strstr(line, ": warning ["), *msg, *fix;
                char name[64] = "";

                if (err && (!warn || err < warn)) {
                        *err = '\0';
                        msg = err + 9;
                } else if (warn) {
                        char *end = strstr(warn, "]: ");

                        if (!end) {
                                snprintf(context, sizeof(context), "%s; ", line);
                                continue;
                        }
                        *warn = '\0';
                        *end = '\0';
                        snprintf(name, sizeof(name), " (warning %s)", warn + 11);
                        msg = end + 3;
                } else {
                        snprintf(context, sizeof(context), "%s; ", line);
                        continue;
                }
                fix = strstr(msg, "; ");
                if (fix) {
                        *fix = '\0';
                        fix += 2;
                }
                doctor_report(d, "test-config", DOCTOR_FAIL, fix, "%s%s:%s %s", context, line, name, msg);
                context[0] = '\0';
        }
        free(text);
        if (res.errors + res.warnings == 0)
                doctor_report(d, "test-config", DOCTOR_OK, NULL, "neostrad --test-config finds nothing on this "
                              "host that stops or cripples the daemon or pam_neostra.so (users, files, ca_file, "
                              "cache directory, units)");
}

void doctor_check_config(struct doctor_ctx *d) {
        char fix[600];
        uid_t uid;
        gid_t gid;
        int r;

        if (!d->config) {
                if (access(d->config_path, F_OK) < 0)
                        snprintf(fix, sizeof(fix), "install the package's neostrad.conf (make install does) "
                                 "or pass the right one with -c FILE");
                else
                        snprintf(fix, sizeof(fix), "correct the line named, then check with neostrad "
                                 "--test-config -c %s", d->config_path);
                doctor_report(d, "load", DOCTOR_FAIL, fix, "%s", d->config_error);
                check_dropins(d);
                return;
        }
        doctor_report(d, "load", DOCTOR_OK, NULL, "%s loads%s%s", d->config_path,
                      d->config->api_url ? "; [api] url = " : "", d->config->api_url ? d->config->api_url : "");
        check_host(d);
        check_dropins(d);

        /* A missing user is a finding of check_host(); what it does not
         * say is that clients trust only a system account's socket. */
        r = doctor_service_user(d, &uid, &gid);
        if (r > 0 && uid == 0)
                doctor_report(d, "user", DOCTOR_OK, NULL, "[daemon] user is root: neostrad keeps the user "
                              "it is started as");
        else if (r > 0 && uid > NEOSTRA_CLIENT_SYSTEM_UID_MAX) {
                snprintf(fix, sizeof(fix), "make %s a system account (uid %u or below), as systemd-sysusers "
                         "does", d->config->user, NEOSTRA_CLIENT_SYSTEM_UID_MAX);
                doctor_report(d, "user", DOCTOR_FAIL, fix, "[daemon] user %s has uid %u, not a system account: "
                              "pam_neostra.so and neostractl refuse the sockets it owns", d->config->user,
                              (unsigned) uid);
        } else if (r > 0)
                doctor_report(d, "user", DOCTOR_OK, NULL, "[daemon] user %s exists (uid %u), a system account",
                              d->config->user, (unsigned) uid);
        else if (r < 0)
                doctor_report(d, "user", DOCTOR_FAIL, "see why NSS fails (nsswitch.conf passwd:)",
                              "cannot look up [daemon] user %s: %s", d->config->user, strerror(-r));
}
