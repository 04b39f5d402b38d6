/* init.c: MLX's initialisers (mlx.nn.init) over mx/random.h: constant,
 * normal, uniform, identity, Glorot and He (fan_in / fan_out). */
#include <math.h>

#include "nn_internal.h"

bool mx_nn_init_fans(const int *shape, int ndim, int64_t *fan_in, int64_t *fan_out) {
  if (ndim < 2 || !shape) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.init] Glorot / He initialization requires at least 2 dimensional "
                 "input but input with %d dimensions.",
                 ndim);
    return false;
  }
  int64_t receptive = 1;
  for (int i = 1; i < ndim - 1; i++) receptive *= shape[i];
  *fan_in = (int64_t)shape[ndim - 1] * receptive;
  *fan_out = (int64_t)shape[0] * receptive;
  return true;
}

mx_array *mx_nn_init_constant(const int *shape, int ndim, double value, mx_dtype t) {
  return mx_full(shape, ndim, value, t);
}

mx_array *mx_nn_init_normal(const int *shape, int ndim, double mean, double std,
                            mx_dtype t, mx_array *key) {
  return mx_random_normal(shape, ndim, t, mean, std, key);
}

mx_array *mx_nn_init_uniform(const int *shape, int ndim, double low, double high,
                             mx_dtype t, mx_array *key) {
  return mx_random_uniform(low, high, shape, ndim, t, key);
}

mx_array *mx_nn_init_identity(const int *shape, int ndim, mx_dtype t) {
  if (ndim != 2 || !shape || shape[0] != shape[1]) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.init.identity] The input array must be a square "
                 "matrix but got shape %s.",
                 shape ? mx_shape_str(shape, ndim) : "NULL");
    return NULL;
  }
  return mx_eye(shape[0], -1, 0, t);
}

static bool glorot_fans(const int *shape, int ndim, int64_t *fi, int64_t *fo) {
  if (!mx_nn_init_fans(shape, ndim, fi, fo)) return false;
  if (*fi + *fo <= 0) {
    mx_set_error(MX_ERR_INVALID, "[nn.init] fans of an empty shape");
    return false;
  }
  return true;
}

/* The fan a He initialiser uses, or 0 with an error. */
static double he_fan(const int *shape, int ndim, mx_fan_mode mode) {
  int64_t fi, fo;
  if (!mx_nn_init_fans(shape, ndim, &fi, &fo)) return 0;
  if (mode != MX_FAN_IN && mode != MX_FAN_OUT) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.init] Invalid mode: %d. Valid modes are: fan_in, fan_out",
                 (int)mode);
    return 0;
  }
  double fan = (double)(mode == MX_FAN_IN ? fi : fo);
  if (fan <= 0) mx_set_error(MX_ERR_INVALID, "[nn.init] fan of an empty shape");
  return fan;
}

mx_array *mx_nn_init_glorot_normal(const int *shape, int ndim, double gain, mx_dtype t,
                                   mx_array *key) {
  int64_t fi, fo;
  if (!glorot_fans(shape, ndim, &fi, &fo)) return NULL;
  double std = gain * sqrt(2.0 / (double)(fi + fo));
  return mx_random_normal(shape, ndim, t, 0.0, std, key);
}

mx_array *mx_nn_init_glorot_uniform(const int *shape, int ndim, double gain, mx_dtype t,
                                    mx_array *key) {
  int64_t fi, fo;
  if (!glorot_fans(shape, ndim, &fi, &fo)) return NULL;
  double limit = gain * sqrt(6.0 / (double)(fi + fo));
  return mx_random_uniform(-limit, limit, shape, ndim, t, key);
}

mx_array *mx_nn_init_he_normal(const int *shape, int ndim, mx_fan_mode mode, double gain,
                               mx_dtype t, mx_array *key) {
  double fan = he_fan(shape, ndim, mode);
  if (fan <= 0) return NULL;
  return mx_random_normal(shape, ndim, t, 0.0, gain / sqrt(fan), key);
}

mx_array *mx_nn_init_he_uniform(const int *shape, int ndim, mx_fan_mode mode, double gain,
                                mx_dtype t, mx_array *key) {
  double fan = he_fan(shape, ndim, mode);
  if (fan <= 0) return NULL;
  double limit = gain * sqrt(3.0 / fan);
  return mx_random_uniform(-limit, limit, shape, ndim, t, key);
}
