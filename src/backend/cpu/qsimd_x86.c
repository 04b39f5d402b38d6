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
#include <x86intrin.h>

#include "dtypes.h"

/* Prefetch the scales and biases of rows [r, r + n) of the transposed
 * product: the drivers convert them a chunk of rows at a time, and without
 * this each chunk would start with a burst of cache misses. */
static inline void qmm_prefetch_params(const mx_qmm_args *a, int r, int n) {
  if (r >= a->N) return;
  if (n > a->N - r) n = a->N - r;
  const int64_t G = a->K / a->gs;
  /* float16, bfloat16 or float32 (no call: this runs once per tile) */
  const int64_t ss = a->sdt == MX_FLOAT32 ? 4 : 2, bs = a->bdt == MX_FLOAT32 ? 4 : 2;
  const char *sp = (const char *)a->scales + r * G * ss,
             *bp = (const char *)a->biases + r * G * bs;
  /* every line the span touches (it need not start on a line) */
  for (int64_t o = -((uintptr_t)sp & 63); o < n * G * ss; o += 64)
    _mm_prefetch(sp + o, _MM_HINT_T0);
  for (int64_t o = -((uintptr_t)bp & 63); o < n * G * bs; o += 64)
    _mm_prefetch(bp + o, _MM_HINT_T0);
}

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

/* ---- 4- and 8-bit codes as bfloat16, dotted with bfloat16 x (AVX512-BF16) ----
 * 64 bytes of codes are 32 16-bit lanes of four nibbles each. Each nibble is
 * moved to bits 3..6 and OR-ed into bfloat16 1.0, giving 1 + nibble/16
 * exactly, and vdpbf16ps multiplies pairs of lanes with x (exact products,
 * float32 sums). Nibble plane k of a block of 128 nibbles holds nibble
 * 4j + k of the block in lane j; x is stored in that order
 * (mx_qmm_bf16_slot).
 *   4-bit: nibble = code. Per group sum x*code = 16 * sum x*(1 + code/16)
 *          - 16 * sum x: the scale is applied as 16*scale and the bias as
 *          (bias - 16*scale) * sum x.
 *   8-bit: code = lo + 16*hi, two nibbles; x' holds x for the low nibble and
 *          16*x (exact) for the high one, so sum x'*(1 + nibble/16) =
 *          17 * sum x + sum x*code / 16: scale 16*scale, bias
 *          (bias - 272*scale). The 8-bit product is the 4-bit kernel on
 *          2K nibbles.
 * A block of 128 nibbles covers bc = 128 (4-bit) or 64 (8-bit) codes;
 * float32 lane i of the dot holds codes (bc/16)*i.. of the block, so a
 * per-lane scale vector (a permute of the row's scales) applies each
 * group's scale. float16 x is split into bfloat16 hi + lo, which is exact.
 *
 * Per block and row of w: one load, 4 shifts, 4 ternary-logic ops, 4
 * vdpbf16ps per row of x, a scale permute and an FMA. The x planes of a
 * block are loaded once for all rows of the tile (registers), and the load
 * of w is kept in a register (folding it into each shift would load it four
 * times). */
#define TGTB __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
/* software prefetch distance: whole tiles, at least MX_QPF_BYTES ahead.
 * Short rows (K = 896 is 448 bytes of 4-bit codes) end before the hardware
 * prefetcher locks on to them; a distance in tiles alone would put long
 * rows (8-bit K = 4096: 16 KB a tile) past what L1 holds. */
#ifndef MX_QPF_BYTES
#define MX_QPF_BYTES 16384
#endif

/* s[i] = sum of the 16 lanes of v[i], i < 4 (one transpose-and-add tree
 * instead of four horizontal sums) */
TGTB static inline void hsum4_bf(__m512 v0, __m512 v1, __m512 v2, __m512 v3, float *s) {
  /* 128-bit chunks: x = (v0.c0 + v0.c2, v0.c1 + v0.c3, v1.c0 + v1.c2, ...) */
  __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44),
                           _mm512_shuffle_f32x4(v0, v1, 0xEE));
  __m512 y = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44),
                           _mm512_shuffle_f32x4(v2, v3, 0xEE));
  /* chunk k: the four partial sums of row k */
  __m512 z =
      _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x88), _mm512_shuffle_f32x4(x, y, 0xDD));
  z = _mm512_add_ps(z, _mm512_permute_ps(z, 0x4E));
  z = _mm512_add_ps(z, _mm512_permute_ps(z, 0xB1));
  float t[16];
  _mm512_storeu_ps(t, z);
  s[0] = t[0], s[1] = t[4], s[2] = t[8], s[3] = t[12];
}

