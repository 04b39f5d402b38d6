/* test_binary.c: elementwise binary ops, where, clip, isclose, allclose and
 * array_equal against float64/int64 references written here (numpy for
 * the sign rules of floor_divide/remainder and for shifts), for every dtype
 * each op takes, on same-shape, scalar, row, column, outer, non-contiguous
 * (transposed, negative-step), zero-stride (large full), empty, 0-d and
 * large operands, at every SIMD level the CPU has; special values, integer
 * wrap-around and zero divisors, dtype promotion, bad inputs. Tolerances:
 * see ew_check.h. */
#include "ew_check.h"

#include "backend/cpu/simd.h"

/* ---- references ---- */

/* v rounded to float dtype t (as the kernel rounds an intermediate) */
static double round_to(double v, mx_dtype t) {
  switch (t) {
    case MX_FLOAT16:
      return mx_f16_to_f32(mx_f32_to_f16((float)v));
    case MX_BFLOAT16:
      return mx_bf16_to_f32(mx_f32_to_bf16((float)v));
    case MX_FLOAT32:
      return (float)v;
    default:
      return v;
  }
}

static double f_add(double x, double y, mx_dtype t) {
  (void)t;
  return x + y;
}
static double f_sub(double x, double y, mx_dtype t) {
  (void)t;
  return x - y;
}
static double f_mul(double x, double y, mx_dtype t) {
  (void)t;
  return x * y;
}
static double f_div(double x, double y, mx_dtype t) {
  (void)t;
  return x / y;
}
/* MLX: floor(divide(a, b)), the quotient in the dtype */
static double f_fdiv(double x, double y, mx_dtype t) { return floor(round_to(x / y, t)); }
/* Python: the remainder has the divisor's sign */
static double f_rem(double x, double y, mx_dtype t) {
  (void)t;
  double r = fmod(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
static double f_pow(double x, double y, mx_dtype t) {
  (void)t;
  return pow(x, y);
}
static double f_max(double x, double y, mx_dtype t) {
  (void)t;
  return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
}
static double f_min(double x, double y, mx_dtype t) {
  (void)t;
  return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
}
static double f_atan2(double x, double y, mx_dtype t) {
  (void)t;
  return atan2(x, y);
}
static double f_lae(double x, double y, mx_dtype t) {
  (void)t;
  if (isnan(x) || isnan(y)) return NAN;
  double hi = x > y ? x : y, lo = x > y ? y : x;
  if (hi == INFINITY || lo == -INFINITY) return hi;
  return hi + log1p(exp(lo - hi));
}
static double f_eq(double x, double y, mx_dtype t) {
  (void)t;
  return x == y;
}
static double f_ne(double x, double y, mx_dtype t) {
  (void)t;
  return x != y;
}
static double f_lt(double x, double y, mx_dtype t) {
  (void)t;
  return x < y;
}
static double f_le(double x, double y, mx_dtype t) {
  (void)t;
  return x <= y;
}
static double f_gt(double x, double y, mx_dtype t) {
  (void)t;
  return x > y;
}
static double f_ge(double x, double y, mx_dtype t) {
  (void)t;
  return x >= y;
}
static double f_and(double x, double y, mx_dtype t) {
  (void)t;
  return x != 0 && y != 0;
}
static double f_or(double x, double y, mx_dtype t) {
  (void)t;
  return x != 0 || y != 0;
}

static bool is_unsigned(mx_dtype t) {
  return mx_dtype_kind_of(t) == MX_KIND_UNSIGNED || t == MX_BOOL;
}
static int64_t i_add(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return (int64_t)((uint64_t)x + (uint64_t)y);
}
static int64_t i_sub(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return (int64_t)((uint64_t)x - (uint64_t)y);
}
static int64_t i_mul(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return (int64_t)((uint64_t)x * (uint64_t)y);
}
/* zero divisor: 0 (the library's documented choice, numpy's too) */
static int64_t i_fdiv(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  if (y == 0) return 0;
  double q = floor((double)x / (double)y); /* exact for the small test values */
  return (int64_t)q;
}
static int64_t i_rem(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  if (y == 0) return 0;
  return x - y * (int64_t)floor((double)x / (double)y);
}
/* repeated multiplication (not squaring), wrapping; negative exponent: 0 */
static int64_t i_pow(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  if (y < 0) return 0;
  uint64_t r = 1;
  for (int64_t i = 0; i < y; i++) r *= (uint64_t)x;
  return (int64_t)r;
}
static int64_t i_max(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x > y ? x : y;
}
static int64_t i_min(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x < y ? x : y;
}
static int64_t i_eq(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x == y;
}
static int64_t i_ne(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x != y;
}
static int64_t i_lt(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x < y;
}
static int64_t i_le(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x <= y;
}
static int64_t i_gt(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x > y;
}
static int64_t i_ge(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x >= y;
}
static int64_t i_land(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x && y;
}
static int64_t i_lor(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x || y;
}
static int64_t i_band(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x & y;
}
static int64_t i_bor(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x | y;
}
static int64_t i_bxor(int64_t x, int64_t y, mx_dtype t) {
  (void)t;
  return x ^ y;
}
/* shifts by < 0 or >= the width: 0, or -1 for a right shift of a negative */
static int64_t i_shl(int64_t x, int64_t y, mx_dtype t) {
  int bits = (int)mx_dtype_size(t) * 8;
  if (y < 0 || y >= bits) return 0;
  return (int64_t)((uint64_t)x << y);
}
static int64_t i_shr(int64_t x, int64_t y, mx_dtype t) {
  int bits = (int)mx_dtype_size(t) * 8;
  if (y < 0 || y >= bits) return x < 0 && !is_unsigned(t) ? -1 : 0;
  if (is_unsigned(t)) return (int64_t)((uint64_t)x >> y);
  return x < 0 ? -(((-x) - 1) >> y) - 1 : x >> y; /* floor(x / 2^y) */
}

static double complex c_add(double complex x, double complex y) { return x + y; }
static double complex c_sub(double complex x, double complex y) { return x - y; }
static double complex c_mul(double complex x, double complex y) { return x * y; }
static double complex c_div(double complex x, double complex y) { return x / y; }
static double complex c_pow(double complex x, double complex y) { return cpow(x, y); }

typedef enum {
  C_ARITH, /* promote; ints exact */
  C_FLOAT, /* at least float32 */
  C_CMP,   /* bool out */
  C_LOGIC, /* any dtype, bool out */
  C_BITS,  /* integers and bool */
  C_SHIFT  /* integers and bool (bool -> uint8) */
} op_class;

typedef struct {
  const char *name;
  mx_array *(*fn)(mx_array *, mx_array *);
  op_class cls;
  double (*fref)(double, double, mx_dtype);
  int64_t (*iref)(int64_t, int64_t, mx_dtype);
  double alo, ahi, blo, bhi;
  double kf32, kf64;
  bool bool_ok;
  double complex (*cref)(double complex, double complex);
} bop;

static const bop k_ops[] = {
    {"add", mx_add, C_ARITH, f_add, i_add, -50, 50, -50, 50, 1, 1, true, c_add},
    {"subtract", mx_subtract, C_ARITH, f_sub, i_sub, -50, 50, -50, 50, 1, 1, true, c_sub},
    {"multiply", mx_multiply, C_ARITH, f_mul, i_mul, -11, 11, -11, 11, 1, 1, true, c_mul},
    {"divide", mx_divide, C_FLOAT, f_div, NULL, -50, 50, -5, 5, 1, 1, true, c_div},
    {"floor_divide", mx_floor_divide, C_ARITH, f_fdiv, i_fdiv, -50, 50, -6, 6, 0, 0,
     false, NULL},
    {"remainder", mx_remainder, C_ARITH, f_rem, i_rem, -50, 50, -6, 6, 1, 1, false, NULL},
    {"power", mx_power, C_ARITH, f_pow, i_pow, 0.1, 4, -3, 5, 8, 4, true, c_pow},
    {"maximum", mx_maximum, C_ARITH, f_max, i_max, -50, 50, -50, 50, 0, 0, true, NULL},
    {"minimum", mx_minimum, C_ARITH, f_min, i_min, -50, 50, -50, 50, 0, 0, true, NULL},
    {"arctan2", mx_arctan2, C_FLOAT, f_atan2, NULL, -5, 5, -5, 5, 8, 4, true, NULL},
    {"logaddexp", mx_logaddexp, C_FLOAT, f_lae, NULL, -20, 20, -20, 20, 8, 4, true, NULL},
    {"equal", mx_equal, C_CMP, f_eq, i_eq, -3, 3, -3, 3, 0, 0, true, NULL},
    {"not_equal", mx_not_equal, C_CMP, f_ne, i_ne, -3, 3, -3, 3, 0, 0, true, NULL},
    {"less", mx_less, C_CMP, f_lt, i_lt, -3, 3, -3, 3, 0, 0, true, NULL},
    {"less_equal", mx_less_equal, C_CMP, f_le, i_le, -3, 3, -3, 3, 0, 0, true, NULL},
    {"greater", mx_greater, C_CMP, f_gt, i_gt, -3, 3, -3, 3, 0, 0, true, NULL},
    {"greater_equal", mx_greater_equal, C_CMP, f_ge, i_ge, -3, 3, -3, 3, 0, 0, true,
     NULL},
    {"logical_and", mx_logical_and, C_LOGIC, f_and, i_land, -2, 2, -2, 2, 0, 0, true,
     NULL},
    {"logical_or", mx_logical_or, C_LOGIC, f_or, i_lor, -2, 2, -2, 2, 0, 0, true, NULL},
    {"bitwise_and", mx_bitwise_and, C_BITS, NULL, i_band, -100, 100, -100, 100, 0, 0,
     true, NULL},
    {"bitwise_or", mx_bitwise_or, C_BITS, NULL, i_bor, -100, 100, -100, 100, 0, 0, true,
     NULL},
    {"bitwise_xor", mx_bitwise_xor, C_BITS, NULL, i_bxor, -100, 100, -100, 100, 0, 0,
     true, NULL},
    {"left_shift", mx_left_shift, C_SHIFT, NULL, i_shl, -100, 100, -2, 70, 0, 0, true,
     NULL},
    {"right_shift", mx_right_shift, C_SHIFT, NULL, i_shr, -100, 100, -2, 70, 0, 0, true,
     NULL},
};
#define N_OPS ((int)(sizeof k_ops / sizeof k_ops[0]))

/* ---- layouts of the two operands ---- */
typedef enum {
  B_SAME,     /* (5, 37) op (5, 37) */
  B_SCALAR_R, /* (5, 37) op 0-d */
  B_SCALAR_L, /* 0-d op (5, 37) */
  B_ROW,      /* (5, 37) op (37,) */
  B_OUTER,    /* (5, 1) op (1, 37) */
  B_STRIDED,  /* transposed (5, 37) op [:, ::-2] slice (5, 37) */
  B_ZERO,     /* full (70, 100) (stride 0) op (100,) */
  B_EMPTY,    /* (0, 37) op (37,) */
  B_SCALARS,  /* 0-d op 0-d */
  B_LARGE,    /* (70001,) op (70001,) */
  B_LARGE_S,  /* (70001,) op 0-d */
  B_COUNT
} blayout;
static const char *const k_bl_name[B_COUNT] = {
    "same",        "scalar right", "scalar left", "row",   "outer",       "strided",
    "zero-stride", "empty",        "0-d pair",    "large", "large scalar"};

static mx_array *rnd(mx_dtype t, const int *shape, int nd, double lo, double hi) {
  return t == MX_COMPLEX64 ? ew_rand_c(shape, nd, lo, hi)
                           : mxt_rand(shape, nd, t, lo, hi);
}

static void make_pair(blayout L, mx_dtype t, double alo, double ahi, double blo,
                      double bhi, mx_array **a, mx_array **b) {
  int s[2] = {5, 37}, r[1] = {37}, c[2] = {5, 1}, o[2] = {1, 37};
  int big[1] = {70001}, e[2] = {0, 37}, zs[2] = {70, 100}, zr[1] = {100};
  switch (L) {
    case B_SAME:
      *a = rnd(t, s, 2, alo, ahi);
      *b = rnd(t, s, 2, blo, bhi);
      break;
    case B_SCALAR_R:
      *a = rnd(t, s, 2, alo, ahi);
      *b = rnd(t, NULL, 0, blo, bhi);
      break;
    case B_SCALAR_L:
      *a = rnd(t, NULL, 0, alo, ahi);
      *b = rnd(t, s, 2, blo, bhi);
      break;
    case B_ROW:
      *a = rnd(t, s, 2, alo, ahi);
      *b = rnd(t, r, 1, blo, bhi);
      break;
    case B_OUTER:
      *a = rnd(t, c, 2, alo, ahi);
      *b = rnd(t, o, 2, blo, bhi);
      break;
    case B_STRIDED: {
      *a = mxt_noncontig(rnd(t, s, 2, alo, ahi));
      int w[2] = {5, 74};
      int start[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT};
      int stop[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT}, step[2] = {1, -2};
      *b = mx_slice(rnd(t, w, 2, blo, bhi), start, stop, step);
      break;
    }
    case B_ZERO: {
      mx_array *v = rnd(t, NULL, 0, alo, ahi);
      *a = mx_full_array(zs, 2, v); /* materialised: use broadcast_to for stride 0 */
      *a = mx_broadcast_to(v, zs, 2);
      *b = rnd(t, zr, 1, blo, bhi);
      break;
    }
    case B_EMPTY:
      *a = rnd(t, e, 2, alo, ahi);
      *b = rnd(t, r, 1, blo, bhi);
      break;
    case B_SCALARS:
      *a = rnd(t, NULL, 0, alo, ahi);
      *b = rnd(t, NULL, 0, blo, bhi);
      break;
    case B_LARGE:
      *a = rnd(t, big, 1, alo, ahi);
      *b = rnd(t, big, 1, blo, bhi);
      break;
    default:
      *a = rnd(t, big, 1, alo, ahi);
      *b = rnd(t, NULL, 0, blo, bhi);
      break;
  }
}

/* numpy broadcasting, written out */
static void bcast_shape(mx_array *a, mx_array *b, int *shape, int *nd) {
  int na = mx_array_ndim(a), nb = mx_array_ndim(b);
  *nd = na > nb ? na : nb;
  for (int i = 0; i < *nd; i++) {
    int da = i - (*nd - na) >= 0 ? mx_array_shape(a)[i - (*nd - na)] : 1;
    int db = i - (*nd - nb) >= 0 ? mx_array_shape(b)[i - (*nd - nb)] : 1;
    shape[i] = da == 1 ? db : da;
  }
}

/* flat index into x (row-major) of output element `flat` */
static int64_t src_index(int64_t flat, const int *oshape, int ond, mx_array *x) {
  int nx = mx_array_ndim(x);
  const int *xs = mx_array_shape(x);
  int64_t idx = 0, mul = 1;
  for (int d = ond - 1; d >= 0; d--) {
    int64_t i = flat % oshape[d];
    flat /= oshape[d];
    int xd = d - (ond - nx);
    if (xd >= 0) {
      if (xs[xd] != 1) idx += i * mul;
      mul *= xs[xd];
    }
  }
  return idx;
}

/* MLX's output dtype for op class on dtype t (both operands t) */
static mx_dtype out_dtype(op_class cls, mx_dtype t) {
  switch (cls) {
    case C_FLOAT:
      return mx_dtype_is_inexact(t) ? t : MX_FLOAT32;
    case C_CMP:
    case C_LOGIC:
      return MX_BOOL;
    case C_SHIFT:
      return t == MX_BOOL ? MX_UINT8 : t;
    default:
      return t;
  }
}

static bool op_takes(const bop *op, mx_dtype t) {
  if (t == MX_COMPLEX64) return op->cref != NULL;
  if (t == MX_BOOL && !op->bool_ok) return false;
  if (op->cls == C_BITS || op->cls == C_SHIFT) return !mx_dtype_is_inexact(t);
  return true;
}

static void run_binary(const bop *op, mx_dtype t, blayout L) {
  char what[160];
  snprintf(what, sizeof what, "%s %s %s", op->name, mx_dtype_name(t), k_bl_name[L]);
  double alo = op->alo, blo = op->blo;
  if (is_unsigned(t)) {
    if (alo < 0) alo = 0;
    if (blo < 0) blo = 0;
  }
  if (op->cls == C_SHIFT) {
    /* shift amounts up to a little past the width, values in range */
    double bits = (double)mx_dtype_size(t) * 8;
    if (op->bhi > bits + 3) {
      mx_array *a, *b;
      make_pair(L, t, alo, op->ahi, blo, bits + 3, &a, &b);
      goto have_pair;
    have_pair:;
      mx_array *r = op->fn(a, b);
      MXT_OK(r);
      if (!r) return;
      int shape[MX_MAX_NDIM], nd;
      bcast_shape(a, b, shape, &nd);
      int64_t n = mx_array_size(r);
      int64_t *x = ew_read_i64(a), *y = ew_read_i64(b);
      double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
      mx_dtype ot = out_dtype(op->cls, t);
      for (int64_t i = 0; i < n; i++)
        ref[i] = (double)ew_wrap(
            op->iref(x[src_index(i, shape, nd, a)], y[src_index(i, shape, nd, b)], ot),
            ot);
      MXT_CHECK(mx_array_dtype(r) == ot, "%s: dtype %s", what,
                mx_dtype_name(mx_array_dtype(r)));
      ew_check(r, ref, n, 0, 0, what);
      free(x), free(y), free(ref);
      return;
    }
  }
  mx_array *a, *b;
  make_pair(L, t, alo, op->ahi, blo, op->bhi, &a, &b);
  mx_array *r = op->fn(a, b);
  MXT_OK(r);
  if (!r) return;
  mx_dtype ot = out_dtype(op->cls, t);
  MXT_CHECK(mx_array_dtype(r) == ot, "%s: dtype %s", what,
            mx_dtype_name(mx_array_dtype(r)));
  int shape[MX_MAX_NDIM], nd;
  bcast_shape(a, b, shape, &nd);
  MXT_CHECK(mx_array_ndim(r) == nd &&
                memcmp(mx_array_shape(r), shape, sizeof(int) * (size_t)nd) == 0,
            "%s: shape %d-d", what, mx_array_ndim(r));
  int64_t n = mx_array_size(r);
  if (t == MX_COMPLEX64) {
    double complex *x = ew_read_c(a), *y = ew_read_c(b);
    if (op->cls == C_CMP) {
      double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
      for (int64_t i = 0; i < n; i++) {
        double complex u = x[src_index(i, shape, nd, a)],
                       v = y[src_index(i, shape, nd, b)];
        ref[i] = op->fn == mx_equal ? u == v : u != v;
      }
      ew_check(r, ref, n, 0, 0, what);
      free(ref);
    } else {
      double complex *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
      for (int64_t i = 0; i < n; i++)
        ref[i] = op->cref(x[src_index(i, shape, nd, a)], y[src_index(i, shape, nd, b)]);
      ew_check_c(r, ref, n, op->fn == mx_power ? 2e-6 : 4e-7, what);
      free(ref);
    }
    free(x), free(y);
    return;
  }
  double *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
  bool int_path = !mx_dtype_is_inexact(t) && op->iref;
  if (int_path) {
    int64_t *x = ew_read_i64(a), *y = ew_read_i64(b);
    mx_dtype wt = ot == MX_BOOL && op->cls == C_ARITH ? MX_BOOL : ot;
    for (int64_t i = 0; i < n; i++)
      ref[i] = (double)ew_wrap(
          op->iref(x[src_index(i, shape, nd, a)], y[src_index(i, shape, nd, b)], wt), wt);
    free(x), free(y);
  } else {
    double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
    for (int64_t i = 0; i < n; i++)
      ref[i] = op->fref(x[src_index(i, shape, nd, a)], y[src_index(i, shape, nd, b)], ot);
    free(x), free(y);
  }
  ew_check(r, ref, n, op->kf32, op->kf64, what);
  free(ref);
}

static void test_ops_all_dtypes_layouts(void) {
  for (int k = 0; k < N_OPS; k++)
    for (int d = 0; d < EW_NDTYPES; d++) {
      mx_dtype t = ew_all_dtypes[d];
      if (!op_takes(&k_ops[k], t)) continue;
      for (int L = 0; L < B_COUNT; L++) {
        if ((L == B_LARGE || L == B_LARGE_S) && !mx_dtype_is_floating(t) && t != MX_INT32)
          continue;
        mx_scope_begin();
        run_binary(&k_ops[k], t, (blayout)L);
        mx_scope_end();
      }
    }
}

/* Every pair of special values, float dtypes, all float-valued ops and
 * comparisons; at every SIMD level. */
static const double k_special[] = {NAN,   INFINITY, -INFINITY, 0.0,  -0.0,  1.0,    -1.0,
                                   0.5,   -2.5,     3.0,       1e-3, 100.0, -100.0, 1e30,
                                   1e-30, 1e-40,    65504.0,   6e-8, 7.0,   -7.0};
#define N_SP ((int)(sizeof k_special / sizeof k_special[0]))

static void test_special_pairs(void) {
  const mx_dtype fl[4] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  int shape_a[2] = {N_SP, 1}, shape_b[1] = {N_SP};
  for (int level = 0; level <= mx_simd_detected(); level++) {
    mx_simd_set_level(level);
    for (int d = 0; d < 4; d++)
      for (int k = 0; k < N_OPS; k++) {
        const bop *op = &k_ops[k];
        if (!op->fref || op->cls == C_LOGIC) continue;
        mx_scope_begin();
        mx_array *a =
            mx_astype(mx_array_from_data(k_special, shape_a, 2, MX_FLOAT64), fl[d]);
        mx_array *b =
            mx_astype(mx_array_from_data(k_special, shape_b, 1, MX_FLOAT64), fl[d]);
        double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
        double ref[N_SP * N_SP];
        for (int i = 0; i < N_SP; i++)
          for (int j = 0; j < N_SP; j++) ref[i * N_SP + j] = op->fref(x[i], y[j], fl[d]);
        char what[96];
        snprintf(what, sizeof what, "%s specials (simd %s)", op->name,
                 mx_simd_name(level));
        ew_check(op->fn(a, b), ref, N_SP * N_SP, op->kf32, op->kf64, what);
        /* and the contiguous, same-shape case (vector path, no scalar) */
        mx_array *bb = mx_contiguous(mx_broadcast_to(b, (int[]){N_SP, N_SP}, 2));
        mx_array *aa = mx_contiguous(mx_broadcast_to(a, (int[]){N_SP, N_SP}, 2));
        ew_check(op->fn(aa, bb), ref, N_SP * N_SP, op->kf32, op->kf64, what);
        free(x), free(y);
        mx_scope_end();
      }
  }
  mx_simd_set_level(99);
}

/* Vector paths against the plain C kernel: bit-identical. */
static void test_simd_paths(void) {
  mx_array *(*fns[6])(mx_array *, mx_array *) = {mx_add,    mx_subtract, mx_multiply,
                                                 mx_divide, mx_maximum,  mx_minimum};
  const char *names[6] = {"add", "subtract", "multiply", "divide", "maximum", "minimum"};
  const mx_dtype ts[3] = {MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16};
  const int lens[5] = {1, 17, 31, 1000, 70001};
  for (int f = 0; f < 6; f++)
    for (int d = 0; d < 3; d++)
      for (int li = 0; li < 5; li++)
        for (int form = 0; form < 3; form++) { /* vv, sv, vs */
          mx_scope_begin();
          int n = lens[li] + 1;
          /* random values with NaNs sprinkled in both operands (for
           * maximum/minimum), built on the host */
          double *va = malloc((size_t)n * sizeof *va),
                 *vb = malloc((size_t)n * sizeof *vb);
          for (int i = 0; i < n; i++) {
            va[i] = i % 13 == 5 ? NAN : mxt_uniform(-4, 4);
            vb[i] = i % 11 == 3 ? NAN : mxt_uniform(-4, 4);
          }
          mx_array *a = mx_astype(mx_array_from_data(va, &n, 1, MX_FLOAT64), ts[d]);
          mx_array *b = mx_astype(mx_array_from_data(vb, &n, 1, MX_FLOAT64), ts[d]);
          free(va), free(vb);
          a = mx_slice_axis(a, 0, 1, MX_SLICE_DEFAULT, 1); /* unaligned start */
          if (form == 1) a = mx_slice_axis(a, 0, 0, 1, 1), a = mx_reshape(a, NULL, 0);
          if (form == 2) b = mx_reshape(mx_slice_axis(b, 0, 0, 1, 1), NULL, 0);
          mx_eval1(a), mx_eval1(b);
          mx_simd_set_level(MX_SIMD_NONE);
          mx_array *base = fns[f](a, b);
          double *want = mxt_to_f64(base);
          for (int level = 1; level <= mx_simd_detected(); level++) {
            mx_simd_set_level(level);
            mx_array *r = fns[f](a, b);
            double *got = mxt_to_f64(r);
            for (int64_t i = 0; i < mx_array_size(r); i++)
              if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])))) {
                MXT_CHECK(0, "%s %s n=%d form %d simd %s: [%lld] %g vs C %g", names[f],
                          mx_dtype_name(ts[d]), n, form, mx_simd_name(level),
                          (long long)i, got[i], want[i]);
                break;
              }
            free(got);
          }
          free(want);
          mx_simd_set_level(99);
          mx_scope_end();
        }
}

