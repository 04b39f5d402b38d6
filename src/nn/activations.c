/* activations.c: MLX's activation functions, written with the same ops in
 * the same order as mlx.nn so results match in every dtype (Python scalars
 * are weakly typed: they take x's dtype, see mx_nn_scalar), and the
 * activation module. */
#include <math.h>
#include <stdlib.h>

#include "nn_internal.h"

#define S(x, v) mx_nn_scalar((x), (v))

/* Each function runs in its own scope and returns its result to the
 * caller's (the library pattern), so intermediates die at once. */
#define ACT_BEGIN(x) \
  MX_CHECK_NULL1(x); \
  mx_scope_begin()

mx_array *mx_nn_sigmoid(mx_array *x) { return mx_sigmoid(x); }
mx_array *mx_nn_tanh(mx_array *x) { return mx_tanh(x); }

mx_array *mx_nn_relu(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_maximum(x, S(x, 0)));
}

mx_array *mx_nn_relu2(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_square(mx_maximum(x, S(x, 0))));
}

mx_array *mx_nn_relu6(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_minimum(mx_maximum(x, S(x, 0)), S(x, 6.0)));
}

mx_array *mx_nn_leaky_relu(mx_array *x, double negative_slope) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_maximum(mx_multiply(S(x, negative_slope), x), x));
}

mx_array *mx_nn_elu(mx_array *x, double alpha) {
  ACT_BEGIN(x);
  mx_array *neg = mx_multiply(S(x, alpha), mx_subtract(mx_exp(x), S(x, 1)));
  return mx_nn_return(mx_where(mx_greater(x, S(x, 0)), x, neg));
}

mx_array *mx_nn_celu(mx_array *x, double alpha) {
  ACT_BEGIN(x);
  mx_array *e = mx_exp(mx_divide(mx_minimum(x, S(x, 0.0)), S(x, alpha)));
  mx_array *r =
      mx_add(mx_maximum(x, S(x, 0.0)), mx_multiply(S(x, alpha), mx_subtract(e, S(x, 1))));
  return mx_nn_return(r);
}

mx_array *mx_nn_selu(mx_array *x) {
  ACT_BEGIN(x);
  /* elu(x, 1.67326) * 1.0507, with MLX's double constants */
  mx_array *neg = mx_multiply(S(x, 1.67326), mx_subtract(mx_exp(x), S(x, 1)));
  mx_array *e = mx_where(mx_greater(x, S(x, 0)), x, neg);
  return mx_nn_return(mx_multiply(e, S(x, 1.0507)));
}

mx_array *mx_nn_silu(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_multiply(x, mx_sigmoid(x)));
}

mx_array *mx_nn_gelu(mx_array *x) {
  ACT_BEGIN(x);
  mx_array *r = mx_multiply(x, mx_add(S(x, 1), mx_erf(mx_divide(x, S(x, sqrt(2.0))))));
  return mx_nn_return(mx_divide(r, S(x, 2)));
}

mx_array *mx_nn_gelu_approx(mx_array *x) {
  ACT_BEGIN(x);
  mx_array *x3 = mx_power(x, S(x, 3));
  mx_array *in =
      mx_multiply(S(x, sqrt(2.0 / M_PI)), mx_add(x, mx_multiply(S(x, 0.044715), x3)));
  mx_array *r = mx_multiply(mx_multiply(S(x, 0.5), x), mx_add(S(x, 1), mx_tanh(in)));
  return mx_nn_return(r);
}

mx_array *mx_nn_gelu_fast_approx(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_multiply(x, mx_sigmoid(mx_multiply(S(x, 1.702), x))));
}

mx_array *mx_nn_softplus(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_logaddexp(x, S(x, 0)));
}

mx_array *mx_nn_softsign(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_divide(x, mx_add(S(x, 1), mx_abs(x))));
}

mx_array *mx_nn_mish(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_multiply(x, mx_tanh(mx_nn_softplus(x))));
}

mx_array *mx_nn_log_sigmoid(mx_array *x) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_negative(mx_nn_softplus(mx_negative(x))));
}

mx_array *mx_nn_hardswish(mx_array *x) {
  ACT_BEGIN(x);
  mx_array *m3 = mx_maximum(mx_add(x, S(x, 3)), S(x, 0));
  return mx_nn_return(mx_divide(mx_multiply(x, mx_minimum(m3, S(x, 6))), S(x, 6)));
}

mx_array *mx_nn_hard_tanh(mx_array *x, double min_val, double max_val) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_minimum(mx_maximum(x, S(x, min_val)), S(x, max_val)));
}

mx_array *mx_nn_softshrink(mx_array *x, double lambd) {
  ACT_BEGIN(x);
  mx_array *shrunk = mx_subtract(x, mx_multiply(mx_sign(x), S(x, lambd)));
  mx_array *r = mx_where(mx_greater(mx_abs(x), S(x, lambd)), shrunk, S(x, 0));
  return mx_nn_return(r);
}

mx_array *mx_nn_hard_shrink(mx_array *x, double lambd) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_where(mx_greater(mx_abs(x), S(x, lambd)), x, S(x, 0)));
}

mx_array *mx_nn_step(mx_array *x, double threshold) {
  ACT_BEGIN(x);
  /* mx.where(x >= t, 1, 0): Python ints give an int32 result */
  mx_array *r =
      mx_where(mx_greater_equal(x, S(x, threshold)), mx_array_scalar_i64(1, MX_INT32),
               mx_array_scalar_i64(0, MX_INT32));
  return mx_nn_return(r);
}

