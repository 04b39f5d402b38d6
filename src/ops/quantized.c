/* quantized.c: quantize, dequantize and quantized_matmul (MLX's affine
 * mode). Shapes: w (..., N, K) -> wq uint32 (..., N, K*bits/32), scales and
 * biases (..., N, K/group_size). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/gemm_i8.h"
#include "../primitives/quantized.h"

/* mx_set_int8_activations: -1 until read from MX_INT8_ACTIVATIONS */
static atomic_int g_int8_act = -1;

void mx_set_int8_activations(bool on) { atomic_store(&g_int8_act, on ? 1 : 0); }

bool mx_int8_activations_supported(void) { return mx_gemm_i8_available(); }

bool mx_get_int8_activations(void) {
  int v = atomic_load_explicit(&g_int8_act, memory_order_relaxed);
  if (v < 0) {
    const char *e = getenv("MX_INT8_ACTIVATIONS");
    int want = e && *e && strcmp(e, "0") != 0;
    /* a setter call since the read wins */
    atomic_compare_exchange_strong(&g_int8_act, &v, want);
    v = atomic_load(&g_int8_act);
  }
  return v == 1;
}

static bool valid_gs_bits(const char *op, int group_size, int bits) {
  if (group_size != 32 && group_size != 64 && group_size != 128) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] group_size %d is not supported (use 32, 64 or 128)", op,
                 group_size);
    return false;
  }
  if (bits < 2 || bits > 8 || bits == 7) {
    mx_set_error(MX_ERR_INVALID, "[%s] bits %d is not supported (use 2, 3, 4, 5, 6 or 8)",
                 op, bits);
    return false;
  }
  return true;
}

static bool is_half_or_f32(mx_dtype t) {
  return t == MX_FLOAT16 || t == MX_BFLOAT16 || t == MX_FLOAT32;
}

mx_status mx_quantize(mx_array *w, int group_size, int bits, mx_array **wq,
                      mx_array **scales, mx_array **biases) {
  if (!wq || !scales || !biases)
    return mx_set_error(MX_ERR_INVALID, "[quantize] output pointers are NULL");
  *wq = *scales = *biases = NULL;
  if (!w) return mx_last_status() ? mx_last_status() : MX_ERR_INVALID;
  if (!valid_gs_bits("quantize", group_size, bits)) return MX_ERR_INVALID;
  if (!is_half_or_f32(w->dtype))
    return mx_set_error(MX_ERR_INVALID,
                        "[quantize] w must be float16, bfloat16 or float32 "
                        "but has type %s",
                        mx_dtype_name(w->dtype));
  if (w->ndim < 2)
    return mx_set_error(MX_ERR_INVALID,
                        "[quantize] w must have at least 2 dimensions but has "
                        "shape %s",
                        mx_shape_str(w->shape, w->ndim));
  int K = w->shape[w->ndim - 1];
  if (K % group_size)
    return mx_set_error(MX_ERR_INVALID,
                        "[quantize] the last dimension of w %s is not "
                        "divisible by group_size %d",
                        mx_shape_str(w->shape, w->ndim), group_size);
  int qshape[MX_MAX_NDIM], sshape[MX_MAX_NDIM];
  memcpy(qshape, w->shape, sizeof(int) * (size_t)w->ndim);
  memcpy(sshape, w->shape, sizeof(int) * (size_t)w->ndim);
  qshape[w->ndim - 1] = (int)((int64_t)K * bits / 32);
  sshape[w->ndim - 1] = K / group_size;
  mx_quantize_params p = {group_size, bits};
  mx_dtype dts[3] = {MX_UINT32, w->dtype, w->dtype};
  const int *shapes[3] = {qshape, sshape, sshape};
  int ndims[3] = {w->ndim, w->ndim, w->ndim};
  mx_array *out[3];
  mx_status rc =
      mx_node_make(&mx_prim_quantize, &p, sizeof p, &w, 1, 3, dts, shapes, ndims, out);
  if (rc != MX_OK) return rc;
  *wq = out[0];
  *scales = out[1];
  *biases = out[2];
  return MX_OK;
}

/* Shared checks of (wq, scales, biases); returns the unpacked length of the
 * last axis of wq, or -1 after recording an error. */
static int check_packed(const char *op, mx_array *wq, mx_array *scales, mx_array *biases,
                        int group_size, int bits) {
  if (!valid_gs_bits(op, group_size, bits)) return -1;
  if (wq->dtype != MX_UINT32) {
    mx_set_error(MX_ERR_INVALID, "[%s] wq must be uint32 but has type %s", op,
                 mx_dtype_name(wq->dtype));
    return -1;
  }
  if (wq->ndim < 2) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] wq must have at least 2 dimensions but has shape %s", op,
                 mx_shape_str(wq->shape, wq->ndim));
    return -1;
  }
  if (scales->ndim != biases->ndim ||
      memcmp(scales->shape, biases->shape, sizeof(int) * (size_t)scales->ndim)) {
    char s1[128];
    snprintf(s1, sizeof s1, "%s", mx_shape_str(scales->shape, scales->ndim));
    mx_set_error(MX_ERR_INVALID, "[%s] scales %s and biases %s must have the same shape",
                 op, s1, mx_shape_str(biases->shape, biases->ndim));
    return -1;
  }
  bool ok = scales->ndim == wq->ndim;
  for (int i = 0; ok && i < wq->ndim - 1; i++) ok = scales->shape[i] == wq->shape[i];
  int64_t unpacked = (int64_t)wq->shape[wq->ndim - 1] * 32;
  if (ok)
    ok = unpacked % bits == 0 &&
         unpacked / bits == (int64_t)scales->shape[scales->ndim - 1] * group_size;
  if (!ok) {
    char s1[128];
    snprintf(s1, sizeof s1, "%s", mx_shape_str(wq->shape, wq->ndim));
    mx_set_error(MX_ERR_INVALID,
                 "[%s] wq %s and scales/biases %s do not match for "
                 "group_size=%d and bits=%d",
                 op, s1, mx_shape_str(scales->shape, scales->ndim), group_size, bits);
    return -1;
  }
  if (!mx_dtype_is_floating(scales->dtype) || !mx_dtype_is_floating(biases->dtype)) {
    mx_set_error(MX_ERR_INVALID,
                 "[%s] scales and biases must be floating point (got %s and %s)", op,
                 mx_dtype_name(scales->dtype), mx_dtype_name(biases->dtype));
    return -1;
  }
  if (unpacked / bits > 0x7fffffff) {
    mx_set_error(MX_ERR_INVALID, "[%s] unpacked dimension too large", op);
    return -1;
  }
  return (int)(unpacked / bits);
}

