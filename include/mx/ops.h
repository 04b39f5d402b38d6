/* mx/ops.h: array operations with MLX's names and semantics.
 *
 * Conventions shared by every op:
 *  - Ops are lazy: they validate, infer shape and dtype, and return a node.
 *  - Results belong to the innermost scope (see array.h).
 *  - Invalid input records "[op] message" and returns NULL; NULL inputs give
 *    NULL without overwriting the first message.
 *  - Negative axes count from the end. Binary ops broadcast numpy-style and
 *    promote dtypes with mx_promote_types.
 *  - `axes == NULL` means "all axes" for reductions; a non-NULL list with
 *    naxes == 0 means no axis.
 *  - Ops run on mx_current_stream(). */
#ifndef MX_OPS_H
#define MX_OPS_H

#include "array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- creation ---- */
mx_array *mx_zeros(const int *shape, int ndim, mx_dtype t);
mx_array *mx_ones(const int *shape, int ndim, mx_dtype t);
mx_array *mx_full(const int *shape, int ndim, double value, mx_dtype t);
/* Broadcast `vals` to shape (dtype of vals). */
mx_array *mx_full_array(const int *shape, int ndim, mx_array *vals);
mx_array *mx_zeros_like(mx_array *a);
mx_array *mx_ones_like(mx_array *a);
mx_array *mx_full_like(mx_array *a, double value);
/* A 0-d array holding v in a's dtype (MLX's weakly typed Python scalar). */
mx_array *mx_scalar_like(mx_array *a, double v);
mx_array *mx_arange(double start, double stop, double step, mx_dtype t);
mx_array *mx_linspace(double start, double stop, int num, mx_dtype t);
/* n x m with ones on diagonal k (m < 0 means m = n). */
mx_array *mx_eye(int n, int m, int k, mx_dtype t);
mx_array *mx_identity(int n, mx_dtype t);
mx_array *mx_tri(int n, int m, int k, mx_dtype t);
mx_array *mx_tril(mx_array *a, int k);
mx_array *mx_triu(mx_array *a, int k);

/* ---- unary ---- */
mx_array *mx_abs(mx_array *a);
mx_array *mx_negative(mx_array *a);
mx_array *mx_sign(mx_array *a);
mx_array *mx_exp(mx_array *a);
mx_array *mx_expm1(mx_array *a);
mx_array *mx_log(mx_array *a);
mx_array *mx_log1p(mx_array *a);
mx_array *mx_log2(mx_array *a);
mx_array *mx_log10(mx_array *a);
mx_array *mx_sqrt(mx_array *a);
mx_array *mx_rsqrt(mx_array *a);
mx_array *mx_square(mx_array *a);
mx_array *mx_reciprocal(mx_array *a);
mx_array *mx_sin(mx_array *a);
mx_array *mx_cos(mx_array *a);
mx_array *mx_tan(mx_array *a);
mx_array *mx_arcsin(mx_array *a);
mx_array *mx_arccos(mx_array *a);
mx_array *mx_arctan(mx_array *a);
mx_array *mx_sinh(mx_array *a);
mx_array *mx_cosh(mx_array *a);
mx_array *mx_tanh(mx_array *a);
mx_array *mx_arcsinh(mx_array *a);
mx_array *mx_arccosh(mx_array *a);
mx_array *mx_arctanh(mx_array *a);
mx_array *mx_erf(mx_array *a);
mx_array *mx_erfinv(mx_array *a);
mx_array *mx_sigmoid(mx_array *a);
mx_array *mx_floor(mx_array *a);
mx_array *mx_ceil(mx_array *a);
/* Round half to even to `decimals` places (MLX round). */
mx_array *mx_round(mx_array *a, int decimals);
mx_array *mx_isnan(mx_array *a);
mx_array *mx_isinf(mx_array *a);
mx_array *mx_isfinite(mx_array *a);
mx_array *mx_isposinf(mx_array *a);
mx_array *mx_isneginf(mx_array *a);
mx_array *mx_logical_not(mx_array *a);
mx_array *mx_bitwise_invert(mx_array *a);
mx_array *mx_stop_gradient(mx_array *a);
mx_array *mx_real(mx_array *a);
mx_array *mx_imag(mx_array *a);
mx_array *mx_conjugate(mx_array *a);

