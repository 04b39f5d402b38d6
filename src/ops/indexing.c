/* indexing.c: slice_update, dynamic_slice, dynamic_slice_update, take,
 * take_flat, take_along_axis, put_along_axis, gather, scatter. Constructors
 * validate shapes, axes and index dtypes; index values are checked by the
 * kernels (they are data). */
#include <stdio.h>
#include <string.h>

#include "../primitives/indexing.h"
#include "../primitives/views.h"

/* Close a scope opened by a composite op, handing `r` to the caller's. */
static mx_array *scope_return(mx_array *r) {
  mx_keep(r);
  mx_scope_end();
  return mx_scope_adopt(r);
}

static bool check_index_dtype(const char *op, const mx_array *idx) {
  if (!mx_dtype_is_integer(idx->dtype)) {
    mx_set_error(MX_ERR_INVALID, "[%s] indices must be an integer array, got %s", op,
                 mx_dtype_name(idx->dtype));
    return false;
  }
  return true;
}

/* Two shapes in one message (mx_shape_str uses one static buffer). */
static mx_array *shape_error(const char *fmt, const int *s1, int n1, const int *s2,
                             int n2) {
  char b1[160];
  snprintf(b1, sizeof b1, "%s", mx_shape_str(s1, n1));
  mx_set_error(MX_ERR_INVALID, fmt, b1, mx_shape_str(s2, n2));
  return NULL;
}

mx_array *mx_slice_update(mx_array *a, mx_array *update, const int *start,
                          const int *stop, const int *step) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(update);
  mx_slice_update_params p;
  memset(&p, 0, sizeof p);
  int s[MX_MAX_NDIM], bs[MX_MAX_NDIM], nb;
  for (int d = 0; d < a->ndim; d++) {
    int st = step ? step[d] : 1;
    if (st == 0) {
      mx_set_error(MX_ERR_INVALID, "[slice_update] step cannot be zero (axis %d)", d);
      return NULL;
    }
    s[d] = mx_slice_normalize(a->shape[d], start ? start[d] : MX_SLICE_DEFAULT,
                              stop ? stop[d] : MX_SLICE_DEFAULT, st, &p.start[d]);
    if (s[d] == 0) p.start[d] = 0;
    p.step[d] = st;
  }
  if (update->ndim > a->ndim ||
      !mx_broadcast_shapes(update->shape, update->ndim, s, a->ndim, bs, &nb) ||
      memcmp(bs, s, sizeof(int) * (size_t)a->ndim) != 0)
    return shape_error(
        "[slice_update] update of shape %s cannot be broadcast to the "
        "slice shape %s",
        update->shape, update->ndim, s, a->ndim);
  mx_scope_begin();
  mx_array *in[2] = {a, mx_broadcast_to(update, s, a->ndim)};
  mx_array *r = mx_node_make1(&mx_prim_slice_update, &p, sizeof p, in, 2, a->dtype,
                              a->shape, a->ndim);
  return scope_return(r);
}

/* Shared checks of dynamic_slice(_update): start is an integer array with
 * naxes elements, axes valid and distinct. */
static bool dynamic_params(const char *op, const mx_array *a, const mx_array *start,
                           const int *axes, int naxes, mx_dynamic_slice_params *p) {
  memset(p, 0, sizeof *p);
  if (!check_index_dtype(op, start)) return false;
  if (naxes < 0 || naxes > a->ndim || (naxes > 0 && !axes) || start->ndim > 1 ||
      start->size != naxes) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] start must be a 1-d array with one entry per axis (%d axes, "
                 "start shape %s)",
                 op, naxes, mx_shape_str(start->shape, start->ndim));
    return false;
  }
  bool seen[MX_MAX_NDIM] = {0};
  for (int i = 0; i < naxes; i++) {
    int ax = axes[i];
    if (!mx_norm_axis(&ax, a->ndim) || seen[ax]) {
      mx_set_error(MX_ERR_INVALID, "[%s] invalid or repeated axis %d for %d-d array", op,
                   axes[i], a->ndim);
      return false;
    }
    seen[ax] = true;
    p->axes[i] = ax;
  }
  p->naxes = naxes;
  return true;
}

