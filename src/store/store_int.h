/*
 * store_int.h - private to the store layer: the backends' ops table, the
 * shared row codec and the shared apply engine.
 *
 * The split (STYLE.md § 6): store.c checks arguments, dispatches through
 * `st->ops` and owns every rule that is not SQL — the meaning of a job update
 * (compare-and-set, legality through berth_job_transition_ok(), capacity,
 * which columns a transition clears) is computed once, in C, by
 * berth__apply_run(). A backend only loads the rows an apply touches (locked:
 * BEGIN IMMEDIATE on SQLite, SELECT … FOR UPDATE on PostgreSQL), hands them
 * to the engine, and writes back what the engine marked dirty, in the same
 * transaction.
 */
#ifndef BERTH_STORE_INT_H
#define BERTH_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/store.h"

struct berth_store_ops;

/* The base every backend's handle embeds first. */
struct berth_store {
    const struct berth_store_ops *ops;
    char *url; /* as given, with any password masked; for messages */
};

/*
 * One slot per public call; the dispatcher in store.c has already checked
 * the arguments (non-NULL, ranges) and reset the out-parameters. Every slot
 * is mandatory for a backend.
 */
struct berth_store_ops {
    const char *name; /* "sqlite", "postgresql" */
    /* URL prefixes this backend accepts, NULL-terminated. */
    const char *const *prefixes;

    int (*open)(const char *url, struct berth_store **out,
                struct berth_err *err);
    void (*close)(struct berth_store *st);
    int (*schema_version)(struct berth_store *st, int *out,
                          struct berth_err *err);

    int (*meta_get)(struct berth_store *st, const char *key, char **out,
                    struct berth_err *err);
    int (*meta_set)(struct berth_store *st, const char *key, const char *value,
                    struct berth_err *err);

    int (*template_put)(struct berth_store *st, const struct berth_template *t,
                        struct berth_err *err);
    int (*template_get)(struct berth_store *st, const char *name,
                        struct berth_template *out, struct berth_err *err);
    int (*template_list)(struct berth_store *st, struct berth_template **out,
                         size_t *n, struct berth_err *err);
    int (*template_delete)(struct berth_store *st, const char *name,
                           struct berth_err *err);

    int (*host_put)(struct berth_store *st, const struct berth_host *h,
                    bool keep_enabled, struct berth_err *err);
    int (*host_get)(struct berth_store *st, const char *name,
                    struct berth_host *out, struct berth_err *err);
    int (*host_list)(struct berth_store *st, struct berth_host **out, size_t *n,
                     struct berth_err *err);
    int (*host_delete)(struct berth_store *st, const char *name,
                       struct berth_err *err);
    int (*host_set_enabled)(struct berth_store *st, const char *name,
                            bool enabled, struct berth_err *err);

    int (*job_submit)(struct berth_store *st, const struct berth_job *spec,
                      size_t count, int64_t now, int64_t *first_id,
                      struct berth_err *err);
    int (*job_get)(struct berth_store *st, int64_t id, struct berth_job *out,
                   struct berth_err *err);
    int (*job_list)(struct berth_store *st, const struct berth_job_filter *f,
                    struct berth_job **out, size_t *n, struct berth_err *err);
    int (*job_events)(struct berth_store *st, int64_t job_id,
                      struct berth_job_event **out, size_t *n,
                      struct berth_err *err);
    int (*job_purge)(struct berth_store *st, int64_t finished_before,
                     size_t max, size_t *purged, struct berth_err *err);

    /* orphans == false: pending jobs; true: launching/running ones. */
    int (*job_claim)(struct berth_store *st, bool orphans, const char *owner,
                     int64_t now, int64_t lease_until, size_t max,
                     struct berth_job **out, size_t *n, struct berth_err *err);
    int (*lease_renew)(struct berth_store *st, const char *owner,
                       int64_t lease_until, struct berth_err *err);
    int (*lease_release)(struct berth_store *st, const char *owner,
                         struct berth_err *err);

