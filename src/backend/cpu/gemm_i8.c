/* gemm_i8.c: quantized W times int8-quantized X on AVX512-VNNI (see
 * gemm_i8.h for the numerics).
 *
 * vpdpbusd multiplies 64 unsigned bytes by 64 signed bytes and adds each
 * lane's four products into an int32 lane. With X quantized and packed so
 * that one 64-byte vector holds the quad (xi[j][4p .. 4p + 3]) of 16
 * consecutive rows j, and the quad of W's codes (q[i][4p .. 4p + 3], 0..255)
 * broadcast from memory, one instruction does 16 outputs x 4 k: twice the
 * products of vdpbf16ps per instruction at the same rate (Zen 5: two per
 * cycle). The int32 sums are exact; each group's sum becomes float once:
 * c += scale * (d * sum) + bias * xsum (three float ops per accumulator and
 * group, against gs / 4 vpdpbusd).
 *
 * Micro-kernel: MR = 6 rows of W x NV <= 4 vectors (64 rows of X): 24 int32
 * accumulators, per quad 4 vector loads + 6 broadcast loads for 24
 * vpdpbusd. Blocking as gemm_bf16.c: X packed once per call as
 * [Q/16][K/4][16] quads with d and the float sum of each group; a K block
 * of KC = 256 of four such blocks is 16 KB (L1) while the kernel walks a
 * panel of MC <= 96 rows of W; 8-bit codes are read in place, 4-bit ones
 * unpacked to bytes per panel (one byte per code, K order). Partial sums
 * live in a float32 tile that mx_gemm_store_tile rounds into O. Threads
 * split the rows of W.
 *
 * Decode (mx_qmm_t_rows_i8, few rows of X): per row of W, 64 codes against
 * 64 int8 values of x per vpdpbusd (4-bit: a 64-byte line gives 128 codes
 * as low and high nibbles, against x stored even/odd per 128), each lane's
 * int32 sum scaled by its group's scale * d (a permute from a vector of 16
 * groups' factors) into a float32 accumulator; the bias term bias * xsum
 * goes into the same lanes, and 16 rows' lane totals come out of one tree
 * of folds. Weights prefetched 4 KB ahead in the stream (rows are
 * contiguous). */
#include "gemm_i8.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "qsimd.h"
#include "transpose16.h"

#define KC MX_GEMM_BF16_KC
#define MR 6
#define NV 4
#define MC_MAX 96
#define QB 1024

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

bool mx_gemm_i8_available(void) {
  return mx_cpu_isa() >= MX_ISA_AVX512BF16 && __builtin_cpu_supports("avx512vnni");
}

bool mx_gemm_i8_preferred(void) {
  return mx_gemm_i8_available() && mx_cpu_isa() < MX_ISA_AMX;
}

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/* ---- X: quantize and pack ---- */

typedef struct {
  const mx_gemm_i8_args *a;
  int32_t *xq;   /* [njb][nq][16] quads of int8 */
  float *d, *xs; /* [G][qpad]: each group's scale and float sum */
  int nq, G;     /* quads of K; groups of K */
  int64_t qpad;  /* 16 * njb */
  atomic_int failed;
} xpack_ctx;

/* (gemm_i8.h; the same float operations as the test's reference) */
TGT void mx_i8_quant_row(const float *x, int K, int gs, int8_t *xi, float *d, float *s,
                         int64_t ds) {
  const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int g = 0; g < K / gs; g++) {
    const float *xg = x + (int64_t)g * gs;
    __m512 mx = _mm512_setzero_ps(), sm = _mm512_setzero_ps();
    for (int k = 0; k < gs; k += 16) {
      __m512 v = _mm512_loadu_ps(xg + k);
      mx = _mm512_max_ps(mx, _mm512_and_ps(v, absm));
      sm = _mm512_add_ps(sm, v);
    }
    float amax = _mm512_reduce_max_ps(mx), sum = _mm512_reduce_add_ps(sm);
    /* NaN or infinity anywhere in the group: the sum is not finite (max
     * drops NaN) and the group's result is NaN */
    if (!isfinite(sum) || !isfinite(amax)) {
      memset(xi + (int64_t)g * gs, 0, (size_t)gs);
      d[g * ds] = NAN;
      s[g * ds] = NAN;
      continue;
    }
    const float id = amax > 0 ? 127.0f / amax : 0.0f;
    d[g * ds] = amax / 127.0f;
    s[g * ds] = sum;
    const __m512 iv = _mm512_set1_ps(id);
    for (int k = 0; k < gs; k += 16) {
      /* round to nearest even (MXCSR default), |v| <= 127 */
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xg + k), iv));
      _mm_storeu_si128((__m128i *)(xi + (int64_t)g * gs + k), _mm512_cvtsepi32_epi8(q));
    }
  }
}

