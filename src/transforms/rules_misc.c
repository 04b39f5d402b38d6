/* rules_misc.c: rules of the layout primitives (astype, copy, view), the
 * triangle mask of tril/triu, and the rules shared by primitives without a
 * gradient (random sampling) or without a batched form (explicit loop). */
#include <string.h>

#include "../primitives/layout.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

/* ---- astype ---- */
MX_TR_VJP(astype) {
  (void)n, (void)out, (void)argnums, (void)nargs;
  grads[0] = mx_tr_inexact(cotan[0]) ? mx_astype(cotan[0], in[0]->dtype) : NULL;
  return grads[0] || !mx_tr_inexact(cotan[0]) ? MX_OK : st(NULL);
}

MX_TR_JVP(astype) {
  (void)in, (void)argnums, (void)nargs;
  const mx_array *y = n->out[0];
  if (!mx_tr_inexact(y)) return MX_OK; /* integer results: zero tangent */
  out_tangents[0] = mx_astype(tangents[0], y->dtype);
  return st(out_tangents[0]);
}

MX_TR_VMAP(astype) {
  out[0] = mx_astype(in[0], n->out[0]->dtype);
  out_axes[0] = in_axes[0];
  return st(out[0]);
}

/* ---- copy ---- */
MX_TR_VJP(copy) {
  (void)n, (void)in, (void)out, (void)argnums, (void)nargs;
  grads[0] = cotan[0];
  return MX_OK;
}

MX_TR_JVP(copy) {
  (void)n, (void)in, (void)argnums, (void)nargs;
  out_tangents[0] = tangents[0];
  return MX_OK;
}

MX_TR_VMAP(copy) {
  (void)n;
  out[0] = mx_copy(in[0]);
  out_axes[0] = in_axes[0];
  return st(out[0]);
}

/* ---- view (bit reinterpretation: not differentiable) ---- */
MX_TR_VMAP(view) {
  /* the last axis may change size: keep the batch axis first */
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  out[0] = x ? mx_view(x, n->out[0]->dtype) : NULL;
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- trimask (tril/triu): linear, acts on the last two axes ---- */
MX_TR_VJP(trimask) {
  (void)in, (void)out, (void)argnums, (void)nargs;
  grads[0] = mx_tr_reapply1(n, cotan);
  return st(grads[0]);
}

MX_TR_JVP(trimask) {
  (void)in, (void)argnums, (void)nargs;
  out_tangents[0] = mx_tr_reapply1(n, tangents);
  return st(out_tangents[0]);
}

MX_TR_VMAP(trimask) {
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  out[0] = mx_tr_remake1(n, n->params, &x, x->dtype, x->shape, x->ndim);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- no gradient / explicit batch loop ---- */
MX_TR_VJP(zero) {
  (void)n, (void)in, (void)out, (void)cotan, (void)argnums;
  for (int i = 0; i < nargs; i++) grads[i] = NULL;
  return MX_OK;
}

MX_TR_JVP(zero) {
  (void)in, (void)tangents, (void)argnums, (void)nargs;
  for (int o = 0; o < n->nout; o++) out_tangents[o] = NULL;
  return MX_OK;
}

MX_TR_VMAP(loop) { return mx_tr_vmap_loop(n, in, in_axes, out, out_axes); }
