/* test_adapters.c: mlx-lm adapter directories (--adapter-path). A model
 * with a LoRA / DoRA / full-fine-tune adapter must give the logits of the
 * same model whose weights were fused with the adapter by float64 loops in
 * this test (W + scale * (A B)^T; DoRA: rows rescaled to m / ||W'||), on
 * float and 4-bit quantized bases; bad adapters give errors naming the
 * tensor or file. */
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mx/lm.h"

#define BASE "tests/fixtures/models/tiny-qwen2"
#define RANK 4

static const char *k_targets[] = {"model.layers.0.self_attn.q_proj",
                                  "model.layers.1.self_attn.v_proj",
                                  "model.layers.1.mlp.down_proj"};
#define NT 3

static bool write_text(const char *dir, const char *name, const char *text) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (!f) return false;
  bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

static const char *g_base = BASE; /* the model the adapters are made for */

/* config.json of the base, optionally with a "quantization" block */
static bool write_config(const char *dir, bool quantized) {
  char p[1024], out[1024];
  snprintf(p, sizeof p, "%s/config.json", g_base);
  cJSON *j = mxt_read_json(mxt_src_path(p));
  if (!j) return false;
  if (quantized) {
    cJSON *q = cJSON_AddObjectToObject(j, "quantization");
    cJSON_AddNumberToObject(q, "group_size", 32);
    cJSON_AddNumberToObject(q, "bits", 4);
  }
  snprintf(out, sizeof out, "%s/config.json", dir);
  bool ok = mxt_write_json(out, j);
  cJSON_Delete(j);
  return ok;
}

static bool is_proj(const char *name) {
  size_t n = strlen(name);
  return strstr(name, "model.layers.") == name && n > 12 &&
         !strcmp(name + n - 12, "_proj.weight");
}

/* The base as a model directory: float (as shipped) or every projection
 * 4-bit quantized (group 32). Returns the weights as the model will see
 * them, dequantized to float32 (the fusing reference starts from these). */
static mx_array_map *make_base(const char *dir, bool quantized) {
  char p[1024];
  snprintf(p, sizeof p, "%s/model.safetensors", g_base);
  mx_array_map *w = mx_load_safetensors(mxt_src_path(p));
  mx_array_map *out = mx_array_map_new(), *ref = mx_array_map_new();
  if (!w || !out || !ref || !write_config(dir, quantized)) return NULL;
  for (int i = 0; i < mx_array_map_size(w); i++) {
    const char *n = mx_array_map_name(w, i);
    mx_array *a = mx_astype(mx_array_map_at(w, i), MX_FLOAT32);
    if (quantized && is_proj(n)) {
      mx_array *q[3];
      if (mx_quantize(a, 32, 4, &q[0], &q[1], &q[2]) != MX_OK) return NULL;
      char nm[512];
      size_t pl = strlen(n) - strlen(".weight");
      mx_array_map_set(out, n, q[0]);
      snprintf(nm, sizeof nm, "%.*s.scales", (int)pl, n);
      mx_array_map_set(out, nm, q[1]);
      snprintf(nm, sizeof nm, "%.*s.biases", (int)pl, n);
      mx_array_map_set(out, nm, q[2]);
      a = mx_dequantize(q[0], q[1], q[2], 32, 4);
    } else {
      mx_array_map_set(out, n, mx_array_map_at(w, i));
    }
    mx_array_map_set(ref, n, a);
  }
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  mx_status rc = mx_save_safetensors(p, out);
  mx_array_map_free(out);
  mx_array_map_free(w);
  if (rc != MX_OK) {
    mx_array_map_free(ref);
    return NULL;
  }
  return ref;
}

typedef enum { K_LORA, K_DORA, K_DORA_NO_M, K_FULL } kind;

/* Writes the adapter directory and the fused model directory (float32
 * weights computed here in float64). */
