/*
 * fake_cloudrun.c - a strict local stand-in for the Google APIs the
 * cloudrun backend speaks, for tests (machines here cannot reach Google):
 *
 *   - Cloud Run Admin API v2: projects.locations.jobs create / get / list /
 *     patch / delete / run, jobs.executions get / list / cancel / delete,
 *     jobs.executions.tasks list, operations get;
 *   - Cloud Logging v2 entries.list (with a parser of the filter subset
 *     berth may send, precedence as documented: NOT, then OR, then AND);
 *   - an OAuth2 token endpoint doing the JWT bearer flow (RFC 7523): it
 *     verifies the RS256 signature with a public key the test generated,
 *     and the claims;
 *   - the GCE metadata server's token and project-id endpoints.
 *
 * It checks every request against the published API reference: method,
 * path, query parameters, Authorization (a token it issued, or one given
 * with --token, unexpired), Content-Type, and the JSON body's field names
 * and types (unknown fields are refused as Google refuses them) plus the
 * documented constraints berth must respect (label syntax, resource
 * limits, durations, job id syntax...). Answers use the APIs' shapes:
 * resources in proto3 JSON (zero values left out), long-running
 * Operations, nextPageToken pagination, error bodies
 * {"error":{"code":...,"message":...,"status":...}}.
 *
 * Executions live by the clock: pending for FAKE_START_DELAY_MS, running
 * for FAKE_DURATION_MS (-1: until POST /_fake/finish), then done with
 * FAKE_EXIT_CODE (or FAKE_TERM_SIGNAL, FAKE_OOM=1); FAKE_STDOUT and
 * FAKE_STDERR are what they print, one log entry per line ("echo ..." as
 * args prints too). These FAKE_* come from the run's env overrides, with
 * defaults from the command line. A task's exit code shows where the real
 * API shows it: the task's lastAttemptResult (exitCode or termSignal).
 *
 * Test control (no auth), all JSON:
 *   GET  /_fake/requests      every API request: seq, t_us, method, path,
 *                             query, status, auth, violation
 *   GET  /_fake/violations    requests refused for their shape (berth bugs)
 *   GET  /_fake/stats         runs per BERTH_EXECUTION_NAME, totals
 *   POST /_fake/inject        {"method","path_contains","status","count",
 *                              "retry_after","garbage","delay_ms"}: fail
 *                             matching calls, or (delay_ms alone) carry
 *                             them out and answer late
 *   POST /_fake/finish        {"marker" | "execution", "exit_code",
 *                              "term_signal"}: end a running execution
 *   POST /_fake/revoke        forget every access token
 *   POST /_fake/config        {"start_delay_ms","duration_ms"}
 *
 * Usage: fake_cloudrun --project P --region R [--port N] [--port-file F]
 *   [--token T]... [--jwt-pubkey PEM --sa-email E [--kid K]]
 *   [--token-ttl S] [--no-metadata] [--create-polls N] [--duration-ms MS]
 *   [--start-delay-ms MS] [--page-max N] [--log-empty-first-page]
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "berth/util.h"

#define VEC(T)                                                                 \
    struct {                                                                   \
        T *v;                                                                  \
        size_t n, cap;                                                         \
    }
#define PUSH(vec, item)                                                        \
    do {                                                                       \
        if ((vec).n == (vec).cap) {                                            \
            (vec).cap = (vec).cap ? (vec).cap * 2 : 16;                        \
            (vec).v = berth_xrealloc((vec).v, (vec).cap * sizeof(*(vec).v));   \
        }                                                                      \
        (vec).v[(vec).n++] = (item);                                           \
    } while (0)

#define BODY_MAX  (8u << 20)
#define SCOPE_URL "https://www.googleapis.com/auth/cloud-platform"

/* ---- state ------------------------------------------------------------- */

struct fjob {
    char *id;
    char *uid;
    json_t *spec; /* input fields, as created or patched */
    int64_t create_us, update_us;
    int64_t generation;
    int exec_count;
    char *latest_exec;
    bool deleted;
};

struct fexec {
    char *name; /* full */
    char *short_name;
    char *job_id;
    char *uid;
    char *marker;
    json_t *labels;
    json_t *template; /* TaskTemplate with the overrides applied */
    int64_t task_count;
    int64_t timeout_s;
    int64_t create_us, start_us, end_us; /* planned; end 0 = manual */
    int64_t done_us;
    bool started, finished, cancelled, deleted;
    int exit_code, term_signal;
    bool oom, timed_out;
    char *out_text, *err_text;
};

enum op_kind { OP_JOB, OP_EXEC, OP_DONE };

struct fop {
    char *name;
    enum op_kind kind;
    size_t target; /* job or execution index */
    int polls_left;
    json_t *final; /* OP_DONE: the response to carry */
    const char *type;
};

struct fentry {
    size_t exec;
    int stream; /* 1 stdout, 2 stderr, 3 system */
    int64_t t_us;
    char *text;
    uint64_t id;
};

struct frec {
    uint64_t seq;
    int64_t t_us;
    char *method, *path, *query, *auth, *violation;
    int status;
};

struct finject {
    char *method;
    char *path_contains;
    int status;
    int count;
    int retry_after;
    bool garbage;
    int delay_ms; /* with no status: answer normally, this much later */
};

struct ftoken {
    char *tok;
    int64_t exp_us;
};

struct frun {
    char *marker;
    int count;
};

static struct fake {
    pthread_mutex_t lock;
    char *project, *region;
    int port;
    char *token_aud;
    EVP_PKEY *pub;
    char *sa_email, *kid;
    int64_t token_ttl;
    bool metadata;
    int create_polls;
    int64_t duration_ms, start_delay_ms;
    int page_max;
    bool log_empty_first;

    VEC(struct fjob *) jobs;
    VEC(struct fexec *) execs;
    VEC(struct fop *) ops;
    VEC(struct fentry) entries;
    VEC(struct frec) recs;
    VEC(struct finject) injects;
    VEC(struct ftoken) tokens;
    VEC(struct frun) runs;
    uint64_t seq, next_entry;
    int64_t token_grants, metadata_grants, jobs_created;
} F;

/* ---- small helpers ----------------------------------------------------- */

static char *hexrand(size_t bytes)
{
    unsigned char b[32];
    char *s = berth_xmalloc(bytes * 2 + 1);
    RAND_bytes(b, (int)bytes);
    for (size_t i = 0; i < bytes; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    return s;
}

static char *uuid4(void)
{
    char *h = hexrand(16);
    char *u = berth_xasprintf("%.8s-%.4s-4%.3s-a%.3s-%.12s", h, h + 8, h + 13,
                              h + 17, h + 20);
    free(h);
    return u;
}

/* RFC 3339 with nanoseconds, as Google writes timestamps. */
static json_t *ts_json(int64_t us)
{
    char buf[BERTH_TIME_STR_MAX], out[48];
    berth_time_format(us, buf); /* ...T15:49:13.123Z */
    snprintf(out, sizeof(out), "%.19s.%06" PRId64 "000Z", buf,
             ((us % BERTH_US_PER_SEC) + BERTH_US_PER_SEC) % BERTH_US_PER_SEC);
    return json_string(out);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

struct fresp {
    int status;
    char *body;
    const char *ctype;
    char *hdr_name;
    char *hdr_value;
    char *violation; /* set when the request broke the API's rules */
    int delay_ms;    /* answer this much later (outside the lock) */
};

static const char *code_status(int code)
{
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ALREADY_EXISTS";
    case 412:
        return "FAILED_PRECONDITION";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 501:
        return "UNIMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    default:
        return code >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
    }
}

static void set_json(struct fresp *r, int status, json_t *body)
{
    r->status = status;
    free(r->body);
    r->body = json_dumps(body, JSON_COMPACT);
    r->ctype = "application/json; charset=UTF-8";
    json_decref(body);
}

static void gerr_status(struct fresp *r, int code, const char *status,
                        const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    set_json(r, code,
             json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code, "message",
                       msg, "status", status));
}

