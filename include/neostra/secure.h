/* SPDX-License-Identifier: MIT */
/* Helpers for memory that held a secret. */
#pragma once

#include <stddef.h>
#include <jansson.h>

/* Wipe and free a NUL-terminated string; accepts NULL. */
void secure_free_string(char *s);

/* Wipe len bytes and free; accepts NULL. */
void secure_free(void *p, size_t len);

/*
 * Overwrite every string value inside json (recursively) with zero bytes.
 * jansson copies strings into its own allocations and frees them without
 * wiping; call this before json_decref() on anything that held a password.
 */
void json_wipe_strings(json_t *json);

/* json_wipe_strings() followed by json_decref(); accepts NULL. */
void json_decref_wipe(json_t *json);

/*
 * Overwrite the bytes of stack below the caller's frame that deeper calls
 * (parsers, libcurl, libc string functions) may have left a password in,
 * as libgcrypt's _gcry_burn_stack does.  Call from an event handler after
 * the work that touched a secret has returned.
 */
void secure_burn_stack(size_t bytes);
#define SECURE_BURN_STACK_BYTES (64u * 1024u)

/* For __attribute__((cleanup)); jansson itself provides json_decrefp. */
static inline void json_decref_wipep(json_t **p) { json_decref_wipe(*p); }
static inline void secure_free_stringp(char **p) { secure_free_string(*p); }
