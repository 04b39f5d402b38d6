/* reduce.c: constructors of the reductions (sum, prod, mean, var, std, max,
 * min, all, any, logsumexp), arg reductions, scans and softmax. They
 * validate axes, infer the output shape and dtype with MLX's rules and build
 * one node each (the kernels compute mean/var/std/logsumexp directly, so no
 * elementwise ops are needed).
 *
 * Dtype rules (MLX): sum/prod of bool -> int32, of signed ints of <= 4 bytes
 * -> int32, unsigned <= 4 bytes -> uint32, 64-bit ints and floats keep their
 * dtype; mean/var/std/logsumexp/softmax of non-inexact dtypes -> float32
 * (MLX's at_least_float); var/std of complex64 -> float32; max/min keep the
 * dtype; all/any -> bool; argmax/argmin -> uint32; cumsum of bool -> int32. */
#include <string.h>

#include "../primitives/reduce.h"

static mx_array *same(mx_array *a) { return mx_scope_adopt(mx_keep(a)); }

static mx_dtype at_least_float(mx_dtype t) {
  return mx_dtype_is_inexact(t) ? t : mx_promote_types(t, MX_FLOAT32);
}

static mx_dtype sum_dtype(mx_dtype t) {
  switch (mx_dtype_kind_of(t)) {
    case MX_KIND_BOOL:
      return MX_INT32;
    case MX_KIND_SIGNED:
      return mx_dtype_size(t) <= 4 ? MX_INT32 : MX_INT64;
    case MX_KIND_UNSIGNED:
      return mx_dtype_size(t) <= 4 ? MX_UINT32 : MX_UINT64;
    default:
      return t;
  }
}

/* axes -> bitmask (axes == NULL: every axis). Rejects out-of-range and
 * repeated axes. */
static bool resolve_axes(const char *op, const mx_array *a, const int *axes, int naxes,
                         uint32_t *mask) {
  *mask = 0;
  if (!axes) {
    for (int d = 0; d < a->ndim; d++) *mask |= 1u << d;
    return true;
  }
  if (naxes < 0 || naxes > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid number of axes %d", op, naxes);
    return false;
  }
  for (int i = 0; i < naxes; i++) {
    int ax = axes[i];
    if (!mx_norm_axis(&ax, a->ndim)) {
      mx_set_error(MX_ERR_INVALID, "[%s] invalid axis %d for array with %d dimensions",
                   op, axes[i], a->ndim);
      return false;
    }
    if (*mask & (1u << ax)) {
      mx_set_error(MX_ERR_INVALID, "[%s] duplicate axis %d in reduction", op, axes[i]);
      return false;
    }
    *mask |= 1u << ax;
  }
  return true;
}

static int reduced_shape(const mx_array *a, uint32_t mask, bool keepdims, int *shape) {
  int n = 0;
  for (int d = 0; d < a->ndim; d++) {
    if (!(mask & (1u << d)))
      shape[n++] = a->shape[d];
    else if (keepdims)
      shape[n++] = 1;
  }
  return n;
}

static mx_array *reduce_node(const mx_prim *prim, mx_array *a, int op, uint32_t mask,
                             bool keepdims, int ddof, mx_dtype out_t) {
  mx_reduce_params p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.axes = mask;
  p.ddof = ddof;
  p.keepdims = keepdims;
  int shape[MX_MAX_NDIM];
  int nd = reduced_shape(a, mask, keepdims, shape);
  return mx_node_make1(prim, &p, sizeof p, &a, 1, out_t, shape, nd);
}

/* max/min have no identity: an empty reduced axis is an error. */
static bool check_nonempty(const char *op, const mx_array *a, uint32_t mask) {
  for (int d = 0; d < a->ndim; d++)
    if ((mask & (1u << d)) && a->shape[d] == 0) {
      mx_set_error(MX_ERR_INVALID, "[%s] cannot %s reduce over axis %d with size 0", op,
                   op, d);
      return false;
    }
  return true;
}

mx_array *mx_sum(mx_array *a, const int *axes, int naxes, bool keepdims) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes("sum", a, axes, naxes, &m)) return NULL;
  if (!m) return same(a); /* MLX: no axes returns the input unchanged */
  return reduce_node(&mx_prim_reduce, a, MX_REDUCE_SUM, m, keepdims, 0,
                     sum_dtype(a->dtype));
}

