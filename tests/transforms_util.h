/* transforms_util.h: shared by test_autodiff.c and test_vmap.c: a catalog
 * of small functions (closures), one or more per differentiable primitive,
 * and the generic checkers:
 *  check_ad:   vjp against central finite differences of <cotangent, f>,
 *              jvp against directional central differences, outputs equal
 *              f's, and the same vjp again with unevaluated inputs;
 *  check_vmap: vmap(f) against the explicit loop over the batch.
 * References are finite differences and plain calls of f on slices, so
 * they never use the rules under test. */
#ifndef MX_TEST_TRANSFORMS_UTIL_H
#define MX_TEST_TRANSFORMS_UTIL_H

#include "harness.h"

#define MAXIN 8

typedef struct {
  int ndim;
  int shape[6];
} spec;

typedef struct {
  mx_dtype dtype;
  double lo, hi;          /* input values */
  double eps, rtol, atol; /* finite differences */
  bool no_vjp, no_jvp;
} opts;

static const opts F64 = {MX_FLOAT64, -1, 1, 1e-6, 1e-6, 1e-7, false, false};
static const opts F32 = {MX_FLOAT32, -1, 1, 1e-2, 2e-3, 2e-3, false, false};

/* ---- small helpers ---- */
/* Sum of all elements via matmul with ones (0-d). */
static inline mx_array *t_sum(mx_array *x) {
  if (!x) return NULL;
  int n = (int)mx_array_size(x), r[2] = {1, n}, c[2] = {n, 1};
  return mx_reshape(mx_matmul(mx_reshape(x, r, 2), mx_ones(c, 2, mx_array_dtype(x))),
                    NULL, 0);
}

static inline mx_array *from_f64(const double *d, const int *shape, int nd, mx_dtype t) {
  return mx_astype(mx_array_from_data(d, shape, nd, MX_FLOAT64), t);
}

static inline mx_array *idx_i32(const int32_t *v, const int *shape, int nd) {
  return mx_keep(mx_array_from_data(v, shape, nd, MX_INT32));
}

/* max |a - b| <= atol * scale + rtol * |b| with scale = max(1, max |b|) */
static inline bool compare(const double *got, const double *want, int64_t n, double rtol,
                           double atol, const char *what, const char *fn) {
  double scale = 1;
  for (int64_t i = 0; i < n; i++)
    if (fabs(want[i]) > scale) scale = fabs(want[i]);
  for (int64_t i = 0; i < n; i++) {
    double e = fabs(got[i] - want[i]);
    if (!(e <= atol * scale + rtol * fabs(want[i]))) {
      MXT_CHECK(0, "%s: %s element %lld: got %.10g want %.10g", fn, what, (long long)i,
                got[i], want[i]);
      return false;
    }
  }
  return true;
}

static inline bool compare_arr(mx_array *a, const double *want, int64_t n, double rtol,
                               double atol, const char *what, const char *fn) {
  if (!a) {
    MXT_CHECK(0, "%s: %s is NULL: %s", fn, what, mx_last_error());
    mx_clear_error();
    return false;
  }
  if (mx_array_size(a) != n) {
    MXT_CHECK(0, "%s: %s has %lld elements, want %lld", fn, what,
              (long long)mx_array_size(a), (long long)n);
    return false;
  }
  double *d = mxt_to_f64(a);
  if (!d) {
    MXT_CHECK(0, "%s: %s read failed: %s", fn, what, mx_last_error());
    mx_clear_error();
    return false;
  }
  bool ok = compare(d, want, n, rtol, atol, what, fn);
  free(d);
  return ok;
}

static inline bool same_shape_as(mx_array *a, mx_array *b) {
  return a && b && mx_array_ndim(a) == mx_array_ndim(b) &&
         memcmp(mx_array_shape(a), mx_array_shape(b),
                sizeof(int) * (size_t)mx_array_ndim(a)) == 0;
}

/* Runs f and returns the outputs as float64 host copies (caller frees). */
static inline int run_f64(mx_closure *f, mx_array **x, int nin, double **res,
                          int64_t *sizes) {
  mx_scope_begin();
  mx_vec out = MX_VEC_INIT;
  int n = -1;
  if (mx_closure_call(f, x, nin, &out) == MX_OK) {
    n = out.n;
    for (int o = 0; o < out.n; o++) {
      res[o] = mxt_to_f64(out.items[o]);
      sizes[o] = mx_array_size(out.items[o]);
    }
  }
  mx_vec_free(&out);
  mx_scope_end();
  return n;
}

/* <cot, f(x)> over the inexact outputs. */
static inline double dot_f(mx_closure *f, mx_array **x, int nin, double **cot) {
  double *res[MAXIN] = {0};
  int64_t sz[MAXIN];
  int n = run_f64(f, x, nin, res, sz);
  double s = 0;
  for (int o = 0; o < n; o++) {
    for (int64_t k = 0; cot[o] && k < sz[o]; k++) s += cot[o][k] * res[o][k];
    free(res[o]);
  }
  return s;
}

