/*
 * pg.c - the PostgreSQL store backend (libpq), for several workers on
 * several machines sharing one queue.
 *
 * - Every statement is prepared once per connection (PQprepare) and run
 *   with bound parameters (PQexecPrepared); nothing is pasted into SQL.
 * - Claims lock candidates with FOR UPDATE SKIP LOCKED in the statement
 *   that takes them, so concurrent claimers never wait for nor share a job.
 * - berth_store_apply() locks the job rows it changes (by id) and then the
 *   host rows it may reserve on or free (by name), always in that order,
 *   so two appliers cannot deadlock on each other; the shared engine decides
 *   every update on those locked rows, and the results go back in one
 *   statement per table (UPDATE … FROM unnest(arrays)). The conditional
 *   host reservation is thus atomic with the job's compare-and-set: the
 *   counter is checked on a row no one else can change until we commit.
 *   A deadlock with some other statement (a lease renewal touching the same
 *   jobs in another order) or a serialization failure retries the whole
 *   transaction a few times.
 * - Migrations run under a transaction-level advisory lock, so several
 *   processes opening a new database at once apply them exactly once.
 * - Submissions take another advisory lock so that the ids of one
 *   submission are consecutive.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "berth/util.h"
#include "store/store_int.h"

/* Advisory lock keys: "berth" in the high bytes, then what is locked. */
#define LOCK_MIGRATE "7090199032651317249" /* 0x6265727468000001 */
#define LOCK_SUBMIT  "7090199032651317250" /* 0x6265727468000002 */

#define APPLY_RETRIES 5

enum pstmt {
    P_BEGIN,
    P_COMMIT,
    P_VERSION,
    P_META_GET,
    P_META_SET,
    P_TPL_PUT,
    P_TPL_GET,
    P_TPL_LIST,
    P_TPL_DEL,
    P_HOST_PUT,
    P_HOST_GET,
    P_HOST_LIST,
    P_HOST_LOCK_ONE,
    P_HOST_ACTIVE,
    P_HOST_DEL,
    P_HOST_ENABLE,
    P_SUBMIT_LOCK,
    P_SUBMIT,
    P_JOB_GET,
    P_EVENTS,
    P_PURGE,
    P_CLAIM_EXPIRED,
    P_CLAIM,
    P_CLAIM_ORPHANS,
    P_RENEW,
    P_RELEASE,
    P_ROWS_LOCK,
    P_HOSTS_LOCK,
    P_ROWS_WRITE,
    P_HOSTS_DELTA,
    P_EVENTS_INSERT,
    P_LOGS_PUT,
    P_LOGS_PUT_MANY,
    P_LOGS_GET,
    P_STATS_STATES,
    P_STATS_READY,
    P_STATS_FAILURES,
    P__COUNT
};

#define TERMINAL_IN "('completed', 'failed', 'timed_out', 'cancelled')"

