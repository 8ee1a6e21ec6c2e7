/*
 * store_suite.h - the one store test suite, run against every backend.
 *
 * Included by tests/unit/store/test_store.c (SQLite, always) and by
 * tests/integration/itest_store_pg.c (PostgreSQL, when $BERTH_TEST_PG is
 * set). The includer defines a `struct suite_backend` with a factory of
 * fresh, empty stores and calls run_store_suite().
 *
 * Time is injected: every call gets an explicit `now`, so no test sleeps.
 */
#ifndef STORE_SUITE_H
#define STORE_SUITE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth_test.h"

#include "berth/job.h"
#include "berth/store.h"
#include "berth/util.h"

struct suite_backend {
    const char *name;
    /* A URL of a fresh, empty store that several processes can open. */
    char *(*new_url)(void);
    /* Drop what new_url created. */
    void (*drop_url)(const char *url);
    /* Run SQL on the store behind url, outside the store API (to break
     * it on purpose). */
    void (*exec_sql)(const char *url, const char *sql);
    /* SQL that makes inserting an event with reason 'boom' fail. */
    const char *boom_trigger_sql;
};

static const struct suite_backend *backend;

struct fx {
    char *url;
    struct berth_store *st;
    char *dir; /* scratch directory for forked tests */
};

#define T0  INT64_C(1800000000000000) /* a fixed "now", in µs */
#define SEC BERTH_US_PER_SEC

static struct berth_store *open_url(const char *url)
{
    struct berth_store *st = NULL;
    struct berth_err err;
    berth_err_init(&err);
    if (berth_store_open(url, &st, &err) != 0)
        fail_msg("open %s: %s", url, err.msg);
    return st;
}

static int fx_setup(void **state)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    f->url = backend->new_url();
    f->st = open_url(f->url);
    f->dir = bt_tmpdir("store");
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    berth_store_free(f->st);
    backend->drop_url(f->url);
    free(f->url);
    bt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

#define OK(call)                                                               \
    do {                                                                       \
        struct berth_err e_;                                                   \
        berth_err_init(&e_);                                                   \
        int rc_ = (call);                                                      \
        if (rc_ != 0)                                                          \
            fail_msg("%s: rc %d: %s", #call, rc_, e_.msg);                     \
    } while (0)
/* OK(f(..., &e_)): the call must succeed; e_ is declared by the macro. */

static struct berth_job_update upd(int64_t id, enum berth_job_state from,
                                   enum berth_job_state to)
{
    struct berth_job_update u;
    memset(&u, 0, sizeof(u));
    u.job_id = id;
    u.from = from;
    u.to = to;
    u.rule_index = -1;
    return u;
}

static void place(struct berth_job_update *u, const char *host)
{
    u->set |= BERTH_UPD_PLACEMENT;
    u->executor = "mock";
    u->host = host;
    u->routing_reason = "test placement";
    u->rule_index = 2;
}

/* Apply one update; the store call itself must succeed. Returns u->rc. */
static int apply1(struct berth_store *st, struct berth_job_update *u,
                  int64_t now)
{
    size_t applied = 99;
    OK(berth_store_apply(st, u, 1, now, &applied, &e_));
    assert_int_equal(applied, u->rc == 0 ? 1 : 0);
    return u->rc;
}

static void put_host(struct berth_store *st, const char *name, int64_t max,
                     int64_t mem, double cpu)
{
    struct berth_host h;
    berth_host_init(&h);
    h.name = berth_xstrdup(name);
    h.executor = berth_xstrdup("mock");
    h.max_concurrent_jobs = max;
    h.memory_mb = mem;
    h.cpu_cores = cpu;
    OK(berth_store_host_put(st, &h, false, &e_));
    berth_host_release(&h);
}

static struct berth_host get_host(struct berth_store *st, const char *name)
{
    struct berth_host h;
    OK(berth_store_host_get(st, name, &h, &e_));
    return h;
}

static int64_t submit_n(struct berth_store *st, int priority, int64_t mem,
                        double cpu, size_t n, int64_t now)
{
    struct berth_job j;
    int64_t first = 0;
    berth_job_init(&j);
    j.image = berth_xstrdup("local/busybox:latest");
    j.priority = priority;
    j.memory_mb = mem;
    j.cpu_cores = cpu;
    OK(berth_store_job_submit(st, &j, n, now, &first, &e_));
    berth_job_release(&j);
    return first;
}

static int64_t submit1(struct berth_store *st)
{
    return submit_n(st, 50, 0, 0, 1, T0);
}

static struct berth_job get_job(struct berth_store *st, int64_t id)
{
    struct berth_job j;
    OK(berth_store_job_get(st, id, &j, &e_));
    return j;
}

static enum berth_job_state status_of(struct berth_store *st, int64_t id)
{
    struct berth_job j = get_job(st, id);
    enum berth_job_state s = j.status;
    berth_job_release(&j);
    return s;
}

static size_t count_events(struct berth_store *st, int64_t id)
{
    struct berth_job_event *ev;
    size_t n;
    OK(berth_store_job_events(st, id, &ev, &n, &e_));
    berth_store_events_free(ev, n);
    return n;
}

/* Drive a fresh pending job to `target` along legal edges (host "big"). */
static void drive(struct berth_store *st, int64_t id,
                  enum berth_job_state target)
{
    struct berth_job_update u;
    if (target == BERTH_JOB_PENDING)
        return;
    if (target == BERTH_JOB_CANCELLED || target == BERTH_JOB_FAILED) {
        u = upd(id, BERTH_JOB_PENDING, target);
        u.reason = "drive";
        assert_int_equal(apply1(st, &u, T0), 0);
        return;
    }
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "big");
    assert_int_equal(apply1(st, &u, T0), 0);
    if (target == BERTH_JOB_LAUNCHING)
        return;
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    assert_int_equal(apply1(st, &u, T0 + 1), 0);
    if (target == BERTH_JOB_RUNNING)
        return;
    u = upd(id, BERTH_JOB_RUNNING, target);
    assert_int_equal(apply1(st, &u, T0 + 2), 0);
}

/* ---- open, migrations, meta -------------------------------------------- */

static void test_store__migrations_are_idempotent_on_reopen(void **state)
{
    struct fx *f = *state;
    struct berth_store *again;
    int v1 = 0, v2 = 0;
    char *val = NULL;

    OK(berth_store_schema_version(f->st, &v1, &e_));
    assert_true(v1 >= 1);
    assert_string_equal(berth_store_backend(f->st), backend->name);
    OK(berth_store_meta_set(f->st, "config.fingerprint", "abc", &e_));
    submit1(f->st);

    again = open_url(f->url);
    OK(berth_store_schema_version(again, &v2, &e_));
    assert_int_equal(v1, v2);
    OK(berth_store_meta_get(again, "config.fingerprint", &val, &e_));
    assert_non_null(val);
    assert_string_equal(val, "abc");
    free(val);
    assert_int_equal(status_of(again, 1), BERTH_JOB_PENDING);
    berth_store_free(again);
}

static void test_store__meta_absent_is_null_and_set_replaces(void **state)
{
    struct fx *f = *state;
    char *val = (char *)"x";

    OK(berth_store_meta_get(f->st, "nope", &val, &e_));
    assert_null(val);
    OK(berth_store_meta_set(f->st, "k", "1", &e_));
    OK(berth_store_meta_set(f->st, "k", "2", &e_));
    OK(berth_store_meta_get(f->st, "k", &val, &e_));
    assert_string_equal(val, "2");
    free(val);
}

/* ---- templates and hosts ------------------------------------------------ */

