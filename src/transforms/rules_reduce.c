/* rules_reduce.c: rules of the reduction family: reduce (sum, prod, max,
 * min, mean, var, std), logsumexp, arg_reduce, scan, softmax and the sorting
 * primitives.
 *
 * Reductions: the cotangent is reshaped to keepdims form and broadcast back
 * over the reduced axes, times the elementwise derivative d(out)/d(x):
 *  sum 1, mean 1/N, prod the product of the other elements (exclusive
 *  cumulative products from both sides, so zeros are handled), max/min the
 *  indicator of the extreme split evenly between ties, var 2(x-mean)/(N-ddof),
 *  std (x-mean)/((N-ddof) std), logsumexp exp(x - out).
 * Scans: cumsum's transpose is the cumsum in the other direction; cumprod
 * uses out/x (not defined where x is 0); cummax/cummin have no rule.
 * Sorting: sort and partition move values, so their derivative follows the
 * argsort / argpartition order (the kernels share one ordering). */
#include <string.h>

#include "../primitives/indexing.h"
#include "../primitives/reduce.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

/* Reduced axes of a bitmask; returns their count, *N the element count. */
static int mask_axes(uint32_t mask, const mx_array *x, int *axes, double *N) {
  int k = 0;
  *N = 1;
  for (int d = 0; d < x->ndim; d++)
    if (mask >> d & 1) {
      axes[k++] = d;
      *N *= x->shape[d];
    }
  return k;
}

/* y (reduced, keepdims or not) as x's rank with 1 on reduced axes. */
static mx_array *keep(mx_array *y, const mx_array *x, uint32_t mask) {
  int s[MX_MAX_NDIM];
  for (int d = 0; d < x->ndim; d++) s[d] = mask >> d & 1 ? 1 : x->shape[d];
  return mx_reshape(y, s, x->ndim);
}

static mx_array *bcast(mx_array *y, const mx_array *x, uint32_t mask) {
  return mx_broadcast_to(keep(y, x, mask), x->shape, x->ndim);
}

/* The product of the other reduced elements, for each element of x. */
static mx_array *prod_others(mx_array *x, const int *axes, int na) {
  int nd = x->ndim, perm[MX_MAX_NDIM] = {0}, inv[MX_MAX_NDIM], k = 0, s[MX_MAX_NDIM];
  bool red[MX_MAX_NDIM] = {0};
  for (int i = 0; i < na; i++) red[axes[i]] = true;
  for (int d = 0; d < nd; d++)
    if (!red[d]) perm[k++] = d;
  int nkeep = k;
  for (int i = 0; i < na; i++) perm[k++] = axes[i];
  for (int d = 0; d < nd; d++) inv[perm[d]] = d;
  int64_t R = 1;
  for (int d = 0; d < nkeep; d++) s[d] = x->shape[perm[d]];
  for (int i = 0; i < na; i++) R *= x->shape[axes[i]];
  s[nkeep] = (int)R;
  mx_array *t = mx_transpose(x, perm, nd), *f = mx_reshape(t, s, nkeep + 1);
  mx_array *o =
      mx_multiply(mx_cumprod(f, -1, false, false), mx_cumprod(f, -1, true, false));
  return mx_transpose(mx_reshape(o, t ? t->shape : NULL, nd), inv, nd);
}

/* d out / d x of a reduction (elementwise, x's shape); NULL: error. */
static mx_array *reduce_deriv(const mx_reduce_params *p, mx_array *x, mx_array *y) {
  int axes[MX_MAX_NDIM];
  double N;
  int na = mask_axes(p->axes, x, axes, &N);
  switch (p->op) {
    case MX_REDUCE_PROD:
      return prod_others(x, axes, na);
    case MX_REDUCE_MAX:
    case MX_REDUCE_MIN: {
      mx_array *m = mx_astype(mx_equal(x, bcast(y, x, p->axes)), x->dtype);
      return mx_divide(m, mx_sum(m, axes, na, true));
    }
    case MX_REDUCE_VAR:
    case MX_REDUCE_STD: {
      mx_array *dx = mx_subtract(x, mx_mean(x, axes, na, true));
      mx_array *k = mx_scalar_like(
          x, p->op == MX_REDUCE_VAR ? 2 / (N - p->ddof) : 1 / (N - p->ddof));
      mx_array *d = mx_multiply(dx, k);
      return p->op == MX_REDUCE_VAR ? d : mx_divide(d, keep(y, x, p->axes));
    }
    case MX_REDUCE_LOGSUMEXP:
      return mx_exp(mx_subtract(x, keep(y, x, p->axes)));
    default:
      mx_set_error(MX_ERR_UNSUPPORTED, "[vjp] reduction %d is not differentiable", p->op);
      return NULL;
  }
}

