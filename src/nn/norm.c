/* norm.c: RMSNorm, LayerNorm and GroupNorm (MLX's nn.normalization).
 * RMSNorm and LayerNorm call the fused mx_fast_* kernels; GroupNorm writes
 * MLX's two groupings (strided by default, contiguous when
 * pytorch_compatible) with ops. */
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

typedef struct {
  int dims;
  double eps;
} norm_cfg;

typedef struct {
  int num_groups, dims;
  double eps;
  bool pytorch_compatible;
} group_norm_cfg;

static bool check_eps(const char *op, int dims, double eps) {
  if (!(eps > 0.0)) {
    mx_set_error(MX_ERR_INVALID, "[%s] 'eps' must be positive but got %g.", op, eps);
    return false;
  }
  if (dims <= 0) {
    mx_set_error(MX_ERR_INVALID, "[%s] dims must be positive, got %d", op, dims);
    return false;
  }
  return true;
}

/* ---- RMSNorm ---- */

static mx_array *rms_norm_forward(mx_module *m, mx_array *x) {
  norm_cfg *c = mx_nn_data_of(m, "RMSNorm", "nn.RMSNorm");
  if (!c) return NULL;
  return mx_fast_rms_norm(x, mx_module_get(m, "weight"), (float)c->eps);
}

mx_module *mx_nn_rms_norm(int dims, double eps) {
  if (!check_eps("nn.RMSNorm", dims, eps)) return NULL;
  norm_cfg c = {dims, eps};
  mx_module *m = mx_nn_module_make("RMSNorm", &c, sizeof c, rms_norm_forward);
  if (!m) return NULL;
  mx_scope_begin();
  bool ok = mx_nn_set(m, "weight", mx_ones(&dims, 1, MX_FLOAT32));
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

/* ---- LayerNorm ---- */

static mx_array *layer_norm_forward(mx_module *m, mx_array *x) {
  norm_cfg *c = mx_nn_data_of(m, "LayerNorm", "nn.LayerNorm");
  if (!c) return NULL;
  return mx_fast_layer_norm(x, mx_module_get(m, "weight"), mx_module_get(m, "bias"),
                            (float)c->eps);
}

mx_module *mx_nn_layer_norm(int dims, double eps, bool affine, bool bias) {
  if (!check_eps("nn.LayerNorm", dims, eps)) return NULL;
  norm_cfg c = {dims, eps};
  mx_module *m = mx_nn_module_make("LayerNorm", &c, sizeof c, layer_norm_forward);
  if (!m) return NULL;
  bool ok = true;
  mx_scope_begin();
  if (affine) {
    ok = mx_nn_set(m, "weight", mx_ones(&dims, 1, MX_FLOAT32));
    if (ok && bias) ok = mx_nn_set(m, "bias", mx_zeros(&dims, 1, MX_FLOAT32));
  }
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

/* ---- GroupNorm ---- */

/* PyTorch's grouping: group g holds features [g*gs, (g+1)*gs).
 * x: (B, *rest, D) -> (B, G, N*gs) normalised -> back. */
static mx_array *group_norm_pytorch(const group_norm_cfg *c, mx_array *x) {
  const int *sh = mx_array_shape(x);
  int nd = mx_array_ndim(x), B = sh[0], G = c->num_groups, gs = c->dims / G;
  int s4[4] = {B, -1, G, gs}, perm[4] = {0, 2, 1, 3}, s3[3] = {B, G, -1};
  mx_array *t = mx_reshape(x, s4, 4);
  t = mx_reshape(mx_transpose(t, perm, 4), s3, 3);
  t = mx_fast_layer_norm(t, NULL, NULL, (float)c->eps);
  int s4b[4] = {B, G, -1, gs};
  t = mx_transpose(mx_reshape(t, s4b, 4), perm, 4);
  return mx_reshape(t, sh, nd);
}

/* MLX's grouping: feature f belongs to group f % G; the mean and variance
 * run over axis 1 of x: (B, N*D/G, G). */
static mx_array *group_norm_mlx(const group_norm_cfg *c, mx_array *x) {
  const int *sh = mx_array_shape(x);
  int nd = mx_array_ndim(x);
  int s3[3] = {sh[0], -1, c->num_groups}, ax = 1;
  mx_array *t = mx_reshape(x, s3, 3);
  mx_array *mean = mx_mean(t, &ax, 1, true);
  mx_array *var = mx_var(t, &ax, 1, true, 0);
  t = mx_multiply(mx_subtract(t, mean), mx_rsqrt(mx_add(var, mx_nn_scalar(var, c->eps))));
  return mx_reshape(t, sh, nd);
}

static mx_array *group_norm_forward(mx_module *m, mx_array *x) {
  group_norm_cfg *c = mx_nn_data_of(m, "GroupNorm", "nn.GroupNorm");
  if (!c) return NULL;
  int nd = mx_array_ndim(x);
  if (nd < 2 || mx_array_dim(x, -1) != c->dims) {
    mx_set_error(MX_ERR_INVALID, "[nn.GroupNorm] expected input (B, ..., %d), got %s",
                 c->dims, mx_shape_str(mx_array_shape(x), nd));
    return NULL;
  }
  mx_scope_begin();
  mx_array *y = c->pytorch_compatible ? group_norm_pytorch(c, x) : group_norm_mlx(c, x);
  mx_array *w = mx_module_get(m, "weight"), *b = mx_module_get(m, "bias");
  if (w) y = mx_add(mx_multiply(w, y), b);
  return mx_nn_return(y);
}

mx_module *mx_nn_group_norm(int num_groups, int dims, double eps, bool affine,
                            bool pytorch_compatible) {
  if (!check_eps("nn.GroupNorm", dims, eps)) return NULL;
  if (num_groups <= 0 || dims % num_groups != 0) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.GroupNorm] The number of features (%d) must be evenly divisible by "
                 "the number of groups (%d).",
                 dims, num_groups);
    return NULL;
  }
  group_norm_cfg c = {num_groups, dims, eps, pytorch_compatible};
  mx_module *m = mx_nn_module_make("GroupNorm", &c, sizeof c, group_norm_forward);
  if (!m) return NULL;
  bool ok = true;
  mx_scope_begin();
  if (affine) /* MLX's order: bias, then weight */
    ok = mx_nn_set(m, "bias", mx_zeros(&dims, 1, MX_FLOAT32)) &&
         mx_nn_set(m, "weight", mx_ones(&dims, 1, MX_FLOAT32));
  mx_scope_end();
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}