mx_array *mx_dynamic_slice(mx_array *a, mx_array *start, const int *axes, int naxes,
                           const int *slice_size) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(start);
  mx_dynamic_slice_params p;
  if (!dynamic_params("dynamic_slice", a, start, axes, naxes, &p)) return NULL;
  if (naxes > 0 && !slice_size) {
    mx_set_error(MX_ERR_INVALID, "[dynamic_slice] slice_size is NULL");
    return NULL;
  }
  int shape[MX_MAX_NDIM];
  memcpy(shape, a->shape, sizeof(int) * (size_t)a->ndim);
  for (int i = 0; i < naxes; i++) {
    int ax = p.axes[i];
    if (slice_size[i] < 0 || slice_size[i] > a->shape[ax]) {
      mx_set_error(MX_ERR_INVALID,
                   "[dynamic_slice] slice size %d invalid for axis %d of size %d",
                   slice_size[i], ax, a->shape[ax]);
      return NULL;
    }
    shape[ax] = slice_size[i];
  }
  mx_array *in[2] = {a, start};
  return mx_node_make1(&mx_prim_dynamic_slice, &p, sizeof p, in, 2, a->dtype, shape,
                       a->ndim);
}

mx_array *mx_dynamic_slice_update(mx_array *a, mx_array *update, mx_array *start,
                                  const int *axes, int naxes) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(update);
  MX_CHECK_NULL1(start);
  mx_dynamic_slice_params p;
  if (!dynamic_params("dynamic_slice_update", a, start, axes, naxes, &p)) return NULL;
  bool ok = update->ndim == a->ndim;
  for (int d = 0; ok && d < a->ndim; d++) ok = update->shape[d] <= a->shape[d];
  if (!ok)
    return shape_error(
        "[dynamic_slice_update] update of shape %s does not fit in an "
        "array of shape %s (same ndim, no larger axis)",
        update->shape, update->ndim, a->shape, a->ndim);
  mx_array *in[3] = {a, update, start};
  return mx_node_make1(&mx_prim_dynamic_slice_update, &p, sizeof p, in, 3, a->dtype,
                       a->shape, a->ndim);
}

mx_array *mx_take(mx_array *a, mx_array *indices, int axis) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(indices);
  if (!check_index_dtype("take", indices)) return NULL;
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[take] axis %d out of range for %d-d array", axis,
                 a->ndim);
    return NULL;
  }
  int nd = a->ndim - 1 + indices->ndim, shape[MX_MAX_NDIM], k = 0;
  if (nd > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[take] result would have %d dimensions", nd);
    return NULL;
  }
  for (int d = 0; d < ax; d++) shape[k++] = a->shape[d];
  for (int d = 0; d < indices->ndim; d++) shape[k++] = indices->shape[d];
  for (int d = ax + 1; d < a->ndim; d++) shape[k++] = a->shape[d];
  mx_take_params p = {ax};
  mx_array *in[2] = {a, indices};
  return mx_node_make1(&mx_prim_take, &p, sizeof p, in, 2, a->dtype, shape, nd);
}

mx_array *mx_take_flat(mx_array *a, mx_array *indices) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(indices);
  if (a->size > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[take] array of %lld elements is too large to flatten",
                 (long long)a->size);
    return NULL;
  }
  mx_scope_begin();
  int n = (int)a->size;
  return scope_return(mx_take(mx_reshape(a, &n, 1), indices, 0));
}

