/*
 * itest_cloudrun.c - the cloudrun backend against the fake Cloud Run Admin
 * API v2 + Cloud Logging (tests/fakes/fake_cloudrun.c), through the
 * berth_exec_* dispatchers: launch to completion with logs, exit codes,
 * cancel, retries on 429/5xx, auth failures, adoption, job reuse, garbage
 * answers. Every test ends by asking the fake whether berth sent anything
 * the real API would refuse.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudrun_harness.h"

#define TOKEN "ya29.itest-static-token"

struct fx {
    struct crf fake;
    struct berth_opts opts;
    struct berth_exec *ex;
};

static int setup_args(void **state, const char *const *extra)
{
    struct fx *x = berth_xcalloc(1, sizeof(*x));
    const char *args[16] = {"--token", TOKEN};
    int n = 2;
    for (const char *const *a = extra; a && *a; a++)
        args[n++] = *a;
    args[n] = NULL;
    setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN, 1);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    crf_start(&x->fake, args);
    crf_opts(&x->fake, &x->opts);
    x->ex = crf_exec(&x->opts, NULL);
    *state = x;
    return 0;
}

static int setup(void **state)
{
    return setup_args(state, NULL);
}

static int setup_paged(void **state)
{
    static const char *const extra[] = {"--page-max", "2",
                                        "--log-empty-first-page", NULL};
    return setup_args(state, extra);
}

static int teardown(void **state)
{
    struct fx *x = *state;
    crf_assert_no_violations(&x->fake);
    berth_exec_destroy(x->ex);
    berth_opts_release(&x->opts);
    crf_stop(&x->fake);
    free(x);
    return 0;
}

/* A launch request for job `id`, attempt 1, with env pairs "K=V". */
struct job {
    char name[64];
    struct berth_strv cmd;
    struct berth_map env;
    struct berth_map labels;
    struct berth_launch req;
};

static void job_init(struct job *j, int64_t id, const char *const *env)
{
    memset(j, 0, sizeof(*j));
    berth_exec_name(id, 1, j->name, sizeof(j->name));
    berth_strv_init(&j->cmd);
    berth_strv_push(&j->cmd, "sh");
    berth_strv_push(&j->cmd, "-c");
    berth_strv_push(&j->cmd, "echo hello");
    berth_map_init(&j->env);
    berth_map_set(&j->env, "LOG_LEVEL", "info");
    for (const char *const *e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char *k = berth_xstrndup(*e, (size_t)(eq - *e));
        berth_map_set(&j->env, k, eq + 1);
        free(k);
    }
    berth_map_init(&j->labels);
    j->req.job_id = id;
    j->req.attempt = 1;
    j->req.name = j->name;
    j->req.template_name = "batch-report";
    j->req.image = "europe-docker.pkg.dev/proj-1/jobs/report:1.4";
    j->req.command = &j->cmd;
    j->req.env = &j->env;
    j->req.memory_mb = 256;
    j->req.cpu_cores = 0.5;
    j->req.timeout_seconds = 600;
    j->req.labels = &j->labels;
}

static void job_release(struct job *j)
{
    berth_strv_release(&j->cmd);
    berth_map_release(&j->env);
    berth_map_release(&j->labels);
}

static void launch_ok(struct berth_exec *ex, struct job *j,
                      struct berth_execution *out)
{
    struct berth_err err;
    berth_err_init(&err);
    if (berth_exec_launch(ex, &j->req, out, &err))
        fail_msg("launch of %s: %s", j->name, err.msg);
}

