/*
 * worker.c - the dispatcher (DESIGN.md § Worker; see berth/worker.h).
 *
 * One main thread owns the store connection, the router and the state of
 * every job it holds (struct wjob). Backend calls run on pool threads as
 * `struct call`s and come back through the pool's completion queue. Store
 * changes are collected during a loop turn and written in one
 * berth_store_apply() batch (struct updq), whose per-update results drive
 * the next step of each job.
 *
 * A job's path through this file:
 *
 *   claim -> route -> [token] -> reserve (pending->launching) -> LAUNCH call
 *     -> ok: launching->running -> STATUS calls until exited
 *            -> LOGS call -> running->completed|failed|timed_out|cancelled
 *               (with logs, one transaction) -> CLEANUP call
 *     -> transient error: fallback (move to another host, launch again)
 *            or retry (launching->pending, next attempt, backoff)
 *     -> permanent error: launching->failed
 *
 * Jobs of dead workers (expired leases) are claimed as orphans and
 * reconciled with a FIND call: adopted when the backend has them, relaunched
 * (same attempt, so a late duplicate is adopted, not run twice) when
 * nothing was launched.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/exec.h"
#include "berth/log.h"
#include "berth/router.h"
#include "berth/worker.h"
#include "pool.h"

#define MAX_EXCL 16
/* A store that keeps failing this long stops the worker. */
#define STORE_GIVE_UP_US (60 * BERTH_US_PER_SEC)
#define STATUS_BATCH     100

enum phase {
    PH_NEW,     /* claimed, pending: to be routed */
    PH_TOKEN,   /* pending, waiting for a launch token */
    PH_RESERVE, /* reservation queued in the update batch */
    PH_LAUNCH,  /* launch call in flight */
    PH_RUN,     /* running, idle until next_at */
    PH_BUSY,    /* a call (status, logs, cancel, find) in flight */
    PH_STORE,   /* a store update queued; result decides what is next */
    PH_DONE,    /* finished: to be freed */
};

enum intent {
    IN_NONE = 0,
    IN_CANCEL,
    IN_TIMEOUT,
};

struct wjob {
    struct berth_job j;
    enum phase ph;
    enum intent intent;
    bool waiting; /* routed and found no place now (--once holds it) */
    int fallbacks;
    char *excl[MAX_EXCL];
    size_t nexcl;
    int64_t next_at;
    int64_t kill_at;  /* when the kill was sent; 0 = not sent */
    bool kill_failed; /* the kill call failed: send it again */
    /* The instance reference held for j.host, and the router it came from
     * (the current one, or one a reload retired); both NULL when none. */
    struct berth_exec *ex;
    struct berth_router *rt;
};

enum call_kind {
    C_LAUNCH,
    C_STATUS,
    C_LOGS,
    C_CANCEL,
    C_CLEANUP,
    C_FIND,
};

struct call {
    struct pool_task task; /* first: the pool hands this pointer back */
    enum call_kind kind;
    struct berth_exec *ex;
    struct berth_router *rt; /* C_CLEANUP: the reference it holds on ex */
    char host[128];
    struct wjob **jobs;
    size_t n;
    struct berth_exec_status *q; /* C_STATUS */
    /* C_LAUNCH */
    struct berth_launch req;
    char name[96];
    struct berth_map labels;
    struct berth_execution exe;
    /* C_LOGS */
    struct berth_job_logs logs;
    size_t max_log;
    int grace;
    char exec_id[BERTH_EXEC_ID_MAX]; /* C_LOGS, C_CANCEL, C_CLEANUP */
    int64_t job_id;                  /* C_FIND, C_CLEANUP */
    int attempt;
    int rc;
    struct berth_err err;
};

enum upd_kind {
    U_RESERVE,
    U_RUNNING,
    U_FINAL,
    U_RETRY,
    U_FAIL,
    U_WAIT,
    U_MOVE,
    U_NOTE, /* fields only; the job stays ours */
    U_DROP, /* ownership given up; the job is forgotten */
};

struct upd {
    struct berth_job_update u;
    enum upd_kind kind;
    struct wjob *wj;
    char *own[4]; /* strings the update points into */
    struct berth_job_logs logs;
};

struct updq {
    struct upd *v;
    size_t n;
    size_t cap;
};

struct retry_note {
    int64_t job_id;
    int64_t ready_at;
};

/* A router (and the config it borrows) that a reload replaced while jobs
 * or calls still held its executor instances: freed once none does. */
struct old_router {
    struct berth_router *r;
    struct berth_config *cfg; /* owned; NULL when the caller owns it */
};

struct berth_worker {
    const struct berth_config *cfg;
    struct berth_config *owned_cfg; /* after a reload */
    struct old_router *old;
    size_t n_old;
    struct berth_store *st;
    struct berth_worker_opts o;
    char *id;
    struct berth_router *router;
    struct pool *pool;
    struct pool_task *inline_head, *inline_tail; /* inline calls' results */
    struct wjob **active;
    size_t n_active;
    size_t cap_active;
    struct updq q;
    uint64_t rng;
    int64_t next_sync;
    int64_t next_renew;
    int64_t next_orphans;
    int64_t next_cancel_check;
    bool need_sync;
    int64_t claimed_total;
    struct retry_note *retries;
    size_t n_retries;
    size_t cap_retries;
    int64_t store_down_since; /* mono us of the first failure in a row */
    int64_t ended_this_turn;  /* jobs that finished or were let go */
    volatile sig_atomic_t stop;
    volatile sig_atomic_t dump;
    volatile sig_atomic_t reload;
    berth_worker_reload_fn reload_fn;
    void *reload_ctx;
    struct berth_worker_stats stats;
};

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_us(const struct berth_worker *w)
{
    return berth_clock_now(w->o.clock);
}

void berth_worker_opts_init(struct berth_worker_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->concurrency = 8;
    o->poll_interval_us = BERTH_US_PER_SEC;
    o->lease_us = 30 * BERTH_US_PER_SEC;
    o->claim_batch = 256;
    o->retry_base_us = 2 * BERTH_US_PER_SEC;
    o->retry_max_us = 300 * BERTH_US_PER_SEC;
    o->kill_grace_seconds = -1; /* the backend's (docker: the host's
                                   stop_grace_seconds) */
}

static int poll_ms_of(const struct berth_exec *ex)
{
    int ms =
        ex && ex->ops->poll_interval_ms > 0 ? ex->ops->poll_interval_ms : 1000;
    return ms;
}

static void wjob_free(struct wjob *wj)
{
    for (size_t i = 0; i < wj->nexcl; i++)
        free(wj->excl[i]);
    berth_job_release(&wj->j);
    free(wj);
}

static void active_add(struct berth_worker *w, struct wjob *wj)
{
    if (w->n_active == w->cap_active) {
        w->cap_active = w->cap_active ? w->cap_active * 2 : 256;
        w->active =
            berth_xrealloc(w->active, w->cap_active * sizeof(*w->active));
    }
    w->active[w->n_active++] = wj;
}

static void put_ref(struct wjob *wj)
{
    if (wj->rt) {
        berth_router_instance_release(wj->rt, wj->j.host, wj->ex);
        wj->ex = NULL;
        wj->rt = NULL;
    }
}

/* Take an instance reference for the job's current host. */
static int get_ref(struct berth_worker *w, struct wjob *wj,
                   struct berth_err *err)
{
    int rc;
    if (wj->rt)
        return 0;
    rc = berth_router_instance_get(w->router, wj->j.host, &wj->ex, err);
    if (rc == 0)
        wj->rt = w->router;
    return rc;
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = berth_xstrdup(src);
}

/* ---- the update batch -------------------------------------------------- */

static struct upd *upd_new(struct berth_worker *w, enum upd_kind kind,
                           struct wjob *wj, enum berth_job_state to)
{
    struct upd *u;
    if (w->q.n == w->q.cap) {
        w->q.cap = w->q.cap ? w->q.cap * 2 : 256;
        w->q.v = berth_xrealloc(w->q.v, w->q.cap * sizeof(*w->q.v));
    }
    u = &w->q.v[w->q.n++];
    memset(u, 0, sizeof(*u));
    u->kind = kind;
    u->wj = wj;
    u->u.job_id = wj->j.id;
    u->u.from = wj->j.status;
    u->u.to = to;
    u->u.attempt = wj->j.attempt;
    u->u.rule_index = -1;
    if (wj->ph != PH_DONE && kind != U_NOTE)
        wj->ph = PH_STORE;
    return u;
}

