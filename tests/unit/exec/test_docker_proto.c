/*
 * test_docker_proto.c - the pure parts of the Docker backend: engine URLs,
 * create bodies, inspect/stats/list parsing and the log frame demultiplexer,
 * against bodies shaped like Docker 20.10's (API 1.41) answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth_test.h"

#include "exec/docker_int.h"

/* ---- log frames --------------------------------------------------------- */

struct collected {
    struct berth_buf out, err;
    int calls;
    int stop_after; /* 0 = never */
};

static int collect(int stream, const char *data, size_t len, void *ctx)
{
    struct collected *c = ctx;
    assert_true(len > 0);
    assert_true(stream == 1 || stream == 2);
    berth_buf_append(stream == 1 ? &c->out : &c->err, data, len);
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static void collected_init(struct collected *c)
{
    memset(c, 0, sizeof(*c));
    berth_buf_init(&c->out, 0);
    berth_buf_init(&c->err, 0);
}

static void collected_release(struct collected *c)
{
    berth_buf_release(&c->out);
    berth_buf_release(&c->err);
}

/* Append one frame: header + payload. */
static void frame(struct berth_buf *b, int stream, const char *payload)
{
    size_t n = strlen(payload);
    unsigned char h[8] = {(unsigned char)stream,
                          0,
                          0,
                          0,
                          (unsigned char)(n >> 24),
                          (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8),
                          (unsigned char)n};
    berth_buf_append(b, h, sizeof(h));
    berth_buf_append(b, payload, n);
}

static void test_demux__frames_go_to_their_streams(void **state)
{
    struct berth__docker_demux d;
    struct collected c;
    struct berth_buf in = BERTH_BUF_INIT;
    (void)state;

    frame(&in, 1, "out one\n");
    frame(&in, 2, "err one\n");
    frame(&in, 1, "out two\n");
    collected_init(&c);
    berth__docker_demux_init(&d, false);
    assert_int_equal(berth__docker_demux_feed(&d, in.data, in.len, collect, &c),
                     0);
    assert_string_equal(berth_buf_cstr(&c.out), "out one\nout two\n");
    assert_string_equal(berth_buf_cstr(&c.err), "err one\n");
    assert_false(berth__docker_demux_partial(&d));
    collected_release(&c);
    berth_buf_release(&in);
}

static void test_demux__any_split_gives_the_same_streams(void **state)
{
    struct berth_buf in = BERTH_BUF_INIT;
    (void)state;

    frame(&in, 1, "alpha");
    frame(&in, 2, "");
    frame(&in, 2, "beta\n");
    frame(&in, 1, "gamma delta");
    /* Cut the input in two at every offset, and also feed byte by byte. */
    for (size_t cut = 0; cut <= in.len; cut++) {
        struct berth__docker_demux d;
        struct collected c;
        collected_init(&c);
        berth__docker_demux_init(&d, false);
        assert_int_equal(
            berth__docker_demux_feed(&d, in.data, cut, collect, &c), 0);
        assert_int_equal(berth__docker_demux_feed(&d, in.data + cut,
                                                  in.len - cut, collect, &c),
                         0);
        assert_string_equal(berth_buf_cstr(&c.out), "alphagamma delta");
        assert_string_equal(berth_buf_cstr(&c.err), "beta\n");
        assert_false(berth__docker_demux_partial(&d));
        collected_release(&c);
    }
    {
        struct berth__docker_demux d;
        struct collected c;
        collected_init(&c);
        berth__docker_demux_init(&d, false);
        for (size_t i = 0; i < in.len; i++)
            assert_int_equal(
                berth__docker_demux_feed(&d, in.data + i, 1, collect, &c), 0);
        assert_string_equal(berth_buf_cstr(&c.out), "alphagamma delta");
        assert_string_equal(berth_buf_cstr(&c.err), "beta\n");
        collected_release(&c);
    }
    berth_buf_release(&in);
}

static void test_demux__stdin_frames_count_as_stdout(void **state)
{
    struct berth__docker_demux d;
    struct collected c;
    struct berth_buf in = BERTH_BUF_INIT;
    (void)state;

    frame(&in, 0, "in");
    collected_init(&c);
    berth__docker_demux_init(&d, false);
    assert_int_equal(berth__docker_demux_feed(&d, in.data, in.len, collect, &c),
                     0);
    assert_string_equal(berth_buf_cstr(&c.out), "in");
    collected_release(&c);
    berth_buf_release(&in);
}

static void test_demux__bad_header_is_a_parse_error_and_sticks(void **state)
{
    struct berth__docker_demux d;
    struct collected c;
    /* Plain text where a header should be: 'h' is no stream byte. */
    const char *text = "hello world, no frames here\n";
    const unsigned char nonzero_pad[8] = {1, 0, 7, 0, 0, 0, 0, 1};
    (void)state;

    collected_init(&c);
    berth__docker_demux_init(&d, false);
    assert_int_equal(
        berth__docker_demux_feed(&d, text, strlen(text), collect, &c),
        BERTH_E_PARSE);
    assert_int_equal(berth__docker_demux_feed(&d, "x", 1, collect, &c),
                     BERTH_E_PARSE);
    assert_int_equal(c.calls, 0);

    berth__docker_demux_init(&d, false);
    assert_int_equal(
        berth__docker_demux_feed(&d, (const char *)nonzero_pad, 8, collect, &c),
        BERTH_E_PARSE);
    collected_release(&c);
}

static void test_demux__tty_stream_is_all_stdout(void **state)
{
    struct berth__docker_demux d;
    struct collected c;
    (void)state;

    collected_init(&c);
    berth__docker_demux_init(&d, true);
    assert_int_equal(berth__docker_demux_feed(&d, "\x02raw", 4, collect, &c),
                     0);
    assert_int_equal(c.out.len, 4);
    assert_int_equal(c.err.len, 0);
    assert_false(berth__docker_demux_partial(&d));
    collected_release(&c);
}

static void test_demux__callback_stop_returns_one(void **state)
{
    struct berth__docker_demux d;
    struct collected c;
    struct berth_buf in = BERTH_BUF_INIT;
    (void)state;

    frame(&in, 1, "a");
    frame(&in, 1, "b");
    collected_init(&c);
    c.stop_after = 1;
    berth__docker_demux_init(&d, false);
    assert_int_equal(berth__docker_demux_feed(&d, in.data, in.len, collect, &c),
                     1);
    assert_string_equal(berth_buf_cstr(&c.out), "a");
    collected_release(&c);
    berth_buf_release(&in);
}

static void test_demux__stream_cut_inside_a_frame_is_partial(void **state)
{
    struct berth__docker_demux d;
    struct collected c;
    struct berth_buf in = BERTH_BUF_INIT;
    (void)state;

    frame(&in, 1, "0123456789");
    collected_init(&c);
    berth__docker_demux_init(&d, false);
    assert_int_equal(berth__docker_demux_feed(&d, in.data, 12, collect, &c), 0);
    assert_true(berth__docker_demux_partial(&d));
    assert_string_equal(berth_buf_cstr(&c.out), "0123");
    berth__docker_demux_init(&d, false);
    assert_int_equal(berth__docker_demux_feed(&d, in.data, 3, collect, &c), 0);
    assert_true(berth__docker_demux_partial(&d));
    collected_release(&c);
    berth_buf_release(&in);
}

/* ---- log capture -------------------------------------------------------- */

static void test_logcap__under_the_cap_keeps_everything(void **state)
{
    struct berth__docker_logcap cap;
    struct berth_job_logs logs;
    (void)state;

    berth__docker_logcap_init(&cap, 100);
    berth__docker_logcap_add(1, "out\n", 4, &cap);
    berth__docker_logcap_add(2, "err\n", 4, &cap);
    berth_job_logs_init(&logs);
    berth__docker_logcap_finish(&cap, &logs);
    assert_string_equal(logs.out, "out\n");
    assert_int_equal(logs.out_len, 4);
    assert_string_equal(logs.err, "err\n");
    assert_false(logs.truncated);
    berth_job_logs_release(&logs);
    berth__docker_logcap_release(&cap);
}

static void test_logcap__over_the_cap_keeps_the_end_from_a_line(void **state)
{
    struct berth__docker_logcap cap;
    struct berth_job_logs logs;
    char line[32];
    (void)state;

    berth__docker_logcap_init(&cap, 64);
    for (int i = 0; i < 200; i++) {
        int n = snprintf(line, sizeof(line), "line %03d\n", i);
        berth__docker_logcap_add(1, line, (size_t)n, &cap);
    }
    berth__docker_logcap_add(2, "small\n", 6, &cap);
    berth_job_logs_init(&logs);
    berth__docker_logcap_finish(&cap, &logs);
    assert_true(logs.truncated);
    assert_true(logs.out_len <= 64);
    assert_int_equal(strlen(logs.out), logs.out_len);
    /* Whole lines only, ending with the last one. */
    assert_memory_equal(logs.out, "line ", 5);
    assert_string_equal(logs.out + logs.out_len - 9, "line 199\n");
    assert_string_equal(logs.err, "small\n");
    berth_job_logs_release(&logs);
    berth__docker_logcap_release(&cap);
}

static void test_logcap__one_huge_chunk_keeps_its_tail(void **state)
{
    struct berth__docker_logcap cap;
    struct berth_job_logs logs;
    char big[1000];
    (void)state;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    berth__docker_logcap_init(&cap, 10);
    berth__docker_logcap_add(2, big, sizeof(big), &cap);
    berth_job_logs_init(&logs);
    berth__docker_logcap_finish(&cap, &logs);
    assert_true(logs.truncated);
    assert_int_equal(logs.err_len, 10);
    assert_memory_equal(logs.err, big + 990, 10);
    assert_int_equal(logs.out_len, 0);
    assert_string_equal(logs.out, "");
    berth_job_logs_release(&logs);
    berth__docker_logcap_release(&cap);
}

static void test_logcap__exactly_the_cap_is_not_truncated(void **state)
{
    struct berth__docker_logcap cap;
    struct berth_job_logs logs;
    (void)state;

    berth__docker_logcap_init(&cap, 8);
    berth__docker_logcap_add(1, "1234", 4, &cap);
    berth__docker_logcap_add(1, "5678", 4, &cap);
    berth_job_logs_init(&logs);
    berth__docker_logcap_finish(&cap, &logs);
    assert_false(logs.truncated);
    assert_string_equal(logs.out, "12345678");
    berth_job_logs_release(&logs);
    berth__docker_logcap_release(&cap);
}

/* ---- inspect ------------------------------------------------------------ */

/* Trimmed from a real 20.10 answer. */
static const char inspect_exited[] =
    "{\"Id\":\"3c83ab8049f65105b00ad3723435624fddcd21ea98dda5455b7eb1a62f09ed35"
    "\",\"Created\":\"2026-11-27T16:00:37.08251455Z\",\"Path\":\"sh\","
    "\"State\":{\"Status\":\"exited\",\"Running\":false,\"Paused\":false,"
    "\"Restarting\":false,\"OOMKilled\":false,\"Dead\":false,\"Pid\":0,"
    "\"ExitCode\":7,\"Error\":\"\",\"StartedAt\":\"2026-11-27T16:00:37."
    "325531041Z\",\"FinishedAt\":\"2026-11-27T16:00:38.331340353Z\"},"
    "\"Name\":\"/berth-12-1\",\"HostConfig\":{\"Memory\":67108864,"
    "\"NetworkMode\":\"none\"},\"Config\":{\"Tty\":false,\"Labels\":{"
    "\"berth.job\":\"12\",\"berth.attempt\":\"1\",\"berth.host\":\"local\"}}}";

static void test_inspect__exited_container(void **state)
{
    struct berth__docker_inspect in;
    struct berth_exec_status q;
    struct berth_err err;
    int64_t started;
    (void)state;

    berth_err_init(&err);
    assert_int_equal(berth__docker_parse_inspect(
                         inspect_exited, strlen(inspect_exited), &in, &err),
                     0);
    assert_string_equal(in.id, "3c83ab8049f65105b00ad3723435624fddcd21ea98dda5"
                               "455b7eb1a62f09ed35");
    assert_string_equal(in.name, "berth-12-1");
    assert_string_equal(in.status, "exited");
    assert_int_equal(in.exit_code, 7);
    assert_false(in.oom_killed);
    assert_false(in.tty);
    assert_int_equal(in.job_id, 12);
    assert_int_equal(in.attempt, 1);
    assert_int_equal(in.memory_limit, 67108864);
    assert_int_equal(
        berth_parse_time("2026-11-27T16:00:37.325531Z", &started, NULL), 0);
    assert_int_equal(in.started_at, started);
    assert_int_equal(in.finished_at - in.started_at, 1005809);

    memset(&q, 0, sizeof(q));
    berth__docker_inspect_to_status(&in, &q);
    assert_int_equal(q.state, BERTH_EXEC_EXITED);
    assert_int_equal(q.exit_code, 7);
    assert_string_equal(q.message, "exited with code 7");
}

static void test_inspect__oom_killed_is_reported_as_such(void **state)
{
    const char *j =
        "{\"Id\":\"abc\",\"Name\":\"/x\",\"State\":{\"Status\":\"exited\","
        "\"OOMKilled\":true,\"ExitCode\":137,\"StartedAt\":\"2026-11-27T16:00:"
        "37Z\",\"FinishedAt\":\"2026-11-27T16:00:38Z\"},\"HostConfig\":{"
        "\"Memory\":8388608},\"Config\":{\"Tty\":false,\"Labels\":null}}";
    struct berth__docker_inspect in;
    struct berth_exec_status q;
    (void)state;

    assert_int_equal(berth__docker_parse_inspect(j, strlen(j), &in, NULL), 0);
    assert_true(in.oom_killed);
    assert_int_equal(in.job_id, -1);
    memset(&q, 0, sizeof(q));
    berth__docker_inspect_to_status(&in, &q);
    assert_true(q.oom_killed);
    assert_int_equal(q.exit_code, 137);
    assert_non_null(strstr(q.message, "out of memory"));
    assert_non_null(strstr(q.message, "8 MB"));
}

static void test_inspect__created_has_no_times_and_is_pending(void **state)
{
    const char *j =
        "{\"Id\":\"abc\",\"State\":{\"Status\":\"created\",\"ExitCode\":0,"
        "\"StartedAt\":\"0001-01-01T00:00:00Z\",\"FinishedAt\":\"0001-01-01T"
        "00:00:00Z\"},\"Config\":{\"Tty\":true}}";
    struct berth__docker_inspect in;
    struct berth_exec_status q;
    (void)state;

    assert_int_equal(berth__docker_parse_inspect(j, strlen(j), &in, NULL), 0);
    assert_int_equal(in.started_at, 0);
    assert_int_equal(in.finished_at, 0);
    assert_true(in.tty);
    memset(&q, 0, sizeof(q));
    berth__docker_inspect_to_status(&in, &q);
    assert_int_equal(q.state, BERTH_EXEC_PENDING);
}

static void test_inspect__a_quick_exit_never_ends_before_it_starts(void **state)
{
    /* Seen on 20.10 with `true`: StartedAt after FinishedAt. */
    const char *j =
        "{\"Id\":\"abc\",\"State\":{\"Status\":\"exited\",\"ExitCode\":0,"
        "\"StartedAt\":\"2026-11-27T16:07:01.500Z\",\"FinishedAt\":"
        "\"2026-11-27T16:07:01.498Z\"}}";
    struct berth__docker_inspect in;
    struct berth_exec_status q;
    (void)state;

    assert_int_equal(berth__docker_parse_inspect(j, strlen(j), &in, NULL), 0);
    assert_true(in.started_at > in.finished_at);
    memset(&q, 0, sizeof(q));
    berth__docker_inspect_to_status(&in, &q);
    assert_int_equal(q.started_at, q.finished_at);
    assert_int_equal(q.finished_at, in.finished_at);
}

static void test_inspect__states_map_to_berth_states(void **state)
{
    (void)state;
    assert_int_equal(berth__docker_state("created"), BERTH_EXEC_PENDING);
    assert_int_equal(berth__docker_state("running"), BERTH_EXEC_RUNNING);
    assert_int_equal(berth__docker_state("paused"), BERTH_EXEC_RUNNING);
    assert_int_equal(berth__docker_state("restarting"), BERTH_EXEC_RUNNING);
    assert_int_equal(berth__docker_state("exited"), BERTH_EXEC_EXITED);
    assert_int_equal(berth__docker_state("dead"), BERTH_EXEC_EXITED);
    assert_int_equal(berth__docker_state("removing"), BERTH_EXEC_EXITED);
    assert_int_equal(berth__docker_state("something-new"), BERTH_EXEC_RUNNING);
}

static void test_inspect__garbage_is_a_transient_parse_error(void **state)
{
    const char *bad[] = {"",
                         "<html>502 Bad Gateway</html>",
                         "[1,2]",
                         "{\"Id\":\"x\"}",
                         "{\"State\":{\"Status\":\"running\"}}",
                         "{\"Id\":5,\"State\":{\"Status\":\"exited\"}}"};
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct berth__docker_inspect in;
        struct berth_err err;
        berth_err_init(&err);
        assert_int_equal(
            berth__docker_parse_inspect(bad[i], strlen(bad[i]), &in, &err),
            BERTH_E_PARSE);
        assert_true(err.transient);
        assert_true(err.msg[0] != '\0');
    }
}

