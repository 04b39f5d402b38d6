/* test_generate.c: generation machinery against independent references:
 * samplers and logits processors (allowed sets and frequencies computed in
 * float64 here), stop strings, batched generation equal to one-by-one,
 * rotating caches equal to recomputing the window (rope is
 * shift-invariant), quantized caches close to float ones, prompt cache files
 * that continue exactly, and load errors that name the bad tensor. */
#include <limits.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "backend/cpu/gemm_i8.h"
#include "harness.h"
#include "lm/model.h"
#include "mx/lm.h"
#include "mx/tokenizer.h"

static const char *stories(void) { return mxt_src_path("models/stories260K"); }

/* ---- samplers ---- */
static void softmax64(const float *x, int V, double t, double *p) {
  double mx = -INFINITY, s = 0;
  for (int i = 0; i < V; i++) mx = fmax(mx, x[i] / t);
  for (int i = 0; i < V; i++) s += p[i] = exp(x[i] / t - mx);
  for (int i = 0; i < V; i++) p[i] /= s;
}

/* chi-square of observed counts against expected probabilities; returns
 * false if any token with p == 0 was drawn */
static bool draws_match(mx_lm_sampler *s, const float *logits, int V, const double *p,
                        int n) {
  int cnt[64] = {0};
  for (int i = 0; i < n; i++) {
    int t = mx_lm_sampler_next(s, logits, V, NULL, 0, NULL);
    if (t < 0 || t >= V || p[t] == 0) {
      MXT_CHECK(0, "drew token %d with p=0", t);
      return false;
    }
    cnt[t]++;
  }
  double chi = 0;
  int dof = -1;
  for (int i = 0; i < V; i++)
    if (p[i] > 0) {
      double e = p[i] * n;
      chi += (cnt[i] - e) * (cnt[i] - e) / e;
      dof++;
    }
  /* chi-square 99.9% quantile is below dof + 4*sqrt(2 dof) + 10 for small dof */
  bool ok = chi < dof + 4 * sqrt(2.0 * (dof > 0 ? dof : 1)) + 10;
  MXT_CHECK(ok, "chi-square %.1f with %d dof", chi, dof);
  return ok;
}

static void test_samplers(void) {
  float logits[8] = {2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f};
  int V = 8, N = 40000;
  double p[8], q[8];
  mx_lm_sampler_params sp;
  /* greedy */
  mx_lm_sampler_defaults(&sp);
  mx_lm_sampler *s = mx_lm_sampler_new(&sp);
  MXT_CHECK(mx_lm_sampler_next(s, logits, V, NULL, 0, NULL) == 0, "greedy");
  mx_lm_sampler_free(s);
  /* temperature only */
  sp.temp = 0.7f;
  sp.seed = 1;
  s = mx_lm_sampler_new(&sp);
  softmax64(logits, V, 0.7, p);
  draws_match(s, logits, V, p, N);
  mx_lm_sampler_free(s);
  /* top_k = 3 */
  sp.top_k = 3;
  s = mx_lm_sampler_new(&sp);
  softmax64(logits, 3, 0.7, q);
  for (int i = 0; i < V; i++) p[i] = i < 3 ? q[i] : 0;
  draws_match(s, logits, V, p, N);
  mx_lm_sampler_free(s);
  /* top_p = 0.8 at temp 1: keep the smallest prefix of sorted probs whose
   * mass reaches 0.8 */
  sp.top_k = 0;
  sp.top_p = 0.8f;
  sp.temp = 1.0f;
  s = mx_lm_sampler_new(&sp);
  softmax64(logits, V, 1.0, q);
  double cum = 0;
  int keep = 0;
  while (keep < V && cum < 0.8) cum += q[keep++];
  double mass = 0;
  for (int i = 0; i < keep; i++) mass += q[i];
  for (int i = 0; i < V; i++) p[i] = i < keep ? q[i] / mass : 0;
  draws_match(s, logits, V, p, N);
  mx_lm_sampler_free(s);
  /* min_p = 0.3: keep p_i >= 0.3 * p_max */
  sp.top_p = 0;
  sp.min_p = 0.3f;
  s = mx_lm_sampler_new(&sp);
  softmax64(logits, V, 1.0, q);
  mass = 0;
  for (int i = 0; i < V; i++) mass += q[i] >= 0.3 * q[0] ? q[i] : 0;
  for (int i = 0; i < V; i++) p[i] = q[i] >= 0.3 * q[0] ? q[i] / mass : 0;
  draws_match(s, logits, V, p, N);
  mx_lm_sampler_free(s);
  /* xtc with probability 1, threshold 0.1: tokens above 0.1 except the
   * least likely of them are removed */
  sp.min_p = 0;
  sp.xtc_probability = 1.0f;
  sp.xtc_threshold = 0.1f;
  s = mx_lm_sampler_new(&sp);
  softmax64(logits, V, 1.0, q);
  int last_above = -1;
  for (int i = 0; i < V; i++)
    if (q[i] > 0.1) last_above = i;
  mass = 0;
  for (int i = 0; i < V; i++) mass += i >= last_above ? q[i] : 0;
  for (int i = 0; i < V; i++) p[i] = i >= last_above ? q[i] / mass : 0;
  draws_match(s, logits, V, p, N);
  mx_lm_sampler_free(s);
  /* processors: logit bias forces a token, repetition penalty demotes */
  mx_lm_sampler_defaults(&sp);
  int32_t bias_id = 6;
  float bias_v = 10;
  sp.logit_bias_ids = &bias_id;
  sp.logit_bias_values = &bias_v;
  sp.n_logit_bias = 1;
  s = mx_lm_sampler_new(&sp);
  MXT_CHECK(mx_lm_sampler_next(s, logits, V, NULL, 0, NULL) == 6, "logit bias");
  mx_lm_sampler_free(s);
  mx_lm_sampler_defaults(&sp);
  sp.repetition_penalty = 1.5f; /* 2.0/1.5 = 1.33 < 1.5: token 1 wins */
  s = mx_lm_sampler_new(&sp);
  int32_t hist[2] = {0, 0};
  MXT_CHECK(mx_lm_sampler_next(s, logits, V, hist, 2, NULL) == 1, "repetition penalty");
  /* outside the context window it no longer applies */
  int32_t hist2[25];
  hist2[0] = 0;
  for (int i = 1; i < 25; i++) hist2[i] = 7;
  MXT_CHECK(mx_lm_sampler_next(s, logits, V, hist2, 25, NULL) == 0, "context size 20");
  mx_lm_sampler_free(s);
  mx_lm_sampler_defaults(&sp);
  sp.presence_penalty = 0.6f;
  s = mx_lm_sampler_new(&sp);
  MXT_CHECK(mx_lm_sampler_next(s, logits, V, hist, 2, NULL) == 1, "presence penalty");
  mx_lm_sampler_free(s);
  /* logprobs are a log-softmax */
  float lp[8];
  mx_lm_sampler_defaults(&sp);
  s = mx_lm_sampler_new(&sp);
  mx_lm_sampler_next(s, logits, V, NULL, 0, lp);
  softmax64(logits, V, 1.0, q);
  bool ok = true;
  for (int i = 0; i < V; i++) ok &= fabs(lp[i] - log(q[i])) < 1e-5;
  MXT_CHECK(ok, "log-softmax");
  mx_lm_sampler_free(s);
  /* seeds reproduce */
  sp.temp = 1;
  sp.seed = 99;
  mx_lm_sampler *a = mx_lm_sampler_new(&sp), *b = mx_lm_sampler_new(&sp);
  bool same = true;
  for (int i = 0; i < 100; i++)
    same &= mx_lm_sampler_next(a, logits, V, NULL, 0, NULL) ==
            mx_lm_sampler_next(b, logits, V, NULL, 0, NULL);
  MXT_CHECK(same, "same seed, same draws");
  mx_lm_sampler_free(a);
  mx_lm_sampler_free(b);
  sp.temp = -1;
  MXT_CHECK(mx_lm_sampler_new(&sp) == NULL, "bad params rejected");
  mx_clear_error();
}

