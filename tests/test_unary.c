/* test_unary.c: elementwise unary ops against float64 references written
 * here (libm in double, double complex for complex64), numpy for round's
 * decimals, for every dtype each op takes, on contiguous, transposed,
 * negative-step, 0-d, empty and large inputs, at every SIMD level the CPU
 * has; special values (NaN, +-inf, +-0, subnormals, overflow) and bad
 * inputs. Tolerances: see ew_check.h. */
#include "ew_check.h"

#include "backend/cpu/simd.h"

/* MLX's rules written out (not taken from the library): math ops compute
 * in at least float32. */
static mx_dtype math_dtype(mx_dtype t) {
  return t == MX_FLOAT16 || t == MX_BFLOAT16 || t == MX_FLOAT32 || t == MX_FLOAT64 ||
                 t == MX_COMPLEX64
             ? t
             : MX_FLOAT32;
}

static double r_rsqrt(double x) { return 1 / sqrt(x); }
static double r_recip(double x) { return 1 / x; }
static double r_sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* erfinv by bisection on erf (or on erfc above 0.5, where 1 - |y| is
 * exact): a different method from the library's. */
static double r_erfinv(double y) {
  if (isnan(y) || y < -1 || y > 1) return NAN;
  if (y == 1 || y == -1) return y * INFINITY;
  double a = fabs(y), lo = 0, hi = 10;
  if (a < 1e-4) /* Maclaurin series; the next term is < 1e-23 relative */
    return y * 0.88622692545275801 *
           (1 + y * y * (0.26179938779914941 + y * y * 0.14393173084921979));
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    double g = a <= 0.5 ? erf(mid) - a : (1 - a) - erfc(mid);
    if (g < 0)
      lo = mid;
    else
      hi = mid;
  }
  return copysign(0.5 * (lo + hi), y);
}

typedef struct {
  const char *name;
  mx_array *(*fn)(mx_array *);
  double (*ref)(double);
  double lo, hi;                          /* input range */
  double kf32, kf64;                      /* tolerance in half ulps */
  double complex (*cref)(double complex); /* NULL: complex64 rejected */
} math_op;

static double complex c_rsqrt(double complex z) { return 1 / csqrt(z); }
static double complex c_recip(double complex z) { return 1 / z; }
static double complex c_log2(double complex z) { return clog(z) / log(2.0); }
static double complex c_log10(double complex z) { return clog(z) / log(10.0); }
static double complex c_log1p(double complex z) { return clog(1 + z); }

static const math_op k_math[] = {
    {"exp", mx_exp, exp, -10, 10, 8, 4, cexp},
    {"expm1", mx_expm1, expm1, -5, 5, 8, 4, NULL},
    {"log", mx_log, log, 0.01, 100, 8, 4, clog},
    {"log1p", mx_log1p, log1p, -0.9, 100, 8, 4, c_log1p},
    {"log2", mx_log2, log2, 0.01, 100, 8, 4, c_log2},
    {"log10", mx_log10, log10, 0.01, 100, 8, 4, c_log10},
    {"sqrt", mx_sqrt, sqrt, 0, 100, 1, 1, csqrt},
    {"rsqrt", mx_rsqrt, r_rsqrt, 0.01, 100, 4, 4, c_rsqrt},
    {"reciprocal", mx_reciprocal, r_recip, -10, 10, 1, 1, c_recip},
    {"sin", mx_sin, sin, -10, 10, 8, 4, csin},
    {"cos", mx_cos, cos, -10, 10, 8, 4, ccos},
    {"tan", mx_tan, tan, -1.4, 1.4, 8, 4, ctan},
    {"arcsin", mx_arcsin, asin, -1, 1, 8, 4, casin},
    {"arccos", mx_arccos, acos, -1, 1, 8, 4, cacos},
    {"arctan", mx_arctan, atan, -10, 10, 8, 4, catan},
    {"sinh", mx_sinh, sinh, -5, 5, 8, 4, csinh},
    {"cosh", mx_cosh, cosh, -5, 5, 8, 4, ccosh},
    {"tanh", mx_tanh, tanh, -5, 5, 8, 4, ctanh},
    {"arcsinh", mx_arcsinh, asinh, -10, 10, 8, 4, casinh},
    {"arccosh", mx_arccosh, acosh, 1, 10, 8, 4, cacosh},
    {"arctanh", mx_arctanh, atanh, -0.99, 0.99, 8, 4, catanh},
    {"erf", mx_erf, erf, -3, 3, 8, 4, NULL},
    /* float32: the vector kernel is MLX's Giles/Juffa formula (~2.4 ulp) */
    {"erfinv", mx_erfinv, r_erfinv, -1, 1, 8, 64, NULL},
    {"sigmoid", mx_sigmoid, r_sigmoid, -20, 20, 8, 4, NULL},
};
#define N_MATH ((int)(sizeof k_math / sizeof k_math[0]))

/* op on a, with a's values read back as float64 for the reference */
static void run_math(const math_op *m, mx_dtype t, ew_layout L) {
  char what[160];
  snprintf(what, sizeof what, "%s %s %s", m->name, mx_dtype_name(t), ew_layout_name[L]);
  double lo = m->lo, hi = m->hi;
  if (mx_dtype_kind_of(t) == MX_KIND_UNSIGNED && lo < 0) lo = 0;
  mx_array *a = ew_make(L, t, lo, hi);
  mx_array *r = m->fn(a);
  MXT_OK(r);
  if (!r) return;
  MXT_CHECK(mx_array_dtype(r) == math_dtype(t), "%s: dtype %s", what,
            mx_dtype_name(mx_array_dtype(r)));
  MXT_CHECK(mx_array_ndim(r) == mx_array_ndim(a) &&
                memcmp(mx_array_shape(r), mx_array_shape(a),
                       sizeof(int) * (size_t)mx_array_ndim(a)) == 0,
            "%s: shape", what);
  int64_t n = mx_array_size(a);
  double *x = mxt_to_f64(a);
  double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
  for (int64_t i = 0; i < n; i++) ref[i] = m->ref(x[i]);
  ew_check(r, ref, n, m->kf32, m->kf64, what);
  free(x);
  free(ref);
}

static void test_math_ops(void) {
  for (int k = 0; k < N_MATH; k++)
    for (int d = 0; d < EW_NDTYPES; d++) {
      mx_dtype t = ew_all_dtypes[d];
      if (t == MX_COMPLEX64) continue; /* test_complex */
      for (int L = 0; L < L_COUNT; L++) {
        if (L == L_LARGE && !ew_is_half(t) && t != MX_FLOAT32) continue;
        mx_scope_begin();
        run_math(&k_math[k], t, (ew_layout)L);
        mx_scope_end();
      }
    }
}

/* Float inputs that stress edges: NaN, infinities, signed zeros,
 * subnormals, halfway cases for round, values that overflow or underflow
 * exp in every float dtype. */
static const double k_special[] = {
    NAN,    INFINITY, -INFINITY, 0.0,   -0.0,   1.0,   -1.0,    0.5,    -0.5,
    2.5,    -2.5,     3.5,       1e-3,  -1e-3,  100.0, -100.0,  88.5,   -88.5,
    -103.5, 89.5,     1e30,      -1e30, 1e-30,  1e-40, -1e-40,  0.9999, -0.9999,
    1e-7,   12.0,     -12.0,     700.0, -745.0, 6e-8,  65504.0, 70000.0};