/* ---- stats, list, created ----------------------------------------------- */

static void test_stats__cgroup_v1_figures(void **state)
{
    const char *j =
        "{\"read\":\"2026-11-27T16:00:41.456373046Z\",\"cpu_stats\":{"
        "\"cpu_usage\":{\"total_usage\":78623200}},\"memory_stats\":{"
        "\"usage\":364544,\"max_usage\":3985408,\"limit\":67108864}}";
    int64_t mem, cpu;
    (void)state;

    assert_int_equal(berth__docker_parse_stats(j, strlen(j), &mem, &cpu, NULL),
                     0);
    assert_int_equal(mem, 3985408);
    assert_int_equal(cpu, 78623);
}

static void test_stats__cgroup_v2_has_usage_only(void **state)
{
    const char *j =
        "{\"read\":\"2026-11-27T16:00:41Z\",\"cpu_stats\":{\"cpu_usage\":{"
        "\"total_usage\":2000}},\"memory_stats\":{\"usage\":1234}}";
    int64_t mem, cpu;
    (void)state;

    assert_int_equal(berth__docker_parse_stats(j, strlen(j), &mem, &cpu, NULL),
                     0);
    assert_int_equal(mem, 1234);
    assert_int_equal(cpu, 2);
}

static void test_stats__stopped_container_gives_unknown(void **state)
{
    const char *j =
        "{\"read\":\"0001-01-01T00:00:00Z\",\"cpu_stats\":{\"cpu_usage\":{"
        "\"total_usage\":0}},\"memory_stats\":{}}";
    int64_t mem = 5, cpu = 5;
    (void)state;

    assert_int_equal(berth__docker_parse_stats(j, strlen(j), &mem, &cpu, NULL),
                     0);
    assert_int_equal(mem, -1);
    assert_int_equal(cpu, -1);
}

