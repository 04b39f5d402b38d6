/* creation.c: CPU kernels for full, arange, linspace, eye/tri and the
 * triangle mask. */
#include "../../primitives/creation.h"

#include <string.h>

#include "dtypes.h"
#include "iter.h"

typedef struct {
  char *dst;
  const unsigned char *elem;
  size_t isz;
} fill_ctx;

static void fill_range(void *c, int64_t b, int64_t e) {
  fill_ctx *f = c;
  for (int64_t i = b; i < e; i++) memcpy(f->dst + i * (int64_t)f->isz, f->elem, f->isz);
}

mx_status mx_cpu_full(mx_node *n, mx_array **in, mx_array **out) {
  (void)in;
  const mx_full_params *p = MX_PARAMS(mx_full_params, n);
  mx_array *o = out[0];
  /* one element, then broadcast it as a stride-0 view: full is O(1) memory */
  mx_buffer *b = mx_buffer_alloc(mx_dtype_size(o->dtype));
  if (!b) return MX_ERR_NOMEM;
  if (p->is_int)
    mx_store_i64(b->host, o->dtype, p->ivalue);
  else
    mx_store_f64(b->host, o->dtype, p->value);
  if (o->buf) mx_buffer_release(o->buf);
  o->buf = b;
  o->offset = 0;
  for (int d = 0; d < o->ndim; d++) o->strides[d] = 0;
  o->row_contiguous = o->size <= 1;
  if (o->size > 1 && o->size <= 4096) {
    /* small: materialise, so kernels see a contiguous array */
    unsigned char elem[16];
    memcpy(elem, b->host, mx_dtype_size(o->dtype));
    mx_status rc = mx_array_alloc(o);
    if (rc != MX_OK) return rc;
    fill_ctx f = {mx_array_ptr(o), elem, mx_dtype_size(o->dtype)};
    fill_range(&f, 0, o->size);
  }
  return MX_OK;
}

mx_status mx_cpu_arange(mx_node *n, mx_array **in, mx_array **out) {
  (void)in;
  const mx_arange_params *p = MX_PARAMS(mx_arange_params, n);
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  char *dst = mx_array_ptr(o);
  size_t isz = mx_dtype_size(o->dtype);
  for (int64_t i = 0; i < o->size; i++) {
    if (p->is_int)
      mx_store_i64(dst + i * (int64_t)isz, o->dtype, p->istart + i * p->istep);
    else
      mx_store_f64(dst + i * (int64_t)isz, o->dtype, p->start + (double)i * p->step);
  }
  return MX_OK;
}

mx_status mx_cpu_linspace(mx_node *n, mx_array **in, mx_array **out) {
  (void)in;
  const mx_linspace_params *p = MX_PARAMS(mx_linspace_params, n);
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  char *dst = mx_array_ptr(o);
  size_t isz = mx_dtype_size(o->dtype);
  double step = p->num > 1 ? (p->stop - p->start) / (p->num - 1) : 0;
  for (int64_t i = 0; i < o->size; i++) {
    double v = i == p->num - 1 && p->num > 1 ? p->stop : p->start + (double)i * step;
    mx_store_f64(dst + i * (int64_t)isz, o->dtype, v);
  }
  return MX_OK;
}

mx_status mx_cpu_eye(mx_node *n, mx_array **in, mx_array **out) {
  (void)in;
  const mx_eye_params *p = MX_PARAMS(mx_eye_params, n);
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  char *dst = mx_array_ptr(o);
  size_t isz = mx_dtype_size(o->dtype);
  int rows = o->shape[0], cols = o->shape[1];
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) {
      bool one = p->kind == 0 ? j - i == p->k : j - i <= p->k;
      mx_store_f64(dst + ((int64_t)i * cols + j) * (int64_t)isz, o->dtype, one ? 1 : 0);
    }
  return MX_OK;
}

mx_status mx_cpu_trimask(mx_node *n, mx_array **in, mx_array **out) {
  const mx_trimask_params *p = MX_PARAMS(mx_trimask_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  mx_copy_strided(a, mx_array_ptr(o));
  char *dst = mx_array_ptr(o);
  size_t isz = mx_dtype_size(o->dtype);
  int rows = o->shape[o->ndim - 2], cols = o->shape[o->ndim - 1];
  int64_t mats = o->size / ((int64_t)rows * cols);
  for (int64_t m = 0; m < mats; m++)
    for (int i = 0; i < rows; i++)
      for (int j = 0; j < cols; j++) {
        bool keep = p->upper ? j - i >= p->k : j - i <= p->k;
        if (!keep) memset(dst + ((m * rows + i) * cols + j) * (int64_t)isz, 0, isz);
      }
  return MX_OK;
}
