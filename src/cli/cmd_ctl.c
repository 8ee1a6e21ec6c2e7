/* cmd_ctl.c - commands that change jobs: `cancel` and `retry`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char cancel_help[] =
    "usage: berth cancel ID...\n"
    "       berth cancel --status S [--template T]\n"
    "\n"
    "Pending jobs are cancelled at once. Launching and running jobs are\n"
    "marked; their worker stops them on the backend, then they become\n"
    "cancelled. Finished jobs are left as they are.\n";

/* Cancel one job as seen in *j; prints what happened. 0 or CLI_ERR. */
static int cancel_one(struct berth_store *st, const struct berth_job *j,
                      size_t *changed)
{
    struct berth_job_update u;
    struct berth_err err;
    size_t applied = 0;

    memset(&u, 0, sizeof(u));
    u.job_id = j->id;
    u.from = j->status;
    u.attempt = j->attempt;
    if (berth_job_state_terminal(j->status)) {
        printf("job %" PRId64 ": already %s\n", j->id,
               berth_job_state_str(j->status));
        return 0;
    }
    if (j->status == BERTH_JOB_PENDING) {
        u.to = BERTH_JOB_CANCELLED;
        u.reason = "cancelled on request";
    } else {
        u.to = j->status;
        u.set = BERTH_UPD_CANCEL_REQ;
        u.reason = "cancel requested";
    }
    berth_err_init(&err);
    if (berth_store_apply(st, &u, 1, berth_now_us(), &applied, &err) != 0)
        return cli_fail("job %" PRId64 ": %s", j->id, err.msg);
    if (u.rc == BERTH_E_STATE) {
        /* It moved on meanwhile: look again. */
        struct berth_job again;
        int rc;
        if (berth_store_job_get(st, j->id, &again, &err) != 0)
            return cli_fail("job %" PRId64 ": %s", j->id, err.msg);
        rc = cancel_one(st, &again, changed);
        berth_job_release(&again);
        return rc;
    }
    if (u.rc)
        return cli_fail("job %" PRId64 ": %s", j->id, berth_rc_str(u.rc));
    (*changed)++;
    if (u.to == BERTH_JOB_CANCELLED)
        printf("job %" PRId64 ": cancelled\n", j->id);
    else
        printf("job %" PRId64 ": cancel requested (%s on %s; its worker "
               "stops it)\n",
               j->id, berth_job_state_str(j->status), j->host ? j->host : "?");
    return 0;
}

int cmd_cancel(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, 's'},
        {"template", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_store *st;
    struct berth_err err;
    bool by_filter = false;
    size_t changed = 0;
    int opt, rc, result = CLI_OK;

    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        enum berth_job_state s;
        switch (opt) {
        case 's':
            if (berth_job_state_parse(optarg, &s) != 0 ||
                berth_job_state_terminal(s))
                return cli_usage_error("cancel",
                                       "--status '%s': expected pending, "
                                       "launching or running",
                                       optarg);
            f.status = (int)s;
            by_filter = true;
            break;
        case 't':
            f.template_name = optarg;
            by_filter = true;
            break;
        case 'h':
            fputs(cancel_help, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("cancel", "unknown option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (by_filter && optind < argc)
        return cli_usage_error("cancel", "give job IDs or --status, not both");
    if (!by_filter && optind >= argc)
        return cli_usage_error("cancel", "missing job ID (or --status S)");
    if (by_filter && f.status < 0)
        return cli_usage_error("cancel", "--template needs --status");
    for (int i = optind; i < argc; i++) {
        int64_t id;
        if ((rc = cli_parse_id("cancel", argv[i], &id)) != 0)
            return rc;
    }
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (by_filter) {
        struct berth_job *v = NULL;
        size_t n = 0;
        if (berth_store_job_list(st, &f, &v, &n, &err) != 0)
            return cli_fail("cannot list jobs: %s", err.msg);
        for (size_t i = 0; i < n; i++)
            if (cancel_one(st, &v[i], &changed) != 0)
                result = CLI_ERR;
        berth_store_jobs_free(v, n);
        fprintf(stderr, "berth: %zu job(s) cancelled or marked\n", changed);
        return result;
    }
    for (int i = optind; i < argc; i++) {
        struct berth_job j;
        int64_t id;
        berth_parse_i64(argv[i], 1, INT64_MAX, &id);
        if (berth_store_job_get(st, id, &j, &err) != 0) {
            result = cli_fail("job %" PRId64 ": %s", id, err.msg);
            continue;
        }
        if (cancel_one(st, &j, &changed) != 0)
            result = CLI_ERR;
        berth_job_release(&j);
    }
    return result;
}

int cmd_retry(struct cli *c, int argc, char **argv)
{
    struct berth_store *st;
    struct berth_err err;
    int rc, result = CLI_OK;

    if (argc < 2)
        return cli_usage_error("retry", "missing job ID");
    for (int i = 1; i < argc; i++) {
        int64_t id;
        if (argv[i][0] == '-')
            return cli_usage_error("retry", "unknown option '%s'", argv[i]);
        if ((rc = cli_parse_id("retry", argv[i], &id)) != 0)
            return rc;
    }
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    for (int i = 1; i < argc; i++) {
        struct berth_job j;
        struct berth_job_update u;
        size_t applied;
        int64_t id;

        berth_parse_i64(argv[i], 1, INT64_MAX, &id);
        berth_err_init(&err);
        if (berth_store_job_get(st, id, &j, &err) != 0) {
            result = cli_fail("job %" PRId64 ": %s", id, err.msg);
            continue;
        }
        if (!berth_job_transition_ok(j.status, BERTH_JOB_PENDING, true)) {
            result = cli_fail("job %" PRId64 " is %s: only failed, "
                              "timed_out or cancelled jobs can be retried",
                              id, berth_job_state_str(j.status));
            berth_job_release(&j);
            continue;
        }
        memset(&u, 0, sizeof(u));
        u.job_id = id;
        u.from = j.status;
        u.to = BERTH_JOB_PENDING;
        u.attempt = j.attempt;
        u.explicit_retry = true;
        u.reason = "retried on request";
        u.set = BERTH_UPD_READY_AT | BERTH_UPD_OWNER;
        u.ready_at = berth_now_us();
        u.owner = NULL;
        if (berth_store_apply(st, &u, 1, berth_now_us(), &applied, &err) != 0) {
            result = cli_fail("job %" PRId64 ": %s", id, err.msg);
        } else if (u.rc) {
            result = cli_fail("job %" PRId64 ": changed meanwhile (%s); "
                              "try again",
                              id, berth_rc_str(u.rc));
        } else {
            printf("job %" PRId64 ": pending (attempt %d)\n", id,
                   j.attempt + 1);
        }
        berth_job_release(&j);
    }
    return result;
}
