/*
 * docker.c - the Docker Engine API backend (DESIGN.md § Executors, docker).
 *
 * One instance per Docker host. It speaks the Engine API over libcurl: a
 * unix socket ("unix:///var/run/docker.sock") or tcp, with TLS and a client
 * certificate when the host's options give them. The API version is
 * negotiated once per instance (the lower of the engine's and
 * BERTH_DOCKER_API_MAX) unless the `api_version` option pins one.
 *
 * A launch creates a container named after (job, attempt) and labelled
 * berth.job / berth.attempt / berth.host, then starts it. A name that is
 * already taken means an earlier launch of the same attempt got that far (a
 * worker died): that container is adopted, and started if it never was.
 *
 * The requests, bodies and parsing live in docker_proto.c; this file does
 * the I/O. Threads: any number may call into one instance; each call takes
 * a CURL handle from a small pool (kept alive between calls) under a mutex,
 * which also guards the negotiated version and the per-container figures.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "berth/log.h"
#include "docker_int.h"
#include "exec_int.h"
#include "http.h"

static const struct berth_opt_spec docker_options[] = {
    {"url", BERTH_OPT_STR,
     "engine URL when the host gives none (unix:///path, tcp://host:port)"},
    {"api_version", BERTH_OPT_STR,
     "Engine API version to pin, e.g. \"1.41\" (default: negotiate)"},
    {"tls", BERTH_OPT_BOOL, "use TLS on tcp:// (implied by tls_* files)"},
    {"tls_ca", BERTH_OPT_STR, "CA certificate file for tcp+TLS"},
    {"tls_cert", BERTH_OPT_STR, "client certificate file"},
    {"tls_key", BERTH_OPT_STR, "client key file"},
    {"auto_pull_images", BERTH_OPT_BOOL, "pull a missing image first"},
    {"keep_containers", BERTH_OPT_BOOL, "keep containers after harvest"},
    {"network", BERTH_OPT_STR,
     "NetworkMode of jobs that name none (default: the engine's)"},
    {"stop_grace_seconds", BERTH_OPT_INT,
     "SIGTERM to SIGKILL grace on timeout and cancel (default 10)"},
    {"namespace", BERTH_OPT_STR,
     "keeps deployments sharing one engine apart (name prefix + label)"},
    {"log_max_bytes", BERTH_OPT_INT,
     "cap on each stored log stream, bytes (default 1048576)"},
    {"allow_swap", BERTH_OPT_BOOL,
     "let jobs swap beyond memory_mb (default false)"},
    {"request_timeout_seconds", BERTH_OPT_INT,
     "timeout of one ordinary engine call (default 60)"},
    {"health_timeout_ms", BERTH_OPT_INT, "timeout of /_ping (default 2000)"},
    {"pull_timeout_seconds", BERTH_OPT_INT,
     "timeout of an image pull (default 600)"},
    {"stats_interval_ms", BERTH_OPT_INT,
     "how often running jobs' memory and CPU are sampled (default 1000, 0 "
     "= never)"},
    {NULL, 0, NULL},
};

#define DEFAULT_URL        "unix:///var/run/docker.sock"
#define POOL_MAX           32
#define TRACK_MAX          4096
#define FIRST_SAMPLE_MS    250
#define DEFAULT_LOG_MAX    (1024 * 1024)
#define ERROR_BODY_MAX     (64 * 1024)
#define CONTAINER_NAME_MAX 128

/* What we remember of a container between calls: its last resource sample
 * (the engine forgets a container's figures when it stops) and whether we
 * stopped it. */
struct docker_track {
    char *id;
    int64_t peak_mem; /* bytes, -1 unknown */
    int64_t cpu_us;   /* -1 unknown */
    int64_t seen;     /* berth_mono_us() when first launched or seen */
    int64_t sampled;  /* berth_mono_us() of the last sample, 0 never */
    int tty;          /* Config.Tty: 0, 1, or -1 unknown */
    bool cancelled;
};

struct docker_exec {
    struct berth_exec base;
    char *host;     /* host name, for labels and messages */
    char *executor; /* pool name, for labels */
    char *url;      /* as configured, for messages */
    struct berth__docker_endpoint ep;
    char *tls_ca, *tls_cert, *tls_key;
    char *network;
    char *namespace_;
    bool auto_pull, keep, allow_swap;
    int stop_grace;
    long request_timeout_ms, health_timeout_ms, pull_timeout_ms;
    size_t log_max;
    int64_t stats_interval_ms;

    pthread_mutex_t mu; /* guards everything below */
    char api[16];       /* "1.41"; "" until negotiated */
    struct berth_http *pool[POOL_MAX];
    size_t npool;
    struct docker_track *track;
    size_t ntrack, cap_track;
};

static struct docker_exec *to_docker(struct berth_exec *ex)
{
    if (ex->ops != &berth__exec_docker)
        BERTH_BUG("not a docker executor instance");
    return (struct docker_exec *)ex;
}

/* ---- instance ----------------------------------------------------------- */

static bool name_chars_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
            return false;
    return true;
}

static int opt_nonneg(const struct berth_opts *o, const char *key, int64_t dflt,
                      int64_t max, int64_t *out, struct berth_err *err)
{
    int64_t v = berth_opts_int(o, key, dflt);
    if (v < 0 || v > max)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "docker option '%s' must be between 0 and "
                             "%" PRId64 ", not %" PRId64,
                             key, max, v);
    *out = v;
    return 0;
}

static void docker_destroy(struct berth_exec *ex);

static int docker_create(const struct berth_exec_params *p,
                         struct berth_exec **out, struct berth_err *err)
{
    const struct berth_opts *o = p->opts;
    struct docker_exec *dx = berth_xcalloc(1, sizeof(*dx));
    const char *url, *pin;
    bool tls;
    int64_t v = 0;
    int rc;

