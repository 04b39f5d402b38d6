/* unary.c: elementwise unary ops (abs ... conjugate) with MLX's dtype rules:
 *  - math ops (exp, log, sqrt, trig, erf, sigmoid, ...) compute in at least
 *    float32: bool/integer inputs are cast to float32 first; float16,
 *    bfloat16, float64 and complex64 keep their dtype;
 *  - abs, negative, sign, square keep the dtype (abs of complex64 is
 *    float32); floor, ceil and round are the identity on integers (round to
 *    negative decimals rounds integers exactly, half to even);
 *  - isnan/isinf/isfinite/isposinf/isneginf and logical_not give bool;
 *  - expm1, erf, erfinv, sigmoid, floor, ceil, round reject complex64;
 *  - bitwise_invert takes integers (bool: logical_not);
 *  - real/imag/conjugate on real inputs: identity, zeros, identity. */
#include <string.h>

#include "../primitives/unary.h"

static mx_array *same(mx_array *a) { return mx_scope_adopt(mx_keep(a)); }

static mx_dtype at_least_float(mx_dtype t) {
  return mx_dtype_is_inexact(t) ? t : MX_FLOAT32;
}

static mx_array *node(mx_array *a, int op, mx_dtype out, int decimals) {
  mx_unary_params p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.decimals = decimals;
  return mx_node_make1(&mx_prim_unary, &p, sizeof p, &a, 1, out, a->shape, a->ndim);
}

static bool no_complex(mx_array *a, int op) {
  if (a->dtype != MX_COMPLEX64) return true;
  mx_set_error(MX_ERR_INVALID, "[%s] not supported for complex64", mx_unary_op_name(op));
  return false;
}

/* Cast to at least float32, then the op (same dtype out). */
static mx_array *math_op(mx_array *a, int op, bool complex_ok) {
  MX_CHECK_NULL1(a);
  if (!complex_ok && !no_complex(a, op)) return NULL;
  mx_dtype t = at_least_float(a->dtype);
  if (t == a->dtype) return node(a, op, t, 0);
  mx_scope_begin();
  mx_array *x = mx_astype(a, t);
  mx_array *r = x ? mx_keep(node(x, op, t, 0)) : NULL;
  mx_scope_end();
  return mx_scope_adopt(r);
}

mx_array *mx_abs(mx_array *a) {
  MX_CHECK_NULL1(a);
  mx_dtype_kind k = mx_dtype_kind_of(a->dtype);
  if (k == MX_KIND_BOOL || k == MX_KIND_UNSIGNED) return same(a);
  return node(a, MX_UOP_ABS, a->dtype == MX_COMPLEX64 ? MX_FLOAT32 : a->dtype, 0);
}

mx_array *mx_negative(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (a->dtype == MX_BOOL) {
    mx_set_error(MX_ERR_INVALID,
                 "[negative] not supported for bool, use logical_not instead");
    return NULL;
  }
  return node(a, MX_UOP_NEGATIVE, a->dtype, 0);
}

mx_array *mx_sign(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (a->dtype == MX_BOOL) return same(a);
  return node(a, MX_UOP_SIGN, a->dtype, 0);
}

mx_array *mx_square(mx_array *a) {
  MX_CHECK_NULL1(a);
  return node(a, MX_UOP_SQUARE, a->dtype, 0);
}

mx_array *mx_exp(mx_array *a) { return math_op(a, MX_UOP_EXP, true); }
mx_array *mx_expm1(mx_array *a) { return math_op(a, MX_UOP_EXPM1, false); }
mx_array *mx_log(mx_array *a) { return math_op(a, MX_UOP_LOG, true); }
mx_array *mx_log1p(mx_array *a) { return math_op(a, MX_UOP_LOG1P, true); }
mx_array *mx_log2(mx_array *a) { return math_op(a, MX_UOP_LOG2, true); }
mx_array *mx_log10(mx_array *a) { return math_op(a, MX_UOP_LOG10, true); }
mx_array *mx_sqrt(mx_array *a) { return math_op(a, MX_UOP_SQRT, true); }
mx_array *mx_rsqrt(mx_array *a) { return math_op(a, MX_UOP_RSQRT, true); }
mx_array *mx_reciprocal(mx_array *a) { return math_op(a, MX_UOP_RECIPROCAL, true); }
mx_array *mx_sin(mx_array *a) { return math_op(a, MX_UOP_SIN, true); }
mx_array *mx_cos(mx_array *a) { return math_op(a, MX_UOP_COS, true); }
mx_array *mx_tan(mx_array *a) { return math_op(a, MX_UOP_TAN, true); }
mx_array *mx_arcsin(mx_array *a) { return math_op(a, MX_UOP_ARCSIN, true); }
mx_array *mx_arccos(mx_array *a) { return math_op(a, MX_UOP_ARCCOS, true); }
mx_array *mx_arctan(mx_array *a) { return math_op(a, MX_UOP_ARCTAN, true); }
mx_array *mx_sinh(mx_array *a) { return math_op(a, MX_UOP_SINH, true); }
mx_array *mx_cosh(mx_array *a) { return math_op(a, MX_UOP_COSH, true); }
mx_array *mx_tanh(mx_array *a) { return math_op(a, MX_UOP_TANH, true); }
mx_array *mx_arcsinh(mx_array *a) { return math_op(a, MX_UOP_ARCSINH, true); }
mx_array *mx_arccosh(mx_array *a) { return math_op(a, MX_UOP_ARCCOSH, true); }
mx_array *mx_arctanh(mx_array *a) { return math_op(a, MX_UOP_ARCTANH, true); }
mx_array *mx_erf(mx_array *a) { return math_op(a, MX_UOP_ERF, false); }
mx_array *mx_erfinv(mx_array *a) { return math_op(a, MX_UOP_ERFINV, false); }
mx_array *mx_sigmoid(mx_array *a) { return math_op(a, MX_UOP_SIGMOID, false); }

