/* rules_shape.c: rules of the data-moving shape primitives: concatenate,
 * pad and roll (all linear in their array inputs). */
#include <stdlib.h>
#include <string.h>

#include "../primitives/shape.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

/* ---- concatenate ---- */
MX_TR_VJP(concatenate) {
  (void)out;
  const mx_concatenate_params *p = MX_PARAMS(mx_concatenate_params, n);
  for (int j = 0; j < nargs; j++) {
    int i = argnums[j], off = 0;
    for (int k = 0; k < i; k++) off += in[k]->shape[p->axis];
    grads[j] = mx_slice_axis(cotan[0], p->axis, off, off + in[i]->shape[p->axis], 1);
    if (!grads[j]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(concatenate) {
  (void)in;
  mx_array **x = calloc((size_t)n->nin, sizeof *x);
  if (!x) return mx_set_error(MX_ERR_NOMEM, "[jvp] out of memory");
  mx_status rc = mx_tr_tangent_inputs(n, tangents, argnums, nargs, 0, x);
  if (rc == MX_OK) rc = st(out_tangents[0] = mx_tr_reapply1(n, x));
  free(x);
  return rc;
}

MX_TR_VMAP(concatenate) {
  const mx_concatenate_params *p = MX_PARAMS(mx_concatenate_params, n);
  int B = mx_tr_batch_size(in, in_axes, n->nin);
  mx_array **x = calloc((size_t)n->nin, sizeof *x);
  if (!x) return mx_set_error(MX_ERR_NOMEM, "[vmap] out of memory");
  mx_status rc = MX_OK;
  for (int i = 0; i < n->nin && rc == MX_OK; i++)
    rc = st(x[i] = mx_tr_batch_bcast(in[i], in_axes[i], B));
  if (rc == MX_OK) rc = st(out[0] = mx_concatenate(x, n->nin, p->axis + 1));
  out_axes[0] = 0;
  free(x);
  return rc;
}

/* ---- pad: inputs a, value (0-d) ---- */
/* The edge-mode gradient on one axis: the interior plus, at each end, the
 * sum of the padding that copied that edge. */
static mx_array *edge_grad_axis(mx_array *g, int d, int lo, int hi, int len) {
  mx_array *r = mx_slice_axis(g, d, lo, lo + len, 1);
  int s[MX_MAX_NDIM];
  memcpy(s, g->shape, sizeof(int) * (size_t)g->ndim);
  s[d] = 1;
  if (lo > 0) {
    mx_array *e = mx_tr_sum_to_shape(mx_slice_axis(g, d, 0, lo, 1), s, g->ndim);
    int zlo = 0, zhi = len - 1;
    r = mx_tr_add(r, mx_pad(e, &d, &zlo, &zhi, 1, NULL, MX_PAD_CONSTANT));
  }
  if (hi > 0) {
    mx_array *e =
        mx_tr_sum_to_shape(mx_slice_axis(g, d, lo + len, lo + len + hi, 1), s, g->ndim);
    int zlo = len - 1, zhi = 0;
    r = mx_tr_add(r, mx_pad(e, &d, &zlo, &zhi, 1, NULL, MX_PAD_CONSTANT));
  }
  return r;
}

MX_TR_VJP(pad) {
  (void)out;
  const mx_pad_params *p = MX_PARAMS(mx_pad_params, n);
  mx_array *a = in[0], *c = cotan[0];
  int nd = a->ndim, start[MX_MAX_NDIM], stop[MX_MAX_NDIM];
  for (int d = 0; d < nd; d++) {
    start[d] = p->lo[d];
    stop[d] = p->lo[d] + a->shape[d];
  }
  for (int j = 0; j < nargs; j++) {
    mx_array *g;
    if (argnums[j] == 0 && p->mode == MX_PAD_CONSTANT) {
      g = mx_slice(c, start, stop, NULL);
    } else if (argnums[j] == 0) {
      g = c;
      for (int d = 0; d < nd && g; d++)
        if (p->lo[d] || p->hi[d])
          g = edge_grad_axis(g, d, p->lo[d], p->hi[d], a->shape[d]);
    } else if (p->mode == MX_PAD_CONSTANT) {
      /* the value fills everything outside the interior */
      mx_array *z = mx_zeros(NULL, 0, c->dtype);
      g = mx_tr_sum_all(mx_slice_update(c, z, start, stop, NULL));
    } else {
      g = NULL; /* edge mode ignores the value */
      grads[j] = NULL;
      continue;
    }
    if (!(grads[j] = g)) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(pad) {
  (void)in;
  const mx_pad_params *p = MX_PARAMS(mx_pad_params, n);
  mx_array *x[2];
  mx_status rc = mx_tr_tangent_inputs(n, tangents, argnums, nargs, 0, x);
  if (rc != MX_OK) return rc;
  if (p->mode != MX_PAD_CONSTANT) {
    bool has_a = false;
    for (int j = 0; j < nargs; j++) has_a |= argnums[j] == 0;
    if (!has_a) return MX_OK; /* the value does not reach the result */
  }
  return st(out_tangents[0] = mx_tr_reapply1(n, x));
}

MX_TR_VMAP(pad) {
  const mx_pad_params *p = MX_PARAMS(mx_pad_params, n);
  if (in_axes[1] >= 0) return mx_tr_vmap_loop(n, in, in_axes, out, out_axes);
  mx_array *a = mx_tr_batch_front(in[0], in_axes[0]);
  if (!a) return st(a);
  int nd = a->ndim, lo[MX_MAX_NDIM], hi[MX_MAX_NDIM];
  lo[0] = hi[0] = 0;
  for (int d = 1; d < nd; d++) {
    lo[d] = p->lo[d - 1];
    hi[d] = p->hi[d - 1];
  }
  out[0] = mx_pad(a, NULL, lo, hi, nd, in[1], (mx_pad_mode)p->mode);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- roll ---- */
MX_TR_VJP(roll) {
  (void)out, (void)argnums, (void)nargs;
  const mx_roll_params *p = MX_PARAMS(mx_roll_params, n);
  int nd = in[0]->ndim, shift[MX_MAX_NDIM], axes[MX_MAX_NDIM];
  for (int d = 0; d < nd; d++) {
    shift[d] = -p->shift[d];
    axes[d] = d;
  }
  grads[0] = mx_roll(cotan[0], shift, axes, nd);
  return st(grads[0]);
}

MX_TR_JVP(roll) {
  (void)in, (void)argnums, (void)nargs;
  return st(out_tangents[0] = mx_tr_reapply1(n, tangents));
}

MX_TR_VMAP(roll) {
  const mx_roll_params *p = MX_PARAMS(mx_roll_params, n);
  mx_array *a = mx_tr_batch_front(in[0], in_axes[0]);
  if (!a) return st(a);
  int nd = a->ndim - 1, shift[MX_MAX_NDIM], axes[MX_MAX_NDIM];
  for (int d = 0; d < nd; d++) {
    shift[d] = p->shift[d];
    axes[d] = d + 1;
  }
  out[0] = mx_roll(a, shift, axes, nd);
  out_axes[0] = 0;
  return st(out[0]);
}