    *out = NULL;
    pthread_mutex_init(&dx->mu, NULL);
    dx->base.ops = &berth__exec_docker;
    dx->host =
        berth_xstrdup(p->host && p->host->name ? p->host->name : p->executor);
    dx->executor = berth_xstrdup(p->executor);
    url = p->host && p->host->url && *p->host->url
              ? p->host->url
              : berth_opts_str(o, "url", DEFAULT_URL);
    dx->url = berth_xstrdup(url);
    dx->tls_ca = berth_xstrdup(berth_opts_str(o, "tls_ca", NULL));
    dx->tls_cert = berth_xstrdup(berth_opts_str(o, "tls_cert", NULL));
    dx->tls_key = berth_xstrdup(berth_opts_str(o, "tls_key", NULL));
    tls = berth_opts_bool(o, "tls", false) || dx->tls_ca || dx->tls_cert ||
          dx->tls_key;
    rc = berth__docker_endpoint_parse(url, tls, &dx->ep, err);
    if (rc)
        goto fail;
    if (dx->ep.socket && tls)
        berth_log(BERTH_LOG_WARN, "docker tls options ignored on a unix socket",
                  BL_S("host", dx->host), BL_S("url", url));
    pin = berth_opts_str(o, "api_version", NULL);
    if (pin && *pin) {
        char chk[16];
        if (*pin == 'v')
            pin++;
        if (berth__docker_api_pick(pin, chk, sizeof(chk), NULL) != 0) {
            rc = berth_err_set(err, BERTH_E_CONFIG,
                               "docker option 'api_version' must look like "
                               "\"1.41\", not '%s'",
                               pin);
            goto fail;
        }
        /* A pin is used as given, even above BERTH_DOCKER_API_MAX. */
        snprintf(dx->api, sizeof(dx->api), "%s", pin);
    }
    dx->network = berth_xstrdup(berth_opts_str(o, "network", NULL));
    dx->namespace_ = berth_xstrdup(berth_opts_str(o, "namespace", NULL));
    if (dx->namespace_ && *dx->namespace_ &&
        (!name_chars_ok(dx->namespace_) || strlen(dx->namespace_) > 40)) {
        rc = berth_err_set(err, BERTH_E_CONFIG,
                           "docker option 'namespace' must be up to 40 of "
                           "[A-Za-z0-9_.-], not '%s'",
                           dx->namespace_);
        goto fail;
    }
    dx->auto_pull = berth_opts_bool(o, "auto_pull_images", false);
    dx->keep = berth_opts_bool(o, "keep_containers", false);
    dx->allow_swap = berth_opts_bool(o, "allow_swap", false);
    if ((rc = opt_nonneg(o, "stop_grace_seconds", 10, 3600, &v, err)))
        goto fail;
    dx->stop_grace = (int)v;
    if ((rc = opt_nonneg(o, "log_max_bytes", DEFAULT_LOG_MAX, INT64_C(1) << 30,
                         &v, err)))
        goto fail;
    dx->log_max = v ? (size_t)v : DEFAULT_LOG_MAX;
    if ((rc = opt_nonneg(o, "request_timeout_seconds", 60, 86400, &v, err)))
        goto fail;
    dx->request_timeout_ms = (long)(v ? v : 60) * 1000;
    if ((rc = opt_nonneg(o, "health_timeout_ms", 2000, 600000, &v, err)))
        goto fail;
    dx->health_timeout_ms = (long)(v ? v : 2000);
    if ((rc = opt_nonneg(o, "pull_timeout_seconds", 600, 86400, &v, err)))
        goto fail;
    dx->pull_timeout_ms = (long)(v ? v : 600) * 1000;
    if ((rc = opt_nonneg(o, "stats_interval_ms", 1000, 3600000, &v, err)))
        goto fail;
    dx->stats_interval_ms = v;
    *out = &dx->base;
    return 0;
fail:
    docker_destroy(&dx->base);
    return rc;
}

static void docker_destroy(struct berth_exec *ex)
{
    struct docker_exec *dx = to_docker(ex);

    for (size_t i = 0; i < dx->npool; i++)
        berth_http_free(dx->pool[i]);
    for (size_t i = 0; i < dx->ntrack; i++)
        free(dx->track[i].id);
    free(dx->track);
    berth__docker_endpoint_release(&dx->ep);
    free(dx->host);
    free(dx->executor);
    free(dx->url);
    free(dx->tls_ca);
    free(dx->tls_cert);
    free(dx->tls_key);
    free(dx->network);
    free(dx->namespace_);
    pthread_mutex_destroy(&dx->mu);
    free(dx);
}

/* ---- per-container figures ---------------------------------------------- */

/* Under dx->mu. NULL when absent and !add. */
static struct docker_track *track_find(struct docker_exec *dx, const char *id,
                                       bool add)
{
    struct docker_track *t;

    for (size_t i = 0; i < dx->ntrack; i++)
        if (strcmp(dx->track[i].id, id) == 0)
            return &dx->track[i];
    if (!add)
        return NULL;
    if (dx->ntrack == TRACK_MAX) {
        /* Forget the oldest: its job is long over or its figures lost. */
        free(dx->track[0].id);
        memmove(&dx->track[0], &dx->track[1],
                (dx->ntrack - 1) * sizeof(*dx->track));
        dx->ntrack--;
    }
    if (dx->ntrack == dx->cap_track) {
        dx->cap_track = dx->cap_track ? dx->cap_track * 2 : 16;
        dx->track =
            berth_xrealloc(dx->track, dx->cap_track * sizeof(*dx->track));
    }
    t = &dx->track[dx->ntrack++];
    t->id = berth_xstrdup(id);
    t->peak_mem = -1;
    t->cpu_us = -1;
    t->seen = berth_mono_us();
    t->sampled = 0;
    t->tty = -1;
    t->cancelled = false;
    return t;
}

