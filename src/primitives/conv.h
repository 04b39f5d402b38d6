/* conv.h: the convolution primitive (MLX's channels-last layout):
 *   input (N, *spatial, C_in), weight (C_out, *kernel, C_in / groups)
 *   -> out (N, *out_spatial, C_out)
 * with, per spatial dim d, the input dilated by input_dilation[d] (zeros
 * between samples), padded by pad_lo[d] / pad_hi[d] (negative values crop),
 * the kernel dilated by kernel_dilation[d], and stride[d]:
 *   out[d] = (dilated_in + lo + hi - dilated_kernel) / stride + 1.
 * flip turns the cross-correlation into a true convolution (kernel reversed
 * along every spatial dim). Input and weight have the output dtype. */
#ifndef MX_PRIM_CONV_H
#define MX_PRIM_CONV_H

#include "prim_util.h"

#define MX_CONV_MAX_SPATIAL (MX_MAX_NDIM - 2)

typedef struct {
  int nspatial;
  int stride[MX_CONV_MAX_SPATIAL];
  int pad_lo[MX_CONV_MAX_SPATIAL];
  int pad_hi[MX_CONV_MAX_SPATIAL];
  int kernel_dilation[MX_CONV_MAX_SPATIAL];
  int input_dilation[MX_CONV_MAX_SPATIAL];
  int groups;
  bool flip;
} mx_conv_params;

extern const mx_prim mx_prim_conv;

mx_status mx_cpu_conv(mx_node *n, mx_array **in, mx_array **out);

#endif
