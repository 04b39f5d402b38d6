/* random.c: CPU kernels of the random primitives: the Threefry-2x32 block
 * function, MLX's layout of the words drawn from a key, and the samplers.
 *
 * MLX builds each distribution out of separate ops (bits -> divide ->
 * minimum -> astype -> multiply -> add -> erfinv ...), each rounding its
 * result to the dtype it computes in. The samplers here fuse those steps but
 * round after every one exactly as MLX does (half types compute in float and
 * round after each op), and use the same approximations as MLX's CPU backend
 * for erfinv, erf and exp, so that one key gives MLX's numbers bit for bit.
 * Nothing here may be contracted into fused multiply-adds other than the
 * explicit fmaf calls (see the pragma below). */
#include "../../primitives/random.h"

/* Clang contracts a*b+c within one expression by default; MLX's results
 * depend on the separate roundings (GCC in ISO mode does not contract). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"
#include "iter.h"

/* ---- Threefry-2x32, 20 rounds ---- */

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

void mx_threefry2x32(const uint32_t key[2], const uint32_t ctr[2], uint32_t out[2]) {
  /* rotation constants of Threefry-2x32 (Salmon et al., SC'11), alternating
   * between two sets of four rounds; a key injection follows every four */
  static const int rot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const uint32_t ks[3] = {key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDAu};
  uint32_t x0 = ctr[0] + ks[0], x1 = ctr[1] + ks[1];
  for (int blk = 0; blk < 5; blk++) {
    for (int r = 0; r < 4; r++) {
      x0 += x1;
      x1 = rotl32(x1, rot[blk & 1][r]);
      x1 ^= x0;
    }
    x0 += ks[(blk + 1) % 3];
    x1 += ks[(blk + 2) % 3] + (uint32_t)blk + 1u;
  }
  out[0] = x0;
  out[1] = x1;
}

typedef struct {
  uint32_t key[2];
  uint32_t *w;
  int64_t half;
  int odd;
} words_ctx;

static void words_range(void *c, int64_t b, int64_t e) {
  words_ctx *p = c;
  for (int64_t j = b; j < e; j++) {
    uint32_t o[2];
    if (j < p->half) {
      /* counters are 32-bit in MLX (its size_t counters are narrowed) */
      const uint32_t ctr[2] = {(uint32_t)j, (uint32_t)(j + p->half + p->odd)};
      mx_threefry2x32(p->key, ctr, o);
      p->w[j] = o[0];
      p->w[j + p->half + p->odd] = o[1];
    } else {
      const uint32_t ctr[2] = {(uint32_t)p->half, 0};
      mx_threefry2x32(p->key, ctr, o);
      p->w[p->half] = o[0];
    }
  }
}

void mx_random_words(const uint32_t key[2], uint32_t *words, int64_t n) {
  if (n <= 0) return;
  words_ctx c = {{key[0], key[1]}, words, n / 2, (int)(n & 1)};
  mx_parallel_for(c.half + c.odd, 2048, words_range, &c);
}

static void read_key(const mx_array *k, uint32_t key[2]) {
  const uint32_t *p = mx_array_ptr(k);
  key[0] = p[0];
  key[1] = p[k->strides[0]];
}

/* Words for `n` elements: into `reuse` when given (a 4-byte output buffer),
 * else a malloc'd temporary (*owned set). NULL on allocation failure. */
static uint32_t *draw_words(const mx_array *key, int64_t n, void *reuse, bool *owned) {
  uint32_t k[2];
  read_key(key, k);
  uint32_t *w = reuse;
  *owned = false;
  if (!w) {
    w = malloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    if (!w) return NULL;
    *owned = true;
  }
  mx_random_words(k, w, n);
  return w;
}

mx_status mx_cpu_random_bits(mx_node *n, mx_array **in, mx_array **out) {
  mx_array *o = out[0];
  int width = MX_PARAMS(mx_random_bits_params, n)->width;
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  size_t nbytes = (size_t)o->size * (size_t)width;
  int64_t nwords = (int64_t)((nbytes + 3) / 4);
  bool owned;
  /* narrower widths take the first bytes of the words (little-endian, as
   * MLX's partial copy of the last word) */
  uint32_t *w = draw_words(in[0], nwords, width == 4 ? mx_array_ptr(o) : NULL, &owned);
  if (!w) return mx_set_error(MX_ERR_NOMEM, "[random_bits] out of memory");
  if (owned) {
    memcpy(mx_array_ptr(o), w, nbytes);
    free(w);
  }
  return MX_OK;
}

