/* simd.c: ISA detection and dispatch for the elementwise fast paths (see
 * simd.h). */
#include "simd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_level = -1; /* -1: not initialised */

int mx_simd_detected(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
    return MX_SIMD_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      mx_cpu_has_f16c())
    return MX_SIMD_AVX2;
#endif
  return MX_SIMD_NONE;
}

static int env_cap(void) {
  const char *s = getenv("MX_SIMD");
  if (!s || !*s) return MX_SIMD_AVX512;
  if (strcmp(s, "avx2") == 0) return MX_SIMD_AVX2;
  if (strcmp(s, "avx512") == 0) return MX_SIMD_AVX512;
  return MX_SIMD_NONE; /* "none", "scalar", anything else */
}

int mx_simd_level(void) {
  int l = atomic_load_explicit(&g_level, memory_order_relaxed);
  if (l < 0) {
    int d = mx_simd_detected(), cap = env_cap();
    l = d < cap ? d : cap;
    atomic_store(&g_level, l);
  }
  return l;
}

int mx_simd_set_level(int level) {
  int d = mx_simd_detected();
  int l = level < 0 ? 0 : level > d ? d : level;
  atomic_store(&g_level, l);
  return l;
}

static atomic_llong g_stream = -1;

int64_t mx_simd_stream_bytes(void) {
  long long v = atomic_load_explicit(&g_stream, memory_order_relaxed);
  if (v < 0) {
    const char *s = getenv("MX_STREAM_BYTES");
    v = s && *s ? atoll(s) : 32ll << 20;
    if (v < 0) v = 0;
    atomic_store(&g_stream, v);
  }
  return v;
}

const char *mx_simd_name(int level) {
  switch (level) {
    case MX_SIMD_AVX2:
      return "avx2";
    case MX_SIMD_AVX512:
      return "avx512";
    default:
      return "none";
  }
}

#if defined(__x86_64__) || defined(__i386__)
/* AVX512-BF16 (with DQ, for the subnormal guard's vfpclassps): bfloat16
 * work at the AVX-512 level goes to simd_avx512bf16.c. MX_BF16_HW=0 turns
 * it off (tests and benchmarks of the integer narrowing). */
static bool bf16_hw(void) {
  static atomic_int hw = -1;
  int v = atomic_load_explicit(&hw, memory_order_relaxed);
  if (v < 0) {
    __builtin_cpu_init();
    const char *e = getenv("MX_BF16_HW");
    v = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && !(e && e[0] == '0');
    atomic_store(&hw, v);
  }
  return v;
}

bool mx_simd_unary(int op, mx_dtype t, int64_t n, const void *x, void *y, bool stream) {
  switch (mx_simd_level()) {
    case MX_SIMD_AVX512:
      if (t == MX_BFLOAT16 && bf16_hw())
        return mx_simd_unary_avx512bf16(op, t, n, x, y, stream);
      return mx_simd_unary_avx512(op, t, n, x, y, stream);
    case MX_SIMD_AVX2:
      return mx_simd_unary_avx2(op, t, n, x, y, stream);
    default:
      return false;
  }
}

bool mx_simd_binary(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *o, bool stream) {
  if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1) || (sa == 0 && sb == 0)) return false;
  switch (mx_simd_level()) {
    case MX_SIMD_AVX512:
      if (t == MX_BFLOAT16 && bf16_hw())
        return mx_simd_binary_avx512bf16(op, t, n, a, sa, b, sb, o, stream);
      return mx_simd_binary_avx512(op, t, n, a, sa, b, sb, o, stream);
    case MX_SIMD_AVX2:
      return mx_simd_binary_avx2(op, t, n, a, sa, b, sb, o, stream);
    default:
      return false;
  }
}
#else
bool mx_simd_unary(int op, mx_dtype t, int64_t n, const void *x, void *y, bool stream) {
  (void)op, (void)t, (void)n, (void)x, (void)y, (void)stream;
  return false;
}
bool mx_simd_binary(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                    const void *b, int64_t sb, void *o, bool stream) {
  (void)op, (void)t, (void)n, (void)a, (void)sa, (void)b, (void)sb, (void)o, (void)stream;
  return false;
}
#endif