static const char *const pstmt_sql[P__COUNT] = {
    [P_BEGIN] = "BEGIN",
    [P_COMMIT] = "COMMIT",
    [P_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_version",
    [P_META_GET] = "SELECT value FROM meta WHERE key = $1",
    [P_META_SET] = "INSERT INTO meta (key, value) VALUES ($1, $2) "
                   "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    [P_TPL_PUT] =
        "INSERT INTO templates (" BERTH__TEMPLATE_COLS ") VALUES ($1, $2, $3, "
        "$4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name) DO UPDATE SET "
        "image = EXCLUDED.image, command_json = EXCLUDED.command_json, "
        "working_dir = EXCLUDED.working_dir, env_json = EXCLUDED.env_json, "
        "environment = EXCLUDED.environment, network = EXCLUDED.network, "
        "memory_mb = EXCLUDED.memory_mb, cpu_cores = EXCLUDED.cpu_cores, "
        "timeout_seconds = EXCLUDED.timeout_seconds, "
        "labels_json = EXCLUDED.labels_json",
    [P_TPL_GET] =
        "SELECT " BERTH__TEMPLATE_COLS " FROM templates WHERE name = $1",
    [P_TPL_LIST] =
        "SELECT " BERTH__TEMPLATE_COLS " FROM templates ORDER BY name",
    [P_TPL_DEL] = "DELETE FROM templates WHERE name = $1",
    [P_HOST_PUT] =
        "INSERT INTO hosts (name, executor, url, max_concurrent_jobs, "
        "memory_mb, cpu_cores, weight, enabled, options_json) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (name) DO UPDATE SET executor = EXCLUDED.executor, "
        "url = EXCLUDED.url, "
        "max_concurrent_jobs = EXCLUDED.max_concurrent_jobs, "
        "memory_mb = EXCLUDED.memory_mb, cpu_cores = EXCLUDED.cpu_cores, "
        "weight = EXCLUDED.weight, options_json = EXCLUDED.options_json, "
        "enabled = CASE WHEN $10::boolean THEN hosts.enabled "
        "ELSE EXCLUDED.enabled END",
    [P_HOST_GET] = "SELECT " BERTH__HOST_COLS " FROM hosts WHERE name = $1",
    [P_HOST_LIST] = "SELECT " BERTH__HOST_COLS " FROM hosts ORDER BY name",
    [P_HOST_LOCK_ONE] = "SELECT name FROM hosts WHERE name = $1 FOR UPDATE",
    [P_HOST_ACTIVE] = "SELECT COUNT(*) FROM jobs WHERE host = $1 "
                      "AND status IN ('launching', 'running')",
    [P_HOST_DEL] = "DELETE FROM hosts WHERE name = $1",
    [P_HOST_ENABLE] = "UPDATE hosts SET enabled = $2 WHERE name = $1",
    [P_SUBMIT_LOCK] = "SELECT pg_advisory_xact_lock(" LOCK_SUBMIT ")",
    [P_SUBMIT] =
        "WITH ins AS (INSERT INTO jobs (" BERTH__JOB_SPEC_COLS
        ", created_at, ready_at) SELECT $1::text, $2::text, $3::text, "
        "$4::text, $5::text, $6::text, $7::text, $8::bigint, $9::float8, "
        "$10::bigint, $11::text, $12::text, $13::text, $14::bigint, "
        "$15::float8, $16::bigint, $17::integer, $18::bigint, $19::bigint, "
        "$20::text, $21::text, $22::text, $23::integer, $24::text, "
        "$25::bigint, $26::bigint FROM generate_series(1, $27::integer) "
        "RETURNING id), "
        "ev AS (INSERT INTO job_events (job_id, at, from_state, to_state, "
        "attempt, reason) SELECT id, $25::bigint, 'pending', 'pending', 1, "
        "'submitted' FROM ins) "
        "SELECT MIN(id), MAX(id), COUNT(*) FROM ins",
    [P_JOB_GET] = "SELECT " BERTH__JOB_COLS " FROM jobs WHERE id = $1",
    [P_EVENTS] = "SELECT " BERTH__EVENT_COLS
                 " FROM job_events WHERE job_id = $1 ORDER BY id",
    [P_PURGE] = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
                "WHERE status IN " TERMINAL_IN " AND finished_at < $1 "
                "ORDER BY finished_at, id LIMIT $2)",
    /* The claims select their ids into an array (InitPlan) and update by
     * primary key: the plan stays an index walk plus id lookups whatever
     * the table's size, also as the generic plan PostgreSQL switches to
     * after a few executions (a join here becomes a merge join over the
     * whole primary key). */
    [P_CLAIM_EXPIRED] =
        "UPDATE jobs SET owner = NULL, lease_until = 0 WHERE id = ANY (ARRAY("
        "SELECT id FROM jobs WHERE status = 'pending' AND owner IS NOT NULL "
        "AND lease_until < $1 FOR UPDATE SKIP LOCKED))",
    /* DESIGN.md § Store: priority then age, FOR UPDATE SKIP LOCKED. */
    [P_CLAIM] = "UPDATE jobs SET owner = $1, lease_until = $2 "
                "WHERE id = ANY (ARRAY(SELECT id FROM jobs "
                "WHERE status = 'pending' AND owner IS NULL "
                "AND ready_at <= $3 ORDER BY priority DESC, id LIMIT $4 "
                "FOR UPDATE SKIP LOCKED)) RETURNING " BERTH__JOB_COLS,
    [P_CLAIM_ORPHANS] =
        "UPDATE jobs SET owner = $1, lease_until = $2 "
        "WHERE id = ANY (ARRAY(SELECT id FROM jobs "
        "WHERE status IN ('launching', 'running') "
        "AND (owner IS NULL OR lease_until < $3) ORDER BY id LIMIT $4 "
        "FOR UPDATE SKIP LOCKED)) RETURNING " BERTH__JOB_COLS,
    [P_RENEW] = "UPDATE jobs SET lease_until = $2 WHERE owner = $1",
    [P_RELEASE] = "UPDATE jobs SET owner = NULL, lease_until = 0 "
                  "WHERE owner = $1",
    [P_ROWS_LOCK] = "SELECT " BERTH__JOB_ROW_COLS " FROM jobs "
                    "WHERE id = ANY ($1::bigint[]) ORDER BY id FOR UPDATE",
    [P_HOSTS_LOCK] = "SELECT " BERTH__HOST_ROW_COLS " FROM hosts "
                     "WHERE name = ANY ($1::text[]) ORDER BY name "
                     "FOR UPDATE",
    [P_ROWS_WRITE] =
        "UPDATE jobs SET status = v.status, attempt = v.attempt, "
        "executor = v.executor, host = v.host, "
        "routing_reason = v.routing_reason, rule_index = v.rule_index, "
        "execution_id = v.execution_id, exit_code = v.exit_code, "
        "last_error = v.last_error, wait_reason = v.wait_reason, "
        "started_at = v.started_at, finished_at = v.finished_at, "
        "ready_at = v.ready_at, cancel_requested = v.cancel_requested, "
        "owner = v.owner, lease_until = v.lease_until, "
        "oom_killed = v.oom_killed, "
        "peak_memory_bytes = v.peak_memory_bytes, "
        "cpu_time_us = v.cpu_time_us "
        "FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], "
        "$5::text[], $6::text[], $7::integer[], $8::text[], $9::integer[], "
        "$10::text[], $11::text[], $12::bigint[], $13::bigint[], "
        "$14::bigint[], $15::boolean[], $16::text[], $17::bigint[], "
        "$18::boolean[], $19::bigint[], $20::bigint[]) AS v(id, status, "
        "attempt, executor, host, routing_reason, rule_index, execution_id, "
        "exit_code, last_error, wait_reason, started_at, finished_at, "
        "ready_at, cancel_requested, owner, lease_until, oom_killed, "
        "peak_memory_bytes, cpu_time_us) WHERE jobs.id = v.id",
    [P_HOSTS_DELTA] =
        "UPDATE hosts SET used_jobs = hosts.used_jobs + v.dj, "
        "used_memory_mb = hosts.used_memory_mb + v.dm, "
        "used_cpu_millicores = hosts.used_cpu_millicores + v.dc "
        "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) "
        "AS v(name, dj, dm, dc) WHERE hosts.name = v.name",
    [P_EVENTS_INSERT] =
        "INSERT INTO job_events (job_id, at, from_state, to_state, attempt, "
        "executor, host, reason, launch_failure) SELECT * FROM "
        "unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], "
        "$5::integer[], $6::text[], $7::text[], $8::text[], $9::boolean[])",
    [P_LOGS_PUT] = "INSERT INTO job_logs (job_id, attempt, stdout, stderr, "
                   "truncated) VALUES ($1, $2, $3, $4, $5) "
                   "ON CONFLICT (job_id, attempt) DO UPDATE SET "
                   "stdout = EXCLUDED.stdout, stderr = EXCLUDED.stderr, "
                   "truncated = EXCLUDED.truncated",
    [P_LOGS_PUT_MANY] =
        "INSERT INTO job_logs (job_id, attempt, stdout, stderr, truncated) "
        "SELECT v.j, v.a, decode(v.o, 'hex'), decode(v.e, 'hex'), v.t "
        "FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], "
        "$5::boolean[]) AS v(j, a, o, e, t) "
        "ON CONFLICT (job_id, attempt) DO UPDATE SET "
        "stdout = EXCLUDED.stdout, stderr = EXCLUDED.stderr, "
        "truncated = EXCLUDED.truncated",
    [P_LOGS_GET] = "SELECT stdout, stderr, truncated FROM job_logs "
                   "WHERE job_id = $1 ORDER BY attempt DESC LIMIT 1",
    [P_STATS_STATES] = "SELECT status, COUNT(*) FROM jobs GROUP BY status",
    [P_STATS_READY] = "SELECT COUNT(*) FROM jobs "
                      "WHERE status = 'pending' AND ready_at <= $1",
    [P_STATS_FAILURES] = "SELECT COUNT(*) FROM job_events WHERE launch_failure",
};

struct pg_store {
    struct berth_store base;
    PGconn *conn;
    bool prepared[P__COUNT];
    bool retryable; /* the last failure was a deadlock or serialization
                       failure: the transaction may be run again */
};

static struct pg_store *to_pg(struct berth_store *st)
{
    if (st->ops != &berth__store_pg)
        BERTH_BUG("store is not postgresql");
    return (struct pg_store *)st;
}

/* ---- errors ------------------------------------------------------------- */

/* The first line of a libpq message, without "ERROR:  ". */
static void first_line(const char *msg, char *out, size_t cap)
{
    size_t n;
    if (!msg)
        msg = "";
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    n = strcspn(msg, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

/* Map a failed result (or connection) to our codes. `res` may be NULL. */
static int pg_fail(struct pg_store *ps, const PGresult *res, const char *what,
                   struct berth_err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    const char *url = ps->base.url;
    char line[300];

    if (!msg || !*msg)
        msg = PQerrorMessage(ps->conn);
    first_line(msg, line, sizeof(line));
    ps->retryable = false;
    if (PQstatus(ps->conn) != CONNECTION_OK ||
        (state &&
         (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))
        return berth_err_set_transient(err, BERTH_E_NET,
                                       "store '%s': %s: connection lost: %s",
                                       url, what, line);
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                  strcmp(state, "55P03") == 0)) {
        ps->retryable = true;
        return berth_err_set_transient(
            err, BERTH_E_BUSY, "store '%s' is busy: %s: %s", url, what, line);
    }
    if (state && strncmp(state, "53", 2) == 0)
        return berth_err_set_transient(err, BERTH_E_STORE, "store '%s': %s: %s",
                                       url, what, line);
    return berth_err_set(err, BERTH_E_STORE, "store '%s': %s: %s (SQLSTATE %s)",
                         url, what, line, state ? state : "none");
}

static bool is_fk_violation(const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return state && strcmp(state, "23503") == 0;
}

/* Reconnect when the server went away between calls. */
static int pg_ensure(struct pg_store *ps, struct berth_err *err)
{
    if (PQstatus(ps->conn) == CONNECTION_OK)
        return 0;
    PQreset(ps->conn);
    memset(ps->prepared, 0, sizeof(ps->prepared));
    if (PQstatus(ps->conn) != CONNECTION_OK)
        return pg_fail(ps, NULL, "reconnect", err);
    return 0;
}

/* ---- parameters --------------------------------------------------------- */

#define PG_MAXP 32

/* Text parameters (binary for bytea), owned copies. */
struct pgp {
    int n;
    char *v[PG_MAXP];
    int len[PG_MAXP];
    int fmt[PG_MAXP];
};

static void pgp_set(struct pgp *p, int idx, char *owned, int len, int fmt)
{
    if (idx < 1 || idx > PG_MAXP)
        BERTH_BUG("parameter %d out of range", idx);
    free(p->v[idx - 1]);
    p->v[idx - 1] = owned;
    p->len[idx - 1] = len;
    p->fmt[idx - 1] = fmt;
    if (idx > p->n)
        p->n = idx;
}

static void pgp_text(struct pgp *p, int idx, const char *s)
{
    pgp_set(p, idx, berth_xstrdup(s), 0, 0);
}

static void pgp_i64(struct pgp *p, int idx, int64_t v)
{
    pgp_set(p, idx, berth_xasprintf("%lld", (long long)v), 0, 0);
}

static void pgp_bool(struct pgp *p, int idx, bool v)
{
    pgp_set(p, idx, berth_xstrdup(v ? "true" : "false"), 0, 0);
}

static void pgp_bin(struct pgp *p, int idx, const char *data, size_t len)
{
    char *copy = berth_xmalloc(len ? len : 1);
    if (len)
        memcpy(copy, data, len);
    pgp_set(p, idx, copy, (int)len, 1);
}

static void pgp_release(struct pgp *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    memset(p, 0, sizeof(*p));
}

static void pb_null(void *ctx, int idx)
{
    pgp_set(ctx, idx, NULL, 0, 0);
}

static void pb_text(void *ctx, int idx, const char *s)
{
    pgp_text(ctx, idx, s);
}

static void pb_i64(void *ctx, int idx, int64_t v)
{
    pgp_i64(ctx, idx, v);
}

static void pb_dbl(void *ctx, int idx, double v)
{
    pgp_set(ctx, idx, berth_xasprintf("%.17g", v), 0, 0);
}

static void param_binder(struct berth__binder *b, struct pgp *p)
{
    b->ctx = p;
    b->null = pb_null;
    b->text = pb_text;
    b->i64 = pb_i64;
    b->dbl = pb_dbl;
}

/*
 * Array parameters: each index collects one PostgreSQL array literal
 * ("{1,NULL,\"text\"}"), one element per bound row.
 */
struct pga {
    int n;
    struct berth_buf a[PG_MAXP];
};

static struct berth_buf *pga_elem(struct pga *p, int idx)
{
    struct berth_buf *b;
    if (idx < 1 || idx > PG_MAXP)
        BERTH_BUG("array parameter %d out of range", idx);
    if (idx > p->n)
        p->n = idx;
    b = &p->a[idx - 1];
    berth_buf_puts(b, b->len ? "," : "{");
    return b;
}

static void pa_null(void *ctx, int idx)
{
    berth_buf_puts(pga_elem(ctx, idx), "NULL");
}

static void pa_text(void *ctx, int idx, const char *s)
{
    struct berth_buf *b = pga_elem(ctx, idx);
    if (!s) {
        berth_buf_puts(b, "NULL");
        return;
    }
    berth_buf_puts(b, "\"");
    for (const char *c = s; *c; c++) {
        size_t run = strcspn(c, "\"\\");
        berth_buf_append(b, c, run);
        c += run;
        if (!*c)
            break;
        berth_buf_append(b, "\\", 1);
        berth_buf_append(b, c, 1);
    }
    berth_buf_puts(b, "\"");
}

static void pa_i64(void *ctx, int idx, int64_t v)
{
    berth_buf_printf(pga_elem(ctx, idx), "%lld", (long long)v);
}

static void pa_dbl(void *ctx, int idx, double v)
{
    berth_buf_printf(pga_elem(ctx, idx), "%.17g", v);
}

static void array_binder(struct berth__binder *b, struct pga *p)
{
    b->ctx = p;
    b->null = pa_null;
    b->text = pa_text;
    b->i64 = pa_i64;
    b->dbl = pa_dbl;
}

/* Close every array into a text parameter of `out`. */
static void pga_finish(struct pga *p, struct pgp *out)
{
    for (int i = 0; i < p->n; i++) {
        struct berth_buf *b = &p->a[i];
        if (!b->len)
            berth_buf_puts(b, "{");
        berth_buf_puts(b, "}");
        pgp_set(out, i + 1, berth_buf_detach(b), 0, 0);
    }
}

static void pga_release(struct pga *p)
{
    for (int i = 0; i < PG_MAXP; i++)
        berth_buf_release(&p->a[i]);
    memset(p, 0, sizeof(*p));
}

/* ---- running statements ------------------------------------------------- */

static void pstmt_name(enum pstmt id, char *buf, size_t cap)
{
    snprintf(buf, cap, "berth_%d", (int)id);
}

/* Prepare statement `id` on this connection, once. */
static int pg_prepare(struct pg_store *ps, enum pstmt id, struct berth_err *err)
{
    char name[32];
    PGresult *r;
    int rc = 0;

    if (ps->prepared[id])
        return 0;
    pstmt_name(id, name, sizeof(name));
    r = PQprepare(ps->conn, name, pstmt_sql[id], 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(ps, r, "prepare", err);
    else
        ps->prepared[id] = true;
    PQclear(r);
    return rc;
}

/* Execute prepared statement `id`; the caller checks the result. */
static PGresult *pg_exec(struct pg_store *ps, enum pstmt id,
                         const struct pgp *p)
{
    char name[32];
    pstmt_name(id, name, sizeof(name));
    return PQexecPrepared(ps->conn, name, p ? p->n : 0,
                          p ? (const char *const *)p->v : NULL,
                          p ? p->len : NULL, p ? p->fmt : NULL, 0);
}

/*
 * Run prepared statement `id`. With `out`, the result (tuples or command)
 * goes to the caller, who PQclear()s it; on failure nothing is returned.
 */
static int pg_run(struct pg_store *ps, enum pstmt id, const struct pgp *p,
                  PGresult **out, const char *what, struct berth_err *err)
{
    PGresult *r;
    ExecStatusType st;
    int rc;

    if (out)
        *out = NULL;
    if ((rc = pg_prepare(ps, id, err)) != 0)
        return rc;
    r = pg_exec(ps, id, p);
    st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = pg_fail(ps, r, what, err);
        PQclear(r);
        return rc;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

/* A statement without parameters through the simple protocol. */
static int pg_simple(struct pg_store *ps, const char *sql, const char *what,
                     struct berth_err *err)
{
    PGresult *r = PQexec(ps->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(ps, r, what, err);
    PQclear(r);
    return rc;
}

static int pg_begin(struct pg_store *ps, struct berth_err *err)
{
    return pg_simple(ps, "BEGIN", "begin transaction", err);
}

static int pg_commit(struct pg_store *ps, struct berth_err *err)
{
    return pg_simple(ps, "COMMIT", "commit", err);
}

static void pg_rollback(struct pg_store *ps)
{
    if (PQtransactionStatus(ps->conn) != PQTRANS_IDLE)
        pg_simple(ps, "ROLLBACK", "rollback", NULL);
}

/* rows changed by a command */
static int64_t affected(const PGresult *r)
{
    int64_t v = 0;
    berth_parse_i64(PQcmdTuples((PGresult *)r), 0, INT64_MAX, &v);
    return v;
}

/* ---- reading rows through the shared codec ------------------------------ */

struct pgrow {
    const PGresult *r;
    int row;
};

static bool pr_is_null(void *ctx, int col)
{
    struct pgrow *p = ctx;
    return PQgetisnull(p->r, p->row, col);
}

static const char *pr_text(void *ctx, int col)
{
    struct pgrow *p = ctx;
    if (PQgetisnull(p->r, p->row, col))
        return NULL;
    return PQgetvalue(p->r, p->row, col);
}

static int64_t pr_i64(void *ctx, int col)
{
    const char *s = pr_text(ctx, col);
    if (!s)
        return 0;
    if (s[0] == 't')
        return 1; /* boolean */
    if (s[0] == 'f')
        return 0;
    return strtoll(s, NULL, 10);
}

static double pr_dbl(void *ctx, int col)
{
    const char *s = pr_text(ctx, col);
    return s ? strtod(s, NULL) : 0;
}

static void reader(struct berth__row *r, struct pgrow *p, const PGresult *res)
{
    p->r = res;
    p->row = 0;
    r->ctx = p;
    r->is_null = pr_is_null;
    r->text = pr_text;
    r->i64 = pr_i64;
    r->dbl = pr_dbl;
}

static int collect_jobs(const PGresult *res, struct berth_job **out, size_t *n,
                        struct berth_err *err)
{
    int rows = PQntuples(res);
    struct berth_job *v = berth_xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    struct berth__row r;
    struct pgrow p;
    int rc;

    reader(&r, &p, res);
    for (int i = 0; i < rows; i++) {
        p.row = i;
        if ((rc = berth__job_decode(&r, 0, &v[i], err)) != 0) {
            berth_store_jobs_free(v, (size_t)i);
            return rc;
        }
    }
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* ---- open, migrations --------------------------------------------------- */

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int latest_migration(void)
{
    int v = 0;
    for (const struct berth__migration *m = berth__pg_migrations; m->version;
         m++)
        v = m->version;
    return v;
}

static int read_version(struct pg_store *ps, int *out, struct berth_err *err)
{
    PGresult *r;
    int rc = pg_run(ps, P_VERSION, NULL, &r, "read schema version", err);
    if (rc)
        return rc;
    *out = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

static int migrate(struct pg_store *ps, struct berth_err *err)
{
    int latest = latest_migration();
    int cur = 0;
    PGresult *r;
    int rc;

    /* Fast path without the lock: up to date already. */
    r = PQexec(ps->conn, "SELECT to_regclass('schema_version') IS NOT NULL");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(ps, r, "read schema", err);
        PQclear(r);
        return rc;
    }
    if (PQgetvalue(r, 0, 0)[0] == 't') {
        PQclear(r);
        if ((rc = read_version(ps, &cur, err)) != 0)
            return rc;
        if (cur == latest)
            return 0;
    } else {
        PQclear(r);
    }

    if ((rc = pg_begin(ps, err)) != 0)
        return rc;
    rc = pg_simple(ps, "SELECT pg_advisory_xact_lock(" LOCK_MIGRATE ")",
                   "lock for migrations", err);
    if (rc)
        goto fail;
    rc = pg_simple(ps,
                   "CREATE TABLE IF NOT EXISTS schema_version ("
                   "version integer PRIMARY KEY, name text NOT NULL, "
                   "applied_at bigint NOT NULL)",
                   "create schema_version", err);
    if (rc)
        goto fail;
    if ((rc = read_version(ps, &cur, err)) != 0)
        goto fail;
    if (cur > latest) {
        rc = berth_err_set(err, BERTH_E_STORE,
                           "store '%s' has schema version %d, newer than "
                           "this berth understands (%d): upgrade berth",
                           ps->base.url, cur, latest);
        goto fail;
    }
    for (const struct berth__migration *m = berth__pg_migrations; m->version;
         m++) {
        struct pgp p = {0};
        char sql[128];
        if (m->version <= cur)
            continue;
        if ((rc = pg_simple(ps, m->sql, m->name, err)) != 0) {
            berth_err_prefix(err, "migration %d", m->version);
            goto fail;
        }
        pgp_i64(&p, 1, m->version);
        pgp_text(&p, 2, m->name);
        pgp_i64(&p, 3, berth_now_us());
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_version (version, name, applied_at) "
                 "VALUES ($1, $2, $3)");
        r = PQexecParams(ps->conn, sql, p.n, NULL, (const char *const *)p.v,
                         p.len, p.fmt, 0);
        pgp_release(&p);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            rc = pg_fail(ps, r, "record migration", err);
            PQclear(r);
            goto fail;
        }
        PQclear(r);
    }
    return pg_commit(ps, err);
fail:
    pg_rollback(ps);
    return rc;
}

static void pg_close(struct berth_store *st)
{
    struct pg_store *ps = to_pg(st);
    PQfinish(ps->conn);
    free(ps->base.url);
    free(ps);
}

static int pg_open(const char *url, struct berth_store **out,
                   struct berth_err *err)
{
    /* Defaults first: settings in the URL come later and win. */
    static const char *const keys[] = {"connect_timeout", "dbname",
                                       "fallback_application_name", NULL};
    const char *vals[] = {"10", url, "berth", NULL};
    struct pg_store *ps = berth_xcalloc(1, sizeof(*ps));
    int rc;

    ps->base.ops = &berth__store_pg;
    ps->base.url = berth__url_redact(url);
    ps->conn = PQconnectdbParams(keys, vals, 1);
    if (!ps->conn)
        BERTH_BUG("PQconnectdbParams returned NULL");
    if (PQstatus(ps->conn) != CONNECTION_OK) {
        char line[300];
        first_line(PQerrorMessage(ps->conn), line, sizeof(line));
        /* libpq says "invalid …" for URLs it cannot parse: not worth a
         * retry. Everything else (refused, timeout, auth) might pass. */
        if (strstr(line, "invalid") || strstr(line, "missing"))
            rc =
                berth_err_set(err, BERTH_E_INVALID,
                              "cannot open store '%s': %s", ps->base.url, line);
        else
            rc = berth_err_set_transient(err, BERTH_E_NET,
                                         "cannot open store '%s': %s",
                                         ps->base.url, line);
        goto fail;
    }
    PQsetNoticeProcessor(ps->conn, ignore_notice, NULL);
    if ((rc = migrate(ps, err)) != 0)
        goto fail;
    *out = &ps->base;
    return 0;
fail:
    pg_close(&ps->base);
    return rc;
}

static int pg_schema_version(struct berth_store *st, int *out,
                             struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    int rc = pg_ensure(ps, err);
    return rc ? rc : read_version(ps, out, err);
}

/* ---- meta --------------------------------------------------------------- */

static int pg_meta_get(struct berth_store *st, const char *key, char **out,
                       struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, key);
    rc = pg_run(ps, P_META_GET, &p, &r, "read meta", err);
    pgp_release(&p);
    if (rc)
        return rc;
    if (PQntuples(r) > 0)
        *out = berth_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static int pg_meta_set(struct berth_store *st, const char *key,
                       const char *value, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, key);
    pgp_text(&p, 2, value);
    rc = pg_run(ps, P_META_SET, &p, NULL, "write meta", err);
    pgp_release(&p);
    return rc;
}

/* ---- templates ---------------------------------------------------------- */

static int pg_template_put(struct berth_store *st,
                           const struct berth_template *t,
                           struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth__binder b;
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    param_binder(&b, &p);
    berth__template_bind(&b, 1, t);
    rc = pg_run(ps, P_TPL_PUT, &p, NULL, "write template", err);
    pgp_release(&p);
    return rc;
}

static int pg_template_get(struct berth_store *st, const char *name,
                           struct berth_template *out, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth__row row;
    struct pgrow pr;
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, name);
    rc = pg_run(ps, P_TPL_GET, &p, &r, "read template", err);
    pgp_release(&p);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "template '%s' not found",
                           name);
    } else {
        reader(&row, &pr, r);
        rc = berth__template_decode(&row, 0, out, err);
    }
    PQclear(r);
    return rc;
}

