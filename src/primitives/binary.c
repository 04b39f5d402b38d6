/* binary.c: table entries of the binary family. CUDA: add, subtract and
 * multiply (src/backend/cuda/cuda_binary.c); other op codes report "no CUDA
 * kernel"; select and all_compare have none yet. */
#include "binary.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_binary = {
    .name = "binary",
    .eval_cpu = mx_cpu_binary,
    .eval_cuda = MX_CUDA_FN(mx_cuda_binary),
    .vjp = mx_vjp_binary,
    .jvp = mx_jvp_binary,
    .vmap = mx_vmap_binary,
};

const mx_prim mx_prim_select = {
    .name = "select",
    .eval_cpu = mx_cpu_select,
    .eval_cuda = NULL,
    .vjp = mx_vjp_select,
    .jvp = mx_jvp_select,
    .vmap = mx_vmap_select,
};

const mx_prim mx_prim_all_compare = {
    .name = "all_compare",
    .eval_cpu = mx_cpu_all_compare,
    .eval_cuda = NULL,
    .vmap = mx_vmap_all_compare,
};

static const char *const k_names[MX_BOP_COUNT] = {
    "add",        "subtract",      "multiply",    "divide",      "floor_divide",
    "remainder",  "power",         "maximum",     "minimum",     "arctan2",
    "logaddexp",  "equal",         "not_equal",   "less",        "less_equal",
    "greater",    "greater_equal", "logical_and", "logical_or",  "bitwise_and",
    "bitwise_or", "bitwise_xor",   "left_shift",  "right_shift", "isclose"};

const char *mx_binary_op_name(int op) {
  return op >= 0 && op < MX_BOP_COUNT ? k_names[op] : "binary";
}

bool mx_binary_op_is_predicate(int op) {
  return (op >= MX_BOP_EQUAL && op <= MX_BOP_LOGICAL_OR) || op == MX_BOP_ISCLOSE;
}
