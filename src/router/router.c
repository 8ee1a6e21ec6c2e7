/*
 * router.c - the ExecutorFactory (DESIGN.md § Routing; see berth/router.h).
 *
 * The router keeps a table of hosts (refreshed from the store by
 * berth_router_sync(), adjusted locally between syncs), a health cache and a
 * circuit breaker per host, a token bucket per executor, and the executor
 * instances. route() walks preferred -> rules -> default and asks
 * host_pick() for each candidate executor.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "berth/log.h"
#include "berth/router.h"
#include "berth/rules.h"

struct rhost {
    struct berth_host h; /* as last read from the store */
    bool listed;         /* in the store's list at the last sync */
    bool gone;           /* no longer in the store, or disabled */
    /* usage changes since the last sync, made by this router's caller */
    int64_t d_jobs;
    int64_t d_mem;
    double d_cpu;
    /* health cache */
    int health; /* 1 ok, 0 failed, -1 unknown */
    int64_t health_at;
    char health_msg[256];
    /* circuit breaker */
    int64_t fails;
    int64_t open_until;
    /* instance */
    struct berth_exec *ex;
    int refs;
};

/* An instance replaced by its host's redefinition while it was held: it
 * lives until its last holder releases it. */
struct retired {
    struct berth_exec *ex;
    int refs;
};

struct bucket {
    const char *executor; /* borrowed from the config */
    double rate;
    double burst;
    double tokens;
    int64_t last;
};

struct berth_router {
    const struct berth_config *cfg;
    const struct berth_clock *clock;
    struct berth_store *st; /* borrowed from the last sync */
    struct rhost *hosts;
    size_t n_hosts;
    size_t cap_hosts;
    struct retired *retired;
    size_t n_retired;
    size_t cap_retired;
    struct rhost **cand; /* host_pick()'s scratch: one slot per host */
    size_t cap_cand;
    struct bucket *buckets;
    size_t n_buckets;
    size_t instances_created;
    size_t health_calls;
    size_t rule_errors;
};

static int64_t now_us(const struct berth_router *r)
{
    return berth_clock_now(r->clock);
}

int berth_router_new(const struct berth_config *cfg,
                     const struct berth_clock *clock, struct berth_router **out,
                     struct berth_err *err)
{
    struct berth_router *r;
    (void)err;

    r = berth_xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    r->clock = clock;
    r->buckets = berth_xcalloc(cfg->n_executors ? cfg->n_executors : 1,
                               sizeof(*r->buckets));
    for (size_t i = 0; i < cfg->n_executors; i++) {
        const struct berth_executor_conf *ec = &cfg->executors[i];
        double rate = berth_opts_num(&ec->opts, "launch_rate", 0);
        struct bucket *b;
        if (rate <= 0)
            continue;
        b = &r->buckets[r->n_buckets++];
        b->executor = ec->name;
        b->rate = rate;
        b->burst =
            berth_opts_num(&ec->opts, "launch_burst", rate < 1 ? 1 : rate);
        if (b->burst < 1)
            b->burst = 1;
        b->tokens = b->burst;
        b->last = now_us(r);
    }
    *out = r;
    return 0;
}

static void host_drop_instance(struct rhost *h)
{
    berth_exec_destroy(h->ex);
    h->ex = NULL;
}

void berth_router_free(struct berth_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_hosts; i++) {
        host_drop_instance(&r->hosts[i]);
        berth_host_release(&r->hosts[i].h);
    }
    for (size_t i = 0; i < r->n_retired; i++)
        berth_exec_destroy(r->retired[i].ex);
    free(r->retired);
    free(r->cand);
    free(r->hosts);
    free(r->buckets);
    free(r);
}

/* Do two optional strings differ (NULL only equals NULL)? */
static bool str_differs(const char *a, const char *b)
{
    if (!a || !b)
        return a != b;
    return strcmp(a, b) != 0;
}

static struct rhost *host_find(struct berth_router *r, const char *name)
{
    for (size_t i = 0; i < r->n_hosts; i++)
        if (strcmp(r->hosts[i].h.name, name) == 0)
            return &r->hosts[i];
    return NULL;
}

int berth_router_sync(struct berth_router *r, struct berth_store *st,
                      struct berth_err *err)
{
    struct berth_host *v = NULL;
    size_t n = 0, keep = 0;
    int rc;

