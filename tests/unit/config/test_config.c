/* test_config.c - the YAML config loader: the whole schema, defaults,
 * implicit hosts, the fingerprint, and the malformed samples of
 * tests/config/ with their exact reports. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/config.h"
#include "berth/exec.h"

static struct berth_config *load_ok(const char *text)
{
    struct berth_config *c = NULL;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    int rc =
        berth_config_load_text("t.yaml", text, strlen(text), &c, &report, &err);
    if (rc != 0)
        fprintf(stderr, "unexpected errors:\n%s", berth_buf_cstr(&report));
    assert_int_equal(rc, 0);
    assert_non_null(c);
    assert_int_equal(report.len, 0);
    berth_buf_release(&report);
    return c;
}

/* The report for a broken text; caller frees. err.msg is checked to be the
 * first line. */
static char *load_bad(const char *text)
{
    struct berth_config *c = (struct berth_config *)1;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    const char *nl;
    int rc =
        berth_config_load_text("t.yaml", text, strlen(text), &c, &report, &err);
    assert_int_equal(rc, BERTH_E_CONFIG);
    assert_null(c);
    assert_int_equal(err.rc, BERTH_E_CONFIG);
    nl = strchr(berth_buf_cstr(&report), '\n');
    assert_non_null(nl);
    assert_int_equal(strlen(err.msg), (size_t)(nl - report.data));
    assert_memory_equal(err.msg, report.data, strlen(err.msg));
    return berth_buf_detach(&report);
}

static void assert_bad(const char *text, const char *expected)
{
    char *got = load_bad(text);
    assert_string_equal(got, expected);
    free(got);
}

/* ---- a full file ------------------------------------------------------- */

static const char full_yaml[] =
    "store: postgresql://berth@db.internal/berth\n"
    "default_executor: docker\n"
    "health_check_ttl: 5m\n"
    "health_failure_ttl: 10\n"
    "max_fallbacks: 1\n"
    "circuit_breaker: {failures: 5, cooldown: 2m}\n"
    "log_max_bytes: 65536\n"
    "api:\n"
    "  tokens: [0123456789abcdef, second-token]\n"
    "executors:\n"
    "  docker:\n"
    "    max_concurrent_jobs: 4\n"
    "  gpu-docker:\n"
    "    type: docker\n"
    "    url: tcp://10.0.0.5:2376\n"
    "    tls_ca: /etc/berth/ca.pem\n"
    "    launch_rate: 2.5\n"
    "    launch_burst: 5\n"
    "  cloudrun: {enabled: false, project: my-gcp-project, region: "
    "us-central1}\n"
    "  fargate:\n"
    "    enabled: false\n"
    "    cluster: container-jobs\n"
    "    subnets: [subnet-123, subnet-456]\n"
    "    assign_public_ip: true\n"
    "    launch_rate: 20\n"
    "  mock: {}\n"
    "hosts:\n"
    "  - name: local\n"
    "    executor: docker\n"
    "    url: unix:///var/run/docker.sock\n"
    "    max_concurrent_jobs: 8\n"
    "    memory_mb: 16384\n"
    "    cpu_cores: 8\n"
    "    weight: 2\n"
    "  - name: spare\n"
    "    executor: docker\n"
    "    enabled: false\n"
    "    stop_grace_seconds: 5\n"
    "    network: none\n"
    "  - {name: eu, executor: fargate, region: eu-central-1, launch_rate: "
    "5}\n"
    "environments:\n"
    "  reporting: {DB_HOST: db.internal, DB_PORT: 5432, DEBUG: false}\n"
    "  empty:\n"
    "templates:\n"
    "  - name: batch-report\n"
    "    image: local/busybox:latest\n"
    "    command: [sh, -c, \"echo hello\"]\n"
    "    working_dir: /work\n"
    "    env: {MODE: full}\n"
    "    environment: reporting\n"
    "    network: none\n"
    "    memory_mb: 256\n"
    "    cpu_cores: 0.5\n"
    "    timeout_seconds: 10m\n"
    "    labels: {team: data, tier: 2}\n"
    "  - {name: quick, image: busybox, command: \"echo hi && sleep 1\"}\n"
    "users:\n"
    "  alice: {groups: [premium, ml]}\n"
    "  bob:\n";

