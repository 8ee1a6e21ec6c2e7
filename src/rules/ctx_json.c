/*
 * ctx_json.c - a rule context from JSON (DESIGN.md § The rule language,
 * `berth rules eval --context JSON`): an object keyed by the context's
 * names. What is not given takes its default (0, '', no labels, no user);
 * `labels` defaults to the template's labels merged with the job's.
 * Unknown keys and wrong types are errors.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules/rules_int.h"

struct berth_rule_ctx_json {
    struct berth_rule_ctx ctx;
    json_t *root; /* the context's strings point into it */
    struct berth_map job_labels, tmpl_labels, labels;
    struct berth_strv groups;
};

static int get_int(const char *where, const char *key, json_t *v, int64_t *out,
                   struct berth_err *err)
{
    if (!json_is_integer(v))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: '%s%s' must be an integer", where, key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_num(const char *where, const char *key, json_t *v, double *out,
                   struct berth_err *err)
{
    if (!json_is_number(v))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: '%s%s' must be a number", where, key);
    *out = json_number_value(v);
    return 0;
}

/* A string, or null for ''. */
static int get_str(const char *where, const char *key, json_t *v,
                   const char **out, struct berth_err *err)
{
    if (json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: '%s%s' must be a string", where, key);
    *out = json_string_value(v);
    return 0;
}

static int get_map(const char *where, const char *key, json_t *v,
                   struct berth_map *m, struct berth_err *err)
{
    const char *k;
    json_t *x;

    if (json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: '%s%s' must be an object of strings",
                             where, key);
    json_object_foreach(v, k, x)
    {
        if (!json_is_string(x))
            return berth_err_set(err, BERTH_E_INVALID,
                                 "context: '%s%s' must be an object of "
                                 "strings ('%s' is not a string)",
                                 where, key, k);
        berth_map_set(m, k, json_string_value(x));
    }
    return 0;
}

static int unknown(const char *where, const char *key, struct berth_err *err)
{
    return berth_err_set(err, BERTH_E_INVALID, "context: unknown key '%s%s'",
                         where, key);
}

static int read_job(struct berth_rule_ctx_json *c, json_t *o,
                    struct berth_err *err)
{
    const char *k;
    json_t *v;
    int rc = 0;

    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: 'job' must be an object");
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "id") == 0)
            rc = get_int("job.", k, v, &c->ctx.job_id, err);
        else if (strcmp(k, "name") == 0)
            rc = get_str("job.", k, v, &c->ctx.job_name, err);
        else if (strcmp(k, "priority") == 0)
            rc = get_int("job.", k, v, &c->ctx.job_priority, err);
        else if (strcmp(k, "labels") == 0)
            rc = get_map("job.", k, v, &c->job_labels, err);
        else if (strcmp(k, "preferred_executor") == 0)
            rc = get_str("job.", k, v, &c->ctx.job_preferred_executor, err);
        else
            rc = unknown("job.", k, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_template(struct berth_rule_ctx_json *c, json_t *o,
                         struct berth_err *err)
{
    const char *k;
    json_t *v;
    int rc = 0;

    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: 'template' must be an object");
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "name") == 0)
            rc = get_str("template.", k, v, &c->ctx.template_name, err);
        else if (strcmp(k, "image") == 0)
            rc = get_str("template.", k, v, &c->ctx.template_image, err);
        else if (strcmp(k, "labels") == 0)
            rc = get_map("template.", k, v, &c->tmpl_labels, err);
        else if (strcmp(k, "memory_limit") == 0)
            rc = get_int("template.", k, v, &c->ctx.template_memory_limit, err);
        else if (strcmp(k, "cpu_limit") == 0)
            rc = get_num("template.", k, v, &c->ctx.template_cpu_limit, err);
        else if (strcmp(k, "timeout_seconds") == 0)
            rc = get_int("template.", k, v, &c->ctx.template_timeout_seconds,
                         err);
        else
            rc = unknown("template.", k, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_user(struct berth_rule_ctx_json *c, json_t *o,
                     struct berth_err *err)
{
    const char *k;
    json_t *v;
    int rc = 0;

    if (json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return berth_err_set(err, BERTH_E_INVALID,
                             "context: 'user' must be an object or null");
    c->ctx.has_user = true;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "name") == 0) {
            rc = get_str("user.", k, v, &c->ctx.user_name, err);
        } else if (strcmp(k, "groups") == 0) {
            size_t i;
            json_t *g;
            if (!json_is_array(v))
                return berth_err_set(err, BERTH_E_INVALID,
                                     "context: 'user.groups' must be an "
                                     "array of strings");
            json_array_foreach(v, i, g)
            {
                if (!json_is_string(g))
                    return berth_err_set(err, BERTH_E_INVALID,
                                         "context: 'user.groups' must be an "
                                         "array of strings");
                berth_strv_push(&c->groups, json_string_value(g));
            }
        } else {
            rc = unknown("user.", k, err);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int berth_rule_ctx_from_json(const char *json, struct berth_rule_ctx_json **out,
                             const struct berth_rule_ctx **ctx,
                             struct berth_err *err)
{
    struct berth_rule_ctx_json *c = berth_xcalloc(1, sizeof(*c));
    json_error_t jerr;
    bool have_labels = false;
    const char *k;
    json_t *v;
    int rc = 0;

    *out = NULL;
    *ctx = NULL;
    berth_map_init(&c->job_labels);
    berth_map_init(&c->tmpl_labels);
    berth_map_init(&c->labels);
    berth_strv_init(&c->groups);
    c->ctx.job_name = c->ctx.job_preferred_executor = "";
    c->ctx.template_name = c->ctx.template_image = "";
    c->ctx.user_name = "";

    c->root =
        json_loads(json && *json ? json : "{}", JSON_REJECT_DUPLICATES, &jerr);
    if (!c->root) {
        rc = berth_err_set(err, BERTH_E_PARSE,
                           "context: invalid JSON at line %d column %d: %s",
                           jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(c->root)) {
        rc = berth_err_set(err, BERTH_E_INVALID,
                           "context: must be a JSON object");
        goto out;
    }
    json_object_foreach(c->root, k, v)
    {
        if (strcmp(k, "memory_mb") == 0)
            rc = get_int("", k, v, &c->ctx.memory_mb, err);
        else if (strcmp(k, "cpu_cores") == 0)
            rc = get_num("", k, v, &c->ctx.cpu_cores, err);
        else if (strcmp(k, "timeout_seconds") == 0)
            rc = get_int("", k, v, &c->ctx.timeout_seconds, err);
        else if (strcmp(k, "hour") == 0)
            rc = get_int("", k, v, &c->ctx.hour, err);
        else if (strcmp(k, "weekday") == 0)
            rc = get_int("", k, v, &c->ctx.weekday, err);
        else if (strcmp(k, "labels") == 0) {
            have_labels = true;
            rc = get_map("", k, v, &c->labels, err);
        } else if (strcmp(k, "job") == 0)
            rc = read_job(c, v, err);
        else if (strcmp(k, "template") == 0)
            rc = read_template(c, v, err);
        else if (strcmp(k, "user") == 0)
            rc = read_user(c, v, err);
        else
            rc = unknown("", k, err);
        if (rc)
            goto out;
    }
    if (!have_labels) {
        berth_map_merge(&c->labels, &c->tmpl_labels);
        berth_map_merge(&c->labels, &c->job_labels);
    }
    c->ctx.job_labels = &c->job_labels;
    c->ctx.template_labels = &c->tmpl_labels;
    c->ctx.labels = &c->labels;
    c->ctx.user_groups = &c->groups;
out:
    if (rc) {
        berth_rule_ctx_json_free(c);
        return rc;
    }
    *out = c;
    *ctx = &c->ctx;
    return 0;
}

void berth_rule_ctx_json_free(struct berth_rule_ctx_json *c)
{
    if (!c)
        return;
    json_decref(c->root);
    berth_map_release(&c->job_labels);
    berth_map_release(&c->tmpl_labels);
    berth_map_release(&c->labels);
    berth_strv_release(&c->groups);
    free(c);
}
