/*
 * cloudrun_api.c - Cloud Run Admin API v2 and Cloud Logging shapes: request
 * bodies out, resources in (see cloudrun_int.h). No I/O here.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cloudrun_int.h"

/* ---- requests ---------------------------------------------------------- */

int berth__cloudrun_resources(int64_t memory_mb, double cpu_cores, char *cpu,
                              size_t cpu_size, char *memory, size_t mem_size,
                              struct berth_err *err)
{
    static const int steps[] = {1, 2, 4, 6, 8};
    int cpus = 0;
    int64_t mem = memory_mb > 0 ? memory_mb : 512;

    if (!(cpu_cores <= 8.0))
        return berth_err_set(err, BERTH_E_INVALID,
                             "Cloud Run jobs offer at most 8 CPUs; the job "
                             "asks for %g",
                             cpu_cores);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (cpu_cores <= steps[i]) {
            cpus = steps[i];
            break;
        }
    }
    if (mem > 32768)
        return berth_err_set(err, BERTH_E_INVALID,
                             "Cloud Run jobs offer at most 32768 MB of "
                             "memory; the job asks for %" PRId64 " MB",
                             memory_mb);
    if (mem < 512)
        mem = 512;
    if (cpus >= 6 && mem < 4096)
        mem = 4096;
    else if (cpus >= 4 && mem < 2048)
        mem = 2048;
    snprintf(cpu, cpu_size, "%d", cpus);
    snprintf(memory, mem_size, "%" PRId64 "Mi", mem);
    return 0;
}

/* Lowercase letters, digits and single dashes, at most max bytes. */
static void slug(const char *in, char *out, size_t max)
{
    size_t o = 0;
    bool dash = false;

    for (const char *p = in; *p && o < max; p++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*p);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && o > 0 && o + 1 < max)
                out[o++] = '-';
            dash = false;
            out[o++] = (char)c;
        } else {
            dash = true;
        }
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, max + 1, "job");
}

/* The last path segment of an image reference, without tag or digest:
 * "eu.gcr.io/p/tools/report:1.2" -> "report". */
static void image_base(const char *image, char *out, size_t size)
{
    const char *start = strrchr(image, '/');
    size_t n;

    start = start ? start + 1 : image;
    n = strcspn(start, ":@");
    if (n >= size)
        n = size - 1;
    memcpy(out, start, n);
    out[n] = '\0';
}

static json_t *labels_json(const char *tmpl_slug, const char *hash)
{
    json_t *l = json_object();
    json_object_set_new(l, BERTH_CR_LABEL_MANAGED, json_string("true"));
    json_object_set_new(l, BERTH_CR_LABEL_TEMPLATE, json_string(tmpl_slug));
    if (hash)
        json_object_set_new(l, BERTH_CR_LABEL_SPEC, json_string(hash));
    return l;
}

int berth__cloudrun_jobconf_check(const struct berth_cr_jobconf *jc,
                                  struct berth_err *err)
{
    bool direct = (jc->vpc_network && *jc->vpc_network) ||
                  (jc->vpc_subnetwork && *jc->vpc_subnetwork);

    if (direct && jc->vpc_connector && *jc->vpc_connector)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "cloudrun: vpc_connector and vpc_network/"
                             "vpc_subnetwork are two ways to reach a VPC; "
                             "set one");
    if (jc->vpc_egress && *jc->vpc_egress &&
        strcmp(jc->vpc_egress, "all-traffic") != 0 &&
        strcmp(jc->vpc_egress, "private-ranges-only") != 0)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "cloudrun: vpc_egress must be 'all-traffic' or "
                             "'private-ranges-only', not '%s'",
                             jc->vpc_egress);
    if (jc->vpc_egress && *jc->vpc_egress && !direct &&
        !(jc->vpc_connector && *jc->vpc_connector))
        return berth_err_set(err, BERTH_E_CONFIG,
                             "cloudrun: vpc_egress needs vpc_connector or "
                             "vpc_network/vpc_subnetwork");
    return 0;
}

static bool set(const char *s)
{
    return s && *s;
}

static json_t *vpc_access(const struct berth_cr_jobconf *jc)
{
    json_t *v;
    if (!set(jc->vpc_connector) && !set(jc->vpc_network) &&
        !set(jc->vpc_subnetwork))
        return NULL;
    v = json_object();
    if (set(jc->vpc_connector)) {
        json_object_set_new(v, "connector", json_string(jc->vpc_connector));
    } else {
        json_t *ni = json_object();
        if (set(jc->vpc_network))
            json_object_set_new(ni, "network", json_string(jc->vpc_network));
        if (set(jc->vpc_subnetwork))
            json_object_set_new(ni, "subnetwork",
                                json_string(jc->vpc_subnetwork));
        json_object_set_new(v, "networkInterfaces", json_pack("[o]", ni));
    }
    if (set(jc->vpc_egress))
        json_object_set_new(
            v, "egress",
            json_string(strcmp(jc->vpc_egress, "all-traffic") == 0
                            ? "ALL_TRAFFIC"
                            : "PRIVATE_RANGES_ONLY"));
    return v;
}

