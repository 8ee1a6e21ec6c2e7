/* test_srcmap.c - from a byte of a YAML scalar's value back to its line and
 * column in the file, across quoting styles, escapes and line folding. */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "config/config_int.h"

struct parsed {
    struct cfg_ctx x;
    struct ynode *root;
};

static const struct ynode *parse_k(struct parsed *p, const char *text)
{
    const struct ynode *k;
    memset(p, 0, sizeof(*p));
    p->x.file = "t.yaml";
    p->x.src = text;
    p->x.src_len = strlen(text);
    assert_int_equal(berth__config_yaml_parse(&p->x, &p->root), 0);
    assert_int_equal(p->x.n_diags, 0);
    k = berth__config_map_get(p->root, "k");
    assert_non_null(k);
    return k;
}

static void done(struct parsed *p)
{
    berth__config_ynode_free(p->root);
    berth__config_ctx_release(&p->x);
}

/* Value byte `off` of k's scalar is at line:col. */
static void at(const char *text, const char *value, size_t off, int line,
               int col)
{
    struct parsed p;
    const struct ynode *k = parse_k(&p, text);
    int l, c;
    assert_string_equal(k->text, value);
    berth__config_scalar_pos(&p.x, k, off, &l, &c);
    if (l != line || c != col)
        fail_msg("%s: offset %zu: got %d:%d, want %d:%d", text, off, l, c, line,
                 col);
    done(&p);
}

static void test_srcmap__plain_scalar_counts_from_its_start(void **state)
{
    (void)state;
    at("k: abc def\n", "abc def", 0, 1, 4);
    at("k: abc def\n", "abc def", 4, 1, 8);
    at("x: 1\nk:    abc\n", "abc", 2, 2, 9);
}

static void
test_srcmap__single_quotes_skip_the_quote_and_doubled_quotes(void **state)
{
    (void)state;
    /* k: 'it''s x'   the quote is column 4 */
    at("k: 'it''s x'\n", "it's x", 0, 1, 5);
    at("k: 'it''s x'\n", "it's x", 2, 1, 7);
    at("k: 'it''s x'\n", "it's x", 3, 1, 9);
    at("k: 'it''s x'\n", "it's x", 5, 1, 11);
}

static void test_srcmap__double_quote_escapes_shift_columns(void **state)
{
    (void)state;
    /* "a\tb\u00e9c": a=0 \t=1 b=2 é=3,4 c=5 */
    at("k: \"a\\tb\\u00e9c\"\n",
       "a\tb\xc3\xa9"
       "c",
       1, 1, 6);
    at("k: \"a\\tb\\u00e9c\"\n",
       "a\tb\xc3\xa9"
       "c",
       2, 1, 8);
    at("k: \"a\\tb\\u00e9c\"\n",
       "a\tb\xc3\xa9"
       "c",
       3, 1, 9);
    at("k: \"a\\tb\\u00e9c\"\n",
       "a\tb\xc3\xa9"
       "c",
       4, 1, 9);
    at("k: \"a\\tb\\u00e9c\"\n",
       "a\tb\xc3\xa9"
       "c",
       5, 1, 15);
    /* \x41 is one byte from four characters; \" one from two */
    at("k: \"\\x41\\\"z\"\n", "A\"z", 2, 1, 11);
    /* \N (next line) decodes to two bytes */
    at("k: \"\\Nq\"\n", "\xc2\x85q", 2, 1, 7);
}

static void test_srcmap__columns_count_characters_not_bytes(void **state)
{
    (void)state;
    /* é is two bytes, one column */
    at("k: \"\xc3\xa9 x\"\n", "\xc3\xa9 x", 3, 1, 7);
    at("k: \xc3\xa9\xc3\xa9 x\n", "\xc3\xa9\xc3\xa9 x", 5, 1, 7);
    /* libyaml does not count a byte order mark */
    at("\xef\xbb\xbfk: 'x y'\n", "x y", 2, 1, 7);
}

static void test_srcmap__folded_lines_point_at_the_right_line(void **state)
{
    (void)state;
    /* a plain scalar over two lines: the break folds into a space */
    at("k: abc\n  def\n", "abc def", 4, 2, 3);
    at("k: abc\n  def\n", "abc def", 3, 1, 7);
    /* an escaped line break in double quotes disappears */
    at("k: \"abc\\\n  def\"\n", "abcdef", 3, 2, 3);
    /* single quotes fold like plain scalars */
    at("k: 'abc\n   def'\n", "abc def", 5, 2, 5);
    /* block scalars start on the next line */
    at("k: >\n  abc\n  def\n", "abc def\n", 4, 3, 3);
    at("k: |\n  abc\n  def\n", "abc\ndef\n", 5, 3, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_srcmap__plain_scalar_counts_from_its_start),
        cmocka_unit_test(
            test_srcmap__single_quotes_skip_the_quote_and_doubled_quotes),
        cmocka_unit_test(test_srcmap__double_quote_escapes_shift_columns),
        cmocka_unit_test(test_srcmap__columns_count_characters_not_bytes),
        cmocka_unit_test(test_srcmap__folded_lines_point_at_the_right_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
