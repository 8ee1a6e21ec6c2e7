/*
 * itest_docker.c - the docker executor against a real Docker engine, at the
 * executor API: launch, exit codes, logs, env and command overrides,
 * resource limits, OOM, stop at a timeout, cancel, missing images,
 * adoption of an earlier launch, find, list and cleanup.
 *
 * Every container of this run carries the namespace "it<pid>", so parallel
 * runs against one engine never meet; teardown removes what is left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docker_itest.h"

static const char *url;
static char ns[32];
static struct berth_opts opts;
static struct berth_exec *ex;
static int64_t next_job = 1;

struct spec {
    const char *image;
    const char *script; /* sh -c SCRIPT; NULL: the image's CMD */
    const char *env[4]; /* "K=V" */
    const char *workdir;
    const char *network;
    int64_t memory_mb;
    double cpu_cores;
};

static int launch(struct berth_exec *e, const struct spec *s, int64_t job,
                  int attempt, struct berth_execution *out,
                  struct berth_err *err)
{
    struct berth_strv cmd = BERTH_STRV_INIT;
    struct berth_map env = BERTH_MAP_INIT, labels = BERTH_MAP_INIT;
    struct berth_launch l = {0};
    char name[64];
    int rc;

    if (s->script) {
        berth_strv_push(&cmd, "sh");
        berth_strv_push(&cmd, "-c");
        berth_strv_push(&cmd, s->script);
    }
    for (int i = 0; i < 4 && s->env[i]; i++) {
        char *k, *v;
        assert_int_equal(berth_parse_kv(s->env[i], &k, &v, NULL), 0);
        berth_map_set(&env, k, v);
        free(k);
        free(v);
    }
    berth_map_set(&labels, "suite", "itest_docker");
    berth_exec_name(job, attempt, name, sizeof(name));
    l.job_id = job;
    l.attempt = attempt;
    l.name = name;
    l.image = s->image ? s->image : DT_IMAGE;
    l.command = &cmd;
    l.working_dir = s->workdir;
    l.env = &env;
    l.network = s->network ? s->network : "none";
    l.memory_mb = s->memory_mb;
    l.cpu_cores = s->cpu_cores;
    l.labels = &labels;
    berth_err_init(err);
    rc = berth_exec_launch(e, &l, out, err);
    berth_strv_release(&cmd);
    berth_map_release(&env);
    berth_map_release(&labels);
    return rc;
}

/* Launch, wait for the end, fetch logs. */
static void run(const struct spec *s, struct berth_execution *e,
                struct berth_exec_status *st, struct berth_job_logs *logs)
{
    struct berth_err err;
    int64_t job = next_job++;

    if (launch(ex, s, job, 1, e, &err)) {
        fprintf(stderr, "launch: %s\n", err.msg);
        fail();
    }
    assert_false(e->adopted);
    dt_wait_end(ex, e->id, st);
    if (logs) {
        berth_err_init(&err);
        if (berth_exec_logs(ex, e->id, 0, logs, &err)) {
            fprintf(stderr, "logs: %s\n", err.msg);
            fail();
        }
    }
}

static void cleanup(const char *id)
{
    struct berth_err err;
    berth_err_init(&err);
    if (berth_exec_cleanup(ex, id, &err)) {
        fprintf(stderr, "cleanup: %s\n", err.msg);
        fail();
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(ns, sizeof(ns), "it%ld", (long)getpid());
    berth_opts_init(&opts);
    berth_opts_set_str(&opts, "namespace", ns);
    berth_opts_set_int(&opts, "stop_grace_seconds", 2);
    berth_opts_set_int(&opts, "stats_interval_ms", 300);
    ex = dt_make("local", url, &opts);
    return 0;
}

static int teardown(void **state)
{
    struct berth_exec_object *o;
    size_t n;
    (void)state;

    /* Whatever a failed test left behind. */
    if (berth_exec_list(ex, &o, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++)
            berth_exec_remove(ex, o[i].id, NULL);
        free(o);
    }
    berth_exec_destroy(ex);
    berth_opts_release(&opts);
    return 0;
}

/* ---- the tests ---------------------------------------------------------- */

static void test_health__engine_answers_ping(void **state)
{
    struct berth_err err;
    (void)state;
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), 0);
}

