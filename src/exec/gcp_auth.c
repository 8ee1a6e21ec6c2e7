/* gcp_auth.c - OAuth2 bearer tokens for Google Cloud (see gcp_auth.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gcp_auth.h"
#include "http.h"

#define KEY_FILE_MAX   (64u << 10)
#define TOKEN_BODY_MAX (64u << 10)
/* Refresh this long before expiry (Google's client libraries use a few
 * minutes), or at half the lifetime of short-lived tokens. */
#define REFRESH_MARGIN_S 300
/* Longest lifetime believed (Google's tokens live an hour, at most 12 h):
 * a larger expires_in is cut to this, so the refresh time cannot
 * overflow. */
#define EXPIRES_MAX_S 86400

struct berth_gcp_auth {
    enum berth_gcp_cred_kind kind;
    char *describe;
    char *env_token;
    char *key_path;
    char *email;
    char *key_pem;
    char *kid;
    char *project;
    char *token_url;    /* JWT flow */
    char *metadata_url; /* full token URL of the metadata server */
    const struct berth_clock *clock;

    pthread_mutex_t lock;
    char *token;        /* cached, NULL when none */
    int64_t refresh_at; /* clock us */
    uint64_t fetches;
};

/* ---- base64url --------------------------------------------------------- */

char *berth__gcp_b64url(const void *data, size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = berth_xmalloc(len / 3 * 4 + 5);
    size_t o = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

int berth__gcp_b64url_decode(const char *s, size_t len, unsigned char **out,
                             size_t *out_len)
{
    unsigned char *buf;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return BERTH_E_PARSE;
    buf = berth_xmalloc(len / 4 * 3 + 3);
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            free(buf);
            return BERTH_E_PARSE;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- the JWT bearer assertion ------------------------------------------ */

static int ssl_err(struct berth_err *err, const char *what)
{
    char buf[256] = "unknown OpenSSL error";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return berth_err_set(err, BERTH_E_AUTH, "%s: %s", what, buf);
}

int berth__gcp_jwt_assertion(const char *client_email, const char *key_pem,
                             const char *kid, const char *aud,
                             const char *scope, int64_t iat, char **out,
                             struct berth_err *err)
{
    json_t *hdr = NULL, *claims = NULL;
    char *hdr_txt = NULL, *claims_txt = NULL, *h64 = NULL, *c64 = NULL;
    char *s64 = NULL, *input = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    int rc = 0;

    *out = NULL;
    hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    if (kid && *kid)
        json_object_set_new(hdr, "kid", json_string(kid));
    claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", client_email,
                       "scope", scope, "aud", aud, "iat", (json_int_t)iat,
                       "exp", (json_int_t)(iat + 3600));
    if (!hdr || !claims) {
        rc = berth_err_set(err, BERTH_E_INVALID,
                           "cannot build the JWT: bad claim text");
        goto out;
    }
    hdr_txt = json_dumps(hdr, JSON_COMPACT);
    claims_txt = json_dumps(claims, JSON_COMPACT);
    h64 = berth__gcp_b64url(hdr_txt, strlen(hdr_txt));
    c64 = berth__gcp_b64url(claims_txt, strlen(claims_txt));
    input = berth_xasprintf("%s.%s", h64, c64);

    bio = BIO_new_mem_buf(key_pem, -1);
    if (!bio) {
        rc = berth_err_set(err, BERTH_E_NOMEM, "cannot read the private key");
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!pkey) {
        rc = ssl_err(err, "cannot read the service account's private key");
        goto out;
    }
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        rc = berth_err_set(err, BERTH_E_AUTH,
                           "the service account's private key is not an RSA "
                           "key (RS256 needs one)");
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, (const unsigned char *)input,
                       strlen(input)) != 1) {
        rc = ssl_err(err, "cannot sign the JWT");
        goto out;
    }
    sig = berth_xmalloc(sig_len);
    if (EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)input,
                       strlen(input)) != 1) {
        rc = ssl_err(err, "cannot sign the JWT");
        goto out;
    }
    s64 = berth__gcp_b64url(sig, sig_len);
    *out = berth_xasprintf("%s.%s", input, s64);
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    free(sig);
    free(s64);
    free(input);
    free(c64);
    free(h64);
    free(claims_txt);
    free(hdr_txt);
    json_decref(claims);
    json_decref(hdr);
    return rc;
}

/* ---- creating a source ------------------------------------------------- */

