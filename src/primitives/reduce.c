/* reduce.c: table entries of the reduction, scan, softmax and sorting
 * primitives (CPU kernels only; vjp/jvp/vmap are filled in later). */
#include "reduce.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_reduce = {.name = "reduce",
                                .eval_cpu = mx_cpu_reduce,
                                .vjp = mx_vjp_reduce,
                                .jvp = mx_jvp_reduce,
                                .vmap = mx_vmap_reduce};
const mx_prim mx_prim_logsumexp = {.name = "logsumexp",
                                   .eval_cpu = mx_cpu_reduce,
                                   .vjp = mx_vjp_logsumexp,
                                   .jvp = mx_jvp_logsumexp,
                                   .vmap = mx_vmap_logsumexp};
const mx_prim mx_prim_arg_reduce = {
    .name = "arg_reduce", .eval_cpu = mx_cpu_arg_reduce, .vmap = mx_vmap_arg_reduce};
const mx_prim mx_prim_scan = {.name = "scan",
                              .eval_cpu = mx_cpu_scan,
                              .vjp = mx_vjp_scan,
                              .jvp = mx_jvp_scan,
                              .vmap = mx_vmap_scan};
const mx_prim mx_prim_softmax = {.name = "softmax",
                                 .eval_cpu = mx_cpu_softmax,
                                 .vjp = mx_vjp_softmax,
                                 .jvp = mx_jvp_softmax,
                                 .vmap = mx_vmap_softmax};
const mx_prim mx_prim_sort = {.name = "sort",
                              .eval_cpu = mx_cpu_sort,
                              .vjp = mx_vjp_sort,
                              .jvp = mx_jvp_sort,
                              .vmap = mx_vmap_sort};
const mx_prim mx_prim_argsort = {
    .name = "argsort", .eval_cpu = mx_cpu_argsort, .vmap = mx_vmap_sort};
const mx_prim mx_prim_partition = {.name = "partition",
                                   .eval_cpu = mx_cpu_partition,
                                   .vjp = mx_vjp_sort,
                                   .jvp = mx_jvp_sort,
                                   .vmap = mx_vmap_sort};
const mx_prim mx_prim_argpartition = {
    .name = "argpartition",
    .eval_cpu = mx_cpu_argpartition,
    .vmap = mx_vmap_sort,
};