/* ---- MLX's float approximations (CPU backend) ---- */

/* Round a float to dtype t and back: how MLX's half-precision ops round each
 * result (computed in float). Identity for float32. */
static inline float rnd(float x, mx_dtype t) {
  if (t == MX_FLOAT16) return mx_f16_to_f32(mx_f32_to_f16(x));
  if (t == MX_BFLOAT16) return mx_bf16_to_f32(mx_f32_to_bf16(x));
  return x;
}

/* exp as MLX's CPU backend computes it (Cephes-style): 2^(x log2 e) split
 * into an integer power built in the exponent bits and a degree-6
 * polynomial for the fraction. Saturates outside [-88, 88]. */
static float exp_mlx(float x0) {
  if (isnan(x0)) return x0;
  if (x0 > 88.0f) return INFINITY;
  if (x0 < -88.0f) return 0.0f;
  float x = x0 * 1.442695f;
  /* MLX adds a double 0.5 here, so the sum (and floor) is exact */
  float ip = (float)floor((double)x + 0.5);
  float f = x - ip;
  float p = 1.535336188319500e-4f;
  p = fmaf(p, f, 1.339887440266574e-3f);
  p = fmaf(p, f, 9.618437357674640e-3f);
  p = fmaf(p, f, 5.550332471162809e-2f);
  p = fmaf(p, f, 2.402264791363012e-1f);
  p = fmaf(p, f, 6.931472028550421e-1f);
  p = fmaf(p, f, 1.0f);
  uint32_t ebits = (uint32_t)((int32_t)ip + 127) << 23;
  float e;
  memcpy(&e, &ebits, sizeof e);
  return e * p;
}

/* erf as MLX's CPU backend: Abramowitz & Stegun 7.1.26 with exp_mlx; the
 * result rounds to t before the sign is applied. x holds a value of t. */
static float erf_mlx(float x, mx_dtype t) {
  float v = x;
  float tt = 1.0f / fmaf(0.3275911f, fabsf(v), 1.0f);
  float r = fmaf(1.061405429f, tt, -1.453152027f);
  r = fmaf(r, tt, 1.421413741f);
  r = fmaf(r, tt, -0.284496736f);
  r = fmaf(r, tt, 0.254829592f);
  float e = -exp_mlx(-v * v);
  float res = rnd(fmaf(e * tt, r, 1.0f), t);
  return x > 0 ? res : -res;
}

/* Inverse error function: M. Giles' form with N. Juffa's single-precision
 * minimax polynomials in t = log(1 - a^2), the approximation MLX's CPU
 * backend uses (about 2.4 ulp). */
static float erfinv_mlx(float a) {
  float t = logf(fmaf(a, 0.0f - a, 1.0f));
  float p;
  if (fabsf(t) > 6.125f) {
    p = 3.03697567e-10f;
    p = fmaf(p, t, 2.93243101e-8f);
    p = fmaf(p, t, 1.22150334e-6f);
    p = fmaf(p, t, 2.84108955e-5f);
    p = fmaf(p, t, 3.93552968e-4f);
    p = fmaf(p, t, 3.02698812e-3f);
    p = fmaf(p, t, 4.83185798e-3f);
    p = fmaf(p, t, -2.64646143e-1f);
    p = fmaf(p, t, 8.40016484e-1f);
  } else {
    p = 5.43877832e-9f;
    p = fmaf(p, t, 1.43285448e-7f);
    p = fmaf(p, t, 1.22774793e-6f);
    p = fmaf(p, t, 1.12963626e-7f);
    p = fmaf(p, t, -5.61530760e-5f);
    p = fmaf(p, t, -1.47697632e-4f);
    p = fmaf(p, t, 2.31468678e-3f);
    p = fmaf(p, t, 1.15392581e-2f);
    p = fmaf(p, t, -2.32015476e-1f);
    p = fmaf(p, t, 8.86226892e-1f);
  }
  return a * p;
}

/* MLX's minimum/maximum for floats: a NaN first operand wins, otherwise the
 * comparison picks (so a NaN second operand comes through as well). */