/* A Google error body. */
static void gerr(struct fresp *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gerr(struct fresp *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gerr_status(r, code, code_status(code), fmt, ap);
    va_end(ap);
}

/* A refusal that means berth sent something the API would refuse. */
static void violation(struct fresp *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(struct fresp *r, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gerr(r, code, "%s", msg);
    free(r->violation);
    r->violation = berth_xstrdup(msg);
}

/* ---- request ----------------------------------------------------------- */

struct freq {
    const char *method;
    char *path;
    struct berth_map query;
    struct berth_map headers; /* lowercase names */
    struct berth_buf body;
    json_t *json; /* parsed body when it is JSON */
};

static const char *hdr(const struct freq *q, const char *name)
{
    return berth_map_get(&q->headers, name);
}

/* Query parameters: every one must be in allowed (plus system ones). */
static bool check_query(const struct freq *q, struct fresp *r,
                        const char *const *allowed)
{
    static const char *const system[] = {"alt", "fields", "prettyPrint",
                                         "$.xgafv", NULL};
    for (size_t i = 0; i < q->query.n; i++) {
        const char *k = q->query.kv[i].key;
        bool ok = false;
        for (const char *const *a = allowed; a && *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        for (const char *const *a = system; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) {
            violation(r, 400,
                      "Invalid JSON payload received. Unknown name \"%s\": "
                      "Cannot bind query parameter. Field '%s' could not be "
                      "found in request message.",
                      k, k);
            return false;
        }
    }
    return true;
}

static bool query_int(const struct freq *q, struct fresp *r, const char *key,
                      int64_t dflt, int64_t *out)
{
    const char *v = berth_map_get(&q->query, key);
    *out = dflt;
    if (!v)
        return true;
    if (berth_parse_i64(v, INT32_MIN, INT32_MAX, out)) {
        violation(r, 400, "Invalid value at '%s' (TYPE_INT32), \"%s\"", key, v);
        return false;
    }
    return true;
}

static bool query_bool(const struct freq *q, struct fresp *r, const char *key)
{
    const char *v = berth_map_get(&q->query, key);
    if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
        violation(r, 400, "Invalid value at '%s' (TYPE_BOOL), \"%s\"", key, v);
        return false;
    }
    return true;
}

/* ---- JSON body schemas ------------------------------------------------- */

enum ftype {
    T_STR,
    T_INT,
    T_BOOL,
    T_MAP,     /* object of strings */
    T_OBJ,     /* sub-schema */
    T_ARR_STR, /* list of strings */
    T_ARR_OBJ, /* list of sub-schema objects */
    T_DUR,     /* google.protobuf.Duration: "3.5s" */
    T_ANY,     /* accepted without a look inside */
};

struct field {
    const char *name;
    enum ftype type;
    const struct field *sub;
};

static const struct field s_envvar[] = {{"name", T_STR, NULL},
                                        {"value", T_STR, NULL},
                                        {"valueSource", T_ANY, NULL},
                                        {NULL, T_ANY, NULL}};
static const struct field s_resources[] = {{"limits", T_MAP, NULL},
                                           {"cpuIdle", T_BOOL, NULL},
                                           {"startupCpuBoost", T_BOOL, NULL},
                                           {NULL, T_ANY, NULL}};
static const struct field s_container[] = {
    {"name", T_STR, NULL},         {"image", T_STR, NULL},
    {"command", T_ARR_STR, NULL},  {"args", T_ARR_STR, NULL},
    {"env", T_ARR_OBJ, s_envvar},  {"resources", T_OBJ, s_resources},
    {"ports", T_ANY, NULL},        {"volumeMounts", T_ANY, NULL},
    {"workingDir", T_STR, NULL},   {"livenessProbe", T_ANY, NULL},
    {"startupProbe", T_ANY, NULL}, {"dependsOn", T_ARR_STR, NULL},
    {"baseImageUri", T_STR, NULL}, {NULL, T_ANY, NULL}};
static const struct field s_netif[] = {{"network", T_STR, NULL},
                                       {"subnetwork", T_STR, NULL},
                                       {"tags", T_ARR_STR, NULL},
                                       {NULL, T_ANY, NULL}};
static const struct field s_vpc[] = {{"connector", T_STR, NULL},
                                     {"egress", T_STR, NULL},
                                     {"networkInterfaces", T_ARR_OBJ, s_netif},
                                     {NULL, T_ANY, NULL}};
static const struct field s_task_template[] = {
    {"containers", T_ARR_OBJ, s_container},
    {"volumes", T_ANY, NULL},
    {"maxRetries", T_INT, NULL},
    {"timeout", T_DUR, NULL},
    {"serviceAccount", T_STR, NULL},
    {"executionEnvironment", T_STR, NULL},
    {"encryptionKey", T_STR, NULL},
    {"vpcAccess", T_OBJ, s_vpc},
    {"nodeSelector", T_ANY, NULL},
    {"gpuZonalRedundancyDisabled", T_BOOL, NULL},
    {NULL, T_ANY, NULL}};
static const struct field s_exec_template[] = {
    {"labels", T_MAP, NULL},
    {"annotations", T_MAP, NULL},
    {"parallelism", T_INT, NULL},
    {"taskCount", T_INT, NULL},
    {"template", T_OBJ, s_task_template},
    {NULL, T_ANY, NULL}};
static const struct field s_job[] = {{"name", T_STR, NULL},
                                     {"labels", T_MAP, NULL},
                                     {"annotations", T_MAP, NULL},
                                     {"client", T_STR, NULL},
                                     {"clientVersion", T_STR, NULL},
                                     {"launchStage", T_STR, NULL},
                                     {"binaryAuthorization", T_ANY, NULL},
                                     {"template", T_OBJ, s_exec_template},
                                     {"startExecutionToken", T_STR, NULL},
                                     {"runExecutionToken", T_STR, NULL},
                                     {"etag", T_STR, NULL},
                                     {NULL, T_ANY, NULL}};
static const struct field s_container_override[] = {
    {"name", T_STR, NULL},
    {"args", T_ARR_STR, NULL},
    {"env", T_ARR_OBJ, s_envvar},
    {"clearArgs", T_BOOL, NULL},
    {NULL, T_ANY, NULL}};
static const struct field s_overrides[] = {
    {"containerOverrides", T_ARR_OBJ, s_container_override},
    {"taskCount", T_INT, NULL},
    {"timeout", T_DUR, NULL},
    {NULL, T_ANY, NULL}};
static const struct field s_run[] = {{"validateOnly", T_BOOL, NULL},
                                     {"etag", T_STR, NULL},
                                     {"overrides", T_OBJ, s_overrides},
                                     {NULL, T_ANY, NULL}};
static const struct field s_cancel[] = {
    {"validateOnly", T_BOOL, NULL}, {"etag", T_STR, NULL}, {NULL, T_ANY, NULL}};
static const struct field s_entries_list[] = {
    {"resourceNames", T_ARR_STR, NULL},
    {"filter", T_STR, NULL},
    {"orderBy", T_STR, NULL},
    {"pageSize", T_INT, NULL},
    {"pageToken", T_STR, NULL},
    {"projectIds", T_ARR_STR, NULL},
    {NULL, T_ANY, NULL}};

/* "3600s", "0.5s": seconds, optional fraction, an 's'. */
static bool parse_duration(const char *s, double *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return false;
    *out = strtod(s, &end);
    return end[0] == 's' && end[1] == '\0';
}

static bool check_schema(json_t *v, const struct field *schema,
                         const char *path, struct fresp *r)
{
    const char *key;
    json_t *val;

    if (!json_is_object(v)) {
        violation(r, 400,
                  "Invalid JSON payload received. Expected an object at "
                  "'%s'.",
                  path);
        return false;
    }
    json_object_foreach(v, key, val)
    {
        const struct field *f = schema;
        char sub[512];
        bool ok = true;

        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            violation(r, 400,
                      "Invalid JSON payload received. Unknown name \"%s\" at "
                      "'%s': Cannot find field.",
                      key, path);
            return false;
        }
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
        switch (f->type) {
        case T_STR:
            ok = json_is_string(val);
            break;
        case T_INT:
            ok = json_is_integer(val) ||
                 (json_is_string(val) &&
                  berth_parse_i64(json_string_value(val), INT32_MIN, INT32_MAX,
                                  &(int64_t){0}) == 0);
            break;
        case T_BOOL:
            ok = json_is_boolean(val);
            break;
        case T_MAP: {
            const char *k2;
            json_t *v2;
            ok = json_is_object(val);
            json_object_foreach(val, k2, v2) ok = ok && json_is_string(v2);
            break;
        }
        case T_OBJ:
            if (!check_schema(val, f->sub, sub, r))
                return false;
            break;
        case T_ARR_STR:
        case T_ARR_OBJ: {
            size_t i;
            json_t *e;
            ok = json_is_array(val);
            json_array_foreach(val, i, e)
            {
                char el[560];
                snprintf(el, sizeof(el), "%s[%zu]", sub, i);
                if (f->type == T_ARR_STR && !json_is_string(e)) {
                    violation(r, 400,
                              "Invalid value at '%s' (TYPE_STRING), not a "
                              "string",
                              el);
                    return false;
                }
                if (f->type == T_ARR_OBJ && !check_schema(e, f->sub, el, r))
                    return false;
            }
            break;
        }
        case T_DUR: {
            double d;
            ok = json_is_string(val) &&
                 parse_duration(json_string_value(val), &d);
            if (!ok) {
                violation(r, 400,
                          "Invalid value at '%s' (type.googleapis.com/"
                          "google.protobuf.Duration): Field '%s', Illegal "
                          "duration format; duration must end with 's'",
                          sub, sub);
                return false;
            }
            break;
        }
        case T_ANY:
            break;
        }
        if (!ok) {
            violation(r, 400, "Invalid value at '%s': wrong JSON type", sub);
            return false;
        }
    }
    return true;
}

/* ---- documented constraints -------------------------------------------- */

static bool label_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 63 || !islower((unsigned char)k[0]))
        return false;
    for (; *k; k++)
        if (!islower((unsigned char)*k) && !isdigit((unsigned char)*k) &&
            *k != '_' && *k != '-')
            return false;
    return true;
}

static bool label_value_ok(const char *v)
{
    if (strlen(v) > 63)
        return false;
    for (; *v; v++)
        if (!islower((unsigned char)*v) && !isdigit((unsigned char)*v) &&
            *v != '_' && *v != '-')
            return false;
    return true;
}

/* Resource labels: https://cloud.google.com/run/docs/configuring/labels */
static bool check_labels(json_t *labels, const char *path, struct fresp *r)
{
    const char *k;
    json_t *v;
    if (!labels)
        return true;
    if (json_object_size(labels) > 64) {
        violation(r, 400, "%s: at most 64 labels", path);
        return false;
    }
    json_object_foreach(labels, k, v)
    {
        if (!label_key_ok(k) || strstr(k, "googleapis.com") ||
            !label_value_ok(json_string_value(v))) {
            violation(r, 400,
                      "%s: label '%s'='%s' violates the label rules (keys: "
                      "lowercase letter first, then lowercase letters, "
                      "digits, _ or -, at most 63; values likewise, may be "
                      "empty)",
                      path, k, json_string_value(v));
            return false;
        }
    }
    return true;
}

static bool job_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 63 || !islower((unsigned char)id[0]) || id[n - 1] == '-')
        return false;
    for (; *id; id++)
        if (!islower((unsigned char)*id) && !isdigit((unsigned char)*id) &&
            *id != '-')
            return false;
    return true;
}

/* Memory "512Mi", "2Gi", "1G", "500M" -> MiB; -1 when malformed. */
static int64_t memory_mib(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    if (strcmp(end, "Mi") == 0)
        return v;
    if (strcmp(end, "Gi") == 0)
        return v * 1024;
    if (strcmp(end, "M") == 0)
        return v * 1000 * 1000 / (1024 * 1024);
    if (strcmp(end, "G") == 0)
        return v * 1000 * 1000 * 1000 / (1024 * 1024);
    return -1;
}

/* CPU "1", "2", "4", "6", "8" or "1000m" -> millicores; -1 malformed. */
static int64_t cpu_milli(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return -1;
    if (strcmp(end, "m") == 0)
        return v;
    if (*end == '\0')
        return v * 1000;
    return -1;
}

static bool check_limits(json_t *limits, const char *path, struct fresp *r)
{
    const char *k;
    json_t *v;
    int64_t mem = 512, cpu = 1000;

    json_object_foreach(limits, k, v)
    {
        const char *s = json_string_value(v);
        if (strcmp(k, "memory") == 0) {
            mem = memory_mib(s);
            if (mem < 512 || mem > 32768) {
                violation(r, 400,
                          "%s.memory: '%s' is not a valid memory limit "
                          "(512Mi to 32Gi)",
                          path, s);
                return false;
            }
        } else if (strcmp(k, "cpu") == 0) {
            cpu = cpu_milli(s);
            if (cpu != 1000 && cpu != 2000 && cpu != 4000 && cpu != 6000 &&
                cpu != 8000) {
                violation(r, 400,
                          "%s.cpu: '%s' is not a valid CPU limit for a job "
                          "(1, 2, 4, 6 or 8)",
                          path, s);
                return false;
            }
        } else if (strcmp(k, "nvidia.com/gpu") != 0) {
            violation(r, 400, "%s: unknown resource '%s'", path, k);
            return false;
        }
    }
    if ((cpu >= 6000 && mem < 4096) || (cpu >= 4000 && mem < 2048)) {
        violation(r, 400,
                  "%s: %" PRId64 " CPUs need more than %" PRId64 "Mi of "
                  "memory",
                  path, cpu / 1000, mem);
        return false;
    }
    return true;
}

static const char *const reserved_env[] = {"PORT",
                                           "K_SERVICE",
                                           "K_REVISION",
                                           "K_CONFIGURATION",
                                           "CLOUD_RUN_JOB",
                                           "CLOUD_RUN_EXECUTION",
                                           "CLOUD_RUN_TASK_INDEX",
                                           "CLOUD_RUN_TASK_ATTEMPT",
                                           "CLOUD_RUN_TASK_COUNT",
                                           NULL};

static bool check_env(json_t *env, const char *path, struct fresp *r)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        const char *n = jstr(e, "name");
        if (!n || !*n || isdigit((unsigned char)*n) || strchr(n, '=')) {
            violation(r, 400, "%s[%zu].name: '%s' is not a valid name", path, i,
                      n ? n : "");
            return false;
        }
        for (const char *const *p = reserved_env; *p; p++) {
            if (strcmp(*p, n) == 0) {
                violation(r, 400, "%s[%zu].name: '%s' is reserved by Cloud Run",
                          path, i, n);
                return false;
            }
        }
        if (json_object_get(e, "value") && json_object_get(e, "valueSource")) {
            violation(r, 400, "%s[%zu]: value and valueSource both set", path,
                      i);
            return false;
        }
    }
    return true;
}

static bool check_timeout(json_t *t, const char *path, struct fresp *r)
{
    double d;
    if (!t)
        return true;
    parse_duration(json_string_value(t), &d);
    if (d <= 0 || d > 168 * 3600) {
        violation(r, 400, "%s: %s is outside (0s, 168h]", path,
                  json_string_value(t));
        return false;
    }
    return true;
}

