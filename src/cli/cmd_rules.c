/*
 * cmd_rules.c - `berth rules eval EXPR [--context JSON|@FILE]`: evaluate one
 * rule expression against a context and print the result as Python's
 * repr() would (DESIGN.md § The rule language). Needs no config or store.
 *
 * `berth rules eval --batch` (for tests and tools) reads one JSON object
 * per line from stdin, {"expr": "...", "context": {...}}, and writes one
 * JSON object per line: {"value": "<repr>", "match": true|false}, or
 * {"error": "...", "kind": "compile"|"runtime"|"input"} (compile errors also
 * carry "diag", the formatted diagnostic).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth/rules.h"
#include "berth/util.h"
#include "cli.h"

#define CONTEXT_FILE_MAX (1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berth rules eval EXPR [--context JSON|@FILE]\n"
            "\n"
            "Evaluate a rule expression and print the result as Python "
            "prints it\n(True, 3, 2.5, 'abc', None, ['a', 'b']). Exit 0 on "
            "a value, 1 on an error.\n"
            "\n"
            "The context is a JSON object with any of: memory_mb, "
            "cpu_cores,\ntimeout_seconds, hour, weekday (numbers); labels "
            "(object of strings);\njob {id, name, priority, labels, "
            "preferred_executor}; template {name,\nimage, labels, "
            "memory_limit, cpu_limit, timeout_seconds}; user {name,\ngroups} "
            "or null. Missing values default to 0, '' or empty.\n");
}

/* Compile, printing a diagnostic on failure. Caller frees *out. */
static int compile_expr(const char *expr, struct berth_rule **out,
                        struct berth_rule_diag *d, struct berth_buf *diag_text)
{
    struct berth_err err;

    berth_err_init(&err);
    if (berth_rule_compile(expr, strlen(expr), out, d, &err) == 0)
        return 0;
    berth_rule_diag_format(d, expr, strlen(expr), "<expr>", 1, 1, NULL, NULL,
                           diag_text);
    return BERTH_E_PARSE;
}

static int eval_one(const char *expr, const char *context)
{
    struct berth_rule_ctx_json *cj = NULL;
    const struct berth_rule_ctx *ctx;
    struct berth_rule *r = NULL;
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_rule_diag d;
    char *file_text = NULL;
    struct berth_err err;
    int rc = CLI_ERR;

    berth_err_init(&err);
    if (context && context[0] == '@') {
        size_t len;
        if (berth_read_file(context + 1, CONTEXT_FILE_MAX, &file_text, &len,
                            &err) != 0) {
            cli_fail("%s", err.msg);
            goto out;
        }
        context = file_text;
    }
    if (berth_rule_ctx_from_json(context, &cj, &ctx, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    if (compile_expr(expr, &r, &d, &out) != 0) {
        fputs(berth_buf_cstr(&out), stderr);
        goto out;
    }
    if (berth_rule_eval_repr(r, ctx, &out, &err) != 0) {
        cli_fail("%s", err.msg);
        goto out;
    }
    printf("%s\n", berth_buf_cstr(&out));
    rc = CLI_OK;
out:
    berth_buf_release(&out);
    berth_rule_free(r);
    berth_rule_ctx_json_free(cj);
    free(file_text);
    return rc;
}

static json_t *batch_line(const char *line)
{
    struct berth_rule_ctx_json *cj = NULL;
    const struct berth_rule_ctx *ctx;
    struct berth_rule *r = NULL;
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_rule_diag d;
    struct berth_err err;
    json_error_t jerr;
    json_t *in, *res = NULL, *expr, *context;
    char *ctext = NULL;
    int m;

    berth_err_init(&err);
    in = json_loads(line, 0, &jerr);
    expr = in ? json_object_get(in, "expr") : NULL;
    if (!expr || !json_is_string(expr)) {
        res = json_pack("{s:s, s:s}", "error",
                        "each line must be {\"expr\": ..., \"context\": ...}",
                        "kind", "input");
        goto out;
    }
    context = json_object_get(in, "context");
    if (context && !json_is_null(context))
        ctext = json_dumps(context, JSON_COMPACT);
    if (berth_rule_ctx_from_json(ctext, &cj, &ctx, &err) != 0) {
        res = json_pack("{s:s, s:s}", "error", err.msg, "kind", "input");
        goto out;
    }
    if (compile_expr(json_string_value(expr), &r, &d, &out) != 0) {
        res = json_pack("{s:s, s:s, s:s}", "error", d.msg, "kind", "compile",
                        "diag", berth_buf_cstr(&out));
        goto out;
    }
    if (berth_rule_eval_repr(r, ctx, &out, &err) != 0) {
        res = json_pack("{s:s, s:s}", "error", err.msg, "kind", "runtime");
        goto out;
    }
    /* The routing entry point must agree with the value's truth. */
    berth_err_init(&err);
    m = berth_rule_match(r, ctx, &err);
    res =
        json_pack("{s:s, s:b}", "value", berth_buf_cstr(&out), "match", m == 1);
out:
    json_decref(in);
    free(ctext);
    berth_buf_release(&out);
    berth_rule_free(r);
    berth_rule_ctx_json_free(cj);
    return res;
}

static int eval_batch(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_t *res;
        char *text;
        if (n == 1 && line[0] == '\n')
            continue;
        res = batch_line(line);
        text = res ? json_dumps(res, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        printf("%s\n", text ? text
                            : "{\"error\":\"internal\",\"kind\":"
                              "\"input\"}");
        free(text);
        json_decref(res);
    }
    free(line);
    return fflush(stdout) == 0 ? CLI_OK : CLI_ERR;
}

static int rules_eval(int argc, char **argv)
{
    const char *expr = NULL, *context = NULL;
    bool batch = false, opts_done = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = true;
        } else if (!opts_done && strcmp(a, "--context") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error("rules", "--context needs a value");
            context = argv[++i];
        } else if (!opts_done && strncmp(a, "--context=", 10) == 0) {
            context = a + 10;
        } else if (!opts_done && strcmp(a, "--batch") == 0) {
            batch = true;
        } else if (!opts_done && strncmp(a, "--", 2) == 0) {
            return cli_usage_error("rules", "unknown option '%s'", a);
        } else if (!expr) {
            /* A lone "-1" is an expression, not an option. */
            expr = a;
        } else {
            return cli_usage_error("rules", "unexpected argument '%s'", a);
        }
    }
    if (batch) {
        if (expr || context)
            return cli_usage_error("rules", "--batch reads expressions and "
                                            "contexts from stdin");
        return eval_batch();
    }
    if (!expr)
        return cli_usage_error("rules", "rules eval needs an expression");
    return eval_one(expr, context);
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
} subcommands[] = {
    {"eval", rules_eval},
};

int cmd_rules(struct cli *c, int argc, char **argv)
{
    (void)c;
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].fn(argc - 1, argv + 1);
    if (strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    return cli_usage_error("rules", "unknown rules command '%s'", argv[1]);
}
