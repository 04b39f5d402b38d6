/* cuda_backend.c: the C side of the CUDA backend: device buffers (allocated
 * through the device caching allocator, so the memory API counts them),
 * on-demand host<->device transfers, and the eval_cuda entries that unpack
 * arrays into plain layouts for the kernels in *.cu. */
#include "cuda_backend.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../primitives/creation.h"
#include "../../primitives/layout.h"
#include "../../primitives/views.h"
#include "../cpu/iter.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static mx_status g_init_status = MX_OK;
static char g_init_err[MX_CUDA_ERR_LEN];

static void init_once(void) {
  if (mx_cudart_device_count() <= 0) {
    g_init_status = MX_ERR_UNSUPPORTED;
    snprintf(g_init_err, sizeof g_init_err, "no CUDA device found");
    return;
  }
  if (mx_cudart_init(g_init_err) != 0) {
    g_init_status = MX_ERR_RUNTIME;
    return;
  }
  mx_allocator_set_raw(mx_allocator_device(), mx_cudart_malloc, mx_cudart_free,
                       mx_cudart_total_memory());
}

mx_status mx_cuda_init(void) {
  pthread_once(&g_once, init_once);
  if (g_init_status != MX_OK) return mx_set_error(g_init_status, "[cuda] %s", g_init_err);
  return MX_OK;
}

bool mx_cuda_compiled(void) { return true; }
int mx_cuda_device_count(void) { return mx_cudart_device_count(); }

mx_status mx_cuda_synchronize(void) {
  char err[MX_CUDA_ERR_LEN];
  if (mx_cudart_sync(err) != 0) return mx_set_error(MX_ERR_RUNTIME, "[cuda] %s", err);
  return MX_OK;
}

mx_status mx_cuda_check(int rc, const char *op, const char *err) {
  if (rc == 0) return MX_OK;
  return mx_set_error(MX_ERR_RUNTIME, "[%s] %s", op, err);
}

static mx_status dev_alloc(mx_buffer *b) {
  mx_status rc = mx_cuda_init();
  if (rc != MX_OK) return rc;
  size_t cap = 0;
  void *p = mx_allocator_alloc(mx_allocator_device(), b->nbytes ? b->nbytes : 1, &cap);
  if (!p) return mx_last_status() ? mx_last_status() : MX_ERR_NOMEM;
  b->dev = p;
  b->dev_capacity = cap;
  return MX_OK;
}

mx_status mx_cuda_buffer_to_host(mx_buffer *b) {
  if (b->valid & MX_VALID_HOST) return MX_OK;
  if (!b->host) {
    size_t cap = 0;
    b->host = mx_allocator_alloc(mx_allocator_host(), b->nbytes, &cap);
    if (!b->host) return MX_ERR_NOMEM;
    b->capacity = cap;
  }
  char err[MX_CUDA_ERR_LEN];
  if (b->nbytes && mx_cudart_d2h(b->host, b->dev, b->nbytes, err) != 0)
    return mx_set_error(MX_ERR_RUNTIME, "[cuda] %s", err);
  b->valid |= MX_VALID_HOST;
  return MX_OK;
}

mx_status mx_cuda_buffer_to_device(mx_buffer *b) {
  if (b->valid & MX_VALID_DEVICE) return MX_OK;
  if (!b->dev) {
    mx_status rc = dev_alloc(b);
    if (rc != MX_OK) return rc;
  }
  char err[MX_CUDA_ERR_LEN];
  if (b->nbytes && mx_cudart_h2d(b->dev, b->host, b->nbytes, err) != 0)
    return mx_set_error(MX_ERR_RUNTIME, "[cuda] %s", err);
  b->valid |= MX_VALID_DEVICE;
  return MX_OK;
}

void mx_cuda_buffer_free(mx_buffer *b) {
  if (b->dev) mx_allocator_free(mx_allocator_device(), b->dev, b->dev_capacity);
  b->dev = NULL;
}

mx_status mx_cuda_array_alloc(mx_array *out) {
  mx_buffer *b = calloc(1, sizeof *b);
  if (!b) return mx_set_error(MX_ERR_NOMEM, "[cuda] out of memory");
  atomic_init(&b->refs, 1);
  b->nbytes = (size_t)out->size * mx_dtype_size(out->dtype);
  mx_status rc = dev_alloc(b);
  if (rc != MX_OK) {
    free(b);
    return rc;
  }
  b->valid = MX_VALID_DEVICE;
  if (out->buf) mx_buffer_release(out->buf);
  out->buf = b;
  out->offset = 0;
  mx_row_strides(out->shape, out->ndim, out->strides);
  out->row_contiguous = true;
  return MX_OK;
}