static int pg_template_list(struct berth_store *st, struct berth_template **out,
                            size_t *n, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth_template *v;
    struct berth__row row;
    struct pgrow pr;
    PGresult *r;
    int rows, rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    if ((rc = pg_run(ps, P_TPL_LIST, NULL, &r, "list templates", err)) != 0)
        return rc;
    rows = PQntuples(r);
    v = berth_xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    reader(&row, &pr, r);
    for (int i = 0; i < rows; i++) {
        pr.row = i;
        if ((rc = berth__template_decode(&row, 0, &v[i], err)) != 0) {
            berth_store_templates_free(v, (size_t)i);
            PQclear(r);
            return rc;
        }
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

/* Run a one-parameter delete or update; NOTFOUND when it changed nothing. */
static int pg_change_one(struct pg_store *ps, enum pstmt id, struct pgp *p,
                         const char *what, const char *kind, const char *name,
                         struct berth_err *err)
{
    PGresult *r;
    int rc = pg_run(ps, id, p, &r, what, err);
    if (rc)
        return rc;
    if (affected(r) == 0)
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "%s '%s' not found", kind,
                           name);
    PQclear(r);
    return rc;
}

static int pg_template_delete(struct berth_store *st, const char *name,
                              struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, name);
    rc = pg_change_one(ps, P_TPL_DEL, &p, "delete template", "template", name,
                       err);
    pgp_release(&p);
    return rc;
}

