/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor's PAM simulator: reads a service's stack the way
 * libpam does and runs it for given module answers, without loading any
 * module.  doctor-pam.c asks it the questions that matter.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <security/_pam_types.h>

#define PAMSIM_N_RET (PAM_INCOMPLETE + 1)
#define PAMSIM_LINES_MAX 256u

enum { PAMSIM_AUTH, PAMSIM_ACCOUNT, PAMSIM_SESSION, PAMSIM_PASSWORD, PAMSIM_N_TYPES };

/* What a line does with a return value: a jump over N lines (N > 0) or one
 * of these. */
enum {
        ACT_IGNORE = 0,
        ACT_OK = -1,
        ACT_DONE = -2,
        ACT_BAD = -3,
        ACT_DIE = -4,
        ACT_RESET = -5,
        ACT_END = -6,           /* pam-auth-update's placeholder, profiles only */
};

struct pamsim_stack;

struct pamsim_line {
        char module[64];                /* the module's file name, no directory */
        char args[256];
        char control[192];              /* as written, for messages */
        char where[96];                 /* file:line */
        int actions[PAMSIM_N_RET];
        struct pamsim_stack *sub;       /* a substack; module is then its file */
};

struct pamsim_stack {
        struct pamsim_line *lines;
        size_t n;
};

enum pamsim_step { STEP_AUTH, STEP_ACCOUNT, STEP_SESSION, STEP_PASSWORD, STEP_SETCRED };

/* Which lines a run went through. */
struct pamsim_trace {
        const struct pamsim_line *neostra;      /* the first pam_neostra line that ran */
        const struct pamsim_line *ran[PAMSIM_LINES_MAX];
        size_t n_ran;
};

/* libpam's names of the return values, as [value=action] spells them. */
extern const char *const pamsim_ret_names[PAMSIM_N_RET];

/*
 * The lines of type (PAMSIM_AUTH ...) of the service file at path, with
 * @include and include expanded in place and substacks kept as nested
 * stacks; relative names are looked up in dir.  Returns 0 and *ret (to
 * pamsim_free()), or a negative errno with a "file:line: what" in err.
 */
int pamsim_read(const char *dir, const char *path, int type, struct pamsim_stack **ret, char *err,
                size_t errlen);
void pamsim_free(struct pamsim_stack *s);

/*
 * Run s as libpam does for step, with pam_unix answering unix_ret and
 * pam_neostra neostra_ret (a setcred_only line answers ignore in auth),
 * pam_permit success, pam_deny the step's failure, any other module
 * ignore in auth and account and success in session and password.
 * Returns the stack's result; *t says which lines ran.
 */
int pamsim_run(const struct pamsim_stack *s, enum pamsim_step step, int unix_ret, int neostra_ret,
               struct pamsim_trace *t);

/* The first pam_neostra line of s (main_only: not a setcred_only one). */
const struct pamsim_line *pamsim_find_neostra(const struct pamsim_stack *s, bool main_only);

/* A control ("required", or "[value=action ...]" without the brackets)
 * into actions; profile allows pam-auth-update's "end".  False for an
 * unknown keyword. */
bool pamsim_parse_control(const char *control, bool bracket, bool profile, int actions[PAMSIM_N_RET]);

bool pamsim_has_arg(const struct pamsim_line *l, const char *arg);
bool pamsim_setcred_only(const struct pamsim_line *l);
/* "ignore", "die", "a jump over 2 line(s)" into buf. */
const char *pamsim_action_name(int act, char *buf, size_t size);
/* A whole file (at most 256 KiB), continuation lines joined; NULL + errno. */
char *pamsim_read_file(const char *path);
