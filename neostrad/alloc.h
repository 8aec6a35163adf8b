/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Make jansson, libcurl and SQLite wipe every block they free.  Requests carry
 * passwords and answers carry tokens through both libraries' private
 * buffers (parser string buffers, libcurl's send buffer); scrubbing at
 * free time is the only way to reach copies we never see.  Call once at
 * start, before either library allocates anything.
 */
int secure_alloc_install(void);
