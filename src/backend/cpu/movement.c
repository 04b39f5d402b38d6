/* movement.c: see movement.h. Data movement is dtype-agnostic: copies move
 * element-sized bytes (one body for every dtype); only the scatter combine
 * modes need arithmetic, instantiated per dtype family from one body. */
#include "movement.h"

#include <string.h>

#include "dtypes.h"
#include "iter.h"

/* ---- strided copy ---- */

typedef struct {
  char *dst;
  const char *src;
  size_t dsz, ssz;
  mx_dtype dt, st;
} copy_ctx;

/* Same-size element copy; SZ is a constant so memcpy becomes one move. */
#define COPY_ELEMS(SZ)            \
  for (int64_t i = 0; i < n; i++) \
    memcpy(d + i * is[0] * (SZ), s + i * is[1] * (SZ), (SZ));

static void copy_run(void *c, int64_t n, const int64_t *offs, const int64_t *is) {
  copy_ctx *p = c;
  char *d = p->dst + offs[0] * (int64_t)p->dsz;
  const char *s = p->src + offs[1] * (int64_t)p->ssz;
  if (p->dt == p->st) {
    if (is[0] == 1 && is[1] == 1) {
      memcpy(d, s, (size_t)n * p->dsz);
      return;
    }
    switch (p->dsz) {
      case 1:
        COPY_ELEMS(1);
        return;
      case 2:
        COPY_ELEMS(2);
        return;
      case 4:
        COPY_ELEMS(4);
        return;
      default:
        COPY_ELEMS(8);
        return;
    }
  }
  bool ints = mx_dtype_is_integer(p->st) && mx_dtype_is_integer(p->dt);
  for (int64_t i = 0; i < n; i++) {
    const char *sp = s + i * is[1] * (int64_t)p->ssz;
    char *dp = d + i * is[0] * (int64_t)p->dsz;
    if (ints)
      mx_store_i64(dp, p->dt, mx_load_i64(sp, p->st));
    else
      mx_store_f64(dp, p->dt, mx_load_f64(sp, p->st));
  }
}

void mx_cpu_copy_nd(char *dst, const int64_t *dst_strides, mx_dtype dt, const char *src,
                    const int64_t *src_strides, mx_dtype st, const int *shape, int ndim) {
  if (mx_shape_size(shape, ndim) == 0) return;
  const int64_t *strides[2] = {dst_strides, src_strides};
  mx_iter it;
  mx_iter_init(&it, shape, ndim, 2, strides);
  copy_ctx c = {dst, src, mx_dtype_size(dt), mx_dtype_size(st), dt, st};
  mx_iter_parallel(&it, 1 << 16, copy_run, &c);
}

void mx_cpu_copy_runs(const mx_iter *it, char *dst, const char *src, size_t isz) {
  copy_ctx c = {dst, src, isz, isz, MX_UINT8, MX_UINT8};
  mx_iter_runs(it, 0, mx_iter_num_runs(it), copy_run, &c);
}

void mx_cpu_copy_array_to(char *dst, const int64_t *dst_strides, mx_dtype dt,
                          const mx_array *src, const int *shape, int ndim) {
  int64_t ss[MX_MAX_NDIM];
  mx_broadcast_strides(src, shape, ndim, ss);
  mx_cpu_copy_nd(dst, dst_strides, dt, mx_array_ptr(src), ss, src->dtype, shape, ndim);
}

/* ---- indices ---- */

typedef struct {
  const char *src;
  size_t isz;
  mx_dtype t;
  int64_t *dst;
  int64_t dim, span;
  bool bad;
  int64_t bad_value;
} index_ctx;

static void index_run(void *c, int64_t n, const int64_t *offs, const int64_t *is) {
  index_ctx *p = c;
  if (p->bad) return;
  int64_t hi = p->dim - p->span;
  for (int64_t i = 0; i < n; i++) {
    int64_t v = mx_cpu_load_index(p->src + (offs[0] + i * is[0]) * (int64_t)p->isz, p->t);
    int64_t w = v < 0 ? v + p->dim : v;
    if (w < 0 || w > hi) {
      p->bad = true;
      p->bad_value = v;
      return;
    }
    if (p->dst) p->dst[offs[1] + i * is[1]] = w;
  }
}

static mx_status index_error(const index_ctx *c, const char *op) {
  if (c->span == 1)
    return mx_set_error(MX_ERR_INVALID,
                        "[%s] index %lld out of range for axis of size %lld", op,
                        (long long)c->bad_value, (long long)c->dim);
  return mx_set_error(MX_ERR_INVALID,
                      "[%s] index %lld out of range for axis of size %lld with slice "
                      "size %lld",
                      op, (long long)c->bad_value, (long long)c->dim, (long long)c->span);
}

