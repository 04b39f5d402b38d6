/* gemm_bf16.c: bfloat16 GEMM on AVX512-BF16 (see gemm_bf16.h).
 *
 * O (P, Q) = alpha * W (P, K) @ X (Q, K)^T. vdpbf16ps multiplies 16 lanes
 * of bfloat16 pairs and adds both products into a float32 lane: with X
 * packed so that one 64-byte vector holds the pair (X[j][2p], X[j][2p+1])
 * of 16 consecutive rows j, and the pair (W[i][2p], W[i][2p+1]) broadcast
 * from memory (32 bits), one instruction does 16 outputs x 2 k.
 *
 * Micro-kernel: MR = 6 rows of W x NV <= 4 vectors (64 rows of X): 24
 * float32 accumulators, per k pair 4 vector loads + 6 broadcast loads for
 * 24 vdpbf16ps (Zen 5 issues two per cycle, four loads). Blocking: X is
 * packed once per call as [Q/16][K/2][16] pairs (zero padded); a K block
 * of KC = 256 of four such blocks is 32 KB and stays in L1 while the
 * kernel walks a panel of MC <= 96 rows of W (48 KB, L2). Partial sums live
 * in a float32 tile (MC x Q block) that is rounded and stored into O, in
 * O's layout, once the last K block is done. Threads split the rows of W
 * (panels of MC), so a dequantized panel is made once and used for all Q.
 *
 * AMX (Intel Sapphire Rapids and later, MX_ISA_AMX): the same driver, X
 * packing, panels and float32 tile, but the K block runs on the tile unit:
 * tdpbf16ps does a 16 x 16 x 32 product per instruction (512 products per
 * cycle per core against 64 for vdpbf16ps). X's packed pairs are already
 * the B operand's layout (row p = pair p of 16 rows of X); W rows are the A
 * operand, read in place (bfloat16 W with K blocks a multiple of 32 and
 * whole tiles of 16 rows) or from a zero-padded panel. A 2 x 2 block of
 * accumulator tiles covers 32 rows of W x 32 rows of X. Quantized W: the
 * tile unit cannot scale per group inside a product, so the panel holds
 * the dequantized weight scale * q + bias (float32 FMA) split into two
 * bfloat16 parts, hi = bf16(w) and lo = bf16(w - hi) (16 bits of w's
 * mantissa, relative error <= 2^-17), and each step runs both.
 *
 * Numerics: every product of two bfloat16 values is exact in float32 and
 * the sums are float32, as the float32 path; only the order differs. Like
 * every vdpbf16ps or tdpbf16ps user, bfloat16 denormal inputs count as
 * zero, and both instructions flush float32 denormal results (below
 * 2^-126 in magnitude) to zero; the vdpbf16ps quantized path's per-group
 * scaling (float32 FMAs) and the output stores keep denormals, the AMX
 * quantized path (scale folded into the tiles' operands) does not. */
#include "gemm_bf16.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"
#include "qsimd.h"
#include "transpose16.h"

#define KC MX_GEMM_BF16_KC
#define MR 6
#define NVMAX 4
#define MC_MAX 96
/* rows of X per float32 tile: the tile is MC x QB floats (384 KB at most) */
#define QB 1024

/* AMX: rows of W per pool unit (two A tiles) and per panel at most */
#define AUR 32
#define AMC_MAX 128

bool mx_gemm_bf16_available(void) { return mx_cpu_isa() >= MX_ISA_AVX512BF16; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/* ---- X packing: xp[jb][p][l] = (X[16 jb + l][2p], X[16 jb + l][2p + 1]) ---- */

/* xsum[g][16 jb + l] = sum over group g of X[16 jb + l][k], eight chains */
typedef struct {
  const uint32_t *xp;
  float *xsum;
  int ns, gs, G, njb; /* ns: pairs per packed block (its stride) */
} xsum_ctx;

TGT static void xsum_range(void *c, int64_t jb0, int64_t jb1) {
  const xsum_ctx *x = c;
  const __m512i hi = _mm512_set1_epi32((int)0xffff0000);
  for (int64_t jb = jb0; jb < jb1; jb++) {
    const uint32_t *d = x->xp + jb * (int64_t)x->ns * 16;
    for (int g = 0; g < x->G; g++) {
      __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
      for (int p = g * x->gs / 2; p < (g + 1) * x->gs / 2; p++) {
        __m512i v = _mm512_loadu_si512(d + (int64_t)p * 16);
        s0 = _mm512_add_ps(s0, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        s1 = _mm512_add_ps(s1, _mm512_castsi512_ps(_mm512_and_si512(v, hi)));
      }
      _mm512_storeu_ps(x->xsum + (int64_t)g * 16 * x->njb + jb * 16,
                       _mm512_add_ps(s0, s1));
    }
  }
}

typedef struct {
  const mx_gemm_bf16_args *a;
  uint32_t *xp;
  int np;         /* pairs: ceil(K / 2) */
  int ns;         /* pairs per block (np, or for AMX np up to a multiple of 16, zeros) */
  xsum_ctx *sums; /* quantized W: X's group sums, per block once packed */
} xpack_ctx;

static inline uint16_t xat(const mx_gemm_bf16_args *a, int j, int k) {
  return a->x[(int64_t)j * a->x_rs + (int64_t)k * a->x_cs];
}

TGT static void xpack_range(void *c, int64_t jb0, int64_t jb1) {
  const xpack_ctx *x = c;
  const mx_gemm_bf16_args *a = x->a;
  const int Q = a->Q, K = a->K, np = x->np;
  for (int64_t jb = jb0; jb < jb1; jb++) {
    uint32_t *d = x->xp + jb * (int64_t)x->ns * 16;
    /* the tile unit reads whole steps of 16 pairs: zeros past K */
    memset(d + (int64_t)np * 16, 0, sizeof(uint32_t) * 16 * (size_t)(x->ns - np));
    int j0 = (int)jb * 16, nj = Q - j0 < 16 ? Q - j0 : 16;
    if (a->x_rs == 1 && nj == 16) {
      /* rows j contiguous: interleave two k rows of 16 elements */
      const __m512i idx =
          _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                           39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
      for (int p = 0; p < np; p++) {
        const uint16_t *r0 = a->x + j0 + (int64_t)(2 * p) * a->x_cs;
        __m512i lo = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)r0));
        __m512i hi = 2 * p + 1 < K ? _mm512_castsi256_si512(_mm256_loadu_si256(
                                         (const __m256i *)(r0 + a->x_cs)))
                                   : _mm512_setzero_si512();
        _mm512_storeu_si512(d + (int64_t)p * 16, _mm512_permutex2var_epi16(lo, idx, hi));
      }
      continue;
    }
    int pv = 0; /* pairs done by the vector path below */
    if (a->x_cs == 1 && nj == 16) {
      /* rows j contiguous in k (x @ w.T's activations): 16 rows x 16 pairs
       * is a 16 x 16 transpose of 32-bit pairs, in registers */
      for (; pv + 16 <= K / 2; pv += 16) {
        __m512 r[16];
        for (int l = 0; l < 16; l++)
          r[l] = _mm512_loadu_ps(a->x + (int64_t)(j0 + l) * a->x_rs + 2 * pv);
        mx_transpose16_ps(r);
        for (int t = 0; t < 16; t++) _mm512_storeu_ps(d + (int64_t)(pv + t) * 16, r[t]);
      }
    }
    for (int l = 0; l < 16; l++) {
      if (l >= nj) {
        for (int p = 0; p < np; p++) d[(int64_t)p * 16 + l] = 0;
        continue;
      }
      int j = j0 + l;
      if (a->x_cs == 1) {
        const uint16_t *r = a->x + (int64_t)j * a->x_rs;
        int p = pv;
        for (; 2 * p + 1 < K; p++) {
          uint32_t v;
          memcpy(&v, r + 2 * p, 4);
          d[(int64_t)p * 16 + l] = v;
        }
        if (p < np) d[(int64_t)p * 16 + l] = r[2 * p];
      } else {
        for (int p = 0; p < np; p++) {
          uint32_t lo = xat(a, j, 2 * p), hi = 2 * p + 1 < K ? xat(a, j, 2 * p + 1) : 0;
          d[(int64_t)p * 16 + l] = lo | hi << 16;
        }
      }
    }
  }
  /* while the blocks are in L1/L2: saves a pool job per call */
  if (x->sums) xsum_range(x->sums, jb0, jb1);
}