TGTB static inline void qmm_store_out(const mx_qmm_args *a, int64_t o, float v) {
  switch (a->odt) {
    case MX_FLOAT16:
      ((uint16_t *)a->out)[o] = mx_f32_to_f16(v);
      break;
    case MX_BFLOAT16: { /* round to nearest even, inline (mx_f32_to_bf16) */
      uint32_t u;
      memcpy(&u, &v, 4);
      ((uint16_t *)a->out)[o] = (u & 0x7fffffffu) > 0x7f800000u
                                    ? (uint16_t)((u >> 16) | 0x40)
                                    : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
      break;
    }
    default:
      ((float *)a->out)[o] = v;
      break;
  }
}

/* The first n (1..16) floats at p, the rest zero. A masked load whose
 * masked-off lanes reach into a page that is not mapped (or, it seems, not
 * in the TLB) takes a microcode assist on this CPU: ~150 ns each, measured
 * on Zen 5, against 0.5 ns. A span that would cross a 4 KB boundary that
 * its valid elements do not goes through a copy. */
TGTB static inline __m512 qmm_load_part(const float *p, int n) {
  if (n < 16 && ((uintptr_t)p & 4095) + 64 > 4096) {
    float t[16] = {0};
    memcpy(t, p, sizeof(float) * (size_t)n);
    return _mm512_loadu_ps(t);
  }
  return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}

/* One tile: rows n..n+NR of w times rows m0..m0+MB of x. sb/bb: the
 * folded scales and biases (float32, see mx_qmm_t_rows_bf16) of the tile's
 * first row, row stride sstride; 16 floats past a row's scales are
 * readable. */
TGTB static inline __attribute__((always_inline)) void qmm_tile_bf16(
    const mx_qmm_args *a, const int NR, const int MB, const bool two, int m0, int n,
    const uint8_t *const *wrow, const float *sb, const float *bb, int64_t sstride) {
  const int K = a->K, gs = a->gs, G = K / gs;
  const int KN = mx_qmm_bf16_xlen(a->bits, K);             /* nibbles per row */
  const int nblk = KN / 128, bc = a->bits == 8 ? 64 : 128; /* codes per block */
  const int64_t rb = (int64_t)K * a->bits / 8;
  const int lg = gs == 32 ? 5 : gs == 64 ? 6 : 7;
  /* lane i -> group (bc/16 * i) / gs of the block */
  const __m512i idx = _mm512_srl_epi32(
      _mm512_mullo_epi32(
          _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
          _mm512_set1_epi32(bc / 16)),
      _mm_cvtsi32_si128(lg));
  const __m512i c78 = _mm512_set1_epi16(0x0078), c3f80 = _mm512_set1_epi16(0x3F80);
  const int64_t tb = NR * rb, pft = (MX_QPF_BYTES + tb - 1) / tb; /* tiles ahead */
  const char *pf = (const char *)a->w + (int64_t)n * rb + pft * tb;
  __m512 acc[4][4];
  const uint16_t *xh[4], *xl[4];
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++) {
    xh[m] = a->xh + (int64_t)(m0 + m) * KN;
    xl[m] = two ? a->xl + (int64_t)(m0 + m) * KN : NULL;
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) acc[m][r] = _mm512_setzero_ps();
  }
  for (int b = 0; b < nblk; b++) {
    /* the x planes of this block, shared by the NR rows */
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
    /* the block's first group */
    const int64_t so = ((int64_t)b * bc) >> lg;
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      _mm_prefetch(pf + ((int64_t)b * NR + r) * 64, _MM_HINT_T0);
      __m512i w = _mm512_loadu_si512((const void *)(wrow[r] + (int64_t)b * 64));
      __asm__("" : "+v"(w)); /* one load, not one per shift */
      __m512i q[4];
      q[0] = _mm512_ternarylogic_epi32(_mm512_slli_epi16(w, 3), c78, c3f80, 0xEA);
      q[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w, 1), c78, c3f80, 0xEA);
      q[2] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w, 5), c78, c3f80, 0xEA);
      q[3] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w, 9), c78, c3f80, 0xEA);
      __m512 sv = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(sb + r * sstride + so));
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
   * before the horizontal sum */
