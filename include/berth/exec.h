/*
 * berth/exec.h - the executor interface (DESIGN.md § Executors).
 *
 * An executor type (docker, cloudrun, fargate, mock) is one backend file
 * implementing `struct berth_exec_ops`; the registry in src/exec/exec.c lists
 * them. An instance (`struct berth_exec`) is created once per (executor,
 * host) and reused; backend instances embed `struct berth_exec` first.
 *
 * Callers use the berth_exec_*() dispatchers, never the ops directly: they
 * check the contract, time the call and turn a NULL slot into
 * BERTH_E_UNSUPPORTED.
 *
 * Threads: one instance may be used from several threads at once; each
 * backend makes its calls thread-safe (e.g. a CURL handle per call or per
 * thread). create/destroy are not concurrent with other calls.
 */
#ifndef BERTH_EXEC_H
#define BERTH_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/job.h"
#include "berth/opts.h"
#include "berth/util.h"

struct berth_exec_ops;

/* The base of every instance. Fields are set by berth_exec_create(). */
struct berth_exec {
    const struct berth_exec_ops *ops;
    char *executor; /* executor (pool) name, e.g. "gpu-docker" */
    char *host;     /* host name */
};

/* What create() gets: everything borrowed for the duration of the call. */
struct berth_exec_params {
    const char *executor;          /* pool name */
    const struct berth_opts *opts; /* executor options, host overrides merged */
    const struct berth_host *host;
    const struct berth_clock *clock; /* NULL = real time */
};

/*
 * One launch. Everything borrowed for the duration of the call. `name` is
 * deterministic from (job_id, attempt), "berth-<job>-<attempt>": backends
 * give it to the backend object (container name, clientToken, labels) so a
 * second launch of the same attempt finds and adopts the first.
 */
struct berth_launch {
    int64_t job_id;
    int attempt;
    const char *name;
    const char *template_name; /* NULL when the job has none */
    const char *image;
    const struct berth_strv *command;
    const char *working_dir;
    const struct berth_map *env;
    const char *network;
    int64_t memory_mb;
    double cpu_cores;
    int64_t timeout_seconds;
    const struct berth_map *labels; /* template labels merged with job's */
};

#define BERTH_EXEC_ID_MAX 512

struct berth_execution {
    char id[BERTH_EXEC_ID_MAX]; /* the backend's handle */
    bool adopted; /* an earlier launch of the same attempt was found */
};

enum berth_exec_state {
    BERTH_EXEC_PENDING = 0, /* accepted, not started yet */
    BERTH_EXEC_RUNNING = 1,
    BERTH_EXEC_EXITED = 2, /* finished; exit_code valid */
    BERTH_EXEC_LOST = 3,   /* the backend does not know it (any more) */
};

/* One status query: execution_id in, the rest out. */
struct berth_exec_status {
    const char *execution_id;
    enum berth_exec_state state;
    int exit_code;
    bool oom_killed;
    bool cancelled;            /* stopped on request */
    int64_t started_at;        /* us; 0 unknown */
    int64_t finished_at;       /* us; 0 unknown */
    int64_t peak_memory_bytes; /* -1 unknown */
    int64_t cpu_time_us;       /* -1 unknown */
    char message[256];         /* backend's words on how it ended, may be "" */
    int rc;                    /* per-query result: 0 or a berth_rc */
};

/* Capability bits. */
enum {
    BERTH_EXEC_CAP_BATCH_STATUS = 1u << 0, /* status() batches well */
    BERTH_EXEC_CAP_CANCEL = 1u << 1,
    BERTH_EXEC_CAP_LOGS_FOLLOW = 1u << 2,
    BERTH_EXEC_CAP_WAIT = 1u << 3, /* wait() blocks cheaply until the end */
    BERTH_EXEC_CAP_LIST = 1u << 4, /* list() finds berth's leftovers */
    /* Every call is quick and never blocks (no network): the worker may
     * make it on its main thread instead of handing it to a pool thread. */
    BERTH_EXEC_CAP_INLINE = 1u << 5,
};

/*
 * One backend object that carries berth's labels, as list() finds it (for
 * `berth cleanup`): the job and attempt it was launched for, and what the
 * backend says of it now.
 */
struct berth_exec_object {
    char id[BERTH_EXEC_ID_MAX]; /* execution id, usable with remove() */
    char name[128];             /* the backend's name for it, may be "" */
    int64_t job_id;             /* -1 when its label is unreadable */
    int attempt;                /* -1 when its label is unreadable */
    enum berth_exec_state state;
    int64_t created_at; /* us; 0 unknown */
};

/* Called with each chunk of a followed log; return non-zero to stop. */
typedef int (*berth_exec_log_fn)(int stream /* 1 out, 2 err */,
                                 const char *data, size_t len, void *ctx);

struct berth_exec_ops {
    const char *type; /* "docker", "mock", ... */
    unsigned caps;
    const struct berth_opt_spec *options; /* schema, ends with {NULL} */
    int64_t default_max_concurrent_jobs;
    /* How often the worker asks for the status of running executions, in
     * milliseconds, when the backend offers nothing better (0 = 1000). */
    int poll_interval_ms;

