/* test_scan.c: cumsum, cumprod, cummax, cummin against float64 reference
 * loops (integer results wrapped to the output width, as MLX's
 * accumulators wrap) and numpy: every dtype, every axis (negative too),
 * reverse x inclusive, contiguous / transposed / step-sliced / broadcast
 * inputs, long lines and the column layout, NaN, empty and 0-d arrays and
 * errors. */
#include <stdint.h>

#include "harness.h"

enum { S_SUM, S_PROD, S_MAX, S_MIN };
static const char *names[] = {"cumsum", "cumprod", "cummax", "cummin"};

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

static mx_array *call(int op, mx_array *a, int axis, bool rev, bool inc) {
  switch (op) {
    case S_SUM:
      return mx_cumsum(a, axis, rev, inc);
    case S_PROD:
      return mx_cumprod(a, axis, rev, inc);
    case S_MAX:
      return mx_cummax(a, axis, rev, inc);
    default:
      return mx_cummin(a, axis, rev, inc);
  }
}

/* wrap an exact int64 into dtype t's range */
static double wrap(int64_t v, mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return v != 0;
    case MX_UINT8:
      return (uint8_t)v;
    case MX_UINT16:
      return (uint16_t)v;
    case MX_UINT32:
      return (uint32_t)v;
    case MX_UINT64:
      return (double)(uint64_t)v;
    case MX_INT8:
      return (int8_t)(uint8_t)v;
    case MX_INT16:
      return (int16_t)(uint16_t)v;
    case MX_INT32:
      return (int32_t)(uint32_t)v;
    default:
      return (double)v;
  }
}

static double type_min(mx_dtype t) {
  switch (t) {
    case MX_INT8:
      return INT8_MIN;
    case MX_INT16:
      return INT16_MIN;
    case MX_INT32:
      return INT32_MIN;
    case MX_INT64:
      return (double)INT64_MIN;
    default:
      return is_float(t) ? -INFINITY : 0;
  }
}
static double type_max(mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return 1;
    case MX_UINT8:
      return UINT8_MAX;
    case MX_UINT16:
      return UINT16_MAX;
    case MX_UINT32:
      return UINT32_MAX;
    case MX_UINT64:
      return (double)UINT64_MAX;
    case MX_INT8:
      return INT8_MAX;
    case MX_INT16:
      return INT16_MAX;
    case MX_INT32:
      return INT32_MAX;
    case MX_INT64:
      return (double)INT64_MAX;
    default:
      return INFINITY;
  }
}

/* reference scan of row-major x (shape) along axis */
static void ref_scan(const double *x, const int *shape, int nd, int axis, int op,
                     bool rev, bool inc, mx_dtype t, mx_dtype ot, double *out) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= shape[d];
  for (int d = axis + 1; d < nd; d++) inner *= shape[d];
  int L = shape[axis];
  bool ints = !is_float(t);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double acc = op == S_SUM    ? 0
                   : op == S_PROD ? 1
                   : op == S_MAX  ? type_min(t)
                                  : type_max(t);
      int64_t iacc = op == S_PROD ? 1 : 0;
      for (int k0 = 0; k0 < L; k0++) {
        int k = rev ? L - 1 - k0 : k0;
        int64_t pos = (o * L + k) * inner + i;
        double v = x[pos];
        double before = ints && op <= S_PROD ? wrap(iacc, ot) : acc;
        switch (op) {
          case S_SUM:
            acc += v;
            iacc = (int64_t)((uint64_t)iacc + (uint64_t)(int64_t)v);
            break;
          case S_PROD:
            acc *= v;
            iacc = (int64_t)((uint64_t)iacc * (uint64_t)(int64_t)v);
            break;
          case S_MAX:
            if (isnan(v) || v > acc) acc = isnan(acc) ? acc : v;
            break;
          default:
            if (isnan(v) || v < acc) acc = isnan(acc) ? acc : v;
            break;
        }
        double after = ints && op <= S_PROD ? wrap(iacc, ot) : acc;
        out[pos] = inc ? after : before;
      }
    }
}

