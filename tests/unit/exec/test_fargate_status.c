/* test_fargate_status.c - reading ECS answers: a DescribeTasks task into a
 * status, and AWS JSON errors into berth's retry classes. */
#include <stdio.h>
#include <string.h>

#include "berth_test.h"

#include "exec/fargate_int.h"

static struct berth_exec_status read_task(const char *json)
{
    struct berth_exec_status q;
    json_error_t jerr;
    json_t *t = json_loads(json, 0, &jerr);
    if (!t)
        fail_msg("bad test JSON: %s", jerr.text);
    memset(&q, 0, sizeof(q));
    berth__fargate_task_status(t, "main", &q);
    json_decref(t);
    return q;
}

static void test_fargate_status__states_follow_last_status(void **state)
{
    static const struct {
        const char *last;
        enum berth_exec_state want;
    } cases[] = {
        {"PROVISIONING", BERTH_EXEC_PENDING},
        {"PENDING", BERTH_EXEC_PENDING},
        {"ACTIVATING", BERTH_EXEC_PENDING},
        {"RUNNING", BERTH_EXEC_RUNNING},
        {"DEACTIVATING", BERTH_EXEC_RUNNING},
        {"STOPPING", BERTH_EXEC_RUNNING},
        {"DEPROVISIONING", BERTH_EXEC_RUNNING},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *j = berth_xasprintf("{\"lastStatus\": \"%s\", \"startedAt\": "
                                  "1700000000.5, \"containers\": []}",
                                  cases[i].last);
        struct berth_exec_status q = read_task(j);
        assert_int_equal(q.state, cases[i].want);
        assert_int_equal(q.started_at, 1700000000500000);
        free(j);
    }
}

static void test_fargate_status__exit_code_of_the_main_container(void **state)
{
    struct berth_exec_status q;
    (void)state;
    q = read_task("{\"lastStatus\": \"STOPPED\", \"stopCode\": "
                  "\"EssentialContainerExited\", \"stoppedReason\": "
                  "\"Essential container in task exited\", \"startedAt\": 10, "
                  "\"stoppedAt\": 12.25, \"containers\": ["
                  "{\"name\": \"sidecar\", \"exitCode\": 0},"
                  "{\"name\": \"main\", \"exitCode\": 2}]}");
    assert_int_equal(q.state, BERTH_EXEC_EXITED);
    assert_int_equal(q.exit_code, 2);
    assert_false(q.cancelled);
    assert_false(q.oom_killed);
    assert_int_equal(q.finished_at, 12250000);
    assert_string_equal(q.message, "Essential container in task exited");

    q = read_task("{\"lastStatus\": \"STOPPED\", \"containers\": ["
                  "{\"name\": \"other\", \"exitCode\": 137, \"reason\": "
                  "\"OutOfMemoryError: Container killed due to memory "
                  "usage\"}]}");
    assert_int_equal(q.exit_code, 137);
    assert_true(q.oom_killed);

    q = read_task("{\"lastStatus\": \"STOPPED\", \"stopCode\": "
                  "\"UserInitiated\", \"stoppedReason\": \"Stopped by berth\", "
                  "\"containers\": [{\"name\": \"main\", \"exitCode\": 143}]}");
    assert_true(q.cancelled);
    assert_int_equal(q.exit_code, 143);
}

static void test_fargate_status__never_started_has_no_exit_code(void **state)
{
    struct berth_exec_status q;
    (void)state;
    q = read_task("{\"lastStatus\": \"STOPPED\", \"stopCode\": "
                  "\"TaskFailedToStart\", \"stoppedReason\": "
                  "\"ResourceInitializationError: unable to pull secrets\", "
                  "\"containers\": [{\"name\": \"main\", \"lastStatus\": "
                  "\"STOPPED\", \"reason\": \"CannotPullContainerError: "
                  "ref not found\"}]}");
    assert_int_equal(q.state, BERTH_EXEC_EXITED);
    assert_int_equal(q.exit_code, BERTH_FARGATE_NO_EXIT_CODE);
    assert_false(q.cancelled);
    assert_string_equal(q.message,
                        "TaskFailedToStart: ResourceInitializationError: "
                        "unable to pull secrets (CannotPullContainerError: "
                        "ref not found)");
    /* Stopped by the user before it started. */
    q = read_task("{\"lastStatus\": \"STOPPED\", \"stopCode\": "
                  "\"UserInitiated\", \"containers\": [{\"name\": \"main\"}]}");
    assert_true(q.cancelled);
    assert_int_equal(q.exit_code, BERTH_FARGATE_NO_EXIT_CODE);
}

static void check(long status, const char *body, const char *header,
                  enum berth_aws_err_class want_class, int want_rc,
                  bool want_transient, const char *want_type,
                  const char *want_msg)
{
    struct berth_err err;
    char type[64];
    enum berth_aws_err_class c;
    berth_err_init(&err);
    c = berth__aws_error(status, body, header, "ECS RunTask", type,
                         sizeof(type), &err);
    assert_int_equal(c, want_class);
    assert_int_equal(err.rc, want_rc);
    assert_int_equal(err.transient, want_transient);
    assert_string_equal(type, want_type);
    if (!strstr(err.msg, want_msg))
        fail_msg("'%s' lacks '%s'", err.msg, want_msg);
}

