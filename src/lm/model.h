/* model.h: internal structure of a loaded language model: the parsed
 * config, resolved weights (linear layers float or MLX-quantized), the
 * architecture descriptor that one file per family provides, and the shared
 * building blocks (blocks.c) the families are written with. */
#ifndef MX_LM_MODEL_H
#define MX_LM_MODEL_H

#include <cjson/cJSON.h>

#include "../core/core.h"
#include "mx/lm.h"

#define MX_LM_MAX_EOS 8

typedef enum {
  MX_ROPE_DEFAULT,
  MX_ROPE_LINEAR,
  MX_ROPE_DYNAMIC,
  MX_ROPE_LLAMA3,
  MX_ROPE_YARN,
  MX_ROPE_LONGROPE
} mx_rope_type;

typedef struct {
  mx_rope_type type;
  double theta;
  double factor;
  double low_freq_factor, high_freq_factor;
  int original_max_position_embeddings;
  double beta_fast, beta_slow, mscale, mscale_all_dim;
  double attention_factor; /* yarn/longrope; 0 = derive */
  /* longrope: per-frequency divisors of the inverse frequencies (mlx-lm
   * uses long_factor at every length) and an optional explicit scale */
  float long_factor[256], short_factor[256];
  int n_long_factor, n_short_factor;
  double long_mscale;
  double partial_rotary_factor;
  bool traditional;
} mx_rope_config;

typedef struct {
  char model_type[64];
  int hidden_size, num_layers, num_heads, num_kv_heads, head_dim;
  int intermediate_size, vocab_size, max_position_embeddings;
  double rms_norm_eps;
  mx_rope_config rope;
  bool tie_word_embeddings; /* resolved at load */
  bool tie_given;           /* config said so explicitly */
  bool attention_bias, mlp_bias;
  int sliding_window;               /* 0 = none */
  bool layer_sliding[256];          /* per-layer: uses the sliding window */
  int quant_group_size, quant_bits; /* 0 = not quantized */
  int bos_id;
  int eos_ids[MX_LM_MAX_EOS];
  int n_eos;
} mx_lm_config;

/* A linear layer: y = x @ W.T (+ b). Quantized when scales != NULL. */
typedef struct {
  mx_array *weight;          /* (out, in) float, or (out, in*bits/32) uint32 */
  mx_array *scales, *biases; /* (out, in/group) when quantized */
  mx_array *bias;            /* (out,) or NULL */
  int bits, group_size;
  /* adapter (adapters.c): + scale * (x @ lora_a) @ lora_b; DoRA multiplies
   * the output before the bias by dora_scale (out,) */
  mx_array *lora_a, *lora_b, *dora_scale; /* (in, r), (r, out) */
  float lora_scale;
} mx_lm_linear;

typedef struct {
  mx_array *input_norm, *post_attn_norm;
  mx_lm_linear q, k, v, o;
  mx_lm_linear qkv;          /* phi3: q, k, v as one (H+2Hk)*hd-row linear */
  mx_array *q_norm, *k_norm; /* qwen3: RMSNorm over head_dim */
  mx_lm_linear gate, up, down;
  mx_lm_linear gate_up; /* phi3: gate then up as one 2I-row linear */
  bool sliding;
} mx_lm_layer;

typedef struct mx_lm_arch mx_lm_arch;

struct mx_lm_model {
  mx_lm_config cfg;
  const mx_lm_arch *arch;
  mx_array_map *weights;  /* owns every tensor */
  mx_array_map *adapters; /* LoRA/DoRA tensors (adapters.c) or NULL */
  mx_lm_linear embed;     /* (V, D) float or quantized */
  mx_lm_linear lm_head;   /* tied: same arrays as embed */
  mx_array *final_norm;
  mx_lm_layer *layers;
  mx_array *rope_freqs;      /* (dims/2,) float32 or NULL */
  float rope_scale;          /* position scale for fast.rope */
  float attn_mscale;         /* yarn/longrope: q/k multiplier (1 if none) */
  mx_array *attn_mscale_vec; /* (head_dim,): the multiplier on rotated dims only */
  int rope_dims;
  mx_dtype dtype;
  /* bytes of the weights read in place from the files (mapped, not
   * allocated): generation statistics add them to the allocator's peak */
  size_t mapped_bytes;
  char path[4096];
};