static void test_list__labels_and_namespace_filter(void **state)
{
    const char *j =
        "[{\"Id\":\"aaa\",\"Names\":[\"/berth-1-1\"],\"State\":\"exited\","
        "\"Created\":1700000000,\"Labels\":{\"berth.job\":\"1\","
        "\"berth.attempt\":\"1\"}},"
        "{\"Id\":\"bbb\",\"Names\":[\"/ci-berth-2-3\"],\"State\":\"running\","
        "\"Created\":1700000001,\"Labels\":{\"berth.job\":\"2\","
        "\"berth.attempt\":\"3\",\"berth.namespace\":\"ci\"}},"
        "{\"Id\":\"ccc\",\"Names\":[\"/odd\"],\"State\":\"created\","
        "\"Labels\":{\"berth.job\":\"not-a-number\"}},"
        "{\"Names\":[\"/no-id\"]}]";
    struct berth_exec_object *o;
    size_t n;
    (void)state;

    assert_int_equal(berth__docker_parse_list(j, strlen(j), "", &o, &n, NULL),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].id, "aaa");
    assert_string_equal(o[0].name, "berth-1-1");
    assert_int_equal(o[0].job_id, 1);
    assert_int_equal(o[0].attempt, 1);
    assert_int_equal(o[0].state, BERTH_EXEC_EXITED);
    assert_int_equal(o[0].created_at, INT64_C(1700000000) * 1000000);
    assert_string_equal(o[1].id, "ccc");
    assert_int_equal(o[1].job_id, -1);
    assert_int_equal(o[1].state, BERTH_EXEC_PENDING);
    free(o);

    assert_int_equal(berth__docker_parse_list(j, strlen(j), "ci", &o, &n, NULL),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(o[0].id, "bbb");
    assert_int_equal(o[0].job_id, 2);
    assert_int_equal(o[0].attempt, 3);
    assert_int_equal(o[0].state, BERTH_EXEC_RUNNING);
    free(o);

    /* NULL: every namespace (status of ids, whoever made them). */
    assert_int_equal(berth__docker_parse_list(j, strlen(j), NULL, &o, &n, NULL),
                     0);
    assert_int_equal(n, 3);
    free(o);

    assert_int_equal(berth__docker_parse_list("{}", 2, NULL, &o, &n, NULL),
                     BERTH_E_PARSE);
    assert_null(o);
}