#define N_SPECIAL ((int)(sizeof k_special / sizeof k_special[0]))

static mx_array *specials(mx_dtype t) {
  int n = N_SPECIAL;
  return mx_astype(mx_array_from_data(k_special, &n, 1, MX_FLOAT64), t);
}

static void test_special_values(void) {
  const mx_dtype fl[] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_simd_set_level(level);
    for (int d = 0; d < 4; d++)
      for (int k = 0; k < N_MATH; k++) {
        mx_scope_begin();
        mx_array *a = specials(fl[d]);
        double *x = mxt_to_f64(a);
        double ref[N_SPECIAL];
        for (int i = 0; i < N_SPECIAL; i++) ref[i] = k_math[k].ref(x[i]);
        char what[128];
        snprintf(what, sizeof what, "%s specials (simd %s)", k_math[k].name,
                 mx_simd_name(level));
        ew_check(k_math[k].fn(a), ref, N_SPECIAL, k_math[k].kf32, k_math[k].kf64, what);
        free(x);
        mx_scope_end();
      }
  }
  mx_simd_set_level(99);
}

/* ---- ops that keep the dtype ---- */

typedef struct {
  const char *name;
  mx_array *(*fn)(mx_array *);
  double (*ref)(double);    /* floats */
  int64_t (*iref)(int64_t); /* integers, before wrapping */
  double lo, hi;
} keep_op;

static double r_sign(double x) {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
} /* MLX: sign(NaN) = 0 */
static double r_neg(double x) { return -x; }
static double r_square(double x) { return x * x; }
static int64_t i_abs(int64_t x) { return x < 0 ? -x : x; }
static int64_t i_neg(int64_t x) { return -x; }
static int64_t i_sign(int64_t x) { return (x > 0) - (x < 0); }
static int64_t i_square(int64_t x) { return x * x; }
static int64_t i_id(int64_t x) { return x; }
static mx_array *round0(mx_array *a) { return mx_round(a, 0); }

static const keep_op k_keep[] = {
    {"abs", mx_abs, fabs, i_abs, -50, 50},
    {"negative", mx_negative, r_neg, i_neg, -50, 50},
    {"sign", mx_sign, r_sign, i_sign, -3, 3},
    {"square", mx_square, r_square, i_square, -11, 11},
    {"floor", mx_floor, floor, i_id, -50, 50},
    {"ceil", mx_ceil, ceil, i_id, -50, 50},
    {"round", round0, nearbyint, i_id, -50, 50},
};

static void test_keep_dtype_ops(void) {
  for (int k = 0; k < (int)(sizeof k_keep / sizeof k_keep[0]); k++)
    for (int d = 0; d < EW_NDTYPES; d++) {
      mx_dtype t = ew_all_dtypes[d];
      if (t == MX_COMPLEX64) continue;
      if (t == MX_BOOL && k_keep[k].fn == mx_negative) continue; /* error */
      for (int L = 0; L < L_COUNT; L++) {
        if (L == L_LARGE && !mx_dtype_is_floating(t)) continue;
        mx_scope_begin();
        char what[128];
        snprintf(what, sizeof what, "%s %s %s", k_keep[k].name, mx_dtype_name(t),
                 ew_layout_name[L]);
        double lo = k_keep[k].lo, hi = k_keep[k].hi;
        if (!mx_dtype_is_floating(t) && mx_dtype_kind_of(t) != MX_KIND_SIGNED) lo = 0;
        mx_array *a = ew_make((ew_layout)L, t, lo, hi);
        mx_array *r = k_keep[k].fn(a);
        MXT_OK(r);
        if (r) {
          MXT_CHECK(mx_array_dtype(r) == t, "%s: dtype %s", what,
                    mx_dtype_name(mx_array_dtype(r)));
          int64_t n = mx_array_size(a);
          double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
          if (mx_dtype_is_floating(t)) {
            double *x = mxt_to_f64(a);
            for (int64_t i = 0; i < n; i++) ref[i] = k_keep[k].ref(x[i]);
            free(x);
          } else {
            int64_t *x = ew_read_i64(a);
            for (int64_t i = 0; i < n; i++)
              ref[i] = (double)ew_wrap(k_keep[k].iref(x[i]), t);
            free(x);
          }
          ew_check(r, ref, n, 1, 1, what);
          free(ref);
        }
        mx_scope_end();
      }
    }
}

/* Two's complement wrap-around at the edges of integer types. */
static void test_integer_edges(void) {
  int8_t i8[4] = {-128, 127, -1, 0};
  int n = 4;
  mx_array *a = mx_array_from_data(i8, &n, 1, MX_INT8);
  int8_t out[4];
  mx_array_read(mx_abs(a), MX_INT8, out, 4);
  MXT_CHECK(out[0] == -128 && out[1] == 127 && out[2] == 1, "abs(int8 min) wraps");
  mx_array_read(mx_negative(a), MX_INT8, out, 4);
  MXT_CHECK(out[0] == -128 && out[1] == -127 && out[2] == 1, "negative wraps");
  mx_array_read(mx_square(a), MX_INT8, out, 4);
  MXT_CHECK(out[0] == 0 && out[1] == 1 && out[2] == 1, "square wraps mod 256");
  uint32_t u[3] = {0, 1, 0xffffffffu};
  n = 3;
  mx_array *b = mx_array_from_data(u, &n, 1, MX_UINT32);
  uint32_t uo[3];
  mx_array_read(mx_negative(b), MX_UINT32, uo, sizeof uo);
  MXT_CHECK(uo[0] == 0 && uo[1] == 0xffffffffu && uo[2] == 1, "uint negative wraps");
  mx_array_read(mx_sign(b), MX_UINT32, uo, sizeof uo);
  MXT_CHECK(uo[0] == 0 && uo[1] == 1 && uo[2] == 1, "uint sign");
  int64_t big[2] = {INT64_MIN, INT64_MAX};
  n = 2;
  mx_array *c = mx_array_from_data(big, &n, 1, MX_INT64);
  int64_t bo[2];
  mx_array_read(mx_negative(c), MX_INT64, bo, sizeof bo);
  MXT_CHECK(bo[0] == INT64_MIN && bo[1] == -INT64_MAX, "int64 negative");
  mx_array_read(mx_bitwise_invert(c), MX_INT64, bo, sizeof bo);
  MXT_CHECK(bo[0] == INT64_MAX && bo[1] == INT64_MIN, "int64 invert");
}

