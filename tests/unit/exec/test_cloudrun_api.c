/*
 * test_cloudrun_api.c - the pure half of the cloudrun backend
 * (src/exec/cloudrun_api.c): Job specs and ids, run overrides, resource
 * limits, the log filter, and reading Executions, tasks, Operations, log
 * entries and error bodies as the Cloud Run Admin API v2 and Cloud Logging
 * write them (proto3 JSON: zero values left out).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "exec/cloudrun_int.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

/* ---- resources --------------------------------------------------------- */

static void check_res(int64_t mb, double cpu, const char *want_cpu,
                      const char *want_mem)
{
    char c[16], m[24];
    assert_int_equal(
        berth__cloudrun_resources(mb, cpu, c, sizeof(c), m, sizeof(m), NULL),
        0);
    assert_string_equal(c, want_cpu);
    assert_string_equal(m, want_mem);
}

static void
test_cloudrun_api__resources_round_up_to_what_jobs_offer(void **state)
{
    (void)state;
    check_res(0, 0, "1", "512Mi");
    check_res(256, 0.5, "1", "512Mi");
    check_res(1000, 1, "1", "1000Mi");
    check_res(1000, 1.5, "2", "1000Mi");
    check_res(1000, 3, "4", "2048Mi");
    check_res(3000, 5, "6", "4096Mi");
    check_res(16384, 8, "8", "16384Mi");
    check_res(32768, 2, "2", "32768Mi");
}

static void
test_cloudrun_api__resources_beyond_limits_are_permanent(void **state)
{
    char c[16], m[24];
    struct berth_err err;
    (void)state;
    berth_err_init(&err);
    assert_int_equal(
        berth__cloudrun_resources(512, 9, c, sizeof(c), m, sizeof(m), &err),
        BERTH_E_INVALID);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "8 CPUs"));
    assert_int_equal(
        berth__cloudrun_resources(40000, 1, c, sizeof(c), m, sizeof(m), &err),
        BERTH_E_INVALID);
    assert_non_null(strstr(err.msg, "40000"));
}

/* ---- job spec ---------------------------------------------------------- */

static const struct berth_cr_jobconf no_conf = {NULL, NULL, NULL, NULL, NULL};
static const struct berth_cr_jobconf sa_conf = {"sa@p.iam.gserviceaccount.com",
                                                NULL, NULL, NULL, NULL};
static const struct berth_cr_jobconf x_conf = {"x@p.iam", NULL, NULL, NULL,
                                               NULL};

struct launch {
    struct berth_strv cmd;
    struct berth_map env;
    struct berth_launch req;
};

static void launch_init(struct launch *l)
{
    memset(l, 0, sizeof(*l));
    berth_strv_init(&l->cmd);
    berth_strv_push(&l->cmd, "sh");
    berth_strv_push(&l->cmd, "-c");
    berth_strv_push(&l->cmd, "echo \"hi\"");
    berth_map_init(&l->env);
    berth_map_set(&l->env, "DB_HOST", "db.internal");
    l->req.job_id = 42;
    l->req.attempt = 3;
    l->req.name = "berth-42-3";
    l->req.template_name = "Batch Report_v2!";
    l->req.image = "europe-docker.pkg.dev/p/jobs/report:1.4";
    l->req.command = &l->cmd;
    l->req.env = &l->env;
    l->req.working_dir = "/work";
    l->req.memory_mb = 1024;
    l->req.cpu_cores = 1;
    l->req.timeout_seconds = 600;
}

static void launch_release(struct launch *l)
{
    berth_strv_release(&l->cmd);
    berth_map_release(&l->env);
}

