/*
 * cloudrun_int.h - the pure half of the cloudrun backend: building Cloud
 * Run Admin API v2 request bodies and reading its answers (and Cloud
 * Logging's), without any I/O. cloudrun.c does the talking; unit tests and
 * the fuzz target call these directly.
 *
 * JSON values are jansson's; every json_t * returned is a new reference the
 * caller decrefs, every json_t * argument is borrowed.
 */
#ifndef BERTH_EXEC_CLOUDRUN_INT_H
#define BERTH_EXEC_CLOUDRUN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "berth/exec.h"

/* The one container of every berth job, named in overrides. */
#define BERTH_CR_CONTAINER "berth"
/* Environment variables berth adds to every run. BERTH_EXECUTION_NAME
 * carries berth_exec_name(): it is how a later launch or find recognises
 * an execution as the one of (job, attempt). */
#define BERTH_CR_ENV_MARKER  "BERTH_EXECUTION_NAME"
#define BERTH_CR_ENV_JOB     "BERTH_JOB_ID"
#define BERTH_CR_ENV_ATTEMPT "BERTH_ATTEMPT"
/* Job (and so execution) labels. */
#define BERTH_CR_LABEL_MANAGED  "berth-managed"
#define BERTH_CR_LABEL_TEMPLATE "berth-template"
#define BERTH_CR_LABEL_SPEC     "berth-spec"
/* Cloud Run's default task timeout is 10 minutes; jobs without a timeout
 * get the longest generally available one (24 h) instead. */
#define BERTH_CR_MAX_TIMEOUT_S 86400
/* Cloud Run stops a task this long after berth's own timeout, so that the
 * worker (which kills at the timeout and records timed_out) acts first, and
 * Cloud Run still stops it when no worker is left to. */
#define BERTH_CR_TIMEOUT_GRACE_S 60
#define BERTH_CR_JOB_ID_MAX      64

/* ---- requests ---------------------------------------------------------- */

/*
 * Cloud Run's resource limits for a job's memory and CPUs: CPUs round up to
 * 1, 2, 4, 6 or 8 (jobs have no fractional CPUs); memory is at least 512 MiB
 * and at least what the CPU count needs (4 CPUs: 2 GiB, 6 or 8: 4 GiB), at
 * most 32 GiB. cpu and memory get "2" and "2048Mi" (16 bytes suffice).
 * BERTH_E_INVALID (permanent) when the job asks for more than Cloud Run has.
 */
int berth__cloudrun_resources(int64_t memory_mb, double cpu_cores, char *cpu,
                              size_t cpu_size, char *memory, size_t mem_size,
                              struct berth_err *err);

/* Executor-wide settings that go into every Job (all may be NULL). */
struct berth_cr_jobconf {
    const char *service_account;
    const char *vpc_connector;  /* Serverless VPC Access connector */
    const char *vpc_network;    /* Direct VPC egress: network... */
    const char *vpc_subnetwork; /* ...and subnetwork */
    const char *vpc_egress;     /* "all-traffic" | "private-ranges-only" */
};

/* BERTH_E_CONFIG when the VPC settings do not make sense together. */
int berth__cloudrun_jobconf_check(const struct berth_cr_jobconf *jc,
                                  struct berth_err *err);

/*
 * The Job that runs `req` (DESIGN.md § Executors: a Job per template): what
 * run overrides cannot change (image, working_dir, resources, service
 * account, VPC access) goes into the Job, and its id is
 * "berth-<template or image slug>-<10 hex of SHA-256 of that spec>", so a
 * changed template makes a new Job and jobs with equal specs share one.
 * job_id gets BERTH_CR_JOB_ID_MAX bytes; *job is the Job body for
 * jobs.create.
 */
int berth__cloudrun_job_spec(const struct berth_launch *req,
                             const struct berth_cr_jobconf *jc, char *job_id,
                             size_t id_size, json_t **job,
                             struct berth_err *err);

/* The RunJobRequest body: args, env (with the BERTH_* markers), taskCount 1
 * and the timeout (+ grace) as overrides. */
json_t *berth__cloudrun_run_body(const struct berth_launch *req);