/* ---- check_ad ---- */
static inline void check_ad(const char *fn, mx_closure *f, int nin, const spec *sp,
                            opts o) {
  mx_scope_begin();
  mx_array *x[MAXIN], *cot[MAXIN] = {0}, *tan[MAXIN];
  double *xd[MAXIN], *cd[MAXIN] = {0}, *td[MAXIN];
  for (int i = 0; i < nin; i++) {
    x[i] = mxt_rand(sp[i].shape, sp[i].ndim, o.dtype, o.lo, o.hi);
    tan[i] = mxt_rand(sp[i].shape, sp[i].ndim, o.dtype, -1, 1);
    mx_eval1(x[i]);
    mx_eval1(tan[i]);
    xd[i] = mxt_to_f64(x[i]);
    td[i] = mxt_to_f64(tan[i]);
  }
  mx_vec outs = MX_VEC_INIT;
  mx_status rc = mx_closure_call(f, x, nin, &outs);
  MXT_CHECK(rc == MX_OK, "%s: call: %s", fn, mx_last_error());
  int nout = outs.n;
  double *yd[MAXIN] = {0};
  for (int k = 0; k < nout; k++) {
    mx_array *y = outs.items[k];
    yd[k] = mxt_to_f64(y);
    if (!mx_dtype_is_inexact(mx_array_dtype(y))) continue;
    cot[k] = mxt_rand(mx_array_shape(y), mx_array_ndim(y), mx_array_dtype(y), -1, 1);
    cd[k] = mxt_to_f64(cot[k]);
  }

  if (!o.no_vjp && rc == MX_OK) {
    mx_vec vo = MX_VEC_INIT, vv = MX_VEC_INIT;
    rc = mx_vjp(f, x, nin, cot, nout, &vo, &vv);
    MXT_CHECK(rc == MX_OK, "%s: vjp: %s", fn, mx_last_error());
    mx_clear_error();
    if (rc == MX_OK) {
      MXT_CHECK(vo.n == nout && vv.n == nin, "%s: vjp counts %d %d", fn, vo.n, vv.n);
      for (int k = 0; k < nout && k < vo.n; k++)
        compare_arr(vo.items[k], yd[k], mx_array_size(outs.items[k]), 0, 0, "vjp output",
                    fn);
      for (int i = 0; i < nin && i < vv.n; i++) {
        MXT_CHECK(same_shape_as(vv.items[i], x[i]), "%s: vjp %d shape", fn, i);
        int64_t n = mx_array_size(x[i]);
        double *fd = malloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t k = 0; k < n; k++) {
          double keep = xd[i][k];
          mx_array *save = x[i];
          mx_scope_begin();
          xd[i][k] = keep + o.eps;
          x[i] = from_f64(xd[i], sp[i].shape, sp[i].ndim, o.dtype);
          double fp = dot_f(f, x, nin, cd);
          xd[i][k] = keep - o.eps;
          x[i] = from_f64(xd[i], sp[i].shape, sp[i].ndim, o.dtype);
          double fm = dot_f(f, x, nin, cd);
          mx_scope_end();
          xd[i][k] = keep;
          x[i] = save;
          fd[k] = (fp - fm) / (2 * o.eps);
        }
        char what[64];
        snprintf(what, sizeof what, "vjp of input %d", i);
        compare_arr(vv.items[i], fd, n, o.rtol, o.atol, what, fn);
        free(fd);
      }
      /* the same with unevaluated primals */
      mx_array *lazy[MAXIN];
      for (int i = 0; i < nin; i++) lazy[i] = mx_copy(x[i]);
      mx_vec lo = MX_VEC_INIT, lv = MX_VEC_INIT;
      rc = mx_vjp(f, lazy, nin, cot, nout, &lo, &lv);
      MXT_CHECK(rc == MX_OK, "%s: vjp (lazy): %s", fn, mx_last_error());
      for (int i = 0; rc == MX_OK && i < nin; i++) {
        double *want = mxt_to_f64(vv.items[i]);
        compare_arr(lv.items[i], want, mx_array_size(x[i]), 1e-12, 1e-12, "lazy vjp", fn);
        free(want);
      }
      mx_vec_free(&lo);
      mx_vec_free(&lv);
    }
    mx_vec_free(&vo);
    mx_vec_free(&vv);
  }

  if (!o.no_jvp && rc == MX_OK) {
    mx_vec jo = MX_VEC_INIT, jv = MX_VEC_INIT;
    rc = mx_jvp(f, x, nin, tan, &jo, &jv);
    MXT_CHECK(rc == MX_OK, "%s: jvp: %s", fn, mx_last_error());
    mx_clear_error();
    if (rc == MX_OK) {
      MXT_CHECK(jo.n == nout && jv.n == nout, "%s: jvp counts", fn);
      double *rp[MAXIN] = {0}, *rm[MAXIN] = {0};
      int64_t sz[MAXIN];
      mx_array *xp[MAXIN], *xm[MAXIN];
      mx_scope_begin();
      for (int i = 0; i < nin; i++) {
        int64_t n = mx_array_size(x[i]);
        double *a = malloc(sizeof(double) * (size_t)(n ? n : 1));
        double *b = malloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t k = 0; k < n; k++) {
          a[k] = xd[i][k] + o.eps * td[i][k];
          b[k] = xd[i][k] - o.eps * td[i][k];
        }
        xp[i] = from_f64(a, sp[i].shape, sp[i].ndim, o.dtype);
        xm[i] = from_f64(b, sp[i].shape, sp[i].ndim, o.dtype);
        free(a);
        free(b);
      }
      run_f64(f, xp, nin, rp, sz);
      run_f64(f, xm, nin, rm, sz);
      mx_scope_end();
      for (int k = 0; k < nout && k < jv.n; k++) {
        compare_arr(jo.items[k], yd[k], mx_array_size(outs.items[k]), 0, 0, "jvp output",
                    fn);
        int64_t n = mx_array_size(outs.items[k]);
        if (!mx_dtype_is_inexact(mx_array_dtype(outs.items[k]))) {
          free(rp[k]);
          free(rm[k]);
          continue;
        }
        for (int64_t q = 0; q < n; q++) rp[k][q] = (rp[k][q] - rm[k][q]) / (2 * o.eps);
        MXT_CHECK(same_shape_as(jv.items[k], outs.items[k]), "%s: jvp %d shape", fn, k);
        compare_arr(jv.items[k], rp[k], n, o.rtol, o.atol, "jvp", fn);
        free(rp[k]);
        free(rm[k]);
      }
    }
    mx_vec_free(&jo);
    mx_vec_free(&jv);
  }
  for (int i = 0; i < nin; i++) {
    free(xd[i]);
    free(td[i]);
  }
  for (int k = 0; k < nout; k++) {
    free(cd[k]);
    free(yd[k]);
  }
  mx_vec_free(&outs);
  mx_clear_error();
  mx_scope_end();
}

/* ---- check_vmap ---- */
/* vmap(f, in_axes, out_axes) on batched inputs x (batch B on in_axes[i],
 * -1: not batched) against f on each slice. out_axes may be NULL (all 0). */
