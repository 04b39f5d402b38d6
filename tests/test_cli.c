/* test_cli.c: the mx command line end to end, run as a user would (popen):
 * the default model's greedy story equals transformers' golden
 * continuation, --output json, tokenize/detokenize against sentencepiece's
 * reference ids, template against a reference render, cache-prompt +
 * generate equals an uninterrupted run, speculative decoding equals greedy,
 * chat over a pipe, and bad flags / bad files giving clear errors and exit
 * codes (2 usage, 1 runtime) without crashing. */
#include <cjson/cJSON.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *mx_bin(void) {
  const char *b = getenv("MX_BIN");
  return b ? b : "./mx";
}

/* Runs a shell command; returns its exit code and stdout (malloc'd). */
static int run(const char *cmd, char **out) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += got;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  buf[n] = 0;
  int st = pclose(p);
  if (out)
    *out = buf;
  else
    free(buf);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static cJSON *last_json_line(const char *out) {
  const char *last = out, *p = out;
  while ((p = strchr(p, '\n'))) {
    if (p[1]) last = p + 1;
    p++;
  }
  return cJSON_Parse(last);
}

static int json_ids(const cJSON *arr, int32_t *ids, int cap) {
  int n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) if (n < cap) ids[n++] = e->valueint;
  return n;
}

