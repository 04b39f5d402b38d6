/* bench_elementwise.c: add, multiply and exp on 16M contiguous float32 and
 * bfloat16 elements, in GB/s (bytes read + written per call), next to two
 * peers measured in the same run on the same thread pool:
 *   memcpy: 64 MiB copied (read + write bytes), the faster of one glibc
 *           memcpy per thread (glibc streams such large copies) and 64
 *           chunks spread over the pool,
 *   read:   a vectorised sum of 64 MiB of floats (read bytes only).
 * Elementwise ops move read + write traffic like memcpy, so "% memcpy" is
 * the figure of merit (target >= 90%).
 *
 * usage: bench_elementwise [n_elems] [reps] [unary]   (MX_NUM_THREADS,
 * MX_SIMD apply). Prints one table per thread count: 1 and the pool size.
 * With "unary" (or "unary=OPS", a comma-separated list of names) it
 * instead times every float unary op on float32, bfloat16 and float16 with
 * the pool, next to memcpy measured in the same run; inputs lie in each
 * op's domain (arccosh: [1.05, 2.7], arcsin/arccos/arctanh/erfinv:
 * [0.03, 0.87], others [0.05, 1.73]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/simd.h"
#include "core/core.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- peers ---- */
typedef struct {
  char *dst;
  const char *src;
  size_t bytes;
  int parts;
} copy_job;

static void copy_range(void *c, int64_t b, int64_t e) {
  copy_job *j = c;
  size_t chunk = (j->bytes + (size_t)j->parts - 1) / (size_t)j->parts;
  size_t lo = (size_t)b * chunk, hi = (size_t)e * chunk;
  if (hi > j->bytes) hi = j->bytes;
  if (lo < hi) memcpy(j->dst + lo, j->src + lo, hi - lo);
}

typedef struct {
  const float *x;
  int64_t n;
  double part[64];
} sum_job;

#if defined(__x86_64__)
__attribute__((target("avx2"))) static float sum_avx2(const float *x, int64_t n) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    v8 x0, x1, x2, x3;
    memcpy(&x0, x + i, 32);
    memcpy(&x1, x + i + 8, 32);
    memcpy(&x2, x + i + 16, 32);
    memcpy(&x3, x + i + 24, 32);
    a0 += x0, a1 += x1, a2 += x2, a3 += x3;
  }
  v8 a = a0 + a1 + a2 + a3;
  float s = 0;
  for (int k = 0; k < 8; k++) s += a[k];
  for (; i < n; i++) s += x[i];
  return s;
}
#endif

static float sum_plain(const float *x, int64_t n) {
  float s[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) s[k] += x[i + k];
  float t = 0;
  for (int k = 0; k < 8; k++) t += s[k];
  for (; i < n; i++) t += x[i];
  return t;
}

static void sum_range(void *c, int64_t b, int64_t e) {
  sum_job *j = c;
  int64_t chunk = (j->n + 63) / 64;
  for (int64_t p = b; p < e; p++) {
    int64_t lo = p * chunk, hi = lo + chunk < j->n ? lo + chunk : j->n;
    if (lo >= hi) continue;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
      j->part[p] = sum_avx2(j->x + lo, hi - lo);
      continue;
    }
#endif
    j->part[p] = sum_plain(j->x + lo, hi - lo);
  }
}

/* ---- ops ---- */
typedef enum { OP_ADD, OP_MUL, OP_EXP } bench_op;
static const char *k_op_name[3] = {"add", "multiply", "exp"};

static double time_op(bench_op op, mx_array *a, mx_array *b, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps + 1; r++) {
    mx_scope_begin();
    mx_array *y = op == OP_ADD   ? mx_add(a, b)
                  : op == OP_MUL ? mx_multiply(a, b)
                                 : mx_exp(a);
    double t0 = now();
    mx_status st = mx_eval1(y);
    double t = now() - t0;
    mx_scope_end();
    if (st != MX_OK) {
      fprintf(stderr, "eval failed: %s\n", mx_last_error());
      exit(1);
    }
    if (r > 0 && t < best) best = t; /* first run: warm-up (page faults) */
  }
  return best;
}

/* The memcpy peer: best time to copy `bytes` with the pool, split into one
 * part per thread or into 64 parts, whichever is faster. */
