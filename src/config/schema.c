/*
 * schema.c - the config schema (DESIGN.md § Configuration, § Executors):
 * walks the YAML tree section by section and fills struct berth_config,
 * reporting every problem it finds (see config_int.h).
 *
 * Sections are checked in dependency order whatever their order in the
 * file: executors first (hosts and rules name them), then environments
 * (templates name them), hosts, templates, users, routing rules, and last
 * the cross-references of the top-level keys.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/exec.h"
#include "config_int.h"
#include "scalars.h"

#define PATH_MAX_LEN 256
#define BIG          INT64_C(1000000)
#define YEAR_S       (INT64_C(366) * 86400)

/* ---- field tables ------------------------------------------------------ */

enum ftype {
    F_STR,     /* char * */
    F_INT,     /* int64_t in [min, max] */
    F_INT32,   /* int in [min, max] (min, max within int) */
    F_POS,     /* double > 0 */
    F_BOOL,    /* bool */
    F_SECONDS, /* int64_t seconds in [min, max] */
    F_STRV,    /* struct berth_strv */
    F_MAP,     /* struct berth_map (label names) */
    F_ENV,     /* struct berth_map (variable names) */
    F_CMD,     /* struct berth_strv: a list, or one string for `sh -c` */
    F_NODE,    /* const struct ynode *, stored into aux: checked later */
};

struct field {
    const char *key;
    enum ftype type;
    size_t off;
    int64_t min, max;
    bool required;
};

/* Keys a section does not know go to an `other` handler first (executor
 * options); it returns false when it does not know the key either. */
typedef bool (*other_fn)(struct cfg_ctx *x, const struct ynode *key,
                         const struct ynode *val, const char *path, void *ctx);

static void subpath(char *out, const char *path, const char *key)
{
    if (*path)
        snprintf(out, PATH_MAX_LEN, "%s.%s", path, key);
    else
        snprintf(out, PATH_MAX_LEN, "%s", key);
}

static int read_field(struct cfg_ctx *x, const struct field *f,
                      const struct ynode *v, const char *path, void *target,
                      void *aux)
{
    char *p = (char *)target + f->off;

    switch (f->type) {
    case F_STR:
        return berth__config_get_str(x, v, path, (char **)(void *)p);
    case F_INT:
        return berth__config_get_int(x, v, path, f->min, f->max,
                                     (int64_t *)(void *)p);
    case F_INT32: {
        int64_t i;
        if (berth__config_get_int(x, v, path, f->min, f->max, &i) != 0)
            return -1;
        *(int *)(void *)p = (int)i;
        return 0;
    }
    case F_POS:
        return berth__config_get_num(x, v, path, true, (double *)(void *)p);
    case F_BOOL:
        return berth__config_get_bool(x, v, path, (bool *)(void *)p);
    case F_SECONDS:
        return berth__config_get_seconds(x, v, path, f->min, f->max,
                                         (int64_t *)(void *)p);
    case F_STRV:
        return berth__config_get_strv(x, v, path,
                                      (struct berth_strv *)(void *)p);
    case F_MAP:
    case F_ENV:
        return berth__config_get_strmap(x, v, path, f->type == F_ENV,
                                        (struct berth_map *)(void *)p);
    case F_CMD: {
        struct berth_strv *sv = (struct berth_strv *)(void *)p;
        char *s = NULL;
        if (v->kind == YN_SEQ || berth__config_is_null(v))
            return berth__config_get_strv(x, v, path, sv);
        if (v->kind != YN_SCALAR) {
            char buf[128];
            if (v->kind != YN_BAD)
                berth__config_error(
                    x, v, "%s: expected a list of strings, got %s", path,
                    berth__config_describe(v, buf, sizeof(buf)));
            return -1;
        }
        /* One string is a shell command line, as in a Dockerfile's shell
         * form: ["sh", "-c", string]. */
        if (berth__config_get_str(x, v, path, &s) != 0)
            return -1;
        berth_strv_release(sv);
        berth_strv_push(sv, "sh");
        berth_strv_push(sv, "-c");
        berth_strv_push(sv, s);
        free(s);
        return 0;
    }
    case F_NODE:
        *(const struct ynode **)(void *)((char *)aux + f->off) = v;
        return 0;
    }
    return -1;
}

/* NULL-terminated union of two name lists; caller frees the array. */
static const char **names_join(const struct field *tab,
                               const char *const *extra)
{
    size_t n = 0, k = 0;
    const char **v;
    for (const struct field *f = tab; f && f->key; f++)
        n++;
    for (size_t i = 0; extra && extra[i]; i++)
        n++;
    v = berth_xcalloc(n + 1, sizeof(*v));
    for (const struct field *f = tab; f && f->key; f++)
        v[k++] = f->key;
    for (size_t i = 0; extra && extra[i]; i++)
        v[k++] = extra[i];
    return v;
}

