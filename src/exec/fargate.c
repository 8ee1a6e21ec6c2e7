/*
 * fargate.c - the AWS Fargate backend (DESIGN.md § Executors, "fargate"): the
 * ECS JSON 1.1 API and CloudWatch Logs, signed with SigV4 by libcurl
 * (CURLOPT_AWS_SIGV4), credentials from aws_auth.c.
 *
 *   launch  ListTasks(startedBy=berth-<job>-<attempt>) finds an earlier run
 *           to adopt; else RegisterTaskDefinition once per template shape
 *           (unless `task_definition` names one) and RunTask with launchType
 *           FARGATE, awsvpc subnets and security groups, the job's command,
 *           environment and size as overrides, tags, `startedBy` and
 *           `clientToken` = the deterministic name, which ECS keeps
 *           idempotent for 24 hours: a retried or repeated RunTask of the
 *           same attempt returns the same task instead of starting another.
 *   status  DescribeTasks, up to 100 tasks per call.
 *   logs    GetLogEvents on the awslogs stream <prefix>/<container>/<task id>.
 *   cancel  StopTask.
 *
 * Every call is retried with exponential backoff and jitter when AWS
 * throttles (ThrottlingException...) or fails (5xx), and once at once with
 * fresh credentials when temporary ones expired. Thread-safe: CURL handles
 * come from a pool, caches sit behind mutexes.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "aws_auth.h"
#include "berth/log.h"
#include "exec_int.h"
#include "fargate_int.h"
#include "http.h"

#define ECS_TARGET    "AmazonEC2ContainerServiceV20141113."
#define LOGS_TARGET   "Logs_20140328."
#define JSON_CT       "Content-Type: application/x-amz-json-1.1"
#define CONTAINER     "main"
#define STREAM_PREFIX "berth"
#define DESCRIBE_MAX  100 /* DescribeTasks takes at most 100 tasks */
#define POOL_MAX      32
#define RETRY_CAP_MS  20000
/* RunTask answering with a task this much older than the call: adopted. */
#define ADOPT_MARGIN_US (2 * BERTH_US_PER_SEC)

static const struct berth_opt_spec fargate_options[] = {
    {"cluster", BERTH_OPT_STR, "ECS cluster name or ARN (default: default)"},
    {"region", BERTH_OPT_STR, "AWS region (default: $AWS_REGION)"},
    {"subnets", BERTH_OPT_LIST, "awsvpc subnets"},
    {"security_groups", BERTH_OPT_LIST, "awsvpc security groups"},
    {"assign_public_ip", BERTH_OPT_BOOL, "assign a public IP"},
    {"execution_role_arn", BERTH_OPT_STR, "task execution role"},
    {"task_role_arn", BERTH_OPT_STR, "task role"},
    {"log_group", BERTH_OPT_STR, "CloudWatch Logs group for awslogs"},
    {"task_definition", BERTH_OPT_STR, "use this task definition"},
    {"platform_version", BERTH_OPT_STR, "Fargate platform version"},
    {"endpoint", BERTH_OPT_STR, "ECS API base URL"},
    {"logs_endpoint", BERTH_OPT_STR, "CloudWatch Logs API base URL"},
    {"metadata_endpoint", BERTH_OPT_STR, "instance metadata base URL"},
    {"retries", BERTH_OPT_INT, "retries of a throttled or failed call"},
    {"retry_base_ms", BERTH_OPT_INT, "first backoff delay"},
    {"request_timeout_ms", BERTH_OPT_INT, "timeout of one API call"},
    {NULL, 0, NULL},
};

/* What berth knows of a task definition (by ARN). */
struct tdinfo {
    char *arn;
    char *container; /* the container berth overrides */
    char *image;
    char *log_group; /* NULL: not awslogs */
    char *log_prefix;
    char *log_region;
};

struct fargate_exec {
    struct berth_exec base;
    char *cluster;
    char *region;
    char *endpoint;      /* no trailing slash */
    char *logs_endpoint; /* NULL: https://logs.<region>.amazonaws.com */
    struct berth_strv subnets;
    struct berth_strv security_groups;
    bool assign_public_ip;
    char *execution_role_arn;
    char *task_role_arn;
    char *log_group;
    char *task_definition; /* NULL: registered per template */
    char *platform_version;
    int retries;
    int64_t retry_base_ms;
    long timeout_ms;
    struct berth_aws_auth *auth;

    pthread_mutex_t pool_lock;
    struct berth_http *pool[POOL_MAX];
    size_t npool;

    pthread_mutex_t td_lock;   /* held while registering, see ensure_td() */
    struct berth_map families; /* family -> task definition ARN */
    struct tdinfo *tds;
    size_t ntds;

    uint64_t jitter; /* updated atomically */
};

static struct fargate_exec *to_fargate(struct berth_exec *ex)
{
    if (ex->ops != &berth__exec_fargate)
        BERTH_BUG("not a fargate executor instance");
    return (struct fargate_exec *)ex;
}

/* ---- sizes (AWS's table of Fargate task CPU and memory) --------------- */

static const struct {
    int cpu;
    int64_t min, max, step; /* MiB */
} sizes[] = {
    {256, 512, 2048, 0}, /* 512, 1024, 2048 */
    {512, 1024, 4096, 1024},    {1024, 2048, 8192, 1024},
    {2048, 4096, 16384, 1024},  {4096, 8192, 30720, 1024},
    {8192, 16384, 61440, 4096}, {16384, 32768, 122880, 8192},
};

#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* The smallest valid memory of row i holding want MiB; -1 when none. */
static int64_t size_row_fit(size_t i, int64_t want)
{
    int64_t m;
    if (want > sizes[i].max)
        return -1;
    if (want <= sizes[i].min)
        return sizes[i].min;
    if (sizes[i].step == 0) /* 256 CPU: 512, 1024, 2048 */
        return want <= 1024 ? 1024 : 2048;
    m = sizes[i].min + (want - sizes[i].min + sizes[i].step - 1) /
                           sizes[i].step * sizes[i].step;
    return m <= sizes[i].max ? m : -1;
}

bool berth__fargate_size_valid(int cpu, int64_t memory_mb)
{
    for (size_t i = 0; i < NSIZES; i++)
        if (sizes[i].cpu == cpu)
            return size_row_fit(i, memory_mb) == memory_mb;
    return false;
}

int berth__fargate_size(double cpu_cores, int64_t memory_mb,
                        struct berth_fargate_size *out, struct berth_err *err)
{
    const int64_t max_mem = sizes[NSIZES - 1].max;
    const int max_cpu = sizes[NSIZES - 1].cpu;
    double units = cpu_cores > 0 ? ceil(cpu_cores * 1024.0 - 1e-6) : 0;

    if (cpu_cores < 0 || memory_mb < 0 || isnan(cpu_cores))
        return berth_err_set(err, BERTH_E_INVALID,
                             "negative cpu_cores or memory_mb");
    if (units > max_cpu)
        return berth_err_set(err, BERTH_E_INVALID,
                             "job asks for %g vCPU: Fargate tasks have at "
                             "most %d vCPU",
                             cpu_cores, max_cpu / 1024);
    if (memory_mb > max_mem)
        return berth_err_set(err, BERTH_E_INVALID,
                             "job asks for %lld MiB of memory: Fargate tasks "
                             "have at most %lld MiB (%lld GiB)",
                             (long long)memory_mb, (long long)max_mem,
                             (long long)max_mem / 1024);
    for (size_t i = 0; i < NSIZES; i++) {
        int64_t m;
        if (sizes[i].cpu < units)
            continue;
        m = size_row_fit(i, memory_mb);
        if (m < 0)
            continue;
        out->cpu = sizes[i].cpu;
        out->memory_mb = m;
        return 0;
    }
    /* Unreachable with the table above (16 vCPU holds up to 120 GiB), kept
     * for a table that changes. */
    return berth_err_set(err, BERTH_E_INVALID,
                         "no Fargate task size holds %g vCPU with %lld MiB",
                         cpu_cores, (long long)memory_mb);
}