static bool make_adapter(const char *adir, const char *fdir, mx_array_map *base, kind k,
                         double scale) {
  mx_array_map *ad = mx_array_map_new(), *fused = mx_array_map_new();
  for (int i = 0; i < mx_array_map_size(base); i++)
    mx_array_map_set(fused, mx_array_map_name(base, i), mx_array_map_at(base, i));
  for (int t = 0; t < NT; t++) {
    char wn[512], nm[512];
    snprintf(wn, sizeof wn, "%s.weight", k_targets[t]);
    mx_array *w = mx_array_map_get(base, wn);
    if (!w) return false;
    int out = mx_array_dim(w, 0), in = mx_array_dim(w, 1);
    double *W = mxt_to_f64(w);
    double *F = malloc(sizeof(double) * (size_t)out * in);
    if (k == K_FULL) { /* a replacement weight */
      int sh[2] = {out, in};
      mx_array *nw = mxt_rand(sh, 2, MX_FLOAT32, -0.2, 0.2);
      double *N = mxt_to_f64(nw);
      memcpy(F, N, sizeof(double) * (size_t)out * in);
      free(N);
      mx_array_map_set(ad, wn, nw);
    } else {
      int as[2] = {in, RANK}, bs[2] = {RANK, out};
      mx_array *a = mxt_rand(as, 2, MX_FLOAT32, -0.3, 0.3);
      mx_array *b = mxt_rand(bs, 2, MX_FLOAT32, -0.3, 0.3);
      double *A = mxt_to_f64(a), *B = mxt_to_f64(b);
      for (int o = 0; o < out; o++)
        for (int c = 0; c < in; c++) {
          double d = 0;
          for (int r = 0; r < RANK; r++)
            d += A[(size_t)c * RANK + r] * B[(size_t)r * out + o];
          F[(size_t)o * in + c] = W[(size_t)o * in + c] + scale * d;
        }
      snprintf(nm, sizeof nm, "%s.lora_a", k_targets[t]);
      mx_array_map_set(ad, nm, a);
      snprintf(nm, sizeof nm, "%s.lora_b", k_targets[t]);
      mx_array_map_set(ad, nm, b);
      free(A);
      free(B);
      if (k == K_DORA || k == K_DORA_NO_M) {
        int ms = out;
        mx_array *mag = mxt_rand(&ms, 1, MX_FLOAT32, 0.5, 2.0);
        double *M = mxt_to_f64(mag);
        for (int o = 0; o < out; o++) {
          double n2 = 0, w2 = 0;
          for (int c = 0; c < in; c++) {
            n2 += F[(size_t)o * in + c] * F[(size_t)o * in + c];
            w2 += W[(size_t)o * in + c] * W[(size_t)o * in + c];
          }
          double mo = k == K_DORA ? M[o] : sqrt(w2); /* m defaults to ||W|| */
          for (int c = 0; c < in; c++) F[(size_t)o * in + c] *= mo / sqrt(n2);
        }
        free(M);
        snprintf(nm, sizeof nm, "%s.m", k_targets[t]);
        if (k == K_DORA) mx_array_map_set(ad, nm, mag);
      }
    }
    float *f32 = malloc(sizeof(float) * (size_t)out * in);
    for (size_t i = 0; i < (size_t)out * in; i++) f32[i] = (float)F[i];
    int sh[2] = {out, in};
    mx_array_map_set(fused, wn, mx_array_from_data(f32, sh, 2, MX_FLOAT32));
    free(f32);
    free(F);
    free(W);
  }
  char p[1024], cfg[512];
  snprintf(p, sizeof p, "%s/adapters.safetensors", adir);
  bool ok = mx_save_safetensors(p, ad) == MX_OK;
  snprintf(p, sizeof p, "%s/model.safetensors", fdir);
  ok = ok && mx_save_safetensors(p, fused) == MX_OK;
  snprintf(cfg, sizeof cfg,
           "{\"fine_tune_type\": \"%s\", \"num_layers\": 2, \"lora_parameters\": "
           "{\"rank\": %d, \"scale\": %g, \"dropout\": 0.0}}",
           k == K_FULL   ? "full"
           : k == K_LORA ? "lora"
                         : "dora",
           RANK, scale);
  ok = ok && write_text(adir, "adapter_config.json", cfg) && write_config(fdir, false);
  mx_array_map_free(ad);
  mx_array_map_free(fused);
  return ok;
}

static double rel_err(mx_array *a, mx_array *b) {
  double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
  double md = 0, mb = 0;
  for (int64_t i = 0; x && y && i < mx_array_size(b); i++) {
    md = fmax(md, fabs(x[i] - y[i]));
    mb = fmax(mb, fabs(y[i]));
  }
  bool ok = x && y;
  free(x);
  free(y);
  return ok ? md / (mb > 0 ? mb : 1) : INFINITY;
}

static mx_array *ids(void) {
  mx_array_map *g = mx_load_safetensors(mxt_src_path(BASE "/golden.safetensors"));
  mx_array *i = g ? mx_array_map_get(g, "input_ids") : NULL;
  if (i) mx_eval1(i = mx_copy(i));
  mx_array_map_free(g);
  return i;
}

