/* indexing.h: primitives that read or write at computed positions:
 * slice_update, dynamic_slice(_update), take, take_along_axis,
 * put_along_axis, gather and scatter.
 *
 * Index inputs are any integer dtype; negative values wrap once; values still
 * out of range make the kernel fail with "[op] index V out of range ..."
 * before anything is written. Update ops (slice_update, dynamic_slice_update,
 * put_along_axis, scatter) write into a's buffer in place when nothing else
 * can observe it (see mx_cpu_copy_or_donate), else into a copy. */
#ifndef MX_PRIM_INDEXING_H
#define MX_PRIM_INDEXING_H

#include "prim_util.h"

/* inputs: a, update (already broadcast to the slice shape, any dtype) */
typedef struct {
  int start[MX_MAX_NDIM]; /* normalised first index per axis */
  int step[MX_MAX_NDIM];
} mx_slice_update_params;

/* dynamic_slice inputs: a, start; dynamic_slice_update inputs: a, update
 * (same ndim as a), start. start: integer (naxes,), wrapped if negative then
 * clamped so the window fits (XLA/JAX semantics). */
typedef struct {
  int axes[MX_MAX_NDIM];
  int naxes;
} mx_dynamic_slice_params;

/* take: out = a.shape[:axis] + indices.shape + a.shape[axis+1:];
 * take_along_axis: indices.ndim == a.ndim, other axes broadcast. */
typedef struct {
  int axis;
} mx_take_params;

/* inputs: a, indices, values (a's dtype, broadcast to the indexed shape). */
typedef struct {
  int axis;
  int mode; /* mx_scatter_mode */
} mx_put_along_axis_params;

/* inputs: a, indices[0..nidx) */
typedef struct {
  int axes[MX_MAX_NDIM];
  int nidx;
  int slice_sizes[MX_MAX_NDIM];
} mx_gather_params;

/* inputs: a, updates (a's dtype, shape I + U), indices[0..nidx) */
typedef struct {
  int axes[MX_MAX_NDIM];
  int nidx;
  int mode; /* mx_scatter_mode */
} mx_scatter_params;

extern const mx_prim mx_prim_slice_update;
extern const mx_prim mx_prim_dynamic_slice;
extern const mx_prim mx_prim_dynamic_slice_update;
extern const mx_prim mx_prim_take;
extern const mx_prim mx_prim_take_along_axis;
extern const mx_prim mx_prim_put_along_axis;
extern const mx_prim mx_prim_gather;
extern const mx_prim mx_prim_scatter;

mx_status mx_cpu_slice_update(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_dynamic_slice(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_dynamic_slice_update(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_take(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_take_along_axis(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_put_along_axis(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_gather(mx_node *n, mx_array **in, mx_array **out);
mx_status mx_cpu_scatter(mx_node *n, mx_array **in, mx_array **out);

#endif
