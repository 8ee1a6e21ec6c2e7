/* http.c - libcurl wrapper for the HTTP backends (see http.h). */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http.h"

struct berth_http {
    CURL *curl;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

int berth_http_new(struct berth_http **out, struct berth_err *err)
{
    struct berth_http *h;

    pthread_once(&curl_once, curl_global);
    h = berth_xcalloc(1, sizeof(*h));
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        *out = NULL;
        return berth_err_set(err, BERTH_E_NOMEM, "cannot create a curl handle");
    }
    *out = h;
    return 0;
}

void berth_http_free(struct berth_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

void berth_http_resp_init(struct berth_http_resp *r)
{
    r->status = 0;
    berth_buf_init(&r->body, 0);
    berth_map_init(&r->headers);
}

void berth_http_resp_release(struct berth_http_resp *r)
{
    berth_buf_release(&r->body);
    berth_map_release(&r->headers);
    r->status = 0;
}

struct xfer {
    CURL *curl;
    const struct berth_http_req *req;
    struct berth_http_resp *resp;
    bool too_big;
    bool stopped;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;

    if (x->req->on_data && x->req->on_data_2xx_only) {
        long status = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            goto buffer;
    }
    if (x->req->on_data) {
        if (x->req->on_data(ptr, n, x->req->data_ctx)) {
            x->stopped = true;
            return 0;
        }
        return n;
    }
buffer:
    if (berth_buf_append(&x->resp->body, ptr, n)) {
        x->too_big = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb, klen;
    const char *colon = memchr(ptr, ':', n);
    char *key, *val;
    const char *v, *end;

    if (!colon)
        return n;
    klen = (size_t)(colon - ptr);
    key = berth_xstrndup(ptr, klen);
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    v = colon + 1;
    end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    val = berth_xstrndup(v, (size_t)(end - v));
    berth_map_set(&x->resp->headers, key, val);
    free(key);
    free(val);
    return n;
}

int berth_http_do(struct berth_http *h, const struct berth_http_req *req,
                  struct berth_http_resp *resp, struct berth_err *err)
{
    CURL *c = h->curl;
    struct curl_slist *hdrs = NULL;
    struct xfer x = {c, req, resp, false, false};
    char curl_err[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    int rc = 0;

    berth_http_resp_release(resp);
    berth_buf_init(&resp->body, req->max_body ? req->max_body : 16u << 20);
    berth_map_init(&resp->headers);

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms ? req->connect_timeout_ms
                                             : 10000L);
    if (req->timeout_ms)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    if (req->unix_socket)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
    if (req->method && strcmp(req->method, "GET") != 0) {
        if (strcmp(req->method, "HEAD") == 0)
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    }
    for (const char *const *hp = req->headers; hp && *hp; hp++)
        hdrs = curl_slist_append(hdrs, *hp);
    /* libcurl adds "Expect: 100-continue" to large bodies; the servers we
     * talk to do not need the extra round trip. Not with SigV4: libcurl
     * 7.88 signs every header of this list, even "Expect:", which only
     * removes a header, so the server would miss a signed header. (It adds
     * Expect only above 1 MiB, far beyond any AWS API body berth sends.) */
    if (!req->aws_sigv4)
        hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (req->aws_sigv4) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, req->aws_sigv4);
        if (req->userpwd)
            curl_easy_setopt(c, CURLOPT_USERPWD, req->userpwd);
    }
    if (req->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    if (req->cert_file)
        curl_easy_setopt(c, CURLOPT_SSLCERT, req->cert_file);
    if (req->key_file)
        curl_easy_setopt(c, CURLOPT_SSLKEY, req->key_file);

    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc != CURLE_OK) {
        if (x.too_big)
            rc = berth_err_set(
                err, BERTH_E_TOOBIG, "%s %s: response larger than %zu bytes",
                req->method ? req->method : "GET", req->url, resp->body.max);
        else if (x.stopped)
            rc = 0; /* the caller's callback ended the stream on purpose */
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = berth_err_set_transient(
                err, BERTH_E_TIMEOUT, "%s %s: timed out: %s",
                req->method ? req->method : "GET", req->url,
                curl_err[0] ? curl_err : curl_easy_strerror(cc));
        else
            rc = berth_err_set_transient(
                err, BERTH_E_NET, "%s %s: %s",
                req->method ? req->method : "GET", req->url,
                curl_err[0] ? curl_err : curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdrs);
    return rc;
}

int berth_http_status_error(long status, const char *what, const char *detail,
                            struct berth_err *err)
{
    const char *d = detail && *detail ? detail : "no detail";

    if (status >= 200 && status < 300)
        return 0;
    if (status == 429 || status >= 500)
        return berth_err_set_transient(err, BERTH_E_BACKEND, "%s: HTTP %ld: %s",
                                       what, status, d);
    if (status == 401 || status == 403)
        return berth_err_set(err, BERTH_E_AUTH, "%s: HTTP %ld: %s", what,
                             status, d);
    if (status == 404)
        return berth_err_set(err, BERTH_E_NOTFOUND, "%s: HTTP %ld: %s", what,
                             status, d);
    if (status == 409)
        return berth_err_set(err, BERTH_E_CONFLICT, "%s: HTTP %ld: %s", what,
                             status, d);
    return berth_err_set(err, BERTH_E_INVALID, "%s: HTTP %ld: %s", what, status,
                         d);
}
