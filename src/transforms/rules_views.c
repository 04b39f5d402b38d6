/* rules_views.c: vjp/jvp/vmap rules of the view primitives (reshape,
 * transpose, broadcast, slice, as_strided). All are linear, so their jvp is
 * the primitive applied to the tangent. */
#include <string.h>

#include "../primitives/indexing.h"
#include "../primitives/views.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

/* The linear primitives' jvp: the primitive on the tangent. */
static mx_status jvp_linear1(mx_node *n, mx_array *const *tangents,
                             mx_array **out_tangents) {
  out_tangents[0] = mx_tr_reapply1(n, tangents);
  return st(out_tangents[0]);
}

/* ---- reshape ---- */
MX_TR_VJP(reshape) {
  (void)n, (void)out, (void)argnums, (void)nargs;
  grads[0] = mx_reshape(cotan[0], in[0]->shape, in[0]->ndim);
  return st(grads[0]);
}

MX_TR_JVP(reshape) {
  (void)in, (void)argnums, (void)nargs;
  return jvp_linear1(n, tangents, out_tangents);
}

MX_TR_VMAP(reshape) {
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  const mx_array *y = n->out[0];
  int s[MX_MAX_NDIM];
  s[0] = x->shape[0];
  memcpy(s + 1, y->shape, sizeof(int) * (size_t)y->ndim);
  out[0] = mx_reshape(x, s, y->ndim + 1);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- transpose ---- */
MX_TR_VJP(transpose) {
  (void)out, (void)argnums, (void)nargs;
  const mx_transpose_params *p = MX_PARAMS(mx_transpose_params, n);
  int inv[MX_MAX_NDIM], nd = in[0]->ndim;
  for (int i = 0; i < nd; i++) inv[p->perm[i]] = i;
  grads[0] = mx_transpose(cotan[0], inv, nd);
  return st(grads[0]);
}

MX_TR_JVP(transpose) {
  (void)in, (void)argnums, (void)nargs;
  return jvp_linear1(n, tangents, out_tangents);
}

MX_TR_VMAP(transpose) {
  const mx_transpose_params *p = MX_PARAMS(mx_transpose_params, n);
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  int perm[MX_MAX_NDIM], nd = x->ndim;
  perm[0] = 0;
  for (int i = 1; i < nd; i++) perm[i] = p->perm[i - 1] + 1;
  out[0] = mx_transpose(x, perm, nd);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- broadcast ---- */
MX_TR_VJP(broadcast) {
  (void)n, (void)out, (void)argnums, (void)nargs;
  grads[0] = mx_tr_sum_to_shape(cotan[0], in[0]->shape, in[0]->ndim);
  return st(grads[0]);
}

MX_TR_JVP(broadcast) {
  (void)in, (void)argnums, (void)nargs;
  return jvp_linear1(n, tangents, out_tangents);
}

MX_TR_VMAP(broadcast) {
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  const mx_array *y = n->out[0];
  int r = x->ndim - 1, R = y->ndim, s[MX_MAX_NDIM], k = 0;
  s[k++] = x->shape[0];
  for (int i = r; i < R; i++) s[k++] = 1;
  for (int i = 1; i <= r; i++) s[k++] = x->shape[i];
  int b[MX_MAX_NDIM];
  b[0] = x->shape[0];
  memcpy(b + 1, y->shape, sizeof(int) * (size_t)R);
  out[0] = mx_broadcast_to(mx_reshape(x, s, k), b, R + 1);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- slice ---- */
static void slice_bounds(const mx_slice_params *p, const int *oshape, int nd, int *start,
                         int *stop, int *step) {
  mx_tr_slice_bounds(p->start, p->step, oshape, nd, start, stop, step);
}

MX_TR_VJP(slice) {
  (void)out, (void)argnums, (void)nargs;
  const mx_slice_params *p = MX_PARAMS(mx_slice_params, n);
  int start[MX_MAX_NDIM], stop[MX_MAX_NDIM], step[MX_MAX_NDIM];
  slice_bounds(p, n->out[0]->shape, in[0]->ndim, start, stop, step);
  grads[0] = mx_slice_update(mx_tr_zeros_like(in[0]), cotan[0], start, stop, step);
  return st(grads[0]);
}

MX_TR_JVP(slice) {
  (void)in, (void)argnums, (void)nargs;
  return jvp_linear1(n, tangents, out_tangents);
}

MX_TR_VMAP(slice) {
  const mx_slice_params *p = MX_PARAMS(mx_slice_params, n);
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  int start[MX_MAX_NDIM], stop[MX_MAX_NDIM], step[MX_MAX_NDIM];
  int nd = n->out[0]->ndim;
  slice_bounds(p, n->out[0]->shape, nd, start + 1, stop + 1, step + 1);
  start[0] = stop[0] = MX_SLICE_DEFAULT;
  step[0] = 1;
  out[0] = mx_slice(x, start, stop, step);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- as_strided ---- */
/* The element of in's contiguous layout that each output element reads. */
static mx_array *strided_index(const mx_node *n, int64_t in_size) {
  const mx_as_strided_params *p = MX_PARAMS(mx_as_strided_params, n);
  const mx_array *y = n->out[0];
  mx_dtype it = in_size <= INT32_MAX ? MX_INT32 : MX_INT64;
  return mx_as_strided(mx_arange(0, (double)in_size, 1, it), y->shape, p->strides,
                       y->ndim, p->offset);
}

MX_TR_VJP(as_strided) {
  (void)out, (void)argnums, (void)nargs;
  mx_array *a = in[0];
  int flat = (int)a->size, k = (int)n->out[0]->size, zero = 0;
  int ushape[2] = {k, 1};
  mx_array *idx = mx_reshape(strided_index(n, a->size), &k, 1);
  mx_array *z = mx_zeros(&flat, 1, cotan[0]->dtype);
  mx_array *g =
      mx_scatter(z, &idx, 1, mx_reshape(cotan[0], ushape, 2), &zero, MX_SCATTER_ADD);
  grads[0] = mx_reshape(g, a->shape, a->ndim);
  return st(grads[0]);
}

MX_TR_JVP(as_strided) {
  (void)in, (void)argnums, (void)nargs;
  return jvp_linear1(n, tangents, out_tangents);
}

MX_TR_VMAP(as_strided) {
  const mx_as_strided_params *p = MX_PARAMS(mx_as_strided_params, n);
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  const mx_array *y = n->out[0];
  int s[MX_MAX_NDIM];
  int64_t strides[MX_MAX_NDIM];
  s[0] = x->shape[0];
  strides[0] = in_axes[0] >= 0 ? mx_shape_size(x->shape + 1, x->ndim - 1) : 0;
  memcpy(s + 1, y->shape, sizeof(int) * (size_t)y->ndim);
  memcpy(strides + 1, p->strides, sizeof(int64_t) * (size_t)y->ndim);
  out[0] = mx_as_strided(x, s, strides, y->ndim + 1, p->offset);
  out_axes[0] = 0;
  return st(out[0]);
}
