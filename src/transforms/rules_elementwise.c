/* rules_elementwise.c: rules of the unary and binary families, select
 * (where), stop_gradient and all_compare.
 *
 * Unary and binary nodes get inputs that already have the compute dtype and
 * (binary, select) the output shape, so a rule's cotangent math happens in
 * that dtype and shape; broadcasting was a separate broadcast node whose own
 * rule sums. The derivative of every differentiable op is written with ops,
 * so derivatives of any order work. Piecewise constant ops (sign, floor,
 * ceil, round, floor_divide) have zero derivatives; at the kinks of abs,
 * maximum and minimum ties go to the first argument. Complex real/imag are
 * not differentiable here (conjugate is). */
#include <math.h>
#include <string.h>

#include "../primitives/binary.h"
#include "../primitives/unary.h"
#include "rules.h"
#include "tr.h"

static mx_status st(const mx_array *a) {
  if (a) return MX_OK;
  return mx_last_status() != MX_OK ? mx_last_status() : MX_ERR_INVALID;
}

static mx_array *k_(mx_array *like, double v) { return mx_scalar_like(like, v); }
static mx_array *mul(mx_array *a, mx_array *b) { return mx_multiply(a, b); }

/* d out / d x of a unary op, elementwise; NULL with *zero = true for a zero
 * derivative. */
static mx_array *unary_deriv(int op, mx_array *x, mx_array *y, bool *zero) {
  *zero = false;
  switch (op) {
    case MX_UOP_ABS:
      return mx_sign(x);
    case MX_UOP_NEGATIVE:
      return k_(x, -1);
    case MX_UOP_EXP:
      return y;
    case MX_UOP_EXPM1:
      return mx_exp(x);
    case MX_UOP_LOG:
      return mx_reciprocal(x);
    case MX_UOP_LOG1P:
      return mx_reciprocal(mx_add(x, k_(x, 1)));
    case MX_UOP_LOG2:
      return mx_reciprocal(mul(x, k_(x, M_LN2)));
    case MX_UOP_LOG10:
      return mx_reciprocal(mul(x, k_(x, M_LN10)));
    case MX_UOP_SQRT:
      return mx_divide(k_(x, 0.5), y);
    case MX_UOP_RSQRT:
      return mul(k_(x, -0.5), mx_divide(y, x));
    case MX_UOP_SQUARE:
      return mul(k_(x, 2), x);
    case MX_UOP_RECIPROCAL:
      return mx_negative(mx_square(y));
    case MX_UOP_SIN:
      return mx_cos(x);
    case MX_UOP_COS:
      return mx_negative(mx_sin(x));
    case MX_UOP_TAN:
      return mx_add(k_(x, 1), mx_square(y));
    case MX_UOP_ARCSIN:
      return mx_rsqrt(mx_subtract(k_(x, 1), mx_square(x)));
    case MX_UOP_ARCCOS:
      return mx_negative(mx_rsqrt(mx_subtract(k_(x, 1), mx_square(x))));
    case MX_UOP_ARCTAN:
      return mx_reciprocal(mx_add(k_(x, 1), mx_square(x)));
    case MX_UOP_SINH:
      return mx_cosh(x);
    case MX_UOP_COSH:
      return mx_sinh(x);
    case MX_UOP_TANH:
      return mx_subtract(k_(x, 1), mx_square(y));
    case MX_UOP_ARCSINH:
      return mx_rsqrt(mx_add(mx_square(x), k_(x, 1)));
    case MX_UOP_ARCCOSH:
      return mx_rsqrt(mx_subtract(mx_square(x), k_(x, 1)));
    case MX_UOP_ARCTANH:
      return mx_reciprocal(mx_subtract(k_(x, 1), mx_square(x)));
    case MX_UOP_ERF: /* 2/sqrt(pi) exp(-x^2) */
      return mul(k_(x, 2 / sqrt(M_PI)), mx_exp(mx_negative(mx_square(x))));
    case MX_UOP_ERFINV: /* sqrt(pi)/2 exp(y^2) */
      return mul(k_(x, sqrt(M_PI) / 2), mx_exp(mx_square(y)));
    case MX_UOP_SIGMOID:
      return mul(y, mx_subtract(k_(x, 1), y));
    case MX_UOP_SIGN:
    case MX_UOP_FLOOR:
    case MX_UOP_CEIL:
    case MX_UOP_ROUND:
      *zero = true;
      return NULL;
    default:
      mx_set_error(MX_ERR_UNSUPPORTED, "[vjp] %s is not differentiable",
                   mx_unary_op_name(op));
      return NULL;
  }
}

