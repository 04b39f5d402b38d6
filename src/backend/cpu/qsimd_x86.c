/* qsimd_x86.c: the AVX-512 and AVX2 instances of the SIMD kernels in
 * qmm_body.inc (quantized matmul tiles, row conversions, dot, axpy,
 * attention blocks, exp), plus the AVX512-BF16 kernel for 4-bit codes with
 * bfloat16/float16 activations. Each function carries its own target
 * attribute, so this file builds without -mavx flags and the dispatcher
 * (qsimd.c, quantized.c) calls an instance only when __builtin_cpu_supports
 * says the CPU has it. */
#include "qsimd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"
#include "transpose16.h"

#define MX_CAT2(a, b) a##_##b
#define MX_CAT(a, b) MX_CAT2(a, b)
#define FN(name) MX_CAT(name, ISA)

/* ================= AVX-512 (F, BW, VL) ================= */
#define ISA avx512
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define VL 16
#define V __m512
#define VI __m512i
#define vzero() _mm512_setzero_ps()
#define vset1(f) _mm512_set1_ps(f)
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vhsum(v) _mm512_reduce_add_ps(v)
#define vcvt(i) _mm512_cvtepi32_ps(i)
#define viand(i, c) _mm512_and_si512(i, _mm512_set1_epi32(c))
#define visrl(i, c) _mm512_srli_epi32(i, c)
#define vand(a, b) _mm512_and_si512(a, b)
#define vsrlv(a, b) _mm512_srlv_epi32(a, b)
#define vshuf8(a, b) _mm512_shuffle_epi8(a, b)
#define vi_loadu(p) _mm512_loadu_si512((const void *)(p))
#define vi_set1(c) _mm512_set1_epi32(c)
#define vu8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vbcast_bytes(p) \
  _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vload_tail(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define vstore_tail(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VM __mmask16
/* the low 4 bits of each lane as float: a 16-entry table lookup (the
 * permute reads only the low 4 bits, so no mask is needed) */
#define vnib(i)          \
  _mm512_permutexvar_ps( \
      i, _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define vsub(a, b) _mm512_sub_ps(a, b)
#define vmul(a, b) _mm512_mul_ps(a, b)
#define vmin(a, b) _mm512_min_ps(a, b)
#define vmax(a, b) _mm512_max_ps(a, b)
#define vfnma(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define vcmp_lt(a, b) _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define vcmp_unord(a, b) _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q)
#define vroundf(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vscale2(p, k) _mm512_scalef_ps(p, k)
#define vblend_zero(y, m) _mm512_mask_mov_ps(y, m, _mm512_setzero_ps())
#define vblend(a, b, m) _mm512_mask_mov_ps(a, m, b)

TGT static inline V vld_h_avx512(const uint16_t *p, mx_dtype t) {
  __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
  if (t == MX_FLOAT16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
TGT static inline void vst_h_avx512(uint16_t *p, V v, mx_dtype t) {
  __m256i h;
  if (t == MX_FLOAT16) {
    h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  } else { /* bfloat16: round to nearest even, NaN stays a quiet NaN */
    __m512i i = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(i, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(i, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(i, _mm512_set1_epi32(0x7fffffff)),
                                _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(
        r, nan, _mm512_or_si512(_mm512_srli_epi32(i, 16), _mm512_set1_epi32(0x40)));
    h = _mm512_cvtepi32_epi16(r);
  }
  _mm256_storeu_si256((__m256i *)(void *)p, h);
}
#define vld_h(p, t) vld_h_avx512(p, t)
#define vst_h(p, v, t) vst_h_avx512(p, v, t)

#include "qmm_body.inc"

/* ---- 4-bit codes as bfloat16, dotted with bfloat16 x (AVX512-BF16) ----
 * 64 bytes of codes are 32 16-bit lanes of four codes each. Each nibble is
 * shifted to the lane's low 4 bits and OR-ed into the low mantissa bits of
 * bfloat16 1.0, giving 1 + code/128 exactly (the first nibble needs no
 * shift, the last no mask: 7 operations per 128 codes; placing codes at
 * mantissa bits 3..6, as 1 + code/16, took 8), and vdpbf16ps multiplies
 * pairs of lanes with x (exact products, float32 sums). Per group:
 * sum x*code = 128 * (sum x*(1 + code/128)) - 128 * sum x, so the scale
 * is applied as 128*scale and the bias as (bias - 128*scale) * sum x.
 * A block of 128 codes covers 128/gs groups: float32 lane i of the dot holds
 * codes 8i..8i+7, so a per-lane scale vector (a permute of the row's
 * scales) applies each group's scale. float16 x is split into bfloat16 hi +
 * lo, which is exact.
 * The x planes of a block are loaded once for all rows of the tile, and
 * the load of the codes stays in a register (GCC folded it into each of
 * the four shifts: four loads of the same line). */
#define TGTB __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define QMM_BF16_CODE_MUL 128.0f
/* software prefetch distance in tiles, 0 for none: short rows (K = 896 is
 * 448 bytes of codes) end before the hardware prefetcher locks on to them
 * (a build-time knob, bench/gpu/probe.sh) */
#ifndef MX_QPF
#define MX_QPF 4
#endif

TGTB static inline __attribute__((always_inline)) void qmm_tile_bf16(
    const mx_qmm_args *a, const int NR, const int MB, const bool two, const bool nta,
    int m0, int n, const uint8_t *const *wrow, const float *sb, const float *bb,
    int64_t sstride) {
  const int K = a->K, gs = a->gs, G = K / gs, nblk = K / 128, gpb = 128 / gs;
  const int64_t rb = K / 2;
  const __m512i idx = _mm512_srli_epi32(
      _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120),
      gs == 32   ? 5
      : gs == 64 ? 6
                 : 7); /* lane i -> group (8i)/gs of the block */
  const __m512i c0f = _mm512_set1_epi16(0x000F), c3f80 = _mm512_set1_epi16(0x3F80);
  const char *pf = (const char *)a->w + (int64_t)(n + NR * MX_QPF) * rb;
  __m512 acc[4][4];
  const uint16_t *xh[4], *xl[4];
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++) {
    xh[m] = a->xh + (int64_t)(m0 + m) * K;
    xl[m] = two ? a->xl + (int64_t)(m0 + m) * K : NULL;
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) acc[m][r] = _mm512_setzero_ps();
  }
  for (int b = 0; b < nblk; b++) {
    /* the x planes of this block, loaded once for the NR rows */
    __m512bh xv[4][4], lv[4][4];
#pragma GCC unroll 4
    for (int m = 0; m < MB; m++)
#pragma GCC unroll 4
      for (int k = 0; k < 4; k++) {
        xv[m][k] = (__m512bh)_mm512_loadu_si512((const void *)(xh[m] + b * 128 + k * 32));
        if (two)
          lv[m][k] =
              (__m512bh)_mm512_loadu_si512((const void *)(xl[m] + b * 128 + k * 32));
      }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      if (MX_QPF) mx_prefetch_w(pf + ((int64_t)b * NR + r) * 64, nta);
      __m512i w = _mm512_loadu_si512((const void *)(wrow[r] + (int64_t)b * 64));
      __asm__("" : "+v"(w)); /* one load, not one per shift */
      __m512i q[4];
      q[0] = _mm512_ternarylogic_epi32(w, c0f, c3f80, 0xEA);
      q[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w, 4), c0f, c3f80, 0xEA);
      q[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w, 8), c0f, c3f80, 0xEA);
      q[3] = _mm512_or_si512(_mm512_srli_epi16(w, 12), c3f80);
      __m512 sv = _mm512_permutexvar_ps(
          idx, _mm512_loadu_ps(sb + r * sstride + (int64_t)b * gpb));
#pragma GCC unroll 4
      for (int m = 0; m < MB; m++) {
        /* one chain per part: the next block's chains overlap this one */
        __m512 d = _mm512_setzero_ps(), e = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
          d = _mm512_dpbf16_ps(d, (__m512bh)q[k], xv[m][k]);
          if (two) e = _mm512_dpbf16_ps(e, (__m512bh)q[k], lv[m][k]);
        }
        if (two) d = _mm512_add_ps(d, e);
        acc[m][r] = _mm512_fmadd_ps(d, sv, acc[m][r]);
      }
    }
  }
  /* the bias term, sum_g bias'[g] * xsum[g], goes into the same vector
   * before the one horizontal sum (no call, no second reduction) */
  for (int m = 0; m < MB; m++) {
    const float *xs = a->xsum + (int64_t)(m0 + m) * G;
    for (int r = 0; r < NR; r++) {
      const float *br = bb + r * sstride;
      __m512 t = acc[m][r];
      int g = 0;
      for (; g + 16 <= G; g += 16)
        t = _mm512_fmadd_ps(_mm512_loadu_ps(br + g), _mm512_loadu_ps(xs + g), t);
      if (g < G) {
        __mmask16 k = (__mmask16)((1u << (G - g)) - 1);
        t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, br + g),
                            _mm512_maskz_loadu_ps(k, xs + g), t);
      }
      float v = _mm512_reduce_add_ps(t);
      int64_t o = (int64_t)(m0 + m) * a->N + n + r;
      switch (a->odt) {
        case MX_FLOAT16:
          ((uint16_t *)a->out)[o] = mx_f32_to_f16(v);
          break;
        case MX_BFLOAT16: { /* round to nearest even, inline (mx_f32_to_bf16) */
          uint32_t u;
          memcpy(&u, &v, 4);
          ((uint16_t *)a->out)[o] =
              (u & 0x7fffffffu) > 0x7f800000u
                  ? (uint16_t)((u >> 16) | 0x40)
                  : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
          break;
        }
        default:
          ((float *)a->out)[o] = v;
          break;
      }
    }
  }
}

