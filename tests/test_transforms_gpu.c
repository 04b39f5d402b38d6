/* test_transforms_gpu.c: transforms on the GPU stream against the same
 * transforms on the CPU: grad through the traced inputs' identity views,
 * checkpoint's custom node and vmap, using only primitives with CUDA
 * kernels (matmul, add/multiply, views, full, copy). Without a GPU
 * (or a CUDA build) it exits 77: skipped. */
#include "harness.h"

static mx_stream g_gpu;
static const mx_stream k_unset = {-1, {MX_CPU, 0}};

/* sum((x @ w) * (x @ w)) with the sum as a matmul with ones; w is the
 * differentiated input, x the payload. */
static mx_status f_loss(void *p, mx_array *const *w, int n, mx_vec *out) {
  (void)n;
  mx_array *x = p;
  mx_array *y = mx_matmul(x, w[0]);
  mx_array *z = mx_multiply(y, y);
  int m = (int)mx_array_size(z), r[2] = {1, m}, c[2] = {m, 1};
  mx_array *s = mx_matmul(mx_reshape(z, r, 2), mx_ones(c, 2, mx_array_dtype(z)));
  return mx_vec_push(out, mx_reshape(s, NULL, 0));
}

static mx_status f_mm(void *p, mx_array *const *w, int n, mx_vec *out) {
  (void)p, (void)n;
  return mx_vec_push(out, mx_add(mx_matmul(w[0], w[1]), w[0]));
}

static bool same(mx_array *g, mx_array *c, double tol, const char *what) {
  double *ref = mxt_to_f64(c);
  if (!ref) {
    MXT_CHECK(0, "%s: cpu failed: %s", what, mx_last_error());
    return false;
  }
  bool ok = mxt_close(g, ref, mx_array_size(c), tol, tol, what);
  free(ref);
  return ok;
}

/* Runs the closure h on the GPU stream and on the CPU; compares outputs. */
static void compare(mx_closure *h, mx_array **in, int nin, double tol, const char *what) {
  mx_vec go = MX_VEC_INIT, co = MX_VEC_INIT;
  mx_set_thread_stream(g_gpu);
  mx_status rc = mx_closure_call(h, in, nin, &go);
  if (rc == MX_OK) {
    MXT_CHECK(mx_array_stream(go.items[0]).device.type == MX_GPU, "%s on gpu", what);
    rc = mx_eval(go.items, go.n);
  }
  mx_set_thread_stream(k_unset);
  MXT_CHECK(rc == MX_OK, "%s gpu: %s", what, mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_closure_call(h, in, nin, &co) == MX_OK, "%s cpu", what);
  for (int k = 0; rc == MX_OK && k < go.n && k < co.n; k++)
    same(go.items[k], co.items[k], tol, what);
  mx_vec_free(&go);
  mx_vec_free(&co);
}

static void test_grad_checkpoint_vmap(void) {
  int sx[2] = {64, 48}, sw[2] = {48, 32};
  mx_array *x = mxt_rand(sx, 2, MX_FLOAT32, -1, 1),
           *w = mxt_rand(sw, 2, MX_FLOAT32, -1, 1);
  mx_eval1(x);
  mx_closure *f = mx_closure_new(f_loss, x, NULL);
  mx_closure *g = mx_grad(f, NULL, 0), *cf = mx_checkpoint(f), *gc = mx_grad(cf, NULL, 0);
  mx_closure *gg = mx_value_and_grad(f, NULL, 0);
  compare(g, &w, 1, 1e-3, "grad");
  compare(gc, &w, 1, 1e-3, "grad(checkpoint)");
  compare(gg, &w, 1, 1e-3, "value_and_grad");
  /* vmap over a batch of w, and the jvp of a product */
  int sb[3] = {5, 48, 48};
  mx_array *wb = mxt_rand(sb, 3, MX_FLOAT32, -1, 1);
  mx_closure *mm = mx_closure_new(f_mm, NULL, NULL);
  mx_closure *vm = mx_vmap(mm, (int[]){0, -1}, 2, NULL, 0);
  mx_array *in2[2] = {wb, mxt_rand((int[]){48, 48}, 2, MX_FLOAT32, -1, 1)};
  compare(vm, in2, 2, 1e-3, "vmap");
  mx_closure *jf = mx_jvp_fn(mm);
  mx_array *in4[4] = {in2[1], in2[1], mxt_rand((int[]){48, 48}, 2, MX_FLOAT32, -1, 1),
                      mxt_rand((int[]){48, 48}, 2, MX_FLOAT32, -1, 1)};
  compare(jf, in4, 4, 1e-3, "jvp");
  mx_closure_free(jf);
  mx_closure_free(vm);
  mx_closure_free(mm);
  mx_closure_free(gg);
  mx_closure_free(gc);
  mx_closure_free(cf);
  mx_closure_free(g);
  mx_closure_free(f);
}

int main(void) {
  if (!mx_gpu_available()) {
    printf("no GPU: skipped\n");
    return 77;
  }
  g_gpu = mx_default_stream(mx_gpu());
  MXT_RUN(test_grad_checkpoint_vmap);
  return mxt_finish();
}
