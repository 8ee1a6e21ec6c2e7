/* test_retry.c - backoff delays of the retry strategies. */
#include "berth_test.h"

#include "berth/worker.h"

#define S BERTH_US_PER_SEC

static void test_retry__exponential_doubles_with_equal_jitter(void **state)
{
    uint64_t rng = 42;
    (void)state;
    for (int attempt = 1; attempt <= 12; attempt++) {
        int64_t nominal = 2 * S;
        int64_t lo = INT64_MAX, hi = 0;
        for (int i = 1; i < attempt; i++)
            nominal = nominal * 2 > 300 * S ? 300 * S : nominal * 2;
        for (int i = 0; i < 2000; i++) {
            int64_t d = berth_retry_delay_us(BERTH_RETRY_EXPONENTIAL, attempt,
                                             2 * S, 300 * S, &rng);
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        /* never sooner than half, never later than the nominal delay, and
         * really spread between the two */
        assert_true(lo >= nominal / 2);
        assert_true(hi <= nominal);
        assert_true(hi - lo > nominal / 4);
    }
}

static void test_retry__jitter_follows_the_seed(void **state)
{
    uint64_t a = 7, b = 7, c = 8;
    int same_ab = 0, same_ac = 0;
    (void)state;
    for (int i = 0; i < 100; i++) {
        int64_t x =
            berth_retry_delay_us(BERTH_RETRY_EXPONENTIAL, 3, S, 300 * S, &a);
        int64_t y =
            berth_retry_delay_us(BERTH_RETRY_EXPONENTIAL, 3, S, 300 * S, &b);
        int64_t z =
            berth_retry_delay_us(BERTH_RETRY_EXPONENTIAL, 3, S, 300 * S, &c);
        same_ab += x == y;
        same_ac += x == z;
    }
    assert_int_equal(same_ab, 100);
    assert_true(same_ac < 10);
}

static void test_retry__linear_fixed_none_and_caps(void **state)
{
    uint64_t rng = 1;
    (void)state;
    assert_int_equal(
        berth_retry_delay_us(BERTH_RETRY_LINEAR, 1, 2 * S, 300 * S, &rng),
        2 * S);
    assert_int_equal(
        berth_retry_delay_us(BERTH_RETRY_LINEAR, 4, 2 * S, 300 * S, &rng),
        8 * S);
    assert_int_equal(
        berth_retry_delay_us(BERTH_RETRY_LINEAR, 1000, 2 * S, 300 * S, &rng),
        300 * S);
    assert_int_equal(
        berth_retry_delay_us(BERTH_RETRY_FIXED, 9, 2 * S, 300 * S, &rng),
        2 * S);
    assert_int_equal(
        berth_retry_delay_us(BERTH_RETRY_NONE, 3, 2 * S, 300 * S, &rng), 0);
    /* huge attempt numbers do not overflow */
    assert_true(berth_retry_delay_us(BERTH_RETRY_EXPONENTIAL, 1000000, 2 * S,
                                     300 * S, &rng) <= 300 * S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry__exponential_doubles_with_equal_jitter),
        cmocka_unit_test(test_retry__jitter_follows_the_seed),
        cmocka_unit_test(test_retry__linear_fixed_none_and_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