/* ---- micro-kernel ---- */

/* acc (mr, nv vectors) += pairs [p0, p1) of w's rows . the x panel: one
 * vdpbf16ps per row and 16 columns per pair (w's pair broadcast). Shared by
 * the float and the quantized micro-kernels; inlined with constant mr, nv so
 * acc stays in registers. */
TGT static inline __attribute__((always_inline)) void pair_steps(
    const int mr, const int nv, const uint16_t *w, int64_t ldw, const uint32_t *xp,
    int64_t xjs, int p0, int p1, __m512 acc[][NVMAX]) {
  for (int p = p0; p < p1; p++) {
    __m512bh xv[NVMAX];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
      xv[v] = (__m512bh)_mm512_loadu_si512(xp + v * xjs + (int64_t)p * 16);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      int32_t t;
      memcpy(&t, w + r * ldw + 2 * p, 4);
      __m512bh wb = (__m512bh)_mm512_set1_epi32(t);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], wb, xv[v]);
    }
  }
}

/* c (mr, 16 nv) (+)= w (mr rows, ldw apart, np pairs) . x panel (nv blocks
 * xjs words apart). Inlined with constant mr, nv: the accumulators stay in
 * registers. */
TGT static inline __attribute__((always_inline)) void ukern(
    const int mr, const int nv, const uint16_t *w, int64_t ldw, const uint32_t *xp,
    int64_t xjs, int np, float *c, int64_t ldc, bool first) {
  __m512 acc[MR][NVMAX];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
      acc[r][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc + v * 16);
  pair_steps(mr, nv, w, ldw, xp, xjs, 0, np, acc);
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) _mm512_storeu_ps(c + r * ldc + v * 16, acc[r][v]);
}

#define UK(R, V)                                                                         \
  TGT static void uk_##R##_##V(const uint16_t *w, int64_t ldw, const uint32_t *xp,       \
                               int64_t xjs, int np, float *c, int64_t ldc, bool first) { \
    ukern(R, V, w, ldw, xp, xjs, np, c, ldc, first);                                     \
  }
#define UK_ROW(R) UK(R, 1) UK(R, 2) UK(R, 3) UK(R, 4)
UK_ROW(1)
UK_ROW(2)
UK_ROW(3)
UK_ROW(4)
UK_ROW(5)
UK_ROW(6)

typedef void (*uk_fn)(const uint16_t *, int64_t, const uint32_t *, int64_t, int, float *,
                      int64_t, bool);
#define UKR(R) \
  { uk_##R##_1, uk_##R##_2, uk_##R##_3, uk_##R##_4 }
static const uk_fn g_uk[MR][NVMAX] = {UKR(1), UKR(2), UKR(3), UKR(4), UKR(5), UKR(6)};

/* Quantized W: the same product over codes, one group (gp pairs) at a
 * time into MQ x NV accumulators, then c += scale * group + bias * xsum
 * (float32 FMAs on the tile in memory: keeping both sets of accumulators
 * in registers made GCC spill). */
#define MQ 6
TGT static inline __attribute__((always_inline)) void ukern_q(
    const int mr, const int nv, const uint16_t *w, int64_t ldw, const uint32_t *xp,
    int64_t xjs, int gp, int ng, const float *sc, const float *bs, int64_t lds,
    const float *xs, int64_t xss, float *c, int64_t ldc, bool first) {
  for (int g = 0; g < ng; g++) {
    __m512 ag[MQ][NVMAX];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) ag[r][v] = _mm512_setzero_ps();
    pair_steps(mr, nv, w, ldw, xp, xjs, g * gp, (g + 1) * gp, ag);
    const bool init = first && g == 0;
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      __m512 sv = _mm512_set1_ps(sc[r * lds + g]), bv = _mm512_set1_ps(bs[r * lds + g]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) {
        float *cp = c + r * ldc + v * 16;
        __m512 t = _mm512_fmadd_ps(bv, _mm512_loadu_ps(xs + g * xss + v * 16),
                                   init ? _mm512_setzero_ps() : _mm512_loadu_ps(cp));
        _mm512_storeu_ps(cp, _mm512_fmadd_ps(sv, ag[r][v], t));
      }
    }
  }
}

#define UKQ(R, V)                                                                   \
  TGT static void ukq_##R##_##V(const uint16_t *w, int64_t ldw, const uint32_t *xp, \
                                int64_t xjs, int gp, int ng, const float *sc,       \
                                const float *bs, int64_t lds, const float *xs,      \
                                int64_t xss, float *c, int64_t ldc, bool first) {   \
    ukern_q(R, V, w, ldw, xp, xjs, gp, ng, sc, bs, lds, xs, xss, c, ldc, first);    \
  }
#define UKQ_ROW(R) UKQ(R, 1) UKQ(R, 2) UKQ(R, 3) UKQ(R, 4)
UKQ_ROW(1)
UKQ_ROW(2)
UKQ_ROW(3)
UKQ_ROW(4)
UKQ_ROW(5)
UKQ_ROW(6)

typedef void (*ukq_fn)(const uint16_t *, int64_t, const uint32_t *, int64_t, int, int,
                       const float *, const float *, int64_t, const float *, int64_t,
                       float *, int64_t, bool);
