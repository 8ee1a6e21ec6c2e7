/* cmd_explain.c - `berth explain` (dry-run routing, every step) and
 * `berth executors` (health and capacity per executor and host). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth/router.h"
#include "cli.h"

static const char *outcome_str(enum berth_route_outcome o)
{
    switch (o) {
    case BERTH_ROUTE_PLACED:
        return "placed";
    case BERTH_ROUTE_WAIT:
        return "wait";
    default:
        return "never";
    }
}

static const char *kind_str(enum berth_route_step_kind k)
{
    switch (k) {
    case BERTH_STEP_PREFERRED:
        return "preferred";
    case BERTH_STEP_RULE:
        return "rule";
    default:
        return "default";
    }
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void print_explain(const struct berth_job *job,
                          const struct berth_route_result *res,
                          const struct berth_route_trace *tr, bool json)
{
    bool waiting = job->status == BERTH_JOB_PENDING && job->wait_reason &&
                   *job->wait_reason;
    if (json) {
        json_t *o = json_object(), *steps = json_array();
        bool placed = res->outcome == BERTH_ROUTE_PLACED;
        json_object_set_new(o, "job",
                            job->id ? json_integer(job->id) : json_null());
        json_object_set_new(o, "outcome",
                            json_string(outcome_str(res->outcome)));
        json_object_set_new(o, "executor",
                            placed ? json_string(res->executor) : json_null());
        json_object_set_new(o, "host",
                            placed ? json_string(res->host) : json_null());
        json_object_set_new(o, "reason", json_string(res->reason));
        json_object_set_new(o, "rule_index",
                            res->rule_index >= 0 ? json_integer(res->rule_index)
                                                 : json_null());
        json_object_set_new(o, "waiting",
                            waiting ? json_string(job->wait_reason)
                                    : json_null());
        json_object_set_new(o, "elapsed_us", json_integer(res->elapsed_us));
        for (size_t i = 0; i < tr->n; i++) {
            const struct berth_route_step *s = &tr->steps[i];
            json_t *so = json_object();
            json_object_set_new(so, "kind", json_string(kind_str(s->kind)));
            json_object_set_new(so, "rule_index",
                                s->rule_index >= 0 ? json_integer(s->rule_index)
                                                   : json_null());
            json_object_set_new(so, "condition", str_or_null(s->condition));
            json_object_set_new(so, "matched", json_boolean(s->matched));
            json_object_set_new(so, "error", str_or_null(s->eval_error));
            json_object_set_new(so, "executor", str_or_null(s->executor));
            json_object_set_new(so, "available", json_boolean(s->available));
            json_object_set_new(so, "host", str_or_null(s->host));
            json_object_set_new(so, "why", json_string(s->why ? s->why : ""));
            json_object_set_new(so, "note", str_or_null(s->note));
            json_array_append_new(steps, so);
        }
        json_object_set_new(o, "steps", steps);
        cli_print_json(o);
        return;
    }
    if (job->id)
        printf("job %" PRId64 "\n", job->id);
    for (size_t i = 0; i < tr->n; i++) {
        const struct berth_route_step *s = &tr->steps[i];
        printf("  %zu. %-9s", i + 1, kind_str(s->kind));
        if (s->kind == BERTH_STEP_RULE)
            printf(" [%d] %s -> %s: %s", s->rule_index, s->condition,
                   s->executor,
                   s->eval_error ? "error"
                   : s->matched  ? "matched"
                                 : "no match");
        else
            printf(" %s", s->executor ? s->executor : "-");
        if (s->eval_error)
            printf(" (%s)", s->eval_error);
        if (s->matched && !s->eval_error) {
            if (s->available)
                printf("; available (host %s)", s->host);
            else
                printf("; not available: %s", s->why);
        }
        if (s->note && s->matched && !s->eval_error)
            printf("; %s", s->note);
        printf("\n");
    }
    if (res->outcome == BERTH_ROUTE_PLACED)
        printf("=> %s on host %s: %s\n", res->executor, res->host, res->reason);
    else
        printf("=> %s: %s\n",
               res->outcome == BERTH_ROUTE_NEVER ? "fails" : "waits",
               res->reason);
    if (waiting)
        printf("waiting: %s\n", job->wait_reason);
}

int cmd_explain(struct cli *c, int argc, char **argv)
{
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_router *r = NULL;
    struct berth_route_result res;
    struct berth_route_trace tr;
    struct berth_job job;
    struct berth_err err;
    bool json = false;
    int64_t id = 0;
    int rc;

    /* `explain ID [--json]` or submit-style flags. */
    if (argc >= 2 && berth_parse_i64(argv[1], 1, INT64_MAX, &id) == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0)
                json = true;
            else
                return cli_usage_error("explain", "unexpected argument '%s'",
                                       argv[i]);
        }
        rc = cli_store(c, &st);
        if (rc)
            return rc;
        berth_err_init(&err);
        if (berth_store_job_get(st, id, &job, &err) != 0)
            return cli_fail("job %" PRId64 ": %s", id, err.msg);
    } else {
        struct submit_extra x;
        rc = cli_job_from_flags(c, "explain", argc, argv, &job, &x);
        if (rc)
            return rc;
        json = x.json;
        rc = cli_store(c, &st);
        if (rc) {
            berth_job_release(&job);
            return rc;
        }
    }
    rc = cli_config(c, &cfg);
    if (rc) {
        berth_job_release(&job);
        return rc;
    }
    berth_err_init(&err);
    berth_route_trace_init(&tr);
    if (berth_router_new(cfg, NULL, &r, &err) != 0 ||
        berth_router_sync(r, st, &err) != 0 ||
        berth_router_route(r, &job, NULL, &res, &tr, &err) != 0) {
        rc = cli_fail("cannot explain: %s", err.msg);
    } else {
        print_explain(&job, &res, &tr, json);
    }
    berth_route_trace_release(&tr);
    berth_router_free(r);
    berth_job_release(&job);
    return rc;
}

