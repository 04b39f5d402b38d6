/* generate.c: token-level generation: chunked prefill through the KV cache,
 * then one forward per sampled token until an eos id, the callback asks to
 * stop, or max_tokens. Each step runs in its own scope so a long generation
 * holds only the cache and one step's graph. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

void mx_lm_generate_defaults(mx_lm_generate_params *p) {
  memset(p, 0, sizeof *p);
  p->max_tokens = 256;
  p->prefill_step_size = 2048;
  mx_lm_sampler_defaults(&p->sampler);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Forward ids[0:n] through (m, c) and copy the float32 logits of the last
 * npos positions to out (npos * V floats); npos == 0 only evaluates. */
static mx_status step(mx_lm_model *m, mx_lm_cache *c, const int32_t *ids, int n,
                      float *out, int npos) {
  mx_scope_begin();
  int shape[2] = {1, n};
  mx_array *x = mx_array_from_data(ids, shape, 2, MX_INT32);
  /* (1, npos, V): only the rows read (npos == 0: all, evaluated for the cache) */
  mx_array *logits = mx_lm_forward_last(m, x, c, npos > 0 ? npos : 1);
  mx_status rc;
  if (npos > 0) {
    /* read converts to float32 while copying (exact from the half types), so
     * no astype node and buffer per token */
    mx_array *last = logits;
    rc = last ? mx_array_read(last, MX_FLOAT32, out,
                              (size_t)npos * m->cfg.vocab_size * sizeof(float))
              : mx_last_status();
  } else {
    rc = logits ? mx_eval1(logits) : mx_last_status();
  }
  mx_scope_end();
  return rc;
}

/* The prompt in chunks of `chunk` tokens; the last position's logits go to
 * out (when not NULL). */
static mx_status prefill(mx_lm_model *m, mx_lm_cache *c, const int32_t *prompt, int n,
                         int chunk, float *out) {
  mx_status rc = MX_OK;
  int done = 0;
  while (rc == MX_OK && n - done > chunk) {
    rc = step(m, c, prompt + done, chunk, NULL, 0);
    done += chunk;
  }
  if (rc == MX_OK) rc = step(m, c, prompt + done, n - done, out, out ? 1 : 0);
  return rc;
}

static mx_status check_prompt(const char *op, const mx_lm_model *m, const int32_t *prompt,
                              int n) {
  if (!prompt || n <= 0) return mx_set_error(MX_ERR_INVALID, "[%s] empty prompt", op);
  for (int i = 0; i < n; i++)
    if (prompt[i] < 0 || prompt[i] >= m->cfg.vocab_size)
      return mx_set_error(MX_ERR_INVALID,
                          "[%s] prompt token %d at position %d is out of range for "
                          "vocabulary size %d",
                          op, prompt[i], i, m->cfg.vocab_size);
  return MX_OK;
}

/* mapped: the models' file-mapped weight bytes, added to the allocator's
 * peak (mlx_lm's figure includes the weights, which MLX allocates) */
static void fill_stats(mx_lm_generate_stats *st, int n, int ngen, int finish, double t0,
                       double t1, double t2, size_t mapped) {
  if (!st) return;
  st->prompt_tokens = n;
  st->generation_tokens = ngen;
  st->prompt_tps = t1 > t0 ? n / (t1 - t0) : 0;
  st->generation_tps = ngen > 1 && t2 > t1 ? (ngen - 1) / (t2 - t1) : 0;
  st->peak_memory = mx_get_peak_memory() + mapped;
  st->finish_reason = finish;
}

static bool is_eos(const mx_lm_generate_params *p, const mx_lm_model *m, int32_t t) {
  if (p->eos_ids) {
    for (int i = 0; i < p->n_eos; i++)
      if (p->eos_ids[i] == t) return true;
    return false;
  }
  for (int i = 0; i < m->cfg.n_eos; i++)
    if (m->cfg.eos_ids[i] == t) return true;
  return false;
}

