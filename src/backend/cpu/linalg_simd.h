/* linalg_simd.h: vector helpers for the matmul and conv kernels: contiguous
 * float16/bfloat16 <-> float32 conversion runs and half-precision dot/axpy
 * (for matrix-vector products that read half weights directly). Each has a
 * portable body and, on x86-64, an AVX2/FMA/F16C body picked at run time.
 * Conversions round to nearest even exactly like mx_f32_to_f16/bf16. */
#ifndef MX_CPU_LINALG_SIMD_H
#define MX_CPU_LINALG_SIMD_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/core.h"

/* dst[i] = (float)src[i], src float16 or bfloat16 (bf16 true). */
void mx_lin_half_to_f32(const uint16_t *src, bool bf16, float *dst, int64_t n);
/* dst[i] = round(src[i]) to float16 or bfloat16. */
void mx_lin_f32_to_half(const float *src, bool bf16, uint16_t *dst, int64_t n);
/* sum_i a[i] * x[i] in float32, a half. */
float mx_lin_dot_half(const uint16_t *a, bool bf16, const float *x, int64_t n);
/* out[v] = sum_i a[i] * x[v * xs + i] for v < nv (1..4): a is converted
 * once for all nv vectors. */
void mx_lin_dot_half_multi(const uint16_t *a, bool bf16, const float *x, int64_t xs,
                           int nv, int64_t n, float *out);
/* out[r] = sum_i a[r * rs + i] * x[i] for r < nr, a bfloat16 rows: the
 * matrix-vector product of decode. On AVX-512 four rows go through at once
 * and x is read once per four rows. */
void mx_lin_dot_bf16_rows(const uint16_t *a, int64_t rs, const float *x, int64_t n,
                          int nr, float *out);
/* Whether mx_lin_dot_bf16_rows_multi may run (AVX512-BF16, not capped by
 * mx_cpu_isa_cap or mx_lin_simd_enable(false)). */
bool mx_lin_bf16_multi_available(void);
/* out[r * nv + v] = sum_i a[r * rs + i] * xb[v * n + i] for r < nr, v < nv,
 * a and xb bfloat16: products exact, float32 sums of vdpbf16ps (pairs of
 * adjacent elements first; denormal results flush to zero). Each row of a
 * is read from memory once for all nv vectors. Only where
 * mx_lin_bf16_multi_available(). */
void mx_lin_dot_bf16_rows_multi(const uint16_t *a, int64_t rs, const uint16_t *xb,
                                int64_t n, int nv, int nr, float *out);
/* y[i] += alpha * b[i], b half. */
void mx_lin_axpy_half(float alpha, const uint16_t *b, bool bf16, float *y, int64_t n);

/* Tests: false forces the portable bodies, true restores the detection. */
void mx_lin_simd_enable(bool on);

#endif
