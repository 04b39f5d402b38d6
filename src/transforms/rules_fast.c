/* rules_fast.c: rules of the fused transformer primitives.
 *
 *  rms_norm   n = x r, r = rsqrt(mean(x^2) + eps), y = n w:
 *             dx = r (g - n mean(g n)), g = cot w; dw = sum(cot n)
 *  layer_norm n = (x - mean) r, r = rsqrt(var + eps), y = n w + b:
 *             dx = r (g - mean(g) - n mean(g n)); dw = sum(cot n); db = sum(cot)
 *  rope       a rotation: its vjp is the inverse rotation (the kernel's
 *             `forward = false`), its jvp the rotation of the tangent
 *  sdpa       differentiated through the same attention written with ops
 *             (scores, mask, sinks, softmax, weighted sum), as MLX does
 * Half-precision math runs in float32. Gradients of rope's freqs are not
 * implemented. */
#include <math.h>
#include <string.h>

#include "../primitives/fast.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_dtype compute_dtype(mx_dtype t) {
  return t == MX_FLOAT16 || t == MX_BFLOAT16 ? MX_FLOAT32 : t;
}

static mx_array *mean_last(mx_array *x) {
  int ax = -1;
  return mx_mean(x, &ax, 1, true);
}

/* Sum over every axis but the last: the gradient of a (D,) parameter. */
static mx_array *sum_leading(mx_array *x) {
  int axes[MX_MAX_NDIM], k = 0;
  for (int d = 0; x && d < x->ndim - 1; d++) axes[k++] = d;
  return mx_sum(x, axes, k, false);
}

/* ---- rms_norm: x [, w] ---- */
typedef struct {
  mx_array *x, *w, *r, *nrm; /* in the compute dtype */
} norm_parts;

static void rms_parts(mx_node *n, mx_array *const *in, norm_parts *q) {
  const mx_rms_norm_params *p = MX_PARAMS(mx_rms_norm_params, n);
  mx_dtype ct = compute_dtype(n->out[0]->dtype);
  q->x = mx_astype(in[0], ct);
  q->w = p->has_weight ? mx_astype(in[1], ct) : NULL;
  q->r = mx_rsqrt(mx_add(mean_last(mx_square(q->x)), mx_scalar_like(q->x, p->eps)));
  q->nrm = mx_multiply(q->x, q->r);
}