#define UKQR(R) \
  { ukq_##R##_1, ukq_##R##_2, ukq_##R##_3, ukq_##R##_4 }
static const ukq_fn g_ukq[MQ][NVMAX] = {UKQR(1), UKQR(2), UKQR(3),
                                        UKQR(4), UKQR(5), UKQR(6)};

/* ---- output: float32 tile -> O ---- */

/* float -> bfloat16 bits in the low half of each lane, round to nearest
 * even (NaN stays NaN, quiet), as mx_f32_to_bf16. */
TGT static inline __m512i bf16_rne(__m512 v) {
  __m512i u = _mm512_castps_si512(v);
  __m512i r = _mm512_add_epi32(
      u,
      _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                       _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
  __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x400000));
  return _mm512_srli_epi32(r, 16);
}

/* 16 floats -> bfloat16, round to nearest even, as mx_f32_to_bf16:
 * vcvtneps2bf16 does exactly that except that it flushes float32 denormals
 * to zero, so a vector holding one (rare: |sum| < 2^-126) takes the
 * integer path. */
TGT static inline __m256i bf16x16(__m512 v) {
  if (_mm512_fpclass_ps_mask(v, 0x20) == 0) return (__m256i)_mm512_cvtneps_pbh(v);
  const __m512i even =
      _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 28, 26, 24, 22,
                       20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  return _mm512_castsi512_si256(_mm512_permutexvar_epi16(even, bf16_rne(v)));
}

/* lo, hi (16 floats each) -> 32 bfloat16: lo's in the low 256 bits, hi's
 * in the high, rounded as bf16x16 */
TGT static inline __m512i bf16x32(__m512 lo, __m512 hi) {
  if ((_mm512_fpclass_ps_mask(lo, 0x20) | _mm512_fpclass_ps_mask(hi, 0x20)) == 0)
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(bf16x16(lo)), bf16x16(hi), 1);
}

/* A plain (or masked) 256-bit store of the 16 results: the truncating
 * store vpmovdw m256 it replaces is slow on Zen (a quarter of store_tile's
 * samples sat on it). */
TGT static inline void store16(const mx_gemm_bf16_args *a, int64_t off, __m512 v,
                               __mmask16 m) {
  if (a->odt == MX_BFLOAT16) {
    __m256i h = bf16x16(v);
    if (m == 0xffff)
      _mm256_storeu_si256((__m256i *)((uint16_t *)a->o + off), h);
    else
      _mm256_mask_storeu_epi16((uint16_t *)a->o + off, m, h);
  } else {
    _mm512_mask_storeu_ps((float *)a->o + off, m, v);
  }
}

/* O[i0 + i][j0 + j] = alpha * ct[i * ldc + j] for i < ni, j < nj (shared
 * with gemm_i8.c: gemm_bf16.h) */
TGT void mx_gemm_store_tile(const mx_gemm_bf16_args *a, const float *ct, int64_t ldc,
                            int i0, int ni, int j0, int nj) {
  const __m512 al = _mm512_set1_ps(a->alpha);
  if (a->o_js == 1) {
    for (int i = 0; i < ni; i++)
      for (int j = 0; j < nj; j += 16) {
        __mmask16 m = nj - j >= 16 ? 0xffff : (__mmask16)((1u << (nj - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, ct + i * ldc + j);
        if (a->alpha != 1.0f) v = _mm512_mul_ps(al, v);
        store16(a, (int64_t)(i0 + i) * a->o_is + j0 + j, v, m);
      }
  } else if (a->o_is == 1) {
    /* transposed: 16 x 16 blocks through registers (the tile has rows up to
     * a multiple of 16 and columns up to ldc, so full blocks are readable) */
    int i = 0;
    if (a->odt == MX_BFLOAT16 && a->alpha == 1.0f)
      /* 32 rows at a time, one 64-byte store per output row (whole cache
       * lines where the row is aligned): rows 2t and 2t + 1 are rounded
       * together and interleaved into bfloat16 pairs, and one transpose
       * of the 16 x 16 pairs gives each output row its 32 values (a
       * third fewer operations than transposing the float32 rows in two
       * blocks and rounding after) */
      for (; i + 32 <= ni; i += 32)
        for (int j = 0; j < nj; j += 16) {
          const __m512i ilv =
              _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                               8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
          __m512 r[16];
          for (int t = 0; t < 16; t++) {
            const __m512 lo = _mm512_loadu_ps(ct + (i + 2 * t) * ldc + j),
                         hi = _mm512_loadu_ps(ct + (i + 2 * t + 1) * ldc + j);
            r[t] = _mm512_castsi512_ps(_mm512_permutexvar_epi16(ilv, bf16x32(lo, hi)));
          }
          mx_transpose16_ps(r);
          int nt = nj - j < 16 ? nj - j : 16;
          for (int t = 0; t < nt; t++)
            _mm512_storeu_ps((uint16_t *)a->o + (int64_t)(j0 + j + t) * a->o_js + i0 + i,
                             r[t]);
        }
    for (; i < ni; i += 16) {
      __mmask16 m = ni - i >= 16 ? 0xffff : (__mmask16)((1u << (ni - i)) - 1);
      for (int j = 0; j < nj; j += 16) {
        __m512 r[16];
        for (int t = 0; t < 16; t++) r[t] = _mm512_loadu_ps(ct + (i + t) * ldc + j);
        mx_transpose16_ps(r);
        int nt = nj - j < 16 ? nj - j : 16;
        for (int t = 0; t < nt; t++)
          store16(a, (int64_t)(j0 + j + t) * a->o_js + i0 + i,
                  a->alpha == 1.0f ? r[t] : _mm512_mul_ps(al, r[t]), m);
      }
    }
  } else {
    for (int i = 0; i < ni; i++)
      for (int j = 0; j < nj; j++) {
        float v = a->alpha * ct[i * ldc + j];
        int64_t off = (int64_t)(i0 + i) * a->o_is + (int64_t)(j0 + j) * a->o_js;
        if (a->odt == MX_BFLOAT16)
          ((uint16_t *)a->o)[off] = mx_f32_to_bf16(v);
        else
          ((float *)a->o)[off] = v;
      }
  }
}

/* ---- quantized panels ---- */

/* 16 codes of `bits` bits starting at byte q (2 * bits bytes) -> float:
 * each 128-bit lane holds the 16 bytes; a byte shuffle puts the two bytes
 * holding code l into lane l, a variable shift and a mask extract it. */
TGT static inline __m512 codes16(const uint8_t *q, bool tail, int bits, __m512i sel,
                                 __m512i sh, __m512i mask) {
  /* a masked byte load is slow: only near the end of the codes */
  __m128i raw = tail ? _mm_maskz_loadu_epi8((__mmask16)((1u << (2 * bits)) - 1), q)
                     : _mm_loadu_si128((const __m128i *)q);
  __m512i b = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(raw), sel);
  return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srlv_epi32(b, sh), mask));
}

/* bfloat16 bits of the integers 0..15 (vpermw table: a 4-bit code is its
 * own index) */
#define BF16_INT_TABLE                                                             \
  _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x4170, 0x4160, \
                   0x4150, 0x4140, 0x4130, 0x4120, 0x4110, 0x4100, 0x40e0, 0x40c0, \
                   0x40a0, 0x4080, 0x4040, 0x4000, 0x3f80, 0)