/* Greedy over a large odd-sized vocabulary (the vector max, search and
 * double sum of the sampler): the token is the first largest logprob as a
 * plain loop finds it (ties: the first), a NaN logit or an all -inf row
 * gives 0, and the logprobs match a float64 log-softmax. */
static void test_greedy_large(void) {
  enum { V = 100003 };
  static float logits[V], lp[V];
  static double q[V];
  uint64_t seed = 5;
  for (int i = 0; i < V; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    logits[i] = (float)((int64_t)(seed >> 33) % 20000) / 1000.0f - 10.0f;
  }
  mx_lm_sampler_params sp;
  mx_lm_sampler_defaults(&sp);
  mx_lm_sampler *s = mx_lm_sampler_new(&sp);
  for (int c = 0; c < 5; c++) {
    if (c == 1) logits[50007] = logits[90001] = 30;         /* a tie: the first wins */
    if (c == 2) logits[77] = -INFINITY, logits[99999] = 31; /* the last entry */
    if (c == 3) logits[0] = NAN; /* NaN: every logprob NaN, token 0 */
    if (c == 4)
      for (int i = 0; i < V; i++) logits[i] = -INFINITY;
    int tok = mx_lm_sampler_next(s, logits, V, NULL, 0, lp);
    int want = 0;
    for (int i = 1; i < V; i++)
      if (lp[i] > lp[want]) want = i;
    MXT_CHECK(tok == want, "greedy case %d: %d want %d", c, tok, want);
    if (c == 0 || c == 1) {
      softmax64(logits, V, 1.0, q);
      bool ok = true;
      for (int i = 0; i < V; i++) ok &= fabs(lp[i] - log(q[i])) < 1e-4;
      MXT_CHECK(ok, "log-softmax case %d", c);
    }
    if (c == 1) MXT_CHECK(tok == 50007, "tie: %d", tok);
    if (c == 2) MXT_CHECK(tok == 99999, "last: %d", tok);
  }
  mx_lm_sampler_free(s);
}

/* ---- filters over a large vocabulary ----
 * The sampler finds top_k / top_p / min_p / XTC prefixes without sorting;
 * the reference here sorts every token (logprob descending, ties by index)
 * and applies mlx-lm's rules literally, in float64 on the sampler's own
 * float32 logprobs. The surviving sets must be equal. */
/* uniform in [0, 1) from a 64-bit LCG */
static double unit64(uint64_t *seed) {
  *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*seed >> 11) * 0x1.0p-53;
}

static const float *ref_lp;
static int ref_cmp(const void *a, const void *b) {
  int i = *(const int *)a, j = *(const int *)b;
  if (ref_lp[i] > ref_lp[j]) return -1;
  if (ref_lp[i] < ref_lp[j]) return 1;
  return i - j;
}

/* survivors in index order into out; returns their number */
static int ref_filter(const mx_lm_sampler_params *p, float *lp, int V, int *ord,
                      int *out) {
  for (int i = 0; i < V; i++) ord[i] = i;
  ref_lp = lp;
  qsort(ord, (size_t)V, sizeof *ord, ref_cmp);
  if (p->top_k > 0 && p->top_k < V)
    for (int r = p->top_k; r < V; r++) lp[ord[r]] = -INFINITY;
  if (p->top_p > 0 && p->top_p < 1) {
    double cum = 0; /* ascending cumulative mass; <= 1 - top_p goes */
    for (int r = V - 1; r >= 0; r--) {
      cum += exp((double)lp[ord[r]]);
      if (cum <= 1.0 - p->top_p) lp[ord[r]] = -INFINITY;
    }
  }
  if (p->min_p > 0) {
    double thresh = lp[ord[0]] + log(p->min_p);
    for (int r = p->min_tokens_to_keep; r < V; r++)
      if (lp[ord[r]] < thresh) lp[ord[r]] = -INFINITY;
  }
  if (p->xtc_probability >= 1) {
    int last = -1;
    for (int r = 0; r < V; r++)
      if (exp((double)lp[ord[r]]) > p->xtc_threshold) last = r;
    for (int r = 0; r < last; r++) {
      bool special = false;
      for (int k = 0; k < p->n_xtc_special; k++)
        special |= p->xtc_special_tokens[k] == ord[r];
      if (!special) lp[ord[r]] = -INFINITY;
    }
  }
  int n = 0;
  for (int i = 0; i < V; i++)
    if (lp[i] != -INFINITY) out[n++] = i;
  return n;
}