/* ---- round with decimals: numpy is the oracle ---- */
static void test_round_decimals(void) {
  const int decs[] = {0, 1, 2, 3, -1, -2};
  const mx_dtype ts[] = {MX_FLOAT32, MX_FLOAT64, MX_INT32, MX_INT64, MX_INT16};
  int shape[2] = {6, 50};
  for (int d = 0; d < 5; d++) {
    mx_scope_begin();
    mx_dtype t = ts[d];
    mx_array *x = mx_dtype_is_floating(t) ? mxt_rand(shape, 2, t, -500, 500)
                                          : mxt_rand(shape, 2, t, -5000, 5000);
    const char *npt = t == MX_FLOAT32   ? "float32"
                      : t == MX_FLOAT64 ? "float64"
                      : t == MX_INT32   ? "int32"
                      : t == MX_INT64   ? "int64"
                                        : "int16";
    for (int k = 0; k < 6; k++) {
      char code[256];
      /* floats: numpy in float64 on the same values. mx rounds the exact
       * x * 10^d (numpy and MLX scale float32 in float32, which can move
       * a value across a tie); integers in their own dtype. */
      snprintf(code, sizeof code,
               "R['r'] = np.round(A['x'].astype(np.%s), %d).astype(np.float64)",
               mx_dtype_is_floating(t) ? "float64" : npt, decs[k]);
      mxt_named in[1] = {{"x", x}};
      double *ref = NULL;
      int64_t nref = 0;
      if (!mxt_numpy(code, in, 1, "r", &ref, &nref)) break;
      char what[96];
      snprintf(what, sizeof what, "round(%s, %d)", mx_dtype_name(t), decs[k]);
      mx_array *r = mx_round(x, decs[k]);
      MXT_CHECK(r && mx_array_dtype(r) == t, "%s dtype", what);
      ew_check(r, ref, nref, 1, 1, what);
      free(ref);
    }
    mx_scope_end();
  }
  /* halves go to even, at every SIMD level and decimals */
  const double v[8] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 4.5};
  const double want0[8] = {0, 2, 2, -0.0, -2, -2, 4, 4};
  int n = 8;
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_simd_set_level(level);
    mx_array *a = mx_astype(mx_array_from_data(v, &n, 1, MX_FLOAT64), MX_FLOAT32);
    double got[8];
    mx_array_read(mx_round(a, 0), MX_FLOAT64, got, sizeof got);
    for (int i = 0; i < 8; i++)
      MXT_CHECK(got[i] == want0[i], "round(%g) = %g (simd %d)", v[i], got[i], level);
  }
  mx_simd_set_level(99);
  /* exact binary ties: 12.5 -> 12, 37.5 -> 38 */
  const double v2[4] = {0.125, 0.375, 0.625, -0.125};
  const double want2[4] = {0.12, 0.38, 0.62, -0.12};
  n = 4;
  double got[4];
  mx_array_read(mx_round(mx_array_from_data(v2, &n, 1, MX_FLOAT64), 2), MX_FLOAT64, got,
                sizeof got);
  for (int i = 0; i < 4; i++)
    MXT_CHECK(fabs(got[i] - want2[i]) < 1e-12, "round(%g, 2) = %.17g", v2[i], got[i]);
  int32_t iv[5] = {15, 25, -15, 149, 150};
  const int32_t iw[5] = {20, 20, -20, 100, 200};
  n = 5;
  int32_t io[5];
  mx_array_read(mx_round(mx_array_from_data(iv, &n, 1, MX_INT32), -1), MX_INT32, io,
                sizeof io);
  for (int i = 0; i < 2; i++)
    MXT_CHECK(io[i] == iw[i], "round(%d, -1) = %d", iv[i], io[i]);
  MXT_CHECK(io[2] == -20, "round(-15, -1) = %d", io[2]);
  mx_array_read(mx_round(mx_array_from_data(iv, &n, 1, MX_INT32), -2), MX_INT32, io,
                sizeof io);
  MXT_CHECK(io[3] == 100 && io[4] == 200, "round to hundreds: %d %d", io[3], io[4]);
  /* integers round to >= 0 decimals unchanged */
  mx_array *ia = mx_array_from_data(iv, &n, 1, MX_INT32);
  mx_array_read(mx_round(ia, 3), MX_INT32, io, sizeof io);
  MXT_CHECK(memcmp(io, iv, sizeof io) == 0, "int round(3) identity");
}

/* ---- SIMD paths: every level against the plain C kernel ---- */
static void test_simd_paths(void) {
  struct {
    mx_array *(*fn)(mx_array *);
    const char *name;
    bool exact; /* bit-identical to the C kernel */
    double lo, hi;
  } ops[] = {
      {mx_abs, "abs", true, -5, 5},
      {mx_negative, "negative", true, -5, 5},
      {mx_square, "square", true, -5, 5},
      {mx_sqrt, "sqrt", true, -1, 5},
      {mx_rsqrt, "rsqrt", true, -1, 5},
      {mx_reciprocal, "reciprocal", true, -5, 5},
      {mx_floor, "floor", true, -5, 5},
      {mx_ceil, "ceil", true, -5, 5},
      {round0, "round", true, -5, 5},
      {mx_exp, "exp", false, -90, 90},
      {mx_sigmoid, "sigmoid", false, -90, 90},
      {mx_tanh, "tanh", false, -12, 12},
  };
  const mx_dtype ts[3] = {MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16};
  /* lengths around the vector widths, and an unaligned start */
  const int lens[5] = {1, 15, 33, 1000, 70001};
  for (int o = 0; o < (int)(sizeof ops / sizeof ops[0]); o++)
    for (int d = 0; d < 3; d++)
      for (int li = 0; li < 5; li++)
        for (int off = 0; off < 2; off++) {
          mx_scope_begin();
          int n = lens[li] + off;
          mx_array *a = mxt_rand(&n, 1, ts[d], ops[o].lo, ops[o].hi);
          if (off) a = mx_slice_axis(a, 0, 1, MX_SLICE_DEFAULT, 1);
          mx_eval1(a);
          mx_simd_set_level(MX_SIMD_NONE);
          mx_array *base = ops[o].fn(a);
          mx_eval1(base);
          double *bref = mxt_to_f64(base);
          for (int level = 1; level <= mx_simd_detected(); level++) {
            mx_simd_set_level(level);
            mx_array *r = ops[o].fn(a);
            double *got = mxt_to_f64(r);
            int64_t m = mx_array_size(r);
            for (int64_t i = 0; i < m; i++) {
              bool same = got[i] == bref[i] || (isnan(got[i]) && isnan(bref[i]));
              if (!ops[o].exact)
                same = same || fabs(got[i] - bref[i]) <=
                                   1e-44 + 4 * ew_half_ulp(ts[d]) * fabs(bref[i]);
              if (!same) {
                MXT_CHECK(0, "%s %s n=%d off=%d simd %s: [%lld] %.9g vs C %.9g",
                          ops[o].name, mx_dtype_name(ts[d]), n, off, mx_simd_name(level),
                          (long long)i, got[i], bref[i]);
                break;
              }
            }
            free(got);
          }
          free(bref);
          mx_simd_set_level(99);
          mx_scope_end();
        }
}

static double sigmoid64(double x) { return 1 / (1 + exp(-x)); }

/* Every bit pattern of bfloat16/float16 through each transcendental op,
 * first evaluated in chunks of 4096 (below the size that builds a table),
 * then contiguous with a tail (builds the table), transposed and strided.
 * Ops that read a table (built from the plain C kernel over all 65536
 * patterns) must equal the plain kernel bit for bit. exp and sigmoid take
 * the vector path at every size and layout: they must equal the float32
 * vector kernel's result rounded to nearest even (astype), at every SIMD
 * level (AVX-512 narrows bfloat16 with vcvtneps2bf16 where the CPU has it,
 * AVX2 with integer steps), and be within one half-type ulp of float64
 * libm rounded to the type. Runs before any other test builds a table. */