static void test_help_and_usage_errors(void) {
  char cmd[1024], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s --help", mx_bin());
  MXT_CHECK(run(cmd, &out) == 0 && strstr(out, "generate") && strstr(out, "cache-prompt"),
            "help lists commands");
  MXT_CHECK(out && strstr(out, "MX_NUM_THREADS") && strstr(out, "MX_CPU_ISA") &&
                strstr(out, "HF_HOME"),
            "help lists the environment variables");
  free(out);
  snprintf(cmd, sizeof cmd, "%s bogus 2>&1", mx_bin());
  MXT_CHECK(run(cmd, &out) == 2 && strstr(out, "unknown command"), "unknown command: %s",
            out);
  free(out);
  const char *bad[][2] = {
      {"generate --max-tokens abc", "expects an integer"},
      {"generate --temp", "needs a value"},
      {"generate --no-such-flag", "unknown option"},
      {"generate --output xml", "--output"},
      {"generate --top-logprobs 99", "--top-logprobs must be in [0, 20], got 99"},
      {"generate --max-tokens -1", "--max-tokens must be >= 0, got -1"},
      {"generate --temp -1", "temp must be >= 0, got -1"},
      {"generate --top-p 2", "top_p must be in [0, 1], got 2"},
      {"generate --repetition-penalty -1", "repetition_penalty must be >= 0"},
      {"chat --temp -1", "mx chat: [sampler] temp must be >= 0, got -1"},
      {"chat --max-tokens -2", "mx chat: --max-tokens must be >= 0, got -2"},
      {"generate --dtype int7", "--dtype"},
      {"generate --prompt-tokens 1,,2", "expected an id at ',2'"},
      {"generate --prompt-tokens 1,2,", "expected an id at the end"},
      {"generate --prompt-tokens [1,2", "bad token id list"},
      {"generate --prompt-tokens 1,-2", "expected an id at '-2'"},
      {"generate --kv-bits 4 --kv-group-size 0", "--kv-group-size must be > 0, got 0"},
      {"cache-prompt -p x --prompt-cache-file /tmp/x.safetensors --kv-group-size -1",
       "--kv-group-size must be > 0"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", mx_bin(), bad[i][0]);
    int rc = run(cmd, &out);
    MXT_CHECK(rc == 2 && strstr(out, bad[i][1]), "'%s' -> rc %d: %s", bad[i][0], rc, out);
    free(out);
  }
  const char *runtime[][2] = {
      {"generate --model /nonexistent/dir", "neither a model directory"},
      {"generate --prompt-tokens 1,99999", "out of range"},
      {"generate --max-kv-size -3", "max_kv_size"},
      {"generate --kv-bits 4 --kv-group-size 48", "kv_group_size must be 32, 64 or 128"},
      {"generate --prompt-cache-file /nonexistent.safetensors", "nonexistent"},
      {"tokenize --model /tmp", "tokenizer"},
  };
  for (size_t i = 0; i < sizeof runtime / sizeof *runtime; i++) {
    snprintf(cmd, sizeof cmd, "%s %s < /dev/null 2>&1", mx_bin(), runtime[i][0]);
    int rc = run(cmd, &out);
    MXT_CHECK(rc == 1 && strstr(out, runtime[i][1]), "'%s' -> rc %d: %s", runtime[i][0],
              rc, out);
    free(out);
  }
}

/* The bundled default model: greedy continuation of the golden prompt. */
static void test_default_model_golden(void) {
  mx_array_map *g = mx_load_safetensors(
      mxt_src_path("tests/fixtures/models/stories260K/golden.safetensors"));
  MXT_OK(g);
  if (!g) return;
  int32_t prompt[64], want[128];
  mx_array *gp = mx_array_map_get(g, "greedy_prompt"),
           *gt = mx_array_map_get(g, "greedy_tokens");
  int np = (int)mx_array_size(gp), nt = (int)mx_array_size(gt);
  mx_array_read(gp, MX_INT32, prompt, sizeof prompt);
  mx_array_read(gt, MX_INT32, want, sizeof want);
  char ids[1024] = "";
  size_t k = 0;
  for (int i = 0; i < np; i++)
    k += (size_t)snprintf(ids + k, sizeof ids - k, i ? ",%d" : "%d", prompt[i]);
  char cmd[2048], *out = NULL;
  /* by ids */
  snprintf(cmd, sizeof cmd, "%s generate --prompt-tokens %s -m %d --output json",
           mx_bin(), ids, nt);
  MXT_CHECK(run(cmd, &out) == 0, "generate ran: %s", out);
  cJSON *j = last_json_line(out);
  int32_t got[256];
  int ng = json_ids(cJSON_GetObjectItem(j, "tokens"), got, 256);
  MXT_CHECK(ng == nt, "got %d tokens (finish %s)", ng,
            cJSON_GetStringValue(cJSON_GetObjectItem(j, "finish_reason")));
  for (int i = 0; i < ng && i < nt; i++)
    if (got[i] != want[i]) {
      MXT_CHECK(0, "token %d: %d vs golden %d", i, got[i], want[i]);
      break;
    }
  cJSON_Delete(j);
  free(out);
  /* --int8-activations: a float model is unaffected (golden tokens); on a
   * CPU capped below the int8 kernels the CLI says it runs the exact ones */
  snprintf(cmd, sizeof cmd,
           "MX_CPU_ISA=avx2 %s generate --prompt-tokens %s -m %d --int8-activations "
           "--output json 2>&1",
           mx_bin(), ids, nt);
  MXT_CHECK(run(cmd, &out) == 0, "generate --int8-activations ran: %s", out);
  MXT_CHECK(strstr(out, "no AVX512-VNNI int8 kernels") != NULL, "int8 notice: %s", out);
  j = last_json_line(out);
  ng = json_ids(cJSON_GetObjectItem(j, "tokens"), got, 256);
  MXT_CHECK(ng == nt && memcmp(got, want, (size_t)nt * 4) == 0,
            "--int8-activations keeps a float model's golden tokens");
  cJSON_Delete(j);
  free(out);
  /* by text: the first golden prompt, tokenized by mx (no chat template for
   * this model) must give the same prompt ids and continuation */
  const char *meta = mx_array_map_meta(g, "prompts");
  cJSON *prompts = cJSON_Parse(meta ? meta : "[]");
  const char *p0 = cJSON_GetStringValue(cJSON_GetArrayItem(prompts, 0));
  MXT_CHECK(p0 != NULL, "golden prompt text");
  if (p0) {
    snprintf(cmd, sizeof cmd, "%s generate -p '%s' -m %d --output json", mx_bin(), p0,
             nt);
    MXT_CHECK(run(cmd, &out) == 0, "generate by text");
    j = last_json_line(out);
    ng = json_ids(cJSON_GetObjectItem(j, "tokens"), got, 256);
    MXT_CHECK(ng == nt && memcmp(got, want, (size_t)nt * 4) == 0,
              "text prompt continuation");
    MXT_CHECK(cJSON_GetObjectItem(j, "prompt_tokens")->valueint == np,
              "same prompt length");
    cJSON_Delete(j);
    free(out);
    /* the streamed story equals the JSON text */
    snprintf(cmd, sizeof cmd, "%s generate -p '%s' -m %d --output json", mx_bin(), p0,
             nt);
    run(cmd, &out);
    j = last_json_line(out);
    char *text = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(j, "text")));
    cJSON_Delete(j);
    free(out);
    snprintf(cmd, sizeof cmd, "%s generate -p '%s' -m %d", mx_bin(), p0, nt);
    MXT_CHECK(run(cmd, &out) == 0, "verbose run");
    MXT_CHECK(strstr(out, text) != NULL, "streamed text");
    MXT_CHECK(strstr(out, "Generation: ") && strstr(out, "tokens-per-sec") &&
                  strstr(out, "Peak memory"),
              "stats lines: %s", out);
    free(out);
    free(text);
  }
  cJSON_Delete(prompts);
  mx_array_map_free(g);
}