TGT static void xpack_range(void *c, int64_t jb0, int64_t jb1) {
  xpack_ctx *x = c;
  const mx_gemm_i8_args *a = x->a;
  const int Q = a->g.Q, K = a->g.K, gs = a->g.q->gs, nq = x->nq;
  const size_t esz = mx_dtype_size(a->xdt);
  /* 16 rows of codes (K bytes each) and one row of floats */
  int8_t *rows = mx_thread_scratch(MX_SCRATCH_QMM, 16 * (size_t)K + sizeof(float) * K);
  if (!rows) {
    atomic_store(&x->failed, 1);
    return;
  }
  float *xf = (float *)(rows + 16 * (size_t)K);
  for (int64_t jb = jb0; jb < jb1; jb++) {
    const int j0 = (int)jb * 16, nj = Q - j0 < 16 ? Q - j0 : 16;
    for (int l = 0; l < 16; l++) {
      float *dl = x->d + j0 + l, *sl = x->xs + j0 + l;
      if (l >= nj) {
        memset(rows + (int64_t)l * K, 0, (size_t)K);
        for (int g = 0; g < x->G; g++) dl[g * x->qpad] = 0, sl[g * x->qpad] = 0;
        continue;
      }
      const char *src = (const char *)a->x + (int64_t)(j0 + l) * a->x_rs * (int64_t)esz;
      const float *xr = (const float *)src;
      if (a->xdt != MX_FLOAT32) {
        mx_cvt_to_f32(src, a->xdt, xf, K);
        xr = xf;
      }
      mx_i8_quant_row(xr, K, gs, rows + (int64_t)l * K, dl, sl, x->qpad);
    }
    /* 16 rows x 16 quads (64 bytes each) is a 16 x 16 transpose of 32-bit
     * quads */
    int32_t *dst = x->xq + jb * (int64_t)nq * 16;
    int p = 0;
    for (; p + 16 <= nq; p += 16) {
      __m512 r[16];
      for (int l = 0; l < 16; l++) r[l] = _mm512_loadu_ps(rows + (int64_t)l * K + 4 * p);
      mx_transpose16_ps(r);
      for (int t = 0; t < 16; t++) _mm512_storeu_ps(dst + (int64_t)(p + t) * 16, r[t]);
    }
    for (; p < nq; p++)
      for (int l = 0; l < 16; l++)
        memcpy(dst + (int64_t)p * 16 + l, rows + (int64_t)l * K + 4 * p, 4);
  }
}

/* ---- micro-kernel ---- */

/* acc += w (unsigned bytes) . x (signed bytes), per 32-bit lane. Inline asm
 * with the accumulator tied: GCC 12's intrinsic copied each accumulator
 * through a scratch register and the stack on every step (a third of the
 * rate). */
TGT static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i w,
                                                                __m512i x) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(w), "v"(x));
  return acc;
}

/* c (mr, 16 nv) (+)= per group g < ng: scale * (d * sum of gq quads) +
 * bias * xsum, over w's rows (ldw bytes apart, codes as bytes) and the
 * packed X (nv blocks xjs quads apart). sc, bs: the rows' scales and biases
 * (lds apart per row); d, xs: X's per group (dss apart per group). Inlined
 * with constant mr, nv so the accumulators stay in registers; the float
 * tile is updated in memory (both sets in registers would spill). */
