/* test_nn.c: nn modules (tree, names, freezing, safetensors), every layer's
 * forward, activations, losses (each reduction, label smoothing, ignored
 * targets via weights) and initialisers (statistics), each against an
 * independent float64 reference written here. */
#include <float.h>
#include <unistd.h>

#include "harness.h"

/* ---- helpers ---- */

/* float64 copies freed at the end of each case */
static double *g_bufs[512];
static int g_nbufs;
static double *F(mx_array *a) {
  double *d = mxt_to_f64(a);
  if (d && g_nbufs < 512) g_bufs[g_nbufs++] = d;
  return d;
}
static double *alloc_d(int64_t n) {
  double *d = calloc((size_t)(n ? n : 1), sizeof *d);
  if (d && g_nbufs < 512) g_bufs[g_nbufs++] = d;
  return d;
}
static void free_bufs(void) {
  for (int i = 0; i < g_nbufs; i++) free(g_bufs[i]);
  g_nbufs = 0;
}

static mx_array *rnd(const int *shape, int nd, double lo, double hi) {
  return mxt_rand(shape, nd, MX_FLOAT32, lo, hi);
}

static const char *tmp_path(const char *name) {
  static char buf[512];
  snprintf(buf, sizeof buf, "/tmp/mx_test_nn_%d_%s", (int)getpid(), name);
  return buf;
}

/* y = x @ w.T + b in float64: x (n, in), w (out, in), b (out) or NULL */
static void linear_ref(const double *x, const double *w, const double *b, int n, int in,
                       int out, double *y) {
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double s = b ? b[o] : 0;
      for (int k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
      y[i * out + o] = s;
    }
}

static bool has_msg(const char *s) {
  bool ok = strstr(mx_last_error(), s) != NULL;
  if (!ok) fprintf(stderr, "  (message was: %s)\n", mx_last_error());
  mx_clear_error();
  return ok;
}

/* ---- module tree ---- */

static mx_module *make_mlp(void) {
  mx_module *mods[3] = {mx_nn_linear(4, 8, true), mx_nn_activation(MX_ACT_RELU, 0),
                        mx_nn_linear(8, 3, false)};
  return mx_nn_sequential(mods, 3);
}

static void test_module_tree(void) {
  mx_random_seed(1);
  mx_module *m = make_mlp();
  MXT_OK(m);
  MXT_CHECK(strcmp(mx_module_type(m), "Sequential") == 0, "type");
  mx_array_map *p = mx_module_parameters(m);
  MXT_OK(p);
  const char *want[] = {"layers.0.weight", "layers.0.bias", "layers.2.weight"};
  MXT_CHECK(mx_array_map_size(p) == 3, "3 params, got %d", mx_array_map_size(p));
  for (int i = 0; i < 3 && i < mx_array_map_size(p); i++)
    MXT_CHECK(strcmp(mx_array_map_name(p, i), want[i]) == 0, "name %d: %s", i,
              mx_array_map_name(p, i));
  MXT_CHECK(mx_module_num_params(m) == 4 * 8 + 8 + 8 * 3, "num params %lld",
            (long long)mx_module_num_params(m));
  MXT_CHECK(mx_module_get(m, "layers.0.weight") == mx_array_map_get(p, "layers.0.weight"),
            "get by path");
  MXT_CHECK(mx_module_get(m, "layers.1.weight") == NULL, "relu has none");
  MXT_CHECK(mx_module_get(m, "layers.0") == NULL, "a module is not a param");
  MXT_CHECK(mx_module_child(m, "layers.2") != NULL, "child by path");
  MXT_CHECK(strcmp(mx_module_type(mx_module_child(m, "layers.1")), "ReLU") == 0, "ReLU");
  MXT_CHECK(mx_module_get(m, "layers.0.weight.x") == NULL && mx_module_get(m, "") == NULL,
            "bad paths");
  int sh0[2] = {8, 4};
  MXT_CHECK(mx_array_ndim(mx_module_get(m, "layers.0.weight")) == 2 &&
                memcmp(mx_array_shape(mx_module_get(m, "layers.0.weight")), sh0,
                       sizeof sh0) == 0,
            "weight (out, in)");
  mx_array_map_free(p);

  /* invalid names */
  mx_array *z = mx_zeros(sh0, 2, MX_FLOAT32);
  MXT_CHECK(mx_module_set_param(m, "a.b", z) == MX_ERR_INVALID, "dotted name rejected");
  MXT_CHECK(has_msg("invalid parameter name"), "msg");
  MXT_CHECK(mx_module_set_param(m, "layers", z) == MX_ERR_INVALID, "child name as param");
  mx_clear_error();

  /* update: strict rejects unknown names and changes nothing */
  mx_array_map *u = mx_array_map_new();
  mx_array *w0 = mx_module_get(m, "layers.0.weight");
  mx_array_map_set(u, "layers.0.weight", z);
  mx_array_map_set(u, "layers.9.weight", z);
  MXT_CHECK(mx_module_update(m, u, true) == MX_ERR_INVALID, "strict update");
  MXT_CHECK(has_msg("layers.9.weight"), "names the parameter");
  MXT_CHECK(mx_module_get(m, "layers.0.weight") == w0, "unchanged after failure");
  MXT_CHECK(mx_module_update(m, u, false) == MX_OK, "non-strict update");
  MXT_CHECK(mx_module_get(m, "layers.0.weight") == z, "updated");
  mx_array_map_free(u);

  /* unflatten: a generic tree with the same names */
  p = mx_module_parameters(m);
  mx_module *t = mx_module_unflatten(p);
  MXT_OK(t);
  mx_array_map *q = mx_module_parameters(t);
  MXT_CHECK(mx_array_map_size(q) == mx_array_map_size(p), "same count");
  for (int i = 0; i < mx_array_map_size(p) && i < mx_array_map_size(q); i++) {
    MXT_CHECK(strcmp(mx_array_map_name(p, i), mx_array_map_name(q, i)) == 0, "order %d",
              i);
    MXT_CHECK(mx_array_map_at(p, i) == mx_array_map_at(q, i), "same array %d", i);
  }
  MXT_CHECK(mx_module_child(t, "layers.0") != NULL &&
                strcmp(mx_module_type(mx_module_child(t, "layers.0")), "dict") == 0,
            "dict nodes");
  mx_array_map_free(q);
  mx_array_map_free(p);
  mx_module_free(t);

  /* remove, entries */
  mx_module *l = mx_module_child(m, "layers.0");
  MXT_CHECK(mx_module_num_entries(l) == 2, "entries");
  MXT_CHECK(mx_module_remove(l, "bias") && !mx_module_remove(l, "bias"), "remove");
  MXT_CHECK(mx_module_get(m, "layers.0.bias") == NULL, "bias gone");
  /* a Linear without bias still works (x @ W.T) */
  int xs[2] = {2, 4};
  mx_array *x = rnd(xs, 2, -1, 1);
  mx_array *y = mx_module_forward(l, x);
  double *xd = F(x), *wd = F(z), yr[16];
  linear_ref(xd, wd, NULL, 2, 4, 8, yr);
  mxt_close(y, yr, 16, 1e-6, 1e-6, "linear after removing bias");

  /* custom module: forward + data */
  mx_module *c = mx_module_new("Custom");
  MXT_CHECK(mx_module_forward(c, x) == NULL && has_msg("no forward"), "no forward");
  MXT_CHECK(mx_module_set_child(c, "inner", make_mlp()) == MX_OK, "add child");
  MXT_CHECK(mx_module_set_child(c, "inner", make_mlp()) == MX_OK, "replace child");
  MXT_CHECK(mx_module_num_entries(c) == 1, "replaced in place");
  mx_module_free(c);
  mx_module_free(m);
  free_bufs();
}

static void collect_path(const char *path, mx_module *mod, void *ctx) {
  char *buf = ctx;
  size_t l = strlen(buf);
  snprintf(buf + l, 512 - l, "%s%s:%s", l ? "," : "", path, mx_module_type(mod));
}

static mx_array *plus_one(mx_array *a, const char *name, void *ctx) {
  (*(int *)ctx)++;
  if (strcmp(name, "layers.2.weight") == 0) return mx_add(a, mx_scalar_like(a, 1.0));
  return a; /* unchanged */
}

static mx_array *fail_on_bias(mx_array *a, const char *name, void *ctx) {
  (void)ctx;
  if (strstr(name, "bias")) {
    mx_set_error(MX_ERR_INVALID, "[test] no biases");
    return NULL;
  }
  return mx_multiply(a, mx_scalar_like(a, 0.0));
}

static void test_module_apply(void) {
  mx_random_seed(12);
  mx_module *m = make_mlp();
  char paths[512] = "";
  mx_module_visit(m, collect_path, paths);
  MXT_CHECK(strcmp(paths,
                   ":Sequential,layers:list,layers.0:Linear,layers.1:ReLU,"
                   "layers.2:Linear") == 0,
            "visit order: %s", paths);
  double *w2 = F(mx_module_get(m, "layers.2.weight"));
  int calls = 0;
  MXT_CHECK(mx_module_apply(m, plus_one, &calls) == MX_OK && calls == 3, "apply");
  double want[24];
  for (int i = 0; i < 24; i++) want[i] = w2[i] + 1;
  mxt_close(mx_module_get(m, "layers.2.weight"), want, 24, 1e-6, 1e-6, "applied");
  /* a failing function changes nothing */
  mx_array *w0 = mx_module_get(m, "layers.0.weight");
  MXT_CHECK(mx_module_apply(m, fail_on_bias, NULL) == MX_ERR_INVALID, "apply fails");
  mx_clear_error();
  MXT_CHECK(mx_module_get(m, "layers.0.weight") == w0, "unchanged");
  /* set_dtype casts floating parameters only */
  mx_module *q = mx_nn_quantized_linear(64, 4, true, 64, 4);
  MXT_CHECK(mx_module_set_child(m, "q", q) == MX_OK, "add quantized");
  MXT_CHECK(mx_module_set_dtype(m, MX_BFLOAT16) == MX_OK, "set_dtype");
  MXT_CHECK(mx_array_dtype(mx_module_get(m, "layers.0.weight")) == MX_BFLOAT16 &&
                mx_array_dtype(mx_module_get(m, "q.scales")) == MX_BFLOAT16 &&
                mx_array_dtype(mx_module_get(m, "q.weight")) == MX_UINT32,
            "floating cast, packed kept");
  MXT_CHECK(mx_module_is_frozen(m, "q.weight"), "flags kept");
  int xs[2] = {2, 4};
  mx_array *y = mx_module_forward(m, mx_astype(rnd(xs, 2, -1, 1), MX_BFLOAT16));
  MXT_CHECK(y && mx_array_dtype(y) == MX_BFLOAT16, "bf16 forward");
  mx_module_free(m);
  free_bufs();
}