static void test_store__template_crud_round_trips_fields(void **state)
{
    struct fx *f = *state;
    struct berth_template t, got, *list;
    struct berth_err err;
    size_t n;

    berth_template_init(&t);
    t.name = berth_xstrdup("batch-report");
    t.image = berth_xstrdup("local/busybox:latest");
    berth_strv_push(&t.command, "sh");
    berth_strv_push(&t.command, "-c");
    berth_strv_push(&t.command, "echo 'hi' \"there\"");
    t.working_dir = berth_xstrdup("/tmp");
    berth_map_set(&t.env, "DB_HOST", "db.internal");
    t.environment = berth_xstrdup("reporting");
    t.network = berth_xstrdup("none");
    t.memory_mb = 256;
    t.cpu_cores = 0.5;
    t.timeout_seconds = 600;
    berth_map_set(&t.labels, "team", "data");
    OK(berth_store_template_put(f->st, &t, &e_));

    OK(berth_store_template_get(f->st, "batch-report", &got, &e_));
    assert_string_equal(got.image, "local/busybox:latest");
    assert_int_equal(got.command.n, 3);
    assert_string_equal(got.command.v[2], "echo 'hi' \"there\"");
    assert_string_equal(got.working_dir, "/tmp");
    assert_string_equal(berth_map_get(&got.env, "DB_HOST"), "db.internal");
    assert_string_equal(got.environment, "reporting");
    assert_string_equal(got.network, "none");
    assert_int_equal(got.memory_mb, 256);
    assert_true(got.cpu_cores == 0.5);
    assert_int_equal(got.timeout_seconds, 600);
    assert_string_equal(berth_map_get(&got.labels, "team"), "data");
    berth_template_release(&got);

    /* put replaces */
    t.memory_mb = 512;
    OK(berth_store_template_put(f->st, &t, &e_));
    free(t.name);
    t.name = berth_xstrdup("a-first");
    OK(berth_store_template_put(f->st, &t, &e_));
    OK(berth_store_template_list(f->st, &list, &n, &e_));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "a-first");
    assert_string_equal(list[1].name, "batch-report");
    assert_int_equal(list[1].memory_mb, 512);
    berth_store_templates_free(list, n);

    OK(berth_store_template_delete(f->st, "a-first", &e_));
    berth_err_init(&err);
    assert_int_equal(berth_store_template_delete(f->st, "a-first", &err),
                     BERTH_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "'a-first'"));
    assert_int_equal(berth_store_template_get(f->st, "a-first", &got, &err),
                     BERTH_E_NOTFOUND);
    berth_template_release(&t);
}

static void
test_store__host_put_keeps_enabled_and_never_touches_usage(void **state)
{
    struct fx *f = *state;
    struct berth_host h, got, *list;
    struct berth_job_update u;
    struct berth_err err;
    size_t n;
    int64_t id;

    berth_host_init(&h);
    h.name = berth_xstrdup("local");
    h.executor = berth_xstrdup("docker");
    h.url = berth_xstrdup("unix:///var/run/docker.sock");
    h.max_concurrent_jobs = 8;
    h.memory_mb = 4096;
    h.cpu_cores = 2.5;
    h.weight = 3;
    h.options_json = berth_xstrdup("{\"tls\":false}");
    OK(berth_store_host_put(f->st, &h, false, &e_));

    got = get_host(f->st, "local");
    assert_string_equal(got.executor, "docker");
    assert_string_equal(got.url, "unix:///var/run/docker.sock");
    assert_int_equal(got.max_concurrent_jobs, 8);
    assert_int_equal(got.memory_mb, 4096);
    assert_true(got.cpu_cores == 2.5);
    assert_int_equal(got.weight, 3);
    assert_true(got.enabled);
    assert_string_equal(got.options_json, "{\"tls\":false}");
    assert_int_equal(got.used_jobs, 0);
    berth_host_release(&got);

    /* usage from a launch */
    id = submit_n(f->st, 50, 100, 0.25, 1, T0);
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "local");
    assert_int_equal(apply1(f->st, &u, T0), 0);

    /* the operator disables it; config sync with keep_enabled keeps that */
    OK(berth_store_host_set_enabled(f->st, "local", false, &e_));
    h.max_concurrent_jobs = 9;
    h.enabled = true;
    OK(berth_store_host_put(f->st, &h, true, &e_));
    got = get_host(f->st, "local");
    assert_false(got.enabled);
    assert_int_equal(got.max_concurrent_jobs, 9);
    assert_int_equal(got.used_jobs, 1);
    assert_int_equal(got.used_memory_mb, 100);
    assert_true(got.used_cpu_cores == 0.25);
    berth_host_release(&got);

    /* without keep_enabled the file wins */
    OK(berth_store_host_put(f->st, &h, false, &e_));
    got = get_host(f->st, "local");
    assert_true(got.enabled);
    assert_int_equal(got.used_jobs, 1);
    berth_host_release(&got);

    free(h.name);
    h.name = berth_xstrdup("a-cloud");
    OK(berth_store_host_put(f->st, &h, false, &e_));
    OK(berth_store_host_list(f->st, &list, &n, &e_));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "a-cloud");
    assert_string_equal(list[1].name, "local");
    assert_int_equal(list[1].used_jobs, 1);
    berth_store_hosts_free(list, n);

    berth_err_init(&err);
    assert_int_equal(berth_store_host_set_enabled(f->st, "nope", true, &err),
                     BERTH_E_NOTFOUND);
    assert_int_equal(berth_store_host_get(f->st, "nope", &got, &err),
                     BERTH_E_NOTFOUND);
    berth_host_release(&h);
}

static void
test_store__host_delete_refuses_while_jobs_launch_or_run(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_err err;
    int64_t id;

    put_host(f->st, "h1", 4, 0, 0);
    id = submit1(f->st);
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h1");
    assert_int_equal(apply1(f->st, &u, T0), 0);

    berth_err_init(&err);
    assert_int_equal(berth_store_host_delete(f->st, "h1", &err),
                     BERTH_E_CONFLICT);
    assert_non_null(strstr(err.msg, "'h1'"));
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    assert_int_equal(berth_store_host_delete(f->st, "h1", &err),
                     BERTH_E_CONFLICT);
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_COMPLETED);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    OK(berth_store_host_delete(f->st, "h1", &e_));
    assert_int_equal(berth_store_host_delete(f->st, "h1", &err),
                     BERTH_E_NOTFOUND);
    /* the finished job keeps its history */
    {
        struct berth_job j = get_job(f->st, id);
        assert_string_equal(j.host, "h1");
        berth_job_release(&j);
    }
}

/* ---- submit ------------------------------------------------------------- */

static void
test_store__submit_count_gives_consecutive_ids_and_events(void **state)
{
    struct fx *f = *state;
    struct berth_job_event *ev;
    int64_t a, b;
    size_t n;

    a = submit_n(f->st, 50, 0, 0, 250, T0);
    b = submit_n(f->st, 50, 0, 0, 3, T0);
    assert_int_equal(b, a + 250);
    for (int64_t id = a; id < a + 250; id += 83) {
        struct berth_job j = get_job(f->st, id);
        assert_int_equal(j.status, BERTH_JOB_PENDING);
        assert_int_equal(j.attempt, 1);
        assert_int_equal(j.created_at, T0);
        assert_int_equal(j.ready_at, T0);
        berth_job_release(&j);
    }
    OK(berth_store_job_events(f->st, a + 249, &ev, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].job_id, a + 249);
    assert_int_equal(ev[0].at, T0);
    assert_int_equal(ev[0].from, BERTH_JOB_PENDING);
    assert_int_equal(ev[0].to, BERTH_JOB_PENDING);
    assert_string_equal(ev[0].reason, "submitted");
    berth_store_events_free(ev, n);
}

static void test_store__submit_round_trips_every_field(void **state)
{
    struct fx *f = *state;
    struct berth_job j, got;
    struct berth_err err;
    int64_t id;

    berth_job_init(&j);
    j.name = berth_xstrdup("nightly");
    j.template_name = berth_xstrdup("batch-report");
    j.image = berth_xstrdup("local/busybox:latest");
    berth_strv_push(&j.command, "sh");
    berth_strv_push(&j.command, "-c");
    berth_strv_push(&j.command, "echo \xc3\xa9t\xc3\xa9; exit 3");
    j.working_dir = berth_xstrdup("/work");
    berth_map_set(&j.env, "A", "1");
    berth_map_set(&j.env, "B", "two words");
    j.network = berth_xstrdup("none");
    j.memory_mb = 300;
    j.cpu_cores = 1.5;
    j.timeout_seconds = 60;
    berth_map_set(&j.labels, "mock.exit_code", "3");
    j.tmpl_image = berth_xstrdup("tmpl/image");
    berth_map_set(&j.tmpl_labels, "team", "data");
    j.tmpl_memory_mb = 256;
    j.tmpl_cpu_cores = 0.5;
    j.tmpl_timeout_seconds = 600;
    j.priority = 77;
    j.not_before = T0 + 90 * SEC;
    j.start_deadline = 3600;
    j.preferred_executor = berth_xstrdup("cloudrun");
    j.user = berth_xstrdup("alice");
    berth_strv_push(&j.user_groups, "premium");
    j.max_attempts = 5;
    j.retry_strategy = BERTH_RETRY_LINEAR;
    OK(berth_store_job_submit(f->st, &j, 1, T0, &id, &e_));

    got = get_job(f->st, id);
    assert_int_equal(got.id, id);
    assert_string_equal(got.name, "nightly");
    assert_string_equal(got.template_name, "batch-report");
    assert_string_equal(got.image, "local/busybox:latest");
    assert_int_equal(got.command.n, 3);
    assert_string_equal(got.command.v[2], "echo \xc3\xa9t\xc3\xa9; exit 3");
    assert_string_equal(got.working_dir, "/work");
    assert_int_equal(got.env.n, 2);
    assert_string_equal(got.env.kv[0].key, "A");
    assert_string_equal(berth_map_get(&got.env, "B"), "two words");
    assert_string_equal(got.network, "none");
    assert_int_equal(got.memory_mb, 300);
    assert_true(got.cpu_cores == 1.5);
    assert_int_equal(got.timeout_seconds, 60);
    assert_string_equal(berth_map_get(&got.labels, "mock.exit_code"), "3");
    assert_string_equal(got.tmpl_image, "tmpl/image");
    assert_string_equal(berth_map_get(&got.tmpl_labels, "team"), "data");
    assert_int_equal(got.tmpl_memory_mb, 256);
    assert_true(got.tmpl_cpu_cores == 0.5);
    assert_int_equal(got.tmpl_timeout_seconds, 600);
    assert_int_equal(got.priority, 77);
    assert_int_equal(got.not_before, T0 + 90 * SEC);
    assert_int_equal(got.ready_at, T0 + 90 * SEC);
    assert_int_equal(got.start_deadline, 3600);
    assert_string_equal(got.preferred_executor, "cloudrun");
    assert_string_equal(got.user, "alice");
    assert_int_equal(got.user_groups.n, 1);
    assert_string_equal(got.user_groups.v[0], "premium");
    assert_int_equal(got.max_attempts, 5);
    assert_int_equal(got.retry_strategy, BERTH_RETRY_LINEAR);
    assert_int_equal(got.status, BERTH_JOB_PENDING);
    assert_int_equal(got.attempt, 1);
    assert_null(got.executor);
    assert_null(got.host);
    assert_int_equal(got.rule_index, -1);
    assert_false(got.has_exit_code);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.started_at, 0);
    assert_int_equal(got.finished_at, 0);
    assert_false(got.cancel_requested);
    assert_null(got.owner);
    berth_job_release(&got);

    berth_err_init(&err);
    assert_int_equal(berth_store_job_get(f->st, id + 1000, &got, &err),
                     BERTH_E_NOTFOUND);
    j.priority = 101;
    assert_int_equal(berth_store_job_submit(f->st, &j, 1, T0, &id, &err),
                     BERTH_E_INVALID);
    j.priority = 1;
    assert_int_equal(berth_store_job_submit(f->st, &j, 0, T0, &id, &err),
                     BERTH_E_INVALID);
    berth_job_release(&j);
}

