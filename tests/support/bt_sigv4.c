/* bt_sigv4.c - independent SigV4 signing and verification (see bt_sigv4.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "berth/util.h"
#include "bt_sigv4.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void bt_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort();
    hex(md, 32, out);
}

static void hmac(const void *key, size_t klen, const char *msg,
                 unsigned char out[32])
{
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
              strlen(msg), out, &olen) ||
        olen != 32)
        abort();
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) ('+' stays '+': SigV4 is not form decoding). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = berth_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* URI-encode every byte but the unreserved ones (and '/' when keep_slash),
 * with upper-case hex, as SigV4 requires. */
static void pct_encode(struct berth_buf *b, const char *s, bool keep_slash)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c) || (keep_slash && c == '/'))
            berth_buf_append(b, s, 1);
        else
            berth_buf_printf(b, "%%%02X", c);
    }
}

char *bt_sigv4_canonical_uri(const char *path)
{
    struct berth_buf b = BERTH_BUF_INIT;
    char *dec;

    if (!path || !*path)
        return berth_xstrdup("/");
    dec = pct_decode(path, strlen(path));
    pct_encode(&b, dec, true);
    free(dec);
    return berth_buf_detach(&b);
}

struct qparam {
    char *k;
    char *v;
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

char *bt_sigv4_canonical_query(const char *query)
{
    struct qparam *p = NULL;
    size_t n = 0, cap = 0;
    struct berth_buf b = BERTH_BUF_INIT;
    const char *s = query;

    if (!query || !*query)
        return berth_xstrdup("");
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (len > 0) {
            char *dk, *dv;
            struct berth_buf kb = BERTH_BUF_INIT, vb = BERTH_BUF_INIT;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                p = berth_xrealloc(p, cap * sizeof(*p));
            }
            dk = pct_decode(s, eq ? (size_t)(eq - s) : len);
            dv = eq ? pct_decode(eq + 1, len - (size_t)(eq - s) - 1)
                    : berth_xstrdup("");
            pct_encode(&kb, dk, false);
            pct_encode(&vb, dv, false);
            free(dk);
            free(dv);
            p[n].k = kb.len ? berth_buf_detach(&kb) : berth_xstrdup("");
            p[n].v = vb.len ? berth_buf_detach(&vb) : berth_xstrdup("");
            berth_buf_release(&kb);
            berth_buf_release(&vb);
            n++;
        }
        s += len;
        if (*s == '&')
            s++;
    }
    qsort(p, n, sizeof(*p), qparam_cmp);
    for (size_t i = 0; i < n; i++) {
        berth_buf_printf(&b, "%s%s=%s", i ? "&" : "", p[i].k, p[i].v);
        free(p[i].k);
        free(p[i].v);
    }
    free(p);
    return b.len ? berth_buf_detach(&b) : berth_xstrdup("");
}

/* Trim and collapse runs of spaces into one, as the canonical form asks. */
static void canon_value(struct berth_buf *b, const char *v)
{
    bool space = false, any = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = true;
            continue;
        }
        if (space && any)
            berth_buf_append(b, " ", 1);
        space = false;
        any = true;
        berth_buf_append(b, v, 1);
    }
}

/* All values of header name (lowercase), canonicalised and joined with ','.
 * Returns false when the request has no such header. */
static bool header_values(const struct bt_sigv4_req *r, const char *name,
                          struct berth_buf *out)
{
    bool found = false;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) != 0)
            continue;
        if (found)
            berth_buf_append(out, ",", 1);
        canon_value(out, r->headers[i].value ? r->headers[i].value : "");
        found = true;
    }
    return found;
}

