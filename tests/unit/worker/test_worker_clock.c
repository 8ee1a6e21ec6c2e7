/* test_worker_clock.c - the worker on an injected clock: retry backoff,
 * start deadlines and timeouts happen at the right (fake) times, without
 * the test sleeping through them. */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/config.h"
#include "berth/log.h"
#include "berth/store.h"
#include "berth/worker.h"

/* A clock that moves forward by `step` on every reading: the worker's
 * waits for a retry are spent in fake time, in a few thousand loop turns. */
struct auto_clock {
    int64_t now;
    int64_t step;
};

static int64_t auto_now(void *ctx)
{
    struct auto_clock *c = ctx;
    c->now += c->step;
    return c->now;
}

static void auto_sleep(void *ctx, int64_t us)
{
    struct auto_clock *c = ctx;
    c->now += us;
}

struct fx {
    struct auto_clock ac;
    struct berth_clock clock;
    struct berth_config *cfg;
    struct berth_store *st;
};

static void quiet(const char *line, void *ctx)
{
    (void)line;
    (void)ctx;
}

static struct fx *fx_new(const char *yaml)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    struct berth_host *hosts = NULL;
    size_t nh = 0;

    f->ac.now = 1700000000 * BERTH_US_PER_SEC;
    f->ac.step = 1000; /* 1 ms per reading */
    f->clock.now_us = auto_now;
    f->clock.ctx = &f->ac;
    f->clock.sleep_us = auto_sleep;
    berth_err_init(&err);
    if (berth_config_load_text("t.yaml", yaml, strlen(yaml), &f->cfg, &report,
                               &err))
        fail_msg("%s", berth_buf_cstr(&report));
    berth_buf_release(&report);
    assert_int_equal(berth_store_open("sqlite::memory:", &f->st, &err), 0);
    assert_int_equal(berth_config_hosts(f->cfg, &hosts, &nh, &err), 0);
    for (size_t i = 0; i < nh; i++)
        assert_int_equal(berth_store_host_put(f->st, &hosts[i], true, &err), 0);
    berth_store_hosts_free(hosts, nh);
    if (!getenv("BT_VERBOSE"))
        berth_log_set_sink(quiet, NULL);
    return f;
}

static void fx_free(struct fx *f)
{
    berth_log_set_sink(NULL, NULL);
    berth_store_free(f->st);
    berth_config_free(f->cfg);
    free(f);
}

static int64_t submit(struct fx *f, const char *label_k, const char *label_v,
                      int max_attempts, enum berth_retry_strategy rs)
{
    struct berth_job j;
    struct berth_err err;
    int64_t id;
    berth_job_init(&j);
    j.image = berth_xstrdup("img");
    j.max_attempts = max_attempts;
    j.retry_strategy = rs;
    if (label_k)
        berth_map_set(&j.labels, label_k, label_v);
    assert_int_equal(berth_store_job_submit(f->st, &j, 1, f->ac.now, &id, &err),
                     0);
    berth_job_release(&j);
    return id;
}

static void run_once(struct fx *f)
{
    struct berth_worker_opts o;
    struct berth_worker *w;
    struct berth_err err;

    berth_worker_opts_init(&o);
    o.once = true;
    o.clock = &f->clock;
    o.seed = 99;
    o.poll_interval_us = 50000;
    berth_err_init(&err);
    assert_int_equal(berth_worker_new(f->cfg, f->st, &o, &w, &err), 0);
    assert_int_equal(berth_worker_run(w, &err), 0);
    berth_worker_free(w);
}

