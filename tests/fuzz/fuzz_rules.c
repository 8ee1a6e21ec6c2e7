/*
 * fuzz_rules.c - libFuzzer target for the rule language: lexer, parser,
 * checker, compiler and evaluator, plus diagnostics.
 *
 * Input: the rule text, optionally followed by a NUL byte and a JSON
 * context. A rule that compiles is evaluated against fixed contexts (no
 * user; a user with groups and labels) and the given one, through both
 * berth_rule_match() and berth_rule_eval_repr(), which must agree. A rule
 * that does not compile has its diagnostic formatted, which must point
 * inside the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/rules.h"
#include "berth/util.h"
#include "rules/rules_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_eval(const struct berth_rule *r,
                       const struct berth_rule_ctx *ctx)
{
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_err e1, e2;
    int rc = berth_rule_eval_repr(r, ctx, &out, &e1);
    int m = berth_rule_match(r, ctx, &e2);

    if (rc == 0 && m != 0 && m != 1)
        abort();
    if (rc != 0 && (rc != BERTH_E_RUNTIME || m != BERTH_E_RUNTIME ||
                    strcmp(e1.msg, e2.msg) != 0))
        abort();
    berth_buf_release(&out);
}

static int shift_col(size_t offset, void *ctx)
{
    return (int)offset + *(int *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    struct berth_err err;
    struct berth_map labels = BERTH_MAP_INIT, tl = BERTH_MAP_INIT;
    struct berth_strv groups = BERTH_STRV_INIT;
    struct berth_rule_ctx ctx;
    char *dump;

    /* The tree dump walks the same front end (and frees what it built). */
    dump = berth__rule_dump(text, len, &err);
    free(dump);

    if (berth_rule_compile(text, len, &r, &d, &err) != 0) {
        struct berth_buf out = BERTH_BUF_INIT;
        int base = 7;
        if (r != NULL || d.offset > len)
            abort();
        berth_rule_diag_format(&d, text, len, "fuzz.yaml", 3, 5, NULL, NULL,
                               &out);
        berth_rule_diag_format(&d, text, len, NULL, 1, 1, shift_col, &base,
                               &out);
        berth_buf_release(&out);
        return 0;
    }
    if (strlen(berth_rule_text(r)) != len)
        abort();

    memset(&ctx, 0, sizeof(ctx));
    check_eval(r, &ctx);

    berth_map_set(&tl, "team", "ml");
    berth_map_set(&labels, "team", "infra");
    berth_map_set(&labels, "gpu", "");
    berth_strv_push(&groups, "premium");
    berth_strv_push(&groups, "caf\xc3\xa9");
    ctx.job_id = 42;
    ctx.job_name = "nightly";
    ctx.job_priority = 100;
    ctx.job_labels = &labels;
    ctx.template_name = "ml-Train ";
    ctx.template_image = "busybox";
    ctx.template_labels = &tl;
    ctx.template_memory_limit = INT64_MAX;
    ctx.template_cpu_limit = -0.0;
    ctx.has_user = true;
    ctx.user_name = "\xe6\x97\xa5 alice";
    ctx.user_groups = &groups;
    ctx.memory_mb = INT64_MIN;
    ctx.cpu_cores = 4.5;
    ctx.timeout_seconds = -1;
    ctx.labels = &labels;
    ctx.hour = 23;
    ctx.weekday = 6;
    check_eval(r, &ctx);

    if (nul) {
        char *json = berth_xstrndup((const char *)nul + 1, size - len - 1);
        struct berth_rule_ctx_json *cj = NULL;
        const struct berth_rule_ctx *jctx;
        if (berth_rule_ctx_from_json(json, &cj, &jctx, &err) == 0)
            check_eval(r, jctx);
        berth_rule_ctx_json_free(cj);
        free(json);
    }

    berth_rule_free(r);
    berth_map_release(&labels);
    berth_map_release(&tl);
    berth_strv_release(&groups);
    return 0;
}
