/* cmd_cache_prompt.c: `mx cache-prompt`, mlx_lm.cache_prompt: run a prompt
 * through the model once and save the KV cache to a safetensors file, so
 * later `mx generate --prompt-cache-file` runs start from it. With a chat
 * template the prompt is rendered as a user message and cut before the end
 * of that message, so the generate-time prompt continues it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mx/ops.h>

#include "args.h"
#include "cli.h"
#include "common.h"

int mx_cli_cache_prompt(int argc, char **argv) {
  const char *model = NULL, *prompt_arg = NULL, *file = NULL, *chat_cfg = NULL,
             *adapter = NULL;
  int max_kv = 0, kv_bits = 0, kv_gs = 64, qkv_start = 5000;
  bool ignore_tmpl = false;
  bool int8_act = false;
  mx_arg opts[] = {
      {"--model", NULL, ARG_STR, &model, "model directory or Hugging Face repo"},
      {"--adapter-path", NULL, ARG_STR, &adapter,
       "mlx-lm adapter directory (LoRA, DoRA or full fine-tune)"},
      {"--prompt", "-p", ARG_STR, &prompt_arg, "prompt to cache ('-' reads stdin)"},
      {"--prompt-cache-file", NULL, ARG_STR, &file,
       "where to save the cache (.safetensors)"},
      {"--ignore-chat-template", NULL, ARG_BOOL, &ignore_tmpl, "use the raw prompt"},
      {"--int8-activations", NULL, ARG_BOOL, &int8_act,
       "4-/8-bit models: int8 activations, as llama.cpp (faster, not bit-exact)"},
      {"--chat-template-config", NULL, ARG_STR, &chat_cfg,
       "JSON object of extra template arguments"},
      {"--max-kv-size", NULL, ARG_INT, &max_kv, "rotating KV cache size"},
      {"--kv-bits", NULL, ARG_INT, &kv_bits, "quantize the KV cache to this many bits"},
      {"--kv-group-size", NULL, ARG_INT, &kv_gs,
       "KV quantization group size (default 64)"},
      {"--quantized-kv-start", NULL, ARG_INT, &qkv_start,
       "quantize from this many tokens (default 5000)"},
  };
  int prc = mx_args_parse("cache-prompt",
                          "Cache a prompt's KV state to a file (mlx_lm.cache_prompt).",
                          opts, (int)(sizeof opts / sizeof *opts), argc, argv);
  if (prc == 1) return 0;
  if (prc) return 2;
  if (int8_act) mx_cli_int8_activations("cache-prompt");
  if (kv_gs <= 0) { /* 0 would mean the default in mx_lm_cache_options */
    fprintf(stderr, "mx cache-prompt: --kv-group-size must be > 0, got %d\n", kv_gs);
    return 2;
  }
  if (!prompt_arg || !file) {
    fprintf(stderr, "mx cache-prompt: --prompt and --prompt-cache-file are required\n");
    return 2;
  }
  char dir[4096];
  if (mx_cli_resolve_model(model, dir, sizeof dir)) return 1;
  mx_lm_load_options lo = {.dtype = -1, .adapter_path = adapter};
  mx_lm_model *m = mx_lm_load(dir, &lo);
  mx_tokenizer *tok = m ? mx_tokenizer_load(dir) : NULL;
  mx_lm_cache_options co = {.max_kv_size = max_kv,
                            .kv_bits = kv_bits,
                            .kv_group_size = kv_gs,
                            .quantized_kv_start = qkv_start};
  mx_lm_cache *cache = tok ? mx_lm_cache_new(m, &co) : NULL;
  char *prompt = mx_cli_read_prompt(prompt_arg), *rendered = NULL, *msgs = NULL;
  int32_t *ids = NULL;
  int n = 0, rc = 1;
  if (!cache || !prompt) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
    goto done;
  }
  int tr = 2;
  if (!ignore_tmpl) {
    msgs = mx_cli_messages_json(NULL, prompt, NULL);
    tr = mx_cli_render_chat(tok, msgs, NULL, false, chat_cfg, &rendered);
    if (tr == 1) goto done;
    if (tr == 0) {
      size_t cut = mx_cli_template_user_suffix(tok, chat_cfg), len = strlen(rendered);
      rendered[len >= cut ? len - cut : 0] = 0;
    }
  }
  const char *text = tr == 0 ? rendered : prompt;
  if (mx_tokenizer_encode(tok, text, strlen(text), tr != 0, &ids, &n) != MX_OK ||
      n == 0) {
    fprintf(stderr, "mx: %s\n", n == 0 ? "the prompt is empty" : mx_last_error());
    goto done;
  }
  mx_lm_generate_params p;
  mx_lm_generate_defaults(&p);
  p.max_tokens = 0;
  if (mx_lm_generate_tokens(m, ids, n, &p, cache, NULL, NULL, NULL) != MX_OK) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
    goto done;
  }
  const char *tmpl = mx_tokenizer_chat_template(tok, NULL);
  const char *keys[3] = {"model", "chat_template", "tokenizer_config"};
  const char *vals[3] = {model ? model : dir, tmpl ? tmpl : "", "{}"};
  if (mx_lm_cache_save(cache, mx_lm_num_layers(m), file, keys, vals, 3) != MX_OK) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
    goto done;
  }
  fprintf(stderr, "Saved the KV cache of %d prompt tokens to %s\n", n, file);
  rc = 0;
done:
  free(ids);
  free(prompt);
  free(rendered);
  free(msgs);
  mx_lm_cache_free(cache);
  mx_tokenizer_free(tok);
  mx_lm_free(m);
  return rc;
}
