/* cmd_demo.c - `berth demo`: seed the store with sample templates and jobs
 * that exercise every routing step of the config in use. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct demo_tmpl {
    const char *name;
    const char *cmd;
    int64_t memory_mb;
    double cpus;
    int64_t timeout;
};

static const struct demo_tmpl demo_templates[] = {
    {"batch-report", "echo report: 42 rows", 256, 0.5, 600},
    {"ml-train", "echo training done", 16384, 8, 7200},
    {"test-smoke", "echo smoke ok", 64, 0.1, 60},
    {NULL, NULL, 0, 0, 0},
};

struct demo_job {
    const char *what;
    const char *tmpl;
    const char *cmd;
    int64_t memory_mb;
    const char *user;
    const char *label_k, *label_v;
};

static const struct demo_job demo_jobs[] = {
    {"a plain job", NULL, "echo hello from berth", 0, NULL, NULL, NULL},
    {"a batch- template", "batch-report", NULL, 0, NULL, NULL, NULL},
    {"a 16 GB job", NULL, "echo big", 16384, NULL, NULL, NULL},
    {"a premium user's job", NULL, "echo premium", 0, "alice", NULL, NULL},
    {"a test- template", "test-smoke", NULL, 0, NULL, NULL, NULL},
    {"a job that exits 3", NULL, "sh -c 'echo failing; exit 3'", 0, NULL,
     "mock.exit_code", "3"},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};

int cmd_demo(struct cli *c, int argc, char **argv)
{
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_err err;
    const char *image = "local/busybox:latest";
    int rc;

    if (argc > 1)
        return cli_usage_error("demo", "unexpected argument '%s'", argv[1]);
    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    for (const struct demo_tmpl *d = demo_templates; d->name; d++) {
        struct berth_template t;
        berth_err_init(&err);
        if (berth_store_template_get(st, d->name, &t, &err) == 0) {
            berth_template_release(&t);
            continue; /* the config's own definition wins */
        }
        berth_template_init(&t);
        t.name = berth_xstrdup(d->name);
        t.image = berth_xstrdup(image);
        cli_split_words(d->cmd, &t.command, NULL);
        {
            struct berth_strv sh = BERTH_STRV_INIT;
            berth_strv_push(&sh, "sh");
            berth_strv_push(&sh, "-c");
            berth_strv_push(&sh, d->cmd);
            berth_strv_release(&t.command);
            t.command = sh;
        }
        t.memory_mb = d->memory_mb;
        t.cpu_cores = d->cpus;
        t.timeout_seconds = d->timeout;
        if (berth_store_template_put(st, &t, &err) != 0) {
            berth_template_release(&t);
            return cli_fail("demo: cannot add template: %s", err.msg);
        }
        berth_template_release(&t);
    }
    for (const struct demo_job *d = demo_jobs; d->what; d++) {
        struct berth_job j;
        struct berth_template t;
        int64_t id;
        bool have = false;

        berth_job_init(&j);
        berth_template_init(&t);
        berth_err_init(&err);
        if (d->tmpl && berth_store_template_get(st, d->tmpl, &t, &err) == 0)
            have = true;
        j.name = berth_xstrdup(d->what);
        j.image = berth_xstrdup(have && t.image ? t.image : image);
        if (d->cmd) {
            cli_split_words(d->cmd, &j.command, NULL);
        } else if (have) {
            berth_strv_release(&j.command);
            berth_strv_copy(&j.command, &t.command);
        }
        if (have) {
            j.template_name = berth_xstrdup(t.name);
            j.tmpl_image = berth_xstrdup(t.image);
            berth_map_copy(&j.tmpl_labels, &t.labels);
            j.tmpl_memory_mb = t.memory_mb;
            j.tmpl_cpu_cores = t.cpu_cores;
            j.tmpl_timeout_seconds = t.timeout_seconds;
            j.memory_mb = t.memory_mb;
            j.cpu_cores = t.cpu_cores;
            j.timeout_seconds = t.timeout_seconds;
            berth_map_merge(&j.env, &t.env);
        }
        if (d->memory_mb)
            j.memory_mb = d->memory_mb;
        if (d->user) {
            const struct berth_user_conf *u = berth_config_user(cfg, d->user);
            j.user = berth_xstrdup(d->user);
            if (u)
                berth_strv_copy(&j.user_groups, &u->groups);
            else
                berth_strv_push(&j.user_groups, "premium");
        }
        if (d->label_k)
            berth_map_set(&j.labels, d->label_k, d->label_v);
        j.max_attempts = 1;
        rc = berth_store_job_submit(st, &j, 1, berth_now_us(), &id, &err);
        berth_job_release(&j);
        berth_template_release(&t);
        if (rc)
            return cli_fail("demo: cannot submit: %s", err.msg);
        printf("job %" PRId64 ": %s\n", id, d->what);
    }
    return CLI_OK;
}
