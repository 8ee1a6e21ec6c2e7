/* config.c - placeholder until the YAML loader lands. */
#include <stdlib.h>

#include "berth/config.h"

int berth_config_load(const char *path, struct berth_config **out,
                      struct berth_buf *report, struct berth_err *err)
{
    (void)report;
    *out = NULL;
    return berth_err_set(err, BERTH_E_CONFIG, "%s: config loading not built",
                         path);
}

struct berth_config *berth_config_new_default(void)
{
    return berth_xcalloc(1, sizeof(struct berth_config));
}

void berth_config_free(struct berth_config *c)
{
    free(c);
}
