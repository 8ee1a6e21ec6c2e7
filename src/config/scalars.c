/*
 * scalars.c - reading typed values out of YAML nodes, with the error
 * messages users see when a value has the wrong type (see scalars.h).
 *
 * A plain (unquoted) scalar takes the type of the slot it fills, so
 * `region: no` is the string "no" and `enabled: true` a boolean: there is
 * no YAML 1.1 guessing. A quoted scalar is always a string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scalars.h"

bool berth__config_is_null(const struct ynode *n)
{
    if (n->kind != YN_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 ||
           strcmp(n->text, "null") == 0 || strcmp(n->text, "Null") == 0 ||
           strcmp(n->text, "NULL") == 0;
}

const char *berth__config_describe(const struct ynode *n, char *buf,
                                   size_t size)
{
    switch (n->kind) {
    case YN_MAP:
        return "a mapping";
    case YN_SEQ:
        return "a list";
    case YN_BAD:
        return "an unusable value";
    case YN_SCALAR:
        break;
    }
    if (n->plain && n->len == 0)
        return "nothing";
    if (berth__config_is_null(n)) {
        snprintf(buf, size, "null ('%s')", n->text);
        return buf;
    }
    if (n->len > 60)
        snprintf(buf, size, "%s'%.57s...'", n->plain ? "" : "the string ",
                 n->text);
    else
        snprintf(buf, size, "%s'%s'", n->plain ? "" : "the string ", n->text);
    return buf;
}

/* "expected X, got Y" with a hint when only the quotes are wrong. */
static int mistyped(struct cfg_ctx *x, const struct ynode *n, const char *path,
                    const char *expected, bool would_fit)
{
    char buf[128];
    if (n->kind == YN_BAD)
        return -1;
    berth__config_error(x, n, "%s: expected %s, got %s%s", path, expected,
                        berth__config_describe(n, buf, sizeof(buf)),
                        would_fit && !n->plain ? " (remove the quotes)" : "");
    return -1;
}

static bool int_syntax(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool num_syntax(const char *s)
{
    bool digits = false;
    if (*s == '-' || *s == '+')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits = true;
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++)
            digits = true;
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        for (; *s >= '0' && *s <= '9'; s++)
            ;
    }
    return *s == '\0';
}

int berth__config_get_str(struct cfg_ctx *x, const struct ynode *n,
                          const char *path, char **out)
{
    if (n->kind != YN_SCALAR || berth__config_is_null(n))
        return mistyped(x, n, path, "a string", false);
    free(*out);
    *out = berth_xstrdup(n->text);
    return 0;
}

int berth__config_get_text(struct cfg_ctx *x, const struct ynode *n,
                           const char *path, char **out)
{
    if (n->kind != YN_SCALAR)
        return mistyped(x, n, path, "a string", false);
    free(*out);
    *out = berth_xstrdup(n->text);
    return 0;
}

int berth__config_get_int(struct cfg_ctx *x, const struct ynode *n,
                          const char *path, int64_t min, int64_t max,
                          int64_t *out)
{
    int64_t v;
    bool syntax = n->kind == YN_SCALAR && int_syntax(n->text);

    if (!syntax || !n->plain)
        return mistyped(x, n, path, "an integer", syntax);
    if (berth_parse_i64(n->text, INT64_MIN, INT64_MAX, &v) != 0) {
        berth__config_error(x, n, "%s: %s is out of range", path, n->text);
        return -1;
    }
    if (v < min) {
        berth__config_error(x, n, "%s: must be at least %lld, got %lld", path,
                            (long long)min, (long long)v);
        return -1;
    }
    if (v > max) {
        berth__config_error(x, n, "%s: must be at most %lld, got %lld", path,
                            (long long)max, (long long)v);
        return -1;
    }
    *out = v;
    return 0;
}

int berth__config_get_num(struct cfg_ctx *x, const struct ynode *n,
                          const char *path, bool positive, double *out)
{
    double v;
    bool syntax = n->kind == YN_SCALAR && num_syntax(n->text);

    if (!syntax || !n->plain)
        return mistyped(x, n, path, "a number", syntax);
    if (berth_parse_double(n->text, &v) != 0) {
        berth__config_error(x, n, "%s: %s is out of range", path, n->text);
        return -1;
    }
    if (positive && !(v > 0)) {
        berth__config_error(x, n, "%s: must be greater than 0, got %s", path,
                            n->text);
        return -1;
    }
    *out = v;
    return 0;
}

