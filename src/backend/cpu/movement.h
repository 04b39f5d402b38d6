/* movement.h: helpers shared by the CPU data-movement kernels (shape and
 * indexing families): an N-d strided copy with optional dtype conversion,
 * index loading with wrap and range checks, the combine loops of scatter
 * modes, and buffer donation for update ops.
 *
 * All strides and offsets are in elements of the array they belong to; the
 * pointers passed are to element 0 of the region (strides may be negative or
 * zero). */
#ifndef MX_CPU_MOVEMENT_H
#define MX_CPU_MOVEMENT_H

#include "../../core/core.h"
#include "iter.h"

/* dst[idx] = convert(src[idx]) for every idx of `shape`. Large copies run on
 * the worker pool. dst and src must not overlap (except identically). */
void mx_cpu_copy_nd(char *dst, const int64_t *dst_strides, mx_dtype dt, const char *src,
                    const int64_t *src_strides, mx_dtype st, const int *shape, int ndim);

/* Copy array `src` (any layout, broadcast to `shape`) into a region of an
 * output of dtype dt. */
void mx_cpu_copy_array_to(char *dst, const int64_t *dst_strides, mx_dtype dt,
                          const mx_array *src, const int *shape, int ndim);

/* Serial same-dtype copy over a prebuilt 2-operand iterator (operand 0:
 * dst, 1: src), for kernels that copy many small regions with one layout. */
void mx_cpu_copy_runs(const mx_iter *it, char *dst, const char *src, size_t isz);

/* An index value of an integer array element as int64; uint64 values beyond
 * INT64_MAX saturate (so they stay out of range). */
static inline int64_t mx_cpu_load_index(const void *p, mx_dtype t) {
  switch (t) {
    case MX_UINT8:
      return *(const uint8_t *)p;
    case MX_UINT16:
      return *(const uint16_t *)p;
    case MX_UINT32:
      return *(const uint32_t *)p;
    case MX_UINT64: {
      uint64_t v = *(const uint64_t *)p;
      return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
    }
    case MX_INT8:
      return *(const int8_t *)p;
    case MX_INT16:
      return *(const int16_t *)p;
    case MX_INT32:
      return *(const int32_t *)p;
    case MX_INT64:
      return *(const int64_t *)p;
    default:
      return INT64_MAX; /* not an index dtype: out of range */
  }
}

/* Load `idx` broadcast to `shape` into dst (row-major int64), wrapping
 * negative values by `dim` and checking 0 <= v <= dim - span. The first bad
 * value in row-major order gives "[op] index V out of range for axis of size
 * DIM" and MX_ERR_INVALID. */
mx_status mx_cpu_load_indices(const mx_array *idx, const int *shape, int ndim,
                              int64_t dim, int64_t span, const char *op, int64_t *dst);

/* Check every element of idx (row-major, own shape) against dim, as above,
 * without materialising it. */
mx_status mx_cpu_check_indices(const mx_array *idx, int64_t dim, const char *op);

/* Wrap a checked index. */
static inline int64_t mx_cpu_wrap_index(int64_t v, int64_t dim) {
  return v < 0 ? v + dim : v;
}

/* The scatter combine modes (values of mx_scatter_mode). d[i*ds] op= s[i*ss]
 * for i < n, in order, for dtype t. */
void mx_cpu_combine(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, mx_dtype t,
                    int mode);

/* Make `out` (same shape and dtype as `a`) hold a's values, ready to be
 * written: takes over a's buffer when nothing else can observe it (a held only
 * by this node, the buffer only by a, allocator-owned, row-contiguous),
 * otherwise allocates and copies. *donated says which happened. */
mx_status mx_cpu_copy_or_donate(mx_array *a, mx_array *out, bool *donated);

#endif