/* Keep a copy of s alive until the batch is flushed. */
static const char *upd_str(struct upd *u, const char *s)
{
    for (size_t i = 0; i < 4; i++) {
        if (!u->own[i]) {
            u->own[i] = berth_xstrdup(s);
            return u->own[i];
        }
    }
    BERTH_BUG("too many strings in one update");
}

static void upd_release(struct upd *u)
{
    for (size_t i = 0; i < 4; i++)
        free(u->own[i]);
    berth_job_logs_release(&u->logs);
}

static void handle_update(struct berth_worker *w, struct upd *u);

/* Write the batch; then let each update's result move its job on. */
static int flush(struct berth_worker *w, struct berth_err *err)
{
    struct berth_job_update *ups;
    size_t applied = 0, n = w->q.n;
    struct upd *v = w->q.v;
    int rc;

    if (n == 0)
        return 0;
    ups = berth_xcalloc(n, sizeof(*ups));
    for (size_t i = 0; i < n; i++) {
        ups[i] = v[i].u;
        /* The queue may have moved since the update was made. */
        if (ups[i].set & BERTH_UPD_LOGS)
            ups[i].logs = &v[i].logs;
    }
    /* Handlers may queue new updates: give them a fresh queue. */
    w->q.v = NULL;
    w->q.n = w->q.cap = 0;
    rc = berth_store_apply(w->st, ups, n, now_us(w), &applied, err);
    for (size_t i = 0; i < n; i++)
        v[i].u.rc = ups[i].rc;
    free(ups);
    if (rc) {
        /* Nothing was written: keep every update, in order, for the next
         * try (before anything queued meanwhile by nobody). */
        if (w->q.n == 0) {
            free(w->q.v);
            w->q.v = v;
            w->q.n = n;
            w->q.cap = n;
        } else {
            BERTH_BUG("updates queued during a failed flush");
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        handle_update(w, &v[i]);
        upd_release(&v[i]);
    }
    free(v);
    return 0;
}

/* ---- calls (run on pool threads) --------------------------------------- */

static void call_run(struct pool_task *t)
{
    struct call *c = (struct call *)t;
    berth_err_init(&c->err);
    switch (c->kind) {
    case C_LAUNCH:
        c->rc = berth_exec_launch(c->ex, &c->req, &c->exe, &c->err);
        break;
    case C_STATUS:
        c->rc = berth_exec_status(c->ex, c->q, c->n, &c->err);
        break;
    case C_LOGS:
        c->rc =
            berth_exec_logs(c->ex, c->exec_id, c->max_log, &c->logs, &c->err);
        break;
    case C_CANCEL:
        c->rc = berth_exec_cancel(c->ex, c->exec_id, c->grace, &c->err);
        break;
    case C_CLEANUP:
        c->rc = berth_exec_cleanup(c->ex, c->exec_id, &c->err);
        break;
    case C_FIND:
        c->rc = berth_exec_find(c->ex, c->job_id, c->attempt, &c->exe, &c->err);
        break;
    }
}

static struct call *call_new(enum call_kind kind, struct wjob *wj)
{
    struct call *c = berth_xcalloc(1, sizeof(*c));
    c->task.run = call_run;
    c->kind = kind;
    if (wj) {
        c->ex = wj->ex;
        snprintf(c->host, sizeof(c->host), "%s", wj->j.host);
        c->jobs = berth_xcalloc(1, sizeof(*c->jobs));
        c->jobs[0] = wj;
        c->n = 1;
        c->job_id = wj->j.id;
        c->attempt = wj->j.attempt;
        if (wj->j.execution_id)
            snprintf(c->exec_id, sizeof(c->exec_id), "%s", wj->j.execution_id);
        wj->ph = kind == C_LAUNCH ? PH_LAUNCH : PH_BUSY;
    }
    return c;
}

static void call_free(struct call *c)
{
    berth_map_release(&c->labels);
    berth_job_logs_release(&c->logs);
    free(c->q);
    free(c->jobs);
    free(c);
}

/*
 * Hand a call to a pool thread, or make it here when the backend's calls
 * are quick and never block (BERTH_EXEC_CAP_INLINE): the result is then
 * handled at the next take_calls() like any other.
 */
static void dispatch(struct berth_worker *w, struct call *c)
{
    if (c->ex && (c->ex->ops->caps & BERTH_EXEC_CAP_INLINE)) {
        c->task.run(&c->task);
        c->task.next = NULL;
        if (w->inline_tail)
            w->inline_tail->next = &c->task;
        else
            w->inline_head = &c->task;
        w->inline_tail = &c->task;
        return;
    }
    pool_submit(w->pool, &c->task);
}

static void submit_launch(struct berth_worker *w, struct wjob *wj)
{
    struct call *c = call_new(C_LAUNCH, wj);
    struct berth_job *j = &wj->j;

    berth_exec_name(j->id, j->attempt, c->name, sizeof(c->name));
    berth_map_init(&c->labels);
    berth_map_merge(&c->labels, &j->tmpl_labels);
    berth_map_merge(&c->labels, &j->labels);
    c->req.job_id = j->id;
    c->req.attempt = j->attempt;
    c->req.name = c->name;
    c->req.template_name = j->template_name;
    c->req.image = j->image;
    c->req.command = &j->command;
    c->req.working_dir = j->working_dir;
    c->req.env = &j->env;
    c->req.network = j->network;
    c->req.memory_mb = j->memory_mb;
    c->req.cpu_cores = j->cpu_cores;
    c->req.timeout_seconds = j->timeout_seconds;
    c->req.labels = &c->labels;
    dispatch(w, c);
}

static void submit_one(struct berth_worker *w, enum call_kind kind,
                       struct wjob *wj)
{
    struct call *c = call_new(kind, wj);
    c->max_log = w->cfg->log_max_bytes > 0 ? (size_t)w->cfg->log_max_bytes : 0;
    c->grace = w->o.kill_grace_seconds;
    dispatch(w, c);
}

/* Cleanup outlives the job: it takes over the job's instance reference. */
static void submit_cleanup(struct berth_worker *w, struct wjob *wj)
{
    struct call *c;
    if (!wj->rt || !wj->j.execution_id)
        return;
    c = berth_xcalloc(1, sizeof(*c));
    c->task.run = call_run;
    c->kind = C_CLEANUP;
    c->ex = wj->ex;
    snprintf(c->host, sizeof(c->host), "%s", wj->j.host);
    snprintf(c->exec_id, sizeof(c->exec_id), "%s", wj->j.execution_id);
    c->job_id = wj->j.id;
    c->rt = wj->rt;
    wj->ex = NULL; /* the reference is now the call's */
    wj->rt = NULL;
    dispatch(w, c);
}

/* ---- decisions --------------------------------------------------------- */

static void finish(struct berth_worker *w, struct wjob *wj)
{
    /* A slot may have come free: --once must claim again before it may
     * call it a day. */
    w->ended_this_turn++;
    wj->ph = PH_DONE;
}

/* Remember a retry so that `--once` waits for it. */
static void note_retry(struct berth_worker *w, int64_t job_id, int64_t ready_at)
{
    if (!w->o.once)
        return;
    if (w->n_retries == w->cap_retries) {
        w->cap_retries = w->cap_retries ? w->cap_retries * 2 : 64;
        w->retries =
            berth_xrealloc(w->retries, w->cap_retries * sizeof(*w->retries));
    }
    w->retries[w->n_retries].job_id = job_id;
    w->retries[w->n_retries].ready_at = ready_at;
    w->n_retries++;
}

/* pending -> failed (start_deadline passed, or no executor ever). */
static void fail_pending(struct berth_worker *w, struct wjob *wj,
                         const char *why)
{
    struct upd *u = upd_new(w, U_FAIL, wj, BERTH_JOB_FAILED);
    u->u.reason = upd_str(u, why);
    u->u.set = BERTH_UPD_ERROR | BERTH_UPD_OWNER;
    u->u.last_error = u->u.reason;
    u->u.owner = NULL;
}

/* Stay pending: record why, give the job back to the queue until ready_at. */
static void wait_pending(struct berth_worker *w, struct wjob *wj,
                         const char *why, int64_t ready_at)
{
    struct upd *u = upd_new(w, U_WAIT, wj, BERTH_JOB_PENDING);
    u->u.set = BERTH_UPD_WAIT | BERTH_UPD_OWNER | BERTH_UPD_READY_AT;
    u->u.wait_reason = upd_str(u, why);
    u->u.owner = NULL;
    u->u.ready_at = ready_at;
}

/*
 * A launch failed (or nothing is left to fall back to): back to pending for
 * another attempt after the strategy's delay, or failed when attempts are
 * used up. Permanent errors fail at once.
 */
static void retry_or_fail(struct berth_worker *w, struct wjob *wj,
                          const char *msg, bool transient)
{
    struct berth_job *j = &wj->j;
    struct upd *u;

    if (!transient || j->attempt >= j->max_attempts) {
        char *why = berth_xasprintf("%s%s", msg,
                                    transient ? " (no attempts left)"
                                              : " (permanent error)");
        u = upd_new(w, U_FINAL, wj, BERTH_JOB_FAILED);
        u->u.reason = upd_str(u, why);
        u->u.set = BERTH_UPD_ERROR;
        u->u.last_error = u->u.reason;
        free(why);
        return;
    }
    int64_t delay =
        berth_retry_delay_us(j->retry_strategy, j->attempt, w->o.retry_base_us,
                             w->o.retry_max_us, &w->rng);
    int64_t ready = now_us(w) + delay;
    char *why =
        berth_xasprintf("%s; attempt %d of %d, retry in %.1fs", msg,
                        j->attempt + 1, j->max_attempts, (double)delay / 1e6);
    u = upd_new(w, U_RETRY, wj, BERTH_JOB_PENDING);
    u->u.reason = upd_str(u, why);
    u->u.set = BERTH_UPD_ERROR | BERTH_UPD_NEXT_ATTEMPT | BERTH_UPD_READY_AT |
               BERTH_UPD_OWNER;
    u->u.last_error = upd_str(u, msg);
    u->u.ready_at = ready;
    u->u.owner = NULL;
    free(why);
}

static bool host_allowed(const struct berth_worker *w, const char *executor,
                         const char *host)
{
    if (w->o.only_executor && strcmp(w->o.only_executor, executor) != 0)
        return false;
    if (w->o.only_host && strcmp(w->o.only_host, host) != 0)
        return false;
    return true;
}

/*
 * Route a job, honouring --executor/--host: a placement outside them is
 * excluded and the job routed again, so it waits for a worker that serves
 * its place.
 */
static int route(struct berth_worker *w, struct wjob *wj,
                 struct berth_route_result *res, struct berth_err *err)
{
    struct berth_strv extra = BERTH_STRV_INIT;
    const char **hosts = NULL;
    int rc;

    for (;;) {
        size_t n = wj->nexcl + extra.n;
        struct berth_route_exclude ex;
        hosts = berth_xrealloc(hosts, (n ? n : 1) * sizeof(*hosts));
        for (size_t i = 0; i < wj->nexcl; i++)
            hosts[i] = wj->excl[i];
        for (size_t i = 0; i < extra.n; i++)
            hosts[wj->nexcl + i] = extra.v[i];
        ex.hosts = hosts;
        ex.n_hosts = n;
        rc = berth_router_route(w->router, &wj->j, &ex, res, NULL, err);
        if (rc || res->outcome != BERTH_ROUTE_PLACED ||
            host_allowed(w, res->executor, res->host))
            break;
        berth_strv_push(&extra, res->host);
    }
    if (rc == 0 && extra.n > 0 && res->outcome == BERTH_ROUTE_WAIT)
        snprintf(res->reason, sizeof(res->reason),
                 "its place is not served by this worker (--executor/--host)");
    free(hosts);
    berth_strv_release(&extra);
    return rc;
}

static int64_t deadline_of(const struct berth_job *j)
{
    int64_t start;
    if (j->start_deadline <= 0)
        return 0;
    start = j->not_before > j->created_at ? j->not_before : j->created_at;
    return start + j->start_deadline * BERTH_US_PER_SEC;
}

/* Record why a job we keep holding waits (only when the reason changed). */
static void note_wait(struct berth_worker *w, struct wjob *wj, const char *why)
{
    struct upd *u;
    if (wj->j.wait_reason && strcmp(wj->j.wait_reason, why) == 0)
        return;
    set_str(&wj->j.wait_reason, why);
    u = upd_new(w, U_NOTE, wj, wj->j.status);
    u->u.set = BERTH_UPD_WAIT;
    u->u.wait_reason = upd_str(u, why);
}

/* Fail a pending job whose start deadline passed; detail is the last reason
 * it could not be placed. */
static void fail_deadline(struct berth_worker *w, struct wjob *wj,
                          const char *detail)
{
    char *why = berth_xasprintf("start deadline of %" PRId64
                                "s passed while pending: %s",
                                wj->j.start_deadline, detail);
    fail_pending(w, wj, why);
    free(why);
}

/* Put the router's placement on the job we hold and on its update. */
static void set_placement(struct wjob *wj, struct upd *u,
                          const struct berth_route_result *res)
{
    set_str(&wj->j.executor, res->executor);
    set_str(&wj->j.host, res->host);
    set_str(&wj->j.routing_reason, res->reason);
    wj->j.rule_index = res->rule_index;
    u->u.set |= BERTH_UPD_PLACEMENT;
    u->u.executor = wj->j.executor;
    u->u.host = wj->j.host;
    u->u.routing_reason = wj->j.routing_reason;
    u->u.rule_index = res->rule_index;
}

/* Place a pending job we hold: route, take a token, queue the reservation. */
static void place_job(struct berth_worker *w, struct wjob *wj, int64_t now)
{
    struct berth_route_result res;
    struct berth_err err;
    int64_t dl = deadline_of(&wj->j), wait;
    struct upd *u;

    if (dl && now >= dl) {
        fail_deadline(w, wj,
                      wj->j.wait_reason ? wj->j.wait_reason : "not placed yet");
        return;
    }
    berth_err_init(&err);
    if (route(w, wj, &res, &err) != 0) {
        wait_pending(w, wj, err.msg, now + w->o.poll_interval_us);
        return;
    }
    if (res.outcome == BERTH_ROUTE_NEVER) {
        fail_pending(w, wj, res.reason);
        return;
    }
    if (res.outcome == BERTH_ROUTE_WAIT) {
        int64_t ready = now + w->o.poll_interval_us;
        if (dl && ready > dl)
            ready = dl;
        if (!w->o.once) {
            wait_pending(w, wj, res.reason, ready);
            return;
        }
        /* --once holds the jobs it claimed while others of its jobs may
         * still free a slot; it lets them go when nothing moves. */
        wj->waiting = true;
        wj->ph = PH_NEW;
        wj->next_at =
            now +
            (w->o.poll_interval_us < 100000 ? w->o.poll_interval_us : 100000);
        if (dl && wj->next_at > dl)
            wj->next_at = dl;
        note_wait(w, wj, res.reason);
        return;
    }
    wj->waiting = false;
    if (!berth_router_take_token(w->router, res.executor, &wait)) {
        char *why = berth_xasprintf(
            "waiting for the launch rate limit of executor '%s'", res.executor);
        wj->ph = PH_TOKEN;
        wj->next_at = now + wait;
        note_wait(w, wj, why);
        free(why);
        return;
    }
    u = upd_new(w, U_RESERVE, wj, BERTH_JOB_LAUNCHING);
    u->u.reason = upd_str(u, res.reason);
    set_placement(wj, u, &res);
    wj->ph = PH_RESERVE;
    /* Count the slot now, so the next jobs of this batch see it taken; a
     * refused reservation gives it back. */
    berth_router_note_reserved(w->router, wj->j.host, &wj->j);
}

/* A transient launch failure: fall back to another host if one is left. */
static void fallback_or_retry(struct berth_worker *w, struct wjob *wj,
                              const char *msg, bool transient)
{
    struct berth_route_result res;
    struct berth_err err;
    int64_t wait;
    struct upd *u;
    char *why;

    if (!transient || wj->fallbacks >= w->cfg->max_fallbacks ||
        wj->nexcl >= MAX_EXCL) {
        retry_or_fail(w, wj, msg, transient);
        return;
    }
    wj->excl[wj->nexcl++] = berth_xstrdup(wj->j.host);
    berth_err_init(&err);
    if (route(w, wj, &res, &err) != 0 || res.outcome != BERTH_ROUTE_PLACED ||
        !berth_router_take_token(w->router, res.executor, &wait)) {
        retry_or_fail(w, wj, msg, transient);
        return;
    }
    wj->fallbacks++;
    w->stats.fallbacks++;
    why = berth_xasprintf("%s; falling back to %s/%s (%s)", msg, res.executor,
                          res.host, res.reason);
    /* The old host's slot is freed and the new one reserved in the store's
     * move; our instance reference follows the job. */
    put_ref(wj);
    berth_router_note_released(w->router, wj->j.host, &wj->j);
    u = upd_new(w, U_MOVE, wj, BERTH_JOB_LAUNCHING);
    u->u.reason = upd_str(u, why);
    set_placement(wj, u, &res);
    berth_router_note_reserved(w->router, wj->j.host, &wj->j);
    u->u.set |= BERTH_UPD_ERROR;
    u->u.last_error = upd_str(u, msg);
    free(why);
}

static enum berth_job_state final_state(const struct wjob *wj,
                                        const struct berth_exec_status *st)
{
    if (wj->intent == IN_TIMEOUT)
        return BERTH_JOB_TIMED_OUT;
    if (wj->intent == IN_CANCEL || st->cancelled)
        return BERTH_JOB_CANCELLED;
    return st->exit_code == 0 ? BERTH_JOB_COMPLETED : BERTH_JOB_FAILED;
}

static struct upd *finalize(struct berth_worker *w, struct wjob *wj,
                            const struct berth_exec_status *st,
                            struct berth_job_logs *logs)
{
    enum berth_job_state to = final_state(wj, st);
    struct upd *u = upd_new(w, U_FINAL, wj, to);
    char *why;

    if (to == BERTH_JOB_TIMED_OUT)
        why = berth_xasprintf("killed at its timeout of %" PRId64 "s",
                              wj->j.timeout_seconds);
    else if (to == BERTH_JOB_CANCELLED)
        why = berth_xstrdup("cancelled on request");
    else if (st->oom_killed)
        why = berth_xasprintf("exited %d: out of memory (limit %" PRId64 " MB)",
                              st->exit_code, wj->j.memory_mb);
    else
        why = berth_xasprintf("exited %d%s%s", st->exit_code,
                              st->message[0] ? ": " : "", st->message);
    u->u.reason = upd_str(u, why);
    u->u.set = BERTH_UPD_EXIT | BERTH_UPD_USAGE | BERTH_UPD_LOGS;
    u->u.exit_code = st->exit_code;
    u->u.oom_killed = st->oom_killed;
    u->u.peak_memory_bytes = st->peak_memory_bytes;
    u->u.cpu_time_us = st->cpu_time_us;
    if (to == BERTH_JOB_FAILED || to == BERTH_JOB_TIMED_OUT) {
        u->u.set |= BERTH_UPD_ERROR;
        u->u.last_error = u->u.reason;
    }
    if (logs) {
        u->logs = *logs;
        berth_job_logs_init(logs);
    } else {
        berth_job_logs_init(&u->logs);
        u->logs.out = berth_xstrdup("");
        u->logs.err = berth_xstrdup("");
    }
    free(why);
    return u;
}

/* ---- update results ------------------------------------------------------ */

static void log_lost(const struct wjob *wj, const struct upd *u)
{
    berth_log(BERTH_LOG_WARN, "job changed under this worker",
              BL_I("job", wj->j.id), BL_S("to", berth_job_state_str(u->u.to)),
              BL_S("error", berth_rc_str(u->u.rc)));
}

static void handle_update(struct berth_worker *w, struct upd *u)
{
    struct wjob *wj = u->wj;
    int64_t now = now_us(w);
    struct berth_err err;

    if (u->u.rc == BERTH_E_STATE || u->u.rc == BERTH_E_NOTFOUND) {
        /* Someone else changed the job (a cancel, or another worker that
         * reconciled it after our lease lapsed): it is not ours. */
        if (u->kind != U_WAIT && u->kind != U_NOTE && u->kind != U_DROP)
            log_lost(wj, u);
        /* Give back the slot we counted, if the job held one. */
        if (wj->j.host && u->kind != U_WAIT && u->kind != U_NOTE &&
            u->kind != U_DROP && u->kind != U_FAIL)
            berth_router_note_released(w->router, wj->j.host, &wj->j);
        put_ref(wj);
        finish(w, wj);
        return;
    }
    if (u->u.rc == BERTH_E_CAPACITY) {
        /* Another worker took the slot first: refresh and route again. */
        w->need_sync = true;
        berth_router_note_released(w->router, wj->j.host, &wj->j);
        if (u->kind == U_MOVE) {
            retry_or_fail(w, wj, "no room left on the fallback host", true);
            return;
        }
        wj->ph = PH_NEW;
        wj->next_at = now;
        return;
    }
    if (u->u.rc)
        BERTH_BUG("update of job %lld refused with %s", (long long)wj->j.id,
                  berth_rc_str(u->u.rc));

    switch (u->kind) {
    case U_RESERVE:
        wj->j.status = BERTH_JOB_LAUNCHING;
        /* fall through */
    case U_MOVE:
        berth_err_init(&err);
        if (get_ref(w, wj, &err) != 0) {
            berth_router_launch_result(w->router, wj->j.host, false);
            fallback_or_retry(w, wj, err.msg, true);
            return;
        }
        submit_launch(w, wj);
        break;
    case U_RUNNING:
        wj->j.status = BERTH_JOB_RUNNING;
        wj->j.started_at = now;
        wj->ph = PH_RUN;
        wj->next_at = now + (int64_t)poll_ms_of(wj->ex) * 1000;
        break;
    case U_FINAL:
        wj->j.status = u->u.to;
        switch (u->u.to) {
        case BERTH_JOB_COMPLETED:
            w->stats.completed++;
            break;
        case BERTH_JOB_TIMED_OUT:
            w->stats.timed_out++;
            break;
        case BERTH_JOB_CANCELLED:
            w->stats.cancelled++;
            break;
        default:
            w->stats.failed++;
        }
        if (wj->j.host)
            berth_router_note_released(w->router, wj->j.host, &wj->j);
        submit_cleanup(w, wj);
        put_ref(wj);
        finish(w, wj);
        break;
    case U_RETRY:
        w->stats.retried++;
        if (wj->j.host)
            berth_router_note_released(w->router, wj->j.host, &wj->j);
        put_ref(wj);
        note_retry(w, wj->j.id, u->u.ready_at);
        finish(w, wj);
        break;
    case U_FAIL:
        w->stats.failed++;
        finish(w, wj);
        break;
    case U_WAIT:
    case U_DROP:
        put_ref(wj);
        finish(w, wj);
        break;
    case U_NOTE:
        break; /* only a wait reason was written; the job goes on */
    }
}

/* ---- call results ------------------------------------------------------- */

static void on_launch(struct berth_worker *w, struct call *c)
{
    struct wjob *wj = c->jobs[0];
    struct upd *u;

    if (c->rc != 0) {
        w->stats.launch_failures++;
        /* Only transient errors say something about the host; a permanent
         * one (no such image, invalid spec) is the job's own fault. */
        if (c->err.transient)
            berth_router_launch_result(w->router, c->host, false);
        berth_log(BERTH_LOG_WARN, "launch failed", BL_I("job", wj->j.id),
                  BL_S("host", c->host), BL_B("transient", c->err.transient),
                  BL_S("error", c->err.msg));
        fallback_or_retry(w, wj, c->err.msg, c->err.transient);
        return;
    }
    berth_router_launch_result(w->router, c->host, true);
    if (c->exe.adopted)
        w->stats.adopted++;
    else
        w->stats.launched++;
    set_str(&wj->j.execution_id, c->exe.id);
    u = upd_new(w, U_RUNNING, wj, BERTH_JOB_RUNNING);
    u->u.reason =
        upd_str(u, c->exe.adopted ? "adopted an earlier launch" : "launched");
    u->u.set = BERTH_UPD_EXECUTION;
    u->u.execution_id = wj->j.execution_id;
}

static void on_status(struct berth_worker *w, struct call *c)
{
    int64_t now = now_us(w);
    for (size_t i = 0; i < c->n; i++) {
        struct wjob *wj = c->jobs[i];
        struct berth_exec_status *st = &c->q[i];
        int64_t interval = (int64_t)poll_ms_of(wj->ex) * 1000;

        if (c->rc != 0 || st->rc != 0) {
            /* Could not ask: keep following, ask again later. */
            wj->ph = PH_RUN;
            wj->next_at = now + interval * 4;
            berth_log(BERTH_LOG_WARN, "status failed", BL_I("job", wj->j.id),
                      BL_S("host", c->host),
                      BL_S("error", c->rc ? c->err.msg : st->message));
            continue;
        }
        if (st->state == BERTH_EXEC_LOST && wj->intent != IN_NONE) {
            /* Gone after we set out to kill it: it ended as asked (no
             * exit code or usage to keep), and is not run again. */
            struct upd *u = finalize(w, wj, st, NULL);
            u->u.set &= ~(BERTH_UPD_EXIT | BERTH_UPD_USAGE);
            continue;
        }
        if (st->state == BERTH_EXEC_LOST) {
            char *msg =
                berth_xasprintf("lost: %s", st->message[0] ? st->message
                                                           : "the backend no "
                                                             "longer knows it");
            wj->ph = PH_RUN;
            retry_or_fail(w, wj, msg, true);
            free(msg);
            continue;
        }
        if (st->state == BERTH_EXEC_EXITED) {
            /* Ask for the logs; remember how it ended meanwhile. */
            struct call *lc = call_new(C_LOGS, wj);
            lc->max_log =
                w->cfg->log_max_bytes > 0 ? (size_t)w->cfg->log_max_bytes : 0;
            lc->q = berth_xcalloc(1, sizeof(*lc->q));
            lc->q[0] = *st;
            lc->q[0].execution_id = NULL;
            dispatch(w, lc);
            continue;
        }
        /* Still running after a kill that failed: send it again at the
         * next poll. */
        if (wj->kill_failed) {
            wj->kill_failed = false;
            wj->kill_at = 0;
        }
        wj->ph = PH_RUN;
        wj->next_at = now + interval;
    }
}

static void on_logs(struct berth_worker *w, struct call *c)
{
    struct wjob *wj = c->jobs[0];
    if (c->rc != 0) {
        berth_log(BERTH_LOG_WARN, "cannot fetch logs", BL_I("job", wj->j.id),
                  BL_S("error", c->err.msg));
        finalize(w, wj, &c->q[0], NULL);
        return;
    }
    finalize(w, wj, &c->q[0], &c->logs);
}

static void on_cancel(struct berth_worker *w, struct call *c)
{
    struct wjob *wj = c->jobs[0];
    if (c->rc != 0) {
        berth_log(BERTH_LOG_WARN, "cannot stop job", BL_I("job", wj->j.id),
                  BL_S("error", c->err.msg));
        wj->kill_failed = true;
    }
    /* Follow it until the backend says it ended (or, after a failed kill,
     * that it still runs: then the kill is sent again). */
    wj->ph = PH_RUN;
    wj->next_at = now_us(w);
}

static void on_find(struct berth_worker *w, struct call *c)
{
    struct wjob *wj = c->jobs[0];
    struct upd *u;

    if (c->rc == 0) {
        set_str(&wj->j.execution_id, c->exe.id);
        w->stats.adopted++;
        berth_log(BERTH_LOG_INFO, "adopted job", BL_I("job", wj->j.id),
                  BL_S("host", wj->j.host), BL_S("execution", c->exe.id));
        if (wj->j.status == BERTH_JOB_LAUNCHING) {
            u = upd_new(w, U_RUNNING, wj, BERTH_JOB_RUNNING);
            u->u.reason = upd_str(u, "adopted from a worker that stopped");
            u->u.set = BERTH_UPD_EXECUTION;
            u->u.execution_id = wj->j.execution_id;
        } else {
            wj->ph = PH_RUN;
            wj->next_at = now_us(w);
            if (!wj->j.started_at)
                wj->j.started_at = now_us(w);
        }
        return;
    }
    if (c->rc == BERTH_E_NOTFOUND) {
        if (wj->j.status == BERTH_JOB_LAUNCHING) {
            /* Nothing was launched: launch this same attempt again. */
            u = upd_new(w, U_RETRY, wj, BERTH_JOB_PENDING);
            u->u.reason = upd_str(u, "worker stopped before launching; "
                                     "launching again");
            u->u.set = BERTH_UPD_OWNER | BERTH_UPD_READY_AT;
            u->u.owner = NULL;
            u->u.ready_at = now_us(w);
            return;
        }
        retry_or_fail(w, wj,
                      "lost: its worker stopped and the backend no "
                      "longer knows it",
                      true);
        return;
    }
    /* Could not ask the backend. With a handle, follow the job by status
     * calls; without one, let it go for a later reconcile. */
    berth_log(BERTH_LOG_WARN, "cannot reconcile job", BL_I("job", wj->j.id),
              BL_S("error", c->err.msg));
    if (wj->j.execution_id && wj->j.status == BERTH_JOB_RUNNING) {
        wj->ph = PH_RUN;
        wj->next_at = now_us(w) + w->o.poll_interval_us;
        return;
    }
    u = upd_new(w, U_DROP, wj, wj->j.status);
    u->u.set = BERTH_UPD_OWNER;
    u->u.owner = NULL;
}

static void take_calls(struct berth_worker *w, int64_t timeout_us)
{
    struct pool_task *t, *next;

    if (w->inline_head) {
        t = w->inline_head;
        w->inline_head = w->inline_tail = NULL;
        if (timeout_us > 0)
            timeout_us = 0; /* results are waiting already */
        /* pool results too, without waiting */
        for (struct pool_task *p = pool_take_done(w->pool, 0); p; p = next) {
            next = p->next;
            p->next = t;
            t = p;
        }
    } else {
        t = pool_take_done(w->pool, timeout_us);
    }
    for (; t; t = next) {
        struct call *c = (struct call *)t;
        next = t->next;
        switch (c->kind) {
        case C_LAUNCH:
            on_launch(w, c);
            break;
        case C_STATUS:
            on_status(w, c);
            break;
        case C_LOGS:
            on_logs(w, c);
            break;
        case C_CANCEL:
            on_cancel(w, c);
            break;
        case C_FIND:
            on_find(w, c);
            break;
        case C_CLEANUP:
            if (c->rc != 0)
                berth_log(BERTH_LOG_WARN, "cleanup failed",
                          BL_I("job", c->job_id), BL_S("host", c->host),
                          BL_S("error", c->err.msg));
            berth_router_instance_release(c->rt, c->host, c->ex);
            break;
        }
        call_free(c);
    }
}

/* ---- the loop's chores ----------------------------------------------------
 */

static struct wjob *wjob_from(struct berth_job *j)
{
    struct wjob *wj = berth_xcalloc(1, sizeof(*wj));
    wj->j = *j; /* takes the strings */
    berth_job_init(j);
    wj->ph = PH_NEW;
    return wj;
}

static size_t capacity_left(const struct berth_worker *w)
{
    size_t limit = (size_t)w->o.claim_batch * 4;
    if (limit < (size_t)w->o.concurrency * 4)
        limit = (size_t)w->o.concurrency * 4;
    return w->n_active >= limit ? 0 : limit - w->n_active;
}

/* Forget retries we saw come back (claimed) or that passed long ago. */
static void retries_seen(struct berth_worker *w, int64_t job_id)
{
    for (size_t i = 0; i < w->n_retries; i++) {
        if (w->retries[i].job_id == job_id) {
            w->retries[i] = w->retries[--w->n_retries];
            return;
        }
    }
}

static int claim(struct berth_worker *w, int64_t now, size_t *got,
                 struct berth_err *err)
{
    struct berth_job *v = NULL;
    size_t n = 0, want = capacity_left(w);
    int rc;

    *got = 0;
    if (want > (size_t)w->o.claim_batch)
        want = (size_t)w->o.claim_batch;
    /* Claim no more than could be placed now: claimed jobs that must wait
     * would only be given back (and would hide from other workers). Jobs
     * held but not yet placed count against the free slots. */
    {
        int64_t free_slots = berth_router_free_slots(w->router), held = 0;
        for (size_t i = 0; i < w->n_active; i++)
            held += w->active[i]->ph == PH_NEW || w->active[i]->ph == PH_TOKEN;
        free_slots -= held;
        if (free_slots < (int64_t)want)
            want = free_slots > 0 ? (size_t)free_slots : 0;
    }
    if (want == 0)
        return 0;
    if (w->o.max_jobs > 0) {
        int64_t left = w->o.max_jobs - w->claimed_total;
        if (left <= 0)
            return 0;
        if ((int64_t)want > left)
            want = (size_t)left;
    }
    rc = berth_store_job_claim(w->st, w->id, now, now + w->o.lease_us, want, &v,
                               &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct wjob *wj = wjob_from(&v[i]);
        retries_seen(w, wj->j.id);
        wj->next_at = now;
        active_add(w, wj);
    }
    berth_store_jobs_free(v, n);
    w->claimed_total += (int64_t)n;
    w->stats.claimed += (int64_t)n;
    *got = n;
    return 0;
}

/* Follow jobs found held by a worker that is gone: ask the backend. */
static void reconcile(struct berth_worker *w, struct berth_job *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct wjob *wj = wjob_from(&v[i]);
        struct berth_err e2;
        berth_log(BERTH_LOG_INFO, "reconciling job", BL_I("job", wj->j.id),
                  BL_S("status", berth_job_state_str(wj->j.status)),
                  BL_S("host", wj->j.host));
        active_add(w, wj);
        berth_err_init(&e2);
        if (!wj->j.host || get_ref(w, wj, &e2) != 0) {
            /* Its host is gone: nothing can be asked. A running job is
             * lost; a launching one may never have started. */
            retry_or_fail(w, wj,
                          wj->j.status == BERTH_JOB_LAUNCHING
                              ? "its worker stopped and its host is gone"
                              : "lost: its worker stopped and its host is "
                                "gone",
                          true);
            continue;
        }
        /* The store kept its reservation, so usage already counts it. */
        submit_one(w, C_FIND, wj);
    }
}

