/* unary.c: CPU kernels of the unary family and stop_gradient.
 *
 * One plain C body (unary_impl.inc) is instantiated for every dtype; strided
 * inputs go through mx_iter (dimensions merged, runs split across the
 * pool). Contiguous float32/bfloat16/float16 runs of the common ops take the
 * vector path (simd.h) when the CPU has one; float32 runs with other
 * strides are gathered into it in chunks (same bits in every layout). With
 * glibc's libmvec that path covers the float32 transcendentals too.
 *
 * bfloat16 and float16 have only 65536 values, so the ops that cost more
 * than a few vector instructions (libm calls: log, sin, erf, ...; tanh)
 * read the result from a 128 KiB table: the plain C kernel run once over
 * every bit pattern, built the first time a large enough array needs it.
 * Results are bit-identical to the plain C kernel, any layout. exp and
 * sigmoid take the vector path instead (faster than the table with the
 * hardware half conversions), strided runs gathered into it like
 * float32's: the float32 vector kernel's result rounded to nearest even,
 * any size and layout. */
/* Let GCC vectorise the plain C loops (the build's -O2 uses the cheapest
 * cost model, which leaves loops with a remainder scalar). */
#ifndef __clang__
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#include "../../primitives/unary.h"

#include <complex.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
#endif

#include "dtypes.h"
#include "ew_common.h"
#include "iter.h"
#include "simd.h"

/* ---- scalar helpers ---- */

/* erfinv(y) in double. Start from Giles' single-precision approximation
 * ("Approximating the erfinv function", GPU Computing Gems, 2011), then two
 * Halley steps on f(x) = erf(x) - y, whose second derivative is -2x f'.
 * Above |y| = 0.5 the residual is taken as (1 - |y|) - erfc(x): 1 - |y| is
 * exact there, so results stay accurate as |y| -> 1. */
static double ew_erfinv(double y) {
  if (isnan(y) || y < -1 || y > 1) return NAN;
  if (y == 1) return INFINITY;
  if (y == -1) return -INFINITY;
  double a = fabs(y);
  double w = -log((1 - a) * (1 + a)), p;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = sqrt(w) - 3;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double x = p * a;
  /* float32 inputs converge in one step; float64 ones beyond the fit's
   * range (|y| > 1 - 1e-7) take a few more */
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int it = 0; it < 8; it++) {
    double f = a <= 0.5 ? erf(x) - a : (1 - a) - erfc(x);
    double d = f / (two_over_sqrt_pi * exp(-x * x));
    d /= 1 + x * d;
    x -= d;
    if (!(fabs(d) > 1e-17 * x)) break;
  }
  return copysign(x, y);
}

/* numpy's round to `dec` decimals: scale, round half to even, unscale
 * (dividing by the exact power of ten for negative decimals). Scaling that
 * overflows leaves x unchanged (it has no digits that far right). */
static double ew_round_dec(double x, int dec) {
  if (dec == 0) return rint(x);
  if (!isfinite(x)) return x;
  if (dec > 0) {
    if (dec > 330) return x;
    double f = pow(10.0, dec), y = x * f;
    return isfinite(y) ? rint(y) / f : x;
  }
  if (dec < -330) return 0 * x;
  double f = pow(10.0, -dec);
  return rint(x / f) * f;
}

/* Integers to dec < 0 decimals, exactly: half to even on the quotient. */
static int64_t ew_round_i64(int64_t x, int dec) {
  if (dec >= 0) return x;
  if (dec < -18) return 0; /* |x| < 10^19 / 2 */
  int64_t p = 1;
  for (int i = 0; i < -dec; i++) p *= 10;
  int64_t q = x / p, r = x % p, ar = r < 0 ? -r : r;
  if (2 * ar > p || (2 * ar == p && (q & 1))) q += x < 0 ? -1 : 1;
  return (int64_t)((uint64_t)q * (uint64_t)p);
}

static uint64_t ew_round_u64(uint64_t x, int dec) {
  if (dec >= 0) return x;
  if (dec < -18) return 0;
  uint64_t p = 1;
  for (int i = 0; i < -dec; i++) p *= 10;
  uint64_t q = x / p, r = x % p;
  if (2 * r > p || (2 * r == p && (q & 1))) q++;
  return q * p;
}

