/*
 * itest_docker_faults.c - the docker executor against a misbehaving
 * "engine": a small unix-socket server in this test that answers from a
 * script - garbage bytes, malformed JSON, 5xx, connections dropped mid-
 * response, requests never answered. Every fault must come back as a clear
 * error with the right retry class, within the configured timeouts, and
 * never crash. No real engine needed: this test always runs.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "berth_test.h"

#include "berth/exec.h"

/* ---- the fake engine ---------------------------------------------------- */

enum behave {
    REPLY,       /* status + body with its Content-Length, keep going */
    HANG,        /* read the request, never answer */
    CLOSE_EARLY, /* status + part of the body it promises, then close */
    RAW,         /* write body as it is (no HTTP at all), then close */
};

struct rule {
    const char *method;
    const char *prefix; /* path prefix, e.g. "/v1.41/containers/create" */
    enum behave b;
    const char *status; /* "201 Created" */
    const char *body;
};

#define MAX_RULES 8
#define MAX_CONNS 64

struct fake {
    char *dir;
    char *path;
    int lfd;
    int stop[2]; /* a pipe: readable once the fake stops */
    pthread_t acceptor;
    pthread_mutex_t mu;
    struct rule rules[MAX_RULES];
    size_t nrules;
    struct berth_buf seen; /* "METHOD PATH\n" per request */
    pthread_t conns[MAX_CONNS];
    size_t nconns;
};

static struct fake fk;

static void fake_rule(const char *method, const char *prefix, enum behave b,
                      const char *status, const char *body)
{
    pthread_mutex_lock(&fk.mu);
    fk.rules[fk.nrules++] = (struct rule){method, prefix, b, status, body};
    pthread_mutex_unlock(&fk.mu);
}

static void fake_reset(void)
{
    pthread_mutex_lock(&fk.mu);
    fk.nrules = 0;
    berth_buf_reset(&fk.seen);
    pthread_mutex_unlock(&fk.mu);
}

static bool fake_saw(const char *line)
{
    bool yes;
    pthread_mutex_lock(&fk.mu);
    yes = strstr(berth_buf_cstr(&fk.seen), line) != NULL;
    pthread_mutex_unlock(&fk.mu);
    return yes;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Read one request (headers + Content-Length body). 0 ok, -1 closed. */
static int read_request(int fd, struct berth_buf *in, char *method,
                        size_t msize, char *path, size_t psize)
{
    const char *end;
    char chunk[4096];
    size_t hlen, clen = 0;

    for (;;) {
        end = in->data ? strstr(in->data, "\r\n\r\n") : NULL;
        if (end)
            break;
        struct pollfd p[2] = {{fd, POLLIN, 0}, {fk.stop[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 || p[1].revents)
            return -1;
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r <= 0)
            return -1;
        berth_buf_append(in, chunk, (size_t)r);
    }
    hlen = (size_t)(end - in->data) + 4;
    {
        const char *cl = strcasestr(in->data, "\r\nContent-Length:");
        if (cl && cl < end) {
            int64_t v;
            char num[24];
            size_t k = 0;
            cl += 17;
            while (*cl == ' ')
                cl++;
            while (*cl >= '0' && *cl <= '9' && k < sizeof(num) - 1)
                num[k++] = *cl++;
            num[k] = '\0';
            if (berth_parse_i64(num, 0, 1 << 24, &v) == 0)
                clen = (size_t)v;
        }
    }
    while (in->len < hlen + clen) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r <= 0)
            return -1;
        berth_buf_append(in, chunk, (size_t)r);
    }
    if (sscanf(in->data, "%15s %255s", method, path) != 2)
        return -1;
    (void)msize;
    (void)psize;
    /* Drop this request from the buffer. */
    memmove(in->data, in->data + hlen + clen, in->len - hlen - clen);
    in->len -= hlen + clen;
    in->data[in->len] = '\0';
    return 0;
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct berth_buf in = BERTH_BUF_INIT;
    char method[16], path[256];

    while (read_request(fd, &in, method, sizeof(method), path, sizeof(path)) ==
           0) {
        struct rule r = {NULL, NULL, REPLY, "404 Not Found",
                         "{\"message\":\"no fake rule\"}"};
        char *head;
        pthread_mutex_lock(&fk.mu);
        berth_buf_printf(&fk.seen, "%s %s\n", method, path);
        for (size_t i = 0; i < fk.nrules; i++)
            if (strcmp(fk.rules[i].method, method) == 0 &&
                strncmp(path, fk.rules[i].prefix, strlen(fk.rules[i].prefix)) ==
                    0) {
                r = fk.rules[i];
                break;
            }
        pthread_mutex_unlock(&fk.mu);
        if (r.b == HANG) {
            struct pollfd p = {fk.stop[0], POLLIN, 0};
            poll(&p, 1, -1);
            break;
        }
        if (r.b == RAW) {
            write_all(fd, r.body, strlen(r.body));
            break;
        }
        /* CLOSE_EARLY promises 100 bytes more than it sends. */
        head = berth_xasprintf("HTTP/1.1 %s\r\nContent-Type: "
                               "application/json\r\nContent-Length: %zu\r\n"
                               "\r\n",
                               r.status,
                               strlen(r.body) + (r.b == CLOSE_EARLY ? 100 : 0));
        write_all(fd, head, strlen(head));
        write_all(fd, r.body, strlen(r.body));
        free(head);
        if (r.b == CLOSE_EARLY)
            break;
    }
    close(fd);
    berth_buf_release(&in);
    return NULL;
}