static mx_array *rounding(mx_array *a, int op, int decimals) {
  MX_CHECK_NULL1(a);
  if (!no_complex(a, op)) return NULL;
  if (!mx_dtype_is_inexact(a->dtype) &&
      (op != MX_UOP_ROUND || decimals >= 0 || a->dtype == MX_BOOL))
    return same(a); /* integers are already whole */
  return node(a, op, a->dtype, op == MX_UOP_ROUND ? decimals : 0);
}

mx_array *mx_floor(mx_array *a) { return rounding(a, MX_UOP_FLOOR, 0); }
mx_array *mx_ceil(mx_array *a) { return rounding(a, MX_UOP_CEIL, 0); }
mx_array *mx_round(mx_array *a, int decimals) {
  return rounding(a, MX_UOP_ROUND, decimals);
}

/* Integers and bool are never NaN or infinite: a constant, as MLX. */
static mx_array *predicate(mx_array *a, int op, bool int_value) {
  MX_CHECK_NULL1(a);
  if (!mx_dtype_is_inexact(a->dtype))
    return int_value ? mx_ones(a->shape, a->ndim, MX_BOOL)
                     : mx_zeros(a->shape, a->ndim, MX_BOOL);
  return node(a, op, MX_BOOL, 0);
}

mx_array *mx_isnan(mx_array *a) { return predicate(a, MX_UOP_ISNAN, false); }
mx_array *mx_isinf(mx_array *a) { return predicate(a, MX_UOP_ISINF, false); }
mx_array *mx_isfinite(mx_array *a) { return predicate(a, MX_UOP_ISFINITE, true); }
mx_array *mx_isposinf(mx_array *a) { return predicate(a, MX_UOP_ISPOSINF, false); }
mx_array *mx_isneginf(mx_array *a) { return predicate(a, MX_UOP_ISNEGINF, false); }

mx_array *mx_logical_not(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (a->dtype == MX_BOOL) return node(a, MX_UOP_LOGICAL_NOT, MX_BOOL, 0);
  mx_scope_begin();
  mx_array *x = mx_astype(a, MX_BOOL);
  mx_array *r = x ? mx_keep(node(x, MX_UOP_LOGICAL_NOT, MX_BOOL, 0)) : NULL;
  mx_scope_end();
  return mx_scope_adopt(r);
}

mx_array *mx_bitwise_invert(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (mx_dtype_is_inexact(a->dtype)) {
    mx_set_error(MX_ERR_INVALID,
                 "[bitwise_invert] only allowed on integer or boolean types, "
                 "got %s",
                 mx_dtype_name(a->dtype));
    return NULL;
  }
  if (a->dtype == MX_BOOL) return mx_logical_not(a);
  return node(a, MX_UOP_BITWISE_INVERT, a->dtype, 0);
}

mx_array *mx_stop_gradient(mx_array *a) {
  MX_CHECK_NULL1(a);
  return mx_node_make1(&mx_prim_stop_gradient, NULL, 0, &a, 1, a->dtype, a->shape,
                       a->ndim);
}

mx_array *mx_real(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (a->dtype != MX_COMPLEX64) return same(a);
  return node(a, MX_UOP_REAL, MX_FLOAT32, 0);
}

mx_array *mx_imag(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (a->dtype != MX_COMPLEX64) return mx_zeros_like(a);
  return node(a, MX_UOP_IMAG, MX_FLOAT32, 0);
}

mx_array *mx_conjugate(mx_array *a) {
  MX_CHECK_NULL1(a);
  if (a->dtype != MX_COMPLEX64) return same(a);
  return node(a, MX_UOP_CONJUGATE, MX_COMPLEX64, 0);
}
