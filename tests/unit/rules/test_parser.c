/* test_parser.c - the tree for every precedence level, chained and n-ary
 * forms, postfix forms, syntax errors, and the nesting caps. */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "rules/rules_int.h"

static void parses_as(const char *expr, const char *want)
{
    struct berth_err err;
    char *got;
    berth_err_init(&err);
    got = berth__rule_dump(expr, strlen(expr), &err);
    if (!got)
        fail_msg("%s: %s", expr, err.msg);
    if (strcmp(got, want) != 0)
        fail_msg("%s\n  want %s\n  got  %s", expr, want, got);
    free(got);
}

static void syntax_error(const char *expr, const char *msg)
{
    struct berth_err err;
    char *got;
    berth_err_init(&err);
    got = berth__rule_dump(expr, strlen(expr), &err);
    if (got)
        fail_msg("%s: parsed as %s", expr, got);
    assert_string_equal(err.msg, msg);
}

static void test_parser__precedence_levels(void **state)
{
    (void)state;
    /* or < and < not < comparisons < + - < * / // % < unary < postfix */
    parses_as("a or b and c", "(or a (and b c))");
    parses_as("a and b or c", "(or (and a b) c)");
    parses_as("not a and b", "(and (not a) b)");
    parses_as("not a == b", "(not (cmp a == b))");
    parses_as("a == b + c", "(cmp a == (+ b c))");
    parses_as("a + b * c", "(+ a (* b c))");
    parses_as("a * b + c", "(+ (* a b) c)");
    parses_as("-a * b", "(* (- a) b)");
    parses_as("a * -b", "(* a (- b))");
    parses_as("-a.b", "(- (. a b))");
    parses_as("-x[0]", "(- ([] x 0))");
    parses_as("not not a", "(not (not a))");
    parses_as("- - 1", "(- (- 1))");
    parses_as("a % b // c / d", "(/ (// (% a b) c) d)");
}

static void test_parser__left_associative_arithmetic(void **state)
{
    (void)state;
    parses_as("a - b - c", "(- (- a b) c)");
    parses_as("a // b // c", "(// (// a b) c)");
    parses_as("a - (b - c)", "(- a (- b c))");
}

static void test_parser__chains_and_nary_forms(void **state)
{
    (void)state;
    parses_as("1 < x < 5", "(cmp 1 < x < 5)");
    parses_as("a == b != c <= d", "(cmp a == b != c <= d)");
    parses_as("a or b or c", "(or a b c)");
    parses_as("a and b and c", "(and a b c)");
    parses_as("x not in y", "(cmp x not in y)");
    parses_as("x is not None", "(cmp x is not None)");
    parses_as("x is None", "(cmp x is None)");
    parses_as("not x in y", "(not (cmp x in y))");
    parses_as("a < b and c > d", "(and (cmp a < b) (cmp c > d))");
}

static void test_parser__postfix_and_literals(void **state)
{
    (void)state;
    parses_as("a.b.c(d, e)[f]", "([] (call (. (. a b) c) d e) f)");
    parses_as("x[1:2]", "([:] x 1 2)");
    parses_as("x[:-1]", "([:] x _ (- 1))");
    parses_as("x[::]", "([:] x _ _)");
    parses_as("u.g.filter(name='p').exists()",
              "(call (. (call (. (. u g) filter) name='p') exists))");
    parses_as("[1, 'a', None, True,]", "[1 'a' None True]");
    parses_as("[]", "[]");
    parses_as("'a' 'b'", "'ab'");
    parses_as("(((a)))", "a");
    parses_as("a . b", "(. a b)"); /* as in Python */
    parses_as("2.5e3", "2500.0");
}

static void test_parser__syntax_errors(void **state)
{
    (void)state;
    syntax_error("", "col 1: empty rule");
    syntax_error("a +", "col 4: invalid syntax: unexpected end of rule");
    syntax_error("a b", "col 3: invalid syntax: unexpected name 'b'");
    syntax_error("(a", "col 1: '(' was never closed");
    syntax_error("[a, b", "col 1: '[' was never closed");
    syntax_error("a)", "col 2: unmatched ')'");
    syntax_error("a, b", "col 2: tuples are not supported");
    syntax_error("()", "col 1: tuples are not supported");
    syntax_error("x[1:2:3]", "col 7: slice steps are not supported");
    syntax_error("x[1, 2]", "col 4: tuple indices are not supported");
    syntax_error("f(a=1, b)", "col 8: positional argument follows keyword "
                              "argument");
    syntax_error("f(*a)", "col 3: argument unpacking is not supported");
    syntax_error("a.1", "col 2: invalid syntax: unexpected number .1");
    syntax_error("a.", "col 2: expected an attribute name after '.'");
    syntax_error("a.(b)", "col 3: expected an attribute name after '.'");
    syntax_error("a == not b", "col 6: invalid syntax: 'not' cannot follow "
                               "an operator here");
    syntax_error("a not b", "col 3: invalid syntax: 'not' after an operand");
    syntax_error("a <> b", "col 3: invalid syntax: '<>'");
    syntax_error("a += 1", "col 3: invalid syntax: '+=' is an assignment");
    syntax_error("a := 1", "col 3: assignment expressions (:=) are not "
                           "supported");
    syntax_error("a; b", "col 2: invalid syntax: a rule is one expression");
    syntax_error("a ~ b", "col 3: operator '~' is not supported");
    syntax_error("x if y else z", "col 3: conditional expressions (a if c "
                                  "else b) are not supported");
    syntax_error("lambda: 1", "col 1: lambda is not supported");
    syntax_error("a else b", "col 3: invalid syntax: unexpected keyword "
                             "'else'");
}

