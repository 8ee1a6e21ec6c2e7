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
#define CLI_OK    0
#define CLI_ERR   1
#define CLI_USAGE 2

struct cli {
    const char *config_path;   /* --config, $BERTH_CONFIG, or ./berth.yaml */
    bool config_explicit;      /* given by --config or $BERTH_CONFIG */
    const char *store_url;     /* --store or $BERTH_STORE; NULL: from config */
    const char *prog;          /* "berth" */
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
/* Sync a config's hosts and templates into a store (a no-op when the file's
 * declarations did not change since the last sync). */
int cli_sync_config(struct berth_store *st, const struct berth_config *cfg,
                    struct berth_err *err);

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

/* ---- shared helpers (src/cli/cli_util.c) ------------------------------ */

struct json_t;

/* A job as JSON, with the stable field names documented in the README.
 * Caller decrefs. */
struct json_t *cli_job_json(const struct berth_job *j);
struct json_t *cli_event_json(const struct berth_job_event *e);
struct json_t *cli_template_json(const struct berth_template *t);
struct json_t *cli_host_json(const struct berth_host *h);
/* Print compact-but-readable JSON and a newline to stdout; steals o. */
void cli_print_json(struct json_t *o);
/* RFC 3339 text or NULL (JSON null) for 0. */
struct json_t *cli_time_json(int64_t us);
/* "2026-11-27T15:49:13Z" or "-" for 0, into buf[BERTH_TIME_STR_MAX]. */
const char *cli_time_text(int64_t us, char *buf);

/* Split a command line the way a POSIX shell splits words ('…', "…",
 * backslash); BERTH_E_INVALID on an unterminated quote. */
int cli_split_words(const char *s, struct berth_strv *out,
                    struct berth_err *err);

/* Parse a job id ("12"); prints the error and returns CLI_USAGE on bad
 * input. */
int cli_parse_id(const char *cmd, const char *s, int64_t *out);

/*
 * Submit-style flags -> a job spec (shared by `submit` and `explain`).
 * Resolves the template from the store and merges environment < template
 * env < job env. Prints errors itself; returns CLI_OK, CLI_ERR or
 * CLI_USAGE. `extra` receives flags only `submit` uses.
 */
struct submit_extra {
    int64_t count;
    bool wait;
    bool json;
};

int cli_job_from_flags(struct cli *c, const char *cmd, int argc, char **argv,
                       struct berth_job *job, struct submit_extra *extra);

#endif
