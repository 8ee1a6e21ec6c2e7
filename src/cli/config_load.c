/* config_load.c - cli_config(): the config file, loaded once per run
 * (DESIGN.md § Configuration: --config FILE, else $BERTH_CONFIG, else
 * ./berth.yaml). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "cli.h"

int cli_config_load(const char *path, bool explicit_path,
                    struct berth_config **out, bool *builtin)
{
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    struct stat st;
    int rc;

    *out = NULL;
    *builtin = false;
    berth_err_init(&err);
    /* Only the default path may be missing: a file the user named must
     * exist. */
    if (!explicit_path && stat(path, &st) != 0 && errno == ENOENT) {
        *out = berth_config_new_default();
        *builtin = true;
        return CLI_OK;
    }
    rc = berth_config_load(path, out, &report, &err);
    if (rc == 0)
        return CLI_OK;
    if (rc == BERTH_E_CONFIG) {
        fputs(berth_buf_cstr(&report), stderr);
        berth_buf_release(&report);
        return cli_fail("invalid configuration in '%s'", path);
    }
    berth_buf_release(&report);
    return cli_fail("cannot load config: %s", err.msg);
}

int cli_config(struct cli *c, struct berth_config **out)
{
    bool builtin;
    int rc;

    if (!c->cfg) {
        rc = cli_config_load(c->config_path, c->config_explicit, &c->cfg,
                             &builtin);
        if (rc) {
            *out = NULL;
            return rc;
        }
    }
    *out = c->cfg;
    return CLI_OK;
}