/* "((((1))))" with n parentheses. */
static char *parens(int n)
{
    struct berth_buf b = BERTH_BUF_INIT;
    for (int i = 0; i < n; i++)
        berth_buf_puts(&b, "(");
    berth_buf_puts(&b, "1");
    for (int i = 0; i < n; i++)
        berth_buf_puts(&b, ")");
    return berth_buf_detach(&b);
}

static char *repeat(const char *head, const char *unit, int n, const char *tail)
{
    struct berth_buf b = BERTH_BUF_INIT;
    berth_buf_puts(&b, head);
    for (int i = 0; i < n; i++)
        berth_buf_puts(&b, unit);
    berth_buf_puts(&b, tail);
    return berth_buf_detach(&b);
}

static void compiles(const char *s, bool ok, const char *msg_part)
{
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    struct berth_err err;
    int rc = berth_rule_compile(s, strlen(s), &r, &d, &err);
    if (ok) {
        if (rc != 0)
            fail_msg("refused: %s", err.msg);
    } else {
        assert_int_equal(rc, BERTH_E_PARSE);
        if (!strstr(d.msg, msg_part))
            fail_msg("message '%s' lacks '%s'", d.msg, msg_part);
    }
    berth_rule_free(r);
}

static void test_parser__nesting_cap_is_an_ordinary_error(void **state)
{
    char *s;
    (void)state;
    /* The cap is BERTH_RULE_MAX_DEPTH levels: 63 parentheses are 64
     * levels of parsing. */
    s = parens(BERTH_RULE_MAX_DEPTH - 1);
    compiles(s, true, NULL);
    free(s);
    s = parens(BERTH_RULE_MAX_DEPTH);
    compiles(s, false, "expression nested too deeply (more than 64 levels)");
    free(s);
    /* Unary operators nest too. */
    s = repeat("", "-", BERTH_RULE_MAX_DEPTH - 1, "1");
    compiles(s, true, NULL);
    free(s);
    s = repeat("", "not ", BERTH_RULE_MAX_DEPTH, "1");
    compiles(s, false, "nested too deeply");
    free(s);
    /* So does the tree of a long left-associative chain. */
    s = repeat("1", " + 1", BERTH_RULE_MAX_DEPTH - 1, "");
    compiles(s, true, NULL);
    free(s);
    s = repeat("1", " + 1", BERTH_RULE_MAX_DEPTH, "");
    compiles(s, false, "nested too deeply");
    free(s);
    /* n-ary `or` chains are flat: hundreds of terms are fine. */
    s = repeat("memory_mb == 0", " or memory_mb == 1", 200, "");
    compiles(s, true, NULL);
    free(s);
    /* Nesting inside calls and lists counts as well. */
    s = repeat("", "len([", 40, "");
    compiles(s, false, "nested too deeply");
    free(s);
}

static void test_parser__size_cap_is_an_ordinary_error(void **state)
{
    char *s = repeat("memory_mb == 1", " or memory_mb == 1",
                     (BERTH_RULE_MAX_LEN - 14) / 18, "");
    (void)state;
    assert_true(strlen(s) <= BERTH_RULE_MAX_LEN);
    compiles(s, true, NULL);
    free(s);
    s = repeat("memory_mb == 1", " or memory_mb == 1",
               (BERTH_RULE_MAX_LEN - 14) / 18 + 1, "");
    compiles(s, false, "rule too long");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser__precedence_levels),
        cmocka_unit_test(test_parser__left_associative_arithmetic),
        cmocka_unit_test(test_parser__chains_and_nary_forms),
        cmocka_unit_test(test_parser__postfix_and_literals),
        cmocka_unit_test(test_parser__syntax_errors),
        cmocka_unit_test(test_parser__nesting_cap_is_an_ordinary_error),
        cmocka_unit_test(test_parser__size_cap_is_an_ordinary_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
