/* bench_reduce.c: throughput of the reduction kernels against memory
 * bandwidth measured in the same run.
 *
 *   memcpy      64 MiB copy, 1 thread and split over the worker pool
 *               (GB/s counts bytes read + written)
 *   sum         16M float32: all elements; last axis and first axis of
 *               (4096, 4096) (GB/s counts bytes read)
 *   softmax     (4096, 4096) float32 last axis (bytes read + written)
 *   also        bfloat16 sum, logsumexp and argmax over rows, sort of 1M
 *
 * Each case: 2 warm-up runs, then the best of N (default 10; argv[1]).
 * Set MX_SIMD=base|avx2|avx512 to force a kernel variant, MX_NUM_THREADS to
 * change the pool size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/reduce_simd.h"
#include "mx/mx.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int g_iters = 10;

typedef mx_array *(*op_fn)(mx_array *x, void *arg);

/* best seconds of one op evaluated on x */
static double time_op(op_fn f, mx_array *x, void *arg) {
  double best = 1e30;
  for (int it = 0; it < g_iters + 2; it++) {
    mx_scope_begin();
    double t0 = now();
    mx_array *r = f(x, arg);
    if (!r || mx_eval1(r) != MX_OK) {
      fprintf(stderr, "op failed: %s\n", mx_last_error());
      exit(1);
    }
    double t = now() - t0;
    mx_scope_end();
    if (it >= 2 && t < best) best = t;
  }
  return best;
}

typedef struct {
  char *dst;
  const char *src;
  int64_t chunk, n;
} cp_ctx;

static void cp_range(void *c, int64_t b, int64_t e) {
  cp_ctx *p = c;
  for (int64_t i = b; i < e; i++) {
    int64_t off = i * p->chunk, len = p->n - off < p->chunk ? p->n - off : p->chunk;
    memcpy(p->dst + off, p->src + off, (size_t)len);
  }
}

/* declared in the core (src/core/core.h); redeclared to keep this bench on
 * the public headers otherwise */
typedef void (*mx_range_fn)(void *ctx, int64_t begin, int64_t end);
void mx_parallel_for(int64_t n, int64_t grain, mx_range_fn fn, void *ctx);

static double time_memcpy(char *dst, const char *src, int64_t n, bool parallel) {
  double best = 1e30;
  for (int it = 0; it < g_iters + 2; it++) {
    double t0 = now();
    if (parallel) {
      cp_ctx c = {dst, src, 1 << 20, n};
      mx_parallel_for((n + c.chunk - 1) / c.chunk, 1, cp_range, &c);
    } else {
      memcpy(dst, src, (size_t)n);
    }
    double t = now() - t0;
    if (it >= 2 && t < best) best = t;
  }
  return best;
}

static mx_array *op_sum(mx_array *x, void *arg) {
  int *ax = arg;
  return ax ? mx_sum(x, ax, 1, false) : mx_sum(x, NULL, 0, false);
}
static mx_array *op_max(mx_array *x, void *arg) { return mx_max(x, arg, 1, false); }
static mx_array *op_mean(mx_array *x, void *arg) { return mx_mean(x, arg, 1, false); }
static mx_array *op_softmax(mx_array *x, void *arg) {
  (void)arg;
  int last = -1;
  return mx_softmax(x, &last, 1, false);
}
static mx_array *op_lse(mx_array *x, void *arg) {
  (void)arg;
  int last = -1;
  return mx_logsumexp(x, &last, 1, false);
}
static mx_array *op_argmax(mx_array *x, void *arg) {
  (void)arg;
  return mx_argmax(x, -1, false);
}
static mx_array *op_sort(mx_array *x, void *arg) {
  (void)arg;
  return mx_sort(x, -1);
}

