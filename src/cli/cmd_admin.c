/* cmd_admin.c - `template add|list|show|rm` and
 * `host add|list|show|rm|enable|disable`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static bool want_json(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0)
            return true;
    return false;
}

/* ---- templates ------------------------------------------------------------
 */

static const char template_help[] =
    "usage: berth template add NAME --image I [--command \"CMD\"] [--env K=V]...\n"
    "                          [--environment E] [--memory MB] [--cpus N]\n"
    "                          [--timeout DUR] [--label K=V]... [--network N]\n"
    "                          [--working-dir D]\n"
    "       berth template list [--json]\n"
    "       berth template show NAME [--json]\n"
    "       berth template rm NAME\n";

static int template_add(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, NULL, 'i'},
        {"command", required_argument, NULL, 'c'},
        {"env", required_argument, NULL, 'e'},
        {"environment", required_argument, NULL, 'E'},
        {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"label", required_argument, NULL, 'l'},
        {"network", required_argument, NULL, 'n'},
        {"working-dir", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct berth_template t;
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_err err;
    const char *name = NULL;
    int opt, rc = CLI_OK;

    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    berth_template_init(&t);
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "-", opts, NULL)) != -1) {
        char *k = NULL, *v = NULL;
        int64_t n;
        berth_err_init(&err);
        switch (opt) {
        case 1:
            if (name) {
                rc = cli_usage_error("template", "unexpected argument '%s'",
                                     optarg);
                goto out;
            }
            name = optarg;
            break;
        case 'i':
            free(t.image);
            t.image = berth_xstrdup(optarg);
            break;
        case 'c':
            berth_strv_release(&t.command);
            if (cli_split_words(optarg, &t.command, &err) != 0) {
                rc = cli_usage_error("template", "--command: %s", err.msg);
                goto out;
            }
            break;
        case 'e':
        case 'l':
            if (berth_parse_kv(optarg, &k, &v, &err) != 0) {
                rc = cli_usage_error("template", "%s", err.msg);
                goto out;
            }
            berth_map_set(opt == 'e' ? &t.env : &t.labels, k, v);
            free(k);
            free(v);
            break;
        case 'E':
            if (!berth_config_environment(cfg, optarg)) {
                rc = cli_usage_error("template", "unknown environment '%s'",
                                     optarg);
                goto out;
            }
            free(t.environment);
            t.environment = berth_xstrdup(optarg);
            break;
        case 'm':
            if (berth_parse_i64(optarg, 0, INT64_C(1) << 40, &t.memory_mb)) {
                rc = cli_usage_error("template",
                                     "--memory '%s': expected "
                                     "megabytes",
                                     optarg);
                goto out;
            }
            break;
        case 'p':
            if (berth_parse_double(optarg, &t.cpu_cores) || t.cpu_cores < 0) {
                rc = cli_usage_error("template",
                                     "--cpus '%s': expected a "
                                     "number >= 0",
                                     optarg);
                goto out;
            }
            break;
        case 't':
            if (berth_parse_duration(optarg, &n, &err)) {
                rc = cli_usage_error("template", "%s", err.msg);
                goto out;
            }
            t.timeout_seconds = n / BERTH_US_PER_SEC;
            break;
        case 'n':
            free(t.network);
            t.network = berth_xstrdup(optarg);
            break;
        case 'w':
            free(t.working_dir);
            t.working_dir = berth_xstrdup(optarg);
            break;
        default:
            rc = cli_usage_error("template", "unknown option '%s'",
                                 argv[optind - 1]);
            goto out;
        }
    }
    if (!name) {
        rc = cli_usage_error("template", "template add needs a NAME");
        goto out;
    }
    if (!t.image) {
        rc = cli_usage_error("template", "template add needs --image");
        goto out;
    }
    t.name = berth_xstrdup(name);
    rc = cli_store(c, &st);
    if (rc)
        goto out;
    berth_err_init(&err);
    if (berth_store_template_put(st, &t, &err) != 0)
        rc = cli_fail("cannot add template '%s': %s", t.name, err.msg);
    else
        printf("template %s saved\n", t.name);
out:
    berth_template_release(&t);
    return rc;
}

