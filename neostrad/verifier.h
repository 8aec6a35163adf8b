/* SPDX-License-Identifier: MIT */
/*
 * Password verifiers for offline logins: yescrypt through libcrypt, the
 * same KDF and string format as /etc/shadow on Debian 12 ("$y$...").
 * Both calls are slow on purpose: run them on a worker thread.
 */
#pragma once

#include <stdbool.h>

/* Make a verifier for password.  Returns 0 and a malloc'd hash, or <0. */
int verifier_make(const char *password, char **ret);

/*
 * Tests: make verifiers with this yescrypt cost (libcrypt's count, 1 the
 * cheapest: ~1 ms and 1 MiB instead of ~15 ms and 16 MiB) instead of
 * libcrypt's default (0).  A test that signs in thousands of times a second
 * (the server fuzzer) would otherwise spend its CPU in yescrypt.  Call it
 * before any verifier is made; the daemon never calls it.
 */
void verifier_set_cost(unsigned long cost);

/* 1 when password matches hash, 0 when not, <0 when hash is unusable. */
int verifier_check(const char *hash, const char *password);

/*
 * Is this the password the verifier was made of?  Answering that with
 * yescrypt costs as much as making a new verifier (~13 ms of CPU and
 * 16 MiB), which every online success would pay.  Instead the daemon keeps,
 * in memory only, an HMAC-SHA256 of (user, password) under a random key
 * made at start and never stored: equal MACs mean the same password, so
 * the verifier stays and only its time moves.  Nothing of it reaches the
 * cache; after a restart the first success of each user makes a verifier
 * again.  (Whoever can read the daemon's memory sees passwords in flight
 * anyway; the MACs give nothing more to an attacker without the key.)
 */
#define VERIFIER_MAC_SIZE 32u

/* Make the key (getrandom).  0 or <0. */
int verifier_mac_init(void);

/* Wipe the key. */
void verifier_mac_done(void);

/* The MAC of user and password.  0 or <0 (then out is zeroed). */
int verifier_mac(const char *user, const char *password, unsigned char out[VERIFIER_MAC_SIZE]);

/* Constant-time comparison of two MACs. */
bool verifier_mac_equal(const unsigned char a[VERIFIER_MAC_SIZE], const unsigned char b[VERIFIER_MAC_SIZE]);
