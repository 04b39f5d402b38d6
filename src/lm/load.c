/* load.c: load a model directory: config.json, safetensors weights (single
 * file, sharded with model.safetensors.index.json, or model*.safetensors),
 * generation_config.json; bind tensors to the model structure by their
 * Hugging Face names, checking every shape; reject missing and unexpected
 * tensors by name. Float weights keep the checkpoint's dtype unless a compute
 * dtype is asked for; untouched tensors stay mmapped. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"

char *mx_lm_read_file(const char *path, size_t *len_out);

/* The page tables of a tensor's mapped data filled now, in one call per
 * tensor (MADV_POPULATE_READ, Linux 5.14+; elsewhere, or on failure,
 * nothing: the pages fault in on first use). Mapped lazily, the first
 * forward after a load took a page fault per 4 KiB of weights inside its
 * kernels: a 128-token bf16 prefill of the 0.4B shape ran at 556 tok/s the
 * first time and ~1020 after. llama.cpp populates its mapping at load too;
 * mlx-lm reads the weights into memory. */
static void prefault(mx_array *a) {
#if defined(__linux__) && defined(MADV_POPULATE_READ)
  const long psz = sysconf(_SC_PAGESIZE);
  const size_t n = mx_array_nbytes(a);
  const char *p = n ? mx_array_data(a) : NULL;
  if (!p || psz <= 0) return;
  const uintptr_t s = (uintptr_t)p & ~(uintptr_t)(psz - 1),
                  e = ((uintptr_t)p + n + (uintptr_t)psz - 1) & ~(uintptr_t)(psz - 1);
  (void)madvise((void *)s, e - s, MADV_POPULATE_READ);
#else
  (void)a;
#endif
}

