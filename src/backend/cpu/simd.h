/* simd.h: run-time ISA dispatch for the contiguous fast paths of the
 * elementwise family (float32, bfloat16, float16; half types computed in
 * float32). One vector body (simd_impl.inc) is compiled per ISA
 * (simd_avx2.c, simd_avx512.c, each under its own GCC target); the level is
 * detected once with __builtin_cpu_supports and can be lowered for tests and
 * benchmarks (MX_SIMD=none|avx2|avx512, or mx_simd_set_level). Other CPUs
 * (ARM, old x86) use the plain C kernels.
 *
 * Every vector op except exp/sigmoid/tanh gives bit-identical results to the
 * plain C kernel (same IEEE operations, same rounding to bf16/f16), so tests
 * compare the two paths exactly. */
#ifndef MX_CPU_SIMD_H
#define MX_CPU_SIMD_H

#include "../../core/core.h"

enum { MX_SIMD_NONE = 0, MX_SIMD_AVX2 = 1, MX_SIMD_AVX512 = 2 };

/* MX_TARGET_PUSH("avx2,fma") ... MX_TARGET_POP: compile the functions in
 * between for that target (GCC's target pragma; clang's attribute pragma,
 * since clang ignores GCC's). */
#define MX_PRAGMA_STR(x) #x
#ifdef __clang__
#define MX_TARGET_PUSH(t) \
  _Pragma(MX_PRAGMA_STR(  \
      clang attribute push(__attribute__((target(t))), apply_to = function)))
#define MX_TARGET_POP _Pragma("clang attribute pop")
#else
#define MX_TARGET_PUSH(t) \
  _Pragma("GCC push_options") _Pragma(MX_PRAGMA_STR(GCC target(t)))
#define MX_TARGET_POP _Pragma("GCC pop_options")
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
/* F16C (half <-> float conversions), from CPUID leaf 1: clang before 15
 * does not know "f16c" in __builtin_cpu_supports. */
static inline bool mx_cpu_has_f16c(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

/* Best level this CPU (and OS) supports. */
int mx_simd_detected(void);
/* Level in use: detected, capped by MX_SIMD and mx_simd_set_level. */
int mx_simd_level(void);
/* Cap the level (clamped to what is detected); returns the level now in use.
 * Not meant to be called while kernels run on other threads. */
int mx_simd_set_level(int level);
const char *mx_simd_name(int level);

/* Output size in bytes from which the vector paths use non-temporal
 * stores: 32 MiB, or MX_STREAM_BYTES. Below it the output may still be in
 * cache for the next op; well above a core's share of the last-level cache
 * it cannot be, and streaming saves the read-for-ownership of every output
 * line (~35% on a large add). Not taken from sysconf: virtual machines
 * report the host's cache (384 MiB for a 32 MiB-per-CCX part here). */
int64_t mx_simd_stream_bytes(void);

/* y[i] = op(x[i]) for n contiguous elements of dtype t (mx_unary_op codes).
 * Returns false, writing nothing, when op/dtype has no vector path.
 * stream: use non-temporal stores (outputs much larger than the caches). */
bool mx_simd_unary(int op, mx_dtype t, int64_t n, const void *x, void *y, bool stream);
/* o[i] = op(a[i*sa], b[i*sb]) (mx_binary_op codes); sa, sb in {0, 1}, not
 * both 0; o contiguous. Returns false when there is no vector path. */
bool mx_simd_binary(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *o, bool stream);

/* Per-ISA entry points (same contract), defined in simd_<isa>.c. */
bool mx_simd_unary_avx2(int op, mx_dtype t, int64_t n, const void *x, void *y,
                        bool stream);
bool mx_simd_binary_avx2(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                         const void *b, int64_t sb, void *o, bool stream);
bool mx_simd_unary_avx512(int op, mx_dtype t, int64_t n, const void *x, void *y,
                          bool stream);
bool mx_simd_binary_avx512(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                           const void *b, int64_t sb, void *o, bool stream);
/* Same, for CPUs with AVX512-BF16 + DQ (hardware bfloat16 narrowing). */
bool mx_simd_unary_avx512bf16(int op, mx_dtype t, int64_t n, const void *x, void *y,
                              bool stream);
bool mx_simd_binary_avx512bf16(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                               const void *b, int64_t sb, void *o, bool stream);

#endif