/* ---- AWS errors --------------------------------------------------------- */

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static const char *const throttle_types[] = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    NULL,
};

static const char *const server_types[] = {
    "ServerException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    NULL,
};

static const char *const expired_types[] = {
    "ExpiredTokenException", "ExpiredToken", "RequestExpired",
    "TokenRefreshRequired",  NULL,
};

static const char *const auth_types[] = {
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "AccessDenied",
    "AccessDeniedException",
    "NotAuthorized",
    "AuthFailure",
    "OptInRequired",
    "InvalidAccessKeyId",
    NULL,
};

enum berth_aws_err_class berth__aws_error(long status, const char *body,
                                          const char *type_header,
                                          const char *what, char *type_out,
                                          size_t type_size,
                                          struct berth_err *err)
{
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    const char *t = NULL, *m = NULL, *hash, *colon;
    char type[128], msg[320];
    enum berth_aws_err_class cls;

    if (json_is_object(root)) {
        t = json_string_value(json_object_get(root, "__type"));
        m = json_string_value(json_object_get(root, "message"));
        if (!m)
            m = json_string_value(json_object_get(root, "Message"));
    }
    if (!t || !*t)
        t = type_header;
    /* "com.amazonaws.ecs#ClientException" or "ClientException:http://..." */
    snprintf(type, sizeof(type), "%s", t ? t : "");
    hash = strrchr(type, '#');
    if (hash)
        memmove(type, hash + 1, strlen(hash + 1) + 1);
    colon = strchr(type, ':');
    if (colon)
        type[colon - type] = '\0';
    if (m)
        snprintf(msg, sizeof(msg), "%s", m);
    else if (!root && body && *body)
        snprintf(msg, sizeof(msg), "%.120s", body);
    else
        snprintf(msg, sizeof(msg), "HTTP %ld", status);
    /* AWS's InvalidSignatureException carries the whole canonical request:
     * keep the first sentence. */
    {
        char *nl = strchr(msg, '\n');
        if (nl)
            *nl = '\0';
    }
    json_decref(root);
    if (type_out)
        snprintf(type_out, type_size, "%s", type);

    if (in_list(type, throttle_types) || status == 429) {
        cls = BERTH_AWS_ERR_THROTTLE;
        berth_err_set_transient(err, BERTH_E_BACKEND, "%s: throttled: %s: %s",
                                what, *type ? type : "HTTP 429", msg);
    } else if (in_list(type, server_types) || status >= 500) {
        cls = BERTH_AWS_ERR_SERVER;
        berth_err_set_transient(err, BERTH_E_BACKEND, "%s: HTTP %ld: %s: %s",
                                what, status, *type ? type : "server error",
                                msg);
    } else if (in_list(type, expired_types)) {
        cls = BERTH_AWS_ERR_EXPIRED;
        berth_err_set(err, BERTH_E_AUTH, "%s: AWS credentials expired: %s: %s",
                      what, type, msg);
    } else if (in_list(type, auth_types) || status == 401 || status == 403) {
        bool clock =
            strstr(msg, "Signature expired") || strstr(msg, "not yet current");
        cls = BERTH_AWS_ERR_AUTH;
        berth_err_set(err, BERTH_E_AUTH,
                      "%s: AWS refused the request's credentials or "
                      "permissions: %s: %s%s",
                      what, *type ? type : "HTTP error", msg,
                      clock ? " (check this machine's clock)" : "");
    } else if (strcmp(type, "ClusterNotFoundException") == 0 ||
               strcmp(type, "ResourceNotFoundException") == 0 ||
               strcmp(type, "TaskDefinitionNotFoundException") == 0 ||
               status == 404) {
        cls = BERTH_AWS_ERR_NOTFOUND;
        berth_err_set(err, BERTH_E_NOTFOUND, "%s: %s: %s", what,
                      *type ? type : "not found", msg);
    } else if (strcmp(type, "ConflictException") == 0 || status == 409) {
        cls = BERTH_AWS_ERR_CONFLICT;
        berth_err_set(err, BERTH_E_CONFLICT, "%s: %s: %s", what,
                      *type ? type : "conflict", msg);
    } else {
        cls = BERTH_AWS_ERR_CLIENT;
        berth_err_set(err, BERTH_E_INVALID, "%s: HTTP %ld: %s: %s", what,
                      status, *type ? type : "error", msg);
    }
    return cls;
}

/* ---- one API call --------------------------------------------------------
 */

static struct berth_http *pool_get(struct fargate_exec *fx,
                                   struct berth_err *err)
{
    struct berth_http *h = NULL;
    pthread_mutex_lock(&fx->pool_lock);
    if (fx->npool > 0)
        h = fx->pool[--fx->npool];
    pthread_mutex_unlock(&fx->pool_lock);
    if (!h && berth_http_new(&h, err) != 0)
        return NULL;
    return h;
}

