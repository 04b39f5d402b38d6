/* losses.c: MLX's loss functions (mlx.nn.losses) with the same formulas,
 * shape checks and reductions ('none' | 'mean' | 'sum'). Ignored targets
 * are expressed as MLX does, through per-element weights. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

#define S(x, v) mx_nn_scalar((x), (v))

bool mx_reduction_from_name(const char *name, mx_reduction *out) {
  static const char *const names[] = {"none", "mean", "sum"};
  for (int i = 0; name && i < 3; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = (mx_reduction)i;
      return true;
    }
  return false;
}

static mx_array *reduce(mx_array *loss, mx_reduction r) {
  switch (r) {
    case MX_REDUCTION_MEAN:
      return mx_mean(loss, NULL, 0, false);
    case MX_REDUCTION_SUM:
      return mx_sum(loss, NULL, 0, false);
    case MX_REDUCTION_NONE:
      return loss;
  }
  mx_set_error(MX_ERR_INVALID,
               "[nn.losses] Invalid reduction. Must be one of ('none', 'mean', 'sum').");
  return NULL;
}

static bool same_shape(mx_array *a, mx_array *b) {
  int n = mx_array_ndim(a);
  return n == mx_array_ndim(b) &&
         (n == 0 || memcmp(mx_array_shape(a), mx_array_shape(b), sizeof(int) * n) == 0);
}

/* "[op] <what_a> shape (..) does not match <what_b> shape (..)." */
static bool check_same(const char *op, const char *wa, mx_array *a, const char *wb,
                       mx_array *b) {
  if (same_shape(a, b)) return true;
  char sa[128];
  snprintf(sa, sizeof sa, "%s", mx_shape_str(mx_array_shape(a), mx_array_ndim(a)));
  mx_set_error(MX_ERR_INVALID, "[%s] %s shape %s does not match %s shape %s.", op, wa, sa,
               wb, mx_shape_str(mx_array_shape(b), mx_array_ndim(b)));
  return false;
}

static bool check_reduction(const char *op, mx_reduction r) {
  if ((unsigned)r <= MX_REDUCTION_SUM) return true;
  mx_set_error(MX_ERR_INVALID,
               "[%s] Invalid reduction. Must be one of ('none', 'mean', 'sum').", op);
  return false;
}

/* loss * weights, weights of loss's shape (or NULL). */
static mx_array *apply_weights(const char *op, mx_array *loss, mx_array *weights) {
  if (!weights || !loss) return loss;
  if (!same_shape(weights, loss)) {
    char sw[128];
    snprintf(sw, sizeof sw, "%s",
             mx_shape_str(mx_array_shape(weights), mx_array_ndim(weights)));
    mx_set_error(
        MX_ERR_INVALID,
        "[%s] Weights with shape %s is not the same as output loss with shape %s.", op,
        sw, mx_shape_str(mx_array_shape(loss), mx_array_ndim(loss)));
    return NULL;
  }
  return mx_multiply(loss, weights);
}

