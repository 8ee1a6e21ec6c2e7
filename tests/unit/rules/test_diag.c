/* test_diag.c - compile errors printed the way compilers do: file, line
 * and column of the rule inside its file, the text, the caret, the hint. */
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"

static void formats_as(const char *text, const char *file, int line, int col,
                       berth_rule_col_fn map, void *ctx, const char *want)
{
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    struct berth_err err;
    struct berth_buf out = BERTH_BUF_INIT;

    assert_int_equal(berth_rule_compile(text, strlen(text), &r, &d, &err),
                     BERTH_E_PARSE);
    berth_rule_diag_format(&d, text, strlen(text), file, line, col, map, ctx,
                           &out);
    if (strcmp(berth_buf_cstr(&out), want) != 0)
        fail_msg("want:\n%s\ngot:\n%s", want, berth_buf_cstr(&out));
    berth_buf_release(&out);
}

static void test_diag__position_inside_the_yaml_file(void **state)
{
    (void)state;
    /* The STYLE.md example: the rule starts at line 31, column 14. */
    formats_as("job.memroy > 4096", "berth.yaml", 31, 14, NULL, NULL,
               "berth.yaml:31:18: error: unknown attribute 'memroy' of "
               "'job'\n"
               "    job.memroy > 4096\n"
               "        ^~~~~~\n"
               "    hint: did you mean 'memory_mb'? (a name of its own, not "
               "an attribute of 'job')\n");
    formats_as("memory_mb > 'x'", NULL, 1, 1, NULL, NULL,
               "<rule>:1:11: error: '>' not supported between instances of "
               "'int' and 'str'\n"
               "    memory_mb > 'x'\n"
               "              ^\n");
}

/* A quoted YAML scalar: "a \"b\"" shifts columns after each escape. */
static int shifted(size_t offset, void *ctx)
{
    return *(int *)ctx + (int)offset + (offset >= 5 ? 1 : 0);
}

static void test_diag__column_map_for_escaped_scalars(void **state)
{
    int base = 20;
    (void)state;
    formats_as("'x\"' == nmae", "c.yaml", 3, 20, shifted, &base,
               "c.yaml:3:29: error: unknown name 'nmae'\n"
               "    'x\"' == nmae\n"
               "            ^~~~\n"
               "    hint: did you mean 'job.name' or 'template.name' or "
               "'user.name'?\n");
}

static void test_diag__multi_line_rule_and_tabs(void **state)
{
    (void)state;
    formats_as("(memory_mb > 1 and\n\tcpu_cores > 'x')", "f.yaml", 10, 5, NULL,
               NULL,
               "f.yaml:11:12: error: '>' not supported between instances of "
               "'float' and 'str'\n"
               "    \tcpu_cores > 'x')\n"
               "    \t          ^\n");
}

static void test_diag__carets_count_code_points(void **state)
{
    (void)state;
    formats_as("'日本語' == tempalte.name", "u.yaml", 1, 1, NULL, NULL,
               "u.yaml:1:10: error: unknown name 'tempalte'\n"
               "    '日本語' == tempalte.name\n"
               "             ^~~~~~~~\n"
               "    hint: did you mean 'template'?\n");
    formats_as("'é", NULL, 1, 1, NULL, NULL,
               "<rule>:1:1: error: unterminated string literal\n"
               "    'é\n"
               "    ^~\n"
               "    hint: close it with '\n");
}

static void test_diag__end_of_rule_caret_sits_after_the_text(void **state)
{
    (void)state;
    formats_as("memory_mb >", NULL, 1, 1, NULL, NULL,
               "<rule>:1:12: error: invalid syntax: unexpected end of rule\n"
               "    memory_mb >\n"
               "               ^\n");
}

/* A `|` block scalar at line 40, indented by 6: text line k is file
 * line 40 + k, and its columns start at 7. */
static void block_pos(size_t offset, int *line, int *col, void *ctx)
{
    const char *text = ctx;
    int l = 40, c = 7;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            l++;
            c = 7;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void test_diag__position_callback_for_block_scalars(void **state)
{
    const char *text = "memory_mb > 1 and\ncpu_cores > 'x'\n";
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    struct berth_err err;
    struct berth_buf out = BERTH_BUF_INIT;
    const char *wide = "(memory_mb > 1 and\n cpu_cores > 'x')";
    (void)state;
    /* A block scalar of one rule over two lines needs its parentheses;
     * the newline error points at the second line. */
    assert_int_equal(berth_rule_compile(text, strlen(text), &r, &d, &err),
                     BERTH_E_PARSE);
    berth_rule_diag_format_pos(&d, text, strlen(text), "b.yaml", block_pos,
                               (void *)text, &out);
    assert_string_equal(berth_buf_cstr(&out),
                        "b.yaml:41:7: error: unexpected newline before this "
                        "token\n"
                        "    cpu_cores > 'x'\n"
                        "    ^\n"
                        "    hint: a rule is one expression: wrap a "
                        "multi-line rule in parentheses\n");
    berth_buf_reset(&out);
    assert_int_equal(berth_rule_compile(wide, strlen(wide), &r, &d, &err),
                     BERTH_E_PARSE);
    berth_rule_diag_format_pos(&d, wide, strlen(wide), "b.yaml", block_pos,
                               (void *)wide, &out);
    assert_string_equal(berth_buf_cstr(&out),
                        "b.yaml:41:18: error: '>' not supported between "
                        "instances of 'float' and 'str'\n"
                        "     cpu_cores > 'x')\n"
                        "               ^\n");
    berth_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag__position_inside_the_yaml_file),
        cmocka_unit_test(test_diag__column_map_for_escaped_scalars),
        cmocka_unit_test(test_diag__multi_line_rule_and_tabs),
        cmocka_unit_test(test_diag__carets_count_code_points),
        cmocka_unit_test(test_diag__end_of_rule_caret_sits_after_the_text),
        cmocka_unit_test(test_diag__position_callback_for_block_scalars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