/* instances, each with both prefetch hints (qmm_bf16_NR_MB_TWO[_nta]) */
#define BF16_INST1(NR, MB, TWO, NTA, SFX)                                               \
  TGTB static void qmm_bf16_##NR##_##MB##_##TWO##SFX(                                   \
      const mx_qmm_args *a, int m0, int n, const uint8_t *const *wrow, const float *sb, \
      const float *bb, int64_t ss) {                                                    \
    qmm_tile_bf16(a, NR, MB, TWO, NTA, m0, n, wrow, sb, bb, ss);                        \
  }
#define BF16_INST(NR, MB, TWO) \
  BF16_INST1(NR, MB, TWO, false, ) BF16_INST1(NR, MB, TWO, true, _nta)
BF16_INST(4, 1, 0)
BF16_INST(1, 1, 0)
BF16_INST(4, 2, 0)
BF16_INST(1, 2, 0)
BF16_INST(4, 1, 1)
BF16_INST(1, 1, 1)
BF16_INST(2, 2, 1)
BF16_INST(1, 2, 1)

/* A row of x (K floats, exactly bfloat16 or float16 values) in the
 * bfloat16 path's layout (mx_qmm_bf16_slot): h = bfloat16(x), l =
 * bfloat16(x - h) when l != NULL. Per block of 128: 4 conversions and 8
 * word permutes instead of 128 scalar steps. */