static void test_freeze(void) {
  mx_random_seed(2);
  mx_module *layers[12];
  for (int i = 0; i < 12; i++) layers[i] = mx_nn_linear(2, 2, true);
  mx_module *m = mx_nn_sequential(layers, 12);
  mx_array_map *t = mx_module_trainable_parameters(m);
  MXT_CHECK(mx_array_map_size(t) == 24, "all trainable");
  mx_array_map_free(t);
  MXT_CHECK(mx_module_freeze(m, NULL) == 24, "freeze all");
  t = mx_module_trainable_parameters(m);
  MXT_CHECK(mx_array_map_size(t) == 0, "none trainable");
  mx_array_map_free(t);
  /* "layers.1" must not match "layers.10" / "layers.11" */
  MXT_CHECK(mx_module_unfreeze(m, "layers.1") == 2, "unfreeze layers.1 only");
  t = mx_module_trainable_parameters(m);
  MXT_CHECK(mx_array_map_size(t) == 2 && mx_array_map_get(t, "layers.1.weight") &&
                mx_array_map_get(t, "layers.1.bias"),
            "layers.1 trainable");
  mx_array_map_free(t);
  MXT_CHECK(mx_module_unfreeze(m, "layers.10.bias") == 1, "exact name");
  MXT_CHECK(mx_module_unfreeze(m, "layers.10.bi") == 0, "partial component");
  MXT_CHECK(mx_module_is_frozen(m, "layers.10.weight") &&
                !mx_module_is_frozen(m, "layers.10.bias"),
            "is_frozen");
  /* the flag survives replacing the array */
  mx_array_map *u = mx_array_map_new();
  mx_array_map_set(u, "layers.10.weight",
                   mx_zeros_like(mx_module_get(m, "layers.10.weight")));
  mx_module_update(m, u, true);
  mx_array_map_free(u);
  MXT_CHECK(mx_module_is_frozen(m, "layers.10.weight"), "frozen after update");
  /* by key, across the tree */
  mx_module_unfreeze(m, NULL);
  MXT_CHECK(mx_module_freeze_key(m, "bias") == 12, "freeze every bias");
  t = mx_module_trainable_parameters(m);
  MXT_CHECK(mx_array_map_size(t) == 12, "weights only");
  for (int i = 0; i < mx_array_map_size(t); i++)
    MXT_CHECK(strstr(mx_array_map_name(t, i), ".weight") != NULL, "weight %s",
              mx_array_map_name(t, i));
  mx_array_map_free(t);
  MXT_CHECK(mx_module_unfreeze_key(m, "bias") == 12, "unfreeze key");
  /* training mode is recursive */
  MXT_CHECK(mx_module_training(m), "train by default");
  mx_module_train(m, false);
  MXT_CHECK(!mx_module_training(mx_module_child(m, "layers.3")), "eval recursive");
  mx_module_free(m);
}

static void test_safetensors(void) {
  mx_random_seed(3);
  mx_module *m = make_mlp();
  const char *path = tmp_path("w.safetensors");
  char path_copy[512];
  snprintf(path_copy, sizeof path_copy, "%s", path);
  MXT_CHECK(mx_module_save_weights(m, path_copy) == MX_OK, "save: %s", mx_last_error());
  mx_array_map *raw = mx_load_safetensors(path_copy);
  MXT_OK(raw);
  MXT_CHECK(raw && mx_array_map_size(raw) == 3 &&
                mx_array_map_get(raw, "layers.0.weight") &&
                mx_array_map_get(raw, "layers.0.bias") &&
                mx_array_map_get(raw, "layers.2.weight"),
            "MLX names in the file");
  /* load into a fresh model with different values */
  mx_random_seed(99);
  mx_module *m2 = make_mlp();
  MXT_CHECK(mx_module_load_weights(m2, path_copy, true) == MX_OK, "load: %s",
            mx_last_error());
  for (int i = 0; raw && i < mx_array_map_size(raw); i++) {
    const char *nm = mx_array_map_name(raw, i);
    double *a = F(mx_module_get(m, nm));
    mxt_close(mx_module_get(m2, nm), a, mx_array_size(mx_module_get(m, nm)), 0, 0, nm);
  }
  /* strict: extra, missing, shape mismatch */
  mx_array_map *w = mx_array_map_new();
  for (int i = 0; raw && i < mx_array_map_size(raw); i++)
    mx_array_map_set(w, mx_array_map_name(raw, i), mx_array_map_at(raw, i));
  int s1 = 3;
  mx_array_map_set(w, "extra.weight", mx_zeros(&s1, 1, MX_FLOAT32));
  MXT_CHECK(mx_module_load_map(m2, w, true) == MX_ERR_INVALID && has_msg("not in model"),
            "extra");
  MXT_CHECK(mx_module_load_map(m2, w, false) == MX_OK, "non-strict ignores extras");
  mx_array_map_remove(w, "extra.weight");
  mx_array_map_remove(w, "layers.0.bias");
  MXT_CHECK(mx_module_load_map(m2, w, true) == MX_ERR_INVALID && has_msg("Missing 1"),
            "missing");
  mx_array_map_set(w, "layers.0.bias", mx_zeros(&s1, 1, MX_FLOAT32));
  MXT_CHECK(
      mx_module_load_map(m2, w, true) == MX_ERR_INVALID && has_msg("Expected shape"),
      "shape mismatch");
  MXT_CHECK(mx_module_load_weights(m2, "/nonexistent/x.safetensors", true) != MX_OK,
            "missing file");
  mx_clear_error();
  mx_array_map_free(w);
  mx_array_map_free(raw);
  mx_module_free(m);
  mx_module_free(m2);
  unlink(path_copy);
  free_bufs();
}

/* ---- layers ---- */

static void test_linear(void) {
  mx_random_seed(4);
  mx_module *l = mx_nn_linear(5, 7, true);
  MXT_OK(l);
  /* init: U(-1/sqrt(5), 1/sqrt(5)) */
  double lim = 1 / sqrt(5.0), *w = F(mx_module_get(l, "weight")),
         *b = F(mx_module_get(l, "bias"));
  bool inr = true;
  for (int i = 0; i < 35; i++) inr &= fabs(w[i]) <= lim;
  for (int i = 0; i < 7; i++) inr &= fabs(b[i]) <= lim;
  MXT_CHECK(inr, "init bounds");
  int xs[3] = {2, 3, 5};
  mx_array *x = rnd(xs, 3, -2, 2);
  double *xd = F(x), *yr = alloc_d(6 * 7);
  linear_ref(xd, w, b, 6, 5, 7, yr);
  mx_array *y = mx_module_forward(l, x);
  MXT_CHECK(y && mx_array_ndim(y) == 3 && mx_array_dim(y, 2) == 7, "shape");
  mxt_close(y, yr, 42, 1e-5, 1e-5, "linear");
  mxt_close(mx_module_forward(l, mxt_noncontig(x)), yr, 42, 1e-5, 1e-5, "noncontig");
  /* bfloat16 input promotes with float32 weights */
  mxt_close(mx_module_forward(l, mx_astype(x, MX_BFLOAT16)), yr, 42, 2e-2, 2e-2,
            "bf16 x");
  /* wrong input size */
  int bs[2] = {2, 4};
  MXT_CHECK(mx_module_forward(l, rnd(bs, 2, 0, 1)) == NULL, "bad input dims");
  mx_clear_error();
  MXT_CHECK(mx_nn_linear(0, 3, true) == NULL, "zero dims");
  mx_clear_error();
  mx_module *id = mx_nn_identity();
  mxt_close(mx_module_forward(id, x), xd, 30, 0, 0, "identity");
  mx_module_free(id);
  mx_module_free(l);
  free_bufs();
}

/* Dequantize MLX affine-packed rows in float64: w (N, K*bits/32) uint32,
 * scales/biases (N, K/gs). bits 4 or 8 (no straddling). */
static double *dequant_ref(mx_array *wq, mx_array *scales, mx_array *biases, int N, int K,
                           int gs, int bits) {
  int64_t nw = mx_array_size(wq);
  uint32_t *q = malloc((size_t)nw * 4);
  mx_array_read(wq, MX_UINT32, q, (size_t)nw * 4);
  double *s = F(scales), *bb = F(biases), *out = alloc_d((int64_t)N * K);
  int per = 32 / bits, wpr = K / per;
  for (int n = 0; n < N; n++)
    for (int k = 0; k < K; k++) {
      uint32_t word = q[n * wpr + k / per];
      uint32_t v = (word >> ((k % per) * bits)) & ((1u << bits) - 1);
      int g = k / gs;
      out[n * K + k] = s[n * (K / gs) + g] * v + bb[n * (K / gs) + g];
    }
  free(q);
  return out;
}

static bool pred_first_only(const char *path, const mx_module *mod, void *ctx) {
  (void)mod;
  (void)ctx;
  return strcmp(path, "layers.0") == 0;
}

