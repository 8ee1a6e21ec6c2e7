/* pg.c - the PostgreSQL store backend (placeholder until part 2). */
#include "store/store_int.h"

static int pg_open(const char *url, struct berth_store **out,
                   struct berth_err *err)
{
    (void)out;
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "store '%s': PostgreSQL backend not built yet", url);
}

static const char *const pg_prefixes[] = {"postgresql://", "postgres://", NULL};

const struct berth_store_ops berth__store_pg = {
    .name = "postgresql",
    .prefixes = pg_prefixes,
    .open = pg_open,
};
