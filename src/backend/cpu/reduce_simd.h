/* reduce_simd.h: fast kernels for contiguous float32/float16/bfloat16 runs
 * used by reductions, logsumexp and softmax. They are written once with GCC
 * vector extensions (reduce_simd.inc) and compiled for several ISAs
 * (baseline, AVX2, AVX-512 on x86-64); mx_simd() picks the best table for
 * the running CPU once.
 *
 * Accuracy: sums accumulate in float32 lanes (64 independent accumulators)
 * over blocks of 4096 elements, and the block sums in float64, so a 16M
 * element sum has float64-like error. max/min propagate NaN. exp is a
 * Cephes-style polynomial (about 1 ulp) for arguments <= 88 (the kernels
 * only take exp of x - max <= 0); it returns 0 below -88 (results that
 * would be subnormal may flush to 0) and NaN for NaN. */
#ifndef MX_CPU_REDUCE_SIMD_H
#define MX_CPU_REDUCE_SIMD_H

#include "../../core/core.h"

/* Slot of a dtype in the tables: 0 float32, 1 float16, 2 bfloat16, -1 none. */
static inline int mx_simd_slot(mx_dtype t) {
  return t == MX_FLOAT32 ? 0 : t == MX_FLOAT16 ? 1 : t == MX_BFLOAT16 ? 2 : -1;
}

typedef struct {
  const char *isa;
  /* x: (n,) contiguous */
  double (*row_sum[3])(const void *x, int64_t n);
  float (*row_max[3])(const void *x, int64_t n);
  float (*row_min[3])(const void *x, int64_t n);
  /* sum of exp(x[i] - c) */
  double (*row_sumexp[3])(const void *x, int64_t n, float c);
  /* acc: (n,) float32; acc[j] op= rows[k][j] for k < nrows (1..8). Callers
   * flush sums into float64 every few dozen rows. */
  void (*col_sum[3])(float *acc, const char *const *rows, int nrows, int64_t n);
  void (*col_max[3])(float *acc, const char *const *rows, int nrows, int64_t n);
  void (*col_min[3])(float *acc, const char *const *rows, int nrows, int64_t n);
  /* first i with x[i] == v (NaN matches NaN), -1 if none */
  int64_t (*find[3])(const void *x, int64_t n, float v);
  /* y = softmax(x) over n contiguous elements, y in x's dtype; tmp holds n
   * floats (used for half dtypes); next (may be NULL) is the row that comes
   * after, prefetched while this one is computed. */
  void (*softmax[3])(const void *x, void *y, int64_t n, float *tmp, const void *next);
  /* softmax down each column of a (nrows, 16) float32 tile, in place */
  void (*softmax_cols16)(float *tile, int64_t nrows);
  /* float32 <-> dtype conversion of contiguous runs */
  void (*to_f32[3])(const void *x, float *y, int64_t n);
  void (*from_f32[3])(const float *x, void *y, int64_t n);
} mx_simd_table;

const mx_simd_table *mx_simd(void);
/* Switch to another compiled variant ("base", "avx2", "avx512"); false if
 * the CPU lacks it. For tests and benchmarks only: not thread-safe against
 * running kernels. */
bool mx_simd_select(const char *isa);

#endif
