/* test_autodiff.c: vjp/jvp of every primitive with rules (against central
 * finite differences in float64, see transforms_util.h), closures,
 * value_and_grad/grad with argnums, grad of grad, checkpoint, custom
 * functions, unevaluated primals, and error reporting. */
#include "transforms_util.h"

static catalog g_cat;
static const entry *g_entry;

static void run_entry(void) {
  const entry *e = g_entry;
  mx_closure *f = mx_closure_new(
      e->fn, e->pl ? (void *)e->pl : catalog_payload(&g_cat, e->payload), NULL);
  MXT_OK(f);
  opts o = entry_opts(e);
  check_ad(e->name, f, e->nin, e->in, o);
  /* second order: vjp and jvp of the vjp (every rule's own graph). Not for
   * prod with zeros: prod's vjp uses cumprod, whose vjp divides by x (as
   * MLX's), so second derivatives at exact zeros are NaN. */
  spec sp[MAXIN];
  int n;
  if (o.dtype == MX_FLOAT64 && strcmp(e->name, "prod_zeros") != 0 &&
      vjp_fn_specs(f, e, o, sp, &n)) {
    mx_closure *v = mx_vjp_fn(f, e->nin);
    char what[96];
    snprintf(what, sizeof what, "vjp_fn(%s)", e->name);
    check_ad(what, v, n, sp, o);
    mx_closure_free(v);
  }
  mx_closure_free(f);
}

/* ---- composite functions ---- */
typedef struct {
  mx_array *M, *u;
  int calls;
} cubic_cfg;

/* (x M x) (x u) for x (n,) */
static mx_status f_cubic(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  cubic_cfg *c = p;
  c->calls++;
  int one[2] = {1, 1};
  mx_array *q = mx_reshape(mx_matmul(mx_matmul(x[0], c->M), x[0]), one, 2);
  mx_array *l = mx_reshape(mx_matmul(x[0], c->u), one, 2);
  return mx_vec_push(out, mx_reshape(mx_matmul(q, l), NULL, 0));
}

/* x^3 for x (1, 1) */
static mx_status f_cube(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_matmul(mx_matmul(x[0], x[0]), x[0]));
}

static void cubic_init(cubic_cfg *c, int n) {
  int s2[2] = {n, n};
  c->M = mx_keep(mxt_rand(s2, 2, MX_FLOAT64, -1, 1));
  c->u = mx_keep(mxt_rand(&n, 1, MX_FLOAT64, -1, 1));
  c->calls = 0;
}

static void cubic_free(cubic_cfg *c) {
  mx_free(c->M);
  mx_free(c->u);
}

static void test_grad_of_grad(void) {
  cubic_cfg c;
  cubic_init(&c, 4);
  mx_closure *f = mx_closure_new(f_cubic, &c, NULL);
  mx_closure *g = mx_grad(f, NULL, 0);
  spec s = SP(4);
  /* the Hessian (vjp and jvp of the gradient) against finite differences */
  check_ad("grad(cubic)", g, 1, &s, F64);
  /* the gradient itself against the closed form
   * (M + M^T) x (x.u) + (x M x) u */
  mx_array *x = mxt_rand(&s.shape[0], 1, MX_FLOAT64, -1, 1);
  double *xd = mxt_to_f64(x), *M = mxt_to_f64(c.M), *u = mxt_to_f64(c.u);
  double xu = 0, xMx = 0, want[4];
  for (int i = 0; i < 4; i++) {
    xu += xd[i] * u[i];
    for (int j = 0; j < 4; j++) xMx += xd[i] * M[i * 4 + j] * xd[j];
  }
  for (int i = 0; i < 4; i++) {
    double s1 = 0;
    for (int j = 0; j < 4; j++) s1 += (M[i * 4 + j] + M[j * 4 + i]) * xd[j];
    want[i] = s1 * xu + xMx * u[i];
  }
  mx_array *gx = mx_closure_call1(g, &x, 1);
  compare_arr(gx, want, 4, 1e-12, 1e-12, "grad", "cubic");
  free(xd);
  free(M);
  free(u);
  mx_closure_free(g);
  mx_closure_free(f);
  cubic_free(&c);
}