static void unknown_key(struct cfg_ctx *x, const struct ynode *k,
                        const char *path, const char *const *cand)
{
    const char *s = berth__config_suggest(k->text, cand);
    struct berth_buf b = BERTH_BUF_INIT;

    if (s) {
        berth_buf_printf(&b, "did you mean '%s'?", s);
    } else {
        berth_buf_puts(&b, "valid keys: ");
        for (size_t i = 0; cand[i]; i++)
            berth_buf_printf(&b, "%s%s", i ? ", " : "", cand[i]);
    }
    if (*path)
        berth__config_error(x, k, "%s: unknown key '%s' (%s)", path, k->text,
                            berth_buf_cstr(&b));
    else
        berth__config_error(x, k, "unknown top-level key '%s' (%s)", k->text,
                            berth_buf_cstr(&b));
    berth_buf_release(&b);
}

static bool expect_map(struct cfg_ctx *x, const struct ynode *n,
                       const char *path, const char *what)
{
    char buf[128];
    if (n->kind == YN_MAP)
        return true;
    if (n->kind != YN_BAD && !berth__config_is_null(n))
        berth__config_error(x, n, "%s: expected %s, got %s", path, what,
                            berth__config_describe(n, buf, sizeof(buf)));
    return false;
}

static bool expect_seq(struct cfg_ctx *x, const struct ynode *n,
                       const char *path, const char *what)
{
    char buf[128];
    if (n->kind == YN_SEQ)
        return true;
    if (n->kind != YN_BAD && !berth__config_is_null(n))
        berth__config_error(x, n, "%s: expected %s, got %s", path, what,
                            berth__config_describe(n, buf, sizeof(buf)));
    return false;
}

/*
 * Read a mapping's keys through the table (known keys), then `other`, and
 * report the rest as unknown, with a suggestion drawn from the table and
 * `extra` names. Reports required keys that are missing. Returns 0 when
 * everything read cleanly.
 */
static int walk_fields(struct cfg_ctx *x, const struct ynode *map,
                       const char *path, const struct field *tab, void *target,
                       void *aux, other_fn other, void *octx,
                       const char *const *extra)
{
    size_t before = berth__config_error_count(x);
    unsigned long seen = 0;

    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
        const struct field *f = NULL;
        char sub[PATH_MAX_LEN];
        size_t fi = 0;

        if (k->kind != YN_SCALAR)
            continue;
        for (const struct field *t = tab; t->key; t++, fi++) {
            if (strcmp(t->key, k->text) == 0) {
                f = t;
                break;
            }
        }
        subpath(sub, path, k->text);
        if (f) {
            seen |= 1ul << fi;
            read_field(x, f, v, sub, target, aux);
        } else if (!other || !other(x, k, v, sub, octx)) {
            const char **cand = names_join(tab, extra);
            unknown_key(x, k, path, cand);
            free(cand);
        }
    }
    for (size_t fi = 0; tab[fi].key; fi++)
        if (tab[fi].required && !(seen & (1ul << fi)))
            berth__config_error(x, map, "%s: missing required key '%s'", path,
                                tab[fi].key);
    return berth__config_error_count(x) == before ? 0 : -1;
}

/* A reference to a named thing: "did you mean" or the list of names. */
static void unknown_ref(struct cfg_ctx *x, const struct ynode *n,
                        const char *path, const char *value, const char *what,
                        const char *const *names)
{
    const char *s = berth__config_suggest(value, names);
    struct berth_buf b = BERTH_BUF_INIT;

    if (s) {
        berth_buf_printf(&b, "did you mean '%s'?", s);
    } else if (!names[0]) {
        berth_buf_printf(&b, "none is defined");
    } else {
        berth_buf_puts(&b, "defined: ");
        for (size_t i = 0; names[i]; i++)
            berth_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    }
    berth__config_error(x, n, "%s: '%s' is not %s (%s)", path, value, what,
                        berth_buf_cstr(&b));
    berth_buf_release(&b);
}

/* ---- executor options -------------------------------------------------- */

/* Keys every executor takes, stored in its opts beside the backend's. */
static const struct berth_opt_spec common_opts[] = {
    {"max_concurrent_jobs", BERTH_OPT_INT, "jobs at once (per host)"},
    {"launch_rate", BERTH_OPT_NUM, "launches per second (token bucket)"},
    {"launch_burst", BERTH_OPT_INT, "token bucket size"},
    {NULL, 0, NULL},
};

/* Per-host overrides may set these too (max_concurrent_jobs is a host
 * field). */
static const struct berth_opt_spec host_common_opts[] = {
    {"launch_rate", BERTH_OPT_NUM, "launches per second (token bucket)"},
    {"launch_burst", BERTH_OPT_INT, "token bucket size"},
    {NULL, 0, NULL},
};

static int read_opt(struct cfg_ctx *x, const struct berth_opt_spec *spec,
                    const struct ynode *v, const char *path,
                    struct berth_opts *opts)
{
    struct berth_opt *op;
    int rc = -1;

