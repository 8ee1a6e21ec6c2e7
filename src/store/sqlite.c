/*
 * sqlite.c - the SQLite store backend (the default: one file, no server).
 *
 * - WAL journal with synchronous=NORMAL: a commit is durable against a
 *   crash of berth, and against power loss up to the last checkpoint; it
 *   costs no fsync per transaction (DESIGN.md leaves this to us; see
 *   docs/store.md).
 * - Every write is one BEGIN IMMEDIATE transaction, so writers queue on the
 *   database lock at their start instead of failing on upgrade; the busy
 *   handler below waits up to BUSY_TIMEOUT_MS with short sleeps.
 * - Statements are prepared once per connection and cached in `stmts`;
 *   every value is a bound parameter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "berth/util.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 30000

enum stmt_id {
    S_BEGIN,
    S_BEGIN_IMMEDIATE,
    S_COMMIT,
    S_ROLLBACK,
    S_VERSION,
    S_META_GET,
    S_META_SET,
    S_TPL_PUT,
    S_TPL_GET,
    S_TPL_LIST,
    S_TPL_DEL,
    S_HOST_PUT,
    S_HOST_GET,
    S_HOST_LIST,
    S_HOST_ACTIVE,
    S_HOST_DEL,
    S_HOST_ENABLE,
    S_JOB_INSERT,
    S_EVENT_INSERT,
    S_JOB_GET,
    S_JOB_EXISTS,
    S_EVENTS,
    S_PURGE,
    S_CLAIM_EXPIRED,
    S_CLAIM,
    S_CLAIM_ORPHANS,
    S_RENEW,
    S_RELEASE,
    S_ROW_LOAD,
    S_HOST_ROW_LOAD,
    S_HOST_DELTA,
    S_LOGS_PUT,
    S_LOGS_GET,
    S_STATS_STATES,
    S_STATS_READY,
    S_STATS_FAILURES,
    S__COUNT
};

#define TERMINAL_IN "('completed', 'failed', 'timed_out', 'cancelled')"

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN",
    [S_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_version",
    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [S_TPL_PUT] = "INSERT OR REPLACE INTO templates (" BERTH__TEMPLATE_COLS
                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_TPL_GET] =
        "SELECT " BERTH__TEMPLATE_COLS " FROM templates WHERE name = ?1",
    [S_TPL_LIST] =
        "SELECT " BERTH__TEMPLATE_COLS " FROM templates ORDER BY name",
    [S_TPL_DEL] = "DELETE FROM templates WHERE name = ?1",
    [S_HOST_PUT] =
        "INSERT INTO hosts (name, executor, url, max_concurrent_jobs, "
        "memory_mb, cpu_cores, weight, enabled, options_json) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT (name) DO UPDATE SET executor = excluded.executor, "
        "url = excluded.url, "
        "max_concurrent_jobs = excluded.max_concurrent_jobs, "
        "memory_mb = excluded.memory_mb, cpu_cores = excluded.cpu_cores, "
        "weight = excluded.weight, options_json = excluded.options_json, "
        "enabled = CASE WHEN ?10 THEN hosts.enabled "
        "ELSE excluded.enabled END",
    [S_HOST_GET] = "SELECT " BERTH__HOST_COLS " FROM hosts WHERE name = ?1",
    [S_HOST_LIST] = "SELECT " BERTH__HOST_COLS " FROM hosts ORDER BY name",
    [S_HOST_ACTIVE] = "SELECT COUNT(*) FROM jobs WHERE host = ?1 "
                      "AND (status = 'launching' OR status = 'running')",
    [S_HOST_DEL] = "DELETE FROM hosts WHERE name = ?1",
    [S_HOST_ENABLE] = "UPDATE hosts SET enabled = ?2 WHERE name = ?1",
    [S_JOB_INSERT] = "INSERT INTO jobs (" BERTH__JOB_SPEC_COLS
                     ", created_at, ready_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                     "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                     "?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    [S_EVENT_INSERT] = "INSERT INTO job_events (job_id, at, from_state, "
                       "to_state, attempt, executor, host, reason, "
                       "launch_failure) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_JOB_GET] = "SELECT " BERTH__JOB_COLS " FROM jobs WHERE id = ?1",
    [S_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE id = ?1",
    [S_EVENTS] = "SELECT " BERTH__EVENT_COLS
                 " FROM job_events WHERE job_id = ?1 ORDER BY id",
    [S_PURGE] = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
                "WHERE status IN " TERMINAL_IN " AND finished_at < ?1 "
                "ORDER BY finished_at, id LIMIT ?2)",
    /* DESIGN.md § Store: priority, then age. The partial index jobs_claim
     * yields candidates in that order, so this reads about `max` rows
     * whatever the queue length; INDEXED BY keeps the planner from
     * preferring jobs_status and sorting every pending job. */
    [S_CLAIM] = "UPDATE jobs SET owner = ?1, lease_until = ?2 WHERE id IN ("
                "SELECT id FROM jobs INDEXED BY jobs_claim "
                "WHERE status = 'pending' AND owner IS NULL "
                "AND ready_at <= ?3 ORDER BY priority DESC, id LIMIT ?4) "
                "RETURNING " BERTH__JOB_COLS,
    /* Before a claim: pending jobs whose claimer's lease ran out go back to
     * the pool (usually touches nothing, through jobs_pending_owned). */
    [S_CLAIM_EXPIRED] = "UPDATE jobs INDEXED BY jobs_pending_owned "
                        "SET owner = NULL, lease_until = 0 "
                        "WHERE status = 'pending' AND owner IS NOT NULL "
                        "AND lease_until < ?1",
    [S_CLAIM_ORPHANS] =
        "UPDATE jobs SET owner = ?1, lease_until = ?2 WHERE id IN ("
        "SELECT id FROM jobs INDEXED BY jobs_active "
        "WHERE (status = 'launching' OR status = 'running') "
        "AND (owner IS NULL OR lease_until < ?3) ORDER BY id LIMIT ?4) "
        "RETURNING " BERTH__JOB_COLS,
    [S_RENEW] = "UPDATE jobs SET lease_until = ?2 WHERE owner = ?1",
    [S_RELEASE] = "UPDATE jobs SET owner = NULL, lease_until = 0 "
                  "WHERE owner = ?1",
    [S_ROW_LOAD] = "SELECT " BERTH__JOB_ROW_COLS " FROM jobs WHERE id = ?1",
    [S_HOST_ROW_LOAD] =
        "SELECT " BERTH__HOST_ROW_COLS " FROM hosts WHERE name = ?1",
    [S_HOST_DELTA] = "UPDATE hosts SET used_jobs = used_jobs + ?2, "
                     "used_memory_mb = used_memory_mb + ?3, "
                     "used_cpu_millicores = used_cpu_millicores + ?4 "
                     "WHERE name = ?1",
    [S_LOGS_PUT] = "INSERT OR REPLACE INTO job_logs (job_id, attempt, "
                   "stdout, stderr, truncated) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_LOGS_GET] = "SELECT stdout, stderr, truncated FROM job_logs "
                   "WHERE job_id = ?1 ORDER BY attempt DESC LIMIT 1",
    [S_STATS_STATES] = "SELECT status, COUNT(*) FROM jobs GROUP BY status",
    [S_STATS_READY] = "SELECT COUNT(*) FROM jobs "
                      "WHERE status = 'pending' AND ready_at <= ?1",
    [S_STATS_FAILURES] =
        "SELECT COUNT(*) FROM job_events WHERE launch_failure = 1",
};