int berth__config_get_bool(struct cfg_ctx *x, const struct ynode *n,
                           const char *path, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    bool syntax = false, v = false;

    if (n->kind == YN_SCALAR) {
        for (size_t i = 0; yes[i]; i++) {
            if (strcmp(n->text, yes[i]) == 0) {
                syntax = true;
                v = true;
            }
            if (strcmp(n->text, no[i]) == 0)
                syntax = true;
        }
    }
    if (!syntax || !n->plain)
        return mistyped(x, n, path, "true or false", syntax);
    *out = v;
    return 0;
}

int berth__config_get_seconds(struct cfg_ctx *x, const struct ynode *n,
                              const char *path, int64_t min, int64_t max,
                              int64_t *out)
{
    static const char *const expected =
        "seconds (an integer, or a duration such as '90s' or '5m')";
    int64_t us, v;

    if (n->kind == YN_SCALAR && n->plain && int_syntax(n->text))
        return berth__config_get_int(x, n, path, min, max, out);
    if (n->kind != YN_SCALAR || berth__config_is_null(n) ||
        berth_parse_duration(n->text, &us, NULL) != 0)
        return mistyped(x, n, path, expected, false);
    if (us % BERTH_US_PER_SEC != 0) {
        berth__config_error(x, n, "%s: must be whole seconds, got '%s'", path,
                            n->text);
        return -1;
    }
    v = us / BERTH_US_PER_SEC;
    if (v < min || v > max) {
        berth__config_error(x, n,
                            "%s: must be between %lld and %lld seconds, got "
                            "'%s'",
                            path, (long long)min, (long long)max, n->text);
        return -1;
    }
    *out = v;
    return 0;
}

int berth__config_get_strv(struct cfg_ctx *x, const struct ynode *n,
                           const char *path, struct berth_strv *out)
{
    int rc = 0;
    berth_strv_release(out);
    if (berth__config_is_null(n))
        return 0;
    if (n->kind != YN_SEQ)
        return mistyped(x, n, path, "a list of strings", false);
    for (size_t i = 0; i < n->n; i++) {
        char sub[256];
        char *s = NULL;
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (berth__config_get_str(x, n->kids[i], sub, &s) != 0) {
            rc = -1;
            continue;
        }
        berth_strv_push(out, s);
        free(s);
    }
    return rc;
}

int berth__config_get_strmap(struct cfg_ctx *x, const struct ynode *n,
                             const char *path, bool env_names,
                             struct berth_map *out)
{
    int rc = 0;
    berth_map_release(out);
    if (berth__config_is_null(n))
        return 0;
    if (n->kind != YN_MAP)
        return mistyped(x, n, path, "a mapping of names to values", false);
    for (size_t i = 0; i + 1 < n->n; i += 2) {
        const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
        char sub[256];
        char *s = NULL;
        if (k->kind != YN_SCALAR) {
            rc = -1;
            continue;
        }
        snprintf(sub, sizeof(sub), "%s.%s", path, k->text);
        if (k->len == 0 || (env_names && strchr(k->text, '=') != NULL)) {
            berth__config_error(x, k, "%s: '%s' is not a valid %s name", path,
                                k->text, env_names ? "variable" : "label");
            rc = -1;
            continue;
        }
        if (berth__config_get_text(x, v, sub, &s) != 0) {
            rc = -1;
            continue;
        }
        berth_map_set(out, k->text, s);
        free(s);
    }
    return rc;
}

bool berth__config_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
            return false;
    }
    return true;
}

int berth__config_check_name(struct cfg_ctx *x, const struct ynode *n,
                             const char *path, const char *name)
{
    if (berth__config_valid_name(name))
        return 0;
    berth__config_error(x, n,
                        "%s: '%s' is not a valid name: use up to 63 letters, "
                        "digits, '-', '_' and '.', starting with a letter or "
                        "digit",
                        path, name);
    return -1;
}
