/* fargate.c - the ECS (Fargate) backend (placeholder: issue 7). */
#include "exec_int.h"

static const struct berth_opt_spec fargate_options[] = {
    {"cluster", BERTH_OPT_STR, "ECS cluster name or ARN"},
    {"region", BERTH_OPT_STR, "AWS region"},
    {"subnets", BERTH_OPT_LIST, "awsvpc subnets"},
    {"security_groups", BERTH_OPT_LIST, "awsvpc security groups"},
    {"assign_public_ip", BERTH_OPT_BOOL, "assign a public IP"},
    {"execution_role_arn", BERTH_OPT_STR, "task execution role"},
    {"task_role_arn", BERTH_OPT_STR, "task role"},
    {"log_group", BERTH_OPT_STR, "CloudWatch Logs group for awslogs"},
    {"task_definition", BERTH_OPT_STR, "use this task definition"},
    {"endpoint", BERTH_OPT_STR, "ECS API base URL"},
    {"logs_endpoint", BERTH_OPT_STR, "CloudWatch Logs API base URL"},
    {"metadata_endpoint", BERTH_OPT_STR, "instance metadata base URL"},
    {NULL, 0, NULL},
};

static int fargate_create(const struct berth_exec_params *p,
                          struct berth_exec **out, struct berth_err *err)
{
    (void)p;
    (void)out;
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "the fargate executor is not built yet");
}

const struct berth_exec_ops berth__exec_fargate = {
    .type = "fargate",
    .options = fargate_options,
    .default_max_concurrent_jobs = 100,
    .create = fargate_create,
};