static void test_third_derivative(void) {
  mx_closure *f = mx_closure_new(f_cube, NULL, NULL);
  mx_closure *g1 = mx_grad(f, NULL, 0);
  mx_closure *g2 = mx_grad(g1, NULL, 0);
  mx_closure *g3 = mx_grad(g2, NULL, 0);
  MXT_OK(g3);
  double v = 0.7;
  int s[2] = {1, 1};
  mx_array *x = mx_array_from_data(&v, s, 2, MX_FLOAT64);
  mx_array *r1 = mx_closure_call1(g1, &x, 1), *r2 = mx_closure_call1(g2, &x, 1),
           *r3 = mx_closure_call1(g3, &x, 1);
  double w1 = 3 * v * v, w2 = 6 * v, w3 = 6;
  compare_arr(r1, &w1, 1, 1e-14, 1e-14, "d/dx", "x^3");
  compare_arr(r2, &w2, 1, 1e-14, 1e-14, "d2/dx2", "x^3");
  compare_arr(r3, &w3, 1, 1e-14, 1e-14, "d3/dx3", "x^3");
  /* the same graph again from an unevaluated x */
  mx_array *lazy = mx_copy(x);
  compare_arr(mx_closure_call1(g2, &lazy, 1), &w2, 1, 1e-14, 1e-14, "lazy d2", "x^3");
  mx_closure_free(g3);
  mx_closure_free(g2);
  mx_closure_free(g1);
  mx_closure_free(f);
}

/* loss = sum(a @ b), aux = a @ b */
static mx_status f_loss_aux(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_array *y = mx_matmul(x[0], x[1]);
  mx_status rc = mx_vec_push(out, t_sum(y));
  if (rc == MX_OK) rc = mx_vec_push(out, y);
  return rc;
}

static void test_value_and_grad(void) {
  int sa[2] = {3, 4}, sb[2] = {4, 2};
  mx_array *x[2] = {mxt_rand(sa, 2, MX_FLOAT64, -1, 1),
                    mxt_rand(sb, 2, MX_FLOAT64, -1, 1)};
  double *a = mxt_to_f64(x[0]), *b = mxt_to_f64(x[1]);
  mx_closure *f = mx_closure_new(f_loss_aux, NULL, NULL);
  int argnums[2] = {1, -2}; /* b then a */
  mx_closure *vg = mx_value_and_grad(f, argnums, 2);
  mx_vec out = MX_VEC_INIT;
  MXT_CHECK(mx_closure_call(vg, x, 2, &out) == MX_OK && out.n == 4, "4 outputs: %s",
            mx_last_error());
  if (out.n == 4) {
    double loss = 0, aux[6] = {0}, ga[12], gb[8];
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 2; j++)
        for (int k = 0; k < 4; k++) aux[i * 2 + j] += a[i * 4 + k] * b[k * 2 + j];
    for (int i = 0; i < 6; i++) loss += aux[i];
    /* d/da[i,k] = sum_j b[k,j]; d/db[k,j] = sum_i a[i,k] */
    for (int i = 0; i < 3; i++)
      for (int k = 0; k < 4; k++) ga[i * 4 + k] = b[k * 2] + b[k * 2 + 1];
    for (int k = 0; k < 4; k++)
      for (int j = 0; j < 2; j++) gb[k * 2 + j] = a[k] + a[4 + k] + a[8 + k];
    compare_arr(out.items[0], &loss, 1, 1e-12, 1e-12, "loss", "value_and_grad");
    compare_arr(out.items[1], aux, 6, 1e-12, 1e-12, "aux", "value_and_grad");
    compare_arr(out.items[2], gb, 8, 1e-12, 1e-12, "grad b", "value_and_grad");
    compare_arr(out.items[3], ga, 12, 1e-12, 1e-12, "grad a", "value_and_grad");
  }
  /* grad: gradients only */
  mx_closure *g = mx_grad(f, argnums + 1, 1);
  MXT_CHECK(mx_closure_call(g, x, 2, &out) == MX_OK && out.n == 1, "grad outputs");
  mx_vec_free(&out);
  mx_closure_free(g);
  mx_closure_free(vg);
  mx_closure_free(f);
  free(a);
  free(b);
}

