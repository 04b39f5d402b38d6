/* test_vmap.c: vmap of every primitive with a batching rule against the
 * explicit loop over the batch (transforms_util.h), for several in_axes /
 * out_axes combinations; batched indices, weights and keys; vmap composed
 * with grad, vjp and itself; and error reporting. */
#include "transforms_util.h"

static catalog g_cat;
static const entry *g_entry;

static int nouts_of(mx_closure *f, int nin, const spec *sp, mx_dtype t) {
  mx_scope_begin();
  mx_array *x[MAXIN];
  for (int i = 0; i < nin; i++) x[i] = mxt_rand(sp[i].shape, sp[i].ndim, t, -1, 1);
  mx_vec o = MX_VEC_INIT;
  int n = mx_closure_call(f, x, nin, &o) == MX_OK ? o.n : 0;
  mx_vec_free(&o);
  mx_scope_end();
  return n;
}

static void run_entry(void) {
  const entry *e = g_entry;
  opts o = entry_opts(e);
  mx_closure *f = mx_closure_new(
      e->fn, e->pl ? (void *)e->pl : catalog_payload(&g_cat, e->payload), NULL);
  MXT_OK(f);
  int nin = e->nin, nout = nouts_of(f, nin, e->in, o.dtype);
  MXT_CHECK(nout > 0, "%s: outputs", e->name);
  int axes[MAXIN], oax[MAXIN];
  char what[128];
  /* every input batched on axis 0 */
  for (int i = 0; i < nin; i++) axes[i] = 0;
  snprintf(what, sizeof what, "%s all axis 0", e->name);
  check_vmap(what, f, nin, e->in, axes, NULL, 0, 3, o);
  /* each input alone batched on its last axis, outputs on the last axis */
  for (int k = 0; k < nout; k++) oax[k] = -1;
  for (int j = 0; j < nin; j++) {
    for (int i = 0; i < nin; i++) axes[i] = i == j ? e->in[i].ndim : -1;
    snprintf(what, sizeof what, "%s input %d on its last axis", e->name, j);
    check_vmap(what, f, nin, e->in, axes, oax, nout, 2, o);
  }
  /* mixed axes: input i on axis min(i, ndim), outputs on axis 1 where possible */
  if (nin > 1) {
    for (int i = 0; i < nin; i++) axes[i] = i < e->in[i].ndim ? i : e->in[i].ndim;
    for (int k = 0; k < nout; k++) oax[k] = 1;
    snprintf(what, sizeof what, "%s mixed axes", e->name);
    check_vmap(what, f, nin, e->in, axes, oax, nout, 2, o);
  }
  /* gradients through the batched graph */
  if (o.dtype == MX_FLOAT64) {
    for (int i = 0; i < nin; i++) axes[i] = e->in[i].ndim > 0 ? 1 : 0;
    mx_closure *vf = mx_vmap(f, axes, nin, NULL, 0);
    spec bs[MAXIN];
    for (int i = 0; i < nin; i++) {
      bs[i].ndim = e->in[i].ndim + 1;
      for (int d = 0, k = 0; d < bs[i].ndim; d++)
        bs[i].shape[d] = d == axes[i] ? 2 : e->in[i].shape[k++];
    }
    snprintf(what, sizeof what, "vjp/jvp of vmap(%s)", e->name);
    check_ad(what, vf, nin, bs, o);
    mx_closure_free(vf);
    /* the batched backward graph: vmap(vjp_fn(f)) */
    spec sp[MAXIN];
    int nv, ax0[MAXIN] = {0};
    if (vjp_fn_specs(f, e, o, sp, &nv)) {
      mx_closure *v = mx_vjp_fn(f, nin);
      snprintf(what, sizeof what, "vmap(vjp_fn(%s))", e->name);
      check_vmap(what, v, nv, sp, ax0, NULL, 0, 2, o);
      mx_closure_free(v);
    }
  }
  mx_closure_free(f);
}