static const char *json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int load_key_file(struct berth_gcp_auth *a, const char *path,
                         const char *origin, struct berth_err *err)
{
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    json_error_t jerr;
    const char *type, *email, *pem;
    int rc;

    rc = berth_read_file(path, KEY_FILE_MAX, &text, &len, err);
    if (rc) {
        berth_err_prefix(err, "%s", origin);
        return rc;
    }
    root = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(root)) {
        rc = berth_err_set(err, BERTH_E_CONFIG,
                           "%s: service account key '%s' is not a JSON "
                           "object: %s (line %d)",
                           origin, path, root ? "wrong type" : jerr.text,
                           jerr.line);
        goto out;
    }
    type = json_str(root, "type");
    if (!type || strcmp(type, "service_account") != 0) {
        rc = berth_err_set(err, BERTH_E_CONFIG,
                           "%s: credentials file '%s' has type '%s'; only "
                           "service account keys (type 'service_account') "
                           "are supported",
                           origin, path, type ? type : "(none)");
        goto out;
    }
    email = json_str(root, "client_email");
    pem = json_str(root, "private_key");
    if (!email || !*email || !pem || !*pem) {
        rc = berth_err_set(
            err, BERTH_E_CONFIG, "%s: service account key '%s' lacks %s",
            origin, path, !email || !*email ? "client_email" : "private_key");
        goto out;
    }
    a->key_path = berth_xstrdup(path);
    a->email = berth_xstrdup(email);
    a->key_pem = berth_xstrdup(pem);
    a->kid = berth_xstrdup(json_str(root, "private_key_id"));
    a->project = berth_xstrdup(json_str(root, "project_id"));
    if (!a->token_url && json_str(root, "token_uri"))
        a->token_url = berth_xstrdup(json_str(root, "token_uri"));
    rc = 0;
out:
    json_decref(root);
    free(text);
    return rc;
}

static char *strip_slash(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return berth_xstrndup(url, n);
}

int berth__gcp_auth_new(const struct berth_gcp_auth_params *p,
                        struct berth_gcp_auth **out, struct berth_err *err)
{
    struct berth_gcp_auth *a = berth_xcalloc(1, sizeof(*a));
    const char *env_tok = getenv("GOOGLE_OAUTH_ACCESS_TOKEN");
    const char *env_key = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    int rc = 0;

    *out = NULL;
    a->clock = p->clock;
    pthread_mutex_init(&a->lock, NULL);
    if (p->token_endpoint && *p->token_endpoint)
        a->token_url = berth_xstrdup(p->token_endpoint);

    if (p->credentials_file && *p->credentials_file) {
        a->kind = BERTH_GCP_CRED_KEY_FILE;
        rc = load_key_file(a, p->credentials_file, "credentials_file", err);
    } else if (env_tok && *env_tok) {
        a->kind = BERTH_GCP_CRED_ENV_TOKEN;
        if (strlen(env_tok) >= BERTH_GCP_TOKEN_MAX)
            rc = berth_err_set(err, BERTH_E_CONFIG,
                               "GOOGLE_OAUTH_ACCESS_TOKEN is longer than %d "
                               "bytes",
                               BERTH_GCP_TOKEN_MAX - 1);
        a->env_token = berth_xstrdup(env_tok);
        a->describe = berth_xstrdup("the token in GOOGLE_OAUTH_ACCESS_TOKEN");
    } else if (env_key && *env_key) {
        a->kind = BERTH_GCP_CRED_KEY_FILE;
        rc = load_key_file(a, env_key, "GOOGLE_APPLICATION_CREDENTIALS", err);
    } else {
        char *base = strip_slash(p->metadata_endpoint && *p->metadata_endpoint
                                     ? p->metadata_endpoint
                                     : BERTH_GCP_METADATA_URL);
        a->kind = BERTH_GCP_CRED_METADATA;
        a->metadata_url = berth_xasprintf(
            "%s/computeMetadata/v1/instance/service-accounts/default/token",
            base);
        a->describe = berth_xasprintf("the metadata server at %s", base);
        free(base);
    }
    if (rc) {
        berth__gcp_auth_free(a);
        return rc;
    }
    if (a->kind == BERTH_GCP_CRED_KEY_FILE) {
        if (!a->token_url)
            a->token_url = berth_xstrdup(BERTH_GCP_TOKEN_URL);
        a->describe = berth_xasprintf("service account key '%s' (%s)",
                                      a->key_path, a->email);
    }
    *out = a;
    return 0;
}

