/* mock.c - placeholder. */
#include "exec_int.h"

static int mock_create(const struct berth_exec_params *p,
                       struct berth_exec **out, struct berth_err *err)
{
    (void)p;
    (void)out;
    return berth_err_set(err, BERTH_E_UNSUPPORTED, "mock not built");
}

const struct berth_exec_ops berth__exec_mock = {
    .type = "mock",
    .create = mock_create,
};
