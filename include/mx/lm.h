/* mx/lm.h: language models (mlx-lm in C): load a Hugging Face or
 * mlx-community model directory, run the forward pass with a KV cache, and
 * generate text.
 *
 * Layout conventions: token ids (B, L) int32; logits (B, L, V) in the
 * model's compute dtype; keys/values in the cache (B, H_kv, T, D). */
#ifndef MX_LM_H
#define MX_LM_H

#include "array.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mx_lm_model mx_lm_model;
typedef struct mx_lm_cache mx_lm_cache;

typedef struct {
  /* Compute dtype for float weights: MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16, or
   * -1 to keep the checkpoint's dtype (default). */
  int dtype;
} mx_lm_load_options;

/* path: a model directory (config.json + safetensors). Errors name the file
 * or tensor ("[lm_load] missing tensor model.norm.weight"). */
mx_lm_model *mx_lm_load(const char *path, const mx_lm_load_options *opts);
void mx_lm_free(mx_lm_model *m);

const char *mx_lm_model_type(const mx_lm_model *m);
int mx_lm_vocab_size(const mx_lm_model *m);
int mx_lm_num_layers(const mx_lm_model *m);
/* eos ids from generation_config.json / config.json (may be several) */
int mx_lm_eos_ids(const mx_lm_model *m, const int32_t **ids);
int mx_lm_bos_id(const mx_lm_model *m); /* -1 if none */
mx_dtype mx_lm_dtype(const mx_lm_model *m);
const char *mx_lm_path(const mx_lm_model *m);

/* ---- caches ----
 * Standard cache: grows in steps of 256 positions.
 * max_kv_size > 0: rotating cache keeping the first `keep` tokens and the
 * last max_kv_size - keep.
 * kv_bits > 0: quantized cache (kv_bits, kv_group_size). */
typedef struct {
  int max_kv_size;
  int keep;
  int kv_bits;
  int kv_group_size;
} mx_lm_cache_options;

mx_lm_cache *mx_lm_cache_new(const mx_lm_model *m, const mx_lm_cache_options *opts);
void mx_lm_cache_free(mx_lm_cache *c);
/* tokens processed so far */
int mx_lm_cache_offset(const mx_lm_cache *c);
void mx_lm_cache_reset(mx_lm_cache *c);

/* ids (B, L) int32 -> logits (B, L, V). With a cache, positions continue
 * from the cache offset and the cache is updated (lazily: evaluate the
 * logits to commit it). cache may be NULL (full recompute from position 0).
 * The result belongs to the current scope. */
mx_array *mx_lm_forward(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache);

#ifdef __cplusplus
}
#endif
#endif