static void track_tty(struct docker_exec *dx, const char *id, bool tty)
{
    pthread_mutex_lock(&dx->mu);
    track_find(dx, id, true)->tty = tty;
    pthread_mutex_unlock(&dx->mu);
}

static void track_forget(struct docker_exec *dx, const char *id)
{
    pthread_mutex_lock(&dx->mu);
    for (size_t i = 0; i < dx->ntrack; i++) {
        if (strcmp(dx->track[i].id, id) == 0) {
            free(dx->track[i].id);
            dx->track[i] = dx->track[--dx->ntrack];
            break;
        }
    }
    pthread_mutex_unlock(&dx->mu);
}

/* ---- calls -------------------------------------------------------------- */

static int handle_get(struct docker_exec *dx, struct berth_http **out,
                      struct berth_err *err)
{
    pthread_mutex_lock(&dx->mu);
    if (dx->npool > 0) {
        *out = dx->pool[--dx->npool];
        pthread_mutex_unlock(&dx->mu);
        return 0;
    }
    pthread_mutex_unlock(&dx->mu);
    return berth_http_new(out, err);
}

static void handle_put(struct docker_exec *dx, struct berth_http *h)
{
    pthread_mutex_lock(&dx->mu);
    if (dx->npool < POOL_MAX) {
        dx->pool[dx->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&dx->mu);
    berth_http_free(h);
}

struct dreq {
    const char *method;
    const char *path; /* "/containers/create?..."; gets "/v1.41" first */
    bool unversioned; /* /_ping, /version */
    const char *body; /* NULL: none; "" for an empty POST */
    long timeout_ms;  /* 0: the request timeout; < 0: none */
    long connect_ms;  /* 0: min(request timeout, 10 s) */
    size_t max_body;  /* 0: 16 MiB */
    berth_http_data_fn on_data;
    void *ctx;
};

static int negotiate(struct docker_exec *dx, char *api, size_t size,
                     struct berth_err *err);

/* One call to the engine. 0 when an HTTP response came (any status). */
static int dcall(struct docker_exec *dx, const struct dreq *r,
                 struct berth_http_resp *resp, struct berth_err *err)
{
    static const char *const json_hdr[] = {"Content-Type: application/json",
                                           NULL};
    struct berth_http_req req = {0};
    struct berth_http *h = NULL;
    char api[16], *url;
    int rc;

    if (!r->unversioned) {
        rc = negotiate(dx, api, sizeof(api), err);
        if (rc)
            return rc;
        url = berth_xasprintf("%s/v%s%s", dx->ep.base, api, r->path);
    } else {
        url = berth_xasprintf("%s%s", dx->ep.base, r->path);
    }
    rc = handle_get(dx, &h, err);
    if (rc)
        goto out;
    req.method = r->method;
    req.url = url;
    req.unix_socket = dx->ep.socket;
    if (r->body) {
        req.body = r->body;
        req.body_len = strlen(r->body);
        if (req.body_len > 0)
            req.headers = json_hdr;
    }
    req.timeout_ms = r->timeout_ms < 0   ? 0
                     : r->timeout_ms > 0 ? r->timeout_ms
                                         : dx->request_timeout_ms;
    req.connect_timeout_ms =
        r->connect_ms
            ? r->connect_ms
            : (dx->request_timeout_ms < 10000 ? dx->request_timeout_ms : 10000);
    if (dx->ep.tls) {
        req.ca_file = dx->tls_ca;
        req.cert_file = dx->tls_cert;
        req.key_file = dx->tls_key;
    }
    req.max_body = r->max_body;
    req.on_data = r->on_data;
    req.data_ctx = r->ctx;
    req.on_data_2xx_only = r->on_data != NULL;
    rc = berth_http_do(h, &req, resp, err);
    if (rc)
        berth_err_prefix(err, "docker host '%s'", dx->host);
    handle_put(dx, h);
out:
    free(url);
    return rc;
}

/* The engine's words for a non-2xx response, as an error. */
static int engine_error(struct docker_exec *dx,
                        const struct berth_http_resp *resp, const char *what,
                        struct berth_err *err)
{
    char msg[300];
    char *ctx;
    int rc;

    berth__docker_message(resp->body.data, resp->body.len, msg, sizeof(msg));
    ctx = berth_xasprintf("%s on docker host '%s'", what, dx->host);
    rc = berth_http_status_error(resp->status, ctx, msg, err);
    free(ctx);
    return rc;
}

static int negotiate(struct docker_exec *dx, char *api, size_t size,
                     struct berth_err *err)
{
    struct dreq r = {.method = "GET", .path = "/version", .unversioned = true};
    struct berth_http_resp resp;
    json_t *root = NULL;
    char picked[16];
    int rc;

    pthread_mutex_lock(&dx->mu);
    snprintf(api, size, "%s", dx->api);
    pthread_mutex_unlock(&dx->mu);
    if (*api)
        return 0;

    berth_http_resp_init(&resp);
    r.max_body = ERROR_BODY_MAX;
    rc = dcall(dx, &r, &resp, err);
    if (rc)
        goto out;
    if (resp.status != 200) {
        rc = engine_error(dx, &resp, "cannot read the engine version", err);
        goto out;
    }
    root = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0,
                      NULL);
    rc = berth__docker_api_pick(
        json_string_value(json_object_get(root, "ApiVersion")), picked,
        sizeof(picked), err);
    if (rc) {
        berth_err_prefix(err, "docker host '%s'", dx->host);
        if (err)
            err->transient = true;
        goto out;
    }
    pthread_mutex_lock(&dx->mu);
    if (!dx->api[0])
        snprintf(dx->api, sizeof(dx->api), "%s", picked);
    snprintf(api, size, "%s", dx->api);
    pthread_mutex_unlock(&dx->mu);
    berth_log(BERTH_LOG_DEBUG, "docker api version negotiated",
              BL_S("host", dx->host), BL_S("api", api));
out:
    json_decref(root);
    berth_http_resp_release(&resp);
    return rc;
}