static void test_checkpoint(void) {
  cubic_cfg c;
  cubic_init(&c, 5);
  mx_closure *f = mx_closure_new(f_cubic, &c, NULL);
  mx_closure *cf = mx_checkpoint(f);
  mx_closure *g = mx_grad(f, NULL, 0), *gc = mx_grad(cf, NULL, 0);
  int n = 5;
  mx_array *x = mxt_rand(&n, 1, MX_FLOAT64, -1, 1);
  c.calls = 0;
  mx_array *r = mx_closure_call1(g, &x, 1);
  MXT_CHECK(c.calls == 1, "plain grad traces once (%d)", c.calls);
  c.calls = 0;
  mx_array *rc = mx_closure_call1(gc, &x, 1);
  MXT_CHECK(c.calls == 2, "checkpointed grad runs the forward again (%d)", c.calls);
  double *want = mxt_to_f64(r);
  compare_arr(rc, want, n, 1e-13, 1e-13, "checkpoint grad", "checkpoint");
  free(want);
  /* values, vjp and jvp of the checkpointed function itself */
  spec s = SP(5);
  check_ad("checkpoint(cubic)", cf, 1, &s, F64);
  check_ad("grad(checkpoint(cubic))", gc, 1, &s, F64);
  mx_closure_free(gc);
  mx_closure_free(g);
  mx_closure_free(cf);
  mx_closure_free(f);
  cubic_free(&c);
}

/* f(x) = x @ M; custom rules use other matrices so the test can tell. */
typedef struct {
  mx_array *M, *V, *J;
  int vjp_calls, jvp_calls;
  mx_array *seen_x, *seen_out; /* what the user vjp was given (kept) */
} lin_cfg;

static mx_status f_lin(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  lin_cfg *c = p;
  return mx_vec_push(out, mx_matmul(x[0], c->M));
}

/* vjp(x, cot, out) -> cot @ V */
static mx_status f_lin_vjp(void *p, mx_array *const *x, int n, mx_vec *out) {
  lin_cfg *c = p;
  c->vjp_calls++;
  if (n != 3) return mx_set_error(MX_ERR_INVALID, "custom vjp got %d inputs", n);
  /* checked after the transform (nothing may be evaluated while it runs) */
  c->seen_x = mx_keep(x[0]);
  c->seen_out = mx_keep(x[2]);
  return mx_vec_push(out, mx_matmul(x[1], c->V));
}

/* jvp(x, t) -> t @ J */
static mx_status f_lin_jvp(void *p, mx_array *const *x, int n, mx_vec *out) {
  lin_cfg *c = p;
  c->jvp_calls++;
  if (n != 2) return mx_set_error(MX_ERR_INVALID, "custom jvp got %d inputs", n);
  return mx_vec_push(out, mx_matmul(x[1], c->J));
}