static inline float min_mlx(float a, float b) { return isnan(a) ? a : (a < b ? a : b); }
static inline float max_mlx(float a, float b) { return isnan(a) ? a : (a > b ? a : b); }

/* The largest value below 1 in t: uniform samples are clamped to it so that
 * they stay below `high` after rounding to t. */
static float below_one(mx_dtype t) {
  if (t == MX_FLOAT16) return mx_f16_to_f32(0x3bff);
  if (t == MX_BFLOAT16) return mx_bf16_to_f32(0x3f7f);
  return nextafterf(1.0f, 0.0f);
}

/* MLX's uniform in [0, 1) before the cast to the output dtype:
 * minimum(bits / float32(UINT32_MAX), below_one). float32(UINT32_MAX) is
 * 2^32, and the uint32 -> float32 conversion rounds to nearest. */
static inline float unit_f32(uint32_t w, float upper) {
  float v = (float)w / 4294967296.0f;
  return min_mlx(v, upper);
}

/* uniform(lo, hi) in dtype t, given lo, hi already in t:
 * lo + (hi - lo) * astype(unit, t), rounded after each op. */
static inline float uniform_t(uint32_t w, float lo, float hi, float upper, mx_dtype t) {
  float range = rnd(hi - lo, t);
  float v = rnd(unit_f32(w, upper), t);
  return rnd(rnd(range * v, t) + lo, t);
}

/* ---- elementwise samplers ---- */

typedef struct {
  const mx_random_params *p;
  mx_dtype t;
  const uint32_t *w;
  char *dst;
  size_t isz;
  /* precomputed constants (values of t, held in float or double) */
  float lo, hi, upper, scale, loc, sqrt2, lo_t, up_t;
  double dscale, dloc;
  int64_t ilo, ihi; /* randint: clamp bounds as values of t */
  /* bernoulli: p strided over out's shape */
  const mx_array *pa;
  int64_t pstrides[MX_MAX_NDIM];
  const int *shape;
  int ndim;
} samp_ctx;

/* Float32 -> integer dtype the way MLX's astype does on x86: through a
 * 64-bit integer, then narrowed (wraps); bool is `!= 0`. */
static int64_t float_to_int_t(float f, mx_dtype t) {
  if (t == MX_BOOL) return f != 0;
  int64_t v;
  if (t == MX_UINT64 && f >= 9223372036854775808.0f)
    v = (int64_t)mx_f64_to_u64_sat(f);
  else
    v = mx_f64_to_i64_sat(f);
  return v;
}

/* Narrow a 64-bit integer to dtype t and read it back (two's complement
 * wrap, as C++ casts do). Unsigned 64-bit values come back as their bits. */
static int64_t wrap_int(int64_t v, mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return v != 0;
    case MX_UINT8:
      return (uint8_t)v;
    case MX_UINT16:
      return (uint16_t)v;
    case MX_UINT32:
      return (uint32_t)v;
    case MX_INT8:
      return (int8_t)v;
    case MX_INT16:
      return (int16_t)v;
    case MX_INT32:
      return (int32_t)v;
    default:
      return v;
  }
}

/* a < b for values of integer dtype t */
static inline bool int_less(int64_t a, int64_t b, mx_dtype t) {
  return t == MX_UINT64 ? (uint64_t)a < (uint64_t)b : a < b;
}