static mx_status merge_file(mx_array_map *all, const char *path) {
  mx_array_map *m = mx_load_safetensors(path);
  if (!m) return mx_last_status() ? mx_last_status() : MX_ERR_IO;
  for (int i = 0; i < mx_array_map_size(m); i++) prefault(mx_array_map_at(m, i));
  mx_status rc = MX_OK;
  for (int i = 0; i < mx_array_map_size(m) && rc == MX_OK; i++) {
    const char *name = mx_array_map_name(m, i);
    if (mx_array_map_get(all, name))
      rc = mx_set_error(MX_ERR_IO,
                        "[lm_load] tensor %s appears in more than one file (%s)", name,
                        path);
    else
      rc = mx_array_map_set(all, name, mx_array_map_at(m, i));
  }
  mx_array_map_free(m);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static mx_status load_weights(const char *dir, mx_array_map *all) {
  char path[4200];
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
  size_t len;
  char *idx = mx_lm_read_file(path, &len);
  if (idx) {
    cJSON *j = cJSON_Parse(idx);
    free(idx);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    if (!cJSON_IsObject(wm)) {
      cJSON_Delete(j);
      return mx_set_error(MX_ERR_IO, "[lm_load] %s: no weight_map object", path);
    }
    /* unique shard names, in sorted order */
    int n = cJSON_GetArraySize(wm), nf = 0;
    const char **files = malloc((size_t)(n ? n : 1) * sizeof *files);
    if (!files) {
      cJSON_Delete(j);
      return mx_set_error(MX_ERR_NOMEM, "[lm_load] out of memory");
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
      if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
        free(files);
        cJSON_Delete(j);
        return mx_set_error(MX_ERR_IO, "[lm_load] %s: bad shard name for %s", path,
                            e->string ? e->string : "?");
      }
      bool seen = false;
      for (int i = 0; i < nf; i++) seen |= !strcmp(files[i], e->valuestring);
      if (!seen) files[nf++] = e->valuestring;
    }
    qsort(files, (size_t)nf, sizeof *files, cmp_str);
    mx_status rc = MX_OK;
    for (int i = 0; i < nf && rc == MX_OK; i++) {
      snprintf(path, sizeof path, "%s/%s", dir, files[i]);
      rc = merge_file(all, path);
    }
    /* every tensor the index names must be present */
    cJSON_ArrayForEach(e, wm) {
      if (rc == MX_OK && !mx_array_map_get(all, e->string))
        rc = mx_set_error(MX_ERR_IO,
                          "[lm_load] tensor %s listed in the index is missing from %s",
                          e->string, e->valuestring);
    }
    free(files);
    cJSON_Delete(j);
    return rc;
  }
  DIR *d = opendir(dir);
  if (!d)
    return mx_set_error(MX_ERR_IO, "[lm_load] cannot open %s: %s", dir, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l > 12 && !strcmp(de->d_name + l - 12, ".safetensors") &&
        !strncmp(de->d_name, "model", 5)) {
      if (n == cap) {
        cap = cap ? 2 * cap : 8;
        char **nn = realloc(names, (size_t)cap * sizeof *nn);
        if (!nn) break;
        names = nn;
      }
      names[n++] = strdup(de->d_name);
    }
  }
  closedir(d);
  mx_status rc = MX_OK;
  if (n == 0) rc = mx_set_error(MX_ERR_IO, "[lm_load] no model*.safetensors in %s", dir);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    if (rc == MX_OK) {
      snprintf(path, sizeof path, "%s/%s", dir, names[i]);
      rc = merge_file(all, path);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

/* ---- binding ---- */
typedef struct {
  mx_lm_model *m;
  bool *used;  /* per weights-map index */
  cJSON *qcfg; /* "quantization" block or NULL */
} binder;

static int map_index(const mx_array_map *map, const char *name) {
  for (int i = 0; i < mx_array_map_size(map); i++)
    if (!strcmp(mx_array_map_name(map, i), name)) return i;
  return -1;
}

static mx_array *take(binder *b, const char *name, bool required) {
  int i = map_index(b->m->weights, name);
  if (i < 0) {
    if (required)
      mx_set_error(MX_ERR_IO, "[lm_load] %s: missing tensor %s", b->m->path, name);
    return NULL;
  }
  b->used[i] = true;
  return mx_array_map_at(b->m->weights, i);
}

static bool check_shape(binder *b, const char *name, mx_array *a, int ndim,
                        const int *shape) {
  bool ok = mx_array_ndim(a) == ndim;
  for (int i = 0; ok && i < ndim; i++) ok = mx_array_shape(a)[i] == shape[i];
  if (!ok)
    mx_set_error(MX_ERR_IO, "[lm_load] %s: tensor %s has shape %s, expected %s",
                 b->m->path, name, mx_shape_str(mx_array_shape(a), mx_array_ndim(a)),
                 mx_shape_str(shape, ndim));
  return ok;
}

/* Cast a float tensor to the compute dtype and replace it in the map. */
static mx_array *to_compute(binder *b, const char *name, mx_array *a) {
  if (!a || !mx_dtype_is_floating(mx_array_dtype(a)) || mx_array_dtype(a) == b->m->dtype)
    return a;
  mx_scope_begin();
  mx_array *c = mx_astype(a, b->m->dtype);
  mx_status rc = c ? mx_eval1(c) : mx_last_status();
  if (rc == MX_OK) rc = mx_array_map_set(b->m->weights, name, c);
  mx_scope_end();
  return rc == MX_OK ? mx_array_map_get(b->m->weights, name) : NULL;
}

static void quant_params(binder *b, const char *prefix, int *bits, int *gs) {
  *bits = b->m->cfg.quant_bits ? b->m->cfg.quant_bits : 4;
  *gs = b->m->cfg.quant_group_size ? b->m->cfg.quant_group_size : 64;
  const cJSON *o = b->qcfg ? cJSON_GetObjectItemCaseSensitive(b->qcfg, prefix) : NULL;
  if (cJSON_IsObject(o)) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, "bits");
    if (cJSON_IsNumber(x)) *bits = x->valueint;
    x = cJSON_GetObjectItemCaseSensitive(o, "group_size");
    if (cJSON_IsNumber(x)) *gs = x->valueint;
  }
}

