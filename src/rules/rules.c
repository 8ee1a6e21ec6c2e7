/* rules.c - placeholder until the rule language lands. */
#include "berth/rules.h"

int berth_rule_compile(const char *text, size_t len, struct berth_rule **out,
                       struct berth_rule_diag *diag, struct berth_err *err)
{
    (void)text;
    (void)len;
    (void)diag;
    *out = NULL;
    return berth_err_set(err, BERTH_E_UNSUPPORTED, "rules not built");
}

void berth_rule_free(struct berth_rule *r)
{
    (void)r;
}

void berth_rule_diag_format(const struct berth_rule_diag *d, const char *text,
                            size_t text_len, const char *file, int line,
                            int col, berth_rule_col_fn col_map, void *map_ctx,
                            struct berth_buf *out)
{
    (void)d;
    (void)text_len;
    (void)col_map;
    (void)map_ctx;
    berth_buf_printf(out, "%s:%d:%d: error: rules not built: %s\n",
                     file ? file : "<rule>", line, col, text);
}

int berth_rule_match(const struct berth_rule *r, const struct berth_rule_ctx *ctx,
                     struct berth_err *err)
{
    (void)r;
    (void)ctx;
    return berth_err_set(err, BERTH_E_RUNTIME, "rules not built");
}

const char *berth_rule_text(const struct berth_rule *r)
{
    (void)r;
    return "";
}