static void
test_cloudrun_api__job_spec_holds_what_overrides_cannot(void **state)
{
    struct launch l;
    char id[BERTH_CR_JOB_ID_MAX];
    json_t *job, *c, *tt;
    (void)state;

    launch_init(&l);
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &sa_conf, id, sizeof(id), &job, NULL),
        0);
    /* slug of the template name + 10 hex digits */
    assert_memory_equal(id, "berth-batch-report-v2-", 22);
    assert_int_equal(strlen(id), 22 + 10);
    tt = json_object_get(json_object_get(job, "template"), "template");
    c = json_array_get(json_object_get(tt, "containers"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "image")),
                        l.req.image);
    assert_string_equal(json_string_value(json_object_get(c, "name")),
                        BERTH_CR_CONTAINER);
    assert_string_equal(json_string_value(json_object_get(c, "workingDir")),
                        "/work");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(c, "resources"), "limits"),
            "memory")),
        "1024Mi");
    /* args and env are per run, not in the job */
    assert_null(json_object_get(c, "args"));
    assert_null(json_object_get(c, "env"));
    assert_int_equal(json_integer_value(json_object_get(tt, "maxRetries")), 0);
    assert_string_equal(json_string_value(json_object_get(tt, "timeout")),
                        "86400s");
    assert_string_equal(
        json_string_value(json_object_get(tt, "serviceAccount")),
        "sa@p.iam.gserviceaccount.com");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(job, "template"), "labels"),
            BERTH_CR_LABEL_TEMPLATE)),
        "batch-report-v2");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(job, "labels"),
                                          BERTH_CR_LABEL_SPEC)),
        id + 22);
    json_decref(job);
    launch_release(&l);
}

static void test_cloudrun_api__job_id_changes_with_the_spec_only(void **state)
{
    struct launch l;
    char a[BERTH_CR_JOB_ID_MAX], b[BERTH_CR_JOB_ID_MAX];
    json_t *ja, *jb;
    (void)state;

    launch_init(&l);
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &no_conf, a, sizeof(a), &ja, NULL), 0);
    /* per-run things do not change the job */
    l.req.job_id = 7;
    l.req.timeout_seconds = 5;
    berth_map_set(&l.env, "X", "y");
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &no_conf, b, sizeof(b), &jb, NULL), 0);
    assert_string_equal(a, b);
    json_decref(jb);
    /* the image does */
    l.req.image = "europe-docker.pkg.dev/p/jobs/report:1.5";
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &no_conf, b, sizeof(b), &jb, NULL), 0);
    assert_string_not_equal(a, b);
    json_decref(jb);
    /* and so does the service account */
    l.req.image = "europe-docker.pkg.dev/p/jobs/report:1.4";
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &x_conf, b, sizeof(b), &jb, NULL), 0);
    assert_string_not_equal(a, b);
    json_decref(jb);
    json_decref(ja);
    launch_release(&l);
}

static void test_cloudrun_api__job_id_without_template_uses_image(void **state)
{
    struct launch l;
    char id[BERTH_CR_JOB_ID_MAX];
    json_t *job;
    (void)state;

    launch_init(&l);
    l.req.template_name = NULL;
    l.req.image = "registry.example.com:5000/team/Data_Loader@sha256:abc";
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &no_conf, id, sizeof(id), &job, NULL),
        0);
    assert_memory_equal(id, "berth-data-loader-", 18);
    json_decref(job);
    /* a long name is cut: the id stays within Cloud Run's limits */
    l.req.template_name =
        "a-very-long-template-name-that-goes-on-and-on-and-on";
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &no_conf, id, sizeof(id), &job, NULL),
        0);
    assert_true(strlen(id) <= 49);
    assert_true(id[strlen(id) - 11] == '-');
    json_decref(job);
    launch_release(&l);
}

/* ---- run overrides ----------------------------------------------------- */

static const char *env_value(json_t *env, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return json_string_value(json_object_get(e, "value"));
    }
    return NULL;
}

static void test_cloudrun_api__run_overrides_carry_the_job(void **state)
{
    struct launch l;
    json_t *body, *ov, *co, *args, *env;
    char *text;
    (void)state;

    launch_init(&l);
    body = berth__cloudrun_run_body(&l.req);
    ov = json_object_get(body, "overrides");
    assert_int_equal(json_integer_value(json_object_get(ov, "taskCount")), 1);
    assert_string_equal(json_string_value(json_object_get(ov, "timeout")),
                        "660s");
    co = json_array_get(json_object_get(ov, "containerOverrides"), 0);
    assert_string_equal(json_string_value(json_object_get(co, "name")),
                        BERTH_CR_CONTAINER);
    args = json_object_get(co, "args");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(json_string_value(json_array_get(args, 2)),
                        "echo \"hi\"");
    env = json_object_get(co, "env");
    assert_string_equal(env_value(env, BERTH_CR_ENV_MARKER), "berth-42-3");
    assert_string_equal(env_value(env, BERTH_CR_ENV_JOB), "42");
    assert_string_equal(env_value(env, BERTH_CR_ENV_ATTEMPT), "3");
    assert_string_equal(env_value(env, "DB_HOST"), "db.internal");
    /* nothing but the documented RunJobRequest fields */
    text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_null(strstr(text, "labels"));
    free(text);
    json_decref(body);

    /* no timeout: none overridden (the job's 24 h stands); a huge one is
     * capped; no command: the image's default */
    l.req.timeout_seconds = 0;
    l.req.command = NULL;
    body = berth__cloudrun_run_body(&l.req);
    ov = json_object_get(body, "overrides");
    assert_null(json_object_get(ov, "timeout"));
    co = json_array_get(json_object_get(ov, "containerOverrides"), 0);
    assert_null(json_object_get(co, "args"));
    json_decref(body);
    l.req.timeout_seconds = 10 * 86400;
    body = berth__cloudrun_run_body(&l.req);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(body, "overrides"), "timeout")),
                        "86400s");
    json_decref(body);
    launch_release(&l);
}