static void test_health__missing_socket_fails_and_is_transient(void **state)
{
    struct berth_exec *down =
        dt_make("down", "unix:///nonexistent/berth-docker.sock", NULL);
    struct berth_err err;
    (void)state;

    berth_err_init(&err);
    assert_int_not_equal(berth_exec_health(down, &err), 0);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "down"));
    berth_exec_destroy(down);
}

static void test_exit_zero__exited_with_zero(void **state)
{
    struct spec s = {.script = "exit 0"};
    struct berth_execution e;
    struct berth_exec_status st;
    (void)state;

    run(&s, &e, &st, NULL);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(st.rc, 0);
    assert_false(st.oom_killed);
    assert_true(st.started_at > 0);
    assert_true(st.finished_at >= st.started_at);
    cleanup(e.id);
}

static void test_exit_seven__exited_with_seven(void **state)
{
    struct spec s = {.script = "exit 7"};
    struct berth_execution e;
    struct berth_exec_status st;
    (void)state;

    run(&s, &e, &st, NULL);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 7);
    assert_string_equal(st.message, "exited with code 7");
    cleanup(e.id);
}

static void test_logs__stdout_and_stderr_are_separated(void **state)
{
    struct spec s = {.script = "echo out1; echo err1 >&2; echo out2; "
                               "printf 'no newline' >&2"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    (void)state;

    run(&s, &e, &st, &logs);
    assert_int_equal(st.exit_code, 0);
    assert_string_equal(logs.out, "out1\nout2\n");
    assert_int_equal(logs.out_len, 10);
    assert_string_equal(logs.err, "err1\nno newline");
    assert_false(logs.truncated);
    berth_job_logs_release(&logs);
    cleanup(e.id);
}

static void test_logs__capped_logs_keep_the_end_and_say_so(void **state)
{
    struct spec s = {.script = "i=0; while [ $i -lt 500 ]; do echo line $i; "
                               "i=$((i+1)); done; echo short >&2"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;
    (void)state;

    run(&s, &e, &st, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_logs(ex, e.id, 100, &logs, &err), 0);
    assert_true(logs.truncated);
    assert_true(logs.out_len <= 100);
    assert_non_null(strstr(logs.out, "line 499\n"));
    assert_null(strstr(logs.out, "line 1\n"));
    assert_string_equal(logs.err, "short\n");
    berth_job_logs_release(&logs);
    cleanup(e.id);
}

static void test_overrides__env_command_and_workdir_reach_it(void **state)
{
    struct spec s = {.script = "echo \"$GREETING|$EMPTY|$WITH_EQ\"; pwd",
                     .env = {"GREETING=hello world", "EMPTY=", "WITH_EQ=a=b"},
                     .workdir = "/tmp"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    (void)state;

    run(&s, &e, &st, &logs);
    assert_int_equal(st.exit_code, 0);
    assert_string_equal(logs.out, "hello world||a=b\n/tmp\n");
    berth_job_logs_release(&logs);
    cleanup(e.id);
}

static void test_limits__memory_cpu_network_and_labels_in_inspect(void **state)
{
    struct spec s = {.script = "sleep 30",
                     .memory_mb = 64,
                     .cpu_cores = 0.5,
                     .network = "none"};
    struct berth_execution e;
    struct berth_err err;
    json_t *j, *hc, *labels;
    char want_job[32];
    int64_t job = next_job++;
    (void)state;

    assert_int_equal(launch(ex, &s, job, 2, &e, &err), 0);
    j = dt_inspect(url, e.id);
    assert_non_null(j);
    hc = json_object_get(j, "HostConfig");
    assert_int_equal(json_integer_value(json_object_get(hc, "Memory")),
                     64 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(hc, "MemorySwap")),
                     64 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")),
                     500000000);
    assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")),
                        "none");
    labels = json_object_get(json_object_get(j, "Config"), "Labels");
    snprintf(want_job, sizeof(want_job), "%lld", (long long)job);
    assert_string_equal(json_string_value(json_object_get(labels, "berth.job")),
                        want_job);
    assert_string_equal(
        json_string_value(json_object_get(labels, "berth.attempt")), "2");
    assert_string_equal(
        json_string_value(json_object_get(labels, "berth.host")), "local");
    assert_string_equal(json_string_value(json_object_get(labels, "suite")),
                        "itest_docker");
    {
        char want_name[96];
        snprintf(want_name, sizeof(want_name), "/%s-berth-%lld-2", ns,
                 (long long)job);
        assert_string_equal(json_string_value(json_object_get(j, "Name")),
                            want_name);
    }
    json_decref(j);
    berth_err_init(&err);
    assert_int_equal(berth_exec_remove(ex, e.id, &err), 0);
    assert_null(dt_inspect(url, e.id));
}

static void test_oom__over_the_limit_is_oom_killed(void **state)
{
    /* tail buffers a "line" of /dev/zero that never ends. */
    struct spec s = {.script = "tail /dev/zero", .memory_mb = 8};
    struct berth_execution e;
    struct berth_exec_status st;
    (void)state;

    run(&s, &e, &st, NULL);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_true(st.oom_killed);
    assert_int_equal(st.exit_code, 137);
    assert_non_null(strstr(st.message, "out of memory"));
    cleanup(e.id);
}

static void test_stats__peak_memory_and_cpu_of_a_finished_job(void **state)
{
    /* Holds ~20 MB for a while, so that samples see it. */
    struct spec s = {.script = "x=$(head -c 20000000 /dev/zero | tr '\\0' a); "
                               "sleep 1.5; echo ${#x}",
                     .memory_mb = 256};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    (void)state;

    run(&s, &e, &st, &logs);
    assert_int_equal(st.exit_code, 0);
    assert_string_equal(logs.out, "20000000\n");
    assert_true(st.peak_memory_bytes > 20000000);
    assert_true(st.peak_memory_bytes <= 256 * 1024 * 1024);
    assert_true(st.cpu_time_us > 0);
    berth_job_logs_release(&logs);
    cleanup(e.id);
}

static void test_cancel__sigterm_ignored_then_killed_after_grace(void **state)
{
    /* sh as PID 1 ignores SIGTERM: only the SIGKILL after the grace ends
     * it, with 128+9. */
    struct spec s = {.script = "sleep 300"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_err err;
    (void)state;

    assert_int_equal(launch(ex, &s, next_job++, 1, &e, &err), 0);
    memset(&st, 0, sizeof(st));
    st.execution_id = e.id;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    berth_err_init(&err);
    assert_int_equal(berth_exec_cancel(ex, e.id, 1, &err), 0);
    dt_wait_end(ex, e.id, &st);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 137);
    assert_true(st.cancelled);
    assert_false(st.oom_killed);
    /* Harvested, then removed: the container is gone. */
    cleanup(e.id);
    assert_null(dt_inspect(url, e.id));
    memset(&st, 0, sizeof(st));
    st.execution_id = e.id;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_LOST);
}

