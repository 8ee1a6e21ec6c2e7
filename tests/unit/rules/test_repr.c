/* test_repr.c - Python's repr(): shortest round-trip floats in Python's
 * layout, string quoting and escapes, containers. */
#include <math.h>
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"
#include "rules/rules_int.h"

static void float_is(double d, const char *want)
{
    char buf[48];
    berth__rule_repr_float(d, buf, sizeof(buf));
    if (strcmp(buf, want) != 0)
        fail_msg("%.17g: want %s, got %s", d, want, buf);
}

static void test_repr__floats_like_python(void **state)
{
    (void)state;
    float_is(1.0, "1.0");
    float_is(2.5, "2.5");
    float_is(-0.0, "-0.0");
    float_is(0.0, "0.0");
    float_is(0.1 + 0.2, "0.30000000000000004");
    float_is(1.0 / 3.0, "0.3333333333333333");
    float_is(100.0, "100.0");
    float_is(1e15, "1000000000000000.0");
    float_is(1e16, "1e+16");
    float_is(1.5e16, "1.5e+16");
    float_is(123456789012345678.0, "1.2345678901234568e+17");
    float_is(0.0001, "0.0001");
    float_is(0.00001, "1e-05");
    float_is(1.5e-7, "1.5e-07");
    float_is(1e22, "1e+22");
    float_is(1e-300, "1e-300");
    float_is(5e-324, "5e-324");
    float_is(1.7976931348623157e308, "1.7976931348623157e+308");
    float_is(9007199254740993.0, "9007199254740992.0");
    /* At a power of two the nearest 16-digit decimal does not read back;
     * its neighbour does (Python prints ...063, not ...0625). */
    float_is(ldexp(1.0, -24), "5.960464477539063e-08");
    float_is(INFINITY, "inf");
    float_is(-INFINITY, "-inf");
    float_is(NAN, "nan");
}

static void str_is(const char *s, size_t n, const char *want)
{
    struct berth_buf b = BERTH_BUF_INIT;
    struct sink k = {&b, NULL, 0, 0};
    berth__rule_repr_str(&k, s, n);
    assert_string_equal(berth_buf_cstr(&b), want);
    berth_buf_release(&b);
}

static void test_repr__strings_like_python(void **state)
{
    (void)state;
    str_is("abc", 3, "'abc'");
    str_is("", 0, "''");
    str_is("it's", 4, "\"it's\"");
    str_is("say \"hi\"", 8, "'say \"hi\"'");
    str_is("both ' and \"", 12, "'both \\' and \"'");
    str_is("a\\b", 3, "'a\\\\b'");
    str_is("\t\n\r", 3, "'\\t\\n\\r'");
    str_is("\x01\x7f", 2, "'\\x01\\x7f'");
    str_is("a\0b", 3, "'a\\x00b'");
    str_is("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x9a\x80", 14,
           "'caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x9a\x80'");
    str_is("\xc2\xa0", 2, "'\\xa0'");               /* no-break space */
    str_is("\xe2\x80\x8b", 3, "'\\u200b'");         /* zero-width space */
    str_is("\xf3\xa0\x80\x81", 4, "'\\U000e0001'"); /* language tag */
}

static void test_repr__containers_and_objects(void **state)
{
    struct berth_buf b = BERTH_BUF_INIT;
    struct sink k = {&b, NULL, 0, 0};
    struct berth_map m = BERTH_MAP_INIT;
    struct val items[3], v;
    char small[8];
    struct sink fixed = {NULL, small, sizeof(small), 0};
    (void)state;

    memset(items, 0, sizeof(items));
    items[0].t = V_INT;
    items[0].u.i = -3;
    items[1].t = V_STR;
    items[1].u.s = "x";
    items[1].n = 1;
    items[2].t = V_NONE;
    memset(&v, 0, sizeof(v));
    v.t = V_LIST;
    v.n = 3;
    v.u.l = items;
    berth__rule_repr(&k, &v);
    assert_string_equal(berth_buf_cstr(&b), "[-3, 'x', None]");

    berth_buf_reset(&b);
    berth_map_set(&m, "team", "ml");
    berth_map_set(&m, "it's", "x");
    v.t = V_MAP;
    v.u.m = &m;
    berth__rule_repr(&k, &v);
    assert_string_equal(berth_buf_cstr(&b), "{'team': 'ml', \"it's\": 'x'}");

    berth_buf_reset(&b);
    v.t = V_TMPL;
    berth__rule_repr(&k, &v);
    assert_string_equal(berth_buf_cstr(&b), "<template>");

    /* A fixed sink truncates and stays NUL-terminated. */
    v.t = V_MAP;
    berth__rule_repr(&fixed, &v);
    assert_string_equal(small, "{'team'");
    berth_map_release(&m);
    berth_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repr__floats_like_python),
        cmocka_unit_test(test_repr__strings_like_python),
        cmocka_unit_test(test_repr__containers_and_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