    if (strcmp(spec->name, "max_concurrent_jobs") == 0 ||
        strcmp(spec->name, "launch_burst") == 0) {
        int64_t i;
        if ((rc = berth__config_get_int(x, v, path, 1, BIG, &i)) == 0)
            berth_opts_set_int(opts, spec->name, i);
    } else if (strcmp(spec->name, "launch_rate") == 0) {
        double d;
        if ((rc = berth__config_get_num(x, v, path, true, &d)) == 0)
            berth_opts_set_num(opts, spec->name, d);
    } else {
        switch (spec->type) {
        case BERTH_OPT_STR: {
            char *s = NULL;
            if ((rc = berth__config_get_str(x, v, path, &s)) == 0)
                berth_opts_set_str(opts, spec->name, s);
            free(s);
            break;
        }
        case BERTH_OPT_INT: {
            int64_t i;
            if ((rc = berth__config_get_int(x, v, path, INT64_MIN, INT64_MAX,
                                            &i)) == 0)
                berth_opts_set_int(opts, spec->name, i);
            break;
        }
        case BERTH_OPT_NUM: {
            double d;
            if ((rc = berth__config_get_num(x, v, path, false, &d)) == 0)
                berth_opts_set_num(opts, spec->name, d);
            break;
        }
        case BERTH_OPT_BOOL: {
            bool b;
            if ((rc = berth__config_get_bool(x, v, path, &b)) == 0)
                berth_opts_set_bool(opts, spec->name, b);
            break;
        }
        case BERTH_OPT_LIST: {
            struct berth_strv sv = BERTH_STRV_INIT;
            if ((rc = berth__config_get_strv(x, v, path, &sv)) == 0)
                berth_opts_set_list(opts, spec->name, &sv);
            berth_strv_release(&sv);
            break;
        }
        }
    }
    if (rc == 0 &&
        (op = (struct berth_opt *)berth_opts_find(opts, spec->name))) {
        op->line = v->line;
        op->col = v->col;
    }
    return rc;
}

struct opt_ctx {
    const struct berth_exec_ops *ops; /* NULL: type unknown, reported */
    const struct berth_opt_spec *common;
    struct berth_opts *opts;
    const char *owner; /* "executor 'x'" / "host 'y'" for messages */
};

/* An option some other backend takes: say so, it is the likely mix-up. */
static bool foreign_opt(struct cfg_ctx *x, const struct ynode *k,
                        const char *path, const struct opt_ctx *oc)
{
    const struct berth_exec_ops *const *all = berth_exec_ops_all();
    for (size_t i = 0; all[i]; i++) {
        if (all[i] == oc->ops || !berth_opt_spec_find(all[i]->options, k->text))
            continue;
        berth__config_error(x, k,
                            "%s: '%s' is an option of %s executors, not of "
                            "%s (type %s)",
                            path, k->text, all[i]->type, oc->owner,
                            oc->ops->type);
        return true;
    }
    return false;
}

static bool opt_other(struct cfg_ctx *x, const struct ynode *k,
                      const struct ynode *v, const char *path, void *ctx)
{
    struct opt_ctx *oc = ctx;
    const struct berth_opt_spec *spec;

    if (!oc->ops)
        return true; /* cannot check options of an unknown type */
    spec = berth_opt_spec_find(oc->common, k->text);
    if (!spec)
        spec = berth_opt_spec_find(oc->ops->options, k->text);
    if (spec) {
        read_opt(x, spec, v, path, oc->opts);
        return true;
    }
    return foreign_opt(x, k, path, oc);
}

/* Option names of a backend plus the common ones (each once),
 * NULL-terminated; caller frees the array. */
static const char **opt_names(const struct berth_opt_spec *common,
                              const struct berth_exec_ops *ops)
{
    const struct berth_opt_spec *own = ops ? ops->options : NULL;
    size_t n = 0, k = 0;
    const char **v;
    for (const struct berth_opt_spec *s = common; s->name; s++)
        n++;
    for (const struct berth_opt_spec *s = own; s && s->name; s++)
        n++;
    v = berth_xcalloc(n + 1, sizeof(*v));
    for (const struct berth_opt_spec *s = common; s->name; s++)
        v[k++] = s->name;
    for (const struct berth_opt_spec *s = own; s && s->name; s++)
        if (!berth_opt_spec_find(common, s->name))
            v[k++] = s->name;
    return v;
}

static const char **type_names(void)
{
    const struct berth_exec_ops *const *all = berth_exec_ops_all();
    size_t n = 0;
    const char **v;
    while (all[n])
        n++;
    v = berth_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = all[i]->type;
    return v;
}

/* ---- executors --------------------------------------------------------- */

static const struct field executor_fields[] = {
    {"type", F_STR, offsetof(struct berth_executor_conf, type), 0, 0, false},
    {"enabled", F_BOOL, offsetof(struct berth_executor_conf, enabled), 0, 0,
     false},
    {NULL, 0, 0, 0, 0, false},
};

static const char **executor_names(const struct berth_config *c)
{
    const char **v = berth_xcalloc(c->n_executors + 1, sizeof(*v));
    for (size_t i = 0; i < c->n_executors; i++)
        v[i] = c->executors[i].name;
    return v;
}