static void test_quantized(void) {
  mx_random_seed(5);
  int K = 64, N = 6;
  mx_module *l = mx_nn_linear(K, N, true);
  for (int bits = 4; bits <= 8; bits += 4) {
    mx_module *q = mx_nn_quantized_linear_from_linear(l, 32, bits);
    MXT_OK(q);
    if (!q) continue;
    mx_array_map *p = mx_module_parameters(q);
    const char *want[] = {"weight", "scales", "biases", "bias"};
    MXT_CHECK(mx_array_map_size(p) == 4, "4 entries");
    for (int i = 0; i < 4 && i < mx_array_map_size(p); i++)
      MXT_CHECK(strcmp(mx_array_map_name(p, i), want[i]) == 0, "order %s",
                mx_array_map_name(p, i));
    mx_array_map_free(p);
    MXT_CHECK(mx_array_dtype(mx_module_get(q, "weight")) == MX_UINT32, "packed");
    /* as MLX: weight/scales/biases frozen, the copied bias trainable */
    mx_array_map *t = mx_module_trainable_parameters(q);
    MXT_CHECK(mx_array_map_size(t) == 1 && mx_array_map_get(t, "bias"),
              "only bias trains");
    mx_array_map_free(t);
    double *wd = dequant_ref(mx_module_get(q, "weight"), mx_module_get(q, "scales"),
                             mx_module_get(q, "biases"), N, K, 32, bits);
    /* the dequantized weight is close to the original */
    double *w0 = F(mx_module_get(l, "weight"));
    double maxerr = 0, lim = bits == 4 ? 0.25 / 7.5 : 0.25 / 127;
    for (int i = 0; i < N * K; i++) maxerr = fmax(maxerr, fabs(wd[i] - w0[i]));
    MXT_CHECK(maxerr <= lim, "quantization error %g (bits %d)", maxerr, bits);
    int xs[2] = {3, K};
    mx_array *x = rnd(xs, 2, -1, 1);
    double *yr = alloc_d(3 * N);
    linear_ref(F(x), wd, F(mx_module_get(q, "bias")), 3, K, N, yr);
    mxt_close(mx_module_forward(q, x), yr, 3 * N, 1e-4, 1e-4, "quantized linear");
    mx_module_free(q);
  }
  /* direct construction: defaults 64 / 4, everything frozen */
  mx_module *q = mx_nn_quantized_linear(128, 4, true, 0, 0);
  MXT_OK(q);
  mx_array_map *t = mx_module_trainable_parameters(q);
  MXT_CHECK(t && mx_array_map_size(t) == 0, "all frozen");
  mx_array_map_free(t);
  MXT_CHECK(mx_array_dim(mx_module_get(q, "scales"), 1) == 2, "group 64");
  MXT_CHECK(mx_array_dim(mx_module_get(q, "weight"), 1) == 128 * 4 / 32, "4 bits");
  mx_module_free(q);
  mx_module *idm = mx_nn_identity();
  MXT_CHECK(mx_nn_quantized_linear_from_linear(idm, 64, 4) == NULL, "type");
  mx_clear_error();
  mx_module_free(idm);

  /* nn.quantize: a predicate picks layers.0; layers.2 stays a Linear */
  mx_module *mods[3] = {mx_nn_linear(64, 64, true), mx_nn_activation(MX_ACT_RELU, 0),
                        mx_nn_linear(64, 10, true)};
  mx_module *seq = mx_nn_sequential(mods, 3);
  MXT_CHECK(mx_nn_quantize(seq, 64, 4, pred_first_only, NULL) == MX_OK, "quantize");
  MXT_CHECK(
      strcmp(mx_module_type(mx_module_child(seq, "layers.0")), "QuantizedLinear") == 0,
      "layers.0 quantized");
  MXT_CHECK(strcmp(mx_module_type(mx_module_child(seq, "layers.2")), "Linear") == 0,
            "layers.2 kept");
  MXT_CHECK(mx_module_get(seq, "layers.0.scales") != NULL, "scales name");
  /* all: 10 columns do not fit group 64 on layers.2's input? (64 does) */
  MXT_CHECK(mx_nn_quantize(seq, 64, 8, NULL, NULL) == MX_OK, "quantize rest");
  MXT_CHECK(
      strcmp(mx_module_type(mx_module_child(seq, "layers.2")), "QuantizedLinear") == 0,
      "layers.2 quantized");
  /* an impossible group size fails and leaves the tree alone */
  mx_module *m2[1] = {mx_nn_linear(48, 4, false)};
  mx_module *s2 = mx_nn_sequential(m2, 1);
  MXT_CHECK(mx_nn_quantize(s2, 64, 4, NULL, NULL) != MX_OK, "48 not divisible by 64");
  mx_clear_error();
  MXT_CHECK(strcmp(mx_module_type(mx_module_child(s2, "layers.0")), "Linear") == 0,
            "unchanged");
  mx_module_free(s2);
  mx_module_free(seq);
  mx_module_free(l);
  free_bufs();
}

static void test_embedding(void) {
  mx_random_seed(6);
  int V = 10, D = 64;
  mx_module *e = mx_nn_embedding(V, D);
  double *w = F(mx_module_get(e, "weight"));
  /* N(0, 1/D): sample variance near 1/D */
  double s2 = 0;
  for (int i = 0; i < V * D; i++) s2 += w[i] * w[i];
  s2 /= V * D;
  MXT_CHECK(fabs(s2 - 1.0 / D) < 0.25 / D, "embedding init variance %g", s2);
  int32_t ids[6] = {3, 0, 9, 3, 5, 1};
  int is[2] = {2, 3};
  mx_array *x = mx_array_from_i32(ids, is, 2);
  double *yr = alloc_d(6 * D);
  for (int i = 0; i < 6; i++)
    for (int d = 0; d < D; d++) yr[i * D + d] = w[ids[i] * D + d];
  mx_array *y = mx_module_forward(e, x);
  MXT_CHECK(y && mx_array_ndim(y) == 3 && mx_array_dim(y, 2) == D, "shape");
  mxt_close(y, yr, 6 * D, 0, 0, "embedding");
  /* as_linear: h (2, D) @ W.T -> (2, V) */
  int hs[2] = {2, D};
  mx_array *h = rnd(hs, 2, -1, 1);
  double *lr = alloc_d(2 * V);
  linear_ref(F(h), w, NULL, 2, D, V, lr);
  mxt_close(mx_nn_embedding_as_linear(e, h), lr, 2 * V, 1e-5, 1e-5, "as_linear");
  /* quantized */
  mx_module *qe = mx_nn_quantized_embedding_from_embedding(e, 32, 4);
  MXT_OK(qe);
  double *wq = dequant_ref(mx_module_get(qe, "weight"), mx_module_get(qe, "scales"),
                           mx_module_get(qe, "biases"), V, D, 32, 4);
  for (int i = 0; i < 6; i++)
    for (int d = 0; d < D; d++) yr[i * D + d] = wq[ids[i] * D + d];
  mxt_close(mx_module_forward(qe, x), yr, 6 * D, 1e-6, 1e-6, "quantized embedding");
  linear_ref(F(h), wq, NULL, 2, D, V, lr);
  mxt_close(mx_nn_embedding_as_linear(qe, h), lr, 2 * V, 1e-4, 1e-4,
            "quantized as_linear");
  mx_array_map *t = mx_module_trainable_parameters(qe);
  MXT_CHECK(t && mx_array_map_size(t) == 0, "quantized embedding frozen");
  mx_array_map_free(t);
  /* out-of-range ids fail at eval, not by reading out of bounds */
  int32_t bad = 10;
  mx_array *yb = mx_module_forward(e, mx_array_from_i32(&bad, NULL, 0));
  MXT_CHECK(!yb || mx_eval1(yb) != MX_OK, "out of range id");
  mx_clear_error();
  mx_module *idm = mx_nn_identity();
  MXT_CHECK(mx_nn_embedding_as_linear(idm, h) == NULL, "as_linear type");
  mx_clear_error();
  mx_module_free(idm);
  mx_module_free(qe);
  mx_module_free(e);
  free_bufs();
}

/* (n, d) rows: layer norm in float64 with optional weight/bias */
static void layer_norm_ref(const double *x, int n, int d, const double *w,
                           const double *b, double eps, double *y) {
  for (int i = 0; i < n; i++) {
    double mu = 0, var = 0;
    for (int j = 0; j < d; j++) mu += x[i * d + j];
    mu /= d;
    for (int j = 0; j < d; j++) var += (x[i * d + j] - mu) * (x[i * d + j] - mu);
    var /= d;
    for (int j = 0; j < d; j++) {
      double v = (x[i * d + j] - mu) / sqrt(var + eps);
      y[i * d + j] = v * (w ? w[j] : 1) + (b ? b[j] : 0);
    }
  }
}

