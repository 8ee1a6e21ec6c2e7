/* cmd_submit.c - `berth submit`: create pending jobs (DESIGN.md § Command
 * line), and the submit-style flags that `berth explain` shares. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

enum {
    O_IMAGE = 256,
    O_COMMAND,
    O_ENV,
    O_ENVIRONMENT,
    O_MEMORY,
    O_CPUS,
    O_TIMEOUT,
    O_EXECUTOR,
    O_PRIORITY,
    O_USER,
    O_GROUP,
    O_LABEL,
    O_MAX_ATTEMPTS,
    O_RETRY,
    O_AT,
    O_IN,
    O_DEADLINE,
    O_NAME,
    O_WORKDIR,
    O_NETWORK,
    O_COUNT,
    O_WAIT,
    O_JSON,
};

static const struct option submit_opts[] = {
    {"image", required_argument, NULL, O_IMAGE},
    {"command", required_argument, NULL, O_COMMAND},
    {"env", required_argument, NULL, O_ENV},
    {"environment", required_argument, NULL, O_ENVIRONMENT},
    {"memory", required_argument, NULL, O_MEMORY},
    {"cpus", required_argument, NULL, O_CPUS},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"executor", required_argument, NULL, O_EXECUTOR},
    {"priority", required_argument, NULL, O_PRIORITY},
    {"user", required_argument, NULL, O_USER},
    {"group", required_argument, NULL, O_GROUP},
    {"label", required_argument, NULL, O_LABEL},
    {"max-attempts", required_argument, NULL, O_MAX_ATTEMPTS},
    {"retry-strategy", required_argument, NULL, O_RETRY},
    {"at", required_argument, NULL, O_AT},
    {"in", required_argument, NULL, O_IN},
    {"start-deadline", required_argument, NULL, O_DEADLINE},
    {"name", required_argument, NULL, O_NAME},
    {"working-dir", required_argument, NULL, O_WORKDIR},
    {"network", required_argument, NULL, O_NETWORK},
    {"count", required_argument, NULL, O_COUNT},
    {"wait", no_argument, NULL, O_WAIT},
    {"json", no_argument, NULL, O_JSON},
    {NULL, 0, NULL, 0},
};

static const char submit_help[] =
    "usage: berth submit [TEMPLATE] [flags]\n"
    "\n"
    "Create a pending job (or --count N of them) and print its id.\n"
    "\n"
    "  --image IMAGE           container image (else the template's)\n"
    "  --command \"CMD ARGS\"    command, split like a shell does\n"
    "  --env K=V               environment variable (repeatable; wins over\n"
    "                          the template's, which win over --environment)\n"
    "  --environment NAME      a named env set from the config\n"
    "  --memory MB             memory limit in MB\n"
    "  --cpus N                CPU cores (may be fractional)\n"
    "  --timeout DUR           kill after DUR (90, 90s, 15m, 2h)\n"
    "  --executor NAME         preferred executor\n"
    "  --priority P            0..100, higher first (default 50)\n"
    "  --user U [--group G]... submitting user and groups (default: the\n"
    "                          config's users: entry)\n"
    "  --label K=V             label (repeatable)\n"
    "  --max-attempts N        launch attempts before failing (default 3)\n"
    "  --retry-strategy S      exponential (default), linear, fixed, none\n"
    "  --at TIME | --in DUR    scheduled start (RFC 3339, or a duration)\n"
    "  --start-deadline DUR    fail if still pending DUR after it is ready\n"
    "  --name NAME, --working-dir DIR, --network NET\n"
    "  --count N               submit N identical jobs\n"
    "  --wait                  follow to the end; exit with its exit code\n"
    "  --json                  print {\"ids\": [...]} as JSON\n";

static int bad(const char *cmd, const char *flag, const char *val,
               const char *want)
{
    return cli_usage_error(cmd, "%s '%s': expected %s", flag, val, want);
}

int cli_job_from_flags(struct cli *c, const char *cmd, int argc, char **argv,
                       struct berth_job *job, struct submit_extra *extra)
{
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_template tmpl;
    bool have_tmpl = false;
    const char *environment = NULL, *image = NULL, *command = NULL;
    const char *network = NULL, *workdir = NULL, *tmpl_name = NULL;
    int64_t memory = -1, timeout = -1, v;
    double cpus = -1;
    struct berth_map env = BERTH_MAP_INIT;
    struct berth_err err;
    int opt, rc = CLI_OK;

    berth_job_init(job);
    memset(extra, 0, sizeof(*extra));
    extra->count = 1;
    berth_template_init(&tmpl);
    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "-", submit_opts, NULL)) != -1) {
        const char *a = optarg;
        char *k = NULL, *val = NULL;
        berth_err_init(&err);
        switch (opt) {
        case 1: /* a positional argument: the template */
            if (tmpl_name) {
                rc = cli_usage_error(cmd, "unexpected argument '%s'", a);
                goto out;
            }
            tmpl_name = a;
            break;
        case O_IMAGE:
            image = a;
            break;
        case O_COMMAND:
            command = a;
            break;
        case O_ENV:
        case O_LABEL:
            if (berth_parse_kv(a, &k, &val, &err) != 0) {
                rc = cli_usage_error(
                    cmd, "%s: %s", opt == O_ENV ? "--env" : "--label", err.msg);
                goto out;
            }
            berth_map_set(opt == O_ENV ? &env : &job->labels, k, val);
            free(k);
            free(val);
            break;
        case O_ENVIRONMENT:
            environment = a;
            break;
        case O_MEMORY:
            if (berth_parse_i64(a, 0, INT64_C(1) << 40, &memory) != 0) {
                rc = bad(cmd, "--memory", a, "megabytes (an integer >= 0)");
                goto out;
            }
            break;
        case O_CPUS:
            if (berth_parse_double(a, &cpus) != 0 || cpus < 0 || cpus > 1024) {
                rc = bad(cmd, "--cpus", a, "a number of cores >= 0");
                goto out;
            }
            break;
        case O_TIMEOUT:
        case O_DEADLINE:
            if (berth_parse_duration(a, &v, &err) != 0) {
                rc = cli_usage_error(cmd, "%s", err.msg);
                goto out;
            }
            if (opt == O_TIMEOUT)
                timeout = v / BERTH_US_PER_SEC;
            else
                job->start_deadline = v / BERTH_US_PER_SEC;
            break;
        case O_EXECUTOR:
            free(job->preferred_executor);
            job->preferred_executor = berth_xstrdup(a);
            break;
        case O_PRIORITY:
            if (berth_parse_i64(a, 0, 100, &v) != 0) {
                rc = bad(cmd, "--priority", a, "an integer from 0 to 100");
                goto out;
            }
            job->priority = (int)v;
            break;
        case O_USER:
            free(job->user);
            job->user = berth_xstrdup(a);
            break;
        case O_GROUP:
            berth_strv_push(&job->user_groups, a);
            break;
        case O_MAX_ATTEMPTS:
            if (berth_parse_i64(a, 1, 1000, &v) != 0) {
                rc = bad(cmd, "--max-attempts", a, "an integer from 1 to 1000");
                goto out;
            }
            job->max_attempts = (int)v;
            break;
        case O_RETRY:
            if (berth_retry_strategy_parse(a, &job->retry_strategy) != 0) {
                rc = bad(cmd, "--retry-strategy", a,
                         "exponential, linear, fixed or none");
                goto out;
            }
            break;
        case O_AT:
            if (berth_parse_time(a, &v, &err) != 0) {
                rc = cli_usage_error(cmd, "--at: %s", err.msg);
                goto out;
            }
            job->not_before = v;
            break;
        case O_IN:
            if (berth_parse_duration(a, &v, &err) != 0) {
                rc = cli_usage_error(cmd, "--in: %s", err.msg);
                goto out;
            }
            job->not_before = berth_now_us() + v;
            break;
        case O_NAME:
            free(job->name);
            job->name = berth_xstrdup(a);
            break;
        case O_WORKDIR:
            workdir = a;
            break;
        case O_NETWORK:
            network = a;
            break;
        case O_COUNT:
            if (berth_parse_i64(a, 1, 1000000, &extra->count) != 0) {
                rc = bad(cmd, "--count", a, "an integer from 1 to 1000000");
                goto out;
            }
            break;
        case O_WAIT:
            extra->wait = true;
            break;
        case O_JSON:
            extra->json = true;
            break;
        default:
            rc = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }

    if (job->preferred_executor &&
        !berth_config_executor(cfg, job->preferred_executor)) {
        rc = cli_usage_error(cmd,
                             "--executor '%s': no such executor in "
                             "the config",
                             job->preferred_executor);
        goto out;
    }

    rc = cli_store(c, &st);
    if (rc)
        goto out;
    if (tmpl_name) {
        berth_err_init(&err);
        if (berth_store_template_get(st, tmpl_name, &tmpl, &err) != 0) {
            rc = cli_fail("unknown template '%s' (see 'berth template "
                          "list')",
                          tmpl_name);
            goto out;
        }
        have_tmpl = true;
        job->template_name = berth_xstrdup(tmpl.name);
        job->tmpl_image = berth_xstrdup(tmpl.image);
        berth_map_copy(&job->tmpl_labels, &tmpl.labels);
        job->tmpl_memory_mb = tmpl.memory_mb;
        job->tmpl_cpu_cores = tmpl.cpu_cores;
        job->tmpl_timeout_seconds = tmpl.timeout_seconds;
    }

    /* Effective values: job flag, else template, else default. */
    job->image = berth_xstrdup(image ? image : have_tmpl ? tmpl.image : NULL);
    if (!job->image || !*job->image) {
        rc = cli_usage_error(cmd, "no image: give --image or a template "
                                  "that has one");
        goto out;
    }
    if (command) {
        berth_strv_release(&job->command);
        if (cli_split_words(command, &job->command, &err) != 0) {
            rc = cli_usage_error(cmd, "--command: %s", err.msg);
            goto out;
        }
    } else if (have_tmpl) {
        berth_strv_release(&job->command);
        berth_strv_copy(&job->command, &tmpl.command);
    }
    job->memory_mb = memory >= 0 ? memory : have_tmpl ? tmpl.memory_mb : 0;
    job->cpu_cores = cpus >= 0 ? cpus : have_tmpl ? tmpl.cpu_cores : 0;
    job->timeout_seconds = timeout >= 0 ? timeout
                           : have_tmpl  ? tmpl.timeout_seconds
                                        : 0;
    job->network = berth_xstrdup(network     ? network
                                 : have_tmpl ? tmpl.network
                                             : NULL);
    job->working_dir = berth_xstrdup(workdir     ? workdir
                                     : have_tmpl ? tmpl.working_dir
                                                 : NULL);

    /* env: environment < template env < job env */
    if (!environment && have_tmpl)
        environment = tmpl.environment;
    if (environment) {
        const struct berth_environment_conf *e =
            berth_config_environment(cfg, environment);
        if (!e) {
            rc = cli_usage_error(cmd, "unknown environment '%s'", environment);
            goto out;
        }
        berth_map_merge(&job->env, &e->vars);
    }
    if (have_tmpl)
        berth_map_merge(&job->env, &tmpl.env);
    berth_map_merge(&job->env, &env);

    if (job->user && job->user_groups.n == 0) {
        const struct berth_user_conf *u = berth_config_user(cfg, job->user);
        if (u) {
            berth_strv_release(&job->user_groups);
            berth_strv_copy(&job->user_groups, &u->groups);
        }
    }