static bool check_job_spec(json_t *job, struct fresp *r)
{
    json_t *et = json_object_get(job, "template"), *tt, *cs, *c;
    int64_t n;
    size_t i;

    if (!check_schema(job, s_job, "job", r) ||
        !check_labels(json_object_get(job, "labels"), "job.labels", r))
        return false;
    if (!et) {
        violation(r, 400, "job.template: required");
        return false;
    }
    if (!check_labels(json_object_get(et, "labels"), "job.template.labels", r))
        return false;
    if (json_object_get(et, "taskCount") &&
        (json_integer_value(json_object_get(et, "taskCount")) < 1 ||
         json_integer_value(json_object_get(et, "taskCount")) > 10000)) {
        violation(r, 400, "job.template.taskCount: must be 1 to 10000");
        return false;
    }
    tt = json_object_get(et, "template");
    cs = json_object_get(tt, "containers");
    if (!tt || json_array_size(cs) < 1 || json_array_size(cs) > 10) {
        violation(r, 400, "job.template.template.containers: 1 to 10 needed");
        return false;
    }
    n = json_integer_value(json_object_get(tt, "maxRetries"));
    if (n < 0 || n > 10) {
        violation(r, 400, "job.template.template.maxRetries: 0 to 10");
        return false;
    }
    if (!check_timeout(json_object_get(tt, "timeout"),
                       "job.template.template.timeout", r))
        return false;
    if (json_object_get(tt, "vpcAccess")) {
        json_t *v = json_object_get(tt, "vpcAccess");
        const char *eg = jstr(v, "egress");
        if (eg && strcmp(eg, "ALL_TRAFFIC") &&
            strcmp(eg, "PRIVATE_RANGES_ONLY")) {
            violation(r, 400, "vpcAccess.egress: invalid value '%s'", eg);
            return false;
        }
        if (jstr(v, "connector") && json_object_get(v, "networkInterfaces")) {
            violation(r, 400,
                      "vpcAccess: connector and networkInterfaces "
                      "are exclusive");
            return false;
        }
    }
    if (jstr(tt, "serviceAccount") &&
        !strchr(jstr(tt, "serviceAccount"), '@')) {
        violation(r, 400, "job.template.template.serviceAccount: not an email");
        return false;
    }
    json_array_foreach(cs, i, c)
    {
        char p[96];
        snprintf(p, sizeof(p), "job.template.template.containers[%zu]", i);
        if (!jstr(c, "image") || !*jstr(c, "image")) {
            violation(r, 400, "%s.image: required", p);
            return false;
        }
        if (json_array_size(cs) > 1 && !jstr(c, "name")) {
            violation(r, 400, "%s.name: required with several containers", p);
            return false;
        }
        if (!check_limits(
                json_object_get(json_object_get(c, "resources"), "limits"), p,
                r) ||
            !check_env(json_object_get(c, "env"), p, r))
            return false;
    }
    return true;
}

/* ---- resources as JSON ------------------------------------------------- */

static char *parent(void)
{
    return berth_xasprintf("projects/%s/locations/%s", F.project, F.region);
}

static void set_int_nz(json_t *o, const char *k, int64_t v)
{
    if (v) /* proto3 JSON leaves zero values out */
        json_object_set_new(o, k, json_integer(v));
}

static json_t *condition(const char *type, const char *state, int64_t at,
                         const char *msg, const char *reason)
{
    json_t *c = json_pack("{s:s, s:s, s:o}", "type", type, "state", state,
                          "lastTransitionTime", ts_json(at));
    if (msg)
        json_object_set_new(c, "message", json_string(msg));
    if (reason)
        json_object_set_new(c, "executionReason", json_string(reason));
    if (strcmp(state, "CONDITION_FAILED") == 0)
        json_object_set_new(c, "severity", json_string("ERROR"));
    return c;
}

static json_t *job_json(struct fjob *j)
{
    json_t *o = json_deep_copy(j->spec);
    char *p = parent();
    json_t *tc;

    json_object_set_new(o, "name", json_sprintf("%s/jobs/%s", p, j->id));
    json_object_set_new(o, "uid", json_string(j->uid));
    json_object_set_new(o, "generation",
                        json_sprintf("%" PRId64, j->generation));
    json_object_set_new(o, "createTime", ts_json(j->create_us));
    json_object_set_new(o, "updateTime", ts_json(j->update_us));
    json_object_set_new(o, "creator", json_string("berth@fake"));
    json_object_set_new(o, "lastModifier", json_string("berth@fake"));
    json_object_set_new(o, "launchStage", json_string("GA"));
    json_object_set_new(o, "observedGeneration",
                        json_sprintf("%" PRId64, j->generation));
    tc = condition("Ready", "CONDITION_SUCCEEDED", j->update_us, NULL, NULL);
    json_object_set_new(o, "terminalCondition", tc);
    set_int_nz(o, "executionCount", j->exec_count);
    if (j->latest_exec)
        json_object_set_new(o, "latestCreatedExecution",
                            json_pack("{s:s}", "name", j->latest_exec));
    json_object_set_new(
        o, "etag", json_sprintf("\"%s-%" PRId64 "\"", j->uid, j->generation));
    free(p);
    return o;
}

/* Advance an execution along the clock. */
static void add_entry(size_t exec, int stream, int64_t t, const char *text)
{
    struct fentry e = {exec, stream, t, berth_xstrdup(text), ++F.next_entry};
    PUSH(F.entries, e);
}

static void add_lines(size_t exec, int stream, int64_t t, const char *text)
{
    const char *p = text;
    int i = 0;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = berth_xstrndup(p, n);
        add_entry(exec, stream, t + i++, line);
        free(line);
        p = nl ? nl + 1 : NULL;
    }
}

static void finish(size_t idx, int64_t at)
{
    struct fexec *e = F.execs.v[idx];
    char msg[96];
    if (e->finished)
        return;
    e->finished = true;
    e->done_us = at;
    if (e->cancelled)
        snprintf(msg, sizeof(msg), "Container terminated on signal 15.");
    else if (e->term_signal)
        snprintf(msg, sizeof(msg), "Container terminated on signal %d.",
                 e->term_signal);
    else
        snprintf(msg, sizeof(msg), "Container called exit(%d).", e->exit_code);
    add_entry(idx, 3, at, msg);
}

static void tick(size_t idx, int64_t now)
{
    struct fexec *e = F.execs.v[idx];
    if (e->finished || e->deleted)
        return;
    if (!e->started && now >= e->start_us) {
        e->started = true;
        add_lines(idx, 1, e->start_us + 1, e->out_text);
        add_lines(idx, 2, e->start_us + 500, e->err_text);
    }
    if (!e->started)
        return;
    if (e->timeout_s > 0 &&
        now >= e->start_us + e->timeout_s * BERTH_US_PER_SEC &&
        (!e->end_us ||
         e->end_us > e->start_us + e->timeout_s * BERTH_US_PER_SEC)) {
        e->timed_out = true;
        e->term_signal = 9;
        finish(idx, e->start_us + e->timeout_s * BERTH_US_PER_SEC);
        return;
    }
    if (e->end_us && now >= e->end_us)
        finish(idx, e->end_us);
}

static bool exec_succeeded(const struct fexec *e)
{
    return e->finished && !e->cancelled && !e->term_signal && !e->oom &&
           e->exit_code == 0;
}

static json_t *exec_json(size_t idx)
{
    struct fexec *e = F.execs.v[idx];
    json_t *o = json_object(), *conds = json_array();
    int64_t now = berth_now_us();
    char *p = parent();
    char msg[256];

    tick(idx, now);
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "uid", json_string(e->uid));
    json_object_set_new(o, "creator", json_string("berth@fake"));
    json_object_set_new(o, "generation", json_string("1"));
    json_object_set_new(o, "labels", json_deep_copy(e->labels));
    json_object_set_new(o, "createTime", ts_json(e->create_us));
    if (e->started)
        json_object_set_new(o, "startTime", ts_json(e->start_us));
    if (e->finished)
        json_object_set_new(o, "completionTime", ts_json(e->done_us));
    json_object_set_new(o, "updateTime", ts_json(now));
    json_object_set_new(o, "launchStage", json_string("GA"));
    json_object_set_new(o, "job", json_string(e->job_id));
    json_object_set_new(o, "parallelism", json_integer(1));
    json_object_set_new(o, "taskCount", json_integer(e->task_count));
    json_object_set_new(o, "template", json_deep_copy(e->template));
    json_object_set_new(o, "observedGeneration", json_string("1"));

    json_array_append_new(conds, condition("ResourcesAvailable",
                                           e->started ? "CONDITION_SUCCEEDED"
                                                      : "CONDITION_PENDING",
                                           e->create_us, NULL, NULL));
    if (e->started)
        json_array_append_new(conds, condition("Started", "CONDITION_SUCCEEDED",
                                               e->start_us, NULL, NULL));
    if (!e->finished) {
        json_array_append_new(conds, condition("Completed", "CONDITION_PENDING",
                                               e->create_us, NULL, NULL));
        json_object_set_new(o, "reconciling", json_true());
        set_int_nz(o, "runningCount", e->started ? e->task_count : 0);
    } else if (e->cancelled) {
        json_array_append_new(
            conds, condition("Completed", "CONDITION_FAILED", e->done_us,
                             "The execution was cancelled.", "CANCELLED"));
        set_int_nz(o, "cancelledCount", e->task_count);
    } else if (exec_succeeded(e)) {
        snprintf(msg, sizeof(msg),
                 "Execution completed successfully in "
                 "%" PRId64 "ms.",
                 (e->done_us - e->start_us) / 1000);
        json_array_append_new(conds,
                              condition("Completed", "CONDITION_SUCCEEDED",
                                        e->done_us, msg, NULL));
        set_int_nz(o, "succeededCount", e->task_count);
    } else {
        snprintf(msg, sizeof(msg), "Task %s-task0 failed with message: %s",
                 e->short_name,
                 e->timed_out ? "The task has timed out."
                              : "The container exited with an error.");
        json_array_append_new(conds,
                              condition("Completed", "CONDITION_FAILED",
                                        e->done_us, msg, "NON_ZERO_EXIT_CODE"));
        set_int_nz(o, "failedCount", e->task_count);
    }
    json_object_set_new(o, "conditions", conds);
    json_object_set_new(o, "logUri",
                        json_sprintf("https://console.cloud.google.com/logs/"
                                     "viewer?project=%s",
                                     F.project));
    json_object_set_new(o, "etag", json_sprintf("\"%s\"", e->uid));
    free(p);
    return o;
}

static json_t *task_json(size_t idx)
{
    struct fexec *e = F.execs.v[idx];
    json_t *t = json_object();

    tick(idx, berth_now_us());
    json_object_set_new(
        t, "name", json_sprintf("%s/tasks/%s-task0", e->name, e->short_name));
    json_object_set_new(t, "job", json_string(e->job_id));
    json_object_set_new(t, "execution", json_string(e->short_name));
    /* index 0 is left out, as proto3 JSON does */
    json_object_set_new(t, "createTime", ts_json(e->create_us));
    if (e->started)
        json_object_set_new(t, "startTime", ts_json(e->start_us));
    if (e->finished) {
        json_t *res = json_object(), *st = json_object();
        json_object_set_new(t, "completionTime", ts_json(e->done_us));
        if (e->cancelled) {
            json_object_set_new(st, "code", json_integer(1));
            json_object_set_new(st, "message",
                                json_string("Task was cancelled."));
            json_object_set_new(res, "termSignal", json_integer(15));
        } else if (e->oom) {
            json_object_set_new(st, "code", json_integer(9));
            json_object_set_new(
                st, "message",
                json_string("Memory limit of 512 MiB exceeded with 530 MiB "
                            "used. Consider increasing the memory limit, see "
                            "https://cloud.google.com/run/docs/configuring/"
                            "memory-limits"));
            json_object_set_new(res, "termSignal", json_integer(9));
        } else if (e->term_signal) {
            json_object_set_new(st, "code", json_integer(e->timed_out ? 4 : 2));
            json_object_set_new(st, "message",
                                json_string(e->timed_out
                                                ? "The task has timed out."
                                                : "Container terminated on a "
                                                  "signal."));
            json_object_set_new(res, "termSignal",
                                json_integer(e->term_signal));
        } else if (e->exit_code) {
            json_object_set_new(st, "code", json_integer(2));
            json_object_set_new(st, "message",
                                json_string("The container exited with an "
                                            "error."));
            json_object_set_new(res, "exitCode", json_integer(e->exit_code));
        }
        json_object_set_new(res, "status", st);
        json_object_set_new(t, "lastAttemptResult", res);
    }
    json_object_set_new(t, "template", json_deep_copy(e->template));
    json_object_set_new(t, "etag", json_sprintf("\"%s-t0\"", e->uid));
    return t;
}

static json_t *op_json(struct fop *op)
{
    json_t *o = json_pack("{s:s}", "name", op->name), *res = NULL, *meta;
    bool done = false;

    if (op->kind == OP_JOB) {
        struct fjob *j = F.jobs.v[op->target];
        meta = job_json(j);
        if (op->polls_left-- <= 0) {
            done = true;
            res = job_json(j);
        }
    } else if (op->kind == OP_EXEC) {
        meta = exec_json(op->target);
        if (F.execs.v[op->target]->finished) {
            done = true;
            res = exec_json(op->target);
        }
    } else {
        meta = json_deep_copy(op->final);
        done = true;
        res = json_deep_copy(op->final);
    }
    json_object_set_new(meta, "@type", json_string(op->type));
    json_object_set_new(o, "metadata", meta);
    if (done) {
        json_object_set_new(o, "done", json_true());
        json_object_set_new(res, "@type", json_string(op->type));
        json_object_set_new(o, "response", res);
    }
    return o;
}