static int reconcile_orphans(struct berth_worker *w, int64_t now,
                             struct berth_err *err)
{
    struct berth_job *v = NULL;
    size_t n = 0;
    int rc;

    rc = berth_store_job_claim_orphans(w->st, w->id, now, now + w->o.lease_us,
                                       (size_t)w->o.claim_batch, &v, &n, err);
    if (rc)
        return rc;
    reconcile(w, v, n);
    berth_store_jobs_free(v, n);
    return 0;
}

/*
 * A worker restarted with the same id: the jobs its earlier life held are
 * reconciled at once instead of waiting for their leases to expire.
 */
static int adopt_own(struct berth_worker *w, struct berth_err *err)
{
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_job *v = NULL;
    size_t n = 0, k = 0;
    int rc;

    f.owner = w->id;
    rc = berth_store_job_list(w->st, &f, &v, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (v[i].status == BERTH_JOB_PENDING) {
            struct wjob *wj = wjob_from(&v[i]);
            wj->next_at = now_us(w);
            active_add(w, wj);
        } else if (v[i].status == BERTH_JOB_LAUNCHING ||
                   v[i].status == BERTH_JOB_RUNNING) {
            if (k != i)
                v[k] = v[i], berth_job_init(&v[i]);
            k++;
        }
    }
    if (k)
        berth_log(BERTH_LOG_INFO, "reconciling jobs of an earlier run",
                  BL_S("worker", w->id), BL_I("jobs", (int64_t)k));
    reconcile(w, v, k);
    berth_store_jobs_free(v, n);
    return 0;
}

