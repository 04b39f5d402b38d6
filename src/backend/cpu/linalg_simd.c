/* linalg_simd.c: see linalg_simd.h. The x86-64 bodies are compiled with
 * target attributes (the rest of the library keeps the baseline ISA) and
 * chosen once with __builtin_cpu_supports. */
#include "linalg_simd.h"
#include "qsimd.h"
#include "simd.h"

#include <stdatomic.h>
#include <string.h>

static inline float bf16_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ---- portable bodies ---- */

static void half_to_f32_c(const uint16_t *src, bool bf16, float *dst, int64_t n) {
  if (bf16)
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_f32(src[i]);
  else
    for (int64_t i = 0; i < n; i++) dst[i] = mx_f16_to_f32(src[i]);
}

static void f32_to_half_c(const float *src, bool bf16, uint16_t *dst, int64_t n) {
  if (bf16)
    for (int64_t i = 0; i < n; i++) dst[i] = mx_f32_to_bf16(src[i]);
  else
    for (int64_t i = 0; i < n; i++) dst[i] = mx_f32_to_f16(src[i]);
}

static float dot_half_c(const uint16_t *a, bool bf16, const float *x, int64_t n) {
  /* four partial sums: independent chains, like the vector body */
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; k++)
      s[k] += (bf16 ? bf16_f32(a[i + k]) : mx_f16_to_f32(a[i + k])) * x[i + k];
  for (; i < n; i++) s[0] += (bf16 ? bf16_f32(a[i]) : mx_f16_to_f32(a[i])) * x[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

static void dot_half_multi_c(const uint16_t *a, bool bf16, const float *x, int64_t xs,
                             int nv, int64_t n, float *out) {
  for (int v = 0; v < nv; v++) out[v] = dot_half_c(a, bf16, x + v * xs, n);
}

static void axpy_half_c(float alpha, const uint16_t *b, bool bf16, float *y, int64_t n) {
  if (bf16)
    for (int64_t i = 0; i < n; i++) y[i] += alpha * bf16_f32(b[i]);
  else
    for (int64_t i = 0; i < n; i++) y[i] += alpha * mx_f16_to_f32(b[i]);
}

/* ---- x86-64: AVX2 + FMA + F16C ---- */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256 load8_half(const uint16_t *p, bool bf16) {
  __m128i h = _mm_loadu_si128((const __m128i *)p);
  if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

AVX2 static void half_to_f32_avx2(const uint16_t *src, bool bf16, float *dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_half(src + i, bf16));
  half_to_f32_c(src + i, bf16, dst + i, n - i);
}

AVX2 static void f32_to_half_avx2(const float *src, bool bf16, uint16_t *dst, int64_t n) {
  int64_t i = 0;
  if (bf16) {
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1),
                  quiet = _mm256_set1_epi32(0x40);
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(src + i);
      __m256i u = _mm256_castps_si256(v);
      /* round to nearest even: add 0x7fff + lsb of the kept half */
      __m256i r = _mm256_add_epi32(
          u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
      r = _mm256_srli_epi32(r, 16);
      /* NaN: keep the top bits, set the quiet bit */
      __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      __m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
      r = _mm256_blendv_epi8(r, qn, nan);
      /* 8 x u32 (each <= 0xffff) -> 8 x u16 */
      __m256i p = _mm256_packus_epi32(r, r);
      p = _mm256_permute4x64_epi64(p, 0x08);
      _mm_storeu_si128((__m128i *)(dst + i), _mm256_castsi256_si128(p));
    }
  } else {
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                                             _MM_FROUND_TO_NEAREST_INT));
  }
  f32_to_half_c(src + i, bf16, dst + i, n - i);
}

AVX2 static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