static double copy_time(char *dst, const char *src, size_t bytes, int reps) {
  double best = 1e30;
  const int parts[2] = {mx_num_threads(), 64};
  for (int k = 0; k < 2; k++) {
    copy_job cj = {dst, src, bytes, parts[k]};
    for (int r = 0; r < reps + 1; r++) {
      double t0 = now();
      mx_parallel_for(parts[k], 1, copy_range, &cj);
      double t = now() - t0;
      if (r && t < best) best = t;
    }
  }
  return best;
}

static void run_table(int threads, int64_t n, int reps) {
  mx_set_num_threads(threads);
  size_t fbytes = (size_t)n * 4;
  char *src = malloc(fbytes), *dst = malloc(fbytes);
  if (!src || !dst) exit(1);
  memset(src, 1, fbytes);
  memset(dst, 2, fbytes);
  double tcopy = copy_time(dst, src, fbytes, reps), tread = 1e30;
  sum_job sj = {(const float *)src, n, {0}};
  volatile double sink = 0;
  for (int r = 0; r < reps + 1; r++) {
    double t0 = now();
    mx_parallel_for(64, 1, sum_range, &sj);
    double t = now() - t0;
    for (int p = 0; p < 64; p++) sink += sj.part[p];
    if (r && t < tread) tread = t;
  }
  (void)sink;
  double copy_gbs = 2.0 * (double)fbytes / tcopy / 1e9;
  double read_gbs = (double)fbytes / tread / 1e9;
  printf("\nthreads %d, n = %lld, simd %s\n", threads, (long long)n,
         mx_simd_name(mx_simd_level()));
  printf("%-10s %-9s %9s %9s %9s %9s\n", "op", "dtype", "ms", "GB/s", "%memcpy", "%read");
  printf("%-10s %-9s %9.2f %9.1f %9s %9s\n", "memcpy", "float32", tcopy * 1e3, copy_gbs,
         "100", "");
  printf("%-10s %-9s %9.2f %9.1f %9s %9s\n", "read-sum", "float32", tread * 1e3, read_gbs,
         "", "100");
  free(src);
  free(dst);

  const mx_dtype ts[2] = {MX_FLOAT32, MX_BFLOAT16};
  int shape[1] = {(int)n};
  for (int d = 0; d < 2; d++) {
    mx_scope_begin();
    mx_array *a = mx_astype(mx_multiply(mx_arange(0, (double)n, 1, MX_FLOAT32),
                                        mx_array_scalar_f64(1e-7, MX_FLOAT32)),
                            ts[d]);
    mx_array *b = mx_astype(mx_full(shape, 1, 0.5, MX_FLOAT32), ts[d]);
    b = mx_contiguous(mx_add(b, mx_zeros(shape, 1, ts[d]))); /* a real buffer */
    mx_eval1(a), mx_eval1(b);
    size_t es = mx_dtype_size(ts[d]);
    for (int op = 0; op < 3; op++) {
      double t = time_op((bench_op)op, a, b, reps);
      double bytes = (double)n * (double)es * (op == OP_EXP ? 2 : 3);
      double gbs = bytes / t / 1e9;
      printf("%-10s %-9s %9.2f %9.1f %8.0f%% %8.0f%%\n", k_op_name[op],
             mx_dtype_name(ts[d]), t * 1e3, gbs, 100 * gbs / copy_gbs,
             100 * gbs / read_gbs);
    }
    mx_scope_end();
  }
}

/* ---- every float unary op ---- */
typedef struct {
  const char *name;
  mx_array *(*fn)(mx_array *);
  int domain; /* 0: [0.05, 1.73], 1: [0.03, 0.87], 2: [1.05, 2.73] */
} unary_case;

static mx_array *round0(mx_array *a) { return mx_round(a, 0); }

