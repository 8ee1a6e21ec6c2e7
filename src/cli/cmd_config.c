/* cmd_config.c - `berth config check`: load the config file, print every
 * error or a one-line summary. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static int config_check(struct cli *c, int argc, char **argv)
{
    struct berth_config *cfg = NULL;
    bool builtin;
    int rc;

    (void)argv;
    if (argc > 1)
        return cli_usage_error("config",
                               "'config check' takes no arguments, "
                               "got '%s'",
                               argv[1]);
    rc = cli_config_load(c->config_path, c->config_explicit, &cfg, &builtin);
    if (rc)
        return rc;
    if (builtin)
        printf("%s: not found, using the built-in config: ", c->config_path);
    else
        printf("%s: ", c->config_path);
    printf("ok: %zu %s, %zu %s, %zu %s, %zu %s\n", cfg->n_executors,
           plural(cfg->n_executors, "executor", "executors"), cfg->n_hosts,
           plural(cfg->n_hosts, "host", "hosts"), cfg->n_templates,
           plural(cfg->n_templates, "template", "templates"), cfg->n_rules,
           plural(cfg->n_rules, "rule", "rules"));
    berth_config_free(cfg);
    return CLI_OK;
}

int cmd_config(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("config", "missing sub-command: check");
    if (strcmp(argv[1], "check") == 0)
        return config_check(c, argc - 1, argv + 1);
    return cli_usage_error("config",
                           "unknown sub-command '%s' (expected "
                           "check)",
                           argv[1]);
}