static void test_custom_function(void) {
  lin_cfg c = {0};
  int sm[2] = {3, 2}, sv[2] = {2, 3};
  c.M = mxt_rand(sm, 2, MX_FLOAT64, -1, 1);
  c.V = mxt_rand(sv, 2, MX_FLOAT64, -1, 1);
  c.J = mxt_rand(sm, 2, MX_FLOAT64, -1, 1);
  mx_closure *f = mx_closure_new(f_lin, &c, NULL);
  mx_closure *v = mx_closure_new(f_lin_vjp, &c, NULL);
  mx_closure *j = mx_closure_new(f_lin_jvp, &c, NULL);
  mx_closure *cv = mx_custom_vjp(f, v), *cj = mx_custom_function(f, NULL, j);
  MXT_OK(cv);
  MXT_OK(cj);
  int n = 3, two = 2;
  mx_array *x = mxt_rand(&n, 1, MX_FLOAT64, -1, 1),
           *cot = mxt_rand(&two, 1, MX_FLOAT64, -1, 1);
  mx_array *t = mxt_rand(&n, 1, MX_FLOAT64, -1, 1);
  double *cd = mxt_to_f64(cot), *td = mxt_to_f64(t), *V = mxt_to_f64(c.V),
         *J = mxt_to_f64(c.J), *M = mxt_to_f64(c.M), *xd = mxt_to_f64(x);
  double want_v[3] = {0}, want_j[2] = {0}, true_j[2] = {0}, y[2] = {0};
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++) {
      want_v[i] += cd[k] * V[k * 3 + i];
      want_j[k] += td[i] * J[i * 2 + k];
      true_j[k] += td[i] * M[i * 2 + k];
      y[k] += xd[i] * M[i * 2 + k];
    }
  mx_vec o = MX_VEC_INIT, r = MX_VEC_INIT;
  MXT_CHECK(mx_vjp(cv, &x, 1, &cot, 1, &o, &r) == MX_OK, "vjp: %s", mx_last_error());
  if (r.n == 1) {
    compare_arr(o.items[0], y, 2, 1e-13, 1e-13, "output", "custom_vjp");
    compare_arr(r.items[0], want_v, 3, 1e-13, 1e-13, "user vjp used", "custom_vjp");
  }
  MXT_CHECK(c.vjp_calls == 1, "user vjp called once");
  if (c.seen_x) {
    compare_arr(c.seen_x, xd, 3, 0, 0, "primal given to the user vjp", "custom_vjp");
    compare_arr(c.seen_out, y, 2, 1e-13, 1e-13, "output given to the user vjp",
                "custom_vjp");
  }
  mx_free(c.seen_x);
  mx_free(c.seen_out);
  /* no user jvp: traced through f */
  MXT_CHECK(mx_jvp(cv, &x, 1, &t, &o, &r) == MX_OK, "jvp: %s", mx_last_error());
  if (r.n == 1)
    compare_arr(r.items[0], true_j, 2, 1e-13, 1e-13, "traced jvp", "custom_vjp");
  /* user jvp, traced vjp */
  MXT_CHECK(mx_jvp(cj, &x, 1, &t, &o, &r) == MX_OK, "jvp: %s", mx_last_error());
  if (r.n == 1)
    compare_arr(r.items[0], want_j, 2, 1e-13, 1e-13, "user jvp used", "custom_jvp");
  MXT_CHECK(c.jvp_calls == 1, "user jvp called once");
  /* grad through a custom vjp inside a larger function: vmap keeps values */
  mx_closure *vv = mx_vmap(cv, NULL, 0, NULL, 0);
  int sb[2] = {4, 3};
  mx_array *xb = mxt_rand(sb, 2, MX_FLOAT64, -1, 1);
  mx_array *yb = mx_closure_call1(vv, &xb, 1);
  mx_array *want = mx_matmul(xb, c.M);
  double *wd = mxt_to_f64(want);
  compare_arr(yb, wd, 8, 1e-13, 1e-13, "vmap of custom", "custom_vjp");
  free(wd);
  /* with the true rules, the generic checker agrees */
  spec s = SP(3);
  check_ad("custom_vjp (traced jvp)", cv, 1, &s,
           (opts){MX_FLOAT64, -1, 1, 1e-6, 1e-6, 1e-7, true, false});
  mx_vec_free(&o);
  mx_vec_free(&r);
  mx_closure_free(vv);
  mx_closure_free(cv);
  mx_closure_free(cj);
  mx_closure_free(j);
  mx_closure_free(v);
  mx_closure_free(f);
  free(cd);
  free(td);
  free(V);
  free(J);
  free(M);
  free(xd);
}

