/* indexing.c: CPU kernels for slice_update, dynamic_slice(_update), take,
 * take_along_axis, put_along_axis, gather and scatter.
 *
 * Every kernel checks all indices before writing anything (so a failing
 * update never leaves a donated buffer half written, and nothing reads or
 * writes out of bounds); the check is serial so the reported index is the
 * first bad one in row-major order. Data moves as element-sized bytes: one
 * body for every dtype. */
#include "../../primitives/indexing.h"

#include <stdlib.h>
#include <string.h>

#include "dtypes.h"
#include "iter.h"
#include "movement.h"

/* ---- slice updates ---- */

mx_status mx_cpu_slice_update(mx_node *n, mx_array **in, mx_array **out) {
  const mx_slice_update_params *p = MX_PARAMS(mx_slice_update_params, n);
  mx_array *a = in[0], *u = in[1], *o = out[0];
  bool donated;
  mx_status rc = mx_cpu_copy_or_donate(a, o, &donated);
  if (rc != MX_OK || u->size == 0) return rc;
  // window of o: start[d] + step[d] * i_d, i: u's shape
  int64_t off = 0, ws[MX_MAX_NDIM];
  for (int d = 0; d < o->ndim; d++) {
    off += (int64_t)p->start[d] * o->strides[d];
    ws[d] = o->strides[d] * p->step[d];
  }
  char *dst = (char *)mx_array_ptr(o) + off * (int64_t)mx_dtype_size(o->dtype);
  mx_cpu_copy_array_to(dst, ws, o->dtype, u, u->shape, u->ndim);
  return MX_OK;
}

/* Window start per axis of a from the integer array `start`: negative values
 * count from the end, then the start is clamped so `size` elements fit. */
static void dynamic_starts(const mx_dynamic_slice_params *p, const mx_array *a,
                           const mx_array *start, const int *size, int64_t *first) {
  for (int d = 0; d < a->ndim; d++) first[d] = 0;
  const char *sp = mx_array_ptr(start);
  int64_t isz = (int64_t)mx_dtype_size(start->dtype);
  int64_t sstride = start->ndim ? start->strides[0] : 0;
  for (int i = 0; i < p->naxes; i++) {
    int ax = p->axes[i];
    int64_t dim = a->shape[ax];
    int64_t v = mx_cpu_load_index(sp + (int64_t)i * sstride * isz, start->dtype);
    if (v < 0) v += dim;
    int64_t hi = dim - size[ax];
    first[ax] = v < 0 ? 0 : v > hi ? hi : v;
  }
}

/* out: a view of a's window (no copy). */
mx_status mx_cpu_dynamic_slice(mx_node *n, mx_array **in, mx_array **out) {
  const mx_dynamic_slice_params *p = MX_PARAMS(mx_dynamic_slice_params, n);
  mx_array *a = in[0], *o = out[0];
  int64_t first[MX_MAX_NDIM], off = a->offset;
  dynamic_starts(p, a, in[1], o->shape, first);
  if (o->size)
    for (int d = 0; d < a->ndim; d++) off += first[d] * a->strides[d];
  mx_array_set_view(o, a, a->strides, off);
  return MX_OK;
}

mx_status mx_cpu_dynamic_slice_update(mx_node *n, mx_array **in, mx_array **out) {
  const mx_dynamic_slice_params *p = MX_PARAMS(mx_dynamic_slice_params, n);
  mx_array *a = in[0], *u = in[1], *o = out[0];
  int64_t first[MX_MAX_NDIM], off = 0;
  dynamic_starts(p, a, in[2], u->shape, first);
  bool donated;
  mx_status rc = mx_cpu_copy_or_donate(a, o, &donated);
  if (rc != MX_OK || u->size == 0) return rc;
  for (int d = 0; d < o->ndim; d++) off += first[d] * o->strides[d];
  char *dst = (char *)mx_array_ptr(o) + off * (int64_t)mx_dtype_size(o->dtype);
  mx_cpu_copy_array_to(dst, o->strides, o->dtype, u, u->shape, u->ndim);
  return MX_OK;
}

/* ---- take / gather: copy rows of a at computed offsets ---- */

