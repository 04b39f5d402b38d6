/* compile_cpu.c: CPU code for fused regions (compile.h).
 *
 * Source. Each region becomes one C function
 *     void mxk_<hash>(int64_t n, char *const *p, const int64_t *s)
 * over a run of n elements: p[] points at the first element of each input
 * and output (inputs first), s[] are their strides in elements. It has two
 * loops with the same body: a contiguous one (unit strides, inputs that had
 * one element when traced read once before the loop), which GCC
 * vectorises, and a strided one for everything else. The host side
 * (mx_cpu_compiled) merges dimensions contiguous in every operand, splits
 * the outer ones over the pool and calls the function per run.
 *
 * Same math as the unfused kernels: every value has its dtype's compute
 * type (integers their own type with wrapping through unsigned arithmetic,
 * float16/bfloat16 float rounded to the dtype after each op, exactly as
 * the plain kernels store and reload each intermediate), and the op
 * bodies are the plain kernels' expressions (unary_impl.inc,
 * binary_impl.inc, mx_copy_convert for astype). exp, tanh and sigmoid of
 * float32/float16/bfloat16 use the vector kernels' polynomials (simd_impl.
 * inc) written in scalar C, when this CPU has those vector kernels: the
 * unfused path then gives the same bits (the sign of a NaN result aside;
 * operands with other strides are gathered into the vector kernels too,
 * and bfloat16/float16 exp and sigmoid use them at every size). Where the
 * unfused kernels use libm for these (half-type tanh reads a table built
 * from the plain kernel) they differ from the polynomial in the last 1-2
 * ulp; on CPUs without the vector kernels both use libm.
 * float32 erf uses the vector kernel's polynomial the same way (mx_perf);
 * float32 log*, expm1, trig, inverse trig and hyperbolic ops call the
 * glibc libmvec variant the vector kernels call (on a broadcast value,
 * lane 0) when the library is built with it (MX_HAVE_LIBMVEC) and the CPU
 * has the vector kernels; float64, the half types and the other
 * transcendental ops call the same libm functions as the plain kernels.
 * The source is
 * built with -fno-math-errno (as the library) and -ffp-contract=off, so no
 * a*b+c is contracted to an fma the unfused kernels do not do.
 * Differences: a signalling NaN moved through where/astype to a half type
 * comes out quiet (the plain where copies bits).
 *
 * Building. Tracing writes each region's function and queues it (unless a
 * kernel with the same source is loaded already); the first evaluation of
 * a `compiled` node whose kernel is queued puts every queued function into
 * one source file (so the kernels of all functions traced before it cost
 * one compiler run), built with the system compiler ($MX_CC, else $CC,
 * else cc) as
 *     cc -O3 -fno-math-errno -ffp-contract=off -march=native -fPIC -shared
 * (-O3 rather than -O2: GCC's -O2 cost model does not vectorise loops that
 * need a scalar tail) into the cache directory ($MX_COMPILE_CACHE, else
 * $XDG_CACHE_HOME/mx, else ~/.cache/mx) as <hash>.so, the hash covering the
 * source, the flags, the compiler name and the CPU. Each build happens in a
 * private temporary directory and the library is renamed into place, so
 * processes sharing the cache never see half a file; the temporary
 * directory is removed. Libraries are dlopen'ed once and stay loaded (their
 * functions are referenced by cached graphs). Kernels already loaded in
 * this process (same source) are reused without compiling. If the build
 * fails (no compiler, an error), the nodes whose kernels are missing run
 * their region's unfused sub-graph, later traces do not fuse, and one
 * notice goes to stderr. MX_COMPILE_SOURCE=1 keeps each library's source
 * next to it (fused-<hash>.c) for inspection. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../backend/cpu/iter.h"
#include "../backend/cpu/simd.h"
#include "../primitives/binary.h"
#include "../primitives/unary.h"
#include "compile.h"

extern char **environ;

/* ---- dtypes in generated code ---- */
static mx_dtype_kind kind_of(mx_dtype t) { return mx_dtype_kind_of(t); }
static bool is_half(mx_dtype t) { return t == MX_FLOAT16 || t == MX_BFLOAT16; }
static bool is_float(mx_dtype t) { return kind_of(t) == MX_KIND_FLOAT; }
static bool is_real(mx_dtype t) {
  return (unsigned)t < MX_NUM_DTYPES && t != MX_COMPLEX64;
}

/* compute type */
static const char *ctype(mx_dtype t) {
  switch (t) {
    case MX_BOOL:
    case MX_UINT8:
      return "uint8_t";
    case MX_UINT16:
      return "uint16_t";
    case MX_UINT32:
      return "uint32_t";
    case MX_UINT64:
      return "uint64_t";
    case MX_INT8:
      return "int8_t";
    case MX_INT16:
      return "int16_t";
    case MX_INT32:
      return "int32_t";
    case MX_INT64:
      return "int64_t";
    case MX_FLOAT64:
      return "double";
    default:
      return "float";
  }
}

/* storage type */
static const char *stype(mx_dtype t) { return is_half(t) ? "uint16_t" : ctype(t); }

/* the unsigned type integer arithmetic wraps in (EW_UT) */
static const char *utype(mx_dtype t) {
  return t == MX_UINT64 || t == MX_INT64 ? "uint64_t" : "uint32_t";
}

static int bits_of(mx_dtype t) { return (int)mx_dtype_size(t) * 8; }

/* libm suffix */
static const char *fs(mx_dtype t) { return t == MX_FLOAT64 ? "" : "f"; }

/* ---- what the generator handles ---- */
static bool poly_ok(mx_dtype t) {
  return (t == MX_FLOAT32 || is_half(t)) && mx_simd_level() > MX_SIMD_NONE;
}

static bool unary_ok(int op, mx_dtype t) {
  mx_dtype_kind k = kind_of(t);
  if (k == MX_KIND_FLOAT) {
    switch (op) {
      case MX_UOP_ERFINV:
      case MX_UOP_LOGICAL_NOT:
      case MX_UOP_BITWISE_INVERT:
      case MX_UOP_REAL:
      case MX_UOP_IMAG:
      case MX_UOP_CONJUGATE:
        return false;
      default:
        return op >= 0 && op < MX_UOP_COUNT;
    }
  }
  switch (op) {
    case MX_UOP_ABS:
    case MX_UOP_SIGN:
    case MX_UOP_SQUARE:
    case MX_UOP_FLOOR:
    case MX_UOP_CEIL:
    case MX_UOP_LOGICAL_NOT:
      return true;
    case MX_UOP_NEGATIVE:
    case MX_UOP_BITWISE_INVERT:
      return k != MX_KIND_BOOL;
    default:
      return false;
  }
}

static bool binary_ok(int op, mx_dtype t) {
  if (op < 0 || op >= MX_BOP_COUNT || op == MX_BOP_ISCLOSE) return false;
  if (kind_of(t) == MX_KIND_FLOAT)
    return op <= MX_BOP_GREATER_EQUAL; /* arithmetic, logaddexp, comparisons */
  return op != MX_BOP_ARCTAN2 && op != MX_BOP_LOGADDEXP && op != MX_BOP_DIVIDE;
}

bool mx_fuse_cpu_supports(const mx_fr_op *op) {
  if (!is_real(op->dtype) || !is_real(op->in_dtype)) return false;
  switch (op->kind) {
    case MX_FK_UNARY:
      return unary_ok(op->op, op->in_dtype);
    case MX_FK_BINARY:
      return binary_ok(op->op, op->in_dtype);
    case MX_FK_SELECT:
      return op->dtype == op->in_dtype;
    case MX_FK_ASTYPE:
    case MX_FK_IDENTITY:
      return true;
    default:
      return false;
  }
}

/* ---- a string builder ---- */
typedef struct {
  char *s;
  size_t n, cap;
  bool oom;
} sb;

