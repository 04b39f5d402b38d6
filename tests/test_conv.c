/* test_conv.c: conv1d, conv2d, conv_general against a direct float64 loop
 * written from the definition (channels last, MLX): stride, padding (also
 * asymmetric and negative), kernel and input dilation, groups, flip, every
 * float dtype, non-contiguous inputs, and the error paths. */
#include "harness.h"

typedef struct {
  int ns;
  int stride[4], lo[4], hi[4], kdil[4], idil[4];
  int groups;
  bool flip;
} cparams;

static cparams defaults(int ns) {
  cparams p;
  memset(&p, 0, sizeof p);
  p.ns = ns;
  p.groups = 1;
  for (int d = 0; d < 4; d++) p.stride[d] = p.kdil[d] = p.idil[d] = 1;
  return p;
}

/* out (N, *O, Cout) in float64; writes the output shape. */
static double *ref_conv(mx_array *x, mx_array *w, const cparams *p, int *oshape) {
  const int *xs = mx_array_shape(x), *ws = mx_array_shape(w);
  int ns = p->ns, N = xs[0], cin = xs[ns + 1], cout = ws[0], cin_g = ws[ns + 1];
  int cout_g = cout / p->groups;
  int O[4], K[4], I[4];
  int64_t osz = 1, ksz = 1, isz = 1;
  for (int d = 0; d < ns; d++) {
    I[d] = xs[d + 1];
    K[d] = ws[d + 1];
    int idl = (I[d] - 1) * p->idil[d] + 1, kdl = (K[d] - 1) * p->kdil[d] + 1;
    O[d] = (idl + p->lo[d] + p->hi[d] - kdl) / p->stride[d] + 1;
    osz *= O[d];
    ksz *= K[d];
    isz *= I[d];
  }
  oshape[0] = N;
  for (int d = 0; d < ns; d++) oshape[d + 1] = O[d];
  oshape[ns + 1] = cout;
  double *X = mxt_to_f64(x), *W = mxt_to_f64(w);
  double *out = calloc((size_t)(N * osz * cout + 1), sizeof(double));
  for (int n = 0; n < N; n++)
    for (int64_t o = 0; o < osz; o++) {
      int od[4];
      int64_t rem = o;
      for (int d = ns - 1; d >= 0; d--) {
        od[d] = (int)(rem % O[d]);
        rem /= O[d];
      }
      for (int co = 0; co < cout; co++) {
        int g = co / cout_g;
        double s = 0;
        for (int64_t k = 0; k < ksz; k++) {
          int kd[4];
          rem = k;
          for (int d = ns - 1; d >= 0; d--) {
            kd[d] = (int)(rem % K[d]);
            rem /= K[d];
          }
          /* input index, or skip when the tap lands in padding or between
           * dilated samples */
          int64_t ii = 0;
          bool ok = true;
          for (int d = 0; d < ns; d++) {
            int pos = od[d] * p->stride[d] + kd[d] * p->kdil[d] - p->lo[d];
            int idl = (I[d] - 1) * p->idil[d] + 1;
            if (pos < 0 || pos >= idl || pos % p->idil[d]) ok = false;
            ii = ii * I[d] + (ok ? pos / p->idil[d] : 0);
          }
          if (!ok) continue;
          int64_t wk = 0;
          for (int d = 0; d < ns; d++)
            wk = wk * K[d] + (p->flip ? K[d] - 1 - kd[d] : kd[d]);
          for (int ci = 0; ci < cin_g; ci++)
            s += X[((int64_t)n * isz + ii) * cin + g * cin_g + ci] *
                 W[((int64_t)co * ksz + wk) * cin_g + ci];
        }
        out[((int64_t)n * osz + o) * cout + co] = s;
      }
    }
  free(X);
  free(W);
  return out;
}

static mx_array *run_conv(mx_array *x, mx_array *w, const cparams *p) {
  return mx_conv_general(x, w, p->ns, p->stride, p->lo, p->hi, p->kdil, p->idil,
                         p->groups, p->flip);
}

