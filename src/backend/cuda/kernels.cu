// kernels.cu: elementwise CUDA kernels of the first backend slice: strided
// copy with dtype conversion, fill, and broadcasting add/multiply/subtract.
// One templated body per kernel, instantiated per dtype.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "cuda_api.h"

extern cudaStream_t mx_cuda_stream;

// mx_dtype codes (include/mx/base.h)
enum {
  D_BOOL = 0,
  D_U8,
  D_U16,
  D_U32,
  D_U64,
  D_I8,
  D_I16,
  D_I32,
  D_I64,
  D_F16,
  D_BF16,
  D_F32,
  D_F64,
  D_C64
};

static int check_launch(char *err, const char *what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    snprintf(err, MX_CUDA_ERR_LEN, "%s: %s", what, cudaGetErrorString(e));
    return 1;
  }
  return 0;
}

// element offset of linear (row-major) index i under a layout
__device__ __forceinline__ int64_t offset_of(int64_t i, const mx_cuda_layout &l) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; d--) {
    int64_t s = l.shape[d];
    off += (i % s) * l.strides[d];
    i /= s;
  }
  return off;
}

__device__ __forceinline__ double load_any(const void *p, int64_t i, int t) {
  switch (t) {
    case D_BOOL:
    case D_U8:
      return ((const uint8_t *)p)[i];
    case D_U16:
      return ((const uint16_t *)p)[i];
    case D_U32:
      return ((const uint32_t *)p)[i];
    case D_U64:
      return (double)((const uint64_t *)p)[i];
    case D_I8:
      return ((const int8_t *)p)[i];
    case D_I16:
      return ((const int16_t *)p)[i];
    case D_I32:
      return ((const int32_t *)p)[i];
    case D_I64:
      return (double)((const int64_t *)p)[i];
    case D_F16:
      return __half2float(((const __half *)p)[i]);
    case D_BF16:
      return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case D_F32:
      return ((const float *)p)[i];
    case D_F64:
      return ((const double *)p)[i];
    case D_C64:
      return ((const float *)p)[2 * i];
  }
  return 0;
}

__device__ __forceinline__ int64_t sat_i64(double v) {
  if (v != v) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)v;
}

__device__ __forceinline__ void store_any(void *p, int64_t i, int t, double v) {
  switch (t) {
    case D_BOOL:
      ((uint8_t *)p)[i] = v != 0;
      break;
    case D_U8:
      ((uint8_t *)p)[i] = (uint8_t)sat_i64(v);
      break;
    case D_U16:
      ((uint16_t *)p)[i] = (uint16_t)sat_i64(v);
      break;
    case D_U32:
      ((uint32_t *)p)[i] = (uint32_t)sat_i64(v);
      break;
    case D_U64:
      ((uint64_t *)p)[i] = v <= 0
                               ? (uint64_t)sat_i64(v)
                               : (v >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)v);
      break;
    case D_I8:
      ((int8_t *)p)[i] = (int8_t)sat_i64(v);
      break;
    case D_I16:
      ((int16_t *)p)[i] = (int16_t)sat_i64(v);
      break;
    case D_I32:
      ((int32_t *)p)[i] = (int32_t)sat_i64(v);
      break;
    case D_I64:
      ((int64_t *)p)[i] = sat_i64(v);
      break;
    case D_F16:
      ((__half *)p)[i] = __float2half_rn((float)v);
      break;
    case D_BF16:
      ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v);
      break;
    case D_F32:
      ((float *)p)[i] = (float)v;
      break;
    case D_F64:
      ((double *)p)[i] = v;
      break;
    case D_C64:
      ((float *)p)[2 * i] = (float)v;
      ((float *)p)[2 * i + 1] = 0;
      break;
  }
}

template <typename T>
__global__ void copy_same(const T *src, mx_cuda_layout l, T *dst, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = src[offset_of(i, l)];
}

__global__ void copy_convert(const void *src, int st, mx_cuda_layout l, void *dst, int dt,
                             int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    int64_t o = offset_of(i, l);
    if ((st == D_U64 || st == D_I64) && (dt == D_U64 || dt == D_I64))
      ((int64_t *)dst)[i] = ((const int64_t *)src)[o];
    else
      store_any(dst, i, dt, load_any(src, o, st));
  }
}

static unsigned grid_for(int64_t n) {
  int64_t g = (n + 255) / 256;
  return (unsigned)(g > 65535 * 8 ? 65535 * 8 : (g < 1 ? 1 : g));
}

