/* SPDX-License-Identifier: MIT */
/*
 * pamcheck: one full PAM transaction through a service file from a private
 * directory (pam_start_confdir), so the demo and manual checks never touch
 * /etc/pam.d.  Prints each step's result and the module's messages.
 *
 *   pamcheck [-d CONFDIR] [-a] [-w FILE] [-f] [-u NAME] [-A] SERVICE USER
 *
 * The password comes from the environment variable PAMCHECK_PASSWORD (or
 * the first line of stdin when unset).  -a also runs pam_setcred() in a
 * child process and prints the groups it ends up with.  -w FILE waits
 * (30 s at most) for FILE to exist between authenticate and acct_mgmt;
 * -f runs acct_mgmt in a forked child (as sshd may).  -u NAME sets
 * PAM_USER to NAME between authenticate and acct_mgmt; -A runs acct_mgmt
 * twice.
 * Exit: 0 when authenticate and acct_mgmt both succeed, 1 otherwise.
 */
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <security/pam_appl.h>

static char *password;

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
        struct pam_response *r = calloc((size_t) n, sizeof(*r));

        if (!r)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++)
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                case PAM_PROMPT_ECHO_ON:
                        r[i].resp = strdup(password ? password : "");
                        break;
                case PAM_ERROR_MSG:
                        printf("    module says (error): %s\n", msg[i]->msg);
                        break;
                case PAM_TEXT_INFO:
                        printf("    module says (info): %s\n", msg[i]->msg);
                        break;
                }
        *resp = r;
        return PAM_SUCCESS;
}

static void print_groups(void) {
        gid_t groups[256];
        int n = getgroups(256, groups);

        printf("    supplementary groups after setcred:");
        for (int i = 0; i < n; i++) {
                struct group *g = getgrgid(groups[i]);
                printf(" %s(%u)", g ? g->gr_name : "?", (unsigned) groups[i]);
        }
        printf("\n");
}

int main(int argc, char *argv[]) {
        const char *confdir = NULL;
        struct pam_conv pc = { conv, NULL };
        pam_handle_t *pamh = NULL;
        const char *wait_for = NULL;
        bool setcred = false, fork_account = false, account_twice = false;
        const char *account_user = NULL;
        char line[1100];
        int opt, r, ok;

        while ((opt = getopt(argc, argv, "d:aw:fu:A")) >= 0)
                switch (opt) {
                case 'd': confdir = optarg; break;
                case 'a': setcred = true; break;
                case 'w': wait_for = optarg; break;
                case 'f': fork_account = true; break;
                case 'u': account_user = optarg; break;
                case 'A': account_twice = true; break;
                default: return 2;
                }
        if (argc - optind != 2) {
                fprintf(stderr, "usage: pamcheck [-d CONFDIR] [-a] [-w FILE] [-f] [-u NAME] [-A] SERVICE USER\n");
                return 2;
        }
        password = getenv("PAMCHECK_PASSWORD");
        if (!password && fgets(line, sizeof(line), stdin)) {
                line[strcspn(line, "\n")] = 0;
                password = line;
        }

        r = pam_start_confdir(argv[optind], argv[optind + 1], &pc, confdir, &pamh);
        if (r != PAM_SUCCESS) {
                fprintf(stderr, "pam_start: %s\n", pam_strerror(NULL, r));
                return 1;
        }
        r = pam_authenticate(pamh, 0);
        printf("  pam_authenticate(%s): %s\n", argv[optind + 1], pam_strerror(pamh, r));
        ok = r == PAM_SUCCESS;
        fflush(stdout);
        for (int i = 0; ok && wait_for && access(wait_for, F_OK) < 0; i++) {
                if (i == 300) {
                        fprintf(stderr, "pamcheck: %s did not appear\n", wait_for);
                        ok = 0;
                        break;
                }
                (void) poll(NULL, 0, 100);
        }
        if (ok && account_user) {
                r = pam_set_item(pamh, PAM_USER, account_user);
                printf("  PAM_USER is now %s\n", account_user);
                ok = r == PAM_SUCCESS;
        }
        if (ok && fork_account) {
                pid_t pid = fork();
                int status = 0;

                if (pid == 0) {
                        r = pam_acct_mgmt(pamh, 0);
                        printf("  pam_acct_mgmt(%s):    %s (in a child)\n", argv[optind + 1], pam_strerror(pamh, r));
                        fflush(stdout);
                        _exit(r == PAM_SUCCESS ? 0 : 1);
                }
                ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        } else if (ok) {
                for (int i = 0; ok && i < (account_twice ? 2 : 1); i++) {
                        r = pam_acct_mgmt(pamh, 0);
                        printf("  pam_acct_mgmt(%s):    %s%s\n", account_user ? account_user : argv[optind + 1],
                               pam_strerror(pamh, r), i ? " (again)" : "");
                        ok = r == PAM_SUCCESS;
                }
        }
        if (ok && setcred) {
                /* In a child: setgroups() must not change this process. */
                pid_t pid;

                fflush(stdout);
                pid = fork();
                if (pid == 0) {
                        r = pam_setcred(pamh, PAM_ESTABLISH_CRED);
                        printf("  pam_setcred(%s):      %s\n", argv[optind + 1], pam_strerror(pamh, r));
                        if (r == PAM_SUCCESS)
                                print_groups();
                        fflush(stdout);
                        _exit(r == PAM_SUCCESS ? 0 : 1);
                }
                waitpid(pid, NULL, 0);
        }
        pam_end(pamh, r);
        if (password == line)
                explicit_bzero(line, sizeof(line));
        return ok ? 0 : 1;
}
