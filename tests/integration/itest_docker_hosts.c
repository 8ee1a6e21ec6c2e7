/*
 * itest_docker_hosts.c - the docker executor on two real engines: the
 * main one and a second, independent engine (own socket and data root)
 * that this test starts through scripts/start-dockerd --second when it is
 * not running, reaches over tcp+TLS with a client certificate, and stops
 * and restarts to take one "host" down.
 *
 * The second engine is shared with other tests that stop it (e.g. the
 * through-the-binary two-host test): they all hold /tmp/berth-docker2.lock
 * while they use it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "docker_itest.h"

static const char *url1;
static char *url2, *tls_url, *tls_dir;
static char ns[32];
static int lock_fd = -1;
static int64_t next_job = 1;

/* Run scripts/start-dockerd with arg; its stdout is "export K=V" lines. */
static void start_dockerd(const char *arg, struct berth_buf *out)
{
    const char *src = getenv("BERTH_SOURCE_DIR");
    char *script;
    char *argv[3];
    int rc;

    if (!src)
        dt_skip("second engine", "BERTH_SOURCE_DIR is not set (run through "
                                 "ctest)");
    script = berth_xasprintf("%s/scripts/start-dockerd", src);
    argv[0] = script;
    argv[1] = (char *)arg;
    argv[2] = NULL;
    rc = bt_run(argv, NULL, out, NULL);
    free(script);
    if (rc != 0)
        dt_skip("second engine", "scripts/start-dockerd failed");
}

static char *export_value(const char *text, const char *key)
{
    char *pat = berth_xasprintf("export %s=", key);
    const char *p = strstr(text, pat);
    char *v = NULL;

    if (p) {
        p += strlen(pat);
        v = berth_xstrndup(p, strcspn(p, "\n"));
    }
    free(pat);
    return v;
}

static void second_up(void)
{
    struct berth_buf out = BERTH_BUF_INIT;

    start_dockerd("--second", &out);
    free(url2);
    free(tls_url);
    free(tls_dir);
    url2 = export_value(berth_buf_cstr(&out), "BERTH_TEST_DOCKER2");
    tls_url = export_value(berth_buf_cstr(&out), "BERTH_TEST_DOCKER2_TLS");
    tls_dir = export_value(berth_buf_cstr(&out), "BERTH_TEST_DOCKER2_TLS_DIR");
    berth_buf_release(&out);
    if (!url2)
        dt_skip("second engine", "scripts/start-dockerd --second could not "
                                 "start one");
}

static struct berth_exec *make(const char *name, const char *url, bool with_tls,
                               const char *ca)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_exec *ex;

    berth_opts_set_str(&o, "namespace", ns);
    berth_opts_set_int(&o, "stop_grace_seconds", 1);
    berth_opts_set_int(&o, "health_timeout_ms", 1000);
    berth_opts_set_int(&o, "request_timeout_seconds", 20);
    if (with_tls) {
        char *p = berth_xasprintf("%s/cert.pem", tls_dir);
        berth_opts_set_str(&o, "tls_cert", p);
        free(p);
        p = berth_xasprintf("%s/key.pem", tls_dir);
        berth_opts_set_str(&o, "tls_key", p);
        free(p);
    }
    if (ca)
        berth_opts_set_str(&o, "tls_ca", ca);
    else if (with_tls) {
        char *p = berth_xasprintf("%s/ca.pem", tls_dir);
        berth_opts_set_str(&o, "tls_ca", p);
        free(p);
    }
    ex = dt_make(name, url, &o);
    berth_opts_release(&o);
    return ex;
}

static int launch(struct berth_exec *ex, const char *script, int64_t job,
                  struct berth_execution *e, struct berth_err *err)
{
    struct berth_strv cmd = BERTH_STRV_INIT;
    struct berth_launch l = {0};
    char name[64];
    int rc;

    berth_strv_push(&cmd, "sh");
    berth_strv_push(&cmd, "-c");
    berth_strv_push(&cmd, script);
    berth_exec_name(job, 1, name, sizeof(name));
    l.job_id = job;
    l.attempt = 1;
    l.name = name;
    l.image = DT_IMAGE;
    l.command = &cmd;
    l.network = "none";
    berth_err_init(err);
    rc = berth_exec_launch(ex, &l, e, err);
    berth_strv_release(&cmd);
    return rc;
}

static void remove_all(struct berth_exec *ex)
{
    struct berth_exec_object *o;
    size_t n;
    if (berth_exec_list(ex, &o, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++)
            berth_exec_remove(ex, o[i].id, NULL);
        free(o);
    }
}

/* ---- the tests ---------------------------------------------------------- */

static void test_tls__client_certificate_gets_in(void **state)
{
    struct berth_exec *ex;
    struct berth_execution e;
    struct berth_exec_status st;
    struct berth_job_logs logs;
    struct berth_err err;
    (void)state;

    if (!tls_url) {
        fprintf(stderr, "SKIPPED (this test only): no TLS listener on the "
                        "second engine (no openssl?)\n");
        skip();
    }
    ex = make("tls", tls_url, true, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), 0);
    assert_int_equal(launch(ex, "echo over tls", next_job++, &e, &err), 0);
    dt_wait_end(ex, e.id, &st);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(berth_exec_logs(ex, e.id, 0, &logs, &err), 0);
    assert_string_equal(logs.out, "over tls\n");
    berth_job_logs_release(&logs);
    assert_int_equal(berth_exec_cleanup(ex, e.id, &err), 0);
    berth_exec_destroy(ex);
}

