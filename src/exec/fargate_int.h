/*
 * fargate_int.h - the pure parts of the fargate backend (src/exec/fargate.c),
 * exposed to its unit tests: task sizes, AWS JSON error classification and
 * reading a DescribeTasks task into a status. Private to the exec layer.
 */
#ifndef BERTH_EXEC_FARGATE_INT_H
#define BERTH_EXEC_FARGATE_INT_H

#include <stdint.h>

#include <jansson.h>

#include "berth/err.h"
#include "berth/exec.h"

/* A valid Fargate task size: CPU units (1024 = 1 vCPU) and MiB. */
struct berth_fargate_size {
    int cpu;
    int64_t memory_mb;
};

/*
 * The smallest valid Fargate size (AWS's table of task CPU and memory
 * combinations) that holds cpu_cores and memory_mb, rounding both up;
 * 0 means "no request" (the smallest size). BERTH_E_INVALID with a message
 * saying what does not fit when nothing does (over 16 vCPU or 120 GiB).
 */
int berth__fargate_size(double cpu_cores, int64_t memory_mb,
                        struct berth_fargate_size *out, struct berth_err *err);

/* Is (cpu, memory_mb) in AWS's table? */
bool berth__fargate_size_valid(int cpu, int64_t memory_mb);

/* How an AWS JSON error answer is treated. */
enum berth_aws_err_class {
    BERTH_AWS_ERR_THROTTLE = 1, /* retried with backoff */
    BERTH_AWS_ERR_SERVER = 2,   /* 5xx: retried with backoff */
    BERTH_AWS_ERR_EXPIRED = 3,  /* temporary credentials expired: refresh */
    BERTH_AWS_ERR_AUTH = 4,     /* signature, key or permission refused */
    BERTH_AWS_ERR_NOTFOUND = 5,
    BERTH_AWS_ERR_CONFLICT = 6,
    BERTH_AWS_ERR_CLIENT = 7, /* any other 4xx: permanent */
};

/*
 * Classify an error answer of the AWS JSON protocol (HTTP status, body
 * {"__type": "...", "message": "..."}, x-amzn-ErrorType header value or
 * NULL) and set err: "<what>: <Type>: <message>", with rc and transient per
 * DESIGN.md (throttling and 5xx transient; auth BERTH_E_AUTH; not found
 * BERTH_E_NOTFOUND; conflict BERTH_E_CONFLICT; other 4xx BERTH_E_INVALID).
 * *type_out (may be NULL) receives the bare type, "" when unknown.
 */
enum berth_aws_err_class berth__aws_error(long status, const char *body,
                                          const char *type_header,
                                          const char *what, char *type_out,
                                          size_t type_size,
                                          struct berth_err *err);

/*
 * Fill q (state, exit code, times, message...) from one task object of a
 * DescribeTasks answer. container names the container whose exit code is
 * the job's ("main" for task definitions berth registers); NULL or absent
 * takes the first container with an exit code. A task stopped without an
 * exit code (stopCode TaskFailedToStart: image pull, network...) exits with
 * BERTH_FARGATE_NO_EXIT_CODE and its stoppedReason as the message.
 */
#define BERTH_FARGATE_NO_EXIT_CODE (-1)
void berth__fargate_task_status(json_t *task, const char *container,
                                struct berth_exec_status *q);

#endif
