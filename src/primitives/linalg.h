/* linalg.h: the matrix multiply primitives. matmul computes
 * out = a @ b and addmm out = alpha * (a @ b) + beta * c, for inputs of any
 * layout:
 *   a: (..., M, K), b: (..., K, N) -> out: (batch, M, N), where the batch
 *   dims of a and b (any count, possibly none) broadcast numpy-style inside
 *   the kernel (no broadcast copies); c has exactly out's shape (the op
 *   broadcasts it as a view).
 * a, b (and c) already have the output dtype. Floating dtypes go to BLAS
 * (float16/bfloat16 through float32); integer and bool dtypes use a plain
 * loop (only the internal mx_linalg_matmul reaches them: einsum, tensordot,
 * outer and inner accept integers as numpy does, matmul itself does not, as
 * MLX). */
#ifndef MX_PRIM_LINALG_H
#define MX_PRIM_LINALG_H

#include "prim_util.h"

typedef struct {
  float alpha; /* matmul: 1 */
  float beta;  /* matmul: 0 (no c input) */
} mx_matmul_params;

extern const mx_prim mx_prim_matmul; /* inputs: a, b */
extern const mx_prim mx_prim_addmm;  /* inputs: a, b, c */

mx_status mx_cpu_matmul(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_matmul(mx_node *n, mx_array **in, mx_array **out);

/* a @ b with numpy's rules (1-D promotion, batch broadcasting); with
 * allow_int, integer and bool dtypes are accepted too. Used by the other
 * linear algebra ops and einsum. */
mx_array *mx_linalg_matmul(mx_array *a, mx_array *b, bool allow_int, const char *opname);

#endif