static void pool_put(struct fargate_exec *fx, struct berth_http *h)
{
    pthread_mutex_lock(&fx->pool_lock);
    if (fx->npool < POOL_MAX) {
        fx->pool[fx->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&fx->pool_lock);
    berth_http_free(h);
}

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Exponential backoff with "equal jitter": half the delay fixed, half
 * random, so that throttled workers spread out. */
static void backoff(struct fargate_exec *fx, int attempt)
{
    int64_t ms = fx->retry_base_ms;
    uint64_t r = mix64(__atomic_add_fetch(&fx->jitter, 1, __ATOMIC_RELAXED) ^
                       (uint64_t)berth_mono_us());
    struct timespec ts;

    for (int i = 0; i < attempt && ms < RETRY_CAP_MS; i++)
        ms *= 2;
    if (ms > RETRY_CAP_MS)
        ms = RETRY_CAP_MS;
    ms = ms / 2 + (ms > 1 ? (int64_t)(r % (uint64_t)(ms / 2 + 1)) : 0);
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

enum svc { SVC_ECS, SVC_LOGS };

/*
 * POST one operation of the AWS JSON 1.1 protocol and parse the answer.
 * body is borrowed; *out (an object) is the caller's to json_decref().
 * region signs the call (the logs of a task may live in another region).
 */
static int aws_call(struct fargate_exec *fx, enum svc svc, const char *region,
                    const char *op, json_t *body, json_t **out,
                    struct berth_err *err)
{
    char *text = json_dumps(body, JSON_COMPACT);
    char what[96], target[128], sigv4[128], *url, *token_hdr = NULL;
    const char *base;
    char *logs_base = NULL;
    bool refreshed = false;
    int rc = 0;

    *out = NULL;
    if (!text)
        BERTH_BUG("json_dumps failed");
    snprintf(what, sizeof(what), "%s %s",
             svc == SVC_ECS ? "ECS" : "CloudWatch Logs", op);
    snprintf(target, sizeof(target), "X-Amz-Target: %s%s",
             svc == SVC_ECS ? ECS_TARGET : LOGS_TARGET, op);
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", region,
             svc == SVC_ECS ? "ecs" : "logs");
    if (svc == SVC_ECS) {
        base = fx->endpoint;
    } else if (fx->logs_endpoint) {
        base = fx->logs_endpoint;
    } else {
        logs_base = berth_xasprintf("https://logs.%s.amazonaws.com", region);
        base = logs_base;
    }
    url = berth_xasprintf("%s/", base);

    for (int attempt = 0;; attempt++) {
        struct berth_aws_creds cr;
        struct berth_http_req req = {0};
        struct berth_http_resp resp;
        struct berth_http *h;
        const char *headers[4];
        size_t nh = 0;
        char *userpwd;
        enum berth_aws_err_class cls;
        bool temporary;

        rc = berth__aws_auth_get(fx->auth, &cr, err);
        if (rc) {
            berth_err_prefix(err, "%s", what);
            break;
        }
        temporary = cr.expires_us != 0;
        headers[nh++] = JSON_CT;
        headers[nh++] = target;
        free(token_hdr);
        token_hdr = NULL;
        /* libcurl 7.88 signs every header it is given, so the session
         * token is a signed header, as the "before" variant of AWS's
         * test suite has it. */
        if (cr.token) {
            token_hdr = berth_xasprintf("X-Amz-Security-Token: %s", cr.token);
            headers[nh++] = token_hdr;
        }
        headers[nh] = NULL;
        userpwd = berth_xasprintf("%s:%s", cr.key_id, cr.secret);
        berth__aws_creds_release(&cr);

        h = pool_get(fx, err);
        if (!h) {
            free(userpwd);
            rc = err ? err->rc : BERTH_E_NOMEM;
            break;
        }
        req.method = "POST";
        req.url = url;
        req.headers = headers;
        req.body = text;
        req.body_len = strlen(text);
        req.aws_sigv4 = sigv4;
        req.userpwd = userpwd;
        req.timeout_ms = fx->timeout_ms;
        berth_http_resp_init(&resp);
        rc = berth_http_do(h, &req, &resp, err);
        pool_put(fx, h);
        free(userpwd);

        if (rc) {
            berth_http_resp_release(&resp);
            if (err && err->transient && attempt < fx->retries) {
                berth_log(BERTH_LOG_INFO, "aws call failed, retrying",
                          BL_S("op", what), BL_I("attempt", attempt + 1),
                          BL_S("error", err->msg));
                backoff(fx, attempt);
                continue;
            }
            berth_err_prefix(err, "%s", what);
            break;
        }
        if (resp.status == 200) {
            json_error_t jerr;
            json_t *j = json_loads(berth_buf_cstr(&resp.body), 0, &jerr);
            if (!json_is_object(j)) {
                /* A proxy's page or a cut answer: the call may or may not
                 * have happened, and trying again is safe (RunTask is
                 * idempotent by its clientToken). */
                rc = berth_err_set_transient(
                    err, BERTH_E_BACKEND,
                    "%s: the answer is not a JSON object (%s): '%.80s'", what,
                    j ? "wrong type" : jerr.text, berth_buf_cstr(&resp.body));
                json_decref(j);
            } else {
                *out = j;
            }
            berth_http_resp_release(&resp);
            break;
        }
        cls = berth__aws_error(resp.status, berth_buf_cstr(&resp.body),
                               berth_map_get(&resp.headers, "x-amzn-errortype"),
                               what, NULL, 0, err);
        berth_http_resp_release(&resp);
        rc = err ? err->rc : BERTH_E_BACKEND;
        if ((cls == BERTH_AWS_ERR_THROTTLE || cls == BERTH_AWS_ERR_SERVER) &&
            attempt < fx->retries) {
            berth_log(BERTH_LOG_INFO, "aws throttled or failed, backing off",
                      BL_S("op", what), BL_I("attempt", attempt + 1),
                      BL_S("error", err ? err->msg : ""));
            backoff(fx, attempt);
            continue;
        }
        if (cls == BERTH_AWS_ERR_EXPIRED && temporary && !refreshed) {
            refreshed = true;
            berth__aws_auth_invalidate(fx->auth);
            continue;
        }
        break;
    }
    free(token_hdr);
    free(url);
    free(logs_base);
    free(text);
    return rc;
}

/* ---- task definitions --------------------------------------------------- */

static void tdinfo_release(struct tdinfo *t)
{
    free(t->arn);
    free(t->container);
    free(t->image);
    free(t->log_group);
    free(t->log_prefix);
    free(t->log_region);
}

/* Read a taskDefinition object into *t (caller releases). */
static int tdinfo_from_json(json_t *td, struct tdinfo *t, struct berth_err *err)
{
    json_t *cds = json_object_get(td, "containerDefinitions"), *cd, *pick;
    const char *arn =
        json_string_value(json_object_get(td, "taskDefinitionArn"));
    size_t i;

    memset(t, 0, sizeof(*t));
    if (!arn || !json_is_array(cds) || json_array_size(cds) == 0)
        return berth_err_set(err, BERTH_E_BACKEND,
                             "task definition without taskDefinitionArn or "
                             "containerDefinitions");
    /* The container berth drives: the first essential one. */
    pick = json_array_get(cds, 0);
    json_array_foreach(cds, i, cd)
    {
        json_t *ess = json_object_get(cd, "essential");
        if (!ess || json_is_true(ess)) {
            pick = cd;
            break;
        }
    }
    t->arn = berth_xstrdup(arn);
    t->container =
        berth_xstrdup(json_string_value(json_object_get(pick, "name")));
    t->image = berth_xstrdup(json_string_value(json_object_get(pick, "image")));
    {
        json_t *lc = json_object_get(pick, "logConfiguration");
        const char *drv = json_string_value(json_object_get(lc, "logDriver"));
        json_t *o = json_object_get(lc, "options");
        if (drv && strcmp(drv, "awslogs") == 0) {
            t->log_group = berth_xstrdup(
                json_string_value(json_object_get(o, "awslogs-group")));
            t->log_prefix = berth_xstrdup(
                json_string_value(json_object_get(o, "awslogs-stream-prefix")));
            t->log_region = berth_xstrdup(
                json_string_value(json_object_get(o, "awslogs-region")));
        }
    }
    if (!t->container) {
        tdinfo_release(t);
        return berth_err_set(err, BERTH_E_BACKEND,
                             "task definition '%s' has a container without a "
                             "name",
                             arn);
    }
    return 0;
}

/* Copy the cached info for arn into *out; false when not cached. Called
 * with td_lock held. */
static bool td_cached(struct fargate_exec *fx, const char *arn,
                      struct tdinfo *out)
{
    for (size_t i = 0; i < fx->ntds; i++) {
        struct tdinfo *t = &fx->tds[i];
        if (strcmp(t->arn, arn) != 0)
            continue;
        out->arn = berth_xstrdup(t->arn);
        out->container = berth_xstrdup(t->container);
        out->image = berth_xstrdup(t->image);
        out->log_group = berth_xstrdup(t->log_group);
        out->log_prefix = berth_xstrdup(t->log_prefix);
        out->log_region = berth_xstrdup(t->log_region);
        return true;
    }
    return false;
}

/* Remember t (taking ownership) under its ARN and under alias (a family or
 * the configured name) when given. Called with td_lock held. */
static void td_remember(struct fargate_exec *fx, struct tdinfo *t,
                        const char *alias)
{
    struct tdinfo copy;
    if (alias)
        berth_map_set(&fx->families, alias, t->arn);
    if (td_cached(fx, t->arn, &copy)) {
        tdinfo_release(&copy);
        tdinfo_release(t);
        return;
    }
    fx->tds = berth_xrealloc(fx->tds, (fx->ntds + 1) * sizeof(*fx->tds));
    fx->tds[fx->ntds++] = *t;
}

/* Drop arn from the cache and every alias naming it. Called with td_lock
 * held. */
static void td_forget(struct fargate_exec *fx, const char *arn)
{
    for (size_t i = 0; i < fx->families.n;) {
        if (strcmp(fx->families.kv[i].value, arn) == 0) {
            char *key = berth_xstrdup(fx->families.kv[i].key);
            berth_map_del(&fx->families, key);
            free(key);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < fx->ntds; i++) {
        if (strcmp(fx->tds[i].arn, arn) != 0)
            continue;
        tdinfo_release(&fx->tds[i]);
        fx->tds[i] = fx->tds[--fx->ntds];
        break;
    }
}

/* One ECS call answering a taskDefinition (DescribeTaskDefinition,
 * RegisterTaskDefinition), read into *t (caller releases). in is
 * borrowed; ref names the definition in messages. */
static int td_call(struct fargate_exec *fx, const char *op, json_t *in,
                   const char *ref, struct tdinfo *t, struct berth_err *err)
{
    json_t *resp = NULL;
    int rc;

    rc = aws_call(fx, SVC_ECS, fx->region, op, in, &resp, err);
    if (rc)
        return rc;
    rc = tdinfo_from_json(json_object_get(resp, "taskDefinition"), t, err);
    json_decref(resp);
    if (rc)
        berth_err_prefix(err, "ECS %s '%s'", op, ref);
    return rc;
}

/* DescribeTaskDefinition, into the cache. ref: family[:rev] or ARN. */
static int td_describe(struct fargate_exec *fx, const char *ref,
                       struct tdinfo *out, struct berth_err *err)
{
    json_t *in = json_pack("{s:s}", "taskDefinition", ref);
    struct tdinfo t;
    int rc;

    rc = td_call(fx, "DescribeTaskDefinition", in, ref, &t, err);
    json_decref(in);
    if (rc)
        return rc;
    {
        char *arn = berth_xstrdup(t.arn);
        pthread_mutex_lock(&fx->td_lock);
        td_remember(fx, &t, NULL); /* takes t, or frees it if known */
        if (!td_cached(fx, arn, out))
            BERTH_BUG("task definition '%s' not cached", arn);
        pthread_mutex_unlock(&fx->td_lock);
        free(arn);
    }
    return 0;
}

/* Info on the task definition ARN arn, from the cache or ECS. */
static int td_info(struct fargate_exec *fx, const char *arn, struct tdinfo *out,
                   struct berth_err *err)
{
    bool hit;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&fx->td_lock);
    hit = td_cached(fx, arn, out);
    pthread_mutex_unlock(&fx->td_lock);
    return hit ? 0 : td_describe(fx, arn, out, err);
}

/* "berth-<template>-<hash of the definition's content>": letters, digits,
 * '-' and '_' only, at most 255 characters. The hash makes a family name
 * stand for one content, so an existing family can be reused as is. */
static char *family_name(const struct fargate_exec *fx,
                         const struct berth_launch *req)
{
    struct berth_buf key = BERTH_BUF_INIT, fam = BERTH_BUF_INIT;
    unsigned char md[32];
    unsigned int mdlen = 0;
    const char *tmpl =
        req->template_name && *req->template_name ? req->template_name : "job";

    berth_buf_printf(&key, "v1\n%s\n%s\n%s\n%s\n%s\n%s\n", req->image,
                     req->working_dir ? req->working_dir : "",
                     fx->execution_role_arn ? fx->execution_role_arn : "",
                     fx->task_role_arn ? fx->task_role_arn : "", fx->log_group,
                     fx->region);
    if (!EVP_Digest(key.data, key.len, md, &mdlen, EVP_sha256(), NULL))
        BERTH_BUG("sha256 failed");
    berth_buf_puts(&fam, "berth-");
    for (const char *p = tmpl; *p && fam.len < 200; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_';
        berth_buf_append(&fam, ok ? &c : "_", 1);
    }
    berth_buf_puts(&fam, "-");
    for (int i = 0; i < 6; i++)
        berth_buf_printf(&fam, "%02x", md[i]);
    berth_buf_release(&key);
    return berth_buf_detach(&fam);
}

static int td_register(struct fargate_exec *fx, const char *family,
                       const struct berth_launch *req,
                       const struct berth_fargate_size *sz,
                       struct berth_err *err)
{
    json_t *cd, *in;
    char cpu[16], mem[24];
    struct tdinfo t;
    int rc;

    snprintf(cpu, sizeof(cpu), "%d", sz->cpu);
    snprintf(mem, sizeof(mem), "%lld", (long long)sz->memory_mb);
    cd = json_pack("{s:s, s:s, s:b, s:{s:s, s:{s:s, s:s, s:s}}}", "name",
                   CONTAINER, "image", req->image, "essential", 1,
                   "logConfiguration", "logDriver", "awslogs", "options",
                   "awslogs-group", fx->log_group, "awslogs-region", fx->region,
                   "awslogs-stream-prefix", STREAM_PREFIX);
    if (req->working_dir && *req->working_dir)
        json_object_set_new(cd, "workingDirectory",
                            json_string(req->working_dir));
    in = json_pack("{s:s, s:s, s:[s], s:s, s:s, s:[o], s:[{s:s, s:s}]}",
                   "family", family, "networkMode", "awsvpc",
                   "requiresCompatibilities", "FARGATE", "cpu", cpu, "memory",
                   mem, "containerDefinitions", cd, "tags", "key",
                   "berth.managed", "value", "true");
    if (fx->execution_role_arn)
        json_object_set_new(in, "executionRoleArn",
                            json_string(fx->execution_role_arn));
    if (fx->task_role_arn)
        json_object_set_new(in, "taskRoleArn", json_string(fx->task_role_arn));
    rc = td_call(fx, "RegisterTaskDefinition", in, family, &t, err);
    json_decref(in);
    if (rc)
        return rc;
    berth_log(BERTH_LOG_INFO, "registered task definition",
              BL_S("executor", fx->base.executor), BL_S("arn", t.arn));
    td_remember(fx, &t, family);
    return 0;
}

/*
 * The task definition to run req with, into *out (caller releases). With
 * `task_definition` configured, that one; else the family for the job's
 * shape, found by DescribeTaskDefinition or registered. td_lock is held
 * across the calls so that concurrent launches register a family once.
 */
static int ensure_td(struct fargate_exec *fx, const struct berth_launch *req,
                     const struct berth_fargate_size *sz, struct tdinfo *out,
                     struct berth_err *err)
{
    const char *ref = fx->task_definition;
    char *family = NULL;
    const char *arn;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&fx->td_lock);
    if (!ref)
        ref = family = family_name(fx, req);
    arn = berth_map_get(&fx->families, ref);
    if (arn && td_cached(fx, arn, out))
        goto out;
    {
        json_t *in = json_pack("{s:s}", "taskDefinition", ref);
        struct berth_err derr;
        struct tdinfo t;
        berth_err_init(&derr);
        rc = td_call(fx, "DescribeTaskDefinition", in, ref, &t, &derr);
        json_decref(in);
        if (rc == 0) {
            td_remember(fx, &t, ref);
        } else if (family && derr.rc == BERTH_E_INVALID) {
            /* ClientException "Unable to describe task definition.": the
             * family does not exist yet. */
            rc = td_register(fx, family, req, sz, err);
            if (rc)
                goto out;
        } else {
            if (err)
                *err = derr;
            if (!family)
                berth_err_prefix(err, "task_definition '%s'", ref);
            goto out;
        }
    }
    arn = berth_map_get(&fx->families, ref);
    if (!arn || !td_cached(fx, arn, out))
        BERTH_BUG("task definition '%s' not cached", ref);
out:
    pthread_mutex_unlock(&fx->td_lock);
    free(family);
    return rc;
}

