/*
 * fuzz_config.c - the YAML config loader on arbitrary bytes: it must never
 * crash, leak or read out of bounds, whatever the input, and on success the
 * result must be usable (hosts, fingerprint).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct berth_config *c = NULL;
    struct berth_buf report = BERTH_BUF_INIT;
    struct berth_err err;
    struct berth_host *hosts = NULL;
    size_t n = 0;

    if (berth_config_load_text("fuzz.yaml", (const char *)data, size, &c,
                               &report, &err) == 0) {
        if (berth_config_hosts(c, &hosts, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++)
                berth_host_release(&hosts[i]);
            free(hosts);
        }
        if (strlen(c->fingerprint) != 64)
            abort();
        berth_config_free(c);
    } else if (c != NULL || report.len == 0) {
        abort(); /* a failure always says why */
    }
    berth_buf_release(&report);
    return 0;
}
