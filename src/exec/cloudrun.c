/* cloudrun.c - the Cloud Run Admin API v2 backend (placeholder: issue 7). */
#include "exec_int.h"

static const struct berth_opt_spec cloudrun_options[] = {
    {"project", BERTH_OPT_STR, "GCP project id"},
    {"region", BERTH_OPT_STR, "Cloud Run region"},
    {"service_account", BERTH_OPT_STR, "service account the jobs run as"},
    {"endpoint", BERTH_OPT_STR, "Cloud Run Admin API base URL"},
    {"logging_endpoint", BERTH_OPT_STR, "Cloud Logging API base URL"},
    {"token_endpoint", BERTH_OPT_STR, "OAuth2 token URL"},
    {"metadata_endpoint", BERTH_OPT_STR, "GCE metadata server base URL"},
    {NULL, 0, NULL},
};

static int cloudrun_create(const struct berth_exec_params *p,
                           struct berth_exec **out, struct berth_err *err)
{
    (void)p;
    (void)out;
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "the cloudrun executor is not built yet");
}

const struct berth_exec_ops berth__exec_cloudrun = {
    .type = "cloudrun",
    .options = cloudrun_options,
    .default_max_concurrent_jobs = 100,
    .create = cloudrun_create,
};