AVX2 static float dot_half_avx2(const uint16_t *a, bool bf16, const float *x, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(load8_half(a + i, bf16), _mm256_loadu_ps(x + i), s0);
    s1 = _mm256_fmadd_ps(load8_half(a + i + 8, bf16), _mm256_loadu_ps(x + i + 8), s1);
    s2 = _mm256_fmadd_ps(load8_half(a + i + 16, bf16), _mm256_loadu_ps(x + i + 16), s2);
    s3 = _mm256_fmadd_ps(load8_half(a + i + 24, bf16), _mm256_loadu_ps(x + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(load8_half(a + i, bf16), _mm256_loadu_ps(x + i), s0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return s + dot_half_c(a + i, bf16, x + i, n - i);
}

/* nv is a constant after inlining into the switch below, so the
 * accumulators stay in registers. */
AVX2 static inline __attribute__((always_inline)) void dot_multi_body(
    const uint16_t *a, bool bf16, const float *x, int64_t xs, int nv, int64_t n,
    float *out) {
  __m256 acc[4][2];
#pragma GCC unroll 4
  for (int v = 0; v < 4; v++) acc[v][0] = acc[v][1] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = load8_half(a + i, bf16), w1 = load8_half(a + i + 8, bf16);
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      acc[v][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + v * xs + i), acc[v][0]);
      acc[v][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + v * xs + i + 8), acc[v][1]);
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < nv; v++)
    out[v] = hsum(_mm256_add_ps(acc[v][0], acc[v][1])) +
             dot_half_c(a + i, bf16, x + v * xs + i, n - i);
}

AVX2 static void dot_half_multi_avx2(const uint16_t *a, bool bf16, const float *x,
                                     int64_t xs, int nv, int64_t n, float *out) {
  switch (nv) {
    case 1:
      dot_multi_body(a, bf16, x, xs, 1, n, out);
      break;
    case 2:
      dot_multi_body(a, bf16, x, xs, 2, n, out);
      break;
    case 3:
      dot_multi_body(a, bf16, x, xs, 3, n, out);
      break;
    default:
      dot_multi_body(a, bf16, x, xs, 4, n, out);
      break;
  }
}

AVX2 static void axpy_half_avx2(float alpha, const uint16_t *b, bool bf16, float *y,
                                int64_t n) {
  __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(
        y + i, _mm256_fmadd_ps(va, load8_half(b + i, bf16), _mm256_loadu_ps(y + i)));
  axpy_half_c(alpha, b + i, bf16, y + i, n - i);
}

/* ---- AVX-512: bfloat16 rows dotted with one float32 vector ----
 * A 32-bit lane of bfloat16 data holds elements 2j (low half) and 2j+1
 * (high half): a shift and a mask make both float32 with no shuffles, and
 * x is split into its even and odd elements instead (two permutes per 32
 * elements, shared by the four rows). */
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
/* software prefetch distance in tiles of rows, 0 for none (a build-time
 * knob for tuning on other machines: bench/gpu/probe.sh) */
#ifndef MX_BF16_PF_TILES
#define MX_BF16_PF_TILES 1
#endif

AVX512 static inline __attribute__((always_inline)) void bf16_rows_body(
    const uint16_t *a, int64_t rs, const float *x, int64_t n, int NR, const bool nta,
    float *out) {
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                       28, 30),
                io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27,
                                       29, 31),
                hi = _mm512_set1_epi32((int)0xFFFF0000u);
  __m512 acc[4][2];
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
    __m512 xe = _mm512_permutex2var_ps(x0, ie, x1),
           xo = _mm512_permutex2var_ps(x0, io, x1);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      /* the next block of rows: short rows end before the hardware
       * prefetcher locks on to each */
      if (MX_BF16_PF_TILES) mx_prefetch_w(a + (r + MX_BF16_PF_TILES * NR) * rs + i, nta);
      __m512i w = _mm512_loadu_si512((const void *)(a + r * rs + i));
      acc[r][0] =
          _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w, 16)), xe, acc[r][0]);
      acc[r][1] =
          _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(w, hi)), xo, acc[r][1]);
    }
  }
  /* the K tail (< 32) with masked loads, in the same accumulators: calling
   * the baseline-ISA dot_half_c here ran SSE code with the ZMM accumulators
   * live (GCC keeps them across a call to a local clone and so emits no
   * vzeroupper), which on Intel Xeons cost 2.5x for the whole kernel (6 vs
   * 16 GB/s per core; AMD does not penalize it) */
  if (i < n) {
    const int t = (int)(n - i);
    const __mmask16 m0 = (__mmask16)(t >= 16 ? 0xFFFF : (1u << t) - 1),
                    m1 = (__mmask16)(t > 16 ? (1u << (t - 16)) - 1 : 0);
    __m512 x0 = _mm512_maskz_loadu_ps(m0, x + i),
           x1 = _mm512_maskz_loadu_ps(m1, x + i + 16);
    __m512 xe = _mm512_permutex2var_ps(x0, ie, x1),
           xo = _mm512_permutex2var_ps(x0, io, x1);
    const __mmask32 mw = (__mmask32)((1ull << t) - 1);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      __m512i w = _mm512_maskz_loadu_epi16(mw, (const void *)(a + r * rs + i));
      acc[r][0] =
          _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w, 16)), xe, acc[r][0]);
      acc[r][1] =
          _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(w, hi)), xo, acc[r][1]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++)
    out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}

