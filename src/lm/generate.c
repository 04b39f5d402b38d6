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

/* Forward ids[0:n] and copy the last position's logits (float32) to out. */
static mx_status step(mx_lm_model *m, mx_lm_cache *c, const int32_t *ids, int n, float *out) {
  mx_scope_begin();
  int shape[2] = {1, n};
  mx_array *x = mx_array_from_data(ids, shape, 2, MX_INT32);
  mx_array *logits = mx_lm_forward(m, x, c);
  mx_status rc = MX_OK;
  if (out) {
    mx_array *last = mx_astype(mx_slice_axis(logits, 1, n - 1, n, 1), MX_FLOAT32);
    rc = last ? mx_array_read(last, MX_FLOAT32, out, (size_t)m->cfg.vocab_size * sizeof(float))
              : mx_last_status();
  } else {
    rc = logits ? mx_eval1(logits) : mx_last_status();
  }
  mx_scope_end();
  return rc;
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

static void fill_top(mx_lm_token_info *ti, const float *lp, int V, int k) {
  if (k > 20) k = 20;
  ti->n_top = 0;
  for (int i = 0; i < V; i++) {
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

mx_status mx_lm_generate_tokens(mx_lm_model *m, const int32_t *prompt, int n,
                                const mx_lm_generate_params *pin, mx_lm_cache *cache,
                                mx_lm_token_callback cb, void *ctx,
                                mx_lm_generate_stats *stats) {
  if (!m || (!prompt && n > 0))
    return mx_set_error(MX_ERR_INVALID, "[generate] NULL model or prompt");
  mx_lm_generate_params p;
  if (pin) p = *pin;
  else mx_lm_generate_defaults(&p);
  if (n <= 0) return mx_set_error(MX_ERR_INVALID, "[generate] empty prompt");
  int V = m->cfg.vocab_size;
  for (int i = 0; i < n; i++)
    if (prompt[i] < 0 || prompt[i] >= V)
      return mx_set_error(MX_ERR_INVALID, "[generate] prompt token %d at position %d is out of "
                          "range for vocabulary size %d", prompt[i], i, V);
  if (p.max_tokens < 0) return mx_set_error(MX_ERR_INVALID, "[generate] max_tokens < 0");
  if (p.prefill_step_size <= 0) p.prefill_step_size = 2048;
  if (p.top_logprobs < 0 || p.top_logprobs > 20)
    return mx_set_error(MX_ERR_INVALID, "[generate] top_logprobs must be in [0, 20]");
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
  mx_status rc = MX_OK;
  if (!logits || !lp || !hist) rc = mx_set_error(MX_ERR_NOMEM, "[generate] out of memory");
  if (rc == MX_OK) memcpy(hist, prompt, (size_t)n * sizeof *hist);
  int nh = n, ngen = 0, finish = 1;
  mx_reset_peak_memory();
  double t0 = now_s(), t1 = t0;
  /* prefill all but the last chunk without reading logits */
  int done = 0;
  while (rc == MX_OK && n - done > p.prefill_step_size) {
    rc = step(m, cache, prompt + done, p.prefill_step_size, NULL);
    done += p.prefill_step_size;
  }
  if (rc == MX_OK) rc = step(m, cache, prompt + done, n - done, logits);
  while (rc == MX_OK && ngen < p.max_tokens) {
    int32_t tok = mx_lm_sampler_next(smp, logits, V, hist, nh, lp);
    if (tok < 0) {
      rc = mx_last_status() ? mx_last_status() : MX_ERR_RUNTIME;
      break;
    }
    if (ngen == 0) t1 = now_s();
    if (is_eos(&p, m, tok)) {
      finish = 0;
      break;
    }
    hist[nh++] = tok;
    ngen++;
    if (cb) {
      mx_lm_token_info ti;
      memset(&ti, 0, sizeof ti);
      ti.token = tok;
      ti.logprob = lp[tok];
      if (p.top_logprobs > 0) fill_top(&ti, lp, V, p.top_logprobs);
      if (cb(ctx, &ti)) {
        finish = 0;
        break;
      }
    }
    if (ngen == p.max_tokens) break;
    rc = step(m, cache, &tok, 1, logits);
  }
  double t2 = now_s();
  if (stats) {
    stats->prompt_tokens = n;
    stats->generation_tokens = ngen;
    stats->prompt_tps = t1 > t0 ? n / (t1 - t0) : 0;
    stats->generation_tps = ngen > 1 && t2 > t1 ? (ngen - 1) / (t2 - t1) : 0;
    stats->peak_memory = mx_get_peak_memory();
    stats->finish_reason = finish;
  }
  free(logits);
  free(lp);
  free(hist);
  mx_lm_sampler_free(smp);
  if (own_cache) mx_lm_cache_free(cache);
  return rc;
}
