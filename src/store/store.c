/*
 * store.c - the public store API: argument checks, then dispatch to the
 * backend chosen by the URL (a static registry, STYLE.md § 6).
 */
#include <stdlib.h>
#include <string.h>

#include "berth/store.h"
#include "berth/util.h"
#include "store/store_int.h"

static const struct berth_store_ops *const backends[] = {
    &berth__store_sqlite,
    &berth__store_pg,
};

/* A cap on one submit: far above any real use, low enough that a typo
 * (--count 1e9) is refused instead of filling the disk. */
#define SUBMIT_MAX_COUNT 10000000u

char *berth__url_redact(const char *url)
{
    const char *scheme = strstr(url, "://");
    const char *at, *colon, *slash;
    struct berth_buf b = BERTH_BUF_INIT;

    if (!scheme)
        return berth_xstrdup(url);
    scheme += 3;
    slash = strchr(scheme, '/');
    at = strchr(scheme, '@');
    if (!at || (slash && at > slash))
        return berth_xstrdup(url);
    colon = memchr(scheme, ':', (size_t)(at - scheme));
    if (!colon)
        return berth_xstrdup(url);
    berth_buf_append(&b, url, (size_t)(colon + 1 - url));
    berth_buf_puts(&b, "***");
    berth_buf_puts(&b, at);
    return berth_buf_detach(&b);
}

static const struct berth_store_ops *find_backend(const char *url)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        for (const char *const *p = backends[i]->prefixes; *p; p++) {
            if (strncmp(url, *p, strlen(*p)) == 0)
                return backends[i];
        }
    }
    return NULL;
}

int berth_store_open(const char *url, struct berth_store **out,
                     struct berth_err *err)
{
    const struct berth_store_ops *ops;
    struct berth_store *st = NULL;
    int rc;

    *out = NULL;
    if (!url || !*url)
        return berth_err_set(err, BERTH_E_INVALID, "empty store URL");
    ops = find_backend(url);
    if (!ops) {
        char *shown = berth__url_redact(url);
        rc = berth_err_set(err, BERTH_E_INVALID,
                           "unknown store URL '%s': expected sqlite:PATH, "
                           "sqlite::memory: or postgresql://…",
                           shown);
        free(shown);
        return rc;
    }
    rc = ops->open(url, &st, err);
    if (rc != 0)
        return rc;
    st->ops = ops;
    if (!st->url)
        st->url = berth__url_redact(url);
    *out = st;
    return 0;
}

void berth_store_free(struct berth_store *st)
{
    if (!st)
        return;
    st->ops->close(st);
}

const char *berth_store_backend(const struct berth_store *st)
{
    return st->ops->name;
}

int berth_store_schema_version(struct berth_store *st, int *out,
                               struct berth_err *err)
{
    *out = 0;
    return st->ops->schema_version(st, out, err);
}

static int need_name(const char *what, const char *name, struct berth_err *err)
{
    if (!name || !*name)
        return berth_err_set(err, BERTH_E_INVALID, "%s name is empty", what);
    return 0;
}

/* Text the store keeps must be UTF-8: JSON columns (command, env, labels)
 * could not hold anything else, and a lossy copy would change the job. */
static int text_ok(const char *what, const char *s, struct berth_err *err)
{
    if (berth_utf8_valid(s))
        return 0;
    return berth_err_set(err, BERTH_E_INVALID, "%s is not valid UTF-8", what);
}

static int strv_ok(const char *what, const struct berth_strv *sv,
                   struct berth_err *err)
{
    for (size_t i = 0; i < sv->n; i++) {
        if (!berth_utf8_valid(sv->v[i]))
            return berth_err_set(err, BERTH_E_INVALID,
                                 "%s item %zu is not valid UTF-8", what, i + 1);
    }
    return 0;
}

static int map_ok(const char *what, const struct berth_map *m,
                  struct berth_err *err)
{
    for (size_t i = 0; i < m->n; i++) {
        if (!berth_utf8_valid(m->kv[i].key))
            return berth_err_set(err, BERTH_E_INVALID,
                                 "a %s key is not valid UTF-8", what);
        if (!berth_utf8_valid(m->kv[i].value))
            return berth_err_set(err, BERTH_E_INVALID,
                                 "the %s value of '%s' is not valid UTF-8",
                                 what, m->kv[i].key);
    }
    return 0;
}