static void test_norms(void) {
  mx_random_seed(7);
  int D = 16, xs[3] = {2, 3, 16};
  mx_array *x = rnd(xs, 3, -3, 3);
  double *xd = F(x), *y = alloc_d(6 * D);
  int ds = D;
  mx_array *w = rnd(&ds, 1, 0.5, 1.5), *b = rnd(&ds, 1, -1, 1);
  double *wd = F(w), *bd = F(b);
  /* RMSNorm */
  mx_module *r = mx_nn_rms_norm(D, 1e-5);
  MXT_CHECK(mx_array_item_f64(mx_sum(mx_module_get(r, "weight"), NULL, 0, false)) == D,
            "ones");
  mx_module_set_param(r, "weight", w);
  for (int i = 0; i < 6; i++) {
    double ms = 0;
    for (int j = 0; j < D; j++) ms += xd[i * D + j] * xd[i * D + j];
    ms = 1 / sqrt(ms / D + 1e-5);
    for (int j = 0; j < D; j++) y[i * D + j] = xd[i * D + j] * ms * wd[j];
  }
  mxt_close(mx_module_forward(r, x), y, 6 * D, 1e-5, 1e-6, "rms_norm");
  mx_module_free(r);
  /* LayerNorm: affine with bias, affine without bias, no affine */
  mx_module *ln = mx_nn_layer_norm(D, 1e-5, true, true);
  mx_array_map *p = mx_module_parameters(ln);
  MXT_CHECK(mx_array_map_size(p) == 2 && strcmp(mx_array_map_name(p, 0), "weight") == 0,
            "weight, bias");
  mx_array_map_free(p);
  mx_module_set_param(ln, "weight", w);
  mx_module_set_param(ln, "bias", b);
  layer_norm_ref(xd, 6, D, wd, bd, 1e-5, y);
  mxt_close(mx_module_forward(ln, x), y, 6 * D, 1e-5, 1e-5, "layer_norm");
  mx_module_free(ln);
  ln = mx_nn_layer_norm(D, 1e-5, true, false);
  MXT_CHECK(mx_module_get(ln, "bias") == NULL, "no bias");
  mx_module_set_param(ln, "weight", w);
  layer_norm_ref(xd, 6, D, wd, NULL, 1e-5, y);
  mxt_close(mx_module_forward(ln, x), y, 6 * D, 1e-5, 1e-5, "layer_norm no bias");
  mx_module_free(ln);
  ln = mx_nn_layer_norm(D, 1e-3, false, true);
  MXT_CHECK(mx_module_num_entries(ln) == 0, "no affine");
  layer_norm_ref(xd, 6, D, NULL, NULL, 1e-3, y);
  mxt_close(mx_module_forward(ln, x), y, 6 * D, 1e-5, 1e-5, "layer_norm no affine");
  mx_module_free(ln);
  MXT_CHECK(mx_nn_layer_norm(D, 0, true, true) == NULL && has_msg("eps"), "eps > 0");

  /* GroupNorm: x (B=2, H=3, W=2, C=12), 4 groups of 3 features */
  int C = 12, G = 4, B = 2, N = 6, gs_[4] = {2, 3, 2, 12};
  mx_array *gx = rnd(gs_, 4, -2, 2);
  double *gxd = F(gx);
  int cs = C;
  mx_array *gw = rnd(&cs, 1, 0.5, 1.5), *gb = rnd(&cs, 1, -1, 1);
  double *gwd = F(gw), *gbd = F(gb), *gy = alloc_d(B * N * C);
  for (int pt = 0; pt <= 1; pt++) {
    mx_module *gn = mx_nn_group_norm(G, C, 1e-5, true, pt);
    p = mx_module_parameters(gn);
    MXT_CHECK(strcmp(mx_array_map_name(p, 0), "bias") == 0, "MLX order: bias first");
    mx_array_map_free(p);
    mx_module_set_param(gn, "weight", gw);
    mx_module_set_param(gn, "bias", gb);
    for (int bb = 0; bb < B; bb++)
      for (int g = 0; g < G; g++) {
        /* feature c is in group g: pytorch: c / (C/G) == g; MLX: c % G == g */
        double mu = 0, var = 0;
        int cnt = 0;
        for (int n = 0; n < N; n++)
          for (int c = 0; c < C; c++)
            if ((pt ? c / (C / G) : c % G) == g) {
              mu += gxd[(bb * N + n) * C + c];
              cnt++;
            }
        mu /= cnt;
        for (int n = 0; n < N; n++)
          for (int c = 0; c < C; c++)
            if ((pt ? c / (C / G) : c % G) == g) {
              double d = gxd[(bb * N + n) * C + c] - mu;
              var += d * d;
            }
        var /= cnt;
        for (int n = 0; n < N; n++)
          for (int c = 0; c < C; c++)
            if ((pt ? c / (C / G) : c % G) == g) {
              int i = (bb * N + n) * C + c;
              gy[i] = (gxd[i] - mu) / sqrt(var + 1e-5) * gwd[c] + gbd[c];
            }
      }
    mxt_close(mx_module_forward(gn, gx), gy, B * N * C, 1e-4, 1e-5,
              pt ? "group_norm pytorch" : "group_norm mlx");
    mx_module_free(gn);
  }
  MXT_CHECK(mx_nn_group_norm(5, 12, 1e-5, true, false) == NULL && has_msg("divisible"),
            "groups divide dims");
  mx_module *gn = mx_nn_group_norm(4, 12, 1e-5, false, false);
  MXT_CHECK(mx_module_num_entries(gn) == 0, "not affine");
  MXT_CHECK(mx_module_forward(gn, x) == NULL && has_msg("GroupNorm"),
            "wrong feature dim");
  mx_module_free(gn);
  free_bufs();
}

static void rope_ref(const double *x, int rows, int L, int D, int dims, bool trad,
                     double base, double scale, int offset, double *y) {
  for (int r = 0; r < rows; r++)
    for (int l = 0; l < L; l++) {
      const double *xi = x + ((int64_t)r * L + l) * D;
      double *yi = y + ((int64_t)r * L + l) * D;
      for (int j = 0; j < D; j++) yi[j] = xi[j];
      for (int i = 0; i < dims / 2; i++) {
        double th = (offset + l) * scale * pow(base, -2.0 * i / dims);
        int a = trad ? 2 * i : i, b = trad ? 2 * i + 1 : i + dims / 2;
        yi[a] = xi[a] * cos(th) - xi[b] * sin(th);
        yi[b] = xi[a] * sin(th) + xi[b] * cos(th);
      }
    }
}

static void test_rope(void) {
  int xs[4] = {2, 2, 5, 12};
  mx_array *x = rnd(xs, 4, -1, 1);
  double *xd = F(x), *y = alloc_d(2 * 2 * 5 * 12);
  for (int trad = 0; trad <= 1; trad++) {
    mx_module *r = mx_nn_rope(8, trad, 10000, 1.0f);
    MXT_CHECK(mx_module_num_entries(r) == 0, "no parameters");
    rope_ref(xd, 4, 5, 12, 8, trad, 10000, 1.0, 0, y);
    mxt_close(mx_module_forward(r, x), y, 240, 1e-5, 1e-5, trad ? "rope trad" : "rope");
    rope_ref(xd, 4, 5, 12, 8, trad, 10000, 1.0, 7, y);
    mxt_close(mx_nn_rope_forward(r, x, 7), y, 240, 1e-4, 1e-5, "rope offset");
    mx_module_free(r);
  }
  mx_module *r = mx_nn_rope(12, false, 500, 0.5f);
  rope_ref(xd, 4, 5, 12, 12, false, 500, 0.5, 3, y);
  mxt_close(mx_nn_rope_forward(r, x, 3), y, 240, 1e-4, 1e-5, "rope base/scale");
  mx_module_free(r);
  MXT_CHECK(mx_nn_rope(7, false, 10000, 1) == NULL, "odd dims");
  mx_clear_error();
  free_bufs();
}

/* MultiHeadAttention in float64. */
static void mha_ref(mx_module *m, int H, const double *q, const double *k,
                    const double *v, int B, int Lq, int Lk, int Dq, int Dk, int Dv,
                    const double *mask, double *out, int Do) {
  double *wq = F(mx_module_get(m, "query_proj.weight")),
         *wk = F(mx_module_get(m, "key_proj.weight")),
         *wv = F(mx_module_get(m, "value_proj.weight")),
         *wo = F(mx_module_get(m, "out_proj.weight"));
  mx_array *bqa = mx_module_get(m, "query_proj.bias");
  double *bq = bqa ? F(bqa) : NULL,
         *bk = bqa ? F(mx_module_get(m, "key_proj.bias")) : NULL,
         *bv = bqa ? F(mx_module_get(m, "value_proj.bias")) : NULL,
         *bo = bqa ? F(mx_module_get(m, "out_proj.bias")) : NULL;
  int D = mx_array_dim(mx_module_get(m, "query_proj.weight"), 0);
  int Vd = mx_array_dim(mx_module_get(m, "value_proj.weight"), 0);
  double *Q = alloc_d(B * Lq * D), *K = alloc_d(B * Lk * D), *V = alloc_d(B * Lk * Vd),
         *O = alloc_d(B * Lq * Vd);
  linear_ref(q, wq, bq, B * Lq, Dq, D, Q);
  linear_ref(k, wk, bk, B * Lk, Dk, D, K);
  linear_ref(v, wv, bv, B * Lk, Dv, Vd, V);
  int dh = D / H, dv = Vd / H;
  double scale = sqrt(1.0 / dh), *s = alloc_d(Lk);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < Lq; i++) {
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < Lk; j++) {
          double a = 0;
          for (int d = 0; d < dh; d++)
            a += Q[(b * Lq + i) * D + h * dh + d] * K[(b * Lk + j) * D + h * dh + d];
          s[j] = a * scale + (mask ? mask[i * Lk + j] : 0);
          mx = fmax(mx, s[j]);
        }
        for (int j = 0; j < Lk; j++) z += (s[j] = exp(s[j] - mx));
        for (int d = 0; d < dv; d++) {
          double a = 0;
          for (int j = 0; j < Lk; j++) a += s[j] / z * V[(b * Lk + j) * Vd + h * dv + d];
          O[(b * Lq + i) * Vd + h * dv + d] = a;
        }
      }
  linear_ref(O, wo, bo, B * Lq, Vd, Do, out);
}

static void test_mha(void) {
  mx_random_seed(8);
  int B = 2, L = 5, D = 16, H = 4;
  mx_module *m = mx_nn_multi_head_attention(D, H, 0, 0, 0, 0, 0, false);
  MXT_OK(m);
  mx_array_map *p = mx_module_parameters(m);
  const char *want[] = {"query_proj.weight", "key_proj.weight", "value_proj.weight",
                        "out_proj.weight"};
  MXT_CHECK(mx_array_map_size(p) == 4, "4 weights, no bias");
  for (int i = 0; i < 4 && i < mx_array_map_size(p); i++)
    MXT_CHECK(strcmp(mx_array_map_name(p, i), want[i]) == 0, "name %s",
              mx_array_map_name(p, i));
  mx_array_map_free(p);
  int xs[3] = {B, L, D};
  mx_array *x = rnd(xs, 3, -1, 1);
  double *xd = F(x), *y = alloc_d(B * L * D);
  mha_ref(m, H, xd, xd, xd, B, L, L, D, D, D, NULL, y, D);
  mxt_close(mx_module_forward(m, x), y, B * L * D, 1e-4, 1e-5, "self attention");
  /* causal additive mask */
  mx_array *mask = mx_nn_create_additive_causal_mask(L, MX_FLOAT32);
  double *md = F(mask);
  bool mok = true;
  for (int i = 0; i < L; i++)
    for (int j = 0; j < L; j++)
      mok &= j <= i ? md[i * L + j] == 0 : md[i * L + j] == -FLT_MAX;
  MXT_CHECK(mok, "causal mask values");
  mha_ref(m, H, xd, xd, xd, B, L, L, D, D, D, md, y, D);
  mxt_close(mx_nn_multi_head_attention_forward(m, x, x, x, mask), y, B * L * D, 1e-4,
            1e-5, "masked attention");
  mx_module_free(m);
  /* different key/value dims, value_dims and output dims, with biases */
  int Lk = 7, Dk = 6, Dv = 10, Do = 12;
  m = mx_nn_multi_head_attention(D, H, 0, Dk, Dv, 8, Do, true);
  MXT_OK(m);
  int qs[3] = {B, L, D}, ks[3] = {B, Lk, Dk}, vs[3] = {B, Lk, Dv};
  mx_array *q = rnd(qs, 3, -1, 1), *k = rnd(ks, 3, -1, 1), *v = rnd(vs, 3, -1, 1);
  y = alloc_d(B * L * Do);
  mha_ref(m, H, F(q), F(k), F(v), B, L, Lk, D, Dk, Dv, NULL, y, Do);
  mxt_close(mx_nn_multi_head_attention_forward(m, q, k, v, NULL), y, B * L * Do, 1e-4,
            1e-5, "cross attention");
  mx_module_free(m);
  MXT_CHECK(mx_nn_multi_head_attention(10, 3, 0, 0, 0, 0, 0, false) == NULL &&
                has_msg("divisible"),
            "heads divide dims");
  free_bufs();
}