/* ---- reading tasks ------------------------------------------------------ */

/* ECS times are epoch seconds (a JSON number); 0 when absent, or when so
 * far off that it would not fit microseconds (converting such a double
 * to int64_t is undefined). */
static int64_t epoch_us(json_t *v)
{
    double s = json_number_value(v);
    return json_is_number(v) && fabs(s) < 9e12 ? (int64_t)(s * 1e6) : 0;
}

void berth__fargate_task_status(json_t *task, const char *container,
                                struct berth_exec_status *q)
{
    const char *last = json_string_value(json_object_get(task, "lastStatus"));
    const char *stop_code =
        json_string_value(json_object_get(task, "stopCode"));
    const char *reason =
        json_string_value(json_object_get(task, "stoppedReason"));
    json_t *cs = json_object_get(task, "containers"), *c, *pick = NULL;
    size_t i;

    q->started_at = epoch_us(json_object_get(task, "startedAt"));
    q->finished_at = epoch_us(json_object_get(task, "stoppedAt"));
    if (!last)
        last = "";
    if (strcmp(last, "STOPPED") != 0) {
        /* PROVISIONING, PENDING, ACTIVATING have not started the
         * container; RUNNING and the way down (DEACTIVATING, STOPPING,
         * DEPROVISIONING) have. */
        q->state = (strcmp(last, "PROVISIONING") == 0 ||
                    strcmp(last, "PENDING") == 0 ||
                    strcmp(last, "ACTIVATING") == 0 || !*last)
                       ? BERTH_EXEC_PENDING
                       : BERTH_EXEC_RUNNING;
        return;
    }
    q->state = BERTH_EXEC_EXITED;
    q->cancelled = stop_code && strcmp(stop_code, "UserInitiated") == 0;
    json_array_foreach(cs, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (container && name && strcmp(name, container) == 0) {
            pick = c;
            break;
        }
    }
    if (!pick || !json_is_integer(json_object_get(pick, "exitCode"))) {
        json_array_foreach(cs, i, c)
        {
            if (json_is_integer(json_object_get(c, "exitCode"))) {
                pick = c;
                break;
            }
        }
    }
    if (pick && json_is_integer(json_object_get(pick, "exitCode"))) {
        const char *creason =
            json_string_value(json_object_get(pick, "reason"));
        q->exit_code =
            (int)json_integer_value(json_object_get(pick, "exitCode"));
        q->oom_killed =
            creason && strncmp(creason, "OutOfMemoryError", 16) == 0;
        snprintf(q->message, sizeof(q->message), "%s%s%s", reason ? reason : "",
                 creason ? ": " : "", creason ? creason : "");
    } else {
        /* Never ran (image pull, ENI, secrets...): no exit code. */
        const char *creason =
            pick ? json_string_value(json_object_get(pick, "reason")) : NULL;
        bool extra = creason && (!reason || strcmp(creason, reason) != 0);
        q->exit_code = BERTH_FARGATE_NO_EXIT_CODE;
        snprintf(q->message, sizeof(q->message), "%s%s%s%s%s%s",
                 stop_code ? stop_code : "stopped", reason ? ": " : "",
                 reason ? reason : "", extra ? " (" : "", extra ? creason : "",
                 extra ? ")" : "");
    }
}