static void test_created__id_or_parse_error(void **state)
{
    const char *ok = "{\"Id\":\"abc123\",\"Warnings\":[]}";
    char id[BERTH_EXEC_ID_MAX];
    struct berth_err err;
    (void)state;

    assert_int_equal(
        berth__docker_parse_created(ok, strlen(ok), id, sizeof(id), NULL), 0);
    assert_string_equal(id, "abc123");
    berth_err_init(&err);
    assert_int_equal(berth__docker_parse_created("{\"Warnings\":[]}", 15, id,
                                                 sizeof(id), &err),
                     BERTH_E_PARSE);
    assert_true(err.transient);
    assert_int_equal(
        berth__docker_parse_created("\x01\x02garbage", 9, id, sizeof(id), &err),
        BERTH_E_PARSE);
}

static void test_message__json_message_or_printable_body(void **state)
{
    char buf[64];
    (void)state;
    {
        const char *j = "{\"message\":\"No such image: x:1\"}";
        berth__docker_message(j, strlen(j), buf, sizeof(buf));
        assert_string_equal(buf, "No such image: x:1");
        berth__docker_message("plain text\n", 11, buf, sizeof(buf));
        assert_string_equal(buf, "plain text");
        berth__docker_message("a\x01\x02z", 4, buf, sizeof(buf));
        assert_string_equal(buf, "a??z");
        berth__docker_message(NULL, 0, buf, sizeof(buf));
        assert_string_equal(buf, "");
        berth__docker_message("0123456789abcdef", 16, buf, 5);
        assert_string_equal(buf, "0123");
    }
}

