/* adapters.c: mlx-lm adapter directories (`--adapter-path`), as written by
 * `mlx_lm.lora`: adapter_config.json plus adapters.safetensors.
 *
 * - fine_tune_type "lora" (the default): each adapted linear has
 *   `<name>.lora_a` (in, r) and `<name>.lora_b` (r, out); the layer computes
 *   y = W x + b + (scale * (x A) B) cast to x's dtype (mlx-lm's LoRALinear).
 * - "dora": the same plus the magnitude `<name>.m` (out,); the output before
 *   the bias is multiplied by m / ||W + scale B^T A^T|| (row norms), which
 *   is computed once here (mlx-lm's DoRALinear; m defaults to ||W||).
 * - "full": the file holds replacement tensors under the model's own names
 *   (same shapes); they replace the checkpoint's before binding.
 * Which layers are adapted is what the file holds (mlx-lm's num_layers and
 * keys only decide what training created). Adapted embeddings
 * (LoRAEmbedding) are reported as unsupported. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

char *mx_lm_read_file(const char *path, size_t *len_out);

typedef enum { ADAPT_LORA, ADAPT_DORA, ADAPT_FULL } adapt_type;

typedef struct {
  adapt_type type;
  double scale;
} adapt_cfg;

static mx_status read_config(const char *dir, adapt_cfg *c) {
  char path[4200];
  snprintf(path, sizeof path, "%s/adapter_config.json", dir);
  char *txt = mx_lm_read_file(path, NULL);
  if (!txt) return mx_set_error(MX_ERR_IO, "[lm_adapters] cannot read %s", path);
  cJSON *j = cJSON_Parse(txt);
  free(txt);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return mx_set_error(MX_ERR_IO, "[lm_adapters] %s: not a JSON object", path);
  }
  mx_status rc = MX_OK;
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "fine_tune_type");
  const char *type = cJSON_IsString(t) ? t->valuestring : "lora";
  c->type = !strcmp(type, "lora")   ? ADAPT_LORA
            : !strcmp(type, "dora") ? ADAPT_DORA
                                    : ADAPT_FULL;
  if (c->type == ADAPT_FULL && strcmp(type, "full") != 0)
    rc = mx_set_error(MX_ERR_UNSUPPORTED, "[lm_adapters] %s: unknown fine_tune_type '%s'",
                      path, type);
  c->scale = 20.0; /* mlx-lm's default */
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "lora_parameters");
  const cJSON *s =
      cJSON_IsObject(p) ? cJSON_GetObjectItemCaseSensitive(p, "scale") : NULL;
  if (s && !cJSON_IsNumber(s))
    rc = mx_set_error(MX_ERR_IO,
                      "[lm_adapters] %s: lora_parameters.scale is not a number", path);
  if (cJSON_IsNumber(s)) c->scale = s->valuedouble;
  cJSON_Delete(j);
  return rc;
}

static mx_array_map *read_tensors(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/adapters.safetensors", dir);
  mx_array_map *a = mx_load_safetensors(path);
  if (!a) {
    const char *why = mx_last_error();
    char msg[512];
    snprintf(msg, sizeof msg, "%s", why ? why : "");
    mx_set_error(MX_ERR_IO, "[lm_adapters] cannot load %s: %s", path, msg);
  }
  return a;
}

static bool ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

/* The linear layer an adapter name prefix refers to, or NULL. */
static mx_lm_linear *find_linear(mx_lm_model *m, const char *prefix) {
  static const struct {
    const char *name;
    size_t off;
  } k_fields[] = {
      {"self_attn.q_proj", offsetof(mx_lm_layer, q)},
      {"self_attn.k_proj", offsetof(mx_lm_layer, k)},
      {"self_attn.v_proj", offsetof(mx_lm_layer, v)},
      {"self_attn.o_proj", offsetof(mx_lm_layer, o)},
      {"self_attn.qkv_proj", offsetof(mx_lm_layer, qkv)},
      {"mlp.gate_proj", offsetof(mx_lm_layer, gate)},
      {"mlp.up_proj", offsetof(mx_lm_layer, up)},
      {"mlp.down_proj", offsetof(mx_lm_layer, down)},
      {"mlp.gate_up_proj", offsetof(mx_lm_layer, gate_up)},
  };
  if (!strcmp(prefix, "lm_head")) return m->cfg.tie_word_embeddings ? NULL : &m->lm_head;
  int li = -1, used = 0;
  if (sscanf(prefix, "model.layers.%d.%n", &li, &used) != 1 || used == 0 || li < 0 ||
      li >= m->cfg.num_layers)
    return NULL;
  for (size_t i = 0; i < sizeof k_fields / sizeof *k_fields; i++)
    if (!strcmp(prefix + used, k_fields[i].name)) {
      mx_lm_linear *l =
          (mx_lm_linear *)(void *)((char *)&m->layers[li] + k_fields[i].off);
      return l->weight ? l : NULL;
    }
  return NULL;
}