TGTB static inline __m512i qmm_cvt_bf16(__m512 lo16, __m512 hi16) {
  return (__m512i)_mm512_cvtne2ps_pbh(hi16, lo16); /* lanes 0..15 <- lo16 */
}
TGTB static void qmm_xrow_part(const float *x, int K, bool low, uint16_t *out) {
  /* v -> its bfloat16 hi part, or the bfloat16 of what hi leaves */
#define PART(v)                                                                         \
  (low ? _mm512_sub_ps(v,                                                               \
                       _mm512_castsi512_ps(_mm512_slli_epi32(                           \
                           _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v)), 16))) \
       : (v))
  /* plane k holds element 4j + k. First, per pair of vectors of 32
   * elements, planes k and k+1 for j < 16 (lanes 0..15 and 16..31) */
  __m512i pk[2];
  for (int h = 0; h < 2; h++) {
    int16_t t[32];
    for (int i = 0; i < 32; i++) /* lane i: plane 2h + i / 16, j = i % 16 */
      t[i] = (int16_t)((i % 16 < 8 ? 0 : 32) + 4 * (i % 8) + 2 * h + i / 16);
    pk[h] = _mm512_loadu_si512(t);
  }
  const __m512i lo = _mm512_set_epi16(47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35,
                                      34, 33, 32, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                      4, 3, 2, 1, 0),
                hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int k0 = 0; k0 < K; k0 += 128, out += 128) {
    __m512i z[4];
    for (int i = 0; i < 4; i++)
      z[i] = qmm_cvt_bf16(PART(_mm512_loadu_ps(x + k0 + 32 * i)),
                          PART(_mm512_loadu_ps(x + k0 + 32 * i + 16)));
    for (int h = 0; h < 2; h++) {
      __m512i pa = _mm512_permutex2var_epi16(z[0], pk[h], z[1]); /* j < 16 */
      __m512i pb = _mm512_permutex2var_epi16(z[2], pk[h], z[3]); /* j >= 16 */
      _mm512_storeu_si512(out + 64 * h, _mm512_permutex2var_epi16(pa, lo, pb));
      _mm512_storeu_si512(out + 64 * h + 32, _mm512_permutex2var_epi16(pa, hi, pb));
    }
  }
