/* cmd_jobs.c - read-only views of jobs: `jobs`, `job`, `logs`, `stats`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "berth/exec.h"
#include "berth/router.h"
#include "cli.h"

static const char jobs_help[] =
    "usage: berth jobs [--status S] [--executor T] [--template T] "
    "[--limit N] [--json]\n"
    "\n"
    "List jobs, oldest first, the newest N (default 100; 0 = all).\n";

int cmd_jobs(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, 's'},
        {"executor", required_argument, NULL, 'e'},
        {"template", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_store *st;
    struct berth_job *v = NULL;
    struct berth_err err;
    bool json = false;
    int64_t limit = 100;
    size_t n = 0;
    int opt, rc;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        enum berth_job_state s;
        switch (opt) {
        case 's':
            if (berth_job_state_parse(optarg, &s) != 0)
                return cli_usage_error("jobs",
                                       "--status '%s': expected pending, "
                                       "launching, running, completed, "
                                       "failed, timed_out or cancelled",
                                       optarg);
            f.status = (int)s;
            break;
        case 'e':
            f.executor = optarg;
            break;
        case 't':
            f.template_name = optarg;
            break;
        case 'n':
            if (berth_parse_i64(optarg, 0, INT64_C(100000000), &limit) != 0)
                return cli_usage_error("jobs",
                                       "--limit '%s': expected an "
                                       "integer >= 0",
                                       optarg);
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(jobs_help, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("jobs", "unknown option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("jobs", "unexpected argument '%s'",
                               argv[optind]);
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    f.limit = (size_t)limit;
    f.newest_first = limit > 0;
    berth_err_init(&err);
    if (berth_store_job_list(st, &f, &v, &n, &err) != 0)
        return cli_fail("cannot list jobs: %s", err.msg);
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            size_t k = f.newest_first ? n - 1 - i : i;
            json_array_append_new(a, cli_job_json(&v[k]));
        }
        cli_print_json(a);
    } else {
        printf("%-8s %-10s %-10s %-12s %4s %5s  %s\n", "ID", "STATUS",
               "EXECUTOR", "HOST", "PRIO", "EXIT", "REASON");
        for (size_t i = 0; i < n; i++) {
            const struct berth_job *j = &v[f.newest_first ? n - 1 - i : i];
            char code[16] = "-";
            const char *why = j->routing_reason;
            if (j->has_exit_code)
                snprintf(code, sizeof(code), "%d", j->exit_code);
            if (j->status == BERTH_JOB_PENDING && j->wait_reason)
                why = j->wait_reason;
            else if ((j->status == BERTH_JOB_FAILED ||
                      j->status == BERTH_JOB_TIMED_OUT) &&
                     j->last_error && !j->routing_reason)
                why = j->last_error;
            printf("%-8" PRId64 " %-10s %-10s %-12s %4d %5s  %s\n", j->id,
                   berth_job_state_str(j->status),
                   j->executor ? j->executor : "-", j->host ? j->host : "-",
                   j->priority, code, why ? why : "-");
        }
    }
    berth_store_jobs_free(v, n);
    return CLI_OK;
}

/*
 * `CMD ID [FLAG]`: exactly one job id and one optional flag (long and
 * short spelling), anywhere among the arguments. CLI_OK or CLI_USAGE.
 */
static int one_id(const char *cmd, int argc, char **argv, const char *flag,
                  const char *short_flag, bool *flag_set, int64_t *id)
{
    int rc;
    *flag_set = false;
    *id = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], flag) == 0 ||
            (short_flag && strcmp(argv[i], short_flag) == 0))
            *flag_set = true;
        else if (argv[i][0] == '-')
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (*id)
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        else if ((rc = cli_parse_id(cmd, argv[i], id)) != 0)
            return rc;
    }
    if (!*id)
        return cli_usage_error(cmd, "missing job ID");
    return CLI_OK;
}

static const char job_help[] =
    "usage: berth job ID [--json]\n"
    "\n"
    "Show one job: its fields, routing reason and history of events.\n";

