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
mx_array *mx_fast_layer_norm(mx_array *x, mx_array *weight, mx_array *bias, float eps);
/* x (B, *, L, D): rotate the first `dims` features of each position
 * p = offset + l (l along axis -2) by the angle p * scale * inv_freq[i],
 * inv_freq[i] = base^(-2i/dims). traditional: rotate adjacent pairs (2i,
 * 2i+1), else the two halves (i, i + dims/2). As MLX, `freqs` (dims/2,)
 * when given are the periods: inv_freq = 1 / freqs (base is ignored). */
mx_array *mx_fast_rope(mx_array *x, int dims, bool traditional, float base, float scale,
                       int offset, mx_array *freqs);
/* Same with the offset as a scalar int array (or (B,) per batch). */
mx_array *mx_fast_rope_dynamic(mx_array *x, int dims, bool traditional, float base,
                               float scale, mx_array *offset, mx_array *freqs);
typedef enum {
  MX_SDPA_MASK_NONE,
  MX_SDPA_MASK_CAUSAL, /* lower-right aligned when L_q < L_k, as MLX */
  MX_SDPA_MASK_ARRAY   /* additive (float) or boolean (true = keep) */
} mx_sdpa_mask_mode;
/* q (B, Hq, Lq, D), k/v (B, Hkv, Lk, D[v]) with Hq % Hkv == 0 (GQA).
 * mask broadcastable to (B, Hq, Lq, Lk). sinks (Hq,) adds one logit per
 * head that takes probability mass but no value. */
mx_array *mx_fast_scaled_dot_product_attention(mx_array *q, mx_array *k, mx_array *v,
                                               float scale, mx_sdpa_mask_mode mode,
                                               mx_array *mask, mx_array *sinks);

#ifdef __cplusplus
}
#endif
#endif
