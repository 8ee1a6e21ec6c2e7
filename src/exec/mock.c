/*
 * mock.c - the mock executor (DESIGN.md § Executors, "mock").
 *
 * It "runs" a job by remembering when it started: the job is running until
 * duration_ms has passed, then exits with exit_code and prints stdout. All
 * of it is deterministic by seed, and per-job labels override the options:
 * mock.exit_code, mock.duration_ms, mock.stdout, mock.fail_launch
 * ("transient", "permanent", or any true value for transient).
 *
 * Durability (when record_dir is set): each launch creates
 * <record_dir>/runs/<execution id> with O_CREAT|O_EXCL, so a second launch
 * of the same (host, job, attempt) - from this process or any other - finds
 * it and adopts it instead of launching again, and appends one line
 * "<job> <attempt> <host> <start_us>" to <record_dir>/launches.log. Tests
 * count launches per job attempt from that file. The run file holds what a
 * restarted worker needs to follow the job; cancellation is recorded as
 * <execution id>.cancelled beside it.
 *
 * Without record_dir, runs live in this process only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/log.h"
#include "exec_int.h"

/* Longest run (about 35 years): start + duration stays far from overflow. */
#define DURATION_MAX_MS (INT64_C(1) << 40)

static const struct berth_opt_spec mock_options[] = {
    {"duration_ms", BERTH_OPT_INT, "how long each job runs"},
    {"exit_code", BERTH_OPT_INT, "exit code of each job"},
    {"stdout", BERTH_OPT_STR, "what each job prints"},
    {"launch_failure_rate", BERTH_OPT_NUM, "share of launches that fail"},
    {"health_failure_rate", BERTH_OPT_NUM, "share of health checks failing"},
    {"seed", BERTH_OPT_INT, "seed of the failure draws"},
    {"record_dir", BERTH_OPT_STR, "where launches are recorded durably"},
    {NULL, 0, NULL},
};

struct mock_run {
    char *id;
    int64_t job_id;
    int attempt;
    int64_t start_us;
    int64_t duration_ms;
    int exit_code;
    char *out;
    bool cancelled;
    struct mock_run *next; /* hash chain */
};

struct mock_exec {
    struct berth_exec base;
    const struct berth_clock *clock;
    char *host;
    int64_t duration_ms;
    int exit_code;
    char *out;
    double launch_failure_rate;
    double health_failure_rate;
    uint64_t seed;
    uint64_t health_draws;
    char *record_dir; /* NULL: in memory only */
    char *runs_dir;
    int log_fd;
    pthread_mutex_t lock;
    struct mock_run **buckets;
    size_t nbuckets;
    size_t nruns;
};

static struct mock_exec *to_mock(struct berth_exec *ex)
{
    if (ex->ops != &berth__exec_mock)
        BERTH_BUG("not a mock executor instance");
    return (struct mock_exec *)ex;
}

/* splitmix64: a good, tiny mixing function for seeded draws. */
static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

/* A draw in [0, 1) from the seed and a key. */
static double draw(uint64_t seed, uint64_t key)
{
    return (double)(mix64(seed ^ mix64(key)) >> 11) *
           (1.0 / 9007199254740992.0);
}

static struct mock_run *run_find(struct mock_exec *m, const char *id)
{
    struct mock_run *r = m->buckets[hash_str(id) % m->nbuckets];
    for (; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

static void run_insert(struct mock_exec *m, struct mock_run *r)
{
    size_t b;
    if (m->nruns + 1 > m->nbuckets) {
        size_t nb = m->nbuckets * 2;
        struct mock_run **nbk = berth_xcalloc(nb, sizeof(*nbk));
        for (size_t i = 0; i < m->nbuckets; i++) {
            struct mock_run *x = m->buckets[i], *next;
            for (; x; x = next) {
                next = x->next;
                size_t k = hash_str(x->id) % nb;
                x->next = nbk[k];
                nbk[k] = x;
            }
        }
        free(m->buckets);
        m->buckets = nbk;
        m->nbuckets = nb;
    }
    b = hash_str(r->id) % m->nbuckets;
    r->next = m->buckets[b];
    m->buckets[b] = r;
    m->nruns++;
}

static void run_free(struct mock_run *r)
{
    free(r->id);
    free(r->out);
    free(r);
}

static int mkdir_p(const char *path, struct berth_err *err)
{
    char *p = berth_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            free(p);
            return berth_err_set(err, BERTH_E_IO, "cannot create '%s': %s",
                                 path, strerror(e));
        }
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        free(p);
        return berth_err_set(err, BERTH_E_IO, "cannot create '%s': %s", path,
                             strerror(e));
    }
    free(p);
    return 0;
}

