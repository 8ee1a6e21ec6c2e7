/*
 * fake_ecs.c - a strict local stand-in for the AWS APIs the fargate backend
 * uses, for tests: the ECS JSON 1.1 API (RunTask, DescribeTasks, StopTask,
 * ListTasks, RegisterTaskDefinition, DescribeTaskDefinition,
 * DeregisterTaskDefinition, DescribeClusters), CloudWatch Logs GetLogEvents,
 * the EC2 instance metadata service (IMDSv2 only) and the ECS container
 * credentials endpoint.
 *
 * Every API request is checked as AWS documents it: POST to "/", Content-Type
 * application/x-amz-json-1.1, X-Amz-Target naming a known operation, a SigV4
 * Authorization header verified with the test suite's own implementation
 * (tests/support/bt_sigv4.c: OpenSSL, nothing shared with libcurl) against the
 * secret the fake was given, X-Amz-Date within five minutes,
 * X-Amz-Security-Token when the credentials need one, and a JSON body whose
 * field names and types follow the API reference (unknown fields are refused
 * too, so a misspelt field cannot pass unnoticed). Answers have the API's
 * shapes, errors included: {"__type": "...", "message": "..."}.
 *
 * Tasks live through PROVISIONING -> PENDING -> RUNNING -> STOPPED on the
 * fake's clock. What a task "does" comes from its container override's
 * environment: FAKE_DURATION_MS (default --duration-ms), FAKE_EXIT_CODE,
 * FAKE_STDOUT (its log lines; default "ran: <command>"), FAKE_FAIL_START
 * (never starts: stopCode TaskFailedToStart, that reason, no exit code),
 * FAKE_OOM (exit 137, OutOfMemoryError). RunTask is idempotent by
 * clientToken (the same token and parameters give the same task, counted;
 * other parameters give ConflictException).
 *
 * Test control, unauthenticated, under /_fake/:
 *   GET  /_fake/requests   every API request: time, operation, status, ...
 *   GET  /_fake/stats      counters (runs per clientToken, batch sizes, ...)
 *   GET  /_fake/tasks      every task as RunTask asked for it (size,
 *                          overrides, tags, clientToken, startedBy)
 *   GET  /_fake/taskdefs   every registered task definition
 *   POST /_fake/inject     {"target": "RunTask" | "*", "count": N, then
 *                           "type"+"status"+"message" (an error),
 *                           "garbage": true (200 with a non-JSON body), or
 *                           "failure": "reason" (RunTask failures[])}
 *   POST /_fake/reset      forget requests and counters (tasks stay)
 *
 * Usage: fake_ecs --port-file FILE [--port N] [--region R] [--cluster C]
 *   [--access-key K --secret S [--session-token T]] [--imds-role ROLE]
 *   [--imds-expiry-s N] [--container-token T] [--provision-ms N]
 *   [--duration-ms N] [--log-page N] [--verbose]
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "bt_sigv4.h"
#include "berth/util.h"

#define ECS_PREFIX  "AmazonEC2ContainerServiceV20141113."
#define LOGS_PREFIX "Logs_20140328."
#define JSON_TYPE   "application/x-amz-json-1.1"
#define ACCOUNT     "123456789012"
#define MAX_BODY    (1u << 20)

/* ---- state ------------------------------------------------------------- */

struct key {
    char *id;
    char *secret;
    char *token; /* NULL: none needed */
};

struct taskdef {
    char *family;
    int revision;
    char *arn;
    json_t *def; /* the taskDefinition object as DescribeTaskDefinition
                    answers it */
    bool active; /* false once deregistered */
};

struct task {
    char *arn;
    char *id;
    char *td_arn;
    char *container;
    char *image;
    char *started_by;
    char *client_token;
    char *fingerprint; /* the request without its clientToken */
    char *cpu;
    char *memory;
    json_t *overrides;
    json_t *tags;
    char *log_group; /* NULL: the definition does not use awslogs */
    char *log_prefix;
    int64_t created_us;
    int64_t duration_ms;
    int exit_code;
    bool oom;
    char *fail_start;
    char *out;       /* log lines */
    int64_t stop_us; /* StopTask time; 0: not asked */
    char *stop_reason;
    int token_calls; /* RunTask calls with this task's clientToken */
};

struct reqrec {
    int64_t t_us;
    char op[48];
    int status;
    char err_type[48];
    char token[72];
    int ntasks;
    char started_by[136];
};

struct inject {
    char *target; /* "*" for any */
    int count;
    int status;
    char *type;
    char *message;
    bool garbage;
    char *failure;
};

static struct {
    pthread_mutex_t lock;
    char *region;
    char *cluster;
    struct key keys[4];
    size_t nkeys;
    char *imds_role;
    int64_t imds_expiry_s;
    char *container_token;
    int64_t provision_ms;
    int64_t duration_ms;
    int log_page;
    bool verbose;

    struct taskdef *tds;
    size_t ntds, captd;
    struct task *tasks;
    size_t ntasks, captasks;
    struct reqrec *reqs;
    size_t nreqs, capreqs;
    struct inject *inj;
    size_t ninj, capinj;
    char **imds_tokens;
    size_t nimds_tokens;
    json_t *batch_sizes; /* DescribeTasks sizes */
    int imds_credential_fetches;
    int container_fetches;
    int register_calls;
    uint64_t seq;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_us(void)
{
    return berth_now_us();
}

static char *random_hex(size_t nbytes)
{
    unsigned char b[32];
    char *out = berth_xmalloc(2 * nbytes + 1);
    if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
        abort();
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return out;
}

/* ---- request plumbing ------------------------------------------------- */

struct conn {
    struct berth_buf body;
    bool too_big;
};

struct reply {
    int status;
    char *body; /* owned */
    const char *content_type;
};

static void reply_json(struct reply *r, int status, json_t *j)
{
    r->status = status;
    r->body = json_dumps(j, JSON_COMPACT);
    r->content_type = JSON_TYPE;
    json_decref(j);
}

static void reply_error(struct reply *r, int status, const char *type,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_error(struct reply *r, int status, const char *type,
                        const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply_json(r, status,
               json_pack("{s:s, s:s}", "__type", type, "message", msg));
}

static void reply_text(struct reply *r, int status, const char *text,
                       const char *ctype)
{
    r->status = status;
    r->body = berth_xstrdup(text);
    r->content_type = ctype;
}

/* ---- strict input checking -------------------------------------------- */

enum ftype { F_STR, F_INT, F_BOOL, F_ARR, F_OBJ, F_NUM };

struct field {
    const char *name;
    enum ftype type;
    bool required;
};

static const char *ftype_name(enum ftype t)
{
    static const char *n[] = {"string", "integer",   "boolean",
                              "list",   "structure", "number"};
    return n[t];
}

static bool ftype_ok(json_t *v, enum ftype t)
{
    switch (t) {
    case F_STR:
        return json_is_string(v);
    case F_INT:
        return json_is_integer(v);
    case F_BOOL:
        return json_is_boolean(v);
    case F_ARR:
        return json_is_array(v);
    case F_OBJ:
        return json_is_object(v);
    case F_NUM:
        return json_is_number(v);
    }
    return false;
}

/* Check an object's members against the shape: unknown members and wrong
 * types are SerializationException, missing required ones
 * InvalidParameterException. Returns false after replying. */
static bool check_shape(struct reply *r, json_t *obj, const char *where,
                        const struct field *f)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj)) {
        reply_error(r, 400, "SerializationException",
                    "%s: expected a structure", where);
        return false;
    }
    json_object_foreach(obj, k, v)
    {
        const struct field *s = NULL;
        for (size_t i = 0; f[i].name; i++)
            if (strcmp(f[i].name, k) == 0)
                s = &f[i];
        if (!s) {
            reply_error(r, 400, "SerializationException",
                        "%s: unknown member '%s'", where, k);
            return false;
        }
        if (!ftype_ok(v, s->type)) {
            reply_error(r, 400, "SerializationException",
                        "%s.%s: expected a %s", where, k, ftype_name(s->type));
            return false;
        }
    }
    for (size_t i = 0; f[i].name; i++) {
        if (f[i].required && !json_object_get(obj, f[i].name)) {
            reply_error(r, 400, "InvalidParameterException",
                        "%s.%s is required", where, f[i].name);
            return false;
        }
    }
    return true;
}