MX_TR_VJP(rms_norm) {
  (void)out;
  norm_parts q;
  rms_parts(n, in, &q);
  mx_array *c = mx_astype(cotan[0], q.x ? q.x->dtype : MX_FLOAT32);
  for (int j = 0; j < nargs; j++) {
    if (argnums[j] == 0) {
      mx_array *g = q.w ? mx_multiply(c, q.w) : c;
      grads[j] = mx_multiply(
          q.r, mx_subtract(g, mx_multiply(q.nrm, mean_last(mx_multiply(g, q.nrm)))));
    } else {
      grads[j] = sum_leading(mx_multiply(c, q.nrm));
    }
    if (!grads[j]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(rms_norm) {
  norm_parts q;
  rms_parts(n, in, &q);
  mx_array *r = NULL;
  for (int j = 0; j < nargs; j++) {
    mx_array *t = mx_astype(tangents[j], q.x ? q.x->dtype : MX_FLOAT32), *d;
    if (argnums[j] == 0) {
      d = mx_multiply(
          q.r, mx_subtract(t, mx_multiply(q.nrm, mean_last(mx_multiply(q.nrm, t)))));
      if (q.w) d = mx_multiply(d, q.w);
    } else {
      d = mx_multiply(q.nrm, t);
    }
    if (!(r = r ? mx_add(r, d) : d)) return st(NULL);
  }
  out_tangents[0] = r;
  return MX_OK;
}

/* ---- layer_norm: x [, w] [, b] ---- */
static void ln_parts(mx_node *n, mx_array *const *in, norm_parts *q) {
  const mx_layer_norm_params *p = MX_PARAMS(mx_layer_norm_params, n);
  mx_dtype ct = compute_dtype(n->out[0]->dtype);
  q->x = mx_astype(in[0], ct);
  q->w = p->has_weight ? mx_astype(in[1], ct) : NULL;
  mx_array *xc = mx_subtract(q->x, mean_last(q->x));
  q->r = mx_rsqrt(mx_add(mean_last(mx_square(xc)), mx_scalar_like(q->x, p->eps)));
  q->nrm = mx_multiply(xc, q->r);
}

/* which parameter input j is: 0 x, 1 weight, 2 bias */
static int ln_role(mx_node *n, int j) {
  const mx_layer_norm_params *p = MX_PARAMS(mx_layer_norm_params, n);
  if (j == 0) return 0;
  return j == 1 && p->has_weight ? 1 : 2;
}

MX_TR_VJP(layer_norm) {
  (void)out;
  norm_parts q;
  ln_parts(n, in, &q);
  mx_array *c = mx_astype(cotan[0], q.x ? q.x->dtype : MX_FLOAT32);
  for (int j = 0; j < nargs; j++) {
    int role = ln_role(n, argnums[j]);
    if (role == 0) {
      mx_array *g = q.w ? mx_multiply(c, q.w) : c;
      mx_array *s =
          mx_add(mean_last(g), mx_multiply(q.nrm, mean_last(mx_multiply(g, q.nrm))));
      grads[j] = mx_multiply(q.r, mx_subtract(g, s));
    } else {
      grads[j] = sum_leading(role == 1 ? mx_multiply(c, q.nrm) : c);
    }
    if (!grads[j]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(layer_norm) {
  norm_parts q;
  ln_parts(n, in, &q);
  mx_array *r = NULL;
  for (int j = 0; j < nargs; j++) {
    int role = ln_role(n, argnums[j]);
    mx_array *t = mx_astype(tangents[j], q.x ? q.x->dtype : MX_FLOAT32), *d;
    if (role == 0) {
      mx_array *s =
          mx_add(mean_last(t), mx_multiply(q.nrm, mean_last(mx_multiply(q.nrm, t))));
      d = mx_multiply(q.r, mx_subtract(t, s));
      if (q.w) d = mx_multiply(d, q.w);
    } else {
      d = role == 1 ? mx_multiply(q.nrm, t) : t;
    }
    if (!(r = r ? mx_add(r, d) : d)) return st(NULL);
  }
  out_tangents[0] = r;
  return MX_OK;
}

/* Norms under vmap: batch first; batched weight/bias applied outside the
 * kernel (broadcast over the batch). */
static mx_status norm_vmap(mx_node *n, mx_array *const *in, const int *in_axes,
                           mx_array **out, int *out_axes, bool layer) {
  mx_array *x =
      mx_tr_batch_bcast(in[0], in_axes[0], mx_tr_batch_size(in, in_axes, n->nin));
  if (!x) return st(x);
  bool params_batched = false;
  for (int i = 1; i < n->nin; i++) params_batched |= in_axes[i] >= 0;
  const mx_array *y = n->out[0];
  if (!params_batched) {
    mx_array *xi[3] = {x, n->nin > 1 ? in[1] : NULL, n->nin > 2 ? in[2] : NULL};
    out[0] = mx_tr_remake1(n, n->params, xi, y->dtype, x->shape, x->ndim);
    out_axes[0] = 0;
    return st(out[0]);
  }
  float eps = layer ? MX_PARAMS(mx_layer_norm_params, n)->eps
                    : MX_PARAMS(mx_rms_norm_params, n)->eps;
  mx_array *r =
      layer ? mx_fast_layer_norm(x, NULL, NULL, eps) : mx_fast_rms_norm(x, NULL, eps);
  /* parameters (B, D) or (D,) -> (B, 1.., D) */
  for (int i = 1; i < n->nin && r; i++) {
    mx_array *w = in[i];
    if (in_axes[i] >= 0) {
      int s[MX_MAX_NDIM], k = 0;
      w = mx_tr_batch_front(w, in_axes[i]);
      s[k++] = w->shape[0];
      for (int d = 2; d < x->ndim; d++) s[k++] = 1;
      s[k++] = w->shape[1];
      w = mx_reshape(w, s, k);
    }
    bool is_bias = layer && (i == 2 || !MX_PARAMS(mx_layer_norm_params, n)->has_weight);
    r = is_bias ? mx_add(r, w) : mx_multiply(r, w);
  }
  out[0] = r ? mx_astype(r, y->dtype) : NULL;
  out_axes[0] = 0;
  return st(out[0]);
}

MX_TR_VMAP(rms_norm) { return norm_vmap(n, in, in_axes, out, out_axes, false); }
MX_TR_VMAP(layer_norm) { return norm_vmap(n, in, in_axes, out, out_axes, true); }

/* ---- rope: x [, offset] [, freqs] ---- */
static mx_status rope_only_x(const int *argnums, int nargs, const char *what) {
  for (int j = 0; j < nargs; j++)
    if (argnums[j] != 0)
      return mx_set_error(MX_ERR_UNSUPPORTED, "[%s] rope: no derivative for freqs", what);
  return MX_OK;
}

MX_TR_VJP(rope) {
  (void)out;
  mx_status rc = rope_only_x(argnums, nargs, "vjp");
  if (rc != MX_OK) return rc;
  mx_rope_params p = *MX_PARAMS(mx_rope_params, n);
  p.forward = !p.forward;
  mx_array *x[3] = {cotan[0], n->nin > 1 ? in[1] : NULL, n->nin > 2 ? in[2] : NULL};
  grads[0] = mx_tr_remake1(n, &p, x, cotan[0]->dtype, in[0]->shape, in[0]->ndim);
  return st(grads[0]);
}

MX_TR_JVP(rope) {
  mx_status rc = rope_only_x(argnums, nargs, "jvp");
  if (rc != MX_OK) return rc;
  mx_array *x[3] = {tangents[0], n->nin > 1 ? in[1] : NULL, n->nin > 2 ? in[2] : NULL};
  return st(out_tangents[0] = mx_tr_reapply1(n, x));
}

MX_TR_VMAP(rope) {
  const mx_rope_params *p = MX_PARAMS(mx_rope_params, n);
  for (int i = 1; i < n->nin; i++)
    if (in_axes[i] >= 0) return mx_tr_vmap_loop(n, in, in_axes, out, out_axes);
  /* a per-row offset vector indexes x's first axis: keep that axis first */
  bool per_row = p->has_offset_array && in[1]->size > 1;
  int ax = per_row ? 1 : 0;
  mx_array *x = in[0];
  if (in_axes[0] != ax) x = mx_moveaxis(x, in_axes[0], ax);
  if (!x) return st(x);
  mx_array *xi[3] = {x, n->nin > 1 ? in[1] : NULL, n->nin > 2 ? in[2] : NULL};
  out[0] = mx_tr_remake1(n, n->params, xi, n->out[0]->dtype, x->shape, x->ndim);
  out_axes[0] = ax;
  return st(out[0]);
}

/* ---- scaled_dot_product_attention: q, k, v [, mask] [, sinks] ---- */
/* The attention written with ops (what the vjp/jvp differentiate). */
static mx_status sdpa_ops(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  const mx_sdpa_params *p = payload;
  (void)nin;
  mx_array *q = in[0], *k = in[1], *v = in[2];
  int i = 3;
  mx_array *mask = p->mask_mode == MX_SDPA_MASK_ARRAY ? in[i++] : NULL;
  mx_array *sinks = p->has_sinks ? in[i++] : NULL;
  mx_dtype t = mx_promote_types(q->dtype, mx_promote_types(k->dtype, v->dtype));
  mx_dtype ct = compute_dtype(t);
  int B = q->shape[0], Hq = q->shape[1], Lq = q->shape[2], D = q->shape[3];
  int Hkv = k->shape[1], G = Hq / Hkv, Lk = k->shape[2], Dv = v->shape[3];
  int s5[5] = {B, Hkv, G, Lq, D}, two = 2;
  mx_array *qf = mx_reshape(mx_astype(q, ct), s5, 5);
  qf = mx_multiply(qf, mx_scalar_like(qf, p->scale));
  mx_array *kf = mx_expand_dims(mx_astype(k, ct), &two, 1); /* (B, Hkv, 1, Lk, D) */
  mx_array *vf = mx_expand_dims(mx_astype(v, ct), &two, 1);
  mx_array *s = mx_matmul(qf, mx_swapaxes(kf, -1, -2)); /* (B, Hkv, G, Lq, Lk) */
  mx_array *ninf = mx_full(NULL, 0, -INFINITY, ct);
  if (p->mask_mode == MX_SDPA_MASK_CAUSAL) {
    int rs[2] = {Lq, 1};
    mx_array *rows = mx_reshape(mx_arange(Lk - Lq, Lk, 1, MX_INT32), rs, 2);
    mx_array *keep = mx_less_equal(mx_arange(0, Lk, 1, MX_INT32), rows); /* (Lq, Lk) */
    s = mx_where(keep, s, ninf);
  } else if (mask) {
    int full[4] = {B, Hq, Lq, Lk}, m5[5] = {B, Hkv, G, Lq, Lk};
    mx_array *m = mx_reshape(mx_broadcast_to(mask, full, 4), m5, 5);
    s = mask->dtype == MX_BOOL ? mx_where(m, s, ninf) : mx_add(s, mx_astype(m, ct));
  }
  int last = -1;
  mx_array *pr;
  if (sinks) {
    int ss[5] = {1, Hkv, G, 1, 1}, sb[5] = {B, Hkv, G, Lq, 1};
    mx_array *sk = mx_broadcast_to(mx_reshape(mx_astype(sinks, ct), ss, 5), sb, 5);
    mx_array *both[2] = {s, sk};
    pr = mx_slice_axis(mx_softmax(mx_concatenate(both, 2, -1), &last, 1, true), -1, 0, Lk,
                       1);
  } else {
    pr = mx_softmax(s, &last, 1, true);
  }
  int os[4] = {B, Hq, Lq, Dv};
  mx_array *o = mx_reshape(mx_matmul(pr, vf), os, 4);
  return mx_vec_push(out, mx_astype(o, t));
}

MX_TR_VJP(sdpa) {
  (void)out;
  mx_sdpa_params p = *MX_PARAMS(mx_sdpa_params, n);
  mx_closure *f = mx_closure_new(sdpa_ops, &p, NULL);
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_status rc = f ? mx_vjp(f, in, n->nin, cotan, 1, &o, &v) : st(NULL);
  for (int j = 0; j < nargs && rc == MX_OK; j++) grads[j] = v.items[argnums[j]];
  mx_vec_free(&o);
  mx_vec_free(&v);
  mx_closure_free(f);
  return rc;
}

MX_TR_JVP(sdpa) {
  mx_sdpa_params p = *MX_PARAMS(mx_sdpa_params, n);
  mx_array *t[5] = {NULL, NULL, NULL, NULL, NULL};
  for (int j = 0; j < nargs; j++) t[argnums[j]] = tangents[j];
  mx_closure *f = mx_closure_new(sdpa_ops, &p, NULL);
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_status rc = f ? mx_jvp(f, in, n->nin, t, &o, &v) : st(NULL);
  if (rc == MX_OK) out_tangents[0] = v.items[0];
  mx_vec_free(&o);
  mx_vec_free(&v);
  mx_closure_free(f);
  return rc;
}

/* Fold the vmap batch into attention's batch axis: (V, B, ...) -> (V*B, ...). */
static mx_array *fold(mx_array *x, int V) {
  MX_CHECK_NULL1(x);
  int s[MX_MAX_NDIM];
  s[0] = V * x->shape[1];
  memcpy(s + 1, x->shape + 2, sizeof(int) * (size_t)(x->ndim - 2));
  return mx_reshape(x, s, x->ndim - 1);
}

MX_TR_VMAP(sdpa) {
  const mx_sdpa_params *p = MX_PARAMS(mx_sdpa_params, n);
  if (p->has_sinks && in_axes[n->nin - 1] >= 0)
    return mx_tr_vmap_loop(n, in, in_axes, out, out_axes);
  int V = mx_tr_batch_size(in, in_axes, n->nin);
  mx_array *x[3];
  for (int i = 0; i < 3; i++)
    if (!(x[i] = fold(mx_tr_batch_bcast(in[i], in_axes[i], V), V))) return st(NULL);
  mx_array *mask = NULL;
  if (p->mask_mode == MX_SDPA_MASK_ARRAY) {
    mx_array *m = in[3];
    const mx_array *q0 = n->in[0], *k0 = n->in[1];
    int full[5] = {V, q0->shape[0], q0->shape[1], q0->shape[2], k0->shape[2]};
    if (in_axes[3] >= 0 || (m->ndim == 4 && m->shape[0] != 1)) {
      /* give the mask its own (V, B) leading axes, then fold them */
      mx_array *mb = mx_tr_batch_bcast(m, in_axes[3], V);
      int s[5], k = 0;
      s[k++] = V;
      for (int d = mb ? mb->ndim - 1 : 0; d < 4; d++) s[k++] = 1;
      for (int d = 1; mb && d < mb->ndim; d++) s[k++] = mb->shape[d];
      mask = fold(mx_broadcast_to(mx_reshape(mb, s, 5), full, 5), V);
    } else {
      mask = m; /* broadcasts over the folded batch */
    }
    if (!mask) return st(NULL);
  }
  mx_array *sinks = p->has_sinks ? in[n->nin - 1] : NULL;
  mx_array *r = mx_fast_scaled_dot_product_attention(
      x[0], x[1], x[2], p->scale, (mx_sdpa_mask_mode)p->mask_mode, mask, sinks);
  const mx_array *y = n->out[0];
  int s[5] = {V, y->shape[0], y->shape[1], y->shape[2], y->shape[3]};
  out[0] = mx_reshape(r, s, 5);
  out_axes[0] = 0;
  return st(out[0]);
}