static int lin_in(const mx_lm_linear *l) {
  int c = mx_array_dim(l->weight, 1);
  return l->scales ? c * 32 / l->bits : c;
}

/* W as float32 (dequantized when quantized): (out, in) */
static mx_array *weight_f32(const mx_lm_linear *l) {
  mx_array *w =
      l->scales ? mx_dequantize(l->weight, l->scales, l->biases, l->group_size, l->bits)
                : l->weight;
  return mx_astype(w, MX_FLOAT32);
}

/* DoRA's output multiplier m / ||W + scale B^T A^T|| per output row, in the
 * compute dtype, evaluated once. */
static mx_array *dora_scale(const mx_lm_linear *l, mx_array *mag, mx_dtype dt) {
  mx_array *w = weight_f32(l);
  mx_array *bt = mx_transpose(mx_astype(l->lora_b, MX_FLOAT32), NULL, 0);  // (out, r)
  mx_array *at = mx_transpose(mx_astype(l->lora_a, MX_FLOAT32), NULL, 0);  // (r, in)
  mx_array *adapted =
      mx_add(w, mx_matmul(mx_multiply(bt, mx_scalar_like(bt, l->lora_scale)), at));
  int ax = 1;
  mx_array *norm = mx_sqrt(mx_sum(mx_square(adapted), &ax, 1, false));  // (out,)
  if (!mag) mag = mx_sqrt(mx_sum(mx_square(w), &ax, 1, false));
  mx_array *s = mx_astype(mx_divide(mx_astype(mag, MX_FLOAT32), norm), dt);
  return s && mx_eval1(s) == MX_OK ? s : NULL;
}

