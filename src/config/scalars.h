/*
 * scalars.h - private to the config layer: typed reads of YAML nodes.
 *
 * Each getter reports its own error (naming `path`, e.g.
 * "hosts[2].max_concurrent_jobs: expected an integer, got 'eight'") and
 * returns -1, or stores the value and returns 0. A node that was already
 * refused while parsing (YN_BAD) fails silently: it has been reported.
 * String outputs replace (and free) what *out held.
 */
#ifndef BERTH_CONFIG_SCALARS_H
#define BERTH_CONFIG_SCALARS_H

#include "config_int.h"

/* A plain ~, null, Null, NULL or empty scalar. */
bool berth__config_is_null(const struct ynode *n);
/* "a mapping", "a list", "nothing", "'eight'", "the string '8'". Returns buf
 * or a static string. */
const char *berth__config_describe(const struct ynode *n, char *buf,
                                   size_t size);

/* Any scalar but null, as its text (numbers and booleans too). */
int berth__config_get_str(struct cfg_ctx *x, const struct ynode *n,
                          const char *path, char **out);
/* Any scalar as its text, null and empty included (environment values). */
int berth__config_get_text(struct cfg_ctx *x, const struct ynode *n,
                           const char *path, char **out);
int berth__config_get_int(struct cfg_ctx *x, const struct ynode *n,
                          const char *path, int64_t min, int64_t max,
                          int64_t *out);
/* positive: must be > 0. Infinity and NaN are refused. */
int berth__config_get_num(struct cfg_ctx *x, const struct ynode *n,
                          const char *path, bool positive, double *out);
int berth__config_get_bool(struct cfg_ctx *x, const struct ynode *n,
                           const char *path, bool *out);
/* Whole seconds: an integer, or a duration string ("90s", "5m", "1h30m"). */
int berth__config_get_seconds(struct cfg_ctx *x, const struct ynode *n,
                              const char *path, int64_t min, int64_t max,
                              int64_t *out);
/* A list of strings; null means empty. */
int berth__config_get_strv(struct cfg_ctx *x, const struct ynode *n,
                           const char *path, struct berth_strv *out);
/* A mapping of names to scalar values (as text); null means empty.
 * env_names: names must not contain '='. */
int berth__config_get_strmap(struct cfg_ctx *x, const struct ynode *n,
                             const char *path, bool env_names,
                             struct berth_map *out);

/* Names of executors, hosts, templates, environments: 1-63 of [A-Za-z0-9._-]
 * starting with a letter or digit. */
bool berth__config_valid_name(const char *s);
int berth__config_check_name(struct cfg_ctx *x, const struct ynode *n,
                             const char *path, const char *name);

#endif