    int (*create)(const struct berth_exec_params *p, struct berth_exec **out,
                  struct berth_err *err);
    void (*destroy)(struct berth_exec *ex);
    /* A cheap check that the host answers (and, for clouds, that auth works).
     */
    int (*health)(struct berth_exec *ex, struct berth_err *err);
    /* Start the job. If an object for (job_id, attempt) already exists, adopt
     * it: fill *out with its id, set out->adopted, and start nothing. */
    int (*launch)(struct berth_exec *ex, const struct berth_launch *req,
                  struct berth_execution *out, struct berth_err *err);
    /* Find what an earlier launch of (job_id, attempt) made; BERTH_E_NOTFOUND
     * when nothing was launched. */
    int (*find)(struct berth_exec *ex, int64_t job_id, int attempt,
                struct berth_execution *out, struct berth_err *err);
    /* Fill each query; the call fails only when nothing could be asked. */
    int (*status)(struct berth_exec *ex, struct berth_exec_status *q, size_t n,
                  struct berth_err *err);
    /* Whole logs so far, each stream capped at max_bytes (truncated set). */
    int (*logs)(struct berth_exec *ex, const char *execution_id,
                size_t max_bytes, struct berth_job_logs *out,
                struct berth_err *err);
    /* Stream logs until the execution ends or fn returns non-zero. */
    int (*logs_follow)(struct berth_exec *ex, const char *execution_id,
                       berth_exec_log_fn fn, void *ctx, struct berth_err *err);
    /* Stop it: a polite signal, then force after grace_seconds (< 0: the
     * backend's own grace, e.g. docker's stop_grace_seconds). */
    int (*cancel)(struct berth_exec *ex, const char *execution_id,
                  int grace_seconds, struct berth_err *err);
    /* Remove what is left of a finished execution. */
    int (*cleanup)(struct berth_exec *ex, const char *execution_id,
                   struct berth_err *err);

    /* ---- optional slots (NULL: BERTH_E_UNSUPPORTED from the dispatcher) */

    /* Block until the execution q->execution_id is no longer running, or
     * timeout_ms passed, then fill q exactly as status() does (so q->state
     * tells which). Cheaper and quicker to notice an exit than polling. */
    int (*wait)(struct berth_exec *ex, struct berth_exec_status *q,
                int64_t timeout_ms, struct berth_err *err);
    /* Every backend object on this host that carries berth's labels (and,
     * where the backend has one, this deployment's namespace), in any
     * state. *out is an array of *n entries; caller frees it with free(). */
    int (*list)(struct berth_exec *ex, struct berth_exec_object **out,
                size_t *n, struct berth_err *err);
    /* Remove the object now, whatever "keep after harvest" settings say
     * (`berth cleanup`); stops it first if it still runs. Gone already is
     * success. */
    int (*remove)(struct berth_exec *ex, const char *execution_id,
                  struct berth_err *err);
};

/* Registry: NULL when the type is unknown. */
const struct berth_exec_ops *berth_exec_ops_find(const char *type);
/* NULL-terminated list of all backends. */
const struct berth_exec_ops *const *berth_exec_ops_all(void);

/* Deterministic backend object name for (job, attempt): "berth-12-1". */
void berth_exec_name(int64_t job_id, int attempt, char *buf, size_t size);

/*
 * Dispatchers. berth_exec_create() looks up the type in the registry and
 * fills the base fields; *out is freed with berth_exec_destroy().
 */
int berth_exec_create(const char *type, const struct berth_exec_params *p,
                      struct berth_exec **out, struct berth_err *err);
void berth_exec_destroy(struct berth_exec *ex); /* NULL is a no-op */
int berth_exec_health(struct berth_exec *ex, struct berth_err *err);
int berth_exec_launch(struct berth_exec *ex, const struct berth_launch *req,
                      struct berth_execution *out, struct berth_err *err);
int berth_exec_find(struct berth_exec *ex, int64_t job_id, int attempt,
                    struct berth_execution *out, struct berth_err *err);
int berth_exec_status(struct berth_exec *ex, struct berth_exec_status *q,
                      size_t n, struct berth_err *err);
int berth_exec_logs(struct berth_exec *ex, const char *execution_id,
                    size_t max_bytes, struct berth_job_logs *out,
                    struct berth_err *err);
int berth_exec_logs_follow(struct berth_exec *ex, const char *execution_id,
                           berth_exec_log_fn fn, void *ctx,
                           struct berth_err *err);
int berth_exec_cancel(struct berth_exec *ex, const char *execution_id,
                      int grace_seconds, struct berth_err *err);
int berth_exec_cleanup(struct berth_exec *ex, const char *execution_id,
                       struct berth_err *err);
/* Optional slots: BERTH_E_UNSUPPORTED when the backend lacks them. */
int berth_exec_wait(struct berth_exec *ex, struct berth_exec_status *q,
                    int64_t timeout_ms, struct berth_err *err);
/* *out: caller frees with free(); NULL and 0 on failure. */
int berth_exec_list(struct berth_exec *ex, struct berth_exec_object **out,
                    size_t *n, struct berth_err *err);
int berth_exec_remove(struct berth_exec *ex, const char *execution_id,
                      struct berth_err *err);

#endif
