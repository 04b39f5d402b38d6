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

/* Resolve a model name: a local directory, or a Hugging Face repo id
 * ("org/name") found in the standard hub cache or, when allow_download and
 * HF_HUB_OFFLINE is unset, downloaded into it (HF_ENDPOINT, HF_TOKEN). Writes
 * the model directory to out. */
mx_status mx_hub_resolve(const char *name, bool allow_download, char *out, size_t cap);

typedef struct {
  /* Compute dtype for float weights: MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16, or
   * -1 to keep the checkpoint's dtype (default). */
  int dtype;
  /* An mlx-lm adapter directory (adapter_config.json +
   * adapters.safetensors: LoRA, DoRA or full fine-tune), or NULL. */
  const char *adapter_path;
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
  int kv_group_size;      /* default 64 */
  int quantized_kv_start; /* quantize once more tokens than this are cached */
} mx_lm_cache_options;

mx_lm_cache *mx_lm_cache_new(const mx_lm_model *m, const mx_lm_cache_options *opts);
void mx_lm_cache_free(mx_lm_cache *c);
/* tokens processed so far */
int mx_lm_cache_offset(const mx_lm_cache *c);
void mx_lm_cache_reset(mx_lm_cache *c);
/* Forget the last n tokens (standard caches only; speculative decoding
 * rewinds rejected drafts). Returns how many were trimmed. */
bool mx_lm_cache_can_trim(const mx_lm_cache *c);
int mx_lm_cache_trim(mx_lm_cache *c, int n);
/* Batched generation: sequence b of the batch starts after pad[b] padding
 * tokens, which attention ignores and positions do not count. Set on an
 * empty cache. */
mx_status mx_lm_cache_set_left_padding(mx_lm_cache *c, const int *pad, int batch);

/* ids (B, L) int32 -> logits (B, L, V). With a cache, positions continue
 * from the cache offset and the cache is updated (lazily: evaluate the
 * logits to commit it). cache may be NULL (full recompute from position 0).
 * The result belongs to the current scope. */
mx_array *mx_lm_forward(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache);
/* As mx_lm_forward, but the logits of the last `last` positions only
 * (B, last, V) when 0 < last < L (the head and final norm skip the other
 * rows; generation needs the last one). last <= 0 or >= L: all positions. */
mx_array *mx_lm_forward_last(mx_lm_model *m, mx_array *ids, mx_lm_cache *cache, int last);

/* Prompt cache files (mlx-lm's layout): save the cache with user metadata
 * (key/value strings), load it for a model. *metadata (if not NULL) gets a
 * map whose metadata holds the user keys (free with mx_array_map_free). */
mx_status mx_lm_cache_save(const mx_lm_cache *c, int nlayers, const char *path,
                           const char *const *meta_keys, const char *const *meta_values,
                           int nmeta);
mx_lm_cache *mx_lm_cache_load(const mx_lm_model *m, const char *path,
                              mx_array_map **metadata);

/* ---- sampling and generation (mlx-lm's samplers and logits processors) ----
 * Processors run first, in this order: logit_bias, repetition_penalty,
 * presence/frequency penalties. Then temp == 0 takes the argmax; otherwise
 * top_k, top_p, min_p and xtc filter the log-probabilities and a token is
 * drawn from softmax(logprobs / temp). */
typedef struct {
  float temp;             /* 0: greedy */
  float top_p;            /* 0 or 1: off */
  int top_k;              /* 0: off */
  float min_p;            /* 0: off */
  int min_tokens_to_keep; /* for min_p, default 1 */
  float xtc_probability, xtc_threshold;
  float repetition_penalty;                          /* 0 or 1: off */
  int repetition_context_size;                       /* default 20 */
  float presence_penalty, frequency_penalty;         /* 0: off */
  int presence_context_size, frequency_context_size; /* default 20 */
  const int32_t *logit_bias_ids;
  const float *logit_bias_values;
  int n_logit_bias;
  const int32_t *xtc_special_tokens; /* never removed by xtc */
  int n_xtc_special;
  uint64_t seed; /* sampler RNG seed */
} mx_lm_sampler_params;

void mx_lm_sampler_defaults(mx_lm_sampler_params *p);

typedef struct mx_lm_sampler mx_lm_sampler;
mx_lm_sampler *mx_lm_sampler_new(const mx_lm_sampler_params *p);
void mx_lm_sampler_free(mx_lm_sampler *s);
/* Sample one token from logits (V floats); `history` holds the tokens so far
 * (prompt and generated) for the penalties. If logprobs is non-NULL it
 * receives the full log-softmax of the processed logits (V floats). */
