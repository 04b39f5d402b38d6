/* qsimd.h: SIMD kernels chosen at run time (AVX-512, AVX2, plain C) for the
 * quantized matmul and the fast transformer ops: dtype row conversions, dot
 * and axpy on float32, and the quantized matmul tiles that dequantize in
 * registers. The x86 bodies live in qsimd_x86.c (one body per ISA through
 * qmm_body.inc); the plain C versions in quantized.c and qsimd.c. */
#ifndef MX_CPU_QSIMD_H
#define MX_CPU_QSIMD_H

#include "../../core/core.h"

/* Ordered: each level implies the ones below. AVX512BF16 adds the 4-bit
 * kernel that dots bfloat16 codes with bfloat16 activations; AMX adds the
 * tile unit (AMX-TILE + AMX-BF16, Intel Sapphire Rapids and later) to the
 * bfloat16 GEMM (gemm_bf16.c). AMX counts as present only once Linux has
 * granted the process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM). */
typedef enum {
  MX_ISA_GENERIC = 0,
  MX_ISA_AVX2 = 1,
  MX_ISA_AVX512 = 2,
  MX_ISA_AVX512BF16 = 3,
  MX_ISA_AMX = 4,
  MX_ISA_BEST = MX_ISA_AMX /* as a cap: no cap */
} mx_isa;

/* The ISA the kernels use: the best the CPU supports, capped by
 * MX_CPU_ISA=generic|avx2|avx512|avx512bf16|amx in the environment or by
 * mx_cpu_isa_cap. */
mx_isa mx_cpu_isa(void);
/* Test hook: cap the ISA (MX_ISA_BEST = no cap); returns the
 * effective one. */
mx_isa mx_cpu_isa_cap(mx_isa cap);
/* What the hardware supports (ignores caps). */
mx_isa mx_cpu_isa_hw(void);
/* Whether decode kernels prefetch weights non-temporal (prefetchnta) rather
 * than into every cache level (prefetcht0). Each weight is read once per
 * token: on AMD Zen the non-temporal hint keeps the streamed weights from
 * evicting the small data the next nodes need, and decode is 1-7% faster
 * (paired runs, docs/performance.md);
 * on Intel Xeon it fetches into L1 only and decode halves. true on AMD;
 * MX_PREFETCH_NTA=0|1 overrides (read once). */
bool mx_cpu_prefetch_nta(void);
/* Set it (0 or 1; -1: back to the default) for tests and benchmarks. Not
 * meant to be called while kernels run on other threads. */
void mx_cpu_set_prefetch_nta(int v);
/* The decode kernels' software prefetch of a weight line: non-temporal
 * (prefetchnta) or into every level (prefetcht0). nta is a constant in each
 * kernel instance, so the branch folds away. */
static inline __attribute__((always_inline)) void mx_prefetch_w(const void *p, bool nta) {
  if (nta)
    __builtin_prefetch(p, 0, 0);
  else
    __builtin_prefetch(p, 0, 3);
}

/* n contiguous elements of dtype t (float16/bfloat16/float32) <-> float. */
void mx_cvt_to_f32(const void *src, mx_dtype t, float *dst, int64_t n);
void mx_cvt_from_f32(const float *src, void *dst, mx_dtype t, int64_t n);
/* sum a[i]*b[i]; y[i] += alpha*x[i]; y[i] *= alpha. */
float mx_dot_f32(const float *a, const float *b, int64_t n);
void mx_axpy_f32(float alpha, const float *x, float *y, int64_t n);
void mx_scal_f32(float alpha, float *y, int64_t n);

/* Attention blocks: s (nt, 64) = q (nt, D) @ kt (D, 64); o (Dv) += sum_j
 * p[j] * v[j, :] over nk rows of v (nk, Dv). */
void mx_sdpa_scores(const float *q, int nt, int D, const float *kt, float *s);
void mx_sdpa_pv(const float *p, int nk, const float *v, int Dv, float *o);
/* s[t*64 + j] = q[t, :] . k[j, :] for t < nt <= 4 and j < nk (k: nk rows of
 * D float32/float16/bfloat16 values, element stride 1, row stride ldk, read
 * in place). */
void mx_sdpa_scores_rows(const float *q, int nt, int D, const void *k, mx_dtype kt,
                         int64_t ldk, int nk, float *s);
/* kt (D, 64): kt[d*64 + j] = k[j*ld + d] for j < nk <= 64, d < D (k: rows of
 * float32/float16/bfloat16, element stride 1, row stride ld), converted to
 * float32 exactly; columns nk..63 are zero (the score kernel's padding). */
