/* gemm_bf16.h: the bfloat16 GEMM of prefill (gemm_bf16.c): AVX512-BF16
 * vdpbf16ps, products exact in float32, float32 accumulation, one rounding
 * to the output dtype at the end. Used by matmul with bfloat16 operands
 * (linalg.c) and by quantized_matmul with many rows (quantized.c), which
 * decodes weight panels into bfloat16 codes once for all rows.
 *
 * The product is O (P, Q) = alpha * W (P, K) @ X (Q, K)^T. W is the
 * "broadcast" operand: its rows are read in place (pairs of K-adjacent
 * elements), copied, or decoded from quantized codes panel by panel. X is
 * packed once per call into K-pair-interleaved blocks of 16 rows. */
#ifndef MX_CPU_GEMM_BF16_H
#define MX_CPU_GEMM_BF16_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../core/core.h"

/* K block of the driver (a multiple of 128: quantization groups of 32, 64
 * or 128 never straddle a block). */
#define MX_GEMM_BF16_KC 256

/* Quantized W (MLX's affine layout, transposed product): W[i][k] =
 * scale[i][g] * q[i][k] + bias[i][g], g = k / gs. The codes (integers below
 * 256, exact in bfloat16) go through the GEMM; each group's float32 sum is
 * scaled and the bias term added with x's group sums, as the per-row
 * kernels do: no rounding of the weight, products exact. */
typedef struct {
  const uint8_t *w;            /* (P, K * bits / 8) bytes of codes */
  const void *scales, *biases; /* (P, K / gs) */
  mx_dtype sdt, bdt;           /* float32, float16 or bfloat16 */
  int gs, bits;                /* gs divides KC; bits 2..8 */
} mx_gemm_bf16_qw;

typedef struct {
  int P, Q, K;
  /* W[i][k] at w + i * w_rs + k * w_ks (bfloat16), or w == NULL and q */
  const uint16_t *w;
  int64_t w_rs, w_ks;
  const mx_gemm_bf16_qw *q;
  /* X[j][k] at x + j * x_rs + k * x_cs (bfloat16) */
  const uint16_t *x;
  int64_t x_rs, x_cs;
  /* O[i][j] at o + (i * o_is + j * o_js) elements, float32 or bfloat16 */
  void *o;
  int64_t o_is, o_js;
  mx_dtype odt;
  float alpha;
} mx_gemm_bf16_args;

/* Cache-line aligned scratch (free() releases it): tile and vector loads
 * of a panel's or a float32 tile's row then touch one line, not two
 * (malloc aligns to 16). Shared with gemm_i8.c. */
static inline void *mx_gemm_alloc64(size_t n) {
  return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

/* Whether the CPU (and the MX_CPU_ISA cap) allows the kernel. */
bool mx_gemm_bf16_available(void);
/* Runs the product on the worker pool (K >= 1). MX_ERR_NOMEM if scratch
 * fails. */
mx_status mx_gemm_bf16(const mx_gemm_bf16_args *a);

/* O[i0 + i][j0 + j] = alpha * ct[i * ldc + j] for i < ni, j < nj: a
 * float32 tile (rows ldc apart; for a transposed O, readable in whole
 * 16 x 16 blocks) rounded into O's dtype and layout. AVX-512 only. */
void mx_gemm_store_tile(const mx_gemm_bf16_args *a, const float *ct, int64_t ldc, int i0,
                        int ni, int j0, int nj);

/* The calling thread's tile configuration (all eight tiles 16 rows x 64
 * bytes: 0-3 accumulators, 4-5 A, 6-7 B) and its release. Only where
 * mx_cpu_isa() >= MX_ISA_AMX (the benches use them too). */
void mx_amx_begin(void);
void mx_amx_end(void);

/* With MX_GEMM_PROF set in the environment: time-stamp counts summed over
 * the calls (and threads) so far: X packing (wall), panel fills, the tile
 * or vector kernels, output stores, the pool job (wall); reset = zero them. */
void mx_gemm_bf16_phases(double out[5], bool reset);

#endif