/* (model.h) the k (<= 20) largest logprobs, value descending, ties by index */
void mx_lm_fill_top(mx_lm_token_info *ti, const float *lp, int V, int k) {
  if (k > 20) k = 20;
  ti->n_top = 0;
  for (int i0 = 0; i0 < V; i0 += 64) {
    const int i1 = V - i0 < 64 ? V : i0 + 64;
    if (ti->n_top == k) {
      /* a full list takes only entries above its last one: a block of 64
       * with none is skipped after one vector compare (the insertion below
       * cost about 0.3 ms per token for 20 alternatives over 152K) */
      const float thr = ti->top_logprobs[k - 1];
      int any = 0;
      for (int i = i0; i < i1; i++) any |= lp[i] > thr;
      if (!any) continue;
    }
    for (int i = i0; i < i1; i++) {
      /* insertion into a small sorted list */
      int pos = ti->n_top;
      while (pos > 0 && lp[i] > ti->top_logprobs[pos - 1]) pos--;
      if (pos >= k) continue;
      int last = ti->n_top < k ? ti->n_top : k - 1;
      for (int j = last; j > pos; j--) {
        ti->top_ids[j] = ti->top_ids[j - 1];
        ti->top_logprobs[j] = ti->top_logprobs[j - 1];
      }
      ti->top_ids[pos] = i;
      ti->top_logprobs[pos] = lp[i];
      if (ti->n_top < k) ti->n_top++;
    }
  }
}

typedef struct {
  const mx_lm_generate_params *p;
  const mx_lm_model *m;
  mx_lm_token_callback cb;
  void *ctx;
  int32_t *hist;
  int nh, ngen;
  bool stop;
  int finish;
  float *lp;
} emitter;

/* Report a generated token; sets stop on eos, callback or max_tokens. */
static void emit(emitter *e, int32_t tok) {
  if (e->stop) return;
  if (is_eos(e->p, e->m, tok)) {
    e->stop = true;
    e->finish = 0;
    return;
  }
  e->hist[e->nh++] = tok;
  e->ngen++;
  if (e->cb) {
    mx_lm_token_info ti;
    memset(&ti, 0, sizeof ti);
    ti.token = tok;
    ti.logprob = e->lp ? e->lp[tok] : 0;
    if (e->p->top_logprobs > 0 && e->lp)
      mx_lm_fill_top(&ti, e->lp, e->m->cfg.vocab_size, e->p->top_logprobs);
    if (e->cb(e->ctx, &ti)) {
      e->stop = true;
      e->finish = 0;
      return;
    }
  }
  if (e->ngen >= e->p->max_tokens) {
    e->stop = true;
    e->finish = 1;
  }
}