#undef PART
}

TGTB void mx_qmm_bf16_xrow(const float *x, int K, uint16_t *h, uint16_t *l) {
  qmm_xrow_part(x, K, false, h);
  if (l) qmm_xrow_part(x, K, true, l);
}

/* the rows loop, once per prefetch hint (nta a constant: each instance
 * calls its tiles directly, and the compiler inlines them) */
#define BF16_TILE(name) (nta ? name##_nta : name)
TGTB static inline __attribute__((always_inline)) void qmm_t_rows_bf16_body(
    const mx_qmm_args *a, int n0, int n1, const bool nta) {
  const int K = a->K, G = K / a->gs, M = a->M;
  const int64_t rb = K / 2, ss = G; /* tiles read 16 scales: pad the end */
  const bool two = a->xl != NULL;
  { /* a chunk's first 4 * MX_QPF rows are behind the tiles' software
     * prefetch, and its first scales behind the one of the previous chunk
     * of 32 rows: fetch both now (the schedule hands out up to ~10 chunks
     * per call) */
    int nr = n1 - n0 < 4 * MX_QPF ? n1 - n0 : 4 * MX_QPF;
    const char *w0 = (const char *)a->w + (int64_t)n0 * rb;
    for (int64_t o = 0; o < (int64_t)nr * rb; o += 64) mx_prefetch_w(w0 + o, nta);
    mx_qmm_prefetch_params(a, n0, n1 - n0 < QMM_NCH ? n1 - n0 : QMM_NCH);
  }
  /* per-thread scratch: the driver calls this once per chunk of rows, and
   * a malloc/memset/free per call showed in decode profiles */
  float *sb =
      mx_thread_scratch(MX_SCRATCH_QMM, sizeof(float) * (2 * QMM_NCH * (size_t)G + 32));
  if (!sb) {
    atomic_store(a->err, 1);
    return;
  }
  float *bb = sb + (size_t)QMM_NCH * G + 16;
  for (int c0 = n0; c0 < n1; c0 += QMM_NCH) {
    int c1 = c0 + QMM_NCH < n1 ? c0 + QMM_NCH : n1;
    const int64_t ng = (int64_t)(c1 - c0) * G;
    const uint8_t *rows[QMM_NCH];
    /* the chunk's rows of scales and biases are contiguous */
    mx_cvt_to_f32_avx512(
        (const char *)a->scales + (int64_t)c0 * G * mx_dtype_size(a->sdt), a->sdt, sb,
        ng);
    mx_cvt_to_f32_avx512(
        (const char *)a->biases + (int64_t)c0 * G * mx_dtype_size(a->bdt), a->bdt, bb,
        ng);
    /* the tiles load 16 scales from the last row's last block: the 16
     * floats after the chunk's entries stay defined (and unused) */
    memset(sb + ng, 0, 16 * sizeof(float));
    memset(bb + ng, 0, 16 * sizeof(float));
    const __m512 cmul = _mm512_set1_ps(QMM_BF16_CODE_MUL);
    int64_t i = 0;
    for (; i + 16 <= ng; i += 16) { /* bias - 128*scale, 128*scale */
      __m512 sv = _mm512_loadu_ps(sb + i);
      _mm512_storeu_ps(bb + i, _mm512_fnmadd_ps(cmul, sv, _mm512_loadu_ps(bb + i)));
      _mm512_storeu_ps(sb + i, _mm512_mul_ps(cmul, sv));
    }
    for (; i < ng; i++) {
      bb[i] -= QMM_BF16_CODE_MUL * sb[i];
      sb[i] *= QMM_BF16_CODE_MUL;
    }
    for (int r = c0; r < c1; r++) rows[r - c0] = a->w + (int64_t)r * rb;
    int m = 0;
    /* rows of x two at a time: four w rows per tile with bfloat16 x, two
     * with float16 x (hi and lo planes); four x rows (16 x vectors) per
     * tile left too few registers and ran at half the speed (spills) */
    for (; m + 2 <= M; m += 2) {
      int r = c0;
      const int nr = two ? 2 : 4;
      for (; r + nr <= c1; r += nr) {
        if (m == 0) mx_qmm_prefetch_params(a, r + QMM_NCH, nr);
        const uint8_t *const *w = rows + (r - c0);
        const float *s = sb + (r - c0) * ss, *b = bb + (r - c0) * ss;
        if (two)
          BF16_TILE(qmm_bf16_2_2_1)(a, m, r, w, s, b, ss);
        else
          BF16_TILE(qmm_bf16_4_2_0)(a, m, r, w, s, b, ss);
      }
      for (; r < c1; r++) {
        const uint8_t *const *w = rows + (r - c0);
        const float *s = sb + (r - c0) * ss, *b = bb + (r - c0) * ss;
        if (two)
          BF16_TILE(qmm_bf16_1_2_1)(a, m, r, w, s, b, ss);
        else
          BF16_TILE(qmm_bf16_1_2_0)(a, m, r, w, s, b, ss);
      }
    }
    for (; m < M; m++) {
      int r = c0;
      for (; r + 4 <= c1; r += 4) {
        if (m == 0) mx_qmm_prefetch_params(a, r + QMM_NCH, 4);
        const uint8_t *const *w = rows + (r - c0);
        const float *s = sb + (r - c0) * ss, *b = bb + (r - c0) * ss;
        if (two)
          BF16_TILE(qmm_bf16_4_1_1)(a, m, r, w, s, b, ss);
        else
          BF16_TILE(qmm_bf16_4_1_0)(a, m, r, w, s, b, ss);
      }
      for (; r < c1; r++) {
        const uint8_t *const *w = rows + (r - c0);
        const float *s = sb + (r - c0) * ss, *b = bb + (r - c0) * ss;
        if (two)
          BF16_TILE(qmm_bf16_1_1_1)(a, m, r, w, s, b, ss);
        else
          BF16_TILE(qmm_bf16_1_1_0)(a, m, r, w, s, b, ss);
      }
    }
  }
}