/* Execution ids come back from the store: refuse what is not an id or a
 * name before it goes into a URL path. */
static int check_id(const char *id, struct berth_err *err)
{
    if (!name_chars_ok(id) || strlen(id) >= BERTH_EXEC_ID_MAX)
        return berth_err_set(err, BERTH_E_INVALID,
                             "'%s' is not a docker container id", id ? id : "");
    return 0;
}

static void container_name(const struct docker_exec *dx, int64_t job_id,
                           int attempt, char *buf, size_t size)
{
    char base[64];

    berth_exec_name(job_id, attempt, base, sizeof(base));
    if (dx->namespace_ && *dx->namespace_)
        snprintf(buf, size, "%s-%s", dx->namespace_, base);
    else
        snprintf(buf, size, "%s", base);
}

static int inspect(struct docker_exec *dx, const char *id,
                   struct berth__docker_inspect *out, struct berth_err *err)
{
    struct dreq r = {.method = "GET", .max_body = 4u << 20};
    struct berth_http_resp resp;
    char *path = berth_xasprintf("/containers/%s/json", id);
    int rc;

    berth_http_resp_init(&resp);
    r.path = path;
    rc = dcall(dx, &r, &resp, err);
    if (rc == 0 && resp.status != 200)
        rc = engine_error(dx, &resp, "cannot inspect container", err);
    else if (rc == 0) {
        rc = berth__docker_parse_inspect(resp.body.data, resp.body.len, out,
                                         err);
        if (rc)
            berth_err_prefix(err, "docker host '%s'", dx->host);
    }
    berth_http_resp_release(&resp);
    free(path);
    return rc;
}

/* ---- health ------------------------------------------------------------- */

static int docker_health(struct berth_exec *ex, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct dreq r = {.method = "GET",
                     .path = "/_ping",
                     .unversioned = true,
                     .max_body = 4096};
    struct berth_http_resp resp;
    int rc;

    r.timeout_ms = dx->health_timeout_ms;
    r.connect_ms = dx->health_timeout_ms;
    berth_http_resp_init(&resp);
    rc = dcall(dx, &r, &resp, err);
    if (rc == 0 &&
        (resp.status != 200 || strcmp(berth_buf_cstr(&resp.body), "OK") != 0)) {
        char msg[128];
        berth__docker_message(resp.body.data, resp.body.len, msg, sizeof(msg));
        rc = berth_err_set_transient(err, BERTH_E_BACKEND,
                                     "docker host '%s' (%s) answers /_ping "
                                     "with HTTP %ld '%s' instead of OK",
                                     dx->host, dx->url, resp.status, msg);
    }
    berth_http_resp_release(&resp);
    return rc;
}

/* ---- launch ------------------------------------------------------------- */

/* Scans the pull's progress stream (one JSON object per line) for the
 * engine's "error", which arrives with HTTP 200. */
struct pull_scan {
    struct berth_buf line;
    char error[300];
};

static int pull_on_data(const char *data, size_t len, void *ctx)
{
    struct pull_scan *ps = ctx;

    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            /* Progress lines are short; an endless one is cut, not kept. */
            if (ps->line.len < 64 * 1024)
                berth_buf_append(&ps->line, &data[i], 1);
            continue;
        }
        if (ps->line.len) {
            json_t *o = json_loadb(ps->line.data, ps->line.len, 0, NULL);
            const char *e = json_string_value(json_object_get(o, "error"));
            if (e)
                snprintf(ps->error, sizeof(ps->error), "%s", e);
            json_decref(o);
        }
        berth_buf_reset(&ps->line);
    }
    return 0;
}

static int pull_image(struct docker_exec *dx, const char *image,
                      struct berth_err *err)
{
    struct dreq r = {.method = "POST", .body = "", .max_body = ERROR_BODY_MAX};
    struct pull_scan ps;
    struct berth_http_resp resp;
    char *from, *tag, *efrom, *etag, *path;
    int64_t t0 = berth_mono_us();
    int rc;

    berth__docker_image_split(image, &from, &tag);
    efrom = curl_easy_escape(NULL, from, 0);
    etag = curl_easy_escape(NULL, tag, 0);
    path = berth_xasprintf("/images/create?fromImage=%s%s%s", efrom,
                           *tag ? "&tag=" : "", *tag ? etag : "");
    memset(&ps, 0, sizeof(ps));
    berth_buf_init(&ps.line, 0);
    berth_http_resp_init(&resp);
    r.path = path;
    r.timeout_ms = dx->pull_timeout_ms;
    r.on_data = pull_on_data;
    r.ctx = &ps;
    rc = dcall(dx, &r, &resp, err);
    if (rc == 0 && resp.status != 200) {
        char msg[300];
        berth__docker_message(resp.body.data, resp.body.len, msg, sizeof(msg));
        rc = berth_err_set(err, BERTH_E_NOTFOUND,
                           "no such image '%s' on docker host '%s', and "
                           "pulling it failed: HTTP %ld: %s",
                           image, dx->host, resp.status, msg);
    } else if (rc == 0 && ps.error[0]) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND,
                           "no such image '%s' on docker host '%s', and "
                           "pulling it failed: %s",
                           image, dx->host, ps.error);
    } else if (rc) {
        berth_err_prefix(err, "pulling image '%s'", image);
    }
    berth_log(rc ? BERTH_LOG_WARN : BERTH_LOG_INFO, "docker image pull",
              BL_S("host", dx->host), BL_S("image", image), BL_B("ok", !rc),
              BL_I("us", berth_mono_us() - t0));
    berth_http_resp_release(&resp);
    berth_buf_release(&ps.line);
    curl_free(efrom);
    curl_free(etag);
    free(path);
    free(from);
    free(tag);
    return rc;
}