static bool check_str_list(struct reply *r, json_t *arr, const char *where)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            reply_error(r, 400, "SerializationException",
                        "%s[%zu]: expected a string", where, i);
            return false;
        }
    }
    return true;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- Fargate sizes (the AWS table of valid task cpu/memory) ------------ */

static bool fargate_size_ok(long cpu, long mem)
{
    switch (cpu) {
    case 256:
        return mem == 512 || mem == 1024 || mem == 2048;
    case 512:
        return mem >= 1024 && mem <= 4096 && mem % 1024 == 0;
    case 1024:
        return mem >= 2048 && mem <= 8192 && mem % 1024 == 0;
    case 2048:
        return mem >= 4096 && mem <= 16384 && mem % 1024 == 0;
    case 4096:
        return mem >= 8192 && mem <= 30720 && mem % 1024 == 0;
    case 8192:
        return mem >= 16384 && mem <= 61440 && mem % 4096 == 0;
    case 16384:
        return mem >= 32768 && mem <= 122880 && mem % 8192 == 0;
    default:
        return false;
    }
}

static bool parse_long(const char *s, long *out)
{
    char *end;
    if (!s || !*s)
        return false;
    errno = 0;
    *out = strtol(s, &end, 10);
    return !errno && !*end;
}

/* ---- lookup ------------------------------------------------------------ */

static bool cluster_ok(const char *c)
{
    char *arn;
    bool ok;
    if (!c)
        return strcmp(g.cluster, "default") == 0;
    if (strcmp(c, g.cluster) == 0)
        return true;
    arn = berth_xasprintf("arn:aws:ecs:%s:" ACCOUNT ":cluster/%s", g.region,
                          g.cluster);
    ok = strcmp(c, arn) == 0;
    free(arn);
    return ok;
}

static struct taskdef *td_find(const char *ref)
{
    const char *name = ref;
    const char *slash = strstr(ref, ":task-definition/");
    char family[256];
    long rev = -1;
    struct taskdef *best = NULL;
    const char *colon;

    if (slash)
        name = slash + strlen(":task-definition/");
    colon = strchr(name, ':');
    if (colon) {
        if (!parse_long(colon + 1, &rev))
            return NULL;
        snprintf(family, sizeof(family), "%.*s", (int)(colon - name), name);
    } else {
        snprintf(family, sizeof(family), "%s", name);
    }
    for (size_t i = 0; i < g.ntds; i++) {
        struct taskdef *t = &g.tds[i];
        if (strcmp(t->family, family) != 0)
            continue;
        if (rev >= 0 ? t->revision == rev
                     : (t->active && (!best || t->revision > best->revision)))
            best = t;
    }
    return best;
}

static struct task *task_find(const char *ref)
{
    for (size_t i = 0; i < g.ntasks; i++)
        if (strcmp(g.tasks[i].arn, ref) == 0 || strcmp(g.tasks[i].id, ref) == 0)
            return &g.tasks[i];
    return NULL;
}

/* ---- the task lifecycle ------------------------------------------------- */

struct tstate {
    const char *last;
    const char *desired;
    int64_t pull_start_us, started_us, stopping_us, stopped_us;
    bool has_exit;
    int exit_code;
    const char *stop_code;
    const char *stopped_reason;
    const char *container_reason;
    bool logs; /* the log stream exists */
};

static void task_state(const struct task *t, int64_t now, struct tstate *s)
{
    int64_t prov = g.provision_ms * 1000;
    int64_t pending_at = t->created_us + prov;
    int64_t running_at = t->created_us + 2 * prov;
    int64_t end =
        t->fail_start ? running_at : running_at + t->duration_ms * 1000;
    bool user_stop = t->stop_us && t->stop_us < end;

    memset(s, 0, sizeof(*s));
    if (user_stop)
        end = t->stop_us + prov / 2;
    s->desired = (now >= end || t->stop_us) ? "STOPPED" : "RUNNING";
    if (now < pending_at && !(user_stop && now >= end)) {
        s->last = "PROVISIONING";
        return;
    }
    s->pull_start_us = pending_at;
    if (now < running_at && !(user_stop && now >= end)) {
        s->last = "PENDING";
        return;
    }
    if (!t->fail_start && (!user_stop || t->stop_us >= running_at)) {
        s->started_us = running_at;
        s->logs = true;
    }
    if (now < end) {
        s->last = user_stop ? "DEACTIVATING" : "RUNNING";
        return;
    }
    s->last = "STOPPED";
    s->stopping_us = user_stop ? t->stop_us : end;
    s->stopped_us = end;
    if (user_stop) {
        s->stop_code = "UserInitiated";
        s->stopped_reason =
            t->stop_reason ? t->stop_reason : "Task stopped by user";
        if (s->started_us) {
            s->has_exit = true;
            s->exit_code = 143; /* SIGTERM */
        }
    } else if (t->fail_start) {
        s->stop_code = "TaskFailedToStart";
        s->stopped_reason = t->fail_start;
        s->container_reason = t->fail_start;
    } else {
        s->stop_code = "EssentialContainerExited";
        s->stopped_reason = "Essential container in task exited";
        s->has_exit = true;
        s->exit_code = t->oom ? 137 : t->exit_code;
        if (t->oom)
            s->container_reason =
                "OutOfMemoryError: Container killed due to memory usage";
    }
}

static json_t *epoch(int64_t us)
{
    return json_real((double)us / 1e6);
}

static json_t *task_json(const struct task *t, int64_t now)
{
    struct tstate s;
    json_t *c, *j;
    char *carn;

    task_state(t, now, &s);
    carn = berth_xasprintf("arn:aws:ecs:%s:" ACCOUNT ":container/%s/%s/%s",
                           g.region, g.cluster, t->id, t->container);
    c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "containerArn", carn,
                  "taskArn", t->arn, "name", t->container, "image", t->image,
                  "lastStatus", s.last, "networkInterfaces");
    free(carn);
    if (s.has_exit)
        json_object_set_new(c, "exitCode", json_integer(s.exit_code));
    if (s.container_reason)
        json_object_set_new(c, "reason", json_string(s.container_reason));
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, "
                  "s:s, s:s, s:o, s:i}",
                  "taskArn", t->arn, "clusterArn", "", /* set below */
                  "taskDefinitionArn", t->td_arn, "lastStatus", s.last,
                  "desiredStatus", s.desired, "launchType", "FARGATE", "cpu",
                  t->cpu, "memory", t->memory, "createdAt",
                  epoch(t->created_us), "overrides",
                  json_deep_copy(t->overrides), "tags", json_deep_copy(t->tags),
                  "platformVersion", "1.4.0", "availabilityZone", "",
                  "containers", json_pack("[o]", c), "version", 1);
    {
        char *cl = berth_xasprintf("arn:aws:ecs:%s:" ACCOUNT ":cluster/%s",
                                   g.region, g.cluster);
        char *az = berth_xasprintf("%sa", g.region);
        json_object_set_new(j, "clusterArn", json_string(cl));
        json_object_set_new(j, "availabilityZone", json_string(az));
        free(cl);
        free(az);
    }
    if (t->started_by)
        json_object_set_new(j, "startedBy", json_string(t->started_by));
    if (s.pull_start_us)
        json_object_set_new(j, "pullStartedAt", epoch(s.pull_start_us));
    if (s.started_us)
        json_object_set_new(j, "startedAt", epoch(s.started_us));
    if (s.stopping_us)
        json_object_set_new(j, "stoppingAt", epoch(s.stopping_us));
    if (s.stopped_us)
        json_object_set_new(j, "stoppedAt", epoch(s.stopped_us));
    if (s.stop_code)
        json_object_set_new(j, "stopCode", json_string(s.stop_code));
    if (s.stopped_reason)
        json_object_set_new(j, "stoppedReason", json_string(s.stopped_reason));
    if (t->stop_us)
        json_object_set_new(j, "executionStoppedAt",
                            epoch(s.stopped_us ? s.stopped_us : t->stop_us));
    return j;
}

/* ---- ECS operations ---------------------------------------------------- */

static const char *container_env(json_t *co, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(co, "environment"), i, e)
    {
        if (strcmp(jstr(e, "name"), name) == 0)
            return jstr(e, "value");
    }
    return NULL;
}

