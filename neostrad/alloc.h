/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Make jansson, libcurl, SQLite and OpenSSL wipe every block they free.
 * Requests carry passwords and answers carry tokens through these
 * libraries' private buffers (parser string buffers, libcurl's send buffer,
 * OpenSSL's record buffers, where an HTTPS answer is decrypted); scrubbing
 * at free time is the only way to reach copies we never see.  Call once at
 * start, before any of them allocates anything.  -1 when one of them
 * cannot take it.
 */
int secure_alloc_install(void);
