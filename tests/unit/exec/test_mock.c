/* test_mock.c - the mock executor: timing by an injected clock, label
 * overrides, durable launch records and adoption across instances. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/exec.h"

struct fake_clock {
    int64_t now;
};

static int64_t fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->now;
}

struct fixture {
    char *dir;
    struct fake_clock fc;
    struct berth_clock clock;
    struct berth_opts opts;
    struct berth_host host;
};

static int setup(void **state)
{
    struct fixture *f = berth_xcalloc(1, sizeof(*f));
    f->dir = bt_tmpdir("mock");
    f->fc.now = 1000 * BERTH_US_PER_SEC;
    f->clock.now_us = fake_now;
    f->clock.ctx = &f->fc;
    berth_opts_init(&f->opts);
    berth_opts_set_int(&f->opts, "duration_ms", 2000);
    berth_opts_set_int(&f->opts, "exit_code", 0);
    berth_opts_set_str(&f->opts, "stdout", "hello\n");
    berth_opts_set_str(&f->opts, "record_dir", f->dir);
    berth_host_init(&f->host);
    f->host.name = berth_xstrdup("m1");
    f->host.executor = berth_xstrdup("mock");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bt_rmtree(f->dir);
    free(f->dir);
    berth_opts_release(&f->opts);
    berth_host_release(&f->host);
    free(f);
    return 0;
}

static struct berth_exec *make(struct fixture *f)
{
    struct berth_exec_params p = {"mock", &f->opts, &f->host, &f->clock};
    struct berth_exec *ex = NULL;
    struct berth_err err;
    assert_int_equal(berth_exec_create("mock", &p, &ex, &err), 0);
    return ex;
}

static void launch_req(struct berth_launch *req, char *name, size_t size,
                       int64_t job, int attempt, const struct berth_map *labels)
{
    memset(req, 0, sizeof(*req));
    berth_exec_name(job, attempt, name, size);
    req->job_id = job;
    req->attempt = attempt;
    req->name = name;
    req->image = "local/busybox:latest";
    req->labels = labels;
}

static int count_launches(const char *dir, int64_t job, int attempt)
{
    char *path = berth_xasprintf("%s/launches.log", dir);
    FILE *fp = fopen(path, "r");
    long long j;
    int a, n = 0;
    char host[64];
    long long t;
    free(path);
    if (!fp)
        return 0;
    while (fscanf(fp, "%lld %d %63s %lld", &j, &a, host, &t) == 4)
        if (j == job && a == attempt)
            n++;
    fclose(fp);
    return n;
}

static void test_mock__runs_for_duration_then_exits(void **state)
{
    struct fixture *f = *state;
    struct berth_exec *ex = make(f);
    struct berth_launch req;
    struct berth_execution exe;
    struct berth_exec_status st = {0};
    struct berth_job_logs logs;
    struct berth_err err;
    char name[64];

    launch_req(&req, name, sizeof(name), 7, 1, NULL);
    assert_int_equal(berth_exec_launch(ex, &req, &exe, &err), 0);
    assert_false(exe.adopted);
    st.execution_id = exe.id;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    f->fc.now += 1999 * 1000;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_RUNNING);
    f->fc.now += 1000;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(berth_exec_logs(ex, exe.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "hello\n");
    assert_false(logs.truncated);
    berth_job_logs_release(&logs);
    assert_int_equal(berth_exec_logs(ex, exe.id, 3, &logs, &err), 0);
    assert_string_equal(logs.out, "hel");
    assert_true(logs.truncated);
    berth_job_logs_release(&logs);
    berth_exec_destroy(ex);
}

static void test_mock__labels_override_options(void **state)
{
    struct fixture *f = *state;
    struct berth_exec *ex = make(f);
    struct berth_map labels = BERTH_MAP_INIT;
    struct berth_launch req;
    struct berth_execution exe;
    struct berth_exec_status st = {0};
    struct berth_job_logs logs;
    struct berth_err err;
    char name[64];

    berth_map_set(&labels, "mock.exit_code", "3");
    berth_map_set(&labels, "mock.duration_ms", "0");
    berth_map_set(&labels, "mock.stdout", "custom");
    launch_req(&req, name, sizeof(name), 8, 1, &labels);
    assert_int_equal(berth_exec_launch(ex, &req, &exe, &err), 0);
    st.execution_id = exe.id;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 3);
    assert_int_equal(berth_exec_logs(ex, exe.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "custom");
    berth_job_logs_release(&logs);

    berth_map_set(&labels, "mock.fail_launch", "permanent");
    launch_req(&req, name, sizeof(name), 9, 1, &labels);
    assert_int_equal(berth_exec_launch(ex, &req, &exe, &err), BERTH_E_INVALID);
    assert_false(err.transient);
    berth_map_set(&labels, "mock.fail_launch", "1");
    assert_int_equal(berth_exec_launch(ex, &req, &exe, &err), BERTH_E_BACKEND);
    assert_true(err.transient);
    assert_int_equal(count_launches(f->dir, 9, 1), 0);
    berth_map_release(&labels);
    berth_exec_destroy(ex);
}

/* A label value the mock cannot run (a duration that overflows the end
 * time, a negative one, an exit code beyond int) is ignored: the options
 * apply, as for any unreadable label. */