/* ---- hosts -------------------------------------------------------------- */

static int pg_host_put(struct berth_store *st, const struct berth_host *h,
                       bool keep_enabled, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth__binder b;
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    param_binder(&b, &p);
    berth__host_bind(&b, 1, h);
    pgp_bool(&p, 8, h->enabled);
    pgp_bool(&p, 10, keep_enabled);
    rc = pg_run(ps, P_HOST_PUT, &p, NULL, "write host", err);
    pgp_release(&p);
    return rc;
}

static int pg_host_get(struct berth_store *st, const char *name,
                       struct berth_host *out, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth__row row;
    struct pgrow pr;
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, name);
    rc = pg_run(ps, P_HOST_GET, &p, &r, "read host", err);
    pgp_release(&p);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "host '%s' not found", name);
    } else {
        reader(&row, &pr, r);
        berth__host_decode(&row, 0, out);
    }
    PQclear(r);
    return rc;
}

static int pg_host_list(struct berth_store *st, struct berth_host **out,
                        size_t *n, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth_host *v;
    struct berth__row row;
    struct pgrow pr;
    PGresult *r;
    int rows, rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    if ((rc = pg_run(ps, P_HOST_LIST, NULL, &r, "list hosts", err)) != 0)
        return rc;
    rows = PQntuples(r);
    v = berth_xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    reader(&row, &pr, r);
    for (int i = 0; i < rows; i++) {
        pr.row = i;
        berth__host_decode(&row, 0, &v[i]);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

static int pg_host_delete(struct berth_store *st, const char *name,
                          struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    PGresult *r = NULL;
    int64_t active;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, name);
    if ((rc = pg_begin(ps, err)) != 0)
        goto out;
    /* Lock the host first: an apply reserving on it holds the same lock,
     * so the count below (a new snapshot) sees every committed launch. */
    if ((rc = pg_run(ps, P_HOST_LOCK_ONE, &p, &r, "lock host", err)) != 0)
        goto fail;
    if (PQntuples(r) == 0) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "host '%s' not found", name);
        goto fail;
    }
    PQclear(r);
    if ((rc = pg_run(ps, P_HOST_ACTIVE, &p, &r, "count jobs on host", err)))
        goto fail;
    active = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (active > 0) {
        rc = berth_err_set(err, BERTH_E_CONFLICT,
                           "host '%s' has %lld job(s) launching or running; "
                           "disable it and wait for them to finish",
                           name, (long long)active);
        goto fail;
    }
    PQclear(r);
    r = NULL;
    if ((rc = pg_run(ps, P_HOST_DEL, &p, NULL, "delete host", err)) != 0)
        goto fail;
    rc = pg_commit(ps, err);
    goto out;