#pragma GCC unroll 4
  for (int m = 0; m < MB; m++) {
    const float *xs = a->xsum + (int64_t)(m0 + m) * G;
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
      const float *br = bb + r * sstride;
      __m512 t = acc[m][r];
      int g = 0;
      for (; g + 16 <= G; g += 16)
        t = _mm512_fmadd_ps(_mm512_loadu_ps(br + g), _mm512_loadu_ps(xs + g), t);
      if (g < G) /* br is padded; xs is not */
        t = _mm512_fmadd_ps(
            _mm512_maskz_loadu_ps((__mmask16)((1u << (G - g)) - 1), br + g),
            qmm_load_part(xs + g, G - g), t);
      acc[m][r] = t;
    }
    const int64_t o = (int64_t)(m0 + m) * a->N + n;
    if (NR == 4) {
      float s[4];
      hsum4_bf(acc[m][0], acc[m][1], acc[m][2], acc[m][3], s);
      for (int r = 0; r < 4; r++) qmm_store_out(a, o + r, s[r]);
    } else {
#pragma GCC unroll 4
      for (int r = 0; r < NR; r++)
        qmm_store_out(a, o + r, _mm512_reduce_add_ps(acc[m][r]));
    }
  }
}

#define BF16_INST(NR, MB, TWO)                                                          \
  TGTB static void qmm_bf16_##NR##_##MB##_##TWO(                                        \
      const mx_qmm_args *a, int m0, int n, const uint8_t *const *wrow, const float *sb, \
      const float *bb, int64_t ss) {                                                    \
    qmm_tile_bf16(a, NR, MB, TWO, m0, n, wrow, sb, bb, ss);                             \
  }
/* (rows of w, rows of x): 4x1 for decode, 4x2, 2x3 and 2x4 for a few rows
 * of x (the x planes and accumulators stay in registers), 1xMB for the
 * row tail; float16 x (two parts) has twice the x planes */
BF16_INST(4, 1, 0)
BF16_INST(4, 2, 0)
BF16_INST(2, 3, 0)
BF16_INST(2, 4, 0)
BF16_INST(1, 1, 0)
BF16_INST(1, 2, 0)
BF16_INST(1, 3, 0)
BF16_INST(1, 4, 0)
BF16_INST(4, 1, 1)
BF16_INST(2, 2, 1)
BF16_INST(1, 1, 1)
BF16_INST(1, 2, 1)

typedef void (*qmm_bf16_fn)(const mx_qmm_args *, int, int, const uint8_t *const *,
                            const float *, const float *, int64_t);

/* A row of x (K floats, exactly bfloat16 or float16 values) in the
 * bfloat16 path's layout (mx_qmm_bf16_slot): h = bfloat16(x) (for 8-bit
 * codes x and 16x per element), l = bfloat16(x - h) when l != NULL. Per
 * block of 128 nibbles: 4 conversions and 8 word permutes (4-bit), or 4
 * conversions and 4 permutes (8-bit), instead of 128 scalar steps. */
TGTB static inline __m512i qmm_cvt_bf16(__m512 lo16, __m512 hi16) {
  return (__m512i)_mm512_cvtne2ps_pbh(hi16, lo16); /* lanes 0..15 <- lo16 */
}
TGTB static void qmm_xrow_part(const float *x, int K, int bits, bool low, uint16_t *out) {
  /* v -> its bfloat16 hi part, or the bfloat16 of what hi leaves */
#define PART(v)                                                                         \
  (low ? _mm512_sub_ps(v,                                                               \
                       _mm512_castsi512_ps(_mm512_slli_epi32(                           \
                           _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v)), 16))) \
       : (v))
  if (bits == 8) {
    /* nibble planes of 64 elements: x[2j], 16x[2j], x[2j+1], 16x[2j+1] */
    const __m512i ie =
        _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32,
                         30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_add_epi16(ie, _mm512_set1_epi16(1));
    const __m512 c16 = _mm512_set1_ps(16);
    for (int k0 = 0; k0 < K; k0 += 64, out += 128) {
      __m512 v[4];
      for (int i = 0; i < 4; i++) v[i] = PART(_mm512_loadu_ps(x + k0 + 16 * i));
      __m512i a = qmm_cvt_bf16(v[0], v[1]), b = qmm_cvt_bf16(v[2], v[3]);
      __m512i a16 = qmm_cvt_bf16(_mm512_mul_ps(c16, v[0]), _mm512_mul_ps(c16, v[1]));
      __m512i b16 = qmm_cvt_bf16(_mm512_mul_ps(c16, v[2]), _mm512_mul_ps(c16, v[3]));
      _mm512_storeu_si512(out, _mm512_permutex2var_epi16(a, ie, b));
      _mm512_storeu_si512(out + 32, _mm512_permutex2var_epi16(a16, ie, b16));
      _mm512_storeu_si512(out + 64, _mm512_permutex2var_epi16(a, io, b));
      _mm512_storeu_si512(out + 96, _mm512_permutex2var_epi16(a16, io, b16));
    }
    return;
  }
  /* 4-bit: plane k holds element 4j + k. First, per pair of vectors of 32
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

TGTB void mx_qmm_bf16_xrow(const float *x, int K, int bits, uint16_t *h, uint16_t *l) {
  qmm_xrow_part(x, K, bits, false, h);
  if (l) qmm_xrow_part(x, K, bits, true, l);
}

/* The widest tile for `left` rows of x: mb rows of x, nr rows of w, and
 * the one-row tile for the tail of the rows of w. */