static inline void check_vmap_x(const char *fn, mx_closure *f, int nin, mx_array **x,
                                const int *in_axes, const int *out_axes, int nout_axes,
                                int B) {
  mx_scope_begin();
  mx_closure *vf = mx_vmap(f, in_axes, nin, out_axes, nout_axes);
  MXT_OK(vf);
  mx_vec vo = MX_VEC_INIT;
  mx_status rc = mx_closure_call(vf, x, nin, &vo);
  MXT_CHECK(rc == MX_OK, "%s: vmap call: %s", fn, mx_last_error());
  mx_clear_error();
  for (int b = 0; rc == MX_OK && b < B; b++) {
    mx_scope_begin();
    mx_array *xs[MAXIN];
    for (int i = 0; i < nin; i++)
      xs[i] = in_axes[i] < 0 ? x[i]
                             : mx_squeeze(mx_slice_axis(x[i], in_axes[i], b, b + 1, 1),
                                          &in_axes[i], 1);
    mx_vec ro = MX_VEC_INIT;
    rc = mx_closure_call(f, xs, nin, &ro);
    MXT_CHECK(rc == MX_OK && ro.n == vo.n, "%s: loop call: %s", fn, mx_last_error());
    for (int k = 0; rc == MX_OK && k < ro.n && k < vo.n; k++) {
      int ax = out_axes ? out_axes[k] : 0;
      int nd = mx_array_ndim(vo.items[k]);
      if (ax < 0) ax += nd;
      MXT_CHECK(
          nd == mx_array_ndim(ro.items[k]) + 1 && mx_array_shape(vo.items[k])[ax] == B,
          "%s: output %d batched shape", fn, k);
      if (nd != mx_array_ndim(ro.items[k]) + 1) continue;
      mx_array *sl = mx_squeeze(mx_slice_axis(vo.items[k], ax, b, b + 1, 1), &ax, 1);
      double *want = mxt_to_f64(ro.items[k]);
      char what[64];
      snprintf(what, sizeof what, "output %d batch %d", k, b);
      MXT_CHECK(same_shape_as(sl, ro.items[k]), "%s: %s shape", fn, what);
      compare_arr(sl, want, mx_array_size(ro.items[k]), 1e-9, 1e-12, what, fn);
      free(want);
    }
    mx_vec_free(&ro);
    mx_scope_end();
  }
  mx_vec_free(&vo);
  mx_closure_free(vf);
  mx_clear_error();
  mx_scope_end();
}

/* The same with random inputs of dtype t built from unbatched specs. */
static inline void check_vmap(const char *fn, mx_closure *f, int nin, const spec *sp,
                              const int *in_axes, const int *out_axes, int nout_axes,
                              int B, opts o) {
  mx_scope_begin();
  mx_array *x[MAXIN];
  for (int i = 0; i < nin; i++) {
    int s[8], nd = sp[i].ndim, k = 0;
    for (int d = 0; d <= nd; d++) {
      if (in_axes[i] >= 0 && d == in_axes[i])
        s[d] = B;
      else if (d < nd || in_axes[i] >= 0)
        s[d] = sp[i].shape[k++];
    }
    x[i] = mxt_rand(s, nd + (in_axes[i] >= 0), o.dtype, o.lo, o.hi);
    mx_eval1(x[i]);
  }
  check_vmap_x(fn, f, nin, x, in_axes, out_axes, nout_axes, B);
  mx_scope_end();
}

/* ---- the catalog ---- */
#define ARG (void)p, (void)n
#define PUSH(e) return mx_vec_push(out, (e))
typedef mx_status (*fnptr)(void *, mx_array *const *, int, mx_vec *);

static inline mx_status f_reshape(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int s[2] = {4, 6};
  PUSH(mx_transpose(mx_reshape(x[0], s, 2), NULL, 0));
}
static inline mx_status f_transpose(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int perm[3] = {2, 0, 1};
  PUSH(mx_transpose(x[0], perm, 3));
}
static inline mx_status f_broadcast(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int s[3] = {2, 3, 4};
  PUSH(mx_broadcast_to(x[0], s, 3));
}
static inline mx_status f_slice(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int start[2] = {4, 1}, stop[2] = {0, MX_SLICE_DEFAULT}, step[2] = {-2, 2};
  mx_status rc = mx_vec_push(out, mx_slice(x[0], start, stop, step));
  int s2[2] = {MX_SLICE_DEFAULT, -1}, e2[2] = {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT},
      st2[2] = {-1, -3};
  if (rc == MX_OK) rc = mx_vec_push(out, mx_slice(x[0], s2, e2, st2));
  return rc;
}
static inline mx_status f_as_strided(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int s[2] = {3, 4};
  int64_t st[2] = {2, 1};
  PUSH(mx_as_strided(x[0], s, st, 2, 1));
}
static inline mx_status f_astype(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_astype(mx_astype(x[0], MX_FLOAT32), MX_FLOAT64));
}
static inline mx_status f_copy(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_copy(mx_transpose(x[0], NULL, 0)));
}
static inline mx_status f_tri(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  mx_status rc = mx_vec_push(out, mx_tril(x[0], -1));
  if (rc == MX_OK) rc = mx_vec_push(out, mx_triu(x[0], 1));
  return rc;
}
static inline mx_status f_matmul(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_matmul(x[0], x[1]));
}
static inline mx_status f_matmul_same(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_matmul(mx_matmul(x[0], x[0]), x[0]));
}
static inline mx_status f_addmm(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_addmm(x[0], x[1], x[2], 0.5f, 2.0f));
}

