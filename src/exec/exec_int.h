/*
 * exec_int.h - private to the exec layer: the backends' ops tables and
 * helpers shared between backend files.
 */
#ifndef BERTH_EXEC_INT_H
#define BERTH_EXEC_INT_H

#include "berth/exec.h"

extern const struct berth_exec_ops berth__exec_mock;
extern const struct berth_exec_ops berth__exec_docker;
extern const struct berth_exec_ops berth__exec_cloudrun;
extern const struct berth_exec_ops berth__exec_fargate;

#endif