/*
 * DESIGN.md § Job lifecycle, start_deadline: a job still pending when its
 * deadline passes fails with the reason it waited. Jobs this worker holds
 * are checked when they are routed; this sweep finds the others (not
 * claimed because no host had room), asks the router why they could not be
 * placed now, and fails them with that reason.
 */
static int sweep_deadlines(struct berth_worker *w, int64_t now,
                           struct berth_err *err)
{
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_job *v = NULL;
    size_t n = 0;
    int rc;

    f.status = BERTH_JOB_PENDING;
    f.with_start_deadline = true;
    f.limit = 1000;
    rc = berth_store_job_list(w->st, &f, &v, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct berth_route_result res;
        struct berth_err rerr;
        struct wjob *wj;
        int64_t dl = deadline_of(&v[i]);
        bool held = false;

        if (!dl || now < dl)
            continue;
        for (size_t k = 0; k < w->n_active && !held; k++)
            held = w->active[k]->j.id == v[i].id;
        if (held)
            continue; /* place_job() sees to it */
        berth_err_init(&rerr);
        if (berth_router_route(w->router, &v[i], NULL, &res, NULL, &rerr) ==
                0 &&
            res.outcome == BERTH_ROUTE_PLACED)
            continue; /* it fits now: a claim will take it */
        wj = wjob_from(&v[i]);
        wj->ph = PH_STORE;
        active_add(w, wj);
        fail_deadline(w, wj, rerr.rc ? rerr.msg : res.reason);
    }
    berth_store_jobs_free(v, n);
    return 0;
}