static mx_status reduce_vjp(mx_node *n, mx_array *const *in, mx_array *const *out,
                            mx_array *const *cotan, mx_array **grads) {
  const mx_reduce_params *p = MX_PARAMS(mx_reduce_params, n);
  mx_array *x = in[0], *c = bcast(cotan[0], x, p->axes);
  if (p->op == MX_REDUCE_SUM) return st(grads[0] = c);
  if (p->op == MX_REDUCE_MEAN) {
    int axes[MX_MAX_NDIM];
    double N;
    mask_axes(p->axes, x, axes, &N);
    return st(grads[0] = mx_tr_scale(c, 1 / N));
  }
  mx_array *y = out[0] ? out[0] : mx_tr_reapply1(n, in);
  grads[0] = mx_multiply(c, reduce_deriv(p, x, y));
  return st(grads[0]);
}

static mx_status reduce_jvp(mx_node *n, mx_array *const *in, mx_array *const *tangents,
                            mx_array **out_tangents) {
  const mx_reduce_params *p = MX_PARAMS(mx_reduce_params, n);
  if (p->op == MX_REDUCE_SUM || p->op == MX_REDUCE_MEAN)
    return st(out_tangents[0] = mx_tr_reapply1(n, tangents));
  int axes[MX_MAX_NDIM];
  double N;
  int na = mask_axes(p->axes, in[0], axes, &N);
  mx_array *d = reduce_deriv(p, in[0], n->out[0]);
  out_tangents[0] = mx_sum(mx_multiply(tangents[0], d), axes, na, p->keepdims);
  return st(out_tangents[0]);
}

MX_TR_VJP(reduce) {
  (void)argnums, (void)nargs;
  return reduce_vjp(n, in, out, cotan, grads);
}
MX_TR_JVP(reduce) {
  (void)argnums, (void)nargs;
  return reduce_jvp(n, in, tangents, out_tangents);
}
MX_TR_VJP(logsumexp) {
  (void)argnums, (void)nargs;
  return reduce_vjp(n, in, out, cotan, grads);
}
MX_TR_JVP(logsumexp) {
  (void)argnums, (void)nargs;
  return reduce_jvp(n, in, tangents, out_tangents);
}

/* Batch first; the primitive again with shifted axes and (B, out...). */
static mx_status remake_front(mx_node *n, const void *params, mx_array *const *in,
                              const int *in_axes, mx_array **out, int *out_axes) {
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  const mx_array *y = n->out[0];
  int s[MX_MAX_NDIM];
  s[0] = x->shape[0];
  memcpy(s + 1, y->shape, sizeof(int) * (size_t)y->ndim);
  out[0] = mx_tr_remake1(n, params, &x, y->dtype, s, y->ndim + 1);
  out_axes[0] = 0;
  return st(out[0]);
}

MX_TR_VMAP(reduce) {
  mx_reduce_params p = *MX_PARAMS(mx_reduce_params, n);
  p.axes <<= 1;
  return remake_front(n, &p, in, in_axes, out, out_axes);
}
MX_TR_VMAP(logsumexp) { return mx_vmap_reduce(n, in, in_axes, out, out_axes); }

MX_TR_VMAP(arg_reduce) {
  mx_argreduce_params p = *MX_PARAMS(mx_argreduce_params, n);
  p.axis += 1;
  return remake_front(n, &p, in, in_axes, out, out_axes);
}

