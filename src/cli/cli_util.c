/* cli_util.c - JSON forms of jobs, hosts and templates, word splitting and
 * id parsing shared by the commands. The JSON field names are API: they are
 * documented in the README and never renamed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

json_t *cli_time_json(int64_t us)
{
    char buf[BERTH_TIME_STR_MAX];
    if (us == 0)
        return json_null();
    return json_string(berth_time_format(us, buf));
}

const char *cli_time_text(int64_t us, char *buf)
{
    if (us == 0) {
        snprintf(buf, BERTH_TIME_STR_MAX, "-");
        return buf;
    }
    berth_time_format(us, buf);
    /* drop the milliseconds for tables */
    {
        char *dot = strchr(buf, '.');
        if (dot) {
            dot[0] = 'Z';
            dot[1] = '\0';
        }
    }
    return buf;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *map_json(const struct berth_map *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->kv[i].key, json_string(m->kv[i].value));
    return o;
}

static json_t *strv_json(const struct berth_strv *sv)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    return a;
}

json_t *cli_job_json(const struct berth_job *j)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(j->id));
    json_object_set_new(o, "name", str_or_null(j->name));
    json_object_set_new(o, "status",
                        json_string(berth_job_state_str(j->status)));
    json_object_set_new(o, "executor", str_or_null(j->executor));
    json_object_set_new(o, "host", str_or_null(j->host));
    json_object_set_new(o, "routing_reason", str_or_null(j->routing_reason));
    json_object_set_new(o, "rule_index",
                        j->rule_index >= 0 ? json_integer(j->rule_index)
                                           : json_null());
    json_object_set_new(o, "exit_code",
                        j->has_exit_code ? json_integer(j->exit_code)
                                         : json_null());
    json_object_set_new(o, "attempts", json_integer(j->attempt));
    json_object_set_new(o, "max_attempts", json_integer(j->max_attempts));
    json_object_set_new(
        o, "retry_strategy",
        json_string(berth_retry_strategy_str(j->retry_strategy)));
    json_object_set_new(o, "execution_id", str_or_null(j->execution_id));
    json_object_set_new(o, "created_at", cli_time_json(j->created_at));
    json_object_set_new(o, "started_at", cli_time_json(j->started_at));
    json_object_set_new(o, "finished_at", cli_time_json(j->finished_at));
    json_object_set_new(o, "not_before", cli_time_json(j->not_before));
    json_object_set_new(o, "start_deadline",
                        j->start_deadline ? json_integer(j->start_deadline)
                                          : json_null());
    json_object_set_new(o, "last_error", str_or_null(j->last_error));
    json_object_set_new(o, "wait_reason", str_or_null(j->wait_reason));
    json_object_set_new(o, "template", str_or_null(j->template_name));
    json_object_set_new(o, "image", str_or_null(j->image));
    json_object_set_new(o, "command", strv_json(&j->command));
    json_object_set_new(o, "working_dir", str_or_null(j->working_dir));
    json_object_set_new(o, "env", map_json(&j->env));
    json_object_set_new(o, "network", str_or_null(j->network));
    json_object_set_new(o, "memory_mb", json_integer(j->memory_mb));
    json_object_set_new(o, "cpu_cores", json_real(j->cpu_cores));
    json_object_set_new(o, "timeout_seconds", json_integer(j->timeout_seconds));
    json_object_set_new(o, "labels", map_json(&j->labels));
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "preferred_executor",
                        str_or_null(j->preferred_executor));
    json_object_set_new(o, "user", str_or_null(j->user));
    json_object_set_new(o, "user_groups", strv_json(&j->user_groups));
    json_object_set_new(o, "cancel_requested",
                        json_boolean(j->cancel_requested));
    json_object_set_new(o, "oom_killed", json_boolean(j->oom_killed));
    json_object_set_new(o, "peak_memory_bytes",
                        j->peak_memory_bytes >= 0
                            ? json_integer(j->peak_memory_bytes)
                            : json_null());
    json_object_set_new(o, "cpu_time_us",
                        j->cpu_time_us >= 0 ? json_integer(j->cpu_time_us)
                                            : json_null());
    json_object_set_new(o, "owner", str_or_null(j->owner));
    return o;
}