static int job_text_ok(const struct berth_job *j, struct berth_err *err)
{
    int rc;
    if ((rc = text_ok("job name", j->name, err)) != 0 ||
        (rc = text_ok("template name", j->template_name, err)) != 0 ||
        (rc = text_ok("image", j->image, err)) != 0 ||
        (rc = strv_ok("command", &j->command, err)) != 0 ||
        (rc = text_ok("working_dir", j->working_dir, err)) != 0 ||
        (rc = map_ok("env", &j->env, err)) != 0 ||
        (rc = text_ok("network", j->network, err)) != 0 ||
        (rc = map_ok("label", &j->labels, err)) != 0 ||
        (rc = text_ok("preferred executor", j->preferred_executor, err)) != 0 ||
        (rc = text_ok("user", j->user, err)) != 0 ||
        (rc = strv_ok("user groups", &j->user_groups, err)) != 0)
        return rc;
    return 0;
}

static int template_text_ok(const struct berth_template *t,
                            struct berth_err *err)
{
    int rc;
    if ((rc = text_ok("template name", t->name, err)) != 0 ||
        (rc = text_ok("image", t->image, err)) != 0 ||
        (rc = strv_ok("command", &t->command, err)) != 0 ||
        (rc = text_ok("working_dir", t->working_dir, err)) != 0 ||
        (rc = map_ok("env", &t->env, err)) != 0 ||
        (rc = text_ok("environment", t->environment, err)) != 0 ||
        (rc = text_ok("network", t->network, err)) != 0 ||
        (rc = map_ok("label", &t->labels, err)) != 0)
        return rc;
    return 0;
}

int berth_store_meta_get(struct berth_store *st, const char *key, char **out,
                         struct berth_err *err)
{
    int rc;
    *out = NULL;
    if ((rc = need_name("meta key", key, err)) != 0)
        return rc;
    return st->ops->meta_get(st, key, out, err);
}

int berth_store_meta_set(struct berth_store *st, const char *key,
                         const char *value, struct berth_err *err)
{
    int rc;
    if ((rc = need_name("meta key", key, err)) != 0)
        return rc;
    if (!value)
        return berth_err_set(err, BERTH_E_INVALID,
                             "meta value for '%s' is NULL", key);
    return st->ops->meta_set(st, key, value, err);
}

/* ---- templates ---------------------------------------------------------- */

int berth_store_template_put(struct berth_store *st,
                             const struct berth_template *t,
                             struct berth_err *err)
{
    int rc;
    if ((rc = need_name("template", t->name, err)) != 0)
        return rc;
    if (t->memory_mb < 0 || t->cpu_cores < 0 || t->timeout_seconds < 0)
        return berth_err_set(err, BERTH_E_INVALID,
                             "template '%s': memory_mb, cpu_cores and "
                             "timeout_seconds must not be negative",
                             t->name);
    if ((rc = template_text_ok(t, err)) != 0)
        return rc;
    return st->ops->template_put(st, t, err);
}

int berth_store_template_get(struct berth_store *st, const char *name,
                             struct berth_template *out, struct berth_err *err)
{
    int rc;
    berth_template_init(out);
    if ((rc = need_name("template", name, err)) != 0)
        return rc;
    return st->ops->template_get(st, name, out, err);
}

int berth_store_template_list(struct berth_store *st,
                              struct berth_template **out, size_t *n,
                              struct berth_err *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->template_list(st, out, n, err);
}

int berth_store_template_delete(struct berth_store *st, const char *name,
                                struct berth_err *err)
{
    int rc;
    if ((rc = need_name("template", name, err)) != 0)
        return rc;
    return st->ops->template_delete(st, name, err);
}

void berth_store_templates_free(struct berth_template *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_template_release(&v[i]);
    free(v);
}

/* ---- hosts -------------------------------------------------------------- */