/* ---- requests ----------------------------------------------------------- */

static void test_create_body__carries_the_launch(void **state)
{
    struct berth_strv cmd = BERTH_STRV_INIT;
    struct berth_map env = BERTH_MAP_INIT, labels = BERTH_MAP_INIT;
    struct berth_launch l = {0};
    struct berth__docker_create c = {.host = "local",
                                     .executor = "docker",
                                     .namespace_ = "ci",
                                     .network = "none",
                                     .stop_grace_seconds = 5};
    json_t *root, *hc, *lab;
    char *body;
    (void)state;

    berth_strv_push(&cmd, "sh");
    berth_strv_push(&cmd, "-c");
    berth_strv_push(&cmd, "echo \"$A\"");
    berth_map_set(&env, "A", "1 2");
    berth_map_set(&env, "B", "x=y");
    berth_map_set(&labels, "team", "data");
    berth_map_set(&labels, "berth.job", "999"); /* reserved: ignored */
    l.job_id = 42;
    l.attempt = 3;
    l.name = "berth-42-3";
    l.image = "local/busybox:latest";
    l.command = &cmd;
    l.working_dir = "/tmp";
    l.env = &env;
    l.memory_mb = 64;
    l.cpu_cores = 0.5;
    l.labels = &labels;

    body = berth__docker_create_body(&l, &c);
    root = json_loads(body, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "Image")),
                        "local/busybox:latest");
    assert_int_equal(json_array_size(json_object_get(root, "Cmd")), 3);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(root, "Cmd"), 2)),
        "echo \"$A\"");
    assert_string_equal(json_string_value(json_object_get(root, "WorkingDir")),
                        "/tmp");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(root, "Env"), 0)),
        "A=1 2");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(root, "Env"), 1)),
        "B=x=y");
    assert_true(json_is_false(json_object_get(root, "Tty")));
    assert_int_equal(json_integer_value(json_object_get(root, "StopTimeout")),
                     5);
    lab = json_object_get(root, "Labels");
    assert_string_equal(json_string_value(json_object_get(lab, "berth.job")),
                        "42");
    assert_string_equal(
        json_string_value(json_object_get(lab, "berth.attempt")), "3");
    assert_string_equal(json_string_value(json_object_get(lab, "berth.host")),
                        "local");
    assert_string_equal(
        json_string_value(json_object_get(lab, "berth.namespace")), "ci");
    assert_string_equal(json_string_value(json_object_get(lab, "team")),
                        "data");
    hc = json_object_get(root, "HostConfig");
    assert_int_equal(json_integer_value(json_object_get(hc, "Memory")),
                     64 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(hc, "MemorySwap")),
                     64 * 1024 * 1024);
    assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")),
                     500000000);
    assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")),
                        "none");
    json_decref(root);
    free(body);

    /* The job's network wins; nothing unset is sent; swap may be allowed. */
    l.network = "host";
    l.memory_mb = 16;
    l.cpu_cores = 0;
    l.command = NULL;
    l.working_dir = NULL;
    l.env = NULL;
    c.allow_swap = true;
    c.stop_grace_seconds = -1;
    body = berth__docker_create_body(&l, &c);
    root = json_loads(body, 0, NULL);
    hc = json_object_get(root, "HostConfig");
    assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")),
                        "host");
    assert_null(json_object_get(hc, "MemorySwap"));
    assert_null(json_object_get(hc, "NanoCpus"));
    assert_null(json_object_get(root, "Cmd"));
    assert_null(json_object_get(root, "Env"));
    assert_null(json_object_get(root, "WorkingDir"));
    assert_null(json_object_get(root, "StopTimeout"));
    json_decref(root);
    free(body);

    /* No network anywhere: the engine's default. */
    l.network = NULL;
    c.network = NULL;
    body = berth__docker_create_body(&l, &c);
    root = json_loads(body, 0, NULL);
    assert_null(
        json_object_get(json_object_get(root, "HostConfig"), "NetworkMode"));
    json_decref(root);
    free(body);

    berth_strv_release(&cmd);
    berth_map_release(&env);
    berth_map_release(&labels);
}