TGT static inline __attribute__((always_inline)) void ukern(
    const int mr, const int nv, const uint8_t *w, int64_t ldw, const int32_t *xp,
    int64_t xjs, int gq, int ng, const float *sc, const float *bs, int64_t lds,
    const float *d, const float *xs, int64_t dss, float *c, int64_t ldc, bool first) {
  for (int g = 0; g < ng; g++) {
    __m512i acc[MR][NV];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_si512();
    for (int p = g * gq; p < (g + 1) * gq; p++) {
      __m512i xv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++)
        xv[v] = _mm512_loadu_si512(xp + v * xjs + (int64_t)p * 16);
#pragma GCC unroll 6
      for (int r = 0; r < mr; r++) {
        int32_t t;
        memcpy(&t, w + r * ldw + 4 * p, 4);
        const __m512i wb = _mm512_set1_epi32(t);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[r][v] = dpbusd(acc[r][v], wb, xv[v]);
      }
    }
    const bool init = first && g == 0;
    __m512 dv[NV], sv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      dv[v] = _mm512_loadu_ps(d + g * dss + v * 16);
      sv[v] = _mm512_loadu_ps(xs + g * dss + v * 16);
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      const __m512 s = _mm512_set1_ps(sc[r * lds + g]),
                   b = _mm512_set1_ps(bs[r * lds + g]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) {
        float *cp = c + r * ldc + v * 16;
        __m512 t =
            _mm512_fmadd_ps(b, sv[v], init ? _mm512_setzero_ps() : _mm512_loadu_ps(cp));
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), dv[v]);
        _mm512_storeu_ps(cp, _mm512_fmadd_ps(s, u, t));
      }
    }
  }
}

#define UK(R, V)                                                                      \
  TGT static void uk_##R##_##V(                                                       \
      const uint8_t *w, int64_t ldw, const int32_t *xp, int64_t xjs, int gq, int ng,  \
      const float *sc, const float *bs, int64_t lds, const float *d, const float *xs, \
      int64_t dss, float *c, int64_t ldc, bool first) {                               \
    ukern(R, V, w, ldw, xp, xjs, gq, ng, sc, bs, lds, d, xs, dss, c, ldc, first);     \
  }
#define UK_ROW(R) UK(R, 1) UK(R, 2) UK(R, 3) UK(R, 4)
UK_ROW(1)
UK_ROW(2)
UK_ROW(3)
UK_ROW(4)
UK_ROW(5)
UK_ROW(6)

typedef void (*uk_fn)(const uint8_t *, int64_t, const int32_t *, int64_t, int, int,
                      const float *, const float *, int64_t, const float *, const float *,
                      int64_t, float *, int64_t, bool);
#define UKR(R) \
  { uk_##R##_1, uk_##R##_2, uk_##R##_3, uk_##R##_4 }
static const uk_fn g_uk[MR][NV] = {UKR(1), UKR(2), UKR(3), UKR(4), UKR(5), UKR(6)};

/* ---- W panels ---- */

/* 64 codes of a row as unsigned bytes in K order: 4-bit from 32 packed
 * bytes, 8-bit as they are; a chunk of 32 (the tail of K with groups of
 * 32) zero-extended. A packed 4-bit byte holds codes 2b (low nibble) and
 * 2b + 1 (high): as a word v, (v | v << 4) & 0x0f0f is the two codes as
 * bytes in K order. */
TGT static inline __m512i codes64(const uint8_t *p, int bits, bool half) {
  if (bits == 8)
    return half ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)p))
                : _mm512_loadu_si512(p);
  __m512i v = half ? _mm512_zextsi256_si512(
                         _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)))
                   : _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
  return _mm512_ternarylogic_epi32(v, _mm512_slli_epi16(v, 4), _mm512_set1_epi16(0x0f0f),
                                   0xa8);
}

/* 4-bit codes of rows [n0, n0 + nr), k in [k0, k0 + kc) -> one byte per
 * code in K order (ld apart) */
TGT static void fill_q4(const mx_gemm_i8_args *a, int n0, int nr, int k0, int kc,
                        uint8_t *dst, int64_t ld) {
  const int64_t rb = (int64_t)a->g.K / 2;
  for (int r = 0; r < nr; r++) {
    const uint8_t *codes = a->g.q->w + (int64_t)(n0 + r) * rb + k0 / 2;
    uint8_t *o = dst + r * ld;
    int k = 0;
    for (; k + 64 <= kc; k += 64)
      _mm512_storeu_si512(o + k, codes64(codes + k / 2, 4, false));
    if (k < kc) /* 32 codes left (kc is a multiple of 32) */
      _mm256_storeu_si256((__m256i *)(o + k),
                          _mm512_castsi512_si256(codes64(codes + k / 2, 4, true)));
  }
}

/* Rows [n0, n0 + nr) of a (P, G) table of scales or biases as float into
 * dst (G per row): one contiguous run, one conversion per panel */
