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
  float *work;    /* V */
  int *order;     /* V: radix candidates, then the survivors (index order) */
  uint32_t *keys; /* V: order keys of work (filter) */
  float *probs;   /* V: exp of the logprobs (top_p) */
  double *csum;   /* (V + 2047) / 2048: the draw's chunk sums */
  /* the filters' histograms (about 150 KB: off the stack, so that a
   * sampler runs on threads with small stacks) */
  struct filt_scratch *fs;
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
  free(s->keys);
  free(s->probs);
  free(s->csum);
  free(s->fs);
  free(s);
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

/* The log-sum-exp of x (V entries) into *lse and its max into *mx; false
 * (nothing written) when no entry is above -inf. The sum of exp(x - max)
 * runs through the vector float32 exp over L1-sized chunks, summed in
 * double (a serial libm exp per entry cost ~0.9 ms per token for a 152K
 * vocabulary). NaN entries (skipped by the max) make the sum NaN. */
static bool log_sum_exp(const float *x, int V, float *lse, float *mx) {
  /* vector max (exact; NaN entries skipped as in `x > m ? x : m`) */
  const float m = mx_max_f32(x, V, -INFINITY);
  if (m == -INFINITY) return false;
  double sum = 0;
  float t[2048];
  for (int i0 = 0; i0 < V; i0 += 2048) {
    int n = V - i0 < 2048 ? V - i0 : 2048;
    for (int i = 0; i < n; i++) t[i] = x[i0 + i] - m;
    if (!mx_simd_unary(MX_UOP_EXP, MX_FLOAT32, n, t, t, false))
      for (int i = 0; i < n; i++) t[i] = expf(t[i]);
    sum += sum_f64(t, n);
  }
  *lse = m + (float)log(sum);
  *mx = m;
  return true;
}