/* A garbage time (one that would not fit int64_t microseconds) reads as
 * unknown instead of an undefined conversion. */
static void test_fargate_status__absurd_times_are_unknown(void **state)
{
    struct berth_exec_status q;
    (void)state;
    q = read_task("{\"lastStatus\": \"STOPPED\", \"startedAt\": 1e300, "
                  "\"stoppedAt\": -1e19, \"containers\": [{\"name\": "
                  "\"main\", \"exitCode\": 0}]}");
    assert_int_equal(q.state, BERTH_EXEC_EXITED);
    assert_int_equal(q.started_at, 0);
    assert_int_equal(q.finished_at, 0);
    q = read_task("{\"lastStatus\": \"RUNNING\", \"startedAt\": "
                  "1700000000.5}");
    assert_int_equal(q.started_at, INT64_C(1700000000500000));
}

static void test_fargate_status__aws_errors_are_classified(void **state)
{
    (void)state;
    check(400,
          "{\"__type\":\"ThrottlingException\",\"message\":\"Rate "
          "exceeded\"}",
          NULL, BERTH_AWS_ERR_THROTTLE, BERTH_E_BACKEND, true,
          "ThrottlingException",
          "ECS RunTask: throttled: "
          "ThrottlingException: Rate exceeded");
    check(429, "", NULL, BERTH_AWS_ERR_THROTTLE, BERTH_E_BACKEND, true, "",
          "throttled");
    check(500, "{\"__type\":\"ServerException\",\"message\":\"oops\"}", NULL,
          BERTH_AWS_ERR_SERVER, BERTH_E_BACKEND, true, "ServerException",
          "HTTP 500: ServerException: oops");
    check(503, "<html>Service Unavailable</html>", NULL, BERTH_AWS_ERR_SERVER,
          BERTH_E_BACKEND, true, "", "Service Unavailable");
    check(400,
          "{\"__type\":\"InvalidSignatureException\",\"message\":\"The "
          "request signature we calculated does not match.\\n\\nThe "
          "Canonical String...\"}",
          NULL, BERTH_AWS_ERR_AUTH, BERTH_E_AUTH, false,
          "InvalidSignatureException",
          "InvalidSignatureException: The request signature we calculated "
          "does not match.");
    check(400,
          "{\"__type\":\"InvalidSignatureException\",\"message\":"
          "\"Signature expired: 20150830T123600Z is now earlier than "
          "...\"}",
          NULL, BERTH_AWS_ERR_AUTH, BERTH_E_AUTH, false,
          "InvalidSignatureException", "check this machine's clock");
    check(400,
          "{\"__type\":\"AccessDeniedException\",\"Message\":\"User x "
          "is not authorized\"}",
          NULL, BERTH_AWS_ERR_AUTH, BERTH_E_AUTH, false,
          "AccessDeniedException", "User x is not authorized");
    check(403, "{\"message\":\"Missing Authentication Token\"}",
          "MissingAuthenticationTokenException:http://internal.amazon.com/",
          BERTH_AWS_ERR_AUTH, BERTH_E_AUTH, false,
          "MissingAuthenticationTokenException",
          "Missing Authentication Token");
    check(400,
          "{\"__type\":\"ExpiredTokenException\",\"message\":\"The "
          "security token included in the request is expired\"}",
          NULL, BERTH_AWS_ERR_EXPIRED, BERTH_E_AUTH, false,
          "ExpiredTokenException", "expired");
    check(400,
          "{\"__type\":\"com.amazonaws.ecs#ClusterNotFoundException\","
          "\"message\":\"Cluster not found.\"}",
          NULL, BERTH_AWS_ERR_NOTFOUND, BERTH_E_NOTFOUND, false,
          "ClusterNotFoundException", "Cluster not found.");
    check(400,
          "{\"__type\":\"ConflictException\",\"message\":\"same "
          "token\"}",
          NULL, BERTH_AWS_ERR_CONFLICT, BERTH_E_CONFLICT, false,
          "ConflictException", "same token");
    check(400,
          "{\"__type\":\"ClientException\",\"message\":\"Invalid 'cpu' "
          "setting for task.\"}",
          NULL, BERTH_AWS_ERR_CLIENT, BERTH_E_INVALID, false, "ClientException",
          "ClientException: Invalid 'cpu' setting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fargate_status__states_follow_last_status),
        cmocka_unit_test(test_fargate_status__exit_code_of_the_main_container),
        cmocka_unit_test(test_fargate_status__never_started_has_no_exit_code),
        cmocka_unit_test(test_fargate_status__absurd_times_are_unknown),
        cmocka_unit_test(test_fargate_status__aws_errors_are_classified),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