mx_status mx_lm_generate_tokens(mx_lm_model *m, const int32_t *prompt, int n,
                                const mx_lm_generate_params *pin, mx_lm_cache *cache,
                                mx_lm_token_callback cb, void *ctx,
                                mx_lm_generate_stats *stats) {
  if (!m) return mx_set_error(MX_ERR_INVALID, "[generate] NULL model");
  mx_lm_generate_params p;
  if (pin)
    p = *pin;
  else
    mx_lm_generate_defaults(&p);
  mx_status rc = check_prompt("generate", m, prompt, n);
  if (rc != MX_OK) return rc;
  if (p.max_tokens < 0) return mx_set_error(MX_ERR_INVALID, "[generate] max_tokens < 0");
  if (p.prefill_step_size <= 0) p.prefill_step_size = 2048;
  if (p.top_logprobs < 0 || p.top_logprobs > 20)
    return mx_set_error(MX_ERR_INVALID, "[generate] top_logprobs must be in [0, 20]");
  int V = m->cfg.vocab_size;
  mx_lm_sampler *smp = mx_lm_sampler_new(&p.sampler);
  if (!smp) return mx_last_status();
  bool own_cache = !cache;
  if (own_cache && !(cache = mx_lm_cache_new(m, NULL))) {
    mx_lm_sampler_free(smp);
    return mx_last_status();
  }
  float *logits = malloc((size_t)V * sizeof *logits);
  float *lp = malloc((size_t)V * sizeof *lp);
  int32_t *hist = malloc((size_t)(n + p.max_tokens + 1) * sizeof *hist);
  if (!logits || !lp || !hist)
    rc = mx_set_error(MX_ERR_NOMEM, "[generate] out of memory");
  if (rc == MX_OK) memcpy(hist, prompt, (size_t)n * sizeof *hist);
  emitter e = {&p, m, cb, ctx, hist, n, 0, p.max_tokens == 0, 1, lp};
  mx_reset_peak_memory();
  double t0 = now_s(), t1 = t0;
  if (rc == MX_OK) rc = prefill(m, cache, prompt, n, p.prefill_step_size, logits);
  while (rc == MX_OK && !e.stop) {
    int32_t tok = mx_lm_sampler_next(smp, logits, V, hist, e.nh, lp);
    if (tok < 0) {
      rc = mx_last_status() ? mx_last_status() : MX_ERR_RUNTIME;
      break;
    }
    if (e.ngen == 0) t1 = now_s();
    emit(&e, tok);
    if (!e.stop) rc = step(m, cache, &tok, 1, logits, 1);
  }
  fill_stats(stats, n, e.ngen, e.finish, t0, t1, now_s(), m->mapped_bytes);
  free(logits);
  free(lp);
  free(hist);
  mx_lm_sampler_free(smp);
  if (own_cache) mx_lm_cache_free(cache);
  return rc;
}

/* ---- speculative decoding ---- */