/* x = log_softmax(src) (src may be x), also written to lp when not NULL */
static void log_softmax(const float *src, float *x, int V, float *lp) {
  float lse, mx;
  if (!log_sum_exp(src, V, &lse, &mx)) {
    if (x != src) memcpy(x, src, (size_t)V * sizeof *x);
    if (lp) memcpy(lp, src, (size_t)V * sizeof *x);
    return;
  }
  if (lp)
    for (int i = 0; i < V; i++) lp[i] = x[i] = src[i] - lse;
  else
    for (int i = 0; i < V; i++) x[i] = src[i] - lse;
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

/* Greedy without penalties: argmax_first of log_softmax(logits), with
 * the logprobs written to lp when not NULL, without a copy of the row.
 * log_softmax subtracts one lse from every entry, so its largest entries
 * are the first ones whose x - lse rounds to max - lse. */
static int greedy(const float *logits, int V, float *lp) {
  float lse, mx;
  if (!log_sum_exp(logits, V, &lse, &mx)) {
    if (lp) memcpy(lp, logits, (size_t)V * sizeof *lp);
    return argmax_first(logits, V);
  }
  if (lp)
    for (int i = 0; i < V; i++) lp[i] = logits[i] - lse;
  if (lse != lse) return 0; /* a NaN or +inf logit: every logprob is NaN */
  const float top = mx - lse;
  for (int i0 = 0; i0 < V; i0 += 256) {
    int n = V - i0 < 256 ? V - i0 : 256, hit = 0;
    for (int i = 0; i < n; i++) hit |= logits[i0 + i] - lse == top;
    if (!hit) continue;
    for (int i = 0; i < n; i++)
      if (logits[i0 + i] - lse == top) return i0 + i;
  }
  return 0; /* not reached: max - lse is one of the entries */
}

static bool has_penalties(const mx_lm_sampler_params *p) {
  return p->n_logit_bias > 0 ||
         (p->repetition_penalty > 0 && p->repetition_penalty != 1) ||
         p->presence_penalty != 0 || p->frequency_penalty != 0;
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

/* ---- filters ----
 * mlx-lm defines top_k, top_p, min_p and XTC on the tokens sorted by
 * logprob (descending; ties here by index), and each keeps a prefix of that
 * order. Sorting V entries per token cost 17-20 ms for a 152K vocabulary, so
 * the prefixes are found without a sort: a prefix is named by its last
 * rank, found by a radix walk over the values' order keys (11, 11 and 10
 * bits, with the count or the probability mass of each bucket), and the
 * survivors are then the tokens at or before that rank. The draw visits
 * them in index order. */

/* a key whose unsigned order is the float order: NaN lowest, -0 as +0 */
static inline uint32_t order_key(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  const uint32_t a = u & 0x7fffffffu;
  /* negative: ~u; positive: u | sign bit (branch-free, so loops vectorize) */
  uint32_t key = u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);
  key = a == 0 ? 0x80000000u : key;
  return a > 0x7f800000u ? 0 : key;
}

/* level 0 of the radix walk (the keys' top 11 bits): tokens per bucket, and
 * their probability mass when top_p needs it */
typedef struct {
  int cnt[2048];
  double mass[2048]; /* exact above bucket floor (top_p) */
  int floor;         /* buckets <= floor hold no survivor (0: none known) */
} hist0;

struct filt_scratch {
  hist0 h0;
  int h4[4][2048];    /* keys_and_counts */
  double m4[4][2048]; /* top_p's masses */
  double W[2048];     /* last_below's levels 1 and 2 */
  int cnt[2048];
};

/* k[i] = order_key(x[i]) and h->cnt (four interleaved histograms: runs of
 * equal keys would serialize one counter's increments) */
static void keys_and_counts(const float *x, int V, uint32_t *k, hist0 *h,
                            int (*h4)[2048]) {
  for (int i = 0; i < V; i++) k[i] = order_key(x[i]);
  memset(h4, 0, 4 * sizeof *h4);
  int i = 0;
  for (; i + 4 <= V; i += 4)
    for (int j = 0; j < 4; j++) h4[j][k[i + j] >> 21]++;
  for (; i < V; i++) h4[0][k[i] >> 21]++;
  for (int b = 0; b < 2048; b++) h->cnt[b] = h4[0][b] + h4[1][b] + h4[2][b] + h4[3][b];
  h->floor = 0;
}

/* the float whose order key is k (k of a non-NaN value) */
static inline float key_value(uint32_t k) {
  uint32_t u = k >> 31 ? k & 0x7fffffffu : ~k;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* a rank in the order: the token idx, with order key key */
typedef struct {
  uint32_t key;
  int idx;
} rank_t;

/* whether token (k, i) is at or before rank c */
static inline bool at_or_before(uint32_t k, int i, rank_t c) {
  return k > c.key || (k == c.key && i <= c.idx);
}

/* rank 0: the largest key, its first index */
static rank_t top_rank(const uint32_t *k, int V) {
  rank_t r = {k[0], 0};
  for (int i = 1; i < V; i++)
    if (k[i] > r.key) r = (rank_t){k[i], i};
  return r;
}

/* The last rank r whose weight above it (the sum of w over ranks < r) is
 * below T, over the tokens whose keys are k[0..V) (w NULL: weight 1 each).
 * Three levels of buckets, each over the candidates that share the digits
 * fixed so far (level 0 from h0); equal keys in index order. Rank 0 when
 * T <= 0. */
static rank_t last_below(mx_lm_sampler *s, const uint32_t *k, const float *w, int V,
                         double T, const hist0 *h0) {
  if (!(T > 0)) return top_rank(k, V);
  static const int shift[3] = {21, 10, 0}, width[3] = {11, 11, 10};
  int *cand = s->order; /* the candidates, in index order (from level 1) */
  int n = 0;
  uint32_t prefix = 0;
  double acc = 0; /* weight of the tokens above the candidates */
  for (int lv = 0; lv < 3; lv++) {
    const int nb = 1 << width[lv], sh = shift[lv];
    double *W = s->fs->W;
    memset(W, 0, sizeof(double) * nb);
    int *cnt = s->fs->cnt;
    memset(cnt, 0, sizeof(int) * nb);
    if (lv == 0) {
      for (int b = 0; b < nb; b++) cnt[b] = h0->cnt[b];
      for (int b = 0; b < nb; b++) W[b] = w ? h0->mass[b] : h0->cnt[b];
    } else {
      for (int j = 0; j < n; j++) {
        int i = cand[j];
        int b = (int)(k[i] >> sh) & (nb - 1);
        cnt[b]++;
        W[b] += w ? (double)w[i] : 1.0;
      }
    }
    /* the lowest non-empty bucket whose weight above is below T */
    int pick = -1;
    double above = acc, pick_acc = acc;
    const int lowest = lv == 0 && w ? h0->floor + 1 : 0;
    for (int b = nb - 1; b >= lowest && above < T; b--) {
      if (!cnt[b]) continue;
      pick = b;
      pick_acc = above;
      above += W[b];
    }
    if (pick < 0) return top_rank(k, V); /* (not reached: rank 0 qualifies) */
    prefix |= (uint32_t)pick << sh;
    acc = pick_acc;
    /* keep the candidates in the picked bucket (in index order); at level
     * 0, blocks of 64 tokens with no key in the bucket are skipped after a
     * vector test */
    int nn = 0;
    if (lv == 0) {
      const uint32_t lo = (uint32_t)pick << sh, hi = lo | ((1u << sh) - 1);
      for (int i0 = 0; i0 < V; i0 += 64) {
        const int e = V - i0 < 64 ? V : i0 + 64;
        unsigned any = 0;
        for (int i = i0; i < e; i++) any |= (unsigned)(k[i] - lo <= hi - lo);
        if (any)
          for (int i = i0; i < e; i++)
            if (k[i] - lo <= hi - lo) cand[nn++] = i;
      }
    } else {
      for (int j = 0; j < n; j++) {
        int i = cand[j];
        if ((int)(k[i] >> sh & (uint32_t)(nb - 1)) == pick) cand[nn++] = i;
      }
    }
    n = nn;
  }
  /* equal keys: the last one, in index order, whose weight above is below T */
  int last = cand[0];
  for (int j = 0; j < n && acc < T; j++) {
    last = cand[j];
    acc += w ? (double)w[cand[j]] : 1.0;
  }
  return (rank_t){prefix, last};
}

/* the earlier of two ranks */
static rank_t rank_min(rank_t a, rank_t b) {
  return at_or_before(a.key, a.idx, b) ? a : b;
}

/* t[0..c) = exp(x[i] * scale - shift) for the tokens i = idx[j0 + j] (or
 * j0 + j), through the vector float32 exp (c <= 2048) */
static void exp_block(const float *x, const int *idx, int j0, int c, float scale,
                      float shift, float *t) {
  for (int j = 0; j < c; j++) t[j] = x[idx ? idx[j0 + j] : j0 + j] * scale - shift;
  if (!mx_simd_unary(MX_UOP_EXP, MX_FLOAT32, c, t, t, false))
    for (int j = 0; j < c; j++) t[j] = expf(t[j]);
}

static int count_ge(const float *x, int V, float t) {
  int n = 0;
  for (int i = 0; i < V; i++) n += x[i] >= t;
  return n;
}

/* top_k, top_p, min_p and XTC on the logprobs x (V),
 * in that order: the surviving tokens go to s->order in index order and
 * their number is returned (at least one; XTC's removed tokens are also
 * set to -inf in x). */
static int filter(mx_lm_sampler *s, float *x, int V) {
  const mx_lm_sampler_params *p = &s->p;
  uint32_t *k = s->keys;
  hist0 *h0 = &s->fs->h0;
  keys_and_counts(x, V, k, h0, s->fs->h4);
  rank_t cut = {0, V - 1}; /* the last surviving rank: every token is at or before it */
  bool all = true;         /* no cut yet */
  if (p->top_k > 0 && p->top_k < V) {
    cut = last_below(s, k, NULL, V, p->top_k, h0);
    all = false;
  }
  if (p->top_p > 0 && p->top_p < 1) {
    /* rank r stays while the mass of ranks >= r exceeds 1 - top_p, i.e.
     * while the mass above r is below total - (1 - top_p); ranks past a
     * top_k cut fail that on their own (the mass above them is the total) */
    const double lim = 1.0 - (double)p->top_p;
    /* The lowest buckets whose summed upper bounds of mass (count * exp of
     * the bucket's largest value) stay within 1 - top_p hold no survivor:
     * every rank there has at most that much mass at or below it. Their
     * exact masses are never needed (a long tail of small logprobs is most
     * of a trained model's vocabulary; the per-bucket double sums were the
     * filter's largest cost). Bucket 0 holds only -inf (no mass) and NaN. */
    int floor0 = 0;
    double ub = 0;
    for (int b = 1; b < 2048; b++) {
      if (!h0->cnt[b]) continue;
      ub += h0->cnt[b] * exp((double)key_value((((uint32_t)b + 1) << 21) - 1));
      if (!(ub <= lim)) break;
      floor0 = b;
    }
    float *e = s->probs;
    double(*m4)[2048] = s->fs->m4, total = 0;
    memset(m4, 0, 4 * sizeof *m4);
    const uint32_t kfloor = ((uint32_t)floor0 + 1) << 21;
    for (int i0 = 0; i0 < V; i0 += 2048) {
      int c = V - i0 < 2048 ? V - i0 : 2048;
      exp_block(x, NULL, i0, c, 1.0f, 0.0f, e + i0);
      if (all) total += sum_f64(e + i0, c);
      for (int i = i0; i < i0 + c; i++)
        if (k[i] >= kfloor) m4[i & 3][k[i] >> 21] += e[i];
    }
    for (int b = 0; b < 2048; b++)
      h0->mass[b] = (m4[0][b] + m4[1][b]) + (m4[2][b] + m4[3][b]);
    if (!all)
      for (int i = 0; i < V; i++)
        if (at_or_before(k[i], i, cut)) total += e[i];
    h0->floor = floor0;
    cut = rank_min(cut, last_below(s, k, e, V, total - (1.0 - (double)p->top_p), h0));
  }
  if (p->min_p > 0) {
    /* ranks below min_tokens_to_keep stay, the others need x >= the top's
     * + log(min_p) */
    float top = x[top_rank(k, V).idx];
    int keep = p->min_tokens_to_keep > 0 ? p->min_tokens_to_keep : 1;
    int c = count_ge(x, V, top + logf(p->min_p));
    cut = rank_min(cut, last_below(s, k, NULL, V, c > keep ? c : keep, h0));
  }
  int n = 0;
  int *out = s->order;
  for (int i0 = 0; i0 < V; i0 += 64) { /* blocks of 64 with no key >= the cut's skipped */
    const int e = V - i0 < 64 ? V : i0 + 64;
    unsigned any = 0;
    for (int i = i0; i < e; i++) any |= (unsigned)(k[i] >= cut.key);
    if (any)
      for (int i = i0; i < e; i++)
        if (at_or_before(k[i], i, cut)) out[n++] = i;
  }
  if (p->xtc_probability > 0 && next_unit(s) < p->xtc_probability) {
    /* every token above the threshold except the least likely of them goes
     * (special tokens stay); they are the first ranks */
    const float lt = logf(p->xtc_threshold) - 1e-3f;
    int la = -1; /* the least likely survivor above the threshold */
    for (int j = 0; j < n; j++) {
      int i = out[j];
      if (x[i] >= lt && exp((double)x[i]) > p->xtc_threshold &&
          (la < 0 || !at_or_before(k[i], i, (rank_t){k[la], la})))
        la = i;
    }
    if (la >= 0)
      for (int j = 0; j < n; j++) {
        int i = out[j];
        if (i == la || !at_or_before(k[i], i, (rank_t){k[la], la})) continue;
        bool special = false;
        for (int q = 0; q < p->n_xtc_special; q++)
          special |= p->xtc_special_tokens[q] == i;
        if (!special) x[i] = -INFINITY;
      }
  }
  return n;
}

/* A categorical draw from softmax(x / temp) over the tokens idx[0..n) (or
 * 0..n when idx is NULL), visited in that order; -inf entries have no
 * weight. The weights come from the vector exp per chunk of 2048, whose
 * double sums locate the chunk holding the draw; that chunk is recomputed
 * and walked. idx[0] (or 0) when no token has weight. */
static int draw(mx_lm_sampler *s, const float *x, const int *idx, int n) {
  const float inv_t = 1.0f / s->p.temp;
  float mx = -INFINITY;
  for (int j = 0; j < n; j++) {
    float v = x[idx ? idx[j] : j] * inv_t;
    if (v > mx) mx = v;
  }
  const int first = idx ? idx[0] : 0;
  if (mx == -INFINITY || mx != mx) return first;
  float t[2048];
  const int nc = (n + 2047) / 2048; /* n <= V: s->csum holds them */
  double *cs = s->csum;
  double total = 0;
  for (int c = 0; c < nc; c++) {
    int j0 = c * 2048, m = n - j0 < 2048 ? n - j0 : 2048;
    exp_block(x, idx, j0, m, inv_t, mx, t);
    total += cs[c] = sum_f64(t, m);
  }
  double u = next_unit(s) * total, acc = 0;
  int last = first;
  for (int c = 0; c < nc; c++) {
    int j0 = c * 2048, m = n - j0 < 2048 ? n - j0 : 2048;
    if (acc + cs[c] <= u && c + 1 < nc) {
      acc += cs[c];
      continue;
    }
    exp_block(x, idx, j0, m, inv_t, mx, t);
    for (int j = 0; j < m; j++) {
      if (t[j] == 0) continue;
      acc += t[j];
      last = idx ? idx[j0 + j] : j0 + j;
      if (u < acc) return last;
    }
  }
  return last;
}

/* logits -> the logprobs in s->work after the penalties (also written to
 * logprobs when not NULL); false on allocation failure */
static bool prepare(mx_lm_sampler *s, const float *logits, int V, const int32_t *history,
                    int nhistory, float *logprobs) {
  if (s->cap < V) {
    free(s->work);
    free(s->order);
    free(s->keys);
    free(s->probs);
    free(s->csum);
    s->work = malloc((size_t)V * sizeof *s->work);
    s->order = malloc((size_t)V * sizeof *s->order);
    s->keys = malloc((size_t)V * sizeof *s->keys);
    s->probs = malloc((size_t)V * sizeof *s->probs);
    s->csum = malloc(((size_t)V + 2047) / 2048 * sizeof *s->csum);
    if (!s->fs) s->fs = malloc(sizeof *s->fs);
    s->cap = s->work && s->order && s->keys && s->probs && s->csum && s->fs ? V : 0;
    if (!s->cap) {
      mx_set_error(MX_ERR_NOMEM, "[sampler] out of memory");
      return false;
    }
  }
  const float *src = logits;
  if (has_penalties(&s->p)) { /* on a copy; otherwise straight from logits */
    memcpy(s->work, logits, (size_t)V * sizeof *s->work);
    penalties(s, s->work, V, history, nhistory);
    src = s->work;
  }
  log_softmax(src, s->work, V, logprobs);
  return true;
}

static bool has_filters(const mx_lm_sampler_params *p, int V) {
  return (p->top_k > 0 && p->top_k < V) || (p->top_p > 0 && p->top_p < 1) ||
         p->min_p > 0 || p->xtc_probability > 0;
}

int32_t mx_lm_sampler_next(mx_lm_sampler *s, const float *logits, int V,
                           const int32_t *history, int nhistory, float *logprobs) {
  if (V <= 0) return -1;
  if (s->p.temp == 0 && !has_penalties(&s->p)) return greedy(logits, V, logprobs);
  if (!prepare(s, logits, V, history, nhistory, logprobs)) return -1;
  float *x = s->work;
  if (s->p.temp == 0) return argmax_first(x, V);
  if (!has_filters(&s->p, V)) return draw(s, x, NULL, V);
  int n = filter(s, x, V);
  return draw(s, x, s->order, n);
}

int mx_lm_sampler_survivors(mx_lm_sampler *s, const float *logits, int V,
                            const int32_t *history, int nhistory, int32_t *out) {
  if (V <= 0) return -1;
  if (!prepare(s, logits, V, history, nhistory, NULL)) return -1;
  int n = 0;
  if (!has_filters(&s->p, V)) {
    for (int i = 0; i < V; i++) out[n++] = i;
    return n;
  }
  int m = filter(s, s->work, V);
  for (int j = 0; j < m; j++)
    if (s->work[s->order[j]] != -INFINITY) out[n++] = s->order[j];
  return n;
}