    /* Runs the shared engine (below) inside one transaction. */
    int (*apply)(struct berth_store *st, struct berth_job_update *ups, size_t n,
                 int64_t now, size_t *applied, struct berth_err *err);

    int (*logs_put)(struct berth_store *st, int64_t job_id, int attempt,
                    const struct berth_job_logs *logs, struct berth_err *err);
    int (*logs_get)(struct berth_store *st, int64_t job_id,
                    struct berth_job_logs *out, struct berth_err *err);

    int (*stats)(struct berth_store *st, int64_t now,
                 struct berth_store_stats *out, struct berth_err *err);
};

extern const struct berth_store_ops berth__store_sqlite;
extern const struct berth_store_ops berth__store_pg;

/* ---- migrations (src/store/migrations/) -------------------------------- */

struct berth__migration {
    int version;      /* 1, 2, 3 … without holes */
    const char *name; /* short description */
    const char *sql;  /* one or more statements */
};

/* Terminated by an entry with version 0. */
extern const struct berth__migration berth__sqlite_migrations[];
extern const struct berth__migration berth__pg_migrations[];

/* ---- row codec: one column order, two backends ------------------------- */

/*
 * Column lists in the order the codec reads and binds them. Both schemas use
 * the same column names (user_name, not the reserved word user).
 */
#define BERTH__JOB_SPEC_COLS                                                   \
    "name, template_name, image, command_json, working_dir, env_json, "        \
    "network, memory_mb, cpu_cores, timeout_seconds, labels_json, "            \
    "tmpl_image, tmpl_labels_json, tmpl_memory_mb, tmpl_cpu_cores, "           \
    "tmpl_timeout_seconds, priority, not_before, start_deadline, "             \
    "preferred_executor, user_name, user_groups_json, max_attempts, "          \
    "retry_strategy"
#define BERTH__JOB_SPEC_NCOLS 24

/* The columns berth_store_apply() may change, in codec order. */
#define BERTH__JOB_STATE_COLS                                                  \
    "status, attempt, executor, host, routing_reason, rule_index, "            \
    "execution_id, exit_code, last_error, wait_reason, started_at, "           \
    "finished_at, ready_at, cancel_requested, owner, lease_until, "            \
    "oom_killed, peak_memory_bytes, cpu_time_us"
#define BERTH__JOB_STATE_NCOLS 19

/* A full job row: id, spec, created_at, state. */
#define BERTH__JOB_COLS                                                        \
    "id, " BERTH__JOB_SPEC_COLS ", created_at, " BERTH__JOB_STATE_COLS
#define BERTH__JOB_NCOLS                                                       \
    (1 + BERTH__JOB_SPEC_NCOLS + 1 + BERTH__JOB_STATE_NCOLS)

#define BERTH__TEMPLATE_COLS                                                   \
    "name, image, command_json, working_dir, env_json, environment, "          \
    "network, memory_mb, cpu_cores, timeout_seconds, labels_json"
#define BERTH__TEMPLATE_NCOLS 11

#define BERTH__HOST_COLS                                                       \
    "name, executor, url, max_concurrent_jobs, memory_mb, cpu_cores, "         \
    "weight, enabled, options_json, used_jobs, used_memory_mb, "               \
    "used_cpu_millicores"
#define BERTH__HOST_NCOLS 12

#define BERTH__EVENT_COLS                                                      \
    "id, job_id, at, from_state, to_state, attempt, executor, host, reason"
#define BERTH__EVENT_NCOLS 9

/* Read access to the current result row, columns counted from `base`. */
struct berth__row {
    void *ctx;
    bool (*is_null)(void *ctx, int col);
    const char *(*text)(void *ctx, int col); /* NULL when SQL NULL */
    int64_t (*i64)(void *ctx, int col);      /* 0 when NULL */
    double (*dbl)(void *ctx, int col);       /* 0 when NULL */
};

