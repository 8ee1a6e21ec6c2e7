/*
 * store_open.c - open the store a command works on, and sync the config
 * file's hosts and templates into it (DESIGN.md § Configuration: "synced into
 * the store whenever a command opens the store with that file (cheaply: only
 * when the file's declarations changed)").
 *
 * The store URL: --store, else $BERTH_STORE, else the config's `store:`,
 * else sqlite:berth.db.
 *
 * Sync rules: every host and template the file declares is written (hosts
 * keep their stored enabled switch: `berth host disable` survives syncs).
 * Hosts the file declared at the previous sync and no longer declares are
 * removed (or, while jobs still run there, disabled). Hosts and templates
 * added with `berth host add` / `berth template add` are left alone.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth/log.h"
#include "cli.h"

#define META_FINGERPRINT "config_fingerprint"
#define META_HOSTS       "config_hosts"

int cli_sync_config(struct berth_store *st, const struct berth_config *cfg,
                    struct berth_err *err)
{
    struct berth_host *hosts = NULL;
    size_t nh = 0;
    char *old_fp = NULL, *old_hosts = NULL;
    struct berth_strv prev = BERTH_STRV_INIT, now = BERTH_STRV_INIT;
    char *now_json = NULL;
    int rc;

    rc = berth_store_meta_get(st, META_FINGERPRINT, &old_fp, err);
    if (rc)
        return rc;
    if (old_fp && cfg->fingerprint[0] &&
        strcmp(old_fp, cfg->fingerprint) == 0) {
        free(old_fp);
        return 0;
    }
    free(old_fp);

    rc = berth_config_hosts(cfg, &hosts, &nh, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < nh && rc == 0; i++) {
        rc = berth_store_host_put(st, &hosts[i], true, err);
        berth_strv_push(&now, hosts[i].name);
    }
    for (size_t i = 0; i < cfg->n_templates && rc == 0; i++)
        rc = berth_store_template_put(st, &cfg->templates[i], err);
    if (rc)
        goto out;

    /* Hosts the file no longer declares. */
    rc = berth_store_meta_get(st, META_HOSTS, &old_hosts, err);
    if (rc)
        goto out;
    if (old_hosts && berth_strv_from_json(&prev, old_hosts, NULL) == 0) {
        for (size_t i = 0; i < prev.n; i++) {
            struct berth_err e2;
            if (berth_strv_contains(&now, prev.v[i]))
                continue;
            berth_err_init(&e2);
            if (berth_store_host_delete(st, prev.v[i], &e2) ==
                BERTH_E_CONFLICT) {
                berth_store_host_set_enabled(st, prev.v[i], false, NULL);
                berth_log(BERTH_LOG_WARN,
                          "host removed from config is still busy: disabled",
                          BL_S("host", prev.v[i]));
            }
        }
    }
    now_json = berth_strv_to_json(&now);
    rc = berth_store_meta_set(st, META_HOSTS, now_json, err);
    if (rc == 0 && cfg->fingerprint[0])
        rc = berth_store_meta_set(st, META_FINGERPRINT, cfg->fingerprint, err);
out:
    free(now_json);
    free(old_hosts);
    berth_strv_release(&prev);
    berth_strv_release(&now);
    for (size_t i = 0; i < nh; i++)
        berth_host_release(&hosts[i]);
    free(hosts);
    return rc;
}

int cli_store(struct cli *c, struct berth_store **out)
{
    struct berth_config *cfg;
    struct berth_err err;
    const char *url;
    int rc;

    *out = NULL;
    if (c->store) {
        *out = c->store;
        return CLI_OK;
    }
    rc = cli_config(c, &cfg);
    if (rc)
        return rc;
    url = c->store_url     ? c->store_url
          : cfg->store_url ? cfg->store_url
                           : "sqlite:berth.db";
    berth_err_init(&err);
    if (berth_store_open(url, &c->store, &err) != 0)
        return cli_fail("cannot open store '%s': %s", url, err.msg);
    if (cli_sync_config(c->store, cfg, &err) != 0)
        return cli_fail("cannot sync config '%s' into store '%s': %s",
                        cfg->path ? cfg->path : "(built-in)", url, err.msg);
    *out = c->store;
    return CLI_OK;
}