/* ---- the transition table ----------------------------------------------- */

static void test_store__every_transition_follows_the_table(void **state)
{
    struct fx *f = *state;

    put_host(f->st, "big", 0, 0, 0);
    for (int from = 0; from < BERTH_JOB_NSTATES; from++) {
        for (int to = 0; to < BERTH_JOB_NSTATES; to++) {
            for (int retry = 0; retry < 2; retry++) {
                int64_t id = submit1(f->st);
                struct berth_job_update u;
                bool legal;
                size_t before, after;
                struct berth_job j;
                int rc;

                drive(f->st, id, (enum berth_job_state)from);
                before = count_events(f->st, id);
                u = upd(id, (enum berth_job_state)from,
                        (enum berth_job_state)to);
                u.explicit_retry = retry;
                u.reason = "walk";
                if (to == BERTH_JOB_LAUNCHING)
                    place(&u, "big");
                legal =
                    berth_job_transition_ok((enum berth_job_state)from,
                                            (enum berth_job_state)to, retry);
                rc = apply1(f->st, &u, T0 + 10);
                after = count_events(f->st, id);
                j = get_job(f->st, id);
                if (from == to && !retry && from == BERTH_JOB_LAUNCHING) {
                    /* a placement move onto the same host */
                    assert_int_equal(rc, 0);
                    assert_int_equal(after, before + 1);
                } else if (from == to && !retry) {
                    /* a field update: legal, keeps the state */
                    assert_int_equal(rc, 0);
                    assert_int_equal(j.status, from);
                    assert_int_equal(after, before + 1); /* has a reason */
                } else if (legal) {
                    assert_int_equal(rc, 0);
                    assert_int_equal(j.status, to);
                    assert_int_equal(after, before + 1);
                    assert_int_equal(j.attempt, retry ? 2 : 1);
                } else {
                    if (rc != BERTH_E_STATE)
                        fail_msg("%s -> %s (retry %d): rc %d, want refusal",
                                 berth_job_state_str(from),
                                 berth_job_state_str(to), retry, rc);
                    assert_int_equal(j.status, from);
                    assert_int_equal(after, before);
                    assert_int_equal(j.attempt, 1);
                }
                berth_job_release(&j);
            }
        }
    }
    /* spot checks that do not trust the table */
    {
        int64_t id = submit1(f->st);
        struct berth_job_update u;
        drive(f->st, id, BERTH_JOB_COMPLETED);
        u = upd(id, BERTH_JOB_COMPLETED, BERTH_JOB_PENDING);
        assert_int_equal(apply1(f->st, &u, T0), BERTH_E_STATE);
        u.explicit_retry = true;
        assert_int_equal(apply1(f->st, &u, T0), BERTH_E_STATE);
        id = submit1(f->st);
        u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_RUNNING);
        assert_int_equal(apply1(f->st, &u, T0), BERTH_E_STATE);
    }
}

static void
test_store__stale_from_or_attempt_is_refused_without_writing(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    int64_t id;
    struct berth_job j;

    put_host(f->st, "big", 0, 0, 0);
    id = submit1(f->st);
    drive(f->st, id, BERTH_JOB_RUNNING);

    /* a stale worker still thinks it is launching */
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_FAILED);
    u.set = BERTH_UPD_ERROR;
    u.last_error = "stale";
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_STATE);
    /* right state, wrong attempt */
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_FAILED);
    u.attempt = 2;
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_STATE);
    /* right attempt */
    u.attempt = 1;
    u.set = BERTH_UPD_EXIT;
    u.exit_code = 3;
    assert_int_equal(apply1(f->st, &u, T0 + 5 * SEC), 0);
    j = get_job(f->st, id);
    assert_int_equal(j.status, BERTH_JOB_FAILED);
    assert_null(j.last_error);
    assert_true(j.has_exit_code);
    assert_int_equal(j.exit_code, 3);
    assert_int_equal(j.finished_at, T0 + 5 * SEC);
    berth_job_release(&j);

    u = upd(id + 1000, BERTH_JOB_PENDING, BERTH_JOB_CANCELLED);
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_NOTFOUND);
}

static void
test_store__events_record_each_transition_and_none_on_refusal(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_job_event *ev;
    size_t n;
    int64_t id;

    put_host(f->st, "h1", 2, 0, 0);
    id = submit1(f->st);
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h1");
    u.reason = "routed";
    assert_int_equal(apply1(f->st, &u, T0 + 1), 0);
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    u.set = BERTH_UPD_EXECUTION;
    u.execution_id = "c-123";
    assert_int_equal(apply1(f->st, &u, T0 + 2), 0);
    /* field update without reason: no event */
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_RUNNING);
    u.set = BERTH_UPD_CANCEL_REQ;
    assert_int_equal(apply1(f->st, &u, T0 + 3), 0);
    /* field update with reason: an event */
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_RUNNING);
    u.reason = "cancel requested";
    assert_int_equal(apply1(f->st, &u, T0 + 4), 0);
    /* refused: no event */
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    u.reason = "stale";
    assert_int_equal(apply1(f->st, &u, T0 + 5), BERTH_E_STATE);
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_CANCELLED);
    u.reason = "cancelled by user";
    assert_int_equal(apply1(f->st, &u, T0 + 6), 0);

    OK(berth_store_job_events(f->st, id, &ev, &n, &e_));
    assert_int_equal(n, 5);
    assert_string_equal(ev[0].reason, "submitted");
    assert_int_equal(ev[1].from, BERTH_JOB_PENDING);
    assert_int_equal(ev[1].to, BERTH_JOB_LAUNCHING);
    assert_int_equal(ev[1].at, T0 + 1);
    assert_string_equal(ev[1].reason, "routed");
    assert_string_equal(ev[1].executor, "mock");
    assert_string_equal(ev[1].host, "h1");
    assert_int_equal(ev[2].to, BERTH_JOB_RUNNING);
    assert_null(ev[2].reason);
    assert_int_equal(ev[3].from, BERTH_JOB_RUNNING);
    assert_int_equal(ev[3].to, BERTH_JOB_RUNNING);
    assert_string_equal(ev[3].reason, "cancel requested");
    assert_int_equal(ev[4].to, BERTH_JOB_CANCELLED);
    assert_int_equal(ev[4].at, T0 + 6);
    assert_string_equal(ev[4].host, "h1");
    berth_store_events_free(ev, n);
    {
        struct berth_job j = get_job(f->st, id);
        assert_true(j.cancel_requested);
        assert_string_equal(j.execution_id, "c-123");
        assert_int_equal(j.started_at, T0 + 2);
        assert_int_equal(j.finished_at, T0 + 6);
        berth_job_release(&j);
    }
}

