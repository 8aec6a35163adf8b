/* SPDX-License-Identifier: MIT */
/*
 * How every request to the API travels, whoever sends it: the daemon's
 * sign-ins, refreshes and probes (api.c) and neostractl doctor's probe
 * (doctor-api.c), so that what the doctor reports of TLS and the pin is
 * what the daemon meets.
 */
#pragma once

#include <stdbool.h>
#include <curl/curl.h>

#include "neostra/conf.h"

/*
 * No redirects (a password is never re-sent somewhere else), only the
 * URL's own scheme, no proxy from the environment (an http_proxy variable
 * must not be able to divert passwords), certificates and host names
 * verified, TLS 1.2 or later, [api] ca_file and pinned_public_key.
 * Returns the first error of curl_easy_setopt(), CURLE_OK otherwise.
 */
CURLcode api_transport_setopt(CURL *easy, const struct neostra_config *config, bool https);