static void fill_sb(const void *t, mx_dtype dt, int G, int n0, int nr, float *dst) {
  mx_cvt_to_f32((const char *)t + (int64_t)n0 * G * (int64_t)mx_dtype_size(dt), dt, dst,
                (int64_t)nr * G);
}

/* ---- driver ---- */

typedef struct {
  const mx_gemm_i8_args *a;
  const int32_t *xq;
  const float *d, *xs;
  int nq;
  int64_t qpad;
  atomic_int failed;
} drv_ctx;

/* The K block after (i0, k0) in a thread's walk over panels of mc rows
 * ending at row P: rows [*pi, *pi + *pn) (0 rows: none), codes [*pk, +kc) */
static void next_block(int i0, int ni, int k0, int K, int P, int mc, int *pi, int *pn,
                       int *pk) {
  *pk = k0 + KC, *pi = i0, *pn = ni;
  if (*pk >= K) {
    *pk = 0, *pi = i0 + ni;
    *pn = P - *pi < mc ? P - *pi : mc;
    if (*pn < 0) *pn = 0;
  }
}

TGT static void drv_range(void *c, int64_t u0, int64_t u1) {
  drv_ctx *x = c;
  const mx_gemm_i8_args *a = x->a;
  const mx_gemm_bf16_qw *q = a->g.q;
  const int Q = a->g.Q, K = a->g.K, gs = q->gs, G = K / gs, bits = q->bits;
  const int r0 = (int)u0 * MR, P = (int)u1 * MR < a->g.P ? (int)u1 * MR : a->g.P;
  const int npan = (P - r0 + MC_MAX - 1) / MC_MAX,
            mc = npan > 0 ? ((P - r0 + npan - 1) / npan + MR - 1) / MR * MR : MC_MAX;
  const int64_t xjs = (int64_t)x->nq * 16, rb = (int64_t)K * bits / 8;
  const int qb = Q < QB ? Q : QB, ldc = (qb + 15) & ~15, mcp = (mc + 15) & ~15;
  /* 4-bit codes are unpacked into a panel per K block. With one block of
   * X rows (Q <= QB), the next block's panel is filled a few rows at a
   * time between the micro-kernel calls of the current one (two panels).
   * Filled all at once before its block, its code loads waited on memory:
   * skipping the fill (wrong results, timing only) ran a 128-token prefill
   * 6.5% faster. Pipelined: 1-3% faster in alternating runs; the loads
   * still stall some (the burst prefetch below helps: without it 6% slower;
   * spreading it over the kernel calls was 5% slower) */
  const bool pipe = bits == 4 && Q <= QB;
  float *ct = mx_gemm_alloc64(sizeof(float) * (size_t)mcp * ldc);
  if (ct) memset(ct, 0, sizeof(float) * (size_t)mcp * ldc);
  uint8_t *panel = bits == 4 ? mx_gemm_alloc64((size_t)mc * KC * (pipe ? 2 : 1)) : NULL;
  /* the panel's scales and biases, all groups */
  float *qsb = malloc(sizeof(float) * 2 * (size_t)mc * G);
  if (!ct || (bits == 4 && !panel) || !qsb) {
    atomic_store(&x->failed, 1);
    free(ct);
    free(panel);
    free(qsb);
    return;
  }
  float *qs = qsb, *qbs = qsb + (size_t)mc * G;
  uint8_t *cur = panel, *nxt = pipe ? panel + (size_t)mc * KC : NULL;
  bool ready = false; /* cur already holds this block (pipelined fill) */
  for (int i0 = r0; i0 < P; i0 += mc) {
    const int ni = P - i0 < mc ? P - i0 : mc;
    fill_sb(q->scales, q->sdt, G, i0, ni, qs);
    fill_sb(q->biases, q->bdt, G, i0, ni, qbs);
    for (int q0 = 0; q0 < Q; q0 += QB) {
      const int nq = Q - q0 < QB ? Q - q0 : QB, njb = (nq + 15) / 16;
      for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, ng = kc / gs;
        const uint8_t *wp;
        int64_t ldw;
        if (bits == 4) {
          if (!ready) fill_q4(a, i0, ni, k0, kc, cur, KC);
          wp = cur;
          ldw = KC;
        } else {
          wp = q->w + (int64_t)i0 * rb + k0;
          ldw = rb;
        }
        /* the next block (filled during this one when pipelined) and the
         * one after it (fetched into L2 meanwhile; without the pipeline,
         * the next) */
        int pi, pn, pk, fi, fn, fk;
        next_block(i0, ni, k0, K, P, mc, &pi, &pn, &pk);
        const int pkc = K - pk < KC ? K - pk : KC;
        if (pipe && pn > 0)
          next_block(pi, pn, pk, K, P, mc, &fi, &fn, &fk);
        else
          fi = pi, fn = pn, fk = pk;
        if (q0 == 0) {
          const int64_t pc = (int64_t)(K - fk < KC ? K - fk : KC) * bits / 8;
          for (int r = 0; r < fn; r++) {
            const char *rp =
                (const char *)(q->w + (int64_t)(fi + r) * rb + (int64_t)fk * bits / 8);
            for (int64_t b = 0; b < pc; b += 64) _mm_prefetch(rp + b, _MM_HINT_T1);
          }
        }
        const int32_t *xb0 = x->xq + (int64_t)(q0 / 16) * xjs + (int64_t)(k0 / 4) * 16;
        const int64_t doff = (int64_t)(k0 / gs) * x->qpad + q0;
        for (int jb = 0; jb < njb; jb += NV) {
          const int nv = njb - jb < NV ? njb - jb : NV;
          for (int ir = 0; ir < ni; ir += MR) {
            const int mr = ni - ir < MR ? ni - ir : MR;
            g_uk[mr - 1][nv - 1](wp + ir * ldw, ldw, xb0 + (int64_t)jb * xjs, xjs, gs / 4,
                                 ng, qs + ir * G + k0 / gs, qbs + ir * G + k0 / gs, G,
                                 x->d + doff + jb * 16, x->xs + doff + jb * 16, x->qpad,
                                 ct + ir * ldc + jb * 16, ldc, k0 == 0);
            if (pipe && jb == 0 &&
                ir < pn) /* the next block's rows, a kernel call's worth */
              fill_q4(a, pi + ir, pn - ir < MR ? pn - ir : MR, pk, pkc, nxt + ir * KC,
                      KC);
          }
        }
        if (pipe) {
          if (pn > ni) /* rows the calls above did not reach */
            fill_q4(a, pi + ni, pn - ni, pk, pkc, nxt + ni * KC, KC);
          uint8_t *t = cur;
          cur = nxt, nxt = t;
          ready = pn > 0;
        }
      }
      mx_gemm_store_tile(&a->g, ct, ldc, i0, ni, q0, nq);
    }
  }
  free(ct);
  free(panel);
  free(qsb);
}