/* --prompt-tokens takes "1,2,3" and "[1, 2, 3]" (spaces around ids and
 * the brackets) as the same prompt */
static void test_prompt_token_forms(void) {
  const char *forms[3] = {"1,403,407", "[1, 403, 407]  ", " [ 1 ,403, 407 ]"};
  char *first = NULL;
  for (int i = 0; i < 3; i++) {
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s generate --prompt-tokens '%s' -m 6 --output json",
             mx_bin(), forms[i]);
    int rc = run(cmd, &out);
    const char *last = out ? strrchr(out, '{') : NULL;
    cJSON *j = last ? cJSON_Parse(last) : NULL;
    cJSON *pt = j ? cJSON_GetObjectItem(j, "prompt_tokens") : NULL;
    char *toks = j ? cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "tokens")) : NULL;
    MXT_CHECK(rc == 0 && cJSON_IsNumber(pt) && pt->valueint == 3 && toks,
              "'%s': rc %d: %s", forms[i], rc, out ? out : "");
    if (toks && !first)
      first = toks;
    else if (toks) {
      MXT_CHECK(!strcmp(first, toks), "'%s': tokens %s, not %s", forms[i], toks, first);
      free(toks);
    }
    cJSON_Delete(j);
    free(out);
  }
  free(first);
}

static void test_logprobs_json(void) {
  char cmd[1024], *out = NULL;
  snprintf(cmd, sizeof cmd,
           "%s generate --prompt-tokens 1,403,407 -m 5 --output json --top-logprobs 3",
           mx_bin());
  MXT_CHECK(run(cmd, &out) == 0, "ran");
  cJSON *j = last_json_line(out);
  cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
  MXT_CHECK(cJSON_GetArraySize(lp) == 5, "5 logprob entries");
  cJSON *e;
  cJSON_ArrayForEach(e, lp) {
    cJSON *top = cJSON_GetObjectItem(e, "top_logprobs");
    MXT_CHECK(cJSON_GetArraySize(top) == 3, "3 alternatives");
    double l0 = cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "logprob")->valuedouble;
    double l1 = cJSON_GetObjectItem(cJSON_GetArrayItem(top, 1), "logprob")->valuedouble;
    /* greedy: the chosen token is the top alternative */
    MXT_CHECK(cJSON_GetObjectItem(e, "token")->valueint ==
                  cJSON_GetObjectItem(cJSON_GetArrayItem(top, 0), "token")->valueint,
              "greedy token is top-1");
    MXT_CHECK(l0 >= l1 && l0 <= 0, "sorted log-probabilities");
  }
  cJSON_Delete(j);
  free(out);
}