static const char full_rules_yaml[] =
    "routing_rules:\n"
    "  - {name: big, condition: \"memory_mb > 8192\", executor: fargate, "
    "reason: \"High memory requirement (>8GB)\", priority: 1}\n"
    "  - {condition: 'template.name.startswith(\"batch-\")', executor: "
    "cloudrun, reason: \"Batch processing template\", priority: 5}\n"
    "  - {condition: \"cpu_cores > 4.0\", executor: gpu-docker}\n"
    "  - {condition: \"timeout_seconds > 3600\", executor: fargate, "
    "priority: 1}\n";

static void assert_opt_at(const struct berth_opts *o, const char *key, int line,
                          int col)
{
    const struct berth_opt *op = berth_opts_find(o, key);
    assert_non_null(op);
    assert_int_equal(op->line, line);
    assert_int_equal(op->col, col);
}

static void test_config__full_file_fills_every_field(void **state)
{
    struct berth_config *c = load_ok(full_yaml);
    const struct berth_executor_conf *e;
    const struct berth_environment_conf *env;
    const struct berth_template *t;
    const struct berth_user_conf *u;
    const struct berth_host *h;
    (void)state;

    assert_string_equal(c->path, "t.yaml");
    assert_string_equal(c->store_url, "postgresql://berth@db.internal/berth");
    assert_string_equal(c->default_executor, "docker");
    assert_int_equal(c->health_check_ttl, 300);
    assert_int_equal(c->health_failure_ttl, 10);
    assert_int_equal(c->max_fallbacks, 1);
    assert_int_equal(c->breaker_failures, 5);
    assert_int_equal(c->breaker_cooldown, 120);
    assert_int_equal(c->log_max_bytes, 65536);
    assert_int_equal(c->api_tokens.n, 2);
    assert_string_equal(c->api_tokens.v[0], "0123456789abcdef");
    assert_string_equal(c->api_tokens.v[1], "second-token");

    /* executors, in file order */
    assert_int_equal(c->n_executors, 5);
    e = &c->executors[0];
    assert_string_equal(e->name, "docker");
    assert_string_equal(e->type, "docker");
    assert_true(e->enabled);
    assert_int_equal(e->line, 11);
    assert_int_equal(e->col, 3);
    assert_int_equal(e->opts.n, 1);
    assert_int_equal(berth_opts_int(&e->opts, "max_concurrent_jobs", 0), 4);
    assert_opt_at(&e->opts, "max_concurrent_jobs", 12, 26);

    e = berth_config_executor(c, "gpu-docker");
    assert_ptr_equal(e, &c->executors[1]);
    assert_string_equal(e->type, "docker");
    assert_true(e->enabled);
    assert_int_equal(e->opts.n, 4);
    assert_string_equal(berth_opts_str(&e->opts, "url", NULL),
                        "tcp://10.0.0.5:2376");
    assert_string_equal(berth_opts_str(&e->opts, "tls_ca", NULL),
                        "/etc/berth/ca.pem");
    assert_true(berth_opts_find(&e->opts, "launch_rate")->type ==
                BERTH_OPT_NUM);
    assert_true(berth_opts_num(&e->opts, "launch_rate", 0) == 2.5);
    assert_int_equal(berth_opts_int(&e->opts, "launch_burst", 0), 5);
    assert_opt_at(&e->opts, "url", 15, 10);
    assert_opt_at(&e->opts, "launch_burst", 18, 19);

    e = berth_config_executor(c, "cloudrun");
    assert_false(e->enabled);
    assert_string_equal(berth_opts_str(&e->opts, "project", NULL),
                        "my-gcp-project");
    assert_opt_at(&e->opts, "region", 19, 63);

    e = berth_config_executor(c, "fargate");
    assert_false(e->enabled);
    assert_int_equal(berth_opts_list(&e->opts, "subnets")->n, 2);
    assert_string_equal(berth_opts_list(&e->opts, "subnets")->v[1],
                        "subnet-456");
    assert_true(berth_opts_bool(&e->opts, "assign_public_ip", false));
    assert_true(berth_opts_find(&e->opts, "launch_rate")->type ==
                BERTH_OPT_NUM);
    assert_true(berth_opts_num(&e->opts, "launch_rate", 0) == 20.0);

    e = berth_config_executor(c, "mock");
    assert_true(e->enabled);
    assert_int_equal(e->opts.n, 0);
    assert_null(berth_config_executor(c, "kubernetes"));

    /* hosts */
    assert_int_equal(c->n_hosts, 3);
    h = &c->hosts[0];
    assert_string_equal(h->name, "local");
    assert_string_equal(h->executor, "docker");
    assert_string_equal(h->url, "unix:///var/run/docker.sock");
    assert_int_equal(h->max_concurrent_jobs, 8);
    assert_int_equal(h->memory_mb, 16384);
    assert_true(h->cpu_cores == 8.0);
    assert_int_equal(h->weight, 2);
    assert_true(h->enabled);
    assert_null(h->options_json);
    h = &c->hosts[1];
    assert_string_equal(h->name, "spare");
    assert_false(h->enabled);
    assert_int_equal(h->weight, 1);
    /* inherited from executor docker; the docker default engine */
    assert_int_equal(h->max_concurrent_jobs, 4);
    assert_string_equal(h->url, "unix:///var/run/docker.sock");
    /* per-host overrides, keys sorted */
    assert_string_equal(h->options_json,
                        "{\"network\":\"none\",\"stop_grace_seconds\":5}");
    h = &c->hosts[2];
    assert_string_equal(h->name, "eu");
    assert_null(h->url);
    assert_int_equal(
        h->max_concurrent_jobs,
        berth_exec_ops_find("fargate")->default_max_concurrent_jobs);
    assert_string_equal(h->options_json,
                        "{\"launch_rate\":5.0,\"region\":\"eu-central-1\"}");

    /* environments: scalars become their text */
    assert_int_equal(c->n_environments, 2);
    env = berth_config_environment(c, "reporting");
    assert_non_null(env);
    assert_int_equal(env->vars.n, 3);
    assert_string_equal(berth_map_get(&env->vars, "DB_HOST"), "db.internal");
    assert_string_equal(berth_map_get(&env->vars, "DB_PORT"), "5432");
    assert_string_equal(berth_map_get(&env->vars, "DEBUG"), "false");
    env = berth_config_environment(c, "empty");
    assert_non_null(env);
    assert_int_equal(env->vars.n, 0);

    /* templates */
    assert_int_equal(c->n_templates, 2);
    t = berth_config_template(c, "batch-report");
    assert_ptr_equal(t, &c->templates[0]);
    assert_string_equal(t->image, "local/busybox:latest");
    assert_int_equal(t->command.n, 3);
    assert_string_equal(t->command.v[0], "sh");
    assert_string_equal(t->command.v[1], "-c");
    assert_string_equal(t->command.v[2], "echo hello");
    assert_string_equal(t->working_dir, "/work");
    assert_string_equal(berth_map_get(&t->env, "MODE"), "full");
    assert_string_equal(t->environment, "reporting");
    assert_string_equal(t->network, "none");
    assert_int_equal(t->memory_mb, 256);
    assert_true(t->cpu_cores == 0.5);
    assert_int_equal(t->timeout_seconds, 600);
    assert_int_equal(t->labels.n, 2);
    assert_string_equal(berth_map_get(&t->labels, "tier"), "2");
    t = berth_config_template(c, "quick");
    /* one string is a shell command line */
    assert_int_equal(t->command.n, 3);
    assert_string_equal(t->command.v[0], "sh");
    assert_string_equal(t->command.v[1], "-c");
    assert_string_equal(t->command.v[2], "echo hi && sleep 1");
    assert_null(t->working_dir);
    assert_null(t->environment);
    assert_int_equal(t->memory_mb, 0);
    assert_int_equal(t->timeout_seconds, 0);

    /* users */
    assert_int_equal(c->n_users, 2);
    u = berth_config_user(c, "alice");
    assert_int_equal(u->groups.n, 2);
    assert_true(berth_strv_contains(&u->groups, "premium"));
    u = berth_config_user(c, "bob");
    assert_int_equal(u->groups.n, 0);
    assert_null(berth_config_user(c, "carol"));

    assert_int_equal(c->n_rules, 0);
    assert_int_equal(strlen(c->fingerprint), 64);
    berth_config_free(c);
}

