/* cache.c: the KV cache. Keys and values per layer are (B, H_kv, cap, D)
 * buffers that grow in steps of 256 positions (mlx-lm's KVCache); each
 * forward writes its new positions with slice_update and attends to the
 * filled prefix. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define MX_CACHE_STEP 256

typedef struct {
  mx_array *keys, *values; /* kept references, (B, Hk, cap, D) */
} layer_cache;

struct mx_lm_cache {
  int nlayers;
  int offset; /* tokens committed before the current forward */
  mx_lm_cache_options opts;
  layer_cache *layers;
};

mx_lm_cache *mx_lm_cache_new(const mx_lm_model *m, const mx_lm_cache_options *opts) {
  if (!m) {
    mx_set_error(MX_ERR_INVALID, "[cache] model is NULL");
    return NULL;
  }
  mx_lm_cache *c = calloc(1, sizeof *c);
  if (!c || !(c->layers = calloc((size_t)m->cfg.num_layers, sizeof *c->layers))) {
    free(c);
    mx_set_error(MX_ERR_NOMEM, "[cache] out of memory");
    return NULL;
  }
  c->nlayers = m->cfg.num_layers;
  if (opts) c->opts = *opts;
  if (c->opts.max_kv_size > 0 || c->opts.kv_bits > 0) {
    free(c->layers);
    free(c);
    mx_set_error(MX_ERR_UNSUPPORTED,
                 "[cache] rotating (max_kv_size) and quantized (kv_bits) caches are not "
                 "implemented yet");
    return NULL;
  }
  return c;
}

void mx_lm_cache_reset(mx_lm_cache *c) {
  if (!c) return;
  for (int i = 0; i < c->nlayers; i++) {
    mx_free(c->layers[i].keys);
    mx_free(c->layers[i].values);
    c->layers[i].keys = c->layers[i].values = NULL;
  }
  c->offset = 0;
}

void mx_lm_cache_free(mx_lm_cache *c) {
  if (!c) return;
  mx_lm_cache_reset(c);
  free(c->layers);
  free(c);
}

int mx_lm_cache_offset(const mx_lm_cache *c) { return c ? c->offset : 0; }
int mx_lm_cache_pos(const mx_lm_cache *c) { return c->offset; }
void mx_lm_cache_advance(mx_lm_cache *c, int n) { c->offset += n; }

/* Grow `buf` (B, H, cap, D) so that it holds `need` positions. */
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

mx_status mx_lm_cache_update(mx_lm_cache *c, int layer, mx_array *k, mx_array *v,
                             mx_array **keys, mx_array **values) {
  if (!k || !v) return mx_last_status() ? mx_last_status() : MX_ERR_INVALID;
  layer_cache *lc = &c->layers[layer];
  int prev = c->offset, L = mx_array_dim(k, 2);
  mx_array *kb = grow(lc->keys, k, prev, prev + L);
  mx_array *vb = grow(lc->values, v, prev, prev + L);
  int start[4] = {0, 0, prev, 0};
  int stop[4] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, prev + L, MX_SLICE_DEFAULT};
  kb = mx_slice_update(kb, k, start, stop, NULL);
  vb = mx_slice_update(vb, v, start, stop, NULL);
  if (!kb || !vb) return mx_last_status();
  mx_free(lc->keys);
  mx_free(lc->values);
  lc->keys = mx_keep(kb);
  lc->values = mx_keep(vb);
  *keys = mx_slice_axis(kb, 2, 0, prev + L, 1);
  *values = mx_slice_axis(vb, 2, 0, prev + L, 1);
  return (*keys && *values) ? MX_OK : mx_last_status();
}
