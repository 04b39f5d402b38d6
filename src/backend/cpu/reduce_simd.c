/* reduce_simd.c: instantiates reduce_simd.inc for the baseline ISA and, on
 * x86-64 with GCC/Clang, for AVX2 and AVX-512, and picks one at run time. */
#include "reduce_simd.h"
#include "simd.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h> /* the AVX-512 variant widens halves with intrinsics */
#endif

#pragma GCC diagnostic ignored "-Wpsabi"
/* ISO C mode turns off FMA contraction; these kernels want it (the exp
 * polynomial and the sums), so allow it here (results then differ from the
 * baseline variant in the last bit, never beyond float rounding). */
#ifndef __clang__
#pragma GCC optimize("fp-contract=fast")
#endif

#define MXV_CAT2(a, b) a##b
#define MXV_CAT(a, b) MXV_CAT2(a, b)
#define F(name) MXV_CAT(name, SFX)
#define MXV_STR2(x) #x
#define MXV_STR(x) MXV_STR2(x)
#define AI static inline __attribute__((always_inline))

/* Each variant uses the ISA's native vector width (VL float lanes): GCC
 * splits wider generic vectors for arithmetic but scalarises their
 * comparisons. */
#define SFX _base
#define VL 4
#include "reduce_simd.inc"
#undef VL
#undef SFX

#if defined(__x86_64__) && defined(__GNUC__)
#define MX_SIMD_X86 1
MX_TARGET_PUSH("avx2,fma")
#define SFX _avx2
#define VL 8
#include "reduce_simd.inc"
#undef VL
#undef SFX
MX_TARGET_POP

MX_TARGET_PUSH("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define SFX _avx512
#define VL 16
#include "reduce_simd.inc"
#undef VL
#undef SFX
MX_TARGET_POP
#endif

static mx_simd_table g_table;

static bool supported(const char *isa) {
  if (!strcmp(isa, "base")) return true;
#ifdef MX_SIMD_X86
  __builtin_cpu_init();
  if (!strcmp(isa, "avx2"))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!strcmp(isa, "avx512"))
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           supported("avx2");
#endif
  return false;
}

static void fill(const char *isa) {
#ifdef MX_SIMD_X86
  if (!strcmp(isa, "avx512")) {
    fill_table_avx512(&g_table);
    return;
  }
  if (!strcmp(isa, "avx2")) {
    fill_table_avx2(&g_table);
    return;
  }
#endif
  (void)isa;
  fill_table_base(&g_table);
}

/* MX_SIMD=base|avx2|avx512 overrides the choice (if the CPU has it). */
static void pick(void) {
  const char *env = getenv("MX_SIMD");
  if (env && supported(env)) {
    fill(env);
    return;
  }
  fill(supported("avx512") ? "avx512" : supported("avx2") ? "avx2" : "base");
}

#include <pthread.h>
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

const mx_simd_table *mx_simd(void) {
  pthread_once(&g_once, pick);
  return &g_table;
}

bool mx_simd_select(const char *isa) {
  pthread_once(&g_once, pick);
  if (!supported(isa)) return false;
  fill(isa);
  return true;
}
