/* simd_avx512bf16.c: the AVX-512 vector body again (simd_avx512.c), built
 * for CPUs with AVX512-BF16 and DQ: float32 -> bfloat16 narrowing by
 * vcvtneps2bf16 with a subnormal guard (bit-identical to the integer
 * rounding). simd.c calls it for bfloat16 work when the CPU has those
 * extensions. */
#define MX_SIMD_BF16_HW 1
#include "simd_avx512.c"