fail:
    pg_rollback(ps);
out:
    PQclear(r);
    pgp_release(&p);
    return rc;
}

static int pg_host_set_enabled(struct berth_store *st, const char *name,
                               bool enabled, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, name);
    pgp_bool(&p, 2, enabled);
    rc = pg_change_one(ps, P_HOST_ENABLE, &p, "write host", "host", name, err);
    pgp_release(&p);
    return rc;
}

/* ---- jobs --------------------------------------------------------------- */

static int pg_job_submit(struct berth_store *st, const struct berth_job *spec,
                         size_t count, int64_t now, int64_t *first_id,
                         struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    int64_t ready = spec->not_before > now ? spec->not_before : now;
    struct berth__binder b;
    struct pgp p = {0};
    PGresult *r = NULL;
    int64_t lo, hi, n;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    param_binder(&b, &p);
    berth__job_bind_spec(&b, 1, spec);
    pgp_i64(&p, 25, now);
    pgp_i64(&p, 26, ready);
    pgp_i64(&p, 27, (int64_t)count);
    if ((rc = pg_begin(ps, err)) != 0)
        goto out;
    /* Submissions queue on this lock, so that nobody else draws from the
     * id sequence while this one does: its ids are consecutive. */
    if ((rc = pg_run(ps, P_SUBMIT_LOCK, NULL, NULL, "lock for submit", err)))
        goto fail;
    if ((rc = pg_run(ps, P_SUBMIT, &p, &r, "insert jobs", err)) != 0)
        goto fail;
    lo = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    hi = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    n = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    if (n != (int64_t)count || hi - lo + 1 != n) {
        rc = berth_err_set(err, BERTH_E_STORE,
                           "store '%s': submitted ids %lld..%lld are not %zu "
                           "consecutive ids (is something else inserting "
                           "jobs?)",
                           ps->base.url, (long long)lo, (long long)hi, count);
        goto fail;
    }
    if ((rc = pg_commit(ps, err)) != 0)
        goto fail;
    *first_id = lo;
    goto out;
fail:
    pg_rollback(ps);
out:
    PQclear(r);
    pgp_release(&p);
    return rc;
}