static void test_half_tables(void) {
  struct {
    mx_array *(*fn)(mx_array *);
    const char *name;
    double (*f64)(double); /* vector-path ops: float64 reference */
  } ops[] = {
      {mx_sign, "sign", NULL},       {mx_exp, "exp", exp},
      {mx_expm1, "expm1", NULL},     {mx_log, "log", NULL},
      {mx_log1p, "log1p", NULL},     {mx_log2, "log2", NULL},
      {mx_log10, "log10", NULL},     {mx_sin, "sin", NULL},
      {mx_cos, "cos", NULL},         {mx_tan, "tan", NULL},
      {mx_arcsin, "arcsin", NULL},   {mx_arccos, "arccos", NULL},
      {mx_arctan, "arctan", NULL},   {mx_sinh, "sinh", NULL},
      {mx_cosh, "cosh", NULL},       {mx_tanh, "tanh", NULL},
      {mx_arcsinh, "arcsinh", NULL}, {mx_arccosh, "arccosh", NULL},
      {mx_arctanh, "arctanh", NULL}, {mx_erf, "erf", NULL},
      {mx_erfinv, "erfinv", NULL},   {mx_sigmoid, "sigmoid", sigmoid64},
  };
  const mx_dtype ts[2] = {MX_BFLOAT16, MX_FLOAT16};
  const int N = 65536, tail = 77, n = N + tail, chunk = 4096;
  for (int d = 0; d < 2; d++) {
    /* every bit pattern (as exact doubles), then a tail repeating some */
    double *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) {
      uint16_t h = (uint16_t)(i < N ? i : i * 7919);
      v[i] = ts[d] == MX_BFLOAT16 ? mx_bf16_to_f32(h) : mx_f16_to_f32(h);
    }
    for (int o = 0; o < (int)(sizeof ops / sizeof ops[0]); o++) {
      bool vec = ops[o].f64 != NULL;
      int lo = vec ? 1 : 99; /* SIMD levels to check */
      for (int level = lo; level <= (vec ? mx_simd_detected() : 99); level++) {
        mx_scope_begin();
        mx_array *x = mx_astype(mx_array_from_data(v, &n, 1, MX_FLOAT64), ts[d]);
        mx_eval1(x);
        double *xv = mxt_to_f64(x);
        double *ref = malloc((size_t)n * sizeof *ref);
        if (vec) {
          /* reference: rne(float32 vector kernel) */
          mx_simd_set_level(level);
          double *r = mxt_to_f64(mx_astype(ops[o].fn(mx_astype(x, MX_FLOAT32)), ts[d]));
          memcpy(ref, r, (size_t)n * sizeof *r);
          free(r);
          /* and float64 libm rounded to the type, within one ulp of it */
          double *e = malloc((size_t)n * sizeof *e);
          for (int i = 0; i < n; i++) e[i] = ops[o].f64(xv[i]);
          double *eh =
              mxt_to_f64(mx_astype(mx_array_from_data(e, &n, 1, MX_FLOAT64), ts[d]));
          for (int i = 0; i < n; i++) {
            double g = ref[i], r64 = eh[i];
            /* one ulp, or the smallest subnormal step of the type */
            double atol = ldexp(1, ts[d] == MX_BFLOAT16 ? -133 : -24);
            bool ok = g == r64 || (isnan(g) && isnan(r64)) ||
                      (isfinite(r64) &&
                       fabs(g - r64) <= atol + 2 * ew_half_ulp(ts[d]) * fabs(r64));
            if (!ok) {
              MXT_CHECK(0, "%s %s simd %s [%d] x=%g: %.9g vs float64 %.9g", ops[o].name,
                        mx_dtype_name(ts[d]), mx_simd_name(level), i, xv[i], g, r64);
              break;
            }
          }
          free(e);
          free(eh);
        } else {
          /* reference: the plain kernel, chunk by chunk */
          mx_simd_set_level(MX_SIMD_NONE);
          for (int c = 0; c < n; c += chunk) {
            int e = c + chunk < n ? c + chunk : n;
            double *r = mxt_to_f64(ops[o].fn(mx_slice_axis(x, 0, c, e, 1)));
            memcpy(ref + c, r, (size_t)(e - c) * sizeof *r);
            free(r);
          }
          mx_simd_set_level(99);
        }
        char what[128];
        /* the same values: contiguous (builds a table) */
        double *got = mxt_to_f64(ops[o].fn(x));
        int bad = 0;
        for (int i = 0; i < n && !bad; i++)
          if (!(got[i] == ref[i] || (isnan(got[i]) && isnan(ref[i])))) {
            snprintf(what, sizeof what, "%s %s simd %s [%d] x=%g: %.9g vs %.9g",
                     ops[o].name, mx_dtype_name(ts[d]), mx_simd_name(mx_simd_level()), i,
                     xv[i], got[i], ref[i]);
            MXT_CHECK(0, "%s", what);
            bad = 1;
          }
        free(got);
        /* in chunks below the table size */
        for (int c = 0; c < n && !bad; c += chunk) {
          int e = c + chunk < n ? c + chunk : n;
          got = mxt_to_f64(ops[o].fn(mx_slice_axis(x, 0, c, e, 1)));
          for (int i = c; i < e && !bad; i++)
            if (!(got[i - c] == ref[i] || (isnan(got[i - c]) && isnan(ref[i])))) {
              MXT_CHECK(0, "%s %s chunk [%d]: %.9g vs %.9g", ops[o].name,
                        mx_dtype_name(ts[d]), i, got[i - c], ref[i]);
              bad = 1;
            }
          free(got);
        }
        /* transposed (256, 256) view of the first N */
        int sh[2] = {256, 256};
        mx_array *xt =
            mx_transpose(mx_reshape(mx_slice_axis(x, 0, 0, N, 1), sh, 2), NULL, 0);
        got = mxt_to_f64(ops[o].fn(xt));
        for (int i = 0; i < 256 && !bad; i++)
          for (int j = 0; j < 256 && !bad; j++) {
            double g = got[i * 256 + j], r = ref[j * 256 + i];
            if (!(g == r || (isnan(g) && isnan(r)))) {
              MXT_CHECK(0, "%s %s transposed [%d,%d]: %.9g vs %.9g", ops[o].name,
                        mx_dtype_name(ts[d]), i, j, g, r);
              bad = 1;
            }
          }
        free(got);
        /* step 3, reversed (small: the table exists now) */
        got = mxt_to_f64(ops[o].fn(mx_slice_axis(x, 0, n - 1, MX_SLICE_DEFAULT, -3)));
        for (int i = 0, k = n - 1; k >= 0 && !bad; i++, k -= 3)
          if (!(got[i] == ref[k] || (isnan(got[i]) && isnan(ref[k])))) {
            MXT_CHECK(0, "%s %s strided [%d]: %.9g vs %.9g", ops[o].name,
                      mx_dtype_name(ts[d]), i, got[i], ref[k]);
            bad = 1;
          }
        free(got);
        free(ref);
        free(xv);
        mx_simd_set_level(99);
        mx_scope_end();
      }
    }
    free(v);
  }
}

/* The vector exp over the whole float32 range, dense: <= 2 ulp; sigmoid
 * and tanh <= 3 ulp. */