static void sb_printf(sb *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (m < 0) {
      b->oom = true;
      return;
    }
    if (b->s && b->n + (size_t)m < b->cap) {
      b->n += (size_t)m;
      return;
    }
    size_t nc = b->cap ? b->cap : 4096;
    while (nc <= b->n + (size_t)m) nc *= 2;
    char *ns = realloc(b->s, nc);
    if (!ns) {
      b->oom = true;
      return;
    }
    b->s = ns;
    b->cap = nc;
  }
}

/* ---- the preamble: helpers with the plain kernels' semantics ---- */
static const char k_preamble[] =
    "/* mx compile: generated fused elementwise kernels */\n"
    "#include <math.h>\n"
    "#include <stdint.h>\n"
    "#include <string.h>\n"
    "#define MXI static inline __attribute__((always_inline))\n"
    /* float16 <-> float, round to nearest even, NaN kept quiet */
    "#if defined(__FLT16_MANT_DIG__) && (defined(__x86_64__) || defined(__aarch64__))\n"
    "MXI float mx_h2f(uint16_t b) { _Float16 h; memcpy(&h, &b, 2); return (float)h; }\n"
    "MXI uint16_t mx_f2h(float f) { _Float16 h = (_Float16)f; uint16_t b; memcpy(&b, &h, "
    "2);"
    " return b; }\n"
    "#else\n"
    "static float mx_h2f(uint16_t h) {\n"
    "  uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & "
    "0x3ff, b;\n"
    "  if (e == 0) {\n"
    "    if (m == 0) b = sign;\n"
    "    else { e = 113; while (!(m & 0x400)) { m <<= 1; e--; } m &= 0x3ff;"
    " b = sign | (e << 23) | (m << 13); }\n"
    "  } else if (e == 31) b = sign | 0x7f800000u | (m << 13);\n"
    "  else b = sign | ((e + 112) << 23) | (m << 13);\n"
    "  float f; memcpy(&f, &b, 4); return f;\n"
    "}\n"
    "static uint16_t mx_f2h(float f) {\n"
    "  uint32_t x; memcpy(&x, &f, 4);\n"
    "  uint32_t sign = (x >> 16) & 0x8000, a = x & 0x7fffffffu;\n"
    "  if (a >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 |"
    " ((a >> 13) & 0x3ff) : 0));\n"
    "  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);\n"
    "  if (a < 0x38800000u) {\n"
    "    if (a < 0x33000000u) return (uint16_t)sign;\n"
    "    uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000; int sh = 126 - (int)e;\n"
    "    uint32_t h = m >> sh, rem = m & ((1u << sh) - 1), mid = 1u << (sh - 1);\n"
    "    if (rem > mid || (rem == mid && (h & 1))) h++;\n"
    "    return (uint16_t)(sign | h);\n"
    "  }\n"
    "  uint32_t h = (a >> 13) - (112u << 10), rem = a & 0x1fff;\n"
    "  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;\n"
    "  return (uint16_t)(sign | h);\n"
    "}\n"
    "#endif\n"
    "MXI float mx_b2f(uint16_t b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, "
    "&u, 4);"
    " return f; }\n"
    "MXI uint16_t mx_f2b(float f) {\n"
    "  uint32_t x; memcpy(&x, &f, 4);\n"
    "  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);\n"
    "  x += 0x7fffu + ((x >> 16) & 1);\n"
    "  return (uint16_t)(x >> 16);\n"
    "}\n"
    "MXI float mx_rh(float f) { return mx_h2f(mx_f2h(f)); }\n"
    "MXI float mx_rb(float f) { return mx_b2f(mx_f2b(f)); }\n"
    /* binary_impl.inc helpers */
    "MXI float mx_maxf(float x, float y) { return isnan(x) ? x : (x > y ? x : y); }\n"
    "MXI float mx_minf(float x, float y) { return isnan(x) ? x : (x < y ? x : y); }\n"
    "MXI double mx_max(double x, double y) { return isnan(x) ? x : (x > y ? x : y); }\n"
    "MXI double mx_min(double x, double y) { return isnan(x) ? x : (x < y ? x : y); }\n"
    "MXI float mx_modf_(float x, float y) {\n"
    "  float r = fmodf(x, y);\n"
    "  if (r != 0 && ((r < 0) != (y < 0))) r += y;\n"
    "  if (r == 0) r = copysignf(0, y);\n"
    "  return r;\n"
    "}\n"
    "MXI double mx_mod_(double x, double y) {\n"
    "  double r = fmod(x, y);\n"
    "  if (r != 0 && ((r < 0) != (y < 0))) r += y;\n"
    "  if (r == 0) r = copysign(0, y);\n"
    "  return r;\n"
    "}\n"
    "MXI double mx_lae(double x, double y) {\n"
    "  double hi = mx_max(x, y), lo = mx_min(x, y);\n"
    "  if (lo == -INFINITY || hi == INFINITY) return hi;\n"
    "  return hi + log1p(exp(lo - hi));\n"
    "}\n"
    "MXI int64_t mx_floordiv_i64(int64_t a, int64_t b) {\n"
    "  if (b == 0) return 0;\n"
    "  if (b == -1) return (int64_t)(0u - (uint64_t)a);\n"
    "  int64_t q = a / b;\n"
    "  if (a % b != 0 && ((a < 0) != (b < 0))) q--;\n"
    "  return q;\n"
    "}\n"
    "MXI int64_t mx_mod_i64(int64_t a, int64_t b) {\n"
    "  if (b == 0 || b == -1) return 0;\n"
    "  int64_t r = a % b;\n"
    "  if (r != 0 && ((r < 0) != (b < 0))) r += b;\n"
    "  return r;\n"
    "}\n"
    "MXI uint64_t mx_pow_u64(uint64_t b, uint64_t e) {\n"
    "  uint64_t r = 1;\n"
    "  while (e) { if (e & 1) r *= b; e >>= 1; b *= b; }\n"
    "  return r;\n"
    "}\n"
    /* astype (mx_copy_convert): float -> integer saturates, NaN -> 0 */
    "MXI int64_t mx_sati(double v) {\n"
    "  if (v != v) return 0;\n"
    "  if (v >= 9223372036854775807.0) return INT64_MAX;\n"
    "  if (v <= -9223372036854775808.0) return INT64_MIN;\n"
    "  return (int64_t)v;\n"
    "}\n"
    "MXI uint64_t mx_satu(double v) {\n"
    "  if (v != v || v <= 0) return v < 0 ? (uint64_t)mx_sati(v) : 0;\n"
    "  if (v >= 18446744073709551615.0) return UINT64_MAX;\n"
    "  return (uint64_t)v;\n"
    "}\n"
    /* unary_impl.inc's sigmoid */
    "MXI float mx_sigf(float x) { float e = expf(-fabsf(x)); return (x < 0 ? e : 1) / (1 "
    "+ e); }\n"
    "MXI double mx_sig(double x) { double e = exp(-fabs(x)); return (x < 0 ? e : 1) / (1 "
    "+ e); }\n"
    /* simd_impl.inc's polynomials, one lane at a time */
    "MXI float mx_scale2(float p, float n) {\n"
    "  int32_t ni = (int32_t)(n == n ? n : 0.0f), n1 = ni >> 1, n2 = ni - n1;\n"
    "  uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;\n"
    "  float s1, s2; memcpy(&s1, &b1, 4); memcpy(&s2, &b2, 4);\n"
    "  return (p * s1) * s2;\n"
    "}\n"
    "MXI float mx_pexp(float x) {\n"
    "  float t = -104.0f > x ? -104.0f : x;\n"
    "  x = 89.0f < t ? 89.0f : t;\n"
    "  const float magic = 12582912.0f;\n"
    "  float n = fmaf(x, 1.44269504088896341f, magic) - magic;\n"
    "  float r = fmaf(n, -0.693359375f, x);\n"
    "  r = fmaf(n, 2.12194440e-4f, r);\n"
    "  float p = 0.0013753952225670218f;\n"
    "  p = fmaf(p, r, 0.008368910290300846f);\n"
    "  p = fmaf(p, r, 0.041669487953186035f);\n"
    "  p = fmaf(p, r, 0.166665181517601f);\n"
    "  p = fmaf(p, r, 0.49999988079071045f);\n"
    "  p = fmaf(p, r, 1.0f);\n"
    "  p = fmaf(p, r, 1.0f);\n"
    "  return mx_scale2(p, n);\n"
    "}\n"
    "MXI float mx_ptanh(float x) {\n"
    "  float ax = fabsf(x), e = mx_pexp(ax * -2.0f);\n"
    "  float big = (1.0f - e) / (1.0f + e);\n"
    "  big = x < 0 ? -big : big;\n"
    "  float x2 = x * x, q = -0.0057183424942195415f;\n"
    "  q = fmaf(q, x2, 0.020652495324611664f);\n"
    "  q = fmaf(q, x2, -0.05374443158507347f);\n"
    "  q = fmaf(q, x2, 0.1333151012659073f);\n"
    "  q = fmaf(q, x2, -0.3333328366279602f);\n"
    "  float small = fmaf(x * x2, q, x);\n"
    "  return ax < 0x1p-12f ? x : ax < 0.625f ? small : big;\n"
    "}\n"