/* ---- names, filter ----------------------------------------------------- */

static void test_cloudrun_api__log_filter_names_the_execution(void **state)
{
    char *f;
    (void)state;
    f = berth__cloudrun_log_filter("p1", "us-central1", "berth-x-1",
                                   "berth-x-1-abcde",
                                   (int64_t)1795000000 * BERTH_US_PER_SEC);
    assert_string_equal(
        f, "resource.type=\"cloud_run_job\" AND "
           "resource.labels.job_name=\"berth-x-1\" AND "
           "resource.labels.location=\"us-central1\" AND "
           "labels.\"run.googleapis.com/execution_name\"=\"berth-x-1-abcde\" "
           "AND (logName=\"projects/p1/logs/run.googleapis.com%2Fstdout\" OR "
           "logName=\"projects/p1/logs/run.googleapis.com%2Fstderr\") AND "
           "timestamp>=\"2026-11-18T11:06:40.000Z\"");
    free(f);
}

static void test_cloudrun_api__execution_names_split_strictly(void **state)
{
    char p[64], l[64], j[64], e[64];
    (void)state;
    assert_int_equal(berth__cloudrun_split_execution(
                         "projects/p1/locations/r1/jobs/j1/executions/e1", p, l,
                         j, e, sizeof(p)),
                     0);
    assert_string_equal(p, "p1");
    assert_string_equal(l, "r1");
    assert_string_equal(j, "j1");
    assert_string_equal(e, "e1");
    assert_int_not_equal(berth__cloudrun_split_execution(
                             "projects/p1/locations/r1/jobs/j1/executions/", p,
                             l, j, e, sizeof(p)),
                         0);
    assert_int_not_equal(berth__cloudrun_split_execution(
                             "projects/p1/locations/r1/jobs/j1/executions/e/x",
                             p, l, j, e, sizeof(p)),
                         0);
    assert_int_not_equal(
        berth__cloudrun_split_execution("abc", p, l, j, e, sizeof(p)), 0);
}

static void test_cloudrun_api__urlencode_keeps_unreserved(void **state)
{
    char *s;
    (void)state;
    s = berth__cloudrun_urlencode("a-Z_0.~ /+=&%");
    assert_string_equal(s, "a-Z_0.~%20%2F%2B%3D%26%25");
    free(s);
}

/* ---- executions -------------------------------------------------------- */

static void map_exec(const char *text, struct berth_exec_status *st,
                     bool *needs_task)
{
    json_t *j = parse(text);
    struct berth_cr_execution e;
    assert_int_equal(berth__cloudrun_parse_execution(j, &e, NULL), 0);
    memset(st, 0, sizeof(*st));
    *needs_task = berth__cloudrun_execution_status(&e, st);
    json_decref(j);
}

