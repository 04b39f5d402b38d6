/* mx/base.h: status codes, errors, dtypes, devices and streams.
 *
 * Error model: a function that fails records a message prefixed with its name
 * ("[matmul] ...") in a per-thread slot and returns NULL (array results) or an
 * mx_status other than MX_OK. An op given a NULL input returns NULL and keeps
 * the first message, so a chain of ops can be checked once at the end. */
#ifndef MX_BASE_H
#define MX_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MX_VERSION_MAJOR 0
#define MX_VERSION_MINOR 1
#define MX_VERSION_PATCH 0
#define MX_MAX_NDIM 16

const char *mx_version(void);

typedef enum {
  MX_OK = 0,
  MX_ERR_INVALID = 1,     /* bad argument, shape or dtype */
  MX_ERR_NOMEM = 2,       /* allocation failed or memory limit exceeded */
  MX_ERR_IO = 3,          /* file missing, unreadable or malformed */
  MX_ERR_UNSUPPORTED = 4, /* no kernel for this op on this device, etc. */
  MX_ERR_RUNTIME = 5,     /* backend failure (CUDA error, thread error) */
} mx_status;

/* The current thread's first unread error message ("" when none). */
const char *mx_last_error(void);
/* Status that goes with mx_last_error (MX_OK when none). */
mx_status mx_last_status(void);
void mx_clear_error(void);
/* Record an error (first one wins until cleared). Returns `st` for chaining. */
mx_status mx_set_error(mx_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

typedef enum {
  MX_BOOL = 0,
  MX_UINT8,
  MX_UINT16,
  MX_UINT32,
  MX_UINT64,
  MX_INT8,
  MX_INT16,
  MX_INT32,
  MX_INT64,
  MX_FLOAT16,
  MX_BFLOAT16,
  MX_FLOAT32,
  MX_FLOAT64,
  MX_COMPLEX64,
  MX_NUM_DTYPES
} mx_dtype;

typedef enum {
  MX_KIND_BOOL,
  MX_KIND_UNSIGNED,
  MX_KIND_SIGNED,
  MX_KIND_FLOAT,
  MX_KIND_COMPLEX
} mx_dtype_kind;

size_t mx_dtype_size(mx_dtype t);
const char *mx_dtype_name(mx_dtype t); /* "float32", "bfloat16", ... */
/* Parse a dtype name; returns false if unknown. */
bool mx_dtype_from_name(const char *name, mx_dtype *out);
mx_dtype_kind mx_dtype_kind_of(mx_dtype t);
bool mx_dtype_is_floating(mx_dtype t); /* float16/bfloat16/float32/float64 */
bool mx_dtype_is_integer(mx_dtype t);  /* signed or unsigned, not bool */
bool mx_dtype_is_inexact(mx_dtype t);  /* floating or complex */
/* MLX's type promotion (numpy-like; bfloat16+float16 -> float32,
 * uint64+signed -> float32, int+float16 -> float16). */
mx_dtype mx_promote_types(mx_dtype a, mx_dtype b);

/* half-precision conversions (round to nearest even) */
float mx_f16_to_f32(uint16_t h);
uint16_t mx_f32_to_f16(float f);
float mx_bf16_to_f32(uint16_t h);
uint16_t mx_f32_to_bf16(float f);

typedef enum { MX_CPU = 0, MX_GPU = 1 } mx_device_type;

typedef struct {
  mx_device_type type;
  int index;
} mx_device;

typedef struct {
  int index; /* stream id, unique per process */
  mx_device device;
} mx_stream;

mx_device mx_cpu(void);
mx_device mx_gpu(void);
/* True when this build has the CUDA backend. */
bool mx_built_with_cuda(void);
/* True when a GPU backend is compiled in and a device is present. */
bool mx_gpu_available(void);
/* Process-wide default device (initially cpu). Fails if unavailable. */
mx_status mx_set_default_device(mx_device d);
mx_device mx_default_device(void);
/* Default stream of a device. */
mx_stream mx_default_stream(mx_device d);
mx_stream mx_new_stream(mx_device d);
/* Ops build nodes on the current thread's stream: the one set here, else the
 * default stream of the default device. Pass index -1 to unset. */
void mx_set_thread_stream(mx_stream s);
mx_stream mx_current_stream(void);
/* Wait for everything queued on a stream. */
mx_status mx_synchronize(mx_stream s);

/* CPU worker pool size (default: number of online CPUs). */
void mx_set_num_threads(int n);
int mx_num_threads(void);
/* Run float32/float64 matmuls and convolutions on this pool instead of
 * OpenBLAS's own threads: OpenBLAS is set to one thread and the threads it
 * started when it was loaded are stopped (they poll for work for a while
 * after every threaded call, which on a small machine takes a core from
 * the pool); large products are then split over the pool. Does nothing
 * when OPENBLAS_NUM_THREADS is set (the user's choice stands). Call it at
 * start-up, before other threads use BLAS; the mx binary does. Returns
 * whether OpenBLAS now runs on the calling thread only. */
bool mx_blas_on_pool(void);

#ifdef __cplusplus
}
#endif
#endif