#ifdef MX_HAVE_LIBMVEC
    /* simd_impl.inc's float32 libmvec calls, one lane at a time: mx_mv16_f
     * (AVX-512 variant) or mx_mv8_f (AVX2), the one the unfused kernels use
     * at this mx_simd_level() */
    "#include <immintrin.h>\n"
    "#define MX_MV(f) MX_MV16(f) MX_MV8(f)\n"
    "#ifdef __AVX512F__\n"
    "#define MX_MV16(f) __m512 _ZGVeN16v_##f(__m512); MXI float mx_mv16_##f(float x) "
    "{ return _mm512_cvtss_f32(_ZGVeN16v_##f(_mm512_set1_ps(x))); }\n"
    "#else\n#define MX_MV16(f)\n#endif\n"
    "#ifdef __AVX2__\n"
    "#define MX_MV8(f) __m256 _ZGVdN8v_##f(__m256); MXI float mx_mv8_##f(float x) "
    "{ return _mm256_cvtss_f32(_ZGVdN8v_##f(_mm256_set1_ps(x))); }\n"
    "#else\n#define MX_MV8(f)\n#endif\n"
    "MX_MV(logf) MX_MV(log2f) MX_MV(log10f) MX_MV(log1pf) MX_MV(expm1f) MX_MV(sinf)\n"
    "MX_MV(cosf) MX_MV(tanf) MX_MV(asinf) MX_MV(acosf) MX_MV(atanf) MX_MV(sinhf)\n"
    "MX_MV(coshf) MX_MV(asinhf) MX_MV(atanhf)\n"
    /* simd_impl.inc's v_acosh, lane by lane (same steps, same bits) */
    "#define MX_PACOSH(n) MXI float mx_pacosh##n(float x) {"
    " float t = (x - 1.0f) + sqrtf(fmaf(x, x, -1.0f));"
    " t = x < 1.0f ? __builtin_nanf(\"\") : t;"
    " float r = mx_mv##n##_log1pf(x < 0x1p26f ? t : x);"
    " return x < 0x1p26f ? r : r + 0.693147180559945309f; }\n"
    "#ifdef __AVX512F__\nMX_PACOSH(16)\n#endif\n"
    "#ifdef __AVX2__\nMX_PACOSH(8)\n#endif\n"
#endif
    "MXI float mx_perf(float x) {\n"
    "  float ax = fabsf(x), t = x * x, p = 8.387074556861946e-05f;\n"
    "  p = fmaf(p, t, -0.0008147081117456024f);\n"
    "  p = fmaf(p, t, 0.005201456326433703f);\n"
    "  p = fmaf(p, t, -0.026859588116109587f);\n"
    "  p = fmaf(p, t, 0.1128369935115317f);\n"
    "  p = fmaf(p, t, -0.3761263402339505f);\n"
    "  p = fmaf(p, t, 1.1283791666726832f);\n"
    "  float small = x * p;\n"
    "  float xc = 3.92f < ax ? 3.92f : ax, u = xc - 2.42f, g = 2.235537371700848e-08f;\n"
    "  g = fmaf(g, u, -5.9508956941531635e-08f);\n"
    "  g = fmaf(g, u, -1.6127131294780272e-07f);\n"
    "  g = fmaf(g, u, 1.9712683410561413e-06f);\n"
    "  g = fmaf(g, u, -1.3899844074133027e-05f);\n"
    "  g = fmaf(g, u, 8.4384925155318223e-05f);\n"
    "  g = fmaf(g, u, -0.00045968550795014981f);\n"
    "  g = fmaf(g, u, 0.00234153869305821f);\n"
    "  g = fmaf(g, u, -0.011578770070577626f);\n"
    "  g = fmaf(g, u, 0.058797549990539294f);\n"
    "  g = fmaf(g, u, -0.36187075133506585f);\n"
    "  g = fmaf(g, u, -1.5282360827475709f);\n"
    "  float h = xc * xc, l = fmaf(xc, xc, -h);\n"
    "  float big = 1.0f - mx_pexp((g - l) - h);\n"
    "  big = x < 0 ? -big : big;\n"
    "  return ax < 0.92f ? small : big;\n"
    "}\n"
    "MXI float mx_psig(float x) {\n"
    "  float e = mx_pexp(-fabsf(x));\n"
    "  return (x < 0 ? e : 1.0f) / (1.0f + e);\n"
    "}\n";

/* ---- expressions ---- */
/* The value of x (compute type of `from`) in dtype `to`'s compute type, as
 * mx_copy_convert converts (integers through int64, the rest through
 * double, float -> integer saturating). */
static void conv(sb *b, const char *x, mx_dtype from, mx_dtype to) {
  if (from == to) {
    sb_printf(b, "%s", x);
  } else if (to == MX_BOOL) {
    sb_printf(b, "(uint8_t)(%s != 0)", x);
  } else if (!is_float(to)) {
    if (mx_dtype_is_integer(from) || from == MX_BOOL)
      sb_printf(b, "(%s)(int64_t)%s", ctype(to), x);
    else if (to == MX_UINT64)
      sb_printf(b, "mx_satu((double)%s)", x);
    else
      sb_printf(b, "(%s)mx_sati((double)%s)", ctype(to), x);
  } else if (to == MX_FLOAT64) {
    sb_printf(b, "(double)%s", x);
  } else if (to == MX_FLOAT32) {
    sb_printf(b, "(float)(double)%s", x);
  } else {
    sb_printf(b, "%s((float)(double)%s)", to == MX_FLOAT16 ? "mx_rh" : "mx_rb", x);
  }
}

