/* bench_qkern.c: the decode kernels alone, one thread, weights resident in
 * L2: the transposed quantized matvec tiles (mx_qmm_t_rows, 4- and 8-bit)
 * and the bfloat16 row dot (mx_lin_dot_bf16_rows). Without DRAM in the way
 * this measures what the kernel itself can consume; decode needs it well
 * above the per-core share of the read bandwidth (~35-40 GB/s here).
 * Timing is the thread's CPU time, best of several rounds, so other work on
 * a shared machine does not count.
 *
 *   bench_qkern [NxK,...]   (default 512x4096,1024x896,224x4864) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/linalg_simd.h"
#include "backend/cpu/qsimd.h"
#include "core/core.h"

/* 64-byte aligned, as the library allocates arrays (malloc's 16-byte
 * offset would split every vector load of a row across two lines) */
static void *amalloc(size_t n) { return aligned_alloc(64, (n + 63) / 64 * 64); }

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t g_st = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
  g_st = g_st * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(g_st >> 32);
}

/* QK_COLD=1: evict the caches before each call (a pass over 64 MiB, not
 * timed), as in decode where each weight comes from DRAM once per token */
static float *g_flush;
static const int64_t g_flush_n = 16 << 20;
static void flush_caches(void) {
  float s = 0;
  for (int64_t i = 0; i < g_flush_n; i += 16) s += g_flush[i];
  g_flush[0] = s * 0; /* keep the loop */
}

/* best seconds per call of fn(ctx) over rounds of `reps` calls */
typedef void (*call_fn)(void *);
static double best_time(call_fn fn, void *ctx, int reps) {
  double best = 1e30;
  const bool cold = g_flush != NULL;
  if (cold) reps = reps < 20 ? reps : 20;
  for (int r = 0; r < 7; r++) {
    double t = 0;
    if (cold) {
      for (int i = 0; i < reps; i++) {
        flush_caches();
        double t0 = cpu_now();
        fn(ctx);
        t += cpu_now() - t0;
      }
    } else {
      double t0 = cpu_now();
      for (int i = 0; i < reps; i++) fn(ctx);
      t = cpu_now() - t0;
    }
    t /= reps;
    best = t < best ? t : best;
  }
  return best;
}

static void call_qmm(void *c) {
  mx_qmm_args *a = c;
  /* in chunks of rows, as the thread pool hands them out */
  const char *e = getenv("QK_CHUNK");
  int ch = e ? atoi(e) : a->N;
  for (int n = 0; n < a->N; n += ch) mx_qmm_t_rows(a, n, n + ch < a->N ? n + ch : a->N);
}

typedef struct {
  const uint16_t *w;
  int N, K;
  const float *x;
  float *out;
} bf_ctx;
static void call_bf16(void *c) {
  bf_ctx *b = c;
  for (int p0 = 0; p0 < b->N; p0 += 64) {
    int nr = b->N - p0 < 64 ? b->N - p0 : 64;
    mx_lin_dot_bf16_rows(b->w + (int64_t)p0 * b->K, b->K, b->x, b->K, nr, b->out + p0);
  }
}

