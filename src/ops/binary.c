/* binary.c: elementwise binary ops (add ... right_shift, isclose,
 * allclose, array_equal, where, clip) with MLX's rules: the operands are
 * cast to mx_promote_types of their dtypes and broadcast numpy-style (as
 * broadcast views, so the kernel sees one dtype and one shape); divide,
 * arctan2 and logaddexp compute in at least float32; comparisons, logical
 * ops and isclose give bool; logical_and/or take any dtype (cast to bool);
 * bitwise ops take integers or bool, shifts of bool compute in uint8.
 * Integer floor_divide/remainder follow Python (remainder has the divisor's
 * sign); an integer zero divisor gives 0 for both. */
#include <string.h>

#include "../primitives/binary.h"

typedef enum {
  R_PROMOTE, /* promote_types(a, b) */
  R_FLOAT,   /* at least float32 */
  R_BOOL,    /* both cast to bool */
  R_INTEGER, /* promote; integer or bool only */
  R_SHIFT    /* promote; integer or bool only; bool computes in uint8 */
} rule;

typedef struct {
  rule r;
  bool complex_ok;
} op_info;

static const op_info k_info[MX_BOP_COUNT] = {
    [MX_BOP_ADD] = {R_PROMOTE, true},
    [MX_BOP_SUBTRACT] = {R_PROMOTE, true},
    [MX_BOP_MULTIPLY] = {R_PROMOTE, true},
    [MX_BOP_DIVIDE] = {R_FLOAT, true},
    [MX_BOP_FLOOR_DIVIDE] = {R_PROMOTE, false},
    [MX_BOP_REMAINDER] = {R_PROMOTE, false},
    [MX_BOP_POWER] = {R_PROMOTE, true},
    [MX_BOP_MAXIMUM] = {R_PROMOTE, false},
    [MX_BOP_MINIMUM] = {R_PROMOTE, false},
    [MX_BOP_ARCTAN2] = {R_FLOAT, false},
    [MX_BOP_LOGADDEXP] = {R_FLOAT, false},
    [MX_BOP_EQUAL] = {R_PROMOTE, true},
    [MX_BOP_NOT_EQUAL] = {R_PROMOTE, true},
    [MX_BOP_LESS] = {R_PROMOTE, false},
    [MX_BOP_LESS_EQUAL] = {R_PROMOTE, false},
    [MX_BOP_GREATER] = {R_PROMOTE, false},
    [MX_BOP_GREATER_EQUAL] = {R_PROMOTE, false},
    [MX_BOP_LOGICAL_AND] = {R_BOOL, true},
    [MX_BOP_LOGICAL_OR] = {R_BOOL, true},
    [MX_BOP_BITWISE_AND] = {R_INTEGER, false},
    [MX_BOP_BITWISE_OR] = {R_INTEGER, false},
    [MX_BOP_BITWISE_XOR] = {R_INTEGER, false},
    [MX_BOP_LEFT_SHIFT] = {R_SHIFT, false},
    [MX_BOP_RIGHT_SHIFT] = {R_SHIFT, false},
    [MX_BOP_ISCLOSE] = {R_PROMOTE, true},
};

/* The compute dtype of op on (a, b), or -1 after recording an error. */
static int compute_dtype(int op, mx_dtype a, mx_dtype b) {
  const char *name = mx_binary_op_name(op);
  const op_info *info = &k_info[op];
  mx_dtype t = mx_promote_types(a, b);
  switch (info->r) {
    case R_BOOL:
      return MX_BOOL;
    case R_FLOAT:
      if (!mx_dtype_is_inexact(t)) t = MX_FLOAT32;
      break;
    case R_INTEGER:
    case R_SHIFT:
      if (!mx_dtype_is_integer(t) && t != MX_BOOL) {
        mx_set_error(MX_ERR_INVALID,
                     "[%s] only allowed on integer or boolean types, got %s "
                     "and %s",
                     name, mx_dtype_name(a), mx_dtype_name(b));
        return -1;
      }
      if (info->r == R_SHIFT && t == MX_BOOL) t = MX_UINT8;
      break;
    default:
      break;
  }
  if (t == MX_COMPLEX64 && !info->complex_ok) {
    mx_set_error(MX_ERR_INVALID, "[%s] not supported for complex64", name);
    return -1;
  }
  return (int)t;
}

