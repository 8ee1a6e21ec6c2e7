/*
 * itest_fargate.c - the fargate backend against the fake ECS server
 * (tests/fakes/fake_ecs.c), through berth_exec_*: a task's life with its
 * logs, exit codes, cancel, adoption of an earlier launch, batched
 * DescribeTasks, task sizes and definitions. Authentication, throttling and
 * broken answers are in itest_fargate_auth.c.
 */
#include "fargate_itest.h"

static int setup(void **state)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    fx_start(f, NULL);
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

static json_t *task_by_arn(struct fx *f, const char *arn)
{
    json_t *tasks = bt_fake_server_get(&f->srv, "/_fake/tasks"), *t,
           *hit = NULL;
    size_t i;
    json_array_foreach(tasks, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "taskArn")), arn) == 0)
            hit = json_incref(t);
    }
    json_decref(tasks);
    if (!hit)
        fail_msg("the fake has no task %s", arn);
    return hit;
}

static const char *env_of(json_t *task, const char *name)
{
    json_t *co =
        json_array_get(json_object_get(json_object_get(task, "overrides"),
                                       "containerOverrides"),
                       0);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(co, "environment"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return json_string_value(json_object_get(e, "value"));
    }
    return NULL;
}

static void test_fargate__task_runs_to_completion_with_logs(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    const char *env[] = {"FAKE_STDOUT=line 1\nline 2\nline 3\nline 4\nline 5",
                         "FAKE_DURATION_MS=400", "GREETING=hi there", NULL};
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;
    bool seen[4] = {false, false, false, false};
    json_t *task, *tags, *co, *td;

    assert_int_equal(launch_job(ex, 7, 1, "local/busybox:latest", env, 16384,
                                1.0, &out, &err),
                     0);
    assert_false(out.adopted);
    assert_contains(out.id,
                    "arn:aws:ecs:" REGION ":123456789012:task/" CLUSTER "/");

    /* What RunTask asked for: the 16 GiB, 1 vCPU job rounded up to the
     * smallest valid Fargate size (2 vCPU, 16 GiB), command and
     * environment as overrides, idempotency token and tags. */
    task = task_by_arn(f, out.id);
    assert_string_equal(json_string_value(json_object_get(task, "cpu")),
                        "2048");
    assert_string_equal(json_string_value(json_object_get(task, "memory")),
                        "16384");
    assert_string_equal(json_string_value(json_object_get(task, "clientToken")),
                        "berth-7-1");
    assert_string_equal(json_string_value(json_object_get(task, "startedBy")),
                        "berth-7-1");
    assert_string_equal(env_of(task, "GREETING"), "hi there");
    co = json_array_get(json_object_get(json_object_get(task, "overrides"),
                                        "containerOverrides"),
                        0);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(co, "command"), 2)),
        "echo hello");
    tags = json_object_get(task, "tags");
    {
        char *t = json_dumps(tags, JSON_COMPACT);
        assert_contains(t, "{\"key\":\"berth.job\",\"value\":\"7\"}");
        assert_contains(t, "{\"key\":\"berth.attempt\",\"value\":\"1\"}");
        assert_contains(t, "{\"key\":\"team\",\"value\":\"data\"}");
        assert_null(strstr(t, "bad{tag}")); /* not a valid AWS tag key */
        free(t);
    }
    json_decref(task);

    /* The registered definition: Fargate, awsvpc, awslogs, both roles. */
    td = bt_fake_server_get(&f->srv, "/_fake/taskdefs");
    assert_int_equal(json_array_size(td), 1);
    {
        char *t = json_dumps(json_array_get(td, 0), JSON_COMPACT);
        assert_contains(t, "\"requiresCompatibilities\":[\"FARGATE\"]");
        assert_contains(t, "\"networkMode\":\"awsvpc\"");
        assert_contains(t, "\"awslogs-group\":\"/ecs/berth-test\"");
        assert_contains(t, "\"family\":\"berth-batch-report-");
        assert_contains(t, "role/ecsTaskExecutionRole");
        assert_contains(t, "role/berth-job");
        free(t);
    }
    json_decref(td);

    wait_state(ex, out.id, BERTH_EXEC_EXITED, &st, seen);
    assert_true(seen[BERTH_EXEC_PENDING]);
    assert_true(seen[BERTH_EXEC_RUNNING]);
    assert_int_equal(st.exit_code, 0);
    assert_false(st.cancelled);
    assert_false(st.oom_killed);
    assert_true(st.started_at > 0);
    assert_true(st.finished_at >= st.started_at);
    assert_contains(st.message, "Essential container in task exited");

    /* Five lines, three per GetLogEvents page on the fake: pagination. */
    berth_err_init(&err);
    assert_int_equal(berth_exec_logs(ex, out.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert_false(logs.truncated);
    berth_job_logs_release(&logs);
    assert_true(count_requests(f, "GetLogEvents", NULL) >= 2);

    /* Capped. */
    assert_int_equal(berth_exec_logs(ex, out.id, 10, &logs, &err), 0);
    assert_string_equal(logs.out, "line 1\nlin");
    assert_true(logs.truncated);
    berth_job_logs_release(&logs);

    /* A second job of the same template reuses the definition. */
    assert_int_equal(launch_job(ex, 8, 1, "local/busybox:latest", NULL, 512,
                                0.25, &out, &err),
                     0);
    {
        json_t *stats = bt_fake_server_get(&f->srv, "/_fake/stats");
        assert_int_equal(
            json_integer_value(json_object_get(stats, "register_calls")), 1);
        json_decref(stats);
    }
    /* A fresh instance (a restarted worker) finds the family by
     * DescribeTaskDefinition instead of registering it again. */
    berth_exec_destroy(ex);
    ex = fx_exec(f);
    assert_int_equal(launch_job(ex, 9, 1, "local/busybox:latest", NULL, 512,
                                0.25, &out, &err),
                     0);
    {
        json_t *stats = bt_fake_server_get(&f->srv, "/_fake/stats");
        assert_int_equal(
            json_integer_value(json_object_get(stats, "register_calls")), 1);
        json_decref(stats);
    }
    assert_int_equal(berth_exec_health(ex, &err), 0);

    /* Someone deregisters the revision berth uses: the next launch finds
     * RunTask refusing it, registers the family again and runs. */
    {
        json_t *defs = bt_fake_server_get(&f->srv, "/_fake/taskdefs");
        char *body =
            berth_xasprintf("{\"taskDefinition\": \"%s\"}",
                            json_string_value(json_object_get(
                                json_array_get(defs, 0), "taskDefinitionArn")));
        assert_int_equal(ecs_call(f, "DeregisterTaskDefinition", body, NULL),
                         200);
        free(body);
        json_decref(defs);
    }
    assert_int_equal(launch_job(ex, 10, 1, "local/busybox:latest", NULL, 512,
                                0.25, &out, &err),
                     0);
    task = task_by_arn(f, out.id);
    assert_contains(
        json_string_value(json_object_get(task, "taskDefinitionArn")), ":2");
    json_decref(task);
    assert_int_equal(count_requests(f, "RunTask", "ClientException"), 1);
    berth_exec_destroy(ex);
}

static void test_fargate__failed_task_reports_exit_code(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    const char *fail[] = {"FAKE_EXIT_CODE=3", "FAKE_STDOUT=oops", NULL};
    const char *oom[] = {"FAKE_OOM=1", NULL};
    const char *nostart[] = {
        "FAKE_FAIL_START=CannotPullContainerError: pull image manifest has "
        "been retried 5 time(s): not found",
        NULL};
    struct berth_execution a, b, c;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;

    assert_int_equal(
        launch_job(ex, 1, 1, "local/busybox:latest", fail, 0, 0, &a, &err), 0);
    assert_int_equal(
        launch_job(ex, 2, 1, "local/busybox:latest", oom, 0, 0, &b, &err), 0);
    assert_int_equal(
        launch_job(ex, 3, 1, "local/busybox:latest", nostart, 0, 0, &c, &err),
        0);

    wait_state(ex, a.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(st.exit_code, 3);
    assert_false(st.oom_killed);
    assert_int_equal(berth_exec_logs(ex, a.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "oops\n");
    berth_job_logs_release(&logs);

    wait_state(ex, b.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(st.exit_code, 137);
    assert_true(st.oom_killed);
    assert_contains(st.message, "OutOfMemoryError");

    /* Never started: no exit code, the reason as the message, no logs. */
    wait_state(ex, c.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(st.exit_code, -1);
    assert_false(st.cancelled);
    assert_contains(st.message, "TaskFailedToStart");
    assert_contains(st.message, "CannotPullContainerError");
    assert_int_equal(st.started_at, 0);
    assert_int_equal(berth_exec_logs(ex, c.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "");
    berth_job_logs_release(&logs);
    berth_exec_destroy(ex);
}

static void test_fargate__cancel_stops_the_task(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    const char *env[] = {"FAKE_DURATION_MS=600000", NULL};
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_err err;

    assert_int_equal(
        launch_job(ex, 5, 2, "local/busybox:latest", env, 0, 0, &out, &err), 0);
    wait_state(ex, out.id, BERTH_EXEC_RUNNING, &st, NULL);
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    assert_int_equal(berth_exec_cancel(ex, out.id, 10, &err), 0);
    wait_state(ex, out.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_true(st.cancelled);
    assert_int_equal(st.exit_code, 143);
    assert_contains(st.message, "Stopped by berth");
    assert_int_equal(count_requests(f, "StopTask", NULL), 1);

    /* An unknown task: a clear error. */
    berth_err_init(&err);
    assert_int_not_equal(berth_exec_cancel(ex,
                                           "arn:aws:ecs:" REGION
                                           ":123456789012:task/" CLUSTER
                                           "/0123456789abcdef0123456789abcdef",
                                           10, &err),
                         0);
    assert_contains(err.msg, "ECS StopTask");
    assert_contains(err.msg, "task was not found");
    berth_exec_destroy(ex);
}

static void test_fargate__second_launch_adopts_the_first(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex1 = fx_exec(f), *ex2;
    const char *env[] = {"FAKE_DURATION_MS=1500", NULL};
    struct berth_execution first, again, found;
    struct berth_exec_status st;
    struct berth_err err;
    json_t *stats;

    assert_int_equal(
        launch_job(ex1, 42, 1, "local/busybox:latest", env, 0, 0, &first, &err),
        0);
    /* A restarted worker: another instance, same job and attempt. */
    ex2 = fx_exec(f);
    assert_int_equal(berth_exec_find(ex2, 42, 1, &found, &err), 0);
    assert_string_equal(found.id, first.id);
    assert_true(found.adopted);
    assert_int_equal(
        launch_job(ex2, 42, 1, "local/busybox:latest", env, 0, 0, &again, &err),
        0);
    assert_string_equal(again.id, first.id);

    /* After it stopped, ListTasks no longer shows it as running, but
     * RunTask's clientToken still answers with the same task, which is by
     * now old enough to be reported as adopted. */
    wait_state(ex2, first.id, BERTH_EXEC_EXITED, &st, NULL);
    sleep_ms(2100);
    assert_int_equal(
        launch_job(ex2, 42, 1, "local/busybox:latest", env, 0, 0, &again, &err),
        0);
    assert_string_equal(again.id, first.id);
    assert_true(again.adopted);
    assert_int_equal(berth_exec_find(ex2, 42, 1, &found, &err), 0);
    assert_string_equal(found.id, first.id);

    /* One task, three RunTask calls with its token. */
    stats = bt_fake_server_get(&f->srv, "/_fake/stats");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(stats, "tasks_per_token"), "berth-42-1")),
        1);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(stats, "run_task_calls_per_token"), "berth-42-1")),
        3);
    assert_int_equal(json_integer_value(json_object_get(stats, "tasks")), 1);
    json_decref(stats);

    /* The next attempt is another task. */
    assert_int_equal(
        launch_job(ex2, 42, 2, "local/busybox:latest", env, 0, 0, &again, &err),
        0);
    assert_string_not_equal(again.id, first.id);
    assert_false(again.adopted);

    /* Nothing launched for this one. */
    berth_err_init(&err);
    assert_int_equal(berth_exec_find(ex2, 43, 1, &found, &err),
                     BERTH_E_NOTFOUND);
    assert_contains(err.msg, "berth-43-1");
    berth_exec_destroy(ex1);
    berth_exec_destroy(ex2);
}

static void test_fargate__status_batches_describe_tasks_by_100(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    const char *env[] = {"FAKE_DURATION_MS=600000", NULL};
    enum { REAL = 150, GHOSTS = 80, N = REAL + GHOSTS + 5 };
    struct berth_exec_status *q = berth_xcalloc(N, sizeof(*q));
    char(*ids)[BERTH_EXEC_ID_MAX] = berth_xcalloc(N, sizeof(*ids));
    struct berth_err err;
    json_t *stats, *sizes, *v;
    size_t i;
    long total = 0;

    for (int k = 0; k < REAL; k++) {
        struct berth_execution out;
        assert_int_equal(launch_job(ex, 1000 + k, 1, "local/busybox:latest",
                                    env, 0, 0, &out, &err),
                         0);
        snprintf(ids[k], sizeof(ids[k]), "%s", out.id);
    }
    for (int k = 0; k < GHOSTS; k++)
        snprintf(ids[REAL + k], sizeof(ids[0]),
                 "arn:aws:ecs:" REGION ":123456789012:task/" CLUSTER "/%032x",
                 k);
    /* A few asked twice. */
    for (int k = 0; k < 5; k++)
        memcpy(ids[REAL + GHOSTS + k], ids[k], sizeof(ids[0]));
    assert_int_equal(bt_fake_server_post(&f->srv, "/_fake/reset", "{}"), 200);
    for (int k = 0; k < N; k++)
        q[k].execution_id = ids[k];
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, q, N, &err), 0);
    for (int k = 0; k < N; k++) {
        assert_int_equal(q[k].rc, 0);
        if (k < REAL || k >= REAL + GHOSTS)
            assert_true(q[k].state == BERTH_EXEC_PENDING ||
                        q[k].state == BERTH_EXEC_RUNNING);
        else
            assert_int_equal(q[k].state, BERTH_EXEC_LOST);
    }
    assert_contains(q[REAL].message, "MISSING");

    stats = bt_fake_server_get(&f->srv, "/_fake/stats");
    sizes = json_object_get(stats, "describe_batch_sizes");
    assert_true(json_array_size(sizes) >= 3);
    json_array_foreach(sizes, i, v)
    {
        assert_true(json_integer_value(v) <= 100);
        total += (long)json_integer_value(v);
    }
    assert_int_equal(total, REAL + GHOSTS); /* duplicates asked once */
    json_decref(stats);

    /* `berth cleanup` lists them all: ListTasks pages of 100. */
    {
        struct berth_exec_object *objs = NULL;
        size_t nobj = 0;
        assert_int_equal(berth_exec_list(ex, &objs, &nobj, &err), 0);
        assert_int_equal(nobj, REAL);
        free(objs);
    }

    /* The capability that tells the worker to batch. */
    assert_true(ex->ops->caps & BERTH_EXEC_CAP_BATCH_STATUS);
    free(q);
    free(ids);
    berth_exec_destroy(ex);
}

