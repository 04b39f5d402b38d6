/* bench_matmul.c: mx_matmul throughput next to OpenBLAS called directly on
 * the same buffers in the same run (the peer). Prints GFLOP/s and the ratio
 * mx / BLAS for:
 *   float32 square GEMM n = 512, 1024, 2048, 4096 (peer: cblas_sgemm)
 *   float32 4096x4096 @ 4096 matvec                (peer: cblas_sgemv)
 *   bfloat16 square GEMM                           (peer: float32 cblas_sgemm
 *     of the same size)
 *   bfloat16 x @ w.T at the 0.4B LM's prefill shapes (128 tokens; peer:
 *     float32 sgemm of the same shape), also with w quantized to 4 and 8
 *     bits (quantized_matmul), with the machine's bfloat16 peak:
 *     a loop of independent vdpbf16ps on every pool thread (AVX512-BF16),
 *     or of tdpbf16ps on four accumulator tiles where the GEMM runs on AMX;
 *     and the quantized ones again with int8 activations
 *     (mx_set_int8_activations, AVX512-VNNI) next to a loop of vpdpbusd
 * mx and BLAS calls alternate in blocks and each side keeps its best time,
 * so both see the same machine load (mx: op construction, eval and output
 * allocation included). The peer is OpenBLAS threaded (one thread per pool
 * thread); mx runs as the mx binary does (mx_blas_on_pool: OpenBLAS on one
 * thread, mx's pool splitting float32 products). Usage: bench_matmul
 * [max_n]. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/gemm_i8.h"
#include "backend/cpu/qsimd.h"
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
  return r < 4 ? 4 : r > 50 ? 50 : r;
}

/* One timed call of each side. */
typedef struct {
  mx_array *a, *b; /* mx operands */
  int M, N, K;     /* peer: C (M, N) = A (M, K) @ B (K, N), or gemv when N == 1 */
  const float *pa, *pb;
  float *pc;
} pair_t;

static double run_mx(const pair_t *p) {
  mx_scope_begin();
  double t0 = now();
  mx_array *c = mx_matmul(p->a, p->b);
  if (!c || mx_eval1(c) != MX_OK) {
    fprintf(stderr, "mx_matmul failed: %s\n", mx_last_error());
    exit(1);
  }
  double t = now() - t0;
  mx_scope_end();
  return t;
}

static double run_blas(const pair_t *p) {
  double t0 = now();
  if (p->N == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, p->M, p->K, 1.0f, p->pa, p->K, p->pb, 1,
                0.0f, p->pc, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->M, p->N, p->K, 1.0f, p->pa,
                p->K, p->pb, p->N, 0.0f, p->pc, p->N);
  return now() - t0;
}

/* OpenBLAS's threads poll for work for a while after each threaded call:
 * time mx only once they sleep */
static void settle_blas(void) {
  struct timespec d = {0, 200 * 1000 * 1000};
  nanosleep(&d, NULL);
}

/* Two rounds of: the peer's calls (OpenBLAS with one thread per pool
 * thread), then mx's (OpenBLAS set to one thread, as the mx binary runs it:
 * mx_blas_on_pool; mx splits float32 products over its pool). Each side
 * keeps its best time; the first call of each side per round warms caches
 * and threads. */
static void time_pair(const pair_t *p, int reps, double *t_mx, double *t_blas) {
  *t_mx = *t_blas = 1e30;
  for (int round = 0; round < 2; round++) {
    openblas_set_num_threads(mx_num_threads());
    for (int i = 0; i < reps / 2 + 1; i++) {
      double tb = run_blas(p);
      if (i > 0 && tb < *t_blas) *t_blas = tb;
    }
    openblas_set_num_threads(1);
    settle_blas();
    for (int i = 0; i < reps / 2 + 1; i++) {
      double tm = run_mx(p);
      if (i > 0 && tm < *t_mx) *t_mx = tm;
    }
  }
}