static void test_exp_accuracy(void) {
  int n = 400000;
  double *x = malloc((size_t)n * sizeof *x);
  for (int i = 0; i < n; i++) x[i] = -104 + (89.0 + 104) * i / (n - 1);
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_scope_begin();
    mx_simd_set_level(level);
    mx_array *a = mx_astype(mx_array_from_data(x, &n, 1, MX_FLOAT64), MX_FLOAT32);
    double *xa = mxt_to_f64(a);
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int i = 0; i < n; i++) ref[i] = exp(xa[i]);
    char what[64];
    snprintf(what, sizeof what, "exp dense (simd %s)", mx_simd_name(level));
    ew_check(mx_exp(a), ref, n, 4, 1, what);
    for (int i = 0; i < n; i++) ref[i] = 1 / (1 + exp(-xa[i]));
    snprintf(what, sizeof what, "sigmoid dense (simd %s)", mx_simd_name(level));
    ew_check(mx_sigmoid(a), ref, n, 6, 1, what);
    for (int i = 0; i < n; i++) ref[i] = tanh(xa[i] / 8); /* [-13, 11] */
    snprintf(what, sizeof what, "tanh dense (simd %s)", mx_simd_name(level));
    ew_check(mx_tanh(mx_divide(a, mx_array_scalar_f64(8, MX_FLOAT32))), ref, n, 6, 1,
             what);
    free(xa);
    free(ref);
    mx_scope_end();
  }
  mx_simd_set_level(99);
  free(x);
}

/* Outputs big enough for non-temporal stores (>= 32 MiB). */
static void test_streaming_stores(void) {
  int n = (33 << 20) / 4 + 7;
  mx_array *a = mxt_rand(&n, 1, MX_FLOAT32, -20, 20);
  mx_array *r = mx_exp(mx_slice_axis(a, 0, 3, MX_SLICE_DEFAULT, 1));
  mx_array *s = mx_sigmoid(a);
  MXT_OK(r);
  MXT_OK(s);
  const float *x = mx_array_data(a);
  const float *rv = mx_array_data(r), *sv = mx_array_data(s);
  if (!x || !rv || !sv) return;
  int bad = 0;
  for (int i = 0; i < n - 3 && bad < 1; i++)
    if (fabs(rv[i] - exp((double)x[i + 3])) > 3e-7 * exp((double)x[i + 3])) bad++;
  for (int i = 0; i < n && bad < 1; i++)
    if (fabs(sv[i] - 1 / (1 + exp(-(double)x[i]))) > 5e-7) bad++;
  MXT_CHECK(bad == 0, "streaming exp/sigmoid values");
}

/* ---- erfinv ---- */
static void test_erfinv(void) {
  int n = 20001;
  double *y = malloc((size_t)n * sizeof *y);
  for (int i = 0; i < n; i++) y[i] = -1 + 2.0 * i / (n - 1);
  /* closer to +-1: float32 neighbours of 1 and the double ones */
  y[0] = -0.99999994;
  y[1] = 0.99999994;
  y[2] = 1 - 1e-12;
  y[3] = -(1 - 1e-15);
  y[4] = 1e-30;
  y[5] = -1e-8;
  const mx_dtype ts[4] = {MX_FLOAT32, MX_FLOAT64, MX_FLOAT16, MX_BFLOAT16};
  for (int d = 0; d < 4; d++) {
    mx_scope_begin();
    mx_array *a = mx_astype(mx_array_from_data(y, &n, 1, MX_FLOAT64), ts[d]);
    double *ya = mxt_to_f64(a);
    double *ref = malloc((size_t)n * sizeof *ref);
    for (int i = 0; i < n; i++) ref[i] = r_erfinv(ya[i]);
    char what[64];
    snprintf(what, sizeof what, "erfinv dense %s", mx_dtype_name(ts[d]));
    ew_check(mx_erfinv(a), ref, n, 8, 64, what);
    free(ya);
    free(ref);
    mx_scope_end();
  }
  free(y);
  /* round trip through erf in float64 */
  double v[5] = {-0.999, -0.3, 0.0, 0.42, 0.9999999};
  int m = 5;
  double out[5];
  mx_array_read(mx_erf(mx_erfinv(mx_array_from_data(v, &m, 1, MX_FLOAT64))), MX_FLOAT64,
                out, sizeof out);
  for (int i = 0; i < 5; i++)
    MXT_CHECK(fabs(out[i] - v[i]) < 1e-15, "erf(erfinv(%g)) = %.17g", v[i], out[i]);
}

/* sigmoid far out: no NaN, correct tails. */
static void test_sigmoid_extremes(void) {
  double v[8] = {-1000, -100, -80, -20, 20, 80, 1000, -INFINITY};
  int n = 8;
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_simd_set_level(level);
    mx_array *a = mx_astype(mx_array_from_data(v, &n, 1, MX_FLOAT64), MX_FLOAT32);
    float o[8];
    mx_array_read(mx_sigmoid(a), MX_FLOAT32, o, sizeof o);
    MXT_CHECK(o[0] == 0 && o[7] == 0 && o[6] == 1 && o[5] == 1, "sigmoid tails");
    MXT_CHECK(fabs(o[2] - exp(-80.0)) < 1e-6 * exp(-80.0), "sigmoid(-80) = %g", o[2]);
    /* subnormal: within one step (2^-149) */
    MXT_CHECK(fabs(o[1] - exp(-100.0)) <= ldexp(1, -149), "sigmoid(-100) subnormal %g",
              o[1]);
  }
  mx_simd_set_level(99);
}

/* ---- predicates, logical and bitwise ---- */
static void test_predicates(void) {
  const mx_dtype fl[5] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64, MX_COMPLEX64};
  mx_array *(*fns[5])(mx_array *) = {mx_isnan, mx_isinf, mx_isfinite, mx_isposinf,
                                     mx_isneginf};
  const char *names[5] = {"isnan", "isinf", "isfinite", "isposinf", "isneginf"};
  for (int d = 0; d < 5; d++)
    for (int f = 0; f < 5; f++) {
      mx_scope_begin();
      mx_array *a = specials(fl[d]);
      double *x = mxt_to_f64(a);
      double ref[N_SPECIAL];
      for (int i = 0; i < N_SPECIAL; i++) {
        double v = x[i];
        ref[i] = f == 0   ? isnan(v) != 0
                 : f == 1 ? isinf(v) != 0
                 : f == 2 ? isfinite(v) != 0
                 : f == 3 ? v == INFINITY
                          : v == -INFINITY;
      }
      mx_array *r = fns[f](mx_transpose(mx_reshape(a, (int[]){5, 7}, 2), NULL, 0));
      MXT_CHECK(r && mx_array_dtype(r) == MX_BOOL, "%s dtype", names[f]);
      /* transposed input: compare in transposed order */
      double reft[N_SPECIAL];
      for (int i = 0; i < 7; i++)
        for (int j = 0; j < 5; j++) reft[i * 5 + j] = ref[j * 7 + i];
      char what[64];
      snprintf(what, sizeof what, "%s %s", names[f], mx_dtype_name(fl[d]));
      ew_check(r, reft, N_SPECIAL, 0, 0, what);
      free(x);
      mx_scope_end();
    }
  /* complex: NaN or inf in either part */
  float cz[8] = {NAN, 0, 0, INFINITY, INFINITY, 0, 1, 2};
  int n = 4;
  mx_array *c = mx_array_from_data(cz, &n, 1, MX_COMPLEX64);
  uint8_t o[4];
  mx_array_read(mx_isnan(c), MX_BOOL, o, 4);
  MXT_CHECK(o[0] && !o[1] && !o[2] && !o[3], "complex isnan");
  mx_array_read(mx_isinf(c), MX_BOOL, o, 4);
  MXT_CHECK(!o[0] && o[1] && o[2] && !o[3], "complex isinf");
  mx_array_read(mx_isposinf(c), MX_BOOL, o, 4);
  MXT_CHECK(!o[0] && !o[1] && o[2] && !o[3], "complex isposinf (inf+0j only)");
  mx_array_read(mx_isfinite(c), MX_BOOL, o, 4);
  MXT_CHECK(!o[0] && !o[1] && !o[2] && o[3], "complex isfinite");
  /* integers: constants of the right shape */
  for (int d = 0; d < 9; d++) {
    int shape[2] = {3, 4};
    mx_array *a = mxt_rand(shape, 2, ew_all_dtypes[d], 0, 100);
    for (int f = 0; f < 5; f++) {
      mx_array *r = fns[f](a);
      MXT_CHECK(r && mx_array_dtype(r) == MX_BOOL && mx_array_size(r) == 12 &&
                    mx_array_ndim(r) == 2,
                "%s int meta", names[f]);
      uint8_t b[12];
      mx_array_read(r, MX_BOOL, b, 12);
      for (int i = 0; i < 12; i++)
        MXT_CHECK(b[i] == (f == 2), "%s(%s) = %d", names[f],
                  mx_dtype_name(ew_all_dtypes[d]), b[i]);
    }
  }
}

