/* test_lm.c: model families against transformers' golden outputs: logits
 * of two prompts (max |error| / max |logit| <= 1e-4 in float32), greedy
 * decoding with the KV cache (identical tokens wherever the golden top-1/top-2
 * margin exceeds 1e-3), KV-cached decoding equal to full recompute, rope
 * inverse frequencies equal to transformers' (aux.rope.*), and load errors
 * naming the bad tensor. */
#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "harness.h"
#include "lm/model.h"
#include "mx/lm.h"

static mx_array_map *golden(const char *dir) {
  char p[1024];
  snprintf(p, sizeof p, "tests/fixtures/models/%s/golden.safetensors", dir);
  return mx_load_safetensors(mxt_src_path(p));
}

static mx_lm_model *load_f32(const char *rel) {
  mx_lm_load_options o = {.dtype = MX_FLOAT32};
  return mx_lm_load(mxt_src_path(rel), &o);
}

/* max |a - b| / max |b| over all elements */
static double rel_err(mx_array *a, mx_array *b) {
  double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
  if (!x || !y) {
    free(x);
    free(y);
    return INFINITY;
  }
  double md = 0, mb = 0;
  for (int64_t i = 0; i < mx_array_size(b); i++) {
    md = fmax(md, fabs(x[i] - y[i]));
    mb = fmax(mb, fabs(y[i]));
  }
  free(x);
  free(y);
  return md / (mb > 0 ? mb : 1);
}

/* The model's effective inverse frequencies (1 / period, times the linear
 * position scale) against transformers' rotary inv_freq buffer. */
static void check_inv_freq(const char *name, mx_lm_model *m, mx_array *ref) {
  int half = m->rope_dims / 2;
  MXT_CHECK(mx_array_size(ref) == half, "%s: inv_freq has %lld entries, rope dims %d",
            name, (long long)mx_array_size(ref), m->rope_dims);
  if (mx_array_size(ref) != half) return;
  double *want = mxt_to_f64(ref), *per = m->rope_freqs ? mxt_to_f64(m->rope_freqs) : NULL;
  double worst = 0;
  for (int i = 0; want && i < half; i++) {
    double period = per ? per[i] : pow(m->cfg.rope.theta, 2.0 * i / m->rope_dims);
    double got = m->rope_scale / period;
    worst = fmax(worst, fabs(got - want[i]) / fabs(want[i]));
  }
  MXT_CHECK(want && worst <= 1e-6, "%s: inv_freq rel error %.3g", name, worst);
  free(want);
  free(per);
}