/* Outputs past the non-temporal store threshold (32 MiB). */
static void test_streaming_stores(void) {
  int n = (33 << 20) / 2 + 5;
  mx_array *a = mxt_rand(&n, 1, MX_BFLOAT16, -8, 8);
  mx_array *b = mxt_rand(&n, 1, MX_BFLOAT16, -8, 8);
  mx_array *s = mx_add(mx_slice_axis(a, 0, 1, MX_SLICE_DEFAULT, 1),
                       mx_slice_axis(b, 0, 0, n - 1, 1));
  mx_array *m =
      mx_multiply(mx_astype(a, MX_FLOAT32), mx_array_scalar_f64(0.5, MX_FLOAT32));
  MXT_OK(s);
  MXT_OK(m);
  const uint16_t *av = mx_array_data(a), *bv = mx_array_data(b), *sv = mx_array_data(s);
  const float *mv = mx_array_data(m);
  if (!av || !bv || !sv || !mv) return;
  int bad = 0;
  for (int i = 0; i < n - 1 && !bad; i++) {
    float want =
        mx_bf16_to_f32(mx_f32_to_bf16(mx_bf16_to_f32(av[i + 1]) + mx_bf16_to_f32(bv[i])));
    if (mx_bf16_to_f32(sv[i]) != want) bad = 1;
  }
  for (int i = 0; i < n && !bad; i++)
    if (mv[i] != mx_bf16_to_f32(av[i]) * 0.5f) bad = 2;
  MXT_CHECK(bad == 0, "streaming add/multiply values (%d)", bad);
}

