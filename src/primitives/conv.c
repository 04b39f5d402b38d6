/* conv.c: table entry of the convolution primitive. */
#include "conv.h"

#include "../transforms/rules.h"

const mx_prim mx_prim_conv = {.name = "conv",
                              .eval_cpu = mx_cpu_conv,
                              .vjp = mx_vjp_conv,
                              .jvp = mx_jvp_conv,
                              .vmap = mx_vmap_conv};
