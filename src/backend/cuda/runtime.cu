// runtime.cu: thin, checked wrappers over the CUDA runtime for the C side:
// device discovery, one stream, allocation and transfers.
#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_api.h"

cudaStream_t mx_cuda_stream = nullptr;

static int fail(char *err, const char *what, cudaError_t e) {
  if (err) snprintf(err, MX_CUDA_ERR_LEN, "%s: %s", what, cudaGetErrorString(e));
  return 1;
}

extern "C" int mx_cudart_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

extern "C" int mx_cudart_init(char *err) {
  if (mx_cuda_stream) return 0;
  cudaError_t e = cudaSetDevice(0);
  if (e != cudaSuccess) return fail(err, "cudaSetDevice", e);
  e = cudaStreamCreateWithFlags(&mx_cuda_stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) return fail(err, "cudaStreamCreate", e);
  return 0;
}

extern "C" void *mx_cudart_malloc(size_t n) {
  void *p = nullptr;
  if (cudaMalloc(&p, n) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

extern "C" void mx_cudart_free(void *p) {
  // frees must not race kernels still reading the block
  if (mx_cuda_stream) cudaStreamSynchronize(mx_cuda_stream);
  cudaFree(p);
}

extern "C" size_t mx_cudart_total_memory(void) {
  size_t free_b = 0, total = 0;
  if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return total;
}

extern "C" int mx_cudart_h2d(void *dst, const void *src, size_t n, char *err) {
  cudaError_t e = cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, mx_cuda_stream);
  if (e != cudaSuccess) return fail(err, "cudaMemcpy H2D", e);
  // the host source may be freed right after: wait for the copy
  e = cudaStreamSynchronize(mx_cuda_stream);
  if (e != cudaSuccess) return fail(err, "cudaMemcpy H2D sync", e);
  return 0;
}

extern "C" int mx_cudart_d2h(void *dst, const void *src, size_t n, char *err) {
  cudaError_t e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, mx_cuda_stream);
  if (e != cudaSuccess) return fail(err, "cudaMemcpy D2H", e);
  e = cudaStreamSynchronize(mx_cuda_stream);
  if (e != cudaSuccess) return fail(err, "cudaMemcpy D2H sync", e);
  return 0;
}

extern "C" int mx_cudart_sync(char *err) {
  if (!mx_cuda_stream) return 0;
  cudaError_t e = cudaStreamSynchronize(mx_cuda_stream);
  if (e != cudaSuccess) return fail(err, "cudaStreamSynchronize", e);
  return 0;
}
