/* sort.c: constructors of sort, argsort, partition, argpartition and topk.
 * Sorting is ascending with NaN last (numpy order); argsort is stable;
 * indices are uint32 (MLX). */
#include <string.h>

#include "../primitives/reduce.h"

static bool norm_axis(const char *op, const mx_array *a, int *axis) {
  int ax = *axis;
  if (!mx_norm_axis(&ax, a->ndim)) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid axis %d for array with %d dimensions", op,
                 *axis, a->ndim);
    return false;
  }
  *axis = ax;
  return true;
}

static mx_array *sort_node(const mx_prim *prim, const char *op, mx_array *a, int axis,
                           int kth, bool partition, mx_dtype t) {
  MX_CHECK_NULL1(a);
  int ax = axis;
  if (!norm_axis(op, a, &ax)) return NULL;
  mx_sort_params p;
  memset(&p, 0, sizeof p);
  p.axis = ax;
  if (partition) {
    int n = a->shape[ax];
    int k = kth < 0 ? kth + n : kth;
    if (k < 0 || k >= n) {
      mx_set_error(MX_ERR_INVALID,
                   "[%s] invalid kth %d along axis %d for array with shape %s", op, kth,
                   axis, mx_shape_str(a->shape, a->ndim));
      return NULL;
    }
    p.kth = k;
  }
  return mx_node_make1(prim, &p, sizeof p, &a, 1, t, a->shape, a->ndim);
}

mx_array *mx_sort(mx_array *a, int axis) {
  MX_CHECK_NULL1(a);
  return sort_node(&mx_prim_sort, "sort", a, axis, 0, false, a->dtype);
}

mx_array *mx_argsort(mx_array *a, int axis) {
  return sort_node(&mx_prim_argsort, "argsort", a, axis, 0, false, MX_UINT32);
}

mx_array *mx_partition(mx_array *a, int kth, int axis) {
  MX_CHECK_NULL1(a);
  return sort_node(&mx_prim_partition, "partition", a, axis, kth, true, a->dtype);
}

mx_array *mx_argpartition(mx_array *a, int kth, int axis) {
  return sort_node(&mx_prim_argpartition, "argpartition", a, axis, kth, true, MX_UINT32);
}

/* As MLX: the last k entries of partition(a, -k, axis), i.e. the k largest
 * with the smallest of them first and the rest in no particular order. */
mx_array *mx_topk(mx_array *a, int k, int axis) {
  MX_CHECK_NULL1(a);
  int ax = axis;
  if (!norm_axis("topk", a, &ax)) return NULL;
  int n = a->shape[ax];
  if (k < 0 || k > n) {
    mx_set_error(MX_ERR_INVALID,
                 "[topk] invalid k=%d along axis %d for array with shape %s", k, axis,
                 mx_shape_str(a->shape, a->ndim));
    return NULL;
  }
  if (k == n) return mx_scope_adopt(mx_keep(a));
  if (k == 0) return mx_slice_axis(a, ax, 0, 0, 1);
  mx_array *part = mx_partition(a, -k, ax);
  return mx_slice_axis(part, ax, n - k, n, 1);
}