static bool valid_family(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

static void op_register(struct reply *r, json_t *in)
{
    static const struct field shape[] = {
        {"family", F_STR, true},
        {"taskRoleArn", F_STR, false},
        {"executionRoleArn", F_STR, false},
        {"networkMode", F_STR, false},
        {"containerDefinitions", F_ARR, true},
        {"requiresCompatibilities", F_ARR, false},
        {"cpu", F_STR, false},
        {"memory", F_STR, false},
        {"tags", F_ARR, false},
        {"runtimePlatform", F_OBJ, false},
        {NULL, 0, false}};
    static const struct field cshape[] = {
        {"name", F_STR, true},         {"image", F_STR, true},
        {"essential", F_BOOL, false},  {"command", F_ARR, false},
        {"entryPoint", F_ARR, false},  {"workingDirectory", F_STR, false},
        {"environment", F_ARR, false}, {"logConfiguration", F_OBJ, false},
        {"cpu", F_INT, false},         {"memory", F_INT, false},
        {"stopTimeout", F_INT, false}, {NULL, 0, false}};
    static const struct field lshape[] = {{"logDriver", F_STR, true},
                                          {"options", F_OBJ, false},
                                          {NULL, 0, false}};
    json_t *cds = json_object_get(in, "containerDefinitions"), *cd, *reqc;
    const char *family, *cpu, *mem;
    bool fargate = false, awslogs = false;
    size_t i;
    long lc, lm;
    struct taskdef *td;
    json_t *def;
    int rev = 0;

    if (!check_shape(r, in, "RegisterTaskDefinitionRequest", shape))
        return;
    family = jstr(in, "family");
    if (!valid_family(family)) {
        reply_error(r, 400, "ClientException",
                    "Family contains invalid characters or is too long "
                    "(up to 255 letters, numbers, hyphens and "
                    "underscores): '%s'",
                    family);
        return;
    }
    if (json_array_size(cds) == 0) {
        reply_error(r, 400, "ClientException",
                    "Container definitions cannot be empty.");
        return;
    }
    json_array_foreach(cds, i, cd)
    {
        json_t *lc_ = json_object_get(cd, "logConfiguration");
        if (!check_shape(r, cd, "containerDefinitions[]", cshape))
            return;
        if (json_object_get(cd, "command") &&
            !check_str_list(r, json_object_get(cd, "command"), "command"))
            return;
        if (lc_) {
            if (!check_shape(r, lc_, "logConfiguration", lshape))
                return;
            if (strcmp(jstr(lc_, "logDriver"), "awslogs") == 0) {
                json_t *o = json_object_get(lc_, "options");
                awslogs = true;
                if (!jstr(o, "awslogs-group") || !jstr(o, "awslogs-region")) {
                    reply_error(r, 400, "ClientException",
                                "awslogs requires the options awslogs-group "
                                "and awslogs-region");
                    return;
                }
            }
        }
    }
    reqc = json_object_get(in, "requiresCompatibilities");
    json_array_foreach(reqc, i, cd)
    {
        if (json_is_string(cd) && strcmp(json_string_value(cd), "FARGATE") == 0)
            fargate = true;
    }
    if (fargate) {
        const char *nm = jstr(in, "networkMode");
        if (!nm || strcmp(nm, "awsvpc") != 0) {
            reply_error(r, 400, "ClientException",
                        "Fargate only supports network mode 'awsvpc'.");
            return;
        }
        cpu = jstr(in, "cpu");
        mem = jstr(in, "memory");
        if (!cpu || !mem) {
            reply_error(r, 400, "ClientException",
                        "Fargate requires that 'cpu' be defined at the task "
                        "level.");
            return;
        }
        if (!parse_long(cpu, &lc) || !parse_long(mem, &lm) ||
            !fargate_size_ok(lc, lm)) {
            reply_error(r, 400, "ClientException",
                        "No Fargate configuration exists for given values: "
                        "%s CPU, %s memory. See the Amazon ECS documentation "
                        "for the valid values.",
                        cpu, mem);
            return;
        }
        if (awslogs && !jstr(in, "executionRoleArn")) {
            reply_error(r, 400, "ClientException",
                        "Fargate requires task definition to have execution "
                        "role ARN to support log driver awslogs.");
            return;
        }
    }
    for (i = 0; i < g.ntds; i++)
        if (strcmp(g.tds[i].family, family) == 0 && g.tds[i].revision > rev)
            rev = g.tds[i].revision;
    if (g.ntds == g.captd) {
        g.captd = g.captd ? 2 * g.captd : 16;
        g.tds = berth_xrealloc(g.tds, g.captd * sizeof(*g.tds));
    }
    td = &g.tds[g.ntds++];
    td->family = berth_xstrdup(family);
    td->revision = rev + 1;
    td->arn =
        berth_xasprintf("arn:aws:ecs:%s:" ACCOUNT ":task-definition/%s:%d",
                        g.region, family, td->revision);
    def = json_deep_copy(in);
    json_object_del(def, "tags");
    json_object_set_new(def, "taskDefinitionArn", json_string(td->arn));
    json_object_set_new(def, "revision", json_integer(td->revision));
    json_object_set_new(def, "status", json_string("ACTIVE"));
    json_object_set_new(def, "registeredAt", epoch(now_us()));
    td->def = def;
    td->active = true;
    g.register_calls++;
    reply_json(r, 200,
               json_pack("{s:O, s:O}", "taskDefinition", def, "tags",
                         json_object_get(in, "tags")
                             ? json_object_get(in, "tags")
                             : json_array()));
}

static void op_describe_td(struct reply *r, json_t *in)
{
    static const struct field shape[] = {{"taskDefinition", F_STR, true},
                                         {"include", F_ARR, false},
                                         {NULL, 0, false}};
    struct taskdef *td;
    if (!check_shape(r, in, "DescribeTaskDefinitionRequest", shape))
        return;
    td = td_find(jstr(in, "taskDefinition"));
    if (!td) {
        reply_error(r, 400, "ClientException",
                    "Unable to describe task definition.");
        return;
    }
    reply_json(r, 200, json_pack("{s:O}", "taskDefinition", td->def));
}

static void op_deregister_td(struct reply *r, json_t *in)
{
    static const struct field shape[] = {{"taskDefinition", F_STR, true},
                                         {NULL, 0, false}};
    struct taskdef *td;
    if (!check_shape(r, in, "DeregisterTaskDefinitionRequest", shape))
        return;
    td = strchr(jstr(in, "taskDefinition"), ':')
             ? td_find(jstr(in, "taskDefinition"))
             : NULL; /* a revision is required */
    if (!td) {
        reply_error(r, 400, "ClientException",
                    "The specified task definition does not exist.");
        return;
    }
    td->active = false;
    json_object_set_new(td->def, "status", json_string("INACTIVE"));
    reply_json(r, 200, json_pack("{s:O}", "taskDefinition", td->def));
}

static bool valid_token(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 33 || (unsigned char)*s > 126)
            return false;
    return true;
}

static bool valid_started_by(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' ||
              *s == '/'))
            return false;
    return true;
}

static bool check_overrides(struct reply *r, json_t *ov, const char *cname,
                            json_t **co_out)
{
    static const struct field shape[] = {{"containerOverrides", F_ARR, false},
                                         {"cpu", F_STR, false},
                                         {"memory", F_STR, false},
                                         {"taskRoleArn", F_STR, false},
                                         {"executionRoleArn", F_STR, false},
                                         {NULL, 0, false}};
    static const struct field cshape[] = {{"name", F_STR, true},
                                          {"command", F_ARR, false},
                                          {"environment", F_ARR, false},
                                          {"cpu", F_INT, false},
                                          {"memory", F_INT, false},
                                          {"memoryReservation", F_INT, false},
                                          {NULL, 0, false}};
    static const struct field eshape[] = {
        {"name", F_STR, true}, {"value", F_STR, true}, {NULL, 0, false}};
    size_t i, k;
    json_t *co, *e;
    long lc, lm;

    *co_out = NULL;
    if (!check_shape(r, ov, "overrides", shape))
        return false;
    if (jstr(ov, "cpu") || jstr(ov, "memory")) {
        if (!jstr(ov, "cpu") || !jstr(ov, "memory") ||
            !parse_long(jstr(ov, "cpu"), &lc) ||
            !parse_long(jstr(ov, "memory"), &lm) || !fargate_size_ok(lc, lm)) {
            reply_error(r, 400, "InvalidParameterException",
                        "No Fargate configuration exists for given values: "
                        "%s CPU, %s memory.",
                        jstr(ov, "cpu") ? jstr(ov, "cpu") : "(none)",
                        jstr(ov, "memory") ? jstr(ov, "memory") : "(none)");
            return false;
        }
    }
    json_array_foreach(json_object_get(ov, "containerOverrides"), i, co)
    {
        if (!check_shape(r, co, "containerOverrides[]", cshape))
            return false;
        if (strcmp(jstr(co, "name"), cname) != 0) {
            reply_error(r, 400, "InvalidParameterException",
                        "Override for container named %s is not a container "
                        "in the TaskDefinition.",
                        jstr(co, "name"));
            return false;
        }
        if (json_object_get(co, "command") &&
            !check_str_list(r, json_object_get(co, "command"),
                            "containerOverrides[].command"))
            return false;
        json_array_foreach(json_object_get(co, "environment"), k, e)
        {
            if (!check_shape(r, e, "environment[]", eshape))
                return false;
        }
        *co_out = co;
    }
    return true;
}

