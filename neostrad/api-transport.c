/* SPDX-License-Identifier: MIT */
#include "api-transport.h"

CURLcode api_transport_setopt(CURL *easy, const struct neostra_config *config, bool https) {
        CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, (opt), (val)); } while (0)
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
        SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
        SET(CURLOPT_PROXY, "");
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        if (config->ca_file)
                SET(CURLOPT_CAINFO, config->ca_file);
        if (config->pinned_public_key)
                SET(CURLOPT_PINNEDPUBLICKEY, config->pinned_public_key);
#undef SET
        return rc;
}