/* ---- batched indices, weights, keys ---- */
static mx_status f_take_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_take(x[0], x[1], 1));
}
static mx_status f_along_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_take_along_axis(x[0], x[1], 1));
}
static mx_status f_put_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_put_along_axis(x[0], x[1], x[2], 1));
}
static mx_status f_gather_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  int axes[2] = {0, 2}, sizes[3] = {1, 5, 1};
  mx_array *ix[2] = {x[1], x[2]};
  return mx_vec_push(out, mx_gather(x[0], ix, 2, axes, sizes));
}
static mx_status f_scatter_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  int axes[1] = {0};
  mx_array *ix[1] = {x[2]};
  return mx_vec_push(out, mx_scatter(x[0], ix, 1, x[1], axes, *(mx_scatter_mode *)p));
}
static mx_status f_dyn_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  int axes[2] = {0, 1}, sizes[2] = {2, 3};
  return mx_vec_push(out, mx_dynamic_slice(x[0], x[1], axes, 2, sizes));
}
static mx_status f_dynu_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  int axes[2] = {0, 1};
  return mx_vec_push(out, mx_dynamic_slice_update(x[0], x[1], x[2], axes, 2));
}
static mx_status f_pad_i(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  int lo[2] = {1, 0}, hi[2] = {0, 2};
  return mx_vec_push(out, mx_pad(x[0], NULL, lo, hi, 2, x[1], MX_PAD_CONSTANT));
}

static mx_array *rand_f(int nd, const int *s) {
  return mxt_rand(s, nd, MX_FLOAT64, -1, 1);
}
static mx_array *rand_i(int nd, const int *s, int lo, int hi) {
  return mxt_rand(s, nd, MX_INT32, lo, hi);
}

static void vm(const char *what, fnptr fn, void *payload, int nin, mx_array **x,
               const int *axes, int B) {
  mx_closure *f = mx_closure_new(fn, payload, NULL);
  check_vmap_x(what, f, nin, x, axes, NULL, 0, B);
  mx_closure_free(f);
}

static void test_batched_indices(void) {
  int B = 3;
  /* take: a (4,5) / (B,4,5); indices (2,2) / (B,2,2) on axis 1 */
  int sa[3] = {B, 4, 5}, si[3] = {B, 2, 2};
  mx_array *x[3] = {rand_f(3, sa), rand_i(3, si, -5, 5)};
  vm("take both batched", f_take_i, NULL, 2, x, (int[]){0, 0}, B);
  x[0] = rand_f(2, sa + 1);
  vm("take indices batched", f_take_i, NULL, 2, x, (int[]){-1, 0}, B);
  x[0] = rand_f(3, (int[]){4, B, 5});
  x[1] = rand_i(3, (int[]){2, 2, B}, 0, 5);
  vm("take both batched, other axes", f_take_i, NULL, 2, x, (int[]){1, 2}, B);
  /* take_along_axis: a (4,5), indices (4,3) */
  x[0] = rand_f(2, (int[]){4, 5});
  x[1] = rand_i(3, (int[]){B, 4, 3}, -5, 5);
  vm("take_along_axis indices batched", f_along_i, NULL, 2, x, (int[]){-1, 0}, B);
  x[0] = rand_f(3, (int[]){4, 5, B});
  vm("take_along_axis both", f_along_i, NULL, 2, x, (int[]){2, 0}, B);
  /* put_along_axis: a (3,5), indices (3,2) distinct per row, values (3,2) */
  int32_t pi[2 * 3 * 2] = {0, 3, 4, 1, 2, 0, 1, 2, 3, 4, 0, 4};
  x[0] = rand_f(2, (int[]){3, 5});
  x[1] = mx_array_from_data(pi, (int[]){2, 3, 2}, 3, MX_INT32);
  x[2] = rand_f(2, (int[]){3, 2});
  vm("put_along_axis indices batched", f_put_i, NULL, 3, x, (int[]){-1, 0, -1}, 2);
  x[2] = rand_f(3, (int[]){3, 2, 2});
  vm("put_along_axis indices and values", f_put_i, NULL, 3, x, (int[]){-1, 0, 2}, 2);
  /* gather: a (4,5,6), i0 (3,) on axis 0, i1 (3,) on axis 2 */
  x[0] = rand_f(3, (int[]){4, 5, 6});
  x[1] = rand_i(2, (int[]){B, 3}, -4, 4);
  x[2] = rand_i(1, (int[]){3}, -6, 6);
  vm("gather one index batched", f_gather_i, NULL, 3, x, (int[]){-1, 0, -1}, B);
  x[0] = rand_f(4, (int[]){4, 5, B, 6});
  x[2] = rand_i(2, (int[]){3, B}, -6, 6);
  vm("gather all batched", f_gather_i, NULL, 3, x, (int[]){2, 0, 1}, B);
  /* scatter add with duplicates, set with distinct indices */
  mx_scatter_mode add = MX_SCATTER_ADD, set = MX_SCATTER_SET;
  x[0] = rand_f(2, (int[]){5, 4});
  x[1] = rand_f(4, (int[]){B, 3, 1, 4});
  x[2] = rand_i(2, (int[]){B, 3}, -5, 5);
  vm("scatter add indices and updates batched", f_scatter_i, &add, 3, x,
     (int[]){-1, 0, 0}, B);
  x[1] = rand_f(3, (int[]){3, 1, 4});
  vm("scatter add indices batched", f_scatter_i, &add, 3, x, (int[]){-1, -1, 0}, B);
  int32_t si3[2 * 3] = {4, 0, 2, 1, 3, 0};
  x[0] = rand_f(3, (int[]){5, 2, 4});
  x[1] = rand_f(3, (int[]){3, 1, 4});
  x[2] = mx_array_from_data(si3, (int[]){2, 3}, 2, MX_INT32);
  vm("scatter set a and indices batched", f_scatter_i, &set, 3, x, (int[]){1, -1, 0}, 2);
  /* batched starts: explicit loop */
  int32_t st[3 * 2] = {0, 0, 3, -2, 9, 1};
  x[0] = rand_f(2, (int[]){5, 6});
  x[1] = mx_array_from_data(st, (int[]){3, 2}, 2, MX_INT32);
  vm("dynamic_slice batched start", f_dyn_i, NULL, 2, x, (int[]){-1, 0}, 3);
  x[0] = rand_f(3, (int[]){5, 3, 6});
  vm("dynamic_slice both batched", f_dyn_i, NULL, 2, x, (int[]){1, 0}, 3);
  x[1] = rand_f(2, (int[]){2, 3});
  x[2] = mx_array_from_data(st, (int[]){3, 2}, 2, MX_INT32);
  vm("dynamic_slice_update batched start", f_dynu_i, NULL, 3, x, (int[]){1, -1, 0}, 3);
  /* batched pad value: explicit loop */
  x[0] = rand_f(2, (int[]){3, 4});
  x[1] = rand_f(1, (int[]){B});
  vm("pad batched value", f_pad_i, NULL, 2, x, (int[]){-1, 0}, B);
}