int cmd_job(struct cli *c, int argc, char **argv)
{
    struct berth_store *st;
    struct berth_job j;
    struct berth_job_event *ev = NULL;
    struct berth_err err;
    size_t nev = 0;
    bool json = false;
    int64_t id = 0;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(job_help, stdout);
            return CLI_OK;
        }
    }
    if ((rc = one_id("job", argc, argv, "--json", NULL, &json, &id)) != 0)
        return rc;
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (berth_store_job_get(st, id, &j, &err) != 0)
        return cli_fail("job %" PRId64 ": %s", id, err.msg);
    if (berth_store_job_events(st, id, &ev, &nev, &err) != 0) {
        berth_job_release(&j);
        return cli_fail("job %" PRId64 ": events: %s", id, err.msg);
    }
    if (json) {
        json_t *o = cli_job_json(&j), *a = json_array();
        for (size_t i = 0; i < nev; i++)
            json_array_append_new(a, cli_event_json(&ev[i]));
        json_object_set_new(o, "events", a);
        cli_print_json(o);
    } else {
        char t1[BERTH_TIME_STR_MAX];
        printf("job %" PRId64 "%s%s\n", j.id, j.name ? "  " : "",
               j.name ? j.name : "");
        printf("  status:      %s", berth_job_state_str(j.status));
        if (j.has_exit_code)
            printf(" (exit %d%s)", j.exit_code,
                   j.oom_killed ? ", out of memory" : "");
        printf("\n  attempt:     %d of %d\n", j.attempt, j.max_attempts);
        printf("  image:       %s\n", j.image ? j.image : "-");
        if (j.command.n) {
            printf("  command:    ");
            for (size_t i = 0; i < j.command.n; i++)
                printf(" %s", j.command.v[i]);
            printf("\n");
        }
        printf("  template:    %s\n", j.template_name ? j.template_name : "-");
        printf("  executor:    %s  host: %s\n", j.executor ? j.executor : "-",
               j.host ? j.host : "-");
        printf("  routing:     %s\n",
               j.routing_reason ? j.routing_reason : "-");
        if (j.wait_reason && j.status == BERTH_JOB_PENDING)
            printf("  waiting:     %s\n", j.wait_reason);
        if (j.last_error)
            printf("  last error:  %s\n", j.last_error);
        printf("  execution:   %s\n", j.execution_id ? j.execution_id : "-");
        printf("  created:     %s\n", cli_time_text(j.created_at, t1));
        printf("  started:     %s\n", cli_time_text(j.started_at, t1));
        printf("  finished:    %s\n", cli_time_text(j.finished_at, t1));
        printf("events:\n");
        for (size_t i = 0; i < nev; i++) {
            const struct berth_job_event *e = &ev[i];
            printf("  %s  %-9s -> %-9s #%d %s%s%s\n", cli_time_text(e->at, t1),
                   berth_job_state_str(e->from), berth_job_state_str(e->to),
                   e->attempt, e->host ? e->host : "", e->host ? "  " : "",
                   e->reason ? e->reason : "");
        }
    }
    berth_store_events_free(ev, nev);
    berth_job_release(&j);
    return CLI_OK;
}

/* ---- logs ---------------------------------------------------------------- */

static int follow_print(int stream, const char *data, size_t len, void *ctx)
{
    (void)ctx;
    fwrite(data, 1, len, stream == 2 ? stderr : stdout);
    fflush(stream == 2 ? stderr : stdout);
    return 0;
}

/* Stream from the backend while the job runs, when the backend can. */
static int follow_live(struct cli *c, struct berth_store *st,
                       const struct berth_job *j)
{
    struct berth_config *cfg;
    struct berth_router *r = NULL;
    struct berth_exec *ex = NULL;
    struct berth_err err;
    int rc = -1;

    if (!j->host || !j->execution_id || cli_config(c, &cfg) != 0)
        return -1;
    berth_err_init(&err);
    if (berth_router_new(cfg, NULL, &r, &err) == 0 &&
        berth_router_sync(r, st, &err) == 0 &&
        berth_router_instance_get(r, j->host, &ex, &err) == 0) {
        if (ex->ops->caps & BERTH_EXEC_CAP_LOGS_FOLLOW)
            rc = berth_exec_logs_follow(ex, j->execution_id, follow_print, NULL,
                                        &err);
        berth_router_instance_put(r, j->host);
    }
    berth_router_free(r);
    return rc;
}