static void test_dropout(void) {
  mx_module *d = mx_nn_dropout(0.25f);
  int xs[2] = {200, 50};
  mx_array *x = rnd(xs, 2, 1, 2); /* nonzero */
  double *xd = F(x);
  mx_array *key = mx_random_key(11);
  mx_array *y = mx_nn_dropout_forward(d, x, key);
  double *yd = F(y);
  int zeros = 0;
  bool scaled = true;
  for (int i = 0; i < 10000; i++) {
    if (yd[i] == 0)
      zeros++;
    else
      scaled &= fabs(yd[i] - xd[i] / 0.75) <= 1e-6 * fabs(yd[i]);
  }
  /* binomial(10000, 0.25): sd ~ 43 */
  MXT_CHECK(abs(zeros - 2500) < 250, "dropped %d of 10000", zeros);
  MXT_CHECK(scaled, "kept values scaled by 1/(1-p)");
  mxt_close(mx_nn_dropout_forward(d, x, key), yd, 10000, 0, 0, "same key, same mask");
  mx_module_train(d, false);
  mxt_close(mx_module_forward(d, x), xd, 10000, 0, 0, "eval: identity");
  mx_module_free(d);
  d = mx_nn_dropout(0.0f);
  mxt_close(mx_module_forward(d, x), xd, 10000, 0, 0, "p = 0: identity");
  mx_module_free(d);
  MXT_CHECK(mx_nn_dropout(1.0f) == NULL && has_msg("[0, 1)"), "p = 1 rejected");
  free_bufs();
}

/* conv over one spatial dim pair (1-D when H == 1 with kh == 1). x (N, H, W, Ci),
 * w (Co, kh, kw, Ci/g). */
static void conv_ref(const double *x, const double *w, const double *b, int N, int H,
                     int W, int Ci, int Co, int kh, int kw, const int st[2],
                     const int pad[2], const int dil[2], int g, double *y, int *Ho,
                     int *Wo) {
  int oh = (H + 2 * pad[0] - dil[0] * (kh - 1) - 1) / st[0] + 1;
  int ow = (W + 2 * pad[1] - dil[1] * (kw - 1) - 1) / st[1] + 1;
  int cig = Ci / g, cog = Co / g;
  for (int n = 0; n < N; n++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++)
        for (int co = 0; co < Co; co++) {
          double s = b ? b[co] : 0;
          int gr = co / cog;
          for (int a = 0; a < kh; a++)
            for (int c = 0; c < kw; c++) {
              int hi = i * st[0] - pad[0] + a * dil[0],
                  wi = j * st[1] - pad[1] + c * dil[1];
              if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
              for (int ci = 0; ci < cig; ci++)
                s += x[((n * H + hi) * W + wi) * Ci + gr * cig + ci] *
                     w[((co * kh + a) * kw + c) * cig + ci];
            }
          y[((n * oh + i) * ow + j) * Co + co] = s;
        }
  *Ho = oh;
  *Wo = ow;
}

static void test_conv(void) {
  mx_random_seed(9);
  /* Conv1d: (N=2, L=9, Ci=4) -> Co=6, k=3, stride 2, pad 1, dilation 2, groups 2 */
  mx_module *c = mx_nn_conv1d(4, 6, 3, 2, 1, 2, 2, true);
  MXT_OK(c);
  mx_array *w = mx_module_get(c, "weight");
  MXT_CHECK(mx_array_ndim(w) == 3 && mx_array_dim(w, 0) == 6 && mx_array_dim(w, 1) == 3 &&
                mx_array_dim(w, 2) == 2,
            "weight (Co, K, Ci/g)");
  double lim = sqrt(1.0 / (4 * 3)), *wd = F(w);
  bool inr = true;
  for (int i = 0; i < 36; i++) inr &= fabs(wd[i]) <= lim;
  MXT_CHECK(inr, "init bound 1/sqrt(Ci*K)");
  int bs = 6;
  mx_module_set_param(c, "bias", rnd(&bs, 1, -1, 1));
  int xs[3] = {2, 9, 4};
  mx_array *x = rnd(xs, 3, -1, 1);
  double y[2 * 9 * 6];
  int st[2] = {1, 2}, pad[2] = {0, 1}, dil[2] = {1, 2}, Ho, Wo;
  conv_ref(F(x), wd, F(mx_module_get(c, "bias")), 2, 1, 9, 4, 6, 1, 3, st, pad, dil, 2, y,
           &Ho, &Wo);
  mx_array *out = mx_module_forward(c, x);
  MXT_CHECK(out && mx_array_dim(out, 1) == Wo, "out length %d", Wo);
  mxt_close(out, y, 2 * Wo * 6, 1e-5, 1e-5, "conv1d");
  mx_module_free(c);
  /* Conv2d: (2, 6, 5, 3) -> 4, kernel (3, 2), stride (1, 2), pad (1, 0) */
  int k2[2] = {3, 2}, s2[2] = {1, 2}, p2[2] = {1, 0}, d2[2] = {1, 1};
  c = mx_nn_conv2d(3, 4, k2, s2, p2, NULL, 1, true);
  MXT_OK(c);
  int b2 = 4;
  mx_module_set_param(c, "bias", rnd(&b2, 1, -1, 1));
  int x2s[4] = {2, 6, 5, 3};
  mx_array *x2 = rnd(x2s, 4, -1, 1);
  double *y2 = alloc_d(2 * 6 * 5 * 4);
  conv_ref(F(x2), F(mx_module_get(c, "weight")), F(mx_module_get(c, "bias")), 2, 6, 5, 3,
           4, 3, 2, s2, p2, d2, 1, y2, &Ho, &Wo);
  out = mx_module_forward(c, x2);
  MXT_CHECK(out && mx_array_dim(out, 1) == Ho && mx_array_dim(out, 2) == Wo, "out shape");
  mxt_close(out, y2, 2 * Ho * Wo * 4, 1e-5, 1e-5, "conv2d");
  mx_module_free(c);
  MXT_CHECK(mx_nn_conv1d(3, 4, 3, 1, 0, 1, 2, true) == NULL && has_msg("divisible"),
            "groups");
  free_bufs();
}

static mx_array *times_two(mx_array *x, void *ctx) {
  (void)ctx;
  return mx_multiply(x, mx_scalar_like(x, 2.0));
}

static void test_sequential(void) {
  mx_random_seed(10);
  mx_module *m = make_mlp();
  MXT_OK(m);
  MXT_CHECK(mx_nn_sequential_append(m, mx_nn_lambda(times_two, NULL)) == MX_OK, "append");
  int xs[2] = {3, 4};
  mx_array *x = rnd(xs, 2, -1, 1);
  double h[3 * 8], y[3 * 3];
  linear_ref(F(x), F(mx_module_get(m, "layers.0.weight")),
             F(mx_module_get(m, "layers.0.bias")), 3, 4, 8, h);
  for (int i = 0; i < 24; i++) h[i] = h[i] > 0 ? h[i] : 0;
  linear_ref(h, F(mx_module_get(m, "layers.2.weight")), NULL, 3, 8, 3, y);
  for (int i = 0; i < 9; i++) y[i] *= 2;
  mxt_close(mx_module_forward(m, x), y, 9, 1e-5, 1e-6, "mlp");
  mx_module *e = mx_nn_sequential(NULL, 0);
  mxt_close(mx_module_forward(e, x), F(x), 12, 0, 0, "empty sequential");
  MXT_CHECK(mx_nn_sequential_append(e, NULL) != MX_OK, "NULL layer");
  mx_clear_error();
  mx_module_free(e);
  /* an error inside a layer surfaces */
  int bad[2] = {3, 5};
  MXT_CHECK(mx_module_forward(m, rnd(bad, 2, 0, 1)) == NULL, "shape error propagates");
  mx_clear_error();
  mx_module_free(m);
  free_bufs();
}

/* ---- activations ---- */