static void check_executor(struct cfg_ctx *x, const struct ynode *k,
                           const struct ynode *v)
{
    struct berth_config *c = x->cfg;
    struct berth_executor_conf *e = &c->executors[c->n_executors++];
    const struct ynode *tn = NULL;
    const struct berth_exec_ops *ops;
    char path[PATH_MAX_LEN], owner[PATH_MAX_LEN];
    struct opt_ctx oc;
    const char **extra;

    e->name = berth_xstrdup(k->text);
    e->enabled = true;
    e->line = k->line;
    e->col = k->col;
    berth_opts_init(&e->opts);
    snprintf(path, sizeof(path), "executors.%s", k->text);
    berth__config_check_name(x, k, "executors", k->text);
    if (v->kind == YN_MAP && (tn = berth__config_map_get(v, "type")))
        berth__config_get_str(x, tn, "type", &e->type);
    if (!e->type) {
        if (tn) { /* bad `type:`, reported: skip the options */
            e->type = berth_xstrdup(e->name);
            return;
        }
        e->type = berth_xstrdup(e->name);
    }
    ops = berth_exec_ops_find(e->type);
    if (!ops) {
        const char **types = type_names();
        const char *s = berth__config_suggest(e->type, types);
        char hint[PATH_MAX_LEN];
        if (s)
            snprintf(hint, sizeof(hint), "did you mean '%s'?", s);
        else
            snprintf(hint, sizeof(hint), "known types: %s%s%s%s%s%s%s",
                     types[0] ? types[0] : "", types[1] ? ", " : "",
                     types[1] ? types[1] : "", types[2] ? ", " : "",
                     types[2] ? types[2] : "", types[3] ? ", " : "",
                     types[3] ? types[3] : "");
        if (tn)
            berth__config_error(x, tn,
                                "%s.type: unknown executor type '%s' "
                                "(%s)",
                                path, e->type, hint);
        else
            berth__config_error(x, k,
                                "%s: unknown executor type '%s' (%s; name "
                                "the type with `type:` for a named pool)",
                                path, e->type, hint);
        free(types);
    }
    if (!expect_map(x, v, path, "a mapping of executor options"))
        return;
    snprintf(owner, sizeof(owner), "executor '%s'", e->name);
    oc.ops = ops;
    oc.common = common_opts;
    oc.opts = &e->opts;
    oc.owner = owner;
    extra = opt_names(common_opts, ops);
    walk_fields(x, v, path, executor_fields, e, NULL, opt_other, &oc, extra);
    free(extra);
}

static void check_executors(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (!expect_map(x, n, "executors",
                    "a mapping of executor names to their options"))
        return;
    c->executors = berth_xcalloc(n->n / 2 + 1, sizeof(*c->executors));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        if (n->kids[i]->kind != YN_SCALAR)
            continue;
        /* A duplicate name was reported by the parser: keep the first. */
        if (n->kids[i]->dup)
            continue;
        check_executor(x, n->kids[i], n->kids[i + 1]);
    }
}

/* ---- environments ------------------------------------------------------ */

static void check_environments(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (!expect_map(x, n, "environments",
                    "a mapping of environment names to variables"))
        return;
    c->environments = berth_xcalloc(n->n / 2 + 1, sizeof(*c->environments));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct ynode *k = n->kids[i];
        struct berth_environment_conf *e;
        char path[PATH_MAX_LEN];

        if (k->kind != YN_SCALAR || k->dup)
            continue;
        e = &c->environments[c->n_environments++];
        e->name = berth_xstrdup(k->text);
        berth_map_init(&e->vars);
        berth__config_check_name(x, k, "environments", k->text);
        snprintf(path, sizeof(path), "environments.%s", k->text);
        berth__config_get_strmap(x, n->kids[i + 1], path, true, &e->vars);
    }
}

/* ---- hosts ------------------------------------------------------------- */

static const struct field host_fields[] = {
    {"name", F_STR, offsetof(struct berth_host, name), 0, 0, true},
    {"executor", F_STR, offsetof(struct berth_host, executor), 0, 0, true},
    {"url", F_STR, offsetof(struct berth_host, url), 0, 0, false},
    {"max_concurrent_jobs", F_INT,
     offsetof(struct berth_host, max_concurrent_jobs), 1, BIG, false},
    {"memory_mb", F_INT, offsetof(struct berth_host, memory_mb), 1,
     INT64_C(1) << 40, false},
    {"cpu_cores", F_POS, offsetof(struct berth_host, cpu_cores), 0, 0, false},
    {"weight", F_INT, offsetof(struct berth_host, weight), 0, BIG, false},
    {"enabled", F_BOOL, offsetof(struct berth_host, enabled), 0, 0, false},
    {NULL, 0, 0, 0, 0, false},
};

static int cmp_opt(const void *a, const void *b)
{
    return strcmp(((const struct berth_opt *)a)->key,
                  ((const struct berth_opt *)b)->key);
}

/* Position of item i's `name:` value, for "first at" notes. */
static const struct ynode *name_node(const struct ynode *seq, size_t i)
{
    const struct ynode *nn = berth__config_map_get(seq->kids[i], "name");
    return nn ? nn : seq->kids[i];
}

struct named {
    const char *name;
    const struct ynode *node;
    size_t idx;
};

static int cmp_named(const void *a, const void *b)
{
    const struct named *na = a, *nb = b;
    int r = strcmp(na->name, nb->name);
    if (r)
        return r;
    return na->idx < nb->idx ? -1 : na->idx > nb->idx;
}