    rc = berth_store_host_list(st, &v, &n, err);
    if (rc)
        return rc;
    r->st = st;
    for (size_t i = 0; i < r->n_hosts; i++)
        r->hosts[i].listed = false;
    for (size_t i = 0; i < n; i++) {
        struct rhost *h = host_find(r, v[i].name);
        if (!h) {
            if (r->n_hosts == r->cap_hosts) {
                r->cap_hosts = r->cap_hosts ? r->cap_hosts * 2 : 16;
                r->hosts =
                    berth_xrealloc(r->hosts, r->cap_hosts * sizeof(*r->hosts));
            }
            h = &r->hosts[r->n_hosts++];
            memset(h, 0, sizeof(*h));
            h->health = -1;
        } else if (strcmp(h->h.executor, v[i].executor) != 0 ||
                   str_differs(h->h.url, v[i].url) ||
                   str_differs(h->h.options_json, v[i].options_json)) {
            /* Redefined: a new instance and a new health answer. An
             * instance still held lives on for its holders only. */
            if (h->refs > 0) {
                if (r->n_retired == r->cap_retired) {
                    r->cap_retired = r->cap_retired ? r->cap_retired * 2 : 4;
                    r->retired = berth_xrealloc(
                        r->retired, r->cap_retired * sizeof(*r->retired));
                }
                r->retired[r->n_retired].ex = h->ex;
                r->retired[r->n_retired].refs = h->refs;
                r->n_retired++;
                h->ex = NULL;
                h->refs = 0;
            }
            host_drop_instance(h);
            h->health = -1;
        }
        berth_host_release(&h->h);
        h->h = v[i]; /* takes the strings */
        berth_host_init(&v[i]);
        h->listed = true;
        h->gone = !h->h.enabled;
        h->d_jobs = 0;
        h->d_mem = 0;
        h->d_cpu = 0;
    }
    berth_store_hosts_free(v, n);

    /* Release instances of hosts that are gone or disabled, once nothing
     * holds them; forget hosts the store no longer lists. */
    for (size_t i = 0; i < r->n_hosts; i++) {
        struct rhost *h = &r->hosts[i];
        if (!h->listed)
            h->gone = true;
        if (h->gone && h->refs == 0)
            host_drop_instance(h);
        if (!h->listed && h->refs == 0) {
            berth_host_release(&h->h);
            continue;
        }
        if (keep != i)
            r->hosts[keep] = *h;
        keep++;
    }
    r->n_hosts = keep;
    return 0;
}

/* ---- health, breaker ------------------------------------------------- */

static int64_t health_ttl_us(const struct berth_router *r, bool ok)
{
    int64_t s = ok ? r->cfg->health_check_ttl : r->cfg->health_failure_ttl;
    return (s > 0 ? s : 0) * BERTH_US_PER_SEC;
}

static int instance_of(struct berth_router *r, struct rhost *h,
                       struct berth_exec **out, struct berth_err *err)
{
    const struct berth_executor_conf *ec;
    struct berth_opts opts;
    struct berth_exec_params p;
    int rc;

    if (h->ex) {
        *out = h->ex;
        return 0;
    }
    ec = berth_config_executor(r->cfg, h->h.executor);
    if (!ec)
        return berth_err_set(err, BERTH_E_CONFIG,
                             "host '%s' belongs to executor '%s', which is "
                             "not configured",
                             h->h.name, h->h.executor);
    berth_opts_copy(&opts, &ec->opts);
    if (h->h.options_json && *h->h.options_json) {
        struct berth_opts over;
        if (berth_opts_from_json(&over, h->h.options_json, err) == 0) {
            berth_opts_merge(&opts, &over);
            berth_opts_release(&over);
        }
    }
    p.executor = ec->name;
    p.opts = &opts;
    p.host = &h->h;
    p.clock = r->clock;
    rc = berth_exec_create(ec->type, &p, &h->ex, err);
    berth_opts_release(&opts);
    if (rc)
        return berth_err_prefix(err, "host '%s'", h->h.name);
    r->instances_created++;
    *out = h->ex;
    return 0;
}

/* Shared health answers live in the store's meta table as
 * "health:<host>" -> {"ok":bool,"at":us,"msg":"..."}. */