/* Parameter binding; idx counts from 1. A NULL text binds SQL NULL. */
struct berth__binder {
    void *ctx;
    void (*null)(void *ctx, int idx);
    void (*text)(void *ctx, int idx, const char *s);
    void (*i64)(void *ctx, int idx, int64_t v);
    void (*dbl)(void *ctx, int idx, double v);
};

/* Decoders return BERTH_E_STORE when a stored value does not parse (a
 * corrupted row); `out` is released in that case. */
int berth__job_decode(const struct berth__row *r, int base,
                      struct berth_job *out, struct berth_err *err);
int berth__template_decode(const struct berth__row *r, int base,
                           struct berth_template *out, struct berth_err *err);
void berth__host_decode(const struct berth__row *r, int base,
                        struct berth_host *out);
int berth__event_decode(const struct berth__row *r, int base,
                        struct berth_job_event *out, struct berth_err *err);

/* The apply engine's rows: "id, " STATE_COLS ", memory_mb, cpu_cores" and
 * "name, enabled, max_concurrent_jobs, memory_mb, cpu_cores, used_jobs,
 * used_memory_mb, used_cpu_millicores" (the name is not read again). */
#define BERTH__JOB_ROW_COLS                                                    \
    "id, " BERTH__JOB_STATE_COLS ", memory_mb, cpu_cores"
#define BERTH__HOST_ROW_COLS                                                   \
    "name, enabled, max_concurrent_jobs, memory_mb, cpu_cores, used_jobs, "    \
    "used_memory_mb, used_cpu_millicores"
struct berth__job_row;
struct berth__host_row;
int berth__job_row_decode(const struct berth__row *r, int base,
                          struct berth__job_row *row, struct berth_err *err);
void berth__host_row_decode(const struct berth__row *r, int base,
                            struct berth__host_row *h);
/* Bind the 19 state columns at first.. */
void berth__job_row_bind_state(const struct berth__binder *b, int first,
                               const struct berth__job_row *row);
/* Bind only the state columns in `mask` (BERTH__COL_* bits), in column
 * order, at first..; returns how many were bound. */
int berth__job_row_bind_changed(const struct berth__binder *b, int first,
                                const struct berth__job_row *row,
                                unsigned mask);

/* Bind the 24 spec columns at first..first+23. */
void berth__job_bind_spec(const struct berth__binder *b, int first,
                          const struct berth_job *j);
/* Bind the 11 template columns at first.. */
void berth__template_bind(const struct berth__binder *b, int first,
                          const struct berth_template *t);
/* Bind name..options_json (9 columns) at first.. */
void berth__host_bind(const struct berth__binder *b, int first,
                      const struct berth_host *h);

/* CPU in thousandths, the unit capacity arithmetic is exact in. */
int64_t berth__cpu_millis(double cores);

/* Sort claimed jobs by priority DESC, id ASC (RETURNING has no order). */
void berth__jobs_sort_claim(struct berth_job *v, size_t n);

/* ---- the apply engine --------------------------------------------------- */

/* The state columns in codec order, as bit numbers of job_row.changed. */
enum {
    BERTH__COL_STATUS,
    BERTH__COL_ATTEMPT,
    BERTH__COL_EXECUTOR,
    BERTH__COL_HOST,
    BERTH__COL_ROUTING_REASON,
    BERTH__COL_RULE_INDEX,
    BERTH__COL_EXECUTION_ID,
    BERTH__COL_EXIT_CODE,
    BERTH__COL_LAST_ERROR,
    BERTH__COL_WAIT_REASON,
    BERTH__COL_STARTED_AT,
    BERTH__COL_FINISHED_AT,
    BERTH__COL_READY_AT,
    BERTH__COL_CANCEL_REQ,
    BERTH__COL_OWNER,
    BERTH__COL_LEASE_UNTIL,
    BERTH__COL_OOM_KILLED,
    BERTH__COL_PEAK_MEMORY,
    BERTH__COL_CPU_TIME,
};