/* Report every item of the list whose `name:` repeats an earlier item's.
 * Sorting keeps this O(n log n) however long the list. Names that are
 * invalid (when valid_only) or null were reported elsewhere. */
static void dup_names(struct cfg_ctx *x, const struct ynode *seq,
                      const char *list, const char *what, bool valid_only)
{
    struct named *v = berth_xcalloc(seq->n + 1, sizeof(*v));
    size_t n = 0;

    for (size_t i = 0; i < seq->n; i++) {
        const struct ynode *nn = berth__config_map_get(seq->kids[i], "name");
        if (!nn || nn->kind != YN_SCALAR || berth__config_is_null(nn) ||
            (valid_only && !berth__config_valid_name(nn->text)))
            continue;
        v[n].name = nn->text;
        v[n].node = nn;
        v[n].idx = i;
        n++;
    }
    qsort(v, n, sizeof(*v), cmp_named);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(v[i].name, v[first].name) != 0) {
            first = i;
            continue;
        }
        berth__config_error(x, v[i].node,
                            "%s[%zu].name: duplicate %s name '%s' (first at "
                            "%d:%d)",
                            list, v[i].idx, what, v[i].name,
                            v[first].node->line, v[first].node->col);
    }
    free(v);
}

static void check_host(struct cfg_ctx *x, const struct ynode *seq, size_t idx)
{
    struct berth_config *c = x->cfg;
    const struct ynode *v = seq->kids[idx], *en, *nn;
    const struct berth_executor_conf *ex = NULL;
    const struct berth_exec_ops *ops = NULL;
    struct berth_host *h;
    struct berth_opts opts = BERTH_OPTS_INIT;
    struct opt_ctx oc;
    char path[PATH_MAX_LEN], sub[PATH_MAX_LEN], owner[PATH_MAX_LEN];
    const char **extra;

    snprintf(path, sizeof(path), "hosts[%zu]", idx);
    if (!expect_map(x, v, path, "a mapping (name, executor, url, ...)")) {
        if (berth__config_is_null(v))
            berth__config_error(x, v,
                                "%s: expected a mapping (name, "
                                "executor, url, ...), got nothing",
                                path);
        return;
    }
    en = berth__config_map_get(v, "executor");
    if (en && en->kind == YN_SCALAR)
        ex = berth_config_executor(c, en->text);
    if (ex)
        ops = berth_exec_ops_find(ex->type);
    /* With an unknown executor (reported below) or type (reported with the
     * executor), opt_other lets other keys pass: they cannot be checked. */

    h = &c->hosts[c->n_hosts++];
    berth_host_init(h);
    snprintf(owner, sizeof(owner), "the hosts of executor '%s'",
             ex ? ex->name : "?");
    oc.ops = ops;
    oc.common = host_common_opts;
    oc.opts = &opts;
    oc.owner = owner;
    extra = opt_names(host_common_opts, ops);
    walk_fields(x, v, path, host_fields, h, NULL, opt_other, &oc, extra);
    free(extra);

    nn = berth__config_map_get(v, "name");
    if (h->name && nn) {
        snprintf(sub, sizeof(sub), "%s.name", path);
        berth__config_check_name(x, nn, sub, h->name);
    }
    if (h->executor && en && !ex) {
        const char **names = executor_names(c);
        snprintf(sub, sizeof(sub), "%s.executor", path);
        unknown_ref(x, en, sub, h->executor, "a configured executor", names);
        free(names);
    }
    if (ex) {
        /* Inherit from the executor what the host does not say. */
        if (h->max_concurrent_jobs == 0)
            h->max_concurrent_jobs =
                berth_opts_int(&ex->opts, "max_concurrent_jobs",
                               ops ? ops->default_max_concurrent_jobs : 0);
        if (!h->url) {
            const char *u = berth_opts_str(&ex->opts, "url", NULL);
            if (!u && strcmp(ex->type, "docker") == 0)
                u = BERTH_DOCKER_DEFAULT_URL;
            h->url = berth_xstrdup(u);
        }
    }
    if (opts.n) {
        /* Sorted, so the text (and the fingerprint) does not depend on the
         * order the keys were written in. */
        qsort(opts.v, opts.n, sizeof(*opts.v), cmp_opt);
        h->options_json = berth_opts_to_json(&opts);
    }
    berth_opts_release(&opts);
}

static bool has_declared_host(const struct berth_config *c, const char *exec)
{
    for (size_t i = 0; i < c->n_hosts; i++)
        if (c->hosts[i].executor && strcmp(c->hosts[i].executor, exec) == 0)
            return true;
    return false;
}

static void check_hosts(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (!expect_seq(x, n, "hosts", "a list of hosts"))
        return;
    c->hosts = berth_xcalloc(n->n + 1, sizeof(*c->hosts));
    for (size_t i = 0; i < n->n; i++)
        check_host(x, n, i);
    dup_names(x, n, "hosts", "host", true);
    /* A declared host may not take the name of an executor's implicit host
     * (berth_config_hosts()). */
    for (size_t i = 0; i < c->n_hosts; i++) {
        const struct berth_host *h = &c->hosts[i];
        const struct berth_executor_conf *e;
        if (!h->name || !(e = berth_config_executor(c, h->name)) ||
            has_declared_host(c, e->name))
            continue;
        berth__config_error(x, name_node(n, i),
                            "hosts[%zu].name: '%s' is also the name of the "
                            "implicit host of executor '%s', which declares no "
                            "hosts: rename this host or declare one for '%s'",
                            i, h->name, e->name, e->name);
    }
}