static void
test_config__rules_sorted_by_priority_ties_in_file_order(void **state)
{
    char *text = berth_xasprintf("%s%s", full_yaml, full_rules_yaml);
    struct berth_config *c = load_ok(text);
    (void)state;

    assert_int_equal(c->n_rules, 4);
    /* priority 0 (the default) first, then 1, 1 in file order, then 5 */
    assert_string_equal(c->rules[0].condition, "cpu_cores > 4.0");
    assert_int_equal(c->rules[0].priority, 0);
    assert_int_equal(c->rules[0].index, 2);
    assert_null(c->rules[0].reason);
    assert_null(c->rules[0].name);
    assert_string_equal(c->rules[0].executor, "gpu-docker");
    assert_string_equal(c->rules[1].name, "big");
    assert_string_equal(c->rules[1].reason, "High memory requirement (>8GB)");
    assert_int_equal(c->rules[1].index, 0);
    assert_int_equal(c->rules[1].line, 61);
    assert_int_equal(c->rules[1].col, 29);
    assert_string_equal(c->rules[2].condition, "timeout_seconds > 3600");
    assert_int_equal(c->rules[2].index, 3);
    assert_string_equal(c->rules[3].condition,
                        "template.name.startswith(\"batch-\")");
    assert_int_equal(c->rules[3].priority, 5);
    for (size_t i = 0; i < c->n_rules; i++) {
        assert_non_null(c->rules[i].compiled);
        assert_string_equal(berth_rule_text(c->rules[i].compiled),
                            c->rules[i].condition);
    }
    berth_config_free(c);
    free(text);
}