/*
 * Job writes name only the columns that changed, so SQLite leaves alone
 * the indexes on the others; a statement per column set, cached. A worker
 * uses a handful of sets (launch, running, completed, retry, …).
 */
#define WRITE_CACHE 32

struct write_stmt {
    unsigned mask;
    sqlite3_stmt *s;
};

struct sqlite_store {
    struct berth_store base;
    sqlite3 *db;
    sqlite3_stmt *stmts[S__COUNT];
    struct write_stmt writes[WRITE_CACHE];
    size_t nwrites;
    size_t next_evict;
    int64_t busy_since; /* busy_wait(): when the current wait began */
    unsigned seed;      /* busy_wait(): jitter */
};

static struct sqlite_store *to_sqlite(struct berth_store *st)
{
    if (st->ops != &berth__store_sqlite)
        BERTH_BUG("store is not sqlite");
    return (struct sqlite_store *)st;
}

/* ---- errors ------------------------------------------------------------- */

/* Map an SQLite result code to our codes, with the database's message. */
static int sq_fail(struct sqlite_store *ss, int rc, const char *what,
                   struct berth_err *err)
{
    const char *url = ss->base.url ? ss->base.url : "sqlite";
    const char *msg = ss->db ? sqlite3_errmsg(ss->db) : sqlite3_errstr(rc);

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return berth_err_set_transient(
            err, BERTH_E_BUSY, "store '%s' is busy: %s: %s", url, what, msg);
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
        return berth_err_set(err, BERTH_E_STORE,
                             "store '%s' is not a usable database: %s: %s", url,
                             what, msg);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return berth_err_set(err, BERTH_E_IO, "store '%s': %s: %s", url, what,
                             msg);
    case SQLITE_NOMEM:
        return berth_err_set(err, BERTH_E_NOMEM, "store '%s': %s: %s", url,
                             what, msg);
    default:
        return berth_err_set(err, BERTH_E_STORE, "store '%s': %s: %s", url,
                             what, msg);
    }
}

/* ---- statements --------------------------------------------------------- */

/* The cached statement `id`, reset and with no bindings. */
static int stmt(struct sqlite_store *ss, enum stmt_id id, sqlite3_stmt **out,
                struct berth_err *err)
{
    int rc;
    *out = NULL;
    if (!ss->stmts[id]) {
        rc =
            sqlite3_prepare_v3(ss->db, stmt_sql[id], -1,
                               SQLITE_PREPARE_PERSISTENT, &ss->stmts[id], NULL);
        if (rc != SQLITE_OK)
            return sq_fail(ss, rc, "prepare", err);
    }
    *out = ss->stmts[id];
    return 0;
}

static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Step a statement that returns no rows (or whose rows we ignore). */
static int run(struct sqlite_store *ss, sqlite3_stmt *s, const char *what,
               struct berth_err *err)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        rc = sq_fail(ss, rc, what, err);
        done(s);
        return rc;
    }
    done(s);
    return 0;
}

/* Run a cached statement with no parameters. */
static int run_id(struct sqlite_store *ss, enum stmt_id id, const char *what,
                  struct berth_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt(ss, id, &s, err);
    return rc ? rc : run(ss, s, what, err);
}

static int begin(struct sqlite_store *ss, bool immediate, struct berth_err *err)
{
    return run_id(ss, immediate ? S_BEGIN_IMMEDIATE : S_BEGIN,
                  "begin transaction", err);
}

static int commit(struct sqlite_store *ss, struct berth_err *err)
{
    return run_id(ss, S_COMMIT, "commit", err);
}

static void rollback(struct sqlite_store *ss)
{
    if (!sqlite3_get_autocommit(ss->db))
        run_id(ss, S_ROLLBACK, "rollback", NULL);
}

/* ---- binding and reading through the shared codec ----------------------- */

struct sq_bind {
    sqlite3_stmt *s;
    int rc;
};

static void sb_keep(struct sq_bind *b, int rc)
{
    if (rc != SQLITE_OK && b->rc == SQLITE_OK)
        b->rc = rc;
}

static void sb_null(void *ctx, int idx)
{
    struct sq_bind *b = ctx;
    sb_keep(b, sqlite3_bind_null(b->s, idx));
}

static void sb_text(void *ctx, int idx, const char *s)
{
    struct sq_bind *b = ctx;
    if (!s)
        sb_keep(b, sqlite3_bind_null(b->s, idx));
    else
        sb_keep(b, sqlite3_bind_text(b->s, idx, s, -1, SQLITE_TRANSIENT));
}

static void sb_i64(void *ctx, int idx, int64_t v)
{
    struct sq_bind *b = ctx;
    sb_keep(b, sqlite3_bind_int64(b->s, idx, v));
}

static void sb_dbl(void *ctx, int idx, double v)
{
    struct sq_bind *b = ctx;
    sb_keep(b, sqlite3_bind_double(b->s, idx, v));
}