/* ---- templates --------------------------------------------------------- */

static const struct field template_fields[] = {
    {"name", F_STR, offsetof(struct berth_template, name), 0, 0, true},
    {"image", F_STR, offsetof(struct berth_template, image), 0, 0, false},
    {"command", F_CMD, offsetof(struct berth_template, command), 0, 0, false},
    {"working_dir", F_STR, offsetof(struct berth_template, working_dir), 0, 0,
     false},
    {"env", F_ENV, offsetof(struct berth_template, env), 0, 0, false},
    {"environment", F_STR, offsetof(struct berth_template, environment), 0, 0,
     false},
    {"network", F_STR, offsetof(struct berth_template, network), 0, 0, false},
    {"memory_mb", F_INT, offsetof(struct berth_template, memory_mb), 1,
     INT64_C(1) << 40, false},
    {"cpu_cores", F_POS, offsetof(struct berth_template, cpu_cores), 0, 0,
     false},
    {"timeout_seconds", F_SECONDS,
     offsetof(struct berth_template, timeout_seconds), 1, YEAR_S, false},
    {"labels", F_MAP, offsetof(struct berth_template, labels), 0, 0, false},
    {NULL, 0, 0, 0, 0, false},
};

static void check_template(struct cfg_ctx *x, const struct ynode *seq,
                           size_t idx)
{
    struct berth_config *c = x->cfg;
    const struct ynode *v = seq->kids[idx], *nn;
    struct berth_template *t;
    char path[PATH_MAX_LEN], sub[PATH_MAX_LEN];

    snprintf(path, sizeof(path), "templates[%zu]", idx);
    if (!expect_map(x, v, path, "a mapping (name, image, command, ...)")) {
        if (berth__config_is_null(v))
            berth__config_error(x, v,
                                "%s: expected a mapping (name, image, "
                                "command, ...), got nothing",
                                path);
        return;
    }
    t = &c->templates[c->n_templates++];
    berth_template_init(t);
    walk_fields(x, v, path, template_fields, t, NULL, NULL, NULL, NULL);

    nn = berth__config_map_get(v, "name");
    if (t->name && nn) {
        snprintf(sub, sizeof(sub), "%s.name", path);
        berth__config_check_name(x, nn, sub, t->name);
    }
    if (t->working_dir && t->working_dir[0] != '/') {
        snprintf(sub, sizeof(sub), "%s.working_dir", path);
        berth__config_error(x, berth__config_map_get(v, "working_dir"),
                            "%s: must be an absolute path, got '%s'", sub,
                            t->working_dir);
    }
    if (t->environment && !berth_config_environment(c, t->environment)) {
        const char **names =
            berth_xcalloc(c->n_environments + 1, sizeof(*names));
        for (size_t i = 0; i < c->n_environments; i++)
            names[i] = c->environments[i].name;
        snprintf(sub, sizeof(sub), "%s.environment", path);
        unknown_ref(x, berth__config_map_get(v, "environment"), sub,
                    t->environment, "a defined environment", names);
        free(names);
    }
}

static void check_templates(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (!expect_seq(x, n, "templates", "a list of templates"))
        return;
    c->templates = berth_xcalloc(n->n + 1, sizeof(*c->templates));
    for (size_t i = 0; i < n->n; i++)
        check_template(x, n, i);
    dup_names(x, n, "templates", "template", true);
}

/* ---- users ------------------------------------------------------------- */

static const struct field user_fields[] = {
    {"groups", F_STRV, offsetof(struct berth_user_conf, groups), 0, 0, false},
    {NULL, 0, 0, 0, 0, false},
};

static void check_users(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (!expect_map(x, n, "users", "a mapping of user names to their groups"))
        return;
    c->users = berth_xcalloc(n->n / 2 + 1, sizeof(*c->users));
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
        struct berth_user_conf *u;
        char path[PATH_MAX_LEN];

        if (k->kind != YN_SCALAR || k->dup)
            continue;
        u = &c->users[c->n_users++];
        u->name = berth_xstrdup(k->text);
        berth_strv_init(&u->groups);
        snprintf(path, sizeof(path), "users.%s", k->text);
        if (k->len == 0)
            berth__config_error(x, k, "users: a user name cannot be empty");
        if (expect_map(x, v, path, "a mapping such as {groups: [...]}"))
            walk_fields(x, v, path, user_fields, u, NULL, NULL, NULL, NULL);
    }
}

/* ---- routing rules ----------------------------------------------------- */

