/* test_nn_train.c: nn.value_and_grad over modules (gradients of MSE and
 * cross-entropy losses of a Linear layer against their analytic float64
 * forms, frozen parameters, auxiliary outputs, errors), and end-to-end
 * training: an MLP fitted with Adam and a classifier with SGD + momentum,
 * with a cosine schedule and gradient clipping. */
#include "harness.h"

static double *g_bufs[64];
static int g_nbufs;
static double *F(mx_array *a) {
  double *d = mxt_to_f64(a);
  if (d && g_nbufs < 64) g_bufs[g_nbufs++] = d;
  return d;
}
static void free_bufs(void) {
  for (int i = 0; i < g_nbufs; i++) free(g_bufs[i]);
  g_nbufs = 0;
}

/* inputs: x, targets */
static mx_array *mse_fn(mx_module *m, mx_array *const *in, int n, mx_vec *aux,
                        void *ctx) {
  (void)n;
  (void)ctx;
  mx_array *y = mx_module_forward(m, in[0]);
  if (aux) mx_vec_push(aux, y);
  return mx_nn_mse_loss(y, in[1], MX_REDUCTION_MEAN);
}

static mx_array *ce_fn(mx_module *m, mx_array *const *in, int n, mx_vec *aux, void *ctx) {
  (void)n;
  (void)aux;
  (void)ctx;
  return mx_nn_cross_entropy(mx_module_forward(m, in[0]), in[1], NULL, -1, 0,
                             MX_REDUCTION_MEAN);
}

static void test_linear_grads(void) {
  mx_random_seed(1);
  int N = 6, I = 4, O = 3;
  mx_module *l = mx_nn_linear(I, O, true);
  int xs[2] = {N, I}, ts[2] = {N, O};
  mx_array *x = mxt_rand(xs, 2, MX_FLOAT32, -1, 1),
           *t = mxt_rand(ts, 2, MX_FLOAT32, -1, 1);
  double *xd = F(x), *td = F(t), *w = F(mx_module_get(l, "weight")),
         *b = F(mx_module_get(l, "bias"));
  mx_array *w_before = mx_module_get(l, "weight");
  /* forward and analytic gradients of mean((xW^T + b - t)^2) */
  double y[18], gw[12] = {0}, gb[3] = {0}, loss = 0;
  for (int i = 0; i < N; i++)
    for (int o = 0; o < O; o++) {
      double s = b[o];
      for (int k = 0; k < I; k++) s += xd[i * I + k] * w[o * I + k];
      y[i * O + o] = s;
      double d = s - td[i * O + o];
      loss += d * d / (N * O);
      gb[o] += 2 * d / (N * O);
      for (int k = 0; k < I; k++) gw[o * I + k] += 2 * d / (N * O) * xd[i * I + k];
    }
  mx_array *in[2] = {x, t};
  mx_array *lv = NULL;
  mx_array_map *g = NULL;
  mx_vec aux = MX_VEC_INIT;
  MXT_CHECK(mx_nn_value_and_grad(l, mse_fn, NULL, in, 2, &lv, &g, &aux) == MX_OK,
            "vg: %s", mx_last_error());
  mxt_close(lv, &loss, 1, 1e-5, 1e-7, "loss");
  MXT_CHECK(
      g && mx_array_map_size(g) == 2 && strcmp(mx_array_map_name(g, 0), "weight") == 0,
      "grad names");
  if (g) {
    mxt_close(mx_array_map_get(g, "weight"), gw, 12, 1e-4, 1e-6, "dL/dW");
    mxt_close(mx_array_map_get(g, "bias"), gb, 3, 1e-4, 1e-6, "dL/db");
  }
  MXT_CHECK(aux.n == 1, "aux output");
  if (aux.n == 1) mxt_close(aux.items[0], y, 18, 1e-5, 1e-6, "aux = predictions");
  MXT_CHECK(mx_module_get(l, "weight") == w_before, "module unchanged");
  mx_array_map_free(g);
  mx_vec_free(&aux);

  /* frozen bias: only the weight gets a gradient */
  mx_module_freeze(l, "bias");
  MXT_CHECK(mx_nn_value_and_grad(l, mse_fn, NULL, in, 2, NULL, &g, NULL) == MX_OK,
            "frozen");
  MXT_CHECK(g && mx_array_map_size(g) == 1 && mx_array_map_get(g, "weight"),
            "weight only");
  if (g)
    mxt_close(mx_array_map_get(g, "weight"), gw, 12, 1e-4, 1e-6, "dL/dW frozen bias");
  mx_array_map_free(g);
  mx_module_unfreeze(l, NULL);

  /* cross entropy: dL/dlogits = (softmax - onehot) / N */
  int32_t cls[6] = {0, 2, 1, 1, 0, 2};
  mx_array *c = mx_array_from_i32(cls, &N, 1);
  mx_array *in2[2] = {x, c};
  double gw2[12] = {0}, gb2[3] = {0};
  for (int i = 0; i < N; i++) {
    double mx = -INFINITY, z = 0;
    for (int o = 0; o < O; o++) mx = fmax(mx, y[i * O + o]);
    for (int o = 0; o < O; o++) z += exp(y[i * O + o] - mx);
    for (int o = 0; o < O; o++) {
      double d = (exp(y[i * O + o] - mx) / z - (o == cls[i])) / N;
      gb2[o] += d;
      for (int k = 0; k < I; k++) gw2[o * I + k] += d * xd[i * I + k];
    }
  }
  MXT_CHECK(mx_nn_value_and_grad(l, ce_fn, NULL, in2, 2, NULL, &g, NULL) == MX_OK, "ce");
  if (g) {
    mxt_close(mx_array_map_get(g, "weight"), gw2, 12, 1e-4, 1e-6, "ce dL/dW");
    mxt_close(mx_array_map_get(g, "bias"), gb2, 3, 1e-4, 1e-6, "ce dL/db");
  }
  mx_array_map_free(g);
  mx_module_free(l);
  free_bufs();
}

