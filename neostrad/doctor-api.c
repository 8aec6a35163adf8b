/* SPDX-License-Identifier: MIT */
/*
 * neostractl doctor, API: the probe the daemon makes when it is offline
 * (a GET of the sign-in path, no body, so never a password), with the
 * daemon's TLS settings (verification always on, [api] ca_file and
 * pinned_public_key, no proxy from the environment, no redirects), bounded
 * by connect_timeout and by our own deadline, whichever is shorter.  Any
 * HTTP answer means the API is reachable.  The answer's Date header gives
 * the clock skew between this host and the API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "api-transport.h"
#include "doctor-internal.h"

/* Ours, whatever the config says: the whole run takes a few seconds. */
#define PROBE_CONNECT_MAX_MS 2500L
#define PROBE_TOTAL_MAX_MS 3000L
#define PROBE_BODY_MAX (64L * 1024L)

struct probe {
        time_t date;            /* the Date header, 0: none */
};

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        return size * n;        /* read and dropped */
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        struct probe *p = userdata;
        size_t len = size * n;
        char value[128];

        if (len > 5 && len < sizeof(value) + 5 && strncasecmp(data, "Date:", 5) == 0) {
                memcpy(value, data + 5, len - 5);
                value[len - 5] = '\0';
                value[strcspn(value, "\r\n")] = '\0';
                p->date = curl_getdate(value, NULL);
                if (p->date < 0)
                        p->date = 0;
        }
        return len;
}

static long min_ms(uint64_t configured, long ours) {
        return configured > 0 && configured < (uint64_t) ours ? (long) configured : ours;
}

static bool tls_error(CURLcode rc) {
        return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
               rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
               rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_CRL_BADFILE;
}

static void report_clock(struct doctor_ctx *d, const struct probe *p, time_t answered) {
        long long skew;

        if (p->date == 0) {
                doctor_report(d, "clock", DOCTOR_SKIP, NULL, "the API's answer has no Date header: clock "
                              "skew not checked against it");
                return;
        }
        skew = (long long) answered - (long long) p->date;
        if (skew > DOCTOR_CLOCK_SKEW_MAX_SEC || skew < -DOCTOR_CLOCK_SKEW_MAX_SEC)
                doctor_report(d, "clock", DOCTOR_FAIL, "synchronise the clock (systemd-timesyncd, chrony)",
                              "this host's clock is %lld s %s the API's (Date header): certificates, token "
                              "lifetimes and account_max_age are judged by it", skew < 0 ? -skew : skew,
                              skew < 0 ? "behind" : "ahead of");
        else
                doctor_report(d, "clock", DOCTOR_OK, NULL, "this host's clock is within %lld s of the API's "
                              "(Date header)", skew < 0 ? -skew : skew);
}

void doctor_check_api(struct doctor_ctx *d) {
        const struct neostra_config *c = d->config;
        char url[2200], errbuf[CURL_ERROR_SIZE] = "";
        struct probe p = {};
        bool https;
        CURL *easy = NULL;
        CURLcode rc;
        long status = 0, connect_ms, total_ms;
        double elapsed = 0;
        time_t answered;

        if (!c || !c->api_url) {
                doctor_report(d, "probe", DOCTOR_SKIP, NULL, "no API to probe: %s",
                              c ? "[api] url is not set" : "the config does not load");
                return;
        }
        https = strncasecmp(c->api_url, "https://", 8) == 0;
        if (https)
                doctor_report(d, "url", DOCTOR_OK, NULL, "%s over TLS, verified against %s%s", c->api_url,
                              c->ca_file ? c->ca_file : "the system's CA store",
                              c->pinned_public_key ? ", with a pinned key" : "");
        else
                /* The config loader refuses http:// anywhere else. */
                doctor_report(d, "url", DOCTOR_OK, NULL, "%s: plain HTTP, allowed because it is a loopback "
                              "address (a local proxy or a test)", c->api_url);

        snprintf(url, sizeof(url), "%s%s", c->api_url, c->signin_path);
        connect_ms = min_ms(c->connect_timeout_ms, PROBE_CONNECT_MAX_MS);
        total_ms = min_ms(c->timeout_ms, PROBE_TOTAL_MAX_MS);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(easy = curl_easy_init())) {
                doctor_report(d, "probe", DOCTOR_FAIL, NULL, "cannot set up libcurl");
                return;
        }
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "neostractl-doctor");
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, &p);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, total_ms);
        curl_easy_setopt(easy, CURLOPT_MAXFILESIZE, PROBE_BODY_MAX);
        /* The daemon's own transport rules: TLS and the pin as it meets them. */
        if (api_transport_setopt(easy, c, https) != CURLE_OK) {
                doctor_report(d, "probe", DOCTOR_FAIL, NULL, "cannot set up libcurl with the daemon's TLS settings");
                curl_easy_cleanup(easy);
                return;
        }

        rc = curl_easy_perform(easy);
        answered = time(NULL);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &elapsed);
        if (!errbuf[0])
                snprintf(errbuf, sizeof(errbuf), "%s", curl_easy_strerror(rc));

        if (rc == CURLE_OK || (rc == CURLE_FILESIZE_EXCEEDED && status > 0)) {
                doctor_report(d, "probe", DOCTOR_OK, NULL, "GET %s answered HTTP %ld in %.0f ms (no password "
                              "sent)", url, status, elapsed * 1000.0);
                if (https)
                        doctor_report(d, "tls", DOCTOR_OK, NULL, "the API's certificate is valid for its host "
                                      "and trusted");
                if (c->pinned_public_key)
                        doctor_report(d, "pin", DOCTOR_OK, NULL, "the API's public key matches "
                                      "[api] pinned_public_key");
                report_clock(d, &p, answered);
        } else if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
                doctor_report(d, "probe", DOCTOR_OK, NULL, "%s is reachable (TLS handshake done)", url);
                doctor_report(d, "tls", DOCTOR_OK, NULL, "the API's certificate is valid for its host and "
                              "trusted");
                doctor_report(d, "pin", DOCTOR_FAIL, "put the key's hash in [api] pinned_public_key: openssl "
                              "s_client -connect HOST:443 </dev/null | openssl x509 -pubkey -noout | openssl "
                              "pkey -pubin -outform der | openssl dgst -sha256 -binary | base64 (or remove "
                              "the pin)", "the API's public key does not match [api] pinned_public_key: every "
                              "login is answered \"unavailable\"");
        } else if (tls_error(rc)) {
                doctor_report(d, "probe", DOCTOR_OK, NULL, "%s is reachable (TCP connected)", url);
                doctor_report(d, "tls", DOCTOR_FAIL, "set [api] ca_file to the CA that signed the API's "
                              "certificate, or fix the certificate", "TLS failed: %s", errbuf);
        } else {
                char fix[256];

                snprintf(fix, sizeof(fix), "check the URL, DNS, routes and firewalls from this host%s",
                         rc == CURLE_OPERATION_TIMEDOUT ? "; an API that accepts connections but never "
                         "answers makes every login wait for [api] timeout" : "");
                doctor_report(d, "probe", DOCTOR_FAIL, fix, "GET %s: no answer within %ld ms "
                              "(connect %ld ms): %s", url, total_ms, connect_ms, errbuf);
        }
        curl_easy_cleanup(easy);
        curl_global_cleanup();
}
