/*
 * itest_fargate_auth.c - the fargate backend's signing, credentials and
 * error handling against the fake ECS server: a wrong secret or key is a
 * clear authentication error (the fake recomputes every signature), session
 * tokens, credentials from IMDSv2 and from the ECS container endpoint,
 * throttling retried with backoff, 5xx, broken answers, RunTask failures[],
 * and the fake's own strictness about what it accepts.
 */
#include "fargate_itest.h"

static const char *const session_args[] = {
    "--session-token", "FwoGZXIvYXdzEB0aDEXAMPLE/TOKEN+=", NULL};
static const char *const imds_args[] = {"--imds-role", "berth-worker-role",
                                        "--container-token",
                                        "secret-container-token", NULL};

static int setup(void **state)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    fx_start(f, NULL);
    *state = f;
    return 0;
}

static int setup_session(void **state)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    fx_start(f, session_args);
    *state = f;
    return 0;
}

static int setup_imds(void **state)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    fx_start(f, imds_args);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_stop(f);
    free(f);
    return 0;
}

static json_t *stat_of(struct fx *f, const char *key)
{
    json_t *stats = bt_fake_server_get(&f->srv, "/_fake/stats");
    json_t *v = json_incref(json_object_get(stats, key));
    json_decref(stats);
    return v;
}

static long stat_int(struct fx *f, const char *key)
{
    json_t *v = stat_of(f, key);
    long n = (long)json_integer_value(v);
    json_decref(v);
    return n;
}

static void test_fargate_auth__wrong_secret_is_a_clear_auth_error(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex;
    struct berth_execution out;
    struct berth_err err;

    env_creds(KEY_ID, "not-the-secret", NULL);
    ex = fx_exec(f);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_false(err.transient);
    assert_contains(err.msg, "ECS DescribeClusters");
    assert_contains(err.msg, "InvalidSignatureException");
    assert_contains(err.msg, "does not match the signature you provided");

    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_AUTH);
    assert_false(err.transient);
    assert_contains(err.msg, "InvalidSignatureException");
    /* Refused at once: an auth failure is not retried. */
    assert_int_equal(count_requests(f, "DescribeTaskDefinition", NULL), 1);
    assert_int_equal(count_requests(f, "RunTask", NULL), 0);
    berth_exec_destroy(ex);

    /* An access key AWS does not know. */
    env_creds("AKIDUNKNOWN", SECRET, NULL);
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_contains(err.msg, "UnrecognizedClientException");
    assert_contains(err.msg, "security token included in the request is "
                             "invalid");
    berth_exec_destroy(ex);

    /* Signed well, but not allowed. */
    env_creds(KEY_ID, SECRET, NULL);
    ex = fx_exec(f);
    inject(f, "{\"target\": \"RunTask\", \"status\": 400, \"type\": "
              "\"AccessDeniedException\", \"message\": \"User: "
              "arn:aws:iam::123456789012:user/berth is not authorized to "
              "perform: ecs:RunTask on resource: *\"}");
    assert_int_equal(
        launch_job(ex, 2, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_AUTH);
    assert_contains(err.msg, "AccessDeniedException");
    assert_contains(err.msg, "not authorized to perform: ecs:RunTask");
    berth_exec_destroy(ex);

    /* No credentials anywhere. */
    env_creds(NULL, NULL, NULL);
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_contains(err.msg, "no AWS credentials");
    assert_contains(err.msg, "AWS_ACCESS_KEY_ID");
    berth_exec_destroy(ex);
    env_creds("AKIDONLY", NULL, NULL);
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_contains(err.msg, "AWS_SECRET_ACCESS_KEY is not");
    berth_exec_destroy(ex);
}

