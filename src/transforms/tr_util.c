/* tr_util.c: helper ops shared by the transform rules: arithmetic on
 * cotangents, reductions to a broadcast source shape, re-applying a node's
 * primitive to new inputs, and the batching helpers of vmap rules. */
#include <stdlib.h>
#include <string.h>

#include "tr.h"

static mx_status fail(void) {
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

bool mx_tr_inexact(const mx_array *a) { return a && mx_dtype_is_inexact(a->dtype); }

mx_array *mx_tr_zeros_like(const mx_array *a) {
  if (!a) return NULL;
  return mx_zeros(a->shape, a->ndim, a->dtype);
}

/* Close a scope, handing r to the caller's. */
static mx_array *scope_return(mx_array *r) {
  mx_keep(r);
  mx_scope_end();
  return mx_scope_adopt(r);
}

mx_array *mx_tr_add(mx_array *a, mx_array *b) { return mx_add(a, b); }

mx_array *mx_tr_sub(mx_array *a, mx_array *b) { return mx_subtract(a, b); }

mx_array *mx_tr_scale(mx_array *a, double k) {
  MX_CHECK_NULL1(a);
  return mx_multiply(a, mx_scalar_like(a, k));
}

mx_array *mx_tr_sum_to_shape(mx_array *x, const int *shape, int ndim) {
  MX_CHECK_NULL1(x);
  int lead = x->ndim - ndim;
  if (lead < 0) {
    mx_set_error(MX_ERR_INVALID, "[transforms] sum_to_shape: target has more axes");
    return NULL;
  }
  int axes[MX_MAX_NDIM], nred = 0;
  for (int d = 0; d < x->ndim; d++)
    if (d < lead || (shape[d - lead] == 1 && x->shape[d] != 1)) axes[nred++] = d;
  if (nred == 0) return mx_reshape(x, shape, ndim);
  mx_scope_begin();
  return scope_return(mx_reshape(mx_sum(x, axes, nred, true), shape, ndim));
}

mx_array *mx_tr_sum_all(mx_array *x) { return mx_tr_sum_to_shape(x, NULL, 0); }

mx_status mx_tr_reapply(const mx_node *n, mx_array *const *in, mx_array **out) {
  mx_dtype dt[64];
  const int *shapes[64];
  int nd[64];
  if (n->nout > 64)
    return mx_set_error(MX_ERR_UNSUPPORTED, "[transforms] too many outputs");
  for (int o = 0; o < n->nout; o++) {
    dt[o] = n->out[o]->dtype;
    shapes[o] = n->out[o]->shape;
    nd[o] = n->out[o]->ndim;
  }
  return mx_node_make(n->prim, n->params, n->params_size, in, n->nin, n->nout, dt, shapes,
                      nd, out);
}

mx_array *mx_tr_reapply1(const mx_node *n, mx_array *const *in) {
  mx_array *r = NULL;
  if (mx_tr_reapply(n, in, &r) != MX_OK) return NULL;
  return r;
}

mx_array *mx_tr_remake1(const mx_node *n, const void *params, mx_array *const *in,
                        mx_dtype t, const int *shape, int ndim) {
  return mx_node_make1(n->prim, params, n->params_size, in, n->nin, t, shape, ndim);
}

mx_status mx_tr_tangent_inputs(const mx_node *n, mx_array *const *tangents,
                               const int *argnums, int nargs, uint64_t index_mask,
                               mx_array **x) {
  for (int i = 0; i < n->nin; i++) x[i] = NULL;
  for (int j = 0; j < nargs; j++) x[argnums[j]] = tangents[j];
  for (int i = 0; i < n->nin; i++) {
    if (x[i]) continue;
    bool index = i < 64 && (index_mask >> i) & 1;
    x[i] = index ? n->in[i] : mx_tr_zeros_like(n->in[i]);
    if (!x[i]) return fail();
  }
  return MX_OK;
}

void mx_tr_slice_bounds(const int *first, const int *step_in, const int *count, int nd,
                        int *start, int *stop, int *step) {
  for (int d = 0; d < nd; d++) {
    int64_t s = first[d], k = count[d], e = s + k * step_in[d];
    start[d] = (int)s;
    step[d] = step_in[d];
    if (k == 0) {
      start[d] = stop[d] = 0;
      step[d] = 1;
    } else if (step_in[d] < 0 && e < 0) {
      stop[d] = MX_SLICE_DEFAULT; /* down to and including index 0 */
    } else {
      stop[d] = (int)e;
    }
  }
}

/* ---- batching ---- */
int mx_tr_batch_size(mx_array *const *in, const int *axes, int n) {
  for (int i = 0; i < n; i++)
    if (axes[i] >= 0) return in[i]->shape[axes[i]];
  return 1;
}

mx_array *mx_tr_batch_front(mx_array *x, int axis) {
  MX_CHECK_NULL1(x);
  if (axis <= 0) return x;
  return mx_moveaxis(x, axis, 0);
}

mx_array *mx_tr_batch_bcast(mx_array *x, int axis, int B) {
  MX_CHECK_NULL1(x);
  if (axis >= 0) return mx_tr_batch_front(x, axis);
  if (x->ndim + 1 > MX_MAX_NDIM) {
    mx_set_error(MX_ERR_INVALID, "[vmap] too many dimensions");
    return NULL;
  }
  int s[MX_MAX_NDIM];
  s[0] = B;
  memcpy(s + 1, x->shape, sizeof(int) * (size_t)x->ndim);
  mx_scope_begin();
  int zero = 0;
  return scope_return(mx_broadcast_to(mx_expand_dims(x, &zero, 1), s, x->ndim + 1));
}

mx_status mx_tr_align(mx_array *const *in, const int *axes, int n, mx_array **out) {
  int maxr = 0;
  for (int i = 0; i < n; i++) {
    int r = in[i]->ndim - (axes[i] >= 0);
    if (r > maxr) maxr = r;
  }
  if (maxr + 1 > MX_MAX_NDIM)
    return mx_set_error(MX_ERR_INVALID, "[vmap] too many dimensions");
  for (int i = 0; i < n; i++) {
    if (axes[i] < 0) {
      out[i] = in[i];
      continue;
    }
    mx_array *x = mx_tr_batch_front(in[i], axes[i]);
    if (!x) return fail();
    int r = x->ndim - 1, s[MX_MAX_NDIM], k = 0;
    s[k++] = x->shape[0];
    for (int j = r; j < maxr; j++) s[k++] = 1;
    for (int j = 1; j <= r; j++) s[k++] = x->shape[j];
    out[i] = k == x->ndim ? x : mx_reshape(x, s, k);
    if (!out[i]) return fail();
  }
  return MX_OK;
}

mx_status mx_tr_vmap_loop(const mx_node *n, mx_array *const *in, const int *axes,
                          mx_array **out, int *out_axes) {
  int B = mx_tr_batch_size(in, axes, n->nin);
  int nout = n->nout;
  mx_array **slices = calloc((size_t)(n->nin ? n->nin : 1), sizeof *slices);
  mx_array **res = calloc((size_t)(B ? B : 1) * (size_t)nout, sizeof *res);
  mx_array **col = calloc((size_t)(B ? B : 1), sizeof *col);
  mx_status rc = MX_OK;
  if (!slices || !res || !col) rc = mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");
  for (int b = 0; b < B && rc == MX_OK; b++) {
    for (int i = 0; i < n->nin && rc == MX_OK; i++) {
      if (axes[i] < 0) {
        slices[i] = in[i];
        continue;
      }
      slices[i] = mx_squeeze(mx_slice_axis(in[i], axes[i], b, b + 1, 1), &axes[i], 1);
      if (!slices[i]) rc = fail();
    }
    if (rc == MX_OK) rc = mx_tr_reapply(n, slices, res + (size_t)b * (size_t)nout);
  }
  for (int o = 0; o < nout && rc == MX_OK; o++) {
    out_axes[o] = 0;
    if (B == 0) {
      int s[MX_MAX_NDIM];
      s[0] = 0;
      memcpy(s + 1, n->out[o]->shape, sizeof(int) * (size_t)n->out[o]->ndim);
      out[o] = mx_zeros(s, n->out[o]->ndim + 1, n->out[o]->dtype);
    } else {
      for (int b = 0; b < B; b++) col[b] = res[(size_t)b * (size_t)nout + (size_t)o];
      out[o] = mx_stack(col, B, 0);
    }
    if (!out[o]) rc = fail();
  }
  free(slices);
  free(res);
  free(col);
  return rc;
}
