/*
 * itest_cloudrun_auth.c - where the cloudrun backend gets its bearer token,
 * checked against the fake's OAuth2 token endpoint and metadata server:
 *
 *   - a service-account key file: the test generates an RSA key pair, puts
 *     the private key in the key file and gives only the public key to the
 *     fake, which verifies the RS256 signature and the claims of berth's
 *     JWT independently;
 *   - the metadata server (Metadata-Flavor: Google);
 *   - $GOOGLE_OAUTH_ACCESS_TOKEN;
 * and the cache: one token for many calls and threads, refreshed shortly
 * before expiry (by an injected clock), replaced after a 401.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "cloudrun_harness.h"

#define EMAIL        "runner@proj-1.iam.gserviceaccount.com"
#define KID          "0123456789abcdef0123456789abcdef01234567"
#define STATIC_TOKEN "ya29.env-token"

struct group {
    char *dir;
    char *pub_path;
    char *priv_pem;  /* the key the fake knows */
    char *other_pem; /* a key it does not */
};

static struct group G;

static char *pem_private(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL),
                     1);
    n = BIO_get_mem_data(b, &data);
    out = berth_xstrndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static int group_setup(void **state)
{
    EVP_PKEY *k = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
    FILE *f;

    (void)state;
    assert_non_null(k);
    assert_non_null(other);
    G.dir = bt_tmpdir("crauth");
    G.pub_path = berth_xasprintf("%s/pub.pem", G.dir);
    f = fopen(G.pub_path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, k), 1);
    fclose(f);
    G.priv_pem = pem_private(k);
    G.other_pem = pem_private(other);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    bt_rmtree(G.dir);
    free(G.dir);
    free(G.pub_path);
    free(G.priv_pem);
    free(G.other_pem);
    return 0;
}

/* Write a key file; token_uri may be NULL. Caller frees the path. */
static char *key_file(const char *name, const char *type, const char *pem,
                      const char *token_uri)
{
    char *path = berth_xasprintf("%s/%s", G.dir, name);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "project_id",
                  "proj-from-key", "private_key_id", KID, "private_key", pem,
                  "client_email", EMAIL, "client_id", "1234567890");
    if (token_uri)
        json_object_set_new(j, "token_uri", json_string(token_uri));
    assert_int_equal(json_dump_file(j, path, JSON_INDENT(2)), 0);
    json_decref(j);
    return path;
}

struct fx {
    struct crf fake;
    struct berth_opts opts;
    char *key;
};

static void clear_env(void)
{
    unsetenv("GOOGLE_OAUTH_ACCESS_TOKEN");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("GOOGLE_CLOUD_PROJECT");
}

static int setup_args(void **state, const char *const *extra)
{
    struct fx *x = berth_xcalloc(1, sizeof(*x));
    const char *args[16] = {"--jwt-pubkey", G.pub_path,  "--sa-email",
                            EMAIL,          "--kid",     KID,
                            "--token",      STATIC_TOKEN};
    int n = 8;
    char uri[96];

    for (const char *const *a = extra; a && *a; a++)
        args[n++] = *a;
    args[n] = NULL;
    clear_env();
    crf_start(&x->fake, args);
    crf_opts(&x->fake, &x->opts);
    snprintf(uri, sizeof(uri), "%s/token", x->fake.base);
    x->key = key_file("key.json", "service_account", G.priv_pem, uri);
    *state = x;
    return 0;
}

static int setup(void **state)
{
    return setup_args(state, NULL);
}

static int setup_no_metadata(void **state)
{
    static const char *const extra[] = {"--no-metadata", NULL};
    return setup_args(state, extra);
}

static int teardown(void **state)
{
    struct fx *x = *state;
    crf_assert_no_violations(&x->fake);
    berth_opts_release(&x->opts);
    crf_stop(&x->fake);
    free(x->key);
    free(x);
    clear_env();
    return 0;
}

static void health_ok(struct berth_exec *ex)
{
    struct berth_err err;
    berth_err_init(&err);
    if (berth_exec_health(ex, &err))
        fail_msg("health: %s", err.msg);
}

static void test_auth__key_file_jwt_is_verified_and_cached(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;

    setenv("GOOGLE_APPLICATION_CREDENTIALS", x->key, 1);
    ex = crf_exec(&x->opts, NULL);
    health_ok(ex);
    health_ok(ex);
    health_ok(ex);
    /* The fake accepted the signature (else no token) and issued one. */
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 1);
    assert_int_equal(crf_count(&x->fake, "POST", "/token", 200), 1);
    assert_int_equal(crf_count(&x->fake, "GET", "/jobs", 200), 3);
    berth_exec_destroy(ex);
}

