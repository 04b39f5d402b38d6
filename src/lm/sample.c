/* sample.c: samplers and logits processors with mlx-lm's semantics, on the
 * host (one (V,) float row per step): logit bias, repetition / presence /
 * frequency penalties over a context window, then greedy or top_k, top_p,
 * min_p and XTC filters on log-probabilities followed by a categorical draw
 * at temperature `temp`. The RNG is a seeded xoshiro256**, so a seed
 * reproduces a run. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/qsimd.h"
#include "../backend/cpu/simd.h"
#include "../primitives/unary.h"
#include "model.h"

struct mx_lm_sampler {
  mx_lm_sampler_params p;
  uint64_t s[4];
  float *work; /* V */
  int *order;  /* V */
  int cap;
};

void mx_lm_sampler_defaults(mx_lm_sampler_params *p) {
  memset(p, 0, sizeof *p);
  p->min_tokens_to_keep = 1;
  p->repetition_context_size = 20;
  p->presence_context_size = 20;
  p->frequency_context_size = 20;
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(mx_lm_sampler *s) {
  uint64_t r = rotl(s->s[1] * 5, 7) * 9, t = s->s[1] << 17;
  s->s[2] ^= s->s[0];
  s->s[3] ^= s->s[1];
  s->s[1] ^= s->s[2];
  s->s[0] ^= s->s[3];
  s->s[2] ^= t;
  s->s[3] = rotl(s->s[3], 45);
  return r;
}

static double next_unit(mx_lm_sampler *s) {
  return (double)(next_u64(s) >> 11) * 0x1.0p-53;
}

mx_lm_sampler *mx_lm_sampler_new(const mx_lm_sampler_params *p) {
  mx_lm_sampler *s = calloc(1, sizeof *s);
  if (!s) {
    mx_set_error(MX_ERR_NOMEM, "[sampler] out of memory");
    return NULL;
  }
  if (p)
    s->p = *p;
  else
    mx_lm_sampler_defaults(&s->p);
  /* each parameter's range, named in the error (NaN fails every test) */
  const struct {
    const char *name;
    double v, lo, hi;
  } rng[] = {{"temp", s->p.temp, 0, HUGE_VAL},
             {"top_p", s->p.top_p, 0, 1},
             {"min_p", s->p.min_p, 0, 1},
             {"top_k", s->p.top_k, 0, HUGE_VAL},
             {"xtc_probability", s->p.xtc_probability, 0, 1},
             {"xtc_threshold", s->p.xtc_threshold, 0, 0.5},
             {"repetition_penalty", s->p.repetition_penalty, 0, HUGE_VAL}};
  for (size_t i = 0; i < sizeof rng / sizeof *rng; i++)
    if (!(rng[i].v >= rng[i].lo && rng[i].v <= rng[i].hi)) {
      free(s);
      if (rng[i].hi == HUGE_VAL)
        mx_set_error(MX_ERR_INVALID, "[sampler] %s must be >= 0, got %g", rng[i].name,
                     rng[i].v);
      else
        mx_set_error(MX_ERR_INVALID, "[sampler] %s must be in [%g, %g], got %g",
                     rng[i].name, rng[i].lo, rng[i].hi, rng[i].v);
      return NULL;
    }
  uint64_t x = s->p.seed;
  for (int i = 0; i < 4; i++) s->s[i] = splitmix(&x);
  return s;
}

void mx_lm_sampler_free(mx_lm_sampler *s) {
  if (!s) return;
  free(s->work);
  free(s->order);
  free(s);
}

/* qsort has no context argument: the keys go through a thread-local */
static _Thread_local const float *t_keys;
static int by_value_desc(const void *a, const void *b) {
  float x = t_keys[*(const int *)a], y = t_keys[*(const int *)b];
  if (x > y) return -1;
  if (x < y) return 1;
  return *(const int *)a - *(const int *)b;
}

/* sum of t[0..n) in double, in 8 interleaved partial sums (independent
 * chains the compiler vectorizes; one serial chain cost ~4 cycles per entry
 * over a 152K vocabulary) added in a fixed order: the same on every ISA */
static double sum_f64(const float *t, int n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) s[j] += (double)t[i + j];
  for (; i < n; i++) s[i % 8] += (double)t[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void log_softmax(float *x, int V) {
  /* vector max (exact; NaN entries skipped as in `x > m ? x : m`) */
  float mx = mx_max_f32(x, V, -INFINITY);
  if (mx == -INFINITY) return;
  /* sum of exp(x - max): the vector float32 exp over L1-sized chunks,
   * summed in double (a serial libm exp per entry cost ~0.9 ms per token
   * for a 152K vocabulary) */
  double sum = 0;
  float t[2048];
  for (int i0 = 0; i0 < V; i0 += 2048) {
    int n = V - i0 < 2048 ? V - i0 : 2048;
    for (int i = 0; i < n; i++) t[i] = x[i0 + i] - mx;
    if (!mx_simd_unary(MX_UOP_EXP, MX_FLOAT32, n, t, t, false))
      for (int i = 0; i < n; i++) t[i] = expf(t[i]);
    sum += sum_f64(t, n);
  }
  float lse = mx + (float)log(sum);
  for (int i = 0; i < V; i++) x[i] -= lse;
}

/* The first index of the largest entry, NaN entries skipped, and 0 when
 * x[0] is NaN or nothing is above -inf: what `if (x[i] > x[best]) best = i`
 * returns, found with a vector max and a vector search for its first
 * occurrence. */
static int argmax_first(const float *x, int V) {
  if (isnan(x[0])) return 0;
  float m = mx_max_f32(x, V, -INFINITY);
  if (m == -INFINITY) return 0;
  for (int i0 = 0; i0 < V; i0 += 256) {
    int n = V - i0 < 256 ? V - i0 : 256, hit = 0;
    for (int i = 0; i < n; i++) hit |= x[i0 + i] == m;
    if (!hit) continue;
    for (int i = 0; i < n; i++)
      if (x[i0 + i] == m) return i0 + i;
  }
  return 0; /* not reached: m is one of the entries */
}

static void penalties(mx_lm_sampler *s, float *x, int V, const int32_t *h, int nh) {
  const mx_lm_sampler_params *p = &s->p;
  for (int i = 0; i < p->n_logit_bias; i++) {
    int id = p->logit_bias_ids[i];
    if (id >= 0 && id < V) x[id] += p->logit_bias_values[i];
  }
  if (p->repetition_penalty > 0 && p->repetition_penalty != 1 && nh > 0) {
    int n = p->repetition_context_size > 0 ? p->repetition_context_size : nh;
    int start = nh > n ? nh - n : 0;
    /* each distinct token once (mlx-lm gathers unique positions via indexing) */
    for (int i = start; i < nh; i++) {
      int id = h[i];
      if (id < 0 || id >= V) continue;
      bool dup = false;
      for (int j = start; j < i && !dup; j++) dup = h[j] == id;
      if (dup) continue;
      x[id] = x[id] < 0 ? x[id] * p->repetition_penalty : x[id] / p->repetition_penalty;
    }
  }
  if ((p->presence_penalty != 0 || p->frequency_penalty != 0) && nh > 0) {
    int np = p->presence_context_size > 0 ? p->presence_context_size : nh;
    int nf = p->frequency_context_size > 0 ? p->frequency_context_size : nh;
    for (int i = nh > np ? nh - np : 0; i < nh && p->presence_penalty != 0; i++) {
      int id = h[i];
      bool dup = false;
      for (int j = nh > np ? nh - np : 0; j < i && !dup; j++) dup = h[j] == id;
      if (!dup && id >= 0 && id < V) x[id] -= p->presence_penalty;
    }
    for (int i = nh > nf ? nh - nf : 0; i < nh && p->frequency_penalty != 0; i++) {
      int id = h[i];
      if (id >= 0 && id < V) x[id] -= p->frequency_penalty;
    }
  }
}

int32_t mx_lm_sampler_next(mx_lm_sampler *s, const float *logits, int V,
                           const int32_t *history, int nhistory, float *logprobs) {
  if (V <= 0) return -1;
  if (s->cap < V) {
    float *w = realloc(s->work, (size_t)V * sizeof *w);
    int *o = realloc(s->order, (size_t)V * sizeof *o);
    if (!w || !o) {
      if (w) s->work = w;
      if (o) s->order = o;
      mx_set_error(MX_ERR_NOMEM, "[sampler] out of memory");
      return -1;
    }
    s->work = w;
    s->order = o;
    s->cap = V;
  }
  float *x = s->work;
  memcpy(x, logits, (size_t)V * sizeof *x);
  penalties(s, x, V, history, nhistory);
  log_softmax(x, V);
  if (logprobs) memcpy(logprobs, x, (size_t)V * sizeof *x);
  const mx_lm_sampler_params *p = &s->p;
  if (p->temp == 0) return argmax_first(x, V);
  /* indices by logprob, descending; only the filters need the order, so a
   * plain temperature draw skips the O(V log V) sort */
  int *ord = s->order;
  for (int i = 0; i < V; i++) ord[i] = i;
  bool filters = (p->top_k > 0 && p->top_k < V) || (p->top_p > 0 && p->top_p < 1) ||
                 p->min_p > 0 || p->xtc_probability > 0;
  if (filters) {
    t_keys = x;
    qsort(ord, (size_t)V, sizeof *ord, by_value_desc);
  }
  if (p->top_k > 0 && p->top_k < V)
    for (int r = p->top_k; r < V; r++) x[ord[r]] = -INFINITY;
  if (p->top_p > 0 && p->top_p < 1) {
    /* keep the smallest top set whose mass exceeds top_p (mlx-lm keeps
     * tokens whose ascending cumulative mass is > 1 - top_p) */
    double cum = 0;
    for (int r = V - 1; r >= 0; r--) {
      double pr = exp((double)x[ord[r]]);
      cum += pr;
      if (cum <= 1.0 - p->top_p) x[ord[r]] = -INFINITY;
    }
  }
  if (p->min_p > 0) {
    float thresh = x[ord[0]] + logf(p->min_p);
    int keep = p->min_tokens_to_keep > 0 ? p->min_tokens_to_keep : 1;
    for (int r = keep; r < V; r++)
      if (x[ord[r]] < thresh) x[ord[r]] = -INFINITY;
  }
  if (p->xtc_probability > 0 && next_unit(s) < p->xtc_probability) {
    /* remove every token above the threshold except the least likely of them */
    int last_above = -1;
    for (int r = 0; r < V; r++)
      if (exp((double)x[ord[r]]) > p->xtc_threshold) last_above = r;
    for (int r = 0; r < last_above; r++) {
      int id = ord[r];
      bool special = false;
      for (int k = 0; k < p->n_xtc_special; k++)
        special |= p->xtc_special_tokens[k] == id;
      if (!special) x[id] = -INFINITY;
    }
  }
  /* categorical draw from softmax(x / temp) */
  float inv_t = 1.0f / p->temp;
  float mx = -INFINITY;
  for (int i = 0; i < V; i++)
    if (x[i] * inv_t > mx) mx = x[i] * inv_t;
  double total = 0;
  for (int i = 0; i < V; i++)
    total += x[i] == -INFINITY ? 0 : exp((double)x[i] * inv_t - mx);
  double u = next_unit(s) * total, acc = 0;
  int last = ord[0];
  for (int r = 0; r < V; r++) {
    int id = ord[r];
    if (x[id] == -INFINITY) continue;
    acc += exp((double)x[id] * inv_t - mx);
    last = id;
    if (u < acc) return id;
  }
  return last;
}