static void test_batched_weights(void) {
  /* conv with batched weights (folded into groups) */
  conv_cfg *c = &g_cat.c1;
  mx_array *x[2] = {rand_f(4, (int[]){2, 2, 9, 4}), rand_f(4, (int[]){6, 3, 2, 2})};
  vm("conv both batched", f_conv, c, 2, x, (int[]){0, 3}, 2);
  x[0] = rand_f(3, (int[]){2, 9, 4});
  vm("conv weights batched", f_conv, c, 2, x, (int[]){-1, 3}, 2);
  conv_cfg *c2 = &g_cat.c2;
  x[0] = rand_f(5, (int[]){2, 5, 6, 3, 3});
  x[1] = rand_f(5, (int[]){3, 4, 2, 3, 3});
  vm("conv2d both batched", f_conv, c2, 2, x, (int[]){4, 0}, 3);
}

static mx_status f_qmm_sb(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  const qcfg *c = p;
  return mx_vec_push(out, mx_quantized_matmul(x[0], c->wq, x[1], x[2], true, 32, 4));
}

static void test_batched_quantized(void) {
  /* scales and biases batched: explicit loop */
  qcfg *c = &g_cat.qt;
  mx_array *x[3] = {mxt_rand((int[]){3, 64}, 2, MX_FLOAT32, -1, 1),
                    mx_stack((mx_array *[]){c->s, c->s}, 2, 0),
                    mx_stack((mx_array *[]){c->b, mx_zeros_like(c->b)}, 2, 0)};
  vm("quantized_matmul batched scales/biases", f_qmm_sb, c, 3, x, (int[]){-1, 0, 0}, 2);
}

static mx_status f_normal(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  int s[2] = {2, 3};
  return mx_vec_push(out, mx_random_normal(s, 2, MX_FLOAT32, 0, 1, x[0]));
}

static void test_batched_keys(void) {
  /* one draw per key, as the loop over keys */
  mx_array *keys = mx_random_split(mx_random_key(3), 4);
  vm("random over keys", f_normal, NULL, 1, &keys, (int[]){0}, 4);
  mx_array *kt = mx_transpose(keys, NULL, 0);
  vm("random over keys (axis 1)", f_normal, NULL, 1, &kt, (int[]){1}, 4);
}