static void sample_range(void *c, int64_t b, int64_t e) {
  samp_ctx *s = c;
  const mx_random_params *p = s->p;
  mx_dtype t = s->t;
  for (int64_t i = b; i < e; i++) {
    uint32_t w = s->w[i];
    char *d = s->dst + i * (int64_t)s->isz;
    switch (p->kind) {
      case MX_RAND_UNIFORM:
        mx_store_f64(d, t, uniform_t(w, s->lo, s->hi, s->upper, t));
        break;
      case MX_RAND_NORMAL: {
        /* uniform(nextafter(-1, 0), 1) in float32, erfinv, then in t:
         * (sqrt2 * scale) * astype(erfinv) [+ loc] */
        float u = uniform_t(w, s->lo, s->hi, s->upper, MX_FLOAT32);
        float ei = erfinv_mlx(u);
        if (t == MX_FLOAT64) {
          double v = s->dscale * (double)ei;
          if (p->has_loc) v = s->dloc + v;
          *(double *)d = v;
        } else {
          float v = rnd(s->scale * rnd(ei, t), t);
          if (p->has_loc) v = rnd(s->loc + v, t);
          mx_store_f64(d, t, v);
        }
        break;
      }
      case MX_RAND_RANDINT: {
        float u = uniform_t(w, s->lo, s->hi, s->upper, MX_FLOAT32);
        int64_t v = wrap_int(float_to_int_t(floorf(u), t), t);
        if (int_less(s->ihi, v, t)) v = s->ihi; /* minimum(v, high - 1) */
        if (int_less(v, s->ilo, t)) v = s->ilo; /* maximum(v, low) */
        mx_store_i64(d, t, v);
        break;
      }
      case MX_RAND_GUMBEL: {
        float u = uniform_t(w, 0.0f, 1.0f, s->upper, t);
        float g = -rnd(logf(-rnd(logf(u), t)), t);
        mx_store_f64(d, t, g);
        break;
      }
      case MX_RAND_TRUNC_NORMAL: {
        /* u in [erf(lower/sqrt2), erf(upper/sqrt2)); sqrt2 * erfinv(u),
         * clipped: maximum(minimum(upper, x), lower) */
        float u = uniform_t(w, s->lo, s->hi, s->upper, t);
        float x = rnd(s->sqrt2 * rnd(erfinv_mlx(u), t), t);
        x = max_mlx(min_mlx(s->up_t, x), s->lo_t);
        mx_store_f64(d, t, x);
        break;
      }
      default:
        break;
    }
  }
}

/* bernoulli: bits < p * nextafter(2^32) compared in promote(p, float32);
 * elements visited in row-major order of out with p's broadcast strides. */
static void bernoulli_range(void *c, int64_t b, int64_t e) {
  samp_ctx *s = c;
  int idx[MX_MAX_NDIM];
  int64_t r = b, off = 0;
  for (int d = s->ndim - 1; d >= 0; d--) {
    idx[d] = (int)(r % s->shape[d]);
    r /= s->shape[d];
    off += idx[d] * s->pstrides[d];
  }
  const char *pp = mx_array_ptr(s->pa);
  mx_dtype pt = s->pa->dtype;
  size_t psz = mx_dtype_size(pt);
  const float upper = 4294967808.0f; /* nextafter(float(UINT32_MAX), +inf) */
  for (int64_t i = b; i < e; i++) {
    double pv = mx_load_f64(pp + off * (int64_t)psz, pt);
    bool v;
    if (pt == MX_FLOAT64)
      v = (double)s->w[i] < pv * (double)upper;
    else
      v = (float)s->w[i] < (float)pv * upper;
    ((uint8_t *)s->dst)[i] = v;
    for (int d = s->ndim - 1; d >= 0; d--) {
      off += s->pstrides[d];
      if (++idx[d] < s->shape[d]) break;
      off -= (int64_t)s->shape[d] * s->pstrides[d];
      idx[d] = 0;
    }
  }
}

