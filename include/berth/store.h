/*
 * berth/store.h - where jobs, templates, hosts and events live.
 *
 * One interface, several backends (SQLite now, PostgreSQL later) behind
 * `struct berth_store_ops` in src/store/store_int.h. Callers never see which
 * backend they talk to. Schema migrations are versioned and applied when the
 * store is opened.
 *
 * Every job state change goes through berth_store_apply(), which enforces
 * berth_job_transition_ok() and writes the event row, the job row and the
 * host usage counters in one transaction. There is no other way to change a
 * job's status.
 *
 * Threads: a struct berth_store is used by one thread at a time. Open one per
 * thread (they may share the file or database).
 *
 * Ownership: structs filled by the store (jobs, hosts, templates, events) are
 * owned by the caller, who releases them with their _release() function, or
 * with the list helpers below.
 */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/job.h"

struct berth_store;

/*
 * Open "sqlite:PATH" (PATH relative to the current directory, or absolute),
 * "sqlite::memory:", or "postgresql://…" / "postgres://…". Creates the
 * database if missing and applies migrations. *out is freed with
 * berth_store_free().
 */
int berth_store_open(const char *url, struct berth_store **out,
                     struct berth_err *err);
void berth_store_free(struct berth_store *st); /* NULL is a no-op */

/* "sqlite" or "postgresql". */
const char *berth_store_backend(const struct berth_store *st);

/* Schema version after migrations. */
int berth_store_schema_version(struct berth_store *st, int *out,
                               struct berth_err *err);

/* ---- key/value metadata (e.g. the synced config's fingerprint) -------- */

/* *out = NULL (and 0 returned) when the key is absent. Caller frees. */
int berth_store_meta_get(struct berth_store *st, const char *key, char **out,
                         struct berth_err *err);
int berth_store_meta_set(struct berth_store *st, const char *key,
                         const char *value, struct berth_err *err);

/* ---- templates ---------------------------------------------------------- */

/* Insert or replace by name. */
int berth_store_template_put(struct berth_store *st,
                             const struct berth_template *t,
                             struct berth_err *err);
/* BERTH_E_NOTFOUND when absent. */
int berth_store_template_get(struct berth_store *st, const char *name,
                             struct berth_template *out, struct berth_err *err);
/* Ordered by name. Release with berth_store_templates_free(). */
int berth_store_template_list(struct berth_store *st,
                              struct berth_template **out, size_t *n,
                              struct berth_err *err);
int berth_store_template_delete(struct berth_store *st, const char *name,
                                struct berth_err *err);
void berth_store_templates_free(struct berth_template *v, size_t n);

/* ---- hosts -------------------------------------------------------------- */

/*
 * Insert or update by name. On update `enabled` is kept as stored when
 * keep_enabled is true (config sync must never flip an operator's switch);
 * usage counters are never touched.
 */
int berth_store_host_put(struct berth_store *st, const struct berth_host *h,
                         bool keep_enabled, struct berth_err *err);
int berth_store_host_get(struct berth_store *st, const char *name,
                         struct berth_host *out, struct berth_err *err);
/* All hosts, ordered by name, with current usage. */
int berth_store_host_list(struct berth_store *st, struct berth_host **out,
                          size_t *n, struct berth_err *err);
/* BERTH_E_CONFLICT when jobs are launching or running on it. */
int berth_store_host_delete(struct berth_store *st, const char *name,
                            struct berth_err *err);
int berth_store_host_set_enabled(struct berth_store *st, const char *name,
                                 bool enabled, struct berth_err *err);
void berth_store_hosts_free(struct berth_host *v, size_t n);

/* ---- jobs --------------------------------------------------------------- */

/*
 * Insert `count` copies of *spec as pending jobs (attempt 1, created_at =
 * now, ready_at = max(now, not_before)), in one transaction, each with a
 * "submitted" event. Their ids are consecutive; the first goes to
 * *first_id. spec->status and id are ignored.
 */
int berth_store_job_submit(struct berth_store *st, const struct berth_job *spec,
                           size_t count, int64_t now, int64_t *first_id,
                           struct berth_err *err);

int berth_store_job_get(struct berth_store *st, int64_t id,
                        struct berth_job *out, struct berth_err *err);

struct berth_job_filter {
    int status;                /* an enum berth_job_state, or -1 for any */
    const char *executor;      /* NULL: any */
    const char *host;          /* NULL: any */
    const char *template_name; /* NULL: any */
    const char *owner;         /* NULL: any */
    size_t limit;              /* 0: no limit */
    bool newest_first;         /* default: oldest (lowest id) first */
    bool with_start_deadline;  /* only jobs that carry a start_deadline */
    bool cancel_requested;     /* only jobs whose cancel was requested */
};