static void test_cloudrun__launch_runs_to_completion_with_logs(void **state)
{
    struct fx *x = *state;
    static const char *const env[] = {"FAKE_STDOUT=hello\nworld",
                                      "FAKE_STDERR=careful", NULL};
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;

    job_init(&j, 101, env);
    launch_ok(x->ex, &j, &out);
    assert_false(out.adopted);
    assert_non_null(strstr(out.id,
                           "projects/" CRF_PROJECT "/locations/" CRF_REGION
                           "/jobs/berth-batch-report-"));
    assert_non_null(strstr(out.id, "/executions/"));
    crf_wait_done(x->ex, out.id, &st);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 0);
    assert_false(st.cancelled);
    assert_true(st.started_at > 0);
    assert_true(st.finished_at >= st.started_at);

    berth_err_init(&err);
    assert_int_equal(berth_exec_logs(x->ex, out.id, 1 << 20, &logs, &err), 0);
    assert_string_equal(logs.out, "hello\nworld\n");
    assert_string_equal(logs.err, "careful\n");
    assert_false(logs.truncated);
    berth_job_logs_release(&logs);

    /* Overrides reached the execution: one run of this mark. */
    assert_int_equal(crf_runs(&x->fake, "berth-101-1"), 1);
    assert_int_equal(crf_stat(&x->fake, "jobs_created"), 1);
    job_release(&j);
}

static void test_cloudrun__logs_are_capped_and_flagged(void **state)
{
    struct fx *x = *state;
    static const char *const env[] = {"FAKE_STDOUT=0123456789\nabcdef", NULL};
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_job_logs logs;

    job_init(&j, 102, env);
    launch_ok(x->ex, &j, &out);
    crf_wait_done(x->ex, out.id, &st);
    assert_int_equal(berth_exec_logs(x->ex, out.id, 8, &logs, NULL), 0);
    assert_string_equal(logs.out, "01234567");
    assert_true(logs.truncated);
    berth_job_logs_release(&logs);
    /* 0 is no cap, as for the other backends (berth/exec.h callers such as
     * the worker pass 0 when no log_max_bytes is set). */
    assert_int_equal(berth_exec_logs(x->ex, out.id, 0, &logs, NULL), 0);
    assert_string_equal(logs.out, "0123456789\nabcdef\n");
    assert_false(logs.truncated);
    berth_job_logs_release(&logs);
    job_release(&j);
}

static void test_cloudrun__failed_task_reports_its_exit_code(void **state)
{
    struct fx *x = *state;
    static const char *const env[] = {"FAKE_EXIT_CODE=3", NULL};
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;

    job_init(&j, 103, env);
    launch_ok(x->ex, &j, &out);
    crf_wait_done(x->ex, out.id, &st);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 3);
    assert_false(st.oom_killed);
    assert_non_null(strstr(st.message, "exited with an error"));
    /* The exit code came from the task, where the real API keeps it. */
    assert_true(crf_count(&x->fake, "GET", "/tasks", 200) >= 1);
    job_release(&j);
}

static void test_cloudrun__oom_kill_is_reported(void **state)
{
    struct fx *x = *state;
    static const char *const env[] = {"FAKE_OOM=1", NULL};
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;

    job_init(&j, 104, env);
    launch_ok(x->ex, &j, &out);
    crf_wait_done(x->ex, out.id, &st);
    assert_int_equal(st.exit_code, 137);
    assert_true(st.oom_killed);
    assert_non_null(strstr(st.message, "Memory limit"));
    job_release(&j);
}

static void test_cloudrun__cancel_stops_a_running_execution(void **state)
{
    struct fx *x = *state;
    static const char *const env[] = {"FAKE_DURATION_MS=-1", NULL};
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_err err;

    job_init(&j, 105, env);
    launch_ok(x->ex, &j, &out);
    for (int i = 0; i < 1000; i++) {
        memset(&st, 0, sizeof(st));
        st.execution_id = out.id;
        assert_int_equal(berth_exec_status(x->ex, &st, 1, NULL), 0);
        if (st.state == BERTH_EXEC_RUNNING)
            break;
        crf_sleep_ms(10);
    }
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    berth_err_init(&err);
    assert_int_equal(berth_exec_cancel(x->ex, out.id, 10, &err), 0);
    crf_wait_done(x->ex, out.id, &st);
    assert_true(st.cancelled);
    assert_int_equal(st.exit_code, 143);
    /* Cancelling what has ended already is not an error. */
    assert_int_equal(berth_exec_cancel(x->ex, out.id, 10, &err), 0);
    assert_int_equal(crf_count(&x->fake, "POST", ":cancel", 200), 1);
    job_release(&j);
}

