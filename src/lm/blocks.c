/* blocks.c: the building blocks model families are written with, using the
 * array API only (so they run on every backend): linear (float or
 * MLX-quantized), embedding, rope, SwiGLU MLP, GQA attention with a KV cache
 * and sliding windows, and the llama-style decoder stack. */
#include <math.h>
#include <stdlib.h>

#include "model.h"

mx_array *mx_lm_linear_apply(const mx_lm_linear *l, mx_array *x) {
  mx_array *y;
  if (l->scales) {
    y = mx_quantized_matmul(x, l->weight, l->scales, l->biases, true, l->group_size,
                            l->bits);
  } else {
    // x: (..., in) @ W.T: (in, out) -> (..., out); the transpose is a view
    y = mx_matmul(x, mx_transpose(l->weight, NULL, 0));
  }
  if (l->bias && !l->dora_scale) y = mx_add(y, l->bias);
  if (l->lora_a) { /* mlx-lm's LoRALinear / DoRALinear */
    mx_array *z = mx_matmul(mx_matmul(x, l->lora_a), l->lora_b);  // (..., out)
    z = mx_astype(mx_multiply(z, mx_scalar_like(z, l->lora_scale)), mx_array_dtype(x));
    y = mx_add(y, z);
    if (l->dora_scale) {
      y = mx_multiply(y, l->dora_scale);
      if (l->bias) y = mx_add(y, l->bias);
    }
  }
  return y;
}

mx_array *mx_lm_embed(const mx_lm_linear *e, mx_array *ids) {
  if (!e->scales) return mx_take(e->weight, ids, 0);  // (B, L) -> (B, L, D)
  mx_array *w = mx_take(e->weight, ids, 0);
  mx_array *s = mx_take(e->scales, ids, 0);
  mx_array *b = mx_take(e->biases, ids, 0);
  return mx_dequantize(w, s, b, e->group_size, e->bits);
}

mx_array *mx_lm_rope(mx_lm_model *m, mx_array *x, int offset) {
  const mx_rope_config *r = &m->cfg.rope;
  float base = (float)r->theta;
  if (r->type == MX_ROPE_DYNAMIC) {
    /* transformers' dynamic NTK: grow the base once the sequence passes
     * max_position_embeddings */
    int seq = offset + mx_array_dim(x, -2);
    int maxp = m->cfg.max_position_embeddings;
    if (seq > maxp) {
      double d = m->rope_dims;
      base =
          (float)(r->theta * pow(r->factor * seq / maxp - (r->factor - 1), d / (d - 2)));
    }
  }
  return mx_fast_rope(x, m->rope_dims, r->traditional, base, m->rope_scale, offset,
                      m->rope_freqs);
}

/* Rope with per-sequence positions (batched generation with left padding):
 * sequence b's slot pos + l is position pos + l - pad[b]. */
static mx_array *rope_padded(mx_lm_model *m, mx_array *x, int pos, const int *pad,
                             int B) {
  int32_t offs[256];
  if (B > 256) {
    mx_set_error(MX_ERR_INVALID, "[attention] batch of %d is too large (max 256)", B);
    return NULL;
  }
  for (int b = 0; b < B; b++) offs[b] = pos - pad[b];
  mx_array *o = mx_array_from_data(offs, &B, 1, MX_INT32);
  const mx_rope_config *r = &m->cfg.rope;
  return mx_fast_rope_dynamic(x, m->rope_dims, r->traditional, (float)r->theta,
                              m->rope_scale, o, m->rope_freqs);
}

/* (B, 1, L, T) mask: causal, window, and no padding keys. */
static mx_array *padded_mask(int B, int L, int T, int pos, int window, const int *pad) {
  size_t n = (size_t)B * L * T;
  uint8_t *m = malloc(n);
  if (!m) {
    mx_set_error(MX_ERR_NOMEM, "[attention] out of memory");
    return NULL;
  }
  for (int b = 0; b < B; b++)
    for (int i = 0; i < L; i++)
      for (int j = 0; j < T; j++) {
        int qp = pos + i;
        bool see = j >= pad[b] && j <= qp && (window <= 0 || qp - j < window);
        m[((size_t)b * L + i) * T + j] = see;
      }
  int shape[4] = {B, 1, L, T};
  mx_array *a = mx_array_from_data(m, shape, 4, MX_BOOL);
  free(m);
  return a;
}

mx_array *mx_lm_silu(mx_array *x) { return mx_multiply(x, mx_sigmoid(x)); }

mx_array *mx_lm_swiglu_mlp(const mx_lm_layer *l, mx_array *x) {
  mx_array *g, *u;
  if (l->gate_up.weight) { /* (..., 2I): gate then up */
    mx_array *gu = mx_lm_linear_apply(&l->gate_up, x);
    int I = mx_array_dim(gu, -1) / 2;
    g = mx_slice_axis(gu, -1, 0, I, 1);
    u = mx_slice_axis(gu, -1, I, 2 * I, 1);
  } else {
    g = mx_lm_linear_apply(&l->gate, x);
    u = mx_lm_linear_apply(&l->up, x);
  }
  return mx_lm_linear_apply(&l->down, mx_multiply(mx_lm_silu(g), u));
}

