/* test_check.c - the static checker: what it refuses (and where it
 * points), what it leaves to run time, and its hints. */
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"

static void accepted(const char *expr)
{
    struct berth_rule *r = NULL;
    struct berth_err err;
    if (berth_rule_compile(expr, strlen(expr), &r, NULL, &err) != 0)
        fail_msg("%s: refused: %s", expr, err.msg);
    berth_rule_free(r);
}

static void refused(const char *expr, const char *msg, size_t off, size_t len,
                    const char *hint)
{
    struct berth_rule *r = NULL;
    struct berth_rule_diag d;
    struct berth_err err;
    if (berth_rule_compile(expr, strlen(expr), &r, &d, &err) == 0)
        fail_msg("%s: accepted", expr);
    assert_string_equal(d.msg, msg);
    assert_int_equal(d.offset, off);
    assert_int_equal(d.len, len);
    assert_string_equal(d.hint, hint ? hint : "");
}

static void test_check__every_name_and_attribute_resolves(void **state)
{
    static const char *const ok[] = {
        "job",
        "template",
        "user",
        "memory_mb",
        "cpu_cores",
        "timeout_seconds",
        "labels",
        "hour",
        "weekday",
        "job.id",
        "job.name",
        "job.priority",
        "job.labels",
        "job.preferred_executor",
        "template.name",
        "template.image",
        "template.labels",
        "template.memory_limit",
        "template.cpu_limit",
        "template.timeout_seconds",
        "user.name",
        "user.groups",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        accepted(ok[i]);
}

static void test_check__faults_left_to_run_time_compile(void **state)
{
    (void)state;
    /* user may be None only at run time. */
    accepted("user.name == 'x'");
    accepted("user.groups.filter(name='premium').exists()");
    /* get() may give None; a union with a valid case is allowed. */
    accepted("labels.get('a') > 'b'");
    accepted("(labels.get('a') or 1) + 1");
    accepted("labels.get('a', 0) - 2");
    accepted("(user and memory_mb) // 2");
    accepted("(user or template).name");
    accepted("'x' in (user and user.name)");
    /* An expression that can only fail ([][0]) clashes with nothing. */
    accepted("[][0] + 1");
    accepted("[][0].lower()");
    /* Lists of mixed scalars compare element-wise at run time. */
    accepted("[1, 'a'] < [1, 2]");
}

static void test_check__static_type_clashes_are_refused(void **state)
{
    (void)state;
    refused("template.name > 5",
            "'>' not supported between instances of 'str' and 'int'", 14, 1,
            NULL);
    refused("1 < memory_mb < 'x'",
            "'<' not supported between instances of 'int' and 'str'", 14, 1,
            NULL);
    refused("labels.get('a') > 5",
            "'>' not supported between instances of 'NoneType or str' and "
            "'int'",
            16, 1, NULL);
    refused("memory_mb.lower()", "'int' has no method 'lower'", 10, 5,
            "lower() is a str method");
    refused("cpu_cores + 'x'",
            "unsupported operand type(s) for +: 'float' and 'str'", 10, 1,
            NULL);
    refused("not -labels", "bad operand type for unary -: 'dict'", 4, 1, NULL);
    refused("user in 'abc'",
            "'in <string>' requires string as left operand, not NoneType or "
            "user",
            5, 2, NULL);
    refused("labels[[1]]", "unhashable type: 'list'", 7, 3, NULL);
    refused("template.name.startswith(memory_mb)",
            "startswith() needs a str argument, not 'int'", 25, 9, NULL);
    refused("len(job)", "object of type 'job' has no len()", 4, 3, NULL);
    refused("job()", "'job' object is not callable", 0, 3, NULL);
    refused("job.name()", "attribute 'name' is not callable", 4, 4, NULL);
    refused("template.name.lower().foo", "'str' object has no attribute 'foo'",
            22, 3, NULL);
}

static void test_check__unsupported_python_is_refused_not_guessed(void **state)
{
    (void)state;
    refused("[1] + user.groups", "list concatenation is not supported", 4, 1,
            NULL);
    refused("memory_mb * 'ab'", "string and list repetition is not supported",
            10, 1, NULL);
    refused("labels.get('a', 'x') % 3",
            "'%' string formatting is not supported", 21, 1, NULL);
    refused("memory_mb is memory_mb",
            "'is' compares identity; berth supports it only with None, True "
            "or False",
            10, 2, "use '==' to compare values");
    refused("[[1]]",
            "a list may hold numbers, strings, booleans and None, not 'list'",
            1, 3, NULL);
    refused("template.name.split()", "unknown string method 'split'", 14, 5,
            "string methods are startswith, endswith, lower, upper, strip, "
            "lstrip, rstrip");
    refused("labels.get()", "get() takes 1 or 2 arguments (0 given)", 0, 12,
            NULL);
    refused("template.name.strip(1)",
            "strip() needs a str argument, not "
            "'int'",
            20, 1, NULL);
    refused("template.name.lower(x=1)", "lower() takes no keyword arguments",
            20, 3, NULL);
    refused("len(x=1)", "len() takes no keyword arguments", 4, 3, NULL);
}

static void test_check__hints_suggest_the_nearest_name(void **state)
{
    (void)state;
    refused("tempalte.name", "unknown name 'tempalte'", 0, 8,
            "did you mean 'template'?");
    refused("cpu_core > 1", "unknown name 'cpu_core'", 0, 8,
            "did you mean 'cpu_cores'?");
    refused("job.prioirty", "unknown attribute 'prioirty' of 'job'", 4, 8,
            "did you mean 'priority'?");
    refused("user.group", "unknown attribute 'group' of 'user'", 5, 5,
            "did you mean 'groups'?");
    refused("template.name.uper()", "unknown string method 'uper'", 14, 4,
            "did you mean 'upper'?");
    refused("None is nil", "unknown name 'nil'", 8, 3, "did you mean 'None'?");
    refused("image", "unknown name 'image'", 0, 5,
            "did you mean 'template.image'?");
    refused("xyzzy", "unknown name 'xyzzy'", 0, 5,
            "names are job, template, user, memory_mb, cpu_cores, "
            "timeout_seconds, labels, hour, weekday");
    refused("len", "len must be called", 0, 3, "len(x)");
    refused("int(labels['n'])", "function 'int' is not available in rules", 0,
            3, "the only function is len()");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check__every_name_and_attribute_resolves),
        cmocka_unit_test(test_check__faults_left_to_run_time_compile),
        cmocka_unit_test(test_check__static_type_clashes_are_refused),
        cmocka_unit_test(test_check__unsupported_python_is_refused_not_guessed),
        cmocka_unit_test(test_check__hints_suggest_the_nearest_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
