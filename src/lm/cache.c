/* cache.c: KV caches, as mlx-lm's:
 *  - standard: per layer (B, H_kv, cap, D) buffers growing in steps of 256
 *    positions; each forward writes its positions with slice_update and
 *    attends to the filled prefix;
 *  - rotating (max_kv_size): keeps the first `keep` positions and the most
 *    recent ones in a ring of max_kv_size slots; a multi-token update first
 *    puts the ring in temporal order and appends, so every new token still
 *    sees max_kv_size - 1 earlier ones (the caller masks with the window);
 *  - quantized (kv_bits): keys and values stored with mx_quantize (affine,
 *    kv_group_size) and dequantized for attention; quantized_kv_start lets a
 *    standard cache convert once it passes that many tokens.
 * Positions for rope always come from `offset`, never from storage order. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MX_CACHE_STEP 256

typedef struct {
  mx_array *keys, *values; /* kept, (B, Hk, cap, D) (standard / rotating) */
  mx_array *kq[3], *vq[3]; /* kept, quantized: weight, scales, biases */
  int len;                 /* rotating: valid slots; quantized: stored positions */
  int idx;                 /* rotating: next write slot */
} layer_cache;

struct mx_lm_cache {
  int nlayers;
  int offset; /* tokens committed before the current forward */
  mx_lm_cache_options opts;
  bool quantized; /* storing quantized now */
  layer_cache *layers;
  int *left_pad; /* batched generation: pad tokens before each sequence */
  int batch;
};

mx_lm_cache *mx_lm_cache_new(const mx_lm_model *m, const mx_lm_cache_options *opts) {
  if (!m) {
    mx_set_error(MX_ERR_INVALID, "[cache] model is NULL");
    return NULL;
  }
  mx_lm_cache_options o = {0};
  if (opts) o = *opts;
  if (o.max_kv_size < 0 || o.keep < 0 || (o.max_kv_size > 0 && o.keep >= o.max_kv_size)) {
    mx_set_error(MX_ERR_INVALID, "[cache] need max_kv_size > keep >= 0 (got %d, %d)",
                 o.max_kv_size, o.keep);
    return NULL;
  }
  if (o.kv_bits) {
    if (o.kv_group_size == 0) o.kv_group_size = 64;
    if (o.kv_bits != 2 && o.kv_bits != 3 && o.kv_bits != 4 && o.kv_bits != 5 &&
        o.kv_bits != 6 && o.kv_bits != 8) {
      mx_set_error(MX_ERR_INVALID, "[cache] kv_bits must be 2, 3, 4, 5, 6 or 8, got %d",
                   o.kv_bits);
      return NULL;
    }
    if (o.kv_group_size != 32 && o.kv_group_size != 64 && o.kv_group_size != 128) {
      mx_set_error(MX_ERR_INVALID, "[cache] kv_group_size must be 32, 64 or 128, got %d",
                   o.kv_group_size);
      return NULL;
    }
    if (m->cfg.head_dim % o.kv_group_size) {
      mx_set_error(MX_ERR_INVALID,
                   "[cache] head_dim %d is not a multiple of kv_group_size %d",
                   m->cfg.head_dim, o.kv_group_size);
      return NULL;
    }
    if (o.max_kv_size > 0) {
      mx_set_error(MX_ERR_INVALID, "[cache] a rotating cache cannot also be quantized");
      return NULL;
    }
  }
  mx_lm_cache *c = calloc(1, sizeof *c);
  if (!c || !(c->layers = calloc((size_t)m->cfg.num_layers, sizeof *c->layers))) {
    free(c);
    mx_set_error(MX_ERR_NOMEM, "[cache] out of memory");
    return NULL;
  }
  c->nlayers = m->cfg.num_layers;
  c->opts = o;
  return c;
}

static void drop(mx_array **a) {
  mx_free(*a);
  *a = NULL;
}

void mx_lm_cache_reset(mx_lm_cache *c) {
  if (!c) return;
  for (int i = 0; i < c->nlayers; i++) {
    layer_cache *l = &c->layers[i];
    drop(&l->keys);
    drop(&l->values);
    for (int k = 0; k < 3; k++) {
      drop(&l->kq[k]);
      drop(&l->vq[k]);
    }
    l->len = l->idx = 0;
  }
  c->offset = 0;
  c->quantized = false;
}

void mx_lm_cache_free(mx_lm_cache *c) {
  if (!c) return;
  mx_lm_cache_reset(c);
  free(c->left_pad);
  free(c->layers);
  free(c);
}

