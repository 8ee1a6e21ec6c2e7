/*
 * http.h - a small libcurl wrapper shared by the backends that speak HTTP
 * (docker over a unix socket or tcp+TLS, cloudrun, fargate). Private to the
 * exec layer.
 *
 * A struct berth_http wraps one CURL easy handle (connections are kept alive
 * between requests). It is not thread-safe: use one per thread.
 */
#ifndef BERTH_EXEC_HTTP_H
#define BERTH_EXEC_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"
#include "berth/util.h"

struct berth_http;

/* Return non-zero to stop the transfer (the request then fails with
 * BERTH_E_IO unless the callback set stop_ok). */
typedef int (*berth_http_data_fn)(const char *data, size_t len, void *ctx);

struct berth_http_req {
    const char *method; /* "GET", "POST", "DELETE", ... */
    const char *url;
    const char *unix_socket;    /* path, or NULL for TCP */
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    const char *body;           /* NULL: no body; "" with len 0: empty */
    size_t body_len;
    long timeout_ms;         /* whole request; 0 = none */
    long connect_timeout_ms; /* 0 = 10 s */
    const char *aws_sigv4; /* CURLOPT_AWS_SIGV4, e.g. "aws:amz:eu-west-1:ecs" */
    const char *userpwd;   /* "KEY:SECRET" for SigV4 */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    size_t max_body;            /* cap on the response body; 0 = 16 MiB */
    berth_http_data_fn on_data; /* stream the body here instead of buffering */
    void *data_ctx;
    /* With on_data: stream only a 2xx response's body; any other status's
     * body is buffered into resp->body (capped) so the caller can report
     * the server's error text. */
    bool on_data_2xx_only;
};

struct berth_http_resp {
    long status;
    struct berth_buf body;
    struct berth_map headers; /* lowercase names */
};

int berth_http_new(struct berth_http **out, struct berth_err *err);
void berth_http_free(struct berth_http *h); /* NULL is a no-op */

void berth_http_resp_init(struct berth_http_resp *r);
void berth_http_resp_release(struct berth_http_resp *r);

/*
 * Perform one request. Returns 0 when an HTTP response arrived (whatever its
 * status: callers classify it with berth_http_status_error()). Transport
 * failures return BERTH_E_NET (transient), BERTH_E_TIMEOUT (transient) or
 * BERTH_E_TOOBIG, with a message naming the URL.
 */
int berth_http_do(struct berth_http *h, const struct berth_http_req *req,
                  struct berth_http_resp *resp, struct berth_err *err);

/*
 * DESIGN.md § Job lifecycle: the one place HTTP statuses are classified.
 * 2xx -> 0. 429 and 5xx -> transient BERTH_E_BACKEND; 401/403 -> BERTH_E_AUTH;
 * 404 -> BERTH_E_NOTFOUND; 409 -> BERTH_E_CONFLICT; other 4xx -> permanent
 * BERTH_E_INVALID. The message is "<what>: HTTP <status>: <detail>".
 */
int berth_http_status_error(long status, const char *what, const char *detail,
                            struct berth_err *err);

#endif