int cmd_logs(struct cli *c, int argc, char **argv)
{
    struct berth_store *st;
    struct berth_job j;
    struct berth_job_logs logs;
    struct berth_err err;
    bool follow = false;
    int64_t id = 0;
    int rc;

    if ((rc = one_id("logs", argc, argv, "--follow", "-f", &follow, &id)) != 0)
        return rc;
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (berth_store_job_get(st, id, &j, &err) != 0)
        return cli_fail("job %" PRId64 ": %s", id, err.msg);
    if (follow) {
        bool streamed = false;
        while (!berth_job_state_terminal(j.status)) {
            if (j.status == BERTH_JOB_RUNNING && !streamed) {
                streamed = follow_live(c, st, &j) == 0;
                if (streamed) {
                    /* The stream ended with the job: the stored logs
                     * would repeat what was printed. */
                    berth_job_release(&j);
                    return CLI_OK;
                }
            }
            berth_job_release(&j);
            usleep(250000);
            if (berth_store_job_get(st, id, &j, &err) != 0)
                return cli_fail("job %" PRId64 ": %s", id, err.msg);
        }
    }
    berth_job_release(&j);
    if (berth_store_logs_get(st, id, &logs, &err) != 0)
        return cli_fail("job %" PRId64 ": logs: %s", id, err.msg);
    if (logs.out_len)
        fwrite(logs.out, 1, logs.out_len, stdout);
    if (logs.err_len)
        fwrite(logs.err, 1, logs.err_len, stderr);
    fflush(stdout);
    if (logs.truncated)
        fprintf(stderr,
                "berth: log of job %" PRId64 " was truncated (log_max_bytes)\n",
                id);
    berth_job_logs_release(&logs);
    return CLI_OK;
}

/* ---- stats ----------------------------------------------------------------
 */

int cmd_stats(struct cli *c, int argc, char **argv)
{
    struct berth_store *st;
    struct berth_store_stats s;
    struct berth_host *hosts = NULL;
    struct berth_err err;
    size_t nh = 0;
    bool json = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return cli_usage_error("stats", "unexpected argument '%s'",
                                   argv[i]);
    }
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (berth_store_stats(st, berth_now_us(), &s, &err) != 0 ||
        berth_store_host_list(st, &hosts, &nh, &err) != 0)
        return cli_fail("cannot read stats: %s", err.msg);
    if (json) {
        json_t *o = json_object(), *by = json_object(), *ha = json_array();
        for (int i = 0; i < BERTH_JOB_NSTATES; i++)
            json_object_set_new(by,
                                berth_job_state_str((enum berth_job_state)i),
                                json_integer(s.by_state[i]));
        json_object_set_new(o, "jobs", by);
        json_object_set_new(o, "pending_ready", json_integer(s.pending_ready));
        json_object_set_new(o, "pending_scheduled",
                            json_integer(s.pending_scheduled));
        json_object_set_new(o, "launch_failures",
                            json_integer(s.launch_failures));
        for (size_t i = 0; i < nh; i++)
            json_array_append_new(ha, cli_host_json(&hosts[i]));
        json_object_set_new(o, "hosts", ha);
        cli_print_json(o);
    } else {
        printf("jobs:");
        for (int i = 0; i < BERTH_JOB_NSTATES; i++)
            printf(" %s=%" PRId64, berth_job_state_str((enum berth_job_state)i),
                   s.by_state[i]);
        printf("\npending: %" PRId64 " ready, %" PRId64 " scheduled\n",
               s.pending_ready, s.pending_scheduled);
        printf("launch failures: %" PRId64 "\n", s.launch_failures);
        printf("%-16s %-12s %8s %8s %8s\n", "HOST", "EXECUTOR", "RUNNING",
               "FREE", "ENABLED");
        for (size_t i = 0; i < nh; i++) {
            const struct berth_host *h = &hosts[i];
            int64_t free_slots = h->max_concurrent_jobs - h->used_jobs;
            printf("%-16s %-12s %8" PRId64 " %8" PRId64 " %8s\n", h->name,
                   h->executor, h->used_jobs, free_slots > 0 ? free_slots : 0,
                   h->enabled ? "yes" : "no");
        }
    }
    berth_store_hosts_free(hosts, nh);
    return CLI_OK;
}
