/* main.c - berth's command line: global options and the command table
 * (DESIGN.md § Command line). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/log.h"
#include "cli.h"

static const struct cli_cmd commands[] = {
    {"submit", cmd_submit, "[TEMPLATE] [flags]", "create pending jobs"},
    {"jobs", cmd_jobs, "[--status S] [--executor T] [--limit N] [--json]",
     "list jobs"},
    {"job", cmd_job, "ID [--json]", "show one job with its events"},
    {"logs", cmd_logs, "ID [--follow]", "print a job's stdout and stderr"},
    {"cancel", cmd_cancel, "ID... | --status S [--template T]", "cancel jobs"},
    {"retry", cmd_retry, "ID...", "re-queue finished jobs as a new attempt"},
    {"stats", cmd_stats, "[--json]", "queue figures"},
    {"demo", cmd_demo, "", "seed the store with sample templates and jobs"},
    {"template", cmd_template, "add|list|show|rm ...", "manage templates"},
    {"host", cmd_host, "add|list|show|rm|enable|disable ...", "manage hosts"},
    {"config", cmd_config, "check", "check the configuration file"},
    {"worker", cmd_worker, "[--once] [--dry-run] [--concurrency N] ...",
     "run the dispatcher"},
    {"rules", cmd_rules, "eval EXPR [--context JSON]",
     "evaluate a rule expression"},
    {"explain", cmd_explain, "(ID | submit flags) [--json]",
     "dry-run routing and show every step"},
    {"executors", cmd_executors, "[--json]",
     "executors and hosts: health and capacity"},
    {"cleanup", cmd_cleanup, "[--older-than DUR] [--dry-run]",
     "remove finished backend objects and old job data"},
    {"serve", cmd_serve, "[--listen ADDR:PORT]", "HTTP API and dashboard"},
    {NULL, NULL, NULL, NULL},
};

const struct cli_cmd *cli_find_cmd(const char *name)
{
    for (const struct cli_cmd *cmd = commands; cmd->name; cmd++)
        if (strcmp(cmd->name, name) == 0)
            return cmd;
    return NULL;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("berth: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_ERR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("berth: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd)
        fprintf(stderr, "Try 'berth %s --help'.\n", cmd);
    else
        fprintf(stderr, "Try 'berth --help'.\n");
    return CLI_USAGE;
}

static void print_usage(FILE *f)
{
    fprintf(f, "usage: berth [--config FILE] [--store URL] "
               "[--log-format logfmt|json] COMMAND [ARGS]\n\n"
               "berth routes container jobs to Docker engines, Cloud Run, "
               "Fargate or a mock,\nlaunches them and follows them to the "
               "end.\n\ncommands:\n");
    for (const struct cli_cmd *cmd = commands; cmd->name; cmd++)
        fprintf(f, "  %-10s %s\n", cmd->name, cmd->summary);
    fprintf(f, "\nRun 'berth COMMAND --help' for a command's options.\n"
               "Config: --config FILE, else $BERTH_CONFIG, else ./berth.yaml "
               "(built-in defaults when absent).\n"
               "Store: --store URL, else $BERTH_STORE, else the config's "
               "`store:`, else sqlite:berth.db.\n");
}

bool cli_wants_help(const struct cli_cmd *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: berth %s %s\n\n%s\n", cmd->name, cmd->usage,
                   cmd->summary);
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    struct cli c;
    const struct cli_cmd *cmd;
    int i, rc;
    const char *env;

    memset(&c, 0, sizeof(c));
    c.prog = "berth";
    env = getenv("BERTH_CONFIG");
    if (env && *env) {
        c.config_path = env;
        c.config_explicit = true;
    } else {
        c.config_path = "berth.yaml";
    }
    env = getenv("BERTH_STORE");
    if (env && *env)
        c.store_url = env;

    /* Global options come before the command. */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (a[0] != '-')
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("berth 0.1.0\n");
            return CLI_OK;
        }
        if (strncmp(a, "--config=", 9) == 0 || strncmp(a, "--store=", 8) == 0 ||
            strncmp(a, "--log-format=", 13) == 0) {
            val = strchr(a, '=') + 1;
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "--store") == 0 ||
                   strcmp(a, "--log-format") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(NULL, "option '%s' needs a value", a);
            val = argv[++i];
        } else {
            return cli_usage_error(NULL, "unknown option '%s'", a);
        }
        if (strncmp(a, "--config", 8) == 0) {
            c.config_path = val;
            c.config_explicit = true;
        } else if (strncmp(a, "--store", 7) == 0) {
            c.store_url = val;
        } else {
            int f = berth_log_parse_format(val);
            if (f < 0)
                return cli_usage_error(NULL,
                                       "--log-format must be logfmt or json, "
                                       "not '%s'",
                                       val);
            berth_log_set_format((enum berth_log_format)f);
        }
    }
    if (i >= argc) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    cmd = cli_find_cmd(argv[i]);
    if (!cmd)
        return cli_usage_error(NULL, "unknown command '%s'", argv[i]);
    if (cli_wants_help(cmd, argc - i, argv + i))
        return CLI_OK;
    rc = cmd->fn(&c, argc - i, argv + i);
    berth_store_free(c.store);
    berth_config_free(c.cfg);
    return rc;
}