/* ---- numpy for the sign rules ---- */
static void test_numpy_floor_divide_remainder(void) {
  const mx_dtype ts[6] = {MX_INT8, MX_INT32, MX_INT64, MX_UINT8, MX_FLOAT32, MX_FLOAT64};
  const char *np_t[6] = {"int8", "int32", "int64", "uint8", "float32", "float64"};
  int sa[2] = {6, 40}, sb[1] = {40};
  for (int d = 0; d < 6; d++) {
    mx_scope_begin();
    bool flt = mx_dtype_is_floating(ts[d]);
    double lo = ts[d] == MX_UINT8 ? 0 : -60;
    mx_array *a = mxt_rand(sa, 2, ts[d], lo, 60);
    mx_array *b = mxt_rand(sb, 1, ts[d], lo, 9);
    /* no zero divisors here (numpy warns); they have their own test */
    b = mx_where(mx_equal(b, mx_zeros(NULL, 0, ts[d])), mx_full(NULL, 0, -3, ts[d]), b);
    if (ts[d] == MX_UINT8)
      b = mx_where(mx_equal(b, mx_zeros(NULL, 0, ts[d])), mx_ones(NULL, 0, ts[d]), b);
    mxt_named in[2] = {{"a", a}, {"b", b}};
    for (int which = 0; which < 2; which++) {
      char code[256];
      snprintf(code, sizeof code,
               "x = A['a'].astype(np.%s); y = A['b'].astype(np.%s)\n"
               "R['r'] = (np.floor_divide(x, y) if %d == 0 else np.remainder(x, "
               "y)).astype(np.float64)",
               np_t[d], np_t[d], which);
      double *ref = NULL;
      int64_t nref = 0;
      if (!mxt_numpy(code, in, 2, "r", &ref, &nref)) break;
      mx_array *r = which == 0 ? mx_floor_divide(a, b) : mx_remainder(a, b);
      char what[64];
      snprintf(what, sizeof what, "%s %s vs numpy", which ? "remainder" : "floor_divide",
               mx_dtype_name(ts[d]));
      MXT_CHECK(r && mx_array_dtype(r) == ts[d], "%s dtype", what);
      /* numpy's float floor_divide works from fmod; MLX floors the quotient:
       * they agree except at quotients a rounding away from an integer */
      ew_check(r, ref, nref, flt ? 2 : 0, 2, what);
      free(ref);
    }
    mx_scope_end();
  }
}