/* Running jobs whose cancel was requested (`berth cancel` on a running job). */
static int check_cancels(struct berth_worker *w, struct berth_err *err)
{
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_job *v = NULL;
    size_t n = 0;
    int rc;

    f.owner = w->id;
    f.status = BERTH_JOB_RUNNING;
    f.cancel_requested = true;
    rc = berth_store_job_list(w->st, &f, &v, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < w->n_active; k++) {
            struct wjob *wj = w->active[k];
            if (wj->j.id == v[i].id && wj->intent == IN_NONE) {
                wj->intent = IN_CANCEL;
                wj->next_at = 0;
            }
        }
    }
    berth_store_jobs_free(v, n);
    return 0;
}

/* Has a running job outlived its timeout? */
static bool timeout_due(const struct wjob *wj, int64_t now)
{
    return wj->j.timeout_seconds > 0 && wj->j.started_at > 0 &&
           now >= wj->j.started_at + wj->j.timeout_seconds * BERTH_US_PER_SEC;
}

/* Status calls for running jobs that are due, batched per host. */
static void poll_running(struct berth_worker *w, int64_t now)
{
    for (size_t i = 0; i < w->n_active; i++) {
        struct wjob *wj = w->active[i];
        struct call *c;

        if (wj->ph != PH_RUN || wj->next_at > now)
            continue;
        /* A kill is due: timeout or cancel. */
        if (wj->kill_at == 0 &&
            (wj->intent == IN_CANCEL || timeout_due(wj, now))) {
            if (wj->intent == IN_NONE)
                wj->intent = IN_TIMEOUT;
            wj->kill_at = now;
            berth_log(BERTH_LOG_INFO,
                      wj->intent == IN_TIMEOUT ? "killing job at its timeout"
                                               : "cancelling job",
                      BL_I("job", wj->j.id), BL_S("host", wj->j.host));
            submit_one(w, C_CANCEL, wj);
            continue;
        }
        /* Batch due jobs on the same host into one status call. */
        c = berth_xcalloc(1, sizeof(*c));
        c->task.run = call_run;
        c->kind = C_STATUS;
        c->ex = wj->ex;
        snprintf(c->host, sizeof(c->host), "%s", wj->j.host);
        c->jobs = berth_xcalloc(STATUS_BATCH, sizeof(*c->jobs));
        c->q = berth_xcalloc(STATUS_BATCH, sizeof(*c->q));
        for (size_t k = i; k < w->n_active && c->n < STATUS_BATCH; k++) {
            struct wjob *o = w->active[k];
            if (o->ph != PH_RUN || o->next_at > now || o->ex != wj->ex)
                continue;
            if (o != wj && (o->intent == IN_CANCEL ||
                            (o->kill_at == 0 && timeout_due(o, now))))
                continue; /* handled by the kill path on its turn */
            o->ph = PH_BUSY;
            c->jobs[c->n] = o;
            c->q[c->n].execution_id = o->j.execution_id;
            c->n++;
        }
        dispatch(w, c);
    }
}