char *bt_sigv4_canonical_request(const struct bt_sigv4_req *r,
                                 const char *signed_headers)
{
    struct berth_buf b = BERTH_BUF_INIT;
    char *uri = bt_sigv4_canonical_uri(r->path);
    char *query = bt_sigv4_canonical_query(r->query);
    char payload[65];
    const char *s = signed_headers;
    bool ok = true;

    berth_buf_printf(&b, "%s\n%s\n%s\n", r->method, uri, query);
    free(uri);
    free(query);
    while (*s) {
        const char *semi = strchr(s, ';');
        size_t len = semi ? (size_t)(semi - s) : strlen(s);
        char *name = berth_xstrndup(s, len);
        berth_buf_printf(&b, "%s:", name);
        if (!header_values(r, name, &b))
            ok = false;
        berth_buf_append(&b, "\n", 1);
        free(name);
        s += len;
        if (*s == ';')
            s++;
    }
    bt_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, payload);
    berth_buf_printf(&b, "\n%s\n%s", signed_headers, payload);
    if (!ok) {
        berth_buf_release(&b);
        return NULL;
    }
    return berth_buf_detach(&b);
}

char *bt_sigv4_string_to_sign(const char *amz_date, const char *scope,
                              const char *canonical_request)
{
    char h[65];
    bt_sha256_hex(canonical_request, strlen(canonical_request), h);
    return berth_xasprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, h);
}

