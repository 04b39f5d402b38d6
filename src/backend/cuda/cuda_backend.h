/* cuda_backend.h: helpers shared by the C side of the CUDA backend. */
#ifndef MX_CUDA_BACKEND_H
#define MX_CUDA_BACKEND_H

#include <stdio.h>

#include "../../core/core.h"
#include "cuda_api.h"

mx_status mx_cuda_init(void);
/* Turns a launcher's return code into an mx error "[op] msg". */
mx_status mx_cuda_check(int rc, const char *op, const char *err);
mx_status mx_cuda_buffer_to_device(mx_buffer *b);
/* Upload every input of the node that is only on the host. */
mx_status mx_cuda_inputs(mx_node *n, mx_array **in);
/* Contiguous device buffer for out (row-major). */
mx_status mx_cuda_array_alloc(mx_array *out);
mx_cuda_layout mx_cuda_layout_of(const mx_array *a);
/* a's layout broadcast to out's shape */
mx_cuda_layout mx_cuda_layout_broadcast(const mx_array *a, const mx_array *out);
/* device pointer of element 0 */
const void *mx_cuda_ptr(const mx_array *a);
/* A new row-major device buffer with the n elements src addresses through
 * lay (dtype t). */
mx_status mx_cuda_gather_copy(const void *src, mx_dtype t, mx_cuda_layout lay, int64_t n,
                              mx_buffer **out);

#endif