int cmd_template(struct cli *c, int argc, char **argv)
{
    struct berth_store *st;
    struct berth_err err;
    const char *sub = argc > 1 ? argv[1] : NULL;
    bool json = want_json(argc, argv);
    int rc;

    if (!sub)
        return cli_usage_error("template", "missing subcommand "
                                           "(add, list, show, rm)");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(template_help, stdout);
        return CLI_OK;
    }
    if (strcmp(sub, "add") == 0)
        return template_add(c, argc - 1, argv + 1);
    if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
        strcmp(sub, "rm") != 0)
        return cli_usage_error("template", "unknown subcommand '%s'", sub);
    if (strcmp(sub, "list") != 0 && (argc < 3 || argv[2][0] == '-'))
        return cli_usage_error("template", "template %s needs a NAME", sub);
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (strcmp(sub, "list") == 0) {
        struct berth_template *v = NULL;
        size_t n = 0;
        if (berth_store_template_list(st, &v, &n, &err) != 0)
            return cli_fail("cannot list templates: %s", err.msg);
        if (json) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, cli_template_json(&v[i]));
            cli_print_json(a);
        } else {
            printf("%-20s %-28s %8s %6s %8s\n", "NAME", "IMAGE", "MEMORY",
                   "CPUS", "TIMEOUT");
            for (size_t i = 0; i < n; i++)
                printf("%-20s %-28s %8" PRId64 " %6.2f %8" PRId64 "\n",
                       v[i].name, v[i].image ? v[i].image : "-", v[i].memory_mb,
                       v[i].cpu_cores, v[i].timeout_seconds);
        }
        berth_store_templates_free(v, n);
        return CLI_OK;
    }
    if (strcmp(sub, "show") == 0) {
        struct berth_template t;
        if (berth_store_template_get(st, argv[2], &t, &err) != 0)
            return cli_fail("template '%s': %s", argv[2], err.msg);
        /* One form for people and programs alike. */
        cli_print_json(cli_template_json(&t));
        berth_template_release(&t);
        return CLI_OK;
    }
    if (berth_store_template_delete(st, argv[2], &err) != 0)
        return cli_fail("cannot remove template '%s': %s", argv[2], err.msg);
    printf("template %s removed\n", argv[2]);
    return CLI_OK;
}

/* ---- hosts ----------------------------------------------------------------
 */

static const char host_help[] =
    "usage: berth host add NAME --executor E [--url U] [--max-jobs N]\n"
    "                      [--memory MB] [--cpus N] [--weight W] [--disabled]\n"
    "       berth host list [--json]\n"
    "       berth host show NAME [--json]\n"
    "       berth host rm NAME\n"
    "       berth host enable NAME | berth host disable NAME\n"
    "\n"
    "enable/disable is an operator's switch kept in the store: syncing the\n"
    "config file never flips it back.\n";

static int host_add(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"executor", required_argument, NULL, 'e'},
        {"url", required_argument, NULL, 'u'},
        {"max-jobs", required_argument, NULL, 'j'},
        {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'p'},
        {"weight", required_argument, NULL, 'w'},
        {"disabled", no_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct berth_host h;
    struct berth_config *cfg;
    struct berth_store *st;
    struct berth_err err;
    const char *name = NULL;
    int opt, rc;

    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    berth_host_init(&h);
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "-", opts, NULL)) != -1) {
        switch (opt) {
        case 1:
            if (name) {
                rc =
                    cli_usage_error("host", "unexpected argument '%s'", optarg);
                goto out;
            }
            name = optarg;
            break;
        case 'e':
            free(h.executor);
            h.executor = berth_xstrdup(optarg);
            break;
        case 'u':
            free(h.url);
            h.url = berth_xstrdup(optarg);
            break;
        case 'j':
            if (berth_parse_i64(optarg, 1, 1000000, &h.max_concurrent_jobs)) {
                rc = cli_usage_error("host",
                                     "--max-jobs '%s': expected an "
                                     "integer >= 1",
                                     optarg);
                goto out;
            }
            break;
        case 'm':
            if (berth_parse_i64(optarg, 0, INT64_C(1) << 40, &h.memory_mb)) {
                rc = cli_usage_error("host", "--memory '%s': expected MB",
                                     optarg);
                goto out;
            }
            break;
        case 'p':
            if (berth_parse_double(optarg, &h.cpu_cores) || h.cpu_cores < 0) {
                rc = cli_usage_error("host",
                                     "--cpus '%s': expected a "
                                     "number >= 0",
                                     optarg);
                goto out;
            }
            break;
        case 'w':
            if (berth_parse_i64(optarg, 0, 1000000, &h.weight)) {
                rc = cli_usage_error("host",
                                     "--weight '%s': expected an "
                                     "integer >= 0",
                                     optarg);
                goto out;
            }
            break;
        case 'd':
            h.enabled = false;
            break;
        default:
            rc = cli_usage_error("host", "unknown option '%s'",
                                 argv[optind - 1]);
            goto out;
        }
    }
    if (!name) {
        rc = cli_usage_error("host", "host add needs a NAME");
        goto out;
    }
    if (!h.executor) {
        rc = cli_usage_error("host", "host add needs --executor");
        goto out;
    }
    {
        const struct berth_executor_conf *ec =
            berth_config_executor(cfg, h.executor);
        if (!ec) {
            rc = cli_fail("executor '%s' is not configured", h.executor);
            goto out;
        }
        if (h.max_concurrent_jobs == 0)
            h.max_concurrent_jobs =
                berth_opts_int(&ec->opts, "max_concurrent_jobs", 4);
    }
    h.name = berth_xstrdup(name);
    rc = cli_store(c, &st);
    if (rc)
        goto out;
    berth_err_init(&err);
    if (berth_store_host_put(st, &h, false, &err) != 0)
        rc = cli_fail("cannot add host '%s': %s", h.name, err.msg);
    else
        printf("host %s saved\n", h.name);
