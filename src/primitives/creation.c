/* creation.c: table entries of the creation primitives. */
#include "creation.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_full = {
    .name = "full", .eval_cpu = mx_cpu_full, .eval_cuda = MX_CUDA_FN(mx_cuda_full)};
const mx_prim mx_prim_arange = {.name = "arange", .eval_cpu = mx_cpu_arange};
const mx_prim mx_prim_linspace = {.name = "linspace", .eval_cpu = mx_cpu_linspace};
const mx_prim mx_prim_eye = {.name = "eye", .eval_cpu = mx_cpu_eye};
const mx_prim mx_prim_trimask = {.name = "trimask",
                                 .eval_cpu = mx_cpu_trimask,
                                 .vjp = mx_vjp_trimask,
                                 .jvp = mx_jvp_trimask,
                                 .vmap = mx_vmap_trimask};
