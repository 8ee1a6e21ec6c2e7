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