static void unary_expr(sb *b, int op, mx_dtype t, const char *x, bool poly) {
  const char *C = ctype(t), *F = fs(t);
  mx_dtype_kind k = kind_of(t);
  if (k == MX_KIND_FLOAT) {
    const char *fn = NULL;
    switch (op) {
      case MX_UOP_ABS:
        fn = "fabs";
        break;
      case MX_UOP_EXPM1:
        fn = "expm1";
        break;
      case MX_UOP_LOG:
        fn = "log";
        break;
      case MX_UOP_LOG1P:
        fn = "log1p";
        break;
      case MX_UOP_LOG2:
        fn = "log2";
        break;
      case MX_UOP_LOG10:
        fn = "log10";
        break;
      case MX_UOP_SQRT:
        fn = "sqrt";
        break;
      case MX_UOP_SIN:
        fn = "sin";
        break;
      case MX_UOP_COS:
        fn = "cos";
        break;
      case MX_UOP_TAN:
        fn = "tan";
        break;
      case MX_UOP_ARCSIN:
        fn = "asin";
        break;
      case MX_UOP_ARCCOS:
        fn = "acos";
        break;
      case MX_UOP_ARCTAN:
        fn = "atan";
        break;
      case MX_UOP_SINH:
        fn = "sinh";
        break;
      case MX_UOP_COSH:
        fn = "cosh";
        break;
      case MX_UOP_ARCSINH:
        fn = "asinh";
        break;
      case MX_UOP_ARCCOSH:
        fn = "acosh";
        break;
      case MX_UOP_ARCTANH:
        fn = "atanh";
        break;
      case MX_UOP_ERF:
        fn = "erf";
        break;
      case MX_UOP_FLOOR:
        fn = "floor";
        break;
      case MX_UOP_CEIL:
        fn = "ceil";
        break;
      case MX_UOP_ROUND:
        fn = "rint";
        break;
      case MX_UOP_EXP:
        if (!poly) fn = "exp";
        break;
      case MX_UOP_TANH:
        if (!poly) fn = "tanh";
        break;
      default:
        break;
    }
    /* float32 erf: the vector kernels' polynomial (simd_impl.inc v_erf) */
    if (op == MX_UOP_ERF && poly && t == MX_FLOAT32) {
      sb_printf(b, "mx_perf(%s)", x);
      return;
    }
#ifdef MX_HAVE_LIBMVEC
    /* float32 arccosh: the vector kernels' log1p form (simd_impl.inc) */
    if (op == MX_UOP_ARCCOSH && poly && t == MX_FLOAT32) {
      sb_printf(b, "mx_pacosh%d(%s)", mx_simd_level() >= MX_SIMD_AVX512 ? 16 : 8, x);
      return;
    }
    /* float32 transcendentals: the vector kernels call libmvec */
    if (fn && poly && t == MX_FLOAT32 && op != MX_UOP_ABS && op != MX_UOP_SQRT &&
        op != MX_UOP_FLOOR && op != MX_UOP_CEIL && op != MX_UOP_ROUND) {
      sb_printf(b, "mx_mv%d_%sf(%s)", mx_simd_level() >= MX_SIMD_AVX512 ? 16 : 8, fn, x);
      return;
    }
#endif
    if (fn) {
      sb_printf(b, "%s%s(%s)", fn, F, x);
      return;
    }
    switch (op) {
      case MX_UOP_NEGATIVE:
        sb_printf(b, "(-%s)", x);
        return;
      case MX_UOP_SIGN:
        sb_printf(b, "(%s > 0 ? (%s)1 : %s < 0 ? (%s)-1 : (%s)0)", x, C, x, C, C);
        return;
      case MX_UOP_EXP:
        sb_printf(b, "mx_pexp(%s)", x);
        return;
      case MX_UOP_TANH:
        sb_printf(b, "mx_ptanh(%s)", x);
        return;
      case MX_UOP_SIGMOID:
        sb_printf(b, "%s(%s)",
                  poly              ? "mx_psig"
                  : t == MX_FLOAT64 ? "mx_sig"
                                    : "mx_sigf",
                  x);
        return;
      case MX_UOP_RSQRT:
        sb_printf(b, "(1 / sqrt%s(%s))", F, x);
        return;
      case MX_UOP_SQUARE:
        sb_printf(b, "(%s * %s)", x, x);
        return;
      case MX_UOP_RECIPROCAL:
        sb_printf(b, "(1 / %s)", x);
        return;
      case MX_UOP_ISNAN:
        sb_printf(b, "(uint8_t)(isnan(%s) != 0)", x);
        return;
      case MX_UOP_ISINF:
        sb_printf(b, "(uint8_t)(isinf(%s) != 0)", x);
        return;
      case MX_UOP_ISFINITE:
        sb_printf(b, "(uint8_t)(isfinite(%s) != 0)", x);
        return;
      case MX_UOP_ISPOSINF:
        sb_printf(b, "(uint8_t)(%s == (%s)INFINITY)", x, C);
        return;
      case MX_UOP_ISNEGINF:
        sb_printf(b, "(uint8_t)(%s == -(%s)INFINITY)", x, C);
        return;
      default:
        sb_printf(b, "0 /* unsupported */");
        b->oom = true;
        return;
    }
  }
  /* integers and bool: EW_ST is a cast, or != 0 for bool */
  const char *UT = utype(t);
  bool bo = k == MX_KIND_BOOL;
  switch (op) {
    case MX_UOP_ABS:
      if (k == MX_KIND_SIGNED)
        sb_printf(b, "(%s < 0 ? (%s)(0u - (%s)%s) : %s)", x, C, UT, x, x);
      else
        sb_printf(b, "%s", x);
      return;
    case MX_UOP_NEGATIVE:
      sb_printf(b, "(%s)(0u - (%s)%s)", C, UT, x);
      return;
    case MX_UOP_BITWISE_INVERT:
      sb_printf(b, "(%s)(~(%s)%s)", C, UT, x);
      return;
    case MX_UOP_SIGN:
      if (k == MX_KIND_SIGNED)
        sb_printf(b, "(%s)((%s > 0) - (%s < 0))", C, x, x);
      else
        sb_printf(b, "(%s)(%s != 0)", C, x);
      return;
    case MX_UOP_SQUARE:
      if (bo)
        sb_printf(b, "(uint8_t)(((%s)%s * (%s)%s) != 0)", UT, x, UT, x);
      else
        sb_printf(b, "(%s)((%s)%s * (%s)%s)", C, UT, x, UT, x);
      return;
    case MX_UOP_FLOOR:
    case MX_UOP_CEIL:
      sb_printf(b, "%s", x);
      return;
    case MX_UOP_LOGICAL_NOT:
      sb_printf(b, "(uint8_t)(%s == 0)", x);
      return;
    default:
      sb_printf(b, "0 /* unsupported */");
      b->oom = true;
      return;
  }
}

/* R(e): e rounded to the dtype (half types) */
static void round_open(sb *b, mx_dtype t) {
  if (t == MX_FLOAT16)
    sb_printf(b, "mx_rh(");
  else if (t == MX_BFLOAT16)
    sb_printf(b, "mx_rb(");
}
static void round_close(sb *b, mx_dtype t) {
  if (is_half(t)) sb_printf(b, ")");
}