static void check_scan(mx_array *x, int op, int axis, bool rev, bool inc,
                       const char *ln) {
  mx_dtype t = mx_array_dtype(x);
  mx_dtype ot = (op == S_SUM && t == MX_BOOL) ? MX_INT32 : t;
  char what[160];
  snprintf(what, sizeof what, "%s %s axis %d rev %d inc %d %s", names[op],
           mx_dtype_name(t), axis, rev, inc, ln);
  mx_array *r = call(op, x, axis, rev, inc);
  if (!r) {
    MXT_CHECK(0, "%s: NULL %s", what, mx_last_error());
    mx_clear_error();
    return;
  }
  MXT_CHECK(mx_array_dtype(r) == ot, "%s: dtype %s", what,
            mx_dtype_name(mx_array_dtype(r)));
  int nd = mx_array_ndim(x);
  MXT_CHECK(mx_array_ndim(r) == nd, "%s: ndim", what);
  int64_t n = mx_array_size(x);
  double *xv = mxt_to_f64(x), *ref = malloc((size_t)(n ? n : 1) * sizeof *ref);
  ref_scan(xv, mx_array_shape(x), nd, axis < 0 ? axis + nd : axis, op, rev, inc, t, ot,
           ref);
  double rtol = 0, atol = 0;
  if (ot == MX_FLOAT16) rtol = atol = 4e-3;
  if (ot == MX_BFLOAT16) rtol = atol = 2e-2;
  if (ot == MX_FLOAT32) rtol = atol = 1e-5;
  if (ot == MX_FLOAT64) rtol = atol = 1e-12;
  mxt_close(r, ref, n, rtol, atol, what);
  free(xv);
  free(ref);
}

static mx_array *layout(mx_array *a, int which, const char **name) {
  int nd = mx_array_ndim(a);
  const int *s = mx_array_shape(a);
  if (which == 0) {
    *name = "contiguous";
    return a;
  }
  if (which == 1) {
    *name = "transposed";
    return mxt_noncontig(a);
  }
  if (which == 2) {
    *name = "step-slice";
    int big[16], start[16], stop[16], step[16];
    for (int d = 0; d < nd; d++) {
      step[d] = d % 2 ? -1 : 2;
      big[d] = d % 2 ? s[d] : 2 * s[d];
      start[d] = MX_SLICE_DEFAULT;
      stop[d] = MX_SLICE_DEFAULT;
    }
    mx_dtype t = mx_array_dtype(a);
    mx_array *b = mxt_rand(big, nd, t, is_float(t) ? 0.8 : 0, is_float(t) ? 1.25 : 3);
    return mx_slice(b, start, stop, step);
  }
  *name = "broadcast";
  int st[16] = {0}, sp[16], stp[16];
  for (int d = 0; d < nd; d++) {
    sp[d] = d == 1 ? 1 : s[d];
    stp[d] = 1;
  }
  return mx_broadcast_to(mx_slice(a, st, sp, stp), s, nd);
}

static void test_all(void) {
  int shape[3] = {3, 4, 5};
  for (int ti = 0; ti < N_DTYPES; ti++) {
    mx_dtype t = all_dtypes[ti];
    for (int op = 0; op < 4; op++) {
      double lo = is_float(t) ? (op == S_PROD ? 0.8 : -2) : (is_signed(t) ? -40 : 0);
      double hi = is_float(t) ? (op == S_PROD ? 1.25 : 2) : 40;
      if (op == S_PROD && !is_float(t)) {
        lo = is_signed(t) ? -3 : 0;
        hi = 4;
      }
      mx_array *a = mxt_rand(shape, 3, t, lo, hi);
      for (int lay = 0; lay < 4; lay++) {
        const char *ln;
        mx_array *x = layout(a, lay, &ln);
        for (int axis = -3; axis < 3; axis++)
          for (int rev = 0; rev < 2; rev++)
            for (int inc = 0; inc < 2; inc++)
              if (axis >= 0 || (rev == inc)) check_scan(x, op, axis, rev, inc, ln);
      }
    }
  }
}

/* Long lines (chunk boundaries) and the column layout (scans over leading
 * axes of wide arrays, in blocks). */
