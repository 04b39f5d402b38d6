/* rules_indexing.c: rules of the indexing primitives. Reads at indices
 * (take, take_along_axis, gather, dynamic_slice) transpose to additive
 * scatters into zeros; writes (slice_update, dynamic_slice_update,
 * put_along_axis, scatter in set or add mode) pass the cotangent through
 * with the written window zeroed (set) and hand the window's cotangent to
 * the update. Index inputs get no gradient. Batched indices become an extra
 * leading index array arange(B) over the batch axis. */
#include <stdlib.h>
#include <string.h>

#include "../primitives/indexing.h"
#include "../primitives/random.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_array *zeros_of(const mx_array *shape_of, mx_dtype t) {
  return mx_zeros(shape_of->shape, shape_of->ndim, t);
}

/* A linear primitive's jvp: itself on the tangents (indices kept). */
static mx_status jvp_linear(mx_node *n, mx_array *const *tangents, const int *argnums,
                            int nargs, uint64_t index_mask, mx_array **out_tangents) {
  mx_array **x = calloc((size_t)n->nin, sizeof *x);
  if (!x) return mx_set_error(MX_ERR_NOMEM, "[jvp] out of memory");
  mx_status rc = mx_tr_tangent_inputs(n, tangents, argnums, nargs, index_mask, x);
  if (rc == MX_OK) rc = st(out_tangents[0] = mx_tr_reapply1(n, x));
  free(x);
  return rc;
}

/* arange(B) shaped (B, 1 x r): the index of the batch axis. */
static mx_array *batch_index(int B, int r) {
  int s[MX_MAX_NDIM];
  s[0] = B;
  for (int i = 1; i <= r; i++) s[i] = 1;
  return mx_reshape(mx_arange(0, B, 1, MX_INT32), s, r + 1);
}

/* ---- slice_update: inputs a, update (the slice's shape) ---- */
static void su_bounds(const mx_node *n, int nd, int *start, int *stop, int *step) {
  const mx_slice_update_params *p = MX_PARAMS(mx_slice_update_params, n);
  mx_tr_slice_bounds(p->start, p->step, n->in[1]->shape, nd, start, stop, step);
}

MX_TR_VJP(slice_update) {
  (void)out;
  int nd = in[0]->ndim, start[MX_MAX_NDIM], stop[MX_MAX_NDIM], step[MX_MAX_NDIM];
  su_bounds(n, nd, start, stop, step);
  for (int j = 0; j < nargs; j++) {
    grads[j] = argnums[j] == 0
                   ? mx_slice_update(cotan[0], mx_zeros(NULL, 0, cotan[0]->dtype), start,
                                     stop, step)
                   : mx_slice(cotan[0], start, stop, step);
    if (!grads[j]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(slice_update) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 0, out_tangents);
}

MX_TR_VMAP(slice_update) {
  int B = mx_tr_batch_size(in, in_axes, 2);
  mx_array *a = mx_tr_batch_bcast(in[0], in_axes[0], B);
  mx_array *u = mx_tr_batch_bcast(in[1], in_axes[1], B);
  if (!a || !u) return st(NULL);
  int nd = in[0]->ndim + (in_axes[0] < 0 ? 0 : -1) + 1;
  int start[MX_MAX_NDIM], stop[MX_MAX_NDIM], step[MX_MAX_NDIM];
  su_bounds(n, nd - 1, start + 1, stop + 1, step + 1);
  start[0] = stop[0] = MX_SLICE_DEFAULT;
  step[0] = 1;
  out[0] = mx_slice_update(a, u, start, stop, step);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- dynamic_slice: inputs a, start ---- */
MX_TR_VJP(dynamic_slice) {
  (void)out, (void)argnums, (void)nargs;
  const mx_dynamic_slice_params *p = MX_PARAMS(mx_dynamic_slice_params, n);
  grads[0] = mx_dynamic_slice_update(zeros_of(in[0], cotan[0]->dtype), cotan[0], in[1],
                                     p->axes, p->naxes);
  return st(grads[0]);
}

MX_TR_JVP(dynamic_slice) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 2, out_tangents);
}

