/*
 * test_eval.c - evaluation through the public API: berth_rule_match's
 * three answers, Python-style runtime errors, contexts built by hand with
 * NULLs, the bounded scratch area, evaluation without allocation, and
 * concurrent evaluation of one compiled rule. (Each operator's results
 * against Python are in tests/rules/eval.cases, run by test_cases.c.)
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "berth_test.h"

#include "berth/rules.h"

/* Count allocations while evaluating (not under ASan, which owns malloc). */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

#if COUNT_ALLOCS
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t a, size_t b);
extern void *__libc_realloc(void *p, size_t n);
static volatile int counting;
static volatile size_t allocations;

void *malloc(size_t n)
{
    if (counting)
        allocations++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (counting)
        allocations++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (counting)
        allocations++;
    return __libc_realloc(p, n);
}
#endif

static struct berth_rule *compile(const char *s)
{
    struct berth_rule *r = NULL;
    struct berth_err err;
    if (berth_rule_compile(s, strlen(s), &r, NULL, &err) != 0)
        fail_msg("%s: %s", s, err.msg);
    return r;
}

static void test_eval__match_answers_true_false_or_runtime_error(void **state)
{
    struct berth_rule *r = compile("labels['team'] == 'ml' and memory_mb");
    struct berth_map labels = BERTH_MAP_INIT;
    struct berth_rule_ctx ctx;
    struct berth_err err;
    (void)state;

    memset(&ctx, 0, sizeof(ctx));
    ctx.labels = &labels;
    berth_err_init(&err);
    assert_int_equal(berth_rule_match(r, &ctx, &err), BERTH_E_RUNTIME);
    assert_int_equal(err.rc, BERTH_E_RUNTIME);
    assert_string_equal(err.msg, "KeyError: 'team'");
    berth_map_set(&labels, "team", "ml");
    assert_int_equal(berth_rule_match(r, &ctx, &err), 0); /* memory_mb 0 */
    ctx.memory_mb = 512;
    assert_int_equal(berth_rule_match(r, &ctx, &err), 1);
    berth_map_set(&labels, "team", "web");
    assert_int_equal(berth_rule_match(r, &ctx, NULL), 0);
    berth_rule_free(r);
    berth_map_release(&labels);
}

static void test_eval__runtime_errors_read_like_python(void **state)
{
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        {"user.name", "AttributeError: 'NoneType' object has no attribute "
                      "'name'"},
        {"(user or 5).name", "AttributeError: 'int' object has no attribute "
                             "'name'"},
        {"labels.get('a') > 'b'", "TypeError: '>' not supported between "
                                  "instances of 'NoneType' and 'str'"},
        {"(user and 1) + 1", "TypeError: unsupported operand type(s) for +: "
                             "'NoneType' and 'int'"},
        {"-(user and 1)", "TypeError: bad operand type for unary -: "
                          "'NoneType'"},
        {"len(user and 'ab')", "TypeError: object of type 'NoneType' has no "
                               "len()"},
        {"'a' in (user and 'ab')", "TypeError: argument of type 'NoneType' is "
                                   "not iterable"},
        {"(user and 'ab')[0]", "TypeError: 'NoneType' object is not "
                               "subscriptable"},
        {"'ab'[(user and 1)]", "TypeError: string indices must be integers, "
                               "not NoneType"},
        {"labels['x\\n']", "KeyError: 'x\\n'"},
        {"memory_mb // 0", "ZeroDivisionError: integer division or modulo by "
                           "zero"},
        {"[1][1]", "IndexError: list index out of range"},
        {"9223372036854775807 + 1", "OverflowError: integer result out of "
                                    "range (berth integers are 64-bit)"},
        {"-(-9223372036854775807 - 1)", "OverflowError: integer result out "
                                        "of range (berth integers are "
                                        "64-bit)"},
        {"'É'.lower()", "UnsupportedError: lower() of non-ASCII text is not "
                        "supported by berth"},
    };
    struct berth_rule_ctx ctx;
    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct berth_rule *r = NULL;
        struct berth_buf out = BERTH_BUF_INIT;
        struct berth_err err;
        r = compile(cases[i].expr);
        berth_err_init(&err);
        assert_int_equal(berth_rule_eval_repr(r, &ctx, &out, &err),
                         BERTH_E_RUNTIME);
        assert_string_equal(err.msg, cases[i].msg);
        assert_int_equal(berth_rule_match(r, &ctx, &err), BERTH_E_RUNTIME);
        assert_string_equal(err.msg, cases[i].msg);
        berth_buf_release(&out);
        berth_rule_free(r);
    }
}

static void eval_is(const char *expr, const struct berth_rule_ctx *ctx,
                    const char *want)
{
    struct berth_rule *r = compile(expr);
    struct berth_buf out = BERTH_BUF_INIT;
    struct berth_err err;
    if (berth_rule_eval_repr(r, ctx, &out, &err) != 0)
        fail_msg("%s: %s", expr, err.msg);
    if (strcmp(berth_buf_cstr(&out), want) != 0)
        fail_msg("%s: want %s, got %s", expr, want, berth_buf_cstr(&out));
    berth_buf_release(&out);
    berth_rule_free(r);
}

