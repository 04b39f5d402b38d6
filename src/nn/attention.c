/* attention.c: RoPE (a module around mx_fast_rope) and MLX's
 * MultiHeadAttention (query/key/value/out projections around
 * mx_fast_scaled_dot_product_attention), plus the additive causal mask. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "nn_internal.h"

/* ---- RoPE ---- */

typedef struct {
  int dims;
  bool traditional;
  float base, scale;
} rope_cfg;

mx_array *mx_nn_rope_forward(mx_module *m, mx_array *x, int offset) {
  rope_cfg *c = mx_nn_data_of(m, "RoPE", "nn.RoPE");
  if (!c) return NULL;
  return mx_fast_rope(x, c->dims, c->traditional, c->base, c->scale, offset, NULL);
}

static mx_array *rope_forward(mx_module *m, mx_array *x) {
  return mx_nn_rope_forward(m, x, 0);
}

mx_module *mx_nn_rope(int dims, bool traditional, float base, float scale) {
  if (dims <= 0 || dims % 2 != 0) {
    mx_set_error(MX_ERR_INVALID, "[nn.RoPE] dims must be positive and even, got %d",
                 dims);
    return NULL;
  }
  rope_cfg c = {dims, traditional, base, scale};
  return mx_nn_module_make("RoPE", &c, sizeof c, rope_forward);
}

/* ---- MultiHeadAttention ---- */

typedef struct {
  int num_heads;
} mha_cfg;

/* x: (B, L, H*d) -> (B, H, L, d) */
static mx_array *split_heads(mx_array *x, int heads) {
  int sh[2] = {heads, -1}, perm[4] = {0, 2, 1, 3};
  return mx_transpose(mx_unflatten(x, -1, sh, 2), perm, 4);
}

mx_array *mx_nn_multi_head_attention_forward(mx_module *m, mx_array *queries,
                                             mx_array *keys, mx_array *values,
                                             mx_array *mask) {
  mha_cfg *c = mx_nn_data_of(m, "MultiHeadAttention", "nn.MultiHeadAttention");
  if (!c) return NULL;
  MX_CHECK_NULL1(queries);
  MX_CHECK_NULL1(keys);
  MX_CHECK_NULL1(values);
  if (mx_array_ndim(queries) != 3 || mx_array_ndim(keys) != 3 ||
      mx_array_ndim(values) != 3) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.MultiHeadAttention] queries, keys and values must be (B, L, D)");
    return NULL;
  }
  mx_scope_begin();
  mx_array *q = mx_module_forward(mx_module_child(m, "query_proj"), queries);
  mx_array *k = mx_module_forward(mx_module_child(m, "key_proj"), keys);
  mx_array *v = mx_module_forward(mx_module_child(m, "value_proj"), values);
  q = split_heads(q, c->num_heads);
  k = split_heads(k, c->num_heads);
  v = split_heads(v, c->num_heads);
  mx_array *o = NULL;
  if (q && k && v) {
    float scale = (float)sqrt(1.0 / mx_array_dim(q, -1));
    o = mx_fast_scaled_dot_product_attention(
        q, k, v, scale, mask ? MX_SDPA_MASK_ARRAY : MX_SDPA_MASK_NONE, mask, NULL);
  }
  // o: (B, H, Lq, dv) -> (B, Lq, H*dv)
  int perm[4] = {0, 2, 1, 3};
  o = mx_flatten(mx_transpose(o, perm, 4), -2, -1);
  o = mx_module_forward(mx_module_child(m, "out_proj"), o);
  return mx_nn_return(o);
}

static mx_array *mha_self_forward(mx_module *m, mx_array *x) {
  return mx_nn_multi_head_attention_forward(m, x, x, x, NULL);
}

mx_module *mx_nn_multi_head_attention(int dims, int num_heads, int query_input_dims,
                                      int key_input_dims, int value_input_dims,
                                      int value_dims, int value_output_dims, bool bias) {
  if (dims <= 0 || num_heads <= 0 || dims % num_heads != 0) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.MultiHeadAttention] The input feature dimensions should be "
                 "divisible by the number of heads (%d %% %d) != 0",
                 dims, num_heads);
    return NULL;
  }
  if (query_input_dims <= 0) query_input_dims = dims;
  if (key_input_dims <= 0) key_input_dims = dims;
  if (value_input_dims <= 0) value_input_dims = key_input_dims;
  if (value_dims <= 0) value_dims = dims;
  if (value_output_dims <= 0) value_output_dims = dims;
  mha_cfg c = {num_heads};
  mx_module *m = mx_nn_module_make("MultiHeadAttention", &c, sizeof c, mha_self_forward);
  if (!m) return NULL;
  bool ok =
      mx_module_set_child(m, "query_proj", mx_nn_linear(query_input_dims, dims, bias)) ==
          MX_OK &&
      mx_module_set_child(m, "key_proj", mx_nn_linear(key_input_dims, dims, bias)) ==
          MX_OK &&
      mx_module_set_child(m, "value_proj",
                          mx_nn_linear(value_input_dims, value_dims, bias)) == MX_OK &&
      mx_module_set_child(m, "out_proj",
                          mx_nn_linear(value_dims, value_output_dims, bias)) == MX_OK;
  if (!ok) {
    mx_module_free(m);
    return NULL;
  }
  return m;
}

mx_array *mx_nn_create_additive_causal_mask(int n, mx_dtype t) {
  if (n < 0 || !mx_dtype_is_floating(t)) {
    mx_set_error(MX_ERR_INVALID,
                 "[nn.create_additive_causal_mask] need n >= 0 and a floating dtype");
    return NULL;
  }
  double lowest = t == MX_FLOAT16    ? -65504.0
                  : t == MX_BFLOAT16 ? -3.3895313892515355e38
                  : t == MX_FLOAT32  ? -(double)FLT_MAX
                                     : -DBL_MAX;
  mx_scope_begin();
  // mask[i, j] = (i < j) * lowest: 0 on and below the diagonal
  mx_array *idx = mx_arange(0, n, 1, MX_INT32);
  int col[2] = {n, 1}, row[2] = {1, n};
  mx_array *above = mx_less(mx_reshape(idx, col, 2), mx_reshape(idx, row, 2));
  mx_array *m = mx_multiply(mx_astype(above, t), mx_array_scalar_f64(lowest, t));
  return mx_nn_return(m);
}