mx_status mx_cpu_random(mx_node *n, mx_array **in, mx_array **out) {
  const mx_random_params *p = MX_PARAMS(mx_random_params, n);
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  mx_dtype t = o->dtype;
  size_t isz = mx_dtype_size(t);
  /* complex normal draws two words per element */
  int64_t nwords = t == MX_COMPLEX64 ? 2 * o->size : o->size;
  bool owned;
  uint32_t *w = draw_words(in[0], nwords, isz == 4 ? mx_array_ptr(o) : NULL, &owned);
  if (!w) return mx_set_error(MX_ERR_NOMEM, "[random] out of memory");

  samp_ctx s = {.p = p, .t = t, .w = w, .dst = mx_array_ptr(o), .isz = isz};
  switch (p->kind) {
    case MX_RAND_UNIFORM:
      s.lo = rnd((float)p->a, t);
      s.hi = rnd((float)p->b, t);
      s.upper = below_one(t);
      break;
    case MX_RAND_NORMAL:
      s.lo = nextafterf(-1.0f, 0.0f);
      s.hi = 1.0f;
      s.upper = below_one(MX_FLOAT32);
      if (t == MX_FLOAT64) {
        s.dscale = sqrt(2.0) * p->b;
        s.dloc = p->a;
      } else {
        s.scale = rnd(rnd((float)sqrt(2.0), t) * rnd((float)p->b, t), t);
        s.loc = rnd((float)p->a, t);
      }
      break;
    case MX_RAND_RANDINT:
      s.lo = (float)p->ia;
      s.hi = (float)p->ib;
      s.upper = below_one(MX_FLOAT32);
      s.ilo = wrap_int(p->ia, t);
      s.ihi = wrap_int((int64_t)((uint64_t)p->ib - 1u), t);
      break;
    case MX_RAND_GUMBEL:
      s.upper = below_one(t);
      break;
    case MX_RAND_TRUNC_NORMAL: {
      s.sqrt2 = rnd((float)sqrt(2.0), t);
      s.lo_t = rnd((float)p->a, t);
      s.up_t = rnd((float)p->b, t);
      s.lo = erf_mlx(rnd(s.lo_t / s.sqrt2, t), t);
      s.hi = erf_mlx(rnd(s.up_t / s.sqrt2, t), t);
      s.upper = below_one(t);
      break;
    }
    case MX_RAND_BERNOULLI:
      s.pa = in[1];
      s.shape = o->shape;
      s.ndim = o->ndim;
      mx_broadcast_strides(in[1], o->shape, o->ndim, s.pstrides);
      mx_parallel_for(o->size, 4096, bernoulli_range, &s);
      if (owned) free(w);
      return MX_OK;
    default:
      if (owned) free(w);
      return mx_set_error(MX_ERR_INVALID, "[random] unknown sampler %d", p->kind);
  }
  if (t == MX_COMPLEX64) {
    /* MLX: erfinv(uniform(nextafter(-1, 0), 1, shape + (2,))) viewed as
     * complex (no sqrt2: each part has variance 1/2), then
     * complex(scale) * z + complex(loc). */
    float lo = nextafterf(-1.0f, 0.0f), upper = below_one(MX_FLOAT32);
    float sc = (float)p->b, lc = (float)p->a;
    float *d = mx_array_ptr(o);
    for (int64_t i = 0; i < o->size; i++) {
      float re = erfinv_mlx(uniform_t(w[2 * i], lo, 1.0f, upper, MX_FLOAT32));
      float im = erfinv_mlx(uniform_t(w[2 * i + 1], lo, 1.0f, upper, MX_FLOAT32));
      if (sc != 1.0f) {
        float r2 = sc * re - 0.0f * im, i2 = sc * im + 0.0f * re;
        re = r2;
        im = i2;
      }
      if (p->has_loc) re = lc + re, im = 0.0f + im;
      d[2 * i] = re;
      d[2 * i + 1] = im;
    }
  } else {
    mx_parallel_for(o->size, 4096, sample_range, &s);
  }
  if (owned) free(w);
  return MX_OK;
}

/* ---- categorical ---- */

/* MLX's sort order for searchsorted: NaNs last. */
#define NAN_LESS(a, b) (isnan(a) ? false : (isnan(b) ? true : (a) < (b)))

/* Inverse-CDF draw from one distribution, in float (T = float) or double:
 * m = max(x); w = isinf(m) ? (x == m) : exp(x - m); cdf = exclusive cumsum;
 * u = uniform * sum(w); index = searchsorted(cdf, u, right) - 1. Sums run
 * in order, in T, as MLX's CPU reductions do. */
#define DEFINE_ICDF(NAME, T)                                                    \
  static mx_status NAME(const mx_array *lg, const int64_t *offs, int64_t n,     \
                        const uint32_t *w, uint32_t *dst, int64_t ns) {         \
    T *cdf = malloc((size_t)n * sizeof *cdf);                                   \
    if (!cdf) return mx_set_error(MX_ERR_NOMEM, "[categorical] out of memory"); \
    const char *base = mx_array_ptr(lg);                                        \
    size_t isz = mx_dtype_size(lg->dtype);                                      \
    T m = -INFINITY;                                                            \
    for (int64_t j = 0; j < n; j++) {                                           \
      T x = (T)mx_load_f64(base + offs[j] * (int64_t)isz, lg->dtype);           \
      cdf[j] = x;                                                               \
      m = isnan(m) ? m : (m > x ? m : x);                                       \
    }                                                                           \
    T acc = 0;                                                                  \
    for (int64_t j = 0; j < n; j++) {                                           \
      T x = cdf[j];                                                             \
      T wj = isinf(m) ? (T)(x == m) : (T)exp_mlx((float)(x - m));               \
      cdf[j] = acc;                                                             \
      acc = acc + wj;                                                           \
    }                                                                           \
    const float upper = below_one(MX_FLOAT32);                                  \
    for (int64_t i = 0; i < ns; i++) {                                          \
      T u = (T)unit_f32(w[i], upper) * acc;                                     \
      uint32_t lo = 0, hi = (uint32_t)n;                                        \
      while (lo < hi) {                                                         \
        uint32_t mid = lo + (hi - lo) / 2;                                      \
        if (!NAN_LESS(u, cdf[mid]))                                             \
          lo = mid + 1;                                                         \
        else                                                                    \
          hi = mid;                                                             \
      }                                                                         \
      dst[i] = lo - 1u;                                                         \
    }                                                                           \
    free(cdf);                                                                  \
    return MX_OK;                                                               \
  }