/* ---- capacity ----------------------------------------------------------- */

static void test_store__capacity_never_exceeds_jobs_memory_or_cpu(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_host h;
    int64_t id;

    /* job slots */
    put_host(f->st, "slots", 3, 0, 0);
    id = submit_n(f->st, 50, 0, 0, 5, T0);
    for (int i = 0; i < 5; i++) {
        u = upd(id + i, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
        place(&u, "slots");
        assert_int_equal(apply1(f->st, &u, T0), i < 3 ? 0 : BERTH_E_CAPACITY);
        if (i >= 3) {
            assert_int_equal(u.cap_why, BERTH_CAP_JOBS);
            assert_int_equal(status_of(f->st, id + i), BERTH_JOB_PENDING);
            assert_int_equal(count_events(f->st, id + i), 1);
        }
    }
    h = get_host(f->st, "slots");
    assert_int_equal(h.used_jobs, 3);
    berth_host_release(&h);

    /* memory: 1000 MB holds two 400 MB jobs, not a third */
    put_host(f->st, "mem", 10, 1000, 0);
    id = submit_n(f->st, 50, 400, 0, 3, T0);
    for (int i = 0; i < 3; i++) {
        u = upd(id + i, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
        place(&u, "mem");
        assert_int_equal(apply1(f->st, &u, T0), i < 2 ? 0 : BERTH_E_CAPACITY);
    }
    assert_int_equal(u.cap_why, BERTH_CAP_MEMORY);
    h = get_host(f->st, "mem");
    assert_int_equal(h.used_memory_mb, 800);
    berth_host_release(&h);

    /* cpu: 1.0 core holds 0.1 ten times exactly (counted in millicores) */
    put_host(f->st, "cpu", 20, 0, 1.0);
    id = submit_n(f->st, 50, 0, 0.1, 11, T0);
    for (int i = 0; i < 11; i++) {
        u = upd(id + i, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
        place(&u, "cpu");
        assert_int_equal(apply1(f->st, &u, T0), i < 10 ? 0 : BERTH_E_CAPACITY);
    }
    assert_int_equal(u.cap_why, BERTH_CAP_CPU);
    h = get_host(f->st, "cpu");
    assert_int_equal(h.used_jobs, 10);
    assert_true(h.used_cpu_cores > 0.999 && h.used_cpu_cores < 1.001);
    berth_host_release(&h);

    /* a batch cannot overfill either: 3 free slots, 5 asks in one call */
    put_host(f->st, "batch", 3, 0, 0);
    id = submit_n(f->st, 50, 0, 0, 5, T0);
    {
        struct berth_job_update ups[5];
        size_t applied;
        for (int i = 0; i < 5; i++) {
            ups[i] = upd(id + i, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
            place(&ups[i], "batch");
        }
        OK(berth_store_apply(f->st, ups, 5, T0, &applied, &e_));
        assert_int_equal(applied, 3);
        assert_int_equal(ups[3].rc, BERTH_E_CAPACITY);
        assert_int_equal(ups[4].rc, BERTH_E_CAPACITY);
    }
    h = get_host(f->st, "batch");
    assert_int_equal(h.used_jobs, 3);
    berth_host_release(&h);
}

static void
test_store__capacity_is_released_on_leaving_launching_or_running(void **state)
{
    struct fx *f = *state;
    const enum berth_job_state ends[] = {
        BERTH_JOB_PENDING,   BERTH_JOB_FAILED,    BERTH_JOB_CANCELLED,
        BERTH_JOB_COMPLETED, BERTH_JOB_TIMED_OUT,
    };
    struct berth_host h;

    put_host(f->st, "h", 1, 512, 1.0);
    for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++) {
        for (int via_running = 0; via_running < 2; via_running++) {
            int64_t id = submit_n(f->st, 50, 512, 1.0, 1, T0);
            struct berth_job_update u =
                upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
            enum berth_job_state from = BERTH_JOB_LAUNCHING;
            place(&u, "h");
            assert_int_equal(apply1(f->st, &u, T0), 0);
            if (via_running) {
                u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
                assert_int_equal(apply1(f->st, &u, T0), 0);
                from = BERTH_JOB_RUNNING;
            }
            h = get_host(f->st, "h");
            assert_int_equal(h.used_jobs, 1);
            assert_int_equal(h.used_memory_mb, 512);
            berth_host_release(&h);
            u = upd(id, from, ends[k]);
            if (!berth_job_transition_ok(from, ends[k], false)) {
                assert_int_equal(apply1(f->st, &u, T0), BERTH_E_STATE);
                u = upd(id, from, BERTH_JOB_FAILED);
            }
            assert_int_equal(apply1(f->st, &u, T0), 0);
            h = get_host(f->st, "h");
            assert_int_equal(h.used_jobs, 0);
            assert_int_equal(h.used_memory_mb, 0);
            assert_true(h.used_cpu_cores == 0);
            berth_host_release(&h);
        }
    }
}

static void test_store__move_frees_old_host_and_reserves_new(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_host a, b;
    struct berth_job j;
    int64_t id, other;

    put_host(f->st, "a", 1, 0, 0);
    put_host(f->st, "b", 1, 0, 0);
    id = submit1(f->st);
    other = submit1(f->st);
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "a");
    assert_int_equal(apply1(f->st, &u, T0), 0);

    /* b full: the move is refused and nothing changes */
    u = upd(other, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "b");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_LAUNCHING);
    place(&u, "b");
    u.reason = "launch failed on a; falling back";
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_CAPACITY);
    assert_int_equal(u.cap_why, BERTH_CAP_JOBS);
    a = get_host(f->st, "a");
    assert_int_equal(a.used_jobs, 1);
    berth_host_release(&a);

    /* b freed: the move goes through */
    u = upd(other, BERTH_JOB_LAUNCHING, BERTH_JOB_FAILED);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_LAUNCHING);
    place(&u, "b");
    u.reason = "launch failed on a; falling back";
    assert_int_equal(apply1(f->st, &u, T0), 0);
    a = get_host(f->st, "a");
    b = get_host(f->st, "b");
    assert_int_equal(a.used_jobs, 0);
    assert_int_equal(b.used_jobs, 1);
    berth_host_release(&a);
    berth_host_release(&b);
    j = get_job(f->st, id);
    assert_string_equal(j.host, "b");
    assert_int_equal(j.status, BERTH_JOB_LAUNCHING);
    berth_job_release(&j);
    assert_int_equal(count_events(f->st, id), 3);

    /* a move to the same full host frees and re-takes its own slot */
    u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_LAUNCHING);
    place(&u, "b");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    b = get_host(f->st, "b");
    assert_int_equal(b.used_jobs, 1);
    berth_host_release(&b);
}

static void
test_store__disabled_or_unknown_host_is_refused_with_reason(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    int64_t id;

    put_host(f->st, "off", 5, 0, 0);
    OK(berth_store_host_set_enabled(f->st, "off", false, &e_));
    id = submit1(f->st);
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "off");
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_CAPACITY);
    assert_int_equal(u.cap_why, BERTH_CAP_DISABLED);
    place(&u, "nowhere");
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_CAPACITY);
    assert_int_equal(u.cap_why, BERTH_CAP_UNKNOWN_HOST);
    assert_string_equal(berth_store_cap_why_str(BERTH_CAP_UNKNOWN_HOST),
                        "unknown host");

    /* malformed: entering launching without a placement */
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_INVALID);
    /* placement without a reservation would desert a counted slot */
    u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_PENDING);
    place(&u, "off");
    assert_int_equal(apply1(f->st, &u, T0), BERTH_E_INVALID);
    assert_int_equal(status_of(f->st, id), BERTH_JOB_PENDING);
}

/* ---- claims and leases -------------------------------------------------- */

static void test_store__claim_orders_by_priority_then_fifo(void **state)
{
    struct fx *f = *state;
    struct berth_job *v;
    size_t n;
    int64_t low, high, mid;

    low = submit_n(f->st, 10, 0, 0, 3, T0);
    high = submit_n(f->st, 90, 0, 0, 2, T0);
    mid = submit_n(f->st, 50, 0, 0, 2, T0);

    OK(berth_store_job_claim(f->st, "w1", T0, T0 + 30 * SEC, 4, &v, &n, &e_));
    assert_int_equal(n, 4);
    assert_int_equal(v[0].id, high);
    assert_int_equal(v[1].id, high + 1);
    assert_int_equal(v[2].id, mid);
    assert_int_equal(v[3].id, mid + 1);
    assert_string_equal(v[0].owner, "w1");
    assert_int_equal(v[0].lease_until, T0 + 30 * SEC);
    assert_int_equal(v[0].status, BERTH_JOB_PENDING);
    berth_store_jobs_free(v, n);

    OK(berth_store_job_claim(f->st, "w2", T0, T0 + 30 * SEC, 10, &v, &n, &e_));
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, low);
    assert_int_equal(v[2].id, low + 2);
    berth_store_jobs_free(v, n);

    OK(berth_store_job_claim(f->st, "w3", T0, T0 + 30 * SEC, 10, &v, &n, &e_));
    assert_int_equal(n, 0);
    berth_store_jobs_free(v, n);
}

