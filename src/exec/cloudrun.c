/*
 * cloudrun.c - the Google Cloud Run Jobs backend (DESIGN.md § Executors),
 * speaking the Cloud Run Admin API v2 and Cloud Logging's entries.list
 * over libcurl, with OAuth2 bearer tokens from gcp_auth.c.
 *
 * How a berth job runs on Cloud Run:
 *
 *   - A Cloud Run Job per template spec: what per-run overrides cannot
 *     change (image, working_dir, CPU and memory, service account) makes
 *     the Job, named "berth-<template slug>-<hash of that spec>". It is
 *     created once (jobs.create, a long-running operation berth follows to
 *     its end) and reused by every job with the same spec; a changed
 *     template gets a new Job, never a new revision of the old one.
 *   - Each launch is jobs.run with overrides: args (the job's command),
 *     env (the job's env plus BERTH_JOB_ID, BERTH_ATTEMPT and
 *     BERTH_EXECUTION_NAME = berth_exec_name()), taskCount 1 and the
 *     timeout. The run's Operation carries the new Execution in its
 *     metadata; the Execution's full name is berth's execution id.
 *   - Adoption: jobs.run takes no labels or idempotency token, so the
 *     BERTH_EXECUTION_NAME override, which the Execution keeps in its task
 *     template, is the mark. Before running, berth lists the Job's
 *     executions (executions.list has no filter: berth pages through them)
 *     and adopts the one carrying its mark; find() does the same across
 *     every Job of the region (parent ".../jobs/-"). One listing is reused
 *     for SCAN_TTL_MS, and executions this instance starts are remembered
 *     at once, so a burst of launches costs a few listings, not one each.
 *     That is sound as long as one attempt is never launched from two
 *     places within SCAN_TTL_MS, which the worker's lease guarantees.
 *   - Status: executions.get; a failed execution's exit code comes from
 *     its task (tasks.list, lastAttemptResult.exitCode or termSignal).
 *   - Cancel: executions.cancel. Cleanup: executions.delete.
 *   - Logs: entries.list filtered on the execution's name label and the
 *     run.googleapis.com/stdout and /stderr logs.
 *
 * Errors: 429, 5xx and network failures are retried with exponential
 * backoff and jitter (honouring Retry-After); a 401 fetches a new token
 * once; other 4xx fail at once with Google's status and message. jobs.run
 * is not retried blindly: after a failed attempt berth lists executions
 * again and adopts what that attempt may have started.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "berth/log.h"
#include "cloudrun_int.h"
#include "exec_int.h"
#include "gcp_auth.h"
#include "http.h"

#define DEFAULT_ENDPOINT         "https://run.googleapis.com"
#define DEFAULT_LOGGING_ENDPOINT "https://logging.googleapis.com"
#define SCAN_TTL_MS              2000
#define SCAN_PAGE_SIZE           100
#define SCAN_MAX_PAGES           200 /* Cloud Run keeps at most 1000 per job */
#define LOG_PAGE_SIZE            1000
#define LOG_MAX_PAGES            1000
#define POOL_MAX                 16
#define USER_AGENT               "User-Agent: berth/0.1 (cloudrun)"

static const struct berth_opt_spec cloudrun_options[] = {
    {"project", BERTH_OPT_STR,
     "GCP project id (default: the key file's project_id, or "
     "$GOOGLE_CLOUD_PROJECT)"},
    {"region", BERTH_OPT_STR, "Cloud Run region, e.g. us-central1"},
    {"service_account", BERTH_OPT_STR,
     "service account the jobs run as (default: the project's default)"},
    {"vpc_connector", BERTH_OPT_STR,
     "Serverless VPC Access connector for the jobs' egress "
     "(projects/P/locations/R/connectors/NAME)"},
    {"vpc_network", BERTH_OPT_STR, "Direct VPC egress: the VPC network"},
    {"vpc_subnetwork", BERTH_OPT_STR, "Direct VPC egress: the subnetwork"},
    {"vpc_egress", BERTH_OPT_STR,
     "what goes through the VPC: all-traffic or private-ranges-only"},
    {"credentials_file", BERTH_OPT_STR,
     "service account key file (default: $GOOGLE_OAUTH_ACCESS_TOKEN, "
     "$GOOGLE_APPLICATION_CREDENTIALS, then the metadata server)"},
    {"endpoint", BERTH_OPT_STR,
     "Cloud Run Admin API base URL (https://run.googleapis.com)"},
    {"logging_endpoint", BERTH_OPT_STR,
     "Cloud Logging API base URL (https://logging.googleapis.com)"},
    {"token_endpoint", BERTH_OPT_STR,
     "OAuth2 token URL (https://oauth2.googleapis.com/token)"},
    {"metadata_endpoint", BERTH_OPT_STR,
     "GCE metadata server base URL (http://metadata.google.internal)"},
    {"max_retries", BERTH_OPT_INT,
     "retries of a call answered 429, 5xx or not at all (5)"},
    {"retry_base_ms", BERTH_OPT_INT,
     "first retry delay in ms, doubled each time, with jitter (500)"},
    {"request_timeout_ms", BERTH_OPT_INT, "timeout of one HTTP call (60000)"},
    {"logs_poll_ms", BERTH_OPT_INT,
     "how often a followed log asks Cloud Logging for more (2000)"},
    {"operation_timeout_s", BERTH_OPT_INT,
     "how long to follow a job creation to its end (300)"},
    {NULL, 0, NULL},
};

/* ---- marker -> execution index ----------------------------------------- */

struct idx_slot {
    char *marker; /* NULL: empty */
    char *exec;
    int64_t created; /* us, to keep the first of duplicates */
};

struct idx {
    struct idx_slot *slots;
    size_t cap; /* power of two */
    size_t n;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct idx_slot *idx_find(struct idx *x, const char *marker)
{
    if (!x->cap)
        return NULL;
    for (size_t i = str_hash(marker) & (x->cap - 1);;
         i = (i + 1) & (x->cap - 1)) {
        if (!x->slots[i].marker)
            return &x->slots[i];
        if (strcmp(x->slots[i].marker, marker) == 0)
            return &x->slots[i];
    }
}

static void idx_put(struct idx *x, const char *marker, const char *exec,
                    int64_t created);

static void idx_grow(struct idx *x)
{
    struct idx old = *x;
    x->cap = old.cap ? old.cap * 2 : 64;
    x->slots = berth_xcalloc(x->cap, sizeof(*x->slots));
    x->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].marker) {
            idx_put(x, old.slots[i].marker, old.slots[i].exec,
                    old.slots[i].created);
            free(old.slots[i].marker);
            free(old.slots[i].exec);
        }
    }
    free(old.slots);
}