static void check_kind(kind k, bool quantized, const char *what) {
  char bdir[] = "/tmp/mx_ad_baseXXXXXX", adir[] = "/tmp/mx_ad_adXXXXXX",
       fdir[] = "/tmp/mx_ad_fusedXXXXXX";
  MXT_CHECK(mkdtemp(bdir) && mkdtemp(adir) && mkdtemp(fdir), "tmp dirs");
  mxt_seed(1234 + (uint64_t)k);
  mx_array_map *base = make_base(bdir, quantized);
  MXT_CHECK(base != NULL, "%s: base dir: %s", what, mx_last_error());
  if (!base) return;
  bool ok = make_adapter(adir, fdir, base, k, 2.0);
  MXT_CHECK(ok, "%s: adapter dirs: %s", what, mx_last_error());
  mx_array_map_free(base);
  mx_lm_load_options lo = {.dtype = MX_FLOAT32, .adapter_path = adir};
  mx_lm_model *m = ok ? mx_lm_load(bdir, &lo) : NULL;
  MXT_CHECK(m != NULL, "%s: load with adapter: %s", what, mx_last_error());
  lo.adapter_path = NULL;
  mx_lm_model *f = mx_lm_load(fdir, &lo), *plain = mx_lm_load(bdir, &lo);
  MXT_CHECK(f && plain, "%s: load fused/base: %s", what, mx_last_error());
  if (m && f && plain) {
    mx_array *x = ids();
    mx_array *got = mx_lm_forward(m, x, NULL), *want = mx_lm_forward(f, x, NULL);
    mx_array *before = mx_lm_forward(plain, x, NULL);
    double e = rel_err(got, want), d = rel_err(before, want);
    MXT_CHECK(e <= 2e-5, "%s: logits vs fused reference rel error %.3g", what, e);
    /* the adapter must matter, or the comparison above proves nothing */
    MXT_CHECK(d >= 1e-3, "%s: adapter changes the logits by only %.3g", what, d);
    /* cached decoding through the adapted layers equals the full forward */
    mx_lm_cache *c = mx_lm_cache_new(m, NULL);
    int T = mx_array_dim(x, 1);
    mx_array *p1 = mx_lm_forward(m, mx_slice_axis(x, 1, 0, T - 1, 1), c);
    mx_array *p2 = mx_lm_forward(m, mx_slice_axis(x, 1, T - 1, T, 1), c);
    mx_array *parts[2] = {p1, p2};
    e = rel_err(mx_concatenate(parts, 2, 1), want);
    MXT_CHECK(e <= 2e-5, "%s: cached logits rel error %.3g", what, e);
    mx_lm_cache_free(c);
    fprintf(stderr, "  %s: rel error %.2g (adapter moves logits by %.2g)\n", what,
            rel_err(got, want), d);
  }
  mx_lm_free(m);
  mx_lm_free(f);
  mx_lm_free(plain);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", bdir, adir, fdir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

static void test_lora(void) { check_kind(K_LORA, false, "lora"); }
static void test_lora_quantized(void) { check_kind(K_LORA, true, "lora on 4-bit"); }
static void test_dora(void) { check_kind(K_DORA, false, "dora"); }
static void test_dora_default_m(void) {
  check_kind(K_DORA_NO_M, true, "dora, m = ||W||");
}
static void test_full(void) { check_kind(K_FULL, false, "full"); }

static int run(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  return pclose(p);
}

/* `mx generate --adapter-path` on the bundled model: the greedy tokens of
 * the adapted model equal those of the fused one. */
static void test_cli(void) {
  const char *bin = getenv("MX_BIN");
  MXT_CHECK(bin != NULL, "MX_BIN is not set");
  if (!bin) return;
  g_base = "models/stories260K";
  char bdir[] = "/tmp/mx_ad_baseXXXXXX", adir[] = "/tmp/mx_ad_adXXXXXX",
       fdir[] = "/tmp/mx_ad_fusedXXXXXX";
  MXT_CHECK(mkdtemp(bdir) && mkdtemp(adir) && mkdtemp(fdir), "tmp dirs");
  mxt_seed(99);
  mx_array_map *base = make_base(bdir, false);
  bool ok = base && make_adapter(adir, fdir, base, K_LORA, 20.0);
  mx_array_map_free(base);
  char cmd[4096], a[8192], b[8192];
  snprintf(cmd, sizeof cmd,
           "for d in %s %s; do for f in tokenizer.json tokenizer_config.json "
           "special_tokens_map.json generation_config.json; do ln -s %s/%s/$f $d/$f; "
           "done; done",
           bdir, fdir, mxt_src_path(""), g_base);
  ok = ok && system(cmd) == 0;
  MXT_CHECK(ok, "dirs: %s", mx_last_error());
  const char *args = "--prompt-tokens 1,403,407 -m 24 --temp 0 --output json 2>/dev/null";
  snprintf(cmd, sizeof cmd, "%s generate --model %s --adapter-path %s %s", bin, bdir,
           adir, args);
  int r1 = run(cmd, a, sizeof a);
  snprintf(cmd, sizeof cmd, "%s generate --model %s %s", bin, fdir, args);
  int r2 = run(cmd, b, sizeof b);
  snprintf(cmd, sizeof cmd, "%s generate --model %s %s", bin, bdir, args);
  char c[8192];
  int r3 = run(cmd, c, sizeof c);
  const char *ta = strstr(a, "\"tokens\""), *tb = strstr(b, "\"tokens\""),
             *tc = strstr(c, "\"tokens\"");
  MXT_CHECK(r1 == 0 && r2 == 0 && r3 == 0 && ta && tb && tc, "runs: %d %d %d", r1, r2,
            r3);
  if (ta && tb && tc) {
    size_t la = strcspn(ta, "]"), lb = strcspn(tb, "]"), lc = strcspn(tc, "]");
    MXT_CHECK(la == lb && !strncmp(ta, tb, la), "adapted %.*s vs fused %.*s", (int)la, ta,
              (int)lb, tb);
    MXT_CHECK(la != lc || strncmp(ta, tc, la), "the adapter changed nothing: %.*s",
              (int)la, ta);
  }
  /* cache-prompt with the adapter, then generate from that cache: the same
   * tokens as the fused model's cache and generation */
  char pa[1100], pf[1100];
  snprintf(pa, sizeof pa, "%s/prompt_a.safetensors", adir);
  snprintf(pf, sizeof pf, "%s/prompt_f.safetensors", fdir);
  snprintf(
      cmd, sizeof cmd,
      "%s cache-prompt --model %s --adapter-path %s -p 'Once upon a time' "
      "--prompt-cache-file %s >/dev/null 2>&1 && %s cache-prompt --model %s -p 'Once "
      "upon a time' --prompt-cache-file %s >/dev/null 2>&1",
      bin, bdir, adir, pa, bin, fdir, pf);
  MXT_CHECK(system(cmd) == 0, "cache-prompt runs");
  const char *gargs = "-p ' there was' -m 16 --temp 0 --output json 2>/dev/null";
  snprintf(cmd, sizeof cmd,
           "%s generate --model %s --adapter-path %s --prompt-cache-file %s %s", bin,
           bdir, adir, pa, gargs);
  r1 = run(cmd, a, sizeof a);
  snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt-cache-file %s %s", bin, fdir,
           pf, gargs);
  r2 = run(cmd, b, sizeof b);
  ta = strstr(a, "\"tokens\"");
  tb = strstr(b, "\"tokens\"");
  MXT_CHECK(r1 == 0 && r2 == 0 && ta && tb, "cached runs: %d %d", r1, r2);
  if (ta && tb) {
    size_t la = strcspn(ta, "]"), lb = strcspn(tb, "]");
    MXT_CHECK(la == lb && !strncmp(ta, tb, la), "cached: adapted %.*s vs fused %.*s",
              (int)la, ta, (int)lb, tb);
  }
  snprintf(cmd, sizeof cmd, "%s generate --model %s --adapter-path /nonexistent %s", bin,
           bdir, "--prompt-tokens 1 -m 1 2>&1");
  int r4 = run(cmd, c, sizeof c);
  MXT_CHECK(r4 != 0 && strstr(c, "adapter_config.json"), "bad path: rc %d, %s", r4, c);
  snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", bdir, adir, fdir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
  g_base = BASE;
}