#define BERTH_JOB_FILTER_INIT                                                  \
    {                                                                          \
        -1, NULL, NULL, NULL, NULL, 0, false, false, false                     \
    }

int berth_store_job_list(struct berth_store *st,
                         const struct berth_job_filter *f,
                         struct berth_job **out, size_t *n,
                         struct berth_err *err);
void berth_store_jobs_free(struct berth_job *v, size_t n);

/*
 * Delete up to `max` (0: no limit) jobs in a terminal state whose
 * finished_at is before `finished_before`, with their events and logs
 * (`berth cleanup --older-than`). Oldest first. *purged gets the count.
 */
int berth_store_job_purge(struct berth_store *st, int64_t finished_before,
                          size_t max, size_t *purged, struct berth_err *err);

/* Events of one job, oldest first. */
int berth_store_job_events(struct berth_store *st, int64_t job_id,
                           struct berth_job_event **out, size_t *n,
                           struct berth_err *err);
void berth_store_events_free(struct berth_job_event *v, size_t n);

/*
 * Claim up to `max` ready pending jobs for worker `owner`: status pending,
 * ready_at <= now, and no owner or an expired lease; highest priority first,
 * then oldest (FIFO within a priority). Sets owner and lease_until
 * atomically (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED on
 * PostgreSQL): two claimers never get the same job.
 */
int berth_store_job_claim(struct berth_store *st, const char *owner,
                          int64_t now, int64_t lease_until, size_t max,
                          struct berth_job **out, size_t *n,
                          struct berth_err *err);

/* Extend the lease of every job `owner` holds. */
int berth_store_lease_renew(struct berth_store *st, const char *owner,
                            int64_t lease_until, struct berth_err *err);

/* Drop the owner of `owner`'s jobs (pending ones become claimable at once;
 * launching/running ones are reconciled by the next worker). */
int berth_store_lease_release(struct berth_store *st, const char *owner,
                              struct berth_err *err);

/*
 * Jobs in launching or running whose lease expired before `now` (their
 * worker died), or that have no owner. Claims them for `owner` with a new
 * lease so that exactly one worker reconciles each.
 */
int berth_store_job_claim_orphans(struct berth_store *st, const char *owner,
                                  int64_t now, int64_t lease_until, size_t max,
                                  struct berth_job **out, size_t *n,
                                  struct berth_err *err);

/* ---- the one way to change a job --------------------------------------- */

/* Which optional fields of struct berth_job_update to write. */
enum {
    BERTH_UPD_PLACEMENT = 1u << 0,    /* executor, host, routing_reason,
                                         rule_index */
    BERTH_UPD_EXECUTION = 1u << 1,    /* execution_id */
    BERTH_UPD_EXIT = 1u << 2,         /* exit_code */
    BERTH_UPD_ERROR = 1u << 3,        /* last_error */
    BERTH_UPD_WAIT = 1u << 4,         /* wait_reason */
    BERTH_UPD_READY_AT = 1u << 5,     /* ready_at */
    BERTH_UPD_CANCEL_REQ = 1u << 6,   /* cancel_requested = true */
    BERTH_UPD_OWNER = 1u << 7,        /* owner and lease_until */
    BERTH_UPD_NEXT_ATTEMPT = 1u << 8, /* attempt = attempt + 1 (a retry
                                         after a failed launch or a lost
                                         run); only with to == PENDING */
    BERTH_UPD_LOGS = 1u << 9,         /* logs of the current attempt, written
                                         in the same transaction (replacing
                                         any stored for that attempt) */
    BERTH_UPD_USAGE = 1u << 10,       /* oom_killed, peak_memory_bytes,
                                         cpu_time_us */
};

/*
 * Why a reservation was refused (berth_job_update.cap_why). The first two
 * mean "this host can never take it now" (DESIGN.md § Job lifecycle: every
 * candidate disabled or unknown fails the job); the others mean "full now".
 */
enum berth_cap_why {
    BERTH_CAP_OK = 0,
    BERTH_CAP_UNKNOWN_HOST = 1,
    BERTH_CAP_DISABLED = 2,
    BERTH_CAP_JOBS = 3,   /* used_jobs == max_concurrent_jobs */
    BERTH_CAP_MEMORY = 4, /* the job's memory_mb does not fit */
    BERTH_CAP_CPU = 5,    /* the job's cpu_cores do not fit */
};

/* "unknown host", "host disabled", "no free job slot", … Never NULL. */
const char *berth_store_cap_why_str(int why);