static void check_conv(mx_array *x, mx_array *w, const cparams *p, mx_array *r,
                       const char *what) {
  MXT_OK(r);
  if (!r) return;
  int oshape[6];
  double *ref = ref_conv(x, w, p, oshape);
  bool shape_ok = mx_array_ndim(r) == p->ns + 2;
  for (int d = 0; shape_ok && d < p->ns + 2; d++)
    shape_ok = mx_array_shape(r)[d] == oshape[d];
  MXT_CHECK(shape_ok, "%s: shape", what);
  int64_t n = 1;
  for (int d = 0; d < p->ns + 2; d++) n *= oshape[d];
  int ksz = mx_array_size(w) / mx_array_shape(w)[0];
  double rtol = 1e-5, atol = 2e-6 * ksz;
  switch (mx_array_dtype(r)) {
    case MX_FLOAT64:
      rtol = 1e-12, atol = 1e-12 * ksz;
      break;
    case MX_FLOAT16:
      rtol = 2e-3, atol = 1e-3;
      break;
    case MX_BFLOAT16:
      rtol = 1e-2, atol = 1e-2;
      break;
    default:
      break;
  }
  if (shape_ok) mxt_close(r, ref, n, rtol, atol, what);
  free(ref);
}

static void check(mx_array *x, mx_array *w, const cparams *p, const char *what) {
  check_conv(x, w, p, run_conv(x, w, p), what);
}

static mx_array *rnd(mx_dtype t, int ndim, const int *s) {
  return mxt_rand(s, ndim, t, -1, 1);
}

static void test_conv1d(void) {
  mx_array *x = rnd(MX_FLOAT32, 3, (int[]){2, 10, 3});
  mx_array *w = rnd(MX_FLOAT32, 3, (int[]){4, 3, 3});
  cparams p = defaults(1);
  check_conv(x, w, &p, mx_conv1d(x, w, 1, 0, 1, 1), "conv1d plain");
  p.stride[0] = 2;
  p.lo[0] = p.hi[0] = 1;
  check_conv(x, w, &p, mx_conv1d(x, w, 2, 1, 1, 1), "conv1d stride 2 pad 1");
  p = defaults(1);
  p.kdil[0] = 2;
  p.lo[0] = p.hi[0] = 2;
  check_conv(x, w, &p, mx_conv1d(x, w, 1, 2, 2, 1), "conv1d dilation 2");
  /* depthwise: groups = C_in */
  mx_array *wd = rnd(MX_FLOAT32, 3, (int[]){6, 5, 1});
  p = defaults(1);
  p.groups = 3;
  p.lo[0] = p.hi[0] = 2;
  check_conv(x, wd, &p, mx_conv1d(x, wd, 1, 2, 1, 3), "conv1d depthwise");
  /* kernel as long as the input */
  mx_array *wl = rnd(MX_FLOAT32, 3, (int[]){2, 10, 3});
  p = defaults(1);
  check_conv(x, wl, &p, mx_conv1d(x, wl, 1, 0, 1, 1), "conv1d full kernel");
  /* stride larger than kernel, long sequence */
  mx_array *xl = rnd(MX_FLOAT32, 3, (int[]){1, 1000, 8});
  mx_array *wk = rnd(MX_FLOAT32, 3, (int[]){16, 4, 8});
  p = defaults(1);
  p.stride[0] = 5;
  p.lo[0] = p.hi[0] = 3;
  check_conv(xl, wk, &p, mx_conv1d(xl, wk, 5, 3, 1, 1), "conv1d long, stride 5");
}

static void test_conv2d(void) {
  mx_array *x = rnd(MX_FLOAT32, 4, (int[]){2, 7, 8, 4});
  mx_array *w = rnd(MX_FLOAT32, 4, (int[]){6, 3, 2, 4});
  cparams p = defaults(2);
  int one[2] = {1, 1}, zero[2] = {0, 0};
  check_conv(x, w, &p, mx_conv2d(x, w, one, zero, one, 1), "conv2d plain");
  int st[2] = {2, 1}, pad[2] = {1, 0}, dil[2] = {1, 2};
  p.stride[0] = 2;
  p.lo[0] = p.hi[0] = 1;
  p.kdil[1] = 2;
  check_conv(x, w, &p, mx_conv2d(x, w, st, pad, dil, 1), "conv2d stride/pad/dilation");
  /* groups 2: weight C_in/groups = 2 */
  mx_array *wg = rnd(MX_FLOAT32, 4, (int[]){6, 3, 3, 2});
  p = defaults(2);
  p.groups = 2;
  p.lo[0] = p.hi[0] = p.lo[1] = p.hi[1] = 1;
  int pad1[2] = {1, 1};
  check_conv(x, wg, &p, mx_conv2d(x, wg, one, pad1, one, 2), "conv2d groups 2");
  /* 1x1 kernel: the no-im2col path, with and without groups */
  mx_array *w1 = rnd(MX_FLOAT32, 4, (int[]){5, 1, 1, 4});
  p = defaults(2);
  check_conv(x, w1, &p, mx_conv2d(x, w1, one, zero, one, 1), "conv2d 1x1");
  mx_array *w1g = rnd(MX_FLOAT32, 4, (int[]){4, 1, 1, 2});
  p.groups = 2;
  check_conv(x, w1g, &p, mx_conv2d(x, w1g, one, zero, one, 2), "conv2d 1x1 groups");
  /* 1x1 with stride 2: im2col */
  p = defaults(2);
  p.stride[0] = p.stride[1] = 2;
  int two[2] = {2, 2};
  check_conv(x, w1, &p, mx_conv2d(x, w1, two, zero, one, 1), "conv2d 1x1 stride 2");
}

