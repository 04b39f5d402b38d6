/* unary.c: table entries of the unary family. The CUDA slots stay NULL until
 * the CUDA backend writes mx_cuda_unary / mx_cuda_stop_gradient. */
#include "unary.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_unary = {
    .name = "unary",
    .eval_cpu = mx_cpu_unary,
    .eval_cuda = NULL,
    .vjp = mx_vjp_unary,
    .jvp = mx_jvp_unary,
    .vmap = mx_vmap_unary,
};

const mx_prim mx_prim_stop_gradient = {
    .name = "stop_gradient",
    .eval_cpu = mx_cpu_stop_gradient,
    .eval_cuda = NULL,
    .vjp = mx_vjp_zero,
    .jvp = mx_jvp_zero,
    .vmap = mx_vmap_stop_gradient,
};

static const char *const k_names[MX_UOP_COUNT] = {
    "abs",      "negative",    "sign",           "exp",      "expm1",
    "log",      "log1p",       "log2",           "log10",    "sqrt",
    "rsqrt",    "square",      "reciprocal",     "sin",      "cos",
    "tan",      "arcsin",      "arccos",         "arctan",   "sinh",
    "cosh",     "tanh",        "arcsinh",        "arccosh",  "arctanh",
    "erf",      "erfinv",      "sigmoid",        "floor",    "ceil",
    "round",    "isnan",       "isinf",          "isfinite", "isposinf",
    "isneginf", "logical_not", "bitwise_invert", "real",     "imag",
    "conjugate"};

const char *mx_unary_op_name(int op) {
  return op >= 0 && op < MX_UOP_COUNT ? k_names[op] : "unary";
}
