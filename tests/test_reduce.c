/* test_reduce.c: reductions (sum, prod, mean, var, std, max, min, all, any,
 * logsumexp), argmax/argmin and softmax against float64 reference loops
 * written here and numpy: every dtype, axis sets (negative axes), keepdims,
 * contiguous / transposed / step-sliced / broadcast inputs, the SIMD and
 * multi-threaded paths (long rows, columns, few outputs), empty and 0-d
 * arrays, NaN/Inf, dtype rules and errors. */
#include <complex.h>
#include <stdint.h>

#include "backend/cpu/reduce_simd.h"
#include "harness.h"

enum { R_SUM, R_PROD, R_MAX, R_MIN, R_ALL, R_ANY, R_MEAN, R_VAR, R_STD, R_LSE, R_NOPS };
static const char *op_names[] = {"sum", "prod", "max", "min", "all",
                                 "any", "mean", "var", "std", "logsumexp"};

static const mx_dtype all_dtypes[] = {
    MX_BOOL,  MX_UINT8, MX_UINT16,  MX_UINT32,   MX_UINT64,  MX_INT8,   MX_INT16,
    MX_INT32, MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
#define N_DTYPES (int)(sizeof all_dtypes / sizeof all_dtypes[0])

static bool is_float(mx_dtype t) {
  return t == MX_FLOAT16 || t == MX_BFLOAT16 || t == MX_FLOAT32 || t == MX_FLOAT64;
}
static bool is_signed(mx_dtype t) {
  return t == MX_INT8 || t == MX_INT16 || t == MX_INT32 || t == MX_INT64;
}

/* MLX's output dtype of each op, written out independently. */
static mx_dtype expect_dtype(int op, mx_dtype t) {
  switch (op) {
    case R_SUM:
    case R_PROD:
      if (t == MX_BOOL || t == MX_INT8 || t == MX_INT16 || t == MX_INT32) return MX_INT32;
      if (t == MX_UINT8 || t == MX_UINT16 || t == MX_UINT32) return MX_UINT32;
      return t;
    case R_MAX:
    case R_MIN:
      return t;
    case R_ALL:
    case R_ANY:
      return MX_BOOL;
    default:
      return is_float(t) ? t : MX_FLOAT32;
  }
}

static mx_array *call_op(int op, mx_array *a, const int *axes, int naxes, bool kd,
                         int ddof) {
  switch (op) {
    case R_SUM:
      return mx_sum(a, axes, naxes, kd);
    case R_PROD:
      return mx_prod(a, axes, naxes, kd);
    case R_MAX:
      return mx_max(a, axes, naxes, kd);
    case R_MIN:
      return mx_min(a, axes, naxes, kd);
    case R_ALL:
      return mx_all(a, axes, naxes, kd);
    case R_ANY:
      return mx_any(a, axes, naxes, kd);
    case R_MEAN:
      return mx_mean(a, axes, naxes, kd);
    case R_VAR:
      return mx_var(a, axes, naxes, kd, ddof);
    case R_STD:
      return mx_std(a, axes, naxes, kd, ddof);
    default:
      return mx_logsumexp(a, axes, naxes, kd);
  }
}

/* Wrap an exact int64 to the width/signedness of dtype t. */
static double wrap_int(int64_t v, mx_dtype t) {
  switch (t) {
    case MX_INT32:
      return (int32_t)(uint32_t)v;
    case MX_UINT32:
      return (uint32_t)v;
    case MX_UINT64:
      return (double)(uint64_t)v;
    default:
      return (double)v;
  }
}

/* Reference: x row-major with `shape`; reduce the axes in mask. */
static void ref_reduce(const double *x, const int *shape, int nd, uint32_t mask, int op,
                       int ddof, mx_dtype in_t, double *out, int64_t nout) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  double *acc = calloc((size_t)(nout ? nout : 1), sizeof *acc);
  double *acc2 = calloc((size_t)(nout ? nout : 1), sizeof *acc2);
  int64_t *iacc = calloc((size_t)(nout ? nout : 1), sizeof *iacc);
  int64_t *cnt = calloc((size_t)(nout ? nout : 1), sizeof *cnt);
  int64_t *oidx = malloc((size_t)(n ? n : 1) * sizeof *oidx);
  for (int64_t i = 0; i < n; i++) {
    int64_t r = i, o = 0, ostride = 1;
    for (int d = nd - 1; d >= 0; d--) {
      int64_t id = r % shape[d];
      r /= shape[d];
      if (!(mask & (1u << d))) {
        o += id * ostride;
        ostride *= shape[d];
      }
    }
    oidx[i] = o;
  }
  bool ints = !is_float(in_t);
  for (int64_t o = 0; o < nout; o++) {
    switch (op) {
      case R_PROD:
        acc[o] = 1;
        iacc[o] = 1;
        break;
      case R_MAX:
      case R_LSE:
        acc[o] = -INFINITY;
        break;
      case R_MIN:
        acc[o] = INFINITY;
        break;
      case R_ALL:
        acc[o] = 1;
        break;
      default:
        acc[o] = 0;
        break;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t o = oidx[i];
    double v = x[i];
    cnt[o]++;
    switch (op) {
      case R_SUM:
        if (ints) iacc[o] = (int64_t)((uint64_t)iacc[o] + (uint64_t)(int64_t)v);
        acc[o] += v;
        break;
      case R_PROD:
        if (ints) iacc[o] = (int64_t)((uint64_t)iacc[o] * (uint64_t)(int64_t)v);
        acc[o] *= v;
        break;
      case R_MAX:
      case R_LSE:
        if (isnan(v) || v > acc[o]) acc[o] = isnan(acc[o]) ? acc[o] : v;
        break;
      case R_MIN:
        if (isnan(v) || v < acc[o]) acc[o] = isnan(acc[o]) ? acc[o] : v;
        break;
      case R_ALL:
        acc[o] = acc[o] && v != 0;
        break;
      case R_ANY:
        acc[o] = acc[o] || v != 0;
        break;
      default:
        acc[o] += v;
        break; /* mean/var/std: sum first */
    }
  }
  if (op == R_VAR || op == R_STD || op == R_LSE) {
    for (int64_t o = 0; o < nout; o++)
      if (op != R_LSE) acc[o] /= (double)cnt[o];
    for (int64_t i = 0; i < n; i++) {
      int64_t o = oidx[i];
      double d = x[i] - acc[o];
      acc2[o] += op == R_LSE ? exp(d) : d * d;
    }
  }
  for (int64_t o = 0; o < nout; o++) {
    double c = (double)cnt[o];
    switch (op) {
      case R_SUM:
      case R_PROD:
        out[o] = ints ? wrap_int(iacc[o], expect_dtype(op, in_t)) : acc[o];
        break;
      case R_MEAN:
        out[o] = acc[o] / c;
        break;
      case R_VAR:
      case R_STD: {
        double v = acc2[o] / (c - ddof > 0 ? c - ddof : 0);
        out[o] = op == R_STD ? sqrt(v) : v;
        break;
      }
      case R_LSE:
        out[o] = isinf(acc[o]) ? acc[o] : acc[o] + log(acc2[o]);
        break;
      default:
        out[o] = acc[o];
        break;
    }
  }
  free(acc);
  free(acc2);
  free(iacc);
  free(cnt);
  free(oidx);
}

static void tol_for(mx_dtype t, double *rtol, double *atol) {
  switch (t) {
    case MX_FLOAT16:
      *rtol = 3e-3;
      *atol = 3e-3;
      break;
    case MX_BFLOAT16:
      *rtol = 1.6e-2;
      *atol = 1.6e-2;
      break;
    case MX_FLOAT32:
      *rtol = 2e-5;
      *atol = 2e-5;
      break;
    case MX_FLOAT64:
      *rtol = 1e-11;
      *atol = 1e-11;
      break;
    default:
      *rtol = 0;
      *atol = 0;
      break;
  }
}

/* Check one reduction of x over mask against the reference. Axes are
 * passed in a scrambled order, some negative. */
static void check_reduce(mx_array *x, int op, uint32_t mask, bool all_null, bool kd,
                         int ddof, const char *layout) {
  int nd = mx_array_ndim(x);
  const int *shape = mx_array_shape(x);
  mx_dtype t = mx_array_dtype(x);
  int axes[16], naxes = 0;
  for (int d = nd - 1; d >= 0; d--)
    if (mask & (1u << d)) {
      axes[naxes] = (naxes % 2) ? d - nd : d;
      naxes++;
    }
  mx_array *r = call_op(op, x, all_null ? NULL : axes, naxes, kd, ddof);
  char what[256];
  snprintf(what, sizeof what, "%s %s mask=%x kd=%d ddof=%d %s", op_names[op],
           mx_dtype_name(t), mask, kd, ddof, layout);
  if (!r) {
    MXT_CHECK(0, "%s: NULL: %s", what, mx_last_error());
    mx_clear_error();
    return;
  }
  mx_dtype et = expect_dtype(op, t);
  MXT_CHECK(mx_array_dtype(r) == et, "%s: dtype %s want %s", what,
            mx_dtype_name(mx_array_dtype(r)), mx_dtype_name(et));
  /* shape */
  int eshape[16], end = 0;
  for (int d = 0; d < nd; d++) {
    if (!(mask & (1u << d)))
      eshape[end++] = shape[d];
    else if (kd)
      eshape[end++] = 1;
  }
  bool shape_ok = mx_array_ndim(r) == end;
  for (int d = 0; shape_ok && d < end; d++) shape_ok = mx_array_shape(r)[d] == eshape[d];
  MXT_CHECK(shape_ok, "%s: shape", what);
  int64_t nout = 1;
  for (int d = 0; d < end; d++) nout *= eshape[d];
  double *xv = mxt_to_f64(x);
  double *ref = malloc((size_t)(nout ? nout : 1) * sizeof *ref);
  ref_reduce(xv, shape, nd, mask, op, ddof, t, ref, nout);
  double rtol, atol;
  tol_for(et, &rtol, &atol);
  if (et == MX_FLOAT32 && !is_float(t)) rtol = atol = 1e-6;
  mxt_close(r, ref, nout, rtol, atol, what);
  free(xv);
  free(ref);
}

/* Input value range per op (keeps products and exps finite). */
static void range_for(int op, mx_dtype t, double *lo, double *hi) {
  if (op == R_PROD) {
    *lo = is_float(t) ? 0.7 : (is_signed(t) ? -2 : 0);
    *hi = is_float(t) ? 1.3 : 3;
  } else if (is_float(t)) {
    *lo = -2;
    *hi = 2;
  } else {
    *lo = is_signed(t) ? -20 : 0;
    *hi = 20;
  }
}

/* Layouts of the same values: contiguous, column-major, step slices with a
 * negative step, and a stride-0 broadcast. */
static mx_array *layout(mx_array *a, int which, const char **name) {
  int nd = mx_array_ndim(a);
  const int *s = mx_array_shape(a);
  switch (which) {
    case 0:
      *name = "contiguous";
      return a;
    case 1:
      *name = "transposed";
      return mxt_noncontig(a);
    case 2: {
      /* a bigger array sliced with steps: [::2, ::-1, 1::3] style */
      *name = "step-slice";
      int big[16], start[16], stop[16], step[16];
      for (int d = 0; d < nd; d++) {
        int k = d % 3;
        step[d] = k == 0 ? 2 : k == 1 ? -1 : 3;
        big[d] = k == 0 ? 2 * s[d] : k == 1 ? s[d] : 3 * s[d] + 1;
        start[d] = k == 0 ? 0 : k == 1 ? MX_SLICE_DEFAULT : 1;
        stop[d] = MX_SLICE_DEFAULT;
      }
      mx_array *b = mxt_rand(big, nd, mx_array_dtype(a), 0, 4);
      return mx_slice(b, start, stop, step);
    }
    default: {
      *name = "broadcast";
      int one[16];
      for (int d = 0; d < nd; d++) one[d] = d == 0 ? 1 : s[d];
      int st[16] = {0}, sp[16], stp[16];
      for (int d = 0; d < nd; d++) {
        sp[d] = d == 0 ? 1 : s[d];
        stp[d] = 1;
      }
      mx_array *row = mx_slice(a, st, sp, stp);
      (void)one;
      return mx_broadcast_to(row, s, nd);
    }
  }
}

static void test_all_dtypes_axes(void) {
  int shape[3] = {3, 4, 5};
  for (int ti = 0; ti < N_DTYPES; ti++) {
    mx_dtype t = all_dtypes[ti];
    for (int op = 0; op < R_NOPS; op++) {
      double lo, hi;
      range_for(op, t, &lo, &hi);
      mx_array *a = mxt_rand(shape, 3, t, lo, hi);
      for (int lay = 0; lay < 4; lay++) {
        const char *ln;
        mx_array *x = layout(a, lay, &ln);
        if (lay == 2 && op == R_PROD) continue; /* slice values not in range */
        for (uint32_t mask = 0; mask < 8; mask++) {
          for (int kd = 0; kd < 2; kd++) {
            if (mask == 0 && (op == R_SUM || op == R_PROD || op == R_MAX || op == R_MIN))
              continue; /* no axes: returns the input (checked elsewhere) */
            check_reduce(x, op, mask, false, kd, op == R_VAR ? (int)(mask % 3) : 0, ln);
          }
        }
        check_reduce(x, op, 7, true, false, 0, ln);
      }
    }
  }
}

static void test_4d_merging(void) {
  /* shapes where axes merge (contiguous groups) and do not */
  int shape[4] = {2, 3, 4, 6};
  mx_dtype ts[3] = {MX_FLOAT32, MX_INT32, MX_BFLOAT16};
  for (int ti = 0; ti < 3; ti++) {
    mx_array *a = mxt_rand(shape, 4, ts[ti], -3, 3);
    for (int lay = 0; lay < 3; lay++) {
      const char *ln;
      mx_array *x = layout(a, lay, &ln);
      for (uint32_t mask = 1; mask < 16; mask++) {
        check_reduce(x, R_SUM, mask, false, mask & 1, 0, ln);
        check_reduce(x, R_MAX, mask, false, false, 0, ln);
        check_reduce(x, R_VAR, mask, false, false, 1, ln);
      }
    }
  }
}

/* Long rows, long columns and few outputs: SIMD kernels, column mode,
 * split reductions across threads, block tails. */
static void test_large(void) {
  struct {
    int s0, s1;
  } shapes[] = {{1, 200003}, {3, 70001}, {2048, 67}, {1000, 130},
                {50021, 20}, {64, 2048}, {2, 66000}};
  mx_dtype ts[4] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16, MX_INT32};
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    int shape[2] = {shapes[si].s0, shapes[si].s1};
    for (int ti = 0; ti < 4; ti++) {
      mx_array *a = mxt_rand(shape, 2, ts[ti], -1, 1);
      if (ts[ti] == MX_INT32) a = mxt_rand(shape, 2, ts[ti], -1000, 1000);
      for (uint32_t mask = 1; mask < 4; mask++) {
        check_reduce(a, R_SUM, mask, false, false, 0, "large");
        check_reduce(a, R_MAX, mask, false, false, 0, "large");
        check_reduce(a, R_MIN, mask, false, false, 0, "large");
        if (ts[ti] != MX_INT32) check_reduce(a, R_LSE, mask, false, false, 0, "large");
        if (si < 3) check_reduce(a, R_MEAN, mask, false, false, 0, "large");
      }
      if (si == 3) {
        mx_array *nc = mxt_noncontig(a);
        check_reduce(nc, R_SUM, 1, false, false, 0, "large transposed");
        check_reduce(nc, R_SUM, 2, false, false, 0, "large transposed");
      }
    }
  }
}