typedef struct {
  int ns, stride[2], lo[2], hi[2], kd[2], idl[2], groups;
  bool flip;
} conv_cfg;
static inline mx_status f_conv(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const conv_cfg *c = p;
  PUSH(mx_conv_general(x[0], x[1], c->ns, c->stride, c->lo, c->hi, c->kd, c->idl,
                       c->groups, c->flip));
}
static inline mx_status f_concat(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_concatenate(x, 3, 1));
}
static inline mx_status f_pad_const(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int lo[2] = {1, 0}, hi[2] = {2, 1};
  PUSH(mx_pad(x[0], NULL, lo, hi, 2, x[1], MX_PAD_CONSTANT));
}
static inline mx_status f_pad_edge(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int lo[2] = {2, 1}, hi[2] = {1, 3};
  PUSH(mx_pad(x[0], NULL, lo, hi, 2, NULL, MX_PAD_EDGE));
}
static inline mx_status f_roll(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int sh[2] = {1, -2}, ax[2] = {0, 1};
  PUSH(mx_roll(x[0], sh, ax, 2));
}
static inline mx_status f_slice_update(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  int start[2] = {1, 0}, stop[2] = {5, 5}, step[2] = {2, 1};
  PUSH(mx_slice_update(x[0], x[1], start, stop, step));
}

/* payloads with constant index arrays (kept for the program's lifetime) */
typedef struct {
  mx_array *idx[3];
} idx_cfg;
static inline mx_status f_dyn_slice(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  int axes[2] = {0, 1}, sizes[2] = {2, 3};
  PUSH(mx_dynamic_slice(x[0], c->idx[0], axes, 2, sizes));
}
static inline mx_status f_dyn_update(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  int axes[2] = {0, 1};
  PUSH(mx_dynamic_slice_update(x[0], x[1], c->idx[0], axes, 2));
}
static inline mx_status f_take(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  PUSH(mx_take(x[0], c->idx[0], 1));
}
static inline mx_status f_take_along(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  PUSH(mx_take_along_axis(x[0], c->idx[0], 2));
}
static inline mx_status f_put_along(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  PUSH(mx_put_along_axis(x[0], c->idx[0], x[1], 1));
}
static inline mx_status f_gather(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  int axes[2] = {0, 2}, sizes[3] = {1, 5, 1};
  PUSH(mx_gather(x[0], c->idx, 2, axes, sizes));
}
static inline mx_status f_scatter_add(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  int axes[1] = {0};
  PUSH(mx_scatter(x[0], c->idx, 1, x[1], axes, MX_SCATTER_ADD));
}
static inline mx_status f_scatter_set(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  int axes[1] = {0};
  PUSH(mx_scatter(x[0], c->idx + 1, 1, x[1], axes, MX_SCATTER_SET));
}
static inline mx_status f_perm(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const idx_cfg *c = p;
  PUSH(mx_random_permutation_array(x[0], 0, c->idx[0]));
}

typedef struct {
  mx_array *wq, *s, *b;
  bool transpose;
} qcfg;
static inline mx_status f_qmm(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const qcfg *c = p;
  PUSH(mx_quantized_matmul(x[0], c->wq, c->s, c->b, c->transpose, 32, 4));
}
static inline mx_status f_dequant(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const qcfg *c = p;
  PUSH(mx_dequantize(c->wq, x[0], x[1], 32, 4));
}

/* ---- elementwise, reductions, fast ops ---- */
typedef mx_array *(*un_fn)(mx_array *);
typedef mx_array *(*bn_fn)(mx_array *, mx_array *);
static inline mx_status f_un(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  PUSH((*(const un_fn *)p)(x[0]));
}
static inline mx_status f_bn(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  PUSH((*(const bn_fn *)p)(x[0], x[1]));
}
static inline mx_array *round1(mx_array *a) { return mx_round(a, 1); }
#define UNOP(name) static const un_fn U_##name = mx_##name;
UNOP(abs)
UNOP(negative)
UNOP(sign) UNOP(exp) UNOP(expm1) UNOP(log) UNOP(log1p) UNOP(log2) UNOP(log10) UNOP(sqrt)
    UNOP(rsqrt) UNOP(square) UNOP(reciprocal) UNOP(sin) UNOP(cos) UNOP(tan) UNOP(arcsin)
        UNOP(arccos) UNOP(arctan) UNOP(sinh) UNOP(cosh) UNOP(tanh) UNOP(arcsinh)
            UNOP(arccosh) UNOP(arctanh) UNOP(erf) UNOP(erfinv) UNOP(sigmoid) UNOP(floor)
                UNOP(ceil) static const un_fn U_round = round1;
#define BNOP(name) static const bn_fn B_##name = mx_##name;
BNOP(add)
BNOP(subtract)
BNOP(multiply) BNOP(divide) BNOP(power) BNOP(maximum) BNOP(minimum) BNOP(arctan2)
    BNOP(logaddexp) BNOP(remainder) BNOP(floor_divide)

        static inline mx_status f_where(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  PUSH(mx_where(*(mx_array **)p, x[0], x[1]));
}
static inline mx_status f_clip(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_clip(x[0], mx_scalar_like(x[0], -0.5), mx_scalar_like(x[0], 0.5)));
}

typedef struct {
  int kind;           /* 0 sum 1 prod 2 max 3 min 4 mean 5 var 6 std 7 logsumexp */
  int axes[4], naxes; /* naxes < 0: all */
  bool keepdims;
  int ddof;
} red_cfg;
static inline mx_array *reduce_by(const red_cfg *c, mx_array *x) {
  const int *ax = c->naxes < 0 ? NULL : c->axes;
  int na = c->naxes < 0 ? 0 : c->naxes;
  switch (c->kind) {
    case 0:
      return mx_sum(x, ax, na, c->keepdims);
    case 1:
      return mx_prod(x, ax, na, c->keepdims);
    case 2:
      return mx_max(x, ax, na, c->keepdims);
    case 3:
      return mx_min(x, ax, na, c->keepdims);
    case 4:
      return mx_mean(x, ax, na, c->keepdims);
    case 5:
      return mx_var(x, ax, na, c->keepdims, c->ddof);
    case 6:
      return mx_std(x, ax, na, c->keepdims, c->ddof);
    default:
      return mx_logsumexp(x, ax, na, c->keepdims);
  }
}
static inline mx_status f_red(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  PUSH(reduce_by(p, x[0]));
}
static const red_cfg R_sum = {0, {1}, 1, false, 0}, R_sum_all = {0, {0}, -1, false, 0},
                     R_prod = {1, {0, 2}, 2, true, 0}, R_max = {2, {-1}, 1, false, 0},
                     R_min = {3, {0, 1}, 2, false, 0}, R_mean = {4, {1, 2}, 2, false, 0},
                     R_var = {5, {1}, 1, false, 1}, R_std = {6, {0, 2}, 2, true, 0},
                     R_lse = {7, {-1}, 1, true, 0}, R_prod1 = {1, {1}, 1, false, 0};