/* POST /containers/create. *conflict set when the name is taken. */
static int create_container(struct docker_exec *dx, const char *name,
                            const char *body, const char *image, char *id,
                            size_t size, bool *conflict, struct berth_err *err)
{
    struct dreq r = {
        .method = "POST", .body = body, .max_body = ERROR_BODY_MAX};
    struct berth_http_resp resp;
    char *path = berth_xasprintf("/containers/create?name=%s", name);
    bool pulled = false;
    int rc;

    *conflict = false;
    berth_http_resp_init(&resp);
    r.path = path;
again:
    rc = dcall(dx, &r, &resp, err);
    if (rc)
        goto out;
    if (resp.status == 201) {
        rc = berth__docker_parse_created(resp.body.data, resp.body.len, id,
                                         size, err);
        if (rc)
            berth_err_prefix(err, "docker host '%s': creating '%s'", dx->host,
                             name);
        goto out;
    }
    if (resp.status == 409) {
        *conflict = true;
        goto out;
    }
    if (resp.status == 404) {
        /* 404 on create is "No such image" (the only thing it can miss). */
        if (dx->auto_pull && !pulled) {
            rc = pull_image(dx, image, err);
            if (rc)
                goto out;
            pulled = true;
            goto again;
        }
        rc = berth_err_set(err, BERTH_E_NOTFOUND,
                           "no such image '%s' on docker host '%s'%s", image,
                           dx->host,
                           dx->auto_pull ? " (even after pulling it)"
                                         : " (auto_pull_images is off)");
        goto out;
    }
    {
        char *what = berth_xasprintf("cannot create container '%s'", name);
        rc = engine_error(dx, &resp, what, err);
        free(what);
    }
out:
    berth_http_resp_release(&resp);
    free(path);
    return rc;
}

static int docker_remove(struct berth_exec *ex, const char *execution_id,
                         struct berth_err *err);

/* Best effort; errors are logged, never returned. */
static void remove_quietly(struct docker_exec *dx, const char *id)
{
    struct berth_err e;

    berth_err_init(&e);
    if (docker_remove(&dx->base, id, &e))
        berth_log(BERTH_LOG_WARN, "docker cannot remove a failed container",
                  BL_S("host", dx->host), BL_S("container", id),
                  BL_S("error", e.msg));
}

/* Start failures the engine reports with 5xx but that no retry can cure. */
static bool start_error_permanent(const char *msg)
{
    return strstr(msg, "executable file not found") ||
           strstr(msg, "no such file or directory") ||
           strstr(msg, "permission denied") || strstr(msg, "not a directory");
}

static int start_container(struct docker_exec *dx, const char *id,
                           const char *name, struct berth_err *err)
{
    struct dreq r = {.method = "POST", .body = "", .max_body = ERROR_BODY_MAX};
    struct berth_http_resp resp;
    char *path = berth_xasprintf("/containers/%s/start", id);
    int rc;

    berth_http_resp_init(&resp);
    r.path = path;
    rc = dcall(dx, &r, &resp, err);
    if (rc) {
        /* The engine may have started it before the answer was lost: keep
         * the container, so that the next try of this attempt adopts it. */
        goto out;
    }
    if (resp.status == 204 || resp.status == 304)
        goto out;
    {
        char msg[300];
        berth__docker_message(resp.body.data, resp.body.len, msg, sizeof(msg));
        if (start_error_permanent(msg))
            rc = berth_err_set(err, BERTH_E_INVALID,
                               "cannot start container '%s' on docker host "
                               "'%s': %s",
                               name, dx->host, msg);
        else {
            char *what = berth_xasprintf("cannot start container '%s'", name);
            rc = engine_error(dx, &resp, what, err);
            free(what);
        }
    }
    /* The engine refused: a container that can never run is litter. */
    remove_quietly(dx, id);
out:
    berth_http_resp_release(&resp);
    free(path);
    return rc;
}

static int docker_launch(struct berth_exec *ex, const struct berth_launch *req,
                         struct berth_execution *out, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct berth__docker_create c = {
        .host = dx->host,
        .executor = dx->executor,
        .namespace_ = dx->namespace_,
        .network = dx->network,
        .stop_grace_seconds = dx->stop_grace,
        .allow_swap = dx->allow_swap,
    };
    char name[CONTAINER_NAME_MAX];
    int64_t t0 = berth_mono_us();
    bool conflict;
    char *body;
    int rc;

    container_name(dx, req->job_id, req->attempt, name, sizeof(name));
    body = berth__docker_create_body(req, &c);
    rc = create_container(dx, name, body, req->image, out->id, sizeof(out->id),
                          &conflict, err);
    free(body);
    if (rc)
        goto out;
    if (conflict) {
        /* DESIGN.md § Job lifecycle: an earlier launch of this attempt got
         * as far as creating it. Adopt it; start it if it never was. */
        struct berth__docker_inspect in;
        rc = inspect(dx, name, &in, err);
        if (rc) {
            berth_err_prefix(err, "container '%s' exists but", name);
            goto out;
        }
        snprintf(out->id, sizeof(out->id), "%s", in.id);
        out->adopted = true;
        track_tty(dx, in.id, in.tty);
        if (strcmp(in.status, "created") == 0)
            rc = start_container(dx, in.id, name, err);
        goto out;
    }
    rc = start_container(dx, out->id, name, err);
    if (rc == 0)
        track_tty(dx, out->id, false); /* our create body says so */
out:
    berth_log(BERTH_LOG_DEBUG, "docker launch", BL_S("host", dx->host),
              BL_S("container", name), BL_B("adopted", out->adopted),
              BL_B("ok", rc == 0), BL_I("us", berth_mono_us() - t0));
    if (rc)
        out->id[0] = '\0';
    return rc;
}