static void test_fargate__sizes_round_up_and_impossible_ones_fail(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    struct berth_execution out;
    struct berth_err err;
    json_t *task;

    assert_int_equal(launch_job(ex, 60, 1, "local/busybox:latest", NULL, 3000,
                                0.3, &out, &err),
                     0);
    task = task_by_arn(f, out.id);
    assert_string_equal(json_string_value(json_object_get(task, "cpu")), "512");
    assert_string_equal(json_string_value(json_object_get(task, "memory")),
                        "3072");
    json_decref(task);

    /* Over 120 GiB: refused before any RunTask, permanently. */
    assert_int_equal(launch_job(ex, 61, 1, "local/busybox:latest", NULL, 130000,
                                1, &out, &err),
                     BERTH_E_INVALID);
    assert_false(err.transient);
    assert_contains(err.msg, "130000 MiB");
    assert_contains(err.msg, "at most 122880 MiB");
    assert_int_equal(
        launch_job(ex, 62, 1, "local/busybox:latest", NULL, 0, 32, &out, &err),
        BERTH_E_INVALID);
    assert_contains(err.msg, "at most 16 vCPU");
    assert_int_equal(count_requests(f, "RunTask", NULL), 1);
    berth_exec_destroy(ex);
}

static void test_fargate__configured_task_definition_is_used(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f), *ex2;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;
    json_t *defs, *task;
    char family[256];

    /* Let a first instance register a family, then name it in the
     * config of a second one. */
    assert_int_equal(
        launch_job(ex, 70, 1, "local/app:1", NULL, 0, 0, &out, &err), 0);
    defs = bt_fake_server_get(&f->srv, "/_fake/taskdefs");
    snprintf(
        family, sizeof(family), "%s",
        json_string_value(json_object_get(json_array_get(defs, 0), "family")));
    json_decref(defs);
    berth_opts_set_str(&f->opts, "task_definition", family);
    ex2 = fx_exec(f);
    {
        const char *env[] = {"FAKE_STDOUT=from configured", NULL};
        assert_int_equal(
            launch_job(ex2, 71, 1, "local/app:1", env, 0, 0, &out, &err), 0);
    }
    task = task_by_arn(f, out.id);
    assert_contains(
        json_string_value(json_object_get(task, "taskDefinitionArn")), family);
    json_decref(task);
    wait_state(ex2, out.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_int_equal(berth_exec_logs(ex2, out.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "from configured\n");
    berth_job_logs_release(&logs);

    /* Its image is fixed: another image is refused, clearly. */
    assert_int_equal(
        launch_job(ex2, 72, 1, "local/other:2", NULL, 0, 0, &out, &err),
        BERTH_E_INVALID);
    assert_contains(err.msg, "cannot override a container's image");
    berth_exec_destroy(ex2);

    /* A task definition that does not exist. */
    berth_opts_set_str(&f->opts, "task_definition", "no-such-family");
    ex2 = fx_exec(f);
    assert_int_not_equal(
        launch_job(ex2, 73, 1, "local/app:1", NULL, 0, 0, &out, &err), 0);
    assert_contains(err.msg, "no-such-family");
    assert_contains(err.msg, "Unable to describe task definition");
    berth_exec_destroy(ex2);
    berth_exec_destroy(ex);
}

static void test_fargate__health_and_configuration_errors(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex;
    struct berth_exec_params p = {"fargate", &f->opts, &f->host, NULL};
    struct berth_err err;

    ex = fx_exec(f);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), 0);
    berth_exec_destroy(ex);

    berth_opts_set_str(&f->opts, "cluster", "elsewhere");
    ex = fx_exec(f);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_NOTFOUND);
    assert_contains(err.msg, "cluster 'elsewhere' not found");
    berth_exec_destroy(ex);

    berth_opts_set_list(&f->opts, "subnets",
                        &(struct berth_strv)BERTH_STRV_INIT);
    berth_err_init(&err);
    assert_int_equal(berth_exec_create("fargate", &p, &ex, &err),
                     BERTH_E_CONFIG);
    assert_contains(err.msg, "subnets");
}