/* Bind `prefix`.weight (+ .bias, + .scales/.biases) as a (out, in) linear. */
static mx_status bind_linear(binder *b, const char *prefix, int out, int in, bool bias,
                             mx_lm_linear *l) {
  char name[512];
  memset(l, 0, sizeof *l);
  snprintf(name, sizeof name, "%s.weight", prefix);
  mx_array *w = take(b, name, true);
  if (!w) return MX_ERR_IO;
  snprintf(name, sizeof name, "%s.scales", prefix);
  mx_array *s = take(b, name, false);
  if (s) {
    int bits, gs;
    quant_params(b, prefix, &bits, &gs);
    /* MLX's formats: bits 2, 3, 4, 5, 6, 8; groups of 32, 64, 128 */
    if (bits < 2 || bits > 8 || bits == 7 || (gs != 32 && gs != 64 && gs != 128) ||
        in % gs)
      return mx_set_error(MX_ERR_IO,
                          "[lm_load] %s: bad quantization for %s (bits %d, group %d)",
                          b->m->path, prefix, bits, gs);
    int ws[2] = {out, in * bits / 32}, ss[2] = {out, in / gs};
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (mx_array_dtype(w) != MX_UINT32 || !check_shape(b, name, w, 2, ws))
      return mx_set_error(MX_ERR_IO,
                          "[lm_load] %s: quantized %s.weight must be uint32 %s",
                          b->m->path, prefix, mx_shape_str(ws, 2));
    snprintf(name, sizeof name, "%s.scales", prefix);
    if (!check_shape(b, name, s, 2, ss)) return MX_ERR_IO;
    s = to_compute(b, name, s);
    snprintf(name, sizeof name, "%s.biases", prefix);
    mx_array *qb = take(b, name, true);
    if (!qb || !check_shape(b, name, qb, 2, ss)) return MX_ERR_IO;
    qb = to_compute(b, name, qb);
    l->weight = w;
    l->scales = s;
    l->biases = qb;
    l->bits = bits;
    l->group_size = gs;
  } else {
    int ws[2] = {out, in};
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (!check_shape(b, name, w, 2, ws)) return MX_ERR_IO;
    l->weight = to_compute(b, name, w);
  }
  if (bias) {
    snprintf(name, sizeof name, "%s.bias", prefix);
    mx_array *bb = take(b, name, true);
    if (!bb || !check_shape(b, name, bb, 1, &out)) return MX_ERR_IO;
    l->bias = to_compute(b, name, bb);
  }
  return (l->weight && (!bias || l->bias)) ? MX_OK : mx_last_status();
}

static mx_status bind_vector(binder *b, const char *name, int n, mx_array **out) {
  mx_array *a = take(b, name, true);
  if (!a || !check_shape(b, name, a, 1, &n)) return MX_ERR_IO;
  *out = to_compute(b, name, a);
  return *out ? MX_OK : mx_last_status();
}

static mx_status bind_common(binder *b, const mx_lm_arch *arch) {
  const bool qkv_bias = arch->qkv_bias, qk_norm = arch->qk_norm;
  mx_lm_model *m = b->m;
  const mx_lm_config *c = &m->cfg;
  int D = c->hidden_size, H = c->num_heads, Hk = c->num_kv_heads, hd = c->head_dim;
  int I = c->intermediate_size, V = c->vocab_size;
  char p[256];
  mx_status rc = bind_linear(b, "model.embed_tokens", V, D, false, &m->embed);
  if (rc != MX_OK) return rc;
  rc = bind_vector(b, "model.norm.weight", D, &m->final_norm);
  if (rc != MX_OK) return rc;
  bool has_head = map_index(m->weights, "lm_head.weight") >= 0;
  m->cfg.tie_word_embeddings = c->tie_given ? c->tie_word_embeddings : !has_head;
  if (m->cfg.tie_word_embeddings && !has_head) {
    m->lm_head = m->embed;
  } else {
    rc = bind_linear(b, "lm_head", V, D, false, &m->lm_head);
    if (rc != MX_OK) return rc;
  }
  m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
  if (!m->layers) return mx_set_error(MX_ERR_NOMEM, "[lm_load] out of memory");
  for (int i = 0; i < c->num_layers && rc == MX_OK; i++) {
    mx_lm_layer *l = &m->layers[i];
    l->sliding = c->layer_sliding[i];
#define LIN(field, name, o, in, bias)                     \
  if (rc == MX_OK) {                                      \
    snprintf(p, sizeof p, "model.layers.%d.%s", i, name); \
    rc = bind_linear(b, p, o, in, bias, &l->field);       \
  }
    if (arch->fused_qkv) {
      LIN(qkv, "self_attn.qkv_proj", (H + 2 * Hk) * hd, D, qkv_bias || c->attention_bias);
    } else {
      LIN(q, "self_attn.q_proj", H * hd, D, qkv_bias || c->attention_bias);
      LIN(k, "self_attn.k_proj", Hk * hd, D, qkv_bias || c->attention_bias);
      LIN(v, "self_attn.v_proj", Hk * hd, D, qkv_bias || c->attention_bias);
    }
    LIN(o, "self_attn.o_proj", D, H * hd, c->attention_bias);
    if (arch->fused_gate_up) {
      LIN(gate_up, "mlp.gate_up_proj", 2 * I, D, c->mlp_bias);
    } else {
      LIN(gate, "mlp.gate_proj", I, D, c->mlp_bias);
      LIN(up, "mlp.up_proj", I, D, c->mlp_bias);
    }
    LIN(down, "mlp.down_proj", D, I, c->mlp_bias);
#undef LIN
    if (rc == MX_OK) {
      snprintf(p, sizeof p, "model.layers.%d.input_layernorm.weight", i);
      rc = bind_vector(b, p, D, &l->input_norm);
    }
    if (rc == MX_OK) {
      snprintf(p, sizeof p, "model.layers.%d.post_attention_layernorm.weight", i);
      rc = bind_vector(b, p, D, &l->post_attn_norm);
    }
    if (rc == MX_OK && qk_norm) {
      snprintf(p, sizeof p, "model.layers.%d.self_attn.q_norm.weight", i);
      rc = bind_vector(b, p, hd, &l->q_norm);
      if (rc == MX_OK) {
        snprintf(p, sizeof p, "model.layers.%d.self_attn.k_norm.weight", i);
        rc = bind_vector(b, p, hd, &l->k_norm);
      }
    }
  }
  return rc;
}