out:
    berth_host_release(&h);
    return rc;
}

int cmd_host(struct cli *c, int argc, char **argv)
{
    struct berth_store *st;
    struct berth_err err;
    const char *sub = argc > 1 ? argv[1] : NULL;
    bool json = want_json(argc, argv);
    int rc;

    if (!sub)
        return cli_usage_error("host", "missing subcommand (add, list, "
                                       "show, rm, enable, disable)");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(host_help, stdout);
        return CLI_OK;
    }
    if (strcmp(sub, "add") == 0)
        return host_add(c, argc - 1, argv + 1);
    if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 &&
        strcmp(sub, "rm") != 0 && strcmp(sub, "enable") != 0 &&
        strcmp(sub, "disable") != 0)
        return cli_usage_error("host", "unknown subcommand '%s'", sub);
    if (strcmp(sub, "list") != 0 && (argc < 3 || argv[2][0] == '-'))
        return cli_usage_error("host", "host %s needs a NAME", sub);
    rc = cli_store(c, &st);
    if (rc)
        return rc;
    berth_err_init(&err);
    if (strcmp(sub, "list") == 0) {
        struct berth_host *v = NULL;
        size_t n = 0;
        if (berth_store_host_list(st, &v, &n, &err) != 0)
            return cli_fail("cannot list hosts: %s", err.msg);
        if (json) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, cli_host_json(&v[i]));
            cli_print_json(a);
        } else {
            printf("%-16s %-12s %-8s %9s %7s  %s\n", "NAME", "EXECUTOR",
                   "ENABLED", "USED/MAX", "WEIGHT", "URL");
            for (size_t i = 0; i < n; i++) {
                char used[32];
                snprintf(used, sizeof(used), "%" PRId64 "/%" PRId64,
                         v[i].used_jobs, v[i].max_concurrent_jobs);
                printf("%-16s %-12s %-8s %9s %7" PRId64 "  %s\n", v[i].name,
                       v[i].executor, v[i].enabled ? "yes" : "no", used,
                       v[i].weight, v[i].url ? v[i].url : "-");
            }
        }
        berth_store_hosts_free(v, n);
        return CLI_OK;
    }
    if (strcmp(sub, "show") == 0) {
        struct berth_host h;
        if (berth_store_host_get(st, argv[2], &h, &err) != 0)
            return cli_fail("host '%s': %s", argv[2], err.msg);
        cli_print_json(cli_host_json(&h));
        berth_host_release(&h);
        return CLI_OK;
    }
    if (strcmp(sub, "rm") == 0) {
        if (berth_store_host_delete(st, argv[2], &err) != 0)
            return cli_fail("cannot remove host '%s': %s", argv[2], err.msg);
        printf("host %s removed\n", argv[2]);
        return CLI_OK;
    }
    if (berth_store_host_set_enabled(st, argv[2], strcmp(sub, "enable") == 0,
                                     &err) != 0)
        return cli_fail("cannot %s host '%s': %s", sub, argv[2], err.msg);
    printf("host %s %sd\n", argv[2], sub);
    return CLI_OK;
}