static void binder(struct berth__binder *bd, struct sq_bind *sb,
                   sqlite3_stmt *s)
{
    sb->s = s;
    sb->rc = SQLITE_OK;
    bd->ctx = sb;
    bd->null = sb_null;
    bd->text = sb_text;
    bd->i64 = sb_i64;
    bd->dbl = sb_dbl;
}

static bool sr_is_null(void *ctx, int col)
{
    return sqlite3_column_type(ctx, col) == SQLITE_NULL;
}

static const char *sr_text(void *ctx, int col)
{
    return (const char *)sqlite3_column_text(ctx, col);
}

static int64_t sr_i64(void *ctx, int col)
{
    return sqlite3_column_int64(ctx, col);
}

static double sr_dbl(void *ctx, int col)
{
    return sqlite3_column_double(ctx, col);
}

static void reader(struct berth__row *r, sqlite3_stmt *s)
{
    r->ctx = s;
    r->is_null = sr_is_null;
    r->text = sr_text;
    r->i64 = sr_i64;
    r->dbl = sr_dbl;
}

static int bind_text(struct sqlite_store *ss, sqlite3_stmt *s, int idx,
                     const char *v, struct berth_err *err)
{
    int rc = v ? sqlite3_bind_text(s, idx, v, -1, SQLITE_TRANSIENT)
               : sqlite3_bind_null(s, idx);
    return rc == SQLITE_OK ? 0 : sq_fail(ss, rc, "bind", err);
}

static int bind_i64(struct sqlite_store *ss, sqlite3_stmt *s, int idx,
                    int64_t v, struct berth_err *err)
{
    int rc = sqlite3_bind_int64(s, idx, v);
    return rc == SQLITE_OK ? 0 : sq_fail(ss, rc, "bind", err);
}

/* ---- open, migrations --------------------------------------------------- */

/*
 * SQLite's own busy handler backs off to 100 ms sleeps, which turns a few
 * workers sharing one file into a convoy. Short, jittered sleeps keep the
 * lock moving; the deadline stays BUSY_TIMEOUT_MS.
 */
static int busy_wait(void *ctx, int count)
{
    struct sqlite_store *ss = ctx;
    struct timespec ts;
    long us;

    if (count == 0)
        ss->busy_since = berth_mono_us();
    else if (berth_mono_us() - ss->busy_since > BUSY_TIMEOUT_MS * INT64_C(1000))
        return 0;
    us = 20L << (count < 6 ? count : 6); /* 20 µs .. 1.28 ms */
    ss->seed = ss->seed * 1103515245u + 12345u;
    us = us / 2 + (long)((ss->seed >> 8) % (unsigned long)(us / 2 + 1));
    ts.tv_sec = 0;
    ts.tv_nsec = us * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 1;
}

static int exec_sql(struct sqlite_store *ss, const char *sql, const char *what,
                    struct berth_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(ss->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sqlite3_free(msg);
        return sq_fail(ss, rc, what, err);
    }
    return 0;
}

/*
 * Switching a new file to WAL needs the file to itself for a moment, and
 * SQLite does not always call the busy handler for it: two processes
 * opening a fresh store at once (a worker and a submit) would see
 * "database is locked". Retry for as long as any other wait may last.
 */
static int set_wal(struct sqlite_store *ss, struct berth_err *err)
{
    int64_t start = berth_mono_us();
    for (int i = 0;; i++) {
        char *msg = NULL;
        int rc =
            sqlite3_exec(ss->db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg);
        sqlite3_free(msg);
        if (rc == SQLITE_OK)
            return 0;
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            return exec_sql(ss, "PRAGMA journal_mode = WAL", "cannot open",
                            err);
        if (berth_mono_us() - start > BUSY_TIMEOUT_MS * INT64_C(1000))
            return exec_sql(ss, "PRAGMA journal_mode = WAL", "cannot open",
                            err);
        busy_wait(ss, i);
    }
}

static int read_version(struct sqlite_store *ss, int *out,
                        struct berth_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt(ss, S_VERSION, &s, err);
    if (rc)
        return rc;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = sq_fail(ss, rc, "read schema version", err);
        done(s);
        return rc;
    }
    *out = sqlite3_column_int(s, 0);
    done(s);
    return 0;
}

static int latest_migration(void)
{
    int v = 0;
    for (const struct berth__migration *m = berth__sqlite_migrations;
         m->version; m++)
        v = m->version;
    return v;
}

static int migrate(struct sqlite_store *ss, struct berth_err *err)
{
    int latest = latest_migration();
    int cur = 0;
    int rc;

    /* Fast path: an up-to-date store needs no write lock. S_VERSION
     * cannot be prepared before its table exists, so probe for it. */
    {
        sqlite3_stmt *probe;
        bool exists;
        rc = sqlite3_prepare_v2(
            ss->db,
            "SELECT 1 FROM sqlite_master WHERE type = 'table' "
            "AND name = 'schema_version'",
            -1, &probe, NULL);
        if (rc != SQLITE_OK)
            return sq_fail(ss, rc, "cannot open", err);
        rc = sqlite3_step(probe);
        exists = rc == SQLITE_ROW;
        sqlite3_finalize(probe);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return sq_fail(ss, rc, "cannot open", err);
        if (exists) {
            if ((rc = read_version(ss, &cur, err)) != 0)
                return rc;
            if (cur == latest)
                return 0;
        }
    }

    if ((rc = begin(ss, true, err)) != 0)
        return rc;
    rc = exec_sql(ss,
                  "CREATE TABLE IF NOT EXISTS schema_version ("
                  "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                  "applied_at INTEGER NOT NULL)",
                  "create schema_version", err);
    if (rc)
        goto fail;
    if ((rc = read_version(ss, &cur, err)) != 0)
        goto fail;
    if (cur > latest) {
        rc = berth_err_set(err, BERTH_E_STORE,
                           "store '%s' has schema version %d, newer than "
                           "this berth understands (%d): upgrade berth",
                           ss->base.url, cur, latest);
        goto fail;
    }
    for (const struct berth__migration *m = berth__sqlite_migrations;
         m->version; m++) {
        sqlite3_stmt *ins;
        if (m->version <= cur)
            continue;
        if ((rc = exec_sql(ss, m->sql, m->name, err)) != 0) {
            berth_err_prefix(err, "migration %d", m->version);
            goto fail;
        }
        rc = sqlite3_prepare_v2(ss->db,
                                "INSERT INTO schema_version (version, name, "
                                "applied_at) VALUES (?1, ?2, ?3)",
                                -1, &ins, NULL);
        if (rc != SQLITE_OK) {
            rc = sq_fail(ss, rc, "record migration", err);
            goto fail;
        }
        sqlite3_bind_int(ins, 1, m->version);
        sqlite3_bind_text(ins, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, berth_now_us());
        rc = sqlite3_step(ins);
        sqlite3_finalize(ins);
        if (rc != SQLITE_DONE) {
            rc = sq_fail(ss, rc, "record migration", err);
            goto fail;
        }
    }
    return commit(ss, err);
