/* SPDX-License-Identifier: MIT */
/*
 * neostractl users: every cached user (ListUsers, root only, a page per
 * call on one connection), as an aligned table for people or one JSON
 * object {"users": [...]} for scripts.  Ages are of the last online proof
 * (what the account step rests on), of the offline verifier, and until
 * [access] account_max_age runs out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "neostra/client.h"
#include "neostra/protocol.h"
#include "neostra/transport.h"
#include "neostractl.h"

/* Columns wider than this are cut (roles) or left unaligned (names). */
#define ROLES_WIDTH 40

enum { COL_USER, COL_UID, COL_ACCESS, COL_PROOF, COL_VERIFIER, COL_UNTIL, COL_ROLES, _COL_MAX };

static const char *const headers[_COL_MAX] = {
        "USER", "UID", "ACCESS", "ONLINE PROOF", "VERIFIER", "ACCESS UNTIL", "ROLES",
};

/* Every page into all, in order.  0, or the exit code after saying why. */
static int fetch_all(const struct options *o, json_t *all) {
        char *after = NULL;
        int fd = -1, r, ret = EXIT_OK;

        r = neostra_client_open(o->socket_path, neostra_deadline_ms(o->timeout_ms), &fd);
        if (r < 0) {
                fprintf(stderr, "neostractl: neostrad at %s: %s\n", o->socket_path, neostra_client_strerror(r));
                return r == -EACCES ? EXIT_PERMISSION : EXIT_UNAVAILABLE;
        }
        for (;;) {
                json_t *params = after ? json_pack("{s:s}", "after", after) : NULL, *reply = NULL, *users, *next;
                char *error = NULL;

                if (after && !params) {
                        ret = EXIT_DENIED;
                        fprintf(stderr, "neostractl: out of memory\n");
                        break;
                }
                r = neostra_client_call(fd, NEOSTRA_METHOD_LIST_USERS, params, false,
                                        neostra_deadline_ms(o->timeout_ms), &error, &reply);
                if (r < 0) {
                        fprintf(stderr, "neostractl: neostrad at %s: %s\n", o->socket_path,
                                neostra_client_strerror(r));
                        ret = r == -EACCES ? EXIT_PERMISSION : EXIT_UNAVAILABLE;
                        break;
                }
                if (error) {
                        ret = print_error_answer(NEOSTRA_METHOD_LIST_USERS, error, reply);
                        free(error);
                        json_decref(reply);
                        break;
                }
                users = json_object_get(reply, "users");
                next = json_object_get(reply, "next");
                /* A cursor that does not move on would loop for ever. */
                if (!json_is_array(users) || (next && !json_is_string(next)) ||
                    (next && after && strcmp(json_string_value(next), after) <= 0) ||
                    json_array_extend(all, users) < 0) {
                        fprintf(stderr, "neostractl: invalid reply to ListUsers (users, next)\n");
                        json_decref(reply);
                        ret = EXIT_UNAVAILABLE;
                        break;
                }
                free(after);
                after = next ? strdup(json_string_value(next)) : NULL;
                json_decref(reply);
                if (!next)
                        break;
                if (!after) {
                        fprintf(stderr, "neostractl: out of memory\n");
                        ret = EXIT_DENIED;
                        break;
                }
        }
        free(after);
        close(fd);
        return ret;
}

