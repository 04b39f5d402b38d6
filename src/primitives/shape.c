/* shape.c: table entries of the data-moving shape primitives. */
#include "shape.h"

const mx_prim mx_prim_concatenate = {
    .name = "concatenate",
    .eval_cpu = mx_cpu_concatenate,
};
const mx_prim mx_prim_pad = {
    .name = "pad",
    .eval_cpu = mx_cpu_pad,
};
const mx_prim mx_prim_roll = {
    .name = "roll",
    .eval_cpu = mx_cpu_roll,
};