static int mock_create(const struct berth_exec_params *p,
                       struct berth_exec **out, struct berth_err *err)
{
    struct mock_exec *m = berth_xcalloc(1, sizeof(*m));
    const char *dir = berth_opts_str(p->opts, "record_dir", NULL);
    int64_t seed = berth_opts_int(p->opts, "seed", 0);

    m->clock = p->clock;
    m->host = berth_xstrdup(p->host ? p->host->name : p->executor);
    m->duration_ms = berth_opts_int(p->opts, "duration_ms", 0);
    m->exit_code = (int)berth_opts_int(p->opts, "exit_code", 0);
    m->out = berth_xstrdup(berth_opts_str(p->opts, "stdout", ""));
    m->launch_failure_rate = berth_opts_num(p->opts, "launch_failure_rate", 0);
    m->health_failure_rate = berth_opts_num(p->opts, "health_failure_rate", 0);
    m->seed = (uint64_t)seed;
    m->log_fd = -1;
    m->nbuckets = 1024;
    m->buckets = berth_xcalloc(m->nbuckets, sizeof(*m->buckets));
    pthread_mutex_init(&m->lock, NULL);
    if (m->duration_ms < 0 || m->duration_ms > DURATION_MAX_MS ||
        m->launch_failure_rate < 0 || m->launch_failure_rate > 1 ||
        m->health_failure_rate < 0 || m->health_failure_rate > 1) {
        m->base.ops = &berth__exec_mock;
        berth__exec_mock.destroy(&m->base);
        return berth_err_set(err, BERTH_E_CONFIG,
                             "mock executor '%s': duration_ms must be "
                             "between 0 and %" PRId64
                             " and failure rates between 0 and 1",
                             p->executor, DURATION_MAX_MS);
    }
    if (dir && *dir) {
        char *logpath;
        m->record_dir = berth_xstrdup(dir);
        m->runs_dir = berth_xasprintf("%s/runs", dir);
        if (mkdir_p(m->runs_dir, err)) {
            m->base.ops = &berth__exec_mock;
            berth__exec_mock.destroy(&m->base);
            return BERTH_E_IO;
        }
        logpath = berth_xasprintf("%s/launches.log", dir);
        m->log_fd =
            open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (m->log_fd < 0) {
            int e = errno;
            berth_err_set(err, BERTH_E_IO, "cannot open '%s': %s", logpath,
                          strerror(e));
            free(logpath);
            m->base.ops = &berth__exec_mock;
            berth__exec_mock.destroy(&m->base);
            return BERTH_E_IO;
        }
        free(logpath);
    }
    *out = &m->base;
    return 0;
}

static void mock_destroy(struct berth_exec *ex)
{
    struct mock_exec *m = to_mock(ex);
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mock_run *r = m->buckets[i], *next;
        for (; r; r = next) {
            next = r->next;
            run_free(r);
        }
    }
    free(m->buckets);
    if (m->log_fd >= 0)
        close(m->log_fd);
    pthread_mutex_destroy(&m->lock);
    free(m->host);
    free(m->out);
    free(m->record_dir);
    free(m->runs_dir);
    free(m);
}

static int mock_health(struct berth_exec *ex, struct berth_err *err)
{
    struct mock_exec *m = to_mock(ex);
    double d;
    pthread_mutex_lock(&m->lock);
    d = draw(m->seed, hash_str(m->host) ^ mix64(++m->health_draws));
    pthread_mutex_unlock(&m->lock);
    if (d < m->health_failure_rate)
        return berth_err_set_transient(err, BERTH_E_BACKEND,
                                       "mock host '%s' reports unhealthy "
                                       "(health_failure_rate %.2f)",
                                       m->host, m->health_failure_rate);
    return 0;
}