/* Row r = (p, i) of the output (p < npre, i < ni; contiguous, slice_n
 * elements each) is the slice of a at element offset pre[p] + base[i]; the
 * slice's layout is `it` (operand 0: output, 1: a). */
typedef struct {
  const char *src;
  char *dst;
  size_t isz;
  const int64_t *pre, *base;
  int64_t ni, slice_n;
  mx_iter it;
  bool flat; /* the slice is one contiguous run in a */
} rows_ctx;

static void rows_range(void *c, int64_t b, int64_t e) {
  const rows_ctx *g = c;
  int64_t isz = (int64_t)g->isz;
  for (int64_t r = b; r < e; r++) {
    int64_t soff = g->pre[r / g->ni] + g->base[r % g->ni];
    const char *s = g->src + soff * isz;
    char *d = g->dst + r * g->slice_n * isz;
    if (g->flat)
      memcpy(d, s, (size_t)(g->slice_n * isz));
    else
      mx_cpu_copy_runs(&g->it, d, s, g->isz);
  }
}

/* shape/strides: the slice in a; npre offsets in pre; ni offsets in base. */
static void gather_rows(const mx_array *a, char *dst, const int64_t *pre, int64_t npre,
                        const int64_t *base, int64_t ni, const int *shape,
                        const int64_t *strides, int nd) {
  rows_ctx g;
  memset(&g, 0, sizeof g);
  g.src = mx_array_ptr(a);
  g.dst = dst;
  g.isz = mx_dtype_size(a->dtype);
  g.pre = pre;
  g.base = base;
  g.ni = ni;
  g.slice_n = mx_shape_size(shape, nd);
  if (g.slice_n == 0 || ni == 0 || npre == 0) return;
  int64_t ds[MX_MAX_NDIM];
  mx_row_strides(shape, nd, ds);
  const int64_t *st[2] = {ds, strides};
  mx_iter_init(&g.it, shape, nd, 2, st);
  g.flat = g.it.ndim == 1 && g.it.strides[0][0] == 1 && g.it.strides[1][0] == 1;
  if (g.slice_n == 1) g.flat = true;
  int64_t grain = g.slice_n >= (1 << 16) ? 1 : (1 << 16) / g.slice_n;
  mx_parallel_for(npre * ni, grain, rows_range, &g);
}

/* Offsets of the multi-indices of shape[0..nd) under strides, row-major. */
static void multi_offsets(const int *shape, const int64_t *strides, int nd,
                          int64_t *out) {
  int64_t n = mx_shape_size(shape, nd);
  int idx[MX_MAX_NDIM] = {0};
  int64_t off = 0;
  for (int64_t k = 0; k < n; k++) {
    out[k] = off;
    for (int d = nd - 1; d >= 0; d--) {
      off += strides[d];
      if (++idx[d] < shape[d]) break;
      off -= (int64_t)shape[d] * strides[d];
      idx[d] = 0;
    }
  }
}

static void *checked_malloc(size_t n, const char *op) {
  void *p = malloc(n ? n : 1);
  if (!p) mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", op);
  return p;
}

// a: (pre..., dim, post...), indices: I -> out: (pre..., I..., post...)
mx_status mx_cpu_take(mx_node *n, mx_array **in, mx_array **out) {
  int axis = MX_PARAMS(mx_take_params, n)->axis;
  mx_array *a = in[0], *idx = in[1], *o = out[0];
  int64_t ni = idx->size, npre = mx_shape_size(a->shape, axis);
  int64_t *base = checked_malloc(sizeof(int64_t) * (size_t)ni, "take");
  int64_t *pre = checked_malloc(sizeof(int64_t) * (size_t)npre, "take");
  mx_status rc = base && pre ? MX_OK : MX_ERR_NOMEM;
  if (rc == MX_OK)
    rc = mx_cpu_load_indices(idx, idx->shape, idx->ndim, a->shape[axis], 1, "take", base);
  if (rc == MX_OK) rc = mx_array_alloc(o);
  if (rc == MX_OK && o->size) {
    for (int64_t i = 0; i < ni; i++) base[i] *= a->strides[axis];
    multi_offsets(a->shape, a->strides, axis, pre);
    gather_rows(a, mx_array_ptr(o), pre, npre, base, ni, a->shape + axis + 1,
                a->strides + axis + 1, a->ndim - axis - 1);
  }
  free(base);
  free(pre);
  return rc;
}

