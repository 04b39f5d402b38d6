/* views.c: table entries of the view primitives. Views are device-neutral:
 * the same eval serves CPU and GPU arrays, since only metadata changes
 * (reshape of a non-contiguous array copies, and has a CUDA path). */
#include "views.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_reshape = {
    .name = "reshape",
    .eval_cpu = mx_cpu_reshape,
    .eval_cuda = MX_CUDA_FN(mx_cuda_reshape),
    .vjp = mx_vjp_reshape,
    .jvp = mx_jvp_reshape,
    .vmap = mx_vmap_reshape,
};
const mx_prim mx_prim_transpose = {
    .name = "transpose",
    .eval_cpu = mx_cpu_transpose,
    .eval_cuda = MX_CUDA_FN(mx_cpu_transpose),
    .vjp = mx_vjp_transpose,
    .jvp = mx_jvp_transpose,
    .vmap = mx_vmap_transpose,
};
const mx_prim mx_prim_broadcast = {
    .name = "broadcast",
    .eval_cpu = mx_cpu_broadcast,
    .eval_cuda = MX_CUDA_FN(mx_cpu_broadcast),
    .vjp = mx_vjp_broadcast,
    .jvp = mx_jvp_broadcast,
    .vmap = mx_vmap_broadcast,
};
const mx_prim mx_prim_slice = {
    .name = "slice",
    .eval_cpu = mx_cpu_slice,
    .eval_cuda = MX_CUDA_FN(mx_cpu_slice),
    .vjp = mx_vjp_slice,
    .jvp = mx_jvp_slice,
    .vmap = mx_vmap_slice,
};
const mx_prim mx_prim_as_strided = {
    .name = "as_strided",
    .eval_cpu = mx_cpu_as_strided,
    .eval_cuda = NULL,
    .vjp = mx_vjp_as_strided,
    .jvp = mx_jvp_as_strided,
    .vmap = mx_vmap_as_strided,
};