/* Bool mask (L, T): query i sits at position pos + i; the last T - keep keys
 * are the contiguous positions ending at pos + L - 1 and the first `keep`
 * keys are positions 0..keep-1 (a rotating cache's kept prefix; keep = 0
 * otherwise). A query sees a key at or before it, within `window` positions
 * (window <= 0: unlimited) unless it is a kept one. */
static mx_array *window_mask(int L, int T, int pos, int window, int keep) {
  uint8_t *m = malloc((size_t)L * (size_t)T);
  if (!m) {
    mx_set_error(MX_ERR_NOMEM, "[attention] out of memory");
    return NULL;
  }
  for (int i = 0; i < L; i++)
    for (int j = 0; j < T; j++) {
      int qp = pos + i, kp = j < keep ? j : pos + L - (T - j);
      bool see = kp <= qp && (window <= 0 || j < keep || qp - kp < window);
      m[(size_t)i * T + j] = see;
    }
  int shape[2] = {L, T};
  mx_array *a = mx_array_from_data(m, shape, 2, MX_BOOL);
  free(m);
  return a;
}

/* The mask of this forward for `window` (built once, shared by every layer
 * with that window). */
static mx_array *memo_mask(mx_lm_masks *mm, int window, bool padded, int B, int L, int T,
                           int pos, int keep, const int *pad) {
  for (int i = 0; i < mm->n; i++)
    if (mm->window[i] == window) return mm->mask[i];
  mx_array *mask = padded ? padded_mask(B, L, T, pos, window, pad)
                          : window_mask(L, T, pos, window, keep);
  if (mask && mm->n < 2) {
    /* a reference of its own: each layer runs in its own scope */
    mm->window[mm->n] = window;
    mm->mask[mm->n++] = mx_keep(mask);
  }
  return mask;
}

mx_array *mx_lm_attention(mx_lm_model *m, int layer, mx_array *x, mx_lm_cache *cache,
                          mx_lm_masks *masks) {
  const mx_lm_config *c = &m->cfg;
  const mx_lm_layer *l = &m->layers[layer];
  int B = mx_array_dim(x, 0), L = mx_array_dim(x, 1);
  int H = c->num_heads, Hk = c->num_kv_heads, hd = c->head_dim;
  int qs[4] = {B, L, H, hd}, ks[4] = {B, L, Hk, hd}, perm[4] = {0, 2, 1, 3};
  if (L == 1) {
    /* one position: (B, 1, H, hd) and (B, H, 1, hd) have the same element
     * order, so reshape straight to the head-major shape and skip three
     * transpose nodes (the same values reach rope and attention) */
    qs[1] = H;
    qs[2] = 1;
    ks[1] = Hk;
    ks[2] = 1;
  }
  mx_array *q, *k, *v;
  if (l->qkv.weight) {
    mx_array *y = mx_lm_linear_apply(&l->qkv, x);  // (B, L, (H + 2 Hk) hd)
    q = mx_slice_axis(y, -1, 0, H * hd, 1);
    k = mx_slice_axis(y, -1, H * hd, (H + Hk) * hd, 1);
    v = mx_slice_axis(y, -1, (H + Hk) * hd, (H + 2 * Hk) * hd, 1);
  } else {
    q = mx_lm_linear_apply(&l->q, x);
    k = mx_lm_linear_apply(&l->k, x);
    v = mx_lm_linear_apply(&l->v, x);
  }
  q = mx_reshape(q, qs, 4);  // (B, L, H, hd)
  k = mx_reshape(k, ks, 4);
  v = mx_reshape(v, ks, 4);
  float eps = (float)c->rms_norm_eps;
  if (l->q_norm) q = mx_fast_rms_norm(q, l->q_norm, eps);  // over hd: either layout
  if (l->k_norm) k = mx_fast_rms_norm(k, l->k_norm, eps);
  if (L > 1) {
    q = mx_transpose(q, perm, 4);  // (B, H, L, hd)
    k = mx_transpose(k, perm, 4);  // (B, Hk, L, hd)
    v = mx_transpose(v, perm, 4);
  }
  int pos = cache ? mx_lm_cache_pos(cache) : 0;
  if (m->attn_mscale_vec) { /* partial rotary: scale the rotated dims only */
    q = mx_multiply(q, m->attn_mscale_vec);
    k = mx_multiply(k, m->attn_mscale_vec);
  } else if (m->attn_mscale != 1.0f) {
    q = mx_multiply(q, mx_scalar_like(q, m->attn_mscale));
    k = mx_multiply(k, mx_scalar_like(k, m->attn_mscale));
  }
  int nbatch = 0;
  const int *pad = cache ? mx_lm_cache_left_padding(cache, &nbatch) : NULL;
  if (pad && nbatch != B) {
    mx_set_error(MX_ERR_INVALID, "[attention] batch %d but the cache has padding for %d",
                 B, nbatch);
    return NULL;
  }
  if (pad) {
    q = rope_padded(m, q, pos, pad, B);
    k = rope_padded(m, k, pos, pad, B);
  } else {
    q = mx_lm_rope(m, q, pos);
    k = mx_lm_rope(m, k, pos);
  }
  mx_array *keys = k, *values = v;
  if (cache && mx_lm_cache_update(cache, layer, k, v, &keys, &values) != MX_OK)
    return NULL;
  int T = mx_array_dim(keys, 2);
  float scale = 1.0f / sqrtf((float)hd);
  mx_array *o;
  int window = l->sliding ? c->sliding_window : 0, keep = 0;
  if (cache && mx_lm_cache_rotating(cache)) {
    int ms = mx_lm_cache_max_size(cache);
    window = window > 0 && window < ms ? window : ms;
    keep = mx_lm_cache_keep(cache);
    if (L == 1) window = 0; /* the ring holds exactly what one query may see */
  }
  if (pad) {
    mx_array *mask = memo_mask(masks, window, true, B, L, T, pos, keep, pad);
    o = mx_fast_scaled_dot_product_attention(q, keys, values, scale, MX_SDPA_MASK_ARRAY,
                                             mask, NULL);
  } else if (window > 0 && (L > 1 || T > window)) {
    mx_array *mask = memo_mask(masks, window, false, B, L, T, pos, keep, pad);
    o = mx_fast_scaled_dot_product_attention(q, keys, values, scale, MX_SDPA_MASK_ARRAY,
                                             mask, NULL);
  } else {
    o = mx_fast_scaled_dot_product_attention(
        q, keys, values, scale, L > 1 ? MX_SDPA_MASK_CAUSAL : MX_SDPA_MASK_NONE, NULL,
        NULL);
  }
  int os[3] = {B, L, H * hd};
  o = mx_reshape(L == 1 ? o : mx_transpose(o, perm, 4), os, 3);  // (B, L, H*hd)
  return mx_lm_linear_apply(&l->o, o);
}