DEFINE_ICDF(icdf_f32, float)
DEFINE_ICDF(icdf_f64, double)

typedef struct {
  const mx_array *lg;
  const float *g; /* gumbel noise over G, row-major */
  uint32_t *dst;
  int ond; /* output ndim */
  int oshape[MX_MAX_NDIM];
  int64_t gstr[MX_MAX_NDIM], lstr[MX_MAX_NDIM]; /* per output axis */
  int64_t gax, lax;                             /* strides of the category axis */
  int64_t ncat;
} gumbel_ctx;

static void gumbel_argmax_range(void *c, int64_t b, int64_t e) {
  gumbel_ctx *s = c;
  const char *base = mx_array_ptr(s->lg);
  mx_dtype lt = s->lg->dtype;
  size_t isz = mx_dtype_size(lt);
  for (int64_t o = b; o < e; o++) {
    int64_t r = o, goff = 0, loff = 0;
    for (int d = s->ond - 1; d >= 0; d--) {
      int64_t i = r % s->oshape[d];
      r /= s->oshape[d];
      goff += i * s->gstr[d];
      loff += i * s->lstr[d];
    }
    /* argmax of g + logits (promoted to float32, or float64 logits): first
     * maximum wins; a NaN first value is never replaced (MLX ArgMax) */
    uint32_t best_i = 0;
    if (lt == MX_FLOAT64) {
      double best = 0;
      for (int64_t k = 0; k < s->ncat; k++) {
        double v = (double)s->g[goff + k * s->gax] +
                   *(const double *)(base + (loff + k * s->lax) * (int64_t)isz);
        if (k == 0)
          best = v;
        else if (v > best)
          best = v, best_i = (uint32_t)k;
      }
    } else {
      float best = 0;
      for (int64_t k = 0; k < s->ncat; k++) {
        float v = s->g[goff + k * s->gax] +
                  (float)mx_load_f64(base + (loff + k * s->lax) * (int64_t)isz, lt);
        if (k == 0)
          best = v;
        else if (v > best)
          best = v, best_i = (uint32_t)k;
      }
    }
    s->dst[o] = best_i;
  }
}