static bool check_tags(struct reply *r, json_t *tags)
{
    static const struct field shape[] = {
        {"key", F_STR, true}, {"value", F_STR, false}, {NULL, 0, false}};
    size_t i;
    json_t *t;
    if (json_array_size(tags) > 50) {
        reply_error(r, 400, "InvalidParameterException",
                    "A resource can have at most 50 tags.");
        return false;
    }
    json_array_foreach(tags, i, t)
    {
        const char *k;
        if (!check_shape(r, t, "tags[]", shape))
            return false;
        k = jstr(t, "key");
        if (!*k || strlen(k) > 128 ||
            (jstr(t, "value") && strlen(jstr(t, "value")) > 256) ||
            strncasecmp(k, "aws:", 4) == 0) {
            reply_error(r, 400, "InvalidParameterException",
                        "Invalid tag key or value: '%s'", k);
            return false;
        }
    }
    return true;
}

static void op_run_task(struct reply *r, json_t *in, struct reqrec *rec)
{
    static const struct field shape[] = {
        {"cluster", F_STR, false},
        {"taskDefinition", F_STR, true},
        {"launchType", F_STR, false},
        {"count", F_INT, false},
        {"clientToken", F_STR, false},
        {"startedBy", F_STR, false},
        {"group", F_STR, false},
        {"networkConfiguration", F_OBJ, false},
        {"overrides", F_OBJ, false},
        {"tags", F_ARR, false},
        {"platformVersion", F_STR, false},
        {"propagateTags", F_STR, false},
        {"enableECSManagedTags", F_BOOL, false},
        {"enableExecuteCommand", F_BOOL, false},
        {NULL, 0, false}};
    static const struct field nshape[] = {{"awsvpcConfiguration", F_OBJ, true},
                                          {NULL, 0, false}};
    static const struct field vshape[] = {{"subnets", F_ARR, true},
                                          {"securityGroups", F_ARR, false},
                                          {"assignPublicIp", F_STR, false},
                                          {NULL, 0, false}};
    const char *token, *started_by, *apip;
    struct taskdef *td;
    json_t *net, *vpc, *ov, *co = NULL, *cdef, *lcfg, *tags;
    json_t *fp_obj;
    char *fp;
    struct task *t;
    int64_t now = now_us();

    if (!check_shape(r, in, "RunTaskRequest", shape))
        return;
    if (!cluster_ok(jstr(in, "cluster"))) {
        reply_error(r, 400, "ClusterNotFoundException", "Cluster not found.");
        return;
    }
    if (!jstr(in, "launchType") ||
        strcmp(jstr(in, "launchType"), "FARGATE") != 0) {
        /* berth always asks for Fargate; anything else is a bug. */
        reply_error(r, 400, "InvalidParameterException",
                    "this fake only runs launchType FARGATE, got '%s'",
                    jstr(in, "launchType") ? jstr(in, "launchType") : "(none)");
        return;
    }
    if (json_object_get(in, "count") &&
        (json_integer_value(json_object_get(in, "count")) < 1 ||
         json_integer_value(json_object_get(in, "count")) > 10)) {
        reply_error(r, 400, "InvalidParameterException",
                    "count must be between 1 and 10");
        return;
    }
    if (json_integer_value(json_object_get(in, "count")) > 1) {
        reply_error(r, 400, "InvalidParameterException",
                    "this fake runs one task per RunTask");
        return;
    }
    token = jstr(in, "clientToken");
    if (token && !valid_token(token)) {
        reply_error(r, 400, "InvalidParameterException",
                    "clientToken must be 1 to 64 ASCII characters in the "
                    "range 33-126");
        return;
    }
    started_by = jstr(in, "startedBy");
    if (started_by && !valid_started_by(started_by)) {
        reply_error(r, 400, "InvalidParameterException",
                    "startedBy: up to 128 letters, numbers, hyphens, "
                    "forward slashes and underscores");
        return;
    }
    td = td_find(jstr(in, "taskDefinition"));
    if (!td) {
        reply_error(r, 400, "ClientException", "TaskDefinition not found.");
        return;
    }
    if (!td->active) {
        reply_error(r, 400, "ClientException", "TaskDefinition is inactive");
        return;
    }
    net = json_object_get(in, "networkConfiguration");
    if (!net) {
        reply_error(r, 400, "InvalidParameterException",
                    "Network Configuration must be provided when networkMode "
                    "'awsvpc' is specified.");
        return;
    }
    if (!check_shape(r, net, "networkConfiguration", nshape))
        return;
    vpc = json_object_get(net, "awsvpcConfiguration");
    if (!check_shape(r, vpc, "awsvpcConfiguration", vshape) ||
        !check_str_list(r, json_object_get(vpc, "subnets"), "subnets") ||
        (json_object_get(vpc, "securityGroups") &&
         !check_str_list(r, json_object_get(vpc, "securityGroups"),
                         "securityGroups")))
        return;
    if (json_array_size(json_object_get(vpc, "subnets")) == 0 ||
        json_array_size(json_object_get(vpc, "subnets")) > 16) {
        reply_error(r, 400, "InvalidParameterException",
                    "subnets can not be empty (and at most 16).");
        return;
    }
    apip = jstr(vpc, "assignPublicIp");
    if (apip && strcmp(apip, "ENABLED") != 0 && strcmp(apip, "DISABLED") != 0) {
        reply_error(r, 400, "InvalidParameterException",
                    "assignPublicIp must be ENABLED or DISABLED");
        return;
    }
    cdef = json_array_get(json_object_get(td->def, "containerDefinitions"), 0);
    ov = json_object_get(in, "overrides");
    if (ov && !check_overrides(r, ov, jstr(cdef, "name"), &co))
        return;
    tags = json_object_get(in, "tags");
    if (tags && !check_tags(r, tags))
        return;

    fp_obj = json_deep_copy(in);
    json_object_del(fp_obj, "clientToken");
    fp = json_dumps(fp_obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(fp_obj);
    if (token) {
        for (size_t i = 0; i < g.ntasks; i++) {
            struct task *o = &g.tasks[i];
            if (!o->client_token || strcmp(o->client_token, token) != 0)
                continue;
            if (strcmp(o->fingerprint, fp) != 0) {
                free(fp);
                reply_error(r, 400, "ConflictException",
                            "The request uses the same client token as a "
                            "previous, but non-identical request. Do not "
                            "reuse a client token with different requests, "
                            "unless the requests are identical.");
                return;
            }
            free(fp);
            o->token_calls++;
            rec->ntasks = 1;
            reply_json(r, 200,
                       json_pack("{s:[o], s:[]}", "tasks", task_json(o, now),
                                 "failures"));
            return;
        }
    }
    if (g.ntasks == g.captasks) {
        g.captasks = g.captasks ? 2 * g.captasks : 64;
        g.tasks = berth_xrealloc(g.tasks, g.captasks * sizeof(*g.tasks));
    }
    t = &g.tasks[g.ntasks++];
    memset(t, 0, sizeof(*t));
    t->id = random_hex(16);
    t->arn = berth_xasprintf("arn:aws:ecs:%s:" ACCOUNT ":task/%s/%s", g.region,
                             g.cluster, t->id);
    t->td_arn = berth_xstrdup(td->arn);
    t->container = berth_xstrdup(jstr(cdef, "name"));
    t->image = berth_xstrdup(jstr(cdef, "image"));
    t->started_by = berth_xstrdup(started_by);
    t->client_token = berth_xstrdup(token);
    t->fingerprint = fp;
    t->cpu = berth_xstrdup(ov && jstr(ov, "cpu") ? jstr(ov, "cpu")
                                                 : jstr(td->def, "cpu"));
    t->memory =
        berth_xstrdup(ov && jstr(ov, "memory") ? jstr(ov, "memory")
                                               : jstr(td->def, "memory"));
    t->overrides = ov ? json_deep_copy(ov) : json_object();
    t->tags = tags ? json_deep_copy(tags) : json_array();
    t->created_us = now;
    t->duration_ms = g.duration_ms;
    t->token_calls = 1;
    lcfg = json_object_get(cdef, "logConfiguration");
    if (lcfg && strcmp(jstr(lcfg, "logDriver"), "awslogs") == 0) {
        json_t *o = json_object_get(lcfg, "options");
        t->log_group = berth_xstrdup(jstr(o, "awslogs-group"));
        t->log_prefix = berth_xstrdup(jstr(o, "awslogs-stream-prefix"));
    }
    {
        const char *v;
        json_t *cmd = co ? json_object_get(co, "command") : NULL;
        if (co && (v = container_env(co, "FAKE_DURATION_MS")))
            t->duration_ms = strtoll(v, NULL, 10);
        if (co && (v = container_env(co, "FAKE_EXIT_CODE")))
            t->exit_code = (int)strtol(v, NULL, 10);
        if (co && (v = container_env(co, "FAKE_OOM")))
            t->oom = *v && strcmp(v, "0") != 0;
        if (co && (v = container_env(co, "FAKE_FAIL_START")))
            t->fail_start = berth_xstrdup(v);
        if (co && (v = container_env(co, "FAKE_STDOUT"))) {
            t->out = berth_xstrdup(v);
        } else {
            struct berth_buf b = BERTH_BUF_INIT;
            size_t i;
            json_t *a;
            berth_buf_puts(&b, "ran:");
            json_array_foreach(cmd, i, a)
            {
                berth_buf_printf(&b, " %s", json_string_value(a));
            }
            berth_buf_puts(&b, "\n");
            t->out = berth_buf_detach(&b);
        }
    }
    rec->ntasks = 1;
    reply_json(
        r, 200,
        json_pack("{s:[o], s:[]}", "tasks", task_json(t, now), "failures"));
}

static void op_describe_tasks(struct reply *r, json_t *in, struct reqrec *rec)
{
    static const struct field shape[] = {{"cluster", F_STR, false},
                                         {"tasks", F_ARR, true},
                                         {"include", F_ARR, false},
                                         {NULL, 0, false}};
    json_t *tasks, *fails, *arr = json_object_get(in, "tasks"), *v;
    size_t i, n;
    int64_t now = now_us();

    if (!check_shape(r, in, "DescribeTasksRequest", shape) ||
        !check_str_list(r, arr, "tasks"))
        return;
    if (!cluster_ok(jstr(in, "cluster"))) {
        reply_error(r, 400, "ClusterNotFoundException", "Cluster not found.");
        return;
    }
    n = json_array_size(arr);
    if (n == 0 || n > 100) {
        reply_error(r, 400, "InvalidParameterException",
                    "Tasks cannot be empty and cannot contain more than 100 "
                    "items (got %zu).",
                    n);
        return;
    }
    rec->ntasks = (int)n;
    json_array_append_new(g.batch_sizes, json_integer((json_int_t)n));
    tasks = json_array();
    fails = json_array();
    json_array_foreach(arr, i, v)
    {
        struct task *t = task_find(json_string_value(v));
        if (t)
            json_array_append_new(tasks, task_json(t, now));
        else
            json_array_append_new(fails, json_pack("{s:s, s:s}", "arn",
                                                   json_string_value(v),
                                                   "reason", "MISSING"));
    }
    reply_json(r, 200,
               json_pack("{s:o, s:o}", "tasks", tasks, "failures", fails));
}

static void op_stop_task(struct reply *r, json_t *in)
{
    static const struct field shape[] = {{"cluster", F_STR, false},
                                         {"task", F_STR, true},
                                         {"reason", F_STR, false},
                                         {NULL, 0, false}};
    struct task *t;
    int64_t now = now_us();
    struct tstate s;

    if (!check_shape(r, in, "StopTaskRequest", shape))
        return;
    if (!cluster_ok(jstr(in, "cluster"))) {
        reply_error(r, 400, "ClusterNotFoundException", "Cluster not found.");
        return;
    }
    t = task_find(jstr(in, "task"));
    if (!t) {
        reply_error(r, 400, "InvalidParameterException",
                    "The referenced task was not found.");
        return;
    }
    if (jstr(in, "reason") && strlen(jstr(in, "reason")) > 255) {
        reply_error(r, 400, "InvalidParameterException",
                    "reason: up to 255 characters");
        return;
    }
    task_state(t, now, &s);
    if (!t->stop_us && strcmp(s.last, "STOPPED") != 0) {
        t->stop_us = now;
        t->stop_reason = berth_xstrdup(jstr(in, "reason"));
    }
    reply_json(r, 200, json_pack("{s:o}", "task", task_json(t, now)));
}

static void op_list_tasks(struct reply *r, json_t *in)
{
    static const struct field shape[] = {{"cluster", F_STR, false},
                                         {"startedBy", F_STR, false},
                                         {"family", F_STR, false},
                                         {"desiredStatus", F_STR, false},
                                         {"launchType", F_STR, false},
                                         {"serviceName", F_STR, false},
                                         {"containerInstance", F_STR, false},
                                         {"maxResults", F_INT, false},
                                         {"nextToken", F_STR, false},
                                         {NULL, 0, false}};
    const char *want, *sb, *next;
    json_int_t max = 100, start = 0;
    json_t *arns = json_array(), *out;
    int64_t now = now_us();
    size_t i;

    if (!check_shape(r, in, "ListTasksRequest", shape)) {
        json_decref(arns);
        return;
    }
    if (!cluster_ok(jstr(in, "cluster"))) {
        json_decref(arns);
        reply_error(r, 400, "ClusterNotFoundException", "Cluster not found.");
        return;
    }
    want = jstr(in, "desiredStatus") ? jstr(in, "desiredStatus") : "RUNNING";
    if (strcmp(want, "RUNNING") && strcmp(want, "PENDING") &&
        strcmp(want, "STOPPED")) {
        json_decref(arns);
        reply_error(r, 400, "InvalidParameterException",
                    "desiredStatus must be RUNNING, PENDING or STOPPED");
        return;
    }
    if (json_object_get(in, "maxResults"))
        max = json_integer_value(json_object_get(in, "maxResults"));
    if (max < 1 || max > 100) {
        json_decref(arns);
        reply_error(r, 400, "InvalidParameterException",
                    "maxResults must be between 1 and 100");
        return;
    }
    next = jstr(in, "nextToken");
    if (next)
        start = strtoll(next, NULL, 10);
    sb = jstr(in, "startedBy");
    for (i = (size_t)start; i < g.ntasks; i++) {
        struct tstate s;
        struct task *t = &g.tasks[i];
        task_state(t, now, &s);
        if (sb && (!t->started_by || strcmp(sb, t->started_by) != 0))
            continue;
        if (strcmp(want, "PENDING") == 0 ? strcmp(s.last, "PENDING") != 0
                                         : strcmp(s.desired, want) != 0)
            continue;
        if ((json_int_t)json_array_size(arns) == max)
            break;
        json_array_append_new(arns, json_string(t->arn));
    }
    out = json_pack("{s:o}", "taskArns", arns);
    if (i < g.ntasks) {
        char tok[32];
        snprintf(tok, sizeof(tok), "%zu", i);
        json_object_set_new(out, "nextToken", json_string(tok));
    }
    reply_json(r, 200, out);
}

static void op_describe_clusters(struct reply *r, json_t *in)
{
    static const struct field shape[] = {{"clusters", F_ARR, false},
                                         {"include", F_ARR, false},
                                         {NULL, 0, false}};
    json_t *cl = json_array(), *fails = json_array(), *v;
    json_t *names = json_object_get(in, "clusters");
    size_t i;
    if (!check_shape(r, in, "DescribeClustersRequest", shape) ||
        (names && !check_str_list(r, names, "clusters"))) {
        json_decref(cl);
        json_decref(fails);
        return;
    }
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        if (cluster_ok(name)) {
            char *arn = berth_xasprintf("arn:aws:ecs:%s:" ACCOUNT ":cluster/%s",
                                        g.region, g.cluster);
            json_array_append_new(
                cl, json_pack("{s:s, s:s, s:s, s:i, s:i}", "clusterArn", arn,
                              "clusterName", g.cluster, "status", "ACTIVE",
                              "runningTasksCount", 0, "pendingTasksCount", 0));
            free(arn);
        } else {
            json_array_append_new(fails, json_pack("{s:s, s:s}", "arn", name,
                                                   "reason", "MISSING"));
        }
    }
    reply_json(r, 200,
               json_pack("{s:o, s:o}", "clusters", cl, "failures", fails));
}