static void test_numpy_shifts(void) {
  int s[1] = {200};
  const mx_dtype ts[3] = {MX_INT32, MX_UINT8, MX_INT16};
  const char *np_t[3] = {"int32", "uint8", "int16"};
  for (int d = 0; d < 3; d++) {
    mx_scope_begin();
    double lo = ts[d] == MX_UINT8 ? 0 : -1000;
    mx_array *a = mxt_rand(s, 1, ts[d], lo, 1000);
    mx_array *b = mxt_rand(s, 1, ts[d], 0, (double)mx_dtype_size(ts[d]) * 8);
    mxt_named in[2] = {{"a", a}, {"b", b}};
    for (int which = 0; which < 2; which++) {
      char code[256];
      snprintf(code, sizeof code,
               "x = A['a'].astype(np.%s); y = A['b'].astype(np.%s)\n"
               "R['r'] = (np.left_shift(x, y) if %d == 0 else np.right_shift(x, "
               "y)).astype(np.float64)",
               np_t[d], np_t[d], which);
      double *ref = NULL;
      int64_t nref = 0;
      if (!mxt_numpy(code, in, 2, "r", &ref, &nref)) break;
      mx_array *r = which == 0 ? mx_left_shift(a, b) : mx_right_shift(a, b);
      ew_check(r, ref, nref, 0, 0,
               which ? "right_shift vs numpy" : "left_shift vs numpy");
      free(ref);
    }
    mx_scope_end();
  }
}

