/* bench_matmul.c: mx_matmul throughput next to OpenBLAS called directly on
 * the same buffers in the same run (the peer). Prints GFLOP/s and the ratio
 * mx / BLAS for:
 *   float32 square GEMM n = 512, 1024, 2048, 4096 (peer: cblas_sgemm)
 *   float32 4096x4096 @ 4096 matvec                (peer: cblas_sgemv)
 *   bfloat16 square GEMM                           (peer: float32 cblas_sgemm
 *     of the same size: the ratio is the cost of the conversions)
 * Each timing is the best of several repetitions (mx: op construction,
 * eval and output allocation included). Usage: bench_matmul [max_n]. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mx/mx.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *rand_buf(int64_t n) {
  float *p = malloc((size_t)n * sizeof(float));
  uint64_t s = 88172645463325252ull;
  for (int64_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    p[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
  }
  return p;
}

/* repetitions so that one measurement takes ~0.3 s at ~50 GFLOP/s */
static int reps_for(double flops) {
  int r = (int)(15e9 / flops);
  return r < 3 ? 3 : r > 50 ? 50 : r;
}

static double time_mx(mx_array *a, mx_array *b, int reps) {
  double best = 1e30;
  for (int i = 0; i < reps + 1; i++) {
    mx_scope_begin();
    double t0 = now();
    mx_array *c = mx_matmul(a, b);
    if (!c || mx_eval1(c) != MX_OK) {
      fprintf(stderr, "mx_matmul failed: %s\n", mx_last_error());
      exit(1);
    }
    double t = now() - t0;
    mx_scope_end();
    if (i > 0 && t < best) best = t; /* first run warms the caches */
  }
  return best;
}

static double time_sgemm(int n, const float *a, const float *b, float *c, int reps) {
  double best = 1e30;
  for (int i = 0; i < reps + 1; i++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                n);
    double t = now() - t0;
    if (i > 0 && t < best) best = t;
  }
  return best;
}

int main(int argc, char **argv) {
  int max_n = argc > 1 ? atoi(argv[1]) : 4096;
  printf("threads: mx pool %d, OpenBLAS %d\n", mx_num_threads(), openblas_get_num_threads());
  printf("%-28s %10s %10s %8s\n", "case", "mx GF/s", "BLAS GF/s", "mx/BLAS");
  for (int n = 512; n <= max_n; n *= 2) {
    int64_t nn = (int64_t)n * n;
    float *a = rand_buf(nn), *b = rand_buf(nn), *c = malloc((size_t)nn * sizeof(float));
    int shape[2] = {n, n};
    mx_array *ma = mx_array_from_data(a, shape, 2, MX_FLOAT32);
    mx_array *mb = mx_array_from_data(b, shape, 2, MX_FLOAT32);
    double flops = 2.0 * n * n * n;
    int reps = reps_for(flops);
    double tb = time_sgemm(n, a, b, c, reps);
    double tm = time_mx(ma, mb, reps);
    char name[64];
    snprintf(name, sizeof name, "f32 gemm %d", n);
    printf("%-28s %10.1f %10.1f %8.3f\n", name, flops / tm * 1e-9, flops / tb * 1e-9, tb / tm);
    /* bfloat16 inputs, same size */
    mx_array *ha = mx_astype(ma, MX_BFLOAT16), *hb = mx_astype(mb, MX_BFLOAT16);
    mx_eval1(ha);
    mx_eval1(hb);
    double th = time_mx(ha, hb, reps);
    snprintf(name, sizeof name, "bf16 gemm %d (vs f32 BLAS)", n);
    printf("%-28s %10.1f %10.1f %8.3f\n", name, flops / th * 1e-9, flops / tb * 1e-9, tb / th);
    /* transposed b: a view passed as CblasTrans */
    mx_array *mbt = mx_transpose(mb, NULL, 0);
    double tt = time_mx(ma, mbt, reps);
    snprintf(name, sizeof name, "f32 gemm %d a @ b.T", n);
    printf("%-28s %10.1f %10.1f %8.3f\n", name, flops / tt * 1e-9, flops / tb * 1e-9, tb / tt);
    mx_free(ma);
    mx_free(mb);
    mx_free(ha);
    mx_free(hb);
    mx_free(mbt);
    free(a);
    free(b);
    free(c);
  }
  /* matvec */
  {
    int n = max_n < 4096 ? max_n : 4096;
    int64_t nn = (int64_t)n * n;
    float *a = rand_buf(nn), *x = rand_buf(n), *y = malloc((size_t)n * sizeof(float));
    int shape[2] = {n, n};
    mx_array *ma = mx_array_from_data(a, shape, 2, MX_FLOAT32);
    mx_array *mx_ = mx_array_from_data(x, &n, 1, MX_FLOAT32);
    double flops = 2.0 * n * n;
    int reps = 50;
    double tb = 1e30;
    for (int i = 0; i < reps + 1; i++) {
      double t0 = now();
      cblas_sgemv(CblasRowMajor, CblasNoTrans, n, n, 1.0f, a, n, x, 1, 0.0f, y, 1);
      double t = now() - t0;
      if (i > 0 && t < tb) tb = t;
    }
    double tm = time_mx(ma, mx_, reps);
    char name[64];
    snprintf(name, sizeof name, "f32 matvec %dx%d", n, n);
    printf("%-28s %10.1f %10.1f %8.3f   (%.1f vs %.1f GB/s)\n", name, flops / tm * 1e-9,
           flops / tb * 1e-9, tb / tm, 4.0 * nn / tm * 1e-9, 4.0 * nn / tb * 1e-9);
    mx_array *ha = mx_astype(ma, MX_BFLOAT16), *hx = mx_astype(mx_, MX_BFLOAT16);
    mx_eval1(ha);
    mx_eval1(hx);
    double th = time_mx(ha, hx, reps);
    snprintf(name, sizeof name, "bf16 matvec %dx%d", n, n);
    printf("%-28s %10.1f %10.1f %8.3f   (vs f32 BLAS)\n", name, flops / th * 1e-9,
           flops / tb * 1e-9, tb / th);
    mx_free(ma);
    mx_free(mx_);
    mx_free(ha);
    mx_free(hx);
    free(a);
    free(x);
    free(y);
  }
  return 0;
}