static bool common_shape(const char *name, mx_array *a, mx_array *b, int *shape,
                         int *nd) {
  if (mx_broadcast_shapes(a->shape, a->ndim, b->shape, b->ndim, shape, nd)) return true;
  mx_set_error(MX_ERR_INVALID, "[%s] shapes %s and %s cannot be broadcast", name,
               mx_shape_str(a->shape, a->ndim), mx_shape_str(b->shape, b->ndim));
  return false;
}

static bool same_shape(mx_array *a, const int *shape, int nd) {
  return a->ndim == nd && memcmp(a->shape, shape, (size_t)nd * sizeof(int)) == 0;
}

/* Cast a and b to t, broadcast them to shape, and build prim on them. */
static mx_array *make(const mx_prim *prim, const mx_binary_params *p, mx_array *a,
                      mx_array *b, mx_dtype t, const int *shape, int nd, mx_dtype out,
                      const int *oshape, int ond) {
  if (a->dtype == t && b->dtype == t && same_shape(a, shape, nd) &&
      same_shape(b, shape, nd)) {
    mx_array *in[2] = {a, b};
    return mx_node_make1(prim, p, sizeof *p, in, 2, out, oshape, ond);
  }
  mx_scope_begin();
  mx_array *in[2] = {mx_broadcast_to(mx_astype(a, t), shape, nd),
                     mx_broadcast_to(mx_astype(b, t), shape, nd)};
  mx_array *r = NULL;
  if (in[0] && in[1])
    r = mx_keep(mx_node_make1(prim, p, sizeof *p, in, 2, out, oshape, ond));
  mx_scope_end();
  return mx_scope_adopt(r);
}

static mx_array *binary(int op, mx_array *a, mx_array *b, double rtol, double atol,
                        bool equal_nan) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  const char *name = mx_binary_op_name(op);
  int shape[MX_MAX_NDIM], nd;
  if (!common_shape(name, a, b, shape, &nd)) return NULL;
  int t = compute_dtype(op, a->dtype, b->dtype);
  if (t < 0) return NULL;
  mx_binary_params p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.equal_nan = equal_nan;
  p.rtol = rtol;
  p.atol = atol;
  mx_dtype out = mx_binary_op_is_predicate(op) ? MX_BOOL : (mx_dtype)t;
  return make(&mx_prim_binary, &p, a, b, (mx_dtype)t, shape, nd, out, shape, nd);
}

#define BINARY_OP(name, OP) \
  mx_array *mx_##name(mx_array *a, mx_array *b) { return binary(OP, a, b, 0, 0, false); }

BINARY_OP(add, MX_BOP_ADD)
BINARY_OP(subtract, MX_BOP_SUBTRACT)
BINARY_OP(multiply, MX_BOP_MULTIPLY)
BINARY_OP(divide, MX_BOP_DIVIDE)
BINARY_OP(floor_divide, MX_BOP_FLOOR_DIVIDE)
BINARY_OP(remainder, MX_BOP_REMAINDER)
BINARY_OP(power, MX_BOP_POWER)
BINARY_OP(maximum, MX_BOP_MAXIMUM)
BINARY_OP(minimum, MX_BOP_MINIMUM)
BINARY_OP(arctan2, MX_BOP_ARCTAN2)
BINARY_OP(logaddexp, MX_BOP_LOGADDEXP)
BINARY_OP(equal, MX_BOP_EQUAL)
BINARY_OP(not_equal, MX_BOP_NOT_EQUAL)
BINARY_OP(less, MX_BOP_LESS)
BINARY_OP(less_equal, MX_BOP_LESS_EQUAL)
BINARY_OP(greater, MX_BOP_GREATER)
BINARY_OP(greater_equal, MX_BOP_GREATER_EQUAL)
BINARY_OP(logical_and, MX_BOP_LOGICAL_AND)
BINARY_OP(logical_or, MX_BOP_LOGICAL_OR)
BINARY_OP(bitwise_and, MX_BOP_BITWISE_AND)
BINARY_OP(bitwise_or, MX_BOP_BITWISE_OR)
BINARY_OP(bitwise_xor, MX_BOP_BITWISE_XOR)
BINARY_OP(left_shift, MX_BOP_LEFT_SHIFT)
BINARY_OP(right_shift, MX_BOP_RIGHT_SHIFT)