mx_array *mx_lm_decoder_forward(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache,
                                int last) {
  float eps = (float)m->cfg.rms_norm_eps;
  mx_array *h = mx_lm_embed(&m->embed, ids);  // (B, L, D)
  mx_lm_masks masks = {0};
  int L = mx_array_dim(ids, 1);
  /* Each layer is built in its own scope that keeps only the layer's
   * output: the graph then holds a layer's intermediates only until their
   * consumers have run, and evaluation frees them as it goes (as MLX's
   * does). With every intermediate owned by the caller's scope, a prefill
   * held all layers' activations at once: peak memory grew by 1.6 MB per
   * prompt token on the 0.4B shape (0.81 GB for 512 tokens). */
  mx_array *held = NULL; /* the previous layer's output, kept */
  for (int i = 0; i < m->cfg.num_layers && h; i++) {
    const mx_lm_layer *l = &m->layers[i];
    mx_scope_begin();
    mx_array *r =
        mx_lm_attention(m, i, mx_fast_rms_norm(h, l->input_norm, eps), cache, &masks);
    mx_array *hl = mx_add(h, r);
    /* only `last` rows reach the head: the last layer's MLP (88% of a
     * layer's FLOPs at the 0.4B shape) runs on those rows alone */
    if (i == m->cfg.num_layers - 1 && last > 0 && last < L)
      hl = mx_slice_axis(hl, 1, L - last, L, 1);
    r = mx_lm_swiglu_mlp(l, mx_fast_rms_norm(hl, l->post_attn_norm, eps));
    hl = mx_keep(mx_add(hl, r));
    mx_scope_end();
    mx_free(held); /* the new layer's nodes reference it */
    held = h = hl;
  }
  /* generation reads the last position's logits only: the head over the
   * other rows would be ~7% of a prefill's FLOPs (vocab 32000, hidden 896);
   * h has `last` rows already (sliced before the last MLP) */
  if (m->cfg.num_layers == 0 && last > 0 && last < L)
    h = mx_slice_axis(h, 1, L - last, L, 1);
  h = mx_fast_rms_norm(h, m->final_norm, eps);
  mx_free(held); /* referenced by the norm's node (or NULL: an error) */
  for (int i = 0; i < masks.n; i++) mx_free(masks.mask[i]);
  if (!h) return NULL;
  if (cache && ids) mx_lm_cache_advance(cache, mx_array_dim(ids, 1));
  return mx_lm_linear_apply(&m->lm_head, h);  // (B, L or last, V)
}