/* y = f(x): out is y (the node's output). */
MX_TR_VJP(unary) {
  (void)argnums, (void)nargs;
  int op = MX_PARAMS(mx_unary_params, n)->op;
  if (op == MX_UOP_CONJUGATE) return st(grads[0] = mx_conjugate(cotan[0]));
  bool zero;
  mx_array *y = out[0] ? out[0] : mx_tr_reapply1(n, in);
  mx_array *d = unary_deriv(op, in[0], y, &zero);
  if (zero) return MX_OK;
  grads[0] = d ? mul(cotan[0], d) : NULL;
  return st(grads[0]);
}

MX_TR_JVP(unary) {
  (void)argnums, (void)nargs;
  int op = MX_PARAMS(mx_unary_params, n)->op;
  if (op == MX_UOP_CONJUGATE) return st(out_tangents[0] = mx_conjugate(tangents[0]));
  bool zero;
  mx_array *d = unary_deriv(op, in[0], n->out[0], &zero);
  if (zero) return MX_OK;
  out_tangents[0] = d ? mul(tangents[0], d) : NULL;
  return st(out_tangents[0]);
}

/* Elementwise: the same op on the batched array, batch axis unchanged. */
MX_TR_VMAP(unary) {
  out[0] = mx_tr_remake1(n, n->params, in, n->out[0]->dtype, in[0]->shape, in[0]->ndim);
  out_axes[0] = in_axes[0];
  return st(out[0]);
}

MX_TR_VMAP(stop_gradient) {
  (void)n;
  out[0] = mx_stop_gradient(in[0]);
  out_axes[0] = in_axes[0];
  return st(out[0]);
}

/* ---- binary: a, b of the output's shape and dtype ---- */
static mx_array *where0(mx_array *mask, mx_array *v) {
  return mx_where(mask, v, mx_zeros(NULL, 0, v->dtype));
}

/* Partial derivative of out w.r.t. input i (0: a, 1: b), or the cotangent
 * contribution directly when cheaper; c is the cotangent or tangent. */
static mx_array *binary_term(int op, int i, mx_array *a, mx_array *b, mx_array *y,
                             mx_array *c, bool *zero) {
  *zero = false;
  switch (op) {
    case MX_BOP_ADD:
      return c;
    case MX_BOP_SUBTRACT:
      return i == 0 ? c : mx_negative(c);
    case MX_BOP_MULTIPLY:
      return mul(c, i == 0 ? b : a);
    case MX_BOP_DIVIDE: /* 1/b, -a/b^2 = -y/b */
      return i == 0 ? mx_divide(c, b) : mx_negative(mx_divide(mul(c, y), b));
    case MX_BOP_POWER: /* b a^(b-1), y log a */
      return i == 0 ? mul(c, mul(b, mx_power(a, mx_subtract(b, k_(b, 1)))))
                    : mul(c, mul(y, mx_log(a)));
    case MX_BOP_MAXIMUM:
      return where0(i == 0 ? mx_greater_equal(a, b) : mx_less(a, b), c);
    case MX_BOP_MINIMUM:
      return where0(i == 0 ? mx_less_equal(a, b) : mx_greater(a, b), c);
    case MX_BOP_ARCTAN2: { /* atan2(a, b): b/(a^2+b^2), -a/(a^2+b^2) */
      mx_array *r = mx_add(mx_square(a), mx_square(b));
      return i == 0 ? mul(c, mx_divide(b, r)) : mx_negative(mul(c, mx_divide(a, r)));
    }
    case MX_BOP_LOGADDEXP: /* exp(a - y), exp(b - y) */
      return mul(c, mx_exp(mx_subtract(i == 0 ? a : b, y)));
    case MX_BOP_REMAINDER: /* a - b floor(a / b) */
      return i == 0 ? c : mx_negative(mul(c, mx_floor(mx_divide(a, b))));
    case MX_BOP_FLOOR_DIVIDE:
      *zero = true;
      return NULL;
    default:
      mx_set_error(MX_ERR_UNSUPPORTED, "[vjp] %s is not differentiable",
                   mx_binary_op_name(op));
      return NULL;
  }
}