static void exec_id(const struct mock_exec *m, int64_t job, int attempt,
                    char *buf, size_t size)
{
    snprintf(buf, size, "mock-%s-%" PRId64 "-%d", m->host, job, attempt);
}

/*
 * Run files hold one line: "<job> <attempt> <start_us> <duration_ms>
 * <exit_code> <stdout as hex>".
 */
static char *run_encode(const struct mock_run *r)
{
    struct berth_buf b = BERTH_BUF_INIT;
    berth_buf_printf(&b, "%" PRId64 " %d %" PRId64 " %" PRId64 " %d ",
                     r->job_id, r->attempt, r->start_us, r->duration_ms,
                     r->exit_code);
    for (const unsigned char *p = (const unsigned char *)r->out; *p; p++)
        berth_buf_printf(&b, "%02x", *p);
    berth_buf_puts(&b, "\n");
    return berth_buf_detach(&b);
}

static struct mock_run *run_decode(const char *id, const char *text)
{
    struct mock_run *r = berth_xcalloc(1, sizeof(*r));
    long long job, start, dur;
    int attempt, code, n = 0;
    const char *hex;
    size_t hl;

    if (sscanf(text, "%lld %d %lld %lld %d %n", &job, &attempt, &start, &dur,
               &code, &n) < 5 ||
        n == 0) {
        free(r);
        return NULL;
    }
    hex = text + n;
    hl = strcspn(hex, "\n");
    r->out = berth_xcalloc(hl / 2 + 1, 1);
    for (size_t i = 0; i < hl / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            break;
        r->out[i] = (char)v;
    }
    r->id = berth_xstrdup(id);
    r->job_id = job;
    r->attempt = attempt;
    r->start_us = start;
    r->duration_ms = dur;
    r->exit_code = code;
    return r;
}

/* Load a run another process recorded. Called with the lock held. */
static struct mock_run *run_load(struct mock_exec *m, const char *id)
{
    char *path, *text = NULL, *cpath;
    struct mock_run *r;
    struct stat st;

    if (!m->runs_dir)
        return NULL;
    path = berth_xasprintf("%s/%s", m->runs_dir, id);
    if (berth_read_file(path, 64 * 1024, &text, NULL, NULL) != 0) {
        free(path);
        return NULL;
    }
    r = run_decode(id, text);
    free(text);
    if (r) {
        cpath = berth_xasprintf("%s.cancelled", path);
        r->cancelled = stat(cpath, &st) == 0;
        free(cpath);
        run_insert(m, r);
    }
    free(path);
    return r;
}

static struct mock_run *run_get(struct mock_exec *m, const char *id)
{
    struct mock_run *r = run_find(m, id);
    return r ? r : run_load(m, id);
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A label's number when it lies in [min, max]; dflt otherwise. */
static int64_t label_int(const struct berth_map *labels, const char *key,
                         int64_t min, int64_t max, int64_t dflt)
{
    const char *v = labels ? berth_map_get(labels, key) : NULL;
    int64_t out;
    if (v && berth_parse_i64(v, min, max, &out) == 0)
        return out;
    return dflt;
}

/*
 * Record a launch durably and atomically: the run file is written under a
 * temporary name and linked into place, so it either exists whole or not at
 * all (a worker killed halfway leaves no half-launched run behind), and
 * link() fails when another process launched this attempt first - then its
 * run is adopted. Called with the lock held.
 */
static int run_record(struct mock_exec *m, struct mock_run *r, const char *id,
                      struct berth_execution *out, struct berth_err *err)
{
    char *path = berth_xasprintf("%s/%s", m->runs_dir, id);
    char *tmp =
        berth_xasprintf("%s/.tmp-%d-%s", m->runs_dir, (int)getpid(), id);
    char *text = run_encode(r);
    int fd, rc = 0;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, text, strlen(text)) != 0) {
        rc = berth_err_set_transient(err, BERTH_E_IO,
                                     "mock: cannot record run '%s': %s", tmp,
                                     strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e != EEXIST) {
            rc = berth_err_set_transient(err, BERTH_E_IO,
                                         "mock: cannot record run '%s': %s",
                                         path, strerror(e));
            goto out;
        }
        /* Another process launched this attempt first: adopt it. */
        if (!run_load(m, id)) {
            rc = berth_err_set_transient(err, BERTH_E_IO,
                                         "mock: run record '%s' is "
                                         "unreadable",
                                         id);
            goto out;
        }
        snprintf(out->id, sizeof(out->id), "%s", id);
        out->adopted = true;
        goto out;
    }
    unlink(tmp);
    {
        char line[256];
        int n = snprintf(line, sizeof(line), "%" PRId64 " %d %s %" PRId64 "\n",
                         r->job_id, r->attempt, m->host, r->start_us);
        /* launches.log is for people; the run files are the record. */
        if (write_all(m->log_fd, line, (size_t)n) != 0)
            berth_log(BERTH_LOG_WARN, "mock: cannot append to launches.log",
                      BL_S("error", strerror(errno)));
    }