static void test_cancel__sigterm_comes_first(void **state)
{
    /* A job that traps SIGTERM gets to say goodbye and choose its code. */
    struct spec s = {.script = "trap 'echo got TERM; exit 3' TERM; "
                               "echo ready; sleep 300 & wait"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;
    (void)state;

    assert_int_equal(launch(ex, &s, next_job++, 1, &e, &err), 0);
    /* Cancel only once the trap is set: wait for "ready" in the log. */
    for (;;) {
        assert_int_equal(berth_exec_logs(ex, e.id, 0, &logs, &err), 0);
        bool ready = strstr(logs.out, "ready") != NULL;
        berth_job_logs_release(&logs);
        if (ready)
            break;
        usleep(50000);
    }
    assert_int_equal(berth_exec_cancel(ex, e.id, 30, &err), 0);
    dt_wait_end(ex, e.id, &st);
    assert_int_equal(st.exit_code, 3);
    assert_true(st.cancelled);
    assert_int_equal(berth_exec_logs(ex, e.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "ready\ngot TERM\n");
    berth_job_logs_release(&logs);
    cleanup(e.id);
}

static void test_cancel__of_a_finished_job_is_fine(void **state)
{
    struct spec s = {.script = "true"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_err err;
    (void)state;

    run(&s, &e, &st, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_cancel(ex, e.id, 1, &err), 0);
    cleanup(e.id);
    berth_err_init(&err);
    assert_int_equal(berth_exec_cancel(ex, e.id, 1, &err), BERTH_E_NOTFOUND);
}

static void test_missing_image__permanent_error_names_the_image(void **state)
{
    struct spec s = {.image = "berth-test/does-not-exist:1", .script = "true"};
    struct berth_execution e;
    struct berth_err err;
    int64_t job = next_job++;
    (void)state;

    assert_int_equal(launch(ex, &s, job, 1, &e, &err), BERTH_E_NOTFOUND);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "'berth-test/does-not-exist:1'"));
    assert_non_null(strstr(err.msg, "local"));
    /* Nothing was left behind. */
    berth_err_init(&err);
    assert_int_equal(berth_exec_find(ex, job, 1, &e, &err), BERTH_E_NOTFOUND);
}

static void test_missing_image__failed_pull_is_a_clear_error(void **state)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_exec *puller;
    struct spec s = {.image = "berth-test/not-anywhere:2", .script = "true"};
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    berth_opts_copy(&o, &opts);
    berth_opts_set_bool(&o, "auto_pull_images", true);
    puller = dt_make("puller", url, &o);
    assert_int_equal(launch(puller, &s, next_job++, 1, &e, &err),
                     BERTH_E_NOTFOUND);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "'berth-test/not-anywhere:2'"));
    assert_non_null(strstr(err.msg, "pulling it failed"));
    berth_exec_destroy(puller);
    berth_opts_release(&o);
}