/* float32 accuracy of a 4M sum with large cancellation-free magnitude */
static void test_sum_accuracy(void) {
  int n = 1 << 22;
  float *d = malloc((size_t)n * sizeof *d);
  double ref = 0;
  for (int i = 0; i < n; i++) {
    d[i] = (float)mxt_uniform(0, 1);
    ref += d[i];
  }
  mx_array *a = mx_array_from_data(d, &n, 1, MX_FLOAT32);
  double got = mx_array_item_f64(mx_sum(a, NULL, 0, false));
  /* naive float32 accumulation would be off by ~1e-3 relative here */
  MXT_CHECK(fabs(got - ref) <= 1e-7 * ref, "sum %.10g ref %.10g", got, ref);
  double m = mx_array_item_f64(mx_mean(a, NULL, 0, false));
  MXT_CHECK(fabs(m - ref / n) <= 1e-7, "mean %.10g ref %.10g", m, ref / n);
  free(d);
}

/* Integer sums wrap in the output type (MLX int32 accumulator). */
static void test_int_wrap(void) {
  int n = 100000;
  int32_t *d = malloc((size_t)n * sizeof *d);
  int64_t s = 0;
  for (int i = 0; i < n; i++) {
    d[i] = (int32_t)(mxt_next() % 2000000000) - 500000000;
    s += d[i];
  }
  mx_array *a = mx_array_from_data(d, &n, 1, MX_INT32);
  int32_t got = (int32_t)mx_array_item_i64(mx_sum(a, NULL, 0, false));
  MXT_CHECK(got == (int32_t)(uint32_t)s, "int32 wrap %d vs %d", got,
            (int32_t)(uint32_t)s);
  /* int8 sums go to int32 without wrapping at 8 bits */
  int8_t b[300];
  for (int i = 0; i < 300; i++) b[i] = 100;
  int n2 = 300;
  mx_array *a8 = mx_array_from_data(b, &n2, 1, MX_INT8);
  mx_array *s8 = mx_sum(a8, NULL, 0, false);
  MXT_CHECK(mx_array_dtype(s8) == MX_INT32 && mx_array_item_i64(s8) == 30000, "int8 sum");
  /* uint64 max/min compare unsigned, exactly */
  uint64_t u[4] = {1, UINT64_MAX - 5, 1ull << 63, 7};
  int n4 = 4;
  mx_array *au = mx_array_from_data(u, &n4, 1, MX_UINT64);
  uint64_t mx = 0, mn = 0;
  mx_array_read(mx_max(au, NULL, 0, false), MX_UINT64, &mx, 8);
  mx_array_read(mx_min(au, NULL, 0, false), MX_UINT64, &mn, 8);
  MXT_CHECK(mx == UINT64_MAX - 5 && mn == 1, "uint64 max/min %llu %llu",
            (unsigned long long)mx, (unsigned long long)mn);
  uint32_t am = (uint32_t)mx_array_item_i64(mx_argmax(au, 0, false));
  MXT_CHECK(am == 1, "uint64 argmax %u", am);
  /* int64 sum exact beyond 2^53 */
  int64_t big[3] = {(1ll << 60) + 1, (1ll << 60) + 2, -(1ll << 61)};
  int n3 = 3;
  int64_t sb = 0;
  mx_array_read(mx_sum(mx_array_from_data(big, &n3, 1, MX_INT64), NULL, 0, false),
                MX_INT64, &sb, 8);
  MXT_CHECK(sb == 3, "int64 exact sum %lld", (long long)sb);
  /* uint8 prod -> uint32, wraps at 32 bits */
  uint8_t pu[5] = {255, 255, 255, 255, 2};
  int n5 = 5;
  mx_array *pp = mx_prod(mx_array_from_data(pu, &n5, 1, MX_UINT8), NULL, 0, false);
  uint64_t want = (uint32_t)(255ull * 255 * 255 * 255 * 2);
  MXT_CHECK(mx_array_dtype(pp) == MX_UINT32 && (uint64_t)mx_array_item_i64(pp) == want,
            "uint8 prod");
  free(d);
}