// a: (..), indices[j]: broadcast to I -> out: I + slice_sizes
mx_status mx_cpu_gather(mx_node *n, mx_array **in, mx_array **out) {
  const mx_gather_params *p = MX_PARAMS(mx_gather_params, n);
  mx_array *a = in[0], *o = out[0];
  int ni_dims = o->ndim - a->ndim;
  int64_t ni = mx_shape_size(o->shape, ni_dims), zero = 0;
  int64_t *base = checked_malloc(sizeof(int64_t) * (size_t)ni, "gather");
  int64_t *tmp = checked_malloc(sizeof(int64_t) * (size_t)ni, "gather");
  mx_status rc = base && tmp ? MX_OK : MX_ERR_NOMEM;
  if (rc == MX_OK) memset(base, 0, sizeof(int64_t) * (size_t)ni);
  for (int j = 0; j < p->nidx && rc == MX_OK; j++) {
    int ax = p->axes[j];
    rc = mx_cpu_load_indices(in[1 + j], o->shape, ni_dims, a->shape[ax],
                             p->slice_sizes[ax], "gather", tmp);
    for (int64_t i = 0; rc == MX_OK && i < ni; i++) base[i] += tmp[i] * a->strides[ax];
  }
  if (rc == MX_OK) rc = mx_array_alloc(o);
  if (rc == MX_OK && o->size)
    gather_rows(a, mx_array_ptr(o), &zero, 1, base, ni, p->slice_sizes, a->strides,
                a->ndim);
  free(base);
  free(tmp);
  return rc;
}

/* ---- along an axis ---- */

typedef struct {
  const char *a, *idx, *vals;
  char *o;
  size_t isz, idx_sz;
  mx_dtype idx_t, t;
  int64_t dim, astride; /* a's indexed axis */
  int mode;
  const mx_iter *it;
} along_ctx;

/* Copy one element of ISZ bytes per position: out[i] = a[off + idx * s]. */
#define TAKE_ALONG_LOOP(ISZ)                                                           \
  for (int64_t i = 0; i < n; i++) {                                                    \
    int64_t v = mx_cpu_load_index(c->idx + (offs[2] + i * is[2]) * (int64_t)c->idx_sz, \
                                  c->idx_t);                                           \
    v = mx_cpu_wrap_index(v, c->dim);                                                  \
    memcpy(c->o + (offs[0] + i * is[0]) * (ISZ),                                       \
           c->a + (offs[1] + i * is[1] + v * c->astride) * (ISZ), (ISZ));              \
  }

static void take_along_run(void *ctx, int64_t n, const int64_t *offs, const int64_t *is) {
  const along_ctx *c = ctx;
  switch (c->isz) {
    case 1:
      TAKE_ALONG_LOOP(1);
      break;
    case 2:
      TAKE_ALONG_LOOP(2);
      break;
    case 4:
      TAKE_ALONG_LOOP(4);
      break;
    default:
      TAKE_ALONG_LOOP(8);
      break;
  }
}

// a: (.., dim, ..), indices: (.., k, ..) -> out (.., k, ..), other axes broadcast
mx_status mx_cpu_take_along_axis(mx_node *n, mx_array **in, mx_array **out) {
  int axis = MX_PARAMS(mx_take_params, n)->axis;
  mx_array *a = in[0], *idx = in[1], *o = out[0];
  mx_status rc = mx_cpu_check_indices(idx, a->shape[axis], "take_along_axis");
  if (rc == MX_OK) rc = mx_array_alloc(o);
  if (rc != MX_OK || o->size == 0) return rc;
  int64_t as[MX_MAX_NDIM], xs[MX_MAX_NDIM];
  mx_broadcast_strides(a, o->shape, o->ndim, as);
  mx_broadcast_strides(idx, o->shape, o->ndim, xs);
  as[axis] = 0; /* the axis offset comes from the index */
  const int64_t *st[3] = {o->strides, as, xs};
  mx_iter it;
  mx_iter_init(&it, o->shape, o->ndim, 3, st);
  along_ctx c = {
      mx_array_ptr(a),         mx_array_ptr(idx),         NULL,       mx_array_ptr(o),
      mx_dtype_size(o->dtype), mx_dtype_size(idx->dtype), idx->dtype, o->dtype,
      a->shape[axis],          a->strides[axis],          0,          &it};
  mx_iter_parallel(&it, 1 << 15, take_along_run, &c);
  return MX_OK;
}