#undef BF16_TILE

TGTB void mx_qmm_t_rows_bf16(const mx_qmm_args *a, int n0, int n1) {
  if (a->nta)
    qmm_t_rows_bf16_body(a, n0, n1, true);
  else
    qmm_t_rows_bf16_body(a, n0, n1, false);
}

#undef ISA
#undef TGT
#undef VL
#undef V
#undef VI
#undef vzero
#undef vset1
#undef vload
#undef vstore
#undef vfma
#undef vadd
#undef vhsum
#undef vcvt
#undef viand
#undef visrl
#undef vand
#undef vsrlv
#undef vshuf8
#undef vi_loadu
#undef vi_set1
#undef vu8
#undef vbcast_bytes
#undef vload_tail
#undef vstore_tail
#undef vld_h
#undef vst_h
#undef VM
#undef vnib
#undef vsub
#undef vmul
#undef vmin
#undef vmax
#undef vfnma
#undef vcmp_lt
#undef vcmp_unord
#undef vroundf
#undef vscale2
#undef vblend_zero
#undef vblend

/* ---- attention: a block of keys, converted and transposed ----
 * kt (D, 64) from up to 64 key rows of float32/float16/bfloat16 (row stride
 * ld elements), in 16x16 tiles: 16 masked row loads widened to float32 in
 * registers, an in-register transpose (unpack, shuffle, two 128-bit lane
 * shuffles), 16 stores. Replaces a conversion pass into a float32 buffer
 * followed by a scalar transpose (4096 loads and stores per 64x64 block). */