static void test_bad_values__engine_refusals_are_permanent(void **state)
{
    struct spec tiny = {.script = "true", .memory_mb = 1};
    struct berth_strv cmd = BERTH_STRV_INIT;
    struct berth_launch l = {0};
    struct berth_execution e;
    struct berth_err err;
    int64_t job = next_job++;
    char name[64];
    (void)state;

    /* Below the engine's 6 MB minimum: its message is the job's error. */
    assert_int_equal(launch(ex, &tiny, job, 1, &e, &err), BERTH_E_INVALID);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "Minimum memory limit"));

    /* An executable that is not there: refused at start, container gone. */
    job = next_job++;
    berth_strv_push(&cmd, "/no/such/program");
    berth_exec_name(job, 1, name, sizeof(name));
    l.job_id = job;
    l.attempt = 1;
    l.name = name;
    l.image = DT_IMAGE;
    l.command = &cmd;
    l.network = "none";
    berth_err_init(&err);
    assert_int_equal(berth_exec_launch(ex, &l, &e, &err), BERTH_E_INVALID);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "/no/such/program"));
    berth_err_init(&err);
    assert_int_equal(berth_exec_find(ex, job, 1, &e, &err), BERTH_E_NOTFOUND);
    berth_strv_release(&cmd);
}

static void test_adopt__created_by_a_dead_worker_runs_once(void **state)
{
    /* A worker created the container and died before starting it. */
    struct spec s = {.script = "echo ran >> /tmp/runs; cat /tmp/runs | wc -l"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_exec_object *o;
    struct berth_buf body = BERTH_BUF_INIT;
    struct berth_err err;
    int64_t job = next_job++;
    char *path, created_id[128];
    size_t n, mine = 0;
    json_t *j;
    (void)state;

    path = berth_xasprintf("/containers/create?name=%s-berth-%lld-1", ns,
                           (long long)job);
    {
        char *create = berth_xasprintf(
            "{\"Image\":\"%s\",\"Cmd\":[\"sh\",\"-c\",\"%s\"],"
            "\"Labels\":{\"berth.job\":\"%lld\",\"berth.attempt\":\"1\","
            "\"berth.namespace\":\"%s\"},\"HostConfig\":{\"NetworkMode\":"
            "\"none\"}}",
            DT_IMAGE, s.script, (long long)job, ns);
        assert_int_equal(dt_raw(url, "POST", path, create, &body), 201);
        free(create);
    }
    j = json_loads(berth_buf_cstr(&body), 0, NULL);
    snprintf(created_id, sizeof(created_id), "%s",
             json_string_value(json_object_get(j, "Id")));
    json_decref(j);

    /* find() sees it before any launch. */
    berth_err_init(&err);
    assert_int_equal(berth_exec_find(ex, job, 1, &e, &err), 0);
    assert_string_equal(e.id, created_id);

    /* The next worker launches the same attempt: it adopts and starts. */
    assert_int_equal(launch(ex, &s, job, 1, &e, &err), 0);
    assert_true(e.adopted);
    assert_string_equal(e.id, created_id);
    dt_wait_end(ex, e.id, &st);
    assert_int_equal(st.exit_code, 0);

    /* Yet another launch adopts again and does not run it a second time. */
    assert_int_equal(launch(ex, &s, job, 1, &e, &err), 0);
    assert_true(e.adopted);
    assert_string_equal(e.id, created_id);
    dt_wait_end(ex, e.id, &st);
    assert_int_equal(berth_exec_logs(ex, e.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "1\n");
    berth_job_logs_release(&logs);

    /* Exactly one container exists for this job. */
    assert_int_equal(berth_exec_list(ex, &o, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        if (o[i].job_id == job) {
            mine++;
            assert_string_equal(o[i].id, created_id);
            assert_int_equal(o[i].attempt, 1);
            assert_int_equal(o[i].state, BERTH_EXEC_EXITED);
        }
    free(o);
    assert_int_equal(mine, 1);
    cleanup(e.id);
    berth_buf_release(&body);
    free(path);
}

static void test_adopt__a_running_container_is_not_restarted(void **state)
{
    struct spec s = {.script = "sleep 300"};
    struct berth_execution e1, e2;
    struct berth_err err;
    json_t *j;
    char started[64];
    int64_t job = next_job++;
    (void)state;

    assert_int_equal(launch(ex, &s, job, 1, &e1, &err), 0);
    assert_false(e1.adopted);
    j = dt_inspect(url, e1.id);
    snprintf(started, sizeof(started), "%s",
             json_string_value(
                 json_object_get(json_object_get(j, "State"), "StartedAt")));
    json_decref(j);
    assert_int_equal(launch(ex, &s, job, 1, &e2, &err), 0);
    assert_true(e2.adopted);
    assert_string_equal(e1.id, e2.id);
    j = dt_inspect(url, e2.id);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "State"), "StartedAt")),
                        started);
    json_decref(j);
    /* A different attempt is a different container. */
    assert_int_equal(launch(ex, &s, job, 2, &e2, &err), 0);
    assert_false(e2.adopted);
    assert_string_not_equal(e1.id, e2.id);
    assert_int_equal(berth_exec_remove(ex, e1.id, &err), 0);
    assert_int_equal(berth_exec_remove(ex, e2.id, &err), 0);
}