static void test_complex(void) {
  /* (2, 3) complex64 */
  float d[12] = {1, 2, 3, -1, 0.5f, 0.25f, -2, 1, 1, 1, 4, -3};
  int shape[2] = {2, 3};
  mx_array *a = mx_array_from_data(d, shape, 2, MX_COMPLEX64);
  int ax1 = 1, ax0 = 0;
  double complex z[6];
  for (int i = 0; i < 6; i++) z[i] = CMPLX(d[2 * i], d[2 * i + 1]);
  struct {
    int op, axis;
  } cases[] = {{R_SUM, 1}, {R_PROD, 1}, {R_MEAN, 0}, {R_MAX, 1}, {R_MIN, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int ax = cases[c].axis;
    mx_array *r = call_op(cases[c].op, a, ax ? &ax1 : &ax0, 1, false, 0);
    MXT_OK(r);
    if (!r) continue;
    MXT_CHECK(mx_array_dtype(r) == MX_COMPLEX64, "complex dtype");
    int nout = ax ? 2 : 3, len = ax ? 3 : 2;
    float got[6];
    mx_array_read(mx_view(r, MX_FLOAT32), MX_FLOAT32, got, sizeof got);
    for (int o = 0; o < nout; o++) {
      double complex acc = cases[c].op == R_PROD ? 1 : 0;
      double complex best = z[ax ? o * 3 : o];
      for (int k = 0; k < len; k++) {
        double complex v = z[ax ? o * 3 + k : k * 3 + o];
        if (cases[c].op == R_PROD)
          acc *= v;
        else
          acc += v;
        bool gt =
            creal(v) > creal(best) || (creal(v) == creal(best) && cimag(v) > cimag(best));
        bool lt =
            creal(v) < creal(best) || (creal(v) == creal(best) && cimag(v) < cimag(best));
        if ((cases[c].op == R_MAX && gt) || (cases[c].op == R_MIN && lt)) best = v;
      }
      if (cases[c].op == R_MEAN) acc /= len;
      if (cases[c].op == R_MAX || cases[c].op == R_MIN) acc = best;
      MXT_CHECK(fabs(got[2 * o] - creal(acc)) < 1e-5 &&
                    fabs(got[2 * o + 1] - cimag(acc)) < 1e-5,
                "complex op %d out %d: (%g,%g) want (%g,%g)", cases[c].op, o, got[2 * o],
                got[2 * o + 1], creal(acc), cimag(acc));
    }
  }
  /* var of complex: mean squared magnitude, float32 */
  mx_array *v = mx_var(a, &ax1, 1, false, 0);
  MXT_OK(v);
  MXT_CHECK(mx_array_dtype(v) == MX_FLOAT32, "complex var dtype");
  double ref[2];
  for (int o = 0; o < 2; o++) {
    double complex m = (z[o * 3] + z[o * 3 + 1] + z[o * 3 + 2]) / 3;
    double s = 0;
    for (int k = 0; k < 3; k++) s += pow(cabs(z[o * 3 + k] - m), 2);
    ref[o] = s / 3;
  }
  mxt_close(v, ref, 2, 1e-5, 1e-6, "complex var");
  MXT_CHECK(mx_logsumexp(a, NULL, 0, false) == NULL, "complex logsumexp rejected");
  mx_clear_error();
  mx_array *any = mx_any(a, NULL, 0, false);
  MXT_CHECK(mx_array_item_f64(any) == 1, "complex any");
}

/* numpy as a second, independent oracle */
static void test_numpy(void) {
  int shape[3] = {4, 5, 6};
  mx_array *a = mxt_rand(shape, 3, MX_FLOAT64, -3, 3);
  int a02[2] = {0, 2}, a1[1] = {1}, am1[1] = {-1}, a01[2] = {0, 1};
  mx_array *parts[] = {
      mx_sum(a, a02, 2, false),    mx_prod(a, a1, 1, false),
      mx_mean(a, am1, 1, true),    mx_var(a, a01, 2, false, 1),
      mx_std(a, a02, 2, false, 0), mx_max(a, a1, 1, false),
      mx_min(a, NULL, 0, false),   mx_logsumexp(a, a02, 2, false),
      mx_argmax(a, 1, false),      mx_argmin(a, -1, false),
      mx_softmax(a, a1, 1, false), mx_softmax(a, am1, 1, false),
      mx_argmax_all(a, false),
  };
  int np = (int)(sizeof parts / sizeof parts[0]);
  int64_t total = 0;
  for (int i = 0; i < np; i++) {
    MXT_OK(parts[i]);
    if (!parts[i]) return;
    total += mx_array_size(parts[i]);
  }
  double *got = malloc((size_t)total * sizeof *got);
  int64_t off = 0;
  for (int i = 0; i < np; i++) {
    double *p = mxt_to_f64(parts[i]);
    memcpy(got + off, p, (size_t)mx_array_size(parts[i]) * sizeof *p);
    off += mx_array_size(parts[i]);
    free(p);
  }
  mxt_named in[1] = {{"a", a}};
  double *ref = NULL;
  int64_t nref = 0;
  const char *code =
      "a = A['a']\n"
      "def lse(x, ax):\n"
      "  m = np.max(x, axis=ax, keepdims=True)\n"
      "  return np.log(np.sum(np.exp(x - m), axis=ax)) + np.squeeze(m, ax)\n"
      "def sm(x, ax):\n"
      "  e = np.exp(x - np.max(x, axis=ax, keepdims=True))\n"
      "  return e / np.sum(e, axis=ax, keepdims=True)\n"
      "parts = [np.sum(a, axis=(0,2)), np.prod(a, axis=1), np.mean(a, axis=-1, "
      "keepdims=True),\n"
      "  np.var(a, axis=(0,1), ddof=1), np.std(a, axis=(0,2)), np.max(a, axis=1), "
      "np.min(a),\n"
      "  lse(a, (0,2)), np.argmax(a, axis=1), np.argmin(a, axis=-1), sm(a, 1), sm(a, "
      "-1),\n"
      "  np.argmax(a)]\n"
      "R['r'] = np.concatenate([np.ravel(p).astype(np.float64) for p in parts])\n";
  if (mxt_numpy(code, in, 1, "r", &ref, &nref)) {
    MXT_CHECK(nref == total, "numpy size %lld vs %lld", (long long)nref,
              (long long)total);
    for (int64_t i = 0; i < total && i < nref; i++) {
      if (!(fabs(got[i] - ref[i]) <= 1e-10 + 1e-10 * fabs(ref[i]))) {
        MXT_CHECK(0, "numpy element %lld: %.15g vs %.15g", (long long)i, got[i], ref[i]);
        break;
      }
    }
  }
  free(ref);
  free(got);
}

static void test_no_axes_and_0d(void) {
  int shape[2] = {2, 3};
  mx_array *a = mxt_rand(shape, 2, MX_INT8, -5, 5);
  int none[1] = {0};
  /* MLX: sum/prod/max/min with an empty axis list return the input */
  MXT_CHECK(mx_sum(a, none, 0, false) == a ||
                mx_array_dtype(mx_sum(a, none, 0, false)) == MX_INT8,
            "sum no axes keeps dtype");
  MXT_CHECK(mx_array_dtype(mx_max(a, none, 0, false)) == MX_INT8, "max no axes");
  mx_array *m = mx_mean(a, none, 0, false);
  MXT_CHECK(mx_array_dtype(m) == MX_FLOAT32 && mx_array_ndim(m) == 2, "mean no axes");
  double *av = mxt_to_f64(a);
  mxt_close(m, av, 6, 0, 0, "mean no axes values");
  mx_array *al = mx_all(a, none, 0, false);
  MXT_CHECK(mx_array_dtype(al) == MX_BOOL, "all no axes is astype bool");
  double bref[6];
  for (int i = 0; i < 6; i++) bref[i] = av[i] != 0;
  mxt_close(al, bref, 6, 0, 0, "all no axes values");
  free(av);
  /* 0-d */
  mx_array *s = mx_array_scalar_f64(-3, MX_INT16);
  mx_array *ss = mx_sum(s, NULL, 0, false);
  MXT_CHECK(mx_array_ndim(ss) == 0 && mx_array_item_f64(ss) == -3, "0-d sum");
  mx_array *sm = mx_mean(s, NULL, 0, true);
  MXT_CHECK(mx_array_dtype(sm) == MX_FLOAT32 && mx_array_item_f64(sm) == -3, "0-d mean");
  MXT_CHECK(mx_array_item_f64(mx_var(s, NULL, 0, false, 0)) == 0, "0-d var");
  MXT_CHECK(mx_array_item_f64(mx_all(s, NULL, 0, false)) == 1, "0-d all");
  mx_array *ninf = mx_array_scalar_f64(-INFINITY, MX_FLOAT32);
  MXT_CHECK(mx_array_item_f64(mx_logsumexp(ninf, NULL, 0, false)) == -INFINITY,
            "0-d lse -inf");
  MXT_CHECK(mx_array_item_f64(mx_argmax_all(s, false)) == 0, "0-d argmax_all");
  MXT_CHECK(mx_array_item_f64(mx_softmax(s, NULL, 0, false)) == 1, "0-d softmax");
  int ax0 = 0;
  MXT_CHECK(mx_sum(s, &ax0, 1, false) == NULL, "0-d axis 0 rejected");
  mx_clear_error();
  MXT_CHECK(mx_softmax(s, &ax0, 1, false) == NULL, "0-d softmax axes rejected");
  mx_clear_error();
  /* size-1 reduced axes */
  int s1[3] = {1, 4, 1};
  mx_array *b = mxt_rand(s1, 3, MX_FLOAT32, -1, 1);
  int a02[2] = {0, 2};
  double *bv = mxt_to_f64(b);
  mxt_close(mx_sum(b, a02, 2, false), bv, 4, 1e-7, 0, "sum over size-1 axes");
  mxt_close(mx_max(b, a02, 2, true), bv, 4, 0, 0, "max over size-1 axes");
  free(bv);
}

static void test_empty(void) {
  int shape[2] = {0, 3};
  mx_array *a = mx_zeros(shape, 2, MX_FLOAT32);
  int ax0 = 0, ax1 = 1;
  double zeros[3] = {0, 0, 0}, ones[3] = {1, 1, 1};
  mxt_close(mx_sum(a, &ax0, 1, false), zeros, 3, 0, 0, "empty sum");
  mxt_close(mx_prod(a, &ax0, 1, false), ones, 3, 0, 0, "empty prod");
  mx_array *ai = mx_zeros(shape, 2, MX_INT32);
  mx_array *si = mx_sum(ai, &ax0, 1, false);
  MXT_CHECK(mx_array_dtype(si) == MX_INT32, "empty int sum dtype");
  mxt_close(si, zeros, 3, 0, 0, "empty int sum");
  mxt_close(mx_all(a, &ax0, 1, false), ones, 3, 0, 0, "empty all");
  mxt_close(mx_any(a, &ax0, 1, false), zeros, 3, 0, 0, "empty any");
  double nans[3] = {NAN, NAN, NAN};
  mxt_close(mx_mean(a, &ax0, 1, false), nans, 3, 0, 0, "empty mean");
  mxt_close(mx_var(a, &ax0, 1, false, 0), nans, 3, 0, 0, "empty var");
  MXT_CHECK(mx_array_item_f64(mx_sum(a, NULL, 0, false)) == 0, "empty sum all");
  /* reducing a non-empty axis of an empty array is fine */
  mx_array *m1 = mx_max(a, &ax1, 1, false);
  MXT_OK(m1);
  MXT_CHECK(m1 && mx_array_size(m1) == 0 && mx_eval1(m1) == MX_OK, "empty max axis 1");
  /* max/min over an empty axis, argmax and logsumexp of empty: errors */
  MXT_CHECK(mx_max(a, &ax0, 1, false) == NULL, "empty max rejected");
  MXT_CHECK(strstr(mx_last_error(), "[max]") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_min(a, NULL, 0, false) == NULL, "empty min rejected");
  mx_clear_error();
  MXT_CHECK(mx_argmax(a, 1, false) == NULL, "empty argmax rejected");
  mx_clear_error();
  MXT_CHECK(mx_logsumexp(a, &ax1, 1, false) == NULL, "empty logsumexp rejected");
  mx_clear_error();
  /* softmax of empty returns it */
  mx_array *sm = mx_softmax(a, &ax0, 1, false);
  MXT_CHECK(sm && mx_array_size(sm) == 0, "empty softmax");
  int e1 = 0;
  mx_array *cs = mx_cumsum(mx_zeros(&e1, 1, MX_FLOAT32), 0, false, true);
  MXT_CHECK(cs && mx_eval1(cs) == MX_OK, "empty cumsum");
}

static void test_nan_inf(void) {
  float d[8] = {1, NAN, 3, -2, NAN, 0, 5, 2};
  int n = 8;
  mx_array *a = mx_array_from_data(d, &n, 1, MX_FLOAT32);
  MXT_CHECK(isnan(mx_array_item_f64(mx_max(a, NULL, 0, false))), "max nan");
  MXT_CHECK(isnan(mx_array_item_f64(mx_min(a, NULL, 0, false))), "min nan");
  MXT_CHECK(isnan(mx_array_item_f64(mx_sum(a, NULL, 0, false))), "sum nan");
  MXT_CHECK(isnan(mx_array_item_f64(mx_logsumexp(a, NULL, 0, false))), "lse nan");
  MXT_CHECK(mx_array_item_f64(mx_argmax(a, 0, false)) == 1, "argmax first nan");
  MXT_CHECK(mx_array_item_f64(mx_argmin(a, 0, false)) == 1, "argmin first nan");
  MXT_CHECK(mx_array_item_f64(mx_all(a, NULL, 0, false)) == 0, "all with 0");
  MXT_CHECK(mx_array_item_f64(mx_any(a, NULL, 0, false)) == 1, "any");
  /* NaN deep inside long rows and columns (SIMD lanes, tails) */
  int shape[2] = {37, 1000};
  for (int ti = 0; ti < 3; ti++) {
    mx_dtype t = ti == 0 ? MX_FLOAT32 : ti == 1 ? MX_FLOAT16 : MX_BFLOAT16;
    float *big = malloc(37000 * sizeof *big);
    for (int i = 0; i < 37000; i++) big[i] = (float)mxt_uniform(-1, 1);
    big[5 * 1000 + 777] = NAN;  /* row 5, col 777 */
    big[36 * 1000 + 999] = NAN; /* last element */
    mx_array *b = mx_astype(mx_array_from_data(big, shape, 2, MX_FLOAT32), t);
    check_reduce(b, R_MAX, 1, false, false, 0, "nan rows");
    check_reduce(b, R_MIN, 2, false, false, 0, "nan rows");
    check_reduce(b, R_MAX, 2, false, false, 0, "nan rows");
    check_reduce(b, R_MIN, 3, false, false, 0, "nan all");
    check_reduce(b, R_LSE, 2, false, false, 0, "nan lse");
    free(big);
  }
  /* infinities */
  float e[4] = {INFINITY, 1, 2, 3}, f[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY},
        g[4] = {INFINITY, -INFINITY, 0, 1}, h[4] = {-INFINITY, 0, -INFINITY, 0};
  int n4 = 4;
  mx_array *ea = mx_array_from_data(e, &n4, 1, MX_FLOAT32);
  mx_array *fa = mx_array_from_data(f, &n4, 1, MX_FLOAT32);
  mx_array *ga = mx_array_from_data(g, &n4, 1, MX_FLOAT32);
  mx_array *ha = mx_array_from_data(h, &n4, 1, MX_FLOAT32);
  MXT_CHECK(mx_array_item_f64(mx_logsumexp(ea, NULL, 0, false)) == INFINITY, "lse +inf");
  MXT_CHECK(mx_array_item_f64(mx_logsumexp(fa, NULL, 0, false)) == -INFINITY,
            "lse all -inf");
  MXT_CHECK(mx_array_item_f64(mx_logsumexp(ga, NULL, 0, false)) == INFINITY, "lse +-inf");
  MXT_CHECK(fabs(mx_array_item_f64(mx_logsumexp(ha, NULL, 0, false)) - log(2)) < 1e-6,
            "lse with -inf");
  MXT_CHECK(isnan(mx_array_item_f64(mx_sum(ga, NULL, 0, false))), "sum inf-inf");
  MXT_CHECK(mx_array_item_f64(mx_max(ga, NULL, 0, false)) == INFINITY, "max inf");
  MXT_CHECK(mx_array_item_f64(mx_min(fa, NULL, 0, false)) == -INFINITY, "min -inf");
  MXT_CHECK(mx_array_item_f64(mx_argmax(fa, 0, false)) == 0, "argmax ties first");
  /* logsumexp of large magnitudes stays finite */
  float big[3] = {1e4f, 1e4f, -1e4f};
  int n3 = 3;
  double l = mx_array_item_f64(
      mx_logsumexp(mx_array_from_data(big, &n3, 1, MX_FLOAT32), NULL, 0, false));
  MXT_CHECK(fabs(l - (1e4 + log(2))) < 1e-2, "lse large %g", l);
}

static void test_errors(void) {
  int shape[2] = {2, 3};
  mx_array *a = mx_ones(shape, 2, MX_FLOAT32);
  int bad[1] = {2}, neg[1] = {-3}, dup[2] = {1, -1};
  MXT_CHECK(mx_sum(a, bad, 1, false) == NULL, "axis 2");
  MXT_CHECK(strstr(mx_last_error(), "[sum]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_mean(a, neg, 1, false) == NULL, "axis -3");
  mx_clear_error();
  MXT_CHECK(mx_max(a, dup, 2, false) == NULL, "duplicate");
  MXT_CHECK(strstr(mx_last_error(), "duplicate") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_var(a, bad, 1, false, 0) == NULL, "var axis");
  mx_clear_error();
  MXT_CHECK(mx_logsumexp(a, dup, 2, false) == NULL, "lse dup");
  mx_clear_error();
  MXT_CHECK(mx_softmax(a, bad, 1, false) == NULL, "softmax axis");
  mx_clear_error();
  MXT_CHECK(mx_argmax(a, 2, false) == NULL, "argmax axis");
  mx_clear_error();
  MXT_CHECK(mx_all(a, dup, 2, false) == NULL, "all dup");
  mx_clear_error();
  MXT_CHECK(mx_sum(NULL, NULL, 0, false) == NULL && mx_last_status() == MX_OK, "NULL in");
  MXT_CHECK(mx_softmax(NULL, NULL, 0, false) == NULL, "NULL softmax");
  MXT_CHECK(mx_argmax_all(NULL, false) == NULL, "NULL argmax_all");
  MXT_CHECK(mx_prod(a, bad, -1, false) == NULL, "negative naxes");
  mx_clear_error();
}

/* ---- arg reductions ---- */

static void ref_arg(const double *x, const int *shape, int nd, int axis, bool is_max,
                    double *out) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= shape[d];
  for (int d = axis + 1; d < nd; d++) inner *= shape[d];
  int L = shape[axis];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int best = 0;
      double bv = x[o * L * inner + i];
      for (int k = 1; k < L; k++) {
        double v = x[(o * L + k) * inner + i];
        if (isnan(bv)) break;
        if (isnan(v) || (is_max ? v > bv : v < bv)) {
          bv = v;
          best = k;
        }
      }
      out[o * inner + i] = best;
    }
}

static void test_argreduce(void) {
  int shape[3] = {4, 5, 6};
  for (int ti = 0; ti < N_DTYPES; ti++) {
    mx_dtype t = all_dtypes[ti];
    /* few distinct values so ties are common */
    bool uns = t == MX_BOOL || t == MX_UINT8 || t == MX_UINT16 || t == MX_UINT32 ||
               t == MX_UINT64;
    mx_array *a = mxt_rand(shape, 3, t, uns ? 0 : -3, uns ? 6 : 3);
    for (int lay = 0; lay < 3; lay++) {
      const char *ln;
      mx_array *x = layout(a, lay, &ln);
      double *xv = mxt_to_f64(x);
      for (int axis = -3; axis < 3; axis++) {
        for (int mx = 0; mx < 2; mx++) {
          int ax = axis < 0 ? axis + 3 : axis;
          mx_array *r =
              mx ? mx_argmax(x, axis, axis == 1) : mx_argmin(x, axis, axis == 1);
          MXT_OK(r);
          if (!r) continue;
          MXT_CHECK(mx_array_dtype(r) == MX_UINT32, "argreduce dtype");
          MXT_CHECK(mx_array_ndim(r) == (axis == 1 ? 3 : 2), "argreduce ndim");
          double ref[120];
          ref_arg(xv, mx_array_shape(x), 3, ax, mx, ref);
          char what[128];
          snprintf(what, sizeof what, "arg%s %s axis %d %s", mx ? "max" : "min",
                   mx_dtype_name(t), axis, ln);
          mxt_close(r, ref, 120 / mx_array_shape(x)[ax], 0, 0, what);
        }
      }
      /* flattened */
      int flat[1] = {120};
      double rmax, rmin;
      ref_arg(xv, flat, 1, 0, true, &rmax);
      ref_arg(xv, flat, 1, 0, false, &rmin);
      mx_array *r1 = mx_argmax_all(x, true);
      MXT_CHECK(r1 && mx_array_ndim(r1) == 3 && mx_array_shape(r1)[2] == 1,
                "keepdims shape");
      MXT_CHECK(r1 && mx_array_item_f64(r1) == rmax, "argmax_all %s", ln);
      mx_array *r2 = mx_argmin_all(x, false);
      MXT_CHECK(r2 && mx_array_ndim(r2) == 0 && mx_array_item_f64(r2) == rmin,
                "argmin_all");
      free(xv);
    }
  }
  /* long contiguous row */
  int n = 200003;
  mx_array *big = mxt_rand(&n, 1, MX_FLOAT32, -1, 1);
  double *bv = mxt_to_f64(big);
  double r;
  ref_arg(bv, &n, 1, 0, true, &r);
  MXT_CHECK(mx_array_item_f64(mx_argmax(big, 0, false)) == r, "long argmax");
  free(bv);
}

/* ---- softmax ---- */

static void ref_softmax(const double *x, const int *shape, int nd, uint32_t mask,
                        double *out) {
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= shape[d];
  /* group id of each element = index over the kept dims */
  int64_t *g = malloc((size_t)n * sizeof *g), ng = 1;
  for (int d = 0; d < nd; d++)
    if (!(mask & (1u << d))) ng *= shape[d];
  for (int64_t i = 0; i < n; i++) {
    int64_t r = i, o = 0, s = 1;
    for (int d = nd - 1; d >= 0; d--) {
      int64_t id = r % shape[d];
      r /= shape[d];
      if (!(mask & (1u << d))) {
        o += id * s;
        s *= shape[d];
      }
    }
    g[i] = o;
  }
  double *m = malloc((size_t)ng * sizeof *m), *s = calloc((size_t)ng, sizeof *s);
  for (int64_t k = 0; k < ng; k++) m[k] = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (isnan(x[i]) || x[i] > m[g[i]]) m[g[i]] = isnan(m[g[i]]) ? m[g[i]] : x[i];
  for (int64_t i = 0; i < n; i++) s[g[i]] += exp(x[i] - m[g[i]]);
  for (int64_t i = 0; i < n; i++) out[i] = exp(x[i] - m[g[i]]) / s[g[i]];
  free(g);
  free(m);
  free(s);
}

static void check_softmax(mx_array *x, uint32_t mask, bool all, bool precise,
                          const char *ln) {
  int nd = mx_array_ndim(x), axes[16], na = 0;
  for (int d = 0; d < nd; d++)
    if (mask & (1u << d)) axes[na++] = d == nd - 1 ? -1 : d;
  mx_array *r = mx_softmax(x, all ? NULL : axes, na, precise);
  mx_dtype t = mx_array_dtype(x), et = is_float(t) ? t : MX_FLOAT32;
  char what[160];
  snprintf(what, sizeof what, "softmax %s mask %x %s", mx_dtype_name(t), mask, ln);
  if (!r) {
    MXT_CHECK(0, "%s: NULL %s", what, mx_last_error());
    mx_clear_error();
    return;
  }
  MXT_CHECK(mx_array_dtype(r) == et, "%s dtype", what);
  int64_t n = mx_array_size(x);
  double *xv = mxt_to_f64(x), *ref = malloc((size_t)n * sizeof *ref);
  ref_softmax(xv, mx_array_shape(x), nd, all ? 0xffffu >> (16 - nd) : mask, ref);
  double rtol, atol;
  tol_for(et, &rtol, &atol);
  if (et == MX_FLOAT32) rtol = atol = 2e-6;
  if (et == MX_FLOAT16) atol = 1e-3;
  if (et == MX_BFLOAT16) atol = 4e-3;
  mxt_close(r, ref, n, rtol, atol, what);
  free(xv);
  free(ref);
}

static void test_softmax(void) {
  mx_dtype ts[6] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT64, MX_INT32, MX_BOOL};
  int s2[2][2] = {{4, 37}, {5, 1000}};
  for (int ti = 0; ti < 6; ti++) {
    for (int si = 0; si < 2; si++) {
      mx_array *a = mxt_rand(s2[si], 2, ts[ti], -4, 4);
      check_softmax(a, 2, false, false, "last axis");
      check_softmax(a, 2, false, true, "last axis precise");
      check_softmax(a, 1, false, false, "axis 0");
      check_softmax(mxt_noncontig(a), 2, false, false, "transposed last");
      check_softmax(a, 3, true, false, "all");
    }
    int s3[3] = {3, 4, 5};
    mx_array *b = mxt_rand(s3, 3, ts[ti], -4, 4);
    for (int lay = 0; lay < 4; lay++) {
      const char *ln;
      mx_array *x = layout(b, lay, &ln);
      for (uint32_t mask = 1; mask < 8; mask++) check_softmax(x, mask, false, false, ln);
    }
    /* no axes: every element is its own group -> 1 */
    int none[1] = {0};
    mx_array *r = mx_softmax(b, none, 0, false);
    double ones[60];
    for (int i = 0; i < 60; i++) ones[i] = 1;
    mxt_close(r, ones, 60, 0, 0, "softmax no axes");
  }
  /* large magnitudes, -inf masks, rows of -inf, rows with +inf */
  float d[4][40];
  for (int j = 0; j < 40; j++) {
    d[0][j] = (float)mxt_uniform(-1, 1) * 1e4f;
    d[1][j] = j % 3 ? -INFINITY : (float)j;
    d[2][j] = -INFINITY;
    d[3][j] = j == 7 ? 1e30f : (float)mxt_uniform(-1e30, 1e30);
  }
  int shape[2] = {4, 40};
  for (int ti = 0; ti < 3; ti++) {
    mx_array *a = mx_astype(mx_array_from_data(d, shape, 2, MX_FLOAT32), ts[ti]);
    check_softmax(a, 2, false, false, "extreme");
    check_softmax(mxt_noncontig(a), 2, false, false, "extreme transposed");
  }
  /* rows sum to one */
  int sh[2] = {64, 4099};
  mx_array *a = mxt_rand(sh, 2, MX_FLOAT32, -20, 20);
  int last = -1;
  mx_array *s = mx_sum(mx_softmax(a, &last, 1, false), &last, 1, false);
  double ones[64];
  for (int i = 0; i < 64; i++) ones[i] = 1;
  mxt_close(s, ones, 64, 1e-5, 0, "softmax rows sum to 1");
}