static mx_array *null_fn(mx_module *m, mx_array *const *in, int n, mx_vec *aux,
                         void *ctx) {
  (void)m, (void)in, (void)n, (void)aux, (void)ctx;
  return NULL;
}

static mx_array *vector_fn(mx_module *m, mx_array *const *in, int n, mx_vec *aux,
                           void *ctx) {
  (void)n, (void)aux, (void)ctx;
  return mx_module_forward(m, in[0]); /* not a scalar */
}

static void test_errors(void) {
  mx_random_seed(2);
  mx_module *l = mx_nn_linear(2, 2, true);
  mx_array *w = mx_module_get(l, "weight");
  int xs[2] = {3, 2};
  mx_array *x = mxt_rand(xs, 2, MX_FLOAT32, -1, 1);
  mx_array *lv = (mx_array *)1;
  mx_array_map *g = (mx_array_map *)1;
  MXT_CHECK(mx_nn_value_and_grad(l, null_fn, NULL, &x, 1, &lv, &g, NULL) != MX_OK &&
                lv == NULL && g == NULL,
            "NULL loss");
  mx_clear_error();
  MXT_CHECK(mx_module_get(l, "weight") == w, "module restored after a failing loss");
  MXT_CHECK(mx_nn_value_and_grad(l, vector_fn, NULL, &x, 1, &lv, &g, NULL) != MX_OK,
            "non-scalar loss");
  mx_clear_error();
  MXT_CHECK(mx_module_get(l, "weight") == w, "module restored");
  MXT_CHECK(mx_nn_value_and_grad(NULL, mse_fn, NULL, &x, 1, &lv, &g, NULL) != MX_OK,
            "NULL");
  mx_clear_error();
  mx_module_free(l);
}

static mx_array *mlp_loss(mx_module *m, mx_array *const *in, int n, mx_vec *aux,
                          void *ctx) {
  (void)n, (void)aux, (void)ctx;
  return mx_nn_mse_loss(mx_module_forward(m, in[0]), in[1], MX_REDUCTION_MEAN);
}

