/* bt_fake_server.c - fake cloud servers as child processes (see
 * bt_fake_server.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth_test.h"
#include "bt_fake_server.h"

#include "exec/http.h"

int bt_fake_server_start(struct bt_fake_server *s, const char *program,
                         const char *const *args)
{
    const char *build = getenv("BERTH_BUILD_DIR");
    char *path, *port_file, *err_file;
    const char *argv[64];
    size_t n = 0;
    pid_t pid;

    memset(s, 0, sizeof(*s));
    if (!build || !*build)
        return -1;
    path = berth_xasprintf("%s/tests/%s", build, program);
    if (access(path, X_OK) != 0) {
        free(path);
        return -1;
    }
    s->dir = bt_tmpdir(program);
    port_file = berth_xasprintf("%s/port", s->dir);
    err_file = berth_xasprintf("%s/stderr", s->dir);
    argv[n++] = path;
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    for (size_t i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        int fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    /* Wait for the port file (the server writes it once it listens). */
    for (int i = 0; i < 1000; i++) {
        char *text = NULL;
        size_t len;
        struct timespec ts = {0, 10 * 1000 * 1000};
        int status;
        if (berth_read_file(port_file, 64, &text, &len, NULL) == 0) {
            s->port = (unsigned)strtoul(text, NULL, 10);
            free(text);
            break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "%s exited before listening (see %s)\n", path,
                    err_file);
            abort();
        }
        nanosleep(&ts, NULL);
    }
    if (!s->port) {
        fprintf(stderr, "%s did not start listening\n", path);
        abort();
    }
    s->base_url = berth_xasprintf("http://127.0.0.1:%u", s->port);
    free(path);
    free(port_file);
    free(err_file);
    return 0;
}

void bt_fake_server_stop(struct bt_fake_server *s)
{
    int status;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (s->dir) {
        bt_rmtree(s->dir);
        free(s->dir);
    }
    free(s->base_url);
    memset(s, 0, sizeof(*s));
}

static long request(const struct bt_fake_server *s, const char *method,
                    const char *path, const char *body, struct berth_buf *out)
{
    struct berth_http *h;
    struct berth_http_req req = {0};
    struct berth_http_resp resp;
    struct berth_err err;
    char *url = berth_xasprintf("%s%s", s->base_url, path);
    long status;

    berth_err_init(&err);
    if (berth_http_new(&h, &err) != 0)
        abort();
    berth_http_resp_init(&resp);
    req.method = method;
    req.url = url;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.timeout_ms = 30000;
    if (berth_http_do(h, &req, &resp, &err) != 0) {
        fprintf(stderr, "%s %s: %s\n", method, url, err.msg);
        abort();
    }
    status = resp.status;
    if (out)
        berth_buf_append(out, resp.body.data ? resp.body.data : "",
                         resp.body.len);
    berth_http_resp_release(&resp);
    berth_http_free(h);
    free(url);
    return status;
}

json_t *bt_fake_server_get(const struct bt_fake_server *s, const char *path)
{
    struct berth_buf b = BERTH_BUF_INIT;
    json_error_t jerr;
    json_t *j;
    long st = request(s, "GET", path, NULL, &b);
    j = json_loads(berth_buf_cstr(&b), 0, &jerr);
    if (st != 200 || !j) {
        fprintf(stderr, "GET %s: HTTP %ld: %s\n", path, st, berth_buf_cstr(&b));
        abort();
    }
    berth_buf_release(&b);
    return j;
}

long bt_fake_server_post(const struct bt_fake_server *s, const char *path,
                         const char *json_text)
{
    return request(s, "POST", path, json_text ? json_text : "{}", NULL);
}