static bool ignorable(const char *name) {
  return strstr(name, "rotary_emb.inv_freq") != NULL;
}

static void read_generation_config(mx_lm_model *m) {
  char path[4200];
  snprintf(path, sizeof path, "%s/generation_config.json", m->path);
  char *txt = mx_lm_read_file(path, NULL);
  if (!txt) return;
  cJSON *j = cJSON_Parse(txt);
  free(txt);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return;
  }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "eos_token_id");
  if (cJSON_IsNumber(e) || cJSON_IsArray(e)) {
    m->cfg.n_eos = 0;
    if (cJSON_IsNumber(e))
      m->cfg.eos_ids[m->cfg.n_eos++] = e->valueint;
    else {
      const cJSON *x;
      cJSON_ArrayForEach(x, e) if (cJSON_IsNumber(x) && m->cfg.n_eos < MX_LM_MAX_EOS)
          m->cfg.eos_ids[m->cfg.n_eos++] = x->valueint;
    }
  }
  const cJSON *bos = cJSON_GetObjectItemCaseSensitive(j, "bos_token_id");
  if (cJSON_IsNumber(bos)) m->cfg.bos_id = bos->valueint;
  cJSON_Delete(j);
}

/* Bytes of the distinct file-mapped buffers behind the weights (tensors
 * cast to the compute dtype were replaced by allocator copies). */
static size_t mapped_bytes(const mx_array_map *w) {
  size_t n = 0;
  const int k = mx_array_map_size(w);
  for (int i = 0; i < k; i++) {
    const mx_array *a = mx_array_map_at(w, i);
    const mx_buffer *b = a ? a->buf : NULL;
    if (!b || !b->release) continue;
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) {
      const mx_array *o = mx_array_map_at(w, j);
      seen = o && o->buf == b;
    }
    if (!seen) n += b->nbytes;
  }
  return n;
}