void berth__gcp_auth_free(struct berth_gcp_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a->describe);
    free(a->env_token);
    free(a->key_path);
    free(a->email);
    if (a->key_pem) {
        OPENSSL_cleanse(a->key_pem, strlen(a->key_pem));
        free(a->key_pem);
    }
    free(a->kid);
    free(a->project);
    free(a->token_url);
    free(a->metadata_url);
    free(a->token);
    free(a);
}

enum berth_gcp_cred_kind berth__gcp_auth_kind(const struct berth_gcp_auth *a)
{
    return a->kind;
}

const char *berth__gcp_auth_describe(const struct berth_gcp_auth *a)
{
    return a->describe;
}

const char *berth__gcp_auth_project(const struct berth_gcp_auth *a)
{
    return a->project;
}

uint64_t berth__gcp_auth_fetches(const struct berth_gcp_auth *a)
{
    uint64_t n;
    pthread_mutex_lock((pthread_mutex_t *)&a->lock);
    n = a->fetches;
    pthread_mutex_unlock((pthread_mutex_t *)&a->lock);
    return n;
}

/* ---- fetching ---------------------------------------------------------- */

/*
 * Parse {"access_token": "...", "expires_in": N, "token_type": "Bearer"},
 * the answer of both the token endpoint and the metadata server.
 */
static int parse_token(struct berth_gcp_auth *a, const char *body, size_t len,
                       char **token, int64_t *expires_in, struct berth_err *err)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *tok = json_object_get(root, "access_token");
    json_t *exp = json_object_get(root, "expires_in");
    const char *type = json_str(root, "token_type");
    int rc = 0;

    if (!json_is_string(tok) || !*json_string_value(tok) ||
        !json_is_integer(exp) || json_integer_value(exp) <= 0) {
        rc = berth_err_set(err, BERTH_E_PARSE,
                           "%s answered without a usable access_token and "
                           "expires_in",
                           a->describe);
        goto out;
    }
    if (type && strcasecmp(type, "Bearer") != 0) {
        rc = berth_err_set(err, BERTH_E_PARSE,
                           "%s answered a token of type '%s', not Bearer",
                           a->describe, type);
        goto out;
    }
    if (strlen(json_string_value(tok)) >= BERTH_GCP_TOKEN_MAX) {
        rc = berth_err_set(err, BERTH_E_TOOBIG,
                           "%s answered a token longer than %d bytes",
                           a->describe, BERTH_GCP_TOKEN_MAX - 1);
        goto out;
    }
    for (const char *c = json_string_value(tok); *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            rc = berth_err_set(err, BERTH_E_PARSE,
                               "%s answered a token with control or space "
                               "characters",
                               a->describe);
            goto out;
        }
    }
    *token = berth_xstrdup(json_string_value(tok));
    *expires_in = (int64_t)json_integer_value(exp);
    if (*expires_in > EXPIRES_MAX_S)
        *expires_in = EXPIRES_MAX_S;
out:
    json_decref(root);
    return rc;
}

/* "error: error_description" of an OAuth2 error body, or the raw text. */
static void oauth_detail(const char *body, size_t len, char *buf, size_t size)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *e = json_str(root, "error");
    const char *d = json_str(root, "error_description");

    if (e)
        snprintf(buf, size, "%s%s%s", e, d ? ": " : "", d ? d : "");
    else
        snprintf(buf, size, "%.*s", (int)(len > 200 ? 200 : len),
                 len ? body : "empty body");
    json_decref(root);
}

static int fetch(struct berth_gcp_auth *a, char **token, int64_t *expires_in,
                 struct berth_err *err)
{
    struct berth_http *h = NULL;
    struct berth_http_resp resp;
    struct berth_http_req req;
    const char *mflavor[] = {"Metadata-Flavor: Google", NULL};
    const char *form_hdr[] = {"Content-Type: application/x-www-form-urlencoded",
                              NULL};
    char *assertion = NULL, *body = NULL;
    char detail[300];
    int rc;

