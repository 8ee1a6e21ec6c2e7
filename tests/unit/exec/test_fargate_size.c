/* test_fargate_size.c - job sizes rounded up to AWS's table of valid
 * Fargate task CPU and memory combinations. */
#include <stdio.h>
#include <string.h>

#include "berth_test.h"

#include "exec/fargate_int.h"

static void expect(double cpu, long long mem, int want_cpu, long long want_mem)
{
    struct berth_fargate_size sz = {0, 0};
    struct berth_err err;
    berth_err_init(&err);
    if (berth__fargate_size(cpu, mem, &sz, &err) != 0)
        fail_msg("%g vCPU %lld MiB: %s", cpu, mem, err.msg);
    if (sz.cpu != want_cpu || sz.memory_mb != want_mem)
        fail_msg("%g vCPU %lld MiB -> %d/%lld, want %d/%lld", cpu, mem, sz.cpu,
                 (long long)sz.memory_mb, want_cpu, want_mem);
    assert_true(berth__fargate_size_valid(sz.cpu, sz.memory_mb));
}

static void test_fargate_size__rounds_up_to_the_smallest_valid(void **state)
{
    (void)state;
    expect(0, 0, 256, 512); /* nothing asked: the smallest */
    expect(0.25, 512, 256, 512);
    expect(0.1, 600, 256, 1024); /* 256 CPU has 512, 1024, 2048 only */
    expect(0.25, 1500, 256, 2048);
    expect(0.25, 2049, 512, 3072); /* past 2 GiB: the next CPU row */
    expect(0.5, 0, 512, 1024);
    expect(0.3, 3000, 512, 3072);
    expect(1, 0, 1024, 2048);
    expect(1, 8192, 1024, 8192);
    expect(1, 8193, 2048, 9216);
    expect(1.5, 4000, 2048, 4096);
    expect(2, 16384, 2048, 16384);
    expect(1, 16384, 2048, 16384); /* the README's 16 GB job */
    expect(0, 16385, 4096, 17408);
    expect(4, 30720, 4096, 30720);
    expect(4, 30721, 8192, 32768); /* 8 vCPU: 16-60 GiB by 4 GiB */
    expect(4.5, 0, 8192, 16384);
    expect(8, 61440, 8192, 61440);
    expect(8, 61441, 16384, 65536); /* 16 vCPU: 32-120 GiB by 8 GiB */
    expect(9, 40000, 16384, 40960);
    expect(16, 122880, 16384, 122880);
}

static void test_fargate_size__the_table_is_awss(void **state)
{
    /* Every valid combination of the AWS table, and a few that are not. */
    static const struct {
        int cpu;
        long long lo, hi, step;
    } rows[] = {{512, 1024, 4096, 1024},    {1024, 2048, 8192, 1024},
                {2048, 4096, 16384, 1024},  {4096, 8192, 30720, 1024},
                {8192, 16384, 61440, 4096}, {16384, 32768, 122880, 8192}};
    int valid = 0;
    (void)state;
    assert_true(berth__fargate_size_valid(256, 512));
    assert_true(berth__fargate_size_valid(256, 1024));
    assert_true(berth__fargate_size_valid(256, 2048));
    assert_false(berth__fargate_size_valid(256, 1536));
    assert_false(berth__fargate_size_valid(256, 4096));
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        for (long long m = rows[r].lo; m <= rows[r].hi; m += rows[r].step) {
            assert_true(berth__fargate_size_valid(rows[r].cpu, m));
            valid++;
        }
        assert_false(berth__fargate_size_valid(rows[r].cpu, rows[r].lo - 1));
        assert_false(
            berth__fargate_size_valid(rows[r].cpu, rows[r].hi + rows[r].step));
        assert_false(berth__fargate_size_valid(rows[r].cpu, rows[r].lo + 1));
    }
    assert_false(berth__fargate_size_valid(768, 2048));
    assert_false(berth__fargate_size_valid(32768, 131072));
    /* 3 + 4 + 7 + 13 + 23 + 12 + 12 combinations */
    assert_int_equal(valid + 3, 74);
}

static void test_fargate_size__impossible_sizes_say_why(void **state)
{
    struct berth_fargate_size sz;
    struct berth_err err;
    (void)state;
    berth_err_init(&err);
    assert_int_equal(berth__fargate_size(1, 130000, &sz, &err),
                     BERTH_E_INVALID);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "130000 MiB"));
    assert_non_null(strstr(err.msg, "at most 122880 MiB (120 GiB)"));
    assert_int_equal(berth__fargate_size(16.5, 0, &sz, &err), BERTH_E_INVALID);
    assert_non_null(strstr(err.msg, "at most 16 vCPU"));
    assert_int_equal(berth__fargate_size(-1, 0, &sz, &err), BERTH_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fargate_size__rounds_up_to_the_smallest_valid),
        cmocka_unit_test(test_fargate_size__the_table_is_awss),
        cmocka_unit_test(test_fargate_size__impossible_sizes_say_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
