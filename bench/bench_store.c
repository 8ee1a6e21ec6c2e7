/*
 * bench_store.c - store throughput and latency (bench/store.sh runs it).
 *
 *   bench_store URL submit    --jobs N [--count K]
 *   bench_store URL claim     --jobs N [--batch B] [--clients C]
 *   bench_store URL latency   --pending P [--samples S] [--batch B]
 *   bench_store URL lifecycle --jobs N [--batch B]
 *
 * URL is a store that the benchmark may fill: "sqlite:DIR/x.db" (the file
 * is removed first) or a PostgreSQL URL, in which case a fresh database
 * named bench_<pid> is created beside the one named and dropped at the end.
 * Prints one line "<figure> <unit>" on stdout; progress goes to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "berth/job.h"
#include "berth/store.h"
#include "berth/util.h"

#define T0  INT64_C(1800000000000000)
#define SEC BERTH_US_PER_SEC

static char *admin_url; /* PostgreSQL: where to CREATE/DROP DATABASE */
static char *db_name;

static void die(const char *what, const struct berth_err *err)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(admin_url);
    PGresult *r;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_store: %s", PQerrorMessage(c));
        exit(1);
    }
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "bench_store: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    PQfinish(c);
}

/* The URL with its database path replaced by `db`. */
static char *pg_url_with_db(const char *url, const char *db)
{
    const char *hostpart = strstr(url, "://") + 3;
    const char *slash = strchr(hostpart, '/');
    const char *query = strchr(hostpart, '?');
    size_t head = slash ? (size_t)(slash - url)
                        : (query ? (size_t)(query - url) : strlen(url));
    return berth_xasprintf("%.*s/%s%s", (int)head, url, db, query ? query : "");
}

/* Prepare a fresh store URL from the one given. */
static char *fresh_url(const char *url)
{
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;
        char *wal = berth_xasprintf("%s-wal", path);
        char *shm = berth_xasprintf("%s-shm", path);
        unlink(path);
        unlink(wal);
        unlink(shm);
        free(wal);
        free(shm);
        return berth_xstrdup(url);
    }
    admin_url = berth_xstrdup(url);
    db_name = berth_xasprintf("bench_%d", (int)getpid());
    {
        char *sql = berth_xasprintf("CREATE DATABASE %s", db_name);
        pg_admin(sql);
        free(sql);
    }
    return pg_url_with_db(url, db_name);
}

static void drop_fresh(void)
{
    if (db_name) {
        char *sql = berth_xasprintf("DROP DATABASE IF EXISTS %s", db_name);
        pg_admin(sql);
        free(sql);
    }
}

static struct berth_store *open_store(const char *url)
{
    struct berth_store *st;
    struct berth_err err;
    if (berth_store_open(url, &st, &err) != 0)
        die("open", &err);
    return st;
}

static void submit(struct berth_store *st, size_t n, size_t per_call)
{
    struct berth_job j;
    struct berth_err err;
    int64_t first;

    berth_job_init(&j);
    j.image = berth_xstrdup("local/busybox:latest");
    berth_strv_push(&j.command, "true");
    berth_map_set(&j.labels, "bench", "1");
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per_call ? n - done : per_call;
        j.priority = (int)(done % 3) * 10;
        if (berth_store_job_submit(st, &j, k, T0, &first, &err) != 0)
            die("submit", &err);
        done += k;
    }
    berth_job_release(&j);
}

static size_t claim_all(struct berth_store *st, const char *owner, size_t batch)
{
    struct berth_err err;
    size_t total = 0;
    for (;;) {
        struct berth_job *v;
        size_t n;
        if (berth_store_job_claim(st, owner, T0, T0 + 3600 * SEC, batch, &v, &n,
                                  &err) != 0)
            die("claim", &err);
        berth_store_jobs_free(v, n);
        if (n == 0)
            return total;
        total += n;
    }
}

static double bench_claim(const char *url, size_t jobs, size_t batch,
                          int clients)
{
    struct berth_store *st = open_store(url);
    int fds[2];
    pid_t pids[64];
    int64_t t;

    submit(st, jobs, 1000);
    berth_store_free(st);
    if (pipe(fds) != 0)
        die("pipe", NULL);
    for (int i = 0; i < clients; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char owner[32];
            char c;
            struct berth_store *cs = open_store(url);
            snprintf(owner, sizeof(owner), "bench-%d", i);
            close(fds[1]);
            while (read(fds[0], &c, 1) < 0 && errno == EINTR)
                ;
            claim_all(cs, owner, batch);
            berth_store_free(cs);
            _exit(0);
        }
        pids[i] = pid;
    }
    usleep(300000); /* let every client connect */
    t = berth_mono_us();
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < clients; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("a client failed", NULL);
    }
    t = berth_mono_us() - t;
    return (double)jobs / ((double)t / 1e6);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Median µs of claiming `batch` jobs with `pending` jobs queued. */
static double bench_latency(const char *url, size_t pending, int samples,
                            size_t batch)
{
    struct berth_store *st = open_store(url);
    struct berth_err err;
    int64_t *us = berth_xcalloc((size_t)samples, sizeof(*us));
    double med;

    fprintf(stderr, "filling %zu pending jobs…\n", pending);
    submit(st, pending, 10000);
    /* top the queue up as we go, so it stays at `pending` */
    for (int i = 0; i < samples; i++) {
        struct berth_job *v;
        size_t n;
        int64_t t = berth_mono_us();
        if (berth_store_job_claim(st, "lat", T0, T0 + 3600 * SEC, batch, &v, &n,
                                  &err) != 0)
            die("claim", &err);
        us[i] = berth_mono_us() - t;
        berth_store_jobs_free(v, n);
        submit(st, n, n ? n : 1);
    }
    qsort(us, (size_t)samples, sizeof(*us), cmp_i64);
    med = (double)us[samples / 2];
    free(us);
    berth_store_free(st);
    return med;
}

