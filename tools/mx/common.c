/* common.c: what several subcommands share: finding the model (a directory,
 * a Hugging Face repo id, or the bundled default model), reading a prompt
 * argument ('-' = stdin), and building the chat prompt with the model's
 * template. */
#include "common.h"

#include "mx/ops.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#ifndef MX_DEFAULT_MODEL_DIR
#define MX_DEFAULT_MODEL_DIR "models/stories260K"
#endif

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int mx_cli_resolve_model(const char *name, char *out, size_t cap) {
  if (!name || !*name) {
    const char *env = getenv("MX_DEFAULT_MODEL");
    if (env && *env) name = env;
  }
  if (!name || !*name) {
    if (is_dir(MX_DEFAULT_MODEL_DIR)) {
      snprintf(out, cap, "%s", MX_DEFAULT_MODEL_DIR);
      return 0;
    }
    /* next to the binary: <exe>/../models/stories260K or <exe>/models/... */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = 0;
      char *slash = strrchr(exe, '/');
      if (slash) *slash = 0;
      const char *tries[] = {"%s/../models/stories260K", "%s/models/stories260K",
                             "%s/../share/mx/models/stories260K"};
      for (int i = 0; i < 3; i++) {
        snprintf(out, cap, tries[i], exe);
        if (is_dir(out)) return 0;
      }
    }
    fprintf(stderr,
            "mx: no --model given and the bundled default model was not found "
            "(set MX_DEFAULT_MODEL)\n");
    return 1;
  }
  if (mx_hub_resolve(name, true, out, cap) != MX_OK) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
    return 1;
  }
  return 0;
}

char *mx_cli_read_prompt(const char *arg) {
  if (!arg) return NULL;
  if (strcmp(arg, "-") != 0) return strdup(arg);
  size_t n = 0, cap = 4096;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  size_t got;
  while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
    n += got;
    if (n + 1 == cap) {
      if (cap > (256u << 20)) break;
      char *nb = realloc(buf, cap * 2);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
  }
  buf[n] = 0;
  return buf;
}

int mx_cli_check_sampler(const char *cmd, const mx_lm_sampler_params *p) {
  mx_lm_sampler *s = mx_lm_sampler_new(p);
  if (!s) {
    fprintf(stderr, "mx %s: %s\n", cmd, mx_last_error());
    return 2;
  }
  mx_lm_sampler_free(s);
  return 0;
}

void mx_cli_int8_activations(const char *cmd) {
  mx_set_int8_activations(true);
  if (!mx_int8_activations_supported())
    fprintf(stderr,
            "mx %s: --int8-activations: this CPU has no AVX512-VNNI int8 kernels; "
            "running the exact ones\n",
            cmd);
}

/* "1,2,3" or "[1, 2, 3]": non-negative ids separated by commas (spaces
 * allowed around them); an empty entry, a stray character or an id out of
 * int32 range is an error naming the place. */
int mx_cli_parse_ids(const char *s, int32_t **ids, int *n) {
  int cap = 16, k = 0;
  int32_t *v = malloc((size_t)cap * sizeof *v);
  if (!v) return 1;
  const char *p = s;
  while (*p == ' ') p++;
  const bool bracket = *p == '[';
  if (bracket) p++;
  for (;;) {
    while (*p == ' ') p++;
    char *end;
    errno = 0;
    long x = strtol(p, &end, 10);
    if (end == p || *p == '-' || *p == '+' || errno || x < 0 || x > 2147483647L) {
      if (*p)
        fprintf(stderr, "mx: bad token id list: expected an id at '%.20s'\n", p);
      else
        fprintf(stderr, "mx: bad token id list: expected an id at the end of '%.40s'\n",
                s);
      free(v);
      return 1;
    }
    if (k == cap) {
      cap *= 2;
      int32_t *nv = realloc(v, (size_t)cap * sizeof *nv);
      if (!nv) {
        free(v);
        return 1;
      }
      v = nv;
    }
    v[k++] = (int32_t)x;
    p = end;
    while (*p == ' ') p++;
    if (*p == ',') {
      p++;
      continue;
    }
    bool closed = false;
    if (bracket && *p == ']') {
      closed = true;
      p++;
      while (*p == ' ') p++;
    }
    if (*p || bracket != closed) {
      fprintf(stderr, "mx: bad token id list near '%.20s'\n", *p ? p : s);
      free(v);
      return 1;
    }
    break;
  }
  *ids = v;
  *n = k;
  return 0;
}

/* messages JSON for [system?, user, assistant-prefill?] */
char *mx_cli_messages_json(const char *system, const char *user, const char *prefill) {
  cJSON *arr = cJSON_CreateArray();
  if (system) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", system);
    cJSON_AddItemToArray(arr, m);
  }
  cJSON *u = cJSON_CreateObject();
  cJSON_AddStringToObject(u, "role", "user");
  cJSON_AddStringToObject(u, "content", user);
  cJSON_AddItemToArray(arr, u);
  if (prefill) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "role", "assistant");
    cJSON_AddStringToObject(a, "content", prefill);
    cJSON_AddItemToArray(arr, a);
  }
  char *s = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  return s;
}

int mx_cli_render_chat(const mx_tokenizer *tok, const char *messages_json,
                       const char *tools, bool add_generation_prompt,
                       const char *extra_json, char **out) {
  const char *tmpl = mx_tokenizer_chat_template(tok, NULL);
  if (!tmpl) return 2; /* no template */
  if (mx_chat_template_apply(tmpl, messages_json, tools, add_generation_prompt,
                             extra_json, mx_tokenizer_bos_token(tok),
                             mx_tokenizer_eos_token(tok), out) != MX_OK) {
    fprintf(stderr, "mx: %s\n", mx_last_error());
    return 1;
  }
  return 0;
}

static char *render_query(const mx_tokenizer *tok, const char *extra_json, bool agp) {
  char *msgs = mx_cli_messages_json(NULL, "<query>", NULL), *out = NULL;
  int r = mx_cli_render_chat(tok, msgs, NULL, agp, extra_json, &out);
  free(msgs);
  if (r != 0) {
    free(out);
    return NULL;
  }
  return out;
}

size_t mx_cli_template_user_offset(const mx_tokenizer *tok, const char *extra_json) {
  char *t = render_query(tok, extra_json, true);
  const char *q = t ? strstr(t, "<query>") : NULL;
  size_t off = q ? (size_t)(q - t) : 0;
  free(t);
  return off;
}

size_t mx_cli_template_user_suffix(const mx_tokenizer *tok, const char *extra_json) {
  char *t = render_query(tok, extra_json, false);
  const char *q = t ? strstr(t, "<query>") : NULL;
  size_t n = q ? strlen(q + 7) : 0;
  free(t);
  return n;
}

const char *mx_cli_prompt_cache_model(const char *path) {
  static char model[4096];
  mx_array_map *m = mx_load_safetensors(path);
  if (!m) return NULL;
  const char *v = mx_array_map_meta(m, "1.model");
  const char *r = NULL;
  if (v && *v) {
    snprintf(model, sizeof model, "%s", v);
    r = model;
  }
  mx_array_map_free(m);
  return r;
}
