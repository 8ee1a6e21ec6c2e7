/*
 * cli.h - private to the command line: the command table and what every
 * command handler gets.
 */
#ifndef BERTH_CLI_H
#define BERTH_CLI_H

#include <stdbool.h>

#include "berth/config.h"
#include "berth/err.h"
#include "berth/store.h"

/* Exit codes (DESIGN.md § Command line). */
#define CLI_OK 0
#define CLI_ERR 1
#define CLI_USAGE 2

struct cli {
    const char *config_path; /* --config, $BERTH_CONFIG, or ./berth.yaml */
    bool config_explicit;    /* given by --config or $BERTH_CONFIG */
    const char *store_url;   /* --store or $BERTH_STORE; NULL: from config */
    const char *prog;        /* "berth" */
    struct berth_config *cfg;  /* loaded on demand by cli_config() */
    struct berth_store *store; /* opened on demand by cli_store() */
};

typedef int (*cli_cmd_fn)(struct cli *c, int argc, char **argv);

struct cli_cmd {
    const char *name;
    cli_cmd_fn fn;
    const char *usage; /* one line of arguments */
    const char *summary;
};

/* Print "berth: <msg>" to stderr; returns CLI_ERR. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "berth: <msg>" and a pointer to --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* True when argv has -h or --help; prints the command's help. */
bool cli_wants_help(const struct cli_cmd *cmd, int argc, char **argv);

/*
 * The config: loaded once. When no file exists at the default path and none
 * was named, the built-in default config is used (a mock executor). On
 * error, the report is printed and CLI_ERR returned.
 */
int cli_config(struct cli *c, struct berth_config **out);
/*
 * Load the config at path without caching (cli_config() and `config check`
 * use it). When path is absent and was not named explicitly, *out is the
 * built-in default and *builtin is set. Caller frees *out. On error, the
 * report is printed and CLI_ERR returned.
 */
int cli_config_load(const char *path, bool explicit_path,
                    struct berth_config **out, bool *builtin);
/* The store, opened once (with the config's hosts and templates synced). */
int cli_store(struct cli *c, struct berth_store **out);

/* Command handlers (src/cli/cmd_*.c). */
int cmd_submit(struct cli *c, int argc, char **argv);
int cmd_jobs(struct cli *c, int argc, char **argv);
int cmd_job(struct cli *c, int argc, char **argv);
int cmd_logs(struct cli *c, int argc, char **argv);
int cmd_cancel(struct cli *c, int argc, char **argv);
int cmd_retry(struct cli *c, int argc, char **argv);
int cmd_stats(struct cli *c, int argc, char **argv);
int cmd_demo(struct cli *c, int argc, char **argv);
int cmd_template(struct cli *c, int argc, char **argv);
int cmd_host(struct cli *c, int argc, char **argv);
int cmd_config(struct cli *c, int argc, char **argv);
int cmd_worker(struct cli *c, int argc, char **argv);
int cmd_rules(struct cli *c, int argc, char **argv);
int cmd_explain(struct cli *c, int argc, char **argv);
int cmd_executors(struct cli *c, int argc, char **argv);
int cmd_cleanup(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);

const struct cli_cmd *cli_find_cmd(const char *name);

#endif