static double bench_submit(const char *url, size_t jobs, size_t per_call)
{
    struct berth_store *st = open_store(url);
    int64_t t = berth_mono_us();
    submit(st, jobs, per_call);
    t = berth_mono_us() - t;
    berth_store_free(st);
    return (double)jobs / ((double)t / 1e6);
}

/*
 * The store's share of the end-to-end path: submit, claim, then
 * launching, running and completed with logs, `batch` updates per apply.
 */
static double bench_lifecycle(const char *url, size_t jobs, size_t batch)
{
    struct berth_store *st = open_store(url);
    struct berth_host h;
    struct berth_err err;
    struct berth_job_update *ups = berth_xcalloc(batch, sizeof(*ups));
    struct berth_job_logs logs;
    size_t done = 0;
    int64_t t, phase[5] = {0};

    berth_host_init(&h);
    h.name = berth_xstrdup("mock-1");
    h.executor = berth_xstrdup("mock");
    h.max_concurrent_jobs = 100000;
    if (berth_store_host_put(st, &h, false, &err) != 0)
        die("host", &err);
    berth_host_release(&h);
    berth_job_logs_init(&logs);
    logs.out = (char *)"hello from the mock\n";
    logs.out_len = strlen(logs.out);
    logs.err = (char *)"";

    t = berth_mono_us();
    submit(st, jobs, batch);
    phase[0] = berth_mono_us() - t;
    while (done < jobs) {
        int64_t t1 = berth_mono_us();
        struct berth_job *v;
        size_t n, applied;
        if (berth_store_job_claim(st, "w", T0, T0 + 3600 * SEC, batch, &v, &n,
                                  &err) != 0)
            die("claim", &err);
        if (n == 0)
            die("queue ran dry", NULL);
        phase[1] += berth_mono_us() - t1;
        for (int step = 0; step < 3; step++) {
            int64_t t2 = berth_mono_us();
            static const enum berth_job_state from[] = {
                BERTH_JOB_PENDING, BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING};
            static const enum berth_job_state to[] = {
                BERTH_JOB_LAUNCHING, BERTH_JOB_RUNNING, BERTH_JOB_COMPLETED};
            for (size_t i = 0; i < n; i++) {
                struct berth_job_update *u = &ups[i];
                memset(u, 0, sizeof(*u));
                u->job_id = v[i].id;
                u->from = from[step];
                u->to = to[step];
                u->attempt = v[i].attempt;
                if (step == 0) {
                    u->set = BERTH_UPD_PLACEMENT;
                    u->executor = "mock";
                    u->host = "mock-1";
                    u->routing_reason = "Default fallback to mock";
                    u->rule_index = -1;
                } else if (step == 1) {
                    u->set = BERTH_UPD_EXECUTION;
                    u->execution_id = "mock-exec";
                } else {
                    u->set = BERTH_UPD_EXIT | BERTH_UPD_LOGS;
                    u->exit_code = 0;
                    u->logs = &logs;
                }
            }
            if (berth_store_apply(st, ups, n, T0, &applied, &err) != 0)
                die("apply", &err);
            if (applied != n)
                die("an update was refused", NULL);
            phase[2 + step] += berth_mono_us() - t2;
        }
        done += n;
        berth_store_jobs_free(v, n);
    }
    t = berth_mono_us() - t;
    fprintf(stderr,
            "µs per job: submit %.1f, claim %.1f, launching %.1f, "
            "running %.1f, completed+logs %.1f\n",
            (double)phase[0] / (double)jobs, (double)phase[1] / (double)jobs,
            (double)phase[2] / (double)jobs, (double)phase[3] / (double)jobs,
            (double)phase[4] / (double)jobs);
    free(ups);
    berth_store_free(st);
    return (double)jobs / ((double)t / 1e6);
}

static size_t opt(int argc, char **argv, const char *name, size_t def)
{
    for (int i = 3; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            int64_t v;
            if (berth_parse_i64(argv[i + 1], 1, INT64_C(100000000), &v) != 0)
                die("bad option value", NULL);
            return (size_t)v;
        }
    }
    return def;
}

int main(int argc, char **argv)
{
    const char *mode;
    char *url;
    double r;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_store URL "
                        "submit|claim|latency|lifecycle [options]\n");
        return 2;
    }
    mode = argv[2];
    url = fresh_url(argv[1]);
    if (strcmp(mode, "submit") == 0) {
        r = bench_submit(url, opt(argc, argv, "--jobs", 20000),
                         opt(argc, argv, "--count", 1));
        printf("%.0f jobs/s\n", r);
    } else if (strcmp(mode, "claim") == 0) {
        r = bench_claim(url, opt(argc, argv, "--jobs", 20000),
                        opt(argc, argv, "--batch", 1),
                        (int)opt(argc, argv, "--clients", 1));
        printf("%.0f jobs/s\n", r);
    } else if (strcmp(mode, "latency") == 0) {
        r = bench_latency(url, opt(argc, argv, "--pending", 10000),
                          (int)opt(argc, argv, "--samples", 200),
                          opt(argc, argv, "--batch", 1));
        printf("%.0f us\n", r);
    } else if (strcmp(mode, "lifecycle") == 0) {
        r = bench_lifecycle(url, opt(argc, argv, "--jobs", 20000),
                            opt(argc, argv, "--batch", 500));
        printf("%.0f jobs/s\n", r);
    } else {
        fprintf(stderr, "bench_store: unknown mode '%s'\n", mode);
        drop_fresh();
        return 2;
    }
    free(url);
    drop_fresh();
    return 0;
}