mx_array *mx_isclose(mx_array *a, mx_array *b, double rtol, double atol, bool equal_nan) {
  return binary(MX_BOP_ISCLOSE, a, b, rtol, atol, equal_nan);
}

/* all(isclose(a, b)) in one pass, as a 0-d bool. */
mx_array *mx_allclose(mx_array *a, mx_array *b, double rtol, double atol,
                      bool equal_nan) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  int shape[MX_MAX_NDIM], nd;
  if (!common_shape("allclose", a, b, shape, &nd)) return NULL;
  int t = compute_dtype(MX_BOP_ISCLOSE, a->dtype, b->dtype);
  if (t < 0) return NULL;
  mx_binary_params p;
  memset(&p, 0, sizeof p);
  p.op = MX_BOP_ISCLOSE;
  p.equal_nan = equal_nan;
  p.rtol = rtol;
  p.atol = atol;
  return make(&mx_prim_all_compare, &p, a, b, (mx_dtype)t, shape, nd, MX_BOOL, NULL, 0);
}

/* Different shapes are not equal (no broadcasting, no error), as MLX. */
mx_array *mx_array_equal(mx_array *a, mx_array *b, bool equal_nan) {
  MX_CHECK_NULL1(a);
  MX_CHECK_NULL1(b);
  if (!same_shape(a, b->shape, b->ndim)) return mx_array_scalar_bool(false);
  mx_dtype t = mx_promote_types(a->dtype, b->dtype);
  mx_binary_params p;
  memset(&p, 0, sizeof p);
  p.op = MX_BOP_EQUAL;
  p.equal_nan = equal_nan && mx_dtype_is_inexact(t);
  return make(&mx_prim_all_compare, &p, a, b, t, a->shape, a->ndim, MX_BOOL, NULL, 0);
}

mx_array *mx_where(mx_array *cond, mx_array *x, mx_array *y) {
  MX_CHECK_NULL1(cond);
  MX_CHECK_NULL1(x);
  MX_CHECK_NULL1(y);
  int s1[MX_MAX_NDIM], n1, shape[MX_MAX_NDIM], nd;
  if (!mx_broadcast_shapes(cond->shape, cond->ndim, x->shape, x->ndim, s1, &n1) ||
      !mx_broadcast_shapes(s1, n1, y->shape, y->ndim, shape, &nd)) {
    mx_set_error(MX_ERR_INVALID, "[where] shapes %s, %s and %s cannot be broadcast",
                 mx_shape_str(cond->shape, cond->ndim), mx_shape_str(x->shape, x->ndim),
                 mx_shape_str(y->shape, y->ndim));
    return NULL;
  }
  mx_dtype t = mx_promote_types(x->dtype, y->dtype);
  mx_scope_begin();
  mx_array *in[3] = {mx_broadcast_to(mx_astype(cond, MX_BOOL), shape, nd),
                     mx_broadcast_to(mx_astype(x, t), shape, nd),
                     mx_broadcast_to(mx_astype(y, t), shape, nd)};
  mx_array *r = NULL;
  if (in[0] && in[1] && in[2])
    r = mx_keep(mx_node_make1(&mx_prim_select, NULL, 0, in, 3, t, shape, nd));
  mx_scope_end();
  return mx_scope_adopt(r);
}

/* maximum(a, lo) then minimum(., hi), as MLX (dtypes promote). */
mx_array *mx_clip(mx_array *a, mx_array *lo, mx_array *hi) {
  MX_CHECK_NULL1(a);
  if (!lo && !hi) {
    mx_set_error(MX_ERR_INVALID, "[clip] at most one of lo and hi may be NULL");
    return NULL;
  }
  mx_scope_begin();
  mx_array *r = a;
  if (lo) r = mx_maximum(r, lo);
  if (hi) r = mx_minimum(r, hi);
  r = mx_keep(r);
  mx_scope_end();
  return mx_scope_adopt(r);
}
