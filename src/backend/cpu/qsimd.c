/* qsimd.c: run-time ISA selection and the plain C versions of the SIMD
 * helpers in qsimd.h (row conversions, dot, axpy), with dispatch to the x86
 * bodies in qsimd_x86.c when the CPU has AVX2 or AVX-512. */
#include "qsimd.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* AMX-TILE and AMX-BF16 (CPUID 7.0 EDX bits 24, 22), the OS saving the tile
 * state (XCR0 bits 17, 18), and Linux's per-process permission for it
 * (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; without it the first tile
 * instruction faults). */
static bool amx_usable(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!(d & (1u << 24)) || !(d & (1u << 22))) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
  /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
  return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
  return false;
#endif
}
#endif

static atomic_int g_hw = -1;  /* detected ISA */
static atomic_int g_cap = -1; /* cap from the environment or the test hook */

mx_isa mx_cpu_isa_hw(void) {
  int hw = atomic_load(&g_hw);
  if (hw >= 0) return (mx_isa)hw;
  hw = MX_ISA_GENERIC;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) hw = MX_ISA_AVX2;
  if (hw == MX_ISA_AVX2 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    hw = MX_ISA_AVX512;
  if (hw == MX_ISA_AVX512 && __builtin_cpu_supports("avx512bf16")) hw = MX_ISA_AVX512BF16;
  if (hw == MX_ISA_AVX512BF16 && amx_usable()) hw = MX_ISA_AMX;
#endif
  atomic_store(&g_hw, hw);
  return (mx_isa)hw;
}

static int env_cap(void) {
  const char *s = getenv("MX_CPU_ISA");
  if (!s) return MX_ISA_BEST;
  if (!strcmp(s, "generic")) return MX_ISA_GENERIC;
  if (!strcmp(s, "avx2")) return MX_ISA_AVX2;
  if (!strcmp(s, "avx512")) return MX_ISA_AVX512;
  if (!strcmp(s, "avx512bf16")) return MX_ISA_AVX512BF16;
  return MX_ISA_BEST;
}

mx_isa mx_cpu_isa(void) {
  int cap = atomic_load(&g_cap);
  if (cap < 0) {
    cap = env_cap();
    atomic_store(&g_cap, cap);
  }
  mx_isa hw = mx_cpu_isa_hw();
  return (int)hw < cap ? hw : (mx_isa)cap;
}

mx_isa mx_cpu_isa_cap(mx_isa cap) {
  atomic_store(&g_cap, (int)cap);
  return mx_cpu_isa();
}

static atomic_int g_nta = -1;

bool mx_cpu_prefetch_nta(void) {
  int v = atomic_load_explicit(&g_nta, memory_order_relaxed);
  if (v >= 0) return v;
  const char *e = getenv("MX_PREFETCH_NTA");
  if (e && (e[0] == '0' || e[0] == '1')) {
    v = e[0] == '1';
  } else {
    v = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d; /* vendor string in EBX, EDX, ECX */
    v = __get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541u /* "Auth" */ &&
        d == 0x69746e65u /* "enti" */ && c == 0x444d4163u /* "cAMD" */;
#endif
  }
  atomic_store_explicit(&g_nta, v, memory_order_relaxed);
  return v;
}

void mx_cpu_set_prefetch_nta(int v) { atomic_store(&g_nta, v < 0 ? -1 : v > 0); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MX_HAVE_X86 1
#else
#define MX_HAVE_X86 0
#endif

void mx_cvt_to_f32(const void *src, mx_dtype t, float *dst, int64_t n) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_cvt_to_f32_avx512(src, t, dst, n);
  if (isa == MX_ISA_AVX2) return mx_cvt_to_f32_avx2(src, t, dst, n);
#endif
  switch (t) {
    case MX_FLOAT32:
      memcpy(dst, src, (size_t)n * sizeof(float));
      break;
    case MX_FLOAT16:
      for (int64_t i = 0; i < n; i++) dst[i] = mx_f16_to_f32(((const uint16_t *)src)[i]);
      break;
    case MX_BFLOAT16:
      for (int64_t i = 0; i < n; i++) dst[i] = mx_bf16_to_f32(((const uint16_t *)src)[i]);
      break;
    default:
      for (int64_t i = 0; i < n; i++)
        dst[i] = (float)mx_load_f64((const char *)src + i * (int64_t)mx_dtype_size(t), t);
      break;
  }
}