int berth_store_host_put(struct berth_store *st, const struct berth_host *h,
                         bool keep_enabled, struct berth_err *err)
{
    int rc;
    if ((rc = need_name("host", h->name, err)) != 0)
        return rc;
    if (!h->executor || !*h->executor)
        return berth_err_set(err, BERTH_E_INVALID, "host '%s' has no executor",
                             h->name);
    if (h->max_concurrent_jobs < 0 || h->memory_mb < 0 || h->cpu_cores < 0)
        return berth_err_set(err, BERTH_E_INVALID,
                             "host '%s': max_concurrent_jobs, memory_mb and "
                             "cpu_cores must not be negative",
                             h->name);
    return st->ops->host_put(st, h, keep_enabled, err);
}

int berth_store_host_get(struct berth_store *st, const char *name,
                         struct berth_host *out, struct berth_err *err)
{
    int rc;
    berth_host_init(out);
    if ((rc = need_name("host", name, err)) != 0)
        return rc;
    return st->ops->host_get(st, name, out, err);
}

int berth_store_host_list(struct berth_store *st, struct berth_host **out,
                          size_t *n, struct berth_err *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->host_list(st, out, n, err);
}

int berth_store_host_delete(struct berth_store *st, const char *name,
                            struct berth_err *err)
{
    int rc;
    if ((rc = need_name("host", name, err)) != 0)
        return rc;
    return st->ops->host_delete(st, name, err);
}

int berth_store_host_set_enabled(struct berth_store *st, const char *name,
                                 bool enabled, struct berth_err *err)
{
    int rc;
    if ((rc = need_name("host", name, err)) != 0)
        return rc;
    return st->ops->host_set_enabled(st, name, enabled, err);
}

void berth_store_hosts_free(struct berth_host *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_host_release(&v[i]);
    free(v);
}

/* ---- jobs --------------------------------------------------------------- */

int berth_store_job_submit(struct berth_store *st, const struct berth_job *spec,
                           size_t count, int64_t now, int64_t *first_id,
                           struct berth_err *err)
{
    int rc;
    *first_id = 0;
    if (count == 0 || count > SUBMIT_MAX_COUNT)
        return berth_err_set(err, BERTH_E_INVALID,
                             "job count %zu is out of range 1..%u", count,
                             SUBMIT_MAX_COUNT);
    if (spec->priority < 0 || spec->priority > 100)
        return berth_err_set(err, BERTH_E_INVALID,
                             "priority %d is out of range 0..100",
                             spec->priority);
    if (spec->max_attempts < 1)
        return berth_err_set(err, BERTH_E_INVALID,
                             "max_attempts %d must be at least 1",
                             spec->max_attempts);
    if (spec->memory_mb < 0 || spec->cpu_cores < 0 ||
        spec->timeout_seconds < 0 || spec->not_before < 0 ||
        spec->start_deadline < 0)
        return berth_err_set(err, BERTH_E_INVALID,
                             "memory_mb, cpu_cores, timeout_seconds, "
                             "not_before and start_deadline must not be "
                             "negative");
    if ((int)spec->retry_strategy < BERTH_RETRY_EXPONENTIAL ||
        (int)spec->retry_strategy > BERTH_RETRY_NONE)
        return berth_err_set(err, BERTH_E_INVALID, "unknown retry strategy %d",
                             (int)spec->retry_strategy);
    if ((rc = job_text_ok(spec, err)) != 0)
        return rc;
    return st->ops->job_submit(st, spec, count, now, first_id, err);
}

int berth_store_job_get(struct berth_store *st, int64_t id,
                        struct berth_job *out, struct berth_err *err)
{
    berth_job_init(out);
    if (id <= 0)
        return berth_err_set(err, BERTH_E_NOTFOUND, "job %lld not found",
                             (long long)id);
    return st->ops->job_get(st, id, out, err);
}

int berth_store_job_list(struct berth_store *st,
                         const struct berth_job_filter *f,
                         struct berth_job **out, size_t *n,
                         struct berth_err *err)
{
    static const struct berth_job_filter all = BERTH_JOB_FILTER_INIT;
    *out = NULL;
    *n = 0;
    if (!f)
        f = &all;
    if (f->status < -1 || f->status >= BERTH_JOB_NSTATES)
        return berth_err_set(err, BERTH_E_INVALID, "unknown job status %d",
                             f->status);
    return st->ops->job_list(st, f, out, n, err);
}

