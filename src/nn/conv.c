/* conv.c: Conv1d and Conv2d layers (channels last, as MLX), weights
 * (C_out, K..., C_in / groups) ~ U(+-1/sqrt(C_in * prod K)), zero bias. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

typedef struct {
  int nspatial;
  int stride[2], padding[2], dilation[2];
  int groups;
} conv_cfg;

static mx_array *conv_forward(mx_module *m, mx_array *x) {
  conv_cfg *c = m ? m->data : NULL;
  if (!c || (strcmp(m->type, "Conv1d") != 0 && strcmp(m->type, "Conv2d") != 0)) {
    mx_set_error(MX_ERR_INVALID, "[nn.Conv] not a convolution module");
    return NULL;
  }
  mx_array *w = mx_module_get(m, "weight"), *b = mx_module_get(m, "bias");
  if (!w) {
    mx_set_error(MX_ERR_INVALID, "[nn.%s] missing weight", m->type);
    return NULL;
  }
  mx_scope_begin();
  mx_array *y =
      c->nspatial == 1
          ? mx_conv1d(x, w, c->stride[0], c->padding[0], c->dilation[0], c->groups)
          : mx_conv2d(x, w, c->stride, c->padding, c->dilation, c->groups);
  if (b) y = mx_add(y, b);
  return mx_nn_return(y);
}

static mx_module *conv_new(const char *type, int nspatial, int in_channels,
                           int out_channels, const int *kernel, const int *stride,
                           const int *padding, const int *dilation, int groups,
                           bool bias) {
  bool bad = in_channels <= 0 || out_channels <= 0 || groups <= 0;
  for (int i = 0; i < nspatial; i++)
    bad |= kernel[i] <= 0 || stride[i] <= 0 || padding[i] < 0 || dilation[i] <= 0;
  if (bad) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.%s] invalid channels, kernel, stride, padding, "
                 "dilation or groups",
                 type);
    return NULL;
  }
  if (in_channels % groups != 0) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.%s] The number of input channels (%d) must be divisible by the "
                 "number of groups (%d)",
                 type, in_channels, groups);
    return NULL;
  }
  conv_cfg c = {.nspatial = nspatial, .groups = groups};
  int wshape[4], nd = 0;
  double fan = in_channels;
  wshape[nd++] = out_channels;
  for (int i = 0; i < nspatial; i++) {
    c.stride[i] = stride[i];
    c.padding[i] = padding[i];
    c.dilation[i] = dilation[i];
    wshape[nd++] = kernel[i];
    fan *= kernel[i];
  }
  wshape[nd++] = in_channels / groups;
  mx_module *m = mx_nn_module_make(type, &c, sizeof c, conv_forward);
  if (!m) return NULL;
  double scale = sqrt(1.0 / fan);
  mx_scope_begin();
  bool ok = mx_nn_set(m, "weight",
                      mx_random_uniform(-scale, scale, wshape, nd, MX_FLOAT32, NULL));
  if (ok && bias) ok = mx_nn_set(m, "bias", mx_zeros(&out_channels, 1, MX_FLOAT32));
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

mx_module *mx_nn_conv1d(int in_channels, int out_channels, int kernel_size, int stride,
                        int padding, int dilation, int groups, bool bias) {
  return conv_new("Conv1d", 1, in_channels, out_channels, &kernel_size, &stride, &padding,
                  &dilation, groups, bias);
}

mx_module *mx_nn_conv2d(int in_channels, int out_channels, const int kernel_size[2],
                        const int stride[2], const int padding[2], const int dilation[2],
                        int groups, bool bias) {
  static const int one[2] = {1, 1}, zero[2] = {0, 0};
  if (!kernel_size) {
    mx_set_error(MX_ERR_INVALID, "[nn.Conv2d] kernel_size is required");
    return NULL;
  }
  return conv_new("Conv2d", 2, in_channels, out_channels, kernel_size,
                  stride ? stride : one, padding ? padding : zero,
                  dilation ? dilation : one, groups, bias);
}