mx_status mx_cuda_inputs(mx_node *n, mx_array **in) {
  mx_status rc = mx_cuda_init();
  for (int i = 0; i < n->nin && rc == MX_OK; i++)
    rc = mx_cuda_buffer_to_device(in[i]->buf);
  return rc;
}

mx_cuda_layout mx_cuda_layout_of(const mx_array *a) {
  mx_cuda_layout l;
  memset(&l, 0, sizeof l);
  l.ndim = a->ndim;
  for (int d = 0; d < a->ndim; d++) {
    l.shape[d] = a->shape[d];
    l.strides[d] = a->strides[d];
  }
  return l;
}

mx_cuda_layout mx_cuda_layout_broadcast(const mx_array *a, const mx_array *out) {
  mx_cuda_layout l;
  memset(&l, 0, sizeof l);
  l.ndim = out->ndim;
  mx_broadcast_strides(a, out->shape, out->ndim, l.strides);
  for (int d = 0; d < out->ndim; d++) l.shape[d] = out->shape[d];
  return l;
}

const void *mx_cuda_ptr(const mx_array *a) {
  return (const char *)a->buf->dev + a->offset * (int64_t)mx_dtype_size(a->dtype);
}

static mx_status convert_into(mx_array *src, mx_array *out, const char *op) {
  mx_status rc = mx_cuda_array_alloc(out);
  if (rc != MX_OK) return rc;
  char err[MX_CUDA_ERR_LEN];
  return mx_cuda_check(
      mx_cuda_launch_copy(mx_cuda_ptr(src), src->dtype, mx_cuda_layout_of(src),
                          out->buf->dev, out->dtype, out->size, err),
      op, err);
}

mx_status mx_cuda_astype(mx_node *n, mx_array **in, mx_array **out) {
  mx_status rc = mx_cuda_inputs(n, in);
  if (rc != MX_OK) return rc;
  return convert_into(in[0], out[0], "astype");
}

mx_status mx_cuda_copy(mx_node *n, mx_array **in, mx_array **out) {
  return mx_cuda_astype(n, in, out);
}

mx_status mx_cuda_full(mx_node *n, mx_array **in, mx_array **out) {
  (void)in;
  const mx_full_params *p = MX_PARAMS(mx_full_params, n);
  mx_status rc = mx_cuda_array_alloc(out[0]);
  if (rc != MX_OK) return rc;
  char err[MX_CUDA_ERR_LEN];
  return mx_cuda_check(mx_cuda_launch_fill(out[0]->buf->dev, out[0]->dtype, p->value,
                                           p->ivalue, p->is_int, out[0]->size, err),
                       "full", err);
}

/* Reshape: a view when the layout allows (same rule as the CPU, which only
 * touches metadata), else a strided copy on the device. */
mx_status mx_cuda_reshape(mx_node *n, mx_array **in, mx_array **out) {
  mx_status rc = mx_cuda_inputs(n, in);
  if (rc != MX_OK) return rc;
  if (in[0]->row_contiguous || in[0]->size == 0) return mx_cpu_reshape(n, in, out);
  return convert_into(in[0], out[0], "reshape");
}

/* A new row-major device buffer holding the elements that `src` (dtype t)
 * addresses through `lay` (n elements). */
mx_status mx_cuda_gather_copy(const void *src, mx_dtype t, mx_cuda_layout lay, int64_t n,
                              mx_buffer **out) {
  mx_buffer *b = calloc(1, sizeof *b);
  if (!b) return mx_set_error(MX_ERR_NOMEM, "[cuda] out of memory");
  atomic_init(&b->refs, 1);
  b->nbytes = (size_t)n * mx_dtype_size(t);
  mx_status rc = dev_alloc(b);
  if (rc != MX_OK) {
    free(b);
    return rc;
  }
  b->valid = MX_VALID_DEVICE;
  char err[MX_CUDA_ERR_LEN];
  rc = mx_cuda_check(mx_cuda_launch_copy(src, t, lay, b->dev, t, n, err), "copy", err);
  if (rc != MX_OK) {
    mx_buffer_release(b);
    return rc;
  }
  *out = b;
  return MX_OK;
}
