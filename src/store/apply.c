/*
 * apply.c - the meaning of berth_store_apply(), computed once for every
 * backend (see store_int.h): compare-and-set on (status, attempt), legality
 * through berth_job_transition_ok(), capacity reservation and release,
 * the columns a transition sets or clears, and the event rows.
 *
 * The backend holds the rows locked while this runs, so the decisions made
 * here on the loaded values are the decisions the database commits.
 */
#include <stdlib.h>
#include <string.h>

#include "berth/job.h"
#include "berth/util.h"
#include "store/store_int.h"

static const char *const cap_why_names[] = {
    [BERTH_CAP_OK] = "ok",
    [BERTH_CAP_UNKNOWN_HOST] = "unknown host",
    [BERTH_CAP_DISABLED] = "host disabled",
    [BERTH_CAP_JOBS] = "no free job slot",
    [BERTH_CAP_MEMORY] = "not enough free memory",
    [BERTH_CAP_CPU] = "not enough free cpu",
};

const char *berth_store_cap_why_str(int why)
{
    if (why < 0 || why > BERTH_CAP_CPU)
        return "unknown";
    return cap_why_names[why];
}

static bool valid_state(enum berth_job_state s)
{
    return (int)s >= 0 && (int)s < BERTH_JOB_NSTATES;
}

static bool is_active(enum berth_job_state s)
{
    return s == BERTH_JOB_LAUNCHING || s == BERTH_JOB_RUNNING;
}

/* A placement move: launching -> launching on (maybe) another host. */
static bool is_move(const struct berth_job_update *u)
{
    return u->from == BERTH_JOB_LAUNCHING && u->to == BERTH_JOB_LAUNCHING &&
           !u->explicit_retry && (u->set & BERTH_UPD_PLACEMENT);
}

static bool reserves(const struct berth_job_update *u)
{
    return (u->to == BERTH_JOB_LAUNCHING && u->from != BERTH_JOB_LAUNCHING) ||
           is_move(u);
}