static void test_filters_large(void) {
  enum { V = 100003 };
  static float logits[V], lp[V];
  static int ord[V], want[V];
  static int32_t got[V];
  uint64_t seed = 11;
  for (int dist = 0; dist < 4; dist++) {
    /* 0: peaked (a few dozen likely tokens over a long tail); 1: flat
     * (a random-weight model); 2: coarse values with many exact ties and
     * -inf entries; 3: peaked, a top token of probability ~0.9 */
    for (int i = 0; i < V; i++) {
      double u = unit64(&seed);
      float v = dist == 0   ? (i % 2003 == 7 ? 8.0f + 6.0f * (float)u : -4.0f * (float)u)
                : dist == 1 ? 0.05f * (float)u
                : dist == 2 ? (float)((int)(u * 12)) * 0.5f
                            : -3.0f * (float)u;
      if (dist == 2 && i % 97 == 5) v = -INFINITY;
      logits[i] = v;
    }
    if (dist == 3) logits[4242] = 14.0f;
    int32_t special = dist == 3 ? 4242 : 7;
    struct {
      int top_k;
      float top_p, min_p, xtc_t;
    } cfg[] = {{40, 0, 0, 0},      {1, 0, 0, 0},        {0, 0.9f, 0, 0},
               {0, 0.5f, 0, 0},    {0, 0.999f, 0, 0},   {0, 0, 0.05f, 0},
               {0, 0, 0.9f, 0},    {1000, 0.95f, 0, 0}, {0, 0.9f, 0.2f, 0},
               {0, 0, 0, 0.001f},  {0, 0, 0, 0.05f},    {500, 0.98f, 0.01f, 0.002f},
               {V - 1, 0.3f, 0, 0}};
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
      mx_lm_sampler_params sp;
      mx_lm_sampler_defaults(&sp);
      sp.temp = 1;
      sp.top_k = cfg[c].top_k;
      sp.top_p = cfg[c].top_p;
      sp.min_p = cfg[c].min_p;
      sp.min_tokens_to_keep = c % 2 ? 3 : 1;
      if (cfg[c].xtc_t > 0) {
        sp.xtc_probability = 1;
        sp.xtc_threshold = cfg[c].xtc_t;
        sp.xtc_special_tokens = &special;
        sp.n_xtc_special = 1;
      }
      mx_lm_sampler_params gp;
      mx_lm_sampler_defaults(&gp);
      mx_lm_sampler *g = mx_lm_sampler_new(&gp), *s = mx_lm_sampler_new(&sp);
      mx_lm_sampler_next(g, logits, V, NULL, 0, lp); /* the sampler's logprobs */
      int nw = ref_filter(&sp, lp, V, ord, want);
      /* nothing left (top_p over a top_k set lighter than 1 - top_p): the
       * draw falls back to the top token, which the sampler reports */
      if (nw == 0) want[nw++] = ord[0];
      int ng = mx_lm_sampler_survivors(s, logits, V, NULL, 0, got);
      bool same = ng == nw;
      for (int j = 0; same && j < nw; j++) same = got[j] == want[j];
      MXT_CHECK(same, "distribution %d, filters %zu: %d survivors, want %d", dist, c, ng,
                nw);
      mx_lm_sampler_free(g);
      mx_lm_sampler_free(s);
    }
  }
  /* degenerate rows under every filter: a valid token, and the only finite
   * logit when there is one */
  for (int row = 0; row < 5; row++) {
    for (int i = 0; i < V; i++)
      logits[i] = row == 0 ? NAN : row == 1 ? -INFINITY : row == 2 ? -INFINITY : 1.0f;
    if (row == 2) logits[777] = -3.0f;
    if (row == 4) logits[5] = INFINITY;
    for (int c = 0; c < 6; c++) {
      mx_lm_sampler_params sp;
      mx_lm_sampler_defaults(&sp);
      sp.temp = 0.9f;
      sp.top_k = c == 0 ? 1 : c == 5 ? 7 : 0;
      sp.top_p = c == 1 ? 0.5f : c == 5 ? 0.9f : 0;
      sp.min_p = c == 2 ? 1.0f : c == 5 ? 0.1f : 0;
      sp.xtc_probability = c == 3 || c == 5 ? 1 : 0;
      sp.xtc_threshold = c == 3 ? 0 : 0.1f;
      mx_lm_sampler *s = mx_lm_sampler_new(&sp);
      int tok = mx_lm_sampler_next(s, logits, V, NULL, 0, NULL);
      MXT_CHECK(tok >= 0 && tok < V && (row != 2 || tok == 777), "row %d filters %d: %d",
                row, c, tok);
      mx_lm_sampler_free(s);
    }
  }
  /* draws under top_p over the peaked tail: only survivors, at their
   * renormalized frequencies (temp 0.8) */
  for (int i = 0; i < V; i++) {
    float u = (float)unit64(&seed);
    logits[i] = i % 4001 == 3 ? 6.0f * u : -12.0f - 6.0f * u;
  }
  mx_lm_sampler_params sp;
  mx_lm_sampler_defaults(&sp);
  sp.temp = 0.8f;
  sp.top_p = 0.9f;
  sp.seed = 3;
  mx_lm_sampler *s = mx_lm_sampler_new(&sp);
  int n = mx_lm_sampler_survivors(s, logits, V, NULL, 0, got);
  static double q[V];
  double mass = 0;
  int pos[V];
  for (int i = 0; i < V; i++) pos[i] = -1;
  for (int j = 0; j < n; j++) pos[got[j]] = j, mass += q[j] = exp(logits[got[j]] / 0.8);
  MXT_CHECK(n > 3 && n < 30, "nucleus of %d tokens", n);
  enum { N = 4000 };
  static int cnt[V];
  bool in = true;
  for (int t = 0; t < N; t++) {
    int tok = mx_lm_sampler_next(s, logits, V, NULL, 0, NULL);
    in &= tok >= 0 && tok < V && pos[tok] >= 0;
    if (in) cnt[pos[tok]]++;
  }
  MXT_CHECK(in, "every draw in the nucleus");
  double chi = 0;
  for (int j = 0; j < n; j++) {
    double e = q[j] / mass * N;
    chi += (cnt[j] - e) * (cnt[j] - e) / e;
  }
  MXT_CHECK(chi < (n - 1) + 4 * sqrt(2.0 * (n - 1)) + 10, "chi-square %.1f, %d dof", chi,
            n - 1);
  mx_lm_sampler_free(s);
}

/* Top alternatives (--top-logprobs) over a large vocabulary with ties and
 * -inf: the k largest, value descending and ties by index, as a full sort
 * finds them. */
static void test_top_alternatives(void) {
  enum { V = 100003 };
  static float lp[V];
  static int ord[V];
  uint64_t seed = 23;
  for (int row = 0; row < 3; row++) {
    for (int i = 0; i < V; i++) {
      double u = unit64(&seed);
      /* 0: distinct values; 1: coarse values (many ties); 2: a few large
       * values late in the row, -inf elsewhere in places */
      lp[i] = row == 0   ? (float)(-20 * u)
              : row == 1 ? (float)(-(int)(u * 40)) * 0.25f
                         : (i % 13 == 0 ? -INFINITY : (float)(-30 * u));
    }
    if (row == 2)
      for (int i = V - 40; i < V; i += 7) lp[i] = -0.5f;
    for (int i = 0; i < V; i++) ord[i] = i;
    ref_lp = lp;
    qsort(ord, V, sizeof *ord, ref_cmp);
    const int ks[3] = {1, 5, 20};
    for (int c = 0; c < 3; c++) {
      const int k = ks[c];
      mx_lm_token_info ti;
      memset(&ti, 0, sizeof ti);
      mx_lm_fill_top(&ti, lp, V, k);
      bool ok = ti.n_top == k;
      for (int j = 0; ok && j < k; j++)
        ok = ti.top_ids[j] == ord[j] && ti.top_logprobs[j] == lp[ord[j]];
      MXT_CHECK(ok, "row %d, k %d: %d alternatives", row, k, ti.n_top);
    }
  }
}

/* ---- text level ---- */
typedef struct {
  int32_t toks[512];
  int n;
} collect;

static int on_tok(void *ctx, const mx_lm_token_info *t) {
  collect *c = ctx;
  if (c->n < 512) c->toks[c->n++] = t->token;
  return 0;
}

