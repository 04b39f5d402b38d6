/* ew_common.h: output layout and iteration shared by the elementwise CPU
 * kernels (unary, binary, select). */
#ifndef MX_CPU_EW_COMMON_H
#define MX_CPU_EW_COMMON_H

#include "iter.h"

/* Allocate out (shape already set). When the operands that span the whole
 * output (no zero strides) all share one dense but not row-major layout
 * (a permutation of a contiguous block, e.g. a transposed contiguous
 * array), out takes that layout, so the op walks memory in order, as MLX
 * does; otherwise out is row-major. Operands are broadcast views of out's
 * shape. */
mx_status mx_ew_alloc_out(mx_array *out, mx_array *const *in, int nin);

/* mx_iter_init over out's shape with the axes visited in out's memory
 * order (decreasing stride), so an output that took a permuted layout is
 * written sequentially. strides[k]: operand k's strides broadcast to out's
 * shape; the last operand is out itself. */
void mx_ew_iter_init(mx_iter *it, const mx_array *out, int nops,
                     const int64_t *const *strides);

/* mx_iter_parallel, but when some operand walks the last axis with a large
 * stride and the previous axis with a small one (a transposed operand
 * against row-major ones), the last two axes are visited in cache-sized
 * tiles: runs are shorter, but each line fetched is used whole. */
void mx_ew_iter_parallel(const mx_iter *it, int64_t grain_elems, mx_iter_fn fn,
                         void *ctx);

#endif
