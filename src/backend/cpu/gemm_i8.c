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
 * split the rows of W. */
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

/* Row x (K floats) -> int8 codes xi (K bytes), d[g * ds] and s[g * ds] per
 * group of gs (see gemm_i8.h; the same float operations as the test's
 * reference) */
TGT static void quant_row(const float *x, int K, int gs, int8_t *xi, float *d, float *s,
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
      quant_row(xr, K, gs, rows + (int64_t)l * K, dl, sl, x->qpad);
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
      for (int l = 0; l < 16; l++) memcpy(dst + (int64_t)p * 16 + l, rows + (int64_t)l * K + 4 * p, 4);
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
      for (int v = 0; v < nv; v++) xv[v] = _mm512_loadu_si512(xp + v * xjs + (int64_t)p * 16);
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
      const __m512 s = _mm512_set1_ps(sc[r * lds + g]), b = _mm512_set1_ps(bs[r * lds + g]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) {
        float *cp = c + r * ldc + v * 16;
        __m512 t = _mm512_fmadd_ps(b, sv[v], init ? _mm512_setzero_ps() : _mm512_loadu_ps(cp));
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), dv[v]);
        _mm512_storeu_ps(cp, _mm512_fmadd_ps(s, u, t));
      }
    }
  }
}

#define UK(R, V)                                                                       \
  TGT static void uk_##R##_##V(const uint8_t *w, int64_t ldw, const int32_t *xp,       \
                               int64_t xjs, int gq, int ng, const float *sc,           \
                               const float *bs, int64_t lds, const float *d,           \
                               const float *xs, int64_t dss, float *c, int64_t ldc,    \
                               bool first) {                                           \
    ukern(R, V, w, ldw, xp, xjs, gq, ng, sc, bs, lds, d, xs, dss, c, ldc, first);      \
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

/* 4-bit codes of rows [n0, n0 + nr), k in [k0, k0 + kc) -> one byte per
 * code in K order (ld apart). A packed byte holds codes 2b (low nibble)
 * and 2b + 1 (high): as a word v, (v | v << 4) & 0x0f0f is the two codes
 * as bytes in K order. */
TGT static void fill_q4(const mx_gemm_i8_args *a, int n0, int nr, int k0, int kc,
                        uint8_t *dst, int64_t ld) {
  const int64_t rb = (int64_t)a->g.K / 2;
  const __m512i m = _mm512_set1_epi16(0x0f0f);
  for (int r = 0; r < nr; r++) {
    const uint8_t *codes = a->g.q->w + (int64_t)(n0 + r) * rb + k0 / 2;
    uint8_t *o = dst + r * ld;
    int k = 0;
    for (; k + 64 <= kc; k += 64) {
      __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(codes + k / 2)));
      _mm512_storeu_si512(o + k,
                          _mm512_ternarylogic_epi32(v, _mm512_slli_epi16(v, 4), m, 0xa8));
    }
    if (k < kc) { /* 32 codes left (kc is a multiple of 32) */
      __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(codes + k / 2)));
      _mm256_storeu_si256((__m256i *)(o + k),
                          _mm256_ternarylogic_epi32(v, _mm256_slli_epi16(v, 4),
                                                    _mm512_castsi512_si256(m), 0xa8));
    }
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

static void *alloc64(size_t n) { return aligned_alloc(64, (n + 63) & ~(size_t)63); }

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
  float *ct = alloc64(sizeof(float) * (size_t)mcp * ldc);
  if (ct) memset(ct, 0, sizeof(float) * (size_t)mcp * ldc);
  uint8_t *panel = bits == 4 ? alloc64((size_t)mc * KC) : NULL;
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
          fill_q4(a, i0, ni, k0, kc, panel, KC);
          wp = panel;
          ldw = KC;
        } else {
          wp = q->w + (int64_t)i0 * rb + k0;
          ldw = rb;
        }
        /* the codes come from memory once per panel: fetch the next K
         * block (or the next panel's first) into L2 meanwhile */
        if (q0 == 0) {
          int pk = k0 + KC, pi = i0, pn = ni;
          if (pk >= K) pk = 0, pi = i0 + ni, pn = P - pi < mc ? P - pi : mc;
          const int64_t pc = (int64_t)(K - pk < KC ? K - pk : KC) * bits / 8;
          for (int r = 0; r < pn; r++) {
            const char *rp = (const char *)(q->w + (int64_t)(pi + r) * rb + (int64_t)pk * bits / 8);
            for (int64_t b = 0; b < pc; b += 64) _mm_prefetch(rp + b, _MM_HINT_T1);
          }
        }
        const int32_t *xb0 = x->xq + (int64_t)(q0 / 16) * xjs + (int64_t)(k0 / 4) * 16;
        const int64_t doff = (int64_t)(k0 / gs) * x->qpad + q0;
        for (int jb = 0; jb < njb; jb += NV) {
          const int nv = njb - jb < NV ? njb - jb : NV;
          for (int ir = 0; ir < ni; ir += MR) {
            const int mr = ni - ir < MR ? ni - ir : MR;
            g_uk[mr - 1][nv - 1](wp + ir * ldw, ldw, xb0 + (int64_t)jb * xjs, xjs, gs / 4, ng,
                                 qs + ir * G + k0 / gs, qbs + ir * G + k0 / gs, G,
                                 x->d + doff + jb * 16,
                                 x->xs + doff + jb * 16, x->qpad, ct + ir * ldc + jb * 16,
                                 ldc, k0 == 0);
          }
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
      q->gs % 16 || (a->xdt != MX_FLOAT32 && a->xdt != MX_FLOAT16 && a->xdt != MX_BFLOAT16))
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

#else /* not x86-64: never available */

bool mx_gemm_i8_available(void) { return false; }

mx_status mx_gemm_i8(const mx_gemm_i8_args *a) {
  (void)a;
  return MX_ERR_INVALID;
}

#endif