out:
    berth_map_release(&env);
    berth_template_release(&tmpl);
    if (rc)
        berth_job_release(job);
    return rc;
}

/* Follow jobs to their end; the exit status is the first job's exit code
 * (1 when it ended without one). */
static int wait_jobs(struct berth_store *st, int64_t first, int64_t count)
{
    int result = 0;
    for (int64_t id = first; id < first + count; id++) {
        struct berth_job j;
        struct berth_err err;
        for (;;) {
            berth_err_init(&err);
            if (berth_store_job_get(st, id, &j, &err) != 0)
                return cli_fail("job %" PRId64 ": %s", id, err.msg);
            if (berth_job_state_terminal(j.status))
                break;
            berth_job_release(&j);
            usleep(200000);
        }
        fprintf(stderr, "job %" PRId64 ": %s", id,
                berth_job_state_str(j.status));
        if (j.has_exit_code)
            fprintf(stderr, " (exit %d)", j.exit_code);
        if (j.last_error && j.status != BERTH_JOB_COMPLETED)
            fprintf(stderr, ": %s", j.last_error);
        fputc('\n', stderr);
        if (id == first)
            result = j.status == BERTH_JOB_COMPLETED ? 0
                     : j.has_exit_code && j.exit_code > 0 && j.exit_code < 256
                         ? j.exit_code
                         : 1;
        berth_job_release(&j);
    }
    return result;
}

int cmd_submit(struct cli *c, int argc, char **argv)
{
    struct berth_job job;
    struct submit_extra x;
    struct berth_store *st;
    struct berth_err err;
    int64_t first = 0;
    int rc;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(submit_help, stdout);
            return CLI_OK;
        }
    rc = cli_job_from_flags(c, "submit", argc, argv, &job, &x);
    if (rc)
        return rc;
    rc = cli_store(c, &st);
    if (rc) {
        berth_job_release(&job);
        return rc;
    }
    berth_err_init(&err);
    if (berth_store_job_submit(st, &job, (size_t)x.count, berth_now_us(),
                               &first, &err) != 0) {
        berth_job_release(&job);
        return cli_fail("cannot submit: %s", err.msg);
    }
    berth_job_release(&job);
    if (x.json) {
        json_t *ids = json_array();
        for (int64_t i = 0; i < x.count; i++)
            json_array_append_new(ids, json_integer(first + i));
        cli_print_json(json_pack("{s:o}", "ids", ids));
    } else {
        for (int64_t i = 0; i < x.count; i++)
            printf("%" PRId64 "\n", first + i);
    }
    fflush(stdout);
    if (x.wait)
        return wait_jobs(st, first, x.count);
    return CLI_OK;
}