static void report(const char *name, double flops, double t_mx, double t_blas,
                   double bytes_mx, double bytes_blas) {
  printf("%-30s %10.1f %10.1f %8.3f", name, flops / t_mx * 1e-9, flops / t_blas * 1e-9,
         t_blas / t_mx);
  if (bytes_mx > 0)
    printf("   (%.1f vs %.1f GB/s)", bytes_mx / t_mx * 1e-9, bytes_blas / t_blas * 1e-9);
  printf("\n");
}

/* ---- vector peaks: 12 independent chains of one dot-product instruction:
 * vdpbf16ps (64 FLOP each) and vpdpbusd (64 int8 multiply-adds, 128 ops,
 * the int8-activation path of quantized prefill) ---- */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PEAK_ITERS 20000000L
#define PEAK_LOOP(NAME, INSN, TARGET)                                                 \
  __attribute__((target(TARGET))) static void *NAME(void *arg) {                      \
    long it = PEAK_ITERS;                                                             \
    __asm__ volatile(                                                                 \
        "vpbroadcastd %1, %%zmm20\n vpbroadcastd %1, %%zmm21\n"                       \
        "vpxord %%zmm0,%%zmm0,%%zmm0\n vpxord %%zmm1,%%zmm1,%%zmm1\n"                 \
        "vpxord %%zmm2,%%zmm2,%%zmm2\n vpxord %%zmm3,%%zmm3,%%zmm3\n"                 \
        "vpxord %%zmm4,%%zmm4,%%zmm4\n vpxord %%zmm5,%%zmm5,%%zmm5\n"                 \
        "vpxord %%zmm6,%%zmm6,%%zmm6\n vpxord %%zmm7,%%zmm7,%%zmm7\n"                 \
        "vpxord %%zmm8,%%zmm8,%%zmm8\n vpxord %%zmm9,%%zmm9,%%zmm9\n"                 \
        "vpxord %%zmm10,%%zmm10,%%zmm10\n vpxord %%zmm11,%%zmm11,%%zmm11\n"           \
        "1:\n" INSN " %%zmm20,%%zmm21,%%zmm0\n" INSN " %%zmm20,%%zmm21,%%zmm1\n" INSN \
        " %%zmm20,%%zmm21,%%zmm2\n" INSN " %%zmm20,%%zmm21,%%zmm3\n" INSN             \
        " %%zmm20,%%zmm21,%%zmm4\n" INSN " %%zmm20,%%zmm21,%%zmm5\n" INSN             \
        " %%zmm20,%%zmm21,%%zmm6\n" INSN " %%zmm20,%%zmm21,%%zmm7\n" INSN             \
        " %%zmm20,%%zmm21,%%zmm8\n" INSN " %%zmm20,%%zmm21,%%zmm9\n" INSN             \
        " %%zmm20,%%zmm21,%%zmm10\n" INSN                                             \
        " %%zmm20,%%zmm21,%%zmm11\n"                                                  \
        "dec %0\n jnz 1b\n"                                                           \
        : "+r"(it)                                                                    \
        : "r"(0x3f803f80)                                                             \
        : "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8",     \
          "zmm9", "zmm10", "zmm11", "zmm20", "zmm21", "cc");                          \
    return arg;                                                                       \
  }
PEAK_LOOP(peak_loop, "vdpbf16ps", "avx512f,avx512bf16")
PEAK_LOOP(peak_loop_i8, "vpdpbusd", "avx512f,avx512vnni")

/* G(FL)OP/s of nt threads running a loop at once (best of 3), ops per
 * instruction given */
static double run_peak(int nt, void *(*loop)(void *), double ops) {
  double best = 0;
  for (int r = 0; r < 3; r++) {
    pthread_t t[64];
    double t0 = now();
    for (int i = 0; i < nt; i++) pthread_create(&t[i], NULL, loop, NULL);
    for (int i = 0; i < nt; i++) pthread_join(t[i], NULL);
    double g = nt * (double)PEAK_ITERS * 12 * ops / (now() - t0) * 1e-9;
    best = g > best ? g : best;
  }
  return best;
}

