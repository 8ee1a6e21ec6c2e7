/* opts.c - typed option lists (see berth/opts.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth/opts.h"

void berth_opts_init(struct berth_opts *o)
{
    o->v = NULL;
    o->n = 0;
    o->cap = 0;
}

static void opt_release(struct berth_opt *op)
{
    free(op->key);
    free(op->s);
    berth_strv_release(&op->list);
    memset(op, 0, sizeof(*op));
}

void berth_opts_release(struct berth_opts *o)
{
    for (size_t i = 0; i < o->n; i++)
        opt_release(&o->v[i]);
    free(o->v);
    berth_opts_init(o);
}

static void opt_copy(struct berth_opt *dst, const struct berth_opt *src)
{
    *dst = *src;
    dst->key = berth_xstrdup(src->key);
    dst->s = berth_xstrdup(src->s);
    berth_strv_copy(&dst->list, &src->list);
}

/* The slot for key: the existing one (cleared) or a new one. */
static struct berth_opt *opt_slot(struct berth_opts *o, const char *key)
{
    struct berth_opt *op;
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->v[i].key, key) == 0) {
            opt_release(&o->v[i]);
            o->v[i].key = berth_xstrdup(key);
            return &o->v[i];
        }
    }
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 8;
        o->v = berth_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    op = &o->v[o->n++];
    memset(op, 0, sizeof(*op));
    op->key = berth_xstrdup(key);
    return op;
}

void berth_opts_copy(struct berth_opts *dst, const struct berth_opts *src)
{
    berth_opts_init(dst);
    berth_opts_merge(dst, src);
}

void berth_opts_merge(struct berth_opts *dst, const struct berth_opts *src)
{
    for (size_t i = 0; i < src->n; i++) {
        struct berth_opt *op = opt_slot(dst, src->v[i].key);
        free(op->key);
        opt_copy(op, &src->v[i]);
    }
}

void berth_opts_set_str(struct berth_opts *o, const char *key, const char *v)
{
    struct berth_opt *op = opt_slot(o, key);
    op->type = BERTH_OPT_STR;
    op->s = berth_xstrdup(v ? v : "");
}

void berth_opts_set_int(struct berth_opts *o, const char *key, int64_t v)
{
    struct berth_opt *op = opt_slot(o, key);
    op->type = BERTH_OPT_INT;
    op->i = v;
    op->num = (double)v;
}

void berth_opts_set_num(struct berth_opts *o, const char *key, double v)
{
    struct berth_opt *op = opt_slot(o, key);
    op->type = BERTH_OPT_NUM;
    op->num = v;
    op->i = (int64_t)v;
}

void berth_opts_set_bool(struct berth_opts *o, const char *key, bool v)
{
    struct berth_opt *op = opt_slot(o, key);
    op->type = BERTH_OPT_BOOL;
    op->b = v;
}

void berth_opts_set_list(struct berth_opts *o, const char *key,
                         const struct berth_strv *v)
{
    struct berth_opt *op = opt_slot(o, key);
    op->type = BERTH_OPT_LIST;
    berth_strv_copy(&op->list, v);
}

const struct berth_opt *berth_opts_find(const struct berth_opts *o,
                                        const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i].key, key) == 0)
            return &o->v[i];
    return NULL;
}

const char *berth_opts_str(const struct berth_opts *o, const char *key,
                           const char *dflt)
{
    const struct berth_opt *op = berth_opts_find(o, key);
    return op && op->type == BERTH_OPT_STR ? op->s : dflt;
}

int64_t berth_opts_int(const struct berth_opts *o, const char *key,
                       int64_t dflt)
{
    const struct berth_opt *op = berth_opts_find(o, key);
    if (!op)
        return dflt;
    if (op->type == BERTH_OPT_INT)
        return op->i;
    if (op->type == BERTH_OPT_NUM)
        return (int64_t)op->num;
    return dflt;
}

double berth_opts_num(const struct berth_opts *o, const char *key, double dflt)
{
    const struct berth_opt *op = berth_opts_find(o, key);
    if (op && (op->type == BERTH_OPT_INT || op->type == BERTH_OPT_NUM))
        return op->num;
    return dflt;
}

bool berth_opts_bool(const struct berth_opts *o, const char *key, bool dflt)
{
    const struct berth_opt *op = berth_opts_find(o, key);
    return op && op->type == BERTH_OPT_BOOL ? op->b : dflt;
}

const struct berth_strv *berth_opts_list(const struct berth_opts *o,
                                         const char *key)
{
    const struct berth_opt *op = berth_opts_find(o, key);
    return op && op->type == BERTH_OPT_LIST ? &op->list : NULL;
}

char *berth_opts_to_json(const struct berth_opts *o)
{
    json_t *obj = json_object();
    char *s;
    for (size_t i = 0; i < o->n; i++) {
        const struct berth_opt *op = &o->v[i];
        json_t *v = NULL;
        switch (op->type) {
        case BERTH_OPT_STR:
            v = json_string(op->s ? op->s : "");
            break;
        case BERTH_OPT_INT:
            v = json_integer((json_int_t)op->i);
            break;
        case BERTH_OPT_NUM:
            v = json_real(op->num);
            break;
        case BERTH_OPT_BOOL:
            v = json_boolean(op->b);
            break;
        case BERTH_OPT_LIST:
            v = json_array();
            for (size_t k = 0; k < op->list.n; k++)
                json_array_append_new(v, json_string(op->list.v[k]));
            break;
        }
        if (v)
            json_object_set_new(obj, op->key, v);
    }
    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!s)
        BERTH_BUG("json_dumps failed");
    return s;
}

int berth_opts_from_json(struct berth_opts *o, const char *text,
                         struct berth_err *err)
{
    json_error_t jerr;
    json_t *obj, *v;
    const char *k;

    berth_opts_init(o);
    if (!text || !*text)
        return 0;
    obj = json_loads(text, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return berth_err_set(err, BERTH_E_PARSE, "bad options JSON");
    }
    json_object_foreach(obj, k, v)
    {
        if (json_is_string(v)) {
            berth_opts_set_str(o, k, json_string_value(v));
        } else if (json_is_integer(v)) {
            berth_opts_set_int(o, k, (int64_t)json_integer_value(v));
        } else if (json_is_real(v)) {
            berth_opts_set_num(o, k, json_real_value(v));
        } else if (json_is_boolean(v)) {
            berth_opts_set_bool(o, k, json_is_true(v));
        } else if (json_is_array(v)) {
            struct berth_strv sv = BERTH_STRV_INIT;
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                berth_strv_push(&sv,
                                json_is_string(e) ? json_string_value(e) : "");
            }
            berth_opts_set_list(o, k, &sv);
            berth_strv_release(&sv);
        }
    }
    json_decref(obj);
    return 0;
}

const struct berth_opt_spec *berth_opt_spec_find(const struct berth_opt_spec *t,
                                                 const char *key)
{
    for (; t && t->name; t++)
        if (strcmp(t->name, key) == 0)
            return t;
    return NULL;
}