/* all rows, four at a time, with one prefetch hint (a constant per call site) */
AVX512 static inline __attribute__((always_inline)) void bf16_rows_all(
    const uint16_t *a, int64_t rs, const float *x, int64_t n, int nr, const bool nta,
    float *out) {
  int r = 0;
  for (; r + 4 <= nr; r += 4) bf16_rows_body(a + r * rs, rs, x, n, 4, nta, out + r);
  for (; r < nr; r++) bf16_rows_body(a + r * rs, rs, x, n, 1, nta, out + r);
}

AVX512 static void dot_bf16_rows_avx512(const uint16_t *a, int64_t rs, const float *x,
                                        int64_t n, int nr, float *out) {
  if (mx_cpu_prefetch_nta())
    bf16_rows_all(a, rs, x, n, nr, true, out);
  else
    bf16_rows_all(a, rs, x, n, nr, false, out);
}

/* ---- AVX512-BF16: bfloat16 rows dotted with a few bfloat16 vectors ----
 * vdpbf16ps multiplies pairs of K-adjacent elements (exact products in
 * float32) into float32 lanes. A tile is four rows of W by up to four x
 * vectors (16 accumulators); W's rows come from memory once and are read
 * again from L1 for each further group of four vectors. K tails are masked
 * loads (zeros). */
#define BF16DP __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
BF16DP static inline __attribute__((always_inline)) void bf16dp_tile(
    const uint16_t *a, int64_t rs, const uint16_t *xb, int64_t n, const int NR,
    const int NV, const bool pf, float *out, int ov) {
  __m512 acc[4][4];
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512bh xv[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) xv[v] = (__m512bh)_mm512_loadu_si512(xb + v * n + i);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      /* the next tile's rows (short rows end before the hardware prefetcher
       * locks on) */
      if (pf) _mm_prefetch((const char *)(a + (r + NR) * rs + i), _MM_HINT_T0);
      __m512bh w = (__m512bh)_mm512_loadu_si512(a + r * rs + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], w, xv[v]);
    }
  }
  if (i < n) {
    const __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
    __m512bh xv[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
      xv[v] = (__m512bh)_mm512_maskz_loadu_epi16(m, xb + v * n + i);
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      __m512bh w = (__m512bh)_mm512_maskz_loadu_epi16(m, a + r * rs + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], w, xv[v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) out[r * ov + v] = _mm512_reduce_add_ps(acc[r][v]);
}

/* one case of the dispatch below: pf a constant in each instance */
#define BF16DP_CASE(R, V)                                \
  case V + (R == 4 ? 4 : 0):                              \
    pf ? bf16dp_tile(ar, rs, xv, n, R, V, true, o, nv)    \
       : bf16dp_tile(ar, rs, xv, n, R, V, false, o, nv); \
    break;

/* tiles of four rows of a (a tail of rows one at a time), vectors in groups
 * of four; the first group of a tile prefetches the next tile's rows */
BF16DP static void dot_bf16_rows_multi_avx512bf16(const uint16_t *a, int64_t rs,
                                                  const uint16_t *xb, int64_t n, int nv,
                                                  int nr, float *out) {
  for (int r = 0; r < nr;) {
    const int rr = nr - r >= 4 ? 4 : 1;
    for (int v = 0; v < nv; v += 4) {
      const uint16_t *ar = a + r * rs, *xv = xb + v * n;
      float *o = out + r * nv + v;
      const bool pf = v == 0; /* the first pass reads the rows from memory */
      switch ((nv - v < 4 ? nv - v : 4) + (rr == 4 ? 4 : 0)) {
        BF16DP_CASE(1, 1)
        BF16DP_CASE(1, 2)
        BF16DP_CASE(1, 3)
        BF16DP_CASE(1, 4)
        BF16DP_CASE(4, 1)
        BF16DP_CASE(4, 2)
        BF16DP_CASE(4, 3)
        BF16DP_CASE(4, 4)
#undef BF16DP_CASE
      }
    }
    r += rr;
  }
}

static atomic_int g_avx512 = -1; /* -1: not probed yet */
static inline bool use_avx512(void) {
  int v = atomic_load_explicit(&g_avx512, memory_order_relaxed);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma") && mx_cpu_has_f16c();
    atomic_store_explicit(&g_avx512, v, memory_order_relaxed);
  }
  return v > 0;
}