/* ---- composition ---- */
typedef struct {
  mx_array *M, *u;
} cubic_cfg;

static mx_status f_cubic(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)n;
  cubic_cfg *c = p;
  int one[2] = {1, 1};
  mx_array *q = mx_reshape(mx_matmul(mx_matmul(x[0], c->M), x[0]), one, 2);
  mx_array *l = mx_reshape(mx_matmul(x[0], c->u), one, 2);
  return mx_vec_push(out, mx_reshape(mx_matmul(q, l), NULL, 0));
}

static void test_vmap_of_grad(void) {
  int n = 4, s2[2] = {4, 4};
  cubic_cfg c = {mxt_rand(s2, 2, MX_FLOAT64, -1, 1), mxt_rand(&n, 1, MX_FLOAT64, -1, 1)};
  mx_closure *f = mx_closure_new(f_cubic, &c, NULL);
  mx_closure *g = mx_grad(f, NULL, 0);
  spec s = SP(4);
  /* per-example gradients */
  check_vmap("vmap(grad(cubic))", g, 1, &s, (int[]){0}, NULL, 0, 5, F64);
  check_vmap("vmap(grad(cubic)) axis 1", g, 1, &s, (int[]){1}, (int[]){1}, 1, 3, F64);
  /* vmap of vmap */
  mx_closure *vg = mx_vmap(g, NULL, 0, NULL, 0);
  spec s2b = SP(3, 4);
  check_vmap("vmap(vmap(grad(cubic)))", vg, 1, &s2b, (int[]){1}, (int[]){2}, 1, 2, F64);
  /* grad of a vmapped function (sum over the batch) */
  mx_closure *vf = mx_vmap(f, NULL, 0, NULL, 0);
  check_ad("vmap(cubic)", vf, 1, &s2b, F64);
  check_ad("vmap(grad(cubic))", vg, 1, &s2b, F64);
  /* jvp composed with vmap */
  mx_closure *jf = mx_jvp_fn(f);
  spec sj[2] = {SP(4), SP(4)};
  check_vmap("vmap(jvp(cubic))", jf, 2, sj, (int[]){0, 0}, NULL, 0, 3, F64);
  check_vmap("vmap(jvp(cubic)) tangents only", jf, 2, sj, (int[]){-1, 0}, NULL, 0, 3,
             F64);
  mx_closure *vjf = mx_vjp_fn(f, 1);
  spec sv[2] = {SP(4), SP0};
  check_vmap("vmap(vjp(cubic))", vjf, 2, sv, (int[]){0, 0}, NULL, 0, 3, F64);
  mx_closure_free(vjf);
  mx_closure_free(jf);
  mx_closure_free(vf);
  mx_closure_free(vg);
  mx_closure_free(g);
  mx_closure_free(f);
}

/* Outputs that do not depend on the batched input are broadcast. */
static mx_status f_mixed(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_status rc = mx_vec_push(out, mx_matmul(x[0], x[1]));
  if (rc == MX_OK) rc = mx_vec_push(out, x[1]);
  if (rc == MX_OK) rc = mx_vec_push(out, mx_ones((int[]){2}, 1, MX_FLOAT64));
  if (rc == MX_OK) rc = mx_vec_push(out, x[0]);
  return rc;
}

static void test_unbatched_outputs(void) {
  mx_closure *f = mx_closure_new(f_mixed, NULL, NULL);
  spec s[2] = {SP(2, 3), SP(3, 2)};
  check_vmap("unbatched outputs", f, 2, s, (int[]){0, -1}, (int[]){0, 1, -1, 2}, 4, 3,
             F64);
  mx_closure_free(f);
}

/* stop_gradient, allclose / array_equal and argsort under vmap */
static mx_status f_misc(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_status rc = mx_vec_push(out, mx_multiply(mx_stop_gradient(x[0]), x[1]));
  if (rc == MX_OK) rc = mx_vec_push(out, mx_allclose(x[0], x[1], 1e-5, 0.5, false));
  if (rc == MX_OK) rc = mx_vec_push(out, mx_array_equal(x[0], x[0], true));
  if (rc == MX_OK) rc = mx_vec_push(out, mx_argsort(x[1], -1));
  if (rc == MX_OK) rc = mx_vec_push(out, mx_argpartition(x[0], 1, 0));
  return rc;
}

