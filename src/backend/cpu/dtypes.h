/* dtypes.h: C types for each dtype and conversions to/from a compute type, so
 * one kernel body can be instantiated for every dtype (no per-dtype copies).
 *
 * MX_FOR_EACH_DTYPE(X) expands X(ENUM, ctype, suffix) for every dtype.
 * float16/bfloat16 are stored as uint16_t (mx_f16/mx_bf16 typedefs) and
 * computed in float; complex64 is mx_c64. */
#ifndef MX_CPU_DTYPES_H
#define MX_CPU_DTYPES_H

#include <complex.h>
/* glibc defines CMPLX/CMPLXF for GCC only (clang < 15 claims GCC 4.2) */
#if !defined(CMPLXF) && defined(__clang__)
#define CMPLXF(x, y) __builtin_complex((float)(x), (float)(y))
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif
#include <math.h>
#include <stdint.h>

#include "../../core/core.h"

typedef struct {
  uint16_t bits;
} mx_f16;
typedef struct {
  uint16_t bits;
} mx_bf16;
typedef float _Complex mx_c64;

#define MX_FOR_EACH_DTYPE(X)    \
  X(MX_BOOL, uint8_t, bool_)    \
  X(MX_UINT8, uint8_t, u8)      \
  X(MX_UINT16, uint16_t, u16)   \
  X(MX_UINT32, uint32_t, u32)   \
  X(MX_UINT64, uint64_t, u64)   \
  X(MX_INT8, int8_t, i8)        \
  X(MX_INT16, int16_t, i16)     \
  X(MX_INT32, int32_t, i32)     \
  X(MX_INT64, int64_t, i64)     \
  X(MX_FLOAT16, mx_f16, f16)    \
  X(MX_BFLOAT16, mx_bf16, bf16) \
  X(MX_FLOAT32, float, f32)     \
  X(MX_FLOAT64, double, f64)    \
  X(MX_COMPLEX64, mx_c64, c64)

/* Real (non-complex) dtypes only. */
#define MX_FOR_EACH_REAL_DTYPE(X) \
  X(MX_BOOL, uint8_t, bool_)      \
  X(MX_UINT8, uint8_t, u8)        \
  X(MX_UINT16, uint16_t, u16)     \
  X(MX_UINT32, uint32_t, u32)     \
  X(MX_UINT64, uint64_t, u64)     \
  X(MX_INT8, int8_t, i8)          \
  X(MX_INT16, int16_t, i16)       \
  X(MX_INT32, int32_t, i32)       \
  X(MX_INT64, int64_t, i64)       \
  X(MX_FLOAT16, mx_f16, f16)      \
  X(MX_BFLOAT16, mx_bf16, bf16)   \
  X(MX_FLOAT32, float, f32)       \
  X(MX_FLOAT64, double, f64)

/* Loads and stores through double (exact for every dtype but 64-bit ints
 * beyond 2^53; integer kernels use the int64 forms). */
static inline double mx_load_f64(const void *p, mx_dtype t) {
  switch (t) {
    case MX_BOOL:
    case MX_UINT8:
      return *(const uint8_t *)p;
    case MX_UINT16:
      return *(const uint16_t *)p;
    case MX_UINT32:
      return *(const uint32_t *)p;
    case MX_UINT64:
      return (double)*(const uint64_t *)p;
    case MX_INT8:
      return *(const int8_t *)p;
    case MX_INT16:
      return *(const int16_t *)p;
    case MX_INT32:
      return *(const int32_t *)p;
    case MX_INT64:
      return (double)*(const int64_t *)p;
    case MX_FLOAT16:
      return mx_f16_to_f32(*(const uint16_t *)p);
    case MX_BFLOAT16:
      return mx_bf16_to_f32(*(const uint16_t *)p);
    case MX_FLOAT32:
      return *(const float *)p;
    case MX_FLOAT64:
      return *(const double *)p;
    case MX_COMPLEX64:
      return ((const float *)p)[0];
    default:
      return 0;
  }
}