mx_status mx_gemm_i8(const mx_gemm_i8_args *a) {
  const int P = a->g.P, Q = a->g.Q, K = a->g.K;
  const mx_gemm_bf16_qw *q = a->g.q;
  if (P <= 0 || Q <= 0) return MX_OK;
  if (K <= 0 || !q || (q->bits != 4 && q->bits != 8) || KC % q->gs || K % q->gs ||
      q->gs % 16 ||
      (a->xdt != MX_FLOAT32 && a->xdt != MX_FLOAT16 && a->xdt != MX_BFLOAT16))
    return MX_ERR_INVALID;
  const int nq = K / 4, njb = (Q + 15) / 16, G = K / q->gs;
  const int64_t qpad = (int64_t)njb * 16;
  mx_buffer *xb = mx_buffer_alloc(sizeof(int32_t) * 16 * (size_t)nq * (size_t)njb +
                                  sizeof(float) * 2 * (size_t)G * (size_t)qpad);
  if (!xb) return MX_ERR_NOMEM;
  int32_t *xq = xb->host;
  float *d = (float *)(xq + 16 * (int64_t)nq * njb), *xs = d + (int64_t)G * qpad;
  xpack_ctx xc = {a, xq, d, xs, nq, G, qpad, 0};
  mx_parallel_for(njb, 1, xpack_range, &xc);
  if (atomic_load(&xc.failed)) {
    mx_buffer_release(xb);
    return MX_ERR_NOMEM;
  }
  drv_ctx dc = {a, xq, d, xs, nq, qpad, 0};
  const int64_t units = (P + MR - 1) / MR,
                nt = mx_num_threads() > 0 ? mx_num_threads() : 1;
  mx_parallel_for(units, units < 16 * nt ? (units + nt - 1) / nt : 1, drv_range, &dc);
  mx_buffer_release(xb);
  return atomic_load(&dc.failed) ? MX_ERR_NOMEM : MX_OK;
}

