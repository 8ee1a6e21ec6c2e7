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

STUB(cmd_serve, "serve")