/*
 * The Cloud Logging filter for an execution's stdout and stderr, from
 * since_us on (0: no time bound). Caller frees.
 */
char *berth__cloudrun_log_filter(const char *project, const char *location,
                                 const char *job, const char *execution,
                                 int64_t since_us);

/* "projects/P/locations/L/jobs/J/executions/E" -> its parts (each buffer
 * of `size` bytes). BERTH_E_INVALID when the name has another shape. */
int berth__cloudrun_split_execution(const char *name, char *project,
                                    char *location, char *job, char *exec,
                                    size_t size);

/* Percent-encode for a URL query value (RFC 3986 unreserved kept). */
char *berth__cloudrun_urlencode(const char *s);

/* ---- answers ----------------------------------------------------------- */

/* google.rpc.Status / the error body {"error":{"code","message","status"}}
 * -> "STATUS: message", or a prefix of the raw text when it is not one. */
void berth__cloudrun_error_detail(const char *body, size_t len, char *buf,
                                  size_t size);

enum berth_cr_completed {
    BERTH_CR_NOT_DONE = 0,
    BERTH_CR_SUCCEEDED = 1,
    BERTH_CR_FAILED = 2,
};

/* What berth reads from an Execution resource. */
struct berth_cr_execution {
    char name[BERTH_EXEC_ID_MAX];
    char marker[128];    /* BERTH_EXECUTION_NAME of its container, "" if none */
    int64_t create_time; /* us; 0 unknown */
    int64_t start_time;
    int64_t completion_time;
    int64_t task_count;
    int64_t running, succeeded, failed, cancelled, retried;
    enum berth_cr_completed completed; /* the "Completed" condition */
    char reason[64];   /* its executionReason, e.g. NON_ZERO_EXIT_CODE */
    char message[256]; /* its message */
};

/* BERTH_E_PARSE when obj is not an Execution (no name, mistyped fields). */
int berth__cloudrun_parse_execution(json_t *obj, struct berth_cr_execution *e,
                                    struct berth_err *err);

/*
 * Map an execution onto berth's view: pending, running, or exited with an
 * exit code. Returns true when the execution failed and the exit code has
 * to come from its task (berth__cloudrun_task_result()).
 */
bool berth__cloudrun_execution_status(const struct berth_cr_execution *e,
                                      struct berth_exec_status *st);

/*
 * Read the exit code of a finished execution's task from a tasks.list
 * answer: lastAttemptResult.exitCode, else 128 + termSignal; sets
 * *known = false when the task reports neither (the container did not get
 * to exit). Fills oom when the attempt's message says the memory limit was
 * exceeded, and copies that message.
 */
int berth__cloudrun_task_result(json_t *list, int *exit_code, bool *known,
                                bool *oom, char *message, size_t msg_size,
                                struct berth_err *err);

/* A google.longrunning.Operation. */
struct berth_cr_operation {
    char name[512];
    bool done;
    json_t *metadata; /* borrowed from the parsed object, may be NULL */
    json_t *response; /* idem */
    int error_code;   /* google.rpc.Code, 0 = none */
    char error[300];  /* "STATUS: message" */
};

int berth__cloudrun_parse_operation(json_t *obj, struct berth_cr_operation *op,
                                    struct berth_err *err);

/*
 * One entry of an entries.list answer: the stream it is (1 stdout, 2
 * stderr, 0 any other log, such as system messages), and its text:
 * textPayload, else jsonPayload as compact JSON (then *dumped holds it,
 * caller frees), else NULL.
 */
int berth__cloudrun_entry_stream(json_t *entry);
const char *berth__cloudrun_entry_text(json_t *entry, char **dumped);

/*
 * Append the entries of an entries.list answer to out (stdout) and errb
 * (stderr), each capped at max_bytes (then *truncated is set). Lines from
 * other logs (system messages) are skipped. *next_token: the nextPageToken
 * (caller frees) or NULL on the last page.
 */
int berth__cloudrun_parse_entries(json_t *resp, struct berth_buf *out,
                                  struct berth_buf *errb, size_t max_bytes,
                                  bool *truncated, char **next_token,
                                  struct berth_err *err);

#endif
