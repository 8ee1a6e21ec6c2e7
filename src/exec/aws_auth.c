/* aws_auth.c - AWS credentials: environment, shared file, ECS container
 * endpoint, IMDSv2 (see aws_auth.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws_auth.h"
#include "http.h"

#define IMDS_DEFAULT   "http://169.254.169.254"
#define ECS_CREDS_HOST "http://169.254.170.2"
/* Refresh temporary credentials this long before they expire. */
#define REFRESH_MARGIN_US (300 * BERTH_US_PER_SEC)
/* After a failed fetch, answer with the same failure for this long rather
 * than wait on an unreachable metadata service at every call. */
#define FAIL_CACHE_US  (10 * BERTH_US_PER_SEC)
#define IMDS_TOKEN_TTL "21600"

struct berth_aws_auth {
    pthread_mutex_t lock;
    char *metadata_endpoint;
    const struct berth_clock *clock;
    struct berth_aws_creds cached;
    bool have_cached;
    int64_t fail_until_us;
    struct berth_err fail;
};

void berth__aws_creds_release(struct berth_aws_creds *c)
{
    free(c->key_id);
    free(c->secret);
    free(c->token);
    c->key_id = c->secret = c->token = NULL;
    c->expires_us = 0;
    c->source = NULL;
}

static void creds_copy(struct berth_aws_creds *dst,
                       const struct berth_aws_creds *src)
{
    dst->key_id = berth_xstrdup(src->key_id);
    dst->secret = berth_xstrdup(src->secret);
    dst->token = berth_xstrdup(src->token);
    dst->expires_us = src->expires_us;
    dst->source = src->source;
}

static void creds_set(struct berth_aws_creds *c, const char *key_id,
                      const char *secret, const char *token, const char *source)
{
    c->key_id = berth_xstrdup(key_id);
    c->secret = berth_xstrdup(secret);
    c->token = token && *token ? berth_xstrdup(token) : NULL;
    c->expires_us = 0;
    c->source = source;
}

int berth__aws_auth_new(const struct berth_aws_auth_params *p,
                        struct berth_aws_auth **out, struct berth_err *err)
{
    struct berth_aws_auth *a = berth_xcalloc(1, sizeof(*a));
    const char *ep = p->metadata_endpoint && *p->metadata_endpoint
                         ? p->metadata_endpoint
                         : IMDS_DEFAULT;
    size_t n = strlen(ep);

    (void)err;
    while (n > 0 && ep[n - 1] == '/')
        n--;
    a->metadata_endpoint = berth_xstrndup(ep, n);
    a->clock = p->clock;
    pthread_mutex_init(&a->lock, NULL);
    berth_err_init(&a->fail);
    *out = a;
    return 0;
}

void berth__aws_auth_free(struct berth_aws_auth *a)
{
    if (!a)
        return;
    berth__aws_creds_release(&a->cached);
    pthread_mutex_destroy(&a->lock);
    free(a->metadata_endpoint);
    free(a);
}

void berth__aws_auth_invalidate(struct berth_aws_auth *a)
{
    pthread_mutex_lock(&a->lock);
    berth__aws_creds_release(&a->cached);
    a->have_cached = false;
    a->fail_until_us = 0;
    pthread_mutex_unlock(&a->lock);
}

const char *berth__aws_region(const struct berth_opts *opts)
{
    const char *r = opts ? berth_opts_str(opts, "region", NULL) : NULL;
    if (r && *r)
        return r;
    r = getenv("AWS_REGION");
    if (r && *r)
        return r;
    r = getenv("AWS_DEFAULT_REGION");
    return r && *r ? r : NULL;
}

/* ---- 1. environment ---------------------------------------------------- */

/* 1 when found, 0 when not set, negative on a half-set pair. */
static int from_env(struct berth_aws_creds *out, struct berth_err *err)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    bool has_id = id && *id, has_secret = secret && *secret;

    if (!has_id && !has_secret)
        return 0;
    if (!has_id || !has_secret)
        return berth_err_set(
            err, BERTH_E_AUTH,
            "AWS credentials in the environment are "
            "incomplete: %s is set but %s is not",
            has_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
            has_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    creds_set(out, id, secret, getenv("AWS_SESSION_TOKEN"), "environment");
    return 1;
}