/* Bad adapter directories: errors name the file or tensor, never a crash. */
static void expect_error(const char *adir, const char *bdir, const char *needle,
                         const char *what) {
  mx_lm_load_options lo = {.dtype = MX_FLOAT32, .adapter_path = adir};
  mx_lm_model *m = mx_lm_load(bdir, &lo);
  const char *e = mx_last_error();
  MXT_CHECK(!m && e && strstr(e, needle), "%s: want error with '%s', got '%s'", what,
            needle, m ? "(loaded)" : e);
  mx_lm_free(m);
  mx_clear_error();
}

static void test_errors(void) {
  char adir[] = "/tmp/mx_ad_badXXXXXX";
  MXT_CHECK(mkdtemp(adir) != NULL, "tmp");
  const char *base = mxt_src_path(BASE);
  expect_error(adir, base, "adapter_config.json", "no config");
  write_text(adir, "adapter_config.json", "{\"fine_tune_type\": \"lora\"}");
  expect_error(adir, base, "adapters.safetensors", "no tensors");
  write_text(adir, "adapter_config.json", "{\"fine_tune_type\": \"prefix\"}");
  expect_error(adir, base, "prefix", "unknown type");
  write_text(adir, "adapter_config.json", "[1, 2]");
  expect_error(adir, base, "not a JSON object", "config not an object");
  write_text(adir, "adapter_config.json",
             "{\"fine_tune_type\": \"lora\", \"lora_parameters\": {\"scale\": 2}}");
  char p[1024];
  snprintf(p, sizeof p, "%s/adapters.safetensors", adir);
  struct {
    const char *a, *b;
    int ar, ac, br, bc;
    const char *needle;
  } cases[] = {
      {"model.layers.0.self_attn.q_proj.lora_a", "model.layers.0.self_attn.q_proj.lora_b",
       63, 4, 4, 64, "self_attn.q_proj.lora_a"},
      {"model.layers.0.self_attn.q_proj.lora_a", "model.layers.0.self_attn.q_proj.lora_b",
       64, 4, 3, 64, "do not fit"},
      {"model.layers.0.self_attn.nope.lora_a", "model.layers.0.self_attn.nope.lora_b", 64,
       4, 4, 64, "not a linear layer"},
      {"model.layers.9.self_attn.q_proj.lora_a", "model.layers.9.self_attn.q_proj.lora_b",
       64, 4, 4, 64, "model.layers.9"},
      {"model.layers.0.self_attn.q_proj.lora_a", NULL, 64, 4, 0, 0, "lora_b"},
      {"model.layers.0.self_attn.q_proj.lora_b", NULL, 4, 64, 0, 0, "q_proj.lora_a"},
      {"model.layers.0.self_attn.q_proj.weight", NULL, 64, 64, 0, 0, "unexpected tensor"},
      {"model.embed_tokens.lora_a", "model.embed_tokens.lora_b", 384, 4, 4, 64,
       "embedding"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    mx_scope_begin();
    mx_array_map *ad = mx_array_map_new();
    int as[2] = {cases[i].ar, cases[i].ac}, bs[2] = {cases[i].br, cases[i].bc};
    mx_array_map_set(ad, cases[i].a, mx_zeros(as, 2, MX_FLOAT32));
    if (cases[i].b) mx_array_map_set(ad, cases[i].b, mx_zeros(bs, 2, MX_FLOAT32));
    MXT_CHECK(mx_save_safetensors(p, ad) == MX_OK, "save");
    mx_array_map_free(ad);
    expect_error(adir, base, cases[i].needle, cases[i].needle);
    mx_scope_end();
  }
  /* full fine-tune with a tensor the model does not have, or a wrong shape */
  write_text(adir, "adapter_config.json", "{\"fine_tune_type\": \"full\"}");
  mx_scope_begin();
  mx_array_map *ad = mx_array_map_new();
  int s1[1] = {7};
  mx_array_map_set(ad, "model.norm.weight", mx_zeros(s1, 1, MX_FLOAT32));
  MXT_CHECK(mx_save_safetensors(p, ad) == MX_OK, "save");
  mx_array_map_free(ad);
  expect_error(adir, base, "model.norm.weight has shape", "full: shape");
  ad = mx_array_map_new();
  mx_array_map_set(ad, "model.extra.weight", mx_zeros(s1, 1, MX_FLOAT32));
  MXT_CHECK(mx_save_safetensors(p, ad) == MX_OK, "save");
  mx_array_map_free(ad);
  expect_error(adir, base, "model.extra.weight is not in the model", "full: unknown");
  mx_scope_end();
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", adir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
  MXT_RUN(test_lora);
  MXT_RUN(test_lora_quantized);
  MXT_RUN(test_dora);
  MXT_RUN(test_dora_default_m);
  MXT_RUN(test_full);
  MXT_RUN(test_errors);
  MXT_RUN(test_cli);
  return mxt_finish();
}