/* 0 without AVX512-BF16 / AVX512-VNNI */
static double bf16_peak(int nt) {
  return __builtin_cpu_supports("avx512bf16") ? run_peak(nt, peak_loop, 64) : 0;
}
static double i8_peak(int nt) {
  return __builtin_cpu_supports("avx512vnni") ? run_peak(nt, peak_loop_i8, 128) : 0;
}

/* ---- AMX peak: tdpbf16ps into four independent accumulator tiles ---- */
#define AMX_ITERS 4000000L
__attribute__((target("amx-tile,amx-bf16"))) static void *amx_loop(void *arg) {
  /* random operands: on zeros the unit may draw less power and clock higher */
  uint16_t ab[16 * 32];
  uint64_t x = 0x9E3779B97F4A7C15ull + (uint64_t)(uintptr_t)&ab;
  for (int i = 0; i < 16 * 32; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ab[i] = (uint16_t)((0x3c00 + (x >> 40) % 0x380) | ((x >> 20) & 0x8000));
  }
  mx_amx_begin();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ab, 64);
  _tile_loadd(5, ab, 64);
  _tile_loadd(6, ab, 64);
  _tile_loadd(7, ab, 64);
  for (long i = 0; i < AMX_ITERS; i++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  mx_amx_end();
  return arg;
}

/* GFLOP/s of nt threads on the tile unit at once (best of 3; 16 x 16 x 32
 * products per instruction); the library has already asked Linux for the
 * tile state when mx_cpu_isa() reports AMX */
static double amx_peak(int nt) {
  double best = 0;
  for (int r = 0; r < 3; r++) {
    pthread_t t[64];
    double t0 = now();
    for (int i = 0; i < nt; i++) pthread_create(&t[i], NULL, amx_loop, NULL);
    for (int i = 0; i < nt; i++) pthread_join(t[i], NULL);
    double g = nt * (double)AMX_ITERS * 4 * 16 * 16 * 32 * 2 / (now() - t0) * 1e-9;
    best = g > best ? g : best;
  }
  return best;
}
#else
static double bf16_peak(int nt) { return 0 * nt; }
static double i8_peak(int nt) { return 0 * nt; }
static double amx_peak(int nt) { return 0 * nt; }
#endif

/* quantized_matmul(x, w) with w quantized (group 64), as in prefill */
static double run_qmm(mx_array *x, mx_array *const q[3], int bits) {
  mx_scope_begin();
  double t0 = now();
  mx_array *c = mx_quantized_matmul(x, q[0], q[1], q[2], true, 64, bits);
  if (!c || mx_eval1(c) != MX_OK) {
    fprintf(stderr, "mx_quantized_matmul failed: %s\n", mx_last_error());
    exit(1);
  }
  double t = now() - t0;
  mx_scope_end();
  return t;
}

/* bfloat16 x (M, K) @ w.T, w (N, K): the linear layers of prefill; bits
 * 4 or 8: w quantized (mlx-community layout, group 64, bfloat16 scales) */
static double g_i8_peak; /* int8 (vpdpbusd) peak of the run, GOP/s */

