/* test_ctx_json.c - the JSON context of `berth rules eval --context`:
 * defaults, labels merging, user null/absent/object, and refusals. */
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"

static void eval_is(const char *json, const char *expr, const char *want)
{
    struct berth_rule_ctx_json *cj = NULL;
    const struct berth_rule_ctx *ctx;
    struct berth_rule *r = NULL;
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_err err;

    if (berth_rule_ctx_from_json(json, &cj, &ctx, &err) != 0)
        fail_msg("%s: %s", json, err.msg);
    assert_int_equal(berth_rule_compile(expr, strlen(expr), &r, NULL, &err), 0);
    if (berth_rule_eval_repr(r, ctx, &out, &err) != 0)
        fail_msg("%s: %s", expr, err.msg);
    assert_string_equal(berth_buf_cstr(&out), want);
    berth_buf_release(&out);
    berth_rule_free(r);
    berth_rule_ctx_json_free(cj);
}

static void refused(const char *json, const char *msg)
{
    struct berth_rule_ctx_json *cj = (void *)&cj;
    const struct berth_rule_ctx *ctx = (void *)&ctx;
    struct berth_err err;
    berth_err_init(&err);
    assert_true(berth_rule_ctx_from_json(json, &cj, &ctx, &err) < 0);
    assert_null(cj);
    assert_null(ctx);
    assert_string_equal(err.msg, msg);
}

static void test_ctx_json__defaults(void **state)
{
    (void)state;
    eval_is(NULL, "[memory_mb, cpu_cores, timeout_seconds, hour, weekday]",
            "[0, 0.0, 0, 0, 0]");
    eval_is("", "[job.id, job.name, job.priority, job.preferred_executor]",
            "[0, '', 0, '']");
    eval_is("{}",
            "[template.name, template.image, template.memory_limit, "
            "template.cpu_limit, template.timeout_seconds]",
            "['', '', 0, 0.0, 0]");
    eval_is("{}", "user", "None");
    eval_is("{}", "[len(labels), len(job.labels)]", "[0, 0]");
    eval_is("{\"user\": null, \"template\": null, \"job\": null}",
            "user is None and template.name == ''", "True");
    eval_is("{\"user\": {}}", "[user.name, len(user.groups)]", "['', 0]");
    eval_is("{\"job\": {\"name\": null}}", "job.name", "''");
}

static void test_ctx_json__values_and_types(void **state)
{
    (void)state;
    eval_is("{\"memory_mb\": 16384, \"cpu_cores\": 4, \"hour\": 23}",
            "[memory_mb, cpu_cores, hour]", "[16384, 4.0, 23]");
    eval_is("{\"user\": {\"name\": \"alice\", \"groups\": [\"premium\"]}}",
            "user.groups.filter(name='premium').exists()", "True");
    eval_is("{\"template\": {\"name\": \"caf\\u00e9\", \"cpu_limit\": 0.5}}",
            "[template.name, template.cpu_limit]", "['café', 0.5]");
}

static void test_ctx_json__labels_default_to_the_merge(void **state)
{
    (void)state;
    /* Template labels, then the job's over them, in insertion order. */
    eval_is("{\"template\": {\"labels\": {\"team\": \"ml\", \"tier\": "
            "\"gold\"}}, \"job\": {\"labels\": {\"team\": \"infra\", "
            "\"gpu\": \"a100\"}}}",
            "labels", "{'team': 'infra', 'tier': 'gold', 'gpu': 'a100'}");
    /* Given explicitly, labels are taken as they are. */
    eval_is("{\"labels\": {\"x\": \"1\"}, \"job\": {\"labels\": {\"team\": "
            "\"infra\"}}}",
            "labels", "{'x': '1'}");
    eval_is("{\"labels\": {}, \"job\": {\"labels\": {\"team\": \"infra\"}}}",
            "[len(labels), job.labels['team']]", "[0, 'infra']");
}

static void test_ctx_json__refusals(void **state)
{
    (void)state;
    refused("[1]", "context: must be a JSON object");
    refused("{\"memory_mb\": 1.5}", "context: 'memory_mb' must be an "
                                    "integer");
    refused("{\"memory_mb\": \"8\"}", "context: 'memory_mb' must be an "
                                      "integer");
    refused("{\"cpu_cores\": true}", "context: 'cpu_cores' must be a number");
    refused("{\"memroy_mb\": 1}", "context: unknown key 'memroy_mb'");
    refused("{\"job\": {\"nmae\": \"x\"}}", "context: unknown key 'job.nmae'");
    refused("{\"job\": 5}", "context: 'job' must be an object");
    refused("{\"user\": \"alice\"}", "context: 'user' must be an object or "
                                     "null");
    refused("{\"user\": {\"groups\": [1]}}", "context: 'user.groups' must be "
                                             "an array of strings");
    refused("{\"labels\": {\"a\": 1}}", "context: 'labels' must be an object "
                                        "of strings ('a' is not a string)");
    refused("{\"template\": {\"name\": 5}}", "context: 'template.name' must "
                                             "be a string");
    refused("{\"a\": 1, \"a\": 2}", "context: invalid JSON at line 1 column "
                                    "12: duplicate object key near '\"a\"'");
    refused("{", "context: invalid JSON at line 1 column 1: string or '}' "
                 "expected near end of file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_json__defaults),
        cmocka_unit_test(test_ctx_json__values_and_types),
        cmocka_unit_test(test_ctx_json__labels_default_to_the_merge),
        cmocka_unit_test(test_ctx_json__refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