static void test_logical_bitwise(void) {
  for (int d = 0; d < EW_NDTYPES; d++) {
    mx_dtype t = ew_all_dtypes[d];
    for (int L = 0; L < L_COUNT - 1; L++) {
      mx_scope_begin();
      mx_array *a = ew_make((ew_layout)L, t, -2, 3);
      int64_t n = mx_array_size(a);
      double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
      if (t == MX_COMPLEX64) {
        double complex *z = ew_read_c(a);
        for (int64_t i = 0; i < n; i++) ref[i] = z[i] == 0;
        free(z);
      } else {
        double *x = mxt_to_f64(a);
        for (int64_t i = 0; i < n; i++) ref[i] = x[i] == 0;
        free(x);
      }
      char what[96];
      snprintf(what, sizeof what, "logical_not %s %s", mx_dtype_name(t),
               ew_layout_name[L]);
      mx_array *r = mx_logical_not(a);
      MXT_CHECK(r && mx_array_dtype(r) == MX_BOOL, "%s dtype", what);
      if (t != MX_COMPLEX64) ew_check(r, ref, n, 0, 0, what);
      if (mx_dtype_is_integer(t) || t == MX_BOOL) {
        int64_t *x = ew_read_i64(a);
        for (int64_t i = 0; i < n; i++)
          ref[i] = t == MX_BOOL ? !x[i] : (double)ew_wrap(~x[i], t);
        snprintf(what, sizeof what, "bitwise_invert %s %s", mx_dtype_name(t),
                 ew_layout_name[L]);
        mx_array *bi = mx_bitwise_invert(a);
        MXT_CHECK(bi && mx_array_dtype(bi) == t, "%s dtype", what);
        if (t != MX_UINT64 && t != MX_INT64)
          ew_check(bi, ref, n, 0, 0, what);
        else if (bi && n) {
          int64_t *g = ew_read_i64(bi);
          for (int64_t i = 0; i < n; i++)
            MXT_CHECK(g[i] == ~x[i], "%s [%lld]", what, (long long)i);
          free(g);
        }
        free(x);
      }
      free(ref);
      mx_scope_end();
    }
  }
}

/* ---- complex64 ---- */
static void test_complex(void) {
  for (int k = 0; k < N_MATH; k++) {
    if (!k_math[k].cref) continue;
    for (int L = 0; L < L_COUNT; L++) {
      mx_scope_begin();
      mx_array *a = ew_make((ew_layout)L, MX_COMPLEX64, -2, 2);
      int64_t n = mx_array_size(a);
      double complex *z = ew_read_c(a);
      double complex *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
      for (int64_t i = 0; i < n; i++) ref[i] = k_math[k].cref(z[i]);
      char what[96];
      snprintf(what, sizeof what, "%s complex64 %s", k_math[k].name, ew_layout_name[L]);
      ew_check_c(k_math[k].fn(a), ref, n, 2e-6, what);
      free(z);
      free(ref);
      mx_scope_end();
    }
  }
  for (int L = 0; L < L_COUNT; L++) {
    mx_scope_begin();
    mx_array *a = ew_make((ew_layout)L, MX_COMPLEX64, -3, 3);
    int64_t n = mx_array_size(a);
    double complex *z = ew_read_c(a);
    double complex *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
    double *re = malloc((size_t)(n ? n : 1) * sizeof *re);
    double *im = malloc((size_t)(n ? n : 1) * sizeof *im);
    double *ab = malloc((size_t)(n ? n : 1) * sizeof *ab);
    for (int64_t i = 0; i < n; i++) {
      re[i] = creal(z[i]);
      im[i] = cimag(z[i]);
      ab[i] = cabs(z[i]);
    }
    ew_check(mx_real(a), re, n, 0, 0, "real");
    ew_check(mx_imag(a), im, n, 0, 0, "imag");
    ew_check(mx_abs(a), ab, n, 4, 0, "abs complex -> float32");
    MXT_CHECK(mx_array_dtype(mx_abs(a)) == MX_FLOAT32, "abs(c64) dtype");
    for (int64_t i = 0; i < n; i++) ref[i] = conj(z[i]);
    ew_check_c(mx_conjugate(a), ref, n, 0, "conjugate");
    for (int64_t i = 0; i < n; i++) ref[i] = -z[i];
    ew_check_c(mx_negative(a), ref, n, 0, "negative complex");
    for (int64_t i = 0; i < n; i++) ref[i] = z[i] * z[i];
    ew_check_c(mx_square(a), ref, n, 2e-7, "square complex");
    for (int64_t i = 0; i < n; i++) ref[i] = z[i] == 0 ? 0 : z[i] / cabs(z[i]);
    ew_check_c(mx_sign(a), ref, n, 2e-7, "sign complex");
    free(z);
    free(ref);
    free(re);
    free(im);
    free(ab);
    mx_scope_end();
  }
  /* on real inputs: real = identity, imag = zeros, conjugate = identity */
  int shape[2] = {3, 5};
  mx_array *x = mxt_rand(shape, 2, MX_FLOAT32, -1, 1);
  MXT_CHECK(mx_real(x) == x && mx_conjugate(x) == x, "real/conjugate of real");
  mx_array *im = mx_imag(x);
  MXT_CHECK(im && mx_array_dtype(im) == MX_FLOAT32 && mx_array_size(im) == 15,
            "imag meta");
  double zeros[15] = {0};
  ew_check(im, zeros, 15, 0, 0, "imag of real");
}

static void test_stop_gradient(void) {
  int shape[2] = {4, 6};
  mx_array *a = mxt_noncontig(mxt_rand(shape, 2, MX_BFLOAT16, -3, 3));
  mx_array *s = mx_stop_gradient(a);
  MXT_OK(s);
  MXT_CHECK(s != a && mx_array_dtype(s) == MX_BFLOAT16, "own node");
  double *x = mxt_to_f64(a);
  ew_check(s, x, 24, 0, 0, "stop_gradient value");
  free(x);
  mx_array *e = mx_stop_gradient(mx_zeros((int[]){0, 3}, 2, MX_INT32));
  MXT_CHECK(e && mx_eval1(e) == MX_OK && mx_array_size(e) == 0, "empty");
}