static void test_stop_strings(void) {
  mx_lm_model *m = mx_lm_load(stories(), NULL);
  mx_tokenizer *tok = mx_tokenizer_load(stories());
  MXT_OK(m);
  MXT_OK(tok);
  if (!m || !tok) return;
  int32_t *ids;
  int n;
  mx_tokenizer_encode(tok, "Once upon a time", 16, true, &ids, &n);
  mx_lm_text_params tp;
  memset(&tp, 0, sizeof tp);
  mx_lm_generate_defaults(&tp.gen);
  tp.gen.max_tokens = 60;
  char *full = NULL, *cut = NULL;
  mx_lm_generate_stats st;
  MXT_CHECK(
      mx_lm_generate_text(m, tok, ids, n, &tp, NULL, NULL, NULL, &full, &st) == MX_OK,
      "full");
  /* a stop string from the middle of the text */
  const char *stop = full ? strstr(full, " girl") : NULL;
  MXT_CHECK(stop != NULL, "text: %s", full ? full : "");
  if (stop) {
    const char *stops[2] = {"zzz", " girl"};
    tp.stop = stops;
    tp.n_stop = 2;
    MXT_CHECK(
        mx_lm_generate_text(m, tok, ids, n, &tp, NULL, NULL, NULL, &cut, &st) == MX_OK,
        "cut");
    MXT_CHECK(
        cut && strlen(cut) == (size_t)(stop - full) && !strncmp(cut, full, strlen(cut)),
        "stopped before the stop string: '%s'", cut ? cut : "");
    MXT_CHECK(st.finish_reason == 0, "finish reason stop");
  }
  free(full);
  free(cut);
  free(ids);
  mx_tokenizer_free(tok);
  mx_lm_free(m);
}

typedef struct {
  collect seqs[4];
  int ended[4];
} batch_out;

static int on_batch(void *ctx, int seq, const mx_lm_token_info *t) {
  batch_out *b = ctx;
  if (!t)
    b->ended[seq]++;
  else if (b->seqs[seq].n < 512)
    b->seqs[seq].toks[b->seqs[seq].n++] = t->token;
  return 0;
}

static void test_batch_equals_single(void) {
  mx_lm_load_options o = {.dtype = MX_FLOAT32};
  mx_lm_model *m = mx_lm_load(mxt_src_path("tests/fixtures/models/tiny-qwen2"), &o);
  MXT_OK(m);
  if (!m) return;
  int32_t p0[3] = {5, 17, 99}, p1[7] = {3, 44, 45, 46, 120, 7, 8}, p2[1] = {200};
  const int32_t *ps[3] = {p0, p1, p2};
  int lens[3] = {3, 7, 1};
  mx_lm_generate_params gp;
  mx_lm_generate_defaults(&gp);
  gp.max_tokens = 12;
  int32_t no_eos = -1;
  gp.eos_ids = &no_eos;
  gp.n_eos = 1;
  batch_out bo;
  memset(&bo, 0, sizeof bo);
  MXT_CHECK(mx_lm_generate_batch(m, ps, lens, 3, &gp, on_batch, &bo) == MX_OK,
            "batch: %s", mx_last_error());
  for (int b = 0; b < 3; b++) {
    collect one = {.n = 0};
    mx_lm_generate_tokens(m, ps[b], lens[b], &gp, NULL, on_tok, &one, NULL);
    MXT_CHECK(
        one.n == bo.seqs[b].n && !memcmp(one.toks, bo.seqs[b].toks, (size_t)one.n * 4),
        "sequence %d: batch %d tokens vs single %d", b, bo.seqs[b].n, one.n);
    MXT_CHECK(bo.ended[b] == 1, "end reported once");
  }
  mx_lm_free(m);
}

/* mx_lm_forward_last: the head over the last rows only equals those rows of
 * the full forward (with and without a cache, batch of 2) */
static void forward_last_case(mx_lm_model *m) {
  int V = mx_lm_vocab_size(m);
  int32_t ids[2][9] = {{5, 17, 99, 3, 44, 45, 46, 120, 7},
                       {8, 9, 10, 11, 12, 13, 1, 2, 3}};
  int shape[2] = {2, 9};
  int lasts[4] = {1, 3, 0, 9};
  for (int c = 0; c < 4; c++) {
    mx_scope_begin();
    mx_array *x = mx_array_from_data(ids, shape, 2, MX_INT32);
    mx_array *full = mx_lm_forward(m, x, NULL);
    mx_lm_cache *cache = mx_lm_cache_new(m, NULL);
    mx_array *part = mx_lm_forward_last(m, x, cache, lasts[c]);
    int k = lasts[c] > 0 ? lasts[c] : 9;
    MXT_CHECK(mx_array_dim(part, 1) == k, "last %d: %d rows", lasts[c],
              mx_array_dim(part, 1));
    double *ref = mxt_to_f64(mx_slice_axis(full, 1, 9 - k, 9, 1));
    MXT_CHECK(mxt_close(part, ref, (int64_t)2 * k * V, 1e-2, 1e-2, "forward_last"),
              "last %d", lasts[c]);
    free(ref);
    mx_lm_cache_free(cache);
    mx_scope_end();
  }
}

/* A prefill holds one layer's activations at a time, not every layer's:
 * the forward builds each layer in its own scope, so evaluation frees a
 * layer's intermediates once their consumers ran. stories260K (5 layers,
 * hidden 64, MLP 172, float32), 256 tokens without a cache: the peak is
 * bounded by twice one layer's main activations (q, k, v, o and the
 * residual: 4 x 64; gate and up: 2 x 172 floats per token). Holding all
 * five layers' took 7.2 MB; the bound is 1.2 MB. */
static void test_prefill_memory(void) {
  mx_lm_model *m = mx_lm_load(stories(), NULL);
  MXT_CHECK(m != NULL, "load: %s", mx_last_error());
  if (!m) return;
  enum { L = 256 };
  int32_t ids[L];
  for (int i = 0; i < L; i++) ids[i] = 1 + (i * 37) % 500;
  mx_scope_begin();
  mx_array *x = mx_array_from_data(ids, (int[]){1, L}, 2, MX_INT32);
  mx_eval1(x);
  const size_t a0 = mx_get_active_memory();
  mx_reset_peak_memory();
  mx_array *lg = mx_lm_forward_last(m, x, NULL, 1);
  MXT_CHECK(lg && mx_eval1(lg) == MX_OK, "forward: %s", mx_last_error());
  const size_t peak = mx_get_peak_memory() - a0,
               bound = 2 * (size_t)L * (2 * 172 + 4 * 64) * 4;
  MXT_CHECK(peak <= bound, "prefill peak %zu bytes > %zu (one layer's activations x2)",
            peak, bound);
  mx_scope_end();
  /* and everything is given back */
  MXT_CHECK(mx_get_active_memory() <= a0,
            "active memory after the scope: %zu (before %zu)", mx_get_active_memory(),
            a0);
  mx_lm_free(m);
}