static void binary_expr(sb *b, int op, int eqn, mx_dtype t, const char *x,
                        const char *y) {
  const char *C = ctype(t), *F = fs(t);
  mx_dtype_kind k = kind_of(t);
  const char *cmp = NULL;
  switch (op) {
    case MX_BOP_NOT_EQUAL:
      cmp = "!=";
      break;
    case MX_BOP_LESS:
      cmp = "<";
      break;
    case MX_BOP_LESS_EQUAL:
      cmp = "<=";
      break;
    case MX_BOP_GREATER:
      cmp = ">";
      break;
    case MX_BOP_GREATER_EQUAL:
      cmp = ">=";
      break;
    default:
      break;
  }
  if (cmp) {
    sb_printf(b, "(uint8_t)(%s %s %s)", x, cmp, y);
    return;
  }
  if (op == MX_BOP_EQUAL) {
    if (k == MX_KIND_FLOAT && eqn)
      sb_printf(b, "(uint8_t)((%s == %s) | ((%s != %s) & (%s != %s)))", x, y, x, x, y, y);
    else
      sb_printf(b, "(uint8_t)(%s == %s)", x, y);
    return;
  }
  if (k == MX_KIND_FLOAT) {
    bool d = t == MX_FLOAT64;
    switch (op) {
      case MX_BOP_ADD:
        sb_printf(b, "(%s + %s)", x, y);
        return;
      case MX_BOP_SUBTRACT:
        sb_printf(b, "(%s - %s)", x, y);
        return;
      case MX_BOP_MULTIPLY:
        sb_printf(b, "(%s * %s)", x, y);
        return;
      case MX_BOP_DIVIDE:
        sb_printf(b, "(%s / %s)", x, y);
        return;
      case MX_BOP_FLOOR_DIVIDE:
        sb_printf(b, "floor%s(", F);
        round_open(b, t);
        sb_printf(b, "%s / %s", x, y);
        round_close(b, t);
        sb_printf(b, ")");
        return;
      case MX_BOP_REMAINDER:
        sb_printf(b, "%s(%s, %s)", d ? "mx_mod_" : "mx_modf_", x, y);
        return;
      case MX_BOP_POWER:
        sb_printf(b, "pow%s(%s, %s)", F, x, y);
        return;
      case MX_BOP_MAXIMUM:
        sb_printf(b, "%s(%s, %s)", d ? "mx_max" : "mx_maxf", x, y);
        return;
      case MX_BOP_MINIMUM:
        sb_printf(b, "%s(%s, %s)", d ? "mx_min" : "mx_minf", x, y);
        return;
      case MX_BOP_ARCTAN2:
        sb_printf(b, "atan2%s(%s, %s)", F, x, y);
        return;
      case MX_BOP_LOGADDEXP:
        sb_printf(b, "(%s)mx_lae(%s, %s)", C, x, y);
        return;
      default:
        sb_printf(b, "0");
        b->oom = true;
        return;
    }
  }
  /* integers and bool */
  const char *UT = utype(t);
  bool bo = k == MX_KIND_BOOL, si = k == MX_KIND_SIGNED;
  int bits = bits_of(t);
  /* EW_ST( ... ) */
  const char *st_open = bo ? "(uint8_t)((" : "(";
  const char *st_close = bo ? ") != 0)" : ")";
  char cast[24];
  if (bo)
    cast[0] = 0;
  else
    snprintf(cast, sizeof cast, "(%s)", C);
  switch (op) {
    case MX_BOP_ADD:
    case MX_BOP_SUBTRACT:
    case MX_BOP_MULTIPLY:
      sb_printf(b, "%s%s((%s)%s %c (%s)%s)%s", cast, st_open, UT, x,
                op == MX_BOP_ADD        ? '+'
                : op == MX_BOP_SUBTRACT ? '-'
                                        : '*',
                UT, y, st_close);
      return;
    case MX_BOP_FLOOR_DIVIDE:
      if (si)
        sb_printf(b, "%s%smx_floordiv_i64((int64_t)%s, (int64_t)%s)%s", cast, st_open, x,
                  y, st_close);
      else
        sb_printf(b, "%s%s(%s ? %s / %s : 0)%s", cast, st_open, y, x, y, st_close);
      return;
    case MX_BOP_REMAINDER:
      if (si)
        sb_printf(b, "%s%smx_mod_i64((int64_t)%s, (int64_t)%s)%s", cast, st_open, x, y,
                  st_close);
      else
        sb_printf(b, "%s%s(%s ? %s %% %s : 0)%s", cast, st_open, y, x, y, st_close);
      return;
    case MX_BOP_POWER:
      if (si)
        sb_printf(b, "%s%s(%s < 0 ? 0 : mx_pow_u64((uint64_t)%s, (uint64_t)%s))%s", cast,
                  st_open, y, x, y, st_close);
      else
        sb_printf(b, "%s%smx_pow_u64((uint64_t)%s, (uint64_t)%s)%s", cast, st_open, x, y,
                  st_close);
      return;
    case MX_BOP_RIGHT_SHIFT:
      if (si)
        sb_printf(b, "%s%s(%s < 0 || %s >= %d ? (%s < 0 ? -1 : 0) : %s >> %s)%s", cast,
                  st_open, y, y, bits, x, x, y, st_close);
      else
        sb_printf(b, "%s%s((uint64_t)%s >= %d ? 0 : %s >> %s)%s", cast, st_open, y, bits,
                  x, y, st_close);
      return;
    case MX_BOP_LEFT_SHIFT:
      sb_printf(b, "%s%s((uint64_t)%s >= %d ? 0 : (%s)%s << %s)%s", cast, st_open, y,
                bits, UT, x, y, st_close);
      return;
    case MX_BOP_MAXIMUM:
      sb_printf(b, "(%s > %s ? %s : %s)", x, y, x, y);
      return;
    case MX_BOP_MINIMUM:
      sb_printf(b, "(%s < %s ? %s : %s)", x, y, x, y);
      return;
    case MX_BOP_LOGICAL_AND:
      sb_printf(b, "(uint8_t)(%s != 0 && %s != 0)", x, y);
      return;
    case MX_BOP_LOGICAL_OR:
      sb_printf(b, "(uint8_t)(%s != 0 || %s != 0)", x, y);
      return;
    case MX_BOP_BITWISE_AND:
    case MX_BOP_BITWISE_OR:
    case MX_BOP_BITWISE_XOR:
      sb_printf(b, "%s%s(%s %c %s)%s", cast, st_open, x,
                op == MX_BOP_BITWISE_AND  ? '&'
                : op == MX_BOP_BITWISE_OR ? '|'
                                          : '^',
                y, st_close);
      return;
    default:
      sb_printf(b, "0");
      b->oom = true;
      return;
  }
}

static void ref_name(char *buf, size_t n, mx_fr_ref r) {
  snprintf(buf, n, "%c%d",
           r.kind == MX_FR_IN   ? 'a'
           : r.kind == MX_FR_OP ? 'v'
                                : 'l',
           r.idx);
}

/* const <ctype> v<j> = <expr>; */
static void emit_op(sb *b, const mx_fr_op *op, int j, bool poly) {
  char a[3][16];
  for (int i = 0; i < op->nargs; i++) ref_name(a[i], sizeof a[i], op->args[i]);
  sb_printf(b, "      const %s v%d = ", ctype(op->dtype), j);
  switch (op->kind) {
    case MX_FK_UNARY: {
      /* float results of float ops round to half dtypes; predicates give bool */
      bool rnd = is_half(op->dtype);
      if (rnd) round_open(b, op->dtype);
      unary_expr(b, op->op, op->in_dtype, a[0], poly && poly_ok(op->in_dtype));
      if (rnd) round_close(b, op->dtype);
      break;
    }
    case MX_FK_BINARY: {
      bool rnd = is_half(op->dtype);
      if (rnd) round_open(b, op->dtype);
      binary_expr(b, op->op, op->aux, op->in_dtype, a[0], a[1]);
      if (rnd) round_close(b, op->dtype);
      break;
    }
    case MX_FK_SELECT:
      sb_printf(b, "(%s ? %s : %s)", a[0], a[1], a[2]);
      break;
    case MX_FK_ASTYPE:
      conv(b, a[0], op->in_dtype, op->dtype);
      break;
    default:
      sb_printf(b, "%s", a[0]);
      break;
  }
  sb_printf(b, ";\n");
}

