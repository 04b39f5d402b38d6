/* fast.h: fused transformer kernels (MLX mx.fast): rms_norm, layer_norm,
 * rope and scaled_dot_product_attention. Kernels compute in float32 (float64
 * inputs of the norms in float64) and write the result dtype. */
#ifndef MX_PRIM_FAST_H
#define MX_PRIM_FAST_H

#include "prim_util.h"

typedef struct {
  float eps;
  bool has_weight; /* inputs: x [, weight] */
} mx_rms_norm_params;

typedef struct {
  float eps;
  bool has_weight, has_bias; /* inputs: x [, weight] [, bias] */
} mx_layer_norm_params;

typedef struct {
  int dims;
  bool traditional;
  float base, scale;
  int offset;            /* used when !has_offset_array */
  bool has_offset_array; /* inputs: x [, offset (scalar or (B,))] [, freqs] */
  bool has_freqs;
  bool forward; /* false: the inverse rotation (for the vjp) */
} mx_rope_params;

typedef struct {
  float scale;
  int mask_mode;  /* mx_sdpa_mask_mode */
  bool has_sinks; /* inputs: q, k, v [, mask] [, sinks] */
} mx_sdpa_params;

extern const mx_prim mx_prim_rms_norm;
extern const mx_prim mx_prim_layer_norm;
extern const mx_prim mx_prim_rope;
extern const mx_prim mx_prim_sdpa;

mx_status mx_cpu_rms_norm(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_layer_norm(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_rope(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_sdpa(mx_node *n, mx_array **in, mx_array **out);

#endif