    berth_http_resp_init(&resp);
    memset(&req, 0, sizeof(req));
    rc = berth_http_new(&h, err);
    if (rc)
        goto out;
    req.max_body = TOKEN_BODY_MAX;
    req.timeout_ms = 30000;
    if (a->kind == BERTH_GCP_CRED_METADATA) {
        req.method = "GET";
        req.url = a->metadata_url;
        req.headers = mflavor;
        req.connect_timeout_ms = 3000;
    } else {
        rc = berth__gcp_jwt_assertion(
            a->email, a->key_pem, a->kid, a->token_url, BERTH_GCP_SCOPE,
            berth_now_us() / BERTH_US_PER_SEC, &assertion, err);
        if (rc) {
            berth_err_prefix(err, "%s", a->describe);
            goto out;
        }
        /* The assertion is base64url and dots: nothing to escape. */
        body = berth_xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
                               "grant-type%%3Ajwt-bearer&assertion=%s",
                               assertion);
        req.method = "POST";
        req.url = a->token_url;
        req.headers = form_hdr;
        req.body = body;
        req.body_len = strlen(body);
    }
    rc = berth_http_do(h, &req, &resp, err);
    if (rc) {
        berth_err_prefix(err, "cannot get a Google access token from %s",
                         a->describe);
        goto out;
    }
    if (resp.status < 200 || resp.status >= 300) {
        oauth_detail(resp.body.data, resp.body.len, detail, sizeof(detail));
        /* Any refusal of the credentials themselves is an auth failure;
         * 429 and 5xx are worth another try. */
        if (resp.status >= 400 && resp.status < 500 && resp.status != 429)
            rc = berth_err_set(err, BERTH_E_AUTH,
                               "%s refused to issue an access token: HTTP "
                               "%ld: %s",
                               a->describe, resp.status, detail);
        else
            rc = berth_err_set_transient(err, BERTH_E_BACKEND,
                                         "%s could not issue an access "
                                         "token: HTTP %ld: %s",
                                         a->describe, resp.status, detail);
        goto out;
    }
    if (a->kind == BERTH_GCP_CRED_METADATA) {
        const char *f = berth_map_get(&resp.headers, "metadata-flavor");
        if (!f || strcmp(f, "Google") != 0) {
            rc = berth_err_set(err, BERTH_E_AUTH,
                               "%s answered without 'Metadata-Flavor: "
                               "Google': not a metadata server",
                               a->describe);
            goto out;
        }
    }
    rc = parse_token(a, resp.body.data ? resp.body.data : "", resp.body.len,
                     token, expires_in, err);
out:
    if (assertion) {
        OPENSSL_cleanse(assertion, strlen(assertion));
        free(assertion);
    }
    free(body);
    berth_http_resp_release(&resp);
    berth_http_free(h);
    return rc;
}

static int copy_out(const char *tok, char *buf, size_t size,
                    struct berth_err *err)
{
    size_t n = strlen(tok);
    if (n >= size)
        return berth_err_set(err, BERTH_E_TOOBIG,
                             "access token does not fit %zu bytes", size);
    memcpy(buf, tok, n + 1);
    return 0;
}

int berth__gcp_auth_token(struct berth_gcp_auth *a, char *buf, size_t size,
                          struct berth_err *err)
{
    char *tok = NULL;
    int64_t expires_in = 0, now, margin;
    int rc;

    if (a->kind == BERTH_GCP_CRED_ENV_TOKEN)
        return copy_out(a->env_token, buf, size, err);

    pthread_mutex_lock(&a->lock);
    now = berth_clock_now(a->clock);
    if (a->token && now < a->refresh_at) {
        rc = copy_out(a->token, buf, size, err);
        goto out;
    }
    /* One thread refreshes; the others wait on the lock for its answer. */
    rc = fetch(a, &tok, &expires_in, err);
    if (rc)
        goto out;
    a->fetches++;
    free(a->token);
    a->token = tok;
    margin = REFRESH_MARGIN_S;
    if (margin > expires_in / 2)
        margin = expires_in / 2;
    a->refresh_at =
        berth_clock_now(a->clock) + (expires_in - margin) * BERTH_US_PER_SEC;
    rc = copy_out(a->token, buf, size, err);
out:
    pthread_mutex_unlock(&a->lock);
    return rc;
}

bool berth__gcp_auth_reject(struct berth_gcp_auth *a, const char *token)
{
    if (a->kind == BERTH_GCP_CRED_ENV_TOKEN)
        return false;
    pthread_mutex_lock(&a->lock);
    if (a->token && strcmp(a->token, token) == 0) {
        free(a->token);
        a->token = NULL;
    }
    pthread_mutex_unlock(&a->lock);
    return true;
}