/* ---- decode: rows of the transposed product ---- */

void mx_i8_perm4(int8_t *xi, int K) {
  int8_t t[128];
  for (int k0 = 0; k0 + 128 <= K; k0 += 128) {
    memcpy(t, xi + k0, 128);
    for (int j = 0; j < 64; j++) {
      xi[k0 + j] = t[2 * j];
      xi[k0 + 64 + j] = t[2 * j + 1];
    }
  }
}

/* 16 values of a scales/biases row as float, n <= 16 (masked) */
TGT static inline __m512 load16f(const void *p, mx_dtype t, int64_t i, int n) {
  const __mmask16 m = (__mmask16)((1u << n) - 1);
  if (t == MX_BFLOAT16)
    return _mm512_castsi512_ps(_mm512_slli_epi32(
        _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i)), 16));
  if (t == MX_FLOAT16)
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
  return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

/* bytes of weight stream the decode prefetches ahead (rows are contiguous,
 * so this runs into the next rows). Paired decode runs on dev (q4 / q8
 * 0.4B, low-bandwidth regime): 1024: 1.00, 2048: 1.05-1.06, 4096: 1.10,
 * 8192: 1.07-1.08. A four-row tile for 4-bit codes (x's loads shared by
 * four rows) was 1.07x faster when the host's bandwidth was high and
 * 0.85x when it was low, against 1.08x of the exact kernel for this one
 * (paired runs, three series): the four interleaved row streams are read
 * at a lower rate, whatever their software prefetch (per row or linear). */
#define I8_PFD 4096
#define I8_MB 4  /* rows of x per pass over a weight row */
#define I8_NB 16 /* weight rows per output store (and per params prefetch) */

/* acc[m] (lanes: chunks of 4 codes) += the row's products with x rows
 * [m0, m0 + mr); groups in windows of 16: per window the rows' scale * d
 * (lanes: groups) and the bias term bias * xsum (added to the same lanes:
 * only the lanes' total matters). bits, gs and (for decode's one row) mr
 * are constants in each instance; otherwise rows past mr are skipped. */