/* 4- and 8-bit codes, kc a multiple of 32: 32 codes per step.
 *   4-bit: 16 bytes zero-extended to dwords; byte b holds codes 2b (low
 *   nibble) and 2b+1 (high): (b & 0xf) | (b >> 4) << 16 is the pair in K
 *   order, and vpermw maps each 4-bit word to its bfloat16 bits (6 uops
 *   per 32 codes instead of 2 x 9 with the generic shuffle/shift path).
 *   8-bit: two x 16 bytes -> dwords -> float, vcvtne2ps2bf16 (exact: the
 *   integers below 256 are bfloat16 values).
 * The codes come from L2: prefetch_q_next fetched them while the previous
 * block computed. */
TGT static void fill_q48(const mx_gemm_bf16_args *a, int n0, int nr, int k0, int kc,
                         uint16_t *dst, int64_t ld) {
  const mx_gemm_bf16_qw *q = a->q;
  const int bits = q->bits;
  const int64_t rb = (int64_t)a->K * bits / 8, cb = (int64_t)kc * bits / 8;
  const __m512i tab = BF16_INT_TABLE, m4 = _mm512_set1_epi32(0x000f000f);
  for (int r = 0; r < nr; r++) {
    const uint8_t *codes = q->w + (int64_t)(n0 + r) * rb + (int64_t)k0 * bits / 8;
    uint16_t *d = dst + r * ld;
    if (bits == 4) {
      for (int64_t b = 0; b < cb; b += 16) {
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + b)));
        /* (v | v << 12) & 0x000f000f */
        __m512i u = _mm512_ternarylogic_epi32(v, _mm512_slli_epi32(v, 12), m4, 0xa8);
        _mm512_storeu_si512(d + 2 * b, _mm512_permutexvar_epi16(u, tab));
      }
    } else {
      for (int64_t b = 0; b < cb; b += 32) {
        __m512 lo = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + b))));
        __m512 hi = _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + b + 16))));
        _mm512_storeu_si512(d + b, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      }
    }
  }
}

/* d[0:n] = p[i:i + n] as float, n <= 16 (a row's scales or biases of one
 * K block): inline conversions instead of a call per value */
TGT static inline void load_fv(const void *p, mx_dtype t, int64_t i, int n, float *d) {
  const __mmask16 m = (__mmask16)((1u << n) - 1);
  __m512 v;
  if (t == MX_BFLOAT16)
    v = _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i)), 16));
  else if (t == MX_FLOAT16)
    v = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
  else
    v = _mm512_maskz_loadu_ps(m, (const float *)p + i);
  _mm512_mask_storeu_ps(d, m, v);
}

/* Prefetch into L2 the codes, scales and biases that the panel (rows
 * [i0, i0 + ni), block k0) decodes next, for its rows [ir, ir + mr): the
 * same rows' next K block, or the next panel's first. Spread over the
 * micro-kernel calls of the current block (a burst of a whole panel's
 * lines at once left the decode waiting on memory: rows are K * bits / 8
 * bytes apart, so the hardware prefetchers do not follow them). */
TGT static inline void prefetch_q_next(const mx_gemm_bf16_args *a, int i0, int ni,
                                       int pend, int k0, int ir, int mr) {
  const mx_gemm_bf16_qw *q = a->q;
  const int bits = q->bits, G = a->K / q->gs;
  int pk = k0 + KC, n0 = i0 + ir;
  if (pk >= a->K) pk = 0, n0 += ni;
  const int64_t rb = (int64_t)a->K * bits / 8,
                cb = (int64_t)(a->K - pk < KC ? a->K - pk : KC) * bits / 8;
  const int ssz = q->sdt == MX_FLOAT32 ? 4 : 2, bsz = q->bdt == MX_FLOAT32 ? 4 : 2;
  for (int r = n0; r < n0 + mr && r < pend; r++) {
    const char *pp = (const char *)(q->w + (int64_t)r * rb + (int64_t)pk * bits / 8);
    for (int64_t o = 0; o < cb; o += 64) _mm_prefetch(pp + o, _MM_HINT_T1);
    _mm_prefetch((const char *)q->scales + ((int64_t)r * G + pk / q->gs) * ssz,
                 _MM_HINT_T1);
    _mm_prefetch((const char *)q->biases + ((int64_t)r * G + pk / q->gs) * bsz,
                 _MM_HINT_T1);
  }
}

/* Codes of rows [n0, n0 + nr), k in [k0, k0 + kc) as bfloat16 integers into
 * dst (ld apart); their scales and biases as float into sc, bs (nr x kc/gs). */
TGT static void fill_q(const mx_gemm_bf16_args *a, int n0, int nr, int k0, int kc,
                       uint16_t *dst, int64_t ld, float *sc, float *bs) {
  const mx_gemm_bf16_qw *q = a->q;
  const int bits = q->bits, gs = q->gs, G = a->K / gs, ng = kc / gs;
  const int64_t rb = (int64_t)a->K * bits / 8;
  int32_t selv[16], shv[16];
  for (int l = 0; l < 16; l++) {
    int o = l * bits / 8;
    selv[l] =
        (int32_t)((uint32_t)o | (uint32_t)(o + 1 < 16 ? o + 1 : 0x80) << 8 | 0x80800000u);
    shv[l] = l * bits % 8;
  }
  const __m512i sel = _mm512_loadu_si512(selv), sh = _mm512_loadu_si512(shv),
                mask = _mm512_set1_epi32((1 << bits) - 1);
  const int64_t cb = (int64_t)kc * bits / 8; /* bytes of one row's block */
  const uint8_t *wend = q->w + (int64_t)a->P * rb;
  if ((bits == 4 || bits == 8) && kc % 32 == 0) {
    fill_q48(a, n0, nr, k0, kc, dst, ld);
    for (int r = 0; r < nr; r++) {
      const int64_t o = (int64_t)(n0 + r) * G + k0 / gs;
      load_fv(q->scales, q->sdt, o, ng, sc + r * ng);
      load_fv(q->biases, q->bdt, o, ng, bs + r * ng);
    }
    return;
  }
  for (int r = 0; r < nr; r++) {
    const int64_t n = n0 + r;
    const uint8_t *codes = q->w + n * rb + (int64_t)k0 * bits / 8;
    uint16_t *d = dst + r * ld;
    /* rows are rb bytes apart: fetch a few rows ahead */
    if (r + 4 < nr)
      for (int64_t o = 0; o < cb; o += 64)
        _mm_prefetch((const char *)codes + 4 * rb + o, _MM_HINT_T0);
    for (int k = 0; k < kc; k += 16) {
      /* a code below 256 as float is exact in bfloat16: the top half */
      const uint8_t *cp = codes + (int64_t)k * bits / 8;
      __m512 c = codes16(cp, cp + 16 > wend, bits, sel, sh, mask);
      _mm256_storeu_si256((__m256i *)(d + k), _mm512_cvtepi32_epi16(_mm512_srli_epi32(
                                                  _mm512_castps_si512(c), 16)));
    }
    load_fv(q->scales, q->sdt, n * G + k0 / gs, ng, sc + r * ng);
    load_fv(q->biases, q->bdt, n * G + k0 / gs, ng, bs + r * ng);
  }
}