MX_TR_VMAP(dynamic_slice) {
  const mx_dynamic_slice_params *p = MX_PARAMS(mx_dynamic_slice_params, n);
  if (in_axes[1] >= 0) return mx_tr_vmap_loop(n, in, in_axes, out, out_axes);
  mx_array *a = mx_tr_batch_front(in[0], in_axes[0]);
  if (!a) return st(a);
  int axes[MX_MAX_NDIM], sizes[MX_MAX_NDIM];
  for (int i = 0; i < p->naxes; i++) {
    axes[i] = p->axes[i] + 1;
    sizes[i] = n->out[0]->shape[p->axes[i]];
  }
  out[0] = mx_dynamic_slice(a, in[1], axes, p->naxes, sizes);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- dynamic_slice_update: inputs a, update, start ---- */
MX_TR_VJP(dynamic_slice_update) {
  (void)out;
  const mx_dynamic_slice_params *p = MX_PARAMS(mx_dynamic_slice_params, n);
  mx_array *u = in[1], *c = cotan[0];
  for (int j = 0; j < nargs; j++) {
    mx_array *g;
    if (argnums[j] == 0) {
      g = mx_dynamic_slice_update(c, zeros_of(u, c->dtype), in[2], p->axes, p->naxes);
    } else {
      /* the window: dynamic on the listed axes, from 0 on the others */
      int sizes[MX_MAX_NDIM], stop[MX_MAX_NDIM];
      for (int i = 0; i < p->naxes; i++) sizes[i] = u->shape[p->axes[i]];
      g = mx_dynamic_slice(c, in[2], p->axes, p->naxes, sizes);
      memcpy(stop, u->shape, sizeof(int) * (size_t)u->ndim);
      g = mx_slice(g, NULL, stop, NULL);
    }
    if (!(grads[j] = g)) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(dynamic_slice_update) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 4, out_tangents);
}

MX_TR_VMAP(dynamic_slice_update) {
  const mx_dynamic_slice_params *p = MX_PARAMS(mx_dynamic_slice_params, n);
  if (in_axes[2] >= 0) return mx_tr_vmap_loop(n, in, in_axes, out, out_axes);
  int B = mx_tr_batch_size(in, in_axes, 3);
  mx_array *a = mx_tr_batch_bcast(in[0], in_axes[0], B);
  mx_array *u = mx_tr_batch_bcast(in[1], in_axes[1], B);
  if (!a || !u) return st(NULL);
  int axes[MX_MAX_NDIM];
  for (int i = 0; i < p->naxes; i++) axes[i] = p->axes[i] + 1;
  out[0] = mx_dynamic_slice_update(a, u, in[2], axes, p->naxes);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- take: a (pre, L, post), indices I -> (pre, I, post) ---- */
/* Cotangent of a for take(a, idx, ax) with cotangent c. */
static mx_array *take_vjp(mx_array *a, mx_array *idx, int ax, mx_array *c) {
  MX_CHECK_NULL1(idx);
  int ni = idx->ndim, nd = c->ndim, perm[MX_MAX_NDIM], k = 0, us[MX_MAX_NDIM], q = 0;
  /* updates for scatter: (I, pre, 1, post) */
  for (int d = ax; d < ax + ni; d++) perm[k++] = d;
  for (int d = 0; d < ax; d++) perm[k++] = d;
  for (int d = ax + ni; d < nd; d++) perm[k++] = d;
  for (int d = 0; d < ni; d++) us[q++] = idx->shape[d];
  for (int d = 0; d < a->ndim; d++) us[q++] = d == ax ? 1 : a->shape[d];
  mx_array *upd = mx_reshape(mx_transpose(c, perm, nd), us, q);
  return mx_scatter(zeros_of(a, c->dtype), &idx, 1, upd, &ax, MX_SCATTER_ADD);
}

MX_TR_VJP(take) {
  (void)out, (void)argnums, (void)nargs;
  int ax = MX_PARAMS(mx_take_params, n)->axis;
  grads[0] = take_vjp(in[0], in[1], ax, cotan[0]);
  return st(grads[0]);
}

MX_TR_JVP(take) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 2, out_tangents);
}