static int elem_size(int t) {
  switch (t) {
    case D_BOOL:
    case D_U8:
    case D_I8:
      return 1;
    case D_U16:
    case D_I16:
    case D_F16:
    case D_BF16:
      return 2;
    case D_U32:
    case D_I32:
    case D_F32:
      return 4;
    default:
      return 8;
  }
}

extern "C" int mx_cuda_launch_copy(const void *src, int st, mx_cuda_layout lay, void *dst,
                                   int dt, int64_t n, char *err) {
  if (n == 0) return 0;
  if (st == dt) {
    switch (elem_size(st)) {
      case 1:
        copy_same<uint8_t><<<grid_for(n), 256, 0, mx_cuda_stream>>>(
            (const uint8_t *)src, lay, (uint8_t *)dst, n);
        break;
      case 2:
        copy_same<uint16_t><<<grid_for(n), 256, 0, mx_cuda_stream>>>(
            (const uint16_t *)src, lay, (uint16_t *)dst, n);
        break;
      case 4:
        copy_same<uint32_t><<<grid_for(n), 256, 0, mx_cuda_stream>>>(
            (const uint32_t *)src, lay, (uint32_t *)dst, n);
        break;
      default:
        copy_same<uint64_t><<<grid_for(n), 256, 0, mx_cuda_stream>>>(
            (const uint64_t *)src, lay, (uint64_t *)dst, n);
        break;
    }
  } else {
    copy_convert<<<grid_for(n), 256, 0, mx_cuda_stream>>>(src, st, lay, dst, dt, n);
  }
  return check_launch(err, "copy kernel");
}

__global__ void fill_kernel(void *dst, int dt, double v, int64_t iv, int is_int,
                            int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    if (is_int && (dt == D_I64 || dt == D_U64))
      ((int64_t *)dst)[i] = iv;
    else
      store_any(dst, i, dt, is_int ? (double)iv : v);
  }
}

extern "C" int mx_cuda_launch_fill(void *dst, int dt, double value, int64_t ivalue,
                                   int is_int, int64_t n, char *err) {
  if (n == 0) return 0;
  fill_kernel<<<grid_for(n), 256, 0, mx_cuda_stream>>>(dst, dt, value, ivalue, is_int, n);
  return check_launch(err, "fill kernel");
}

template <typename T>
struct acc_of {
  typedef T type;
};
template <>
struct acc_of<__half> {
  typedef float type;
};
template <>
struct acc_of<__nv_bfloat16> {
  typedef float type;
};

template <typename T>
__device__ __forceinline__ typename acc_of<T>::type up(T v) {
  return v;
}
template <>
__device__ __forceinline__ float up<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float up<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T down(typename acc_of<T>::type v) {
  return (T)v;
}
template <>
__device__ __forceinline__ __half down<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 down<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void binary_kernel(int op, const T *a, mx_cuda_layout la, const T *b,
                              mx_cuda_layout lb, T *out, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    typename acc_of<T>::type x = up(a[offset_of(i, la)]), y = up(b[offset_of(i, lb)]);
    out[i] = down<T>(op == 0 ? x + y : op == 1 ? x * y : x - y);
  }
}

extern "C" int mx_cuda_launch_binary(int op, const void *a, mx_cuda_layout la,
                                     const void *b, mx_cuda_layout lb, void *out,
                                     int dtype, int64_t n, char *err) {
  if (n == 0) return 0;
  unsigned g = grid_for(n);
#define LAUNCH(T)                                                                     \
  binary_kernel<T><<<g, 256, 0, mx_cuda_stream>>>(op, (const T *)a, la, (const T *)b, \
                                                  lb, (T *)out, n)
  switch (dtype) {
    case D_F32:
      LAUNCH(float);
      break;
    case D_F64:
      LAUNCH(double);
      break;
    case D_F16:
      LAUNCH(__half);
      break;
    case D_BF16:
      LAUNCH(__nv_bfloat16);
      break;
    case D_I32:
      LAUNCH(int32_t);
      break;
    case D_I64:
      LAUNCH(int64_t);
      break;
    case D_U32:
      LAUNCH(uint32_t);
      break;
    case D_U8:
      LAUNCH(uint8_t);
      break;
    default:
      return 2;
  }
#undef LAUNCH
  return check_launch(err, "binary kernel");
}