static void emit_literal(sb *b, const mx_fr_lit *l, int i) {
  const char *C = ctype(l->dtype);
  sb_printf(b, "  const %s l%d = ", C, i);
  mx_dtype t = l->dtype;
  if (is_float(t)) {
    double v;
    if (t == MX_FLOAT64) {
      memcpy(&v, l->bytes, 8);
    } else if (t == MX_FLOAT32) {
      float f;
      memcpy(&f, l->bytes, 4);
      v = f;
    } else {
      uint16_t h;
      memcpy(&h, l->bytes, 2);
      v = t == MX_FLOAT16 ? mx_f16_to_f32(h) : mx_bf16_to_f32(h);
    }
    if (isnan(v))
      sb_printf(b, "(%s)NAN", C);
    else if (isinf(v))
      sb_printf(b, "%s(%s)INFINITY", v < 0 ? "-" : "", C);
    else
      sb_printf(b, "(%s)%a", C, v);
  } else {
    uint64_t u = 0;
    int64_t s = 0;
    switch (t) {
      case MX_BOOL:
      case MX_UINT8:
        u = l->bytes[0];
        break;
      case MX_UINT16: {
        uint16_t x;
        memcpy(&x, l->bytes, 2);
        u = x;
        break;
      }
      case MX_UINT32: {
        uint32_t x;
        memcpy(&x, l->bytes, 4);
        u = x;
        break;
      }
      case MX_UINT64:
        memcpy(&u, l->bytes, 8);
        break;
      case MX_INT8: {
        int8_t x;
        memcpy(&x, l->bytes, 1);
        s = x;
        u = (uint64_t)s;
        break;
      }
      case MX_INT16: {
        int16_t x;
        memcpy(&x, l->bytes, 2);
        s = x;
        u = (uint64_t)s;
        break;
      }
      case MX_INT32: {
        int32_t x;
        memcpy(&x, l->bytes, 4);
        s = x;
        u = (uint64_t)s;
        break;
      }
      case MX_INT64:
        memcpy(&u, l->bytes, 8);
        break;
      default:
        break;
    }
    sb_printf(b, "(%s)0x%llxull", C, (unsigned long long)u);
  }
  sb_printf(b, ";\n");
}

static void load(sb *b, mx_dtype t, int k, const char *idx) {
  if (t == MX_FLOAT16)
    sb_printf(b, "mx_h2f(i%d[%s])", k, idx);
  else if (t == MX_BFLOAT16)
    sb_printf(b, "mx_b2f(i%d[%s])", k, idx);
  else
    sb_printf(b, "i%d[%s]", k, idx);
}

static void store(sb *b, mx_dtype t, int o, const char *idx, int op) {
  if (t == MX_FLOAT16)
    sb_printf(b, "      o%d[%s] = mx_f2h(v%d);\n", o, idx, op);
  else if (t == MX_BFLOAT16)
    sb_printf(b, "      o%d[%s] = mx_f2b(v%d);\n", o, idx, op);
  else
    sb_printf(b, "      o%d[%s] = v%d;\n", o, idx, op);
}

/* The function of region r named NAME_TOKEN (replaced by the real name). */
#define NAME_TOKEN "@NAME@"
static void gen_kernel(sb *b, const mx_fused_region *r, bool poly) {
  sb_printf(b, "void " NAME_TOKEN "(int64_t n, char *const *p, const int64_t *s) {\n");
  for (int k = 0; k < r->nin; k++)
    sb_printf(b, "  const %s *restrict i%d = (const %s *)(const void *)p[%d];\n",
              stype(r->in_dtypes[k]), k, stype(r->in_dtypes[k]), k);
  for (int o = 0; o < r->nout; o++)
    sb_printf(b, "  %s *restrict o%d = (%s *)(void *)p[%d];\n", stype(r->out_dtypes[o]),
              o, stype(r->out_dtypes[o]), r->nin + o);
  for (int l = 0; l < r->nlits; l++) emit_literal(b, &r->lits[l], l);
  /* contiguous: unit strides; one-element inputs broadcast (stride 0) */
  sb_printf(b, "  if (1");
  for (int k = 0; k < r->nin; k++)
    sb_printf(b, " && s[%d] == %d", k, r->in_scalar[k] ? 0 : 1);
  for (int o = 0; o < r->nout; o++) sb_printf(b, " && s[%d] == 1", r->nin + o);
  sb_printf(b, ") {\n");
  for (int k = 0; k < r->nin; k++)
    if (r->in_scalar[k]) {
      sb_printf(b, "    const %s a%d = ", ctype(r->in_dtypes[k]), k);
      load(b, r->in_dtypes[k], k, "0");
      sb_printf(b, ";\n");
    }
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) {
      sb_printf(b, "  } else {\n");
      for (int k = 0; k < r->nin + r->nout; k++)
        sb_printf(b, "    const int64_t s%d = s[%d];\n", k, k);
    }
    sb_printf(b, "    for (int64_t j = 0; j < n; j++) {\n");
    for (int k = 0; k < r->nin; k++) {
      if (pass == 0 && r->in_scalar[k]) continue;
      char idx[32];
      snprintf(idx, sizeof idx, pass == 0 ? "j" : "j * s%d", k);
      sb_printf(b, "      const %s a%d = ", ctype(r->in_dtypes[k]), k);
      load(b, r->in_dtypes[k], k, idx);
      sb_printf(b, ";\n");
    }
    for (int j = 0; j < r->nops; j++) emit_op(b, &r->ops[j], j, poly);
    for (int o = 0; o < r->nout; o++) {
      char idx[32];
      snprintf(idx, sizeof idx, pass == 0 ? "j" : "j * s%d", r->nin + o);
      store(b, r->out_dtypes[o], o, idx, r->out_ops[o]);
    }
    sb_printf(b, "    }\n");
  }
  sb_printf(b, "  }\n}\n");
}

/* ---- hashing ---- */
static uint64_t fnv(const char *s, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
#define FNV_A 0xcbf29ce484222325ull
#define FNV_B 0x84222325cbf29ce4ull

/* ---- process state ---- */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
typedef struct {
  char name[40];
  mx_fused_fn fn;
} kentry;
static kentry *g_kernels;
static int g_nkernels, g_kcap;
static char g_bad_cc[256] = "\x01"; /* a compiler that could not be run */
static mx_fused_region *g_queue;    /* kernels to build */
static atomic_int g_notice;
static _Atomic int64_t g_runs;

int64_t mx_fuse_compiler_runs(void) { return atomic_load(&g_runs); }

static kentry *lookup(const char *name) {
  for (int i = 0; i < g_nkernels; i++)
    if (strcmp(g_kernels[i].name, name) == 0) return &g_kernels[i];
  return NULL;
}

static bool remember(const char *name, mx_fused_fn fn) {
  if (g_nkernels == g_kcap) {
    int nc = g_kcap ? 2 * g_kcap : 32;
    kentry *nk = realloc(g_kernels, sizeof *nk * (size_t)nc);
    if (!nk) return false;
    g_kernels = nk;
    g_kcap = nc;
  }
  snprintf(g_kernels[g_nkernels].name, sizeof g_kernels[0].name, "%s", name);
  g_kernels[g_nkernels++].fn = fn;
  return true;
}

static const char *compiler(void) {
  const char *c = getenv("MX_CC");
  if (!c || !*c) c = getenv("CC");
  return c && *c ? c : "cc";
}

static const char *const k_flags[] = {
    "-O3",   "-fno-math-errno", "-ffp-contract=off", "-march=native",
    "-fPIC", "-shared",         "-std=gnu17",        "-w"};
#define NFLAGS ((int)(sizeof k_flags / sizeof k_flags[0]))

/* What else decides the machine code: the CPU (-march=native). */
static uint64_t cpu_id(void) {
  static uint64_t id;
  static bool done;
  if (done) return id;
  id = FNV_A;
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[4096];
    int got = 0;
    while (got < 2 && fgets(line, sizeof line, f))
      if (strncmp(line, "model name", 10) == 0 || strncmp(line, "flags", 5) == 0 ||
          strncmp(line, "Features", 8) == 0) {
        id = fnv(line, strlen(line), id);
        got++;
      }
    fclose(f);
  }
  done = true;
  return id;
}

static bool mkdir_p(const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return false;
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return false;
      *p = '/';
    }
  return mkdir(tmp, 0700) == 0 || errno == EEXIST;
}