/* prod over rows with exact zeros (one row with two) */
static inline mx_status f_prod_zero(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  PUSH(reduce_by(&R_prod1, mx_multiply(x[0], *(mx_array **)p)));
}

typedef struct {
  int kind, axis; /* kind 0 cumsum, 1 cumprod */
  bool reverse, inclusive;
} scan_cfg;
static inline mx_status f_scan(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const scan_cfg *c = p;
  PUSH(c->kind ? mx_cumprod(x[0], c->axis, c->reverse, c->inclusive)
               : mx_cumsum(x[0], c->axis, c->reverse, c->inclusive));
}
static const scan_cfg S_sum = {0, 1, false, true}, S_sum_rx = {0, 0, true, false},
                      S_prod = {1, 1, false, true}, S_prod_rx = {1, 0, true, false};

static inline mx_status f_softmax(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const red_cfg *c = p;
  PUSH(mx_softmax(x[0], c->axes, c->naxes, c->keepdims));
}
static const red_cfg SM_last = {0, {-1}, 1, true, 0}, SM_two = {0, {0, 2}, 2, false, 0};

typedef struct {
  int kind, axis, k; /* 0 sort, 1 partition (kth k), 2 topk, 3 max via argmax */
} sort_cfg;
static inline mx_status f_sort(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const sort_cfg *c = p;
  switch (c->kind) {
    case 0:
      PUSH(mx_sort(x[0], c->axis));
    case 1:
      PUSH(mx_partition(x[0], c->k, c->axis));
    case 2:
      PUSH(mx_topk(x[0], c->k, c->axis));
    default:
      PUSH(mx_take_along_axis(x[0], mx_argmax(x[0], c->axis, true), c->axis));
  }
}
static const sort_cfg SO_sort = {0, 0, 0}, SO_part = {1, 1, 2}, SO_topk = {2, -1, 2},
                      SO_argmax = {3, 1, 0};

static inline mx_status f_rms(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p;
  PUSH(mx_fast_rms_norm(x[0], n > 1 ? x[1] : NULL, 1e-5f));
}
static inline mx_status f_ln(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p;
  PUSH(mx_fast_layer_norm(x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-5f));
}
static inline mx_status f_ln_bias(void *p, mx_array *const *x, int n, mx_vec *out) {
  ARG;
  PUSH(mx_fast_layer_norm(x[0], NULL, x[1], 1e-5f));
}

typedef struct {
  int dims;
  bool traditional;
  mx_array *offsets, *freqs;
} rope_cfg;
static inline mx_status f_rope(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const rope_cfg *c = p;
  if (c->offsets)
    PUSH(mx_fast_rope_dynamic(x[0], c->dims, c->traditional, 10000.f, 0.5f, c->offsets,
                              c->freqs));
  PUSH(mx_fast_rope(x[0], c->dims, c->traditional, 10000.f, 1.f, 3, c->freqs));
}

typedef struct {
  int mode;
  mx_array *bmask; /* constant bool mask (mode 3) */
} sdpa_cfg;
/* mode 0: none, 1: causal, 2: additive mask input x[3], 3: bool mask + sinks x[3] */
static inline mx_status f_sdpa(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const sdpa_cfg *c = p;
  float scale = 0.35f;
  switch (c->mode) {
    case 0:
      PUSH(mx_fast_scaled_dot_product_attention(x[0], x[1], x[2], scale,
                                                MX_SDPA_MASK_NONE, NULL, NULL));
    case 1:
      PUSH(mx_fast_scaled_dot_product_attention(x[0], x[1], x[2], scale,
                                                MX_SDPA_MASK_CAUSAL, NULL, NULL));
    case 2:
      PUSH(mx_fast_scaled_dot_product_attention(x[0], x[1], x[2], scale,
                                                MX_SDPA_MASK_ARRAY, x[3], NULL));
    default:
      PUSH(mx_fast_scaled_dot_product_attention(x[0], x[1], x[2], scale,
                                                MX_SDPA_MASK_ARRAY, c->bmask, x[3]));
  }
}

/* Shared constants of the catalog. */
typedef struct {
  idx_cfg dyn, dynu, take, along, put, gather, scat, perm;
  qcfg qt, qn;
  conv_cfg c1, c1b, c2, cneg;
  mx_array *cond, *zmask;
  rope_cfg rope, rope_trad, rope_dyn;
  sdpa_cfg sd_none, sd_causal, sd_add, sd_bool;
} catalog;