static void test_cloudrun__throttled_run_is_retried_then_runs_once(void **state)
{
    struct fx *x = *state;
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;

    crf_post(&x->fake, "/_fake/inject",
             "{\"method\":\"POST\",\"path_contains\":\":run\",\"status\":429,"
             "\"count\":2}");
    job_init(&j, 106, NULL);
    launch_ok(x->ex, &j, &out);
    assert_false(out.adopted);
    assert_int_equal(crf_count(&x->fake, "POST", ":run", 429), 2);
    assert_int_equal(crf_count(&x->fake, "POST", ":run", 200), 1);
    assert_int_equal(crf_runs(&x->fake, "berth-106-1"), 1);
    crf_wait_done(x->ex, out.id, &st);
    assert_int_equal(st.exit_code, 0);
    job_release(&j);
}

static void test_cloudrun__server_errors_on_reads_are_retried(void **state)
{
    struct fx *x = *state;
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;

    job_init(&j, 107, NULL);
    launch_ok(x->ex, &j, &out);
    crf_post(&x->fake, "/_fake/inject",
             "{\"method\":\"GET\",\"path_contains\":\"/executions/\","
             "\"status\":503,\"count\":3,\"retry_after\":0}");
    crf_wait_done(x->ex, out.id, &st);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(crf_count(&x->fake, "GET", "/executions/", 503), 3);
    job_release(&j);
}

static void test_cloudrun__exhausted_retries_fail_transient(void **state)
{
    struct fx *x = *state;
    struct job j;
    struct berth_execution out;
    struct berth_err err;

    crf_post(&x->fake, "/_fake/inject",
             "{\"method\":\"POST\",\"path_contains\":\":run\",\"status\":503,"
             "\"count\":100}");
    job_init(&j, 108, NULL);
    berth_err_init(&err);
    assert_int_not_equal(berth_exec_launch(x->ex, &j.req, &out, &err), 0);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "HTTP 503"));
    assert_non_null(strstr(err.msg, "UNAVAILABLE"));
    assert_int_equal(crf_runs(&x->fake, "berth-108-1"), 0);
    job_release(&j);
}

static void test_cloudrun__bad_token_is_a_clear_auth_error(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    struct job j;
    struct berth_execution out;
    struct berth_err err;

    setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.not-a-valid-token", 1);
    ex = crf_exec(&x->opts, NULL);
    setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN, 1);
    job_init(&j, 109, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_launch(ex, &j.req, &out, &err), BERTH_E_AUTH);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "HTTP 401"));
    assert_non_null(strstr(err.msg, "UNAUTHENTICATED"));
    assert_non_null(strstr(err.msg, "GOOGLE_OAUTH_ACCESS_TOKEN"));
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_AUTH);
    assert_non_null(strstr(err.msg, "GOOGLE_OAUTH_ACCESS_TOKEN"));
    assert_int_equal(crf_stat(&x->fake, "executions"), 0);
    berth_exec_destroy(ex);
    job_release(&j);
}

static void test_cloudrun__permission_denied_is_an_auth_error(void **state)
{
    struct fx *x = *state;
    struct berth_err err;

    crf_post(&x->fake, "/_fake/inject",
             "{\"path_contains\":\"/jobs\",\"status\":403,\"count\":1}");
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(x->ex, &err), BERTH_E_AUTH);
    assert_non_null(strstr(err.msg, "PERMISSION_DENIED"));
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(x->ex, &err), 0);
}