static void bench_linear(int M, int N, int K, int bits, double peak) {
  float *x = rand_buf((int64_t)M * K), *w = rand_buf((int64_t)N * K),
        *c = malloc(sizeof(float) * (size_t)M * N);
  int xs[2] = {M, K}, ws[2] = {N, K};
  mx_array *mx = mx_astype(mx_array_from_data(x, xs, 2, MX_FLOAT32), MX_BFLOAT16);
  mx_array *mw = mx_astype(mx_array_from_data(w, ws, 2, MX_FLOAT32), MX_BFLOAT16);
  mx_eval1(mx);
  mx_eval1(mw);
  mx_array *wt = mx_transpose(mw, NULL, 0), *q[3] = {NULL, NULL, NULL};
  if (bits && mx_quantize(mw, 64, bits, &q[0], &q[1], &q[2]) != MX_OK) {
    fprintf(stderr, "mx_quantize failed: %s\n", mx_last_error());
    exit(1);
  }
  for (int i = 0; bits && i < 3; i++) mx_eval1(q[i]);
  /* peer: float32 sgemm of the same shape (x @ w.T as CblasTrans) */
  double flops = 2.0 * M * N * K, tm = 1e30, tb = 1e30, ph[5];
  mx_gemm_bf16_phases(ph, true);
  for (int i = 0; i < 21; i++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f,
                c, N);
    double t = now() - t0;
    pair_t p = {mx, wt, M, N, K, NULL, NULL, NULL};
    double u = bits ? run_qmm(mx, q, bits) : run_mx(&p);
    if (i == 0) continue;
    tb = t < tb ? t : tb;
    tm = u < tm ? u : tm;
  }
  char name[64];
  if (bits)
    snprintf(name, sizeof name, "q%d x @ w.T %dx%dx%d", bits, M, N, K);
  else
    snprintf(name, sizeof name, "bf16 x @ w.T %dx%dx%d", M, N, K);
  printf("%-30s %10.1f %10.1f %8.3f", name, flops / tm * 1e-9, flops / tb * 1e-9,
         tb / tm);
  if (peak > 0) printf("   (%.0f%% of bf16 peak)", 100 * flops / tm * 1e-9 / peak);
  printf("\n");
  if (bits && mx_gemm_i8_available()) {
    /* the same product with int8 activations (opt-in; not bit-exact) */
    double ti = 1e30;
    mx_set_int8_activations(true);
    for (int i = 0; i < 21; i++) {
      double u = run_qmm(mx, q, bits);
      if (i) ti = u < ti ? u : ti;
    }
    mx_set_int8_activations(false);
    snprintf(name, sizeof name, "q%d int8-act %dx%dx%d", bits, M, N, K);
    printf("%-30s %10.1f %10.1f %8.3f   (%.0f%% of int8 peak %.0f)\n", name,
           flops / ti * 1e-9, flops / tb * 1e-9, tb / ti,
           100 * flops / ti * 1e-9 / g_i8_peak, g_i8_peak);
  }
  if (getenv("MX_GEMM_PROF")) { /* MX_GEMM_PROF: where a call's time goes (per call) */
    mx_gemm_bf16_phases(ph, true);
    printf(
        "   Mcycles/call: xpack %.3f  fill %.3f  kernel %.3f  store %.3f (thread sums)  "
        "job %.3f (wall)\n",
        ph[0] / 21e6, ph[1] / 21e6, ph[2] / 21e6, ph[3] / 21e6, ph[4] / 21e6);
  }
  mx_free(mx);
  mx_free(mw);
  mx_free(wt);
  for (int i = 0; i < 3; i++) mx_free(q[i]);
  free(x);
  free(w);
  free(c);
}