int main(int argc, char **argv) {
  int shapes[16][2] = {{512, 4096}, {1024, 896}, {224, 4864}}, ns = 3;
  if (argc > 1) {
    ns = 0;
    for (const char *c = argv[1]; *c && ns < 16;) {
      int n, k, used;
      if (sscanf(c, "%dx%d%n", &n, &k, &used) != 2) break;
      shapes[ns][0] = n, shapes[ns][1] = k, ns++;
      c += used;
      if (*c == ',') c++;
    }
  }
  mx_isa isa = mx_cpu_isa();
  if (getenv("QK_COLD")) {
    g_flush = malloc(sizeof(float) * (size_t)g_flush_n);
    for (int64_t i = 0; i < g_flush_n; i++) g_flush[i] = 1;
  }
  printf("one thread, L2-resident weights, GB/s of weight bytes (CPU time)\n");
  printf("%-24s %6s %9s %8s\n", "case", "KiB", "us/call", "GB/s");
  for (int si = 0; si < ns; si++) {
    const int N = shapes[si][0], K = shapes[si][1], gs = 64, G = K / gs;
    for (int mi = 0; mi < 3; mi++) {
      const int M = mi == 0 ? 1 : mi == 1 ? 2 : 4;
      for (int bi = 0; bi < 3; bi++) {
        int bits = bi == 0 ? 4 : bi == 1 ? 8 : 16;
        if (bits == 16 && M > 1) continue;
        double bytes = (double)N * K * bits / 8 + (bits < 16 ? 4.0 * N * G : 0);
        char name[64];
        double t;
        snprintf(name, sizeof name, "%s M=%d %dx%d",
                 bits == 16  ? "bf16"
                 : bits == 8 ? "q8"
                             : "q4",
                 M, N, K);
        const char *only = getenv("QK_ONLY"); /* run only the cases with this prefix */
        if (only && strncmp(name, only, strlen(only)) != 0) continue;
        if (bits == 16) {
          uint16_t *w = amalloc(2 * (size_t)N * K);
          float *x = amalloc(4 * (size_t)K), *out = amalloc(4 * (size_t)N);
          for (int64_t i = 0; i < (int64_t)N * K; i++)
            w[i] = (uint16_t)(0x3c00 + (rnd() & 0x3ff));
          for (int k = 0; k < K; k++) x[k] = (float)(rnd() % 100) / 50 - 1;
          bf_ctx c = {w, N, K, x, out};
          t = best_time(call_bf16, &c, (int)(2e8 / bytes) + 1);
          free(w), free(x), free(out);
        } else {
          int64_t wb = (int64_t)N * K * bits / 8;
          uint8_t *w = amalloc((size_t)wb + 64);
          for (int64_t i = 0; i < wb + 64; i++) w[i] = (uint8_t)rnd();
          uint16_t *sc = amalloc(2 * (size_t)N * G), *bs = amalloc(2 * (size_t)N * G);
          for (int64_t i = 0; i < (int64_t)N * G; i++) {
            sc[i] = mx_f32_to_bf16(0.01f + 0.001f * (float)(rnd() % 7));
            bs[i] = mx_f32_to_bf16(-0.1f);
          }
          float *x = amalloc(4 * (size_t)M * K), *xs = amalloc(4 * (size_t)M * G);
          const int KN = K;
          uint16_t *xh = amalloc(2 * (size_t)M * KN);
          void *out = amalloc(4 * (size_t)M * N);
          for (int64_t i = 0; i < (int64_t)M * K; i++) {
            x[i] = (float)(rnd() % 100) / 50 - 1;
          }
          for (int64_t i = 0; i < (int64_t)M * KN; i++) xh[i] = mx_f32_to_bf16(x[i % K]);
          for (int64_t i = 0; i < (int64_t)M * G; i++) xs[i] = 1;
          atomic_int err = 0;
          bool bf = mx_qmm_use_bf16(isa, bits, K, MX_BFLOAT16);
          mx_qmm_args a = {.isa = isa,
                           .M = M,
                           .N = N,
                           .K = K,
                           .gs = gs,
                           .bits = bits,
                           .x = x,
                           .xsum = xs,
                           .xh = bf ? xh : NULL,
                           .xl = NULL,
                           .w = w,
                           .w_end = w + wb + 64,
                           .scales = sc,
                           .biases = bs,
                           .sdt = MX_BFLOAT16,
                           .bdt = MX_BFLOAT16,
                           .out = out,
                           .odt = MX_BFLOAT16,
                           .err = &err,
                           .nta = mx_cpu_prefetch_nta()};
          t = best_time(call_qmm, &a, (int)(2e8 / bytes) + 1);
          free(w), free(sc), free(bs), free(x), free(xs), free(xh), free(out);
        }
        printf("%-24s %6.0f %9.2f %8.1f\n", name, bytes / 1024, t * 1e6, bytes / t / 1e9);
      }
    }
  }
  return 0;
}
