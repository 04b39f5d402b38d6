/* views.c: shape ops that need no data movement: reshape, flatten,
 * unflatten, transpose, swapaxes, moveaxis, squeeze, expand_dims,
 * broadcast_to, broadcast_arrays, slice, slice_axis, as_strided. */
#include <limits.h>
#include <string.h>

#include "../primitives/views.h"

static mx_array *same(mx_array *a) { return mx_scope_adopt(mx_keep(a)); }

mx_array *mx_reshape(mx_array *a, const int *shape, int ndim) {
  MX_CHECK_NULL1(a);
  if (ndim < 0 || ndim > MX_MAX_NDIM || (ndim && !shape)) {
    mx_set_error(MX_ERR_INVALID, "[reshape] invalid shape");
    return NULL;
  }
  int s[MX_MAX_NDIM];
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < ndim; i++) {
    s[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0) {
        mx_set_error(MX_ERR_INVALID, "[reshape] only one dimension can be -1");
        return NULL;
      }
      infer = i;
    } else if (shape[i] < 0) {
      mx_set_error(MX_ERR_INVALID, "[reshape] negative dimension %d", shape[i]);
      return NULL;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || a->size % known) {
      mx_set_error(MX_ERR_INVALID, "[reshape] cannot infer -1 in %s for size %lld",
                   mx_shape_str(shape, ndim), (long long)a->size);
      return NULL;
    }
    s[infer] = (int)(a->size / known);
    known *= s[infer];
  }
  if (known != a->size) {
    mx_set_error(MX_ERR_INVALID, "[reshape] cannot reshape array of shape %s into %s",
                 mx_shape_str(a->shape, a->ndim), mx_shape_str(shape, ndim));
    return NULL;
  }
  if (ndim == a->ndim && memcmp(s, a->shape, (size_t)ndim * sizeof(int)) == 0)
    return same(a);
  return mx_node_make1(&mx_prim_reshape, NULL, 0, &a, 1, a->dtype, s, ndim);
}

mx_array *mx_flatten(mx_array *a, int start_axis, int end_axis) {
  MX_CHECK_NULL1(a);
  if (a->ndim == 0) {
    int one = 1;
    return mx_reshape(a, &one, 1);
  }
  if (!mx_norm_axis(&start_axis, a->ndim) || !mx_norm_axis(&end_axis, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[flatten] axes out of range for %d-d array", a->ndim);
    return NULL;
  }
  if (start_axis > end_axis) {
    mx_set_error(MX_ERR_INVALID, "[flatten] start_axis must be <= end_axis");
    return NULL;
  }
  int s[MX_MAX_NDIM], n = 0;
  for (int i = 0; i < start_axis; i++) s[n++] = a->shape[i];
  int64_t m = 1;
  for (int i = start_axis; i <= end_axis; i++) m *= a->shape[i];
  s[n++] = (int)m;
  for (int i = end_axis + 1; i < a->ndim; i++) s[n++] = a->shape[i];
  return mx_reshape(a, s, n);
}

mx_array *mx_unflatten(mx_array *a, int axis, const int *shape, int ndim) {
  MX_CHECK_NULL1(a);
  if (!mx_norm_axis(&axis, a->ndim) || ndim < 1 || a->ndim - 1 + ndim > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[unflatten] invalid axis or shape");
    return NULL;
  }
  int s[MX_MAX_NDIM], n = 0, infer = -1;
  int64_t known = 1;
  for (int i = 0; i < axis; i++) s[n++] = a->shape[i];
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == -1) {
      if (infer >= 0) {
        mx_set_error(MX_ERR_INVALID, "[unflatten] only one dimension can be -1");
        return NULL;
      }
      infer = n;
    } else {
      known *= shape[i];
    }
    s[n++] = shape[i];
  }
  if (infer >= 0 && known > 0 && a->shape[axis] % known == 0)
    s[infer] = (int)(a->shape[axis] / known);
  for (int i = axis + 1; i < a->ndim; i++) s[n++] = a->shape[i];
  int64_t prod = 1;
  for (int i = axis; i < axis + ndim; i++) prod *= s[i];
  if (prod != a->shape[axis]) {
    mx_set_error(MX_ERR_INVALID, "[unflatten] shape %s does not match axis of size %d",
                 mx_shape_str(shape, ndim), a->shape[axis]);
    return NULL;
  }
  return mx_reshape(a, s, n);
}

mx_array *mx_transpose(mx_array *a, const int *axes, int naxes) {
  MX_CHECK_NULL1(a);
  mx_transpose_params p;
  int nd = a->ndim;
  if (!axes) {
    for (int i = 0; i < nd; i++) p.perm[i] = nd - 1 - i;
  } else {
    if (naxes != nd) {
      mx_set_error(MX_ERR_INVALID, "[transpose] %d axes given for a %d-d array", naxes,
                   nd);
      return NULL;
    }
    bool seen[MX_MAX_NDIM] = {0};
    for (int i = 0; i < nd; i++) {
      int ax = axes[i];
      if (!mx_norm_axis(&ax, nd) || seen[ax]) {
        mx_set_error(MX_ERR_INVALID,
                     "[transpose] invalid or repeated axis %d for %d-d array", axes[i],
                     nd);
        return NULL;
      }
      seen[ax] = true;
      p.perm[i] = ax;
    }
  }
  bool ident = true;
  for (int i = 0; i < nd; i++) ident &= p.perm[i] == i;
  if (ident) return same(a);
  for (int i = nd; i < MX_MAX_NDIM; i++) p.perm[i] = 0;
  int s[MX_MAX_NDIM];
  for (int i = 0; i < nd; i++) s[i] = a->shape[p.perm[i]];
  return mx_node_make1(&mx_prim_transpose, &p, sizeof p, &a, 1, a->dtype, s, nd);
}