/* ---- binary ---- */
mx_array *mx_add(mx_array *a, mx_array *b);
mx_array *mx_subtract(mx_array *a, mx_array *b);
mx_array *mx_multiply(mx_array *a, mx_array *b);
mx_array *mx_divide(mx_array *a, mx_array *b);
mx_array *mx_floor_divide(mx_array *a, mx_array *b);
mx_array *mx_remainder(mx_array *a, mx_array *b);
mx_array *mx_power(mx_array *a, mx_array *b);
mx_array *mx_maximum(mx_array *a, mx_array *b);
mx_array *mx_minimum(mx_array *a, mx_array *b);
mx_array *mx_arctan2(mx_array *a, mx_array *b);
mx_array *mx_logaddexp(mx_array *a, mx_array *b);
mx_array *mx_equal(mx_array *a, mx_array *b);
mx_array *mx_not_equal(mx_array *a, mx_array *b);
mx_array *mx_less(mx_array *a, mx_array *b);
mx_array *mx_less_equal(mx_array *a, mx_array *b);
mx_array *mx_greater(mx_array *a, mx_array *b);
mx_array *mx_greater_equal(mx_array *a, mx_array *b);
mx_array *mx_logical_and(mx_array *a, mx_array *b);
mx_array *mx_logical_or(mx_array *a, mx_array *b);
mx_array *mx_bitwise_and(mx_array *a, mx_array *b);
mx_array *mx_bitwise_or(mx_array *a, mx_array *b);
mx_array *mx_bitwise_xor(mx_array *a, mx_array *b);
mx_array *mx_left_shift(mx_array *a, mx_array *b);
mx_array *mx_right_shift(mx_array *a, mx_array *b);
mx_array *mx_isclose(mx_array *a, mx_array *b, double rtol, double atol, bool equal_nan);
/* 0-d bool results */
mx_array *mx_allclose(mx_array *a, mx_array *b, double rtol, double atol, bool equal_nan);
mx_array *mx_array_equal(mx_array *a, mx_array *b, bool equal_nan);
mx_array *mx_where(mx_array *cond, mx_array *x, mx_array *y);
/* lo or hi may be NULL (no bound on that side). */
mx_array *mx_clip(mx_array *a, mx_array *lo, mx_array *hi);