mx_status mx_lm_cache_set_left_padding(mx_lm_cache *c, const int *pad, int batch) {
  if (!c || batch < 0 || (batch && !pad))
    return mx_set_error(MX_ERR_INVALID, "[cache] bad left padding");
  if (c->offset != 0)
    return mx_set_error(MX_ERR_INVALID,
                        "[cache] left padding must be set on an empty cache");
  if (c->opts.max_kv_size > 0)
    return mx_set_error(MX_ERR_UNSUPPORTED,
                        "[cache] batched generation with a rotating cache");
  free(c->left_pad);
  c->left_pad = NULL;
  c->batch = 0;
  if (batch == 0) return MX_OK;
  c->left_pad = malloc((size_t)batch * sizeof *c->left_pad);
  if (!c->left_pad) return mx_set_error(MX_ERR_NOMEM, "[cache] out of memory");
  memcpy(c->left_pad, pad, (size_t)batch * sizeof *pad);
  c->batch = batch;
  return MX_OK;
}

const int *mx_lm_cache_left_padding(const mx_lm_cache *c, int *batch) {
  *batch = c ? c->batch : 0;
  return c ? c->left_pad : NULL;
}

bool mx_lm_cache_can_trim(const mx_lm_cache *c) {
  return c && c->opts.max_kv_size == 0 && !c->quantized;
}

int mx_lm_cache_trim(mx_lm_cache *c, int n) {
  if (!mx_lm_cache_can_trim(c) || n <= 0) return 0;
  if (n > c->offset) n = c->offset;
  /* positions past offset are simply overwritten by later updates */
  c->offset -= n;
  return n;
}

int mx_lm_cache_offset(const mx_lm_cache *c) { return c ? c->offset : 0; }
int mx_lm_cache_pos(const mx_lm_cache *c) { return c->offset; }

static void set_kept(mx_array **slot, mx_array *a) {
  mx_array *k = mx_keep(a);
  mx_free(*slot);
  *slot = k;
}

/* ---- standard ---- */
static mx_array *grow(mx_array *buf, mx_array *like, int prev, int need) {
  int B = mx_array_dim(like, 0), H = mx_array_dim(like, 1), D = mx_array_dim(like, 3);
  int cap = buf ? mx_array_dim(buf, 2) : 0;
  if (buf && need <= cap) return buf;
  int extra = ((need - prev + MX_CACHE_STEP - 1) / MX_CACHE_STEP) * MX_CACHE_STEP;
  int shape[4] = {B, H, extra, D};
  mx_array *z = mx_zeros(shape, 4, mx_array_dtype(like));
  if (!buf) return z;
  mx_array *parts[2] = {mx_slice_axis(buf, 2, 0, prev, 1), z};
  return mx_concatenate(parts, 2, 2);
}

static mx_status update_standard(mx_lm_cache *c, layer_cache *lc, mx_array *k,
                                 mx_array *v, mx_array **keys, mx_array **values) {
  int prev = c->offset, L = mx_array_dim(k, 2);
  mx_array *kb = grow(lc->keys, k, prev, prev + L);
  mx_array *vb = grow(lc->values, v, prev, prev + L);
  int start[4] = {0, 0, prev, 0};
  int stop[4] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, prev + L, MX_SLICE_DEFAULT};
  kb = mx_slice_update(kb, k, start, stop, NULL);
  vb = mx_slice_update(vb, v, start, stop, NULL);
  if (!kb || !vb) return mx_last_status();
  set_kept(&lc->keys, kb);
  set_kept(&lc->values, vb);
  *keys = mx_slice_axis(kb, 2, 0, prev + L, 1);
  *values = mx_slice_axis(vb, 2, 0, prev + L, 1);
  return (*keys && *values) ? MX_OK : mx_last_status();
}

/* ---- rotating ---- */
/* Slots in temporal order: [0, keep) then [idx, len) then [keep, idx). */
static mx_array *temporal(const layer_cache *lc, mx_array *buf, int keep) {
  if (lc->idx >= lc->len || lc->idx <= keep) return mx_slice_axis(buf, 2, 0, lc->len, 1);
  mx_array *parts[3] = {mx_slice_axis(buf, 2, 0, keep, 1),
                        mx_slice_axis(buf, 2, lc->idx, lc->len, 1),
                        mx_slice_axis(buf, 2, keep, lc->idx, 1)};
  return mx_concatenate(parts, 3, 2);
}

/* Drop the `n` oldest non-kept positions of a temporally ordered buffer. */
static mx_array *trim_front(mx_array *buf, int keep, int n) {
  if (n <= 0) return buf;
  int T = mx_array_dim(buf, 2);
  mx_array *parts[2] = {mx_slice_axis(buf, 2, 0, keep, 1),
                        mx_slice_axis(buf, 2, keep + n, T, 1)};
  return keep > 0 ? mx_concatenate(parts, 2, 2) : parts[1];
}

