/* shape.c: shape ops that move data: concatenate, stack, split,
 * split_indices, pad, tile, repeat, roll. tile and repeat are a broadcast
 * view followed by a reshape (one copy, as MLX does); stack and split are
 * compositions of views with concatenate/slice. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../primitives/shape.h"

static mx_array *same(mx_array *a) { return mx_scope_adopt(mx_keep(a)); }

/* Close a scope opened by a composite op, handing `r` to the caller's. */
static mx_array *scope_return(mx_array *r) {
  mx_keep(r);
  mx_scope_end();
  return mx_scope_adopt(r);
}

mx_array *mx_concatenate(mx_array *const *arrays, int n, int axis) {
  if (n < 1 || !arrays) {
    mx_set_error(MX_ERR_INVALID, "[concatenate] no arrays given");
    return NULL;
  }
  for (int i = 0; i < n; i++) MX_CHECK_NULL1(arrays[i]);
  mx_array *a0 = arrays[0];
  int nd = a0->ndim;
  if (nd == 0) {
    mx_set_error(MX_ERR_INVALID, "[concatenate] cannot concatenate 0-d arrays");
    return NULL;
  }
  int ax = axis;
  if (!mx_norm_axis(&ax, nd)) {
    mx_set_error(MX_ERR_INVALID, "[concatenate] axis %d out of range for %d-d arrays",
                 axis, nd);
    return NULL;
  }
  int shape[MX_MAX_NDIM];
  memcpy(shape, a0->shape, sizeof(int) * (size_t)nd);
  int64_t total = a0->shape[ax];
  mx_dtype dt = a0->dtype;
  for (int i = 1; i < n; i++) {
    mx_array *a = arrays[i];
    bool ok = a->ndim == nd;
    for (int d = 0; ok && d < nd; d++) ok = d == ax || a->shape[d] == a0->shape[d];
    if (!ok) {
      char s0[128];
      snprintf(s0, sizeof s0, "%s", mx_shape_str(a0->shape, nd));
      mx_set_error(MX_ERR_INVALID,
                   "[concatenate] all arrays must have the same shape except on axis "
                   "%d, got %s and %s",
                   ax, s0, mx_shape_str(a->shape, a->ndim));
      return NULL;
    }
    total += a->shape[ax];
    dt = mx_promote_types(dt, a->dtype);
  }
  if (total > INT_MAX) {
    mx_set_error(MX_ERR_INVALID, "[concatenate] axis %d would have %lld elements", ax,
                 (long long)total);
    return NULL;
  }
  if (n == 1) return mx_astype(a0, dt);
  shape[ax] = (int)total;
  mx_concatenate_params p = {ax};
  return mx_node_make1(&mx_prim_concatenate, &p, sizeof p, arrays, n, dt, shape, nd);
}

mx_array *mx_stack(mx_array *const *arrays, int n, int axis) {
  if (n < 1 || !arrays) {
    mx_set_error(MX_ERR_INVALID, "[stack] no arrays given");
    return NULL;
  }
  for (int i = 0; i < n; i++) MX_CHECK_NULL1(arrays[i]);
  mx_array *a0 = arrays[0];
  for (int i = 1; i < n; i++) {
    mx_array *a = arrays[i];
    if (a->ndim != a0->ndim ||
        memcmp(a->shape, a0->shape, sizeof(int) * (size_t)a0->ndim) != 0) {
      char s0[128];
      snprintf(s0, sizeof s0, "%s", mx_shape_str(a0->shape, a0->ndim));
      mx_set_error(MX_ERR_INVALID,
                   "[stack] all arrays must have the same shape, got %s and %s", s0,
                   mx_shape_str(a->shape, a->ndim));
      return NULL;
    }
  }
  int ax = axis;
  if (a0->ndim + 1 > MX_MAX_NDIM || !mx_norm_axis(&ax, a0->ndim + 1)) {
    mx_set_error(MX_ERR_INVALID, "[stack] axis %d out of range for %d-d result", axis,
                 a0->ndim + 1);
    return NULL;
  }
  mx_array **ex = malloc(sizeof *ex * (size_t)n);
  if (!ex) {
    mx_set_error(MX_ERR_NOMEM, "[stack] out of memory");
    return NULL;
  }
  mx_scope_begin();
  for (int i = 0; i < n; i++) ex[i] = mx_expand_dims(arrays[i], &ax, 1);
  mx_array *r = mx_concatenate(ex, n, ax);
  free(ex);
  return scope_return(r);
}

static mx_status fail_status(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

mx_status mx_split(mx_array *a, int num_splits, int axis, mx_array **out) {
  if (!a) return fail_status();
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim))
    return mx_set_error(MX_ERR_INVALID, "[split] axis %d out of range for %d-d array",
                        axis, a->ndim);
  if (num_splits < 1 || a->shape[ax] % num_splits != 0)
    return mx_set_error(MX_ERR_INVALID,
                        "[split] axis of size %d cannot be split into %d equal parts",
                        a->shape[ax], num_splits);
  int k = a->shape[ax] / num_splits;
  for (int i = 0; i < num_splits; i++) {
    out[i] = mx_slice_axis(a, ax, i * k, (i + 1) * k, 1);
    if (!out[i]) return fail_status();
  }
  return MX_OK;
}

