/* containers.c: Sequential (children under "layers.<i>", MLX's names),
 * Lambda (a function as a module) and Dropout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ---- Sequential ---- */

static mx_array *sequential_forward(mx_module *m, mx_array *x) {
  mx_module *layers = mx_module_child(m, "layers");
  if (!layers) return mx_scope_adopt(mx_keep(x)); /* empty Sequential */
  mx_scope_begin();
  for (int i = 0; i < layers->n && x; i++) x = mx_module_forward(layers->e[i].child, x);
  return mx_nn_return(x);
}

mx_status mx_nn_sequential_append(mx_module *seq, mx_module *layer) {
  if (!seq || strcmp(seq->type, "Sequential") != 0) {
    mx_module_free(layer);
    return mx_set_error(MX_ERR_INVALID, "[nn.Sequential] not a Sequential module");
  }
  if (!layer)
    return mx_last_status() ? mx_last_status()
                            : mx_set_error(MX_ERR_INVALID, "[nn.Sequential] NULL layer");
  mx_module *layers = mx_module_child(seq, "layers");
  if (!layers) {
    layers = mx_module_new("list");
    if (!layers) {
      mx_module_free(layer);
      return mx_last_status();
    }
    mx_status st = mx_module_set_child(seq, "layers", layers);
    if (st != MX_OK) {
      mx_module_free(layer);
      return st;
    }
  }
  char name[16];
  snprintf(name, sizeof name, "%d", layers->n);
  return mx_module_set_child(layers, name, layer);
}

mx_module *mx_nn_sequential(mx_module *const *modules, int n) {
  mx_module *m = mx_nn_module_make("Sequential", NULL, 0, sequential_forward);
  bool ok = m != NULL && n >= 0 && (n == 0 || modules);
  if (m && !ok) mx_set_error(MX_ERR_INVALID, "[nn.Sequential] invalid module list");
  for (int i = 0; i < n && modules; i++) {
    if (ok) {
      ok = mx_nn_sequential_append(m, modules[i]) == MX_OK;
    } else {
      mx_module_free(modules[i]);
    }
  }
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

/* ---- Lambda ---- */

typedef struct {
  mx_array *(*fn)(mx_array *x, void *ctx);
  void *ctx;
} lambda_cfg;

static mx_array *lambda_forward(mx_module *m, mx_array *x) {
  lambda_cfg *c = m->data;
  return c->fn(x, c->ctx);
}

mx_module *mx_nn_lambda(mx_array *(*fn)(mx_array *x, void *ctx), void *ctx) {
  if (!fn) {
    mx_set_error(MX_ERR_INVALID, "[nn.Lambda] NULL function");
    return NULL;
  }
  lambda_cfg c = {fn, ctx};
  return mx_nn_module_make("Lambda", &c, sizeof c, lambda_forward);
}

/* ---- Dropout ---- */

typedef struct {
  double p_1; /* keep probability 1 - p */
} dropout_cfg;

mx_array *mx_nn_dropout_forward(mx_module *m, mx_array *x, mx_array *key) {
  dropout_cfg *c = mx_nn_data_of(m, "Dropout", "nn.Dropout");
  if (!c) return NULL;
  MX_CHECK_NULL1(x);
  if (c->p_1 == 1.0 || !m->training) return mx_scope_adopt(mx_keep(x));
  mx_scope_begin();
  // mask ~ Bernoulli(1 - p) of x's shape; (mask * x) * (1 / (1 - p))
  mx_array *mask = mx_random_bernoulli(mx_array_scalar_f64(c->p_1, MX_FLOAT32),
                                       mx_array_shape(x), mx_array_ndim(x), key);
  mx_array *y = mx_multiply(mx_multiply(mask, x), mx_nn_scalar(x, 1.0 / c->p_1));
  return mx_nn_return(y);
}

static mx_array *dropout_forward(mx_module *m, mx_array *x) {
  return mx_nn_dropout_forward(m, x, NULL);
}

mx_module *mx_nn_dropout(float p) {
  if (!(p >= 0.0f && p < 1.0f)) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.Dropout] The dropout probability %g is not in [0, 1)", p);
    return NULL;
  }
  dropout_cfg c = {1.0 - (double)p};
  return mx_nn_module_make("Dropout", &c, sizeof c, dropout_forward);
}