static void test_general(void) {
  mx_array *x = rnd(MX_FLOAT32, 4, (int[]){2, 5, 4, 3});
  mx_array *w = rnd(MX_FLOAT32, 4, (int[]){4, 3, 2, 3});
  /* input dilation (transposed-conv style), asymmetric padding, flip */
  cparams p = defaults(2);
  p.idil[0] = 2;
  p.idil[1] = 3;
  p.lo[0] = 2;
  p.hi[0] = 1;
  p.lo[1] = 1;
  p.hi[1] = 3;
  check(x, w, &p, "input dilation, asymmetric padding");
  p.flip = true;
  check(x, w, &p, "flip");
  p.stride[0] = 2;
  p.kdil[1] = 2;
  check(x, w, &p, "everything at once");
  /* negative padding crops */
  cparams q = defaults(2);
  q.lo[0] = -1;
  q.hi[1] = -1;
  check(x, w, &q, "negative padding");
  /* groups with input dilation and flip */
  mx_array *xg = rnd(MX_FLOAT32, 4, (int[]){1, 4, 5, 6});
  mx_array *wg = rnd(MX_FLOAT32, 4, (int[]){6, 2, 2, 2});
  cparams r = defaults(2);
  r.groups = 3;
  r.idil[1] = 2;
  r.flip = true;
  r.lo[0] = 1;
  r.hi[1] = 2;
  check(xg, wg, &r, "groups + input dilation + flip");
  /* 3-D */
  mx_array *x3 = rnd(MX_FLOAT32, 5, (int[]){2, 4, 5, 3, 2});
  mx_array *w3 = rnd(MX_FLOAT32, 5, (int[]){3, 2, 3, 2, 2});
  cparams s = defaults(3);
  s.lo[1] = s.hi[1] = 1;
  s.stride[2] = 2;
  s.kdil[0] = 2;
  check(x3, w3, &s, "3-D");
  /* NULL per-dim arrays mean defaults */
  cparams d = defaults(2);
  check_conv(x, w, &d, mx_conv_general(x, w, 2, NULL, NULL, NULL, NULL, NULL, 1, false),
             "NULL defaults");
}

static void test_dtypes_layouts(void) {
  const mx_dtype ts[4] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (int i = 0; i < 4; i++) {
    mx_dtype t = ts[i];
    mx_array *x = rnd(t, 4, (int[]){2, 6, 5, 4});
    mx_array *w = rnd(t, 4, (int[]){3, 3, 2, 4});
    cparams p = defaults(2);
    p.lo[0] = p.hi[0] = 1;
    p.stride[1] = 2;
    check(x, w, &p, mx_dtype_name(t));
    mx_array *r = run_conv(x, w, &p);
    MXT_CHECK(r && mx_array_dtype(r) == t, "%s keeps dtype", mx_dtype_name(t));
    mx_array *w1 = rnd(t, 4, (int[]){3, 1, 1, 4});
    cparams d = defaults(2);
    check(x, w1, &d, "1x1 any dtype");
  }
  /* promotion: float16 input, float32 weight -> float32 */
  mx_array *x = rnd(MX_FLOAT16, 3, (int[]){1, 6, 2});
  mx_array *w = rnd(MX_FLOAT32, 3, (int[]){2, 3, 2});
  mx_array *r = mx_conv1d(x, w, 1, 0, 1, 1);
  MXT_CHECK(r && mx_array_dtype(r) == MX_FLOAT32, "promotion");
  /* non-contiguous input and weight */
  mx_array *xn = mxt_noncontig(rnd(MX_FLOAT32, 4, (int[]){2, 6, 5, 4}));
  mx_array *wn = mxt_noncontig(rnd(MX_FLOAT32, 4, (int[]){3, 3, 2, 4}));
  cparams p = defaults(2);
  p.lo[1] = p.hi[1] = 1;
  check(xn, wn, &p, "noncontig");
  cparams d = defaults(2);
  check(xn, rnd(MX_FLOAT32, 4, (int[]){3, 1, 1, 4}), &d, "noncontig 1x1");
  /* a sliced input (step on a spatial axis) */
  mx_array *xs = mx_slice_axis(rnd(MX_FLOAT32, 4, (int[]){2, 12, 5, 4}), 1, 0, 12, 2);
  check(xs, wn, &p, "sliced input");
  /* empty batch */
  mx_array *e = run_conv(rnd(MX_FLOAT32, 4, (int[]){0, 6, 5, 4}), wn, &p);
  MXT_CHECK(e && mx_array_size(e) == 0 && mx_eval1(e) == MX_OK, "empty batch");
}

