/* layout.c: table entries of the layout primitives. */
#include "layout.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_astype = {
    .name = "astype",
    .eval_cpu = mx_cpu_astype,
    .eval_cuda = MX_CUDA_FN(mx_cuda_astype),
    .vjp = mx_vjp_astype,
    .jvp = mx_jvp_astype,
    .vmap = mx_vmap_astype,
};

const mx_prim mx_prim_copy = {
    .name = "copy",
    .eval_cpu = mx_cpu_copy,
    .eval_cuda = MX_CUDA_FN(mx_cuda_copy),
    .vjp = mx_vjp_copy,
    .jvp = mx_jvp_copy,
    .vmap = mx_vmap_copy,
};

const mx_prim mx_prim_view = {
    .name = "view",
    .eval_cpu = mx_cpu_view,
    .eval_cuda = NULL,
    .vmap = mx_vmap_view,
};