void mx_cvt_from_f32(const float *src, void *dst, mx_dtype t, int64_t n) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_cvt_from_f32_avx512(src, dst, t, n);
  if (isa == MX_ISA_AVX2) return mx_cvt_from_f32_avx2(src, dst, t, n);
#endif
  switch (t) {
    case MX_FLOAT32:
      memcpy(dst, src, (size_t)n * sizeof(float));
      break;
    case MX_FLOAT16:
      for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = mx_f32_to_f16(src[i]);
      break;
    case MX_BFLOAT16:
      for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = mx_f32_to_bf16(src[i]);
      break;
    default:
      for (int64_t i = 0; i < n; i++)
        mx_store_f64((char *)dst + i * (int64_t)mx_dtype_size(t), t, src[i]);
      break;
  }
}

float mx_dot_f32(const float *a, const float *b, int64_t n) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_dot_f32_avx512(a, b, n);
  if (isa == MX_ISA_AVX2) return mx_dot_f32_avx2(a, b, n);
#endif
  /* four partial sums so the compiler can keep several chains in flight */
  float s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; j++) s[j] += a[i + j] * b[i + j];
  for (; i < n; i++) s[0] += a[i] * b[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

void mx_axpy_f32(float alpha, const float *x, float *y, int64_t n) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_axpy_f32_avx512(alpha, x, y, n);
  if (isa == MX_ISA_AVX2) return mx_axpy_f32_avx2(alpha, x, y, n);
#endif
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void mx_scal_f32(float alpha, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] *= alpha;
}

void mx_sdpa_scores(const float *q, int nt, int D, const float *kt, float *s) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_sdpa_scores_avx512(q, nt, D, kt, s);
  if (isa == MX_ISA_AVX2) return mx_sdpa_scores_avx2(q, nt, D, kt, s);
#endif
  for (int t = 0; t < nt; t++) {
    float *st = s + (int64_t)t * 64;
    for (int j = 0; j < 64; j++) st[j] = 0;
    for (int d = 0; d < D; d++) {
      float qd = q[(int64_t)t * D + d];
      const float *kr = kt + (int64_t)d * 64;
      for (int j = 0; j < 64; j++) st[j] += qd * kr[j];
    }
  }
}

void mx_sdpa_pv(const float *p, int nk, const float *v, int Dv, float *o) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_sdpa_pv_avx512(p, nk, v, Dv, o);
  if (isa == MX_ISA_AVX2) return mx_sdpa_pv_avx2(p, nk, v, Dv, o);
#endif
  for (int j = 0; j < nk; j++)
    for (int e = 0; e < Dv; e++) o[e] += p[j] * v[(int64_t)j * Dv + e];
}

bool mx_sdpa_bf16_available(void) {
#if MX_HAVE_X86
  return mx_cpu_isa() >= MX_ISA_AVX512BF16;
#else
  return false;
#endif
}

void mx_sdpa_kpack_bf16(const uint16_t *k, int64_t ld, int nk, int D, uint32_t *kp) {
#if MX_HAVE_X86
  mx_sdpa_kpack_bf16_avx512(k, ld, nk, D, kp);
#else
  (void)k, (void)ld, (void)nk, (void)D, (void)kp;
#endif
}

void mx_sdpa_scores_bf16(const uint16_t *q, int64_t ldq, int nt, int D,
                         const uint32_t *kp, float scale, float *s) {
#if MX_HAVE_X86
  mx_sdpa_scores_bf16_avx512(q, ldq, nt, D, kp, scale, s);
#else
  (void)q, (void)ldq, (void)nt, (void)D, (void)kp, (void)scale, (void)s;
#endif
}