/* The data section of a safetensors file: its size less the 8-byte
 * length and the JSON header. */
static size_t safetensors_data_bytes(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint8_t h[8];
  size_t got = fread(h, 1, 8, f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | h[i];
  return got == 8 && size > 0 && (uint64_t)size >= 8 + hl ? (size_t)size - 8 - hl : 0;
}

/* Generation statistics count the weights in the peak, as mlx_lm's (whose
 * weights live in MLX buffers): read in place from the file, they add the
 * file's tensor bytes to the allocator's peak; cast to another dtype at
 * load, they are allocator memory and already in it. */
static void test_peak_counts_weights(void) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/model.safetensors", stories());
  const size_t data = safetensors_data_bytes(path);
  MXT_CHECK(data > 1000000, "stories260K data section: %zu bytes", data);
  for (int cast = 0; cast < 2; cast++) {
    mx_lm_load_options lo = {cast ? MX_BFLOAT16 : -1, NULL};
    mx_lm_model *m = mx_lm_load(stories(), &lo);
    MXT_OK(m);
    if (!m) continue;
    int32_t ids[4] = {1, 20, 30, 40};
    mx_lm_generate_params p;
    mx_lm_generate_defaults(&p);
    p.max_tokens = 4;
    mx_lm_generate_stats st;
    MXT_CHECK(mx_lm_generate_tokens(m, ids, 4, &p, NULL, NULL, NULL, &st) == MX_OK,
              "generate: %s", mx_last_error());
    /* the allocator's peak since the call began (it resets it) */
    const size_t alloc = mx_get_peak_memory();
    if (!cast)
      MXT_CHECK(st.peak_memory == alloc + data,
                "mapped weights: peak %zu = allocator %zu + data %zu", st.peak_memory,
                alloc, data);
    else
      MXT_CHECK(st.peak_memory == alloc && alloc >= data / 2,
                "cast weights: peak %zu = allocator %zu (>= %zu)", st.peak_memory, alloc,
                data / 2);
    mx_lm_free(m);
  }
}

static void test_forward_last(void) {
  for (int mi = 0; mi < 2; mi++) {
    mx_lm_model *m = mx_lm_load(
        mi ? stories() : mxt_src_path("tests/fixtures/models/tiny-qwen2"), NULL);
    MXT_OK(m);
    if (m) forward_last_case(m);
    mx_lm_free(m);
  }
}

/* last-position logits of ids through a fresh cache */
static double *logits_of(mx_lm_model *m, const int32_t *ids, int n, int V) {
  int shape[2] = {1, n};
  mx_array *x = mx_array_from_data(ids, shape, 2, MX_INT32);
  mx_array *l = mx_lm_forward(m, x, NULL);
  return mxt_to_f64(mx_slice_axis(l, 1, n - 1, n, 1));
  (void)V;
}

/* stories260K as a Mistral (every layer attends to the last `window`
 * positions): the reference for a rotating cache of that size, since a
 * rotating cache is exactly a sliding window over every layer. */
static mx_lm_model *windowed_copy(char *dir, int window) {
  if (!mkdtemp(dir)) return NULL;
  char p[512], cmd[1024 + PATH_MAX], src[PATH_MAX];
  /* an absolute target: the source path may be relative to the cwd */
  if (!realpath(stories(), src)) return NULL;
  snprintf(cmd, sizeof cmd, "ln -s %s/model.safetensors %s/model.safetensors", src, dir);
  if (system(cmd) != 0) return NULL;
  snprintf(p, sizeof p, "%s/config.json", stories());
  cJSON *j = mxt_read_json(p);
  if (!j) return NULL;
  cJSON_ReplaceItemInObject(j, "model_type", cJSON_CreateString("mistral"));
  cJSON_DeleteItemFromObject(j, "sliding_window");
  cJSON_AddNumberToObject(j, "sliding_window", window);
  snprintf(p, sizeof p, "%s/config.json", dir);
  bool ok = mxt_write_json(p, j);
  cJSON_Delete(j);
  return ok ? mx_lm_load(dir, NULL) : NULL;
}