int32_t mx_lm_sampler_next(mx_lm_sampler *s, const float *logits, int V,
                           const int32_t *history, int nhistory, float *logprobs);

typedef struct {
  int32_t token;
  float logprob; /* of the chosen token */
  int n_top;     /* top alternatives */
  int32_t top_ids[20];
  float top_logprobs[20];
} mx_lm_token_info;

/* Return non-zero to stop generation. */
typedef int (*mx_lm_token_callback)(void *ctx, const mx_lm_token_info *t);

typedef struct {
  int max_tokens;         /* default 256 */
  int prefill_step_size;  /* default 2048 */
  const int32_t *eos_ids; /* stop tokens (generation_config's if NULL) */
  int n_eos;
  int top_logprobs; /* alternatives per token, 0..20 */
  mx_lm_sampler_params sampler;
} mx_lm_generate_params;

void mx_lm_generate_defaults(mx_lm_generate_params *p);

typedef struct {
  int prompt_tokens, generation_tokens;
  double prompt_tps, generation_tps;
  /* the allocator's peak during the call plus the model's weights that
   * are read in place from their files (mmapped): the weights count, as
   * in mlx_lm's figure */
  size_t peak_memory;
  int finish_reason; /* 0 stop (eos or callback), 1 length */
} mx_lm_generate_stats;

/* Token-level generation: process prompt (n ids) in chunks through the
 * cache (a fresh one if cache is NULL), then sample up to max_tokens, calling
 * cb for each generated token (eos tokens are not reported). */
mx_status mx_lm_generate_tokens(mx_lm_model *m, const int32_t *prompt, int n,
                                const mx_lm_generate_params *p, mx_lm_cache *cache,
                                mx_lm_token_callback cb, void *ctx,
                                mx_lm_generate_stats *stats);

/* ---- text generation (needs a tokenizer, mx/tokenizer.h) ---- */
struct mx_tokenizer;

/* Called once per generated token with the text it completed (possibly
 * empty; never half a UTF-8 character, never part of a stop string), and
 * once more with t == NULL for text flushed at the end. Return non-zero to
 * stop. */
typedef int (*mx_lm_text_callback)(void *ctx, const char *text, size_t len,
                                   const mx_lm_token_info *t);

typedef struct {
  mx_lm_generate_params gen; /* eos_ids NULL: tokenizer's + model's eos ids */
  const char *const *stop;   /* stop strings, not emitted */
  int n_stop;
  mx_lm_model *draft;   /* speculative decoding when not NULL */
  int num_draft_tokens; /* default 3 */
} mx_lm_text_params;

/* Generates from prompt ids; *out_text (malloc'd, may be NULL) receives the
 * whole text. stats->finish_reason: 0 stop (eos, stop string or callback),
 * 1 length. */
mx_status mx_lm_generate_text(mx_lm_model *m, const struct mx_tokenizer *tok,
                              const int32_t *prompt, int n, const mx_lm_text_params *p,
                              mx_lm_cache *cache, mx_lm_text_callback cb, void *ctx,
                              char **out_text, mx_lm_generate_stats *stats);

/* Speculative decoding: `draft` proposes num_draft tokens greedily, the
 * model verifies them in one forward and keeps the longest prefix that
 * matches its own choices, plus its own next token. With temp 0 the
 * output equals mx_lm_generate_tokens'; with sampling, each position is
 * sampled from the model's own distribution. */
mx_status mx_lm_generate_speculative(mx_lm_model *m, mx_lm_model *draft,
                                     const int32_t *prompt, int n,
                                     const mx_lm_generate_params *p, int num_draft,
                                     mx_lm_token_callback cb, void *ctx,
                                     mx_lm_generate_stats *stats);

/* Batched generation: called per sequence with each token, and once with
 * t == NULL when that sequence ends. */
typedef int (*mx_lm_batch_callback)(void *ctx, int seq, const mx_lm_token_info *t);
/* Several prompts decoded together (left-padded, masked); each sequence
 * gives the tokens it would give alone (greedy). */
mx_status mx_lm_generate_batch(mx_lm_model *m, const int32_t *const *prompts,
                               const int *lens, int B, const mx_lm_generate_params *p,
                               mx_lm_batch_callback cb, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