static void test_cloudrun_api__execution_lifecycle_maps_to_states(void **state)
{
    struct berth_exec_status st;
    bool task;
    (void)state;

    map_exec(
        "{\"name\":\"projects/p/locations/l/jobs/j/executions/e\","
        "\"createTime\":\"2026-11-27T10:00:00.123456789Z\",\"taskCount\":1,"
        "\"conditions\":[{\"type\":\"Completed\",\"state\":"
        "\"CONDITION_PENDING\"}]}",
        &st, &task);
    assert_int_equal(st.state, BERTH_EXEC_PENDING);
    assert_false(task);

    map_exec("{\"name\":\"x\",\"startTime\":\"2026-11-27T10:00:01Z\","
             "\"runningCount\":1}",
             &st, &task);
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    assert_int_equal(st.started_at, (int64_t)1795773601 * BERTH_US_PER_SEC);

    map_exec("{\"name\":\"x\",\"startTime\":\"2026-11-27T10:00:01Z\","
             "\"completionTime\":\"2026-11-27T10:00:05.5Z\",\"taskCount\":1,"
             "\"succeededCount\":1,\"conditions\":[{\"type\":\"Completed\","
             "\"state\":\"CONDITION_SUCCEEDED\",\"message\":\"done\"}]}",
             &st, &task);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 0);
    assert_false(task);
    assert_string_equal(st.message, "done");
    assert_int_equal(st.finished_at - st.started_at, 4500000);

    map_exec("{\"name\":\"x\",\"completionTime\":\"2026-11-27T10:00:05Z\","
             "\"taskCount\":1,\"failedCount\":1,\"conditions\":[{\"type\":"
             "\"Completed\",\"state\":\"CONDITION_FAILED\",\"executionReason\":"
             "\"NON_ZERO_EXIT_CODE\",\"message\":\"Task x-task0 failed\"}]}",
             &st, &task);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 1);
    assert_true(task);

    map_exec("{\"name\":\"x\",\"completionTime\":\"2026-11-27T10:00:05Z\","
             "\"cancelledCount\":1,\"conditions\":[{\"type\":\"Completed\","
             "\"state\":\"CONDITION_FAILED\",\"executionReason\":"
             "\"CANCELLED\"}]}",
             &st, &task);
    assert_true(st.cancelled);
    assert_int_equal(st.exit_code, 143);
}

static void test_cloudrun_api__execution_marker_is_read_from_env(void **state)
{
    json_t *j = parse(
        "{\"name\":\"n\",\"template\":{\"containers\":[{\"env\":["
        "{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"BERTH_EXECUTION_NAME\","
        "\"value\":\"berth-9-2\"}]}]}}");
    struct berth_cr_execution e;
    (void)state;
    assert_int_equal(berth__cloudrun_parse_execution(j, &e, NULL), 0);
    assert_string_equal(e.marker, "berth-9-2");
    json_decref(j);
}

static void test_cloudrun_api__malformed_executions_are_refused(void **state)
{
    static const char *const bad[] = {
        "{}",
        "[]",
        "{\"name\":\"\"}",
        "{\"name\":\"x\",\"startTime\":\"yesterday\"}",
        "{\"name\":\"x\",\"failedCount\":\"many\"}",
        "{\"name\":\"x\",\"conditions\":{}}",
        NULL};
    (void)state;
    for (const char *const *b = bad; *b; b++) {
        json_t *j = parse(*b);
        struct berth_cr_execution e;
        struct berth_err err;
        berth_err_init(&err);
        assert_int_equal(berth__cloudrun_parse_execution(j, &e, &err),
                         BERTH_E_PARSE);
        json_decref(j);
    }
}

static void task(const char *text, int *code, bool *known, bool *oom, char *msg)
{
    json_t *j = parse(text);
    *code = -1;
    assert_int_equal(
        berth__cloudrun_task_result(j, code, known, oom, msg, 256, NULL), 0);
    json_decref(j);
}

static void test_cloudrun_api__task_results_give_exit_codes(void **state)
{
    int code;
    bool known, oom;
    char msg[256];
    (void)state;

    task("{\"tasks\":[{\"name\":\"t\",\"lastAttemptResult\":{\"status\":{"
         "\"code\":2,\"message\":\"The container exited with an error.\"},"
         "\"exitCode\":3}}]}",
         &code, &known, &oom, msg);
    assert_int_equal(code, 3);
    assert_true(known);
    assert_false(oom);
    assert_string_equal(msg, "The container exited with an error.");

    task("{\"tasks\":[{\"index\":0,\"lastAttemptResult\":{\"status\":{"
         "\"code\":9,\"message\":\"Memory limit of 512 MiB exceeded with 530 "
         "MiB used.\"},\"termSignal\":9}}]}",
         &code, &known, &oom, msg);
    assert_int_equal(code, 137);
    assert_true(oom);

    /* success: proto3 leaves both exitCode and status.code out */
    task("{\"tasks\":[{\"lastAttemptResult\":{\"status\":{}}}]}", &code, &known,
         &oom, msg);
    assert_int_equal(code, 0);
    assert_true(known);

    /* failed without an exit code: unknown, the caller keeps 1 */
    task("{\"tasks\":[{\"lastAttemptResult\":{\"status\":{\"code\":4,"
         "\"message\":\"The task has timed out.\"}}}]}",
         &code, &known, &oom, msg);
    assert_false(known);

    /* not finished: no result yet */
    task("{\"tasks\":[{\"name\":\"t\"}]}", &code, &known, &oom, msg);
    assert_false(known);

    /* task 1 is not ours */
    {
        json_t *j = parse("{\"tasks\":[{\"index\":1}]}");
        assert_int_equal(berth__cloudrun_task_result(j, &code, &known, &oom,
                                                     msg, sizeof(msg), NULL),
                         BERTH_E_NOTFOUND);
        json_decref(j);
    }
}

