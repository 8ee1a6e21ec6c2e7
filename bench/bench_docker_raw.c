/*
 * bench_docker_raw.c - the engine's own limit: containers per second
 * through the Engine API directly, without berth.
 *
 *   bench_docker_raw [-u unix:///var/run/docker.sock] [-c CONCURRENCY]
 *                    [-n CONTAINERS] [-i IMAGE]
 *
 * CONCURRENCY threads each loop create + start + wait + remove of a
 * container running `true` (NetworkMode none), one plain libcurl handle per
 * thread kept alive, until N containers have run. Prints one line:
 *
 *   raw concurrency=4 containers=40 seconds=4.52 per_second=8.85
 *
 * This is what bench/docker.sh compares berth against (BENCHMARKS.md).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static const char *sock = "/var/run/docker.sock";
static const char *image = "local/busybox:latest";
static atomic_int remaining;
static atomic_int failures;

struct body {
    char buf[4096];
    size_t len;
};

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n;
    size_t room = sizeof(b->buf) - 1 - b->len;
    size_t k = len < room ? len : room;
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = '\0';
    return len;
}

static long call(CURL *c, const char *method, const char *path,
                 const char *json, struct body *b)
{
    struct curl_slist *h = NULL;
    char url[512];
    long status = 0;

    snprintf(url, sizeof(url), "http://docker/v1.41%s", path);
    b->len = 0;
    b->buf[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (json) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static void *worker(void *arg)
{
    CURL *c = curl_easy_init();
    struct body b;
    char create[512], path[256], id[80];
    (void)arg;

    snprintf(create, sizeof(create),
             "{\"Image\":\"%s\",\"Cmd\":[\"true\"],\"Labels\":{"
             "\"berth.bench\":\"raw\"},\"HostConfig\":{\"NetworkMode\":"
             "\"none\"}}",
             image);
    while (atomic_fetch_sub(&remaining, 1) > 0) {
        const char *p;
        if (call(c, "POST", "/containers/create", create, &b) != 201 ||
            !(p = strstr(b.buf, "\"Id\":\""))) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        snprintf(id, sizeof(id), "%.64s", p + 6);
        snprintf(path, sizeof(path), "/containers/%s/start", id);
        if (call(c, "POST", path, NULL, &b) != 204)
            atomic_fetch_add(&failures, 1);
        snprintf(path, sizeof(path), "/containers/%s/wait", id);
        if (call(c, "POST", path, NULL, &b) != 200 ||
            !strstr(b.buf, "\"StatusCode\":0"))
            atomic_fetch_add(&failures, 1);
        snprintf(path, sizeof(path), "/containers/%s?force=1", id);
        if (call(c, "DELETE", path, NULL, &b) != 204)
            atomic_fetch_add(&failures, 1);
    }
    curl_easy_cleanup(c);
    return NULL;
}

int main(int argc, char **argv)
{
    int conc = 1, n = 20, opt;
    pthread_t *t;
    struct timespec a, z;
    double secs;

    while ((opt = getopt(argc, argv, "u:c:n:i:")) != -1) {
        switch (opt) {
        case 'u':
            if (strncmp(optarg, "unix://", 7) != 0) {
                fprintf(stderr, "only unix:// engines\n");
                return 2;
            }
            sock = optarg + 7;
            break;
        case 'c':
            conc = (int)strtol(optarg, NULL, 10);
            break;
        case 'n':
            n = (int)strtol(optarg, NULL, 10);
            break;
        case 'i':
            image = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-u URL] [-c N] [-n N] [-i IMAGE]\n",
                    argv[0]);
            return 2;
        }
    }
    if (conc < 1 || n < 1)
        return 2;
    curl_global_init(CURL_GLOBAL_ALL);
    atomic_store(&remaining, n);
    t = calloc((size_t)conc, sizeof(*t));
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < conc; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &z);
    secs =
        (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9;
    printf("raw concurrency=%d containers=%d seconds=%.2f per_second=%.2f "
           "failures=%d\n",
           conc, n, secs, n / secs, atomic_load(&failures));
    free(t);
    curl_global_cleanup();
    return atomic_load(&failures) ? 1 : 0;
}