static void put_along_run(void *ctx, int64_t n, const int64_t *offs, const int64_t *is) {
  const along_ctx *c = ctx;
  int64_t isz = (int64_t)c->isz;
  for (int64_t i = 0; i < n; i++) {
    int64_t v =
        mx_cpu_load_index(c->idx + (offs[1] + i * is[1]) * (int64_t)c->idx_sz, c->idx_t);
    v = mx_cpu_wrap_index(v, c->dim);
    char *d = c->o + (offs[0] + i * is[0] + v * c->astride) * isz;
    const char *s = c->vals + (offs[2] + i * is[2]) * isz;
    if (c->mode == MX_SCATTER_SET)
      memcpy(d, s, c->isz);
    else
      mx_cpu_combine(d, 0, s, 0, 1, c->t, c->mode);
  }
}

static void put_along_range(void *ctx, int64_t b, int64_t e) {
  const along_ctx *c = ctx;
  mx_iter_runs(c->it, b, e, put_along_run, ctx);
}

/* out = a with out[.., idx[.., j, ..], ..] (op)= values[.., j, ..]. The
 * indexed axis is iterated innermost and in order within one task, so
 * duplicate indices resolve in order (last write wins for set) while the
 * other axes, which never collide, run in parallel. */
mx_status mx_cpu_put_along_axis(mx_node *n, mx_array **in, mx_array **out) {
  const mx_put_along_axis_params *p = MX_PARAMS(mx_put_along_axis_params, n);
  mx_array *a = in[0], *idx = in[1], *vals = in[2], *o = out[0];
  int axis = p->axis, nd = a->ndim;
  mx_status rc = mx_cpu_check_indices(idx, a->shape[axis], "put_along_axis");
  bool donated;
  if (rc == MX_OK) rc = mx_cpu_copy_or_donate(a, o, &donated);
  if (rc != MX_OK || vals->size == 0) return rc;
  /* iteration shape: vals' shape with the axis moved last */
  int shape[MX_MAX_NDIM], k = 0;
  int64_t os[MX_MAX_NDIM], xs[MX_MAX_NDIM], vs[MX_MAX_NDIM], xb[MX_MAX_NDIM];
  mx_broadcast_strides(idx, vals->shape, nd, xb);
  for (int d = 0; d <= nd; d++) {
    int src = d < nd ? d : axis;
    if (d == axis) continue;
    shape[k] = vals->shape[src];
    os[k] = src == axis ? 0 : o->strides[src];
    xs[k] = xb[src];
    vs[k] = vals->strides[src];
    k++;
  }
  const int64_t *st[3] = {os, xs, vs};
  mx_iter it;
  mx_iter_init(&it, shape, nd, 3, st);
  along_ctx c = {NULL,
                 mx_array_ptr(idx),
                 mx_array_ptr(vals),
                 mx_array_ptr(o),
                 mx_dtype_size(o->dtype),
                 mx_dtype_size(idx->dtype),
                 idx->dtype,
                 o->dtype,
                 a->shape[axis],
                 o->strides[axis],
                 p->mode,
                 &it};
  int64_t runs = mx_iter_num_runs(&it), inner = it.shape[it.ndim - 1];
  int64_t grain = inner >= (1 << 14) ? 1 : (1 << 14) / (inner ? inner : 1);
  mx_parallel_for(runs, grain, put_along_range, &c);
  return MX_OK;
}

/* ---- scatter ---- */

typedef struct {
  const mx_iter *it; /* over U: operand 0 out, 1 updates */
  char *o;
  const char *upd;
  size_t isz;
  mx_dtype t;
  int mode;
  const int64_t *base, *uoff; /* per index position i */
  int64_t ni;
  bool split_inner; /* units are elements of the single run, not runs */
} scatter_ctx;