/* Every compiled SIMD variant (baseline, AVX2, AVX-512 where the CPU has
 * them) on rows/columns with tails, NaN and the float kernels' dtypes. */
static void test_isa_variants(void) {
  const char *orig = mx_simd()->isa;
  const char *isas[3] = {"base", "avx2", "avx512"};
  mx_dtype ts[3] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16};
  int shapes[3][2] = {{7, 1031}, {1, 70001}, {523, 48}};
  for (int k = 0; k < 3; k++) {
    if (!mx_simd_select(isas[k])) continue;
    MXT_CHECK(!strcmp(mx_simd()->isa, isas[k]), "isa %s", mx_simd()->isa);
    for (int ti = 0; ti < 3; ti++)
      for (int si = 0; si < 3; si++) {
        mx_array *a = mxt_rand(shapes[si], 2, ts[ti], -3, 3);
        char ln[64];
        snprintf(ln, sizeof ln, "isa %s", isas[k]);
        for (uint32_t mask = 1; mask < 4; mask++)
          for (int op = R_SUM; op <= R_LSE; op++)
            if (op != R_PROD && op != R_VAR && op != R_STD && op != R_ALL && op != R_ANY)
              check_reduce(a, op, mask, false, false, 0, ln);
        check_softmax(a, 2, false, false, ln);
        check_softmax(a, 1, false, false, ln); /* column tiles */
      }
    /* f16 edge values through the vector widening and narrowing:
     * subnormals, max, inf, nan, negative zero */
    uint16_t h[40] = {0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x8000, 0x8001,
                      0x3c00, 0xbc00, 0x3555, 0x0200, 0x7e00, 0xfe00, 0x1234, 0x9234};
    for (int i = 16; i < 40; i++) h[i] = (uint16_t)(mxt_next() & 0xbfff); /* |x| < 2 */
    int n40 = 40;
    mx_array *hf = mx_array_from_data(h, &n40, 1, MX_FLOAT16);
    float ref[40];
    for (int i = 0; i < 40; i++) ref[i] = mx_f16_to_f32(h[i]);
    double mx = -INFINITY;
    bool nan = false;
    for (int i = 0; i < 40; i++) {
      nan |= isnan(ref[i]);
      if (ref[i] > mx) mx = ref[i];
    }
    MXT_CHECK(isnan(mx_array_item_f64(mx_max(hf, NULL, 0, false))) == nan, "f16 max nan");
    /* without the NaNs: max is +inf, min -inf; finite sum of the tail */
    int st = 16, sp = 40, one = 1;
    mx_array *tail = mx_slice(hf, &st, &sp, &one);
    double s = 0;
    for (int i = 16; i < 40; i++) s += ref[i];
    MXT_CHECK(fabs(mx_array_item_f64(mx_sum(tail, NULL, 0, false)) - s) <=
                  1e-3 * fabs(s) + 1e-2,
              "f16 sum %s", isas[k]);
    double hmax = mx_array_item_f64(
        mx_max(mx_slice(hf, (int[]){0}, (int[]){12}, &one), NULL, 0, false));
    MXT_CHECK(hmax == INFINITY, "f16 max inf %g", hmax);
    /* softmax output narrowing matches the scalar conversion exactly:
     * compare float16 softmax with float32 softmax rounded by astype */
    int sh[2] = {3, 999};
    mx_array *x16 = mxt_rand(sh, 2, MX_FLOAT16, -8, 8);
    mx_array *x32 = mx_astype(x16, MX_FLOAT32);
    int last = -1;
    mx_array *y16 = mx_softmax(x16, &last, 1, true);
    mx_array *y32 = mx_astype(mx_softmax(x32, &last, 1, true), MX_FLOAT16);
    uint16_t b16[2997], c16[2997];
    mx_array_read(y16, MX_FLOAT16, b16, sizeof b16);
    mx_array_read(y32, MX_FLOAT16, c16, sizeof c16);
    int diff = 0;
    for (int i = 0; i < 2997; i++) diff += b16[i] != c16[i];
    MXT_CHECK(diff == 0, "f16 softmax narrowing differs in %d places (%s)", diff,
              isas[k]);
    mx_array *xb = mx_astype(x32, MX_BFLOAT16);
    mx_array *yb = mx_softmax(xb, &last, 1, true);
    mx_array *zb =
        mx_astype(mx_softmax(mx_astype(xb, MX_FLOAT32), &last, 1, true), MX_BFLOAT16);
    mx_array_read(yb, MX_BFLOAT16, b16, sizeof b16);
    mx_array_read(zb, MX_BFLOAT16, c16, sizeof c16);
    diff = 0;
    for (int i = 0; i < 2997; i++) diff += b16[i] != c16[i];
    MXT_CHECK(diff == 0, "bf16 softmax narrowing differs in %d places (%s)", diff,
              isas[k]);
  }
  mx_simd_select(orig);
}