static void test_tokenize_detokenize(void) {
  char *txt = NULL;
  FILE *f = fopen(mxt_src_path("tests/fixtures/models/stories260K/tokenizer_golden.json"),
                  "rb");
  MXT_CHECK(f != NULL, "golden file");
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  txt = malloc((size_t)n + 1);
  if (fread(txt, 1, (size_t)n, f) != (size_t)n) n = 0;
  txt[n] = 0;
  fclose(f);
  cJSON *g = cJSON_Parse(txt);
  free(txt);
  cJSON *cases = cJSON_GetObjectItem(g, "cases"), *c;
  int checked = 0;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", mxt_src_path("models/stories260K"));
  cJSON_ArrayForEach(c, cases) {
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
    if (!t || strchr(t, '\'') || checked >= 6) continue;
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s tokenize --model %s --no-special -p '%s'", mx_bin(),
             dir, t);
    MXT_CHECK(run(cmd, &out) == 0, "tokenize");
    cJSON *r = cJSON_Parse(out);
    int32_t got[512], want[512];
    int ng = json_ids(cJSON_GetObjectItem(r, "ids"), got, 512);
    int nw = json_ids(cJSON_GetObjectItem(c, "ids"), want, 512);
    MXT_CHECK(ng == nw && memcmp(got, want, (size_t)nw * 4) == 0, "ids of '%s'", t);
    cJSON_Delete(r);
    free(out);
    /* back to text */
    char ids[4096];
    size_t k = (size_t)snprintf(ids, sizeof ids, "{\"ids\": [");
    for (int i = 0; i < nw; i++)
      k += (size_t)snprintf(ids + k, sizeof ids - k, i ? ",%d" : "%d", want[i]);
    snprintf(ids + k, sizeof ids - k, "]}");
    snprintf(cmd, sizeof cmd, "echo '%s' | %s detokenize --model %s", ids, mx_bin(), dir);
    MXT_CHECK(run(cmd, &out) == 0, "detokenize");
    r = cJSON_Parse(out);
    const char *dec = cJSON_GetStringValue(cJSON_GetObjectItem(r, "text"));
    const char *wantd = cJSON_GetStringValue(cJSON_GetObjectItem(c, "decoded"));
    MXT_CHECK(dec && wantd && !strcmp(dec, wantd), "decoded '%s' vs '%s'",
              dec ? dec : "?", wantd);
    cJSON_Delete(r);
    free(out);
    checked++;
  }
  MXT_CHECK(checked >= 5, "checked %d cases", checked);
  cJSON_Delete(g);
  char cmd[1024], *out = NULL;
  snprintf(cmd, sizeof cmd, "echo '{\"ids\": [1, -4]}' | %s detokenize --model %s 2>&1",
           mx_bin(), dir);
  MXT_CHECK(run(cmd, &out) == 2 && strstr(out, "non-negative"), "bad ids: %s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "echo '{\"ids\": [1, 2.5]}' | %s detokenize --model %s 2>&1",
           mx_bin(), dir);
  MXT_CHECK(run(cmd, &out) == 2 && strstr(out, "integers"), "fractional id: %s", out);
  free(out);
  snprintf(cmd, sizeof cmd, "echo 'not json' | %s detokenize --model %s 2>&1", mx_bin(),
           dir);
  MXT_CHECK(run(cmd, &out) == 2, "not json");
  free(out);
}

