/* store.c - placeholder until the store lands. */
#include "berth/store.h"

int berth_store_open(const char *url, struct berth_store **out,
                     struct berth_err *err)
{
    *out = NULL;
    return berth_err_set(err, BERTH_E_UNSUPPORTED, "%s: store not built", url);
}

void berth_store_free(struct berth_store *st)
{
    (void)st;
}