/* The SIMD half conversions against the scalar ones in the core: every
 * float16/bfloat16 value widened, and a sweep of float32 bit patterns
 * narrowed (bit-exact, NaN payloads included). */
static void test_simd_conversions(void) {
  const char *orig = mx_simd()->isa;
  const char *isas[3] = {"base", "avx2", "avx512"};
  int n = 65536;
  uint16_t *h = malloc((size_t)n * 2), *h2 = malloc((size_t)n * 2);
  float *f = malloc((size_t)n * 4);
  for (int k = 0; k < 3; k++) {
    if (!mx_simd_select(isas[k])) continue;
    const mx_simd_table *t = mx_simd();
    for (int i = 0; i < n; i++) h[i] = (uint16_t)i;
    for (int slot = 1; slot <= 2; slot++) {
      t->to_f32[slot](h, f, n);
      int bad = 0;
      for (int i = 0; i < n; i++) {
        float r = slot == 1 ? mx_f16_to_f32(h[i]) : mx_bf16_to_f32(h[i]);
        if (memcmp(&r, &f[i], 4) != 0) bad++;
      }
      MXT_CHECK(bad == 0, "%s widen slot %d: %d mismatches", isas[k], slot, bad);
    }
    int bad16 = 0, badb = 0;
    for (uint64_t base = 0; base < (1ull << 32); base += (1ull << 32) / 64) {
      for (int i = 0; i < n; i++) {
        uint32_t b = (uint32_t)(base + (uint64_t)i * 977u);
        if (i < 64) b = (uint32_t)base ^ (uint32_t)i; /* near exact bases */
        memcpy(&f[i], &b, 4);
      }
      t->from_f32[1](f, h, n);
      t->from_f32[2](f, h2, n);
      for (int i = 0; i < n; i++) {
        bad16 += h[i] != mx_f32_to_f16(f[i]);
        badb += h2[i] != mx_f32_to_bf16(f[i]);
      }
    }
    MXT_CHECK(bad16 == 0, "%s narrow f16: %d mismatches", isas[k], bad16);
    MXT_CHECK(badb == 0, "%s narrow bf16: %d mismatches", isas[k], badb);
  }
  free(h);
  free(h2);
  free(f);
  mx_simd_select(orig);
}

