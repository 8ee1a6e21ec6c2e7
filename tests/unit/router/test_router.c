/* test_router.c - the ExecutorFactory: availability, host choice, health
 * caching, the circuit breaker, token buckets, instance reuse, and the
 * preferred -> rules -> default order. Time is an injected clock. */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/config.h"
#include "berth/log.h"
#include "berth/router.h"
#include "berth/store.h"

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

struct fx {
    struct fake_clock fc;
    struct berth_clock clock;
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_router *r;
    struct berth_buf logs;
};

static void log_sink(const char *line, void *ctx)
{
    struct berth_buf *b = ctx;
    berth_buf_puts(b, line);
    berth_buf_puts(b, "\n");
}

/* Load a config, sync its hosts into a fresh in-memory store, make a
 * router on the injected clock. */
static struct fx *fx_new(const char *yaml)
{
    struct fx *f = berth_xcalloc(1, sizeof(*f));
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    struct berth_host *hosts = NULL;
    size_t nh = 0;

    f->fc.now = 1000 * BERTH_US_PER_SEC;
    f->clock.now_us = fake_now;
    f->clock.ctx = &f->fc;
    berth_err_init(&err);
    if (berth_config_load_text("test.yaml", yaml, strlen(yaml), &f->cfg,
                               &report, &err) != 0)
        fail_msg("config: %s", berth_buf_cstr(&report));
    berth_buf_release(&report);
    assert_int_equal(berth_store_open("sqlite::memory:", &f->st, &err), 0);
    assert_int_equal(berth_config_hosts(f->cfg, &hosts, &nh, &err), 0);
    for (size_t i = 0; i < nh; i++) {
        assert_int_equal(berth_store_host_put(f->st, &hosts[i], true, &err), 0);
        berth_host_release(&hosts[i]);
    }
    free(hosts);
    assert_int_equal(berth_router_new(f->cfg, &f->clock, &f->r, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    berth_buf_init(&f->logs, 0);
    berth_log_set_sink(log_sink, &f->logs);
    return f;
}

static void fx_free(struct fx *f)
{
    berth_log_set_sink(NULL, NULL);
    berth_router_free(f->r);
    berth_store_free(f->st);
    berth_config_free(f->cfg);
    berth_buf_release(&f->logs);
    free(f);
}

static void job_plain(struct berth_job *j, int64_t id)
{
    berth_job_init(j);
    j->id = id;
    j->image = berth_xstrdup("img");
}

static struct berth_route_result route(struct fx *f, struct berth_job *j)
{
    struct berth_route_result res;
    struct berth_err err;
    berth_err_init(&err);
    assert_int_equal(berth_router_route(f->r, j, NULL, &res, NULL, &err), 0);
    return res;
}

static const char two_hosts[] =
    "default_executor: mock\n"
    "health_check_ttl: 300\n"
    "health_failure_ttl: 30\n"
    "circuit_breaker: {failures: 3, cooldown: 60}\n"
    "executors:\n"
    "  mock: {}\n"
    "  other: {type: mock}\n"
    "hosts:\n"
    "  - {name: a, executor: mock, max_concurrent_jobs: 2, weight: 1}\n"
    "  - {name: b, executor: mock, max_concurrent_jobs: 3, weight: 1}\n"
    "  - {name: o, executor: other, max_concurrent_jobs: 1}\n";

static void test_router__default_fallback_reason_and_most_free_host(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_job j;
    struct berth_route_result res;
    (void)s;

    job_plain(&j, 1);
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_PLACED);
    assert_string_equal(res.executor, "mock");
    assert_string_equal(res.host, "b"); /* 3 free beats 2 free */
    assert_string_equal(res.reason, "Default fallback to mock");
    assert_int_equal(res.rule_index, -1);
    berth_router_note_reserved(f->r, "b", &j);
    res = route(f, &j);
    assert_string_equal(res.host, "a"); /* 2 free vs 2 free: name */
    berth_router_note_reserved(f->r, "a", &j);
    berth_router_note_reserved(f->r, "b", &j);
    berth_router_note_reserved(f->r, "a", &j);
    res = route(f, &j);
    assert_string_equal(res.host, "b"); /* a full (2/2), b 2/3 */
    berth_router_note_reserved(f->r, "b", &j);
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_WAIT);
    assert_non_null(strstr(res.reason, "no executor available now"));
    assert_non_null(strstr(res.reason, "host 'a' is full (2/2 jobs)"));
    assert_non_null(strstr(res.reason, "available executors: other"));
    berth_job_release(&j);
    fx_free(f);
}