mx_array *mx_take_along_axis(mx_array *a, mx_array *indices, int axis) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(indices);
  if (!check_index_dtype("take_along_axis", indices)) return NULL;
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[take_along_axis] axis %d out of range for %d-d array",
                 axis, a->ndim);
    return NULL;
  }
  int shape[MX_MAX_NDIM];
  bool ok = indices->ndim == a->ndim;
  for (int d = 0; ok && d < a->ndim; d++) {
    int x = a->shape[d], y = indices->shape[d];
    if (d == ax)
      shape[d] = y;
    else if (x == y || y == 1)
      shape[d] = x;
    else if (x == 1)
      shape[d] = y;
    else
      ok = false;
  }
  if (!ok)
    return shape_error(
        "[take_along_axis] indices of shape %s do not match array of "
        "shape %s (same ndim, other axes broadcast)",
        indices->shape, indices->ndim, a->shape, a->ndim);
  mx_take_params p = {ax};
  mx_array *in[2] = {a, indices};
  return mx_node_make1(&mx_prim_take_along_axis, &p, sizeof p, in, 2, a->dtype, shape,
                       a->ndim);
}

mx_array *mx_put_along_axis(mx_array *a, mx_array *indices, mx_array *values, int axis) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(indices);
  MX_CHECK_NULL1(values);
  if (!check_index_dtype("put_along_axis", indices)) return NULL;
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[put_along_axis] axis %d out of range for %d-d array",
                 axis, a->ndim);
    return NULL;
  }
  /* the written positions: indices' shape on axis, a's elsewhere (indices
   * may have 1 there and broadcast) */
  int shape[MX_MAX_NDIM], bs[MX_MAX_NDIM], nb;
  bool ok = indices->ndim == a->ndim;
  for (int d = 0; ok && d < a->ndim; d++) {
    shape[d] = d == ax ? indices->shape[d] : a->shape[d];
    ok = d == ax || indices->shape[d] == a->shape[d] || indices->shape[d] == 1;
  }
  if (!ok)
    return shape_error(
        "[put_along_axis] indices of shape %s do not match array of "
        "shape %s (same ndim; other axes equal or 1)",
        indices->shape, indices->ndim, a->shape, a->ndim);
  if (values->ndim > a->ndim ||
      !mx_broadcast_shapes(values->shape, values->ndim, shape, a->ndim, bs, &nb) ||
      memcmp(bs, shape, sizeof(int) * (size_t)a->ndim) != 0)
    return shape_error("[put_along_axis] values of shape %s cannot be broadcast to %s",
                       values->shape, values->ndim, shape, a->ndim);
  mx_put_along_axis_params p = {ax, MX_SCATTER_SET};
  mx_scope_begin();
  mx_array *in[3] = {a, indices,
                     mx_broadcast_to(mx_astype(values, a->dtype), shape, a->ndim)};
  mx_array *r = mx_node_make1(&mx_prim_put_along_axis, &p, sizeof p, in, 3, a->dtype,
                              a->shape, a->ndim);
  return scope_return(r);
}

/* Shared checks of gather/scatter: axes valid and distinct, indices integer
 * and broadcast together to I (written to ishape/ni). */
static bool index_arrays(const char *op, const mx_array *a, mx_array *const *indices,
                         int nidx, const int *axes, int *out_axes, int *ishape, int *ni) {
  if (nidx < 0 || nidx > a->ndim || (nidx > 0 && (!indices || !axes))) {
    mx_set_error(MX_ERR_INVALID, "[%s] %d index arrays for a %d-d array", op, nidx,
                 a->ndim);
    return false;
  }
  bool seen[MX_MAX_NDIM] = {0};
  *ni = 0;
  for (int j = 0; j < nidx; j++) {
    int ax = axes[j];
    if (!mx_norm_axis(&ax, a->ndim) || seen[ax]) {
      mx_set_error(MX_ERR_INVALID, "[%s] invalid or repeated axis %d for %d-d array", op,
                   axes[j], a->ndim);
      return false;
    }
    seen[ax] = true;
    out_axes[j] = ax;
    if (!check_index_dtype(op, indices[j])) return false;
    int tmp[MX_MAX_NDIM], nt;
    if (!mx_broadcast_shapes(ishape, *ni, indices[j]->shape, indices[j]->ndim, tmp,
                             &nt)) {
      shape_error("[gather/scatter] index arrays of shapes %s and %s do not broadcast",
                  ishape, *ni, indices[j]->shape, indices[j]->ndim);
      return false;
    }
    memcpy(ishape, tmp, sizeof tmp);
    *ni = nt;
  }
  return true;
}