static inline void catalog_init(catalog *c) {
  mx_scope_begin(); /* what the catalog keeps survives it */
  int s1[1] = {2}, s22[2] = {2, 2}, s3[1] = {3}, s32[2] = {3, 2}, sa[3] = {1, 3, 2};
  c->dyn.idx[0] = idx_i32((int32_t[]){3, -2}, s1, 1);
  c->dynu.idx[0] = idx_i32((int32_t[]){1, 10}, s1, 1);
  c->take.idx[0] = idx_i32((int32_t[]){3, -1, 0, 3}, s22, 2);
  c->along.idx[0] = idx_i32((int32_t[]){4, 0, 1, 1, 3, 2}, sa, 3);
  c->put.idx[0] = idx_i32((int32_t[]){0, 3, 4, 1, 2, 0}, s32, 2);
  c->gather.idx[0] = idx_i32((int32_t[]){1, 3, 1}, s3, 1);
  c->gather.idx[1] = idx_i32((int32_t[]){0, -1, 2}, s3, 1);
  c->scat.idx[0] = idx_i32((int32_t[]){4, 0, 4}, s3, 1);
  c->scat.idx[1] = idx_i32((int32_t[]){3, 0, 1}, s3, 1);
  c->perm.idx[0] = mx_keep(mx_random_key(7));
  int ws[2] = {8, 64}, wn[2] = {32, 64};
  mx_array *w = mxt_rand(ws, 2, MX_FLOAT32, -1, 1),
           *w2 = mxt_rand(wn, 2, MX_FLOAT32, -1, 1);
  mx_quantize(w, 32, 4, &c->qt.wq, &c->qt.s, &c->qt.b);
  mx_quantize(w2, 32, 4, &c->qn.wq, &c->qn.s, &c->qn.b);
  mx_keep(c->qt.wq), mx_keep(c->qt.s), mx_keep(c->qt.b);
  mx_keep(c->qn.wq), mx_keep(c->qn.s), mx_keep(c->qn.b);
  mx_array *all[6] = {c->qt.wq, c->qt.s, c->qt.b, c->qn.wq, c->qn.s, c->qn.b};
  mx_eval(all, 6);
  c->qt.transpose = true;
  c->qn.transpose = false;
  c->c1 = (conv_cfg){1, {2, 0}, {1, 0}, {2, 0}, {2, 0}, {1, 0}, 2, false};
  c->c1b = (conv_cfg){1, {1, 0}, {2, 0}, {0, 0}, {1, 0}, {2, 0}, 1, true};
  c->c2 = (conv_cfg){2, {1, 2}, {1, 0}, {1, 1}, {1, 1}, {1, 1}, 1, false};
  c->cneg = (conv_cfg){1, {1, 0}, {-1, 0}, {-2, 0}, {1, 0}, {1, 0}, 1, false};
  int s34[2] = {3, 4};
  c->cond = mx_keep(mx_greater(mxt_rand(s34, 2, MX_FLOAT32, -1, 1),
                               mx_array_scalar_f64(0, MX_FLOAT32)));
  c->zmask = mx_keep(mx_array_from_data((double[]){1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1},
                                        s34, 2, MX_FLOAT64));
  c->rope = (rope_cfg){8, false, NULL, NULL};
  c->rope_trad = (rope_cfg){4, true, NULL, NULL};
  int s2[1] = {2}, s4[1] = {4};
  c->rope_dyn = (rope_cfg){
      8, false, idx_i32((int32_t[]){5, 1}, s2, 1),
      mx_keep(mx_array_from_data((float[]){1.5f, 3.f, 9.f, 40.f}, s4, 1, MX_FLOAT32))};
  c->sd_none = (sdpa_cfg){0, NULL};
  c->sd_causal = (sdpa_cfg){1, NULL};
  c->sd_add = (sdpa_cfg){2, NULL};
  int sm[4] = {1, 1, 3, 5};
  c->sd_bool = (sdpa_cfg){
      3, mx_keep(mx_array_from_data(
             (uint8_t[]){1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1}, sm, 4, MX_BOOL))};
  mx_array *more[5] = {c->cond, c->zmask, c->rope_dyn.offsets, c->rope_dyn.freqs,
                       c->sd_bool.bmask};
  mx_eval(more, 5);
  mx_scope_end();
}

static inline void catalog_free(catalog *c) {
  idx_cfg *all[] = {&c->dyn, &c->dynu,   &c->take, &c->along,
                    &c->put, &c->gather, &c->scat, &c->perm};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    for (int j = 0; j < 3; j++) mx_free(all[i]->idx[j]);
  mx_free(c->cond);
  mx_free(c->zmask);
  mx_free(c->rope_dyn.offsets);
  mx_free(c->rope_dyn.freqs);
  mx_free(c->sd_bool.bmask);
  qcfg *q[] = {&c->qt, &c->qn};
  for (int i = 0; i < 2; i++) {
    mx_free(q[i]->wq);
    mx_free(q[i]->s);
    mx_free(q[i]->b);
  }
}

/* One entry: a function, its payload, its input specs and options. */
typedef struct {
  const char *name;
  fnptr fn;
  int payload; /* index into catalog_payload */
  int nin;
  spec in[4];
  int opt;        /* 0: F64, 1: F32, 2: F32 jvp only, 3: F32 loose (nonlinear) */
  double lo, hi;  /* input range (0, 0: [-1, 1)) */
  const void *pl; /* payload given directly */
} entry;

#define SP(...)                                                 \
  {                                                             \
    sizeof((int[]){__VA_ARGS__}) / sizeof(int), { __VA_ARGS__ } \
  }
#define SP0  \
  {          \
    0, { 0 } \
  }

