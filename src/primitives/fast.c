/* fast.c: table entries of the fused transformer primitives. */
#include "fast.h"

const mx_prim mx_prim_rms_norm = {
    .name = "rms_norm",
    .eval_cpu = mx_cpu_rms_norm,
};
const mx_prim mx_prim_layer_norm = {
    .name = "layer_norm",
    .eval_cpu = mx_cpu_layer_norm,
};
const mx_prim mx_prim_rope = {
    .name = "rope",
    .eval_cpu = mx_cpu_rope,
};
const mx_prim mx_prim_sdpa = {
    .name = "scaled_dot_product_attention",
    .eval_cpu = mx_cpu_sdpa,
};
