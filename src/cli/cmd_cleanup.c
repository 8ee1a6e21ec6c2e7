/* cmd_cleanup.c - `berth cleanup`: remove finished backend objects that
 * carry berth's labels, and (with --older-than) old job data. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/exec.h"
#include "berth/router.h"
#include "cli.h"

static const char cleanup_help[] =
    "usage: berth cleanup [--older-than DUR] [--dry-run]\n"
    "\n"
    "Remove backend objects (containers, ...) that carry berth's labels and\n"
    "whose job is finished or unknown to this store; objects of jobs still\n"
    "launching or running are kept. With --older-than, also delete finished\n"
    "jobs (with their events and logs) that ended more than DUR ago.\n"
    "--dry-run says what would be removed and removes nothing.\n";

/* One host: list its berth objects and remove the finished ones. */
static int clean_host(struct berth_router *r, struct berth_store *st,
                      const char *host, bool dry_run, size_t *removed,
                      size_t *kept)
{
    struct berth_exec *ex;
    struct berth_exec_object *objs = NULL;
    struct berth_err err;
    size_t n = 0;
    int rc = 0;

    berth_err_init(&err);
    if (berth_router_instance_get(r, host, &ex, &err) != 0)
        return cli_fail("host '%s': %s", host, err.msg);
    if (!ex->ops->list) {
        berth_router_instance_put(r, host);
        return 0; /* nothing to list on this backend */
    }
    if (berth_exec_list(ex, &objs, &n, &err) != 0) {
        rc =
            cli_fail("host '%s': cannot list berth objects: %s", host, err.msg);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct berth_exec_object *o = &objs[i];
        struct berth_job j;
        const char *why;
        bool keep = false;
        int rc2;

        if (o->job_id < 0) {
            printf("host %s: %s: kept (unreadable berth labels)\n", host,
                   o->name[0] ? o->name : o->id);
            (*kept)++;
            continue;
        }
        berth_err_init(&err);
        rc2 = berth_store_job_get(st, o->job_id, &j, &err);
        if (rc2 == BERTH_E_NOTFOUND) {
            why = "job unknown to this store";
        } else if (rc2 != 0) {
            /* The store could not say: the job may well be running. */
            rc = cli_fail(
                "host %s: %s kept: cannot look up job %" PRId64 ": %s", host,
                o->name[0] ? o->name : o->id, o->job_id, err.msg);
            (*kept)++;
            continue;
        } else {
            keep =
                !berth_job_state_terminal(j.status) && j.attempt == o->attempt;
            why = berth_job_state_str(j.status);
            if (!keep && !berth_job_state_terminal(j.status))
                why = "an earlier attempt";
            berth_job_release(&j);
        }
        if (keep) {
            (*kept)++;
            continue;
        }
        if (dry_run) {
            printf("host %s: %s (job %" PRId64 " attempt %d, %s): would be "
                   "removed\n",
                   host, o->name[0] ? o->name : o->id, o->job_id, o->attempt,
                   why);
            (*removed)++;
            continue;
        }
        berth_err_init(&err);
        if (berth_exec_remove(ex, o->id, &err) != 0) {
            rc = cli_fail("host %s: cannot remove %s: %s", host,
                          o->name[0] ? o->name : o->id, err.msg);
            continue;
        }
        printf("host %s: %s (job %" PRId64 " attempt %d, %s): removed\n", host,
               o->name[0] ? o->name : o->id, o->job_id, o->attempt, why);
        (*removed)++;
    }
out:
    free(objs);
    berth_router_instance_put(r, host);
    return rc;
}

int cmd_cleanup(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"older-than", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_router *r = NULL;
    struct berth_host *hosts = NULL;
    struct berth_err err;
    int64_t older = -1;
    bool dry_run = false;
    size_t nh = 0, removed = 0, kept = 0;
    int opt, rc, result = CLI_OK;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        berth_err_init(&err);
        switch (opt) {
        case 'o':
            if (berth_parse_duration(optarg, &older, &err) != 0)
                return cli_usage_error("cleanup", "--older-than: %s", err.msg);
            break;
        case 'd':
            dry_run = true;
            break;
        case 'h':
            fputs(cleanup_help, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("cleanup", "unknown option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("cleanup", "unexpected argument '%s'",
                               argv[optind]);
    if ((rc = cli_config(c, &cfg)) != 0 || (rc = cli_store(c, &st)) != 0)
        return rc;
    berth_err_init(&err);
    if (berth_router_new(cfg, NULL, &r, &err) != 0 ||
        berth_router_sync(r, st, &err) != 0 ||
        berth_store_host_list(st, &hosts, &nh, &err) != 0) {
        berth_router_free(r);
        return cli_fail("cleanup: %s", err.msg);
    }
    for (size_t i = 0; i < nh; i++) {
        const struct berth_executor_conf *ec =
            berth_config_executor(cfg, hosts[i].executor);
        if (!ec || !ec->enabled || !hosts[i].enabled)
            continue;
        if (clean_host(r, st, hosts[i].name, dry_run, &removed, &kept) != 0)
            result = CLI_ERR;
    }
    printf("%zu object(s) %s, %zu kept\n", removed,
           dry_run ? "would be removed" : "removed", kept);

    if (older >= 0) {
        int64_t before = berth_now_us() - older;
        char t[BERTH_TIME_STR_MAX];
        if (dry_run) {
            printf("jobs finished before %s would be deleted\n",
                   berth_time_format(before, t));
        } else {
            size_t total = 0, purged;
            do {
                berth_err_init(&err);
                if (berth_store_job_purge(st, before, 1000, &purged, &err)) {
                    result = cli_fail("cannot delete old jobs: %s", err.msg);
                    break;
                }
                total += purged;
            } while (purged == 1000);
            printf("%zu finished job(s) deleted (finished before %s)\n", total,
                   berth_time_format(before, t));
        }
    }
    berth_store_hosts_free(hosts, nh);
    berth_router_free(r);
    return result;
}
