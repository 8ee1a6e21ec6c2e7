/*
 * cloudrun_harness.h - for the C integration tests of the cloudrun backend:
 * start tests/fakes/fake_cloudrun on a free port, talk to its /_fake/
 * control endpoints, and make executor instances pointing at it.
 *
 * Header-only (static functions) because each itest_*.c is its own binary.
 */
#ifndef BERTH_CLOUDRUN_HARNESS_H
#define BERTH_CLOUDRUN_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "berth_test.h"

#include "berth/exec.h"
#include "exec/http.h"

#define CRF_UNUSED  __attribute__((unused))
#define CRF_PROJECT "proj-1"
#define CRF_REGION  "europe-west1"

struct crf {
    pid_t pid;
    int port;
    char *dir;
    char base[64];
};

static CRF_UNUSED void crf_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Start the fake with extra arguments (NULL-terminated, may be NULL). */
static CRF_UNUSED void crf_start(struct crf *f, const char *const *extra)
{
    const char *bd = getenv("BERTH_BUILD_DIR");
    char *bin, *port_file;
    const char *argv[64];
    int n = 0;

    if (!bd || !*bd) {
        fprintf(stderr, "BERTH_BUILD_DIR is not set (run through ctest)\n");
        exit(77);
    }
    memset(f, 0, sizeof(*f));
    f->dir = bt_tmpdir("crfake");
    bin = berth_xasprintf("%s/tests/fake_cloudrun", bd);
    port_file = berth_xasprintf("%s/port", f->dir);
    argv[n++] = bin;
    argv[n++] = "--project";
    argv[n++] = CRF_PROJECT;
    argv[n++] = "--region";
    argv[n++] = CRF_REGION;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    for (const char *const *a = extra; a && *a && n < 62; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        execv(bin, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 1000 && !f->port; i++) {
        FILE *pf = fopen(port_file, "r");
        int status;
        if (pf) {
            if (fscanf(pf, "%d", &f->port) != 1)
                f->port = 0;
            fclose(pf);
        }
        if (!f->port) {
            assert_int_equal(waitpid(f->pid, &status, WNOHANG), 0);
            crf_sleep_ms(10);
        }
    }
    assert_true(f->port > 0);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
    free(bin);
    free(port_file);
}

static CRF_UNUSED void crf_stop(struct crf *f)
{
    int status = 0;
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
        /* The fake frees everything: under ASan a leak fails it. */
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    if (f->dir) {
        bt_rmtree(f->dir);
        free(f->dir);
    }
    memset(f, 0, sizeof(*f));
}

static CRF_UNUSED json_t *crf_call(struct crf *f, const char *method,
                                   const char *path, const char *body)
{
    struct berth_http *h = NULL;
    struct berth_http_resp resp;
    struct berth_http_req req;
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    char *url = berth_xasprintf("%s%s", f->base, path);
    json_t *j;

    berth_http_resp_init(&resp);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = hdrs;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    assert_int_equal(berth_http_new(&h, NULL), 0);
    assert_int_equal(berth_http_do(h, &req, &resp, NULL), 0);
    assert_int_equal(resp.status, 200);
    j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    assert_non_null(j);
    berth_http_resp_release(&resp);
    berth_http_free(h);
    free(url);
    return j;
}

static CRF_UNUSED json_t *crf_get(struct crf *f, const char *path)
{
    return crf_call(f, "GET", path, NULL);
}

static CRF_UNUSED void crf_post(struct crf *f, const char *path,
                                const char *body)
{
    json_decref(crf_call(f, "POST", path, body));
}

/* Runs the fake counted for one BERTH_EXECUTION_NAME. */
static CRF_UNUSED int crf_runs(struct crf *f, const char *marker)
{
    json_t *s = crf_get(f, "/_fake/stats");
    int n = (int)json_integer_value(
        json_object_get(json_object_get(s, "runs"), marker));
    json_decref(s);
    return n;
}

static CRF_UNUSED int64_t crf_stat(struct crf *f, const char *key)
{
    json_t *s = crf_get(f, "/_fake/stats");
    int64_t n = (int64_t)json_integer_value(json_object_get(s, key));
    json_decref(s);
    return n;
}

/* Requests the fake refused for their shape: berth must send none. */
static CRF_UNUSED void crf_assert_no_violations(struct crf *f)
{
    json_t *v = crf_get(f, "/_fake/violations");
    json_t *list = json_object_get(v, "violations"), *e;
    size_t i;
    json_array_foreach(list, i, e)
    {
        fprintf(stderr, "violation: %s %s: %s\n",
                json_string_value(json_object_get(e, "method")),
                json_string_value(json_object_get(e, "path")),
                json_string_value(json_object_get(e, "violation")));
    }
    assert_int_equal(json_array_size(list), 0);
    json_decref(v);
}

/* How many recorded API requests match method and contain path_part, and
 * how many of those got `status` (0: any). */
static CRF_UNUSED int crf_count(struct crf *f, const char *method,
                                const char *path_part, int status)
{
    json_t *v = crf_get(f, "/_fake/requests");
    json_t *list = json_object_get(v, "requests"), *e;
    size_t i;
    int n = 0;
    json_array_foreach(list, i, e)
    {
        const char *m = json_string_value(json_object_get(e, "method"));
        const char *p = json_string_value(json_object_get(e, "path"));
        int st = (int)json_integer_value(json_object_get(e, "status"));
        if ((!method || strcmp(m, method) == 0) && strstr(p, path_part) &&
            (!status || st == status))
            n++;
    }
    json_decref(v);
    return n;
}

/* Executor options pointing every endpoint at the fake. */
static CRF_UNUSED void crf_opts(struct crf *f, struct berth_opts *o)
{
    char url[96];
    berth_opts_init(o);
    berth_opts_set_str(o, "project", CRF_PROJECT);
    berth_opts_set_str(o, "region", CRF_REGION);
    berth_opts_set_str(o, "endpoint", f->base);
    berth_opts_set_str(o, "logging_endpoint", f->base);
    snprintf(url, sizeof(url), "%s/token", f->base);
    berth_opts_set_str(o, "token_endpoint", url);
    berth_opts_set_str(o, "metadata_endpoint", f->base);
    berth_opts_set_int(o, "retry_base_ms", 5);
}

static CRF_UNUSED struct berth_exec *crf_exec(const struct berth_opts *o,
                                              const struct berth_clock *clock)
{
    struct berth_host host;
    struct berth_exec *ex = NULL;
    struct berth_err err;
    struct berth_exec_params p;

    berth_host_init(&host);
    host.name = berth_xstrdup("cloudrun");
    host.executor = berth_xstrdup("cloudrun");
    p.executor = "cloudrun";
    p.opts = o;
    p.host = &host;
    p.clock = clock;
    berth_err_init(&err);
    if (berth_exec_create("cloudrun", &p, &ex, &err))
        fail_msg("cannot create the cloudrun executor: %s", err.msg);
    berth_host_release(&host);
    return ex;
}

/* Poll until the execution leaves pending/running (at most ~30 s). */
static CRF_UNUSED void crf_wait_done(struct berth_exec *ex, const char *id,
                                     struct berth_exec_status *st)
{
    struct berth_err err;
    for (int i = 0; i < 3000; i++) {
        memset(st, 0, sizeof(*st));
        st->execution_id = id;
        berth_err_init(&err);
        assert_int_equal(berth_exec_status(ex, st, 1, &err), 0);
        if (st->rc)
            fail_msg("status of %s: %s", id, st->message);
        if (st->state == BERTH_EXEC_EXITED || st->state == BERTH_EXEC_LOST)
            return;
        crf_sleep_ms(10);
    }
    fail_msg("execution %s did not finish", id);
}

#endif
