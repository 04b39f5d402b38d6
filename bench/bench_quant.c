/* bench_quant.c: quantized matvec (decode) and matmul (prefill) throughput.
 * Decode is memory bound, so each case reports GB/s of weight bytes read
 * (wq + scales + biases) next to a read-bandwidth peer measured in the same
 * run: a vectorized sum over a 256 MiB float array on the same thread pool.
 * Weights rotate through enough copies to exceed the last-level cache.
 * Where the CPU has AVX512-VNNI each matvec runs again with int8
 * activations (mx_set_int8_activations: "int8-act" rows).
 *
 *   bench_quant [rounds [cpu]]   (MX_NUM_THREADS: pool size; MX_CPU_ISA: cap) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/gemm_i8.h"
#include "backend/cpu/qsimd.h"
#include "core/core.h"
#include "mx/mx.h"

/* Wall clock, or with "cpu" (second argument) the process CPU time divided
 * by the pool size: on a machine shared with other work it estimates the
 * uncontended time (idle pool threads block, so they add no CPU time). */
static int g_cpu_clock;
static double now(void) {
  struct timespec ts;
  if (g_cpu_clock) {
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (ts.tv_sec + ts.tv_nsec * 1e-9) / mx_num_threads();
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- read-bandwidth peer ---- */
typedef float v8f __attribute__((vector_size(32)));
typedef struct {
  const float *a;
  double part[256];
} sum_ctx;

#if defined(__x86_64__)
__attribute__((target("avx2")))
#endif
static void
sum_range(void *c, int64_t b, int64_t e) {
  sum_ctx *s = c;
  /* chunks of 64 floats; four independent vector sums */
  v8f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
  for (int64_t i = b * 64; i < e * 64; i += 32) {
    v8f x0, x1, x2, x3;
    memcpy(&x0, s->a + i, 32);
    memcpy(&x1, s->a + i + 8, 32);
    memcpy(&x2, s->a + i + 16, 32);
    memcpy(&x3, s->a + i + 24, 32);
    s0 += x0, s1 += x1, s2 += x2, s3 += x3;
  }
  v8f t = (s0 + s1) + (s2 + s3);
  double r = 0;
  for (int j = 0; j < 8; j++) r += t[j];
  s->part[b * 255 / (e > b ? e : 1) % 256] += r; /* keep the work observable */
}

static float *g_peer;
static const int64_t g_peer_n = (int64_t)64 << 20; /* 256 MiB of float */

/* one pass of the peer: GB/s */
static double read_bandwidth_once(void) {
  sum_ctx c = {g_peer, {0}};
  double t0 = now();
  mx_parallel_for(g_peer_n / 64, 1 << 14, sum_range, &c);
  return g_peer_n * 4.0 / (now() - t0) / 1e9;
}

/* ---- quantized matvec ---- */
typedef struct {
  mx_array *wq, *s, *b;
} qweights;

static qweights make_weights(int N, int K, int gs, int bits) {
  int64_t words = (int64_t)N * K * bits / 32, G = (int64_t)N * K / gs;
  uint32_t *w = malloc(4 * (size_t)words);
  uint64_t st = 0x9e3779b97f4a7c15ull ^ (uint64_t)N;
  for (int64_t i = 0; i < words; i++) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    w[i] = (uint32_t)(st >> 32);
  }
  uint16_t *sb = malloc(2 * (size_t)G);
  for (int64_t i = 0; i < G; i++) sb[i] = mx_f32_to_bf16(0.01f + 0.001f * (float)(i % 7));
  int ws[2] = {N, K * bits / 32}, ss[2] = {N, K / gs};
  qweights q = {mx_array_from_data(w, ws, 2, MX_UINT32),
                mx_array_from_data(sb, ss, 2, MX_BFLOAT16),
                mx_array_from_data(sb, ss, 2, MX_BFLOAT16)};
  mx_keep(q.wq), mx_keep(q.s), mx_keep(q.b);
  free(w);
  free(sb);
  return q;
}

/* seconds per product for one pass over all copies */
static double pass_qmm(qweights *q, int ncopy, mx_array *x, int gs, int bits) {
  double t0 = now();
  for (int c = 0; c < ncopy; c++) {
    mx_scope_begin();
    mx_array *y = mx_quantized_matmul(x, q[c].wq, q[c].s, q[c].b, true, gs, bits);
    if (mx_eval1(y) != MX_OK) {
      fprintf(stderr, "eval failed: %s\n", mx_last_error());
      exit(1);
    }
    mx_scope_end();
  }
  return (now() - t0) / ncopy;
}

/* the 1-minute load average (other work on a shared machine skews timings) */
static double loadavg(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

int main(int argc, char **argv) {
  /* The machine may be shared: each case alternates passes of the peer and
   * of the kernel and keeps the best of each, so both see the same quiet
   * moments. */
  int rounds = argc > 1 ? atoi(argv[1]) : 15;
  g_cpu_clock = argc > 2 && strcmp(argv[2], "cpu") == 0;
  mx_isa isa = mx_cpu_isa();
  const char *isan = isa == MX_ISA_AMX          ? "avx512+bf16+amx"
                     : isa == MX_ISA_AVX512BF16 ? "avx512+bf16"
                     : isa == MX_ISA_AVX512     ? "avx512"
                     : isa == MX_ISA_AVX2       ? "avx2"
                                                : "generic";
  g_peer = malloc(sizeof(float) * (size_t)g_peer_n);
  for (int64_t i = 0; i < g_peer_n; i++) g_peer[i] = (float)(i & 7);
  printf("threads %d, kernels %s, best of %d rounds, load average %.2f\n",
         mx_num_threads(), isan, rounds, loadavg());
  printf("peer: read bandwidth, sum of 256 MiB float32 on the same pool\n\n");
  printf("%-30s %8s %9s %8s %8s %8s\n", "case (group 64, bf16 scales)", "MiB", "us/call",
         "GB/s", "peer", "of peer");
  /* MX_BENCH_SHAPES="896x896,4864x896" (N x K) replaces the default shapes */
  int shapes[16][2] = {{4096, 4096}, {14336, 4096}}, nshapes = 2;
  const char *env = getenv("MX_BENCH_SHAPES");
  if (env) {
    nshapes = 0;
    for (const char *c = env; *c && nshapes < 16;) {
      int n, k, used;
      if (sscanf(c, "%dx%d%n", &n, &k, &used) != 2 || n < 1 || k < 64 || k % 64) break;
      shapes[nshapes][0] = n, shapes[nshapes][1] = k, nshapes++;
      c += used;
      if (*c == ',') c++;
    }
  }
  const int bitss[2] = {4, 8};
  for (int bi = 0; bi < 2; bi++)
    for (int si = 0; si < nshapes; si++) {
      int N = shapes[si][0], K = shapes[si][1], bits = bitss[bi], gs = 64;
      double bytes = (double)N * K * bits / 8 + 2.0 * 2 * N * (K / gs);
      int ncopy = (int)(160e6 / bytes) + 1; /* > last-level cache */
      qweights *q = malloc(sizeof *q * (size_t)ncopy);
      for (int c = 0; c < ncopy; c++) q[c] = make_weights(N, K, gs, bits);
      int xs[2] = {1, K};
      mx_array *x = mx_keep(mx_astype(mx_ones(xs, 2, MX_FLOAT32), MX_BFLOAT16));
      mx_eval1(x);
      /* exact kernels, then (where the CPU has them) int8 activations */
      for (int mode = 0; mode < (mx_gemm_i8_available() ? 2 : 1); mode++) {
        mx_set_int8_activations(mode == 1);
        double t = 1e30, th = 1e30, peer = 0;
        pass_qmm(q, ncopy, x, gs, bits); /* warm up */
        for (int r = 0; r < rounds; r++) {
          double p = read_bandwidth_once();
          peer = p > peer ? p : peer;
          double tr = pass_qmm(q, ncopy, x, gs, bits);
          t = tr < t ? tr : t;
          pass_qmm(q, 1, x, gs, bits); /* load the copy into the cache */
          tr = pass_qmm(q, 1, x, gs, bits);
          th = tr < th ? tr : th;
        }
        mx_set_int8_activations(false);
        char name[64];
        snprintf(name, sizeof name, "%d-bit matvec %dx%d%s", bits, N, K,
                 mode ? " int8-act" : "");
        printf("%-30s %8.1f %9.1f %8.1f %8.1f %7.0f%%\n", name, bytes / 1048576, t * 1e6,
               bytes / t / 1e9, peer, 100 * bytes / t / 1e9 / peer);
        printf("%-30s %8s %9.1f %8.1f\n", "  same, one copy (cache-warm)", "", th * 1e6,
               bytes / th / 1e9);
      }
      if (si == 0) { /* prefill: 32 rows of x per weight pass */
        int xs2[2] = {32, K};
        mx_array *x2 = mx_keep(mx_astype(mx_ones(xs2, 2, MX_FLOAT32), MX_BFLOAT16));
        mx_eval1(x2);
        for (int mode = 0; mode < (mx_gemm_i8_available() ? 2 : 1); mode++) {
          mx_set_int8_activations(mode == 1);
          double t2 = 1e30;
          for (int r = 0; r < 3; r++) {
            double tr = pass_qmm(q, 1, x2, gs, bits);
            t2 = tr < t2 ? tr : t2;
          }
          mx_set_int8_activations(false);
          printf("%-30s %8s %9.1f %8.1f GFLOP/s\n",
                 mode ? "  prefill M=32 int8-act" : "  prefill M=32", "", t2 * 1e6,
                 2.0 * 32 * N * K / t2 / 1e9);
        }
        mx_free(x2);
      }
      for (int c = 0; c < ncopy; c++) mx_free(q[c].wq), mx_free(q[c].s), mx_free(q[c].b);
      free(q);
      mx_free(x);
    }
  printf("\nload average at the end %.2f\n", loadavg());
  free(g_peer);
  return 0;
}