static bool cache_dir(char *out, size_t n) {
  const char *e = getenv("MX_COMPILE_CACHE");
  int m;
  if (e && *e)
    m = snprintf(out, n, "%s", e);
  else if ((e = getenv("XDG_CACHE_HOME")) && *e)
    m = snprintf(out, n, "%s/mx", e);
  else if ((e = getenv("HOME")) && *e)
    m = snprintf(out, n, "%s/.cache/mx", e);
  else
    m = snprintf(out, n, "/tmp/mx-cache-%u", (unsigned)getuid());
  if (m <= 0 || (size_t)m >= n || !mkdir_p(out)) return false;
  /* libraries found here get loaded: only from a directory that is ours and
   * that nobody else can write to */
  struct stat st;
  return stat(out, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
         !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static bool write_file(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "w");
  if (!f) return false;
  bool ok = fwrite(data, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

/* Runs the compiler; 0 on success, -1 if it could not be started, else its
 * status. The first line of its output goes to err. */
static int run_compiler(const char *src, const char *so, const char *log, char *err,
                        size_t nerr) {
  const char *argv[NFLAGS + 5];
  int a = 0;
  argv[a++] = compiler();
  for (int i = 0; i < NFLAGS; i++) argv[a++] = k_flags[i];
  argv[a++] = "-o";
  argv[a++] = so;
  argv[a++] = src;
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  atomic_fetch_add(&g_runs, 1);
  if (e != 0) {
    snprintf(err, nerr, "cannot run %s: %s", argv[0], strerror(e));
    return -1;
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      snprintf(err, nerr, "waitpid: %s", strerror(errno));
      return -1;
    }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  err[0] = 0;
  FILE *f = fopen(log, "r");
  if (f) {
    if (!fgets(err, (int)nerr, f)) err[0] = 0;
    fclose(f);
    err[strcspn(err, "\n")] = 0;
  }
  if (!err[0]) snprintf(err, nerr, "%s exited with status %d", argv[0], code);
  return code == 127 ? -1 : code; /* 127: the shell's "not found" */
}

/* Builds `source` into dir/<file>.so (unless it is there and loads) and
 * dlopens it. */
static void *build_and_load(const char *dir, const char *file, const char *source,
                            char *err, size_t nerr, bool *no_compiler) {
  char so[4200];
  snprintf(so, sizeof so, "%s/%s.so", dir, file);
  void *h = access(so, R_OK) == 0 ? dlopen(so, RTLD_NOW | RTLD_LOCAL) : NULL;
  if (h) return h;
  char tdir[4200], csrc[4300], tso[4300], log[4300];
  snprintf(tdir, sizeof tdir, "%s/tmp-XXXXXX", dir);
  if (!mkdtemp(tdir)) {
    snprintf(err, nerr, "cannot create a directory in %s: %s", dir, strerror(errno));
    return NULL;
  }
  snprintf(csrc, sizeof csrc, "%s/k.c", tdir);
  snprintf(tso, sizeof tso, "%s/k.so", tdir);
  snprintf(log, sizeof log, "%s/k.log", tdir);
  if (!write_file(csrc, source, strlen(source))) {
    snprintf(err, nerr, "cannot write %s", csrc);
  } else {
    int rc = run_compiler(csrc, tso, log, err, nerr);
    if (rc < 0) *no_compiler = true;
    const char *keep = getenv("MX_COMPILE_SOURCE"); /* debugging: keep <hash>.c */
    if (rc == 0 && keep && *keep && strcmp(keep, "0") != 0) {
      char kept[4200];
      snprintf(kept, sizeof kept, "%s/%s.c", dir, file);
      if (rename(csrc, kept) != 0) unlink(csrc);
    }
    /* rename is atomic: other processes see the old file or the whole new one */
    if (rc == 0 && rename(tso, so) != 0)
      snprintf(err, nerr, "cannot rename into %s: %s", so, strerror(errno));
    else if (rc == 0 && !(h = dlopen(so, RTLD_NOW | RTLD_LOCAL)))
      snprintf(err, nerr, "dlopen: %s", dlerror());
  }
  unlink(csrc);
  unlink(tso);
  unlink(log);
  rmdir(tdir);
  return h;
}

static bool disabled(void) {
  const char *d = getenv("MX_COMPILE_DISABLE");
  return d && *d && strcmp(d, "0") != 0;
}

int mx_fuse_cpu_prepare(mx_fused_region *r) {
  if (disabled()) {
    mx_compile_notice_once(&g_notice,
                           "[compile] MX_COMPILE_DISABLE is set: compiled functions run "
                           "unfused");
    return 0;
  }
  sb body = {0};
  gen_kernel(&body, r, mx_simd_level() > MX_SIMD_NONE);
  if (body.oom) {
    free(body.s);
    return -1;
  }
  uint64_t pre = fnv(k_preamble, sizeof k_preamble - 1, FNV_A);
  snprintf(r->name, sizeof r->name, "mxk_%016llx",
           (unsigned long long)fnv(body.s, body.n, pre));
  /* the body with its name */
  char *at = strstr(body.s, NAME_TOKEN);
  sb src = {0};
  sb_printf(&src, "%.*s%s%s", (int)(at - body.s), body.s, r->name,
            at + strlen(NAME_TOKEN));
  free(body.s);
  if (src.oom) {
    free(src.s);
    return -1;
  }
  r->src = src.s;
  int ret = 1;
  pthread_mutex_lock(&g_mu);
  kentry *k = lookup(r->name);
  if (k && k->fn) {
    atomic_store(&r->fn, k->fn);
    atomic_store(&r->state, MX_FR_READY);
  } else if (k || strcmp(g_bad_cc, compiler()) == 0) {
    ret = 0; /* failed to build before, or no compiler */
  } else {
    atomic_store(&r->state, MX_FR_PENDING);
    r->next = g_queue;
    r->queued = true;
    g_queue = r; /* weak: mx_fuse_cpu_unref unqueues a region that dies */
  }
  pthread_mutex_unlock(&g_mu);
  return ret;
}

bool mx_fuse_cpu_unref(mx_fused_region *r) {
  pthread_mutex_lock(&g_mu);
  bool last = atomic_fetch_sub(&r->refs, 1) == 1;
  if (last && r->queued) {
    for (mx_fused_region **p = &g_queue; *p; p = &(*p)->next)
      if (*p == r) {
        *p = r->next;
        break;
      }
    r->queued = false;
  }
  pthread_mutex_unlock(&g_mu);
  return last;
}

void mx_fuse_cpu_build_queued(void) {
  pthread_mutex_lock(&g_mu);
  int n = 0;
  for (mx_fused_region *r = g_queue; r; r = r->next) n++;
  mx_fused_region **rs = malloc(sizeof *rs * (size_t)(n ? n : 1));
  if (!rs || n == 0) {
    pthread_mutex_unlock(&g_mu);
    free(rs);
    return;
  }
  /* take the queue; regions in it are alive (a dying one unqueues itself
   * under this lock before it is freed) */
  n = 0;
  for (mx_fused_region *r = g_queue; r; r = r->next) {
    rs[n++] = mx_fused_region_retain(r);
    r->queued = false;
  }
  g_queue = NULL;
  bool off = disabled(); /* switched off since these were traced */
  sb file = {0};
  sb_printf(&file, "%s", k_preamble);
  int nnew = 0;
  const char **names = malloc(sizeof *names * (size_t)n);
  for (int i = 0; i < n && names; i++) {
    if (lookup(rs[i]->name)) continue;
    bool dup = false;
    for (int j = 0; j < nnew; j++) dup |= strcmp(names[j], rs[i]->name) == 0;
    if (dup) continue;
    names[nnew++] = rs[i]->name;
    sb_printf(&file, "\n%s", rs[i]->src);
  }
  if (names && !file.oom && nnew > 0 && !off) {
    char dir[4096], err[512] = "", fname[64];
    uint64_t h1 = FNV_A, h2 = FNV_B;
    for (int i = 0; i < NFLAGS; i++) {
      h1 = fnv(k_flags[i], strlen(k_flags[i]), h1);
      h2 = fnv(k_flags[i], strlen(k_flags[i]), h2);
    }
    const char *cc = compiler();
    uint64_t cpu = cpu_id();
    h1 = fnv(cc, strlen(cc), fnv((const char *)&cpu, sizeof cpu, h1));
    h2 = fnv(cc, strlen(cc), fnv((const char *)&cpu, sizeof cpu, h2));
    h1 = fnv(file.s, file.n, h1);
    h2 = fnv(file.s, file.n, h2);
    snprintf(fname, sizeof fname, "fused-%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
    bool nocc = false;
    void *lib = NULL;
    if (!cache_dir(dir, sizeof dir))
      snprintf(
          err, sizeof err,
          "no usable cache directory %s (it must be ours and not writable by others)",
          dir);
    else
      lib = build_and_load(dir, fname, file.s, err, sizeof err, &nocc);
    for (int j = 0; j < nnew; j++) {
      mx_fused_fn fn = NULL;
      void *sym = lib ? dlsym(lib, names[j]) : NULL;
      memcpy(&fn, &sym, sizeof fn); /* object -> function pointer */
      if (lib && !fn)
        snprintf(err, sizeof err, "kernel %s missing from the library", names[j]);
      remember(names[j], fn); /* a NULL entry: failed, not retried */
    }
    if (!lib) {
      if (nocc) snprintf(g_bad_cc, sizeof g_bad_cc, "%s", cc);
      char msg[700];
      snprintf(
          msg, sizeof msg,
          "[compile] cannot build fused kernels (%s): compiled functions run unfused",
          err);
      mx_compile_notice_once(&g_notice, msg);
    }
  }
  for (int i = 0; i < n; i++) {
    kentry *k = lookup(rs[i]->name);
    if (k && k->fn) {
      atomic_store(&rs[i]->fn, k->fn);
      atomic_store(&rs[i]->state, MX_FR_READY);
    } else {
      atomic_store(&rs[i]->state, MX_FR_FAILED);
    }
  }
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < n; i++) mx_fused_region_release(rs[i]);
  free(names);
  free(rs);
  free(file.s);
}

/* ---- the kernel of `compiled` ---- */
#define MAX_OPS 64

typedef struct {
  mx_fused_fn fn;
  int nops, ndim;
  int64_t shape[MX_MAX_NDIM];
  int64_t st[MAX_OPS][MX_MAX_NDIM]; /* elements */
  char *base[MAX_OPS];
  int64_t esize[MAX_OPS];
} frun;

/* Rows [b, e) of the merged iteration space (all but the last axis). */
static void run_rows(void *ctx, int64_t b, int64_t e) {
  const frun *f = ctx;
  int nd = f->ndim, no = f->nops;
  char *p[MAX_OPS];
  int64_t s[MAX_OPS];
  for (int k = 0; k < no; k++) s[k] = f->st[k][nd - 1];
  for (int64_t row = b; row < e; row++) {
    int64_t r = row;
    for (int k = 0; k < no; k++) p[k] = f->base[k];
    for (int d = nd - 2; d >= 0; d--) {
      int64_t i = r % f->shape[d];
      r /= f->shape[d];
      for (int k = 0; k < no; k++) p[k] += i * f->st[k][d] * f->esize[k];
    }
    f->fn(f->shape[nd - 1], p, s);
  }
}

/* Elements [b, e) of a single run. */
static void run_flat(void *ctx, int64_t b, int64_t e) {
  const frun *f = ctx;
  char *p[MAX_OPS];
  int64_t s[MAX_OPS];
  for (int k = 0; k < f->nops; k++) {
    s[k] = f->st[k][0];
    p[k] = f->base[k] + b * s[k] * f->esize[k];
  }
  f->fn(e - b, p, s);
}

/* Without a kernel: the region's unfused graph on the same inputs. */
static mx_status eval_unfused(const mx_fused_region *r, mx_array **in, mx_array **out) {
  mx_array **res = calloc((size_t)r->nout, sizeof *res);
  if (!res) return mx_set_error(MX_ERR_NOMEM, "[compiled] out of memory");
  mx_scope_begin();
  mx_status rc = mx_cg_replay(r->sub, in + 1, true, res);
  if (rc == MX_OK) rc = mx_eval(res, r->nout);
  for (int o = 0; o < r->nout && rc == MX_OK; o++)
    mx_array_set_view(out[o], res[o], res[o]->strides, res[o]->offset);
  mx_scope_end();
  free(res);
  return rc;
}

mx_status mx_cpu_compiled(mx_node *nd, mx_array **in, mx_array **out) {
  const mx_compiled_params *pp = nd->params;
  mx_fused_region *r = pp->region;
  if (!r || nd->nin != r->nin + 1 || nd->nout != r->nout || r->nin + r->nout > MAX_OPS)
    return mx_set_error(MX_ERR_INVALID, "[compiled] operand count mismatch");
  if (atomic_load(&r->state) == MX_FR_PENDING) mx_fuse_cpu_build_queued();
  mx_fused_fn fn = atomic_load(&r->fn);
  if (!fn) return eval_unfused(r, in, out);
  for (int k = 0; k < r->nin; k++)
    if (in[1 + k]->dtype != r->in_dtypes[k])
      return mx_set_error(
          MX_ERR_INVALID, "[compiled] input %d is %s, the kernel takes %s", k,
          mx_dtype_name(in[1 + k]->dtype), mx_dtype_name(r->in_dtypes[k]));
  for (int o = 0; o < r->nout; o++) {
    mx_status rc = mx_array_alloc(out[o]);
    if (rc != MX_OK) return rc;
  }
  const mx_array *o0 = out[0];
  if (o0->size == 0) return MX_OK;
  frun *f = malloc(sizeof *f);
  if (!f) return mx_set_error(MX_ERR_NOMEM, "[compiled] out of memory");
  f->fn = fn;
  f->nops = r->nin + r->nout;
  int64_t full[MAX_OPS][MX_MAX_NDIM];
  for (int k = 0; k < f->nops; k++) {
    const mx_array *a = k < r->nin ? in[1 + k] : out[k - r->nin];
    if (k < r->nin)
      mx_broadcast_strides(a, o0->shape, o0->ndim, full[k]);
    else
      memcpy(full[k], a->strides, sizeof(int64_t) * (size_t)a->ndim);
    f->base[k] = mx_array_ptr(a);
    f->esize[k] = (int64_t)mx_dtype_size(a->dtype);
  }
  /* drop size-1 axes, merge axes contiguous in every operand */
  int n = 0;
  for (int d = 0; d < o0->ndim; d++) {
    if (o0->shape[d] == 1) continue;
    if (n > 0) {
      bool merge = true;
      for (int k = 0; k < f->nops && merge; k++)
        merge = f->st[k][n - 1] == full[k][d] * o0->shape[d];
      if (merge) {
        f->shape[n - 1] *= o0->shape[d];
        for (int k = 0; k < f->nops; k++) f->st[k][n - 1] = full[k][d];
        continue;
      }
    }
    f->shape[n] = o0->shape[d];
    for (int k = 0; k < f->nops; k++) f->st[k][n] = full[k][d];
    n++;
  }
  if (n == 0) {
    f->shape[0] = 1;
    for (int k = 0; k < f->nops; k++) f->st[k][0] = 0;
    n = 1;
  }
  f->ndim = n;
  const int64_t grain = 1 << 13;
  int64_t inner = f->shape[n - 1];
  if (n == 1) {
    mx_parallel_for(inner, grain, run_flat, f);
  } else {
    int64_t rows = o0->size / inner;
    mx_parallel_for(rows, inner >= grain ? 1 : grain / inner, run_rows, f);
  }
  free(f);
  return MX_OK;
}