static void test_fit_regression(void) {
  mx_random_seed(3);
  /* y = sin(2 x0) + x1^2 - 0.5 on [-1, 1]^2 */
  int N = 128, xs[2] = {N, 2}, ys[2] = {N, 1};
  mx_array *x = mx_random_uniform(-1, 1, xs, 2, MX_FLOAT32, mx_random_key(7));
  double *xd = F(x);
  float *yv = malloc(sizeof(float) * (size_t)N);
  for (int i = 0; i < N; i++)
    yv[i] = (float)(sin(2 * xd[2 * i]) + xd[2 * i + 1] * xd[2 * i + 1] - 0.5);
  mx_array *y = mx_array_from_f32(yv, ys, 2);
  free(yv);
  mx_module *mods[3] = {mx_nn_linear(2, 32, true), mx_nn_activation(MX_ACT_SILU, 0),
                        mx_nn_linear(32, 1, true)};
  mx_module *m = mx_nn_sequential(mods, 3);
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_ADAMW, 0.02);
  c.weight_decay = 1e-4;
  mx_optimizer *o = mx_optimizer_new(&c);
  mx_optimizer_set_schedule(o, mx_schedule_cosine_decay(0.02, 300, 1e-3));
  mx_array *in[2] = {x, y};
  double first = 0, last = 0;
  for (int step = 0; step < 300; step++) {
    mx_scope_begin();
    mx_array *loss;
    mx_array_map *g;
    mx_status st = mx_nn_value_and_grad(m, mlp_loss, NULL, in, 2, &loss, &g, NULL);
    MXT_CHECK(st == MX_OK, "step %d: %s", step, mx_last_error());
    if (st != MX_OK) {
      mx_scope_end();
      break;
    }
    mx_array_map *cg;
    mx_clip_grad_norm(g, 1.0, &cg);
    st = mx_optimizer_update(o, m, cg);
    MXT_CHECK(st == MX_OK, "update %d", step);
    mx_module_eval(m);
    mx_optimizer_eval(o);
    double lv = mx_array_item_f64(loss);
    if (step == 0) first = lv;
    last = lv;
    mx_array_map_free(g);
    mx_array_map_free(cg);
    mx_scope_end();
  }
  MXT_CHECK(last < 0.05 * first && last < 0.01, "loss %g -> %g", first, last);
  if (getenv("MX_TEST_VERBOSE"))
    fprintf(stderr, "regression loss %g -> %g\n", first, last);
  MXT_CHECK(mx_optimizer_step(o) == 300, "300 steps");
  mx_optimizer_free(o);
  mx_module_free(m);
  free_bufs();
}

static mx_array *clf_loss(mx_module *m, mx_array *const *in, int n, mx_vec *aux,
                          void *ctx) {
  (void)n, (void)ctx;
  mx_array *logits = mx_module_forward(m, in[0]);
  /* auxiliary: accuracy */
  mx_array *pred = mx_argmax(logits, -1, false);
  mx_array *acc = mx_mean(
      mx_astype(mx_equal(pred, mx_astype(in[1], MX_UINT32)), MX_FLOAT32), NULL, 0, false);
  mx_vec_push(aux, acc);
  return mx_nn_cross_entropy(logits, in[1], NULL, -1, 0.05, MX_REDUCTION_MEAN);
}

static void test_fit_classifier(void) {
  mx_random_seed(4);
  /* three Gaussian blobs in 2-D */
  int N = 150;
  float xv[300];
  int32_t cv[150];
  double cx[3] = {-1, 1, 0}, cy[3] = {-1, -1, 1};
  mxt_seed(99);
  for (int i = 0; i < N; i++) {
    int k = i % 3;
    cv[i] = k;
    xv[2 * i] = (float)(cx[k] + 0.3 * mxt_normal());
    xv[2 * i + 1] = (float)(cy[k] + 0.3 * mxt_normal());
  }
  int xs[2] = {N, 2};
  mx_array *x = mx_array_from_f32(xv, xs, 2), *t = mx_array_from_i32(cv, &N, 1);
  mx_module *mods[4] = {mx_nn_linear(2, 16, true), mx_nn_activation(MX_ACT_RELU, 0),
                        mx_nn_dropout(0.1f), mx_nn_linear(16, 3, true)};
  mx_module *m = mx_nn_sequential(mods, 4);
  mx_optim_config c = mx_optim_defaults(MX_OPTIM_SGD, 0.2);
  c.momentum = 0.9;
  c.nesterov = true;
  mx_optimizer *o = mx_optimizer_new(&c);
  mx_array *in[2] = {x, t};
  for (int step = 0; step < 150; step++) {
    mx_scope_begin();
    mx_array_map *g = NULL;
    if (mx_nn_value_and_grad(m, clf_loss, NULL, in, 2, NULL, &g, NULL) == MX_OK)
      mx_optimizer_update(o, m, g);
    mx_module_eval(m);
    mx_optimizer_eval(o);
    mx_array_map_free(g);
    mx_scope_end();
  }
  mx_module_train(m, false); /* dropout off */
  mx_array *loss;
  mx_vec aux = MX_VEC_INIT;
  MXT_CHECK(mx_nn_value_and_grad(m, clf_loss, NULL, in, 2, &loss, NULL, &aux) == MX_OK,
            "eval loss");
  double acc = aux.n ? mx_array_item_f64(aux.items[0]) : 0;
  MXT_CHECK(acc > 0.95, "accuracy %g, loss %g", acc, mx_array_item_f64(loss));
  mx_vec_free(&aux);
  mx_optimizer_free(o);
  mx_module_free(m);
}

int main(void) {
  MXT_RUN(test_linear_grads);
  MXT_RUN(test_errors);
  MXT_RUN(test_fit_regression);
  MXT_RUN(test_fit_classifier);
  return mxt_finish();
}