typedef double (*fn1)(double);
static double r_relu(double x) { return x > 0 ? x : 0; }
static double r_relu2(double x) { return x > 0 ? x * x : 0; }
static double r_relu6(double x) { return fmin(fmax(x, 0), 6); }
static double r_leaky(double x) { return fmax(0.1 * x, x); }
static double r_elu(double x) { return x > 0 ? x : 0.7 * (exp(x) - 1); }
static double r_celu(double x) { return fmax(x, 0) + 0.7 * (exp(fmin(x, 0) / 0.7) - 1); }
static double r_selu(double x) { return 1.0507 * (x > 0 ? x : 1.67326 * (exp(x) - 1)); }
static double r_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double r_silu(double x) { return x * r_sigmoid(x); }
static double r_gelu(double x) { return x * 0.5 * (1 + erf(x / sqrt(2.0))); }
static double r_gelu_approx(double x) {
  return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double r_gelu_fast(double x) { return x * r_sigmoid(1.702 * x); }
static double r_softplus(double x) { return log1p(exp(x)); }
static double r_softsign(double x) { return x / (1 + fabs(x)); }
static double r_mish(double x) { return x * tanh(r_softplus(x)); }
static double r_logsig(double x) { return -r_softplus(-x); }
static double r_hardswish(double x) { return x * fmin(fmax(x + 3, 0), 6) / 6; }
static double r_hardtanh(double x) { return fmin(fmax(x, -0.5), 2); }
static double r_softshrink(double x) { return fabs(x) > 0.5 ? x - copysign(0.5, x) : 0; }
static double r_hardshrink(double x) { return fabs(x) > 0.5 ? x : 0; }
static double r_step(double x) { return x >= 0.25 ? 1 : 0; }

static void check_act(const char *name, mx_array *(*f)(mx_array *), fn1 ref, mx_array *x,
                      const double *xd, int n, double tol) {
  double *y = alloc_d(n);
  for (int i = 0; i < n; i++) y[i] = ref(xd[i]);
  mx_array *out = f(x);
  MXT_CHECK(out && mx_array_dtype(out) == mx_array_dtype(x), "%s keeps dtype", name);
  mxt_close(out, y, n, tol, tol, name);
}

#define WRAP1(nm, call) \
  static mx_array *nm(mx_array *x) { return call; }
WRAP1(w_leaky, mx_nn_leaky_relu(x, 0.1))
WRAP1(w_elu, mx_nn_elu(x, 0.7))
WRAP1(w_celu, mx_nn_celu(x, 0.7))
WRAP1(w_hardtanh, mx_nn_hard_tanh(x, -0.5, 2))
WRAP1(w_softshrink, mx_nn_softshrink(x, 0.5))
WRAP1(w_hardshrink, mx_nn_hard_shrink(x, 0.5))

static void test_activations(void) {
  int n = 1000;
  mx_array *x = rnd(&n, 1, -8, 8);
  double *xd = F(x);
  struct {
    const char *name;
    mx_array *(*f)(mx_array *);
    fn1 ref;
  } cases[] = {
      {"relu", mx_nn_relu, r_relu},
      {"relu2", mx_nn_relu2, r_relu2},
      {"relu6", mx_nn_relu6, r_relu6},
      {"leaky_relu", w_leaky, r_leaky},
      {"elu", w_elu, r_elu},
      {"celu", w_celu, r_celu},
      {"selu", mx_nn_selu, r_selu},
      {"sigmoid", mx_nn_sigmoid, r_sigmoid},
      {"tanh", mx_nn_tanh, tanh},
      {"silu", mx_nn_silu, r_silu},
      {"gelu", mx_nn_gelu, r_gelu},
      {"gelu_approx", mx_nn_gelu_approx, r_gelu_approx},
      {"gelu_fast", mx_nn_gelu_fast_approx, r_gelu_fast},
      {"softplus", mx_nn_softplus, r_softplus},
      {"softsign", mx_nn_softsign, r_softsign},
      {"mish", mx_nn_mish, r_mish},
      {"log_sigmoid", mx_nn_log_sigmoid, r_logsig},
      {"hardswish", mx_nn_hardswish, r_hardswish},
      {"hard_tanh", w_hardtanh, r_hardtanh},
      {"softshrink", w_softshrink, r_softshrink},
      {"hard_shrink", w_hardshrink, r_hardshrink},
  };
  int nc = (int)(sizeof cases / sizeof cases[0]);
  for (int i = 0; i < nc; i++)
    check_act(cases[i].name, cases[i].f, cases[i].ref, x, xd, n, 2e-6);
  /* bfloat16 inputs stay bfloat16, within its precision */
  mx_array *xb = mx_astype(x, MX_BFLOAT16);
  double *xbd = F(xb);
  for (int i = 0; i < nc; i++)
    check_act(cases[i].name, cases[i].f, cases[i].ref, xb, xbd, n, 3e-2);
  /* step: int32 0/1 */
  mx_array *s = mx_nn_step(x, 0.25);
  MXT_CHECK(s && mx_array_dtype(s) == MX_INT32, "step is int32");
  double *sy = alloc_d(n);
  for (int i = 0; i < n; i++) sy[i] = r_step(xd[i]);
  mxt_close(s, sy, n, 0, 0, "step");
  /* prelu with a per-channel alpha (broadcast) */
  int ps[2] = {250, 4}, as = 4;
  mx_array *px = mx_reshape(x, ps, 2), *alpha = rnd(&as, 1, 0, 0.5);
  double *ad = F(alpha), *py = alloc_d(n);
  for (int i = 0; i < n; i++) py[i] = fmax(0, xd[i]) + ad[i % 4] * fmin(0, xd[i]);
  mxt_close(mx_nn_prelu(px, alpha), py, n, 1e-6, 1e-6, "prelu");
  /* softmax family along an axis, incl. large logits */
  int ss[2] = {4, 5};
  mx_array *z = rnd(ss, 2, -3, 3);
  z = mx_add(z,
             mx_array_scalar_f64(200, MX_FLOAT32)); /* large offset: must stay finite */
  double *zd = F(z), sm[20], lsm[20], smin[20];
  for (int r = 0; r < 4; r++) {
    double mx = -INFINITY, sum = 0, mn = INFINITY, sum2 = 0;
    for (int c = 0; c < 5; c++)
      mx = fmax(mx, zd[r * 5 + c]), mn = fmin(mn, zd[r * 5 + c]);
    for (int c = 0; c < 5; c++)
      sum += exp(zd[r * 5 + c] - mx), sum2 += exp(mn - zd[r * 5 + c]);
    for (int c = 0; c < 5; c++) {
      sm[r * 5 + c] = exp(zd[r * 5 + c] - mx) / sum;
      lsm[r * 5 + c] = zd[r * 5 + c] - mx - log(sum);
      smin[r * 5 + c] = exp(mn - zd[r * 5 + c]) / sum2;
    }
  }
  mxt_close(mx_nn_softmax(z, -1), sm, 20, 1e-5, 1e-7, "softmax");
  mxt_close(mx_nn_log_softmax(z, 1), lsm, 20, 1e-5, 1e-5, "log_softmax");
  mxt_close(mx_nn_softmin(z, -1), smin, 20, 1e-5, 1e-7, "softmin");
  /* log_softmax over axis 0 = transpose of axis -1 on the transpose */
  mx_array *zt = mx_transpose(z, NULL, 0);
  double lt[20];
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 5; c++) lt[c * 4 + r] = lsm[r * 5 + c];
  mxt_close(mx_nn_log_softmax(zt, 0), lt, 20, 1e-5, 1e-5, "log_softmax axis 0");
  /* glu and swiglu */
  int gs[2] = {3, 8};
  mx_array *gx = rnd(gs, 2, -3, 3);
  double *gd = F(gx), gy[12], sy2[24];
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++)
      gy[r * 4 + c] = gd[r * 8 + c] * r_sigmoid(gd[r * 8 + 4 + c]);
  mxt_close(mx_nn_glu(gx, -1), gy, 12, 1e-6, 1e-6, "glu");
  mx_array *up = rnd(gs, 2, -1, 1);
  double *ud = F(up);
  for (int i = 0; i < 24; i++) sy2[i] = r_silu(gd[i]) * ud[i];
  mxt_close(mx_nn_swiglu(gx, up), sy2, 24, 1e-6, 1e-6, "swiglu");
  /* module form and dispatch */
  mx_module *am = mx_nn_activation(MX_ACT_GELU_APPROX, 0);
  double *ga = alloc_d(n);
  for (int i = 0; i < n; i++) ga[i] = r_gelu_approx(xd[i]);
  mxt_close(mx_module_forward(am, x), ga, n, 2e-6, 2e-6, "GELU module");
  mx_module_free(am);
  am = mx_nn_activation(MX_ACT_LEAKY_RELU, 0.1);
  for (int i = 0; i < n; i++) ga[i] = r_leaky(xd[i]);
  mxt_close(mx_module_forward(am, x), ga, n, 1e-6, 1e-7, "LeakyReLU module");
  mx_module_free(am);
  MXT_CHECK(mx_nn_activation((mx_activation)99, 0) == NULL, "unknown activation");
  mx_clear_error();
  /* NaN propagates through relu (max with NaN) and sigmoid */
  float nanv = NAN;
  mx_array *nx = mx_array_from_f32(&nanv, NULL, 0);
  MXT_CHECK(isnan(mx_array_item_f64(mx_nn_sigmoid(nx))), "sigmoid(nan)");
  /* 0-d and empty inputs */
  int zero = 0;
  mx_array *empty = mx_zeros(&zero, 1, MX_FLOAT32);
  mx_array *ge = mx_nn_gelu(empty);
  MXT_CHECK(ge && mx_array_size(ge) == 0 && mx_eval1(ge) == MX_OK, "empty");
  MXT_CHECK(mx_nn_relu(NULL) == NULL, "NULL in, NULL out");
  free_bufs();
}

/* ---- losses ---- */

static double reduce_ref(const double *l, int n, mx_reduction r) {
  double s = 0;
  for (int i = 0; i < n; i++) s += l[i];
  return r == MX_REDUCTION_MEAN ? s / n : s;
}

/* Checks a loss for each reduction against per-element reference l (n). */
static void check_reductions(const char *name, mx_array *(*f)(mx_reduction, void *),
                             void *ctx, const double *l, int n, double tol) {
  char what[128];
  for (int r = 0; r < 3; r++) {
    mx_array *out = f((mx_reduction)r, ctx);
    snprintf(what, sizeof what, "%s reduction %d", name, r);
    if (r == MX_REDUCTION_NONE) {
      mxt_close(out, l, n, tol, tol, what);
    } else {
      double v = reduce_ref(l, n, (mx_reduction)r);
      MXT_CHECK(out && mx_array_ndim(out) == 0, "%s scalar", what);
      mxt_close(out, &v, 1, tol, tol, what);
    }
  }
}

typedef struct {
  mx_array *a, *b, *c, *w;
  int axis;
  double ls;
  bool flag;
} loss_args;

static mx_array *f_ce(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_cross_entropy(a->a, a->b, a->w, a->axis, a->ls, r);
}
static mx_array *f_bce(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_binary_cross_entropy(a->a, a->b, a->w, a->flag, r);
}
static mx_array *f_mse(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_mse_loss(a->a, a->b, r);
}
static mx_array *f_l1(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_l1_loss(a->a, a->b, r);
}
static mx_array *f_sl1(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_smooth_l1_loss(a->a, a->b, a->ls, r);
}
static mx_array *f_nll(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_nll_loss(a->a, a->b, a->axis, r);
}
static mx_array *f_kl(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_kl_div_loss(a->a, a->b, a->axis, r);
}
static mx_array *f_gnll(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_gaussian_nll_loss(a->a, a->b, a->c, a->flag, 1e-6, r);
}
static mx_array *f_hinge(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_hinge_loss(a->a, a->b, r);
}
static mx_array *f_huber(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_huber_loss(a->a, a->b, a->ls, r);
}
static mx_array *f_logcosh(mx_reduction r, void *p) {
  loss_args *a = p;
  return mx_nn_log_cosh_loss(a->a, a->b, r);
}