mx_lm_model *mx_lm_load(const char *path, const mx_lm_load_options *opts) {
  if (!path) {
    mx_set_error(MX_ERR_INVALID, "[lm_load] path is NULL");
    return NULL;
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    mx_set_error(MX_ERR_IO, "[lm_load] %s is not a model directory", path);
    return NULL;
  }
  mx_lm_model *m = calloc(1, sizeof *m);
  if (!m) {
    mx_set_error(MX_ERR_NOMEM, "[lm_load] out of memory");
    return NULL;
  }
  snprintf(m->path, sizeof m->path, "%s", path);
  char cpath[4200];
  snprintf(cpath, sizeof cpath, "%s/config.json", path);
  char *txt = mx_lm_read_file(cpath, NULL);
  cJSON *json = NULL;
  bool *used = NULL;
  mx_status rc;
  if (!txt) {
    rc = mx_set_error(MX_ERR_IO, "[lm_load] cannot read %s", cpath);
    goto fail;
  }
  rc = mx_lm_config_parse(txt, cpath, &m->cfg, &json);
  free(txt);
  if (rc != MX_OK) goto fail;
  m->arch = mx_lm_find_arch(m->cfg.model_type);
  if (!m->arch) {
    rc =
        mx_set_error(MX_ERR_UNSUPPORTED, "[lm_load] %s: model_type '%s' is not supported",
                     cpath, m->cfg.model_type);
    goto fail;
  }
  if (m->arch->configure && (rc = m->arch->configure(&m->cfg, json)) != MX_OK) goto fail;
  read_generation_config(m);
  m->weights = mx_array_map_new();
  if (!m->weights) {
    rc = mx_last_status();
    goto fail;
  }
  rc = load_weights(path, m->weights);
  if (rc != MX_OK) goto fail;
  /* compute dtype: requested, else that of the embedding / first float */
  int want = opts ? opts->dtype : -1;
  if (want >= 0) {
    m->dtype = (mx_dtype)want;
  } else {
    mx_array *e = mx_array_map_get(m->weights, "model.embed_tokens.scales");
    if (!e) e = mx_array_map_get(m->weights, "model.embed_tokens.weight");
    m->dtype =
        e && mx_dtype_is_floating(mx_array_dtype(e)) ? mx_array_dtype(e) : MX_FLOAT32;
  }
  const char *adapter = opts ? opts->adapter_path : NULL;
  bool full = false;
  if (adapter && (rc = mx_lm_adapters_prepare(m, adapter, &full)) != MX_OK) goto fail;
  used = calloc((size_t)mx_array_map_size(m->weights) + 1, 1);
  if (!used) {
    rc = mx_set_error(MX_ERR_NOMEM, "[lm_load] out of memory");
    goto fail;
  }
  binder b = {m, used, NULL};
  b.qcfg = cJSON_GetObjectItemCaseSensitive(json, "quantization");
  if (!cJSON_IsObject(b.qcfg)) b.qcfg = NULL;
  rc = bind_common(&b, m->arch);
  if (rc != MX_OK) goto fail;
  for (int i = 0; i < mx_array_map_size(m->weights); i++)
    if (!used[i] && !ignorable(mx_array_map_name(m->weights, i))) {
      rc = mx_set_error(MX_ERR_IO, "[lm_load] %s: unexpected tensor %s", path,
                        mx_array_map_name(m->weights, i));
      goto fail;
    }
  if (adapter && !full && (rc = mx_lm_adapters_attach(m, adapter)) != MX_OK) goto fail;
  rc = mx_lm_rope_setup(m);
  if (rc != MX_OK) goto fail;
  m->mapped_bytes = mapped_bytes(m->weights);
  free(used);
  cJSON_Delete(json);
  return m;
fail:
  free(used);
  cJSON_Delete(json);
  mx_lm_free(m);
  (void)rc;
  return NULL;
}

void mx_lm_free(mx_lm_model *m) {
  if (!m) return;
  free(m->layers);
  mx_free(m->rope_freqs);
  mx_free(m->attn_mscale_vec);
  mx_array_map_free(m->adapters);
  mx_array_map_free(m->weights);
  free(m);
}

const char *mx_lm_model_type(const mx_lm_model *m) { return m ? m->cfg.model_type : ""; }
int mx_lm_vocab_size(const mx_lm_model *m) { return m ? m->cfg.vocab_size : 0; }
int mx_lm_num_layers(const mx_lm_model *m) { return m ? m->cfg.num_layers : 0; }
int mx_lm_eos_ids(const mx_lm_model *m, const int32_t **ids) {
  if (!m) return 0;
  *ids = (const int32_t *)m->cfg.eos_ids;
  return m->cfg.n_eos;
}
int mx_lm_bos_id(const mx_lm_model *m) { return m ? m->cfg.bos_id : -1; }
mx_dtype mx_lm_dtype(const mx_lm_model *m) { return m ? m->dtype : MX_FLOAT32; }
const char *mx_lm_path(const mx_lm_model *m) { return m ? m->path : ""; }

mx_array *mx_lm_forward(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache) {
  return mx_lm_forward_last(m, ids, cache, 0);
}

mx_array *mx_lm_forward_last(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache,
                             int last) {
  if (!m || !ids) {
    if (!mx_last_status()) mx_set_error(MX_ERR_INVALID, "[lm_forward] NULL model or ids");
    return NULL;
  }
  if (mx_array_ndim(ids) != 2 || !mx_dtype_is_integer(mx_array_dtype(ids))) {
    mx_set_error(MX_ERR_INVALID,
                 "[lm_forward] ids must be a (B, L) integer array, got %s %s",
                 mx_dtype_name(mx_array_dtype(ids)),
                 mx_shape_str(mx_array_shape(ids), mx_array_ndim(ids)));
    return NULL;
  }
  return m->arch->forward(m, ids, cache, last);
}