/* ---- errors ---- */
static mx_status f_view(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_view(x[0], MX_FLOAT64));
}

static mx_status f_bad(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  int s[1] = {7};
  return mx_vec_push(out, mx_reshape(x[0], s, 1)); /* records an error */
}

static mx_status f_two_out(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_status rc = mx_vec_push(out, mx_transpose(x[0], NULL, 0));
  if (rc == MX_OK) rc = mx_vec_push(out, x[0]);
  return rc;
}

static mx_status f_evaluates(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_array *y = mx_transpose(x[0], NULL, 0);
  mx_eval1(y);
  return mx_vec_push(out, y);
}

static bool err_has(const char *s) {
  bool ok = strstr(mx_last_error(), s) != NULL;
  if (!ok) fprintf(stderr, "  message was: %s\n", mx_last_error());
  mx_clear_error();
  return ok;
}

static void test_errors(void) {
  int s[2] = {2, 3};
  mx_array *x = mxt_rand(s, 2, MX_FLOAT64, -1, 1);
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  mx_closure *two = mx_closure_new(f_two_out, NULL, NULL);
  /* cotangent count and shape */
  MXT_CHECK(mx_vjp(two, &x, 1, &x, 1, &o, &v) == MX_ERR_INVALID && err_has("[vjp]"),
            "cotangent count");
  mx_array *cots[2] = {x, x};
  MXT_CHECK(mx_vjp(two, &x, 1, cots, 2, &o, &v) == MX_ERR_INVALID && err_has("shape"),
            "cotangent shape");
  /* NULL cotangents mean zero */
  mx_array *cz[2] = {NULL, x};
  MXT_CHECK(mx_vjp(two, &x, 1, cz, 2, &o, &v) == MX_OK && v.n == 1, "NULL cotangent");
  if (v.n == 1) {
    double *want = mxt_to_f64(x);
    compare_arr(v.items[0], want, 6, 0, 0, "identity vjp", "errors");
    free(want);
  }
  /* grad of a non-scalar */
  mx_closure *g = mx_grad(two, NULL, 0);
  MXT_CHECK(mx_closure_call(g, &x, 1, &o) != MX_OK && err_has("[grad]"),
            "non-scalar grad");
  mx_closure_free(g);
  /* argnums */
  int bad[1] = {3}, rep[2] = {0, -1};
  g = mx_grad(two, bad, 1);
  MXT_CHECK(mx_closure_call(g, &x, 1, &o) != MX_OK && err_has("argument"),
            "argnum range");
  mx_closure_free(g);
  g = mx_grad(two, rep, 2);
  MXT_CHECK(mx_closure_call(g, &x, 1, &o) != MX_OK && err_has("repeated"),
            "argnum repeat");
  mx_closure_free(g);
  MXT_CHECK(mx_grad(two, bad, 0) == NULL && err_has("at least one"), "no argnums");
  /* a primitive without a vjp */
  mx_closure *fv = mx_closure_new(f_view, NULL, NULL);
  MXT_CHECK(mx_vjp(fv, &x, 1, &x, 1, &o, &v) == MX_ERR_UNSUPPORTED &&
                err_has("[vjp] not implemented for view"),
            "missing rule");
  MXT_CHECK(mx_jvp(fv, &x, 1, &x, &o, &v) == MX_ERR_UNSUPPORTED &&
                err_has("[jvp] not implemented for view"),
            "missing jvp rule");
  mx_closure_free(fv);
  /* the function's own error comes through */
  mx_closure *fb = mx_closure_new(f_bad, NULL, NULL);
  MXT_CHECK(mx_vjp(fb, &x, 1, &x, 1, &o, &v) != MX_OK && err_has("[reshape]"),
            "fn error");
  MXT_CHECK(mx_closure_call1(fb, &x, 1) == NULL && err_has("[reshape]"), "call1 error");
  mx_closure_free(fb);
  /* evaluating inside the traced function */
  mx_closure *fe = mx_closure_new(f_evaluates, NULL, NULL);
  MXT_CHECK(mx_vjp(fe, &x, 1, &x, 1, &o, &v) == MX_ERR_INVALID && err_has("evaluated"),
            "eval inside vjp");
  MXT_CHECK(mx_jvp(fe, &x, 1, &x, &o, &v) == MX_ERR_INVALID && err_has("evaluated"),
            "eval inside jvp");
  mx_closure_free(fe);
  /* jvp tangent shape */
  int s2[1] = {6};
  mx_array *t = mx_reshape(x, s2, 1);
  MXT_CHECK(mx_jvp(two, &x, 1, &t, &o, &v) == MX_ERR_INVALID && err_has("[jvp]"),
            "tangent");
  /* NULL closures */
  MXT_CHECK(mx_closure_new(NULL, NULL, NULL) == NULL && err_has("[closure]"), "NULL fn");
  MXT_CHECK(mx_grad(NULL, NULL, 0) == NULL && err_has("[grad]"), "NULL closure");
  MXT_CHECK(mx_closure_call1(two, &x, 1) == NULL && err_has("one output"), "call1 count");
  mx_closure_free(two);
  mx_vec_free(&o);
  mx_vec_free(&v);
}

