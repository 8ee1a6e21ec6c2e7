/* job.c - the job state machine and the plain-data structs of berth/job.h.
 * DESIGN.md § Job lifecycle: this file holds the one transition table. */
#include <stdlib.h>
#include <string.h>

#include "berth/job.h"

static const char *const state_names[BERTH_JOB_NSTATES] = {
#define BERTH_JS_NAME(name, val, text) [val] = text,
    BERTH_JOB_STATE_MAP(BERTH_JS_NAME)
#undef BERTH_JS_NAME
};

const char *berth_job_state_str(enum berth_job_state s)
{
    if ((int)s < 0 || (int)s >= BERTH_JOB_NSTATES)
        return "unknown";
    return state_names[s];
}

int berth_job_state_parse(const char *s, enum berth_job_state *out)
{
    for (int i = 0; i < BERTH_JOB_NSTATES; i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum berth_job_state)i;
            return 0;
        }
    }
    return BERTH_E_INVALID;
}

bool berth_job_state_terminal(enum berth_job_state s)
{
    return s == BERTH_JOB_COMPLETED || s == BERTH_JOB_FAILED ||
           s == BERTH_JOB_TIMED_OUT || s == BERTH_JOB_CANCELLED;
}

#define P (1u << BERTH_JOB_PENDING)
#define L (1u << BERTH_JOB_LAUNCHING)
#define R (1u << BERTH_JOB_RUNNING)
#define C (1u << BERTH_JOB_COMPLETED)
#define F (1u << BERTH_JOB_FAILED)
#define T (1u << BERTH_JOB_TIMED_OUT)
#define X (1u << BERTH_JOB_CANCELLED)

/* Bit set of legal targets for each state (not counting explicit retry). */
static const unsigned legal_to[BERTH_JOB_NSTATES] = {
    [BERTH_JOB_PENDING] = L | X | F,
    [BERTH_JOB_LAUNCHING] = R | P | F | X,
    [BERTH_JOB_RUNNING] = C | F | T | X | P,
    [BERTH_JOB_COMPLETED] = 0,
    [BERTH_JOB_FAILED] = 0,
    [BERTH_JOB_TIMED_OUT] = 0,
    [BERTH_JOB_CANCELLED] = 0,
};

/* `berth retry` re-queues these as a new attempt (DESIGN.md § Job
 * lifecycle: failed, timed-out or cancelled). */
static const unsigned retry_from = F | T | X;

bool berth_job_transition_ok(enum berth_job_state from, enum berth_job_state to,
                             bool explicit_retry)
{
    if ((int)from < 0 || (int)from >= BERTH_JOB_NSTATES || (int)to < 0 ||
        (int)to >= BERTH_JOB_NSTATES || from == to)
        return false;
    if (explicit_retry)
        return to == BERTH_JOB_PENDING && (retry_from & (1u << from));
    return (legal_to[from] & (1u << to)) != 0;
}

#undef P
#undef L
#undef R
#undef C
#undef F
#undef T
#undef X

static const char *const retry_names[] = {"exponential", "linear", "fixed",
                                          "none"};

const char *berth_retry_strategy_str(enum berth_retry_strategy s)
{
    if ((int)s < 0 || (int)s > 3)
        return "unknown";
    return retry_names[s];
}

int berth_retry_strategy_parse(const char *s, enum berth_retry_strategy *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, retry_names[i]) == 0) {
            *out = (enum berth_retry_strategy)i;
            return 0;
        }
    }
    return BERTH_E_INVALID;
}

void berth_template_init(struct berth_template *t)
{
    memset(t, 0, sizeof(*t));
}

void berth_template_release(struct berth_template *t)
{
    free(t->name);
    free(t->image);
    berth_strv_release(&t->command);
    free(t->working_dir);
    berth_map_release(&t->env);
    free(t->environment);
    free(t->network);
    berth_map_release(&t->labels);
    berth_template_init(t);
}