static int docker_find(struct berth_exec *ex, int64_t job_id, int attempt,
                       struct berth_execution *out, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct berth__docker_inspect in;
    char name[CONTAINER_NAME_MAX];
    int rc;

    container_name(dx, job_id, attempt, name, sizeof(name));
    rc = inspect(dx, name, &in, err);
    if (rc)
        return rc;
    snprintf(out->id, sizeof(out->id), "%s", in.id);
    out->adopted = true;
    return 0;
}

/* ---- status ------------------------------------------------------------- */

/* Take a resource sample of a running container when the last one (or its
 * launch, or the first sight of it) is older than the interval, so that a
 * job shorter than one interval costs the engine no stats call at all.
 * Figures only grow: keep the highest seen. */
static void sample(struct docker_exec *dx, const char *id, bool force)
{
    struct dreq r = {.method = "GET", .max_body = 1u << 20};
    struct berth_http_resp resp;
    struct docker_track *t;
    int64_t now = berth_mono_us(), mem, cpu;
    char *path;

    if (dx->stats_interval_ms == 0)
        return;
    pthread_mutex_lock(&dx->mu);
    t = track_find(dx, id, true);
    if (!force && now - (t->sampled ? t->sampled : t->seen) <
                      dx->stats_interval_ms * 1000) {
        pthread_mutex_unlock(&dx->mu);
        return;
    }
    t->sampled = now;
    pthread_mutex_unlock(&dx->mu);

    path = berth_xasprintf("/containers/%s/stats?stream=0&one-shot=1", id);
    berth_http_resp_init(&resp);
    r.path = path;
    r.timeout_ms = 10000;
    if (dcall(dx, &r, &resp, NULL) == 0 && resp.status == 200 &&
        berth__docker_parse_stats(resp.body.data, resp.body.len, &mem, &cpu,
                                  NULL) == 0) {
        pthread_mutex_lock(&dx->mu);
        t = track_find(dx, id, false); /* NULL: removed meanwhile */
        if (t && mem > t->peak_mem)
            t->peak_mem = mem;
        if (t && cpu > t->cpu_us)
            t->cpu_us = cpu;
        pthread_mutex_unlock(&dx->mu);
    }
    berth_http_resp_release(&resp);
    free(path);
}

static void fill_tracked(struct docker_exec *dx, struct berth_exec_status *q)
{
    struct docker_track *t;

    pthread_mutex_lock(&dx->mu);
    t = track_find(dx, q->execution_id, false);
    if (t) {
        q->peak_memory_bytes = t->peak_mem;
        q->cpu_time_us = t->cpu_us;
        q->cancelled = t->cancelled;
    }
    pthread_mutex_unlock(&dx->mu);
}

static bool transport_error(int rc)
{
    return rc == BERTH_E_NET || rc == BERTH_E_TIMEOUT;
}

/* One status query; returns the transport error, if that is what failed. */
static int status_one(struct docker_exec *dx, struct berth_exec_status *q,
                      struct berth_err *err)
{
    struct berth__docker_inspect in;
    struct berth_err e;
    int rc;

    berth_err_init(&e);
    rc = check_id(q->execution_id, &e);
    if (rc == 0)
        rc = inspect(dx, q->execution_id, &in, &e);
    if (rc == BERTH_E_NOTFOUND) {
        q->state = BERTH_EXEC_LOST;
        snprintf(q->message, sizeof(q->message),
                 "container %.64s is gone from docker host '%s'",
                 q->execution_id, dx->host);
        fill_tracked(dx, q);
        return 0;
    }
    if (rc) {
        q->rc = rc;
        snprintf(q->message, sizeof(q->message), "%s", e.msg);
        if (err)
            *err = e;
        return transport_error(rc) ? rc : 0;
    }
    berth__docker_inspect_to_status(&in, q);
    track_tty(dx, q->execution_id, in.tty);
    if (q->state == BERTH_EXEC_RUNNING)
        sample(dx, in.id, false);
    fill_tracked(dx, q);
    return 0;
}

/*
 * Many at once: one GET /containers/json filtered by id gives every
 * container's state; only those that ended are inspected for their exit
 * code, OOM verdict and times. So following N running jobs costs one engine
 * call per poll, not N. Returns -1 when the list could not be used (then
 * each is inspected), or the transport error that failed the whole call.
 */