mx_status mx_lm_generate_speculative(mx_lm_model *m, mx_lm_model *draft,
                                     const int32_t *prompt, int n,
                                     const mx_lm_generate_params *pin, int num_draft,
                                     mx_lm_token_callback cb, void *ctx,
                                     mx_lm_generate_stats *stats) {
  if (!m || !draft)
    return mx_set_error(MX_ERR_INVALID, "[speculative] NULL model or draft");
  if (draft->cfg.vocab_size != m->cfg.vocab_size)
    return mx_set_error(
        MX_ERR_INVALID,
        "[speculative] draft vocabulary (%d) differs from the model's (%d)",
        draft->cfg.vocab_size, m->cfg.vocab_size);
  if (num_draft < 1 || num_draft > 64)
    return mx_set_error(MX_ERR_INVALID,
                        "[speculative] num_draft_tokens must be in [1, 64]");
  mx_lm_generate_params p;
  if (pin)
    p = *pin;
  else
    mx_lm_generate_defaults(&p);
  mx_status rc = check_prompt("speculative", m, prompt, n);
  if (rc != MX_OK) return rc;
  if (p.prefill_step_size <= 0) p.prefill_step_size = 2048;
  int V = m->cfg.vocab_size;
  mx_lm_sampler *ms = mx_lm_sampler_new(&p.sampler);
  mx_lm_cache *mc = mx_lm_cache_new(m, NULL), *dc = mx_lm_cache_new(draft, NULL);
  float *ml = malloc((size_t)(num_draft + 1) * V * sizeof(float));
  float *dl = malloc((size_t)V * sizeof(float)), *lp = malloc((size_t)V * sizeof(float));
  int32_t *hist = malloc((size_t)(n + p.max_tokens + num_draft + 2) * sizeof(int32_t));
  if (!ms || !mc || !dc)
    rc = mx_last_status();
  else if (!ml || !dl || !lp || !hist)
    rc = mx_set_error(MX_ERR_NOMEM, "[speculative] out of memory");
  emitter e = {&p, m, cb, ctx, hist, n, 0, false, 1, lp};
  if (hist) memcpy(hist, prompt, (size_t)n * sizeof *hist);
  mx_reset_peak_memory();
  double t0 = now_s(), t1 = t0;
  if (rc == MX_OK) rc = prefill(m, mc, prompt, n, p.prefill_step_size, ml);
  if (rc == MX_OK) rc = prefill(draft, dc, prompt, n, p.prefill_step_size, NULL);
  int32_t tok = -1, pending = -1;
  int32_t dtoks[64], minputs[65];
  if (rc == MX_OK) {
    tok = mx_lm_sampler_next(ms, ml, V, hist, e.nh, lp);
    t1 = now_s();
    if (p.max_tokens == 0)
      e.stop = true;
    else
      emit(&e, tok);
  }
  while (rc == MX_OK && !e.stop) {
    int k = num_draft;
    if (k > p.max_tokens - e.ngen) k = p.max_tokens - e.ngen;
    if (k < 1) k = 1;
    /* draft proposes k tokens (its cache gets pending?, tok, d0..d_{k-2}) */
    int32_t din[2];
    int nd = 0;
    if (pending >= 0) din[nd++] = pending;
    din[nd++] = tok;
    for (int i = 0; i < k && rc == MX_OK; i++) {
      rc = step(draft, dc, i == 0 ? din : &dtoks[i - 1], i == 0 ? nd : 1, dl, 1);
      if (rc == MX_OK) {
        /* the draft proposes greedily (its distribution only steers) */
        int best = 0;
        for (int v = 1; v < V; v++)
          if (dl[v] > dl[best]) best = v;
        dtoks[i] = best;
      }
    }
    if (rc != MX_OK) break;
    /* main verifies tok, d0..d_{k-1} in one forward */
    minputs[0] = tok;
    memcpy(minputs + 1, dtoks, (size_t)k * sizeof *dtoks);
    rc = step(m, mc, minputs, k + 1, ml, k + 1);
    if (rc != MX_OK) break;
    int a = 0;
    int32_t next = -1;
    for (int i = 0; i <= k; i++) {
      int32_t s = mx_lm_sampler_next(ms, ml + (size_t)i * V, V, hist, e.nh, lp);
      if (i < k && s == dtoks[i]) {
        a++;
        emit(&e, s);
        if (e.stop) break;
        continue;
      }
      next = s;
      break;
    }
    /* rewind what was not accepted */
    mx_lm_cache_trim(mc, k - a);
    if (a < k) {
      mx_lm_cache_trim(dc, (k - 1) - a);
      pending = -1;
    } else {
      pending = dtoks[k - 1];
    }
    if (e.stop) break;
    tok = next;
    emit(&e, tok);
  }
  fill_stats(stats, n, e.ngen, e.finish, t0, t1, now_s(),
             m->mapped_bytes + draft->mapped_bytes);
  free(ml);
  free(dl);
  free(lp);
  free(hist);
  mx_lm_sampler_free(ms);
  mx_lm_cache_free(mc);
  mx_lm_cache_free(dc);
  return rc;
}