/* log(1 + z) for complex z in double: log|1+z| = log1p(2 Re z + |z|^2) / 2
 * keeps the digits clogf(1 + z) loses for small z. */
static mx_c64 ew_clog1p(mx_c64 z) {
  double x = crealf(z), y = cimagf(z);
  double re = 0.5 * log1p(2 * x + x * x + y * y), im = atan2(y, 1 + x);
  return (float)re + I * (float)im;
}

/* ---- the per-dtype kernels ---- */

/* y[i * sy] = EXPR(x) over a run; x is the loaded element in EW_C */
#define U_LOOP(OT, EXPR)                             \
  do {                                               \
    const EW_T *X_ = (const EW_T *)(const void *)xp; \
    OT *Y_ = (OT *)(void *)yp;                       \
    if (sx == 1 && sy == 1) {                        \
      for (int64_t i = 0; i < n; i++) {              \
        EW_C x = EW_LD(X_[i]);                       \
        Y_[i] = (EXPR);                              \
      }                                              \
    } else {                                         \
      for (int64_t i = 0; i < n; i++) {              \
        EW_C x = EW_LD(X_[i * sx]);                  \
        Y_[i * sy] = (EXPR);                         \
      }                                              \
    }                                                \
  } while (0)

typedef bool (*unary_fn)(int op, int dec, int64_t n, const char *x, int64_t sx, char *y,
                         int64_t sy);

#define EW_IMPL "unary_impl.inc"
#include "ew_dtypes.inc"

static const unary_fn k_unary[MX_NUM_DTYPES] = EW_TABLE(unary_);

/* ---- half-precision tables ---- */

/* Ops whose half results come from a table (float results of the same
 * dtype; round only with decimals == 0). The cheap ops with exact vector
 * paths (abs, sqrt, floor, ...) stay on those. */
static bool htab_op(int op, mx_dtype t) {
  switch (op) {
    case MX_UOP_EXP:
    case MX_UOP_SIGMOID:
      /* the vector polynomials, fused with the conversions (vcvtph2ps /
       * vcvtps2ph for float16, vpmovzxwd + shift / vcvtneps2bf16 for
       * bfloat16), measured faster than the table (one core, in L2:
       * bf16 exp 7.1 vs 4.3 G elements/s): every size and layout takes
       * them (same bits), the table only without vector paths. tanh's
       * vector kernel (4.5 G/s in float32) is slower than the table. */
      return mx_simd_level() == MX_SIMD_NONE;
    case MX_UOP_SIGN:
    case MX_UOP_EXPM1:
    case MX_UOP_LOG:
    case MX_UOP_LOG1P:
    case MX_UOP_LOG2:
    case MX_UOP_LOG10:
    case MX_UOP_SIN:
    case MX_UOP_COS:
    case MX_UOP_TAN:
    case MX_UOP_ARCSIN:
    case MX_UOP_ARCCOS:
    case MX_UOP_ARCTAN:
    case MX_UOP_SINH:
    case MX_UOP_COSH:
    case MX_UOP_TANH:
    case MX_UOP_ARCSINH:
    case MX_UOP_ARCCOSH:
    case MX_UOP_ARCTANH:
    case MX_UOP_ERF:
    case MX_UOP_ERFINV:
      return true;
    default:
      return false;
  }
}

/* [float16, bfloat16][op]: 65536 results, built once, never freed */
static _Atomic(uint16_t *) g_htab[2][MX_UOP_COUNT];

/* Elements from which building a missing table pays off: a table costs
 * 65536 evaluations of the plain kernel. */
#define HTAB_MIN_ELEMS (1 << 16)

/* MX_HALF_TABLES=0 turns the tables off (benchmarks, tests of the other
 * paths). */
static bool htab_enabled(void) {
  static atomic_int on = -1;
  int v = atomic_load_explicit(&on, memory_order_relaxed);
  if (v < 0) {
    const char *e = getenv("MX_HALF_TABLES");
    v = !(e && e[0] == '0');
    atomic_store(&on, v);
  }
  return v;
}

