/* quantized.c: table entries of the quantization primitives. */
#include "quantized.h"

const mx_prim mx_prim_quantize = {
    .name = "quantize",
    .eval_cpu = mx_cpu_quantize,
};
const mx_prim mx_prim_dequantize = {
    .name = "dequantize",
    .eval_cpu = mx_cpu_dequantize,
};
const mx_prim mx_prim_quantized_matmul = {
    .name = "quantized_matmul",
    .eval_cpu = mx_cpu_quantized_matmul,
};