typedef struct {
  int mb, nr;
  qmm_bf16_fn big, one;
} qmm_bf16_pick;

#define PICK(NR, MB, TWO) \
  (qmm_bf16_pick) { MB, NR, qmm_bf16_##NR##_##MB##_##TWO, qmm_bf16_1_##MB##_##TWO }

static qmm_bf16_pick qmm_bf16_tile(bool two, int left) {
  if (two) return left >= 2 ? PICK(2, 2, 1) : PICK(4, 1, 1);
  switch (left) {
    case 1:
      return PICK(4, 1, 0);
    case 2:
      return PICK(4, 2, 0);
    case 3:
      return PICK(2, 3, 0);
    default:
      return PICK(2, 4, 0);
  }
}
#undef PICK

TGTB void mx_qmm_t_rows_bf16(const mx_qmm_args *a, int n0, int n1) {
  const int K = a->K, G = K / a->gs, M = a->M;
  const int64_t rb = (int64_t)K * a->bits / 8, ss = G;
  const bool two = a->xl != NULL;
  /* scale' = 16 * scale, bias' = bias - off * scale (see above) */
  const float off = a->bits == 8 ? 272.0f : 16.0f;
  /* A chunk's scales and biases are converted first, in one sequential
   * pass each, into float32 rows (the tiles read 16 scales from a block's
   * first group on: 16 floats of padding after each array). Reading them
   * raw inside the tiles instead (no pass) was 10-25% slower with K = 896
   * and cold caches: the prefetches of the parameters then did not land. */
  const size_t nf = 2 * QMM_NCH * (size_t)G + 32;
  float *sb = malloc(sizeof(float) * nf);
  if (!sb) {
    atomic_store(a->err, 1);
    return;
  }
  float *bb = sb + (size_t)QMM_NCH * G + 16;
  memset(sb + (size_t)QMM_NCH * G, 0, sizeof(float) * 16); /* pads stay defined */
  memset(bb + (size_t)QMM_NCH * G, 0, sizeof(float) * 16);
  for (int c0 = n0; c0 < n1; c0 += QMM_NCH) {
    int c1 = c0 + QMM_NCH < n1 ? c0 + QMM_NCH : n1;
    const int64_t ng = (int64_t)(c1 - c0) * G;
    /* the chunk's rows of scales and biases are contiguous */
    mx_cvt_to_f32_avx512(
        (const char *)a->scales + (int64_t)c0 * G * mx_dtype_size(a->sdt), a->sdt, sb,
        ng);
    mx_cvt_to_f32_avx512(
        (const char *)a->biases + (int64_t)c0 * G * mx_dtype_size(a->bdt), a->bdt, bb,
        ng);
    const __m512 c16 = _mm512_set1_ps(16), coff = _mm512_set1_ps(off);
    int64_t i = 0;
    for (; i + 16 <= ng; i += 16) {
      __m512 sv = _mm512_loadu_ps(sb + i);
      _mm512_storeu_ps(bb + i, _mm512_fnmadd_ps(coff, sv, _mm512_loadu_ps(bb + i)));
      _mm512_storeu_ps(sb + i, _mm512_mul_ps(c16, sv));
    }
    for (; i < ng; i++) {
      bb[i] -= off * sb[i];
      sb[i] *= 16;
    }
    /* a short last chunk: its padding, too */
    if (c1 - c0 < QMM_NCH) {
      memset(sb + ng, 0, sizeof(float) * 16);
      memset(bb + ng, 0, sizeof(float) * 16);
    }
    const uint8_t *rows[QMM_NCH];
    for (int r = c0; r < c1; r++) rows[r - c0] = a->w + (int64_t)r * rb;
    for (int m = 0; m < M;) {
      qmm_bf16_pick t = qmm_bf16_tile(two, M - m);
      int r = c0;
      for (; r + t.nr <= c1; r += t.nr) {
        if (m == 0) qmm_prefetch_params(a, r + QMM_NCH, t.nr);
        t.big(a, m, r, rows + (r - c0), sb + (r - c0) * ss, bb + (r - c0) * ss, ss);
      }
      for (; r < c1; r++)
        t.one(a, m, r, rows + (r - c0), sb + (r - c0) * ss, bb + (r - c0) * ss, ss);
      m += t.mb;
    }
  }
  free(sb);
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