MX_TR_VJP(binary) {
  int op = MX_PARAMS(mx_binary_params, n)->op;
  mx_array *y = out[0] ? out[0] : mx_tr_reapply1(n, in);
  for (int j = 0; j < nargs; j++) {
    bool zero;
    grads[j] = binary_term(op, argnums[j], in[0], in[1], y, cotan[0], &zero);
    if (!zero && !grads[j]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(binary) {
  int op = MX_PARAMS(mx_binary_params, n)->op;
  mx_array *r = NULL;
  for (int j = 0; j < nargs; j++) {
    bool zero;
    mx_array *t =
        binary_term(op, argnums[j], in[0], in[1], n->out[0], tangents[j], &zero);
    if (zero) continue;
    if (!t) return st(NULL);
    if (!(r = r ? mx_add(r, t) : t)) return st(NULL);
  }
  out_tangents[0] = r;
  return MX_OK;
}

/* Inputs aligned and broadcast to one batched shape (B first). */
static mx_status aligned_full(mx_array *const *in, const int *axes, int k, mx_array **x) {
  mx_array *a[3];
  mx_status rc = mx_tr_align(in, axes, k, a);
  if (rc == MX_OK) rc = mx_broadcast_arrays(a, k, x);
  return rc;
}

MX_TR_VMAP(binary) {
  mx_array *x[2];
  mx_status rc = aligned_full(in, in_axes, 2, x);
  if (rc != MX_OK) return rc;
  out[0] = mx_tr_remake1(n, n->params, x, n->out[0]->dtype, x[0]->shape, x[0]->ndim);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- select: cond, x, y (output shape) ---- */
MX_TR_VJP(select) {
  (void)out;
  mx_array *c = cotan[0], *z = mx_zeros(NULL, 0, c->dtype);
  for (int j = 0; j < nargs; j++) {
    grads[j] = argnums[j] == 1 ? mx_where(in[0], c, z) : mx_where(in[0], z, c);
    if (!grads[j]) return st(NULL);
  }
  return MX_OK;
}

MX_TR_JVP(select) {
  (void)in;
  mx_array *x[3];
  mx_status rc = mx_tr_tangent_inputs(n, tangents, argnums, nargs, 1, x);
  if (rc != MX_OK) return rc;
  return st(out_tangents[0] = mx_tr_reapply1(n, x));
}

MX_TR_VMAP(select) {
  mx_array *x[3];
  mx_status rc = aligned_full(in, in_axes, 3, x);
  if (rc != MX_OK) return rc;
  out[0] = mx_tr_remake1(n, NULL, x, n->out[0]->dtype, x[0]->shape, x[0]->ndim);
  out_axes[0] = 0;
  return st(out[0]);
}

/* ---- all_compare: one bool per batch element ---- */
MX_TR_VMAP(all_compare) {
  const mx_binary_params *p = MX_PARAMS(mx_binary_params, n);
  mx_array *x[2];
  mx_status rc = aligned_full(in, in_axes, 2, x);
  if (rc != MX_OK) return rc;
  mx_array *eq;
  if (p->op == MX_BOP_ISCLOSE)
    eq = mx_isclose(x[0], x[1], p->rtol, p->atol, p->equal_nan);
  else if (p->equal_nan && mx_dtype_is_inexact(x[0]->dtype))
    eq = mx_logical_or(mx_equal(x[0], x[1]),
                       mx_logical_and(mx_isnan(x[0]), mx_isnan(x[1])));
  else
    eq = mx_equal(x[0], x[1]);
  int axes[MX_MAX_NDIM], na = 0;
  for (int d = 1; eq && d < eq->ndim; d++) axes[na++] = d;
  out[0] = mx_all(eq, axes, na, false);
  out_axes[0] = 0;
  return st(out[0]);
}