static int pg_job_get(struct berth_store *st, int64_t id, struct berth_job *out,
                      struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth__row row;
    struct pgrow pr;
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_i64(&p, 1, id);
    rc = pg_run(ps, P_JOB_GET, &p, &r, "read job", err);
    pgp_release(&p);
    if (rc)
        return rc;
    if (PQntuples(r) == 0) {
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "job %lld not found",
                           (long long)id);
    } else {
        reader(&row, &pr, r);
        rc = berth__job_decode(&row, 0, out, err);
    }
    PQclear(r);
    return rc;
}

static int pg_job_list(struct berth_store *st, const struct berth_job_filter *f,
                       struct berth_job **out, size_t *n, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth_buf q = BERTH_BUF_INIT;
    struct pgp p = {0};
    PGresult *r;
    int k = 0;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    berth_buf_puts(&q, "SELECT " BERTH__JOB_COLS " FROM jobs WHERE true");
    if (f->status >= 0) {
        berth_buf_printf(&q, " AND status = $%d", ++k);
        pgp_text(&p, k, berth_job_state_str((enum berth_job_state)f->status));
    }
    if (f->executor) {
        berth_buf_printf(&q, " AND executor = $%d", ++k);
        pgp_text(&p, k, f->executor);
    }
    if (f->host) {
        berth_buf_printf(&q, " AND host = $%d", ++k);
        pgp_text(&p, k, f->host);
    }
    if (f->template_name) {
        berth_buf_printf(&q, " AND template_name = $%d", ++k);
        pgp_text(&p, k, f->template_name);
    }
    if (f->owner) {
        berth_buf_printf(&q, " AND owner = $%d", ++k);
        pgp_text(&p, k, f->owner);
    }
    if (f->with_start_deadline)
        berth_buf_puts(&q, " AND start_deadline > 0");
    if (f->cancel_requested)
        berth_buf_puts(&q, " AND cancel_requested");
    berth_buf_puts(&q, f->newest_first ? " ORDER BY id DESC" : " ORDER BY id");
    if (f->limit > 0) {
        berth_buf_printf(&q, " LIMIT $%d", ++k);
        pgp_i64(&p, k, (int64_t)f->limit);
    }
    r = PQexecParams(ps->conn, berth_buf_cstr(&q), p.n, NULL,
                     (const char *const *)p.v, p.len, p.fmt, 0);
    berth_buf_release(&q);
    pgp_release(&p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(ps, r, "list jobs", err);
        PQclear(r);
        return rc;
    }
    rc = collect_jobs(r, out, n, err);
    PQclear(r);
    return rc;
}

static int pg_job_events(struct berth_store *st, int64_t job_id,
                         struct berth_job_event **out, size_t *n,
                         struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth_job_event *v;
    struct berth__row row;
    struct pgrow pr;
    struct pgp p = {0};
    PGresult *r;
    int rows, rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_i64(&p, 1, job_id);
    rc = pg_run(ps, P_EVENTS, &p, &r, "read events", err);
    pgp_release(&p);
    if (rc)
        return rc;
    rows = PQntuples(r);
    v = berth_xcalloc(rows ? (size_t)rows : 1, sizeof(*v));
    reader(&row, &pr, r);
    for (int i = 0; i < rows; i++) {
        pr.row = i;
        if ((rc = berth__event_decode(&row, 0, &v[i], err)) != 0) {
            berth_store_events_free(v, (size_t)i + 1);
            PQclear(r);
            return rc;
        }
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

static int pg_job_purge(struct berth_store *st, int64_t finished_before,
                        size_t max, size_t *purged, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_i64(&p, 1, finished_before);
    if (max)
        pgp_i64(&p, 2, (int64_t)max);
    else
        pgp_set(&p, 2, NULL, 0, 0); /* LIMIT NULL: all */
    rc = pg_run(ps, P_PURGE, &p, &r, "purge jobs", err);
    pgp_release(&p);
    if (rc)
        return rc;
    *purged = (size_t)affected(r);
    PQclear(r);
    return 0;
}

/*
 * Send `ids` (with their parameters) in one pipeline: one round trip, one
 * implicit transaction. The last statement's result goes to *out; the
 * others must succeed. On failure nothing is returned.
 */
static int pg_pipeline(struct pg_store *ps, const enum pstmt *ids,
                       struct pgp *const *params, int n, PGresult **out,
                       const char *what, struct berth_err *err)
{
    PGresult *r, *last = NULL;
    int rc = 0;
    bool sent = true;

    *out = NULL;
    for (int i = 0; i < n; i++) {
        if ((rc = pg_prepare(ps, ids[i], err)) != 0)
            return rc;
    }
    if (!PQenterPipelineMode(ps->conn))
        return pg_fail(ps, NULL, what, err);
    for (int i = 0; i < n && sent; i++) {
        char name[32];
        const struct pgp *p = params[i];
        pstmt_name(ids[i], name, sizeof(name));
        sent =
            PQsendQueryPrepared(ps->conn, name, p->n, (const char *const *)p->v,
                                p->len, p->fmt, 0) == 1;
    }
    if (!sent || !PQpipelineSync(ps->conn)) {
        rc = pg_fail(ps, NULL, what, err);
        /* drain what was sent; the connection stays usable */
    }
    /* Results: per statement one result then NULL; then the sync. */
    for (int i = 0; i < n; i++) {
        r = PQgetResult(ps->conn);
        if (!r)
            break;
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK &&
            PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = pg_fail(ps, r, what, err);
        if (i == n - 1 && rc == 0)
            last = r;
        else
            PQclear(r);
        while ((r = PQgetResult(ps->conn)) != NULL) {
            if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                goto synced;
            }
            PQclear(r);
        }
    }
    while ((r = PQgetResult(ps->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        if (st == PGRES_PIPELINE_SYNC)
            break;
    }
synced:
    if (!PQexitPipelineMode(ps->conn) && rc == 0)
        rc = pg_fail(ps, NULL, what, err);
    if (rc) {
        PQclear(last);
        return rc;
    }
    *out = last;
    return 0;
}

static int pg_job_claim(struct berth_store *st, bool orphans, const char *owner,
                        int64_t now, int64_t lease_until, size_t max,
                        struct berth_job **out, size_t *n,
                        struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp sweep = {0}, p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, owner);
    pgp_i64(&p, 2, lease_until);
    pgp_i64(&p, 3, now);
    pgp_i64(&p, 4, (int64_t)max);
    if (orphans) {
        rc = pg_run(ps, P_CLAIM_ORPHANS, &p, &r, "claim orphaned jobs", err);
    } else {
        /* Claims whose lease ran out go back to the pool first; both
         * statements travel in one round trip. */
        const enum pstmt ids[] = {P_CLAIM_EXPIRED, P_CLAIM};
        struct pgp *const params[] = {&sweep, &p};
        pgp_i64(&sweep, 1, now);
        rc = pg_pipeline(ps, ids, params, 2, &r, "claim jobs", err);
    }
    pgp_release(&sweep);
    pgp_release(&p);
    if (rc)
        return rc;
    rc = collect_jobs(r, out, n, err);
    PQclear(r);
    if (rc == 0)
        berth__jobs_sort_claim(*out, *n);
    return rc;
}

static int pg_lease_renew(struct berth_store *st, const char *owner,
                          int64_t lease_until, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, owner);
    pgp_i64(&p, 2, lease_until);
    rc = pg_run(ps, P_RENEW, &p, NULL, "renew lease", err);
    pgp_release(&p);
    return rc;
}

static int pg_lease_release(struct berth_store *st, const char *owner,
                            struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_text(&p, 1, owner);
    rc = pg_run(ps, P_RELEASE, &p, NULL, "release lease", err);
    pgp_release(&p);
    return rc;
}

/* ---- apply -------------------------------------------------------------- */

/*
 * Round trips of one apply: [BEGIN, lock the jobs], [lock the hosts], then
 * [write jobs, host usage, events, logs, COMMIT], each bracket one
 * pipeline. Over a network this matters more than the statements.
 */
static int lock_rows(struct pg_store *ps, struct berth__apply *a,
                     struct berth_err *err)
{
    struct berth__binder b;
    struct berth__row row;
    struct pgrow pr;
    struct pga arr = {0};
    struct pgp none = {0}, p = {0};
    PGresult *r;
    int rc = 0;

    if (a->nrows) {
        const enum pstmt ids[] = {P_BEGIN, P_ROWS_LOCK};
        struct pgp *const params[] = {&none, &p};
        array_binder(&b, &arr);
        for (size_t i = 0; i < a->nrows; i++)
            b.i64(b.ctx, 1, a->rows[i].id);
        pga_finish(&arr, &p);
        pga_release(&arr);
        rc = pg_pipeline(ps, ids, params, 2, &r, "lock jobs", err);
        pgp_release(&p);
        if (rc)
            return rc;
        reader(&row, &pr, r);
        for (int i = 0; i < PQntuples(r); i++) {
            struct berth__job_row *jr;
            pr.row = i;
            jr = berth__apply_row(a, row.i64(row.ctx, 0));
            if (!jr)
                continue;
            if ((rc = berth__job_row_decode(&row, 0, jr, err)) != 0)
                break;
        }
        PQclear(r);
        if (rc)
            return rc;
    } else if ((rc = pg_begin(ps, err)) != 0) {
        return rc;
    }

    berth__apply_want_hosts(a);
    if (!a->nhosts)
        return 0;
    array_binder(&b, &arr);
    for (size_t i = 0; i < a->nhosts; i++)
        b.text(b.ctx, 1, a->hosts[i].name);
    pga_finish(&arr, &p);
    pga_release(&arr);
    rc = pg_run(ps, P_HOSTS_LOCK, &p, &r, "lock hosts", err);
    pgp_release(&p);
    if (rc)
        return rc;
    reader(&row, &pr, r);
    for (int i = 0; i < PQntuples(r); i++) {
        struct berth__host_row *h;
        pr.row = i;
        h = berth__apply_host(a, row.text(row.ctx, 0));
        if (h)
            berth__host_row_decode(&row, 0, h);
    }
    PQclear(r);
    return 0;
}

static void hex_append(struct berth_buf *b, const char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char chunk[256];
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        chunk[k++] = digits[c >> 4];
        chunk[k++] = digits[c & 15];
        if (k == sizeof(chunk)) {
            berth_buf_append(b, chunk, k);
            k = 0;
        }
    }
    berth_buf_append(b, chunk, k);
}