static bool health_from_store(struct berth_router *r, struct rhost *h,
                              int64_t now)
{
    char key[300], *val = NULL;
    json_t *o;
    json_error_t jerr;
    bool used = false;

    if (!r->st)
        return false;
    snprintf(key, sizeof(key), "health:%s", h->h.name);
    if (berth_store_meta_get(r->st, key, &val, NULL) != 0 || !val)
        return false;
    o = json_loads(val, 0, &jerr);
    free(val);
    if (o) {
        bool ok = json_is_true(json_object_get(o, "ok"));
        int64_t at = (int64_t)json_integer_value(json_object_get(o, "at"));
        const char *msg = json_string_value(json_object_get(o, "msg"));
        if (at <= now && now - at < health_ttl_us(r, ok)) {
            h->health = ok ? 1 : 0;
            h->health_at = at;
            snprintf(h->health_msg, sizeof(h->health_msg), "%s",
                     msg ? msg : "");
            used = true;
        }
        json_decref(o);
    }
    return used;
}

static void health_to_store(struct berth_router *r, const struct rhost *h)
{
    char key[300];
    json_t *o;
    char *val;

    if (!r->st)
        return;
    snprintf(key, sizeof(key), "health:%s", h->h.name);
    o = json_pack("{s:b,s:I,s:s}", "ok", h->health == 1, "at",
                  (json_int_t)h->health_at, "msg", h->health_msg);
    if (!o)
        return;
    val = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (val)
        berth_store_meta_set(r->st, key, val, NULL);
    free(val);
}

/* Cached health of a host; checks when the cached answer expired. */
static bool host_healthy(struct berth_router *r, struct rhost *h, int64_t now)
{
    struct berth_exec *ex;
    struct berth_err err;
    int rc;

    if (h->health >= 0 && now - h->health_at < health_ttl_us(r, h->health))
        return h->health == 1;
    if (health_from_store(r, h, now))
        return h->health == 1;
    berth_err_init(&err);
    rc = instance_of(r, h, &ex, &err);
    if (rc == 0) {
        r->health_calls++;
        rc = berth_exec_health(ex, &err);
    }
    h->health = rc == 0 ? 1 : 0;
    h->health_at = now;
    snprintf(h->health_msg, sizeof(h->health_msg), "%s",
             rc == 0 ? "" : err.msg);
    if (rc)
        berth_log(BERTH_LOG_WARN, "host unhealthy", BL_S("host", h->h.name),
                  BL_S("executor", h->h.executor), BL_S("error", err.msg));
    health_to_store(r, h);
    return rc == 0;
}

static bool breaker_open(const struct berth_router *r, const struct rhost *h,
                         int64_t now)
{
    (void)r;
    return h->open_until > now;
}

void berth_router_launch_result(struct berth_router *r, const char *host,
                                bool ok)
{
    struct rhost *h = host_find(r, host);
    int64_t limit = r->cfg->breaker_failures;

    if (!h)
        return;
    if (ok) {
        h->fails = 0;
        h->open_until = 0;
        return;
    }
    h->fails++;
    if (limit > 0 && h->fails >= limit) {
        int64_t now = now_us(r);
        h->open_until = now + r->cfg->breaker_cooldown * BERTH_US_PER_SEC;
        /* After the cool-down one launch is let through (half-open): a
         * success closes the breaker, a failure opens it again. */
        h->fails = limit - 1;
        berth_log(BERTH_LOG_WARN, "circuit breaker open", BL_S("host", host),
                  BL_I("cooldown_s", r->cfg->breaker_cooldown));
    }
}

/* ---- capacity --------------------------------------------------------- */

/* No limit (max_concurrent_jobs <= 0) counts as a very large one, as in
 * the store's capacity rule. */
#define UNLIMITED_JOBS (INT64_C(1) << 40)

static int64_t host_max_jobs(const struct rhost *h)
{
    return h->h.max_concurrent_jobs > 0 ? h->h.max_concurrent_jobs
                                        : UNLIMITED_JOBS;
}

static int64_t host_used_jobs(const struct rhost *h)
{
    return h->h.used_jobs + h->d_jobs;
}

/* Could this host ever hold the job (declared totals)? */
static bool host_fits_ever(const struct rhost *h, const struct berth_job *j)
{
    if (h->h.memory_mb > 0 && j->memory_mb > h->h.memory_mb)
        return false;
    if (h->h.cpu_cores > 0 && j->cpu_cores > h->h.cpu_cores + 1e-9)
        return false;
    return true;
}