/*
 * One change to one job. The change applies only if the job is still in
 * `from` (and at `attempt` when attempt > 0): a compare-and-set, so a stale
 * worker can never overwrite a newer state.
 *
 * - to != from: a state change, checked against berth_job_transition_ok()
 *   (explicit_retry allows terminal -> pending and bumps attempt). An event
 *   row (from, to, reason) is written.
 * - to == from == LAUNCHING with BERTH_UPD_PLACEMENT: a move to another host
 *   (fallback); an event row with `reason` is written.
 * - to == from otherwise: field updates only; an event row is written only
 *   when `reason` is not NULL.
 *
 * Entering launching (or moving) reserves a slot on `host` atomically: it
 * fails with BERTH_E_CAPACITY when the host's max_concurrent_jobs, or its
 * declared memory/cpu, would be exceeded, or when the host is disabled or
 * unknown. Leaving launching/running frees the slot. started_at is set on
 * entering running, finished_at on entering a terminal state; clearing to
 * pending clears executor, host, execution_id and exit code.
 */
struct berth_job_update {
    int64_t job_id;
    enum berth_job_state from;
    enum berth_job_state to;
    int attempt; /* expected attempt; 0 = do not check */
    bool explicit_retry;
    const char *reason; /* event reason; NULL allowed when to == from */
    unsigned set;       /* BERTH_UPD_* bits */
    const char *executor;
    const char *host;
    const char *routing_reason;
    int rule_index;
    const char *execution_id;
    int exit_code;
    const char *last_error;
    const char *wait_reason;
    int64_t ready_at;
    const char *owner; /* NULL clears */
    int64_t lease_until;
    const struct berth_job_logs *logs; /* borrowed, for BERTH_UPD_LOGS */
    bool oom_killed;
    int64_t peak_memory_bytes;
    int64_t cpu_time_us;
    /* result, written by berth_store_apply() */
    int rc; /* 0, BERTH_E_STATE (not in `from` / illegal), BERTH_E_CAPACITY,
               BERTH_E_NOTFOUND, BERTH_E_INVALID (malformed update: bad
               state, BERTH_UPD_PLACEMENT without a host when entering
               launching, BERTH_UPD_PLACEMENT on any other target) */
    int cap_why; /* an enum berth_cap_why when rc == BERTH_E_CAPACITY */
};

/*
 * Details where the lines above are silent (docs/store.md has the full
 * list):
 * - A host's max_concurrent_jobs <= 0 means "no job-count limit" to the
 *   store (resolve executor defaults before host_put); memory_mb and
 *   cpu_cores of 0 mean "not declared". CPU is counted in thousandths.
 * - Entering pending or a terminal state drops owner and lease (unless the
 *   update sets BERTH_UPD_OWNER), so a re-queued job is claimable by any
 *   worker once ready. Entering pending also clears routing_reason,
 *   rule_index, started_at and finished_at; an explicit retry also clears
 *   cancel_requested and, without BERTH_UPD_READY_AT, makes the job ready
 *   at `now`.
 * - Clearing the owner (BERTH_UPD_OWNER with owner NULL) sets lease_until
 *   to 0.
 * - Event rows carry the job's executor and host after the change, or
 *   before it when the change cleared them (so "launching -> pending" names
 *   the host that failed).
 * - Several updates of one job in one batch apply in order, each against
 *   the result of the previous ones.
 */

/*
 * Apply `n` updates in one transaction at time `now`. Each update succeeds or
 * fails on its own (see ->rc); the call fails as a whole only when the store
 * itself fails, in which case nothing was written. Returns 0 and sets
 * *applied to the number of updates that took effect.
 */
int berth_store_apply(struct berth_store *st, struct berth_job_update *ups,
                      size_t n, int64_t now, size_t *applied,
                      struct berth_err *err);

/* ---- logs --------------------------------------------------------------- */

/* Replace the stored logs of (job, attempt). */
int berth_store_logs_put(struct berth_store *st, int64_t job_id, int attempt,
                         const struct berth_job_logs *logs,
                         struct berth_err *err);
/* Logs of the job's latest attempt that has logs; empty when none. */
int berth_store_logs_get(struct berth_store *st, int64_t job_id,
                         struct berth_job_logs *out, struct berth_err *err);

/* ---- figures ------------------------------------------------------------ */

struct berth_store_stats {
    int64_t by_state[BERTH_JOB_NSTATES];
    int64_t pending_ready;     /* pending with ready_at <= now */
    int64_t pending_scheduled; /* pending with ready_at > now */
    /* events recording a failed launch: launching -> pending or failed,
     * and fallback moves (launching -> launching to another host) */
    int64_t launch_failures;
};

int berth_store_stats(struct berth_store *st, int64_t now,
                      struct berth_store_stats *out, struct berth_err *err);

#endif
