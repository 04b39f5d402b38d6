/* mx/array.h: the array object, ownership scopes, evaluation and data access.
 *
 * Ownership: arrays are reference counted. Every array a function returns
 * belongs to the innermost open scope of the calling thread (mx_scope_begin /
 * mx_scope_end), which drops it when it closes. mx_keep takes an extra
 * reference that outlives the scope; give it back with mx_free. With no scope
 * open, the caller owns what it gets and must mx_free it.
 *
 * Laziness: ops return unevaluated arrays. mx_eval computes them; reading data
 * (mx_array_data, mx_array_read, mx_array_item_*) evaluates first. */
#ifndef MX_ARRAY_H
#define MX_ARRAY_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mx_array mx_array;

/* ---- scopes and references ---- */
void mx_scope_begin(void);
void mx_scope_end(void);
/* Number of open scopes on this thread. */
int mx_scope_depth(void);
/* Take a reference that survives the current scope; returns a. NULL-safe. */
mx_array *mx_keep(mx_array *a);
/* Drop a reference taken with mx_keep (or owned outside any scope). */
void mx_free(mx_array *a);
/* Live array objects in the process (for leak tests). */
int64_t mx_live_arrays(void);

/* ---- construction from host data ---- */
/* Copies `data` (row-major, dtype `t`). shape may be NULL when ndim == 0. */
mx_array *mx_array_from_data(const void *data, const int *shape, int ndim, mx_dtype t);
/* Wraps memory without copying; `release(ctx)` runs when the last user of the
 * memory is gone. `data` must stay valid and unchanged until then. */
mx_array *mx_array_from_external(void *data, const int *shape, int ndim, mx_dtype t,
                                 void (*release)(void *ctx), void *ctx);
mx_array *mx_array_scalar_f64(double v, mx_dtype t);
mx_array *mx_array_scalar_i64(int64_t v, mx_dtype t);
mx_array *mx_array_scalar_bool(bool v);
mx_array *mx_array_from_f32(const float *data, const int *shape, int ndim);
mx_array *mx_array_from_i32(const int32_t *data, const int *shape, int ndim);

/* ---- metadata (never evaluates) ---- */
int mx_array_ndim(const mx_array *a);
const int *mx_array_shape(const mx_array *a);
int mx_array_dim(const mx_array *a, int axis); /* negative axis allowed */
int64_t mx_array_size(const mx_array *a);
mx_dtype mx_array_dtype(const mx_array *a);
size_t mx_array_itemsize(const mx_array *a);
size_t mx_array_nbytes(const mx_array *a);
bool mx_array_is_evaluated(const mx_array *a);
/* Stream the array is (to be) computed on. */
mx_stream mx_array_stream(const mx_array *a);

/* ---- evaluation ---- */
mx_status mx_eval(mx_array *const *arrays, int n);
mx_status mx_eval1(mx_array *a);
/* Start evaluation in the background; later reads wait for it. */
mx_status mx_async_eval(mx_array *const *arrays, int n);

/* ---- data access (evaluates) ---- */
/* Raw pointer to the first element; layout given by mx_array_strides.
 * Valid while the array lives. NULL on error. */
const void *mx_array_data(mx_array *a);
/* Strides in elements (valid after evaluation). */
const int64_t *mx_array_strides(mx_array *a);
bool mx_array_is_contiguous(mx_array *a); /* row-major contiguous */
/* Copy all elements, row-major, converted to dtype `t`, into dst (which holds
 * `cap` bytes). */
mx_status mx_array_read(mx_array *a, mx_dtype t, void *dst, size_t cap);
/* Value of a one-element array. */
double mx_array_item_f64(mx_array *a);
int64_t mx_array_item_i64(mx_array *a);
/* Human-readable rendering, numpy-like, into buf; returns bytes needed. */
size_t mx_array_format(mx_array *a, char *buf, size_t cap);
void mx_array_print(mx_array *a);

#ifdef __cplusplus
}
#endif
#endif
