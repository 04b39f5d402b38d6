/* cmd_tokens.c: `mx tokenize`, `mx detokenize` and `mx template`, for
 * scripting and tests. DIR may hold only tokenizer files (no weights).
 *   mx tokenize --model DIR [--no-special] [--prompt TEXT]  (else stdin)
 *        -> {"ids": [...]}
 *   mx detokenize --model DIR [--keep-special] < {"ids": [...]}  -> {"text": ...}
 *   mx template --model DIR --messages FILE [--tools FILE]
 *        [--add-generation-prompt] [--extra JSON]  -> the rendered prompt */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "args.h"
#include "cli.h"
#include "common.h"

static mx_tokenizer *load_tok(const char *model) {
  char dir[4096];
  if (mx_cli_resolve_model(model, dir, sizeof dir)) return NULL;
  mx_tokenizer *t = mx_tokenizer_load(dir);
  if (!t) fprintf(stderr, "mx: %s\n", mx_last_error());
  return t;
}

static char *read_file(const char *path) {
  if (!strcmp(path, "-")) return mx_cli_read_prompt("-");
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "mx: cannot read %s\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (b && fread(b, 1, (size_t)n, f) == (size_t)n)
    b[n] = 0;
  else {
    free(b);
    b = NULL;
    fprintf(stderr, "mx: cannot read %s\n", path);
  }
  fclose(f);
  return b;
}

int mx_cli_tokenize(int argc, char **argv) {
  const char *model = NULL, *prompt = NULL;
  bool no_special = false;
  mx_arg opts[] = {
      {"--model", NULL, ARG_STR, &model, "model or tokenizer directory"},
      {"--prompt", "-p", ARG_STR, &prompt, "text (default: stdin)"},
      {"--no-special", NULL, ARG_BOOL, &no_special, "add_special_tokens=False"},
  };
  int prc =
      mx_args_parse("tokenize", "Print the token ids of a text as {\"ids\": [...]}.",
                    opts, 3, argc, argv);
  if (prc == 1) return 0;
  if (prc) return 2;
  mx_tokenizer *tok = load_tok(model);
  if (!tok) return 1;
  char *text = mx_cli_read_prompt(prompt ? prompt : "-");
  int32_t *ids = NULL;
  int n = 0, rc = 1;
  if (text &&
      mx_tokenizer_encode(tok, text, strlen(text), !no_special, &ids, &n) == MX_OK) {
    printf("{\"ids\": [");
    for (int i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
    printf("]}\n");
    rc = 0;
  } else if (text) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
  }
  free(ids);
  free(text);
  mx_tokenizer_free(tok);
  return rc;
}

int mx_cli_detokenize(int argc, char **argv) {
  const char *model = NULL;
  bool keep_special = false;
  mx_arg opts[] = {
      {"--model", NULL, ARG_STR, &model, "model or tokenizer directory"},
      {"--keep-special", NULL, ARG_BOOL, &keep_special,
       "keep special tokens in the text"},
  };
  int prc = mx_args_parse("detokenize",
                          "Read {\"ids\": [...]} on stdin, print {\"text\": ...}.", opts,
                          2, argc, argv);
  if (prc == 1) return 0;
  if (prc) return 2;
  mx_tokenizer *tok = load_tok(model);
  if (!tok) return 1;
  char *in = mx_cli_read_prompt("-");
  cJSON *j = in ? cJSON_Parse(in) : NULL;
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "ids");
  int rc = 1;
  if (!cJSON_IsArray(arr)) {
    fprintf(stderr, "mx detokenize: expected {\"ids\": [...]} on stdin\n");
    rc = 2;
  } else {
    int n = cJSON_GetArraySize(arr), k = 0;
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    const cJSON *e;
    bool ok = ids != NULL;
    cJSON_ArrayForEach(e, arr) {
      if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 2147483647.0 ||
          e->valuedouble != (double)e->valueint)
        ok = false;
      else if (ids)
        ids[k++] = e->valueint;
    }
    char *text = NULL;
    size_t len = 0;
    if (!ok) {
      fprintf(stderr, "mx detokenize: ids must be non-negative integers\n");
      rc = 2;
    } else if (mx_tokenizer_decode(tok, ids, k, !keep_special, &text, &len) == MX_OK) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "text", text);
      char *s = cJSON_PrintUnformatted(o);
      printf("%s\n", s);
      free(s);
      cJSON_Delete(o);
      rc = 0;
    } else {
      fprintf(stderr, "mx: %s\n", mx_last_error());
    }
    free(text);
    free(ids);
  }
  cJSON_Delete(j);
  free(in);
  mx_tokenizer_free(tok);
  return rc;
}

int mx_cli_template(int argc, char **argv) {
  const char *model = NULL, *messages = NULL, *tools = NULL, *extra = NULL;
  bool agp = false;
  mx_arg opts[] = {
      {"--model", NULL, ARG_STR, &model, "model or tokenizer directory"},
      {"--messages", NULL, ARG_STR, &messages,
       "JSON file with the messages list ('-' = stdin)"},
      {"--tools", NULL, ARG_STR, &tools, "JSON file with the tools list"},
      {"--add-generation-prompt", NULL, ARG_BOOL, &agp, "end with the assistant prompt"},
      {"--extra", NULL, ARG_STR, &extra, "JSON object of extra template variables"},
  };
  int prc =
      mx_args_parse("template", "Render the model's chat template.", opts, 5, argc, argv);
  if (prc == 1) return 0;
  if (prc) return 2;
  if (!messages) {
    fprintf(stderr, "mx template: --messages FILE is required\n");
    return 2;
  }
  mx_tokenizer *tok = load_tok(model);
  if (!tok) return 1;
  char *msg = read_file(messages), *tl = tools ? read_file(tools) : NULL, *out = NULL;
  int rc = 1;
  if (msg && (!tools || tl)) {
    int r = mx_cli_render_chat(tok, msg, tl, agp, extra, &out);
    if (r == 0) {
      fputs(out, stdout);
      rc = 0;
    } else if (r == 2) {
      fprintf(stderr, "mx template: the model has no chat template\n");
    }
  }
  free(out);
  free(msg);
  free(tl);
  mx_tokenizer_free(tok);
  return rc;
}