/* What can be refused without reading the store. */
static int validate(const struct berth_job_update *u)
{
    if (u->job_id <= 0 || !valid_state(u->from) || !valid_state(u->to) ||
        u->attempt < 0)
        return BERTH_E_INVALID;
    if (u->to != u->from || u->explicit_retry) {
        if (!berth_job_transition_ok(u->from, u->to, u->explicit_retry))
            return BERTH_E_STATE;
    }
    if (u->set & BERTH_UPD_PLACEMENT) {
        /* Placement changes only together with a reservation; anything
         * else would move a job off its counted slot. */
        if (u->to != BERTH_JOB_LAUNCHING || u->explicit_retry)
            return BERTH_E_INVALID;
        if (!u->host || !*u->host)
            return BERTH_E_INVALID;
    } else if (reserves(u)) {
        return BERTH_E_INVALID; /* entering launching needs a host */
    }
    return 0;
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

void berth__apply_init(struct berth__apply *a, struct berth_job_update *ups,
                       size_t n, int64_t now)
{
    int64_t *ids;
    size_t k = 0;

    memset(a, 0, sizeof(*a));
    a->ups = ups;
    a->n = n;
    a->now = now;
    ids = berth_xcalloc(n ? n : 1, sizeof(*ids));
    for (size_t i = 0; i < n; i++) {
        ups[i].rc = validate(&ups[i]);
        ups[i].cap_why = BERTH_CAP_OK;
        if (ups[i].rc == 0)
            ids[k++] = ups[i].job_id;
    }
    qsort(ids, k, sizeof(*ids), cmp_i64);
    a->rows = berth_xcalloc(k ? k : 1, sizeof(*a->rows));
    for (size_t i = 0; i < k; i++) {
        if (a->nrows && a->rows[a->nrows - 1].id == ids[i])
            continue;
        a->rows[a->nrows].id = ids[i];
        a->rows[a->nrows].rule_index = -1;
        a->nrows++;
    }
    free(ids);
}

struct berth__job_row *berth__apply_row(struct berth__apply *a, int64_t id)
{
    size_t lo = 0, hi = a->nrows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->rows[mid].id == id)
            return &a->rows[mid];
        if (a->rows[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct berth__host_row *berth__apply_host(struct berth__apply *a,
                                          const char *name)
{
    size_t lo = 0, hi = a->nhosts;
    if (!name)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(a->hosts[mid].name, name);
        if (c == 0)
            return &a->hosts[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

void berth__apply_want_hosts(struct berth__apply *a)
{
    const char **names;
    size_t k = 0;

    names = berth_xcalloc(a->n + a->nrows + 1, sizeof(*names));
    for (size_t i = 0; i < a->n; i++) {
        const struct berth_job_update *u = &a->ups[i];
        if (u->rc == 0 && (u->set & BERTH_UPD_PLACEMENT))
            names[k++] = u->host;
    }
    for (size_t i = 0; i < a->nrows; i++) {
        if (a->rows[i].found && a->rows[i].host)
            names[k++] = a->rows[i].host;
    }
    qsort(names, k, sizeof(*names), cmp_str);
    a->hosts = berth_xcalloc(k ? k : 1, sizeof(*a->hosts));
    for (size_t i = 0; i < k; i++) {
        if (a->nhosts && strcmp(a->hosts[a->nhosts - 1].name, names[i]) == 0)
            continue;
        a->hosts[a->nhosts++].name = berth_xstrdup(names[i]);
    }
    free(names);
}

/* DESIGN.md § Routing: room = a free job slot, and the job's memory and cpu
 * within the host's declared totals. */
static int cap_check(const struct berth__host_row *h, int64_t mem, int64_t cpu)
{
    if (!h || !h->found)
        return BERTH_CAP_UNKNOWN_HOST;
    if (!h->enabled)
        return BERTH_CAP_DISABLED;
    if (h->max_jobs > 0 && h->used_jobs + h->d_jobs >= h->max_jobs)
        return BERTH_CAP_JOBS;
    if (h->memory_mb > 0 &&
        h->used_memory_mb + h->d_memory_mb + mem > h->memory_mb)
        return BERTH_CAP_MEMORY;
    if (h->cpu_millis > 0 &&
        h->used_cpu_millis + h->d_cpu_millis + cpu > h->cpu_millis)
        return BERTH_CAP_CPU;
    return BERTH_CAP_OK;
}

static void host_add(struct berth__host_row *h, int sign, int64_t mem,
                     int64_t cpu)
{
    if (!h || !h->found)
        return;
    h->d_jobs += sign;
    h->d_memory_mb += sign * mem;
    h->d_cpu_millis += sign * cpu;
    /* Never below zero, whatever an earlier bug left behind. */
    if (h->used_jobs + h->d_jobs < 0)
        h->d_jobs = -h->used_jobs;
    if (h->used_memory_mb + h->d_memory_mb < 0)
        h->d_memory_mb = -h->used_memory_mb;
    if (h->used_cpu_millis + h->d_cpu_millis < 0)
        h->d_cpu_millis = -h->used_cpu_millis;
}

/* Setters that note which state columns really changed (row->changed), so
 * that a backend may write only those. */
static void set_str(struct berth__job_row *row, char **dst, const char *src,
                    unsigned col)
{
    char *s;
    if (*dst == src || (*dst && src && strcmp(*dst, src) == 0))
        return;
    s = berth_xstrdup(src);
    free(*dst);
    *dst = s;
    row->changed |= 1u << col;
}

static void set_i64(struct berth__job_row *row, int64_t *dst, int64_t v,
                    unsigned col)
{
    if (*dst != v) {
        *dst = v;
        row->changed |= 1u << col;
    }
}

static void set_int(struct berth__job_row *row, int *dst, int v, unsigned col)
{
    if (*dst != v) {
        *dst = v;
        row->changed |= 1u << col;
    }
}

static void set_bool(struct berth__job_row *row, bool *dst, bool v,
                     unsigned col)
{
    if (*dst != v) {
        *dst = v;
        row->changed |= 1u << col;
    }
}

static void set_exit(struct berth__job_row *row, bool has, int code)
{
    if (row->has_exit_code != has || row->exit_code != code) {
        row->has_exit_code = has;
        row->exit_code = code;
        row->changed |= 1u << BERTH__COL_EXIT_CODE;
    }
}

static void add_event(struct berth__apply *a, const struct berth__job_row *row,
                      enum berth_job_state from, bool move,
                      const char *old_executor, const char *old_host,
                      const char *reason)
{
    struct berth__event_row *e;

    if (a->nevents == a->cap_events) {
        a->cap_events = a->cap_events ? 2 * a->cap_events : 16;
        a->events =
            berth_xrealloc(a->events, a->cap_events * sizeof(*a->events));
    }
    e = &a->events[a->nevents++];
    e->job_id = row->id;
    e->at = a->now;
    e->from = from;
    e->to = row->status;
    e->attempt = row->attempt;
    e->executor = berth_xstrdup(row->executor ? row->executor : old_executor);
    e->host = berth_xstrdup(row->host ? row->host : old_host);
    e->reason = berth_xstrdup(reason);
    /* A launch failed: back to pending or failed out of launching, or a
     * fallback move to another host. */
    e->launch_failure = from == BERTH_JOB_LAUNCHING &&
                        (move || row->status == BERTH_JOB_PENDING ||
                         row->status == BERTH_JOB_FAILED);
}

static void apply_one(struct berth__apply *a, struct berth_job_update *u)
{
    struct berth__job_row *row = berth__apply_row(a, u->job_id);
    bool change = u->to != u->from || u->explicit_retry;
    bool move = is_move(u);
    char *old_executor = NULL, *old_host = NULL;
    int run_attempt;

    if (!row || !row->found) {
        u->rc = BERTH_E_NOTFOUND;
        return;
    }
    if (row->status != u->from ||
        (u->attempt > 0 && row->attempt != u->attempt)) {
        u->rc = BERTH_E_STATE; /* stale: someone moved it first */
        return;
    }

    /* Capacity first: it is the only part that can refuse, and nothing of
     * this update is written until it passed. */
    if (reserves(u)) {
        struct berth__host_row *nh = berth__apply_host(a, u->host);
        struct berth__host_row *oh =
            move ? berth__apply_host(a, row->host) : NULL;
        int why;

        host_add(oh, -1, row->memory_mb, row->cpu_millis);
        why = cap_check(nh, row->memory_mb, row->cpu_millis);
        if (why != BERTH_CAP_OK) {
            host_add(oh, +1, row->memory_mb, row->cpu_millis);
            u->rc = BERTH_E_CAPACITY;
            u->cap_why = why;
            return;
        }
        host_add(nh, +1, row->memory_mb, row->cpu_millis);
    } else if (change && is_active(u->from) && !is_active(u->to)) {
        host_add(berth__apply_host(a, row->host), -1, row->memory_mb,
                 row->cpu_millis);
    }

    run_attempt = row->attempt; /* the attempt logs belong to */
    old_executor = berth_xstrdup(row->executor);
    old_host = berth_xstrdup(row->host);

    if (u->set & BERTH_UPD_PLACEMENT) {
        set_str(row, &row->executor, u->executor, BERTH__COL_EXECUTOR);
        set_str(row, &row->host, u->host, BERTH__COL_HOST);
        set_str(row, &row->routing_reason, u->routing_reason,
                BERTH__COL_ROUTING_REASON);
        set_int(row, &row->rule_index, u->rule_index, BERTH__COL_RULE_INDEX);
    }
    if (u->set & BERTH_UPD_EXECUTION)
        set_str(row, &row->execution_id, u->execution_id,
                BERTH__COL_EXECUTION_ID);
    if (u->set & BERTH_UPD_EXIT)
        set_exit(row, true, u->exit_code);
    if (u->set & BERTH_UPD_ERROR)
        set_str(row, &row->last_error, u->last_error, BERTH__COL_LAST_ERROR);
    if (u->set & BERTH_UPD_WAIT)
        set_str(row, &row->wait_reason, u->wait_reason, BERTH__COL_WAIT_REASON);
    else if (change && u->to != BERTH_JOB_PENDING && row->wait_reason)
        /* Placed (or finished): why it used to wait is history now. */
        set_str(row, &row->wait_reason, NULL, BERTH__COL_WAIT_REASON);
    if (u->set & BERTH_UPD_READY_AT)
        set_i64(row, &row->ready_at, u->ready_at, BERTH__COL_READY_AT);
    if (u->set & BERTH_UPD_USAGE) {
        set_bool(row, &row->oom_killed, u->oom_killed, BERTH__COL_OOM_KILLED);
        set_i64(row, &row->peak_memory_bytes, u->peak_memory_bytes,
                BERTH__COL_PEAK_MEMORY);
        set_i64(row, &row->cpu_time_us, u->cpu_time_us, BERTH__COL_CPU_TIME);
    }
    if (u->set & BERTH_UPD_CANCEL_REQ)
        set_bool(row, &row->cancel_requested, true, BERTH__COL_CANCEL_REQ);
    if (u->set & BERTH_UPD_OWNER) {
        set_str(row, &row->owner, u->owner, BERTH__COL_OWNER);
        set_i64(row, &row->lease_until, u->owner ? u->lease_until : 0,
                BERTH__COL_LEASE_UNTIL);
    }

    if (change) {
        row->status = u->to;
        row->changed |= 1u << BERTH__COL_STATUS;
        if (u->explicit_retry) {
            set_int(row, &row->attempt, row->attempt + 1, BERTH__COL_ATTEMPT);
            set_bool(row, &row->cancel_requested, false, BERTH__COL_CANCEL_REQ);
            if (!(u->set & BERTH_UPD_READY_AT))
                set_i64(row, &row->ready_at, a->now, BERTH__COL_READY_AT);
        }
        if ((u->set & BERTH_UPD_NEXT_ATTEMPT) && u->to == BERTH_JOB_PENDING &&
            !u->explicit_retry)
            set_int(row, &row->attempt, row->attempt + 1, BERTH__COL_ATTEMPT);
        if (u->to == BERTH_JOB_RUNNING)
            set_i64(row, &row->started_at, a->now, BERTH__COL_STARTED_AT);
        if (berth_job_state_terminal(u->to))
            set_i64(row, &row->finished_at, a->now, BERTH__COL_FINISHED_AT);
        if (u->to == BERTH_JOB_PENDING) {
            set_str(row, &row->executor, NULL, BERTH__COL_EXECUTOR);
            set_str(row, &row->host, NULL, BERTH__COL_HOST);
            set_str(row, &row->routing_reason, NULL, BERTH__COL_ROUTING_REASON);
            set_str(row, &row->execution_id, NULL, BERTH__COL_EXECUTION_ID);
            set_int(row, &row->rule_index, -1, BERTH__COL_RULE_INDEX);
            set_exit(row, false, 0);
            set_i64(row, &row->started_at, 0, BERTH__COL_STARTED_AT);
            set_i64(row, &row->finished_at, 0, BERTH__COL_FINISHED_AT);
        }
        if ((u->to == BERTH_JOB_PENDING || berth_job_state_terminal(u->to)) &&
            !(u->set & BERTH_UPD_OWNER)) {
            set_str(row, &row->owner, NULL, BERTH__COL_OWNER);
            set_i64(row, &row->lease_until, 0, BERTH__COL_LEASE_UNTIL);
        }
    }

    if (change || move || u->reason)
        add_event(a, row, u->from, move, old_executor, old_host, u->reason);
    if ((u->set & BERTH_UPD_LOGS) && u->logs) {
        /* at most one per update: n entries are enough */
        if (!a->logs)
            a->logs = berth_xcalloc(a->n, sizeof(*a->logs));
        a->logs[a->nlogs].job_id = row->id;
        a->logs[a->nlogs].attempt = run_attempt;
        a->logs[a->nlogs].logs = u->logs;
        a->nlogs++;
    }
    free(old_executor);
    free(old_host);
    row->dirty = true;
    u->rc = 0;
    a->applied++;
}

void berth__apply_run(struct berth__apply *a)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->ups[i].rc == 0)
            apply_one(a, &a->ups[i]);
    }
}

static void row_release(struct berth__job_row *r)
{
    free(r->executor);
    free(r->host);
    free(r->routing_reason);
    free(r->execution_id);
    free(r->last_error);
    free(r->wait_reason);
    free(r->owner);
}

void berth__apply_release(struct berth__apply *a)
{
    for (size_t i = 0; i < a->nrows; i++)
        row_release(&a->rows[i]);
    free(a->rows);
    for (size_t i = 0; i < a->nhosts; i++)
        free(a->hosts[i].name);
    free(a->hosts);
    for (size_t i = 0; i < a->nevents; i++) {
        free(a->events[i].executor);
        free(a->events[i].host);
        free(a->events[i].reason);
    }
    free(a->events);
    free(a->logs);
    memset(a, 0, sizeof(*a));
}

void berth__apply_reset(struct berth__apply *a)
{
    struct berth_job_update *ups = a->ups;
    size_t n = a->n;
    int64_t now = a->now;

    berth__apply_release(a);
    berth__apply_init(a, ups, n, now);
}