TGT static inline __attribute__((always_inline)) void i8_row(
    const mx_qmm_args *a, const uint8_t *wr, int64_t n, int m0, const int mr,
    const int bits, const int gs, __m512 acc[I8_MB], const bool nta) {
  const int K = a->K, G = K / gs;
  const int sh = gs == 32 ? 5 : gs == 64 ? 6 : 7;
  const __m512i lane4 =
      _mm512_set_epi32(60, 56, 52, 48, 44, 40, 36, 32, 28, 24, 20, 16, 12, 8, 4, 0);
#pragma GCC unroll 4
  for (int m = 0; m < I8_MB; m++) acc[m] = _mm512_setzero_ps();
  for (int g0 = 0; g0 < G; g0 += 16) {
    const int ng = G - g0 < 16 ? G - g0 : 16;
    const __mmask16 gm = (__mmask16)((1u << ng) - 1);
    const __m512 sv = load16f(a->scales, a->sdt, n * G + g0, ng),
                 bv = load16f(a->biases, a->bdt, n * G + g0, ng);
    __m512 sd[I8_MB] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                        _mm512_setzero_ps()};
#pragma GCC unroll 4
    for (int m = 0; m < I8_MB; m++) {
      if (m >= mr) break;
      const int64_t xo = (int64_t)(m0 + m) * G + g0;
      sd[m] = _mm512_mul_ps(sv, _mm512_maskz_loadu_ps(gm, a->xd + xo));
      acc[m] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(gm, a->xsum + xo), acc[m]);
    }
    /* chunks of 64 codes, two per step (one 64-byte line of 4-bit codes,
     * one prefetch); lane l of a chunk holds codes 4l .. 4l + 3, so its
     * group is chunk * 64 / gs + 4l / gs: gi holds that for the step's
     * first chunk (gs 32: 0 or 1 by lane; 64 and 128: 0), advanced per step */
    const int k0 = g0 * gs, k1 = (g0 + ng) * gs;
    const __m512i g1 = _mm512_set1_epi32(gs == 128  ? 0
                                         : gs == 64 ? 1
                                                    : 2),
                  gstep = _mm512_set1_epi32(gs == 128  ? 1
                                            : gs == 64 ? 2
                                                       : 4);
    __m512i gi = _mm512_srli_epi32(lane4, sh);
    const uint8_t *cp = wr + (int64_t)k0 * bits / 8;
    int k = k0;
    if (bits == 4) {
      /* 128 codes per step from one 64-byte line: the low nibbles are the
       * even codes and the high ones the odd codes, and x's int8 values are
       * stored to match (mx_i8_perm4: per 128, the even elements, then the
       * odd). Lane l then covers codes 8l .. 8l + 7, all of one group: both
       * products go into one sum. */
      const __m512i m4 = _mm512_set1_epi8(0x0f);
      const __m512i lane8 = _mm512_slli_epi32(lane4, 1);
      __m512i gq = _mm512_srli_epi32(lane8, sh);
      const __m512i qstep = _mm512_set1_epi32(128 >> sh);
      for (; k + 128 <= k1; k += 128, cp += 64, gq = _mm512_add_epi32(gq, qstep)) {
        mx_prefetch_w(cp + I8_PFD, nta);
        const __m512i v = _mm512_loadu_si512(cp);
        const __m512i lo = _mm512_and_si512(v, m4),
                      hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
        for (int m = 0; m < I8_MB; m++) {
          if (m >= mr) break;
          const int8_t *xp = a->xq + (int64_t)(m0 + m) * K + k;
          const __m512i p =
              dpbusd(dpbusd(_mm512_setzero_si512(), lo, _mm512_loadu_si512(xp)), hi,
                     _mm512_loadu_si512(xp + 64));
          acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
                                   _mm512_permutexvar_ps(gq, sd[m]), acc[m]);
        }
      }
    }
    for (; k + 128 <= k1; k += 128, cp += 16 * bits, gi = _mm512_add_epi32(gi, gstep)) {
      mx_prefetch_w(cp + I8_PFD, nta);
      if (bits == 8) mx_prefetch_w(cp + I8_PFD + 64, nta);
      const __m512i ca = codes64(cp, bits, false),
                    cb = codes64(cp + 8 * bits, bits, false);
      const __m512i gb = _mm512_add_epi32(gi, g1);
#pragma GCC unroll 4
      for (int m = 0; m < I8_MB; m++) {
        if (m >= mr) break;
        const int8_t *xp = a->xq + (int64_t)(m0 + m) * K + k;
        const __m512i pa = dpbusd(_mm512_setzero_si512(), ca, _mm512_loadu_si512(xp)),
                      pb =
                          dpbusd(_mm512_setzero_si512(), cb, _mm512_loadu_si512(xp + 64));
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pa), _mm512_permutexvar_ps(gi, sd[m]),
                                 acc[m]);
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pb), _mm512_permutexvar_ps(gb, sd[m]),
                                 acc[m]);
      }
    }
    /* the window's last 64 or 32 codes (short windows at the end of K) */
    for (; k < k1; k += 64, cp += 8 * bits) {
      const bool half = k1 - k < 64;
      const __m512i c = codes64(cp, bits, half);
      const __m512i gk =
          _mm512_srli_epi32(_mm512_add_epi32(lane4, _mm512_set1_epi32(k - k0)), sh);
#pragma GCC unroll 4
      for (int m = 0; m < I8_MB; m++) {
        if (m >= mr) break;
        const int8_t *xp = a->xq + (int64_t)(m0 + m) * K + k;
        const __m512i xv =
            half ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)xp))
                 : _mm512_loadu_si512(xp);
        const __m512i p = dpbusd(_mm512_setzero_si512(), c, xv);
        acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(gk, sd[m]),
                                 acc[m]);
      }
    }
  }
}

/* The 16 lane totals of v[0..15] as one vector, in order: a tree of
 * pairwise folds (46 operations, against ~8 per vector for a reduction
 * each; the reductions took a fifth of decode's samples) */
TGT static inline __m512 sum16(__m512 v[16]) {
  __m512 a[8], b[4], c[2];
  for (int p = 0; p < 8; p++) /* lanes 0-7: row 2p, 8-15: row 2p + 1 */
    a[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xee));
  for (int q = 0; q < 4; q++) /* 128-bit chunk c: row 4q + c */
    b[q] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * q], a[2 * q + 1], 0x88),
                         _mm512_shuffle_f32x4(a[2 * q], a[2 * q + 1], 0xdd));
  for (int u = 0; u < 2; u++) /* chunk c: rows 8u + c, 8u + 4 + c (two lanes each) */
    c[u] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * u], b[2 * u + 1], 0x88),
                         _mm512_shuffle_ps(b[2 * u], b[2 * u + 1], 0xdd));
  /* lane 4c + j: row 4j + c */
  const __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88),
                                 _mm512_shuffle_ps(c[0], c[1], 0xdd));
  const __m512i idx =
      _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  return _mm512_permutexvar_ps(idx, d);
}

