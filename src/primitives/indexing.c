/* indexing.c: table entries of the indexing primitives. */
#include "indexing.h"

const mx_prim mx_prim_slice_update = {
    .name = "slice_update",
    .eval_cpu = mx_cpu_slice_update,
};
const mx_prim mx_prim_dynamic_slice = {
    .name = "dynamic_slice",
    .eval_cpu = mx_cpu_dynamic_slice,
};
const mx_prim mx_prim_dynamic_slice_update = {
    .name = "dynamic_slice_update",
    .eval_cpu = mx_cpu_dynamic_slice_update,
};
const mx_prim mx_prim_take = {
    .name = "take",
    .eval_cpu = mx_cpu_take,
};
const mx_prim mx_prim_take_along_axis = {
    .name = "take_along_axis",
    .eval_cpu = mx_cpu_take_along_axis,
};
const mx_prim mx_prim_put_along_axis = {
    .name = "put_along_axis",
    .eval_cpu = mx_cpu_put_along_axis,
};
const mx_prim mx_prim_gather = {
    .name = "gather",
    .eval_cpu = mx_cpu_gather,
};
const mx_prim mx_prim_scatter = {
    .name = "scatter",
    .eval_cpu = mx_cpu_scatter,
};