/* ---- integer edges ---- */
static void test_integer_edges(void) {
  int n = 4;
  int8_t a8[4] = {127, -128, -7, 7}, b8[4] = {1, -1, 2, -2};
  mx_array *a = mx_array_from_data(a8, &n, 1, MX_INT8),
           *b = mx_array_from_data(b8, &n, 1, MX_INT8);
  int8_t o[4];
  mx_array_read(mx_add(a, b), MX_INT8, o, 4);
  MXT_CHECK(o[0] == -128 && o[1] == 127 && o[2] == -5 && o[3] == 5, "int8 add wraps");
  mx_array_read(mx_multiply(a, b), MX_INT8, o, 4);
  MXT_CHECK(o[0] == 127 && o[1] == -128 && o[2] == -14, "int8 mul wraps");
  mx_array_read(mx_floor_divide(a, b), MX_INT8, o, 4);
  MXT_CHECK(o[0] == 127 && o[1] == -128 && o[2] == -4 && o[3] == -4,
            "int8 floor_divide (min // -1 wraps): %d %d %d %d", o[0], o[1], o[2], o[3]);
  mx_array_read(mx_remainder(a, b), MX_INT8, o, 4);
  MXT_CHECK(o[0] == 0 && o[1] == 0 && o[2] == 1 && o[3] == -1, "int8 remainder signs");
  int64_t a64[3] = {INT64_MIN, INT64_MAX, -9}, b64[3] = {-1, 2, 0};
  n = 3;
  mx_array *c = mx_array_from_data(a64, &n, 1, MX_INT64),
           *e = mx_array_from_data(b64, &n, 1, MX_INT64);
  int64_t o64[3];
  mx_array_read(mx_floor_divide(c, e), MX_INT64, o64, sizeof o64);
  MXT_CHECK(o64[0] == INT64_MIN && o64[1] == INT64_MAX / 2 && o64[2] == 0,
            "int64 floor_divide: min // -1 wraps, x // 0 = 0");
  mx_array_read(mx_remainder(c, e), MX_INT64, o64, sizeof o64);
  MXT_CHECK(o64[0] == 0 && o64[1] == 1 && o64[2] == 0, "int64 remainder, x %% 0 = 0");
  mx_array_read(mx_add(c, mx_array_scalar_i64(-1, MX_INT64)), MX_INT64, o64, sizeof o64);
  MXT_CHECK(o64[0] == INT64_MAX, "int64 add wraps");
  uint8_t u[3] = {0, 255, 7}, v[3] = {1, 1, 0};
  mx_array *p = mx_array_from_data(u, &n, 1, MX_UINT8),
           *q = mx_array_from_data(v, &n, 1, MX_UINT8);
  uint8_t uo[3];
  mx_array_read(mx_subtract(p, q), MX_UINT8, uo, 3);
  MXT_CHECK(uo[0] == 255 && uo[1] == 254 && uo[2] == 7, "uint8 subtract wraps");
  mx_array_read(mx_floor_divide(p, q), MX_UINT8, uo, 3);
  MXT_CHECK(uo[2] == 0, "uint8 x // 0 = 0");
  /* integer power: wraps; negative exponents give 0 (MLX) */
  int32_t pb[5] = {2, 3, -2, 1, 0}, pe[5] = {31, -1, 3, -5, 0};
  n = 5;
  int32_t po[5];
  mx_array_read(mx_power(mx_array_from_data(pb, &n, 1, MX_INT32),
                         mx_array_from_data(pe, &n, 1, MX_INT32)),
                MX_INT32, po, sizeof po);
  MXT_CHECK(po[0] == INT32_MIN && po[1] == 0 && po[2] == -8 && po[3] == 0 && po[4] == 1,
            "int power: %d %d %d %d %d", po[0], po[1], po[2], po[3], po[4]);
  /* integer division of ints is true division in float32 */
  mx_array *dv =
      mx_divide(mx_array_scalar_i64(7, MX_INT32), mx_array_scalar_i64(2, MX_INT32));
  MXT_CHECK(dv && mx_array_dtype(dv) == MX_FLOAT32 && mx_array_item_f64(dv) == 3.5,
            "7 / 2");
  mx_array *dz =
      mx_divide(mx_array_scalar_i64(1, MX_INT8), mx_array_scalar_i64(0, MX_INT8));
  MXT_CHECK(dz && isinf(mx_array_item_f64(dz)), "1 / 0 = inf");
}

/* ---- dtype promotion ---- */
static void test_promotion(void) {
  struct {
    mx_array *(*fn)(mx_array *, mx_array *);
    mx_dtype a, b, out;
  } cases[] = {
      /* MLX's documented results */
      {mx_add, MX_INT32, MX_FLOAT16, MX_FLOAT16},
      {mx_add, MX_UINT8, MX_INT8, MX_INT16},
      {mx_add, MX_UINT64, MX_INT8, MX_FLOAT32},
      {mx_add, MX_BFLOAT16, MX_FLOAT16, MX_FLOAT32},
      {mx_add, MX_BOOL, MX_BOOL, MX_BOOL},
      {mx_add, MX_BOOL, MX_FLOAT32, MX_FLOAT32},
      {mx_multiply, MX_UINT32, MX_INT32, MX_INT64},
      {mx_add, MX_FLOAT32, MX_COMPLEX64, MX_COMPLEX64},
      {mx_divide, MX_INT32, MX_INT32, MX_FLOAT32},
      {mx_divide, MX_FLOAT16, MX_INT32, MX_FLOAT16},
      {mx_divide, MX_INT64, MX_FLOAT64, MX_FLOAT64},
      {mx_arctan2, MX_INT8, MX_UINT8, MX_FLOAT32},
      {mx_logaddexp, MX_BFLOAT16, MX_BOOL, MX_BFLOAT16},
      {mx_floor_divide, MX_INT32, MX_INT32, MX_INT32},
      {mx_floor_divide, MX_INT32, MX_FLOAT32, MX_FLOAT32},
      {mx_remainder, MX_UINT8, MX_INT8, MX_INT16},
      {mx_power, MX_INT32, MX_INT64, MX_INT64},
      {mx_equal, MX_INT32, MX_FLOAT32, MX_BOOL},
      {mx_less, MX_UINT8, MX_INT8, MX_BOOL},
      {mx_logical_and, MX_FLOAT32, MX_INT32, MX_BOOL},
      {mx_logical_or, MX_COMPLEX64, MX_BOOL, MX_BOOL},
      {mx_bitwise_and, MX_UINT8, MX_INT8, MX_INT16},
      {mx_bitwise_or, MX_BOOL, MX_BOOL, MX_BOOL},
      {mx_left_shift, MX_BOOL, MX_BOOL, MX_UINT8},
      {mx_right_shift, MX_BOOL, MX_INT8, MX_INT8},
      {mx_maximum, MX_INT8, MX_FLOAT16, MX_FLOAT16},
  };
  int shape[2] = {3, 4};
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
    mx_scope_begin();
    mx_array *a = mxt_rand(shape, 2, cases[i].a, 1, 5),
             *b = mxt_rand(shape + 1, 1, cases[i].b, 1, 5);
    mx_array *r = cases[i].fn(a, b);
    MXT_CHECK(r && mx_array_dtype(r) == cases[i].out, "case %d: %s, %s -> %s", i,
              mx_dtype_name(cases[i].a), mx_dtype_name(cases[i].b),
              r ? mx_dtype_name(mx_array_dtype(r)) : mx_last_error());
    MXT_CHECK(r && mx_eval1(r) == MX_OK, "case %d eval", i);
    mx_clear_error();
    mx_scope_end();
  }
  /* values: operands are converted to the common dtype first */
  for (int da = 0; da < EW_NDTYPES - 1; da++)
    for (int db = 0; db < EW_NDTYPES - 1; db++) {
      mx_scope_begin();
      mx_dtype ta = ew_all_dtypes[da], tb = ew_all_dtypes[db],
               t = mx_promote_types(ta, tb);
      mx_array *a = mxt_rand(shape, 2, ta, 0, 100),
               *b = mxt_rand(shape + 1, 1, tb, 0, 100);
      mx_array *r = mx_add(a, b);
      MXT_CHECK(r && mx_array_dtype(r) == t, "add %s %s dtype", mx_dtype_name(ta),
                mx_dtype_name(tb));
      double *x = mxt_to_f64(mx_astype(a, t)), *y = mxt_to_f64(mx_astype(b, t));
      double ref[12];
      for (int i = 0; i < 12; i++)
        ref[i] = t == MX_BOOL ? (x[i] || y[i % 4]) : x[i] + y[i % 4];
      char what[64];
      snprintf(what, sizeof what, "add %s %s", mx_dtype_name(ta), mx_dtype_name(tb));
      ew_check(r, ref, 12, 1, 1, what);
      free(x), free(y);
      mx_scope_end();
    }
}