static void test_fargate_auth__session_token_is_sent_and_signed(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_err err;

    env_creds(KEY_ID, SECRET, session_args[1]);
    ex = fx_exec(f);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), 0);
    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        0);
    wait_state(ex, out.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(st.exit_code, 0);
    berth_exec_destroy(ex);

    /* Without it, the same key is refused. */
    env_creds(KEY_ID, SECRET, NULL);
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_contains(err.msg, "UnrecognizedClientException");
    berth_exec_destroy(ex);

    /* From the shared credentials file too (profile chosen by
     * AWS_PROFILE). */
    {
        char *dir = bt_tmpdir("awscreds");
        char *path = berth_xasprintf("%s/credentials", dir);
        char *text = berth_xasprintf(
            "[default]\naws_access_key_id = AKIDWRONG\n"
            "aws_secret_access_key = wrong\n\n"
            "[berth]\n# the one to use\naws_access_key_id = %s\n"
            "aws_secret_access_key = %s\naws_session_token = %s\n",
            KEY_ID, SECRET, session_args[1]);
        bt_write_file(path, text);
        env_creds(NULL, NULL, NULL);
        setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
        setenv("AWS_PROFILE", "berth", 1);
        ex = fx_exec(f);
        assert_int_equal(berth_exec_health(ex, &err), 0);
        berth_exec_destroy(ex);
        setenv("AWS_PROFILE", "missing", 1);
        ex = fx_exec(f);
        assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
        assert_contains(err.msg, "AWS profile 'missing'");
        berth_exec_destroy(ex);
        unsetenv("AWS_PROFILE");
        bt_rmtree(dir);
        free(dir);
        free(path);
        free(text);
    }
}

static void test_fargate_auth__imdsv2_credentials(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;

    env_creds(NULL, NULL, NULL);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    ex = fx_exec(f);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), 0);
    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        0);
    wait_state(ex, out.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(berth_exec_logs(ex, out.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "ran: sh -c echo hello\n");
    berth_job_logs_release(&logs);
    /* Every call was signed with the role's keys and token; they were
     * fetched once and cached. */
    assert_int_equal(stat_int(f, "imds_credential_fetches"), 1);

    /* When AWS says the token expired, fresh credentials are fetched and
     * the call is made again. */
    inject(f, "{\"target\": \"DescribeClusters\", \"status\": 400, \"type\": "
              "\"ExpiredTokenException\", \"message\": \"The security token "
              "included in the request is expired\"}");
    assert_int_equal(berth_exec_health(ex, &err), 0);
    assert_int_equal(stat_int(f, "imds_credential_fetches"), 2);
    berth_exec_destroy(ex);

    /* The ECS container credentials endpoint, with its authorization
     * token. */
    {
        char *uri = berth_xasprintf("%s/ecs-credentials", f->srv.base_url);
        setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
        setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "secret-container-token",
               1);
        ex = fx_exec(f);
        assert_int_equal(berth_exec_health(ex, &err), 0);
        assert_int_equal(stat_int(f, "container_fetches"), 1);
        berth_exec_destroy(ex);
        setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong", 1);
        ex = fx_exec(f);
        assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
        assert_contains(err.msg, "HTTP 401");
        berth_exec_destroy(ex);
        unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        free(uri);
    }
}

static void test_fargate_auth__imds_without_a_role(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex;
    struct berth_err err;

    /* This fake has no --imds-role: the instance has no profile. */
    env_creds(NULL, NULL, NULL);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    ex = fx_exec(f);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_contains(err.msg, "no AWS credentials");
    assert_contains(err.msg, "no IAM role");
    berth_exec_destroy(ex);

    /* Nothing listens: not on EC2. */
    berth_opts_set_str(&f->opts, "metadata_endpoint", "http://127.0.0.1:9");
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_false(err.transient);
    assert_contains(err.msg, "instance metadata service at "
                             "http://127.0.0.1:9 gave none");
    berth_exec_destroy(ex);
}