/* ---- AMX tiles ---- */

#define TGTA      \
  __attribute__(( \
      target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/* Palette 1; tiles 0..7 all 16 rows x 64 bytes: 0-3 the accumulators
 * (C), 4-5 rows of W (A), 6-7 pairs of X (B). The configuration belongs to
 * the thread: each drv_range call loads it and releases the tiles at the
 * end (an idle thread holding tile state makes every context switch save
 * 8 KB). */
typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_cfg;

TGTA void mx_amx_begin(void) {
  amx_cfg c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) c.colsb[t] = 64, c.rows[t] = 16;
  _tile_loadconfig(&c);
}

TGTA void mx_amx_end(void) { _tile_release(); }

/* a block of W rows to bring into L2 while the kernel runs */
typedef struct {
  const char *base;
  int64_t stride; /* bytes between rows */
  int rows, bytes;
} amx_pf_t;

/* c (ni x 16 njb floats, ldc apart) (+)= A . B over ks steps of 32 k, where
 * A is w (ni rows, ldw elements apart) and, when w2 is not NULL, also w2
 * (the lo part of a split weight: both products go into the same sums),
 * and B the njb packed X blocks at xb (xjs words apart). ni is a multiple
 * of 16; the rows of c up to ni and columns up to 16 njb are written. */
TGTA static void amx_block(const uint16_t *w, const uint16_t *w2, int64_t ldw, int ni,
                           const uint32_t *xb, int64_t xjs, int njb, int ks, float *c,
                           int64_t ldc, bool first, const amx_pf_t *pf) {
  const size_t sa = (size_t)ldw * 2, sc = (size_t)ldc * 4;
  /* the next block's lines, a share per k-step */
  const int lpr = (pf->bytes + 63) / 64;
  const int64_t nl = (int64_t)pf->rows * lpr,
                nit = (int64_t)((ni + 31) / 32) * ((njb + 1) / 2) * (ks > 0 ? ks : 1);
  /* lines per step, and a cursor (row, line) advanced without divisions:
   * a division per prefetched line cost more than the step's products */
  const int lps = (int)((nl + nit - 1) / nit);
  const char *prow = pf->base;
  int pline = 0, prow_i = 0;
  for (int i = 0; i < ni; i += 32) {
    const bool i2 = i + 16 < ni;
    const uint16_t *a0 = w + (int64_t)i * ldw, *a1 = a0 + 16 * ldw;
    const uint16_t *l0 = w2 ? w2 + (int64_t)i * ldw : NULL,
                   *l1 = l0 ? l0 + 16 * ldw : NULL;
    for (int jb = 0; jb < njb; jb += 2) {
      const bool j2 = jb + 1 < njb;
      float *c00 = c + (int64_t)i * ldc + jb * 16, *c01 = c00 + 16, *c10 = c00 + 16 * ldc,
            *c11 = c10 + 16;
      const uint32_t *b0 = xb + (int64_t)jb * xjs, *b1 = b0 + xjs;
      if (first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
      } else {
        _tile_loadd(0, c00, sc);
        if (j2) _tile_loadd(1, c01, sc);
        if (i2) _tile_loadd(2, c10, sc);
        if (i2 && j2) _tile_loadd(3, c11, sc);
      }
      for (int s = 0; s < ks; s++) {
        /* a few lines of the next block per step: a burst per tile block
         * (hundreds of lines) held the core until they arrived (kernel
         * cycles 8-20% higher in the same run) */
        for (int t = 0; t < lps && prow_i < pf->rows; t++) {
          _mm_prefetch(prow + pline * 64, _MM_HINT_T1);
          if (++pline == lpr) pline = 0, prow += pf->stride, prow_i++;
        }
        /* B row p = pair p of 16 rows of X: 16 pairs per step, 64 bytes
         * apart; loaded once for the hi and the lo part of A. (Reloading
         * each operand right after its last reader instead measured the
         * same: bench_amx.) */
        _tile_loadd(6, b0 + s * 256, 64);
        if (j2) _tile_loadd(7, b1 + s * 256, 64);
        for (int part = 0; part < (l0 ? 2 : 1); part++) {
          const uint16_t *p0 = part ? l0 : a0, *p1 = part ? l1 : a1;
          _tile_loadd(4, p0 + s * 32, sa);
          _tile_dpbf16ps(0, 4, 6);
          if (j2) _tile_dpbf16ps(1, 4, 7);
          if (i2) {
            _tile_loadd(5, p1 + s * 32, sa);
            _tile_dpbf16ps(2, 5, 6);
            if (j2) _tile_dpbf16ps(3, 5, 7);
          }
        }
      }
      _tile_stored(0, c00, sc);
      if (j2) _tile_stored(1, c01, sc);
      if (i2) _tile_stored(2, c10, sc);
      if (i2 && j2) _tile_stored(3, c11, sc);
    }
  }
}

/* The 32 bfloat16 values of v (lanes 0..15 and 16..31) as floats */
TGT static inline __m512 bf16_lo16(__m512i v) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(v)), 16));
}
TGT static inline __m512 bf16_hi16(__m512i v) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(v, 1)), 16));
}

/* w0, w1 (16 floats each) -> *hi = bf16(w) and *lo = bf16(w - hi), lanes
 * 0..15 from w0 and 16..31 from w1 */
TGT static inline void split_hi_lo(__m512 w0, __m512 w1, __m512i *hi, __m512i *lo) {
  *hi = (__m512i)_mm512_cvtne2ps_pbh(w1, w0);
  *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(w1, bf16_hi16(*hi)),
                                     _mm512_sub_ps(w0, bf16_lo16(*hi)));
}

/* The panel of codes (as bfloat16 integers, ld apart, nr rows of kc) with
 * the scales sc and biases bs of its groups (nr x kc / gs) -> the weight
 * w = scale * q + bias (one float32 FMA) as hi = bf16(w) in place and lo =
 * bf16(w - hi). Rows [nr, nrp) of both are zeroed (whole A tiles). */
TGT static void split_q(uint16_t *hi, uint16_t *lo, int64_t ld, int nr, int nrp, int kc,
                        int gs, const float *sc, const float *bs) {
  const int ng = kc / gs;
  for (int r = 0; r < nr; r++)
    for (int g = 0; g < ng; g++) {
      const __m512 sv = _mm512_set1_ps(sc[r * ng + g]),
                   bv = _mm512_set1_ps(bs[r * ng + g]);
      for (int k = g * gs; k < (g + 1) * gs; k += 32) {
        uint16_t *h = hi + r * ld + k;
        __m512i q = _mm512_loadu_si512(h), t, u;
        split_hi_lo(_mm512_fmadd_ps(sv, bf16_lo16(q), bv),
                    _mm512_fmadd_ps(sv, bf16_hi16(q), bv), &t, &u);
        _mm512_storeu_si512(h, t);
        _mm512_storeu_si512(lo + r * ld + k, u);
      }
    }
  for (int r = nr; r < nrp; r++) {
    memset(hi + r * ld, 0, sizeof(uint16_t) * (size_t)kc);
    memset(lo + r * ld, 0, sizeof(uint16_t) * (size_t)kc);
  }
}

