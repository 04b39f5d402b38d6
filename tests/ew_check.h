/* ew_check.h: helpers shared by test_unary.c and test_binary.c.
 *
 * References are float64 loops written in the tests. A result of a
 * floating dtype is compared with the unrounded reference within k half
 * ulps of its dtype (float16 2^-11, bfloat16 2^-8, float32 2^-24, float64
 * 2^-53 relative): k = 1 is a correctly rounded result; half types compute
 * in float32 and round once more, which costs < 0.1% of a half ulp, so they
 * get k = 1.01 whatever the op. Where the reference rounded to the dtype
 * (through the core's astype) is inf or NaN, the result must be exactly
 * that. Integer and bool results must equal the reference exactly. */
#ifndef MX_TEST_EW_CHECK_H
#define MX_TEST_EW_CHECK_H

#include <complex.h>
#include <stdint.h>

#include "harness.h"

static inline double ew_half_ulp(mx_dtype t) {
  switch (t) {
    case MX_FLOAT16:
      return ldexp(1, -11);
    case MX_BFLOAT16:
      return ldexp(1, -8);
    case MX_FLOAT32:
    case MX_COMPLEX64:
      return ldexp(1, -24);
    case MX_FLOAT64:
      return ldexp(1, -53);
    default:
      return 0;
  }
}

/* absolute slack for subnormal results (half the subnormal spacing, or
 * more) */
static inline double ew_atol(mx_dtype t) {
  switch (t) {
    case MX_FLOAT16:
      return ldexp(1, -24);
    case MX_BFLOAT16:
      return 1e-40;
    case MX_FLOAT32:
    case MX_COMPLEX64:
      return 1e-44;
    case MX_FLOAT64:
      return 1e-300;
    default:
      return 0;
  }
}

/* ref rounded to dtype t by the core's conversion (saturating for ints) */
static inline double *ew_round_to(const double *ref, int64_t n, mx_dtype t) {
  int shape[1] = {(int)n};
  mx_scope_begin();
  mx_array *r = mx_astype(mx_array_from_data(ref, shape, 1, MX_FLOAT64), t);
  double *out = r ? mxt_to_f64(r) : NULL;
  mx_scope_end();
  return out;
}

/* res (real dtype) against ref; kf32 / kf64: tolerance in half ulps for
 * float32 / float64 results. Returns true if all match. */
