/*
 * test_cloudrun_auth.c - src/exec/gcp_auth.c without a network: base64url,
 * the RS256 JWT assertion (checked with OpenSSL against the public half of
 * a key generated here), and choosing a token source from options and the
 * environment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "berth_test.h"

#include "exec/gcp_auth.h"

static void test_auth__b64url_matches_rfc4648_vectors(void **state)
{
    static const char *const in[] = {"",     "f",     "fo",    "foo",
                                     "foob", "fooba", "foobar"};
    static const char *const out[] = {"",       "Zg",      "Zm8",     "Zm9v",
                                      "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        char *e = berth__gcp_b64url(in[i], strlen(in[i]));
        unsigned char *d;
        size_t n;
        assert_string_equal(e, out[i]);
        assert_int_equal(berth__gcp_b64url_decode(e, strlen(e), &d, &n), 0);
        assert_int_equal(n, strlen(in[i]));
        assert_memory_equal(d, in[i], n);
        free(d);
        free(e);
    }
    /* the URL-safe alphabet */
    {
        const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
        char *e = berth__gcp_b64url(bytes, 3);
        assert_string_equal(e, "-_-_");
        free(e);
    }
}

static EVP_PKEY *gen_rsa(char **pem)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    assert_non_null(k);
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL),
                     1);
    n = BIO_get_mem_data(b, &data);
    *pem = berth_xstrndup(data, (size_t)n);
    BIO_free(b);
    return k;
}

static json_t *segment(const char *s, size_t n)
{
    unsigned char *raw;
    size_t len;
    json_t *j;
    assert_int_equal(berth__gcp_b64url_decode(s, n, &raw, &len), 0);
    j = json_loadb((char *)raw, len, 0, NULL);
    free(raw);
    assert_non_null(j);
    return j;
}

static void test_auth__jwt_assertion_is_rs256_signed(void **state)
{
    char *pem, *jwt = NULL;
    EVP_PKEY *k = gen_rsa(&pem);
    const char *d1, *d2;
    json_t *h, *c;
    unsigned char *sig;
    size_t sig_len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    (void)state;

    assert_int_equal(
        berth__gcp_jwt_assertion("sa@p.iam.gserviceaccount.com", pem, "kid-7",
                                 "https://oauth2.googleapis.com/token",
                                 BERTH_GCP_SCOPE, 1795000000, &jwt, NULL),
        0);
    d1 = strchr(jwt, '.');
    d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_null(strchr(jwt, '='));
    h = segment(jwt, (size_t)(d1 - jwt));
    c = segment(d1 + 1, (size_t)(d2 - d1 - 1));
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-7");
    assert_string_equal(json_string_value(json_object_get(c, "iss")),
                        "sa@p.iam.gserviceaccount.com");
    assert_string_equal(json_string_value(json_object_get(c, "aud")),
                        "https://oauth2.googleapis.com/token");
    assert_string_equal(json_string_value(json_object_get(c, "scope")),
                        BERTH_GCP_SCOPE);
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), 1795000000);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")),
                     1795000000 + 3600);

    /* the signature verifies with the public key over header.claims */
    assert_int_equal(
        berth__gcp_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sig_len), 0);
    assert_int_equal(sig_len, 256);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sig_len,
                                      (const unsigned char *)jwt,
                                      (size_t)(d2 - jwt)),
                     1);
    /* and not over anything else */
    jwt[3] ^= 1;
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_not_equal(EVP_DigestVerify(md, sig, sig_len,
                                          (const unsigned char *)jwt,
                                          (size_t)(d2 - jwt)),
                         1);
    EVP_MD_CTX_free(md);
    free(sig);
    json_decref(h);
    json_decref(c);
    free(jwt);
    free(pem);
    EVP_PKEY_free(k);
}

static void test_auth__jwt_needs_an_rsa_key(void **state)
{
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *pem, *jwt = NULL;
    long n;
    struct berth_err err;
    (void)state;

    assert_int_equal(PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL),
                     1);
    n = BIO_get_mem_data(b, &data);
    pem = berth_xstrndup(data, (size_t)n);
    berth_err_init(&err);
    assert_int_equal(
        berth__gcp_jwt_assertion("a@b", pem, NULL, "aud", "s", 1, &jwt, &err),
        BERTH_E_AUTH);
    assert_non_null(strstr(err.msg, "not an RSA key"));
    assert_null(jwt);
    berth_err_init(&err);
    assert_int_equal(berth__gcp_jwt_assertion("a@b", "-----BEGIN nonsense",
                                              NULL, "aud", "s", 1, &jwt, &err),
                     BERTH_E_AUTH);
    assert_non_null(strstr(err.msg, "private key"));
    free(pem);
    BIO_free(b);
    EVP_PKEY_free(ec);
}