#define TGTK __attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
TGTK static inline __m512 kt_load16(const void *p, mx_dtype t, __mmask16 m) {
  if (t == MX_FLOAT32) return _mm512_maskz_loadu_ps(m, p);
  __m256i h = _mm256_maskz_loadu_epi16(m, p);
  if (t == MX_FLOAT16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

TGTK void mx_sdpa_kt_avx512(const void *k, mx_dtype t, int64_t ld, int nk, int D,
                            float *kt) {
  const int64_t es = t == MX_FLOAT32 ? 4 : 2;
  for (int j0 = 0; j0 < 64; j0 += 16) {
    if (j0 >= nk) { /* padding columns */
      for (int d = 0; d < D; d++)
        _mm512_storeu_ps(kt + (int64_t)d * 64 + j0, _mm512_setzero_ps());
      continue;
    }
    for (int d0 = 0; d0 < D; d0 += 16) {
      int nd = D - d0 < 16 ? D - d0 : 16;
      __mmask16 m = (__mmask16)((1u << nd) - 1);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        r[i] = j0 + i < nk
                   ? kt_load16((const char *)k + ((int64_t)(j0 + i) * ld + d0) * es, t, m)
                   : _mm512_setzero_ps();
      mx_transpose16_ps(r);
      for (int e = 0; e < nd; e++)
        _mm512_storeu_ps(kt + (int64_t)(d0 + e) * 64 + j0, r[e]);
    }
  }
}
#undef TGTK

/* ---- attention scores from bfloat16 queries and keys (vdpbf16ps) ----
 * Keys packed as pairs: kp[p*64 + j] = elements 2p, 2p+1 of key row j, a
 * 16 x 16 transpose of 32-bit words per tile (half the data of
 * mx_sdpa_kt's float32 tiles, no widening); the scores of six query rows
 * by 64 keys stay in 24 accumulators over all D/2 pairs. Products are
 * exact, sums float32 (pairs first); the scale multiplies the sum. */
#define TGTS __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
TGTS void mx_sdpa_kpack_bf16_avx512(const uint16_t *k, int64_t ld, int nk, int D,
                                    uint32_t *kp) {
  const int P = D / 2;
  for (int j0 = 0; j0 < 64; j0 += 16) {
    if (j0 >= nk) { /* padding columns */
      for (int p = 0; p < P; p++)
        _mm512_storeu_si512((void *)(kp + (int64_t)p * 64 + j0), _mm512_setzero_si512());
      continue;
    }
    for (int p0 = 0; p0 < P; p0 += 16) {
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        r[i] = j0 + i < nk
                   ? _mm512_loadu_ps((const void *)(k + (int64_t)(j0 + i) * ld + 2 * p0))
                   : _mm512_setzero_ps();
      mx_transpose16_ps(r);
#pragma GCC unroll 16
      for (int e = 0; e < 16; e++)
        _mm512_storeu_ps((void *)(kp + (int64_t)(p0 + e) * 64 + j0), r[e]);
    }
  }
}

TGTS static inline __attribute__((always_inline)) void sdpa_scores_bf16_rows(
    const uint16_t *q, int64_t ldq, const int TN, int P, const uint32_t *kp, float scale,
    float *s) {
  __m512 acc[6][4];
#pragma GCC unroll 6
  for (int t = 0; t < TN; t++)
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) acc[t][g] = _mm512_setzero_ps();
  for (int p = 0; p < P; p++) {
    const uint32_t *kr = kp + (int64_t)p * 64;
    const __m512bh k0 = (__m512bh)_mm512_loadu_si512((const void *)kr),
                   k1 = (__m512bh)_mm512_loadu_si512((const void *)(kr + 16)),
                   k2 = (__m512bh)_mm512_loadu_si512((const void *)(kr + 32)),
                   k3 = (__m512bh)_mm512_loadu_si512((const void *)(kr + 48));
#pragma GCC unroll 6
    for (int t = 0; t < TN; t++) {
      int32_t w;
      memcpy(&w, q + (int64_t)t * ldq + 2 * p, 4);
      const __m512bh qv = (__m512bh)_mm512_set1_epi32(w);
      acc[t][0] = _mm512_dpbf16_ps(acc[t][0], qv, k0);
      acc[t][1] = _mm512_dpbf16_ps(acc[t][1], qv, k1);
      acc[t][2] = _mm512_dpbf16_ps(acc[t][2], qv, k2);
      acc[t][3] = _mm512_dpbf16_ps(acc[t][3], qv, k3);
    }
  }
  const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 6
  for (int t = 0; t < TN; t++)
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
      _mm512_storeu_ps(s + (int64_t)t * 64 + g * 16, _mm512_mul_ps(acc[t][g], sc));
}

TGTS void mx_sdpa_scores_bf16_avx512(const uint16_t *q, int64_t ldq, int nt, int D,
                                     const uint32_t *kp, float scale, float *s) {
  const int P = D / 2;
  for (int t0 = 0; t0 < nt; t0 += 6) {
    const uint16_t *qt = q + (int64_t)t0 * ldq;
    float *st = s + (int64_t)t0 * 64;
    switch (nt - t0 < 6 ? nt - t0 : 6) { /* a constant row count per instance */
#define SC_CASE(n)                                       \
  case n:                                                \
    sdpa_scores_bf16_rows(qt, ldq, n, P, kp, scale, st); \
    break;
      SC_CASE(1)
      SC_CASE(2)
      SC_CASE(3)
      SC_CASE(4)
      SC_CASE(5)
      default:
        sdpa_scores_bf16_rows(qt, ldq, 6, P, kp, scale, st);
#undef SC_CASE
    }
  }
}
#undef TGTS

/* ================= AVX2 + FMA + F16C ================= */
#define ISA avx2
#define TGT __attribute__((target("avx2,fma,f16c")))
#define VL 8
#define V __m256
#define VI __m256i
#define vzero() _mm256_setzero_ps()
#define vset1(f) _mm256_set1_ps(f)
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vhsum(v) hsum_avx2(v)
#define vcvt(i) _mm256_cvtepi32_ps(i)
#define viand(i, c) _mm256_and_si256(i, _mm256_set1_epi32(c))
#define visrl(i, c) _mm256_srli_epi32(i, c)
#define vand(a, b) _mm256_and_si256(a, b)
#define vsrlv(a, b) _mm256_srlv_epi32(a, b)
#define vshuf8(a, b) _mm256_shuffle_epi8(a, b)
#define vi_loadu(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define vi_set1(c) _mm256_set1_epi32(c)
#define vu8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vbcast_bytes(p) \
  _mm256_broadcastsi128_si256(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vload_tail(p, n) _mm256_maskload_ps(p, tail_mask_avx2(n))
#define vstore_tail(p, v, n) _mm256_maskstore_ps(p, tail_mask_avx2(n), v)
#define VM __m256
#define vnib(i) _mm256_cvtepi32_ps(_mm256_and_si256(i, _mm256_set1_epi32(15)))
#define vsub(a, b) _mm256_sub_ps(a, b)
#define vmul(a, b) _mm256_mul_ps(a, b)
#define vmin(a, b) _mm256_min_ps(a, b)
#define vmax(a, b) _mm256_max_ps(a, b)
#define vfnma(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define vcmp_lt(a, b) _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define vcmp_unord(a, b) _mm256_cmp_ps(a, b, _CMP_UNORD_Q)
#define vroundf(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* p * 2^k through the exponent bits: valid for the normal results vexp makes */
#define vscale2(p, k)                                          \
  _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), \
                                       _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23)))
