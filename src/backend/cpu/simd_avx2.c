/* simd_avx2.c: the AVX2 (+FMA, F16C) instance of the elementwise vector body
 * (simd_impl.inc). Everything in this file is compiled for that target; it
 * is only called after mx_simd_level() confirmed the CPU has it. */
#include "simd.h"

#if defined(__x86_64__) || defined(__i386__)
MX_TARGET_PUSH("avx2,fma,f16c")
#include <immintrin.h>

#define VL 8 /* floats per vector */
typedef __m256 vf;
typedef __m256i vi;

#define AI static inline __attribute__((always_inline))
AI vf v_load(const float *p) { return _mm256_loadu_ps(p); }
AI void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
AI void v_stream(float *p, vf v) { _mm256_stream_ps(p, v); }
AI vf v_set1(float x) { return _mm256_set1_ps(x); }
AI vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
AI vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
AI vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
AI vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
AI vf v_sqrt(vf a) { return _mm256_sqrt_ps(a); }
AI vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
/* a > b ? a : b (resp. <); b when either is NaN (the x86 rule) */
AI vf v_max_raw(vf a, vf b) { return _mm256_max_ps(a, b); }
AI vf v_min_raw(vf a, vf b) { return _mm256_min_ps(a, b); }
/* a where a is NaN, else r */
AI vf v_sel_nan(vf r, vf a) {
  return _mm256_blendv_ps(r, a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
}
/* a where x < 0 (sign bit set: -0 and -NaN too, harmless for sigmoid),
 * else b */
AI vf v_sel_lt0(vf x, vf a, vf b) { return _mm256_blendv_ps(b, a, x); }
/* x where a < b, else y (false for NaN) */
AI vf v_sel_lt(vf a, vf b, vf x, vf y) {
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
/* every lane a < b (false for NaN) */
AI bool v_all_lt(vf a, vf b) {
  return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ)) == 0xff;
}
AI vf v_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
AI vf v_neg(vf a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
AI vf v_rint(vf a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
AI vf v_floor(vf a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}
AI vf v_ceil(vf a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
}
/* p * 2^n for integral n in [-150, 129]: two exact power-of-two factors,
 * so the product rounds once (subnormal and overflowing results too) */
AI vf v_scale2(vf p, vf n) {
  vi ni = _mm256_cvtps_epi32(n);
  vi n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  vi b = _mm256_set1_epi32(127);
  vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, b), 23));
  vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, b), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* bfloat16: widen to the high half of a float; narrow with round to nearest
 * even, NaN kept quiet (as mx_f32_to_bf16). */
AI vf v_load_bf16(const uint16_t *p) {
  vi w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
AI __m128i v_to_bf16(vf v) {
  vi x = _mm256_castps_si256(v);
  vi lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  vi r = _mm256_srli_epi32(
      _mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  vi q = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
  vi nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  r = _mm256_blendv_epi8(r, q, nan);
  /* 8 x u32 (each <= 0xffff) -> 8 x u16 */
  vi p = _mm256_packus_epi32(r, r);
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, 0x08));
}
AI void v_store_bf16(uint16_t *p, vf v) { _mm_storeu_si128((__m128i *)p, v_to_bf16(v)); }
AI void v_stream_bf16(uint16_t *p, vf v) { _mm_stream_si128((__m128i *)p, v_to_bf16(v)); }
AI vf v_load_f16(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
AI void v_store_f16(uint16_t *p, vf v) {
  _mm_storeu_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
AI void v_stream_f16(uint16_t *p, vf v) {
  _mm_stream_si128((__m128i *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
AI void v_sfence(void) { _mm_sfence(); }

/* glibc libmvec, AVX2 variants (8 lanes) */
#define MVEC(name) _ZGVdN8v_##name
#define SIMD_FN(name) name##_avx2
#include "simd_impl.inc"

MX_TARGET_POP
#else
bool mx_simd_unary_avx2(int op, mx_dtype t, int64_t n, const void *x, void *y,
                        bool stream) {
  (void)op, (void)t, (void)n, (void)x, (void)y, (void)stream;
  return false;
}
bool mx_simd_binary_avx2(int op, mx_dtype t, int64_t n, const void *a, int64_t sa,
                         const void *b, int64_t sb, void *o, bool stream) {
  (void)op, (void)t, (void)n, (void)a, (void)sa, (void)b, (void)sb, (void)o, (void)stream;
  return false;
}
#endif
