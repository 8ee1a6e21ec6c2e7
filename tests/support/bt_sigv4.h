/*
 * bt_sigv4.h - an independent AWS Signature Version 4 implementation for the
 * test suite (OpenSSL only, no libcurl), written from AWS's description of
 * the algorithm ("Create a signed AWS API request"):
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n hex(SHA256(body))
 *   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n
 *                      hex(SHA256(CanonicalRequest))
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region),
 *                      service), "aws4_request")
 *
 * The fake ECS server verifies every request with it, and the unit test
 * test_sigv4 checks it against AWS's published test-suite signatures, so
 * berth's signing (libcurl's CURLOPT_AWS_SIGV4) is checked by code that
 * shares nothing with it.
 *
 * Every returned string is allocated; the caller frees it.
 */
#ifndef BT_SIGV4_H
#define BT_SIGV4_H

#include <stddef.h>
#include <stdint.h>

/* One request header as received (names in any case, duplicates kept in
 * order). */
struct bt_sigv4_hdr {
    const char *name;
    const char *value;
};

struct bt_sigv4_req {
    const char *method;
    const char *path;  /* as sent, percent-encoded, e.g. "/" */
    const char *query; /* as sent, without '?'; NULL or "" for none */
    const struct bt_sigv4_hdr *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
};

/* hex(SHA256(data)), 64 characters + NUL. */
void bt_sha256_hex(const void *data, size_t len, char out[65]);

/* The canonical pieces. signed_headers is the ';'-separated lowercase list
 * to sign ("host;x-amz-date"); a header it names that the request lacks
 * makes the functions return NULL. */
char *bt_sigv4_canonical_uri(const char *path);
char *bt_sigv4_canonical_query(const char *query);
char *bt_sigv4_canonical_request(const struct bt_sigv4_req *r,
                                 const char *signed_headers);
char *bt_sigv4_string_to_sign(const char *amz_date, const char *scope,
                              const char *canonical_request);
/* The final signature (hex) over string_to_sign. date is "YYYYMMDD". */
void bt_sigv4_signature(const char *secret, const char *date,
                        const char *region, const char *service,
                        const char *string_to_sign, char out[65]);

/*
 * Sign a request the way a client would: the Authorization header value
 * "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * signed_headers NULL signs every header of the request. The request must
 * carry its X-Amz-Date (amz_date gives the same value).
 */
char *bt_sigv4_authorization(const struct bt_sigv4_req *r,
                             const char *signed_headers, const char *key_id,
                             const char *secret, const char *region,
                             const char *service, const char *amz_date);

/* What a server knows to verify with. */
struct bt_sigv4_keys {
    const char *key_id;
    const char *secret;
    const char *session_token; /* NULL: none required */
    const char *region;
    const char *service;
    int64_t now_s;      /* the server's clock, Unix seconds */
    int64_t max_skew_s; /* allowed |X-Amz-Date - now|, AWS uses 300 */
};

/*
 * Verify a request's signature the way AWS does. Returns 0 when it holds;
 * otherwise non-zero with *type set to the AWS error type
 * ("InvalidSignatureException", "IncompleteSignatureException",
 * "UnrecognizedClientException", "MissingAuthenticationTokenException")
 * and *msg to an AWS-worded explanation (caller frees both).
 */
int bt_sigv4_verify(const struct bt_sigv4_req *r,
                    const struct bt_sigv4_keys *keys, char **type, char **msg);

#endif
