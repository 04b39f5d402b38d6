/* bench_amx.c: the AMX tile unit's throughput for the bfloat16 GEMM's
 * micro-kernel shapes, one thread (kernel notes in docs/performance.md):
 * tdpbf16ps alone, and the 2 x 2 accumulator block of gemm_bf16.c with its
 * four tile loads per step in two orders (all loads first, or each operand
 * reloaded as soon as its last reader has issued), operands in L1 (one
 * 16 KB block) or streaming through L2 (a 1 MB buffer). Prints GFLOP/s and
 * the share of the tdpbf16ps-only rate. Operands hold random bfloat16
 * values (BENCH_AMX_ZEROS=1: zeros). Exits quietly without AMX. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/qsimd.h"
#include "mx/mx.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TGTA __attribute__((target("amx-tile,amx-bf16")))

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* mode 0: tdpbf16ps only; 1: loads first; 2: loads interleaved.
 * A rows lda bytes apart; span: bytes the operands walk through */
TGTA static double run(int mode, const char *buf, size_t span, long steps) {
  mx_amx_begin();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, buf, 64);
  _tile_loadd(5, buf + 1024, 64);
  _tile_loadd(6, buf + 2048, 64);
  _tile_loadd(7, buf + 3072, 64);
  size_t off = 0;
  double t0 = now();
  for (long s = 0; s < steps; s++) {
    const char *p = buf + off;
    off += 4096;
    if (off + 4096 > span) off = 0;
    if (mode == 1) {
      _tile_loadd(6, p, 64);
      _tile_loadd(7, p + 1024, 64);
      _tile_loadd(4, p + 2048, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(5, p + 3072, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    } else if (mode == 2) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(4, p, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, p + 1024, 64);
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(5, p + 2048, 64);
      _tile_loadd(7, p + 3072, 64);
    } else {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  double dt = now() - t0;
  mx_amx_end();
  return (double)steps * 4 * 16 * 16 * 32 * 2 / dt * 1e-9;
}

/* The GEMM's block loop (gemm_bf16.c amx_block, loads-first order) on
 * synthetic buffers: W (rows x 896 bfloat16, rows lda_e elements apart),
 * packed X (128 rows: 8 blocks of 448 pairs), C tiles loaded and stored
 * around every 8 steps when cio (else kept in the tiles). */
TGTA static double gemm_like(const uint16_t *w, int64_t lda_e, int rows,
                             const uint32_t *xp, float *ct, bool cio, int reps) {
  mx_amx_begin();
  const int64_t xjs = 448 * 16;
  const size_t sa = (size_t)lda_e * 2;
  double t0 = now();
  long tdp = 0;
  for (int r = 0; r < reps; r++)
    for (int k0 = 0; k0 < 896; k0 += 256) {
      const int ks = (896 - k0 < 256 ? 896 - k0 : 256) / 32;
      for (int i = 0; i < rows; i += 32)
        for (int jb = 0; jb < 8; jb += 2) {
          float *c00 = ct + (int64_t)(i % 128) * 128 + jb * 16;
          const uint32_t *b0 = xp + jb * xjs + k0 / 2 * 16, *b1 = b0 + xjs;
          const uint16_t *a0 = w + (int64_t)i * lda_e + k0, *a1 = a0 + 16 * lda_e;
          if (cio) {
            _tile_loadd(0, c00, 512);
            _tile_loadd(1, c00 + 16, 512);
            _tile_loadd(2, c00 + 16 * 128, 512);
            _tile_loadd(3, c00 + 16 * 128 + 16, 512);
          }
          for (int s = 0; s < ks; s++) {
            _tile_loadd(6, b0 + s * 256, 64);
            _tile_loadd(7, b1 + s * 256, 64);
            _tile_loadd(4, a0 + s * 32, sa);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_loadd(5, a1 + s * 32, sa);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
          tdp += 4 * ks;
          if (cio) {
            _tile_stored(0, c00, 512);
            _tile_stored(1, c00 + 16, 512);
            _tile_stored(2, c00 + 16 * 128, 512);
            _tile_stored(3, c00 + 16 * 128 + 16, 512);
          }
        }
    }
  double dt = now() - t0;
  mx_amx_end();
  return (double)tdp * 16 * 16 * 32 * 2 / dt * 1e-9;
}

/* n bytes of bfloat16 values in [-1, 1) (random data: the unit may draw
 * less power, and clock higher, on zeros), or zeros */
static void fill(void *p, size_t n, bool zeros) {
  uint16_t *h = p;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < n / 2; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint16_t e = (uint16_t)(0x3c00 + (x >> 40) % 0x380); /* 2^-8 .. 2^-1 */
    h[i] = zeros ? 0 : (uint16_t)(e | ((x >> 20) & 0x8000));
  }
}

int main(void) {
  if (mx_cpu_isa() < MX_ISA_AMX) {
    printf("bench_amx: no AMX on this CPU\n");
    return 0;
  }
  size_t big = (size_t)1 << 20;
  char *buf = aligned_alloc(64, big);
  fill(buf, big, getenv("BENCH_AMX_ZEROS") != NULL);
  const long steps = 2000000;
  const char *names[3] = {"tdpbf16ps only", "loads first", "loads interleaved"};
  double peak = 0;
  for (int rep = 0; rep < 2; rep++)
    for (int mode = 0; mode < 3; mode++)
      for (int l2 = 0; l2 < (mode ? 2 : 1); l2++) {
        double best = 0;
        for (int r = 0; r < 3; r++) {
          double g = run(mode, buf, l2 ? big : 16384, steps);
          best = g > best ? g : best;
        }
        if (mode == 0 && best > peak) peak = best;
        if (rep)
          printf("%-20s %-9s %8.1f GFLOP/s  %5.1f%%\n", names[mode],
                 mode ? (l2 ? "L2" : "L1") : "", best, 100 * best / peak);
      }
  /* the GEMM's loop: W 128 rows (224 KB, L2) or 896 rows (1.6 MB) */
  uint16_t *w = aligned_alloc(64, (size_t)896 * 896 * 2);
  uint32_t *xp = aligned_alloc(64, (size_t)8 * 448 * 16 * 4);
  float *ct = aligned_alloc(64, (size_t)128 * 128 * 4);
  fill(w, (size_t)896 * 896 * 2, getenv("BENCH_AMX_ZEROS") != NULL);
  fill(xp, (size_t)8 * 448 * 16 * 4, getenv("BENCH_AMX_ZEROS") != NULL);
  memset(ct, 0, (size_t)128 * 128 * 4);
  for (int rows = 128; rows <= 896; rows += 768)
    for (int cio = 0; cio < 2; cio++) {
      double best = 0;
      for (int r = 0; r < 5; r++) {
        double g = gemm_like(w, 896, rows, xp, ct, cio, rows == 128 ? 40 : 6);
        best = g > best ? g : best;
      }
      printf("gemm loop W %4dx896  C %-6s %8.1f GFLOP/s  %5.1f%%\n", rows,
             cio ? "ld/st" : "kept", best, 100 * best / peak);
    }
  free(w);
  free(xp);
  free(ct);
  free(buf);
  return 0;
}
#else
int main(void) {
  printf("bench_amx: x86-64 only\n");
  return 0;
}
#endif