static void test_find__unknown_attempt_is_not_found(void **state)
{
    struct berth_execution e;
    struct berth_err err;
    (void)state;
    berth_err_init(&err);
    assert_int_equal(berth_exec_find(ex, 987654321, 9, &e, &err),
                     BERTH_E_NOTFOUND);
}

static void test_wait__times_out_on_a_running_job(void **state)
{
    struct spec s = {.script = "sleep 300"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_err err;
    (void)state;

    assert_int_equal(launch(ex, &s, next_job++, 1, &e, &err), 0);
    memset(&st, 0, sizeof(st));
    st.execution_id = e.id;
    assert_int_equal(berth_exec_wait(ex, &st, 700, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    assert_int_equal(st.rc, 0);
    assert_int_equal(berth_exec_remove(ex, e.id, &err), 0);
}

struct followed {
    struct berth_buf seq; /* "1:a\n2:b\n..." in arrival order */
};

static int on_log(int stream, const char *data, size_t len, void *ctx)
{
    struct followed *f = ctx;
    berth_buf_printf(&f->seq, "%d:", stream);
    berth_buf_append(&f->seq, data, len);
    return 0;
}

static void test_logs_follow__streams_until_the_job_ends(void **state)
{
    struct spec s = {.script = "echo a; sleep 0.3; echo b >&2; sleep 0.3; "
                               "echo c; exit 4"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct followed f;
    struct berth_err err;
    (void)state;

    berth_buf_init(&f.seq, 0);
    assert_int_equal(launch(ex, &s, next_job++, 1, &e, &err), 0);
    berth_err_init(&err);
    assert_int_equal(berth_exec_logs_follow(ex, e.id, on_log, &f, &err), 0);
    assert_string_equal(berth_buf_cstr(&f.seq), "1:a\n2:b\n1:c\n");
    /* It returned because the job ended. */
    memset(&st, 0, sizeof(st));
    st.execution_id = e.id;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 4);
    berth_buf_release(&f.seq);
    cleanup(e.id);
}

static void test_status__batch_mixes_known_and_gone(void **state)
{
    struct spec s = {.script = "exit 5"};
    struct berth_execution e;
    struct berth_exec_status q[3], st;
    struct berth_err err;
    (void)state;

    run(&s, &e, &st, NULL);
    memset(q, 0, sizeof(q));
    q[0].execution_id = e.id;
    q[1].execution_id = "0000000000000000000000000000000000000000000000000000"
                        "000000000000";
    q[2].execution_id = "bad/id?x";
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, q, 3, &err), 0);
    assert_int_equal(q[0].state, BERTH_EXEC_EXITED);
    assert_int_equal(q[0].exit_code, 5);
    assert_int_equal(q[1].state, BERTH_EXEC_LOST);
    assert_int_equal(q[1].rc, 0);
    assert_int_equal(q[2].rc, BERTH_E_INVALID);
    cleanup(e.id);
}

static void test_status__batch_of_running_created_and_exited(void **state)
{
    struct spec run_s = {.script = "sleep 300"}, end_s = {.script = "exit 9"};
    struct berth_execution r1, r2, done;
    struct berth_exec_status q[4], st;
    struct berth_buf body = BERTH_BUF_INIT;
    struct berth_err err;
    char *path, created[128];
    json_t *j;
    (void)state;

    assert_int_equal(launch(ex, &run_s, next_job++, 1, &r1, &err), 0);
    assert_int_equal(launch(ex, &run_s, next_job++, 1, &r2, &err), 0);
    run(&end_s, &done, &st, NULL);
    path = berth_xasprintf("/containers/create?name=%s-created-%ld", ns,
                           (long)next_job++);
    assert_int_equal(dt_raw(url, "POST", path,
                            "{\"Image\":\"" DT_IMAGE "\",\"Cmd\":[\"true\"],"
                            "\"HostConfig\":{\"NetworkMode\":\"none\"}}",
                            &body),
                     201);
    j = json_loads(berth_buf_cstr(&body), 0, NULL);
    snprintf(created, sizeof(created), "%s",
             json_string_value(json_object_get(j, "Id")));
    json_decref(j);

    memset(q, 0, sizeof(q));
    q[0].execution_id = r1.id;
    q[1].execution_id = done.id;
    q[2].execution_id = created;
    q[3].execution_id = r2.id;
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, q, 4, &err), 0);
    assert_int_equal(q[0].state, BERTH_EXEC_RUNNING);
    assert_int_equal(q[1].state, BERTH_EXEC_EXITED);
    assert_int_equal(q[1].exit_code, 9);
    assert_true(q[1].finished_at > 0);
    assert_int_equal(q[2].state, BERTH_EXEC_PENDING);
    assert_int_equal(q[3].state, BERTH_EXEC_RUNNING);
    for (int i = 0; i < 4; i++)
        assert_int_equal(q[i].rc, 0);
    assert_int_equal(berth_exec_remove(ex, r1.id, &err), 0);
    assert_int_equal(berth_exec_remove(ex, r2.id, &err), 0);
    assert_int_equal(berth_exec_remove(ex, done.id, &err), 0);
    assert_int_equal(berth_exec_remove(ex, created, &err), 0);
    berth_buf_release(&body);
    free(path);
}