#define vblend_zero(y, m) _mm256_andnot_ps(m, y)
#define vblend(a, b, m) _mm256_blendv_ps(a, b, m)

TGT static inline float hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
TGT static inline __m256i tail_mask_avx2(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
TGT static inline V vld_h_avx2(const uint16_t *p, mx_dtype t) {
  __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
  if (t == MX_FLOAT16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
TGT static inline void vst_h_avx2(uint16_t *p, V v, mx_dtype t) {
  __m128i h;
  if (t == MX_FLOAT16) {
    h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  } else {
    __m256i i = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(i, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(i, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(i, _mm256_set1_epi32(0x7fffffff)),
                                     _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(
        r, _mm256_or_si256(_mm256_srli_epi32(i, 16), _mm256_set1_epi32(0x40)), nan);
    /* 8 x u32 (each < 2^16) -> 8 x u16 */
    __m256i pk = _mm256_packus_epi32(r, r);
    h = _mm256_castsi256_si128(_mm256_permute4x64_epi64(pk, 0x08));
  }
  _mm_storeu_si128((__m128i *)(void *)p, h);
}
#define vld_h(p, t) vld_h_avx2(p, t)
#define vst_h(p, v, t) vst_h_avx2(p, v, t)

#include "qmm_body.inc"

#else
typedef int mx_qsimd_x86_unused; /* ISO C forbids an empty translation unit */
#endif