/* Integer inputs and outputs carry no gradient. */
static mx_status f_int_path(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_array *i = mx_astype(x[0], MX_INT32);
  return mx_vec_push(out, t_sum(mx_astype(i, MX_FLOAT64)));
}

static void test_integer_paths(void) {
  int s = 4;
  mx_array *x = mxt_rand(&s, 1, MX_FLOAT64, -3, 3);
  mx_closure *f = mx_closure_new(f_int_path, NULL, NULL);
  mx_closure *g = mx_grad(f, NULL, 0);
  mx_array *r = mx_closure_call1(g, &x, 1);
  double zero[4] = {0};
  compare_arr(r, zero, 4, 0, 0, "grad through int", "int");
  /* an integer primal gets a zero (integer) gradient */
  mx_array *xi = mx_astype(x, MX_INT32);
  r = mx_closure_call1(g, &xi, 1);
  MXT_CHECK(r && mx_array_dtype(r) == MX_INT32, "int grad dtype");
  compare_arr(r, zero, 4, 0, 0, "int primal", "int");
  mx_closure_free(g);
  mx_closure_free(f);
}

/* sum(x^2) + sum(stop_gradient(x) x): gradient 3x (not 4x), and the
 * gradient of sum(stop_gradient(x)^2) is zero. */
static mx_status f_sg(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_array *s = mx_stop_gradient(x[0]);
  mx_status rc = mx_vec_push(out, mx_add(mx_sum(mx_square(x[0]), NULL, 0, false),
                                         mx_sum(mx_multiply(s, x[0]), NULL, 0, false)));
  if (rc == MX_OK) rc = mx_vec_push(out, mx_sum(mx_square(s), NULL, 0, false));
  return rc;
}