/* The table of op for half dtype t, built if needed (NULL: no memory). */
static const uint16_t *htab_get(int op, mx_dtype t) {
  _Atomic(uint16_t *) *slot = &g_htab[t == MX_BFLOAT16][op];
  uint16_t *tab = atomic_load_explicit(slot, memory_order_acquire);
  if (tab) return tab;
  uint16_t *x = malloc(65536 * sizeof *x);
  tab = malloc(65536 * sizeof *tab);
  if (!x || !tab) {
    free(x);
    free(tab);
    return NULL;
  }
  for (int i = 0; i < 65536; i++) x[i] = (uint16_t)i;
  k_unary[t](op, 0, 65536, (const char *)x, 1, (char *)tab, 1);
  free(x);
  uint16_t *prev = NULL;
  if (!atomic_compare_exchange_strong(slot, &prev, tab)) {
    free(tab); /* another thread built it first */
    return prev;
  }
  return tab;
}

/* y[i * sy] = tab[x[i * sx]]: two loads and a store per element. Packing
 * four results into one 64-bit store (shifts and ors per element) measured
 * 30% slower than the plain loop on Zen 5 (4.4 vs 6.2 G elements/s per
 * core, in cache), as did an AVX-512 gather (3.8). Large outputs (stream)
 * go through a staging block in L1 and non-temporal stores, as the vector
 * ops' outputs do: plain stores read each output line first. */
static void htab_run(const uint16_t *tab, int64_t n, const char *xp, int64_t sx, char *yp,
                     int64_t sy, bool stream) {
  const uint16_t *x = (const uint16_t *)(const void *)xp;
  uint16_t *y = (uint16_t *)(void *)yp;
  if (sx == 1 && sy == 1) {
    int64_t i = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (stream) {
      enum { B = 512 };
      _Alignas(64) uint16_t st[B];
      for (; i < n && ((uintptr_t)(y + i) & 15); i++) y[i] = tab[x[i]];
      for (; i + B <= n; i += B) {
        for (int k = 0; k < B; k++) st[k] = tab[x[i + k]];
        for (int k = 0; k < B; k += 8)
          _mm_stream_si128((__m128i *)(void *)(y + i + k),
                           _mm_load_si128((const __m128i *)(const void *)(st + k)));
      }
      _mm_sfence();
    }
#else
    (void)stream;
#endif
    for (; i < n; i++) y[i] = tab[x[i]];
    return;
  }
  for (int64_t i = 0; i < n; i++) y[i * sy] = tab[x[i * sx]];
}

/* ---- eval ---- */

typedef struct {
  unary_fn fn;
  const uint16_t *tab; /* half lookup table, or NULL */
  int op, dec;
  mx_dtype t;
  const char *x;
  char *y;
  int64_t xsz, ysz;
  bool simd, stream;
} uctx;

/* d[q * sd] = s[q * ss] for m elements of es (2 or 4) bytes; strides in
 * bytes */
static void gather(int64_t es, int64_t m, const char *s, int64_t ss, char *d,
                   int64_t sd) {
  if (es == 4)
    for (int64_t q = 0; q < m; q++) memcpy(d + q * sd, s + q * ss, 4);
  else
    for (int64_t q = 0; q < m; q++) memcpy(d + q * sd, s + q * ss, 2);
}

static void unary_run(void *c, int64_t n, const int64_t *offs, const int64_t *is) {
  const uctx *k = c;
  const char *x = k->x + offs[0] * k->xsz;
  char *y = k->y + offs[1] * k->ysz;
  if (k->tab) {
    htab_run(k->tab, n, x, is[0], y, is[1], k->stream);
    return;
  }
  if (k->simd && is[0] == 1 && is[1] == 1 &&
      mx_simd_unary(k->op, k->t, n, x, y, k->stream))
    return;
  /* float32 and half runs with other strides go through the vector path
   * in chunks (gather, compute, scatter): same bits as a contiguous input
   * (the vector exp/tanh/sigmoid/libmvec results differ from libm in the
   * last ulps), and the transcendentals stay vectorised */
  if (k->simd && (k->t == MX_FLOAT32 || k->t == MX_BFLOAT16 || k->t == MX_FLOAT16)) {
    enum { CH = 512 };
    _Alignas(64) char bx[CH * 4], by[CH * 4];
    const int64_t es = k->xsz, sx = is[0] * es, sy = is[1] * es;
    for (int64_t i = 0; i < n; i += CH) {
      int64_t m = n - i < CH ? n - i : CH;
      gather(es, m, x + i * sx, sx, bx, es);
      if (!mx_simd_unary(k->op, k->t, m, bx, by, false)) {
        /* no vector path for this op: the plain kernel for the rest */
        k->fn(k->op, k->dec, n - i, x + i * sx, is[0], y + i * sy, is[1]);
        return;
      }
      gather(es, m, by, es, y + i * sy, sy);
    }
    return;
  }
  k->fn(k->op, k->dec, n, x, is[0], y, is[1]);
}

