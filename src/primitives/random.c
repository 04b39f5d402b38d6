/* random.c: table entries of the random primitives. */
#include "random.h"

const mx_prim mx_prim_random_bits = {.name = "random_bits",
                                     .eval_cpu = mx_cpu_random_bits};
const mx_prim mx_prim_random = {.name = "random", .eval_cpu = mx_cpu_random};
const mx_prim mx_prim_random_categorical = {.name = "random_categorical",
                                            .eval_cpu = mx_cpu_random_categorical};
const mx_prim mx_prim_random_permutation = {.name = "random_permutation",
                                            .eval_cpu = mx_cpu_random_permutation};