/* ---- the ops -------------------------------------------------------------
 */

static char *opt_dup(const struct berth_opts *o, const char *key)
{
    const char *v = berth_opts_str(o, key, NULL);
    return v && *v ? berth_xstrdup(v) : NULL;
}

static char *strip_slash(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static void fargate_destroy(struct berth_exec *ex)
{
    struct fargate_exec *fx = to_fargate(ex);
    free(fx->cluster);
    free(fx->region);
    free(fx->endpoint);
    free(fx->logs_endpoint);
    berth_strv_release(&fx->subnets);
    berth_strv_release(&fx->security_groups);
    free(fx->execution_role_arn);
    free(fx->task_role_arn);
    free(fx->log_group);
    free(fx->task_definition);
    free(fx->platform_version);
    berth__aws_auth_free(fx->auth);
    for (size_t i = 0; i < fx->npool; i++)
        berth_http_free(fx->pool[i]);
    pthread_mutex_destroy(&fx->pool_lock);
    pthread_mutex_destroy(&fx->td_lock);
    berth_map_release(&fx->families);
    for (size_t i = 0; i < fx->ntds; i++)
        tdinfo_release(&fx->tds[i]);
    free(fx->tds);
    free(fx);
}

static int fargate_create(const struct berth_exec_params *p,
                          struct berth_exec **out, struct berth_err *err)
{
    const struct berth_opts *o = p->opts;
    struct fargate_exec *fx;
    const struct berth_strv *l;
    const char *region = berth__aws_region(o);
    struct berth_aws_auth_params ap;
    int rc;

    *out = NULL;
    if (!region)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "fargate executor '%s': no region (set "
                             "`region`, or AWS_REGION)",
                             p->executor);
    l = berth_opts_list(o, "subnets");
    if (!l || l->n == 0)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "fargate executor '%s': `subnets` is required "
                             "(Fargate tasks use awsvpc networking)",
                             p->executor);
    if (!berth_opts_str(o, "task_definition", NULL) &&
        !berth_opts_str(o, "execution_role_arn", NULL))
        return berth_err_set(err, BERTH_E_CONFIG,
                             "fargate executor '%s': `execution_role_arn` is "
                             "required to register task definitions (their "
                             "awslogs logging needs it), or name an existing "
                             "`task_definition`",
                             p->executor);

    fx = berth_xcalloc(1, sizeof(*fx));
    fx->cluster = berth_xstrdup(berth_opts_str(o, "cluster", "default"));
    fx->region = berth_xstrdup(region);
    fx->endpoint = strip_slash(opt_dup(o, "endpoint"));
    if (!fx->endpoint)
        fx->endpoint = berth_xasprintf("https://ecs.%s.amazonaws.com", region);
    fx->logs_endpoint = strip_slash(opt_dup(o, "logs_endpoint"));
    berth_strv_copy(&fx->subnets, l);
    l = berth_opts_list(o, "security_groups");
    if (l)
        berth_strv_copy(&fx->security_groups, l);
    fx->assign_public_ip = berth_opts_bool(o, "assign_public_ip", false);
    fx->execution_role_arn = opt_dup(o, "execution_role_arn");
    fx->task_role_arn = opt_dup(o, "task_role_arn");
    fx->log_group = berth_xstrdup(berth_opts_str(o, "log_group", "/ecs/berth"));
    fx->task_definition = opt_dup(o, "task_definition");
    fx->platform_version = opt_dup(o, "platform_version");
    fx->retries = (int)berth_opts_int(o, "retries", 5);
    fx->retry_base_ms = berth_opts_int(o, "retry_base_ms", 200);
    fx->timeout_ms = (long)berth_opts_int(o, "request_timeout_ms", 30000);
    if (fx->retries < 0 || fx->retries > 20 || fx->retry_base_ms < 1 ||
        fx->timeout_ms < 100) {
        fargate_destroy(&fx->base);
        return berth_err_set(err, BERTH_E_CONFIG,
                             "fargate executor '%s': retries must be 0..20, "
                             "retry_base_ms >= 1, request_timeout_ms >= 100",
                             p->executor);
    }
    pthread_mutex_init(&fx->pool_lock, NULL);
    pthread_mutex_init(&fx->td_lock, NULL);
    berth_map_init(&fx->families);
    ap.metadata_endpoint = berth_opts_str(o, "metadata_endpoint", NULL);
    ap.clock = p->clock;
    rc = berth__aws_auth_new(&ap, &fx->auth, err);
    if (rc) {
        fargate_destroy(&fx->base);
        return rc;
    }
    *out = &fx->base;
    return 0;
}

/* DescribeClusters: one cheap signed call that proves the endpoint, the
 * credentials and the cluster. */
static int fargate_health(struct berth_exec *ex, struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    json_t *in = json_pack("{s:[s]}", "clusters", fx->cluster), *resp = NULL;
    json_t *cl;
    const char *status;
    int rc;

    rc = aws_call(fx, SVC_ECS, fx->region, "DescribeClusters", in, &resp, err);
    json_decref(in);
    if (rc)
        return rc;
    cl = json_array_get(json_object_get(resp, "clusters"), 0);
    status = json_string_value(json_object_get(cl, "status"));
    if (!cl)
        rc = berth_err_set(err, BERTH_E_NOTFOUND,
                           "ECS cluster '%s' not found in %s", fx->cluster,
                           fx->region);
    else if (!status || strcmp(status, "ACTIVE") != 0)
        rc = berth_err_set(err, BERTH_E_BACKEND, "ECS cluster '%s' is %s",
                           fx->cluster, status ? status : "in no state");
    json_decref(resp);
    return rc;
}

/* The first task that ListTasks gives for startedBy and desiredStatus. */
static int list_started_by(struct fargate_exec *fx, const char *name,
                           const char *desired, struct berth_execution *out,
                           struct berth_err *err)
{
    json_t *in =
        json_pack("{s:s, s:s, s:s, s:i}", "cluster", fx->cluster, "startedBy",
                  name, "desiredStatus", desired, "maxResults", 10);
    json_t *resp = NULL;
    const char *arn;
    int rc;

