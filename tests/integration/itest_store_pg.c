/*
 * itest_store_pg.c - the store suite (tests/unit/store/store_suite.h) on a
 * real PostgreSQL, plus what only PostgreSQL can get wrong (several
 * processes migrating one new database at once).
 *
 * Needs $BERTH_TEST_PG (scripts/start-postgres prints it); without it the
 * test says so loudly and exits 77 (skipped). It creates a database with a
 * fresh name and drops it at the end, and gives every test its own schema
 * (through the URL's `options=-csearch_path=…`), so parallel runs and tests
 * never see each other's rows.
 */
#include <libpq-fe.h>
#include <time.h>

#include "../unit/store/store_suite.h"

static char *db_url;  /* the test database */
static char *db_name; /* its name */
static int schema_seq;

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void admin_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "itest_store_pg: connect %s: %s", url,
                PQerrorMessage(c));
        exit(1);
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "itest_store_pg: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
    PQfinish(c);
}

/* url with its database replaced by `db` (query string kept). */
static char *url_with_db(const char *url, const char *db)
{
    const char *hostpart = strstr(url, "://");
    const char *slash, *query;
    size_t head;

    if (!hostpart) {
        fprintf(stderr, "itest_store_pg: BERTH_TEST_PG '%s' is not a URL\n",
                url);
        exit(1);
    }
    hostpart += 3;
    slash = strchr(hostpart, '/');
    query = strchr(hostpart, '?');
    head = slash ? (size_t)(slash - url)
                 : (query ? (size_t)(query - url) : strlen(url));
    return berth_xasprintf("%.*s/%s%s", (int)head, url, db, query ? query : "");
}

static char *pg_new_url(void)
{
    char *sql, *url;
    int n = ++schema_seq;

    sql = berth_xasprintf("CREATE SCHEMA t_%d", n);
    admin_exec(db_url, sql);
    free(sql);
    url = berth_xasprintf("%s%soptions=-csearch_path%%3Dt_%d", db_url,
                          strchr(db_url, '?') ? "&" : "?", n);
    return url;
}

static void pg_drop_url(const char *url)
{
    const char *s = strstr(url, "search_path%3Dt_");
    char *sql;
    if (!s)
        return;
    sql = berth_xasprintf("DROP SCHEMA IF EXISTS t_%s CASCADE",
                          s + strlen("search_path%3Dt_"));
    admin_exec(db_url, sql);
    free(sql);
}

static void pg_exec_sql(const char *url, const char *sql)
{
    admin_exec(url, sql);
}

static const struct suite_backend pg_backend = {
    .name = "postgresql",
    .new_url = pg_new_url,
    .drop_url = pg_drop_url,
    .exec_sql = pg_exec_sql,
    .boom_trigger_sql =
        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF NEW.reason = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; "
        "RETURN NEW; END $$; "
        "CREATE TRIGGER boom BEFORE INSERT ON job_events FOR EACH ROW "
        "EXECUTE FUNCTION boom()",
};

/* Several processes open one new schema at the same time: each succeeds
 * and the migrations are recorded once. */
static void test_pg__concurrent_first_opens_migrate_once(void **state)
{
    char *url = pg_new_url();
    pid_t pids[NCHILD];
    int fds[2];
    (void)state;

    assert_int_equal(pipe(fds), 0);
    for (int i = 0; i < NCHILD; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct berth_store *st = NULL;
            struct berth_err err;
            barrier_wait(fds);
            berth_err_init(&err);
            if (berth_store_open(url, &st, &err) != 0) {
                fprintf(stderr, "child %d: %s\n", i, err.msg);
                _exit(2);
            }
            berth_store_free(st);
            _exit(0);
        }
        pids[i] = pid;
    }
    close(fds[0]);
    close(fds[1]);
    wait_children(pids, NCHILD);
    {
        struct berth_store *st = open_url(url);
        struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
        struct berth_job *v;
        size_t n;
        int version = 0;
        PGconn *c;
        PGresult *r;
        char *sql;

        OK(berth_store_schema_version(st, &version, &e_));
        OK(berth_store_job_list(st, &f, &v, &n, &e_));
        assert_int_equal(n, 0);
        free(v);
        berth_store_free(st);
        c = PQconnectdb(db_url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        sql = berth_xasprintf("SELECT COUNT(*) FROM t_%d.schema_version",
                              schema_seq);
        r = PQexec(c, sql);
        free(sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), version);
        PQclear(r);
        PQfinish(c);
    }
    pg_drop_url(url);
    free(url);
}

/* A bad database name is a clear, permanent error naming the URL. */
static void test_pg__missing_database_is_reported(void **state)
{
    char *url = url_with_db(db_url, "berth_no_such_db");
    struct berth_store *st = NULL;
    struct berth_err err;
    (void)state;

    berth_err_init(&err);
    assert_int_not_equal(berth_store_open(url, &st, &err), 0);
    assert_null(st);
    assert_non_null(strstr(err.msg, "berth_no_such_db"));
    free(url);
}

int main(void)
{
    const char *admin = getenv("BERTH_TEST_PG");
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_pg__concurrent_first_opens_migrate_once),
        cmocka_unit_test(test_pg__missing_database_is_reported),
    };
    char *sql;
    int failed;

    if (!admin || !*admin) {
        printf("SKIPPED: PostgreSQL (BERTH_TEST_PG not set; "
               "run scripts/start-postgres)\n");
        fprintf(stderr, "SKIPPED: PostgreSQL (BERTH_TEST_PG not set)\n");
        return 77;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    db_name =
        berth_xasprintf("berth_test_%d_%d", (int)getpid(), rand() % 100000);
    sql = berth_xasprintf("CREATE DATABASE %s", db_name);
    admin_exec(admin, sql);
    free(sql);
    db_url = url_with_db(admin, db_name);

    failed = run_store_suite(&pg_backend);
    failed +=
        cmocka_run_group_tests_name("postgresql only", pg_tests, NULL, NULL);

    sql = berth_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    admin_exec(admin, sql);
    free(sql);
    free(db_url);
    free(db_name);
    return failed ? 1 : 0;
}
