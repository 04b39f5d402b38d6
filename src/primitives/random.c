/* random.c: table entries of the random primitives. */
#include "random.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_random_bits = {
    .name = "random_bits",
    .eval_cpu = mx_cpu_random_bits,
    .vjp = mx_vjp_zero,
    .jvp = mx_jvp_zero,
    .vmap = mx_vmap_loop,
};
const mx_prim mx_prim_random = {.name = "random",
                                .eval_cpu = mx_cpu_random,
                                .vjp = mx_vjp_zero,
                                .jvp = mx_jvp_zero,
                                .vmap = mx_vmap_loop};
const mx_prim mx_prim_random_categorical = {
    .name = "random_categorical",
    .eval_cpu = mx_cpu_random_categorical,
    .vjp = mx_vjp_zero,
    .jvp = mx_jvp_zero,
    .vmap = mx_vmap_loop,
};
const mx_prim mx_prim_random_permutation = {
    .name = "random_permutation",
    .eval_cpu = mx_cpu_random_permutation,
    .vjp = mx_vjp_random_permutation,
    .jvp = mx_jvp_random_permutation,
    .vmap = mx_vmap_loop,
};