static struct fop *new_op(enum op_kind kind, size_t target, const char *type)
{
    struct fop *op = berth_xcalloc(1, sizeof(*op));
    char *p = parent(), *u = uuid4();
    op->name = berth_xasprintf("%s/operations/%s", p, u);
    op->kind = kind;
    op->target = target;
    op->type = type;
    op->polls_left = kind == OP_JOB ? F.create_polls : 0;
    PUSH(F.ops, op);
    free(p);
    free(u);
    return op;
}

#define T_JOB  "type.googleapis.com/google.cloud.run.v2.Job"
#define T_EXEC "type.googleapis.com/google.cloud.run.v2.Execution"

/* ---- paging ------------------------------------------------------------ */

static bool page_args(const struct freq *q, struct fresp *r, int64_t *offset,
                      int64_t *size)
{
    const char *tok = berth_map_get(&q->query, "pageToken");
    if (!query_int(q, r, "pageSize", 100, size) ||
        !query_bool(q, r, "showDeleted"))
        return false;
    if (*size <= 0)
        *size = 100;
    if (*size > 1000)
        *size = 1000;
    if (F.page_max > 0 && *size > F.page_max)
        *size = F.page_max;
    *offset = 0;
    if (tok && *tok &&
        (strncmp(tok, "pt-", 3) != 0 ||
         berth_parse_i64(tok + 3, 0, INT32_MAX, offset))) {
        violation(r, 400, "Invalid page token '%s'", tok);
        return false;
    }
    return true;
}

/* ---- Cloud Run handlers ------------------------------------------------ */

static ssize_t find_job(const char *id)
{
    for (size_t i = 0; i < F.jobs.n; i++)
        if (!F.jobs.v[i]->deleted && strcmp(F.jobs.v[i]->id, id) == 0)
            return (ssize_t)i;
    return -1;
}

