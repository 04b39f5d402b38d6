/* mx/fast.h: fused kernels for transformer building blocks (MLX mx.fast). */
#ifndef MX_FAST_H
#define MX_FAST_H

#include "array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x (..., D) * rsqrt(mean(x^2) + eps) * weight (D) (weight may be NULL) */
mx_array *mx_fast_rms_norm(mx_array *x, mx_array *weight, float eps);
/* weight and bias (D) may be NULL */
mx_array *mx_fast_layer_norm(mx_array *x, mx_array *weight, mx_array *bias,
                             float eps);
/* x (B, *, L, D): rotate the first `dims` features of each position
 * offset + l. traditional: rotate adjacent pairs, else the two halves.
 * freqs (dims/2,) replaces base^(-2i/dims) when given (base ignored). */
mx_array *mx_fast_rope(mx_array *x, int dims, bool traditional, float base,
                       float scale, int offset, mx_array *freqs);
/* Same with the offset as a scalar int array (or (B,) per batch). */
mx_array *mx_fast_rope_dynamic(mx_array *x, int dims, bool traditional,
                               float base, float scale, mx_array *offset,
                               mx_array *freqs);
typedef enum {
  MX_SDPA_MASK_NONE,
  MX_SDPA_MASK_CAUSAL, /* lower-right aligned when L_q < L_k, as MLX */
  MX_SDPA_MASK_ARRAY   /* additive (float) or boolean (true = keep) */
} mx_sdpa_mask_mode;
/* q (B, Hq, Lq, D), k/v (B, Hkv, Lk, D[v]) with Hq % Hkv == 0 (GQA).
 * mask broadcastable to (B, Hq, Lq, Lk). sinks (Hq,) adds one logit per
 * head that takes probability mass but no value. */
mx_array *mx_fast_scaled_dot_product_attention(mx_array *q, mx_array *k,
                                               mx_array *v, float scale,
                                               mx_sdpa_mask_mode mode,
                                               mx_array *mask,
                                               mx_array *sinks);

#ifdef __cplusplus
}
#endif
#endif