static void check_model(const char *name, const char *model_dir) {
  char path[512];
  snprintf(path, sizeof path, "%s", model_dir);
  mx_lm_model *m = load_f32(path);
  MXT_CHECK(m != NULL, "%s: load: %s", name, mx_last_error());
  if (!m) {
    mx_clear_error();
    return;
  }
  mx_array_map *g = golden(name);
  MXT_CHECK(g != NULL, "%s: golden: %s", name, mx_last_error());
  if (!g) {
    mx_lm_free(m);
    return;
  }
  /* 1. logits, full forward */
  mx_array *ids = mx_array_map_get(g, "input_ids");
  mx_array *ref = mx_array_map_get(g, "logits");
  mx_array *logits = mx_lm_forward(m, ids, NULL);
  double e = rel_err(logits, ref);
  MXT_CHECK(e <= 1e-4, "%s: logits rel error %.3g > 1e-4 (%s)", name, e, mx_last_error());
  /* 2. the same through the KV cache, in two chunks then token by token */
  mx_lm_cache *c = mx_lm_cache_new(m, NULL);
  int T = mx_array_dim(ids, 1);
  mx_array *a = mx_lm_forward(m, mx_slice_axis(ids, 1, 0, T / 2, 1), c);
  mx_eval1(a);
  mx_array *parts[32];
  int np = 0;
  parts[np++] = a;
  for (int t = T / 2; t < T && np < 32; t++) {
    mx_array *s = mx_lm_forward(m, mx_slice_axis(ids, 1, t, t + 1, 1), c);
    mx_eval1(s);
    parts[np++] = s;
  }
  mx_array *cached = mx_concatenate(parts, np, 1);
  e = rel_err(cached, ref);
  MXT_CHECK(e <= 1e-4, "%s: cached logits rel error %.3g (%s)", name, e, mx_last_error());
  MXT_CHECK(mx_lm_cache_offset(c) == T, "%s: cache offset %d", name,
            mx_lm_cache_offset(c));
  mx_lm_cache_free(c);
  /* 3. greedy generation with the cache */
  mx_array *gp = mx_array_map_get(g, "greedy_prompt");
  mx_array *gt = mx_array_map_get(g, "greedy_tokens");
  mx_array *gm = mx_array_map_get(g, "greedy_margin");
  int np_ = (int)mx_array_size(gp), ng = (int)mx_array_size(gt);
  int32_t *prompt = malloc((size_t)np_ * 4), *want = malloc((size_t)ng * 4);
  float *margin = malloc((size_t)ng * 4);
  mx_array_read(gp, MX_INT32, prompt, (size_t)np_ * 4);
  mx_array_read(gt, MX_INT32, want, (size_t)ng * 4);
  mx_array_read(gm, MX_FLOAT32, margin, (size_t)ng * 4);
  typedef struct {
    int32_t toks[256];
    int n;
  } coll;
  coll got = {.n = 0};
  int cb(void *ctx, const mx_lm_token_info *t);
  mx_lm_generate_params p;
  mx_lm_generate_defaults(&p);
  p.max_tokens = ng;
  int32_t no_eos = -1;
  p.eos_ids = &no_eos; /* goldens ran with eos disabled */
  p.n_eos = 1;
  mx_status rc = mx_lm_generate_tokens(m, prompt, np_, &p, NULL, cb, &got, NULL);
  MXT_CHECK(rc == MX_OK && got.n == ng, "%s: generated %d of %d: %s", name, got.n, ng,
            mx_last_error());
  int compared = 0;
  for (int i = 0; i < got.n && i < ng; i++) {
    if (got.toks[i] != want[i]) {
      MXT_CHECK(margin[i] <= 1e-3, "%s: greedy token %d: got %d want %d (margin %.4f)",
                name, i, got.toks[i], want[i], margin[i]);
      break; /* after a legitimate flip the continuations differ */
    }
    compared++;
  }
  fprintf(stderr, "  %s: logits ok, %d/%d greedy tokens identical\n", name, compared, ng);
  free(prompt);
  free(want);
  free(margin);
  /* 4. rope frequencies vs transformers' inv_freq */
  for (int i = 0; i < mx_array_map_size(g); i++) {
    const char *k = mx_array_map_name(g, i);
    if (strncmp(k, "aux.rope.", 9) != 0) continue;
    check_inv_freq(name, m, mx_array_map_at(g, i));
  }
  mx_array_map_free(g);
  mx_lm_free(m);
}

int cb(void *ctx, const mx_lm_token_info *t) {
  struct {
    int32_t toks[256];
    int n;
  } *c = ctx;
  if (c->n < 256) c->toks[c->n++] = t->token;
  return 0;
}

static void test_stories260k(void) { check_model("stories260K", "models/stories260K"); }
static void test_tiny_llama(void) {
  check_model("tiny-llama", "tests/fixtures/models/tiny-llama");
}
static void test_tiny_llama_tied(void) {
  check_model("tiny-llama-tied", "tests/fixtures/models/tiny-llama-tied");
}
static void test_tiny_mistral(void) {
  check_model("tiny-mistral", "tests/fixtures/models/tiny-mistral");
}
static void test_tiny_qwen2(void) {
  check_model("tiny-qwen2", "tests/fixtures/models/tiny-qwen2");
}
static void test_tiny_qwen3(void) {
  check_model("tiny-qwen3", "tests/fixtures/models/tiny-qwen3");
}

static void test_tiny_phi3(void) {
  check_model("tiny-phi3", "tests/fixtures/models/tiny-phi3");
}
/* longrope: every golden sequence is longer than
 * original_max_position_embeddings (4), so transformers uses the long
 * factors (mlx-lm uses them always) and the attention factor
 * sqrt(1 + ln(256/4) / ln 4) = 2 */
static void test_tiny_phi3_longrope(void) {
  check_model("tiny-phi3-longrope", "tests/fixtures/models/tiny-phi3-longrope");
  mx_lm_model *m = load_f32("tests/fixtures/models/tiny-phi3-longrope");
  MXT_CHECK(m && fabs(m->attn_mscale - 2.0f) < 1e-6, "longrope attention factor %g",
            m ? m->attn_mscale : -1.0);
  mx_lm_free(m);
}

/* longrope with partial rotary: a copy of tiny-phi3-longrope rotating half
 * of each head (8 of 16 dims, 4 factors): the attention factor multiplies
 * the rotated dims only; factor lists of the wrong length are an error. */