    rc = aws_call(fx, SVC_ECS, fx->region, "ListTasks", in, &resp, err);
    json_decref(in);
    if (rc)
        return rc;
    arn =
        json_string_value(json_array_get(json_object_get(resp, "taskArns"), 0));
    if (arn && strlen(arn) < sizeof(out->id)) {
        snprintf(out->id, sizeof(out->id), "%s", arn);
        out->adopted = true;
    } else {
        rc = BERTH_E_NOTFOUND;
    }
    json_decref(resp);
    return rc;
}

static int fargate_find(struct berth_exec *ex, int64_t job_id, int attempt,
                        struct berth_execution *out, struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    char name[64];
    int rc;

    berth_exec_name(job_id, attempt, name, sizeof(name));
    rc = list_started_by(fx, name, "RUNNING", out, err);
    if (rc == BERTH_E_NOTFOUND)
        rc = list_started_by(fx, name, "STOPPED", out, err);
    if (rc == BERTH_E_NOTFOUND)
        return berth_err_set(err, BERTH_E_NOTFOUND,
                             "no ECS task started by '%s' in cluster '%s'",
                             name, fx->cluster);
    return rc;
}

/* AWS tag rules: key 1-128 characters, value up to 256, letters, digits,
 * spaces and _ . : / = + - @; no "aws:" prefix. */
static bool tag_ok(const char *s, size_t max, bool key)
{
    size_t n = strlen(s);
    if ((key && n == 0) || n > max || (key && strncasecmp(s, "aws:", 4) == 0))
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr(" _.:/=+-@", c)))
            return false;
    }
    return true;
}

static json_t *run_task_body(struct fargate_exec *fx,
                             const struct berth_launch *req,
                             const struct tdinfo *td,
                             const struct berth_fargate_size *sz)
{
    json_t *subnets = json_array(), *sgs = json_array(), *env = json_array();
    json_t *co, *tags, *body;
    char cpu[16], mem[24], job[32], att[16];

    for (size_t i = 0; i < fx->subnets.n; i++)
        json_array_append_new(subnets, json_string(fx->subnets.v[i]));
    for (size_t i = 0; i < fx->security_groups.n; i++)
        json_array_append_new(sgs, json_string(fx->security_groups.v[i]));
    for (size_t i = 0; req->env && i < req->env->n; i++)
        json_array_append_new(env, json_pack("{s:s, s:s}", "name",
                                             req->env->kv[i].key, "value",
                                             req->env->kv[i].value));
    co = json_pack("{s:s, s:o}", "name", td->container, "environment", env);
    if (req->command && req->command->n > 0) {
        json_t *cmd = json_array();
        for (size_t i = 0; i < req->command->n; i++)
            json_array_append_new(cmd, json_string(req->command->v[i]));
        json_object_set_new(co, "command", cmd);
    }
    snprintf(cpu, sizeof(cpu), "%d", sz->cpu);
    snprintf(mem, sizeof(mem), "%lld", (long long)sz->memory_mb);
    snprintf(job, sizeof(job), "%lld", (long long)req->job_id);
    snprintf(att, sizeof(att), "%d", req->attempt);
    tags = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "key", "berth.job",
                     "value", job, "key", "berth.attempt", "value", att, "key",
                     "berth.executor", "value", fx->base.executor);
    for (size_t i = 0; req->labels && i < req->labels->n; i++) {
        const char *k = req->labels->kv[i].key, *v = req->labels->kv[i].value;
        if (json_array_size(tags) >= 50)
            break;
        if (strncmp(k, "berth.", 6) == 0 || !tag_ok(k, 128, true) ||
            !tag_ok(v, 256, false))
            continue; /* not expressible as an AWS tag: left out */
        json_array_append_new(tags,
                              json_pack("{s:s, s:s}", "key", k, "value", v));
    }
    body = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:s, s:{s:{s:o, s:o, s:s}}, "
        "s:{s:s, s:s, s:[o]}, s:o}",
        "cluster", fx->cluster, "taskDefinition", td->arn, "launchType",
        "FARGATE", "count", 1, "clientToken", req->name, "startedBy", req->name,
        "networkConfiguration", "awsvpcConfiguration", "subnets", subnets,
        "securityGroups", sgs, "assignPublicIp",
        fx->assign_public_ip ? "ENABLED" : "DISABLED", "overrides", "cpu", cpu,
        "memory", mem, "containerOverrides", co, "tags", tags);
    if (fx->platform_version)
        json_object_set_new(body, "platformVersion",
                            json_string(fx->platform_version));
    return body;
}

/* RunTask failures[] reasons worth another try (capacity, throttling). */
static bool failure_transient(const char *reason)
{
    static const char *const t[] = {"Capacity", "CAPACITY", "RESOURCE",
                                    "AGENT",    "throttl",  "Throttl",
                                    "Timeout",  "timeout",  NULL};
    for (size_t i = 0; reason && t[i]; i++)
        if (strstr(reason, t[i]))
            return true;
    return false;
}

static int fargate_launch(struct berth_exec *ex, const struct berth_launch *req,
                          struct berth_execution *out, struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    struct berth_fargate_size sz;
    struct tdinfo td;
    json_t *body, *resp = NULL, *task;
    const char *arn;
    int64_t t_start;
    int rc;

    rc = berth__fargate_size(req->cpu_cores, req->memory_mb, &sz, err);
    if (rc)
        return rc;
    if (strlen(req->name) > 64)
        return berth_err_set(err, BERTH_E_INVALID,
                             "name '%s' is too long for an ECS clientToken",
                             req->name);
    /*
     * DESIGN.md § Job lifecycle: at most one launch per attempt. RunTask
     * is idempotent by clientToken for 24 hours: a second RunTask of the
     * same attempt (a retry after a lost answer, a restarted worker)
     * returns the task of the first and starts nothing. Older launches are
     * found by find() (ListTasks by startedBy), which the worker asks
     * before it launches an orphan again. Asking ListTasks here too would
     * double the API calls of every launch.
     */
    t_start = berth_now_us();
    rc = ensure_td(fx, req, &sz, &td, err);
    if (rc)
        return rc;
    if (fx->task_definition && td.image && strcmp(td.image, req->image)) {
        rc = berth_err_set(err, BERTH_E_INVALID,
                           "job image '%s' is not the image '%s' of task "
                           "definition '%s': ECS cannot override a "
                           "container's image (drop `task_definition` to let "
                           "berth register one per image)",
                           req->image, td.image, fx->task_definition);
        tdinfo_release(&td);
        return rc;
    }
    body = run_task_body(fx, req, &td, &sz);
    rc = aws_call(fx, SVC_ECS, fx->region, "RunTask", body, &resp, err);
    json_decref(body);
    if (rc == BERTH_E_INVALID && !fx->task_definition && err &&
        strstr(err->msg, "is inactive")) {
        /* Someone deregistered the revision berth cached: forget it and
         * find or register the family's current one, once. */
        pthread_mutex_lock(&fx->td_lock);
        td_forget(fx, td.arn);
        pthread_mutex_unlock(&fx->td_lock);
        tdinfo_release(&td);
        berth_err_init(err);
        rc = ensure_td(fx, req, &sz, &td, err);
        if (rc)
            return rc;
        body = run_task_body(fx, req, &td, &sz);
        rc = aws_call(fx, SVC_ECS, fx->region, "RunTask", body, &resp, err);
        json_decref(body);
    }
    tdinfo_release(&td);
    if (rc == BERTH_E_CONFLICT) {
        /* The same clientToken with other parameters (a changed template or
         * config): the attempt already has its task; adopt it. */
        struct berth_err ferr;
        berth_err_init(&ferr);
        if (fargate_find(ex, req->job_id, req->attempt, out, &ferr) == 0) {
            if (err)
                berth_err_init(err);
            return 0;
        }
    }
    if (rc)
        return rc;
    task = json_array_get(json_object_get(resp, "tasks"), 0);
    arn = json_string_value(json_object_get(task, "taskArn"));
    if (!arn) {
        json_t *f = json_array_get(json_object_get(resp, "failures"), 0);
        const char *reason = json_string_value(json_object_get(f, "reason"));
        const char *detail = json_string_value(json_object_get(f, "detail"));
        if (f && failure_transient(reason))
            rc = berth_err_set_transient(
                err, BERTH_E_CAPACITY, "ECS RunTask: failure: %s%s%s", reason,
                detail ? ": " : "", detail ? detail : "");
        else if (f)
            rc = berth_err_set(err, BERTH_E_BACKEND,
                               "ECS RunTask: failure: %s%s%s",
                               reason ? reason : "(no reason)",
                               detail ? ": " : "", detail ? detail : "");
        else
            rc = berth_err_set(err, BERTH_E_BACKEND,
                               "ECS RunTask: answer has neither tasks nor "
                               "failures");
    } else if (strlen(arn) >= sizeof(out->id)) {
        rc = berth_err_set(err, BERTH_E_BACKEND, "task ARN too long: %s", arn);
    } else {
        snprintf(out->id, sizeof(out->id), "%s", arn);
        /* A task created well before this call is the earlier launch's
         * (ECS answered from its clientToken record). */
        out->adopted =
            epoch_us(json_object_get(task, "createdAt")) + ADOPT_MARGIN_US <
            t_start;
    }
    json_decref(resp);
    return rc;
}