/* The column (first / middle axis) kernels: COL mode takes reductions whose
 * innermost kept dim is contiguous (>= 16 columns); float32/float16/
 * bfloat16 sum, mean, max and min go through the SIMD col_* kernels (8 rows
 * per call, float32 accumulators flushed to float64), everything else
 * through the generic column fold. Row counts not a multiple of 8 (and
 * above the 32-row flush, and above the count that splits rows over
 * threads), column counts with vector tails and one above the 4096-column
 * block, NaN and +-Inf placed in some columns, every ISA variant,
 * contiguous / transposed / row-stepped inputs, keepdims, several axes. */
static mx_array *with_specials(mx_array *a) {
  int nd = mx_array_ndim(a);
  int64_t n = mx_array_size(a);
  const int *s = mx_array_shape(a);
  int cols = s[nd - 1];
  double *d = mxt_to_f64(a);
  /* column 3: a NaN in the middle; column 5: +inf; column 6: -inf; column 7:
   * +inf and -inf (sum NaN); last column: NaN in the last row */
  int64_t rows = n / cols;
  int64_t mid = rows / 2;
  d[mid * cols + 3] = NAN;
  d[(rows - 1) * cols + 5] = INFINITY;
  d[0 * cols + 6] = -INFINITY;
  d[mid * cols + 7] = INFINITY;
  if (rows > 1) d[(rows - 2) * cols + 7] = -INFINITY;
  d[(rows - 1) * cols + cols - 1] = NAN;
  mx_array *r = mx_astype(mx_array_from_data(d, s, nd, MX_FLOAT64), mx_array_dtype(a));
  free(d);
  return r;
}