mx_status mx_split_indices(mx_array *a, const int *indices, int nidx, int axis,
                           mx_array **out) {
  if (!a) return fail_status();
  if (nidx < 0 || (nidx > 0 && !indices))
    return mx_set_error(MX_ERR_INVALID, "[split] invalid index list");
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim))
    return mx_set_error(MX_ERR_INVALID, "[split] axis %d out of range for %d-d array",
                        axis, a->ndim);
  /* numpy's array_split: part i is a[idx[i-1]:idx[i]] with slice semantics */
  for (int i = 0; i <= nidx; i++) {
    int start = i == 0 ? 0 : indices[i - 1];
    int stop = i == nidx ? MX_SLICE_DEFAULT : indices[i];
    if (start == MX_SLICE_DEFAULT || (i < nidx && stop == MX_SLICE_DEFAULT))
      return mx_set_error(MX_ERR_INVALID, "[split] index out of range");
    out[i] = mx_slice_axis(a, ax, start, stop, 1);
    if (!out[i]) return fail_status();
  }
  return MX_OK;
}

mx_array *mx_pad(mx_array *a, const int *axes, const int *lo, const int *hi, int naxes,
                 mx_array *pad_value, mx_pad_mode mode) {
  MX_CHECK_NULL1(a);
  if (mode != MX_PAD_CONSTANT && mode != MX_PAD_EDGE) {
    mx_set_error(MX_ERR_INVALID, "[pad] unknown mode %d", (int)mode);
    return NULL;
  }
  if (naxes < 0 || (naxes > 0 && (!lo || !hi)) || (!axes && naxes != a->ndim)) {
    mx_set_error(MX_ERR_INVALID,
                 "[pad] need lo and hi widths for each of %d axes (got %d)",
                 axes ? naxes : a->ndim, naxes);
    return NULL;
  }
  mx_pad_params p;
  memset(&p, 0, sizeof p);
  p.mode = (int)mode;
  bool seen[MX_MAX_NDIM] = {0};
  int shape[MX_MAX_NDIM];
  bool ident = true;
  for (int i = 0; i < naxes; i++) {
    int ax = axes ? axes[i] : i;
    if (!mx_norm_axis(&ax, a->ndim) || seen[ax]) {
      mx_set_error(MX_ERR_INVALID, "[pad] invalid or repeated axis %d for %d-d array",
                   axes ? axes[i] : i, a->ndim);
      return NULL;
    }
    seen[ax] = true;
    if (lo[i] < 0 || hi[i] < 0) {
      mx_set_error(MX_ERR_INVALID,
                   "[pad] padding must be non-negative, got (%d, %d) on axis %d", lo[i],
                   hi[i], ax);
      return NULL;
    }
    if ((int64_t)a->shape[ax] + lo[i] + hi[i] > INT_MAX) {
      mx_set_error(MX_ERR_INVALID, "[pad] padded axis %d is too large", ax);
      return NULL;
    }
    if (mode == MX_PAD_EDGE && a->shape[ax] == 0 && lo[i] + hi[i] > 0) {
      mx_set_error(MX_ERR_INVALID, "[pad] edge mode cannot extend empty axis %d", ax);
      return NULL;
    }
    p.lo[ax] = lo[i];
    p.hi[ax] = hi[i];
    ident &= lo[i] == 0 && hi[i] == 0;
  }
  for (int d = 0; d < a->ndim; d++) shape[d] = a->shape[d] + p.lo[d] + p.hi[d];
  if (pad_value && mx_array_size(pad_value) != 1) {
    mx_set_error(MX_ERR_INVALID, "[pad] pad_value must have one element, got shape %s",
                 mx_shape_str(pad_value->shape, pad_value->ndim));
    return NULL;
  }
  if (ident) return same(a);
  mx_scope_begin();
  mx_array *v = pad_value ? mx_astype(mx_reshape(pad_value, NULL, 0), a->dtype)
                          : mx_zeros(NULL, 0, a->dtype);
  mx_array *in[2] = {a, v};
  mx_array *r =
      v ? mx_node_make1(&mx_prim_pad, &p, sizeof p, in, 2, a->dtype, shape, a->ndim)
        : NULL;
  return scope_return(r);
}

/* Repeat axes in place: expanded view (.., 1, s_d, ..) broadcast to
 * (.., r_d, s_d, ..) then merged to (.., r_d * s_d, ..). */
static mx_array *tile_once(mx_array *a, const int *reps) {
  int nd = a->ndim, es[MX_MAX_NDIM], bs[MX_MAX_NDIM], fs[MX_MAX_NDIM], ne = 0;
  for (int d = 0; d < nd; d++) {
    if (reps[d] != 1) {
      es[ne] = 1;
      bs[ne++] = reps[d];
    }
    es[ne] = a->shape[d];
    bs[ne++] = a->shape[d];
    fs[d] = reps[d] * a->shape[d];
  }
  return mx_reshape(mx_broadcast_to(mx_reshape(a, es, ne), bs, ne), fs, nd);
}

