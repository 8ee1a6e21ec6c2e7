/*
 * codec.c - struct berth_job / template / host / event <-> SQL columns, in
 * the one column order of store_int.h, for both backends. Lists and maps are
 * JSON text (berth_strv_to_json / berth_map_to_json).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth/util.h"
#include "store/store_int.h"

int64_t berth__cpu_millis(double cores)
{
    if (!(cores > 0))
        return 0;
    return (int64_t)llround(cores * 1000.0);
}

static char *col_str(const struct berth__row *r, int col)
{
    return berth_xstrdup(r->text(r->ctx, col));
}

/* Most lists and maps are empty: skip the JSON parser for those. */
static bool empty_json(const char *text)
{
    return !text || !*text || strcmp(text, "[]") == 0 ||
           strcmp(text, "{}") == 0;
}

static int col_strv(const struct berth__row *r, int col, struct berth_strv *sv,
                    const char *what, struct berth_err *err)
{
    const char *text = r->text(r->ctx, col);
    if (empty_json(text) && (!text || *text != '{')) {
        berth_strv_init(sv);
        return 0;
    }
    if (berth_strv_from_json(sv, text, err) != 0) {
        berth_err_prefix(err, "stored %s", what);
        if (err)
            err->rc = BERTH_E_STORE;
        return BERTH_E_STORE;
    }
    return 0;
}

static int col_map(const struct berth__row *r, int col, struct berth_map *m,
                   const char *what, struct berth_err *err)
{
    const char *text = r->text(r->ctx, col);
    if (empty_json(text) && (!text || *text != '[')) {
        berth_map_init(m);
        return 0;
    }
    if (berth_map_from_json(m, text, err) != 0) {
        berth_err_prefix(err, "stored %s", what);
        if (err)
            err->rc = BERTH_E_STORE;
        return BERTH_E_STORE;
    }
    return 0;
}

static int col_state(const struct berth__row *r, int col,
                     enum berth_job_state *out, struct berth_err *err)
{
    const char *s = r->text(r->ctx, col);
    if (!s || berth_job_state_parse(s, out) != 0)
        return berth_err_set(err, BERTH_E_STORE,
                             "stored job state '%s' is unknown",
                             s ? s : "(null)");
    return 0;
}

int berth__job_decode(const struct berth__row *r, int base, struct berth_job *j,
                      struct berth_err *err)
{
    int c = base;
    int rc;
    const char *rs;

    berth_job_init(j);
    j->id = r->i64(r->ctx, c++);
    j->name = col_str(r, c++);
    j->template_name = col_str(r, c++);
    j->image = col_str(r, c++);
    if ((rc = col_strv(r, c++, &j->command, "command", err)) != 0)
        goto fail;
    j->working_dir = col_str(r, c++);
    if ((rc = col_map(r, c++, &j->env, "env", err)) != 0)
        goto fail;
    j->network = col_str(r, c++);
    j->memory_mb = r->i64(r->ctx, c++);
    j->cpu_cores = r->dbl(r->ctx, c++);
    j->timeout_seconds = r->i64(r->ctx, c++);
    if ((rc = col_map(r, c++, &j->labels, "labels", err)) != 0)
        goto fail;
    j->tmpl_image = col_str(r, c++);
    if ((rc = col_map(r, c++, &j->tmpl_labels, "template labels", err)) != 0)
        goto fail;
    j->tmpl_memory_mb = r->i64(r->ctx, c++);
    j->tmpl_cpu_cores = r->dbl(r->ctx, c++);
    j->tmpl_timeout_seconds = r->i64(r->ctx, c++);
    j->priority = (int)r->i64(r->ctx, c++);
    j->not_before = r->i64(r->ctx, c++);
    j->start_deadline = r->i64(r->ctx, c++);
    j->preferred_executor = col_str(r, c++);
    j->user = col_str(r, c++);
    if ((rc = col_strv(r, c++, &j->user_groups, "user groups", err)) != 0)
        goto fail;
    j->max_attempts = (int)r->i64(r->ctx, c++);
    rs = r->text(r->ctx, c++);
    if (!rs || berth_retry_strategy_parse(rs, &j->retry_strategy) != 0) {
        rc = berth_err_set(err, BERTH_E_STORE,
                           "stored retry strategy '%s' is unknown",
                           rs ? rs : "(null)");
        goto fail;
    }
    j->created_at = r->i64(r->ctx, c++);
    if ((rc = col_state(r, c++, &j->status, err)) != 0)
        goto fail;
    j->attempt = (int)r->i64(r->ctx, c++);
    j->executor = col_str(r, c++);
    j->host = col_str(r, c++);
    j->routing_reason = col_str(r, c++);
    j->rule_index = (int)r->i64(r->ctx, c++);
    j->execution_id = col_str(r, c++);
    j->has_exit_code = !r->is_null(r->ctx, c);
    j->exit_code = (int)r->i64(r->ctx, c++);
    j->last_error = col_str(r, c++);
    j->wait_reason = col_str(r, c++);
    j->started_at = r->i64(r->ctx, c++);
    j->finished_at = r->i64(r->ctx, c++);
    j->ready_at = r->i64(r->ctx, c++);
    j->cancel_requested = r->i64(r->ctx, c++) != 0;
    j->owner = col_str(r, c++);
    j->lease_until = r->i64(r->ctx, c++);
    j->oom_killed = r->i64(r->ctx, c++) != 0;
    j->peak_memory_bytes = r->i64(r->ctx, c++);
    j->cpu_time_us = r->i64(r->ctx, c++);
    return 0;
fail:
    berth_err_prefix(err, "job %lld", (long long)j->id);
    berth_job_release(j);
    return rc;
}