/* a (shape) with the last dim contiguous, rows stepped by 2 and columns
 * offset by 1 inside a bigger array */
static mx_array *row_stepped(const int *shape, int nd, mx_dtype t, double lo, double hi) {
  int big[4], st[4], sp[4], step[4];
  for (int d = 0; d < nd; d++) {
    bool last = d == nd - 1;
    big[d] = last ? shape[d] + 3 : 2 * shape[d] + 1;
    st[d] = 1;
    sp[d] = last ? shape[d] + 1 : 2 * shape[d] + 1;
    step[d] = last ? 1 : 2;
  }
  return mx_slice(mxt_rand(big, nd, t, lo, hi), st, sp, step);
}

static void test_column_kernels(void) {
  const char *orig = mx_simd()->isa;
  const char *isas[3] = {"base", "avx2", "avx512"};
  const mx_dtype ts[7] = {MX_FLOAT32, MX_BFLOAT16, MX_FLOAT16, MX_FLOAT64,
                          MX_INT32,   MX_UINT8,    MX_INT64};
  const int ops[5] = {R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD};
  /* (rows, cols) for the first axis */
  const int shapes2[][2] = {{1, 16},   {3, 17},  {13, 31},   {67, 45},
                            {203, 40}, {9, 129}, {11, 4099}, {1003, 24}};
  const int ns2 = (int)(sizeof shapes2 / sizeof shapes2[0]);
  for (int k = 0; k < 3; k++) {
    if (!mx_simd_select(isas[k])) continue;
    for (int ti = 0; ti < 7; ti++) {
      mx_dtype t = ts[ti];
      for (int oi = 0; oi < 5; oi++) {
        int op = ops[oi];
        double lo, hi;
        range_for(op, t, &lo, &hi);
        char ln[96];
        for (int si = 0; si < ns2; si++) {
          mx_scope_begin();
          const int *sh = shapes2[si];
          /* products of many rows leave the float range: few rows only */
          if (op == R_PROD && sh[0] > 13) {
            mx_scope_end();
            continue;
          }
          mx_array *a = mxt_rand(sh, 2, t, lo, hi);
          snprintf(ln, sizeof ln, "cols %dx%d %s", sh[0], sh[1], isas[k]);
          for (int kd = 0; kd < 2; kd++) check_reduce(a, op, 1, false, kd, 0, ln);
          /* transposed: reducing the last axis reads columns */
          snprintf(ln, sizeof ln, "cols %dx%d transposed %s", sh[0], sh[1], isas[k]);
          check_reduce(mxt_noncontig(mx_transpose(a, NULL, 0)), op, 2, false, false, 0,
                       ln);
          snprintf(ln, sizeof ln, "cols %dx%d row-stepped %s", sh[0], sh[1], isas[k]);
          check_reduce(row_stepped(sh, 2, t, lo, hi), op, 1, false, false, 0, ln);
          if (is_float(t) && op != R_PROD && sh[1] >= 16) {
            snprintf(ln, sizeof ln, "cols %dx%d nan/inf %s", sh[0], sh[1], isas[k]);
            check_reduce(with_specials(a), op, 1, false, true, 0, ln);
          }
          mx_scope_end();
        }
        /* middle axis, and two reduced axes around a kept one */
        mx_scope_begin();
        int s3[3] = {3, 37, 33}, s4[4] = {5, 3, 7, 37};
        if (op == R_PROD) s3[1] = 11, s4[0] = 2, s4[2] = 3;
        mx_array *b = mxt_rand(s3, 3, t, lo, hi);
        snprintf(ln, sizeof ln, "middle axis %s", isas[k]);
        for (int kd = 0; kd < 2; kd++) check_reduce(b, op, 2, false, kd, 0, ln);
        check_reduce(row_stepped(s3, 3, t, lo, hi), op, 2, false, false, 0, ln);
        if (is_float(t) && op != R_PROD)
          check_reduce(with_specials(b), op, 2, false, false, 0, "middle nan/inf");
        mx_array *c = mxt_rand(s4, 4, t, lo, hi);
        snprintf(ln, sizeof ln, "axes 0,2 %s", isas[k]);
        for (int kd = 0; kd < 2; kd++) check_reduce(c, op, 5, false, kd, 0, ln);
        check_reduce(c, op, 7, false, false, 0, ln);
        check_reduce(row_stepped(s4, 4, t, lo, hi), op, 5, false, false, 0, ln);
        mx_scope_end();
      }
    }
  }
  mx_simd_select(orig);
}

int main(void) {
  MXT_RUN(test_all_dtypes_axes);
  MXT_RUN(test_4d_merging);
  MXT_RUN(test_large);
  MXT_RUN(test_sum_accuracy);
  MXT_RUN(test_int_wrap);
  MXT_RUN(test_complex);
  MXT_RUN(test_numpy);
  MXT_RUN(test_no_axes_and_0d);
  MXT_RUN(test_empty);
  MXT_RUN(test_nan_inf);
  MXT_RUN(test_errors);
  MXT_RUN(test_argreduce);
  MXT_RUN(test_softmax);
  MXT_RUN(test_isa_variants);
  MXT_RUN(test_simd_conversions);
  MXT_RUN(test_column_kernels);
  return mxt_finish();
}
