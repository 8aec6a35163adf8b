/* SPDX-License-Identifier: MIT */
/* libFuzzer: the INI config parser and its validation, reading from a
 * memfd (the loader takes a path). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "neostra/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct neostra_config *c = NULL;
        char path[64], err[512];
        int fd;

        if (size > NEOSTRA_CONF_FILE_MAX + 16)
                return 0;
        fd = memfd_create("neostrad.conf", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return 0;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (neostra_config_load(path, false, &c, err, sizeof(err)) == 0) {
                char *email = NULL;

                /* A config that loads must be usable. */
                if (!c->signin_path || !c->email_template)
                        abort();
                if (neostra_email_for_user(c, "alice", &email) == 0)
                        free(email);
                if (neostra_email_for_user(c, "bob@corp.example", &email) == 0) {
                        /* An email for a name with '@' only in an accepted domain. */
                        if (!neostra_domain_accepted(c, "bob@corp.example"))
                                abort();
                        free(email);
                }
                (void) neostra_local_account_class(c, "ubuntu", 1000, c->minimum_uid);
                neostra_config_free(c);
        }
        close(fd);
        return 0;
}
