/*
 * berth/config.h - the configuration file (DESIGN.md § Configuration).
 *
 * berth_config_load() reads one YAML file with libyaml, checks it against the
 * whole schema (unknown keys and wrong types are errors naming
 * file:line:col), compiles every routing rule, and reports every error it
 * finds, not just the first. The result is plain data owned by the config and
 * freed with berth_config_free().
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/job.h"
#include "berth/opts.h"
#include "berth/rules.h"
#include "berth/util.h"

struct berth_executor_conf {
    char *name; /* the pool name: the key under `executors:` */
    char *type; /* backend type: `type:` or the name */
    bool enabled;
    struct berth_opts opts; /* the backend's options, validated */
    int line, col;
};

struct berth_environment_conf {
    char *name;
    struct berth_map vars;
};

struct berth_user_conf {
    char *name;
    struct berth_strv groups;
};

struct berth_rule_conf {
    char *name; /* optional `name:`, unique when given; NULL when absent */
    char *condition;
    char *executor;
    char *reason;                /* NULL: "Matched rule: <condition>" */
    int priority;                /* ascending; ties keep file order */
    size_t index;                /* position in the file, 0-based */
    struct berth_rule *compiled; /* owned */
    int line, col; /* where the condition text starts (inside quotes) */
};

struct berth_config {
    char *path;                 /* as given */
    char *store_url;            /* NULL when the file does not say */
    char *default_executor;     /* "docker" when unset */
    int64_t health_check_ttl;   /* seconds, default 300 */
    int64_t health_failure_ttl; /* seconds, default 30 */
    int64_t max_fallbacks;      /* default 2 */
    int64_t breaker_failures;   /* launches failed in a row; default 3 */
    int64_t breaker_cooldown;   /* seconds, default 60 */
    int64_t log_max_bytes;      /* per stream stored, default 1 MiB */

    struct berth_executor_conf *executors;
    size_t n_executors;
    struct berth_host *hosts; /* declared hosts (see berth_config_hosts()) */
    size_t n_hosts;
    struct berth_environment_conf *environments;
    size_t n_environments;
    struct berth_template *templates;
    size_t n_templates;
    struct berth_user_conf *users;
    size_t n_users;
    struct berth_rule_conf *rules; /* sorted by (priority, index) */
    size_t n_rules;
    struct berth_strv api_tokens;

    /* Hex digest of the declarations synced into a store (hosts, templates),
     * so that syncing can be skipped when nothing changed. */
    char fingerprint[65];
};

/*
 * Load and check `path`. On failure returns BERTH_E_CONFIG; every problem
 * found is appended to *report (one or more lines each, "file:line:col:
 * error: ..."), and err holds the first line. *out is NULL on failure.
 */
int berth_config_load(const char *path, struct berth_config **out,
                      struct berth_buf *report, struct berth_err *err);

/* Same, from text in memory (name is used in messages). */
int berth_config_load_text(const char *name, const char *text, size_t len,
                           struct berth_config **out, struct berth_buf *report,
                           struct berth_err *err);

/* A config with only defaults: a `mock` executor, no rules. */
struct berth_config *berth_config_new_default(void);

void berth_config_free(struct berth_config *c); /* NULL is a no-op */

/* Lookups: borrowed, NULL when absent. */
const struct berth_executor_conf *
berth_config_executor(const struct berth_config *c, const char *name);
const struct berth_environment_conf *
berth_config_environment(const struct berth_config *c, const char *name);
const struct berth_user_conf *berth_config_user(const struct berth_config *c,
                                                const char *name);
const struct berth_template *berth_config_template(const struct berth_config *c,
                                                   const char *name);

/*
 * Every host berth knows from the file: the declared ones, plus one implicit
 * host per executor that has none declared (named after the executor, with
 * the executor's `max_concurrent_jobs` or the backend default). Caller
 * releases with berth_store_hosts_free()-compatible freeing:
 * berth_host_release() on each, then free(v).
 */
int berth_config_hosts(const struct berth_config *c, struct berth_host **out,
                       size_t *n, struct berth_err *err);

#endif