static mx_status update_rotating(mx_lm_cache *c, layer_cache *lc, mx_array *k,
                                 mx_array *v, mx_array **keys, mx_array **values) {
  int max = c->opts.max_kv_size, keep = c->opts.keep, L = mx_array_dim(k, 2);
  mx_array *kb, *vb;
  if (L > 1 || !lc->keys) {
    /* temporal order, keep max - 1 old positions so each new token sees a
     * full window, then append */
    if (lc->keys) {
      kb = temporal(lc, lc->keys, keep);
      vb = temporal(lc, lc->values, keep);
      int trim = lc->len - (max - 1);
      kb = trim_front(kb, keep, trim);
      vb = trim_front(vb, keep, trim);
      mx_array *kp[2] = {kb, k}, *vp[2] = {vb, v};
      kb = mx_concatenate(kp, 2, 2);
      vb = mx_concatenate(vp, 2, 2);
    } else {
      kb = k;
      vb = v;
    }
    if (!kb || !vb) return mx_last_status();
    lc->len = mx_array_dim(kb, 2);
    lc->idx = lc->len;
    set_kept(&lc->keys, kb);
    set_kept(&lc->values, vb);
    *keys = kb;
    *values = vb;
    return MX_OK;
  }
  /* one token: write into the ring */
  kb = lc->keys;
  vb = lc->values;
  if (lc->len > max) { /* after a long prefill: back to max slots, temporal order */
    kb = trim_front(temporal(lc, kb, keep), keep, lc->len - max);
    vb = trim_front(temporal(lc, vb, keep), keep, lc->len - max);
    lc->len = max;
    lc->idx = max;
  }
  if (lc->idx == mx_array_dim(kb, 2) && lc->len < max) {
    /* still growing: add room (at most up to max) */
    int B = mx_array_dim(k, 0), H = mx_array_dim(k, 1), D = mx_array_dim(k, 3);
    int add = max - lc->len < MX_CACHE_STEP ? max - lc->len : MX_CACHE_STEP;
    int shape[4] = {B, H, add, D};
    mx_array *kp[2] = {kb, mx_zeros(shape, 4, mx_array_dtype(k))};
    mx_array *vp[2] = {vb, mx_zeros(shape, 4, mx_array_dtype(v))};
    kb = mx_concatenate(kp, 2, 2);
    vb = mx_concatenate(vp, 2, 2);
  }
  if (lc->idx == max) lc->idx = keep; /* wrap */
  int start[4] = {0, 0, lc->idx, 0};
  int stop[4] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, lc->idx + 1, MX_SLICE_DEFAULT};
  kb = mx_slice_update(kb, k, start, stop, NULL);
  vb = mx_slice_update(vb, v, start, stop, NULL);
  if (!kb || !vb) return mx_last_status();
  lc->idx++;
  if (lc->idx > lc->len) lc->len = lc->idx;
  set_kept(&lc->keys, kb);
  set_kept(&lc->values, vb);
  /* order does not matter for attention of a single query */
  *keys = mx_slice_axis(kb, 2, 0, lc->len, 1);
  *values = mx_slice_axis(vb, 2, 0, lc->len, 1);
  return (*keys && *values) ? MX_OK : mx_last_status();
}

/* ---- quantized ---- */
static mx_status append_quantized(mx_lm_cache *c, mx_array *q[3], mx_array *x) {
  mx_array *w, *s, *b;
  mx_status rc = mx_quantize(x, c->opts.kv_group_size, c->opts.kv_bits, &w, &s, &b);
  if (rc != MX_OK) return rc;
  mx_array *nw[3] = {w, s, b};
  for (int i = 0; i < 3; i++) {
    mx_array *v = nw[i];
    if (q[i]) {
      mx_array *p[2] = {q[i], v};
      v = mx_concatenate(p, 2, 2);
    }
    if (!v) return mx_last_status();
    set_kept(&q[i], v);
  }
  return MX_OK;
}

static mx_status update_quantized(mx_lm_cache *c, layer_cache *lc, mx_array *k,
                                  mx_array *v, mx_array **keys, mx_array **values) {
  if (lc->keys) { /* first quantized step after a standard phase: convert */
    mx_array *kk = mx_slice_axis(lc->keys, 2, 0, c->offset, 1);
    mx_array *vv = mx_slice_axis(lc->values, 2, 0, c->offset, 1);
    mx_status rc = append_quantized(c, lc->kq, kk);
    if (rc == MX_OK) rc = append_quantized(c, lc->vq, vv);
    if (rc != MX_OK) return rc;
    drop(&lc->keys);
    drop(&lc->values);
  }
  mx_status rc = append_quantized(c, lc->kq, k);
  if (rc == MX_OK) rc = append_quantized(c, lc->vq, v);
  if (rc != MX_OK) return rc;
  int gs = c->opts.kv_group_size, bits = c->opts.kv_bits;
  *keys = mx_astype(mx_dequantize(lc->kq[0], lc->kq[1], lc->kq[2], gs, bits),
                    mx_array_dtype(k));
  *values = mx_astype(mx_dequantize(lc->vq[0], lc->vq[1], lc->vq[2], gs, bits),
                      mx_array_dtype(v));
  return (*keys && *values) ? MX_OK : mx_last_status();
}