void mx_sdpa_kt(const void *k, mx_dtype t, int64_t ld, int nk, int D, float *kt);
/* bfloat16 queries and keys (AVX512-BF16, D a multiple of 32; only where
 * mx_sdpa_bf16_available()): kp (D/2, 64) 32-bit words, kp[p*64 + j] =
 * elements 2p and 2p+1 of key row j (rows ld elements apart; columns nk..63
 * zero); s[t*64 + j] = scale * sum_p q pair p of row t (rows ldq elements
 * apart) times kp[p*64 + j] for t < nt, with vdpbf16ps: exact products,
 * float32 sums, pairs first. */
bool mx_sdpa_bf16_available(void);
void mx_sdpa_kpack_bf16(const uint16_t *k, int64_t ld, int nk, int D, uint32_t *kp);
void mx_sdpa_scores_bf16(const uint16_t *q, int64_t ldq, int nt, int D,
                         const uint32_t *kp, float scale, float *s);
/* For the nr rows r in rows: o[r*Dv + :] += sum_{j < nk} p[r*64 + j] *
 * v[j*ldv + :], v float32/float16/bfloat16 (element stride 1, row stride
 * ldv) read in place; per element the same FMA chain as mx_sdpa_pv on
 * converted rows. */
void mx_sdpa_pv_rows(const float *p, const int *rows, int nr, int nk, const void *v,
                     mx_dtype t, int64_t ldv, int Dv, float *o);
/* max(m, s[j] for j < n), NaN entries skipped */
float mx_max_f32(const float *s, int64_t n, float m);
/* p[j] = exp(s[j] - m) for j < n (vector exp, ~2e-7 relative; below -87
 * gives 0); returns sum p. */
float mx_exp_shift_f32(const float *s, float m, float *p, int64_t n);

/* One quantized matmul of contiguous operands (one batch entry).
 * transpose: out (M, N) = x (M, K) @ dequant(w (N, K)).T, scales (N, K/gs)
 * else:      out (M, N) = x (M, K) @ dequant(w (K, N)),   scales (K, N/gs) */
typedef struct {
  mx_isa isa;
  int M, N, K, gs, bits;
  const float *x;    /* (M, K) float32; for transpose, permuted per
                        mx_qmm_perm_block */
  const float *xsum; /* transpose: (M, K/gs) sums of x over each group */
  /* bfloat16 path (mx_qmm_use_bf16): x as bfloat16 hi (+ lo, or NULL when
   * hi is exact), (M, K) permuted per mx_qmm_bf16_perm; x above unused */
  const uint16_t *xh, *xl;
  const uint8_t *w;     /* packed codes, rows of (cols*bits/8) bytes */
  const uint8_t *w_end; /* first byte past the readable memory of w */
  const void *scales, *biases;
  mx_dtype sdt, bdt; /* float16, bfloat16 or float32 */
  void *out;         /* (M, N) contiguous, dtype odt */
  mx_dtype odt;
  atomic_int *err; /* set to 1 when a kernel's scratch allocation fails */
  bool nta;        /* prefetch w non-temporal (mx_cpu_prefetch_nta) */
  /* int8 activations (mx_set_int8_activations; gemm_i8.c): x quantized
   * per group, (M, K) in K order, with each group's scale xd (M, K/gs);
   * xsum then holds the groups' float sums. NULL: the exact kernels. */
  const int8_t *xq;
  const float *xd;
} mx_qmm_args;

/* Prefetch the scales and biases of rows [r, r + n) of the transposed
 * product: the drivers convert them a chunk of rows at a time, and without
 * this each chunk would start with a burst of cache misses. Always T0, unlike
 * the weights (mx_prefetch_w): they are fetched a whole chunk ahead, and
 * NTA here measured no better on Zen 5. */
static inline __attribute__((always_inline)) void mx_qmm_prefetch_params(
    const mx_qmm_args *a, int r, int n) {
  if (r >= a->N) return;
  if (n > a->N - r) n = a->N - r;
  const int64_t G = a->K / a->gs;
  /* float32, or a 16-bit type (a call to mx_dtype_size per 4-row tile
   * showed in decode profiles) */
  const int64_t ss = a->sdt == MX_FLOAT32 ? 4 : 2, bs = a->bdt == MX_FLOAT32 ? 4 : 2;
  const char *sp = (const char *)a->scales + r * G * ss,
             *bp = (const char *)a->biases + r * G * bs;
  for (int64_t o = 0; o < n * G * ss; o += 64) __builtin_prefetch(sp + o, 0, 3);
  for (int64_t o = 0; o < n * G * bs; o += 64) __builtin_prefetch(bp + o, 0, 3);
}