void berth_store_jobs_free(struct berth_job *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_job_release(&v[i]);
    free(v);
}

int berth_store_job_events(struct berth_store *st, int64_t job_id,
                           struct berth_job_event **out, size_t *n,
                           struct berth_err *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->job_events(st, job_id, out, n, err);
}

void berth_store_events_free(struct berth_job_event *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        berth_job_event_release(&v[i]);
    free(v);
}

int berth_store_job_purge(struct berth_store *st, int64_t finished_before,
                          size_t max, size_t *purged, struct berth_err *err)
{
    *purged = 0;
    return st->ops->job_purge(st, finished_before, max, purged, err);
}

static int check_claim(const char *owner, int64_t now, int64_t lease_until,
                       struct berth_err *err)
{
    if (!owner || !*owner)
        return berth_err_set(err, BERTH_E_INVALID, "claim without an owner");
    if (lease_until <= now)
        return berth_err_set(err, BERTH_E_INVALID, "lease must end after now");
    return 0;
}

static int claim(struct berth_store *st, bool orphans, const char *owner,
                 int64_t now, int64_t lease_until, size_t max,
                 struct berth_job **out, size_t *n, struct berth_err *err)
{
    int rc;
    *out = NULL;
    *n = 0;
    if ((rc = check_claim(owner, now, lease_until, err)) != 0)
        return rc;
    if (max == 0)
        return 0;
    return st->ops->job_claim(st, orphans, owner, now, lease_until, max, out, n,
                              err);
}

int berth_store_job_claim(struct berth_store *st, const char *owner,
                          int64_t now, int64_t lease_until, size_t max,
                          struct berth_job **out, size_t *n,
                          struct berth_err *err)
{
    return claim(st, false, owner, now, lease_until, max, out, n, err);
}

int berth_store_job_claim_orphans(struct berth_store *st, const char *owner,
                                  int64_t now, int64_t lease_until, size_t max,
                                  struct berth_job **out, size_t *n,
                                  struct berth_err *err)
{
    return claim(st, true, owner, now, lease_until, max, out, n, err);
}

int berth_store_lease_renew(struct berth_store *st, const char *owner,
                            int64_t lease_until, struct berth_err *err)
{
    if (!owner || !*owner)
        return berth_err_set(err, BERTH_E_INVALID, "lease without an owner");
    return st->ops->lease_renew(st, owner, lease_until, err);
}

int berth_store_lease_release(struct berth_store *st, const char *owner,
                              struct berth_err *err)
{
    if (!owner || !*owner)
        return berth_err_set(err, BERTH_E_INVALID, "lease without an owner");
    return st->ops->lease_release(st, owner, err);
}

int berth_store_apply(struct berth_store *st, struct berth_job_update *ups,
                      size_t n, int64_t now, size_t *applied,
                      struct berth_err *err)
{
    *applied = 0;
    if (n == 0)
        return 0;
    return st->ops->apply(st, ups, n, now, applied, err);
}

/* ---- logs --------------------------------------------------------------- */

int berth_store_logs_put(struct berth_store *st, int64_t job_id, int attempt,
                         const struct berth_job_logs *logs,
                         struct berth_err *err)
{
    if (attempt < 1)
        return berth_err_set(err, BERTH_E_INVALID,
                             "log attempt %d must be at least 1", attempt);
    return st->ops->logs_put(st, job_id, attempt, logs, err);
}

int berth_store_logs_get(struct berth_store *st, int64_t job_id,
                         struct berth_job_logs *out, struct berth_err *err)
{
    int rc;
    berth_job_logs_init(out);
    rc = st->ops->logs_get(st, job_id, out, err);
    if (rc != 0) {
        berth_job_logs_release(out);
        return rc;
    }
    /* "empty when none": never hand out NULL streams. */
    if (!out->out)
        out->out = berth_xstrdup("");
    if (!out->err)
        out->err = berth_xstrdup("");
    return 0;
}

/* ---- figures ------------------------------------------------------------ */

int berth_store_stats(struct berth_store *st, int64_t now,
                      struct berth_store_stats *out, struct berth_err *err)
{
    memset(out, 0, sizeof(*out));
    return st->ops->stats(st, now, out, err);
}