/* Serial on purpose: the first bad index in row-major order is reported, so
 * the message does not depend on thread timing. */
mx_status mx_cpu_load_indices(const mx_array *idx, const int *shape, int ndim,
                              int64_t dim, int64_t span, const char *op, int64_t *dst) {
  int64_t is[MX_MAX_NDIM], ds[MX_MAX_NDIM];
  mx_broadcast_strides(idx, shape, ndim, is);
  mx_row_strides(shape, ndim, ds);
  const int64_t *strides[2] = {is, ds};
  mx_iter it;
  mx_iter_init(&it, shape, ndim, 2, strides);
  index_ctx c = {
      mx_array_ptr(idx), mx_dtype_size(idx->dtype), idx->dtype, dst, dim, span, false, 0};
  mx_iter_runs(&it, 0, mx_iter_num_runs(&it), index_run, &c);
  return c.bad ? index_error(&c, op) : MX_OK;
}

mx_status mx_cpu_check_indices(const mx_array *idx, int64_t dim, const char *op) {
  int64_t zero[MX_MAX_NDIM] = {0};
  const int64_t *strides[2] = {idx->strides, zero};
  mx_iter it;
  mx_iter_init(&it, idx->shape, idx->ndim, 2, strides);
  index_ctx c = {
      mx_array_ptr(idx), mx_dtype_size(idx->dtype), idx->dtype, NULL, dim, 1, false, 0};
  mx_iter_runs(&it, 0, mx_iter_num_runs(&it), index_run, &c);
  return c.bad ? index_error(&c, op) : MX_OK;
}

/* ---- scatter combine ---- */

/* Loop over n elements applying EXPR (reads x = dst, y = src, writes r). */
#define COMBINE_LOOP(T, CT, GET, MAKE, EXPR)                 \
  for (int64_t i = 0; i < n; i++) {                          \
    T xs, ys;                                                \
    memcpy(&xs, d + i * ds * (int64_t)sizeof(T), sizeof(T)); \
    memcpy(&ys, s + i * ss * (int64_t)sizeof(T), sizeof(T)); \
    CT x = GET(xs), y = GET(ys), r;                          \
    (void)x; /* unused by set */                             \
    EXPR;                                                    \
    T rs = MAKE(r);                                          \
    memcpy(d + i * ds * (int64_t)sizeof(T), &rs, sizeof(T)); \
  }

#define IDENT(v) (v)

/* Integers: add and multiply wrap (computed unsigned, no UB). */
#define DEF_COMBINE_INT(T, SFX)                                                        \
  static void combine_##SFX(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, \
                            int mode) {                                                \
    switch (mode) {                                                                    \
      case MX_SCATTER_ADD:                                                             \
        COMBINE_LOOP(T, T, IDENT, IDENT, r = (T)((uint64_t)x + (uint64_t)y)) break;    \
      case MX_SCATTER_MAX:                                                             \
        COMBINE_LOOP(T, T, IDENT, IDENT, r = x > y ? x : y) break;                     \
      case MX_SCATTER_MIN:                                                             \
        COMBINE_LOOP(T, T, IDENT, IDENT, r = x < y ? x : y) break;                     \
      case MX_SCATTER_PROD:                                                            \
        COMBINE_LOOP(T, T, IDENT, IDENT, r = (T)((uint64_t)x * (uint64_t)y)) break;    \
      default:                                                                         \
        COMBINE_LOOP(T, T, IDENT, IDENT, r = y) break;                                 \
    }                                                                                  \
  }

/* Floats: computed in float (halves) or natively; max/min propagate NaN like
 * numpy's maximum/minimum. */
#define DEF_COMBINE_FLOAT(T, SFX, CT, GET, MAKE)                                       \
  static void combine_##SFX(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, \
                            int mode) {                                                \
    switch (mode) {                                                                    \
      case MX_SCATTER_ADD:                                                             \
        COMBINE_LOOP(T, CT, GET, MAKE, r = x + y) break;                               \
      case MX_SCATTER_MAX:                                                             \
        COMBINE_LOOP(T, CT, GET, MAKE, r = (x > y || x != x) ? x : y) break;           \
      case MX_SCATTER_MIN:                                                             \
        COMBINE_LOOP(T, CT, GET, MAKE, r = (x < y || x != x) ? x : y) break;           \
      case MX_SCATTER_PROD:                                                            \
        COMBINE_LOOP(T, CT, GET, MAKE, r = x * y) break;                               \
      default:                                                                         \
        COMBINE_LOOP(T, CT, GET, MAKE, r = y) break;                                   \
    }                                                                                  \
  }