static void test_fargate_auth__throttling_is_retried_with_backoff(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_err err;
    json_t *reqs, *r;
    size_t i;
    int64_t prev = 0;
    int seen = 0;

    inject(f, "{\"target\": \"RunTask\", \"count\": 3, \"status\": 400, "
              "\"type\": \"ThrottlingException\", \"message\": \"Rate "
              "exceeded\"}");
    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        0);
    assert_int_equal(count_requests(f, "RunTask", "ThrottlingException"), 3);
    assert_int_equal(count_requests(f, "RunTask", NULL), 4);
    assert_int_equal(stat_int(f, "tasks"), 1);
    /* Later tries wait longer (exponential backoff, base 5 ms here): each
     * gap at least half its nominal delay in whole milliseconds: 2, 5 and
     * 10 ms (a lower bound that sleeping guarantees, not a timing). */
    reqs = bt_fake_server_get(&f->srv, "/_fake/requests");
    json_array_foreach(reqs, i, r)
    {
        int64_t t;
        if (strcmp(json_string_value(json_object_get(r, "op")), "RunTask"))
            continue;
        t = (int64_t)json_integer_value(json_object_get(r, "t_us"));
        if (seen > 0)
            assert_true(t - prev >= ((5 << (seen - 1)) / 2) * 1000);
        prev = t;
        seen++;
    }
    json_decref(reqs);

    /* 5xx on the status path, then success. */
    inject(f, "{\"target\": \"DescribeTasks\", \"count\": 2, \"status\": 500, "
              "\"type\": \"ServerException\", \"message\": \"Service "
              "unavailable\"}");
    wait_state(ex, out.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(count_requests(f, "DescribeTasks", "ServerException"), 2);
    berth_exec_destroy(ex);

    /* Throttled beyond the retries: a transient error that says so. */
    berth_opts_set_int(&f->opts, "retries", 2);
    ex = fx_exec(f);
    inject(f, "{\"target\": \"RunTask\", \"count\": 3, \"status\": 400, "
              "\"type\": \"ThrottlingException\", \"message\": \"Rate "
              "exceeded\"}");
    assert_int_equal(
        launch_job(ex, 2, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_BACKEND);
    assert_true(err.transient);
    assert_contains(err.msg, "ECS RunTask: throttled: ThrottlingException: "
                             "Rate exceeded");
    berth_exec_destroy(ex);
}

static void test_fargate_auth__broken_answers_are_clear_errors(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_err err;

    inject(f, "{\"target\": \"RunTask\", \"garbage\": true}");
    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_BACKEND);
    assert_true(err.transient);
    assert_contains(err.msg, "ECS RunTask: the answer is not a JSON object");
    assert_contains(err.msg, "<html>");

    /* Launched after all (on the next try); then a broken DescribeTasks. */
    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        0);
    inject(f, "{\"target\": \"DescribeTasks\", \"garbage\": true}");
    memset(&st, 0, sizeof(st));
    st.execution_id = out.id;
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), BERTH_E_BACKEND);
    assert_contains(err.msg, "ECS DescribeTasks: the answer is not a JSON");
    assert_int_equal(st.rc, BERTH_E_BACKEND);

    /* RunTask answered with failures[] and no task. */
    inject(f, "{\"target\": \"RunTask\", \"failure\": \"Capacity is "
              "unavailable at this time. Please try again later or in a "
              "different availability zone\"}");
    assert_int_equal(
        launch_job(ex, 2, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_CAPACITY);
    assert_true(err.transient);
    assert_contains(err.msg, "ECS RunTask: failure: Capacity is unavailable");
    inject(f, "{\"target\": \"RunTask\", \"failure\": \"MISSING\"}");
    assert_int_equal(
        launch_job(ex, 2, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_BACKEND);
    assert_false(err.transient);
    assert_contains(err.msg, "failure: MISSING");

    /* A plain 4xx of the API: permanent, with AWS's words. */
    inject(f, "{\"target\": \"RunTask\", \"status\": 400, \"type\": "
              "\"com.amazonaws.ecs#InvalidParameterException\", \"message\": "
              "\"Invalid security group\"}");
    assert_int_equal(
        launch_job(ex, 3, 1, "local/busybox:latest", NULL, 0, 0, &out, &err),
        BERTH_E_INVALID);
    assert_false(err.transient);
    assert_contains(err.msg,
                    "InvalidParameterException: Invalid security group");

    /* Nothing listening: a transient network error naming the URL. */
    berth_exec_destroy(ex);
    berth_opts_set_str(&f->opts, "endpoint", "http://127.0.0.1:9");
    berth_opts_set_int(&f->opts, "retries", 1);
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_NET);
    assert_true(err.transient);
    assert_contains(err.msg, "ECS DescribeClusters");
    assert_contains(err.msg, "http://127.0.0.1:9/");
    berth_exec_destroy(ex);
}