static void clear_env(void)
{
    unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
}

static void test_auth__source_order_follows_the_design(void **state)
{
    struct berth_gcp_auth_params p;
    struct berth_gcp_auth *a;
    char tok[BERTH_GCP_TOKEN_MAX];
    (void)state;

    clear_env();
    memset(&p, 0, sizeof(p));
    assert_int_equal(berth__gcp_auth_new(&p, &a, NULL), 0);
    assert_int_equal(berth__gcp_auth_kind(a), BERTH_GCP_CRED_METADATA);
    assert_string_equal(
        berth__gcp_auth_describe(a),
        "the metadata server at http://metadata.google.internal");
    berth__gcp_auth_free(a);

    setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.abc", 1);
    assert_int_equal(berth__gcp_auth_new(&p, &a, NULL), 0);
    assert_int_equal(berth__gcp_auth_kind(a), BERTH_GCP_CRED_ENV_TOKEN);
    assert_int_equal(berth__gcp_auth_token(a, tok, sizeof(tok), NULL), 0);
    assert_string_equal(tok, "ya29.abc");
    /* an environment token cannot be replaced after a 401 */
    assert_false(berth__gcp_auth_reject(a, tok));
    assert_int_equal(berth__gcp_auth_fetches(a), 0);
    berth__gcp_auth_free(a);
    clear_env();
}

static char *write_key(const char *dir, const char *name, const char *text)
{
    char *path = berth_xasprintf("%s/%s", dir, name);
    bt_write_file(path, text);
    return path;
}

static void test_auth__key_files_are_checked_when_loaded(void **state)
{
    char *dir = bt_tmpdir("gcpauth"), *pem, *good, *text;
    EVP_PKEY *k = gen_rsa(&pem);
    struct berth_gcp_auth_params p;
    struct berth_gcp_auth *a = NULL;
    struct berth_err err;
    json_t *j;
    char *path;
    (void)state;

    clear_env();
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
                  "project_id", "p-7", "private_key_id", "k1", "private_key",
                  pem, "client_email", "sa@p-7.iam.gserviceaccount.com",
                  "token_uri", "https://example.test/token");
    text = json_dumps(j, 0);
    good = write_key(dir, "good.json", text);
    free(text);
    memset(&p, 0, sizeof(p));
    p.credentials_file = good;
    assert_int_equal(berth__gcp_auth_new(&p, &a, NULL), 0);
    assert_int_equal(berth__gcp_auth_kind(a), BERTH_GCP_CRED_KEY_FILE);
    assert_string_equal(berth__gcp_auth_project(a), "p-7");
    assert_non_null(
        strstr(berth__gcp_auth_describe(a), "sa@p-7.iam.gserviceaccount.com"));
    berth__gcp_auth_free(a);

    /* missing fields, wrong type, not JSON */
    json_object_del(j, "client_email");
    text = json_dumps(j, 0);
    path = write_key(dir, "noemail.json", text);
    free(text);
    p.credentials_file = path;
    berth_err_init(&err);
    assert_int_equal(berth__gcp_auth_new(&p, &a, &err), BERTH_E_CONFIG);
    assert_non_null(strstr(err.msg, "client_email"));
    free(path);

    path = write_key(dir, "user.json",
                     "{\"type\":\"authorized_user\",\"client_id\":\"x\"}");
    p.credentials_file = path;
    berth_err_init(&err);
    assert_int_equal(berth__gcp_auth_new(&p, &a, &err), BERTH_E_CONFIG);
    assert_non_null(strstr(err.msg, "authorized_user"));
    free(path);

    path = write_key(dir, "junk.json", "not json at all");
    p.credentials_file = path;
    berth_err_init(&err);
    assert_int_equal(berth__gcp_auth_new(&p, &a, &err), BERTH_E_CONFIG);
    assert_non_null(strstr(err.msg, "junk.json"));
    free(path);

    json_decref(j);
    free(good);
    free(pem);
    EVP_PKEY_free(k);
    bt_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth__b64url_matches_rfc4648_vectors),
        cmocka_unit_test(test_auth__jwt_assertion_is_rs256_signed),
        cmocka_unit_test(test_auth__jwt_needs_an_rsa_key),
        cmocka_unit_test(test_auth__source_order_follows_the_design),
        cmocka_unit_test(test_auth__key_files_are_checked_when_loaded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
