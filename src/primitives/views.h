/* views.h: primitives whose result shares its input's buffer (when the layout
 * allows): reshape, transpose, broadcast, slice and as_strided. */
#ifndef MX_PRIM_VIEWS_H
#define MX_PRIM_VIEWS_H

#include "prim_util.h"

typedef struct {
  int perm[MX_MAX_NDIM];
} mx_transpose_params;

typedef struct {
  int start[MX_MAX_NDIM]; /* normalised first index per axis */
  int step[MX_MAX_NDIM];
} mx_slice_params;

typedef struct {
  int64_t strides[MX_MAX_NDIM];
  int64_t offset;
} mx_as_strided_params;

extern const mx_prim mx_prim_reshape;
extern const mx_prim mx_prim_transpose;
extern const mx_prim mx_prim_broadcast;
extern const mx_prim mx_prim_slice;
extern const mx_prim mx_prim_as_strided;

mx_status mx_cpu_reshape(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_transpose(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_broadcast(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_slice(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_as_strided(mx_node *n, mx_array **in, mx_array **out);
/* The same view logic serves the GPU (views never touch data). */
mx_status mx_cuda_reshape(mx_node *n, mx_array **in, mx_array **out);

/* Normalise numpy slice bounds for an axis of length n; returns the number
 * of elements selected and writes the first index. */
int mx_slice_normalize(int n, int start, int stop, int step, int *first);

#endif
