/* layout.c: astype, contiguous, copy and view ops. */
#include "../primitives/layout.h"

mx_array *mx_astype(mx_array *a, mx_dtype t) {
  MX_CHECK_NULL1(a);
  if ((unsigned)t >= MX_NUM_DTYPES) {
    mx_set_error(MX_ERR_INVALID, "[astype] invalid dtype %d", (int)t);
    return NULL;
  }
  if (t == a->dtype) return mx_scope_adopt(mx_keep(a));
  return mx_node_make1(&mx_prim_astype, NULL, 0, &a, 1, t, a->shape, a->ndim);
}

mx_array *mx_copy(mx_array *a) {
  MX_CHECK_NULL1(a);
  return mx_node_make1(&mx_prim_copy, NULL, 0, &a, 1, a->dtype, a->shape, a->ndim);
}

mx_array *mx_contiguous(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (mx_array_is_evaluated(a) && a->row_contiguous) return mx_scope_adopt(mx_keep(a));
  return mx_copy(a);
}

mx_array *mx_view(mx_array *a, mx_dtype t) {
  MX_CHECK_NULL1(a);
  if ((unsigned)t >= MX_NUM_DTYPES) {
    mx_set_error(MX_ERR_INVALID, "[view] invalid dtype %d", (int)t);
    return NULL;
  }
  size_t ib = mx_dtype_size(a->dtype), ob = mx_dtype_size(t);
  int shape[MX_MAX_NDIM];
  int nd = a->ndim;
  for (int i = 0; i < nd; i++) shape[i] = a->shape[i];
  if (ib != ob) {
    if (nd == 0) {
      mx_set_error(MX_ERR_INVALID,
                   "[view] cannot view a 0-d %s array as %s (sizes differ)",
                   mx_dtype_name(a->dtype), mx_dtype_name(t));
      return NULL;
    }
    int64_t bytes = (int64_t)shape[nd - 1] * (int64_t)ib;
    if (bytes % (int64_t)ob) {
      mx_set_error(MX_ERR_INVALID,
                   "[view] last axis of %lld bytes is not a multiple of %s's "
                   "size %zu",
                   (long long)bytes, mx_dtype_name(t), ob);
      return NULL;
    }
    shape[nd - 1] = (int)(bytes / (int64_t)ob);
  }
  return mx_node_make1(&mx_prim_view, NULL, 0, &a, 1, t, shape, nd);
}