/* 4- and 8-bit codes of rows [n0, n0 + nr), all of K, straight to the
 * hi and lo parts of scale * q + bias (fill_q + split_q in one pass: the
 * integer codes do not go through memory; the same values). Rows [nr, nrp)
 * are zeroed. 4-bit: 16 bytes -> dwords, the low nibbles are the even
 * codes and the high ones the odd codes; a word permute interleaves the
 * two halves of each result back into K order. */
TGT static void fill_split_q48(const mx_gemm_bf16_args *a, int n0, int nr, int nrp,
                               uint16_t *hi, uint16_t *lo, int64_t ld) {
  const mx_gemm_bf16_qw *q = a->q;
  const int bits = q->bits, gs = q->gs, K = a->K, G = K / gs;
  const int64_t rb = (int64_t)K * bits / 8;
  int16_t iv[32];
  for (int i = 0; i < 16; i++) iv[2 * i] = (int16_t)i, iv[2 * i + 1] = (int16_t)(16 + i);
  const __m512i ilv = _mm512_loadu_si512(iv), m4 = _mm512_set1_epi32(0xf);
  for (int r = 0; r < nr; r++) {
    const uint8_t *codes = q->w + (int64_t)(n0 + r) * rb;
    uint16_t *h = hi + r * ld, *l = lo + r * ld;
    for (int g = 0; g < G; g++) {
      const int64_t gi = (int64_t)(n0 + r) * G + g;
      const __m512 sv = _mm512_set1_ps((float)mx_load_f64(
                       (const char *)q->scales + gi * (int64_t)mx_dtype_size(q->sdt),
                       q->sdt)),
                   bv = _mm512_set1_ps((float)mx_load_f64(
                       (const char *)q->biases + gi * (int64_t)mx_dtype_size(q->bdt),
                       q->bdt));
      for (int k = g * gs; k < (g + 1) * gs; k += 32) {
        __m512 w0, w1;
        if (bits == 4) {
          __m512i v =
              _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + k / 2)));
          w0 = _mm512_fmadd_ps(sv, _mm512_cvtepi32_ps(_mm512_and_si512(v, m4)), bv);
          w1 = _mm512_fmadd_ps(sv, _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), bv);
        } else {
          w0 = _mm512_fmadd_ps(sv,
                               _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                   _mm_loadu_si128((const __m128i *)(codes + k)))),
                               bv);
          w1 = _mm512_fmadd_ps(sv,
                               _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                   _mm_loadu_si128((const __m128i *)(codes + k + 16)))),
                               bv);
        }
        __m512i t, u;
        split_hi_lo(w0, w1, &t, &u);
        if (bits == 4) { /* (even codes | odd codes) -> K order */
          t = _mm512_permutexvar_epi16(ilv, t);
          u = _mm512_permutexvar_epi16(ilv, u);
        }
        _mm512_storeu_si512(h + k, t);
        _mm512_storeu_si512(l + k, u);
      }
    }
  }
  for (int r = nr; r < nrp; r++) {
    memset(hi + r * ld, 0, sizeof(uint16_t) * (size_t)K);
    memset(lo + r * ld, 0, sizeof(uint16_t) * (size_t)K);
  }
}

/* ---- phase timing (MX_GEMM_PROF=1; bench_matmul prints it) ---- */

enum { PH_XPACK, PH_FILL, PH_KERN, PH_STORE, PH_DRV, PH_N };
static _Atomic uint64_t g_ph[PH_N];
static atomic_int g_prof = -1; /* read by every pool thread */
static inline bool prof_on(void) {
  int v = atomic_load_explicit(&g_prof, memory_order_relaxed);
  if (v < 0) {
    v = getenv("MX_GEMM_PROF") != NULL;
    atomic_store_explicit(&g_prof, v, memory_order_relaxed);
  }
  return v;
}
static inline uint64_t ph_t(void) { return prof_on() ? __rdtsc() : 0; }
static inline void ph_add(int ph, uint64_t t0) {
  if (prof_on())
    atomic_fetch_add_explicit(&g_ph[ph], __rdtsc() - t0, memory_order_relaxed);
}

void mx_gemm_bf16_phases(double out[5], bool reset) {
  for (int i = 0; i < PH_N; i++) {
    out[i] = (double)atomic_load(&g_ph[i]);
    if (reset) atomic_store(&g_ph[i], 0);
  }
}

/* ---- driver ---- */

typedef struct {
  const mx_gemm_bf16_args *a;
  const uint32_t *xp;
  const float *xsum; /* quantized W: [K / gs][16 ceil(Q / 16)] group sums of X */
  int np, ns;        /* pairs of K; pairs per packed block of X */
  bool amx;          /* the K blocks run on the tile unit */
  atomic_int failed;
} drv_ctx;

/* W[n0 + r][k0 + k] from a strided bfloat16 W, zero past K */
static void fill_strided(const mx_gemm_bf16_args *a, int n0, int nr, int k0, int kcp,
                         uint16_t *dst, int64_t ld) {
  for (int r = 0; r < nr; r++) {
    const uint16_t *s = a->w + (int64_t)(n0 + r) * a->w_rs;
    uint16_t *d = dst + r * ld;
    int kc = a->K - k0 < kcp ? a->K - k0 : kcp;
    if (a->w_ks == 1)
      memcpy(d, s + k0, sizeof(uint16_t) * (size_t)kc);
    else
      for (int k = 0; k < kc; k++) d[k] = s[(int64_t)(k0 + k) * a->w_ks];
    for (int k = kc; k < kcp; k++) d[k] = 0;
  }
}