static const entry ENTRIES[] = {
    {"reshape", f_reshape, 0, 1, {SP(2, 3, 4)}, 0, 0, 0, NULL},
    {"transpose", f_transpose, 0, 1, {SP(2, 3, 4)}, 0, 0, 0, NULL},
    {"broadcast", f_broadcast, 0, 1, {SP(3, 1)}, 0, 0, 0, NULL},
    {"slice", f_slice, 0, 1, {SP(5, 6)}, 0, 0, 0, NULL},
    {"as_strided", f_as_strided, 0, 1, {SP(12)}, 0, 0, 0, NULL},
    {"astype", f_astype, 0, 1, {SP(3, 4)}, 1, 0, 0, NULL},
    {"copy", f_copy, 0, 1, {SP(3, 4)}, 0, 0, 0, NULL},
    {"tril_triu", f_tri, 0, 1, {SP(4, 5)}, 0, 0, 0, NULL},
    {"matmul", f_matmul, 0, 2, {SP(2, 3, 4), SP(4, 5)}, 0, 0, 0, NULL},
    {"matmul_vec", f_matmul, 0, 2, {SP(3), SP(2, 3, 4)}, 0, 0, 0, NULL},
    {"matmul_bcast", f_matmul, 0, 2, {SP(2, 1, 3, 4), SP(3, 4, 2)}, 0, 0, 0, NULL},
    {"matmul_same", f_matmul_same, 0, 1, {SP(3, 3)}, 0, 0, 0, NULL},
    {"addmm", f_addmm, 0, 3, {SP(5), SP(3, 4), SP(4, 5)}, 0, 0, 0, NULL},
    {"conv1d_groups", f_conv, 13, 2, {SP(2, 9, 4), SP(6, 3, 2)}, 0, 0, 0, NULL},
    {"conv1d_flip_idil", f_conv, 14, 2, {SP(1, 5, 3), SP(2, 2, 3)}, 0, 0, 0, NULL},
    {"conv2d", f_conv, 15, 2, {SP(2, 5, 6, 3), SP(4, 2, 3, 3)}, 0, 0, 0, NULL},
    {"conv1d_negpad", f_conv, 16, 2, {SP(1, 8, 2), SP(2, 3, 2)}, 0, 0, 0, NULL},
    {"concatenate", f_concat, 0, 3, {SP(2, 3), SP(2, 1), SP(2, 2)}, 0, 0, 0, NULL},
    {"pad_constant", f_pad_const, 0, 2, {SP(3, 4), SP0}, 0, 0, 0, NULL},
    {"pad_edge", f_pad_edge, 0, 1, {SP(3, 4)}, 0, 0, 0, NULL},
    {"roll", f_roll, 0, 1, {SP(3, 5)}, 0, 0, 0, NULL},
    {"slice_update", f_slice_update, 0, 2, {SP(6, 5), SP(5)}, 0, 0, 0, NULL},
    {"dynamic_slice", f_dyn_slice, 1, 1, {SP(5, 6)}, 0, 0, 0, NULL},
    {"dynamic_slice_update", f_dyn_update, 2, 2, {SP(5, 6), SP(2, 3)}, 0, 0, 0, NULL},
    {"take", f_take, 3, 1, {SP(4, 5)}, 0, 0, 0, NULL},
    {"take_along_axis", f_take_along, 4, 1, {SP(4, 1, 5)}, 0, 0, 0, NULL},
    {"put_along_axis", f_put_along, 5, 2, {SP(3, 5), SP(3, 2)}, 0, 0, 0, NULL},
    {"gather", f_gather, 6, 1, {SP(4, 5, 6)}, 0, 0, 0, NULL},
    {"scatter_add", f_scatter_add, 7, 2, {SP(5, 4), SP(3, 1, 4)}, 0, 0, 0, NULL},
    {"scatter_set", f_scatter_set, 7, 2, {SP(5, 4), SP(3, 1, 4)}, 0, 0, 0, NULL},
    {"permutation", f_perm, 8, 1, {SP(5, 3)}, 0, 0, 0, NULL},
    {"quantized_matmul_t", f_qmm, 9, 1, {SP(3, 64)}, 1, 0, 0, NULL},
    {"quantized_matmul_n", f_qmm, 10, 1, {SP(2, 32)}, 1, 0, 0, NULL},
    {"dequantize", f_dequant, 9, 2, {SP(8, 2), SP(8, 2)}, 1, 0, 0, NULL},
#define UN(name, lo, hi) \
  { "u_" #name, f_un, 0, 1, {SP(3, 4)}, 0, lo, hi, &U_##name }
    UN(abs, 0, 0),
    UN(negative, 0, 0),
    UN(sign, 0, 0),
    UN(exp, 0, 0),
    UN(expm1, 0, 0),
    UN(log, 0.5, 2),
    UN(log1p, -0.5, 1),
    UN(log2, 0.5, 2),
    UN(log10, 0.5, 2),
    UN(sqrt, 0.5, 2),
    UN(rsqrt, 0.5, 2),
    UN(square, 0, 0),
    UN(reciprocal, 0.5, 2),
    UN(sin, 0, 0),
    UN(cos, 0, 0),
    UN(tan, 0, 0),
    UN(arcsin, -0.8, 0.8),
    UN(arccos, -0.8, 0.8),
    UN(arctan, 0, 0),
    UN(sinh, 0, 0),
    UN(cosh, 0, 0),
    UN(tanh, 0, 0),
    UN(arcsinh, 0, 0),
    UN(arccosh, 1.2, 3),
    UN(arctanh, -0.8, 0.8),
    UN(erf, 0, 0),
    UN(erfinv, -0.8, 0.8),
    UN(sigmoid, 0, 0),
    UN(floor, 0, 0),
    UN(ceil, 0, 0),
    UN(round, 0, 0),
#define BN(name, lo, hi) \
  { "b_" #name, f_bn, 0, 2, {SP(3, 4), SP(4)}, 0, lo, hi, &B_##name }
    BN(add, 0, 0),
    BN(subtract, 0, 0),
    BN(multiply, 0, 0),
    BN(divide, 0.5, 2),
    BN(power, 0.5, 2),
    BN(maximum, 0, 0),
    BN(minimum, 0, 0),
    BN(arctan2, 0, 0),
    BN(logaddexp, 0, 0),
    BN(remainder, 0.5, 2),
    BN(floor_divide, 0.5, 2),
    {"where", f_where, 17, 2, {SP(3, 4), SP(4)}, 0, 0, 0, NULL},
    {"clip", f_clip, 0, 1, {SP(3, 4)}, 0, 0, 0, NULL},
#define RED(name, cfg, lo, hi) \
  { name, f_red, 0, 1, {SP(3, 4, 5)}, 0, lo, hi, &cfg }
    RED("sum", R_sum, 0, 0),
    RED("sum_all", R_sum_all, 0, 0),
    RED("prod", R_prod, 0.5, 1.5),
    RED("max", R_max, 0, 0),
    RED("min", R_min, 0, 0),
    RED("mean", R_mean, 0, 0),
    RED("var", R_var, 0, 0),
    RED("std", R_std, 0, 0),
    RED("logsumexp", R_lse, 0, 0),
    {"prod_zeros", f_prod_zero, 18, 1, {SP(3, 4)}, 0, 0.5, 1.5, NULL},
    {"cumsum", f_scan, 0, 1, {SP(3, 4)}, 0, 0, 0, &S_sum},
    {"cumsum_rev_excl", f_scan, 0, 1, {SP(3, 4)}, 0, 0, 0, &S_sum_rx},
    {"cumprod", f_scan, 0, 1, {SP(3, 4)}, 0, 0.5, 1.5, &S_prod},
    {"cumprod_rev_excl", f_scan, 0, 1, {SP(3, 4)}, 0, 0.5, 1.5, &S_prod_rx},
    {"softmax", f_softmax, 0, 1, {SP(3, 4, 5)}, 0, 0, 0, &SM_last},
    {"softmax_two_axes", f_softmax, 0, 1, {SP(3, 4, 5)}, 0, 0, 0, &SM_two},
    {"sort", f_sort, 0, 1, {SP(5, 3)}, 0, 0, 0, &SO_sort},
    {"partition", f_sort, 0, 1, {SP(3, 6)}, 0, 0, 0, &SO_part},
    {"topk", f_sort, 0, 1, {SP(3, 6)}, 0, 0, 0, &SO_topk},
    {"max_by_argmax", f_sort, 0, 1, {SP(3, 6)}, 0, 0, 0, &SO_argmax},
    {"rms_norm", f_rms, 0, 2, {SP(3, 8), SP(8)}, 0, 0, 0, NULL},
    {"rms_norm_no_weight", f_rms, 0, 1, {SP(2, 3, 8)}, 0, 0, 0, NULL},
    {"layer_norm", f_ln, 0, 3, {SP(3, 8), SP(8), SP(8)}, 0, 0, 0, NULL},
    {"layer_norm_bias_only", f_ln_bias, 0, 2, {SP(3, 8), SP(8)}, 0, 0, 0, NULL},
    {"layer_norm_plain", f_ln, 0, 1, {SP(2, 3, 8)}, 0, 0, 0, NULL},
    {"rope", f_rope, 19, 1, {SP(2, 3, 4, 8)}, 1, 0, 0, NULL},
    {"rope_traditional", f_rope, 20, 1, {SP(2, 4, 8)}, 1, 0, 0, NULL},
    {"rope_offsets_freqs", f_rope, 21, 1, {SP(2, 3, 4, 8)}, 1, 0, 0, NULL},
    {"sdpa",
     f_sdpa,
     22,
     3,
     {SP(2, 4, 3, 8), SP(2, 2, 5, 8), SP(2, 2, 5, 6)},
     3,
     0,
     0,
     NULL},
    {"sdpa_causal",
     f_sdpa,
     23,
     3,
     {SP(2, 4, 3, 8), SP(2, 2, 5, 8), SP(2, 2, 5, 6)},
     3,
     0,
     0,
     NULL},
    {"sdpa_additive_mask",
     f_sdpa,
     24,
     4,
     {SP(1, 2, 3, 8), SP(1, 1, 5, 8), SP(1, 1, 5, 4), SP(2, 1, 5)},
     3,
     0,
     0,
     NULL},
    {"sdpa_bool_mask_sinks",
     f_sdpa,
     25,
     4,
     {SP(2, 4, 3, 8), SP(2, 2, 5, 8), SP(2, 2, 5, 6), SP(4)},
     3,
     0,
     0,
     NULL},
};
#define NENTRIES ((int)(sizeof ENTRIES / sizeof *ENTRIES))

static inline void *catalog_payload(catalog *c, int k) {
  switch (k) {
    case 1:
      return &c->dyn;
    case 2:
      return &c->dynu;
    case 3:
      return &c->take;
    case 4:
      return &c->along;
    case 5:
      return &c->put;
    case 6:
      return &c->gather;
    case 7:
      return &c->scat;
    case 8:
      return &c->perm;
    case 9:
      return &c->qt;
    case 10:
      return &c->qn;
    case 13:
      return &c->c1;
    case 14:
      return &c->c1b;
    case 15:
      return &c->c2;
    case 16:
      return &c->cneg;
    case 17:
      return &c->cond;
    case 18:
      return &c->zmask;
    case 19:
      return &c->rope;
    case 20:
      return &c->rope_trad;
    case 21:
      return &c->rope_dyn;
    case 22:
      return &c->sd_none;
    case 23:
      return &c->sd_causal;
    case 24:
      return &c->sd_add;
    case 25:
      return &c->sd_bool;
    default:
      return NULL;
  }
}

/* Specs of f's inputs followed by its outputs' (for vjp_fn(f)); false if an
 * output is not floating or there are too many. */
static inline bool vjp_fn_specs(mx_closure *f, const entry *e, opts o, spec *sp, int *n) {
  mx_scope_begin();
  mx_array *x[MAXIN];
  for (int i = 0; i < e->nin; i++) {
    sp[i] = e->in[i];
    x[i] = mxt_rand(e->in[i].shape, e->in[i].ndim, o.dtype, o.lo, o.hi);
  }
  mx_vec out = MX_VEC_INIT;
  bool ok = mx_closure_call(f, x, e->nin, &out) == MX_OK && e->nin + out.n <= MAXIN;
  for (int k = 0; ok && k < out.n; k++) {
    mx_array *y = out.items[k];
    ok = mx_dtype_is_floating(mx_array_dtype(y)) && mx_array_ndim(y) <= 6;
    if (!ok) break;
    sp[e->nin + k].ndim = mx_array_ndim(y);
    memcpy(sp[e->nin + k].shape, mx_array_shape(y),
           sizeof(int) * (size_t)mx_array_ndim(y));
  }
  *n = e->nin + out.n;
  mx_vec_free(&out);
  mx_scope_end();
  return ok;
}

static inline opts entry_opts(const entry *e) {
  opts o = e->opt == 0 ? F64 : F32;
  if (e->opt == 2) o.no_vjp = true;
  if (e->opt == 3) { /* nonlinear in float32: bigger steps, looser match */
    o.eps = 1e-2;
    o.rtol = o.atol = 1e-2;
  }
  if (e->lo != e->hi) {
    o.lo = e->lo;
    o.hi = e->hi;
  }
  return o;
}

#endif