int berth__cloudrun_job_spec(const struct berth_launch *req,
                             const struct berth_cr_jobconf *jc, char *job_id,
                             size_t id_size, json_t **job,
                             struct berth_err *err)
{
    char cpu[16], mem[24], base[128], sl[32], hash[11];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    json_t *container, *task, *exec, *j, *vpc;
    char *canon;
    int rc;

    *job = NULL;
    rc = berth__cloudrun_resources(req->memory_mb, req->cpu_cores, cpu,
                                   sizeof(cpu), mem, sizeof(mem), err);
    if (rc)
        return rc;
    if (req->template_name && *req->template_name)
        snprintf(base, sizeof(base), "%s", req->template_name);
    else
        image_base(req->image, base, sizeof(base));
    slug(base, sl, 30);

    container = json_pack("{s:s, s:s, s:{s:{s:s, s:s}}}", "name",
                          BERTH_CR_CONTAINER, "image", req->image, "resources",
                          "limits", "cpu", cpu, "memory", mem);
    if (!container)
        return berth_err_set(err, BERTH_E_INVALID,
                             "image name is not valid UTF-8");
    if (req->working_dir && *req->working_dir)
        json_object_set_new(container, "workingDir",
                            json_string(req->working_dir));
    task = json_pack("{s:[o], s:i, s:s}", "containers", container, "maxRetries",
                     0, "timeout", "86400s");
    if (set(jc->service_account))
        json_object_set_new(task, "serviceAccount",
                            json_string(jc->service_account));
    vpc = vpc_access(jc);
    if (vpc)
        json_object_set_new(task, "vpcAccess", vpc);
    exec = json_pack("{s:i, s:i, s:o}", "taskCount", 1, "parallelism", 1,
                     "template", task);
    j = json_pack("{s:s, s:o}", "client", "berth", "template", exec);

    /* The id hashes the spec before the labels that name the hash. */
    canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
    free(canon);
    for (int i = 0; i < 5; i++)
        snprintf(hash + 2 * i, 3, "%02x", md[i]);
    json_object_set_new(j, "labels", labels_json(sl, hash));
    json_object_set_new(exec, "labels", labels_json(sl, hash));
    snprintf(job_id, id_size, "berth-%s-%s", sl, hash);
    *job = j;
    return 0;
}

static json_t *env_var(const char *name, const char *value)
{
    return json_pack("{s:s, s:s}", "name", name, "value", value ? value : "");
}

json_t *berth__cloudrun_run_body(const struct berth_launch *req)
{
    json_t *env = json_array(), *co, *ov;
    char num[32];

    snprintf(num, sizeof(num), "%" PRId64, req->job_id);
    json_array_append_new(env, env_var(BERTH_CR_ENV_JOB, num));
    snprintf(num, sizeof(num), "%d", req->attempt);
    json_array_append_new(env, env_var(BERTH_CR_ENV_ATTEMPT, num));
    json_array_append_new(env, env_var(BERTH_CR_ENV_MARKER, req->name));
    for (size_t i = 0; req->env && i < req->env->n; i++) {
        json_t *v = env_var(req->env->kv[i].key, req->env->kv[i].value);
        if (v)
            json_array_append_new(env, v);
    }
    co = json_pack("{s:s, s:o}", "name", BERTH_CR_CONTAINER, "env", env);
    if (req->command && req->command->n > 0) {
        json_t *args = json_array();
        for (size_t i = 0; i < req->command->n; i++)
            json_array_append_new(args, json_string(req->command->v[i]));
        json_object_set_new(co, "args", args);
    }
    ov = json_pack("{s:[o], s:i}", "containerOverrides", co, "taskCount", 1);
    if (req->timeout_seconds > 0) {
        int64_t t = req->timeout_seconds + BERTH_CR_TIMEOUT_GRACE_S;
        if (t > BERTH_CR_MAX_TIMEOUT_S)
            t = BERTH_CR_MAX_TIMEOUT_S;
        snprintf(num, sizeof(num), "%" PRId64 "s", t);
        json_object_set_new(ov, "timeout", json_string(num));
    }
    return json_pack("{s:o}", "overrides", ov);
}