static void test_errors(void) {
  mx_array *x = rnd(MX_FLOAT32, 4, (int[]){2, 6, 5, 4});
  mx_array *w = rnd(MX_FLOAT32, 4, (int[]){3, 3, 2, 4});
  int one[2] = {1, 1}, zero[2] = {0, 0};
#define ERRCASE(expr, what, needle)                                                 \
  do {                                                                              \
    mx_clear_error();                                                               \
    MXT_CHECK((expr) == NULL, "%s accepted", what);                                 \
    MXT_CHECK(strstr(mx_last_error(), "[conv]") && strstr(mx_last_error(), needle), \
              "%s: message %s", what, mx_last_error());                             \
    mx_clear_error();                                                               \
  } while (0)
  ERRCASE(
      mx_conv2d(mxt_rand((int[]){2, 6, 5, 4}, 4, MX_INT32, 0, 3), w, one, zero, one, 1),
      "integer input", "floating");
  ERRCASE(mx_conv1d(x, w, 1, 0, 1, 1), "4-D input for conv1d", "dimensions");
  ERRCASE(mx_conv2d(x, rnd(MX_FLOAT32, 3, (int[]){3, 3, 4}), one, zero, one, 1),
          "weight ndim", "weight");
  ERRCASE(mx_conv2d(x, rnd(MX_FLOAT32, 4, (int[]){3, 3, 2, 3}), one, zero, one, 1),
          "channel mismatch", "channels");
  ERRCASE(mx_conv2d(x, rnd(MX_FLOAT32, 4, (int[]){3, 3, 2, 4}), one, zero, one, 3),
          "channels not divisible", "divisible");
  ERRCASE(mx_conv2d(x, rnd(MX_FLOAT32, 4, (int[]){3, 3, 2, 2}), one, zero, one, 2),
          "out channels not divisible", "output channels");
  ERRCASE(mx_conv2d(x, rnd(MX_FLOAT32, 4, (int[]){3, 7, 2, 4}), one, zero, one, 1),
          "kernel larger than input", "smaller");
  ERRCASE(mx_conv2d(x, w, zero, zero, one, 1), "zero stride", "Stride");
  ERRCASE(mx_conv2d(x, w, one, zero, zero, 1), "zero dilation", "dilation");
  ERRCASE(mx_conv2d(x, w, one, zero, one, 0), "zero groups", "groups");
  ERRCASE(mx_conv_general(x, w, 2, NULL, NULL, NULL, NULL, zero, 1, false),
          "input dilation 0", "Input dilation");
  ERRCASE(mx_conv_general(x, w, 0, NULL, NULL, NULL, NULL, NULL, 1, false),
          "0 spatial dims", "spatial");
  ERRCASE(mx_conv_general(x, w, 2, NULL, (int[]){-4, 0}, NULL, NULL, NULL, 1, false),
          "cropped away", "smaller");
  MXT_CHECK(mx_conv2d(NULL, w, one, zero, one, 1) == NULL, "NULL input");
}

int main(void) {
  MXT_RUN(test_conv1d);
  MXT_RUN(test_conv2d);
  MXT_RUN(test_general);
  MXT_RUN(test_dtypes_layouts);
  MXT_RUN(test_errors);
  return mxt_finish();
}
