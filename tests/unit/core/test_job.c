/* test_job.c - the one transition table (DESIGN.md § Job lifecycle): every
 * legal and every illegal transition, and the retry edge. */
#include <string.h>

#include "berth_test.h"

#include "berth/job.h"

#define P BERTH_JOB_PENDING
#define L BERTH_JOB_LAUNCHING
#define R BERTH_JOB_RUNNING
#define C BERTH_JOB_COMPLETED
#define F BERTH_JOB_FAILED
#define T BERTH_JOB_TIMED_OUT
#define X BERTH_JOB_CANCELLED

static void test_job__every_transition_matches_the_lifecycle(void **state)
{
    /* legal[from][to], written out from the diagram, not from the code */
    static const bool legal[7][7] = {
        /*          P  L  R  C  F  T  X */
        /* P */ {0, 1, 0, 0, 1, 0, 1},
        /* L */ {1, 0, 1, 0, 1, 0, 1},
        /* R */ {1, 0, 0, 1, 1, 1, 1},
        /* C */ {0, 0, 0, 0, 0, 0, 0},
        /* F */ {0, 0, 0, 0, 0, 0, 0},
        /* T */ {0, 0, 0, 0, 0, 0, 0},
        /* X */ {0, 0, 0, 0, 0, 0, 0},
    };
    int n_legal = 0;
    (void)state;
    for (int from = 0; from < 7; from++) {
        for (int to = 0; to < 7; to++) {
            bool ok = berth_job_transition_ok((enum berth_job_state)from,
                                              (enum berth_job_state)to, false);
            if (ok != legal[from][to])
                fail_msg("%s -> %s: got %d, want %d",
                         berth_job_state_str((enum berth_job_state)from),
                         berth_job_state_str((enum berth_job_state)to), ok,
                         legal[from][to]);
            n_legal += ok;
        }
    }
    assert_int_equal(n_legal, 12);
}

static void test_job__retry_edge_only_from_failed_timed_out_cancelled(void **s)
{
    (void)s;
    for (int from = 0; from < 7; from++) {
        for (int to = 0; to < 7; to++) {
            bool want = to == P && (from == F || from == T || from == X);
            assert_int_equal(berth_job_transition_ok((enum berth_job_state)from,
                                                     (enum berth_job_state)to,
                                                     true),
                             want);
        }
    }
}

static void test_job__terminal_states_and_names(void **s)
{
    enum berth_job_state st;
    (void)s;
    assert_false(berth_job_state_terminal(P));
    assert_false(berth_job_state_terminal(L));
    assert_false(berth_job_state_terminal(R));
    assert_true(berth_job_state_terminal(C));
    assert_true(berth_job_state_terminal(F));
    assert_true(berth_job_state_terminal(T));
    assert_true(berth_job_state_terminal(X));
    for (int i = 0; i < 7; i++) {
        assert_int_equal(berth_job_state_parse(
                             berth_job_state_str((enum berth_job_state)i), &st),
                         0);
        assert_int_equal(st, i);
    }
    assert_string_equal(berth_job_state_str(T), "timed_out");
    assert_int_equal(berth_job_state_parse("done", &st), BERTH_E_INVALID);
    assert_false(berth_job_transition_ok((enum berth_job_state)7, P, false));
    assert_false(berth_job_transition_ok(P, (enum berth_job_state) - 1, false));
}

static void test_job__copy_is_deep(void **s)
{
    struct berth_job a, b;
    (void)s;
    berth_job_init(&a);
    a.image = berth_xstrdup("img");
    berth_map_set(&a.labels, "k", "v");
    berth_strv_push(&a.command, "echo");
    berth_job_copy(&b, &a);
    berth_job_release(&a);
    assert_string_equal(b.image, "img");
    assert_string_equal(berth_map_get(&b.labels, "k"), "v");
    assert_string_equal(b.command.v[0], "echo");
    berth_job_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job__every_transition_matches_the_lifecycle),
        cmocka_unit_test(
            test_job__retry_edge_only_from_failed_timed_out_cancelled),
        cmocka_unit_test(test_job__terminal_states_and_names),
        cmocka_unit_test(test_job__copy_is_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