/* ---- operations, errors, entries --------------------------------------- */

static void test_cloudrun_api__operations_are_read(void **state)
{
    struct berth_cr_operation op;
    json_t *j;
    (void)state;

    j = parse("{\"name\":\"projects/p/locations/l/operations/o1\","
              "\"metadata\":{\"@type\":\"type.googleapis.com/google.cloud.run."
              "v2.Execution\",\"name\":\"e\"}}");
    assert_int_equal(berth__cloudrun_parse_operation(j, &op, NULL), 0);
    assert_false(op.done);
    assert_non_null(op.metadata);
    assert_null(op.response);
    assert_int_equal(op.error_code, 0);
    json_decref(j);

    j = parse("{\"name\":\"o\",\"done\":true,\"error\":{\"code\":6,"
              "\"message\":\"exists\"}}");
    assert_int_equal(berth__cloudrun_parse_operation(j, &op, NULL), 0);
    assert_true(op.done);
    assert_int_equal(op.error_code, 6);
    assert_string_equal(op.error, "ALREADY_EXISTS: exists");
    json_decref(j);

    j = parse("{\"done\":true}");
    assert_int_equal(berth__cloudrun_parse_operation(j, &op, NULL),
                     BERTH_E_PARSE);
    json_decref(j);
    j = parse("{\"name\":\"o\",\"done\":\"yes\"}");
    assert_int_equal(berth__cloudrun_parse_operation(j, &op, NULL),
                     BERTH_E_PARSE);
    json_decref(j);
}

static void test_cloudrun_api__error_bodies_are_summarised(void **state)
{
    char buf[200];
    const char *g = "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\","
                    "\"status\":\"RESOURCE_EXHAUSTED\"}}";
    const char *html = "<html>\n<body>Bad Gateway</body></html>";
    (void)state;
    berth__cloudrun_error_detail(g, strlen(g), buf, sizeof(buf));
    assert_string_equal(buf, "RESOURCE_EXHAUSTED: Quota exceeded");
    berth__cloudrun_error_detail(html, strlen(html), buf, sizeof(buf));
    assert_string_equal(buf, "<html> <body>Bad Gateway</body></html>");
    berth__cloudrun_error_detail("", 0, buf, sizeof(buf));
    assert_string_equal(buf, "empty body");
}

static void test_cloudrun_api__entries_split_into_streams(void **state)
{
    json_t *j = parse(
        "{\"entries\":["
        "{\"logName\":\"projects/p/logs/run.googleapis.com%2Fstdout\","
        "\"textPayload\":\"one\"},"
        "{\"logName\":\"projects/p/logs/run.googleapis.com%2Fstderr\","
        "\"textPayload\":\"oops\\n\"},"
        "{\"logName\":\"projects/p/logs/run.googleapis.com%2Fvarlog%2Fsystem\","
        "\"textPayload\":\"Container called exit(0).\"},"
        "{\"logName\":\"projects/p/logs/run.googleapis.com%2Fstdout\","
        "\"jsonPayload\":{\"b\":1,\"a\":\"x\"}}],"
        "\"nextPageToken\":\"tok\"}");
    struct berth_buf out, err;
    bool trunc = false;
    char *next = NULL;
    (void)state;

    berth_buf_init(&out, 0);
    berth_buf_init(&err, 0);
    assert_int_equal(
        berth__cloudrun_parse_entries(j, &out, &err, 1000, &trunc, &next, NULL),
        0);
    assert_string_equal(berth_buf_cstr(&out), "one\n{\"a\":\"x\",\"b\":1}\n");
    assert_string_equal(berth_buf_cstr(&err), "oops\n");
    assert_false(trunc);
    assert_string_equal(next, "tok");
    free(next);

    berth_buf_reset(&out);
    berth_buf_reset(&err);
    assert_int_equal(
        berth__cloudrun_parse_entries(j, &out, &err, 5, &trunc, &next, NULL),
        0);
    assert_string_equal(berth_buf_cstr(&out), "one\n{");
    assert_true(trunc);
    free(next);
    berth_buf_release(&out);
    berth_buf_release(&err);
    json_decref(j);
}

