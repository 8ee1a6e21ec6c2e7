/*
 * hosts.c - the hosts berth knows from the file (declared plus implicit
 * ones) and the fingerprint of what is synced into a store (see
 * berth/config.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "berth/exec.h"
#include "config_int.h"

static bool has_host(const struct berth_config *c, const char *exec)
{
    for (size_t i = 0; i < c->n_hosts; i++)
        if (c->hosts[i].executor && strcmp(c->hosts[i].executor, exec) == 0)
            return true;
    return false;
}

/* DESIGN.md § Executors: "a cloud executor needs no hosts: entry: it is its
 * own single host unless hosts are listed for it". So is every executor. */
static void implicit_host(const struct berth_executor_conf *e,
                          struct berth_host *h)
{
    const struct berth_exec_ops *ops = berth_exec_ops_find(e->type);
    const char *url = berth_opts_str(&e->opts, "url", NULL);

    berth_host_init(h);
    h->name = berth_xstrdup(e->name);
    h->executor = berth_xstrdup(e->name);
    if (!url && strcmp(e->type, "docker") == 0)
        url = BERTH_DOCKER_DEFAULT_URL;
    h->url = berth_xstrdup(url);
    h->max_concurrent_jobs =
        berth_opts_int(&e->opts, "max_concurrent_jobs",
                       ops ? ops->default_max_concurrent_jobs : 0);
}

int berth_config_hosts(const struct berth_config *c, struct berth_host **out,
                       size_t *n, struct berth_err *err)
{
    struct berth_host *v;
    size_t k = 0;

    (void)err;
    v = berth_xcalloc(c->n_hosts + c->n_executors + 1, sizeof(*v));
    for (size_t i = 0; i < c->n_hosts; i++)
        berth_host_copy(&v[k++], &c->hosts[i]);
    for (size_t i = 0; i < c->n_executors; i++)
        if (!has_host(c, c->executors[i].name))
            implicit_host(&c->executors[i], &v[k++]);
    *out = v;
    *n = k;
    return 0;
}

/* ---- fingerprint ------------------------------------------------------- */

/*
 * The canonical form: records sorted by name, each field as
 * `tag:length:bytes\n`, maps with sorted keys, numbers in one fixed format.
 * Length prefixes keep "a","bc" and "ab","c" apart. A version tag leads so
 * that a change of this form changes every fingerprint.
 */
static void put(struct berth_buf *b, const char *tag, const char *s)
{
    if (!s) {
        berth_buf_printf(b, "%s:-\n", tag);
        return;
    }
    berth_buf_printf(b, "%s:%zu:", tag, strlen(s));
    berth_buf_puts(b, s);
    berth_buf_puts(b, "\n");
}

static void put_i(struct berth_buf *b, const char *tag, int64_t v)
{
    berth_buf_printf(b, "%s=%lld\n", tag, (long long)v);
}

static void put_d(struct berth_buf *b, const char *tag, double v)
{
    berth_buf_printf(b, "%s=%.17g\n", tag, v);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct berth_kv *)a)->key,
                  ((const struct berth_kv *)b)->key);
}

static void put_map(struct berth_buf *b, const char *tag,
                    const struct berth_map *m)
{
    struct berth_kv *kv = berth_xcalloc(m->n + 1, sizeof(*kv));
    if (m->n)
        memcpy(kv, m->kv, m->n * sizeof(*kv));
    qsort(kv, m->n, sizeof(*kv), cmp_kv);
    berth_buf_printf(b, "%s{%zu\n", tag, m->n);
    for (size_t i = 0; i < m->n; i++) {
        put(b, "k", kv[i].key);
        put(b, "v", kv[i].value);
    }
    free(kv);
}

static int cmp_host(const void *a, const void *b)
{
    const struct berth_host *ha = a, *hb = b;
    return strcmp(ha->name ? ha->name : "", hb->name ? hb->name : "");
}

static int cmp_tmpl_ptr(const void *a, const void *b)
{
    const struct berth_template *ta = *(const struct berth_template *const *)a;
    const struct berth_template *tb = *(const struct berth_template *const *)b;
    return strcmp(ta->name ? ta->name : "", tb->name ? tb->name : "");
}

void berth__config_fingerprint(struct berth_config *c)
{
    struct berth_buf b = BERTH_BUF_INIT;
    struct berth_host *hosts = NULL;
    const struct berth_template **tp;
    size_t nh = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    berth_buf_puts(&b, "berth-config-sync-v1\n");
    berth_config_hosts(c, &hosts, &nh, NULL);
    qsort(hosts, nh, sizeof(*hosts), cmp_host);
    for (size_t i = 0; i < nh; i++) {
        const struct berth_host *h = &hosts[i];
        put(&b, "host", h->name);
        put(&b, "executor", h->executor);
        put(&b, "url", h->url);
        put_i(&b, "max_concurrent_jobs", h->max_concurrent_jobs);
        put_i(&b, "memory_mb", h->memory_mb);
        put_d(&b, "cpu_cores", h->cpu_cores);
        put_i(&b, "weight", h->weight);
        put_i(&b, "enabled", h->enabled);
        put(&b, "options", h->options_json);
    }
    for (size_t i = 0; i < nh; i++)
        berth_host_release(&hosts[i]);
    free(hosts);

    tp = berth_xcalloc(c->n_templates + 1, sizeof(*tp));
    for (size_t i = 0; i < c->n_templates; i++)
        tp[i] = &c->templates[i];
    qsort(tp, c->n_templates, sizeof(*tp), cmp_tmpl_ptr);
    for (size_t i = 0; i < c->n_templates; i++) {
        const struct berth_template *t = tp[i];
        put(&b, "template", t->name);
        put(&b, "image", t->image);
        berth_buf_printf(&b, "command[%zu\n", t->command.n);
        for (size_t k = 0; k < t->command.n; k++)
            put(&b, "arg", t->command.v[k]);
        put(&b, "working_dir", t->working_dir);
        put_map(&b, "env", &t->env);
        put(&b, "environment", t->environment);
        put(&b, "network", t->network);
        put_i(&b, "memory_mb", t->memory_mb);
        put_d(&b, "cpu_cores", t->cpu_cores);
        put_i(&b, "timeout_seconds", t->timeout_seconds);
        put_map(&b, "labels", &t->labels);
    }
    free(tp);

    if (!EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL) ||
        mdlen != 32)
        BERTH_BUG("SHA-256 failed");
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(c->fingerprint + 2 * i, 3, "%02x", md[i]);
    berth_buf_release(&b);
}
