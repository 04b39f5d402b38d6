/* rules_linalg.c: rules of matmul, addmm, convolution and the quantization
 * primitives. */
#include <string.h>

#include "../primitives/conv.h"
#include "../primitives/linalg.h"
#include "../primitives/quantized.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_array *mT(mx_array *x) { return mx_swapaxes(x, -1, -2); }

/* acc + y (acc may be NULL). */
static mx_array *plus(mx_array *acc, mx_array *y) { return acc ? mx_tr_add(acc, y) : y; }

/* ---- matmul: a (..., M, K) @ b (..., K, N), batch dims broadcast ---- */
MX_TR_VJP(matmul) {
  (void)n, (void)out;
  mx_array *a = in[0], *b = in[1], *c = cotan[0];
  for (int i = 0; i < nargs; i++) {
    mx_array *g = argnums[i] == 0 ? mx_matmul(c, mT(b)) : mx_matmul(mT(a), c);
    mx_array *x = in[argnums[i]];
    grads[i] = mx_tr_sum_to_shape(g, x->shape, x->ndim);
    if (!grads[i]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(matmul) {
  (void)n;
  mx_array *r = NULL;
  for (int i = 0; i < nargs; i++) {
    mx_array *t =
        argnums[i] == 0 ? mx_matmul(tangents[i], in[1]) : mx_matmul(in[0], tangents[i]);
    if (!(r = plus(r, t))) return st(NULL);
  }
  out_tangents[0] = r;
  return MX_OK;
}

MX_TR_VMAP(matmul) {
  (void)n;
  mx_array *x[2];
  mx_status rc = mx_tr_align(in, in_axes, 2, x);
  if (rc != MX_OK) return rc;
  out[0] = mx_matmul(x[0], x[1]);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- addmm: alpha * (a @ b) + beta * c, c of the output's shape ---- */
MX_TR_VJP(addmm) {
  (void)out;
  const mx_matmul_params *p = MX_PARAMS(mx_matmul_params, n);
  mx_array *a = in[0], *b = in[1], *c = cotan[0];
  for (int i = 0; i < nargs; i++) {
    mx_array *g;
    if (argnums[i] == 2) {
      g = p->beta == 1.0f ? c : mx_tr_scale(c, p->beta);
    } else {
      g = argnums[i] == 0 ? mx_matmul(c, mT(b)) : mx_matmul(mT(a), c);
      if (p->alpha != 1.0f) g = mx_tr_scale(g, p->alpha);
      mx_array *x = in[argnums[i]];
      g = mx_tr_sum_to_shape(g, x->shape, x->ndim);
    }
    if (!(grads[i] = g)) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(addmm) {
  const mx_matmul_params *p = MX_PARAMS(mx_matmul_params, n);
  mx_array *r = NULL;
  for (int i = 0; i < nargs; i++) {
    mx_array *t = tangents[i];
    if (argnums[i] == 2) {
      r = plus(r, p->beta == 1.0f ? t : mx_tr_scale(t, p->beta));
    } else {
      mx_array *m = argnums[i] == 0 ? mx_matmul(t, in[1]) : mx_matmul(in[0], t);
      r = plus(r, p->alpha == 1.0f ? m : mx_tr_scale(m, p->alpha));
    }
    if (!r) return st(NULL);
  }
  out_tangents[0] = r;
  return MX_OK;
}

MX_TR_VMAP(addmm) {
  const mx_matmul_params *p = MX_PARAMS(mx_matmul_params, n);
  mx_array *x[3], *y[3] = {in[0], in[1], in[2]};
  int ax[3] = {in_axes[0], in_axes[1], in_axes[2]};
  if (ax[0] < 0 && ax[1] < 0) { /* only c batched: the product must carry the batch */
    if (!(y[0] = mx_tr_batch_bcast(in[0], -1, in[2]->shape[ax[2]]))) return st(NULL);
    ax[0] = 0;
  }
  mx_status rc = mx_tr_align(y, ax, 3, x);
  if (rc != MX_OK) return rc;
  out[0] = mx_addmm(x[2], x[0], x[1], p->alpha, p->beta);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- convolution ----
 * x (N, L..., Cin), w (Cout, K..., Cin/G), out (N, O..., Cout). Per spatial
 * dim with input dilation idl, kernel dilation kd, stride s, pads lo/hi:
 * Ld = (L-1) idl + 1, Kd = (K-1) kd + 1, Od = (O-1) s + 1.
 *  d x = conv(cot, w regrouped to (Cin, K..., Cout/G), stride idl, input
 *        dilation s, kernel dilation kd, pads (Kd-1-lo, Ld-Od+lo), flipped)
 *  d w = conv(x regrouped to (Cin/G, L..., G*N), cot as (Cout, O..., N),
 *        stride kd, input dilation idl, kernel dilation s,
 *        pads (lo, Kd-1+Od-Ld-lo)) as (Cout, K..., Cin/G)
 * Negative pads crop, which the conv kernel supports. */
static mx_array *conv_p(mx_array *x, mx_array *w, const mx_conv_params *p) {
  return mx_conv_general(x, w, p->nspatial, p->stride, p->pad_lo, p->pad_hi,
                         p->kernel_dilation, p->input_dilation, p->groups, p->flip);
}

/* Swap the first and last axes. */
static mx_array *swap_ends(mx_array *x) { return mx_swapaxes(x, 0, -1); }

static mx_array *conv_grad_input(const mx_conv_params *p, mx_array *x, mx_array *w,
                                 mx_array *cot) {
  int S = p->nspatial, G = p->groups, cout = w->shape[0], cin_g = w->shape[S + 1];
  /* w (G, Cout/G, K..., Cin/G) -> (G, Cin/G, K..., Cout/G) -> (Cin, K..., Cout/G) */
  int s1[MX_MAX_NDIM], perm[MX_MAX_NDIM], s2[MX_MAX_NDIM];
  s1[0] = G;
  s1[1] = cout / G;
  for (int d = 0; d < S; d++) s1[2 + d] = w->shape[1 + d];
  s1[S + 2] = cin_g;
  perm[0] = 0;
  perm[1] = S + 2;
  for (int d = 0; d < S; d++) perm[2 + d] = 2 + d;
  perm[S + 2] = 1;
  s2[0] = G * cin_g;
  for (int d = 0; d < S; d++) s2[1 + d] = w->shape[1 + d];
  s2[S + 1] = cout / G;
  mx_array *w2 =
      mx_reshape(mx_transpose(mx_reshape(w, s1, S + 3), perm, S + 3), s2, S + 2);
  mx_conv_params q;
  memset(&q, 0, sizeof q);
  q.nspatial = S;
  q.groups = G;
  q.flip = !p->flip;
  for (int d = 0; d < S; d++) {
    int64_t L = x->shape[1 + d], K = w->shape[1 + d], O = cot->shape[1 + d];
    int64_t Ld = (L - 1) * p->input_dilation[d] + 1;
    int64_t Kd = (K - 1) * p->kernel_dilation[d] + 1;
    int64_t Od = (O - 1) * p->stride[d] + 1;
    q.stride[d] = p->input_dilation[d];
    q.input_dilation[d] = p->stride[d];
    q.kernel_dilation[d] = p->kernel_dilation[d];
    q.pad_lo[d] = (int)(Kd - 1 - p->pad_lo[d]);
    q.pad_hi[d] = (int)(Ld - Od + p->pad_lo[d]);
  }
  return conv_p(cot, w2, &q);
}

static mx_array *conv_grad_weight(const mx_conv_params *p, mx_array *x, mx_array *w,
                                  mx_array *cot) {
  int S = p->nspatial, G = p->groups, N = x->shape[0], cin = x->shape[S + 1];
  /* x (N, L..., G, Cin/G) -> (Cin/G, L..., G, N) -> (Cin/G, L..., G*N) */
  int s1[MX_MAX_NDIM], perm[MX_MAX_NDIM], s2[MX_MAX_NDIM];
  s1[0] = N;
  for (int d = 0; d < S; d++) s1[1 + d] = x->shape[1 + d];
  s1[S + 1] = G;
  s1[S + 2] = cin / G;
  perm[0] = S + 2;
  for (int d = 0; d < S; d++) perm[1 + d] = 1 + d;
  perm[S + 1] = S + 1;
  perm[S + 2] = 0;
  s2[0] = cin / G;
  for (int d = 0; d < S; d++) s2[1 + d] = x->shape[1 + d];
  s2[S + 1] = G * N;
  mx_array *xt =
      mx_reshape(mx_transpose(mx_reshape(x, s1, S + 3), perm, S + 3), s2, S + 2);
  mx_conv_params q;
  memset(&q, 0, sizeof q);
  q.nspatial = S;
  q.groups = G;
  q.flip = false;
  for (int d = 0; d < S; d++) {
    int64_t L = x->shape[1 + d], K = w->shape[1 + d], O = cot->shape[1 + d];
    int64_t Ld = (L - 1) * p->input_dilation[d] + 1;
    int64_t Kd = (K - 1) * p->kernel_dilation[d] + 1;
    int64_t Od = (O - 1) * p->stride[d] + 1;
    q.stride[d] = p->kernel_dilation[d];
    q.input_dilation[d] = p->input_dilation[d];
    q.kernel_dilation[d] = p->stride[d];
    q.pad_lo[d] = p->pad_lo[d];
    q.pad_hi[d] = (int)(Kd - 1 + Od - Ld - p->pad_lo[d]);
  }
  mx_array *g = swap_ends(conv_p(xt, swap_ends(cot), &q)); /* (Cout, K..., Cin/G) */
  if (p->flip && g) {
    int start[MX_MAX_NDIM], stop[MX_MAX_NDIM], step[MX_MAX_NDIM];
    for (int d = 0; d < g->ndim; d++) {
      bool sp = d >= 1 && d <= S;
      start[d] = stop[d] = MX_SLICE_DEFAULT;
      step[d] = sp ? -1 : 1;
    }
    g = mx_slice(g, start, stop, step);
  }
  return g;
}

MX_TR_VJP(conv) {
  (void)out;
  const mx_conv_params *p = MX_PARAMS(mx_conv_params, n);
  for (int i = 0; i < nargs; i++) {
    grads[i] = argnums[i] == 0 ? conv_grad_input(p, in[0], in[1], cotan[0])
                               : conv_grad_weight(p, in[0], in[1], cotan[0]);
    if (!grads[i]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(conv) {
  mx_array *r = NULL;
  for (int i = 0; i < nargs; i++) {
    mx_array *x[2] = {in[0], in[1]};
    x[argnums[i]] = tangents[i];
    if (!(r = plus(r, mx_tr_reapply1(n, x)))) return st(NULL);
  }
  out_tangents[0] = r;
  return MX_OK;
}

MX_TR_VMAP(conv) {
  const mx_conv_params *p = MX_PARAMS(mx_conv_params, n);
  int S = p->nspatial;
  const mx_array *y = n->out[0];
  int B = mx_tr_batch_size(in, in_axes, 2);
  if (in_axes[1] < 0) {
    /* fold the batch into N */
    mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
    if (!x) return st(x);
    int s[MX_MAX_NDIM];
    s[0] = B * x->shape[1];
    memcpy(s + 1, x->shape + 2, sizeof(int) * (size_t)(S + 1));
    mx_array *r = conv_p(mx_reshape(x, s, S + 2), in[1], p);
    int o[MX_MAX_NDIM];
    o[0] = B;
    memcpy(o + 1, y->shape, sizeof(int) * (size_t)(S + 2));
    out[0] = mx_reshape(r, o, S + 3);
    out_axes[0] = 0;
    return st(out[0]);
  }
  /* batched weights: fold the batch into the channels, one group per (b, g) */
  mx_array *x = mx_tr_batch_bcast(in[0], in_axes[0], B); /* (B, N, L..., Cin) */
  mx_array *w = mx_tr_batch_front(in[1], in_axes[1]);    /* (B, Cout, K..., Cin/G) */
  if (!x || !w) return st(NULL);
  int perm[MX_MAX_NDIM], s[MX_MAX_NDIM], ws[MX_MAX_NDIM];
  for (int d = 0; d <= S; d++) perm[d] = d + 1; /* N, L... */
  perm[S + 1] = 0;
  perm[S + 2] = S + 2;
  for (int d = 0; d <= S; d++) s[d] = x->shape[d + 1];
  s[S + 1] = B * x->shape[S + 2];
  mx_array *xf = mx_reshape(mx_transpose(x, perm, S + 3), s, S + 2);
  ws[0] = B * w->shape[1];
  memcpy(ws + 1, w->shape + 2, sizeof(int) * (size_t)(S + 1));
  mx_array *wf = mx_reshape(w, ws, S + 2);
  mx_conv_params q = *p;
  q.groups = B * p->groups;
  mx_array *r = conv_p(xf, wf, &q); /* (N, O..., B*Cout) */
  int o[MX_MAX_NDIM];
  memcpy(o, y->shape, sizeof(int) * (size_t)(S + 1));
  o[S + 1] = B;
  o[S + 2] = y->shape[S + 1];
  out[0] = mx_reshape(r, o, S + 3);
  out_axes[0] = S + 1;
  return st(out[0]);
}

/* ---- quantization ---- */
MX_TR_VMAP(quantize) {
  const mx_quantize_params *p = MX_PARAMS(mx_quantize_params, n);
  mx_array *w = mx_tr_batch_front(in[0], in_axes[0]);
  if (!w) return st(w);
  mx_status rc = mx_quantize(w, p->group_size, p->bits, &out[0], &out[1], &out[2]);
  out_axes[0] = out_axes[1] = out_axes[2] = 0;
  return rc;
}

/* dequantize(wq, scales, biases) = scales * q + biases per group: linear in
 * (scales, biases). Given the cotangent dW of the dequantized matrix, the
 * scales get sum_group(dW q) and the biases sum_group(dW). */
static mx_array *group_sum(mx_array *x, int gs) {
  MX_CHECK_NULL1(x);
  int s[MX_MAX_NDIM], nd = x->ndim, last = -1;
  memcpy(s, x->shape, sizeof(int) * (size_t)nd);
  s[nd - 1] = x->shape[nd - 1] / gs;
  s[nd] = gs;
  return mx_sum(mx_reshape(x, s, nd + 1), &last, 1, false);
}

static mx_array *dequant_param_grad(mx_array *const *wsb, int gs, int bits, mx_array *dW,
                                    bool scales) {
  if (!scales) return group_sum(dW, gs);
  mx_array *q =
      mx_dequantize(wsb[0], mx_ones_like(wsb[1]), mx_zeros_like(wsb[2]), gs, bits);
  return group_sum(mx_multiply(dW, mx_astype(q, dW->dtype)), gs);
}

MX_TR_VJP(dequantize) {
  (void)out;
  const mx_quantize_params *p = MX_PARAMS(mx_quantize_params, n);
  for (int i = 0; i < nargs; i++)
    if (!(grads[i] =
              dequant_param_grad(in, p->group_size, p->bits, cotan[0], argnums[i] == 1)))
      return st(NULL);
  return MX_OK;
}

MX_TR_JVP(dequantize) {
  mx_array *x[3] = {in[0], NULL, NULL};
  for (int i = 0; i < nargs; i++) x[argnums[i]] = tangents[i];
  for (int i = 1; i < 3; i++)
    if (!x[i] && !(x[i] = mx_tr_zeros_like(in[i]))) return st(NULL);
  out_tangents[0] = mx_tr_reapply1(n, x);
  return st(out_tangents[0]);
}

MX_TR_VMAP(dequantize) {
  const mx_quantize_params *p = MX_PARAMS(mx_quantize_params, n);
  int B = mx_tr_batch_size(in, in_axes, 3);
  mx_array *x[3];
  for (int i = 0; i < 3; i++)
    if (!(x[i] = mx_tr_batch_bcast(in[i], in_axes[i], B))) return st(NULL);
  out[0] = mx_dequantize(x[0], x[1], x[2], p->group_size, p->bits);
  out_axes[0] = 0;
  return st(out[0]);
}

/* quantized_matmul(x, wq, scales, biases): x @ W.T (transpose) or x @ W with
 * W = dequantize(wq, scales, biases). */
MX_TR_VJP(quantized_matmul) {
  (void)out;
  const mx_qmm_params *p = MX_PARAMS(mx_qmm_params, n);
  mx_array *x = in[0], *c = cotan[0], *dW = NULL;
  for (int i = 0; i < nargs; i++) {
    mx_array *g;
    if (argnums[i] == 0) {
      g = mx_quantized_matmul(c, in[1], in[2], in[3], !p->transpose, p->group_size,
                              p->bits);
      g = mx_tr_sum_to_shape(g, x->shape, x->ndim);
    } else {
      if (!dW) {
        /* cotangent of the dequantized matrix W: (N, K) = cot^T x when
         * transposed, (K, N) = x^T cot otherwise; summed over x's batch */
        int xs[2] = {1, x->shape[0]}, cs[2] = {1, c->shape[0]};
        mx_array *x2 = x->ndim == 1 ? mx_reshape(x, xs, 2) : mx_astype(x, c->dtype);
        mx_array *c2 = c->ndim == 1 ? mx_reshape(c, cs, 2) : c;
        x2 = mx_astype(x2, c->dtype);
        dW = p->transpose ? mx_matmul(mT(c2), x2) : mx_matmul(mT(x2), c2);
        int ws[MX_MAX_NDIM], wd = in[1]->ndim;
        memcpy(ws, in[1]->shape, sizeof(int) * (size_t)wd);
        ws[wd - 1] = in[2]->shape[wd - 1] * p->group_size;
        dW = mx_tr_sum_to_shape(dW, ws, wd);
      }
      g = dequant_param_grad(in + 1, p->group_size, p->bits, dW, argnums[i] == 2);
    }
    if (!(grads[i] = g)) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(quantized_matmul) {
  const mx_qmm_params *p = MX_PARAMS(mx_qmm_params, n);
  mx_array *r = NULL, *ts = NULL, *tb = NULL;
  for (int i = 0; i < nargs; i++) {
    if (argnums[i] == 0)
      r = plus(r, mx_quantized_matmul(tangents[i], in[1], in[2], in[3], p->transpose,
                                      p->group_size, p->bits));
    else if (argnums[i] == 2)
      ts = tangents[i];
    else if (argnums[i] == 3)
      tb = tangents[i];
    if (!r && argnums[i] == 0) return st(NULL);
  }
  if (ts || tb) {
    /* W is linear in (scales, biases): x @ dequantize(wq, ts, tb) */
    if (!ts) ts = mx_tr_zeros_like(in[2]);
    if (!tb) tb = mx_tr_zeros_like(in[3]);
    r = plus(r, mx_quantized_matmul(in[0], in[1], ts, tb, p->transpose, p->group_size,
                                    p->bits));
  }
  out_tangents[0] = r;
  return st(r);
}

MX_TR_VMAP(quantized_matmul) {
  const mx_qmm_params *p = MX_PARAMS(mx_qmm_params, n);
  if (in_axes[1] >= 0 || in_axes[2] >= 0 || in_axes[3] >= 0)
    return mx_tr_vmap_loop(n, in, in_axes, out, out_axes); /* batched weights */
  mx_array *x = mx_tr_batch_front(in[0], in_axes[0]);
  if (!x) return st(x);
  int wd = in[1]->ndim, xr = x->ndim - 1;
  if (wd > 2 && xr < wd) {
    /* the batch must not meet wq's batch dims: pad x to wq's rank */
    int s[MX_MAX_NDIM], k = 0;
    s[k++] = x->shape[0];
    for (int i = xr; i < wd; i++) s[k++] = 1;
    for (int i = 1; i <= xr; i++) s[k++] = x->shape[i];
    x = mx_reshape(x, s, k);
  }
  out[0] =
      mx_quantized_matmul(x, in[1], in[2], in[3], p->transpose, p->group_size, p->bits);
  out_axes[0] = 0;
  return st(out[0]);
}
