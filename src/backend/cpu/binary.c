/* binary.c: CPU kernels of the binary family, select (where) and
 * all_compare (allclose, array_equal).
 *
 * One plain C body (binary_impl.inc) is instantiated for every dtype; the
 * operands are broadcast views of the output's shape and go through mx_iter
 * (dimensions merged, runs split across the pool). Contiguous or
 * scalar-broadcast float32/bfloat16/float16 runs of add, subtract,
 * multiply, divide, maximum and minimum take the vector path (simd.h). */
/* Let GCC vectorise the plain C loops (the build's -O2 uses the cheapest
 * cost model, which leaves loops with a remainder scalar). */
#ifndef __clang__
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

#include "../../primitives/binary.h"

#include <complex.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "dtypes.h"
#include "ew_common.h"
#include "iter.h"
#include "simd.h"

/* ---- scalar helpers ---- */

/* Python's a // b; b == 0 gives 0, and INT64_MIN // -1 wraps. */
static inline int64_t ew_floordiv_i64(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return (int64_t)(0u - (uint64_t)a);
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Python's a % b (sign of b); b == 0 gives 0. */
static inline int64_t ew_mod_i64(int64_t a, int64_t b) {
  if (b == 0 || b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

/* base^e by squaring, wrapping modulo 2^64 (the low bits are right for
 * every narrower type, signed or not). */
static inline uint64_t ew_pow_u64(uint64_t base, uint64_t e) {
  uint64_t r = 1;
  while (e) {
    if (e & 1) r *= base;
    e >>= 1;
    base *= base;
  }
  return r;
}

/* Float helpers for float (suffix f) and double (suffix d) compute types.
 * maximum/minimum: MLX's rule, NaN in either operand gives NaN. remainder:
 * fmod moved to the divisor's sign (numpy, Python). */
#define EW_FLOAT_HELPERS(C, S, F)                                                 \
  static inline C ew_max_##S(C x, C y) { return isnan(x) ? x : (x > y ? x : y); } \
  static inline C ew_min_##S(C x, C y) { return isnan(x) ? x : (x < y ? x : y); } \
  static inline C ew_mod_##S(C x, C y) {                                          \
    C r = fmod##F(x, y);                                                          \
    if (r != 0 && ((r < 0) != (y < 0))) r += y;                                   \
    if (r == 0) r = copysign##F(0, y);                                            \
    return r;                                                                     \
  }
EW_FLOAT_HELPERS(float, f, f)
EW_FLOAT_HELPERS(double, d, )

/* logaddexp: MLX's form, exact for infinite operands. hi + log1p(...)
 * cancels when the result is near 0, so float inputs compute in double. */
static inline double ew_lae_d(double x, double y) {
  double hi = ew_max_d(x, y), lo = ew_min_d(x, y);
  if (lo == -INFINITY || hi == INFINITY) return hi;
  return hi + log1p(exp(lo - hi));
}
static inline float ew_lae_f(float x, float y) { return (float)ew_lae_d(x, y); }

/* |a - b| <= atol + rtol |b|, infinities equal only to themselves, NaN
 * equal to NaN only with equal_nan (MLX isclose). */
static inline bool ew_isclose(double x, double y, double rtol, double atol, int eqn) {
  if (isnan(x) || isnan(y)) return eqn && isnan(x) && isnan(y);
  if (isinf(x) || isinf(y)) return x == y;
  return fabs(x - y) <= atol + rtol * fabs(y);
}

static inline bool ew_cnan(mx_c64 x) { return isnan(crealf(x)) || isnan(cimagf(x)); }

static inline bool ew_isclose_c(mx_c64 x, mx_c64 y, double rtol, double atol, int eqn) {
  bool xn = ew_cnan(x), yn = ew_cnan(y);
  if (xn || yn) return eqn && xn && yn;
  double xr = crealf(x), xi = cimagf(x), yr = crealf(y), yi = cimagf(y);
  if (isinf(xr) || isinf(xi) || isinf(yr) || isinf(yi)) return xr == yr && xi == yi;
  return hypot(xr - yr, xi - yi) <= atol + rtol * hypot(yr, yi);
}

/* ---- the per-dtype kernels ---- */

/* o[i * so] = EXPR(x, y) over a run; x, y are the loaded elements */
#define B_LOOP(OT, EXPR)                                   \
  do {                                                     \
    const EW_T *A_ = (const EW_T *)(const void *)ap;       \
    const EW_T *B_ = (const EW_T *)(const void *)bp;       \
    OT *O_ = (OT *)(void *)op;                             \
    if (sa == 1 && sb == 1 && so == 1) {                   \
      for (int64_t i = 0; i < n; i++) {                    \
        EW_C x = EW_LD(A_[i]), y = EW_LD(B_[i]);           \
        O_[i] = (EXPR);                                    \
      }                                                    \
    } else if (sa == 1 && sb == 0 && so == 1) {            \
      const EW_C y = EW_LD(B_[0]);                         \
      for (int64_t i = 0; i < n; i++) {                    \
        EW_C x = EW_LD(A_[i]);                             \
        O_[i] = (EXPR);                                    \
      }                                                    \
    } else {                                               \
      for (int64_t i = 0; i < n; i++) {                    \
        EW_C x = EW_LD(A_[i * sa]), y = EW_LD(B_[i * sb]); \
        O_[i * so] = (EXPR);                               \
      }                                                    \
    }                                                      \
  } while (0)

typedef bool (*binary_fn)(const mx_binary_params *p, int64_t n, const char *a, int64_t sa,
                          const char *b, int64_t sb, char *o, int64_t so);

#define EW_IMPL "binary_impl.inc"
#include "ew_dtypes.inc"

static const binary_fn k_binary[MX_NUM_DTYPES] = EW_TABLE(binary_);

static binary_fn binary_kernel(const mx_binary_params *p, mx_dtype t) {
  binary_fn fn = (unsigned)t < MX_NUM_DTYPES ? k_binary[t] : NULL;
  if (!fn || !fn(p, 0, NULL, 1, NULL, 1, NULL, 1)) {
    mx_set_error(MX_ERR_UNSUPPORTED, "[%s] not supported for %s",
                 mx_binary_op_name(p->op), mx_dtype_name(t));
    return NULL;
  }
  return fn;
}

/* ---- binary ---- */

typedef struct {
  binary_fn fn;
  const mx_binary_params *p;
  mx_dtype t;
  const char *a, *b;
  char *o;
  int64_t isz, osz;
  bool simd, stream;
} bctx;

static void binary_run(void *c, int64_t n, const int64_t *offs, const int64_t *is) {
  const bctx *k = c;
  const char *a = k->a + offs[0] * k->isz, *b = k->b + offs[1] * k->isz;
  char *o = k->o + offs[2] * k->osz;
  if (k->simd && is[2] == 1 &&
      mx_simd_binary(k->p->op, k->t, n, a, is[0], b, is[1], o, k->stream))
    return;
  k->fn(k->p, n, a, is[0], b, is[1], o, is[2]);
}

static int64_t binary_grain(int op) {
  switch (op) {
    case MX_BOP_POWER:
    case MX_BOP_ARCTAN2:
    case MX_BOP_LOGADDEXP:
    case MX_BOP_REMAINDER:
    case MX_BOP_FLOOR_DIVIDE:
      return 1 << 11;
    default:
      return 1 << 15;
  }
}

mx_status mx_cpu_binary(mx_node *nd, mx_array **in, mx_array **out) {
  const mx_binary_params *p = MX_PARAMS(mx_binary_params, nd);
  mx_array *a = in[0], *b = in[1], *o = out[0];
  if (a->dtype != b->dtype)
    return mx_set_error(MX_ERR_INVALID, "[%s] operand dtypes differ (%s, %s)",
                        mx_binary_op_name(p->op), mx_dtype_name(a->dtype),
                        mx_dtype_name(b->dtype));
  binary_fn fn = binary_kernel(p, a->dtype);
  if (!fn) return MX_ERR_UNSUPPORTED;
  mx_status rc = mx_ew_alloc_out(o, in, 2);
  if (rc != MX_OK || o->size == 0) return rc;
  int64_t sa[MX_MAX_NDIM], sb[MX_MAX_NDIM];
  mx_broadcast_strides(a, o->shape, o->ndim, sa);
  mx_broadcast_strides(b, o->shape, o->ndim, sb);
  const int64_t *strides[3] = {sa, sb, o->strides};
  mx_iter it;
  mx_ew_iter_init(&it, o, 3, strides);
  bctx k = {fn,
            p,
            a->dtype,
            mx_array_ptr(a),
            mx_array_ptr(b),
            mx_array_ptr(o),
            (int64_t)mx_dtype_size(a->dtype),
            (int64_t)mx_dtype_size(o->dtype),
            mx_simd_level() > MX_SIMD_NONE && o->dtype == a->dtype,
            o->size * (int64_t)mx_dtype_size(o->dtype) >= mx_simd_stream_bytes()};
  mx_ew_iter_parallel(&it, binary_grain(p->op), binary_run, &k);
  return MX_OK;
}

/* ---- select ---- */

typedef struct {
  const uint8_t *c;
  const char *x, *y;
  char *o;
  size_t isz;
} sctx;

/* Moves whole elements of the dtype's size (T: an unsigned integer of
 * that size, loaded and stored through memcpy): one body for every dtype.
 * The contiguous form is a branch-free select GCC vectorises. */
#define SEL_LOOP(T)                                             \
  do {                                                          \
    const int64_t tsz = (int64_t)sizeof(T);                     \
    if (is[0] == 1 && is[1] == 1 && is[2] == 1 && is[3] == 1) { \
      for (int64_t i = 0; i < n; i++) {                         \
        T xv, yv;                                               \
        memcpy(&xv, x + i * tsz, sizeof xv);                    \
        memcpy(&yv, y + i * tsz, sizeof yv);                    \
        T r = c[i] ? xv : yv;                                   \
        memcpy(o + i * tsz, &r, sizeof r);                      \
      }                                                         \
    } else {                                                    \
      for (int64_t i = 0; i < n; i++) {                         \
        T xv, yv;                                               \
        memcpy(&xv, x + i * is[1] * tsz, sizeof xv);            \
        memcpy(&yv, y + i * is[2] * tsz, sizeof yv);            \
        T r = c[i * is[0]] ? xv : yv;                           \
        memcpy(o + i * is[3] * tsz, &r, sizeof r);              \
      }                                                         \
    }                                                           \
  } while (0)

static void select_run(void *ctx, int64_t n, const int64_t *offs, const int64_t *is) {
  const sctx *k = ctx;
  const int64_t sz = (int64_t)k->isz;
  const uint8_t *c = k->c + offs[0];
  const char *x = k->x + offs[1] * sz, *y = k->y + offs[2] * sz;
  char *o = k->o + offs[3] * sz;
  switch (sz) {
    case 1:
      SEL_LOOP(uint8_t);
      break;
    case 2:
      SEL_LOOP(uint16_t);
      break;
    case 4:
      SEL_LOOP(uint32_t);
      break;
    default:
      SEL_LOOP(uint64_t);
      break;
  }
}

mx_status mx_cpu_select(mx_node *nd, mx_array **in, mx_array **out) {
  (void)nd;
  mx_array *c = in[0], *x = in[1], *y = in[2], *o = out[0];
  if (c->dtype != MX_BOOL || x->dtype != o->dtype || y->dtype != o->dtype)
    return mx_set_error(MX_ERR_INVALID, "[where] bad operand dtypes");
  mx_status rc = mx_ew_alloc_out(o, in, 3);
  if (rc != MX_OK || o->size == 0) return rc;
  int64_t sc[MX_MAX_NDIM], sx[MX_MAX_NDIM], sy[MX_MAX_NDIM];
  mx_broadcast_strides(c, o->shape, o->ndim, sc);
  mx_broadcast_strides(x, o->shape, o->ndim, sx);
  mx_broadcast_strides(y, o->shape, o->ndim, sy);
  const int64_t *strides[4] = {sc, sx, sy, o->strides};
  mx_iter it;
  mx_ew_iter_init(&it, o, 4, strides);
  sctx k = {mx_array_ptr(c), mx_array_ptr(x), mx_array_ptr(y), mx_array_ptr(o),
            mx_dtype_size(o->dtype)};
  mx_ew_iter_parallel(&it, 1 << 15, select_run, &k);
  return MX_OK;
}

/* ---- all_compare ---- */

typedef struct {
  binary_fn fn;
  const mx_binary_params *p;
  const char *a, *b;
  int64_t isz;
  atomic_int all; /* stays 1 until some element compares false */
} actx;

static void all_run(void *ctx, int64_t n, const int64_t *offs, const int64_t *is) {
  actx *k = ctx;
  uint8_t buf[1024];
  for (int64_t i = 0; i < n; i += (int64_t)sizeof buf) {
    if (!atomic_load_explicit(&k->all, memory_order_relaxed)) return;
    int64_t m = n - i < (int64_t)sizeof buf ? n - i : (int64_t)sizeof buf;
    k->fn(k->p, m, k->a + (offs[0] + i * is[0]) * k->isz, is[0],
          k->b + (offs[1] + i * is[1]) * k->isz, is[1], (char *)buf, 1);
    for (int64_t j = 0; j < m; j++)
      if (!buf[j]) {
        atomic_store(&k->all, 0);
        return;
      }
  }
}

mx_status mx_cpu_all_compare(mx_node *nd, mx_array **in, mx_array **out) {
  const mx_binary_params *p = MX_PARAMS(mx_binary_params, nd);
  mx_array *a = in[0], *b = in[1], *o = out[0];
  const char *name = p->op == MX_BOP_ISCLOSE ? "allclose" : "array_equal";
  if (a->dtype != b->dtype || o->dtype != MX_BOOL ||
      (p->op != MX_BOP_ISCLOSE && p->op != MX_BOP_EQUAL))
    return mx_set_error(MX_ERR_INVALID, "[%s] bad operands", name);
  binary_fn fn = binary_kernel(p, a->dtype);
  if (!fn) return MX_ERR_UNSUPPORTED;
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  /* a and b are broadcast views of one shape: iterate over it */
  int64_t sa[MX_MAX_NDIM], sb[MX_MAX_NDIM];
  mx_broadcast_strides(a, a->shape, a->ndim, sa);
  mx_broadcast_strides(b, a->shape, a->ndim, sb);
  const int64_t *strides[2] = {sa, sb};
  mx_iter it;
  mx_iter_init(&it, a->shape, a->ndim, 2, strides);
  actx k = {fn, p, mx_array_ptr(a), mx_array_ptr(b), (int64_t)mx_dtype_size(a->dtype), 1};
  mx_ew_iter_parallel(&it, 1 << 15, all_run, &k);
  *(uint8_t *)mx_array_ptr(o) = (uint8_t)atomic_load(&k.all);
  return MX_OK;
}