mx_array *mx_dequantize(mx_array *wq, mx_array *scales, mx_array *biases, int group_size,
                        int bits) {
  MX_CHECK_NULL1(wq);
  MX_CHECK_NULL1(scales);
  MX_CHECK_NULL1(biases);
  int K = check_packed("dequantize", wq, scales, biases, group_size, bits);
  if (K < 0) return NULL;
  mx_dtype t = mx_promote_types(scales->dtype, biases->dtype);
  int shape[MX_MAX_NDIM];
  memcpy(shape, wq->shape, sizeof(int) * (size_t)wq->ndim);
  shape[wq->ndim - 1] = K;
  mx_quantize_params p = {group_size, bits};
  mx_array *in[3] = {wq, scales, biases};
  return mx_node_make1(&mx_prim_dequantize, &p, sizeof p, in, 3, t, shape, wq->ndim);
}

mx_array *mx_quantized_matmul(mx_array *x, mx_array *wq, mx_array *scales,
                              mx_array *biases, bool transpose, int group_size,
                              int bits) {
  MX_CHECK_NULL1(x);
  MX_CHECK_NULL1(wq);
  MX_CHECK_NULL1(scales);
  MX_CHECK_NULL1(biases);
  int unpacked = check_packed("quantized_matmul", wq, scales, biases, group_size, bits);
  if (unpacked < 0) return NULL;
  mx_dtype t = mx_promote_types(x->dtype, mx_promote_types(scales->dtype, biases->dtype));
  if (!is_half_or_f32(t)) {
    mx_set_error(MX_ERR_INVALID,
                 "[quantized_matmul] x %s with scales %s gives %s; only "
                 "float16, bfloat16 and float32 are supported",
                 mx_dtype_name(x->dtype), mx_dtype_name(scales->dtype), mx_dtype_name(t));
    return NULL;
  }
  if (x->dtype == MX_COMPLEX64 || x->ndim < 1) {
    mx_set_error(MX_ERR_INVALID,
                 "[quantized_matmul] x must be a real array with at least 1 "
                 "dimension");
    return NULL;
  }
  int wd = wq->ndim;
  int K = transpose ? unpacked : wq->shape[wd - 2];
  int N = transpose ? wq->shape[wd - 2] : unpacked;
  if (x->shape[x->ndim - 1] != K) {
    char s1[128];
    snprintf(s1, sizeof s1, "%s", mx_shape_str(x->shape, x->ndim));
    mx_set_error(MX_ERR_INVALID,
                 "[quantized_matmul] last dimension of x %s does not match "
                 "the dequantized matrix (%d, %d) of wq %s (group_size=%d, "
                 "bits=%d, transpose=%s)",
                 s1, transpose ? N : K, transpose ? K : N,
                 mx_shape_str(wq->shape, wq->ndim), group_size, bits,
                 transpose ? "true" : "false");
    return NULL;
  }
  int shape[MX_MAX_NDIM], nd;
  if (wd == 2) {
    nd = x->ndim;
    memcpy(shape, x->shape, sizeof(int) * (size_t)nd);
    shape[nd - 1] = N;
  } else {
    if (x->ndim < 2) {
      mx_set_error(MX_ERR_INVALID,
                   "[quantized_matmul] batched wq %s needs x with at least 2 "
                   "dimensions",
                   mx_shape_str(wq->shape, wq->ndim));
      return NULL;
    }
    int bshape[MX_MAX_NDIM], nb;
    if (!mx_broadcast_shapes(x->shape, x->ndim - 2, wq->shape, wd - 2, bshape, &nb) ||
        nb + 2 > MX_MAX_NDIM) {
      char s1[128];
      snprintf(s1, sizeof s1, "%s", mx_shape_str(x->shape, x->ndim));
      mx_set_error(MX_ERR_INVALID,
                   "[quantized_matmul] batch dimensions of x %s and wq %s "
                   "cannot be broadcast",
                   s1, mx_shape_str(wq->shape, wq->ndim));
      return NULL;
    }
    memcpy(shape, bshape, sizeof(int) * (size_t)nb);
    shape[nb] = x->shape[x->ndim - 2];
    shape[nb + 1] = N;
    nd = nb + 2;
  }
  mx_qmm_params p = {group_size, bits, transpose};
  mx_array *in[4] = {x, wq, scales, biases};
  return mx_node_make1(&mx_prim_quantized_matmul, &p, sizeof p, in, 4, t, shape, nd);
}
