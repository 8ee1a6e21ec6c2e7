/*
 * berth/opts.h - typed option lists: an executor's options from the config
 * file (executors.<name>.*, and per-host overrides), validated against the
 * schema each backend publishes in its ops table.
 *
 * A struct berth_opts owns its values. Lookups return borrowed pointers
 * valid while the opts live.
 */
#ifndef BERTH_OPTS_H
#define BERTH_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/util.h"

enum berth_opt_type {
    BERTH_OPT_STR = 1,
    BERTH_OPT_INT = 2, /* integer */
    BERTH_OPT_NUM = 3, /* integer or float */
    BERTH_OPT_BOOL = 4,
    BERTH_OPT_LIST = 5, /* list of strings */
};

/* One entry of a backend's option schema. Tables end with {NULL}. */
struct berth_opt_spec {
    const char *name;
    enum berth_opt_type type;
    const char *help;
};

struct berth_opt {
    char *key;
    enum berth_opt_type type;
    char *s;
    int64_t i;
    double num; /* set for INT too */
    bool b;
    struct berth_strv list;
    int line; /* where it was set in the config file; 0 if not from a file */
    int col;
};

struct berth_opts {
    struct berth_opt *v;
    size_t n;
    size_t cap;
};

#define BERTH_OPTS_INIT                                                        \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

void berth_opts_init(struct berth_opts *o);
void berth_opts_release(struct berth_opts *o);
void berth_opts_copy(struct berth_opts *dst, const struct berth_opts *src);
/* Sets every option of src into dst (src wins). */
void berth_opts_merge(struct berth_opts *dst, const struct berth_opts *src);

void berth_opts_set_str(struct berth_opts *o, const char *key, const char *v);
void berth_opts_set_int(struct berth_opts *o, const char *key, int64_t v);
void berth_opts_set_num(struct berth_opts *o, const char *key, double v);
void berth_opts_set_bool(struct berth_opts *o, const char *key, bool v);
void berth_opts_set_list(struct berth_opts *o, const char *key,
                         const struct berth_strv *v);

/* Borrowed; NULL when absent. */
const struct berth_opt *berth_opts_find(const struct berth_opts *o,
                                        const char *key);
const char *berth_opts_str(const struct berth_opts *o, const char *key,
                           const char *dflt);
int64_t berth_opts_int(const struct berth_opts *o, const char *key,
                       int64_t dflt);
double berth_opts_num(const struct berth_opts *o, const char *key, double dflt);
bool berth_opts_bool(const struct berth_opts *o, const char *key, bool dflt);
/* NULL when absent. */
const struct berth_strv *berth_opts_list(const struct berth_opts *o,
                                         const char *key);

/* JSON object text <-> opts (for storing per-host overrides). */
char *berth_opts_to_json(const struct berth_opts *o); /* caller frees */
int berth_opts_from_json(struct berth_opts *o, const char *text,
                         struct berth_err *err);

/* The spec entry for key, or NULL. */
const struct berth_opt_spec *berth_opt_spec_find(const struct berth_opt_spec *t,
                                                 const char *key);

#endif