static int status_batch(struct docker_exec *dx, struct berth_exec_status *q,
                        size_t n, struct berth_err *err)
{
    struct dreq r = {.method = "GET", .max_body = 16u << 20};
    struct berth_http_resp resp;
    struct berth_exec_object *o = NULL;
    json_t *filter = json_object(), *ids = json_array();
    char *ftext, *fesc, *path;
    size_t no = 0;
    int rc;

    for (size_t i = 0; i < n; i++)
        if (check_id(q[i].execution_id, NULL) == 0)
            json_array_append_new(ids, json_string(q[i].execution_id));
    json_object_set_new(filter, "id", ids);
    ftext = json_dumps(filter, JSON_COMPACT);
    json_decref(filter);
    fesc = curl_easy_escape(NULL, ftext, 0);
    path = berth_xasprintf("/containers/json?all=1&filters=%s", fesc);
    berth_http_resp_init(&resp);
    r.path = path;
    rc = dcall(dx, &r, &resp, err);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            q[i].rc = rc;
            snprintf(q[i].message, sizeof(q[i].message), "%s",
                     err ? err->msg : "engine call failed");
        }
        goto out;
    }
    if (resp.status != 200 ||
        berth__docker_parse_list(resp.body.data, resp.body.len, NULL, &o, &no,
                                 NULL) != 0) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct berth_exec_object *hit = NULL;
        for (size_t k = 0; k < no && !hit; k++)
            if (strcmp(o[k].id, q[i].execution_id) == 0)
                hit = &o[k];
        if (!hit || hit->state == BERTH_EXEC_EXITED) {
            /* Over (details wanted), or asked by a name or short id, or
             * bad, or gone: one inspect says which. */
            status_one(dx, &q[i], NULL);
            continue;
        }
        q[i].state = hit->state;
        if (hit->state == BERTH_EXEC_PENDING)
            snprintf(q[i].message, sizeof(q[i].message), "%s",
                     "created, not started");
        else
            sample(dx, hit->id, false);
        fill_tracked(dx, &q[i]);
    }
out:
    free(o);
    berth_http_resp_release(&resp);
    free(path);
    curl_free(fesc);
    free(ftext);
    return rc;
}

static int docker_status(struct berth_exec *ex, struct berth_exec_status *q,
                         size_t n, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    size_t down = 0;
    int last = 0;

    if (n > 1) {
        int rc = status_batch(dx, q, n, err);
        if (rc >= 0)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = status_one(dx, &q[i], err);
        if (rc) {
            down++;
            last = rc;
        }
    }
    /* The engine answered nothing at all: the call itself failed. */
    return down == n ? last : 0;
}

static int docker_wait(struct berth_exec *ex, struct berth_exec_status *q,
                       int64_t timeout_ms, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    int64_t deadline = berth_mono_us() + timeout_ms * 1000;
    int64_t slice_ms = FIRST_SAMPLE_MS;
    char *path;
    int rc = 0;

    rc = check_id(q->execution_id, err);
    if (rc)
        return rc;
    path = berth_xasprintf("/containers/%s/wait?condition=not-running",
                           q->execution_id);
    for (;;) {
        struct dreq r = {.method = "POST",
                         .body = "",
                         .path = path,
                         .max_body = ERROR_BODY_MAX};
        struct berth_http_resp resp;
        int64_t left = (deadline - berth_mono_us()) / 1000;
        struct berth_err e;

        if (left <= 0)
            break;
        /* Wake up now and then to sample memory and CPU while it runs. */
        r.timeout_ms =
            (long)(dx->stats_interval_ms && slice_ms < left ? slice_ms : left);
        berth_err_init(&e);
        berth_http_resp_init(&resp);
        rc = dcall(dx, &r, &resp, &e);
        berth_http_resp_release(&resp);
        if (rc == BERTH_E_TIMEOUT) {
            sample(dx, q->execution_id, true);
            slice_ms = dx->stats_interval_ms;
            rc = 0;
            continue;
        }
        if (rc) {
            if (err)
                *err = e;
            goto out;
        }
        break; /* 200: it stopped; 404: gone; status() tells either way */
    }
    /* As status(): a transport failure fails the call, anything else is
     * the per-query result's to say. */
    rc = status_one(dx, q, err);
out:
    free(path);
    return rc;
}

/* ---- logs --------------------------------------------------------------- */

struct log_sink {
    struct berth__docker_demux demux;
    berth_exec_log_fn fn;
    void *ctx;
    int rc; /* BERTH_E_PARSE when the stream was malformed */
};

static int log_on_data(const char *data, size_t len, void *ctx)
{
    struct log_sink *s = ctx;
    int rc = berth__docker_demux_feed(&s->demux, data, len, s->fn, s->ctx);

    if (rc < 0)
        s->rc = rc;
    return rc != 0;
}

static int stream_logs(struct docker_exec *dx, const char *id, bool follow,
                       berth_exec_log_fn fn, void *ctx, struct berth_err *err)
{
    struct berth__docker_inspect in;
    struct docker_track *t;
    struct log_sink s;
    struct dreq r = {.method = "GET", .max_body = ERROR_BODY_MAX};
    struct berth_http_resp resp;
    char *path;
    int tty;
    int rc;

    rc = check_id(id, err);
    if (rc)
        return rc;
    /* API 1.41 sends no Content-Type on /logs: the container's Tty says
     * whether the stream is framed. Known for what this instance launched
     * or looked at; asked for otherwise. */
    pthread_mutex_lock(&dx->mu);
    t = track_find(dx, id, false);
    tty = t ? t->tty : -1;
    pthread_mutex_unlock(&dx->mu);
    if (tty < 0) {
        rc = inspect(dx, id, &in, err);
        if (rc)
            return rc;
        tty = in.tty;
    }
    berth__docker_demux_init(&s.demux, tty == 1);
    s.fn = fn;
    s.ctx = ctx;
    s.rc = 0;
    path = berth_xasprintf("/containers/%s/logs?stdout=1&stderr=1%s", id,
                           follow ? "&follow=1" : "");
    berth_http_resp_init(&resp);
    r.path = path;
    r.on_data = log_on_data;
    r.ctx = &s;
    /* Following lasts as long as the job runs; a whole log may be large. */
    r.timeout_ms = follow ? -1 : dx->request_timeout_ms * 10;
    rc = dcall(dx, &r, &resp, err);
    if (rc == 0 && resp.status != 200)
        rc = engine_error(dx, &resp, "cannot read logs", err);
    else if (rc == 0 && s.rc)
        rc = berth_err_set_transient(err, BERTH_E_PARSE,
                                     "malformed log stream of container "
                                     "%.12s from docker host '%s' (bad frame "
                                     "header)",
                                     id, dx->host);
    else if (rc == 0 && berth__docker_demux_partial(&s.demux))
        berth_log(BERTH_LOG_WARN, "docker log stream ended inside a frame",
                  BL_S("host", dx->host), BL_S("container", id));
    berth_http_resp_release(&resp);
    free(path);
    return rc;
}

