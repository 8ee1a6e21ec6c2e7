/*
 * test_cases.c - the rule language's table files (STYLE.md § 9):
 * tests/rules/eval.cases (expression, context, Python's result) and
 * tests/rules/errors.cases (faulty rule, exact diagnostic with caret).
 * The same eval.cases are checked against python3 by
 * tests/integration/test_rules_diff.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"

static char *read_table(const char *name)
{
    const char *src = getenv("BERTH_SOURCE_DIR");
    char *path, *text = NULL;
    size_t len;
    struct berth_err err;

    path = berth_xasprintf("%s/tests/rules/%s", src ? src : ".", name);
    if (berth_read_file(path, 0, &text, &len, &err) != 0)
        fail_msg("cannot read %s: %s", path, err.msg);
    free(path);
    return text;
}

/* Split text into lines in place; returns the count. */
static size_t split_lines(char *text, char ***lines)
{
    size_t n = 0, cap = 0;
    char *p = text;
    *lines = NULL;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            *lines = berth_xrealloc(*lines, cap * sizeof(**lines));
        }
        (*lines)[n++] = p;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

/* "\n" in a table line stands for a newline in the rule. */
static char *unescape_nl(const char *s)
{
    struct berth_buf b = BERTH_BUF_INIT;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') {
            berth_buf_append(&b, "\n", 1);
            s++;
        } else {
            berth_buf_append(&b, s, 1);
        }
    }
    return berth_buf_detach(&b);
}

static void test_cases__eval_table(void **state)
{
    char *text = read_table("eval.cases");
    char **lines;
    size_t n = split_lines(text, &lines), i = 0, cases = 0, bad = 0;
    (void)state;

    while (i < n) {
        const char *expr, *ctxt, *want;
        struct berth_rule_ctx_json *cj = NULL;
        const struct berth_rule_ctx *ctx;
        struct berth_rule *r = NULL;
        struct berth_buf out = BERTH_BUF_INIT;
        struct berth_err err;
        const char *got;

        if (lines[i][0] == '#' || lines[i][0] == '\0') {
            i++;
            continue;
        }
        assert_true(i + 2 < n);
        expr = lines[i];
        ctxt = lines[i + 1];
        want = lines[i + 2];
        i += 3;
        cases++;
        berth_err_init(&err);
        if (berth_rule_ctx_from_json(ctxt, &cj, &ctx, &err) != 0) {
            print_error("%s: bad context: %s\n", expr, err.msg);
            bad++;
            continue;
        }
        if (berth_rule_compile(expr, strlen(expr), &r, NULL, &err) != 0) {
            print_error("%s: refused: %s\n", expr, err.msg);
            bad++;
            berth_rule_ctx_json_free(cj);
            continue;
        }
        if (berth_rule_eval_repr(r, ctx, &out, &err) == 0) {
            got = berth_buf_cstr(&out);
        } else {
            berth_buf_reset(&out);
            berth_buf_printf(&out, "error: %s", err.msg);
            got = berth_buf_cstr(&out);
            /* The routing entry point reports the same error. */
            berth_err_init(&err);
            assert_int_equal(berth_rule_match(r, ctx, &err), BERTH_E_RUNTIME);
            assert_string_equal(got + 7, err.msg);
        }
        if (strcmp(got, want) != 0) {
            print_error("%s\n    context: %s\n    want: %s\n    got:  %s\n",
                        expr, ctxt, want, got);
            bad++;
        }
        berth_buf_release(&out);
        berth_rule_free(r);
        berth_rule_ctx_json_free(cj);
    }
    print_message("%zu eval cases\n", cases);
    assert_true(cases >= 250);
    assert_int_equal(bad, 0);
    free(lines);
    free(text);
}

static void test_cases__errors_table(void **state)
{
    char *text = read_table("errors.cases");
    char **lines;
    size_t n = split_lines(text, &lines), i = 0, cases = 0, bad = 0;
    (void)state;

    while (i < n) {
        struct berth_buf want = BERTH_BUF_INIT, got = BERTH_BUF_INIT;
        struct berth_rule_diag d;
        struct berth_rule *r = NULL;
        struct berth_err err;
        char *expr;

        if (lines[i][0] == '#' || lines[i][0] == '\0') {
            i++;
            continue;
        }
        expr = unescape_nl(lines[i++]);
        while (i < n && lines[i][0] != '\0') {
            berth_buf_puts(&want, lines[i++]);
            berth_buf_puts(&want, "\n");
        }
        cases++;
        berth_err_init(&err);
        if (berth_rule_compile(expr, strlen(expr), &r, &d, &err) == 0) {
            print_error("accepted: %s\n", expr);
            berth_rule_free(r);
            bad++;
        } else {
            assert_int_equal(err.rc, BERTH_E_PARSE);
            assert_null(r);
            berth_rule_diag_format(&d, expr, strlen(expr), "<expr>", 1, 1, NULL,
                                   NULL, &got);
            if (strcmp(berth_buf_cstr(&got), berth_buf_cstr(&want)) != 0) {
                print_error("%s\n--- want\n%s--- got\n%s", expr,
                            berth_buf_cstr(&want), berth_buf_cstr(&got));
                bad++;
            }
        }
        free(expr);
        berth_buf_release(&want);
        berth_buf_release(&got);
    }
    print_message("%zu error cases\n", cases);
    assert_true(cases >= 15);
    assert_int_equal(bad, 0);
    free(lines);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases__eval_table),
        cmocka_unit_test(test_cases__errors_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