static void test_auth__key_files_token_uri_is_the_audience(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;

    /* No token_endpoint option: the key file's token_uri is used, and
     * the fake checks aud against its own URL. */
    berth_opts_release(&x->opts);
    crf_opts(&x->fake, &x->opts);
    {
        struct berth_opts o;
        berth_opts_init(&o);
        for (size_t i = 0; i < x->opts.n; i++)
            if (strcmp(x->opts.v[i].key, "token_endpoint") != 0)
                berth_opts_set_str(&o, x->opts.v[i].key, x->opts.v[i].s);
        berth_opts_set_int(&o, "retry_base_ms", 5);
        berth_opts_release(&x->opts);
        x->opts = o;
    }
    berth_opts_set_str(&x->opts, "credentials_file", x->key);
    ex = crf_exec(&x->opts, NULL);
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 1);
    berth_exec_destroy(ex);
}

static void test_auth__jwt_signed_by_another_key_is_refused(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    struct berth_err err;
    char uri[96];
    char *bad;

    snprintf(uri, sizeof(uri), "%s/token", x->fake.base);
    bad = key_file("other.json", "service_account", G.other_pem, uri);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", bad, 1);
    ex = crf_exec(&x->opts, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "Invalid JWT Signature"));
    assert_non_null(strstr(err.msg, "other.json"));
    assert_non_null(strstr(err.msg, EMAIL));
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 0);
    assert_int_equal(crf_count(&x->fake, NULL, "/v2/", 0), 0);
    berth_exec_destroy(ex);
    free(bad);
}

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

static void test_auth__token_is_refreshed_shortly_before_expiry(void **state)
{
    struct fx *x = *state;
    struct fake_clock fc = {berth_now_us()};
    struct berth_clock clock = {fake_now, &fc, NULL};
    struct berth_exec *ex;

    /* The fake's tokens live 3599 s; berth renews 5 minutes early. */
    setenv("GOOGLE_APPLICATION_CREDENTIALS", x->key, 1);
    ex = crf_exec(&x->opts, &clock);
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 1);
    fc.now += 3000 * BERTH_US_PER_SEC;
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 1);
    fc.now += 400 * BERTH_US_PER_SEC;
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 2);
    berth_exec_destroy(ex);
}

static int setup_endless_tokens(void **state)
{
    static const char *const extra[] = {"--token-ttl", "9223372036854775807",
                                        NULL};
    return setup_args(state, extra);
}

/* An absurd expires_in (here INT64_MAX seconds) neither overflows the
 * refresh time nor keeps a token forever: it is believed for a day. */
static void test_auth__absurd_token_lifetime_is_cut_to_a_day(void **state)
{
    struct fx *x = *state;
    struct fake_clock fc = {berth_now_us()};
    struct berth_clock clock = {fake_now, &fc, NULL};
    struct berth_exec *ex;

    ex = crf_exec(&x->opts, &clock);
    health_ok(ex);
    fc.now += 3600 * BERTH_US_PER_SEC;
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "metadata_grants"), 1);
    fc.now += 86400 * BERTH_US_PER_SEC;
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "metadata_grants"), 2);
    berth_exec_destroy(ex);
}

static void test_auth__revoked_token_is_replaced_once(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;

    setenv("GOOGLE_APPLICATION_CREDENTIALS", x->key, 1);
    ex = crf_exec(&x->opts, NULL);
    health_ok(ex);
    crf_post(&x->fake, "/_fake/revoke", "{}");
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 2);
    assert_int_equal(crf_count(&x->fake, "GET", "/jobs", 401), 1);
    berth_exec_destroy(ex);
}

static void test_auth__metadata_server_token(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;

    ex = crf_exec(&x->opts, NULL);
    health_ok(ex);
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "metadata_grants"), 1);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 0);
    assert_int_equal(crf_count(&x->fake, "GET",
                               "/computeMetadata/v1/instance/service-accounts/"
                               "default/token",
                               200),
                     1);
    berth_exec_destroy(ex);
}

