/* test_util.c - buffers, maps, durations, times, edit distance. */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/err.h"
#include "berth/util.h"

static void test_utf8__valid_and_malformed(void **state)
{
    static const char *const good[] = {
        "",
        "plain ascii",
        "caf\xc3\xa9",
        "\xe2\x82\xac 5",
        "\xf0\x9f\x9a\xa2 ship",
        "\xef\xbf\xbf",
        "\xf4\x8f\xbf\xbf",
    };
    static const char *const bad[] = {
        "\xff",             /* never in UTF-8 */
        "a\x80z",           /* a lone continuation byte */
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\x80",     /* overlong 3-byte */
        "\xf0\x80\x80\x80", /* overlong 4-byte */
        "\xed\xa0\x80",     /* a surrogate, U+D800 */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xe2\x82",         /* cut short at the end */
        "\xe2\x82x",        /* cut short in the middle */
    };
    (void)state;
    assert_true(berth_utf8_valid(NULL));
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(berth_utf8_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (berth_utf8_valid(bad[i]))
            fail_msg("bad[%zu] was taken for UTF-8", i);
    }
}

static void test_buf__cap_refuses_and_keeps_content(void **state)
{
    struct berth_buf b;
    (void)state;
    berth_buf_init(&b, 8);
    assert_int_equal(berth_buf_puts(&b, "abcd"), 0);
    assert_int_equal(berth_buf_puts(&b, "efghi"), BERTH_E_TOOBIG);
    assert_string_equal(berth_buf_cstr(&b), "abcd");
    assert_int_equal(berth_buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(berth_buf_cstr(&b), "abcd1234");
    berth_buf_release(&b);
}

static void test_map__set_replaces_in_place_and_keeps_order(void **state)
{
    struct berth_map m = BERTH_MAP_INIT;
    char *json;
    (void)state;
    berth_map_set(&m, "b", "1");
    berth_map_set(&m, "a", "2");
    berth_map_set(&m, "b", "3");
    assert_int_equal(m.n, 2);
    assert_string_equal(m.kv[0].key, "b");
    assert_string_equal(berth_map_get(&m, "b"), "3");
    json = berth_map_to_json(&m);
    assert_string_equal(json, "{\"b\":\"3\",\"a\":\"2\"}");
    free(json);
    berth_map_release(&m);
}

static void test_map__from_json_rejects_non_strings(void **state)
{
    struct berth_map m;
    struct berth_err err;
    (void)state;
    assert_int_equal(berth_map_from_json(&m, "{\"a\":1}", &err), BERTH_E_PARSE);
    assert_non_null(strstr(err.msg, "'a'"));
    assert_int_equal(berth_map_from_json(&m, "{\"a\":\"x\"}", &err), 0);
    assert_string_equal(berth_map_get(&m, "a"), "x");
    berth_map_release(&m);
}

static void test_duration__units_and_errors(void **state)
{
    int64_t us;
    struct berth_err err;
    (void)state;
    assert_int_equal(berth_parse_duration("90", &us, &err), 0);
    assert_int_equal(us, 90 * BERTH_US_PER_SEC);
    assert_int_equal(berth_parse_duration("1h30m", &us, &err), 0);
    assert_int_equal(us, 5400 * BERTH_US_PER_SEC);
    assert_int_equal(berth_parse_duration("500ms", &us, &err), 0);
    assert_int_equal(us, 500000);
    assert_int_equal(berth_parse_duration("2d", &us, &err), 0);
    assert_int_equal(us, 2 * 86400 * BERTH_US_PER_SEC);
    assert_int_equal(berth_parse_duration("1h30", &us, &err), BERTH_E_INVALID);
    assert_int_equal(berth_parse_duration("-5s", &us, &err), BERTH_E_INVALID);
    assert_int_equal(berth_parse_duration("5x", &us, &err), BERTH_E_INVALID);
    assert_non_null(strstr(err.msg, "'5x'"));
}

static void test_time__rfc3339_round_trip(void **state)
{
    int64_t us;
    char buf[BERTH_TIME_STR_MAX];
    struct berth_err err;
    (void)state;
    assert_int_equal(berth_parse_time("2026-11-27T15:49:13.123Z", &us, &err),
                     0);
    assert_string_equal(berth_time_format(us, buf), "2026-11-27T15:49:13.123Z");
    assert_int_equal(berth_parse_time("2026-11-27T17:49:13+02:00", &us, &err),
                     0);
    assert_string_equal(berth_time_format(us, buf), "2026-11-27T15:49:13.000Z");
    assert_int_equal(berth_parse_time("2026-11-27 15:49", &us, &err), 0);
    assert_string_equal(berth_time_format(us, buf), "2026-11-27T15:49:00.000Z");
    assert_int_equal(berth_parse_time("@86400", &us, &err), 0);
    assert_int_equal(us, 86400 * BERTH_US_PER_SEC);
    assert_int_equal(berth_parse_time("2026-13-01T00:00Z", &us, &err),
                     BERTH_E_INVALID);
    assert_int_equal(berth_parse_time("tomorrow", &us, &err), BERTH_E_INVALID);
}

static void test_edit_distance__caps(void **state)
{
    (void)state;
    assert_int_equal(berth_edit_distance("memroy_mb", "memory_mb", 3), 2);
    assert_int_equal(berth_edit_distance("abc", "abc", 3), 0);
    assert_int_equal(berth_edit_distance("a", "abcdefgh", 3), 4);
}

static void test_err__prefix_keeps_root_cause(void **state)
{
    struct berth_err err;
    (void)state;
    berth_err_init(&err);
    berth_err_set_transient(&err, BERTH_E_NET, "connection refused");
    berth_err_prefix(&err, "host '%s'", "local");
    assert_string_equal(err.msg, "host 'local': connection refused");
    assert_int_equal(err.rc, BERTH_E_NET);
    assert_true(err.transient);
    assert_string_equal(berth_rc_str(BERTH_E_NOTFOUND), "not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8__valid_and_malformed),
        cmocka_unit_test(test_buf__cap_refuses_and_keeps_content),
        cmocka_unit_test(test_map__set_replaces_in_place_and_keeps_order),
        cmocka_unit_test(test_map__from_json_rejects_non_strings),
        cmocka_unit_test(test_duration__units_and_errors),
        cmocka_unit_test(test_time__rfc3339_round_trip),
        cmocka_unit_test(test_edit_distance__caps),
        cmocka_unit_test(test_err__prefix_keeps_root_cause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
