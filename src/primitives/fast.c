/* fast.c: table entries of the fused transformer primitives. */
#include "fast.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_rms_norm = {
    .name = "rms_norm",
    .eval_cpu = mx_cpu_rms_norm,
    .vjp = mx_vjp_rms_norm,
    .jvp = mx_jvp_rms_norm,
    .vmap = mx_vmap_rms_norm,
};
const mx_prim mx_prim_layer_norm = {
    .name = "layer_norm",
    .eval_cpu = mx_cpu_layer_norm,
    .vjp = mx_vjp_layer_norm,
    .jvp = mx_jvp_layer_norm,
    .vmap = mx_vmap_layer_norm,
};
const mx_prim mx_prim_rope = {
    .name = "rope",
    .eval_cpu = mx_cpu_rope,
    .vjp = mx_vjp_rope,
    .jvp = mx_jvp_rope,
    .vmap = mx_vmap_rope,
};
const mx_prim mx_prim_sdpa = {
    .name = "scaled_dot_product_attention",
    .eval_cpu = mx_cpu_sdpa,
    .vjp = mx_vjp_sdpa,
    .jvp = mx_jvp_sdpa,
    .vmap = mx_vmap_sdpa,
};