/* Names of the state columns, indexed by BERTH__COL_*. */
extern const char *const berth__job_state_col_names[BERTH__JOB_STATE_NCOLS];

/* The state columns of one job, as loaded and as the engine leaves them. */
struct berth__job_row {
    int64_t id;
    bool found;
    bool dirty;       /* an update applied: write back */
    unsigned changed; /* which state columns differ from the stored row */
    enum berth_job_state status;
    int attempt;
    char *executor;
    char *host;
    char *routing_reason;
    int rule_index;
    char *execution_id;
    bool has_exit_code;
    int exit_code;
    char *last_error;
    char *wait_reason;
    int64_t started_at;
    int64_t finished_at;
    int64_t ready_at;
    bool cancel_requested;
    char *owner;
    int64_t lease_until;
    bool oom_killed;
    int64_t peak_memory_bytes; /* -1: unknown */
    int64_t cpu_time_us;       /* -1: unknown */
    /* read-only inputs of the capacity rule */
    int64_t memory_mb;
    int64_t cpu_millis;
};

struct berth__host_row {
    char *name;
    bool found;
    bool enabled;
    int64_t max_jobs;   /* <= 0: no job-count limit */
    int64_t memory_mb;  /* 0: not declared */
    int64_t cpu_millis; /* 0: not declared */
    int64_t used_jobs;
    int64_t used_memory_mb;
    int64_t used_cpu_millis;
    /* changes the engine made, to be added to the stored counters */
    int64_t d_jobs;
    int64_t d_memory_mb;
    int64_t d_cpu_millis;
};

struct berth__event_row {
    int64_t job_id;
    int64_t at;
    enum berth_job_state from;
    enum berth_job_state to;
    int attempt;
    char *executor;
    char *host;
    char *reason;
    bool launch_failure; /* counted by berth stats (docs/store.md) */
};

struct berth__logs_row {
    int64_t job_id;
    int attempt;
    const struct berth_job_logs *logs; /* borrowed from the update */
};

struct berth__apply {
    struct berth_job_update *ups; /* borrowed */
    size_t n;
    int64_t now;
    /* distinct job ids of the valid updates, ascending: the lock order */
    struct berth__job_row *rows;
    size_t nrows;
    /* hosts the batch may touch, by name ascending: the lock order */
    struct berth__host_row *hosts;
    size_t nhosts;
    struct berth__event_row *events;
    size_t nevents;
    size_t cap_events;
    struct berth__logs_row *logs;
    size_t nlogs;
    size_t applied;
};

/*
 * Validate every update (rc = BERTH_E_INVALID for malformed ones, 0
 * otherwise) and prepare `rows` with the distinct ids to load. The backend
 * then fills each row it finds (found = true) and calls
 * berth__apply_want_hosts().
 */
void berth__apply_init(struct berth__apply *a, struct berth_job_update *ups,
                       size_t n, int64_t now);
/* After the rows are loaded: prepare `hosts` with every host name the batch
 * may reserve on or free (sorted); the backend fills those it finds. */
void berth__apply_want_hosts(struct berth__apply *a);
/* Decide every update in order; sets ->rc, marks rows dirty, accumulates
 * host deltas and events. Pure C: no store access. */
void berth__apply_run(struct berth__apply *a);
/* Back to the state after berth__apply_init(), for a retried transaction. */
void berth__apply_reset(struct berth__apply *a);
void berth__apply_release(struct berth__apply *a);

/* Row helpers for backends filling rows. */
struct berth__job_row *berth__apply_row(struct berth__apply *a, int64_t id);
struct berth__host_row *berth__apply_host(struct berth__apply *a,
                                          const char *name);

/* ---- misc --------------------------------------------------------------- */

/* A copy of url with the password (user:PASSWORD@) replaced by "***". */
char *berth__url_redact(const char *url);

#endif
