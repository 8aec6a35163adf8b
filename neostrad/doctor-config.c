/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, Config: the daemon's own loader (what neostrad
 * --test-config runs), the stricter load the PAM module does, the
 * drop-ins that override the main file and what each sets, and what
 * would still stop the daemon after a valid config: a [daemon] user that
 * does not exist.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor-internal.h"
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

void doctor_check_config(struct doctor_ctx *d) {
        struct neostra_config *strict = NULL;
        char err[512], fix[600];
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
        doctor_report(d, "load", DOCTOR_OK, NULL, "%s is valid (the check neostrad --test-config makes)",
                      d->config_path);

        /* The module takes policy ([users]) only from root's files. */
        r = neostra_config_load(d->config_path, true, &strict, err, sizeof(err));
        if (r < 0)
                doctor_report(d, "owner", DOCTOR_FAIL, "chown root: and chmod go-w the file and its .d "
                              "directory", "pam_neostra.so refuses it: %s", err);
        else
                doctor_report(d, "owner", DOCTOR_OK, NULL, "owned by root and not writable by others, as "
                              "pam_neostra.so requires");
        neostra_config_free(strict);

        check_dropins(d);

        if (!d->config->api_url)
                doctor_report(d, "url", DOCTOR_FAIL, "set [api] url, e.g. url = https://api.neostra.example",
                              "[api] url is not set: every Neostra login is answered \"unavailable\"");
        else
                doctor_report(d, "url", DOCTOR_OK, NULL, "[api] url = %s", d->config->api_url);

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
                doctor_report(d, "user", DOCTOR_OK, NULL, "[daemon] user %s exists (uid %u)",
                              d->config->user, (unsigned) uid);
        else if (r == 0) {
                snprintf(fix, sizeof(fix), "create it (systemd-sysusers neostrad.conf, or useradd --system "
                         "%s), or set [daemon] user = root", d->config->user);
                doctor_report(d, "user", DOCTOR_FAIL, fix, "[daemon] user %s does not exist: neostrad "
                              "started as root will not start", d->config->user);
        } else
                doctor_report(d, "user", DOCTOR_FAIL, "see why NSS fails (nsswitch.conf passwd:)",
                              "cannot look up [daemon] user %s: %s", d->config->user, strerror(-r));
}