mx_array *mx_tile(mx_array *a, const int *reps, int nreps) {
  MX_CHECK_NULL1(a);
  if (nreps < 0 || (nreps > 0 && !reps) || nreps > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[tile] invalid repetitions");
    return NULL;
  }
  int nd = a->ndim > nreps ? a->ndim : nreps;
  int r[MX_MAX_NDIM], s[MX_MAX_NDIM], nrep = 0;
  for (int d = 0; d < nd; d++) {
    int k = d - (nd - nreps);
    r[d] = k >= 0 ? reps[k] : 1;
    int j = d - (nd - a->ndim);
    s[d] = j >= 0 ? a->shape[j] : 1;
    if (r[d] < 0) {
      mx_set_error(MX_ERR_INVALID, "[tile] repetitions must be non-negative, got %d",
                   r[d]);
      return NULL;
    }
    if ((int64_t)r[d] * s[d] > INT_MAX) {
      mx_set_error(MX_ERR_INVALID, "[tile] result axis %d is too large", d);
      return NULL;
    }
    nrep += r[d] != 1;
  }
  if (nrep == 0 && nd == a->ndim) return same(a);
  mx_scope_begin();
  mx_array *x = mx_reshape(a, s, nd);
  if (nd + nrep <= MX_MAX_NDIM) {
    x = tile_once(x, r);
  } else { /* too many dims to expand at once: one axis at a time */
    for (int d = 0; d < nd && x; d++) {
      if (r[d] == 1) continue;
      int one[MX_MAX_NDIM];
      for (int e = 0; e < nd; e++) one[e] = e == d ? r[d] : 1;
      x = tile_once(x, one);
    }
  }
  return scope_return(x);
}

mx_array *mx_repeat(mx_array *a, int repeats, int axis) {
  MX_CHECK_NULL1(a);
  if (repeats < 0) {
    mx_set_error(MX_ERR_INVALID, "[repeat] repeats must be non-negative, got %d",
                 repeats);
    return NULL;
  }
  mx_scope_begin();
  mx_array *x = a;
  int ax = axis;
  if (axis == INT32_MIN) {
    x = mx_flatten(a, 0, -1);
    ax = 0;
  } else if (!mx_norm_axis(&ax, a->ndim) || a->ndim + 1 > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[repeat] axis %d out of range for %d-d array", axis,
                 a->ndim);
    return scope_return(NULL);
  }
  if (x && (int64_t)x->shape[ax] * repeats > INT_MAX) {
    mx_set_error(MX_ERR_INVALID, "[repeat] result is too large");
    return scope_return(NULL);
  }
  mx_array *r = NULL;
  if (x && repeats == 1) {
    r = x;
  } else if (x) {
    int e = ax + 1, bs[MX_MAX_NDIM];
    mx_array *y = mx_expand_dims(x, &e, 1);
    for (int d = 0; d <= x->ndim; d++)
      bs[d] = d < e ? x->shape[d] : d == e ? repeats : x->shape[d - 1];
    r = mx_flatten(mx_broadcast_to(y, bs, x->ndim + 1), ax, ax + 1);
  }
  return scope_return(r);
}

mx_array *mx_roll(mx_array *a, const int *shift, const int *axes, int n) {
  MX_CHECK_NULL1(a);
  if (n < 0 || (n > 0 && !shift)) {
    mx_set_error(MX_ERR_INVALID, "[roll] invalid shift list");
    return NULL;
  }
  if (!axes) {
    /* the flattened array rolls by the sum of the shifts (numpy) */
    if (a->ndim == 0 || a->size == 0) return same(a);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += shift[i];
    int ax = 0;
    int t = (int)(total % a->size);
    mx_scope_begin();
    mx_array *r =
        mx_reshape(mx_roll(mx_flatten(a, 0, -1), &t, &ax, 1), a->shape, a->ndim);
    return scope_return(r);
  }
  int64_t acc[MX_MAX_NDIM] = {0};
  for (int i = 0; i < n; i++) {
    int ax = axes[i];
    if (!mx_norm_axis(&ax, a->ndim)) {
      mx_set_error(MX_ERR_INVALID, "[roll] axis %d out of range for %d-d array", axes[i],
                   a->ndim);
      return NULL;
    }
    acc[ax] += shift[i];
  }
  mx_roll_params p;
  memset(&p, 0, sizeof p);
  bool ident = true;
  for (int d = 0; d < a->ndim; d++) {
    int64_t len = a->shape[d];
    int64_t s = len ? ((acc[d] % len) + len) % len : 0;
    p.shift[d] = (int)s;
    ident &= s == 0;
  }
  if (ident) return same(a);
  return mx_node_make1(&mx_prim_roll, &p, sizeof p, &a, 1, a->dtype, a->shape, a->ndim);
}