void bt_sigv4_signature(const char *secret, const char *date,
                        const char *region, const char *service,
                        const char *string_to_sign, char out[65])
{
    unsigned char k1[32], k2[32];
    char *ksecret = berth_xasprintf("AWS4%s", secret);

    hmac(ksecret, strlen(ksecret), date, k1);
    hmac(k1, 32, region, k2);
    hmac(k2, 32, service, k1);
    hmac(k1, 32, "aws4_request", k2);
    hmac(k2, 32, string_to_sign, k1);
    hex(k1, 32, out);
    free(ksecret);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every header name of the request, lowercased, sorted, unique. */
static char *all_header_names(const struct bt_sigv4_req *r)
{
    char **names = berth_xcalloc(r->nheaders + 1, sizeof(*names));
    struct berth_buf b = BERTH_BUF_INIT;
    for (size_t i = 0; i < r->nheaders; i++) {
        names[i] = berth_xstrdup(r->headers[i].name);
        for (char *p = names[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    qsort(names, r->nheaders, sizeof(*names), cmp_str);
    for (size_t i = 0; i < r->nheaders; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            berth_buf_printf(&b, "%s%s", b.len ? ";" : "", names[i]);
    for (size_t i = 0; i < r->nheaders; i++)
        free(names[i]);
    free(names);
    return berth_buf_detach(&b);
}

char *bt_sigv4_authorization(const struct bt_sigv4_req *r,
                             const char *signed_headers, const char *key_id,
                             const char *secret, const char *region,
                             const char *service, const char *amz_date)
{
    char *sh =
        signed_headers ? berth_xstrdup(signed_headers) : all_header_names(r);
    char date[9], sig[65];
    char *scope, *creq, *sts, *auth;

    snprintf(date, sizeof(date), "%.8s", amz_date);
    scope = berth_xasprintf("%s/%s/%s/aws4_request", date, region, service);
    creq = bt_sigv4_canonical_request(r, sh);
    if (!creq) {
        free(scope);
        free(sh);
        return NULL;
    }
    sts = bt_sigv4_string_to_sign(amz_date, scope, creq);
    bt_sigv4_signature(secret, date, region, service, sts, sig);
    auth = berth_xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s, "
                           "SignedHeaders=%s, Signature=%s",
                           key_id, scope, sh, sig);
    free(scope);
    free(creq);
    free(sts);
    free(sh);
    return auth;
}

/* ---- verification ------------------------------------------------------ */

static const char *find_header(const struct bt_sigv4_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static int fail(char **type, char **msg, const char *t, char *m)
{
    *type = berth_xstrdup(t);
    *msg = m;
    return -1;
}

/* "YYYYMMDDTHHMMSSZ" -> Unix seconds; -1 when malformed. */
static int64_t parse_amz_date(const char *s)
{
    struct tm tm;
    const char *end;
    if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    if (!end || *end)
        return -1;
    return (int64_t)timegm(&tm);
}

static void amz_date_str(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* The value of "Name=value" among the comma-separated Authorization
 * parameters; NULL when absent. Caller frees. */
static char *auth_param(const char *params, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = params;
    while (*p) {
        const char *comma;
        size_t len;
        while (*p == ' ' || *p == ',')
            p++;
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1;
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && v[vlen - 1] == ' ')
                vlen--;
            return berth_xstrndup(v, vlen);
        }
        p += len;
    }
    return NULL;
}

static bool list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len;
        if (*p == ';')
            p++;
    }
    return false;
}

/* SignedHeaders must be lowercase, sorted and without duplicates. */
static bool list_canonical(const char *list)
{
    const char *prev = NULL;
    size_t prev_len = 0;
    const char *p = list;
    if (!*p)
        return false;
    while (*p) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (len == 0)
            return false;
        for (size_t i = 0; i < len; i++)
            if (isupper((unsigned char)p[i]))
                return false;
        if (prev) {
            size_t m = prev_len < len ? prev_len : len;
            int c = strncmp(prev, p, m);
            if (c > 0 || (c == 0 && prev_len >= len))
                return false;
        }
        prev = p;
        prev_len = len;
        p += len;
        if (*p == ';')
            p++;
    }
    return true;
}

int bt_sigv4_verify(const struct bt_sigv4_req *r,
                    const struct bt_sigv4_keys *keys, char **type, char **msg)
{
    const char *auth = find_header(r, "Authorization");
    const char *amz_date = find_header(r, "X-Amz-Date");
    const char *token = find_header(r, "X-Amz-Security-Token");
    char *cred = NULL, *sh = NULL, *sig = NULL, *creq = NULL, *sts = NULL;
    char *scope = NULL;
    char date[9], want[65], nowbuf[17];
    char cred_key[128], cred_date[16], cred_region[64], cred_service[64],
        cred_term[32];
    int64_t t;
    int rc = -1;

    *type = NULL;
    *msg = NULL;
    if (!auth || !*auth)
        return fail(type, msg, "MissingAuthenticationTokenException",
                    berth_xstrdup("Missing Authentication Token"));
    if (strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0)
        return fail(type, msg, "IncompleteSignatureException",
                    berth_xasprintf("Unsupported AWS 'algorithm': '%.*s'",
                                    (int)strcspn(auth, " "), auth));
    cred = auth_param(auth + 17, "Credential");
    sh = auth_param(auth + 17, "SignedHeaders");
    sig = auth_param(auth + 17, "Signature");
    if (!cred || !sh || !sig) {
        rc = fail(type, msg, "IncompleteSignatureException",
                  berth_xasprintf("Authorization header requires "
                                  "'Credential', 'SignedHeaders' and "
                                  "'Signature' parameters. Authorization=%s",
                                  auth));
        goto out;
    }
    if (sscanf(cred, "%127[^/]/%15[^/]/%63[^/]/%63[^/]/%31s", cred_key,
               cred_date, cred_region, cred_service, cred_term) != 5 ||
        strcmp(cred_term, "aws4_request") != 0) {
        rc = fail(type, msg, "IncompleteSignatureException",
                  berth_xasprintf("Credential must have exactly 5 "
                                  "slash-delimited elements, e.g. "
                                  "keyid/date/region/service/term, got '%s'",
                                  cred));
        goto out;
    }
    if (strcmp(cred_key, keys->key_id) != 0) {
        rc = fail(type, msg, "UnrecognizedClientException",
                  berth_xstrdup("The security token included in the "
                                "request is invalid."));
        goto out;
    }
    if (keys->session_token && (!token || strcmp(token, keys->session_token))) {
        rc = fail(type, msg, "UnrecognizedClientException",
                  berth_xstrdup("The security token included in the "
                                "request is invalid."));
        goto out;
    }
    if (!amz_date) {
        rc = fail(type, msg, "IncompleteSignatureException",
                  berth_xstrdup("Authorization header requires existence "
                                "of either a 'X-Amz-Date' or a 'Date' "
                                "header."));
        goto out;
    }
    t = parse_amz_date(amz_date);
    if (t < 0) {
        rc = fail(type, msg, "IncompleteSignatureException",
                  berth_xasprintf("Date must be in ISO-8601 'basic format'. "
                                  "Got '%s'.",
                                  amz_date));
        goto out;
    }
    amz_date_str(keys->now_s, nowbuf);
    if (t < keys->now_s - keys->max_skew_s) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("Signature expired: %s is now earlier "
                                  "than %s (%s - %lld min.)",
                                  amz_date, nowbuf, nowbuf,
                                  (long long)keys->max_skew_s / 60));
        goto out;
    }
    if (t > keys->now_s + keys->max_skew_s) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("Signature not yet current: %s is still "
                                  "later than %s (%s + %lld min.)",
                                  amz_date, nowbuf, nowbuf,
                                  (long long)keys->max_skew_s / 60));
        goto out;
    }
    snprintf(date, sizeof(date), "%.8s", amz_date);
    if (strcmp(date, cred_date) != 0) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("Date in Credential scope does not match "
                                  "YYYYMMDD from ISO-8601 version of date "
                                  "from HTTP: '%s' != '%s', from '%s'.",
                                  cred_date, date, amz_date));
        goto out;
    }
    if (strcmp(cred_region, keys->region) != 0) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("Credential should be scoped to a valid "
                                  "region, not '%s'. ",
                                  cred_region));
        goto out;
    }
    if (strcmp(cred_service, keys->service) != 0) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("Credential should be scoped to correct "
                                  "service: '%s'. ",
                                  keys->service));
        goto out;
    }
    if (!list_canonical(sh)) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("SignedHeaders must be lowercase, sorted "
                                  "and separated by ';': '%s'",
                                  sh));
        goto out;
    }
    /* host and x-amz-date must be signed; so must every x-amz-* header
     * and the content type, which select the operation and its input. */
    for (size_t i = 0; i < r->nheaders; i++) {
        char *lower = berth_xstrdup(r->headers[i].name);
        bool must;
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        must = strcmp(lower, "host") == 0 || strncmp(lower, "x-amz-", 6) == 0 ||
               strcmp(lower, "content-type") == 0;
        if (must && !list_has(sh, lower)) {
            rc = fail(type, msg, "InvalidSignatureException",
                      berth_xasprintf("'%s' must be a signed header "
                                      "(SignedHeaders=%s)",
                                      r->headers[i].name, sh));
            free(lower);
            goto out;
        }
        free(lower);
    }
    creq = bt_sigv4_canonical_request(r, sh);
    if (!creq) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("a header named in SignedHeaders=%s is "
                                  "missing from the request",
                                  sh));
        goto out;
    }
    scope = berth_xasprintf("%s/%s/%s/aws4_request", cred_date, cred_region,
                            cred_service);
    sts = bt_sigv4_string_to_sign(amz_date, scope, creq);
    bt_sigv4_signature(keys->secret, cred_date, cred_region, cred_service, sts,
                       want);
    if (strcmp(want, sig) != 0) {
        rc = fail(type, msg, "InvalidSignatureException",
                  berth_xasprintf("The request signature we calculated does "
                                  "not match the signature you provided. "
                                  "Check your AWS Secret Access Key and "
                                  "signing method. Consult the service "
                                  "documentation for details.\n\nThe "
                                  "Canonical String for this request "
                                  "should have been\n'%s'\n\nThe String-to-"
                                  "Sign should have been\n'%s'\n",
                                  creq, sts));
        goto out;
    }
    rc = 0;
out:
    free(cred);
    free(sh);
    free(sig);
    free(creq);
    free(sts);
    free(scope);
    return rc;
}