fail:
    rollback(ss);
    return rc;
}

static void sqlite_close(struct berth_store *st)
{
    struct sqlite_store *ss = to_sqlite(st);
    for (int i = 0; i < S__COUNT; i++)
        sqlite3_finalize(ss->stmts[i]);
    for (size_t i = 0; i < ss->nwrites; i++)
        sqlite3_finalize(ss->writes[i].s);
    sqlite3_close(ss->db);
    free(ss->base.url);
    free(ss);
}

static int sqlite_open(const char *url, struct berth_store **out,
                       struct berth_err *err)
{
    const char *path = url + strlen("sqlite:");
    struct sqlite_store *ss;
    bool memory;
    int rc;

    if (strncmp(path, "//", 2) == 0)
        path += 2; /* sqlite:///abs/path and sqlite://rel/path */
    if (!*path)
        return berth_err_set(err, BERTH_E_INVALID,
                             "store URL '%s' has no path: expected "
                             "sqlite:PATH or sqlite::memory:",
                             url);
    memory = strcmp(path, ":memory:") == 0;

    ss = berth_xcalloc(1, sizeof(*ss));
    ss->base.ops = &berth__store_sqlite;
    ss->base.url = berth_xstrdup(url);
    ss->seed = (unsigned)getpid() ^ (unsigned)berth_mono_us();
    rc = sqlite3_open_v2(
        path, &ss->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(ss, rc, "cannot open", err);
        goto fail;
    }
    sqlite3_extended_result_codes(ss->db, 1);
    sqlite3_busy_handler(ss->db, busy_wait, ss);

    /* journal_mode reads the header: this is where a file that is not a
     * database is found out. */
    if (!memory && (rc = set_wal(ss, err)) != 0)
        goto fail;
    rc = exec_sql(ss,
                  "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                  "PRAGMA cache_size = -16384; "
                  "PRAGMA temp_store = MEMORY",
                  "cannot open", err);
    if (rc)
        goto fail;
    if ((rc = migrate(ss, err)) != 0)
        goto fail;
    *out = &ss->base;
    return 0;
fail:
    sqlite_close(&ss->base);
    return rc;
}

static int sqlite_schema_version(struct berth_store *st, int *out,
                                 struct berth_err *err)
{
    return read_version(to_sqlite(st), out, err);
}

/* ---- meta --------------------------------------------------------------- */

static int sqlite_meta_get(struct berth_store *st, const char *key, char **out,
                           struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_META_GET, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, key, err)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = berth_xstrdup((const char *)sqlite3_column_text(s, 0));
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = sq_fail(ss, rc, "read meta", err);
    }
out:
    done(s);
    return rc;
}

static int sqlite_meta_set(struct berth_store *st, const char *key,
                           const char *value, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_META_SET, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, key, err)) != 0 ||
        (rc = bind_text(ss, s, 2, value, err)) != 0) {
        done(s);
        return rc;
    }
    return run(ss, s, "write meta", err);
}

/* ---- templates ---------------------------------------------------------- */

static int sqlite_template_put(struct berth_store *st,
                               const struct berth_template *t,
                               struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth__binder bd;
    struct sq_bind sb;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_TPL_PUT, &s, err)) != 0)
        return rc;
    binder(&bd, &sb, s);
    berth__template_bind(&bd, 1, t);
    if (sb.rc != SQLITE_OK) {
        done(s);
        return sq_fail(ss, sb.rc, "bind", err);
    }
    return run(ss, s, "write template", err);
}

static int sqlite_template_get(struct berth_store *st, const char *name,
                               struct berth_template *out,
                               struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_TPL_GET, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, name, err)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        reader(&r, s);
        rc = berth__template_decode(&r, 0, out, err);
    } else if (rc == SQLITE_DONE) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "template '%s' not found",
                           name);
    } else {
        rc = sq_fail(ss, rc, "read template", err);
    }
out:
    done(s);
    return rc;
}

static int sqlite_template_list(struct berth_store *st,
                                struct berth_template **out, size_t *n,
                                struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth_template *v = NULL;
    size_t cap = 0, k = 0;
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_TPL_LIST, &s, err)) != 0)
        return rc;
    reader(&r, s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 8;
            v = berth_xrealloc(v, cap * sizeof(*v));
        }
        if ((rc = berth__template_decode(&r, 0, &v[k], err)) != 0)
            goto fail;
        k++;
    }
    if (rc != SQLITE_DONE) {
        rc = sq_fail(ss, rc, "list templates", err);
        goto fail;
    }
    done(s);
    *out = v;
    *n = k;
    return 0;
fail:
    done(s);
    berth_store_templates_free(v, k);
    return rc;
}

static int sqlite_template_delete(struct berth_store *st, const char *name,
                                  struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_TPL_DEL, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, name, err)) != 0) {
        done(s);
        return rc;
    }
    if ((rc = run(ss, s, "delete template", err)) != 0)
        return rc;
    if (sqlite3_changes(ss->db) == 0)
        return berth_err_set(err, BERTH_E_NOTFOUND, "template '%s' not found",
                             name);
    return 0;
}

/* ---- hosts -------------------------------------------------------------- */

static int sqlite_host_put(struct berth_store *st, const struct berth_host *h,
                           bool keep_enabled, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth__binder bd;
    struct sq_bind sb;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_HOST_PUT, &s, err)) != 0)
        return rc;
    binder(&bd, &sb, s);
    berth__host_bind(&bd, 1, h);
    bd.i64(bd.ctx, 10, keep_enabled ? 1 : 0);
    if (sb.rc != SQLITE_OK) {
        done(s);
        return sq_fail(ss, sb.rc, "bind", err);
    }
    return run(ss, s, "write host", err);
}

