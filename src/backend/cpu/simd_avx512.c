/* simd_avx512.c: the AVX-512 (F + BW) instance of the elementwise vector
 * body (simd_impl.inc). Everything in this file is compiled for that target;
 * it is only called after mx_simd_level() confirmed the CPU has it. Only
 * AVX512F instructions are used for floats (bitwise float ops go through the
 * integer unit, since andnot/xor on ps need AVX512DQ).
 *
 * simd_avx512bf16.c includes this file with MX_SIMD_BF16_HW defined: the
 * same body for CPUs with AVX512-BF16 (+ DQ), narrowing float32 to bfloat16
 * with vcvtneps2bf16 (1 instruction instead of ~10; same bits, see
 * v_to_bf16). simd.c sends bfloat16 work there when the CPU has it. */
#include "simd.h"

#if defined(__x86_64__) || defined(__i386__)
#ifdef MX_SIMD_BF16_HW
MX_TARGET_PUSH("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c")
#else
MX_TARGET_PUSH("avx512f,avx512bw,avx2,fma,f16c")
#endif
#include <immintrin.h>

#define VL 16
typedef __m512 vf;
typedef __m512i vi;

#define AI static inline __attribute__((always_inline))
AI vf v_load(const float *p) { return _mm512_loadu_ps(p); }
AI void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
AI void v_stream(float *p, vf v) { _mm512_stream_ps(p, v); }
AI vf v_set1(float x) { return _mm512_set1_ps(x); }
AI vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
AI vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
AI vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
AI vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
AI vf v_sqrt(vf a) { return _mm512_sqrt_ps(a); }
AI vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
AI vf v_max_raw(vf a, vf b) { return _mm512_max_ps(a, b); }
AI vf v_min_raw(vf a, vf b) { return _mm512_min_ps(a, b); }
AI vf v_sel_nan(vf r, vf a) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), r, a);
}
/* a where x < 0, else b */
AI vf v_sel_lt0(vf x, vf a, vf b) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), b,
                              a);
}
/* x where a < b, else y (false for NaN) */
AI vf v_sel_lt(vf a, vf b, vf x, vf y) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
/* every lane a < b (false for NaN) */
AI bool v_all_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ) == 0xffff; }
AI vf v_abs(vf a) {
  return _mm512_castsi512_ps(
      _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)));
}
AI vf v_neg(vf a) {
  return _mm512_castsi512_ps(
      _mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u)));
}
AI vf v_rint(vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
AI vf v_floor(vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}
AI vf v_ceil(vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
}
/* p * 2^n, rounded once (vscalefps handles subnormals and overflow) */
AI vf v_scale2(vf p, vf n) { return _mm512_scalef_ps(p, n); }

AI vf v_load_bf16(const uint16_t *p) {
  vi w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
/* round to nearest even, NaN quieted (payload kept): the integer steps of
 * mx_f32_to_bf16 */
AI __m256i v_to_bf16_sw(vf v) {
  vi x = _mm512_castps_si512(v);
  vi lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  vi r = _mm512_srli_epi32(
      _mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  vi q = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
  r = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), r, q);
  return _mm512_cvtepi32_epi16(r); /* values fit: plain truncation */
}
#ifdef MX_SIMD_BF16_HW
/* vcvtneps2bf16 rounds to nearest even and quiets NaN exactly like
 * v_to_bf16_sw, but flushes float32 subnormals to signed zero (bfloat16
 * has the same exponent range, so they have bfloat16 subnormal results):
 * a vector holding one (vfpclassps, one instruction) takes the integer
 * steps. Subnormal results are rare (exp of x in [-104, -87], tiny inputs). */
AI __m256i v_to_bf16(vf v) {
  if (__builtin_expect(_mm512_fpclass_ps_mask(v, 0x20) != 0, 0)) return v_to_bf16_sw(v);
  return (__m256i)_mm512_cvtneps_pbh(v);
}
/* Two vectors (p[0..15] from a, p[16..31] from b) with one vcvtne2ps2bf16
 * and one 64-byte store; nt: p is 32-byte aligned (two streamed halves). */
#define V_STORE2_BF16 1
AI void v_store2_bf16(uint16_t *p, vf a, vf b, int nt) {
  __m512i r;
  if (__builtin_expect(
          (_mm512_fpclass_ps_mask(a, 0x20) | _mm512_fpclass_ps_mask(b, 0x20)) != 0, 0))
    r = _mm512_inserti64x4(_mm512_castsi256_si512(v_to_bf16_sw(a)), v_to_bf16_sw(b), 1);
  else
    r = (__m512i)_mm512_cvtne2ps_pbh(b, a);
  if (nt) {
    _mm256_stream_si256((__m256i *)p, _mm512_castsi512_si256(r));
    _mm256_stream_si256((__m256i *)p + 1, _mm512_extracti64x4_epi64(r, 1));
  } else {
    _mm512_storeu_si512(p, r);
  }
}
#else
AI __m256i v_to_bf16(vf v) { return v_to_bf16_sw(v); }
#endif
AI void v_store_bf16(uint16_t *p, vf v) {
  _mm256_storeu_si256((__m256i *)p, v_to_bf16(v));
}
AI void v_stream_bf16(uint16_t *p, vf v) {
  _mm256_stream_si256((__m256i *)p, v_to_bf16(v));
}
AI vf v_load_f16(const uint16_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
AI void v_store_f16(uint16_t *p, vf v) {
  _mm256_storeu_si256((__m256i *)p,
                      _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
AI void v_stream_f16(uint16_t *p, vf v) {
  _mm256_stream_si256((__m256i *)p,
                      _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
AI void v_sfence(void) { _mm_sfence(); }

/* glibc libmvec, AVX-512 variants (16 lanes) */
#define MVEC(name) _ZGVeN16v_##name
#ifdef MX_SIMD_BF16_HW
#define SIMD_FN(name) name##_avx512bf16
#else
#define SIMD_FN(name) name##_avx512
#endif
#include "simd_impl.inc"

MX_TARGET_POP
#elif defined(MX_SIMD_BF16_HW)
bool mx_simd_unary_avx512bf16(int op, mx_dtype t, int64_t n, const void *x, void *y,
                              bool stream) {
  (void)op, (void)t, (void)n, (void)x, (void)y, (void)stream;
  return false;
}
bool mx_simd_binary_avx512bf16(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                               const void *b, int64_t sb, void *o, bool stream) {
  (void)op, (void)t, (void)n, (void)a, (void)sa, (void)b, (void)sb, (void)o, (void)stream;
  return false;
}
#else
bool mx_simd_unary_avx512(int op, mx_dtype t, int64_t n, const void *x, void *y,
                          bool stream) {
  (void)op, (void)t, (void)n, (void)x, (void)y, (void)stream;
  return false;
}
bool mx_simd_binary_avx512(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                           const void *b, int64_t sb, void *o, bool stream) {
  (void)op, (void)t, (void)n, (void)a, (void)sa, (void)b, (void)sb, (void)o, (void)stream;
  return false;
}
#endif
