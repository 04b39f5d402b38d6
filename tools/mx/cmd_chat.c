/* cmd_chat.c: `mx chat`, mlx_lm.chat: a REPL with line editing and history
 * (libedit when stdin is a terminal, plain lines otherwise), the KV cache
 * kept across turns so each turn only processes its new tokens. Commands:
 * q quits, r resets the conversation, h shows help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include <mx/ops.h>

#include "args.h"
#include "cli.h"
#include "common.h"

static void help(void) {
  printf(
      "The command list:\n- 'q' to exit\n- 'r' to reset the chat\n- 'h' to display these "
      "commands\n");
}

static char *read_line(bool tty) {
  if (tty) {
    char *l = readline(">> ");
    if (l && *l) add_history(l);
    return l;
  }
  printf(">> ");
  fflush(stdout);
  size_t cap = 0;
  char *l = NULL;
  ssize_t n = getline(&l, &cap, stdin);
  if (n < 0) {
    free(l);
    return NULL;
  }
  if (n > 0 && l[n - 1] == '\n') l[n - 1] = 0;
  return l;
}

static int print_text(void *ctx, const char *text, size_t len,
                      const mx_lm_token_info *t) {
  (void)ctx;
  (void)t;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 0;
}

int mx_cli_chat(int argc, char **argv) {
  const char *model = NULL, *system = NULL, *adapter = NULL;
  int max_tokens = 256, seed = -1, max_kv = 0;
  double temp = 0.0, top_p = 1.0;
  bool int8_act = false;
  mx_arg opts[] = {
      {"--model", NULL, ARG_STR, &model, "model directory or Hugging Face repo"},
      {"--adapter-path", NULL, ARG_STR, &adapter,
       "mlx-lm adapter directory (LoRA, DoRA or full fine-tune)"},
      {"--temp", NULL, ARG_FLOAT, &temp, "sampling temperature (default 0)"},
      {"--top-p", NULL, ARG_FLOAT, &top_p, "nucleus sampling mass (default 1)"},
      {"--seed", NULL, ARG_INT, &seed, "sampler seed"},
      {"--max-kv-size", NULL, ARG_INT, &max_kv, "rotating KV cache size"},
      {"--max-tokens", "-m", ARG_INT, &max_tokens,
       "maximum tokens per reply (default 256)"},
      {"--system-prompt", NULL, ARG_STR, &system, "system prompt"},
      {"--int8-activations", NULL, ARG_BOOL, &int8_act,
       "4-/8-bit models: int8 activations, as llama.cpp (faster, not bit-exact)"},
  };
  int prc = mx_args_parse("chat", "Chat with a language model (mlx_lm.chat).", opts,
                          (int)(sizeof opts / sizeof *opts), argc, argv);
  if (prc == 1) return 0;
  if (prc) return 2;
  if (int8_act) mx_cli_int8_activations("chat");
  if (max_tokens < 0) {
    fprintf(stderr, "mx chat: --max-tokens must be >= 0, got %d\n", max_tokens);
    return 2;
  }
  mx_lm_sampler_params sp; /* checked before the model loads */
  mx_lm_sampler_defaults(&sp);
  sp.temp = (float)temp;
  sp.top_p = (float)top_p;
  sp.seed = seed >= 0 ? (uint64_t)seed : 0;
  if (mx_cli_check_sampler("chat", &sp)) return 2;
  char dir[4096];
  if (mx_cli_resolve_model(model, dir, sizeof dir)) return 1;
  mx_lm_load_options lo = {.dtype = -1, .adapter_path = adapter};
  mx_lm_model *m = mx_lm_load(dir, &lo);
  mx_tokenizer *tok = m ? mx_tokenizer_load(dir) : NULL;
  mx_lm_cache_options co = {.max_kv_size = max_kv};
  mx_lm_cache *cache = tok ? mx_lm_cache_new(m, &co) : NULL;
  if (!cache) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
    mx_tokenizer_free(tok);
    mx_lm_free(m);
    return 1;
  }
  bool tty = isatty(0);
  printf("[INFO] Starting chat session with %s.\n", dir);
  help();
  bool first = true;
  int rc = 0;
  for (;;) {
    char *q = read_line(tty);
    if (!q || !strcmp(q, "q")) {
      free(q);
      break;
    }
    if (!strcmp(q, "r")) {
      mx_lm_cache_reset(cache);
      first = true;
      free(q);
      continue;
    }
    if (!strcmp(q, "h")) {
      help();
      free(q);
      continue;
    }
    char *msgs = mx_cli_messages_json(first ? system : NULL, q, NULL), *rendered = NULL;
    int32_t *ids = NULL;
    int n = 0;
    int tr = mx_cli_render_chat(tok, msgs, NULL, true, NULL, &rendered);
    mx_status st =
        tr == 1   ? MX_ERR_INVALID
        : tr == 0 ? mx_tokenizer_encode(tok, rendered, strlen(rendered), false, &ids, &n)
                  : mx_tokenizer_encode(tok, q, strlen(q), first, &ids, &n);
    if (st == MX_OK && n > 0) {
      mx_lm_text_params tp;
      memset(&tp, 0, sizeof tp);
      mx_lm_generate_defaults(&tp.gen);
      tp.gen.max_tokens = max_tokens;
      tp.gen.sampler = sp;
      st = mx_lm_generate_text(m, tok, ids, n, &tp, cache, print_text, NULL, NULL, NULL);
      printf("\n");
      first = false;
    }
    if (st != MX_OK) {
      fprintf(stderr, "mx: %s\n", mx_last_error());
      mx_clear_error();
    }
    free(ids);
    free(rendered);
    free(msgs);
    free(q);
  }
  mx_lm_cache_free(cache);
  mx_tokenizer_free(tok);
  mx_lm_free(m);
  return rc;
}