MX_TR_VMAP(take) {
  int ax = MX_PARAMS(mx_take_params, n)->axis;
  if (in_axes[1] < 0) {
    mx_array *a = mx_tr_batch_front(in[0], in_axes[0]);
    out[0] = a ? mx_take(a, in[1], ax + 1) : NULL;
    out_axes[0] = 0;
    return st(out[0]);
  }
  mx_array *idx = mx_tr_batch_front(in[1], in_axes[1]);
  if (!idx) return st(idx);
  if (in_axes[0] < 0) {
    out[0] = mx_take(in[0], idx, ax); /* (pre, B, I, post) */
    out_axes[0] = ax;
    return st(out[0]);
  }
  /* both batched: gather with (arange(B), idx) on axes (0, ax + 1) */
  mx_array *a = mx_tr_batch_front(in[0], in_axes[0]);
  if (!a) return st(a);
  int ni = idx->ndim - 1, na = a->ndim - 1;
  mx_array *ix[2] = {batch_index(idx->shape[0], ni), idx};
  int axes[2] = {0, ax + 1}, sizes[MX_MAX_NDIM];
  sizes[0] = 1;
  for (int d = 0; d < na; d++) sizes[d + 1] = d == ax ? 1 : a->shape[d + 1];
  /* (B, I, 1, pre, 1, post) -> (B, I, pre, post) -> (B, pre, I, post) */
  mx_array *g = mx_gather(a, ix, 2, axes, sizes);
  int sq[2] = {1 + ni, 1 + ni + 1 + ax};
  g = mx_squeeze(g, sq, 2);
  int perm[MX_MAX_NDIM], k = 0;
  perm[k++] = 0;
  for (int d = 0; d < ax; d++) perm[k++] = 1 + ni + d;
  for (int d = 0; d < ni; d++) perm[k++] = 1 + d;
  for (int d = ax + 1; d < na; d++) perm[k++] = 1 + ni + d - 1;
  out[0] = g ? mx_transpose(g, perm, k) : NULL;
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- take_along_axis / put_along_axis ---- */
static mx_array *put_along(mx_array *a, mx_array *idx, mx_array *vals, int axis,
                           int mode) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(idx);
  MX_CHECK_NULL1(vals);
  mx_put_along_axis_params p = {axis, mode};
  mx_array *ins[3] = {a, idx, mx_astype(vals, a->dtype)};
  return mx_node_make1(&mx_prim_put_along_axis, &p, sizeof p, ins, 3, a->dtype, a->shape,
                       a->ndim);
}

MX_TR_VJP(take_along_axis) {
  (void)argnums, (void)nargs, (void)out;
  int ax = MX_PARAMS(mx_take_params, n)->axis;
  mx_array *a = in[0], *c = cotan[0];
  const mx_array *y = n->out[0];
  int zs[MX_MAX_NDIM];
  memcpy(zs, y->shape, sizeof(int) * (size_t)y->ndim);
  zs[ax] = a->shape[ax];
  mx_array *idx = mx_broadcast_to(in[1], y->shape, y->ndim);
  mx_array *g = put_along(mx_zeros(zs, y->ndim, c->dtype), idx, c, ax, MX_SCATTER_ADD);
  grads[0] = mx_tr_sum_to_shape(g, a->shape, a->ndim);
  return st(grads[0]);
}

MX_TR_JVP(take_along_axis) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 2, out_tangents);
}

/* x with its batch axis first, or a new leading axis of 1 (broadcasts). */
static mx_array *front_or_one(mx_array *x, int axis) {
  int zero = 0;
  return axis >= 0 ? mx_tr_batch_front(x, axis) : mx_expand_dims(x, &zero, 1);
}

MX_TR_VMAP(take_along_axis) {
  int ax = MX_PARAMS(mx_take_params, n)->axis;
  mx_array *a = front_or_one(in[0], in_axes[0]);
  mx_array *idx = front_or_one(in[1], in_axes[1]);
  out[0] = a && idx ? mx_take_along_axis(a, idx, ax + 1) : NULL;
  out_axes[0] = 0;
  return st(out[0]);
}

