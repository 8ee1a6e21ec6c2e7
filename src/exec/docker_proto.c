/*
 * docker_proto.c - the Docker Engine API without the I/O: URLs, request
 * bodies, response parsing, the log stream demultiplexer (see docker_int.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "docker_int.h"

/* ---- engine endpoint ---------------------------------------------------- */

void berth__docker_endpoint_release(struct berth__docker_endpoint *ep)
{
    free(ep->socket);
    free(ep->base);
    memset(ep, 0, sizeof(*ep));
}

int berth__docker_endpoint_parse(const char *url, bool tls,
                                 struct berth__docker_endpoint *out,
                                 struct berth_err *err)
{
    const char *rest, *host_end, *port = NULL;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    if (!url || !*url)
        return berth_err_set(err, BERTH_E_CONFIG, "docker host has no url");
    if (strncmp(url, "unix://", 7) == 0) {
        if (url[7] != '/')
            return berth_err_set(err, BERTH_E_CONFIG,
                                 "docker url '%s' needs an absolute socket "
                                 "path (unix:///var/run/docker.sock)",
                                 url);
        out->socket = berth_xstrdup(url + 7);
        out->base = berth_xstrdup("http://docker");
        return 0;
    }
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        out->base = berth_xstrndup(url, n);
        out->tls = url[4] == 's';
        return 0;
    }
    if (strncmp(url, "tcp://", 6) != 0)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "unsupported docker url '%s' (expected "
                             "unix:///path or tcp://host:port)",
                             url);
    rest = url + 6;
    host_end = rest;
    if (*rest == '[') { /* [IPv6]:port */
        host_end = strchr(rest, ']');
        if (!host_end)
            goto bad;
        host_end++;
    } else {
        while (*host_end && *host_end != ':' && *host_end != '/')
            host_end++;
    }
    hlen = (size_t)(host_end - rest);
    if (hlen == 0)
        goto bad;
    if (*host_end == ':') {
        int64_t p;
        char buf[8];
        size_t plen = strcspn(host_end + 1, "/");
        if (plen == 0 || plen >= sizeof(buf))
            goto bad;
        memcpy(buf, host_end + 1, plen);
        buf[plen] = '\0';
        if (berth_parse_i64(buf, 1, 65535, &p))
            goto bad;
        port = host_end + 1;
        host_end += 1 + plen;
    }
    if (*host_end && strcmp(host_end, "/") != 0)
        goto bad;
    out->tls = tls;
    if (port)
        out->base =
            berth_xasprintf("%s://%.*s:%.*s", tls ? "https" : "http", (int)hlen,
                            rest, (int)strcspn(port, "/"), port);
    else
        out->base = berth_xasprintf("%s://%.*s:%d", tls ? "https" : "http",
                                    (int)hlen, rest, tls ? 2376 : 2375);
    return 0;
bad:
    return berth_err_set(err, BERTH_E_CONFIG,
                         "malformed docker url '%s' (expected tcp://host:port)",
                         url);
}

static int parse_version(const char *s, int64_t *major, int64_t *minor)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    char buf[16];
    size_t n;

    if (!dot)
        return -1;
    n = (size_t)(dot - s);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (berth_parse_i64(buf, 0, 999, major) ||
        berth_parse_i64(dot + 1, 0, 999, minor))
        return -1;
    return 0;
}

int berth__docker_api_pick(const char *engine_version, char *buf, size_t size,
                           struct berth_err *err)
{
    int64_t emaj, emin, mmaj, mmin;

    if (parse_version(BERTH_DOCKER_API_MAX, &mmaj, &mmin))
        BERTH_BUG("bad BERTH_DOCKER_API_MAX");
    if (parse_version(engine_version, &emaj, &emin))
        return berth_err_set(err, BERTH_E_PARSE,
                             "engine reports a malformed API version '%s'",
                             engine_version ? engine_version : "");
    if (emaj > mmaj || (emaj == mmaj && emin > mmin)) {
        emaj = mmaj;
        emin = mmin;
    }
    snprintf(buf, size, "%" PRId64 ".%" PRId64, emaj, emin);
    return 0;
}

/* ---- requests ---------------------------------------------------------- */

static void set_str(json_t *obj, const char *key, const char *v)
{
    json_object_set_new(obj, key, json_string(v));
}