/* template: a tokenizer-only directory with a published template */
static void test_template_cmd(void) {
  char dir[] = "/tmp/mx_cli_tmpl_XXXXXX";
  MXT_CHECK(mkdtemp(dir) != NULL, "tmp");
  char cmd[4096], *out = NULL;
  /* the vectors' _base template and messages; reference render in target */
  FILE *f = fopen(
      mxt_src_path("tests/fixtures/chat-templates/chat_template_e2e_vectors.json"), "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *txt = malloc((size_t)n + 1);
  if (fread(txt, 1, (size_t)n, f) != (size_t)n) n = 0;
  txt[n] = 0;
  fclose(f);
  cJSON *v = cJSON_Parse(txt);
  free(txt);
  cJSON *t =
      cJSON_GetObjectItem(cJSON_GetObjectItem(v, "custom_templates"),
                          "HuggingFaceH4/zephyr-7b-beta (add_generation_prompt=true)");
  MXT_CHECK(t != NULL, "vector present");
  if (t) {
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(
        cfg, "chat_template",
        cJSON_GetStringValue(cJSON_GetObjectItem(t, "chat_template")));
    cJSON_AddStringToObject(cfg, "bos_token", "<s>");
    cJSON_AddStringToObject(cfg, "eos_token", "</s>");
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "w");
    char *s = cJSON_Print(cfg);
    fputs(s, f);
    fclose(f);
    free(s);
    cJSON_Delete(cfg);
    snprintf(cmd, sizeof cmd, "cp %s %s/",
             mxt_src_path("models/stories260K/tokenizer.json"), dir);
    MXT_CHECK(system(cmd) == 0, "copy tokenizer");
    cJSON *data = cJSON_GetObjectItem(t, "data");
    snprintf(path, sizeof path, "%s/messages.json", dir);
    f = fopen(path, "w");
    s = cJSON_Print(cJSON_GetObjectItem(data, "messages"));
    fputs(s, f);
    fclose(f);
    free(s);
    bool agp = cJSON_IsTrue(cJSON_GetObjectItem(data, "add_generation_prompt"));
    snprintf(cmd, sizeof cmd, "%s template --model %s --messages %s %s", mx_bin(), dir,
             path, agp ? "--add-generation-prompt" : "");
    MXT_CHECK(run(cmd, &out) == 0, "template ran");
    const char *target = cJSON_GetStringValue(cJSON_GetObjectItem(t, "target"));
    MXT_CHECK(target && !strcmp(out, target), "render:\n%s\nwant:\n%s", out, target);
    free(out);
  }
  cJSON_Delete(v);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

static void test_prompt_cache_and_speculative(void) {
  char cmd[2048], *a = NULL, *b = NULL;
  char file[] = "/tmp/mx_cli_pc_XXXXXX";
  int fd = mkstemp(file);
  if (fd >= 0) close(fd);
  snprintf(cmd, sizeof cmd,
           "%s cache-prompt -p 'Once upon a time, there was' --prompt-cache-file %s 2>&1",
           mx_bin(), file);
  MXT_CHECK(run(cmd, &a) == 0, "cache-prompt: %s", a);
  free(a);
  /* continuing from the cache with the rest of the prompt (ids, so the
   * split does not depend on tokenization at the boundary) */
  snprintf(cmd, sizeof cmd, "%s tokenize --no-special -p ' a little girl'", mx_bin());
  run(cmd, &a);
  cJSON *j = cJSON_Parse(a);
  free(a);
  int32_t rest[64];
  int nr = json_ids(cJSON_GetObjectItem(j, "ids"), rest, 64);
  cJSON_Delete(j);
  char ids[512] = "";
  size_t k = 0;
  for (int i = 0; i < nr; i++)
    k += (size_t)snprintf(ids + k, sizeof ids - k, i ? ",%d" : "%d", rest[i]);
  snprintf(cmd, sizeof cmd,
           "%s generate --prompt-cache-file %s --prompt-tokens %s -m 24 --output json",
           mx_bin(), file, ids);
  MXT_CHECK(run(cmd, &a) == 0, "generate from cache: %s", a);
  snprintf(
      cmd, sizeof cmd,
      "%s generate -p 'Once upon a time, there was a little girl' -m 24 --output json",
      mx_bin());
  MXT_CHECK(run(cmd, &b) == 0, "uninterrupted");
  cJSON *ja = last_json_line(a), *jb = last_json_line(b);
  const char *ta = cJSON_GetStringValue(cJSON_GetObjectItem(ja, "text"));
  const char *tb = cJSON_GetStringValue(cJSON_GetObjectItem(jb, "text"));
  MXT_CHECK(ta && tb && !strcmp(ta, tb), "cached continuation '%s' vs '%s'", ta ? ta : "",
            tb ? tb : "");
  cJSON_Delete(ja);
  cJSON_Delete(jb);
  free(a);
  free(b);
  remove(file);
  /* speculative decoding with the model as its own draft equals greedy */
  snprintf(cmd, sizeof cmd, "%s generate -p 'One day' -m 40 --output json", mx_bin());
  run(cmd, &a);
  snprintf(cmd, sizeof cmd,
           "%s generate -p 'One day' -m 40 --output json --draft-model %s "
           "--num-draft-tokens 4",
           mx_bin(), mxt_src_path("models/stories260K"));
  MXT_CHECK(run(cmd, &b) == 0, "speculative ran");
  ja = last_json_line(a);
  jb = last_json_line(b);
  int32_t x[64], y[64];
  int nx = json_ids(cJSON_GetObjectItem(ja, "tokens"), x, 64),
      ny = json_ids(cJSON_GetObjectItem(jb, "tokens"), y, 64);
  MXT_CHECK(nx == ny && nx > 0 && !memcmp(x, y, (size_t)nx * 4),
            "speculative == greedy (%d vs %d)", nx, ny);
  cJSON_Delete(ja);
  cJSON_Delete(jb);
  free(a);
  free(b);
}

static void test_chat_pipe(void) {
  char cmd[1024], *out = NULL;
  snprintf(cmd, sizeof cmd,
           "printf 'h\\nOnce upon a time\\nr\\nq\\n' | %s chat -m 8 2>&1", mx_bin());
  MXT_CHECK(run(cmd, &out) == 0, "chat exits 0: %s", out);
  MXT_CHECK(strstr(out, "'q' to exit") && strstr(out, ">> "), "chat prompt and help: %s",
            out);
  free(out);
}

int main(void) {
  MXT_RUN(test_help_and_usage_errors);
  MXT_RUN(test_default_model_golden);
  MXT_RUN(test_prompt_token_forms);
  MXT_RUN(test_logprobs_json);
  MXT_RUN(test_tokenize_detokenize);
  MXT_RUN(test_template_cmd);
  MXT_RUN(test_prompt_cache_and_speculative);
  MXT_RUN(test_chat_pipe);
  return mxt_finish();
}