/* ---- 2. shared credentials file --------------------------------------- */

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* 1 when the profile has keys, 0 when there is no file or no such
 * profile (unless AWS_PROFILE named it), negative on errors. */
static int from_shared_file(struct berth_aws_creds *out, struct berth_err *err)
{
    const char *path_env = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *profile_env = getenv("AWS_PROFILE");
    const char *profile = profile_env && *profile_env ? profile_env : "default";
    const char *home = getenv("HOME");
    char *path, *text = NULL, *line, *next;
    char *id = NULL, *secret = NULL, *token = NULL;
    bool in_profile = false, seen_profile = false;
    size_t len;
    struct berth_err rerr;
    int rc = 0;

    if (path_env && *path_env)
        path = berth_xstrdup(path_env);
    else if (home && *home)
        path = berth_xasprintf("%s/.aws/credentials", home);
    else
        return 0;
    berth_err_init(&rerr);
    if (berth_read_file(path, 1u << 20, &text, &len, &rerr) != 0) {
        free(path);
        return 0; /* no file: not an error, the next source is tried */
    }
    for (line = text; line; line = next) {
        char *l, *eq;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        l = trim(line);
        if (*l == '#' || *l == ';' || !*l)
            continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (end)
                *end = '\0';
            in_profile = strcmp(trim(l + 1), profile) == 0;
            seen_profile = seen_profile || in_profile;
            continue;
        }
        if (!in_profile || !(eq = strchr(l, '=')))
            continue;
        *eq = '\0';
        l = trim(l);
        if (strcmp(l, "aws_access_key_id") == 0) {
            free(id);
            id = berth_xstrdup(trim(eq + 1));
        } else if (strcmp(l, "aws_secret_access_key") == 0) {
            free(secret);
            secret = berth_xstrdup(trim(eq + 1));
        } else if (strcmp(l, "aws_session_token") == 0) {
            free(token);
            token = berth_xstrdup(trim(eq + 1));
        }
    }
    if (id && *id && secret && *secret) {
        creds_set(out, id, secret, token, "shared credentials file");
        rc = 1;
    } else if (profile_env && *profile_env) {
        rc = berth_err_set(err, BERTH_E_AUTH, "AWS profile '%s' in '%s' %s",
                           profile, path,
                           seen_profile ? "has no aws_access_key_id and "
                                          "aws_secret_access_key"
                                        : "does not exist");
    }
    free(id);
    free(secret);
    free(token);
    free(text);
    free(path);
    return rc;
}

/* ---- 3, 4. credential endpoints --------------------------------------- */

static int http_get(const char *method, const char *url,
                    const char *const *headers, struct berth_http_resp *resp,
                    struct berth_err *err)
{
    struct berth_http *h;
    struct berth_http_req req = {0};
    int rc;

    rc = berth_http_new(&h, err);
    if (rc)
        return rc;
    req.method = method;
    req.url = url;
    req.headers = headers;
    if (strcmp(method, "PUT") == 0) {
        req.body = "";
        req.body_len = 0;
    }
    req.connect_timeout_ms = 1000;
    req.timeout_ms = 5000;
    req.max_body = 64u << 10;
    rc = berth_http_do(h, &req, resp, err);
    berth_http_free(h);
    return rc;
}

/* Parse {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}: the
 * shape both the instance metadata service and the ECS endpoint answer. */
