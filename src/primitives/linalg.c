/* linalg.c: table entries of the matmul primitives (one CPU kernel serves
 * both; addmm is matmul with a third input). */
#include "linalg.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_matmul = {
    .name = "matmul",
    .eval_cpu = mx_cpu_matmul,
    .eval_cuda = MX_CUDA_FN(mx_cuda_matmul),
    .vjp = mx_vjp_matmul,
    .jvp = mx_jvp_matmul,
    .vmap = mx_vmap_matmul,
};
const mx_prim mx_prim_addmm = {.name = "addmm",
                               .eval_cpu = mx_cpu_matmul,
                               .vjp = mx_vjp_addmm,
                               .jvp = mx_jvp_addmm,
                               .vmap = mx_vmap_addmm};