static void test_cloudrun__second_launch_adopts_the_first(void **state)
{
    struct fx *x = *state;
    struct berth_exec *restarted;
    struct job j;
    struct berth_execution first, again, found;
    struct berth_err err;

    job_init(&j, 110, NULL);
    launch_ok(x->ex, &j, &first);
    /* A worker restarted: a fresh instance, nothing in memory. */
    restarted = crf_exec(&x->opts, NULL);
    launch_ok(restarted, &j, &again);
    assert_true(again.adopted);
    assert_string_equal(again.id, first.id);
    berth_err_init(&err);
    assert_int_equal(berth_exec_find(restarted, 110, 1, &found, &err), 0);
    assert_string_equal(found.id, first.id);
    assert_int_equal(berth_exec_find(restarted, 110, 2, &found, &err),
                     BERTH_E_NOTFOUND);
    /* The fake counts runs per mark: only one. */
    assert_int_equal(crf_runs(&x->fake, "berth-110-1"), 1);
    /* A new attempt is a new run. */
    j.req.attempt = 2;
    berth_exec_name(110, 2, j.name, sizeof(j.name));
    launch_ok(restarted, &j, &again);
    assert_false(again.adopted);
    assert_string_not_equal(again.id, first.id);
    assert_int_equal(crf_runs(&x->fake, "berth-110-2"), 1);
    berth_exec_destroy(restarted);
    job_release(&j);
}

static void test_cloudrun__adoption_pages_through_executions(void **state)
{
    struct fx *x = *state;
    struct berth_exec *restarted;
    struct berth_execution outs[5], found;
    struct job j[5];
    struct berth_exec_status st;
    struct berth_job_logs logs;

    for (int i = 0; i < 5; i++) {
        static const char *const env[] = {"FAKE_STDOUT=a\nb\nc\nd\ne", NULL};
        job_init(&j[i], 200 + i, env);
        launch_ok(x->ex, &j[i], &outs[i]);
    }
    restarted = crf_exec(&x->opts, NULL);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(berth_exec_find(restarted, 200 + i, 1, &found, NULL),
                         0);
        assert_string_equal(found.id, outs[i].id);
    }
    /* Pages of two: the listing needed several requests. */
    assert_true(crf_count(&x->fake, "GET", "/jobs/-/executions", 200) >= 3);
    /* Logs through an empty first page and pages of two entries. */
    crf_wait_done(restarted, outs[0].id, &st);
    assert_int_equal(berth_exec_logs(restarted, outs[0].id, 4096, &logs, NULL),
                     0);
    assert_string_equal(logs.out, "a\nb\nc\nd\ne\n");
    berth_job_logs_release(&logs);
    assert_true(crf_count(&x->fake, "POST", "entries:list", 200) >= 4);
    for (int i = 0; i < 5; i++)
        assert_int_equal(crf_runs(&x->fake, j[i].name), 1);
    for (int i = 0; i < 5; i++)
        job_release(&j[i]);
    berth_exec_destroy(restarted);
}

static void test_cloudrun__garbage_answers_give_clear_errors(void **state)
{
    struct fx *x = *state;
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;

    /* A proxy's HTML page instead of the run's Operation: berth looks for
     * what the call started (nothing) and runs again, once. */
    crf_post(&x->fake, "/_fake/inject",
             "{\"method\":\"POST\",\"path_contains\":\":run\","
             "\"garbage\":true,\"count\":1}");
    job_init(&j, 111, NULL);
    launch_ok(x->ex, &j, &out);
    assert_int_equal(crf_runs(&x->fake, "berth-111-1"), 1);

    crf_post(&x->fake, "/_fake/inject",
             "{\"method\":\"GET\",\"path_contains\":\"/executions/\","
             "\"garbage\":true,\"count\":1}");
    memset(&st, 0, sizeof(st));
    st.execution_id = out.id;
    assert_int_equal(berth_exec_status(x->ex, &st, 1, NULL), 0);
    assert_int_equal(st.rc, BERTH_E_PARSE);
    assert_non_null(strstr(st.message, "not a JSON object"));
    assert_non_null(strstr(st.message, "502 Bad Gateway"));

    /* Nonsense ids are refused before any request. */
    memset(&st, 0, sizeof(st));
    st.execution_id = "container-123";
    assert_int_equal(berth_exec_status(x->ex, &st, 1, NULL), 0);
    assert_int_equal(st.rc, BERTH_E_INVALID);
    job_release(&j);
}