static void test_keep_containers__cleanup_keeps_remove_removes(void **state)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_exec *keeper;
    struct spec s = {.script = "true"};
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_err err;
    json_t *j;
    (void)state;

    berth_opts_copy(&o, &opts);
    berth_opts_set_bool(&o, "keep_containers", true);
    keeper = dt_make("keeper", url, &o);
    assert_int_equal(launch(keeper, &s, next_job++, 1, &e, &err), 0);
    dt_wait_end(keeper, e.id, &st);
    assert_int_equal(berth_exec_cleanup(keeper, e.id, &err), 0);
    j = dt_inspect(url, e.id);
    assert_non_null(j);
    json_decref(j);
    assert_int_equal(berth_exec_remove(keeper, e.id, &err), 0);
    assert_null(dt_inspect(url, e.id));
    /* Removing what is gone is fine. */
    assert_int_equal(berth_exec_remove(keeper, e.id, &err), 0);
    berth_exec_destroy(keeper);
    berth_opts_release(&o);
}

static void test_list__sees_only_this_namespace(void **state)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_exec *other;
    struct spec s = {.script = "true"};
    struct berth_execution mine, theirs;
    struct berth_exec_object *obj;
    struct berth_err err;
    size_t n;
    bool saw_mine = false;
    int64_t job = next_job++;
    char other_ns[48];
    (void)state;

    /* Same job id and attempt in another namespace: no clash. */
    snprintf(other_ns, sizeof(other_ns), "%sx", ns);
    berth_opts_copy(&o, &opts);
    berth_opts_set_str(&o, "namespace", other_ns);
    other = dt_make("other", url, &o);
    assert_int_equal(launch(ex, &s, job, 1, &mine, &err), 0);
    assert_int_equal(launch(other, &s, job, 1, &theirs, &err), 0);
    assert_false(theirs.adopted);
    assert_string_not_equal(mine.id, theirs.id);
    assert_int_equal(berth_exec_list(ex, &obj, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(obj[i].id, theirs.id);
        if (strcmp(obj[i].id, mine.id) == 0) {
            saw_mine = true;
            assert_int_equal(obj[i].job_id, job);
            assert_true(obj[i].created_at > 0);
        }
    }
    free(obj);
    assert_true(saw_mine);
    assert_int_equal(berth_exec_remove(ex, mine.id, &err), 0);
    assert_int_equal(berth_exec_remove(other, theirs.id, &err), 0);
    berth_exec_destroy(other);
    berth_opts_release(&o);
}