static void test_fargate__cleanup_lists_and_stops_berths_tasks(void **state)
{
    struct fx *f = *state;
    struct berth_exec *ex = fx_exec(f);
    const char *longer[] = {"FAKE_DURATION_MS=600000", NULL};
    struct berth_execution a, b;
    struct berth_exec_status st;
    struct berth_exec_object *objs = NULL;
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_err err;
    size_t n = 0;
    bool seen_a = false, seen_b = false;
    char *body;

    assert_true(ex->ops->caps & BERTH_EXEC_CAP_LIST);
    assert_int_equal(
        launch_job(ex, 80, 1, "local/busybox:latest", longer, 0, 0, &a, &err),
        0);
    assert_int_equal(
        launch_job(ex, 81, 2, "local/busybox:latest", NULL, 0, 0, &b, &err), 0);
    wait_state(ex, b.id, BERTH_EXEC_EXITED, &st, NULL);
    wait_state(ex, a.id, BERTH_EXEC_RUNNING, &st, NULL);
    /* A task somebody else started in the same cluster. */
    {
        json_t *defs = bt_fake_server_get(&f->srv, "/_fake/taskdefs");
        body = berth_xasprintf(
            "{\"cluster\": \"" CLUSTER "\", \"taskDefinition\": \"%s\", "
            "\"launchType\": \"FARGATE\", \"startedBy\": \"nightly-etl\", "
            "\"networkConfiguration\": {\"awsvpcConfiguration\": "
            "{\"subnets\": [\"subnet-9\"]}}}",
            json_string_value(
                json_object_get(json_array_get(defs, 0), "taskDefinitionArn")));
        json_decref(defs);
    }
    assert_int_equal(ecs_call(f, "RunTask", body, &out), 200);
    free(body);
    berth_buf_release(&out);

    assert_int_equal(berth_exec_list(ex, &objs, &n, &err), 0);
    assert_int_equal(n, 2); /* not the other one */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(objs[i].id, a.id) == 0) {
            seen_a = true;
            assert_int_equal(objs[i].job_id, 80);
            assert_int_equal(objs[i].attempt, 1);
            assert_int_equal(objs[i].state, BERTH_EXEC_RUNNING);
            assert_string_equal(objs[i].name, "berth-80-1");
        } else if (strcmp(objs[i].id, b.id) == 0) {
            seen_b = true;
            assert_int_equal(objs[i].job_id, 81);
            assert_int_equal(objs[i].attempt, 2);
            assert_int_equal(objs[i].state, BERTH_EXEC_EXITED);
        }
        assert_true(objs[i].created_at > 0);
    }
    assert_true(seen_a && seen_b);
    free(objs);

    /* Removing stops what still runs; what is gone is gone already. */
    assert_int_equal(berth_exec_remove(ex, a.id, &err), 0);
    wait_state(ex, a.id, BERTH_EXEC_EXITED, &st, NULL);
    assert_true(st.cancelled);
    assert_int_equal(berth_exec_remove(ex, b.id, &err), 0);
    assert_int_equal(berth_exec_remove(ex,
                                       "arn:aws:ecs:" REGION
                                       ":123456789012:task/" CLUSTER
                                       "/ffffffffffffffffffffffffffffffff",
                                       &err),
                     0);
    berth_exec_destroy(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_fargate__task_runs_to_completion_with_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__failed_task_reports_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fargate__cancel_stops_the_task,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__second_launch_adopts_the_first, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__status_batches_describe_tasks_by_100, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__sizes_round_up_and_impossible_ones_fail, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__configured_task_definition_is_used, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__health_and_configuration_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fargate__cleanup_lists_and_stops_berths_tasks, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
