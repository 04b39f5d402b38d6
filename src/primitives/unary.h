/* unary.h: the elementwise unary family. One primitive (`unary`) carries an
 * op code so every op shares one kernel body; stop_gradient has its own
 * primitive so autodiff can recognise it.
 *
 * Dtype contract (set up by src/ops/unary.c): the kernel's input already has
 * the compute dtype (math ops on integers were cast to float32 first), and
 * the output has the input's dtype except:
 *   - isnan/isinf/isfinite/isposinf/isneginf and logical_not: bool
 *   - abs, real, imag of complex64: float32 */
#ifndef MX_PRIM_UNARY_H
#define MX_PRIM_UNARY_H

#include "prim_util.h"

typedef enum {
  MX_UOP_ABS,
  MX_UOP_NEGATIVE,
  MX_UOP_SIGN,
  MX_UOP_EXP,
  MX_UOP_EXPM1,
  MX_UOP_LOG,
  MX_UOP_LOG1P,
  MX_UOP_LOG2,
  MX_UOP_LOG10,
  MX_UOP_SQRT,
  MX_UOP_RSQRT,
  MX_UOP_SQUARE,
  MX_UOP_RECIPROCAL,
  MX_UOP_SIN,
  MX_UOP_COS,
  MX_UOP_TAN,
  MX_UOP_ARCSIN,
  MX_UOP_ARCCOS,
  MX_UOP_ARCTAN,
  MX_UOP_SINH,
  MX_UOP_COSH,
  MX_UOP_TANH,
  MX_UOP_ARCSINH,
  MX_UOP_ARCCOSH,
  MX_UOP_ARCTANH,
  MX_UOP_ERF,
  MX_UOP_ERFINV,
  MX_UOP_SIGMOID,
  MX_UOP_FLOOR,
  MX_UOP_CEIL,
  MX_UOP_ROUND, /* params.decimals */
  MX_UOP_ISNAN,
  MX_UOP_ISINF,
  MX_UOP_ISFINITE,
  MX_UOP_ISPOSINF,
  MX_UOP_ISNEGINF,
  MX_UOP_LOGICAL_NOT,
  MX_UOP_BITWISE_INVERT,
  MX_UOP_REAL,
  MX_UOP_IMAG,
  MX_UOP_CONJUGATE,
  MX_UOP_COUNT
} mx_unary_op;

/* Plain data; zero-filled before use so nodes compare bytewise. */
typedef struct {
  int op;       /* mx_unary_op */
  int decimals; /* round only */
} mx_unary_params;

extern const mx_prim mx_prim_unary;
extern const mx_prim mx_prim_stop_gradient;

/* Name of an op code ("exp"), for messages. */
const char *mx_unary_op_name(int op);

mx_status mx_cpu_unary(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_stop_gradient(mx_node *n, mx_array **in, mx_array **out);
/* For the CUDA backend (not written yet: eval_cuda stays NULL). */
mx_status mx_cuda_unary(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_stop_gradient(mx_node *n, mx_array **in, mx_array **out);

#endif