static void *accept_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{fk.lfd, POLLIN, 0}, {fk.stop[0], POLLIN, 0}};
        int fd;
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue;
        fd = accept(fk.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&fk.mu);
        if (fk.nconns < MAX_CONNS &&
            pthread_create(&fk.conns[fk.nconns], NULL, conn_main,
                           (void *)(intptr_t)fd) == 0)
            fk.nconns++;
        else
            close(fd);
        pthread_mutex_unlock(&fk.mu);
    }
    return NULL;
}

static void fake_start(void)
{
    struct sockaddr_un sa;

    memset(&fk, 0, sizeof(fk));
    pthread_mutex_init(&fk.mu, NULL);
    berth_buf_init(&fk.seen, 0);
    fk.dir = bt_tmpdir("dockerfake");
    fk.path = berth_xasprintf("%s/engine.sock", fk.dir);
    fk.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk.path);
    if (fk.lfd < 0 || bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(fk.lfd, 64) || pipe(fk.stop)) {
        perror("fake engine");
        abort();
    }
    pthread_create(&fk.acceptor, NULL, accept_main, NULL);
}

static void fake_stop(void)
{
    write_all(fk.stop[1], "x", 1);
    pthread_join(fk.acceptor, NULL);
    for (size_t i = 0; i < fk.nconns; i++)
        pthread_join(fk.conns[i], NULL);
    close(fk.lfd);
    close(fk.stop[0]);
    close(fk.stop[1]);
    bt_rmtree(fk.dir);
    free(fk.dir);
    free(fk.path);
    berth_buf_release(&fk.seen);
    pthread_mutex_destroy(&fk.mu);
}

/* ---- helpers ------------------------------------------------------------ */

static struct berth_exec *make(bool pin)
{
    struct berth_opts o = BERTH_OPTS_INIT;
    struct berth_host host;
    struct berth_exec_params p;
    struct berth_exec *ex = NULL;
    struct berth_err err;

    berth_opts_set_int(&o, "request_timeout_seconds", 1);
    berth_opts_set_int(&o, "health_timeout_ms", 300);
    berth_opts_set_int(&o, "stats_interval_ms", 0);
    if (pin)
        berth_opts_set_str(&o, "api_version", "1.41");
    berth_host_init(&host);
    host.name = berth_xstrdup("fake");
    host.executor = berth_xstrdup("docker");
    host.url = berth_xasprintf("unix://%s", fk.path);
    p.executor = "docker";
    p.opts = &o;
    p.host = &host;
    p.clock = NULL;
    berth_err_init(&err);
    assert_int_equal(berth_exec_create("docker", &p, &ex, &err), 0);
    berth_host_release(&host);
    berth_opts_release(&o);
    return ex;
}