static int docker_logs(struct berth_exec *ex, const char *execution_id,
                       size_t max_bytes, struct berth_job_logs *out,
                       struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct berth__docker_logcap cap;
    size_t max = dx->log_max;
    int rc;

    if (max_bytes && max_bytes < max)
        max = max_bytes;
    berth__docker_logcap_init(&cap, max);
    rc = stream_logs(dx, execution_id, false, berth__docker_logcap_add, &cap,
                     err);
    if (rc == 0)
        berth__docker_logcap_finish(&cap, out);
    berth__docker_logcap_release(&cap);
    return rc;
}

static int docker_logs_follow(struct berth_exec *ex, const char *execution_id,
                              berth_exec_log_fn fn, void *ctx,
                              struct berth_err *err)
{
    return stream_logs(to_docker(ex), execution_id, true, fn, ctx, err);
}

/* ---- stop and remove ---------------------------------------------------- */

static int docker_cancel(struct berth_exec *ex, const char *execution_id,
                         int grace_seconds, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct dreq r = {.method = "POST", .body = "", .max_body = ERROR_BODY_MAX};
    struct berth_http_resp resp;
    struct docker_track *t;
    int grace = grace_seconds < 0 ? dx->stop_grace : grace_seconds;
    char *path;
    int rc;

    rc = check_id(execution_id, err);
    if (rc)
        return rc;
    /* The engine forgets a container's figures once it stops. */
    sample(dx, execution_id, true);
    pthread_mutex_lock(&dx->mu);
    t = track_find(dx, execution_id, true);
    t->cancelled = true;
    pthread_mutex_unlock(&dx->mu);

    /* POST /stop sends the image's stop signal (SIGTERM), waits t seconds,
     * then SIGKILLs: exactly the grace contract. */
    path = berth_xasprintf("/containers/%s/stop?t=%d", execution_id, grace);
    berth_http_resp_init(&resp);
    r.path = path;
    r.timeout_ms = (long)grace * 1000 + dx->request_timeout_ms;
    rc = dcall(dx, &r, &resp, err);
    if (rc == 0 && resp.status != 204 && resp.status != 304)
        rc = engine_error(dx, &resp, "cannot stop container", err);
    berth_log(BERTH_LOG_INFO, "docker stop", BL_S("host", dx->host),
              BL_S("container", execution_id), BL_I("grace_s", grace),
              BL_B("ok", rc == 0));
    berth_http_resp_release(&resp);
    free(path);
    return rc;
}

static int docker_remove(struct berth_exec *ex, const char *execution_id,
                         struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct dreq r = {.method = "DELETE", .max_body = ERROR_BODY_MAX};
    struct berth_http_resp resp;
    char *path;
    int rc;

    rc = check_id(execution_id, err);
    if (rc)
        return rc;
    path = berth_xasprintf("/containers/%s?force=1&v=1", execution_id);
    berth_http_resp_init(&resp);
    r.path = path;
    rc = dcall(dx, &r, &resp, err);
    /* 404: gone already; 409: someone is removing it right now. */
    if (rc == 0 && resp.status != 204 && resp.status != 404 &&
        resp.status != 409)
        rc = engine_error(dx, &resp, "cannot remove container", err);
    if (rc == 0)
        track_forget(dx, execution_id);
    berth_http_resp_release(&resp);
    free(path);
    return rc;
}

static int docker_cleanup(struct berth_exec *ex, const char *execution_id,
                          struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);

    if (dx->keep) {
        track_forget(dx, execution_id);
        return 0;
    }
    return docker_remove(ex, execution_id, err);
}

static int docker_list(struct berth_exec *ex, struct berth_exec_object **out,
                       size_t *n, struct berth_err *err)
{
    struct docker_exec *dx = to_docker(ex);
    struct dreq r = {.method = "GET", .max_body = 64u << 20};
    struct berth_http_resp resp;
    int rc;

    /* filters={"label":["berth.job"]} */
    r.path = "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22"
             "berth.job%22%5D%7D";
    berth_http_resp_init(&resp);
    rc = dcall(dx, &r, &resp, err);
    if (rc == 0 && resp.status != 200)
        rc = engine_error(dx, &resp, "cannot list containers", err);
    else if (rc == 0)
        rc = berth__docker_parse_list(resp.body.data, resp.body.len,
                                      dx->namespace_ ? dx->namespace_ : "", out,
                                      n, err);
    berth_http_resp_release(&resp);
    return rc;
}

const struct berth_exec_ops berth__exec_docker = {
    .type = "docker",
    .caps = BERTH_EXEC_CAP_BATCH_STATUS | BERTH_EXEC_CAP_CANCEL |
            BERTH_EXEC_CAP_LOGS_FOLLOW | BERTH_EXEC_CAP_WAIT |
            BERTH_EXEC_CAP_LIST,
    .options = docker_options,
    .default_max_concurrent_jobs = 8,
    /* A poll of a host's running jobs is one engine call (status_batch). */
    .poll_interval_ms = 250,
    .create = docker_create,
    .destroy = docker_destroy,
    .health = docker_health,
    .launch = docker_launch,
    .find = docker_find,
    .status = docker_status,
    .logs = docker_logs,
    .logs_follow = docker_logs_follow,
    .cancel = docker_cancel,
    .cleanup = docker_cleanup,
    .wait = docker_wait,
    .list = docker_list,
    .remove = docker_remove,
};
