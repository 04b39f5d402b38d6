/* iter.c: strided iteration and copies (see iter.h). */
#include "iter.h"

#include <string.h>

#include "dtypes.h"
#include "qsimd.h"

void mx_iter_init(mx_iter *it, const int *shape, int ndim, int nops,
                  const int64_t *const *strides) {
  it->nops = nops;
  int n = 0;
  /* drop size-1 dims, then merge dims contiguous in every operand */
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    if (n > 0) {
      bool merge = true;
      for (int k = 0; k < nops; k++)
        if (it->strides[k][n - 1] != strides[k][d] * shape[d]) merge = false;
      if (merge) {
        it->shape[n - 1] *= shape[d];
        for (int k = 0; k < nops; k++) it->strides[k][n - 1] = strides[k][d];
        continue;
      }
    }
    it->shape[n] = shape[d];
    for (int k = 0; k < nops; k++) it->strides[k][n] = strides[k][d];
    n++;
  }
  if (n == 0) {
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++) it->strides[k][0] = 0;
    n = 1;
  }
  /* a zero-size dim anywhere empties everything */
  for (int d = 0; d < ndim; d++)
    if (shape[d] == 0) {
      it->shape[0] = 0;
      n = 1;
      break;
    }
  it->ndim = n;
}

void mx_broadcast_strides(const mx_array *a, const int *shape, int ndim, int64_t *out) {
  int off = ndim - a->ndim;
  for (int d = 0; d < ndim; d++) {
    if (d < off)
      out[d] = 0;
    else
      out[d] = (a->shape[d - off] == 1 && shape[d] != 1) ? 0 : a->strides[d - off];
  }
}

int64_t mx_iter_num_runs(const mx_iter *it) {
  int64_t r = 1;
  for (int d = 0; d < it->ndim - 1; d++) r *= it->shape[d];
  if (it->shape[it->ndim - 1] == 0) return 0;
  return r;
}

void mx_iter_runs(const mx_iter *it, int64_t run_begin, int64_t run_end, mx_iter_fn fn,
                  void *ctx) {
  int nd = it->ndim;
  int64_t inner = it->shape[nd - 1];
  int64_t inner_strides[MX_ITER_MAX_OPS];
  for (int k = 0; k < it->nops; k++) inner_strides[k] = it->strides[k][nd - 1];
  /* decompose run_begin into an index over dims [0, nd-1) */
  int idx[MX_MAX_NDIM] = {0};
  int64_t offs[MX_ITER_MAX_OPS] = {0};
  int64_t r = run_begin;
  for (int d = nd - 2; d >= 0; d--) {
    idx[d] = (int)(r % it->shape[d]);
    r /= it->shape[d];
    for (int k = 0; k < it->nops; k++) offs[k] += idx[d] * it->strides[k][d];
  }
  for (int64_t run = run_begin; run < run_end; run++) {
    fn(ctx, inner, offs, inner_strides);
    for (int d = nd - 2; d >= 0; d--) {
      idx[d]++;
      for (int k = 0; k < it->nops; k++) offs[k] += it->strides[k][d];
      if (idx[d] < it->shape[d]) break;
      for (int k = 0; k < it->nops; k++)
        offs[k] -= (int64_t)it->shape[d] * it->strides[k][d];
      idx[d] = 0;
    }
  }
}

typedef struct {
  const mx_iter *it;
  mx_iter_fn fn;
  void *ctx;
} par_ctx;

static void par_body(void *c, int64_t b, int64_t e) {
  par_ctx *p = c;
  mx_iter_runs(p->it, b, e, p->fn, p->ctx);
}

/* A single long run: split it into element ranges. */
static void par_inner(void *c, int64_t b, int64_t e) {
  par_ctx *p = c;
  const mx_iter *it = p->it;
  int64_t offs[MX_ITER_MAX_OPS], is[MX_ITER_MAX_OPS];
  for (int k = 0; k < it->nops; k++) {
    is[k] = it->strides[k][it->ndim - 1];
    offs[k] = b * is[k];
  }
  p->fn(p->ctx, e - b, offs, is);
}

void mx_iter_parallel(const mx_iter *it, int64_t grain_elems, mx_iter_fn fn, void *ctx) {
  int64_t runs = mx_iter_num_runs(it);
  if (runs == 0) return;
  int64_t inner = it->shape[it->ndim - 1];
  par_ctx p = {it, fn, ctx};
  if (runs == 1) {
    mx_parallel_for(inner, grain_elems, par_inner, &p);
    return;
  }
  int64_t grain_runs = inner >= grain_elems ? 1 : grain_elems / (inner ? inner : 1);
  mx_parallel_for(runs, grain_runs, par_body, &p);
}

typedef struct {
  const char *src;
  char *dst;
  size_t isz;
  mx_dtype st, dt;
} copy_ctx;

static void copy_run(void *c, int64_t n, const int64_t *offs, const int64_t *is) {
  copy_ctx *p = c;
  const char *s = p->src + offs[0] * (int64_t)p->isz;
  char *d = p->dst + offs[1] * (int64_t)mx_dtype_size(p->dt);
  if (p->st == p->dt) {
    if (is[0] == 1) {
      memcpy(d, s, (size_t)n * p->isz);
      return;
    }
    for (int64_t i = 0; i < n; i++)
      memcpy(d + i * (int64_t)p->isz, s + i * is[0] * (int64_t)p->isz, p->isz);
    return;
  }
  if (p->dt == MX_FLOAT32 && is[0] == 1 &&
      (p->st == MX_BFLOAT16 || p->st == MX_FLOAT16)) {
    /* exact either way; the vector conversion instead of a per-element
     * float64 round trip (logits read back every decoded token) */
    mx_cvt_to_f32(s, p->st, (float *)d, n);
    return;
  }
  size_t dsz = mx_dtype_size(p->dt);
  bool ints = mx_dtype_is_integer(p->st) && mx_dtype_is_integer(p->dt);
  for (int64_t i = 0; i < n; i++) {
    const char *sp = s + i * is[0] * (int64_t)p->isz;
    char *dp = d + i * (int64_t)dsz;
    if (p->st == MX_COMPLEX64 && p->dt == MX_COMPLEX64)
      memcpy(dp, sp, 8);
    else if (p->st == MX_COMPLEX64 && p->dt == MX_BOOL)
      *(uint8_t *)dp = ((const float *)sp)[0] != 0 || ((const float *)sp)[1] != 0;
    else if (ints)
      mx_store_i64(dp, p->dt, mx_load_i64(sp, p->st));
    else
      mx_store_f64(dp, p->dt, mx_load_f64(sp, p->st));
  }
}

void mx_copy_convert(const mx_array *src, void *dst, mx_dtype dst_type) {
  int64_t dstr[MX_MAX_NDIM];
  mx_row_strides(src->shape, src->ndim, dstr);
  const int64_t *strides[2] = {src->strides, dstr};
  mx_iter it;
  mx_iter_init(&it, src->shape, src->ndim, 2, strides);
  copy_ctx c = {mx_array_ptr(src), dst, mx_dtype_size(src->dtype), src->dtype, dst_type};
  mx_iter_parallel(&it, 1 << 16, copy_run, &c);
}

void mx_copy_strided(const mx_array *src, void *dst) {
  mx_copy_convert(src, dst, src->dtype);
}