static void test_api_version__pinned_too_new_is_a_clear_error(void **state)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_exec *pinned;
    struct spec s = {.script = "true"};
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    berth_opts_copy(&o, &opts);
    berth_opts_set_str(&o, "api_version", "1.99");
    pinned = dt_make("pinned", url, &o);
    assert_int_not_equal(launch(pinned, &s, next_job++, 1, &e, &err), 0);
    assert_non_null(strstr(err.msg, "1.99"));
    berth_exec_destroy(pinned);
    berth_opts_release(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health__engine_answers_ping),
        cmocka_unit_test(test_health__missing_socket_fails_and_is_transient),
        cmocka_unit_test(test_exit_zero__exited_with_zero),
        cmocka_unit_test(test_exit_seven__exited_with_seven),
        cmocka_unit_test(test_logs__stdout_and_stderr_are_separated),
        cmocka_unit_test(test_logs__capped_logs_keep_the_end_and_say_so),
        cmocka_unit_test(test_overrides__env_command_and_workdir_reach_it),
        cmocka_unit_test(test_limits__memory_cpu_network_and_labels_in_inspect),
        cmocka_unit_test(test_oom__over_the_limit_is_oom_killed),
        cmocka_unit_test(test_stats__peak_memory_and_cpu_of_a_finished_job),
        cmocka_unit_test(test_cancel__sigterm_ignored_then_killed_after_grace),
        cmocka_unit_test(test_cancel__sigterm_comes_first),
        cmocka_unit_test(test_cancel__of_a_finished_job_is_fine),
        cmocka_unit_test(test_missing_image__permanent_error_names_the_image),
        cmocka_unit_test(test_missing_image__failed_pull_is_a_clear_error),
        cmocka_unit_test(test_bad_values__engine_refusals_are_permanent),
        cmocka_unit_test(test_adopt__created_by_a_dead_worker_runs_once),
        cmocka_unit_test(test_adopt__a_running_container_is_not_restarted),
        cmocka_unit_test(test_find__unknown_attempt_is_not_found),
        cmocka_unit_test(test_wait__times_out_on_a_running_job),
        cmocka_unit_test(test_logs_follow__streams_until_the_job_ends),
        cmocka_unit_test(test_status__batch_mixes_known_and_gone),
        cmocka_unit_test(test_status__batch_of_running_created_and_exited),
        cmocka_unit_test(test_keep_containers__cleanup_keeps_remove_removes),
        cmocka_unit_test(test_list__sees_only_this_namespace),
        cmocka_unit_test(test_api_version__pinned_too_new_is_a_clear_error),
    };
    url = dt_engine("BERTH_TEST_DOCKER");
    return cmocka_run_group_tests(tests, setup, teardown);
}