/* The parameters of each write statement; false when it has nothing to
 * write. */
static bool rows_params(const struct berth__apply *a, struct pgp *out)
{
    struct berth__binder b;
    struct pga arr = {0};
    size_t k = 0;

    array_binder(&b, &arr);
    for (size_t i = 0; i < a->nrows; i++) {
        const struct berth__job_row *row = &a->rows[i];
        if (!row->dirty || !row->changed)
            continue;
        b.i64(b.ctx, 1, row->id);
        berth__job_row_bind_state(&b, 2, row);
        k++;
    }
    if (k)
        pga_finish(&arr, out);
    pga_release(&arr);
    return k > 0;
}

static bool hosts_params(const struct berth__apply *a, struct pgp *out)
{
    struct berth__binder b;
    struct pga arr = {0};
    size_t k = 0;

    array_binder(&b, &arr);
    for (size_t i = 0; i < a->nhosts; i++) {
        const struct berth__host_row *h = &a->hosts[i];
        if (!h->found ||
            (h->d_jobs == 0 && h->d_memory_mb == 0 && h->d_cpu_millis == 0))
            continue;
        b.text(b.ctx, 1, h->name);
        b.i64(b.ctx, 2, h->d_jobs);
        b.i64(b.ctx, 3, h->d_memory_mb);
        b.i64(b.ctx, 4, h->d_cpu_millis);
        k++;
    }
    if (k)
        pga_finish(&arr, out);
    pga_release(&arr);
    return k > 0;
}

static bool events_params(const struct berth__apply *a, struct pgp *out)
{
    struct berth__binder b;
    struct pga arr = {0};

    if (!a->nevents)
        return false;
    array_binder(&b, &arr);
    for (size_t i = 0; i < a->nevents; i++) {
        const struct berth__event_row *e = &a->events[i];
        b.i64(b.ctx, 1, e->job_id);
        b.i64(b.ctx, 2, e->at);
        b.text(b.ctx, 3, berth_job_state_str(e->from));
        b.text(b.ctx, 4, berth_job_state_str(e->to));
        b.i64(b.ctx, 5, e->attempt);
        b.text(b.ctx, 6, e->executor);
        b.text(b.ctx, 7, e->host);
        b.text(b.ctx, 8, e->reason);
        b.i64(b.ctx, 9, e->launch_failure ? 1 : 0);
    }
    pga_finish(&arr, out);
    pga_release(&arr);
    return true;
}

static bool logs_params(const struct berth__apply *a, struct pgp *out)
{
    struct berth__binder b;
    struct pga arr = {0};
    size_t k = 0;

    array_binder(&b, &arr);
    for (size_t i = 0; i < a->nlogs; i++) {
        const struct berth__logs_row *l = &a->logs[i];
        struct berth_buf *o, *e;
        bool later = false;
        /* ON CONFLICT may touch a row once per statement: the last logs
         * of a (job, attempt) win, as they would one put after another. */
        for (size_t j = i + 1; j < a->nlogs && !later; j++)
            later = a->logs[j].job_id == l->job_id &&
                    a->logs[j].attempt == l->attempt;
        if (later)
            continue;
        b.i64(b.ctx, 1, l->job_id);
        b.i64(b.ctx, 2, l->attempt);
        o = pga_elem(&arr, 3);
        berth_buf_puts(o, "\"");
        hex_append(o, l->logs->out ? l->logs->out : "", l->logs->out_len);
        berth_buf_puts(o, "\"");
        e = pga_elem(&arr, 4);
        berth_buf_puts(e, "\"");
        hex_append(e, l->logs->err ? l->logs->err : "", l->logs->err_len);
        berth_buf_puts(e, "\"");
        b.i64(b.ctx, 5, l->logs->truncated ? 1 : 0);
        k++;
    }
    if (k)
        pga_finish(&arr, out);
    pga_release(&arr);
    return k > 0;
}

