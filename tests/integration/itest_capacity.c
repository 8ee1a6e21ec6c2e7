/*
 * itest_capacity.c - several worker processes on one store never overfill a
 * host (issue 4, and issue 6 on PostgreSQL).
 *
 * Four `berth worker` processes route 300 mock jobs onto three hosts with
 * max_concurrent_jobs 1, 2 and 3. Afterwards the store's event history is
 * replayed in commit order: for every host, the number of jobs that entered
 * launching there and have not yet left launching/running must never exceed
 * its limit, and every job must have run exactly once (the mock's durable
 * launch record).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth_test.h"

#include "berth/store.h"

#define NJOBS    300
#define NWORKERS 4

struct fx {
    char *dir;
    char *config;
    const char *url;
};

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void write_config(struct fx *f)
{
    char *text = berth_xasprintf(
        "default_executor: mock\n"
        "executors:\n"
        "  mock: {duration_ms: 40, record_dir: \"%s/rec\"}\n"
        "hosts:\n"
        "  - {name: h1, executor: mock, max_concurrent_jobs: 1}\n"
        "  - {name: h2, executor: mock, max_concurrent_jobs: 2}\n"
        "  - {name: h3, executor: mock, max_concurrent_jobs: 3}\n",
        f->dir);
    f->config = berth_xasprintf("%s/berth.yaml", f->dir);
    bt_write_file(f->config, text);
    free(text);
}

static int cmp_event(const void *pa, const void *pb)
{
    const struct berth_job_event *a = pa, *b = pb;
    return (a->id > b->id) - (a->id < b->id);
}

static int64_t limit_of(const char *host)
{
    return host[1] - '0'; /* h1 -> 1, h2 -> 2, h3 -> 3 */
}

static bool active(enum berth_job_state s)
{
    return s == BERTH_JOB_LAUNCHING || s == BERTH_JOB_RUNNING;
}

static void run_capacity(const char *url)
{
    struct fx f = {0};
    struct berth_store *st;
    struct berth_err err;
    struct berth_job_event *all = NULL;
    size_t nall = 0, cap = 0;
    pid_t pids[NWORKERS];
    int64_t used[4] = {0}, peak[4] = {0};
    char count[16];
    int rounds = 0;

    f.dir = bt_tmpdir("capacity");
    f.url = url ? url : berth_xasprintf("sqlite:%s/berth.db", f.dir);
    write_config(&f);
    snprintf(count, sizeof(count), "%d", NJOBS);
    {
        char *argv[] = {(char *)bt_berth_bin(),
                        "--config",
                        f.config,
                        "--store",
                        (char *)f.url,
                        "submit",
                        "--image",
                        "x",
                        "--count",
                        count,
                        NULL};
        assert_int_equal(bt_run(argv, NULL, NULL, NULL), 0);
    }
    for (int i = 0; i < NWORKERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "w%d", i);
        char *argv[] = {(char *)bt_berth_bin(),
                        "--config",
                        f.config,
                        "--store",
                        (char *)f.url,
                        "worker",
                        "--concurrency",
                        "4",
                        "--poll-interval",
                        "50ms",
                        "--id",
                        id,
                        NULL};
        pids[i] = spawn(argv);
    }

    berth_err_init(&err);
    assert_int_equal(berth_store_open(f.url, &st, &err), 0);
    for (;;) {
        struct berth_store_stats s;
        int64_t done;
        assert_int_equal(berth_store_stats(st, berth_now_us(), &s, &err), 0);
        done = s.by_state[BERTH_JOB_COMPLETED] + s.by_state[BERTH_JOB_FAILED];
        if (done == NJOBS)
            break;
        assert_true(++rounds < 1200); /* 2 minutes: a stuck queue fails */
        usleep(100000);
    }
    for (int i = 0; i < NWORKERS; i++) {
        int status;
        kill(pids[i], SIGTERM);
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }

    /* Replay every event in commit order. */
    for (int64_t id = 1; id <= NJOBS; id++) {
        struct berth_job_event *ev = NULL;
        size_t n = 0;
        struct berth_job j;
        assert_int_equal(berth_store_job_get(st, id, &j, &err), 0);
        assert_int_equal(j.status, BERTH_JOB_COMPLETED);
        berth_job_release(&j);
        assert_int_equal(berth_store_job_events(st, id, &ev, &n, &err), 0);
        if (nall + n > cap) {
            cap = (nall + n) * 2;
            all = berth_xrealloc(all, cap * sizeof(*all));
        }
        memcpy(all + nall, ev, n * sizeof(*ev));
        nall += n;
        free(ev); /* the strings now belong to `all` */
    }
    qsort(all, nall, sizeof(*all), cmp_event);
    for (size_t i = 0; i < nall; i++) {
        const struct berth_job_event *e = &all[i];
        bool was = active(e->from), is = active(e->to);
        int h;
        if (!e->host || e->host[0] != 'h')
            continue;
        h = (int)limit_of(e->host);
        if (!was && is) {
            used[h]++;
        } else if (was && !is) {
            used[h]--;
        } else if (was && is && e->from == e->to) {
            fail_msg("a move between hosts: the test expects none");
        }
        if (used[h] > peak[h])
            peak[h] = used[h];
        if (used[h] > limit_of(e->host))
            fail_msg("host %s held %lld jobs at event %lld (limit %lld)",
                     e->host, (long long)used[h], (long long)e->id,
                     (long long)limit_of(e->host));
    }
    for (int h = 1; h <= 3; h++) {
        assert_int_equal(used[h], 0);
        /* the hosts were really used to their limits */
        assert_int_equal(peak[h], h);
    }
    printf("events replayed: %zu; peaks h1=%lld h2=%lld h3=%lld\n", nall,
           (long long)peak[1], (long long)peak[2], (long long)peak[3]);

    /* The durable launch record: one launch per job. */
    {
        char *path = berth_xasprintf("%s/rec/launches.log", f.dir);
        FILE *fp = fopen(path, "r");
        static int seen[NJOBS + 1];
        long long job, t;
        int attempt, lines = 0;
        char host[64];
        memset(seen, 0, sizeof(seen));
        assert_non_null(fp);
        while (fscanf(fp, "%lld %d %63s %lld", &job, &attempt, host, &t) == 4) {
            assert_in_range(job, 1, NJOBS);
            seen[job]++;
            lines++;
        }
        fclose(fp);
        free(path);
        assert_int_equal(lines, NJOBS);
        for (int i = 1; i <= NJOBS; i++)
            assert_int_equal(seen[i], 1);
    }

    berth_store_events_free(all, nall);
    berth_store_free(st);
    bt_rmtree(f.dir);
    free(f.dir);
    free(f.config);
    if (!url)
        free((char *)f.url);
}

static void test_capacity__sqlite_workers_never_overfill(void **state)
{
    (void)state;
    run_capacity(NULL);
}

static void test_capacity__postgresql_workers_never_overfill(void **state)
{
    const char *pg = getenv("BERTH_TEST_PG");
    (void)state;
    char *name, *url;
    if (!pg || !*pg) {
        printf("SKIPPED: PostgreSQL (BERTH_TEST_PG not set)\n");
        skip();
    }
    url = bt_pg_fresh(pg, &name);
    run_capacity(url);
    bt_pg_drop(pg, name);
    free(url);
    free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity__sqlite_workers_never_overfill),
        cmocka_unit_test(test_capacity__postgresql_workers_never_overfill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