typedef struct {
  const scatter_ctx *s;
  int64_t ob, ub; /* current row's offsets */
} scatter_row;

static void scatter_run(void *ctx, int64_t n, const int64_t *offs, const int64_t *is) {
  const scatter_row *r = ctx;
  const scatter_ctx *s = r->s;
  int64_t isz = (int64_t)s->isz;
  mx_cpu_combine(s->o + (r->ob + offs[0]) * isz, is[0], s->upd + (r->ub + offs[1]) * isz,
                 is[1], n, s->t, s->mode);
}

/* Units [b, e) of U for every index position i, in order of i. */
static void scatter_range(void *ctx, int64_t b, int64_t e) {
  const scatter_ctx *s = ctx;
  const mx_iter *it = s->it;
  for (int64_t i = 0; i < s->ni; i++) {
    scatter_row r = {s, s->base[i], s->uoff[i]};
    if (s->split_inner) {
      int64_t offs[2] = {b * it->strides[0][0], b * it->strides[1][0]};
      int64_t is[2] = {it->strides[0][0], it->strides[1][0]};
      scatter_run(&r, e - b, offs, is);
    } else {
      mx_iter_runs(it, b, e, scatter_run, &r);
    }
  }
}

// a: (..), updates: I + U, indices[j] broadcast to I -> out: a's shape
mx_status mx_cpu_scatter(mx_node *n, mx_array **in, mx_array **out) {
  const mx_scatter_params *p = MX_PARAMS(mx_scatter_params, n);
  mx_array *a = in[0], *upd = in[1], *o = out[0];
  int nd = a->ndim, ni_dims = upd->ndim - nd;
  const int *ushape = upd->shape + ni_dims;
  int64_t ni = mx_shape_size(upd->shape, ni_dims);
  int64_t *base = checked_malloc(sizeof(int64_t) * (size_t)ni * 3, "scatter");
  if (!base) return MX_ERR_NOMEM;
  int64_t *uoff = base + ni, *tmp = base + 2 * ni;
  int64_t rs[MX_MAX_NDIM]; /* o's strides once written: row-major */
  mx_row_strides(a->shape, nd, rs);
  memset(base, 0, sizeof(int64_t) * (size_t)ni);
  mx_status rc = MX_OK;
  for (int j = 0; j < p->nidx && rc == MX_OK; j++) {
    int ax = p->axes[j];
    rc = mx_cpu_load_indices(in[2 + j], upd->shape, ni_dims, a->shape[ax], ushape[ax],
                             "scatter", tmp);
    for (int64_t i = 0; rc == MX_OK && i < ni; i++) base[i] += tmp[i] * rs[ax];
  }
  bool donated;
  if (rc == MX_OK) rc = mx_cpu_copy_or_donate(a, o, &donated);
  int64_t un = mx_shape_size(ushape, nd);
  if (rc == MX_OK && un > 0 && ni > 0) {
    multi_offsets(upd->shape, upd->strides, ni_dims, uoff);
    const int64_t *st[2] = {o->strides, upd->strides + ni_dims};
    mx_iter it;
    mx_iter_init(&it, ushape, nd, 2, st);
    scatter_ctx s = {&it,
                     mx_array_ptr(o),
                     mx_array_ptr(upd),
                     mx_dtype_size(o->dtype),
                     o->dtype,
                     p->mode,
                     base,
                     uoff,
                     ni,
                     false};
    /* Positions of different elements of U can only collide when a window
     * spans more than one element along an indexed axis; otherwise U's
     * elements are independent and split across threads, each keeping the
     * order of i (deterministic). */
    bool independent = true;
    for (int j = 0; j < p->nidx; j++) independent &= ushape[p->axes[j]] == 1;
    int64_t runs = mx_iter_num_runs(&it), inner = it.shape[it.ndim - 1];
    int64_t grain = (1 << 15) / ni + 1;
    if (!independent) {
      scatter_range(&s, 0, runs);
    } else if (runs == 1) {
      s.split_inner = true;
      mx_parallel_for(inner, grain, scatter_range, &s);
    } else {
      mx_parallel_for(runs, grain / inner + 1, scatter_range, &s);
    }
  }
  free(base);
  return rc;
}