/* Every write and the COMMIT, in one pipeline. */
static int write_back(struct pg_store *ps, struct berth__apply *a,
                      struct berth_err *err)
{
    struct pgp p[5];
    enum pstmt ids[5];
    struct pgp *params[5];
    PGresult *r = NULL;
    int n = 0;
    int rc;

    memset(p, 0, sizeof(p));
    if (rows_params(a, &p[n]))
        ids[n++] = P_ROWS_WRITE;
    if (hosts_params(a, &p[n]))
        ids[n++] = P_HOSTS_DELTA;
    if (events_params(a, &p[n]))
        ids[n++] = P_EVENTS_INSERT;
    if (logs_params(a, &p[n]))
        ids[n++] = P_LOGS_PUT_MANY;
    ids[n++] = P_COMMIT;
    for (int i = 0; i < n; i++)
        params[i] = &p[i];
    rc = pg_pipeline(ps, ids, params, n, &r, "write jobs", err);
    PQclear(r);
    for (int i = 0; i < n; i++)
        pgp_release(&p[i]);
    return rc;
}

static int pg_apply(struct berth_store *st, struct berth_job_update *ups,
                    size_t n, int64_t now, size_t *applied,
                    struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct berth__apply a;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    berth__apply_init(&a, ups, n, now);
    for (int attempt = 0;; attempt++) {
        if ((rc = lock_rows(ps, &a, err)) == 0) {
            berth__apply_run(&a);
            if ((rc = write_back(ps, &a, err)) == 0) {
                *applied = a.applied;
                break;
            }
        }
        pg_rollback(ps);
        if (!ps->retryable || attempt + 1 >= APPLY_RETRIES)
            break;
        /* A deadlock victim: nothing was written; decide again on fresh
         * rows. */
        berth__apply_reset(&a);
    }
    berth__apply_release(&a);
    return rc;
}

/* ---- logs --------------------------------------------------------------- */

static int pg_logs_put(struct berth_store *st, int64_t job_id, int attempt,
                       const struct berth_job_logs *logs, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    PGresult *r;
    ExecStatusType s;
    int rc;

    if (logs->out_len > INT32_MAX / 2 || logs->err_len > INT32_MAX / 2)
        return berth_err_set(err, BERTH_E_TOOBIG,
                             "logs of job %lld are too big to store",
                             (long long)job_id);
    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_i64(&p, 1, job_id);
    pgp_i64(&p, 2, attempt);
    pgp_bin(&p, 3, logs->out ? logs->out : "", logs->out_len);
    pgp_bin(&p, 4, logs->err ? logs->err : "", logs->err_len);
    pgp_bool(&p, 5, logs->truncated);
    if ((rc = pg_prepare(ps, P_LOGS_PUT, err)) != 0) {
        pgp_release(&p);
        return rc;
    }
    r = pg_exec(ps, P_LOGS_PUT, &p);
    pgp_release(&p);
    s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK)
        rc = 0;
    else if (is_fk_violation(r))
        rc = berth_err_set(err, BERTH_E_NOTFOUND, "job %lld not found",
                           (long long)job_id);
    else
        rc = pg_fail(ps, r, "write logs", err);
    PQclear(r);
    return rc;
}

static char *bytea_dup(const PGresult *r, int col, size_t *len)
{
    size_t n = 0;
    unsigned char *raw =
        PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, col), &n);
    char *out;
    if (!raw)
        BERTH_BUG("PQunescapeBytea failed");
    out = berth_xmalloc(n + 1);
    if (n)
        memcpy(out, raw, n);
    out[n] = '\0';
    PQfreemem(raw);
    *len = n;
    return out;
}

static int pg_logs_get(struct berth_store *st, int64_t job_id,
                       struct berth_job_logs *out, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    pgp_i64(&p, 1, job_id);
    rc = pg_run(ps, P_LOGS_GET, &p, &r, "read logs", err);
    pgp_release(&p);
    if (rc)
        return rc;
    if (PQntuples(r) > 0) {
        out->out = bytea_dup(r, 0, &out->out_len);
        out->err = bytea_dup(r, 1, &out->err_len);
        out->truncated = PQgetvalue(r, 0, 2)[0] == 't';
    }
    PQclear(r);
    return 0;
}

/* ---- figures ------------------------------------------------------------ */

static int count1(struct pg_store *ps, enum pstmt id, struct pgp *p,
                  int64_t *out, struct berth_err *err)
{
    PGresult *r;
    int rc = pg_run(ps, id, p, &r, "read figures", err);
    if (rc)
        return rc;
    *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

static int pg_stats(struct berth_store *st, int64_t now,
                    struct berth_store_stats *out, struct berth_err *err)
{
    struct pg_store *ps = to_pg(st);
    struct pgp p = {0};
    PGresult *r;
    int rc;

    if ((rc = pg_ensure(ps, err)) != 0)
        return rc;
    /* One snapshot for all the figures. */
    rc = pg_simple(ps, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                   "begin transaction", err);
    if (rc)
        return rc;
    if ((rc = pg_run(ps, P_STATS_STATES, NULL, &r, "read figures", err)))
        goto fail;
    for (int i = 0; i < PQntuples(r); i++) {
        enum berth_job_state js;
        if (berth_job_state_parse(PQgetvalue(r, i, 0), &js) == 0)
            out->by_state[js] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    pgp_i64(&p, 1, now);
    rc = count1(ps, P_STATS_READY, &p, &out->pending_ready, err);
    pgp_release(&p);
    if (rc)
        goto fail;
    out->pending_scheduled =
        out->by_state[BERTH_JOB_PENDING] - out->pending_ready;
    if ((rc = count1(ps, P_STATS_FAILURES, NULL, &out->launch_failures, err)))
        goto fail;
    return pg_commit(ps, err);
fail:
    pg_rollback(ps);
    return rc;
}

static const char *const pg_prefixes[] = {"postgresql://", "postgres://", NULL};

const struct berth_store_ops berth__store_pg = {
    .name = "postgresql",
    .prefixes = pg_prefixes,
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .template_put = pg_template_put,
    .template_get = pg_template_get,
    .template_list = pg_template_list,
    .template_delete = pg_template_delete,
    .host_put = pg_host_put,
    .host_get = pg_host_get,
    .host_list = pg_host_list,
    .host_delete = pg_host_delete,
    .host_set_enabled = pg_host_set_enabled,
    .job_submit = pg_job_submit,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .job_events = pg_job_events,
    .job_purge = pg_job_purge,
    .job_claim = pg_job_claim,
    .lease_renew = pg_lease_renew,
    .lease_release = pg_lease_release,
    .apply = pg_apply,
    .logs_put = pg_logs_put,
    .logs_get = pg_logs_get,
    .stats = pg_stats,
};