/* ---- defaults ---------------------------------------------------------- */

static void test_config__defaults_when_keys_are_absent(void **state)
{
    struct berth_config *c = load_ok("executors:\n  mock:\n");
    (void)state;
    assert_null(c->store_url);
    assert_string_equal(c->default_executor, "docker");
    assert_int_equal(c->health_check_ttl, 300);
    assert_int_equal(c->health_failure_ttl, 30);
    assert_int_equal(c->max_fallbacks, 2);
    assert_int_equal(c->breaker_failures, 3);
    assert_int_equal(c->breaker_cooldown, 60);
    assert_int_equal(c->log_max_bytes, 1048576);
    assert_int_equal(c->api_tokens.n, 0);
    assert_int_equal(c->n_executors, 1);
    assert_string_equal(c->executors[0].type, "mock");
    assert_true(c->executors[0].enabled);
    assert_int_equal(c->n_hosts + c->n_templates + c->n_rules + c->n_users +
                         c->n_environments,
                     0);
    berth_config_free(c);
}

static void test_config__builtin_default_is_one_mock(void **state)
{
    struct berth_config *c = berth_config_new_default();
    struct berth_host *hosts;
    size_t n;
    (void)state;
    assert_string_equal(c->default_executor, "mock");
    assert_int_equal(c->n_executors, 1);
    assert_string_equal(c->executors[0].name, "mock");
    assert_string_equal(c->executors[0].type, "mock");
    assert_true(c->executors[0].enabled);
    assert_int_equal(c->n_rules, 0);
    assert_int_equal(c->health_check_ttl, 300);
    assert_int_equal(strlen(c->fingerprint), 64);
    assert_int_equal(berth_config_hosts(c, &hosts, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(hosts[0].name, "mock");
    berth_host_release(&hosts[0]);
    free(hosts);
    berth_config_free(c);
}

/* ---- implicit hosts ---------------------------------------------------- */

static void test_config__implicit_host_per_executor_without_hosts(void **state)
{
    struct berth_config *c = load_ok(full_yaml);
    struct berth_host *v;
    size_t n;
    (void)state;

    assert_int_equal(berth_config_hosts(c, &v, &n, NULL), 0);
    /* declared: local, spare (docker), eu (fargate); implicit: gpu-docker,
     * cloudrun, mock */
    assert_int_equal(n, 6);
    assert_string_equal(v[0].name, "local");
    assert_string_equal(v[1].name, "spare");
    assert_string_equal(v[2].name, "eu");
    assert_string_equal(v[3].name, "gpu-docker");
    assert_string_equal(v[3].executor, "gpu-docker");
    assert_string_equal(v[3].url, "tcp://10.0.0.5:2376");
    assert_int_equal(
        v[3].max_concurrent_jobs,
        berth_exec_ops_find("docker")->default_max_concurrent_jobs);
    assert_true(v[3].enabled);
    assert_int_equal(v[3].weight, 1);
    assert_null(v[3].options_json);
    assert_string_equal(v[4].name, "cloudrun");
    assert_null(v[4].url);
    assert_int_equal(
        v[4].max_concurrent_jobs,
        berth_exec_ops_find("cloudrun")->default_max_concurrent_jobs);
    assert_string_equal(v[5].name, "mock");
    assert_int_equal(v[5].max_concurrent_jobs,
                     berth_exec_ops_find("mock")->default_max_concurrent_jobs);
    for (size_t i = 0; i < n; i++)
        berth_host_release(&v[i]);
    free(v);
    berth_config_free(c);

    c = load_ok("executors:\n  docker: {max_concurrent_jobs: 3}\n");
    assert_int_equal(berth_config_hosts(c, &v, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "docker");
    assert_string_equal(v[0].url, "unix:///var/run/docker.sock");
    assert_int_equal(v[0].max_concurrent_jobs, 3);
    berth_host_release(&v[0]);
    free(v);
    berth_config_free(c);
}

/* ---- fingerprint ------------------------------------------------------- */

static void fp_of(const char *text, char out[65])
{
    struct berth_config *c = load_ok(text);
    memcpy(out, c->fingerprint, 65);
    berth_config_free(c);
}

static void
test_config__fingerprint_changes_iff_hosts_or_templates_change(void **state)
{
    static const char base[] =
        "executors:\n  docker: {}\n  mock: {}\n"
        "hosts:\n"
        "  - {name: a, executor: docker, max_concurrent_jobs: 2}\n"
        "  - {name: b, executor: docker, network: none, "
        "stop_grace_seconds: 3}\n"
        "templates:\n"
        "  - {name: t, image: busybox, env: {A: '1', B: '2'}}\n";
    char fp0[65], fp[65];
    char *text;
    (void)state;

    fp_of(base, fp0);
    for (size_t i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", fp0[i]));

    /* The same declarations, written differently: same fingerprint. */
    text = berth_xasprintf("# a comment\n%sdefault_executor: mock\n"
                           "users: {alice: {groups: [x]}}\n"
                           "environments: {e: {X: y}}\n"
                           "health_check_ttl: 9\n",
                           base);
    fp_of(text, fp);
    free(text);
    assert_string_equal(fp, fp0);
    fp_of("executors:\n  mock: {}\n  docker: {}\n"
          "templates:\n"
          "  - {image: busybox, name: t, env: {B: '2', A: '1'}}\n"
          "hosts:\n"
          "  - {name: b, executor: docker, stop_grace_seconds: 3, "
          "network: none}\n"
          "  - {executor: docker, name: a, max_concurrent_jobs: 2}\n",
          fp);
    assert_string_equal(fp, fp0);

    /* Any change to a host or a template: a new fingerprint. */
    static const char *const changes[][2] = {
        {"max_concurrent_jobs: 2", "max_concurrent_jobs: 3"},
        {"network: none", "network: host"},
        {"{name: a,", "{name: a, weight: 2,"},
        {"{name: a,", "{name: a, enabled: false,"},
        {"image: busybox", "image: busybox:1"},
        {"B: '2'", "B: '3'"},
        {"{name: t,", "{name: t, command: [true],"},
        {"{name: t,", "{name: t, labels: {x: y},"},
        /* the implicit host of mock is synced too */
        {"mock: {}", "mock: {max_concurrent_jobs: 7}"},
    };
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        const char *at = strstr(base, changes[i][0]);
        assert_non_null(at);
        text = berth_xasprintf("%.*s%s%s", (int)(at - base), base,
                               changes[i][1], at + strlen(changes[i][0]));
        fp_of(text, fp);
        free(text);
        if (strcmp(fp, fp0) == 0)
            fail_msg("change %zu (%s) kept the fingerprint", i, changes[i][1]);
    }
}

/* ---- errors ------------------------------------------------------------ */

static void test_config__every_error_is_reported_in_file_order(void **state)
{
    (void)state;
    /* Hosts are checked after executors whatever the file order. */
    assert_bad("hosts:\n"
               "  - {name: a, executor: nope, weight: heavy}\n"
               "executors:\n"
               "  docker: {enabled: maybe}\n"
               "templates:\n"
               "  - {name: t, memory_mb: lots}\n",
               "t.yaml:2:25: error: hosts[0].executor: 'nope' is not a "
               "configured executor (defined: docker)\n"
               "t.yaml:2:39: error: hosts[0].weight: expected an integer, "
               "got 'heavy'\n"
               "t.yaml:4:21: error: executors.docker.enabled: expected true "
               "or false, got 'maybe'\n"
               "t.yaml:6:26: error: templates[0].memory_mb: expected an "
               "integer, got 'lots'\n");
}

static void test_config__too_many_errors_are_counted(void **state)
{
    struct berth_buf b = BERTH_BUF_INIT;
    char *got;
    size_t lines = 0;
    (void)state;
    berth_buf_puts(&b, "templates:\n");
    for (int i = 0; i < 150; i++)
        berth_buf_printf(&b, "  - {name: t%d, memory_mb: x}\n", i);
    got = load_bad(berth_buf_cstr(&b));
    for (const char *p = got; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 101);
    assert_non_null(strstr(got, "t.yaml: error: 50 more errors not shown\n"));
    free(got);
    berth_buf_release(&b);
}

static void test_config__missing_file_is_an_io_error(void **state)
{
    struct berth_config *c = NULL;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    (void)state;
    assert_int_equal(
        berth_config_load("/nonexistent/berth.yaml", &c, &report, &err),
        BERTH_E_IO);
    assert_null(c);
    assert_string_equal(err.msg, "cannot open '/nonexistent/berth.yaml': No "
                                 "such file or directory");
    assert_string_equal(berth_buf_cstr(&report),
                        "/nonexistent/berth.yaml: error: cannot open "
                        "'/nonexistent/berth.yaml': No such file or "
                        "directory\n");
    berth_buf_release(&report);
}

static void test_config__load_reads_a_file(void **state)
{
    char *dir = bt_tmpdir("config");
    char *path = berth_xasprintf("%s/berth.yaml", dir);
    struct berth_config *c = NULL;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    (void)state;
    bt_write_file(path, "executors:\n  mock: {}\nhosts: 3\n");
    assert_int_equal(berth_config_load(path, &c, &report, &err),
                     BERTH_E_CONFIG);
    {
        char *want = berth_xasprintf("%s:3:8: error: hosts: expected a list "
                                     "of hosts, got '3'\n",
                                     path);
        assert_string_equal(berth_buf_cstr(&report), want);
        free(want);
    }
    bt_write_file(path, "executors:\n  mock: {}\n");
    berth_buf_reset(&report);
    assert_int_equal(berth_config_load(path, &c, &report, &err), 0);
    assert_string_equal(c->path, path);
    berth_config_free(c);
    berth_buf_release(&report);
    bt_rmtree(dir);
    free(path);
    free(dir);
}

/* DESIGN.md § The rule language: a rule that does not compile refuses the
 * config with file:line:col and a caret. The column is the fault's in the
 * file, through the quotes and escapes of the YAML scalar. */
static void
test_config__rule_error_column_inside_a_double_quoted_scalar(void **state)
{
    (void)state;
    assert_bad("executors: {mock: {}}\n"
               "routing_rules:\n"
               "  - executor: mock\n"
               "    condition: \"labels[\\\"team\\\"] == \\\"ml\\\" and "
               "job.memroy > 4096\"\n",
               "t.yaml:4:52: error: routing_rules[0].condition: unknown "
               "attribute 'memroy' of 'job'\n"
               "    labels[\"team\"] == \"ml\" and job.memroy > 4096\n"
               "                                   ^~~~~~\n"
               "    hint: did you mean 'memory_mb'? (a name of its own, not "
               "an attribute of 'job')\n");
    /* '' in single quotes is one character of the rule, two of the file */
    assert_bad("executors: {mock: {}}\n"
               "routing_rules:\n"
               "  - {executor: mock, condition: 'template.name == ''a'' or "
               "x'}\n",
               "t.yaml:3:60: error: routing_rules[0].condition: unknown name "
               "'x'\n"
               "    template.name == 'a' or x\n"
               "                            ^\n"
               "    hint: names are job, template, user, memory_mb, "
               "cpu_cores, timeout_seconds, labels, hour, weekday\n");
}

/* The first rule (in priority order) that matches a job of template t,
 * submitted by user u (NULL: none): its reason, or NULL. */
static const char *first_reason(const struct berth_config *c, const char *t,
                                const char *u)
{
    const struct berth_template *tp = berth_config_template(c, t);
    const struct berth_user_conf *uc = u ? berth_config_user(c, u) : NULL;
    struct berth_rule_ctx ctx;
    struct berth_err err;

    assert_non_null(tp);
    memset(&ctx, 0, sizeof(ctx));
    ctx.template_name = tp->name;
    ctx.template_image = tp->image;
    ctx.template_labels = &tp->labels;
    ctx.template_memory_limit = tp->memory_mb;
    ctx.template_cpu_limit = tp->cpu_cores;
    ctx.template_timeout_seconds = tp->timeout_seconds;
    ctx.memory_mb = tp->memory_mb;
    ctx.cpu_cores = tp->cpu_cores;
    ctx.timeout_seconds = tp->timeout_seconds;
    ctx.labels = &tp->labels;
    ctx.job_priority = 50;
    if (uc) {
        ctx.has_user = true;
        ctx.user_name = uc->name;
        ctx.user_groups = &uc->groups;
    }
    for (size_t i = 0; i < c->n_rules; i++)
        if (berth_rule_match(c->rules[i].compiled, &ctx, &err) == 1)
            return c->rules[i].reason;
    return NULL;
}

static struct berth_config *load_example(const char *name)
{
    const char *src = getenv("BERTH_SOURCE_DIR");
    char *path;
    struct berth_config *c = NULL;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;

    assert_non_null(src);
    path = berth_xasprintf("%s/examples/%s", src, name);
    if (berth_config_load(path, &c, &report, &err) != 0)
        fail_msg("%s", berth_buf_cstr(&report));
    berth_buf_release(&report);
    free(path);
    return c;
}

/* examples/berth.yaml is a rehearsal that shows every routing reason: each
 * template meets the rule it was written for. */
static void test_config__example_routes_each_template_by_its_rule(void **state)
{
    struct berth_config *c = load_example("berth.yaml");
    (void)state;

    assert_int_equal(c->n_executors, 5);
    assert_string_equal(berth_config_executor(c, "docker")->type, "mock");
    assert_string_equal(berth_config_executor(c, "cloudrun")->type, "mock");
    assert_string_equal(berth_config_executor(c, "fargate")->type, "mock");
    assert_false(berth_config_executor(c, "gpu")->enabled);
    assert_int_equal(c->n_rules, 7);
    assert_string_equal(first_reason(c, "batch-report", NULL),
                        "Batch processing template");
    assert_null(first_reason(c, "hello", NULL));
    assert_string_equal(first_reason(c, "hello", "alice"),
                        "Premium user priority");
    assert_null(first_reason(c, "hello", "bob"));
    assert_string_equal(first_reason(c, "etl-large", NULL),
                        "High memory requirement (>8GB)");
    assert_string_equal(first_reason(c, "render", NULL),
                        "High CPU requirement (>4 cores)");
    assert_string_equal(first_reason(c, "archive", NULL),
                        "Long-running job (>1h)");
    assert_string_equal(first_reason(c, "ml-train", NULL), "ML workload");
    assert_string_equal(first_reason(c, "test-smoke", NULL), "Test template");
    berth_config_free(c);

    c = load_example("berth-docker.yaml");
    assert_string_equal(berth_config_executor(c, "docker")->type, "docker");
    assert_int_equal(c->n_hosts, 1);
    assert_string_equal(c->hosts[0].url, "unix:///var/run/docker.sock");
    assert_string_equal(first_reason(c, "batch-report", NULL),
                        "Batch processing template");
    assert_null(first_reason(c, "hello", NULL));
    berth_config_free(c);
}

/* Deep nesting is refused before it can hurt. */
static void test_config__deep_nesting_is_refused(void **state)
{
    struct berth_buf b = BERTH_BUF_INIT;
    (void)state;
    berth_buf_puts(&b, "a: ");
    for (int i = 0; i < 70; i++)
        berth_buf_puts(&b, "[");
    assert_bad(berth_buf_cstr(&b),
               "t.yaml:1:67: error: nested deeper than 64 levels\n");
    berth_buf_release(&b);
}

/* ---- the malformed samples ----------------------------------------------
 * tests/config/NAME.yaml with NAME.expect holding the exact report. */

static char *slurp(const char *path)
{
    char *text = NULL;
    size_t len;
    struct berth_err err;
    if (berth_read_file(path, 0, &text, &len, &err) != 0)
        fail_msg("%s", err.msg);
    return text;
}

static void test_config__malformed_samples_give_exact_reports(void **state)
{
    const char *src = getenv("BERTH_SOURCE_DIR");
    char *dir;
    DIR *d;
    struct dirent *e;
    int samples = 0, failed = 0;
    (void)state;

    assert_non_null(src);
    dir = berth_xasprintf("%s/tests/config", src);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char *ypath, *xpath, *text, *want, *base;
        struct berth_config *c = NULL;
        struct berth_buf report = BERTH_BUF_INIT;
        struct berth_err err;
        size_t len;
        int rc;

        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
            continue;
        base = berth_xstrndup(e->d_name, n - 5);
        ypath = berth_xasprintf("%s/%s", dir, e->d_name);
        xpath = berth_xasprintf("%s/%s.expect", dir, base);
        if (berth_read_file(ypath, 0, &text, &len, &err) != 0)
            fail_msg("%s", err.msg);
        want = slurp(xpath);
        rc = berth_config_load_text(e->d_name, text, len, &c, &report, &err);
        if (rc != BERTH_E_CONFIG || c) {
            fprintf(stderr, "%s: loaded (rc %d), expected errors\n", e->d_name,
                    rc);
            failed++;
        } else if (strcmp(berth_buf_cstr(&report), want) != 0) {
            fprintf(stderr, "%s: report differs\n--- want\n%s--- got\n%s",
                    e->d_name, want, berth_buf_cstr(&report));
            failed++;
        } else if (strncmp(err.msg, want, strlen(err.msg)) != 0 ||
                   want[strlen(err.msg)] != '\n') {
            fprintf(stderr, "%s: err '%s' is not the first line\n", e->d_name,
                    err.msg);
            failed++;
        }
        samples++;
        berth_config_free(c);
        berth_buf_release(&report);
        free(text);
        free(want);
        free(xpath);
        free(ypath);
        free(base);
    }
    closedir(d);
    free(dir);
    assert_int_equal(failed, 0);
    assert_true(samples >= 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config__full_file_fills_every_field),
        cmocka_unit_test(
            test_config__rules_sorted_by_priority_ties_in_file_order),
        cmocka_unit_test(test_config__defaults_when_keys_are_absent),
        cmocka_unit_test(test_config__builtin_default_is_one_mock),
        cmocka_unit_test(test_config__implicit_host_per_executor_without_hosts),
        cmocka_unit_test(
            test_config__fingerprint_changes_iff_hosts_or_templates_change),
        cmocka_unit_test(test_config__every_error_is_reported_in_file_order),
        cmocka_unit_test(test_config__too_many_errors_are_counted),
        cmocka_unit_test(test_config__missing_file_is_an_io_error),
        cmocka_unit_test(test_config__load_reads_a_file),
        cmocka_unit_test(
            test_config__rule_error_column_inside_a_double_quoted_scalar),
        cmocka_unit_test(test_config__example_routes_each_template_by_its_rule),
        cmocka_unit_test(test_config__deep_nesting_is_refused),
        cmocka_unit_test(test_config__malformed_samples_give_exact_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