char *berth__docker_create_body(const struct berth_launch *req,
                                const struct berth__docker_create *c)
{
    json_t *root = json_object(), *hc = json_object(), *labels = json_object();
    const char *net;
    char num[32];
    char *text;

    set_str(root, "Image", req->image);
    if (req->command && req->command->n > 0) {
        json_t *cmd = json_array();
        for (size_t i = 0; i < req->command->n; i++)
            json_array_append_new(cmd, json_string(req->command->v[i]));
        json_object_set_new(root, "Cmd", cmd);
    }
    if (req->working_dir && *req->working_dir)
        set_str(root, "WorkingDir", req->working_dir);
    if (req->env && req->env->n > 0) {
        json_t *env = json_array();
        for (size_t i = 0; i < req->env->n; i++) {
            char *kv = berth_xasprintf("%s=%s", req->env->kv[i].key,
                                       req->env->kv[i].value);
            json_array_append_new(env, json_string(kv));
            free(kv);
        }
        json_object_set_new(root, "Env", env);
    }
    /* No TTY: the log stream is framed, so stdout and stderr stay apart. */
    json_object_set_new(root, "Tty", json_false());
    json_object_set_new(root, "OpenStdin", json_false());
    json_object_set_new(root, "AttachStdin", json_false());
    json_object_set_new(root, "AttachStdout", json_false());
    json_object_set_new(root, "AttachStderr", json_false());
    if (c->stop_grace_seconds >= 0)
        json_object_set_new(root, "StopTimeout",
                            json_integer(c->stop_grace_seconds));

    if (req->labels)
        for (size_t i = 0; i < req->labels->n; i++)
            if (strncmp(req->labels->kv[i].key, "berth.", 6) != 0)
                set_str(labels, req->labels->kv[i].key,
                        req->labels->kv[i].value);
    snprintf(num, sizeof(num), "%" PRId64, req->job_id);
    set_str(labels, BERTH_DOCKER_LABEL_JOB, num);
    snprintf(num, sizeof(num), "%d", req->attempt);
    set_str(labels, BERTH_DOCKER_LABEL_ATTEMPT, num);
    if (c->host)
        set_str(labels, BERTH_DOCKER_LABEL_HOST, c->host);
    if (c->executor)
        set_str(labels, BERTH_DOCKER_LABEL_EXECUTOR, c->executor);
    if (c->namespace_ && *c->namespace_)
        set_str(labels, BERTH_DOCKER_LABEL_NAMESPACE, c->namespace_);
    json_object_set_new(root, "Labels", labels);

    if (req->memory_mb > 0) {
        json_int_t bytes = (json_int_t)req->memory_mb * 1024 * 1024;
        json_object_set_new(hc, "Memory", json_integer(bytes));
        /* Without MemorySwap the engine allows as much swap again; a job
         * over its memory_mb is OOM-killed instead, as the user asked. */
        if (!c->allow_swap)
            json_object_set_new(hc, "MemorySwap", json_integer(bytes));
    }
    if (req->cpu_cores > 0)
        json_object_set_new(
            hc, "NanoCpus",
            json_integer((json_int_t)llround(req->cpu_cores * 1e9)));
    net = req->network && *req->network ? req->network : c->network;
    if (net && *net)
        set_str(hc, "NetworkMode", net);
    json_object_set_new(root, "HostConfig", hc);

    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        BERTH_BUG("json_dumps failed");
    return text;
}

void berth__docker_image_split(const char *image, char **from, char **tag)
{
    const char *slash = strrchr(image, '/');
    const char *colon;

    if (strchr(image, '@')) {
        *from = berth_xstrdup(image);
        *tag = berth_xstrdup("");
        return;
    }
    colon = strrchr(slash ? slash : image, ':');
    if (colon) {
        *from = berth_xstrndup(image, (size_t)(colon - image));
        *tag = berth_xstrdup(colon + 1);
    } else {
        *from = berth_xstrdup(image);
        *tag = berth_xstrdup("latest");
    }
}

/* ---- responses --------------------------------------------------------- */

static void printable_copy(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0;

    if (size == 0)
        return;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    buf[o] = '\0';
}

void berth__docker_message(const char *body, size_t len, char *buf, size_t size)
{
    json_t *root;

    if (size == 0)
        return;
    buf[0] = '\0';
    if (!body || len == 0)
        return;
    root = json_loadb(body, len, 0, NULL);
    if (json_is_object(root)) {
        const char *m = json_string_value(json_object_get(root, "message"));
        if (m) {
            printable_copy(m, strlen(m), buf, size);
            json_decref(root);
            return;
        }
    }
    json_decref(root);
    printable_copy(body, len > 200 ? 200 : len, buf, size);
}

