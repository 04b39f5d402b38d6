/* fast.c: constructors of the fused transformer ops (MLX mx.fast): rms_norm,
 * layer_norm, rope (static and array offsets) and
 * scaled_dot_product_attention. */
#include <stdio.h>
#include <string.h>

#include "../primitives/fast.h"

static bool half_or_f32(mx_dtype t) {
  return t == MX_FLOAT16 || t == MX_BFLOAT16 || t == MX_FLOAT32;
}

/* weight/bias of a norm: 1-d of x's last dimension */
static bool check_norm_param(const char *op, const char *what, mx_array *p, mx_array *x) {
  if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
    char s1[128];
    snprintf(s1, sizeof s1, "%s", mx_shape_str(p->shape, p->ndim));
    mx_set_error(MX_ERR_INVALID,
                 "[%s] %s must be 1-d with the last dimension of x %s but has shape %s",
                 op, what, mx_shape_str(x->shape, x->ndim), s1);
    return false;
  }
  if (p->dtype == MX_COMPLEX64) {
    mx_set_error(MX_ERR_INVALID, "[%s] %s must be real", op, what);
    return false;
  }
  return true;
}

mx_array *mx_fast_rms_norm(mx_array *x, mx_array *weight, float eps) {
  MX_CHECK_NULL1(x);
  if (x->ndim < 1) {
    mx_set_error(MX_ERR_INVALID, "[rms_norm] x must have at least 1 dimension");
    return NULL;
  }
  if (weight && !check_norm_param("rms_norm", "weight", weight, x)) return NULL;
  mx_dtype t = weight ? mx_promote_types(x->dtype, weight->dtype) : x->dtype;
  if (!mx_dtype_is_floating(t)) {
    mx_set_error(MX_ERR_INVALID, "[rms_norm] unsupported type %s (floating types only)",
                 mx_dtype_name(t));
    return NULL;
  }
  mx_rms_norm_params p = {eps, weight != NULL};
  mx_array *in[2] = {x, weight};
  return mx_node_make1(&mx_prim_rms_norm, &p, sizeof p, in, weight ? 2 : 1, t, x->shape,
                       x->ndim);
}

mx_array *mx_fast_layer_norm(mx_array *x, mx_array *weight, mx_array *bias, float eps) {
  MX_CHECK_NULL1(x);
  if (x->ndim < 1) {
    mx_set_error(MX_ERR_INVALID, "[layer_norm] x must have at least 1 dimension");
    return NULL;
  }
  if (weight && !check_norm_param("layer_norm", "weight", weight, x)) return NULL;
  if (bias && !check_norm_param("layer_norm", "bias", bias, x)) return NULL;
  /* MLX: the result type follows x and weight (and bias only with weight) */
  mx_dtype t = x->dtype;
  if (weight) t = mx_promote_types(t, weight->dtype);
  if (weight && bias) t = mx_promote_types(t, bias->dtype);
  if (!mx_dtype_is_floating(t)) {
    mx_set_error(MX_ERR_INVALID, "[layer_norm] unsupported type %s (floating types only)",
                 mx_dtype_name(t));
    return NULL;
  }
  mx_layer_norm_params p = {eps, weight != NULL, bias != NULL};
  mx_array *in[3];
  int nin = 0;
  in[nin++] = x;
  if (weight) in[nin++] = weight;
  if (bias) in[nin++] = bias;
  return mx_node_make1(&mx_prim_layer_norm, &p, sizeof p, in, nin, t, x->shape, x->ndim);
}

static mx_array *rope_impl(mx_array *x, int dims, bool traditional, float base,
                           float scale, int offset, mx_array *offset_arr,
                           mx_array *freqs) {
  MX_CHECK_NULL1(x);
  if (x->ndim < 3) {
    mx_set_error(MX_ERR_INVALID,
                 "[rope] x must have at least 3 dimensions but has shape %s",
                 mx_shape_str(x->shape, x->ndim));
    return NULL;
  }
  if (!half_or_f32(x->dtype)) {
    mx_set_error(MX_ERR_INVALID,
                 "[rope] x must be float16, bfloat16 or float32 but has type %s",
                 mx_dtype_name(x->dtype));
    return NULL;
  }
  int D = x->shape[x->ndim - 1];
  if (dims <= 0 || dims % 2 || dims > D) {
    mx_set_error(MX_ERR_INVALID,
                 "[rope] dims must be positive, even and at most the last dimension (%d) "
                 "but is %d",
                 D, dims);
    return NULL;
  }
  if (offset_arr) {
    if (!mx_dtype_is_integer(offset_arr->dtype) || offset_arr->ndim > 1 ||
        (offset_arr->size != 1 && offset_arr->size != x->shape[0])) {
      mx_set_error(
          MX_ERR_INVALID,
          "[rope] offset must be an integer scalar or vector of %d elements but has "
          "type %s and shape %s",
          x->shape[0], mx_dtype_name(offset_arr->dtype),
          mx_shape_str(offset_arr->shape, offset_arr->ndim));
      return NULL;
    }
  }
  if (freqs) {
    if (freqs->ndim != 1 || freqs->shape[0] != dims / 2 || freqs->dtype == MX_COMPLEX64) {
      mx_set_error(
          MX_ERR_INVALID,
          "[rope] freqs must be a real 1-d array of dims/2 = %d elements but has "
          "shape %s",
          dims / 2, mx_shape_str(freqs->shape, freqs->ndim));
      return NULL;
    }
  }
  mx_rope_params p = {dims,   traditional,        base,          scale,
                      offset, offset_arr != NULL, freqs != NULL, true};
  mx_array *in[3];
  int nin = 0;
  in[nin++] = x;
  if (offset_arr) in[nin++] = offset_arr;
  if (freqs) in[nin++] = freqs;
  return mx_node_make1(&mx_prim_rope, &p, sizeof p, in, nin, x->dtype, x->shape, x->ndim);
}