mx_array *mx_swapaxes(mx_array *a, int axis1, int axis2) {
  MX_CHECK_NULL1(a);
  if (!mx_norm_axis(&axis1, a->ndim) || !mx_norm_axis(&axis2, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[swapaxes] axis out of range for %d-d array", a->ndim);
    return NULL;
  }
  int perm[MX_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) perm[i] = i;
  perm[axis1] = axis2;
  perm[axis2] = axis1;
  return mx_transpose(a, perm, a->ndim);
}

mx_array *mx_moveaxis(mx_array *a, int source, int destination) {
  MX_CHECK_NULL1(a);
  if (!mx_norm_axis(&source, a->ndim) || !mx_norm_axis(&destination, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[moveaxis] axis out of range for %d-d array", a->ndim);
    return NULL;
  }
  int perm[MX_MAX_NDIM], n = 0;
  for (int i = 0; i < a->ndim; i++)
    if (i != source) perm[n++] = i;
  memmove(perm + destination + 1, perm + destination,
          (size_t)(a->ndim - 1 - destination) * sizeof(int));
  perm[destination] = source;
  return mx_transpose(a, perm, a->ndim);
}

mx_array *mx_squeeze(mx_array *a, const int *axes, int naxes) {
  MX_CHECK_NULL1(a);
  bool drop[MX_MAX_NDIM] = {0};
  if (!axes) {
    for (int i = 0; i < a->ndim; i++) drop[i] = a->shape[i] == 1;
  } else {
    for (int i = 0; i < naxes; i++) {
      int ax = axes[i];
      if (!mx_norm_axis(&ax, a->ndim)) {
        mx_set_error(MX_ERR_INVALID, "[squeeze] axis %d out of range for %d-d array",
                     axes[i], a->ndim);
        return NULL;
      }
      if (a->shape[ax] != 1) {
        mx_set_error(MX_ERR_INVALID, "[squeeze] cannot squeeze axis %d of size %d",
                     axes[i], a->shape[ax]);
        return NULL;
      }
      drop[ax] = true;
    }
  }
  int s[MX_MAX_NDIM], n = 0;
  for (int i = 0; i < a->ndim; i++)
    if (!drop[i]) s[n++] = a->shape[i];
  return mx_reshape(a, s, n);
}

mx_array *mx_expand_dims(mx_array *a, const int *axes, int naxes) {
  MX_CHECK_NULL1(a);
  int nd = a->ndim + naxes;
  if (naxes < 0 || nd > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[expand_dims] too many dimensions");
    return NULL;
  }
  bool ins[MX_MAX_NDIM] = {0};
  for (int i = 0; i < naxes; i++) {
    int ax = axes[i];
    if (!mx_norm_axis(&ax, nd) || ins[ax]) {
      mx_set_error(MX_ERR_INVALID, "[expand_dims] invalid or repeated axis %d", axes[i]);
      return NULL;
    }
    ins[ax] = true;
  }
  int s[MX_MAX_NDIM], k = 0;
  for (int i = 0; i < nd; i++) s[i] = ins[i] ? 1 : a->shape[k++];
  return mx_reshape(a, s, nd);
}

mx_array *mx_broadcast_to(mx_array *a, const int *shape, int ndim) {
  MX_CHECK_NULL1(a);
  int out[MX_MAX_NDIM], n;
  if (ndim < a->ndim || ndim > MX_MAX_NDIM ||
      !mx_broadcast_shapes(a->shape, a->ndim, shape, ndim, out, &n) ||
      memcmp(out, shape, (size_t)ndim * sizeof(int)) != 0) {
    mx_set_error(MX_ERR_INVALID, "[broadcast_to] cannot broadcast %s to %s",
                 mx_shape_str(a->shape, a->ndim), mx_shape_str(shape, ndim));
    return NULL;
  }
  if (ndim == a->ndim && memcmp(shape, a->shape, (size_t)ndim * sizeof(int)) == 0)
    return same(a);
  return mx_node_make1(&mx_prim_broadcast, NULL, 0, &a, 1, a->dtype, shape, ndim);
}

mx_status mx_broadcast_arrays(mx_array *const *arrays, int n, mx_array **out) {
  int shape[MX_MAX_NDIM], nd = 0;
  for (int i = 0; i < n; i++) {
    if (!arrays[i]) return mx_last_status() ? mx_last_status() : MX_ERR_INVALID;
    int tmp[MX_MAX_NDIM], nt;
    if (!mx_broadcast_shapes(shape, nd, arrays[i]->shape, arrays[i]->ndim, tmp, &nt))
      return mx_set_error(
          MX_ERR_INVALID, "[broadcast_arrays] shapes %s and %s do not broadcast",
          mx_shape_str(shape, nd), mx_shape_str(arrays[i]->shape, arrays[i]->ndim));
    memcpy(shape, tmp, sizeof tmp);
    nd = nt;
  }
  for (int i = 0; i < n; i++) {
    out[i] = mx_broadcast_to(arrays[i], shape, nd);
    if (!out[i]) return mx_last_status();
  }
  return MX_OK;
}

int mx_slice_normalize(int n, int start, int stop, int step, int *first) {
  int64_t s, e;
  if (step > 0) {
    s = start == MX_SLICE_DEFAULT ? 0 : start;
    e = stop == MX_SLICE_DEFAULT ? n : stop;
    if (s < 0) s += n;
    if (e < 0) e += n;
    if (s < 0) s = 0;
    if (s > n) s = n;
    if (e < 0) e = 0;
    if (e > n) e = n;
    *first = (int)s;
    return e > s ? (int)((e - s + step - 1) / step) : 0;
  }
  s = start == MX_SLICE_DEFAULT ? n - 1 : start;
  e = stop == MX_SLICE_DEFAULT ? -1 : stop;
  if (start != MX_SLICE_DEFAULT && s < 0) s += n;
  if (stop != MX_SLICE_DEFAULT && e < 0) e += n;
  if (s < -1) s = -1;
  if (s > n - 1) s = n - 1;
  if (e < -1) e = -1;
  if (e > n - 1) e = n - 1;
  *first = s < 0 ? 0 : (int)s;
  return s > e ? (int)((s - e + (-step) - 1) / (-step)) : 0;
}

mx_array *mx_slice(mx_array *a, const int *start, const int *stop, const int *step) {
  MX_CHECK_NULL1(a);
  mx_slice_params p;
  memset(&p, 0, sizeof p);
  int s[MX_MAX_NDIM];
  bool ident = true;
  for (int d = 0; d < a->ndim; d++) {
    int st = step ? step[d] : 1;
    if (st == 0) {
      mx_set_error(MX_ERR_INVALID, "[slice] step cannot be zero (axis %d)", d);
      return NULL;
    }
    s[d] = mx_slice_normalize(a->shape[d], start ? start[d] : MX_SLICE_DEFAULT,
                              stop ? stop[d] : MX_SLICE_DEFAULT, st, &p.start[d]);
    p.step[d] = st;
    if (s[d] == 0) p.start[d] = 0;
    ident &= s[d] == a->shape[d] && st == 1 && p.start[d] == 0;
  }
  if (ident) return same(a);
  return mx_node_make1(&mx_prim_slice, &p, sizeof p, &a, 1, a->dtype, s, a->ndim);
}

mx_array *mx_slice_axis(mx_array *a, int axis, int start, int stop, int step) {
  MX_CHECK_NULL1(a);
  if (!mx_norm_axis(&axis, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[slice] axis %d out of range for %d-d array", axis,
                 a->ndim);
    return NULL;
  }
  int st[MX_MAX_NDIM], sp[MX_MAX_NDIM], stp[MX_MAX_NDIM];
  for (int d = 0; d < a->ndim; d++) {
    st[d] = MX_SLICE_DEFAULT;
    sp[d] = MX_SLICE_DEFAULT;
    stp[d] = 1;
  }
  st[axis] = start;
  sp[axis] = stop;
  stp[axis] = step;
  return mx_slice(a, st, sp, stp);
}

mx_array *mx_as_strided(mx_array *a, const int *shape, const int64_t *strides, int ndim,
                        int64_t offset) {
  MX_CHECK_NULL1(a);
  if (ndim < 0 || ndim > MX_MAX_NDIM || (ndim && (!shape || !strides))) {
    mx_set_error(MX_ERR_INVALID, "[as_strided] invalid shape or strides");
    return NULL;
  }
  /* every reachable element must lie inside a */
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) {
      mx_set_error(MX_ERR_INVALID, "[as_strided] negative dimension");
      return NULL;
    }
    if (shape[d] == 0) {
      lo = hi = 0;
      break;
    }
    int64_t span = (int64_t)(shape[d] - 1) * strides[d];
    if (span < 0)
      lo += span;
    else
      hi += span;
  }
  if (mx_shape_size(shape, ndim) > 0 && (lo < 0 || hi >= a->size)) {
    mx_set_error(
        MX_ERR_INVALID,
        "[as_strided] view reaches elements [%lld, %lld] outside an array of size %lld",
        (long long)lo, (long long)hi, (long long)a->size);
    return NULL;
  }
  mx_as_strided_params p;
  memset(&p, 0, sizeof p);
  memcpy(p.strides, strides, (size_t)ndim * sizeof(int64_t));
  p.offset = offset;
  return mx_node_make1(&mx_prim_as_strided, &p, sizeof p, &a, 1, a->dtype, shape, ndim);
}