/* Route and reserve the jobs that are waiting for it. */
static void place_new(struct berth_worker *w, int64_t now)
{
    for (size_t i = 0; i < w->n_active; i++) {
        struct wjob *wj = w->active[i];
        if ((wj->ph == PH_NEW || wj->ph == PH_TOKEN) && wj->next_at <= now)
            place_job(w, wj, now);
    }
}

static void sweep_done(struct berth_worker *w)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->n_active; i++) {
        struct wjob *wj = w->active[i];
        if (wj->ph == PH_DONE) {
            put_ref(wj);
            wjob_free(wj);
            continue;
        }
        w->active[keep++] = wj;
    }
    w->n_active = keep;
}

static void dump_state(struct berth_worker *w)
{
    size_t by_phase[PH_DONE + 1] = {0};
    struct berth_router_host_info hosts[64];
    size_t nh;

    for (size_t i = 0; i < w->n_active; i++)
        by_phase[w->active[i]->ph]++;
    berth_log(BERTH_LOG_INFO, "worker state", BL_S("worker", w->id),
              BL_I("jobs", (int64_t)w->n_active),
              BL_I("routing", (int64_t)by_phase[PH_NEW]),
              BL_I("rate_limited", (int64_t)by_phase[PH_TOKEN]),
              BL_I("launching", (int64_t)by_phase[PH_LAUNCH]),
              BL_I("running", (int64_t)(by_phase[PH_RUN] + by_phase[PH_BUSY])),
              BL_I("calls_in_flight", pool_in_flight(w->pool)),
              BL_I("claimed", w->stats.claimed),
              BL_I("completed", w->stats.completed),
              BL_I("failed", w->stats.failed),
              BL_I("retried", w->stats.retried));
    nh = berth_router_hosts(w->router, false, hosts, 64);
    for (size_t i = 0; i < nh && i < 64; i++)
        berth_log(
            BERTH_LOG_INFO, "worker host", BL_S("worker", w->id),
            BL_S("host", hosts[i].name), BL_S("executor", hosts[i].executor),
            BL_I("used", hosts[i].used_jobs), BL_I("max", hosts[i].max_jobs),
            BL_I("healthy", hosts[i].health),
            BL_B("breaker_open", hosts[i].breaker_open));
}