/* ---- CloudWatch Logs --------------------------------------------------- */

static void op_get_log_events(struct reply *r, json_t *in)
{
    static const struct field shape[] = {
        {"logGroupName", F_STR, false}, {"logGroupIdentifier", F_STR, false},
        {"logStreamName", F_STR, true}, {"startTime", F_INT, false},
        {"endTime", F_INT, false},      {"nextToken", F_STR, false},
        {"limit", F_INT, false},        {"startFromHead", F_BOOL, false},
        {"unmask", F_BOOL, false},      {NULL, 0, false}};
    const char *group, *stream, *tok;
    struct task *t = NULL;
    bool group_known = false;
    int64_t now = now_us();
    json_int_t limit = g.log_page, from = 0;
    json_t *events;
    struct tstate s;
    char next[40];
    size_t idx = 0;
    const char *p;

    if (!check_shape(r, in, "GetLogEventsRequest", shape))
        return;
    group = jstr(in, "logGroupName");
    stream = jstr(in, "logStreamName");
    if (!group) {
        reply_error(r, 400, "InvalidParameterException",
                    "logGroupName is required");
        return;
    }
    if (json_object_get(in, "limit")) {
        json_int_t l = json_integer_value(json_object_get(in, "limit"));
        if (l < 1 || l > 10000) {
            reply_error(r, 400, "InvalidParameterException",
                        "limit must be between 1 and 10000");
            return;
        }
        if (l < limit)
            limit = l;
    }
    for (size_t i = 0; i < g.ntasks; i++) {
        struct task *c = &g.tasks[i];
        char *name;
        if (!c->log_group || strcmp(c->log_group, group) != 0)
            continue;
        group_known = true;
        name = berth_xasprintf("%s/%s/%s", c->log_prefix ? c->log_prefix : "",
                               c->container, c->id);
        if (strcmp(name, stream) == 0)
            t = c;
        free(name);
    }
    if (!group_known) {
        reply_error(r, 400, "ResourceNotFoundException",
                    "The specified log group does not exist.");
        return;
    }
    if (t)
        task_state(t, now, &s);
    if (!t || !s.logs) {
        reply_error(r, 400, "ResourceNotFoundException",
                    "The specified log stream does not exist.");
        return;
    }
    if (json_object_get(in, "startFromHead") != json_true()) {
        reply_error(r, 400, "InvalidParameterException",
                    "this fake reads streams from the head only");
        return;
    }
    tok = jstr(in, "nextToken");
    if (tok) {
        if (strncmp(tok, "f/", 2) != 0) {
            reply_error(r, 400, "InvalidParameterException",
                        "The specified nextToken is invalid.");
            return;
        }
        from = strtoll(tok + 2, NULL, 10);
    }
    events = json_array();
    p = t->out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if ((json_int_t)idx >= from &&
            (json_int_t)json_array_size(events) < limit) {
            char *msg = berth_xstrndup(p, len);
            int64_t ts = (s.started_us + (int64_t)idx * 1000) / 1000;
            json_array_append_new(
                events,
                json_pack("{s:I, s:s, s:I}", "timestamp", (json_int_t)ts,
                          "message", msg, "ingestionTime", (json_int_t)ts + 5));
            free(msg);
        }
        idx++;
        p += len;
        if (*p == '\n')
            p++;
    }
    /* At the end of the stream the same token comes back. */
    snprintf(next, sizeof(next), "f/%036" PRId64,
             (int64_t)from + (int64_t)json_array_size(events));
    if (tok && json_array_size(events) == 0)
        snprintf(next, sizeof(next), "%s", tok);
    reply_json(r, 200,
               json_pack("{s:o, s:s, s:s}", "events", events,
                         "nextForwardToken", next, "nextBackwardToken",
                         "b/000000000000000000000000000000000000"));
}