static int launch(struct berth_exec *ex, struct berth_execution *out,
                  struct berth_err *err)
{
    struct berth_launch l = {0};
    l.job_id = 5;
    l.attempt = 1;
    l.name = "berth-5-1";
    l.image = "local/busybox:latest";
    berth_err_init(err);
    return berth_exec_launch(ex, &l, out, err);
}

static int setup(void **state)
{
    (void)state;
    fake_reset();
    return 0;
}

static const char created_ok[] = "{\"Id\":\"cafe0001\",\"Warnings\":[]}";
static const char inspect_ok[] =
    "{\"Id\":\"cafe0001\",\"State\":{\"Status\":\"exited\"},\"Config\":{"
    "\"Tty\":false}}";

/* ---- the tests ---------------------------------------------------------- */

static void test_health__garbage_bytes_fail_transiently(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/_ping", RAW, NULL, "\x01\x02 not http at all\r\n\r\n");
    berth_err_init(&err);
    assert_int_not_equal(berth_exec_health(ex, &err), 0);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "fake"));
    berth_exec_destroy(ex);
}

static void test_health__a_hanging_engine_times_out(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/_ping", HANG, NULL, NULL);
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_TIMEOUT);
    assert_true(err.transient);
    berth_exec_destroy(ex);
}

static void test_health__wrong_answer_is_unhealthy(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/_ping", REPLY, "200 OK", "HELLO");
    berth_err_init(&err);
    assert_int_equal(berth_exec_health(ex, &err), BERTH_E_BACKEND);
    assert_non_null(strstr(err.msg, "HELLO"));
    berth_exec_destroy(ex);
}

static void test_launch__malformed_create_answer_is_transient(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("POST", "/v1.41/containers/create", REPLY, "201 Created",
              "not json!");
    assert_int_equal(launch(ex, &e, &err), BERTH_E_PARSE);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "not json!"));
    assert_true(fake_saw("POST /v1.41/containers/create?name=berth-5-1\n"));
    berth_exec_destroy(ex);
}

static void test_launch__engine_5xx_is_transient_with_its_words(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("POST", "/v1.41/containers/create", REPLY,
              "500 Internal Server Error", "{\"message\":\"engine is busy\"}");
    assert_int_equal(launch(ex, &e, &err), BERTH_E_BACKEND);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "engine is busy"));
    assert_non_null(strstr(err.msg, "HTTP 500"));
    berth_exec_destroy(ex);
}

static void test_launch__engine_gone_mid_answer_is_transient(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("POST", "/v1.41/containers/create", CLOSE_EARLY, "201 Created",
              "{\"Id\":\"caf");
    assert_int_equal(launch(ex, &e, &err), BERTH_E_NET);
    assert_true(err.transient);
    assert_string_equal(e.id, "");
    berth_exec_destroy(ex);
}

static void test_launch__hanging_create_times_out(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("POST", "/v1.41/containers/create", HANG, NULL, NULL);
    assert_int_equal(launch(ex, &e, &err), BERTH_E_TIMEOUT);
    assert_true(err.transient);
    berth_exec_destroy(ex);
}

static void test_launch__refused_start_removes_the_container(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("POST", "/v1.41/containers/create", REPLY, "201 Created",
              created_ok);
    fake_rule("POST", "/v1.41/containers/cafe0001/start", REPLY,
              "500 Internal Server Error",
              "{\"message\":\"OCI runtime create failed: exec: \\\"nope\\\": "
              "executable file not found in $PATH\"}");
    fake_rule("DELETE", "/v1.41/containers/cafe0001", REPLY, "204 No Content",
              "");
    assert_int_equal(launch(ex, &e, &err), BERTH_E_INVALID);
    assert_false(err.transient);
    assert_non_null(strstr(err.msg, "executable file not found"));
    assert_true(fake_saw("DELETE /v1.41/containers/cafe0001?force=1&v=1\n"));
    berth_exec_destroy(ex);
}