mx_array *mx_nn_prelu(mx_array *x, mx_array *alpha) {
  ACT_BEGIN(x);
  mx_array *r =
      mx_add(mx_maximum(S(x, 0), x), mx_multiply(alpha, mx_minimum(S(x, 0), x)));
  return mx_nn_return(r);
}

mx_array *mx_nn_softmax(mx_array *x, int axis) { return mx_softmax(x, &axis, 1, false); }

mx_array *mx_nn_softmin(mx_array *x, int axis) {
  ACT_BEGIN(x);
  return mx_nn_return(mx_softmax(mx_negative(x), &axis, 1, false));
}

mx_array *mx_nn_log_softmax(mx_array *x, int axis) {
  ACT_BEGIN(x);
  /* shift by the max first: subtracting the logsumexp of large logits
   * directly would lose the normaliser to rounding */
  x = mx_subtract(x, mx_stop_gradient(mx_max(x, &axis, 1, true)));
  return mx_nn_return(mx_subtract(x, mx_logsumexp(x, &axis, 1, true)));
}

mx_array *mx_nn_glu(mx_array *x, int axis) {
  ACT_BEGIN(x);
  mx_array *ab[2] = {NULL, NULL};
  if (mx_split(x, 2, axis, ab) != MX_OK) {
    mx_scope_end();
    return NULL;
  }
  return mx_nn_return(mx_multiply(ab[0], mx_sigmoid(ab[1])));
}

mx_array *mx_nn_swiglu(mx_array *gate, mx_array *x) {
  MX_CHECK_NULL1(x);
  ACT_BEGIN(gate);
  return mx_nn_return(mx_multiply(mx_nn_silu(gate), x));
}

mx_array *mx_nn_activate(mx_activation kind, double param, mx_array *x) {
  switch (kind) {
    case MX_ACT_RELU:
      return mx_nn_relu(x);
    case MX_ACT_RELU2:
      return mx_nn_relu2(x);
    case MX_ACT_RELU6:
      return mx_nn_relu6(x);
    case MX_ACT_LEAKY_RELU:
      return mx_nn_leaky_relu(x, param);
    case MX_ACT_ELU:
      return mx_nn_elu(x, param);
    case MX_ACT_CELU:
      return mx_nn_celu(x, param);
    case MX_ACT_SELU:
      return mx_nn_selu(x);
    case MX_ACT_SILU:
      return mx_nn_silu(x);
    case MX_ACT_GELU:
      return mx_nn_gelu(x);
    case MX_ACT_GELU_APPROX:
      return mx_nn_gelu_approx(x);
    case MX_ACT_GELU_FAST_APPROX:
      return mx_nn_gelu_fast_approx(x);
    case MX_ACT_SIGMOID:
      return mx_nn_sigmoid(x);
    case MX_ACT_TANH:
      return mx_nn_tanh(x);
    case MX_ACT_SOFTPLUS:
      return mx_nn_softplus(x);
    case MX_ACT_SOFTSIGN:
      return mx_nn_softsign(x);
    case MX_ACT_MISH:
      return mx_nn_mish(x);
    case MX_ACT_LOG_SIGMOID:
      return mx_nn_log_sigmoid(x);
    case MX_ACT_HARDSWISH:
      return mx_nn_hardswish(x);
    case MX_ACT_SOFTMAX:
      return mx_nn_softmax(x, -1);
    case MX_ACT_LOG_SOFTMAX:
      return mx_nn_log_softmax(x, -1);
    case MX_ACT_GLU:
      return mx_nn_glu(x, -1);
  }
  mx_set_error(MX_ERR_INVALID, "[nn.activation] unknown activation %d", (int)kind);
  return NULL;
}

typedef struct {
  mx_activation kind;
  double param;
} act_cfg;

static mx_array *activation_forward(mx_module *m, mx_array *x) {
  act_cfg *c = m->data;
  return mx_nn_activate(c->kind, c->param, x);
}

mx_module *mx_nn_activation(mx_activation kind, double param) {
  static const char *const names[] = {
      [MX_ACT_RELU] = "ReLU",
      [MX_ACT_RELU2] = "ReLU2",
      [MX_ACT_RELU6] = "ReLU6",
      [MX_ACT_LEAKY_RELU] = "LeakyReLU",
      [MX_ACT_ELU] = "ELU",
      [MX_ACT_CELU] = "CELU",
      [MX_ACT_SELU] = "SELU",
      [MX_ACT_SILU] = "SiLU",
      [MX_ACT_GELU] = "GELU",
      [MX_ACT_GELU_APPROX] = "GELU",
      [MX_ACT_GELU_FAST_APPROX] = "GELU",
      [MX_ACT_SIGMOID] = "Sigmoid",
      [MX_ACT_TANH] = "Tanh",
      [MX_ACT_SOFTPLUS] = "Softplus",
      [MX_ACT_SOFTSIGN] = "Softsign",
      [MX_ACT_MISH] = "Mish",
      [MX_ACT_LOG_SIGMOID] = "LogSigmoid",
      [MX_ACT_HARDSWISH] = "Hardswish",
      [MX_ACT_SOFTMAX] = "Softmax",
      [MX_ACT_LOG_SOFTMAX] = "LogSoftmax",
      [MX_ACT_GLU] = "GLU",
  };
  if ((unsigned)kind > MX_ACT_GLU) {
    mx_set_error(MX_ERR_INVALID, "[nn.activation] unknown activation %d", (int)kind);
    return NULL;
  }
  act_cfg c = {kind, param};
  return mx_nn_module_make(names[kind], &c, sizeof c, activation_forward);
}