/* Read one DescribeTasks call's answer into the queries whose ids it
 * names. */
static void fill_statuses(json_t *resp, struct berth_exec_status *q,
                          const size_t *idx, size_t n)
{
    json_t *tasks = json_object_get(resp, "tasks"), *fails, *t, *f;
    size_t i;
    json_array_foreach(tasks, i, t)
    {
        const char *arn = json_string_value(json_object_get(t, "taskArn"));
        for (size_t k = 0; arn && k < n; k++)
            if (strcmp(q[idx[k]].execution_id, arn) == 0 && q[idx[k]].rc == 1) {
                q[idx[k]].rc = 0;
                berth__fargate_task_status(t, CONTAINER, &q[idx[k]]);
            }
    }
    fails = json_object_get(resp, "failures");
    json_array_foreach(fails, i, f)
    {
        const char *arn = json_string_value(json_object_get(f, "arn"));
        const char *reason = json_string_value(json_object_get(f, "reason"));
        for (size_t k = 0; arn && k < n; k++) {
            struct berth_exec_status *s = &q[idx[k]];
            if (strcmp(s->execution_id, arn) != 0 || s->rc != 1)
                continue;
            if (reason && strcmp(reason, "MISSING") == 0) {
                s->rc = 0;
                s->state = BERTH_EXEC_LOST;
                snprintf(s->message, sizeof(s->message),
                         "ECS does not know the task (MISSING): stopped "
                         "tasks are forgotten after about an hour");
            } else {
                s->rc = BERTH_E_BACKEND;
                snprintf(s->message, sizeof(s->message),
                         "ECS DescribeTasks failure: %s",
                         reason ? reason : "(no reason)");
            }
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (q[idx[k]].rc == 1) {
            q[idx[k]].rc = BERTH_E_BACKEND;
            snprintf(q[idx[k]].message, sizeof(q[idx[k]].message),
                     "ECS DescribeTasks said nothing about the task");
        }
    }
}

static int by_execution_id(const void *a, const void *b, void *ctx)
{
    const struct berth_exec_status *q = ctx;
    return strcmp(q[*(const size_t *)a].execution_id,
                  q[*(const size_t *)b].execution_id);
}

static int fargate_status(struct berth_exec *ex, struct berth_exec_status *q,
                          size_t n, struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    size_t *order = berth_xcalloc(n, sizeof(*order));
    size_t asked = 0, failed = 0;
    struct berth_err first;
    int rc = 0;

    berth_err_init(&first);
    /* Sorted by id, so that an execution asked for twice is one ARN in
     * one call; rc == 1 marks "not answered yet" while the calls run. */
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        q[i].rc = 1;
    }
    qsort_r(order, n, sizeof(*order), by_execution_id, q);
    for (size_t start = 0; start < n;) {
        json_t *arns = json_array(), *in, *resp = NULL;
        size_t end = start, distinct = 0;
        struct berth_err cerr;

        /* DescribeTasks takes up to 100 tasks per call. */
        while (end < n) {
            bool same =
                end > start && strcmp(q[order[end]].execution_id,
                                      q[order[end - 1]].execution_id) == 0;
            if (!same) {
                if (distinct == DESCRIBE_MAX)
                    break;
                json_array_append_new(arns,
                                      json_string(q[order[end]].execution_id));
                distinct++;
            }
            end++;
        }
        in = json_pack("{s:s, s:o}", "cluster", fx->cluster, "tasks", arns);
        berth_err_init(&cerr);
        asked++;
        rc = aws_call(fx, SVC_ECS, fx->region, "DescribeTasks", in, &resp,
                      &cerr);
        json_decref(in);
        if (rc) {
            failed++;
            if (!first.rc)
                first = cerr;
            for (size_t k = start; k < end; k++) {
                q[order[k]].rc = rc;
                snprintf(q[order[k]].message, sizeof(q[order[k]].message), "%s",
                         cerr.msg);
            }
        } else {
            fill_statuses(resp, q, order + start, end - start);
            json_decref(resp);
        }
        start = end;
    }
    free(order);
    if (asked > 0 && failed == asked) {
        if (err)
            *err = first;
        return first.rc;
    }
    return 0;
}

/* The task's definition and its awslogs stream. */
static int task_stream(struct fargate_exec *fx, const char *task_arn,
                       struct tdinfo *td, char **stream, struct berth_err *err)
{
    json_t *in =
        json_pack("{s:s, s:[s]}", "cluster", fx->cluster, "tasks", task_arn);
    json_t *resp = NULL, *task;
    const char *td_arn, *slash;
    int rc;

    *stream = NULL;
    memset(td, 0, sizeof(*td));
    rc = aws_call(fx, SVC_ECS, fx->region, "DescribeTasks", in, &resp, err);
    json_decref(in);
    if (rc)
        return rc;
    task = json_array_get(json_object_get(resp, "tasks"), 0);
    td_arn = json_string_value(json_object_get(task, "taskDefinitionArn"));
    if (!td_arn) {
        json_decref(resp);
        return berth_err_set(err, BERTH_E_NOTFOUND,
                             "ECS does not know task '%s' (any more)",
                             task_arn);
    }
    rc = td_info(fx, td_arn, td, err);
    json_decref(resp);
    if (rc)
        return rc;
    if (!td->log_group) {
        rc = berth_err_set(err, BERTH_E_UNSUPPORTED,
                           "task definition '%s' does not log with awslogs: "
                           "no logs to fetch",
                           td->arn);
        tdinfo_release(td);
        return rc;
    }
    slash = strrchr(task_arn, '/');
    *stream = berth_xasprintf("%s%s%s/%s", td->log_prefix ? td->log_prefix : "",
                              td->log_prefix ? "/" : "", td->container,
                              slash ? slash + 1 : task_arn);
    return 0;
}