static void test_store__claim_respects_ready_at_and_leases(void **state)
{
    struct fx *f = *state;
    struct berth_job spec, *v;
    struct berth_job_update u;
    int64_t later, now_id;
    size_t n;

    berth_job_init(&spec);
    spec.image = berth_xstrdup("img");
    spec.not_before = T0 + 60 * SEC;
    spec.priority = 100;
    OK(berth_store_job_submit(f->st, &spec, 1, T0, &later, &e_));
    berth_job_release(&spec);
    now_id = submit1(f->st);

    OK(berth_store_job_claim(f->st, "w1", T0, T0 + 10 * SEC, 10, &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, now_id);
    berth_store_jobs_free(v, n);

    /* leased: nobody else gets it until the lease ends */
    OK(berth_store_job_claim(f->st, "w2", T0 + 5 * SEC, T0 + 20 * SEC, 10, &v,
                             &n, &e_));
    assert_int_equal(n, 0);
    free(v);
    OK(berth_store_job_claim(f->st, "w2", T0 + 11 * SEC, T0 + 1000 * SEC, 10,
                             &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, now_id);
    assert_string_equal(v[0].owner, "w2");
    berth_store_jobs_free(v, n);

    /* scheduled job becomes claimable at its time */
    OK(berth_store_job_claim(f->st, "w3", T0 + 60 * SEC, T0 + 90 * SEC, 10, &v,
                             &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, later);
    berth_store_jobs_free(v, n);

    /* backoff: launching -> pending with a ready_at drops the owner */
    put_host(f->st, "h", 0, 0, 0);
    u = upd(later, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h");
    assert_int_equal(apply1(f->st, &u, T0 + 60 * SEC), 0);
    u = upd(later, BERTH_JOB_LAUNCHING, BERTH_JOB_PENDING);
    u.set = BERTH_UPD_READY_AT | BERTH_UPD_ERROR;
    u.ready_at = T0 + 120 * SEC;
    u.last_error = "engine busy";
    u.reason = "launch failed: engine busy; retry in 60s";
    assert_int_equal(apply1(f->st, &u, T0 + 60 * SEC), 0);
    {
        struct berth_job j = get_job(f->st, later);
        assert_null(j.owner);
        assert_int_equal(j.lease_until, 0);
        assert_null(j.host);
        assert_null(j.executor);
        assert_null(j.routing_reason);
        assert_string_equal(j.last_error, "engine busy");
        berth_job_release(&j);
    }
    OK(berth_store_job_claim(f->st, "w4", T0 + 119 * SEC, T0 + 200 * SEC, 10,
                             &v, &n, &e_));
    assert_int_equal(n, 0);
    free(v);
    OK(berth_store_job_claim(f->st, "w4", T0 + 120 * SEC, T0 + 200 * SEC, 10,
                             &v, &n, &e_));
    assert_int_equal(n, 1);
    berth_store_jobs_free(v, n);
}

static void test_store__expired_leases_are_reclaimed_as_orphans(void **state)
{
    struct fx *f = *state;
    struct berth_job *v;
    struct berth_job_update u;
    int64_t a, b, c;
    size_t n;

    put_host(f->st, "h", 0, 0, 0);
    a = submit1(f->st);
    b = submit1(f->st);
    c = submit1(f->st);
    OK(berth_store_job_claim(f->st, "dead", T0, T0 + 10 * SEC, 3, &v, &n, &e_));
    assert_int_equal(n, 3);
    berth_store_jobs_free(v, n);
    u = upd(a, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(b, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(b, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    assert_int_equal(apply1(f->st, &u, T0), 0);

    /* lease still valid: no orphans */
    OK(berth_store_job_claim_orphans(f->st, "w2", T0 + 5 * SEC, T0 + 60 * SEC,
                                     10, &v, &n, &e_));
    assert_int_equal(n, 0);
    free(v);

    /* "dead" stopped renewing: a and b are orphans; c is pending and goes
     * back to the ordinary claim */
    OK(berth_store_job_claim_orphans(f->st, "w2", T0 + 11 * SEC, T0 + 60 * SEC,
                                     1, &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a);
    assert_string_equal(v[0].owner, "w2");
    berth_store_jobs_free(v, n);
    OK(berth_store_job_claim_orphans(f->st, "w3", T0 + 11 * SEC, T0 + 60 * SEC,
                                     10, &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, b);
    assert_int_equal(v[0].status, BERTH_JOB_RUNNING);
    assert_string_equal(v[0].owner, "w3");
    berth_store_jobs_free(v, n);
    OK(berth_store_job_claim(f->st, "w3", T0 + 11 * SEC, T0 + 60 * SEC, 10, &v,
                             &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, c);
    berth_store_jobs_free(v, n);
}

static void test_store__lease_renew_and_release(void **state)
{
    struct fx *f = *state;
    struct berth_job *v;
    struct berth_job j;
    int64_t a;
    size_t n;

    a = submit_n(f->st, 50, 0, 0, 2, T0);
    OK(berth_store_job_claim(f->st, "w1", T0, T0 + 10 * SEC, 1, &v, &n, &e_));
    berth_store_jobs_free(v, n);
    OK(berth_store_lease_renew(f->st, "w1", T0 + 100 * SEC, &e_));
    j = get_job(f->st, a);
    assert_int_equal(j.lease_until, T0 + 100 * SEC);
    berth_job_release(&j);
    j = get_job(f->st, a + 1);
    assert_null(j.owner);
    berth_job_release(&j);

    OK(berth_store_job_claim(f->st, "w2", T0 + 50 * SEC, T0 + 60 * SEC, 10, &v,
                             &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a + 1);
    berth_store_jobs_free(v, n);

    OK(berth_store_lease_release(f->st, "w1", &e_));
    j = get_job(f->st, a);
    assert_null(j.owner);
    assert_int_equal(j.lease_until, 0);
    berth_job_release(&j);
    OK(berth_store_job_claim(f->st, "w2", T0 + 50 * SEC, T0 + 60 * SEC, 10, &v,
                             &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a);
    berth_store_jobs_free(v, n);
}

static void test_store__explicit_retry_is_a_new_attempt(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_job j;
    int64_t id;

    put_host(f->st, "big", 0, 0, 0);
    id = submit1(f->st);
    drive(f->st, id, BERTH_JOB_RUNNING);
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_TIMED_OUT);
    u.set = BERTH_UPD_EXIT | BERTH_UPD_CANCEL_REQ;
    u.exit_code = 137;
    assert_int_equal(apply1(f->st, &u, T0 + 9 * SEC), 0);

    u = upd(id, BERTH_JOB_TIMED_OUT, BERTH_JOB_PENDING);
    u.explicit_retry = true;
    u.attempt = 1;
    u.reason = "berth retry";
    assert_int_equal(apply1(f->st, &u, T0 + 20 * SEC), 0);
    j = get_job(f->st, id);
    assert_int_equal(j.status, BERTH_JOB_PENDING);
    assert_int_equal(j.attempt, 2);
    assert_false(j.has_exit_code);
    assert_null(j.host);
    assert_null(j.execution_id);
    assert_int_equal(j.started_at, 0);
    assert_int_equal(j.finished_at, 0);
    assert_false(j.cancel_requested);
    assert_int_equal(j.ready_at, T0 + 20 * SEC);
    berth_job_release(&j);
    /* the same retry again is stale (attempt 1 is gone) */
    assert_int_equal(apply1(f->st, &u, T0 + 21 * SEC), BERTH_E_STATE);
}

static void
test_store__lost_run_is_retried_as_next_attempt_with_usage(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_job_logs l, out;
    struct berth_job j;
    int64_t id;

    put_host(f->st, "big", 0, 0, 0);
    id = submit1(f->st);
    j = get_job(f->st, id);
    assert_false(j.oom_killed);
    assert_int_equal(j.peak_memory_bytes, -1);
    assert_int_equal(j.cpu_time_us, -1);
    berth_job_release(&j);
    drive(f->st, id, BERTH_JOB_RUNNING);

    /* killed for memory: usage and the logs of attempt 1 are kept, the
     * job goes back to pending as attempt 2 */
    berth_job_logs_init(&l);
    l.out = (char *)"partial";
    l.out_len = 7;
    l.err = (char *)"Killed";
    l.err_len = 6;
    u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_PENDING);
    u.attempt = 1;
    u.set = BERTH_UPD_NEXT_ATTEMPT | BERTH_UPD_USAGE | BERTH_UPD_LOGS |
            BERTH_UPD_READY_AT;
    u.oom_killed = true;
    u.peak_memory_bytes = 256 << 20;
    u.cpu_time_us = 1500000;
    u.logs = &l;
    u.ready_at = T0 + 30 * SEC;
    u.reason = "lost: out of memory; retry in 30s";
    assert_int_equal(apply1(f->st, &u, T0 + 10 * SEC), 0);
    j = get_job(f->st, id);
    assert_int_equal(j.status, BERTH_JOB_PENDING);
    assert_int_equal(j.attempt, 2);
    assert_true(j.oom_killed);
    assert_int_equal(j.peak_memory_bytes, 256 << 20);
    assert_int_equal(j.cpu_time_us, 1500000);
    assert_int_equal(j.ready_at, T0 + 30 * SEC);
    berth_job_release(&j);
    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_string_equal(out.err, "Killed");
    berth_job_logs_release(&out);
    /* attempt 1's logs stay attempt 1's: attempt 2 writes its own */
    l.err = (char *)"fine";
    l.err_len = 4;
    OK(berth_store_logs_put(f->st, id, 2, &l, &e_));
    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_string_equal(out.err, "fine");
    berth_job_logs_release(&out);
}

static void
test_store__one_batch_applies_updates_of_a_job_in_order(void **state)
{
    struct fx *f = *state;
    struct berth_job_update ups[6];
    struct berth_host h;
    struct berth_job j;
    size_t applied;
    int64_t id, other;

    put_host(f->st, "h", 1, 0, 0);
    id = submit1(f->st);
    other = submit1(f->st);
    ups[0] = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&ups[0], "h");
    ups[1] = upd(other, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&ups[1], "h"); /* full: id holds the one slot */
    ups[2] = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    ups[3] = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_COMPLETED);
    ups[3].set = BERTH_UPD_EXIT;
    ups[3].exit_code = 0;
    ups[4] = upd(other, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&ups[4], "h");                                   /* freed by ups[3] */
    ups[5] = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_FAILED); /* stale now */
    OK(berth_store_apply(f->st, ups, 6, T0, &applied, &e_));
    assert_int_equal(applied, 4);
    assert_int_equal(ups[0].rc, 0);
    assert_int_equal(ups[1].rc, BERTH_E_CAPACITY);
    assert_int_equal(ups[2].rc, 0);
    assert_int_equal(ups[3].rc, 0);
    assert_int_equal(ups[4].rc, 0);
    assert_int_equal(ups[5].rc, BERTH_E_STATE);
    j = get_job(f->st, id);
    assert_int_equal(j.status, BERTH_JOB_COMPLETED);
    assert_true(j.has_exit_code);
    berth_job_release(&j);
    assert_int_equal(count_events(f->st, id), 4);
    assert_int_equal(count_events(f->st, other), 2);
    h = get_host(f->st, "h");
    assert_int_equal(h.used_jobs, 1);
    berth_host_release(&h);
}

static void test_store__failure_mid_batch_writes_nothing(void **state)
{
    struct fx *f = *state;
    struct berth_job_update ups[3];
    struct berth_err err;
    struct berth_host h;
    size_t applied = 99;
    int64_t id;

    put_host(f->st, "h", 5, 0, 0);
    id = submit_n(f->st, 50, 0, 0, 3, T0);
    backend->exec_sql(f->url, backend->boom_trigger_sql);
    ups[0] = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&ups[0], "h");
    ups[0].reason = "fine";
    ups[1] = upd(id + 1, BERTH_JOB_PENDING, BERTH_JOB_CANCELLED);
    ups[1].reason = "boom"; /* its event insert fails */
    ups[2] = upd(id + 2, BERTH_JOB_PENDING, BERTH_JOB_FAILED);
    berth_err_init(&err);
    assert_int_not_equal(berth_store_apply(f->st, ups, 3, T0, &applied, &err),
                         0);
    assert_int_equal(applied, 0);
    assert_non_null(strstr(err.msg, "boom"));
    /* nothing of the batch is there: states, slots, events */
    assert_int_equal(status_of(f->st, id), BERTH_JOB_PENDING);
    assert_int_equal(status_of(f->st, id + 1), BERTH_JOB_PENDING);
    assert_int_equal(status_of(f->st, id + 2), BERTH_JOB_PENDING);
    assert_int_equal(count_events(f->st, id), 1);
    h = get_host(f->st, "h");
    assert_int_equal(h.used_jobs, 0);
    berth_host_release(&h);
    /* and the store still works */
    ups[1].reason = "not boom";
    OK(berth_store_apply(f->st, ups, 3, T0, &applied, &e_));
    assert_int_equal(applied, 3);
}

/* ---- logs, lists, figures, purge ---------------------------------------- */

static void test_store__logs_keep_bytes_and_return_latest_attempt(void **state)
{
    struct fx *f = *state;
    struct berth_job_logs in, out;
    struct berth_err err;
    static const char bin[] = "a\0b\xff\n";
    int64_t id = submit1(f->st);

    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_string_equal(out.out, "");
    assert_string_equal(out.err, "");
    assert_int_equal(out.out_len, 0);
    berth_job_logs_release(&out);

    berth_job_logs_init(&in);
    in.out = (char *)"first\n";
    in.out_len = 6;
    in.err = (char *)"";
    OK(berth_store_logs_put(f->st, id, 1, &in, &e_));
    in.out = (char *)bin;
    in.out_len = sizeof(bin) - 1;
    in.err = (char *)"oops\n";
    in.err_len = 5;
    in.truncated = true;
    OK(berth_store_logs_put(f->st, id, 2, &in, &e_));
    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_int_equal(out.out_len, sizeof(bin) - 1);
    assert_memory_equal(out.out, bin, sizeof(bin) - 1);
    assert_string_equal(out.err, "oops\n");
    assert_true(out.truncated);
    berth_job_logs_release(&out);

    /* replace */
    in.out = (char *)"again";
    in.out_len = 5;
    in.truncated = false;
    OK(berth_store_logs_put(f->st, id, 2, &in, &e_));
    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_string_equal(out.out, "again");
    assert_false(out.truncated);
    berth_job_logs_release(&out);

    berth_err_init(&err);
    assert_int_equal(berth_store_logs_put(f->st, id + 99, 1, &in, &err),
                     BERTH_E_NOTFOUND);
}

static void test_store__completion_carries_logs_in_the_same_apply(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u[2];
    struct berth_job_logs l, out;
    size_t applied;
    int64_t id;

    put_host(f->st, "big", 0, 0, 0);
    id = submit1(f->st);
    drive(f->st, id, BERTH_JOB_RUNNING);
    berth_job_logs_init(&l);
    l.out = (char *)"done\n";
    l.out_len = 5;
    l.err = (char *)"warn\n";
    l.err_len = 5;
    /* a refused update writes no logs */
    u[0] = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_COMPLETED);
    u[0].set = BERTH_UPD_LOGS;
    u[0].logs = &l;
    assert_int_equal(apply1(f->st, &u[0], T0), BERTH_E_STATE);
    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_int_equal(out.out_len, 0);
    berth_job_logs_release(&out);

    u[0] = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_COMPLETED);
    u[0].set = BERTH_UPD_EXIT | BERTH_UPD_LOGS;
    u[0].logs = &l;
    u[1] = upd(id, BERTH_JOB_COMPLETED, BERTH_JOB_PENDING);
    u[1].explicit_retry = true; /* refused: completed is not retryable */
    u[1].set = BERTH_UPD_LOGS;
    u[1].logs = &l;
    OK(berth_store_apply(f->st, u, 2, T0, &applied, &e_));
    assert_int_equal(applied, 1);
    OK(berth_store_logs_get(f->st, id, &out, &e_));
    assert_string_equal(out.out, "done\n");
    assert_string_equal(out.err, "warn\n");
    berth_job_logs_release(&out);
}

static void test_store__job_list_filters_and_orders(void **state)
{
    struct fx *f = *state;
    struct berth_job_filter flt = BERTH_JOB_FILTER_INIT;
    struct berth_job spec, *v;
    struct berth_job_update u;
    size_t n;
    int64_t a, b, c;

    put_host(f->st, "h1", 0, 0, 0);
    a = submit_n(f->st, 50, 0, 0, 5, T0);
    berth_job_init(&spec);
    spec.image = berth_xstrdup("img");
    spec.template_name = berth_xstrdup("tpl");
    OK(berth_store_job_submit(f->st, &spec, 1, T0, &b, &e_));
    spec.start_deadline = 60;
    OK(berth_store_job_submit(f->st, &spec, 1, T0, &c, &e_));
    assert_int_equal(c, b + 1);
    berth_job_release(&spec);
    u = upd(a + 1, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h1");
    assert_int_equal(apply1(f->st, &u, T0), 0);

    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 7);
    assert_int_equal(v[0].id, a);
    berth_store_jobs_free(v, n);

    flt.status = BERTH_JOB_PENDING;
    flt.newest_first = true;
    flt.limit = 2;
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, b + 1);
    assert_int_equal(v[1].id, b);
    berth_store_jobs_free(v, n);

    flt = (struct berth_job_filter)BERTH_JOB_FILTER_INIT;
    flt.host = "h1";
    flt.executor = "mock";
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a + 1);
    berth_store_jobs_free(v, n);

    /* pending jobs that carry a start deadline (the worker's sweep) */
    flt = (struct berth_job_filter)BERTH_JOB_FILTER_INIT;
    flt.status = BERTH_JOB_PENDING;
    flt.with_start_deadline = true;
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, c);
    berth_store_jobs_free(v, n);

    /* jobs whose cancel was requested */
    u = upd(a + 3, BERTH_JOB_PENDING, BERTH_JOB_PENDING);
    u.set = BERTH_UPD_CANCEL_REQ;
    assert_int_equal(apply1(f->st, &u, T0), 0);
    flt = (struct berth_job_filter)BERTH_JOB_FILTER_INIT;
    flt.cancel_requested = true;
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a + 3);
    assert_true(v[0].cancel_requested);
    berth_store_jobs_free(v, n);

    flt = (struct berth_job_filter)BERTH_JOB_FILTER_INIT;
    flt.template_name = "tpl";
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 2);
    berth_store_jobs_free(v, n);

    /* a cancel on a launching job joins the list (the worker's cancel
     * check), in id order */
    flt = (struct berth_job_filter)BERTH_JOB_FILTER_INIT;
    flt.cancel_requested = true;
    u = upd(a + 1, BERTH_JOB_LAUNCHING, BERTH_JOB_LAUNCHING);
    u.set = BERTH_UPD_CANCEL_REQ;
    assert_int_equal(apply1(f->st, &u, T0), 0);
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 2);
    assert_int_equal(v[0].id, a + 1);
    assert_int_equal(v[1].id, a + 3);
    assert_true(v[0].cancel_requested);
    berth_store_jobs_free(v, n);

    /* a value that would be SQL if it were pasted in */
    flt.template_name = "x' OR '1'='1";
    OK(berth_store_job_list(f->st, &flt, &v, &n, &e_));
    assert_int_equal(n, 0);
    free(v);
}

