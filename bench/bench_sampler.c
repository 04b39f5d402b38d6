/* bench_sampler.c: time per sampled token of mx_lm_sampler_next over a
 * Qwen-sized vocabulary (151936), for mlx-lm's usual settings, next to the
 * way the filters were first written: sort every token by logprob (qsort,
 * as mlx-lm's argsort) and walk the sorted order (the peer, timed here on
 * the same logits; it sorts only when a filter is on), and next to the
 * greedy sampler's time.
 *
 * Two logit rows: "peaked" (a few dozen likely tokens over a long tail, as
 * a trained model) and "flat" (every token within 0.05 of the others, as a
 * random-weight model: the widest nucleus top_p can have).
 *
 *   bench_sampler [reps]   (default 200) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mx/lm.h"

enum { V = 151936 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- the peer: full sort, then mlx-lm's rules on the sorted order ---- */
static const float *g_keys;
static int by_desc(const void *a, const void *b) {
  float x = g_keys[*(const int *)a], y = g_keys[*(const int *)b];
  return x > y ? -1 : x < y ? 1 : *(const int *)a - *(const int *)b;
}

static uint64_t g_rng = 1;
static double unit(void) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(g_rng >> 11) * 0x1.0p-53;
}

static int peer_sample(const mx_lm_sampler_params *p, const float *logits, float *x,
                       int *ord) {
  float mx = -INFINITY;
  for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
  double sum = 0;
  for (int i = 0; i < V; i++) sum += exp((double)(logits[i] - mx));
  float lse = mx + (float)log(sum);
  for (int i = 0; i < V; i++) x[i] = logits[i] - lse, ord[i] = i;
  g_keys = x;
  if (p->top_k > 0 || (p->top_p > 0 && p->top_p < 1) || p->min_p > 0)
    qsort(ord, V, sizeof *ord, by_desc);
  if (p->top_k > 0)
    for (int r = p->top_k; r < V; r++) x[ord[r]] = -INFINITY;
  if (p->top_p > 0 && p->top_p < 1) {
    double cum = 0;
    for (int r = V - 1; r >= 0; r--) {
      cum += exp((double)x[ord[r]]);
      if (cum <= 1.0 - p->top_p) x[ord[r]] = -INFINITY;
    }
  }
  if (p->min_p > 0) {
    float t = x[ord[0]] + logf(p->min_p);
    for (int r = 1; r < V; r++)
      if (x[ord[r]] < t) x[ord[r]] = -INFINITY;
  }
  const double top = -lse / p->temp; /* the largest logprob / temp, or above */
  double total = 0;
  for (int i = 0; i < V; i++)
    total += x[i] == -INFINITY ? 0 : exp((double)x[i] / p->temp - top);
  double u = unit() * total, acc = 0;
  for (int r = 0; r < V; r++) {
    if (x[ord[r]] == -INFINITY) continue;
    acc += exp((double)x[ord[r]] / p->temp - top);
    if (u < acc) return ord[r];
  }
  return ord[0];
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 200;
  if (reps < 1) {
    fprintf(stderr, "usage: bench_sampler [reps]\n");
    return 2;
  }
  float *logits = malloc(sizeof(float) * V), *x = malloc(sizeof(float) * V);
  int *ord = malloc(sizeof(int) * V);
  if (!logits || !x || !ord) return 1;
  const struct {
    const char *name;
    float temp, top_p, min_p;
    int top_k;
  } cfg[] = {{"greedy", 0, 0, 0, 0},
             {"temp 0.7", 0.7f, 0, 0, 0},
             {"temp 0.7, top_p 0.9", 0.7f, 0.9f, 0, 0},
             {"temp 0.7, top_k 40", 0.7f, 0, 0, 40},
             {"temp 0.7, min_p 0.05", 0.7f, 0, 0.05f, 0},
             {"temp 1, top_k 50, top_p 0.95", 1, 0.95f, 0, 50}};
  printf("vocabulary %d, %d draws per row; us per token\n\n", V, reps);
  printf("| logits | setting | mx | full sort (peer) | speed-up | vs greedy |\n");
  printf("|---|---|---|---|---|---|\n");
  for (int dist = 0; dist < 2; dist++) {
    uint64_t s = 7;
    for (int i = 0; i < V; i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      float u = (float)((double)(s >> 11) * 0x1.0p-53);
      logits[i] = dist == 0 ? (i % 4001 == 3 ? 10 + 6 * u : 4 * u - 2) : 0.05f * u;
    }
    double greedy_us = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
      mx_lm_sampler_params sp;
      mx_lm_sampler_defaults(&sp);
      sp.temp = cfg[c].temp;
      sp.top_p = cfg[c].top_p;
      sp.min_p = cfg[c].min_p;
      sp.top_k = cfg[c].top_k;
      sp.seed = 1;
      mx_lm_sampler *smp = mx_lm_sampler_new(&sp);
      if (!smp) return 1;
      double best = 1e30, pbest = 1e30;
      for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
          if (mx_lm_sampler_next(smp, logits, V, NULL, 0, NULL) < 0) return 1;
        double t = (now() - t0) / reps * 1e6;
        best = t < best ? t : best;
        if (cfg[c].temp == 0) continue;
        int pr = reps / 10 > 0 ? reps / 10 : 1; /* the peer is slow */
        t0 = now();
        for (int r = 0; r < pr; r++) peer_sample(&sp, logits, x, ord);
        t = (now() - t0) / pr * 1e6;
        pbest = t < pbest ? t : pbest;
      }
      mx_lm_sampler_free(smp);
      if (cfg[c].temp == 0) greedy_us = best;
      if (cfg[c].temp == 0)
        printf("| %s | %s | %.0f | - | - | 1.00x |\n", dist ? "flat" : "peaked",
               cfg[c].name, best);
      else
        printf("| %s | %s | %.0f | %.0f | %.1fx | %.2fx |\n", dist ? "flat" : "peaked",
               cfg[c].name, best, pbest, pbest / best, best / greedy_us);
    }
  }
  free(logits);
  free(x);
  free(ord);
  return 0;
}
