/* docker.c - the Docker Engine API backend (placeholder: issue 5). */
#include "exec_int.h"

static const struct berth_opt_spec docker_options[] = {
    {"url", BERTH_OPT_STR, "engine URL for the implicit host"},
    {"api_version", BERTH_OPT_STR, "Engine API version to pin"},
    {"tls_ca", BERTH_OPT_STR, "CA certificate file for tcp+TLS"},
    {"tls_cert", BERTH_OPT_STR, "client certificate file"},
    {"tls_key", BERTH_OPT_STR, "client key file"},
    {"auto_pull_images", BERTH_OPT_BOOL, "pull a missing image first"},
    {"keep_containers", BERTH_OPT_BOOL, "keep containers after harvest"},
    {"network", BERTH_OPT_STR, "default network mode"},
    {"stop_grace_seconds", BERTH_OPT_INT, "SIGTERM to SIGKILL grace"},
    {NULL, 0, NULL},
};

static int docker_create(const struct berth_exec_params *p,
                         struct berth_exec **out, struct berth_err *err)
{
    (void)p;
    (void)out;
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "the docker executor is not built yet");
}

const struct berth_exec_ops berth__exec_docker = {
    .type = "docker",
    .options = docker_options,
    .default_max_concurrent_jobs = 8,
    .create = docker_create,
};