mx_array *mx_prod(mx_array *a, const int *axes, int naxes, bool keepdims) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes("prod", a, axes, naxes, &m)) return NULL;
  if (!m) return same(a);
  return reduce_node(&mx_prim_reduce, a, MX_REDUCE_PROD, m, keepdims, 0,
                     sum_dtype(a->dtype));
}

static mx_array *minmax(const char *name, int op, mx_array *a, const int *axes, int naxes,
                        bool keepdims) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes(name, a, axes, naxes, &m)) return NULL;
  if (!check_nonempty(name, a, m)) return NULL;
  if (!m) return same(a);
  return reduce_node(&mx_prim_reduce, a, op, m, keepdims, 0, a->dtype);
}

mx_array *mx_max(mx_array *a, const int *axes, int naxes, bool keepdims) {
  return minmax("max", MX_REDUCE_MAX, a, axes, naxes, keepdims);
}

mx_array *mx_min(mx_array *a, const int *axes, int naxes, bool keepdims) {
  return minmax("min", MX_REDUCE_MIN, a, axes, naxes, keepdims);
}

static mx_array *logical(const char *name, int op, mx_array *a, const int *axes,
                         int naxes, bool keepdims) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes(name, a, axes, naxes, &m)) return NULL;
  if (!m) return mx_astype(a, MX_BOOL);
  return reduce_node(&mx_prim_reduce, a, op, m, keepdims, 0, MX_BOOL);
}

mx_array *mx_all(mx_array *a, const int *axes, int naxes, bool keepdims) {
  return logical("all", MX_REDUCE_AND, a, axes, naxes, keepdims);
}

mx_array *mx_any(mx_array *a, const int *axes, int naxes, bool keepdims) {
  return logical("any", MX_REDUCE_OR, a, axes, naxes, keepdims);
}

mx_array *mx_mean(mx_array *a, const int *axes, int naxes, bool keepdims) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes("mean", a, axes, naxes, &m)) return NULL;
  return reduce_node(&mx_prim_reduce, a, MX_REDUCE_MEAN, m, keepdims, 0,
                     at_least_float(a->dtype));
}

static mx_array *variance(const char *name, int op, mx_array *a, const int *axes,
                          int naxes, bool keepdims, int ddof) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes(name, a, axes, naxes, &m)) return NULL;
  mx_dtype t = at_least_float(a->dtype);
  if (t == MX_COMPLEX64) t = MX_FLOAT32; /* mean squared magnitude */
  return reduce_node(&mx_prim_reduce, a, op, m, keepdims, ddof, t);
}

mx_array *mx_var(mx_array *a, const int *axes, int naxes, bool keepdims, int ddof) {
  return variance("var", MX_REDUCE_VAR, a, axes, naxes, keepdims, ddof);
}

mx_array *mx_std(mx_array *a, const int *axes, int naxes, bool keepdims, int ddof) {
  return variance("std", MX_REDUCE_STD, a, axes, naxes, keepdims, ddof);
}

mx_array *mx_logsumexp(mx_array *a, const int *axes, int naxes, bool keepdims) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (!resolve_axes("logsumexp", a, axes, naxes, &m)) return NULL;
  if (a->size == 0) {
    mx_set_error(MX_ERR_INVALID, "[logsumexp] received an empty array");
    return NULL;
  }
  if (a->dtype == MX_COMPLEX64) {
    mx_set_error(MX_ERR_UNSUPPORTED, "[logsumexp] complex64 is not supported");
    return NULL;
  }
  return reduce_node(&mx_prim_logsumexp, a, MX_REDUCE_LOGSUMEXP, m, keepdims, 0,
                     at_least_float(a->dtype));
}

/* ---- arg reductions ---- */

static mx_array *arg_reduce(const char *name, int op, mx_array *a, int axis,
                            bool keepdims) {
  MX_CHECK_NULL1(a);
  if (a->size == 0) {
    mx_set_error(MX_ERR_INVALID, "[%s] cannot %s reduce a zero size array", name, name);
    return NULL;
  }
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid axis %d for array with %d dimensions",
                 name, axis, a->ndim);
    return NULL;
  }
  mx_argreduce_params p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.axis = ax;
  p.keepdims = keepdims;
  int shape[MX_MAX_NDIM];
  int nd = reduced_shape(a, 1u << ax, keepdims, shape);
  return mx_node_make1(&mx_prim_arg_reduce, &p, sizeof p, &a, 1, MX_UINT32, shape, nd);
}