static void idx_put(struct idx *x, const char *marker, const char *exec,
                    int64_t created)
{
    struct idx_slot *s;

    if ((x->n + 1) * 10 > x->cap * 7)
        idx_grow(x);
    s = idx_find(x, marker);
    if (s->marker) {
        /* Two executions with one mark (a launch raced itself): keep the
         * first, so every caller adopts the same one. */
        if (strcmp(s->exec, exec) == 0 ||
            (s->created && created && s->created <= created))
            return;
        free(s->exec);
        s->exec = berth_xstrdup(exec);
        s->created = created;
        return;
    }
    s->marker = berth_xstrdup(marker);
    s->exec = berth_xstrdup(exec);
    s->created = created;
    x->n++;
}

/* Remove by execution name (cleanup); rebuilds, it is rare. */
static void idx_forget_exec(struct idx *x, const char *exec)
{
    struct idx old = *x;
    bool hit = false;

    for (size_t i = 0; i < old.cap && !hit; i++)
        hit = old.slots[i].exec && strcmp(old.slots[i].exec, exec) == 0;
    if (!hit)
        return;
    memset(x, 0, sizeof(*x));
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].marker && strcmp(old.slots[i].exec, exec) != 0)
            idx_put(x, old.slots[i].marker, old.slots[i].exec,
                    old.slots[i].created);
        free(old.slots[i].marker);
        free(old.slots[i].exec);
    }
    free(old.slots);
}

static void idx_release(struct idx *x)
{
    for (size_t i = 0; i < x->cap; i++) {
        free(x->slots[i].marker);
        free(x->slots[i].exec);
    }
    free(x->slots);
    memset(x, 0, sizeof(*x));
}

/* ---- the instance ------------------------------------------------------ */

struct cr_exec {
    struct berth_exec base;
    char *project;
    char *region;
    char *service_account;
    char *vpc_connector, *vpc_network, *vpc_subnetwork, *vpc_egress;
    struct berth_cr_jobconf jobconf; /* points at the strings above */
    char *endpoint;
    char *logging_endpoint;
    char *parent; /* projects/P/locations/R */
    struct berth_gcp_auth *auth;
    int max_retries;
    int64_t retry_base_ms;
    int64_t request_timeout_ms;
    int64_t operation_timeout_s;
    int64_t logs_poll_ms;

    /* Held while one thread makes sure a Job exists, so that a burst of
     * launches of a new template asks Cloud Run once, not once each. */
    pthread_mutex_t ensure_lock;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t scan_done;
    struct berth_http *pool[POOL_MAX];
    size_t npool;
    struct berth_strv jobs_ready; /* job ids known to exist */
    struct idx index;
    struct berth_map scanned;   /* scan parent -> mono us of its last listing */
    struct berth_strv scanning; /* scan parents being listed right now */
    uint64_t rng;
    /* launch_rate/launch_burst applied where jobs.run leaves the process
     * (see pace()); rate 0 = none. */
    double rate, burst, tokens;
    int64_t tokens_at; /* mono us */
};

static struct cr_exec *to_cr(struct berth_exec *ex)
{
    if (ex->ops != &berth__exec_cloudrun)
        BERTH_BUG("not a cloudrun executor instance");
    return (struct cr_exec *)ex;
}

static char *strip_slash(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return berth_xstrndup(url, n);
}

static int http_get(struct cr_exec *c, struct berth_http **out,
                    struct berth_err *err)
{
    struct berth_http *h = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->npool)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->lock);
    if (h) {
        *out = h;
        return 0;
    }
    return berth_http_new(out, err);
}

