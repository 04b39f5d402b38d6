/* quantized.c: table entries of the quantization primitives. */
#include "quantized.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_quantize = {
    .name = "quantize",
    .eval_cpu = mx_cpu_quantize,
    .vmap = mx_vmap_quantize,
};
const mx_prim mx_prim_dequantize = {
    .name = "dequantize",
    .eval_cpu = mx_cpu_dequantize,
    .vjp = mx_vjp_dequantize,
    .jvp = mx_jvp_dequantize,
    .vmap = mx_vmap_dequantize,
};
const mx_prim mx_prim_quantized_matmul = {
    .name = "quantized_matmul",
    .eval_cpu = mx_cpu_quantized_matmul,
    .vjp = mx_vjp_quantized_matmul,
    .jvp = mx_jvp_quantized_matmul,
    .vmap = mx_vmap_quantized_matmul,
    .cpu_group_ok = mx_cpu_qmm_group_ok,
    .eval_cpu_group = mx_cpu_quantized_matmul_group,
};
