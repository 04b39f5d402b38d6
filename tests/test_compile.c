/* test_compile.c: mx_compile. Compiled results against the same function
 * run eagerly (bit for bit, but for a tight tolerance on exp/tanh/sigmoid,
 * whose NaN signs may differ) and gelu against float64 loops; tracing and
 * the signature cache (counting traces), shapeless replay, CSE / folding /
 * dead nodes (counting nodes), regions split at 24 inputs, the unfused
 * fallback (MX_COMPILE_DISABLE=1, and a compiler that cannot be run),
 * grad/vjp/jvp/vmap of compiled functions and compile of transformed ones
 * (bit for bit against the uncompiled transforms), custom_vjp inside
 * compile, threads sharing a compiled function, errors.
 *
 * Kernels go to a private cache directory, checked and removed at the end.
 * prebuild() traces every function the cases fuse before evaluating
 * anything, so all kernels are built by one compiler run; the cases then
 * find them loaded (the test fails if they needed another run). */
#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include "harness.h"

static char g_cache[256];

/* ---- helpers ---- */
static mx_array *rnd(const int *shape, int nd, mx_dtype t, double lo, double hi) {
  return mxt_rand(shape, nd, t, lo, hi);
}

static mx_array *sc(double v, mx_array *like) { return mx_scalar_like(like, v); }