static int sqlite_host_get(struct berth_store *st, const char *name,
                           struct berth_host *out, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_HOST_GET, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, name, err)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        reader(&r, s);
        berth__host_decode(&r, 0, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "host '%s' not found", name);
    } else {
        rc = sq_fail(ss, rc, "read host", err);
    }
out:
    done(s);
    return rc;
}

static int sqlite_host_list(struct berth_store *st, struct berth_host **out,
                            size_t *n, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth_host *v = NULL;
    size_t cap = 0, k = 0;
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_HOST_LIST, &s, err)) != 0)
        return rc;
    reader(&r, s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 8;
            v = berth_xrealloc(v, cap * sizeof(*v));
        }
        berth__host_decode(&r, 0, &v[k++]);
    }
    if (rc != SQLITE_DONE) {
        rc = sq_fail(ss, rc, "list hosts", err);
        done(s);
        berth_store_hosts_free(v, k);
        return rc;
    }
    done(s);
    *out = v;
    *n = k;
    return 0;
}

static int sqlite_host_delete(struct berth_store *st, const char *name,
                              struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int64_t active = 0;
    int rc;

    if ((rc = begin(ss, true, err)) != 0)
        return rc;
    if ((rc = stmt(ss, S_HOST_ACTIVE, &s, err)) != 0)
        goto fail;
    if ((rc = bind_text(ss, s, 1, name, err)) != 0) {
        done(s);
        goto fail;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = sq_fail(ss, rc, "count jobs on host", err);
        done(s);
        goto fail;
    }
    active = sqlite3_column_int64(s, 0);
    done(s);
    if (active > 0) {
        rc = berth_err_set(err, BERTH_E_CONFLICT,
                           "host '%s' has %lld job(s) launching or running; "
                           "disable it and wait for them to finish",
                           name, (long long)active);
        goto fail;
    }
    if ((rc = stmt(ss, S_HOST_DEL, &s, err)) != 0)
        goto fail;
    if ((rc = bind_text(ss, s, 1, name, err)) != 0) {
        done(s);
        goto fail;
    }
    if ((rc = run(ss, s, "delete host", err)) != 0)
        goto fail;
    if (sqlite3_changes(ss->db) == 0) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "host '%s' not found", name);
        goto fail;
    }
    return commit(ss, err);
fail:
    rollback(ss);
    return rc;
}

static int sqlite_host_set_enabled(struct berth_store *st, const char *name,
                                   bool enabled, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_HOST_ENABLE, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, name, err)) != 0 ||
        (rc = bind_i64(ss, s, 2, enabled ? 1 : 0, err)) != 0) {
        done(s);
        return rc;
    }
    if ((rc = run(ss, s, "write host", err)) != 0)
        return rc;
    if (sqlite3_changes(ss->db) == 0)
        return berth_err_set(err, BERTH_E_NOTFOUND, "host '%s' not found",
                             name);
    return 0;
}

/* ---- jobs --------------------------------------------------------------- */

static int insert_event(struct sqlite_store *ss, int64_t job_id, int64_t at,
                        enum berth_job_state from, enum berth_job_state to,
                        int attempt, const char *executor, const char *host,
                        const char *reason, bool launch_failure,
                        struct berth_err *err)
{
    sqlite3_stmt *s = NULL;
    struct berth__binder bd;
    struct sq_bind sb;
    int rc;

    if ((rc = stmt(ss, S_EVENT_INSERT, &s, err)) != 0)
        return rc;
    binder(&bd, &sb, s);
    bd.i64(&sb, 1, job_id);
    bd.i64(&sb, 2, at);
    bd.text(&sb, 3, berth_job_state_str(from));
    bd.text(&sb, 4, berth_job_state_str(to));
    bd.i64(&sb, 5, attempt);
    bd.text(&sb, 6, executor);
    bd.text(&sb, 7, host);
    bd.text(&sb, 8, reason);
    bd.i64(&sb, 9, launch_failure ? 1 : 0);
    if (sb.rc != SQLITE_OK) {
        done(s);
        return sq_fail(ss, sb.rc, "bind", err);
    }
    return run(ss, s, "write event", err);
}

static int sqlite_job_submit(struct berth_store *st,
                             const struct berth_job *spec, size_t count,
                             int64_t now, int64_t *first_id,
                             struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    int64_t ready = spec->not_before > now ? spec->not_before : now;
    struct berth__binder bd;
    struct sq_bind sb;
    sqlite3_stmt *ins;
    int64_t first = 0, prev = 0;
    int rc;

    if ((rc = begin(ss, true, err)) != 0)
        return rc;
    if ((rc = stmt(ss, S_JOB_INSERT, &ins, err)) != 0)
        goto fail;
    binder(&bd, &sb, ins);
    berth__job_bind_spec(&bd, 1, spec);
    bd.i64(&sb, 25, now);
    bd.i64(&sb, 26, ready);
    if (sb.rc != SQLITE_OK) {
        rc = sq_fail(ss, sb.rc, "bind", err);
        done(ins);
        goto fail;
    }
    /* Bindings survive sqlite3_reset(): bind once, insert count times. */
    for (size_t i = 0; i < count; i++) {
        int64_t id;
        rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (rc != SQLITE_DONE) {
            rc = sq_fail(ss, rc, "insert job", err);
            done(ins);
            goto fail;
        }
        id = sqlite3_last_insert_rowid(ss->db);
        if (i == 0)
            first = id;
        else if (id != prev + 1)
            BERTH_BUG("job ids not consecutive in one transaction");
        prev = id;
        rc = insert_event(ss, id, now, BERTH_JOB_PENDING, BERTH_JOB_PENDING, 1,
                          NULL, NULL, "submitted", false, err);
        if (rc) {
            done(ins);
            goto fail;
        }
    }
    done(ins);
    if ((rc = commit(ss, err)) != 0)
        goto fail;
    *first_id = first;
    return 0;
fail:
    rollback(ss);
    return rc;
}