/* Elements per task: memory-bound ops need big chunks to amortise the
 * hand-off; libm calls are slow enough to split finer. */
static int64_t unary_grain(int op) {
  switch (op) {
    case MX_UOP_ABS:
    case MX_UOP_NEGATIVE:
    case MX_UOP_SIGN:
    case MX_UOP_SQUARE:
    case MX_UOP_FLOOR:
    case MX_UOP_CEIL:
    case MX_UOP_ISNAN:
    case MX_UOP_ISINF:
    case MX_UOP_ISFINITE:
    case MX_UOP_ISPOSINF:
    case MX_UOP_ISNEGINF:
    case MX_UOP_LOGICAL_NOT:
    case MX_UOP_BITWISE_INVERT:
    case MX_UOP_REAL:
    case MX_UOP_IMAG:
    case MX_UOP_CONJUGATE:
    case MX_UOP_RECIPROCAL:
    case MX_UOP_SQRT:
    case MX_UOP_RSQRT:
      return 1 << 15;
    case MX_UOP_EXP:
    case MX_UOP_SIGMOID:
    case MX_UOP_TANH:
      /* vector polynomials, ~6-12 G elements/s per core: a decode step's
       * SiLU (4864 elements, < 1 us) ran 2.8 us when split in three pool
       * tasks (the hand-off costs more than the work) */
      return mx_simd_level() == MX_SIMD_NONE ? 1 << 11 : 1 << 14;
    default:
      return 1 << 11;
  }
}

mx_status mx_cpu_unary(mx_node *nd, mx_array **in, mx_array **out) {
  const mx_unary_params *p = MX_PARAMS(mx_unary_params, nd);
  mx_array *a = in[0], *o = out[0];
  unary_fn fn = (unsigned)a->dtype < MX_NUM_DTYPES ? k_unary[a->dtype] : NULL;
  if (!fn || !fn(p->op, p->decimals, 0, NULL, 1, NULL, 1))
    return mx_set_error(MX_ERR_UNSUPPORTED, "[%s] not supported for %s",
                        mx_unary_op_name(p->op), mx_dtype_name(a->dtype));
  mx_status rc = mx_ew_alloc_out(o, &a, 1);
  if (rc != MX_OK || o->size == 0) return rc;
  const int64_t *strides[2] = {a->strides, o->strides};
  mx_iter it;
  mx_ew_iter_init(&it, o, 2, strides);
  const uint16_t *tab = NULL;
  if ((a->dtype == MX_FLOAT16 || a->dtype == MX_BFLOAT16) && o->dtype == a->dtype &&
      htab_op(p->op, a->dtype) && htab_enabled() &&
      (o->size >= HTAB_MIN_ELEMS ||
       atomic_load_explicit(&g_htab[a->dtype == MX_BFLOAT16][p->op],
                            memory_order_acquire)))
    tab = htab_get(p->op, a->dtype);
  uctx k = {fn,
            tab,
            p->op,
            p->decimals,
            a->dtype,
            mx_array_ptr(a),
            mx_array_ptr(o),
            (int64_t)mx_dtype_size(a->dtype),
            (int64_t)mx_dtype_size(o->dtype),
            mx_simd_level() > MX_SIMD_NONE && a->dtype == o->dtype &&
                (p->op != MX_UOP_ROUND || p->decimals == 0),
            o->size * (int64_t)mx_dtype_size(o->dtype) >= mx_simd_stream_bytes()};
  mx_ew_iter_parallel(&it, tab ? 1 << 15 : unary_grain(p->op), unary_run, &k);
  return MX_OK;
}

/* The value passes through unchanged: the output views the input. */
mx_status mx_cpu_stop_gradient(mx_node *nd, mx_array **in, mx_array **out) {
  (void)nd;
  mx_array_set_view(out[0], in[0], in[0]->strides, in[0]->offset);
  return MX_OK;
}