static int fargate_logs(struct berth_exec *ex, const char *execution_id,
                        size_t max_bytes, struct berth_job_logs *out,
                        struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    struct berth_buf b = BERTH_BUF_INIT;
    struct tdinfo td;
    char *stream = NULL, *token = NULL;
    const char *region;
    int rc, pages = 0;

    rc = task_stream(fx, execution_id, &td, &stream, err);
    if (rc)
        return rc;
    region = td.log_region ? td.log_region : fx->region;
    for (;;) {
        json_t *in, *resp = NULL, *events, *e;
        const char *next;
        size_t i;
        bool full = false;

        in = json_pack("{s:s, s:s, s:b}", "logGroupName", td.log_group,
                       "logStreamName", stream, "startFromHead", 1);
        if (token)
            json_object_set_new(in, "nextToken", json_string(token));
        rc = aws_call(fx, SVC_LOGS, region, "GetLogEvents", in, &resp, err);
        json_decref(in);
        if (rc == BERTH_E_NOTFOUND && pages == 0 && err &&
            strstr(err->msg, "log stream")) {
            /* No stream (yet): the task has not written a line. A missing
             * log group, though, is a configuration error. */
            if (err)
                berth_err_init(err);
            rc = 0;
            break;
        }
        if (rc)
            break;
        pages++;
        events = json_object_get(resp, "events");
        json_array_foreach(events, i, e)
        {
            const char *msg = json_string_value(json_object_get(e, "message"));
            size_t len = msg ? strlen(msg) : 0;
            if (!msg)
                continue;
            if (max_bytes && b.len + len + 1 > max_bytes) {
                size_t room = max_bytes > b.len ? max_bytes - b.len : 0;
                berth_buf_append(&b, msg, room < len ? room : len);
                out->truncated = true;
                full = true;
                break;
            }
            berth_buf_append(&b, msg, len);
            berth_buf_append(&b, "\n", 1);
        }
        next = json_string_value(json_object_get(resp, "nextForwardToken"));
        /* The end: the same token comes back. */
        if (full || !next || (token && strcmp(next, token) == 0)) {
            json_decref(resp);
            break;
        }
        free(token);
        token = berth_xstrdup(next);
        json_decref(resp);
        if (pages > 10000) {
            rc = berth_err_set(err, BERTH_E_BACKEND,
                               "CloudWatch Logs: stream '%s' never ends",
                               stream);
            break;
        }
    }
    if (rc == 0) {
        out->out_len = b.len;
        out->out = b.len ? berth_buf_detach(&b) : berth_xstrdup("");
        out->err = berth_xstrdup("");
        out->err_len = 0;
    }
    berth_buf_release(&b);
    free(token);
    free(stream);
    tdinfo_release(&td);
    return rc;
}

static int fargate_cancel(struct berth_exec *ex, const char *execution_id,
                          int grace_seconds, struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    json_t *in, *resp = NULL;
    int rc;

    /* ECS sends SIGTERM, then SIGKILL after the container's stopTimeout
     * (30 s by default on Fargate): grace_seconds cannot be passed per
     * call. */
    (void)grace_seconds;
    in = json_pack("{s:s, s:s, s:s}", "cluster", fx->cluster, "task",
                   execution_id, "reason", "Stopped by berth");
    rc = aws_call(fx, SVC_ECS, fx->region, "StopTask", in, &resp, err);
    json_decref(in);
    json_decref(resp);
    return rc;
}

/* "berth-<job>-<attempt>" -> job and attempt; false for other names. */
static bool parse_name(const char *s, int64_t *job, int *attempt)
{
    const char *dash;
    char *num;
    int64_t a;
    bool ok;

    if (!s || strncmp(s, "berth-", 6) != 0)
        return false;
    dash = strrchr(s + 6, '-');
    if (!dash || dash == s + 6)
        return false;
    num = berth_xstrndup(s + 6, (size_t)(dash - (s + 6)));
    ok = berth_parse_i64(num, 0, INT64_MAX, job) == 0 &&
         berth_parse_i64(dash + 1, 1, INT32_MAX, &a) == 0;
    free(num);
    if (ok)
        *attempt = (int)a;
    return ok;
}

/* Every task ARN ListTasks gives for desiredStatus, page after page. */
static int list_all(struct fargate_exec *fx, const char *desired,
                    struct berth_strv *arns, struct berth_err *err)
{
    char *token = NULL;
    int rc = 0;

    for (int pages = 0; pages < 10000; pages++) {
        json_t *in = json_pack("{s:s, s:s, s:i}", "cluster", fx->cluster,
                               "desiredStatus", desired, "maxResults", 100);
        json_t *resp = NULL, *v;
        const char *next;
        size_t i;

        if (token)
            json_object_set_new(in, "nextToken", json_string(token));
        rc = aws_call(fx, SVC_ECS, fx->region, "ListTasks", in, &resp, err);
        json_decref(in);
        if (rc)
            break;
        json_array_foreach(json_object_get(resp, "taskArns"), i, v)
        {
            if (json_is_string(v))
                berth_strv_push(arns, json_string_value(v));
        }
        next = json_string_value(json_object_get(resp, "nextToken"));
        free(token);
        token = next && *next ? berth_xstrdup(next) : NULL;
        json_decref(resp);
        if (!token)
            break;
    }
    free(token);
    return rc;
}

/*
 * `berth cleanup`: the cluster's tasks that berth started (startedBy
 * "berth-<job>-<attempt>"), running or recently stopped (ECS forgets
 * stopped tasks after about an hour, so there is little to clean).
 */
static int fargate_list(struct berth_exec *ex, struct berth_exec_object **out,
                        size_t *n, struct berth_err *err)
{
    struct fargate_exec *fx = to_fargate(ex);
    struct berth_strv arns = BERTH_STRV_INIT;
    struct berth_exec_object *v = NULL;
    size_t nv = 0;
    int rc;

    *out = NULL;
    *n = 0;
    rc = list_all(fx, "RUNNING", &arns, err);
    if (rc == 0)
        rc = list_all(fx, "STOPPED", &arns, err);
    for (size_t start = 0; rc == 0 && start < arns.n; start += DESCRIBE_MAX) {
        json_t *batch = json_array(), *in, *resp = NULL, *t;
        size_t i;
        for (size_t k = start; k < arns.n && k < start + DESCRIBE_MAX; k++)
            json_array_append_new(batch, json_string(arns.v[k]));
        in = json_pack("{s:s, s:o}", "cluster", fx->cluster, "tasks", batch);
        rc = aws_call(fx, SVC_ECS, fx->region, "DescribeTasks", in, &resp, err);
        json_decref(in);
        if (rc)
            break;
        json_array_foreach(json_object_get(resp, "tasks"), i, t)
        {
            const char *arn = json_string_value(json_object_get(t, "taskArn"));
            const char *by = json_string_value(json_object_get(t, "startedBy"));
            struct berth_exec_status st;
            struct berth_exec_object *o;
            int64_t job;
            int attempt;

            if (!arn || strlen(arn) >= BERTH_EXEC_ID_MAX ||
                !parse_name(by, &job, &attempt))
                continue; /* not berth's */
            v = berth_xrealloc(v, (nv + 1) * sizeof(*v));
            o = &v[nv++];
            memset(o, 0, sizeof(*o));
            memset(&st, 0, sizeof(st));
            snprintf(o->id, sizeof(o->id), "%s", arn);
            snprintf(o->name, sizeof(o->name), "%s", by);
            o->job_id = job;
            o->attempt = attempt;
            berth__fargate_task_status(t, CONTAINER, &st);
            o->state = st.state;
            o->created_at = epoch_us(json_object_get(t, "createdAt"));
        }
        json_decref(resp);
    }
    berth_strv_release(&arns);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = nv;
    return 0;
}

/* Stop it if it still runs; a task ECS no longer knows is gone already. */
static int fargate_remove(struct berth_exec *ex, const char *execution_id,
                          struct berth_err *err)
{
    int rc = fargate_cancel(ex, execution_id, 0, err);
    if (rc == BERTH_E_INVALID && err && strstr(err->msg, "not found")) {
        berth_err_init(err);
        return 0;
    }
    return rc;
}

const struct berth_exec_ops berth__exec_fargate = {
    .type = "fargate",
    .caps = BERTH_EXEC_CAP_BATCH_STATUS | BERTH_EXEC_CAP_CANCEL |
            BERTH_EXEC_CAP_LIST,
    .options = fargate_options,
    .default_max_concurrent_jobs = 100,
    .poll_interval_ms = 2000,
    .create = fargate_create,
    .destroy = fargate_destroy,
    .health = fargate_health,
    .launch = fargate_launch,
    .find = fargate_find,
    .status = fargate_status,
    .logs = fargate_logs,
    .cancel = fargate_cancel,
    .list = fargate_list,
    .remove = fargate_remove,
};