/* ---- dispatch ----------------------------------------------------------- */

struct op {
    const char *target;
    const char *service; /* SigV4 scope */
    int kind;
};

static const struct op ops[] = {
    {ECS_PREFIX "RunTask", "ecs", 1},
    {ECS_PREFIX "DescribeTasks", "ecs", 2},
    {ECS_PREFIX "StopTask", "ecs", 3},
    {ECS_PREFIX "ListTasks", "ecs", 4},
    {ECS_PREFIX "RegisterTaskDefinition", "ecs", 5},
    {ECS_PREFIX "DescribeTaskDefinition", "ecs", 6},
    {ECS_PREFIX "DescribeClusters", "ecs", 7},
    {ECS_PREFIX "DeregisterTaskDefinition", "ecs", 9},
    {LOGS_PREFIX "GetLogEvents", "logs", 8},
    {NULL, NULL, 0},
};

struct hdrs {
    struct bt_sigv4_hdr h[64];
    size_t n;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind,
                               const char *key, const char *value)
{
    struct hdrs *hs = cls;
    (void)kind;
    if (hs->n < 64)
        hs->h[hs->n++] = (struct bt_sigv4_hdr){key, value ? value : ""};
    return MHD_YES;
}

static const char *short_op(const char *target)
{
    const char *dot = target ? strrchr(target, '.') : NULL;
    return dot ? dot + 1 : (target ? target : "");
}

/* A pending injected answer for op, consumed. */
static bool take_injection(const char *op, struct inject *out)
{
    for (size_t i = 0; i < g.ninj; i++) {
        struct inject *in = &g.inj[i];
        if (in->count <= 0)
            continue;
        if (strcmp(in->target, "*") != 0 && strcmp(in->target, op) != 0)
            continue;
        in->count--;
        *out = *in;
        return true;
    }
    return false;
}

static void api(struct MHD_Connection *c, const char *method, const char *url,
                struct conn *cn, struct reply *r)
{
    struct hdrs hs = {.n = 0};
    const char *ctype =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *target =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");
    const struct op *op = NULL;
    struct reqrec rec;
    struct inject inj;
    json_error_t jerr;
    json_t *in = NULL;
    char *type = NULL, *msg = NULL;
    int64_t now = now_us();
    bool verified = false;

    memset(&rec, 0, sizeof(rec));
    rec.t_us = now;
    snprintf(rec.op, sizeof(rec.op), "%s", short_op(target));

