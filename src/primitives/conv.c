/* conv.c: table entry of the convolution primitive. */
#include "conv.h"

const mx_prim mx_prim_conv = {.name = "conv", .eval_cpu = mx_cpu_conv};