/* ---- batched generation ---- */
mx_status mx_lm_generate_batch(mx_lm_model *m, const int32_t *const *prompts,
                               const int *lens, int B, const mx_lm_generate_params *pin,
                               mx_lm_batch_callback cb, void *ctx) {
  if (!m || !prompts || !lens || B <= 0 || B > 256)
    return mx_set_error(MX_ERR_INVALID, "[batch_generate] need 1..256 prompts");
  mx_lm_generate_params p;
  if (pin)
    p = *pin;
  else
    mx_lm_generate_defaults(&p);
  int V = m->cfg.vocab_size, L = 0;
  for (int b = 0; b < B; b++) {
    if (lens[b] <= 0 || !prompts[b])
      return mx_set_error(MX_ERR_INVALID, "[batch_generate] prompt %d is empty", b);
    for (int i = 0; i < lens[b]; i++)
      if (prompts[b][i] < 0 || prompts[b][i] >= V)
        return mx_set_error(MX_ERR_INVALID,
                            "[batch_generate] prompt %d: token %d out of range", b,
                            prompts[b][i]);
    if (lens[b] > L) L = lens[b];
  }
  int *pad = malloc((size_t)B * sizeof *pad);
  int32_t *ids = calloc((size_t)B * L, sizeof *ids);
  float *logits = malloc((size_t)B * V * sizeof *logits),
        *lp = malloc((size_t)V * sizeof *lp);
  int32_t **hist = calloc((size_t)B, sizeof *hist);
  int *nh = calloc((size_t)B, sizeof *nh), *ngen = calloc((size_t)B, sizeof *ngen);
  bool *done = calloc((size_t)B, sizeof *done);
  mx_lm_sampler **smp = calloc((size_t)B, sizeof *smp);
  mx_lm_cache *c = mx_lm_cache_new(m, NULL);
  mx_status rc = c ? MX_OK : mx_last_status();
  if (rc == MX_OK &&
      (!pad || !ids || !logits || !lp || !hist || !nh || !ngen || !done || !smp))
    rc = mx_set_error(MX_ERR_NOMEM, "[batch_generate] out of memory");
  for (int b = 0; rc == MX_OK && b < B; b++) {
    pad[b] = L - lens[b];
    memcpy(ids + (size_t)b * L + pad[b], prompts[b], (size_t)lens[b] * sizeof *ids);
    hist[b] = malloc((size_t)(lens[b] + p.max_tokens + 1) * sizeof **hist);
    mx_lm_sampler_params sp = p.sampler;
    sp.seed += (uint64_t)b;
    smp[b] = mx_lm_sampler_new(&sp);
    if (!hist[b] || !smp[b])
      rc = mx_set_error(MX_ERR_NOMEM, "[batch_generate] out of memory");
    else {
      memcpy(hist[b], prompts[b], (size_t)lens[b] * sizeof **hist);
      nh[b] = lens[b];
    }
  }
  if (rc == MX_OK) rc = mx_lm_cache_set_left_padding(c, pad, B);
  int cur_len = L;
  const int32_t *cur = ids;
  int32_t *next = malloc((size_t)B * sizeof *next);
  if (rc == MX_OK && !next)
    rc = mx_set_error(MX_ERR_NOMEM, "[batch_generate] out of memory");
  int active = B;
  while (rc == MX_OK && active > 0) {
    mx_scope_begin();
    int shape[2] = {B, cur_len};
    mx_array *x = mx_array_from_data(cur, shape, 2, MX_INT32);
    mx_array *last = mx_lm_forward_last(m, x, c, 1);  // (B, 1, V)
    rc = last ? mx_array_read(last, MX_FLOAT32, logits, (size_t)B * V * sizeof *logits)
              : mx_last_status();
    mx_scope_end();
    if (rc != MX_OK) break;
    for (int b = 0; b < B; b++) {
      next[b] = 0;
      if (done[b]) continue;
      int32_t t =
          mx_lm_sampler_next(smp[b], logits + (size_t)b * V, V, hist[b], nh[b], lp);
      if (is_eos(&p, m, t)) {
        done[b] = true;
        active--;
        if (cb) cb(ctx, b, NULL);
        continue;
      }
      hist[b][nh[b]++] = t;
      ngen[b]++;
      next[b] = t;
      mx_lm_token_info ti;
      memset(&ti, 0, sizeof ti);
      ti.token = t;
      ti.logprob = lp[t];
      if (p.top_logprobs > 0) mx_lm_fill_top(&ti, lp, V, p.top_logprobs);
      bool stop = cb && cb(ctx, b, &ti);
      if (stop || ngen[b] >= p.max_tokens) {
        done[b] = true;
        active--;
        if (cb) cb(ctx, b, NULL);
      }
    }
    cur = next;
    cur_len = 1;
  }
  for (int b = 0; b < B; b++) {
    if (hist) free(hist[b]);
    if (smp) mx_lm_sampler_free(smp[b]);
  }
  free(next);
  free(pad);
  free(ids);
  free(logits);
  free(lp);
  free(hist);
  free(nh);
  free(ngen);
  free(done);
  free(smp);
  mx_lm_cache_free(c);
  return rc;
}