static void test_cloudrun__jobs_are_reused_per_template_spec(void **state)
{
    struct fx *x = *state;
    struct job a, b, c;
    struct berth_execution oa, ob, oc;
    struct berth_exec *other;

    job_init(&a, 120, NULL);
    job_init(&b, 121, NULL);
    launch_ok(x->ex, &a, &oa);
    launch_ok(x->ex, &b, &ob);
    assert_int_equal(crf_stat(&x->fake, "jobs_created"), 1);
    /* Another instance (worker) finds the job instead of creating it. */
    other = crf_exec(&x->opts, NULL);
    job_init(&c, 122, NULL);
    launch_ok(other, &c, &oc);
    assert_int_equal(crf_stat(&x->fake, "jobs_created"), 1);
    /* A changed template (more memory) makes a new job. */
    c.req.memory_mb = 4096;
    c.req.job_id = 123;
    berth_exec_name(123, 1, c.name, sizeof(c.name));
    launch_ok(other, &c, &oc);
    assert_int_equal(crf_stat(&x->fake, "jobs_created"), 2);
    {
        char ja[128], jc[128];
        sscanf(strstr(oa.id, "/jobs/"), "/jobs/%127[^/]", ja);
        sscanf(strstr(oc.id, "/jobs/"), "/jobs/%127[^/]", jc);
        assert_string_not_equal(ja, jc);
        assert_memory_equal(ja, "berth-batch-report-", 19);
        assert_memory_equal(jc, "berth-batch-report-", 19);
    }
    berth_exec_destroy(other);
    job_release(&a);
    job_release(&b);
    job_release(&c);
}

static void test_cloudrun__too_big_a_job_is_refused_at_once(void **state)
{
    struct fx *x = *state;
    struct job j;
    struct berth_execution out;
    struct berth_err err;

    job_init(&j, 130, NULL);
    j.req.memory_mb = 65536;
    berth_err_init(&err);
    assert_int_equal(berth_exec_launch(x->ex, &j.req, &out, &err),
                     BERTH_E_INVALID);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "32768"));
    assert_int_equal(crf_count(&x->fake, NULL, "/v2/", 0), 0);
    job_release(&j);
}

static void test_cloudrun__cleanup_deletes_the_execution(void **state)
{
    struct fx *x = *state;
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;
    struct berth_err err;

    job_init(&j, 140, NULL);
    launch_ok(x->ex, &j, &out);
    crf_wait_done(x->ex, out.id, &st);
    berth_err_init(&err);
    assert_int_equal(berth_exec_cleanup(x->ex, out.id, &err), 0);
    assert_int_equal(crf_count(&x->fake, "DELETE", "/executions/", 200), 1);
    memset(&st, 0, sizeof(st));
    st.execution_id = out.id;
    assert_int_equal(berth_exec_status(x->ex, &st, 1, NULL), 0);
    assert_int_equal(st.state, BERTH_EXEC_LOST);
    /* Twice is fine. */
    assert_int_equal(berth_exec_cleanup(x->ex, out.id, &err), 0);
    job_release(&j);
}

static void test_cloudrun__health_is_one_authenticated_call(void **state)
{
    struct fx *x = *state;
    struct berth_err err;

    berth_err_init(&err);
    assert_int_equal(berth_exec_health(x->ex, &err), 0);
    assert_int_equal(crf_count(&x->fake, "GET", "/jobs", 0), 1);
    crf_post(&x->fake, "/_fake/inject",
             "{\"path_contains\":\"/jobs\",\"status\":503,\"count\":1}");
    assert_int_equal(berth_exec_health(x->ex, &err), BERTH_E_BACKEND);
    assert_true(err.transient);
}