/* a and b have the same dtype, shape and bytes (row-major) */
static bool same_bits(mx_array *a, mx_array *b, const char *what) {
  if (!a || !b) {
    MXT_CHECK(0, "%s: NULL (%s)", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  if (mx_array_dtype(a) != mx_array_dtype(b) || mx_array_ndim(a) != mx_array_ndim(b) ||
      memcmp(mx_array_shape(a), mx_array_shape(b),
             sizeof(int) * (size_t)mx_array_ndim(a))) {
    MXT_CHECK(0, "%s: dtype/shape differ", what);
    return false;
  }
  size_t nb = mx_array_nbytes(a);
  unsigned char *x = malloc(nb + 1), *y = malloc(nb + 1);
  bool ok = x && y && mx_array_read(a, mx_array_dtype(a), x, nb) == MX_OK &&
            mx_array_read(b, mx_array_dtype(b), y, nb) == MX_OK;
  MXT_CHECK(ok, "%s: read: %s", what, mx_last_error());
  if (ok && memcmp(x, y, nb) != 0) {
    size_t es = mx_array_itemsize(a), i = 0;
    while (i < nb && memcmp(x + i, y + i, es) == 0) i += es;
    double *dx = mxt_to_f64(a), *dy = mxt_to_f64(b);
    MXT_CHECK(0, "%s: element %zu differs: %.9g vs %.9g", what, i / es,
              dx ? dx[i / es] : NAN, dy ? dy[i / es] : NAN);
    free(dx);
    free(dy);
    ok = false;
  }
  free(x);
  free(y);
  return ok;
}

/* |a - b| <= ulps * eps(dtype) * max(|b|, tiny), NaN where the other has NaN */
static bool near(mx_array *a, mx_array *b, double rtol, const char *what) {
  if (!a || !b) {
    MXT_CHECK(0, "%s: NULL (%s)", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  int64_t n = mx_array_size(a);
  double *x = mxt_to_f64(a), *y = mxt_to_f64(b);
  bool ok = x && y && n == mx_array_size(b);
  for (int64_t i = 0; ok && i < n; i++) {
    if (isnan(x[i]) || isnan(y[i])) {
      ok = isnan(x[i]) && isnan(y[i]);
    } else {
      double e = fabs(x[i] - y[i]);
      ok = e <= rtol * fmax(fabs(y[i]), 1e-30) || x[i] == y[i];
    }
    if (!ok)
      MXT_CHECK(0, "%s: element %lld: %.9g vs %.9g", what, (long long)i, x[i], y[i]);
  }
  free(x);
  free(y);
  return ok;
}

static mx_status run(mx_closure *f, mx_array *const *in, int n, mx_vec *out) {
  return mx_closure_call(f, in, n, out);
}

/* ---- the big function: every dtype, broadcasting, chains ---- */
static int g_traces_big;

/* inputs: a f32 (A..., X, Y), b f32 (Y) [broadcast], c f16, d bf16 (1, Y)
 * [broadcast], e f64, i i32, u u8, m bool */
static mx_status fn_big(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload;
  g_traces_big++;
  if (nin != 8) return mx_set_error(MX_ERR_INVALID, "big: 8 inputs");
  mx_array *a = in[0], *b = in[1], *c = in[2], *d = in[3], *e = in[4], *i = in[5],
           *u = in[6], *m = in[7];
  mx_array *r[14];
  /* arithmetic chain, broadcast operand */
  r[0] = mx_add(mx_multiply(a, b), mx_subtract(a, sc(0.5, a)));
  /* transcendental */
  r[1] = mx_add(mx_multiply(mx_exp(a), mx_tanh(b)), mx_sigmoid(mx_subtract(a, b)));
  /* float16 chain with constants */
  r[2] = mx_subtract(mx_multiply(c, c), mx_divide(c, sc(3, c)));
  /* bfloat16, broadcast from (1, Y) */
  r[3] = mx_add(d, mx_multiply(mx_astype(a, MX_BFLOAT16), sc(3, d)));
  /* float64 through libm */
  r[4] = mx_add(mx_multiply(mx_log1p(mx_abs(e)), mx_sqrt(mx_abs(e))), mx_sin(e));
  /* where on a comparison */
  r[5] = mx_where(mx_greater(a, b), a, mx_multiply(b, sc(2, b)));
  /* integer arithmetic, then a cast */
  r[6] =
      mx_multiply(mx_astype(mx_add(mx_multiply(i, sc(3, i)), sc(1, i)), MX_FLOAT32), a);
  /* uint8 wraps */
  r[7] = mx_multiply(mx_add(u, sc(7, u)), u);
  /* bool */
  r[8] = mx_logical_and(m, mx_greater(a, sc(0, a)));
  /* maximum / minimum */
  r[9] = mx_subtract(mx_maximum(a, b), mx_minimum(a, b));
  /* Python-style integer division */
  r[10] = mx_add(mx_floor_divide(i, sc(3, i)), mx_remainder(i, sc(5, i)));
  /* float16 transcendental */
  r[11] = mx_multiply(mx_exp(c), mx_negative(c));
  /* float -> int casts saturate, int -> half */
  r[12] = mx_astype(mx_multiply(mx_astype(a, MX_INT8), sc(3, i)), MX_FLOAT16);
  /* mixed: f16 promoted with f32 */
  r[13] = mx_multiply(mx_add(c, a), mx_square(a));
  for (int k = 0; k < 14; k++) {
    mx_status rc = mx_vec_push(out, r[k]);
    if (rc != MX_OK) return rc;
  }
  return MX_OK;
}

/* which outputs must match bit for bit (others: transcendental in f32/f16) */
static const bool k_exact[14] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1};

static void big_inputs(const int *lead, int nlead, int X, int Y, mx_array **in) {
  int s[8], n = 0;
  for (int k = 0; k < nlead; k++) s[n++] = lead[k];
  s[n++] = X;
  s[n++] = Y;
  int y1[2] = {1, Y};
  int si[8];
  memcpy(si, s, sizeof s);
  si[n - 2] = 1; /* i broadcast along X */
  in[0] = rnd(s, n, MX_FLOAT32, -3, 3);
  in[1] = rnd(&Y, 1, MX_FLOAT32, -3, 3);
  in[2] = rnd(s, n, MX_FLOAT16, -2, 2);
  in[3] = rnd(y1, 2, MX_BFLOAT16, -4, 4);
  in[4] = rnd(s, n, MX_FLOAT64, -10, 10);
  in[5] = rnd(si, n, MX_INT32, -1000, 1000);
  in[6] = rnd(s, n, MX_UINT8, 0, 255);
  in[7] = mx_greater(rnd(s, n, MX_FLOAT32, -1, 1), mx_array_scalar_f64(0, MX_FLOAT32));
}

static void compare_big(mx_closure *cf, mx_array *const *in, const char *what) {
  mx_vec want = MX_VEC_INIT, got = MX_VEC_INIT;
  mx_closure *f = mx_closure_new(fn_big, NULL, NULL);
  MXT_CHECK(run(f, in, 8, &want) == MX_OK, "%s: eager: %s", what, mx_last_error());
  MXT_CHECK(run(cf, in, 8, &got) == MX_OK, "%s: compiled: %s", what, mx_last_error());
  if (want.n == 14 && got.n == 14)
    for (int k = 0; k < 14; k++) {
      char w[96];
      snprintf(w, sizeof w, "%s out %d", what, k);
      if (k_exact[k])
        same_bits(got.items[k], want.items[k], w);
      else
        near(got.items[k], want.items[k], 3e-7 * (k == 11 ? 8192 : 1), w);
    }
  mx_vec_free(&want);
  mx_vec_free(&got);
  mx_closure_free(f);
}

static void test_eager_equal(void) {
  mx_closure *f = mx_closure_new(fn_big, NULL, NULL);
  mx_closure *cf = mx_compile(f, 0);
  MXT_OK(cf);
  mx_array *in[8];
  int lead[1] = {3};
  g_traces_big = 0;
  big_inputs(lead, 1, 4, 5, in);
  compare_big(cf, in, "small");
  mx_compile_stats st;
  MXT_CHECK(mx_compile_get_stats(cf, &st) == MX_OK, "stats");
  MXT_CHECK(st.traces == 1 && g_traces_big == 2, "traced once (+1 eager): %d %d",
            st.traces, g_traces_big);
  MXT_CHECK(st.kernels >= 10 && !st.fallback, "fused kernels: %d (fallback %d)",
            st.kernels, st.fallback);
  MXT_CHECK(st.nodes > 0 && st.fused_nodes >= 2 * st.kernels, "nodes %d fused_nodes %d",
            st.nodes, st.fused_nodes);
  int64_t runs = st.compiler_runs;
  /* same signature, non-contiguous operands: cache hit, strided loops */
  mx_array *nc[8];
  for (int k = 0; k < 8; k++) nc[k] = mxt_noncontig(in[k]);
  nc[4] = mx_slice_axis(
      mx_slice_axis(rnd((int[]){3, 8, 5}, 3, MX_FLOAT64, -9, 9), 1, 0, 8, 2), 0, 2, -4,
      -1);
  MXT_OK(nc[4]);
  compare_big(cf, nc, "noncontig");
  MXT_CHECK(mx_compile_get_stats(cf, &st) == MX_OK && st.traces == 1,
            "cache hit: traces %d", st.traces);
  /* a larger shape: traced again, same kernels (no compiler run), parallel */
  int lead2[2] = {2, 3};
  big_inputs(lead2, 2, 37, 129, in);
  compare_big(cf, in, "large");
  MXT_CHECK(
      mx_compile_get_stats(cf, &st) == MX_OK && st.traces == 2 && st.cache_entries == 2,
      "new shape traced: %d", st.traces);
  MXT_CHECK(st.compiler_runs == runs, "kernels reused: %lld runs",
            (long long)st.compiler_runs);
  /* special values */
  float sv[8] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, 3e38f, -88.5f};
  int s8[1] = {8};
  mx_array *a = mx_array_from_data(sv, s8, 1, MX_FLOAT32);
  mx_array *spec[8] = {a,
                       mx_astype(mx_multiply(a, sc(-1, a)), MX_FLOAT32),
                       mx_astype(a, MX_FLOAT16),
                       rnd((int[]){1, 8}, 2, MX_BFLOAT16, -1, 1),
                       mx_astype(a, MX_FLOAT64),
                       rnd(s8, 1, MX_INT32, -5, 5),
                       rnd(s8, 1, MX_UINT8, 0, 255),
                       mx_isnan(a)};
  mx_closure *cf1 = mx_compile(f, 0);
  /* b must be (Y,): a 1-d signature of its own */
  compare_big(cf1, spec, "special");
  mx_closure_free(cf1);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- every fusable op and cast ---- */
/* Each result is an output, and also joins a running sum (logical_or for
 * bool) of up to 12 results of its dtype, itself an output: the results
 * become extra outputs of the sum's kernel, so ~300 ops need ~30 kernels. */
typedef struct {
  mx_vec *out;
  mx_array *acc[MX_NUM_DTYPES];
  int cnt[MX_NUM_DTYPES];
} grouper;

static mx_status flush(grouper *g, int t) {
  mx_status rc = MX_OK;
  if (g->acc[t]) rc = mx_vec_push(g->out, g->acc[t]);
  g->acc[t] = NULL;
  g->cnt[t] = 0;
  return rc;
}

static mx_status post_to(grouper *g, mx_array *r) {
  if (!r) return mx_last_status();
  int t = mx_array_dtype(r);
  mx_status rc = mx_vec_push(g->out, r);
  if (rc != MX_OK) return rc;
  g->acc[t] = !g->acc[t]     ? r
              : t == MX_BOOL ? mx_logical_or(g->acc[t], r)
                             : mx_add(g->acc[t], r);
  return ++g->cnt[t] == 12 ? flush(g, t) : MX_OK;
}

/* x, y f32; h, k f16; e f64; p, q i64; a, b i8; u, v u32; m, n bool */
static mx_status fn_ops(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  mx_array *x = in[0], *y = in[1], *h = in[2], *k = in[3], *e = in[4], *p = in[5],
           *q = in[6], *a = in[7], *b = in[8], *u = in[9], *v = in[10], *m = in[11],
           *n = in[12];
  mx_array *ax = mx_abs(x), *ah = mx_abs(h);
  mx_array *(*un[])(mx_array *) = {
      mx_abs,      mx_sign,     mx_expm1,  mx_square, mx_reciprocal, mx_sin,
      mx_cos,      mx_tan,      mx_arctan, mx_sinh,   mx_cosh,       mx_arcsinh,
      mx_erf,      mx_floor,    mx_ceil,   mx_isnan,  mx_isinf,      mx_isfinite,
      mx_isposinf, mx_isneginf, mx_exp,    mx_tanh,   mx_sigmoid,    mx_negative};
  mx_array *(*un_pos[])(mx_array *) = {mx_log,   mx_log1p, mx_log2,
                                       mx_log10, mx_sqrt,  mx_rsqrt};
  mx_array *(*bin[])(mx_array *, mx_array *) = {
      mx_add,          mx_subtract,   mx_multiply, mx_divide,
      mx_floor_divide, mx_remainder,  mx_maximum,  mx_minimum,
      mx_arctan2,      mx_logaddexp,  mx_equal,    mx_not_equal,
      mx_less,         mx_less_equal, mx_greater,  mx_greater_equal};
  mx_array *(*ibin[])(mx_array *, mx_array *) = {
      mx_add,           mx_subtract,    mx_multiply,   mx_floor_divide, mx_remainder,
      mx_maximum,       mx_minimum,     mx_equal,      mx_not_equal,    mx_less,
      mx_greater_equal, mx_bitwise_and, mx_bitwise_or, mx_bitwise_xor,  mx_left_shift,
      mx_right_shift,   mx_logical_and, mx_logical_or};
  mx_array *(*iun[])(mx_array *) = {mx_abs,   mx_negative,       mx_sign,       mx_square,
                                    mx_floor, mx_bitwise_invert, mx_logical_not};
  mx_status rc = MX_OK;
  grouper gr = {out, {0}, {0}};
#define post(o, r) post_to(&gr, r)
#define N_(arr) ((int)(sizeof arr / sizeof arr[0]))
  mx_array *bf = mx_astype(y, MX_BFLOAT16);
  for (int i = 0; i < N_(un) && rc == MX_OK; i++) {
    rc = post(out, un[i](x));
    if (rc == MX_OK) rc = post(out, un[i](h));
    if (rc == MX_OK) rc = post(out, un[i](bf));
  }
  for (int i = 0; i < N_(un_pos) && rc == MX_OK; i++) {
    rc = post(out, un_pos[i](ax));
    if (rc == MX_OK) rc = post(out, un_pos[i](ah));
  }
  if (rc == MX_OK) rc = post(out, mx_round(x, 0));
  if (rc == MX_OK) rc = post(out, mx_arcsin(mx_divide(x, sc(4, x))));
  if (rc == MX_OK) rc = post(out, mx_arccos(mx_divide(h, sc(4, h))));
  if (rc == MX_OK) rc = post(out, mx_arccosh(mx_add(ax, sc(1, x))));
  if (rc == MX_OK) rc = post(out, mx_arctanh(mx_divide(x, sc(4, x))));
  for (int i = 0; i < N_(bin) && rc == MX_OK; i++) {
    rc = post(out, bin[i](x, y));
    if (rc == MX_OK) rc = post(out, bin[i](h, k));
    if (rc == MX_OK) rc = post(out, bin[i](bf, mx_astype(x, MX_BFLOAT16)));
    if (rc == MX_OK && i >= 3) rc = post(out, bin[i](e, mx_astype(x, MX_FLOAT64)));
  }
  if (rc == MX_OK) rc = post(out, mx_power(ax, y));
  if (rc == MX_OK) rc = post(out, mx_power(ah, k));
  if (rc == MX_OK) rc = post(out, mx_exp(e));
  if (rc == MX_OK) rc = post(out, mx_sigmoid(e));
  mx_array *ip[4][2] = {{p, q}, {a, b}, {u, v}, {m, n}};
  for (int t = 0; t < 4 && rc == MX_OK; t++) {
    mx_array *s0 = ip[t][0], *s1 = ip[t][1];
    bool bo = mx_array_dtype(s0) == MX_BOOL;
    for (int i = 0; i < N_(ibin) && rc == MX_OK; i++)
      if (!(bo && (i == 3 || i == 4 || i >= 14))) rc = post(out, ibin[i](s0, s1));
    for (int i = 0; i < N_(iun) && rc == MX_OK; i++)
      if (!(bo && (i == 1 || i == 5))) rc = post(out, iun[i](s0));
    if (rc == MX_OK && !bo) rc = post(out, mx_power(s0, mx_remainder(s1, sc(5, s1))));
  }
  /* casts */
  mx_dtype to[] = {MX_BOOL,     MX_UINT8,   MX_UINT16, MX_UINT32, MX_UINT64,
                   MX_INT8,     MX_INT16,   MX_INT32,  MX_INT64,  MX_FLOAT16,
                   MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  mx_array *from[] = {mx_multiply(x, sc(3e4, x)),
                      mx_multiply(h, sc(100, h)),
                      mx_multiply(e, sc(1e12, e)),
                      mx_add(p, p),
                      mx_add(a, a),
                      mx_add(u, u),
                      mx_logical_not(m),
                      mx_astype(mx_multiply(x, sc(50, x)), MX_BFLOAT16)};
  for (int f = 0; f < N_(from) && rc == MX_OK; f++)
    for (int t = 0; t < N_(to) && rc == MX_OK; t++)
      if (mx_array_dtype(from[f]) != to[t]) rc = post(out, mx_astype(from[f], to[t]));
  /* where on every dtype */
  for (int i = 0; i < nin && rc == MX_OK; i++)
    rc = post(out, mx_where(mx_greater(x, y), in[i], mx_multiply(in[i], in[i])));
  for (int t = 0; t < MX_NUM_DTYPES && rc == MX_OK; t++) rc = flush(&gr, t);
#undef post
#undef N_
  return rc;
}

static void ops_inputs(mx_array **in) {
  int s[1] = {257};
  mx_array *x = rnd(s, 1, MX_FLOAT32, -3, 3);
  /* special values at the front */
  float sp[12] = {NAN,   INFINITY, -INFINITY, 0.0f,  -0.0f, 1e-40f,
                  3e38f, -3e38f,   -88.5f,    88.5f, 0.5f,  -2.5f};
  int s12[1] = {12}, z[1] = {0}, st[1] = {12};
  x = mx_slice_update(x, mx_array_from_data(sp, s12, 1, MX_FLOAT32), z, st, NULL);
  in[0] = x;
  in[1] = rnd(s, 1, MX_FLOAT32, -3, 3);
  in[2] = mx_astype(x, MX_FLOAT16);
  in[3] = rnd(s, 1, MX_FLOAT16, -3, 3);
  in[4] = mx_astype(x, MX_FLOAT64);
  in[5] = mx_multiply(rnd(s, 1, MX_INT64, -70, 70),
                      mx_array_scalar_i64(INT64_C(1) << 58, MX_INT64)); /* wraps */
  in[6] = rnd(s, 1, MX_INT64, -70, 70);                                 /* zeros too */
  in[7] = rnd(s, 1, MX_INT8, -128, 127);
  in[8] = rnd(s, 1, MX_INT8, -10, 10);
  in[9] = rnd(s, 1, MX_UINT32, 0, 4e9);
  in[10] = rnd(s, 1, MX_UINT32, 0, 40);
  in[11] = mx_greater(rnd(s, 1, MX_FLOAT32, -1, 1), mx_array_scalar_f64(0, MX_FLOAT32));
  in[12] = mx_greater(rnd(s, 1, MX_FLOAT32, -1, 1), mx_array_scalar_f64(0, MX_FLOAT32));
  MXT_OK(x);
}

static void test_all_ops(void) {
  mx_array *in[13];
  ops_inputs(in);
  mx_closure *f = mx_closure_new(fn_ops, NULL, NULL), *cf = mx_compile(f, 0);
  mx_vec want = MX_VEC_INIT, got = MX_VEC_INIT;
  MXT_CHECK(run(f, in, 13, &want) == MX_OK, "eager: %s", mx_last_error());
  MXT_CHECK(run(cf, in, 13, &got) == MX_OK && got.n == want.n, "compiled: %s",
            mx_last_error());
  int bad = 0;
  for (int i = 0; i < want.n && i < got.n && bad < 5; i++) {
    char w[32];
    snprintf(w, sizeof w, "op output %d", i);
    /* exp/tanh/sigmoid: NaN sign may differ */
    mx_dtype t = mx_array_dtype(want.items[i]);
    if (t == MX_FLOAT32 || t == MX_FLOAT16 || t == MX_BFLOAT16)
      bad += !near(got.items[i], want.items[i], 0, w);
    else
      bad += !same_bits(got.items[i], want.items[i], w);
  }
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.kernels <= want.n / 8 && st.fused_nodes >= want.n,
            "ops fused: %d kernels, %d nodes fused, %d outputs", st.kernels,
            st.fused_nodes, want.n);
  mx_vec_free(&want);
  mx_vec_free(&got);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- gelu against float64 ---- */
static mx_status fn_gelu(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  mx_array *t = mx_add(mx_multiply(in[0], in[1]), in[2]);
  mx_array *inner = mx_multiply(
      mx_add(t, mx_multiply(sc(0.044715, t), mx_multiply(t, mx_multiply(t, t)))),
      sc(0.7978845608028654, t));
  return mx_vec_push(
      out, mx_multiply(mx_multiply(sc(0.5, t), t), mx_add(sc(1, t), mx_tanh(inner))));
}

static void test_gelu_reference(void) {
  int s[2] = {33, 70};
  mx_array *in[3] = {rnd(s, 2, MX_FLOAT32, -3, 3), rnd(s, 2, MX_FLOAT32, -3, 3),
                     rnd(s + 1, 1, MX_FLOAT32, -1, 1)};
  mx_closure *f = mx_closure_new(fn_gelu, NULL, NULL), *cf = mx_compile(f, 0);
  mx_array *y = mx_closure_call1(cf, in, 3), *ye = mx_closure_call1(f, in, 3);
  double *x0 = mxt_to_f64(in[0]), *x1 = mxt_to_f64(in[1]), *x2 = mxt_to_f64(in[2]);
  double *ref = malloc(sizeof(double) * 33 * 70);
  for (int r = 0; r < 33; r++)
    for (int c = 0; c < 70; c++) {
      double t = x0[r * 70 + c] * x1[r * 70 + c] + x2[c];
      ref[r * 70 + c] =
          0.5 * t * (1 + tanh(0.7978845608028654 * (t + 0.044715 * t * t * t)));
    }
  mxt_close(y, ref, 33 * 70, 1e-5, 1e-6, "gelu vs float64");
  near(y, ye, 1e-6, "gelu vs eager");
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.kernels == 1 && st.nodes >= 10, "one kernel for gelu: %d of %d nodes",
            st.kernels, st.nodes);
  free(x0);
  free(x1);
  free(x2);
  free(ref);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- shapeless ---- */
static int g_traces_sl;
static mx_status fn_sl(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  g_traces_sl++;
  /* x (..., N) + bias (N,), times a scalar, plus a zeros_like */
  mx_array *y =
      mx_add(mx_multiply(mx_add(in[0], in[1]), sc(2, in[0])), mx_zeros_like(in[1]));
  return mx_vec_push(out, mx_maximum(y, sc(0, y)));
}

static mx_status fn_reshape(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  int s[1] = {6};
  return mx_vec_push(out, mx_exp(mx_reshape(in[0], s, 1)));
}

static void test_shapeless(void) {
  mx_closure *f = mx_closure_new(fn_sl, NULL, NULL);
  mx_closure *cf = mx_compile(f, MX_COMPILE_SHAPELESS);
  g_traces_sl = 0;
  const int shapes[3][2] = {{4, 5}, {7, 9}, {1, 3}};
  for (int k = 0; k < 3; k++) {
    mx_array *in[2] = {rnd(shapes[k], 2, MX_FLOAT32, -2, 2),
                       rnd(shapes[k] + 1, 1, MX_FLOAT32, -2, 2)};
    char w[32];
    snprintf(w, sizeof w, "shapeless %d", k);
    same_bits(mx_closure_call1(cf, in, 2), mx_closure_call1(f, in, 2), w);
  }
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.traces == 1, "shapeless: one trace for three shapes: %d", st.traces);
  /* a new ndim is a new signature */
  int s3[3] = {2, 3, 4};
  mx_array *in3[2] = {rnd(s3, 3, MX_FLOAT32, -2, 2), rnd(s3 + 2, 1, MX_FLOAT32, -2, 2)};
  same_bits(mx_closure_call1(cf, in3, 2), mx_closure_call1(f, in3, 2), "shapeless 3-d");
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.traces == 2, "new ndim retraced: %d", st.traces);
  /* shapes that do not broadcast */
  int bad[2] = {4, 6};
  mx_array *inb[2] = {rnd(bad, 2, MX_FLOAT32, -2, 2),
                      rnd(shapes[0] + 1, 1, MX_FLOAT32, -2, 2)};
  MXT_CHECK(mx_closure_call1(cf, inb, 2) == NULL, "non-broadcasting shapes fail");
  MXT_CHECK(strstr(mx_last_error(), "[compile]") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  /* non-shapeless: every shape traces */
  mx_closure *cf2 = mx_compile(f, 0);
  for (int k = 0; k < 2; k++) {
    mx_array *in[2] = {rnd(shapes[k], 2, MX_FLOAT32, -2, 2),
                       rnd(shapes[k] + 1, 1, MX_FLOAT32, -2, 2)};
    same_bits(mx_closure_call1(cf2, in, 2), mx_closure_call1(f, in, 2), "shaped");
  }
  mx_compile_get_stats(cf2, &st);
  MXT_CHECK(st.traces == 2, "shaped: two traces: %d", st.traces);
  /* a reshape cannot follow new shapes */
  mx_closure *fr = mx_closure_new(fn_reshape, NULL, NULL);
  mx_closure *cr = mx_compile(fr, MX_COMPILE_SHAPELESS);
  int s23[2] = {2, 3}, s32[2] = {3, 2}, s24[2] = {2, 4};
  mx_array *x = rnd(s23, 2, MX_FLOAT32, -1, 1);
  same_bits(mx_closure_call1(cr, &x, 1), mx_closure_call1(fr, &x, 1),
            "reshape traced shape");
  x = rnd(s32, 2, MX_FLOAT32, -1, 1); /* same size: the traced reshape still fits */
  same_bits(mx_closure_call1(cr, &x, 1), mx_closure_call1(fr, &x, 1),
            "reshape other shape");
  x = rnd(s24, 2, MX_FLOAT32, -1, 1);
  MXT_CHECK(mx_closure_call1(cr, &x, 1) == NULL, "reshape to a new size fails");
  MXT_CHECK(strstr(mx_last_error(), "shapeless") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  mx_closure_free(cr);
  mx_closure_free(fr);
  mx_closure_free(cf2);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- simplification ---- */
static mx_status fn_dup(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  mx_array *x = in[0];
  /* exp(x) twice, x*2 twice (two scalar constants), a folded constant
   * (2 + 3), and a dead value */
  mx_array *e1 = mx_exp(x), *e2 = mx_exp(x);
  mx_array *m1 = mx_multiply(x, sc(2, x)), *m2 = mx_multiply(x, sc(2, x));
  mx_array *k = mx_add(sc(2, x), sc(3, x));
  (void)mx_log(x); /* unused */
  return mx_vec_push(out, mx_multiply(mx_add(mx_add(e1, e2), mx_add(m1, m2)), k));
}

static void test_simplify(void) {
  mx_closure *f = mx_closure_new(fn_dup, NULL, NULL);
  mx_closure *raw = mx_compile(f, MX_COMPILE_NO_SIMPLIFY | MX_COMPILE_NO_FUSE);
  mx_closure *simp = mx_compile(f, MX_COMPILE_NO_FUSE);
  int s[2] = {3, 4};
  mx_array *x = rnd(s, 2, MX_FLOAT32, -2, 2);
  mx_array *want = mx_closure_call1(f, &x, 1);
  same_bits(mx_closure_call1(raw, &x, 1), want, "unsimplified");
  same_bits(mx_closure_call1(simp, &x, 1), want, "simplified");
  mx_compile_stats a, b;
  mx_compile_get_stats(raw, &a);
  mx_compile_get_stats(simp, &b);
  /* raw: 2 exp, 2 mul, 3 broadcasts (2, 2, and 2+3 held as a constant),
   * 3 adds, 1 mul (the unused log is dead either way); simplified: 1 exp,
   * 1 broadcast of 2, 1 mul, 1 broadcast of the folded 5, 3 adds, 1 mul */
  MXT_CHECK(b.nodes == 8, "simplified nodes: %d", b.nodes);
  MXT_CHECK(a.nodes == 11, "unsimplified nodes: %d", a.nodes);
  MXT_CHECK(b.kernels == 0 && a.kernels == 0, "no kernels with NO_FUSE");
  /* the same with fusion: one kernel */
  mx_closure *full = mx_compile(f, 0);
  same_bits(mx_closure_call1(full, &x, 1), want, "fused");
  mx_compile_get_stats(full, &b);
  MXT_CHECK(b.kernels == 1 && b.nodes == 8, "fused: %d kernels", b.kernels);
  mx_closure_free(full);
  mx_closure_free(raw);
  mx_closure_free(simp);
  mx_closure_free(f);
}

/* ---- closed-over constants, multi-output regions, 0-d, empty ---- */
typedef struct {
  mx_array *w;
} wpay;

static mx_status fn_closed(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)nin;
  wpay *p = payload;
  mx_array *y = mx_exp(mx_multiply(in[0], p->w));
  mx_status rc = mx_vec_push(out, y); /* an output that also feeds the next */
  if (rc == MX_OK) rc = mx_vec_push(out, mx_add(mx_multiply(y, sc(2, y)), p->w));
  if (rc == MX_OK) rc = mx_vec_push(out, in[0]); /* an input returned as is */
  return rc;
}

static void test_constants_and_outputs(void) {
  int s[2] = {5, 6};
  /* an evaluated and an unevaluated closed-over array */
  mx_array *w0 = rnd(s + 1, 1, MX_FLOAT32, -1, 1);
  wpay p = {mx_keep(mx_add(w0, mx_array_scalar_f64(1, MX_FLOAT32)))};
  mx_closure *f = mx_closure_new(fn_closed, &p, NULL), *cf = mx_compile(f, 0);
  mx_array *x = rnd(s, 2, MX_FLOAT32, -1, 1);
  mx_vec a = MX_VEC_INIT, b = MX_VEC_INIT;
  MXT_CHECK(run(cf, &x, 1, &a) == MX_OK && a.n == 3, "compiled: %s", mx_last_error());
  MXT_CHECK(run(f, &x, 1, &b) == MX_OK && b.n == 3, "eager");
  if (a.n == 3 && b.n == 3) {
    near(a.items[0], b.items[0], 3e-7, "exp output");
    near(a.items[1], b.items[1], 1e-6, "second output");
    MXT_CHECK(a.items[2] == x, "input returned as is");
  }
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.kernels == 1, "one kernel, two outputs: %d", st.kernels);
  /* second call: the closed-over value was evaluated once and reused */
  mx_vec_clear(&a);
  MXT_CHECK(run(cf, &x, 1, &a) == MX_OK && a.n == 3, "again");
  if (a.n == 3) near(a.items[1], b.items[1], 1e-6, "second call");
  /* 0-d and empty inputs */
  mx_array *z = mx_array_scalar_f64(0.25, MX_FLOAT32);
  mx_vec_clear(&a);
  mx_vec_clear(&b);
  wpay p0 = {mx_keep(mx_array_scalar_f64(3, MX_FLOAT32))};
  mx_closure *f0 = mx_closure_new(fn_closed, &p0, NULL), *cf0 = mx_compile(f0, 0);
  MXT_CHECK(run(cf0, &z, 1, &a) == MX_OK && run(f0, &z, 1, &b) == MX_OK, "0-d");
  if (a.n == 3 && b.n == 3) near(a.items[1], b.items[1], 1e-6, "0-d result");
  int e[2] = {0, 6};
  mx_array *ex = rnd(e, 2, MX_FLOAT32, -1, 1);
  mx_vec_clear(&a);
  MXT_CHECK(run(cf, &ex, 1, &a) == MX_OK && a.n == 3 && mx_array_size(a.items[1]) == 0 &&
                mx_eval(a.items, a.n) == MX_OK,
            "empty: %s", mx_last_error());
  mx_vec_free(&a);
  mx_vec_free(&b);
  mx_closure_free(cf0);
  mx_closure_free(f0);
  mx_closure_free(cf);
  mx_closure_free(f);
  mx_free(p.w);
  mx_free(p0.w);
}

/* ---- no compiler ---- */
static void test_fallback(void) {
  setenv("MX_COMPILE_DISABLE", "1", 1);
  mx_closure *f = mx_closure_new(fn_big, NULL, NULL), *cf = mx_compile(f, 0);
  mx_array *in[8];
  int lead[1] = {2};
  big_inputs(lead, 1, 3, 7, in);
  compare_big(cf, in, "fallback");
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.fallback && st.kernels == 0 && st.traces == 1, "unfused: kernels %d fb %d",
            st.kernels, st.fallback);
  MXT_CHECK(st.nodes < st.traced_nodes, "still simplified: %d < %d", st.nodes,
            st.traced_nodes);
  unsetenv("MX_COMPILE_DISABLE");
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- transforms ---- */
/* sum(gelu(x * y + z)) * 1 + sum(where(x > 0, exp(y), y)) */
static mx_status fn_loss(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload;
  mx_vec g = MX_VEC_INIT;
  mx_status rc = fn_gelu(NULL, in, nin, &g);
  mx_array *r = NULL;
  if (rc == MX_OK) {
    mx_array *w = mx_where(mx_greater(in[0], sc(0, in[0])), mx_exp(in[1]), in[1]);
    r = mx_add(mx_sum(g.items[0], NULL, 0, false), mx_sum(w, NULL, 0, false));
  }
  mx_vec_free(&g);
  return rc == MX_OK ? mx_vec_push(out, r) : rc;
}

static void test_grad(void) {
  int s[2] = {6, 7};
  mx_array *in[3] = {rnd(s, 2, MX_FLOAT32, -2, 2), rnd(s, 2, MX_FLOAT32, -2, 2),
                     rnd(s + 1, 1, MX_FLOAT32, -1, 1)};
  int argn[3] = {0, 1, 2};
  mx_closure *f = mx_closure_new(fn_loss, NULL, NULL);
  mx_closure *cf = mx_compile(f, 0);
  mx_closure *g = mx_grad(f, argn, 3), *gc = mx_grad(cf, argn, 3);
  mx_closure *cg = mx_compile(g, 0);
  mx_vec want = MX_VEC_INIT, a = MX_VEC_INIT, b = MX_VEC_INIT;
  MXT_CHECK(run(g, in, 3, &want) == MX_OK && want.n == 3, "grad: %s", mx_last_error());
  MXT_CHECK(run(gc, in, 3, &a) == MX_OK && a.n == 3, "grad(compile): %s",
            mx_last_error());
  MXT_CHECK(run(cg, in, 3, &b) == MX_OK && b.n == 3, "compile(grad): %s",
            mx_last_error());
  for (int k = 0; k < 3 && want.n == 3 && a.n == 3 && b.n == 3; k++) {
    same_bits(a.items[k], want.items[k], "grad(compile(f))");
    same_bits(b.items[k], want.items[k], "compile(grad(f))");
  }
  mx_compile_stats st;
  mx_compile_get_stats(cg, &st);
  MXT_CHECK(st.kernels >= 1, "the backward graph is fused: %d", st.kernels);
  /* the value too, through value_and_grad of the compiled function */
  mx_closure *vg = mx_value_and_grad(cf, argn, 1);
  mx_vec v = MX_VEC_INIT;
  MXT_CHECK(run(vg, in, 3, &v) == MX_OK && v.n == 2, "value_and_grad");
  if (v.n == 2) near(v.items[0], mx_closure_call1(f, in, 3), 1e-6, "value");
  mx_vec_free(&v);
  mx_vec_free(&want);
  mx_vec_free(&a);
  mx_vec_free(&b);
  mx_closure_free(vg);
  mx_closure_free(cg);
  mx_closure_free(gc);
  mx_closure_free(g);
  mx_closure_free(cf);
  mx_closure_free(f);
}

static void test_jvp_vmap(void) {
  int s[2] = {4, 7};
  mx_array *in[3] = {rnd(s, 2, MX_FLOAT32, -2, 2), rnd(s, 2, MX_FLOAT32, -2, 2),
                     rnd(s + 1, 1, MX_FLOAT32, -1, 1)};
  mx_array *t[3] = {rnd(s, 2, MX_FLOAT32, -1, 1), NULL, rnd(s + 1, 1, MX_FLOAT32, -1, 1)};
  mx_closure *f = mx_closure_new(fn_gelu, NULL, NULL), *cf = mx_compile(f, 0);
  mx_vec o1 = MX_VEC_INIT, j1 = MX_VEC_INIT, o2 = MX_VEC_INIT, j2 = MX_VEC_INIT;
  MXT_CHECK(mx_jvp(f, in, 3, t, &o1, &j1) == MX_OK, "jvp");
  MXT_CHECK(mx_jvp(cf, in, 3, t, &o2, &j2) == MX_OK, "jvp(compile): %s", mx_last_error());
  if (j1.n == 1 && j2.n == 1) same_bits(j2.items[0], j1.items[0], "jvp");
  /* vmap over axis 0 of x and y, z shared */
  int axes[3] = {0, 0, -1};
  mx_closure *vf = mx_vmap(f, axes, 3, NULL, 0), *vcf = mx_vmap(cf, axes, 3, NULL, 0);
  mx_closure *cvf = mx_compile(vf, 0);
  mx_array *y1 = mx_closure_call1(vf, in, 3);
  same_bits(mx_closure_call1(vcf, in, 3), y1, "vmap(compile)");
  same_bits(mx_closure_call1(cvf, in, 3), y1, "compile(vmap)");
  mx_vec_free(&o1);
  mx_vec_free(&j1);
  mx_vec_free(&o2);
  mx_vec_free(&j2);
  mx_closure_free(cvf);
  mx_closure_free(vcf);
  mx_closure_free(vf);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- errors ---- */
static mx_status fn_bad_shapes(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  return mx_vec_push(out, mx_add(in[0], in[1]));
}

static mx_status fn_evals(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  mx_array *y = mx_exp(in[0]);
  mx_status rc = mx_eval1(y);
  if (rc != MX_OK) return rc;
  return mx_vec_push(out, y);
}

static void test_errors(void) {
  MXT_CHECK(mx_compile(NULL, 0) == NULL, "NULL closure");
  mx_clear_error();
  mx_closure *f = mx_closure_new(fn_bad_shapes, NULL, NULL);
  MXT_CHECK(mx_compile(f, 64) == NULL && strstr(mx_last_error(), "flags"),
            "bad flags: %s", mx_last_error());
  mx_clear_error();
  mx_compile_stats st;
  MXT_CHECK(mx_compile_get_stats(f, &st) != MX_OK, "stats of a plain closure");
  mx_clear_error();
  mx_closure *cf = mx_compile(f, 0);
  int s1[1] = {3}, s2[1] = {4};
  mx_array *bad[2] = {rnd(s1, 1, MX_FLOAT32, 0, 1), rnd(s2, 1, MX_FLOAT32, 0, 1)};
  MXT_CHECK(mx_closure_call1(cf, bad, 2) == NULL, "broadcast error");
  MXT_CHECK(strstr(mx_last_error(), "[add]") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  /* nothing cached: a good call works afterwards */
  mx_array *good[2] = {bad[0], rnd(s1, 1, MX_FLOAT32, 0, 1)};
  same_bits(mx_closure_call1(cf, good, 2), mx_add(good[0], good[1]), "after an error");
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.traces == 1 && st.cache_entries == 1, "failed trace not cached");
  /* NULL input */
  mx_array *withnull[2] = {bad[0], NULL};
  MXT_CHECK(mx_closure_call1(cf, withnull, 2) == NULL, "NULL input");
  mx_clear_error();
  /* evaluating a traced value */
  mx_closure *fe = mx_closure_new(fn_evals, NULL, NULL), *ce = mx_compile(fe, 0);
  MXT_CHECK(mx_closure_call1(ce, bad, 1) == NULL, "eval inside");
  MXT_CHECK(strstr(mx_last_error(), "[compile]") != NULL, "msg: %s", mx_last_error());
  mx_clear_error();
  mx_closure_free(ce);
  mx_closure_free(fe);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- elementwise regions between other ops ---- */
/* softmax(x @ w) by hand, and a gelu of its log */
static mx_status fn_mixed(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  int ax = -1;
  mx_array *z = mx_matmul(in[0], in[1]);
  mx_array *e = mx_exp(mx_subtract(z, mx_max(z, &ax, 1, true)));
  mx_array *p = mx_divide(e, mx_sum(e, &ax, 1, true));
  mx_status rc = mx_vec_push(out, p);
  if (rc == MX_OK) rc = mx_vec_push(out, mx_multiply(mx_log(p), mx_sigmoid(z)));
  return rc;
}

static void mixed_inputs(mx_array **in) {
  in[0] = rnd((int[]){6, 16}, 2, MX_FLOAT32, -1, 1);
  in[1] = rnd((int[]){16, 10}, 2, MX_FLOAT32, -1, 1);
}

static void test_mixed(void) {
  mx_array *in[2];
  mixed_inputs(in);
  mx_closure *f = mx_closure_new(fn_mixed, NULL, NULL), *cf = mx_compile(f, 0);
  mx_vec a = MX_VEC_INIT, b = MX_VEC_INIT;
  MXT_CHECK(
      run(cf, in, 2, &a) == MX_OK && run(f, in, 2, &b) == MX_OK && a.n == 2 && b.n == 2,
      "mixed: %s", mx_last_error());
  for (int k = 0; k < a.n && k < b.n; k++) same_bits(a.items[k], b.items[k], "mixed");
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.kernels == 2, "two kernels around matmul and reductions: %d", st.kernels);
  mx_vec_free(&a);
  mx_vec_free(&b);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- wide regions are split ---- */
#define WIDE 30
static mx_status fn_wide(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload;
  mx_array *acc = in[0];
  for (int k = 1; k < nin; k++)
    acc = k % 2 ? mx_multiply(acc, in[k]) : mx_add(acc, mx_sqrt(mx_abs(in[k])));
  return mx_vec_push(out, acc);
}

static void wide_inputs(mx_array **in) {
  int s[2] = {3, 5};
  for (int k = 0; k < WIDE; k++) in[k] = rnd(s, 2, MX_FLOAT32, -1.5, 1.5);
}

static void test_wide(void) {
  mx_array *in[WIDE];
  wide_inputs(in);
  mx_closure *f = mx_closure_new(fn_wide, NULL, NULL), *cf = mx_compile(f, 0);
  same_bits(mx_closure_call1(cf, in, WIDE), mx_closure_call1(f, in, WIDE), "30 inputs");
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.kernels >= 2 && st.fused_nodes >= st.nodes - 3,
            "split into kernels of at most 24 inputs: %d kernels, %d of %d nodes",
            st.kernels, st.fused_nodes, st.nodes);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- threads share a compiled function ---- */
typedef struct {
  mx_closure *f, *cf;
  int id, bad;
} tjob;

static void *thread_main(void *p) {
  tjob *j = p;
  for (int it = 0; it < 12; it++) {
    mx_scope_begin();
    int r = 2 + (j->id + it) % 3,
        s[2] = {r, 9}; /* three signatures, traced concurrently */
    float buf[27 * 9];
    for (int k = 0; k < r * 9; k++)
      buf[k] = (float)((k * 37 + j->id * 11 + it) % 23) / 7 - 1.5f;
    mx_array *in[3] = {mx_array_from_data(buf, s, 2, MX_FLOAT32),
                       mx_array_from_data(buf + 3, s, 2, MX_FLOAT32),
                       mx_array_from_data(buf, s + 1, 1, MX_FLOAT32)};
    mx_array *a = mx_closure_call1(j->cf, in, 3), *b = mx_closure_call1(j->f, in, 3);
    float x[27 * 9], y[27 * 9];
    if (!a || !b || mx_array_read(a, MX_FLOAT32, x, sizeof x) != MX_OK ||
        mx_array_read(b, MX_FLOAT32, y, sizeof y) != MX_OK ||
        memcmp(x, y, sizeof(float) * (size_t)(r * 9)) != 0)
      j->bad++;
    mx_scope_end();
  }
  return NULL;
}

static void test_threads(void) {
  mx_closure *f = mx_closure_new(fn_gelu, NULL, NULL), *cf = mx_compile(f, 0);
  pthread_t t[4];
  tjob jobs[4];
  for (int k = 0; k < 4; k++) {
    jobs[k] = (tjob){f, cf, k, 0};
    pthread_create(&t[k], NULL, thread_main, &jobs[k]);
  }
  for (int k = 0; k < 4; k++) {
    pthread_join(t[k], NULL);
    MXT_CHECK(jobs[k].bad == 0, "thread %d: %d mismatches", k, jobs[k].bad);
  }
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.cache_entries == 3, "three signatures cached: %d", st.cache_entries);
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- custom_vjp inside a compiled function ---- */
static mx_status fn_sq(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  return mx_vec_push(out, mx_sum(mx_multiply(in[0], in[0]), NULL, 0, false));
}

/* (primal, cotangent, output) -> 3 * cotangent broadcast to the primal */
static mx_status fn_sq_vjp(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  return mx_vec_push(out,
                     mx_multiply(mx_ones_like(in[0]), mx_multiply(in[1], sc(3, in[1]))));
}

static void test_custom_vjp(void) {
  mx_closure *f = mx_closure_new(fn_sq, NULL, NULL),
             *v = mx_closure_new(fn_sq_vjp, NULL, NULL);
  mx_closure *cv = mx_custom_vjp(f, v), *ccv = mx_compile(cv, MX_COMPILE_NO_FUSE);
  mx_closure *g = mx_grad(ccv, NULL, 0), *gw = mx_grad(cv, NULL, 0);
  int s[1] = {6};
  mx_array *x = rnd(s, 1, MX_FLOAT32, -1, 1);
  same_bits(mx_closure_call1(ccv, &x, 1), mx_closure_call1(f, &x, 1), "custom forward");
  mx_array *gx = mx_closure_call1(g, &x, 1);
  same_bits(gx, mx_closure_call1(gw, &x, 1), "custom vjp through compile");
  same_bits(gx, mx_full(s, 1, 3, MX_FLOAT32), "the user's rule ran");
  mx_closure_free(gw);
  mx_closure_free(g);
  mx_closure_free(ccv);
  mx_closure_free(cv);
  mx_closure_free(v);
  mx_closure_free(f);
}

/* ---- a compiler that cannot be run (last: it is remembered) ---- */
static mx_status fn_other(void *payload, mx_array *const *in, int nin, mx_vec *out) {
  (void)payload, (void)nin;
  return mx_vec_push(out, mx_cos(mx_multiply(mx_add(in[0], sc(1.5, in[0])), in[0])));
}

static void test_no_compiler(void) {
  setenv("MX_CC", "/nonexistent/cc", 1);
  mx_closure *f = mx_closure_new(fn_other, NULL, NULL), *cf = mx_compile(f, 0);
  int s[2] = {9, 11};
  mx_array *x = rnd(s, 2, MX_FLOAT32, -2, 2);
  /* the kernel is queued, the build fails at eval: the region runs unfused */
  same_bits(mx_closure_call1(cf, &x, 1), mx_closure_call1(f, &x, 1),
            "build failed at eval");
  /* now known: a new trace does not fuse */
  int s2[2] = {3, 3};
  mx_array *x2 = rnd(s2, 2, MX_FLOAT32, -2, 2);
  same_bits(mx_closure_call1(cf, &x2, 1), mx_closure_call1(f, &x2, 1), "no compiler");
  mx_compile_stats st;
  mx_compile_get_stats(cf, &st);
  MXT_CHECK(st.traces == 2 && st.kernels == 0 && st.fallback, "unfused after: %d %d",
            st.kernels, st.fallback);
  unsetenv("MX_CC");
  mx_closure_free(cf);
  mx_closure_free(f);
}

/* ---- one build for the kernels every case needs ---- */
/* Kernels are built when first evaluated, all those traced so far in one
 * compiler run: trace each case's functions once here, then evaluate. */
static void push_all(mx_vec *all, mx_closure *cf, mx_array *const *in, int n) {
  mx_vec o = MX_VEC_INIT;
  if (run(cf, in, n, &o) == MX_OK)
    for (int k = 0; k < o.n; k++) mx_vec_push(all, o.items[k]);
  else
    fprintf(stderr, "prebuild: %s\n", mx_last_error());
  mx_clear_error();
  mx_vec_free(&o);
}

static void prebuild(void) {
  mx_scope_begin();
  mx_vec all = MX_VEC_INIT;
  mx_closure *fs[12], *cs[12];
  int nc = 0;
#define COMPILED(fn, pay, flags) \
  (fs[nc] = mx_closure_new(fn, pay, NULL), cs[nc] = mx_compile(fs[nc], flags), cs[nc++])
  mx_array *in[8];
  mx_closure *big = COMPILED(fn_big, NULL, 0);
  big_inputs((int[]){3}, 1, 4, 5, in);
  push_all(&all, big, in, 8);
  float sv[8] = {0};
  mx_array *a = mx_array_from_data(sv, (int[]){8}, 1, MX_FLOAT32);
  mx_array *spec[8] = {a,
                       a,
                       mx_astype(a, MX_FLOAT16),
                       mx_zeros((int[]){1, 8}, 2, MX_BFLOAT16),
                       mx_astype(a, MX_FLOAT64),
                       mx_astype(a, MX_INT32),
                       mx_astype(a, MX_UINT8),
                       mx_isnan(a)};
  push_all(&all, big, spec, 8);
  mx_closure *gelu = COMPILED(fn_gelu, NULL, 0);
  mx_array *g3[3] = {rnd((int[]){4, 7}, 2, MX_FLOAT32, -1, 1),
                     rnd((int[]){4, 7}, 2, MX_FLOAT32, -1, 1),
                     rnd((int[]){7}, 1, MX_FLOAT32, -1, 1)};
  push_all(&all, gelu, g3, 3);
  mx_closure *sl = COMPILED(fn_sl, NULL, MX_COMPILE_SHAPELESS);
  push_all(&all, sl, g3 + 1, 2);
  mx_array *s3[2] = {rnd((int[]){2, 3, 7}, 3, MX_FLOAT32, -1, 1), g3[2]};
  push_all(&all, sl, s3, 2);
  mx_closure *dup = COMPILED(fn_dup, NULL, 0);
  push_all(&all, dup, g3, 1);
  wpay p = {g3[2]}, p0 = {mx_array_scalar_f64(3, MX_FLOAT32)};
  mx_closure *closed = COMPILED(fn_closed, &p, 0), *closed0 = COMPILED(fn_closed, &p0, 0);
  push_all(&all, closed, g3, 1);
  push_all(&all, closed0, &p0.w, 1);
  int argn[3] = {0, 1, 2}, axes[3] = {0, 0, -1};
  mx_closure *loss = COMPILED(fn_loss, NULL, 0);
  mx_closure *gl = mx_grad(loss, argn, 3), *gf = mx_grad(fs[nc - 1], argn, 3);
  mx_closure *cg = mx_compile(gf, 0);
  push_all(&all, gl, g3, 3);
  push_all(&all, cg, g3, 3);
  mx_closure *vf = mx_vmap(fs[1], axes, 3, NULL, 0), *cvf = mx_compile(vf, 0);
  push_all(&all, cvf, g3, 3);
  mx_array *wide[WIDE];
  wide_inputs(wide);
  push_all(&all, COMPILED(fn_wide, NULL, 0), wide, WIDE);
  mx_array *mixed[2];
  mixed_inputs(mixed);
  push_all(&all, COMPILED(fn_mixed, NULL, 0), mixed, 2);
  mx_array *ops[13];
  ops_inputs(ops);
  push_all(&all, COMPILED(fn_ops, NULL, 0), ops, 13);
  if (mx_eval(all.items, all.n) != MX_OK)
    fprintf(stderr, "prebuild: %s\n", mx_last_error());
  mx_clear_error();
  mx_closure *extra[5] = {gl, gf, cg, vf, cvf};
  for (int k = 0; k < 5; k++) mx_closure_free(extra[k]);
  for (int k = 0; k < nc; k++) {
    mx_closure_free(cs[k]);
    mx_closure_free(fs[k]);
  }
#undef COMPILED
  mx_vec_free(&all);
  mx_scope_end();
}

/* ---- main ---- */
static void rm_cache(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[512];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      if (unlink(path) != 0) rm_cache(path), rmdir(path);
    }
  closedir(d);
  rmdir(dir);
}

static int count_files(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d))) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
  closedir(d);
  return n;
}

int main(void) {
  snprintf(g_cache, sizeof g_cache, "/tmp/mx-test-compile-XXXXXX");
  if (!mkdtemp(g_cache)) {
    perror("mkdtemp");
    return 1;
  }
  setenv("MX_COMPILE_CACHE", g_cache, 1);
  unsetenv("MX_COMPILE_DISABLE");
  mxt_seed(7);
  prebuild();
  mx_compile_stats st = {0};
  if (mx_compile_get_stats(NULL, &st) != MX_OK) return 1;
  int64_t runs0 = st.compiler_runs;
  mxt_seed(42);
  MXT_RUN(test_eager_equal);
  MXT_RUN(test_all_ops);
  MXT_RUN(test_gelu_reference);
  MXT_RUN(test_shapeless);
  MXT_RUN(test_simplify);
  MXT_RUN(test_constants_and_outputs);
  MXT_RUN(test_fallback);
  MXT_RUN(test_grad);
  MXT_RUN(test_jvp_vmap);
  MXT_RUN(test_errors);
  MXT_RUN(test_mixed);
  MXT_RUN(test_wide);
  MXT_RUN(test_threads);
  MXT_RUN(test_custom_vjp);
  mx_compile_get_stats(NULL, &st);
  int64_t runs1 = st.compiler_runs;
  MXT_RUN(test_no_compiler);
  /* the build left only libraries (no temporary directories or sources),
   * and the cases found every kernel built by prebuild's one run */
  int libs = count_files(g_cache, "fused-"), tmps = count_files(g_cache, "tmp-"),
      all = count_files(g_cache, "");
  fprintf(stderr, "compiler runs: %lld before the cases, %lld after; libraries: %d\n",
          (long long)runs0, (long long)runs1, libs);
  if (tmps != 0 || libs != runs1 || all != libs + 2 || runs0 != 1 || runs1 > 2) {
    fprintf(stderr, "FAIL cache dir: %d libraries, %d temporaries, %d entries\n", libs,
            tmps, all);
    rm_cache(g_cache);
    return 1;
  }
  rm_cache(g_cache);
  return mxt_finish();
}