static void check_split(const char *image, const char *from, const char *tag)
{
    char *f, *t;
    berth__docker_image_split(image, &f, &t);
    assert_string_equal(f, from);
    assert_string_equal(t, tag);
    free(f);
    free(t);
}

static void test_image_split__repo_tag_registry_digest(void **state)
{
    (void)state;
    check_split("busybox", "busybox", "latest");
    check_split("local/busybox:1.35", "local/busybox", "1.35");
    check_split("reg.example:5000/a/b", "reg.example:5000/a/b", "latest");
    check_split("reg.example:5000/a/b:v2", "reg.example:5000/a/b", "v2");
    check_split("a/b@sha256:0123", "a/b@sha256:0123", "");
}

/* ---- endpoint and version ----------------------------------------------- */

static void check_ep(const char *url, bool tls, const char *sock,
                     const char *base)
{
    struct berth__docker_endpoint ep;
    struct berth_err err;
    berth_err_init(&err);
    assert_int_equal(berth__docker_endpoint_parse(url, tls, &ep, &err), 0);
    if (sock)
        assert_string_equal(ep.socket, sock);
    else
        assert_null(ep.socket);
    assert_string_equal(ep.base, base);
    berth__docker_endpoint_release(&ep);
}

static void test_endpoint__unix_tcp_tls_http(void **state)
{
    (void)state;
    check_ep("unix:///var/run/docker.sock", false, "/var/run/docker.sock",
             "http://docker");
    check_ep("tcp://10.0.0.5:2375", false, NULL, "http://10.0.0.5:2375");
    check_ep("tcp://dock.example:2376/", true, NULL,
             "https://dock.example:2376");
    check_ep("tcp://dock.example", false, NULL, "http://dock.example:2375");
    check_ep("tcp://dock.example", true, NULL, "https://dock.example:2376");
    check_ep("tcp://[::1]:2375", false, NULL, "http://[::1]:2375");
    check_ep("https://h:1234/", false, NULL, "https://h:1234");
}

