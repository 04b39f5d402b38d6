/* shape.c: table entries of the data-moving shape primitives. */
#include "shape.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_concatenate = {
    .name = "concatenate",
    .eval_cpu = mx_cpu_concatenate,
    .vjp = mx_vjp_concatenate,
    .jvp = mx_jvp_concatenate,
    .vmap = mx_vmap_concatenate,
};
const mx_prim mx_prim_pad = {
    .name = "pad",
    .eval_cpu = mx_cpu_pad,
    .vjp = mx_vjp_pad,
    .jvp = mx_jvp_pad,
    .vmap = mx_vmap_pad,
};
const mx_prim mx_prim_roll = {
    .name = "roll",
    .eval_cpu = mx_cpu_roll,
    .vjp = mx_vjp_roll,
    .jvp = mx_jvp_roll,
    .vmap = mx_vmap_roll,
};