/* ---- dtype rules (MLX's, written out) ---- */
static void test_dtype_rules(void) {
  int shape[1] = {4};
  struct {
    mx_array *(*fn)(mx_array *);
    mx_dtype in, out;
  } cases[] = {
      {mx_sqrt, MX_INT32, MX_FLOAT32},
      {mx_sqrt, MX_FLOAT16, MX_FLOAT16},
      {mx_exp, MX_BOOL, MX_FLOAT32},
      {mx_exp, MX_UINT64, MX_FLOAT32},
      {mx_exp, MX_BFLOAT16, MX_BFLOAT16},
      {mx_log, MX_FLOAT64, MX_FLOAT64},
      {mx_sigmoid, MX_INT8, MX_FLOAT32},
      {mx_erfinv, MX_INT16, MX_FLOAT32},
      {mx_abs, MX_INT8, MX_INT8},
      {mx_abs, MX_COMPLEX64, MX_FLOAT32},
      {mx_abs, MX_UINT16, MX_UINT16},
      {mx_square, MX_INT32, MX_INT32},
      {mx_sign, MX_BOOL, MX_BOOL},
      {mx_floor, MX_INT64, MX_INT64},
      {mx_reciprocal, MX_INT32, MX_FLOAT32},
      {mx_isnan, MX_FLOAT16, MX_BOOL},
      {mx_logical_not, MX_FLOAT32, MX_BOOL},
      {mx_real, MX_COMPLEX64, MX_FLOAT32},
      {mx_imag, MX_INT32, MX_INT32},
      {mx_conjugate, MX_COMPLEX64, MX_COMPLEX64},
      {mx_exp, MX_COMPLEX64, MX_COMPLEX64},
      {mx_bitwise_invert, MX_BOOL, MX_BOOL},
  };
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    mx_array *a = mx_zeros(shape, 1, cases[i].in);
    mx_array *r = cases[i].fn(a);
    MXT_CHECK(r && mx_array_dtype(r) == cases[i].out, "case %d: %s -> %s", i,
              mx_dtype_name(cases[i].in), r ? mx_dtype_name(mx_array_dtype(r)) : "NULL");
    MXT_CHECK(r && mx_eval1(r) == MX_OK, "case %d eval", i);
  }
}

/* ---- errors ---- */
static void expect_error(mx_array *r, const char *tag) {
  MXT_CHECK(r == NULL, "%s: expected NULL", tag);
  MXT_CHECK(strstr(mx_last_error(), tag) != NULL, "%s: message '%s'", tag,
            mx_last_error());
  mx_clear_error();
}

static void test_errors(void) {
  int shape[1] = {3};
  mx_array *b = mx_zeros(shape, 1, MX_BOOL);
  mx_array *f = mx_zeros(shape, 1, MX_FLOAT32);
  mx_array *c = mx_zeros(shape, 1, MX_COMPLEX64);
  expect_error(mx_negative(b), "[negative]");
  expect_error(mx_bitwise_invert(f), "[bitwise_invert]");
  expect_error(mx_bitwise_invert(c), "[bitwise_invert]");
  expect_error(mx_expm1(c), "[expm1]");
  expect_error(mx_erf(c), "[erf]");
  expect_error(mx_erfinv(c), "[erfinv]");
  expect_error(mx_sigmoid(c), "[sigmoid]");
  expect_error(mx_floor(c), "[floor]");
  expect_error(mx_ceil(c), "[ceil]");
  expect_error(mx_round(c, 0), "[round]");
  /* NULL in, NULL out, first message kept */
  mx_set_error(MX_ERR_INVALID, "[first] boom");
  MXT_CHECK(mx_exp(NULL) == NULL && mx_abs(NULL) == NULL && mx_isnan(NULL) == NULL &&
                mx_stop_gradient(NULL) == NULL && mx_real(NULL) == NULL &&
                mx_round(NULL, 2) == NULL && mx_logical_not(NULL) == NULL,
            "NULL propagates");
  MXT_CHECK(strstr(mx_last_error(), "[first]") != NULL, "first message kept");
  mx_clear_error();
}

/* A chain of unary ops on a scope-less thread leaks nothing (the
 * intermediate astype of math ops is released). */
static void test_no_leak_without_scope(void) {
  mx_scope_end(); /* leave the harness scope for a moment */
  int64_t live0 = mx_live_arrays();
  mx_array *a = mx_array_scalar_f64(3, MX_INT32);
  mx_array *e = mx_exp(a);
  mx_array *l = mx_logical_not(a);
  MXT_CHECK(e && mx_array_item_f64(e) > 20.08 && mx_array_item_f64(e) < 20.09, "exp(3)");
  MXT_CHECK(l && mx_array_item_f64(l) == 0, "logical_not(3)");
  mx_free(e);
  mx_free(l);
  mx_free(a);
  MXT_CHECK(mx_live_arrays() == live0, "live arrays %lld -> %lld", (long long)live0,
            (long long)mx_live_arrays());
  mx_scope_begin();
}

/* Error of float32 result g in units of the float32 spacing at the exact
 * value r (spacing 2^-149 for subnormals). NaN must give NaN, a reference
 * that rounds to +-inf must give exactly that, zeros keep their sign;
 * those failures return 1e9. */
static double f32_ulp_err(float g, double r) {
  if (isnan(r) || isnan(g)) return isnan(r) && isnan(g) ? 0 : 1e9;
  float rf = (float)r;
  if (isinf(rf) || isinf(g)) return g == rf ? 0 : 1e9;
  if (r == 0 && g == 0) return !signbit(g) == !signbit(r) ? 0 : 1e9;
  int e;
  frexp(r, &e);
  return fabs(g - r) / ldexp(1, e - 24 < -149 ? -149 : e - 24);
}

/* The float32 vector math (own polynomials, glibc libmvec where built
 * with it) at every SIMD level over 1M random bit patterns (NaNs,
 * infinities, subnormals, huge trig arguments: the whole domain) and the
 * edge values, against float64 libm: at most 4 ulp. */
