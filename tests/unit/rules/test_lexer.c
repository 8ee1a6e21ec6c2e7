/* test_lexer.c - tokens, number and string literals, lexical errors and
 * where they point. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "rules/rules_int.h"

struct lexed {
    struct tok *toks;
    size_t n;
    struct berth_buf pool;
    struct berth_rule_diag diag;
    int rc;
};

static void lex(const char *s, struct lexed *l)
{
    memset(l, 0, sizeof(*l));
    berth_buf_init(&l->pool, 0);
    l->rc = berth__rule_lex(s, strlen(s), &l->toks, &l->n, &l->pool, &l->diag);
}

static void lexed_release(struct lexed *l)
{
    free(l->toks);
    berth_buf_release(&l->pool);
}

/* The decoded bytes of string token i. */
static const char *str_of(struct lexed *l, size_t i, size_t *len)
{
    *len = l->toks[i].v.s.len;
    return l->pool.data + l->toks[i].v.s.off;
}

/* Assert a lexical error with its message and span. */
static void lex_fails(const char *s, const char *msg, size_t off, size_t len)
{
    struct lexed l;
    lex(s, &l);
    assert_int_equal(l.rc, BERTH_E_PARSE);
    assert_string_equal(l.diag.msg, msg);
    assert_int_equal(l.diag.offset, off);
    assert_int_equal(l.diag.len, len);
    lexed_release(&l);
}

static void test_lexer__kinds_and_spans(void **state)
{
    struct lexed l;
    static const enum tok_kind want[] = {
        TOK_NAME, TOK_GE,     TOK_INT,  TOK_AND,  TOK_NOT,
        TOK_NAME, TOK_DOT,    TOK_NAME, TOK_IN,   TOK_LBRACK,
        TOK_STR,  TOK_RBRACK, TOK_OR,   TOK_NONE, TOK_END,
    };
    (void)state;
    lex("memory_mb >= 8_192 and not x.y in ['a'] or None", &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.toks[i].kind, want[i]);
    assert_int_equal(l.toks[1].off, 10);
    assert_int_equal(l.toks[1].len, 2);
    assert_int_equal(l.toks[2].v.i, 8192);
    assert_int_equal(l.toks[14].off, 47); /* END at the end */
    lexed_release(&l);
}

static void test_lexer__operators_longest_match_first(void **state)
{
    struct lexed l;
    (void)state;
    lex("a//b<=c!=d==e**f", &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.toks[1].kind, TOK_DSLASH);
    assert_int_equal(l.toks[3].kind, TOK_LE);
    assert_int_equal(l.toks[5].kind, TOK_NE);
    assert_int_equal(l.toks[7].kind, TOK_EQ);
    assert_int_equal(l.toks[9].kind, TOK_BADOP);
    assert_int_equal(l.toks[9].len, 2);
    lexed_release(&l);
}

