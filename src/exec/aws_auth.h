/*
 * aws_auth.h - AWS credentials for the backends that sign with SigV4
 * (fargate), from the places AWS's SDKs look, in their order:
 *
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for
 *      temporary credentials, AWS_SESSION_TOKEN;
 *   2. the shared credentials file: $AWS_SHARED_CREDENTIALS_FILE or
 *      ~/.aws/credentials, profile $AWS_PROFILE or "default"
 *      (aws_access_key_id, aws_secret_access_key, aws_session_token);
 *   3. the ECS container credentials endpoint, when berth itself runs as
 *      an ECS task: $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *      http://169.254.170.2) or $AWS_CONTAINER_CREDENTIALS_FULL_URI (with
 *      $AWS_CONTAINER_AUTHORIZATION_TOKEN);
 *   4. the EC2 instance metadata service, IMDSv2 only: PUT
 *      /latest/api/token for a session token, then GET
 *      /latest/meta-data/iam/security-credentials/ (the role name) and
 *      .../security-credentials/<role> (the keys). Off when
 *      AWS_EC2_METADATA_DISABLED=true.
 *
 * Temporary credentials (3, 4) are cached until five minutes before they
 * expire; sources 1 and 2 are read at each call, so rotating them needs
 * no restart. Private to the exec layer. Thread-safe.
 */
#ifndef BERTH_EXEC_AWS_AUTH_H
#define BERTH_EXEC_AWS_AUTH_H

#include <stdint.h>

#include "berth/err.h"
#include "berth/opts.h"
#include "berth/util.h"

/* One set of credentials; the strings are owned (release frees them). */
struct berth_aws_creds {
    char *key_id;
    char *secret;
    char *token;        /* session token, NULL when none */
    int64_t expires_us; /* 0: does not expire */
    const char *source; /* static text: "environment", "instance metadata"... */
};

void berth__aws_creds_release(struct berth_aws_creds *c);

struct berth_aws_auth;

struct berth_aws_auth_params {
    /* Base URL of the instance metadata service; NULL for
     * http://169.254.169.254. Borrowed for the call. */
    const char *metadata_endpoint;
    /* NULL = real time. Borrowed: must outlive the provider. */
    const struct berth_clock *clock;
};

/* *out is freed with berth__aws_auth_free(). */
int berth__aws_auth_new(const struct berth_aws_auth_params *p,
                        struct berth_aws_auth **out, struct berth_err *err);
void berth__aws_auth_free(struct berth_aws_auth *a); /* NULL is a no-op */

/*
 * Current credentials, copied into *out (caller releases). Fails with
 * BERTH_E_AUTH and a message naming every place that was tried when none
 * has credentials; transient when a metadata service answered with an
 * error worth another try (5xx, timeout).
 */
int berth__aws_auth_get(struct berth_aws_auth *a, struct berth_aws_creds *out,
                        struct berth_err *err);

/* Forget cached temporary credentials, e.g. after a service answered
 * ExpiredTokenException: the next get() fetches fresh ones. */
void berth__aws_auth_invalidate(struct berth_aws_auth *a);

/* The region: the option if set, else $AWS_REGION, else
 * $AWS_DEFAULT_REGION; NULL when none. Borrowed. */
const char *berth__aws_region(const struct berth_opts *opts);

#endif
