/* dtype.c: dtype sizes, names, kinds, MLX's promotion table and the
 * float16/bfloat16 conversions (round to nearest even, NaN preserved). */
#include <string.h>

#include "core.h"

static const size_t k_size[MX_NUM_DTYPES] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 8};
static const char *k_name[MX_NUM_DTYPES] = {
    "bool",  "uint8", "uint16",  "uint32",   "uint64",  "int8",    "int16",
    "int32", "int64", "float16", "bfloat16", "float32", "float64", "complex64"};

size_t mx_dtype_size(mx_dtype t) { return (unsigned)t < MX_NUM_DTYPES ? k_size[t] : 0; }

const char *mx_dtype_name(mx_dtype t) {
  return (unsigned)t < MX_NUM_DTYPES ? k_name[t] : "invalid";
}

bool mx_dtype_from_name(const char *name, mx_dtype *out) {
  for (int i = 0; i < MX_NUM_DTYPES; i++)
    if (strcmp(name, k_name[i]) == 0) {
      *out = (mx_dtype)i;
      return true;
    }
  return false;
}

mx_dtype_kind mx_dtype_kind_of(mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return MX_KIND_BOOL;
    case MX_UINT8:
    case MX_UINT16:
    case MX_UINT32:
    case MX_UINT64:
      return MX_KIND_UNSIGNED;
    case MX_INT8:
    case MX_INT16:
    case MX_INT32:
    case MX_INT64:
      return MX_KIND_SIGNED;
    case MX_COMPLEX64:
      return MX_KIND_COMPLEX;
    default:
      return MX_KIND_FLOAT;
  }
}

bool mx_dtype_is_floating(mx_dtype t) { return mx_dtype_kind_of(t) == MX_KIND_FLOAT; }
bool mx_dtype_is_integer(mx_dtype t) {
  mx_dtype_kind k = mx_dtype_kind_of(t);
  return k == MX_KIND_SIGNED || k == MX_KIND_UNSIGNED;
}
bool mx_dtype_is_inexact(mx_dtype t) {
  mx_dtype_kind k = mx_dtype_kind_of(t);
  return k == MX_KIND_FLOAT || k == MX_KIND_COMPLEX;
}

/* MLX's table (mlx/dtype.cpp): rows/cols in enum order
 * b u8 u16 u32 u64 i8 i16 i32 i64 f16 bf16 f32 f64 c64 */
#define B MX_BOOL
#define U8 MX_UINT8
#define U16 MX_UINT16
#define U32 MX_UINT32
#define U64 MX_UINT64
#define I8 MX_INT8
#define I16 MX_INT16
#define I32 MX_INT32
#define I64 MX_INT64
#define F16 MX_FLOAT16
#define BF MX_BFLOAT16
#define F32 MX_FLOAT32
#define F64 MX_FLOAT64
#define C64 MX_COMPLEX64
static const mx_dtype k_promote[MX_NUM_DTYPES][MX_NUM_DTYPES] = {
    /* b   */ {B, U8, U16, U32, U64, I8, I16, I32, I64, F16, BF, F32, F64, C64},
    /* u8  */ {U8, U8, U16, U32, U64, I16, I16, I32, I64, F16, BF, F32, F64, C64},
    /* u16 */ {U16, U16, U16, U32, U64, I32, I32, I32, I64, F16, BF, F32, F64, C64},
    /* u32 */ {U32, U32, U32, U32, U64, I64, I64, I64, I64, F16, BF, F32, F64, C64},
    /* u64 */ {U64, U64, U64, U64, U64, F32, F32, F32, F32, F16, BF, F32, F64, C64},
    /* i8  */ {I8, I16, I32, I64, F32, I8, I16, I32, I64, F16, BF, F32, F64, C64},
    /* i16 */ {I16, I16, I32, I64, F32, I16, I16, I32, I64, F16, BF, F32, F64, C64},
    /* i32 */ {I32, I32, I32, I64, F32, I32, I32, I32, I64, F16, BF, F32, F64, C64},
    /* i64 */ {I64, I64, I64, I64, F32, I64, I64, I64, I64, F16, BF, F32, F64, C64},
    /* f16 */ {F16, F16, F16, F16, F16, F16, F16, F16, F16, F16, F32, F32, F64, C64},
    /* bf  */ {BF, BF, BF, BF, BF, BF, BF, BF, BF, F32, BF, F32, F64, C64},
    /* f32 */ {F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F32, F64, C64},
    /* f64 */ {F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, F64, C64},
    /* c64 */ {C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64, C64},
};

mx_dtype mx_promote_types(mx_dtype a, mx_dtype b) { return k_promote[a][b]; }

float mx_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: normalise */
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) {
        man <<= 1;
        exp--;
      }
      man &= 0x3ff;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t mx_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) /* inf or nan */
    return (uint16_t)(sign | 0x7c00 |
                      (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
  if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow */
  if (absx < 0x38800000u) { /* subnormal or zero in half */
    if (absx < 0x33000000u) return (uint16_t)sign;
    uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
    /* value / 2^-24 = m * 2^(e - 150 + 24) = m >> (126 - e) */
    int shift = 126 - (int)e;
    uint32_t half = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = ((absx >> 13) - (112u << 10));
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

float mx_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t mx_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fffu + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}