    if (strcmp(method, "POST") != 0) {
        reply_error(r, 405, "UnknownOperationException",
                    "the AWS JSON protocol takes POST, not %s", method);
        goto out;
    }
    if (strcmp(url, "/") != 0 ||
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, NULL)) {
        reply_error(r, 404, "UnknownOperationException",
                    "the AWS JSON protocol posts to '/', not '%s'", url);
        goto out;
    }
    if (!ctype || strcmp(ctype, JSON_TYPE) != 0) {
        reply_error(r, 400, "SerializationException",
                    "Content-Type must be " JSON_TYPE ", got '%s'",
                    ctype ? ctype : "(none)");
        goto out;
    }
    for (size_t i = 0; target && ops[i].target; i++)
        if (strcmp(ops[i].target, target) == 0)
            op = &ops[i];
    if (!op) {
        reply_error(r, 400, "UnknownOperationException",
                    "unknown X-Amz-Target '%s'", target ? target : "(none)");
        goto out;
    }

    /* The signature, with each key the fake knows. */
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &hs);
    {
        struct bt_sigv4_req sr = {"POST", "/",           NULL,        hs.h,
                                  hs.n,   cn->body.data, cn->body.len};
        const char *auth =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        const struct key *k = NULL;
        for (size_t i = 0; i < g.nkeys; i++) {
            char *needle = berth_xasprintf("Credential=%s/", g.keys[i].id);
            if (auth && strstr(auth, needle))
                k = &g.keys[i];
            free(needle);
        }
        if (!k)
            k = &g.keys[0];
        {
            struct bt_sigv4_keys keys = {k->id,       k->secret,
                                         k->token,    g.region,
                                         op->service, now / BERTH_US_PER_SEC,
                                         300};
            if (bt_sigv4_verify(&sr, &keys, &type, &msg) != 0) {
                reply_error(r, 400, type, "%s", msg);
                goto out;
            }
        }
        verified = true;
    }

    /* What the request names, for the record (also when an injected
     * answer replaces the real one). */
    in = json_loadb(cn->body.data ? cn->body.data : "", cn->body.len, 0, &jerr);
    if (json_is_object(in)) {
        if (jstr(in, "clientToken"))
            snprintf(rec.token, sizeof(rec.token), "%s",
                     jstr(in, "clientToken"));
        if (jstr(in, "startedBy"))
            snprintf(rec.started_by, sizeof(rec.started_by), "%s",
                     jstr(in, "startedBy"));
    }
    if (take_injection(rec.op, &inj)) {
        if (inj.garbage) {
            reply_text(r, 200, "<html>this is not JSON</html>", JSON_TYPE);
        } else if (inj.failure) {
            reply_json(r, 200,
                       json_pack("{s:[], s:[{s:s, s:s}]}", "tasks", "failures",
                                 "arn", "", "reason", inj.failure));
        } else {
            reply_error(r, inj.status, inj.type, "%s", inj.message);
        }
        goto out;
    }

    if (!in || !json_is_object(in)) {
        reply_error(r, 400, "SerializationException",
                    "the body is not a JSON object: %s",
                    in ? "wrong type" : jerr.text);
        goto out;
    }
    switch (op->kind) {
    case 1:
        op_run_task(r, in, &rec);
        break;
    case 2:
        op_describe_tasks(r, in, &rec);
        break;
    case 3:
        op_stop_task(r, in);
        break;
    case 4:
        op_list_tasks(r, in);
        break;
    case 5:
        op_register(r, in);
        break;
    case 6:
        op_describe_td(r, in);
        break;
    case 7:
        op_describe_clusters(r, in);
        break;
    case 8:
        op_get_log_events(r, in);
        break;
    case 9:
        op_deregister_td(r, in);
        break;
    }
out:
    rec.status = r->status;
    if (r->status != 200 && r->body) {
        json_t *e = json_loads(r->body, 0, NULL);
        if (e && jstr(e, "__type"))
            snprintf(rec.err_type, sizeof(rec.err_type), "%s",
                     jstr(e, "__type"));
        json_decref(e);
    }
    if (g.verbose)
        fprintf(stderr, "fake_ecs: %s %d %s %s\n", rec.op, r->status,
                rec.err_type, verified ? "" : "(unverified)");
    if (g.nreqs == g.capreqs) {
        g.capreqs = g.capreqs ? 2 * g.capreqs : 256;
        g.reqs = berth_xrealloc(g.reqs, g.capreqs * sizeof(*g.reqs));
    }
    g.reqs[g.nreqs++] = rec;
    json_decref(in);
    free(type);
    free(msg);
}

/* ---- IMDSv2 and the ECS container credentials endpoint ---------------- */

static json_t *issue_role_creds(void)
{
    /* One set of role credentials, made at the first fetch and handed out
     * again after, as the metadata service does until it rotates them. */
    char exp[BERTH_TIME_STR_MAX], upd[BERTH_TIME_STR_MAX];
    struct key *k = &g.keys[1];
    json_t *j;

    if (!k->id) {
        k->id = berth_xstrdup("ASIAFAKEROLECREDS");
        k->secret = random_hex(20);
        k->token = random_hex(32);
        g.nkeys = 2;
    }
    berth_time_format(now_us() + g.imds_expiry_s * BERTH_US_PER_SEC, exp);
    berth_time_format(now_us(), upd);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Code", "Success",
                  "LastUpdated", upd, "Type", "AWS-HMAC", "AccessKeyId", k->id,
                  "SecretAccessKey", k->secret, "Token", k->token, "Expiration",
                  exp);
    return j;
}

static bool imds_token_ok(struct MHD_Connection *c)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "X-aws-ec2-metadata-token");
    for (size_t i = 0; t && i < g.nimds_tokens; i++)
        if (strcmp(g.imds_tokens[i], t) == 0)
            return true;
    return false;
}

static void imds(struct MHD_Connection *c, const char *method, const char *url,
                 struct reply *r)
{
    const char *prefix = "/latest/meta-data/iam/security-credentials/";

    if (strcmp(url, "/latest/api/token") == 0) {
        const char *ttl = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token-ttl-seconds");
        long v;
        if (strcmp(method, "PUT") != 0) {
            reply_text(r, 405, "", "text/plain");
            return;
        }
        if (MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                        "X-Forwarded-For")) {
            reply_text(r, 403, "", "text/plain");
            return;
        }
        if (!ttl || !parse_long(ttl, &v) || v < 1 || v > 21600) {
            reply_text(r, 400, "", "text/plain");
            return;
        }
        g.imds_tokens = berth_xrealloc(g.imds_tokens,
                                       (g.nimds_tokens + 1) * sizeof(char *));
        g.imds_tokens[g.nimds_tokens] = random_hex(24);
        reply_text(r, 200, g.imds_tokens[g.nimds_tokens++], "text/plain");
        return;
    }
    if (strncmp(url, "/latest/", 8) == 0) {
        /* IMDSv2 only: no token, no answer. */
        if (strcmp(method, "GET") != 0) {
            reply_text(r, 405, "", "text/plain");
            return;
        }
        if (!imds_token_ok(c)) {
            reply_text(r, 401, "", "text/plain");
            return;
        }
        if (!g.imds_role) {
            reply_text(r, 404, "", "text/plain");
            return;
        }
        if (strcmp(url, prefix) == 0) {
            reply_text(r, 200, g.imds_role, "text/plain");
            return;
        }
        if (strncmp(url, prefix, strlen(prefix)) == 0 &&
            strcmp(url + strlen(prefix), g.imds_role) == 0) {
            json_t *j = issue_role_creds();
            g.imds_credential_fetches++;
            r->status = 200;
            r->body = json_dumps(j, JSON_INDENT(2));
            r->content_type = "text/plain";
            json_decref(j);
            return;
        }
        reply_text(r, 404, "", "text/plain");
        return;
    }
    /* /ecs-credentials: the container credentials endpoint. */
    {
        const char *auth =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        json_t *j;
        if (g.container_token &&
            (!auth || strcmp(auth, g.container_token) != 0)) {
            reply_json(
                r, 401,
                json_pack("{s:s}", "message", "bad authorization token"));
            return;
        }
        j = issue_role_creds();
        json_object_del(j, "Code");
        json_object_del(j, "Type");
        json_object_del(j, "LastUpdated");
        json_object_set_new(
            j, "RoleArn",
            json_string("arn:aws:iam::" ACCOUNT ":role/berth-worker"));
        g.container_fetches++;
        reply_json(r, 200, j);
        r->content_type = "application/json";
    }
}

/* ---- test control ------------------------------------------------------ */