out:
    free(path);
    free(tmp);
    free(text);
    return rc;
}

static int mock_launch(struct berth_exec *ex, const struct berth_launch *req,
                       struct berth_execution *out, struct berth_err *err)
{
    struct mock_exec *m = to_mock(ex);
    const char *fail =
        req->labels ? berth_map_get(req->labels, "mock.fail_launch") : NULL;
    const char *lout =
        req->labels ? berth_map_get(req->labels, "mock.stdout") : NULL;
    struct mock_run *r;
    char id[BERTH_EXEC_ID_MAX];
    int rc = 0;

    exec_id(m, req->job_id, req->attempt, id, sizeof(id));
    if (fail && *fail && strcmp(fail, "0") != 0 && strcmp(fail, "false") != 0) {
        if (strcmp(fail, "permanent") == 0)
            return berth_err_set(err, BERTH_E_INVALID,
                                 "mock: launch refused for job %" PRId64
                                 " (label mock.fail_launch=permanent)",
                                 req->job_id);
        return berth_err_set_transient(err, BERTH_E_BACKEND,
                                       "mock: launch failed for job %" PRId64
                                       " on host '%s' (label "
                                       "mock.fail_launch)",
                                       req->job_id, m->host);
    }
    if (m->launch_failure_rate > 0 &&
        draw(m->seed, mix64((uint64_t)req->job_id) ^
                          mix64((uint64_t)req->attempt * 7919) ^
                          hash_str(m->host)) < m->launch_failure_rate)
        return berth_err_set_transient(
            err, BERTH_E_BACKEND,
            "mock: launch of job %" PRId64 " failed on host '%s' "
            "(launch_failure_rate %.2f)",
            req->job_id, m->host, m->launch_failure_rate);

    pthread_mutex_lock(&m->lock);
    r = run_get(m, id);
    if (r) {
        /* An earlier launch of this attempt: adopt it. */
        pthread_mutex_unlock(&m->lock);
        snprintf(out->id, sizeof(out->id), "%s", id);
        out->adopted = true;
        return 0;
    }
    r = berth_xcalloc(1, sizeof(*r));
    r->id = berth_xstrdup(id);
    r->job_id = req->job_id;
    r->attempt = req->attempt;
    r->start_us = berth_clock_now(m->clock);
    r->duration_ms = label_int(req->labels, "mock.duration_ms", 0,
                               DURATION_MAX_MS, m->duration_ms);
    r->exit_code = (int)label_int(req->labels, "mock.exit_code", INT32_MIN,
                                  INT32_MAX, m->exit_code);
    r->out = berth_xstrdup(lout ? lout : m->out);

    if (m->runs_dir) {
        rc = run_record(m, r, id, out, err);
        if (rc || out->adopted) {
            run_free(r);
            pthread_mutex_unlock(&m->lock);
            return rc;
        }
    }
    run_insert(m, r);
    pthread_mutex_unlock(&m->lock);
    snprintf(out->id, sizeof(out->id), "%s", id);
    return 0;
}

static int mock_find(struct berth_exec *ex, int64_t job_id, int attempt,
                     struct berth_execution *out, struct berth_err *err)
{
    struct mock_exec *m = to_mock(ex);
    char id[BERTH_EXEC_ID_MAX];
    struct mock_run *r;

