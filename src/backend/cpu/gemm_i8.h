/* gemm_i8.h: quantized W times int8-quantized X (gemm_i8.c), the opt-in
 * fast path of the transposed 4- and 8-bit quantized_matmul
 * (mx_set_int8_activations): a GEMM for many rows of X (prefill) and a
 * row kernel for few (decode).
 *
 * O (P, Q) = W (P, K) @ X (Q, K)^T with W in MLX's affine layout (4- or
 * 8-bit codes, scales and biases per group of gs) and X in float32,
 * float16 or bfloat16. Each group of gs values of a row of X is quantized
 * to int8 with its own scale, as llama.cpp's Q8 activations:
 *   d = max |x| / 127,  xi = round_to_nearest_even(x * (127 / max |x|)),
 * and the products of codes and xi are exact int32 sums (AVX512-VNNI
 * vpdpbusd: unsigned codes times signed xi). Each output is
 *   sum over groups g of  scale[g] * (d[g] * sum_k q_k xi_k) + bias[g] * sum_k x_k
 * (the bias term uses the exact float sum of x). The error against the
 * exact product is at most sum over groups of d[g] / 2 * sum_k |w_k| (plus
 * float32 rounding): not bit-exact with MLX, hence opt-in. A group holding
 * a NaN or an infinity gives NaN. */
#ifndef MX_CPU_GEMM_I8_H
#define MX_CPU_GEMM_I8_H

#include <stdbool.h>

#include "gemm_bf16.h"
#include "qsimd.h"

typedef struct {
  /* P, Q, K, q (bits 4 or 8; gs dividing MX_GEMM_BF16_KC), o, o_is, o_js,
   * odt (float32 or bfloat16), alpha; its x fields are unused */
  mx_gemm_bf16_args g;
  /* X[j][k] at x + (j * x_rs + k) elements of xdt */
  const void *x;
  mx_dtype xdt;
  int64_t x_rs;
} mx_gemm_i8_args;

/* Row x (K floats) -> int8 codes xi (K bytes), and per group of gs: the
 * scale d[g * ds] and the float sum s[g * ds] (NaN for both, codes 0, when
 * the group holds a NaN or an infinity). Needs mx_gemm_i8_available(). */
void mx_i8_quant_row(const float *x, int K, int gs, int8_t *xi, float *d, float *s,
                     int64_t ds);

/* The row kernel's layout of x for 4-bit codes: in each whole block of 128
 * elements, the 64 even ones, then the 64 odd ones (the order in which a
 * 64-byte line of packed codes splits into low and high nibbles); a tail
 * of K past the last whole block stays in order. */
void mx_i8_perm4(int8_t *xi, int K);

/* Whether the CPU (and the MX_CPU_ISA cap) allows the kernel: AVX-512
 * with VNNI, at the avx512bf16 level or above. */
bool mx_gemm_i8_available(void);
/* Whether int8 activations take the GEMM for many rows: available, and
 * the exact GEMM does not run on AMX tiles (there it is the faster one:
 * gpu-host, 2 cores, 128-token 0.4B q4 prefill, AMX 911 tok/s against 861
 * for this one), so that int8 activations apply to decode only. */
bool mx_gemm_i8_preferred(void);
/* Runs the product on the worker pool (K a multiple of gs). MX_ERR_NOMEM
 * if scratch fails, MX_ERR_INVALID for shapes it does not take. */
mx_status mx_gemm_i8(const mx_gemm_i8_args *a);

/* Decode: output rows [n0, n1) of the transposed product (all M rows of
 * x) with a->xq set (qsimd.h), 4- or 8-bit codes, gs 32/64/128. Per row, 64
 * codes per vpdpbusd against x's int8 values; each 64-code chunk's int32
 * lanes are scaled by their group's scale * d in float32. */
void mx_qmm_t_rows_i8(const mx_qmm_args *a, int n0, int n1);

#endif