static mx_status attach(mx_lm_model *m, mx_array_map *ad, const adapt_cfg *cfg,
                        const char *dir) {
  char name[600];
  /* the file's tensors; DoRA scales computed below are appended after them */
  const int n0 = mx_array_map_size(ad);
  for (int i = 0; i < n0; i++) {
    const char *n = mx_array_map_name(ad, i);
    bool is_a = ends_with(n, ".lora_a"), is_b = ends_with(n, ".lora_b"),
         is_m = cfg->type == ADAPT_DORA && ends_with(n, ".m");
    if (!is_a && !is_b && !is_m)
      return mx_set_error(MX_ERR_IO, "[lm_adapters] %s: unexpected tensor %s", dir, n);
    if (!is_a) continue; /* lora_b and m are taken with their lora_a */
    size_t plen = strlen(n) - strlen(".lora_a");
    char prefix[512];
    if (plen >= sizeof prefix)
      return mx_set_error(MX_ERR_IO, "[lm_adapters] %s: tensor name too long", dir);
    memcpy(prefix, n, plen);
    prefix[plen] = 0;
    if (!strcmp(prefix, "model.embed_tokens"))
      return mx_set_error(MX_ERR_UNSUPPORTED,
                          "[lm_adapters] %s: adapters on the embedding are not supported",
                          dir);
    mx_lm_linear *l = find_linear(m, prefix);
    if (!l)
      return mx_set_error(MX_ERR_IO,
                          "[lm_adapters] %s: %s is not a linear layer of this %s "
                          "model",
                          dir, prefix, m->cfg.model_type);
    snprintf(name, sizeof name, "%s.lora_b", prefix);
    mx_array *a = mx_array_map_at(ad, i), *b = mx_array_map_get(ad, name);
    if (!b)
      return mx_set_error(MX_ERR_IO, "[lm_adapters] %s: missing tensor %s", dir, name);
    int in = lin_in(l), out = mx_array_dim(l->weight, 0);
    bool ok = mx_array_ndim(a) == 2 && mx_array_ndim(b) == 2 &&
              mx_array_dim(a, 0) == in && mx_array_dim(b, 1) == out &&
              mx_array_dim(a, 1) == mx_array_dim(b, 0) &&
              mx_dtype_is_floating(mx_array_dtype(a)) &&
              mx_dtype_is_floating(mx_array_dtype(b));
    if (!ok)
      return mx_set_error(
          MX_ERR_IO,
          "[lm_adapters] %s: %s.lora_a %s and .lora_b %s do not fit a (%d -> %d) linear "
          "(want float (%d, r) and (r, %d))",
          dir, prefix, mx_shape_str(mx_array_shape(a), mx_array_ndim(a)),
          mx_shape_str(mx_array_shape(b), mx_array_ndim(b)), in, out, in, out);
    l->lora_a = a;
    l->lora_b = b;
    l->lora_scale = (float)cfg->scale;
    if (cfg->type != ADAPT_DORA) continue;
    snprintf(name, sizeof name, "%s.m", prefix);
    mx_array *mag = mx_array_map_get(ad, name);
    if (mag && (mx_array_ndim(mag) != 1 || mx_array_dim(mag, 0) != out))
      return mx_set_error(MX_ERR_IO, "[lm_adapters] %s: %s has shape %s, expected (%d)",
                          dir, name,
                          mx_shape_str(mx_array_shape(mag), mx_array_ndim(mag)), out);
    mx_scope_begin();
    mx_array *s = dora_scale(l, mag, m->dtype);
    snprintf(name, sizeof name, "%s.dora_scale", prefix);
    mx_status rc = s ? mx_array_map_set(ad, name, s) : mx_last_status();
    mx_scope_end();
    if (rc != MX_OK) return rc;
    l->dora_scale = mx_array_map_get(ad, name);
  }
  /* every lora_b / m must have had its lora_a */
  for (int i = 0; i < n0; i++) {
    const char *n = mx_array_map_name(ad, i);
    if (!ends_with(n, ".lora_b") && !(cfg->type == ADAPT_DORA && ends_with(n, ".m")))
      continue;
    size_t plen = strlen(n) - (ends_with(n, ".m") ? 2 : strlen(".lora_b"));
    snprintf(name, sizeof name, "%.*s.lora_a", (int)plen, n);
    if (!mx_array_map_get(ad, name))
      return mx_set_error(MX_ERR_IO, "[lm_adapters] %s: missing tensor %s", dir, name);
  }
  return MX_OK;
}

mx_status mx_lm_adapters_prepare(mx_lm_model *m, const char *dir, bool *full) {
  adapt_cfg cfg;
  mx_status rc = read_config(dir, &cfg);
  if (rc != MX_OK) return rc;
  *full = cfg.type == ADAPT_FULL;
  if (!*full) return MX_OK;
  mx_array_map *ad = read_tensors(dir);
  if (!ad) return mx_last_status();
  for (int i = 0; i < mx_array_map_size(ad) && rc == MX_OK; i++) {
    const char *n = mx_array_map_name(ad, i);
    mx_array *old = mx_array_map_get(m->weights, n), *a = mx_array_map_at(ad, i);
    if (!old) {
      rc = mx_set_error(MX_ERR_IO, "[lm_adapters] %s: tensor %s is not in the model", dir,
                        n);
    } else if (mx_array_ndim(old) != mx_array_ndim(a) ||
               memcmp(mx_array_shape(old), mx_array_shape(a),
                      sizeof(int) * (size_t)mx_array_ndim(a)) != 0) {
      rc = mx_set_error(MX_ERR_IO,
                        "[lm_adapters] %s: tensor %s has shape %s, the model's %s", dir,
                        n, mx_shape_str(mx_array_shape(a), mx_array_ndim(a)),
                        mx_shape_str(mx_array_shape(old), mx_array_ndim(old)));
    } else {
      rc = mx_array_map_set(m->weights, n, a);
    }
  }
  mx_array_map_free(ad);
  return rc;
}

mx_status mx_lm_adapters_attach(mx_lm_model *m, const char *dir) {
  adapt_cfg cfg;
  mx_status rc = read_config(dir, &cfg);
  if (rc != MX_OK || cfg.type == ADAPT_FULL) return rc;
  mx_array_map *ad = read_tensors(dir);
  if (!ad) return mx_last_status();
  m->adapters = ad;
  return attach(m, ad, &cfg, dir);
}