mx_status mx_cpu_random_categorical(mx_node *n, mx_array **in, mx_array **out) {
  const mx_categorical_params *p = MX_PARAMS(mx_categorical_params, n);
  mx_array *o = out[0], *lg = in[1];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  uint32_t *dst = mx_array_ptr(o);
  int64_t ncat = lg->shape[p->axis];

  if (p->inverse_cdf) {
    /* logits hold ncat elements: element offsets in row-major order */
    int64_t *offs = malloc((size_t)ncat * sizeof *offs);
    bool owned;
    uint32_t *w = offs ? draw_words(in[0], o->size, dst, &owned) : NULL;
    if (!w) {
      free(offs);
      return mx_set_error(MX_ERR_NOMEM, "[categorical] out of memory");
    }
    for (int64_t j = 0; j < ncat; j++) {
      int64_t r = j, off = 0;
      for (int d = lg->ndim - 1; d >= 0; d--) {
        off += (r % lg->shape[d]) * lg->strides[d];
        r /= lg->shape[d];
      }
      offs[j] = off;
    }
    /* w aliases dst: each draw reads its word before writing the index */
    rc = lg->dtype == MX_FLOAT64 ? icdf_f64(lg, offs, ncat, w, dst, o->size)
                                 : icdf_f32(lg, offs, ncat, w, dst, o->size);
    free(offs);
    return rc;
  }

  /* gumbel-max: G = out shape with the category axis inserted at p->axis */
  int gnd = o->ndim + 1;
  int gshape[MX_MAX_NDIM + 1];
  for (int d = 0, k = 0; d < gnd; d++)
    gshape[d] = d == p->axis ? (int)ncat : o->shape[k++];
  int64_t gsize = mx_shape_size(gshape, gnd);
  int64_t gstr[MX_MAX_NDIM + 1], lstr[MX_MAX_NDIM + 1];
  mx_row_strides(gshape, gnd, gstr);
  /* logits strides in G's frame; with num_samples G's last axis is the
   * sample axis, along which logits broadcast */
  for (int d = 0; d < gnd; d++) {
    if (p->num_samples && d == gnd - 1)
      lstr[d] = 0;
    else
      lstr[d] = lg->shape[d] == 1 ? 0 : lg->strides[d];
  }
  bool owned;
  uint32_t *w = draw_words(in[0], gsize, NULL, &owned);
  if (!w) return mx_set_error(MX_ERR_NOMEM, "[categorical] out of memory");
  /* gumbel noise in float32, in place: -log(-log(uniform)) */
  float *g = (float *)w;
  const float upper = below_one(MX_FLOAT32);
  for (int64_t i = 0; i < gsize; i++) {
    float u = unit_f32(w[i], upper);
    g[i] = -logf(-logf(u));
  }
  gumbel_ctx s = {.lg = lg, .g = g, .dst = dst, .ond = o->ndim, .ncat = ncat};
  for (int d = 0, k = 0; d < gnd; d++) {
    if (d == p->axis) {
      s.gax = gstr[d];
      s.lax = lstr[d];
      continue;
    }
    s.oshape[k] = gshape[d];
    s.gstr[k] = gstr[d];
    s.lstr[k] = lstr[d];
    k++;
  }
  mx_parallel_for(o->size, 256, gumbel_argmax_range, &s);
  free(w);
  return MX_OK;
}

/* ---- permutation ---- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* argsort (stable) of n random words: sorting (word << 32 | index) orders
 * equal words by index, as std::stable_sort does. */
static mx_status random_perm(const mx_array *key, int64_t n, uint32_t *perm) {
  uint64_t *kv = malloc((size_t)(n > 0 ? n : 1) * sizeof *kv);
  if (!kv) return mx_set_error(MX_ERR_NOMEM, "[permutation] out of memory");
  uint32_t k[2];
  read_key(key, k);
  mx_random_words(k, perm, n);
  for (int64_t i = 0; i < n; i++) kv[i] = (uint64_t)perm[i] << 32 | (uint64_t)i;
  qsort(kv, (size_t)n, sizeof *kv, cmp_u64);
  for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)kv[i];
  free(kv);
  return MX_OK;
}

mx_status mx_cpu_random_permutation(mx_node *n, mx_array **in, mx_array **out) {
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (n->nin == 1) return o->size ? random_perm(in[0], o->size, mx_array_ptr(o)) : MX_OK;

  /* shuffle a along axis: out[..., i, ...] = a[..., perm[i], ...] */
  mx_array *a = in[1];
  int axis = MX_PARAMS(mx_permutation_params, n)->axis;
  int64_t len = a->shape[axis];
  if (o->size == 0) return MX_OK;
  uint32_t *perm = malloc((size_t)len * sizeof *perm);
  size_t isz = mx_dtype_size(a->dtype);
  char *src = a->row_contiguous ? NULL : malloc((size_t)a->size * isz);
  if (!perm || (!a->row_contiguous && !src)) {
    free(perm);
    free(src);
    return mx_set_error(MX_ERR_NOMEM, "[permutation] out of memory");
  }
  rc = random_perm(in[0], len, perm);
  if (rc == MX_OK) {
    if (src) mx_copy_strided(a, src);
    const char *s = src ? src : mx_array_ptr(a);
    int64_t outer = mx_shape_size(a->shape, axis);
    size_t inner = (size_t)mx_shape_size(a->shape + axis + 1, a->ndim - axis - 1) * isz;
    char *d = mx_array_ptr(o);
    for (int64_t b = 0; b < outer; b++)
      for (int64_t i = 0; i < len; i++)
        memcpy(d + (size_t)(b * len + i) * inner, s + (size_t)(b * len + perm[i]) * inner,
               inner);
  }
  free(perm);
  free(src);
  return rc;
}