static void test_cloudrun_api__vpc_settings_go_into_the_job(void **state)
{
    struct launch l;
    char id[BERTH_CR_JOB_ID_MAX], plain[BERTH_CR_JOB_ID_MAX];
    json_t *job, *v;
    const struct berth_cr_jobconf direct = {NULL, NULL, "default",
                                            "jobs-subnet", "all-traffic"};
    const struct berth_cr_jobconf conn = {
        NULL, "projects/p/locations/l/connectors/c1", NULL, NULL,
        "private-ranges-only"};
    const struct berth_cr_jobconf both = {NULL, "c1", "default", NULL, NULL};
    const struct berth_cr_jobconf bad = {NULL, "c1", NULL, NULL, "everything"};
    const struct berth_cr_jobconf lone = {NULL, NULL, NULL, NULL,
                                          "all-traffic"};
    (void)state;

    launch_init(&l);
    assert_int_equal(berth__cloudrun_job_spec(&l.req, &no_conf, plain,
                                              sizeof(plain), &job, NULL),
                     0);
    json_decref(job);
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &direct, id, sizeof(id), &job, NULL),
        0);
    assert_string_not_equal(id, plain);
    v = json_object_get(
        json_object_get(json_object_get(job, "template"), "template"),
        "vpcAccess");
    assert_string_equal(json_string_value(json_object_get(v, "egress")),
                        "ALL_TRAFFIC");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(v, "networkInterfaces"), 0),
            "subnetwork")),
        "jobs-subnet");
    json_decref(job);
    assert_int_equal(
        berth__cloudrun_job_spec(&l.req, &conn, id, sizeof(id), &job, NULL), 0);
    v = json_object_get(
        json_object_get(json_object_get(job, "template"), "template"),
        "vpcAccess");
    assert_string_equal(json_string_value(json_object_get(v, "connector")),
                        "projects/p/locations/l/connectors/c1");
    assert_string_equal(json_string_value(json_object_get(v, "egress")),
                        "PRIVATE_RANGES_ONLY");
    json_decref(job);
    assert_int_equal(berth__cloudrun_jobconf_check(&direct, NULL), 0);
    assert_int_equal(berth__cloudrun_jobconf_check(&both, NULL),
                     BERTH_E_CONFIG);
    assert_int_equal(berth__cloudrun_jobconf_check(&bad, NULL), BERTH_E_CONFIG);
    assert_int_equal(berth__cloudrun_jobconf_check(&lone, NULL),
                     BERTH_E_CONFIG);
    launch_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_cloudrun_api__resources_round_up_to_what_jobs_offer),
        cmocka_unit_test(
            test_cloudrun_api__resources_beyond_limits_are_permanent),
        cmocka_unit_test(
            test_cloudrun_api__job_spec_holds_what_overrides_cannot),
        cmocka_unit_test(test_cloudrun_api__job_id_changes_with_the_spec_only),
        cmocka_unit_test(test_cloudrun_api__job_id_without_template_uses_image),
        cmocka_unit_test(test_cloudrun_api__run_overrides_carry_the_job),
        cmocka_unit_test(test_cloudrun_api__vpc_settings_go_into_the_job),
        cmocka_unit_test(test_cloudrun_api__log_filter_names_the_execution),
        cmocka_unit_test(test_cloudrun_api__execution_names_split_strictly),
        cmocka_unit_test(test_cloudrun_api__urlencode_keeps_unreserved),
        cmocka_unit_test(test_cloudrun_api__execution_lifecycle_maps_to_states),
        cmocka_unit_test(test_cloudrun_api__execution_marker_is_read_from_env),
        cmocka_unit_test(test_cloudrun_api__malformed_executions_are_refused),
        cmocka_unit_test(test_cloudrun_api__task_results_give_exit_codes),
        cmocka_unit_test(test_cloudrun_api__operations_are_read),
        cmocka_unit_test(test_cloudrun_api__error_bodies_are_summarised),
        cmocka_unit_test(test_cloudrun_api__entries_split_into_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
