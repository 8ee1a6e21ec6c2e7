/*
 * gcp_auth.h - OAuth2 bearer tokens for Google Cloud APIs. Private to the
 * exec layer (used by the cloudrun backend).
 *
 * A token source is chosen once, when the source is created, from the
 * usual places (DESIGN.md § Executors), first match wins:
 *
 *   1. an explicit service-account key file (the executor's
 *      `credentials_file` option);
 *   2. $GOOGLE_OAUTH_ACCESS_TOKEN: a ready token, used as is and never
 *      refreshed;
 *   3. $GOOGLE_APPLICATION_CREDENTIALS: a service-account key file. berth
 *      signs an RS256 JWT with its private key (OpenSSL) and exchanges it at
 *      the token endpoint (grant_type urn:ietf:params:oauth:grant-type:
 *      jwt-bearer);
 *   4. the GCE / Cloud Run metadata server:
 *      GET /computeMetadata/v1/instance/service-accounts/default/token with
 *      "Metadata-Flavor: Google".
 *
 * Fetched tokens are cached until shortly before they expire (five minutes,
 * or half their lifetime when that is shorter). A source is thread-safe:
 * the cache sits under a mutex and one thread refreshes while the others
 * wait for its answer.
 */
#ifndef BERTH_EXEC_GCP_AUTH_H
#define BERTH_EXEC_GCP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/util.h"

#define BERTH_GCP_SCOPE        "https://www.googleapis.com/auth/cloud-platform"
#define BERTH_GCP_TOKEN_URL    "https://oauth2.googleapis.com/token"
#define BERTH_GCP_METADATA_URL "http://metadata.google.internal"
/* Longest token we accept (Google's are a few hundred bytes). */
#define BERTH_GCP_TOKEN_MAX 4096

enum berth_gcp_cred_kind {
    BERTH_GCP_CRED_ENV_TOKEN = 1, /* $GOOGLE_OAUTH_ACCESS_TOKEN */
    BERTH_GCP_CRED_KEY_FILE = 2,  /* service-account key, JWT bearer flow */
    BERTH_GCP_CRED_METADATA = 3,  /* metadata server */
};

/* Everything borrowed for the duration of berth__gcp_auth_new(). */
struct berth_gcp_auth_params {
    /* Key file to use whatever the environment says; NULL: look at the
     * environment. */
    const char *credentials_file;
    /* Token endpoint. NULL: the key file's token_uri, else Google's. */
    const char *token_endpoint;
    /* Metadata server base URL. NULL: http://metadata.google.internal. */
    const char *metadata_endpoint;
    /* Clock for cache expiry (NULL = real time). Borrowed for the life of
     * the source. JWT iat/exp always use real time. */
    const struct berth_clock *clock;
};

struct berth_gcp_auth;

/*
 * Choose the token source (see above). Reads and checks a key file at once,
 * so a missing or malformed file is reported here, not at the first call.
 * *out is freed with berth__gcp_auth_free().
 */
int berth__gcp_auth_new(const struct berth_gcp_auth_params *p,
                        struct berth_gcp_auth **out, struct berth_err *err);
void berth__gcp_auth_free(struct berth_gcp_auth *a); /* NULL is a no-op */

/*
 * A valid access token, copied into buf (BERTH_GCP_TOKEN_MAX bytes is
 * always enough). Fetches or refreshes it when needed. Errors: BERTH_E_AUTH
 * when the provider refused (permanent), BERTH_E_NET/BERTH_E_BACKEND
 * (transient) when it could not be asked.
 */
int berth__gcp_auth_token(struct berth_gcp_auth *a, char *buf, size_t size,
                          struct berth_err *err);

/*
 * An API answered 401 to `token`: forget it if it is the cached one, so
 * that the next call fetches another. Returns false when the source cannot
 * produce a different token (an environment token).
 */
bool berth__gcp_auth_reject(struct berth_gcp_auth *a, const char *token);

enum berth_gcp_cred_kind berth__gcp_auth_kind(const struct berth_gcp_auth *a);

/* Words for error messages: "GOOGLE_OAUTH_ACCESS_TOKEN", "service account
 * key '/k.json' (runner@p.iam.gserviceaccount.com)", "metadata server
 * http://…". Borrowed, valid while the source lives. */
const char *berth__gcp_auth_describe(const struct berth_gcp_auth *a);

/* The key file's project_id, or NULL. Borrowed. */
const char *berth__gcp_auth_project(const struct berth_gcp_auth *a);

/* Tokens obtained from the provider so far (tests check the cache). */
uint64_t berth__gcp_auth_fetches(const struct berth_gcp_auth *a);

/* ---- pieces exposed for tests and the fake server --------------------- */

/* base64url without padding (RFC 7515 § 2). Caller frees. */
char *berth__gcp_b64url(const void *data, size_t len);
/* Decode base64url (padding optional). Caller frees *out. */
int berth__gcp_b64url_decode(const char *s, size_t len, unsigned char **out,
                             size_t *out_len);

/*
 * The signed assertion of the JWT bearer flow (RFC 7523): header
 * {"alg":"RS256","typ":"JWT","kid":kid} and claims {iss, scope, aud, iat,
 * exp = iat + 3600}, signed with the PEM private key. *out: caller frees.
 */
int berth__gcp_jwt_assertion(const char *client_email, const char *key_pem,
                             const char *kid, const char *aud,
                             const char *scope, int64_t iat, char **out,
                             struct berth_err *err);

#endif
