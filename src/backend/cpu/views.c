/* views.c: evaluation of view primitives: set strides and offset over the
 * input's buffer; copy only when the layout cannot be expressed (reshape of
 * some non-contiguous inputs). */
#include "../../primitives/views.h"

#include <string.h>

#include "iter.h"

/* Can `in` be viewed with out's shape without a copy? Works for any layout
 * where each group of merged input axes is itself contiguous (MLX's rule). */
static bool reshape_strides(const mx_array *in, const mx_array *out, int64_t *strides) {
  if (in->row_contiguous) {
    mx_row_strides(out->shape, out->ndim, strides);
    return true;
  }
  /* drop size-1 input dims */
  int ishape[MX_MAX_NDIM];
  int64_t istr[MX_MAX_NDIM];
  int ni = 0;
  for (int d = 0; d < in->ndim; d++)
    if (in->shape[d] != 1) {
      ishape[ni] = in->shape[d];
      istr[ni++] = in->strides[d];
    }
  int oi = 0;
  int i = 0;
  while (oi < out->ndim) {
    if (out->shape[oi] == 1) {
      strides[oi++] = 0;
      continue;
    }
    if (i >= ni) return false;
    /* consume input dims i..j whose product matches output dims oi..ok */
    int64_t ip = ishape[i], op = out->shape[oi];
    int j = i, k = oi;
    while (ip != op) {
      if (ip < op) {
        j++;
        if (j >= ni) return false;
        if (istr[j - 1] != istr[j] * ishape[j]) return false;
        ip *= ishape[j];
      } else {
        k++;
        if (k >= out->ndim) return false;
        op *= out->shape[k];
      }
    }
    /* output dims oi..k get strides from the merged input group ending at
     * istr[j] */
    int64_t s = istr[j];
    for (int q = k; q >= oi; q--) {
      strides[q] = out->shape[q] == 1 ? 0 : s;
      s *= out->shape[q];
    }
    oi = k + 1;
    i = j + 1;
  }
  return i == ni;
}

mx_status mx_cpu_reshape(mx_node *n, mx_array **in, mx_array **out) {
  (void)n;
  int64_t strides[MX_MAX_NDIM];
  if (in[0]->size == 0 || reshape_strides(in[0], out[0], strides)) {
    if (in[0]->size == 0) mx_row_strides(out[0]->shape, out[0]->ndim, strides);
    mx_array_set_view(out[0], in[0], strides, in[0]->offset);
    return MX_OK;
  }
  mx_status rc = mx_array_alloc(out[0]);
  if (rc != MX_OK) return rc;
  mx_copy_strided(in[0], mx_array_ptr(out[0]));
  return MX_OK;
}

mx_status mx_cpu_transpose(mx_node *n, mx_array **in, mx_array **out) {
  const mx_transpose_params *p = MX_PARAMS(mx_transpose_params, n);
  int64_t strides[MX_MAX_NDIM];
  for (int d = 0; d < out[0]->ndim; d++) strides[d] = in[0]->strides[p->perm[d]];
  mx_array_set_view(out[0], in[0], strides, in[0]->offset);
  return MX_OK;
}

mx_status mx_cpu_broadcast(mx_node *n, mx_array **in, mx_array **out) {
  (void)n;
  int64_t strides[MX_MAX_NDIM];
  mx_broadcast_strides(in[0], out[0]->shape, out[0]->ndim, strides);
  mx_array_set_view(out[0], in[0], strides, in[0]->offset);
  return MX_OK;
}

mx_status mx_cpu_slice(mx_node *n, mx_array **in, mx_array **out) {
  const mx_slice_params *p = MX_PARAMS(mx_slice_params, n);
  int64_t strides[MX_MAX_NDIM], off = in[0]->offset;
  for (int d = 0; d < out[0]->ndim; d++) {
    strides[d] = in[0]->strides[d] * p->step[d];
    if (out[0]->size) off += (int64_t)p->start[d] * in[0]->strides[d];
  }
  mx_array_set_view(out[0], in[0], strides, off);
  return MX_OK;
}

mx_status mx_cpu_as_strided(mx_node *n, mx_array **in, mx_array **out) {
  const mx_as_strided_params *p = MX_PARAMS(mx_as_strided_params, n);
  mx_array *a = in[0];
  if (!a->row_contiguous) {
    /* strides are relative to a's contiguous layout: materialise it */
    mx_buffer *b = mx_buffer_alloc((size_t)a->size * mx_dtype_size(a->dtype));
    if (!b) return MX_ERR_NOMEM;
    mx_copy_strided(a, b->host);
    if (out[0]->buf) mx_buffer_release(out[0]->buf);
    out[0]->buf = b;
    memcpy(out[0]->strides, p->strides, (size_t)out[0]->ndim * sizeof(int64_t));
    out[0]->offset = p->offset;
    out[0]->row_contiguous =
        mx_check_row_contiguous(out[0]->shape, out[0]->strides, out[0]->ndim);
    return MX_OK;
  }
  mx_array_set_view(out[0], a, p->strides, a->offset + p->offset);
  return MX_OK;
}