DEF_COMBINE_INT(uint8_t, u8)
DEF_COMBINE_INT(uint16_t, u16)
DEF_COMBINE_INT(uint32_t, u32)
DEF_COMBINE_INT(uint64_t, u64)
DEF_COMBINE_INT(int8_t, i8)
DEF_COMBINE_INT(int16_t, i16)
DEF_COMBINE_INT(int32_t, i32)
DEF_COMBINE_INT(int64_t, i64)
DEF_COMBINE_FLOAT(mx_f16, f16, float, mx_f16_get, mx_f16_make)
DEF_COMBINE_FLOAT(mx_bf16, bf16, float, mx_bf16_get, mx_bf16_make)
DEF_COMBINE_FLOAT(float, f32, float, IDENT, IDENT)
DEF_COMBINE_FLOAT(double, f64, double, IDENT, IDENT)

/* complex64: max/min order lexicographically (real, then imaginary), as
 * numpy does. */
static bool c64_greater(mx_c64 a, mx_c64 b) {
  return crealf(a) > crealf(b) || (crealf(a) == crealf(b) && cimagf(a) > cimagf(b));
}
static void combine_c64(char *d, int64_t ds, const char *s, int64_t ss, int64_t n,
                        int mode) {
  switch (mode) {
    case MX_SCATTER_ADD:
      COMBINE_LOOP(mx_c64, mx_c64, IDENT, IDENT, r = x + y) break;
    case MX_SCATTER_MAX:
      COMBINE_LOOP(mx_c64, mx_c64, IDENT, IDENT, r = c64_greater(y, x) ? y : x) break;
    case MX_SCATTER_MIN:
      COMBINE_LOOP(mx_c64, mx_c64, IDENT, IDENT, r = c64_greater(x, y) ? y : x) break;
    case MX_SCATTER_PROD:
      COMBINE_LOOP(mx_c64, mx_c64, IDENT, IDENT, r = x * y) break;
    default:
      COMBINE_LOOP(mx_c64, mx_c64, IDENT, IDENT, r = y) break;
  }
}

void mx_cpu_combine(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, mx_dtype t,
                    int mode) {
  switch (t) {
    case MX_BOOL:
      /* values are 0/1: add = or = max, prod = and = min */
      if (mode == MX_SCATTER_ADD) mode = MX_SCATTER_MAX;
      if (mode == MX_SCATTER_PROD) mode = MX_SCATTER_MIN;
      combine_u8(d, ds, s, ss, n, mode);
      break;
    case MX_UINT8:
      combine_u8(d, ds, s, ss, n, mode);
      break;
    case MX_UINT16:
      combine_u16(d, ds, s, ss, n, mode);
      break;
    case MX_UINT32:
      combine_u32(d, ds, s, ss, n, mode);
      break;
    case MX_UINT64:
      combine_u64(d, ds, s, ss, n, mode);
      break;
    case MX_INT8:
      combine_i8(d, ds, s, ss, n, mode);
      break;
    case MX_INT16:
      combine_i16(d, ds, s, ss, n, mode);
      break;
    case MX_INT32:
      combine_i32(d, ds, s, ss, n, mode);
      break;
    case MX_INT64:
      combine_i64(d, ds, s, ss, n, mode);
      break;
    case MX_FLOAT16:
      combine_f16(d, ds, s, ss, n, mode);
      break;
    case MX_BFLOAT16:
      combine_bf16(d, ds, s, ss, n, mode);
      break;
    case MX_FLOAT32:
      combine_f32(d, ds, s, ss, n, mode);
      break;
    case MX_FLOAT64:
      combine_f64(d, ds, s, ss, n, mode);
      break;
    case MX_COMPLEX64:
      combine_c64(d, ds, s, ss, n, mode);
      break;
    default:
      break;
  }
}

/* ---- donation ---- */

mx_status mx_cpu_copy_or_donate(mx_array *a, mx_array *out, bool *donated) {
  mx_buffer *b = a->buf;
  /* a->refs == 1: only this node's input slot holds a (no scope, no other
   * node, no user); b->refs == 1: no other array views the buffer. Then
   * nothing can observe a's values after this node, so it may be written. */
  if (a->size > 0 && a->size == out->size && a->dtype == out->dtype &&
      a->row_contiguous && atomic_load(&a->refs) == 1 && b &&
      atomic_load(&b->refs) == 1 && !b->release && b->capacity > 0 && b->host) {
    mx_buffer_retain(b);
    if (out->buf) mx_buffer_release(out->buf);
    out->buf = b;
    out->offset = a->offset;
    mx_row_strides(out->shape, out->ndim, out->strides);
    out->row_contiguous = true;
    b->valid = MX_VALID_HOST; /* the host copy is about to change */
    *donated = true;
    return MX_OK;
  }
  *donated = false;
  mx_status rc = mx_array_alloc(out);
  if (rc != MX_OK) return rc;
  if (out->size) mx_copy_strided(a, mx_array_ptr(out));
  return MX_OK;
}