/* ---- lifecycle ------------------------------------------------------------
 */

int berth_worker_new(const struct berth_config *cfg, struct berth_store *st,
                     const struct berth_worker_opts *opts,
                     struct berth_worker **out, struct berth_err *err)
{
    struct berth_worker *w = berth_xcalloc(1, sizeof(*w));
    char hostname[128] = "host";
    int rc;

    w->cfg = cfg;
    w->st = st;
    w->o = *opts;
    if (w->o.concurrency < 1)
        w->o.concurrency = 1;
    if (w->o.claim_batch < 1)
        w->o.claim_batch = 1;
    if (w->o.poll_interval_us <= 0)
        w->o.poll_interval_us = BERTH_US_PER_SEC;
    if (w->o.lease_us <= 0)
        w->o.lease_us = 30 * BERTH_US_PER_SEC;
    w->rng = opts->seed ? opts->seed
                        : (uint64_t)berth_now_us() ^ ((uint64_t)getpid() << 32);
    gethostname(hostname, sizeof(hostname) - 1);
    w->id = opts->id ? berth_xstrdup(opts->id)
                     : berth_xasprintf("%s:%d:%04x", hostname, (int)getpid(),
                                       (unsigned)(w->rng & 0xffff));
    rc = berth_router_new(cfg, opts->clock, &w->router, err);
    if (rc) {
        free(w->id);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void berth_worker_free(struct berth_worker *w)
{
    if (!w)
        return;
    pool_free(w->pool);
    for (size_t i = 0; i < w->n_active; i++) {
        put_ref(w->active[i]);
        wjob_free(w->active[i]);
    }
    free(w->active);
    for (size_t i = 0; i < w->q.n; i++)
        upd_release(&w->q.v[i]);
    free(w->q.v);
    free(w->retries);
    berth_router_free(w->router);
    berth_config_free(w->owned_cfg);
    for (size_t i = 0; i < w->n_old; i++) {
        berth_router_free(w->old[i].r);
        berth_config_free(w->old[i].cfg);
    }
    free(w->old);
    free(w->id);
    free(w);
}

void berth_worker_stop(struct berth_worker *w)
{
    w->stop = 1;
}

void berth_worker_request_dump(struct berth_worker *w)
{
    w->dump = 1;
}

void berth_worker_request_reload(struct berth_worker *w)
{
    w->reload = 1;
}

void berth_worker_set_reload(struct berth_worker *w, berth_worker_reload_fn fn,
                             void *ctx)
{
    w->reload_fn = fn;
    w->reload_ctx = ctx;
}

void berth_worker_get_stats(const struct berth_worker *w,
                            struct berth_worker_stats *out)
{
    *out = w->stats;
}

/* Free the routers a reload replaced once nothing holds their instances. */
static void reap_old_routers(struct berth_worker *w)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->n_old; i++) {
        struct old_router *o = &w->old[i];
        if (berth_router_in_use(o->r)) {
            w->old[keep++] = *o;
            continue;
        }
        berth_router_free(o->r);
        berth_config_free(o->cfg);
        berth_log0(BERTH_LOG_INFO, "old config released");
    }
    w->n_old = keep;
}

/* SIGHUP: switch to the re-read config at once. Jobs and calls in flight
 * (a cleanup outlives its job) keep the instances of the router they came
 * from; that router stays, retired, until the last of them lets go. */
static void do_reload(struct berth_worker *w)
{
    struct berth_config *nc;
    struct berth_router *nr;
    struct berth_err err;

    w->reload = 0;
    if (!w->reload_fn)
        return;
    nc = w->reload_fn(w->reload_ctx);
    if (!nc)
        return; /* the hook logged why; the running config stays */
    berth_err_init(&err);
    if (berth_router_new(nc, w->o.clock, &nr, &err) != 0) {
        berth_log(BERTH_LOG_ERROR, "config reload refused",
                  BL_S("error", err.msg));
        berth_config_free(nc);
        return;
    }
    w->old = berth_xrealloc(w->old, (w->n_old + 1) * sizeof(*w->old));
    w->old[w->n_old].r = w->router;
    w->old[w->n_old].cfg = w->owned_cfg;
    w->n_old++;
    w->router = nr;
    w->owned_cfg = nc;
    w->cfg = nc;
    w->need_sync = true;
    reap_old_routers(w);
    berth_log(BERTH_LOG_INFO, "config reloaded",
              BL_I("retired_routers", (int64_t)w->n_old));
}

/* Dry run: route ready jobs as if placing them; change nothing. */
static int dry_run(struct berth_worker *w, struct berth_err *err)
{
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_job *v = NULL;
    size_t n = 0;
    int64_t now = now_us(w);
    int rc;

    rc = berth_router_sync(w->router, w->st, err);
    if (rc)
        return rc;
    f.status = BERTH_JOB_PENDING;
    rc = berth_store_job_list(w->st, &f, &v, &n, err);
    if (rc)
        return rc;
    /* Claim order: priority first, then age (the list is by id). */
    for (int prio = 100; prio >= 0; prio--) {
        for (size_t i = 0; i < n; i++) {
            struct berth_route_result res;
            if (v[i].priority != prio || v[i].ready_at > now)
                continue;
            if (berth_router_route(w->router, &v[i], NULL, &res, NULL, err))
                continue;
            if (res.outcome == BERTH_ROUTE_PLACED) {
                berth_router_note_reserved(w->router, res.host, &v[i]);
                printf("job %" PRId64 ": would launch on %s/%s: %s\n", v[i].id,
                       res.executor, res.host, res.reason);
            } else {
                printf("job %" PRId64 ": %s: %s\n", v[i].id,
                       res.outcome == BERTH_ROUTE_NEVER ? "would fail"
                                                        : "would wait",
                       res.reason);
            }
        }
    }
    berth_store_jobs_free(v, n);
    return 0;
}

/* Leave nothing half-done: pending jobs we hold go back to the queue,
 * launching ones that were never launched too, and running ones are
 * released for the next worker to adopt. */
