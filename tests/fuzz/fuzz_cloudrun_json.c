/*
 * fuzz_cloudrun_json.c - everything the cloudrun backend reads from Cloud
 * Run and Cloud Logging (src/exec/cloudrun_api.c): Executions, task lists,
 * Operations, entries.list pages and error bodies. Any input must give an
 * answer or a clean error, never a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/cloudrun_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    char detail[300];
    struct berth_cr_execution e;
    struct berth_cr_operation op;
    struct berth_exec_status st;
    struct berth_buf out, err;
    bool needs_task, truncated = false, known, oom;
    char *next = NULL, msg[256];
    int code;

    berth__cloudrun_error_detail((const char *)data, size, detail,
                                 sizeof(detail));
    if (!j)
        return 0;
    if (berth__cloudrun_parse_execution(j, &e, NULL) == 0) {
        memset(&st, 0, sizeof(st));
        needs_task = berth__cloudrun_execution_status(&e, &st);
        (void)needs_task;
    }
    berth__cloudrun_task_result(j, &code, &known, &oom, msg, sizeof(msg), NULL);
    if (berth__cloudrun_parse_operation(j, &op, NULL) == 0 && op.metadata)
        berth__cloudrun_parse_execution(op.metadata, &e, NULL);
    berth_buf_init(&out, 0);
    berth_buf_init(&err, 0);
    berth__cloudrun_parse_entries(j, &out, &err, 4096, &truncated, &next, NULL);
    free(next);
    berth_buf_release(&out);
    berth_buf_release(&err);
    json_decref(j);
    return 0;
}