static void test_endpoint__bad_urls_are_config_errors(void **state)
{
    const char *bad[] = {"",
                         "unix://relative.sock",
                         "npipe:////./pipe/docker_engine",
                         "tcp://",
                         "tcp://h:",
                         "tcp://h:99999",
                         "tcp://h:12x",
                         "tcp://h:80/path",
                         "tcp://[::1"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct berth__docker_endpoint ep;
        struct berth_err err;
        berth_err_init(&err);
        assert_int_equal(berth__docker_endpoint_parse(bad[i], false, &ep, &err),
                         BERTH_E_CONFIG);
        assert_null(ep.base);
    }
}

static void test_api_pick__lower_of_engine_and_ours(void **state)
{
    char buf[16];
    (void)state;
    assert_int_equal(berth__docker_api_pick("1.41", buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "1.41");
    assert_int_equal(berth__docker_api_pick("1.45", buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "1.41");
    assert_int_equal(berth__docker_api_pick("2.0", buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "1.41");
    assert_int_equal(berth__docker_api_pick("1.40", buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "1.40");
    assert_int_equal(berth__docker_api_pick("1.9", buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "1.9");
    assert_int_equal(berth__docker_api_pick("x", buf, sizeof(buf), NULL),
                     BERTH_E_PARSE);
    assert_int_equal(berth__docker_api_pick(NULL, buf, sizeof(buf), NULL),
                     BERTH_E_PARSE);
    assert_int_equal(berth__docker_api_pick("1.", buf, sizeof(buf), NULL),
                     BERTH_E_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demux__frames_go_to_their_streams),
        cmocka_unit_test(test_demux__any_split_gives_the_same_streams),
        cmocka_unit_test(test_demux__stdin_frames_count_as_stdout),
        cmocka_unit_test(test_demux__bad_header_is_a_parse_error_and_sticks),
        cmocka_unit_test(test_demux__tty_stream_is_all_stdout),
        cmocka_unit_test(test_demux__callback_stop_returns_one),
        cmocka_unit_test(test_demux__stream_cut_inside_a_frame_is_partial),
        cmocka_unit_test(test_logcap__under_the_cap_keeps_everything),
        cmocka_unit_test(test_logcap__over_the_cap_keeps_the_end_from_a_line),
        cmocka_unit_test(test_logcap__one_huge_chunk_keeps_its_tail),
        cmocka_unit_test(test_logcap__exactly_the_cap_is_not_truncated),
        cmocka_unit_test(test_inspect__exited_container),
        cmocka_unit_test(test_inspect__oom_killed_is_reported_as_such),
        cmocka_unit_test(test_inspect__created_has_no_times_and_is_pending),
        cmocka_unit_test(
            test_inspect__a_quick_exit_never_ends_before_it_starts),
        cmocka_unit_test(test_inspect__states_map_to_berth_states),
        cmocka_unit_test(test_inspect__garbage_is_a_transient_parse_error),
        cmocka_unit_test(test_stats__cgroup_v1_figures),
        cmocka_unit_test(test_stats__cgroup_v2_has_usage_only),
        cmocka_unit_test(test_stats__stopped_container_gives_unknown),
        cmocka_unit_test(test_list__labels_and_namespace_filter),
        cmocka_unit_test(test_created__id_or_parse_error),
        cmocka_unit_test(test_message__json_message_or_printable_body),
        cmocka_unit_test(test_create_body__carries_the_launch),
        cmocka_unit_test(test_image_split__repo_tag_registry_digest),
        cmocka_unit_test(test_endpoint__unix_tcp_tls_http),
        cmocka_unit_test(test_endpoint__bad_urls_are_config_errors),
        cmocka_unit_test(test_api_pick__lower_of_engine_and_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