void mx_sdpa_kt(const void *k, mx_dtype t, int64_t ld, int nk, int D, float *kt) {
#if MX_HAVE_X86
  if (mx_cpu_isa() >= MX_ISA_AVX512) return mx_sdpa_kt_avx512(k, t, ld, nk, D, kt);
#endif
  const int64_t es = t == MX_FLOAT32 ? 4 : 2;
  for (int j = 0; j < 64; j++) {
    if (j >= nk) {
      for (int d = 0; d < D; d++) kt[(int64_t)d * 64 + j] = 0;
      continue;
    }
    const char *row = (const char *)k + (int64_t)j * ld * es;
    for (int d = 0; d < D; d++) {
      const char *p = row + (int64_t)d * es;
      kt[(int64_t)d * 64 + j] = t == MX_FLOAT32   ? *(const float *)p
                                : t == MX_FLOAT16 ? mx_f16_to_f32(*(const uint16_t *)p)
                                                  : mx_bf16_to_f32(*(const uint16_t *)p);
    }
  }
}

void mx_sdpa_pv_rows(const float *p, const int *rows, int nr, int nk, const void *v,
                     mx_dtype t, int64_t ldv, int Dv, float *o) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512)
    return mx_sdpa_pv_rows_avx512(p, rows, nr, nk, v, t, ldv, Dv, o);
  if (isa == MX_ISA_AVX2) return mx_sdpa_pv_rows_avx2(p, rows, nr, nk, v, t, ldv, Dv, o);
#endif
  const int64_t es = t == MX_FLOAT32 ? 4 : 2;
  for (int r = 0; r < nr; r++) {
    const float *pr = p + (int64_t)rows[r] * 64;
    float *orow = o + (int64_t)rows[r] * Dv;
    for (int j = 0; j < nk; j++) {
      const char *vr = (const char *)v + (int64_t)j * ldv * es;
      for (int e = 0; e < Dv; e++) {
        const char *q = vr + (int64_t)e * es;
        float x = t == MX_FLOAT32   ? *(const float *)q
                  : t == MX_FLOAT16 ? mx_f16_to_f32(*(const uint16_t *)q)
                                    : mx_bf16_to_f32(*(const uint16_t *)q);
        orow[e] += pr[j] * x;
      }
    }
  }
}

float mx_max_f32(const float *s, int64_t n, float m) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_max_f32_avx512(s, n, m);
  if (isa == MX_ISA_AVX2) return mx_max_f32_avx2(s, n, m);
#endif
  for (int64_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
  return m;
}

float mx_exp_shift_f32(const float *s, float m, float *p, int64_t n) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512) return mx_exp_shift_f32_avx512(s, m, p, n);
  if (isa == MX_ISA_AVX2) return mx_exp_shift_f32_avx2(s, m, p, n);
#endif
  float sum = 0;
  for (int64_t j = 0; j < n; j++) {
    p[j] = expf(s[j] - m);
    sum += p[j];
  }
  return sum;
}

void mx_sdpa_scores_rows(const float *q, int nt, int D, const void *k, mx_dtype kt,
                         int64_t ldk, int nk, float *s) {
#if MX_HAVE_X86
  mx_isa isa = mx_cpu_isa();
  if (isa >= MX_ISA_AVX512)
    return mx_sdpa_scores_rows_avx512(q, nt, D, k, kt, ldk, nk, s);
  if (isa == MX_ISA_AVX2) return mx_sdpa_scores_rows_avx2(q, nt, D, k, kt, ldk, nk, s);
#endif
  const int64_t es = kt == MX_FLOAT32 ? 4 : 2;
  for (int t = 0; t < nt; t++)
    for (int j = 0; j < nk; j++) {
      /* mx_dot_f32's plain C order: four partial sums */
      const float *a = q + (int64_t)t * D;
      const char *b = (const char *)k + (int64_t)j * ldk * es;
#define KV(i)                                                                 \
  (kt == MX_FLOAT32   ? ((const float *)(const void *)b)[i]                   \
   : kt == MX_FLOAT16 ? mx_f16_to_f32(((const uint16_t *)(const void *)b)[i]) \
                      : mx_bf16_to_f32(((const uint16_t *)(const void *)b)[i]))
      float ps[4] = {0, 0, 0, 0};
      int i = 0;
      for (; i + 4 <= D; i += 4)
        for (int u = 0; u < 4; u++) ps[u] += a[i + u] * KV(i + u);
      for (; i < D; i++) ps[0] += a[i] * KV(i);
#undef KV
      s[t * 64 + j] = (ps[0] + ps[1]) + (ps[2] + ps[3]);
    }
}