static void control(const char *method, const char *url, struct conn *cn,
                    struct reply *r)
{
    if (strcmp(url, "/_fake/requests") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < g.nreqs; i++) {
            struct reqrec *q = &g.reqs[i];
            json_t *o = json_pack("{s:I, s:s, s:i, s:i}", "t_us",
                                  (json_int_t)q->t_us, "op", q->op, "status",
                                  q->status, "ntasks", q->ntasks);
            if (q->err_type[0])
                json_object_set_new(o, "error", json_string(q->err_type));
            if (q->token[0])
                json_object_set_new(o, "clientToken", json_string(q->token));
            if (q->started_by[0])
                json_object_set_new(o, "startedBy", json_string(q->started_by));
            json_array_append_new(a, o);
        }
        reply_json(r, 200, a);
        r->content_type = "application/json";
        return;
    }
    if (strcmp(url, "/_fake/stats") == 0) {
        json_t *runs = json_object(), *calls = json_object(), *o;
        int run_calls = 0;
        for (size_t i = 0; i < g.ntasks; i++) {
            struct task *t = &g.tasks[i];
            const char *k = t->client_token ? t->client_token : t->id;
            json_t *cur = json_object_get(runs, k);
            json_object_set_new(runs, k,
                                json_integer(json_integer_value(cur) + 1));
            json_object_set_new(calls, k, json_integer(t->token_calls));
        }
        for (size_t i = 0; i < g.nreqs; i++)
            if (strcmp(g.reqs[i].op, "RunTask") == 0)
                run_calls++;
        o = json_pack(
            "{s:o, s:o, s:i, s:I, s:O, s:i, s:i, s:i, s:I}", "tasks_per_token",
            runs, "run_task_calls_per_token", calls, "run_task_requests",
            run_calls, "tasks", (json_int_t)g.ntasks, "describe_batch_sizes",
            g.batch_sizes, "imds_credential_fetches", g.imds_credential_fetches,
            "container_fetches", g.container_fetches, "register_calls",
            g.register_calls, "requests", (json_int_t)g.nreqs);
        reply_json(r, 200, o);
        r->content_type = "application/json";
        return;
    }
    if (strcmp(url, "/_fake/tasks") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < g.ntasks; i++) {
            struct task *t = &g.tasks[i];
            json_t *o =
                json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:i}", "taskArn",
                          t->arn, "taskDefinitionArn", t->td_arn, "cpu", t->cpu,
                          "memory", t->memory, "overrides", t->overrides,
                          "tags", t->tags, "runTaskCalls", t->token_calls);
            if (t->client_token)
                json_object_set_new(o, "clientToken",
                                    json_string(t->client_token));
            if (t->started_by)
                json_object_set_new(o, "startedBy", json_string(t->started_by));
            json_array_append_new(a, o);
        }
        reply_json(r, 200, a);
        r->content_type = "application/json";
        return;
    }
    if (strcmp(url, "/_fake/taskdefs") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; i < g.ntds; i++)
            json_array_append(a, g.tds[i].def);
        reply_json(r, 200, a);
        r->content_type = "application/json";
        return;
    }
    if (strcmp(url, "/_fake/reset") == 0 && strcmp(method, "POST") == 0) {
        g.nreqs = 0;
        json_array_clear(g.batch_sizes);
        g.imds_credential_fetches = 0;
        g.container_fetches = 0;
        g.register_calls = 0;
        reply_json(r, 200, json_object());
        return;
    }
    if (strcmp(url, "/_fake/inject") == 0 && strcmp(method, "POST") == 0) {
        json_t *in = json_loadb(cn->body.data ? cn->body.data : "",
                                cn->body.len, 0, NULL);
        struct inject *ij;
        if (!in || !jstr(in, "target")) {
            json_decref(in);
            reply_text(r, 400, "bad inject body", "text/plain");
            return;
        }
        if (g.ninj == g.capinj) {
            g.capinj = g.capinj ? 2 * g.capinj : 8;
            g.inj = berth_xrealloc(g.inj, g.capinj * sizeof(*g.inj));
        }
        ij = &g.inj[g.ninj++];
        memset(ij, 0, sizeof(*ij));
        ij->target = berth_xstrdup(jstr(in, "target"));
        ij->count = json_object_get(in, "count")
                        ? (int)json_integer_value(json_object_get(in, "count"))
                        : 1;
        ij->status =
            json_object_get(in, "status")
                ? (int)json_integer_value(json_object_get(in, "status"))
                : 400;
        ij->type = berth_xstrdup(jstr(in, "type") ? jstr(in, "type")
                                                  : "ThrottlingException");
        ij->message = berth_xstrdup(jstr(in, "message") ? jstr(in, "message")
                                                        : "Rate exceeded");
        ij->garbage = json_is_true(json_object_get(in, "garbage"));
        ij->failure = berth_xstrdup(jstr(in, "failure"));
        json_decref(in);
        reply_json(r, 200, json_object());
        return;
    }
    reply_text(r, 404, "no such control endpoint", "text/plain");
}

/* ---- the server -------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct conn *cn = *con_cls;
    struct reply r = {0, NULL, "text/plain"};
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *rid;
    (void)cls;
    (void)version;

    if (!cn) {
        cn = berth_xcalloc(1, sizeof(*cn));
        berth_buf_init(&cn->body, MAX_BODY);
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (berth_buf_append(&cn->body, upload, *upload_size))
            cn->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&g.lock);
    if (cn->too_big)
        reply_error(&r, 413, "SerializationException", "request too large");
    else if (strncmp(url, "/_fake/", 7) == 0)
        control(method, url, cn, &r);
    else if (strncmp(url, "/latest/", 8) == 0 ||
             strcmp(url, "/ecs-credentials") == 0)
        imds(c, method, url, &r);
    else
        api(c, method, url, cn, &r);
    pthread_mutex_unlock(&g.lock);

    resp = MHD_create_response_from_buffer(
        r.body ? strlen(r.body) : 0, r.body ? r.body : (void *)"",
        r.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", r.content_type);
    rid = random_hex(16);
    MHD_add_response_header(resp, "x-amzn-RequestId", rid);
    free(rid);
    ret = MHD_queue_response(c, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (cn) {
        berth_buf_release(&cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fake_ecs --port-file FILE [--port N] [--region R] "
            "[--cluster C] [--access-key K] [--secret S] [--session-token T] "
            "[--imds-role ROLE] [--imds-expiry-s N] [--container-token T] "
            "[--provision-ms N] [--duration-ms N] [--log-page N] "
            "[--verbose]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'f'},
        {"region", required_argument, NULL, 'r'},
        {"cluster", required_argument, NULL, 'c'},
        {"access-key", required_argument, NULL, 'k'},
        {"secret", required_argument, NULL, 's'},
        {"session-token", required_argument, NULL, 't'},
        {"imds-role", required_argument, NULL, 'i'},
        {"imds-expiry-s", required_argument, NULL, 'e'},
        {"container-token", required_argument, NULL, 'a'},
        {"provision-ms", required_argument, NULL, 'P'},
        {"duration-ms", required_argument, NULL, 'D'},
        {"log-page", required_argument, NULL, 'L'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    const char *port_file = NULL;
    unsigned port = 0;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sin;
    int ch;
    FILE *f;
    char *tmp;

    g.region = berth_xstrdup("us-east-1");
    g.cluster = berth_xstrdup("default");
    g.keys[0].id = berth_xstrdup("AKIDFAKE");
    g.keys[0].secret = berth_xstrdup("fake-secret");
    g.nkeys = 1;
    g.imds_expiry_s = 6 * 3600;
    g.provision_ms = 100;
    g.duration_ms = 300;
    g.log_page = 3;
    g.batch_sizes = json_array();
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            port_file = optarg;
            break;
        case 'r':
            free(g.region);
            g.region = berth_xstrdup(optarg);
            break;
        case 'c':
            free(g.cluster);
            g.cluster = berth_xstrdup(optarg);
            break;
        case 'k':
            free(g.keys[0].id);
            g.keys[0].id = berth_xstrdup(optarg);
            break;
        case 's':
            free(g.keys[0].secret);
            g.keys[0].secret = berth_xstrdup(optarg);
            break;
        case 't':
            g.keys[0].token = berth_xstrdup(optarg);
            break;
        case 'i':
            g.imds_role = berth_xstrdup(optarg);
            break;
        case 'e':
            g.imds_expiry_s = strtoll(optarg, NULL, 10);
            break;
        case 'a':
            g.container_token = berth_xstrdup(optarg);
            break;
        case 'P':
            g.provision_ms = strtoll(optarg, NULL, 10);
            break;
        case 'D':
            g.duration_ms = strtoll(optarg, NULL, 10);
            break;
        case 'L':
            g.log_page = (int)strtol(optarg, NULL, 10);
            break;
        case 'v':
            g.verbose = true;
            break;
        default:
            usage();
        }
    }
    if (!port_file || g.log_page < 1)
        usage();

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_CONNECTION_LIMIT, 512u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_ecs: cannot listen on port %u\n", port);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    /* Write the port atomically: the test polls for the file. */
    tmp = berth_xasprintf("%s.tmp", port_file);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 ||
        rename(tmp, port_file) != 0) {
        fprintf(stderr, "fake_ecs: cannot write %s\n", port_file);
        return 1;
    }
    free(tmp);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    return 0;
}