static int sqlite_job_get(struct berth_store *st, int64_t id,
                          struct berth_job *out, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_JOB_GET, &s, err)) != 0)
        return rc;
    if ((rc = bind_i64(ss, s, 1, id, err)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        reader(&r, s);
        rc = berth__job_decode(&r, 0, out, err);
    } else if (rc == SQLITE_DONE) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "job %lld not found",
                           (long long)id);
    } else {
        rc = sq_fail(ss, rc, "read job", err);
    }
out:
    done(s);
    return rc;
}

/* Collect decoded jobs from every row of `s`. */
static int collect_jobs(struct sqlite_store *ss, sqlite3_stmt *s,
                        const char *what, struct berth_job **out, size_t *n,
                        struct berth_err *err)
{
    struct berth_job *v = NULL;
    size_t cap = 0, k = 0;
    struct berth__row r;
    int rc;

    reader(&r, s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 16;
            v = berth_xrealloc(v, cap * sizeof(*v));
        }
        if ((rc = berth__job_decode(&r, 0, &v[k], err)) != 0)
            goto fail;
        k++;
    }
    if (rc != SQLITE_DONE) {
        rc = sq_fail(ss, rc, what, err);
        goto fail;
    }
    *out = v;
    *n = k;
    return 0;
fail:
    berth_store_jobs_free(v, k);
    return rc;
}

static int sqlite_job_list(struct berth_store *st,
                           const struct berth_job_filter *f,
                           struct berth_job **out, size_t *n,
                           struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth_buf q = BERTH_BUF_INIT;
    const char *args[5];
    int nargs = 0;
    sqlite3_stmt *s = NULL;
    int rc;

    berth_buf_puts(&q, "SELECT " BERTH__JOB_COLS " FROM jobs WHERE 1 = 1");
    if (f->status >= 0) {
        berth_buf_printf(&q, " AND status = ?%d", nargs + 1);
        args[nargs++] = berth_job_state_str((enum berth_job_state)f->status);
    }
    if (f->executor) {
        berth_buf_printf(&q, " AND executor = ?%d", nargs + 1);
        args[nargs++] = f->executor;
    }
    if (f->host) {
        berth_buf_printf(&q, " AND host = ?%d", nargs + 1);
        args[nargs++] = f->host;
    }
    if (f->template_name) {
        berth_buf_printf(&q, " AND template_name = ?%d", nargs + 1);
        args[nargs++] = f->template_name;
    }
    if (f->owner) {
        berth_buf_printf(&q, " AND owner = ?%d", nargs + 1);
        args[nargs++] = f->owner;
    }
    if (f->with_start_deadline)
        berth_buf_puts(&q, " AND start_deadline > 0");
    if (f->cancel_requested)
        berth_buf_puts(&q, " AND cancel_requested <> 0");
    berth_buf_puts(&q, f->newest_first ? " ORDER BY id DESC" : " ORDER BY id");
    if (f->limit > 0)
        berth_buf_printf(&q, " LIMIT %zu", f->limit);

    rc = sqlite3_prepare_v2(ss->db, berth_buf_cstr(&q), -1, &s, NULL);
    berth_buf_release(&q);
    if (rc != SQLITE_OK)
        return sq_fail(ss, rc, "list jobs", err);
    for (int i = 0; i < nargs; i++) {
        if ((rc = bind_text(ss, s, i + 1, args[i], err)) != 0)
            goto out;
    }
    rc = collect_jobs(ss, s, "list jobs", out, n, err);
out:
    sqlite3_finalize(s);
    return rc;
}

static int sqlite_job_events(struct berth_store *st, int64_t job_id,
                             struct berth_job_event **out, size_t *n,
                             struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth_job_event *v = NULL;
    size_t cap = 0, k = 0;
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_EVENTS, &s, err)) != 0)
        return rc;
    if ((rc = bind_i64(ss, s, 1, job_id, err)) != 0) {
        done(s);
        return rc;
    }
    reader(&r, s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? 2 * cap : 8;
            v = berth_xrealloc(v, cap * sizeof(*v));
        }
        if ((rc = berth__event_decode(&r, 0, &v[k], err)) != 0) {
            berth_job_event_release(&v[k]);
            goto fail;
        }
        k++;
    }
    if (rc != SQLITE_DONE) {
        rc = sq_fail(ss, rc, "read events", err);
        goto fail;
    }
    done(s);
    *out = v;
    *n = k;
    return 0;
fail:
    done(s);
    berth_store_events_free(v, k);
    return rc;
}

static int sqlite_job_purge(struct berth_store *st, int64_t finished_before,
                            size_t max, size_t *purged, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = begin(ss, true, err)) != 0)
        return rc;
    if ((rc = stmt(ss, S_PURGE, &s, err)) != 0)
        goto fail;
    if ((rc = bind_i64(ss, s, 1, finished_before, err)) != 0 ||
        (rc = bind_i64(ss, s, 2, max ? (int64_t)max : -1, err)) != 0) {
        done(s);
        goto fail;
    }
    if ((rc = run(ss, s, "purge jobs", err)) != 0)
        goto fail;
    *purged = (size_t)sqlite3_changes64(ss->db);
    return commit(ss, err);
fail:
    rollback(ss);
    return rc;
}

static int sqlite_job_claim(struct berth_store *st, bool orphans,
                            const char *owner, int64_t now, int64_t lease_until,
                            size_t max, struct berth_job **out, size_t *n,
                            struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = begin(ss, true, err)) != 0)
        return rc;
    if (!orphans) {
        if ((rc = stmt(ss, S_CLAIM_EXPIRED, &s, err)) != 0)
            goto fail;
        if ((rc = bind_i64(ss, s, 1, now, err)) != 0) {
            done(s);
            goto fail;
        }
        if ((rc = run(ss, s, "release expired claims", err)) != 0)
            goto fail;
    }
    if ((rc = stmt(ss, orphans ? S_CLAIM_ORPHANS : S_CLAIM, &s, err)) != 0)
        goto fail;
    if ((rc = bind_text(ss, s, 1, owner, err)) != 0 ||
        (rc = bind_i64(ss, s, 2, lease_until, err)) != 0 ||
        (rc = bind_i64(ss, s, 3, now, err)) != 0 ||
        (rc = bind_i64(ss, s, 4, (int64_t)max, err)) != 0) {
        done(s);
        goto fail;
    }
    rc = collect_jobs(ss, s, "claim jobs", out, n, err);
    done(s);
    if (rc)
        goto fail;
    if ((rc = commit(ss, err)) != 0) {
        berth_store_jobs_free(*out, *n);
        *out = NULL;
        *n = 0;
        goto fail;
    }
    berth__jobs_sort_claim(*out, *n);
    return 0;