static void test_large(void) {
  int shapes[3][2] = {{3, 20011}, {2000, 300}, {70, 2100}};
  mx_dtype ts[4] = {MX_FLOAT32, MX_INT32, MX_BFLOAT16, MX_INT8};
  for (int si = 0; si < 3; si++)
    for (int ti = 0; ti < 4; ti++) {
      mx_array *a = mxt_rand(shapes[si], 2, ts[ti], -3, 3);
      for (int axis = 0; axis < 2; axis++)
        for (int op = 0; op < 4; op += (op == 0 ? 2 : 1)) {
          check_scan(a, op, axis, axis == 0, true, "large");
          check_scan(a, op, axis, false, false, "large");
        }
      check_scan(mxt_noncontig(a), S_SUM, 0, false, true, "large transposed");
      check_scan(mxt_noncontig(a), S_SUM, 1, true, false, "large transposed");
    }
}

static void test_numpy(void) {
  int shape[3] = {4, 6, 5};
  mx_array *a = mxt_rand(shape, 3, MX_FLOAT64, 0.5, 1.5);
  mx_array *parts[] = {
      mx_cumsum(a, 1, false, true),   mx_cumsum(a, 0, true, true),
      mx_cumsum(a, -1, false, false), mx_cumprod(a, 2, false, true),
      mx_cummax(a, 1, false, true),   mx_cummin(a, 0, true, true),
  };
  int np = 6;
  int64_t n = mx_array_size(a);
  double *got = malloc((size_t)(np * n) * sizeof *got);
  for (int i = 0; i < np; i++) {
    MXT_OK(parts[i]);
    if (!parts[i]) return;
    double *p = mxt_to_f64(parts[i]);
    memcpy(got + i * n, p, (size_t)n * sizeof *p);
    free(p);
  }
  mxt_named in[1] = {{"a", a}};
  const char *code =
      "a = A['a']\n"
      "f = np.flip\n"
      "parts = [np.cumsum(a, 1), f(np.cumsum(f(a, 0), 0), 0), np.cumsum(a, -1) - a,\n"
      "  np.cumprod(a, 2), np.maximum.accumulate(a, 1), f(np.minimum.accumulate(f(a, 0), "
      "0), 0)]\n"
      "R['r'] = np.concatenate([np.ravel(p) for p in parts])\n";
  double *ref = NULL;
  int64_t nref = 0;
  if (mxt_numpy(code, in, 1, "r", &ref, &nref)) {
    MXT_CHECK(nref == np * n, "numpy size");
    for (int64_t i = 0; i < np * n && i < nref; i++)
      if (!(fabs(got[i] - ref[i]) <= 1e-12 + 1e-12 * fabs(ref[i]))) {
        MXT_CHECK(0, "numpy element %lld (part %lld): %.15g vs %.15g", (long long)i,
                  (long long)(i / n), got[i], ref[i]);
        break;
      }
  }
  free(ref);
  free(got);
}

