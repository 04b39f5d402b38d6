/* iter.h: strided N-d iteration for CPU kernels. Dimensions that are
 * contiguous in every operand are merged first, so the common cases
 * (contiguous, broadcast scalar, row broadcast) reduce to one or two flat
 * loops; the innermost dimension is handed to the kernel as a run of n
 * elements with per-operand strides. */
#ifndef MX_CPU_ITER_H
#define MX_CPU_ITER_H

#include "../../core/core.h"

#define MX_ITER_MAX_OPS 4

typedef struct {
  int ndim; /* after merging, >= 1 */
  int shape[MX_MAX_NDIM];
  int64_t strides[MX_ITER_MAX_OPS][MX_MAX_NDIM]; /* elements */
  int nops;
} mx_iter;

/* Build an iterator over `shape` for nops operands with the given strides
 * (each of length ndim; broadcast operands pass 0 strides). */
void mx_iter_init(mx_iter *it, const int *shape, int ndim, int nops,
                  const int64_t *const *strides);

/* Strides of array a viewed with shape `shape` (a broadcast to it). */
void mx_broadcast_strides(const mx_array *a, const int *shape, int ndim, int64_t *out);

/* Callback for a run: n elements; offs[k] = element offset of operand k at
 * the run's start; inner stride of operand k is it->strides[k][ndim-1]. */
typedef void (*mx_iter_fn)(void *ctx, int64_t n, const int64_t *offs,
                           const int64_t *inner_strides);

/* Visit every run of linear indices [begin, end) (counted in runs of the
 * innermost dimension: total runs = size / shape[ndim-1]). */
void mx_iter_runs(const mx_iter *it, int64_t run_begin, int64_t run_end, mx_iter_fn fn,
                  void *ctx);
int64_t mx_iter_num_runs(const mx_iter *it);

/* Convenience: apply fn over all runs using the thread pool when the total
 * size is large (grain in elements). */
void mx_iter_parallel(const mx_iter *it, int64_t grain_elems, mx_iter_fn fn, void *ctx);

/* Copy any strided array into contiguous memory of the same dtype. */
void mx_copy_strided(const mx_array *src, void *dst);
/* Generic element copy with dtype conversion (src strided -> dst contiguous). */
void mx_copy_convert(const mx_array *src, void *dst, mx_dtype dst_type);

#endif