/* The cells of one user; false when the entry is not shaped as one. */
static bool cells_of(json_t *u, char cells[_COL_MAX][ROLES_WIDTH + 16]) {
        const size_t size = ROLES_WIDTH + 16;
        json_t *roles = json_object_get(u, "roles"), *role;
        const char *name = json_string_value(json_object_get(u, "user"));
        const char *access = json_string_value(json_object_get(u, "access"));
        json_int_t omitted = json_integer_value(json_object_get(u, "rolesOmitted"));
        size_t i, len = 0;

        if (!name || !access || !json_is_integer(json_object_get(u, "uid")) || !json_is_array(roles))
                return false;
        snprintf(cells[COL_USER], size, "%s", name);
        snprintf(cells[COL_UID], size, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(u, "uid")));
        snprintf(cells[COL_ACCESS], size, "%s", access);
        format_age(json_integer_value(json_object_get(u, "lastOnlineProof")), cells[COL_PROOF], size);
        if (json_is_true(json_object_get(u, "hasVerifier")))
                format_age(json_integer_value(json_object_get(u, "verifierTime")), cells[COL_VERIFIER], size);
        else
                snprintf(cells[COL_VERIFIER], size, "none");
        if (json_integer_value(json_object_get(u, "accessUntil")) > 0)
                format_age(json_integer_value(json_object_get(u, "accessUntil")), cells[COL_UNTIL], size);
        else
                snprintf(cells[COL_UNTIL], size, "-");
        cells[COL_ROLES][0] = '\0';
        json_array_foreach(roles, i, role) {
                const char *s = json_string_value(role);
                int n;

                if (!s)
                        continue;
                n = snprintf(cells[COL_ROLES] + len, size - len, "%s%s", len ? "," : "", s);
                if (n < 0 || len + (size_t) n > ROLES_WIDTH) {
                        /* Cut, and say so. */
                        snprintf(cells[COL_ROLES] + (len < ROLES_WIDTH - 3 ? len : ROLES_WIDTH - 3),
                                 size - ROLES_WIDTH + 3, "...");
                        len = ROLES_WIDTH;
                        break;
                }
                len += (size_t) n;
        }
        if (omitted > 0 && len < ROLES_WIDTH)
                snprintf(cells[COL_ROLES] + len, size - len, ",...");
        if (len == 0 && omitted <= 0)
                snprintf(cells[COL_ROLES], size, "(none)");
        return true;
}

static void print_row(char cells[_COL_MAX][ROLES_WIDTH + 16], const size_t width[_COL_MAX]) {
        for (int c = 0; c < _COL_MAX; c++) {
                print_safe(stdout, cells[c]);
                if (c + 1 < _COL_MAX)
                        printf("%*s", (int) (width[c] - strlen(cells[c]) + 2), "");
        }
        fputc('\n', stdout);
}

static int print_table(json_t *all) {
        char (*cells)[_COL_MAX][ROLES_WIDTH + 16];
        size_t n = json_array_size(all), width[_COL_MAX], i;
        json_t *u;

        if (n == 0) {
                puts("no cached users");
                return EXIT_OK;
        }
        cells = calloc(n, sizeof(*cells));
        if (!cells) {
                fprintf(stderr, "neostractl: out of memory\n");
                return EXIT_DENIED;
        }
        for (int c = 0; c < _COL_MAX; c++)
                width[c] = strlen(headers[c]);
        json_array_foreach(all, i, u) {
                if (!cells_of(u, cells[i])) {
                        fprintf(stderr, "neostractl: invalid reply to ListUsers (entry %zu)\n", i);
                        free(cells);
                        return EXIT_UNAVAILABLE;
                }
                for (int c = 0; c < _COL_MAX; c++)
                        if (strlen(cells[i][c]) > width[c])
                                width[c] = strlen(cells[i][c]);
        }
        {
                char head[_COL_MAX][ROLES_WIDTH + 16];

                for (int c = 0; c < _COL_MAX; c++)
                        snprintf(head[c], sizeof(head[c]), "%s", headers[c]);
                print_row(head, width);
        }
        for (i = 0; i < n; i++)
                print_row(cells[i], width);
        free(cells);
        return EXIT_OK;
}

int neostractl_users(const struct options *o) {
        json_t *all = json_array();
        int ret;

        if (!all) {
                fprintf(stderr, "neostractl: out of memory\n");
                return EXIT_DENIED;
        }
        ret = fetch_all(o, all);
        if (ret == EXIT_OK && o->json) {
                json_t *j = json_pack("{s:O}", "users", all);

                if (j)
                        print_json(j);
                json_decref(j);
        } else if (ret == EXIT_OK)
                ret = print_table(all);
        fflush(stdout);
        json_decref(all);
        return ret;
}
