/* shape.c: CPU kernels for concatenate, pad and roll. Each is a handful of
 * N-d strided copies between regions of the input and the output, so one
 * body serves every dtype and every input layout. */
#include "../../primitives/shape.h"

#include "movement.h"

/* out: concatenation of in[0..nin) along axis; inputs may differ in dtype
 * (converted while copying). */
mx_status mx_cpu_concatenate(mx_node *n, mx_array **in, mx_array **out) {
  int axis = MX_PARAMS(mx_concatenate_params, n)->axis;
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK || o->size == 0) return rc;
  char *base = mx_array_ptr(o);
  int64_t isz = (int64_t)mx_dtype_size(o->dtype), at = 0;
  for (int i = 0; i < n->nin; i++) {
    mx_array *a = in[i];
    if (a->size)
      mx_cpu_copy_array_to(base + at * o->strides[axis] * isz, o->strides, o->dtype, a,
                           a->shape, a->ndim);
    at += a->shape[axis];
  }
  return MX_OK;
}

/* out: (.., lo[d] + n_d + hi[d], ..). The interior gets a; then axis by axis
 * the two borders of axis d are filled over the full extent of axes < d
 * (already complete) and the interior of axes > d, so every border element
 * is written exactly once. Edge mode reads the border's source from the
 * output itself (the edge row of axis d, broadcast with stride 0). */
mx_status mx_cpu_pad(mx_node *n, mx_array **in, mx_array **out) {
  const mx_pad_params *p = MX_PARAMS(mx_pad_params, n);
  mx_array *a = in[0], *v = in[1], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK || o->size == 0) return rc;
  int nd = o->ndim;
  int64_t isz = (int64_t)mx_dtype_size(o->dtype);
  char *base = mx_array_ptr(o);
  const int64_t *os = o->strides;
  int64_t interior = 0;
  for (int d = 0; d < nd; d++) interior += (int64_t)p->lo[d] * os[d];
  mx_cpu_copy_array_to(base + interior * isz, os, o->dtype, a, a->shape, nd);
  int64_t zero[MX_MAX_NDIM] = {0};
  for (int d = 0; d < nd; d++) {
    for (int side = 0; side < 2; side++) {
      int width = side == 0 ? p->lo[d] : p->hi[d];
      if (width == 0) continue;
      int shape[MX_MAX_NDIM];
      int64_t dst = 0, src = 0, ss[MX_MAX_NDIM];
      for (int e = 0; e < nd; e++) {
        int start = e < d ? 0 : p->lo[e];
        shape[e] = e < d ? o->shape[e] : a->shape[e];
        ss[e] = os[e];
        if (e == d) {
          shape[e] = width;
          start = side == 0 ? 0 : p->lo[d] + a->shape[d];
          src += (int64_t)(side == 0 ? p->lo[d] : p->lo[d] + a->shape[d] - 1) * os[e];
          ss[e] = 0;
        } else {
          src += (int64_t)start * os[e];
        }
        dst += (int64_t)start * os[e];
      }
      if (p->mode == MX_PAD_EDGE)
        mx_cpu_copy_nd(base + dst * isz, os, o->dtype, base + src * isz, ss, o->dtype,
                       shape, nd);
      else
        mx_cpu_copy_nd(base + dst * isz, os, o->dtype, mx_array_ptr(v), zero, v->dtype,
                       shape, nd);
    }
  }
  return MX_OK;
}

/* Each rolled axis splits into two blocks (out[s:] = a[:n-s], out[:s] =
 * a[n-s:]); the 2^k block combinations are copied directly. */
mx_status mx_cpu_roll(mx_node *n, mx_array **in, mx_array **out) {
  const mx_roll_params *p = MX_PARAMS(mx_roll_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK || o->size == 0) return rc;
  int nd = o->ndim, rolled[MX_MAX_NDIM], k = 0;
  for (int d = 0; d < nd; d++)
    if (p->shift[d]) rolled[k++] = d;
  int64_t isz = (int64_t)mx_dtype_size(o->dtype);
  char *obase = mx_array_ptr(o);
  const char *abase = mx_array_ptr(a);
  for (uint32_t mask = 0; mask < (1u << k); mask++) {
    int shape[MX_MAX_NDIM];
    for (int d = 0; d < nd; d++) shape[d] = o->shape[d];
    int64_t doff = 0, soff = 0;
    for (int j = 0; j < k; j++) {
      int d = rolled[j], s = p->shift[d], len = o->shape[d];
      if (mask & (1u << j)) { /* wrapped block: out[:s] = a[len-s:] */
        shape[d] = s;
        soff += (int64_t)(len - s) * a->strides[d];
      } else { /* out[s:] = a[:len-s] */
        shape[d] = len - s;
        doff += (int64_t)s * o->strides[d];
      }
    }
    mx_cpu_copy_nd(obase + doff * isz, o->strides, o->dtype, abase + soff * isz,
                   a->strides, a->dtype, shape, nd);
  }
  return MX_OK;
}