static void test_tls__without_client_certificate_is_refused(void **state)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_exec *ex;
    struct berth_err err;
    char *ca;
    (void)state;

    if (!tls_url)
        skip();
    /* The engine's CA, but no client certificate. */
    ca = berth_xasprintf("%s/ca.pem", tls_dir);
    berth_opts_set_str(&o, "tls_ca", ca);
    berth_opts_set_int(&o, "health_timeout_ms", 2000);
    ex = dt_make("nocert", tls_url, &o);
    berth_err_init(&err);
    assert_int_not_equal(berth_exec_health(ex, &err), 0);
    assert_true(err.transient);
    berth_exec_destroy(ex);
    berth_opts_release(&o);

    /* A CA that did not sign the engine's certificate. */
    ex = make("wrongca", tls_url, true, "/etc/ssl/certs/ca-certificates.crt");
    berth_err_init(&err);
    assert_int_not_equal(berth_exec_health(ex, &err), 0);
    berth_exec_destroy(ex);
    free(ca);
}

static void test_two_hosts__each_runs_its_own_jobs(void **state)
{
    struct berth_exec *a = make("one", url1, false, NULL);
    struct berth_exec *b = make("two", url2, false, NULL);
    struct berth_execution ea, eb;
    struct berth_exec_status st;
    struct berth_exec_object *o;
    struct berth_err err;
    int64_t ja = next_job++, jb = next_job++;
    size_t n;
    (void)state;

    assert_int_equal(launch(a, "exit 3", ja, &ea, &err), 0);
    assert_int_equal(launch(b, "exit 4", jb, &eb, &err), 0);
    dt_wait_end(a, ea.id, &st);
    assert_int_equal(st.exit_code, 3);
    dt_wait_end(b, eb.id, &st);
    assert_int_equal(st.exit_code, 4);
    /* Engine one does not know engine two's container. */
    memset(&st, 0, sizeof(st));
    st.execution_id = eb.id;
    assert_int_equal(berth_exec_status(a, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_LOST);
    assert_int_equal(berth_exec_list(b, &o, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].job_id, jb);
    free(o);
    assert_int_equal(berth_exec_cleanup(a, ea.id, &err), 0);
    assert_int_equal(berth_exec_cleanup(b, eb.id, &err), 0);
    berth_exec_destroy(a);
    berth_exec_destroy(b);
}

static void test_engine_down__unhealthy_then_back_nothing_lost(void **state)
{
    struct berth_exec *a = make("one", url1, false, NULL);
    struct berth_exec *b = make("two", url2, false, NULL);
    struct berth_execution e, running;
    struct berth_exec_status st;
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_err err;
    int64_t job_running = next_job++;
    (void)state;

    berth_err_init(&err);
    assert_int_equal(berth_exec_health(b, &err), 0);
    /* A job is running on engine two when it goes down. */
    assert_int_equal(launch(b, "sleep 300", job_running, &running, &err), 0);

    start_dockerd("--stop-second", &out);
    berth_err_init(&err);
    assert_int_not_equal(berth_exec_health(b, &err), 0);
    assert_true(err.transient);
    /* A launch there fails, transiently: the router may try elsewhere. */
    assert_int_not_equal(launch(b, "true", next_job++, &e, &err), 0);
    assert_true(err.transient);
    memset(&st, 0, sizeof(st));
    st.execution_id = running.id;
    assert_int_equal(berth_exec_status(b, &st, 1, &err), BERTH_E_NET);
    /* Engine one carries on. */
    assert_int_equal(berth_exec_health(a, &err), 0);
    assert_int_equal(launch(a, "exit 0", next_job++, &e, &err), 0);
    dt_wait_end(a, e.id, &st);
    assert_int_equal(st.exit_code, 0);
    assert_int_equal(berth_exec_cleanup(a, e.id, &err), 0);

    /* Back up: the same instance recovers, and the job that ran there is
     * still known (stopped by the engine's shutdown), not lost. */
    second_up();
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(b, &err), 0);
    memset(&st, 0, sizeof(st));
    st.execution_id = running.id;
    assert_int_equal(berth_exec_status(b, &st, 1, &err), 0);
    assert_int_equal(st.state, BERTH_EXEC_EXITED);
    assert_int_equal(berth_exec_cleanup(b, running.id, &err), 0);
    berth_buf_release(&out);
    berth_exec_destroy(a);
    berth_exec_destroy(b);
}

static int setup(void **state)
{
    (void)state;
    snprintf(ns, sizeof(ns), "ih%ld", (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    struct berth_exec *a = make("one", url1, false, NULL);
    (void)state;
    remove_all(a);
    berth_exec_destroy(a);
    if (url2) {
        struct berth_exec *b = make("two", url2, false, NULL);
        remove_all(b);
        berth_exec_destroy(b);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls__client_certificate_gets_in),
        cmocka_unit_test(test_tls__without_client_certificate_is_refused),
        cmocka_unit_test(test_two_hosts__each_runs_its_own_jobs),
        cmocka_unit_test(test_engine_down__unhealthy_then_back_nothing_lost),
    };
    int rc;

    url1 = dt_engine("BERTH_TEST_DOCKER");
    lock_fd =
        open("/tmp/berth-docker2.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0)
        dt_skip("second engine", "cannot lock /tmp/berth-docker2.lock");
    second_up();
    rc = cmocka_run_group_tests(tests, setup, teardown);
    free(url2);
    free(tls_url);
    free(tls_dir);
    close(lock_fd);
    return rc;
}