static void test_launch__lost_start_answer_keeps_the_container(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    /* The engine may have started it: keep it for adoption. */
    fake_rule("POST", "/v1.41/containers/create", REPLY, "201 Created",
              created_ok);
    fake_rule("POST", "/v1.41/containers/cafe0001/start", RAW, NULL,
              "HTTP/1.1 204 No");
    assert_int_equal(launch(ex, &e, &err), BERTH_E_NET);
    assert_true(err.transient);
    assert_false(fake_saw("DELETE"));
    berth_exec_destroy(ex);
}

static void test_negotiate__newer_engine_is_spoken_to_in_1_41(void **state)
{
    struct berth_exec *ex = make(false);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/version", REPLY, "200 OK",
              "{\"ApiVersion\":\"1.47\",\"Version\":\"27.0.0\"}");
    fake_rule("POST", "/v1.41/containers/create", REPLY, "201 Created",
              created_ok);
    fake_rule("POST", "/v1.41/containers/cafe0001/start", REPLY,
              "204 No Content", "");
    assert_int_equal(launch(ex, &e, &err), 0);
    assert_string_equal(e.id, "cafe0001");
    assert_true(fake_saw("GET /version\n"));
    berth_exec_destroy(ex);
}

static void test_negotiate__older_engine_gets_its_version(void **state)
{
    struct berth_exec *ex = make(false);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/version", REPLY, "200 OK", "{\"ApiVersion\":\"1.40\"}");
    fake_rule("POST", "/v1.40/containers/create", REPLY, "201 Created",
              created_ok);
    fake_rule("POST", "/v1.40/containers/cafe0001/start", REPLY,
              "204 No Content", "");
    assert_int_equal(launch(ex, &e, &err), 0);
    assert_true(fake_saw("POST /v1.40/containers/cafe0001/start\n"));
    berth_exec_destroy(ex);
}

static void test_negotiate__garbage_version_is_a_clear_error(void **state)
{
    struct berth_exec *ex = make(false);
    struct berth_execution e;
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/version", REPLY, "200 OK", "<html>");
    assert_int_equal(launch(ex, &e, &err), BERTH_E_PARSE);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "API version"));
    assert_false(fake_saw("containers/create"));
    berth_exec_destroy(ex);
}

static void test_status__garbage_inspect_is_a_per_query_error(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_exec_status q;
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/v1.41/containers/cafe0001/json", REPLY, "200 OK",
              "{\"Id\":");
    memset(&q, 0, sizeof(q));
    q.execution_id = "cafe0001";
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, &q, 1, &err), 0);
    assert_int_equal(q.rc, BERTH_E_PARSE);
    assert_true(q.message[0] != '\0');
    berth_exec_destroy(ex);
}

static void test_status__garbage_list_falls_back_to_inspects(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_exec_status q[2];
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/v1.41/containers/json", REPLY, "200 OK", "[{]");
    fake_rule("GET", "/v1.41/containers/cafe0001/json", REPLY, "200 OK",
              inspect_ok);
    memset(q, 0, sizeof(q));
    q[0].execution_id = "cafe0001";
    q[1].execution_id = "cafe0002"; /* no rule: 404, gone */
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, q, 2, &err), 0);
    assert_int_equal(q[0].rc, 0);
    assert_int_equal(q[0].state, BERTH_EXEC_EXITED);
    assert_int_equal(q[1].rc, 0);
    assert_int_equal(q[1].state, BERTH_EXEC_LOST);
    assert_true(fake_saw("GET /v1.41/containers/json?all=1&filters="));
    assert_true(fake_saw("GET /v1.41/containers/cafe0001/json\n"));
    berth_exec_destroy(ex);
}

static void test_status__engine_down_fails_the_call(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_exec_status q[2];
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/v1.41/containers/", CLOSE_EARLY, "200 OK", "");
    memset(q, 0, sizeof(q));
    q[0].execution_id = "cafe0001";
    q[1].execution_id = "cafe0002";
    berth_err_init(&err);
    assert_int_equal(berth_exec_status(ex, q, 2, &err), BERTH_E_NET);
    assert_true(err.transient);
    assert_int_equal(q[0].rc, BERTH_E_NET);
    assert_int_equal(q[1].rc, BERTH_E_NET);
    berth_exec_destroy(ex);
}