TGT static void drv_range(void *c, int64_t u0, int64_t u1) {
  drv_ctx *x = c;
  const mx_gemm_bf16_args *a = x->a;
  const int Q = a->Q, K = a->K;
  const bool amx = x->amx;
  /* rows [r0, P) of W, in panels of mc: equal panels of at most MC_MAX
   * rows (a chunk of 114 rows ran as 96 + 18, and the 18-row panel used
   * each X block in L1 for only three micro-kernel calls); AMX: units and
   * panels of whole pairs of A tiles */
  /* AMX with quantized W: panels of whole K rows (hi and lo parts,
   * decoded once per panel), so the accumulators stay in the tiles for all
   * of K; 32 rows (for K = 4864, 620 KB: L2) */
  const bool qwhole = amx && a->q;
  const int ur = amx ? AUR : MR, mcmax = qwhole ? AUR : amx ? AMC_MAX : MC_MAX;
  const int r0 = (int)u0 * ur, P = (int)u1 * ur < a->P ? (int)u1 * ur : a->P;
  const int npan = (P - r0 + mcmax - 1) / mcmax,
            mc = npan > 0 ? ((P - r0 + npan - 1) / npan + ur - 1) / ur * ur : mcmax;
  const int64_t xjs = (int64_t)x->ns * 16;
  const bool direct = a->w && a->w_ks == 1 && K % 2 == 0;
  const int qb = Q < QB ? Q : QB, ldc = (qb + 15) & ~15;
  /* rows up to a multiple of 16, zeroed: the transposed store reads whole
   * 16 x 16 blocks */
  const int mcp = (mc + 15) & ~15;
  float *ct = mx_gemm_alloc64(sizeof(float) * (size_t)mcp * ldc);
  if (ct) memset(ct, 0, sizeof(float) * (size_t)mcp * ldc);
  /* AMX: a panel for W's tails (rows or K blocks not filling whole tiles)
   * and, quantized, a second one for the lo parts */
  const bool need_panel = !direct || amx;
  const int64_t pld = qwhole ? K : KC; /* elements between a panel's rows */
  uint16_t *panel =
      need_panel
          ? mx_gemm_alloc64(sizeof(uint16_t) * (size_t)mcp * pld * (qwhole ? 2 : 1))
          : NULL;
  /* quantized: scales and biases of the panel (mc x KC / gs) */
  float *qsb = a->q ? malloc(sizeof(float) * 2 * (size_t)mc * (KC / a->q->gs)) : NULL;
  if (!ct || (need_panel && !panel) || (a->q && !qsb)) {
    atomic_store(&x->failed, 1);
    free(ct);
    free(panel);
    free(qsb);
    return;
  }
  if (amx) mx_amx_begin();
  const int64_t qpad = (int64_t)(Q + 15) / 16 * 16;
  for (int i0 = r0; i0 < P; i0 += mc) {
    const int ni = P - i0 < mc ? P - i0 : mc, nip = (ni + 15) & ~15;
    for (int q0 = 0; q0 < Q; q0 += QB) {
      const int nq = Q - q0 < QB ? Q - q0 : QB, njb = (nq + 15) / 16;
      if (qwhole) {
        uint16_t *lo = panel + (size_t)mcp * pld;
        float *qs = qsb, *qbs = qsb + mc * (KC / a->q->gs);
        if (q0 == 0) { /* the panel depends on i0 only */
          const uint64_t tf = ph_t();
          if (a->q->bits == 4 || a->q->bits == 8)
            fill_split_q48(a, i0, ni, nip, panel, lo, pld);
          else
            for (int k0 = 0; k0 < K; k0 += KC) {
              const int kc = K - k0 < KC ? K - k0 : KC;
              fill_q(a, i0, ni, k0, kc, panel + k0, pld, qs, qbs);
              split_q(panel + k0, lo + k0, pld, ni, nip, kc, a->q->gs, qs, qbs);
            }
          ph_add(PH_FILL, tf);
        }
        /* the next panel's codes come into L2 while this one computes */
        const int pi = i0 + ni, pn = P - pi < mc ? P - pi : mc;
        const int64_t rbq = (int64_t)K * a->q->bits / 8;
        amx_pf_t pf = {NULL, 0, 0, 0};
        if (q0 == 0 && pn > 0)
          pf = (amx_pf_t){(const char *)(a->q->w + (int64_t)pi * rbq), rbq, pn, (int)rbq};
        const uint64_t tk = ph_t();
        amx_block(panel, lo, pld, nip, x->xp + (int64_t)(q0 / 16) * xjs, xjs, njb, K / 32,
                  ct, ldc, true, &pf);
        ph_add(PH_KERN, tk);
        const uint64_t ts = ph_t();
        mx_gemm_store_tile(a, ct, ldc, i0, ni, q0, nq);
        ph_add(PH_STORE, ts);
        continue;
      }
      if (amx && direct && K % 32 == 0 && ni % 16 == 0) {
        /* W in place, whole tiles: each 2 x 2 block of accumulators stays
         * in the tiles for all of K (loading and storing them around
         * every K block cost a quarter of the unit's rate, bench_amx);
         * the next panel's rows come into L2 meanwhile */
        const int pi = i0 + ni, pn = P - pi < mc ? P - pi : mc;
        amx_pf_t pf = {NULL, 0, 0, 0};
        if (q0 == 0 && pn > 0)
          pf = (amx_pf_t){(const char *)(a->w + (int64_t)pi * a->w_rs), a->w_rs * 2, pn,
                          2 * K};
        const uint64_t tk = ph_t();
        amx_block(a->w + (int64_t)i0 * a->w_rs, NULL, a->w_rs, ni,
                  x->xp + (int64_t)(q0 / 16) * xjs, xjs, njb, K / 32, ct, ldc, true, &pf);
        ph_add(PH_KERN, tk);
        const uint64_t ts = ph_t();
        mx_gemm_store_tile(a, ct, ldc, i0, ni, q0, nq);
        ph_add(PH_STORE, ts);
        continue;
      }
      for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, np = (kc + 1) / 2, ks = (kc + 31) / 32;
        /* the tile unit reads W in place only as whole tiles */
        const bool dir = direct && (!amx || (kc % 32 == 0 && ni % 16 == 0));
        const uint16_t *wp;
        int64_t ldw;
        amx_pf_t pf = {NULL, 0, 0, 0};
        /* vdpbf16ps path, up to 128 rows of X: the next block's lines, a
         * share before each micro-kernel call. A burst of hundreds of
         * prefetches held the core until they arrived, so W's stream and
         * the products took turns (4864x896, 17-32 rows of X: 535-540 ->
         * 400-430 us); with more rows of X the burst measured 3% faster
         * (512 rows: 4.7 against 4.9 ms). */
        const char *pfrow = NULL;
        int64_t pfstride = 0;
        int pfrows = 0, pflpr = 1, pfline = 0, pflps = 0;
        if (dir) {
          wp = a->w + (int64_t)i0 * a->w_rs + k0;
          ldw = a->w_rs;
          /* W comes from memory once per panel: fetch the next K block
           * (or the next panel's first) into L2 while this one computes */
          if (q0 == 0) {
            int pk = k0 + KC, pi = i0, pn = ni;
            if (pk >= K) pk = 0, pi = i0 + ni, pn = P - pi < mc ? P - pi : mc;
            int pc = K - pk < KC ? K - pk : KC;
            if (amx && pn > 0) {
              /* AMX: spread over the kernel's tile blocks */
              pf = (amx_pf_t){(const char *)(a->w + (int64_t)pi * a->w_rs + pk),
                              a->w_rs * 2, pn, 2 * pc};
              pn = 0;
            }
            if (pn > 0 && njb > 8) { /* long blocks: the burst hides */
              for (int r = 0; r < pn; r++) {
                const char *rp = (const char *)(a->w + (int64_t)(pi + r) * a->w_rs + pk);
                for (int b = 0; b < 2 * pc; b += 64) _mm_prefetch(rp + b, _MM_HINT_T1);
              }
            } else if (pn > 0) {
              pfrow = (const char *)(a->w + (int64_t)pi * a->w_rs + pk);
              pfstride = a->w_rs * 2;
              pfrows = pn;
              pflpr = (2 * pc + 63) / 64;
              const int64_t calls =
                  (int64_t)((njb + NVMAX - 1) / NVMAX) * ((ni + MR - 1) / MR);
              pflps = (int)(((int64_t)pn * pflpr + calls - 1) / calls);
            }
          }
        } else {
          const int kp = amx ? 32 * ks : 2 * np; /* zeros up to the step */
          const uint64_t tf = ph_t();
          float *qs = qsb, *qbs = qsb ? qsb + mc * (KC / a->q->gs) : NULL;
          if (a->w)
            fill_strided(a, i0, ni, k0, kp, panel, KC);
          else
            fill_q(a, i0, ni, k0, kc, panel, KC, qs, qbs);
          ph_add(PH_FILL, tf);
          /* AMX here: bfloat16 W that is strided or has a tail of rows
           * (quantized W took the whole-K panels above): whole tiles */
          if (amx && nip > ni)
            memset(panel + ni * KC, 0, sizeof(uint16_t) * KC * (nip - ni));
          wp = panel;
          ldw = KC;
        }
        const uint32_t *xb0 = x->xp + (int64_t)(q0 / 16) * xjs + (int64_t)(k0 / 2) * 16;
        if (amx) {
          const uint64_t tk = ph_t();
          amx_block(wp, NULL, ldw, nip, xb0, xjs, njb, ks, ct, ldc, k0 == 0, &pf);
          ph_add(PH_KERN, tk);
          continue;
        }
        for (int jb = 0; jb < njb; jb += NVMAX) {
          const int nv = njb - jb < NVMAX ? njb - jb : NVMAX;
          const uint32_t *xb = xb0 + (int64_t)jb * xjs;
          if (a->q) {
            const int gs = a->q->gs, ng = kc / gs;
            const float *xs = x->xsum + (int64_t)(k0 / gs) * qpad + q0 + jb * 16;
            const float *qs = qsb, *qbs = qsb + mc * (KC / gs);
            for (int ir = 0; ir < ni; ir += MQ) {
              const int mr = ni - ir < MQ ? ni - ir : MQ;
              if (jb == 0 && q0 == 0) prefetch_q_next(a, i0, ni, P, k0, ir, mr);
              g_ukq[mr - 1][nv - 1](wp + ir * ldw, ldw, xb, xjs, gs / 2, ng, qs + ir * ng,
                                    qbs + ir * ng, ng, xs, qpad, ct + ir * ldc + jb * 16,
                                    ldc, k0 == 0);
            }
            continue;
          }
          for (int ir = 0; ir < ni; ir += MR) {
            const int mr = ni - ir < MR ? ni - ir : MR;
            for (int t = 0; t < pflps && pfrows > 0; t++) {
              _mm_prefetch(pfrow + pfline * 64, _MM_HINT_T1);
              if (++pfline == pflpr) pfline = 0, pfrow += pfstride, pfrows--;
            }
            g_uk[mr - 1][nv - 1](wp + ir * ldw, ldw, xb, xjs, np, ct + ir * ldc + jb * 16,
                                 ldc, k0 == 0);
          }
        }
      }
      const uint64_t ts = ph_t();
      mx_gemm_store_tile(a, ct, ldc, i0, ni, q0, nq);
      ph_add(PH_STORE, ts);
    }
  }
  if (amx) mx_amx_end();
  free(ct);
  free(panel);
  free(qsb);
}

