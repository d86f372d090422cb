#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H
#include <stddef.h>
#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call:
   one function sets up a webhook POST on an easy handle. The body is copied by
   curl (COPYPOSTFIELDS); redirects are not followed; only http and https; no
   signals (timeouts run on the calling thread). The response body is counted,
   not kept: past `max_body` bytes the transfer stops (CURLE_WRITE_ERROR) with
   the status line already read. */
typedef struct {
    size_t received;
    size_t max_body;
} CCurl_body_count;

static size_t CCurl_count_body(char *data, size_t size, size_t n, void *user) {
    (void)data;
    CCurl_body_count *count = (CCurl_body_count *)user;
    size_t bytes = size * n;
    count->received += bytes;
    return count->received > count->max_body ? 0 : bytes;
}

static inline CURLcode CCurl_prepare_post(CURL *easy, const char *url, struct curl_slist *headers,
                                          const void *body, long body_size,
                                          long connect_timeout_ms, long timeout_ms,
                                          CCurl_body_count *count) {
    CURLcode rc = CURLE_OK;
#define CCURL_SET(option, value) if ((rc = curl_easy_setopt(easy, option, value)) != CURLE_OK) return rc
    CCURL_SET(CURLOPT_URL, url);
    CCURL_SET(CURLOPT_PROTOCOLS_STR, "http,https");
    CCURL_SET(CURLOPT_FOLLOWLOCATION, 0L);
    CCURL_SET(CURLOPT_NOSIGNAL, 1L);
    CCURL_SET(CURLOPT_POST, 1L);
    CCURL_SET(CURLOPT_POSTFIELDSIZE, body_size);
    CCURL_SET(CURLOPT_COPYPOSTFIELDS, body);
    CCURL_SET(CURLOPT_HTTPHEADER, headers);
    CCURL_SET(CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    CCURL_SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    CCURL_SET(CURLOPT_WRITEFUNCTION, CCurl_count_body);
    CCURL_SET(CURLOPT_WRITEDATA, (void *)count);
    CCURL_SET(CURLOPT_USERAGENT, "jobrunnerd-webhooks");
#undef CCURL_SET
    return rc;
}

/* The HTTP status of a finished transfer (0 when none was read). */
static inline long CCurl_response_code(CURL *easy) {
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* HMAC-SHA256 through GnuTLS; the algorithm constant is an enum Swift would need spelled out. */
static inline int CCurl_hmac_sha256(const void *key, size_t key_size, const void *data, size_t size, void *digest32) {
    return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_size, data, size, digest32);
}
#endif