static void test_stop_gradient(void) {
  int s = 5;
  mx_array *x = mxt_rand(&s, 1, MX_FLOAT64, -1, 1),
           *t = mxt_rand(&s, 1, MX_FLOAT64, -1, 1);
  double *xd = mxt_to_f64(x), *td = mxt_to_f64(t), g3[5], j = 0, zero = 0;
  for (int i = 0; i < 5; i++) {
    g3[i] = 3 * xd[i];
    j += 3 * xd[i] * td[i];
  }
  mx_closure *f = mx_closure_new(f_sg, NULL, NULL);
  mx_array *ones = mx_array_scalar_f64(1, MX_FLOAT64);
  mx_array *c1[2] = {ones, NULL}, *c2[2] = {NULL, ones};
  mx_vec o = MX_VEC_INIT, v = MX_VEC_INIT;
  MXT_CHECK(mx_vjp(f, &x, 1, c1, 2, &o, &v) == MX_OK, "vjp: %s", mx_last_error());
  if (v.n == 1) compare_arr(v.items[0], g3, 5, 1e-14, 1e-14, "grad", "stop_gradient");
  MXT_CHECK(mx_vjp(f, &x, 1, c2, 2, &o, &v) == MX_OK, "vjp: %s", mx_last_error());
  double z5[5] = {0};
  if (v.n == 1) compare_arr(v.items[0], z5, 5, 0, 0, "zero grad", "stop_gradient");
  MXT_CHECK(mx_jvp(f, &x, 1, &t, &o, &v) == MX_OK && v.n == 2, "jvp: %s",
            mx_last_error());
  if (v.n == 2) {
    compare_arr(v.items[0], &j, 1, 1e-14, 1e-14, "jvp", "stop_gradient");
    compare_arr(v.items[1], &zero, 1, 0, 0, "zero jvp", "stop_gradient");
  }
  /* value_and_grad: outputs after the first are auxiliary */
  mx_closure *vg = mx_value_and_grad(f, NULL, 0);
  MXT_CHECK(mx_closure_call(vg, &x, 1, &o) == MX_OK && o.n == 3, "value_and_grad");
  if (o.n == 3)
    compare_arr(o.items[2], g3, 5, 1e-14, 1e-14, "aux ignored", "stop_gradient");
  mx_closure_free(vg);
  mx_vec_free(&o);
  mx_vec_free(&v);
  mx_closure_free(f);
  free(xd);
  free(td);
}

/* A two-layer MLP regression trained with value_and_grad: the loss falls,
 * and its gradients match finite differences. Inputs: w1 (4,8), b1 (8,),
 * w2 (8,1); payload: data X (16,4), Y (16,1). */
typedef struct {
  mx_array *X, *Y;
} mlp_data;

static mx_status f_mlp(void *p, mx_array *const *w, int n, mx_vec *out) {
  (void)n;
  mlp_data *d = p;
  mx_array *h = mx_tanh(mx_add(mx_matmul(d->X, w[0]), w[1]));
  mx_array *e = mx_subtract(mx_matmul(h, w[2]), d->Y);
  return mx_vec_push(out, mx_mean(mx_square(e), NULL, 0, false));
}

static void test_mlp_training(void) {
  int sx[2] = {16, 4}, s1[2] = {4, 8}, sb = 8, s2[2] = {8, 1};
  mlp_data d = {mxt_rand(sx, 2, MX_FLOAT64, -1, 1), NULL};
  /* a smooth target */
  d.Y = mx_sin(mx_matmul(d.X, mx_full((int[]){4, 1}, 2, 0.7, MX_FLOAT64)));
  mx_closure *f = mx_closure_new(f_mlp, &d, NULL);
  spec sp[3] = {SP(4, 8), SP(8), SP(8, 1)};
  check_ad("mlp loss", f, 3, sp, F64);
  mx_closure *vg = mx_value_and_grad(f, (int[]){0, 1, 2}, 3);
  mx_array *w[3] = {mx_keep(mxt_rand(s1, 2, MX_FLOAT64, -0.5, 0.5)),
                    mx_keep(mx_zeros(&sb, 1, MX_FLOAT64)),
                    mx_keep(mxt_rand(s2, 2, MX_FLOAT64, -0.5, 0.5))};
  double first = 0, last = 0;
  for (int step = 0; step < 200; step++) {
    mx_scope_begin();
    mx_vec o = MX_VEC_INIT;
    if (mx_closure_call(vg, w, 3, &o) != MX_OK || o.n != 4) {
      MXT_CHECK(0, "step %d: %s", step, mx_last_error());
      mx_vec_free(&o);
      mx_scope_end();
      break;
    }
    mx_array *nw[3];
    for (int i = 0; i < 3; i++)
      nw[i] = mx_subtract(w[i], mx_multiply(o.items[1 + i], mx_scalar_like(w[i], 0.3)));
    mx_eval(nw, 3);
    double loss = mx_array_item_f64(o.items[0]);
    if (step == 0) first = loss;
    last = loss;
    for (int i = 0; i < 3; i++) {
      mx_free(w[i]);
      w[i] = mx_keep(nw[i]);
    }
    mx_vec_free(&o);
    mx_scope_end();
  }
  MXT_CHECK(last < 0.2 * first, "loss %.4g -> %.4g", first, last);
  for (int i = 0; i < 3; i++) mx_free(w[i]);
  mx_closure_free(vg);
  mx_closure_free(f);
}