char *berth__cloudrun_log_filter(const char *project, const char *location,
                                 const char *job, const char *execution,
                                 int64_t since_us)
{
    struct berth_buf b;
    char ts[BERTH_TIME_STR_MAX];

    berth_buf_init(&b, 0);
    berth_buf_printf(
        &b,
        "resource.type=\"cloud_run_job\" AND "
        "resource.labels.job_name=\"%s\" AND "
        "resource.labels.location=\"%s\" AND "
        "labels.\"run.googleapis.com/execution_name\"=\"%s\" AND "
        "(logName=\"projects/%s/logs/run.googleapis.com%%2Fstdout\""
        " OR "
        "logName=\"projects/%s/logs/run.googleapis.com%%2Fstderr\")",
        job, location, execution, project, project);
    if (since_us > 0)
        berth_buf_printf(&b, " AND timestamp>=\"%s\"",
                         berth_time_format(since_us, ts));
    return berth_buf_detach(&b);
}

static int copy_part(const char *s, size_t n, char *out, size_t size)
{
    if (n == 0 || n >= size || memchr(s, '/', n))
        return BERTH_E_INVALID;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int berth__cloudrun_split_execution(const char *name, char *project,
                                    char *location, char *job, char *exec,
                                    size_t size)
{
    static const char *const keys[] = {"projects/", "locations/", "jobs/",
                                       "executions/"};
    char *outs[] = {project, location, job, exec};
    const char *p = name;

    for (int i = 0; i < 4; i++) {
        size_t kl = strlen(keys[i]);
        const char *end;
        if (strncmp(p, keys[i], kl) != 0)
            return BERTH_E_INVALID;
        p += kl;
        end = i < 3 ? strchr(p, '/') : p + strlen(p);
        if (!end || copy_part(p, (size_t)(end - p), outs[i], size))
            return BERTH_E_INVALID;
        p = i < 3 ? end + 1 : end;
    }
    return 0;
}

char *berth__cloudrun_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct berth_buf b;

    berth_buf_init(&b, 0);
    berth_buf_puts(&b, "");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            berth_buf_append(&b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            berth_buf_append(&b, e, 3);
        }
    }
    return berth_buf_detach(&b);
}

/* ---- answers ----------------------------------------------------------- */

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

void berth__cloudrun_error_detail(const char *body, size_t len, char *buf,
                                  size_t size)
{
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    const char *status = jstr(e, "status"), *msg = jstr(e, "message");

    if (msg || status) {
        snprintf(buf, size, "%s%s%s", status ? status : "",
                 status && msg ? ": " : "", msg ? msg : "");
    } else if (!body || !len) {
        snprintf(buf, size, "empty body");
    } else {
        /* Not Google's error shape (a proxy's HTML page, say): show the
         * start of it with control characters flattened. */
        size_t n = len < 120 ? len : 120, o = 0;
        for (size_t i = 0; i < n && o + 1 < size; i++)
            buf[o++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
        buf[o] = '\0';
    }
    json_decref(root);
}

/* A proto3 JSON timestamp; absent is 0, present but malformed an error. */
static int get_time(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || berth_parse_time(json_string_value(v), out, NULL))
        return BERTH_E_PARSE;
    return 0;
}