/* Room now; fills why when not. */
static bool host_room(const struct rhost *h, const struct berth_job *j,
                      char *why, size_t size)
{
    int64_t used = host_used_jobs(h), max = host_max_jobs(h);
    if (used >= max) {
        snprintf(why, size, "host '%s' is full (%" PRId64 "/%" PRId64 " jobs)",
                 h->h.name, used, max);
        return false;
    }
    if (h->h.memory_mb > 0 &&
        h->h.used_memory_mb + h->d_mem + j->memory_mb > h->h.memory_mb) {
        snprintf(why, size,
                 "host '%s' has %" PRId64 " MB free, job needs %" PRId64,
                 h->h.name, h->h.memory_mb - h->h.used_memory_mb - h->d_mem,
                 j->memory_mb);
        return false;
    }
    if (h->h.cpu_cores > 0 &&
        h->h.used_cpu_cores + h->d_cpu + j->cpu_cores > h->h.cpu_cores + 1e-9) {
        snprintf(why, size, "host '%s' has %.2f CPUs free, job needs %.2f",
                 h->h.name, h->h.cpu_cores - h->h.used_cpu_cores - h->d_cpu,
                 j->cpu_cores);
        return false;
    }
    return true;
}

static bool excluded(const struct berth_route_exclude *ex, const char *host)
{
    if (!ex)
        return false;
    for (size_t i = 0; i < ex->n_hosts; i++)
        if (strcmp(ex->hosts[i], host) == 0)
            return true;
    return false;
}

/* Better host: most free slots, then weight, then name. */
static bool host_better(const struct rhost *a, const struct rhost *b)
{
    int64_t fa = host_max_jobs(a) - host_used_jobs(a);
    int64_t fb = host_max_jobs(b) - host_used_jobs(b);
    if (fa != fb)
        return fa > fb;
    if (a->h.weight != b->h.weight)
        return a->h.weight > b->h.weight;
    return strcmp(a->h.name, b->h.name) < 0;
}

struct pick {
    bool possible; /* some host could ever take the job */
    struct rhost *host;
    char why[512]; /* why not, when no host */
};

static void why_add(char *why, size_t size, const char *part)
{
    size_t len = strlen(why);
    if (len >= size - 1)
        return;
    snprintf(why + len, size - len, "%s%s", len ? "; " : "", part);
}

/*
 * DESIGN.md § Routing, "Available": configured and enabled, healthy, and a
 * host with room. Cheap checks first; health (a backend call when the
 * cached answer expired) last, and only for hosts that would be chosen.
 */
static void host_pick(struct berth_router *r, const char *executor,
                      const struct berth_job *job,
                      const struct berth_route_exclude *exclude, int64_t now,
                      struct pick *p)
{
    const struct berth_executor_conf *ec;
    struct rhost **cand;
    size_t nc = 0, n_enabled = 0, n_fit = 0;
    char part[256];