fail:
    rollback(ss);
    return rc;
}

static int lease_op(struct berth_store *st, enum stmt_id id, const char *owner,
                    int64_t lease_until, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, id, &s, err)) != 0)
        return rc;
    if ((rc = bind_text(ss, s, 1, owner, err)) != 0 ||
        (id == S_RENEW && (rc = bind_i64(ss, s, 2, lease_until, err)) != 0)) {
        done(s);
        return rc;
    }
    return run(ss, s, "write lease", err);
}

static int sqlite_lease_renew(struct berth_store *st, const char *owner,
                              int64_t lease_until, struct berth_err *err)
{
    return lease_op(st, S_RENEW, owner, lease_until, err);
}

static int sqlite_lease_release(struct berth_store *st, const char *owner,
                                struct berth_err *err)
{
    return lease_op(st, S_RELEASE, owner, 0, err);
}

/* ---- apply -------------------------------------------------------------- */

static int logs_write(struct sqlite_store *ss, int64_t job_id, int attempt,
                      const struct berth_job_logs *logs, struct berth_err *err);

static int load_rows(struct sqlite_store *ss, struct berth__apply *a,
                     struct berth_err *err)
{
    struct berth__row r;
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_ROW_LOAD, &s, err)) != 0)
        return rc;
    reader(&r, s);
    for (size_t i = 0; i < a->nrows; i++) {
        if ((rc = bind_i64(ss, s, 1, a->rows[i].id, err)) != 0)
            break;
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            rc = berth__job_row_decode(&r, 0, &a->rows[i], err);
            if (rc)
                break;
        } else if (rc != SQLITE_DONE) {
            rc = sq_fail(ss, rc, "read job", err);
            break;
        }
        rc = 0;
        sqlite3_reset(s);
    }
    done(s);
    if (rc)
        return rc;

    berth__apply_want_hosts(a);
    if ((rc = stmt(ss, S_HOST_ROW_LOAD, &s, err)) != 0)
        return rc;
    reader(&r, s);
    for (size_t i = 0; i < a->nhosts; i++) {
        if ((rc = bind_text(ss, s, 1, a->hosts[i].name, err)) != 0)
            break;
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            berth__host_row_decode(&r, 0, &a->hosts[i]);
        else if (rc != SQLITE_DONE) {
            rc = sq_fail(ss, rc, "read host", err);
            break;
        }
        rc = 0;
        sqlite3_reset(s);
    }
    done(s);
    return rc;
}

/* The cached "UPDATE jobs SET <changed columns> WHERE id = ?1". */
static int write_stmt(struct sqlite_store *ss, unsigned mask,
                      sqlite3_stmt **out, struct berth_err *err)
{
    struct berth_buf q = BERTH_BUF_INIT;
    struct write_stmt *w;
    int k = 2;
    int rc;

    *out = NULL;
    for (size_t i = 0; i < ss->nwrites; i++) {
        if (ss->writes[i].mask == mask) {
            *out = ss->writes[i].s;
            return 0;
        }
    }
    berth_buf_puts(&q, "UPDATE jobs SET ");
    for (int c = 0; c < BERTH__JOB_STATE_NCOLS; c++) {
        if (!(mask & (1u << c)))
            continue;
        berth_buf_printf(&q, "%s%s = ?%d", k > 2 ? ", " : "",
                         berth__job_state_col_names[c], k);
        k++;
    }
    berth_buf_puts(&q, " WHERE id = ?1");
    if (ss->nwrites < WRITE_CACHE) {
        w = &ss->writes[ss->nwrites++];
    } else {
        w = &ss->writes[ss->next_evict];
        ss->next_evict = (ss->next_evict + 1) % WRITE_CACHE;
        sqlite3_finalize(w->s);
    }
    w->mask = mask;
    rc = sqlite3_prepare_v3(ss->db, berth_buf_cstr(&q), -1,
                            SQLITE_PREPARE_PERSISTENT, &w->s, NULL);
    berth_buf_release(&q);
    if (rc != SQLITE_OK) {
        w->mask = 0; /* never matches: every write changes something */
        return sq_fail(ss, rc, "prepare", err);
    }
    *out = w->s;
    return 0;
}

static int write_back(struct sqlite_store *ss, struct berth__apply *a,
                      struct berth_err *err)
{
    struct berth__binder bd;
    struct sq_bind sb;
    sqlite3_stmt *s = NULL;
    int rc;

    for (size_t i = 0; i < a->nrows; i++) {
        const struct berth__job_row *row = &a->rows[i];
        if (!row->dirty || !row->changed)
            continue;
        if ((rc = write_stmt(ss, row->changed, &s, err)) != 0)
            return rc;
        binder(&bd, &sb, s);
        bd.i64(&sb, 1, row->id);
        berth__job_row_bind_changed(&bd, 2, row, row->changed);
        if (sb.rc != SQLITE_OK) {
            done(s);
            return sq_fail(ss, sb.rc, "bind", err);
        }
        if ((rc = run(ss, s, "write job", err)) != 0)
            return rc;
    }

    if ((rc = stmt(ss, S_HOST_DELTA, &s, err)) != 0)
        return rc;
    binder(&bd, &sb, s);
    for (size_t i = 0; i < a->nhosts; i++) {
        const struct berth__host_row *h = &a->hosts[i];
        if (!h->found ||
            (h->d_jobs == 0 && h->d_memory_mb == 0 && h->d_cpu_millis == 0))
            continue;
        bd.text(&sb, 1, h->name);
        bd.i64(&sb, 2, h->d_jobs);
        bd.i64(&sb, 3, h->d_memory_mb);
        bd.i64(&sb, 4, h->d_cpu_millis);
        if (sb.rc != SQLITE_OK) {
            done(s);
            return sq_fail(ss, sb.rc, "bind", err);
        }
        if ((rc = run(ss, s, "write host usage", err)) != 0)
            return rc;
    }