static void test_vector_math_ulp(void) {
  struct {
    mx_array *(*fn)(mx_array *);
    const char *name;
    double (*ref)(double);
  } ops[] = {
      {mx_exp, "exp", exp},           {mx_expm1, "expm1", expm1},
      {mx_log, "log", log},           {mx_log1p, "log1p", log1p},
      {mx_log2, "log2", log2},        {mx_log10, "log10", log10},
      {mx_sin, "sin", sin},           {mx_cos, "cos", cos},
      {mx_tan, "tan", tan},           {mx_arcsin, "arcsin", asin},
      {mx_arccos, "arccos", acos},    {mx_arctan, "arctan", atan},
      {mx_sinh, "sinh", sinh},        {mx_cosh, "cosh", cosh},
      {mx_tanh, "tanh", tanh},        {mx_arcsinh, "arcsinh", asinh},
      {mx_arccosh, "arccosh", acosh}, {mx_arctanh, "arctanh", atanh},
      {mx_erf, "erf", erf},
  };
  const float edge[] = {0.0f,
                        -0.0f,
                        INFINITY,
                        -INFINITY,
                        NAN,
                        -NAN,
                        1e-45f,
                        -1e-45f,
                        1e-40f,
                        -1e-40f,
                        1.17549435e-38f,
                        1.0f,
                        -1.0f,
                        0.5f,
                        -0.5f,
                        1.0000001f,
                        0.99999994f,
                        -0.99999994f,
                        2.0f,
                        1e-8f,
                        -1e-8f,
                        3.4028235e38f,
                        -3.4028235e38f,
                        88.72f,
                        89.0f,
                        -87.3f,
                        -103.9f,
                        -104.5f,
                        9.0f,
                        10.0f,
                        -10.0f,
                        105615.0f,
                        1e5f,
                        1e6f,
                        8388608.0f,
                        3.14159274f,
                        1.57079637f,
                        1e30f,
                        -1e30f,
                        0.7f,
                        -0.9999f,
                        4.0f,
                        -3.9f};
  const int nedge = (int)(sizeof edge / sizeof edge[0]);
  const int n = nedge + (1 << 20);
  uint32_t *bits = malloc((size_t)n * sizeof *bits);
  memcpy(bits, edge, sizeof edge);
  for (int i = nedge; i < n; i++) bits[i] = (uint32_t)mxt_next();
  float *x = (float *)(void *)bits;
  double *ref = malloc((size_t)n * sizeof *ref);
  float *got = malloc((size_t)n * sizeof *got);
  mx_array *a = mx_array_from_data(x, &n, 1, MX_FLOAT32);
  mx_eval1(a);
  for (int o = 0; o < (int)(sizeof ops / sizeof ops[0]); o++) {
    for (int i = 0; i < n; i++) ref[i] = ops[o].ref(x[i]);
    for (int level = 0; level <= mx_simd_detected(); level++) {
      mx_scope_begin();
      mx_simd_set_level(level);
      mx_array_read(ops[o].fn(a), MX_FLOAT32, got, (size_t)n * sizeof *got);
      double worst = 0;
      int wi = 0;
      for (int i = 0; i < n; i++) {
        double e = f32_ulp_err(got[i], ref[i]);
        if (e > worst) worst = e, wi = i;
      }
      MXT_CHECK(worst <= 4, "%s (simd %s): %.3g ulp at x=%a: %a, want %a", ops[o].name,
                mx_simd_name(level), worst, x[wi], got[wi], ref[wi]);
      mx_scope_end();
    }
  }
  mx_simd_set_level(99);
  free(bits);
  free(ref);
  free(got);
}

/* float32 erfinv on random bit patterns in (-1, 1) (subnormals included),
 * every SIMD level: within 4 ulp of the bisection reference (the vector
 * kernel is MLX's ~2.4 ulp formula; the plain one is correctly rounded). */
static void test_erfinv_ulp(void) {
  const int n = 1 << 15;
  float *x = malloc((size_t)n * sizeof *x), *got = malloc((size_t)n * sizeof *got);
  double *ref = malloc((size_t)n * sizeof *ref);
  for (int i = 0; i < n; i++) {
    uint32_t b = (uint32_t)mxt_next();
    /* exponent below 127: |x| < 1 */
    b = (b & 0x807fffffu) | (uint32_t)((b >> 23) % 127) << 23;
    memcpy(&x[i], &b, 4);
    ref[i] = r_erfinv(x[i]);
  }
  mx_array *a = mx_array_from_data(x, &n, 1, MX_FLOAT32);
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_scope_begin();
    mx_simd_set_level(level);
    mx_array_read(mx_erfinv(a), MX_FLOAT32, got, (size_t)n * sizeof *got);
    double worst = 0;
    int wi = 0;
    for (int i = 0; i < n; i++) {
      double e = f32_ulp_err(got[i], ref[i]);
      if (e > worst) worst = e, wi = i;
    }
    MXT_CHECK(worst <= 4, "erfinv (simd %s): %.3g ulp at x=%a: %a, want %a",
              mx_simd_name(level), worst, x[wi], got[wi], ref[wi]);
    mx_scope_end();
  }
  mx_simd_set_level(99);
  free(x);
  free(got);
  free(ref);
}

/* float32 inputs that are not contiguous (transposed, reversed with a
 * step, broadcast) take the vector kernels in gathered chunks: the same
 * bits as the contiguous input, for every op with a vector path and for
 * ops without one (plain kernel), at every SIMD level. */
static void test_strided_same_bits(void) {
  mx_array *(*fns[])(mx_array *) = {mx_exp,   mx_log,     mx_log1p,  mx_sin,    mx_cos,
                                    mx_tanh,  mx_sigmoid, mx_erf,    mx_arctan, mx_sqrt,
                                    mx_expm1, mx_sinh,    mx_erfinv, mx_sign};
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_simd_set_level(level);
    for (int f = 0; f < (int)(sizeof fns / sizeof fns[0]); f++) {
      mx_scope_begin();
      int sh[2] = {37, 1030}, n = 3001;
      mx_array *a = mxt_rand(sh, 2, MX_FLOAT32, 0.05, 0.95);
      mx_array *views[3] = {mx_transpose(a, NULL, 0),
                            mx_slice_axis(mxt_rand(&n, 1, MX_FLOAT32, 0.05, 0.95), 0,
                                          n - 1, MX_SLICE_DEFAULT, -3),
                            mx_broadcast_to(mx_slice_axis(a, 0, 0, 1, 1), sh, 2)};
      for (int v = 0; v < 3; v++) {
        mx_array *x = views[v];
        int64_t m = mx_array_size(x);
        float *got = malloc((size_t)m * sizeof *got),
              *want = malloc((size_t)m * sizeof *want);
        mx_array_read(fns[f](x), MX_FLOAT32, got, (size_t)m * sizeof *got);
        mx_array_read(fns[f](mx_contiguous(x)), MX_FLOAT32, want,
                      (size_t)m * sizeof *want);
        MXT_CHECK(memcmp(got, want, (size_t)m * sizeof *got) == 0,
                  "op %d view %d (simd %s): strided differs from contiguous", f, v,
                  mx_simd_name(level));
        free(got);
        free(want);
      }
      mx_scope_end();
    }
  }
  mx_simd_set_level(99);
}

int main(void) {
  mxt_seed(12345);
  MXT_RUN(test_half_tables); /* first: before any op builds its table */
  MXT_RUN(test_math_ops);
  MXT_RUN(test_special_values);
  MXT_RUN(test_keep_dtype_ops);
  MXT_RUN(test_integer_edges);
  MXT_RUN(test_round_decimals);
  MXT_RUN(test_simd_paths);
  MXT_RUN(test_vector_math_ulp);
  MXT_RUN(test_strided_same_bits);
  MXT_RUN(test_exp_accuracy);
  MXT_RUN(test_streaming_stores);
  MXT_RUN(test_erfinv);
  MXT_RUN(test_erfinv_ulp);
  MXT_RUN(test_sigmoid_extremes);
  MXT_RUN(test_predicates);
  MXT_RUN(test_logical_bitwise);
  MXT_RUN(test_complex);
  MXT_RUN(test_stop_gradient);
  MXT_RUN(test_dtype_rules);
  MXT_RUN(test_errors);
  MXT_RUN(test_no_leak_without_scope);
  return mxt_finish();
}