    memset(p, 0, sizeof(*p));
    ec = berth_config_executor(r->cfg, executor);
    if (!ec) {
        snprintf(p->why, sizeof(p->why), "executor '%s' is not configured",
                 executor);
        return;
    }
    if (!ec->enabled) {
        snprintf(p->why, sizeof(p->why), "executor '%s' is disabled", executor);
        return;
    }
    if (r->cap_cand < r->n_hosts) {
        r->cap_cand = r->n_hosts;
        r->cand = berth_xrealloc(r->cand, r->cap_cand * sizeof(*r->cand));
    }
    cand = r->cand;
    for (size_t i = 0; i < r->n_hosts; i++) {
        struct rhost *h = &r->hosts[i];
        if (strcmp(h->h.executor, executor) != 0 || h->gone || !h->h.enabled)
            continue;
        n_enabled++;
        if (!host_fits_ever(h, job)) {
            snprintf(part, sizeof(part),
                     "host '%s' is too small (%" PRId64 " MB, %.2f CPUs)",
                     h->h.name, h->h.memory_mb, h->h.cpu_cores);
            why_add(p->why, sizeof(p->why), part);
            continue;
        }
        n_fit++;
        if (excluded(exclude, h->h.name)) {
            snprintf(part, sizeof(part), "host '%s' failed this launch",
                     h->h.name);
            why_add(p->why, sizeof(p->why), part);
            continue;
        }
        if (breaker_open(r, h, now)) {
            snprintf(part, sizeof(part),
                     "host '%s' circuit breaker open after %" PRId64
                     " failed launches",
                     h->h.name, r->cfg->breaker_failures);
            why_add(p->why, sizeof(p->why), part);
            continue;
        }
        if (!host_room(h, job, part, sizeof(part))) {
            why_add(p->why, sizeof(p->why), part);
            continue;
        }
        cand[nc++] = h;
    }
    if (n_enabled == 0) {
        snprintf(p->why, sizeof(p->why), "executor '%s' has no enabled host",
                 executor);
        return;
    }
    if (n_fit == 0)
        return; /* p->why lists the hosts that are too small */
    p->possible = true;
    /* Best first; the first healthy one wins. */
    while (nc > 0) {
        size_t best = 0;
        for (size_t i = 1; i < nc; i++)
            if (host_better(cand[i], cand[best]))
                best = i;
        if (host_healthy(r, cand[best], now)) {
            p->host = cand[best];
            p->why[0] = '\0';
            return;
        }
        snprintf(part, sizeof(part), "host '%s' is unhealthy: %s",
                 cand[best]->h.name, cand[best]->health_msg);
        why_add(p->why, sizeof(p->why), part);
        cand[best] = cand[--nc];
    }
}

/* ---- the rule context ------------------------------------------------ */

static void job_ctx(const struct berth_router *r, const struct berth_job *j,
                    struct berth_map *merged, struct berth_rule_ctx *c,
                    int64_t now)
{
    const struct berth_user_conf *u = NULL;
    time_t secs = (time_t)(now / BERTH_US_PER_SEC);
    struct tm tm;

    memset(c, 0, sizeof(*c));
    gmtime_r(&secs, &tm);
    berth_map_init(merged);
    berth_map_merge(merged, &j->tmpl_labels);
    berth_map_merge(merged, &j->labels);
    c->job_id = j->id;
    c->job_name = j->name;
    c->job_priority = j->priority;
    c->job_labels = &j->labels;
    c->job_preferred_executor = j->preferred_executor;
    c->template_name = j->template_name;
    c->template_image = j->tmpl_image;
    c->template_labels = &j->tmpl_labels;
    c->template_memory_limit = j->tmpl_memory_mb;
    c->template_cpu_limit = j->tmpl_cpu_cores;
    c->template_timeout_seconds = j->tmpl_timeout_seconds;
    if (j->user) {
        c->has_user = true;
        c->user_name = j->user;
        c->user_groups = &j->user_groups;
        /* Groups given at submit win; else the config's users: entry. */
        if (j->user_groups.n == 0) {
            u = berth_config_user(r->cfg, j->user);
            if (u)
                c->user_groups = &u->groups;
        }
    }
    c->memory_mb = j->memory_mb;
    c->cpu_cores = j->cpu_cores;
    c->timeout_seconds = j->timeout_seconds;
    c->labels = merged;
    c->hour = tm.tm_hour;
    c->weekday = (tm.tm_wday + 6) % 7; /* 0 = Monday, as Python */
}

/* ---- route ------------------------------------------------------------ */

void berth_route_trace_init(struct berth_route_trace *t)
{
    t->steps = NULL;
    t->n = 0;
    t->cap = 0;
}

void berth_route_trace_release(struct berth_route_trace *t)
{
    for (size_t i = 0; i < t->n; i++) {
        struct berth_route_step *s = &t->steps[i];
        free(s->condition);
        free(s->eval_error);
        free(s->executor);
        free(s->host);
        free(s->why);
        free(s->note);
    }
    free(t->steps);
    berth_route_trace_init(t);
}

static struct bucket *bucket_of(const struct berth_router *r,
                                const char *executor)
{
    for (size_t i = 0; i < r->n_buckets; i++)
        if (strcmp(r->buckets[i].executor, executor) == 0)
            return &r->buckets[i];
    return NULL;
}

