/*
 * berth/job.h - jobs, templates and hosts as plain data, and the job state
 * machine (DESIGN.md § Job lifecycle).
 *
 * These structs are filled by the caller or by the store; every pointer
 * member is owned by the struct and freed by its _release(). Strings that
 * are "unset" are NULL.
 */
#ifndef BERTH_JOB_H
#define BERTH_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/util.h"

/* ---- states ------------------------------------------------------------ */

#define BERTH_JOB_STATE_MAP(X)                                                 \
    X(PENDING, 0, "pending")                                                   \
    X(LAUNCHING, 1, "launching")                                               \
    X(RUNNING, 2, "running")                                                   \
    X(COMPLETED, 3, "completed")                                               \
    X(FAILED, 4, "failed")                                                     \
    X(TIMED_OUT, 5, "timed_out")                                               \
    X(CANCELLED, 6, "cancelled")

enum berth_job_state {
#define BERTH_JS_ENUM(name, val, text) BERTH_JOB_##name = val,
    BERTH_JOB_STATE_MAP(BERTH_JS_ENUM)
#undef BERTH_JS_ENUM
};

#define BERTH_JOB_NSTATES 7

const char *berth_job_state_str(enum berth_job_state s);
/* Returns 0 and sets *out, or BERTH_E_INVALID for an unknown name. */
int berth_job_state_parse(const char *s, enum berth_job_state *out);
bool berth_job_state_terminal(enum berth_job_state s);

/*
 * The one table of legal transitions (DESIGN.md § Job lifecycle):
 *
 *   pending   -> launching | cancelled | failed
 *   launching -> running | pending (retry) | failed | cancelled
 *   running   -> completed | failed | timed_out | cancelled | pending (lost,
 *                retried by reconciliation)
 *   failed | timed_out | cancelled -> pending  (only through `berth retry`:
 *                                                a new attempt)
 *
 * from == to is never a transition. The retry edge out of a terminal state
 * is legal only when `explicit_retry` is set, so nothing but an operator's
 * `berth retry` can revive a finished job.
 */
bool berth_job_transition_ok(enum berth_job_state from, enum berth_job_state to,
                             bool explicit_retry);

/* ---- retry strategy ---------------------------------------------------- */

enum berth_retry_strategy {
    BERTH_RETRY_EXPONENTIAL = 0, /* default, with jitter */
    BERTH_RETRY_LINEAR = 1,
    BERTH_RETRY_FIXED = 2,
    BERTH_RETRY_NONE = 3,
};

const char *berth_retry_strategy_str(enum berth_retry_strategy s);
int berth_retry_strategy_parse(const char *s, enum berth_retry_strategy *out);

/* ---- templates --------------------------------------------------------- */

struct berth_template {
    char *name;
    char *image;
    struct berth_strv command; /* argv; empty = image default */
    char *working_dir;
    struct berth_map env;
    char *environment; /* name of a config `environments:` set, or NULL */
    char *network;
    int64_t memory_mb;       /* 0 = unset */
    double cpu_cores;        /* 0 = unset */
    int64_t timeout_seconds; /* 0 = unset */
    struct berth_map labels;
};

void berth_template_init(struct berth_template *t);
void berth_template_release(struct berth_template *t);
void berth_template_copy(struct berth_template *dst,
                         const struct berth_template *src);

/* ---- hosts ------------------------------------------------------------- */

struct berth_host {
    char *name;
    char *executor; /* the executor (pool) name it belongs to */
    char *url; /* docker: unix:///… or tcp://…; may be NULL for cloud */
    int64_t max_concurrent_jobs; /* 0 = executor default */
    int64_t memory_mb;           /* 0 = not declared */
    double cpu_cores;            /* 0 = not declared */
    int64_t weight;              /* higher wins ties; default 1 */
    bool enabled;
    /* Executor options overridden for this host (JSON object text, or
     * NULL); validated by the config loader against the executor type. */
    char *options_json;
    /* Usage, filled by the store when listing (jobs launching or running on
     * this host, and their memory and cpu). */
    int64_t used_jobs;
    int64_t used_memory_mb;
    double used_cpu_cores;
};

void berth_host_init(struct berth_host *h);
void berth_host_release(struct berth_host *h);
void berth_host_copy(struct berth_host *dst, const struct berth_host *src);

/* ---- jobs -------------------------------------------------------------- */

/*
 * A job, as submitted and as stored. At submit time the template (if any) is
 * resolved and its values are copied into the job (a snapshot: later edits of
 * the template do not change queued jobs), so image..timeout_seconds are the
 * effective values: job override, else template, else default. `env` is the
 * merge environment < template env < job env. The template's own
 * attributes, which rules may read as `template.*`, are kept in tmpl_*.
 */
struct berth_job {
    int64_t id; /* assigned by the store */
    char *name;
    char *template_name; /* NULL: no template */
    char *image;
    struct berth_strv command;
    char *working_dir;
    struct berth_map env;
    char *network;
    int64_t memory_mb;
    double cpu_cores;
    int64_t timeout_seconds; /* 0 = no timeout */
    struct berth_map labels; /* the job's own labels */

    /* template snapshot for the rule context */
    char *tmpl_image;
    struct berth_map tmpl_labels;
    int64_t tmpl_memory_mb;
    double tmpl_cpu_cores;
    int64_t tmpl_timeout_seconds;

    int priority;           /* 0..100, higher first */
    int64_t not_before;     /* us; 0 = ready at once */
    int64_t start_deadline; /* seconds after ready time; 0 = none */
    char *preferred_executor;
    char *user; /* NULL: no user */
    struct berth_strv user_groups;
    int max_attempts; /* >= 1 */
    enum berth_retry_strategy retry_strategy;

    /* state, filled by the store */
    enum berth_job_state status;
    int attempt;    /* 1-based; incremented by each retry */
    char *executor; /* executor (pool) name it was placed on */
    char *host;
    char *routing_reason;
    int rule_index; /* -1: placed without a rule */
    char *execution_id;
    bool has_exit_code;
    int exit_code;
    char *last_error;
    char *wait_reason; /* last "why not" while pending */
    int64_t created_at;
    int64_t started_at;  /* 0 = never */
    int64_t finished_at; /* 0 = not finished */
    int64_t ready_at;    /* next time the job may be claimed */
    bool cancel_requested;
    /* How the last run ended, when the backend says (-1 unknown). */
    bool oom_killed;
    int64_t peak_memory_bytes;
    int64_t cpu_time_us;
    char *owner; /* worker id holding the job, or NULL */
    int64_t lease_until;
};

void berth_job_init(struct berth_job *j);
void berth_job_release(struct berth_job *j);
void berth_job_copy(struct berth_job *dst, const struct berth_job *src);

/* One row of a job's history. */
struct berth_job_event {
    int64_t id;
    int64_t job_id;
    int64_t at; /* us */
    enum berth_job_state from;
    enum berth_job_state to;
    int attempt;
    char *executor; /* may be NULL */
    char *host;     /* may be NULL */
    char *reason;
};

void berth_job_event_release(struct berth_job_event *e);

/* A job's captured output. */
struct berth_job_logs {
    char *out; /* stdout, NUL-terminated, may be "" */
    size_t out_len;
    char *err; /* stderr */
    size_t err_len;
    bool truncated;
};

void berth_job_logs_init(struct berth_job_logs *l);
void berth_job_logs_release(struct berth_job_logs *l);

#endif
