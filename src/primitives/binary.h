/* binary.h: the elementwise binary family: one primitive (`binary`) with an
 * op code, `select` (where) and `all_compare` (allclose / array_equal reduced
 * to one 0-d bool without needing the reduction family).
 *
 * Dtype contract (set up by src/ops/binary.c): both inputs already have the
 * common compute dtype and the output shape (broadcast views); the output
 * has that dtype, or bool for comparisons, logical ops and isclose. */
#ifndef MX_PRIM_BINARY_H
#define MX_PRIM_BINARY_H

#include "prim_util.h"

typedef enum {
  MX_BOP_ADD,
  MX_BOP_SUBTRACT,
  MX_BOP_MULTIPLY,
  MX_BOP_DIVIDE,
  MX_BOP_FLOOR_DIVIDE,
  MX_BOP_REMAINDER,
  MX_BOP_POWER,
  MX_BOP_MAXIMUM,
  MX_BOP_MINIMUM,
  MX_BOP_ARCTAN2,
  MX_BOP_LOGADDEXP,
  MX_BOP_EQUAL, /* params.equal_nan */
  MX_BOP_NOT_EQUAL,
  MX_BOP_LESS,
  MX_BOP_LESS_EQUAL,
  MX_BOP_GREATER,
  MX_BOP_GREATER_EQUAL,
  MX_BOP_LOGICAL_AND,
  MX_BOP_LOGICAL_OR,
  MX_BOP_BITWISE_AND,
  MX_BOP_BITWISE_OR,
  MX_BOP_BITWISE_XOR,
  MX_BOP_LEFT_SHIFT,
  MX_BOP_RIGHT_SHIFT,
  MX_BOP_ISCLOSE, /* params.rtol, atol, equal_nan */
  MX_BOP_COUNT
} mx_binary_op;

/* Plain data; zero-filled before use so nodes compare bytewise. */
typedef struct {
  int op; /* mx_binary_op */
  int equal_nan;
  double rtol, atol;
} mx_binary_params;

extern const mx_prim mx_prim_binary;
/* where(cond, x, y): inputs cond (bool), x, y (same dtype), all broadcast to
 * the output shape. */
extern const mx_prim mx_prim_select;
/* all(op(a, b)) for op EQUAL or ISCLOSE (mx_binary_params): a 0-d bool. */
extern const mx_prim mx_prim_all_compare;

const char *mx_binary_op_name(int op);
/* True for ops whose output is bool. */
bool mx_binary_op_is_predicate(int op);

mx_status mx_cpu_binary(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_select(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_all_compare(mx_node *n, mx_array **in, mx_array **out);
/* For the CUDA backend (not written yet: eval_cuda stays NULL). */
mx_status mx_cuda_binary(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_select(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_all_compare(mx_node *n, mx_array **in, mx_array **out);

#endif
