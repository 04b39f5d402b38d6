/* bench_sdpa.c: decode attention (one query position) over a growing
 * bfloat16 KV cache, next to the time to stream that cache at the machine's
 * read bandwidth measured in the same run.
 *
 * Shapes: the 0.4B Llama / Qwen2.5-0.5B decode (14 query heads, 2 kv heads,
 * head dim 64) and a Llama-3-8B-like one (32 query heads, 8 kv heads, head
 * dim 128). Each of 24 layers has its own cache, as in a model. Two
 * conditions: warm (the layers' caches fit in L2/L3 and were just read) and
 * cold (a 96 MiB sweep before each layer, as the weights streamed between
 * two layers' attention evict the cache in decode).
 *
 *   bench_sdpa [T,...]   (context lengths; default 128,512,1500,4000) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mx/mx.h"

#define LAYERS 24

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static char *g_sweep;
static const size_t g_sweep_n = (size_t)96 << 20;
static volatile long g_sink;
static void sweep(void) {
  long s = 0;
  for (size_t i = 0; i < g_sweep_n; i += 64) s += g_sweep[i];
  g_sink = s;
}

/* read bandwidth: mx_sum of 256 MiB of float32 on the worker pool, best
 * of 3 (as bench_lm) */
static double read_bw(void) {
  int n = 1 << 26;
  mx_scope_begin();
  mx_array *a =
      mx_contiguous(mx_random_uniform(0, 1, &n, 1, MX_FLOAT32, mx_random_key(7)));
  mx_eval1(a);
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    double t0 = now();
    mx_array *s = mx_sum(a, NULL, 0, false);
    mx_eval1(s);
    double t = now() - t0;
    if (t < best) best = t;
  }
  mx_scope_end();
  return 4.0 * n / best / 1e9;
}

/* µs per layer, best of `reps` passes over the layers */
static double time_layers(mx_array **q, mx_array **k, mx_array **v, float scale,
                          bool cold, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double tot = 0;
    for (int l = 0; l < LAYERS; l++) {
      if (cold) sweep();
      double t0 = now();
      mx_scope_begin();
      mx_array *o = mx_fast_scaled_dot_product_attention(q[l], k[l], v[l], scale,
                                                         MX_SDPA_MASK_NONE, NULL, NULL);
      if (!o || mx_eval1(o) != MX_OK) {
        fprintf(stderr, "sdpa failed: %s\n", mx_last_error());
        exit(1);
      }
      mx_scope_end();
      tot += now() - t0;
    }
    if (tot < best) best = tot;
  }
  return best / LAYERS * 1e6;
}

int main(int argc, char **argv) {
  int Ts[16] = {128, 512, 1500, 4000}, nT = 4;
  if (argc > 1) {
    nT = 0;
    for (char *p = argv[1]; *p && nT < 16;) {
      Ts[nT] = (int)strtol(p, &p, 10);
      if (Ts[nT] <= 0) {
        fprintf(stderr, "usage: bench_sdpa [T,...]\n");
        return 2;
      }
      nT++;
      if (*p == ',') p++;
    }
  }
  g_sweep = malloc(g_sweep_n);
  if (!g_sweep) return 1;
  memset(g_sweep, 1, g_sweep_n);
  const double bw = read_bw();
  printf("threads: %d; read bandwidth (mx_sum of 256 MiB): %.1f GB/s\n\n",
         mx_num_threads(), bw);
  printf("%-22s %6s %9s %12s %12s %11s\n", "shape", "T", "KV MB", "warm us", "cold us",
         "stream us");
  const int shapes[2][3] = {{14, 2, 64}, {32, 8, 128}};
  for (int si = 0; si < 2; si++) {
    const int Hq = shapes[si][0], Hkv = shapes[si][1], D = shapes[si][2];
    for (int ti = 0; ti < nT; ti++) {
      const int T = Ts[ti];
      mx_array *q[LAYERS], *k[LAYERS], *v[LAYERS];
      for (int l = 0; l < LAYERS; l++) {
        int qs[4] = {1, Hq, 1, D}, ks[4] = {1, Hkv, T, D};
        q[l] =
            mx_keep(mx_random_normal(qs, 4, MX_BFLOAT16, 0, 1, mx_random_key(3 * l + 1)));
        k[l] =
            mx_keep(mx_random_normal(ks, 4, MX_BFLOAT16, 0, 1, mx_random_key(3 * l + 2)));
        v[l] =
            mx_keep(mx_random_normal(ks, 4, MX_BFLOAT16, 0, 1, mx_random_key(3 * l + 3)));
        mx_array *all[3] = {q[l], k[l], v[l]};
        mx_eval(all, 3);
      }
      const float scale = 1.0f / sqrtf((float)D);
      time_layers(q, k, v, scale, false, 1);
      double warm = time_layers(q, k, v, scale, false, 20);
      double cold = time_layers(q, k, v, scale, true, 5);
      double kv = 2.0 * Hkv * T * D * 2; /* bytes per layer */
      char name[32];
      snprintf(name, sizeof name, "Hq %d, Hkv %d, D %d", Hq, Hkv, D);
      printf("%-22s %6d %9.2f %12.1f %12.1f %11.1f\n", name, T, kv / 1e6, warm, cold,
             kv / (bw * 1e9) * 1e6);
      for (int l = 0; l < LAYERS; l++) mx_free(q[l]), mx_free(k[l]), mx_free(v[l]);
    }
  }
  free(g_sweep);
  return 0;
}