static const unary_case k_unary[] = {
    {"abs", mx_abs, 0},
    {"negative", mx_negative, 0},
    {"sign", mx_sign, 0},
    {"square", mx_square, 0},
    {"sqrt", mx_sqrt, 0},
    {"rsqrt", mx_rsqrt, 0},
    {"reciprocal", mx_reciprocal, 0},
    {"exp", mx_exp, 0},
    {"expm1", mx_expm1, 0},
    {"log", mx_log, 0},
    {"log1p", mx_log1p, 0},
    {"log2", mx_log2, 0},
    {"log10", mx_log10, 0},
    {"sin", mx_sin, 0},
    {"cos", mx_cos, 0},
    {"tan", mx_tan, 0},
    {"arcsin", mx_arcsin, 1},
    {"arccos", mx_arccos, 1},
    {"arctan", mx_arctan, 0},
    {"sinh", mx_sinh, 0},
    {"cosh", mx_cosh, 0},
    {"tanh", mx_tanh, 0},
    {"arcsinh", mx_arcsinh, 0},
    {"arccosh", mx_arccosh, 2},
    {"arctanh", mx_arctanh, 1},
    {"erf", mx_erf, 0},
    {"erfinv", mx_erfinv, 1},
    {"sigmoid", mx_sigmoid, 0},
    {"floor", mx_floor, 0},
    {"ceil", mx_ceil, 0},
    {"round", round0, 0},
};

static bool in_list(const char *list, const char *name) {
  if (!list) return true;
  size_t l = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t m = e ? (size_t)(e - p) : strlen(p);
    if (m == l && strncmp(p, name, l) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

static void run_unary(int64_t n, int reps, const char *list) {
  size_t fbytes = (size_t)n * 4;
  char *src = malloc(fbytes), *dst = malloc(fbytes);
  if (!src || !dst) exit(1);
  memset(src, 1, fbytes);
  memset(dst, 2, fbytes);
  double tcopy = copy_time(dst, src, fbytes, reps);
  free(src);
  free(dst);
  double copy_gbs = 2.0 * (double)fbytes / tcopy / 1e9;
  printf("\nthreads %d, n = %lld, simd %s, memcpy %.1f GB/s\n", mx_num_threads(),
         (long long)n, mx_simd_name(mx_simd_level()), copy_gbs);
  const mx_dtype ts[3] = {MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16};
  printf("%-11s", "op");
  for (int d = 0; d < 3; d++) printf(" %9s %7s", mx_dtype_name(ts[d]), "%memcpy");
  printf("\n");
  mx_scope_begin();
  mx_array *in[3][3];
  for (int d = 0; d < 3; d++)
    for (int dom = 0; dom < 3; dom++) {
      double lo = dom == 1 ? 0.025 : 0.05, step = dom == 1 ? 0.5e-7 : 1e-7;
      mx_array *x = mx_add(mx_multiply(mx_arange(0, (double)n, 1, MX_FLOAT32),
                                       mx_array_scalar_f64(step, MX_FLOAT32)),
                           mx_array_scalar_f64(dom == 2 ? 1 + lo : lo, MX_FLOAT32));
      in[d][dom] = mx_astype(x, ts[d]);
      mx_eval1(in[d][dom]);
    }
  for (size_t c = 0; c < sizeof k_unary / sizeof k_unary[0]; c++) {
    if (!in_list(list, k_unary[c].name)) continue;
    printf("%-11s", k_unary[c].name);
    for (int d = 0; d < 3; d++) {
      mx_array *a = in[d][k_unary[c].domain];
      double best = 1e30;
      for (int r = 0; r < reps + 1; r++) {
        mx_scope_begin();
        mx_array *y = k_unary[c].fn(a);
        double t0 = now();
        mx_status st = mx_eval1(y);
        double t = now() - t0;
        mx_scope_end();
        if (st != MX_OK) {
          fprintf(stderr, "eval failed: %s\n", mx_last_error());
          exit(1);
        }
        if (r > 0 && t < best) best = t;
      }
      double gbs = 2.0 * (double)n * (double)mx_dtype_size(ts[d]) / best / 1e9;
      printf(" %9.1f %6.0f%%", gbs, 100 * gbs / copy_gbs);
    }
    printf("\n");
    fflush(stdout);
  }
  mx_scope_end();
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)16 << 20;
  int reps = argc > 2 ? atoi(argv[2]) : 10;
  int pool = mx_num_threads();
  if (argc > 3 && strncmp(argv[3], "unary", 5) == 0) {
    run_unary(n, reps, argv[3][5] == '=' ? argv[3] + 6 : NULL);
    return 0;
  }
  run_table(1, n, reps);
  if (pool > 1) run_table(pool, n, reps);
  return 0;
}