int main(int argc, char **argv) {
  if (argc > 1) g_iters = atoi(argv[1]) > 0 ? atoi(argv[1]) : 10;
  const int64_t n = 4096 * 4096;
  const double MB = 1e6;
  float *data = malloc((size_t)n * sizeof *data);
  char *dst = malloc((size_t)n * sizeof *data);
  if (!data || !dst) return 1;
  for (int64_t i = 0; i < n; i++) data[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
  memset(dst, 1, (size_t)n * sizeof *data);
  mx_scope_begin();
  int flat = (int)n, sq[2] = {4096, 4096};
  mx_array *x1 = mx_array_from_data(data, &flat, 1, MX_FLOAT32);
  mx_array *x2 = mx_array_from_data(data, sq, 2, MX_FLOAT32);
  mx_array *xb = mx_astype(x2, MX_BFLOAT16);
  mx_eval1(xb);
  int cube[3] = {16, 1024, 1024};
  mx_array *x3 = mx_reshape(x2, cube, 3);
  mx_array *xh = mx_astype(x2, MX_FLOAT16);
  mx_eval1(xh);
  int vocab[2] = {64, 151936};
  mx_array *xl = mx_reshape(mx_slice_axis(x1, 0, 0, 64 * 151936, 1), vocab, 2);
  mx_eval1(xl);
  int one_m = 1 << 20;
  float *rnd = malloc((size_t)one_m * sizeof *rnd);
  uint64_t st = 88172645463325252ull;
  for (int i = 0; i < one_m; i++) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    rnd[i] = (float)(st >> 40) * 0x1p-24f - 0.5f;
  }
  mx_array *xs = mx_array_from_data(rnd, &one_m, 1, MX_FLOAT32);
  free(rnd);

  double bytes = (double)n * 4;
  double t_cp1 = time_memcpy(dst, (const char *)data, (int64_t)bytes, false);
  double t_cpp = time_memcpy(dst, (const char *)data, (int64_t)bytes, true);
  double bw1 = 2 * bytes / t_cp1 / 1e9, bwp = 2 * bytes / t_cpp / 1e9;
  printf("mx bench_reduce: %d threads, kernels %s, best of %d\n", mx_num_threads(),
         mx_simd()->isa, g_iters);
  printf("%-44s %9s %9s %8s\n", "case", "ms", "GB/s", "vs copy");
  printf("%-44s %9.3f %9.2f %8s\n", "memcpy 64 MiB, 1 thread (read+write)", t_cp1 * 1e3,
         bw1, "-");
  printf("%-44s %9.3f %9.2f %8s\n", "memcpy 64 MiB, pool (read+write)", t_cpp * 1e3, bwp,
         "1.00");

  int ax0 = 0, ax1 = 1;
  struct {
    const char *name;
    op_fn f;
    mx_array *x;
    void *arg;
    double bytes;
  } cases[] = {
      {"sum float32 16M, all", op_sum, x1, NULL, bytes},
      {"sum float32 (4096,4096), all axes", op_sum, x2, NULL, bytes},
      {"sum float32 (4096,4096), last axis", op_sum, x2, &ax1, bytes},
      {"sum float32 (4096,4096), first axis", op_sum, x2, &ax0, bytes},
      {"max float32 (4096,4096), first axis", op_max, x2, &ax0, bytes},
      {"sum float32 (16,1024,1024), middle axis", op_sum, x3, &ax1, bytes},
      {"softmax float32 (4096,4096), last axis", op_softmax, x2, NULL, 2 * bytes},
      {"sum bfloat16 (4096,4096), last axis", op_sum, xb, &ax1, bytes / 2},
      {"sum bfloat16 (4096,4096), first axis", op_sum, xb, &ax0, bytes / 2},
      {"mean bfloat16 (4096,4096), first axis", op_mean, xb, &ax0, bytes / 2},
      {"max bfloat16 (4096,4096), first axis", op_max, xb, &ax0, bytes / 2},
      {"sum float16 (4096,4096), first axis", op_sum, xh, &ax0, bytes / 2},
      {"softmax bfloat16 (4096,4096), last axis", op_softmax, xb, NULL, bytes},
      {"logsumexp float32 (64,151936), last axis", op_lse, xl, NULL, 64.0 * 151936 * 4},
      {"argmax float32 (64,151936), last axis", op_argmax, xl, NULL, 64.0 * 151936 * 4},
      {"sort float32 1M", op_sort, xs, NULL, 2.0 * one_m * 4},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double t = time_op(cases[i].f, cases[i].x, cases[i].arg);
    double gbs = cases[i].bytes / t / 1e9;
    printf("%-44s %9.3f %9.2f %8.2f\n", cases[i].name, t * 1e3, gbs, gbs / bwp);
  }
  (void)MB;
  mx_scope_end();
  free(data);
  free(dst);
  return 0;
}