static void trace_add(const struct berth_router *r, struct berth_route_trace *t,
                      enum berth_route_step_kind kind, int rule_index,
                      const char *condition, bool matched,
                      const char *eval_error, const char *executor,
                      const struct pick *p)
{
    struct berth_route_step *s;
    const struct bucket *b;

    if (!t)
        return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->steps = berth_xrealloc(t->steps, t->cap * sizeof(*t->steps));
    }
    s = &t->steps[t->n++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->rule_index = rule_index;
    s->condition = berth_xstrdup(condition);
    s->matched = matched;
    s->eval_error = berth_xstrdup(eval_error);
    s->executor = berth_xstrdup(executor);
    s->available = p && p->host;
    s->host = s->available ? berth_xstrdup(p->host->h.name) : NULL;
    s->why = berth_xstrdup(p ? p->why : "");
    b = executor ? bucket_of(r, executor) : NULL;
    if (b)
        s->note = berth_xasprintf("launches limited to %g/s (burst %g)",
                                  b->rate, b->burst);
}

static void place(struct berth_route_result *out, const struct pick *p,
                  const char *executor, int rule_index, const char *reason)
{
    out->outcome = BERTH_ROUTE_PLACED;
    snprintf(out->executor, sizeof(out->executor), "%s", executor);
    snprintf(out->host, sizeof(out->host), "%s", p->host->h.name);
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    out->rule_index = rule_index;
}

/* Executors with some enabled, healthy-looking host with a free slot. */
static void list_available(struct berth_router *r, struct berth_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < r->cfg->n_executors; i++) {
        const struct berth_executor_conf *ec = &r->cfg->executors[i];
        bool any = false;
        if (!ec->enabled)
            continue;
        for (size_t k = 0; k < r->n_hosts && !any; k++) {
            const struct rhost *h = &r->hosts[k];
            if (strcmp(h->h.executor, ec->name) != 0 || h->gone ||
                !h->h.enabled || h->health == 0 ||
                host_used_jobs(h) >= host_max_jobs(h))
                continue;
            any = true;
        }
        if (any)
            berth_buf_printf(b, "%s%s", n++ ? ", " : "", ec->name);
    }
    if (n == 0)
        berth_buf_puts(b, "none");
}

int berth_router_route(struct berth_router *r, const struct berth_job *job,
                       const struct berth_route_exclude *exclude,
                       struct berth_route_result *out,
                       struct berth_route_trace *trace, struct berth_err *err)
{
    int64_t t0 = berth_mono_us(), now = now_us(r);
    struct berth_rule_ctx ctx;
    struct berth_map merged;
    struct pick p;
    bool placed = false, possible = false;
    struct berth_buf whynot = BERTH_BUF_INIT;
    char reason[512];
    const char *def;
    (void)err;

    memset(out, 0, sizeof(*out));
    out->rule_index = -1;
    job_ctx(r, job, &merged, &ctx, now);

    /* Step 1: the preferred executor. */
    if (job->preferred_executor && *job->preferred_executor) {
        host_pick(r, job->preferred_executor, job, exclude, now, &p);
        possible |= p.possible;
        trace_add(r, trace, BERTH_STEP_PREFERRED, -1, NULL, true, NULL,
                  job->preferred_executor, &p);
        if (p.host) {
            snprintf(reason, sizeof(reason), "Preferred executor: %s",
                     job->preferred_executor);
            place(out, &p, job->preferred_executor, -1, reason);
            placed = true;
        } else {
            berth_buf_printf(&whynot, "preferred %s: %s",
                             job->preferred_executor, p.why);
            if (!trace)
                berth_log(BERTH_LOG_WARN, "preferred executor unavailable",
                          BL_I("job", job->id),
                          BL_S("executor", job->preferred_executor),
                          BL_S("why", p.why));
        }
    }