/* A proto3 JSON int32; absent is 0 (proto3 omits zero values). */
static int get_int(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    /* int64 fields come as strings; accept those too. */
    if (json_is_string(v) &&
        berth_parse_i64(json_string_value(v), INT64_MIN, INT64_MAX, out) == 0)
        return 0;
    return BERTH_E_PARSE;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void find_marker(json_t *exec, char *out, size_t size)
{
    json_t *containers =
        json_object_get(json_object_get(exec, "template"), "containers");
    size_t i, k;
    json_t *c, *ev;

    out[0] = '\0';
    json_array_foreach(containers, i, c)
    {
        json_array_foreach(json_object_get(c, "env"), k, ev)
        {
            const char *n = jstr(ev, "name"), *v = jstr(ev, "value");
            if (n && v && strcmp(n, BERTH_CR_ENV_MARKER) == 0) {
                copy_str(out, size, v);
                return;
            }
        }
    }
}

int berth__cloudrun_parse_execution(json_t *obj, struct berth_cr_execution *e,
                                    struct berth_err *err)
{
    const char *name = jstr(obj, "name");
    json_t *conds, *c;
    size_t i;

    memset(e, 0, sizeof(*e));
    if (!json_is_object(obj) || !name || !*name)
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered an Execution without a name");
    if (strlen(name) >= sizeof(e->name))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered an Execution name longer "
                             "than %zu bytes",
                             sizeof(e->name) - 1);
    copy_str(e->name, sizeof(e->name), name);
    if (get_time(obj, "createTime", &e->create_time) ||
        get_time(obj, "startTime", &e->start_time) ||
        get_time(obj, "completionTime", &e->completion_time))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Execution '%s' has a malformed timestamp", name);
    if (get_int(obj, "taskCount", &e->task_count) ||
        get_int(obj, "runningCount", &e->running) ||
        get_int(obj, "succeededCount", &e->succeeded) ||
        get_int(obj, "failedCount", &e->failed) ||
        get_int(obj, "cancelledCount", &e->cancelled) ||
        get_int(obj, "retriedCount", &e->retried))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Execution '%s' has a malformed task count", name);
    conds = json_object_get(obj, "conditions");
    if (conds && !json_is_array(conds))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Execution '%s' has malformed conditions", name);
    json_array_foreach(conds, i, c)
    {
        const char *type = jstr(c, "type"), *state = jstr(c, "state");
        if (!type || strcmp(type, "Completed") != 0 || !state)
            continue;
        if (strcmp(state, "CONDITION_SUCCEEDED") == 0)
            e->completed = BERTH_CR_SUCCEEDED;
        else if (strcmp(state, "CONDITION_FAILED") == 0)
            e->completed = BERTH_CR_FAILED;
        copy_str(e->reason, sizeof(e->reason), jstr(c, "executionReason"));
        copy_str(e->message, sizeof(e->message), jstr(c, "message"));
    }
    find_marker(obj, e->marker, sizeof(e->marker));
    return 0;
}

bool berth__cloudrun_execution_status(const struct berth_cr_execution *e,
                                      struct berth_exec_status *st)
{
    int64_t tasks = e->task_count > 0 ? e->task_count : 1;
    bool terminal =
        e->completion_time != 0 || e->completed != BERTH_CR_NOT_DONE;

    st->started_at = e->start_time;
    st->finished_at = e->completion_time;
    copy_str(st->message, sizeof(st->message), e->message);
    if (!terminal) {
        st->state = e->start_time || e->running > 0 ? BERTH_EXEC_RUNNING
                                                    : BERTH_EXEC_PENDING;
        return false;
    }
    st->state = BERTH_EXEC_EXITED;
    if (e->cancelled > 0 || strcmp(e->reason, "CANCELLED") == 0) {
        /* Cloud Run stops a cancelled task with SIGTERM (then SIGKILL);
         * unless its task says otherwise, report what a shell would. */
        st->cancelled = true;
        st->exit_code = 128 + 15;
        return false;
    }
    if (e->completed != BERTH_CR_FAILED && e->failed == 0 &&
        e->succeeded >= tasks) {
        st->exit_code = 0;
        return false;
    }
    st->exit_code = 1; /* until the task tells its exit code */
    return true;
}

int berth__cloudrun_task_result(json_t *list, int *exit_code, bool *known,
                                bool *oom, char *message, size_t msg_size,
                                struct berth_err *err)
{
    json_t *tasks = json_object_get(list, "tasks"), *t, *best = NULL;
    json_t *res, *status;
    int64_t code = 0, sig = 0, scode = 0, idx;
    size_t i;

    *known = false;
    *oom = false;
    if (message && msg_size)
        message[0] = '\0';
    if (!json_is_object(list) || (tasks && !json_is_array(tasks)))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered a malformed task list");
    /* berth runs one task per execution: index 0 (absent = 0 in proto3). */
    json_array_foreach(tasks, i, t)
    {
        if (get_int(t, "index", &idx) == 0 && idx == 0) {
            best = t;
            break;
        }
    }
    if (!best)
        return berth_err_set(err, BERTH_E_NOTFOUND,
                             "Cloud Run lists no task 0 for the execution");
    res = json_object_get(best, "lastAttemptResult");
    if (!json_is_object(res))
        return 0;
    status = json_object_get(res, "status");
    if (message && msg_size)
        copy_str(message, msg_size, jstr(status, "message"));
    if (message &&
        (strstr(message, "Memory limit") || strstr(message, "memory limit")))
        *oom = true;
    if (get_int(res, "exitCode", &code) || get_int(res, "termSignal", &sig))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered a malformed task result");
    if (code < 0 || code > 255 || sig < 0 || sig > 64)
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered an impossible exit code "
                             "%" PRId64 " / signal %" PRId64,
                             code, sig);
    if (get_int(status, "code", &scode))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered a malformed task status");
    /* At most one of exitCode and termSignal is set, and proto3 leaves
     * zeros out: an absent exitCode with an OK status is exit 0, a failed
     * status with neither means the container never exited by itself. */
    if (code != 0) {
        *exit_code = (int)code;
        *known = true;
    } else if (sig > 0) {
        *exit_code = 128 + (int)sig;
        *known = true;
    } else if (scode == 0) {
        *exit_code = 0;
        *known = true;
    }
    return 0;
}