static void test_cross_entropy(void) {
  int N = 6, C = 5, ls_[2] = {6, 5};
  mx_array *logits = rnd(ls_, 2, -4, 4);
  double *ld = F(logits);
  int32_t t[6] = {0, 4, 2, 2, 1, 3};
  mx_array *tg = mx_array_from_i32(t, &N, 1);
  double l[6];
  for (double ls = 0; ls <= 0.31; ls += 0.3) {
    for (int i = 0; i < N; i++) {
      double mx = -INFINITY, z = 0, mean = 0;
      for (int c = 0; c < C; c++) mx = fmax(mx, ld[i * C + c]);
      for (int c = 0; c < C; c++) z += exp(ld[i * C + c] - mx), mean += ld[i * C + c];
      double lse = mx + log(z);
      mean /= C;
      /* smoothed target: (1 - ls) one-hot + ls / C uniform */
      l[i] = lse - (1 - ls) * ld[i * C + t[i]] - ls * mean;
    }
    loss_args a = {logits, tg, NULL, NULL, -1, ls, false};
    check_reductions(ls > 0 ? "cross_entropy smoothed" : "cross_entropy", f_ce, &a, l, N,
                     1e-5);
  }
  /* ignored targets through weights: mask out t == 2 and average over the rest */
  float wv[6];
  double lw[6];
  int kept = 0;
  for (int i = 0; i < N; i++) {
    wv[i] = t[i] == 2 ? 0.0f : 1.0f;
    kept += wv[i] != 0;
  }
  mx_array *w = mx_array_from_f32(wv, &N, 1);
  loss_args a0 = {logits, tg, NULL, NULL, -1, 0, false};
  mx_array *base = f_ce(MX_REDUCTION_NONE, &a0);
  double *bd = F(base), masked = 0;
  for (int i = 0; i < N; i++) lw[i] = bd[i] * wv[i], masked += lw[i];
  loss_args aw = {logits, tg, NULL, w, -1, 0, false};
  check_reductions("cross_entropy weighted", f_ce, &aw, lw, N, 1e-6);
  mx_array *sum = mx_nn_cross_entropy(logits, tg, w, -1, 0, MX_REDUCTION_SUM);
  double per_tok = masked / kept;
  mxt_close(mx_divide(sum, mx_array_scalar_f64(kept, MX_FLOAT32)), &per_tok, 1, 1e-6,
            1e-6, "mean over kept tokens");
  /* probabilities: one-hot gives the same loss; soft targets */
  float *pr = calloc(30, sizeof *pr);
  for (int i = 0; i < N; i++) pr[i * C + t[i]] = 1;
  mx_array *probs = mx_array_from_f32(pr, ls_, 2);
  loss_args ap = {logits, probs, NULL, NULL, -1, 0, false};
  check_reductions("cross_entropy one-hot", f_ce, &ap, bd, N, 1e-5);
  mx_array *soft = mx_softmax(rnd(ls_, 2, -1, 1), NULL, 0, false);
  int ax = -1;
  soft = mx_softmax(rnd(ls_, 2, -1, 1), &ax, 1, false);
  double *sd = F(soft), ls2[6];
  for (int i = 0; i < N; i++) {
    double mx = -INFINITY, z = 0, dot = 0;
    for (int c = 0; c < C; c++) mx = fmax(mx, ld[i * C + c]);
    for (int c = 0; c < C; c++) z += exp(ld[i * C + c] - mx);
    for (int c = 0; c < C; c++) dot += sd[i * C + c] * (ld[i * C + c] - mx);
    ls2[i] = log(z) - dot; /* sum(p) == 1 */
  }
  loss_args as = {logits, soft, NULL, NULL, -1, 0, false};
  check_reductions("cross_entropy soft", f_ce, &as, ls2, N, 1e-5);
  free(pr);
  /* class axis in the middle: logits (2, 5, 3), targets (2, 3) */
  int l3s[3] = {2, 5, 3}, t3s[2] = {2, 3};
  mx_array *l3 = rnd(l3s, 3, -2, 2);
  int32_t t3[6] = {4, 0, 1, 2, 3, 4};
  mx_array *tg3 = mx_array_from_i32(t3, t3s, 2);
  double *l3d = F(l3), r3[6];
  for (int b = 0; b < 2; b++)
    for (int j = 0; j < 3; j++) {
      double mx = -INFINITY, z = 0;
      for (int c = 0; c < 5; c++) mx = fmax(mx, l3d[(b * 5 + c) * 3 + j]);
      for (int c = 0; c < 5; c++) z += exp(l3d[(b * 5 + c) * 3 + j] - mx);
      r3[b * 3 + j] = mx + log(z) - l3d[(b * 5 + t3[b * 3 + j]) * 3 + j];
    }
  loss_args a3 = {l3, tg3, NULL, NULL, 1, 0, false};
  check_reductions("cross_entropy axis 1", f_ce, &a3, r3, 6, 1e-5);
  /* a transposed (non-contiguous) logits view, class axis 0 */
  mx_array *lt = mx_transpose(logits, NULL, 0); /* (C, N) */
  loss_args at = {lt, tg, NULL, NULL, 0, 0, false};
  check_reductions("cross_entropy transposed", f_ce, &at, bd, N, 1e-5);
  /* huge logits stay finite */
  float big[2] = {1e30f, -1e30f};
  int two = 2;
  int32_t zero = 0;
  mx_array *lb = mx_reshape(mx_array_from_f32(big, &two, 1), (int[]){1, 2}, 2);
  mx_array *ce = mx_nn_cross_entropy(lb, mx_array_from_i32(&zero, (int[]){1}, 1), NULL,
                                     -1, 0, MX_REDUCTION_MEAN);
  MXT_CHECK(ce && mx_array_item_f64(ce) == 0, "large logits: loss 0");
  /* errors */
  int bad = 5;
  MXT_CHECK(mx_nn_cross_entropy(logits, mx_zeros(&bad, 1, MX_INT32), NULL, -1, 0,
                                MX_REDUCTION_NONE) == NULL &&
                has_msg("Targets shape"),
            "target shape");
  MXT_CHECK(mx_nn_cross_entropy(logits, tg, NULL, -1, 1.0, MX_REDUCTION_NONE) == NULL &&
                has_msg("Label smoothing"),
            "smoothing range");
  MXT_CHECK(mx_nn_cross_entropy(logits, tg, mx_ones(&bad, 1, MX_FLOAT32), -1, 0,
                                MX_REDUCTION_NONE) == NULL &&
                has_msg("Weights"),
            "weights shape");
  MXT_CHECK(mx_nn_cross_entropy(logits, tg, NULL, -1, 0, (mx_reduction)7) == NULL &&
                has_msg("Invalid reduction"),
            "reduction");
  mx_reduction red;
  MXT_CHECK(mx_reduction_from_name("sum", &red) && red == MX_REDUCTION_SUM &&
                !mx_reduction_from_name("avg", &red),
            "reduction names");
  free_bufs();
}

static void test_losses(void) {
  int n = 40, sh[2] = {8, 5};
  mx_array *p = rnd(sh, 2, -3, 3), *t = rnd(sh, 2, -3, 3);
  double *pd = F(p), *td = F(t), l[40];
  loss_args a = {p, t, NULL, NULL, -1, 0, false};
  for (int i = 0; i < n; i++) l[i] = (pd[i] - td[i]) * (pd[i] - td[i]);
  check_reductions("mse", f_mse, &a, l, n, 1e-5);
  for (int i = 0; i < n; i++) l[i] = fabs(pd[i] - td[i]);
  check_reductions("l1", f_l1, &a, l, n, 1e-5);
  /* smooth_l1 with beta 0.5: both branches occur */
  a.ls = 0.5;
  int quad = 0;
  for (int i = 0; i < n; i++) {
    double d = fabs(pd[i] - td[i]);
    l[i] = d < 0.5 ? 0.5 * d * d / 0.5 : d - 0.25;
    quad += d < 0.5;
  }
  MXT_CHECK(quad > 0 && quad < n, "both branches");
  check_reductions("smooth_l1", f_sl1, &a, l, n, 1e-5);
  /* huber, delta 1.5 */
  a.ls = 1.5;
  for (int i = 0; i < n; i++) {
    double d = fabs(pd[i] - td[i]);
    l[i] = d <= 1.5 ? 0.5 * d * d : 1.5 * (d - 0.75);
  }
  check_reductions("huber", f_huber, &a, l, n, 1e-5);
  for (int i = 0; i < n; i++) l[i] = log(cosh(pd[i] - td[i]));
  check_reductions("log_cosh", f_logcosh, &a, l, n, 1e-5);
  /* hinge with targets in {-1, 1} */
  float sg[40];
  for (int i = 0; i < n; i++) sg[i] = (i % 3) ? 1.0f : -1.0f;
  mx_array *sgn = mx_array_from_f32(sg, sh, 2);
  loss_args ah = {p, sgn, NULL, NULL, -1, 0, false};
  for (int i = 0; i < n; i++) l[i] = fmax(0, 1 - pd[i] * sg[i]);
  check_reductions("hinge", f_hinge, &ah, l, n, 1e-6);
  /* binary cross entropy: logits with integer targets, probabilities */
  int32_t bt[40];
  for (int i = 0; i < n; i++) bt[i] = (int32_t)(mxt_next() & 1);
  mx_array *bti = mx_array_from_i32(bt, sh, 2);
  loss_args ab = {p, bti, NULL, NULL, -1, 0, true};
  for (int i = 0; i < n; i++) l[i] = log1p(exp(pd[i])) - pd[i] * bt[i];
  check_reductions("bce logits", f_bce, &ab, l, n, 1e-5);
  mx_array *pr = mx_sigmoid(p);
  double *prd = F(pr);
  loss_args abp = {pr, bti, NULL, NULL, -1, 0, false};
  for (int i = 0; i < n; i++)
    l[i] = -(bt[i] * log(prd[i]) + (1 - bt[i]) * log(1 - prd[i]));
  check_reductions("bce probs", f_bce, &abp, l, n, 1e-4);
  /* probabilities of exactly 0 and 1: logs clip at -100 */
  float pe[2] = {0.0f, 1.0f}, te[2] = {1.0f, 1.0f};
  int two = 2;
  mx_array *bce = mx_nn_binary_cross_entropy(mx_array_from_f32(pe, &two, 1),
                                             mx_array_from_f32(te, &two, 1), NULL, false,
                                             MX_REDUCTION_NONE);
  double want[2] = {100, 0};
  mxt_close(bce, want, 2, 1e-6, 1e-6, "bce clip at -100");
  /* weighted bce */
  mx_array *w = rnd(sh, 2, 0, 1);
  double *wd = F(w);
  loss_args abw = {p, bti, NULL, w, -1, 0, true};
  for (int i = 0; i < n; i++) l[i] = (log1p(exp(pd[i])) - pd[i] * bt[i]) * wd[i];
  check_reductions("bce weighted", f_bce, &abw, l, n, 1e-5);
  /* nll and kl_div on log-probabilities */
  int ax = -1;
  mx_array *lp = mx_nn_log_softmax(p, -1), *lq = mx_nn_log_softmax(t, -1);
  double *lpd = F(lp), *lqd = F(lq), r8[8];
  int32_t cls[8] = {0, 1, 2, 3, 4, 0, 1, 2};
  int eight = 8;
  mx_array *ct = mx_array_from_i32(cls, &eight, 1);
  loss_args an = {lp, ct, NULL, NULL, ax, 0, false};
  for (int i = 0; i < 8; i++) r8[i] = -lpd[i * 5 + cls[i]];
  check_reductions("nll", f_nll, &an, r8, 8, 1e-6);
  loss_args ak = {lp, lq, NULL, NULL, ax, 0, false};
  for (int i = 0; i < 8; i++) {
    r8[i] = 0;
    for (int c = 0; c < 5; c++)
      r8[i] += exp(lqd[i * 5 + c]) * (lqd[i * 5 + c] - lpd[i * 5 + c]);
  }
  check_reductions("kl_div", f_kl, &ak, r8, 8, 1e-5);
  /* kl over axis 0 */
  double r5[5];
  for (int c = 0; c < 5; c++) {
    r5[c] = 0;
    for (int i = 0; i < 8; i++)
      r5[c] += exp(lqd[i * 5 + c]) * (lqd[i * 5 + c] - lpd[i * 5 + c]);
  }
  mxt_close(mx_nn_kl_div_loss(lp, lq, 0, MX_REDUCTION_NONE), r5, 5, 1e-5, 1e-5,
            "kl axis 0");
  /* gaussian nll, with a variance under eps */
  mx_array *var = rnd(sh, 2, 0.1, 2);
  float tiny = 0;
  var = mx_slice_update(var, mx_array_from_f32(&tiny, NULL, 0), (int[]){0, 0},
                        (int[]){1, 1}, NULL);
  double *vd = F(var);
  for (int full = 0; full <= 1; full++) {
    loss_args ag = {p, t, var, NULL, -1, 0, full};
    for (int i = 0; i < n; i++) {
      double v = fmax(vd[i], 1e-6);
      l[i] = 0.5 * (log(v) + (td[i] - pd[i]) * (td[i] - pd[i]) / v) +
             (full ? 0.5 * log(2 * M_PI) : 0);
    }
    check_reductions("gaussian_nll", f_gnll, &ag, l, n, 1e-4);
  }
  /* non-contiguous operands give the same losses */
  mx_array *pn = mxt_noncontig(p), *tn = mxt_noncontig(t);
  loss_args anc = {pn, tn, NULL, NULL, -1, 0, false};
  for (int i = 0; i < n; i++) l[i] = (pd[i] - td[i]) * (pd[i] - td[i]);
  check_reductions("mse noncontig", f_mse, &anc, l, n, 1e-5);
  mx_array *lpn = mxt_noncontig(lp);
  for (int i = 0; i < 8; i++) r8[i] = -lpd[i * 5 + cls[i]];
  mxt_close(mx_nn_nll_loss(lpn, ct, -1, MX_REDUCTION_NONE), r8, 8, 1e-6, 1e-6,
            "nll noncontig");
  /* float16 inputs keep float16 */
  mx_array *ph = mx_astype(p, MX_FLOAT16), *th = mx_astype(t, MX_FLOAT16);
  mx_array *lh = mx_nn_l1_loss(ph, th, MX_REDUCTION_NONE);
  MXT_CHECK(lh && mx_array_dtype(lh) == MX_FLOAT16, "l1 float16");
  for (int i = 0; i < n; i++) l[i] = fabs(pd[i] - td[i]);
  mxt_close(lh, l, n, 2e-3, 2e-3, "l1 float16");
  /* shape errors */
  int s3 = 3;
  MXT_CHECK(mx_nn_mse_loss(p, mx_zeros(&s3, 1, MX_FLOAT32), MX_REDUCTION_MEAN) == NULL &&
                has_msg("does not match"),
            "mse shapes");
  MXT_CHECK(mx_nn_binary_cross_entropy(p, mx_zeros(&s3, 1, MX_FLOAT32), NULL, true,
                                       MX_REDUCTION_MEAN) == NULL &&
                has_msg("does not match"),
            "bce shapes");
  free_bufs();
}