static inline bool ew_check(mx_array *res, const double *ref, int64_t n, double kf32,
                            double kf64, const char *what) {
  if (!res) {
    MXT_CHECK(0, "%s: NULL result: %s", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  if (mx_array_size(res) != n) {
    MXT_CHECK(0, "%s: size %lld, want %lld", what, (long long)mx_array_size(res),
              (long long)n);
    return false;
  }
  if (n == 0) return mx_eval1(res) == MX_OK;
  mx_dtype t = mx_array_dtype(res);
  double *got = mxt_to_f64(res);
  double *rr = ew_round_to(ref, n, t);
  if (!got || !rr) {
    MXT_CHECK(0, "%s: read failed: %s", what, mx_last_error());
    free(got);
    free(rr);
    return false;
  }
  double k = t == MX_FLOAT32 ? kf32 : t == MX_FLOAT64 ? kf64 : 1.01;
  double rtol = k * ew_half_ulp(t), atol = ew_atol(t);
  bool ok = true;
  for (int64_t i = 0; i < n && ok; i++) {
    double x = got[i], r = ref[i], q = rr[i];
    if (isnan(q) || isnan(r))
      ok = isnan(x);
    else if (isinf(q) || !mx_dtype_is_inexact(t))
      ok = x == q;
    else
      ok = fabs(x - r) <= atol + rtol * fabs(r);
    if (!ok)
      MXT_CHECK(0, "%s (%s): element %lld: got %.10g want %.10g (rounded %.10g)", what,
                mx_dtype_name(t), (long long)i, x, r, q);
  }
  free(got);
  free(rr);
  return ok;
}

/* complex64 result against a double complex reference, |x - r| <= rtol |r|
 * + tiny; NaN anywhere in the reference must be NaN in the result. */
static inline bool ew_check_c(mx_array *res, const double complex *ref, int64_t n,
                              double rtol, const char *what) {
  if (!res || mx_array_dtype(res) != MX_COMPLEX64 || mx_array_size(res) != n) {
    MXT_CHECK(0, "%s: bad complex result: %s", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  float *got = malloc((size_t)(n ? n : 1) * 8);
  if (mx_array_read(res, MX_COMPLEX64, got, (size_t)n * 8) != MX_OK) {
    MXT_CHECK(0, "%s: read failed", what);
    free(got);
    return false;
  }
  bool ok = true;
  for (int64_t i = 0; i < n && ok; i++) {
    double complex x = got[2 * i] + I * (double)got[2 * i + 1], r = ref[i];
    if (isnan(creal(r)) || isnan(cimag(r)))
      ok = isnan(creal(x)) || isnan(cimag(x));
    else
      ok = cabs(x - r) <= 1e-30 + rtol * cabs(r);
    if (!ok)
      MXT_CHECK(0, "%s: element %lld: got %g%+gi want %g%+gi", what, (long long)i,
                creal(x), cimag(x), creal(r), cimag(r));
  }
  free(got);
  return ok;
}

/* A random complex64 array, both parts uniform in [lo, hi). */
static inline mx_array *ew_rand_c(const int *shape, int nd, double lo, double hi) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= shape[i];
  float *d = calloc((size_t)(n ? n : 1), 8);
  for (int64_t i = 0; i < 2 * n; i++) d[i] = (float)mxt_uniform(lo, hi);
  mx_array *a = mx_array_from_data(d, shape, nd, MX_COMPLEX64);
  free(d);
  return a;
}

static inline double complex *ew_read_c(mx_array *a) {
  int64_t n = mx_array_size(a);
  float *f = malloc((size_t)(n ? n : 1) * 8);
  double complex *z = malloc((size_t)(n ? n : 1) * sizeof *z);
  mx_array_read(a, MX_COMPLEX64, f, (size_t)n * 8);
  for (int64_t i = 0; i < n; i++) z[i] = f[2 * i] + I * (double)f[2 * i + 1];
  free(f);
  return z;
}

/* Layouts every op is run on. */
typedef enum {
  L_CONTIG,     /* (3, 41): tails after full vectors */
  L_TRANSPOSED, /* (7, 19) with column-major strides */
  L_NEGSLICE,   /* (4, 23): a [:, ::-2] slice */
  L_SCALAR,     /* 0-d */
  L_EMPTY,      /* (0, 5) */
  L_LARGE,      /* (70001,): several pool tasks, vector body */
  L_COUNT
} ew_layout;

static const char *const ew_layout_name[L_COUNT] = {
    "contiguous", "transposed", "negative-step slice", "0-d", "empty", "large"};

/* A random array of dtype t in layout L (complex: both parts random). */
static inline mx_array *ew_make(ew_layout L, mx_dtype t, double lo, double hi) {
  int s2[2];
  mx_array *x;
  switch (L) {
    case L_CONTIG:
      s2[0] = 3, s2[1] = 41;
      return t == MX_COMPLEX64 ? ew_rand_c(s2, 2, lo, hi) : mxt_rand(s2, 2, t, lo, hi);
    case L_TRANSPOSED:
      s2[0] = 7, s2[1] = 19;
      x = t == MX_COMPLEX64 ? ew_rand_c(s2, 2, lo, hi) : mxt_rand(s2, 2, t, lo, hi);
      return mxt_noncontig(x);
    case L_NEGSLICE: {
      s2[0] = 4, s2[1] = 46;
      x = t == MX_COMPLEX64 ? ew_rand_c(s2, 2, lo, hi) : mxt_rand(s2, 2, t, lo, hi);
      int start[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT};
      int stop[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT};
      int step[2] = {1, -2};
      return mx_slice(x, start, stop, step);
    }
    case L_SCALAR:
      return t == MX_COMPLEX64 ? ew_rand_c(NULL, 0, lo, hi)
                               : mxt_rand(NULL, 0, t, lo, hi);
    case L_EMPTY:
      s2[0] = 0, s2[1] = 5;
      return t == MX_COMPLEX64 ? ew_rand_c(s2, 2, lo, hi) : mxt_rand(s2, 2, t, lo, hi);
    default: {
      int s1[1] = {70001};
      return t == MX_COMPLEX64 ? ew_rand_c(s1, 1, lo, hi) : mxt_rand(s1, 1, t, lo, hi);
    }
  }
}

static const mx_dtype ew_all_dtypes[] = {
    MX_BOOL,  MX_UINT8, MX_UINT16,  MX_UINT32,   MX_UINT64,  MX_INT8,    MX_INT16,
    MX_INT32, MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64, MX_COMPLEX64};
#define EW_NDTYPES ((int)(sizeof ew_all_dtypes / sizeof ew_all_dtypes[0]))

static inline bool ew_is_half(mx_dtype t) { return t == MX_FLOAT16 || t == MX_BFLOAT16; }

/* int64 values of an integer/bool array (exact, unlike float64) */
static inline int64_t *ew_read_i64(mx_array *a) {
  int64_t n = mx_array_size(a);
  int64_t *d = malloc((size_t)(n ? n : 1) * 8);
  if (mx_array_read(a, MX_INT64, d, (size_t)n * 8) != MX_OK) {
    free(d);
    return NULL;
  }
  return d;
}

/* v wrapped to integer dtype t (two's complement), as int64 */
static inline int64_t ew_wrap(int64_t v, mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return v != 0;
    case MX_UINT8:
      return (uint8_t)v;
    case MX_UINT16:
      return (uint16_t)v;
    case MX_UINT32:
      return (uint32_t)v;
    case MX_INT8:
      return (int8_t)v;
    case MX_INT16:
      return (int16_t)v;
    case MX_INT32:
      return (int32_t)v;
    default:
      return v; /* 64-bit: the caller wraps */
  }
}

#endif
