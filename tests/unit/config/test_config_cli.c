/* test_config_cli.c - `berth config check` through the real binary: where
 * the config comes from, what it prints, and its exit codes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth_test.h"

struct run {
    int rc;
    struct berth_buf out, err;
};

/* Run berth with the arguments (NULL-terminated), in dir. */
static void run_in(struct run *r, const char *dir, const char *const *args)
{
    char *argv[16];
    char cwd[4096];
    size_t n = 0;

    argv[n++] = (char *)bt_berth_bin();
    for (; *args && n < 15; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    berth_buf_init(&r->out, 0);
    berth_buf_init(&r->err, 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    r->rc = bt_run(argv, NULL, &r->out, &r->err);
    assert_int_equal(chdir(cwd), 0);
}

static void run_free(struct run *r)
{
    berth_buf_release(&r->out);
    berth_buf_release(&r->err);
}

static char *dir;

static int setup(void **state)
{
    (void)state;
    unsetenv("BERTH_CONFIG");
    dir = bt_tmpdir("config-cli");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bt_rmtree(dir);
    free(dir);
    return 0;
}

static const char good[] = "executors:\n"
                           "  docker: {}\n"
                           "  mock: {}\n"
                           "hosts:\n"
                           "  - {name: local, executor: docker}\n"
                           "templates:\n"
                           "  - {name: a, image: busybox}\n"
                           "  - {name: b, image: busybox}\n";

static void test_check__valid_file_prints_a_summary(void **state)
{
    struct run r;
    char *path = berth_xasprintf("%s/good.yaml", dir);
    const char *args[] = {"--config", "good.yaml", "config", "check", NULL};
    (void)state;
    bt_write_file(path, good);
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 0);
    assert_string_equal(berth_buf_cstr(&r.out), "good.yaml: ok: 2 executors, "
                                                "1 host, 2 templates, 0 "
                                                "rules\n");
    assert_string_equal(berth_buf_cstr(&r.err), "");
    run_free(&r);
    free(path);
}

static void test_check__errors_go_to_stderr_with_exit_1(void **state)
{
    struct run r;
    char *path = berth_xasprintf("%s/bad.yaml", dir);
    const char *args[] = {"--config", "bad.yaml", "config", "check", NULL};
    (void)state;
    bt_write_file(path, "executors:\n  docker: {enabled: nope}\n"
                        "hosts:\n  - {name: h, executor: docker, weight: x}\n");
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 1);
    assert_string_equal(berth_buf_cstr(&r.out), "");
    assert_string_equal(berth_buf_cstr(&r.err),
                        "bad.yaml:2:21: error: executors.docker.enabled: "
                        "expected true or false, got 'nope'\n"
                        "bad.yaml:4:41: error: hosts[0].weight: expected an "
                        "integer, got 'x'\n"
                        "berth: invalid configuration in 'bad.yaml'\n");
    run_free(&r);
    free(path);
}

static void test_check__default_path_and_environment(void **state)
{
    struct run r;
    char *path = berth_xasprintf("%s/berth.yaml", dir);
    char *other = berth_xasprintf("%s/other.yaml", dir);
    const char *args[] = {"config", "check", NULL};
    (void)state;

    /* No ./berth.yaml: the built-in config, said so. */
    unlink(path);
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 0);
    assert_string_equal(berth_buf_cstr(&r.out),
                        "berth.yaml: not found, using the built-in config: "
                        "ok: 1 executor, 0 hosts, 0 templates, 0 rules\n");
    run_free(&r);

    /* ./berth.yaml is read when present. */
    bt_write_file(path, good);
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 0);
    assert_string_equal(berth_buf_cstr(&r.out), "berth.yaml: ok: 2 "
                                                "executors, 1 host, 2 "
                                                "templates, 0 rules\n");
    run_free(&r);

    /* $BERTH_CONFIG wins over ./berth.yaml, and must exist. */
    setenv("BERTH_CONFIG", other, 1);
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(berth_buf_cstr(&r.err), "No such file"));
    run_free(&r);
    bt_write_file(other, "executors: {mock: {}}\n");
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(berth_buf_cstr(&r.out), ": ok: 1 executor, 0 "
                                                   "hosts"));
    run_free(&r);
    unsetenv("BERTH_CONFIG");
    unlink(path);
    unlink(other);
    free(path);
    free(other);
}

static void test_check__named_file_must_exist(void **state)
{
    struct run r;
    const char *args[] = {"--config", "missing.yaml", "config", "check", NULL};
    (void)state;
    run_in(&r, dir, args);
    assert_int_equal(r.rc, 1);
    assert_string_equal(berth_buf_cstr(&r.err),
                        "berth: cannot load config: cannot open "
                        "'missing.yaml': No such file or directory\n");
    run_free(&r);
}

static void test_check__usage_errors_exit_2(void **state)
{
    struct run r;
    const char *none[] = {"config", NULL};
    const char *bad[] = {"config", "frob", NULL};
    const char *extra[] = {"config", "check", "x.yaml", NULL};
    (void)state;
    run_in(&r, dir, none);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(berth_buf_cstr(&r.err), "missing sub-command"));
    run_free(&r);
    run_in(&r, dir, bad);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(berth_buf_cstr(&r.err), "'frob'"));
    run_free(&r);
    run_in(&r, dir, extra);
    assert_int_equal(r.rc, 2);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check__valid_file_prints_a_summary),
        cmocka_unit_test(test_check__errors_go_to_stderr_with_exit_1),
        cmocka_unit_test(test_check__default_path_and_environment),
        cmocka_unit_test(test_check__named_file_must_exist),
        cmocka_unit_test(test_check__usage_errors_exit_2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