mx_array *mx_argmax(mx_array *a, int axis, bool keepdims) {
  return arg_reduce("argmax", MX_ARGREDUCE_MAX, a, axis, keepdims);
}

mx_array *mx_argmin(mx_array *a, int axis, bool keepdims) {
  return arg_reduce("argmin", MX_ARGREDUCE_MIN, a, axis, keepdims);
}

/* Over the flattened array: reshape to 1-d, reduce axis 0, and give the
 * result shape () or (1, ..., 1) (a->ndim ones) with keepdims. */
static mx_array *arg_reduce_all(const char *name, int op, mx_array *a, bool keepdims) {
  MX_CHECK_NULL1(a);
  if (a->size == 0) {
    mx_set_error(MX_ERR_INVALID, "[%s] cannot %s reduce a zero size array", name, name);
    return NULL;
  }
  int n = (int)a->size;
  if ((int64_t)n != a->size) {
    mx_set_error(MX_ERR_INVALID, "[%s] array too large for uint32 indices", name);
    return NULL;
  }
  mx_array *flat = mx_reshape(a, &n, 1);
  MX_CHECK_NULL1(flat);
  mx_argreduce_params p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.axis = 0;
  p.keepdims = keepdims;
  int shape[MX_MAX_NDIM];
  int nd = keepdims ? a->ndim : 0;
  for (int d = 0; d < nd; d++) shape[d] = 1;
  return mx_node_make1(&mx_prim_arg_reduce, &p, sizeof p, &flat, 1, MX_UINT32, shape, nd);
}

mx_array *mx_argmax_all(mx_array *a, bool keepdims) {
  return arg_reduce_all("argmax", MX_ARGREDUCE_MAX, a, keepdims);
}

mx_array *mx_argmin_all(mx_array *a, bool keepdims) {
  return arg_reduce_all("argmin", MX_ARGREDUCE_MIN, a, keepdims);
}

/* ---- scans ---- */

static mx_array *scan(const char *name, int op, mx_array *a, int axis, bool reverse,
                      bool inclusive) {
  MX_CHECK_NULL1(a);
  int ax = axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] axis %d is out of bounds for array with %d dimensions", name, axis,
                 a->ndim);
    return NULL;
  }
  mx_scan_params p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.axis = ax;
  p.reverse = reverse;
  p.inclusive = inclusive;
  mx_dtype t = a->dtype;
  if (op == MX_SCAN_SUM && t == MX_BOOL) t = MX_INT32;
  return mx_node_make1(&mx_prim_scan, &p, sizeof p, &a, 1, t, a->shape, a->ndim);
}

mx_array *mx_cumsum(mx_array *a, int axis, bool reverse, bool inclusive) {
  return scan("cumsum", MX_SCAN_SUM, a, axis, reverse, inclusive);
}
mx_array *mx_cumprod(mx_array *a, int axis, bool reverse, bool inclusive) {
  return scan("cumprod", MX_SCAN_PROD, a, axis, reverse, inclusive);
}
mx_array *mx_cummax(mx_array *a, int axis, bool reverse, bool inclusive) {
  return scan("cummax", MX_SCAN_MAX, a, axis, reverse, inclusive);
}
mx_array *mx_cummin(mx_array *a, int axis, bool reverse, bool inclusive) {
  return scan("cummin", MX_SCAN_MIN, a, axis, reverse, inclusive);
}

/* ---- softmax ---- */

/* Always computed in float32 for half inputs (float64 in float64), so
 * `precise` changes nothing on the CPU; it is kept in params for backends
 * that compute in half precision when it is false. */
mx_array *mx_softmax(mx_array *a, const int *axes, int naxes, bool precise) {
  MX_CHECK_NULL1(a);
  uint32_t m;
  if (a->ndim == 0 && axes && naxes > 0) {
    mx_set_error(MX_ERR_INVALID, "[softmax] received non-empty axes for a 0-d array");
    return NULL;
  }
  if (!resolve_axes("softmax", a, axes, naxes, &m)) return NULL;
  if (a->size == 0) return same(a);
  if (a->dtype == MX_COMPLEX64) {
    mx_set_error(MX_ERR_UNSUPPORTED, "[softmax] complex64 is not supported");
    return NULL;
  }
  mx_softmax_params p;
  memset(&p, 0, sizeof p);
  p.axes = m;
  p.precise = precise;
  return mx_node_make1(&mx_prim_softmax, &p, sizeof p, &a, 1, at_least_float(a->dtype),
                       a->shape, a->ndim);
}