/* ---- isclose, allclose, array_equal ---- */
static double r_isclose(double x, double y, double rtol, double atol, bool en) {
  if (isnan(x) || isnan(y)) return en && isnan(x) && isnan(y);
  if (isinf(x) || isinf(y)) return x == y;
  return fabs(x - y) <= atol + rtol * fabs(y);
}

static void test_isclose_allclose(void) {
  const mx_dtype ts[6] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16,
                          MX_FLOAT64, MX_INT32,   MX_UINT8};
  int sa[2] = {6, 30}, sb[1] = {30};
  for (int d = 0; d < 6; d++)
    for (int en = 0; en < 2; en++) {
      mx_scope_begin();
      mx_array *a = mxt_rand(sa, 2, ts[d], 0, 10);
      /* b = a's first row, nudged: some close, some not */
      mx_array *b = mx_add(mx_slice_axis(a, 0, 0, 1, 1), mxt_rand(sb, 1, ts[d], 0, 1.02));
      b = mx_reshape(b, sb, 1);
      double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
      double ref[180];
      bool all = true;
      for (int i = 0; i < 180; i++) {
        ref[i] = r_isclose(x[i], y[i % 30], 1e-2, 1e-3, en);
        all = all && ref[i];
      }
      mx_array *r = mx_isclose(a, b, 1e-2, 1e-3, en);
      MXT_CHECK(r && mx_array_dtype(r) == MX_BOOL, "isclose dtype");
      ew_check(r, ref, 180, 0, 0, "isclose");
      mx_array *ac = mx_allclose(a, b, 1e-2, 1e-3, en);
      MXT_CHECK(ac && mx_array_ndim(ac) == 0 && mx_array_dtype(ac) == MX_BOOL,
                "allclose 0-d bool");
      MXT_CHECK(ac && (mx_array_item_f64(ac) != 0) == all, "allclose value");
      /* a row is close to itself */
      mx_array *row = mx_slice_axis(a, 0, 2, 3, 1);
      mx_array *ok = mx_allclose(mxt_noncontig(mx_add(row, mx_zeros(sa, 2, ts[d]))), row,
                                 0, 0, false);
      MXT_CHECK(ok && mx_array_item_f64(ok) == 1, "allclose broadcast identical");
      free(x), free(y);
      mx_scope_end();
    }
  /* special values (MLX's rules) */
  double xa[7] = {INFINITY, INFINITY, -INFINITY, NAN, NAN, 1.0, 1e10};
  double xb[7] = {INFINITY, -INFINITY, -INFINITY, NAN, 1.0, NAN, 1.00001e10};
  int n = 7;
  mx_array *a = mx_array_from_data(xa, &n, 1, MX_FLOAT64),
           *b = mx_array_from_data(xb, &n, 1, MX_FLOAT64);
  double ref[7];
  for (int en = 0; en < 2; en++) {
    for (int i = 0; i < 7; i++) ref[i] = r_isclose(xa[i], xb[i], 1e-5, 1e-8, en);
    ew_check(mx_isclose(a, b, 1e-5, 1e-8, en), ref, 7, 0, 0, "isclose specials");
  }
  MXT_CHECK(ref[0] == 1 && ref[1] == 0 && ref[3] == 1 && ref[6] == 1, "reference sanity");
  mx_array *e = mx_allclose(mx_zeros((int[]){0}, 1, MX_FLOAT32),
                            mx_ones(NULL, 0, MX_FLOAT32), 0, 0, false);
  MXT_CHECK(e && mx_array_item_f64(e) == 1, "allclose of empty is true");
  MXT_CHECK(mx_allclose(mx_zeros((int[]){2, 3}, 2, MX_FLOAT32),
                        mx_zeros((int[]){4}, 1, MX_FLOAT32), 1e-5, 1e-8, false) == NULL &&
                strstr(mx_last_error(), "[allclose]"),
            "allclose shape error: %s", mx_last_error());
  mx_clear_error();
  /* complex isclose */
  float cz[4] = {1, 2, 1, 2.00001f}, cw[4] = {1, 2, 1, 2.1f};
  int two = 2;
  mx_array *ca = mx_array_from_data(cz, &two, 1, MX_COMPLEX64),
           *cb = mx_array_from_data(cw, &two, 1, MX_COMPLEX64);
  uint8_t o[2];
  mx_array_read(mx_isclose(ca, cb, 1e-3, 0, false), MX_BOOL, o, 2);
  MXT_CHECK(o[0] == 1 && o[1] == 0, "complex isclose");
}

static void test_array_equal(void) {
  int s[2] = {4, 9};
  const mx_dtype ts[5] = {MX_FLOAT32, MX_INT64, MX_BFLOAT16, MX_BOOL, MX_COMPLEX64};
  for (int d = 0; d < 5; d++) {
    mx_scope_begin();
    mx_array *a = rnd(ts[d], s, 2, -5, 5);
    mx_array *b = mxt_noncontig(mx_copy(a));
    mx_array *eq = mx_array_equal(a, b, false);
    MXT_CHECK(eq && mx_array_ndim(eq) == 0 && mx_array_dtype(eq) == MX_BOOL &&
                  mx_array_item_f64(eq) == 1,
              "array_equal %s identical", mx_dtype_name(ts[d]));
    /* flip one element */
    mx_array *c = mx_where(
        mx_equal(mx_arange(0, 36, 1, MX_INT32), mx_array_scalar_i64(17, MX_INT32)),
        mx_logical_not(mx_reshape(a, (int[]){36}, 1)), mx_reshape(a, (int[]){36}, 1));
    c = mx_reshape(mx_astype(c, ts[d]), s, 2);
    MXT_CHECK(mx_array_item_f64(mx_array_equal(a, c, false)) == 0 ||
                  ts[d] == MX_COMPLEX64 /* logical_not of complex: core astype */,
              "array_equal %s differs", mx_dtype_name(ts[d]));
    mx_scope_end();
  }
  /* different shapes: false, no error; broadcastable shapes too */
  mx_array *a = mx_ones((int[]){2, 3}, 2, MX_FLOAT32);
  mx_array *r = mx_array_equal(a, mx_ones((int[]){3}, 1, MX_FLOAT32), false);
  MXT_CHECK(r && mx_array_item_f64(r) == 0 && mx_last_status() == MX_OK,
            "shape mismatch -> false");
  r = mx_array_equal(a, mx_ones((int[]){3, 2}, 2, MX_FLOAT32), false);
  MXT_CHECK(r && mx_array_item_f64(r) == 0, "(2,3) vs (3,2) -> false");
  /* dtypes promote: int ones equal float ones */
  r = mx_array_equal(a, mx_ones((int[]){2, 3}, 2, MX_INT32), false);
  MXT_CHECK(r && mx_array_item_f64(r) == 1, "int vs float");
  /* NaN */
  double nv[3] = {1, NAN, 2};
  int n = 3;
  mx_array *x = mx_array_from_data(nv, &n, 1, MX_FLOAT64);
  MXT_CHECK(mx_array_item_f64(mx_array_equal(x, x, false)) == 0, "NaN != NaN");
  MXT_CHECK(mx_array_item_f64(mx_array_equal(x, x, true)) == 1, "equal_nan");
  /* empty arrays of the same shape are equal; 0-d */
  MXT_CHECK(
      mx_array_item_f64(mx_array_equal(mx_zeros((int[]){0, 2}, 2, MX_INT8),
                                       mx_ones((int[]){0, 2}, 2, MX_INT8), false)) == 1,
      "empty equal");
  MXT_CHECK(
      mx_array_item_f64(mx_array_equal(mx_array_scalar_f64(2, MX_FLOAT16),
                                       mx_array_scalar_i64(2, MX_UINT8), false)) == 1,
      "0-d equal");
}