/* x of the transposed kernels is permuted in blocks of P elements (P = 1:
 * identity): within a block, the first P/2 slots hold the even elements and
 * the last P/2 the odd ones, the order in which 4-bit codes unpack. */
int mx_qmm_perm_block(mx_isa isa, int bits);
/* Whether the transposed 4-bit product takes the bfloat16 path: AVX512-BF16,
 * K a multiple of 128, x bfloat16 (exact) or float16 (exact as hi + lo). */
bool mx_qmm_use_bf16(mx_isa isa, int bits, int K, mx_dtype xdt);
/* Slot of element k of x in the bfloat16 path's layout: blocks of 128
 * codes, slot k4*32 + j holds element 4*j + k4 (the order in which 16-bit
 * lanes of packed 4-bit codes unpack). */
static inline int64_t mx_qmm_bf16_slot(int64_t k) {
  int64_t b = k / 128, e = k % 128;
  return b * 128 + (e % 4) * 32 + e / 4;
}
/* Output rows [n0, n1) of the transposed product (all M). */
void mx_qmm_t_rows(const mx_qmm_args *a, int n0, int n1);
/* Output column groups [g0, g1) (columns g*gs..) of the plain product. */
void mx_qmm_n_groups(const mx_qmm_args *a, int g0, int g1);

/* x86 bodies (qsimd_x86.c); only called when the ISA is supported. */
void mx_qmm_t_rows_avx512(const mx_qmm_args *a, int n0, int n1);
void mx_qmm_t_rows_bf16(const mx_qmm_args *a, int n0, int n1);
/* A row of x (K floats, bfloat16 or float16 values) in the bfloat16 path's
 * layout: h the bfloat16 values, l (if not NULL) what they leave. */
void mx_qmm_bf16_xrow(const float *x, int K, uint16_t *h, uint16_t *l);
void mx_qmm_t_rows_avx2(const mx_qmm_args *a, int n0, int n1);
void mx_qmm_n_groups_avx512(const mx_qmm_args *a, int g0, int g1);
void mx_qmm_n_groups_avx2(const mx_qmm_args *a, int g0, int g1);
void mx_cvt_to_f32_avx512(const void *src, mx_dtype t, float *dst, int64_t n);
void mx_cvt_to_f32_avx2(const void *src, mx_dtype t, float *dst, int64_t n);
void mx_cvt_from_f32_avx512(const float *src, void *dst, mx_dtype t, int64_t n);
void mx_cvt_from_f32_avx2(const float *src, void *dst, mx_dtype t, int64_t n);
float mx_dot_f32_avx512(const float *a, const float *b, int64_t n);
float mx_dot_f32_avx2(const float *a, const float *b, int64_t n);
void mx_axpy_f32_avx512(float alpha, const float *x, float *y, int64_t n);
void mx_axpy_f32_avx2(float alpha, const float *x, float *y, int64_t n);
void mx_sdpa_scores_avx512(const float *q, int nt, int D, const float *kt, float *s);
void mx_sdpa_scores_avx2(const float *q, int nt, int D, const float *kt, float *s);
void mx_sdpa_scores_rows_avx512(const float *q, int nt, int D, const void *k, mx_dtype kt,
                                int64_t ldk, int nk, float *s);
void mx_sdpa_scores_rows_avx2(const float *q, int nt, int D, const void *k, mx_dtype kt,
                              int64_t ldk, int nk, float *s);
void mx_sdpa_kt_avx512(const void *k, mx_dtype t, int64_t ld, int nk, int D, float *kt);
void mx_sdpa_kpack_bf16_avx512(const uint16_t *k, int64_t ld, int nk, int D,
                               uint32_t *kp);
void mx_sdpa_scores_bf16_avx512(const uint16_t *q, int64_t ldq, int nt, int D,
                                const uint32_t *kp, float scale, float *s);
void mx_sdpa_pv_avx512(const float *p, int nk, const float *v, int Dv, float *o);
void mx_sdpa_pv_avx2(const float *p, int nk, const float *v, int Dv, float *o);
void mx_sdpa_pv_rows_avx512(const float *p, const int *rows, int nr, int nk,
                            const void *v, mx_dtype t, int64_t ldv, int Dv, float *o);
void mx_sdpa_pv_rows_avx2(const float *p, const int *rows, int nr, int nk, const void *v,
                          mx_dtype t, int64_t ldv, int Dv, float *o);
float mx_max_f32_avx512(const float *s, int64_t n, float m);
float mx_max_f32_avx2(const float *s, int64_t n, float m);
float mx_exp_shift_f32_avx512(const float *s, float m, float *p, int64_t n);
float mx_exp_shift_f32_avx2(const float *s, float m, float *p, int64_t n);

#endif