mx_array *mx_fast_rope(mx_array *x, int dims, bool traditional, float base, float scale,
                       int offset, mx_array *freqs) {
  return rope_impl(x, dims, traditional, base, scale, offset, NULL, freqs);
}

mx_array *mx_fast_rope_dynamic(mx_array *x, int dims, bool traditional, float base,
                               float scale, mx_array *offset, mx_array *freqs) {
  MX_CHECK_NULL1(offset);
  return rope_impl(x, dims, traditional, base, scale, 0, offset, freqs);
}

mx_array *mx_fast_scaled_dot_product_attention(mx_array *q, mx_array *k, mx_array *v,
                                               float scale, mx_sdpa_mask_mode mode,
                                               mx_array *mask, mx_array *sinks) {
  static const char *op = "scaled_dot_product_attention";
  MX_CHECK_NULL1(q);
  MX_CHECK_NULL1(k);
  MX_CHECK_NULL1(v);
  if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4) {
    mx_set_error(MX_ERR_INVALID, "[%s] q, k and v must be 4-d (B, H, L, D)", op);
    return NULL;
  }
  if (k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] ||
      q->shape[3] != k->shape[3] || k->shape[1] != v->shape[1] ||
      k->shape[2] != v->shape[2]) {
    /* shapes as text only here: formatting them costs more than the op
     * (mx_shape_str has one static buffer, hence the copies) */
    char sq[128], sk[128];
    snprintf(sq, sizeof sq, "%s", mx_shape_str(q->shape, 4));
    snprintf(sk, sizeof sk, "%s", mx_shape_str(k->shape, 4));
    const char *sv = mx_shape_str(v->shape, 4);
    mx_set_error(
        MX_ERR_INVALID,
        "[%s] shapes q %s, k %s, v %s do not match (same batch, q/k head dim, k/v "
        "heads and length)",
        op, sq, sk, sv);
    return NULL;
  }
  if (k->shape[1] == 0 || q->shape[1] % k->shape[1]) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] query heads (%d) must be a multiple of kv heads (%d)", op,
                 q->shape[1], k->shape[1]);
    return NULL;
  }
  mx_dtype t = mx_promote_types(q->dtype, mx_promote_types(k->dtype, v->dtype));
  if (!half_or_f32(t)) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] q, k, v give type %s; float16, bfloat16 and float32 are supported",
                 op, mx_dtype_name(t));
    return NULL;
  }
  if (mode != MX_SDPA_MASK_NONE && mode != MX_SDPA_MASK_CAUSAL &&
      mode != MX_SDPA_MASK_ARRAY) {
    mx_set_error(MX_ERR_INVALID, "[%s] invalid mask mode %d", op, (int)mode);
    return NULL;
  }
  if (mode != MX_SDPA_MASK_ARRAY && mask) {
    mx_set_error(MX_ERR_INVALID, "[%s] a mask array needs mask mode 'array'", op);
    return NULL;
  }
  if (mode == MX_SDPA_MASK_ARRAY) {
    if (!mask) {
      if (mx_last_status() != MX_OK) return NULL; /* a failed op made the mask */
      mx_set_error(MX_ERR_INVALID, "[%s] mask mode 'array' needs a mask", op);
      return NULL;
    }
    int full[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]}, bs[MX_MAX_NDIM],
        nb;
    if (mask->ndim > 4 ||
        !mx_broadcast_shapes(mask->shape, mask->ndim, full, 4, bs, &nb) ||
        memcmp(bs, full, sizeof full) != 0) {
      char sm[128];
      snprintf(sm, sizeof sm, "%s", mx_shape_str(mask->shape, mask->ndim));
      mx_set_error(MX_ERR_INVALID,
                   "[%s] mask %s does not broadcast to (B, Hq, Lq, Lk) = %s", op, sm,
                   mx_shape_str(full, 4));
      return NULL;
    }
    if (mask->dtype != MX_BOOL && mx_promote_types(mask->dtype, t) != t) {
      mx_set_error(MX_ERR_INVALID, "[%s] mask type %s must be bool or promote to %s", op,
                   mx_dtype_name(mask->dtype), mx_dtype_name(t));
      return NULL;
    }
  }
  if (sinks) {
    if (sinks->ndim != 1 || sinks->shape[0] != q->shape[1]) {
      mx_set_error(MX_ERR_INVALID, "[%s] sinks must have shape (%d,) but have %s", op,
                   q->shape[1], mx_shape_str(sinks->shape, sinks->ndim));
      return NULL;
    }
    if (mx_promote_types(sinks->dtype, t) != t) {
      mx_set_error(MX_ERR_INVALID, "[%s] sinks type %s must promote to %s", op,
                   mx_dtype_name(sinks->dtype), mx_dtype_name(t));
      return NULL;
    }
  }
  mx_sdpa_params p = {scale, (int)mode, sinks != NULL};
  mx_array *in[5];
  int nin = 0;
  in[nin++] = q;
  in[nin++] = k;
  in[nin++] = v;
  if (mode == MX_SDPA_MASK_ARRAY) in[nin++] = mask;
  if (sinks) in[nin++] = sinks;
  int shape[4] = {q->shape[0], q->shape[1], q->shape[2], v->shape[3]};
  return mx_node_make1(&mx_prim_sdpa, &p, sizeof p, in, nin, t, shape, 4);
}