static void test_misc_ops(void) {
  mx_closure *f = mx_closure_new(f_misc, NULL, NULL);
  spec s[2] = {SP(3, 4), SP(3, 4)};
  check_vmap("misc", f, 2, s, (int[]){0, 1}, NULL, 0, 4, F64);
  check_vmap("misc one batched", f, 2, s, (int[]){-1, 2}, (int[]){1, 0, 0, 2, 1}, 5, 3,
             F64);
  mx_closure_free(f);
}

/* ---- errors ---- */
static mx_status f_evaluates(void *p, mx_array *const *x, int n, mx_vec *out) {
  (void)p, (void)n;
  mx_array *y = mx_transpose(x[0], NULL, 0);
  if (mx_eval1(y) != MX_OK) return mx_last_status();
  return mx_vec_push(out, y);
}

static bool err_has(const char *s) {
  bool ok = strstr(mx_last_error(), s) != NULL;
  if (!ok) fprintf(stderr, "  message was: %s\n", mx_last_error());
  mx_clear_error();
  return ok;
}

static void test_errors(void) {
  mx_closure *f = mx_closure_new(f_matmul, NULL, NULL);
  mx_array *x[2] = {rand_f(2, (int[]){3, 4}), rand_f(3, (int[]){2, 4, 5})};
  mx_vec o = MX_VEC_INIT;
  mx_closure *v = mx_vmap(f, NULL, 0, NULL, 0);
  MXT_CHECK(mx_closure_call(v, x, 2, &o) != MX_OK && err_has("inconsistent"), "sizes");
  mx_closure_free(v);
  v = mx_vmap(f, (int[]){-1, -1}, 2, NULL, 0);
  MXT_CHECK(mx_closure_call(v, x, 2, &o) != MX_OK && err_has("at least one"), "unmapped");
  mx_closure_free(v);
  v = mx_vmap(f, (int[]){5, 0}, 2, NULL, 0);
  MXT_CHECK(mx_closure_call(v, x, 2, &o) != MX_OK && err_has("axis 5"), "bad axis");
  mx_closure_free(v);
  v = mx_vmap(f, (int[]){0}, 1, NULL, 0);
  MXT_CHECK(mx_closure_call(v, x, 2, &o) != MX_OK && err_has("in_axes"), "axes count");
  mx_closure_free(v);
  v = mx_vmap(f, (int[]){-1, 0}, 2, (int[]){0, 0}, 2);
  MXT_CHECK(mx_closure_call(v, x, 2, &o) != MX_OK && err_has("out_axes"),
            "out axes count");
  mx_closure_free(v);
  v = mx_vmap(f, (int[]){-1, 0}, 2, (int[]){4}, 1);
  MXT_CHECK(mx_closure_call(v, x, 2, &o) != MX_OK && err_has("out axis"), "bad out axis");
  mx_closure_free(v);
  MXT_CHECK(mx_vmap(f, (int[]){-2, 0}, 2, NULL, 0) == NULL && err_has("[vmap]"),
            "in axis -2");
  mx_closure_free(f);
  /* evaluating inside vmap */
  f = mx_closure_new(f_evaluates, NULL, NULL);
  v = mx_vmap(f, NULL, 0, NULL, 0);
  MXT_CHECK(mx_closure_call(v, x, 1, &o) != MX_OK && err_has("cannot evaluate"), "eval");
  mx_closure_free(v);
  mx_closure_free(f);
  mx_vec_free(&o);
}

int main(void) {
  catalog_init(&g_cat);
  static char names[160][96];
  for (int k = 0; k < NENTRIES; k++) {
    g_entry = &ENTRIES[k];
    snprintf(names[k], sizeof names[k], "vmap_%s", ENTRIES[k].name);
    mxt_run(names[k], run_entry);
  }
  MXT_RUN(test_batched_indices);
  MXT_RUN(test_batched_weights);
  MXT_RUN(test_batched_quantized);
  MXT_RUN(test_batched_keys);
  MXT_RUN(test_vmap_of_grad);
  MXT_RUN(test_unbatched_outputs);
  MXT_RUN(test_misc_ops);
  MXT_RUN(test_errors);
  catalog_free(&g_cat);
  return mxt_finish();
}
