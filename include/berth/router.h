/*
 * berth/router.h - the ExecutorFactory (DESIGN.md § Routing).
 *
 * For a job, in this order, the first step that yields an available executor
 * wins: preferred_executor; the routing rules by priority (ties keep file
 * order); default_executor; otherwise "no executor now". Available means the
 * executor is configured and enabled, and one of its hosts is enabled,
 * healthy (cached health checks, circuit breaker closed) and has room for
 * the job. Within an executor the host with the most free slots wins (ties:
 * weight, then name).
 *
 * The router decides; it does not reserve. The caller reserves the chosen
 * host atomically with the job's assignment (berth_store_apply(), pending ->
 * launching) and tells the router with berth_router_note_reserved(); when
 * the store refuses for capacity, berth_router_sync() refreshes usage and the
 * job is routed again.
 *
 * Executor instances are created once per (executor, host), reused, and
 * released when their host is removed, disabled or redefined (another URL,
 * executor or options) and nothing holds them.
 *
 * Threads: a router belongs to one thread. Instances it hands out may be
 * used from other threads while a reference is held.
 */
#ifndef BERTH_ROUTER_H
#define BERTH_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/config.h"
#include "berth/err.h"
#include "berth/exec.h"
#include "berth/job.h"
#include "berth/store.h"
#include "berth/util.h"

struct berth_router;

/*
 * Create a router for cfg (borrowed: it must outlive the router). clock may
 * be NULL (real time). Rules are taken from cfg (already compiled).
 */
int berth_router_new(const struct berth_config *cfg,
                     const struct berth_clock *clock, struct berth_router **out,
                     struct berth_err *err);
void berth_router_free(struct berth_router *r); /* NULL is a no-op */

/*
 * Refresh hosts and their usage from the store (one query). Instances of
 * hosts that disappeared or were disabled are released once unreferenced.
 * Health results are shared through the store so that `berth executors`
 * and other workers see them.
 */
int berth_router_sync(struct berth_router *r, struct berth_store *st,
                      struct berth_err *err);

/* Hosts (or executors) the job must not be placed on: the fallback path. */
struct berth_route_exclude {
    const char *const *hosts;
    size_t n_hosts;
};

enum berth_route_outcome {
    BERTH_ROUTE_PLACED = 0, /* executor + host chosen */
    BERTH_ROUTE_WAIT = 1,   /* nothing available now: stay pending */
    BERTH_ROUTE_NEVER = 2,  /* no executor can ever take it: fail */
};

enum berth_route_step_kind {
    BERTH_STEP_PREFERRED = 0,
    BERTH_STEP_RULE = 1,
    BERTH_STEP_DEFAULT = 2,
};

/* One step of a decision, for `berth explain`. Strings are owned. */
struct berth_route_step {
    enum berth_route_step_kind kind;
    int rule_index;  /* position in the config file, -1 otherwise */
    char *condition; /* rules only */
    bool matched;
    char *eval_error; /* a runtime error of the condition, or NULL */
    char *executor;
    bool available;
    char *host; /* the host that would be used, when available */
    char *why;  /* why not available ("" when available) */
    char *note; /* e.g. the executor's launch rate limit, or NULL */
};

struct berth_route_trace {
    struct berth_route_step *steps;
    size_t n;
    size_t cap;
};

void berth_route_trace_init(struct berth_route_trace *t);
void berth_route_trace_release(struct berth_route_trace *t);

struct berth_route_result {
    enum berth_route_outcome outcome;
    char executor[128]; /* when placed */
    char host[128];
    char reason[512]; /* routing_reason when placed, else why not */
    int rule_index;   /* -1 unless a rule placed it */
    int64_t elapsed_us;
};

/*
 * Route one job. With a trace, every step is evaluated and recorded (the
 * explain mode: the full list even after a winner is found, and no log
 * line); without one the decision stops at the first available executor
 * and is logged as one structured line. Returns 0 with *out filled, or an
 * error when the router itself failed.
 */
int berth_router_route(struct berth_router *r, const struct berth_job *job,
                       const struct berth_route_exclude *exclude,
                       struct berth_route_result *out,
                       struct berth_route_trace *trace, struct berth_err *err);

/* The caller reserved `job` on `host` (or released it): keep local usage in
 * step until the next sync. */
void berth_router_note_reserved(struct berth_router *r, const char *host,
                                const struct berth_job *job);
void berth_router_note_released(struct berth_router *r, const char *host,
                                const struct berth_job *job);

/*
 * Launch-rate token bucket of an executor (DESIGN.md: launch_rate,
 * launch_burst). Returns true and takes a token when one is available now;
 * otherwise false and *wait_us says when the next one is due. Executors
 * without launch_rate always have tokens.
 */
bool berth_router_take_token(struct berth_router *r, const char *executor,
                             int64_t *wait_us);

/* A launch on host succeeded or failed: feeds the circuit breaker. */
void berth_router_launch_result(struct berth_router *r, const char *host,
                                bool ok);

/*
 * The executor instance for a host, created on first use and reused. Takes
 * a reference: release it with berth_router_instance_put(). Borrowed
 * pointer, valid while the reference is held.
 */
int berth_router_instance_get(struct berth_router *r, const char *host,
                              struct berth_exec **out, struct berth_err *err);
void berth_router_instance_put(struct berth_router *r, const char *host);
/*
 * Release a reference on the instance ex of host. Unlike
 * berth_router_instance_put(), this also releases an instance that the
 * host's redefinition (berth_router_sync()) replaced while it was held: such
 * an instance lives until its last holder lets it go. For holders that keep
 * their reference across syncs (the worker).
 */
void berth_router_instance_release(struct berth_router *r, const char *host,
                                   struct berth_exec *ex);

/* Does anyone still hold a reference on one of r's instances? A router
 * replaced by a config reload must outlive its last reference. */
bool berth_router_in_use(const struct berth_router *r);

/* Free job slots over every enabled host of an enabled executor: the most
 * jobs it is worth claiming now. */
int64_t berth_router_free_slots(const struct berth_router *r);

/* Figures for tests and `berth executors`. */
size_t berth_router_instances_created(const struct berth_router *r);
size_t berth_router_health_calls(const struct berth_router *r);
size_t berth_router_rule_errors(const struct berth_router *r);

/* Host state as the router sees it, for `berth executors` and SIGUSR1. */
struct berth_router_host_info {
    const char *name;
    const char *executor;
    const char *type;
    bool executor_enabled;
    bool enabled;
    int health;            /* 1 healthy, 0 unhealthy, -1 unknown */
    int64_t health_age_us; /* age of that answer; -1 unknown */
    const char *health_msg;
    bool breaker_open;
    int64_t max_jobs, used_jobs;
    int64_t memory_mb, used_memory_mb;
    double cpu_cores, used_cpu_cores;
};

/* Fills up to max entries; returns the number of hosts. With check_health,
 * hosts whose cached answer expired are checked now. */
size_t berth_router_hosts(struct berth_router *r, bool check_health,
                          struct berth_router_host_info *out, size_t max);

#endif
