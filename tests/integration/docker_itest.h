/*
 * docker_itest.h - helpers shared by the real-engine tests itest_docker*.c
 * (header-only: each test is its own binary).
 *
 * The engine comes from $BERTH_TEST_DOCKER (scripts/start-dockerd prints
 * it), else the default socket when it answers. No engine: the test says
 * "SKIPPED: no Docker engine" loudly and exits 77, which CTest reports as
 * skipped.
 */
#ifndef BERTH_DOCKER_ITEST_H
#define BERTH_DOCKER_ITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "berth_test.h"

#include "berth/exec.h"
#include "exec/http.h"

#define DT_IMAGE "local/busybox:latest"

static inline void dt_skip(const char *what, const char *why)
{
    fprintf(stderr,
            "\n"
            "************************************************************\n"
            "* SKIPPED: no Docker engine (%s)\n"
            "* %s\n"
            "* run scripts/start-dockerd (as root) to start one\n"
            "************************************************************\n"
            "\n",
            what, why);
    printf("SKIPPED: no Docker engine\n");
    exit(77);
}

/* A socket path out of a unix:// URL (borrowed), or NULL. */
static inline const char *dt_socket(const char *url)
{
    return strncmp(url, "unix://", 7) == 0 ? url + 7 : NULL;
}

/*
 * One raw Engine API call, bypassing berth (to set up or check what berth
 * did). Returns the HTTP status, or -1 when nothing answered. body_out may
 * be NULL.
 */
static inline long dt_raw(const char *url, const char *method, const char *path,
                          const char *body, struct berth_buf *body_out)
{
    static const char *const hdr[] = {"Content-Type: application/json", NULL};
    struct berth_http *h;
    struct berth_http_req req = {0};
    struct berth_http_resp resp;
    char *full;
    long status = -1;

    if (berth_http_new(&h, NULL))
        abort();
    full = berth_xasprintf("http://docker/v1.41%s", path);
    req.method = method;
    req.url = full;
    req.unix_socket = dt_socket(url);
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.headers = body && *body ? hdr : NULL;
    req.timeout_ms = 120000;
    berth_http_resp_init(&resp);
    if (berth_http_do(h, &req, &resp, NULL) == 0) {
        status = resp.status;
        if (body_out) {
            berth_buf_reset(body_out);
            berth_buf_append(body_out, berth_buf_cstr(&resp.body),
                             resp.body.len);
        }
    }
    berth_http_resp_release(&resp);
    berth_http_free(h);
    free(full);
    return status;
}

/* The engine URL to test against, or skip. */
static inline const char *dt_engine(const char *var)
{
    const char *url = getenv(var);
    long st;

    if (!url || !*url) {
        if (strcmp(var, "BERTH_TEST_DOCKER") != 0)
            dt_skip(var, "the variable is not set");
        url = "unix:///var/run/docker.sock";
    }
    if (!dt_socket(url))
        dt_skip(url, "the tests want a unix:// engine URL");
    st = dt_raw(url, "GET", "/_ping", NULL, NULL);
    if (st != 200)
        dt_skip(url, "it does not answer GET /_ping");
    st = dt_raw(url, "GET", "/images/" DT_IMAGE "/json", NULL, NULL);
    if (st != 200)
        dt_skip(url, "it lacks the test image " DT_IMAGE);
    return url;
}

/* A fresh instance on url with opts (NULL = none); aborts on failure. */
static inline struct berth_exec *dt_make(const char *host_name, const char *url,
                                         const struct berth_opts *opts)
{
    struct berth_opts none = BERTH_OPTS_INIT;
    struct berth_host host;
    struct berth_exec_params p;
    struct berth_exec *ex = NULL;
    struct berth_err err;

    berth_host_init(&host);
    host.name = berth_xstrdup(host_name);
    host.executor = berth_xstrdup("docker");
    host.url = berth_xstrdup(url);
    p.executor = "docker";
    p.opts = opts ? opts : &none;
    p.host = &host;
    p.clock = NULL;
    berth_err_init(&err);
    if (berth_exec_create("docker", &p, &ex, &err)) {
        fprintf(stderr, "cannot create docker executor: %s\n", err.msg);
        abort();
    }
    berth_host_release(&host);
    return ex;
}

/* Wait until the execution is over (or gone); each wait is bounded by the
 * engine call, and a stuck container is the test's own timeout. */
static inline void dt_wait_end(struct berth_exec *ex, const char *id,
                               struct berth_exec_status *st)
{
    for (;;) {
        struct berth_err err;
        berth_err_init(&err);
        memset(st, 0, sizeof(*st));
        st->execution_id = id;
        if (berth_exec_wait(ex, st, 60000, &err) != 0) {
            fprintf(stderr, "wait %s: %s\n", id, err.msg);
            abort();
        }
        if (st->state == BERTH_EXEC_EXITED || st->state == BERTH_EXEC_LOST)
            return;
    }
}

/* The inspect JSON of a container, parsed (caller json_decref's), or NULL
 * when it does not exist. */
static inline json_t *dt_inspect(const char *url, const char *id)
{
    struct berth_buf b = BERTH_BUF_INIT;
    char *path = berth_xasprintf("/containers/%s/json", id);
    long st = dt_raw(url, "GET", path, NULL, &b);
    json_t *j = st == 200 ? json_loads(berth_buf_cstr(&b), 0, NULL) : NULL;
    free(path);
    berth_buf_release(&b);
    return j;
}

#endif