static void test_special(void) {
  /* int8 cumsum wraps at 8 bits (dtype kept, as MLX) */
  int8_t b[10];
  for (int i = 0; i < 10; i++) b[i] = 100;
  int n = 10;
  mx_array *a = mx_array_from_data(b, &n, 1, MX_INT8);
  mx_array *c = mx_cumsum(a, 0, false, true);
  MXT_CHECK(mx_array_dtype(c) == MX_INT8, "int8 cumsum dtype");
  int8_t got[10];
  mx_array_read(c, MX_INT8, got, sizeof got);
  int8_t want = 0;
  for (int i = 0; i < 10; i++) {
    want = (int8_t)(uint8_t)(want + 100);
    MXT_CHECK(got[i] == want, "int8 wrap %d: %d vs %d", i, got[i], want);
  }
  /* bool cumsum counts in int32; bool cumprod stays bool */
  uint8_t bb[5] = {1, 1, 0, 1, 1};
  int n5 = 5;
  mx_array *ba = mx_array_from_data(bb, &n5, 1, MX_BOOL);
  mx_array *bs = mx_cumsum(ba, 0, false, true);
  double e1[5] = {1, 2, 2, 3, 4}, e2[5] = {1, 1, 0, 0, 0}, e3[5] = {0, 1, 2, 2, 3};
  MXT_CHECK(mx_array_dtype(bs) == MX_INT32, "bool cumsum int32");
  mxt_close(bs, e1, 5, 0, 0, "bool cumsum");
  mx_array *bp = mx_cumprod(ba, 0, false, true);
  MXT_CHECK(mx_array_dtype(bp) == MX_BOOL, "bool cumprod bool");
  mxt_close(bp, e2, 5, 0, 0, "bool cumprod");
  mxt_close(mx_cumsum(ba, 0, false, false), e3, 5, 0, 0, "bool exclusive cumsum");
  /* NaN propagates from its position on */
  float f[5] = {1, 3, NAN, 7, 0};
  mx_array *fa = mx_array_from_data(f, &n5, 1, MX_FLOAT32);
  double m1[5] = {1, 3, NAN, NAN, NAN}, m2[5] = {1, 1, NAN, NAN, NAN},
         m3[5] = {NAN, NAN, NAN, 7, 0};
  mxt_close(mx_cummax(fa, 0, false, true), m1, 5, 0, 0, "cummax nan");
  mxt_close(mx_cummin(fa, 0, false, true), m2, 5, 0, 0, "cummin nan");
  mxt_close(mx_cummax(fa, 0, true, true), m3, 5, 0, 0, "reverse cummax nan");
  /* exclusive cummax/cummin start from the dtype's limits */
  int16_t s[3] = {5, -2, 9};
  int n3 = 3;
  mx_array *sa = mx_array_from_data(s, &n3, 1, MX_INT16);
  double x1[3] = {INT16_MIN, 5, 5}, x2[3] = {-2, 9, INT16_MAX};
  mxt_close(mx_cummax(sa, 0, false, false), x1, 3, 0, 0, "exclusive cummax int16");
  mxt_close(mx_cummin(sa, 0, true, false), x2, 3, 0, 0, "exclusive reverse cummin int16");
  /* empty arrays and size-1 axes */
  int e[2] = {0, 4};
  mx_array *ea = mx_zeros(e, 2, MX_FLOAT32);
  for (int ax = 0; ax < 2; ax++) {
    mx_array *r = mx_cumprod(ea, ax, false, true);
    MXT_CHECK(r && mx_array_size(r) == 0 && mx_eval1(r) == MX_OK, "empty cumprod");
  }
  int o[2] = {1, 3};
  mx_array *oa = mxt_rand(o, 2, MX_FLOAT32, -1, 1);
  double *ov = mxt_to_f64(oa);
  mxt_close(mx_cumsum(oa, 0, false, true), ov, 3, 0, 0, "size-1 axis inclusive");
  double zeros[3] = {0, 0, 0};
  mxt_close(mx_cumsum(oa, 0, false, false), zeros, 3, 0, 0, "size-1 axis exclusive");
  free(ov);
  /* errors */
  MXT_CHECK(mx_cumsum(mx_array_scalar_f64(1, MX_FLOAT32), 0, false, true) == NULL, "0-d");
  mx_clear_error();
  MXT_CHECK(mx_cummax(oa, 2, false, true) == NULL, "axis 2");
  MXT_CHECK(strstr(mx_last_error(), "[cummax]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_cumprod(oa, -3, false, true) == NULL, "axis -3");
  mx_clear_error();
  MXT_CHECK(mx_cumsum(NULL, 0, false, true) == NULL && mx_last_status() == MX_OK, "NULL");
  /* complex cumsum */
  float z[6] = {1, 2, 3, -1, -0.5f, 4};
  int n3c = 3;
  mx_array *za = mx_array_from_data(z, &n3c, 1, MX_COMPLEX64);
  float zr[6];
  mx_array_read(mx_view(mx_cumsum(za, 0, false, true), MX_FLOAT32), MX_FLOAT32, zr,
                sizeof zr);
  float zw[6] = {1, 2, 4, 1, 3.5f, 5};
  MXT_CHECK(!memcmp(zr, zw, sizeof zw), "complex cumsum");
}

int main(void) {
  MXT_RUN(test_all);
  MXT_RUN(test_large);
  MXT_RUN(test_numpy);
  MXT_RUN(test_special);
  return mxt_finish();
}
