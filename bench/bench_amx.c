/* bench_amx.c: the AMX tile unit's throughput for the bfloat16 GEMM's
 * micro-kernel shapes, one thread (kernel notes in docs/performance.md):
 * tdpbf16ps alone, and the 2 x 2 accumulator block of gemm_bf16.c with its
 * four tile loads per step in two orders (all loads first, or each operand
 * reloaded as soon as its last reader has issued), operands in L1 (one
 * 16 KB block) or streaming through L2 (a 1 MB buffer). Prints GFLOP/s and
 * the share of the tdpbf16ps-only rate. Exits quietly without AMX. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_cfg;

TGTA static void cfg(void) {
  amx_cfg c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) c.colsb[t] = 64, c.rows[t] = 16;
  _tile_loadconfig(&c);
}

/* mode 0: tdpbf16ps only; 1: loads first; 2: loads interleaved.
 * A rows lda bytes apart; span: bytes the operands walk through */
TGTA static double run(int mode, const char *buf, size_t span, long steps) {
  cfg();
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
  _tile_release();
  return (double)steps * 4 * 16 * 16 * 32 * 2 / dt * 1e-9;
}

int main(void) {
  if (mx_cpu_isa() < MX_ISA_AMX) {
    printf("bench_amx: no AMX on this CPU\n");
    return 0;
  }
  size_t big = (size_t)1 << 20;
  char *buf = aligned_alloc(64, big);
  memset(buf, 0, big);
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
  free(buf);
  return 0;
}
#else
int main(void) {
  printf("bench_amx: x86-64 only\n");
  return 0;
}
#endif
