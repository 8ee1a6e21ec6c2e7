/* test_compile.c - the compiled form: its caps (evaluation slots, runtime
 * list slots), constant lists, self-contained memory, and the public
 * compile contract (text, length, err). */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"

static char *repeat(const char *head, const char *unit, int n, const char *tail)
{
    struct berth_buf b = BERTH_BUF_INIT;
    berth_buf_puts(&b, head);
    for (int i = 0; i < n; i++)
        berth_buf_puts(&b, unit);
    berth_buf_puts(&b, tail);
    return berth_buf_detach(&b);
}

static int compile(const char *s, struct berth_rule **r,
                   struct berth_rule_diag *d)
{
    struct berth_err err;
    return berth_rule_compile(s, strlen(s), r, d, &err);
}

static void eval_is(const struct berth_rule *r, const char *want)
{
    struct berth_rule_ctx ctx;
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_err err;
    memset(&ctx, 0, sizeof(ctx));
    ctx.hour = 3;
    if (berth_rule_eval_repr(r, &ctx, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(berth_buf_cstr(&out), want);
    berth_buf_release(&out);
}

static void test_compile__stack_cap_is_an_ordinary_error(void **state)
{
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    char *s;
    (void)state;
    /* Every element of a list built at run time takes a slot. */
    s = repeat("[hour", ", hour", 255, "]");
    assert_int_equal(compile(s, &r, &d), 0);
    eval_is(r, "[3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
               "3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]");
    berth_rule_free(r);
    free(s);
    s = repeat("[hour", ", hour", 256, "]");
    assert_int_equal(compile(s, &r, &d), BERTH_E_PARSE);
    assert_null(r);
    assert_string_equal(d.msg, "expression too large (needs more than 256 "
                               "evaluation slots)");
    free(s);
}

static void test_compile__runtime_list_cap_is_an_ordinary_error(void **state)
{
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    char *a = repeat("[hour", ", hour", 127, "]");
    char *s = berth_xasprintf("%s == %s", a, a);
    (void)state;
    assert_int_equal(compile(s, &r, &d), 0);
    eval_is(r, "True");
    berth_rule_free(r);
    free(s);
    s = berth_xasprintf("%s == %s == [hour]", a, a);
    assert_int_equal(compile(s, &r, &d), BERTH_E_PARSE);
    assert_string_equal(d.msg, "expression too large (lists built while "
                               "evaluating need more than 256 elements)");
    free(s);
    free(a);
}

static void test_compile__constant_lists_cost_no_slots(void **state)
{
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    char *s = repeat("hour in [0", ", -1", 1000, ", 3]");
    (void)state;
    assert_int_equal(compile(s, &r, &d), 0);
    eval_is(r, "True");
    berth_rule_free(r);
    free(s);
}

static void test_compile__rule_owns_its_memory(void **state)
{
    struct berth_rule *r = NULL;
    struct berth_err err;
    char *text = berth_xstrdup("[template.name + 'x', 'lit'] == ['x', 'lit']"
                               " and 'ml' in ['ml', 'batch']  TRAILING");
    size_t len = strlen(text) - strlen("  TRAILING");
    (void)state;
    /* len stops before the trailer: the text need not be NUL-terminated. */
    assert_int_equal(berth_rule_compile(text, len, &r, NULL, &err), 0);
    memset(text, 'Z', strlen(text));
    free(text);
    assert_string_equal(berth_rule_text(r),
                        "[template.name + 'x', 'lit'] == ['x', 'lit'] and "
                        "'ml' in ['ml', 'batch']");
    eval_is(r, "True");
    berth_rule_free(r);
    berth_rule_free(NULL);
}

static void test_compile__err_names_the_column_in_code_points(void **state)
{
    struct berth_rule *r = (struct berth_rule *)&r;
    struct berth_rule_diag d;
    struct berth_err err;
    const char *s = "'日本' == labels.tema";
    (void)state;
    assert_int_equal(berth_rule_compile(s, strlen(s), &r, &d, &err),
                     BERTH_E_PARSE);
    assert_null(r);
    assert_int_equal(err.rc, BERTH_E_PARSE);
    assert_string_equal(err.msg, "col 16: 'dict' object has no attribute "
                                 "'tema'");
    assert_int_equal(d.offset, 19); /* bytes */
    /* diag may be NULL. */
    assert_int_equal(berth_rule_compile(s, strlen(s), &r, NULL, &err),
                     BERTH_E_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile__stack_cap_is_an_ordinary_error),
        cmocka_unit_test(test_compile__runtime_list_cap_is_an_ordinary_error),
        cmocka_unit_test(test_compile__constant_lists_cost_no_slots),
        cmocka_unit_test(test_compile__rule_owns_its_memory),
        cmocka_unit_test(test_compile__err_names_the_column_in_code_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