static int parse_creds_json(const char *text, const char *what,
                            const char *source, struct berth_aws_creds *out,
                            struct berth_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    const char *id, *secret, *token, *exp, *code;
    int rc = 0;

    if (!root || !json_is_object(root)) {
        rc = berth_err_set(err, BERTH_E_AUTH,
                           "%s: answer is not a JSON object: %s", what,
                           root ? "wrong type" : jerr.text);
        goto out;
    }
    code = json_string_value(json_object_get(root, "Code"));
    if (code && strcmp(code, "Success") != 0) {
        rc = berth_err_set(err, BERTH_E_AUTH, "%s: Code is '%s'", what, code);
        goto out;
    }
    id = json_string_value(json_object_get(root, "AccessKeyId"));
    secret = json_string_value(json_object_get(root, "SecretAccessKey"));
    token = json_string_value(json_object_get(root, "Token"));
    exp = json_string_value(json_object_get(root, "Expiration"));
    if (!id || !*id || !secret || !*secret) {
        rc = berth_err_set(err, BERTH_E_AUTH,
                           "%s: answer lacks AccessKeyId or SecretAccessKey",
                           what);
        goto out;
    }
    creds_set(out, id, secret, token, source);
    if (exp && berth_parse_time(exp, &out->expires_us, NULL) != 0) {
        berth__aws_creds_release(out);
        rc = berth_err_set(err, BERTH_E_AUTH, "%s: cannot read Expiration '%s'",
                           what, exp);
    }
out:
    json_decref(root);
    return rc;
}

/* An endpoint's HTTP error: 5xx is worth another try, the rest is not. */
static int endpoint_status(const struct berth_http_resp *resp, const char *what,
                           struct berth_err *err)
{
    char detail[160];
    snprintf(detail, sizeof(detail), "%.150s", berth_buf_cstr(&resp->body));
    if (resp->status >= 500 || resp->status == 429)
        return berth_err_set_transient(err, BERTH_E_AUTH, "%s: HTTP %ld: %s",
                                       what, resp->status, detail);
    return berth_err_set(err, BERTH_E_AUTH, "%s: HTTP %ld: %s", what,
                         resp->status, detail);
}

static bool loopback_http(const char *url)
{
    static const char *const ok[] = {
        "http://127.",          "http://localhost",      "http://[::1]",
        "http://169.254.170.2", "http://169.254.170.23", NULL};
    if (strncmp(url, "https://", 8) == 0)
        return true;
    for (size_t i = 0; ok[i]; i++)
        if (strncmp(url, ok[i], strlen(ok[i])) == 0)
            return true;
    return false;
}

static int from_container(struct berth_aws_creds *out, struct berth_err *err)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    struct berth_http_resp resp;
    char *url, *auth = NULL;
    const char *headers[2] = {NULL, NULL};
    int rc;

    if (rel && *rel) {
        url = berth_xasprintf("%s%s", ECS_CREDS_HOST, rel);
    } else if (full && *full) {
        if (!loopback_http(full))
            return berth_err_set(err, BERTH_E_AUTH,
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' "
                                 "must be https or a loopback/ECS address",
                                 full);
        url = berth_xstrdup(full);
        if (tok && *tok) {
            auth = berth_xasprintf("Authorization: %s", tok);
            headers[0] = auth;
        }
    } else {
        return 0;
    }
    berth_http_resp_init(&resp);
    rc = http_get("GET", url, headers, &resp, err);
    if (rc == 0 && resp.status != 200)
        rc = endpoint_status(&resp, "ECS container credentials", err);
    if (rc == 0)
        rc = parse_creds_json(berth_buf_cstr(&resp.body),
                              "ECS container credentials",
                              "container credentials endpoint", out, err);
    if (rc)
        berth_err_prefix(err, "cannot get credentials from '%s'", url);
    berth_http_resp_release(&resp);
    free(url);
    free(auth);
    return rc ? rc : 1;
}