/* One per family (models/<family>.c). */
struct mx_lm_arch {
  const char *model_type;
  /* adjust config after generic parsing (defaults of the family) */
  mx_status (*configure)(mx_lm_config *cfg, const cJSON *json);
  bool qkv_bias;                 /* q/k/v projections always have biases (qwen2) */
  bool qk_norm;                  /* RMSNorm on q and k per head before rope (qwen3) */
  bool fused_qkv, fused_gate_up; /* phi3: self_attn.qkv_proj, mlp.gate_up_proj */
  /* logits for ids (B, L): (B, L, V), or (B, last, V) for the last `last`
   * positions only when 0 < last < L */
  mx_array *(*forward)(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache, int last);
};

const mx_lm_arch *mx_lm_find_arch(const char *model_type);

/* adapters.c: an mlx-lm adapter directory. prepare runs before binding
 * (full fine-tunes replace checkpoint tensors; *full tells which kind),
 * attach after it (LoRA/DoRA layers). */
mx_status mx_lm_adapters_prepare(mx_lm_model *m, const char *dir, bool *full);
mx_status mx_lm_adapters_attach(mx_lm_model *m, const char *dir);

/* config.c */
mx_status mx_lm_config_parse(const char *json_text, const char *path, mx_lm_config *cfg,
                             cJSON **json_out);
/* Inverse frequencies / scale for the rope config (rope.c). */
mx_status mx_lm_rope_setup(mx_lm_model *m);

/* blocks.c: shared building blocks */
mx_array *mx_lm_linear_apply(const mx_lm_linear *l, mx_array *x);
mx_array *mx_lm_embed(const mx_lm_linear *e, mx_array *ids);
mx_array *mx_lm_rope(mx_lm_model *m, mx_array *x, int offset);
mx_array *mx_lm_silu(mx_array *x);
mx_array *mx_lm_swiglu_mlp(const mx_lm_layer *l, mx_array *x);
/* Standard decoder attention with GQA, optional q/k norms, rope and cache. */
/* Masks built during one forward, shared by the layers (at most two
 * windows: full and sliding). Zero-initialise per forward. */
typedef struct {
  int n;
  int window[2];
  mx_array *mask[2];
} mx_lm_masks;
mx_array *mx_lm_attention(mx_lm_model *m, int layer, mx_array *x, mx_lm_cache *cache,
                          mx_lm_masks *masks);
/* A llama-style decoder (pre-norm, residuals, final norm, head). */
mx_array *mx_lm_decoder_forward(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache,
                                int last);

/* cache.c internals */
/* Append k, v (B, Hkv, L, D) to layer's cache; returns the full keys and
 * values to attend to (borrowed into the current scope) and the mask mode. */
mx_status mx_lm_cache_update(mx_lm_cache *c, int layer, mx_array *k, mx_array *v,
                             mx_array **keys, mx_array **values);
/* Offset before the current forward's tokens (valid during forward). */
int mx_lm_cache_pos(const mx_lm_cache *c);
void mx_lm_cache_advance(mx_lm_cache *c, int n);
bool mx_lm_cache_rotating(const mx_lm_cache *c);
/* One layer's stored state, for prompt cache files (prompt_cache.c). */
typedef struct {
  mx_array *keys, *values; /* standard: filled prefix; rotating: the ring */
  mx_array *kq[3], *vq[3]; /* quantized: weight, scales, biases */
  int idx;                 /* rotating: next write slot */
  int group_size, bits;    /* quantized */
} mx_lm_layer_state;
/* Arrays returned belong to the current scope. cls: KVCache,
 * RotatingKVCache or QuantizedKVCache. */
mx_status mx_lm_cache_export(const mx_lm_cache *c, int layer, mx_lm_layer_state *st,
                             const char **cls, int *offset);
mx_status mx_lm_cache_import(mx_lm_cache *c, int layer, const mx_lm_layer_state *st,
                             int offset);
const int *mx_lm_cache_left_padding(const mx_lm_cache *c, int *batch);
int mx_lm_cache_max_size(const mx_lm_cache *c);
int mx_lm_cache_keep(const mx_lm_cache *c);

/* (sample.c, for tests) the tokens that survive s's penalties and filters
 * (top_k, top_p, min_p, XTC) for these logits, in index order, into out (V
 * entries); returns their number, or -1 with the error set. Draws the XTC
 * coin from s's generator as a sample would. */
int mx_lm_sampler_survivors(mx_lm_sampler *s, const float *logits, int V,
                            const int32_t *history, int nhistory, int32_t *out);

/* (generate.c) ti's top alternatives: the k (<= 20) largest of lp (V),
 * value descending, ties by index */
void mx_lm_fill_top(mx_lm_token_info *ti, const float *lp, int V, int k);

#endif
