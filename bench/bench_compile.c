/* bench_compile.c: gelu(x * y + z) (the tanh approximation written with
 * ops: 0.5 t (1 + tanh(sqrt(2/pi) (t + 0.044715 t^3)))) over 16M float32
 * elements, run eagerly (11 elementwise kernels, each reading and writing
 * a 64 MiB temporary) and compiled (one fused kernel reading x, y, z and
 * writing the result), in the same run on the same thread pool. Prints the
 * time per call, the bandwidth of the compiled call's 4 x 64 MiB of
 * traffic, the speed-up (target >= 2x) and the largest difference between
 * the two results (the fused kernel does the same float32 operations, so
 * it is 0).
 *
 * usage: bench_compile [n_elems] [reps]   (MX_NUM_THREADS applies). The
 * first compiled call traces and builds the kernel (reported apart, with
 * the cache directory cold or warm). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mx/mx.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static mx_array *sc(double v, mx_array *like) { return mx_scalar_like(like, v); }

static mx_status gelu_fn(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  mx_array *t = mx_add(mx_multiply(in[0], in[1]), in[2]);
  mx_array *t3 = mx_multiply(t, mx_multiply(t, t));
  mx_array *inner =
      mx_multiply(mx_add(t, mx_multiply(sc(0.044715, t), t3)), sc(0.7978845608028654, t));
  return mx_vec_push(
      out, mx_multiply(mx_multiply(sc(0.5, t), t), mx_add(sc(1, t), mx_tanh(inner))));
}

/* Best time of reps calls of f (each evaluated), the result of the last. */
static double time_calls(mx_closure *f, mx_array **in, int reps, mx_array **keep) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    mx_scope_begin();
    double t0 = now();
    mx_array *y = mx_closure_call1(f, in, 3);
    if (!y || mx_eval1(y) != MX_OK) {
      fprintf(stderr, "bench_compile: %s\n", mx_last_error());
      exit(1);
    }
    double t = now() - t0;
    if (t < best) best = t;
    if (r == reps - 1) {
      mx_free(*keep);
      *keep = mx_keep(y);
    }
    mx_scope_end();
  }
  return best;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 16 << 20;
  int reps = argc > 2 ? atoi(argv[2]) : 10;
  int shape[1] = {(int)n};
  float *buf = malloc(sizeof(float) * (size_t)n);
  if (!buf) return 1;
  mx_array *in[3];
  uint64_t s = 0x9E3779B97F4A7C15ull;
  for (int k = 0; k < 3; k++) {
    for (int64_t i = 0; i < n; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      buf[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 4 - 2);
    }
    in[k] = mx_array_from_data(buf, shape, 1, MX_FLOAT32);
  }
  free(buf);
  mx_closure *f = mx_closure_new(gelu_fn, NULL, NULL), *cf = mx_compile(f, 0);
  mx_array *ye = NULL, *yc = NULL;
  double t0 = now();
  time_calls(cf, in, 1, &yc); /* trace + build (or load from the cache) */
  double first = now() - t0;
  /* interleave so both see the same machine state */
  double te = 1e30, tc = 1e30;
  for (int round = 0; round < 2; round++) {
    double a = time_calls(f, in, reps, &ye), b = time_calls(cf, in, reps, &yc);
    if (a < te) te = a;
    if (b < tc) tc = b;
  }
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  mx_array *diff = mx_max(mx_abs(mx_subtract(ye, yc)), NULL, 0, false);
  double d = diff ? mx_array_item_f64(diff) : -1;
  double bytes = 4.0 * (double)n * 4;
  printf("gelu(x*y+z), %lld float32, %d threads\n", (long long)n, mx_num_threads());
  printf("  first compiled call (trace + build): %8.1f ms (compiler runs %lld)\n",
         first * 1e3, (long long)st.compiler_runs);
  printf("  eager    %8.2f ms\n", te * 1e3);
  printf("  compiled %8.2f ms  %6.1f GB/s  (%d kernel, %d nodes fused)\n", tc * 1e3,
         bytes / tc / 1e9, st.kernels, st.fused_nodes);
  printf("  speed-up %8.2fx  (max |eager - compiled| = %g)\n", te / tc, d);
  mx_free(ye);
  mx_free(yc);
  mx_free(diff);
  for (int k = 0; k < 3; k++) mx_free(in[k]);
  mx_closure_free(cf);
  mx_closure_free(f);
  return 0;
}
