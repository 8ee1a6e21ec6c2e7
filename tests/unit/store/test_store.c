/*
 * test_store.c - the store suite (store_suite.h) on SQLite, plus what only
 * the URL and the file can get wrong: malformed URLs, a corrupted file, an
 * unreachable PostgreSQL, a schema newer than this build.
 *
 * The same suite runs on PostgreSQL in tests/integration/itest_store_pg.c.
 */
#include <sqlite3.h>

#include "store_suite.h"

#include "store/store_int.h" /* the migrations, to build an old store */

static char *sqlite_new_url(void)
{
    char *dir = bt_tmpdir("sqlite");
    char *url = berth_xasprintf("sqlite:%s/berth.db", dir);
    free(dir);
    return url;
}

static void sqlite_drop_url(const char *url)
{
    const char *path = url + strlen("sqlite:");
    const char *slash = strrchr(path, '/');
    char *dir = berth_xstrndup(path, (size_t)(slash - path));
    bt_rmtree(dir);
    free(dir);
}

static void sqlite_exec_sql(const char *url, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(url + strlen("sqlite:"), &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static const struct suite_backend sqlite_backend = {
    .name = "sqlite",
    .new_url = sqlite_new_url,
    .drop_url = sqlite_drop_url,
    .exec_sql = sqlite_exec_sql,
    .boom_trigger_sql =
        "CREATE TRIGGER boom BEFORE INSERT ON job_events "
        "WHEN NEW.reason = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
};

/* ---- bad input ---------------------------------------------------------- */

static int open_err(const char *url, struct berth_err *err)
{
    struct berth_store *st = (struct berth_store *)1;
    int rc;
    berth_err_init(err);
    rc = berth_store_open(url, &st, err);
    assert_null(st);
    return rc;
}

static void test_open__malformed_url_names_the_url_and_the_forms(void **state)
{
    struct berth_err err;
    (void)state;

    assert_int_equal(open_err("mysql://db/x", &err), BERTH_E_INVALID);
    assert_non_null(strstr(err.msg, "'mysql://db/x'"));
    assert_non_null(strstr(err.msg, "sqlite:PATH"));
    assert_int_equal(open_err("", &err), BERTH_E_INVALID);
    assert_int_equal(open_err("sqlite:", &err), BERTH_E_INVALID);
    assert_non_null(strstr(err.msg, "no path"));
    /* a password never reaches a message */
    assert_int_equal(open_err("mysql://bob:hunter2@db/x", &err),
                     BERTH_E_INVALID);
    assert_null(strstr(err.msg, "hunter2"));
    assert_non_null(strstr(err.msg, "bob:***@db"));
}

static void test_open__corrupted_sqlite_file_is_a_clear_error(void **state)
{
    struct berth_err err;
    char *dir = bt_tmpdir("corrupt");
    char *path = berth_xasprintf("%s/berth.db", dir);
    char *url = berth_xasprintf("sqlite:%s", path);
    (void)state;

    bt_write_file(path, "this is not an SQLite database, just some text "
                        "that is long enough to look like a header......");
    assert_int_equal(open_err(url, &err), BERTH_E_STORE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not a usable database"));

    /* a directory where the file should be */
    free(url);
    url = berth_xasprintf("sqlite:%s", dir);
    assert_int_not_equal(open_err(url, &err), 0);
    assert_non_null(strstr(err.msg, dir));

    /* a directory that does not exist */
    free(url);
    url = berth_xasprintf("sqlite:%s/missing/berth.db", dir);
    assert_int_equal(open_err(url, &err), BERTH_E_IO);
    assert_non_null(strstr(err.msg, "missing"));

    bt_rmtree(dir);
    free(url);
    free(path);
    free(dir);
}

static void test_open__unreachable_postgresql_is_a_transient_error(void **state)
{
    struct berth_err err;
    int rc;
    (void)state;

    /* port 1 on loopback: nothing listens, refused at once */
    rc = open_err("postgresql://berth:secret@127.0.0.1:1/berth"
                  "?connect_timeout=5",
                  &err);
    if (rc == BERTH_E_UNSUPPORTED)
        skip();
    assert_int_equal(rc, BERTH_E_NET);
    assert_true(err.transient);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_null(strstr(err.msg, "secret"));
}

static void test_open__newer_schema_is_refused(void **state)
{
    struct berth_store *st = NULL;
    struct berth_err err;
    char *url = sqlite_new_url();
    const char *path = url + strlen("sqlite:");
    sqlite3 *db;
    (void)state;

    berth_err_init(&err);
    assert_int_equal(berth_store_open(url, &st, &err), 0);
    berth_store_free(st);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO schema_version VALUES "
                                  "(999, 'future', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(open_err(url, &err), BERTH_E_STORE);
    assert_non_null(strstr(err.msg, "999"));
    sqlite_drop_url(url);
    free(url);
}

/* A store created by the first release (schema v1) is upgraded in place
 * and keeps its jobs. */
static void test_open__v1_store_is_upgraded_in_place(void **state)
{
    struct berth_store *st = NULL;
    struct berth_job_filter f = BERTH_JOB_FILTER_INIT;
    struct berth_job j, *v;
    struct berth_err err;
    char *url = sqlite_new_url();
    char *sql;
    int version = 0;
    size_t n;
    (void)state;

    sqlite_exec_sql(url, berth__sqlite_migrations[0].sql);
    sql = berth_xasprintf(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at INTEGER NOT NULL); "
        "INSERT INTO schema_version VALUES (1, 'initial schema', 0); "
        "INSERT INTO jobs (image, created_at, ready_at, start_deadline) "
        "VALUES ('old/image', %lld, %lld, 60)",
        (long long)T0, (long long)T0);
    sqlite_exec_sql(url, sql);
    free(sql);

    berth_err_init(&err);
    assert_int_equal(berth_store_open(url, &st, &err), 0);
    assert_int_equal(berth_store_schema_version(st, &version, &err), 0);
    assert_true(version >= 3);
    assert_int_equal(berth_store_job_get(st, 1, &j, &err), 0);
    assert_string_equal(j.image, "old/image");
    assert_int_equal(j.peak_memory_bytes, -1);
    berth_job_release(&j);
    f.status = BERTH_JOB_PENDING;
    f.with_start_deadline = true;
    assert_int_equal(berth_store_job_list(st, &f, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    berth_store_jobs_free(v, n);
    assert_int_equal(
        berth_store_job_claim(st, "w", T0, T0 + 1, 5, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    berth_store_jobs_free(v, n);
    berth_store_free(st);
    sqlite_drop_url(url);
    free(url);
}

static void test_open__memory_store_works_and_is_private(void **state)
{
    struct berth_store *a = NULL, *b = NULL;
    struct berth_job j;
    struct berth_err err;
    int64_t id;
    (void)state;

    berth_err_init(&err);
    assert_int_equal(berth_store_open("sqlite::memory:", &a, &err), 0);
    assert_int_equal(berth_store_open("sqlite::memory:", &b, &err), 0);
    berth_job_init(&j);
    j.image = berth_xstrdup("img");
    assert_int_equal(berth_store_job_submit(a, &j, 2, T0, &id, &err), 0);
    berth_job_release(&j);
    assert_int_equal(id, 1);
    assert_int_equal(berth_store_job_get(b, 1, &j, &err), BERTH_E_NOTFOUND);
    berth_store_free(a);
    berth_store_free(b);
    berth_store_free(NULL);
}

int main(void)
{
    const struct CMUnitTest open_tests[] = {
        cmocka_unit_test(test_open__malformed_url_names_the_url_and_the_forms),
        cmocka_unit_test(test_open__corrupted_sqlite_file_is_a_clear_error),
        cmocka_unit_test(
            test_open__unreachable_postgresql_is_a_transient_error),
        cmocka_unit_test(test_open__newer_schema_is_refused),
        cmocka_unit_test(test_open__v1_store_is_upgraded_in_place),
        cmocka_unit_test(test_open__memory_store_works_and_is_private),
    };
    int failed =
        cmocka_run_group_tests_name("store open", open_tests, NULL, NULL);
    failed += run_store_suite(&sqlite_backend);
    return failed ? 1 : 0;
}
