/* cmd_generate.c: `mx generate`, mlx_lm.generate's flags: load a model,
 * build the prompt (chat template unless --ignore-chat-template or the model
 * has none), stream the text, and print mlx-lm's statistics lines. For
 * scripts: --prompt-tokens takes ids directly, --output json prints one JSON
 * object as the last line of stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <mx/ops.h>

#include "args.h"
#include "cli.h"
#include "common.h"

typedef struct {
  bool json;
  bool verbose;
  int top_logprobs;
  cJSON *logprobs;
  cJSON *tokens;
  const mx_tokenizer *tok;
} gen_out;

static void record_token(gen_out *o, const mx_lm_token_info *t) {
  cJSON_AddItemToArray(o->tokens, cJSON_CreateNumber(t->token));
  if (o->top_logprobs > 0) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "token", t->token);
    cJSON_AddNumberToObject(e, "logprob", t->logprob);
    cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
    for (int i = 0; i < t->n_top; i++) {
      cJSON *x = cJSON_CreateObject();
      cJSON_AddNumberToObject(x, "token", t->top_ids[i]);
      cJSON_AddNumberToObject(x, "logprob", t->top_logprobs[i]);
      cJSON_AddItemToArray(top, x);
    }
    cJSON_AddItemToArray(o->logprobs, e);
  }
}

static int on_text(void *ctx, const char *text, size_t len, const mx_lm_token_info *t) {
  gen_out *o = ctx;
  if (t) record_token(o, t);
  if (!o->json && o->verbose && len) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
  }
  return 0;
}

int mx_cli_generate(int argc, char **argv) {
  const char *model = NULL, *prompt_arg = "hello", *system = NULL, *prefill = NULL;
  const char *prompt_tokens = NULL, *output = "text", *chat_cfg = NULL, *adapter = NULL;
  const char *prompt_cache = NULL, *draft = NULL, *verbose_s = "true", *dtype_s = NULL;
  int max_tokens = 100, top_k = 0, min_keep = 1, seed = -1, max_kv = 0, kv_bits = 0,
      kv_gs = 64, qkv_start = 5000, num_draft = 3, top_logprobs = 0, rep_ctx = 20;
  double temp = 0.0, top_p = 1.0, min_p = 0.0, xtc_p = 0.0, xtc_t = 0.0, rep_pen = 0.0;
  bool ignore_tmpl = false;
  mx_strlist extra_eos = {0};
  bool int8_act = false;
  mx_arg opts[] = {
      {"--model", NULL, ARG_STR, &model,
       "model directory or Hugging Face repo (default: bundled stories260K)"},
      {"--adapter-path", NULL, ARG_STR, &adapter,
       "mlx-lm adapter directory (LoRA, DoRA or full fine-tune)"},
      {"--prompt", "-p", ARG_STR, &prompt_arg,
       "prompt text ('-' reads stdin; default 'hello')"},
      {"--prompt-tokens", NULL, ARG_STR, &prompt_tokens,
       "prompt as comma-separated token ids (no template)"},
      {"--system-prompt", NULL, ARG_STR, &system, "system prompt for the chat template"},
      {"--prefill-response", NULL, ARG_STR, &prefill, "start of the assistant's reply"},
      {"--max-tokens", "-m", ARG_INT, &max_tokens,
       "maximum tokens to generate (default 100)"},
      {"--temp", NULL, ARG_FLOAT, &temp, "sampling temperature (default 0: greedy)"},
      {"--top-p", NULL, ARG_FLOAT, &top_p, "nucleus sampling mass (default 1: off)"},
      {"--top-k", NULL, ARG_INT, &top_k,
       "keep the k most likely tokens (default 0: off)"},
      {"--min-p", NULL, ARG_FLOAT, &min_p, "min-p sampling (default 0: off)"},
      {"--min-tokens-to-keep", NULL, ARG_INT, &min_keep,
       "tokens min-p always keeps (default 1)"},
      {"--xtc-probability", NULL, ARG_FLOAT, &xtc_p,
       "probability of an XTC step (default 0)"},
      {"--xtc-threshold", NULL, ARG_FLOAT, &xtc_t,
       "XTC probability threshold (default 0)"},
      {"--repetition-penalty", NULL, ARG_FLOAT, &rep_pen,
       "penalty for repeated tokens (default off)"},
      {"--repetition-context-size", NULL, ARG_INT, &rep_ctx,
       "tokens the penalty looks back (default 20)"},
      {"--seed", NULL, ARG_INT, &seed, "sampler seed"},
      {"--ignore-chat-template", NULL, ARG_BOOL, &ignore_tmpl, "use the raw prompt"},
      {"--chat-template-config", NULL, ARG_STR, &chat_cfg,
       "JSON object of extra template arguments"},
      {"--extra-eos-token", NULL, ARG_STRLIST, &extra_eos,
       "more tokens that end generation"},
      {"--max-kv-size", NULL, ARG_INT, &max_kv, "rotating KV cache size"},
      {"--kv-bits", NULL, ARG_INT, &kv_bits, "quantize the KV cache to this many bits"},
      {"--kv-group-size", NULL, ARG_INT, &kv_gs,
       "KV cache quantization group size (default 64)"},
      {"--quantized-kv-start", NULL, ARG_INT, &qkv_start,
       "quantize the cache from this step (default 5000)"},
      {"--prompt-cache-file", NULL, ARG_STR, &prompt_cache,
       "prompt cache file from 'mx cache-prompt'"},
      {"--draft-model", NULL, ARG_STR, &draft, "draft model for speculative decoding"},
      {"--num-draft-tokens", NULL, ARG_INT, &num_draft,
       "draft tokens per step (default 3)"},
      {"--verbose", NULL, ARG_STR, &verbose_s,
       "stream text and print statistics (true/false, default true)"},
      {"--output", NULL, ARG_STR, &output, "text (default) or json"},
      {"--top-logprobs", NULL, ARG_INT, &top_logprobs,
       "with --output json: alternatives per token (0-20)"},
      {"--dtype", NULL, ARG_STR, &dtype_s, "compute dtype: float32, bfloat16 or float16"},
      {"--int8-activations", NULL, ARG_BOOL, &int8_act,
       "4-/8-bit models: int8 activations, as llama.cpp (faster, not bit-exact)"},
  };
  int nopts = (int)(sizeof opts / sizeof *opts);
  int prc =
      mx_args_parse("generate", "Generate text with a language model (mlx_lm.generate).",
                    opts, nopts, argc, argv);
  if (prc == 1) return 0;
  if (prc) return 2;
  if (int8_act) mx_cli_int8_activations("generate");
  bool json = !strcmp(output, "json");
  if (!json && strcmp(output, "text")) {
    fprintf(stderr, "mx generate: --output must be text or json\n");
    return 2;
  }
  bool verbose = !(strcasecmp(verbose_s, "false") == 0 || !strcmp(verbose_s, "0") ||
                   strcasecmp(verbose_s, "no") == 0);
  if (max_tokens < 0) {
    fprintf(stderr, "mx generate: --max-tokens must be >= 0, got %d\n", max_tokens);
    return 2;
  }
  if (top_logprobs < 0 || top_logprobs > 20) {
    fprintf(stderr, "mx generate: --top-logprobs must be in [0, 20], got %d\n",
            top_logprobs);
    return 2;
  }
  mx_lm_sampler_params sp; /* checked before the model loads */
  mx_lm_sampler_defaults(&sp);
  sp.temp = (float)temp;
  sp.top_p = (float)top_p;
  sp.top_k = top_k;
  sp.min_p = (float)min_p;
  sp.min_tokens_to_keep = min_keep;
  sp.xtc_probability = (float)xtc_p;
  sp.xtc_threshold = (float)xtc_t;
  sp.repetition_penalty = (float)rep_pen;
  sp.repetition_context_size = rep_ctx;
  sp.seed = seed >= 0 ? (uint64_t)seed : 0;
  if (mx_cli_check_sampler("generate", &sp)) return 2;
  if (kv_gs <= 0) { /* 0 would mean the default in mx_lm_cache_options */
    fprintf(stderr, "mx generate: --kv-group-size must be > 0, got %d\n", kv_gs);
    return 2;
  }
  mx_lm_load_options lo = {.dtype = -1, .adapter_path = adapter};
  if (dtype_s) {
    mx_dtype dt;
    if (!mx_dtype_from_name(dtype_s, &dt) || !mx_dtype_is_floating(dt)) {
      fprintf(stderr, "mx generate: bad --dtype '%s'\n", dtype_s);
      return 2;
    }
    lo.dtype = dt;
  }
  int32_t *ids = NULL;
  int n = 0;
  /* a bad id list is a flag error: found before the model loads */
  if (prompt_tokens && mx_cli_parse_ids(prompt_tokens, &ids, &n)) return 2;
  char dir[4096];
  if (!model && prompt_cache) model = mx_cli_prompt_cache_model(prompt_cache);
  const bool found = mx_cli_resolve_model(model, dir, sizeof dir) == 0; /* else said */
  mx_lm_model *m = found ? mx_lm_load(dir, &lo) : NULL;
  mx_tokenizer *tok = m ? mx_tokenizer_load(dir) : NULL;
  if (!tok) {
    if (found) fprintf(stderr, "mx: %s\n", mx_last_error());
    mx_lm_free(m);
    free(ids);
    return 1;
  }
  int rc = 1;
  mx_lm_model *dm = NULL;
  mx_lm_cache *cache = NULL;
  char *prompt = NULL, *rendered = NULL, *messages = NULL, *text = NULL;
  int32_t eos[72];
  int ne = 0;
  gen_out o = {
      .json = json, .verbose = verbose, .top_logprobs = top_logprobs, .tok = tok};
  o.tokens = cJSON_CreateArray();
  o.logprobs = cJSON_CreateArray();
  if (draft) {
    char ddir[4096];
    if (mx_cli_resolve_model(draft, ddir, sizeof ddir)) goto done;
    mx_lm_load_options dlo = lo;
    dlo.adapter_path = NULL; /* the adapter belongs to the main model */
    dm = mx_lm_load(ddir, &dlo);
    if (!dm) {
      fprintf(stderr, "mx: %s\n", mx_last_error());
      goto done;
    }
  }
  if (prompt_cache) {
    cache = mx_lm_cache_load(m, prompt_cache, NULL);
    if (!cache) {
      fprintf(stderr, "mx: %s\n", mx_last_error());
      goto done;
    }
  } else if (max_kv != 0 || kv_bits != 0) { /* the cache rejects bad values */
    mx_lm_cache_options co = {.max_kv_size = max_kv,
                              .kv_bits = kv_bits,
                              .kv_group_size = kv_gs,
                              .quantized_kv_start = qkv_start};
    cache = mx_lm_cache_new(m, &co);
    if (!cache) {
      fprintf(stderr, "mx: %s\n", mx_last_error());
      goto done;
    }
  }
  if (!prompt_tokens) { /* (ids were parsed before the load) */
    prompt = mx_cli_read_prompt(prompt_arg);
    if (!prompt) goto done;
    int tr = 2;
    if (!ignore_tmpl) {
      messages = mx_cli_messages_json(system, prompt, prefill);
      tr = mx_cli_render_chat(tok, messages, NULL, prefill == NULL, chat_cfg, &rendered);
      if (tr == 1) goto done;
    }
    const char *text_in = tr == 0 ? rendered : prompt;
    if (tr == 0 && cache && prompt_cache) {
      /* the cache holds the template's prefix and the cached prompt: keep
       * from where the user content starts (mlx_lm's <query> rule) */
      size_t off = mx_cli_template_user_offset(tok, chat_cfg);
      text_in = strlen(rendered) >= off ? rendered + off : rendered;
    }
    mx_status st = mx_tokenizer_encode(tok, text_in, strlen(text_in),
                                       tr != 0 && !prompt_cache, &ids, &n);
    if (st != MX_OK) {
      fprintf(stderr, "mx: %s\n", mx_last_error());
      goto done;
    }
  }
  if (n == 0) {
    fprintf(stderr, "mx generate: the prompt is empty\n");
    rc = 2;
    goto done;
  }
  mx_lm_text_params tp;
  memset(&tp, 0, sizeof tp);
  mx_lm_generate_defaults(&tp.gen);
  tp.gen.max_tokens = max_tokens;
  tp.gen.top_logprobs = top_logprobs;
  tp.gen.sampler = sp;
  /* eos: model + tokenizer + --extra-eos-token */
  const int32_t *meos;
  int nm = mx_lm_eos_ids(m, &meos);
  for (int i = 0; i < nm && ne < 64; i++) eos[ne++] = meos[i];
  if (mx_tokenizer_eos_id(tok) >= 0) eos[ne++] = mx_tokenizer_eos_id(tok);
  for (int i = 0; i < extra_eos.n && ne < 72; i++) {
    int32_t id = mx_tokenizer_token_to_id(tok, extra_eos.items[i]);
    if (id < 0) {
      fprintf(stderr, "mx generate: --extra-eos-token '%s' is not a token\n",
              extra_eos.items[i]);
      rc = 2;
      goto done;
    }
    eos[ne++] = id;
  }
  tp.gen.eos_ids = eos;
  tp.gen.n_eos = ne;
  if (verbose && !json) printf("==========\n");
  mx_lm_generate_stats stats;
  tp.draft = dm;
  tp.num_draft_tokens = num_draft;
  mx_status st =
      mx_lm_generate_text(m, tok, ids, n, &tp, cache, on_text, &o, &text, &stats);
  if (st != MX_OK) {
    fprintf(stderr, "\nmx: %s\n", mx_last_error());
    goto done;
  }
  if (json) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "tokens", o.tokens);
    o.tokens = NULL;
    cJSON_AddStringToObject(r, "text", text ? text : "");
    cJSON_AddStringToObject(r, "finish_reason",
                            stats.finish_reason == 1 ? "length" : "stop");
    if (top_logprobs > 0) {
      cJSON_AddItemToObject(r, "logprobs", o.logprobs);
      o.logprobs = NULL;
    }
    cJSON_AddNumberToObject(r, "prompt_tokens", stats.prompt_tokens);
    cJSON_AddNumberToObject(r, "generation_tokens", stats.generation_tokens);
    char *s = cJSON_PrintUnformatted(r);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(r);
  } else if (verbose) {
    printf("\n==========\n");
    printf("Prompt: %d tokens, %.3f tokens-per-sec\n", stats.prompt_tokens,
           stats.prompt_tps);
    printf("Generation: %d tokens, %.3f tokens-per-sec\n", stats.generation_tokens,
           stats.generation_tps);
    printf("Peak memory: %.3f GB\n", stats.peak_memory / 1e9);
  } else {
    printf("%s\n", text ? text : "");
  }
  rc = 0;
done:
  cJSON_Delete(o.tokens);
  cJSON_Delete(o.logprobs);
  free(ids);
  free(prompt);
  free(rendered);
  free(messages);
  free(text);
  mx_lm_cache_free(cache);
  mx_lm_free(dm);
  mx_tokenizer_free(tok);
  mx_lm_free(m);
  return rc;
}