static void test_rotating_cache_window(void) {
  mx_lm_model *m = mx_lm_load(stories(), NULL);
  char wdir[] = "/tmp/mx_window_XXXXXX";
  int V = 512, W = 12, T = 30;
  mx_lm_model *ref = windowed_copy(wdir, W);
  MXT_OK(m);
  MXT_OK(ref);
  if (!m || !ref) {
    mx_lm_free(m);
    mx_lm_free(ref);
    return;
  }
  int32_t ids[64];
  for (int i = 0; i < T; i++) ids[i] = 3 + (i * 37) % (V - 3);
  mx_lm_cache_options co = {.max_kv_size = W};
  mx_lm_cache *c = mx_lm_cache_new(m, &co);
  /* prefill 8 tokens, then one at a time past the window: each step equals
   * the sliding-window model's full forward */
  int shape[2] = {1, 8};
  mx_eval1(mx_lm_forward(m, mx_array_from_data(ids, shape, 2, MX_INT32), c));
  double worst = 0;
  for (int t = 8; t < T; t++) {
    int one[2] = {1, 1};
    mx_array *l = mx_lm_forward(m, mx_array_from_data(ids + t, one, 2, MX_INT32), c);
    double *got = mxt_to_f64(l);
    double *want = logits_of(ref, ids, t + 1, V);
    for (int v = 0; v < V; v++) worst = fmax(worst, fabs(got[v] - want[v]));
    free(got);
    free(want);
  }
  MXT_CHECK(worst < 1e-3, "rotating cache vs sliding-window forward: max diff %.3g",
            worst);
  mx_lm_cache_free(c);
  /* a long prefill through a rotating cache (the concat path) too */
  c = mx_lm_cache_new(m, &co);
  int s20[2] = {1, 20};
  double *a = mxt_to_f64(mx_lm_forward(m, mx_array_from_data(ids, s20, 2, MX_INT32), c));
  double *b =
      mxt_to_f64(mx_lm_forward(ref, mx_array_from_data(ids, s20, 2, MX_INT32), NULL));
  double d = 0;
  for (int i = 0; i < 20 * V; i++) d = fmax(d, fabs(a[i] - b[i]));
  MXT_CHECK(d < 1e-3, "rotating prefill = sliding window: %.3g", d);
  free(a);
  free(b);
  int one[2] = {1, 1};
  a = mxt_to_f64(mx_lm_forward(m, mx_array_from_data(ids + 20, one, 2, MX_INT32), c));
  b = logits_of(ref, ids, 21, V);
  d = 0;
  for (int i = 0; i < V; i++) d = fmax(d, fabs(a[i] - b[i]));
  MXT_CHECK(d < 1e-3, "decode after a long prefill: %.3g", d);
  free(a);
  free(b);
  mx_lm_cache_free(c);
  mx_lm_free(ref);
  mx_lm_free(m);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", wdir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

/* a random model with head_dim 32 so the cache can be quantized */
static char g_qdir[64];
static mx_lm_model *make_random_model(void) {
  snprintf(g_qdir, sizeof g_qdir, "/tmp/mx_gen_XXXXXX");
  if (!mkdtemp(g_qdir)) return NULL;
  char p[256];
  snprintf(p, sizeof p, "%s/config.json", g_qdir);
  FILE *f = fopen(p, "w");
  fputs(
      "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
      "\"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"head_dim\": 32, "
      "\"intermediate_size\": 96, \"vocab_size\": 96, \"rms_norm_eps\": 1e-5, "
      "\"tie_word_embeddings\": true}",
      f);
  fclose(f);
  mx_array_map *w = mx_array_map_new();
  const char *names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                          "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                          "mlp.down_proj"};
  int outs[7] = {64, 32, 32, 64, 96, 96, 64}, ins[7] = {64, 64, 64, 64, 64, 64, 96};
  int es[2] = {96, 64}, d = 64;
  mx_array_map_set(w, "model.embed_tokens.weight",
                   mxt_rand(es, 2, MX_FLOAT32, -0.5, 0.5));
  mx_array_map_set(w, "model.norm.weight", mx_ones(&d, 1, MX_FLOAT32));
  for (int l = 0; l < 2; l++) {
    for (int i = 0; i < 7; i++) {
      int s[2] = {outs[i], ins[i]};
      snprintf(p, sizeof p, "model.layers.%d.%s.weight", l, names[i]);
      mx_array_map_set(w, p, mxt_rand(s, 2, MX_FLOAT32, -0.25, 0.25));
    }
    snprintf(p, sizeof p, "model.layers.%d.input_layernorm.weight", l);
    mx_array_map_set(w, p, mx_ones(&d, 1, MX_FLOAT32));
    snprintf(p, sizeof p, "model.layers.%d.post_attention_layernorm.weight", l);
    mx_array_map_set(w, p, mx_ones(&d, 1, MX_FLOAT32));
  }
  snprintf(p, sizeof p, "%s/model.safetensors", g_qdir);
  mx_status rc = mx_save_safetensors(p, w);
  mx_array_map_free(w);
  MXT_CHECK(rc == MX_OK, "save: %s", mx_last_error());
  return mx_lm_load(g_qdir, NULL);
}

static void test_quantized_cache_and_files(void) {
  mx_lm_model *m = make_random_model();
  MXT_OK(m);
  if (!m) return;
  int V = 96;
  int32_t ids[40];
  for (int i = 0; i < 40; i++) ids[i] = (i * 29 + 7) % V;
  /* plain vs 8-bit cache, one token at a time after a 10-token prefill */
  mx_lm_cache_options qo = {.kv_bits = 8, .kv_group_size = 32, .quantized_kv_start = 4};
  mx_lm_cache *plain = mx_lm_cache_new(m, NULL), *q = mx_lm_cache_new(m, &qo);
  int s10[2] = {1, 10}, s1[2] = {1, 1};
  mx_eval1(mx_lm_forward(m, mx_array_from_data(ids, s10, 2, MX_INT32), plain));
  mx_eval1(mx_lm_forward(m, mx_array_from_data(ids, s10, 2, MX_INT32), q));
  double worst = 0, scale = 0;
  for (int t = 10; t < 30; t++) {
    double *a =
        mxt_to_f64(mx_lm_forward(m, mx_array_from_data(ids + t, s1, 2, MX_INT32), plain));
    double *b =
        mxt_to_f64(mx_lm_forward(m, mx_array_from_data(ids + t, s1, 2, MX_INT32), q));
    for (int v = 0; v < V; v++) {
      worst = fmax(worst, fabs(a[v] - b[v]));
      scale = fmax(scale, fabs(a[v]));
    }
    free(a);
    free(b);
  }
  /* 8-bit keys/values: relative error of a few 1e-3 per element */
  MXT_CHECK(worst / scale < 3e-2 && worst > 0, "8-bit cache error %.3g of %.3g", worst,
            scale);
  /* save both caches, load, continue: identical to continuing in memory */
  const char *kinds[2] = {"plain", "quantized"};
  mx_lm_cache *cs[2] = {plain, q};
  for (int k = 0; k < 2; k++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s.safetensors", g_qdir, kinds[k]);
    const char *mk[1] = {"model"}, *mv[1] = {"random"};
    MXT_CHECK(mx_lm_cache_save(cs[k], 2, path, mk, mv, 1) == MX_OK, "save %s: %s",
              kinds[k], mx_last_error());
    mx_array_map *md = NULL;
    mx_lm_cache *back = mx_lm_cache_load(m, path, &md);
    MXT_CHECK(back != NULL, "load %s: %s", kinds[k], mx_last_error());
    if (!back) {
      mx_clear_error();
      continue;
    }
    MXT_CHECK(md && !strcmp(mx_array_map_meta(md, "model"), "random"), "metadata");
    MXT_CHECK(mx_lm_cache_offset(back) == 30, "offset %d", mx_lm_cache_offset(back));
    double *a = mxt_to_f64(
        mx_lm_forward(m, mx_array_from_data(ids + 30, s1, 2, MX_INT32), cs[k]));
    double *b =
        mxt_to_f64(mx_lm_forward(m, mx_array_from_data(ids + 30, s1, 2, MX_INT32), back));
    double d = 0;
    for (int v = 0; v < V; v++) d = fmax(d, fabs(a[v] - b[v]));
    MXT_CHECK(d < 1e-5, "%s: continued from file differs by %.3g", kinds[k], d);
    free(a);
    free(b);
    mx_array_map_free(md);
    mx_lm_cache_free(back);
  }
  /* not a cache file */
  char bad[256];
  snprintf(bad, sizeof bad, "%s/model.safetensors", g_qdir);
  MXT_CHECK(mx_lm_cache_load(m, bad, NULL) == NULL &&
                strstr(mx_last_error(), "not a prompt cache"),
            "model file rejected: %s", mx_last_error());
  mx_clear_error();
  mx_lm_cache_free(plain);
  mx_lm_cache_free(q);
  mx_lm_free(m);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_qdir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

/* broken model directories name the tensor at fault */
static void test_load_errors(void) {
  char dir[] = "/tmp/mx_badmodel_XXXXXX";
  MXT_CHECK(mkdtemp(dir) != NULL, "tmp");
  char cmd[1024], p[512];
  snprintf(cmd, sizeof cmd, "cp %s/config.json %s/",
           mxt_src_path("tests/fixtures/models/tiny-llama-tied"), dir);
  MXT_CHECK(system(cmd) == 0, "copy");
  mx_array_map *w = mx_load_safetensors(
      mxt_src_path("tests/fixtures/models/tiny-llama-tied/model.safetensors"));
  MXT_OK(w);
  if (!w) return;
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  struct {
    const char *what, *expect;
  } cases[3] = {{"missing", "missing tensor model.layers.1.mlp.up_proj.weight"},
                {"extra", "unexpected tensor model.layers.0.mlp.extra.weight"},
                {"shape", "model.norm.weight has shape"}};
  for (int c = 0; c < 3; c++) {
    mx_array_map *m = mx_load_safetensors(
        mxt_src_path("tests/fixtures/models/tiny-llama-tied/model.safetensors"));
    if (c == 0) mx_array_map_remove(m, "model.layers.1.mlp.up_proj.weight");
    if (c == 1)
      mx_array_map_set(m, "model.layers.0.mlp.extra.weight",
                       mx_array_map_get(m, "model.norm.weight"));
    if (c == 2) {
      int s = 63;
      mx_array_map_set(m, "model.norm.weight", mx_ones(&s, 1, MX_FLOAT32));
    }
    remove(p);
    mx_save_safetensors(p, m);
    mx_array_map_free(m);
    mx_lm_model *lm = mx_lm_load(dir, NULL);
    MXT_CHECK(lm == NULL && strstr(mx_last_error(), cases[c].expect), "%s: %s",
              cases[c].what, mx_last_error());
    mx_lm_free(lm);
    mx_clear_error();
  }
  mx_array_map_free(w);
  /* bad config */
  snprintf(p, sizeof p, "%s/config.json", dir);
  FILE *f = fopen(p, "w");
  fputs(
      "{\"model_type\": \"gpt-unknown\", \"hidden_size\": 8, \"num_hidden_layers\": 1, "
      "\"num_attention_heads\": 1, \"vocab_size\": 4}",
      f);
  fclose(f);
  MXT_CHECK(mx_lm_load(dir, NULL) == NULL && strstr(mx_last_error(), "not supported"),
            "type: %s", mx_last_error());
  mx_clear_error();
  f = fopen(p, "w");
  fputs("{not json", f);
  fclose(f);
  MXT_CHECK(mx_lm_load(dir, NULL) == NULL && strstr(mx_last_error(), "not a JSON object"),
            "json: %s", mx_last_error());
  mx_clear_error();
  /* numbers no int holds, and rope values no model has (fuzz_config found
   * the first as an undefined double -> int conversion under UBSan); the
   * first of duplicate keys counts, as in cJSON */
  const struct {
    const char *json, *expect;
  } bad[] = {
      {"\"num_attention_heads\": 4e44", "[lm_load]"},
      {"\"num_hidden_layers\": -1e300", "invalid sizes"},
      {"\"partial_rotary_factor\": 1e30", "partial_rotary_factor"},
      {"\"partial_rotary_factor\": 0", "partial_rotary_factor"},
      {"\"rope_theta\": -5", "rope_theta"},
      {"\"head_dim\": 2147483647", "sizes out of range"},
      {"\"intermediate_size\": 1e12", "sizes out of range"},
  };
  for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
    f = fopen(p, "w");
    fprintf(f,
            "{%s, \"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": "
            "2, \"num_attention_heads\": 4, \"vocab_size\": 256}",
            bad[b].json);
    fclose(f);
    mx_lm_model *lm = mx_lm_load(dir, NULL);
    MXT_CHECK(lm == NULL && strstr(mx_last_error(), bad[b].expect), "%s: %s", bad[b].json,
              mx_last_error());
    mx_lm_free(lm);
    mx_clear_error();
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
  /* bad forward input */
  mx_lm_model *m = mx_lm_load(stories(), NULL);
  float x[2] = {1, 2};
  int s2[2] = {1, 2};
  MXT_CHECK(mx_lm_forward(m, mx_array_from_data(x, s2, 2, MX_FLOAT32), NULL) == NULL,
            "float ids");
  mx_clear_error();
  int32_t big[2] = {1, 100000};
  mx_array *l = mx_lm_forward(m, mx_array_from_data(big, s2, 2, MX_INT32), NULL);
  MXT_CHECK(l == NULL || mx_eval1(l) != MX_OK,
            "out-of-range id is an error, not a crash");
  mx_clear_error();
  mx_lm_free(m);
}

/* An mlx-community style quantized checkpoint (uint32 weights, scales,
 * biases, "quantization" in config.json with a per-layer override) gives the
 * logits of the float model holding the dequantized weights. */
static void test_quantized_checkpoint(void) {
  const char *src = mxt_src_path("tests/fixtures/models/tiny-llama-tied");
  char qdir[] = "/tmp/mx_q_XXXXXX", fdir[] = "/tmp/mx_f_XXXXXX";
  MXT_CHECK(mkdtemp(qdir) && mkdtemp(fdir), "tmp dirs");
  char p[512];
  snprintf(p, sizeof p, "%s/model.safetensors", src);
  mx_array_map *w = mx_load_safetensors(p);
  mx_array_map *qm = mx_array_map_new(), *fm = mx_array_map_new();
  MXT_OK(w);
  if (!w) return;
  for (int i = 0; i < mx_array_map_size(w); i++) {
    const char *name = mx_array_map_name(w, i);
    mx_array *a = mx_array_map_at(w, i);
    size_t L = strlen(name);
    bool linear = mx_array_ndim(a) == 2 && L > 7 && !strcmp(name + L - 7, ".weight");
    if (!linear) {
      mx_array_map_set(qm, name, a);
      mx_array_map_set(fm, name, a);
      continue;
    }
    /* layer 1's down_proj gets 8 bits through a per-layer override */
    int bits = strstr(name, "layers.1.mlp.down_proj") ? 8 : 4, gs = 32;
    mx_array *wq, *sc, *bi;
    MXT_CHECK(mx_quantize(a, gs, bits, &wq, &sc, &bi) == MX_OK, "quantize %s", name);
    char base[256], k[300];
    snprintf(base, sizeof base, "%.*s", (int)(L - 7), name);
    mx_array_map_set(qm, name, wq);
    snprintf(k, sizeof k, "%s.scales", base);
    mx_array_map_set(qm, k, sc);
    snprintf(k, sizeof k, "%s.biases", base);
    mx_array_map_set(qm, k, bi);
    mx_array_map_set(fm, name, mx_dequantize(wq, sc, bi, gs, bits));
  }
  snprintf(p, sizeof p, "%s/model.safetensors", qdir);
  MXT_CHECK(mx_save_safetensors(p, qm) == MX_OK, "save q");
  snprintf(p, sizeof p, "%s/model.safetensors", fdir);
  MXT_CHECK(mx_save_safetensors(p, fm) == MX_OK, "save f");
  /* configs: the float copy as is, the quantized one with the block */
  snprintf(p, sizeof p, "%s/config.json", src);
  cJSON *cfg = mxt_read_json(p);
  snprintf(p, sizeof p, "%s/config.json", fdir);
  MXT_CHECK(mxt_write_json(p, cfg), "write %s", p);
  cJSON *q = cJSON_AddObjectToObject(cfg, "quantization");
  cJSON_AddNumberToObject(q, "group_size", 32);
  cJSON_AddNumberToObject(q, "bits", 4);
  cJSON *ov = cJSON_AddObjectToObject(q, "model.layers.1.mlp.down_proj");
  cJSON_AddNumberToObject(ov, "group_size", 32);
  cJSON_AddNumberToObject(ov, "bits", 8);
  snprintf(p, sizeof p, "%s/config.json", qdir);
  MXT_CHECK(mxt_write_json(p, cfg), "write %s", p);
  cJSON_Delete(cfg);
  mx_lm_model *mq = mx_lm_load(qdir, NULL), *mf = mx_lm_load(fdir, NULL);
  MXT_CHECK(mq && mf, "load: %s", mx_last_error());
  if (mq && mf) {
    int32_t ids[12] = {1, 5, 9, 77, 100, 3, 250, 42, 8, 8, 300, 17};
    int s[2] = {1, 12};
    mx_array *x = mx_array_from_data(ids, s, 2, MX_INT32);
    double *a = mxt_to_f64(mx_lm_forward(mq, x, NULL)),
           *b = mxt_to_f64(mx_lm_forward(mf, x, NULL));
    double d = 0, mb = 0;
    for (int i = 0; i < 12 * 384 && a && b; i++) {
      d = fmax(d, fabs(a[i] - b[i]));
      mb = fmax(mb, fabs(b[i]));
    }
    MXT_CHECK(a && b && d <= 1e-4 * mb, "quantized vs dequantized float: %.3g of %.3g", d,
              mb);
    free(a);
    free(b);
    /* a 40-token prefill with int8 activations (mx_set_int8_activations):
     * where the CPU has VNNI, its products differ from the exact ones but
     * stay close to the float model's logits. Each product is checked
     * against its own error bound in test_quant; here the noise of int8
     * activations (about 5x that of bfloat16 ones) goes through two random
     * layers: 4.8% of the largest logit measured, against O(1) for a wrong
     * scale or layout. */
    int32_t pid[40];
    for (int i = 0; i < 40; i++) pid[i] = (i * 37 + 11) % 300;
    int s40[2] = {1, 40};
    mx_array *x40 = mx_array_from_data(pid, s40, 2, MX_INT32);
    mx_set_int8_activations(false); /* whatever MX_INT8_ACTIVATIONS says */
    mx_array *le = mx_lm_forward(mq, x40, NULL);
    mx_eval1(le);
    mx_set_int8_activations(true);
    mx_array *li = mx_lm_forward(mq, x40, NULL);
    mx_eval1(li);
    mx_set_int8_activations(false);
    double *e = mxt_to_f64(le), *g = mxt_to_f64(li),
           *f = mxt_to_f64(mx_lm_forward(mf, x40, NULL));
    double dg = 0, de = 0, mf2 = 0;
    for (int i = 0; i < 40 * 384 && e && g && f; i++) {
      dg = fmax(dg, fabs(g[i] - f[i]));
      de = fmax(de, fabs(e[i] - f[i]));
      mf2 = fmax(mf2, fabs(f[i]));
    }
    MXT_CHECK(e && g && f && dg <= 0.1 * mf2, "int8 activations vs float: %.3g of %.3g",
              dg, mf2);
    if (mx_gemm_i8_preferred()) /* (with AMX, prefill keeps the exact tiles) */
      MXT_CHECK(dg > de, "int8 activations took their path (%.3g vs exact %.3g)", dg, de);
    /* decode with int8 activations (the row kernel, the grouped q/k/v and
     * gate/up products): the 40th token after a cached 39-token prefill */
    mx_lm_cache *cc = mx_lm_cache_new(mq, NULL);
    int s39[2] = {1, 39}, s1[2] = {1, 1};
    mx_set_int8_activations(true);
    mx_eval1(mx_lm_forward(mq, mx_array_from_data(pid, s39, 2, MX_INT32), cc));
    mx_array *ld = mx_lm_forward(mq, mx_array_from_data(pid + 39, s1, 2, MX_INT32), cc);
    mx_eval1(ld);
    mx_set_int8_activations(false);
    double *dd = mxt_to_f64(ld), dmax = 0, demax = 0;
    for (int v = 0; v < 384 && dd && e && f; v++) {
      dmax = fmax(dmax, fabs(dd[v] - f[39 * 384 + v]));
      demax = fmax(demax, fabs(dd[v] - e[39 * 384 + v]));
    }
    MXT_CHECK(dd && dmax <= 0.1 * mf2, "int8 decode vs float: %.3g of %.3g", dmax, mf2);
    if (mx_gemm_i8_available()) MXT_CHECK(demax > 0, "int8 decode took its path");
    printf("  int8 decode: max logit error %.3g of max %.3g\n", dmax, mf2);
    free(dd);
    mx_lm_cache_free(cc);
    printf("  int8 activations: max logit error %.3g (exact path %.3g) of max %.3g\n", dg,
           de, mf2);
    free(e), free(g), free(f);
  }
  mx_lm_free(mq);
  mx_lm_free(mf);
  /* a wrong override (bits that do not match the packed width) is refused */
  snprintf(p, sizeof p, "%s/config.json", qdir);
  cfg = mxt_read_json(p);
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cfg, "quantization"),
                             "model.layers.1.mlp.down_proj");
  MXT_CHECK(mxt_write_json(p, cfg), "write %s", p);
  cJSON_Delete(cfg);
  mq = mx_lm_load(qdir, NULL);
  MXT_CHECK(mq == NULL && strstr(mx_last_error(), "down_proj"), "bad bits named: %s",
            mx_last_error());
  mx_clear_error();
  mx_lm_free(mq);
  /* formats MLX does not have: 7 bits, groups of 48 */
  for (int bad = 0; bad < 2; bad++) {
    cfg = mxt_read_json(p);
    cJSON *qc = cJSON_GetObjectItem(cfg, "quantization");
    cJSON_ReplaceItemInObject(qc, bad ? "group_size" : "bits",
                              cJSON_CreateNumber(bad ? 48 : 7));
    MXT_CHECK(mxt_write_json(p, cfg), "write %s", p);
    cJSON_Delete(cfg);
    mq = mx_lm_load(qdir, NULL);
    MXT_CHECK(mq == NULL && strstr(mx_last_error(), "bad quantization"), "%s: %s",
              bad ? "group 48" : "bits 7", mx_last_error());
    mx_clear_error();
    mx_lm_free(mq);
  }
  mx_array_map_free(w);
  mx_array_map_free(qm);
  mx_array_map_free(fm);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", qdir, fdir);
  MXT_CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
  MXT_RUN(test_quantized_checkpoint);
  MXT_RUN(test_samplers);
  MXT_RUN(test_greedy_large);
  MXT_RUN(test_filters_large);
  MXT_RUN(test_top_alternatives);
  MXT_RUN(test_stop_strings);
  MXT_RUN(test_batch_equals_single);
  MXT_RUN(test_prefill_memory);
  MXT_RUN(test_peak_counts_weights);
  MXT_RUN(test_forward_last);
  MXT_RUN(test_rotating_cache_window);
  MXT_RUN(test_quantized_cache_and_files);
  MXT_RUN(test_load_errors);
  return mxt_finish();
}