static void test_cloudrun__batch_status_answers_each_query(void **state)
{
    struct fx *x = *state;
    struct job a, b;
    struct berth_execution oa, ob;
    struct berth_exec_status q[3], st;
    static const char *const fail[] = {"FAKE_EXIT_CODE=7", NULL};
    char gone[300];

    job_init(&a, 150, NULL);
    job_init(&b, 151, fail);
    launch_ok(x->ex, &a, &oa);
    launch_ok(x->ex, &b, &ob);
    crf_wait_done(x->ex, oa.id, &st);
    crf_wait_done(x->ex, ob.id, &st);
    snprintf(gone, sizeof(gone), "%s", oa.id);
    memcpy(strrchr(gone, '/') + 1, "zzzzz", 5);
    memset(q, 0, sizeof(q));
    q[0].execution_id = oa.id;
    q[1].execution_id = ob.id;
    q[2].execution_id = gone;
    assert_int_equal(berth_exec_status(x->ex, q, 3, NULL), 0);
    assert_int_equal(q[0].exit_code, 0);
    assert_int_equal(q[1].exit_code, 7);
    assert_int_equal(q[2].state, BERTH_EXEC_LOST);
    job_release(&a);
    job_release(&b);
}

struct collected {
    struct berth_buf out, err;
    int calls;
    int stop_after;
};

static int collect(int stream, const char *data, size_t len, void *ctx)
{
    struct collected *c = ctx;
    berth_buf_append(stream == 1 ? &c->out : &c->err, data, len);
    return ++c->calls == c->stop_after;
}

static void test_cloudrun__followed_logs_arrive_once_each(void **state)
{
    struct fx *x = *state;
    static const char *const env[] = {
        "FAKE_STDOUT=one\ntwo\nthree", "FAKE_STDERR=warn",
        "FAKE_START_DELAY_MS=100", "FAKE_DURATION_MS=300", NULL};
    struct berth_exec *ex;
    struct job j;
    struct berth_execution out;
    struct collected c;
    struct berth_err err;

    berth_opts_set_int(&x->opts, "logs_poll_ms", 20);
    ex = crf_exec(&x->opts, NULL);
    job_init(&j, 160, env);
    launch_ok(ex, &j, &out);
    memset(&c, 0, sizeof(c));
    berth_buf_init(&c.out, 0);
    berth_buf_init(&c.err, 0);
    berth_err_init(&err);
    assert_int_equal(berth_exec_logs_follow(ex, out.id, collect, &c, &err), 0);
    assert_string_equal(berth_buf_cstr(&c.out), "one\ntwo\nthree\n");
    assert_string_equal(berth_buf_cstr(&c.err), "warn\n");
    /* it kept asking while the job ran */
    assert_true(crf_count(&x->fake, "POST", "entries:list", 200) >= 3);

    /* the callback can end it early */
    berth_buf_reset(&c.out);
    berth_buf_reset(&c.err);
    c.calls = 0;
    c.stop_after = 1;
    assert_int_equal(berth_exec_logs_follow(ex, out.id, collect, &c, &err), 0);
    assert_int_equal(c.calls, 1);
    berth_buf_release(&c.out);
    berth_buf_release(&c.err);
    berth_exec_destroy(ex);
    job_release(&j);
}

struct par {
    struct berth_exec *ex;
    struct job j;
    struct berth_execution out;
    int rc;
};

static void *par_launch(void *p)
{
    struct par *a = p;
    a->rc = berth_exec_launch(a->ex, &a->j.req, &a->out, NULL);
    return NULL;
}

static void test_cloudrun__concurrent_launches_share_setup_calls(void **state)
{
    struct fx *x = *state;
    struct par a[12];
    pthread_t t[12];

    /* Twelve threads launch jobs of one new template at once: one of
     * them looks for and creates the Cloud Run job, one lists its
     * executions, the others wait for those answers. */
    for (int i = 0; i < 12; i++) {
        a[i].ex = x->ex;
        job_init(&a[i].j, 300 + i, NULL);
        assert_int_equal(pthread_create(&t[i], NULL, par_launch, &a[i]), 0);
    }
    for (int i = 0; i < 12; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].rc, 0);
        assert_int_equal(crf_runs(&x->fake, a[i].j.name), 1);
        job_release(&a[i].j);
    }
    assert_int_equal(crf_count(&x->fake, "POST", "/jobs", 200) -
                         crf_count(&x->fake, "POST", ":run", 200),
                     1);
    assert_int_equal(crf_count(&x->fake, "GET", "/jobs/berth-", 404), 1);
    assert_int_equal(crf_count(&x->fake, "GET", "/executions", 200), 1);
}

