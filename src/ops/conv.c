/* conv.c: conv1d, conv2d and conv_general (MLX semantics, channels last).
 * Validation follows MLX's messages; two deliberate extensions: groups work
 * for any number of spatial dims (MLX: 1-D and 2-D only), and negative
 * padding crops the dilated input inside the kernel (MLX slices the
 * undilated input, which is the same when input_dilation is 1). NULL
 * per-dim arrays in conv_general mean the defaults (stride 1, padding 0,
 * dilation 1). */
#include <stdio.h>
#include <string.h>

#include "../primitives/conv.h"

static void ints_text(char *buf, size_t n, const int *v, int k) {
  size_t q = 0;
  q += (size_t)snprintf(buf + q, n - q, "(");
  for (int i = 0; i < k && q < n; i++)
    q += (size_t)snprintf(buf + q, n - q, i ? ",%d" : "%d", v[i]);
  if (q < n) snprintf(buf + q, n - q, ")");
}

mx_array *mx_conv_general(mx_array *input, mx_array *weight, int nspatial,
                          const int *stride, const int *padding_lo, const int *padding_hi,
                          const int *kernel_dilation, const int *input_dilation,
                          int groups, bool flip) {
  MX_CHECK_NULL1(input);
  MX_CHECK_NULL1(weight);
  if (nspatial < 1 || nspatial > MX_CONV_MAX_SPATIAL) {
    mx_set_error(MX_ERR_INVALID,
                 "[conv] Only works for inputs with 1-%d spatial dimensions, got %d. The "
                 "inputs must be in the format [N, ..., C_in]",
                 MX_CONV_MAX_SPATIAL, nspatial);
    return NULL;
  }
  char sa[256], sb[256];
  if (!mx_dtype_is_floating(input->dtype)) {
    mx_set_error(MX_ERR_INVALID,
                 "[conv] Invalid input array with type %s. Convolution currently only "
                 "supports floating point types",
                 mx_dtype_name(input->dtype));
    return NULL;
  }
  if (input->ndim != nspatial + 2) {
    mx_set_error(MX_ERR_INVALID,
                 "[conv] Invalid input array with %d dimensions for %dD convolution. "
                 "Expected an array with %d dimensions following the format [N, ..., "
                 "C_in].",
                 input->ndim, nspatial, nspatial + 2);
    return NULL;
  }
  if (weight->ndim != nspatial + 2) {
    mx_set_error(MX_ERR_INVALID,
                 "[conv] Invalid weight array with %d dimensions for %dD convolution. "
                 "Expected an array with %d dimensions following the format [C_out, ..., "
                 "C_in].",
                 weight->ndim, nspatial, nspatial + 2);
    return NULL;
  }
  mx_dtype t = mx_promote_types(input->dtype, weight->dtype);
  if (!mx_dtype_is_floating(t)) {
    mx_set_error(MX_ERR_INVALID,
                 "[conv] Invalid weight array with type %s. Convolution currently only "
                 "supports floating point types",
                 mx_dtype_name(weight->dtype));
    return NULL;
  }
  int cin = input->shape[nspatial + 1], cout = weight->shape[0];
  int cin_g = weight->shape[nspatial + 1];
  if (groups < 1) {
    mx_set_error(MX_ERR_INVALID, "[conv] groups must be positive, got %d.", groups);
    return NULL;
  }
  if (cin % groups != 0) {
    snprintf(sa, sizeof sa, "%s", mx_shape_str(input->shape, input->ndim));
    mx_set_error(MX_ERR_INVALID,
                 "[conv] The input channels must be divisible by the number of groups. "
                 "Got input with shape %s and %d groups.",
                 sa, groups);
    return NULL;
  }
  if (groups > 1 && cout % groups != 0) {
    mx_set_error(MX_ERR_INVALID,
                 "[conv] If groups > 1, the output channels must be divisible by the "
                 "number of groups. Got %d output channels and %d groups.",
                 cout, groups);
    return NULL;
  }
  if ((int64_t)groups * cin_g != cin) {
    snprintf(sa, sizeof sa, "%s", mx_shape_str(input->shape, input->ndim));
    snprintf(sb, sizeof sb, "%s", mx_shape_str(weight->shape, weight->ndim));
    if (groups == 1)
      mx_set_error(MX_ERR_INVALID,
                   "[conv] Expect the input channels in the input and weight array to "
                   "match but got shapes - input: %s and weight: %s",
                   sa, sb);
    else
      mx_set_error(
          MX_ERR_INVALID,
          "[conv] Given groups=%d and weights of shape %s, expected to have %lld "
          "input channels but got %d input channels instead.",
          groups, sb, (long long)groups * cin_g, cin);
    return NULL;
  }

  mx_conv_params p;
  memset(&p, 0, sizeof p);
  p.nspatial = nspatial;
  p.groups = groups;
  p.flip = flip;
  for (int d = 0; d < nspatial; d++) {
    p.stride[d] = stride ? stride[d] : 1;
    p.pad_lo[d] = padding_lo ? padding_lo[d] : 0;
    p.pad_hi[d] = padding_hi ? padding_hi[d] : 0;
    p.kernel_dilation[d] = kernel_dilation ? kernel_dilation[d] : 1;
    p.input_dilation[d] = input_dilation ? input_dilation[d] : 1;
  }
  int osh[MX_MAX_NDIM];
  osh[0] = input->shape[0];
  osh[nspatial + 1] = cout;
  for (int d = 0; d < nspatial; d++) {
    if (p.stride[d] <= 0) {
      ints_text(sa, sizeof sa, p.stride, nspatial);
      mx_set_error(MX_ERR_INVALID,
                   "[conv] Stride sizes must be positive. Got strides %s.", sa);
      return NULL;
    }
    if (p.kernel_dilation[d] <= 0) {
      ints_text(sa, sizeof sa, p.kernel_dilation, nspatial);
      mx_set_error(
          MX_ERR_INVALID,
          "[conv] Kernel dilation sizes must be positive. Got kernel dilation %s.", sa);
      return NULL;
    }
    if (p.input_dilation[d] <= 0) {
      ints_text(sa, sizeof sa, p.input_dilation, nspatial);
      mx_set_error(MX_ERR_INVALID,
                   "[conv] Input dilation sizes must be positive. Got input dilation %s.",
                   sa);
      return NULL;
    }
    int64_t in_d = input->shape[d + 1], k = weight->shape[d + 1];
    int64_t idl = in_d > 0 ? (in_d - 1) * p.input_dilation[d] + 1 : 0;
    int64_t kdl = k > 0 ? (k - 1) * p.kernel_dilation[d] + 1 : 0;
    int64_t span = idl + p.pad_lo[d] + p.pad_hi[d] - kdl;
    int64_t o = span < 0 || k == 0 ? 0 : span / p.stride[d] + 1;
    if (o <= 0 || o > INT32_MAX) {
      snprintf(sa, sizeof sa, "%s", mx_shape_str(input->shape, input->ndim));
      snprintf(sb, sizeof sb, "%s", mx_shape_str(weight->shape, weight->ndim));
      char lo[128], hi[128];
      ints_text(lo, sizeof lo, p.pad_lo, nspatial);
      ints_text(hi, sizeof hi, p.pad_hi, nspatial);
      mx_set_error(MX_ERR_INVALID,
                   "[conv] Spatial dimensions of input after padding cannot be smaller "
                   "than weight spatial dimensions. Got error at axis %d for input with "
                   "shape %s, padding low %s, padding high %s, and weight of shape %s.",
                   d + 1, sa, lo, hi, sb);
      return NULL;
    }
    osh[d + 1] = (int)o;
  }
  int64_t kg = cin_g;
  for (int d = 0; d < nspatial; d++) kg *= weight->shape[d + 1];
  if (kg > INT32_MAX) {
    mx_set_error(MX_ERR_INVALID, "[conv] kernel too large");
    return NULL;
  }
  mx_scope_begin();
  mx_array *ins[2] = {mx_astype(input, t), mx_astype(weight, t)};
  mx_array *r = NULL;
  if (ins[0] && ins[1])
    r = mx_node_make1(&mx_prim_conv, &p, sizeof p, ins, 2, t, osh, nspatial + 2);
  r = mx_keep(r);
  mx_scope_end();
  return r ? mx_scope_adopt(r) : NULL;
}

mx_array *mx_conv1d(mx_array *input, mx_array *weight, int stride, int padding,
                    int dilation, int groups) {
  return mx_conv_general(input, weight, 1, &stride, &padding, &padding, &dilation, NULL,
                         groups, false);
}

mx_array *mx_conv2d(mx_array *input, mx_array *weight, const int stride[2],
                    const int padding[2], const int dilation[2], int groups) {
  return mx_conv_general(input, weight, 2, stride, padding, padding, dilation, NULL,
                         groups, false);
}