/* inputs: a, indices, values (indexed shape) */
MX_TR_VJP(put_along_axis) {
  (void)out;
  const mx_put_along_axis_params *p = MX_PARAMS(mx_put_along_axis_params, n);
  mx_array *c = cotan[0], *idx = in[1], *v = in[2];
  for (int j = 0; j < nargs; j++) {
    mx_array *g;
    if (argnums[j] == 0) {
      if (p->mode == MX_SCATTER_ADD)
        g = c;
      else if (p->mode == MX_SCATTER_SET)
        g = put_along(c, idx, zeros_of(v, c->dtype), p->axis, MX_SCATTER_SET);
      else
        return mx_set_error(MX_ERR_UNSUPPORTED, "[vjp] put_along_axis: mode %d", p->mode);
    } else {
      g = mx_take_along_axis(c, idx, p->axis);
    }
    if (!(grads[j] = g)) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(put_along_axis) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 2, out_tangents);
}

MX_TR_VMAP(put_along_axis) {
  const mx_put_along_axis_params *p = MX_PARAMS(mx_put_along_axis_params, n);
  int B = mx_tr_batch_size(in, in_axes, 3);
  mx_array *a = mx_tr_batch_bcast(in[0], in_axes[0], B);
  mx_array *idx = front_or_one(in[1], in_axes[1]);
  mx_array *v = mx_tr_batch_bcast(in[2], in_axes[2], B);
  out[0] = put_along(a, idx, v, p->axis + 1, p->mode);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- gather: a, indices[nidx] -> I + slice_sizes ---- */
MX_TR_VJP(gather) {
  (void)out, (void)argnums, (void)nargs;
  const mx_gather_params *p = MX_PARAMS(mx_gather_params, n);
  grads[0] = mx_scatter(zeros_of(in[0], cotan[0]->dtype), in + 1, p->nidx, cotan[0],
                        p->axes, MX_SCATTER_ADD);
  return st(grads[0]);
}

MX_TR_JVP(gather) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, ~(uint64_t)1, out_tangents);
}

/* Index arrays for a batched gather/scatter over a batched a (B first):
 * arange(B) on axis 0, then each index array with its batch first and
 * aligned to the others' rank; axes shifted by one. Returns the common
 * unbatched index rank. */
static int batched_indices(const mx_node *n, mx_array *const *idx, const int *iax,
                           int nidx, const int *axes, int B, mx_array **ix, int *bax) {
  int r = 0;
  for (int j = 0; j < nidx; j++) {
    int rj = idx[j]->ndim - (iax[j] >= 0);
    if (rj > r) r = rj;
  }
  (void)n;
  ix[0] = batch_index(B, r);
  bax[0] = 0;
  if (mx_tr_align(idx, iax, nidx, ix + 1) != MX_OK) ix[0] = NULL;
  for (int j = 0; j < nidx; j++) bax[j + 1] = axes[j] + 1;
  return r;
}