int berth__template_decode(const struct berth__row *r, int base,
                           struct berth_template *t, struct berth_err *err)
{
    int c = base;
    int rc;

    berth_template_init(t);
    t->name = col_str(r, c++);
    t->image = col_str(r, c++);
    if ((rc = col_strv(r, c++, &t->command, "command", err)) != 0)
        goto fail;
    t->working_dir = col_str(r, c++);
    if ((rc = col_map(r, c++, &t->env, "env", err)) != 0)
        goto fail;
    t->environment = col_str(r, c++);
    t->network = col_str(r, c++);
    t->memory_mb = r->i64(r->ctx, c++);
    t->cpu_cores = r->dbl(r->ctx, c++);
    t->timeout_seconds = r->i64(r->ctx, c++);
    if ((rc = col_map(r, c++, &t->labels, "labels", err)) != 0)
        goto fail;
    return 0;
fail:
    berth_err_prefix(err, "template '%s'", t->name ? t->name : "");
    berth_template_release(t);
    return rc;
}

void berth__host_decode(const struct berth__row *r, int base,
                        struct berth_host *h)
{
    int c = base;

    berth_host_init(h);
    h->name = col_str(r, c++);
    h->executor = col_str(r, c++);
    h->url = col_str(r, c++);
    h->max_concurrent_jobs = r->i64(r->ctx, c++);
    h->memory_mb = r->i64(r->ctx, c++);
    h->cpu_cores = r->dbl(r->ctx, c++);
    h->weight = r->i64(r->ctx, c++);
    h->enabled = r->i64(r->ctx, c++) != 0;
    h->options_json = col_str(r, c++);
    h->used_jobs = r->i64(r->ctx, c++);
    h->used_memory_mb = r->i64(r->ctx, c++);
    h->used_cpu_cores = (double)r->i64(r->ctx, c++) / 1000.0;
}

int berth__event_decode(const struct berth__row *r, int base,
                        struct berth_job_event *e, struct berth_err *err)
{
    int c = base;
    int rc;

    memset(e, 0, sizeof(*e));
    e->id = r->i64(r->ctx, c++);
    e->job_id = r->i64(r->ctx, c++);
    e->at = r->i64(r->ctx, c++);
    if ((rc = col_state(r, c++, &e->from, err)) != 0)
        return rc;
    if ((rc = col_state(r, c++, &e->to, err)) != 0)
        return rc;
    e->attempt = (int)r->i64(r->ctx, c++);
    e->executor = col_str(r, c++);
    e->host = col_str(r, c++);
    e->reason = col_str(r, c++);
    return 0;
}

int berth__job_row_decode(const struct berth__row *r, int base,
                          struct berth__job_row *row, struct berth_err *err)
{
    int c = base;
    int rc;

    row->id = r->i64(r->ctx, c++);
    if ((rc = col_state(r, c++, &row->status, err)) != 0)
        return berth_err_prefix(err, "job %lld", (long long)row->id);
    row->attempt = (int)r->i64(r->ctx, c++);
    row->executor = col_str(r, c++);
    row->host = col_str(r, c++);
    row->routing_reason = col_str(r, c++);
    row->rule_index = (int)r->i64(r->ctx, c++);
    row->execution_id = col_str(r, c++);
    row->has_exit_code = !r->is_null(r->ctx, c);
    row->exit_code = (int)r->i64(r->ctx, c++);
    row->last_error = col_str(r, c++);
    row->wait_reason = col_str(r, c++);
    row->started_at = r->i64(r->ctx, c++);
    row->finished_at = r->i64(r->ctx, c++);
    row->ready_at = r->i64(r->ctx, c++);
    row->cancel_requested = r->i64(r->ctx, c++) != 0;
    row->owner = col_str(r, c++);
    row->lease_until = r->i64(r->ctx, c++);
    row->oom_killed = r->i64(r->ctx, c++) != 0;
    row->peak_memory_bytes = r->i64(r->ctx, c++);
    row->cpu_time_us = r->i64(r->ctx, c++);
    row->memory_mb = r->i64(r->ctx, c++);
    row->cpu_millis = berth__cpu_millis(r->dbl(r->ctx, c++));
    row->found = true;
    return 0;
}

