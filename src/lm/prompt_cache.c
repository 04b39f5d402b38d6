/* prompt_cache.c: save a KV cache to a safetensors file and load it back,
 * in mlx-lm's prompt cache layout so files move between the two:
 *   tensors   "<layer>.0" keys, "<layer>.1" values (standard, rotating);
 *             "<layer>.0.{0,1,2}", "<layer>.1.{0,1,2}" (quantized: weight,
 *             scales, biases)
 *   metadata  "2.<layer>" class name (KVCache, RotatingKVCache,
 *             QuantizedKVCache), "0.<layer>[.k]" the class's meta state,
 *             "1.<key>" user metadata (model, chat_template, ...).
 * Standard caches store the filled prefix only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static mx_status set_meta_int(mx_array_map *m, const char *key, long v) {
  char b[32];
  snprintf(b, sizeof b, "%ld", v);
  return mx_array_map_set_meta(m, key, b);
}

mx_status mx_lm_cache_save(const mx_lm_cache *c, int nlayers, const char *path,
                           const char *const *meta_keys, const char *const *meta_values,
                           int nmeta) {
  if (!c || !path)
    return mx_set_error(MX_ERR_INVALID, "[prompt_cache] NULL cache or path");
  mx_array_map *m = mx_array_map_new();
  if (!m) return mx_last_status();
  mx_status rc = MX_OK;
  mx_scope_begin();
  char k[64];
  for (int l = 0; l < nlayers && rc == MX_OK; l++) {
    mx_lm_layer_state st;
    const char *cls;
    int offset;
    rc = mx_lm_cache_export(c, l, &st, &cls, &offset);
    if (rc != MX_OK) break;
    snprintf(k, sizeof k, "2.%d", l);
    rc = mx_array_map_set_meta(m, k, cls);
    if (rc != MX_OK) break;
    if (!strcmp(cls, "QuantizedKVCache")) {
      for (int i = 0; i < 3 && rc == MX_OK; i++) {
        snprintf(k, sizeof k, "%d.0.%d", l, i);
        rc = mx_array_map_set(m, k, st.kq[i]);
        snprintf(k, sizeof k, "%d.1.%d", l, i);
        if (rc == MX_OK) rc = mx_array_map_set(m, k, st.vq[i]);
      }
      /* meta state: offset, group_size, bits */
      snprintf(k, sizeof k, "0.%d.0", l);
      if (rc == MX_OK) rc = set_meta_int(m, k, offset);
      snprintf(k, sizeof k, "0.%d.1", l);
      if (rc == MX_OK) rc = set_meta_int(m, k, st.group_size);
      snprintf(k, sizeof k, "0.%d.2", l);
      if (rc == MX_OK) rc = set_meta_int(m, k, st.bits);
    } else {
      if (!st.keys) continue; /* empty layer */
      snprintf(k, sizeof k, "%d.0", l);
      rc = mx_array_map_set(m, k, st.keys);
      snprintf(k, sizeof k, "%d.1", l);
      if (rc == MX_OK) rc = mx_array_map_set(m, k, st.values);
      if (!strcmp(cls, "RotatingKVCache")) {
        /* keep, max_size, step, offset, idx */
        long vals[5] = {mx_lm_cache_keep(c), mx_lm_cache_max_size(c), 256, offset,
                        st.idx};
        for (int i = 0; i < 5 && rc == MX_OK; i++) {
          snprintf(k, sizeof k, "0.%d.%d", l, i);
          rc = set_meta_int(m, k, vals[i]);
        }
      } else {
        snprintf(k, sizeof k, "0.%d", l);
        if (rc == MX_OK) rc = mx_array_map_set_meta(m, k, "");
      }
    }
  }
  for (int i = 0; i < nmeta && rc == MX_OK; i++) {
    char mk[512];
    snprintf(mk, sizeof mk, "1.%s", meta_keys[i]);
    rc = mx_array_map_set_meta(m, mk, meta_values[i] ? meta_values[i] : "");
  }
  if (rc == MX_OK) rc = mx_save_safetensors(path, m);
  mx_scope_end();
  mx_array_map_free(m);
  return rc;
}