json_t *cli_event_json(const struct berth_job_event *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "at", cli_time_json(e->at));
    json_object_set_new(o, "from", json_string(berth_job_state_str(e->from)));
    json_object_set_new(o, "to", json_string(berth_job_state_str(e->to)));
    json_object_set_new(o, "attempt", json_integer(e->attempt));
    json_object_set_new(o, "executor", str_or_null(e->executor));
    json_object_set_new(o, "host", str_or_null(e->host));
    json_object_set_new(o, "reason", str_or_null(e->reason));
    return o;
}

json_t *cli_template_json(const struct berth_template *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "image", str_or_null(t->image));
    json_object_set_new(o, "command", strv_json(&t->command));
    json_object_set_new(o, "working_dir", str_or_null(t->working_dir));
    json_object_set_new(o, "env", map_json(&t->env));
    json_object_set_new(o, "environment", str_or_null(t->environment));
    json_object_set_new(o, "network", str_or_null(t->network));
    json_object_set_new(o, "memory_mb", json_integer(t->memory_mb));
    json_object_set_new(o, "cpu_cores", json_real(t->cpu_cores));
    json_object_set_new(o, "timeout_seconds", json_integer(t->timeout_seconds));
    json_object_set_new(o, "labels", map_json(&t->labels));
    return o;
}

json_t *cli_host_json(const struct berth_host *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(h->name));
    json_object_set_new(o, "executor", json_string(h->executor));
    json_object_set_new(o, "url", str_or_null(h->url));
    json_object_set_new(o, "enabled", json_boolean(h->enabled));
    json_object_set_new(o, "max_concurrent_jobs",
                        json_integer(h->max_concurrent_jobs));
    json_object_set_new(o, "memory_mb", json_integer(h->memory_mb));
    json_object_set_new(o, "cpu_cores", json_real(h->cpu_cores));
    json_object_set_new(o, "weight", json_integer(h->weight));
    json_object_set_new(o, "used_jobs", json_integer(h->used_jobs));
    json_object_set_new(o, "used_memory_mb", json_integer(h->used_memory_mb));
    json_object_set_new(o, "used_cpu_cores", json_real(h->used_cpu_cores));
    json_object_set_new(o, "free_slots",
                        json_integer(h->max_concurrent_jobs > h->used_jobs
                                         ? h->max_concurrent_jobs - h->used_jobs
                                         : 0));
    return o;
}

void cli_print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(o);
}

int cli_split_words(const char *s, struct berth_strv *out,
                    struct berth_err *err)
{
    struct berth_buf w = BERTH_BUF_INIT;
    bool in_word = false;
    const char *p = s;

    berth_strv_init(out);
    while (*p) {
        char ch = *p;
        if (ch == ' ' || ch == '\t' || ch == '\n') {
            if (in_word) {
                berth_strv_push(out, berth_buf_cstr(&w));
                berth_buf_reset(&w);
                in_word = false;
            }
            p++;
            continue;
        }
        in_word = true;
        if (ch == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end)
                goto unterminated;
            berth_buf_append(&w, p + 1, (size_t)(end - p - 1));
            p = end + 1;
        } else if (ch == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1] && strchr("\"\\$`\n", p[1]) != NULL) {
                    p++;
                }
                berth_buf_append(&w, p, 1);
                p++;
            }
            if (*p != '"')
                goto unterminated;
            p++;
        } else if (ch == '\\' && p[1]) {
            berth_buf_append(&w, p + 1, 1);
            p += 2;
        } else {
            berth_buf_append(&w, p, 1);
            p++;
        }
    }
    if (in_word)
        berth_strv_push(out, berth_buf_cstr(&w));
    berth_buf_release(&w);
    return 0;
unterminated:
    berth_buf_release(&w);
    berth_strv_release(out);
    return berth_err_set(err, BERTH_E_INVALID,
                         "unterminated quote in command '%s'", s);
}

int cli_parse_id(const char *cmd, const char *s, int64_t *out)
{
    if (berth_parse_i64(s, 1, INT64_MAX, out) != 0)
        return cli_usage_error(cmd, "'%s' is not a job id", s);
    return CLI_OK;
}