int berth__cloudrun_parse_operation(json_t *obj, struct berth_cr_operation *op,
                                    struct berth_err *err)
{
    const char *name = jstr(obj, "name");
    json_t *done = json_object_get(obj, "done"), *e;

    memset(op, 0, sizeof(*op));
    if (!json_is_object(obj) || !name || !*name ||
        strlen(name) >= sizeof(op->name) || (done && !json_is_boolean(done)))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Run answered a malformed Operation");
    copy_str(op->name, sizeof(op->name), name);
    op->done = json_is_true(done);
    op->metadata = json_object_get(obj, "metadata");
    op->response = json_object_get(obj, "response");
    e = json_object_get(obj, "error");
    if (e) {
        json_t *code = json_object_get(e, "code");
        const char *msg = jstr(e, "message");
        static const char *const names[] = {"OK",
                                            "CANCELLED",
                                            "UNKNOWN",
                                            "INVALID_ARGUMENT",
                                            "DEADLINE_EXCEEDED",
                                            "NOT_FOUND",
                                            "ALREADY_EXISTS",
                                            "PERMISSION_DENIED",
                                            "RESOURCE_EXHAUSTED",
                                            "FAILED_PRECONDITION",
                                            "ABORTED",
                                            "OUT_OF_RANGE",
                                            "UNIMPLEMENTED",
                                            "INTERNAL",
                                            "UNAVAILABLE",
                                            "DATA_LOSS",
                                            "UNAUTHENTICATED"};
        int64_t c = json_is_integer(code) ? json_integer_value(code) : 2;
        if (c <= 0)
            c = 2;
        op->error_code = (int)(c > 100 ? 2 : c);
        snprintf(op->error, sizeof(op->error), "%s: %s",
                 op->error_code < 17 ? names[op->error_code] : "UNKNOWN",
                 msg ? msg : "no message");
    }
    return 0;
}

static void append_capped(struct berth_buf *b, const char *s, size_t n,
                          size_t max, bool *truncated)
{
    size_t room = max > b->len ? max - b->len : 0;
    if (n > room) {
        n = room;
        *truncated = true;
    }
    if (n)
        berth_buf_append(b, s, n);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int berth__cloudrun_entry_stream(json_t *entry)
{
    const char *log = jstr(entry, "logName");

    if (log && ends_with(log, "/run.googleapis.com%2Fstdout"))
        return 1;
    if (log && ends_with(log, "/run.googleapis.com%2Fstderr"))
        return 2;
    return 0;
}

const char *berth__cloudrun_entry_text(json_t *entry, char **dumped)
{
    const char *text = jstr(entry, "textPayload");
    json_t *jp = json_object_get(entry, "jsonPayload");

    *dumped = NULL;
    if (!text && json_is_object(jp))
        text = *dumped = json_dumps(jp, JSON_COMPACT | JSON_SORT_KEYS);
    return text;
}

int berth__cloudrun_parse_entries(json_t *resp, struct berth_buf *out,
                                  struct berth_buf *errb, size_t max_bytes,
                                  bool *truncated, char **next_token,
                                  struct berth_err *err)
{
    json_t *entries = json_object_get(resp, "entries"), *e;
    const char *tok = jstr(resp, "nextPageToken");
    size_t i;

    *next_token = NULL;
    if (!json_is_object(resp) || (entries && !json_is_array(entries)))
        return berth_err_set(err, BERTH_E_PARSE,
                             "Cloud Logging answered a malformed entry list");
    json_array_foreach(entries, i, e)
    {
        int stream = berth__cloudrun_entry_stream(e);
        struct berth_buf *dst = stream == 2 ? errb : out;
        const char *text;
        char *dumped = NULL;

        if (!stream)
            continue;
        text = berth__cloudrun_entry_text(e, &dumped);
        if (!text)
            continue;
        append_capped(dst, text, strlen(text), max_bytes, truncated);
        /* Cloud Logging keeps one line per entry, without its newline. */
        if (!ends_with(text, "\n"))
            append_capped(dst, "\n", 1, max_bytes, truncated);
        free(dumped);
    }
    if (tok && *tok)
        *next_token = berth_xstrdup(tok);
    return 0;
}
