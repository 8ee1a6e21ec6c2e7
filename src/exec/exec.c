/* exec.c - the executor registry and dispatchers (see berth/exec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/exec.h"
#include "berth/log.h"
#include "exec_int.h"

/* A new backend is one file plus one line here. */
static const struct berth_exec_ops *const registry[] = {
    &berth__exec_docker,
    &berth__exec_cloudrun,
    &berth__exec_fargate,
    &berth__exec_mock,
    NULL,
};

const struct berth_exec_ops *berth_exec_ops_find(const char *type)
{
    for (size_t i = 0; registry[i]; i++)
        if (strcmp(registry[i]->type, type) == 0)
            return registry[i];
    return NULL;
}

const struct berth_exec_ops *const *berth_exec_ops_all(void)
{
    return registry;
}

void berth_exec_name(int64_t job_id, int attempt, char *buf, size_t size)
{
    snprintf(buf, size, "berth-%lld-%d", (long long)job_id, attempt);
}

int berth_exec_create(const char *type, const struct berth_exec_params *p,
                      struct berth_exec **out, struct berth_err *err)
{
    const struct berth_exec_ops *ops = berth_exec_ops_find(type);
    struct berth_exec *ex = NULL;
    int rc;

    *out = NULL;
    if (!ops)
        return berth_err_set(err, BERTH_E_INVALID, "unknown executor type '%s'",
                             type);
    rc = ops->create(p, &ex, err);
    if (rc)
        return rc;
    if (!ex)
        BERTH_BUG("%s create returned no instance", type);
    ex->ops = ops;
    ex->executor = berth_xstrdup(p->executor);
    ex->host = berth_xstrdup(p->host ? p->host->name : p->executor);
    *out = ex;
    return 0;
}

void berth_exec_destroy(struct berth_exec *ex)
{
    char *executor, *host;
    if (!ex)
        return;
    executor = ex->executor;
    host = ex->host;
    ex->ops->destroy(ex);
    free(executor);
    free(host);
}

static int unsupported(struct berth_exec *ex, const char *what,
                       struct berth_err *err)
{
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "executor '%s' (%s) does not support %s", ex->executor,
                         ex->ops->type, what);
}

int berth_exec_health(struct berth_exec *ex, struct berth_err *err)
{
    if (!ex->ops->health)
        return 0;
    return ex->ops->health(ex, err);
}

int berth_exec_launch(struct berth_exec *ex, const struct berth_launch *req,
                      struct berth_execution *out, struct berth_err *err)
{
    int rc;
    if (!req->name || !req->image || !*req->image)
        return berth_err_set(err, BERTH_E_INVALID,
                             "job %lld has no image to launch",
                             (long long)req->job_id);
    memset(out, 0, sizeof(*out));
    rc = ex->ops->launch(ex, req, out, err);
    if (rc == 0 && !out->id[0])
        BERTH_BUG("%s launch returned no execution id", ex->ops->type);
    return rc;
}

int berth_exec_find(struct berth_exec *ex, int64_t job_id, int attempt,
                    struct berth_execution *out, struct berth_err *err)
{
    if (!ex->ops->find)
        return unsupported(ex, "finding earlier launches", err);
    memset(out, 0, sizeof(*out));
    return ex->ops->find(ex, job_id, attempt, out, err);
}

static void status_reset(struct berth_exec_status *q)
{
    q->state = BERTH_EXEC_PENDING;
    q->exit_code = 0;
    q->oom_killed = false;
    q->cancelled = false;
    q->started_at = 0;
    q->finished_at = 0;
    q->peak_memory_bytes = -1;
    q->cpu_time_us = -1;
    q->message[0] = '\0';
    q->rc = 0;
}

int berth_exec_status(struct berth_exec *ex, struct berth_exec_status *q,
                      size_t n, struct berth_err *err)
{
    for (size_t i = 0; i < n; i++)
        status_reset(&q[i]);
    if (n == 0)
        return 0;
    return ex->ops->status(ex, q, n, err);
}

int berth_exec_wait(struct berth_exec *ex, struct berth_exec_status *q,
                    int64_t timeout_ms, struct berth_err *err)
{
    if (!ex->ops->wait)
        return unsupported(ex, "waiting for an execution", err);
    status_reset(q);
    return ex->ops->wait(ex, q, timeout_ms, err);
}

int berth_exec_list(struct berth_exec *ex, struct berth_exec_object **out,
                    size_t *n, struct berth_err *err)
{
    *out = NULL;
    *n = 0;
    if (!ex->ops->list)
        return unsupported(ex, "listing its objects", err);
    return ex->ops->list(ex, out, n, err);
}

int berth_exec_remove(struct berth_exec *ex, const char *execution_id,
                      struct berth_err *err)
{
    if (!ex->ops->remove)
        return unsupported(ex, "removing objects", err);
    return ex->ops->remove(ex, execution_id, err);
}

int berth_exec_logs(struct berth_exec *ex, const char *execution_id,
                    size_t max_bytes, struct berth_job_logs *out,
                    struct berth_err *err)
{
    berth_job_logs_init(out);
    if (!ex->ops->logs)
        return unsupported(ex, "logs", err);
    return ex->ops->logs(ex, execution_id, max_bytes, out, err);
}

int berth_exec_logs_follow(struct berth_exec *ex, const char *execution_id,
                           berth_exec_log_fn fn, void *ctx,
                           struct berth_err *err)
{
    if (!ex->ops->logs_follow)
        return unsupported(ex, "following logs", err);
    return ex->ops->logs_follow(ex, execution_id, fn, ctx, err);
}

int berth_exec_cancel(struct berth_exec *ex, const char *execution_id,
                      int grace_seconds, struct berth_err *err)
{
    if (!ex->ops->cancel)
        return unsupported(ex, "cancel", err);
    return ex->ops->cancel(ex, execution_id, grace_seconds, err);
}

int berth_exec_cleanup(struct berth_exec *ex, const char *execution_id,
                       struct berth_err *err)
{
    if (!ex->ops->cleanup)
        return 0;
    return ex->ops->cleanup(ex, execution_id, err);
}
