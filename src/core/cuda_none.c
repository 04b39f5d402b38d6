/* cuda_none.c: the CUDA hooks of a build without CUDA. Every entry says so
 * clearly instead of pretending. */
#include "core.h"

#ifndef MX_WITH_CUDA
bool mx_cuda_compiled(void) { return false; }
int mx_cuda_device_count(void) { return 0; }
mx_status mx_cuda_synchronize(void) { return MX_OK; }
mx_status mx_cuda_buffer_to_host(mx_buffer *b) {
  (void)b;
  return mx_set_error(MX_ERR_UNSUPPORTED,
                      "[cuda] buffer lives on a GPU but mx was built without CUDA");
}
void mx_cuda_buffer_free(mx_buffer *b) { (void)b; }
#else
typedef int mx_cuda_none_unused; /* ISO C: no empty translation unit */
#endif
