/* quantized.h: affine quantization primitives in MLX's layout: quantize
 * (three outputs: packed codes, scales, biases), dequantize and
 * quantized_matmul. Codes of `bits` bits are packed from the least
 * significant bit as one little-endian bit stream over uint32 words. */
#ifndef MX_PRIM_QUANTIZED_H
#define MX_PRIM_QUANTIZED_H

#include "prim_util.h"

typedef struct {
  int group_size;
  int bits;
} mx_quantize_params; /* quantize and dequantize */

typedef struct {
  int group_size;
  int bits;
  bool transpose; /* true: x @ w.T with w (N, K); false: x @ w with w (K, N) */
} mx_qmm_params;

extern const mx_prim mx_prim_quantize;
extern const mx_prim mx_prim_dequantize;
extern const mx_prim mx_prim_quantized_matmul;

mx_status mx_cpu_quantize(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_dequantize(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_quantized_matmul(mx_node *n, mx_array **in, mx_array **out);
/* Transposed products of one x by several 2-d weights (decode), run as one
 * call: the tape's grouping hooks (mx_prim.cpu_group_ok, eval_cpu_group). */
bool mx_cpu_qmm_group_ok(const mx_node *first, const mx_node *other);
mx_status mx_cpu_quantized_matmul_group(mx_node *const *nodes, int n);

#endif