/* ---- where, clip ---- */
static void test_where(void) {
  for (int d = 0; d < EW_NDTYPES; d++) {
    mx_dtype t = ew_all_dtypes[d];
    for (int L = 0; L < 4; L++) {
      mx_scope_begin();
      int sc[2] = {5, 1}, sx[1] = {37}, sy[2] = {5, 37};
      mx_array *c =
          mxt_rand(sc, 2, L == 3 ? MX_FLOAT32 : MX_BOOL, -1, 1); /* float cond: != 0 */
      mx_array *x = rnd(t, sx, 1, -9, 9);
      mx_array *y = L == 1 ? rnd(t, NULL, 0, -9, 9) : rnd(t, sy, 2, -9, 9);
      if (L == 2) y = mxt_noncontig(y), c = mx_broadcast_to(c, sy, 2);
      mx_array *r = mx_where(c, x, y);
      MXT_OK(r);
      if (!r) {
        mx_scope_end();
        continue;
      }
      MXT_CHECK(mx_array_dtype(r) == t && mx_array_size(r) == 185, "where %s meta",
                mx_dtype_name(t));
      int oshape[2] = {5, 37};
      double *cv = mxt_to_f64(c);
      char what[64];
      snprintf(what, sizeof what, "where %s layout %d", mx_dtype_name(t), L);
      if (t == MX_COMPLEX64) {
        double complex *xv = ew_read_c(x), *yv = ew_read_c(y), ref[185];
        for (int i = 0; i < 185; i++)
          ref[i] = cv[src_index(i, oshape, 2, c)] != 0 ? xv[src_index(i, oshape, 2, x)]
                                                       : yv[src_index(i, oshape, 2, y)];
        ew_check_c(r, ref, 185, 0, what);
        free(xv), free(yv);
      } else {
        double *xv = mxt_to_f64(x), *yv = mxt_to_f64(y), ref[185];
        for (int i = 0; i < 185; i++)
          ref[i] = cv[src_index(i, oshape, 2, c)] != 0 ? xv[src_index(i, oshape, 2, x)]
                                                       : yv[src_index(i, oshape, 2, y)];
        ew_check(r, ref, 185, 0, 0, what);
        free(xv), free(yv);
      }
      free(cv);
      mx_scope_end();
    }
  }
  /* promotion of x and y; large zero-stride operands */
  mx_array *r = mx_where(mx_array_scalar_bool(true), mx_array_scalar_i64(3, MX_INT8),
                         mx_array_scalar_f64(0.5, MX_FLOAT16));
  MXT_CHECK(r && mx_array_dtype(r) == MX_FLOAT16 && mx_array_item_f64(r) == 3,
            "where promote");
  int big[1] = {100000};
  mx_array *c =
      mx_less(mx_arange(0, 100000, 1, MX_INT32), mx_array_scalar_i64(50000, MX_INT32));
  r = mx_where(c, mx_full(big, 1, 1, MX_FLOAT32), mx_full(big, 1, 2, MX_FLOAT32));
  const float *rv = mx_array_data(r);
  MXT_CHECK(rv && rv[0] == 1 && rv[49999] == 1 && rv[50000] == 2 && rv[99999] == 2,
            "where large");
  MXT_CHECK(mx_where(mx_ones((int[]){2}, 1, MX_BOOL), mx_ones((int[]){3}, 1, MX_FLOAT32),
                     mx_ones(NULL, 0, MX_FLOAT32)) == NULL &&
                strstr(mx_last_error(), "[where]"),
            "where shape error");
  mx_clear_error();
  MXT_CHECK(
      mx_array_size(mx_where(mx_zeros((int[]){0}, 1, MX_BOOL), mx_ones(NULL, 0, MX_INT32),
                             mx_ones(NULL, 0, MX_INT32))) == 0,
      "where empty");
}

static void test_clip(void) {
  int s[2] = {5, 37}, row[1] = {37};
  const mx_dtype ts[5] = {MX_FLOAT32, MX_BFLOAT16, MX_INT32, MX_UINT8, MX_FLOAT64};
  for (int d = 0; d < 5; d++)
    for (int which = 0; which < 3; which++) {
      mx_scope_begin();
      mx_dtype t = ts[d];
      mx_array *a = mxt_noncontig(mxt_rand(s, 2, t, 0, 100));
      mx_array *lo = mxt_rand(NULL, 0, t, 20, 40), *hi = mxt_rand(row, 1, t, 50, 90);
      mx_array *r = mx_clip(a, which == 2 ? NULL : lo, which == 1 ? NULL : hi);
      MXT_CHECK(r && mx_array_dtype(r) == t, "clip dtype");
      double *x = mxt_to_f64(a), *l = mxt_to_f64(lo), *h = mxt_to_f64(hi), ref[185];
      for (int i = 0; i < 185; i++) {
        double v = x[i];
        if (which != 2 && v < l[0]) v = l[0];
        if (which != 1 && v > h[i % 37]) v = h[i % 37];
        ref[i] = v;
      }
      char what[64];
      snprintf(what, sizeof what, "clip %s mode %d", mx_dtype_name(t), which);
      ew_check(r, ref, 185, 0, 0, what);
      free(x), free(l), free(h);
      mx_scope_end();
    }
  /* bounds promote: int array, float bounds -> float32 */
  mx_array *r =
      mx_clip(mx_arange(0, 10, 1, MX_INT32), mx_array_scalar_f64(2.5, MX_FLOAT32), NULL);
  MXT_CHECK(r && mx_array_dtype(r) == MX_FLOAT32, "clip promotes");
  double v[10];
  mx_array_read(r, MX_FLOAT64, v, sizeof v);
  MXT_CHECK(v[0] == 2.5 && v[3] == 3, "clip values");
  MXT_CHECK(mx_clip(mx_ones(NULL, 0, MX_FLOAT32), NULL, NULL) == NULL &&
                strstr(mx_last_error(), "[clip]"),
            "clip with no bounds");
  mx_clear_error();
}

/* ---- layouts: permuted outputs and tiled mixed iteration ---- */

/* x: (D0, D1, D2) values at [i, j, k] = f(i, j, k), built contiguous in
 * the axis order `perm` and transposed back: a dense, permuted layout. */
static mx_array *permuted(const int *shape, const int *perm, mx_dtype t, double lo,
                          double hi) {
  int ps[3] = {shape[perm[0]], shape[perm[1]], shape[perm[2]]};
  mx_array *c = mxt_rand(ps, 3, t, lo, hi);
  mx_eval1(c);
  int inv[3];
  for (int i = 0; i < 3; i++) inv[perm[i]] = i;
  return mx_transpose(c, inv, 3);
}

