/* indexing.c: table entries of the indexing primitives. */
#include "indexing.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_slice_update = {
    .name = "slice_update",
    .eval_cpu = mx_cpu_slice_update,
    .vjp = mx_vjp_slice_update,
    .jvp = mx_jvp_slice_update,
    .vmap = mx_vmap_slice_update,
};
const mx_prim mx_prim_dynamic_slice = {
    .name = "dynamic_slice",
    .eval_cpu = mx_cpu_dynamic_slice,
    .vjp = mx_vjp_dynamic_slice,
    .jvp = mx_jvp_dynamic_slice,
    .vmap = mx_vmap_dynamic_slice,
};
const mx_prim mx_prim_dynamic_slice_update = {
    .name = "dynamic_slice_update",
    .eval_cpu = mx_cpu_dynamic_slice_update,
    .vjp = mx_vjp_dynamic_slice_update,
    .jvp = mx_jvp_dynamic_slice_update,
    .vmap = mx_vmap_dynamic_slice_update,
};
const mx_prim mx_prim_take = {
    .name = "take",
    .eval_cpu = mx_cpu_take,
    .vjp = mx_vjp_take,
    .jvp = mx_jvp_take,
    .vmap = mx_vmap_take,
};
const mx_prim mx_prim_take_along_axis = {
    .name = "take_along_axis",
    .eval_cpu = mx_cpu_take_along_axis,
    .vjp = mx_vjp_take_along_axis,
    .jvp = mx_jvp_take_along_axis,
    .vmap = mx_vmap_take_along_axis,
};
const mx_prim mx_prim_put_along_axis = {
    .name = "put_along_axis",
    .eval_cpu = mx_cpu_put_along_axis,
    .vjp = mx_vjp_put_along_axis,
    .jvp = mx_jvp_put_along_axis,
    .vmap = mx_vmap_put_along_axis,
};
const mx_prim mx_prim_gather = {
    .name = "gather",
    .eval_cpu = mx_cpu_gather,
    .vjp = mx_vjp_gather,
    .jvp = mx_jvp_gather,
    .vmap = mx_vmap_gather,
};
const mx_prim mx_prim_scatter = {
    .name = "scatter",
    .eval_cpu = mx_cpu_scatter,
    .vjp = mx_vjp_scatter,
    .jvp = mx_jvp_scatter,
    .vmap = mx_vmap_scatter,
};