int main(int argc, char **argv) {
  int max_n = argc > 1 ? atoi(argv[1]) : 4096;
  printf("threads: mx pool %d; peer: OpenBLAS %d; mx: OpenBLAS 1 (mx_blas_on_pool)\n",
         mx_num_threads(), mx_num_threads());
  const bool amx = mx_cpu_isa() >= MX_ISA_AMX;
  double peak = amx ? amx_peak(mx_num_threads()) : bf16_peak(mx_num_threads());
  printf("bf16 peak (%s loop, %d threads): %.1f GFLOP/s\n",
         amx ? "AMX tdpbf16ps" : "vdpbf16ps", mx_num_threads(), peak);
  g_i8_peak = i8_peak(mx_num_threads());
  printf("int8 peak (vpdpbusd loop, %d threads): %.1f GOP/s\n", mx_num_threads(),
         g_i8_peak);
  printf("%-30s %10s %10s %8s\n", "case", "mx GF/s", "BLAS GF/s", "mx/BLAS");
  /* prefill of the 0.4B llama shape: q/o, gate/up, down, lm head */
  bench_linear(128, 896, 896, 0, peak);
  bench_linear(128, 4864, 896, 0, peak);
  bench_linear(128, 896, 4864, 0, peak);
  bench_linear(128, 32000, 896, 0, peak);
  /* the same layers quantized (prefill of q4 / q8 models) */
  bench_linear(128, 4864, 896, 4, peak);
  bench_linear(128, 896, 4864, 4, peak);
  bench_linear(128, 4864, 896, 8, peak);
  for (int n = 512; n <= max_n; n *= 2) {
    int64_t nn = (int64_t)n * n;
    float *a = rand_buf(nn), *b = rand_buf(nn), *c = malloc((size_t)nn * sizeof(float));
    int shape[2] = {n, n};
    mx_array *ma = mx_array_from_data(a, shape, 2, MX_FLOAT32);
    mx_array *mb = mx_array_from_data(b, shape, 2, MX_FLOAT32);
    mx_array *ha = mx_astype(ma, MX_BFLOAT16), *hb = mx_astype(mb, MX_BFLOAT16);
    mx_array *mbt = mx_transpose(mb, NULL, 0);
    mx_eval1(ha);
    mx_eval1(hb);
    double flops = 2.0 * n * n * n, tm, tb;
    int reps = reps_for(flops);
    char name[64];
    pair_t p = {ma, mb, n, n, n, a, b, c};
    time_pair(&p, reps, &tm, &tb);
    snprintf(name, sizeof name, "f32 gemm %d", n);
    report(name, flops, tm, tb, 0, 0);
    /* transposed b: a view passed as CblasTrans (peer: the plain product) */
    p.b = mbt;
    time_pair(&p, reps, &tm, &tb);
    snprintf(name, sizeof name, "f32 gemm %d, a @ b.T view", n);
    report(name, flops, tm, tb, 0, 0);
    /* bfloat16 inputs (peer: float32 sgemm of the same size) */
    p.a = ha;
    p.b = hb;
    time_pair(&p, reps, &tm, &tb);
    snprintf(name, sizeof name, "bf16 gemm %d (peer f32)", n);
    report(name, flops, tm, tb, 0, 0);
    mx_free(ma);
    mx_free(mb);
    mx_free(ha);
    mx_free(hb);
    mx_free(mbt);
    free(a);
    free(b);
    free(c);
  }
  /* matrix-vector */
  {
    int n = max_n < 4096 ? max_n : 4096;
    int64_t nn = (int64_t)n * n;
    float *a = rand_buf(nn), *x = rand_buf(n), *y = malloc((size_t)n * sizeof(float));
    int shape[2] = {n, n};
    mx_array *ma = mx_array_from_data(a, shape, 2, MX_FLOAT32);
    mx_array *mv = mx_array_from_data(x, &n, 1, MX_FLOAT32);
    mx_array *ha = mx_astype(ma, MX_BFLOAT16), *hv = mx_astype(mv, MX_BFLOAT16);
    mx_eval1(ha);
    mx_eval1(hv);
    double flops = 2.0 * n * n, tm, tb;
    char name[64];
    pair_t p = {ma, mv, n, 1, n, a, x, y};
    time_pair(&p, 100, &tm, &tb);
    snprintf(name, sizeof name, "f32 matvec %dx%d", n, n);
    report(name, flops, tm, tb, 4.0 * nn, 4.0 * nn);
    p.a = ha;
    p.b = hv;
    time_pair(&p, 100, &tm, &tb);
    snprintf(name, sizeof name, "bf16 matvec %dx%d (peer f32)", n, n);
    report(name, flops, tm, tb, 2.0 * nn, 4.0 * nn);
    mx_free(ma);
    mx_free(mv);
    mx_free(ha);
    mx_free(hv);
    free(a);
    free(x);
    free(y);
  }
  return 0;
}