    /* Step 2: the rules, already sorted by (priority, file order). */
    for (size_t i = 0; i < r->cfg->n_rules && (!placed || trace); i++) {
        const struct berth_rule_conf *rc = &r->cfg->rules[i];
        struct berth_err rerr;
        int m;

        berth_err_init(&rerr);
        m = rc->compiled ? berth_rule_match(rc->compiled, &ctx, &rerr) : 0;
        if (m < 0) {
            r->rule_errors++;
            if (!trace)
                berth_log(BERTH_LOG_WARN, "rule error", BL_I("job", job->id),
                          BL_I("rule", (int64_t)rc->index),
                          BL_S("condition", rc->condition),
                          BL_S("error", rerr.msg));
            trace_add(r, trace, BERTH_STEP_RULE, (int)rc->index, rc->condition,
                      false, rerr.msg, rc->executor, NULL);
            continue;
        }
        if (m == 0) {
            trace_add(r, trace, BERTH_STEP_RULE, (int)rc->index, rc->condition,
                      false, NULL, rc->executor, NULL);
            continue;
        }
        if (placed) {
            /* explain: show what this matching rule would have found */
            host_pick(r, rc->executor, job, exclude, now, &p);
            trace_add(r, trace, BERTH_STEP_RULE, (int)rc->index, rc->condition,
                      true, NULL, rc->executor, &p);
            continue;
        }
        host_pick(r, rc->executor, job, exclude, now, &p);
        possible |= p.possible;
        trace_add(r, trace, BERTH_STEP_RULE, (int)rc->index, rc->condition,
                  true, NULL, rc->executor, &p);
        if (p.host) {
            if (rc->reason && *rc->reason)
                snprintf(reason, sizeof(reason), "%s", rc->reason);
            else
                snprintf(reason, sizeof(reason), "Matched rule: %s",
                         rc->condition);
            place(out, &p, rc->executor, (int)rc->index, reason);
            placed = true;
        } else {
            berth_buf_printf(&whynot, "%srule %zu (%s): %s",
                             whynot.len ? "; " : "", rc->index, rc->executor,
                             p.why);
        }
    }

    /* Step 3: the default executor. */
    def = r->cfg->default_executor ? r->cfg->default_executor : "docker";
    if (!placed || trace) {
        host_pick(r, def, job, exclude, now, &p);
        if (!placed)
            possible |= p.possible;
        trace_add(r, trace, BERTH_STEP_DEFAULT, -1, NULL, true, NULL, def, &p);
        if (!placed && p.host) {
            const struct berth_executor_conf *ec =
                berth_config_executor(r->cfg, def);
            snprintf(reason, sizeof(reason), "Default fallback to %s",
                     ec ? ec->name : def);
            place(out, &p, def, -1, reason);
            placed = true;
        } else if (!placed) {
            berth_buf_printf(&whynot, "%sdefault %s: %s",
                             whynot.len ? "; " : "", def, p.why);
        }
    }

    /* Step 4: nothing now, or nothing ever. */
    if (!placed) {
        struct berth_buf avail = BERTH_BUF_INIT;
        list_available(r, &avail);
        out->outcome = possible ? BERTH_ROUTE_WAIT : BERTH_ROUTE_NEVER;
        snprintf(out->reason, sizeof(out->reason),
                 "%s: %s; available executors: %s",
                 possible ? "no executor available now"
                          : "no executor can ever take this job",
                 berth_buf_cstr(&whynot), berth_buf_cstr(&avail));
        berth_buf_release(&avail);
    }
    out->elapsed_us = berth_mono_us() - t0;
    berth_buf_release(&whynot);
    berth_map_release(&merged);

    if (!trace) {
        if (placed)
            berth_log(BERTH_LOG_INFO, "job routed", BL_I("job", job->id),
                      BL_S("executor", out->executor), BL_S("host", out->host),
                      BL_I("rule", out->rule_index),
                      BL_S("reason", out->reason), BL_I("us", out->elapsed_us));
        else
            berth_log(out->outcome == BERTH_ROUTE_NEVER ? BERTH_LOG_WARN
                                                        : BERTH_LOG_INFO,
                      out->outcome == BERTH_ROUTE_NEVER ? "job unroutable"
                                                        : "job waits",
                      BL_I("job", job->id), BL_S("reason", out->reason),
                      BL_I("us", out->elapsed_us));
    }
    return 0;
}

void berth_router_note_reserved(struct berth_router *r, const char *host,
                                const struct berth_job *job)
{
    struct rhost *h = host_find(r, host);
    if (!h)
        return;
    h->d_jobs++;
    h->d_mem += job->memory_mb;
    h->d_cpu += job->cpu_cores;
}

void berth_router_note_released(struct berth_router *r, const char *host,
                                const struct berth_job *job)
{
    struct rhost *h = host_find(r, host);
    if (!h)
        return;
    h->d_jobs--;
    h->d_mem -= job->memory_mb;
    h->d_cpu -= job->cpu_cores;
}