static ssize_t find_exec(const char *name)
{
    for (size_t i = 0; i < F.execs.n; i++)
        if (!F.execs.v[i]->deleted && strcmp(F.execs.v[i]->name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static void jobs_list(const struct freq *q, struct fresp *r)
{
    static const char *const allowed[] = {"pageSize", "pageToken",
                                          "showDeleted", NULL};
    int64_t off, size, seen = 0;
    json_t *list = json_array(), *o = json_object();

    if (!check_query(q, r, allowed) || !page_args(q, r, &off, &size)) {
        json_decref(list);
        json_decref(o);
        return;
    }
    for (size_t i = 0; i < F.jobs.n; i++) {
        if (F.jobs.v[i]->deleted)
            continue;
        if (seen >= off && seen < off + size)
            json_array_append_new(list, job_json(F.jobs.v[i]));
        seen++;
    }
    if (json_array_size(list))
        json_object_set_new(o, "jobs", list);
    else
        json_decref(list);
    if (off + size < seen)
        json_object_set_new(o, "nextPageToken",
                            json_sprintf("pt-%" PRId64, off + size));
    set_json(r, 200, o);
}

static void job_create(const struct freq *q, struct fresp *r)
{
    static const char *const allowed[] = {"jobId", "validateOnly", NULL};
    const char *id = berth_map_get(&q->query, "jobId");
    struct fjob *j;
    json_t *spec;
    char *p;

    if (!check_query(q, r, allowed) || !query_bool(q, r, "validateOnly"))
        return;
    if (!id || !job_id_ok(id)) {
        violation(r, 400,
                  "job_id '%s' must be 1 to 63 lowercase letters, digits or "
                  "hyphens, start with a letter and not end with a hyphen",
                  id ? id : "");
        return;
    }
    if (!q->json) {
        violation(r, 400, "Invalid JSON payload received: a Job is required");
        return;
    }
    if (!check_job_spec(q->json, r))
        return;
    p = parent();
    if (jstr(q->json, "name") && strcmp(jstr(q->json, "name"), "") != 0) {
        char *want = berth_xasprintf("%s/jobs/%s", p, id);
        bool same = strcmp(want, jstr(q->json, "name")) == 0;
        free(want);
        if (!same) {
            free(p);
            violation(r, 400, "job.name must be empty or match the job id");
            return;
        }
    }
    free(p);
    if (find_job(id) >= 0) {
        gerr(r, 409, "Resource '%s' already exists.", id);
        return;
    }
    if (berth_map_get(&q->query, "validateOnly") &&
        strcmp(berth_map_get(&q->query, "validateOnly"), "true") == 0) {
        struct fop *op = new_op(OP_DONE, 0, T_JOB);
        op->final = json_deep_copy(q->json);
        set_json(r, 200, op_json(op));
        return;
    }
    spec = json_deep_copy(q->json);
    json_object_del(spec, "name");
    j = berth_xcalloc(1, sizeof(*j));
    j->id = berth_xstrdup(id);
    j->uid = uuid4();
    j->spec = spec;
    j->create_us = j->update_us = berth_now_us();
    j->generation = 1;
    PUSH(F.jobs, j);
    F.jobs_created++;
    set_json(r, 200, op_json(new_op(OP_JOB, F.jobs.n - 1, T_JOB)));
}

static void job_get(const struct freq *q, struct fresp *r, const char *id)
{
    ssize_t i;
    if (!check_query(q, r, NULL))
        return;
    i = find_job(id);
    if (i < 0) {
        char *p = parent();
        gerr(r, 404, "Resource '%s/jobs/%s' was not found", p, id);
        free(p);
        return;
    }
    set_json(r, 200, job_json(F.jobs.v[i]));
}

static void job_patch(const struct freq *q, struct fresp *r, const char *id)
{
    static const char *const allowed[] = {"validateOnly", "allowMissing", NULL};
    ssize_t i;
    if (!check_query(q, r, allowed))
        return;
    i = find_job(id);
    if (i < 0) {
        gerr(r, 404, "Resource '%s' was not found", id);
        return;
    }
    if (!q->json || !check_job_spec(q->json, r))
        return;
    json_decref(F.jobs.v[i]->spec);
    F.jobs.v[i]->spec = json_deep_copy(q->json);
    json_object_del(F.jobs.v[i]->spec, "name");
    F.jobs.v[i]->generation++;
    F.jobs.v[i]->update_us = berth_now_us();
    set_json(r, 200, op_json(new_op(OP_JOB, (size_t)i, T_JOB)));
}

static void job_delete(const struct freq *q, struct fresp *r, const char *id)
{
    static const char *const allowed[] = {"validateOnly", "etag", NULL};
    ssize_t i;
    struct fop *op;
    if (!check_query(q, r, allowed))
        return;
    i = find_job(id);
    if (i < 0) {
        gerr(r, 404, "Resource '%s' was not found", id);
        return;
    }
    op = new_op(OP_DONE, 0, T_JOB);
    op->final = job_json(F.jobs.v[i]);
    F.jobs.v[i]->deleted = true;
    for (size_t k = 0; k < F.execs.n; k++)
        if (strcmp(F.execs.v[k]->job_id, id) == 0)
            F.execs.v[k]->deleted = true;
    set_json(r, 200, op_json(op));
}

static const char *env_get(json_t *env, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        const char *n = jstr(e, "name");
        if (n && strcmp(n, name) == 0)
            return jstr(e, "value");
    }
    return NULL;
}

static int64_t env_int(json_t *env, const char *name, int64_t dflt)
{
    const char *v = env_get(env, name);
    int64_t out;
    if (v && berth_parse_i64(v, INT32_MIN, INT32_MAX, &out) == 0)
        return out;
    return dflt;
}

static void count_run(const char *marker)
{
    for (size_t i = 0; i < F.runs.n; i++) {
        if (strcmp(F.runs.v[i].marker, marker) == 0) {
            F.runs.v[i].count++;
            return;
        }
    }
    PUSH(F.runs, ((struct frun){berth_xstrdup(marker), 1}));
}

/* Apply one ContainerOverride to the containers of a task template. */
static bool apply_override(json_t *containers, json_t *co, size_t idx,
                           struct fresp *r)
{
    const char *name = jstr(co, "name");
    json_t *c = NULL, *env, *args;
    size_t i;

    if (name) {
        json_t *x;
        json_array_foreach(containers, i,
                           x) if (jstr(x, "name") &&
                                  strcmp(jstr(x, "name"), name) == 0) c = x;
    } else if (json_array_size(containers) == 1) {
        c = json_array_get(containers, 0);
    }
    if (!c) {
        violation(r, 400,
                  "overrides.containerOverrides[%zu].name: no container "
                  "'%s' in the job",
                  idx, name ? name : "");
        return false;
    }
    args = json_object_get(co, "args");
    if (json_is_true(json_object_get(co, "clearArgs")) && args &&
        json_array_size(args)) {
        violation(r, 400,
                  "overrides.containerOverrides[%zu]: clearArgs with args",
                  idx);
        return false;
    }
    if (json_is_true(json_object_get(co, "clearArgs")))
        json_object_del(c, "args");
    else if (args)
        json_object_set(c, "args", args);
    env = json_object_get(co, "env");
    if (env) {
        char p[64];
        snprintf(p, sizeof(p), "overrides.containerOverrides[%zu].env", idx);
        if (!check_env(env, p, r))
            return false;
        if (!json_object_get(c, "env"))
            json_object_set_new(c, "env", json_array());
        json_t *ev;
        json_array_foreach(env, i, ev)
        {
            json_t *cur = json_object_get(c, "env"), *ce;
            size_t k;
            bool replaced = false;
            json_array_foreach(cur, k, ce)
            {
                if (strcmp(jstr(ce, "name"), jstr(ev, "name")) == 0) {
                    json_array_set(cur, k, ev);
                    replaced = true;
                    break;
                }
            }
            if (!replaced)
                json_array_append(cur, ev);
        }
    }
    return true;
}

static void job_run(const struct freq *q, struct fresp *r, const char *id)
{
    ssize_t ji;
    struct fjob *j;
    struct fexec *e;
    json_t *tt, *ov, *cos, *co, *env, *args;
    size_t i;
    double timeout = 600;
    int64_t now = berth_now_us(), duration;
    char *p;

    if (!check_query(q, r, NULL))
        return;
    if (q->json && !check_schema(q->json, s_run, "", r))
        return;
    ji = find_job(id);
    if (ji < 0) {
        p = parent();
        gerr(r, 404, "Resource '%s/jobs/%s' was not found", p, id);
        free(p);
        return;
    }
    j = F.jobs.v[ji];
    tt = json_deep_copy(
        json_object_get(json_object_get(j->spec, "template"), "template"));
    ov = json_object_get(q->json, "overrides");
    if (json_object_get(ov, "taskCount") &&
        (json_integer_value(json_object_get(ov, "taskCount")) < 1 ||
         json_integer_value(json_object_get(ov, "taskCount")) > 10000)) {
        json_decref(tt);
        violation(r, 400, "overrides.taskCount: must be 1 to 10000");
        return;
    }
    if (!check_timeout(json_object_get(ov, "timeout"), "overrides.timeout",
                       r)) {
        json_decref(tt);
        return;
    }
    cos = json_object_get(ov, "containerOverrides");
    json_array_foreach(cos, i, co)
    {
        if (!apply_override(json_object_get(tt, "containers"), co, i, r)) {
            json_decref(tt);
            return;
        }
    }
    if (json_object_get(ov, "timeout"))
        json_object_set(tt, "timeout", json_object_get(ov, "timeout"));
    if (jstr(tt, "timeout"))
        parse_duration(jstr(tt, "timeout"), &timeout);

    e = berth_xcalloc(1, sizeof(*e));
    e->job_id = berth_xstrdup(id);
    {
        char *sfx = hexrand(3);
        sfx[5] = '\0';
        e->short_name = berth_xasprintf("%s-%s", id, sfx);
        free(sfx);
    }
    p = parent();
    e->name = berth_xasprintf("%s/jobs/%s/executions/%s", p, id, e->short_name);
    free(p);
    e->uid = uuid4();
    e->labels = json_deep_copy(
        json_object_get(json_object_get(j->spec, "template"), "labels"));
    if (!e->labels)
        e->labels = json_object();
    json_object_set_new(e->labels, "run.googleapis.com/execution-environment",
                        json_string("gen2"));
    e->template = tt;
    e->task_count = json_integer_value(
        json_object_get(json_object_get(j->spec, "template"), "taskCount"));
    if (json_object_get(ov, "taskCount"))
        e->task_count = json_integer_value(json_object_get(ov, "taskCount"));
    if (e->task_count < 1)
        e->task_count = 1;
    e->timeout_s = (int64_t)timeout;
    env = json_object_get(json_array_get(json_object_get(tt, "containers"), 0),
                          "env");
    args = json_object_get(json_array_get(json_object_get(tt, "containers"), 0),
                           "args");
    e->marker = berth_xstrdup(env_get(env, "BERTH_EXECUTION_NAME"));
    e->create_us = now;
    e->start_us =
        now + env_int(env, "FAKE_START_DELAY_MS", F.start_delay_ms) * 1000;
    duration = env_int(env, "FAKE_DURATION_MS", F.duration_ms);
    e->end_us = duration < 0 ? 0 : e->start_us + duration * 1000;
    e->exit_code = (int)env_int(env, "FAKE_EXIT_CODE", 0);
    e->term_signal = (int)env_int(env, "FAKE_TERM_SIGNAL", 0);
    e->oom = env_int(env, "FAKE_OOM", 0) != 0;
    if (e->oom)
        e->term_signal = 9;
    e->out_text = berth_xstrdup(env_get(env, "FAKE_STDOUT"));
    if (!e->out_text && json_array_size(args) >= 1 &&
        strcmp(json_string_value(json_array_get(args, 0)), "echo") == 0) {
        struct berth_buf b;
        berth_buf_init(&b, 0);
        for (size_t k = 1; k < json_array_size(args); k++)
            berth_buf_printf(&b, "%s%s", k > 1 ? " " : "",
                             json_string_value(json_array_get(args, k)));
        berth_buf_puts(&b, "\n");
        e->out_text = berth_buf_detach(&b);
    }
    e->err_text = berth_xstrdup(env_get(env, "FAKE_STDERR"));
    PUSH(F.execs, e);
    j->exec_count++;
    free(j->latest_exec);
    j->latest_exec = berth_xstrdup(e->name);
    count_run(e->marker ? e->marker : "");
    set_json(r, 200, op_json(new_op(OP_EXEC, F.execs.n - 1, T_EXEC)));
}

static void execs_list(const struct freq *q, struct fresp *r, const char *job)
{
    static const char *const allowed[] = {"pageSize", "pageToken",
                                          "showDeleted", NULL};
    int64_t off, size, seen = 0;
    json_t *list = json_array(), *o = json_object();
    char *p;

    if (!check_query(q, r, allowed) || !page_args(q, r, &off, &size))
        goto fail;
    if (strcmp(job, "-") != 0 && find_job(job) < 0) {
        p = parent();
        gerr(r, 404, "Resource '%s/jobs/%s' was not found", p, job);
        free(p);
        goto fail;
    }
    /* Newest first, as the console shows them. */
    for (size_t k = F.execs.n; k-- > 0;) {
        struct fexec *e = F.execs.v[k];
        if (e->deleted || (strcmp(job, "-") != 0 && strcmp(e->job_id, job)))
            continue;
        if (seen >= off && seen < off + size)
            json_array_append_new(list, exec_json(k));
        seen++;
    }
    if (json_array_size(list))
        json_object_set_new(o, "executions", list);
    else
        json_decref(list);
    if (off + size < seen)
        json_object_set_new(o, "nextPageToken",
                            json_sprintf("pt-%" PRId64, off + size));
    set_json(r, 200, o);
    return;
fail:
    json_decref(list);
    json_decref(o);
}

static ssize_t exec_of_path(struct fresp *r, const char *job, const char *ex)
{
    char *p = parent();
    char *name = berth_xasprintf("%s/jobs/%s/executions/%s", p, job, ex);
    ssize_t i = find_exec(name);
    if (i < 0)
        gerr(r, 404, "Resource '%s' was not found", name);
    free(name);
    free(p);
    return i;
}

static void exec_get(const struct freq *q, struct fresp *r, const char *job,
                     const char *ex)
{
    ssize_t i;
    if (!check_query(q, r, NULL) || (i = exec_of_path(r, job, ex)) < 0)
        return;
    set_json(r, 200, exec_json((size_t)i));
}

static void exec_cancel(const struct freq *q, struct fresp *r, const char *job,
                        const char *ex)
{
    ssize_t i;
    struct fexec *e;
    if (!check_query(q, r, NULL) ||
        (q->json && !check_schema(q->json, s_cancel, "", r)) ||
        (i = exec_of_path(r, job, ex)) < 0)
        return;
    e = F.execs.v[i];
    tick((size_t)i, berth_now_us());
    if (e->finished) {
        gerr(r, 400, "Execution %s has already completed.", e->short_name);
        return;
    }
    e->cancelled = true;
    if (!e->started)
        e->start_us = berth_now_us();
    e->started = true;
    finish((size_t)i, berth_now_us());
    set_json(r, 200, op_json(new_op(OP_EXEC, (size_t)i, T_EXEC)));
}

static void exec_delete(const struct freq *q, struct fresp *r, const char *job,
                        const char *ex)
{
    static const char *const allowed[] = {"validateOnly", "etag", NULL};
    ssize_t i;
    struct fop *op;
    if (!check_query(q, r, allowed) || (i = exec_of_path(r, job, ex)) < 0)
        return;
    tick((size_t)i, berth_now_us());
    if (!F.execs.v[i]->finished) {
        gerr(r, 400, "Execution %s is still running: cancel it first.",
             F.execs.v[i]->short_name);
        return;
    }
    op = new_op(OP_DONE, 0, T_EXEC);
    op->final = exec_json((size_t)i);
    F.execs.v[i]->deleted = true;
    set_json(r, 200, op_json(op));
}

static void tasks_list(const struct freq *q, struct fresp *r, const char *job,
                       const char *ex)
{
    static const char *const allowed[] = {"pageSize", "pageToken",
                                          "showDeleted", NULL};
    int64_t off, size;
    ssize_t i;
    if (!check_query(q, r, allowed) || !page_args(q, r, &off, &size) ||
        (i = exec_of_path(r, job, ex)) < 0)
        return;
    set_json(r, 200, json_pack("{s:[o]}", "tasks", task_json((size_t)i)));
}

static void op_get(const struct freq *q, struct fresp *r, const char *id)
{
    char *p = parent();
    char *name = berth_xasprintf("%s/operations/%s", p, id);
    free(p);
    if (check_query(q, r, NULL)) {
        bool found = false;
        for (size_t i = 0; i < F.ops.n && !found; i++) {
            if (strcmp(F.ops.v[i]->name, name) == 0) {
                set_json(r, 200, op_json(F.ops.v[i]));
                found = true;
            }
        }
        if (!found)
            gerr(r, 404, "Operation '%s' was not found", name);
    }
    free(name);
}

/* Split "/v2/projects/P/locations/L/rest" and route the rest. */
static void route_run(const struct freq *q, struct fresp *r)
{
    char proj[128], loc[128], rest[512], a[128], b[128], verb[32];
    const char *m = q->method;
    int n = 0;

    if (sscanf(q->path, "/v2/projects/%127[^/]/locations/%127[^/]%n", proj, loc,
               &n) != 2 ||
        (q->path[n] != '/' && q->path[n] != '\0')) {
        gerr(r, 404, "The requested URL %s was not found on this server.",
             q->path);
        return;
    }
    if (strcmp(proj, F.project) != 0) {
        gerr(r, 403,
             "Permission denied on resource project %s (or it may not "
             "exist).",
             proj);
        return;
    }
    if (strcmp(loc, F.region) != 0) {
        gerr(r, 404, "Location '%s' was not found.", loc);
        return;
    }
    snprintf(rest, sizeof(rest), "%s", q->path + n);
    verb[0] = a[0] = b[0] = '\0';
    if (strcmp(rest, "/jobs") == 0) {
        if (strcmp(m, "GET") == 0)
            jobs_list(q, r);
        else if (strcmp(m, "POST") == 0)
            job_create(q, r);
        else
            violation(r, 405, "method %s not allowed on %s", m, q->path);
        return;
    }
    if (sscanf(rest, "/operations/%127[^/]", a) == 1 &&
        strchr(rest + 12, '/') == NULL) {
        if (strcmp(m, "GET") == 0)
            op_get(q, r, a);
        else
            violation(r, 405, "method %s not allowed on %s", m, q->path);
        return;
    }
    if (sscanf(rest, "/jobs/%127[^/:]%n", a, &n) != 1) {
        gerr(r, 404, "The requested URL %s was not found on this server.",
             q->path);
        return;
    }
    memmove(rest, rest + n, strlen(rest + n) + 1);
    if (rest[0] == '\0') {
        if (strcmp(m, "GET") == 0)
            job_get(q, r, a);
        else if (strcmp(m, "PATCH") == 0)
            job_patch(q, r, a);
        else if (strcmp(m, "DELETE") == 0)
            job_delete(q, r, a);
        else
            violation(r, 405, "method %s not allowed on %s", m, q->path);
        return;
    }
    if (strcmp(rest, ":run") == 0) {
        if (strcmp(m, "POST") == 0)
            job_run(q, r, a);
        else
            violation(r, 405, "method %s not allowed on %s", m, q->path);
        return;
    }
    if (strcmp(rest, "/executions") == 0) {
        if (strcmp(m, "GET") == 0)
            execs_list(q, r, a);
        else
            violation(r, 405, "method %s not allowed on %s", m, q->path);
        return;
    }
    if (sscanf(rest, "/executions/%127[^/:]%n", b, &n) == 1) {
        snprintf(verb, sizeof(verb), "%.31s", rest + n);
        if (verb[0] == '\0' && strcmp(m, "GET") == 0)
            exec_get(q, r, a, b);
        else if (verb[0] == '\0' && strcmp(m, "DELETE") == 0)
            exec_delete(q, r, a, b);
        else if (strcmp(verb, ":cancel") == 0 && strcmp(m, "POST") == 0)
            exec_cancel(q, r, a, b);
        else if (strcmp(verb, "/tasks") == 0 && strcmp(m, "GET") == 0)
            tasks_list(q, r, a, b);
        else
            violation(r, 404, "no method %s %s in the Cloud Run Admin API v2",
                      m, q->path);
        return;
    }
    gerr(r, 404, "The requested URL %s was not found on this server.", q->path);
}

/* ---- Cloud Logging: the filter subset ---------------------------------- */

enum fnode_kind { N_AND, N_OR, N_NOT, N_CMP };

struct fnode {
    enum fnode_kind kind;
    struct fnode *a, *b;
    char field[128];
    char op[3];
    char value[512];
};

struct fparser {
    const char *s;
    size_t pos;
    char err[200];
};

static void skip_ws(struct fparser *p)
{
    while (isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static bool keyword(struct fparser *p, const char *kw)
{
    size_t n = strlen(kw);
    skip_ws(p);
    if (strncmp(p->s + p->pos, kw, n) == 0 &&
        (isspace((unsigned char)p->s[p->pos + n]) || p->s[p->pos + n] == '(')) {
        p->pos += n;
        return true;
    }
    return false;
}

static bool quoted(struct fparser *p, char *out, size_t size)
{
    size_t o = 0;
    if (p->s[p->pos] != '"')
        return false;
    p->pos++;
    while (p->s[p->pos] && p->s[p->pos] != '"') {
        char c = p->s[p->pos++];
        if (c == '\\' && p->s[p->pos])
            c = p->s[p->pos++];
        if (o + 1 < size)
            out[o++] = c;
    }
    if (p->s[p->pos] != '"')
        return false;
    p->pos++;
    out[o] = '\0';
    return true;
}

static void free_node(struct fnode *n)
{
    if (!n)
        return;
    free_node(n->a);
    free_node(n->b);
    free(n);
}

static struct fnode *parse_and(struct fparser *p);

static struct fnode *parse_unary(struct fparser *p)
{
    struct fnode *n;
    size_t o = 0;

    skip_ws(p);
    if (keyword(p, "NOT") || (p->s[p->pos] == '-' && p->pos++)) {
        n = berth_xcalloc(1, sizeof(*n));
        n->kind = N_NOT;
        n->a = parse_unary(p);
        if (!n->a) {
            free(n);
            return NULL;
        }
        return n;
    }
    if (p->s[p->pos] == '(') {
        p->pos++;
        n = parse_and(p);
        skip_ws(p);
        if (!n || p->s[p->pos] != ')') {
            free_node(n);
            snprintf(p->err, sizeof(p->err), "missing ')' at %zu", p->pos);
            return NULL;
        }
        p->pos++;
        return n;
    }
    n = berth_xcalloc(1, sizeof(*n));
    n->kind = N_CMP;
    /* field: names, dots and quoted segments */
    while (p->s[p->pos] && o + 1 < sizeof(n->field)) {
        char c = p->s[p->pos];
        if (c == '"') {
            char seg[128];
            if (!quoted(p, seg, sizeof(seg)))
                break;
            o +=
                (size_t)snprintf(n->field + o, sizeof(n->field) - o, "%s", seg);
        } else if (isalnum((unsigned char)c) || c == '_' || c == '.') {
            n->field[o++] = c;
            p->pos++;
        } else {
            break;
        }
    }
    n->field[o] = '\0';
    skip_ws(p);
    if (strncmp(p->s + p->pos, ">=", 2) == 0 ||
        strncmp(p->s + p->pos, "<=", 2) == 0 ||
        strncmp(p->s + p->pos, "!=", 2) == 0) {
        memcpy(n->op, p->s + p->pos, 2);
        p->pos += 2;
    } else if (strchr("=<>:", p->s[p->pos]) && p->s[p->pos]) {
        n->op[0] = p->s[p->pos++];
    }
    skip_ws(p);
    if (!n->field[0] || !n->op[0] || !quoted(p, n->value, sizeof(n->value))) {
        snprintf(p->err, sizeof(p->err),
                 "expected FIELD OP \"VALUE\" at position %zu", p->pos);
        free(n);
        return NULL;
    }
    return n;
}

/* Logging's precedence: NOT, then OR, then AND. */
static struct fnode *parse_or(struct fparser *p)
{
    struct fnode *l = parse_unary(p);
    while (l && keyword(p, "OR")) {
        struct fnode *n = berth_xcalloc(1, sizeof(*n));
        n->kind = N_OR;
        n->a = l;
        n->b = parse_unary(p);
        if (!n->b) {
            free_node(n);
            return NULL;
        }
        l = n;
    }
    return l;
}

static struct fnode *parse_and(struct fparser *p)
{
    struct fnode *l = parse_or(p);
    for (;;) {
        struct fnode *n;
        size_t save;
        if (!l)
            return NULL;
        skip_ws(p);
        save = p->pos;
        if (!keyword(p, "AND")) {
            /* juxtaposition is AND too */
            if (!p->s[p->pos] || p->s[p->pos] == ')')
                return l;
            p->pos = save;
        }
        n = berth_xcalloc(1, sizeof(*n));
        n->kind = N_AND;
        n->a = l;
        n->b = parse_or(p);
        if (!n->b) {
            free_node(n);
            return NULL;
        }
        l = n;
    }
}

static const char *const known_fields[] = {
    "resource.type",
    "resource.labels.job_name",
    "resource.labels.location",
    "resource.labels.project_id",
    "labels.run.googleapis.com/execution_name",
    "labels.run.googleapis.com/task_index",
    "logName",
    "timestamp",
    "severity",
    "textPayload",
    "insertId",
    NULL};

static bool check_fields(struct fnode *n, char *err, size_t size)
{
    if (!n)
        return true;
    if (n->kind == N_CMP) {
        for (const char *const *f = known_fields; *f; f++)
            if (strcmp(*f, n->field) == 0)
                return true;
        snprintf(err, size, "unknown field '%s'", n->field);
        return false;
    }
    return check_fields(n->a, err, size) && check_fields(n->b, err, size);
}

static const char *stream_log(int s)
{
    return s == 1 ? "stdout" : s == 2 ? "stderr" : "varlog%2Fsystem";
}

static void entry_field(const struct fentry *en, const char *field, char *out,
                        size_t size, int64_t *t)
{
    struct fexec *e = F.execs.v[en->exec];
    *t = -1;
    out[0] = '\0';
    if (strcmp(field, "resource.type") == 0)
        snprintf(out, size, "cloud_run_job");
    else if (strcmp(field, "resource.labels.job_name") == 0)
        snprintf(out, size, "%s", e->job_id);
    else if (strcmp(field, "resource.labels.location") == 0)
        snprintf(out, size, "%s", F.region);
    else if (strcmp(field, "resource.labels.project_id") == 0)
        snprintf(out, size, "%s", F.project);
    else if (strcmp(field, "labels.run.googleapis.com/execution_name") == 0)
        snprintf(out, size, "%s", e->short_name);
    else if (strcmp(field, "labels.run.googleapis.com/task_index") == 0)
        snprintf(out, size, "0");
    else if (strcmp(field, "logName") == 0)
        snprintf(out, size, "projects/%s/logs/run.googleapis.com%%2F%s",
                 F.project, stream_log(en->stream));
    else if (strcmp(field, "timestamp") == 0)
        *t = en->t_us;
    else if (strcmp(field, "severity") == 0)
        snprintf(out, size, "%s", en->stream == 2 ? "ERROR" : "DEFAULT");
    else if (strcmp(field, "textPayload") == 0)
        snprintf(out, size, "%s", en->text);
    else if (strcmp(field, "insertId") == 0)
        snprintf(out, size, "%016" PRIx64, en->id);
}

static bool eval(const struct fnode *n, const struct fentry *en)
{
    char v[600];
    int64_t t, want;
    int c;

    switch (n->kind) {
    case N_AND:
        return eval(n->a, en) && eval(n->b, en);
    case N_OR:
        return eval(n->a, en) || eval(n->b, en);
    case N_NOT:
        return !eval(n->a, en);
    case N_CMP:
        break;
    }
    entry_field(en, n->field, v, sizeof(v), &t);
    if (t >= 0) {
        if (berth_parse_time(n->value, &want, NULL))
            return false;
        c = t < want ? -1 : t > want;
    } else if (strcmp(n->op, ":") == 0) {
        return strstr(v, n->value) != NULL;
    } else {
        c = strcmp(v, n->value);
    }
    if (strcmp(n->op, "=") == 0)
        return c == 0;
    if (strcmp(n->op, "!=") == 0)
        return c != 0;
    if (strcmp(n->op, ">=") == 0)
        return c >= 0;
    if (strcmp(n->op, "<=") == 0)
        return c <= 0;
    if (strcmp(n->op, ">") == 0)
        return c > 0;
    if (strcmp(n->op, "<") == 0)
        return c < 0;
    return false;
}

static json_t *entry_json(const struct fentry *en)
{
    struct fexec *e = F.execs.v[en->exec];
    json_t *o = json_object();
    json_object_set_new(o, "textPayload", json_string(en->text));
    json_object_set_new(o, "insertId", json_sprintf("%016" PRIx64, en->id));
    json_object_set_new(o, "resource",
                        json_pack("{s:s, s:{s:s, s:s, s:s}}", "type",
                                  "cloud_run_job", "labels", "project_id",
                                  F.project, "job_name", e->job_id, "location",
                                  F.region));
    json_object_set_new(o, "timestamp", ts_json(en->t_us));
    json_object_set_new(o, "severity",
                        json_string(en->stream == 2 ? "ERROR" : "DEFAULT"));
    json_object_set_new(
        o, "labels",
        json_pack("{s:s, s:s, s:s, s:s}", "run.googleapis.com/execution_name",
                  e->short_name, "run.googleapis.com/task_index", "0",
                  "run.googleapis.com/task_attempt", "0", "instanceId",
                  "00f46b9285a1"));
    json_object_set_new(
        o, "logName",
        json_sprintf("projects/%s/logs/run.googleapis.com%%2F%s", F.project,
                     stream_log(en->stream)));
    json_object_set_new(o, "receiveTimestamp", ts_json(en->t_us + 1000));
    return o;
}

static void entries_list(const struct freq *q, struct fresp *r)
{
    json_t *names, *o;
    const char *filter, *order, *tok;
    struct fparser fp;
    struct fnode *tree = NULL;
    int64_t size = 50, off = 0, seen = 0, now = berth_now_us();
    char want[200], ferr[200];
    bool desc = false;
    VEC(size_t) match = {NULL, 0, 0};

    if (!check_query(q, r, NULL))
        return;
    if (!q->json || !check_schema(q->json, s_entries_list, "", r))
        return;
    names = json_object_get(q->json, "resourceNames");
    snprintf(want, sizeof(want), "projects/%s", F.project);
    if (json_array_size(names) != 1 ||
        strcmp(json_string_value(json_array_get(names, 0)), want) != 0) {
        violation(r, 400, "resourceNames must be [\"%s\"] here", want);
        return;
    }
    if (json_object_get(q->json, "pageSize"))
        size = json_integer_value(json_object_get(q->json, "pageSize"));
    if (size < 1 || size > 1000) {
        violation(r, 400, "pageSize must be between 1 and 1000");
        return;
    }
    if (F.page_max > 0 && size > F.page_max)
        size = F.page_max;
    order = jstr(q->json, "orderBy");
    if (order && strcmp(order, "timestamp asc") != 0 &&
        strcmp(order, "timestamp desc") != 0) {
        violation(r, 400,
                  "orderBy must be 'timestamp asc' or "
                  "'timestamp desc'");
        return;
    }
    desc = order && strcmp(order, "timestamp desc") == 0;
    filter = jstr(q->json, "filter");
    if (filter && *filter) {
        memset(&fp, 0, sizeof(fp));
        fp.s = filter;
        tree = parse_and(&fp);
        skip_ws(&fp);
        if (!tree || fp.s[fp.pos]) {
            violation(r, 400, "Unparseable filter: %s",
                      fp.err[0] ? fp.err : "trailing text");
            free_node(tree);
            return;
        }
        if (!check_fields(tree, ferr, sizeof(ferr))) {
            violation(r, 400, "Unparseable filter: %s", ferr);
            free_node(tree);
            return;
        }
    }
    tok = jstr(q->json, "pageToken");
    if (tok && (strncmp(tok, "lg-", 3) != 0 ||
                berth_parse_i64(tok + 3, 0, INT32_MAX, &off))) {
        violation(r, 400, "Invalid page token '%s'", tok);
        free_node(tree);
        return;
    }
    for (size_t i = 0; i < F.execs.n; i++)
        tick(i, now);
    for (size_t i = 0; i < F.entries.n; i++) {
        if (F.entries.v[i].t_us > now)
            continue;
        if (!tree || eval(tree, &F.entries.v[i]))
            PUSH(match, i);
    }
    free_node(tree);
    /* Entries were stored in time order per execution; sort all by time. */
    for (size_t i = 1; i < match.n; i++) {
        size_t k = i, x = match.v[i];
        while (k > 0 &&
               F.entries.v[match.v[k - 1]].t_us > F.entries.v[x].t_us) {
            match.v[k] = match.v[k - 1];
            k--;
        }
        match.v[k] = x;
    }
    o = json_object();
    if (F.log_empty_first && !tok) {
        /* Logging may answer a page with no entries and a token. */
        json_object_set_new(o, "nextPageToken", json_string("lg-0"));
        free(match.v);
        set_json(r, 200, o);
        return;
    }
    {
        json_t *list = json_array();
        for (size_t k = 0; k < match.n; k++) {
            size_t i = desc ? match.v[match.n - 1 - k] : match.v[k];
            if (seen >= off && seen < off + size)
                json_array_append_new(list, entry_json(&F.entries.v[i]));
            seen++;
        }
        if (json_array_size(list))
            json_object_set_new(o, "entries", list);
        else
            json_decref(list);
        if (off + size < seen)
            json_object_set_new(o, "nextPageToken",
                                json_sprintf("lg-%" PRId64, off + size));
    }
    free(match.v);
    set_json(r, 200, o);
}

/* ---- OAuth2 and the metadata server ------------------------------------ */

static char *issue_token(void)
{
    char *h = hexrand(24);
    char *t = berth_xasprintf("ya29.fake-%s", h);
    int64_t now = berth_now_us();
    struct ftoken ft = {berth_xstrdup(t),
                        F.token_ttl > (INT64_MAX - now) / BERTH_US_PER_SEC
                            ? INT64_MAX
                            : now + F.token_ttl * BERTH_US_PER_SEC};
    PUSH(F.tokens, ft);
    free(h);
    return t;
}

static void oauth_err(struct fresp *r, int code, const char *e, const char *d)
{
    set_json(r, code,
             json_pack("{s:s, s:s}", "error", e, "error_description", d));
}

/* base64url -> bytes, written here apart from berth's own. */
static unsigned char *b64url_dec(const char *s, size_t n, size_t *out_len)
{
    size_t padded = (n + 3) / 4 * 4;
    char *t = berth_xmalloc(padded + 1);
    unsigned char *out = berth_xmalloc(padded / 4 * 3 + 1);
    int len;

    for (size_t i = 0; i < n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    for (size_t i = n; i < padded; i++)
        t[i] = '=';
    t[padded] = '\0';
    len = EVP_DecodeBlock(out, (unsigned char *)t, (int)padded);
    free(t);
    if (len < 0 || n % 4 == 1) {
        free(out);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    *out_len = (size_t)len - (padded - n);
    return out;
}

static char *url_decode(const char *s, size_t n)
{
    char *out = berth_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n &&
                   isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char h[3] = {s[i + 1], s[i + 2], 0};
            out[o++] = (char)strtol(h, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *jwt_part(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = b64url_dec(s, n, &len);
    json_t *j = raw ? json_loadb((char *)raw, len, 0, NULL) : NULL;
    free(raw);
    return j;
}

static void token_endpoint(const struct freq *q, struct fresp *r)
{
    const char *ct = hdr(q, "content-type");
    struct berth_map form;
    const char *grant, *assertion, *dot1, *dot2;
    json_t *h = NULL, *c = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    EVP_MD_CTX *md = NULL;
    int64_t now = berth_now_us() / BERTH_US_PER_SEC, iat, exp;
    char *tok;

    berth_map_init(&form);
    if (strcmp(q->method, "POST") != 0 || !ct ||
        strncmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        violation(r, 400, "token endpoint wants a form POST");
        goto out;
    }
    for (const char *p = berth_buf_cstr(&q->body); *p;) {
        const char *amp = strchr(p, '&'), *eq;
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        eq = memchr(p, '=', n);
        if (eq) {
            char *k = url_decode(p, (size_t)(eq - p));
            char *v = url_decode(eq + 1, n - (size_t)(eq - p) - 1);
            berth_map_set(&form, k, v);
            free(k);
            free(v);
        }
        p += n + (amp ? 1 : 0);
    }
    grant = berth_map_get(&form, "grant_type");
    assertion = berth_map_get(&form, "assertion");
    if (!grant ||
        strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer")) {
        oauth_err(r, 400, "unsupported_grant_type", "Invalid grant_type");
        r->violation = berth_xasprintf("grant_type '%s'", grant ? grant : "");
        goto out;
    }
    if (!F.pub) {
        oauth_err(r, 400, "invalid_grant", "No such service account.");
        goto out;
    }
    dot1 = assertion ? strchr(assertion, '.') : NULL;
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.')) {
        oauth_err(r, 400, "invalid_request", "Invalid JWT: not three parts.");
        goto out;
    }
    h = jwt_part(assertion, (size_t)(dot1 - assertion));
    c = jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!json_is_object(h) || !json_is_object(c)) {
        oauth_err(r, 400, "invalid_request", "Invalid JWT: bad JSON.");
        goto out;
    }
    if (!jstr(h, "alg") || strcmp(jstr(h, "alg"), "RS256") != 0 ||
        (jstr(h, "typ") && strcmp(jstr(h, "typ"), "JWT") != 0) ||
        (F.kid && (!jstr(h, "kid") || strcmp(jstr(h, "kid"), F.kid) != 0))) {
        oauth_err(r, 400, "invalid_grant",
                  "Invalid JWT header (alg RS256, typ JWT, kid).");
        goto out;
    }
    sig = b64url_dec(dot2 + 1, strlen(dot2 + 1), &sig_len);
    md = EVP_MD_CTX_new();
    if (!sig ||
        EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, F.pub) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)assertion,
                         (size_t)(dot2 - assertion)) != 1) {
        oauth_err(r, 400, "invalid_grant", "Invalid JWT Signature.");
        goto out;
    }
    iat = json_integer_value(json_object_get(c, "iat"));
    exp = json_integer_value(json_object_get(c, "exp"));
    if (!jstr(c, "iss") || strcmp(jstr(c, "iss"), F.sa_email) != 0) {
        oauth_err(r, 400, "invalid_grant", "Invalid JWT: wrong iss.");
        goto out;
    }
    if (!jstr(c, "aud") || strcmp(jstr(c, "aud"), F.token_aud) != 0) {
        oauth_err(r, 400, "invalid_grant", "Invalid JWT: wrong aud.");
        goto out;
    }
    if (!jstr(c, "scope") || !strstr(jstr(c, "scope"), SCOPE_URL)) {
        oauth_err(r, 400, "invalid_scope", "Invalid JWT: no usable scope.");
        goto out;
    }
    if (!json_is_integer(json_object_get(c, "iat")) ||
        !json_is_integer(json_object_get(c, "exp")) || exp <= iat ||
        exp - iat > 3600 || iat > now + 300 || exp < now) {
        oauth_err(r, 400, "invalid_grant",
                  "Invalid JWT: Token must be a short-lived token (60 "
                  "minutes) and in a reasonable timeframe. Check your iat "
                  "and exp values in the JWT claim.");
        goto out;
    }
    tok = issue_token();
    F.token_grants++;
    set_json(r, 200,
             json_pack("{s:s, s:I, s:s}", "access_token", tok, "expires_in",
                       (json_int_t)F.token_ttl, "token_type", "Bearer"));
    free(tok);
out:
    EVP_MD_CTX_free(md);
    free(sig);
    json_decref(h);
    json_decref(c);
    berth_map_release(&form);
}

static void metadata(const struct freq *q, struct fresp *r)
{
    const char *flavor = hdr(q, "metadata-flavor");
    if (!F.metadata) {
        r->status = 404;
        r->body = berth_xstrdup("Not Found\n");
        r->ctype = "text/plain";
        return;
    }
    r->hdr_name = berth_xstrdup("Metadata-Flavor");
    r->hdr_value = berth_xstrdup("Google");
    if (!flavor || strcmp(flavor, "Google") != 0 || hdr(q, "x-forwarded-for")) {
        r->status = 403;
        r->body = berth_xstrdup("Missing required header: Metadata-Flavor\n");
        r->ctype = "text/html";
        r->violation = berth_xstrdup("metadata request without "
                                     "Metadata-Flavor: Google");
        return;
    }
    if (strcmp(q->method, "GET") != 0) {
        violation(r, 405, "metadata server wants GET");
        return;
    }
    if (strcmp(q->path, "/computeMetadata/v1/instance/service-accounts/"
                        "default/token") == 0) {
        char *tok = issue_token();
        F.metadata_grants++;
        set_json(r, 200,
                 json_pack("{s:s, s:I, s:s}", "access_token", tok, "expires_in",
                           (json_int_t)F.token_ttl, "token_type", "Bearer"));
        free(tok);
    } else if (strcmp(q->path, "/computeMetadata/v1/project/project-id") == 0) {
        r->status = 200;
        r->body = berth_xstrdup(F.project);
        r->ctype = "application/text";
    } else {
        r->status = 404;
        r->body = berth_xstrdup("Not Found\n");
        r->ctype = "text/html";
    }
}

/* ---- control ----------------------------------------------------------- */

static void control(const struct freq *q, struct fresp *r)
{
    const char *p = q->path + strlen("/_fake/");
    if (strcmp(p, "requests") == 0 || strcmp(p, "violations") == 0) {
        bool only_bad = strcmp(p, "violations") == 0;
        json_t *list = json_array();
        for (size_t i = 0; i < F.recs.n; i++) {
            struct frec *x = &F.recs.v[i];
            json_t *o;
            if (only_bad && !x->violation)
                continue;
            o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:i, s:s}", "seq",
                          (json_int_t)x->seq, "t_us", (json_int_t)x->t_us,
                          "method", x->method, "path", x->path, "query",
                          x->query, "status", x->status, "auth", x->auth);
            if (x->violation)
                json_object_set_new(o, "violation", json_string(x->violation));
            json_array_append_new(list, o);
        }
        set_json(r, 200, json_pack("{s:o}", p, list));
    } else if (strcmp(p, "stats") == 0) {
        json_t *runs = json_object();
        int64_t total = 0;
        for (size_t i = 0; i < F.runs.n; i++) {
            json_object_set_new(runs, F.runs.v[i].marker,
                                json_integer(F.runs.v[i].count));
            total += F.runs.v[i].count;
        }
        set_json(r, 200,
                 json_pack("{s:o, s:I, s:I, s:I, s:I, s:I}", "runs", runs,
                           "runs_total", (json_int_t)total, "jobs_created",
                           (json_int_t)F.jobs_created, "token_grants",
                           (json_int_t)F.token_grants, "metadata_grants",
                           (json_int_t)F.metadata_grants, "executions",
                           (json_int_t)F.execs.n));
    } else if (strcmp(p, "inject") == 0 && q->json) {
        struct finject in;
        memset(&in, 0, sizeof(in));
        in.method = berth_xstrdup(jstr(q->json, "method"));
        in.path_contains = berth_xstrdup(jstr(q->json, "path_contains"));
        in.status = (int)json_integer_value(json_object_get(q->json, "status"));
        in.count = (int)json_integer_value(json_object_get(q->json, "count"));
        in.retry_after =
            (int)json_integer_value(json_object_get(q->json, "retry_after"));
        in.garbage = json_is_true(json_object_get(q->json, "garbage"));
        in.delay_ms =
            (int)json_integer_value(json_object_get(q->json, "delay_ms"));
        if (in.count <= 0)
            in.count = 1;
        PUSH(F.injects, in);
        set_json(r, 200, json_object());
    } else if (strcmp(p, "finish") == 0 && q->json) {
        const char *m = jstr(q->json, "marker"),
                   *x = jstr(q->json, "execution");
        int n = 0;
        for (size_t i = 0; i < F.execs.n; i++) {
            struct fexec *e = F.execs.v[i];
            tick(i, berth_now_us());
            if (e->finished || (m && (!e->marker || strcmp(e->marker, m))) ||
                (x && strcmp(e->name, x)) || (!m && !x))
                continue;
            e->exit_code =
                (int)json_integer_value(json_object_get(q->json, "exit_code"));
            e->term_signal = (int)json_integer_value(
                json_object_get(q->json, "term_signal"));
            if (!e->started) {
                e->started = true;
                e->start_us = berth_now_us();
                add_lines(i, 1, e->start_us + 1, e->out_text);
                add_lines(i, 2, e->start_us + 500, e->err_text);
            }
            finish(i, berth_now_us());
            n++;
        }
        set_json(r, 200, json_pack("{s:i}", "finished", n));
    } else if (strcmp(p, "revoke") == 0) {
        for (size_t i = 0; i < F.tokens.n; i++)
            F.tokens.v[i].exp_us = 0;
        set_json(r, 200, json_object());
    } else if (strcmp(p, "config") == 0 && q->json) {
        json_t *v;
        if ((v = json_object_get(q->json, "start_delay_ms")))
            F.start_delay_ms = json_integer_value(v);
        if ((v = json_object_get(q->json, "duration_ms")))
            F.duration_ms = json_integer_value(v);
        set_json(r, 200, json_object());
    } else {
        gerr(r, 404, "no control endpoint %s %s", q->method, q->path);
    }
}

/* ---- dispatch ---------------------------------------------------------- */

static bool auth_ok(const struct freq *q, struct fresp *r, const char **state)
{
    const char *a = hdr(q, "authorization");
    int64_t now = berth_now_us();

    if (!a) {
        *state = "missing";
        gerr(r, 401,
             "Request is missing required authentication credential. "
             "Expected OAuth 2 access token, login cookie or other valid "
             "authentication credential. See https://developers.google.com/"
             "identity/sign-in/web/devconsole-project.");
        return false;
    }
    if (strncmp(a, "Bearer ", 7) == 0) {
        for (size_t i = 0; i < F.tokens.n; i++) {
            if (strcmp(F.tokens.v[i].tok, a + 7) == 0 &&
                F.tokens.v[i].exp_us > now) {
                *state = "ok";
                return true;
            }
        }
    }
    *state = "invalid";
    gerr(r, 401,
         "Request had invalid authentication credentials. Expected OAuth 2 "
         "access token, login cookie or other valid authentication "
         "credential. See https://developers.google.com/identity/sign-in/web/"
         "devconsole-project.");
    r->hdr_name = berth_xstrdup("WWW-Authenticate");
    r->hdr_value =
        berth_xstrdup("Bearer realm=\"https://accounts.google.com/\", "
                      "error=\"invalid_token\"");
    return false;
}

static bool injected(const struct freq *q, struct fresp *r)
{
    for (size_t i = 0; i < F.injects.n; i++) {
        struct finject *in = &F.injects.v[i];
        if (in->count <= 0 || (in->method && strcmp(in->method, q->method)) ||
            (in->path_contains && !strstr(q->path, in->path_contains)))
            continue;
        in->count--;
        if (in->delay_ms && !in->status && !in->garbage) {
            r->delay_ms = in->delay_ms;
            return false;
        }
        if (in->garbage) {
            r->status = in->status ? in->status : 200;
            r->body = berth_xstrdup("<html><body>502 Bad Gateway "
                                    "\x01\x02 not json</body></html>");
            r->ctype = "text/html";
        } else {
            gerr(r, in->status, "injected failure (%s)",
                 code_status(in->status));
            if (in->retry_after) {
                r->hdr_name = berth_xstrdup("Retry-After");
                r->hdr_value = berth_xasprintf("%d", in->retry_after);
            }
        }
        return true;
    }
    return false;
}

static void handle(const struct freq *q, struct fresp *r, const char **auth)
{
    const char *ct = hdr(q, "content-type");
    bool api = strncmp(q->path, "/v2/", 4) == 0;

    *auth = "none";
    if (strncmp(q->path, "/computeMetadata/", 17) == 0) {
        metadata(q, r);
        return;
    }
    if (strcmp(q->path, "/token") == 0) {
        if (!injected(q, r))
            token_endpoint(q, r);
        return;
    }
    if (!api) {
        gerr(r, 404, "The requested URL %s was not found on this server.",
             q->path);
        return;
    }
    if (!auth_ok(q, r, auth) || injected(q, r))
        return;
    if (q->body.len) {
        if (strcmp(q->method, "GET") == 0 || strcmp(q->method, "DELETE") == 0) {
            violation(r, 400, "%s with a body", q->method);
            return;
        }
        if (!ct || strncmp(ct, "application/json", 16) != 0) {
            violation(r, 400, "body without Content-Type: application/json");
            return;
        }
        if (!q->json) {
            violation(r, 400,
                      "Invalid JSON payload received. Unexpected token.");
            return;
        }
    }
    if (strcmp(q->path, "/v2/entries:list") == 0) {
        if (strcmp(q->method, "POST") != 0)
            violation(r, 405, "entries:list wants POST");
        else
            entries_list(q, r);
        return;
    }
    route_run(q, r);
}

struct conn {
    struct berth_buf body;
    bool too_big;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    struct berth_map *m = cls;
    char *k = berth_xstrdup(key);
    (void)kind;
    for (char *p = k; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    berth_map_set(m, k, value ? value : "");
    free(k);
    return MHD_YES;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
    (void)kind;
    berth_map_set(cls, key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct conn *c = *con_cls;
    struct freq q;
    struct fresp r;
    struct MHD_Response *resp;
    const char *auth = "none";
    enum MHD_Result ret;
    struct berth_buf qs;
    int64_t t = berth_now_us();

    (void)cls;
    (void)version;
    if (!c) {
        c = berth_xcalloc(1, sizeof(*c));
        berth_buf_init(&c->body, BODY_MAX);
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        if (berth_buf_append(&c->body, upload, *upload_size))
            c->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }

    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    q.method = method;
    q.path = berth_xstrdup(url);
    berth_map_init(&q.query);
    berth_map_init(&q.headers);
    MHD_get_connection_values(mc, MHD_GET_ARGUMENT_KIND, collect_query,
                              &q.query);
    MHD_get_connection_values(mc, MHD_HEADER_KIND, collect, &q.headers);
    q.body = c->body;
    if (q.body.len)
        q.json = json_loadb(q.body.data, q.body.len, 0, NULL);
    berth_buf_init(&qs, 0);
    berth_buf_puts(&qs, "");
    for (size_t i = 0; i < q.query.n; i++)
        berth_buf_printf(&qs, "%s%s=%s", i ? "&" : "", q.query.kv[i].key,
                         q.query.kv[i].value);

    pthread_mutex_lock(&F.lock);
    if (c->too_big)
        violation(&r, 413, "request body too large");
    else if (strncmp(url, "/_fake/", 7) == 0)
        control(&q, &r);
    else
        handle(&q, &r, &auth);
    if (strncmp(url, "/_fake/", 7) != 0) {
        struct frec rec = {++F.seq,
                           t,
                           berth_xstrdup(method),
                           berth_xstrdup(url),
                           berth_xstrdup(berth_buf_cstr(&qs)),
                           berth_xstrdup(auth),
                           berth_xstrdup(r.violation),
                           r.status};
        PUSH(F.recs, rec);
        if (r.violation)
            fprintf(stderr, "fake_cloudrun: violation: %s %s: %s\n", method,
                    url, r.violation);
    }
    pthread_mutex_unlock(&F.lock);
    if (r.delay_ms > 0) {
        struct timespec ts = {r.delay_ms / 1000,
                              (long)(r.delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }

    if (!r.body)
        r.body = berth_xstrdup("");
    resp = MHD_create_response_from_buffer(strlen(r.body), r.body,
                                           MHD_RESPMEM_MUST_COPY);
    if (r.ctype)
        MHD_add_response_header(resp, "Content-Type", r.ctype);
    if (r.hdr_name)
        MHD_add_response_header(resp, r.hdr_name, r.hdr_value);
    ret = MHD_queue_response(mc, (unsigned)(r.status ? r.status : 500), resp);
    MHD_destroy_response(resp);

    free(r.body);
    free(r.hdr_name);
    free(r.hdr_value);
    free(r.violation);
    json_decref(q.json);
    berth_buf_release(&qs);
    berth_map_release(&q.query);
    berth_map_release(&q.headers);
    free(q.path);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *mc, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct conn *c = *con_cls;
    (void)cls;
    (void)mc;
    (void)toe;
    if (c) {
        berth_buf_release(&c->body);
        free(c);
        *con_cls = NULL;
    }
}

/* ---- main -------------------------------------------------------------- */

static void free_state(void)
{
    for (size_t i = 0; i < F.jobs.n; i++) {
        free(F.jobs.v[i]->id);
        free(F.jobs.v[i]->uid);
        free(F.jobs.v[i]->latest_exec);
        json_decref(F.jobs.v[i]->spec);
        free(F.jobs.v[i]);
    }
    for (size_t i = 0; i < F.execs.n; i++) {
        struct fexec *e = F.execs.v[i];
        free(e->name);
        free(e->short_name);
        free(e->job_id);
        free(e->uid);
        free(e->marker);
        free(e->out_text);
        free(e->err_text);
        json_decref(e->labels);
        json_decref(e->template);
        free(e);
    }
    for (size_t i = 0; i < F.ops.n; i++) {
        free(F.ops.v[i]->name);
        json_decref(F.ops.v[i]->final);
        free(F.ops.v[i]);
    }
    for (size_t i = 0; i < F.entries.n; i++)
        free(F.entries.v[i].text);
    for (size_t i = 0; i < F.recs.n; i++) {
        free(F.recs.v[i].method);
        free(F.recs.v[i].path);
        free(F.recs.v[i].query);
        free(F.recs.v[i].auth);
        free(F.recs.v[i].violation);
    }
    for (size_t i = 0; i < F.injects.n; i++) {
        free(F.injects.v[i].method);
        free(F.injects.v[i].path_contains);
    }
    for (size_t i = 0; i < F.tokens.n; i++)
        free(F.tokens.v[i].tok);
    for (size_t i = 0; i < F.runs.n; i++)
        free(F.runs.v[i].marker);
    free(F.jobs.v);
    free(F.execs.v);
    free(F.ops.v);
    free(F.entries.v);
    free(F.recs.v);
    free(F.injects.v);
    free(F.tokens.v);
    free(F.runs.v);
    free(F.token_aud);
    EVP_PKEY_free(F.pub);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: fake_cloudrun --project P --region R [--port N] "
            "[--port-file F] [--token T]... [--jwt-pubkey PEM --sa-email E "
            "[--kid K]] [--token-ttl S] [--no-metadata] [--create-polls N] "
            "[--duration-ms MS] [--start-delay-ms MS] [--page-max N] "
            "[--log-empty-first-page]\n");
    return 2;
}

static int64_t num_arg(const char *s)
{
    int64_t v;
    if (berth_parse_i64(s, -1, INT32_MAX, &v)) {
        fprintf(stderr, "fake_cloudrun: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    const char *port_file = NULL;
    int port = 0;
    sigset_t set;
    int sig;

    pthread_mutex_init(&F.lock, NULL);
    F.token_ttl = 3599;
    F.metadata = true;
    F.create_polls = 1;
    F.duration_ms = 200;
    F.start_delay_ms = 50;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--project") == 0 && v)
            F.project = argv[++i];
        else if (strcmp(a, "--region") == 0 && v)
            F.region = argv[++i];
        else if (strcmp(a, "--port") == 0 && v)
            port = (int)num_arg(argv[++i]);
        else if (strcmp(a, "--port-file") == 0 && v)
            port_file = argv[++i];
        else if (strcmp(a, "--token") == 0 && v) {
            struct ftoken t = {berth_xstrdup(argv[++i]), INT64_MAX};
            PUSH(F.tokens, t);
        } else if (strcmp(a, "--jwt-pubkey") == 0 && v) {
            FILE *f = fopen(argv[++i], "r");
            F.pub = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
            if (f)
                fclose(f);
            if (!F.pub) {
                fprintf(stderr, "fake_cloudrun: cannot read %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--sa-email") == 0 && v)
            F.sa_email = argv[++i];
        else if (strcmp(a, "--kid") == 0 && v)
            F.kid = argv[++i];
        else if (strcmp(a, "--token-ttl") == 0 && v) {
            /* Any lifetime, up to absurd ones a client must survive. */
            if (berth_parse_i64(argv[++i], 1, INT64_MAX, &F.token_ttl)) {
                fprintf(stderr, "fake_cloudrun: bad number '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--create-polls") == 0 && v)
            F.create_polls = (int)num_arg(argv[++i]);
        else if (strcmp(a, "--duration-ms") == 0 && v)
            F.duration_ms = num_arg(argv[++i]);
        else if (strcmp(a, "--start-delay-ms") == 0 && v)
            F.start_delay_ms = num_arg(argv[++i]);
        else if (strcmp(a, "--page-max") == 0 && v)
            F.page_max = (int)num_arg(argv[++i]);
        else if (strcmp(a, "--no-metadata") == 0)
            F.metadata = false;
        else if (strcmp(a, "--log-empty-first-page") == 0)
            F.log_empty_first = true;
        else
            return usage();
    }
    if (!F.project || !F.region || (F.pub && !F.sa_email))
        return usage();

    /* Block the signals we wait for before MHD starts its threads. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_THREAD_PER_CONNECTION,
                         0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                         on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_cloudrun: cannot listen on port %d\n", port);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    F.port = info ? info->port : port;
    F.token_aud = berth_xasprintf("http://127.0.0.1:%d/token", F.port);
    if (port_file) {
        char *tmp = berth_xasprintf("%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", F.port) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            fprintf(stderr, "fake_cloudrun: cannot write %s: %s\n", port_file,
                    strerror(errno));
            return 1;
        }
        free(tmp);
    } else {
        printf("%d\n", F.port);
        fflush(stdout);
    }
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    free_state();
    return 0;
}