/* ---- scan ---- */
MX_TR_VJP(scan) {
  (void)argnums, (void)nargs;
  const mx_scan_params *p = MX_PARAMS(mx_scan_params, n);
  mx_array *c = cotan[0];
  if (p->op == MX_SCAN_SUM)
    return st(grads[0] = mx_cumsum(c, p->axis, !p->reverse, p->inclusive));
  if (p->op == MX_SCAN_PROD) {
    mx_array *y = out[0] ? out[0] : mx_tr_reapply1(n, in);
    mx_array *s = mx_cumsum(mx_multiply(c, y), p->axis, !p->reverse, p->inclusive);
    return st(grads[0] = mx_divide(s, in[0]));
  }
  return mx_set_error(MX_ERR_UNSUPPORTED, "[vjp] cummax/cummin are not differentiable");
}

MX_TR_JVP(scan) {
  (void)argnums, (void)nargs;
  const mx_scan_params *p = MX_PARAMS(mx_scan_params, n);
  if (p->op == MX_SCAN_SUM) return st(out_tangents[0] = mx_tr_reapply1(n, tangents));
  if (p->op == MX_SCAN_PROD) {
    mx_array *s =
        mx_cumsum(mx_divide(tangents[0], in[0]), p->axis, p->reverse, p->inclusive);
    return st(out_tangents[0] = mx_multiply(n->out[0], s));
  }
  return mx_set_error(MX_ERR_UNSUPPORTED, "[jvp] cummax/cummin are not differentiable");
}

MX_TR_VMAP(scan) {
  mx_scan_params p = *MX_PARAMS(mx_scan_params, n);
  p.axis += 1;
  return remake_front(n, &p, in, in_axes, out, out_axes);
}

/* ---- softmax: y (c - sum(c y)) ---- */
static mx_array *softmax_t(mx_node *n, mx_array *y, mx_array *c) {
  const mx_softmax_params *p = MX_PARAMS(mx_softmax_params, n);
  int axes[MX_MAX_NDIM];
  double N;
  int na = mask_axes(p->axes, y, axes, &N);
  return mx_multiply(y, mx_subtract(c, mx_sum(mx_multiply(c, y), axes, na, true)));
}

MX_TR_VJP(softmax) {
  (void)argnums, (void)nargs;
  mx_array *y = out[0] ? out[0] : mx_tr_reapply1(n, in);
  return st(grads[0] = softmax_t(n, y, cotan[0]));
}

MX_TR_JVP(softmax) {
  (void)in, (void)argnums, (void)nargs;
  return st(out_tangents[0] = softmax_t(n, n->out[0], tangents[0]));
}

MX_TR_VMAP(softmax) {
  mx_softmax_params p = *MX_PARAMS(mx_softmax_params, n);
  p.axes <<= 1;
  return remake_front(n, &p, in, in_axes, out, out_axes);
}

/* ---- sort / partition (values follow argsort / argpartition) ---- */
static mx_array *order_of(mx_node *n, mx_array *x) {
  const mx_prim *ap = n->prim == &mx_prim_sort ? &mx_prim_argsort : &mx_prim_argpartition;
  return mx_node_make1(ap, n->params, n->params_size, &x, 1, MX_UINT32, x->shape,
                       x->ndim);
}

MX_TR_VJP(sort) {
  (void)out, (void)argnums, (void)nargs;
  int ax = MX_PARAMS(mx_sort_params, n)->axis;
  mx_array *idx = order_of(n, in[0]);
  grads[0] = mx_put_along_axis(mx_zeros_like(cotan[0]), idx, cotan[0], ax);
  return st(grads[0]);
}

MX_TR_JVP(sort) {
  (void)argnums, (void)nargs;
  int ax = MX_PARAMS(mx_sort_params, n)->axis;
  return st(out_tangents[0] = mx_take_along_axis(tangents[0], order_of(n, in[0]), ax));
}

MX_TR_VMAP(sort) {
  mx_sort_params p = *MX_PARAMS(mx_sort_params, n);
  p.axis += 1;
  return remake_front(n, &p, in, in_axes, out, out_axes);
}