bool berth_router_take_token(struct berth_router *r, const char *executor,
                             int64_t *wait_us)
{
    struct bucket *b = bucket_of(r, executor);
    int64_t now = now_us(r);

    *wait_us = 0;
    if (!b)
        return true;
    if (now > b->last) {
        b->tokens += (double)(now - b->last) / 1e6 * b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last = now;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    *wait_us = (int64_t)ceil((1.0 - b->tokens) / b->rate * 1e6);
    if (*wait_us < 1)
        *wait_us = 1;
    return false;
}

int berth_router_instance_get(struct berth_router *r, const char *host,
                              struct berth_exec **out, struct berth_err *err)
{
    struct rhost *h = host_find(r, host);
    int rc;

    *out = NULL;
    if (!h)
        return berth_err_set(err, BERTH_E_NOTFOUND, "unknown host '%s'", host);
    rc = instance_of(r, h, out, err);
    if (rc == 0)
        h->refs++;
    return rc;
}

void berth_router_instance_put(struct berth_router *r, const char *host)
{
    struct rhost *h = host_find(r, host);
    if (!h || h->refs <= 0)
        BERTH_BUG("instance of host '%s' released more than taken", host);
    h->refs--;
    if (h->refs == 0 && h->gone)
        host_drop_instance(h);
}

void berth_router_instance_release(struct berth_router *r, const char *host,
                                   struct berth_exec *ex)
{
    for (size_t i = 0; i < r->n_retired; i++) {
        struct retired *t = &r->retired[i];
        if (t->ex != ex)
            continue;
        if (--t->refs == 0) {
            berth_exec_destroy(t->ex);
            *t = r->retired[--r->n_retired];
        }
        return;
    }
    berth_router_instance_put(r, host);
}

bool berth_router_in_use(const struct berth_router *r)
{
    if (r->n_retired > 0)
        return true;
    for (size_t i = 0; i < r->n_hosts; i++) {
        if (r->hosts[i].refs > 0)
            return true;
    }
    return false;
}

int64_t berth_router_free_slots(const struct berth_router *r)
{
    int64_t total = 0;
    for (size_t i = 0; i < r->n_hosts; i++) {
        const struct rhost *h = &r->hosts[i];
        const struct berth_executor_conf *ec;
        int64_t free_slots;
        if (h->gone || !h->h.enabled)
            continue;
        ec = berth_config_executor(r->cfg, h->h.executor);
        if (!ec || !ec->enabled)
            continue;
        free_slots = host_max_jobs(h) - host_used_jobs(h);
        if (free_slots > 0)
            total += free_slots;
    }
    return total;
}

size_t berth_router_instances_created(const struct berth_router *r)
{
    return r->instances_created;
}

size_t berth_router_health_calls(const struct berth_router *r)
{
    return r->health_calls;
}

size_t berth_router_rule_errors(const struct berth_router *r)
{
    return r->rule_errors;
}

size_t berth_router_hosts(struct berth_router *r, bool check_health,
                          struct berth_router_host_info *out, size_t max)
{
    int64_t now = now_us(r);
    size_t n = 0;

    for (size_t i = 0; i < r->n_hosts; i++) {
        struct rhost *h = &r->hosts[i];
        const struct berth_executor_conf *ec =
            berth_config_executor(r->cfg, h->h.executor);
        struct berth_router_host_info *o;
        if (h->gone && h->h.enabled)
            continue;
        if (check_health && h->h.enabled && ec && ec->enabled)
            host_healthy(r, h, now);
        if (n < max) {
            o = &out[n];
            memset(o, 0, sizeof(*o));
            o->name = h->h.name;
            o->executor = h->h.executor;
            o->type = ec ? ec->type : "?";
            o->executor_enabled = ec && ec->enabled;
            o->enabled = h->h.enabled;
            o->health = h->health;
            o->health_age_us = h->health >= 0 ? now - h->health_at : -1;
            o->health_msg = h->health_msg;
            o->breaker_open = breaker_open(r, h, now);
            o->max_jobs = host_max_jobs(h);
            o->used_jobs = host_used_jobs(h);
            o->memory_mb = h->h.memory_mb;
            o->used_memory_mb = h->h.used_memory_mb + h->d_mem;
            o->cpu_cores = h->h.cpu_cores;
            o->used_cpu_cores = h->h.used_cpu_cores + h->d_cpu;
        }
        n++;
    }
    return n;
}
