/* layout.c: CPU kernels for astype, copy and view. */
#include "../../primitives/layout.h"

#include <string.h>

#include "dtypes.h"
#include "iter.h"

mx_status mx_cpu_astype(mx_node *n, mx_array **in, mx_array **out) {
  (void)n;
  mx_status rc = mx_array_alloc(out[0]);
  if (rc != MX_OK) return rc;
  if (out[0]->size) mx_copy_convert(in[0], mx_array_ptr(out[0]), out[0]->dtype);
  return MX_OK;
}

mx_status mx_cpu_copy(mx_node *n, mx_array **in, mx_array **out) {
  (void)n;
  mx_status rc = mx_array_alloc(out[0]);
  if (rc != MX_OK) return rc;
  if (out[0]->size) mx_copy_strided(in[0], mx_array_ptr(out[0]));
  return MX_OK;
}

/* view: reinterpret bytes. A contiguous input is shared; otherwise copied
 * first. Element strides rescale by the size ratio on the last axis. */
mx_status mx_cpu_view(mx_node *n, mx_array **in, mx_array **out) {
  (void)n;
  mx_array *a = in[0], *o = out[0];
  size_t ib = mx_dtype_size(a->dtype), ob = mx_dtype_size(o->dtype);
  if (a->row_contiguous && (a->offset * (int64_t)ib) % (int64_t)ob == 0) {
    int64_t strides[MX_MAX_NDIM];
    mx_row_strides(o->shape, o->ndim, strides);
    mx_array_set_view(o, a, strides, a->offset * (int64_t)ib / (int64_t)ob);
    return MX_OK;
  }
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size) mx_copy_strided(a, mx_array_ptr(o));
  return MX_OK;
}