static void test_logs__bad_frames_are_a_parse_error(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_job_logs logs;
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/v1.41/containers/cafe0001/json", REPLY, "200 OK",
              inspect_ok);
    fake_rule("GET", "/v1.41/containers/cafe0001/logs", REPLY, "200 OK",
              "plain text, not framed\n");
    berth_err_init(&err);
    assert_int_equal(berth_exec_logs(ex, "cafe0001", 0, &logs, &err),
                     BERTH_E_PARSE);
    assert_non_null(strstr(err.msg, "frame"));
    berth_exec_destroy(ex);
}

static void test_logs__error_answer_is_not_fed_to_the_demuxer(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_job_logs logs;
    struct berth_err err;
    (void)state;

    fake_rule("GET", "/v1.41/containers/cafe0001/json", REPLY, "200 OK",
              inspect_ok);
    fake_rule("GET", "/v1.41/containers/cafe0001/logs", REPLY,
              "500 Internal Server Error",
              "{\"message\":\"log driver broken\"}");
    berth_err_init(&err);
    assert_int_equal(berth_exec_logs(ex, "cafe0001", 0, &logs, &err),
                     BERTH_E_BACKEND);
    assert_non_null(strstr(err.msg, "log driver broken"));
    berth_exec_destroy(ex);
}

static void test_ids__unsafe_execution_ids_never_reach_a_url(void **state)
{
    struct berth_exec *ex = make(true);
    struct berth_job_logs logs;
    struct berth_err err;
    (void)state;

    berth_err_init(&err);
    assert_int_equal(berth_exec_logs(ex, "../../images/x", 0, &logs, &err),
                     BERTH_E_INVALID);
    assert_int_equal(berth_exec_cancel(ex, "a b", 1, &err), BERTH_E_INVALID);
    assert_int_equal(berth_exec_remove(ex, "", &err), BERTH_E_INVALID);
    assert_false(fake_saw("/"));
    berth_exec_destroy(ex);
}

static void test_create__bad_options_are_config_errors(void **state)
{
    const char *bad_keys[][2] = {
        {"namespace", "has space"},
        {"api_version", "latest"},
        {"url", "ftp://x"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        struct berth_opts o = BERTH_OPTS_INIT;
        struct berth_host host;
        struct berth_exec_params p;
        struct berth_exec *ex = NULL;
        struct berth_err err;

        berth_opts_set_str(&o, bad_keys[i][0], bad_keys[i][1]);
        berth_host_init(&host);
        host.name = berth_xstrdup("h");
        p.executor = "docker";
        p.opts = &o;
        p.host = &host;
        p.clock = NULL;
        berth_err_init(&err);
        assert_int_equal(berth_exec_create("docker", &p, &ex, &err),
                         BERTH_E_CONFIG);
        assert_null(ex);
        assert_non_null(strstr(err.msg, bad_keys[i][1]));
        berth_host_release(&host);
        berth_opts_release(&o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, setup)
        T(test_health__garbage_bytes_fail_transiently),
        T(test_health__a_hanging_engine_times_out),
        T(test_health__wrong_answer_is_unhealthy),
        T(test_launch__malformed_create_answer_is_transient),
        T(test_launch__engine_5xx_is_transient_with_its_words),
        T(test_launch__engine_gone_mid_answer_is_transient),
        T(test_launch__hanging_create_times_out),
        T(test_launch__refused_start_removes_the_container),
        T(test_launch__lost_start_answer_keeps_the_container),
        T(test_negotiate__newer_engine_is_spoken_to_in_1_41),
        T(test_negotiate__older_engine_gets_its_version),
        T(test_negotiate__garbage_version_is_a_clear_error),
        T(test_status__garbage_inspect_is_a_per_query_error),
        T(test_status__garbage_list_falls_back_to_inspects),
        T(test_status__engine_down_fails_the_call),
        T(test_logs__bad_frames_are_a_parse_error),
        T(test_logs__error_answer_is_not_fed_to_the_demuxer),
        T(test_ids__unsafe_execution_ids_never_reach_a_url),
        T(test_create__bad_options_are_config_errors),
#undef T
    };
    int rc;

    fake_start();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    fake_stop();
    return rc;
}