static void test_worker_clock__backoff_waits_in_fake_time(void **state)
{
    struct fx *f = fx_new("default_executor: mock\nexecutors: {mock: {}}\n");
    struct berth_job_event *ev = NULL;
    struct berth_job j;
    struct berth_err err;
    int64_t id, back[2] = {0, 0}, again[2] = {0, 0};
    size_t n = 0, nb = 0, na = 0;
    (void)state;

    id = submit(f, "mock.fail_launch", "transient", 3, BERTH_RETRY_LINEAR);
    run_once(f);
    assert_int_equal(berth_store_job_get(f->st, id, &j, &err), 0);
    assert_int_equal(j.status, BERTH_JOB_FAILED);
    assert_int_equal(j.attempt, 3);
    berth_job_release(&j);
    assert_int_equal(berth_store_job_events(f->st, id, &ev, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].from == BERTH_JOB_LAUNCHING &&
            ev[i].to == BERTH_JOB_PENDING && nb < 2)
            back[nb++] = ev[i].at;
        if (ev[i].from == BERTH_JOB_PENDING &&
            ev[i].to == BERTH_JOB_LAUNCHING && nb > na && na < 2)
            again[na++] = ev[i].at;
    }
    assert_int_equal(nb, 2);
    assert_int_equal(na, 2);
    /* linear: 2 s after the first failure, 4 s after the second, measured
     * on the worker's (fake) clock; never sooner, and not much later */
    assert_in_range(again[0] - back[0], 2 * BERTH_US_PER_SEC,
                    2 * BERTH_US_PER_SEC + 500000);
    assert_in_range(again[1] - back[1], 4 * BERTH_US_PER_SEC,
                    4 * BERTH_US_PER_SEC + 500000);
    berth_store_events_free(ev, n);
    fx_free(f);
}

static void test_worker_clock__timeout_kills_in_fake_time(void **state)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "executors: {mock: {duration_ms: 3600000}}\n");
    struct berth_job j;
    struct berth_err err;
    int64_t id;
    (void)state;

    berth_job_init(&j);
    j.image = berth_xstrdup("img");
    j.timeout_seconds = 5;
    assert_int_equal(berth_store_job_submit(f->st, &j, 1, f->ac.now, &id, &err),
                     0);
    berth_job_release(&j);
    run_once(f);
    assert_int_equal(berth_store_job_get(f->st, id, &j, &err), 0);
    assert_int_equal(j.status, BERTH_JOB_TIMED_OUT);
    /* killed 5 s (fake) after it started, not an hour */
    assert_in_range(j.finished_at - j.started_at, 5 * BERTH_US_PER_SEC,
                    5 * BERTH_US_PER_SEC + 500000);
    assert_string_equal(j.last_error, "killed at its timeout of 5s");
    berth_job_release(&j);
    fx_free(f);
}

static void test_worker_clock__exponential_jitter_stays_in_bounds(void **s)
{
    /* (a breaker that never opens: this job alone fails four times) */
    struct fx *f = fx_new("default_executor: mock\n"
                          "circuit_breaker: {failures: 100, cooldown: 1}\n"
                          "executors: {mock: {}}\n");
    struct berth_job_event *ev = NULL;
    struct berth_err err;
    int64_t id, last_back = 0;
    size_t n = 0;
    int seen = 0;
    (void)s;

    id = submit(f, "mock.fail_launch", "transient", 4, BERTH_RETRY_EXPONENTIAL);
    run_once(f);
    assert_int_equal(berth_store_job_events(f->st, id, &ev, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].from == BERTH_JOB_LAUNCHING && ev[i].to == BERTH_JOB_PENDING)
            last_back = ev[i].at;
        if (ev[i].from == BERTH_JOB_PENDING &&
            ev[i].to == BERTH_JOB_LAUNCHING && last_back) {
            /* nominal 2 s, 4 s, 8 s; equal jitter keeps [d/2, d] */
            int64_t d = (2 * BERTH_US_PER_SEC) << seen;
            assert_in_range(ev[i].at - last_back, d / 2, d + 500000);
            seen++;
            last_back = 0;
        }
    }
    assert_int_equal(seen, 3);
    berth_store_events_free(ev, n);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_clock__backoff_waits_in_fake_time),
        cmocka_unit_test(test_worker_clock__timeout_kills_in_fake_time),
        cmocka_unit_test(test_worker_clock__exponential_jitter_stays_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