static void http_put(struct cr_exec *c, struct berth_http *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    berth_http_free(h);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Delay before retry number `attempt` (0-based): base * 2^attempt, capped
 * at 30 s, times a jitter factor in [0.5, 1); at least Retry-After. */
static int64_t backoff_ms(struct cr_exec *c, int attempt, int64_t retry_after)
{
    int64_t d = c->retry_base_ms;
    uint64_t r;

    for (int i = 0; i < attempt && d < 30000; i++)
        d *= 2;
    if (d > 30000)
        d = 30000;
    pthread_mutex_lock(&c->lock);
    c->rng = c->rng * 6364136223846793005u + 1442695040888963407u;
    r = c->rng >> 33;
    pthread_mutex_unlock(&c->lock);
    d = d / 2 + (int64_t)(r % (uint64_t)(d / 2 + 1));
    if (retry_after > 0 && retry_after * 1000 > d)
        d = retry_after * 1000 > 30000 ? 30000 : retry_after * 1000;
    return d;
}

enum {
    CALL_RETRY = 1u << 0, /* retry 429, 5xx and network errors */
};

/*
 * One authenticated JSON call. On 2xx, *out (if not NULL) gets the parsed
 * body (an empty body parses as {}). Errors carry "<what>: HTTP <status>
 * <STATUS>: <Google's message>".
 */
static int cr_call(struct cr_exec *c, const char *method, const char *url,
                   json_t *body, const char *what, unsigned flags, json_t **out,
                   struct berth_err *err)
{
    char token[BERTH_GCP_TOKEN_MAX];
    char *auth_hdr = NULL, *body_txt = NULL;
    const char *hdrs[4];
    struct berth_http *h = NULL;
    struct berth_http_resp resp;
    struct berth_http_req req;
    bool reauthed = false;
    char detail[400];
    int rc = 0;

    if (out)
        *out = NULL;
    berth_http_resp_init(&resp);
    if (body)
        body_txt = json_dumps(body, JSON_COMPACT);
    rc = http_get(c, &h, err);
    if (rc)
        goto out;
    for (int attempt = 0;; attempt++) {
        const char *ra;
        int64_t retry_after = 0;
        bool retryable;

        rc = berth__gcp_auth_token(c->auth, token, sizeof(token), err);
        if (rc) {
            berth_err_prefix(err, "%s", what);
            goto out;
        }
        free(auth_hdr);
        auth_hdr = berth_xasprintf("Authorization: Bearer %s", token);
        hdrs[0] = auth_hdr;
        hdrs[1] = USER_AGENT;
        hdrs[2] = body_txt ? "Content-Type: application/json" : NULL;
        hdrs[3] = NULL;
        memset(&req, 0, sizeof(req));
        req.method = method;
        req.url = url;
        req.headers = hdrs;
        req.body = body_txt;
        req.body_len = body_txt ? strlen(body_txt) : 0;
        req.timeout_ms = (long)c->request_timeout_ms;
        if (!body_txt && strcmp(method, "POST") == 0) {
            req.body = "";
            req.body_len = 0;
        }
        rc = berth_http_do(h, &req, &resp, err);
        if (rc) {
            retryable = (flags & CALL_RETRY) && err && err->transient;
            if (!retryable || attempt >= c->max_retries) {
                berth_err_prefix(err, "%s", what);
                goto out;
            }
            berth_log(BERTH_LOG_WARN, "cloudrun call retried",
                      BL_S("executor", c->base.executor), BL_S("call", what),
                      BL_S("error", err ? err->msg : ""),
                      BL_I("attempt", attempt + 1));
            sleep_ms(backoff_ms(c, attempt, 0));
            continue;
        }
        if (resp.status >= 200 && resp.status < 300) {
            if (out) {
                json_error_t jerr;
                *out = resp.body.len
                           ? json_loadb(resp.body.data, resp.body.len, 0, &jerr)
                           : json_object();
                if (!json_is_object(*out)) {
                    berth__cloudrun_error_detail(resp.body.data, resp.body.len,
                                                 detail, sizeof(detail));
                    json_decref(*out);
                    *out = NULL;
                    /* Something answered, but not Cloud Run's JSON: look
                     * again later rather than give the job up. */
                    rc = berth_err_set_transient(
                        err, BERTH_E_PARSE,
                        "%s: HTTP %ld with a body that is not a JSON "
                        "object: %s",
                        what, resp.status, detail);
                }
            }
            goto out;
        }
        berth__cloudrun_error_detail(resp.body.data, resp.body.len, detail,
                                     sizeof(detail));
        if (resp.status == 401 && !reauthed &&
            berth__gcp_auth_reject(c->auth, token)) {
            /* The token may have been revoked or expired early. */
            reauthed = true;
            attempt--;
            continue;
        }
        if (resp.status == 401 || resp.status == 403) {
            /* Name the credentials first: Google's message is long. */
            rc = berth_err_set(err, BERTH_E_AUTH, "%s: HTTP %ld with %s: %s",
                               what, resp.status,
                               berth__gcp_auth_describe(c->auth), detail);
            goto out;
        }
        ra = berth_map_get(&resp.headers, "retry-after");
        if (ra)
            berth_parse_i64(ra, 0, 3600, &retry_after);
        retryable = (resp.status == 429 || resp.status >= 500) &&
                    (flags & CALL_RETRY) && attempt < c->max_retries;
        if (!retryable) {
            rc = berth_http_status_error(resp.status, what, detail, err);
            goto out;
        }
        berth_log(BERTH_LOG_WARN, "cloudrun call retried",
                  BL_S("executor", c->base.executor), BL_S("call", what),
                  BL_I("status", resp.status), BL_S("error", detail),
                  BL_I("attempt", attempt + 1));
        sleep_ms(backoff_ms(c, attempt, retry_after));
    }
out:
    if (h)
        http_put(c, h);
    berth_http_resp_release(&resp);
    explicit_bzero(token, sizeof(token));
    if (auth_hdr) {
        explicit_bzero(auth_hdr, strlen(auth_hdr));
        free(auth_hdr);
    }
    free(body_txt);
    return rc;
}

/* google.rpc.Code of a finished operation's error -> berth's classes. */
static int op_error(const struct berth_cr_operation *op, const char *what,
                    struct berth_err *err)
{
    switch (op->error_code) {
    case 4:  /* DEADLINE_EXCEEDED */
    case 8:  /* RESOURCE_EXHAUSTED */
    case 10: /* ABORTED */
    case 13: /* INTERNAL */
    case 14: /* UNAVAILABLE */
        return berth_err_set_transient(err, BERTH_E_BACKEND, "%s: %s", what,
                                       op->error);
    case 5:
        return berth_err_set(err, BERTH_E_NOTFOUND, "%s: %s", what, op->error);
    case 6:
        return berth_err_set(err, BERTH_E_EXISTS, "%s: %s", what, op->error);
    case 7:
    case 16:
        return berth_err_set(err, BERTH_E_AUTH, "%s: %s", what, op->error);
    default:
        return berth_err_set(err, BERTH_E_INVALID, "%s: %s", what, op->error);
    }
}

/* Follow an Operation until done; *response (may be NULL) gets its
 * response. Takes ownership of op_json. */
static int wait_operation(struct cr_exec *c, json_t *op_json, const char *what,
                          json_t **response, struct berth_err *err)
{
    struct berth_cr_operation op;
    int64_t deadline =
        berth_mono_us() + c->operation_timeout_s * BERTH_US_PER_SEC;
    int64_t delay = 50;
    int rc;

    if (response)
        *response = NULL;
    for (;;) {
        char *url;
        rc = berth__cloudrun_parse_operation(op_json, &op, err);
        if (rc) {
            berth_err_prefix(err, "%s", what);
            break;
        }
        if (op.done) {
            if (op.error_code)
                rc = op_error(&op, what, err);
            else if (response && op.response)
                *response = json_incref(op.response);
            break;
        }
        if (berth_mono_us() > deadline) {
            rc = berth_err_set_transient(err, BERTH_E_TIMEOUT,
                                         "%s: operation '%s' not done after "
                                         "%" PRId64 " s",
                                         what, op.name, c->operation_timeout_s);
            break;
        }
        sleep_ms(delay);
        if (delay < 2000)
            delay = delay * 3 / 2;
        url = berth_xasprintf("%s/v2/%s", c->endpoint, op.name);
        json_decref(op_json);
        op_json = NULL;
        rc = cr_call(c, "GET", url, NULL, what, CALL_RETRY, &op_json, err);
        free(url);
        if (rc)
            break;
    }
    json_decref(op_json);
    return rc;
}

/* ---- jobs -------------------------------------------------------------- */

static bool job_known(struct cr_exec *c, const char *id)
{
    bool k;
    pthread_mutex_lock(&c->lock);
    k = berth_strv_contains(&c->jobs_ready, id);
    pthread_mutex_unlock(&c->lock);
    return k;
}

static void job_mark(struct cr_exec *c, const char *id, bool known)
{
    pthread_mutex_lock(&c->lock);
    if (known && !berth_strv_contains(&c->jobs_ready, id)) {
        berth_strv_push(&c->jobs_ready, id);
    } else if (!known) {
        for (size_t i = 0; i < c->jobs_ready.n; i++) {
            if (strcmp(c->jobs_ready.v[i], id) == 0) {
                free(c->jobs_ready.v[i]);
                c->jobs_ready.v[i] = c->jobs_ready.v[--c->jobs_ready.n];
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* Check a Job's terminalCondition: a job that failed to become ready
 * (say, its image cannot be found) cannot run anything. */
static int job_check(json_t *job, const char *id, struct berth_err *err)
{
    json_t *tc = json_object_get(job, "terminalCondition");
    json_t *state = json_object_get(tc, "state");
    json_t *msg = json_object_get(tc, "message");

    if (json_is_string(state) &&
        strcmp(json_string_value(state), "CONDITION_FAILED") == 0)
        return berth_err_set(
            err, BERTH_E_INVALID, "Cloud Run job '%s' is not ready: %s", id,
            json_is_string(msg) ? json_string_value(msg) : "no message");
    return 0;
}

/* Make sure the Job for req exists; job gets its full name. */
static int ensure_job(struct cr_exec *c, const struct berth_launch *req,
                      char *job, size_t size, struct berth_err *err)
{
    char id[BERTH_CR_JOB_ID_MAX], what[160];
    json_t *spec = NULL, *got = NULL, *op = NULL, *resp = NULL;
    char *url = NULL;
    bool locked = false;
    int rc;

    rc = berth__cloudrun_job_spec(req, &c->jobconf, id, sizeof(id), &spec, err);
    if (rc)
        return rc;
    snprintf(job, size, "%s/jobs/%s", c->parent, id);
    if (job_known(c, id))
        goto out;
    pthread_mutex_lock(&c->ensure_lock);
    locked = true;
    if (job_known(c, id))
        goto out;

    snprintf(what, sizeof(what), "get Cloud Run job '%s'", id);
    url = berth_xasprintf("%s/v2/%s", c->endpoint, job);
    rc = cr_call(c, "GET", url, NULL, what, CALL_RETRY, &got, err);
    free(url);
    url = NULL;
    if (rc == 0) {
        rc = job_check(got, id, err);
        if (rc == 0)
            job_mark(c, id, true);
        goto out;
    }
    if (rc != BERTH_E_NOTFOUND)
        goto out;
    berth_err_init(err);

    snprintf(what, sizeof(what), "create Cloud Run job '%s'", id);
    url = berth_xasprintf("%s/v2/%s/jobs?jobId=%s", c->endpoint, c->parent, id);
    rc = cr_call(c, "POST", url, spec, what, CALL_RETRY, &op, err);
    if (rc == BERTH_E_CONFLICT) {
        /* Another worker created it first. */
        berth_err_init(err);
        rc = 0;
        job_mark(c, id, true);
        goto out;
    }
    if (rc)
        goto out;
    rc = wait_operation(c, op, what, &resp, err);
    op = NULL;
    if (rc == BERTH_E_EXISTS) {
        berth_err_init(err);
        rc = 0;
    } else if (rc == 0 && resp) {
        rc = job_check(resp, id, err);
    }
    if (rc == 0) {
        job_mark(c, id, true);
        berth_log(BERTH_LOG_INFO, "cloudrun job created",
                  BL_S("executor", c->base.executor), BL_S("job", id),
                  BL_S("image", req->image));
    }
out:
    if (locked)
        pthread_mutex_unlock(&c->ensure_lock);
    free(url);
    json_decref(resp);
    json_decref(op);
    json_decref(got);
    json_decref(spec);
    return rc;
}

/* ---- adoption ---------------------------------------------------------- */

static bool scope_fresh(struct cr_exec *c, const char *scope)
{
    const char *v = berth_map_get(&c->scanned, scope);
    int64_t t;
    return v && berth_parse_i64(v, 0, INT64_MAX, &t) == 0 &&
           berth_mono_us() - t < SCAN_TTL_MS * 1000;
}

/* List every execution under `scope` (a job, or parent/jobs/- for all)
 * and index the ones carrying a berth mark. */
static int scan(struct cr_exec *c, const char *scope, struct berth_err *err)
{
    char *token = NULL, what[200];
    int64_t started = berth_mono_us();
    int rc = 0, pages = 0;

    snprintf(what, sizeof(what), "list executions of '%s'", scope);
    do {
        json_t *resp = NULL, *list, *e;
        char *url, *enc = token ? berth__cloudrun_urlencode(token) : NULL;
        const char *next;
        size_t i;

        url = berth_xasprintf("%s/v2/%s/executions?pageSize=%d%s%s",
                              c->endpoint, scope, SCAN_PAGE_SIZE,
                              enc ? "&pageToken=" : "", enc ? enc : "");
        free(enc);
        rc = cr_call(c, "GET", url, NULL, what, CALL_RETRY, &resp, err);
        free(url);
        if (rc)
            break;
        list = json_object_get(resp, "executions");
        next = json_string_value(json_object_get(resp, "nextPageToken"));
        if (list && !json_is_array(list)) {
            json_decref(resp);
            rc = berth_err_set_transient(
                err, BERTH_E_PARSE, "%s: 'executions' is not a list", what);
            break;
        }
        pthread_mutex_lock(&c->lock);
        json_array_foreach(list, i, e)
        {
            struct berth_cr_execution ex;
            if (berth__cloudrun_parse_execution(e, &ex, NULL) == 0 &&
                ex.marker[0])
                idx_put(&c->index, ex.marker, ex.name, ex.create_time);
        }
        pthread_mutex_unlock(&c->lock);
        free(token);
        token = next && *next ? berth_xstrdup(next) : NULL;
        json_decref(resp);
    } while (token && ++pages < SCAN_MAX_PAGES);
    free(token);
    if (rc == 0) {
        char t[32];
        snprintf(t, sizeof(t), "%" PRId64, started);
        pthread_mutex_lock(&c->lock);
        berth_map_set(&c->scanned, scope, t);
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

/*
 * Look for the execution marked `marker` under scope, listing again unless
 * a listing younger than SCAN_TTL_MS (of scope or of the whole region) has
 * been indexed and `force` is off. out gets the name, or "" when none.
 */
static int lookup(struct cr_exec *c, const char *scope, const char *marker,
                  bool force, char *out, size_t size, struct berth_err *err)
{
    char all[300];
    struct idx_slot *s;
    int rc;

    snprintf(all, sizeof(all), "%s/jobs/-", c->parent);
    out[0] = '\0';
    pthread_mutex_lock(&c->lock);
    for (int pass = 0;; pass++) {
        s = idx_find(&c->index, marker);
        if (s && s->marker) {
            snprintf(out, size, "%s", s->exec);
            break;
        }
        if (pass > 0 ||
            (!force && (scope_fresh(c, scope) || scope_fresh(c, all))))
            break;
        /* One listing at a time per scope: the launches of a burst wait
         * for it and share its answer (a forced look waits, then lists
         * anew, since the running listing may predate its failed try). */
        if (berth_strv_contains(&c->scanning, scope)) {
            while (berth_strv_contains(&c->scanning, scope))
                pthread_cond_wait(&c->scan_done, &c->lock);
            if (!force) {
                pass = -1;
                continue;
            }
        }
        berth_strv_push(&c->scanning, scope);
        pthread_mutex_unlock(&c->lock);
        rc = scan(c, scope, err);
        pthread_mutex_lock(&c->lock);
        for (size_t i = 0; i < c->scanning.n; i++) {
            if (strcmp(c->scanning.v[i], scope) == 0) {
                free(c->scanning.v[i]);
                c->scanning.v[i] = c->scanning.v[--c->scanning.n];
                break;
            }
        }
        pthread_cond_broadcast(&c->scan_done);
        if (rc) {
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ---- ops --------------------------------------------------------------- */

static int opt_int(const struct berth_opts *o, const char *key, int64_t dflt,
                   int64_t min, int64_t max, int64_t *out,
                   struct berth_err *err)
{
    *out = berth_opts_int(o, key, dflt);
    if (*out < min || *out > max)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "cloudrun option '%s' must be between %" PRId64
                             " and %" PRId64,
                             key, min, max);
    return 0;
}

static void cloudrun_destroy(struct berth_exec *ex);

static int cloudrun_create(const struct berth_exec_params *p,
                           struct berth_exec **out, struct berth_err *err)
{
    struct cr_exec *c = berth_xcalloc(1, sizeof(*c));
    const struct berth_opts *o = p->opts;
    struct berth_gcp_auth_params ap;
    const char *project, *region;
    int64_t v;
    int rc;

    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->ensure_lock, NULL);
    pthread_cond_init(&c->scan_done, NULL);
    berth_strv_init(&c->scanning);
    berth_strv_init(&c->jobs_ready);
    berth_map_init(&c->scanned);
    c->base.ops = &berth__exec_cloudrun;
    c->rng = (uint64_t)berth_now_us() ^ (uint64_t)(uintptr_t)c;

    memset(&ap, 0, sizeof(ap));
    ap.credentials_file = berth_opts_str(o, "credentials_file", NULL);
    ap.token_endpoint = berth_opts_str(o, "token_endpoint", NULL);
    ap.metadata_endpoint = berth_opts_str(o, "metadata_endpoint", NULL);
    ap.clock = p->clock;
    rc = berth__gcp_auth_new(&ap, &c->auth, err);
    if (rc)
        goto fail;

    project = berth_opts_str(o, "project", NULL);
    if (!project || !*project)
        project = berth__gcp_auth_project(c->auth);
    if (!project || !*project)
        project = getenv("GOOGLE_CLOUD_PROJECT");
    region = berth_opts_str(o, "region", NULL);
    if (!project || !*project || !region || !*region) {
        rc = berth_err_set(err, BERTH_E_CONFIG,
                           "cloudrun executor '%s' needs '%s'", p->executor,
                           !region || !*region ? "region" : "project");
        goto fail;
    }
    if (strchr(project, '/') || strchr(region, '/')) {
        rc = berth_err_set(err, BERTH_E_CONFIG,
                           "cloudrun executor '%s': project and region "
                           "cannot contain '/'",
                           p->executor);
        goto fail;
    }
    c->project = berth_xstrdup(project);
    c->region = berth_xstrdup(region);
    c->service_account =
        berth_xstrdup(berth_opts_str(o, "service_account", NULL));
    c->vpc_connector = berth_xstrdup(berth_opts_str(o, "vpc_connector", NULL));
    c->vpc_network = berth_xstrdup(berth_opts_str(o, "vpc_network", NULL));
    c->vpc_subnetwork =
        berth_xstrdup(berth_opts_str(o, "vpc_subnetwork", NULL));
    c->vpc_egress = berth_xstrdup(berth_opts_str(o, "vpc_egress", NULL));
    c->jobconf.service_account = c->service_account;
    c->jobconf.vpc_connector = c->vpc_connector;
    c->jobconf.vpc_network = c->vpc_network;
    c->jobconf.vpc_subnetwork = c->vpc_subnetwork;
    c->jobconf.vpc_egress = c->vpc_egress;
    rc = berth__cloudrun_jobconf_check(&c->jobconf, err);
    if (rc)
        goto fail;
    c->endpoint = strip_slash(berth_opts_str(o, "endpoint", DEFAULT_ENDPOINT));
    c->logging_endpoint = strip_slash(
        berth_opts_str(o, "logging_endpoint", DEFAULT_LOGGING_ENDPOINT));
    c->parent =
        berth_xasprintf("projects/%s/locations/%s", c->project, c->region);
    c->rate = berth_opts_num(o, "launch_rate", 0);
    c->burst = berth_opts_num(o, "launch_burst", c->rate < 1 ? 1 : c->rate);
    if (c->burst < 1)
        c->burst = 1;
    c->tokens = c->burst;
    c->tokens_at = berth_mono_us();
    if ((rc = opt_int(o, "max_retries", 5, 0, 20, &v, err)))
        goto fail;
    c->max_retries = (int)v;
    if ((rc = opt_int(o, "retry_base_ms", 500, 1, 60000, &c->retry_base_ms,
                      err)) ||
        (rc = opt_int(o, "request_timeout_ms", 60000, 100, 600000,
                      &c->request_timeout_ms, err)) ||
        (rc = opt_int(o, "operation_timeout_s", 300, 1, 3600,
                      &c->operation_timeout_s, err)) ||
        (rc = opt_int(o, "logs_poll_ms", 2000, 10, 600000, &c->logs_poll_ms,
                      err)))
        goto fail;
    *out = &c->base;
    return 0;
fail:
    cloudrun_destroy(&c->base);
    return rc;
}

static void cloudrun_destroy(struct berth_exec *ex)
{
    struct cr_exec *c = (struct cr_exec *)ex;

    for (size_t i = 0; i < c->npool; i++)
        berth_http_free(c->pool[i]);
    berth__gcp_auth_free(c->auth);
    berth_strv_release(&c->jobs_ready);
    berth_map_release(&c->scanned);
    idx_release(&c->index);
    berth_strv_release(&c->scanning);
    pthread_cond_destroy(&c->scan_done);
    pthread_mutex_destroy(&c->ensure_lock);
    pthread_mutex_destroy(&c->lock);
    free(c->project);
    free(c->region);
    free(c->service_account);
    free(c->vpc_connector);
    free(c->vpc_network);
    free(c->vpc_subnetwork);
    free(c->vpc_egress);
    free(c->endpoint);
    free(c->logging_endpoint);
    free(c->parent);
    free(c);
}

static int cloudrun_health(struct berth_exec *ex, struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    char *url =
        berth_xasprintf("%s/v2/%s/jobs?pageSize=1", c->endpoint, c->parent);
    char what[200];
    int rc;

    snprintf(what, sizeof(what), "list Cloud Run jobs in '%s'", c->parent);
    rc = cr_call(c, "GET", url, NULL, what, 0, NULL, err);
    free(url);
    return rc;
}

/*
 * The worker takes a launch token per job before it hands the launch to a
 * pool thread; when those threads fall behind (a slow store write, a busy
 * pool), launches queue and could then reach Cloud Run closer together
 * than the bucket allows. So the same bucket (launch_rate, launch_burst)
 * is applied again here, right before jobs.run is sent: it seldom waits,
 * but it holds the promise at the wire. One bucket per instance (host).
 */
static void pace(struct cr_exec *c)
{
    if (c->rate <= 0)
        return;
    for (;;) {
        int64_t now, wait_us;
        pthread_mutex_lock(&c->lock);
        now = berth_mono_us();
        c->tokens += (double)(now - c->tokens_at) / 1e6 * c->rate;
        if (c->tokens > c->burst)
            c->tokens = c->burst;
        c->tokens_at = now;
        if (c->tokens >= 1.0) {
            c->tokens -= 1.0;
            pthread_mutex_unlock(&c->lock);
            return;
        }
        wait_us = (int64_t)((1.0 - c->tokens) / c->rate * 1e6) + 1;
        pthread_mutex_unlock(&c->lock);
        sleep_ms(wait_us / 1000 + 1);
    }
}

/* Start an execution of job; name gets the Execution's full name. */
static int run(struct cr_exec *c, const char *job,
               const struct berth_launch *req, char *name, size_t size,
               struct berth_err *err)
{
    json_t *body = berth__cloudrun_run_body(req), *op = NULL;
    struct berth_cr_operation o;
    struct berth_cr_execution e;
    char what[200], *url;
    int rc;

    snprintf(what, sizeof(what), "run Cloud Run job '%s' for %s",
             strrchr(job, '/') + 1, req->name);
    url = berth_xasprintf("%s/v2/%s:run", c->endpoint, job);
    /* Not retried here: launch() looks for what a failed try started. */
    pace(c);
    rc = cr_call(c, "POST", url, body, what, 0, &op, err);
    free(url);
    json_decref(body);
    if (rc)
        return rc;
    for (int polls = 0;; polls++) {
        json_t *src;
        rc = berth__cloudrun_parse_operation(op, &o, err);
        if (rc) {
            /* It was accepted, so it may run: let launch() look for it. */
            if (err)
                err->transient = true;
            berth_err_prefix(err, "%s", what);
            break;
        }
        if (o.done && o.error_code) {
            rc = op_error(&o, what, err);
            break;
        }
        /* The operation's metadata is the new Execution; a finished
         * operation also has it as its response. */
        src = o.response ? o.response : o.metadata;
        if (src && berth__cloudrun_parse_execution(src, &e, NULL) == 0) {
            snprintf(name, size, "%s", e.name);
            break;
        }
        if (polls >= 20) {
            rc = berth_err_set_transient(err, BERTH_E_BACKEND,
                                         "%s: operation '%s' names no "
                                         "execution",
                                         what, o.name);
            break;
        }
        sleep_ms(100);
        url = berth_xasprintf("%s/v2/%s", c->endpoint, o.name);
        json_decref(op);
        op = NULL;
        rc = cr_call(c, "GET", url, NULL, what, CALL_RETRY, &op, err);
        free(url);
        if (rc)
            break;
    }
    json_decref(op);
    return rc;
}

static int cloudrun_launch(struct berth_exec *ex,
                           const struct berth_launch *req,
                           struct berth_execution *out, struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    struct berth_err e;
    char job[400];
    bool recreated = false;
    int rc;

    /* A local error: the retry decision needs its transient bit even when
     * the caller passed no err. */
    berth_err_init(&e);
    rc = ensure_job(c, req, job, sizeof(job), &e);
    for (int attempt = 0; rc == 0; attempt++) {
        rc = lookup(c, job, req->name, attempt > 0, out->id, sizeof(out->id),
                    &e);
        if (rc)
            break;
        if (out->id[0]) {
            out->adopted = true;
            berth_log(BERTH_LOG_INFO, "cloudrun execution adopted",
                      BL_S("executor", c->base.executor),
                      BL_S("name", req->name), BL_S("execution", out->id));
            return 0;
        }
        rc = run(c, job, req, out->id, sizeof(out->id), &e);
        if (rc == 0) {
            pthread_mutex_lock(&c->lock);
            idx_put(&c->index, req->name, out->id, berth_now_us());
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        out->id[0] = '\0';
        if (rc == BERTH_E_NOTFOUND && !recreated) {
            /* The Job was deleted behind our back: make it again. */
            recreated = true;
            job_mark(c, strrchr(job, '/') + 1, false);
            berth_err_init(&e);
            rc = ensure_job(c, req, job, sizeof(job), &e);
            continue;
        }
        if (!e.transient || attempt >= c->max_retries)
            break;
        berth_log(BERTH_LOG_WARN, "cloudrun run retried",
                  BL_S("executor", c->base.executor), BL_S("name", req->name),
                  BL_S("error", e.msg), BL_I("attempt", attempt + 1));
        sleep_ms(backoff_ms(c, attempt, 0));
        berth_err_init(&e);
        rc = 0;
    }
    if (err)
        *err = e;
    return rc;
}

static int cloudrun_find(struct berth_exec *ex, int64_t job_id, int attempt,
                         struct berth_execution *out, struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    char marker[128], all[300];
    int rc;

    berth_exec_name(job_id, attempt, marker, sizeof(marker));
    snprintf(all, sizeof(all), "%s/jobs/-", c->parent);
    rc = lookup(c, all, marker, false, out->id, sizeof(out->id), err);
    if (rc)
        return rc;
    if (!out->id[0])
        return berth_err_set(err, BERTH_E_NOTFOUND,
                             "no Cloud Run execution is marked '%s'", marker);
    out->adopted = true;
    return 0;
}

static bool valid_exec_name(const char *id)
{
    char a[256], b[256], d[256], e[256];
    return berth__cloudrun_split_execution(id, a, b, d, e, sizeof(a)) == 0;
}

static void status_one(struct cr_exec *c, struct berth_exec_status *q)
{
    struct berth_err e;
    struct berth_cr_execution ex;
    json_t *got = NULL, *tasks = NULL;
    char *url;
    char what[600];

    berth_err_init(&e);
    if (!valid_exec_name(q->execution_id)) {
        q->rc = BERTH_E_INVALID;
        snprintf(q->message, sizeof(q->message),
                 "'%s' is not a Cloud Run execution name", q->execution_id);
        return;
    }
    snprintf(what, sizeof(what), "get execution '%s'", q->execution_id);
    url = berth_xasprintf("%s/v2/%s", c->endpoint, q->execution_id);
    q->rc = cr_call(c, "GET", url, NULL, what, CALL_RETRY, &got, &e);
    free(url);
    if (q->rc == BERTH_E_NOTFOUND) {
        q->rc = 0;
        q->state = BERTH_EXEC_LOST;
        snprintf(q->message, sizeof(q->message), "%s", e.msg);
        goto out;
    }
    if (q->rc == 0)
        q->rc = berth__cloudrun_parse_execution(got, &ex, &e);
    if (q->rc) {
        snprintf(q->message, sizeof(q->message), "%s", e.msg);
        goto out;
    }
    if (berth__cloudrun_execution_status(&ex, q) || q->cancelled) {
        int code = 0;
        bool known = false, oom = false;
        char msg[256];

        snprintf(what, sizeof(what), "list tasks of '%s'", q->execution_id);
        url = berth_xasprintf("%s/v2/%s/tasks?pageSize=10", c->endpoint,
                              q->execution_id);
        if (cr_call(c, "GET", url, NULL, what, CALL_RETRY, &tasks, &e) == 0 &&
            berth__cloudrun_task_result(tasks, &code, &known, &oom, msg,
                                        sizeof(msg), &e) == 0) {
            if (known && !(q->cancelled && code == 0))
                q->exit_code = code;
            q->oom_killed = oom;
            if (msg[0])
                snprintf(q->message, sizeof(q->message), "%s", msg);
        } else {
            /* The execution's own verdict stands (exit 1). */
            berth_log(BERTH_LOG_WARN, "cloudrun exit code unknown",
                      BL_S("executor", c->base.executor),
                      BL_S("execution", q->execution_id), BL_S("error", e.msg));
        }
        free(url);
    }
out:
    json_decref(tasks);
    json_decref(got);
}

static int cloudrun_status(struct berth_exec *ex, struct berth_exec_status *q,
                           size_t n, struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    char token[BERTH_GCP_TOKEN_MAX];
    int rc;

    /* Without a token nothing can be asked: fail the call as a whole. */
    rc = berth__gcp_auth_token(c->auth, token, sizeof(token), err);
    explicit_bzero(token, sizeof(token));
    if (rc)
        return berth_err_prefix(err, "cloudrun status");
    for (size_t i = 0; i < n; i++)
        status_one(c, &q[i]);
    return 0;
}

static int cloudrun_logs(struct berth_exec *ex, const char *execution_id,
                         size_t max_bytes, struct berth_job_logs *out,
                         struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    char project[256], location[256], job[256], exe[256], what[600];
    struct berth_buf so, se;
    struct berth_cr_execution e;
    json_t *got = NULL;
    char *filter = NULL, *token = NULL, *url = NULL;
    int64_t since = 0;
    bool truncated = false;
    int rc, pages = 0;

    if (berth__cloudrun_split_execution(execution_id, project, location, job,
                                        exe, sizeof(project)))
        return berth_err_set(err, BERTH_E_INVALID,
                             "'%s' is not a Cloud Run execution name",
                             execution_id);
    if (max_bytes == 0) /* no cap, as the other backends read it */
        max_bytes = SIZE_MAX;
    berth_buf_init(&so, 0);
    berth_buf_init(&se, 0);

    /* Bound the query by the execution's creation (a minute of slack for
     * clock skew): Cloud Logging searches far less. */
    snprintf(what, sizeof(what), "get execution '%s'", execution_id);
    url = berth_xasprintf("%s/v2/%s", c->endpoint, execution_id);
    rc = cr_call(c, "GET", url, NULL, what, CALL_RETRY, &got, err);
    if (rc == 0 && berth__cloudrun_parse_execution(got, &e, NULL) == 0 &&
        e.create_time > 60 * BERTH_US_PER_SEC)
        since = e.create_time - 60 * BERTH_US_PER_SEC;
    if (rc == BERTH_E_NOTFOUND) { /* deleted: its logs outlive it */
        berth_err_init(err);
        rc = 0;
    }
    if (rc)
        goto out;

    filter = berth__cloudrun_log_filter(project, location, job, exe, since);
    free(url);
    url = berth_xasprintf("%s/v2/entries:list", c->logging_endpoint);
    snprintf(what, sizeof(what), "list log entries of '%s'", execution_id);
    do {
        json_t *body, *resp = NULL;
        char *next = NULL;
        char res[300];

        snprintf(res, sizeof(res), "projects/%s", project);
        body = json_pack("{s:[s], s:s, s:s, s:i}", "resourceNames", res,
                         "filter", filter, "orderBy", "timestamp asc",
                         "pageSize", LOG_PAGE_SIZE);
        if (token)
            json_object_set_new(body, "pageToken", json_string(token));
        rc = cr_call(c, "POST", url, body, what, CALL_RETRY, &resp, err);
        json_decref(body);
        if (rc == 0)
            rc = berth__cloudrun_parse_entries(resp, &so, &se, max_bytes,
                                               &truncated, &next, err);
        json_decref(resp);
        free(token);
        token = next;
        if (rc)
            break;
        if (truncated && so.len >= max_bytes && se.len >= max_bytes)
            break;
    } while (token && ++pages < LOG_MAX_PAGES);
    if (rc)
        goto out;
    out->out_len = so.len;
    out->out = berth_buf_detach(&so);
    out->err_len = se.len;
    out->err = berth_buf_detach(&se);
    out->truncated = truncated;
out:
    free(token);
    free(filter);
    free(url);
    json_decref(got);
    berth_buf_release(&so);
    berth_buf_release(&se);
    return rc;
}

/* ---- following logs ---------------------------------------------------- */

/* Entries already passed to the caller at the newest timestamp seen, so
 * that asking again from that timestamp on repeats none. */
struct follow {
    char last_ts[48];
    struct berth_strv ids_at_last;
};

/* Hand the new entries of one entries.list page to fn. Returns 1 when fn
 * asked to stop. */
static int follow_page(struct follow *fl, json_t *resp, berth_exec_log_fn fn,
                       void *ctx)
{
    json_t *entries = json_object_get(resp, "entries"), *e;
    size_t i;

    json_array_foreach(entries, i, e)
    {
        const char *ts = json_string_value(json_object_get(e, "timestamp"));
        const char *id = json_string_value(json_object_get(e, "insertId"));
        const char *text;
        char *dumped;
        int stream = berth__cloudrun_entry_stream(e), stop = 0;

        if (!stream || !ts || strlen(ts) >= sizeof(fl->last_ts))
            continue;
        if (strcmp(ts, fl->last_ts) == 0 && id &&
            berth_strv_contains(&fl->ids_at_last, id))
            continue;
        if (strcmp(ts, fl->last_ts) != 0) {
            snprintf(fl->last_ts, sizeof(fl->last_ts), "%s", ts);
            berth_strv_release(&fl->ids_at_last);
        }
        if (id)
            berth_strv_push(&fl->ids_at_last, id);
        text = berth__cloudrun_entry_text(e, &dumped);
        if (text) {
            size_t tl = strlen(text);
            stop = fn(stream, text, tl, ctx);
            if (!stop && (tl == 0 || text[tl - 1] != '\n'))
                stop = fn(stream, "\n", 1, ctx);
        }
        free(dumped);
        if (stop)
            return 1;
    }
    return 0;
}

static int cloudrun_logs_follow(struct berth_exec *ex, const char *execution_id,
                                berth_exec_log_fn fn, void *ctx,
                                struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    char project[256], location[256], job[256], exe[256], what[600];
    char res[300];
    struct follow fl;
    char *base_filter = NULL, *url = NULL;
    int64_t since = 0;
    int rc = 0;

    if (berth__cloudrun_split_execution(execution_id, project, location, job,
                                        exe, sizeof(project)))
        return berth_err_set(err, BERTH_E_INVALID,
                             "'%s' is not a Cloud Run execution name",
                             execution_id);
    memset(&fl, 0, sizeof(fl));
    berth_strv_init(&fl.ids_at_last);
    snprintf(res, sizeof(res), "projects/%s", project);
    snprintf(what, sizeof(what), "follow log entries of '%s'", execution_id);
    url = berth_xasprintf("%s/v2/entries:list", c->logging_endpoint);
    for (;;) {
        struct berth_exec_status st;
        char *filter, *token = NULL;
        bool done;
        int pages = 0;

        /* Ask the state first: once it has ended, the round that follows
         * sees every line it wrote (as far as Logging has them). */
        memset(&st, 0, sizeof(st));
        st.execution_id = execution_id;
        status_one(c, &st);
        if (st.rc) {
            rc = berth_err_set(err, st.rc, "%s", st.message);
            break;
        }
        done = st.state == BERTH_EXEC_EXITED || st.state == BERTH_EXEC_LOST;
        if (!since && st.started_at)
            since = st.started_at - 60 * BERTH_US_PER_SEC;
        if (!base_filter)
            base_filter =
                berth__cloudrun_log_filter(project, location, job, exe, since);
        filter = fl.last_ts[0] ? berth_xasprintf("%s AND timestamp>=\"%s\"",
                                                 base_filter, fl.last_ts)
                               : berth_xstrdup(base_filter);
        do {
            json_t *body, *resp = NULL;
            const char *next;
            int stop;

            body = json_pack("{s:[s], s:s, s:s, s:i}", "resourceNames", res,
                             "filter", filter, "orderBy", "timestamp asc",
                             "pageSize", LOG_PAGE_SIZE);
            if (token)
                json_object_set_new(body, "pageToken", json_string(token));
            rc = cr_call(c, "POST", url, body, what, CALL_RETRY, &resp, err);
            json_decref(body);
            free(token);
            token = NULL;
            if (rc)
                break;
            stop = follow_page(&fl, resp, fn, ctx);
            next = json_string_value(json_object_get(resp, "nextPageToken"));
            if (next && *next && !stop)
                token = berth_xstrdup(next);
            json_decref(resp);
            if (stop)
                done = true;
        } while (token && ++pages < LOG_MAX_PAGES);
        free(token);
        free(filter);
        if (rc || done)
            break;
        sleep_ms(c->logs_poll_ms);
    }
    berth_strv_release(&fl.ids_at_last);
    free(base_filter);
    free(url);
    return rc;
}

static int cloudrun_cancel(struct berth_exec *ex, const char *execution_id,
                           int grace_seconds, struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    json_t *body = json_object(), *op = NULL, *got = NULL;
    char what[600], *url;
    int rc;

    /* Cloud Run sends SIGTERM and, 10 s later, SIGKILL: its grace period
     * is not ours to choose. */
    (void)grace_seconds;
    if (!valid_exec_name(execution_id)) {
        json_decref(body);
        return berth_err_set(err, BERTH_E_INVALID,
                             "'%s' is not a Cloud Run execution name",
                             execution_id);
    }
    snprintf(what, sizeof(what), "cancel execution '%s'", execution_id);
    url = berth_xasprintf("%s/v2/%s:cancel", c->endpoint, execution_id);
    rc = cr_call(c, "POST", url, body, what, CALL_RETRY, &op, err);
    free(url);
    json_decref(body);
    if (rc == BERTH_E_NOTFOUND) {
        berth_err_init(err);
        rc = 0; /* nothing left to stop */
    } else if (rc == BERTH_E_INVALID) {
        /* FAILED_PRECONDITION: it has finished already? */
        struct berth_cr_execution e;
        struct berth_exec_status st;
        struct berth_err e2;

        berth_err_init(&e2);
        memset(&st, 0, sizeof(st));
        url = berth_xasprintf("%s/v2/%s", c->endpoint, execution_id);
        if (cr_call(c, "GET", url, NULL, what, CALL_RETRY, &got, &e2) == 0 &&
            berth__cloudrun_parse_execution(got, &e, &e2) == 0) {
            berth__cloudrun_execution_status(&e, &st);
            if (st.state == BERTH_EXEC_EXITED) {
                berth_err_init(err);
                rc = 0;
            }
        }
        free(url);
    }
    json_decref(got);
    json_decref(op);
    return rc;
}

static int cloudrun_cleanup(struct berth_exec *ex, const char *execution_id,
                            struct berth_err *err)
{
    struct cr_exec *c = to_cr(ex);
    json_t *op = NULL;
    char what[600], *url;
    int rc;

    if (!valid_exec_name(execution_id))
        return berth_err_set(err, BERTH_E_INVALID,
                             "'%s' is not a Cloud Run execution name",
                             execution_id);
    snprintf(what, sizeof(what), "delete execution '%s'", execution_id);
    url = berth_xasprintf("%s/v2/%s", c->endpoint, execution_id);
    rc = cr_call(c, "DELETE", url, NULL, what, CALL_RETRY, &op, err);
    free(url);
    json_decref(op);
    if (rc == BERTH_E_NOTFOUND) {
        berth_err_init(err);
        rc = 0;
    }
    if (rc == 0) {
        pthread_mutex_lock(&c->lock);
        idx_forget_exec(&c->index, execution_id);
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

const struct berth_exec_ops berth__exec_cloudrun = {
    .type = "cloudrun",
    .caps = BERTH_EXEC_CAP_CANCEL | BERTH_EXEC_CAP_LOGS_FOLLOW,
    .options = cloudrun_options,
    .default_max_concurrent_jobs = 100,
    .poll_interval_ms = 2000,
    .create = cloudrun_create,
    .destroy = cloudrun_destroy,
    .health = cloudrun_health,
    .launch = cloudrun_launch,
    .find = cloudrun_find,
    .status = cloudrun_status,
    .logs = cloudrun_logs,
    .logs_follow = cloudrun_logs_follow,
    .cancel = cloudrun_cancel,
    .cleanup = cloudrun_cleanup,
};
