/*
 * bench_docker_exec.c - containers per second through berth's docker
 * executor alone (no store, no worker): what the backend costs over the raw
 * Engine API.
 *
 *   bench_docker_exec [-u unix:///var/run/docker.sock] [-c CONCURRENCY]
 *                     [-n CONTAINERS] [-i IMAGE]
 *
 * CONCURRENCY threads share one executor instance (as the worker's threads
 * do) and each loops launch + wait + logs + cleanup of a job running
 * `true`, until N have run. Prints one line like bench_docker_raw:
 *
 *   exec concurrency=4 containers=40 seconds=4.61 per_second=8.68
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/exec.h"

static const char *url = "unix:///var/run/docker.sock";
static const char *image = "local/busybox:latest";
static struct berth_exec *ex;
static atomic_int remaining;
static atomic_int failures;
static atomic_long next_job;

static void *worker(void *arg)
{
    struct berth_strv cmd = BERTH_STRV_INIT;
    (void)arg;

    berth_strv_push(&cmd, "true");
    while (atomic_fetch_sub(&remaining, 1) > 0) {
        struct berth_launch l = {0};
        struct berth_execution e;
        struct berth_exec_status st;
        struct berth_job_logs logs;
        struct berth_err err;
        char name[64];

        l.job_id = atomic_fetch_add(&next_job, 1);
        l.attempt = 1;
        berth_exec_name(l.job_id, 1, name, sizeof(name));
        l.name = name;
        l.image = image;
        l.command = &cmd;
        l.network = "none";
        berth_err_init(&err);
        if (berth_exec_launch(ex, &l, &e, &err) != 0) {
            fprintf(stderr, "launch: %s\n", err.msg);
            atomic_fetch_add(&failures, 1);
            continue;
        }
        do {
            memset(&st, 0, sizeof(st));
            st.execution_id = e.id;
            if (berth_exec_wait(ex, &st, 60000, &err) != 0)
                break;
        } while (st.state == BERTH_EXEC_RUNNING ||
                 st.state == BERTH_EXEC_PENDING);
        if (st.state != BERTH_EXEC_EXITED || st.exit_code != 0)
            atomic_fetch_add(&failures, 1);
        if (berth_exec_logs(ex, e.id, 0, &logs, &err) == 0)
            berth_job_logs_release(&logs);
        else
            atomic_fetch_add(&failures, 1);
        if (berth_exec_cleanup(ex, e.id, &err) != 0)
            atomic_fetch_add(&failures, 1);
    }
    berth_strv_release(&cmd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct berth_opts opts = BERTH_OPTS_INIT;
    struct berth_host host;
    struct berth_exec_params p;
    struct berth_err err;
    char ns[32];
    int conc = 1, n = 20, opt;
    pthread_t *t;
    int64_t a, z;
    double secs;

    while ((opt = getopt(argc, argv, "u:c:n:i:")) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
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
    snprintf(ns, sizeof(ns), "bx%ld", (long)getpid());
    berth_opts_set_str(&opts, "namespace", ns);
    berth_host_init(&host);
    host.name = berth_xstrdup("bench");
    host.url = berth_xstrdup(url);
    p.executor = "docker";
    p.opts = &opts;
    p.host = &host;
    p.clock = NULL;
    berth_err_init(&err);
    if (berth_exec_create("docker", &p, &ex, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    atomic_store(&remaining, n);
    atomic_store(&next_job, 1);
    t = calloc((size_t)conc, sizeof(*t));
    a = berth_mono_us();
    for (int i = 0; i < conc; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
    z = berth_mono_us();
    secs = (double)(z - a) / 1e6;
    printf("exec concurrency=%d containers=%d seconds=%.2f per_second=%.2f "
           "failures=%d\n",
           conc, n, secs, n / secs, atomic_load(&failures));
    free(t);
    berth_exec_destroy(ex);
    berth_host_release(&host);
    berth_opts_release(&opts);
    return atomic_load(&failures) ? 1 : 0;
}