static const struct field rule_fields[] = {
    {"name", F_STR, offsetof(struct berth_rule_conf, name), 0, 0, false},
    {"condition", F_STR, offsetof(struct berth_rule_conf, condition), 0, 0,
     true},
    {"executor", F_STR, offsetof(struct berth_rule_conf, executor), 0, 0, true},
    {"reason", F_STR, offsetof(struct berth_rule_conf, reason), 0, 0, false},
    {"priority", F_INT32, offsetof(struct berth_rule_conf, priority), -BIG, BIG,
     false},
    {NULL, 0, 0, 0, 0, false},
};

struct pos_ctx {
    const struct cfg_ctx *x;
    const struct ynode *n;
};

static void rule_pos(size_t offset, int *line, int *col, void *ctx)
{
    const struct pos_ctx *m = ctx;
    berth__config_scalar_pos(m->x, m->n, offset, line, col);
}

static void compile_rule(struct cfg_ctx *x, struct berth_rule_conf *r,
                         const struct ynode *cn, const char *path)
{
    struct berth_rule_diag d;
    struct berth_err e;
    struct berth_buf b = BERTH_BUF_INIT;
    struct pos_ctx m = {x, cn};
    size_t len = strlen(r->condition);
    int line, col;

    memset(&d, 0, sizeof(d));
    berth_err_init(&e);
    if (berth_rule_compile(r->condition, len, &r->compiled, &d, &e) == 0)
        return;
    r->compiled = NULL;
    if (d.offset > len)
        d.offset = len;
    /* The fault's own place in the file: through quotes and escapes, and
     * on its own line when the rule is folded over several. */
    berth__config_scalar_pos(x, cn, d.offset, &line, &col);
    if (d.msg[0]) {
        char msg[sizeof(d.msg)];
        /* The schema path first, as in every other config error. */
        snprintf(msg, sizeof(msg), "%s: %s", path, d.msg);
        memcpy(d.msg, msg, sizeof(d.msg));
        berth_rule_diag_format_pos(&d, r->condition, len, x->file, rule_pos, &m,
                                   &b);
    }
    if (b.len == 0) {
        berth__config_error_at(x, line, col, "%s: %s", path,
                               e.msg[0] ? e.msg : "cannot compile the rule");
        berth_buf_release(&b);
        return;
    }
    while (b.len && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    berth__config_error_raw(x, line, col, berth_buf_detach(&b));
}

static void check_rule(struct cfg_ctx *x, const struct ynode *seq, size_t idx)
{
    struct berth_config *c = x->cfg;
    const struct ynode *v = seq->kids[idx], *cn, *en;
    struct berth_rule_conf *r;
    char path[PATH_MAX_LEN], sub[PATH_MAX_LEN];

    snprintf(path, sizeof(path), "routing_rules[%zu]", idx);
    if (!expect_map(x, v, path,
                    "a mapping (condition, executor, reason, "
                    "priority)")) {
        if (berth__config_is_null(v))
            berth__config_error(x, v,
                                "%s: expected a mapping (condition, "
                                "executor, reason, priority), got "
                                "nothing",
                                path);
        return;
    }
    r = &c->rules[c->n_rules++];
    memset(r, 0, sizeof(*r));
    r->index = idx;
    r->line = v->line;
    r->col = v->col;
    walk_fields(x, v, path, rule_fields, r, NULL, NULL, NULL, NULL);

    en = berth__config_map_get(v, "executor");
    if (r->executor && en && !berth_config_executor(c, r->executor)) {
        const char **names = executor_names(c);
        snprintf(sub, sizeof(sub), "%s.executor", path);
        unknown_ref(x, en, sub, r->executor, "a configured executor", names);
        free(names);
    }
    cn = berth__config_map_get(v, "condition");
    if (r->condition && cn) {
        /* Where the rule text starts (inside the quotes, if any). */
        berth__config_scalar_pos(x, cn, 0, &r->line, &r->col);
        snprintf(sub, sizeof(sub), "%s.condition", path);
        compile_rule(x, r, cn, sub);
    }
}

static int cmp_rule(const void *a, const void *b)
{
    const struct berth_rule_conf *ra = a, *rb = b;
    if (ra->priority != rb->priority)
        return ra->priority < rb->priority ? -1 : 1;
    return ra->index < rb->index ? -1 : ra->index > rb->index;
}

static void check_rules(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (!expect_seq(x, n, "routing_rules", "a list of rules"))
        return;
    c->rules = berth_xcalloc(n->n + 1, sizeof(*c->rules));
    for (size_t i = 0; i < n->n; i++)
        check_rule(x, n, i);
    dup_names(x, n, "routing_rules", "rule", false);
    /* DESIGN.md § Routing, step 2: by priority, ties keep file order (the
     * index makes the sort stable). */
    qsort(c->rules, c->n_rules, sizeof(*c->rules), cmp_rule);
}

/* ---- top level --------------------------------------------------------- */

struct top_nodes {
    const struct ynode *store, *default_executor, *circuit_breaker, *api;
    const struct ynode *executors, *hosts, *environments, *templates, *users,
        *rules;
};

static const struct field top_fields[] = {
    {"store", F_NODE, offsetof(struct top_nodes, store), 0, 0, false},
    {"default_executor", F_NODE, offsetof(struct top_nodes, default_executor),
     0, 0, false},
    {"health_check_ttl", F_SECONDS,
     offsetof(struct berth_config, health_check_ttl), 0, YEAR_S, false},
    {"health_failure_ttl", F_SECONDS,
     offsetof(struct berth_config, health_failure_ttl), 0, YEAR_S, false},
    {"max_fallbacks", F_INT, offsetof(struct berth_config, max_fallbacks), 0,
     100, false},
    {"circuit_breaker", F_NODE, offsetof(struct top_nodes, circuit_breaker), 0,
     0, false},
    {"log_max_bytes", F_INT, offsetof(struct berth_config, log_max_bytes), 1,
     INT64_C(1) << 40, false},
    {"api", F_NODE, offsetof(struct top_nodes, api), 0, 0, false},
    {"executors", F_NODE, offsetof(struct top_nodes, executors), 0, 0, false},
    {"hosts", F_NODE, offsetof(struct top_nodes, hosts), 0, 0, false},
    {"environments", F_NODE, offsetof(struct top_nodes, environments), 0, 0,
     false},
    {"templates", F_NODE, offsetof(struct top_nodes, templates), 0, 0, false},
    {"users", F_NODE, offsetof(struct top_nodes, users), 0, 0, false},
    {"routing_rules", F_NODE, offsetof(struct top_nodes, rules), 0, 0, false},
    {NULL, 0, 0, 0, 0, false},
};

static const struct field breaker_fields[] = {
    {"failures", F_INT, offsetof(struct berth_config, breaker_failures), 0, BIG,
     false},
    {"cooldown", F_SECONDS, offsetof(struct berth_config, breaker_cooldown), 0,
     YEAR_S, false},
    {NULL, 0, 0, 0, 0, false},
};

static const struct field api_fields[] = {
    {"tokens", F_STRV, offsetof(struct berth_config, api_tokens), 0, 0, false},
    {NULL, 0, 0, 0, 0, false},
};

static void check_store(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    if (berth__config_get_str(x, n, "store", &c->store_url) != 0)
        return;
    if (strncmp(c->store_url, "sqlite:", 7) == 0
            ? c->store_url[7] != '\0'
            : strncmp(c->store_url, "postgresql://", 13) == 0 ||
                  strncmp(c->store_url, "postgres://", 11) == 0)
        return;
    berth__config_error(x, n,
                        "store: expected 'sqlite:PATH' or "
                        "'postgresql://USER@HOST/DB', got '%s'",
                        c->store_url);
}

static void check_api(struct cfg_ctx *x, const struct ynode *n)
{
    struct berth_config *c = x->cfg;
    const struct ynode *tn;
    if (!expect_map(x, n, "api", "a mapping such as {tokens: [...]}"))
        return;
    if (walk_fields(x, n, "api", api_fields, c, NULL, NULL, NULL, NULL) != 0)
        return;
    tn = berth__config_map_get(n, "tokens");
    for (size_t i = 0; tn && i < c->api_tokens.n; i++) {
        const char *t = c->api_tokens.v[i];
        bool ok = *t != '\0';
        for (const char *p = t; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                ok = false;
        if (!ok)
            berth__config_error(x, tn->kids[i],
                                "api.tokens[%zu]: a token must be non-empty "
                                "printable text without spaces",
                                i);
    }
}

void berth__config_check(struct cfg_ctx *x, const struct ynode *root)
{
    struct berth_config *c = x->cfg;
    struct top_nodes top;
    char buf[128];

    memset(&top, 0, sizeof(top));
    if (!root) {
        berth__config_error_at(x, 1, 1,
                               "the file is empty: expected a mapping of "
                               "settings such as 'executors:'");
        return;
    }
    if (root->kind != YN_MAP) {
        if (root->kind != YN_BAD)
            berth__config_error(x, root,
                                "the top level must be a mapping of settings "
                                "(store, executors, hosts, ...), got %s",
                                berth__config_describe(root, buf, sizeof(buf)));
        return;
    }
    walk_fields(x, root, "", top_fields, c, &top, NULL, NULL, NULL);
    if (top.store)
        check_store(x, top.store);
    if (top.default_executor)
        berth__config_get_str(x, top.default_executor, "default_executor",
                              &c->default_executor);
    if (top.circuit_breaker &&
        expect_map(x, top.circuit_breaker, "circuit_breaker",
                   "a mapping such as {failures: 3, cooldown: 60}"))
        walk_fields(x, top.circuit_breaker, "circuit_breaker", breaker_fields,
                    c, NULL, NULL, NULL, NULL);
    if (top.api)
        check_api(x, top.api);
    if (top.executors)
        check_executors(x, top.executors);
    if (top.environments)
        check_environments(x, top.environments);
    if (top.hosts)
        check_hosts(x, top.hosts);
    if (top.templates)
        check_templates(x, top.templates);
    if (top.users)
        check_users(x, top.users);
    if (top.rules)
        check_rules(x, top.rules);

    if (!c->default_executor) {
        c->default_executor = berth_xstrdup("docker");
    } else if (!berth_config_executor(c, c->default_executor)) {
        const char **names = executor_names(c);
        unknown_ref(x, top.default_executor, "default_executor",
                    c->default_executor, "a configured executor", names);
        free(names);
    }
}