static void
test_store__stats_count_states_ready_and_launch_failures(void **state)
{
    struct fx *f = *state;
    struct berth_store_stats s;
    struct berth_job spec;
    struct berth_job_update u;
    int64_t a, sched;

    put_host(f->st, "h1", 0, 0, 0);
    put_host(f->st, "h2", 0, 0, 0);
    a = submit_n(f->st, 50, 0, 0, 6, T0);
    berth_job_init(&spec);
    spec.image = berth_xstrdup("img");
    spec.not_before = T0 + 3600 * SEC;
    OK(berth_store_job_submit(f->st, &spec, 2, T0, &sched, &e_));
    berth_job_release(&spec);

    /* a: launch fails, back to pending (1 failure) */
    u = upd(a, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h1");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a, BERTH_JOB_LAUNCHING, BERTH_JOB_PENDING);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    /* a+1: fallback move then permanent failure (2 failures) */
    u = upd(a + 1, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h1");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 1, BERTH_JOB_LAUNCHING, BERTH_JOB_LAUNCHING);
    place(&u, "h2");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    /* a field update with a reason is an event, not a launch failure */
    u = upd(a + 1, BERTH_JOB_LAUNCHING, BERTH_JOB_LAUNCHING);
    u.reason = "waiting for the engine";
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 1, BERTH_JOB_LAUNCHING, BERTH_JOB_FAILED);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    /* a+2 running, a+3 completed, a+4 cancelled */
    u = upd(a + 2, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h1");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 2, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 3, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
    place(&u, "h2");
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 3, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 3, BERTH_JOB_RUNNING, BERTH_JOB_COMPLETED);
    assert_int_equal(apply1(f->st, &u, T0), 0);
    u = upd(a + 4, BERTH_JOB_PENDING, BERTH_JOB_CANCELLED);
    assert_int_equal(apply1(f->st, &u, T0), 0);

    OK(berth_store_stats(f->st, T0 + SEC, &s, &e_));
    assert_int_equal(s.by_state[BERTH_JOB_PENDING], 4); /* a, a+5, 2 sched */
    assert_int_equal(s.by_state[BERTH_JOB_LAUNCHING], 0);
    assert_int_equal(s.by_state[BERTH_JOB_RUNNING], 1);
    assert_int_equal(s.by_state[BERTH_JOB_COMPLETED], 1);
    assert_int_equal(s.by_state[BERTH_JOB_FAILED], 1);
    assert_int_equal(s.by_state[BERTH_JOB_TIMED_OUT], 0);
    assert_int_equal(s.by_state[BERTH_JOB_CANCELLED], 1);
    assert_int_equal(s.pending_ready, 2);
    assert_int_equal(s.pending_scheduled, 2);
    assert_int_equal(s.launch_failures, 3);

    OK(berth_store_stats(f->st, T0 + 3600 * SEC, &s, &e_));
    assert_int_equal(s.pending_ready, 4);
    assert_int_equal(s.pending_scheduled, 0);
}

static void test_store__purge_removes_old_finished_jobs_only(void **state)
{
    struct fx *f = *state;
    struct berth_job_update u;
    struct berth_job_logs l;
    struct berth_job j;
    struct berth_err err;
    size_t purged;
    int64_t a;

    a = submit_n(f->st, 50, 0, 0, 4, T0);
    u = upd(a, BERTH_JOB_PENDING, BERTH_JOB_CANCELLED);
    assert_int_equal(apply1(f->st, &u, T0 + 1 * SEC), 0);
    u = upd(a + 1, BERTH_JOB_PENDING, BERTH_JOB_FAILED);
    assert_int_equal(apply1(f->st, &u, T0 + 2 * SEC), 0);
    u = upd(a + 2, BERTH_JOB_PENDING, BERTH_JOB_FAILED);
    assert_int_equal(apply1(f->st, &u, T0 + 100 * SEC), 0);
    berth_job_logs_init(&l);
    l.out = (char *)"x";
    l.out_len = 1;
    l.err = (char *)"";
    OK(berth_store_logs_put(f->st, a, 1, &l, &e_));

    OK(berth_store_job_purge(f->st, T0 + 50 * SEC, 1, &purged, &e_));
    assert_int_equal(purged, 1);
    berth_err_init(&err);
    assert_int_equal(berth_store_job_get(f->st, a, &j, &err), BERTH_E_NOTFOUND);
    assert_int_equal(count_events(f->st, a), 0);
    OK(berth_store_job_purge(f->st, T0 + 50 * SEC, 0, &purged, &e_));
    assert_int_equal(purged, 1);
    assert_int_equal(status_of(f->st, a + 2), BERTH_JOB_FAILED);
    assert_int_equal(status_of(f->st, a + 3), BERTH_JOB_PENDING);
}

/* ---- several processes -------------------------------------------------- */

static void write_ids(const char *path, const int64_t *ids, size_t n)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        _exit(3);
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "%lld\n", (long long)ids[i]);
    if (fclose(fp) != 0)
        _exit(3);
}