mx_status mx_lm_cache_update(mx_lm_cache *c, int layer, mx_array *k, mx_array *v,
                             mx_array **keys, mx_array **values) {
  if (!k || !v) return mx_last_status() ? mx_last_status() : MX_ERR_INVALID;
  layer_cache *lc = &c->layers[layer];
  if (c->opts.max_kv_size > 0) return update_rotating(c, lc, k, v, keys, values);
  if (c->quantized) return update_quantized(c, lc, k, v, keys, values);
  return update_standard(c, lc, k, v, keys, values);
}

void mx_lm_cache_advance(mx_lm_cache *c, int n) {
  c->offset += n;
  if (c->opts.kv_bits > 0 && !c->quantized && c->offset > c->opts.quantized_kv_start)
    c->quantized = true; /* the next update converts each layer */
}

bool mx_lm_cache_rotating(const mx_lm_cache *c) { return c && c->opts.max_kv_size > 0; }
int mx_lm_cache_max_size(const mx_lm_cache *c) { return c ? c->opts.max_kv_size : 0; }
int mx_lm_cache_keep(const mx_lm_cache *c) { return c ? c->opts.keep : 0; }

/* ---- prompt cache files ---- */
mx_status mx_lm_cache_export(const mx_lm_cache *c, int layer, mx_lm_layer_state *st,
                             const char **cls, int *offset) {
  if (layer < 0 || layer >= c->nlayers)
    return mx_set_error(MX_ERR_INVALID, "[prompt_cache] layer %d out of range", layer);
  const layer_cache *lc = &c->layers[layer];
  memset(st, 0, sizeof *st);
  *offset = c->offset;
  if (c->opts.max_kv_size > 0) {
    *cls = "RotatingKVCache";
    if (lc->keys) {
      st->keys = mx_slice_axis(lc->keys, 2, 0, lc->len, 1);
      st->values = mx_slice_axis(lc->values, 2, 0, lc->len, 1);
    }
    st->idx = lc->idx;
    return MX_OK;
  }
  if (c->quantized && lc->kq[0]) {
    *cls = "QuantizedKVCache";
    for (int i = 0; i < 3; i++) {
      st->kq[i] = lc->kq[i];
      st->vq[i] = lc->vq[i];
    }
    st->group_size = c->opts.kv_group_size;
    st->bits = c->opts.kv_bits;
    return MX_OK;
  }
  *cls = "KVCache";
  if (lc->keys) {
    st->keys = mx_slice_axis(lc->keys, 2, 0, c->offset, 1);
    st->values = mx_slice_axis(lc->values, 2, 0, c->offset, 1);
  }
  return MX_OK;
}

mx_status mx_lm_cache_import(mx_lm_cache *c, int layer, const mx_lm_layer_state *st,
                             int offset) {
  if (layer < 0 || layer >= c->nlayers)
    return mx_set_error(MX_ERR_INVALID, "[prompt_cache] layer %d out of range", layer);
  if (offset < 0) return mx_set_error(MX_ERR_IO, "[prompt_cache] negative offset");
  layer_cache *lc = &c->layers[layer];
  if (st->kq[0]) {
    for (int i = 0; i < 3; i++) {
      set_kept(&lc->kq[i], st->kq[i]);
      set_kept(&lc->vq[i], st->vq[i]);
    }
    c->quantized = true;
  } else if (st->keys) {
    if (mx_array_ndim(st->keys) != 4 || mx_array_ndim(st->values) != 4)
      return mx_set_error(MX_ERR_IO, "[prompt_cache] layer %d: keys/values must be 4-d",
                          layer);
    set_kept(&lc->keys, st->keys);
    set_kept(&lc->values, st->values);
    lc->len = mx_array_dim(st->keys, 2);
    lc->idx = c->opts.max_kv_size > 0 ? st->idx : lc->len;
    if (c->opts.max_kv_size == 0 && lc->len != offset)
      return mx_set_error(MX_ERR_IO,
                          "[prompt_cache] layer %d holds %d positions, offset is %d",
                          layer, lc->len, offset);
  }
  c->offset = offset;
  return MX_OK;
}