static void test_mock__out_of_range_labels_fall_back_to_options(void **state)
{
    static const char *const durations[] = {"9223372036854775807", "-5000",
                                            NULL};
    struct fixture *f = *state;
    struct berth_exec *ex = make(f);
    struct berth_map labels = BERTH_MAP_INIT;
    struct berth_launch req;
    struct berth_execution exe;
    struct berth_exec_status st = {0};
    struct berth_err err;
    char name[64];

    for (int i = 0; durations[i]; i++) {
        berth_map_set(&labels, "mock.duration_ms", durations[i]);
        berth_map_set(&labels, "mock.exit_code", "4294967297");
        launch_req(&req, name, sizeof(name), 20 + i, 1, &labels);
        assert_int_equal(berth_exec_launch(ex, &req, &exe, &err), 0);
        st.execution_id = exe.id;
        assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
        assert_int_equal(st.state, BERTH_EXEC_RUNNING);
        assert_int_equal(berth_exec_cancel(ex, exe.id, 0, &err), 0);
        assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
        assert_true(st.cancelled);
    }
    f->fc.now += 2000 * 1000;
    launch_req(&req, name, sizeof(name), 22, 1, &labels);
    berth_map_set(&labels, "mock.duration_ms", "0");
    assert_int_equal(berth_exec_launch(ex, &req, &exe, &err), 0);
    st.execution_id = exe.id;
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(st.exit_code, 0);
    berth_map_release(&labels);
    berth_exec_destroy(ex);
}

static void test_mock__second_instance_adopts_instead_of_launching(void **state)
{
    struct fixture *f = *state;
    struct berth_exec *a = make(f), *b = make(f);
    struct berth_launch req;
    struct berth_execution e1, e2;
    struct berth_exec_status st = {0};
    struct berth_err err;
    char name[64];

    launch_req(&req, name, sizeof(name), 11, 2, NULL);
    assert_int_equal(berth_exec_launch(a, &req, &e1, &err), 0);
    assert_false(e1.adopted);
    /* b is another "process": it learns of the run from record_dir. */
    assert_int_equal(berth_exec_find(b, 11, 2, &e2, &err), 0);
    assert_string_equal(e1.id, e2.id);
    assert_int_equal(berth_exec_launch(b, &req, &e2, &err), 0);
    assert_true(e2.adopted);
    assert_string_equal(e1.id, e2.id);
    assert_int_equal(count_launches(f->dir, 11, 2), 1);
    assert_int_equal(berth_exec_find(b, 11, 3, &e2, &err), BERTH_E_NOTFOUND);
    /* Cancel through b is seen by a restarted reader. */
    assert_int_equal(berth_exec_cancel(b, e1.id, 0, &err), 0);
    berth_exec_destroy(a);
    a = make(f);
    st.execution_id = e1.id;
    assert_int_equal(berth_exec_status(a, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_true(st.cancelled);
    berth_exec_destroy(a);
    berth_exec_destroy(b);
}

static void test_mock__failure_rate_is_deterministic_by_seed(void **state)
{
    struct fixture *f = *state;
    struct berth_exec *a, *b;
    struct berth_launch req;
    struct berth_execution exe;
    struct berth_err err;
    char name[64];
    int fails_a = 0, agree = 0;

    berth_opts_set_num(&f->opts, "launch_failure_rate", 0.3);
    berth_opts_set_int(&f->opts, "seed", 42);
    berth_opts_set_str(&f->opts, "record_dir", "");
    a = make(f);
    b = make(f);
    for (int j = 1; j <= 1000; j++) {
        int ra, rb;
        launch_req(&req, name, sizeof(name), j, 1, NULL);
        ra = berth_exec_launch(a, &req, &exe, &err);
        rb = berth_exec_launch(b, &req, &exe, &err);
        fails_a += ra != 0;
        agree += (ra != 0) == (rb != 0);
    }
    assert_int_equal(agree, 1000);
    assert_in_range(fails_a, 230, 370);
    berth_exec_destroy(a);
    berth_exec_destroy(b);
}

static void test_mock__unknown_execution_is_lost(void **state)
{
    struct fixture *f = *state;
    struct berth_exec *ex = make(f);
    struct berth_exec_status st = {0};
    struct berth_err err;

    st.execution_id = "mock-m1-999-1";
    assert_int_equal(berth_exec_status(ex, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_LOST);
    berth_exec_destroy(ex);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mock__runs_for_duration_then_exits,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock__labels_override_options,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_mock__out_of_range_labels_fall_back_to_options, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_mock__second_instance_adopts_instead_of_launching, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_mock__failure_rate_is_deterministic_by_seed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mock__unknown_execution_is_lost,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