int cmd_executors(struct cli *c, int argc, char **argv)
{
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_router *r = NULL;
    struct berth_router_host_info *hosts = NULL;
    struct berth_err err;
    bool json = false;
    size_t n;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return cli_usage_error("executors", "unexpected argument '%s'",
                                   argv[i]);
    }
    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (berth_router_new(cfg, NULL, &r, &err) != 0 ||
        berth_router_sync(r, st, &err) != 0)
        return cli_fail("cannot read executors: %s", err.msg);
    n = berth_router_hosts(r, true, NULL, 0);
    hosts = berth_xcalloc(n ? n : 1, sizeof(*hosts));
    n = berth_router_hosts(r, true, hosts, n);

    if (json) {
        json_t *a = json_array();
        for (size_t e = 0; e < cfg->n_executors; e++) {
            const struct berth_executor_conf *ec = &cfg->executors[e];
            json_t *o = json_object(), *ha = json_array();
            int64_t tot = 0, used = 0;
            json_object_set_new(o, "name", json_string(ec->name));
            json_object_set_new(o, "type", json_string(ec->type));
            json_object_set_new(o, "enabled", json_boolean(ec->enabled));
            if (berth_opts_find(&ec->opts, "launch_rate")) {
                json_object_set_new(
                    o, "launch_rate",
                    json_real(berth_opts_num(&ec->opts, "launch_rate", 0)));
                json_object_set_new(
                    o, "launch_burst",
                    json_real(berth_opts_num(&ec->opts, "launch_burst", 0)));
            }
            for (size_t i = 0; i < n; i++) {
                const struct berth_router_host_info *h = &hosts[i];
                json_t *ho;
                if (strcmp(h->executor, ec->name) != 0)
                    continue;
                ho = json_object();
                json_object_set_new(ho, "name", json_string(h->name));
                json_object_set_new(ho, "enabled", json_boolean(h->enabled));
                json_object_set_new(ho, "healthy",
                                    h->health < 0 ? json_null()
                                                  : json_boolean(h->health));
                json_object_set_new(
                    ho, "health_age_seconds",
                    h->health_age_us < 0
                        ? json_null()
                        : json_real((double)h->health_age_us / 1e6));
                json_object_set_new(ho, "health_error",
                                    h->health == 0 ? json_string(h->health_msg)
                                                   : json_null());
                json_object_set_new(ho, "breaker_open",
                                    json_boolean(h->breaker_open));
                json_object_set_new(ho, "capacity", json_integer(h->max_jobs));
                json_object_set_new(ho, "used", json_integer(h->used_jobs));
                json_object_set_new(
                    ho, "free",
                    json_integer(h->max_jobs > h->used_jobs
                                     ? h->max_jobs - h->used_jobs
                                     : 0));
                json_object_set_new(ho, "memory_mb",
                                    json_integer(h->memory_mb));
                json_object_set_new(ho, "used_memory_mb",
                                    json_integer(h->used_memory_mb));
                json_object_set_new(ho, "cpu_cores", json_real(h->cpu_cores));
                json_object_set_new(ho, "used_cpu_cores",
                                    json_real(h->used_cpu_cores));
                json_array_append_new(ha, ho);
                if (h->enabled) {
                    tot += h->max_jobs;
                    used += h->used_jobs;
                }
            }
            json_object_set_new(o, "capacity", json_integer(tot));
            json_object_set_new(o, "used", json_integer(used));
            json_object_set_new(o, "free",
                                json_integer(tot > used ? tot - used : 0));
            json_object_set_new(o, "hosts", ha);
            json_array_append_new(a, o);
        }
        cli_print_json(a);
    } else {
        printf("%-12s %-9s %-16s %-8s %-10s %8s %6s  %s\n", "EXECUTOR", "TYPE",
               "HOST", "ENABLED", "HEALTHY", "USED/MAX", "FREE", "NOTE");
        for (size_t i = 0; i < n; i++) {
            const struct berth_router_host_info *h = &hosts[i];
            char used[32], health[32];
            snprintf(used, sizeof(used), "%" PRId64 "/%" PRId64, h->used_jobs,
                     h->max_jobs);
            if (h->health < 0)
                snprintf(health, sizeof(health), "?");
            else
                snprintf(health, sizeof(health), "%s(%.0fs)",
                         h->health ? "yes" : "no",
                         (double)h->health_age_us / 1e6);
            printf("%-12s %-9s %-16s %-8s %-10s %8s %6" PRId64 "  %s%s\n",
                   h->executor, h->type, h->name,
                   h->executor_enabled && h->enabled ? "yes" : "no", health,
                   used,
                   h->max_jobs > h->used_jobs ? h->max_jobs - h->used_jobs : 0,
                   h->breaker_open ? "breaker open; " : "",
                   h->health == 0 ? h->health_msg : "");
        }
    }
    free(hosts);
    berth_router_free(r);
    return CLI_OK;
}