void berth__host_row_decode(const struct berth__row *r, int base,
                            struct berth__host_row *h)
{
    int c = base + 1; /* the name is already in h */

    h->found = true;
    h->enabled = r->i64(r->ctx, c++) != 0;
    h->max_jobs = r->i64(r->ctx, c++);
    h->memory_mb = r->i64(r->ctx, c++);
    h->cpu_millis = berth__cpu_millis(r->dbl(r->ctx, c++));
    h->used_jobs = r->i64(r->ctx, c++);
    h->used_memory_mb = r->i64(r->ctx, c++);
    h->used_cpu_millis = r->i64(r->ctx, c++);
}

static void bind_strv(const struct berth__binder *b, int idx,
                      const struct berth_strv *sv)
{
    char *s = berth_strv_to_json(sv);
    b->text(b->ctx, idx, s);
    free(s);
}

static void bind_map(const struct berth__binder *b, int idx,
                     const struct berth_map *m)
{
    char *s = berth_map_to_json(m);
    b->text(b->ctx, idx, s);
    free(s);
}

void berth__job_bind_spec(const struct berth__binder *b, int first,
                          const struct berth_job *j)
{
    int i = first;

    b->text(b->ctx, i++, j->name);
    b->text(b->ctx, i++, j->template_name);
    b->text(b->ctx, i++, j->image);
    bind_strv(b, i++, &j->command);
    b->text(b->ctx, i++, j->working_dir);
    bind_map(b, i++, &j->env);
    b->text(b->ctx, i++, j->network);
    b->i64(b->ctx, i++, j->memory_mb);
    b->dbl(b->ctx, i++, j->cpu_cores);
    b->i64(b->ctx, i++, j->timeout_seconds);
    bind_map(b, i++, &j->labels);
    b->text(b->ctx, i++, j->tmpl_image);
    bind_map(b, i++, &j->tmpl_labels);
    b->i64(b->ctx, i++, j->tmpl_memory_mb);
    b->dbl(b->ctx, i++, j->tmpl_cpu_cores);
    b->i64(b->ctx, i++, j->tmpl_timeout_seconds);
    b->i64(b->ctx, i++, j->priority);
    b->i64(b->ctx, i++, j->not_before);
    b->i64(b->ctx, i++, j->start_deadline);
    b->text(b->ctx, i++, j->preferred_executor);
    b->text(b->ctx, i++, j->user);
    bind_strv(b, i++, &j->user_groups);
    b->i64(b->ctx, i++, j->max_attempts);
    b->text(b->ctx, i++, berth_retry_strategy_str(j->retry_strategy));
}

const char *const berth__job_state_col_names[BERTH__JOB_STATE_NCOLS] = {
    [BERTH__COL_STATUS] = "status",
    [BERTH__COL_ATTEMPT] = "attempt",
    [BERTH__COL_EXECUTOR] = "executor",
    [BERTH__COL_HOST] = "host",
    [BERTH__COL_ROUTING_REASON] = "routing_reason",
    [BERTH__COL_RULE_INDEX] = "rule_index",
    [BERTH__COL_EXECUTION_ID] = "execution_id",
    [BERTH__COL_EXIT_CODE] = "exit_code",
    [BERTH__COL_LAST_ERROR] = "last_error",
    [BERTH__COL_WAIT_REASON] = "wait_reason",
    [BERTH__COL_STARTED_AT] = "started_at",
    [BERTH__COL_FINISHED_AT] = "finished_at",
    [BERTH__COL_READY_AT] = "ready_at",
    [BERTH__COL_CANCEL_REQ] = "cancel_requested",
    [BERTH__COL_OWNER] = "owner",
    [BERTH__COL_LEASE_UNTIL] = "lease_until",
    [BERTH__COL_OOM_KILLED] = "oom_killed",
    [BERTH__COL_PEAK_MEMORY] = "peak_memory_bytes",
    [BERTH__COL_CPU_TIME] = "cpu_time_us",
};