/* Children open their store, then wait here until the parent closes the
 * write end of the pipe, so that they all start claiming together. */
static void barrier_wait(int fds[2])
{
    char c;
    close(fds[1]);
    while (read(fds[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(fds[0]);
}

/* Child: claim in small batches until the queue is empty. */
static void claim_child(const char *url, const char *out, int seed, int fds[2])
{
    struct berth_store *st = NULL;
    struct berth_err err;
    int64_t *ids = NULL;
    size_t nids = 0, cap = 0;
    char owner[32];
    int empty = 0;

    snprintf(owner, sizeof(owner), "child-%d", seed);
    berth_err_init(&err);
    if (berth_store_open(url, &st, &err) != 0) {
        fprintf(stderr, "%s: %s\n", owner, err.msg);
        _exit(2);
    }
    barrier_wait(fds);
    while (empty < 3) {
        struct berth_job *v;
        size_t n;
        size_t max = (size_t)(1 + (seed * 7 + (int)nids) % 9);
        if (berth_store_job_claim(st, owner, T0, T0 + 3600 * SEC, max, &v, &n,
                                  &err) != 0) {
            fprintf(stderr, "%s: claim: %s\n", owner, err.msg);
            _exit(2);
        }
        empty = n == 0 ? empty + 1 : 0;
        for (size_t i = 0; i < n; i++) {
            if (nids == cap) {
                cap = cap ? 2 * cap : 256;
                ids = berth_xrealloc(ids, cap * sizeof(*ids));
            }
            ids[nids++] = v[i].id;
            if (!v[i].owner || strcmp(v[i].owner, owner) != 0)
                _exit(4);
        }
        berth_store_jobs_free(v, n);
    }
    write_ids(out, ids, nids);
    free(ids);
    berth_store_free(st);
    _exit(0);
}

#define NCHILD 4

static void wait_children(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int status = 0;
        if (waitpid(pids[i], &status, 0) != pids[i])
            fail_msg("waitpid: %s", strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d failed (status 0x%x)", i, status);
    }
}

static void test_store__forked_claimers_never_share_a_job(void **state)
{
    struct fx *f = *state;
    const size_t total = 1200;
    pid_t pids[NCHILD];
    unsigned char *seen;
    int64_t first;
    size_t got = 0;
    int fds[2];

    /* mixed priorities so that the index order matters */
    first = submit_n(f->st, 10, 0, 0, total / 2, T0);
    submit_n(f->st, 90, 0, 0, total / 2, T0);
    assert_int_equal(pipe(fds), 0);
    for (int i = 0; i < NCHILD; i++) {
        char *out = berth_xasprintf("%s/claims.%d", f->dir, i);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            claim_child(f->url, out, i + 1, fds);
        pids[i] = pid;
        free(out);
    }
    close(fds[0]);
    close(fds[1]); /* go */
    wait_children(pids, NCHILD);

    seen = berth_xcalloc(total, 1);
    for (int i = 0; i < NCHILD; i++) {
        char *path = berth_xasprintf("%s/claims.%d", f->dir, i);
        FILE *fp = fopen(path, "r");
        long long id;
        size_t mine = 0;
        assert_non_null(fp);
        while (fscanf(fp, "%lld", &id) == 1) {
            assert_true(id >= first && id < first + (int64_t)total);
            if (seen[id - first])
                fail_msg("job %lld claimed twice", id);
            seen[id - first] = 1;
            got++;
            mine++;
        }
        fclose(fp);
        free(path);
        printf("# child %d claimed %zu jobs\n", i + 1, mine);
    }
    assert_int_equal(got, total);
    free(seen);
}

/* Child: take jobs through launching/running/completed on host "three"
 * (max 3) and check at every step that it never holds more than 3. */
static void reserve_child(const char *url, int seed, int64_t total, int fds[2])
{
    struct berth_store *st = NULL;
    struct berth_err err;
    char owner[32];
    int loops = 0;

    snprintf(owner, sizeof(owner), "res-%d", seed);
    berth_err_init(&err);
    if (berth_store_open(url, &st, &err) != 0) {
        fprintf(stderr, "%s: %s\n", owner, err.msg);
        _exit(2);
    }
    barrier_wait(fds);
    for (;;) {
        struct berth_store_stats s;
        struct berth_job *v;
        struct berth_job_update u;
        struct berth_host h;
        size_t n, applied;
        int64_t id;

        if (++loops > 200000) {
            fprintf(stderr, "%s: no progress\n", owner);
            _exit(5);
        }
        if (berth_store_stats(st, T0, &s, &err) != 0)
            goto fail;
        if (s.by_state[BERTH_JOB_LAUNCHING] + s.by_state[BERTH_JOB_RUNNING] >
            3) {
            fprintf(stderr, "%s: %lld active jobs\n", owner,
                    (long long)(s.by_state[BERTH_JOB_LAUNCHING] +
                                s.by_state[BERTH_JOB_RUNNING]));
            _exit(6);
        }
        if (s.by_state[BERTH_JOB_COMPLETED] == total)
            break;
        if (berth_store_job_claim(st, owner, T0, T0 + 3600 * SEC, 1, &v, &n,
                                  &err) != 0)
            goto fail;
        if (n == 0) {
            free(v);
            usleep(200);
            continue;
        }
        id = v[0].id;
        berth_store_jobs_free(v, n);
        u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING);
        place(&u, "three");
        if (berth_store_apply(st, &u, 1, T0, &applied, &err) != 0)
            goto fail;
        if (u.rc == BERTH_E_CAPACITY) {
            /* give it back for anyone to take */
            u = upd(id, BERTH_JOB_PENDING, BERTH_JOB_PENDING);
            u.set = BERTH_UPD_OWNER;
            u.owner = NULL;
            if (berth_store_apply(st, &u, 1, T0, &applied, &err) != 0 ||
                u.rc != 0)
                goto fail;
            usleep(100);
            continue;
        }
        if (u.rc != 0) {
            fprintf(stderr, "%s: launch rc %d\n", owner, u.rc);
            _exit(7);
        }
        if (berth_store_host_get(st, "three", &h, &err) != 0)
            goto fail;
        if (h.used_jobs > 3 || h.used_jobs < 1) {
            fprintf(stderr, "%s: used_jobs %lld\n", owner,
                    (long long)h.used_jobs);
            _exit(8);
        }
        berth_host_release(&h);
        u = upd(id, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING);
        if (berth_store_apply(st, &u, 1, T0, &applied, &err) != 0 || u.rc)
            goto fail;
        u = upd(id, BERTH_JOB_RUNNING, BERTH_JOB_COMPLETED);
        if (berth_store_apply(st, &u, 1, T0, &applied, &err) != 0 || u.rc)
            goto fail;
    }
    berth_store_free(st);
    _exit(0);
fail:
    fprintf(stderr, "%s: %s\n", owner, err.msg);
    _exit(2);
}

static void test_store__forked_reservers_never_exceed_max(void **state)
{
    struct fx *f = *state;
    const int64_t total = 60;
    struct berth_store_stats s;
    pid_t pids[NCHILD];
    struct berth_host h;
    int fds[2];

    put_host(f->st, "three", 3, 0, 0);
    submit_n(f->st, 50, 0, 0, (size_t)total, T0);
    assert_int_equal(pipe(fds), 0);
    for (int i = 0; i < NCHILD; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            reserve_child(f->url, i + 1, total, fds);
        pids[i] = pid;
    }
    close(fds[0]);
    close(fds[1]);
    wait_children(pids, NCHILD);
    OK(berth_store_stats(f->st, T0, &s, &e_));
    assert_int_equal(s.by_state[BERTH_JOB_COMPLETED], total);
    h = get_host(f->st, "three");
    assert_int_equal(h.used_jobs, 0);
    berth_host_release(&h);
}

#define STORE_TEST(fn)                                                         \
    cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

static int run_store_suite(const struct suite_backend *b)
{
    const struct CMUnitTest tests[] = {
        STORE_TEST(test_store__migrations_are_idempotent_on_reopen),
        STORE_TEST(test_store__meta_absent_is_null_and_set_replaces),
        STORE_TEST(test_store__template_crud_round_trips_fields),
        STORE_TEST(test_store__host_put_keeps_enabled_and_never_touches_usage),
        STORE_TEST(test_store__host_delete_refuses_while_jobs_launch_or_run),
        STORE_TEST(test_store__submit_count_gives_consecutive_ids_and_events),
        STORE_TEST(test_store__submit_round_trips_every_field),
        STORE_TEST(test_store__every_transition_follows_the_table),
        STORE_TEST(
            test_store__stale_from_or_attempt_is_refused_without_writing),
        STORE_TEST(
            test_store__events_record_each_transition_and_none_on_refusal),
        STORE_TEST(test_store__capacity_never_exceeds_jobs_memory_or_cpu),
        STORE_TEST(
            test_store__capacity_is_released_on_leaving_launching_or_running),
        STORE_TEST(test_store__move_frees_old_host_and_reserves_new),
        STORE_TEST(test_store__disabled_or_unknown_host_is_refused_with_reason),
        STORE_TEST(test_store__claim_orders_by_priority_then_fifo),
        STORE_TEST(test_store__claim_respects_ready_at_and_leases),
        STORE_TEST(test_store__expired_leases_are_reclaimed_as_orphans),
        STORE_TEST(test_store__lease_renew_and_release),
        STORE_TEST(test_store__explicit_retry_is_a_new_attempt),
        STORE_TEST(test_store__lost_run_is_retried_as_next_attempt_with_usage),
        STORE_TEST(test_store__one_batch_applies_updates_of_a_job_in_order),
        STORE_TEST(test_store__failure_mid_batch_writes_nothing),
        STORE_TEST(test_store__logs_keep_bytes_and_return_latest_attempt),
        STORE_TEST(test_store__completion_carries_logs_in_the_same_apply),
        STORE_TEST(test_store__job_list_filters_and_orders),
        STORE_TEST(test_store__stats_count_states_ready_and_launch_failures),
        STORE_TEST(test_store__purge_removes_old_finished_jobs_only),
        STORE_TEST(test_store__forked_claimers_never_share_a_job),
        STORE_TEST(test_store__forked_reservers_never_exceed_max),
    };
    backend = b;
    return cmocka_run_group_tests_name(b->name, tests, NULL, NULL);
}

#endif