static void test_eval__null_fields_read_as_empty(void **state)
{
    struct berth_rule_ctx ctx;
    struct berth_strv groups = BERTH_STRV_INIT;
    (void)state;
    memset(&ctx, 0, sizeof(ctx)); /* every pointer NULL */
    eval_is("[job.name, template.name, template.image, "
            "job.preferred_executor]",
            &ctx, "['', '', '', '']");
    eval_is("[len(labels), len(job.labels), len(template.labels)]", &ctx,
            "[0, 0, 0]");
    eval_is("user", &ctx, "None");
    ctx.has_user = true;
    eval_is("[user.name, len(user.groups)]", &ctx, "['', 0]");
    eval_is("user.groups.filter(name='x').exists()", &ctx, "False");
    berth_strv_push(&groups, "premium");
    ctx.user_groups = &groups;
    ctx.user_name = "alice";
    eval_is("user.groups.filter(name='premium').exists() and user.name", &ctx,
            "'alice'");
    berth_strv_release(&groups);
}

static void test_eval__scratch_overflow_is_a_clean_error(void **state)
{
    struct berth_map labels = BERTH_MAP_INIT;
    struct berth_rule *r = compile("(labels['big'] + labels['big']).lower()");
    struct berth_rule_ctx ctx;
    struct berth_err err;
    char *big = malloc(5000);
    (void)state;

    memset(big, 'A', 4999);
    big[4999] = '\0';
    berth_map_set(&labels, "big", big);
    memset(&ctx, 0, sizeof(ctx));
    ctx.labels = &labels;
    /* 10000 bytes of concatenation fit; lowering them needs 10000 more. */
    assert_int_equal(berth_rule_match(r, &ctx, &err), BERTH_E_RUNTIME);
    assert_string_equal(err.msg, "MemoryError: strings made while evaluating "
                                 "a rule exceed 8192 bytes");
    berth_rule_free(r);
    r = compile("labels['big'].lower().startswith('aaa')");
    assert_int_equal(berth_rule_match(r, &ctx, &err), 1);
    berth_rule_free(r);
    berth_map_release(&labels);
    free(big);
}

static void test_eval__evaluation_does_not_allocate(void **state)
{
#if COUNT_ALLOCS
    static const char *const rules[] = {
        "memory_mb > 8192",
        "template.name.startswith('ml-')",
        "user and user.groups.filter(name='premium').exists()",
        "(template.name + '-' + job.name).upper()[1:4] == 'L-T'",
        "[memory_mb, cpu_cores, labels.get('team', 'none')] != [1, 2.5, 'x']",
        "labels['missing'] == 'x'",
        "user.name.strip().lower() in ['alice', 'bob']",
        "1 < hour < 5 or weekday // 0",
        "labels.get('team') > 'a'",
    };
    struct berth_rule *compiled[sizeof(rules) / sizeof(rules[0])];
    struct berth_map labels = BERTH_MAP_INIT;
    struct berth_rule_ctx ctx;
    struct berth_buf out = BERTH_BUF_INIT;
    size_t n = sizeof(rules) / sizeof(rules[0]);
    (void)state;

    for (size_t i = 0; i < n; i++)
        compiled[i] = compile(rules[i]);
    berth_map_set(&labels, "team", "ml");
    memset(&ctx, 0, sizeof(ctx));
    ctx.labels = &labels;
    ctx.template_name = "ml-train";
    ctx.job_name = "nightly";
    berth_buf_printf(&out, "%s", "warm"); /* the repr buffer may grow */
    berth_buf_reset(&out);

    /* The counter sees allocations made from here... */
    counting = 1;
    allocations = 0;
    free(berth_xstrdup("x"));
    assert_int_equal(allocations, 1);
    /* ...and evaluation makes none. */
    allocations = 0;
    for (int k = 0; k < 200; k++) {
        ctx.memory_mb = k * 100;
        ctx.hour = k % 24;
        ctx.has_user = k % 2;
        ctx.user_name = " Alice ";
        for (size_t i = 0; i < n; i++) {
            struct berth_err err;
            (void)berth_rule_match(compiled[i], &ctx, &err);
        }
    }
    counting = 0;
    assert_int_equal(allocations, 0);
    for (size_t i = 0; i < n; i++)
        berth_rule_free(compiled[i]);
    berth_map_release(&labels);
    berth_buf_release(&out);
#else
    (void)state;
    skip();
#endif
}

struct worker {
    const struct berth_rule *r;
    int mismatches;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct berth_rule_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    for (int k = 0; k < 20000; k++) {
        struct berth_err err;
        ctx.memory_mb = k;
        ctx.template_name = (k % 3) ? "ml-x" : "batch";
        if (berth_rule_match(w->r, &ctx, &err) != (k > 8192 && (k % 3) != 0))
            w->mismatches++;
    }
    return NULL;
}

static void test_eval__one_rule_many_threads(void **state)
{
    struct berth_rule *r =
        compile("memory_mb > 8192 and template.name.upper().startswith('ML')");
    pthread_t t[4];
    struct worker w[4];
    (void)state;
    for (int i = 0; i < 4; i++) {
        w[i].r = r;
        w[i].mismatches = 0;
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].mismatches, 0);
    }
    berth_rule_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval__match_answers_true_false_or_runtime_error),
        cmocka_unit_test(test_eval__runtime_errors_read_like_python),
        cmocka_unit_test(test_eval__null_fields_read_as_empty),
        cmocka_unit_test(test_eval__scratch_overflow_is_a_clean_error),
        cmocka_unit_test(test_eval__evaluation_does_not_allocate),
        cmocka_unit_test(test_eval__one_rule_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