static mx_lm_model *phi3_variant(char *dir, int nfactors, double partial) {
  if (!mkdtemp(dir)) return NULL;
  const char *src = mxt_src_path("tests/fixtures/models/tiny-phi3-longrope");
  char p[1024], cmd[2200];
  snprintf(cmd, sizeof cmd, "ln -s %s/model.safetensors %s/model.safetensors", src, dir);
  if (system(cmd) != 0) return NULL;
  snprintf(p, sizeof p, "%s/config.json", src);
  cJSON *j = mxt_read_json(p);
  if (!j) return NULL;
  const char *blocks[2] = {"rope_parameters", "rope_scaling"};
  for (int b = 0; b < 2; b++) {
    cJSON *r = cJSON_GetObjectItemCaseSensitive(j, blocks[b]);
    float lf[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    cJSON_ReplaceItemInObject(r, "long_factor", cJSON_CreateFloatArray(lf, nfactors));
    cJSON_ReplaceItemInObject(r, "short_factor", cJSON_CreateFloatArray(lf, nfactors));
    if (b == 0)
      cJSON_ReplaceItemInObject(r, "partial_rotary_factor", cJSON_CreateNumber(partial));
  }
  cJSON_AddNumberToObject(j, "partial_rotary_factor", partial);
  snprintf(p, sizeof p, "%s/config.json", dir);
  bool written = mxt_write_json(p, j);
  cJSON_Delete(j);
  if (!written) return NULL;
  mx_lm_load_options o = {.dtype = MX_FLOAT32};
  return mx_lm_load(dir, &o);
}

static void test_longrope_partial(void) {
  char d1[] = "/tmp/mx_lr_aXXXXXX", d2[] = "/tmp/mx_lr_bXXXXXX";
  mx_lm_model *m = phi3_variant(d1, 4, 0.5);
  MXT_CHECK(m != NULL, "load: %s", mx_last_error());
  if (m) {
    MXT_CHECK(m->rope_dims == 8 && fabs(m->attn_mscale - 2.0f) < 1e-6,
              "rope dims %d, attention factor %g", m->rope_dims, m->attn_mscale);
    double *v = m->attn_mscale_vec ? mxt_to_f64(m->attn_mscale_vec) : NULL;
    bool ok = v && mx_array_size(m->attn_mscale_vec) == 16;
    for (int i = 0; ok && i < 16; i++) ok = v[i] == (i < 8 ? 2.0 : 1.0);
    MXT_CHECK(ok, "the attention factor must scale dims 0..7 only");
    free(v);
    /* periods: long_factor[i] * base^(2i/8) */
    double *per = mxt_to_f64(m->rope_freqs);
    double worst = 0;
    for (int i = 0; per && i < 4; i++)
      worst = fmax(worst, fabs(per[i] / ((1 << i) * pow(10000.0, 2.0 * i / 8)) - 1));
    MXT_CHECK(per && worst < 1e-6, "longrope periods off by %.3g", worst);
    free(per);
    int shape[2] = {1, 6};
    int32_t ids[6] = {1, 5, 9, 17, 33, 65};
    mx_array *lg = mx_lm_forward(m, mx_array_from_data(ids, shape, 2, MX_INT32), NULL);
    double *l = lg ? mxt_to_f64(lg) : NULL;
    bool finite = l != NULL;
    for (int64_t i = 0; finite && i < mx_array_size(lg); i++) finite = isfinite(l[i]);
    MXT_CHECK(finite, "forward: %s", mx_last_error());
    free(l);
    mx_lm_free(m);
  }
  mx_clear_error();
  m = phi3_variant(d2, 3, 0.5);
  const char *e = mx_last_error();
  MXT_CHECK(!m && e && strstr(e, "long_factor has 3 entries, expected 4"),
            "wrong factor count: %s", m ? "(loaded)" : e);
  mx_lm_free(m);
  mx_clear_error();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", d1, d2);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
  MXT_RUN(test_stories260k);
  MXT_RUN(test_tiny_llama);
  MXT_RUN(test_tiny_llama_tied);
  MXT_RUN(test_tiny_mistral);
  MXT_RUN(test_tiny_qwen2);
  MXT_RUN(test_tiny_qwen3);
  MXT_RUN(test_tiny_phi3);
  MXT_RUN(test_tiny_phi3_longrope);
  MXT_RUN(test_longrope_partial);
  return mxt_finish();
}