MX_TR_VMAP(gather) {
  const mx_gather_params *p = MX_PARAMS(mx_gather_params, n);
  int nidx = p->nidx, nd = in[0]->ndim - (in_axes[0] >= 0);
  int B = mx_tr_batch_size(in, in_axes, n->nin);
  bool idx_batched = false;
  for (int j = 0; j < nidx; j++) idx_batched |= in_axes[1 + j] >= 0;
  int sizes[MX_MAX_NDIM], axes[MX_MAX_NDIM + 1];
  sizes[0] = idx_batched ? 1 : B;
  memcpy(sizes + 1, p->slice_sizes, sizeof(int) * (size_t)nd);
  if (!idx_batched) {
    mx_array *a = mx_tr_batch_front(in[0], in_axes[0]);
    for (int j = 0; j < nidx; j++) axes[j] = p->axes[j] + 1;
    out[0] = a ? mx_gather(a, in + 1, nidx, axes, sizes) : NULL; /* I + (B, slice) */
    out_axes[0] = n->out[0]->ndim - nd;
    return st(out[0]);
  }
  mx_array *a = mx_tr_batch_bcast(in[0], in_axes[0], B);
  mx_array *ix[MX_MAX_NDIM + 1];
  int r = batched_indices(n, in + 1, in_axes + 1, nidx, p->axes, B, ix, axes);
  if (!a || !ix[0]) return st(NULL);
  mx_array *g = mx_gather(a, ix, nidx + 1, axes, sizes); /* (B, I, 1, slice) */
  int sq = 1 + r;
  out[0] = g ? mx_squeeze(g, &sq, 1) : NULL;
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- scatter: a, updates (I + U), indices[nidx] ---- */
MX_TR_VJP(scatter) {
  (void)out;
  const mx_scatter_params *p = MX_PARAMS(mx_scatter_params, n);
  mx_array *c = cotan[0], *u = in[1];
  if (p->mode != MX_SCATTER_SET && p->mode != MX_SCATTER_ADD)
    return mx_set_error(MX_ERR_UNSUPPORTED,
                        "[vjp] scatter: only set and add modes are differentiable");
  for (int j = 0; j < nargs; j++) {
    mx_array *g;
    if (argnums[j] == 0) {
      g = p->mode == MX_SCATTER_ADD
              ? c
              : mx_scatter(c, in + 2, p->nidx, zeros_of(u, c->dtype), p->axes,
                           MX_SCATTER_SET);
    } else {
      int ni = u->ndim - c->ndim;
      g = mx_gather(c, in + 2, p->nidx, p->axes, u->shape + ni);
    }
    if (!(grads[j] = g)) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(scatter) {
  (void)in;
  const mx_scatter_params *p = MX_PARAMS(mx_scatter_params, n);
  if (p->mode != MX_SCATTER_SET && p->mode != MX_SCATTER_ADD)
    return mx_set_error(MX_ERR_UNSUPPORTED,
                        "[jvp] scatter: only set and add modes are differentiable");
  return jvp_linear(n, tangents, argnums, nargs, ~(uint64_t)3, out_tangents);
}

MX_TR_VMAP(scatter) {
  const mx_scatter_params *p = MX_PARAMS(mx_scatter_params, n);
  int nidx = p->nidx;
  int B = mx_tr_batch_size(in, in_axes, n->nin);
  bool idx_batched = false;
  for (int j = 0; j < nidx; j++) idx_batched |= in_axes[2 + j] >= 0;
  mx_array *a = mx_tr_batch_bcast(in[0], in_axes[0], B);
  int nd = n->out[0]->ndim;
  int ni = (in[1]->ndim - (in_axes[1] >= 0)) - nd; /* rank of I */
  int axes[MX_MAX_NDIM + 1];
  if (!a) return st(a);
  if (!idx_batched) {
    /* updates I + (B, U) */
    mx_array *u;
    if (in_axes[1] >= 0) {
      u = mx_moveaxis(in[1], in_axes[1], ni);
    } else {
      int s[MX_MAX_NDIM], k = 0;
      for (int d = 0; d < in[1]->ndim + 1; d++) s[d] = d == ni ? B : in[1]->shape[k++];
      u = mx_broadcast_to(mx_expand_dims(in[1], &ni, 1), s, in[1]->ndim + 1);
    }
    for (int j = 0; j < nidx; j++) axes[j] = p->axes[j] + 1;
    out[0] = u ? mx_scatter(a, in + 2, nidx, u, axes, (mx_scatter_mode)p->mode) : NULL;
    out_axes[0] = 0;
    return st(out[0]);
  }
  mx_array *ix[MX_MAX_NDIM + 1];
  int r = batched_indices(n, in + 2, in_axes + 2, nidx, p->axes, B, ix, axes);
  if (!ix[0]) return st(NULL);
  /* updates (B, I, U) -> (B, I, 1, U): I (rank r) is the broadcast index
   * shape, which the batched index arrays reproduce with B in front */
  mx_array *u = mx_tr_batch_bcast(in[1], in_axes[1], B);
  int e = 1 + r;
  u = u ? mx_expand_dims(u, &e, 1) : NULL;
  out[0] = u ? mx_scatter(a, ix, nidx + 1, u, axes, (mx_scatter_mode)p->mode) : NULL;
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- random_permutation(key, a): a shuffled along an axis, i.e.
 * take(a, permutation(len, key), axis) ---- */
MX_TR_VJP(random_permutation) {
  (void)out, (void)argnums, (void)nargs;
  int ax = MX_PARAMS(mx_permutation_params, n)->axis, len = in[1]->shape[ax];
  mx_permutation_params q = {0};
  mx_array *perm =
      mx_node_make1(&mx_prim_random_permutation, &q, sizeof q, in, 1, MX_UINT32, &len, 1);
  grads[0] = take_vjp(in[1], perm, ax, cotan[0]);
  return st(grads[0]);
}

MX_TR_JVP(random_permutation) {
  (void)in;
  return jvp_linear(n, tangents, argnums, nargs, 1, out_tangents);
}