static void bind_state_col(const struct berth__binder *b, int idx,
                           const struct berth__job_row *row, int col)
{
    switch (col) {
    case BERTH__COL_STATUS:
        b->text(b->ctx, idx, berth_job_state_str(row->status));
        break;
    case BERTH__COL_ATTEMPT:
        b->i64(b->ctx, idx, row->attempt);
        break;
    case BERTH__COL_EXECUTOR:
        b->text(b->ctx, idx, row->executor);
        break;
    case BERTH__COL_HOST:
        b->text(b->ctx, idx, row->host);
        break;
    case BERTH__COL_ROUTING_REASON:
        b->text(b->ctx, idx, row->routing_reason);
        break;
    case BERTH__COL_RULE_INDEX:
        b->i64(b->ctx, idx, row->rule_index);
        break;
    case BERTH__COL_EXECUTION_ID:
        b->text(b->ctx, idx, row->execution_id);
        break;
    case BERTH__COL_EXIT_CODE:
        if (row->has_exit_code)
            b->i64(b->ctx, idx, row->exit_code);
        else
            b->null(b->ctx, idx);
        break;
    case BERTH__COL_LAST_ERROR:
        b->text(b->ctx, idx, row->last_error);
        break;
    case BERTH__COL_WAIT_REASON:
        b->text(b->ctx, idx, row->wait_reason);
        break;
    case BERTH__COL_STARTED_AT:
        b->i64(b->ctx, idx, row->started_at);
        break;
    case BERTH__COL_FINISHED_AT:
        b->i64(b->ctx, idx, row->finished_at);
        break;
    case BERTH__COL_READY_AT:
        b->i64(b->ctx, idx, row->ready_at);
        break;
    case BERTH__COL_CANCEL_REQ:
        b->i64(b->ctx, idx, row->cancel_requested ? 1 : 0);
        break;
    case BERTH__COL_OWNER:
        b->text(b->ctx, idx, row->owner);
        break;
    case BERTH__COL_LEASE_UNTIL:
        b->i64(b->ctx, idx, row->lease_until);
        break;
    case BERTH__COL_OOM_KILLED:
        b->i64(b->ctx, idx, row->oom_killed ? 1 : 0);
        break;
    case BERTH__COL_PEAK_MEMORY:
        b->i64(b->ctx, idx, row->peak_memory_bytes);
        break;
    case BERTH__COL_CPU_TIME:
        b->i64(b->ctx, idx, row->cpu_time_us);
        break;
    default:
        BERTH_BUG("state column %d", col);
    }
}

void berth__job_row_bind_state(const struct berth__binder *b, int first,
                               const struct berth__job_row *row)
{
    for (int c = 0; c < BERTH__JOB_STATE_NCOLS; c++)
        bind_state_col(b, first + c, row, c);
}

int berth__job_row_bind_changed(const struct berth__binder *b, int first,
                                const struct berth__job_row *row, unsigned mask)
{
    int k = 0;
    for (int c = 0; c < BERTH__JOB_STATE_NCOLS; c++) {
        if (mask & (1u << c))
            bind_state_col(b, first + k++, row, c);
    }
    return k;
}

void berth__template_bind(const struct berth__binder *b, int first,
                          const struct berth_template *t)
{
    int i = first;

    b->text(b->ctx, i++, t->name);
    b->text(b->ctx, i++, t->image);
    bind_strv(b, i++, &t->command);
    b->text(b->ctx, i++, t->working_dir);
    bind_map(b, i++, &t->env);
    b->text(b->ctx, i++, t->environment);
    b->text(b->ctx, i++, t->network);
    b->i64(b->ctx, i++, t->memory_mb);
    b->dbl(b->ctx, i++, t->cpu_cores);
    b->i64(b->ctx, i++, t->timeout_seconds);
    bind_map(b, i++, &t->labels);
}

void berth__host_bind(const struct berth__binder *b, int first,
                      const struct berth_host *h)
{
    int i = first;

    b->text(b->ctx, i++, h->name);
    b->text(b->ctx, i++, h->executor);
    b->text(b->ctx, i++, h->url);
    b->i64(b->ctx, i++, h->max_concurrent_jobs);
    b->i64(b->ctx, i++, h->memory_mb);
    b->dbl(b->ctx, i++, h->cpu_cores);
    b->i64(b->ctx, i++, h->weight);
    b->i64(b->ctx, i++, h->enabled ? 1 : 0);
    b->text(b->ctx, i++, h->options_json);
}

static int claim_cmp(const void *pa, const void *pb)
{
    const struct berth_job *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

void berth__jobs_sort_claim(struct berth_job *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), claim_cmp);
}