/* Gradients come back in the primal's dtype. */
static mx_status f_sumsq(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_sum(mx_square(x[0]), NULL, 0, false));
}

static void test_half_dtypes(void) {
  mx_closure *f = mx_closure_new(f_sumsq, NULL, NULL), *g = mx_grad(f, NULL, 0);
  mx_dtype ts[3] = {MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32};
  int s = 6;
  for (int k = 0; k < 3; k++) {
    mx_array *x = mxt_rand(&s, 1, ts[k], -2, 2);
    mx_array *r = mx_closure_call1(g, &x, 1);
    MXT_CHECK(r && mx_array_dtype(r) == ts[k], "dtype %s", mx_dtype_name(ts[k]));
    double *xd = mxt_to_f64(x), want[6];
    for (int i = 0; i < 6; i++) want[i] = 2 * xd[i];
    compare_arr(r, want, 6, 1e-2, 0, "2x", mx_dtype_name(ts[k]));
    free(xd);
  }
  mx_closure_free(g);
  mx_closure_free(f);
}

/* Closures: reference counting and payload destruction. */
static int g_destroyed;
static void count_destroy(void *p) {
  (void)p;
  g_destroyed++;
}

static void test_closure_refcount(void) {
  g_destroyed = 0;
  mx_closure *f = mx_closure_new(f_cube, NULL, count_destroy);
  mx_closure *g = mx_grad(f, NULL, 0);
  mx_closure *h = mx_checkpoint(g);
  mx_closure_free(f);
  mx_closure_free(g);
  MXT_CHECK(g_destroyed == 0, "still held by h");
  double v = 2;
  int s[2] = {1, 1};
  mx_array *x = mx_array_from_data(&v, s, 2, MX_FLOAT64);
  mx_array *r = mx_closure_call1(h, &x, 1);
  mx_closure_free(h);
  MXT_CHECK(g_destroyed == 0, "held by the graph of r");
  double want = 12; /* d/dx x^3 at 2 */
  compare_arr(r, &want, 1, 0, 1e-14, "checkpoint(grad)", "refcount");
  MXT_CHECK(g_destroyed == 1, "freed with the graph (%d)", g_destroyed);
}

int main(void) {
  catalog_init(&g_cat);
  for (int k = 0; k < NENTRIES; k++) {
    g_entry = &ENTRIES[k];
    static char names[160][96];
    snprintf(names[k], sizeof names[k], "ad_%s", ENTRIES[k].name);
    mxt_run(names[k], run_entry);
  }
  MXT_RUN(test_grad_of_grad);
  MXT_RUN(test_third_derivative);
  MXT_RUN(test_value_and_grad);
  MXT_RUN(test_checkpoint);
  MXT_RUN(test_custom_function);
  MXT_RUN(test_errors);
  MXT_RUN(test_integer_paths);
  MXT_RUN(test_stop_gradient);
  MXT_RUN(test_mlp_training);
  MXT_RUN(test_half_dtypes);
  MXT_RUN(test_closure_refcount);
  catalog_free(&g_cat);
  return mxt_finish();
}
