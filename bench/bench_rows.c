/* bench_rows.c: products with a few rows of x (2-32), the shape of
 * speculative decoding's verify step, batched decoding and short prompts,
 * next to the one-row product (decode's matvec) of the same weight in the
 * same run. Every row count reads the same weight bytes, so until the
 * kernels become compute-bound an M-row product should cost about as much
 * as one row: the table prints µs per product, the ratio to one row, and
 * GFLOP/s.
 *
 * Weights: bfloat16, and 4- and 8-bit (group 64, bfloat16 scales) as
 * quantize makes them, rotating through enough copies to exceed the
 * last-level cache (each product reads its weight from memory, as decode
 * does). x is bfloat16.
 *
 *   bench_rows [NxK]   (default 4864x896: the 0.4B model's gate/up) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mx/mx.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
  mx_array *w, *s, *b; /* b NULL: bfloat16 weight w */
} weight;

/* seconds per product, best of `reps` passes over all copies */
static double time_rows(const weight *w, int nc, mx_array *x, int bits, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    for (int c = 0; c < nc; c++) {
      mx_scope_begin();
      mx_array *y = bits ? mx_quantized_matmul(x, w[c].w, w[c].s, w[c].b, true, 64, bits)
                         : mx_matmul(x, mx_transpose(w[c].w, NULL, 0));
      if (!y || mx_eval1(y) != MX_OK) {
        fprintf(stderr, "product failed: %s\n", mx_last_error());
        exit(1);
      }
      mx_scope_end();
    }
    double t = (now() - t0) / nc;
    if (t < best) best = t;
  }
  return best;
}

int main(int argc, char **argv) {
  int N = 4864, K = 896;
  if (argc > 1 && sscanf(argv[1], "%dx%d", &N, &K) != 2) {
    fprintf(stderr, "usage: bench_rows [NxK]\n");
    return 2;
  }
  mx_blas_on_pool(); /* as the mx binary runs */
  printf("threads: %d; weight %dx%d, x bfloat16, weights from memory\n\n",
         mx_num_threads(), N, K);
  printf("%-6s %5s %10s %9s %9s\n", "weight", "rows", "us", "x 1 row", "GFLOP/s");
  const int bitss[3] = {0, 4, 8}, Ms[9] = {1, 2, 3, 4, 8, 12, 16, 24, 32};
  for (int bi = 0; bi < 3; bi++) {
    const int bits = bitss[bi];
    double bytes = bits ? (double)N * K * bits / 8 + 4.0 * N * K / 64 : 2.0 * N * K;
    int nc = (int)(200e6 / bytes) + 1;
    weight *w = calloc((size_t)nc, sizeof *w);
    if (!w) return 1;
    for (int c = 0; c < nc; c++) {
      mx_scope_begin();
      int ws[2] = {N, K};
      mx_array *f = mx_random_normal(ws, 2, MX_BFLOAT16, 0, 0.02, mx_random_key(c + 1));
      if (bits) {
        mx_array *q[3];
        if (mx_quantize(f, 64, bits, &q[0], &q[1], &q[2]) != MX_OK) {
          fprintf(stderr, "quantize failed: %s\n", mx_last_error());
          return 1;
        }
        mx_eval(q, 3);
        w[c] = (weight){mx_keep(q[0]), mx_keep(q[1]), mx_keep(q[2])};
      } else {
        mx_eval1(f);
        w[c] = (weight){mx_keep(f), NULL, NULL};
      }
      mx_scope_end();
    }
    double t1 = 0;
    for (int mi = 0; mi < 9; mi++) {
      const int M = Ms[mi];
      mx_scope_begin();
      int xs[2] = {M, K};
      mx_array *x = mx_random_normal(xs, 2, MX_BFLOAT16, 0, 1, mx_random_key(99));
      mx_eval1(x);
      time_rows(w, nc, x, bits, 1); /* warm up */
      double t = time_rows(w, nc, x, bits, 5);
      if (M == 1) t1 = t;
      char name[16];
      snprintf(name, sizeof name, bits ? "%d-bit" : "bf16", bits);
      printf("%-6s %5d %10.1f %9.2f %9.1f\n", name, M, t * 1e6, t / t1,
             2.0 * M * N * K / t * 1e-9);
      mx_scope_end();
    }
    for (int c = 0; c < nc; c++) {
      mx_free(w[c].w);
      if (w[c].s) mx_free(w[c].s), mx_free(w[c].b);
    }
    free(w);
    printf("\n");
  }
  return 0;
}