static json_t *load_object(const char *json, size_t len, const char *what,
                           struct berth_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", json ? len : 0, 0, &je);
    char sample[64];

    if (json_is_object(root))
        return root;
    json_decref(root);
    printable_copy(json ? json : "", json ? (len > 40 ? 40 : len) : 0, sample,
                   sizeof(sample));
    berth_err_set_transient(err, BERTH_E_PARSE,
                            "malformed %s from the engine (expected a JSON "
                            "object): '%s'",
                            what, sample);
    return NULL;
}

int berth__docker_parse_created(const char *json, size_t len, char *id,
                                size_t size, struct berth_err *err)
{
    json_t *root = load_object(json, len, "create response", err);
    const char *v;

    if (!root)
        return err ? err->rc : BERTH_E_PARSE;
    v = json_string_value(json_object_get(root, "Id"));
    if (!v || !*v || strlen(v) >= size) {
        json_decref(root);
        return berth_err_set_transient(err, BERTH_E_PARSE,
                                       "create response from the engine has "
                                       "no usable Id");
    }
    snprintf(id, size, "%s", v);
    json_decref(root);
    return 0;
}

/* Docker's "zero" time is year 1; anything unparsable counts as unknown. */
static int64_t docker_time(const char *s)
{
    int64_t us;
    if (!s || strncmp(s, "0001-", 5) == 0)
        return 0;
    if (berth_parse_time(s, &us, NULL))
        return 0;
    return us;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void label_num(json_t *labels, const char *key, int64_t max,
                      int64_t *out)
{
    const char *v = json_string_value(json_object_get(labels, key));
    int64_t n;
    *out = -1;
    if (v && berth_parse_i64(v, 0, max, &n) == 0)
        *out = n;
}

int berth__docker_parse_inspect(const char *json, size_t len,
                                struct berth__docker_inspect *out,
                                struct berth_err *err)
{
    json_t *root, *state, *config, *hc, *labels;
    const char *id, *status, *name;
    int64_t attempt;

    memset(out, 0, sizeof(*out));
    out->job_id = -1;
    out->attempt = -1;
    root = load_object(json, len, "inspect response", err);
    if (!root)
        return err ? err->rc : BERTH_E_PARSE;
    id = json_string_value(json_object_get(root, "Id"));
    state = json_object_get(root, "State");
    status = json_string_value(json_object_get(state, "Status"));
    if (!id || !*id || strlen(id) >= sizeof(out->id) || !status) {
        json_decref(root);
        return berth_err_set_transient(err, BERTH_E_PARSE,
                                       "inspect response from the engine "
                                       "lacks Id or State.Status");
    }
    copy_str(out->id, sizeof(out->id), id);
    copy_str(out->status, sizeof(out->status), status);
    name = json_string_value(json_object_get(root, "Name"));
    if (name && *name == '/')
        name++;
    copy_str(out->name, sizeof(out->name), name);
    out->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    out->exit_code =
        (int)json_integer_value(json_object_get(state, "ExitCode"));
    out->started_at =
        docker_time(json_string_value(json_object_get(state, "StartedAt")));
    out->finished_at =
        docker_time(json_string_value(json_object_get(state, "FinishedAt")));
    copy_str(out->error, sizeof(out->error),
             json_string_value(json_object_get(state, "Error")));
    config = json_object_get(root, "Config");
    out->tty = json_is_true(json_object_get(config, "Tty"));
    labels = json_object_get(config, "Labels");
    label_num(labels, BERTH_DOCKER_LABEL_JOB, INT64_MAX, &out->job_id);
    label_num(labels, BERTH_DOCKER_LABEL_ATTEMPT, INT32_MAX, &attempt);
    out->attempt = (int)attempt;
    hc = json_object_get(root, "HostConfig");
    out->memory_limit = json_integer_value(json_object_get(hc, "Memory"));
    json_decref(root);
    return 0;
}

enum berth_exec_state berth__docker_state(const char *status)
{
    if (strcmp(status, "created") == 0)
        return BERTH_EXEC_PENDING;
    if (strcmp(status, "exited") == 0 || strcmp(status, "dead") == 0 ||
        strcmp(status, "removing") == 0)
        return BERTH_EXEC_EXITED;
    /* running, paused, restarting, and whatever a newer engine invents:
     * not over, so keep following it (the job's timeout still applies). */
    return BERTH_EXEC_RUNNING;
}

void berth__docker_inspect_to_status(const struct berth__docker_inspect *in,
                                     struct berth_exec_status *q)
{
    q->state = berth__docker_state(in->status);
    q->started_at = in->started_at;
    q->finished_at = in->finished_at;
    /* The engine stamps StartedAt once its start call returns, which can be
     * after a quick process already exited (FinishedAt comes from the
     * runtime's exit event): the process started no later than it ended. */
    if (q->finished_at && q->started_at > q->finished_at)
        q->started_at = q->finished_at;
    q->oom_killed = in->oom_killed;
    q->exit_code = q->state == BERTH_EXEC_EXITED ? in->exit_code : 0;
    q->message[0] = '\0';
    if (q->state == BERTH_EXEC_PENDING) {
        copy_str(q->message, sizeof(q->message), "created, not started");
    } else if (q->state == BERTH_EXEC_EXITED) {
        if (in->oom_killed && in->memory_limit > 0)
            snprintf(q->message, sizeof(q->message),
                     "killed for running out of memory (limit %" PRId64
                     " MB, OOMKilled), exit code %d",
                     in->memory_limit / (1024 * 1024), in->exit_code);
        else if (in->oom_killed)
            snprintf(q->message, sizeof(q->message),
                     "killed for running out of memory (OOMKilled), exit "
                     "code %d",
                     in->exit_code);
        else if (in->error[0])
            snprintf(q->message, sizeof(q->message),
                     "engine error: %s (exit code %d)", in->error,
                     in->exit_code);
        else if (strcmp(in->status, "dead") == 0)
            snprintf(q->message, sizeof(q->message),
                     "container is dead (the engine could not stop it "
                     "cleanly), exit code %d",
                     in->exit_code);
        else
            snprintf(q->message, sizeof(q->message), "exited with code %d",
                     in->exit_code);
    }
}

int berth__docker_parse_stats(const char *json, size_t len, int64_t *peak_mem,
                              int64_t *cpu_us, struct berth_err *err)
{
    json_t *root, *mem, *cpu, *v;
    const char *read;

    *peak_mem = -1;
    *cpu_us = -1;
    root = load_object(json, len, "stats response", err);
    if (!root)
        return err ? err->rc : BERTH_E_PARSE;
    read = json_string_value(json_object_get(root, "read"));
    if (read && strncmp(read, "0001-", 5) == 0) {
        /* A stopped container: the engine sends zeros, not figures. */
        json_decref(root);
        return 0;
    }
    mem = json_object_get(root, "memory_stats");
    v = json_object_get(mem, "max_usage");
    if (!json_is_integer(v))
        v = json_object_get(mem, "usage");
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *peak_mem = json_integer_value(v);
    cpu = json_object_get(json_object_get(root, "cpu_stats"), "cpu_usage");
    v = json_object_get(cpu, "total_usage");
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        *cpu_us = json_integer_value(v) / 1000;
    json_decref(root);
    return 0;
}

int berth__docker_parse_list(const char *json, size_t len,
                             const char *namespace_,
                             struct berth_exec_object **out, size_t *n,
                             struct berth_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(json ? json : "", json ? len : 0, 0, &je);
    size_t i, k = 0;
    json_t *c;

    *out = NULL;
    *n = 0;
    if (!json_is_array(root)) {
        json_decref(root);
        return berth_err_set_transient(err, BERTH_E_PARSE,
                                       "malformed container list from the "
                                       "engine (expected a JSON array)");
    }
    *out = berth_xcalloc(json_array_size(root) + 1, sizeof(**out));
    json_array_foreach(root, i, c)
    {
        struct berth_exec_object *o = &(*out)[k];
        json_t *labels = json_object_get(c, "Labels");
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *ns = json_string_value(
            json_object_get(labels, BERTH_DOCKER_LABEL_NAMESPACE));
        const char *st = json_string_value(json_object_get(c, "State"));
        const char *name =
            json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        json_t *created = json_object_get(c, "Created");
        int64_t attempt;

        if (!id || !*id || strlen(id) >= sizeof(o->id))
            continue;
        if (!ns)
            ns = "";
        if (namespace_ && strcmp(ns, namespace_) != 0)
            continue;
        copy_str(o->id, sizeof(o->id), id);
        if (name && *name == '/')
            name++;
        copy_str(o->name, sizeof(o->name), name);
        label_num(labels, BERTH_DOCKER_LABEL_JOB, INT64_MAX, &o->job_id);
        label_num(labels, BERTH_DOCKER_LABEL_ATTEMPT, INT32_MAX, &attempt);
        o->attempt = (int)attempt;
        o->state = berth__docker_state(st ? st : "");
        if (json_is_integer(created) && json_integer_value(created) > 0 &&
            json_integer_value(created) < INT64_MAX / BERTH_US_PER_SEC)
            o->created_at = json_integer_value(created) * BERTH_US_PER_SEC;
        k++;
    }
    *n = k;
    json_decref(root);
    return 0;
}

/* ---- log stream -------------------------------------------------------- */

void berth__docker_demux_init(struct berth__docker_demux *d, bool raw)
{
    memset(d, 0, sizeof(*d));
    d->raw = raw;
    d->stream = 1;
}

int berth__docker_demux_feed(struct berth__docker_demux *d, const char *data,
                             size_t len, berth_exec_log_fn fn, void *ctx)
{
    if (d->bad)
        return BERTH_E_PARSE;
    if (d->raw) {
        if (len > 0 && fn(1, data, len, ctx))
            return 1;
        return 0;
    }
    while (len > 0) {
        size_t take;

        if (d->left == 0) {
            take = sizeof(d->hdr) - d->hdr_len;
            if (take > len)
                take = len;
            memcpy(d->hdr + d->hdr_len, data, take);
            d->hdr_len += take;
            data += take;
            len -= take;
            if (d->hdr_len < sizeof(d->hdr))
                return 0;
            d->hdr_len = 0;
            if (d->hdr[0] > 2 || d->hdr[1] || d->hdr[2] || d->hdr[3]) {
                d->bad = true;
                return BERTH_E_PARSE;
            }
            d->stream = d->hdr[0] == 2 ? 2 : 1;
            d->left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                      (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
            continue;
        }
        take = d->left < len ? d->left : len;
        d->left -= (uint32_t)take;
        if (fn(d->stream, data, take, ctx))
            return 1;
        data += take;
        len -= take;
    }
    return 0;
}

bool berth__docker_demux_partial(const struct berth__docker_demux *d)
{
    return !d->raw && (d->hdr_len > 0 || d->left > 0);
}

void berth__docker_logcap_init(struct berth__docker_logcap *c, size_t max)
{
    berth_buf_init(&c->out, 0);
    berth_buf_init(&c->err, 0);
    c->max = max ? max : 1;
    c->truncated = false;
    c->cut_out = false;
    c->cut_err = false;
}

void berth__docker_logcap_release(struct berth__docker_logcap *c)
{
    berth_buf_release(&c->out);
    berth_buf_release(&c->err);
}

/* Keep the last `keep` bytes of b. */
static void keep_tail(struct berth_buf *b, size_t keep)
{
    if (b->len <= keep)
        return;
    memmove(b->data, b->data + (b->len - keep), keep);
    b->len = keep;
    b->data[keep] = '\0';
}

int berth__docker_logcap_add(int stream, const char *data, size_t len,
                             void *ctx)
{
    struct berth__docker_logcap *c = ctx;
    struct berth_buf *b = stream == 2 ? &c->err : &c->out;
    bool *cut = stream == 2 ? &c->cut_err : &c->cut_out;

    if (len >= c->max) {
        if (len > c->max || b->len > 0)
            *cut = true;
        berth_buf_reset(b);
        if (berth_buf_append(b, data + (len - c->max), c->max))
            BERTH_BUG("uncapped log buffer refused bytes");
        return 0;
    }
    if (berth_buf_append(b, data, len))
        BERTH_BUG("uncapped log buffer refused bytes");
    /* Compact only past twice the cap, so each byte moves at most once. */
    if (b->len > 2 * c->max) {
        keep_tail(b, c->max);
        *cut = true;
    }
    return 0;
}

static char *finish_one(struct berth__docker_logcap *c, struct berth_buf *b,
                        bool cut, size_t *len)
{
    if (b->len > c->max) {
        keep_tail(b, c->max);
        cut = true;
    }
    if (cut) {
        c->truncated = true;
        /* The kept part was cut mid-line: start at the next line when one
         * begins near the cut. */
        size_t look = c->max / 4 < 4096 ? c->max / 4 : 4096;
        if (look > b->len)
            look = b->len;
        const char *nl = b->len ? memchr(b->data, '\n', look) : NULL;
        if (nl && (size_t)(nl - b->data) + 1 < b->len)
            keep_tail(b, b->len - (size_t)(nl - b->data) - 1);
    }
    *len = b->len;
    return berth_buf_detach(b);
}

void berth__docker_logcap_finish(struct berth__docker_logcap *c,
                                 struct berth_job_logs *out)
{
    out->out = finish_one(c, &c->out, c->cut_out, &out->out_len);
    out->err = finish_one(c, &c->err, c->cut_err, &out->err_len);
    out->truncated = c->truncated;
}
