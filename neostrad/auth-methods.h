/* SPDX-License-Identifier: MIT */
/* The io.neostra.Auth methods on the auth socket (auth-methods.c). */
#pragma once

#include "varlink-server.h"

/* Registered with the Manager as userdata. */
extern const struct varlink_interface auth_interface;