static inline int64_t mx_load_i64(const void *p, mx_dtype t) {
  switch (t) {
    case MX_UINT64:
      return (int64_t) * (const uint64_t *)p;
    case MX_INT64:
      return *(const int64_t *)p;
    default:
      return (int64_t)mx_load_f64(p, t);
  }
}

/* Float to integer the way C casts do, but defined for NaN/out of range
 * (saturates; NaN -> 0), so UBSan stays quiet and results are stable. */
static inline int64_t mx_f64_to_i64_sat(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}
static inline uint64_t mx_f64_to_u64_sat(double v) {
  if (v != v || v <= 0) return v < 0 ? (uint64_t)mx_f64_to_i64_sat(v) : 0;
  if (v >= 18446744073709551615.0) return UINT64_MAX;
  return (uint64_t)v;
}

static inline void mx_store_f64(void *p, mx_dtype t, double v) {
  switch (t) {
    case MX_BOOL:
      *(uint8_t *)p = v != 0;
      break;
    case MX_UINT8:
      *(uint8_t *)p = (uint8_t)mx_f64_to_i64_sat(v);
      break;
    case MX_UINT16:
      *(uint16_t *)p = (uint16_t)mx_f64_to_i64_sat(v);
      break;
    case MX_UINT32:
      *(uint32_t *)p = (uint32_t)mx_f64_to_i64_sat(v);
      break;
    case MX_UINT64:
      *(uint64_t *)p = mx_f64_to_u64_sat(v);
      break;
    case MX_INT8:
      *(int8_t *)p = (int8_t)mx_f64_to_i64_sat(v);
      break;
    case MX_INT16:
      *(int16_t *)p = (int16_t)mx_f64_to_i64_sat(v);
      break;
    case MX_INT32:
      *(int32_t *)p = (int32_t)mx_f64_to_i64_sat(v);
      break;
    case MX_INT64:
      *(int64_t *)p = mx_f64_to_i64_sat(v);
      break;
    case MX_FLOAT16:
      *(uint16_t *)p = mx_f32_to_f16((float)v);
      break;
    case MX_BFLOAT16:
      *(uint16_t *)p = mx_f32_to_bf16((float)v);
      break;
    case MX_FLOAT32:
      *(float *)p = (float)v;
      break;
    case MX_FLOAT64:
      *(double *)p = v;
      break;
    case MX_COMPLEX64:
      ((float *)p)[0] = (float)v;
      ((float *)p)[1] = 0;
      break;
    default:
      break;
  }
}

static inline void mx_store_i64(void *p, mx_dtype t, int64_t v) {
  switch (t) {
    case MX_UINT64:
      *(uint64_t *)p = (uint64_t)v;
      break;
    case MX_INT64:
      *(int64_t *)p = v;
      break;
    case MX_UINT32:
      *(uint32_t *)p = (uint32_t)v;
      break;
    case MX_INT32:
      *(int32_t *)p = (int32_t)v;
      break;
    case MX_UINT16:
      *(uint16_t *)p = (uint16_t)v;
      break;
    case MX_INT16:
      *(int16_t *)p = (int16_t)v;
      break;
    case MX_UINT8:
      *(uint8_t *)p = (uint8_t)v;
      break;
    case MX_INT8:
      *(int8_t *)p = (int8_t)v;
      break;
    default:
      mx_store_f64(p, t, (double)v);
      break;
  }
}

/* Per-type float conversions for kernel bodies. */
static inline float mx_f16_get(mx_f16 h) { return mx_f16_to_f32(h.bits); }
static inline mx_f16 mx_f16_make(float f) { return (mx_f16){mx_f32_to_f16(f)}; }
static inline float mx_bf16_get(mx_bf16 h) { return mx_bf16_to_f32(h.bits); }
static inline mx_bf16 mx_bf16_make(float f) { return (mx_bf16){mx_f32_to_bf16(f)}; }

#endif
