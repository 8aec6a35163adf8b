/* SPDX-License-Identifier: MIT */
/*
 * neostrad: signs Linux logins in at the Neostra API for pam_neostra.so.
 *
 *   neostrad [-c FILE] [--debug] [--test-config [--strict]] [--version]
 *
 * Runs in the foreground (systemd Type=notify), socket-activated or binding
 * its own socket.  See manager.c for the server, api.c for the API client.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>

#include "alloc.h"
#include "log-ids.h"
#include "log.h"
#include "manager.h"
#include "neostra/conf-check.h"
#include "neostra/protocol.h"

static void help(void) {
        printf("Usage: neostrad [OPTIONS]\n\n"
               "Neostra login daemon for pam_neostra.so.\n\n"
               "  -c, --config FILE   configuration file, then the drop-ins FILE.d/*.conf\n"
               "                      (default " NEOSTRA_DEFAULT_CONFIG ")\n"
               "  -d, --debug         log debug messages\n"
               "  -t, --test-config   check the configuration and this host's set-up for it, and exit:\n"
               "                      1 on errors, 0 otherwise\n"
               "      --strict        with --test-config: exit 1 on warnings too\n"
               "  -V, --version       print the version and exit\n"
               "  -h, --help          this text\n");
}

/* --test-config: the findings on stderr (conf-check.h), a summary on
 * stdout; 1 on errors, and on warnings with --strict. */
static int test_config_report(const struct neostra_config *config, const char *path, bool strict) {
        struct conf_check_result res;

        neostra_conf_check(config, stderr, &res);
        if (res.errors > 0) {
                printf("%s: %u error(s), %u warning(s)\n", path, res.errors, res.warnings);
                return 1;
        }
        if (res.warnings == 0) {
                printf("%s: configuration ok\n", path);
                return 0;
        }
        if (strict) {
                printf("%s: %u warning(s), refused by --strict\n", path, res.warnings);
                return 1;
        }
        printf("%s: configuration ok, %u warning(s)\n", path, res.warnings);
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config",      required_argument, NULL, 'c' },
                { "debug",       no_argument,       NULL, 'd' },
                { "test-config", no_argument,       NULL, 't' },
                { "strict",      no_argument,       NULL, 'S' },
                { "version",     no_argument,       NULL, 'V' },
                { "help",        no_argument,       NULL, 'h' },
                {}
        };
        const char *config_path = NEOSTRA_DEFAULT_CONFIG;
        bool debug = false, test_config = false, strict = false;
        struct neostra_config *config = NULL;
        Manager *m = NULL;
        char err[512];
        int c, r;

        while ((c = getopt_long(argc, argv, "c:dtVh", options, NULL)) >= 0)
                switch (c) {
                case 'c': config_path = optarg; break;
                case 'd': debug = true; break;
                case 't': test_config = true; break;
                case 'S': strict = true; break;
                case 'V': printf("neostrad %s\n", NEOSTRA_VERSION); return 0;
                case 'h': help(); return 0;
                default: return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "neostrad: unexpected argument '%s'\n", argv[optind]);
                return 2;
        }

        /* Our own NSS lookups must never reach our own userdb socket: a
         * single-threaded daemon waiting on itself hangs the host
         * (doc/architecture.md, "How neostrad is built").  Set before any
         * NSS call. */
        if (setenv("SYSTEMD_BYPASS_USERDB", "io.neostra", 1) < 0)
                return 1;
        /* No core dump of a process that holds passwords in flight. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        umask(0022);
        log_setup(debug);

        if (neostra_config_load(config_path, false, &config, err, sizeof(err)) < 0) {
                if (test_config) {
                        fprintf(stderr, "%s\n", err);
                        return 1;
                }
                log_event(LOG_ERR, MESSAGE_ID_CONFIG_ERROR, NULL, "%s", err);
                return 1;
        }
        if (test_config) {
                r = test_config_report(config, config_path, strict);
                neostra_config_free(config);
                return r;
        }

        if (secure_alloc_install() < 0) {
                log_msg(LOG_ERR, "cannot set up the wiping allocators of SQLite, OpenSSL and libcurl");
                neostra_config_free(config);
                return 1;
        }

        r = manager_new(config_path, config, &m);
        if (r < 0) {
                log_event(LOG_ERR, MESSAGE_ID_START_FAILED, NULL, "cannot start: %s", strerror(-r));
                neostra_config_free(config);
                goto out;
        }
        r = manager_listen(m);
        if (r < 0)
                goto out;
        r = manager_drop_privileges(m);
        if (r < 0) {
                log_event(LOG_ERR, MESSAGE_ID_START_FAILED, NULL, "cannot drop privileges: %s", strerror(-r));
                goto out;
        }
        r = manager_open_cache(m);
        if (r < 0)
                goto out;
        r = manager_prepare_identities(m);
        if (r < 0) {
                log_event(LOG_ERR, MESSAGE_ID_START_FAILED, NULL, "cannot prepare the identities: %s",
                          strerror(-r));
                goto out;
        }
        r = manager_run(m);
        if (r < 0)
                log_msg(LOG_ERR, "event loop failed: %s", strerror(-r));

out:
        manager_free(m);
        curl_global_cleanup();
        return r < 0 ? 1 : 0;
}