static void test_lexer__numbers_follow_python(void **state)
{
    struct lexed l;
    (void)state;
    lex("0x1F 0o17 0b101 1_000 0 00 9223372036854775807", &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.toks[0].v.i, 31);
    assert_int_equal(l.toks[1].v.i, 15);
    assert_int_equal(l.toks[2].v.i, 5);
    assert_int_equal(l.toks[3].v.i, 1000);
    assert_int_equal(l.toks[4].v.i, 0);
    assert_int_equal(l.toks[5].v.i, 0);
    assert_true(l.toks[6].v.i == INT64_MAX);
    lexed_release(&l);

    lex("2.5 1. .5 1e3 1E-3 1_0.2_5 1e400", &l);
    assert_int_equal(l.rc, 0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(l.toks[i].kind, TOK_FLOAT);
    assert_true(l.toks[0].v.f == 2.5);
    assert_true(l.toks[1].v.f == 1.0);
    assert_true(l.toks[2].v.f == 0.5);
    assert_true(l.toks[3].v.f == 1000.0);
    assert_true(l.toks[4].v.f == 0.001);
    assert_true(l.toks[5].v.f == 10.25);
    assert_true(isinf(l.toks[6].v.f));
    lexed_release(&l);
}

static void test_lexer__bad_numbers_point_at_the_fault(void **state)
{
    (void)state;
    lex_fails("x > 012",
              "leading zeros in decimal integer literals are not "
              "permitted",
              4, 3);
    lex_fails("1__0", "invalid decimal literal", 1, 1);
    lex_fails("10_", "invalid decimal literal", 2, 1);
    lex_fails("0x", "invalid hexadecimal literal", 0, 3);
    lex_fails("1e+", "invalid decimal literal", 1, 1);
    lex_fails("12abc", "invalid decimal literal", 2, 1);
    lex_fails("3j", "complex numbers are not supported", 0, 2);
    lex_fails("9223372036854775808", "integer literal too large", 0, 19);
}

static void test_lexer__string_escapes_decode_like_python(void **state)
{
    struct lexed l;
    size_t n;
    const char *s;
    (void)state;
    lex("'a\\tb\\n' \"q\\\"\" '\\x41\\u00e9\\U0001F680' '\\101\\0' 'a\\qb' "
        "r'a\\nb' '''x'y''' 'a\\\nb'",
        &l);
    assert_int_equal(l.rc, 0);
    s = str_of(&l, 0, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "a\tb\n", 4);
    s = str_of(&l, 1, &n);
    assert_memory_equal(s, "q\"", n);
    s = str_of(&l, 2, &n);
    assert_int_equal(n, 7);
    assert_memory_equal(s, "A\xc3\xa9\xf0\x9f\x9a\x80", 7);
    s = str_of(&l, 3, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(s, "A\0", 2);
    s = str_of(&l, 4, &n);
    assert_memory_equal(s, "a\\qb", n); /* unknown escape keeps '\' */
    s = str_of(&l, 5, &n);
    assert_memory_equal(s, "a\\nb", n); /* raw */
    s = str_of(&l, 6, &n);
    assert_memory_equal(s, "x'y", n); /* triple-quoted */
    s = str_of(&l, 7, &n);
    assert_memory_equal(s, "ab", n); /* backslash-newline joins */
    lexed_release(&l);
}

static void test_lexer__string_errors(void **state)
{
    (void)state;
    lex_fails("x == 'abc", "unterminated string literal", 5, 4);
    lex_fails("'ab\ncd'", "unterminated string literal", 0, 3);
    lex_fails("'''abc", "unterminated triple-quoted string literal", 0, 6);
    lex_fails("'\\x4'", "truncated \\x escape", 1, 3);
    lex_fails("'\\ud800'", "surrogate code points are not supported", 1, 6);
    lex_fails("'\\U00110000'", "illegal Unicode character in escape", 1, 10);
    lex_fails("'\\N{DASH}'", "\\N{...} escapes are not supported", 1, 2);
    lex_fails("b'x'", "bytes literals are not supported", 0, 2);
    lex_fails("f'{x}'", "f-strings are not supported", 0, 2);
}

static void test_lexer__text_checks(void **state)
{
    char *big = malloc(BERTH_RULE_MAX_LEN + 2);
    struct lexed l;
    (void)state;
    lex_fails("a \xff b", "rule text is not valid UTF-8", 2, 1);
    lex_fails("a \xc0\x80", "rule text is not valid UTF-8", 2, 1);
    lex_fails("x ? y", "invalid character '?'", 2, 1);
    lex_fails("x \xe2\x82\xac", "invalid character '\xe2\x82\xac' (U+20AC)", 2,
              3);
    lex_fails("x \\ y",
              "unexpected character after line continuation "
              "character",
              2, 1);

    memset(big, ' ', BERTH_RULE_MAX_LEN);
    big[BERTH_RULE_MAX_LEN - 1] = '1';
    big[BERTH_RULE_MAX_LEN] = '\0';
    lex(big, &l);
    assert_int_equal(l.rc, 0); /* exactly the limit is fine */
    lexed_release(&l);
    big[BERTH_RULE_MAX_LEN] = ' ';
    big[BERTH_RULE_MAX_LEN + 1] = '\0';
    lex_fails(big, "rule too long (4097 bytes, limit 4096)", BERTH_RULE_MAX_LEN,
              1);
    free(big);
}

static void test_lexer__nul_byte_is_refused(void **state)
{
    struct lexed l;
    (void)state;
    memset(&l, 0, sizeof(l));
    berth_buf_init(&l.pool, 0);
    l.rc = berth__rule_lex("a\0b", 3, &l.toks, &l.n, &l.pool, &l.diag);
    assert_int_equal(l.rc, BERTH_E_PARSE);
    assert_string_equal(l.diag.msg, "rule contains a NUL byte");
    assert_int_equal(l.diag.offset, 1);
    lexed_release(&l);
}

static void test_lexer__newlines_count_only_outside_brackets(void **state)
{
    struct lexed l;
    (void)state;
    lex("\n  (a and\n   b)  # trailing comment\n\n", &l);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 6);
    lexed_release(&l);
    lex("a and \\\n b", &l);
    assert_int_equal(l.rc, 0);
    lexed_release(&l);
    lex_fails("a and\n b", "unexpected newline before this token", 7, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexer__kinds_and_spans),
        cmocka_unit_test(test_lexer__operators_longest_match_first),
        cmocka_unit_test(test_lexer__numbers_follow_python),
        cmocka_unit_test(test_lexer__bad_numbers_point_at_the_fault),
        cmocka_unit_test(test_lexer__string_escapes_decode_like_python),
        cmocka_unit_test(test_lexer__string_errors),
        cmocka_unit_test(test_lexer__text_checks),
        cmocka_unit_test(test_lexer__nul_byte_is_refused),
        cmocka_unit_test(test_lexer__newlines_count_only_outside_brackets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