/* Hand-made requests: the fake refuses what AWS would refuse. */
static long raw(struct fx *f, const char *const *headers, const char *body,
                const char *sigv4, const char *userpwd, struct berth_buf *out)
{
    struct berth_http *h;
    struct berth_http_req req = {0};
    struct berth_http_resp resp;
    struct berth_err err;
    char *url = berth_xasprintf("%s/", f->srv.base_url);
    long status;

    berth_err_init(&err);
    assert_int_equal(berth_http_new(&h, &err), 0);
    berth_http_resp_init(&resp);
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = strlen(body);
    req.aws_sigv4 = sigv4;
    req.userpwd = userpwd;
    req.timeout_ms = 10000;
    assert_int_equal(berth_http_do(h, &req, &resp, &err), 0);
    status = resp.status;
    berth_buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
    berth_http_resp_release(&resp);
    berth_http_free(h);
    free(url);
    return status;
}

static void test_fargate_auth__the_fake_is_strict(void **state)
{
    struct fx *f = *state;
    const char *ok[] = {
        "Content-Type: application/x-amz-json-1.1",
        "X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters",
        NULL};
    const char *json_ct[] = {
        "Content-Type: application/json",
        "X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeClusters",
        NULL};
    const char *bad_target[] = {
        "Content-Type: application/x-amz-json-1.1",
        "X-Amz-Target: AmazonEC2ContainerServiceV20141113.RunTasks", NULL};
    const char *sigv4 = "aws:amz:" REGION ":ecs";
    struct berth_buf b = BERTH_BUF_INIT;

    assert_int_equal(
        raw(f, ok, "{\"clusters\":[\"jobs\"]}", sigv4, KEY_ID ":" SECRET, &b),
        200);
    assert_contains(berth_buf_cstr(&b), "\"status\":\"ACTIVE\"");
    berth_buf_reset(&b);
    /* unsigned */
    assert_int_equal(raw(f, ok, "{\"clusters\":[\"jobs\"]}", NULL, NULL, &b),
                     400);
    assert_contains(berth_buf_cstr(&b), "MissingAuthenticationToken");
    berth_buf_reset(&b);
    /* signed for the wrong service */
    assert_int_equal(raw(f, ok, "{\"clusters\":[\"jobs\"]}",
                         "aws:amz:" REGION ":logs", KEY_ID ":" SECRET, &b),
                     400);
    assert_contains(berth_buf_cstr(&b), "correct service");
    berth_buf_reset(&b);
    /* wrong content type */
    assert_int_equal(raw(f, json_ct, "{\"clusters\":[\"jobs\"]}", sigv4,
                         KEY_ID ":" SECRET, &b),
                     400);
    assert_contains(berth_buf_cstr(&b), "Content-Type must be");
    berth_buf_reset(&b);
    /* unknown operation */
    assert_int_equal(raw(f, bad_target, "{}", sigv4, KEY_ID ":" SECRET, &b),
                     400);
    assert_contains(berth_buf_cstr(&b), "UnknownOperationException");
    berth_buf_reset(&b);
    /* a misspelt member, a wrong type */
    assert_int_equal(
        raw(f, ok, "{\"cluster\":[\"jobs\"]}", sigv4, KEY_ID ":" SECRET, &b),
        400);
    assert_contains(berth_buf_cstr(&b), "unknown member 'cluster'");
    berth_buf_reset(&b);
    assert_int_equal(
        raw(f, ok, "{\"clusters\":\"jobs\"}", sigv4, KEY_ID ":" SECRET, &b),
        400);
    assert_contains(berth_buf_cstr(&b), "SerializationException");
    berth_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_fargate_auth__wrong_secret_is_a_clear_auth_error, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate_auth__session_token_is_sent_and_signed, setup_session,
            teardown),
        cmocka_unit_test_setup_teardown(test_fargate_auth__imdsv2_credentials,
                                        setup_imds, teardown),
        cmocka_unit_test_setup_teardown(test_fargate_auth__imds_without_a_role,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate_auth__throttling_is_retried_with_backoff, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate_auth__broken_answers_are_clear_errors, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_fargate_auth__the_fake_is_strict,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