/* ---- initialisers ---- */

static void moments(mx_array *a, double *mean, double *var, double *lo, double *hi) {
  int64_t n = mx_array_size(a);
  double *d = F(a), s = 0, s2 = 0;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    s += d[i];
    *lo = fmin(*lo, d[i]);
    *hi = fmax(*hi, d[i]);
  }
  *mean = s / n;
  for (int64_t i = 0; i < n; i++) s2 += (d[i] - *mean) * (d[i] - *mean);
  *var = s2 / n;
}

static void test_init(void) {
  double mean, var, lo, hi;
  int sh[2] = {300, 400}; /* n = 120000: mean within ~4 standard errors */
  double n = 120000;
  mx_array *key = mx_random_key(42);
  mx_array *c = mx_nn_init_constant(sh, 2, 0.5, MX_FLOAT32);
  moments(c, &mean, &var, &lo, &hi);
  MXT_CHECK(lo == 0.5 && hi == 0.5, "constant");
  mx_array *nrm = mx_nn_init_normal(sh, 2, 1.5, 2.0, MX_FLOAT32, key);
  moments(nrm, &mean, &var, &lo, &hi);
  MXT_CHECK(fabs(mean - 1.5) < 4 * 2 / sqrt(n), "normal mean %g", mean);
  MXT_CHECK(fabs(sqrt(var) - 2) < 0.02, "normal std %g", sqrt(var));
  mxt_close(mx_nn_init_normal(sh, 2, 1.5, 2.0, MX_FLOAT32, key), F(nrm), (int64_t)n, 0, 0,
            "same key, same values");
  mx_array *u = mx_nn_init_uniform(sh, 2, -2, 3, MX_FLOAT32, key);
  moments(u, &mean, &var, &lo, &hi);
  MXT_CHECK(lo >= -2 && hi < 3 && lo < -1.99 && hi > 2.99, "uniform range %g %g", lo, hi);
  MXT_CHECK(fabs(mean - 0.5) < 4 * 5 / sqrt(12 * n), "uniform mean %g", mean);
  MXT_CHECK(fabs(var - 25.0 / 12) < 0.03, "uniform var %g", var);
  mx_array *b16 = mx_nn_init_uniform(sh, 2, 0, 1, MX_BFLOAT16, key);
  MXT_CHECK(b16 && mx_array_dtype(b16) == MX_BFLOAT16, "dtype");
  int sq[2] = {5, 5};
  double eye[25];
  for (int i = 0; i < 25; i++) eye[i] = i % 6 == 0;
  mxt_close(mx_nn_init_identity(sq, 2, MX_FLOAT32), eye, 25, 0, 0, "identity");
  MXT_CHECK(mx_nn_init_identity(sh, 2, MX_FLOAT32) == NULL && has_msg("square"),
            "identity needs square");
  /* fans with a receptive field: (Co=64, 3, 3, Ci=32) */
  int cs[4] = {64, 3, 3, 32};
  int64_t fi, fo;
  MXT_CHECK(mx_nn_init_fans(cs, 4, &fi, &fo) && fi == 32 * 9 && fo == 64 * 9, "fans");
  int64_t cn = 64 * 9 * 32;
  mx_array *g = mx_nn_init_glorot_normal(cs, 4, 1.0, MX_FLOAT32, key);
  moments(g, &mean, &var, &lo, &hi);
  double sd = sqrt(2.0 / (fi + fo));
  MXT_CHECK(fabs(sqrt(var) / sd - 1) < 0.03, "glorot normal std %g want %g", sqrt(var),
            sd);
  g = mx_nn_init_glorot_uniform(cs, 4, 2.0, MX_FLOAT32, key);
  moments(g, &mean, &var, &lo, &hi);
  double lim = 2.0 * sqrt(6.0 / (fi + fo));
  MXT_CHECK(lo >= -lim && hi <= lim && hi > 0.99 * lim, "glorot uniform bounds");
  MXT_CHECK(fabs(var / (lim * lim / 3) - 1) < 0.05, "glorot uniform var");
  g = mx_nn_init_he_normal(cs, 4, MX_FAN_OUT, 1.0, MX_FLOAT32, key);
  moments(g, &mean, &var, &lo, &hi);
  MXT_CHECK(fabs(sqrt(var) * sqrt((double)fo) - 1) < 0.03, "he normal fan_out std");
  g = mx_nn_init_he_normal(cs, 4, MX_FAN_IN, 0.5, MX_FLOAT32, key);
  moments(g, &mean, &var, &lo, &hi);
  MXT_CHECK(fabs(sqrt(var) * sqrt((double)fi) / 0.5 - 1) < 0.03, "he normal fan_in std");
  g = mx_nn_init_he_uniform(cs, 4, MX_FAN_IN, 1.0, MX_FLOAT32, key);
  moments(g, &mean, &var, &lo, &hi);
  lim = sqrt(3.0 / fi);
  MXT_CHECK(lo >= -lim && hi <= lim && hi > 0.98 * lim, "he uniform bounds");
  MXT_CHECK(
      fabs(var / (lim * lim / 3) - 1) < 0.05 && fabs(mean) < 4 * lim / sqrt(3.0 * cn),
      "he uniform moments");
  int one = 10;
  MXT_CHECK(mx_nn_init_glorot_normal(&one, 1, 1, MX_FLOAT32, NULL) == NULL &&
                has_msg("at least 2"),
            "glorot needs 2 dims");
  MXT_CHECK(mx_nn_init_he_uniform(cs, 4, (mx_fan_mode)5, 1, MX_FLOAT32, NULL) == NULL &&
                has_msg("Invalid mode"),
            "mode");
  free_bufs();
}

int main(void) {
  MXT_RUN(test_module_tree);
  MXT_RUN(test_module_apply);
  MXT_RUN(test_freeze);
  MXT_RUN(test_safetensors);
  MXT_RUN(test_linear);
  MXT_RUN(test_quantized);
  MXT_RUN(test_embedding);
  MXT_RUN(test_norms);
  MXT_RUN(test_rope);
  MXT_RUN(test_mha);
  MXT_RUN(test_dropout);
  MXT_RUN(test_conv);
  MXT_RUN(test_sequential);
  MXT_RUN(test_activations);
  MXT_RUN(test_cross_entropy);
  MXT_RUN(test_losses);
  MXT_RUN(test_init);
  return mxt_finish();
}