    for (size_t i = 0; i < a->nevents; i++) {
        const struct berth__event_row *e = &a->events[i];
        rc = insert_event(ss, e->job_id, e->at, e->from, e->to, e->attempt,
                          e->executor, e->host, e->reason, e->launch_failure,
                          err);
        if (rc)
            return rc;
    }

    for (size_t i = 0; i < a->nlogs; i++) {
        rc = logs_write(ss, a->logs[i].job_id, a->logs[i].attempt,
                        a->logs[i].logs, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int sqlite_apply(struct berth_store *st, struct berth_job_update *ups,
                        size_t n, int64_t now, size_t *applied,
                        struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    struct berth__apply a;
    int rc;

    berth__apply_init(&a, ups, n, now);
    if ((rc = begin(ss, true, err)) != 0)
        goto out;
    if ((rc = load_rows(ss, &a, err)) != 0)
        goto fail;
    berth__apply_run(&a);
    if ((rc = write_back(ss, &a, err)) != 0)
        goto fail;
    if ((rc = commit(ss, err)) != 0)
        goto fail;
    *applied = a.applied;
    goto out;
fail:
    rollback(ss);
out:
    berth__apply_release(&a);
    return rc;
}

/* ---- logs --------------------------------------------------------------- */

static int logs_write(struct sqlite_store *ss, int64_t job_id, int attempt,
                      const struct berth_job_logs *logs, struct berth_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (logs->out_len > INT32_MAX || logs->err_len > INT32_MAX)
        return berth_err_set(err, BERTH_E_TOOBIG,
                             "logs of job %lld are too big to store",
                             (long long)job_id);
    if ((rc = stmt(ss, S_LOGS_PUT, &s, err)) != 0)
        return rc;
    rc = sqlite3_bind_int64(s, 1, job_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 2, attempt);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 3, logs->out ? logs->out : "",
                               (int)logs->out_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 4, logs->err ? logs->err : "",
                               (int)logs->err_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 5, logs->truncated ? 1 : 0);
    if (rc != SQLITE_OK) {
        done(s);
        return sq_fail(ss, rc, "bind", err);
    }
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        done(s);
        return 0;
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        done(s);
        return berth_err_set(err, BERTH_E_NOTFOUND, "job %lld not found",
                             (long long)job_id);
    }
    rc = sq_fail(ss, rc, "write logs", err);
    done(s);
    return rc;
}

static int sqlite_logs_put(struct berth_store *st, int64_t job_id, int attempt,
                           const struct berth_job_logs *logs,
                           struct berth_err *err)
{
    return logs_write(to_sqlite(st), job_id, attempt, logs, err);
}

static char *blob_dup(sqlite3_stmt *s, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    char *out = berth_xmalloc(n + 1);
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
    *len = n;
    return out;
}

static int sqlite_logs_get(struct berth_store *st, int64_t job_id,
                           struct berth_job_logs *out, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, S_LOGS_GET, &s, err)) != 0)
        return rc;
    if ((rc = bind_i64(ss, s, 1, job_id, err)) != 0)
        goto out;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->out = blob_dup(s, 0, &out->out_len);
        out->err = blob_dup(s, 1, &out->err_len);
        out->truncated = sqlite3_column_int(s, 2) != 0;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = sq_fail(ss, rc, "read logs", err);
    }
out:
    done(s);
    return rc;
}

/* ---- figures ------------------------------------------------------------ */

static int count1(struct sqlite_store *ss, enum stmt_id id, int64_t arg,
                  int64_t *out, struct berth_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if ((rc = stmt(ss, id, &s, err)) != 0)
        return rc;
    if (sqlite3_bind_parameter_count(s) > 0 &&
        (rc = bind_i64(ss, s, 1, arg, err)) != 0) {
        done(s);
        return rc;
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = sq_fail(ss, rc, "read figures", err);
        done(s);
        return rc;
    }
    *out = sqlite3_column_int64(s, 0);
    done(s);
    return 0;
}

static int sqlite_stats(struct berth_store *st, int64_t now,
                        struct berth_store_stats *out, struct berth_err *err)
{
    struct sqlite_store *ss = to_sqlite(st);
    sqlite3_stmt *s = NULL;
    int rc;

    /* One read transaction: the figures come from one snapshot. */
    if ((rc = begin(ss, false, err)) != 0)
        return rc;
    if ((rc = stmt(ss, S_STATS_STATES, &s, err)) != 0)
        goto fail;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        enum berth_job_state js;
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (name && berth_job_state_parse(name, &js) == 0)
            out->by_state[js] = sqlite3_column_int64(s, 1);
    }
    if (rc != SQLITE_DONE) {
        rc = sq_fail(ss, rc, "read figures", err);
        done(s);
        goto fail;
    }
    done(s);
    if ((rc = count1(ss, S_STATS_READY, now, &out->pending_ready, err)) != 0)
        goto fail;
    out->pending_scheduled =
        out->by_state[BERTH_JOB_PENDING] - out->pending_ready;
    if ((rc = count1(ss, S_STATS_FAILURES, 0, &out->launch_failures, err)))
        goto fail;
    return commit(ss, err);
fail:
    rollback(ss);
    return rc;
}

static const char *const sqlite_prefixes[] = {"sqlite:", NULL};

const struct berth_store_ops berth__store_sqlite = {
    .name = "sqlite",
    .prefixes = sqlite_prefixes,
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .meta_get = sqlite_meta_get,
    .meta_set = sqlite_meta_set,
    .template_put = sqlite_template_put,
    .template_get = sqlite_template_get,
    .template_list = sqlite_template_list,
    .template_delete = sqlite_template_delete,
    .host_put = sqlite_host_put,
    .host_get = sqlite_host_get,
    .host_list = sqlite_host_list,
    .host_delete = sqlite_host_delete,
    .host_set_enabled = sqlite_host_set_enabled,
    .job_submit = sqlite_job_submit,
    .job_get = sqlite_job_get,
    .job_list = sqlite_job_list,
    .job_events = sqlite_job_events,
    .job_purge = sqlite_job_purge,
    .job_claim = sqlite_job_claim,
    .lease_renew = sqlite_lease_renew,
    .lease_release = sqlite_lease_release,
    .apply = sqlite_apply,
    .logs_put = sqlite_logs_put,
    .logs_get = sqlite_logs_get,
    .stats = sqlite_stats,
};