static atomic_int g_avx2 = -1; /* -1: not probed yet */
static inline bool use_avx2(void) {
  int v = atomic_load_explicit(&g_avx2, memory_order_relaxed);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        mx_cpu_has_f16c();
    atomic_store_explicit(&g_avx2, v, memory_order_relaxed);
  }
  return v > 0;
}

void mx_lin_simd_enable(bool on) {
  atomic_store_explicit(&g_avx2, -1, memory_order_relaxed);
  atomic_store_explicit(&g_avx512, -1, memory_order_relaxed);
  if (!on || !use_avx2()) atomic_store_explicit(&g_avx2, 0, memory_order_relaxed);
  if (!on || !use_avx512()) atomic_store_explicit(&g_avx512, 0, memory_order_relaxed);
}
#else
static inline bool use_avx2(void) { return false; }
static inline bool use_avx512(void) { return false; }
static void dot_bf16_rows_avx512(const uint16_t *a, int64_t rs, const float *x, int64_t n,
                                 int nr, float *out) {
  (void)a, (void)rs, (void)x, (void)n, (void)nr, (void)out;
}
static void dot_bf16_rows_multi_avx512bf16(const uint16_t *a, int64_t rs,
                                           const uint16_t *xb, int64_t n, int nv, int nr,
                                           float *out) {
  (void)a, (void)rs, (void)xb, (void)n, (void)nv, (void)nr, (void)out;
}
void mx_lin_simd_enable(bool on) { (void)on; }
#define half_to_f32_avx2 half_to_f32_c
#define f32_to_half_avx2 f32_to_half_c
#define dot_half_avx2 dot_half_c
#define dot_half_multi_avx2 dot_half_multi_c
#define axpy_half_avx2 axpy_half_c
#endif

void mx_lin_half_to_f32(const uint16_t *src, bool bf16, float *dst, int64_t n) {
  if (use_avx2())
    half_to_f32_avx2(src, bf16, dst, n);
  else
    half_to_f32_c(src, bf16, dst, n);
}

void mx_lin_f32_to_half(const float *src, bool bf16, uint16_t *dst, int64_t n) {
  if (use_avx2())
    f32_to_half_avx2(src, bf16, dst, n);
  else
    f32_to_half_c(src, bf16, dst, n);
}

float mx_lin_dot_half(const uint16_t *a, bool bf16, const float *x, int64_t n) {
  return use_avx2() ? dot_half_avx2(a, bf16, x, n) : dot_half_c(a, bf16, x, n);
}

void mx_lin_dot_half_multi(const uint16_t *a, bool bf16, const float *x, int64_t xs,
                           int nv, int64_t n, float *out) {
  if (use_avx2())
    dot_half_multi_avx2(a, bf16, x, xs, nv, n, out);
  else
    dot_half_multi_c(a, bf16, x, xs, nv, n, out);
}

void mx_lin_axpy_half(float alpha, const uint16_t *b, bool bf16, float *y, int64_t n) {
  if (use_avx2())
    axpy_half_avx2(alpha, b, bf16, y, n);
  else
    axpy_half_c(alpha, b, bf16, y, n);
}

bool mx_lin_bf16_multi_available(void) {
  return use_avx512() && mx_cpu_isa() >= MX_ISA_AVX512BF16;
}

void mx_lin_dot_bf16_rows_multi(const uint16_t *a, int64_t rs, const uint16_t *xb,
                                int64_t n, int nv, int nr, float *out) {
  dot_bf16_rows_multi_avx512bf16(a, rs, xb, n, nv, nr, out);
}

void mx_lin_dot_bf16_rows(const uint16_t *a, int64_t rs, const float *x, int64_t n,
                          int nr, float *out) {
  if (use_avx512()) {
    dot_bf16_rows_avx512(a, rs, x, n, nr, out);
    return;
  }
  for (int r = 0; r < nr; r++) out[r] = mx_lin_dot_half(a + r * rs, true, x, n);
}