static void test_cloudrun__vpc_and_service_account_reach_the_job(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    struct job j;
    struct berth_execution out;
    struct berth_exec_status st;

    berth_opts_set_str(&x->opts, "service_account",
                       "runner@" CRF_PROJECT ".iam.gserviceaccount.com");
    berth_opts_set_str(&x->opts, "vpc_network", "default");
    berth_opts_set_str(&x->opts, "vpc_subnetwork", "jobs");
    berth_opts_set_str(&x->opts, "vpc_egress", "private-ranges-only");
    ex = crf_exec(&x->opts, NULL);
    job_init(&j, 170, NULL);
    launch_ok(ex, &j, &out);
    crf_wait_done(ex, out.id, &st);
    assert_int_equal(st.exit_code, 0);
    berth_exec_destroy(ex);
    job_release(&j);
}

static void test_cloudrun__runs_leave_at_the_launch_rate(void **state)
{
    struct fx *x = *state;
    struct berth_exec *ex;
    struct par a[8];
    pthread_t t[8];
    json_t *v, *r;
    size_t i;
    int64_t times[8];
    int n = 0;

    /* Eight launches at once through an executor limited to 20/s with a
     * burst of 2: jobs.run reaches the API no faster than that, whoever
     * calls (the worker's own bucket aside). */
    berth_opts_set_num(&x->opts, "launch_rate", 20);
    berth_opts_set_int(&x->opts, "launch_burst", 2);
    ex = crf_exec(&x->opts, NULL);
    for (int k = 0; k < 8; k++) {
        a[k].ex = ex;
        job_init(&a[k].j, 400 + k, NULL);
        assert_int_equal(pthread_create(&t[k], NULL, par_launch, &a[k]), 0);
    }
    for (int k = 0; k < 8; k++) {
        pthread_join(t[k], NULL);
        assert_int_equal(a[k].rc, 0);
        job_release(&a[k].j);
    }
    v = crf_get(&x->fake, "/_fake/requests");
    json_array_foreach(json_object_get(v, "requests"), i, r)
    {
        const char *path = json_string_value(json_object_get(r, "path"));
        if (strstr(path, ":run"))
            times[n++] = json_integer_value(json_object_get(r, "t_us"));
    }
    json_decref(v);
    assert_int_equal(n, 8);
    /* sorted by arrival already; any window [i, k]: k-i+1 <= 2 + 20 dt */
    for (int p = 0; p < n; p++)
        for (int k = p; k < n; k++)
            assert_true((double)(k - p + 1) <=
                        2.0 + 20.0 * (double)(times[k] - times[p]) / 1e6 + 0.5);
    assert_true(times[7] - times[0] >= 250000); /* (8 - 2) / 20 s, 50 ms off */
    berth_exec_destroy(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_cloudrun__launch_runs_to_completion_with_logs, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__logs_are_capped_and_flagged, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__failed_task_reports_its_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cloudrun__oom_kill_is_reported,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__cancel_stops_a_running_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__throttled_run_is_retried_then_runs_once, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__server_errors_on_reads_are_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__exhausted_retries_fail_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__bad_token_is_a_clear_auth_error, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__permission_denied_is_an_auth_error, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__second_launch_adopts_the_first, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__adoption_pages_through_executions, setup_paged,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__garbage_answers_give_clear_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__jobs_are_reused_per_template_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__too_big_a_job_is_refused_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__cleanup_deletes_the_execution, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__health_is_one_authenticated_call, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__batch_status_answers_each_query, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__followed_logs_arrive_once_each, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__concurrent_launches_share_setup_calls, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__vpc_and_service_account_reach_the_job, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_cloudrun__runs_leave_at_the_launch_rate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