static void test_layouts(void) {
  int shape[3] = {3, 40, 70};
  const int perms[4][3] = {{0, 2, 1}, {2, 1, 0}, {1, 0, 2}, {0, 1, 2}};
  const mx_dtype ts[3] = {MX_FLOAT32, MX_BFLOAT16, MX_INT32};
  for (int d = 0; d < 3; d++)
    for (int pa = 0; pa < 4; pa++)
      for (int pb = 0; pb < 4; pb++) {
        mx_scope_begin();
        mx_array *a = permuted(shape, perms[pa], ts[d], -9, 9);
        mx_array *b = permuted(shape, perms[pb], ts[d], -9, 9);
        double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
        int64_t n = 3 * 40 * 70;
        double *ref = malloc((size_t)n * sizeof *ref);
        char what[96];
        /* binary: same permutation -> permuted output; mixed -> tiles */
        for (int64_t i = 0; i < n; i++) ref[i] = x[i] - y[i];
        snprintf(what, sizeof what, "subtract %s perms %d %d", mx_dtype_name(ts[d]), pa,
                 pb);
        mx_array *r = mx_subtract(a, b);
        ew_check(r, ref, n, 1, 1, what);
        /* the result (maybe permuted) feeds another op with a row-major one */
        mx_array *row = mxt_rand(shape, 3, ts[d], -9, 9);
        double *z = mxt_to_f64(row);
        /* a - b is rounded to the dtype before the product */
        for (int64_t i = 0; i < n; i++) ref[i] = round_to(x[i] - y[i], ts[d]) * z[i];
        snprintf(what, sizeof what, "(a - b) * c %s perms %d %d", mx_dtype_name(ts[d]),
                 pa, pb);
        ew_check(mx_multiply(r, row), ref, n, 1, 1, what);
        /* unary on a permuted input, then broadcast against a row */
        mx_array *rowv = mxt_rand(shape + 2, 1, ts[d], -9, 9);
        double *v = mxt_to_f64(rowv);
        for (int64_t i = 0; i < n; i++) ref[i] = fabs(x[i]) + v[i % 70];
        snprintf(what, sizeof what, "abs(a) + row %s perm %d", mx_dtype_name(ts[d]), pa);
        ew_check(mx_add(mx_abs(a), rowv), ref, n, 1, 1, what);
        /* select over mixed layouts */
        mx_array *c = mx_greater(a, mx_zeros(NULL, 0, ts[d]));
        for (int64_t i = 0; i < n; i++) ref[i] = x[i] > 0 ? y[i] : z[i];
        snprintf(what, sizeof what, "where %s perms %d %d", mx_dtype_name(ts[d]), pa, pb);
        ew_check(mx_where(c, b, row), ref, n, 0, 0, what);
        free(x), free(y), free(z), free(v), free(ref);
        mx_scope_end();
      }
  /* a large transposed operand against a row-major one, split across the
   * pool in tiles (sizes not multiples of the tile) */
  int s2[2] = {300, 530}, s2t[2] = {530, 300};
  mx_array *a = mx_transpose(mxt_rand(s2t, 2, MX_FLOAT32, -1, 1), NULL, 0);
  mx_array *b = mxt_rand(s2, 2, MX_FLOAT32, -1, 1);
  double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
  double *ref = malloc(300 * 530 * sizeof *ref);
  for (int i = 0; i < 300 * 530; i++) ref[i] = x[i] + y[i];
  ew_check(mx_add(a, b), ref, 300 * 530, 1, 1, "large tiled add");
  ew_check(mx_add(b, a), ref, 300 * 530, 1, 1, "large tiled add (swapped)");
  free(x), free(y), free(ref);
}

/* ---- complex-specific ---- */
static void test_complex_misc(void) {
  float z[4] = {1, 2, 3, -4}, w[4] = {1, 2, 0, 0};
  int n = 2;
  mx_array *a = mx_array_from_data(z, &n, 1, MX_COMPLEX64),
           *b = mx_array_from_data(w, &n, 1, MX_COMPLEX64);
  uint8_t o[2];
  mx_array_read(mx_equal(a, b), MX_BOOL, o, 2);
  MXT_CHECK(o[0] == 1 && o[1] == 0, "complex equal");
  mx_array_read(mx_not_equal(a, b), MX_BOOL, o, 2);
  MXT_CHECK(o[0] == 0 && o[1] == 1, "complex not_equal");
  /* real + complex promotes to complex64 */
  mx_array *r = mx_add(a, mx_array_scalar_f64(1, MX_FLOAT32));
  float out[4];
  mx_array_read(r, MX_COMPLEX64, out, sizeof out);
  MXT_CHECK(mx_array_dtype(r) == MX_COMPLEX64 && out[0] == 2 && out[1] == 2 &&
                out[2] == 4 && out[3] == -4,
            "complex + real");
  /* division by zero */
  r = mx_divide(a, b);
  mx_array_read(r, MX_COMPLEX64, out, sizeof out);
  MXT_CHECK(out[0] == 1 && out[1] == 0 && (isinf(out[2]) || isnan(out[2])),
            "complex / 0");
}

/* ---- errors ---- */
static void expect_error(mx_array *r, const char *tag) {
  MXT_CHECK(r == NULL, "%s: expected NULL", tag);
  MXT_CHECK(strstr(mx_last_error(), tag) != NULL, "%s: message '%s'", tag,
            mx_last_error());
  mx_clear_error();
}

static void test_errors(void) {
  int s[1] = {3};
  mx_array *f = mx_ones(s, 1, MX_FLOAT32), *i = mx_ones(s, 1, MX_INT32);
  mx_array *c = mx_ones(s, 1, MX_COMPLEX64), *h = mx_ones(s, 1, MX_BFLOAT16);
  expect_error(mx_bitwise_and(f, f), "[bitwise_and]");
  expect_error(mx_bitwise_or(i, f), "[bitwise_or]");
  expect_error(mx_bitwise_xor(h, i), "[bitwise_xor]");
  expect_error(mx_left_shift(f, i), "[left_shift]");
  expect_error(mx_right_shift(i, c), "[right_shift]");
  mx_array *(*no_complex[])(mx_array *, mx_array *) = {
      mx_floor_divide, mx_remainder, mx_maximum,    mx_minimum, mx_arctan2,
      mx_logaddexp,    mx_less,      mx_less_equal, mx_greater, mx_greater_equal};
  const char *tags[] = {"[floor_divide]", "[remainder]",    "[maximum]", "[minimum]",
                        "[arctan2]",      "[logaddexp]",    "[less]",    "[less_equal]",
                        "[greater]",      "[greater_equal]"};
  for (int k = 0; k < 10; k++) expect_error(no_complex[k](c, f), tags[k]);
  mx_array *m = mx_ones((int[]){4}, 1, MX_FLOAT32);
  expect_error(mx_add(f, m), "[add]");
  expect_error(
      mx_equal(mx_ones((int[]){2, 3}, 2, MX_INT8), mx_ones((int[]){2}, 1, MX_INT8)),
      "[equal]");
  MXT_CHECK(strstr(mx_last_error(), "") != NULL, "cleared");
  /* NULL in, NULL out, first message kept */
  mx_set_error(MX_ERR_INVALID, "[first] boom");
  MXT_CHECK(mx_add(NULL, f) == NULL && mx_add(f, NULL) == NULL &&
                mx_where(NULL, f, f) == NULL && mx_where(f, f, NULL) == NULL &&
                mx_allclose(NULL, f, 0, 0, false) == NULL &&
                mx_array_equal(f, NULL, false) == NULL &&
                mx_isclose(f, NULL, 0, 0, false) == NULL && mx_clip(NULL, f, f) == NULL,
            "NULL propagates");
  MXT_CHECK(strstr(mx_last_error(), "[first]") != NULL, "first message kept");
  mx_clear_error();
}

/* Graphs of binary ops on a scope-less thread leak nothing. */
static void test_no_leak_without_scope(void) {
  mx_scope_end();
  int64_t live0 = mx_live_arrays();
  mx_array *a = mx_array_scalar_i64(3, MX_INT32),
           *b = mx_array_scalar_f64(0.5, MX_FLOAT16);
  mx_array *r = mx_add(a, b), *w = mx_where(a, a, b), *q = mx_allclose(a, b, 0, 0, false);
  mx_array *cl = mx_clip(a, b, NULL);
  MXT_CHECK(r && mx_array_item_f64(r) == 3.5 && mx_array_item_f64(w) == 3 &&
                mx_array_item_f64(q) == 0 && mx_array_item_f64(cl) == 3,
            "values");
  mx_free(r), mx_free(w), mx_free(q), mx_free(cl), mx_free(a), mx_free(b);
  MXT_CHECK(mx_live_arrays() == live0, "live %lld -> %lld", (long long)live0,
            (long long)mx_live_arrays());
  mx_scope_begin();
}

int main(void) {
  mxt_seed(777);
  MXT_RUN(test_ops_all_dtypes_layouts);
  MXT_RUN(test_special_pairs);
  MXT_RUN(test_simd_paths);
  MXT_RUN(test_streaming_stores);
  MXT_RUN(test_numpy_floor_divide_remainder);
  MXT_RUN(test_numpy_shifts);
  MXT_RUN(test_integer_edges);
  MXT_RUN(test_promotion);
  MXT_RUN(test_isclose_allclose);
  MXT_RUN(test_array_equal);
  MXT_RUN(test_where);
  MXT_RUN(test_clip);
  MXT_RUN(test_layouts);
  MXT_RUN(test_complex_misc);
  MXT_RUN(test_errors);
  MXT_RUN(test_no_leak_without_scope);
  return mxt_finish();
}
