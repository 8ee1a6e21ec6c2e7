/* strmap.c - owned string lists and ordered string maps, and their JSON
 * forms for the store's text columns (see berth/util.h). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth/util.h"

void berth_strv_init(struct berth_strv *sv)
{
    sv->v = NULL;
    sv->n = 0;
    sv->cap = 0;
}

void berth_strv_release(struct berth_strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    berth_strv_init(sv);
}

void berth_strv_push(struct berth_strv *sv, const char *s)
{
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 4;
        sv->v = berth_xrealloc(sv->v, sv->cap * sizeof(*sv->v));
    }
    sv->v[sv->n++] = berth_xstrdup(s ? s : "");
}

void berth_strv_copy(struct berth_strv *dst, const struct berth_strv *src)
{
    berth_strv_init(dst);
    for (size_t i = 0; i < src->n; i++)
        berth_strv_push(dst, src->v[i]);
}

bool berth_strv_contains(const struct berth_strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

void berth_map_init(struct berth_map *m)
{
    m->kv = NULL;
    m->n = 0;
    m->cap = 0;
}

void berth_map_release(struct berth_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->kv[i].key);
        free(m->kv[i].value);
    }
    free(m->kv);
    berth_map_init(m);
}

void berth_map_set(struct berth_map *m, const char *key, const char *value)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->kv[i].key, key) == 0) {
            free(m->kv[i].value);
            m->kv[i].value = berth_xstrdup(value ? value : "");
            return;
        }
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->kv = berth_xrealloc(m->kv, m->cap * sizeof(*m->kv));
    }
    m->kv[m->n].key = berth_xstrdup(key);
    m->kv[m->n].value = berth_xstrdup(value ? value : "");
    m->n++;
}

const char *berth_map_get(const struct berth_map *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->kv[i].key, key) == 0)
            return m->kv[i].value;
    return NULL;
}

bool berth_map_del(struct berth_map *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->kv[i].key, key) == 0) {
            free(m->kv[i].key);
            free(m->kv[i].value);
            memmove(&m->kv[i], &m->kv[i + 1], (m->n - i - 1) * sizeof(*m->kv));
            m->n--;
            return true;
        }
    }
    return false;
}

void berth_map_copy(struct berth_map *dst, const struct berth_map *src)
{
    berth_map_init(dst);
    berth_map_merge(dst, src);
}

void berth_map_merge(struct berth_map *dst, const struct berth_map *src)
{
    for (size_t i = 0; i < src->n; i++)
        berth_map_set(dst, src->kv[i].key, src->kv[i].value);
}

char *berth_strv_to_json(const struct berth_strv *sv)
{
    json_t *a = json_array();
    char *s;
    for (size_t i = 0; i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (!s)
        BERTH_BUG("json_dumps failed");
    return s;
}

int berth_strv_from_json(struct berth_strv *sv, const char *text,
                         struct berth_err *err)
{
    json_error_t jerr;
    json_t *a;
    size_t i;
    json_t *v;

    berth_strv_init(sv);
    if (!text || !*text)
        return 0;
    a = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!a)
        return berth_err_set(err, BERTH_E_PARSE, "bad JSON list: %s",
                             jerr.text);
    if (!json_is_array(a)) {
        json_decref(a);
        return berth_err_set(err, BERTH_E_PARSE,
                             "expected a JSON list of strings");
    }
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v)) {
            json_decref(a);
            berth_strv_release(sv);
            return berth_err_set(err, BERTH_E_PARSE,
                                 "expected a JSON list of strings");
        }
        berth_strv_push(sv, json_string_value(v));
    }
    json_decref(a);
    return 0;
}

char *berth_map_to_json(const struct berth_map *m)
{
    json_t *o = json_object();
    char *s;
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->kv[i].key, json_string(m->kv[i].value));
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        BERTH_BUG("json_dumps failed");
    return s;
}

int berth_map_from_json(struct berth_map *m, const char *text,
                        struct berth_err *err)
{
    json_error_t jerr;
    json_t *o, *v;
    const char *k;

    berth_map_init(m);
    if (!text || !*text)
        return 0;
    o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return berth_err_set(err, BERTH_E_PARSE, "bad JSON object: %s",
                             jerr.text);
    if (!json_is_object(o)) {
        json_decref(o);
        return berth_err_set(err, BERTH_E_PARSE,
                             "expected a JSON object of strings");
    }
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v)) {
            /* k belongs to o: use it before letting o go. */
            int rc = berth_err_set(err, BERTH_E_PARSE,
                                   "value of '%s' is not a string", k);
            json_decref(o);
            berth_map_release(m);
            return rc;
        }
        berth_map_set(m, k, json_string_value(v));
    }
    json_decref(o);
    return 0;
}