/* Every host with room is a candidate, however many the executor has: the
 * healthy one is found behind 69 roomier unhealthy ones. */
static void test_router__many_hosts_all_considered(void **s)
{
    struct berth_buf y = BERTH_BUF_INIT;
    struct berth_route_result res;
    struct berth_job j;
    struct fx *f;
    (void)s;

    berth_buf_puts(&y, "default_executor: mock\n"
                       "executors: {mock: {}}\n"
                       "hosts:\n");
    for (int i = 0; i < 69; i++)
        berth_buf_printf(&y,
                         "  - {name: h%02d, executor: mock, "
                         "max_concurrent_jobs: 9, health_failure_rate: 1.0}\n",
                         i);
    berth_buf_puts(&y, "  - {name: h99, executor: mock, "
                       "max_concurrent_jobs: 1}\n");
    f = fx_new(berth_buf_cstr(&y));
    job_plain(&j, 1);
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_PLACED);
    assert_string_equal(res.host, "h99");
    assert_int_equal(berth_router_health_calls(f->r), 70);
    berth_job_release(&j);
    fx_free(f);
    berth_buf_release(&y);
}

static void test_router__weight_breaks_ties(void **s)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "executors: {mock: {}}\n"
                          "hosts:\n"
                          "  - {name: a, executor: mock, max_concurrent_jobs: "
                          "2, weight: 1}\n"
                          "  - {name: z, executor: mock, max_concurrent_jobs: "
                          "2, weight: 5}\n");
    struct berth_job j;
    (void)s;
    job_plain(&j, 1);
    assert_string_equal(route(f, &j).host, "z");
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__memory_and_cpu_totals(void **s)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "executors: {mock: {}}\n"
                          "hosts:\n"
                          "  - {name: small, executor: mock, "
                          "max_concurrent_jobs: 10, memory_mb: 1024, "
                          "cpu_cores: 2}\n");
    struct berth_job j;
    struct berth_route_result res;
    (void)s;

    job_plain(&j, 1);
    j.memory_mb = 600;
    j.cpu_cores = 1;
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_PLACED);
    berth_router_note_reserved(f->r, "small", &j);
    res = route(f, &j); /* 600 + 600 > 1024 */
    assert_int_equal(res.outcome, BERTH_ROUTE_WAIT);
    assert_non_null(strstr(res.reason, "has 424 MB free, job needs 600"));
    j.memory_mb = 2048; /* can never fit */
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_NEVER);
    assert_non_null(strstr(res.reason, "no executor can ever take this job"));
    assert_non_null(strstr(res.reason, "host 'small' is too small"));
    j.memory_mb = 100;
    j.cpu_cores = 1.5; /* 1 + 1.5 > 2 */
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_WAIT);
    assert_non_null(strstr(res.reason, "CPUs free"));
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__health_cached_for_ttl(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_job j;
    (void)s;

    job_plain(&j, 1);
    route(f, &j);
    assert_int_equal(berth_router_health_calls(f->r), 1);
    f->fc.now += 299 * BERTH_US_PER_SEC;
    route(f, &j);
    assert_int_equal(berth_router_health_calls(f->r), 1);
    f->fc.now += 2 * BERTH_US_PER_SEC;
    route(f, &j);
    assert_int_equal(berth_router_health_calls(f->r), 2);
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__failed_health_cached_shorter_and_skipped(void **s)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "health_check_ttl: 300\n"
                          "health_failure_ttl: 30\n"
                          "executors:\n"
                          "  mock: {health_failure_rate: 1.0}\n");
    struct berth_job j;
    struct berth_route_result res;
    (void)s;

    job_plain(&j, 1);
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_WAIT);
    assert_non_null(strstr(res.reason, "host 'mock' is unhealthy"));
    assert_int_equal(berth_router_health_calls(f->r), 1);
    f->fc.now += 29 * BERTH_US_PER_SEC;
    route(f, &j);
    assert_int_equal(berth_router_health_calls(f->r), 1);
    f->fc.now += 2 * BERTH_US_PER_SEC;
    route(f, &j);
    assert_int_equal(berth_router_health_calls(f->r), 2);
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__circuit_breaker_opens_and_recovers(void **s)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "circuit_breaker: {failures: 3, cooldown: 60}\n"
                          "executors: {mock: {}}\n");
    struct berth_job j;
    struct berth_route_result res;
    (void)s;

    job_plain(&j, 1);
    berth_router_launch_result(f->r, "mock", false);
    berth_router_launch_result(f->r, "mock", false);
    assert_int_equal(route(f, &j).outcome, BERTH_ROUTE_PLACED);
    berth_router_launch_result(f->r, "mock", false);
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_WAIT);
    assert_non_null(strstr(res.reason, "circuit breaker open"));
    f->fc.now += 59 * BERTH_US_PER_SEC;
    assert_int_equal(route(f, &j).outcome, BERTH_ROUTE_WAIT);
    f->fc.now += 2 * BERTH_US_PER_SEC;
    /* half-open: one launch may try */
    assert_int_equal(route(f, &j).outcome, BERTH_ROUTE_PLACED);
    berth_router_launch_result(f->r, "mock", false);
    assert_int_equal(route(f, &j).outcome, BERTH_ROUTE_WAIT);
    f->fc.now += 61 * BERTH_US_PER_SEC;
    berth_router_launch_result(f->r, "mock", true);
    berth_router_launch_result(f->r, "mock", false);
    assert_int_equal(route(f, &j).outcome, BERTH_ROUTE_PLACED);
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__preferred_wins_and_unavailable_is_skipped(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_job j;
    struct berth_route_result res;
    struct berth_err err;
    (void)s;

    job_plain(&j, 7);
    j.preferred_executor = berth_xstrdup("other");
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_PLACED);
    assert_string_equal(res.executor, "other");
    assert_string_equal(res.reason, "Preferred executor: other");
    berth_router_note_reserved(f->r, "o", &j); /* other is now full */
    res = route(f, &j);
    assert_string_equal(res.executor, "mock");
    assert_string_equal(res.reason, "Default fallback to mock");
    assert_non_null(strstr(berth_buf_cstr(&f->logs),
                           "msg=\"preferred executor unavailable\" job=7 "
                           "executor=other"));
    /* disabled by the operator: skipped the same way */
    berth_err_init(&err);
    assert_int_equal(berth_store_host_set_enabled(f->st, "o", false, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    res = route(f, &j);
    assert_string_equal(res.executor, "mock");
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__never_when_every_candidate_disabled(void **s)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "executors:\n"
                          "  mock: {enabled: false}\n"
                          "  other: {type: mock}\n");
    struct berth_job j;
    struct berth_route_result res;
    (void)s;
    job_plain(&j, 1);
    res = route(f, &j);
    assert_int_equal(res.outcome, BERTH_ROUTE_NEVER);
    assert_non_null(strstr(res.reason, "executor 'mock' is disabled"));
    assert_non_null(strstr(res.reason, "available executors: other"));
    free(j.preferred_executor);
    j.preferred_executor = berth_xstrdup("other");
    assert_int_equal(route(f, &j).outcome, BERTH_ROUTE_PLACED);
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__excluded_host_is_skipped(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_job j;
    struct berth_route_result res;
    struct berth_err err;
    const char *ex_hosts[] = {"b"};
    struct berth_route_exclude ex = {ex_hosts, 1};
    (void)s;

    job_plain(&j, 1);
    berth_err_init(&err);
    assert_int_equal(berth_router_route(f->r, &j, &ex, &res, NULL, &err), 0);
    assert_string_equal(res.host, "a");
    berth_job_release(&j);
    fx_free(f);
}

static void test_router__instances_created_once_and_released(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_exec *e1, *e2;
    struct berth_err err;
    struct berth_job j;
    (void)s;

    berth_err_init(&err);
    job_plain(&j, 1);
    route(f, &j); /* health check creates b's instance */
    assert_int_equal(berth_router_instances_created(f->r), 1);
    assert_int_equal(berth_router_instance_get(f->r, "b", &e1, &err), 0);
    assert_int_equal(berth_router_instance_get(f->r, "b", &e2, &err), 0);
    assert_ptr_equal(e1, e2);
    assert_int_equal(berth_router_instances_created(f->r), 1);
    assert_int_equal(berth_router_instance_get(f->r, "a", &e2, &err), 0);
    assert_int_equal(berth_router_instances_created(f->r), 2);
    berth_router_instance_put(f->r, "a");
    /* disable a: its unreferenced instance goes; a new one on re-enable */
    assert_int_equal(berth_store_host_set_enabled(f->st, "a", false, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    assert_int_equal(berth_store_host_set_enabled(f->st, "a", true, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    assert_int_equal(berth_router_instance_get(f->r, "a", &e2, &err), 0);
    assert_int_equal(berth_router_instances_created(f->r), 3);
    berth_router_instance_put(f->r, "a");
    /* b is held twice: removing... disabling it keeps the instance alive */
    assert_int_equal(berth_store_host_set_enabled(f->st, "b", false, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    assert_int_equal(berth_exec_health(e1, &err), 0); /* still usable */
    berth_router_instance_put(f->r, "b");
    berth_router_instance_put(f->r, "b");
    berth_job_release(&j);
    fx_free(f);
}

/* A host redefined with a URL where it had none (or the other way) is a new
 * place: its instance is made again. */
static void test_router__url_given_later_makes_a_new_instance(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_exec *e;
    struct berth_err err;
    struct berth_host h;
    (void)s;

    berth_err_init(&err);
    assert_int_equal(berth_router_instance_get(f->r, "a", &e, &err), 0);
    berth_router_instance_put(f->r, "a");
    assert_int_equal(berth_router_instances_created(f->r), 1);

    berth_host_init(&h);
    h.name = berth_xstrdup("a");
    h.executor = berth_xstrdup("mock");
    h.url = berth_xstrdup("mock://elsewhere");
    h.max_concurrent_jobs = 2;
    h.weight = 1;
    h.enabled = true;
    assert_int_equal(berth_store_host_put(f->st, &h, true, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    assert_int_equal(berth_router_instance_get(f->r, "a", &e, &err), 0);
    berth_router_instance_put(f->r, "a");
    assert_int_equal(berth_router_instances_created(f->r), 2);

    free(h.url);
    h.url = NULL;
    assert_int_equal(berth_store_host_put(f->st, &h, true, &err), 0);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);
    assert_int_equal(berth_router_instance_get(f->r, "a", &e, &err), 0);
    berth_router_instance_put(f->r, "a");
    assert_int_equal(berth_router_instances_created(f->r), 3);
    berth_host_release(&h);
    fx_free(f);
}

/* A host redefined while its instance is held: the holders keep the old
 * instance until they let it go; new users get one for the new definition. */
static void test_router__redefined_host_in_use_gets_a_new_instance(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_exec *old, *e;
    struct berth_err err;
    struct berth_host h;
    (void)s;

    berth_err_init(&err);
    assert_int_equal(berth_router_instance_get(f->r, "a", &old, &err), 0);
    berth_host_init(&h);
    h.name = berth_xstrdup("a");
    h.executor = berth_xstrdup("mock");
    h.url = berth_xstrdup("mock://elsewhere");
    h.max_concurrent_jobs = 2;
    h.weight = 1;
    h.enabled = true;
    assert_int_equal(berth_store_host_put(f->st, &h, true, &err), 0);
    berth_host_release(&h);
    assert_int_equal(berth_router_sync(f->r, f->st, &err), 0);

    assert_int_equal(berth_router_instance_get(f->r, "a", &e, &err), 0);
    assert_true(e != old);
    assert_int_equal(berth_router_instances_created(f->r), 2);
    assert_int_equal(berth_exec_health(old, &err), 0); /* still usable */
    berth_router_instance_release(f->r, "a", old);
    /* the current instance is still the new one, and still held once */
    assert_int_equal(berth_router_instance_get(f->r, "a", &old, &err), 0);
    assert_ptr_equal(old, e);
    berth_router_instance_release(f->r, "a", old);
    berth_router_instance_release(f->r, "a", e);
    assert_int_equal(berth_router_instances_created(f->r), 2);
    fx_free(f);
}

static void test_router__token_bucket(void **s)
{
    struct fx *f = fx_new("default_executor: mock\n"
                          "executors:\n"
                          "  mock: {launch_rate: 20, launch_burst: 50}\n");
    int64_t wait;
    int taken = 0;
    (void)s;

    while (berth_router_take_token(f->r, "mock", &wait))
        taken++;
    assert_int_equal(taken, 50);
    assert_in_range(wait, 49000, 50001); /* one token per 50 ms */
    f->fc.now += BERTH_US_PER_SEC;
    taken = 0;
    while (berth_router_take_token(f->r, "mock", &wait))
        taken++;
    assert_int_equal(taken, 20);
    f->fc.now += 3600 * BERTH_US_PER_SEC; /* never above the burst */
    taken = 0;
    while (berth_router_take_token(f->r, "mock", &wait))
        taken++;
    assert_int_equal(taken, 50);
    /* executors without launch_rate always have tokens */
    assert_true(berth_router_take_token(f->r, "nolimit", &wait));
    fx_free(f);
}

static void test_router__explain_trace_lists_every_step(void **s)
{
    struct fx *f = fx_new(two_hosts);
    struct berth_job j;
    struct berth_route_result res;
    struct berth_route_trace tr;
    struct berth_err err;
    (void)s;

    job_plain(&j, 1);
    j.preferred_executor = berth_xstrdup("nonesuch");
    berth_route_trace_init(&tr);
    berth_err_init(&err);
    assert_int_equal(berth_router_route(f->r, &j, NULL, &res, &tr, &err), 0);
    assert_int_equal(res.outcome, BERTH_ROUTE_PLACED);
    assert_int_equal(tr.n, 2);
    assert_int_equal(tr.steps[0].kind, BERTH_STEP_PREFERRED);
    assert_false(tr.steps[0].available);
    assert_string_equal(tr.steps[0].why,
                        "executor 'nonesuch' is not configured");
    assert_int_equal(tr.steps[1].kind, BERTH_STEP_DEFAULT);
    assert_true(tr.steps[1].available);
    assert_string_equal(tr.steps[1].host, "b");
    /* explain makes no log line */
    assert_null(strstr(berth_buf_cstr(&f->logs), "job routed"));
    berth_route_trace_release(&tr);
    berth_job_release(&j);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_router__default_fallback_reason_and_most_free_host),
        cmocka_unit_test(test_router__weight_breaks_ties),
        cmocka_unit_test(test_router__memory_and_cpu_totals),
        cmocka_unit_test(test_router__many_hosts_all_considered),
        cmocka_unit_test(test_router__health_cached_for_ttl),
        cmocka_unit_test(test_router__failed_health_cached_shorter_and_skipped),
        cmocka_unit_test(test_router__circuit_breaker_opens_and_recovers),
        cmocka_unit_test(
            test_router__preferred_wins_and_unavailable_is_skipped),
        cmocka_unit_test(test_router__never_when_every_candidate_disabled),
        cmocka_unit_test(test_router__excluded_host_is_skipped),
        cmocka_unit_test(test_router__instances_created_once_and_released),
        cmocka_unit_test(test_router__url_given_later_makes_a_new_instance),
        cmocka_unit_test(
            test_router__redefined_host_in_use_gets_a_new_instance),
        cmocka_unit_test(test_router__token_bucket),
        cmocka_unit_test(test_router__explain_trace_lists_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