mx_array *mx_nn_cross_entropy(mx_array *logits, mx_array *targets, mx_array *weights,
                              int axis, double label_smoothing, mx_reduction r) {
  static const char op[] = "nn.cross_entropy";
  MX_CHECK_NULL1(logits);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r)) return NULL;
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
    mx_set_error(MX_ERR_INVALID, "[%s] Label smoothing must be in [0, 1), got %g.", op,
                 label_smoothing);
    return NULL;
  }
  int nd = mx_array_ndim(logits);
  if (!mx_norm_axis(&axis, nd)) {
    mx_set_error(MX_ERR_INVALID, "[%s] axis %d out of range for logits with %d dims", op,
                 axis, nd);
    return NULL;
  }
  /* class indices, or probabilities when targets have logits' rank */
  bool as_probs = mx_array_ndim(targets) == nd;
  bool ok;
  if (as_probs) {
    ok = same_shape(targets, logits);
  } else {
    const int *ls = mx_array_shape(logits), *ts = mx_array_shape(targets);
    ok = mx_array_ndim(targets) == nd - 1;
    for (int i = 0, j = 0; ok && i < nd; i++)
      if (i != axis) ok = ts[j++] == ls[i];
  }
  if (!ok) {
    char st[128];
    snprintf(st, sizeof st, "%s",
             mx_shape_str(mx_array_shape(targets), mx_array_ndim(targets)));
    mx_set_error(MX_ERR_INVALID, "[%s] Targets shape %s does not match logits shape %s.",
                 op, st, mx_shape_str(mx_array_shape(logits), nd));
    return NULL;
  }
  if (!as_probs && !mx_dtype_is_integer(mx_array_dtype(targets))) {
    mx_set_error(MX_ERR_INVALID, "[%s] class-index targets must be integers, got %s", op,
                 mx_dtype_name(mx_array_dtype(targets)));
    return NULL;
  }
  mx_scope_begin();
  /* shift by the max: the loss only depends on differences of logits, and
   * subtracting the logsumexp of large logits would lose the gap */
  mx_array *x = mx_subtract(logits, mx_stop_gradient(mx_max(logits, &axis, 1, true)));
  mx_array *score;
  if (as_probs) {
    score = mx_sum(mx_multiply(x, targets), &axis, 1, false);
  } else {
    mx_array *idx = mx_expand_dims(targets, &axis, 1);
    score = mx_squeeze(mx_take_along_axis(x, idx, axis), &axis, 1);
  }
  mx_array *lse = mx_logsumexp(x, &axis, 1, false);
  mx_array *loss;
  if (label_smoothing > 0.0f) {
    /* (1 - ls) * score for the target, plus ls times the mean logit */
    double ls = label_smoothing;
    mx_array *adjusted = mx_multiply(S(score, 1.0 - ls), score);
    mx_array *smoothed = mx_multiply(mx_negative(mx_mean(x, &axis, 1, false)), S(x, ls));
    loss = mx_add(mx_subtract(lse, adjusted), smoothed);
  } else {
    loss = mx_subtract(lse, score);
  }
  loss = apply_weights(op, loss, weights);
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_binary_cross_entropy(mx_array *inputs, mx_array *targets,
                                     mx_array *weights, bool with_logits,
                                     mx_reduction r) {
  static const char op[] = "nn.binary_cross_entropy";
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r) || !check_same(op, "Inputs", inputs, "targets", targets))
    return NULL;
  mx_scope_begin();
  mx_array *loss;
  if (with_logits) {
    // log(1 + e^x) - x * t
    loss =
        mx_subtract(mx_logaddexp(S(inputs, 0.0), inputs), mx_multiply(inputs, targets));
  } else {
    mx_array *lo = S(inputs, -100);
    mx_array *a = mx_clip(mx_log(inputs), lo, NULL);
    mx_array *b = mx_clip(mx_log(mx_subtract(S(inputs, 1), inputs)), lo, NULL);
    mx_array *t1 = mx_subtract(S(targets, 1), targets);
    loss = mx_negative(mx_add(mx_multiply(targets, a), mx_multiply(t1, b)));
  }
  loss = apply_weights(op, loss, weights);
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_l1_loss(mx_array *predictions, mx_array *targets, mx_reduction r) {
  static const char op[] = "nn.l1_loss";
  MX_CHECK_NULL1(predictions);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r) ||
      !check_same(op, "Predictions", predictions, "targets", targets))
    return NULL;
  mx_scope_begin();
  return mx_nn_return(reduce(mx_abs(mx_subtract(predictions, targets)), r));
}

mx_array *mx_nn_mse_loss(mx_array *predictions, mx_array *targets, mx_reduction r) {
  static const char op[] = "nn.mse_loss";
  MX_CHECK_NULL1(predictions);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r) ||
      !check_same(op, "Predictions", predictions, "targets", targets))
    return NULL;
  mx_scope_begin();
  return mx_nn_return(reduce(mx_square(mx_subtract(predictions, targets)), r));
}

