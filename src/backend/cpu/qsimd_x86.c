/* qsimd_x86.c: the AVX-512 and AVX2 instances of the SIMD kernels in
 * qmm_body.inc (quantized matmul tiles, row conversions, dot, axpy). Each
 * function carries its own target attribute, so this file builds without
 * -mavx flags and the dispatcher (qsimd.c) calls an instance only when
 * __builtin_cpu_supports says the CPU has it. */
#include "qsimd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"

#define MX_CAT2(a, b) a##_##b
#define MX_CAT(a, b) MX_CAT2(a, b)
#define FN(name) MX_CAT(name, ISA)

/* ================= AVX-512 (F, BW, VL) ================= */
#define ISA avx512
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define VL 16
#define V __m512
#define VI __m512i
#define vzero() _mm512_setzero_ps()
#define vset1(f) _mm512_set1_ps(f)
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vhsum(v) _mm512_reduce_add_ps(v)
#define vcvt(i) _mm512_cvtepi32_ps(i)
#define viand(i, c) _mm512_and_si512(i, _mm512_set1_epi32(c))
#define visrl(i, c) _mm512_srli_epi32(i, c)
#define vand(a, b) _mm512_and_si512(a, b)
#define vsrlv(a, b) _mm512_srlv_epi32(a, b)
#define vshuf8(a, b) _mm512_shuffle_epi8(a, b)
#define vi_loadu(p) _mm512_loadu_si512((const void *)(p))
#define vi_set1(c) _mm512_set1_epi32(c)
#define vu8(p) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vbcast_bytes(p) _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define vload_tail(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define vstore_tail(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)

TGT static inline V vld_h_avx512(const uint16_t *p, mx_dtype t) {
  __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
  if (t == MX_FLOAT16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
TGT static inline void vst_h_avx512(uint16_t *p, V v, mx_dtype t) {
  __m256i h;
  if (t == MX_FLOAT16) {
    h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  } else { /* bfloat16: round to nearest even, NaN stays a quiet NaN */
    __m512i i = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(i, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(i, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(
        _mm512_and_si512(i, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(
        r, nan, _mm512_or_si512(_mm512_srli_epi32(i, 16), _mm512_set1_epi32(0x40)));
    h = _mm512_cvtepi32_epi16(r);
  }
  _mm256_storeu_si256((__m256i *)(void *)p, h);
}
#define vld_h(p, t) vld_h_avx512(p, t)
#define vst_h(p, v, t) vst_h_avx512(p, v, t)

#include "qmm_body.inc"

#undef ISA
#undef TGT
#undef VL
#undef V
#undef VI
#undef vzero
#undef vset1
#undef vload
#undef vstore
#undef vfma
#undef vadd
#undef vhsum
#undef vcvt
#undef viand
#undef visrl
#undef vand
#undef vsrlv
#undef vshuf8
#undef vi_loadu
#undef vi_set1
#undef vu8
#undef vbcast_bytes
#undef vload_tail
#undef vstore_tail
#undef vld_h
#undef vst_h

/* ================= AVX2 + FMA + F16C ================= */
#define ISA avx2
#define TGT __attribute__((target("avx2,fma,f16c")))
#define VL 8
#define V __m256
#define VI __m256i
#define vzero() _mm256_setzero_ps()
#define vset1(f) _mm256_set1_ps(f)
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vhsum(v) hsum_avx2(v)
#define vcvt(i) _mm256_cvtepi32_ps(i)
#define viand(i, c) _mm256_and_si256(i, _mm256_set1_epi32(c))
#define visrl(i, c) _mm256_srli_epi32(i, c)
#define vand(a, b) _mm256_and_si256(a, b)
#define vsrlv(a, b) _mm256_srlv_epi32(a, b)
#define vshuf8(a, b) _mm256_shuffle_epi8(a, b)
#define vi_loadu(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define vi_set1(c) _mm256_set1_epi32(c)
#define vu8(p) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vbcast_bytes(p) \
  _mm256_broadcastsi128_si256(_mm_loadl_epi64((const __m128i *)(const void *)(p)))
#define vload_tail(p, n) _mm256_maskload_ps(p, tail_mask_avx2(n))
#define vstore_tail(p, v, n) _mm256_maskstore_ps(p, tail_mask_avx2(n), v)

TGT static inline float hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
TGT static inline __m256i tail_mask_avx2(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
TGT static inline V vld_h_avx2(const uint16_t *p, mx_dtype t) {
  __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
  if (t == MX_FLOAT16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
TGT static inline void vst_h_avx2(uint16_t *p, V v, mx_dtype t) {
  __m128i h;
  if (t == MX_FLOAT16) {
    h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  } else {
    __m256i i = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(i, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(i, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(i, _mm256_set1_epi32(0x7fffffff)),
                                     _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(
        r, _mm256_or_si256(_mm256_srli_epi32(i, 16), _mm256_set1_epi32(0x40)), nan);
    /* 8 x u32 (each < 2^16) -> 8 x u16 */
    __m256i pk = _mm256_packus_epi32(r, r);
    h = _mm256_castsi256_si128(_mm256_permute4x64_epi64(pk, 0x08));
  }
  _mm_storeu_si128((__m128i *)(void *)p, h);
}
#define vld_h(p, t) vld_h_avx2(p, t)
#define vst_h(p, v, t) vst_h_avx2(p, v, t)

#include "qmm_body.inc"

#else
typedef int mx_qsimd_x86_unused; /* ISO C forbids an empty translation unit */
#endif
