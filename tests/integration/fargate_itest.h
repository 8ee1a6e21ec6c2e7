/*
 * fargate_itest.h - what the fargate C integration tests share: a fake
 * ECS server (tests/fakes/fake_ecs.c) per test, the backend pointed at it,
 * and small helpers to launch and follow tasks. Included by the
 * itest_fargate*.c files only (each is its own program).
 */
#ifndef FARGATE_ITEST_H
#define FARGATE_ITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth_test.h"
#include "bt_fake_server.h"

#include "berth/exec.h"
#include "exec/http.h"

#define KEY_ID  "AKIDBERTHTEST"
#define SECRET  "berth/test+secret=KEY"
#define REGION  "eu-west-1"
#define CLUSTER "jobs"

struct fx {
    struct bt_fake_server srv;
    struct berth_opts opts;
    struct berth_host host;
};

static inline void env_creds(const char *id, const char *secret,
                             const char *token)
{
    /* Only the environment: no shared file, no metadata service. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/berth-test", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    if (id)
        setenv("AWS_ACCESS_KEY_ID", id, 1);
    else
        unsetenv("AWS_ACCESS_KEY_ID");
    if (secret)
        setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    else
        unsetenv("AWS_SECRET_ACCESS_KEY");
    if (token)
        setenv("AWS_SESSION_TOKEN", token, 1);
    else
        unsetenv("AWS_SESSION_TOKEN");
}

/* Start a fake with the test's key plus extra arguments, and point the
 * options at it. Skips the test when the fake was not built. */
static inline void fx_start(struct fx *f, const char *const *extra)
{
    const char *args[32] = {"--region",     REGION, "--cluster", CLUSTER,
                            "--access-key", KEY_ID, "--secret",  SECRET};
    size_t n = 8;
    struct berth_strv subnets = BERTH_STRV_INIT, sgs = BERTH_STRV_INIT;

    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    if (bt_fake_server_start(&f->srv, "fake_ecs", args) != 0) {
        fprintf(stderr, "fake_ecs not built: skipping\n");
        exit(77);
    }
    env_creds(KEY_ID, SECRET, NULL);
    berth_opts_init(&f->opts);
    berth_opts_set_str(&f->opts, "cluster", CLUSTER);
    berth_opts_set_str(&f->opts, "region", REGION);
    berth_strv_push(&subnets, "subnet-0a1b");
    berth_strv_push(&subnets, "subnet-2c3d");
    berth_strv_push(&sgs, "sg-0123");
    berth_opts_set_list(&f->opts, "subnets", &subnets);
    berth_opts_set_list(&f->opts, "security_groups", &sgs);
    berth_strv_release(&subnets);
    berth_strv_release(&sgs);
    berth_opts_set_str(&f->opts, "execution_role_arn",
                       "arn:aws:iam::123456789012:role/ecsTaskExecutionRole");
    berth_opts_set_str(&f->opts, "task_role_arn",
                       "arn:aws:iam::123456789012:role/berth-job");
    berth_opts_set_str(&f->opts, "log_group", "/ecs/berth-test");
    berth_opts_set_str(&f->opts, "endpoint", f->srv.base_url);
    berth_opts_set_str(&f->opts, "logs_endpoint", f->srv.base_url);
    berth_opts_set_str(&f->opts, "metadata_endpoint", f->srv.base_url);
    berth_opts_set_int(&f->opts, "retry_base_ms", 5);
    berth_host_init(&f->host);
    f->host.name = berth_xstrdup("fargate");
    f->host.executor = berth_xstrdup("fargate");
}

static inline void fx_stop(struct fx *f)
{
    bt_fake_server_stop(&f->srv);
    berth_opts_release(&f->opts);
    berth_host_release(&f->host);
}

static inline struct berth_exec *fx_exec(struct fx *f)
{
    struct berth_exec_params p = {"fargate", &f->opts, &f->host, NULL};
    struct berth_exec *ex = NULL;
    struct berth_err err;
    berth_err_init(&err);
    if (berth_exec_create("fargate", &p, &ex, &err) != 0)
        fail_msg("create: %s", err.msg);
    return ex;
}

/* env: "K=V" strings, NULL-terminated (may be NULL). */
static inline int launch_job(struct berth_exec *ex, int64_t job, int attempt,
                             const char *image, const char *const *env,
                             int64_t memory_mb, double cpu,
                             struct berth_execution *out, struct berth_err *err)
{
    char name[64];
    struct berth_strv cmd = BERTH_STRV_INIT;
    struct berth_map envm = BERTH_MAP_INIT, labels = BERTH_MAP_INIT;
    struct berth_launch req;
    int rc;

    berth_exec_name(job, attempt, name, sizeof(name));
    berth_strv_push(&cmd, "sh");
    berth_strv_push(&cmd, "-c");
    berth_strv_push(&cmd, "echo hello");
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        char *k = berth_xstrndup(env[i], (size_t)(eq - env[i]));
        berth_map_set(&envm, k, eq + 1);
        free(k);
    }
    berth_map_set(&labels, "team", "data");
    berth_map_set(&labels, "bad{tag}", "skipped");
    memset(&req, 0, sizeof(req));
    req.job_id = job;
    req.attempt = attempt;
    req.name = name;
    req.template_name = "batch-report";
    req.image = image;
    req.command = &cmd;
    req.env = &envm;
    req.memory_mb = memory_mb;
    req.cpu_cores = cpu;
    req.timeout_seconds = 600;
    req.labels = &labels;
    berth_err_init(err);
    rc = berth_exec_launch(ex, &req, out, err);
    berth_strv_release(&cmd);
    berth_map_release(&envm);
    berth_map_release(&labels);
    return rc;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * Poll until the execution reaches `want` (or a later state), recording
 * which states were seen. A generous bound turns a hang into a failure;
 * nothing is asserted about how long it took.
 */
static inline void wait_state(struct berth_exec *ex, const char *id,
                              enum berth_exec_state want,
                              struct berth_exec_status *st, bool seen[4])
{
    for (int i = 0; i < 1200; i++) {
        struct berth_err err;
        berth_err_init(&err);
        memset(st, 0, sizeof(*st));
        st->execution_id = id;
        if (berth_exec_status(ex, st, 1, &err) != 0)
            fail_msg("status: %s", err.msg);
        if (st->rc != 0)
            fail_msg("status of %s: %s", id, st->message);
        if (seen)
            seen[st->state] = true;
        if (st->state >= want)
            return;
        sleep_ms(25);
    }
    fail_msg("%s never reached state %d", id, (int)want);
}

/* How many recorded API requests have this operation (and, when not
 * NULL, this error type). */
static inline int count_requests(struct fx *f, const char *op,
                                 const char *error)
{
    json_t *reqs = bt_fake_server_get(&f->srv, "/_fake/requests"), *r;
    size_t i;
    int n = 0;
    json_array_foreach(reqs, i, r)
    {
        const char *e = json_string_value(json_object_get(r, "error"));
        if (strcmp(json_string_value(json_object_get(r, "op")), op) != 0)
            continue;
        if (error ? (e && strcmp(e, error) == 0) : true)
            n++;
    }
    json_decref(reqs);
    return n;
}

static inline void inject(struct fx *f, const char *json)
{
    assert_int_equal(bt_fake_server_post(&f->srv, "/_fake/inject", json), 200);
}

/* One signed ECS call made by hand (what an operator's script would do);
 * returns the HTTP status, the answer in *out. */
static inline long ecs_call(struct fx *f, const char *op, const char *body,
                            struct berth_buf *out)
{
    struct berth_http *h;
    struct berth_http_req req = {0};
    struct berth_http_resp resp;
    struct berth_err err;
    char *url = berth_xasprintf("%s/", f->srv.base_url);
    char *target = berth_xasprintf(
        "X-Amz-Target: AmazonEC2ContainerServiceV20141113.%s", op);
    const char *headers[] = {"Content-Type: application/x-amz-json-1.1", target,
                             NULL};
    long status;

    berth_err_init(&err);
    assert_int_equal(berth_http_new(&h, &err), 0);
    berth_http_resp_init(&resp);
    req.method = "POST";
    req.url = url;
    req.headers = headers;
    req.body = body;
    req.body_len = strlen(body);
    req.aws_sigv4 = "aws:amz:" REGION ":ecs";
    req.userpwd = KEY_ID ":" SECRET;
    req.timeout_ms = 10000;
    assert_int_equal(berth_http_do(h, &req, &resp, &err), 0);
    status = resp.status;
    if (out)
        berth_buf_append(out, resp.body.data ? resp.body.data : "",
                         resp.body.len);
    berth_http_resp_release(&resp);
    berth_http_free(h);
    free(url);
    free(target);
    return status;
}

#define assert_contains(hay, needle)                                           \
    do {                                                                       \
        if (!strstr((hay), (needle)))                                          \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));           \
    } while (0)

#endif
