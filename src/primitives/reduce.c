/* reduce.c: table entries of the reduction, scan, softmax and sorting
 * primitives (CPU kernels only; vjp/jvp/vmap are filled in later). */
#include "reduce.h"

const mx_prim mx_prim_reduce = {.name = "reduce", .eval_cpu = mx_cpu_reduce};
const mx_prim mx_prim_logsumexp = {.name = "logsumexp",
                                   .eval_cpu = mx_cpu_reduce};
const mx_prim mx_prim_arg_reduce = {.name = "arg_reduce",
                                    .eval_cpu = mx_cpu_arg_reduce};
const mx_prim mx_prim_scan = {.name = "scan", .eval_cpu = mx_cpu_scan};
const mx_prim mx_prim_softmax = {.name = "softmax", .eval_cpu = mx_cpu_softmax};
const mx_prim mx_prim_sort = {.name = "sort", .eval_cpu = mx_cpu_sort};
const mx_prim mx_prim_argsort = {.name = "argsort", .eval_cpu = mx_cpu_argsort};
const mx_prim mx_prim_partition = {.name = "partition",
                                   .eval_cpu = mx_cpu_partition};
const mx_prim mx_prim_argpartition = {.name = "argpartition",
                                      .eval_cpu = mx_cpu_argpartition};