static int shutdown_release(struct berth_worker *w, struct berth_err *err)
{
    for (size_t i = 0; i < w->n_active; i++) {
        struct wjob *wj = w->active[i];
        struct upd *u;
        if (wj->ph == PH_DONE)
            continue;
        if (wj->j.status == BERTH_JOB_PENDING) {
            u = upd_new(w, U_DROP, wj, BERTH_JOB_PENDING);
            u->u.set = BERTH_UPD_OWNER;
            u->u.owner = NULL;
        } else if (wj->j.status == BERTH_JOB_LAUNCHING) {
            u = upd_new(w, U_RETRY, wj, BERTH_JOB_PENDING);
            u->u.reason = upd_str(u, "worker stopped before launching");
            u->u.set = BERTH_UPD_OWNER | BERTH_UPD_READY_AT;
            u->u.owner = NULL;
            u->u.ready_at = now_us(w);
        }
    }
    flush(w, err);
    return berth_store_lease_release(w->st, w->id, err);
}

/*
 * --once is done when nothing is in flight, no job it holds can move (all
 * that are left wait for a place that nothing of this run will free), and
 * no retry of its jobs is due later (then it sleeps until the earliest).
 */
static bool once_done(struct berth_worker *w, size_t claimed_now, int64_t now,
                      int64_t *sleep_until)
{
    int64_t earliest = INT64_MAX;

    if (pool_in_flight(w->pool) > 0 || claimed_now > 0 || w->q.n > 0 ||
        w->inline_head || w->ended_this_turn > 0)
        return false;
    for (size_t i = 0; i < w->n_active; i++) {
        const struct wjob *wj = w->active[i];
        if (!(wj->ph == PH_NEW && wj->waiting))
            return false;
    }
    if (w->o.max_jobs > 0 && w->claimed_total >= w->o.max_jobs)
        return true;
    for (size_t i = 0; i < w->n_retries; i++)
        if (w->retries[i].ready_at < earliest)
            earliest = w->retries[i].ready_at;
    if (w->n_retries == 0)
        return true;
    if (earliest <= now) {
        /* Due but not claimed: another worker has it, or it is gone. */
        if (now - earliest > 2 * w->o.poll_interval_us)
            w->n_retries = 0;
        *sleep_until = now + w->o.poll_interval_us / 4;
        return w->n_retries == 0;
    }
    *sleep_until = earliest;
    return false;
}

enum turn_end {
    TURN_GO_ON,
    TURN_EXIT,
};

/*
 * One turn of the loop: housekeeping, results of calls, claims, placing,
 * polling, and one flush of the store updates. Sets *end and how long the
 * caller may wait for call results before the next turn.
 */
static int turn(struct berth_worker *w, bool stopping, size_t *got,
                int64_t *sleep_until, enum turn_end *end, int64_t *wait_out,
                struct berth_err *err)
{
    int64_t now = now_us(w), wait_us;
    int rc;

    *end = TURN_GO_ON;
    *wait_out = 0;
    w->ended_this_turn = 0;
    if (w->dump) {
        w->dump = 0;
        dump_state(w);
    }
    if (w->reload)
        do_reload(w);
    if (w->need_sync || now >= w->next_sync) {
        if ((rc = berth_router_sync(w->router, w->st, err)) != 0)
            return rc;
        w->need_sync = false;
        w->next_sync = now + w->o.poll_interval_us;
    }
    if (now >= w->next_renew) {
        rc = berth_store_lease_renew(w->st, w->id, now + w->o.lease_us, err);
        if (rc)
            return rc;
        w->next_renew = now + w->o.lease_us / 3;
    }
    take_calls(w, 0);
    if (!stopping && now >= w->next_orphans) {
        if ((rc = reconcile_orphans(w, now, err)) != 0)
            return rc;
        w->next_orphans = now + w->o.lease_us / 2;
    }
    if (now >= w->next_cancel_check) {
        if ((rc = check_cancels(w, err)) != 0)
            return rc;
        if (!stopping && (rc = sweep_deadlines(w, now, err)) != 0)
            return rc;
        w->next_cancel_check = now + w->o.poll_interval_us;
    }
    if (!stopping) {
        if ((rc = claim(w, now, got, err)) != 0)
            return rc;
        place_new(w, now);
    }
    poll_running(w, now);
    if ((rc = flush(w, err)) != 0)
        return rc;
    sweep_done(w);
    if (w->n_old > 0)
        reap_old_routers(w);

    if (stopping) {
        /* Finish what is in flight, then leave. */
        bool busy = pool_in_flight(w->pool) > 0 || w->q.n > 0 || w->inline_head;
        for (size_t i = 0; i < w->n_active && !busy; i++)
            busy = w->active[i]->ph == PH_STORE;
        if (!busy)
            *end = TURN_EXIT;
        *wait_out = 50000;
        return 0;
    }
    if (w->o.once && once_done(w, *got, now, sleep_until)) {
        *end = TURN_EXIT;
        return 0;
    }

    /* Wait for a call to finish, or until the next thing is due. */
    wait_us = w->o.poll_interval_us;
    if (*got > 0 || w->q.n > 0 || w->inline_head)
        wait_us = 0;
    for (size_t i = 0; i < w->n_active && wait_us > 0; i++) {
        struct wjob *wj = w->active[i];
        if (wj->ph == PH_NEW || wj->ph == PH_TOKEN || wj->ph == PH_RUN) {
            int64_t d = wj->next_at - now;
            if (d < wait_us)
                wait_us = d > 0 ? d : 0;
        }
    }
    if (*sleep_until && *sleep_until - now < wait_us)
        wait_us = *sleep_until - now;
    if (wait_us > 100000)
        wait_us = 100000; /* notice signals promptly */
    *wait_out = wait_us > 0 ? wait_us : 0;
    return 0;
}

int berth_worker_run(struct berth_worker *w, struct berth_err *err)
{
    int rc = 0;
    bool stopping = false;

    if (w->o.dry_run)
        return dry_run(w, err);
    w->pool = pool_new(w->o.concurrency);
    berth_log(BERTH_LOG_INFO, "worker started", BL_S("worker", w->id),
              BL_I("concurrency", w->o.concurrency), BL_B("once", w->o.once),
              BL_S("store", berth_store_backend(w->st)));

    /* Jobs this worker id held in an earlier life are ours to reconcile at
     * once (a restart with the same --id); others wait for lease expiry. */
    rc = berth_router_sync(w->router, w->st, err);
    if (rc == 0)
        rc = adopt_own(w, err);
    if (rc) {
        pool_free(w->pool);
        w->pool = NULL;
        return rc;
    }

    for (;;) {
        int64_t wait_us = 0, sleep_until = 0;
        size_t got = 0;
        enum turn_end end;

        if (w->stop && !stopping) {
            stopping = true;
            berth_log(BERTH_LOG_INFO, "worker stopping", BL_S("worker", w->id),
                      BL_I("calls_in_flight", pool_in_flight(w->pool)));
        }
        rc = turn(w, stopping, &got, &sleep_until, &end, &wait_us, err);
        if (rc) {
            /* The store failed (locked, connection lost): nothing of this
             * turn was lost, the updates wait in the queue. Try again for
             * a while before giving up. */
            int64_t now = berth_mono_us();
            if (!w->store_down_since)
                w->store_down_since = now;
            berth_log(BERTH_LOG_WARN, "store error; retrying",
                      BL_S("worker", w->id), BL_S("error", err->msg));
            if (now - w->store_down_since > STORE_GIVE_UP_US)
                break;
            take_calls(w, 500000);
            continue;
        }
        w->store_down_since = 0;
        if (end == TURN_EXIT)
            break;
        if (wait_us > 0 && w->o.clock && w->o.clock->sleep_us &&
            pool_in_flight(w->pool) == 0 && !w->inline_head) {
            /* Nothing to wait for but time: let an injected clock pass it. */
            w->o.clock->sleep_us(w->o.clock->ctx, wait_us);
            continue;
        }
        take_calls(w, wait_us);
    }

    if (rc == 0) {
        struct berth_err e2;
        berth_err_init(&e2);
        take_calls(w, 0);
        flush(w, &e2);
        shutdown_release(w, &e2);
    }
    pool_free(w->pool);
    w->pool = NULL;
    berth_log(
        BERTH_LOG_INFO, "worker stopped", BL_S("worker", w->id),
        BL_I("claimed", w->stats.claimed), BL_I("launched", w->stats.launched),
        BL_I("adopted", w->stats.adopted),
        BL_I("completed", w->stats.completed), BL_I("failed", w->stats.failed),
        BL_I("timed_out", w->stats.timed_out),
        BL_I("cancelled", w->stats.cancelled),
        BL_I("retried", w->stats.retried),
        BL_I("fallbacks", w->stats.fallbacks));
    return rc;
}
