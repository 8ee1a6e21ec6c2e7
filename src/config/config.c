/*
 * config.c - loading the configuration file, the built-in default config,
 * freeing and lookups (see berth/config.h).
 */
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Defaults of the top-level settings (DESIGN.md § Configuration; the
 * extension keys are documented in docs/config.md). */
static void set_defaults(struct berth_config *c)
{
    c->health_check_ttl = 300;
    c->health_failure_ttl = 30;
    c->max_fallbacks = 2;
    c->breaker_failures = 3;
    c->breaker_cooldown = 60;
    c->log_max_bytes = 1048576;
    berth_strv_init(&c->api_tokens);
}

int berth_config_load_text(const char *name, const char *text, size_t len,
                           struct berth_config **out, struct berth_buf *report,
                           struct berth_err *err)
{
    struct cfg_ctx x;
    struct berth_config *c = berth_xcalloc(1, sizeof(*c));
    struct ynode *root = NULL;
    int rc;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    x.file = name ? name : "<config>";
    x.src = text ? text : "";
    x.src_len = text ? len : 0;
    x.cfg = c;
    c->path = berth_xstrdup(x.file);
    set_defaults(c);

    if (berth__config_yaml_parse(&x, &root) == 0)
        berth__config_check(&x, root);
    berth__config_ynode_free(root);
    rc = berth__config_errors_flush(&x, report, err);
    berth__config_ctx_release(&x);
    if (rc) {
        berth_config_free(c);
        return rc;
    }
    berth__config_fingerprint(c);
    *out = c;
    return 0;
}

int berth_config_load(const char *path, struct berth_config **out,
                      struct berth_buf *report, struct berth_err *err)
{
    char *text = NULL;
    size_t len = 0;
    struct berth_err e;
    int rc;

    *out = NULL;
    berth_err_init(&e);
    rc = berth_read_file(path, CFG_MAX_FILE_BYTES, &text, &len, &e);
    if (rc) {
        if (report)
            berth_buf_printf(report, "%s: error: %s\n", path, e.msg);
        return berth_err_set(err, rc, "%s", e.msg);
    }
    rc = berth_config_load_text(path, text, len, out, report, err);
    free(text);
    return rc;
}

struct berth_config *berth_config_new_default(void)
{
    struct berth_config *c = berth_xcalloc(1, sizeof(*c));
    struct berth_executor_conf *e;

    c->path = berth_xstrdup("(built-in)");
    set_defaults(c);
    c->default_executor = berth_xstrdup("mock");
    c->executors = berth_xcalloc(1, sizeof(*c->executors));
    c->n_executors = 1;
    e = &c->executors[0];
    e->name = berth_xstrdup("mock");
    e->type = berth_xstrdup("mock");
    e->enabled = true;
    berth_opts_init(&e->opts);
    berth__config_fingerprint(c);
    return c;
}

void berth_config_free(struct berth_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->store_url);
    free(c->default_executor);
    for (size_t i = 0; i < c->n_executors; i++) {
        free(c->executors[i].name);
        free(c->executors[i].type);
        berth_opts_release(&c->executors[i].opts);
    }
    free(c->executors);
    for (size_t i = 0; i < c->n_hosts; i++)
        berth_host_release(&c->hosts[i]);
    free(c->hosts);
    for (size_t i = 0; i < c->n_environments; i++) {
        free(c->environments[i].name);
        berth_map_release(&c->environments[i].vars);
    }
    free(c->environments);
    for (size_t i = 0; i < c->n_templates; i++)
        berth_template_release(&c->templates[i]);
    free(c->templates);
    for (size_t i = 0; i < c->n_users; i++) {
        free(c->users[i].name);
        berth_strv_release(&c->users[i].groups);
    }
    free(c->users);
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].condition);
        free(c->rules[i].executor);
        free(c->rules[i].reason);
        berth_rule_free(c->rules[i].compiled);
    }
    free(c->rules);
    berth_strv_release(&c->api_tokens);
    free(c);
}

const struct berth_executor_conf *
berth_config_executor(const struct berth_config *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_executors; i++)
        if (strcmp(c->executors[i].name, name) == 0)
            return &c->executors[i];
    return NULL;
}

const struct berth_environment_conf *
berth_config_environment(const struct berth_config *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_environments; i++)
        if (strcmp(c->environments[i].name, name) == 0)
            return &c->environments[i];
    return NULL;
}

const struct berth_user_conf *berth_config_user(const struct berth_config *c,
                                                const char *name)
{
    for (size_t i = 0; name && i < c->n_users; i++)
        if (strcmp(c->users[i].name, name) == 0)
            return &c->users[i];
    return NULL;
}

const struct berth_template *berth_config_template(const struct berth_config *c,
                                                   const char *name)
{
    for (size_t i = 0; name && i < c->n_templates; i++)
        if (c->templates[i].name && strcmp(c->templates[i].name, name) == 0)
            return &c->templates[i];
    return NULL;
}
