/* cmd_stubs.c - commands not built yet. Each moves to its own cmd_<name>.c
 * when it is implemented. */
#include "cli.h"

#define STUB(fn, name)                                                         \
    int fn(struct cli *c, int argc, char **argv)                               \
    {                                                                          \
        (void)c;                                                               \
        (void)argc;                                                            \
        (void)argv;                                                            \
        return cli_fail("'%s' is not implemented yet", name);                  \
    }

STUB(cmd_submit, "submit")
STUB(cmd_jobs, "jobs")
STUB(cmd_job, "job")
STUB(cmd_logs, "logs")
STUB(cmd_cancel, "cancel")
STUB(cmd_retry, "retry")
STUB(cmd_stats, "stats")
STUB(cmd_demo, "demo")
STUB(cmd_template, "template")
STUB(cmd_host, "host")
STUB(cmd_worker, "worker")
STUB(cmd_explain, "explain")
STUB(cmd_executors, "executors")
STUB(cmd_cleanup, "cleanup")
STUB(cmd_serve, "serve")

int cli_store(struct cli *c, struct berth_store **out)
{
    (void)c;
    *out = NULL;
    return cli_fail("the store is not implemented yet");
}