void berth_template_copy(struct berth_template *dst,
                         const struct berth_template *src)
{
    *dst = *src;
    dst->name = berth_xstrdup(src->name);
    dst->image = berth_xstrdup(src->image);
    berth_strv_copy(&dst->command, &src->command);
    dst->working_dir = berth_xstrdup(src->working_dir);
    berth_map_copy(&dst->env, &src->env);
    dst->environment = berth_xstrdup(src->environment);
    dst->network = berth_xstrdup(src->network);
    berth_map_copy(&dst->labels, &src->labels);
}

void berth_host_init(struct berth_host *h)
{
    memset(h, 0, sizeof(*h));
    h->weight = 1;
    h->enabled = true;
}

void berth_host_release(struct berth_host *h)
{
    free(h->name);
    free(h->executor);
    free(h->url);
    free(h->options_json);
    berth_host_init(h);
}

void berth_host_copy(struct berth_host *dst, const struct berth_host *src)
{
    *dst = *src;
    dst->name = berth_xstrdup(src->name);
    dst->executor = berth_xstrdup(src->executor);
    dst->url = berth_xstrdup(src->url);
    dst->options_json = berth_xstrdup(src->options_json);
}

void berth_job_init(struct berth_job *j)
{
    memset(j, 0, sizeof(*j));
    j->priority = 50;
    j->max_attempts = 3;
    j->retry_strategy = BERTH_RETRY_EXPONENTIAL;
    j->status = BERTH_JOB_PENDING;
    j->attempt = 1;
    j->rule_index = -1;
    j->peak_memory_bytes = -1;
    j->cpu_time_us = -1;
}

void berth_job_release(struct berth_job *j)
{
    free(j->name);
    free(j->template_name);
    free(j->image);
    berth_strv_release(&j->command);
    free(j->working_dir);
    berth_map_release(&j->env);
    free(j->network);
    berth_map_release(&j->labels);
    free(j->tmpl_image);
    berth_map_release(&j->tmpl_labels);
    free(j->preferred_executor);
    free(j->user);
    berth_strv_release(&j->user_groups);
    free(j->executor);
    free(j->host);
    free(j->routing_reason);
    free(j->execution_id);
    free(j->last_error);
    free(j->wait_reason);
    free(j->owner);
    berth_job_init(j);
}

void berth_job_copy(struct berth_job *dst, const struct berth_job *src)
{
    *dst = *src;
    dst->name = berth_xstrdup(src->name);
    dst->template_name = berth_xstrdup(src->template_name);
    dst->image = berth_xstrdup(src->image);
    berth_strv_copy(&dst->command, &src->command);
    dst->working_dir = berth_xstrdup(src->working_dir);
    berth_map_copy(&dst->env, &src->env);
    dst->network = berth_xstrdup(src->network);
    berth_map_copy(&dst->labels, &src->labels);
    dst->tmpl_image = berth_xstrdup(src->tmpl_image);
    berth_map_copy(&dst->tmpl_labels, &src->tmpl_labels);
    dst->preferred_executor = berth_xstrdup(src->preferred_executor);
    dst->user = berth_xstrdup(src->user);
    berth_strv_copy(&dst->user_groups, &src->user_groups);
    dst->executor = berth_xstrdup(src->executor);
    dst->host = berth_xstrdup(src->host);
    dst->routing_reason = berth_xstrdup(src->routing_reason);
    dst->execution_id = berth_xstrdup(src->execution_id);
    dst->last_error = berth_xstrdup(src->last_error);
    dst->wait_reason = berth_xstrdup(src->wait_reason);
    dst->owner = berth_xstrdup(src->owner);
}

void berth_job_event_release(struct berth_job_event *e)
{
    free(e->executor);
    free(e->host);
    free(e->reason);
    memset(e, 0, sizeof(*e));
}

void berth_job_logs_init(struct berth_job_logs *l)
{
    memset(l, 0, sizeof(*l));
}

void berth_job_logs_release(struct berth_job_logs *l)
{
    free(l->out);
    free(l->err);
    berth_job_logs_init(l);
}