    exec_id(m, job_id, attempt, id, sizeof(id));
    pthread_mutex_lock(&m->lock);
    r = run_get(m, id);
    pthread_mutex_unlock(&m->lock);
    if (!r)
        return berth_err_set(err, BERTH_E_NOTFOUND,
                             "mock: no run of job %" PRId64 " attempt %d",
                             job_id, attempt);
    snprintf(out->id, sizeof(out->id), "%s", id);
    out->adopted = true;
    return 0;
}

static int mock_status(struct berth_exec *ex, struct berth_exec_status *q,
                       size_t n, struct berth_err *err)
{
    struct mock_exec *m = to_mock(ex);
    int64_t now = berth_clock_now(m->clock);
    (void)err;

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        struct mock_run *r = run_get(m, q[i].execution_id);
        int64_t end;
        if (!r) {
            q[i].state = BERTH_EXEC_LOST;
            snprintf(q[i].message, sizeof(q[i].message),
                     "mock host '%s' has no run '%s'", m->host,
                     q[i].execution_id);
            continue;
        }
        end = r->start_us + r->duration_ms * 1000;
        q[i].started_at = r->start_us;
        if (r->cancelled) {
            q[i].state = BERTH_EXEC_EXITED;
            q[i].exit_code = 137;
            q[i].cancelled = true;
            q[i].finished_at = now < end ? now : end;
            snprintf(q[i].message, sizeof(q[i].message), "stopped");
        } else if (now < end) {
            q[i].state = BERTH_EXEC_RUNNING;
        } else {
            q[i].state = BERTH_EXEC_EXITED;
            q[i].exit_code = r->exit_code;
            q[i].finished_at = end;
            q[i].peak_memory_bytes = 0;
            q[i].cpu_time_us = 0;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mock_logs(struct berth_exec *ex, const char *execution_id,
                     size_t max_bytes, struct berth_job_logs *out,
                     struct berth_err *err)
{
    struct mock_exec *m = to_mock(ex);
    struct mock_run *r;
    size_t len;

    pthread_mutex_lock(&m->lock);
    r = run_get(m, execution_id);
    if (!r) {
        pthread_mutex_unlock(&m->lock);
        return berth_err_set(err, BERTH_E_NOTFOUND, "mock: no run '%s'",
                             execution_id);
    }
    len = strlen(r->out);
    if (max_bytes && len > max_bytes) {
        len = max_bytes;
        out->truncated = true;
    }
    out->out = berth_xstrndup(r->out, len);
    out->out_len = len;
    out->err = berth_xstrdup("");
    out->err_len = 0;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mock_cancel(struct berth_exec *ex, const char *execution_id,
                       int grace_seconds, struct berth_err *err)
{
    struct mock_exec *m = to_mock(ex);
    struct mock_run *r;
    (void)grace_seconds;

    pthread_mutex_lock(&m->lock);
    r = run_get(m, execution_id);
    if (!r) {
        pthread_mutex_unlock(&m->lock);
        return berth_err_set(err, BERTH_E_NOTFOUND, "mock: no run '%s'",
                             execution_id);
    }
    if (!r->cancelled &&
        berth_clock_now(m->clock) < r->start_us + r->duration_ms * 1000) {
        r->cancelled = true;
        if (m->runs_dir) {
            char *path =
                berth_xasprintf("%s/%s.cancelled", m->runs_dir, execution_id);
            int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
            free(path);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int mock_cleanup(struct berth_exec *ex, const char *execution_id,
                        struct berth_err *err)
{
    /* Run records stay: they are the durable launch record tests count. */
    (void)ex;
    (void)execution_id;
    (void)err;
    return 0;
}

const struct berth_exec_ops berth__exec_mock = {
    .type = "mock",
    .caps = BERTH_EXEC_CAP_BATCH_STATUS | BERTH_EXEC_CAP_CANCEL |
            BERTH_EXEC_CAP_INLINE,
    .options = mock_options,
    .default_max_concurrent_jobs = 1000,
    .poll_interval_ms = 5,
    .create = mock_create,
    .destroy = mock_destroy,
    .health = mock_health,
    .launch = mock_launch,
    .find = mock_find,
    .status = mock_status,
    .logs = mock_logs,
    .cancel = mock_cancel,
    .cleanup = mock_cleanup,
};