mx_array *mx_gather(mx_array *a, mx_array *const *indices, int nidx, const int *axes,
                    const int *slice_sizes) {
  MX_CHECK_NULL1(a);
  for (int j = 0; indices && j < nidx; j++) MX_CHECK_NULL1(indices[j]);
  mx_gather_params p;
  memset(&p, 0, sizeof p);
  int shape[MX_MAX_NDIM], ni;
  if (!index_arrays("gather", a, indices, nidx, axes, p.axes, shape, &ni)) return NULL;
  if (a->ndim > 0 && !slice_sizes) {
    mx_set_error(MX_ERR_INVALID, "[gather] slice_sizes is NULL");
    return NULL;
  }
  if (ni + a->ndim > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[gather] result would have %d dimensions",
                 ni + a->ndim);
    return NULL;
  }
  for (int d = 0; d < a->ndim; d++) {
    if (slice_sizes[d] < 0 || slice_sizes[d] > a->shape[d]) {
      mx_set_error(MX_ERR_INVALID,
                   "[gather] slice size %d invalid for axis %d of size %d",
                   slice_sizes[d], d, a->shape[d]);
      return NULL;
    }
    p.slice_sizes[d] = slice_sizes[d];
    shape[ni + d] = slice_sizes[d];
  }
  p.nidx = nidx;
  mx_array *in[1 + MX_MAX_NDIM];
  in[0] = a;
  for (int j = 0; j < nidx; j++) in[1 + j] = indices[j];
  return mx_node_make1(&mx_prim_gather, &p, sizeof p, in, 1 + nidx, a->dtype, shape,
                       ni + a->ndim);
}

mx_array *mx_scatter(mx_array *a, mx_array *const *indices, int nidx, mx_array *updates,
                     const int *axes, mx_scatter_mode mode) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(updates);
  for (int j = 0; indices && j < nidx; j++) MX_CHECK_NULL1(indices[j]);
  if ((unsigned)mode > MX_SCATTER_PROD) {
    mx_set_error(MX_ERR_INVALID, "[scatter] unknown mode %d", (int)mode);
    return NULL;
  }
  mx_scatter_params p;
  memset(&p, 0, sizeof p);
  int ishape[MX_MAX_NDIM], ni;
  if (!index_arrays("scatter", a, indices, nidx, axes, p.axes, ishape, &ni)) return NULL;
  /* updates: I + U with U of a's ndim, U[d] <= a.shape[d] */
  bool ok = updates->ndim == ni + a->ndim &&
            memcmp(updates->shape, ishape, sizeof(int) * (size_t)ni) == 0;
  for (int d = 0; ok && d < a->ndim; d++) ok = updates->shape[ni + d] <= a->shape[d];
  if (!ok) {
    int want[2 * MX_MAX_NDIM];
    memcpy(want, ishape, sizeof(int) * (size_t)ni);
    memcpy(want + ni, a->shape, sizeof(int) * (size_t)a->ndim);
    return shape_error(
        "[scatter] updates of shape %s must be the index shape followed "
        "by a slice no larger than a, i.e. at most %s",
        updates->shape, updates->ndim, want, ni + a->ndim);
  }
  p.nidx = nidx;
  p.mode = (int)mode;
  mx_scope_begin();
  mx_array *in[2 + MX_MAX_NDIM];
  in[0] = a;
  in[1] = mx_astype(updates, a->dtype);
  for (int j = 0; j < nidx; j++) in[2 + j] = indices[j];
  mx_array *r = mx_node_make1(&mx_prim_scatter, &p, sizeof p, in, 2 + nidx, a->dtype,
                              a->shape, a->ndim);
  return scope_return(r);
}