/* ---- reductions (axes == NULL: all axes) ---- */
mx_array *mx_sum(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_prod(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_mean(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_var(mx_array *a, const int *axes, int naxes, bool keepdims, int ddof);
mx_array *mx_std(mx_array *a, const int *axes, int naxes, bool keepdims, int ddof);
mx_array *mx_max(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_min(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_all(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_any(mx_array *a, const int *axes, int naxes, bool keepdims);
mx_array *mx_logsumexp(mx_array *a, const int *axes, int naxes, bool keepdims);
/* Index of the first extreme along `axis` (uint32, as MLX). */
mx_array *mx_argmax(mx_array *a, int axis, bool keepdims);
mx_array *mx_argmin(mx_array *a, int axis, bool keepdims);
/* Over the flattened array. */
mx_array *mx_argmax_all(mx_array *a, bool keepdims);
mx_array *mx_argmin_all(mx_array *a, bool keepdims);
mx_array *mx_cumsum(mx_array *a, int axis, bool reverse, bool inclusive);
mx_array *mx_cumprod(mx_array *a, int axis, bool reverse, bool inclusive);
mx_array *mx_cummax(mx_array *a, int axis, bool reverse, bool inclusive);
mx_array *mx_cummin(mx_array *a, int axis, bool reverse, bool inclusive);
/* precise: accumulate half-precision inputs in float32. */
mx_array *mx_softmax(mx_array *a, const int *axes, int naxes, bool precise);

/* ---- linear algebra ---- */
mx_array *mx_matmul(mx_array *a, mx_array *b);
/* alpha * (a @ b) + beta * c */
mx_array *mx_addmm(mx_array *c, mx_array *a, mx_array *b, float alpha, float beta);
mx_array *mx_outer(mx_array *a, mx_array *b);
mx_array *mx_inner(mx_array *a, mx_array *b);
/* Contract the last `axes` of a with the first `axes` of b. */
mx_array *mx_tensordot(mx_array *a, mx_array *b, int axes);
mx_array *mx_tensordot_axes(mx_array *a, mx_array *b, const int *axes_a,
                            const int *axes_b, int n);
/* numpy einsum subscripts, e.g. "bij,bjk->bik" (explicit or implicit). */
mx_array *mx_einsum(const char *subscripts, mx_array *const *operands, int n);

/* ---- shape ---- */
/* One entry of shape may be -1 (inferred). */
mx_array *mx_reshape(mx_array *a, const int *shape, int ndim);
mx_array *mx_flatten(mx_array *a, int start_axis, int end_axis);
mx_array *mx_unflatten(mx_array *a, int axis, const int *shape, int ndim);
/* axes == NULL reverses the axes. */
mx_array *mx_transpose(mx_array *a, const int *axes, int naxes);
mx_array *mx_swapaxes(mx_array *a, int axis1, int axis2);
mx_array *mx_moveaxis(mx_array *a, int source, int destination);
/* axes == NULL removes every size-1 axis. */
mx_array *mx_squeeze(mx_array *a, const int *axes, int naxes);
mx_array *mx_expand_dims(mx_array *a, const int *axes, int naxes);
mx_array *mx_broadcast_to(mx_array *a, const int *shape, int ndim);
/* Writes n arrays to out. */
mx_status mx_broadcast_arrays(mx_array *const *arrays, int n, mx_array **out);
mx_array *mx_concatenate(mx_array *const *arrays, int n, int axis);
mx_array *mx_stack(mx_array *const *arrays, int n, int axis);
/* Equal sections; writes num_splits arrays to out. */
mx_status mx_split(mx_array *a, int num_splits, int axis, mx_array **out);
/* At the given indices; writes nidx + 1 arrays to out. */
mx_status mx_split_indices(mx_array *a, const int *indices, int nidx, int axis,
                           mx_array **out);
typedef enum { MX_PAD_CONSTANT, MX_PAD_EDGE } mx_pad_mode;
/* lo[i], hi[i] padding on axes[i]; axes == NULL means every axis in order. */
mx_array *mx_pad(mx_array *a, const int *axes, const int *lo, const int *hi, int naxes,
                 mx_array *pad_value, mx_pad_mode mode);
mx_array *mx_tile(mx_array *a, const int *reps, int nreps);
/* Repeat each element `repeats` times along axis (axis == INT32_MIN:
 * flattened). */
mx_array *mx_repeat(mx_array *a, int repeats, int axis);
/* axes == NULL: roll the flattened array. */
mx_array *mx_roll(mx_array *a, const int *shift, const int *axes, int n);
/* strides in elements, offset in elements, relative to a's contiguous
 * layout. */
mx_array *mx_as_strided(mx_array *a, const int *shape, const int64_t *strides, int ndim,
                        int64_t offset);

/* ---- indexing ---- */
#define MX_SLICE_DEFAULT INT32_MIN /* start/stop: numpy's default */
/* numpy slicing per axis (arrays of length ndim; start/stop may be negative
 * or MX_SLICE_DEFAULT; step != 0). step may be NULL (all 1). */
mx_array *mx_slice(mx_array *a, const int *start, const int *stop, const int *step);
/* Slice one axis only. */
mx_array *mx_slice_axis(mx_array *a, int axis, int start, int stop, int step);
/* a with a[start:stop:step] replaced by update (broadcast to the slice). */
mx_array *mx_slice_update(mx_array *a, mx_array *update, const int *start,
                          const int *stop, const int *step);
/* Slice of size slice_size[i] on axes[i] starting at the integer array
 * `start` (shape (naxes,)); clamped into range like MLX. */
mx_array *mx_dynamic_slice(mx_array *a, mx_array *start, const int *axes, int naxes,
                           const int *slice_size);
mx_array *mx_dynamic_slice_update(mx_array *a, mx_array *update, mx_array *start,
                                  const int *axes, int naxes);
/* Negative indices wrap; out-of-range indices are an error at eval. */
mx_array *mx_take(mx_array *a, mx_array *indices, int axis);
mx_array *mx_take_flat(mx_array *a, mx_array *indices);
mx_array *mx_take_along_axis(mx_array *a, mx_array *indices, int axis);
mx_array *mx_put_along_axis(mx_array *a, mx_array *indices, mx_array *values, int axis);
/* MLX gather: indices[i] indexes axes[i]; the index arrays broadcast to a
 * common shape I; the result has shape I + slice_sizes. */
mx_array *mx_gather(mx_array *a, mx_array *const *indices, int nidx, const int *axes,
                    const int *slice_sizes);
typedef enum {
  MX_SCATTER_SET,
  MX_SCATTER_ADD,
  MX_SCATTER_MAX,
  MX_SCATTER_MIN,
  MX_SCATTER_PROD
} mx_scatter_mode;
/* MLX scatter: updates has shape I + (slice shape with a's ndim). */
mx_array *mx_scatter(mx_array *a, mx_array *const *indices, int nidx, mx_array *updates,
                     const int *axes, mx_scatter_mode mode);

/* ---- sorting ---- */
mx_array *mx_sort(mx_array *a, int axis);
mx_array *mx_argsort(mx_array *a, int axis);
mx_array *mx_partition(mx_array *a, int kth, int axis);
mx_array *mx_argpartition(mx_array *a, int kth, int axis);
/* The k largest along axis (unordered, as MLX). */
mx_array *mx_topk(mx_array *a, int k, int axis);

/* ---- type and layout ---- */
mx_array *mx_astype(mx_array *a, mx_dtype t);
/* Reinterpret the bytes; the last axis scales by the size ratio. */
mx_array *mx_view(mx_array *a, mx_dtype t);
/* Row-major contiguous copy (no copy if already contiguous). */
mx_array *mx_contiguous(mx_array *a);
mx_array *mx_copy(mx_array *a);

/* ---- convolution (channels last, as MLX) ----
 * input (N, *spatial, C_in), weight (C_out, *kernel, C_in / groups). */
mx_array *mx_conv1d(mx_array *input, mx_array *weight, int stride, int padding,
                    int dilation, int groups);
mx_array *mx_conv2d(mx_array *input, mx_array *weight, const int stride[2],
                    const int padding[2], const int dilation[2], int groups);
/* nspatial spatial dims; padding_lo/hi, strides, kernel and input dilation
 * per spatial dim; flip: true correlation->convolution. */
mx_array *mx_conv_general(mx_array *input, mx_array *weight, int nspatial,
                          const int *stride, const int *padding_lo, const int *padding_hi,
                          const int *kernel_dilation, const int *input_dilation,
                          int groups, bool flip);

/* ---- quantization (MLX affine layout) ----
 * w (..., N, K) -> wq uint32 (..., N, K*bits/32), scales and biases
 * (..., N, K/group_size) in w's dtype. bits in {2,3,4,5,6,8}, group_size in
 * {32,64,128}. */
mx_status mx_quantize(mx_array *w, int group_size, int bits, mx_array **wq,
                      mx_array **scales, mx_array **biases);
mx_array *mx_dequantize(mx_array *wq, mx_array *scales, mx_array *biases, int group_size,
                        int bits);
/* transpose true: x @ dequantize(w).T (w is (N, K)); false: x @ w with w
 * (K, N). */
mx_array *mx_quantized_matmul(mx_array *x, mx_array *wq, mx_array *scales,
                              mx_array *biases, bool transpose, int group_size, int bits);
/* Opt-in int8 activations (off by default; MX_INT8_ACTIVATIONS=1 in the
 * environment turns it on at start). When on, quantized_matmul on the CPU
 * with transpose true and 4- or 8-bit w quantizes each group of x to int8
 * with its own scale, as llama.cpp's Q8 activations, and multiplies with
 * AVX512-VNNI: prefill (many rows) about 1.5x faster, decode (one row) with
 * fewer instructions per weight. The results are no longer those of matmul
 * with the dequantized weight: the error per output is at most the sum over
 * groups of max|x_group| / 254 * sum |w_group| (plus float32 rounding).
 * Other bit widths, transpose false and CPUs without VNNI keep the exact
 * kernels; on CPUs with AMX, many-row products keep the exact tile kernel,
 * which is faster there. Read when a kernel runs (at evaluation), not when the graph is
 * built. */
void mx_set_int8_activations(bool on);
bool mx_get_int8_activations(void);
/* Whether this CPU (within the MX_CPU_ISA cap) has the int8 kernels
 * (AVX-512 with VNNI and BF16): elsewhere the setting changes nothing. */
bool mx_int8_activations_supported(void);

#ifdef __cplusplus
}
#endif
#endif