static int from_imds(const char *base, struct berth_aws_creds *out,
                     struct berth_err *err)
{
    struct berth_http_resp resp;
    char *url = NULL, *tok_hdr = NULL, *role = NULL;
    const char *put_headers[] = {
        "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, NULL};
    const char *get_headers[2] = {NULL, NULL};
    size_t n;
    int rc;

    berth_http_resp_init(&resp);
    /* IMDSv2: a session token first. */
    url = berth_xasprintf("%s/latest/api/token", base);
    rc = http_get("PUT", url, put_headers, &resp, err);
    if (rc == 0 && resp.status != 200)
        rc = endpoint_status(&resp, "IMDSv2 token", err);
    if (rc)
        goto out;
    tok_hdr = berth_xasprintf("X-aws-ec2-metadata-token: %s",
                              berth_buf_cstr(&resp.body));
    get_headers[0] = tok_hdr;

    /* The role attached to the instance profile. */
    free(url);
    url =
        berth_xasprintf("%s/latest/meta-data/iam/security-credentials/", base);
    rc = http_get("GET", url, get_headers, &resp, err);
    if (rc == 0 && resp.status == 404)
        rc = berth_err_set(err, BERTH_E_AUTH,
                           "the instance has no IAM role (instance profile)");
    else if (rc == 0 && resp.status != 200)
        rc = endpoint_status(&resp, "IMDSv2 role name", err);
    if (rc)
        goto out;
    n = strcspn(berth_buf_cstr(&resp.body), "\r\n");
    role = berth_xstrndup(berth_buf_cstr(&resp.body), n);
    if (!*role) {
        rc = berth_err_set(err, BERTH_E_AUTH,
                           "the instance has no IAM role (instance profile)");
        goto out;
    }

    /* Its temporary credentials. */
    free(url);
    url = berth_xasprintf("%s/latest/meta-data/iam/security-credentials/%s",
                          base, role);
    rc = http_get("GET", url, get_headers, &resp, err);
    if (rc == 0 && resp.status != 200)
        rc = endpoint_status(&resp, "IMDSv2 credentials", err);
    if (rc == 0)
        rc = parse_creds_json(berth_buf_cstr(&resp.body), "IMDSv2 credentials",
                              "instance metadata", out, err);
out:
    berth_http_resp_release(&resp);
    free(url);
    free(tok_hdr);
    free(role);
    return rc ? rc : 1;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

int berth__aws_auth_get(struct berth_aws_auth *a, struct berth_aws_creds *out,
                        struct berth_err *err)
{
    struct berth_aws_creds fresh = {0};
    struct berth_err ferr;
    int64_t now;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = from_env(out, err);
    if (rc)
        return rc < 0 ? rc : 0;
    rc = from_shared_file(out, err);
    if (rc)
        return rc < 0 ? rc : 0;

    pthread_mutex_lock(&a->lock);
    now = berth_clock_now(a->clock);
    if (a->have_cached && (a->cached.expires_us == 0 ||
                           now < a->cached.expires_us - REFRESH_MARGIN_US)) {
        creds_copy(out, &a->cached);
        pthread_mutex_unlock(&a->lock);
        return 0;
    }
    if (a->fail_until_us > now) {
        if (err)
            *err = a->fail;
        rc = a->fail.rc;
        pthread_mutex_unlock(&a->lock);
        return rc;
    }
    berth_err_init(&ferr);
    rc = from_container(&fresh, &ferr);
    if (rc == 0) {
        if (env_true("AWS_EC2_METADATA_DISABLED")) {
            rc = berth_err_set(&ferr, BERTH_E_AUTH,
                               "no AWS credentials: set AWS_ACCESS_KEY_ID "
                               "and AWS_SECRET_ACCESS_KEY (and "
                               "AWS_SESSION_TOKEN for temporary ones), or a "
                               "shared credentials file; the instance "
                               "metadata service is disabled "
                               "(AWS_EC2_METADATA_DISABLED)");
        } else {
            rc = from_imds(a->metadata_endpoint, &fresh, &ferr);
            if (rc < 0) {
                /* Not on EC2 (nothing answers) is a setup problem, not a
                 * blip: say where credentials may come from. */
                bool unreachable =
                    ferr.rc == BERTH_E_NET || ferr.rc == BERTH_E_TIMEOUT;
                berth_err_prefix(&ferr,
                                 "no AWS credentials: none in the "
                                 "environment (AWS_ACCESS_KEY_ID, "
                                 "AWS_SECRET_ACCESS_KEY) or a shared "
                                 "credentials file, and the instance "
                                 "metadata service at %s gave none",
                                 a->metadata_endpoint);
                if (unreachable) {
                    ferr.rc = BERTH_E_AUTH;
                    ferr.transient = false;
                }
            }
        }
    }
    if (rc > 0) {
        berth__aws_creds_release(&a->cached);
        a->cached = fresh;
        a->have_cached = true;
        a->fail_until_us = 0;
        creds_copy(out, &a->cached);
        rc = 0;
    } else {
        a->fail = ferr;
        a->fail_until_us = now + FAIL_CACHE_US;
        if (err)
            *err = ferr;
        rc = ferr.rc;
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}