mx_status mx_gemm_bf16(const mx_gemm_bf16_args *a) {
  const int P = a->P, Q = a->Q, K = a->K;
  if (P <= 0 || Q <= 0) return MX_OK;
  if (K <= 0) return MX_ERR_INVALID;
  const bool amx = mx_cpu_isa() >= MX_ISA_AMX;
  /* AMX reads X in steps of 16 pairs: blocks padded with zeros */
  const int np = (K + 1) / 2, ns = amx ? (np + 15) / 16 * 16 : np, njb = (Q + 15) / 16;
  mx_buffer *xb = mx_buffer_alloc(sizeof(uint32_t) * 16 * (size_t)ns * (size_t)njb);
  if (!xb) return MX_ERR_NOMEM;
  uint32_t *xp = xb->host;
  drv_ctx d = {a, xp, NULL, np, ns, amx, 0};
  mx_buffer *sb = NULL;
  xsum_ctx sc;
  /* X's group sums serve the vdpbf16ps kernels' bias term; the AMX panels
   * hold the whole weight */
  if (a->q && !amx) {
    /* group sums of X, [g][j], zero past Q: from the packed pairs */
    const int gs = a->q->gs, G = K / gs;
    sb = mx_buffer_alloc(sizeof(float) * (size_t)G * 16 * (size_t)njb);
    if (!sb) {
      mx_buffer_release(xb);
      return MX_ERR_NOMEM;
    }
    sc = (xsum_ctx){xp, sb->host, ns, gs, G, njb};
    d.xsum = sb->host;
  }
  xpack_ctx xc = {a, xp, np, ns, sb ? &sc : NULL};
  int64_t grain = (1 << 14) / ((int64_t)np * 16) + 1;
  uint64_t t0 = ph_t();
  mx_parallel_for(njb, grain, xpack_range, &xc);
  ph_add(PH_XPACK, t0);
  t0 = ph_t();
  /* the pool gets units of MR rows: it cuts them into chunks (up to four
   * per thread), and each chunk runs in equal panels of up to MC_MAX rows;
   * few rows of W (the k and v projections, 128 rows): one chunk per
   * thread, so each packed X block in L1 serves as many rows as possible
   * (eight chunks of 18 rows ran at half the speed of the large shapes) */
  const int64_t units = (P + (amx ? AUR : MR) - 1) / (amx ? AUR : MR),
                nt = mx_num_threads() > 0 ? mx_num_threads() : 1;
  mx_parallel_for(units, units < 16 * nt ? (units + nt - 1) / nt : 1, drv_range, &d);
  ph_add(PH_DRV, t0);
  mx_buffer_release(xb);
  if (sb) mx_buffer_release(sb);
  return atomic_load(&d.failed) ? MX_ERR_NOMEM : MX_OK;
}

#else /* not x86-64: never available */

void mx_amx_begin(void) {}
void mx_amx_end(void) {}

void mx_gemm_store_tile(const mx_gemm_bf16_args *a, const float *ct, int64_t ldc, int i0,
                        int ni, int j0, int nj) {
  (void)a, (void)ct, (void)ldc, (void)i0, (void)ni, (void)j0, (void)nj;
}

void mx_gemm_bf16_phases(double out[5], bool reset) {
  (void)reset;
  for (int i = 0; i < 5; i++) out[i] = 0;
}

mx_status mx_gemm_bf16(const mx_gemm_bf16_args *a) {
  (void)a;
  return MX_ERR_INVALID;
}

#endif