mx_array *mx_nn_smooth_l1_loss(mx_array *predictions, mx_array *targets, double beta,
                               mx_reduction r) {
  static const char op[] = "nn.smooth_l1_loss";
  MX_CHECK_NULL1(predictions);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r) ||
      !check_same(op, "Predictions", predictions, "targets", targets))
    return NULL;
  mx_scope_begin();
  mx_array *d = mx_abs(mx_subtract(predictions, targets));
  mx_array *quad = mx_divide(mx_multiply(S(d, 0.5), mx_square(d)), S(d, beta));
  mx_array *lin = mx_subtract(mx_abs(d), S(d, 0.5 * beta));
  return mx_nn_return(reduce(mx_where(mx_less(d, S(d, beta)), quad, lin), r));
}

mx_array *mx_nn_nll_loss(mx_array *inputs, mx_array *targets, int axis, mx_reduction r) {
  static const char op[] = "nn.nll_loss";
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r)) return NULL;
  if (!mx_norm_axis(&axis, mx_array_ndim(inputs))) {
    mx_set_error(MX_ERR_INVALID, "[%s] axis out of range", op);
    return NULL;
  }
  mx_scope_begin();
  mx_array *idx = mx_expand_dims(targets, &axis, 1);
  mx_array *loss =
      mx_negative(mx_squeeze(mx_take_along_axis(inputs, idx, axis), &axis, 1));
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_kl_div_loss(mx_array *inputs, mx_array *targets, int axis,
                            mx_reduction r) {
  static const char op[] = "nn.kl_div_loss";
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  if (!check_reduction(op, r)) return NULL;
  mx_scope_begin();
  mx_array *loss =
      mx_sum(mx_multiply(mx_exp(targets), mx_subtract(targets, inputs)), &axis, 1, false);
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_gaussian_nll_loss(mx_array *inputs, mx_array *targets, mx_array *vars,
                                  bool full, double eps, mx_reduction r) {
  static const char op[] = "nn.gaussian_nll_loss";
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  MX_CHECK_NULL1(vars);
  if (!check_reduction(op, r) || !check_same(op, "Inputs", inputs, "targets", targets) ||
      !check_same(op, "Inputs", inputs, "vars", vars))
    return NULL;
  mx_scope_begin();
  mx_array *v = mx_maximum(vars, S(vars, eps));
  mx_array *loss = mx_multiply(
      S(v, 0.5),
      mx_add(mx_log(v), mx_divide(mx_square(mx_subtract(targets, inputs)), v)));
  if (full) loss = mx_add(loss, S(loss, 0.5 * log(2 * M_PI)));
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_hinge_loss(mx_array *inputs, mx_array *targets, mx_reduction r) {
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  if (!check_reduction("nn.hinge_loss", r)) return NULL;
  mx_scope_begin();
  mx_array *p = mx_multiply(inputs, targets);
  mx_array *loss = mx_maximum(mx_subtract(S(p, 1), p), S(p, 0));
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_huber_loss(mx_array *inputs, mx_array *targets, double delta,
                           mx_reduction r) {
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  if (!check_reduction("nn.huber_loss", r)) return NULL;
  mx_scope_begin();
  mx_array *a = mx_abs(mx_subtract(inputs, targets));
  mx_array *quad = mx_minimum(a, S(a, delta));
  mx_array *lin = mx_subtract(a, quad);
  mx_array *loss = mx_add(mx_multiply(S(quad, 0.5), mx_power(quad, S(quad, 2))),
                          mx_multiply(S(lin, delta), lin));
  return mx_nn_return(reduce(loss, r));
}

mx_array *mx_nn_log_cosh_loss(mx_array *inputs, mx_array *targets, mx_reduction r) {
  MX_CHECK_NULL1(inputs);
  MX_CHECK_NULL1(targets);
  if (!check_reduction("nn.log_cosh_loss", r)) return NULL;
  mx_scope_begin();
  mx_array *e = mx_subtract(inputs, targets);
  mx_array *loss = mx_subtract(mx_logaddexp(e, mx_negative(e)), S(e, log(2.0)));
  return mx_nn_return(reduce(loss, r));
}
