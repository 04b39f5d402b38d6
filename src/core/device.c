/* device.c: devices, streams and the default device. Stream 0 is the CPU's
 * default stream, stream 1 the GPU's; mx_new_stream hands out more ids. */
#include <stdatomic.h>

#include "core.h"

static atomic_int g_default_type = MX_CPU;
static atomic_int g_next_stream = 2;
static _Thread_local mx_stream g_thread_stream = {-1, {MX_CPU, 0}};

mx_device mx_cpu(void) { return (mx_device){MX_CPU, 0}; }
mx_device mx_gpu(void) { return (mx_device){MX_GPU, 0}; }

bool mx_built_with_cuda(void) { return mx_cuda_compiled(); }

bool mx_gpu_available(void) { return mx_cuda_compiled() && mx_cuda_device_count() > 0; }

mx_status mx_set_default_device(mx_device d) {
  if (d.type == MX_GPU && !mx_gpu_available())
    return mx_set_error(MX_ERR_UNSUPPORTED,
                        mx_cuda_compiled()
                            ? "[set_default_device] no CUDA device found"
                            : "[set_default_device] mx was built without CUDA");
  if (d.type != MX_CPU && d.type != MX_GPU)
    return mx_set_error(MX_ERR_INVALID, "[set_default_device] unknown device");
  atomic_store(&g_default_type, (int)d.type);
  return MX_OK;
}

mx_device mx_default_device(void) {
  return (mx_device){(mx_device_type)atomic_load(&g_default_type), 0};
}

mx_stream mx_default_stream(mx_device d) {
  return (mx_stream){d.type == MX_GPU ? 1 : 0, d};
}

mx_stream mx_new_stream(mx_device d) {
  return (mx_stream){atomic_fetch_add(&g_next_stream, 1), d};
}

void mx_set_thread_stream(mx_stream s) { g_thread_stream = s; }

mx_stream mx_current_stream(void) {
  if (g_thread_stream.index >= 0) return g_thread_stream;
  return mx_default_stream(mx_default_device());
}

void mx_async_wait_idle(void);

mx_status mx_synchronize(mx_stream s) {
  mx_async_wait_idle(); /* async evals run on one background thread for all streams */
  if (s.device.type == MX_GPU && mx_cuda_compiled()) return mx_cuda_synchronize();
  return MX_OK;
}
