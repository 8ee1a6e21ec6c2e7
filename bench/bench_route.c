/*
 * bench_route.c - routing decisions per second (issue 4), with the SQLite
 * store: N jobs across H hosts, seven rules, health and capacity lookups.
 *
 *   bench_route [--jobs N] [--hosts H] [--dir DIR]
 *
 * Three figures, each timed separately:
 *   decide   berth_router_route() alone: rules, availability, host choice
 *            (health answers are cached after the first check per host)
 *   place    decide + berth_store_apply() reserving the slot (pending ->
 *            launching) in batches of 256, as the worker does
 *   floor    the same store batches without any routing: the baseline the
 *            "place" figure is compared with, measured in the same run
 *
 * Prints one line per figure: decisions/s and ns per decision.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/config.h"
#include "berth/log.h"
#include "berth/router.h"
#include "berth/store.h"

static void die(const char *what, const struct berth_err *err)
{
    fprintf(stderr, "bench_route: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static char *config_text(int hosts)
{
    struct berth_buf b = BERTH_BUF_INIT;
    berth_buf_puts(&b, "default_executor: docker\n"
                       "executors:\n"
                       "  docker: {type: mock}\n"
                       "  cloudrun: {type: mock}\n"
                       "  fargate: {type: mock}\n"
                       "  mock: {}\n"
                       "users:\n"
                       "  alice: {groups: [premium]}\n"
                       "hosts:\n");
    for (int i = 0; i < hosts; i++) {
        static const char *const ex[] = {"docker", "cloudrun", "fargate",
                                         "mock"};
        berth_buf_printf(&b,
                         "  - {name: h%02d, executor: %s, "
                         "max_concurrent_jobs: 100000, weight: %d}\n",
                         i, ex[i % 4], 1 + i % 3);
    }
    berth_buf_puts(
        &b,
        "routing_rules:\n"
        "  - {condition: 'memory_mb > 8192', executor: fargate, priority: 1}\n"
        "  - {condition: 'cpu_cores > 4.0', executor: fargate, priority: 2}\n"
        "  - {condition: 'timeout_seconds > 3600', executor: fargate,"
        " priority: 3}\n"
        "  - {condition: 'template.name.startswith(\"ml-\")', executor: "
        "fargate, priority: 4}\n"
        "  - {condition: 'template.name.startswith(\"batch-\")', executor: "
        "cloudrun, priority: 5}\n"
        "  - {condition: 'user and "
        "user.groups.filter(name=\"premium\").exists()', executor: cloudrun,"
        " priority: 6}\n"
        "  - {condition: 'template.name.startswith(\"test-\")', executor: "
        "mock, priority: 7}\n");
    return berth_buf_detach(&b);
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void make_job(struct berth_job *j)
{
    static const char *const tmpl[] = {"ml-train", "batch-report", "test-smoke",
                                       "etl", NULL};
    const char *t;
    berth_job_init(j);
    j->image = berth_xstrdup("img");
    j->memory_mb = (int64_t)(next() % 16384);
    j->cpu_cores = (double)(next() % 80) / 10.0;
    j->timeout_seconds = (int64_t)(next() % 7200);
    t = tmpl[next() % 5];
    if (t)
        j->template_name = berth_xstrdup(t);
    if (next() % 4 == 0) {
        j->user = berth_xstrdup(next() % 2 ? "alice" : "bob");
    }
}

int main(int argc, char **argv)
{
    int njobs = 10000, nhosts = 20;
    const char *dir = "/tmp";
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_router *r;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    struct berth_host *hosts;
    struct berth_job *jobs;
    struct berth_job_update *ups;
    struct berth_route_result *res;
    size_t nh;
    int64_t first, t0, t_decide, t_place, t_floor, now;
    char *text, *url;

    for (int i = 1; i + 1 < argc; i += 2) {
        int64_t v;
        if (strcmp(argv[i], "--jobs") == 0 &&
            berth_parse_i64(argv[i + 1], 1, 100000000, &v) == 0)
            njobs = (int)v;
        else if (strcmp(argv[i], "--hosts") == 0 &&
                 berth_parse_i64(argv[i + 1], 1, 10000, &v) == 0)
            nhosts = (int)v;
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
    }
    berth_log_set_level(BERTH_LOG_ERROR);
    berth_err_init(&err);
    text = config_text(nhosts);
    if (berth_config_load_text("bench.yaml", text, strlen(text), &cfg, &report,
                               &err))
        die(berth_buf_cstr(&report), NULL);
    url = berth_xasprintf("sqlite:%s/bench_route.db", dir);
    {
        char *p = berth_xasprintf("%s/bench_route.db", dir);
        unlink(p);
        char *w = berth_xasprintf("%s-wal", p);
        unlink(w);
        free(w);
        w = berth_xasprintf("%s-shm", p);
        unlink(w);
        free(w);
        free(p);
    }
    if (berth_store_open(url, &st, &err))
        die("open", &err);
    if (berth_config_hosts(cfg, &hosts, &nh, &err))
        die("hosts", &err);
    for (size_t i = 0; i < nh; i++)
        if (berth_store_host_put(st, &hosts[i], true, &err))
            die("host put", &err);
    berth_store_hosts_free(hosts, nh);

    jobs = berth_xcalloc((size_t)njobs, sizeof(*jobs));
    res = berth_xcalloc((size_t)njobs, sizeof(*res));
    ups = berth_xcalloc((size_t)njobs, sizeof(*ups));
    now = berth_now_us();
    for (int i = 0; i < njobs; i++) {
        make_job(&jobs[i]);
        if (berth_store_job_submit(st, &jobs[i], 1, now, &first, &err))
            die("submit", &err);
        jobs[i].id = first;
    }
    if (berth_router_new(cfg, NULL, &r, &err) || berth_router_sync(r, st, &err))
        die("router", &err);

    /* decide */
    t0 = berth_mono_us();
    for (int i = 0; i < njobs; i++)
        if (berth_router_route(r, &jobs[i], NULL, &res[i], NULL, &err))
            die("route", &err);
    t_decide = berth_mono_us() - t0;

    /* place: decide + reserve in batches, as the worker does */
    t0 = berth_mono_us();
    for (int base = 0; base < njobs; base += 256) {
        int n = njobs - base < 256 ? njobs - base : 256;
        size_t applied;
        for (int k = 0; k < n; k++) {
            struct berth_job_update *u = &ups[base + k];
            struct berth_route_result *rr = &res[base + k];
            if (berth_router_route(r, &jobs[base + k], NULL, rr, NULL, &err))
                die("route", &err);
            memset(u, 0, sizeof(*u));
            u->job_id = jobs[base + k].id;
            u->from = BERTH_JOB_PENDING;
            u->to = BERTH_JOB_LAUNCHING;
            u->attempt = 1;
            u->reason = rr->reason;
            u->set = BERTH_UPD_PLACEMENT;
            u->executor = rr->executor;
            u->host = rr->host;
            u->routing_reason = rr->reason;
            u->rule_index = rr->rule_index;
        }
        if (berth_store_apply(st, &ups[base], (size_t)n, berth_now_us(),
                              &applied, &err))
            die("apply", &err);
        if ((int)applied != n)
            die("apply refused some placements", NULL);
        for (int k = 0; k < n; k++)
            berth_router_note_reserved(r, res[base + k].host, &jobs[base + k]);
    }
    t_place = berth_mono_us() - t0;

    /* floor: the same store work, no routing (launching -> pending and
     * back would need two batches; instead place the jobs again after
     * returning them, timing only the placing batches) */
    for (int base = 0; base < njobs; base += 256) {
        int n = njobs - base < 256 ? njobs - base : 256;
        size_t applied;
        for (int k = 0; k < n; k++) {
            struct berth_job_update *u = &ups[base + k];
            u->from = BERTH_JOB_LAUNCHING;
            u->to = BERTH_JOB_PENDING;
            u->set = 0;
            u->reason = "bench: back";
        }
        if (berth_store_apply(st, &ups[base], (size_t)n, berth_now_us(),
                              &applied, &err))
            die("apply back", &err);
    }
    t0 = berth_mono_us();
    for (int base = 0; base < njobs; base += 256) {
        int n = njobs - base < 256 ? njobs - base : 256;
        size_t applied;
        for (int k = 0; k < n; k++) {
            struct berth_job_update *u = &ups[base + k];
            u->from = BERTH_JOB_PENDING;
            u->to = BERTH_JOB_LAUNCHING;
            u->set = BERTH_UPD_PLACEMENT;
            u->reason = res[base + k].reason;
        }
        if (berth_store_apply(st, &ups[base], (size_t)n, berth_now_us(),
                              &applied, &err))
            die("apply floor", &err);
    }
    t_floor = berth_mono_us() - t0;

    printf("decide %d jobs %d hosts: %.0f decisions/s, %.0f ns/decision\n",
           njobs, nhosts, njobs / ((double)t_decide / 1e6),
           (double)t_decide * 1000.0 / njobs);
    printf("place  %d jobs %d hosts: %.0f decisions/s, %.0f ns/decision\n",
           njobs, nhosts, njobs / ((double)t_place / 1e6),
           (double)t_place * 1000.0 / njobs);
    printf("floor  %d jobs (store only): %.0f placements/s, %.0f ns each\n",
           njobs, njobs / ((double)t_floor / 1e6),
           (double)t_floor * 1000.0 / njobs);
    printf("health checks made: %zu\n", berth_router_health_calls(r));

    for (int i = 0; i < njobs; i++)
        berth_job_release(&jobs[i]);
    free(jobs);
    free(res);
    free(ups);
    berth_router_free(r);
    berth_store_free(st);
    berth_config_free(cfg);
    berth_buf_release(&report);
    free(text);
    free(url);
    return 0;
}