TGT static inline __attribute__((always_inline)) void i8_rows_body(
    const mx_qmm_args *a, int n0, int n1, const int bits, const int gs, const bool nta) {
  const int M = a->M, N = a->N;
  const int64_t rb = (int64_t)a->K * bits / 8;
  const size_t osz = mx_dtype_size(a->odt);
  { /* the chunk's first weights and params: behind no prefetch yet */
    const char *w0 = (const char *)a->w + (int64_t)n0 * rb;
    for (int64_t o = 0; o < I8_PFD && o < (int64_t)(n1 - n0) * rb; o += 64)
      mx_prefetch_w(w0 + o, nta);
    mx_qmm_prefetch_params(a, n0, I8_NB);
  }
  for (int nb = n0; nb < n1; nb += I8_NB) {
    const int nn = n1 - nb < I8_NB ? n1 - nb : I8_NB;
    mx_qmm_prefetch_params(a, nb + I8_NB, I8_NB);
    for (int m0 = 0; m0 < M; m0 += I8_MB) {
      const int mr = M - m0 < I8_MB ? M - m0 : I8_MB;
      __m512 racc[I8_MB][I8_NB];
      for (int i = 0; i < I8_NB; i++) {
        __m512 acc[I8_MB];
        if (i >= nn) {
          for (int m = 0; m < I8_MB; m++) acc[m] = _mm512_setzero_ps();
        } else {
          const uint8_t *wr = a->w + (int64_t)(nb + i) * rb;
          if (mr == 1) /* decode: one row of x */
            i8_row(a, wr, nb + i, m0, 1, bits, gs, acc, nta);
          else
            i8_row(a, wr, nb + i, m0, mr, bits, gs, acc, nta);
        }
        for (int m = 0; m < mr; m++) racc[m][i] = acc[m];
      }
      for (int m = 0; m < mr; m++) {
        float res[I8_NB];
        _mm512_storeu_ps(res, sum16(racc[m]));
        mx_cvt_from_f32(res, (char *)a->out + ((int64_t)(m0 + m) * N + nb) * (int64_t)osz,
                        a->odt, nn);
      }
    }
  }
}

/* one instance per (bits, group size, prefetch hint) */
#define I8_INST(B, GS)                                                       \
  TGT static void i8_rows_##B##_##GS(const mx_qmm_args *a, int n0, int n1) { \
    if (a->nta)                                                              \
      i8_rows_body(a, n0, n1, B, GS, true);                                  \
    else                                                                     \
      i8_rows_body(a, n0, n1, B, GS, false);                                 \
  }
I8_INST(4, 32)
I8_INST(4, 64)
I8_INST(4, 128)
I8_INST(8, 32)
I8_INST(8, 64)
I8_INST(8, 128)

TGT void mx_qmm_t_rows_i8(const mx_qmm_args *a, int n0, int n1) {
  const int gi = a->gs == 32 ? 0 : a->gs == 64 ? 1 : 2;
  static void (*const fns[2][3])(const mx_qmm_args *, int, int) = {
      {i8_rows_4_32, i8_rows_4_64, i8_rows_4_128},
      {i8_rows_8_32, i8_rows_8_64, i8_rows_8_128}};
  fns[a->bits == 8][gi](a, n0, n1);
}

#else /* not x86-64: never available */

bool mx_gemm_i8_available(void) { return false; }

bool mx_gemm_i8_preferred(void) { return false; }

mx_status mx_gemm_i8(const mx_gemm_i8_args *a) {
  (void)a;
  return MX_ERR_INVALID;
}

void mx_i8_quant_row(const float *x, int K, int gs, int8_t *xi, float *d, float *s,
                     int64_t ds) {
  (void)x, (void)K, (void)gs, (void)xi, (void)d, (void)s, (void)ds;
}

void mx_qmm_t_rows_i8(const mx_qmm_args *a, int n0, int n1) {
  (void)a, (void)n0, (void)n1;
}

void mx_i8_perm4(int8_t *xi, int K) { (void)xi, (void)K; }

#endif
