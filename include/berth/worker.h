/*
 * berth/worker.h - the dispatcher (DESIGN.md § Worker): claims jobs, routes
 * them, launches them on their executors, follows them to the end, harvests
 * exit codes and logs, kills them at their timeout, carries out
 * cancellations, retries with backoff, and reconciles jobs of workers that
 * died. The old system's `process_container_jobs`.
 *
 * Threads: one main thread owns the store connection, the router and every
 * job's state; `concurrency` pool threads make the backend calls (launch,
 * status, logs, cancel, cleanup) and hand results back through a queue.
 */
#ifndef BERTH_WORKER_H
#define BERTH_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "berth/config.h"
#include "berth/err.h"
#include "berth/job.h"
#include "berth/store.h"
#include "berth/util.h"

struct berth_worker;

struct berth_worker_opts {
    const char *id;           /* worker id; NULL: "<hostname>:<pid>:<random>" */
    int concurrency;          /* backend calls in flight; default 8 */
    bool once;                /* claim what is ready now, follow it, exit */
    bool dry_run;             /* route and report; launch and change nothing */
    int64_t max_jobs;         /* stop claiming after this many; 0 = no limit */
    int64_t poll_interval_us; /* idle wait between claims; default 1 s */
    const char *only_executor;       /* place jobs only on this executor */
    const char *only_host;           /* ... or only on this host */
    int64_t lease_us;                /* default 30 s */
    int claim_batch;                 /* jobs per claim; default 256 */
    int64_t retry_base_us;           /* backoff base; default 2 s */
    int64_t retry_max_us;            /* backoff cap; default 300 s */
    int kill_grace_seconds;          /* SIGTERM -> SIGKILL; default -1: the
                                        backend's own (docker: the host's
                                        stop_grace_seconds) */
    uint64_t seed;                   /* jitter seed; 0 = from the clock */
    const struct berth_clock *clock; /* NULL = real time */
};

void berth_worker_opts_init(struct berth_worker_opts *o);

/*
 * cfg and st are borrowed and must outlive the worker; st is used from the
 * worker's main thread only.
 */
int berth_worker_new(const struct berth_config *cfg, struct berth_store *st,
                     const struct berth_worker_opts *opts,
                     struct berth_worker **out, struct berth_err *err);
void berth_worker_free(struct berth_worker *w); /* NULL is a no-op */

/* Run until stopped (or, with `once`, until the ready work is done). */
int berth_worker_run(struct berth_worker *w, struct berth_err *err);

/* Async-signal-safe: ask the worker to stop claiming, finish what is in
 * flight, release its leases and return. */
void berth_worker_stop(struct berth_worker *w);
/* Async-signal-safe: log the worker's state at the next loop turn. */
void berth_worker_request_dump(struct berth_worker *w);
/* Async-signal-safe: re-read the config at the next loop turn (SIGHUP). The
 * worker calls the reload hook, if any, to get the new config. */
void berth_worker_request_reload(struct berth_worker *w);

/* Returns a new config (the worker takes ownership) or NULL to keep the
 * old one; errors are for the hook to log. */
typedef struct berth_config *(*berth_worker_reload_fn)(void *ctx);
void berth_worker_set_reload(struct berth_worker *w, berth_worker_reload_fn fn,
                             void *ctx);

/* Figures of a finished run. */
struct berth_worker_stats {
    int64_t claimed;
    int64_t launched;
    int64_t adopted;
    int64_t completed;
    int64_t failed;
    int64_t timed_out;
    int64_t cancelled;
    int64_t retried;
    int64_t fallbacks;
    int64_t launch_failures;
};

void berth_worker_get_stats(const struct berth_worker *w,
                            struct berth_worker_stats *out);

/*
 * Delay before retry number `attempt` (the attempt that just failed,
 * 1-based) under a strategy: exponential (base * 2^(attempt-1), capped, with
 * "equal jitter": half fixed, half random), linear (base * attempt, capped),
 * fixed (base), none (0: retried at once). rng is advanced.
 */
int64_t berth_retry_delay_us(enum berth_retry_strategy s, int attempt,
                             int64_t base_us, int64_t max_us, uint64_t *rng);

#endif