static long meta_int(const mx_array_map *m, const char *key, long dflt) {
  const char *v = mx_array_map_meta(m, key);
  return v && *v ? strtol(v, NULL, 10) : dflt;
}

mx_lm_cache *mx_lm_cache_load(const mx_lm_model *model, const char *path,
                              mx_array_map **metadata) {
  mx_array_map *m = mx_load_safetensors(path);
  if (!m) return NULL;
  int nl = mx_lm_num_layers(model);
  mx_lm_cache_options o = {0};
  char k[64];
  /* cache kind from layer 0 */
  const char *cls = mx_array_map_meta(m, "2.0");
  if (!cls) {
    mx_set_error(MX_ERR_IO, "[prompt_cache] %s: not a prompt cache (no class metadata)",
                 path);
    mx_array_map_free(m);
    return NULL;
  }
  bool rot = !strcmp(cls, "RotatingKVCache"), quant = !strcmp(cls, "QuantizedKVCache");
  if (!rot && !quant && strcmp(cls, "KVCache")) {
    mx_set_error(MX_ERR_UNSUPPORTED, "[prompt_cache] %s: cache class %s is not supported",
                 path, cls);
    mx_array_map_free(m);
    return NULL;
  }
  if (rot) {
    o.keep = (int)meta_int(m, "0.0.0", 0);
    o.max_kv_size = (int)meta_int(m, "0.0.1", 0);
  }
  if (quant) {
    o.kv_group_size = (int)meta_int(m, "0.0.1", 64);
    o.kv_bits = (int)meta_int(m, "0.0.2", 8);
  }
  mx_lm_cache *c = mx_lm_cache_new(model, &o);
  if (!c) {
    mx_array_map_free(m);
    return NULL;
  }
  mx_status rc = MX_OK;
  for (int l = 0; l < nl && rc == MX_OK; l++) {
    snprintf(k, sizeof k, "2.%d", l);
    const char *lc = mx_array_map_meta(m, k);
    if (!lc || strcmp(lc, cls)) {
      rc = mx_set_error(
          MX_ERR_IO, "[prompt_cache] %s: layer %d missing or of another class", path, l);
      break;
    }
    mx_lm_layer_state st;
    memset(&st, 0, sizeof st);
    int offset = 0;
    if (quant) {
      for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "%d.0.%d", l, i);
        st.kq[i] = mx_array_map_get(m, k);
        snprintf(k, sizeof k, "%d.1.%d", l, i);
        st.vq[i] = mx_array_map_get(m, k);
        if (!st.kq[i] || !st.vq[i])
          rc = mx_set_error(MX_ERR_IO, "[prompt_cache] %s: layer %d: missing tensor %s",
                            path, l, k);
      }
      snprintf(k, sizeof k, "0.%d.0", l);
      offset = (int)meta_int(m, k, 0);
    } else {
      snprintf(k, sizeof k, "%d.0", l);
      st.keys = mx_array_map_get(m, k);
      snprintf(k, sizeof k, "%d.1", l);
      st.values = mx_array_map_get(m, k);
      if (!st.keys || !st.values) {
        rc = mx_set_error(MX_ERR_IO, "[prompt_cache] %s: layer %d: missing keys/values",
                          path, l);
        break;
      }
      if (rot) {
        snprintf(k, sizeof k, "0.%d.3", l);
        offset = (int)meta_int(m, k, 0);
        snprintf(k, sizeof k, "0.%d.4", l);
        st.idx = (int)meta_int(m, k, 0);
      } else {
        offset = mx_array_dim(st.keys, 2);
      }
    }
    if (rc == MX_OK) rc = mx_lm_cache_import(c, l, &st, offset);
  }
  if (rc != MX_OK) {
    mx_lm_cache_free(c);
    mx_array_map_free(m);
    return NULL;
  }
  if (metadata) {
    /* user metadata: strip the "1." prefix */
    mx_array_map *md = mx_array_map_new();
    for (int i = 0; md && i < mx_array_map_meta_size(m); i++) {
      const char *key = mx_array_map_meta_key(m, i);
      if (!strncmp(key, "1.", 2))
        mx_array_map_set_meta(md, key + 2, mx_array_map_meta(m, key));
    }
    *metadata = md;
  }
  mx_array_map_free(m);
  return c;
}
