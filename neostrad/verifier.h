/* SPDX-License-Identifier: MIT */
/*
 * Password verifiers for offline logins: yescrypt through libcrypt, the
 * same KDF and string format as /etc/shadow on Debian 12 ("$y$...").
 * Both calls are slow on purpose: run them on a worker thread.
 */
#pragma once

/* Make a verifier for password.  Returns 0 and a malloc'd hash, or <0. */
int verifier_make(const char *password, char **ret);

/* 1 when password matches hash, 0 when not, <0 when hash is unusable. */
int verifier_check(const char *hash, const char *password);