static void test_auth__no_metadata_server_is_a_clear_error(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    struct berth_err err;

    ex = crf_exec(&x->opts, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_non_null(strstr(err.msg, "metadata server"));
    assert_non_null(strstr(err.msg, "HTTP 404"));
    berth_exec_destroy(ex);
}

static void test_auth__unreachable_metadata_server_is_transient(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    struct berth_err err;

    berth_opts_set_str(&x->opts, "metadata_endpoint", "http://127.0.0.1:1");
    ex = crf_exec(&x->opts, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_NET);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "metadata server at http://127.0.0.1:1"));
    berth_exec_destroy(ex);
}

static void test_auth__env_token_comes_before_key_file(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;

    setenv("GOOGLE_OAUTH_ACCESS_TOKEN", STATIC_TOKEN, 1);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", x->key, 1);
    ex = crf_exec(&x->opts, NULL);
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 0);
    berth_exec_destroy(ex);
    /* ...but an explicit credentials_file comes before both. */
    berth_opts_set_str(&x->opts, "credentials_file", x->key);
    ex = crf_exec(&x->opts, NULL);
    health_ok(ex);
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 1);
    berth_exec_destroy(ex);
}

static void test_auth__bad_key_files_are_refused_at_create(void **state)
{
    struct fx *x = *state;
    struct berth_exec_params p;
    struct berth_host host;
    struct berth_exec *ex = NULL;
    struct berth_err err;
    char *user = key_file("user.json", "authorized_user", G.priv_pem, NULL);
    char *missing = berth_xasprintf("%s/nope.json", G.dir);

    berth_host_init(&host);
    host.name = berth_xstrdup("cloudrun");
    p.executor = "cloudrun";
    p.opts = &x->opts;
    p.host = &host;
    p.clock = NULL;

    setenv("GOOGLE_APPLICATION_CREDENTIALS", missing, 1);
    berth_err_init(&err);
    assert_int_equal(berth_exec_create("cloudrun", &p, &ex, &err), BERTH_E_IO);
    assert_non_null(strstr(err.msg, "GOOGLE_APPLICATION_CREDENTIALS"));
    assert_non_null(strstr(err.msg, "nope.json"));

    setenv("GOOGLE_APPLICATION_CREDENTIALS", user, 1);
    berth_err_init(&err);
    assert_int_equal(berth_exec_create("cloudrun", &p, &ex, &err),
                     BERTH_E_CONFIG);
    assert_non_null(strstr(err.msg, "authorized_user"));
    assert_null(ex);
    berth_host_release(&host);
    free(user);
    free(missing);
}

static void test_auth__project_comes_from_the_key_file(void **state)
{
    struct fx *x = *state;
    struct berth_opts o;
    struct berth_exec *ex;
    struct berth_err err;

    berth_opts_init(&o);
    berth_opts_set_str(&o, "region", CRF_REGION);
    berth_opts_set_str(&o, "endpoint", x->fake.base);
    berth_opts_set_str(&o, "credentials_file", x->key);
    ex = crf_exec(&o, NULL);
    /* The fake serves proj-1 only: the key's project is refused there,
     * which shows it was the one asked for. */
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_non_null(strstr(err.msg, "proj-from-key"));
    berth_exec_destroy(ex);
    berth_opts_release(&o);
}

struct thread_arg {
    struct berth_exec *ex;
    int failures;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 10; i++) {
        struct berth_err err;
        berth_err_init(&err);
        if (berth_exec_health(a->ex, &err))
            a->failures++;
    }
    return NULL;
}

static void test_auth__threads_share_one_token(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    pthread_t t[8];
    struct thread_arg a[8];

    setenv("GOOGLE_APPLICATION_CREDENTIALS", x->key, 1);
    ex = crf_exec(&x->opts, NULL);
    for (int i = 0; i < 8; i++) {
        a[i].ex = ex;
        a[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    assert_int_equal(crf_stat(&x->fake, "token_grants"), 1);
    assert_int_equal(crf_count(&x->fake, "GET", "/jobs", 200), 80);
    berth_exec_destroy(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_auth__key_file_jwt_is_verified_and_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__key_files_token_uri_is_the_audience, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__jwt_signed_by_another_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__token_is_refreshed_shortly_before_expiry, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__revoked_token_is_replaced_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth__metadata_server_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__absurd_token_lifetime_is_cut_to_a_day,
            setup_endless_tokens, teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__no_metadata_server_is_a_clear_error, setup_no_metadata,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__unreachable_metadata_server_is_transient, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__env_token_comes_before_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__bad_key_files_are_refused_at_create, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_auth__project_comes_from_the_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth__threads_share_one_token,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
