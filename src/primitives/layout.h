/* layout.h: primitives that change dtype or memory layout: astype (convert),
 * copy (contiguous copy), view (bit reinterpretation). */
#ifndef MX_PRIM_LAYOUT_H
#define MX_PRIM_LAYOUT_H

#include "prim_util.h"

extern const mx_prim mx_prim_astype;
extern const mx_prim mx_prim_copy;
extern const mx_prim mx_prim_view;

mx_status mx_cpu_astype(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_copy(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_view(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_astype(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cuda_copy(mx_node *n, mx_array **in, mx_array **out);

#endif
